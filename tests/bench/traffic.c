/*
 * fanout, steady and failover: S subscribers and P publishers spread
 * round-robin over the servers.  Every logged-in client receives every
 * broadcast, so every client is a receiver and every receipt is checked
 * against a per-publisher bitmap (loss, duplicates), the highest
 * sequence seen (order) and its send time (latency).
 *
 * Phases: CONNECT (every client logged in) -> WARMUP (each publisher's
 * probe seen by every client: the paths through the tree exist) -> RUN
 * (publishing, by window or rate) -> DRAIN (until every receiver has
 * everything, or nothing moves) -> DONE.  failover kills one server
 * during RUN; its clients are the orphans.
 */
#include <sys/resource.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bench.h"
#include "msg.h"

#define PUMP_BURST	64
#define OUT_HIGH	(256 * 1024)
#define WARMUP_PROBE_NS	20000000ull

enum phase { P_CONNECT, P_WARMUP, P_RUN, P_DRAIN, P_DONE };
static const char *const phase_names[] = {
	"connect", "warmup", "run", "drain", "done"
};

static struct {
	struct client	*cls;
	int		 ncl;
	int		 nsubs;
	int		 npubs;
	uint32_t	 quota;		/* per publisher, max */
	uint64_t	 total;		/* sum of the quotas */
	int		*warm;		/* per client: publishers' probes seen */
	uint8_t		*complete;
	int		*expected_orphan;

	enum phase	 phase;
	const char	*end;
	int		 nready, nwarm, ncomplete, ndead;
	uint64_t	 t_start, t_run, t_first_send, t_last_send;
	uint64_t	 t_last_rx, t_last_probe, t_kill, t_end;
	uint64_t	 rx_total, uniq_total, bad;
	int		 kill_index;
	int		 kill_rc;
	int		 pump_pending;
	struct event	*tick_ev, *pump_ev, *kill_ev;
	struct hist	 lat;
	struct hist	 lat_subs;
	struct hist	 login;		/* connect -> LOGIN_SUCCESS */
} T;

static void	finish(const char *);
static void	schedule_pump(void);

static void
enter_run(void)
{
	struct timeval	 tv;

	T.phase = P_RUN;
	T.t_run = bench_now_ns();
	bench_log("warm-up done after %.1f ms: publishing",
	    (T.t_run - T.t_start) / 1e6);
	if (opts.workload == WL_FAILOVER) {
		tv.tv_sec = opts.kill_after_ms / 1000;
		tv.tv_usec = (opts.kill_after_ms % 1000) * 1000;
		event_add(T.kill_ev, &tv);
	}
	schedule_pump();
}

static void
tr_ready(struct client *c)
{
	uint64_t	 now = bench_now_ns();

	if (!c->ever_ready) {
		T.nready++;
		hist_add(&T.login, now - T.t_start);
		if (T.phase == P_CONNECT && T.nready == T.ncl) {
			bench_log("all %d clients logged in after %.1f ms",
			    T.ncl, (now - T.t_start) / 1e6);
			T.phase = P_WARMUP;
			T.t_last_probe = 0;
		}
		return;
	}
	if (c->orphan && c->t_login == 0) {
		c->t_login = now;
		bench_log("orphan %d logged in again on %s after %.1f ms",
		    c->idx, addr_name(c->cur), (now - T.t_kill) / 1e6);
	}
	if (c->role == CR_PUB && T.phase == P_RUN)
		schedule_pump();
}

static void
tr_down(struct client *c, const char *why)
{
	uint64_t	 now = bench_now_ns();

	if (T.phase == P_DONE)
		return;
	if (T.phase >= P_RUN && c->failover && !c->orphan) {
		c->orphan = 1;
		c->t_down = now;
		c->uniq_at_down = c->uniq;
		c->down_server = addrs[c->cur].server;
		bench_log("client %d lost %s (%s) %.1f ms after the kill",
		    c->idx, addr_name(c->cur), why,
		    T.t_kill ? (now - T.t_kill) / 1e6 : -1.0);
		return;
	}
	if (c->failover)
		return;
	fprintf(stderr, "activity-bench: client %d lost its connection to %s "
	    "in phase %s: %s\n", c->idx, addr_name(c->cur),
	    phase_names[T.phase], why);
	c->state = CS_DEAD;
	T.ndead++;
	if (!c->ever_ready) {
		finish("connect_failed");
		return;
	}
	if (T.phase == P_DRAIN && T.ncomplete + T.ndead >= T.ncl)
		finish("complete_with_losses");
	if (T.phase == P_RUN)
		schedule_pump();
}

static void
tr_deliver(struct client *c, uint32_t pub, uint32_t seq, uint64_t ts)
{
	uint8_t		*bm;
	uint64_t	 now, lat;
	size_t		 bytes = T.quota / 8 + 1;

	if (pub >= (uint32_t)T.npubs || seq > T.quota) {
		T.bad++;
		return;
	}
	bm = c->seen + (size_t)pub * bytes;
	if (seq == 0) {		/* warm-up probe */
		if ((bm[0] & 1) == 0) {
			bm[0] |= 1;
			if (++T.warm[c->idx] == T.npubs && ++T.nwarm == T.ncl &&
			    T.phase == P_WARMUP)
				enter_run();
		}
		return;
	}
	now = bench_now_ns();
	T.t_last_rx = now;
	T.rx_total++;
	if (bm[seq >> 3] & (1u << (seq & 7))) {
		c->dups++;
		return;
	}
	bm[seq >> 3] |= (uint8_t)(1u << (seq & 7));
	c->uniq++;
	T.uniq_total++;
	if (seq < c->maxseq[pub])
		c->ooo++;
	else
		c->maxseq[pub] = seq;
	lat = now > ts ? now - ts : 0;
	hist_add(&T.lat, lat);
	if (c->role == CR_SUB)
		hist_add(&T.lat_subs, lat);
	if (c->orphan && c->t_login != 0 && c->t_first == 0)
		c->t_first = now;
	if (c->uniq == T.total && !T.complete[c->idx]) {
		T.complete[c->idx] = 1;
		T.ncomplete++;
		if (T.phase == P_DRAIN && T.ncomplete + T.ndead >= T.ncl)
			finish("complete");
	}
	if (opts.window > 0 && T.phase == P_RUN)
		schedule_pump();
}

static void
tr_writable(struct client *c)
{
	if (c->role == CR_PUB && T.phase == P_RUN)
		schedule_pump();
}

static const struct client_ops traffic_ops = {
	.ready = tr_ready,
	.deliver = tr_deliver,
	.down = tr_down,
	.writable = tr_writable,
};

/* Send what each publisher may: its window, the rate, its socket. */
static void
pump(void)
{
	struct client	*p, *r;
	uint64_t	 now = bench_now_ns();
	double		 rate_pp = opts.rate / T.npubs;
	long		 allow, w;
	uint32_t	 minseq;
	int		 i, k, progress, done, did;

	if (T.phase != P_RUN)
		return;
	do {
		progress = 0;
		for (i = 0; i < T.npubs; i++) {
			p = &T.cls[T.nsubs + i];
			if (p->state != CS_READY || p->sent >= p->quota)
				continue;
			allow = (long)(p->quota - p->sent);
			if (opts.window > 0) {
				minseq = p->sent;
				for (k = 0; k < T.ncl; k++) {
					r = &T.cls[k];
					if (r->state == CS_READY &&
					    r->maxseq[i] < minseq)
						minseq = r->maxseq[i];
				}
				w = opts.window - (long)(p->sent - minseq);
				if (w < allow)
					allow = w;
			}
			if (opts.rate > 0) {
				w = (long)(rate_pp * (double)(now - T.t_run) /
				    1e9) + 1 - (long)p->sent;
				if (w < allow)
					allow = w;
			}
			if (allow > PUMP_BURST)
				allow = PUMP_BURST;
			did = 0;
			while (allow-- > 0 && client_pending(p) < OUT_HIGH) {
				p->sent++;
				if (T.t_first_send == 0)
					T.t_first_send = bench_now_ns();
				client_send_activity(p, (uint32_t)i, p->sent,
				    opts.size);
				did = 1;
			}
			if (did) {
				client_flush(p);
				progress = 1;
				T.t_last_send = bench_now_ns();
			}
		}
	} while (progress && opts.rate <= 0);
	done = 1;
	for (i = 0; i < T.npubs; i++) {
		p = &T.cls[T.nsubs + i];
		if (p->state != CS_DEAD && p->sent < p->quota)
			done = 0;
	}
	if (done) {
		T.phase = P_DRAIN;
		bench_log("publishing done after %.3f s",
		    (T.t_last_send - T.t_run) / 1e9);
		if (T.ncomplete + T.ndead >= T.ncl)
			finish("complete");
	}
}

static void
pump_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	T.pump_pending = 0;
	pump();
}

static void
schedule_pump(void)
{
	if (!T.pump_pending) {
		T.pump_pending = 1;
		event_active(T.pump_ev, 0, 0);
	}
}

static void
kill_cb(evutil_socket_t fd, short ev, void *arg)
{
	int	 i;

	(void)fd;
	(void)ev;
	(void)arg;
	for (i = 0; i < T.ncl; i++)
		if (addrs[T.cls[i].cur].server == T.kill_index &&
		    T.cls[i].state == CS_READY)
			T.expected_orphan[i] = 1;
	T.t_kill = bench_now_ns();
	T.kill_rc = cluster_kill(T.kill_index);
	fprintf(stderr, "activity-bench: kill -9 server %d (pid %d) %.3f s "
	    "into the run: %s\n", T.kill_index, (int)cl.srv[T.kill_index].pid,
	    (T.t_kill - T.t_run) / 1e9, T.kill_rc == 0 ? "done" : "FAILED");
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t	 now = bench_now_ns(), last;
	int		 i;

	(void)fd;
	(void)ev;
	(void)arg;
	if (bench_interrupted()) {
		finish("interrupted");
		return;
	}
	if (now - T.t_start > (uint64_t)opts.timeout_s * 1000000000ull) {
		finish("timeout");
		return;
	}
	switch (T.phase) {
	case P_CONNECT:
		if (now - T.t_start > (uint64_t)opts.connect_timeout_ms *
		    1000000ull)
			finish("connect_timeout");
		break;
	case P_WARMUP:
		if (now - T.t_last_probe >= WARMUP_PROBE_NS) {
			T.t_last_probe = now;
			for (i = 0; i < T.npubs; i++) {
				struct client *p = &T.cls[T.nsubs + i];

				if (p->state != CS_READY)
					continue;
				client_send_activity(p, (uint32_t)i, 0,
				    opts.size);
				client_flush(p);
			}
		}
		if (now - T.t_start > 2ull * (uint64_t)opts.connect_timeout_ms *
		    1000000ull)
			finish("warmup_timeout");
		break;
	case P_RUN:
	case P_DRAIN:
		if (T.phase == P_RUN && opts.rate > 0)
			pump();
		if (T.phase == P_DONE)
			break;
		now = bench_now_ns();	/* pump() moved t_last_send past it */
		last = T.t_run;
		if (T.t_last_rx > last)
			last = T.t_last_rx;
		if (T.t_last_send > last)
			last = T.t_last_send;
		if (T.t_kill > last)
			last = T.t_kill;
		if (T.phase == P_DRAIN && opts.workload == WL_FAILOVER &&
		    now > last && now - last > (uint64_t)opts.settle_ms * 1000000ull)
			finish("settled");
		else if (now > last && now - last >
		    (uint64_t)opts.idle_timeout_ms * 1000000ull)
			finish(T.phase == P_RUN ? "stalled" : "idle_timeout");
		break;
	default:
		break;
	}
}

static void
finish(const char *why)
{
	if (T.phase == P_DONE)
		return;
	T.end = why;
	T.t_end = bench_now_ns();
	T.phase = P_DONE;
	event_base_loopbreak(base);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median and max (ms) of v[0..n) (sorted in place); -1 if n == 0. */
static void
med_max(uint64_t *v, int n, double *med, double *max)
{
	if (n == 0) {
		*med = *max = -1;
		return;
	}
	qsort(v, (size_t)n, sizeof *v, cmp_u64);
	*med = (n & 1) ? v[n / 2] / 1e6 : (v[n / 2 - 1] + v[n / 2]) / 2e6;
	*max = v[n - 1] / 1e6;
}

static double
rusage_cpu_s(void)
{
	struct rusage	 ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
strlcat_(char *dst, const char *src, size_t size)
{
	size_t	 n = strlen(dst);

	if (n + 1 < size)
		snprintf(dst + n, size - n, "%s", src);
}

static const char *
fmt_rate(double v, char *buf, size_t len)
{
	if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.0fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

static void
report(struct run_env *env, double cpu0, const double *scpu0)
{
	struct jbuf	 b;
	uint64_t	 sent = 0, lost = 0, dups = 0, ooo = 0, sub_rx = 0;
	uint64_t	 orph_lost = 0, orph_lost_max = 0, orph_dups = 0;
	uint64_t	 orph_ooo = 0, non_orph_lost = 0, l;
	uint64_t	*det, *rel, *first;
	double		 elapsed, send_s, rate_all, rate_subs, pub_rate;
	double		 det_med, det_max, rel_med, rel_max, first_med;
	double		 first_max, la[3], cpu;
	int		 i, s, norph = 0, nrel = 0, nfirst = 0, via_backup = 0;
	int		 per_server[BENCH_SERVERS_MAX], expected = 0;
	int		 said = 0;
	long		 hwm_max = -1;
	int		 resumes = 0, pub_orphans = 0;
	unsigned	 accepted = 0;
	char		 r1[32], r2[32], what[256], feats[128];
	const char	*status, *topo;

	jbuf_init(&b);
	cpu = rusage_cpu_s() - cpu0;
	memset(per_server, 0, sizeof per_server);
	for (i = 0; i < T.npubs; i++)
		sent += T.cls[T.nsubs + i].sent;
	if ((det = calloc((size_t)T.ncl + 1, sizeof *det)) == NULL ||
	    (rel = calloc((size_t)T.ncl + 1, sizeof *rel)) == NULL ||
	    (first = calloc((size_t)T.ncl + 1, sizeof *first)) == NULL)
		bench_fatal("out of memory");
	for (i = 0; i < T.ncl; i++) {
		struct client *c = &T.cls[i];

		l = sent > c->uniq ? sent - c->uniq : 0;
		lost += l;
		dups += c->dups;
		ooo += c->ooo;
		if (c->role == CR_SUB)
			sub_rx += c->rx;
		if (c->state == CS_READY && addrs[c->cur].server >= 0)
			per_server[addrs[c->cur].server]++;
		if (c->said_features) {
			said = 1;
			accepted |= c->accepted;
		}
		expected += T.expected_orphan[i];
		if (!c->orphan) {
			non_orph_lost += l;
			continue;
		}
		norph++;
		if (c->role == CR_PUB)
			pub_orphans++;
		via_backup += c->used_backup;
		orph_lost += l;
		if (l > orph_lost_max)
			orph_lost_max = l;
		orph_dups += c->dups;
		orph_ooo += c->ooo;
		det[norph - 1] = c->t_down > T.t_kill ? c->t_down - T.t_kill : 0;
		if (c->t_login)
			rel[nrel++] = c->t_login - T.t_kill;
		if (c->t_first)
			first[nfirst++] = c->t_first - T.t_kill;
	}
	elapsed = T.t_first_send && T.t_last_rx > T.t_first_send ?
	    (T.t_last_rx - T.t_first_send) / 1e9 : 0;
	send_s = T.t_first_send && T.t_last_send > T.t_first_send ?
	    (T.t_last_send - T.t_first_send) / 1e9 : 0;
	rate_all = elapsed > 0 ? T.rx_total / elapsed : 0;
	rate_subs = elapsed > 0 ? sub_rx / elapsed : 0;
	pub_rate = send_s > 0 ? sent / send_s : 0;

	if (strcmp(T.end, "complete") != 0 && strcmp(T.end, "settled") != 0)
		status = "failed";
	else if (lost == 0 && dups == 0 && ooo == 0 && sent == T.total)
		status = "ok";
	else
		status = "degraded";
	if (opts.workload == WL_FAILOVER && strcmp(status, "failed") != 0)
		status = (norph > 0 && nfirst == norph) ? "ok" : "degraded";

	json_begin(&b, env);
	json_kstr(&b, "status", status);
	json_kstr(&b, "end", T.end);
	json_kint(&b, "subs", T.nsubs);
	json_kint(&b, "pubs", T.npubs);
	json_kint(&b, "receivers", T.ncl);
	json_kint(&b, "msgs", (long long)T.total);
	json_kint(&b, "size", opts.size);
	json_kint(&b, "window", opts.window);
	json_knum(&b, "rate", opts.rate);
	json_kint(&b, "sent", (long long)sent);
	json_kint(&b, "expected", (long long)(sent * (uint64_t)T.ncl));
	json_kint(&b, "delivered", (long long)T.rx_total);
	json_kint(&b, "unique", (long long)T.uniq_total);
	json_kint(&b, "lost", (long long)lost);
	json_kint(&b, "duplicated", (long long)dups);
	json_kint(&b, "out_of_order", (long long)ooo);
	json_kint(&b, "bad_payload", (long long)T.bad);
	json_knum(&b, "elapsed_s", elapsed);
	json_knum(&b, "send_s", send_s);
	json_knum(&b, "delivered_per_s", rate_all);
	json_knum(&b, "delivered_to_subs_per_s", rate_subs);
	json_knum(&b, "published_per_s", pub_rate);
	hist_json(&b, "latency", &T.lat);
	hist_json(&b, "latency_subs", &T.lat_subs);
	hist_json(&b, "login", &T.login);
	json_key(&b, "clients_per_server");
	jbuf_addc(&b, '[');
	for (s = 0; s < cl.n; s++) {
		if (s > 0)
			jbuf_addc(&b, ',');
		jbuf_int(&b, per_server[s]);
	}
	jbuf_addc(&b, ']');
	{
		uint64_t redirs = 0, errs = 0, disc = 0;

		for (i = 0; i < T.ncl; i++) {
			redirs += T.cls[i].redirects;
			errs += T.cls[i].errors;
			disc += T.cls[i].disconnects;
		}
		json_kint(&b, "redirects", (long long)redirs);
		json_kint(&b, "disconnects", (long long)disc);
		json_kint(&b, "protocol_errors", (long long)errs);
		if (g_last_error[0])
			json_kstr(&b, "last_error", g_last_error);
	}
	json_knum(&b, "bench_cpu_s", cpu);
	json_key(&b, "server_cpu_s");
	jbuf_addc(&b, '[');
	for (s = 0; s < cl.n; s++) {
		double now_cpu = proc_cpu_s(cl.srv[s].pid);

		if (s > 0)
			jbuf_addc(&b, ',');
		if (scpu0[s] < 0 || now_cpu < 0)
			jbuf_adds(&b, "null");
		else {
			snprintf(r1, sizeof r1, "%.2f", now_cpu - scpu0[s]);
			jbuf_adds(&b, r1);
		}
	}
	jbuf_addc(&b, ']');
	json_key(&b, "server_hwm_kb");
	jbuf_addc(&b, '[');
	for (s = 0; s < cl.n; s++) {
		long hwm = cl.srv[s].alive ? proc_hwm_kb(cl.srv[s].pid) : -1;

		if (s > 0)
			jbuf_addc(&b, ',');
		jbuf_int(&b, hwm);
		if (hwm > hwm_max)
			hwm_max = hwm;
	}
	jbuf_addc(&b, ']');

	if (opts.workload == WL_FAILOVER) {
		med_max(det, norph, &det_med, &det_max);
		med_max(rel, nrel, &rel_med, &rel_max);
		med_max(first, nfirst, &first_med, &first_max);
		json_key(&b, "failover");
		jbuf_addc(&b, '{');
		json_kint(&b, "killed_server", T.kill_index);
		json_kint(&b, "kill_rc", T.kill_rc);
		json_knum(&b, "kill_at_s", T.t_kill ?
		    (T.t_kill - T.t_run) / 1e9 : -1);
		json_kstr(&b, "features_asked", opts.features);
		json_key(&b, "features_offered");
		if (!said)
			jbuf_adds(&b, "null");
		else {
			int first_f = 1;

			jbuf_addc(&b, '[');
			for (i = 0; i < FEAT__COUNT; i++) {
				if ((accepted & (1u << i)) == 0)
					continue;
				if (!first_f)
					jbuf_addc(&b, ',');
				first_f = 0;
				jbuf_cstr(&b, msg_feature_names[i]);
			}
			jbuf_addc(&b, ']');
		}
		json_kstr(&b, "duplicates_note", "with resume the server replays "
		    "from the last in-order activity_seq per sender; what it "
		    "replays twice is counted in orphan_duplicated (a client "
		    "drops those by sender and activity_seq)");
		json_kstr(&b, "failover_by", norph == 0 ? "none" :
		    via_backup == norph ? "backup_list" : via_backup == 0 ?
		    "server_list" : "mixed");
		{
			uint64_t rok = 0, rpart = 0;

			for (i = 0; i < T.ncl; i++) {
				rok += T.cls[i].resumes_ok;
				rpart += T.cls[i].resumes_partial;
			}
			json_kint(&b, "resumed_ok", (long long)rok);
			json_kint(&b, "resumed_partial", (long long)rpart);
			resumes = (int)(rok + rpart);
		}
		json_kint(&b, "orphans_expected", expected);
		json_kint(&b, "publishers_orphaned", pub_orphans);
		json_kint(&b, "orphans", norph);
		json_kint(&b, "orphans_logged_in_again", nrel);
		json_kint(&b, "orphans_receiving_again", nfirst);
		json_knum(&b, "detect_median_ms", det_med);
		json_knum(&b, "detect_max_ms", det_max);
		json_knum(&b, "login_again_median_ms", rel_med);
		json_knum(&b, "login_again_max_ms", rel_max);
		json_knum(&b, "receiving_again_median_ms", first_med);
		json_knum(&b, "receiving_again_max_ms", first_max);
		json_kint(&b, "orphan_lost_total", (long long)orph_lost);
		json_kint(&b, "orphan_lost_max", (long long)orph_lost_max);
		json_kint(&b, "orphan_duplicated", (long long)orph_dups);
		json_kint(&b, "orphan_out_of_order", (long long)orph_ooo);
		json_kint(&b, "non_orphan_lost", (long long)non_orph_lost);
		json_key(&b, "orphan_detail");
		jbuf_addc(&b, '[');
		for (i = 0, s = 0; i < T.ncl; i++) {
			struct client *c = &T.cls[i];

			if (!c->orphan)
				continue;
			if (s++ > 0)
				jbuf_addc(&b, ',');
			jbuf_addc(&b, '{');
			json_kint(&b, "client", c->idx);
			json_kstr(&b, "role", c->role == CR_PUB ? "pub" : "sub");
			json_kstr(&b, "now_on", addr_name(c->cur));
			json_kstr(&b, "by", c->used_backup ? "backup_list" :
			    "server_list");
			json_knum(&b, "detect_ms", c->t_down > T.t_kill ?
			    (c->t_down - T.t_kill) / 1e6 : 0);
			json_knum(&b, "login_again_ms", c->t_login ?
			    (c->t_login - T.t_kill) / 1e6 : -1);
			json_knum(&b, "receiving_again_ms", c->t_first ?
			    (c->t_first - T.t_kill) / 1e6 : -1);
			json_kint(&b, "lost", (long long)(sent > c->uniq ?
			    sent - c->uniq : 0));
			json_kint(&b, "duplicated", (long long)c->dups);
			json_kint(&b, "out_of_order", (long long)c->ooo);
			jbuf_addc(&b, '}');
		}
		jbuf_addc(&b, ']');
		json_key(&b, "lossy_non_orphans");
		jbuf_addc(&b, '[');
		for (i = 0, s = 0; i < T.ncl; i++) {
			struct client *c = &T.cls[i];
			uint32_t q, lo = 0, hi = 0;
			size_t bytes = T.quota / 8 + 1;

			if (c->orphan || c->uniq >= sent)
				continue;
			for (q = 1; q <= T.cls[T.nsubs].sent; q++)
				if ((c->seen[q >> 3] & (1u << (q & 7))) == 0) {
					if (lo == 0)
						lo = q;
					hi = q;
				}
			(void)bytes;
			if (s++ > 0)
				jbuf_addc(&b, ',');
			jbuf_addc(&b, '{');
			json_kint(&b, "client", c->idx);
			json_kstr(&b, "on", addr_name(c->cur));
			json_kint(&b, "lost", (long long)(sent - c->uniq));
			json_kint(&b, "first_lost_seq_pub0", lo);
			json_kint(&b, "last_lost_seq_pub0", hi);
			jbuf_addc(&b, '}');
		}
		jbuf_adds(&b, "]}");
	}

	feats[0] = '\0';
	for (i = 0; i < FEAT__COUNT && said; i++) {
		if ((accepted & (1u << i)) == 0)
			continue;
		if (feats[0] != '\0')
			strlcat_(feats, ",", sizeof feats);
		strlcat_(feats, msg_feature_names[i], sizeof feats);
	}
	if (feats[0] == '\0')
		snprintf(feats, sizeof feats, "none (base protocol)");

	loadavg_read(la);
	bench_say("== %s run %d: %d servers%s, %d subs + %d pubs, %" PRIu64
	    " x %d B, %s %s: %s (%s)", opts.workload_name, env->run, cl.n,
	    cl.own ? (cl.topology == TOPO_STAR ? " (star)" : " (chain)") : "",
	    T.nsubs, T.npubs, sent, opts.size,
	    opts.rate > 0 ? "rate" : "window",
	    opts.rate > 0 ? fmt_rate(opts.rate, r1, sizeof r1) :
	    (snprintf(r2, sizeof r2, "%ld", opts.window), r2), status, T.end);
	bench_say("   delivered %.0f/s to subscribers, %.0f/s to every "
	    "receiver; published %.0f/s", rate_subs, rate_all, pub_rate);
	bench_say("   latency p50 %.2f ms  p90 %.2f  p99 %.2f  p99.9 %.2f  "
	    "max %.2f  (%" PRIu64 " receipts)", hist_pct(&T.lat, .5) / 1e6,
	    hist_pct(&T.lat, .9) / 1e6, hist_pct(&T.lat, .99) / 1e6,
	    hist_pct(&T.lat, .999) / 1e6, T.lat.max / 1e6, T.lat.n);
	bench_say("   lost %" PRIu64 "  duplicated %" PRIu64 "  out of order %"
	    PRIu64 "  bench cpu %.2f s  load %.2f -> %.2f", lost, dups, ooo,
	    cpu, env->load_before[0], la[0]);
	if (opts.workload == WL_FAILOVER) {
		if (pub_orphans > 0)
			bench_say("   note: %d publisher%s on the killed server "
			    "(REDIRECT at login moved %s there)", pub_orphans,
			    pub_orphans == 1 ? " was" : "s were",
			    pub_orphans == 1 ? "it" : "them");
		bench_say("   killed server %d: %d orphans (%d expected), by %s;"
		    " logged in again %d (max %.1f ms), receiving again %d "
		    "(median %.1f ms, max %.1f ms)", T.kill_index, norph,
		    expected, norph == 0 ? "none" : via_backup == norph ?
		    "BACKUP_LIST" : via_backup == 0 ? "the server list" :
		    "mixed", nrel, rel_max, nfirst, first_med, first_max);
		bench_say("   orphans lost %" PRIu64 " (worst %" PRIu64 "), "
		    "duplicated %" PRIu64 ", out of order %" PRIu64 "; "
		    "others lost %" PRIu64 "; features used: %s; %d logins "
		    "resumed a session", orph_lost, orph_lost_max, orph_dups,
		    orph_ooo, non_orph_lost, feats, resumes);
	}

	/* the markdown row */
	topo = !cl.own || cl.n < 3 ? "" : cl.topology == TOPO_STAR ? " (star)" :
	    " (chain)";
	if (opts.workload == WL_FAILOVER) {
		snprintf(what, sizeof what, "failover, %d servers%s, %d clients, "
		    "%s/s, kill -9 server %d; features used: %s", cl.n, topo, T.ncl,
		    fmt_rate(opts.rate, r1, sizeof r1), T.kill_index, feats);
		bench_row(what, "%d orphans%s (by %s): all receiving again "
		    "after %.1f ms (median %.1f); orphans lost %" PRIu64
		    " (worst %" PRIu64 "), dup %" PRIu64 ", ooo %" PRIu64
		    ", others lost %" PRIu64 "; %s | %.2f",
		    norph, pub_orphans ? " incl. the publisher" : "",
		    norph == 0 ? "-" : via_backup == norph ?
		    "BACKUP_LIST" : via_backup == 0 ? "server list" : "mixed",
		    first_max, first_med, orph_lost, orph_lost_max, orph_dups,
		    orph_ooo, non_orph_lost, status, env->load_before[0]);
	} else if (opts.workload == WL_STEADY) {
		snprintf(what, sizeof what, "steady, %d servers%s, %d subs + %d "
		    "pubs, %s publishes/s, %d B", cl.n, topo, T.nsubs, T.npubs,
		    fmt_rate(opts.rate, r1, sizeof r1), opts.size);
		bench_row(what, "p50 %.2f ms, p90 %.2f, p99 %.2f, p99.9 %.2f, "
		    "max %.2f; %s deliveries/s; lost %" PRIu64 ", dup %" PRIu64
		    ", ooo %" PRIu64 "; %s | %.2f", hist_pct(&T.lat, .5) / 1e6,
		    hist_pct(&T.lat, .9) / 1e6, hist_pct(&T.lat, .99) / 1e6,
		    hist_pct(&T.lat, .999) / 1e6, T.lat.max / 1e6,
		    fmt_rate(rate_all, r2, sizeof r2), lost, dups, ooo, status,
		    env->load_before[0]);
	} else {
		snprintf(what, sizeof what, "fanout, %d servers%s, %d subs + %d "
		    "pubs, %d B, window %ld%s", cl.n, topo, T.nsubs, T.npubs,
		    opts.size, opts.window, opts.rate > 0 ? ", paced" : "");
		bench_row(what, "%s/s to subscribers (%s/s to all receivers); "
		    "p50 %.2f ms, p99 %.2f; lost %" PRIu64 ", dup %" PRIu64
		    ", ooo %" PRIu64 "; peak server RSS %.1f MB; %s | %.2f",
		    fmt_rate(rate_subs, r1, sizeof r1),
		    fmt_rate(rate_all, r2, sizeof r2),
		    hist_pct(&T.lat, .5) / 1e6, hist_pct(&T.lat, .99) / 1e6,
		    lost, dups, ooo, hwm_max / 1024.0, status,
		    env->load_before[0]);
	}
	json_end(&b);
	jbuf_free(&b);
	free(det);
	free(rel);
	free(first);
}

int
wl_traffic(struct run_env *env)
{
	struct timeval	 tick;
	double		 cpu0, scpu0[BENCH_SERVERS_MAX];
	uint64_t	 left;
	int		 i, home, rc;

	memset(&T, 0, sizeof T);
	T.nsubs = opts.subs;
	T.npubs = opts.pubs;
	T.ncl = T.nsubs + T.npubs;
	T.kill_index = opts.kill_index >= 0 ? opts.kill_index : cl.n - 1;
	if (opts.workload == WL_FAILOVER) {
		if (cl.n < 2) {
			fprintf(stderr, "activity-bench: failover needs at "
			    "least 2 servers\n");
			return 1;
		}
		if (T.kill_index >= cl.n || cl.srv[T.kill_index].pid <= 0) {
			fprintf(stderr, "activity-bench: failover: server %d "
			    "is not one whose PID we know (--server-pids)\n",
			    T.kill_index);
			return 1;
		}
		if (opts.pub_server == T.kill_index)
			fprintf(stderr, "activity-bench: note: the publisher "
			    "is on the server that will be killed\n");
	}
	if (opts.pub_server >= cl.n) {
		fprintf(stderr, "activity-bench: --pub-server %d: only %d "
		    "servers\n", opts.pub_server, cl.n);
		return 1;
	}
	T.quota = (uint32_t)((opts.msgs + (uint64_t)T.npubs - 1) /
	    (uint64_t)T.npubs);
	if ((T.cls = calloc((size_t)T.ncl, sizeof *T.cls)) == NULL ||
	    (T.warm = calloc((size_t)T.ncl, sizeof *T.warm)) == NULL ||
	    (T.complete = calloc((size_t)T.ncl, 1)) == NULL ||
	    (T.expected_orphan = calloc((size_t)T.ncl, sizeof(int))) == NULL)
		bench_fatal("out of memory");
	left = opts.msgs;
	for (i = 0; i < T.ncl; i++) {
		struct client *c = &T.cls[i];
		int pubi = i - T.nsubs;

		if (pubi >= 0 && opts.pub_server >= 0)
			home = opts.pub_server;
		else
			home = i % cl.n;
		client_init(c, i, pubi >= 0 ? CR_PUB : CR_SUB,
		    cl.srv[home].addr);
		client_track_alloc(c, T.npubs, T.quota);
		c->failover = opts.workload == WL_FAILOVER;
		if (pubi >= 0) {
			c->quota = (uint32_t)(left / (uint64_t)(T.npubs - pubi));
			left -= c->quota;
			T.total += c->quota;
		}
	}
	hist_reset(&T.lat);
	hist_reset(&T.lat_subs);
	hist_reset(&T.login);
	client_ops = &traffic_ops;
	g_proto_errors = 0;
	g_last_error[0] = '\0';

	T.pump_ev = event_new(base, -1, 0, pump_cb, NULL);
	T.kill_ev = evtimer_new(base, kill_cb, NULL);
	T.tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	tick.tv_sec = 0;
	tick.tv_usec = opts.rate > 0 ? 1000 : 5000;
	event_add(T.tick_ev, &tick);

	cpu0 = rusage_cpu_s();
	for (i = 0; i < cl.n; i++)
		scpu0[i] = proc_cpu_s(cl.srv[i].pid);
	T.t_start = bench_now_ns();
	T.phase = P_CONNECT;
	for (i = 0; i < T.ncl; i++)
		client_connect(&T.cls[i], 0);
	event_base_dispatch(base);
	if (T.phase != P_DONE)
		finish("loop_exit");

	report(env, cpu0, scpu0);
	rc = strcmp(T.end, "complete") == 0 || strcmp(T.end, "settled") == 0 ?
	    0 : 1;

	for (i = 0; i < T.ncl; i++)
		client_free(&T.cls[i]);
	event_free(T.pump_ev);
	event_free(T.kill_ev);
	event_free(T.tick_ev);
	free(T.cls);
	free(T.warm);
	free(T.complete);
	free(T.expected_orphan);
	return rc;
}
