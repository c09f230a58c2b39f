/*
 * Registration across servers: duplicates, login after registering, the
 * concurrent-register race, and servers that join after registrations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define RACE_ROUNDS	20

static void
send_register(struct it_client *c, const char *user, const char *secret)
{
	it_sendf(c, "{\"command\":\"REGISTER\",\"username\":\"%s\","
	    "\"secret\":\"%s\"}", user, secret);
}

/*
 * The answer to a REGISTER: 1 for REGISTER_SUCCESS (the connection
 * stays open), 0 for REGISTER_FAILED (with an info, then closed).
 * Anything else fails the test.
 */
static int
register_outcome(struct it_client *c)
{
	const char	*cmd;

	if (it_read_line(c, 2 * it_timeout()) != IT_READ_LINE)
		it_fail("client %s: no answer to REGISTER within %d ms",
		    c->name, 2 * it_timeout());
	cJSON_Delete(c->msg);
	c->msg = cJSON_ParseWithLength(c->line, c->line_len);
	cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->msg,
	    "command"));
	if (cmd != NULL && strcmp(cmd, "REGISTER_SUCCESS") == 0)
		return 1;
	if (cmd != NULL && strcmp(cmd, "REGISTER_FAILED") == 0) {
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c->msg,
		    "info")))
			it_fail("client %s: REGISTER_FAILED without info",
			    c->name);
		it_expect_closed(c);
		return 0;
	}
	it_fail("client %s: expected REGISTER_SUCCESS or REGISTER_FAILED, "
	    "got: %s", c->name, it_escape(c->line, c->line_len));
}

/*
 * A name registered at A cannot be registered again, at B (with another
 * secret or the same one) or at A.
 */
static void
register__duplicate_on_other_server__register_failed_and_closed(void **state)
{
	struct it_server	*a, *b;
	struct it_client	*c;

	(void)state;
	a = it_root("A");
	b = it_child("B", a);
	it_register(a, "frank", "frank-secret");

	c = it_connect(b, "dup-other-secret");
	send_register(c, "frank", "another-secret");
	it_expect_reply_close(c, "REGISTER_FAILED");
	c = it_connect(b, "dup-same-secret");
	send_register(c, "frank", "frank-secret");
	it_expect_reply_close(c, "REGISTER_FAILED");
	c = it_connect(a, "dup-at-origin");
	send_register(c, "frank", "x");
	it_expect_reply_close(c, "REGISTER_FAILED");
	/* The original still logs in everywhere. */
	it_login_eventually(a, "frank", "frank-secret");
	it_login_eventually(b, "frank", "frank-secret");
}

/* After REGISTER_SUCCESS the same connection may LOGIN. */
static void
register__then_login_same_connection__login_success(void **state)
{
	struct it_server	*a;
	struct it_client	*c;

	(void)state;
	a = it_root("A");
	it_child("B", a);
	c = it_connect(a, "c");
	send_register(c, "gina", "gina-secret");
	it_expect_within(c, "REGISTER_SUCCESS", 2 * it_timeout());
	it_login(c, "gina", "gina-secret");
	it_send_activity(c, "{\"x\":1}");
	it_expect(c, "ACTIVITY_BROADCAST");
}

/*
 * Registered at C, the user logs in on a new connection at A, two hops
 * away, and can send from there.
 */
static void
register__then_login_new_connection_other_server__login_success(
    void **state)
{
	struct it_server	*a, *b, *c;
	struct it_client	*cl;

	(void)state;
	a = it_root("A");
	b = it_child("B", a);
	c = it_child("C", b);
	it_register(c, "hank", "hank-secret");
	it_login_eventually(a, "hank", "hank-secret");
	cl = it_connect(a, "hank");
	it_login(cl, "hank", "hank-secret");
	it_send_activity(cl, "{\"x\":1}");
	it_expect(cl, "ACTIVITY_BROADCAST");
	it_login_fail(it_connect(a, "wrong"), "hank", "not-hanks");
}

/* "anonymous" is not a name anyone can own. */
static void
register__anonymous__register_failed_and_closed(void **state)
{
	struct it_client	*c;

	(void)state;
	c = it_connect(it_root("A"), "c");
	send_register(c, "anonymous", "s");
	it_expect_reply_close(c, "REGISTER_FAILED");
}

/*
 * Two clients on two servers register one name at the same moment
 * (both REGISTER lines written back to back, no waiting in between).
 * Exactly one gets REGISTER_SUCCESS, every time; afterwards the name
 * logs in with the winner's secret on every server and not with the
 * loser's.  Pairs rotate over neighbours, the two ends of the chain
 * and one server with itself.
 */
static void
register__same_name_racing_on_two_servers__exactly_one_succeeds(
    void **state)
{
	struct it_server	*s[3];
	struct it_client	*x, *y;
	const int		 pairs[][2] = { { 0, 1 }, { 1, 0 }, { 0, 2 },
				    { 2, 0 }, { 1, 2 }, { 2, 1 }, { 1, 1 } };
	const int		 npairs = sizeof pairs / sizeof pairs[0];
	char			 name[32], sx[32], sy[32];
	const char		*win, *lose;
	int			 i, k, ox, oy;

	(void)state;
	/* 20 wrong secrets from one address: a script, not a person. */
	s[0] = it_root("A", "--login-fail-delay", "0");
	s[1] = it_child("B", s[0], "--login-fail-delay", "0");
	s[2] = it_child("C", s[1], "--login-fail-delay", "0");
	for (i = 0; i < RACE_ROUNDS; i++) {
		const int *p = pairs[i % npairs];

		snprintf(name, sizeof name, "racer%02d", i);
		snprintf(sx, sizeof sx, "x-secret-%02d", i);
		snprintf(sy, sizeof sy, "y-secret-%02d", i);
		x = it_connect(s[p[0]], "x");
		y = it_connect(s[p[1]], "y");
		send_register(x, name, sx);
		send_register(y, name, sy);
		ox = register_outcome(x);
		oy = register_outcome(y);
		if (ox + oy != 1)
			it_fail("round %d (%s at %s vs %s): %s succeeded",
			    i, name, s[p[0]]->name, s[p[1]]->name,
			    ox + oy == 2 ? "both" : "neither");
		win = ox ? sx : sy;
		lose = ox ? sy : sx;
		for (k = 0; k < 3; k++) {
			it_login_eventually(s[k], name, win);
			it_login_fail(it_connect(s[k], "loser"), name, lose);
		}
		it_close(x);
		it_close(y);
	}
}

/*
 * A server that does not answer (SIGSTOP) makes a registration fail
 * after --register-timeout, with REGISTER_FAILED and the close; once
 * it runs again the name is not stuck: registering it succeeds.
 */
static void
register__peer_frozen__register_failed_after_timeout(void **state)
{
	struct it_server	*a, *b;
	struct it_client	*c;
	uint64_t		 t0;

	(void)state;
	a = it_root("A", "--register-timeout", "500");
	b = it_child("B", a, "--register-timeout", "500");
	it_server_sigstop(b);
	c = it_connect(a, "c");
	t0 = it_now_ms();
	send_register(c, "quinn", "quinn-secret");
	it_expect_reply_close(c, "REGISTER_FAILED");
	if (it_now_ms() - t0 < 400)
		it_fail("REGISTER_FAILED after %llu ms, before the 500 ms "
		    "timeout", (unsigned long long)(it_now_ms() - t0));
	it_server_sigcont(b);
	it_login_fail(it_connect(a, "nobody"), "quinn", "quinn-secret");
	it_register(a, "quinn", "quinn-secret");
	it_login_eventually(b, "quinn", "quinn-secret");
}

/*
 * Servers that join after users registered know them at once: the
 * first login after the join succeeds, including through a chain
 * (D joins C which joined B after the registrations).
 */
static void
join__after_users_registered__new_server_knows_them(void **state)
{
	struct it_server	*a, *b, *c, *d;

	(void)state;
	a = it_root("A");
	b = it_child("B", a);
	it_register(a, "ivy", "ivy-secret");
	it_register(b, "jack", "jack-secret");
	it_login_eventually(b, "ivy", "ivy-secret");
	it_login_eventually(a, "jack", "jack-secret");

	c = it_child("C", b);
	it_login(it_connect(c, "ivy"), "ivy", "ivy-secret");
	it_login(it_connect(c, "jack"), "jack", "jack-secret");
	it_login_fail(it_connect(c, "wrong"), "ivy", "jack-secret");

	d = it_child("D", a);
	it_login(it_connect(d, "jack"), "jack", "jack-secret");
	it_login(it_connect(d, "ivy"), "ivy", "ivy-secret");
	/* And a name taken before the join cannot be taken at D. */
	{
		struct it_client *r = it_connect(d, "dup");

		send_register(r, "ivy", "mine-now");
		it_expect_reply_close(r, "REGISTER_FAILED");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    register__duplicate_on_other_server__register_failed_and_closed,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    register__then_login_same_connection__login_success,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    register__then_login_new_connection_other_server__login_success,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    register__anonymous__register_failed_and_closed,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    register__same_name_racing_on_two_servers__exactly_one_succeeds,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    register__peer_frozen__register_failed_after_timeout,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    join__after_users_registered__new_server_knows_them,
		    it_setup, it_teardown),
	};

	return it_run_tests("integration: register", tests);
}
