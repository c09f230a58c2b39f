/*
 * layout.c: the panes tile the terminal exactly (every cell belongs to
 * one pane), at 80x24 and every size up to a large screen; below the
 * minimum only a notice is shown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layout.h"

static void
assert_rect(const struct rect *r, int x, int y, int w, int h)
{
	assert_int_equal(r->x, x);
	assert_int_equal(r->y, y);
	assert_int_equal(r->w, w);
	assert_int_equal(r->h, h);
}

/* Every cell covered exactly once, every pane inside the screen. */
static void
check_tiles(int cols, int lines)
{
	struct layout	 l;
	unsigned char	*cover;
	int		 i, x, y;

	layout_compute(cols, lines, &l);
	assert_false(l.too_small);
	cover = calloc((size_t)cols * (size_t)lines, 1);
	assert_non_null(cover);
	for (i = 0; i < PANE__COUNT; i++) {
		const struct rect *r = &l.r[i];

		assert_true(r->w > 0 && r->h > 0);
		assert_true(r->x >= 0 && r->y >= 0);
		assert_true(r->x + r->w <= cols && r->y + r->h <= lines);
		for (y = r->y; y < r->y + r->h; y++)
			for (x = r->x; x < r->x + r->w; x++)
				cover[y * cols + x]++;
	}
	for (i = 0; i < cols * lines; i++)
		assert_int_equal(cover[i], 1);
	free(cover);
}

static void
layout_compute__80x24__band_of_three_under_the_stream(void **state)
{
	struct layout	 l;

	(void)state;
	layout_compute(80, 24, &l);
	assert_false(l.too_small);
	assert_false(l.wide);
	assert_rect(&l.r[PANE_STATUS], 0, 0, 80, 1);
	assert_rect(&l.r[PANE_ACTIVITY], 0, 1, 80, 15);
	assert_rect(&l.r[PANE_REPORTS], 0, 16, 20, 7);
	assert_rect(&l.r[PANE_FAILOVER], 20, 16, 24, 7);
	assert_rect(&l.r[PANE_CLUSTER], 44, 16, 36, 7);
	assert_rect(&l.r[PANE_INPUT], 0, 23, 80, 1);
}

static void
layout_compute__every_size__tiles_the_screen(void **state)
{
	int	 c, l;

	(void)state;
	for (c = LAYOUT_MIN_COLS; c <= 220; c += 3)
		for (l = LAYOUT_MIN_LINES; l <= 80; l += 5)
			check_tiles(c, l);
	check_tiles(LAYOUT_WIDE_COLS - 1, 24);
	check_tiles(LAYOUT_WIDE_COLS, 24);
}

static void
layout_compute__more_lines__stream_grows_most(void **state)
{
	struct layout	 a, b;

	(void)state;
	layout_compute(80, 24, &a);
	layout_compute(80, 50, &b);
	assert_true(b.r[PANE_ACTIVITY].h > a.r[PANE_ACTIVITY].h);
	assert_true(b.r[PANE_ACTIVITY].h - a.r[PANE_ACTIVITY].h >
	    b.r[PANE_CLUSTER].h - a.r[PANE_CLUSTER].h);
	assert_int_equal(b.r[PANE_INPUT].y, 49);
}

static void
layout_compute__wide__side_bar_and_full_height_stream(void **state)
{
	struct layout	 l;

	(void)state;
	layout_compute(160, 48, &l);
	assert_true(l.wide);
	assert_int_equal(l.r[PANE_ACTIVITY].h, 46);
	assert_int_equal(l.r[PANE_REPORTS].x, l.r[PANE_ACTIVITY].w);
	assert_int_equal(l.r[PANE_CLUSTER].x, l.r[PANE_ACTIVITY].w);
	assert_true(l.r[PANE_ACTIVITY].w >= 90);
}

static void
layout_compute__too_small__notice_only(void **state)
{
	struct layout	 l;

	(void)state;
	layout_compute(LAYOUT_MIN_COLS - 1, 24, &l);
	assert_true(l.too_small);
	layout_compute(80, LAYOUT_MIN_LINES - 1, &l);
	assert_true(l.too_small);
	assert_int_equal(l.r[PANE_ACTIVITY].w, 0);
	layout_compute(0, 0, &l);
	assert_true(l.too_small);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    layout_compute__80x24__band_of_three_under_the_stream),
		cmocka_unit_test(layout_compute__every_size__tiles_the_screen),
		cmocka_unit_test(
		    layout_compute__more_lines__stream_grows_most),
		cmocka_unit_test(
		    layout_compute__wide__side_bar_and_full_height_stream),
		cmocka_unit_test(layout_compute__too_small__notice_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
