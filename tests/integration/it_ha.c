/*
 * High availability on real processes: kill -9 of the root (the seed's
 * scenario) and of a middle server, repeated kills and restarts, a
 * SIGSTOPped server, a link cut and repaired through the relay, a
 * graceful leave, and liveness.  Every client is a failover client
 * (fclient.h); every test ends by checking that each client got each
 * activity it should have exactly once, in per-sender order, and
 * nothing it should not have.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fclient.h"
#include "relay.h"

#define HB_FAST	"--heartbeat", "100", "--heartbeat-timeout", "500"

static struct fclient	**cl;	/* every client, oldest first */
static int		  ncl;

/* cmocka setup: no clients yet. */
static int
ha_setup(void **state)
{
	cl = fc_list(&ncl);
	return it_setup(state);
}

/* cmocka teardown: clients, relays, then servers (it_teardown). */
static int
ha_teardown(void **state)
{
	fc_cleanup();
	relay_cleanup();
	return it_teardown(state);
}

/* An anonymous failover client that logs in at exactly s. */
static struct fclient *
client_on(struct it_server *s, const char *name)
{
	struct fclient	*c = fc_on(s, name, 0);

	cl = fc_list(&ncl);
	return c;
}

#define wait_all_up(ms)			fc_wait_up(ms)
#define wait_log(s, needle, count, ms)	fc_wait_log(s, needle, count, ms)
#define exchange(tag)			fc_exchange(tag)
#define check_clean()			fc_check_clean()

/* Does some line of s's log contain both a and b? */
static int
log_line_has(struct it_server *s, const char *a, const char *b)
{
	char	*log = it_server_log(s), *p = log, *eol;
	int	 found = 0;

	while (!found && (p = strstr(p, a)) != NULL) {
		eol = strchr(p, '\n');
		if (eol != NULL)
			*eol = '\0';
		found = strstr(p, b) != NULL;
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	free(log);
	return found;
}

/* A server on a given port (a restart), joining parent. */
static struct it_server *
spawn_on_port(const char *name, int port, struct it_server *parent)
{
	struct it_server	*s;
	char			 p[16];
	const char		*argv[] = { "-lh", "localhost", "-lp", p,
				    "-s", IT_SECRET, "-a", "100", "-rh",
				    "localhost", "-rp", parent->port_str,
				    NULL };

	snprintf(p, sizeof p, "%d", port);
	s = it_spawn(name, argv, 1);
	wait_log(s, "joined the cluster", 1, it_timeout());
	return s;
}

/* Clients whose server (at port) is gone have logged in elsewhere. */
static int
orphans_up(int port)
{
	int	 i;

	for (i = 0; i < ncl; i++)
		if (!cl[i]->closed && (!fc_up(cl[i]) ||
		    cl[i]->cur.port == port))
			return 0;
	return 1;
}

/* Every client's last CLUSTER_STATUS: NORMAL, and port not up. */
static int
all_normal_without(int port)
{
	const char	*st;
	int		 i;

	for (i = 0; i < ncl; i++) {
		if (cl[i]->closed)
			continue;
		if (!fc_up(cl[i]) || strcmp(cl[i]->status, "NORMAL") != 0)
			return 0;
		st = fc_server_state(cl[i], port);
		if (st != NULL && (strcmp(st, "up") == 0 ||
		    strcmp(st, "self") == 0))
			return 0;
	}
	return 1;
}

static struct fclient *
first_not_normal(int port)
{
	int	 i;

	for (i = 0; i < ncl; i++) {
		const char *st = fc_server_state(cl[i], port);

		if (!cl[i]->closed && (strcmp(cl[i]->status, "NORMAL") != 0 ||
		    (st != NULL && (strcmp(st, "up") == 0 ||
		    strcmp(st, "self") == 0))))
			return cl[i];
	}
	return cl[0];
}

/*
 * The seed's HA scenario: four servers joined to one root; kill -9 the
 * root.  The other three form one tree (activities from a client on
 * each reach the clients on all the others, cluster status NORMAL
 * again), and the root's clients fail over by themselves and go on
 * exchanging.
 */
static void
ha__root_kill9__others_form_one_tree_and_orphans_fail_over(void **state)
{
	struct it_server	*r, *s1, *s2, *s3;
	uint64_t		 t0, t_orphans, t_normal;
	int			 i;

	(void)state;
	r = it_root("R");
	s1 = it_child("S1", r);
	s2 = it_child("S2", r);
	s3 = it_child("S3", r);
	client_on(r, "r1");
	client_on(s1, "c1");
	client_on(s2, "c2");
	client_on(s3, "c3");
	wait_all_up(it_timeout());
	client_on(r, "r2");
	wait_all_up(it_timeout());
	exchange("before");
	/* The root's clients must know where to go. */
	FC_WAIT(NULL, 0, it_timeout(), cl[0]->nbackups >= 3 &&
	    cl[4]->nbackups >= 3, "root's clients lack a backup list: %s",
	    fc_describe(cl[0]));

	t0 = it_now_ms();
	it_server_kill9(r);
	FC_WAIT(NULL, 0, it_timeout(), orphans_up(r->port),
	    "the root's clients did not fail over: %s; %s",
	    fc_describe(cl[0]), fc_describe(cl[4]));
	t_orphans = it_now_ms() - t0;
	FC_WAIT(NULL, 0, it_timeout(), all_normal_without(r->port),
	    "cluster status not NORMAL without R: %s (last status %s)",
	    fc_describe(first_not_normal(r->port)),
	    first_not_normal(r->port)->status);
	t_normal = it_now_ms() - t0;
	if (t_orphans > (uint64_t)it_scale_ms(2000) ||
	    t_normal > (uint64_t)it_scale_ms(2000))
		it_fail("failover too slow: orphans up after %llu ms, status "
		    "NORMAL after %llu ms", (unsigned long long)t_orphans,
		    (unsigned long long)t_normal);
	exchange("after");
	printf("  root kill -9: orphans logged in elsewhere after %llu ms, "
	    "status NORMAL everywhere after %llu ms, exchanging after %llu "
	    "ms\n", (unsigned long long)t_orphans,
	    (unsigned long long)t_normal,
	    (unsigned long long)(it_now_ms() - t0));
	for (i = 0; i < ncl; i++)
		if (cl[i]->cur.port == r->port)
			it_fail("client %s still on the killed root",
			    cl[i]->name);
	assert_int_equal(cl[0]->failovers, 1);
	assert_int_equal(cl[4]->failovers, 1);
	assert_int_equal(cl[1]->failovers + cl[2]->failovers +
	    cl[3]->failovers, 0);
	/* One tree: a second round still reaches everyone once. */
	exchange("again");
	check_clean();
	(void)s1;
	(void)s2;
	(void)s3;
}

/*
 * A chain A-B-C-D with B killed: C re-parents to A (the ancestor B
 * named in its backup list), every client exchanges again, and B's
 * client fails over by itself.
 */
static void
ha__chain_middle_kill9__child_reparents_to_grandparent(void **state)
{
	struct it_server	*a, *b, *c, *d;
	char			 aport[32];

	(void)state;
	a = it_root("A");
	b = it_child("B", a);
	c = it_child("C", b);
	d = it_child("D", c);
	client_on(a, "a1");
	client_on(b, "b1");
	client_on(c, "c1");
	client_on(d, "d1");
	exchange("before");
	it_server_kill9(b);
	wait_log(c, "rejoined the cluster", 1, it_timeout());
	snprintf(aport, sizeof aport, "localhost:%d", a->port);
	if (!log_line_has(c, "rejoined the cluster", aport))
		it_fail("C did not re-parent to A (port %d)", a->port);
	FC_WAIT(NULL, 0, it_timeout(), orphans_up(b->port),
	    "B's client did not fail over: %s", fc_describe(cl[1]));
	exchange("after");
	exchange("again");
	assert_int_equal(cl[1]->failovers, 1);
	check_clean();
	(void)d;
}

/*
 * Five rounds of kill -9 and restart on the same port, the root first:
 * after each kill the survivors and every client go on exchanging, and
 * after each restart the new server (with a new client) takes part.
 */
static void
ha__repeated_kill9_and_restart__cluster_keeps_working(void **state)
{
	struct it_server	*live[16], *v, *s;
	char			 name[48], tag[32];
	int			 nlive = 0, round, k, port;
	uint64_t		 t0;

	(void)state;
	live[nlive++] = it_root("A");
	live[nlive++] = it_child("B", live[0]);
	live[nlive++] = it_child("C", live[1]);
	live[nlive++] = it_child("D", live[0]);
	for (k = 0; k < nlive; k++) {
		snprintf(name, sizeof name, "k%d", k);
		client_on(live[k], name);
	}
	exchange("start");
	for (round = 0; round < 5; round++) {
		k = round == 0 ? 0 : (round * 3) % nlive;
		v = live[k];
		port = v->port;
		live[k] = live[--nlive];
		t0 = it_now_ms();
		it_server_kill9(v);
		FC_WAIT(NULL, 0, it_timeout(), orphans_up(port),
		    "round %d: clients of %s did not fail over", round,
		    v->name);
		snprintf(tag, sizeof tag, "killed-%d", round);
		exchange(tag);
		printf("  round %d: killed %s, exchanging again after %llu "
		    "ms\n", round, v->name,
		    (unsigned long long)(it_now_ms() - t0));
		snprintf(name, sizeof name, "%s%d", v->name, round);
		s = spawn_on_port(name, port, live[round % nlive]);
		live[nlive++] = s;
		snprintf(name, sizeof name, "n%d", round);
		client_on(s, name);
		snprintf(tag, sizeof tag, "restarted-%d", round);
		exchange(tag);
	}
	/*
	 * Every exchange reached every client once and in each sender's
	 * order (order breaks, once caused by relink replays of activities
	 * from before a server joined, are not tolerated).  A client may
	 * be sent a repeat only after it moved: a restarted server knows
	 * nothing it delivered, so a relink replay reaches every client
	 * there that was owed it, one that already had it elsewhere too (a
	 * resumed session's since is its first login); the client drops it
	 * by (sender, activity_seq).  A
	 * repeat to a client that never moved is a bug.
	 */
	{
		int	 dups = 0;

		for (k = 0; k < ncl; k++) {
			dups += cl[k]->dups;
			if (cl[k]->dups > 0 && cl[k]->logins < 2)
				it_fail("%s got %d repeats without moving: %s",
				    cl[k]->name, cl[k]->dups,
				    fc_describe(cl[k]));
		}
		printf("  repeats the clients that moved dropped: %d\n",
		    dups);
	}
	fc_check_clean_at(__FILE__, __LINE__, FC_CLEAN_DUPS_OK);
}

/*
 * SIGSTOP as a silent failure: with a 100 ms heartbeat and a 500 ms
 * timeout, the stopped middle server's child re-parents and its client
 * fails over within 1 s, with no TCP error to go on.  After SIGCONT it
 * rejoins the tree: a client on it and everyone else exchange, once.
 */
static void
ha__sigstop_middle__routed_around_within_bound_then_rejoins(void **state)
{
	struct it_server	*a, *b, *c;
	struct fclient		*b1;
	uint64_t		 t0, t_child, t_client;
	int			 i;

	(void)state;
	a = it_root("A", HB_FAST);
	b = it_child("B", a, HB_FAST);
	c = it_child("C", b, HB_FAST);
	client_on(a, "a1");
	b1 = client_on(b, "b1");
	client_on(c, "c1");
	for (i = 0; i < ncl; i++) {
		cl[i]->ping_ms = 100;
		cl[i]->dead_ms = 500;
	}
	exchange("before");

	t0 = it_now_ms();
	it_server_sigstop(b);
	FC_WAIT(NULL, 0, it_timeout(), it_log_count(c,
	    "rejoined the cluster") >= 1 && orphans_up(b->port),
	    "not routed around the stopped B: C rejoined %d times; %s",
	    it_log_count(c, "rejoined the cluster"), fc_describe(b1));
	t_client = b1->up_ms - t0;
	t_child = it_now_ms() - t0;
	printf("  SIGSTOP: client failed over after %llu ms, child and "
	    "client routed around after %llu ms\n",
	    (unsigned long long)t_client, (unsigned long long)t_child);
	if (t_child >= 550 + (uint64_t)it_scale_ms(450))
		it_fail("routing around a silent server took %llu ms (bound "
		    "1000 ms with a 500 ms heartbeat timeout)",
		    (unsigned long long)t_child);
	exchange("stopped");

	it_server_sigcont(b);
	wait_log(b, "rejoined the cluster", 1, 3 * it_timeout());
	client_on(b, "b2");
	exchange("resumed");
	exchange("again");
	check_clean();
}

/*
 * A link cut (through the relay) between a child and its parent: each
 * side goes on working on its own, then after the repair the groups
 * merge, each gets what the other sent during the split, and nothing
 * arrives twice.
 */
static void
ha__link_cut_and_repaired__sides_work_apart_then_merge(void **state)
{
	struct it_server	*p, *c, *d;
	struct fclient		*p1, *c1, *d1;
	struct relay		*rl;
	uint64_t		 t0;

	(void)state;
	p = it_root("P", HB_FAST);
	rl = relay_new(p->port);
	c = it_plain("C", "-rh", "localhost", "-rp", relay_port_str(rl),
	    HB_FAST);
	wait_log(c, "joined the cluster", 1, it_timeout());
	d = it_child("D", c, HB_FAST);
	p1 = client_on(p, "p1");
	c1 = client_on(c, "c1");
	d1 = client_on(d, "d1");
	exchange("before");

	relay_set(rl, RELAY_CUT);
	t0 = it_now_ms();
	wait_log(c, "lost the parent link", 1, it_timeout());
	wait_log(p, "heartbeat timeout", 1, it_timeout());
	printf("  link cut: detected by the child after %llu ms\n",
	    (unsigned long long)(it_now_ms() - t0));
	fc_send(c1, "split-c", 1);
	fc_send(p1, "split-p", 1);
	FC_WAIT(NULL, 0, it_timeout(), fc_find(c1, "split-c", 1) &&
	    fc_find(d1, "split-c", 1) && fc_find(p1, "split-p", 1),
	    "a side did not work on its own while cut: %s; %s; %s",
	    fc_describe(p1), fc_describe(c1), fc_describe(d1));
	fc_run(NULL, 0, 200);
	if (fc_find(p1, "split-c", 1) || fc_find(c1, "split-p", 1))
		it_fail("an activity crossed a cut link");

	relay_set(rl, RELAY_PASS);
	t0 = it_now_ms();
	FC_WAIT(NULL, 0, 3 * it_timeout(), fc_find(p1, "split-c", 1) &&
	    fc_find(c1, "split-p", 1) && fc_find(d1, "split-p", 1),
	    "the groups did not merge after the repair (C rejoined %d "
	    "times): %s; %s; %s", it_log_count(c, "rejoined the cluster"),
	    fc_describe(p1), fc_describe(c1), fc_describe(d1));
	printf("  link repaired: split activities exchanged after %llu ms\n",
	    (unsigned long long)(it_now_ms() - t0));
	exchange("after");
	check_clean();
}

/*
 * SIGTERM: the server says goodbye, its child re-parents at once (far
 * under the 2 s heartbeat timeout), its client fails over, and it
 * exits 0.
 */
static void
ha__sigterm__children_reparent_at_once_and_exit_zero(void **state)
{
	struct it_server	*a, *b, *c;
	uint64_t		 t0, dt;
	int			 st;

	(void)state;
	a = it_root("A");
	b = it_child("B", a);
	c = it_child("C", b);
	client_on(a, "a1");
	client_on(b, "b1");
	client_on(c, "c1");
	exchange("before");

	b->expect_dead = 1;	/* the exit status is checked here */
	t0 = it_now_ms();
	kill(b->pid, SIGTERM);
	wait_log(c, "rejoined the cluster", 1, it_timeout());
	dt = it_now_ms() - t0;
	FC_WAIT(NULL, 0, it_timeout(), orphans_up(b->port),
	    "B's client did not fail over: %s", fc_describe(cl[1]));
	printf("  SIGTERM: child re-parented after %llu ms, client logged in "
	    "elsewhere after %llu ms\n", (unsigned long long)dt,
	    (unsigned long long)(cl[1]->up_ms - t0));
	if (dt >= (uint64_t)it_scale_ms(500))
		it_fail("re-parenting after a graceful leave took %llu ms",
		    (unsigned long long)dt);
	st = it_server_wait_exit(b, it_timeout());
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		it_fail("B did not exit 0 after SIGTERM (status %#x)", st);
	exchange("after");
	check_clean();
}

/* Send a LOGIN on a raw connection; 1 if a REDIRECT followed. */
static int
raw_login_redirected(struct it_server *s, struct it_client **keep)
{
	static int		 probes;
	struct it_client	*c = it_connect(s, "probe");
	const char		*cmd;
	char			 act[64];

	it_login(c, "anonymous", NULL);
	snprintf(act, sizeof act, "{\"t\":\"probe\",\"n\":%d}", ++probes);
	it_send_activity(c, act);
	if (it_read_line(c, it_timeout()) != IT_READ_LINE)
		it_fail("no reply after login");
	cJSON_Delete(c->msg);
	c->msg = cJSON_ParseWithLength(c->line, c->line_len);
	cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->msg,
	    "command"));
	if (cmd != NULL && strcmp(cmd, "REDIRECT") == 0) {
		it_close(c);
		return 1;
	}
	if (cmd == NULL || strcmp(cmd, "ACTIVITY_BROADCAST") != 0)
		it_fail("expected REDIRECT or the probe's broadcast, got %s",
		    it_escape(c->line, c->line_len));
	*keep = c;
	return 0;
}

/* The load o's last CLUSTER_STATUS gives the server on port, or -1. */
static long
status_load(const struct fclient *o, int port)
{
	const cJSON	*el;

	cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(o->cluster,
	    "servers")) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(el, "port");
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(el, "load");

		if (cJSON_IsNumber(p) && p->valueint == port &&
		    cJSON_IsNumber(l))
			return (long)l->valuedouble;
	}
	return -1;
}

static int
backups_have(const struct fclient *c, int port)
{
	int	 i;

	for (i = 0; i < c->nbackups; i++)
		if (c->backups[i].port == port)
			return 1;
	return 0;
}

/* A and X (liveness 500 ms, heartbeats too slow to drop X's link). */
static struct fclient *
liveness_start(struct it_server **ap, struct it_server **xp)
{
	struct it_server	*a, *x;
	struct fclient		*o;

	a = it_root("A", "--liveness", "500", "--heartbeat-timeout",
	    "60000");
	x = it_child("X", a, "--liveness", "500", "--heartbeat-timeout",
	    "60000");
	o = client_on(a, "observer");
	FC_WAIT(NULL, 0, it_timeout(), fc_up(o) && fc_server_state(o,
	    x->port) != NULL && strcmp(fc_server_state(o, x->port), "up") ==
	    0 && backups_have(o, x->port), "X not up in the status: %s",
	    fc_describe(o));
	*ap = a;
	*xp = x;
	return o;
}

/* SIGSTOP x; wait until o's status says it is unavailable. */
static void
liveness_silence(struct fclient *o, struct it_server *x)
{
	uint64_t	 t0 = it_now_ms(), dt;

	it_server_sigstop(x);
	FC_WAIT(NULL, 0, it_timeout(), fc_server_state(o, x->port) != NULL &&
	    strcmp(fc_server_state(o, x->port), "lost") == 0,
	    "X not marked lost (state %s): %s",
	    fc_server_state(o, x->port) ? fc_server_state(o, x->port) :
	    "none", fc_describe(o));
	dt = it_now_ms() - t0;
	printf("  silent server marked unavailable after %llu ms "
	    "(--liveness 500)\n", (unsigned long long)dt);
	/* Its last announce may have been up to 100 ms before the stop. */
	if (dt < 350)
		it_fail("X marked unavailable after %llu ms, before the "
		    "500 ms liveness window", (unsigned long long)dt);
}

/*
 * Liveness: a server that stops announcing (SIGSTOP, with heartbeats
 * too slow to drop its link) is marked unavailable after --liveness,
 * not before, and is then no REDIRECT target.  After SIGCONT it is up
 * again.
 */
static void
ha__silent_server__unavailable_and_no_redirect_target(
    void **state)
{
	struct it_server	*a, *x;
	struct it_client	*k1 = NULL, *k2 = NULL;
	struct fclient		*o;

	(void)state;
	o = liveness_start(&a, &x);
	/* While X is up, A's second client is sent there. */
	if (!raw_login_redirected(a, &k1))
		it_fail("a second client of A was not redirected to X");
	/* X's announce says it has none after all (nobody followed). */
	FC_WAIT(NULL, 0, it_timeout(), status_load(o, x->port) == 0,
	    "X's load not back to 0: %ld", status_load(o, x->port));

	liveness_silence(o, x);
	if (raw_login_redirected(a, &k1) || raw_login_redirected(a, &k2))
		it_fail("a client was redirected to the unavailable X");

	it_server_sigcont(x);
	FC_WAIT(NULL, 0, it_timeout(), fc_server_state(o, x->port) != NULL &&
	    strcmp(fc_server_state(o, x->port), "up") == 0,
	    "X not up again after SIGCONT: %s", fc_describe(o));
	check_clean();
}

/*
 * An unavailable server is no failover target for clients either:
 * activity-protocol(7), Liveness: "neither is a REDIRECT or backup list
 * target until it announces itself again" (issue 3 item 4), even while
 * its link is up.
 */
static void
ha__unavailable_server__not_in_client_backup_list(void **state)
{
	struct it_server	*a, *x;
	struct fclient		*o;
	int			 lists;

	(void)state;
	o = liveness_start(&a, &x);
	liveness_silence(o, x);
	lists = o->backup_lists;
	FC_WAIT(NULL, 0, it_timeout(), o->backup_lists >= lists + 2,
	    "no new BACKUP_LIST: %s", fc_describe(o));
	if (backups_have(o, x->port))
		it_fail("the unavailable X (port %d) is still in the "
		    "BACKUP_LIST A sends its clients", x->port);
	it_server_sigcont(x);
}

/*
 * The root's successor cut off from the root alone (its one link, or
 * one direction of it, fails; the rest of the tree is fine): it takes
 * over as root and, a liveness window later, joins the part of the old
 * tree it can still reach instead of staying apart until the root
 * answers again.
 */
static void
ha__successor_cut_from_root_only__joins_the_rest(void **state)
{
	struct it_server	*p, *c1, *c2;
	struct relay		*rl;
	uint64_t		 t0;

	(void)state;
	p = it_root("P", HB_FAST);
	rl = relay_new(p->port);
	c1 = it_plain("C1", "-rh", "localhost", "-rp", relay_port_str(rl),
	    HB_FAST);
	wait_log(c1, "joined the cluster", 1, it_timeout());
	c2 = it_child("C2", p, HB_FAST);
	client_on(p, "p1");
	client_on(c1, "k1");
	client_on(c2, "k2");
	exchange("before");

	relay_set(rl, RELAY_CUT);
	t0 = it_now_ms();
	wait_log(c1, "taking over as root", 1, it_timeout());
	FC_WAIT(NULL, 0, 3 * it_timeout(), it_log_count(c1,
	    "rejoined the cluster") >= 1, "C1, cut off from the root only, "
	    "did not join the rest of the tree");
	printf("  successor cut from the root: joined the rest after %llu "
	    "ms\n", (unsigned long long)(it_now_ms() - t0));
	exchange("joined");
	relay_set(rl, RELAY_PASS);
	exchange("repaired");
	check_clean();
}

#define T(f)	cmocka_unit_test_setup_teardown(f, ha_setup, ha_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(ha__root_kill9__others_form_one_tree_and_orphans_fail_over),
		T(ha__chain_middle_kill9__child_reparents_to_grandparent),
		T(ha__repeated_kill9_and_restart__cluster_keeps_working),
		T(ha__sigstop_middle__routed_around_within_bound_then_rejoins),
		T(ha__link_cut_and_repaired__sides_work_apart_then_merge),
		T(ha__successor_cut_from_root_only__joins_the_rest),
		T(ha__sigterm__children_reparent_at_once_and_exit_zero),
		T(ha__silent_server__unavailable_and_no_redirect_target),
		T(ha__unavailable_server__not_in_client_backup_list),
	};

	return it_run_tests("ha", tests);
}
