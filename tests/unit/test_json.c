/*
 * json.c: the strict validator (RFC 8259, UTF-8, depth cap), the walkers
 * over validated text, string decoding, and jbuf's string escaping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

/* Validate a C string (no NULs) at the standard depth. */
static enum json_type
v(const char *s)
{
	const char	*err = NULL;
	enum json_type	 t;

	t = json_validate(s, strlen(s), JSON_DEPTH_MAX, &err);
	if (t == JSON_NONE)
		assert_non_null(err);
	return t;
}

/* Validate bytes that may hold NULs. */
static enum json_type
vn(const char *s, size_t n)
{
	const char	*err = NULL;

	return json_validate(s, n, JSON_DEPTH_MAX, &err);
}

static void
accept_all(const char *const *cases, enum json_type want)
{
	for (; *cases != NULL; cases++) {
		if (v(*cases) != want)
			fail_msg("rejected or mistyped: %s", *cases);
	}
}

static void
reject_all(const char *const *cases)
{
	for (; *cases != NULL; cases++) {
		if (v(*cases) != JSON_NONE)
			fail_msg("accepted: %s", *cases);
	}
}

static struct json_span
span(const char *s)
{
	struct json_span	 sp = { s, strlen(s) };

	return sp;
}

static void
json_validate__every_value_type__its_type(void **state)
{
	(void)state;
	assert_int_equal(v("{}"), JSON_OBJECT);
	assert_int_equal(v("[]"), JSON_ARRAY);
	assert_int_equal(v("\"s\""), JSON_STRING);
	assert_int_equal(v("12"), JSON_NUMBER);
	assert_int_equal(v("true"), JSON_BOOL);
	assert_int_equal(v("false"), JSON_BOOL);
	assert_int_equal(v("null"), JSON_NULL);
	assert_int_equal(v(" \t\r\n{ \"a\" : [ 1 , { } , null ] }\n "),
	    JSON_OBJECT);
}

static void
json_validate__empty_or_blank__rejected(void **state)
{
	static const char *const bad[] = { " ", "\n", "\t\r\n ", NULL };
	const char	*err = NULL;

	(void)state;
	assert_int_equal(json_validate("", 0, JSON_DEPTH_MAX, &err),
	    JSON_NONE);
	assert_non_null(err);
	reject_all(bad);
}

static void
json_validate__truncated__rejected(void **state)
{
	static const char *const bad[] = {
		"{", "{\"a\"", "{\"a\":", "{\"a\":1", "{\"a\":1,", "[", "[1",
		"[1,", "\"abc", "\"ab\\", "\"\\u12", "tru", "fals", "nul",
		"-", "1.", "1e", "1e+", "{\"a\":{\"b\":[1,2]}", NULL,
	};

	(void)state;
	reject_all(bad);
}

static void
json_validate__trailing_garbage__rejected(void **state)
{
	static const char *const bad[] = {
		"{}x", "{} {}", "{}}", "[]]", "1 2", "\"a\"\"b\"", "truex",
		"nullnull", "{},", "[1]x", "{\"a\":1}\"", NULL,
	};

	(void)state;
	reject_all(bad);
	assert_int_equal(vn("{}\0", 3), JSON_NONE);
}

static void
json_validate__syntax_errors__rejected(void **state)
{
	static const char *const bad[] = {
		"{a:1}", "{'a':1}", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "[,1]",
		"{,}", "[1 2]", "{\"a\":1 \"b\":2}", "{1:2}", "{\"a\"}",
		"\"a\\", "True", "NULL", "undefined", "NaN", "Infinity",
		"-Infinity", "'s'", "/* c */ {}", "{}//", "\f{}", "\v1",
		"[\"a\":1]", "{\"a\"::1}", NULL,
	};

	(void)state;
	reject_all(bad);
}

static void
json_validate__number_shapes__strict(void **state)
{
	static const char *const good[] = {
		"0", "-0", "1", "-1", "10", "123456789", "0.5", "-0.5",
		"1.25", "1e5", "1E5", "1e+5", "1e-5", "1.5e10", "-1.5E-10",
		"0e0", "0.0", "9007199254740993",
		"123456789012345678901234567890123456789012345678901234567890",
		"-123456789012345678901234567890123456789012345678901234567890",
		"1e999999999", "-1e-999999999",
		"0.000000000000000000000000000000000000000000000000000001",
		NULL,
	};
	static const char *const bad[] = {
		"01", "-01", "00", "+1", ".5", "-.5", "1.", "1.e5", "1e",
		"1e+", "1e-", "--1", "-", "0x10", "1_000", "1,5", "1.2.3",
		"1e5.5", "1ee5", "- 1", "∞", "0b1", NULL,
	};

	(void)state;
	accept_all(good, JSON_NUMBER);
	reject_all(bad);
}

static void
json_validate__huge_number_in_object__accepted(void **state)
{
	char	 buf[5000];
	size_t	 n;

	(void)state;
	n = (size_t)snprintf(buf, sizeof buf, "{\"n\":");
	memset(buf + n, '9', 4000);
	n += 4000;
	memcpy(buf + n, "}", 2);
	assert_int_equal(v(buf), JSON_OBJECT);
}

static void
json_validate__escapes__only_the_eight_and_u(void **state)
{
	static const char *const good[] = {
		"\"\\\"\"", "\"\\\\\"", "\"\\/\"", "\"\\b\"", "\"\\f\"",
		"\"\\n\"", "\"\\r\"", "\"\\t\"", "\"\\u0041\"", "\"\\u00e9\"",
		"\"\\u00E9\"", "\"\\uffff\"", "\"\\u0000\"", NULL,
	};
	static const char *const bad[] = {
		"\"\\a\"", "\"\\x41\"", "\"\\'\"", "\"\\0\"", "\"\\U0041\"",
		"\"\\u004\"", "\"\\u00g1\"", "\"\\u\"", "\"\\ \"", "\"\\\n\"",
		"\"\\v\"", NULL,
	};

	(void)state;
	accept_all(good, JSON_STRING);
	reject_all(bad);
}

static void
json_validate__surrogate_escapes__pairs_only(void **state)
{
	static const char *const good[] = {
		"\"\\ud83d\\ude00\"", "\"\\uD800\\uDC00\"",
		"\"\\udbff\\udfff\"", "\"a\\ud83d\\ude00b\"", NULL,
	};
	static const char *const bad[] = {
		"\"\\ud83d\"", "\"\\ude00\"", "\"\\ude00\\ud83d\"",
		"\"\\ud83d\\ud83d\"", "\"\\ud83dx\"", "\"\\ud83d\\n\"",
		"\"\\ud83d\\u0041\"", "\"\\udfff\"", "\"\\udc00\"",
		"\"\\ud800\\u", NULL,
	};

	(void)state;
	accept_all(good, JSON_STRING);
	reject_all(bad);
}

static void
json_validate__valid_utf8__accepted(void **state)
{
	static const char *const good[] = {
		"\"\xc2\x80\"",			/* U+0080 */
		"\"\xc3\xa9t\xc3\xa9\"",	/* été */
		"\"\xdf\xbf\"",			/* U+07FF */
		"\"\xe0\xa0\x80\"",		/* U+0800 */
		"\"\xe4\xb8\xad\xe6\x96\x87\"",	/* 中文 */
		"\"\xed\x9f\xbf\"",		/* U+D7FF */
		"\"\xee\x80\x80\"",		/* U+E000 */
		"\"\xef\xbf\xbf\"",		/* U+FFFF */
		"\"\xf0\x90\x80\x80\"",		/* U+10000 */
		"\"\xf0\x9f\x98\x80\"",		/* U+1F600 */
		"\"\xf4\x8f\xbf\xbf\"",		/* U+10FFFF */
		"\"\x7f\"",			/* DEL is not a control char */
		NULL,
	};

	(void)state;
	accept_all(good, JSON_STRING);
	assert_int_equal(v("{\"\xc3\xa9\":\"\xe2\x82\xac\"}"), JSON_OBJECT);
}

static void
json_validate__invalid_utf8__rejected(void **state)
{
	static const char *const bad[] = {
		"\"\x80\"",			/* lone continuation */
		"\"\xbf\"",
		"\"\xc3\"",			/* truncated 2-byte */
		"\"\xc3x\"",
		"\"\xe4\xb8\"",			/* truncated 3-byte */
		"\"\xf0\x9f\x98\"",		/* truncated 4-byte */
		"\"\xc0\x80\"",			/* overlong NUL */
		"\"\xc0\xaf\"",			/* overlong '/' */
		"\"\xc1\xbf\"",			/* overlong 2-byte */
		"\"\xe0\x80\x80\"",		/* overlong 3-byte */
		"\"\xe0\x9f\xbf\"",		/* overlong U+07FF */
		"\"\xf0\x80\x80\x80\"",		/* overlong 4-byte */
		"\"\xf0\x8f\xbf\xbf\"",		/* overlong U+FFFF */
		"\"\xed\xa0\x80\"",		/* U+D800 in UTF-8 */
		"\"\xed\xbf\xbf\"",		/* U+DFFF in UTF-8 */
		"\"\xed\xa0\xbd\xed\xb8\x80\"",	/* CESU-8 pair */
		"\"\xf4\x90\x80\x80\"",		/* U+110000 */
		"\"\xf5\x80\x80\x80\"",
		"\"\xf8\x88\x80\x80\x80\"",	/* 5-byte form */
		"\"\xfc\x84\x80\x80\x80\x80\"",	/* 6-byte form */
		"\"\xfe\"", "\"\xff\"",
		"\"\xe4\xb8\xad\x80\"",		/* extra continuation */
		NULL,
	};

	(void)state;
	reject_all(bad);
}

static void
json_validate__utf8_truncated_at_buffer_end__rejected(void **state)
{
	(void)state;
	/* The multi-byte lead is the last byte given: no read past it. */
	assert_int_equal(vn("\"\xe4\xb8\xad\"", 3), JSON_NONE);
	assert_int_equal(vn("\"\xf0", 2), JSON_NONE);
}

static void
json_validate__invalid_utf8_outside_strings__rejected(void **state)
{
	(void)state;
	assert_int_equal(v("{\"a\":1}\xc3\xa9"), JSON_NONE);
	assert_int_equal(v("\xef\xbb\xbf{}"), JSON_NONE);	/* BOM */
	assert_int_equal(v("[\xc2\xa0]"), JSON_NONE);	/* NBSP is not ws */
}

static void
json_validate__control_chars_in_string__rejected(void **state)
{
	char	 s[4] = { '"', 0, '"', 0 };
	int	 c;

	(void)state;
	for (c = 0; c < 0x20; c++) {
		s[1] = (char)c;
		if (vn(s, 3) != JSON_NONE)
			fail_msg("control character %#x accepted", c);
	}
	assert_int_equal(v("\"a\tb\""), JSON_NONE);
	assert_int_equal(v("\"a\nb\""), JSON_NONE);
	/* ... but as escapes they are fine. */
	assert_int_equal(v("\"a\\tb\\u001f\""), JSON_STRING);
}

/* n nested arrays around a 1. */
static char *
nested(int n, char open, char close)
{
	char	*s = malloc((size_t)n * 2 + 2);
	int	 i;

	assert_non_null(s);
	for (i = 0; i < n; i++)
		s[i] = open;
	s[n] = '1';
	for (i = 0; i < n; i++)
		s[n + 1 + i] = close;
	s[2 * n + 1] = '\0';
	return s;
}

static void
json_validate__depth_at_limit__accepted(void **state)
{
	char	*s = nested(JSON_DEPTH_MAX, '[', ']');

	(void)state;
	assert_int_equal(v(s), JSON_ARRAY);
	free(s);
}

static void
json_validate__depth_over_limit__rejected(void **state)
{
	const char	*err = NULL;
	char		*s = nested(JSON_DEPTH_MAX + 1, '[', ']');

	(void)state;
	assert_int_equal(json_validate(s, strlen(s), JSON_DEPTH_MAX, &err),
	    JSON_NONE);
	assert_non_null(strstr(err, "deep"));
	free(s);
}

static void
json_validate__mixed_depth_at_and_over_limit__by_containers(void **state)
{
	char	 buf[1024];
	size_t	 n = 0;
	int	 i;

	(void)state;
	/* {"a":[{"a":[ ... alternating objects and arrays. */
	for (i = 0; i < 4; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s",
		    i % 2 == 0 ? "{\"a\":" : "[");
	buf[n++] = '1';
	for (i = 3; i >= 0; i--)
		buf[n++] = i % 2 == 0 ? '}' : ']';
	buf[n] = '\0';
	assert_int_equal(json_validate(buf, n, 4, &(const char *){ NULL }),
	    JSON_OBJECT);
	assert_int_equal(json_validate(buf, n, 3, &(const char *){ NULL }),
	    JSON_NONE);
}

static void
json_validate__very_deep__rejected_without_crash(void **state)
{
	char	*s = nested(200000, '[', ']');

	(void)state;
	assert_int_equal(v(s), JSON_NONE);
	free(s);
	s = nested(200000, '{', '}');		/* not even valid: no keys */
	assert_int_equal(v(s), JSON_NONE);
	free(s);
}

static void
json_validate__nul_outside_string__rejected(void **state)
{
	(void)state;
	assert_int_equal(vn("{\"a\":\0}", 7), JSON_NONE);
	assert_int_equal(vn("\0", 1), JSON_NONE);
	assert_int_equal(vn("[1,\0 2]", 7), JSON_NONE);
}

static void
json_type_name__every_type__named(void **state)
{
	(void)state;
	assert_string_equal(json_type_name(JSON_OBJECT), "object");
	assert_string_equal(json_type_name(JSON_ARRAY), "array");
	assert_string_equal(json_type_name(JSON_STRING), "string");
	assert_string_equal(json_type_name(JSON_NUMBER), "number");
	assert_string_equal(json_type_name(JSON_BOOL), "boolean");
	assert_string_equal(json_type_name(JSON_NULL), "null");
}

/* Walkers. */

static void
expect_member(struct json_iter *it, const char *key, const char *val,
    enum json_type type)
{
	struct json_span	 k, vv;
	enum json_type		 t;

	assert_int_equal(json_next_member(it, &k, &vv, &t), 1);
	assert_int_equal(k.len, strlen(key));
	assert_memory_equal(k.p, key, k.len);
	if (vv.len != strlen(val) || memcmp(vv.p, val, vv.len) != 0)
		fail_msg("member %s: value '%.*s', want '%s'", key,
		    (int)vv.len, vv.p, val);
	assert_int_equal(t, type);
}

static void
json_next_member__every_value_type__raw_spans(void **state)
{
	const char	*s = "{\"o\":{\"x\":[1,{\"y\":\"}]\"}]},\"a\":[ ],"
			    "\"s\":\"q\\\"}\\\\\",\"n\":-1.5e3,\"t\":true,"
			    "\"f\":false,\"z\":null,\"e\":{}}";
	struct json_iter	 it;
	struct json_span	 k, vv;
	enum json_type		 t;

	(void)state;
	assert_int_equal(v(s), JSON_OBJECT);
	assert_int_equal(json_iter_object(&it, span(s)), 0);
	expect_member(&it, "o", "{\"x\":[1,{\"y\":\"}]\"}]}", JSON_OBJECT);
	expect_member(&it, "a", "[ ]", JSON_ARRAY);
	expect_member(&it, "s", "\"q\\\"}\\\\\"", JSON_STRING);
	expect_member(&it, "n", "-1.5e3", JSON_NUMBER);
	expect_member(&it, "t", "true", JSON_BOOL);
	expect_member(&it, "f", "false", JSON_BOOL);
	expect_member(&it, "z", "null", JSON_NULL);
	expect_member(&it, "e", "{}", JSON_OBJECT);
	assert_int_equal(json_next_member(&it, &k, &vv, &t), 0);
}

static void
json_next_member__white_space_everywhere__trimmed_spans(void **state)
{
	const char	*s = " \n{ \"a\" :\t1 ,\r\n \"b\" : [ 2 ] , \"c\" : "
			    "\"x\" }\n";
	struct json_iter	 it;
	struct json_span	 k, vv;
	enum json_type		 t;

	(void)state;
	assert_int_equal(v(s), JSON_OBJECT);
	assert_int_equal(json_iter_object(&it, span(s)), 0);
	expect_member(&it, "a", "1", JSON_NUMBER);
	expect_member(&it, "b", "[ 2 ]", JSON_ARRAY);
	expect_member(&it, "c", "\"x\"", JSON_STRING);
	assert_int_equal(json_next_member(&it, &k, &vv, &t), 0);
}

static void
json_next_member__empty_object__none(void **state)
{
	struct json_iter	 it;
	struct json_span	 k, vv;
	enum json_type		 t;

	(void)state;
	assert_int_equal(json_iter_object(&it, span(" { } ")), 0);
	assert_int_equal(json_next_member(&it, &k, &vv, &t), 0);
}

static void
json_next_member__nested_value__walkable(void **state)
{
	const char	*s = "{\"outer\":{\"inner\":{\"deep\":[true]}}}";
	struct json_iter	 it, it2, it3;
	struct json_span	 k, vv, v2, v3;
	enum json_type		 t;

	(void)state;
	json_iter_object(&it, span(s));
	assert_int_equal(json_next_member(&it, &k, &vv, &t), 1);
	assert_int_equal(json_iter_object(&it2, vv), 0);
	assert_int_equal(json_next_member(&it2, &k, &v2, &t), 1);
	assert_true(json_key_eq(k, "inner"));
	assert_int_equal(json_iter_object(&it3, v2), 0);
	assert_int_equal(json_next_member(&it3, &k, &v3, &t), 1);
	assert_true(json_key_eq(k, "deep"));
	assert_int_equal(t, JSON_ARRAY);
	assert_int_equal(json_iter_array(&it2, v3), 0);
	assert_int_equal(json_next_element(&it2, &v2, &t), 1);
	assert_int_equal(t, JSON_BOOL);
	assert_true(json_is_bool_true(v2));
	assert_int_equal(json_next_element(&it2, &v2, &t), 0);
}

static void
json_iter__wrong_container__refused(void **state)
{
	struct json_iter	 it;

	(void)state;
	assert_int_equal(json_iter_object(&it, span("[1]")), -1);
	assert_int_equal(json_iter_array(&it, span("{}")), -1);
	assert_int_equal(json_iter_array(&it, span("\"[\"")), -1);
}

static void
json_next_element__mixed_array__in_order(void **state)
{
	const char	*s = "[1, \"two\",[3,[4]] ,{\"five\":5},null,true,"
			    "false,-0.5e-1,\"]\"]";
	static const struct {
		const char	*raw;
		enum json_type	 type;
	} want[] = {
		{ "1", JSON_NUMBER }, { "\"two\"", JSON_STRING },
		{ "[3,[4]]", JSON_ARRAY }, { "{\"five\":5}", JSON_OBJECT },
		{ "null", JSON_NULL }, { "true", JSON_BOOL },
		{ "false", JSON_BOOL }, { "-0.5e-1", JSON_NUMBER },
		{ "\"]\"", JSON_STRING },
	};
	struct json_iter	 it;
	struct json_span	 vv;
	enum json_type		 t;
	size_t			 i;

	(void)state;
	assert_int_equal(v(s), JSON_ARRAY);
	assert_int_equal(json_iter_array(&it, span(s)), 0);
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(json_next_element(&it, &vv, &t), 1);
		assert_int_equal(vv.len, strlen(want[i].raw));
		assert_memory_equal(vv.p, want[i].raw, vv.len);
		assert_int_equal(t, want[i].type);
	}
	assert_int_equal(json_next_element(&it, &vv, &t), 0);
}

static void
json_next_element__empty_array__none(void **state)
{
	struct json_iter	 it;
	struct json_span	 vv;
	enum json_type		 t;

	(void)state;
	assert_int_equal(json_iter_array(&it, span("[\n]")), 0);
	assert_int_equal(json_next_element(&it, &vv, &t), 0);
}

/* A raw key as it appears between quotes. */
static void
json_key_eq__escaped_keys__compared_decoded(void **state)
{
	(void)state;
	assert_true(json_key_eq(span("command"), "command"));
	assert_false(json_key_eq(span("command"), "comman"));
	assert_false(json_key_eq(span("comman"), "command"));
	assert_false(json_key_eq(span("Command"), "command"));
	assert_true(json_key_eq(span("comm\\u0061nd"), "command"));
	assert_true(json_key_eq(span("\\u0063\\u006F\\u006d\\u006d\\u0061"
	    "\\u006e\\u0064"), "command"));
	assert_true(json_key_eq(span("a\\\"b"), "a\"b"));
	assert_true(json_key_eq(span("a\\/b"), "a/b"));
	assert_true(json_key_eq(span("caf\\u00e9"), "caf\xc3\xa9"));
	assert_false(json_key_eq(span("comm\\u0061nd"), "comm\\u0061nd"));
	assert_false(json_key_eq(span("x\\u0000"), "x"));
	assert_true(json_key_eq(span(""), ""));
}

static void
json_key_same__spellings_of_one_key__same(void **state)
{
	(void)state;
	assert_true(json_key_same(span("command"), span("command")));
	assert_true(json_key_same(span("command"), span("comm\\u0061nd")));
	assert_true(json_key_same(span("comm\\u0061nd"), span("command")));
	assert_true(json_key_same(span("\\u0063ommand"),
	    span("comm\\u0061nd")));
	assert_true(json_key_same(span("caf\xc3\xa9"), span("caf\\u00e9")));
	assert_false(json_key_same(span("command"), span("commands")));
	assert_false(json_key_same(span("a\\u0062"), span("ac")));
}

/* Decode raw (between quotes) and compare with want. */
static void
expect_decode(const char *raw, const char *want, size_t wantlen)
{
	char	 out[256];
	size_t	 n = 12345;

	assert_int_equal(json_str_decode(span(raw), out, sizeof out, &n), 0);
	assert_int_equal(n, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(out[n], '\0');
}

static void
json_str_decode__simple_escapes__decoded(void **state)
{
	(void)state;
	expect_decode("plain", "plain", 5);
	expect_decode("", "", 0);
	expect_decode("\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t", 8);
	expect_decode("a\\nb", "a\nb", 3);
}

static void
json_str_decode__unicode_escapes__utf8(void **state)
{
	(void)state;
	expect_decode("\\u0041", "A", 1);
	expect_decode("\\u007f", "\x7f", 1);
	expect_decode("\\u0080", "\xc2\x80", 2);
	expect_decode("\\u00e9t\\u00E9", "\xc3\xa9t\xc3\xa9", 5);
	expect_decode("\\u07ff", "\xdf\xbf", 2);
	expect_decode("\\u0800", "\xe0\xa0\x80", 3);
	expect_decode("\\u20ac", "\xe2\x82\xac", 3);
	expect_decode("\\uffff", "\xef\xbf\xbf", 3);
	expect_decode("\\u001f", "\x1f", 1);
}

static void
json_str_decode__surrogate_pairs__one_code_point(void **state)
{
	(void)state;
	expect_decode("\\ud83d\\ude00", "\xf0\x9f\x98\x80", 4);
	expect_decode("\\uD800\\uDC00", "\xf0\x90\x80\x80", 4);
	expect_decode("\\udbff\\udfff", "\xf4\x8f\xbf\xbf", 4);
	expect_decode("x\\ud83d\\ude00y", "x\xf0\x9f\x98\x80y", 6);
}

static void
json_str_decode__raw_utf8__unchanged(void **state)
{
	(void)state;
	expect_decode("\xe4\xb8\xad\xf0\x9f\x98\x80", "\xe4\xb8\xad"
	    "\xf0\x9f\x98\x80", 7);
}

static void
json_str_decode__escaped_nul__rejected(void **state)
{
	char	 out[64];

	(void)state;
	assert_int_equal(json_str_decode(span("\\u0000"), out, sizeof out,
	    NULL), -1);
	assert_int_equal(json_str_decode(span("ab\\u0000cd"), out,
	    sizeof out, NULL), -1);
}

static void
json_str_decode__raw_nul__rejected(void **state)
{
	struct json_span	 sp = { "a\0b", 3 };
	char			 out[64];

	(void)state;
	assert_int_equal(json_str_decode(sp, out, sizeof out, NULL), -1);
}

static void
json_str_decode__buffer_too_small__rejected(void **state)
{
	char	 out[8];

	(void)state;
	assert_int_equal(json_str_decode(span("0123456789"), out, sizeof out,
	    NULL), -1);
	assert_int_equal(json_str_decode(span("x"), out, 0, NULL), -1);
	assert_int_equal(json_str_decode(span("\\ud83d\\ude00\\ud83d\\ude00"),
	    out, sizeof out, NULL), -1);
}

static void
json_str_decode__exact_fit__decoded(void **state)
{
	char	 out[4], big[257], raw[257];
	size_t	 n = 0;

	(void)state;
	/* n bytes and the NUL fit a buffer of n + 1. */
	assert_int_equal(json_str_decode(span("abc"), out, sizeof out, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(out, "abc");
	assert_int_equal(json_str_decode(span("\xe2\x82\xac"), out,
	    sizeof out, &n), 0);
	assert_int_equal(json_str_decode(span("\\u20ac"), out, sizeof out,
	    &n), 0);
	assert_string_equal(out, "\xe2\x82\xac");
	/* The registry and user merges decode names into 257 bytes. */
	memset(raw, 'u', 256);
	raw[256] = '\0';
	assert_int_equal(json_str_decode(span(raw), big, sizeof big, &n), 0);
	assert_int_equal(n, 256);
}

static void
json_num_int__integers__parsed(void **state)
{
	long long	 n;

	(void)state;
	assert_int_equal(json_num_int(span("0"), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(json_num_int(span("-42"), &n), 0);
	assert_int_equal(n, -42);
	assert_int_equal(json_num_int(span("9223372036854775807"), &n), 0);
	assert_true(n == 9223372036854775807LL);
	assert_int_equal(json_num_int(span("-9223372036854775808"), &n), 0);
	assert_true(n == (-9223372036854775807LL - 1));
}

static void
json_num_int__non_integers_and_overflow__refused(void **state)
{
	long long	 n;

	(void)state;
	assert_int_equal(json_num_int(span("1.5"), &n), -1);
	assert_int_equal(json_num_int(span("1e3"), &n), -1);
	assert_int_equal(json_num_int(span("1E3"), &n), -1);
	assert_int_equal(json_num_int(span("9223372036854775808"), &n), -1);
	assert_int_equal(json_num_int(span("-9223372036854775809"), &n), -1);
	assert_int_equal(json_num_int(span("123456789012345678901234567890"
	    "1234567890"), &n), -1);
	assert_int_equal(json_num_int(span(""), &n), -1);
}

/* jbuf_str: whatever goes in comes back out through validate + decode. */
static void
roundtrip(const char *s, size_t len)
{
	struct jbuf		 b;
	struct json_span	 inner;
	const char		*err = NULL;
	char			 out[1024];
	size_t			 n = 0;

	jbuf_init(&b);
	jbuf_str(&b, s, len);
	if (json_validate(b.p, b.len, JSON_DEPTH_MAX, &err) != JSON_STRING)
		fail_msg("jbuf_str output rejected (%s): %s", err, b.p);
	assert_int_equal(b.p[b.len], '\0');
	inner.p = b.p + 1;
	inner.len = b.len - 2;
	assert_int_equal(json_str_decode(inner, out, sizeof out, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(out, s, len);
	jbuf_free(&b);
}

static void
rt(const char *s)
{
	roundtrip(s, strlen(s));
}

static void
jbuf_str__special_characters__roundtrip(void **state)
{
	(void)state;
	rt("");
	rt("plain");
	rt("quote\" backslash\\ slash/");
	rt("\\u0041 is not an escape here");
	rt("tab\tnl\ncr\rbs\bff\f");
	rt("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80");
	rt("\x7f");
}

static void
jbuf_str__every_control_char__roundtrip(void **state)
{
	char	 s[2];
	int	 c;

	(void)state;
	for (c = 1; c < 0x20; c++) {
		s[0] = (char)c;
		s[1] = 'x';
		roundtrip(s, 2);
	}
}

static void
jbuf_str__every_ascii_byte__roundtrip(void **state)
{
	char	 s[127];
	int	 c;

	(void)state;
	for (c = 1; c < 128; c++)
		s[c - 1] = (char)c;
	roundtrip(s, sizeof s);
}

static void
jbuf_str__embedded_nul__escaped_not_truncated(void **state)
{
	struct jbuf	 b;
	const char	*err = NULL;

	(void)state;
	jbuf_init(&b);
	jbuf_str(&b, "a\0b", 3);
	assert_string_equal(b.p, "\"a\\u0000b\"");
	assert_int_equal(json_validate(b.p, b.len, JSON_DEPTH_MAX, &err),
	    JSON_STRING);
	jbuf_free(&b);
}

static void
jbuf__appenders__build_valid_json(void **state)
{
	struct jbuf	 b;
	const char	*err = NULL;
	char		*p;
	size_t		 n;
	int		 i;

	(void)state;
	jbuf_init(&b);
	jbuf_addc(&b, '[');
	for (i = 0; i < 1000; i++) {
		if (i > 0)
			jbuf_addc(&b, ',');
		jbuf_int(&b, i % 2 ? -i : i);
		jbuf_adds(&b, ",");
		jbuf_cstr(&b, "s\"");
	}
	jbuf_addc(&b, ',');
	jbuf_int(&b, -9223372036854775807LL - 1);
	jbuf_addc(&b, ']');
	assert_int_equal(json_validate(b.p, b.len, JSON_DEPTH_MAX, &err),
	    JSON_ARRAY);
	assert_non_null(strstr(b.p, "-9223372036854775808]"));
	p = jbuf_detach(&b, &n);
	assert_non_null(p);
	assert_int_equal(strlen(p), n);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	free(p);
	jbuf_reset(&b);
	p = jbuf_detach(&b, &n);	/* an empty buffer detaches as "" */
	assert_string_equal(p, "");
	assert_int_equal(n, 0);
	free(p);
}

/* A span over a C string (validated as an object first). */
static struct json_span
obj_span(const char *s)
{
	struct json_span	 sp = { s, strlen(s) };
	const char		*err;

	assert_int_equal(json_validate(s, sp.len, JSON_DEPTH_MAX, &err),
	    JSON_OBJECT);
	return sp;
}

static void
json_get__present_absent_wrong_type__0_1_minus1(void **state)
{
	struct json_span	 o = obj_span("{\"a\":[1,2],\"b\":{\"c\":3},"
				    "\"s\":\"x\\u0041y\",\"n\":-12}");
	struct json_span	 v;
	enum json_type		 t;

	(void)state;
	assert_int_equal(json_get(o, "a", JSON_ARRAY, &v, &t), 0);
	assert_int_equal(t, JSON_ARRAY);
	assert_int_equal(v.len, 5);
	assert_memory_equal(v.p, "[1,2]", 5);
	assert_int_equal(json_get(o, "b", JSON_OBJECT | JSON_NULL, &v, NULL),
	    0);
	assert_int_equal(v.len, 7);
	assert_int_equal(json_get(o, "zz", JSON_OBJECT, &v, NULL), 1);
	assert_int_equal(json_get(o, "a", JSON_OBJECT, &v, NULL), -1);
	/* A key written with an escape is the same key. */
	assert_int_equal(json_get(obj_span("{\"\\u0061\":true}"), "a",
	    JSON_BOOL, &v, &t), 0);
	assert_true(json_is_bool_true(v));
}

static void
json_get_str_int__decode_cap_and_type(void **state)
{
	struct json_span	 o = obj_span("{\"s\":\"x\\u0041y\",\"n\":-12,"
				    "\"f\":1.5}");
	char			 buf[8];
	long long		 n = 7;

	(void)state;
	assert_int_equal(json_get_str(o, "s", buf, sizeof buf), 0);
	assert_string_equal(buf, "xAy");
	assert_int_equal(json_get_str(o, "s", buf, 3), -1);	/* too long */
	assert_int_equal(json_get_str(o, "n", buf, sizeof buf), -1);
	assert_int_equal(json_get_str(o, "none", buf, sizeof buf), 1);
	assert_int_equal(json_get_int(o, "n", &n), 0);
	assert_int_equal(n, -12);
	assert_int_equal(json_get_int(o, "f", &n), -1);
	assert_int_equal(json_get_int(o, "s", &n), -1);
	assert_int_equal(json_get_int(o, "none", &n), 1);
	assert_int_equal(n, -12);
}

static void
json_next_map_member__typed_keys_decoded(void **state)
{
	struct json_span	 o = obj_span("{\"a\\u0062\":1,\"c\":2,"
				    "\"long-key\":3,\"d\":\"x\"}"), v;
	struct json_iter	 it;
	char			 key[8];
	size_t			 len = 0;

	(void)state;
	assert_int_equal(json_iter_object(&it, o), 0);
	assert_int_equal(json_next_map_member(&it, JSON_NUMBER, key,
	    sizeof key, &len, &v), 1);
	assert_string_equal(key, "ab");
	assert_int_equal(len, 2);
	assert_memory_equal(v.p, "1", 1);
	assert_int_equal(json_next_map_member(&it, JSON_NUMBER, key,
	    sizeof key, NULL, &v), 1);
	assert_string_equal(key, "c");
	/* A key that does not fit, a value of another type: -1. */
	assert_int_equal(json_next_map_member(&it, JSON_NUMBER, key, 4,
	    NULL, &v), -1);
	assert_int_equal(json_next_map_member(&it, JSON_NUMBER, key,
	    sizeof key, NULL, &v), -1);
	assert_int_equal(json_next_map_member(&it, JSON_NUMBER, key,
	    sizeof key, NULL, &v), 0);
}

static void
json_str_inner__strips_the_quotes_only(void **state)
{
	struct json_span	 v = { "\"a\\\"b\"", 6 }, in;

	(void)state;
	in = json_str_inner(v);
	assert_int_equal(in.len, 4);
	assert_memory_equal(in.p, "a\\\"b", 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_validate__every_value_type__its_type),
		cmocka_unit_test(json_validate__empty_or_blank__rejected),
		cmocka_unit_test(json_validate__truncated__rejected),
		cmocka_unit_test(json_validate__trailing_garbage__rejected),
		cmocka_unit_test(json_validate__syntax_errors__rejected),
		cmocka_unit_test(json_validate__number_shapes__strict),
		cmocka_unit_test(json_validate__huge_number_in_object__accepted),
		cmocka_unit_test(json_validate__escapes__only_the_eight_and_u),
		cmocka_unit_test(json_validate__surrogate_escapes__pairs_only),
		cmocka_unit_test(json_validate__valid_utf8__accepted),
		cmocka_unit_test(json_validate__invalid_utf8__rejected),
		cmocka_unit_test(
		    json_validate__utf8_truncated_at_buffer_end__rejected),
		cmocka_unit_test(
		    json_validate__invalid_utf8_outside_strings__rejected),
		cmocka_unit_test(
		    json_validate__control_chars_in_string__rejected),
		cmocka_unit_test(json_validate__depth_at_limit__accepted),
		cmocka_unit_test(json_validate__depth_over_limit__rejected),
		cmocka_unit_test(
		    json_validate__mixed_depth_at_and_over_limit__by_containers),
		cmocka_unit_test(
		    json_validate__very_deep__rejected_without_crash),
		cmocka_unit_test(json_validate__nul_outside_string__rejected),
		cmocka_unit_test(json_type_name__every_type__named),
		cmocka_unit_test(json_next_member__every_value_type__raw_spans),
		cmocka_unit_test(
		    json_next_member__white_space_everywhere__trimmed_spans),
		cmocka_unit_test(json_next_member__empty_object__none),
		cmocka_unit_test(json_next_member__nested_value__walkable),
		cmocka_unit_test(json_iter__wrong_container__refused),
		cmocka_unit_test(json_next_element__mixed_array__in_order),
		cmocka_unit_test(json_next_element__empty_array__none),
		cmocka_unit_test(json_key_eq__escaped_keys__compared_decoded),
		cmocka_unit_test(
		    json_key_same__spellings_of_one_key__same),
		cmocka_unit_test(json_str_decode__simple_escapes__decoded),
		cmocka_unit_test(json_str_decode__unicode_escapes__utf8),
		cmocka_unit_test(
		    json_str_decode__surrogate_pairs__one_code_point),
		cmocka_unit_test(json_str_decode__raw_utf8__unchanged),
		cmocka_unit_test(json_str_decode__escaped_nul__rejected),
		cmocka_unit_test(json_str_decode__raw_nul__rejected),
		cmocka_unit_test(json_str_decode__buffer_too_small__rejected),
		cmocka_unit_test(json_str_decode__exact_fit__decoded),
		cmocka_unit_test(json_num_int__integers__parsed),
		cmocka_unit_test(
		    json_num_int__non_integers_and_overflow__refused),
		cmocka_unit_test(jbuf_str__special_characters__roundtrip),
		cmocka_unit_test(jbuf_str__every_control_char__roundtrip),
		cmocka_unit_test(jbuf_str__every_ascii_byte__roundtrip),
		cmocka_unit_test(
		    jbuf_str__embedded_nul__escaped_not_truncated),
		cmocka_unit_test(jbuf__appenders__build_valid_json),
		cmocka_unit_test(
		    json_get__present_absent_wrong_type__0_1_minus1),
		cmocka_unit_test(json_get_str_int__decode_cap_and_type),
		cmocka_unit_test(json_next_map_member__typed_keys_decoded),
		cmocka_unit_test(json_str_inner__strips_the_quotes_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
