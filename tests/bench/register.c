/*
 * register: REGISTER -> REGISTER_SUCCESS latency on clusters of several
 * sizes, and what one registration costs on the server-to-server links.
 *
 * Latency is measured on a direct cluster.  The messages are counted on
 * a second cluster of the same shape whose every link passes through a
 * counting proxy in this process (so the count is exact and does not
 * depend on what the servers log); the proxy's hop would add latency,
 * which is why the two are separate clusters.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

static struct {
	struct client	*cls;
	int		 total;
	int		 next;
	int		 inflight;
	int		 done;
	int		 ok;
	int		 failed;
	int		 lost;
	int		 size;		/* cluster size, for names */
	int		 phase;		/* 0 latency, 1 counting */
	int		 run;
	struct hist	 lat;
	uint64_t	 t_start;
	const char	*end;
	char		 last_fail[128];
	struct event	*tick_ev;
} RG;

static void	reg_start_next(void);

static void
reg_ready(struct client *c)
{
	char	 name[64], secret[64];

	snprintf(name, sizeof name, "bench%d_%d_%d_%d_%d", (int)getpid(),
	    RG.run, RG.size, RG.phase, c->idx);
	snprintf(secret, sizeof secret, "s%d_%d", c->idx, RG.phase);
	client_register(c, name, secret);
}

static void
reg_one_done(struct client *c)
{
	client_close(c);
	c->state = CS_DEAD;
	RG.inflight--;
	RG.done++;
	if (RG.done == RG.total) {
		RG.end = "complete";
		event_base_loopbreak(base);
		return;
	}
	reg_start_next();
}

static void
reg_registered(struct client *c, int ok, const char *info)
{
	if (ok) {
		RG.ok++;
		hist_add(&RG.lat, bench_now_ns() - c->t_sent);
	} else {
		RG.failed++;
		snprintf(RG.last_fail, sizeof RG.last_fail, "%s",
		    info != NULL ? info : "?");
	}
	reg_one_done(c);
}

static void
reg_down(struct client *c, const char *why)
{
	RG.lost++;
	snprintf(RG.last_fail, sizeof RG.last_fail, "connection lost: %s",
	    why);
	c->state = CS_DEAD;
	RG.inflight--;
	RG.done++;
	if (RG.done == RG.total) {
		RG.end = "complete";
		event_base_loopbreak(base);
		return;
	}
	reg_start_next();
}

static const struct client_ops reg_ops = {
	.ready = reg_ready,
	.registered = reg_registered,
	.down = reg_down,
};

static void
reg_start_next(void)
{
	struct client	*c;

	while (RG.next < RG.total && RG.inflight < opts.reg_concurrency) {
		c = &RG.cls[RG.next];
		client_init(c, RG.next, CR_REG,
		    cl.srv[RG.next % cl.n].addr);
		RG.next++;
		RG.inflight++;
		client_connect(c, 0);
	}
}

static void
reg_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	if (bench_interrupted()) {
		RG.end = "interrupted";
		event_base_loopbreak(base);
	} else if (bench_now_ns() - RG.t_start >
	    (uint64_t)opts.timeout_s * 1000000000ull) {
		RG.end = "timeout";
		event_base_loopbreak(base);
	}
}

/* Run n registrations against the current cluster. */
static int
reg_batch(int n, int phase)
{
	struct timeval	 tv = { 0, 5000 };
	int		 i;

	memset(&RG.lat, 0, sizeof RG.lat);
	RG.total = n;
	RG.next = RG.inflight = RG.done = RG.ok = RG.failed = RG.lost = 0;
	RG.phase = phase;
	RG.end = "loop_exit";
	RG.last_fail[0] = '\0';
	if ((RG.cls = calloc((size_t)n, sizeof *RG.cls)) == NULL)
		bench_fatal("out of memory");
	for (i = 0; i < n; i++)
		RG.cls[i].fd = -1;
	client_ops = &reg_ops;
	RG.tick_ev = event_new(base, -1, EV_PERSIST, reg_tick_cb, NULL);
	event_add(RG.tick_ev, &tv);
	RG.t_start = bench_now_ns();
	reg_start_next();
	event_base_dispatch(base);
	event_free(RG.tick_ev);
	for (i = 0; i < RG.next; i++)
		client_free(&RG.cls[i]);
	free(RG.cls);
	RG.cls = NULL;
	return strcmp(RG.end, "complete") == 0 ? 0 : -1;
}

static void
settle_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	event_base_loopbreak(base);
}

/* Run the loop until the proxies' counts stop moving (300 ms) or 3 s. */
static void
wait_links_quiet(void)
{
	struct event	*e = evtimer_new(base, settle_cb, NULL);
	struct timeval	 tv = { 0, 20000 };
	uint64_t	 last = proxy_total(), t_change = bench_now_ns();
	uint64_t	 t0 = t_change;

	while (bench_now_ns() - t_change < 300000000ull &&
	    bench_now_ns() - t0 < 3000000000ull) {
		evtimer_add(e, &tv);
		event_base_dispatch(base);
		if (proxy_total() != last) {
			last = proxy_total();
			t_change = bench_now_ns();
		}
	}
	event_free(e);
}

static int
form(int n, int proxied)
{
	if (opts.cluster > 0) {
		if (cluster_start(n, proxied) != 0)
			return -1;
	} else if (cluster_attach(opts.servers, opts.server_pids) != 0)
		return -1;
	if (cluster_wait_formed(opts.connect_timeout_ms) != 0) {
		fprintf(stderr, "activity-bench: the cluster of %d did not "
		    "form\n", n);
		return -1;
	}
	return 0;
}

static struct hist	 lat_copy;

int
wl_register(struct run_env *env)
{
	struct jbuf	 b;
	double		 per, la[3], elapsed_s;
	uint64_t	 counted;
	int		 k, n, nsizes, rc = 0, counted_regs, r;
	int		 ok, failed, lost;
	char		 what[128], msgs[160], fail[128];
	const char	*end;

	jbuf_init(&b);
	RG.run = env->run;
	nsizes = opts.cluster > 0 ? opts.nreg_sizes : 1;
	for (k = 0; k < nsizes && !bench_interrupted(); k++) {
		n = opts.cluster > 0 ? opts.reg_sizes[k] : 0;
		RG.size = n;
		loadavg_read(env->load_before);
		if (form(n, 0) != 0) {
			cluster_stop();
			rc = 1;
			continue;
		}
		n = cl.n;
		RG.size = n;
		r = reg_batch(opts.reg_count, 0);
		elapsed_s = (bench_now_ns() - RG.t_start) / 1e9;
		lat_copy = RG.lat;
		ok = RG.ok;
		failed = RG.failed;
		lost = RG.lost;
		end = RG.end;
		snprintf(fail, sizeof fail, "%s", RG.last_fail);
		json_begin(&b, env);	/* while the cluster is still there */
		cluster_stop();

		/* a proxied cluster of the same shape: link messages */
		counted = 0;
		counted_regs = 0;
		per = -1;
		if (opts.cluster > 0 && opts.reg_count_links > 0 && n > 1 &&
		    r == 0) {
			if (form(n, 1) == 0) {
				proxy_counts_reset();
				if (reg_batch(opts.reg_count_links, 1) == 0 &&
				    RG.ok > 0) {
					counted_regs = RG.ok;
					wait_links_quiet();
					counted = proxy_total();
					per = (double)counted / counted_regs;
				}
			}
		} else if (n == 1)
			per = 0;

		json_kstr(&b, "status", r == 0 && failed == 0 && lost == 0 ?
		    "ok" : "failed");
		json_kstr(&b, "end", end);
		json_kint(&b, "servers", n);
		json_kint(&b, "registrations", opts.reg_count);
		json_kint(&b, "concurrency", opts.reg_concurrency);
		json_kint(&b, "succeeded", ok);
		json_kint(&b, "failed", failed);
		json_kint(&b, "connection_lost", lost);
		if (fail[0] != '\0')
			json_kstr(&b, "last_failure", fail);
		json_knum(&b, "elapsed_s", elapsed_s);
		json_knum(&b, "registrations_per_s", elapsed_s > 0 ?
		    ok / elapsed_s : 0);
		hist_json(&b, "latency", &lat_copy);
		json_key(&b, "link_messages");
		jbuf_addc(&b, '{');
		if (n == 1)
			json_kstr(&b, "method", "one server: no links");
		else if (per < 0)
			json_kstr(&b, "method", opts.cluster > 0 ?
			    "not measured (the counting run failed or "
			    "--count-links 0)" :
			    "not measured (an existing cluster: no proxy on "
			    "its links)");
		else
			json_kstr(&b, "method", "counting proxy on every link "
			    "of a second cluster of the same shape; "
			    "SERVER_ANNOUNCE, PING and PONG excluded");
		json_kint(&b, "links", n - 1);
		json_kint(&b, "registrations_counted", counted_regs);
		json_kint(&b, "total", (long long)counted);
		json_knum(&b, "per_registration", per);
		json_knum(&b, "per_registration_per_link", per >= 0 && n > 1 ?
		    per / (n - 1) : 0);
		if (counted_regs > 0)
			proxy_counts_json(&b, counted_regs);
		jbuf_addc(&b, '}');
		cluster_stop();

		loadavg_read(la);
		if (per >= 0)
			snprintf(msgs, sizeof msgs, "%.1f link messages per "
			    "registration (%.2f per link)", per,
			    n > 1 ? per / (n - 1) : 0.0);
		else
			snprintf(msgs, sizeof msgs, "link messages not "
			    "measured");
		bench_say("== register run %d: %d servers (%s), %d "
		    "registrations, %d at a time: %d ok, %d failed, %d lost",
		    env->run, n, opts.cluster > 0 ? (opts.topology ==
		    TOPO_STAR ? "star" : "chain") : "existing",
		    opts.reg_count, opts.reg_concurrency, ok, failed, lost);
		bench_say("   REGISTER -> REGISTER_SUCCESS p50 %.2f ms  p90 %.2f"
		    "  p99 %.2f  max %.2f; %s; load %.2f -> %.2f",
		    hist_pct(&lat_copy, .5) / 1e6,
		    hist_pct(&lat_copy, .9) / 1e6,
		    hist_pct(&lat_copy, .99) / 1e6, lat_copy.max / 1e6, msgs,
		    env->load_before[0], la[0]);
		snprintf(what, sizeof what, "register, %d server%s%s", n,
		    n == 1 ? "" : "s", opts.cluster > 0 ? (opts.topology ==
		    TOPO_STAR ? " (star)" : " (chain)") : "");
		bench_row(what, "p50 %.2f ms, p99 %.2f, max %.2f (%d ok, %d "
		    "failed); %s | %.2f", hist_pct(&lat_copy, .5) / 1e6,
		    hist_pct(&lat_copy, .99) / 1e6, lat_copy.max / 1e6, ok,
		    failed + lost, msgs, env->load_before[0]);
		json_end(&b);
		if (r != 0 || failed != 0 || lost != 0)
			rc = 1;
	}
	jbuf_free(&b);
	return rc;
}
