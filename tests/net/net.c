/*
 * Real networks: each server on a host of its own (tests/net/rig.h),
 * clients on hosts of their own, and the faults loopback cannot show:
 * partitions, a one-way link, a slow link, a lost host, servers known
 * by a name that is not the address they bind.  Each scenario prints
 * its figures (make test-net).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "fclient.h"
#include "rig.h"

#define NET_PORT(i)	(7100 + (i))
#define NET_HB_MS	500		/* the server defaults */
#define NET_HB_TIMEOUT	2000
/*
 * -a 1000: liveness (4 announce intervals, 4 s) well past the heartbeat
 * timeout, as with the defaults (20 s), so a cut link is noticed as a
 * link failure first, not as a silent server.
 */
/*
 * The heartbeat bound: silence is noticed within the timeout plus one
 * cron period, and the rest (a connection, AUTHENTICATE, a login) is a
 * few round trips; one heartbeat of slack for a loaded machine.
 */
#define NET_BOUND_MS	(NET_HB_TIMEOUT + 2 * NET_HB_MS)

static struct it_server	*sv[RIG_MAX_HOSTS + 1];
static char		*datadir[RIG_MAX_HOSTS + 1];
static const char	*net_bind;	/* NULL: the host's address */

/*
 * Server on host i, advertising lh (NULL: its address) and binding its
 * address, joining the server on host parent (0: the root) through rh
 * (NULL: that server's advertised host).  Extra arguments end in NULL.
 */
static struct it_server *
net_server(int i, int parent, const char *lh, const char *rh, ...)
{
	const char	*argv[48], *a;
	char		 name[16], port[16], rport[16], *dir;
	va_list		 ap;
	int		 n = 0;

	snprintf(name, sizeof name, "S%d", i);
	snprintf(port, sizeof port, "%d", NET_PORT(i));
	dir = datadir[i] = it_mkdtemp(name);
	argv[n++] = "-lh";
	argv[n++] = lh != NULL ? lh : rig_ip(i);
	argv[n++] = "-lp";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = net_bind != NULL ? net_bind : rig_ip(i);
	net_bind = NULL;
	argv[n++] = "-s";
	argv[n++] = IT_SECRET;
	argv[n++] = "-a";
	argv[n++] = "1000";
	argv[n++] = "--data-dir";
	argv[n++] = dir;
	if (parent != 0) {
		snprintf(rport, sizeof rport, "%d", NET_PORT(parent));
		argv[n++] = "-rh";
		argv[n++] = rh != NULL ? rh : sv[parent]->host;
		argv[n++] = "-rp";
		argv[n++] = rport;
	}
	va_start(ap, rh);
	while ((a = va_arg(ap, const char *)) != NULL && n < 46)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	sv[i] = it_spawn_ns(name, rig_ns(i), rig_ip(i), argv);
	if (parent != 0)
		it_wait_log(sv[i], "joined the cluster");
	return sv[i];
}

/* A client on host h logged in at the server on host s. */
static struct fclient *
net_client(int h, int s, const char *name)
{
	struct fclient	*c;

	it_set_client_netns(rig_ns(h));
	c = fc_new(name, "anonymous", NULL, 0);
	fc_start_at(c, sv[s]->host, sv[s]->port, 1);
	it_set_client_netns(NULL);
	return c;
}

static int
net_setup(void **state)
{
	(void)state;
	memset(sv, 0, sizeof sv);
	memset(datadir, 0, sizeof datadir);
	net_bind = NULL;
	fc_resolve = rig_resolve;
	return 0;
}

static int
net_teardown(void **state)
{
	int	 rc;

	(void)state;
	fc_cleanup();
	rc = it_cleanup();
	rig_down();
	return rc;
}

/* Times a server's stderr has the needle. */
static int
logs(int i, const char *needle)
{
	return it_log_count(sv[i], needle);
}

/*
 * A stream: every client in cs sends tag = its name, n = 1, 2, ...
 * every period ms while the clock runs; sent[k] counts client k's.
 */
struct stream {
	struct fclient	**cs;
	int		  n;
	long		  sent[16];
	int		  refused;	/* a send while not logged in */
	uint64_t	  next;
	int		  period;
};

static void
stream_run(struct stream *st, int ms)
{
	uint64_t	 end = it_now_ms() + (uint64_t)ms, now;
	int		 k;

	while ((now = it_now_ms()) < end) {
		if (now >= st->next) {
			for (k = 0; k < st->n; k++) {
				if (fc_send(st->cs[k], st->cs[k]->name,
				    st->sent[k] + 1) != 0)
					st->sent[k]++;
				else
					st->refused++;
			}
			st->next = now + (uint64_t)st->period;
		}
		fc_poll(st->cs, st->n, 2);
	}
}

/* Activities of the stream client r lacks, and those it has twice. */
static long
stream_missing(const struct stream *st, const struct fclient *r,
    long *twice)
{
	long	 miss = 0, n;
	int	 k, c;

	for (k = 0; k < st->n; k++)
		for (n = 1; n <= st->sent[k]; n++) {
			c = fc_count(r, st->cs[k]->name, n);
			if (c == 0)
				miss++;
			else if (c > 1 && twice != NULL)
				(*twice)++;
		}
	return miss;
}

static long
stream_missing_all(const struct stream *st)
{
	long	 m = 0;
	int	 i;

	for (i = 0; i < st->n; i++)
		m += stream_missing(st, st->cs[i], NULL);
	return m;
}

/*
 * Partition: two groups of two servers, each with clients on a client
 * host of its own, split for 10 s while every client sends 20
 * activities a second, then healed.  Both sides report OUT_OF_SERVICE
 * during the split and NORMAL after; one tree again, and every client
 * (all connected throughout) gets every activity exactly once and in
 * per-sender order, the other side's through the relink replay.
 */
static void
net__partition_10s__heals_exactly_once(void **state)
{
	struct fclient	*c[4];
	struct stream	 st;
	uint64_t	 t0, t_split, t_heal;
	long		 miss, twice = 0;
	int		 oos_before[4], i, dups = 0, order = 0;

	(void)state;
	rig_up(6);
	net_server(1, 0, NULL, NULL, NULL);
	net_server(2, 1, NULL, NULL, NULL);
	net_server(3, 1, NULL, NULL, NULL);
	net_server(4, 3, NULL, NULL, NULL);
	c[0] = net_client(5, 1, "a1");
	c[1] = net_client(5, 2, "a2");
	c[2] = net_client(6, 3, "b1");
	c[3] = net_client(6, 4, "b2");
	fc_wait_up(it_timeout());
	FC_WAIT(c, 4, 2 * it_timeout(), strcmp(c[0]->status, "NORMAL") == 0 &&
	    strcmp(c[3]->status, "NORMAL") == 0, "the cluster did not "
	    "become NORMAL: %s; %s", fc_describe(c[0]), fc_describe(c[3]));
	fc_exchange("hello");

	memset(&st, 0, sizeof st);
	st.cs = c;
	st.n = 4;
	st.period = 50;
	stream_run(&st, 1000);
	for (i = 0; i < 4; i++)
		oos_before[i] = c[i]->out_of_service;

	/* Hosts 1, 2, 5 against 3, 4, 6. */
	rig_split(1u << 1 | 1u << 2 | 1u << 5);
	t0 = it_now_ms();
	stream_run(&st, 10000);
	t_split = it_now_ms() - t0;
	printf("  partition: statuses at the end of the split: %s, %s | %s, "
	    "%s; OUT_OF_SERVICE messages %d, %d | %d, %d\n", c[0]->status,
	    c[1]->status, c[2]->status, c[3]->status,
	    c[0]->out_of_service - oos_before[0],
	    c[1]->out_of_service - oos_before[1],
	    c[2]->out_of_service - oos_before[2],
	    c[3]->out_of_service - oos_before[3]);
	if (c[0]->out_of_service + c[1]->out_of_service == oos_before[0] +
	    oos_before[1] || c[2]->out_of_service + c[3]->out_of_service ==
	    oos_before[2] + oos_before[3])
		it_fail("a side was not told OUT_OF_SERVICE during the split: "
		    "%s; %s; %s; %s", fc_describe(c[0]), fc_describe(c[1]),
		    fc_describe(c[2]), fc_describe(c[3]));
	for (i = 0; i < 4; i++)
		if (c[i]->logins != 1)
			it_fail("client %s was not connected throughout: %s",
			    c[i]->name, fc_describe(c[i]));

	rig_heal();
	t0 = it_now_ms();
	/* Healed: activities cross again and both sides say NORMAL. */
	while (stream_missing(&st, c[0], NULL) > 0 ||
	    stream_missing(&st, c[3], NULL) > 0 ||
	    strcmp(c[0]->status, "NORMAL") != 0 ||
	    strcmp(c[3]->status, "NORMAL") != 0) {
		if (it_now_ms() - t0 > (uint64_t)(4 * it_timeout()))
			break;
		stream_run(&st, 50);
	}
	t_heal = it_now_ms() - t0;
	stream_run(&st, 1000);
	t0 = it_now_ms();
	while ((miss = stream_missing_all(&st)) > 0 &&
	    it_now_ms() - t0 < (uint64_t)(2 * it_timeout()))
		fc_poll(c, 4, 10);
	for (i = 0; i < 4; i++) {
		stream_missing(&st, c[i], &twice);
		dups += c[i]->dups;
		order += c[i]->order_errors;
	}
	printf("  partition: %llu ms split, healed (all crossed, NORMAL) "
	    "after %llu ms; sent %ld+%ld+%ld+%ld; missing %ld, twice %ld, "
	    "repeats dropped %d, order breaks %d; S3 rejoined %d, S1 "
	    "heartbeat timeouts %d\n", (unsigned long long)t_split,
	    (unsigned long long)t_heal, st.sent[0], st.sent[1], st.sent[2],
	    st.sent[3], miss, twice, dups, order,
	    logs(3, "rejoined the cluster"), logs(1, "heartbeat timeout"));
	if (miss != 0 || twice != 0 || order != 0)
		it_fail("after the heal: %ld activities missing, %ld twice, "
		    "%d order breaks: %s; %s; %s; %s", miss, twice, order,
		    fc_describe(c[0]), fc_describe(c[1]), fc_describe(c[2]),
		    fc_describe(c[3]));
	for (i = 0; i < 4; i++)
		if (strcmp(c[i]->status, "NORMAL") != 0 || c[i]->logins != 1)
			it_fail("after the heal: %s", fc_describe(c[i]));
	fc_check_clean_at(__FILE__, __LINE__, FC_CLEAN_DUPS_OK);
}

/* Wall-clock milliseconds, as the servers stamp registrations. */
static long long
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The last journal line of server i about user, malloc'd, or NULL. */
static char *
journal_last(int i, const char *user)
{
	char	 path[4200], line[4096], key[256], *last = NULL;
	FILE	*f;

	snprintf(path, sizeof path, "%s/users.journal", datadir[i]);
	snprintf(key, sizeof key, "{\"username\":\"%s\"", user);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0) {
			free(last);
			last = strdup(line);
		}
	fclose(f);
	return last;
}

/*
 * The same name registered on both sides of a partition: A first, B
 * later.  After the heal A's registration (the earlier) survives on
 * every server by the documented rule, B's session is told why and
 * closed, B's secret no longer logs in anywhere, and both journals end
 * with the same entry.
 */
static void
net__register_both_sides__earlier_wins_everywhere(void **state)
{
	struct fclient		*w[2];
	struct it_client	*la, *lb;
	const char		*info;
	long long		 t_a;
	char			*ja, *jb;
	uint64_t		 t0;

	(void)state;
	rig_up(4);
	net_server(1, 0, NULL, NULL, NULL);
	net_server(2, 1, NULL, NULL, NULL);
	w[0] = net_client(3, 1, "wa");
	w[1] = net_client(4, 2, "wb");
	fc_wait_up(it_timeout());

	rig_split(1u << 1 | 1u << 3);
	/* Each side has given the other up: a registration is its own. */
	FC_WAIT(w, 2, 2 * it_timeout(), logs(1, "heartbeat timeout") >= 1 &&
	    logs(2, "heartbeat timeout") >= 1, "the sides did not see the "
	    "split: %s; %s", fc_describe(w[0]), fc_describe(w[1]));

	it_set_client_netns(rig_ns(3));
	it_register(sv[1], "carol", "secret-of-a");
	t_a = wall_ms();
	la = it_connect(sv[1], "la");
	it_login(la, "carol", "secret-of-a");
	/* B registers strictly later, so the rule has one answer. */
	while (wall_ms() <= t_a + 1)
		fc_poll(w, 2, 1);
	it_set_client_netns(rig_ns(4));
	it_register(sv[2], "carol", "secret-of-b");
	lb = it_connect(sv[2], "lb");
	it_login(lb, "carol", "secret-of-b");
	it_set_client_netns(NULL);

	rig_heal();
	t0 = it_now_ms();
	/* Base-protocol sessions: the next line is the verdict. */
	it_expect_within(lb, "AUTHENTICATION_FAIL", 3 * it_timeout());
	info = cJSON_GetStringValue(cJSON_GetObjectItem(lb->msg, "info"));
	if (info == NULL || strstr(info, "registered elsewhere first") ==
	    NULL)
		it_fail("the losing session was not told why: %s", lb->line);
	it_expect_closed(lb);
	printf("  register on both sides: loser's session told after %llu "
	    "ms of the heal: \"%s\"\n",
	    (unsigned long long)(it_now_ms() - t0), info);
	if (it_read_line(la, 200) != IT_READ_TIMEOUT)
		it_fail("the winning session got %s", la->line);

	it_set_client_netns(rig_ns(4));
	it_login_eventually(sv[2], "carol", "secret-of-a");
	lb = it_connect(sv[2], "lb2");
	it_login_fail(lb, "carol", "secret-of-b");
	it_set_client_netns(rig_ns(3));
	lb = it_connect(sv[1], "lb3");
	it_login_fail(lb, "carol", "secret-of-b");
	it_set_client_netns(NULL);

	ja = journal_last(1, "carol");
	jb = journal_last(2, "carol");
	if (ja == NULL || jb == NULL || strcmp(ja, jb) != 0)
		it_fail("the journals disagree about carol: S1 %s, S2 %s",
		    ja != NULL ? ja : "(none)", jb != NULL ? jb : "(none)");
	printf("  both journals end with %s", ja);
	free(ja);
	free(jb);
}

/*
 * One-way failure: S2's packets to S1 are dropped, S1's reach S2 (over
 * TCP both directions soon fail: S1's data goes unacknowledged).  S1
 * notices the silent child within the heartbeat bound and drops it;
 * S2, the root's successor, serves as root, and a liveness window later
 * joins S3, which it can still reach, once; the tree does not flap
 * while the fault lasts nor when it is repaired.
 */
static void
net__one_way_link__detected_once_no_flapping(void **state)
{
	struct fclient	*c[3];
	uint64_t	 t0, t_detect, t_rejoin;
	int		 j1, j2, j3, hb;

	(void)state;
	rig_up(4);
	net_server(1, 0, NULL, NULL, NULL);
	net_server(2, 1, NULL, NULL, NULL);
	net_server(3, 1, NULL, NULL, NULL);
	c[0] = net_client(4, 1, "c1");
	c[1] = net_client(4, 2, "c2");
	c[2] = net_client(4, 3, "c3");
	fc_exchange("before");

	rig_block(2, 1);
	t0 = it_now_ms();
	FC_WAIT(c, 3, 2 * it_timeout(), logs(1, "heartbeat timeout") >= 1,
	    "S1 did not notice the one-way link");
	t_detect = it_now_ms() - t0;
	FC_WAIT(c, 3, 3 * it_timeout(), logs(2, "rejoined the cluster") >= 1,
	    "S2 did not rejoin after the one-way failure");
	t_rejoin = it_now_ms() - t0;
	fc_exchange("one-way");
	/* Watch for flapping while the fault lasts. */
	fc_run(c, 3, 4 * NET_HB_TIMEOUT);
	j1 = logs(2, "rejoined the cluster");
	hb = logs(1, "heartbeat timeout") + logs(2, "heartbeat timeout") +
	    logs(3, "heartbeat timeout");
	fc_exchange("during");

	rig_heal();
	fc_run(c, 3, 4 * NET_HB_TIMEOUT);
	j2 = logs(2, "rejoined the cluster");
	j3 = logs(1, "rejoined the cluster") + logs(3, "rejoined the cluster");
	fc_exchange("after");
	printf("  one-way link S2->S1: S1 dropped S2 after %llu ms (bound "
	    "%d), S2 rejoined after %llu ms; rejoins of S2: %d during the "
	    "fault, %d after the repair; of S1/S3: %d; heartbeat timeouts "
	    "%d\n", (unsigned long long)t_detect, NET_BOUND_MS,
	    (unsigned long long)t_rejoin, j1, j2 - j1, j3, hb);
	if (t_detect > NET_BOUND_MS)
		it_fail("the one-way link was noticed after %llu ms, over the "
		    "bound of %d ms", (unsigned long long)t_detect,
		    NET_BOUND_MS);
	if (j1 != 1 || j2 != j1 || j3 != 0)
		it_fail("the tree flapped: S2 rejoined %d times during the "
		    "fault and %d after it, S1/S3 %d times", j1, j2 - j1, j3);
	fc_check_clean_at(__FILE__, __LINE__, FC_CLEAN_DUPS_OK);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A slow link: S2 joins S1 over 1 Mbit/s each way with 50 ms each way,
 * and a client of S1 sends 2,000 activities a second for ms, more than
 * the link carries.  The link must hold (no drop and re-join, which
 * would send everything again, overflow again and loop).  With outbuf
 * NULL (--server-outbuf at its default) the backlog queues at S1 and
 * drains, nothing lost; with a small one the queue stays within it and
 * S1 sheds activities for that link, and says so.  Prints the delivery
 * latency and loss on both sides of the link.
 */
static void
slow_link(int ms, const char *outbuf)
{
	struct fclient	*c[3], *pub, *near, *far;
	struct stream	 st;
	uint64_t	*lat, t0, quiet;
	long		 n, got = 0, miss_near, miss_far, last = -1;
	int		 i, k, rejoins, hb, shed;

	rig_up(4);
	net_bind = "0.0.0.0";
	if (outbuf != NULL)
		net_server(1, 0, NULL, NULL, "--server-outbuf", outbuf, NULL);
	else
		net_server(1, 0, NULL, NULL, NULL);
	rig_wan(2, 1, "1mbit", 7200, NET_PORT(1), 50);
	net_server(2, 1, NULL, "10.78.0.1", "-rp", "7200", NULL);
	pub = c[0] = net_client(3, 1, "pub");
	near = c[1] = net_client(3, 1, "near");
	far = c[2] = net_client(4, 2, "far");
	fc_exchange("hello");

	memset(&st, 0, sizeof st);
	st.cs = &pub;
	st.n = 1;
	/* 2,000 a second: as many as the clock says are due. */
	t0 = it_now_ms();
	while ((n = (long)(it_now_ms() - t0)) < ms) {
		while (st.sent[0] < 2 * n &&
		    fc_send(pub, "pub", st.sent[0] + 1) != 0)
			st.sent[0]++;
		fc_poll(c, 3, 1);
	}
	t0 = quiet = it_now_ms();
	/* Drain: until all is there, or nothing has come for a while. */
	while ((miss_far = stream_missing(&st, far, NULL)) > 0 &&
	    it_now_ms() - quiet < (uint64_t)(2 * it_timeout()) &&
	    it_now_ms() - t0 < 60000) {
		if (miss_far != last) {
			last = miss_far;
			quiet = it_now_ms();
		}
		fc_poll(c, 3, 20);
	}
	miss_near = stream_missing(&st, near, NULL);
	if ((lat = calloc((size_t)st.sent[0] + 1, sizeof *lat)) == NULL)
		abort();
	for (n = 1; n <= st.sent[0]; n++) {
		const struct fc_rx	*r = fc_find(far, "pub", n);
		const struct fc_sent	*s = fc_sent_seq(pub, (uint64_t)n + 1);

		if (r != NULL && s != NULL)
			lat[got++] = r->at_ms - s->at_ms;
	}
	qsort(lat, (size_t)got, sizeof *lat, cmp_u64);
	rejoins = logs(2, "rejoined the cluster");
	hb = logs(1, "heartbeat timeout") + logs(2, "heartbeat timeout");
	k = logs(1, "slow consumer") + logs(2, "slow consumer");
	shed = logs(1, "activities shed so far");
	printf("  slow link (1 Mbit/s, 50 ms each way, --server-outbuf %s): "
	    "%ld sent at 2000/s in %d ms; near side missing %ld, far side "
	    "missing %ld (%.1f %%); far latency p50 %llu ms, p99 %llu ms, "
	    "max %llu ms; link re-joins %d, heartbeat timeouts %d, "
	    "slow-consumer drops %d, shedding log lines %d\n",
	    outbuf != NULL ? outbuf : "default", st.sent[0], ms, miss_near,
	    miss_far, 100.0 * (double)miss_far / (double)st.sent[0],
	    got ? (unsigned long long)lat[got / 2] : 0ULL,
	    got ? (unsigned long long)lat[got * 99 / 100] : 0ULL,
	    got ? (unsigned long long)lat[got - 1] : 0ULL, rejoins, hb, k,
	    shed);
	free(lat);
	if (rejoins != 0 || hb != 0 || k != 0)
		it_fail("the slow link was dropped: %d re-joins, %d heartbeat "
		    "timeouts, %d slow-consumer drops", rejoins, hb, k);
	if (miss_near != 0)
		it_fail("activities lost on the near side: %ld", miss_near);
	if (outbuf == NULL && miss_far != 0)
		it_fail("activities lost over the slow link: %ld: %s",
		    miss_far, fc_describe(far));
	if (outbuf != NULL && (miss_far == 0 || shed == 0))
		it_fail("no shedding reported (%d log lines) with %ld missing "
		    "across a link the stream overflows", shed, miss_far);
	if (outbuf != NULL && got < st.sent[0] / 10)
		it_fail("only %ld of %ld crossed the slow link", got,
		    st.sent[0]);
	for (i = 0; i < 3; i++)
		if (c[i]->logins != 1)
			it_fail("a client lost its server: %s",
			    fc_describe(c[i]));
	/* Shed activities leave gaps, but what arrives is in order. */
	for (i = 0, last = 0; i < far->nrx; i++) {
		if (far->rx[i].tag == NULL || strcmp(far->rx[i].tag, "pub"))
			continue;
		if (far->rx[i].n <= last)
			it_fail("pub #%ld arrived after #%ld", far->rx[i].n,
			    last);
		last = far->rx[i].n;
	}
	fc_exchange("after");
	fc_check_clean_at(__FILE__, __LINE__, outbuf != NULL ?
	    FC_CLEAN_DUPS_OK | FC_CLEAN_ORDER_OK : FC_CLEAN_DUPS_OK);
}

/* A 3 s burst over the slow link queues and drains, none lost. */
static void
net__slow_link__burst_queues_and_drains(void **state)
{
	(void)state;
	slow_link(3000, NULL);
}

/*
 * 8 s over the slow link with a 1 MB --server-outbuf: S1 sheds for the
 * link, says so, and the link stays up (it used to be dropped as a
 * slow consumer, re-join, be replayed what it lacked and be dropped
 * again, every second or so).
 */
static void
net__slow_link__sustained_overload_sheds_not_rejoins(void **state)
{
	(void)state;
	slow_link(8000, "1000000");
}

/*
 * A whole host lost: S2's link goes down (no FIN, no RST).  Its child
 * S3 and its client (an orphan) find the rest of the tree within the
 * heartbeat bound; when the host comes back, S2 joins again and the
 * cluster is one tree.
 */
static void
net__host_lost__recovery_within_bound(void **state)
{
	struct fclient	*c[3], *orphan;
	uint64_t	 t0, t_tree, t_orphan;
	int		 i;

	(void)state;
	rig_up(4);
	net_server(1, 0, NULL, NULL, NULL);
	net_server(2, 1, NULL, NULL, NULL);
	net_server(3, 2, NULL, NULL, NULL);
	c[0] = net_client(4, 1, "c1");
	orphan = c[1] = net_client(4, 2, "c2");
	c[2] = net_client(4, 3, "c3");
	/* Clients watch their link as the servers do theirs. */
	for (i = 0; i < 3; i++) {
		c[i]->ping_ms = NET_HB_MS;
		c[i]->dead_ms = NET_HB_TIMEOUT;
	}
	fc_exchange("before");
	FC_WAIT(c, 3, 2 * it_timeout(), orphan->nbackups > 0,
	    "no backup list: %s", fc_describe(orphan));

	rig_link(2, 0);
	t0 = it_now_ms();
	FC_WAIT(c, 3, 3 * it_timeout(), logs(3, "rejoined the cluster") >= 1,
	    "S3 did not rejoin after its parent's host was lost");
	t_tree = it_now_ms() - t0;
	FC_WAIT(c, 3, 3 * it_timeout(), orphan->failovers >= 1 &&
	    fc_up(orphan), "the orphan did not fail over: %s",
	    fc_describe(orphan));
	t_orphan = orphan->up_ms - t0;
	fc_exchange("lost");
	printf("  host lost: S3 rejoined after %llu ms, the orphan logged in "
	    "at port %d after %llu ms (bound %d ms)\n",
	    (unsigned long long)t_tree, orphan->cur.port,
	    (unsigned long long)t_orphan, NET_BOUND_MS);
	if (t_tree > NET_BOUND_MS)
		it_fail("the tree took %llu ms to recover, over %d ms",
		    (unsigned long long)t_tree, NET_BOUND_MS);
	if (t_orphan > NET_HB_MS + NET_HB_TIMEOUT + NET_BOUND_MS -
	    NET_HB_TIMEOUT)
		it_fail("the orphan took %llu ms to recover",
		    (unsigned long long)t_orphan);

	rig_link(2, 1);
	t0 = it_now_ms();
	FC_WAIT(c, 3, 4 * it_timeout(), logs(2, "joined the cluster") >= 2,
	    "S2 did not join again after its host came back");
	printf("  host back: S2 joined again after %llu ms\n",
	    (unsigned long long)(it_now_ms() - t0));
	net_client(4, 2, "c4");
	fc_exchange("back");
	fc_check_clean_at(__FILE__, __LINE__, FC_CLEAN_DUPS_OK);
}

/* Is host a name the rig gave a server ("srvN-SFX")? */
static int
is_srv_name(const char *host)
{
	return strncmp(host, "srv", 3) == 0 && strstr(host, rig_sfx()) !=
	    NULL;
}

/*
 * Servers known by names that are not the addresses they bind (one
 * binds every address): the tree joins by name, BACKUP_LIST and
 * REDIRECT carry the names, and clients on other hosts follow them;
 * a failed-over child rejoins by name.
 */
static void
net__advertised_names__backup_and_redirect_work(void **state)
{
	struct fclient	*c[8], *on3, *on2;
	char		 name[4][32];
	int		 i, n = 0, redirected = 0;

	(void)state;
	rig_up(5);
	for (i = 1; i <= 3; i++) {
		snprintf(name[i], sizeof name[i], "srv%d-%s", i, rig_sfx());
		rig_alias(i, name[i]);
	}
	net_bind = "0.0.0.0";
	net_server(1, 0, name[1], NULL, NULL);
	net_server(2, 1, name[2], name[1], NULL);
	net_server(3, 2, name[3], name[2], NULL);
	on3 = c[n++] = net_client(4, 3, "on3");
	on2 = c[n++] = net_client(5, 2, "on2");
	FC_WAIT(c, n, 2 * it_timeout(), on3->nbackups > 0 &&
	    on2->nbackups > 0 && strcmp(on3->status, "NORMAL") == 0,
	    "no backup lists: %s; %s", fc_describe(on3), fc_describe(on2));
	for (i = 0; i < on3->nbackups; i++)
		if (!is_srv_name(on3->backups[i].host))
			it_fail("a BACKUP_LIST entry is not a name: %s",
			    on3->backups[i].host);
	for (i = 0; i < on2->nbackups; i++)
		if (!is_srv_name(on2->backups[i].host))
			it_fail("a BACKUP_LIST entry is not a name: %s",
			    on2->backups[i].host);

	/* S1 gets busy: new logins there are sent on, by name. */
	for (i = 0; i < 4; i++) {
		char	 cn[16];

		snprintf(cn, sizeof cn, "r%d", i);
		it_set_client_netns(rig_ns(4 + i % 2));
		c[n] = fc_new(cn, "anonymous", NULL, 0);
		fc_start_at(c[n], name[1], NET_PORT(1), 0);
		n++;
		it_set_client_netns(NULL);
		fc_wait_up(it_timeout());
	}
	for (i = 2; i < n; i++) {
		if (c[i]->redirects > 0) {
			redirected++;
			if (!is_srv_name(c[i]->cur.host) ||
			    c[i]->cur.port == NET_PORT(1))
				it_fail("redirected to %s:%d", c[i]->cur.host,
				    c[i]->cur.port);
		}
	}
	fc_exchange("names");

	/* S2 dies: S3 rejoins by a name, on2 fails over by a name. */
	it_server_kill9(sv[2]);
	FC_WAIT(c, n, 3 * it_timeout(), logs(3, "rejoined the cluster") >= 1 &&
	    on2->failovers >= 1 && fc_up(on2), "no recovery by name: %s",
	    fc_describe(on2));
	if (!is_srv_name(on2->cur.host))
		it_fail("the orphan failed over to %s", on2->cur.host);
	printf("  names: %d of 4 logins at a busy server redirected by name, "
	    "the orphan failed over to %s, S3 rejoined by name\n",
	    redirected, on2->cur.host);
	if (redirected == 0)
		it_fail("no login was redirected");
	fc_exchange("after");
	fc_check_clean_at(__FILE__, __LINE__, FC_CLEAN_DUPS_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    net__partition_10s__heals_exactly_once, net_setup,
		    net_teardown),
		cmocka_unit_test_setup_teardown(
		    net__register_both_sides__earlier_wins_everywhere,
		    net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(
		    net__one_way_link__detected_once_no_flapping, net_setup,
		    net_teardown),
		cmocka_unit_test_setup_teardown(
		    net__slow_link__burst_queues_and_drains, net_setup,
		    net_teardown),
		cmocka_unit_test_setup_teardown(
		    net__slow_link__sustained_overload_sheds_not_rejoins,
		    net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(
		    net__host_lost__recovery_within_bound, net_setup,
		    net_teardown),
		cmocka_unit_test_setup_teardown(
		    net__advertised_names__backup_and_redirect_work, net_setup,
		    net_teardown),
	};

	return it_run_tests("net", tests);
}
