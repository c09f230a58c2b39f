/*
 * The failure rule: every kind of bad input is answered with the right
 * message (INVALID_MESSAGE, or AUTHENTICATION_FAIL where the protocol
 * names it) and the connection is closed, while a client that is
 * already logged in keeps sending and receiving.  Also the message size
 * cap and the login deadline for silent connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_MSG		4096

/* One server, a logged-in bystander, a registered user "reg". */
static struct {
	struct it_server	*a;
	struct it_roster	 r;
} fx;

static void
fx_start(const char *extra1, const char *extra2)
{
	struct it_client	*by;

	memset(&fx, 0, sizeof fx);
	if (extra1 != NULL)
		fx.a = it_root("A", "--max-message", "4096", extra1, extra2);
	else
		fx.a = it_root("A", "--max-message", "4096");
	it_register(fx.a, "reg", "reg-secret");
	by = it_roster_login(&fx.r, fx.a, "bystander", "anonymous", NULL);
	(void)by;
}

/* The bystander still sends, and receives its own broadcast next. */
static void
bystander_ok(void)
{
	it_roster_broadcast(&fx.r, fx.r.c[0]);
}

/* A fresh connection, logged in as `user` unless user is NULL. */
static struct it_client *
conn(const char *name, const char *user, const char *secret)
{
	struct it_client	*c = it_connect(fx.a, name);

	if (user != NULL)
		it_login(c, user, secret);
	return c;
}

/* Send `line` (plus a newline) on c; expect `reply` and the close. */
static void
expect_refused(struct it_client *c, const char *line, const char *reply)
{
	it_sendf(c, "%s", line);
	it_expect_reply_close(c, reply);
	it_close(c);
	bystander_ok();
}

/* Send len raw bytes (NULs, newlines) on c; INVALID_MESSAGE, close. */
static void
refuse_raw(struct it_client *c, const char *bytes, size_t len)
{
	it_send_raw(c, bytes, len);
	it_expect_reply_close(c, "INVALID_MESSAGE");
	it_close(c);
	bystander_ok();
}

/* Each line, on a fresh unauthenticated connection, gets `reply`. */
static void
refuse_fresh(const char *const *lines, const char *reply)
{
	int	 i;

	for (i = 0; lines[i] != NULL; i++)
		expect_refused(conn(lines[i], NULL, NULL), lines[i], reply);
}

/* Each line, from a freshly logged-in anonymous client, gets `reply`. */
static void
refuse_anon(const char *const *lines, const char *reply)
{
	int	 i;

	for (i = 0; lines[i] != NULL; i++)
		expect_refused(conn(lines[i], "anonymous", NULL), lines[i],
		    reply);
}

/* Each line, from a freshly logged-in registered client, gets `reply`. */
static void
refuse_reg(const char *const *lines, const char *reply)
{
	int	 i;

	for (i = 0; lines[i] != NULL; i++)
		expect_refused(conn(lines[i], "reg", "reg-secret"), lines[i],
		    reply);
}

static void
failure__not_json__invalid_message_and_close(void **state)
{
	const char *const lines[] = {
		"hello",
		"{",
		"{\"command\":\"LOGIN\"",
		"{'command':'LOGIN','username':'anonymous'}",
		"{\"command\":\"LOGIN\",\"username\":\"anonymous\",}",
		"{\"command\":\"LOGIN\" \"username\":\"anonymous\"}",
		"{\"command\":\"LOGIN\",\"username\":\"anonymous\"} trailing",
		"{\"command\":\"LOGIN\",\"username\":anonymous}",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(lines, "INVALID_MESSAGE");
}

static void
failure__json_not_an_object__invalid_message_and_close(void **state)
{
	const char *const lines[] = {
		"[{\"command\":\"LOGIN\",\"username\":\"anonymous\"}]",
		"\"LOGIN\"",
		"42",
		"null",
		"true",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(lines, "INVALID_MESSAGE");
	refuse_anon(lines, "INVALID_MESSAGE");
}

static void
failure__no_command__invalid_message_and_close(void **state)
{
	const char *const lines[] = {
		"{\"username\":\"anonymous\",\"secret\":null}",
		"{}",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(lines, "INVALID_MESSAGE");
	refuse_anon(lines, "INVALID_MESSAGE");
}

static void
failure__command_not_a_string__invalid_message_and_close(void **state)
{
	const char *const lines[] = {
		"{\"command\":42,\"username\":\"anonymous\"}",
		"{\"command\":null,\"username\":\"anonymous\"}",
		"{\"command\":[\"LOGIN\"],\"username\":\"anonymous\"}",
		"{\"command\":{\"name\":\"LOGIN\"}}",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(lines, "INVALID_MESSAGE");
}

static void
failure__unknown_command__invalid_message_and_close(void **state)
{
	const char *const lines[] = {
		"{\"command\":\"FROBNICATE\"}",
		"{\"command\":\"login\",\"username\":\"anonymous\"}",
		"{\"command\":\"\"}",
		"{\"command\":\"LOGIN \",\"username\":\"anonymous\"}",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(lines, "INVALID_MESSAGE");
	refuse_anon(lines, "INVALID_MESSAGE");
}

static void
failure__missing_required_field__invalid_message_and_close(void **state)
{
	const char *const fresh[] = {
		"{\"command\":\"LOGIN\"}",
		"{\"command\":\"LOGIN\",\"secret\":\"reg-secret\"}",
		"{\"command\":\"REGISTER\",\"username\":\"newbie\"}",
		"{\"command\":\"REGISTER\",\"secret\":\"s\"}",
		"{\"command\":\"AUTHENTICATE\"}",
		NULL,
	};
	const char *const anon[] = {
		"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"anonymous\","
		    "\"secret\":null}",
		"{\"command\":\"ACTIVITY_MESSAGE\",\"activity\":{\"x\":1}}",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(fresh, "INVALID_MESSAGE");
	refuse_anon(anon, "INVALID_MESSAGE");
	/* Nothing half-registered: the name is still free. */
	it_register(fx.a, "newbie", "s");
}

static void
failure__field_of_wrong_type__invalid_message_and_close(void **state)
{
	const char *const fresh[] = {
		"{\"command\":\"LOGIN\",\"username\":42}",
		"{\"command\":\"LOGIN\",\"username\":null}",
		"{\"command\":\"LOGIN\",\"username\":{\"n\":\"reg\"}}",
		"{\"command\":\"LOGIN\",\"username\":\"reg\",\"secret\":42}",
		"{\"command\":\"LOGIN\",\"username\":\"reg\","
		    "\"secret\":[\"reg-secret\"]}",
		"{\"command\":\"REGISTER\",\"username\":\"newbie\","
		    "\"secret\":null}",
		"{\"command\":\"REGISTER\",\"username\":true,\"secret\":\"s\"}",
		"{\"command\":\"AUTHENTICATE\",\"secret\":1}",
		NULL,
	};
	const char *const anon[] = {
		"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"anonymous\","
		    "\"activity\":\"text\"}",
		"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"anonymous\","
		    "\"activity\":[1,2]}",
		"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"anonymous\","
		    "\"activity\":null}",
		"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"anonymous\","
		    "\"activity\":5}",
		"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":7,"
		    "\"activity\":{}}",
		NULL,
	};
	const char *const reg[] = {
		"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"reg\","
		    "\"secret\":12,\"activity\":{}}",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(fresh, "INVALID_MESSAGE");
	refuse_anon(anon, "INVALID_MESSAGE");
	refuse_reg(reg, "INVALID_MESSAGE");
	it_register(fx.a, "newbie", "s");
}

/* LOGIN on a connection that is logged in already. */
static void
failure__login_twice__invalid_message_and_close(void **state)
{
	(void)state;
	fx_start(NULL, NULL);
	expect_refused(conn("anon", "anonymous", NULL),
	    "{\"command\":\"LOGIN\",\"username\":\"anonymous\"}",
	    "INVALID_MESSAGE");
	expect_refused(conn("reg", "reg", "reg-secret"),
	    "{\"command\":\"LOGIN\",\"username\":\"reg\","
	    "\"secret\":\"reg-secret\"}", "INVALID_MESSAGE");
}

/* REGISTER on a logged-in connection. */
static void
failure__register_after_login__invalid_message_and_close(void **state)
{
	(void)state;
	fx_start(NULL, NULL);
	expect_refused(conn("anon", "anonymous", NULL),
	    "{\"command\":\"REGISTER\",\"username\":\"late\",\"secret\":\"s\"}",
	    "INVALID_MESSAGE");
	/* The refused registration did not happen. */
	it_register(fx.a, "late", "s2");
}

static void
failure__activity_message_before_login__authentication_fail(void **state)
{
	(void)state;
	fx_start(NULL, NULL);
	expect_refused(conn("c1", NULL, NULL),
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"anonymous\","
	    "\"secret\":null,\"activity\":{\"sneaky\":1}}",
	    "AUTHENTICATION_FAIL");
	expect_refused(conn("c2", NULL, NULL),
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"reg\","
	    "\"secret\":\"reg-secret\",\"activity\":{\"sneaky\":2}}",
	    "AUTHENTICATION_FAIL");
}

/* ACTIVITY_MESSAGE naming someone else than the logged-in user. */
static void
failure__activity_message_other_user__authentication_fail(void **state)
{
	(void)state;
	fx_start(NULL, NULL);
	/* anonymous claiming to be reg, with reg's right secret */
	expect_refused(conn("anon", "anonymous", NULL),
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"reg\","
	    "\"secret\":\"reg-secret\",\"activity\":{\"x\":1}}",
	    "AUTHENTICATION_FAIL");
	/* reg claiming to be anonymous */
	expect_refused(conn("reg", "reg", "reg-secret"),
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"anonymous\","
	    "\"secret\":null,\"activity\":{\"x\":1}}",
	    "AUTHENTICATION_FAIL");
	/* reg claiming to be someone unknown */
	expect_refused(conn("reg2", "reg", "reg-secret"),
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"ghost\","
	    "\"secret\":\"reg-secret\",\"activity\":{\"x\":1}}",
	    "AUTHENTICATION_FAIL");
}

/* ACTIVITY_MESSAGE with the right name but not the user's secret. */
static void
failure__activity_message_wrong_secret__authentication_fail(void **state)
{
	(void)state;
	fx_start(NULL, NULL);
	expect_refused(conn("reg1", "reg", "reg-secret"),
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"reg\","
	    "\"secret\":\"wrong\",\"activity\":{\"x\":1}}",
	    "AUTHENTICATION_FAIL");
	expect_refused(conn("reg3", "reg", "reg-secret"),
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"reg\","
	    "\"secret\":null,\"activity\":{\"x\":1}}",
	    "AUTHENTICATION_FAIL");
}

/*
 * Regression (a stale secret, fixed): a message without "secret" is checked
 * against the secret of an earlier message.  msg_parse() (common/msg.c)
 * clears m->type[] but not m->str[], and dispatch_line() keeps struct
 * msg on the stack, so m->str[F_SECRET] of a message that has no secret
 * still points at the previous message's decoded secret.  Right after
 * the owner logs in, anyone can log in as them (or send as them) by
 * leaving the secret out.  Expected: LOGIN_FAILED / AUTHENTICATION_FAIL.
 */
static void
regression__login_without_secret_after_owner_login__login_failed(void **state)
{
	struct it_client	*owner, *thief;

	(void)state;
	fx_start(NULL, NULL);
	owner = conn("owner", "reg", "reg-secret");
	(void)owner;
	thief = conn("thief", NULL, NULL);
	it_sendf(thief, "{\"command\":\"LOGIN\",\"username\":\"reg\"}");
	it_expect_reply_close(thief, "LOGIN_FAILED");
	bystander_ok();
}

/* Regression (fixed): ACTIVITY_MESSAGE without the secret is accepted. */
static void
regression__activity_message_without_secret__authentication_fail(void **state)
{
	(void)state;
	fx_start(NULL, NULL);
	expect_refused(conn("reg", "reg", "reg-secret"),
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"reg\","
	    "\"activity\":{\"x\":1}}", "AUTHENTICATION_FAIL");
}

/* Server-to-server commands from clients, logged in or not. */
static void
failure__server_commands_from_client__invalid_message_and_close(
    void **state)
{
	const char *const lines[] = {
		"{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":"
		    "{\"authenticated_user\":\"reg\",\"forged\":1}}",
		"{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"evil\",\"load\":0,"
		    "\"hostname\":\"localhost\",\"port\":1}",
		"{\"command\":\"LOCK_REQUEST\",\"username\":\"u\","
		    "\"secret\":\"s\"}",
		"{\"command\":\"LOCK_ALLOWED\",\"username\":\"u\","
		    "\"secret\":\"s\"}",
		"{\"command\":\"LOCK_DENIED\",\"username\":\"reg\","
		    "\"secret\":\"reg-secret\"}",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(lines, "INVALID_MESSAGE");
	refuse_anon(lines, "INVALID_MESSAGE");
	refuse_reg(lines, "INVALID_MESSAGE");
	/* LOCK_DENIED did not drop reg. */
	it_login(conn("reg", NULL, NULL), "reg", "reg-secret");
}

/* What servers send to clients is not accepted from a client. */
static void
failure__server_replies_from_client__invalid_message_and_close(
    void **state)
{
	const char *const lines[] = {
		"{\"command\":\"LOGIN_SUCCESS\",\"info\":\"x\"}",
		"{\"command\":\"LOGIN_FAILED\",\"info\":\"x\"}",
		"{\"command\":\"REDIRECT\",\"hostname\":\"localhost\","
		    "\"port\":1}",
		"{\"command\":\"REGISTER_SUCCESS\",\"info\":\"x\"}",
		"{\"command\":\"REGISTER_FAILED\",\"info\":\"x\"}",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(lines, "INVALID_MESSAGE");
	refuse_anon(lines, "INVALID_MESSAGE");
}

/*
 * INVALID_MESSAGE or AUTHENTICATION_FAIL from a client: the sender
 * closes after it, so the server closes too, without answering.
 */
static void
failure__client_sends_invalid_message__server_closes(void **state)
{
	const char *const lines[] = {
		"{\"command\":\"INVALID_MESSAGE\",\"info\":\"you are odd\"}",
		"{\"command\":\"AUTHENTICATION_FAIL\",\"info\":\"no\"}",
		NULL,
	};
	struct it_client	*c;
	int			 i;

	(void)state;
	fx_start(NULL, NULL);
	for (i = 0; lines[i] != NULL; i++) {
		c = conn("fresh", NULL, NULL);
		it_sendf(c, "%s", lines[i]);
		it_expect_closed(c);
		it_close(c);
		c = conn("anon", "anonymous", NULL);
		it_sendf(c, "%s", lines[i]);
		it_expect_closed(c);
		it_close(c);
		bystander_ok();
	}
}

static void
failure__authenticate_wrong_secret__authentication_fail(void **state)
{
	(void)state;
	fx_start(NULL, NULL);
	expect_refused(conn("srv", NULL, NULL),
	    "{\"command\":\"AUTHENTICATE\",\"secret\":\"not-it\"}",
	    "AUTHENTICATION_FAIL");
	expect_refused(conn("srv2", NULL, NULL),
	    "{\"command\":\"AUTHENTICATE\",\"secret\":\"not-it\",\"id\":\"x\","
	    "\"host\":\"localhost\",\"port\":1}", "AUTHENTICATION_FAIL");
}

/*
 * Read lines until `cmd` on a link that authenticated as a server.  The
 * server-to-server traffic in between (announces, user lists, backup
 * lists, syncs: the set grows with the protocol) is passed over; a line
 * that is not a command object, or any error or client reply, fails.
 */
static void
expect_on_server_link(struct it_client *c, const char *cmd)
{
	static const char *const never[] = { "INVALID_MESSAGE",
		"AUTHENTICATION_FAIL", "LOGIN_SUCCESS", "LOGIN_FAILED",
		"REDIRECT", "REGISTER_SUCCESS", "REGISTER_FAILED", NULL };
	uint64_t	 deadline = it_now_ms() + (uint64_t)it_timeout();
	const char	*got;
	int		 i, left;

	for (;;) {
		left = (int)(deadline - it_now_ms());
		if (left <= 0 || it_read_line(c, left) != IT_READ_LINE)
			it_fail("server link %s: no %s", c->name, cmd);
		cJSON_Delete(c->msg);
		c->msg = cJSON_ParseWithLength(c->line, c->line_len);
		got = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    c->msg, "command"));
		if (got != NULL && strcmp(got, cmd) == 0)
			return;
		for (i = 0; never[i] != NULL; i++)
			if (got != NULL && strcmp(got, never[i]) == 0)
				break;
		if (got == NULL || never[i] != NULL)
			it_fail("server link %s: expected %s, got: %s",
			    c->name, cmd, it_escape(c->line, c->line_len));
		if (getenv("IT_VERBOSE") != NULL)
			fprintf(stderr, "  (server link %s: passed over %s)\n",
			    c->name, got);
	}
}

/*
 * A second AUTHENTICATE on an authenticated server link, with the right
 * secret, is INVALID_MESSAGE; so is AUTHENTICATE after LOGIN.
 */
static void
failure__authenticate_twice__invalid_message_and_close(void **state)
{
	struct it_client	*c;
	const char		*auth = "{\"command\":\"AUTHENTICATE\","
				    "\"secret\":\"" IT_SECRET "\"}";

	(void)state;
	fx_start(NULL, NULL);
	c = conn("srv", NULL, NULL);
	it_sendf(c, "%s", auth);
	/* The first one took: announces, then broadcasts reach the link. */
	expect_on_server_link(c, "SERVER_ANNOUNCE");
	bystander_ok();
	expect_on_server_link(c, "ACTIVITY_BROADCAST");
	it_sendf(c, "%s", auth);
	expect_on_server_link(c, "INVALID_MESSAGE");
	it_expect_closed(c);
	it_close(c);
	bystander_ok();
	expect_refused(conn("anon", "anonymous", NULL), auth,
	    "INVALID_MESSAGE");
}

/* A 10000-byte line against --max-message 4096. */
static void
failure__line_over_max_message__invalid_message_and_close(void **state)
{
	struct it_client	*c;
	char			*line;
	size_t			 n = 10000;
	int			 anon;

	(void)state;
	fx_start(NULL, NULL);
	if ((line = malloc(n + 1)) == NULL)
		abort();
	for (anon = 0; anon < 2; anon++) {
		c = conn("long", anon ? "anonymous" : NULL, NULL);
		memset(line, 'a', n);
		memcpy(line, "{\"command\":\"LOGIN\",\"username\":\"", 31);
		memcpy(line + n - 2, "\"}", 2);
		line[n] = '\n';
		it_send_raw(c, line, n + 1);
		it_expect_reply_close(c, "INVALID_MESSAGE");
		it_close(c);
		bystander_ok();
	}
	free(line);
}

/* A line that never ends is cut off once it passes the cap. */
static void
failure__endless_line_over_max_message__invalid_message_and_close(
    void **state)
{
	struct it_client	*c;
	char			 buf[MAX_MSG + 512];

	(void)state;
	fx_start(NULL, NULL);
	c = conn("endless", NULL, NULL);
	memset(buf, ' ', sizeof buf);
	memcpy(buf, "{\"command\":\"LOGIN\",", 19);
	it_send_raw(c, buf, sizeof buf);
	it_expect_reply_close(c, "INVALID_MESSAGE");
	it_close(c);
	bystander_ok();
}

/* A line of exactly --max-message bytes is accepted. */
static void
max_message__line_of_exactly_max_bytes__accepted(void **state)
{
	struct it_client	*c;
	char			 line[MAX_MSG + 1];
	const char		*head = "{\"command\":\"ACTIVITY_MESSAGE\","
				    "\"username\":\"anonymous\",\"activity\":"
				    "{\"it_seq\":-1,\"pad\":\"";
	size_t			 hl = strlen(head);

	(void)state;
	fx_start(NULL, NULL);
	c = conn("exact", "anonymous", NULL);
	memset(line, 'p', sizeof line);
	memcpy(line, head, hl);
	memcpy(line + MAX_MSG - 3, "\"}}", 3);
	line[MAX_MSG] = '\n';
	it_send_raw(c, line, sizeof line);
	it_expect(c, "ACTIVITY_BROADCAST");
	it_expect(fx.r.c[0], "ACTIVITY_BROADCAST");
	bystander_ok();
	it_expect(c, "ACTIVITY_BROADCAST");	/* the bystander's */
}

static void
failure__nul_byte__invalid_message_and_close(void **state)
{
	static const char	 l1[] = "{\"command\":\"LOGIN\",\"username\":"
				    "\"anony\0mous\"}\n";
	static const char	 l2[] = "\0{\"command\":\"LOGIN\","
				    "\"username\":\"anonymous\"}\n";
	static const char	 l3[] = "{\"command\":\"ACTIVITY_MESSAGE\","
				    "\"username\":\"anonymous\",\"activity\":"
				    "{\"a\":\"x\0y\"}}\n";

	(void)state;
	fx_start(NULL, NULL);
	refuse_raw(conn("nul1", NULL, NULL), l1, sizeof l1 - 1);
	refuse_raw(conn("nul2", NULL, NULL), l2, sizeof l2 - 1);
	refuse_raw(conn("nul3", "anonymous", NULL), l3, sizeof l3 - 1);
}

/* Invalid UTF-8 is not valid JSON text. */
static void
failure__invalid_utf8__invalid_message_and_close(void **state)
{
	const char *const fresh[] = {
		"{\"command\":\"LOGIN\",\"username\":\"\xff\xfe\"}",
		"{\"command\":\"REGISTER\",\"username\":\"a\xc3\","
		    "\"secret\":\"s\"}",
		NULL,
	};
	const char *const anon[] = {
		"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"anonymous\","
		    "\"activity\":{\"t\":\"\xed\xa0\x80\"}}",
		NULL,
	};

	(void)state;
	fx_start(NULL, NULL);
	refuse_fresh(fresh, "INVALID_MESSAGE");
	refuse_anon(anon, "INVALID_MESSAGE");
}

/*
 * Once a line is refused nothing after it in the same read is
 * processed: no LOGIN_SUCCESS, and no activity reaches the bystander
 * (bystander_ok fails if its next line is anything but its own).
 */
static void
failure__lines_after_refused_line__not_processed(void **state)
{
	static const char	 l1[] = "nonsense\n{\"command\":\"LOGIN\","
				    "\"username\":\"anonymous\"}\n";
	static const char	 l2[] = "[]\n{\"command\":\"ACTIVITY_MESSAGE\","
				    "\"username\":\"anonymous\",\"activity\":"
				    "{\"smuggled\":true}}\n";

	(void)state;
	fx_start(NULL, NULL);
	refuse_raw(conn("c1", NULL, NULL), l1, sizeof l1 - 1);
	refuse_raw(conn("c2", "anonymous", NULL), l2, sizeof l2 - 1);
}

/*
 * --auth-timeout 300: a connection that says nothing (or only part of
 * a line) is told INVALID_MESSAGE and closed, not before the deadline;
 * the logged-in bystander is not touched.
 */
static void
timeout__silent_connection__invalid_message_and_close(void **state)
{
	struct it_client	*silent, *partial;
	uint64_t		 t0;

	(void)state;
	fx_start("--auth-timeout", "300");
	t0 = it_now_ms();
	silent = conn("silent", NULL, NULL);
	partial = conn("partial", NULL, NULL);
	it_send_raw(partial, "{\"command\":\"LO", 14);
	it_expect_reply_close(silent, "INVALID_MESSAGE");
	if (it_now_ms() - t0 < 250)
		it_fail("closed after %llu ms, before the 300 ms deadline",
		    (unsigned long long)(it_now_ms() - t0));
	it_expect_reply_close(partial, "INVALID_MESSAGE");
	bystander_ok();
}

#define T(f)	cmocka_unit_test_setup_teardown(f, it_setup, it_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(failure__not_json__invalid_message_and_close),
		T(failure__json_not_an_object__invalid_message_and_close),
		T(failure__no_command__invalid_message_and_close),
		T(failure__command_not_a_string__invalid_message_and_close),
		T(failure__unknown_command__invalid_message_and_close),
		T(failure__missing_required_field__invalid_message_and_close),
		T(failure__field_of_wrong_type__invalid_message_and_close),
		T(failure__login_twice__invalid_message_and_close),
		T(failure__register_after_login__invalid_message_and_close),
		T(failure__activity_message_before_login__authentication_fail),
		T(failure__activity_message_other_user__authentication_fail),
		T(failure__activity_message_wrong_secret__authentication_fail),
		T(regression__login_without_secret_after_owner_login__login_failed),
		T(regression__activity_message_without_secret__authentication_fail),
		T(failure__server_commands_from_client__invalid_message_and_close),
		T(failure__server_replies_from_client__invalid_message_and_close),
		T(failure__client_sends_invalid_message__server_closes),
		T(failure__authenticate_wrong_secret__authentication_fail),
		T(failure__authenticate_twice__invalid_message_and_close),
		T(failure__line_over_max_message__invalid_message_and_close),
		T(failure__endless_line_over_max_message__invalid_message_and_close),
		T(max_message__line_of_exactly_max_bytes__accepted),
		T(failure__nul_byte__invalid_message_and_close),
		T(failure__invalid_utf8__invalid_message_and_close),
		T(failure__lines_after_refused_line__not_processed),
		T(timeout__silent_connection__invalid_message_and_close),
	};

	return it_run_tests("integration: failure rule", tests);
}
