/*
 * decor.c, the word moves of input.c and the unread marker of model.c:
 * name colours, mentions, day changes, host:port cut to a width, Alt-b
 * and Alt-f, and where "new since you looked away" goes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "decor.h"
#include "input.h"
#include "model.h"
#include "text.h"

static void
decor_name_color__same_name__same_colour_and_names_spread(void **state)
{
	static const char *const names[] = { "alice", "bob", "carol", "dave",
	    "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
	    "oscar" };
	int	 seen[DECOR_COLORS] = { 0 }, i, used = 0;

	(void)state;
	assert_int_equal(decor_name_color("alice"), decor_name_color("alice"));
	for (i = 0; i < 12; i++) {
		int c = decor_name_color(names[i]);

		assert_true(c >= 0 && c < DECOR_COLORS);
		seen[c]++;
	}
	for (i = 0; i < DECOR_COLORS; i++)
		used += seen[i] > 0;
	/* Twelve names do not all land on one or two colours. */
	assert_true(used >= 4);
}

static void
decor_mentions__whole_word_any_case__yes_else_no(void **state)
{
	(void)state;
	assert_true(decor_mentions("hi alice!", 9, "alice"));
	assert_true(decor_mentions("ALICE: look", 11, "alice"));
	assert_true(decor_mentions("@alice", 6, "alice"));
	assert_false(decor_mentions("malice aforethought", 19, "alice"));
	assert_false(decor_mentions("alicea", 6, "alice"));
	assert_false(decor_mentions("ali", 3, "alice"));
	assert_false(decor_mentions("anything", 8, ""));
}

static void
decor_day__midnight__changes_day(void **state)
{
	char	 buf[64];

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	/* 2026-12-06 23:59:59 and 2026-12-07 00:00:00 UTC */
	assert_int_equal(decor_day(1796601599000ULL), 20261206);
	assert_int_equal(decor_day(1796601600000ULL), 20261207);
	decor_fmt_day(1796601600000ULL, buf, sizeof buf);
	assert_string_equal(buf, "Monday 7 December 2026");
}

static void
decor_hostport__narrow__middle_elided_port_kept(void **state)
{
	char	 buf[128];

	(void)state;
	decor_hostport("localhost", 3780, 40, buf, sizeof buf);
	assert_string_equal(buf, "localhost:3780");
	decor_hostport("server-one.example.org", 40001, 16, buf, sizeof buf);
	assert_int_equal(text_width(buf, strlen(buf)), 16);
	assert_string_equal(buf + strlen(buf) - 6, ":40001");
	assert_non_null(strstr(buf, "..."));
	assert_true(strncmp(buf, "serv", 4) == 0);
	/* Two hosts that differ at the end stay apart. */
	decor_hostport("app-server-1.example", 80, 14, buf, sizeof buf);
	assert_string_equal(buf, "app-...mple:80");
	/* Too narrow for any of the host: the port alone, never cut. */
	decor_hostport("localhost", 41234, 7, buf, sizeof buf);
	assert_string_equal(buf, ":41234");
}

static void
input_word__alt_b_alt_f__move_by_words(void **state)
{
	struct input	 in;
	const char	*s = "say hello, world";

	(void)state;
	setlocale(LC_ALL, "C.UTF-8");
	input_init(&in);
	while (*s != '\0')
		input_insert(&in, (wchar_t)(unsigned char)*s++);
	input_word_left(&in);
	assert_int_equal(in.cur, 11);		/* |world */
	input_word_left(&in);
	assert_int_equal(in.cur, 4);		/* |hello, */
	input_word_left(&in);
	input_word_left(&in);
	assert_int_equal(in.cur, 0);
	input_word_right(&in);
	assert_int_equal(in.cur, 3);		/* say| */
	input_word_right(&in);
	assert_int_equal(in.cur, 9);		/* hello|, */
	input_word_right(&in);
	input_word_right(&in);
	assert_int_equal(in.cur, in.len);
	input_free(&in);
}

/* Add n lines to the stream. */
static void
lines(struct model *m, int n)
{
	while (n-- > 0)
		model_add(m, MODEL_ACTIVITY, "bob", "x", 1);
}

static void
model_attention__away__marker_over_new_lines(void **state)
{
	struct model	 m;

	(void)state;
	model_init(&m, 100);
	lines(&m, 30);
	assert_false(m.marker);
	/* Scrolled back: what comes next is unread. */
	model_scroll(&m, 10);
	assert_true(m.marker);
	lines(&m, 3);
	assert_int_equal(m.lines_total - m.marker_total, 3);
	/* Back at the bottom: the marker stays, above those three. */
	model_scroll(&m, -100);
	assert_true(m.marker);
	assert_int_equal(m.lines_total - m.marker_total, 3);
	/* Unfocused and back with nothing new: no marker. */
	model_set_focus(&m, 0);
	assert_int_equal(m.lines_total - m.marker_total, 0);
	model_set_focus(&m, 1);
	assert_false(m.marker);
	/* Unfocused, two lines come, one names us (counted for the bell). */
	model_set_focus(&m, 0);
	lines(&m, 2);
	model_flag_last(&m, MODEL_F_MENTION);
	model_set_focus(&m, 1);
	assert_true(m.marker);
	assert_int_equal(m.lines_total - m.marker_total, 2);
	assert_int_equal(m.mentions, 1);
	/* /clear takes the marker too. */
	model_clear(&m);
	assert_false(m.marker);
	assert_null(model_line_at(&m, 0));
	model_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    decor_name_color__same_name__same_colour_and_names_spread),
		cmocka_unit_test(
		    decor_mentions__whole_word_any_case__yes_else_no),
		cmocka_unit_test(decor_day__midnight__changes_day),
		cmocka_unit_test(
		    decor_hostport__narrow__middle_elided_port_kept),
		cmocka_unit_test(input_word__alt_b_alt_f__move_by_words),
		cmocka_unit_test(
		    model_attention__away__marker_over_new_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
