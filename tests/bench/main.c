/*
 * activity-bench: options, the run loop, and the output helpers every
 * workload uses (human lines, one markdown row, one JSON object).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

struct bench_opts	 opts;
struct event_base	*base;
struct baddr		 addrs[BENCH_ADDRS_MAX];
int			 naddrs;

static struct event	*sig_ev[2];
static volatile int	 interrupted;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: activity-bench WORKLOAD [options]\n"
"\n"
"Measure a cluster of activity-server processes on this machine.  The\n"
"bench either starts its own loopback cluster (--cluster N) or uses an\n"
"existing one (--servers).  Every run prints a human summary, one\n"
"markdown table row (a line starting '| ') and one JSON object (a line\n"
"starting '{') on stdout; progress and warnings go to stderr.\n"
"\n"
"Workloads:\n"
"  fanout     S subscribers and P publishers, spread round-robin over the\n"
"             servers, send M activities of B bytes, each publisher keeping\n"
"             at most W in flight (or paced by --rate).  Every logged-in\n"
"             client, publishers included, receives every broadcast; each\n"
"             receipt is checked (loss, duplicates, per-publisher order) and\n"
"             timed (the activity carries publisher id, sequence number and\n"
"             a CLOCK_MONOTONIC send time).\n"
"  steady     fanout at a fixed publish rate (default 10000/s for 5 s, no\n"
"             window): latency percentiles at a known load.\n"
"  failover   steady load (default 1 publisher at 2000/s, 30 subscribers),\n"
"             then kill -9 (or SIGSTOP) of one server; its clients (the\n"
"             orphans) fail over to the servers of the BACKUP_LIST if the\n"
"             server offers backup_list, else to the next server of the\n"
"             list, resuming their session if it offers resume.  The\n"
"             publisher does what the protocol promises for zero loss: after\n"
"             failing over it resends, in the same session with the same\n"
"             activity_seq, every activity without an\n"
"             ACTIVITY_SENDING_REPORT; every client drops repeats by\n"
"             (sender, activity_seq).  Measures per orphan the time from\n"
"             the kill to logged in elsewhere and to receiving again; the\n"
"             time until the surviving servers are one tree again (a probe\n"
"             client on each server sends a probe every --probe-ms after the\n"
"             kill: the first round that reached every surviving server's\n"
"             probe client) and until CLUSTER_STATUS is NORMAL on all of\n"
"             them; lost / duplicated (after the dedupe) / out of order for\n"
"             every receiver, the killed server's included.\n"
"  register   REGISTER -> REGISTER_SUCCESS latency on clusters of each size\n"
"             of --sizes, and the server-to-server messages one registration\n"
"             costs, counted on the links by a counting proxy the bench puts\n"
"             between each server and its parent (own clusters only).\n"
"  idle       N idle logged-in clients; server RSS per connection from\n"
"             /proc/PID/status VmRSS before and after (needs the PIDs).\n"
"  report     steady load with sending_report (default 1 publisher at\n"
"             2000/s, 30 subscribers): time from sending an activity to\n"
"             its ACTIVITY_SENDING_REPORT (p50/p99/max), and every report\n"
"             checked: client_count = logged-in clients, succ_count =\n"
"             client_count, partial false, one per activity.\n"
"  ordering   steady load with activity_seq (in-order traffic; default\n"
"             30 subscribers + 3 publishers at 10000/s for 3 s), on\n"
"             clusters started alternately with the server's default\n"
"             --order-wait and with --order-wait 0 (ordering off), in the\n"
"             order A B B A A B ...; --runs counts runs (default 10).\n"
"             Prints p50/p99 of each mode and the difference.\n"
"  logins     steady load (10000/s for 5 s), alternately without and with\n"
"             a storm of --logins LOGINs/s (default 200) of a registered\n"
"             user, each on a new connection (A B B A ...; --runs default\n"
"             4).  A LOGIN costs the server a slow password hash unless\n"
"             its login cache knows the secret (--logins-users: many\n"
"             users, cold); prints the p99 of each mode and their ratio.\n"
"  history    the history log: --msgs activities of --size bytes appended\n"
"             in this process through the server's history module, written\n"
"             every --window (a loop turn's batch) and synced every second:\n"
"             ns per append; then one server started on that log (--cluster\n"
"             1) and a client with \"history\" paging back 1000 at a time:\n"
"             HISTORY -> HISTORY_END latency (p50/p90/max).\n"
"  cluster    start a cluster, print 'CLUSTER_READY servers=... pids=...',\n"
"             hold it until SIGTERM/SIGINT or --hold S, then stop it (for\n"
"             other load generators and profilers).\n"
"\n"
"Where the servers are:\n"
"  --cluster N           start N servers on free loopback ports (root first,\n"
"                        the others join it with -rh/-rp/-s) and wait until\n"
"                        an activity from the root reaches a client on every\n"
"                        server; stop exactly those PIDs at the end\n"
"  --topology chain|star each server joins the previous one, or the root\n"
"                        (default chain)\n"
"  --server-bin PATH     activity-server to run (default: next to this\n"
"                        program, else bin/activity-server)\n"
"  --announce-ms MS      -a for the servers (default 1000; failover,\n"
"                        report, ordering: 0 = the server's own default)\n"
"  --server-arg ARG      pass ARG to every server (repeatable)\n"
"  --keep-logs           keep the servers' logs (the directory is printed)\n"
"  --servers H:P,...     use running servers (loopback addresses only)\n"
"  --server-pids PID,... their PIDs, in the same order: for RSS, CPU and\n"
"                        failover's kill; without them those are skipped\n"
"\n"
"Traffic (fanout, steady, failover):\n"
"  --subs S              subscriber clients (default 30)\n"
"  --pubs P              publisher clients (default 3; failover 1)\n"
"  --msgs M              activities in total (default 100000; steady and\n"
"                        failover: rate x duration)\n"
"  --size B              bytes of each activity as sent (default 200)\n"
"  --window W            per publisher, activities sent but not yet received\n"
"                        by the slowest receiver (default 100; 0 = off)\n"
"  --rate R              total publishes per second (0 = unpaced)\n"
"  --duration S          steady/failover: seconds of publishing (5 / 8)\n"
"  --pub-server I        put every publisher on server I (failover: 0)\n"
"\n"
"Failover:\n"
"  --kill-index I        server to kill (default 1: in a chain of 3 the\n"
"                        middle one, with a parent and a child server)\n"
"  --kill-after-ms MS    when, after publishing starts (default 3000)\n"
"  --kill-signal kill|stop  kill -9 (default), or SIGSTOP: a silent\n"
"                        failure, found only by heartbeats (the stopped\n"
"                        server is SIGKILLed at the end)\n"
"  --features LIST       LOGIN features to ask for (failover default\n"
"                        backup_list,activity_seq,sending_report,resume,\n"
"                        heartbeat; report: activity_seq,sending_report;\n"
"                        ordering: activity_seq; other workloads none: the\n"
"                        base protocol).  With activity_seq the publishers\n"
"                        number their activities and receivers drop repeats\n"
"                        by (sender, activity_seq) (counted apart); with\n"
"                        resume an orphan logs in again with its session\n"
"                        and what it has seen per sender, and the server\n"
"                        replays the gap\n"
"  --no-resend           the publisher does not resend unreported\n"
"                        activities after failing over\n"
"  --probe-ms MS         tree probe period after the kill (default 5; 0 off)\n"
"  --client-heartbeat-ms MS  a client PINGs a link quiet for MS (failover\n"
"                        default 500, the server's --heartbeat; else off)\n"
"  --client-dead-ms MS   and gives it up (and a connect or LOGIN\n"
"                        unanswered) after MS (failover default 2000, the\n"
"                        server's --heartbeat-timeout; 0 = off)\n"
"  --report-wait-ms MS   with sending_report, wait up to MS after the last\n"
"                        send for the reports (default 3000)\n"
"  --logins R            logins: LOGINs per second of a registered user,\n"
"                        each on a new connection, in the storm runs\n"
"                        (default 200)\n"
"  --logins-anonymous    logins: the storm logs in as anonymous (no\n"
"                        password hash: the control for the hash's cost)\n"
"  --logins-users N      logins: register N users first and log in as each\n"
"                        in turn (a cold login cache: every LOGIN a slow\n"
"                        hash until a user comes back to the same server;\n"
"                        repeats are counted); without it one user, whom\n"
"                        the servers' login cache soon knows\n"
"  --settle-ms MS        after the last publish, stop once nothing new\n"
"                        arrived for MS (default 1000)\n"
"\n"
"Register:\n"
"  --sizes N,N,...       cluster sizes (default 1,3,5; needs --cluster mode,\n"
"                        with --servers the given cluster is measured once)\n"
"  --count R             registrations per size (default 200)\n"
"  --concurrency C       registrations in flight (default 1)\n"
"  --count-links K       registrations on a proxied cluster to count\n"
"                        server-to-server messages (default 20; 0 = off)\n"
"\n"
"Idle:\n"
"  --conns N             idle clients (default 10000; RLIMIT_NOFILE is raised\n"
"                        to its hard limit and N lowered to fit if needed)\n"
"\n"
"General:\n"
"  --runs N              repeat the workload N times, a fresh cluster each;\n"
"                        then a summary: median and worst over the runs\n"
"  --timeout S           hard limit on one run (default 120)\n"
"  --idle-timeout-ms MS  give up when nothing moves for MS (default 3000)\n"
"  --connect-timeout-ms MS  for logins and cluster formation (default 20000)\n"
"  --label TEXT          a label copied into the output\n"
"  --json                print only the JSON objects (and rows) on stdout\n"
"  -v, --verbose         progress on stderr\n"
"  -h, --help            this help\n"
"\n"
"Examples:\n"
"  activity-bench fanout --cluster 3 --subs 30 --pubs 3 --msgs 100000\n"
"  activity-bench steady --cluster 3 --rate 10000 --duration 5\n"
"  activity-bench failover --cluster 3 --runs 20\n"
"  activity-bench failover --cluster 3 --pub-server 1   # publisher killed\n"
"  activity-bench failover --cluster 3 --kill-signal stop\n"
"  activity-bench report --cluster 3\n"
"  activity-bench ordering --cluster 3 --runs 10\n"
"  activity-bench register --sizes 1,3,5 --count 200\n"
"  activity-bench idle --cluster 1 --conns 10000\n"
"  activity-bench fanout --servers 127.0.0.1:3780,127.0.0.1:3781\n");
}

uint64_t
bench_now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
bench_log(const char *fmt, ...)
{
	va_list	 ap;

	if (!opts.verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "activity-bench: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* A line of the human summary. */
void
bench_say(const char *fmt, ...)
{
	va_list	 ap;

	if (opts.json_only)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
}

void
bench_fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fprintf(stderr, "activity-bench: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	cluster_stop();
	exit(2);
}

/* One markdown table row: | workload | figures | */
void
bench_row(const char *what, const char *fmt, ...)
{
	va_list	 ap;

	printf("| %s | ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" |\n");
	fflush(stdout);
}

void
loadavg_read(double la[3])
{
	FILE	*f;

	la[0] = la[1] = la[2] = -1;
	if ((f = fopen("/proc/loadavg", "r")) == NULL)
		return;
	if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
		la[0] = la[1] = la[2] = -1;
	fclose(f);
}

/* ------------------------------------------------------------ JSON */

void
json_key(struct jbuf *b, const char *k)
{
	if (b->len > 0 && b->p[b->len - 1] != '{' && b->p[b->len - 1] != '[')
		jbuf_addc(b, ',');
	jbuf_cstr(b, k);
	jbuf_addc(b, ':');
}

void
json_kstr(struct jbuf *b, const char *k, const char *v)
{
	json_key(b, k);
	if (v == NULL)
		jbuf_adds(b, "null");
	else
		jbuf_cstr(b, v);
}

void
json_kint(struct jbuf *b, const char *k, long long v)
{
	json_key(b, k);
	jbuf_int(b, v);
}

void
json_knum(struct jbuf *b, const char *k, double v)
{
	char	 buf[64];

	json_key(b, k);
	if (v != v || v > 1e300 || v < -1e300)
		jbuf_adds(b, "null");
	else {
		snprintf(buf, sizeof buf, "%.3f", v);
		jbuf_adds(b, buf);
	}
}

/* The members every run's object starts with. */
void
json_begin(struct jbuf *b, struct run_env *env)
{
	double	 la[3];
	char	 ts[32], buf[96];
	time_t	 t = (time_t)(env->t_wall_start / 1000);
	struct tm tm;

	jbuf_reset(b);
	jbuf_addc(b, '{');
	json_kstr(b, "tool", "activity-bench");
	json_kstr(b, "workload", opts.workload_name);
	if (opts.label != NULL)
		json_kstr(b, "label", opts.label);
	json_kint(b, "run", env->run);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_kstr(b, "started", ts);
	loadavg_read(la);
	snprintf(buf, sizeof buf, "%.2f,%.2f,%.2f]", env->load_before[0],
	    env->load_before[1], env->load_before[2]);
	json_key(b, "loadavg_before");
	jbuf_addc(b, '[');
	jbuf_adds(b, buf);
	snprintf(buf, sizeof buf, "%.2f,%.2f,%.2f]", la[0], la[1], la[2]);
	json_key(b, "loadavg_after");
	jbuf_addc(b, '[');
	jbuf_adds(b, buf);
	json_kint(b, "nproc", sysconf(_SC_NPROCESSORS_ONLN));
	cluster_json(b);
}

void
json_end(struct jbuf *b)
{
	jbuf_adds(b, "}\n");
	fwrite(b->p, 1, b->len, stdout);
	fflush(stdout);
}

/* ------------------------------------------------------------ addresses */

int
addr_is_loopback(const char *host)
{
	struct in_addr	 a;

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a) != 1)
		return 0;
	return (ntohl(a.s_addr) >> 24) == 127;
}

/* Index of host:port in the table, added if new; -1 if not loopback. */
int
addr_add(const char *host, int port)
{
	struct baddr	*a;
	const char	*ip = host;
	int		 i;

	if (strcmp(host, "localhost") == 0)
		ip = "127.0.0.1";
	if (!addr_is_loopback(ip) || port < 1 || port > 65535)
		return -1;
	for (i = 0; i < naddrs; i++)
		if (addrs[i].port == port && strcmp(addrs[i].host, ip) == 0)
			return i;
	if (naddrs == BENCH_ADDRS_MAX)
		return -1;
	a = &addrs[naddrs];
	memset(a, 0, sizeof *a);
	snprintf(a->host, sizeof a->host, "%s", ip);
	a->port = port;
	a->server = -1;
	a->sin.sin_family = AF_INET;
	a->sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a->sin.sin_addr);
	for (i = 0; i < cl.n; i++)
		if (cl.srv[i].port == port)
			a->server = i;
	return naddrs++;
}

const char *
addr_name(int i)
{
	static char	 buf[4][80];
	static int	 k;

	k = (k + 1) % 4;
	if (i < 0 || i >= naddrs)
		return "?";
	snprintf(buf[k], sizeof buf[k], "%s:%d", addrs[i].host, addrs[i].port);
	return buf[k];
}

/* ------------------------------------------------------------ options */

static long
num(const char *opt, const char *s, long lo, long hi)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "activity-bench: %s: expected an integer from "
		    "%ld to %ld, not '%s'\n", opt, lo, hi, s);
		exit(2);
	}
	return v;
}

static double
fnum(const char *opt, const char *s, double lo, double hi)
{
	char	*end;
	double	 v;

	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "activity-bench: %s: expected a number from "
		    "%g to %g, not '%s'\n", opt, lo, hi, s);
		exit(2);
	}
	return v;
}

static void
parse_sizes(const char *s)
{
	char	*dup, *tok, *save = NULL;

	if ((dup = strdup(s)) == NULL)
		exit(2);
	opts.nreg_sizes = 0;
	for (tok = strtok_r(dup, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (opts.nreg_sizes == BENCH_SIZES_MAX)
			break;
		opts.reg_sizes[opts.nreg_sizes++] =
		    (int)num("--sizes", tok, 1, BENCH_SERVERS_MAX);
	}
	free(dup);
}

static const char *
default_server_bin(const char *argv0)
{
	static char	 path[PATH_MAX];
	char		 self[PATH_MAX], *dir;
	ssize_t		 n;

	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		dir = dirname(self);
		snprintf(path, sizeof path, "%s/activity-server", dir);
		if (access(path, X_OK) == 0)
			return path;
	}
	(void)argv0;
	return "bin/activity-server";
}

static const struct {
	const char		*name;
	enum bench_workload	 wl;
} workloads[] = {
	{ "fanout", WL_FANOUT },
	{ "steady", WL_STEADY },
	{ "failover", WL_FAILOVER },
	{ "register", WL_REGISTER },
	{ "idle", WL_IDLE },
	{ "cluster", WL_CLUSTER },
	{ "report", WL_REPORT },
	{ "ordering", WL_ORDERING },
	{ "logins", WL_LOGINS },
	{ "history", WL_HISTORY },
};

enum {
	O_CLUSTER = 256, O_TOPO, O_SBIN, O_ANN, O_SARG, O_KEEP, O_SERVERS,
	O_SPIDS, O_SUBS, O_PUBS, O_MSGS, O_SIZE, O_WINDOW, O_RATE, O_DUR,
	O_PUBSRV, O_KIDX, O_KAFTER, O_FEAT, O_SETTLE, O_SIZES, O_COUNT,
	O_CONC, O_CLINKS, O_CONNS, O_RUNS, O_TIMEOUT, O_IDLET, O_CONNT,
	O_LABEL, O_JSON, O_HOLD, O_KSIG, O_NORESEND, O_PROBE, O_HB, O_DEAD,
	O_REPWAIT, O_LOGINS, O_LOGINS_ANON, O_LOGINS_USERS,
};

static const struct option longopts[] = {
	{ "cluster", required_argument, NULL, O_CLUSTER },
	{ "topology", required_argument, NULL, O_TOPO },
	{ "server-bin", required_argument, NULL, O_SBIN },
	{ "announce-ms", required_argument, NULL, O_ANN },
	{ "server-arg", required_argument, NULL, O_SARG },
	{ "keep-logs", no_argument, NULL, O_KEEP },
	{ "servers", required_argument, NULL, O_SERVERS },
	{ "server-pids", required_argument, NULL, O_SPIDS },
	{ "subs", required_argument, NULL, O_SUBS },
	{ "pubs", required_argument, NULL, O_PUBS },
	{ "msgs", required_argument, NULL, O_MSGS },
	{ "size", required_argument, NULL, O_SIZE },
	{ "window", required_argument, NULL, O_WINDOW },
	{ "rate", required_argument, NULL, O_RATE },
	{ "duration", required_argument, NULL, O_DUR },
	{ "pub-server", required_argument, NULL, O_PUBSRV },
	{ "kill-index", required_argument, NULL, O_KIDX },
	{ "kill-after-ms", required_argument, NULL, O_KAFTER },
	{ "features", required_argument, NULL, O_FEAT },
	{ "settle-ms", required_argument, NULL, O_SETTLE },
	{ "sizes", required_argument, NULL, O_SIZES },
	{ "count", required_argument, NULL, O_COUNT },
	{ "concurrency", required_argument, NULL, O_CONC },
	{ "count-links", required_argument, NULL, O_CLINKS },
	{ "conns", required_argument, NULL, O_CONNS },
	{ "runs", required_argument, NULL, O_RUNS },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "idle-timeout-ms", required_argument, NULL, O_IDLET },
	{ "connect-timeout-ms", required_argument, NULL, O_CONNT },
	{ "label", required_argument, NULL, O_LABEL },
	{ "json", no_argument, NULL, O_JSON },
	{ "hold", required_argument, NULL, O_HOLD },
	{ "kill-signal", required_argument, NULL, O_KSIG },
	{ "no-resend", no_argument, NULL, O_NORESEND },
	{ "probe-ms", required_argument, NULL, O_PROBE },
	{ "client-heartbeat-ms", required_argument, NULL, O_HB },
	{ "client-dead-ms", required_argument, NULL, O_DEAD },
	{ "report-wait-ms", required_argument, NULL, O_REPWAIT },
	{ "logins", required_argument, NULL, O_LOGINS },
	{ "logins-anonymous", no_argument, NULL, O_LOGINS_ANON },
	{ "logins-users", required_argument, NULL, O_LOGINS_USERS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
parse_args(int argc, char **argv)
{
	int	 c, i, set_pubs = 0, set_msgs = 0, set_window = 0, set_rate = 0;
	int	 set_dur = 0, set_pubsrv = 0, set_feat = 0, set_ann = 0;
	int	 set_kidx = 0, set_idlet = 0, set_hb = 0, set_dead = 0;
	int	 set_runs = 0, paced;
	size_t	 k;

	memset(&opts, 0, sizeof opts);
	opts.topology = TOPO_CHAIN;
	opts.announce_ms = 1000;
	opts.subs = 30;
	opts.pubs = 3;
	opts.msgs = 100000;
	opts.size = 200;
	opts.window = 100;
	opts.pub_server = -1;
	opts.kill_index = -1;
	opts.kill_after_ms = 3000;
	opts.kill_signal = SIGKILL;
	opts.settle_ms = 1000;
	opts.resend = 1;
	opts.probe_ms = 5;
	opts.report_wait_ms = 3000;
	opts.reg_sizes[0] = 1;
	opts.reg_sizes[1] = 3;
	opts.reg_sizes[2] = 5;
	opts.nreg_sizes = 3;
	opts.reg_count = 200;
	opts.reg_concurrency = 1;
	opts.reg_count_links = 20;
	opts.idle_conns = 10000;
	opts.runs = 1;
	opts.timeout_s = 120;
	opts.idle_timeout_ms = 3000;
	opts.connect_timeout_ms = 20000;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		exit(0);
	}
	if (argc < 2 || argv[1][0] == '-') {
		usage(stderr);
		exit(2);
	}
	for (k = 0; k < sizeof workloads / sizeof workloads[0]; k++)
		if (strcmp(argv[1], workloads[k].name) == 0)
			break;
	if (k == sizeof workloads / sizeof workloads[0]) {
		fprintf(stderr, "activity-bench: unknown workload '%s'\n",
		    argv[1]);
		exit(2);
	}
	opts.workload = workloads[k].wl;
	opts.workload_name = workloads[k].name;
	argc--;
	argv++;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case O_CLUSTER:
			opts.cluster = (int)num("--cluster", optarg, 1,
			    BENCH_SERVERS_MAX);
			break;
		case O_TOPO:
			if (strcmp(optarg, "chain") == 0)
				opts.topology = TOPO_CHAIN;
			else if (strcmp(optarg, "star") == 0)
				opts.topology = TOPO_STAR;
			else {
				fprintf(stderr, "activity-bench: --topology "
				    "chain or star\n");
				exit(2);
			}
			break;
		case O_SBIN:
			opts.server_bin = optarg;
			break;
		case O_ANN:
			opts.announce_ms = (int)num("--announce-ms", optarg, 0,
			    3600000);
			if (opts.announce_ms > 0 && opts.announce_ms < 10)
				opts.announce_ms = 10;
			set_ann = 1;
			break;
		case O_SARG:
			if (opts.nserver_args < 16)
				opts.server_args[opts.nserver_args++] = optarg;
			break;
		case O_KEEP:
			opts.keep_logs = 1;
			break;
		case O_SERVERS:
			opts.servers = optarg;
			break;
		case O_SPIDS:
			opts.server_pids = optarg;
			break;
		case O_SUBS:
			opts.subs = (int)num("--subs", optarg, 0, 100000);
			break;
		case O_PUBS:
			opts.pubs = (int)num("--pubs", optarg, 1, 1000);
			set_pubs = 1;
			break;
		case O_MSGS:
			opts.msgs = (uint64_t)num("--msgs", optarg, 1,
			    1000000000);
			set_msgs = 1;
			break;
		case O_SIZE:
			opts.size = (int)num("--size", optarg, 96, 60000);
			break;
		case O_WINDOW:
			opts.window = num("--window", optarg, 0, 100000000);
			set_window = 1;
			break;
		case O_RATE:
			opts.rate = fnum("--rate", optarg, 0, 1e8);
			set_rate = 1;
			break;
		case O_DUR:
			opts.duration_s = fnum("--duration", optarg, 0.1, 3600);
			set_dur = 1;
			break;
		case O_PUBSRV:
			opts.pub_server = (int)num("--pub-server", optarg, 0,
			    BENCH_SERVERS_MAX - 1);
			set_pubsrv = 1;
			break;
		case O_KIDX:
			opts.kill_index = (int)num("--kill-index", optarg, 0,
			    BENCH_SERVERS_MAX - 1);
			set_kidx = 1;
			break;
		case O_KAFTER:
			opts.kill_after_ms = (int)num("--kill-after-ms", optarg,
			    0, 3600000);
			break;
		case O_FEAT:
			opts.features = optarg[0] != '\0' ? optarg : NULL;
			set_feat = 1;
			break;
		case O_SETTLE:
			opts.settle_ms = (int)num("--settle-ms", optarg, 10,
			    600000);
			break;
		case O_SIZES:
			parse_sizes(optarg);
			break;
		case O_COUNT:
			opts.reg_count = (int)num("--count", optarg, 1, 1000000);
			break;
		case O_CONC:
			opts.reg_concurrency = (int)num("--concurrency", optarg,
			    1, 10000);
			break;
		case O_CLINKS:
			opts.reg_count_links = (int)num("--count-links", optarg,
			    0, 100000);
			break;
		case O_CONNS:
			opts.idle_conns = (int)num("--conns", optarg, 1, 1000000);
			break;
		case O_RUNS:
			opts.runs = (int)num("--runs", optarg, 1, 1000);
			set_runs = 1;
			break;
		case O_TIMEOUT:
			opts.timeout_s = (int)num("--timeout", optarg, 1, 86400);
			break;
		case O_IDLET:
			opts.idle_timeout_ms = (int)num("--idle-timeout-ms",
			    optarg, 10, 3600000);
			set_idlet = 1;
			break;
		case O_CONNT:
			opts.connect_timeout_ms = (int)num(
			    "--connect-timeout-ms", optarg, 100, 3600000);
			break;
		case O_LABEL:
			opts.label = optarg;
			break;
		case O_JSON:
			opts.json_only = 1;
			break;
		case O_HOLD:
			opts.hold_s = (int)num("--hold", optarg, 0, 86400);
			break;
		case O_KSIG:
			if (strcasecmp(optarg, "kill") == 0 ||
			    strcasecmp(optarg, "sigkill") == 0 ||
			    strcmp(optarg, "9") == 0)
				opts.kill_signal = SIGKILL;
			else if (strcasecmp(optarg, "stop") == 0 ||
			    strcasecmp(optarg, "sigstop") == 0)
				opts.kill_signal = SIGSTOP;
			else {
				fprintf(stderr, "activity-bench: --kill-signal "
				    "kill or stop\n");
				exit(2);
			}
			break;
		case O_NORESEND:
			opts.resend = 0;
			break;
		case O_PROBE:
			opts.probe_ms = (int)num("--probe-ms", optarg, 0, 10000);
			break;
		case O_HB:
			opts.hb_ms = (int)num("--client-heartbeat-ms", optarg, 0,
			    3600000);
			set_hb = 1;
			break;
		case O_DEAD:
			opts.dead_ms = (int)num("--client-dead-ms", optarg, 0,
			    3600000);
			set_dead = 1;
			break;
		case O_REPWAIT:
			opts.report_wait_ms = (int)num("--report-wait-ms", optarg,
			    0, 3600000);
			break;
		case O_LOGINS:
			opts.logins = fnum("--logins", optarg, 1, 1e6);
			break;
		case O_LOGINS_ANON:
			opts.logins_anonymous = 1;
			break;
		case O_LOGINS_USERS:
			opts.logins_users = (int)num("--logins-users", optarg,
			    1, 100000);
			break;
		case 'v':
			opts.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "activity-bench: unexpected argument '%s'\n",
		    argv[optind]);
		exit(2);
	}
	if ((opts.cluster == 0) == (opts.servers == NULL)) {
		fprintf(stderr, "activity-bench: give exactly one of --cluster N "
		    "and --servers H:P,...\n");
		exit(2);
	}
	if (opts.server_bin == NULL)
		opts.server_bin = default_server_bin(argv[0]);

	/* Per-workload defaults for what the user did not set. */
	paced = opts.workload == WL_STEADY || opts.workload == WL_FAILOVER ||
	    opts.workload == WL_REPORT || opts.workload == WL_ORDERING ||
	    opts.workload == WL_LOGINS;
	switch (opts.workload) {
	case WL_STEADY:
		if (!set_rate)
			opts.rate = 10000;
		if (!set_dur)
			opts.duration_s = 5;
		break;
	case WL_FAILOVER:
		/* "with default settings": the server's announce interval */
		if (!set_ann)
			opts.announce_ms = 0;
		if (!set_kidx)
			opts.kill_index = 1;
		if (!set_idlet)
			opts.idle_timeout_ms = 5000;
		if (!set_hb)
			opts.hb_ms = 500;
		if (!set_dead)
			opts.dead_ms = 2000;
		if (!set_pubs)
			opts.pubs = 1;
		if (!set_rate)
			opts.rate = 2000;
		if (!set_dur)
			opts.duration_s = 8;
		if (!set_pubsrv)
			opts.pub_server = 0;
		if (!set_feat)
			opts.features = "backup_list,activity_seq,"
			    "sending_report,resume,heartbeat";
		break;
	case WL_REPORT:
		if (!set_ann)
			opts.announce_ms = 0;
		if (!set_pubs)
			opts.pubs = 1;
		if (!set_rate)
			opts.rate = 2000;
		if (!set_dur)
			opts.duration_s = 5;
		if (!set_feat)
			opts.features = "activity_seq,sending_report";
		break;
	case WL_ORDERING:
		if (!set_ann)
			opts.announce_ms = 0;
		if (!set_rate)
			opts.rate = 10000;
		if (!set_dur)
			opts.duration_s = 3;
		if (!set_feat)
			opts.features = "activity_seq";
		if (!set_runs)
			opts.runs = 10;
		break;
	case WL_LOGINS:
		if (!set_ann)
			opts.announce_ms = 0;
		if (!set_rate)
			opts.rate = 10000;
		if (!set_dur)
			opts.duration_s = 5;
		if (!set_runs)
			opts.runs = 4;
		if (opts.logins <= 0)
			opts.logins = 200;
		break;
	default:
		break;
	}
	/* Paced workloads send rate x duration with no window by default. */
	if (paced && !set_window)
		opts.window = 0;
	if ((paced || set_dur) && opts.rate > 0 && !set_msgs)
		opts.msgs = (uint64_t)(opts.rate * opts.duration_s);
	if (paced && opts.rate <= 0) {
		fprintf(stderr, "activity-bench: %s needs --rate > 0\n",
		    opts.workload_name);
		exit(2);
	}
	if (opts.msgs < 1)
		opts.msgs = 1;
	for (i = 0; i < opts.nserver_args; i++)
		if (opts.server_args[i][0] == '\0')
			opts.server_args[i] = NULL;
}

static void
sig_cb(evutil_socket_t sig, short ev, void *arg)
{
	(void)ev;
	(void)arg;
	interrupted = 1;
	fprintf(stderr, "activity-bench: signal %d: stopping\n", (int)sig);
	event_base_loopbreak(base);
}

int
bench_interrupted(void)
{
	return interrupted;
}

/* The cluster workload: start, announce, hold, stop. */
static int
wl_cluster(void)
{
	struct timeval	 tv;
	char		 list[1024], pids[512];
	size_t		 a = 0, b = 0;
	int		 i;

	list[0] = pids[0] = '\0';
	for (i = 0; i < cl.n; i++) {
		a += (size_t)snprintf(list + a, sizeof list - a, "%s127.0.0.1:%d",
		    i ? "," : "", cl.srv[i].port);
		b += (size_t)snprintf(pids + b, sizeof pids - b, "%s%d",
		    i ? "," : "", (int)cl.srv[i].pid);
	}
	printf("CLUSTER_READY servers=%s pids=%s formed_ms=%llu logs=%s\n",
	    list, pids, (unsigned long long)cl.formed_ms,
	    cl.dir[0] ? cl.dir : "-");
	fflush(stdout);
	if (opts.hold_s > 0) {
		tv.tv_sec = opts.hold_s;
		tv.tv_usec = 0;
		event_base_loopexit(base, &tv);
	}
	event_base_dispatch(base);
	return 0;
}

int
main(int argc, char **argv)
{
	struct event_config	*ecfg;
	struct run_env		 env;
	struct timespec		 ts;
	long			 soft, hard;
	int			 run, rc = 0, r;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	bench_raise_nofile(&soft, &hard);
	bench_log("RLIMIT_NOFILE %ld (hard %ld)", soft, hard);

	/* Without a precise timer libevent reads the coarse clock and a
	 * 1 ms pacing tick fires once a jiffy. */
	ecfg = event_config_new();
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (base == NULL)
		bench_fatal("event_base_new failed");
	sig_ev[0] = evsignal_new(base, SIGINT, sig_cb, NULL);
	sig_ev[1] = evsignal_new(base, SIGTERM, sig_cb, NULL);
	event_add(sig_ev[0], NULL);
	event_add(sig_ev[1], NULL);

	for (run = 1; run <= opts.runs && !interrupted; run++) {
		memset(&env, 0, sizeof env);
		env.run = run;
		opts.nrun_server_args = 0;
		if (opts.workload == WL_ORDERING) {
			/* interleaved A B B A A B ...: drift hits both alike */
			int pair = (run - 1) / 2, pos = (run - 1) % 2;

			env.mode = (pair % 2 == 0) ? pos : 1 - pos;
			if (env.mode == 1) {
				opts.run_server_args[0] = "--order-wait";
				opts.run_server_args[1] = "0";
				opts.nrun_server_args = 2;
			}
		} else if (opts.workload == WL_LOGINS) {
			int pair = (run - 1) / 2, pos = (run - 1) % 2;

			env.mode = (pair % 2 == 0) ? pos : 1 - pos;
			/* Many users from one address: lift the spam limits,
			 * in both modes alike. */
			if (opts.logins_users > 0) {
				opts.run_server_args[0] = "--register-rate";
				opts.run_server_args[1] = "0";
				opts.run_server_args[2] = "--register-conn-rate";
				opts.run_server_args[3] = "0";
				opts.nrun_server_args = 4;
			}
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		env.t_wall_start = (uint64_t)ts.tv_sec * 1000 +
		    (uint64_t)ts.tv_nsec / 1000000;
		loadavg_read(env.load_before);

		if (opts.workload == WL_REGISTER) {
			/* Full speed from one address: lift the spam limits. */
			opts.run_server_args[0] = "--register-rate";
			opts.run_server_args[1] = "0";
			opts.run_server_args[2] = "--register-conn-rate";
			opts.run_server_args[3] = "0";
			opts.nrun_server_args = 4;
			r = wl_register(&env);
			if (r != 0)
				rc = 1;
			continue;
		}
		if (opts.workload == WL_HISTORY) {
			if (wl_history(&env) != 0)
				rc = 1;
			continue;
		}
		if (opts.cluster > 0) {
			if (cluster_start(opts.cluster, 0) != 0) {
				cluster_stop();
				rc = 1;
				continue;
			}
		} else if (cluster_attach(opts.servers, opts.server_pids) != 0)
			return 2;
		if (cluster_wait_formed(opts.connect_timeout_ms) != 0) {
			fprintf(stderr, "activity-bench: the cluster did not "
			    "form within %d ms\n", opts.connect_timeout_ms);
			cluster_stop();
			rc = 1;
			continue;
		}
		switch (opts.workload) {
		case WL_FANOUT:
		case WL_STEADY:
		case WL_FAILOVER:
		case WL_REPORT:
		case WL_ORDERING:
		case WL_LOGINS:
			r = wl_traffic(&env);
			break;
		case WL_IDLE:
			r = wl_idle(&env);
			break;
		case WL_CLUSTER:
			r = wl_cluster();
			break;
		default:
			r = 1;
			break;
		}
		if (r != 0)
			rc = 1;
		cluster_stop();
	}
	switch (opts.workload) {
	case WL_FANOUT:
	case WL_STEADY:
	case WL_FAILOVER:
	case WL_REPORT:
	case WL_ORDERING:
	case WL_LOGINS:
		traffic_summary(opts.runs);
		break;
	default:
		break;
	}
	event_free(sig_ev[0]);
	event_free(sig_ev[1]);
	event_base_free(base);
	return interrupted ? 130 : rc;
}
