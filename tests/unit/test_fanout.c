/*
 * Fan-outs that walk the client or link list and send to each: a send
 * can drop the peer it is on (its output over the cap), which takes it
 * off the list mid-walk.  Every other peer must still get the line.
 * Built with ASan (make check-asan) a walk through a dropped peer's
 * links would also show as a bad read.
 */
#include "test_fixture.h"

#define OUTBUF_CAP	4096

/*
 * Make c's peer a slow consumer one byte short of its cap: the test's
 * end stops reading, and filler fills the queue, so the next line sent
 * to it drops it.
 */
static void
fill_to_cap(struct fx_conn *c, size_t cap)
{
	static char	 junk[OUTBUF_CAP];

	memset(junk, ' ', sizeof junk);
	assert_true(cap <= sizeof junk);
	bufferevent_disable(c->mine, EV_READ);
	assert_int_equal(peer_send(c->peer, junk, cap - 1 -
	    peer_queued(c->peer)), 0);
	assert_false(c->peer->closing);
}

/* A client that asked for every feature the fan-outs look at. */
static struct fx_conn *
client_with_features(struct fx *fx)
{
	struct fx_conn	*c = fx_client(fx);

	c->peer->features |= FEAT_BIT(FEAT_CLUSTER_STATUS) |
	    FEAT_BIT(FEAT_BACKUP_LIST);
	return c;
}

static void
known_send_status__first_client_dropped__others_still_get_it(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*a, *b, *c;

	(void)state;
	fx->srv->cfg.client_outbuf = OUTBUF_CAP;
	a = client_with_features(fx);
	b = client_with_features(fx);
	c = client_with_features(fx);
	fill_to_cap(a, OUTBUF_CAP);
	known_send_status(fx->srv, NULL);
	assert_true(a->peer->closing);
	fx_run(fx);
	fx_see(b, "CLUSTER_STATUS");
	fx_see(c, "CLUSTER_STATUS");
	fx_expect_nothing(b);
	fx_expect_nothing(c);
	fx_free(fx);
}

static void
backup_send_all__dropped_link_and_client__others_still_get_it(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l1, *l2, *l3, *a, *b, *c;

	(void)state;
	fx->srv->cfg.client_outbuf = OUTBUF_CAP;
	fx->srv->cfg.server_outbuf = OUTBUF_CAP;
	/* Clients first: with links up a login may be redirected. */
	a = client_with_features(fx);
	b = client_with_features(fx);
	c = client_with_features(fx);
	l1 = fx_link(fx, "A");
	l2 = fx_link(fx, "B");
	l3 = fx_link(fx, "C");
	fill_to_cap(l1, OUTBUF_CAP);
	fill_to_cap(a, OUTBUF_CAP);
	backup_send_all(fx->srv);
	assert_true(l1->peer->closing);
	assert_true(a->peer->closing);
	fx_run(fx);
	cJSON_Delete(fx_expect_skip(l2, "BACKUP_LIST"));
	cJSON_Delete(fx_expect_skip(l3, "BACKUP_LIST"));
	cJSON_Delete(fx_expect_skip(b, "BACKUP_LIST"));
	cJSON_Delete(fx_expect_skip(c, "BACKUP_LIST"));
	fx_free(fx);
}

static void
lock_fan_out__first_link_dropped__others_still_asked(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l1, *l2, *l3, *c;

	(void)state;
	fx->srv->cfg.server_outbuf = OUTBUF_CAP;
	l1 = fx_link(fx, "A");
	l2 = fx_link(fx, "B");
	l3 = fx_link(fx, "C");
	c = fx_connect(fx);
	fill_to_cap(l1, OUTBUF_CAP);
	fx_send(fx, c, "{\"command\":\"REGISTER\",\"username\":\"alice\","
	    "\"secret\":\"s1\"}");
	assert_false(fx_open(fx, l1));
	cJSON_Delete(fx_expect_skip(l2, "LOCK_REQUEST"));
	cJSON_Delete(fx_expect_skip(l3, "LOCK_REQUEST"));
	assert_true(lock_pending(fx->srv, "alice"));
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    known_send_status__first_client_dropped__others_still_get_it),
		cmocka_unit_test(
		    backup_send_all__dropped_link_and_client__others_still_get_it),
		cmocka_unit_test(
		    lock_fan_out__first_link_dropped__others_still_asked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
