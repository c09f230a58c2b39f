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

#include "harness.h"
#include "fclient.h"
#include "rig.h"

#define NET_PORT(i)	(7100 + (i))
#define NET_HB_MS	500		/* the server defaults */
#define NET_HB_TIMEOUT	2000
/*
 * The heartbeat bound: silence is noticed within the timeout plus one
 * cron period, and the rest (a connection, AUTHENTICATE, a login) is a
 * few round trips; one heartbeat of slack for a loaded machine.
 */
#define NET_BOUND_MS	(NET_HB_TIMEOUT + 2 * NET_HB_MS)

static struct it_server	*sv[RIG_MAX_HOSTS + 1];

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
	dir = it_mkdtemp(name);
	argv[n++] = "-lh";
	argv[n++] = lh != NULL ? lh : rig_ip(i);
	argv[n++] = "-lp";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = rig_ip(i);
	argv[n++] = "-s";
	argv[n++] = IT_SECRET;
	argv[n++] = "-a";
	argv[n++] = "500";
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    net__partition_10s__heals_exactly_once, net_setup,
		    net_teardown),
	};

	return it_run_tests("net", tests);
}
