/*
 * frame.c: newline framing with a cap over an evbuffer.  Bytes arrive
 * in arbitrary pieces; a line is handed out only when complete, a line
 * over the cap or a cap's worth of bytes without a newline is refused,
 * and a NUL byte is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "frame.h"

struct fixture {
	struct evbuffer		*in;
	struct frame_reader	 fr;
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof *f);

	if (f == NULL || (f->in = evbuffer_new()) == NULL)
		return -1;
	frame_init(&f->fr, 16);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	evbuffer_free(f->in);
	free(f);
	return 0;
}

static void
add(struct fixture *f, const char *s)
{
	assert_int_equal(evbuffer_add(f->in, s, strlen(s)), 0);
}

static void
add_n(struct fixture *f, char c, size_t n)
{
	char	*p = malloc(n);

	assert_non_null(p);
	memset(p, c, n);
	assert_int_equal(evbuffer_add(f->in, p, n), 0);
	free(p);
}

/* The next frame must be a line equal to want; consume it. */
static void
expect_line(struct fixture *f, const char *want)
{
	struct frame	 fr;

	assert_int_equal(frame_next(&f->fr, f->in, &fr), FRAME_LINE);
	assert_int_equal(fr.len, strlen(want));
	assert_memory_equal(fr.line, want, fr.len);
	frame_done(&f->fr, f->in, &fr);
}

static enum frame_status
next(struct fixture *f)
{
	struct frame	 fr;

	return frame_next(&f->fr, f->in, &fr);
}

static void
frame_next__empty_buffer__need_more(void **state)
{
	struct fixture	*f = *state;

	assert_int_equal(next(f), FRAME_NEED_MORE);
}

static void
frame_next__one_line__line_without_newline(void **state)
{
	struct fixture	*f = *state;

	add(f, "{\"a\":1}\n");
	expect_line(f, "{\"a\":1}");
	assert_int_equal(evbuffer_get_length(f->in), 0);
	assert_int_equal(next(f), FRAME_NEED_MORE);
}

static void
frame_next__partial_line__need_more_until_newline(void **state)
{
	struct fixture	*f = *state;

	add(f, "{\"a\"");
	assert_int_equal(next(f), FRAME_NEED_MORE);
	add(f, ":");
	assert_int_equal(next(f), FRAME_NEED_MORE);
	add(f, "1}");
	assert_int_equal(next(f), FRAME_NEED_MORE);
	add(f, "\n{\"b\"");
	expect_line(f, "{\"a\":1}");
	assert_int_equal(next(f), FRAME_NEED_MORE);
	add(f, ":2}\n");
	expect_line(f, "{\"b\":2}");
}

static void
frame_next__byte_by_byte__one_line(void **state)
{
	struct fixture	*f = *state;
	const char	*s = "0123456789abcdef\r\n";
	size_t		 i;

	/* Sixteen bytes (the cap) plus CRLF, one byte per read. */
	for (i = 0; s[i + 1] != '\0'; i++) {
		assert_int_equal(evbuffer_add(f->in, s + i, 1), 0);
		assert_int_equal(next(f), FRAME_NEED_MORE);
	}
	assert_int_equal(evbuffer_add(f->in, s + i, 1), 0);
	expect_line(f, "0123456789abcdef");
}

static void
frame_next__many_lines_in_one_read__each_in_order(void **state)
{
	struct fixture	*f = *state;

	add(f, "one\ntwo\nthree\nfour\nfive");
	expect_line(f, "one");
	expect_line(f, "two");
	expect_line(f, "three");
	expect_line(f, "four");
	assert_int_equal(next(f), FRAME_NEED_MORE);
	add(f, "\n");
	expect_line(f, "five");
	assert_int_equal(next(f), FRAME_NEED_MORE);
}

static void
frame_next__crlf__carriage_return_stripped(void **state)
{
	struct fixture	*f = *state;
	struct frame	 fr;

	add(f, "abc\r\ndef\n");
	assert_int_equal(frame_next(&f->fr, f->in, &fr), FRAME_LINE);
	assert_int_equal(fr.len, 3);
	assert_int_equal(fr.total, 5);		/* drains the CR too */
	assert_memory_equal(fr.line, "abc", 3);
	frame_done(&f->fr, f->in, &fr);
	expect_line(f, "def");
}

static void
frame_next__lone_cr_inside_line__kept(void **state)
{
	struct fixture	*f = *state;

	add(f, "a\rb\n");
	expect_line(f, "a\rb");
}

static void
frame_next__empty_lines__skipped(void **state)
{
	struct fixture	*f = *state;

	add(f, "\n\r\n\n\r\nx\n\n");
	expect_line(f, "x");
	assert_int_equal(next(f), FRAME_NEED_MORE);
	assert_int_equal(evbuffer_get_length(f->in), 0);
}

static void
frame_next__only_empty_lines__need_more_and_drained(void **state)
{
	struct fixture	*f = *state;

	add(f, "\n\n\r\n");
	assert_int_equal(next(f), FRAME_NEED_MORE);
	assert_int_equal(evbuffer_get_length(f->in), 0);
}

static void
frame_next__exactly_max__line(void **state)
{
	struct fixture	*f = *state;

	add_n(f, 'x', 16);
	add(f, "\n");
	expect_line(f, "xxxxxxxxxxxxxxxx");
}

static void
frame_next__exactly_max_with_crlf__line(void **state)
{
	struct fixture	*f = *state;

	add_n(f, 'x', 16);
	add(f, "\r\n");
	expect_line(f, "xxxxxxxxxxxxxxxx");
}

static void
frame_next__max_plus_one__too_long(void **state)
{
	struct fixture	*f = *state;

	add_n(f, 'x', 17);
	add(f, "\n");
	assert_int_equal(next(f), FRAME_TOO_LONG);
}

static void
frame_next__max_plus_one_with_crlf__too_long(void **state)
{
	struct fixture	*f = *state;

	add_n(f, 'x', 17);
	add(f, "\r\n");
	assert_int_equal(next(f), FRAME_TOO_LONG);
}

static void
frame_next__over_max_after_good_lines__good_lines_first(void **state)
{
	struct fixture	*f = *state;

	add(f, "ok\n");
	add_n(f, 'x', 40);
	add(f, "\n");
	expect_line(f, "ok");
	assert_int_equal(next(f), FRAME_TOO_LONG);
}

static void
frame_next__no_newline_exactly_max__need_more(void **state)
{
	struct fixture	*f = *state;

	add_n(f, 'x', 16);
	assert_int_equal(next(f), FRAME_NEED_MORE);
}

static void
frame_next__no_newline_max_then_cr__need_more(void **state)
{
	struct fixture	*f = *state;

	/* A full line whose "\r\n" is split across reads is still fine. */
	add_n(f, 'x', 16);
	add(f, "\r");
	assert_int_equal(next(f), FRAME_NEED_MORE);
	add(f, "\n");
	expect_line(f, "xxxxxxxxxxxxxxxx");
}

static void
frame_next__no_newline_over_max__too_long(void **state)
{
	struct fixture	*f = *state;

	add_n(f, 'x', 18);
	assert_int_equal(next(f), FRAME_TOO_LONG);
}

static void
frame_next__no_newline_far_over_max__too_long(void **state)
{
	struct fixture	*f = *state;

	add_n(f, 'x', 100000);
	assert_int_equal(next(f), FRAME_TOO_LONG);
}

static void
frame_next__no_newline_growing__too_long_by_max_plus_two(void **state)
{
	struct fixture	*f = *state;
	size_t		 n;

	/* Never more than the cap and a CRLF is buffered unrefused. */
	for (n = 1; n <= 18; n++) {
		add(f, "x");
		if (next(f) == FRAME_TOO_LONG)
			break;
	}
	assert_true(n <= 18);
}

static void
frame_next__nul_byte__bad_nul(void **state)
{
	struct fixture	*f = *state;

	assert_int_equal(evbuffer_add(f->in, "a\0b\n", 4), 0);
	assert_int_equal(next(f), FRAME_BAD_NUL);
}

static void
frame_next__nul_in_second_line__first_line_then_bad_nul(void **state)
{
	struct fixture	*f = *state;

	assert_int_equal(evbuffer_add(f->in, "good\n\0\n", 7), 0);
	expect_line(f, "good");
	assert_int_equal(next(f), FRAME_BAD_NUL);
}

static void
frame_next__nul_before_cr__bad_nul(void **state)
{
	struct fixture	*f = *state;

	assert_int_equal(evbuffer_add(f->in, "ab\0\r\n", 5), 0);
	assert_int_equal(next(f), FRAME_BAD_NUL);
}

static void
frame_next__scanned_then_external_drain__still_finds_line(void **state)
{
	struct fixture	*f = *state;

	/* The reader remembers how far it scanned; a buffer that shrank
	 * behind its back must not make it miss a newline. */
	add(f, "abcdefgh");
	assert_int_equal(next(f), FRAME_NEED_MORE);
	evbuffer_drain(f->in, evbuffer_get_length(f->in));
	add(f, "ab\n");
	expect_line(f, "ab");
}

static void
frame_next__one_mebibyte_cap__exact_line(void **state)
{
	struct fixture	*f = *state;
	struct frame	 fr;
	size_t		 max = 1024 * 1024, i;
	char		 chunk[4096];

	frame_init(&f->fr, max);
	memset(chunk, 'y', sizeof chunk);
	for (i = 0; i < max / sizeof chunk; i++) {
		assert_int_equal(evbuffer_add(f->in, chunk, sizeof chunk), 0);
		assert_int_equal(next(f), FRAME_NEED_MORE);
	}
	add(f, "\n");
	assert_int_equal(frame_next(&f->fr, f->in, &fr), FRAME_LINE);
	assert_int_equal(fr.len, max);
	assert_int_equal(fr.line[0], 'y');
	assert_int_equal(fr.line[max - 1], 'y');
	frame_done(&f->fr, f->in, &fr);
	assert_int_equal(evbuffer_get_length(f->in), 0);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(frame_next__empty_buffer__need_more),
		T(frame_next__one_line__line_without_newline),
		T(frame_next__partial_line__need_more_until_newline),
		T(frame_next__byte_by_byte__one_line),
		T(frame_next__many_lines_in_one_read__each_in_order),
		T(frame_next__crlf__carriage_return_stripped),
		T(frame_next__lone_cr_inside_line__kept),
		T(frame_next__empty_lines__skipped),
		T(frame_next__only_empty_lines__need_more_and_drained),
		T(frame_next__exactly_max__line),
		T(frame_next__exactly_max_with_crlf__line),
		T(frame_next__max_plus_one__too_long),
		T(frame_next__max_plus_one_with_crlf__too_long),
		T(frame_next__over_max_after_good_lines__good_lines_first),
		T(frame_next__no_newline_exactly_max__need_more),
		T(frame_next__no_newline_max_then_cr__need_more),
		T(frame_next__no_newline_over_max__too_long),
		T(frame_next__no_newline_far_over_max__too_long),
		T(frame_next__no_newline_growing__too_long_by_max_plus_two),
		T(frame_next__nul_byte__bad_nul),
		T(frame_next__nul_in_second_line__first_line_then_bad_nul),
		T(frame_next__nul_before_cr__bad_nul),
		T(frame_next__scanned_then_external_drain__still_finds_line),
		T(frame_next__one_mebibyte_cap__exact_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
