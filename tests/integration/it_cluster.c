/*
 * The cluster status and server list clients are shown (CLUSTER_STATUS)
 * on real processes: a healthy join is NORMAL at once, a dead or
 * stopped server makes it OUT_OF_SERVICE within the heartbeat bound, a
 * server that left is no longer listed, a crashed one is listed as
 * down and forgotten after --forget-after, a restart on the same
 * address replaces its row, and every server gives the same list.
 *
 * Servers announce every 5 s here (-a 5000), as by default, so nothing
 * that waits for an announce passes by luck.  Time bounds are scaled
 * by IT_TIMEOUT_MS (5000 being the unscaled default).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fclient.h"

#define SLOW_ANNOUNCE	"-a", "5000"
#define HB_FAST		"--heartbeat", "100", "--heartbeat-timeout", "500"

/* cmocka setup: no clients yet. */
static int
cl_setup(void **state)
{
	return it_setup(state);
}

/* cmocka teardown: clients, then servers (it_teardown). */
static int
cl_teardown(void **state)
{
	fc_cleanup();
	return it_teardown(state);
}

/* A bound of ms on an unloaded machine, scaled like it_timeout(). */
static uint64_t
scaled(uint64_t ms)
{
	return ms * (uint64_t)it_timeout() / 5000;
}

/* Drive every client for up to ms. */
static void
poll_all(int ms)
{
	struct fclient	**cs;
	int		  n;

	cs = fc_list(&n);
	fc_poll(cs, n, ms);
}

/* Wait, driving the clients, until cond or the deadline (ms). */
#define WAIT_UNTIL(ms, cond, ...) do {					\
	uint64_t _dl = it_now_ms() + (uint64_t)(ms);			\
									\
	while (!(cond)) {						\
		if (it_now_ms() >= _dl)					\
			it_fail(__VA_ARGS__);				\
		poll_all(5);						\
	}								\
} while (0)

/* How many rows of c's last CLUSTER_STATUS are for port. */
static int
rows_for(const struct fclient *c, int port)
{
	const cJSON	*el, *p;
	int		 n = 0;

	cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(c->cluster,
	    "servers")) {
		p = cJSON_GetObjectItemCaseSensitive(el, "port");
		if (cJSON_IsNumber(p) && p->valueint == port)
			n++;
	}
	return n;
}

/* The number of rows in c's last CLUSTER_STATUS. */
static int
nrows(const struct fclient *c)
{
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
	    c->cluster, "servers"));
}

/* Is port listed by c as state st? */
static int
state_is(const struct fclient *c, int port, const char *st)
{
	const char	*s = fc_server_state(c, port);

	return s != NULL && strcmp(s, st) == 0;
}

/* Is port up (or self) in c's list? */
static int
up_in(const struct fclient *c, int port)
{
	return state_is(c, port, "up") || state_is(c, port, "self");
}

/* The id c's list gives the server at port ("" if none). */
static const char *
id_of(const struct fclient *c, int port)
{
	const cJSON	*el, *p, *id;

	cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(c->cluster,
	    "servers")) {
		p = cJSON_GetObjectItemCaseSensitive(el, "port");
		id = cJSON_GetObjectItemCaseSensitive(el, "id");
		if (cJSON_IsNumber(p) && p->valueint == port &&
		    cJSON_IsString(id))
			return id->valuestring;
	}
	return "";
}

/* c's list as "id/state id/state ..." (states other than self as is). */
static void
list_of(const struct fclient *c, char *buf, size_t len)
{
	const cJSON	*el, *id, *st;
	size_t		 n = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(c->cluster,
	    "servers")) {
		id = cJSON_GetObjectItemCaseSensitive(el, "id");
		st = cJSON_GetObjectItemCaseSensitive(el, "state");
		if (!cJSON_IsString(id) || !cJSON_IsString(st))
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s/%s ",
		    id->valuestring, strcmp(st->valuestring, "self") == 0 ?
		    "up" : st->valuestring);
		if (n >= len)
			break;
	}
}

/* Do a and b list the same servers, in the same order, the same way? */
static int
same_list(const struct fclient *a, const struct fclient *b)
{
	char	 x[4096], y[4096];

	list_of(a, x, sizeof x);
	list_of(b, y, sizeof y);
	return x[0] != '\0' && strcmp(x, y) == 0;
}

/*
 * R <- A <- B: B learns of R only from what A tells it when it joins.
 * Its first status must already be NORMAL with all three up, not
 * OUT_OF_SERVICE until R's next announce (up to 5 s).
 */
static void
cluster__healthy_join__normal_within_200ms(void **state)
{
	struct it_server	*r, *a, *b;
	struct fclient		*o;
	uint64_t		 t0, dt;

	(void)state;
	r = it_root("R", SLOW_ANNOUNCE);
	a = it_child("A", r, SLOW_ANNOUNCE);
	b = it_child("B", a, SLOW_ANNOUNCE);
	t0 = it_now_ms();
	o = fc_on(b, "o", 0);
	WAIT_UNTIL(it_timeout(), fc_up(o) && o->statuses > 0,
	    "no CLUSTER_STATUS from B: %s", fc_describe(o));
	/* The login itself may take longer on a loaded machine. */
	dt = it_now_ms() - t0;
	WAIT_UNTIL(dt < scaled(200) ? scaled(200) - dt : 0,
	    strcmp(o->status, "NORMAL") == 0 && up_in(o, r->port) &&
	    up_in(o, a->port) && up_in(o, b->port) && nrows(o) == 3,
	    "B joined %llu ms ago and says %s with %d servers (R %s, A %s)",
	    (unsigned long long)(it_now_ms() - t0), o->status, nrows(o),
	    fc_server_state(o, r->port) ? fc_server_state(o, r->port) :
	    "unlisted", fc_server_state(o, a->port) ?
	    fc_server_state(o, a->port) : "unlisted");
	dt = it_now_ms() - t0;
	if (o->out_of_service > 0)
		it_fail("B said OUT_OF_SERVICE %d times after joining",
		    o->out_of_service);
	printf("  B (two hops from the root) NORMAL with 3 servers %llu ms "
	    "after joining\n", (unsigned long long)dt);
}

/*
 * A server without children dies: nothing in the tree needs to heal,
 * yet the status must say OUT_OF_SERVICE (within the heartbeat bound),
 * list it as down with how long ago, then be NORMAL again.
 */
static void
cluster_leaf_fails(int stop)
{
	struct it_server	*r, *a, *b;
	struct fclient		*o;
	uint64_t		 t0, dt, bound;
	int			 oos;

	r = it_root("R", SLOW_ANNOUNCE, HB_FAST);
	a = it_child("A", r, SLOW_ANNOUNCE, HB_FAST);
	b = it_child("B", r, SLOW_ANNOUNCE, HB_FAST);
	o = fc_on(b, "o", 0);
	WAIT_UNTIL(it_timeout(), fc_up(o) && strcmp(o->status, "NORMAL") == 0
	    && up_in(o, a->port), "not NORMAL with A up: %s %s",
	    fc_describe(o), o->status);
	oos = o->out_of_service;
	t0 = it_now_ms();
	if (stop)
		it_server_sigstop(a);
	else
		it_server_kill9(a);
	/*
	 * The heartbeat bound: --heartbeat-timeout (a crash is seen at
	 * once, from the closed link), then a tick at each end and the
	 * flood.
	 */
	bound = 500 + 500;
	WAIT_UNTIL(it_timeout(), o->out_of_service > oos,
	    "no OUT_OF_SERVICE after A %s: %s (A %s)", stop ? "stopped" :
	    "died", o->status, fc_server_state(o, a->port) ?
	    fc_server_state(o, a->port) : "unlisted");
	dt = it_now_ms() - t0;
	if (dt > scaled(bound))
		it_fail("OUT_OF_SERVICE %llu ms after A %s, bound %llu ms",
		    (unsigned long long)dt, stop ? "stopped" : "died",
		    (unsigned long long)scaled(bound));
	WAIT_UNTIL(it_timeout(), strcmp(o->status, "NORMAL") == 0 &&
	    state_is(o, a->port, "down"), "not NORMAL with A down: %s (A %s)",
	    o->status, fc_server_state(o, a->port) ?
	    fc_server_state(o, a->port) : "unlisted");
	printf("  A %s: OUT_OF_SERVICE after %llu ms, NORMAL with A down "
	    "after %llu ms\n", stop ? "SIGSTOPped" : "killed",
	    (unsigned long long)dt, (unsigned long long)(it_now_ms() - t0));
	if (stop)
		it_server_sigcont(a);
}

static void
cluster__leaf_kill9__out_of_service_then_down(void **state)
{
	(void)state;
	cluster_leaf_fails(0);
}

static void
cluster__leaf_sigstop__out_of_service_within_heartbeat_bound(void **state)
{
	(void)state;
	cluster_leaf_fails(1);
}

/*
 * SIGTERM: the server says it leaves, so it is not listed at all (and
 * nothing is out of service); a crashed one is listed as down, with
 * down_ms, until --forget-after.
 */
static void
cluster__sigterm_gone_at_once__crash_down_then_forgotten(void **state)
{
	struct it_server	*r, *a, *b, *c;
	struct fclient		*o;
	uint64_t		 t0, dt, dt_term;
	int			 oos;

	(void)state;
	r = it_root("R", SLOW_ANNOUNCE, "--forget-after", "1500");
	a = it_child("A", r, SLOW_ANNOUNCE);
	b = it_child("B", r, SLOW_ANNOUNCE);
	c = it_child("C", r, SLOW_ANNOUNCE);
	o = fc_on(r, "o", 0);
	WAIT_UNTIL(it_timeout(), fc_up(o) && nrows(o) == 4 &&
	    strcmp(o->status, "NORMAL") == 0, "not 4 servers NORMAL: %s %d",
	    o->status, nrows(o));
	oos = o->out_of_service;
	t0 = it_now_ms();
	a->expect_dead = 1;
	it_server_stop(a);
	WAIT_UNTIL(it_timeout(), rows_for(o, a->port) == 0,
	    "A still listed (%s) after SIGTERM", fc_server_state(o, a->port));
	dt = it_now_ms() - t0;
	if (dt > scaled(500))
		it_fail("A unlisted %llu ms after SIGTERM, bound %llu ms",
		    (unsigned long long)dt, (unsigned long long)scaled(500));
	dt_term = dt;
	poll_all(200);
	if (o->out_of_service != oos)
		it_fail("a clean leave made the cluster OUT_OF_SERVICE");

	it_server_kill9(b);
	t0 = it_now_ms();
	WAIT_UNTIL(it_timeout(), state_is(o, b->port, "down"),
	    "B not down after kill -9: %s", fc_server_state(o, b->port) ?
	    fc_server_state(o, b->port) : "unlisted");
	WAIT_UNTIL(it_timeout(), rows_for(o, b->port) == 0,
	    "B, killed %llu ms ago, still listed with --forget-after 1500",
	    (unsigned long long)(it_now_ms() - t0));
	dt = it_now_ms() - t0;
	if (dt < 1400)
		it_fail("B forgotten %llu ms after it died, before "
		    "--forget-after 1500", (unsigned long long)dt);
	if (!up_in(o, c->port) || nrows(o) != 2)
		it_fail("expected R and C only, have %d rows", nrows(o));
	printf("  SIGTERM: unlisted after %llu ms; kill -9: down, "
	    "forgotten after %llu ms\n", (unsigned long long)dt_term,
	    (unsigned long long)dt);
}

/*
 * kill -9 A and start a new server on A's port: one row for that
 * address, up, with the new id; every server lists the same rows in
 * the same order.
 */
static void
cluster__restart_same_address__one_row_same_list_everywhere(
    void **state)
{
	struct it_server	*r, *a, *b, *a2;
	struct fclient		*or, *ob;
	char			 old[128], port[16];
	const char		*argv[] = { "-lh", "localhost", "-lp", port,
				    "-s", IT_SECRET, "-a", "5000", "-rh",
				    "localhost", "-rp", NULL, NULL };

	(void)state;
	r = it_root("R", SLOW_ANNOUNCE);
	a = it_child("A", r, SLOW_ANNOUNCE);
	b = it_child("B", a, SLOW_ANNOUNCE);
	or = fc_on(r, "or", 0);
	ob = fc_on(b, "ob", 0);
	WAIT_UNTIL(it_timeout(), nrows(or) == 3 && nrows(ob) == 3 &&
	    same_list(or, ob), "R and B do not list the same 3 servers");
	snprintf(old, sizeof old, "%s", id_of(or, a->port));

	it_server_kill9(a);
	WAIT_UNTIL(it_timeout(), fc_up(ob) && state_is(or, a->port, "down") &&
	    state_is(ob, a->port, "down") && up_in(ob, b->port) &&
	    strcmp(or->status, "NORMAL") == 0 &&
	    strcmp(ob->status, "NORMAL") == 0 && same_list(or, ob),
	    "R and B do not agree A is down: R %s %s, B %s %s",
	    or->status, fc_server_state(or, a->port) ?
	    fc_server_state(or, a->port) : "unlisted", ob->status,
	    fc_server_state(ob, a->port) ? fc_server_state(ob, a->port) :
	    "unlisted");

	snprintf(port, sizeof port, "%d", a->port);
	argv[11] = b->port_str;
	a2 = it_spawn("A2", argv, 1);
	WAIT_UNTIL(it_timeout(), rows_for(or, a->port) == 1 &&
	    up_in(or, a->port) && strcmp(id_of(or, a->port), old) != 0 &&
	    same_list(or, ob) && nrows(or) == 3,
	    "after a restart on A's port R lists %d rows for it (%s, id %s, "
	    "old %s), %d in all", rows_for(or, a->port),
	    fc_server_state(or, a->port) ? fc_server_state(or, a->port) :
	    "unlisted", id_of(or, a->port), old, nrows(or));
	(void)a2;
	printf("  restart on the same address: one row, new id, the same "
	    "list on R and B\n");
}

/* Log c in as user with only the "who" feature. */
static void
who_login(struct it_client *c, const char *user, const char *secret)
{
	it_sendf(c, "{\"command\":\"LOGIN\",\"username\":\"%s\",\"secret\":"
	    "\"%s\",\"features\":[\"who\"]}", user, secret);
	it_expect(c, "LOGIN_SUCCESS");
}

/* WHO on c: the names as "a,b," and the client count. */
static void
who_ask(struct it_client *c, char *buf, size_t len, int *clients)
{
	cJSON		*j, *el;
	const cJSON	*n;
	size_t		 k = 0;

	it_sendf(c, "{\"command\":\"WHO\"}");
	j = it_expect(c, "WHO_LIST");
	buf[0] = '\0';
	cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(j, "users"))
		if (cJSON_IsString(el) && k < len)
			k += (size_t)snprintf(buf + k, len - k, "%s,",
			    el->valuestring);
	n = cJSON_GetObjectItemCaseSensitive(j, "clients");
	*clients = cJSON_IsNumber(n) ? n->valueint : -1;
}

/*
 * /who: a client that asked for "who" is told every registered user
 * online in the cluster, on whichever server; one that did not ask gets
 * nothing new and a WHO from it is refused like an unknown command.
 */
static void
who__users_on_two_servers__listed_base_client_refused(void **state)
{
	struct it_server	*r, *a;
	struct it_client	*ca, *cb, *base;
	char			 names[512];
	int			 clients = 0;
	uint64_t		 dl;

	(void)state;
	r = it_root("R", SLOW_ANNOUNCE);
	a = it_child("A", r, SLOW_ANNOUNCE);
	it_register(r, "alice", "s1");
	it_register(r, "bob", "s2");
	ca = it_connect(r, "alice");
	who_login(ca, "alice", "s1");
	/* bob's registration reaches A in its own time. */
	dl = it_now_ms() + (uint64_t)it_timeout();
	for (;;) {
		cb = it_connect(a, "bob");
		it_sendf(cb, "{\"command\":\"LOGIN\",\"username\":\"bob\","
		    "\"secret\":\"s2\",\"features\":[\"who\"]}");
		if (it_read_line(cb, it_timeout()) == IT_READ_LINE &&
		    strstr(cb->line, "LOGIN_SUCCESS") != NULL)
			break;
		it_close(cb);
		if (it_now_ms() > dl)
			it_fail("bob cannot log in at A");
	}
	dl = it_now_ms() + (uint64_t)it_timeout();
	do {
		who_ask(ca, names, sizeof names, &clients);
		if (it_now_ms() > dl)
			it_fail("WHO at R says \"%s\" (%d clients), not alice "
			    "and bob (2)", names, clients);
	} while (strcmp(names, "alice,bob,") != 0 || clients != 2);
	dl = it_now_ms() + (uint64_t)it_timeout();
	do {
		who_ask(cb, names, sizeof names, &clients);
		if (it_now_ms() > dl)
			it_fail("WHO at A says \"%s\", not alice and bob",
			    names);
	} while (strcmp(names, "alice,bob,") != 0);

	base = it_connect(r, "base");
	it_login(base, "anonymous", NULL);
	it_sendf(base, "{\"command\":\"WHO\"}");
	it_expect_reply_close(base, "INVALID_MESSAGE");

	it_sendf(cb, "{\"command\":\"LOGOUT\"}");
	it_close(cb);
	dl = it_now_ms() + (uint64_t)it_timeout();
	do {
		who_ask(ca, names, sizeof names, &clients);
		if (it_now_ms() > dl)
			it_fail("WHO still says \"%s\" after bob left", names);
	} while (strcmp(names, "alice,") != 0);
	printf("  WHO: alice and bob listed on both servers; bob gone after "
	    "his logout\n");
}

#define T(f)	cmocka_unit_test_setup_teardown(f, cl_setup, cl_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(cluster__healthy_join__normal_within_200ms),
		T(cluster__leaf_kill9__out_of_service_then_down),
		T(cluster__leaf_sigstop__out_of_service_within_heartbeat_bound),
		T(cluster__sigterm_gone_at_once__crash_down_then_forgotten),
		T(cluster__restart_same_address__one_row_same_list_everywhere),
		T(who__users_on_two_servers__listed_base_client_refused),
	};

	return it_run_tests("cluster", tests);
}
