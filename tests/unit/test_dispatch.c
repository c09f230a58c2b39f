/*
 * dispatch.c, peer.c and the handlers behind them, through real peers on
 * bufferevent pairs: the failure rule (reply, then close, and read no
 * further), who may send what, login, activities and logout.
 */
#include "test_fixture.h"

#include <time.h>
#include <unistd.h>

#define REPLY_MAX	64

static void
expect_refused(struct fx *fx, struct fx_conn *c, const char *reply,
    const char *info_has)
{
	fx_expect_info_has(c, reply, info_has);
	fx_expect_nothing(c);
	assert_false(fx_open(fx, c));
}

/* The failure rule. */

static void
dispatch__not_json__invalid_message_and_closed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	fx_send(fx, c, "hello");
	expect_refused(fx, c, "INVALID_MESSAGE", "invalid JSON");
	fx_run(fx);
	assert_null(fx_peer(fx, c));	/* freed once flushed */
	fx_free(fx);
}

static void
dispatch__non_object__invalid_message(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx), *c2 = fx_connect(fx);

	(void)state;
	fx_send(fx, c, "[{\"command\":\"LOGOUT\"}]");
	expect_refused(fx, c, "INVALID_MESSAGE", "not an object");
	fx_send(fx, c2, "\"LOGIN\"");
	expect_refused(fx, c2, "INVALID_MESSAGE", "not an object");
	fx_free(fx);
}

static void
dispatch__no_or_unknown_command__invalid_message(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c1 = fx_connect(fx), *c2 = fx_connect(fx);
	struct fx_conn	*c3 = fx_connect(fx);

	(void)state;
	fx_send(fx, c1, "{\"username\":\"anonymous\"}");
	expect_refused(fx, c1, "INVALID_MESSAGE", "no command");
	fx_send(fx, c2, "{\"command\":\"FLY\"}");
	expect_refused(fx, c2, "INVALID_MESSAGE", "unknown command");
	fx_send(fx, c3, "{\"command\":7}");
	expect_refused(fx, c3, "INVALID_MESSAGE", "command");
	fx_free(fx);
}

static void
dispatch__missing_or_mistyped_field__invalid_message_names_it(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c1 = fx_connect(fx), *c2 = fx_connect(fx);

	(void)state;
	fx_send(fx, c1, "{\"command\":\"LOGIN\"}");
	expect_refused(fx, c1, "INVALID_MESSAGE", "'username'");
	fx_send(fx, c2, "{\"command\":\"LOGIN\",\"username\":[\"a\"]}");
	expect_refused(fx, c2, "INVALID_MESSAGE", "'username'");
	fx_free(fx);
}

static void
dispatch__bad_line_then_good_line__later_line_not_processed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);
	static const char two[] = "{oops}\n"
	    "{\"command\":\"REGISTER\",\"username\":\"x\",\"secret\":\"s\"}\n";

	(void)state;
	fx_write(fx, c, two, sizeof two - 1);
	expect_refused(fx, c, "INVALID_MESSAGE", "invalid JSON");
	assert_null(registry_find(fx->srv->reg, "x"));
	fx_free(fx);
}

static void
dispatch__many_lines_in_one_write__each_answered(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);
	static const char three[] = "{\"command\":\"PING\",\"ts\":1}\n"
	    "{\"command\":\"PING\",\"ts\":2}\r\n\n"
	    "{\"command\":\"PING\",\"ts\":3}\n";
	int		 i;

	(void)state;
	fx_write(fx, c, three, sizeof three - 1);
	for (i = 1; i <= 3; i++) {
		cJSON *j = fx_expect(c, "PONG");

		assert_int_equal(cJSON_GetObjectItem(j, "ts")->valueint, i);
		cJSON_Delete(j);
	}
	assert_true(fx_open(fx, c));
	fx_free(fx);
}

static void
dispatch__line_split_across_writes__answered_once_complete(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);

	(void)state;
	fx_write(fx, c, "{\"command\":", 11);
	fx_expect_nothing(c);
	fx_write(fx, c, "\"PING\"}", 7);
	fx_expect_nothing(c);
	fx_write(fx, c, "\n", 1);
	cJSON_Delete(fx_expect(c, "PONG"));
	fx_free(fx);
}

static void
dispatch__over_long_line__invalid_message(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*c, *c2;
	char		 buf[600];

	(void)state;
	fx_config(&cfg);
	cfg.max_msg = 256;
	fx = fx_new_cfg("srv", &cfg);
	c = fx_connect(fx);
	c2 = fx_connect(fx);
	/* A line over the cap, newline and all... */
	memset(buf, ' ', sizeof buf);
	memcpy(buf, "{\"command\":\"LOGOUT\"}", 20);
	buf[sizeof buf - 1] = '\n';
	fx_write(fx, c, buf, sizeof buf);
	expect_refused(fx, c, "INVALID_MESSAGE", "longer than 256");
	/* ... and bytes that never end a line. */
	memset(buf, 'x', sizeof buf);
	fx_write(fx, c2, buf, sizeof buf);
	expect_refused(fx, c2, "INVALID_MESSAGE", "longer than 256");
	fx_free(fx);
}

static void
dispatch__line_of_exactly_the_cap__accepted(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*c;
	char		 buf[257];

	(void)state;
	fx_config(&cfg);
	cfg.max_msg = 256;
	fx = fx_new_cfg("srv", &cfg);
	c = fx_client(fx);
	memset(buf, ' ', sizeof buf);
	memcpy(buf, "{\"command\":\"PING\"}", 18);
	buf[256] = '\n';
	fx_write(fx, c, buf, sizeof buf);
	cJSON_Delete(fx_expect(c, "PONG"));
	assert_true(fx_open(fx, c));
	fx_free(fx);
}

static void
dispatch__nul_byte__invalid_message(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);
	static const char line[] = "{\"command\":\"LOGOUT\"}\0\n";

	(void)state;
	fx_write(fx, c, line, sizeof line - 1);
	expect_refused(fx, c, "INVALID_MESSAGE", "NUL");
	fx_free(fx);
}

static void
dispatch__peer_sends_invalid_message__closed_silently(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);
	struct fx_conn	*l = fx_link(fx, "A");

	(void)state;
	fx_send(fx, c, "{\"command\":\"INVALID_MESSAGE\",\"info\":\"bye\"}");
	fx_expect_nothing(c);
	assert_false(fx_open(fx, c));
	fx_send(fx, l, "{\"command\":\"AUTHENTICATION_FAIL\",\"info\":\"x\"}");
	assert_false(fx_open(fx, l));
	fx_free(fx);
}

/* Roles. */

static void
dispatch__activity_before_login__authentication_fail(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	fx_send(fx, c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"secret\":null,\"activity\":{\"a\":1}}");
	fx_see(c, "AUTHENTICATION_FAIL");
	fx_expect_nothing(c);
	assert_false(fx_open(fx, c));
	fx_free(fx);
}

/* A client command on a server link: refused with INVALID_MESSAGE. */
static void
client_command_from_link(const char *line)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");
	cJSON		*j;

	fx_send(fx, l, line);
	if ((j = fx_expect_skip_opt(l, "INVALID_MESSAGE")) == NULL)
		fail_msg("no INVALID_MESSAGE for %s from a server link", line);
	cJSON_Delete(j);
	if (fx_open(fx, l))
		fail_msg("link still open after %s", line);
	assert_null(registry_find(fx->srv->reg, "u"));
	assert_int_equal(fx->srv->nclients, 0);
	fx_free(fx);
}

static void
dispatch__client_commands_from_server_link__invalid_message(void **state)
{
	(void)state;
	client_command_from_link("{\"command\":\"LOGIN\",\"username\":"
	    "\"anonymous\"}");
	client_command_from_link("{\"command\":\"REGISTER\",\"username\":"
	    "\"u\",\"secret\":\"s\"}");
	client_command_from_link("{\"command\":\"LOGOUT\"}");
}

static void
dispatch__activity_message_from_server_link__invalid_message(void **state)
{
	(void)state;
	/* A server link is not a client that has not logged in: the
	 * AUTHENTICATION_FAIL exception does not apply. */
	client_command_from_link("{\"command\":\"ACTIVITY_MESSAGE\","
	    "\"username\":\"anonymous\",\"activity\":{}}");
}

static const char *const server_only[] = {
	"{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":{}}",
	"{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"x\",\"load\":0,"
	    "\"hostname\":\"h\",\"port\":1}",
	"{\"command\":\"LOCK_REQUEST\",\"username\":\"u\",\"secret\":\"s\"}",
	"{\"command\":\"LOCK_ALLOWED\",\"username\":\"u\",\"secret\":\"s\"}",
	"{\"command\":\"LOCK_DENIED\",\"username\":\"u\",\"secret\":\"s\"}",
	"{\"command\":\"USER_REGISTER_RESULT\",\"result\":\"success\","
	    "\"username\":\"u\",\"secret\":\"s\"}",
	"{\"command\":\"USER_SYNC\",\"users\":[{\"username\":\"u\","
	    "\"secret\":\"s\"}]}",
	"{\"command\":\"AUTHENTICATE_SUCCESS\",\"id\":\"x\"}",
	"{\"command\":\"BACKUP_LIST\",\"servers\":[]}",
	"{\"command\":\"SERVER_LEAVE\",\"id\":\"x\"}",
	NULL,
};

static void
dispatch__server_commands_from_client__invalid_message(void **state)
{
	const char *const *s;

	(void)state;
	for (s = server_only; *s != NULL; s++) {
		struct fx	*fx = fx_new("srv");
		struct fx_conn	*c = fx_client(fx);

		fx_send(fx, c, *s);
		fx_see(c, "INVALID_MESSAGE");
		fx_expect_nothing(c);
		if (fx_open(fx, c))
			fail_msg("client still open after %s", *s);
		assert_null(registry_find(fx->srv->reg, "u"));
		fx_free(fx);
	}
}

static void
dispatch__server_commands_from_unauthenticated__invalid_message(void **state)
{
	const char *const *s;

	(void)state;
	for (s = server_only; *s != NULL; s++) {
		struct fx	*fx = fx_new("srv");
		struct fx_conn	*c = fx_connect(fx);

		fx_send(fx, c, *s);
		fx_see(c, "INVALID_MESSAGE");
		fx_expect_nothing(c);
		if (fx_open(fx, c))
			fail_msg("connection still open after %s", *s);
		assert_null(registry_find(fx->srv->reg, "u"));
		assert_int_equal(fx->srv->nknown, 0);
		fx_free(fx);
	}
}

static void
dispatch__server_to_client_commands__refused_from_anyone(void **state)
{
	static const char *const replies[] = {
		"{\"command\":\"LOGIN_SUCCESS\",\"info\":\"x\"}",
		"{\"command\":\"LOGIN_FAILED\",\"info\":\"x\"}",
		"{\"command\":\"REDIRECT\",\"hostname\":\"h\",\"port\":1}",
		"{\"command\":\"REGISTER_SUCCESS\",\"info\":\"x\"}",
		"{\"command\":\"REGISTER_FAILED\",\"info\":\"x\"}",
		NULL,
	};
	const char *const *s;
	int		 role;

	(void)state;
	for (s = replies; *s != NULL; s++) {
		for (role = 0; role < 3; role++) {
			struct fx	*fx = fx_new("srv");
			struct fx_conn	*c = role == 0 ? fx_connect(fx) :
					    role == 1 ? fx_client(fx) :
					    fx_link(fx, "A");

			fx_send(fx, c, *s);
			cJSON_Delete(fx_expect_skip(c, "INVALID_MESSAGE"));
			if (fx_open(fx, c))
				fail_msg("open after %s (role %d)", *s, role);
			fx_free(fx);
		}
	}
}

static void
dispatch__login_twice__invalid_message(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);

	(void)state;
	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\"}");
	expect_refused(fx, c, "INVALID_MESSAGE", "LOGIN");
	fx_free(fx);
}

static void
dispatch__register_when_logged_in__invalid_message(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);

	(void)state;
	fx_send(fx, c, "{\"command\":\"REGISTER\",\"username\":\"u\","
	    "\"secret\":\"s\"}");
	expect_refused(fx, c, "INVALID_MESSAGE", "REGISTER");
	assert_null(registry_find(fx->srv->reg, "u"));
	fx_free(fx);
}

static void
dispatch__authenticate_twice__invalid_message(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");

	(void)state;
	fx_send(fx, l, "{\"command\":\"AUTHENTICATE\",\"secret\":\"abc\"}");
	expect_refused(fx, l, "INVALID_MESSAGE", "AUTHENTICATE");
	fx_free(fx);
}

static void
dispatch__authenticate_wrong_secret__authentication_fail(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	fx_send(fx, c, "{\"command\":\"AUTHENTICATE\",\"secret\":\"abd\","
	    "\"id\":\"A\"}");
	fx_see(c, "AUTHENTICATION_FAIL");
	fx_expect_nothing(c);
	assert_false(fx_open(fx, c));
	assert_int_equal(fx->srv->nservers, 0);
	fx_free(fx);
}

static void
dispatch__authenticate_base_protocol__accepted(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	/* Only the secret, as a base-protocol server sends it. */
	fx_send(fx, c, "{\"command\":\"AUTHENTICATE\",\"secret\":\"abc\"}");
	assert_true(fx_open(fx, c));
	assert_int_equal(c->peer->role, PEER_SERVER);
	assert_int_equal(fx->srv->nservers, 1);
	fx_free(fx);
}

/* Login. */

static void
dispatch__login_anonymous_null_secret__success(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"secret\":null}");
	fx_see(c, "LOGIN_SUCCESS");
	fx_expect_nothing(c);		/* nothing outside the base protocol */
	assert_true(fx_open(fx, c));
	assert_int_equal(fx->srv->nclients, 1);
	fx_free(fx);
}

static void
dispatch__login_unknown_user__login_failed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"s\"}");
	fx_see(c, "LOGIN_FAILED");
	assert_false(fx_open(fx, c));
	assert_int_equal(fx->srv->nclients, 0);
	fx_free(fx);
}

static void
dispatch__login_wrong_or_no_secret__login_failed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c1 = fx_connect(fx), *c2 = fx_connect(fx);
	struct fx_conn	*c3 = fx_connect(fx);

	(void)state;
	registry_put(fx->srv->reg, "bob", "right", 1, "x");
	fx_send(fx, c1, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"wrong\"}");
	fx_see(c1, "LOGIN_FAILED");
	fx_send(fx, c2, "{\"command\":\"LOGIN\",\"username\":\"bob\"}");
	fx_see(c2, "LOGIN_FAILED");
	fx_send(fx, c3, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":null}");
	fx_see(c3, "LOGIN_FAILED");
	assert_false(fx_open(fx, c1));
	assert_false(fx_open(fx, c2));
	assert_false(fx_open(fx, c3));
	fx_free(fx);
}

static void
dispatch__login_without_secret_after_good_login__login_failed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c1 = fx_connect(fx), *c2 = fx_connect(fx);

	(void)state;
	registry_put(fx->srv->reg, "bob", "right", 1, "x");
	fx_send(fx, c1, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"right\"}");
	fx_see(c1, "LOGIN_SUCCESS");
	/* Someone else, without the secret. */
	fx_send(fx, c2, "{\"command\":\"LOGIN\",\"username\":\"bob\"}");
	fx_see(c2, "LOGIN_FAILED");
	assert_false(fx_open(fx, c2));
	fx_free(fx);
}

static void
dispatch__login_registered__success(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	registry_put(fx->srv->reg, "bob", "right", 1, "x");
	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"right\"}");
	fx_expect_info_has(c, "LOGIN_SUCCESS", "bob");
	assert_true(fx_open(fx, c));
	assert_int_equal(c->peer->role, PEER_CLIENT);
	fx_free(fx);
}

/*
 * A LOGIN whose hash check is under way holds the connection's next
 * lines: an ACTIVITY_MESSAGE written in the same packet is taken once
 * the login succeeded, not refused as coming from a stranger; and it
 * is checked against the digest of the secret logged in with.
 */
static void
dispatch__login_hashed_then_activity_in_one_write__both_taken(void **state)
{
	static const char lines[] =
	    "{\"command\":\"LOGIN\",\"username\":\"bob\",\"secret\":"
	    "\"right\"}\n"
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"bob\","
	    "\"secret\":\"right\",\"activity\":{\"a\":1}}\n"
	    "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"bob\","
	    "\"secret\":\"wrong\",\"activity\":{\"a\":2}}\n";
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);
	char		 h[256];

	(void)state;
	assert_int_equal(hashpool_hash("right", h, sizeof h), 0);
	assert_true(hashpool_is_hash(h));
	assert_false(hashpool_verify("wrong", h));
	registry_put(fx->srv->reg, "bob", h, 1, "x");
	fx_write(fx, c, lines, sizeof lines - 1);
	fx_see(c, "LOGIN_SUCCESS");
	fx_see(c, "ACTIVITY_BROADCAST");
	fx_see(c, "AUTHENTICATION_FAIL");
	assert_false(fx_open(fx, c));
	fx_free(fx);
}

/*
 * A server hashing in 2 threads (with paused, the workers idle and only
 * the rescuer hashes), with bob registered with the secret "right".
 */
static struct fx *
threaded_fx(int paused)
{
	struct config	 cfg;
	struct fx	*fx;
	char		 h[256];

	fx_config(&cfg);
	cfg.hash_threads = 2;
	fx = fx_new_cfg("srv", &cfg);
	if (paused)
		hashpool_pause_workers(fx->srv->hashpool, 1);
	assert_int_equal(hashpool_hash("right", h, sizeof h), 0);
	registry_put(fx->srv->reg, "bob", h, 1, "x");
	return fx;
}

/*
 * With worker threads the answer comes back through the pipe: the
 * loop, run until a deadline, delivers LOGIN_SUCCESS, and a wrong
 * secret LOGIN_FAILED.
 */
static void
dispatch__login_hashed_by_threads__answered_through_the_loop(void **state)
{
	struct fx	*fx = threaded_fx(0);
	struct fx_conn	*c1, *c2;
	int		 i;

	(void)state;
	c1 = fx_connect(fx);
	c2 = fx_connect(fx);
	fx_send(fx, c1, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"right\"}");
	fx_send(fx, c2, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"wrong\"}");
	/* A hash takes milliseconds: wait, boundedly, for both answers. */
	for (i = 0; i < 2000 && (fx_peer(fx, c1) == NULL ||
	    fx_peer(fx, c1)->role != PEER_CLIENT || fx_open(fx, c2)); i++) {
		usleep(5000);
		fx_run(fx);
	}
	fx_see(c1, "LOGIN_SUCCESS");
	fx_see(c2, "LOGIN_FAILED");
	assert_false(fx_open(fx, c2));
	fx_free(fx);
}

/* The real monotonic clock in ms (the fixture's is frozen). */
static uint64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Workers at idle priority starve on a machine with no idle CPU (here:
 * paused): the rescuer takes a LOGIN that has waited HASHPOOL_RESCUE_MS
 * and answers it, no sooner.
 */
static void
dispatch__login_starved_workers__rescued_after_wait(void **state)
{
	struct fx	*fx = threaded_fx(1);
	struct fx_conn	*c;
	uint64_t	 t0, waited;
	int		 i;

	(void)state;
	c = fx_connect(fx);
	t0 = mono_ms();
	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"right\"}");
	for (i = 0; i < 2000 && (fx_peer(fx, c) == NULL ||
	    fx_peer(fx, c)->role != PEER_CLIENT); i++) {
		usleep(5000);
		fx_run(fx);
	}
	waited = mono_ms() - t0;
	fx_see(c, "LOGIN_SUCCESS");
	assert_int_equal(hashpool_rescues(fx->srv->hashpool), 1);
	assert_true(waited >= 200);
	fx_free(fx);
}

/*
 * A LOGIN still waiting for the hash pool at --auth-timeout (a storm
 * under --hash-cpu; here the workers are paused, and the loop has not
 * run since) is answered, not closed as a connection that never said
 * anything.
 */
static void
cron__login_in_hash_queue_past_auth_timeout__answered(void **state)
{
	struct fx	*fx = threaded_fx(1);
	struct fx_conn	*c;
	int		 i;

	(void)state;
	c = fx_connect(fx);
	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"right\"}");
	fx_advance(fx, (uint64_t)fx->srv->cfg.auth_timeout_ms + 1);
	for (i = 0; i < 2000 && fx_peer(fx, c) != NULL &&
	    fx_peer(fx, c)->role != PEER_CLIENT; i++) {
		usleep(5000);
		fx_run(fx);
	}
	fx_see(c, "LOGIN_SUCCESS");
	fx_free(fx);
}

/* A hash of secret, registered as user at time t. */
static void
put_user(struct fx *fx, const char *user, const char *secret, uint64_t t)
{
	char	 h[256];

	assert_int_equal(hashpool_hash(secret, h, sizeof h), 0);
	assert_int_not_equal(registry_put(fx->srv->reg, user, h, t, "x"),
	    REG_ERROR);
}

/*
 * LOGIN as user with secret on a new connection, expect the answer
 * (LOGIN_SUCCESS or LOGIN_FAILED), and say how many slow hashes it
 * cost.
 */
static uint64_t
login_hashes(struct fx *fx, const char *user, const char *secret,
    const char *expect)
{
	struct fx_conn	*c = fx_connect(fx);
	uint64_t	 n0 = hashpool_submitted(fx->srv->hashpool);

	fx_sendf(fx, c, "{\"command\":\"LOGIN\",\"username\":\"%s\","
	    "\"secret\":\"%s\"}", user, secret);
	fx_run(fx);
	fx_see(c, expect);
	return hashpool_submitted(fx->srv->hashpool) - n0;
}

/* A server whose login cache keeps entries ttl_ms, at most size. */
static struct fx *
cache_fx(int ttl_ms, int size)
{
	struct config	 cfg;

	fx_config(&cfg);
	cfg.login_cache_ttl_ms = ttl_ms;
	cfg.login_cache_size = size;
	return fx_new_cfg("srv", &cfg);
}

/*
 * A second LOGIN with the secret the slow hash accepted is answered
 * from the cache, without a hash; it also keeps the activity check.
 */
static void
logincache__same_secret_again__no_slow_hash(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c;

	(void)state;
	put_user(fx, "bob", "right", 1);
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 1);
	assert_int_equal(logincache_count(fx->srv->logincache), 1);
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 0);
	assert_int_equal(logincache_hits(fx->srv->logincache), 1);
	/* Logged in from the cache, its activities are checked the same. */
	c = fx_connect(fx);
	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"right\"}");
	fx_send(fx, c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"bob\",\"secret\":\"right\",\"activity\":{\"a\":1}}");
	fx_send(fx, c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"bob\",\"secret\":\"wrong\",\"activity\":{\"a\":2}}");
	fx_see(c, "LOGIN_SUCCESS");
	fx_see(c, "ACTIVITY_BROADCAST");
	fx_see(c, "AUTHENTICATION_FAIL");
	assert_false(fx_open(fx, c));
	assert_int_equal(logincache_hits(fx->srv->logincache), 2);
	fx_free(fx);
}

/* A wrong secret is never remembered: each try costs a slow hash. */
static void
logincache__wrong_secret__not_cached(void **state)
{
	struct fx	*fx = fx_new("srv");

	(void)state;
	put_user(fx, "bob", "right", 1);
	assert_int_equal(login_hashes(fx, "bob", "wrong", "LOGIN_FAILED"), 1);
	assert_int_equal(logincache_count(fx->srv->logincache), 0);
	assert_int_equal(login_hashes(fx, "bob", "wrong", "LOGIN_FAILED"), 1);
	/* With the right one cached, a wrong one still fails, by hash. */
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 1);
	assert_int_equal(login_hashes(fx, "bob", "wrong", "LOGIN_FAILED"), 1);
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 0);
	assert_int_equal(logincache_hits(fx->srv->logincache), 1);
	fx_free(fx);
}

/* An entry is good for --login-cache-ttl from the slow hash, no more. */
static void
logincache__ttl_passed__slow_hash_again(void **state)
{
	struct fx	*fx = cache_fx(60000, LOGINCACHE_SIZE);

	(void)state;
	put_user(fx, "bob", "right", 1);
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 1);
	fx_advance(fx, 59999);
	/* A hit does not make the entry last longer. */
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 0);
	fx_advance(fx, 1);
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 1);
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 0);
	fx_free(fx);
}

/* --login-cache-ttl 0: every LOGIN is a slow hash, nothing kept. */
static void
logincache__ttl_0__off(void **state)
{
	struct fx	*fx = cache_fx(0, LOGINCACHE_SIZE);

	(void)state;
	put_user(fx, "bob", "right", 1);
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 1);
	assert_int_equal(login_hashes(fx, "bob", "right", "LOGIN_SUCCESS"), 1);
	assert_int_equal(logincache_count(fx->srv->logincache), 0);
	fx_free(fx);
}

/* At --login-cache-size the oldest entry makes room for a new one. */
static void
logincache__full__oldest_evicted(void **state)
{
	struct fx	*fx = cache_fx(LOGINCACHE_TTL_MS, 2);

	(void)state;
	put_user(fx, "a", "sa", 1);
	put_user(fx, "b", "sb", 1);
	put_user(fx, "c", "sc", 1);
	assert_int_equal(login_hashes(fx, "a", "sa", "LOGIN_SUCCESS"), 1);
	fx_advance(fx, 1);
	assert_int_equal(login_hashes(fx, "b", "sb", "LOGIN_SUCCESS"), 1);
	fx_advance(fx, 1);
	assert_int_equal(login_hashes(fx, "c", "sc", "LOGIN_SUCCESS"), 1);
	assert_int_equal(logincache_count(fx->srv->logincache), 2);
	/* b and c are kept; a was the oldest. */
	assert_int_equal(login_hashes(fx, "c", "sc", "LOGIN_SUCCESS"), 0);
	assert_int_equal(login_hashes(fx, "b", "sb", "LOGIN_SUCCESS"), 0);
	assert_int_equal(login_hashes(fx, "a", "sa", "LOGIN_SUCCESS"), 1);
	assert_int_equal(logincache_count(fx->srv->logincache), 2);
	fx_free(fx);
}

/*
 * The user's stored hash changes (a registration that wins, as
 * USER_SYNC or a journal would put it): the cached old secret fails
 * at once, by slow hash, and the new one logs in.
 */
static void
logincache__stored_hash_changed__old_secret_fails_at_once(void **state)
{
	struct fx	*fx = fx_new("srv");
	char		 h[256];

	(void)state;
	put_user(fx, "bob", "old", 2);
	assert_int_equal(login_hashes(fx, "bob", "old", "LOGIN_SUCCESS"), 1);
	/* The earlier registration wins. */
	assert_int_equal(hashpool_hash("new", h, sizeof h), 0);
	assert_int_equal(registry_put(fx->srv->reg, "bob", h, 1, "x"),
	    REG_REPLACED);
	assert_int_equal(login_hashes(fx, "bob", "old", "LOGIN_FAILED"), 1);
	/* The stale entry is gone, not just unmatched. */
	assert_int_equal(logincache_count(fx->srv->logincache), 0);
	assert_int_equal(login_hashes(fx, "bob", "new", "LOGIN_SUCCESS"), 1);
	assert_int_equal(login_hashes(fx, "bob", "new", "LOGIN_SUCCESS"), 0);
	fx_free(fx);
}

/*
 * --hash-cpu bounds what the hashing spends: at 1 % of a CPU (2 ms of
 * budget saved up) eight hashes of half a millisecond or more each
 * cannot all start within 100 ms; they wait, and are all answered.
 */
static void
hashpool__cpu_budget__logins_wait_then_answered(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*c[8];
	uint64_t	 t0, waited;
	int		 i, k, done;
	char		 user[16], secret[16];

	(void)state;
	fx_config(&cfg);
	cfg.hash_threads = 2;
	cfg.hash_cpu = 1;
	cfg.login_cache_ttl_ms = 0;
	fx = fx_new_cfg("srv", &cfg);
	for (k = 0; k < 8; k++) {
		snprintf(user, sizeof user, "u%d", k);
		snprintf(secret, sizeof secret, "s%d", k);
		put_user(fx, user, secret, 1);
	}
	t0 = mono_ms();
	for (k = 0; k < 8; k++) {
		c[k] = fx_connect(fx);
		fx_sendf(fx, c[k], "{\"command\":\"LOGIN\",\"username\":"
		    "\"u%d\",\"secret\":\"s%d\"}", k, k);
	}
	for (i = 0, done = 0; i < 6000 && done < 8; i++) {
		usleep(5000);
		fx_run(fx);
		for (k = 0, done = 0; k < 8; k++)
			if (fx_peer(fx, c[k]) != NULL &&
			    fx_peer(fx, c[k])->role == PEER_CLIENT)
				done++;
	}
	waited = mono_ms() - t0;
	for (k = 0; k < 8; k++)
		fx_see(c[k], "LOGIN_SUCCESS");
	assert_true(waited >= 100);
	fx_free(fx);
}

/* Server A (other:8001) announces this load on link l. */
static void
announce_a(struct fx *fx, struct fx_conn *l, int load)
{
	fx_sendf(fx, l, "{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"A\","
	    "\"load\":%d,\"hostname\":\"other\",\"port\":8001}", load);
}

static void
dispatch__login_with_less_loaded_server__redirect(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");
	struct fx_conn	*c1, *c2;
	cJSON		*j;

	(void)state;
	announce_a(fx, l, 0);
	/* Our load 1, theirs 0: not 2 below, stay. */
	c1 = fx_client(fx);
	/* Our load 2, theirs 0: go there. */
	c2 = fx_connect(fx);
	fx_send(fx, c2, "{\"command\":\"LOGIN\",\"username\":\"anonymous\"}");
	fx_see(c2, "LOGIN_SUCCESS");
	j = fx_expect(c2, "REDIRECT");
	assert_string_equal(fx_str(j, "hostname"), "other");
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "port")));
	assert_int_equal(cJSON_GetObjectItem(j, "port")->valueint, 8001);
	cJSON_Delete(j);
	fx_expect_nothing(c2);
	assert_false(fx_open(fx, c2));
	assert_true(fx_open(fx, c1));
	assert_int_equal(fx->srv->nclients, 1);
	fx_free(fx);
}

/* An anonymous LOGIN on a new connection; 1 if a REDIRECT followed. */
static int
login_redirected(struct fx *fx, const char *extra)
{
	struct fx_conn	*c = fx_connect(fx);
	cJSON		*j;
	int		 redirected;

	fx_sendf(fx, c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\"%s}",
	    extra);
	fx_see(c, "LOGIN_SUCCESS");
	redirected = (j = fx_expect_skip_opt(c, "REDIRECT")) != NULL;
	cJSON_Delete(j);
	assert_int_equal(fx_open(fx, c), !redirected);
	return redirected;
}

/*
 * A joining child says its load in AUTHENTICATE: its parent does not
 * take it for an empty server and send it every client that arrives.
 */
static void
dispatch__authenticate_with_load__child_counted_at_it(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_connect(fx);

	(void)state;
	fx_sendf(fx, l, "{\"command\":\"AUTHENTICATE\",\"secret\":\"%s\","
	    "\"id\":\"A\",\"host\":\"other\",\"port\":8001,\"load\":5}",
	    fx->srv->cfg.secret);
	fx_see(l, "AUTHENTICATE_SUCCESS");
	fx_client(fx);
	/* Ours 2, A's 5: stay (counted at 0, A would have got it). */
	assert_false(login_redirected(fx, ""));
	/* A load that is no count is refused like any bad field. */
	l = fx_connect(fx);
	fx_sendf(fx, l, "{\"command\":\"AUTHENTICATE\",\"secret\":\"%s\","
	    "\"id\":\"B\",\"load\":-1}", fx->srv->cfg.secret);
	fx_expect_info_has(l, "INVALID_MESSAGE", "'load'");
	assert_false(fx_open(fx, l));
	fx_free(fx);
}

/*
 * One client at a time per target: until A announces again, its load
 * as we know it may be stale, and simultaneous logins on every server
 * would be passed around.  Its announce lets the next one go.
 */
static void
dispatch__redirect__one_per_target_until_it_announces(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");
	int		 i;

	(void)state;
	announce_a(fx, l, 100);
	for (i = 0; i < 4; i++)
		fx_client(fx);
	announce_a(fx, l, 0);
	assert_true(login_redirected(fx, ""));
	assert_false(login_redirected(fx, ""));
	announce_a(fx, l, 1);
	assert_true(login_redirected(fx, ""));
	fx_free(fx);
}

/*
 * A client that resumes a session is failing over: it stays where it
 * logged in, however stale the loads look.  One that does not resume
 * is redirected as before.
 */
static void
dispatch__resuming_login__not_redirected(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");

	(void)state;
	announce_a(fx, l, 0);
	fx_client(fx);
	assert_false(login_redirected(fx, ",\"features\":[\"resume\"],"
	    "\"resume\":{\"session\":\"\",\"seen\":{},\"since\":0}"));
	assert_true(login_redirected(fx, ""));
	fx_free(fx);
}

/* While a server of the tree reconnects, nobody is redirected. */
static void
dispatch__login_while_a_server_reconnects__not_redirected(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");

	(void)state;
	announce_a(fx, l, 0);
	fx_send(fx, l, "{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"B\","
	    "\"load\":0,\"hostname\":\"far\",\"port\":8002,"
	    "\"status\":\"reconnecting\",\"mid\":\"B:1\"}");
	fx_client(fx);
	fx_client(fx);
	assert_false(login_redirected(fx, ""));
	/* B is back: the tree is whole, balancing resumes. */
	fx_send(fx, l, "{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"B\","
	    "\"load\":0,\"hostname\":\"far\",\"port\":8002,"
	    "\"mid\":\"B:2\"}");
	assert_true(login_redirected(fx, ""));
	fx_free(fx);
}

/*
 * A neighbour silent for a heartbeat interval and a half is stopped or
 * cut off, though not yet timed out: no client is sent there.
 */
static void
dispatch__silent_neighbour__not_a_redirect_target(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");

	(void)state;
	announce_a(fx, l, 0);
	fx_client(fx);
	fx_advance(fx, (uint64_t)fx->srv->cfg.heartbeat_ms * 3 / 2 + 10);
	assert_true(fx_open(fx, l));
	assert_false(login_redirected(fx, ""));
	/* It speaks again (a PONG, say): a target again. */
	fx_send(fx, l, "{\"command\":\"PONG\"}");
	assert_true(login_redirected(fx, ""));
	fx_free(fx);
}

/* The servers in the BACKUP_LIST a client gets, as "port" numbers. */
static int
client_backup_ports(struct fx *fx, int *ports, int max)
{
	struct fx_conn	*c = fx_connect(fx);
	cJSON		*j, *e;
	int		 n = 0;

	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":[\"backup_list\"]}");
	fx_see(c, "LOGIN_SUCCESS");
	j = fx_expect_skip(c, "BACKUP_LIST");
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "servers"))
		if (n < max)
			ports[n++] = cJSON_GetObjectItem(e, "port")->valueint;
	cJSON_Delete(j);
	return n;
}

/*
 * The root's clients go first where its children go if it dies: the
 * oldest child, the successor.  Only the rest is rotated per client.
 */
static void
dispatch__root_client_backup_list__successor_first(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l[3];
	int		 ports[8], i, k, n, later_first = 0;
	char		 id[2] = "A";

	(void)state;
	for (i = 0; i < 3; i++) {
		l[i] = fx_connect(fx);
		id[0] = (char)('A' + i);
		fx_sendf(fx, l[i], "{\"command\":\"AUTHENTICATE\","
		    "\"secret\":\"%s\",\"id\":\"%s\",\"host\":\"h\","
		    "\"port\":%d,\"load\":100}", fx->srv->cfg.secret, id,
		    9000 + i);
		fx_see(l[i], "AUTHENTICATE_SUCCESS");
	}
	for (k = 0; k < 4; k++) {
		n = client_backup_ports(fx, ports, 8);
		assert_int_equal(n, 3);
		assert_int_equal(ports[0], 9000);
		later_first += ports[1] == 9002;
	}
	/* The fallbacks after it still differ from client to client. */
	assert_true(later_first > 0 && later_first < 4);
	fx_free(fx);
}

/*
 * A resume gets, in order, exactly what its "seen" map lacks, after the
 * log has grown past its first ring (1024) and dropped its oldest
 * (--replay-max 1200 of 1500 sent): 1491..1500 of the sender it has
 * seen up to 1490.  Nothing for a sender it has seen all of.
 */
static void
dispatch__resume_after_log_wrapped__exactly_the_unseen_in_order(
    void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*pub, *c;
	cJSON		*j;
	char		 session[128];
	int		 i, want;

	(void)state;
	fx_config(&cfg);
	cfg.dcfg.replay_max = 1200;
	fx = fx_new_cfg("srv", &cfg);
	pub = fx_connect(fx);
	fx_send(fx, pub, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":[\"activity_seq\"]}");
	j = fx_expect(pub, "LOGIN_SUCCESS");
	snprintf(session, sizeof session, "%s", fx_str(j, "session"));
	cJSON_Delete(j);
	for (i = 1; i <= 1500; i++) {
		fx_sendf(fx, pub, "{\"command\":\"ACTIVITY_MESSAGE\","
		    "\"username\":\"anonymous\",\"activity_seq\":%d,"
		    "\"activity\":{\"n\":%d}}", i, i);
		fx_drain(pub);
	}
	assert_int_equal(replay_count(fx->srv), 1200);

	c = fx_connect(fx);
	fx_sendf(fx, c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":[\"activity_seq\",\"resume\"],\"resume\":{"
	    "\"session\":\"\",\"seen\":{\"%s\":1490},\"since\":0}}", session);
	fx_see(c, "LOGIN_SUCCESS");
	for (want = 1491; (j = fx_expect_skip_opt(c,
	    "ACTIVITY_BROADCAST")) != NULL; want++) {
		assert_int_equal(cJSON_GetObjectItem(j,
		    "activity_seq")->valueint, want);
		cJSON_Delete(j);
	}
	assert_int_equal(want, 1501);

	c = fx_connect(fx);
	fx_sendf(fx, c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":[\"activity_seq\",\"resume\"],\"resume\":{"
	    "\"session\":\"\",\"seen\":{\"%s\":1500},\"since\":0}}", session);
	fx_see(c, "LOGIN_SUCCESS");
	assert_null(fx_expect_skip_opt(c, "ACTIVITY_BROADCAST"));
	fx_free(fx);
}

/*
 * bob logs in at R; a logout of an older session of his at C2 is
 * announced after that.  The logout concerns C2 only: when R is lost
 * and bob, a base-protocol client, logs in here, he is given what was
 * sent since (before, the newer logout hid R and he got nothing).
 */
static void
dispatch__logout_elsewhere__presence_at_r_kept_and_replayed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*r = fx_link(fx, "R"), *pub, *bob;
	cJSON		*j;
	uint64_t	 now = wall_ms();

	(void)state;
	registry_put(fx->srv->reg, "bob", "pw", 1, "x");
	fx_sendf(fx, r, "{\"command\":\"USER_PRESENCE\",\"username\":\"bob\","
	    "\"id\":\"R\",\"time\":%llu,\"mid\":\"R:1\"}",
	    (unsigned long long)now - 1000);
	fx_sendf(fx, r, "{\"command\":\"USER_PRESENCE\",\"username\":\"bob\","
	    "\"id\":\"\",\"time\":%llu,\"mid\":\"C2:1\"}",
	    (unsigned long long)now - 500);
	fx_hangup(fx, r);
	assert_false(fx_open(fx, r));
	pub = fx_client(fx);
	fx_send(fx, pub, "{\"command\":\"ACTIVITY_MESSAGE\","
	    "\"username\":\"anonymous\",\"activity\":{\"n\":1}}");
	fx_drain(pub);

	bob = fx_connect(fx);
	fx_send(fx, bob, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"pw\"}");
	fx_see(bob, "LOGIN_SUCCESS");
	j = fx_expect_skip(bob, "ACTIVITY_BROADCAST");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "activity"), "n")->valueint, 1);
	cJSON_Delete(j);
	fx_free(fx);
}

static void
dispatch__logout__closed_without_reply(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);

	(void)state;
	fx_send(fx, c, "{\"command\":\"LOGOUT\"}");
	fx_expect_nothing(c);
	assert_false(fx_open(fx, c));
	assert_int_equal(fx->srv->nclients, 0);
	fx_free(fx);
}

static void
dispatch__client_hangs_up__count_drops(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);

	(void)state;
	assert_int_equal(fx->srv->nclients, 1);
	fx_hangup(fx, c);
	assert_null(fx_peer(fx, c));
	assert_int_equal(fx->srv->nclients, 0);
	fx_free(fx);
}

/* Activities. */

static void
dispatch__activity__processed_and_broadcast_everywhere(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c1 = fx_client(fx), *c2 = fx_client(fx);
	struct fx_conn	*l = fx_link(fx, "A");
	struct fx_conn	*targets[3];
	int		 i;

	(void)state;
	targets[0] = c1;
	targets[1] = c2;
	targets[2] = l;
	fx_send(fx, c1, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"secret\":null,\"activity\":{\"authenticated_user"
	    "\":\"mallory\",\"text\":\"h\xc3\xa9llo\",\"n\":"
	    "123456789012345678901234567890,\"z\":[null,{}]}}");
	for (i = 0; i < 3; i++) {
		cJSON *j = fx_expect_skip(targets[i], "ACTIVITY_BROADCAST");
		cJSON *a = cJSON_GetObjectItem(j, "activity");

		assert_true(cJSON_IsObject(a));
		assert_string_equal(fx_str(a, "authenticated_user"),
		    "anonymous");
		assert_string_equal(fx_str(a, "text"), "h\xc3\xa9llo");
		assert_true(cJSON_IsArray(cJSON_GetObjectItem(a, "z")));
		if (targets[i] != l)	/* base clients: nothing extra */
			assert_int_equal(cJSON_GetArraySize(j), 2);
		cJSON_Delete(j);
	}
	assert_true(fx_open(fx, c1));
	fx_free(fx);
}

static void
dispatch__activity_big_integer__bytes_unchanged(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);
	char		*l;

	(void)state;
	fx_send(fx, c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"activity\":{\"n\":123456789012345678901234567890,"
	    "\"f\":1.50e+2}}");
	l = fx_recv(c);
	assert_non_null(l);
	assert_non_null(strstr(l, "123456789012345678901234567890"));
	assert_non_null(strstr(l, "1.50e+2"));
	free(l);
	fx_free(fx);
}

static void
dispatch__activity_escaped_authenticated_user__overwritten(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);
	char		*l;
	cJSON		*j, *a;

	(void)state;
	fx_send(fx, c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"activity\":{\"authenticated_\\u0075ser\":"
	    "\"mallory\"}}");
	l = fx_recv(c);
	assert_non_null(l);
	assert_null(strstr(l, "mallory"));
	j = cJSON_Parse(l);
	assert_non_null(j);
	a = cJSON_GetObjectItem(j, "activity");
	assert_string_equal(fx_str(a, "authenticated_user"), "anonymous");
	cJSON_Delete(j);
	free(l);
	fx_free(fx);
}

static void
dispatch__activity_wrong_username__authentication_fail(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx), *other = fx_client(fx);

	(void)state;
	fx_send(fx, c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"bob\",\"secret\":\"x\",\"activity\":{}}");
	fx_see(c, "AUTHENTICATION_FAIL");
	assert_false(fx_open(fx, c));
	fx_expect_nothing(other);	/* nothing was broadcast */
	assert_true(fx_open(fx, other));
	fx_free(fx);
}

static void
dispatch__activity_wrong_secret__authentication_fail(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	registry_put(fx->srv->reg, "bob", "right", 1, "x");
	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"bob\","
	    "\"secret\":\"right\"}");
	fx_see(c, "LOGIN_SUCCESS");
	fx_send(fx, c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"bob\",\"secret\":\"wrong\",\"activity\":{}}");
	fx_see(c, "AUTHENTICATION_FAIL");
	assert_false(fx_open(fx, c));
	fx_free(fx);
}

static void
dispatch__activity_from_server__forwarded_not_echoed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");

	(void)state;
	fx_send(fx, a, "{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":"
	    "{\"authenticated_user\":\"z\",\"k\":1}}");
	cJSON_Delete(fx_expect_skip(b, "ACTIVITY_BROADCAST"));
	cJSON_Delete(fx_expect_skip(c, "ACTIVITY_BROADCAST"));
	while (1) {	/* never back where it came from */
		char *l = fx_recv(a);

		if (l == NULL)
			break;
		assert_null(strstr(l, "ACTIVITY_BROADCAST"));
		free(l);
	}
	fx_free(fx);
}

/* Server links. */

static void
dispatch__user_sync__users_merged(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");

	(void)state;
	fx_send(fx, l, "{\"command\":\"USER_SYNC\",\"users\":[{\"username\":"
	    "\"u1\",\"secret\":\"s1\",\"time\":5,\"origin\":\"A\"},"
	    "{\"username\":\"u2\",\"secret\":\"s2\"}]}");
	assert_true(fx_open(fx, l));
	assert_non_null(registry_find(fx->srv->reg, "u1"));
	assert_non_null(registry_find(fx->srv->reg, "u2"));
	fx_free(fx);
}

static void
dispatch__user_sync_malformed_entry__invalid_message(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");

	(void)state;
	fx_send(fx, l, "{\"command\":\"USER_SYNC\",\"users\":[{\"username\":"
	    "\"u1\"}]}");
	cJSON_Delete(fx_expect_skip(l, "INVALID_MESSAGE"));
	assert_false(fx_open(fx, l));
	fx_free(fx);
}

static void
dispatch__user_sync_longest_allowed_name__merged(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");
	char		 name[257];

	(void)state;
	/* REGISTER accepts names of up to 256 bytes; a join must carry
	 * them to the other servers. */
	memset(name, 'n', 256);
	name[256] = '\0';
	fx_sendf(fx, l, "{\"command\":\"USER_SYNC\",\"users\":[{\"username\":"
	    "\"%s\",\"secret\":\"s\",\"time\":1,\"origin\":\"A\"}]}", name);
	fx_expect_nothing(l);
	assert_true(fx_open(fx, l));
	assert_non_null(registry_find(fx->srv->reg, name));
	fx_free(fx);
}

static void
dispatch__authenticate__reply_carries_users(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);
	cJSON		*j, *users, *u;

	(void)state;
	registry_put(fx->srv->reg, "alice", "s1", 1, "srv");
	fx_send(fx, c, "{\"command\":\"AUTHENTICATE\",\"secret\":\"abc\","
	    "\"id\":\"A\",\"host\":\"h\",\"port\":8001}");
	j = fx_expect(c, "AUTHENTICATE_SUCCESS");
	assert_string_equal(fx_str(j, "id"), "srv");
	users = cJSON_GetObjectItem(j, "users");
	assert_true(cJSON_IsArray(users));
	assert_int_equal(cJSON_GetArraySize(users), 1);
	u = cJSON_GetArrayItem(users, 0);
	assert_string_equal(fx_str(u, "username"), "alice");
	assert_string_equal(fx_str(u, "secret"), "s1");
	cJSON_Delete(j);
	fx_free(fx);
}

/*
 * Every command, valid as far as the table goes, from every kind of
 * connection: the server never crashes, every line it sends is a valid
 * message by the same table, and a connection it closes was told why
 * (unless the peer itself said goodbye).
 */

static const unsigned all_types[] = {
	JSON_STRING, JSON_NUMBER, JSON_OBJECT, JSON_ARRAY, JSON_BOOL,
	JSON_NULL,
};

static const char *
sample(unsigned types)
{
	size_t	 i;

	for (i = 0; i < sizeof all_types / sizeof all_types[0]; i++) {
		switch (types & all_types[i]) {
		case JSON_STRING:
			return "\"x\"";
		case JSON_NUMBER:
			return "1";
		case JSON_OBJECT:
			return "{}";
		case JSON_ARRAY:
			return "[]";
		case JSON_BOOL:
			return "true";
		case JSON_NULL:
			return "null";
		}
	}
	return "null";
}

static void
build_sample(struct jbuf *b, enum msg_cmd cmd, int optional)
{
	const struct msg_def	*d = &msg_defs[cmd];
	int			 i;

	jbuf_reset(b);
	jbuf_adds(b, "{\"command\":");
	jbuf_cstr(b, d->name);
	for (i = 0; i < MSG_FIELDS_MAX && d->fields[i].types != 0; i++) {
		if (!(d->fields[i].flags & MSG_REQ) && !optional)
			continue;
		jbuf_addc(b, ',');
		jbuf_cstr(b, msg_field_name(d->fields[i].field));
		jbuf_addc(b, ':');
		jbuf_adds(b, sample(d->fields[i].types));
	}
	jbuf_addc(b, '}');
}

static void
check_output(struct fx *fx, struct fx_conn *c, enum msg_cmd sent,
    const char *line, int role)
{
	struct msg	 m;
	char		 err[512], *l;
	int		 last = -1;

	while ((l = fx_recv(c)) != NULL) {
		if (msg_parse(l, strlen(l), &m, err, sizeof err) != 0)
			fail_msg("after %s (role %d) the server sent an "
			    "invalid line (%s): %s", line, role, err, l);
		last = (int)m.cmd;
		free(l);
	}
	if (fx_open(fx, c))
		return;
	if (sent == CMD_LOGOUT || sent == CMD_INVALID_MESSAGE ||
	    sent == CMD_AUTHENTICATION_FAIL)
		return;
	if (last != CMD_INVALID_MESSAGE && last != CMD_AUTHENTICATION_FAIL &&
	    last != CMD_LOGIN_FAILED && last != CMD_REGISTER_FAILED &&
	    last != CMD_REDIRECT)
		fail_msg("after %s (role %d) the connection was closed "
		    "without a reason (last reply %s)", line, role,
		    last < 0 ? "none" : msg_cmd_name((enum msg_cmd)last));
}

static void
dispatch__every_command_every_role__served_or_refused_with_reason(
    void **state)
{
	struct jbuf	 b;
	int		 cmd, role, optional;

	(void)state;
	jbuf_init(&b);
	for (cmd = 0; cmd < CMD__COUNT; cmd++) {
		for (optional = 0; optional <= 1; optional++) {
			build_sample(&b, (enum msg_cmd)cmd, optional);
			for (role = 0; role < 3; role++) {
				struct fx	*fx = fx_new("srv");
				struct fx_conn	*other = fx_client(fx);
				struct fx_conn	*c = role == 0 ?
				    fx_connect(fx) : role == 1 ?
				    fx_client(fx) : fx_link(fx, "A");

				fx_drain(other);
				fx_send(fx, c, b.p);
				check_output(fx, c, (enum msg_cmd)cmd, b.p,
				    role);
				/* Whatever happened, others are served. */
				fx_send(fx, other, "{\"command\":\"PING\"}");
				cJSON_Delete(fx_expect_skip(other, "PONG"));
				fx_advance(fx, 100);
				fx_free(fx);
			}
		}
	}
	jbuf_free(&b);
}

/*
 * Regression: strtoull took a message id "B: -1" as counter 2^64 - 1,
 * after which every real message of B counted as a repeat for ever.
 * An id with a sign, a space or too many digits is refused and the
 * link closed; B's real announces are still taken.
 */
static void
dispatch__mid_with_sign_or_space__link_refused_origin_kept(void **state)
{
	const char	*bad[] = { "B: -1", "B:-1", "B:+7", "B:007",
			    "B:1234567890123456789" };
	struct fx	*fx;
	struct fx_conn	*l;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fx = fx_new("srv");
		l = fx_link(fx, "A");
		fx_sendf(fx, l, "{\"command\":\"SERVER_ANNOUNCE\",\"id\":"
		    "\"B\",\"load\":0,\"hostname\":\"far\",\"port\":8002,"
		    "\"mid\":\"%s\"}", bad[i]);
		fx_expect_info_has(l, "INVALID_MESSAGE", "'mid'");
		if (known_find(fx->srv, "B") != NULL)
			fail_msg("mid '%s' was taken", bad[i]);
		l = fx_link(fx, "C");
		fx_send(fx, l, "{\"command\":\"SERVER_ANNOUNCE\",\"id\":"
		    "\"B\",\"load\":0,\"hostname\":\"far\",\"port\":8002,"
		    "\"mid\":\"B:1\"}");
		if (known_find(fx->srv, "B") == NULL)
			fail_msg("after mid '%s', B's real announce was "
			    "dropped", bad[i]);
		fx_free(fx);
	}
}

/*
 * Regression: one ACTIVITY_BROADCAST with an activity_seq far ahead of
 * a session's real numbering made every later activity of the session
 * count as an old repeat here, for ever.  Now, after 64 of them rising
 * far below the window, the numbering starts again: the rest of the
 * session's activities reach our client.
 */
static void
dispatch__forged_activity_seq__session_heard_again(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A"), *c = fx_client(fx);
	cJSON		*j;
	char		*line;
	int		 i, got = 0, last = 0;

	(void)state;
	fx_send(fx, l, "{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":"
	    "{\"n\":-1},\"mid\":\"A:1\",\"sender\":\"A.7\","
	    "\"activity_seq\":1000000000,\"prev\":999999999,"
	    "\"username\":\"anonymous\"}");
	fx_see(c, "ACTIVITY_BROADCAST");
	for (i = 1; i <= 200; i++)
		fx_sendf(fx, l, "{\"command\":\"ACTIVITY_BROADCAST\","
		    "\"activity\":{\"n\":%d},\"mid\":\"A:%d\",\"sender\":"
		    "\"A.7\",\"activity_seq\":%d,\"prev\":%d,\"username\":"
		    "\"anonymous\"}", i, i + 1, i, i - 1);
	fx_run(fx);
	while ((line = fx_recv(c)) != NULL) {
		j = cJSON_Parse(line);
		free(line);
		assert_non_null(j);
		got++;
		last = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(j, "activity"),
		    "n")->valueint;
		cJSON_Delete(j);
	}
	if (got < 200 - 64 || last != 200)
		fail_msg("%d of the session's 200 activities delivered, the "
		    "last %d", got, last);
	fx_free(fx);
}

/* The next ACTIVITY_SUCC_INFO on c: its mid, client_count, partial. */
static void
succ_info(struct fx_conn *c, char *mid, size_t len, int *count,
    int *partial)
{
	cJSON	*j = fx_expect_skip(c, "ACTIVITY_SUCC_INFO");

	snprintf(mid, len, "%s", fx_str(j, "mid"));
	*count = cJSON_GetObjectItemCaseSensitive(j, "client_count")->valueint;
	*partial = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j,
	    "partial"));
	cJSON_Delete(j);
}

/*
 * --max-pending-reports 2, and a link sends a third reported activity:
 * the oldest report is answered at once as partial and forgotten, and
 * the newcomer is counted (it used to be refused with an empty partial
 * answer, so a flooding link kept every newcomer from being counted).
 */
static void
dispatch__reports_table_full__oldest_answered_newcomer_counted(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*la, *lb;
	char		 mid[64];
	int		 i, count, partial;

	(void)state;
	fx_config(&cfg);
	cfg.dcfg.max_reports = 2;
	fx = fx_new_cfg("srv", &cfg);
	la = fx_link(fx, "A");
	lb = fx_link(fx, "B");
	for (i = 1; i <= 3; i++)
		fx_sendf(fx, la, "{\"command\":\"ACTIVITY_BROADCAST\","
		    "\"activity\":{\"n\":%d},\"mid\":\"A:%d\",\"report\":"
		    "true,\"username\":\"u\"}", i, i);
	succ_info(la, mid, sizeof mid, &count, &partial);
	assert_string_equal(mid, "A:1");
	assert_true(partial);
	fx_drain(la);
	fx_send(fx, lb, "{\"command\":\"ACTIVITY_SUCC_INFO\",\"username\":"
	    "\"u\",\"activity_seq\":0,\"client_count\":5,\"succ_count\":5,"
	    "\"mid\":\"A:3\"}");
	succ_info(la, mid, sizeof mid, &count, &partial);
	assert_string_equal(mid, "A:3");
	assert_int_equal(count, 5);
	assert_false(partial);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dispatch__not_json__invalid_message_and_closed),
		cmocka_unit_test(dispatch__non_object__invalid_message),
		cmocka_unit_test(
		    dispatch__no_or_unknown_command__invalid_message),
		cmocka_unit_test(
		    dispatch__missing_or_mistyped_field__invalid_message_names_it),
		cmocka_unit_test(
		    dispatch__bad_line_then_good_line__later_line_not_processed),
		cmocka_unit_test(
		    dispatch__many_lines_in_one_write__each_answered),
		cmocka_unit_test(
		    dispatch__line_split_across_writes__answered_once_complete),
		cmocka_unit_test(dispatch__over_long_line__invalid_message),
		cmocka_unit_test(dispatch__line_of_exactly_the_cap__accepted),
		cmocka_unit_test(dispatch__nul_byte__invalid_message),
		cmocka_unit_test(
		    dispatch__peer_sends_invalid_message__closed_silently),
		cmocka_unit_test(
		    dispatch__activity_before_login__authentication_fail),
		cmocka_unit_test(
		    dispatch__client_commands_from_server_link__invalid_message),
		cmocka_unit_test(
		    dispatch__activity_message_from_server_link__invalid_message),
		cmocka_unit_test(
		    dispatch__server_commands_from_client__invalid_message),
		cmocka_unit_test(
		    dispatch__server_commands_from_unauthenticated__invalid_message),
		cmocka_unit_test(
		    dispatch__server_to_client_commands__refused_from_anyone),
		cmocka_unit_test(dispatch__login_twice__invalid_message),
		cmocka_unit_test(
		    dispatch__register_when_logged_in__invalid_message),
		cmocka_unit_test(dispatch__authenticate_twice__invalid_message),
		cmocka_unit_test(
		    dispatch__authenticate_wrong_secret__authentication_fail),
		cmocka_unit_test(
		    dispatch__authenticate_base_protocol__accepted),
		cmocka_unit_test(
		    dispatch__login_anonymous_null_secret__success),
		cmocka_unit_test(dispatch__login_unknown_user__login_failed),
		cmocka_unit_test(
		    dispatch__login_wrong_or_no_secret__login_failed),
		cmocka_unit_test(
		    dispatch__login_without_secret_after_good_login__login_failed),
		cmocka_unit_test(dispatch__login_registered__success),
		cmocka_unit_test(
		    dispatch__login_hashed_then_activity_in_one_write__both_taken),
		cmocka_unit_test(
		    dispatch__login_hashed_by_threads__answered_through_the_loop),
		cmocka_unit_test(
		    dispatch__login_starved_workers__rescued_after_wait),
		cmocka_unit_test(logincache__same_secret_again__no_slow_hash),
		cmocka_unit_test(logincache__wrong_secret__not_cached),
		cmocka_unit_test(logincache__ttl_passed__slow_hash_again),
		cmocka_unit_test(logincache__ttl_0__off),
		cmocka_unit_test(logincache__full__oldest_evicted),
		cmocka_unit_test(
		    logincache__stored_hash_changed__old_secret_fails_at_once),
		cmocka_unit_test(
		    hashpool__cpu_budget__logins_wait_then_answered),
		cmocka_unit_test(
		    cron__login_in_hash_queue_past_auth_timeout__answered),
		cmocka_unit_test(
		    dispatch__login_with_less_loaded_server__redirect),
		cmocka_unit_test(
		    dispatch__authenticate_with_load__child_counted_at_it),
		cmocka_unit_test(
		    dispatch__redirect__one_per_target_until_it_announces),
		cmocka_unit_test(dispatch__resuming_login__not_redirected),
		cmocka_unit_test(
		    dispatch__mid_with_sign_or_space__link_refused_origin_kept),
		cmocka_unit_test(dispatch__forged_activity_seq__session_heard_again),
		cmocka_unit_test(
		    dispatch__reports_table_full__oldest_answered_newcomer_counted),
		cmocka_unit_test(
		    dispatch__login_while_a_server_reconnects__not_redirected),
		cmocka_unit_test(
		    dispatch__silent_neighbour__not_a_redirect_target),
		cmocka_unit_test(
		    dispatch__root_client_backup_list__successor_first),
		cmocka_unit_test(
		    dispatch__resume_after_log_wrapped__exactly_the_unseen_in_order),
		cmocka_unit_test(
		    dispatch__logout_elsewhere__presence_at_r_kept_and_replayed),
		cmocka_unit_test(dispatch__logout__closed_without_reply),
		cmocka_unit_test(dispatch__client_hangs_up__count_drops),
		cmocka_unit_test(
		    dispatch__activity__processed_and_broadcast_everywhere),
		cmocka_unit_test(
		    dispatch__activity_big_integer__bytes_unchanged),
		cmocka_unit_test(
		    dispatch__activity_escaped_authenticated_user__overwritten),
		cmocka_unit_test(
		    dispatch__activity_wrong_username__authentication_fail),
		cmocka_unit_test(
		    dispatch__activity_wrong_secret__authentication_fail),
		cmocka_unit_test(
		    dispatch__activity_from_server__forwarded_not_echoed),
		cmocka_unit_test(dispatch__user_sync__users_merged),
		cmocka_unit_test(
		    dispatch__user_sync_malformed_entry__invalid_message),
		cmocka_unit_test(
		    dispatch__user_sync_longest_allowed_name__merged),
		cmocka_unit_test(dispatch__authenticate__reply_carries_users),
		cmocka_unit_test(
		    dispatch__every_command_every_role__served_or_refused_with_reason),
	};

	if (getenv("TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
