/*
 * The history workload: what keeping the history log costs, and how
 * fast it is read back.
 *
 * An append is measured in this process, through the server's own
 * history module (server/history.c): --msgs server lines, each carrying
 * an activity of --size bytes, appended as activity_deliver() appends
 * them, written once per --window appends (one loop turn's batch) and
 * synced on the server's cron tick: wall and CPU time per append, write
 * and fdatasync included.  Then a server is started on that data
 * directory (the time until it listens includes reading the log back)
 * and a client that asked for "history" pages through it HISTORY_PAGE
 * activities at a time, from the latest back (HISTORY before the first
 * of the previous page, from the latest again at the start): each
 * HISTORY -> HISTORY_END timed, every line read.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"
#include "delivery.h"
#include "history.h"

#define HISTLOG_PAGE	1000	/* activities a fetch asks for */
#define HISTLOG_FETCHES	60

/* A blocking line reader on one connection. */
struct hl_conn {
	int	 fd;
	char	*buf;
	size_t	 len, cap, off;
	size_t	 bytes;		/* read since the last reset */
};

/* The next line (without LF) within ms, or NULL. */
static char *
hl_line(struct hl_conn *c, int ms, size_t *len)
{
	struct pollfd	 pfd;
	char		*nl, *line;
	ssize_t		 n;
	uint64_t	 end = bench_now_ns() + (uint64_t)ms * 1000000;

	for (;;) {
		if (c->len > c->off && (nl = memchr(c->buf + c->off, '\n',
		    c->len - c->off)) != NULL) {
			line = c->buf + c->off;
			*len = (size_t)(nl - line);
			*nl = '\0';
			c->off = (size_t)(nl - c->buf) + 1;
			return line;
		}
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 1 << 20;
			if ((c->buf = realloc(c->buf, c->cap)) == NULL)
				bench_fatal("realloc");
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (bench_now_ns() >= end ||
		    poll(&pfd, 1, (int)((end - bench_now_ns()) / 1000000) + 1)
		    <= 0)
			return NULL;
		n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
		c->bytes += (size_t)n;
	}
}

/* Send one line, all of it. */
static int
hl_send(struct hl_conn *c, const char *s)
{
	size_t	 len = strlen(s), done = 0;
	ssize_t	 n;

	while (done < len) {
		n = write(c->fd, s + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* The command of a line, into cmd. */
static void
hl_command(const char *line, size_t len, char *cmd, size_t cmdlen)
{
	struct json_span	 obj = { line, len };
	const char		*err;

	cmd[0] = '\0';
	if (json_validate(line, len, JSON_DEPTH_MAX, &err) != JSON_OBJECT ||
	    json_get_str(obj, "command", cmd, cmdlen) != 0)
		cmd[0] = '\0';
}

/* Nanoseconds of CPU this thread has used. */
static uint64_t
hl_thread_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Append n activities of size bytes to a history in dir, as the server
 * would, a batch at a time: the batch's server lines are built first,
 * then only the appends, the write at the end of the batch (the end of
 * a loop turn) and the cron tick's sync are timed.  *wall_ns and
 * *cpu_ns per append, *sync_ns the part of the wall time the syncs
 * took.  -1 if the history cannot be opened.
 */
static int
hl_append(const char *dir, uint64_t n, int size, long batch,
    double *wall_ns, double *cpu_ns, double *sync_ns, uint64_t *bytes)
{
	struct history_config	 cfg;
	struct history		*h;
	struct act		 a;
	struct jbuf		 lines;
	char			 err[256], (*mids)[64], *pad;
	size_t			*offs, *acts, *actlens, k, nb;
	uint64_t		 i, t0, t1, c0, wall = 0, cpu = 0, sync = 0;

	cfg.max = HISTORY_MAX_DEFAULT;
	cfg.bytes = HISTORY_BYTES_DEFAULT;
	cfg.age_ms = (uint64_t)HISTORY_AGE_DEFAULT * 1000;
	if ((h = history_open(base, dir, &cfg, err, sizeof err)) == NULL) {
		fprintf(stderr, "activity-bench: history: %s\n", err);
		return -1;
	}
	if ((pad = malloc((size_t)size + 1)) == NULL ||
	    (mids = calloc((size_t)batch, sizeof *mids)) == NULL ||
	    (offs = calloc((size_t)batch + 1, sizeof *offs)) == NULL ||
	    (acts = calloc((size_t)batch, sizeof *acts)) == NULL ||
	    (actlens = calloc((size_t)batch, sizeof *actlens)) == NULL)
		bench_fatal("malloc");
	memset(pad, 'x', (size_t)size);
	pad[size] = '\0';
	jbuf_init(&lines);
	memset(&a, 0, sizeof a);
	a.sender = "b3c1d2e4f5a69788.7";
	for (i = 1; i <= n; i += nb) {
		nb = n - i + 1 < (uint64_t)batch ? (size_t)(n - i + 1) :
		    (size_t)batch;
		/* The batch's server lines, as activity_take() builds them. */
		jbuf_reset(&lines);
		for (k = 0; k < nb; k++) {
			offs[k] = lines.len;
			snprintf(mids[k], sizeof mids[k],
			    "b3c1d2e4f5a69788:%llu", (unsigned long long)i + k);
			jbuf_adds(&lines, "{\"command\":\"ACTIVITY_BROADCAST\","
			    "\"activity\":");
			acts[k] = lines.len - offs[k];
			jbuf_adds(&lines, "{\"authenticated_user\":"
			    "\"anonymous\",\"text\":");
			jbuf_cstr(&lines, pad);
			jbuf_addc(&lines, '}');
			actlens[k] = lines.len - offs[k] - acts[k];
			jbuf_adds(&lines, ",\"mid\":");
			jbuf_cstr(&lines, mids[k]);
			jbuf_adds(&lines, ",\"sender\":\"b3c1d2e4f5a69788.7\","
			    "\"activity_seq\":");
			jbuf_int(&lines, (long long)(i + k));
			jbuf_adds(&lines, ",\"username\":\"anonymous\","
			    "\"ts\":");
			jbuf_int(&lines, (long long)wall_ms());
			jbuf_adds(&lines, ",\"prev\":");
			jbuf_int(&lines, (long long)(i + k) - 1);
			jbuf_adds(&lines, "}\n");
		}
		offs[nb] = lines.len;
		t0 = bench_now_ns();
		c0 = hl_thread_ns();
		for (k = 0; k < nb; k++) {
			a.line = lines.p + offs[k];
			a.len = offs[k + 1] - offs[k];
			a.act_off = acts[k];
			a.act_len = actlens[k];
			a.mid = mids[k];
			a.seq = i + k;
			history_append(h, &a, wall_ms());
		}
		/* The loop turn ends: its records written, the cron tick. */
		history_flush(h);
		t1 = bench_now_ns();
		history_cron(h, now_ms(), wall_ms());
		sync += bench_now_ns() - t1;
		wall += bench_now_ns() - t0;
		cpu += hl_thread_ns() - c0;
	}
	*wall_ns = (double)wall / (double)n;
	*cpu_ns = (double)cpu / (double)n;
	*sync_ns = (double)sync / (double)n;
	*bytes = history_bytes(h);
	history_close(h);
	jbuf_free(&lines);
	free(actlens);
	free(acts);
	free(offs);
	free(mids);
	free(pad);
	return 0;
}

/* Connect and LOGIN asking for "history"; -1 unless granted. */
static int
hl_login(struct hl_conn *c, int port)
{
	struct sockaddr_in	 sin;
	char			 cmd[64], *l;
	size_t			 len;

	memset(c, 0, sizeof *c);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		return -1;
	if (hl_send(c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"secret\":null,\"features\":[\"history\"]}\n") != 0)
		return -1;
	while ((l = hl_line(c, 10000, &len)) != NULL) {
		hl_command(l, len, cmd, sizeof cmd);
		if (strcmp(cmd, "LOGIN_SUCCESS") == 0)
			return strstr(l, "\"history\"") != NULL ? 0 : -1;
		if (strcmp(cmd, "LOGIN_FAILED") == 0)
			return -1;
	}
	return -1;
}

/*
 * One page: HISTORY (before mid, or the latest), read to HISTORY_END.
 * The first activity's mid goes to first; *count and *more from the
 * end.  -1 on a broken answer.
 */
static int
hl_fetch(struct hl_conn *c, const char *before, char *first,
    size_t firstlen, int *count, int *more)
{
	char			 req[512], cmd[64], *l;
	struct json_span	 obj, v;
	size_t			 len;
	long long		 n;
	int			 got = 0;

	if (before[0] != '\0')
		snprintf(req, sizeof req, "{\"command\":\"HISTORY\",\"limit\":"
		    "%d,\"before\":\"%s\"}\n", HISTLOG_PAGE, before);
	else
		snprintf(req, sizeof req, "{\"command\":\"HISTORY\",\"limit\":"
		    "%d}\n", HISTLOG_PAGE);
	if (hl_send(c, req) != 0)
		return -1;
	first[0] = '\0';
	while ((l = hl_line(c, 10000, &len)) != NULL) {
		/* A client takes in every line: the strict check each. */
		hl_command(l, len, cmd, sizeof cmd);
		obj.p = l;
		obj.len = len;
		if (strcmp(cmd, "HISTORY_ACTIVITY") == 0) {
			if (got++ == 0 && json_get_str(obj, "mid", first,
			    firstlen) != 0)
				return -1;
			continue;
		}
		if (strcmp(cmd, "HISTORY_END") != 0)
			continue;	/* live traffic: none here */
		if (json_get_int(obj, "count", &n) != 0 || n != got)
			return -1;
		*count = got;
		*more = json_get(obj, "more", JSON_BOOL, &v, NULL) == 0 &&
		    json_is_bool_true(v);
		return 0;
	}
	return -1;
}

/* The history workload, --runs times. */
int
wl_history(struct run_env *env)
{
	struct hl_conn	 c;
	struct hist	 fetch;
	struct jbuf	 b;
	char		 dir[128], before[256], first[256], cmd[160];
	double		 wall_ns, cpu_ns, sync_ns, la[3], scpu0, scpu = -1;
	uint64_t	 bytes, t0, start_ns, fetched = 0, pagebytes = 0;
	long		 batch = opts.window > 0 ? opts.window : 100;
	int		 i, count, more, rc = 0, pages = 0, broken = 0;

	snprintf(dir, sizeof dir, "/tmp/activity-bench-history.XXXXXX");
	if (mkdtemp(dir) == NULL)
		bench_fatal("mkdtemp: %s", strerror(errno));
	if (hl_append(dir, opts.msgs, opts.size, batch, &wall_ns, &cpu_ns,
	    &sync_ns, &bytes) != 0)
		return 1;

	opts.run_server_args[0] = "--data-dir";
	opts.run_server_args[1] = dir;
	opts.nrun_server_args = 2;
	t0 = bench_now_ns();
	if (cluster_start(1, 0) != 0 ||
	    cluster_wait_formed(opts.connect_timeout_ms) != 0) {
		cluster_stop();
		return 1;
	}
	start_ns = bench_now_ns() - t0;
	hist_reset(&fetch);
	memset(&c, 0, sizeof c);
	c.fd = -1;
	if (hl_login(&c, cl.srv[0].port) != 0) {
		fprintf(stderr, "activity-bench: history: LOGIN with "
		    "\"history\" not granted\n");
		rc = 1;
	}
	before[0] = '\0';
	scpu0 = proc_cpu_s(cl.srv[0].pid);
	for (i = 0; rc == 0 && i < HISTLOG_FETCHES; i++) {
		c.bytes = 0;
		t0 = bench_now_ns();
		if (hl_fetch(&c, before, first, sizeof first, &count,
		    &more) != 0) {
			broken++;
			rc = 1;
			break;
		}
		hist_add(&fetch, bench_now_ns() - t0);
		bench_log("page %d: %d activities, %zu bytes, more %d", i,
		    count, c.bytes, more);
		pages++;
		fetched += (uint64_t)count;
		pagebytes += c.bytes;
		/* Back from the latest again at the oldest. */
		if (more)
			snprintf(before, sizeof before, "%s", first);
		else
			before[0] = '\0';
	}
	if (pages > 0 && scpu0 >= 0 && proc_cpu_s(cl.srv[0].pid) >= 0)
		scpu = (proc_cpu_s(cl.srv[0].pid) - scpu0) / pages;
	if (c.fd != -1)
		close(c.fd);
	free(c.buf);

	loadavg_read(la);
	bench_say("== history run %d: %llu activities of %d B appended "
	    "(%llu bytes of log), written every %ld", env->run,
	    (unsigned long long)opts.msgs, opts.size,
	    (unsigned long long)bytes, batch);
	bench_say("   append: %.0f ns of CPU per activity, write included; "
	    "%.0f ns of wall time, of which fdatasync %.0f ns", cpu_ns,
	    wall_ns, sync_ns);
	bench_say("   server start on it: %.0f ms", start_ns / 1e6);
	bench_say("   fetch %d (%.0f per page, %.0f KB): p50 %.2f ms  p90 "
	    "%.2f  max %.2f over %d pages%s; server CPU %.2f ms a page; "
	    "load %.2f -> %.2f", HISTLOG_PAGE,
	    pages ? (double)fetched / pages : 0.0,
	    pages ? (double)pagebytes / pages / 1024 : 0.0,
	    hist_pct(&fetch, .5) / 1e6, hist_pct(&fetch, .9) / 1e6,
	    fetch.max / 1e6, pages, broken ? " (a page broke)" : "",
	    scpu * 1e3, env->load_before[0], la[0]);
	bench_row("history append, 1 activity", "%.0f ns of CPU (wall %.0f "
	    "ns, fdatasync %.0f of it); %llu of %d B, written every %ld, "
	    "synced every %d ms | %.2f", cpu_ns, wall_ns, sync_ns,
	    (unsigned long long)opts.msgs, opts.size, batch, HISTORY_SYNC_MS,
	    env->load_before[0]);
	bench_row("history fetch, 1000 activities", "p50 %.2f ms, p90 %.2f, "
	    "max %.2f; server CPU %.2f ms a page (%d pages of %.0f, from "
	    "%llu in the log) | %.2f", hist_pct(&fetch, .5) / 1e6,
	    hist_pct(&fetch, .9) / 1e6, fetch.max / 1e6, scpu * 1e3, pages,
	    pages ? (double)fetched / pages : 0.0,
	    (unsigned long long)opts.msgs, env->load_before[0]);
	jbuf_init(&b);
	json_begin(&b, env);
	json_kint(&b, "activities", (long long)opts.msgs);
	json_kint(&b, "size", opts.size);
	json_kint(&b, "batch", batch);
	json_kint(&b, "log_bytes", (long long)bytes);
	json_knum(&b, "append_ns", wall_ns);
	json_knum(&b, "append_cpu_ns", cpu_ns);
	json_knum(&b, "append_sync_ns", sync_ns);
	json_knum(&b, "start_ms", start_ns / 1e6);
	json_kint(&b, "pages", pages);
	json_knum(&b, "page_activities", pages ? (double)fetched / pages : 0);
	json_knum(&b, "page_bytes", pages ? (double)pagebytes / pages : 0);
	json_knum(&b, "server_cpu_ms_per_page", scpu * 1e3);
	hist_json(&b, "fetch", &fetch);
	json_end(&b);
	jbuf_free(&b);
	cluster_stop();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "activity-bench: could not remove %s\n", dir);
	return rc;
}
