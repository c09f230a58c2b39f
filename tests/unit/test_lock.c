/*
 * lock.c: registration across the cluster, driven through real peers on
 * bufferevent pairs.  Fake server links are connections that sent
 * AUTHENTICATE with the right secret; the test plays every other
 * server by writing their answers on those links.
 */
#include "test_fixture.h"

#include <sys/stat.h>
#include <errno.h>
#include <unistd.h>

#define ORIGIN	(fx->srv->id)

/*
 * The hash of the secret of the last registration send_register() made
 * (the cluster never sees the secret itself): what the test's servers
 * must answer about.
 */
static char	 H[256];

static void
send_register(struct fx *fx, struct fx_conn *c, const char *user,
    const char *secret)
{
	const struct user	*u;
	const char		*h;

	fx_sendf(fx, c, "{\"command\":\"REGISTER\",\"username\":\"%s\","
	    "\"secret\":\"%s\"}", user, secret);
	fx_run(fx);
	if ((h = lock_secret(fx->srv, user)) == NULL &&
	    (u = registry_find(fx->srv->reg, user)) != NULL)
		h = u->secret;
	if (h != NULL && hashpool_verify(secret, h)) {
		assert_string_not_equal(h, secret);
		assert_true(hashpool_is_hash(h));
		snprintf(H, sizeof H, "%s", h);
	}
}

/* The next line on c is cmd about user/secret from origin. */
static void
expect_lock(struct fx_conn *c, const char *cmd, const char *user,
    const char *secret, const char *origin)
{
	cJSON	*j = fx_expect(c, cmd);

	assert_non_null(fx_str(j, "username"));
	assert_string_equal(fx_str(j, "username"), user);
	assert_non_null(fx_str(j, "secret"));
	assert_string_equal(fx_str(j, "secret"), secret);
	assert_non_null(fx_str(j, "origin"));
	assert_string_equal(fx_str(j, "origin"), origin);
	cJSON_Delete(j);
}

/* A USER_REGISTER_RESULT with this outcome, skipping announces etc. */
static void
expect_result(struct fx_conn *c, const char *result, const char *user,
    const char *secret, const char *origin)
{
	cJSON	*j = fx_expect_skip(c, "USER_REGISTER_RESULT");

	assert_string_equal(fx_str(j, "result"), result);
	assert_string_equal(fx_str(j, "username"), user);
	assert_string_equal(fx_str(j, "secret"), secret);
	assert_string_equal(fx_str(j, "origin"), origin);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j,
	    "time")));
	cJSON_Delete(j);
}

static void
register__no_links__success_at_once(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_expect_info(c, "REGISTER_SUCCESS", "register success for alice");
	fx_expect_nothing(c);
	assert_true(fx_open(fx, c));
	assert_non_null(registry_find(fx->srv->reg, "alice"));
	assert_string_equal(registry_find(fx->srv->reg, "alice")->secret, H);
	assert_string_equal(registry_find(fx->srv->reg, "alice")->origin,
	    "srv");
	assert_false(lock_pending(fx->srv, "alice"));
	fx_free(fx);
}

static void
register__then_login_on_new_connection__success(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx), *c2;

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_see(c, "REGISTER_SUCCESS");
	fx_hangup(fx, c);
	c2 = fx_connect(fx);
	fx_send(fx, c2, "{\"command\":\"LOGIN\",\"username\":\"alice\","
	    "\"secret\":\"s1\"}");
	fx_expect_info_has(c2, "LOGIN_SUCCESS", "alice");
	assert_true(fx_open(fx, c2));
	fx_free(fx);
}

static void
register__already_registered__failed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	registry_put(fx->srv->reg, "alice", "other", 1, "x");
	send_register(fx, c, "alice", "s1");
	fx_expect_info(c, "REGISTER_FAILED", "username is registered");
	assert_false(fx_open(fx, c));
	fx_free(fx);
}

static void
register__two_links__lock_request_on_both_then_wait(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	expect_lock(a, "LOCK_REQUEST", "alice", H, ORIGIN);
	expect_lock(b, "LOCK_REQUEST", "alice", H, ORIGIN);
	fx_expect_nothing(a);
	fx_expect_nothing(b);
	fx_expect_nothing(c);
	assert_true(lock_pending(fx->srv, "alice"));
	assert_true(lock_client_waiting(fx->srv, c->peer));
	assert_null(registry_find(fx->srv->reg, "alice"));
	fx_free(fx);
}

static void
register__allowed_by_both__success_and_result_on_both(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_drain(b);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_expect_nothing(c);		/* B has not answered yet */
	assert_true(lock_pending(fx->srv, "alice"));
	fx_send_lock(fx, b, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_expect_info(c, "REGISTER_SUCCESS", "register success for alice");
	assert_true(fx_open(fx, c));
	expect_result(a, "success", "alice", H, ORIGIN);
	expect_result(b, "success", "alice", H, ORIGIN);
	assert_non_null(registry_find(fx->srv->reg, "alice"));
	assert_false(lock_pending(fx->srv, "alice"));
	fx_free(fx);
}

static void
register__allowed_twice_by_one_link__still_waits_for_other(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_drain(b);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_expect_nothing(c);
	assert_true(lock_pending(fx->srv, "alice"));
	fx_free(fx);
}

static void
register__answer_for_other_secret__ignored(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", "s2", ORIGIN);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, "elsewhere");
	fx_send_lock(fx, a, "LOCK_ALLOWED", "bob", "s1", ORIGIN);
	fx_expect_nothing(c);
	assert_true(lock_pending(fx->srv, "alice"));
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_see(c, "REGISTER_SUCCESS");
	fx_free(fx);
}

static void
register__one_denied__failed_and_result_on_both(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_drain(b);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_send_lock(fx, b, "LOCK_DENIED", "alice", H, ORIGIN);
	fx_expect_info(c, "REGISTER_FAILED", "username is registered");
	assert_false(fx_open(fx, c));
	expect_result(a, "failure", "alice", H, ORIGIN);
	expect_result(b, "failure", "alice", H, ORIGIN);
	assert_null(registry_find(fx->srv->reg, "alice"));
	assert_false(lock_pending(fx->srv, "alice"));
	fx_free(fx);
}

static void
register__denied_first__failed_without_waiting(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_drain(b);
	fx_send_lock(fx, a, "LOCK_DENIED", "alice", H, ORIGIN);
	fx_expect_info(c, "REGISTER_FAILED", "username is registered");
	/* B's late answer finds nothing and changes nothing. */
	fx_send_lock(fx, b, "LOCK_ALLOWED", "alice", H, ORIGIN);
	assert_null(registry_find(fx->srv->reg, "alice"));
	assert_true(fx_open(fx, b));
	fx_free(fx);
}

static void
register__link_closes_while_waiting__counts_as_allowed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_drain(b);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_expect_nothing(c);
	fx_hangup(fx, b);
	assert_false(fx_open(fx, b));
	fx_expect_info(c, "REGISTER_SUCCESS", "register success for alice");
	expect_result(a, "success", "alice", H, ORIGIN);
	assert_non_null(registry_find(fx->srv->reg, "alice"));
	fx_free(fx);
}

static void
register__link_closes_first__still_waits_for_the_other(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_drain(b);
	fx_hangup(fx, b);
	fx_expect_nothing(c);
	assert_true(lock_pending(fx->srv, "alice"));
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_see(c, "REGISTER_SUCCESS");
	fx_free(fx);
}

static void
register__every_link_closes__success(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_hangup(fx, a);
	fx_hangup(fx, b);
	fx_see(c, "REGISTER_SUCCESS");
	fx_free(fx);
}

static void
register__timeout__failed_timed_out(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*a, *c;

	(void)state;
	fx_config(&cfg);
	cfg.register_timeout_ms = 200;
	fx = fx_new_cfg("srv", &cfg);
	a = fx_link(fx, "A");
	c = fx_connect(fx);
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_advance(fx, 199);
	fx_expect_nothing(c);
	assert_true(lock_pending(fx->srv, "alice"));
	fx_advance(fx, 1);
	fx_expect_info(c, "REGISTER_FAILED", "registration timed out");
	assert_false(fx_open(fx, c));
	expect_result(a, "failure", "alice", H, ORIGIN);
	assert_false(lock_pending(fx->srv, "alice"));
	/* A late answer is harmless. */
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	assert_null(registry_find(fx->srv->reg, "alice"));
	assert_true(fx_open(fx, a));
	fx_free(fx);
}

static void
register__waiting_client__not_dropped_by_login_deadline(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*a, *c;

	(void)state;
	fx_config(&cfg);
	cfg.auth_timeout_ms = 100;
	cfg.register_timeout_ms = 1000;
	fx = fx_new_cfg("srv", &cfg);
	a = fx_link(fx, "A");
	c = fx_connect(fx);
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_advance(fx, 500);
	assert_true(fx_open(fx, c));
	fx_expect_nothing(c);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_see(c, "REGISTER_SUCCESS");
	fx_free(fx);
}

static void
register__name_under_register__failed_under_register(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A");
	struct fx_conn	*c1 = fx_connect(fx), *c2 = fx_connect(fx);

	(void)state;
	send_register(fx, c1, "alice", "s1");
	send_register(fx, c2, "alice", "s2");
	fx_expect_info(c2, "REGISTER_FAILED",
	    "username is under register process");
	assert_false(fx_open(fx, c2));
	fx_expect_nothing(c1);
	assert_true(fx_open(fx, c1));
	/* Only the first request went out. */
	expect_lock(a, "LOCK_REQUEST", "alice", H, ORIGIN);
	fx_expect_nothing(a);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_see(c1, "REGISTER_SUCCESS");
	assert_string_equal(registry_find(fx->srv->reg, "alice")->secret, H);
	fx_free(fx);
}

static void
register__name_locked_by_relay__failed_under_register(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s1", "x");
	fx_drain(b);
	send_register(fx, c, "alice", "s2");
	fx_expect_info(c, "REGISTER_FAILED",
	    "username is under register process");
	fx_free(fx);
}

static void
register__twice_on_one_connection__invalid_message(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	send_register(fx, c, "bob", "s1");
	fx_see(c, "INVALID_MESSAGE");
	assert_false(fx_open(fx, c));
	(void)a;
	fx_free(fx);
}

static void
register__client_hangs_up_while_waiting__registration_completes(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_hangup(fx, c);
	assert_null(fx_peer(fx, c));
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	expect_result(a, "success", "alice", H, ORIGIN);
	assert_non_null(registry_find(fx->srv->reg, "alice"));
	fx_free(fx);
}

static void
register__too_many_pending__failed(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*c1, *c2;

	(void)state;
	fx_config(&cfg);
	cfg.max_pending_reg = 1;
	fx = fx_new_cfg("srv", &cfg);
	fx_link(fx, "A");
	c1 = fx_connect(fx);
	c2 = fx_connect(fx);
	send_register(fx, c1, "alice", "s1");
	send_register(fx, c2, "bob", "s2");
	fx_expect_info_has(c2, "REGISTER_FAILED", "too many registrations");
	assert_true(fx_open(fx, c1));
	fx_free(fx);
}

static void
register__reserved_and_empty_names__failed(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c1 = fx_connect(fx), *c2 = fx_connect(fx);

	(void)state;
	send_register(fx, c1, "anonymous", "s1");
	fx_see(c1, "REGISTER_FAILED");
	send_register(fx, c2, "", "s1");
	fx_see(c2, "REGISTER_FAILED");
	assert_int_equal(registry_count(fx->srv->reg), 0);
	fx_free(fx);
}

/* Relays: a server between the origin and the rest of the tree. */

static void
relay__request__forwarded_then_allowed_for_subtree(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*d = fx_link(fx, "D");

	(void)state;
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s1", "o");
	expect_lock(b, "LOCK_REQUEST", "alice", "s1", "o");
	expect_lock(d, "LOCK_REQUEST", "alice", "s1", "o");
	fx_expect_nothing(a);
	assert_true(lock_pending(fx->srv, "alice"));
	fx_send_lock(fx, b, "LOCK_ALLOWED", "alice", "s1", "o");
	fx_expect_nothing(a);
	fx_send_lock(fx, d, "LOCK_ALLOWED", "alice", "s1", "o");
	expect_lock(a, "LOCK_ALLOWED", "alice", "s1", "o");
	fx_free(fx);
}

static void
relay__leaf_request__allowed_at_once(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*a = fx_link(fx, "A");

	(void)state;
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s1", "o");
	expect_lock(a, "LOCK_ALLOWED", "alice", "s1", "o");
	assert_true(lock_pending(fx->srv, "alice"));
	fx_free(fx);
}

static void
relay__subtree_denies__denied(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");

	(void)state;
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s1", "o");
	fx_drain(b);
	fx_send_lock(fx, b, "LOCK_DENIED", "alice", "s1", "o");
	expect_lock(a, "LOCK_DENIED", "alice", "s1", "o");
	fx_free(fx);
}

static void
relay__registered_name__allowed_same_secret_denied_other(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");

	(void)state;
	registry_put(fx->srv->reg, "alice", "s1", 1, "x");
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s1", "o");
	expect_lock(a, "LOCK_ALLOWED", "alice", "s1", "o");
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s2", "o");
	expect_lock(a, "LOCK_DENIED", "alice", "s2", "o");
	fx_expect_nothing(b);		/* nothing to ask the rest */
	fx_free(fx);
}

static void
relay__holding_b_gets_a__denies_b_allows_a(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*lb = fx_link(fx, "toward-b");
	struct fx_conn	*la = fx_link(fx, "toward-a");

	(void)state;
	fx_send_lock(fx, lb, "LOCK_REQUEST", "alice", "sb", "b");
	expect_lock(la, "LOCK_REQUEST", "alice", "sb", "b");
	fx_expect_nothing(lb);

	/* Origin "a" sorts first: b loses here. */
	fx_send_lock(fx, la, "LOCK_REQUEST", "alice", "sa", "a");
	expect_lock(lb, "LOCK_DENIED", "alice", "sb", "b");
	expect_lock(lb, "LOCK_REQUEST", "alice", "sa", "a");
	fx_expect_nothing(lb);
	fx_expect_nothing(la);

	/* b's side lets a through; the relay allows a. */
	fx_send_lock(fx, lb, "LOCK_ALLOWED", "alice", "sa", "a");
	expect_lock(la, "LOCK_ALLOWED", "alice", "sa", "a");
	fx_expect_nothing(lb);
	fx_free(fx);
}

static void
relay__holding_a_gets_b__denies_b_keeps_a(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*la = fx_link(fx, "toward-a");
	struct fx_conn	*lb = fx_link(fx, "toward-b");

	(void)state;
	fx_send_lock(fx, la, "LOCK_REQUEST", "alice", "sa", "a");
	expect_lock(lb, "LOCK_REQUEST", "alice", "sa", "a");

	fx_send_lock(fx, lb, "LOCK_REQUEST", "alice", "sb", "b");
	expect_lock(lb, "LOCK_DENIED", "alice", "sb", "b");
	fx_expect_nothing(lb);
	fx_expect_nothing(la);		/* a is not disturbed */

	fx_send_lock(fx, lb, "LOCK_ALLOWED", "alice", "sa", "a");
	expect_lock(la, "LOCK_ALLOWED", "alice", "sa", "a");
	fx_free(fx);
}

static void
relay__same_origin_two_secrets__lower_secret_wins(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*l1 = fx_link(fx, "L1");
	struct fx_conn	*l2 = fx_link(fx, "L2");

	(void)state;
	fx_send_lock(fx, l1, "LOCK_REQUEST", "alice", "s2", "o");
	fx_drain(l2);
	fx_send_lock(fx, l2, "LOCK_REQUEST", "alice", "s1", "o");
	expect_lock(l1, "LOCK_DENIED", "alice", "s2", "o");
	fx_free(fx);
}

static void
relay__same_request_again__allowed(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");

	(void)state;
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s1", "o");
	fx_drain(b);
	fx_send_lock(fx, b, "LOCK_REQUEST", "alice", "s1", "o");
	expect_lock(b, "LOCK_ALLOWED", "alice", "s1", "o");
	fx_free(fx);
}

static void
relay__result_success__registered_lock_dropped_forwarded(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");
	struct fx_conn	*c;

	(void)state;
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s1", "o");
	fx_drain(b);
	fx_send(fx, a, "{\"command\":\"USER_REGISTER_RESULT\",\"result\":"
	    "\"success\",\"username\":\"alice\",\"secret\":\"s1\","
	    "\"origin\":\"o\",\"time\":77}");
	expect_result(b, "success", "alice", "s1", "o");
	assert_false(lock_pending(fx->srv, "alice"));
	assert_non_null(registry_find(fx->srv->reg, "alice"));
	assert_int_equal(registry_find(fx->srv->reg, "alice")->time, 77);
	c = fx_connect(fx);
	send_register(fx, c, "alice", "s9");
	fx_expect_info(c, "REGISTER_FAILED", "username is registered");
	fx_free(fx);
}

static void
relay__result_failure__lock_dropped_not_registered(void **state)
{
	struct fx	*fx = fx_new("m");
	struct fx_conn	*a = fx_link(fx, "A"), *b = fx_link(fx, "B");

	(void)state;
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s1", "o");
	fx_drain(b);
	fx_send(fx, a, "{\"command\":\"USER_REGISTER_RESULT\",\"result\":"
	    "\"failure\",\"username\":\"alice\",\"secret\":\"s1\","
	    "\"origin\":\"o\",\"time\":5}");
	expect_result(b, "failure", "alice", "s1", "o");
	assert_false(lock_pending(fx->srv, "alice"));
	assert_null(registry_find(fx->srv->reg, "alice"));
	fx_free(fx);
}

static void
relay__subtree_silent__denied_at_timeout(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*a, *b;

	(void)state;
	fx_config(&cfg);
	cfg.register_timeout_ms = 200;
	fx = fx_new_cfg("m", &cfg);
	a = fx_link(fx, "A");
	b = fx_link(fx, "B");
	fx_send_lock(fx, a, "LOCK_REQUEST", "alice", "s1", "o");
	fx_drain(b);
	fx_advance(fx, 200);
	{
		cJSON *j = fx_expect_skip(a, "LOCK_DENIED");

		assert_string_equal(fx_str(j, "username"), "alice");
		cJSON_Delete(j);
	}
	/* The name is forgotten after twice the timeout. */
	fx_advance(fx, 200);
	assert_false(lock_pending(fx->srv, "alice"));
	fx_free(fx);
}

/* Origins racing for one name. */

static void
origin_b__request_from_a__yields(void **state)
{
	struct fx	*fx = fx_new("b");
	struct fx_conn	*l = fx_link(fx, "A");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "sb");
	expect_lock(l, "LOCK_REQUEST", "alice", H, "b");
	fx_send_lock(fx, l, "LOCK_REQUEST", "alice", "sa", "a");
	fx_expect_info(c, "REGISTER_FAILED",
	    "username is under register process");
	expect_result(l, "failure", "alice", H, "b");
	expect_lock(l, "LOCK_ALLOWED", "alice", "sa", "a");
	assert_null(registry_find(fx->srv->reg, "alice"));
	fx_free(fx);
}

static void
origin_a__request_from_b__denies_and_succeeds(void **state)
{
	struct fx	*fx = fx_new("a");
	struct fx_conn	*l = fx_link(fx, "B");
	struct fx_conn	*c = fx_connect(fx);

	(void)state;
	send_register(fx, c, "alice", "sa");
	expect_lock(l, "LOCK_REQUEST", "alice", H, "a");
	fx_send_lock(fx, l, "LOCK_REQUEST", "alice", "sb", "b");
	expect_lock(l, "LOCK_DENIED", "alice", "sb", "b");
	fx_expect_nothing(c);
	fx_send_lock(fx, l, "LOCK_ALLOWED", "alice", H, "a");
	fx_see(c, "REGISTER_SUCCESS");
	assert_string_equal(registry_find(fx->srv->reg, "alice")->secret, H);
	fx_free(fx);
}

/* Durability. */

struct tmpdir {
	char	 dir[64];
	char	 path[128];
};

static void
tmpdir_make(struct tmpdir *t)
{
	snprintf(t->dir, sizeof t->dir, "/tmp/test_lock.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof t->path, "%s/users.journal", t->dir);
}

static void
tmpdir_remove(struct tmpdir *t)
{
	unlink(t->path);
	rmdir(t->dir);
}

static void
register__success__journalled_before_reply(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a = fx_link(fx, "A");
	struct fx_conn	*c = fx_connect(fx);
	struct tmpdir	 t;
	char		 err[256], buf[4096];
	FILE		*fp;
	size_t		 n;

	(void)state;
	tmpdir_make(&t);
	assert_int_equal(registry_open(fx->srv->reg, t.dir, err, sizeof err),
	    0);
	send_register(fx, c, "alice", "s1");
	fx_drain(a);
	fx_send_lock(fx, a, "LOCK_ALLOWED", "alice", H, ORIGIN);
	fx_see(c, "REGISTER_SUCCESS");
	fp = fopen(t.path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof buf - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	assert_non_null(strstr(buf, "\"alice\""));
	/* The hash is journalled, never the secret itself. */
	assert_non_null(strstr(buf, H));
	assert_null(strstr(buf, "\"s1\""));
	fx_free(fx);
	tmpdir_remove(&t);
}

static ssize_t
full_write(int fd, const void *buf, size_t len)
{
	(void)fd;
	(void)buf;
	(void)len;
	errno = ENOSPC;
	return -1;
}

static void
register__journal_fails__failed_and_login_refused(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx), *c2;
	struct tmpdir	 t;
	char		 err[256];

	(void)state;
	tmpdir_make(&t);
	assert_int_equal(registry_open(fx->srv->reg, t.dir, err, sizeof err),
	    0);
	/* The disk is full: every write fails. */
	registry_set_io(fx->srv->reg, full_write, NULL);
	send_register(fx, c, "alice", "s1");
	fx_expect_info(c, "REGISTER_FAILED",
	    "the server could not store the registration");
	/* The client was told it failed: the name must not work. */
	c2 = fx_connect(fx);
	fx_send(fx, c2, "{\"command\":\"LOGIN\",\"username\":\"alice\","
	    "\"secret\":\"s1\"}");
	fx_see(c2, "LOGIN_FAILED");
	fx_free(fx);
	tmpdir_remove(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(register__no_links__success_at_once),
		cmocka_unit_test(
		    register__then_login_on_new_connection__success),
		cmocka_unit_test(register__already_registered__failed),
		cmocka_unit_test(
		    register__two_links__lock_request_on_both_then_wait),
		cmocka_unit_test(
		    register__allowed_by_both__success_and_result_on_both),
		cmocka_unit_test(
		    register__allowed_twice_by_one_link__still_waits_for_other),
		cmocka_unit_test(register__answer_for_other_secret__ignored),
		cmocka_unit_test(
		    register__one_denied__failed_and_result_on_both),
		cmocka_unit_test(register__denied_first__failed_without_waiting),
		cmocka_unit_test(
		    register__link_closes_while_waiting__counts_as_allowed),
		cmocka_unit_test(
		    register__link_closes_first__still_waits_for_the_other),
		cmocka_unit_test(register__every_link_closes__success),
		cmocka_unit_test(register__timeout__failed_timed_out),
		cmocka_unit_test(
		    register__waiting_client__not_dropped_by_login_deadline),
		cmocka_unit_test(
		    register__name_under_register__failed_under_register),
		cmocka_unit_test(
		    register__name_locked_by_relay__failed_under_register),
		cmocka_unit_test(
		    register__twice_on_one_connection__invalid_message),
		cmocka_unit_test(
		    register__client_hangs_up_while_waiting__registration_completes),
		cmocka_unit_test(register__too_many_pending__failed),
		cmocka_unit_test(register__reserved_and_empty_names__failed),
		cmocka_unit_test(
		    relay__request__forwarded_then_allowed_for_subtree),
		cmocka_unit_test(relay__leaf_request__allowed_at_once),
		cmocka_unit_test(relay__subtree_denies__denied),
		cmocka_unit_test(
		    relay__registered_name__allowed_same_secret_denied_other),
		cmocka_unit_test(relay__holding_b_gets_a__denies_b_allows_a),
		cmocka_unit_test(relay__holding_a_gets_b__denies_b_keeps_a),
		cmocka_unit_test(
		    relay__same_origin_two_secrets__lower_secret_wins),
		cmocka_unit_test(relay__same_request_again__allowed),
		cmocka_unit_test(
		    relay__result_success__registered_lock_dropped_forwarded),
		cmocka_unit_test(
		    relay__result_failure__lock_dropped_not_registered),
		cmocka_unit_test(relay__subtree_silent__denied_at_timeout),
		cmocka_unit_test(origin_b__request_from_a__yields),
		cmocka_unit_test(origin_a__request_from_b__denies_and_succeeds),
		cmocka_unit_test(register__success__journalled_before_reply),
		cmocka_unit_test(
		    register__journal_fails__failed_and_login_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
