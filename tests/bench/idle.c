/*
 * idle: N logged-in clients that say nothing more, and what they cost
 * the servers: VmRSS of every server before the first connection and
 * once all N are logged in and the figure has stopped moving.
 */
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bench.h"

#define IDLE_CONNECTING_MAX	256
#define IDLE_FD_RESERVE		64

static struct {
	struct client	*cls;
	int		 n;
	int		 next;
	int		 pending;	/* connecting or logging in */
	int		 ready;
	int		 failed;
	uint64_t	 t_start;
	uint64_t	 t_all;
	const char	*end;
	struct hist	 login;
	struct event	*tick_ev;
} ID;

static void	idle_start_more(void);

static void
idle_check_done(void)
{
	if (ID.ready + ID.failed == ID.n && ID.end == NULL) {
		ID.t_all = bench_now_ns();
		ID.end = ID.failed == 0 ? "complete" : "complete_with_failures";
		event_base_loopbreak(base);
	}
}

static void
idle_ready(struct client *c)
{
	if (c->ever_ready)
		return;
	hist_add(&ID.login, bench_now_ns() - c->t_sent);
	ID.ready++;
	ID.pending--;
	idle_start_more();
	idle_check_done();
}

static void
idle_down(struct client *c, const char *why)
{
	if (ID.end != NULL)
		return;
	if (!c->ever_ready)
		ID.pending--;
	else
		ID.ready--;
	ID.failed++;
	c->state = CS_DEAD;
	if (ID.failed <= 5)
		fprintf(stderr, "activity-bench: idle client %d on %s: %s\n",
		    c->idx, addr_name(c->cur), why);
	idle_start_more();
	idle_check_done();
}

static const struct client_ops idle_ops = {
	.ready = idle_ready,
	.down = idle_down,
};

static void
idle_start_more(void)
{
	struct client	*c;

	while (ID.next < ID.n && ID.pending < IDLE_CONNECTING_MAX) {
		c = &ID.cls[ID.next];
		client_init(c, ID.next, CR_IDLE,
		    cl.srv[ID.next % cl.n].addr);
		c->t_sent = bench_now_ns();
		ID.next++;
		ID.pending++;
		client_connect(c, 0);
	}
}

static void
idle_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	if (bench_interrupted())
		ID.end = "interrupted";
	else if (bench_now_ns() - ID.t_start >
	    (uint64_t)opts.timeout_s * 1000000000ull)
		ID.end = "timeout";
	if (ID.end != NULL)
		event_base_loopbreak(base);
}

static long
rss_total(long *each)
{
	long	 t = 0, v;
	int	 i;

	for (i = 0; i < cl.n; i++) {
		v = cl.srv[i].pid > 0 ? proc_rss_kb(cl.srv[i].pid) : -1;
		each[i] = v;
		if (v < 0)
			return -1;
		t += v;
	}
	return t;
}

static void
quiet_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	event_base_loopbreak(base);
}

/* Run the loop for ms (clients keep being served meanwhile). */
static void
idle_wait(int ms)
{
	struct event	*e = evtimer_new(base, quiet_cb, NULL);
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(e, &tv);
	event_base_dispatch(base);
	event_free(e);
}

int
wl_idle(struct run_env *env)
{
	struct jbuf	 b;
	struct rlimit	 rl;
	struct timeval	 tv = { 0, 20000 };
	long		 rss0[BENCH_SERVERS_MAX], rss1[BENCH_SERVERS_MAX];
	long		 rss2[BENCH_SERVERS_MAX], t0, t1, t2 = -1, prev;
	double		 per_conn = -1, la[3], secs;
	int		 i, n = opts.idle_conns, lowered = 0, stable;
	char		 what[96];

	memset(&ID, 0, sizeof ID);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    (rlim_t)n + IDLE_FD_RESERVE > rl.rlim_cur) {
		n = (int)rl.rlim_cur - IDLE_FD_RESERVE;
		lowered = 1;
		fprintf(stderr, "activity-bench: RLIMIT_NOFILE is %ld: %d idle "
		    "clients instead of %d\n", (long)rl.rlim_cur, n,
		    opts.idle_conns);
	}
	if (n < 1)
		return 1;
	ID.n = n;
	if ((ID.cls = calloc((size_t)n, sizeof *ID.cls)) == NULL)
		bench_fatal("out of memory");
	client_ops = &idle_ops;
	g_proto_errors = 0;
	g_last_error[0] = '\0';
	ID.tick_ev = event_new(base, -1, EV_PERSIST, idle_tick_cb, NULL);
	event_add(ID.tick_ev, &tv);

	t0 = rss_total(rss0);
	ID.t_start = bench_now_ns();
	idle_start_more();
	event_base_dispatch(base);
	event_del(ID.tick_ev);
	secs = ((ID.t_all ? ID.t_all : bench_now_ns()) - ID.t_start) / 1e9;

	/* let the servers finish what the logins started: wait until
	 * their RSS stops moving (two equal readings 200 ms apart) */
	t1 = rss_total(rss1);
	for (stable = 0; t1 >= 0 && stable < 15; stable++) {
		prev = t1;
		idle_wait(200);
		t1 = rss_total(rss1);
		if (t1 == prev)
			break;
	}
	if (t0 >= 0 && t1 >= 0 && ID.ready > 0)
		per_conn = (double)(t1 - t0) / ID.ready;

	for (i = 0; i < ID.next; i++)
		client_free(&ID.cls[i]);
	if (t1 >= 0) {
		idle_wait(300);
		t2 = rss_total(rss2);
	}

	loadavg_read(la);
	jbuf_init(&b);
	json_begin(&b, env);
	json_kstr(&b, "status", ID.end != NULL && strcmp(ID.end, "complete")
	    == 0 ? "ok" : "failed");
	json_kstr(&b, "end", ID.end != NULL ? ID.end : "?");
	json_kint(&b, "clients_requested", opts.idle_conns);
	json_kint(&b, "clients", n);
	json_kint(&b, "lowered_by_rlimit_nofile", lowered);
	json_kint(&b, "logged_in", ID.ready);
	json_kint(&b, "failed", ID.failed);
	json_knum(&b, "connect_s", secs);
	json_knum(&b, "logins_per_s", secs > 0 ? ID.ready / secs : 0);
	hist_json(&b, "login", &ID.login);
	json_kint(&b, "rss_before_kb", t0);
	json_kint(&b, "rss_idle_kb", t1);
	json_kint(&b, "rss_after_close_kb", t2);
	json_knum(&b, "rss_per_client_kb", per_conn);
	json_knum(&b, "rss_per_client_bytes", per_conn >= 0 ?
	    per_conn * 1024 : -1);
	json_key(&b, "per_server");
	jbuf_addc(&b, '[');
	for (i = 0; i < cl.n; i++) {
		if (i > 0)
			jbuf_addc(&b, ',');
		jbuf_addc(&b, '{');
		json_kint(&b, "rss_before_kb", rss0[i]);
		json_kint(&b, "rss_idle_kb", rss1[i]);
		json_kint(&b, "rss_after_close_kb", t2 >= 0 ? rss2[i] : -1);
		jbuf_addc(&b, '}');
	}
	jbuf_addc(&b, ']');
	if (g_last_error[0])
		json_kstr(&b, "last_error", g_last_error);

	bench_say("== idle run %d: %d clients on %d server%s: %d logged in "
	    "(%d failed) in %.2f s (%.0f logins/s, p99 %.1f ms)", env->run, n,
	    cl.n, cl.n == 1 ? "" : "s", ID.ready, ID.failed, secs,
	    secs > 0 ? ID.ready / secs : 0, hist_pct(&ID.login, .99) / 1e6);
	if (per_conn >= 0)
		bench_say("   server RSS %ld KB -> %ld KB: %.2f KB (%.0f bytes) "
		    "per idle client; %ld KB after they left; load %.2f -> "
		    "%.2f", t0, t1, per_conn, per_conn * 1024, t2,
		    env->load_before[0], la[0]);
	else
		bench_say("   server RSS not measured (no PIDs: give "
		    "--server-pids)");
	snprintf(what, sizeof what, "idle, %d clients on %d server%s", n,
	    cl.n, cl.n == 1 ? "" : "s");
	if (per_conn >= 0)
		bench_row(what, "%.2f KB (%.0f bytes) server RSS per idle "
		    "client (%ld -> %ld KB); %d logged in, %d failed | %.2f",
		    per_conn, per_conn * 1024, t0, t1, ID.ready, ID.failed,
		    env->load_before[0]);
	else
		bench_row(what, "RSS not measured; %d logged in, %d failed | "
		    "%.2f", ID.ready, ID.failed, env->load_before[0]);
	json_end(&b);
	jbuf_free(&b);
	event_free(ID.tick_ev);
	free(ID.cls);
	return ID.end != NULL && strcmp(ID.end, "complete") == 0 ? 0 : 1;
}
