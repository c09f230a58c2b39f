/*
 * The layout.  At 80x24 a status bar on top, the activity stream, a band
 * of three panes (reports, failover, cluster) and the input line.  From
 * LAYOUT_WIDE_COLS columns the three move to a side bar so the stream
 * gets the full height; extra rows go mostly to the stream.
 */
#include "layout.h"

/* v limited to [lo, hi]. */
static int
clamp(int v, int lo, int hi)
{
	if (v < lo)
		return lo;
	if (v > hi)
		return hi;
	return v;
}

/* Fill in a rectangle. */
static void
rect_set(struct rect *r, int x, int y, int w, int h)
{
	r->x = x;
	r->y = y;
	r->w = w;
	r->h = h;
}

/* Compute the rectangle of every pane for a cols x lines terminal. */
void
layout_compute(int cols, int lines, struct layout *l)
{
	int	 band, side, body, fo, cl, rw, fw, x;

	l->cols = cols;
	l->lines = lines;
	l->too_small = 0;
	l->wide = 0;
	for (x = 0; x < PANE__COUNT; x++)
		rect_set(&l->r[x], 0, 0, 0, 0);
	if (cols < LAYOUT_MIN_COLS || lines < LAYOUT_MIN_LINES) {
		l->too_small = 1;
		return;
	}

	rect_set(&l->r[PANE_STATUS], 0, 0, cols, 1);
	rect_set(&l->r[PANE_INPUT], 0, lines - 1, cols, 1);
	body = lines - 2;

	if (cols >= LAYOUT_WIDE_COLS) {
		l->wide = 1;
		side = clamp(cols * 35 / 100, 44, 64);
		rect_set(&l->r[PANE_ACTIVITY], 0, 1, cols - side, body);
		fo = clamp(body / 4, 5, 10);
		cl = clamp((body - fo) / 2, 4, 30);
		rect_set(&l->r[PANE_FAILOVER], cols - side, 1, side, fo);
		rect_set(&l->r[PANE_CLUSTER], cols - side, 1 + fo, side, cl);
		rect_set(&l->r[PANE_REPORTS], cols - side, 1 + fo + cl, side,
		    body - fo - cl);
		return;
	}

	band = clamp(body / 3, 5, 14);
	rect_set(&l->r[PANE_ACTIVITY], 0, 1, cols, body - band);
	rw = cols * 25 / 100;
	fw = cols * 30 / 100;
	rect_set(&l->r[PANE_REPORTS], 0, 1 + body - band, rw, band);
	rect_set(&l->r[PANE_FAILOVER], rw, 1 + body - band, fw, band);
	rect_set(&l->r[PANE_CLUSTER], rw + fw, 1 + body - band,
	    cols - rw - fw, band);
}
