/*
 * input.c: the line editor (cursor moves, deletes, ctrl-u, ctrl-k,
 * ctrl-w), the history ring (no repeats, capped, draft kept while
 * browsing), UTF-8 out and horizontal scrolling.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "input.h"

static int
setup(void **state)
{
	struct input	*in = calloc(1, sizeof *in);

	if (in == NULL)
		return -1;
	setlocale(LC_ALL, "C.UTF-8");
	input_init(in);
	*state = in;
	return 0;
}

static int
teardown(void **state)
{
	input_free(*state);
	free(*state);
	return 0;
}

static void
type(struct input *in, const char *s)
{
	while (*s != '\0')
		input_insert(in, (wchar_t)(unsigned char)*s++);
}

static void
assert_line(struct input *in, const char *want)
{
	char	 buf[8192];

	input_utf8(in, buf, sizeof buf);
	assert_string_equal(buf, want);
}

static void
input_insert__at_cursor__goes_between(void **state)
{
	struct input	*in = *state;

	type(in, "hllo");
	input_home(in);
	input_right(in);
	input_insert(in, L'e');
	assert_line(in, "hello");
	assert_int_equal(in->cur, 2);
	input_end(in);
	assert_int_equal(in->cur, 5);
}

static void
input_backspace__at_start__does_nothing(void **state)
{
	struct input	*in = *state;

	type(in, "ab");
	input_backspace(in);
	assert_line(in, "a");
	input_home(in);
	input_backspace(in);
	assert_line(in, "a");
	input_delete(in);
	assert_line(in, "");
	input_delete(in);
	input_left(in);
	assert_int_equal(in->cur, 0);
}

static void
input_kill_start__ctrl_u__deletes_to_line_start(void **state)
{
	struct input	*in = *state;

	type(in, "hello world");
	input_left(in);
	input_left(in);
	input_kill_start(in);
	assert_line(in, "ld");
	assert_int_equal(in->cur, 0);
}

static void
input_kill_end__ctrl_k__deletes_to_line_end(void **state)
{
	struct input	*in = *state;

	type(in, "hello world");
	input_home(in);
	input_right(in);
	input_kill_end(in);
	assert_line(in, "h");
}

static void
input_kill_word__ctrl_w__deletes_word(void **state)
{
	struct input	*in = *state;

	type(in, "send this  now  ");
	input_kill_word(in);
	assert_line(in, "send this  ");
	input_kill_word(in);
	assert_line(in, "send ");
	input_kill_word(in);
	assert_line(in, "");
	input_kill_word(in);
	assert_line(in, "");
}

static void
input_kill_word__mid_line__keeps_the_rest(void **state)
{
	struct input	*in = *state;

	type(in, "one two three");
	input_home(in);
	input_right(in);
	input_right(in);
	input_right(in);
	input_right(in);
	input_right(in);
	input_right(in);
	input_right(in);	/* after "one two" */
	input_kill_word(in);
	assert_line(in, "one  three");
	assert_int_equal(in->cur, 4);
}

static void
input_insert__long_line__kept_whole_up_to_max(void **state)
{
	struct input	*in = *state;
	char		*out;
	size_t		 n;
	int		 i;

	/* 1,500 characters used to lose their last 476. */
	for (i = 0; i < 1500; i++)
		assert_int_equal(input_insert(in, L'x'), 0);
	out = input_take(in, &n);
	assert_int_equal(n, 1500);
	assert_int_equal(strlen(out), 1500);
	free(out);
	/* Up to the cap set from --max-message, and not one past it. */
	input_set_max(in, 300000);
	for (i = 0; i < 300000; i++)
		assert_int_equal(input_insert(in, L'y'), 0);
	assert_int_equal(input_insert(in, L'z'), -1);
	assert_int_equal(in->len, 300000);
}

static void
input_view__cursor_far_right__shows_the_cursor(void **state)
{
	struct input	*in = *state;
	size_t		 start;
	int		 col, i;

	for (i = 0; i < 200000; i++)
		input_insert(in, L'a');
	input_view(in, 40, &start, &col);
	assert_int_equal(start, 200000 - 39);
	assert_int_equal(col, 39);
	input_home(in);
	input_view(in, 40, &start, &col);
	assert_int_equal(start, 0);
	assert_int_equal(col, 0);
}

static void
input_take__login_register__history_without_secret(void **state)
{
	struct input	*in = *state;

	type(in, "/login bob hunter2");
	free(input_take(in, NULL));
	type(in, "/register  carol  s3cr3t more");
	free(input_take(in, NULL));
	type(in, "/loginx a b");
	free(input_take(in, NULL));
	input_hist_prev(in);
	assert_line(in, "/loginx a b");
	input_hist_prev(in);
	assert_line(in, "/register  carol");
	input_hist_prev(in);
	assert_line(in, "/login bob");
}

static void
input_take__utf8__encodes_and_clears(void **state)
{
	struct input	*in = *state;
	char		*buf;
	size_t		 n;

	input_insert(in, L'h');
	input_insert(in, 0xe9);		/* é */
	input_insert(in, 0x65e5);	/* 日 */
	input_insert(in, 0x1f600);	/* emoji */
	buf = input_take(in, &n);
	assert_int_equal(n, 1 + 2 + 3 + 4);
	assert_string_equal(buf, "h\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80");
	free(buf);
	assert_int_equal(in->len, 0);
	assert_int_equal(in->cur, 0);
}

static void
input_hist__up_down__walks_and_restores_draft(void **state)
{
	struct input	*in = *state;

	type(in, "first");
	free(input_take(in, NULL));
	type(in, "second");
	free(input_take(in, NULL));
	type(in, "draft");
	input_hist_prev(in);
	assert_line(in, "second");
	input_hist_prev(in);
	assert_line(in, "first");
	input_hist_prev(in);
	assert_line(in, "first");
	input_hist_next(in);
	assert_line(in, "second");
	input_hist_next(in);
	assert_line(in, "draft");
	input_hist_next(in);
	assert_line(in, "draft");
}

static void
input_hist__repeat_and_empty__not_stored(void **state)
{
	struct input	*in = *state;

	type(in, "same");
	free(input_take(in, NULL));
	type(in, "same");
	free(input_take(in, NULL));
	free(input_take(in, NULL));
	assert_int_equal(in->hist_n, 1);
}

static void
input_hist__over_cap__oldest_dropped(void **state)
{
	struct input	*in = *state;
	char		 line[32];
	int		 i;

	for (i = 0; i < INPUT_HISTORY_MAX + 10; i++) {
		snprintf(line, sizeof line, "line %d", i);
		type(in, line);
		free(input_take(in, NULL));
	}
	assert_int_equal(in->hist_n, INPUT_HISTORY_MAX);
	for (i = 0; i < INPUT_HISTORY_MAX + 5; i++)
		input_hist_prev(in);
	assert_line(in, "line 10");
}

static void
input_view__long_line__keeps_cursor_visible(void **state)
{
	struct input	*in = *state;
	size_t		 start;
	int		 col;

	type(in, "0123456789abcdefghij");
	input_view(in, 10, &start, &col);
	assert_int_equal(start, 11);
	assert_int_equal(col, 9);
	input_home(in);
	input_view(in, 10, &start, &col);
	assert_int_equal(start, 0);
	assert_int_equal(col, 0);
}

static void
input_view__wide_chars__count_two_columns(void **state)
{
	struct input	*in = *state;
	size_t		 start;
	int		 col;

	input_insert(in, 0x65e5);
	input_insert(in, 0x672c);
	input_view(in, 10, &start, &col);
	assert_int_equal(start, 0);
	assert_int_equal(col, 4);
}

static void
input_set__utf8__loads_characters(void **state)
{
	struct input	*in = *state;

	input_set(in, "caf\xc3\xa9");
	assert_int_equal(in->len, 4);
	assert_line(in, "caf\xc3\xa9");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(input_insert__at_cursor__goes_between),
		T(input_backspace__at_start__does_nothing),
		T(input_kill_start__ctrl_u__deletes_to_line_start),
		T(input_kill_end__ctrl_k__deletes_to_line_end),
		T(input_kill_word__ctrl_w__deletes_word),
		T(input_kill_word__mid_line__keeps_the_rest),
		T(input_insert__long_line__kept_whole_up_to_max),
		T(input_view__cursor_far_right__shows_the_cursor),
		T(input_take__login_register__history_without_secret),
		T(input_take__utf8__encodes_and_clears),
		T(input_hist__up_down__walks_and_restores_draft),
		T(input_hist__repeat_and_empty__not_stored),
		T(input_hist__over_cap__oldest_dropped),
		T(input_view__long_line__keeps_cursor_visible),
		T(input_view__wide_chars__count_two_columns),
		T(input_set__utf8__loads_characters),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
