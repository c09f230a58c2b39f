/*
 * msg.c: parsing a line against the command table.  The table-driven
 * tests walk msg_defs[] itself, so a command or field added to the
 * table is covered without touching this file.
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
#include "msg.h"
#include "msgbuild.h"

static const unsigned all_types[] = {
	JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY,
	JSON_OBJECT,
};
#define NTYPES	(sizeof all_types / sizeof all_types[0])

/* A small valid value of one JSON type. */
static const char *
sample(unsigned type)
{
	switch (type) {
	case JSON_NULL:
		return "null";
	case JSON_BOOL:
		return "true";
	case JSON_NUMBER:
		return "1";
	case JSON_STRING:
		return "\"x\"";
	case JSON_ARRAY:
		return "[]";
	case JSON_OBJECT:
		return "{}";
	}
	fail_msg("no sample for type %#x", type);
	return NULL;
}

/* The first type a field allows. */
static unsigned
first_type(unsigned types)
{
	size_t	 i;

	for (i = 0; i < NTYPES; i++)
		if (types & all_types[i])
			return all_types[i];
	fail_msg("field allows no type");
	return 0;
}

static int
nfields(const struct msg_def *d)
{
	int	 i;

	for (i = 0; i < MSG_FIELDS_MAX && d->fields[i].types != 0; i++)
		;
	return i;
}

/*
 * Build a message for cmd: every required field with a value of its
 * first type (optional ones too if `optional`), except field index
 * `skip`; field index `override` gets value `oval` instead.
 */
static void
build(struct jbuf *b, enum msg_cmd cmd, int optional, int skip, int override,
    const char *oval)
{
	const struct msg_def	*d = &msg_defs[cmd];
	int			 i;

	jbuf_reset(b);
	msgb_begin(b, cmd);
	for (i = 0; i < nfields(d); i++) {
		const struct msg_field_def *fd = &d->fields[i];

		if (i == skip)
			continue;
		if (i != override && !(fd->flags & MSG_REQ) && !optional)
			continue;
		msgb_raw(b, fd->field, i == override ? oval :
		    sample(first_type(fd->types)),
		    strlen(i == override ? oval : sample(first_type(fd->types))));
	}
	jbuf_addc(b, '}');
}

static int
parse(const char *s, struct msg *m, char *err, size_t errlen)
{
	err[0] = '\0';
	return msg_parse(s, strlen(s), m, err, errlen);
}

/* s must fail to parse with an error containing `why`. */
static void
expect_error(const char *s, const char *why)
{
	struct msg	 m;
	char		 err[512];

	if (parse(s, &m, err, sizeof err) == 0)
		fail_msg("accepted: %s", s);
	if (strstr(err, why) == NULL)
		fail_msg("error \"%s\" lacks \"%s\" for: %s", err, why, s);
}

static void
expect_ok(const char *s, enum msg_cmd cmd)
{
	struct msg	 m;
	char		 err[512];

	if (parse(s, &m, err, sizeof err) != 0)
		fail_msg("rejected (%s): %s", err, s);
	assert_int_equal(m.cmd, cmd);
}

static void
msg_parse__not_json__invalid_json(void **state)
{
	(void)state;
	expect_error("hello", "invalid JSON");
	expect_error("{\"command\":\"LOGOUT\"", "invalid JSON");
	expect_error("{\"command\":\"LOGOUT\"}}", "invalid JSON");
	expect_error("{command:\"LOGOUT\"}", "invalid JSON");
	expect_error("{\"command\":\"LOGOUT\",}", "invalid JSON");
	expect_error("{\"command\":\"LOG\xc0\x80OUT\"}", "invalid JSON");
}

static void
msg_parse__non_object_json__not_an_object(void **state)
{
	(void)state;
	expect_error("[]", "not an object");
	expect_error("[{\"command\":\"LOGOUT\"}]", "array, not an object");
	expect_error("\"LOGOUT\"", "string, not an object");
	expect_error("42", "number, not an object");
	expect_error("null", "null, not an object");
	expect_error("true", "boolean, not an object");
}

static void
msg_parse__no_command__error(void **state)
{
	(void)state;
	expect_error("{}", "no command");
	expect_error("{\"username\":\"a\",\"secret\":\"b\"}", "no command");
	expect_error("{\"Command\":\"LOGOUT\"}", "no command");
	expect_error("{\"activity\":{\"command\":\"LOGOUT\"}}", "no command");
}

static void
msg_parse__non_string_command__error(void **state)
{
	static const char *const bad[] = {
		"{\"command\":null}", "{\"command\":1}",
		"{\"command\":true}", "{\"command\":[\"LOGOUT\"]}",
		"{\"command\":{\"LOGOUT\":1}}", NULL,
	};
	const char *const *s;

	(void)state;
	for (s = bad; *s != NULL; s++)
		expect_error(*s, "'command' must be a string");
}

static void
msg_parse__unknown_command__error(void **state)
{
	(void)state;
	expect_error("{\"command\":\"NOPE\"}", "unknown command");
	expect_error("{\"command\":\"\"}", "unknown command");
	expect_error("{\"command\":\"login\"}", "unknown command");
	expect_error("{\"command\":\"LOGIN \"}", "unknown command");
	expect_error("{\"command\":\"LOGINX\",\"username\":\"a\"}",
	    "unknown command");
	expect_error("{\"command\":\"LOGI\"}", "unknown command");
}

static void
msg_parse__duplicated_keys__error(void **state)
{
	(void)state;
	expect_error("{\"command\":\"LOGIN\",\"username\":\"a\","
	    "\"username\":\"b\"}", "duplicated");
	expect_error("{\"command\":\"LOGOUT\",\"command\":\"LOGOUT\"}",
	    "duplicated");
	expect_error("{\"command\":\"LOGOUT\",\"x\":1,\"x\":2}", "duplicated");
	expect_error("{\"command\":\"LOGIN\",\"username\":\"a\","
	    "\"secret\":null,\"secret\":\"s\"}", "duplicated");
}

static void
msg_parse__duplicated_via_escapes__error(void **state)
{
	(void)state;
	expect_error("{\"command\":\"LOGOUT\",\"comm\\u0061nd\":\"LOGIN\"}",
	    "duplicated");
	expect_error("{\"comm\\u0061nd\":\"LOGIN\",\"command\":\"LOGOUT\"}",
	    "duplicated");
	expect_error("{\"command\":\"LOGIN\",\"username\":\"a\","
	    "\"\\u0075sername\":\"b\"}", "duplicated");
	expect_error("{\"command\":\"LOGIN\",\"\\u0075sername\":\"a\","
	    "\"user\\u006eame\":\"b\"}", "duplicated");
}

static void
msg_parse__escaped_command_key__found(void **state)
{
	struct msg	 m;
	char		 err[256];

	(void)state;
	assert_int_equal(parse("{\"comm\\u0061nd\":\"LOGIN\","
	    "\"\\u0075sername\":\"b\\u00e9\"}", &m, err, sizeof err), 0);
	assert_int_equal(m.cmd, CMD_LOGIN);
	assert_string_equal(m.str[F_USERNAME], "b\xc3\xa9");
}

/* Every required field of every command, missing: named in the error. */
static void
msg_parse__each_required_field_missing__error_names_it(void **state)
{
	struct jbuf	 b;
	struct msg	 m;
	char		 err[512], want[256];
	int		 cmd, i, checked = 0;

	(void)state;
	jbuf_init(&b);
	for (cmd = 0; cmd < CMD__COUNT; cmd++) {
		const struct msg_def *d = &msg_defs[cmd];

		for (i = 0; i < nfields(d); i++) {
			if (!(d->fields[i].flags & MSG_REQ))
				continue;
			build(&b, (enum msg_cmd)cmd, 1, i, -1, NULL);
			if (msg_parse(b.p, b.len, &m, err, sizeof err) == 0)
				fail_msg("accepted without '%s': %s",
				    msg_field_name(d->fields[i].field), b.p);
			snprintf(want, sizeof want, "%s: missing field '%s'",
			    d->name, msg_field_name(d->fields[i].field));
			if (strcmp(err, want) != 0)
				fail_msg("error \"%s\", want \"%s\"", err,
				    want);
			checked++;
		}
	}
	jbuf_free(&b);
	assert_true(checked >= 40);
}

/* Every field of every command, with each type it does not allow. */
static void
msg_parse__each_field_wrong_type__error_names_it(void **state)
{
	struct jbuf	 b;
	struct msg	 m;
	char		 err[512], want[256];
	int		 cmd, i, checked = 0;
	size_t		 t;

	(void)state;
	jbuf_init(&b);
	for (cmd = 0; cmd < CMD__COUNT; cmd++) {
		const struct msg_def *d = &msg_defs[cmd];

		for (i = 0; i < nfields(d); i++) {
			const struct msg_field_def *fd = &d->fields[i];

			for (t = 0; t < NTYPES; t++) {
				if (fd->types & all_types[t])
					continue;
				build(&b, (enum msg_cmd)cmd, 0, -1, i,
				    sample(all_types[t]));
				if (msg_parse(b.p, b.len, &m, err,
				    sizeof err) == 0)
					fail_msg("accepted: %s", b.p);
				snprintf(want, sizeof want, "%s: field '%s' "
				    "must be ", d->name,
				    msg_field_name(fd->field));
				if (strncmp(err, want, strlen(want)) != 0 ||
				    strstr(err, json_type_name(all_types[t]))
				    == NULL)
					fail_msg("error \"%s\" for %s", err,
					    b.p);
				checked++;
			}
		}
	}
	jbuf_free(&b);
	assert_true(checked >= 200);
}

/* Every allowed type of every field is accepted. */
static void
msg_parse__each_field_each_allowed_type__accepted(void **state)
{
	struct jbuf	 b;
	struct msg	 m;
	char		 err[512];
	int		 cmd, i;
	size_t		 t;

	(void)state;
	jbuf_init(&b);
	for (cmd = 0; cmd < CMD__COUNT; cmd++) {
		const struct msg_def *d = &msg_defs[cmd];

		for (i = 0; i < nfields(d); i++) {
			const struct msg_field_def *fd = &d->fields[i];

			for (t = 0; t < NTYPES; t++) {
				if (!(fd->types & all_types[t]))
					continue;
				build(&b, (enum msg_cmd)cmd, 0, -1, i,
				    sample(all_types[t]));
				if (msg_parse(b.p, b.len, &m, err,
				    sizeof err) != 0)
					fail_msg("rejected (%s): %s", err,
					    b.p);
				assert_int_equal(m.type[fd->field],
				    all_types[t]);
			}
		}
	}
	jbuf_free(&b);
}

/* A valid message for every command, minimal and with every field. */
static void
msg_parse__valid_message_each_command__parsed(void **state)
{
	struct jbuf	 b;
	struct msg	 m;
	char		 err[512];
	int		 cmd, i, optional;

	(void)state;
	jbuf_init(&b);
	for (cmd = 0; cmd < CMD__COUNT; cmd++) {
		const struct msg_def *d = &msg_defs[cmd];

		assert_non_null(d->name);
		for (optional = 0; optional <= 1; optional++) {
			build(&b, (enum msg_cmd)cmd, optional, -1, -1, NULL);
			if (msg_parse(b.p, b.len, &m, err, sizeof err) != 0)
				fail_msg("rejected (%s): %s", err, b.p);
			assert_int_equal(m.cmd, cmd);
			assert_ptr_equal(m.line, b.p);
			for (i = 0; i < nfields(d); i++) {
				const struct msg_field_def *fd = &d->fields[i];
				unsigned want = (fd->flags & MSG_REQ) ||
				    optional ? first_type(fd->types) :
				    JSON_NONE;

				assert_int_equal(m.type[fd->field], want);
				if (want == JSON_STRING)
					assert_string_equal(m.str[fd->field],
					    "x");
			}
		}
	}
	jbuf_free(&b);
}

static void
msg_cmd_lookup__every_name__round_trips(void **state)
{
	enum msg_cmd	 c;
	int		 cmd;

	(void)state;
	for (cmd = 0; cmd < CMD__COUNT; cmd++) {
		const char *name = msg_cmd_name((enum msg_cmd)cmd);

		assert_int_equal(msg_cmd_lookup(name, strlen(name), &c), 0);
		assert_int_equal(c, cmd);
	}
	assert_int_equal(msg_cmd_lookup("LOGIN", 4, &c), -1);
	assert_string_equal(msg_cmd_name(CMD__COUNT), "?");
	assert_string_equal(msg_field_name(F__COUNT), "?");
}

static void
msg_parse__fields_not_in_the_table__ignored(void **state)
{
	struct msg	 m;
	char		 err[256];

	(void)state;
	/* "port" is a known field name but not LOGIN's: any type goes. */
	assert_int_equal(parse("{\"command\":\"LOGIN\",\"username\":\"a\","
	    "\"port\":\"x\",\"whatever\":[1,{\"a\":null}],\"hostname\":1}",
	    &m, err, sizeof err), 0);
	assert_int_equal(m.type[F_PORT], JSON_NONE);
	assert_int_equal(m.type[F_HOSTNAME], JSON_NONE);
}

static void
msg_parse__strings_decoded__escapes_resolved(void **state)
{
	struct msg	 m;
	char		 err[256];

	(void)state;
	assert_int_equal(parse("{\"command\":\"LOGIN\",\"username\":"
	    "\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\",\"secret\":\"s\\/t\"}",
	    &m, err, sizeof err), 0);
	assert_string_equal(m.str[F_USERNAME],
	    "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80");
	assert_string_equal(m.str[F_SECRET], "s/t");
}

static void
msg_parse__null_secret__present_as_null(void **state)
{
	struct msg	 m;
	char		 err[256];

	(void)state;
	assert_int_equal(parse("{\"command\":\"LOGIN\",\"username\":"
	    "\"anonymous\",\"secret\":null}", &m, err, sizeof err), 0);
	assert_int_equal(m.type[F_SECRET], JSON_NULL);
	assert_false(msg_has(&m, F_SECRET));
	assert_true(msg_has(&m, F_USERNAME));
}

static void
msg_parse__absent_optional_fields__null_not_stale(void **state)
{
	struct msg	*m = malloc(sizeof *m);
	char		 err[256];
	int		 f;

	(void)state;
	assert_non_null(m);
	/* Whatever the caller's struct held before must not show through
	 * (handlers test m->str[F_X] != NULL for optional fields). */
	memset(m, 0xa5, sizeof *m);
	assert_int_equal(parse("{\"command\":\"LOGIN\",\"username\":"
	    "\"bob\"}", m, err, sizeof err), 0);
	for (f = 0; f < F__COUNT; f++) {
		if (f == F_USERNAME || f == F_COMMAND)
			continue;
		assert_int_equal(m->type[f], JSON_NONE);
		if (m->str[f] != NULL)
			fail_msg("str[%s] not NULL for an absent field",
			    msg_field_name((enum msg_field)f));
	}
	/* A parse of a line with the field, then one without. */
	assert_int_equal(parse("{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"right\"}", m, err, sizeof err), 0);
	assert_string_equal(m->str[F_SECRET], "right");
	assert_int_equal(parse("{\"command\":\"LOGIN\",\"username\":\"bob\"}",
	    m, err, sizeof err), 0);
	assert_null(m->str[F_SECRET]);
	free(m);
}

static void
msg_parse__nul_in_string_field__error(void **state)
{
	(void)state;
	expect_error("{\"command\":\"LOGIN\",\"username\":\"a\\u0000b\"}",
	    "NUL");
}

static void
msg_parse__name_length_cap__256_ok_257_refused(void **state)
{
	char	 buf[1024], name[300];

	(void)state;
	memset(name, 'n', 256);
	name[256] = '\0';
	snprintf(buf, sizeof buf, "{\"command\":\"REGISTER\",\"username\":"
	    "\"%s\",\"secret\":\"s\"}", name);
	expect_ok(buf, CMD_REGISTER);
	name[256] = 'n';
	name[257] = '\0';
	snprintf(buf, sizeof buf, "{\"command\":\"REGISTER\",\"username\":"
	    "\"%s\",\"secret\":\"s\"}", name);
	expect_error(buf, "too long");
}

static void
msg_parse__too_many_members__error(void **state)
{
	struct jbuf	 b;
	struct msg	 m;
	char		 err[256], key[16];
	int		 i;

	(void)state;
	jbuf_init(&b);
	jbuf_adds(&b, "{\"command\":\"LOGOUT\"");
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof key, ",\"k%d\":1", i);
		jbuf_adds(&b, key);
	}
	jbuf_addc(&b, '}');
	assert_int_equal(msg_parse(b.p, b.len, &m, err, sizeof err), -1);
	assert_non_null(strstr(err, "too many fields"));
	jbuf_free(&b);
}

static void
msg_parse__base_protocol_lines__parsed(void **state)
{
	(void)state;
	/* As deployed clients send them. */
	expect_ok("{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"secret\":null}", CMD_LOGIN);
	expect_ok("{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"secret\":null,\"activity\":{\"x\":[null,"
	    "12345678901234567890,\"\xe4\xb8\xad\"]}}", CMD_ACTIVITY_MESSAGE);
	expect_ok("{\"command\":\"LOGOUT\"}", CMD_LOGOUT);
	expect_ok("{\"command\":\"REDIRECT\",\"hostname\":\"h\",\"port\":8001}",
	    CMD_REDIRECT);
	expect_ok("  {\"secret\":\"abc\",\"command\":\"AUTHENTICATE\"}  ",
	    CMD_AUTHENTICATE);
}

static void
msg_int_port__values__checked(void **state)
{
	struct msg	 m;
	char		 err[256], buf[256];
	static const char *const bad[] = { "0", "65536", "-1", "1.5", "8e3",
	    "99999999999999999999", NULL };
	const char *const *s;
	long long	 n;
	int		 port;

	(void)state;
	assert_int_equal(parse("{\"command\":\"REDIRECT\",\"hostname\":\"h\","
	    "\"port\":65535}", &m, err, sizeof err), 0);
	assert_int_equal(msg_port(&m, F_PORT, &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(msg_int(&m, F_PORT, &n), 0);
	assert_int_equal(msg_int(&m, F_HOSTNAME, &n), -1);
	assert_int_equal(msg_int(&m, F_LOAD, &n), -1);
	for (s = bad; *s != NULL; s++) {
		snprintf(buf, sizeof buf, "{\"command\":\"REDIRECT\","
		    "\"hostname\":\"h\",\"port\":%s}", *s);
		assert_int_equal(parse(buf, &m, err, sizeof err), 0);
		if (msg_port(&m, F_PORT, &port) == 0)
			fail_msg("port %s accepted", *s);
	}
}

static void
features(const char *arr, int want_rc, unsigned want_mask)
{
	struct msg	 m;
	char		 err[256], buf[512];
	unsigned	 mask = 0xdead;

	if (arr != NULL)
		snprintf(buf, sizeof buf, "{\"command\":\"LOGIN\",\"username\":"
		    "\"a\",\"features\":%s}", arr);
	else
		snprintf(buf, sizeof buf, "{\"command\":\"LOGIN\",\"username\":"
		    "\"a\"}");
	assert_int_equal(parse(buf, &m, err, sizeof err), 0);
	assert_int_equal(msg_features(&m, msg_feature_names, &mask), want_rc);
	if (want_rc == 0)
		assert_int_equal(mask, want_mask);
}

static void
msg_features__lists__masks(void **state)
{
	(void)state;
	features(NULL, 0, 0);
	features("[]", 0, 0);
	features("[\"heartbeat\"]", 0, FEAT_BIT(FEAT_HEARTBEAT));
	features("[\"backup_list\",\"resume\",\"heartbeat\"]", 0,
	    FEAT_BIT(FEAT_BACKUP_LIST) | FEAT_BIT(FEAT_RESUME) |
	    FEAT_BIT(FEAT_HEARTBEAT));
	features("[\"backup_list\",\"cluster_status\",\"activity_seq\","
	    "\"sending_report\",\"resume\",\"heartbeat\",\"who\","
	    "\"history\"]", 0, (1u << FEAT__COUNT) - 1);
	/* Unknown names are skipped; repeats are harmless. */
	features("[\"teleport\",\"heartbeat\",\"heartbeat\"]", 0,
	    FEAT_BIT(FEAT_HEARTBEAT));
	/* Names compare decoded. */
	features("[\"heart\\u0062eat\"]", 0, FEAT_BIT(FEAT_HEARTBEAT));
	features("[\"HEARTBEAT\",\"heartbeat \"]", 0, 0);
}

static void
msg_features__non_string_element__error(void **state)
{
	(void)state;
	features("[\"heartbeat\",1]", -1, 0);
	features("[null]", -1, 0);
	features("[[\"heartbeat\"]]", -1, 0);
	features("[{\"name\":\"heartbeat\"}]", -1, 0);
}

static void
msgb__builders__parse_back(void **state)
{
	struct jbuf	 b;
	struct msg	 m;
	struct msg_map	 mm;
	char		 err[256], key[16];
	uint64_t	 v;

	(void)state;
	jbuf_init(&b);
	msgb_begin(&b, CMD_SERVER_ANNOUNCE);
	msgb_str(&b, F_ID, "id\"1\n");
	msgb_int(&b, F_LOAD, 3);
	msgb_str(&b, F_HOSTNAME, "h\xc3\xa9");
	msgb_int(&b, F_PORT, 8000);
	msgb_end(&b);
	assert_int_equal(b.p[b.len - 1], '\n');
	assert_int_equal(msg_parse(b.p, b.len - 1, &m, err, sizeof err), 0);
	assert_int_equal(m.cmd, CMD_SERVER_ANNOUNCE);
	assert_string_equal(m.str[F_ID], "id\"1\n");
	assert_string_equal(m.str[F_HOSTNAME], "h\xc3\xa9");
	jbuf_reset(&b);
	msgb_info(&b, CMD_INVALID_MESSAGE, "why: \"this\"");
	assert_int_equal(msg_parse(b.p, b.len - 1, &m, err, sizeof err), 0);
	assert_string_equal(m.str[F_INFO], "why: \"this\"");
	/* A map: keys are data, commas placed by the builder. */
	jbuf_reset(&b);
	msgb_begin(&b, CMD_ACTIVITY_SYNC);
	msgb_key(&b, F_VV);
	msgb_obj_begin(&b);
	msgb_map_int(&b, "a\"b", 1);
	msgb_map_int(&b, "c", 2);
	msgb_obj_end(&b);
	msgb_int(&b, F_SINCE, 5);
	msgb_end(&b);
	assert_int_equal(msg_parse(b.p, b.len - 1, &m, err, sizeof err), 0);
	assert_int_equal(msg_map_open(&mm, m.val[F_VV], OBJ_VV), 0);
	assert_int_equal(mm.count, 2);
	assert_int_equal(msg_map_next_uint(&mm, key, sizeof key, NULL, &v), 1);
	assert_string_equal(key, "a\"b");
	assert_int_equal(v, 1);
	jbuf_free(&b);
}

/* Decode s as a nested object of this kind; err holds the reason. */
static int
parse_obj(const char *s, enum msg_obj kind, struct msg *m, char *err,
    size_t errlen)
{
	struct json_span	 sp = { s, strlen(s) };

	return msg_parse_object(sp, kind, m, err, errlen);
}

static void
msg_parse_object__user_entry__fields_by_table(void **state)
{
	struct msg	*m = malloc(sizeof *m);
	char		 err[256];
	long long	 t;

	(void)state;
	assert_non_null(m);
	assert_int_equal(parse_obj("{\"username\":\"al\\u0069ce\","
	    "\"secret\":\"s\",\"time\":12,\"extra\":[1]}", OBJ_USER, m,
	    err, sizeof err), 0);
	assert_string_equal(m->str[F_USERNAME], "alice");
	assert_string_equal(m->str[F_SECRET], "s");
	assert_null(m->str[F_ORIGIN]);
	assert_int_equal(msg_int(m, F_TIME, &t), 0);
	assert_int_equal(t, 12);
	/* Required, typed and unique, as for a command's fields. */
	assert_int_equal(parse_obj("{\"username\":\"a\"}", OBJ_USER, m,
	    err, sizeof err), -1);
	assert_non_null(strstr(err, "secret"));
	assert_int_equal(parse_obj("{\"username\":\"a\",\"secret\":1}",
	    OBJ_USER, m, err, sizeof err), -1);
	assert_non_null(strstr(err, "must be"));
	assert_int_equal(parse_obj("{\"username\":\"a\",\"secret\":\"b\","
	    "\"username\":\"c\"}", OBJ_USER, m, err, sizeof err), -1);
	assert_non_null(strstr(err, "duplicated"));
	assert_int_equal(parse_obj("[1]", OBJ_USER, m, err, sizeof err), -1);
	/* MSG_UINT: time is an integer, 0 or more. */
	assert_int_equal(parse_obj("{\"username\":\"a\",\"secret\":\"b\","
	    "\"time\":-1}", OBJ_USER, m, err, sizeof err), -1);
	assert_non_null(strstr(err, "non-negative"));
	assert_int_equal(parse_obj("{\"username\":\"a\",\"secret\":\"b\","
	    "\"time\":1.5}", OBJ_USER, m, err, sizeof err), -1);
	free(m);
}

static void
msg_parse_object__server_entry__port_required(void **state)
{
	struct msg	*m = malloc(sizeof *m);
	char		 err[256];
	int		 port;

	(void)state;
	assert_non_null(m);
	assert_int_equal(parse_obj("{\"host\":\"h\",\"port\":80,"
	    "\"tls_port\":443}", OBJ_SERVER, m, err, sizeof err), 0);
	assert_string_equal(m->str[F_HOST], "h");
	assert_int_equal(msg_port(m, F_PORT, &port), 0);
	assert_int_equal(port, 80);
	assert_int_equal(msg_port(m, F_TLS_PORT, &port), 0);
	assert_int_equal(port, 443);
	assert_int_equal(parse_obj("{\"host\":\"h\"}", OBJ_SERVER, m, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "port"));
	free(m);
}

static int
map_open(const char *s, enum msg_obj kind, struct msg_map *mm)
{
	struct json_span	 sp = { s, strlen(s) };

	return msg_map_open(mm, sp, kind);
}

static void
msg_map__vv_and_seen__checked_by_table(void **state)
{
	struct msg_map	 mm;
	struct msg	*m = malloc(sizeof *m);
	char		 key[256], big[300], err[128];
	size_t		 len;
	uint64_t	 v;

	(void)state;
	assert_non_null(m);
	assert_int_equal(map_open("{\"s1\":3,\"s\\u0032\":0}", OBJ_SEEN,
	    &mm), 0);
	assert_int_equal(mm.count, 2);
	assert_int_equal(msg_map_next_uint(&mm, key, sizeof key, &len, &v),
	    1);
	assert_string_equal(key, "s1");
	assert_int_equal(v, 3);
	assert_int_equal(msg_map_next_uint(&mm, key, sizeof key, &len, &v),
	    1);
	assert_string_equal(key, "s2");
	assert_int_equal(len, 2);
	assert_int_equal(v, 0);
	assert_int_equal(msg_map_next_uint(&mm, key, sizeof key, &len, &v),
	    0);
	assert_int_equal(map_open("{}", OBJ_VV, &mm), 0);
	assert_int_equal(mm.count, 0);
	/* Negative, fractional, non-numbers, not an object: refused. */
	assert_int_equal(map_open("{\"a\":-1}", OBJ_VV, &mm), -1);
	assert_int_equal(map_open("{\"a\":1.5}", OBJ_VV, &mm), -1);
	assert_int_equal(map_open("{\"a\":\"1\"}", OBJ_SEEN, &mm), -1);
	assert_int_equal(map_open("[1]", OBJ_SEEN, &mm), -1);
	/* Keys are capped at 255 bytes. */
	memset(key, 'k', sizeof key);
	snprintf(big, sizeof big, "{\"%.*s\":1}", 255, key);
	assert_int_equal(map_open(big, OBJ_VV, &mm), 0);
	snprintf(big, sizeof big, "{\"%.*s\":1}", 256, key);
	assert_int_equal(map_open(big, OBJ_VV, &mm), -1);
	/* A map is not a record, a record not a map. */
	assert_int_equal(parse_obj("{\"a\":1}", OBJ_VV, m, err, sizeof err),
	    -1);
	assert_int_equal(map_open("{\"host\":\"h\",\"port\":1}",
	    OBJ_SERVER, &mm), -1);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(msg_parse__not_json__invalid_json),
		cmocka_unit_test(msg_parse__non_object_json__not_an_object),
		cmocka_unit_test(msg_parse__no_command__error),
		cmocka_unit_test(msg_parse__non_string_command__error),
		cmocka_unit_test(msg_parse__unknown_command__error),
		cmocka_unit_test(msg_parse__duplicated_keys__error),
		cmocka_unit_test(msg_parse__duplicated_via_escapes__error),
		cmocka_unit_test(msg_parse__escaped_command_key__found),
		cmocka_unit_test(
		    msg_parse__each_required_field_missing__error_names_it),
		cmocka_unit_test(
		    msg_parse__each_field_wrong_type__error_names_it),
		cmocka_unit_test(
		    msg_parse__each_field_each_allowed_type__accepted),
		cmocka_unit_test(
		    msg_parse__valid_message_each_command__parsed),
		cmocka_unit_test(msg_cmd_lookup__every_name__round_trips),
		cmocka_unit_test(msg_parse__fields_not_in_the_table__ignored),
		cmocka_unit_test(msg_parse__strings_decoded__escapes_resolved),
		cmocka_unit_test(msg_parse__null_secret__present_as_null),
		cmocka_unit_test(
		    msg_parse__absent_optional_fields__null_not_stale),
		cmocka_unit_test(msg_parse__nul_in_string_field__error),
		cmocka_unit_test(
		    msg_parse__name_length_cap__256_ok_257_refused),
		cmocka_unit_test(msg_parse__too_many_members__error),
		cmocka_unit_test(msg_parse__base_protocol_lines__parsed),
		cmocka_unit_test(msg_int_port__values__checked),
		cmocka_unit_test(msg_features__lists__masks),
		cmocka_unit_test(
		    msg_parse_object__user_entry__fields_by_table),
		cmocka_unit_test(
		    msg_parse_object__server_entry__port_required),
		cmocka_unit_test(msg_features__non_string_element__error),
		cmocka_unit_test(msg_map__vv_and_seen__checked_by_table),
		cmocka_unit_test(msgb__builders__parse_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
