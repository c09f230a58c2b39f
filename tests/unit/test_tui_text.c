/*
 * text.c and compose.c: what reaches the screen is free of control
 * characters and measured in columns; typed lines become the right
 * activity (or a clear error); received activities read well.
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

#include "compose.h"
#include "json.h"
#include "text.h"

static int
setup(void **state)
{
	(void)state;
	setlocale(LC_ALL, "C.UTF-8");
	return 0;
}

static void
text_sanitize__escape_sequence__replaced(void **state)
{
	char	 out[64];
	const char in[] = "a\x1b[2Jb\tc\nd\x7f\xc2\x9b";

	(void)state;
	text_sanitize(in, sizeof in - 1, out, sizeof out);
	assert_string_equal(out, "a?[2Jb c d??");
}

/* A note's line breaks stay (CR LF as one); other controls still go. */
static void
text_sanitize_lines__line_feeds_kept(void **state)
{
	char	 out[64];
	const char in[] = "one\r\ntwo\n\nthree\rx\t\x1b";

	(void)state;
	text_sanitize_lines(in, sizeof in - 1, out, sizeof out);
	assert_string_equal(out, "one\ntwo\n\nthree x ?");
}

static void
text_sanitize__bad_utf8__question_marks(void **state)
{
	char	 out[64];

	(void)state;
	text_sanitize("x\xff\xc3", 3, out, sizeof out);
	assert_string_equal(out, "x??");
	text_sanitize("\xc3\xa9", 2, out, sizeof out);
	assert_string_equal(out, "\xc3\xa9");
}

static void
text_sanitize__small_buffer__cut_on_character(void **state)
{
	char	 out[6];

	(void)state;
	/* Three 2-byte characters do not fit with the NUL in 6 bytes. */
	text_sanitize("\xc3\xa9\xc3\xa9\xc3\xa9", 6, out, sizeof out);
	assert_string_equal(out, "\xc3\xa9\xc3\xa9");
}

static void
text_width__cjk__two_columns_each(void **state)
{
	const char	*s = "a\xe6\x97\xa5\xe6\x9c\xac";	/* a日本 */
	int		 used;

	(void)state;
	assert_int_equal(text_width(s, strlen(s)), 5);
	assert_int_equal(text_fit(s, strlen(s), 4, &used), 4);
	assert_int_equal(used, 3);
}

static void
text_wrap__at_blank__breaks_after_space(void **state)
{
	const char	*s = "hello wide world";

	(void)state;
	assert_int_equal(text_wrap(s, strlen(s), 12), 11);
	assert_int_equal(text_wrap(s, strlen(s), 40), strlen(s));
	assert_int_equal(text_wrap("abcdefghij", 10, 4), 4);
	assert_int_equal(text_wrap("abc", 3, 0), 1);
}

static void
compose_line__plain_text__note(void **state)
{
	struct jbuf		 b;
	char			 err[128];
	enum compose_kind	 k;

	(void)state;
	jbuf_init(&b);
	k = compose_line("hi \"you\"", 8, &b, err, sizeof err);
	assert_int_equal(k, COMPOSE_ACTIVITY);
	assert_string_equal(b.p,
	    "{\"type\":\"Note\",\"content\":\"hi \\\"you\\\"\"}");
	jbuf_free(&b);
}

static void
compose_line__json_object__sent_as_is(void **state)
{
	struct jbuf	 b;
	char		 err[128];
	const char	*l = "{\"type\":\"Like\", \"n\": 12345678901234567890}";

	(void)state;
	jbuf_init(&b);
	assert_int_equal(compose_line(l, strlen(l), &b, err, sizeof err),
	    COMPOSE_ACTIVITY);
	assert_string_equal(b.p, l);
	jbuf_free(&b);
}

static void
compose_line__bad_json__error_nothing_sent(void **state)
{
	struct jbuf	 b;
	char		 err[128];

	(void)state;
	jbuf_init(&b);
	assert_int_equal(compose_line("{\"a\":", 5, &b, err, sizeof err),
	    COMPOSE_ERROR);
	assert_non_null(strstr(err, "invalid JSON"));
	assert_int_equal(compose_line("{} x", 4, &b, err, sizeof err),
	    COMPOSE_ERROR);
	jbuf_free(&b);
}

static void
compose_line__slash__command_or_escaped_note(void **state)
{
	struct jbuf	 b;
	char		 err[128];

	(void)state;
	jbuf_init(&b);
	assert_int_equal(compose_line("/quit", 5, &b, err, sizeof err),
	    COMPOSE_COMMAND);
	assert_int_equal(compose_line("//etc", 5, &b, err, sizeof err),
	    COMPOSE_ACTIVITY);
	assert_string_equal(b.p, "{\"type\":\"Note\",\"content\":\"/etc\"}");
	assert_int_equal(compose_line("  \r\n", 4, &b, err, sizeof err),
	    COMPOSE_EMPTY);
	jbuf_free(&b);
}

static void
compose_show__long_note__text_cut_not_json(void **state)
{
	char	 act[3000], out[64];
	int	 n;

	(void)state;
	n = snprintf(act, sizeof act, "{\"type\":\"Note\",\"content\":\"");
	memset(act + n, 'a', 2000);
	n += 2000;
	snprintf(act + n, sizeof act - (size_t)n, "\\u00e9 end\"}");
	assert_int_equal(compose_show(act, strlen(act), out, sizeof out,
	    NULL, 0), 1);
	assert_int_equal(strlen(out), sizeof out - 1);
	assert_memory_equal(out, "aaaa", 4);
	assert_string_equal(out + sizeof out - 4, "...");
}

static void
text_sanitize__ascii_locale__escaped(void **state)
{
	char	 out[64];

	(void)state;
	text_set_ascii(1);
	text_sanitize("h\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", 12, out,
	    sizeof out);
	text_set_ascii(0);
	assert_string_equal(out, "h\\u00e9 \\u65e5 \\U0001f600");
	text_sanitize("h\xc3\xa9", 3, out, sizeof out);
	assert_string_equal(out, "h\xc3\xa9");
}

static void
compose_line__pasted_lines__one_compact_object_or_one_note(void **state)
{
	struct jbuf	 b;
	char		 err[128];
	const char	*json = "\n{\n  \"type\": \"Like\",\n  \"s\": \"a b\"\n}\n";
	const char	*text = "one\ntwo";

	(void)state;
	jbuf_init(&b);
	assert_int_equal(compose_line(json, strlen(json), &b, err,
	    sizeof err), COMPOSE_ACTIVITY);
	assert_string_equal(b.p, "{\"type\":\"Like\",\"s\":\"a b\"}");
	assert_int_equal(compose_line(text, strlen(text), &b, err,
	    sizeof err), COMPOSE_ACTIVITY);
	assert_string_equal(b.p,
	    "{\"type\":\"Note\",\"content\":\"one\\ntwo\"}");
	jbuf_free(&b);
}

static void
compose_line__invalid_utf8__error(void **state)
{
	struct jbuf	 b;
	char		 err[128];

	(void)state;
	jbuf_init(&b);
	assert_int_equal(compose_line("a\xff", 2, &b, err, sizeof err),
	    COMPOSE_ERROR);
	jbuf_free(&b);
}

static void
compose_show__note__content_and_sender(void **state)
{
	const char	*a = "{\"type\":\"Note\",\"content\":\"caf\\u00e9\","
	    "\"authenticated_user\":\"ann\"}";
	char		 out[64], who[16];

	(void)state;
	assert_int_equal(compose_show(a, strlen(a), out, sizeof out, who,
	    sizeof who), 1);
	assert_string_equal(out, "caf\xc3\xa9");
	assert_string_equal(who, "ann");
}

static void
compose_show__sender_member__left_out(void **state)
{
	const char	*a = "{\"authenticated_user\":\"bo\", "
	    "\"type\":\"Like\","
	    " \"o\": {\"a\": [1, 2]}}";
	char		 out[64], who[16];

	(void)state;
	compose_show(a, strlen(a), out, sizeof out, who, sizeof who);
	assert_string_equal(out, "{\"type\":\"Like\",\"o\":{\"a\":[1,2]}}");
	assert_string_equal(who, "bo");
	compose_show("{\"authenticated_user\":\"x\"}", 25, out, sizeof out,
	    who, sizeof who);
	assert_string_equal(out, "{}");
}

static void
compose_show__small_buffer__cut_not_overrun(void **state)
{
	const char	*a =
	    "{\"type\":\"Like\",\"long\":\"abcdefghijklmnop\"}";
	char		 out[12];

	(void)state;
	compose_show(a, strlen(a), out, sizeof out, NULL, 0);
	assert_true(strlen(out) < sizeof out);
}

static void
compose_show__other__compact_json(void **state)
{
	const char	*a = "{ \"type\" : \"Like\",\n \"s\": \"a b\" }";
	char		 out[64], who[16];

	(void)state;
	assert_int_equal(compose_show(a, strlen(a), out, sizeof out, who,
	    sizeof who), 0);
	assert_string_equal(out, "{\"type\":\"Like\",\"s\":\"a b\"}");
	assert_string_equal(who, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_sanitize__escape_sequence__replaced),
		cmocka_unit_test(text_sanitize_lines__line_feeds_kept),
		cmocka_unit_test(text_sanitize__bad_utf8__question_marks),
		cmocka_unit_test(
		    text_sanitize__small_buffer__cut_on_character),
		cmocka_unit_test(text_width__cjk__two_columns_each),
		cmocka_unit_test(text_wrap__at_blank__breaks_after_space),
		cmocka_unit_test(compose_line__plain_text__note),
		cmocka_unit_test(compose_line__json_object__sent_as_is),
		cmocka_unit_test(compose_line__bad_json__error_nothing_sent),
		cmocka_unit_test(
		    compose_line__slash__command_or_escaped_note),
		cmocka_unit_test(compose_line__invalid_utf8__error),
		cmocka_unit_test(text_sanitize__ascii_locale__escaped),
		cmocka_unit_test(compose_show__long_note__text_cut_not_json),
		cmocka_unit_test(
		    compose_line__pasted_lines__one_compact_object_or_one_note),
		cmocka_unit_test(compose_show__note__content_and_sender),
		cmocka_unit_test(compose_show__other__compact_json),
		cmocka_unit_test(compose_show__sender_member__left_out),
		cmocka_unit_test(compose_show__small_buffer__cut_not_overrun),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
