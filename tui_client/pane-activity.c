/*
 * The activity stream: "HH:MM:SS who: text" ("* who text" for /me),
 * wrapped to the pane with continuation rows indented under the text,
 * newest at the bottom; each name in its own colour, lines that name
 * the user highlighted, a line where the day changes and a marker
 * above what arrived while the user was away.  Scrolled back, the
 * title says how many lines are below.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "decor.h"
#include "text.h"
#include "tui.h"
#include "ui.h"

#define ACT_ROWS_MAX	64	/* rows one entry may take */

struct act_row {
	const char	*p;
	size_t		 len;
};

/*
 * Split an entry's text into rows of w columns (the first row w0): at
 * its line breaks, and where a line is wider than the row.
 */
static int
act_wrap(const char *s, size_t len, int w0, int w, struct act_row *rows)
{
	const char	*nl;
	size_t		 n, line;
	int		 nrows = 0, cw = w0;

	if (len == 0) {
		rows[0].p = s;
		rows[0].len = 0;
		return 1;
	}
	while (len > 0 && nrows < ACT_ROWS_MAX) {
		if (cw < 1)
			cw = 1;
		nl = memchr(s, '\n', len);
		line = nl != NULL ? (size_t)(nl - s) : len;
		n = line == 0 ? 0 : text_wrap(s, line, cw);
		rows[nrows].p = s;
		rows[nrows].len = n;
		nrows++;
		if (n == line && nl != NULL)
			n++;	/* the line break itself is not drawn */
		s += n;
		len -= n;
		cw = w;
	}
	return nrows;
}

/* Draw one entry's rows starting at row y; skip the first skip rows. */
static void
act_draw_entry(struct pane *p, struct tui *t, const struct model_line *l,
    int y, int skip, int nrows, struct act_row *rows, int indent,
    const char *prefix, const char *who)
{
	enum ui_color	 c;
	char		 buf[MODEL_TEXT_MAX + 8];
	int		 i, x;

	switch (l->kind) {
	case MODEL_INFO:
		c = UI_INFO;
		break;
	case MODEL_ERROR:
		c = UI_ERROR;
		break;
	case MODEL_SELF:
		c = UI_SELF;
		break;
	default:
		c = UI_NORMAL;
		break;
	}
	if (l->flags & MODEL_F_MENTION)
		c = UI_MENTION;
	for (i = skip; i < nrows; i++, y++) {
		x = 0;
		if (i == 0) {
			x += ui_put(p->win, y, x, p->r.w, prefix,
			    ui_attr(t->ui, UI_TIME));
			x += ui_put(p->win, y, x, p->r.w - x, who,
			    l->kind == MODEL_ACTIVITY || l->kind == MODEL_SELF ?
			    ui_name_attr(t->ui, l->who) : ui_attr(t->ui, c));
		} else
			x = indent;
		if (rows[i].len >= sizeof buf)
			rows[i].len = sizeof buf - 1;
		memcpy(buf, rows[i].p, rows[i].len);
		buf[rows[i].len] = '\0';
		ui_put(p->win, y, x, p->r.w - x, buf, ui_attr(t->ui, c));
	}
}

/* A row across the pane: "-- text ----". */
static void
act_rule(struct pane *p, struct tui *t, int y, const char *text,
    enum ui_color c)
{
	char	 buf[256];
	int	 used;

	snprintf(buf, sizeof buf, "-- %s ", text);
	used = ui_put(p->win, y, 0, p->r.w, buf, ui_attr(t->ui, c));
	if (used < p->r.w) {
		wattron(p->win, ui_attr(t->ui, c));
		mvwhline(p->win, y, used, '-', p->r.w - used);
		wattroff(p->win, ui_attr(t->ui, c));
	}
}

/*
 * Lay out entry i (counting back from the newest) for a pane w columns
 * wide: its time prefix, who, the indent of continuation rows and its
 * rows.  *marker and *day say which rules go above it.  Returns the
 * rows of its text.
 */
static int
act_layout(const struct model *m, size_t i, int w, char *prefix,
    size_t plen, char *who, size_t wlen, int *indent, struct act_row *rows,
    int *marker, int *day)
{
	const struct model_line	*l = model_line_at(m, i), *older;
	struct tm		 tm;
	time_t			 secs;
	int			 w0;

	/* Above the first line that came while the user was away. */
	*marker = m->marker && m->lines_total > m->marker_total &&
	    i + 1 == m->lines_total - m->marker_total;
	older = model_line_at(m, i + 1);
	*day = older != NULL &&
	    decor_day(older->wall_ms) != decor_day(l->wall_ms);
	secs = (time_t)(l->wall_ms / 1000);
	localtime_r(&secs, &tm);
	snprintf(prefix, plen, "%02d:%02d:%02d ", tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
	if (l->kind == MODEL_INFO || l->kind == MODEL_ERROR)
		snprintf(who, wlen, "%s ", l->kind == MODEL_ERROR ? "!!" : "--");
	else if (l->flags & MODEL_F_ACTION)
		snprintf(who, wlen, "* %s ", l->who);
	else
		snprintf(who, wlen, "%s: ", l->who);
	*indent = text_width(prefix, strlen(prefix)) +
	    text_width(who, strlen(who));
	if (*indent > w / 2)
		*indent = 9;
	w0 = w - text_width(prefix, strlen(prefix)) -
	    text_width(who, strlen(who));
	return act_wrap(l->text, l->len, w0, w - *indent, rows);
}

/*
 * The furthest back the stream may scroll in a pane of w x h: the
 * oldest lines fill the page, never one line over an empty pane.  There
 * the page is drawn from the top, so the oldest line shows whole and
 * the newest line of the page may be cut at the bottom.  When only the
 * newest line (a wrapped one, or the unread marker above it) takes the
 * rows past the page, the bottom of the stream hides the oldest rows:
 * one line back then shows them.
 */
size_t
pane_activity_scroll_max(const struct model *m, int w, int h)
{
	struct act_row		 rows[ACT_ROWS_MAX];
	char			 prefix[16], who[MODEL_WHO_MAX + 4];
	size_t			 i;
	int			 indent, used = 0, page = h - 1, marker, day;

	if (m->lines_n == 0 || page < 1)
		return 0;
	for (i = m->lines_n; i > 0; i--) {
		used += act_layout(m, i - 1, w, prefix, sizeof prefix, who,
		    sizeof who, &indent, rows, &marker, &day);
		used += marker + day;
		if (used >= page)
			return i > 1 || used == page || m->lines_n == 1 ?
			    i - 1 : 1;
	}
	return 0;
}

/*
 * Scrolled back all the way: the oldest lines from the top down, until
 * the page is full (with lines below the scroll position if the page
 * has room for them).
 */
static void
act_draw_top_down(struct pane *p, struct tui *t)
{
	struct model		*m = &t->model;
	struct act_row		 rows[ACT_ROWS_MAX];
	char			 prefix[16], who[MODEL_WHO_MAX + 4], day[64];
	size_t			 i;
	int			 y = 1, nrows, indent, marker, dayrule;

	for (i = m->lines_n; i > 0 && y < p->r.h; i--) {
		nrows = act_layout(m, i - 1, p->r.w, prefix, sizeof prefix,
		    who, sizeof who, &indent, rows, &marker, &dayrule);
		if (dayrule && y < p->r.h) {
			decor_fmt_day(model_line_at(m, i - 1)->wall_ms, day,
			    sizeof day);
			act_rule(p, t, y++, day, UI_INFO);
		}
		if (marker && y < p->r.h)
			act_rule(p, t, y++, "new since you looked away",
			    UI_MARKER);
		if (nrows > p->r.h - y)
			nrows = p->r.h - y;
		act_draw_entry(p, t, model_line_at(m, i - 1), y, 0, nrows,
		    rows, indent, prefix, who);
		y += nrows;
	}
}

/* Draw the stream, bottom up from the scroll position. */
void
pane_activity_draw(struct pane *p, struct tui *t)
{
	struct model		*m = &t->model;
	const struct model_line	*l;
	struct act_row		 rows[ACT_ROWS_MAX];
	char			 prefix[16], who[MODEL_WHO_MAX + 4], right[64];
	char			 day[64];
	size_t			 i;
	int			 y, nrows, indent, skip, marker, dayrule;

	if (m->scroll > 0)
		snprintf(right, sizeof right, "scrolled: %zu newer below ",
		    m->scroll);
	else
		snprintf(right, sizeof right, "%llu lines ", m->lines_total);
	ui_title(p, t, right, m->scroll > 0 ? UI_WARN : UI_NORMAL);

	if (m->scroll > 0 &&
	    m->scroll >= pane_activity_scroll_max(m, p->r.w, p->r.h)) {
		act_draw_top_down(p, t);
		return;
	}
	y = p->r.h;		/* one past the last row */
	for (i = m->scroll; y > 1; i++) {
		if ((l = model_line_at(m, i)) == NULL)
			break;
		nrows = act_layout(m, i, p->r.w, prefix, sizeof prefix, who,
		    sizeof who, &indent, rows, &marker, &dayrule);
		skip = 0;
		y -= nrows;
		if (y < 1) {
			skip = 1 - y;
			y = 1;
		}
		act_draw_entry(p, t, l, y, skip, nrows, rows, indent, prefix,
		    who);
		if (marker && y > 1)
			act_rule(p, t, --y, "new since you looked away",
			    UI_MARKER);
		if (dayrule && y > 1) {
			decor_fmt_day(l->wall_ms, day, sizeof day);
			act_rule(p, t, --y, day, UI_INFO);
		}
	}
}
