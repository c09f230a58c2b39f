/*
 * uplink.c: the parent link's state machine, one transition at a time.
 * The uplink dials a real (closed) port; its connection is then moved
 * onto a bufferevent pair, so the test plays the parent: the handshake
 * of handshake.c, AUTHENTICATE_SUCCESS with its proof, BACKUP_LIST, a
 * closed link.  The clock is the fixture's mock one; the backoff timers
 * are libevent's, waited for with a deadline.
 */
#include "test_fixture.h"

#include <unistd.h>

#include "auth.h"
#include "uplink.h"

/* Start joining towards a closed port and adopt the connection. */
static struct fx_conn *
start(struct fx *fx)
{
	struct fx_conn	*c;

	assert_int_equal(uplink_state(fx->srv), UPLINK_NONE);
	uplink_start(fx->srv, "127.0.0.1", 1);
	assert_int_equal(uplink_state(fx->srv), UPLINK_CONNECTING);
	c = fx_adopt_outgoing(fx);
	assert_int_equal(c->peer->role, PEER_UPLINK_AUTH);
	/* TCP is up: the uplink says SERVER_HELLO. */
	uplink_connected(fx->srv, c->peer);
	fx_run(fx);
	assert_int_equal(uplink_state(fx->srv), UPLINK_AUTHENTICATING);
	return c;
}

/* The parent closes its end: our side sees EOF. */
static void
hang_up(struct fx *fx, struct fx_conn *c)
{
	bufferevent_flush(c->mine, EV_WRITE, BEV_FINISHED);
	fx_run(fx);
	assert_false(fx_open(fx, c));
	fx_run(fx);
}

/* Run the loop (real timers) until the uplink is in st, or fail. */
static void
wait_state(struct fx *fx, enum uplink_state st)
{
	int	 i;

	for (i = 0; i < 1500 && uplink_state(fx->srv) != st; i++) {
		event_base_loop(fx->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(5000);
	}
	assert_string_equal(uplink_state_name(uplink_state(fx->srv)),
	    uplink_state_name(st));
}

/* none -> waiting -> connecting -> authenticating -> established */
static void
uplink__handshake_proved__established(void **state)
{
	struct fx	*fx = fx_new("child");
	struct fx_conn	*c;

	(void)state;
	c = start(fx);
	fx_parent_accepts(fx, c, 1);
	assert_int_equal(uplink_state(fx->srv), UPLINK_ESTABLISHED);
	assert_true(uplink_peer(fx->srv) == c->peer);
	assert_false(uplink_reconnecting(fx->srv));
	fx_free(fx);
}

/*
 * authenticating -> waiting: a parent whose proof fails is refused,
 * and the round (one target) fails into a backoff.
 */
static void
uplink__parent_proof_wrong__refused_round_failed(void **state)
{
	struct fx	*fx = fx_new("child");
	struct fx_conn	*c;

	(void)state;
	c = start(fx);
	fx_parent_accepts(fx, c, 0);
	fx_see(c, "AUTHENTICATION_FAIL");
	assert_false(fx_open(fx, c));
	fx_run(fx);
	assert_int_equal(uplink_state(fx->srv), UPLINK_WAITING);
	assert_null(uplink_peer(fx->srv));
	assert_true(uplink_reconnecting(fx->srv));
	fx_free(fx);
}

/* authenticating -> waiting: a forged AUTHENTICATE_SUCCESS at once. */
static void
uplink__accept_before_challenge__refused(void **state)
{
	struct fx	*fx = fx_new("child");
	struct fx_conn	*c;

	(void)state;
	c = start(fx);
	fx_see(c, "SERVER_HELLO");
	fx_send(fx, c, "{\"command\":\"AUTHENTICATE_SUCCESS\",\"id\":\"P\","
	    "\"users\":[{\"username\":\"alice\",\"secret\":\"x\"}]}");
	fx_see(c, "AUTHENTICATION_FAIL");
	fx_run(fx);
	assert_null(registry_find(fx->srv->reg, "alice"));
	assert_int_equal(uplink_state(fx->srv), UPLINK_WAITING);
	fx_free(fx);
}

/* waiting -> connecting: the backoff timer dials again. */
static void
uplink__waiting__retry_dials_again(void **state)
{
	struct fx	*fx = fx_new("child");
	struct fx_conn	*c;

	(void)state;
	c = start(fx);
	hang_up(fx, c);		/* the parent hangs up */
	assert_int_equal(uplink_state(fx->srv), UPLINK_WAITING);
	/* The backoff (25-50 ms for the first round) ends in a dial. */
	wait_state(fx, UPLINK_CONNECTING);
	fx_free(fx);
}

/*
 * established -> waiting: the parent link is lost; with no backup list
 * from the parent we are no successor, so we try again.
 */
static void
uplink__established_lost__fails_over(void **state)
{
	struct fx	*fx = fx_new("child");
	struct fx_conn	*c;

	(void)state;
	c = start(fx);
	fx_parent_accepts(fx, c, 1);
	assert_int_equal(uplink_state(fx->srv), UPLINK_ESTABLISHED);
	hang_up(fx, c);
	assert_true(uplink_state(fx->srv) == UPLINK_WAITING ||
	    uplink_state(fx->srv) == UPLINK_CONNECTING);
	assert_true(uplink_reconnecting(fx->srv));
	fx_free(fx);
}

/*
 * A server that was itself stopped past --heartbeat-timeout reads, when
 * it runs again, what its parent queued meanwhile and then the parent's
 * close.  The relink must ask for what it lacks from before the stall,
 * not from those stale reads: a new origin's activity sent during the
 * stall is covered only by "since".  Both orders of the turn after the
 * stall: the close read before cron runs, and after.
 */
static void
uplink__lost_after_own_stall__since_before_the_stall(void **state)
{
	struct fx	*fx;
	struct fx_conn	*c;
	uint64_t	 stall = 3000, wall;
	int		 cron_first;

	(void)state;
	for (cron_first = 0; cron_first <= 1; cron_first++) {
		fx = fx_new("child");
		c = start(fx);
		fx_parent_accepts(fx, c, 1);
		assert_int_equal(uplink_state(fx->srv), UPLINK_ESTABLISHED);
		fx_advance(fx, 50);
		/* Stopped: no cron tick for stall ms, then a queued PING. */
		fx->now += stall;
		clock_mock(fx->now);
		fx_send(fx, c, "{\"command\":\"PING\"}");
		if (cron_first)
			fx_advance(fx, 0);
		assert_true(fx_open(fx, c));
		wall = wall_ms();
		hang_up(fx, c);
		/* Last heard before the stall, less the 1 s margin. */
		assert_true(fx->srv->since_ms + stall + 1000 <= wall + 100);
		fx_free(fx);
	}
}

/*
 * established -> none: a parent that sent an empty BACKUP_LIST made us
 * the root's successor; losing it, we serve as root at once.
 */
static void
uplink__lost_with_empty_backup_list__serves_as_root(void **state)
{
	struct fx	*fx = fx_new("child");
	struct fx_conn	*c;

	(void)state;
	c = start(fx);
	fx_parent_accepts(fx, c, 1);
	fx_send(fx, c, "{\"command\":\"BACKUP_LIST\",\"servers\":[],"
	    "\"path\":[\"P\"]}");
	assert_true(fx_open(fx, c));
	hang_up(fx, c);
	assert_int_equal(uplink_state(fx->srv), UPLINK_NONE);
	assert_false(uplink_reconnecting(fx->srv));
	fx_free(fx);
}

/*
 * none -> connecting: serving as root, the successor still probes the
 * parent it lost (every 2 s), so a repaired link merges the groups.
 */
static void
uplink__successor__probes_the_lost_parent(void **state)
{
	struct fx	*fx = fx_new("child");
	struct fx_conn	*c;

	(void)state;
	c = start(fx);
	fx_parent_accepts(fx, c, 1);
	fx_send(fx, c, "{\"command\":\"BACKUP_LIST\",\"servers\":[],"
	    "\"path\":[\"P\"]}");
	hang_up(fx, c);
	assert_int_equal(uplink_state(fx->srv), UPLINK_NONE);
	wait_state(fx, UPLINK_CONNECTING);
	fx_free(fx);
}

/*
 * waiting -> none: after the parent is lost, three rounds in which no
 * target even takes the connection (here a closed port) make us serve
 * our part of the tree as its root.
 */
static void
uplink__nobody_takes_us_in__serves_as_root(void **state)
{
	struct fx	*fx = fx_new("child");
	struct fx_conn	*c;

	(void)state;
	c = start(fx);
	fx_parent_accepts(fx, c, 1);
	hang_up(fx, c);
	assert_true(uplink_reconnecting(fx->srv));
	/* Each round dials 127.0.0.1:1, refused; backoff 50-200 ms. */
	wait_state(fx, UPLINK_NONE);
	assert_false(uplink_reconnecting(fx->srv));
	fx_free(fx);
}

/* An event the table does not allow from the state is refused. */
static void
uplink_fsm__event_not_in_table__state_kept(void **state)
{
	struct fx	*fx = fx_new("child");

	(void)state;
	assert_int_equal(uplink_state(fx->srv), UPLINK_NONE);
	assert_int_equal(uplink_fsm(fx->srv, UE_ACCEPTED), -1);
	assert_int_equal(uplink_fsm(fx->srv, UE_LOST), -1);
	assert_int_equal(uplink_state(fx->srv), UPLINK_NONE);
	assert_int_equal(uplink_fsm(fx->srv, UE_START), 0);
	assert_int_equal(uplink_state(fx->srv), UPLINK_WAITING);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uplink__handshake_proved__established),
		cmocka_unit_test(
		    uplink__parent_proof_wrong__refused_round_failed),
		cmocka_unit_test(uplink__accept_before_challenge__refused),
		cmocka_unit_test(uplink__waiting__retry_dials_again),
		cmocka_unit_test(uplink__established_lost__fails_over),
		cmocka_unit_test(uplink__lost_after_own_stall__since_before_the_stall),
		cmocka_unit_test(
		    uplink__lost_with_empty_backup_list__serves_as_root),
		cmocka_unit_test(uplink__successor__probes_the_lost_parent),
		cmocka_unit_test(uplink__nobody_takes_us_in__serves_as_root),
		cmocka_unit_test(uplink_fsm__event_not_in_table__state_kept),
	};

	return cmocka_run_group_tests_name("uplink", tests, NULL, NULL);
}
