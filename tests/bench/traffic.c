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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "bench.h"
#include "msg.h"

#define PUMP_BURST	64
#define OUT_HIGH	(256 * 1024)
#define WARMUP_PROBE_NS	20000000ull
#define ROUNDS_MAX	4096		/* tree probe rounds per run */
#define ROUND_COUNTED	0x80000000u

/* What a publisher sent, for resends after failover and for reports. */
struct pubtrack {
	uint64_t	*ts;		/* [seq]: first send (ns) */
	uint64_t	*aseq;		/* [seq]: activity_seq it went with */
	uint8_t		*reported;	/* [seq]: reports received */
	uint32_t	*a2s;		/* [activity_seq]: seq; ~0u a warm-up */
	size_t		 a2s_cap;
	char		 session[64];	/* the session it sent under */
	uint64_t	 resent;
	uint64_t	 resends;	/* failovers that resent something */
	uint64_t	 new_sessions;	/* failovers that lost the session */
};

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

	/* publishers: resend and delivery reports */
	struct pubtrack	*pt;
	int		 want_reports;
	uint64_t	 rep_n, rep_dup, rep_stray, rep_partial;
	uint64_t	 rep_cc_bad, rep_sc_short, rep_resent_n;
	long long	 rep_cc_min, rep_cc_max;
	struct hist	 rep_lat;	/* send -> ACTIVITY_SENDING_REPORT */

	/* tree probes and cluster status: one probe client per server */
	struct client	*probes;
	int		 nprobes, nprobes_ready;
	int		 probe_srv[BENCH_SERVERS_MAX];	/* at the kill */
	int		 pstat[BENCH_SERVERS_MAX];	/* 1 NORMAL */
	uint64_t	 pstat_t[BENCH_SERVERS_MAX];	/* last change */
	int		 poos[BENCH_SERVERS_MAX];	/* OOS after the kill */
	uint32_t	 alive_mask;	/* servers whose probes must arrive */
	int		 ntree, nall;	/* receivers of a complete round */
	uint32_t	*pmask;		/* [receiver][round] */
	uint64_t	*round_t;
	int		*round_tree_n, *round_all_n;
	uint32_t	 nrounds;
	uint64_t	 t_round, t_tree, t_all;
	int		 tree_round, all_round;
	int		 kill_done;
	int		 logins_on;	/* a login storm runs beside */
	uint64_t	 logins_opened, logins_ok, logins_failed;
	uint64_t	 logins_repeats;	/* a user again, same server */
	double		 logins_s;
	int		 stage, npubs_ready;	/* staged logins */
	long		 kill_rss_kb;	/* the killed server's, just before */
	struct event	*stage_ev;
} T;

/* Figures kept from each run for the summary over --runs. */
struct runfig {
	int		 mode;
	double		 load1;
	int		 ok;
	int		 orphans, pub_orphan;
	double		 login_med, login_max, recv_med, recv_max;
	double		 detect_max, tree_ms, all_ms, status_ms;
	uint64_t	 lost, dups, ooo, repeats, resent, orph_lost;
	double		 p50, p99, rep_p50, rep_p99;
	uint64_t	 rep_bad;
};
#define RUNFIG_MAX	1000
static struct runfig	 RF[RUNFIG_MAX];
static int		 nrf;

static void	finish(const char *);
static void	schedule_pump(void);
static void	check_drained(void);

static uint64_t
total_sent(void)
{
	uint64_t	 n = 0;
	int		 i;

	for (i = 0; i < T.npubs; i++)
		n += T.cls[T.nsubs + i].sent;
	return n;
}

/* Remember that activity_seq a carried seq q (~0u: a warm-up probe). */
static void
a2s_set(struct pubtrack *t, uint64_t a, uint32_t q)
{
	size_t	 want;

	if (a == 0 || a > 0xffffffffull)
		return;
	if (a >= t->a2s_cap) {
		want = t->a2s_cap ? t->a2s_cap : 1024;
		while (want <= a)
			want *= 2;
		if ((t->a2s = realloc(t->a2s, want * sizeof *t->a2s)) == NULL)
			bench_fatal("out of memory");
		memset(t->a2s + t->a2s_cap, 0, (want - t->a2s_cap) *
		    sizeof *t->a2s);
		t->a2s_cap = want;
	}
	t->a2s[a] = q;
}

/*
 * With probes (failover) logins are staged, so that load-balancing
 * REDIRECTs leave the probes on their servers and the publisher on
 * --pub-server: the probes, then (once the servers had time to announce
 * their new loads) the publishers, then the subscribers.
 */
#define STAGE_PAUSE_MS	150

static void
connect_traffic(void)
{
	struct timeval	 tv = { 0, STAGE_PAUSE_MS * 1000 };
	int		 i;

	if (T.nprobes == 0) {
		for (i = 0; i < T.ncl; i++)
			client_connect(&T.cls[i], 0);
		return;
	}
	T.stage = 1;
	evtimer_add(T.stage_ev, &tv);
}

static void
stage_cb(evutil_socket_t fd, short ev, void *arg)
{
	int	 i;

	(void)fd;
	(void)ev;
	(void)arg;
	if (T.stage == 1)
		for (i = T.nsubs; i < T.ncl; i++)
			client_connect(&T.cls[i], 0);
	else if (T.stage == 2)
		for (i = 0; i < T.nsubs; i++)
			client_connect(&T.cls[i], 0);
}

/*
 * A publisher logged in again after a loss.  What the protocol promises
 * for zero loss: in the same session (resumed), resend with the same
 * activity_seq every activity that has no ACTIVITY_SENDING_REPORT yet;
 * receivers drop the repeats by (sender, activity_seq).  If the server
 * gave a new session instead, the resends get new numbers, and a
 * receiver can no longer tell a repeat: those show as duplicates.
 */
static void
pub_ready(struct client *c)
{
	int		 i = c->idx - T.nsubs, same;
	struct pubtrack	*t = &T.pt[i];
	uint64_t	 a, n = 0;
	uint32_t	 q;

	if (client_feature_accepted(c, "sending_report"))
		T.want_reports = 1;
	same = t->session[0] != '\0' && strcmp(t->session, c->session) == 0;
	if (t->session[0] != '\0' && !same) {
		t->new_sessions++;
		if (t->a2s != NULL)
			memset(t->a2s, 0, t->a2s_cap * sizeof *t->a2s);
	}
	snprintf(t->session, sizeof t->session, "%s", c->session);
	if (!c->ever_ready || !opts.resend || T.phase < P_RUN ||
	    !client_feature_accepted(c, "sending_report"))
		return;
	for (q = 1; q <= c->sent; q++) {
		if (t->reported[q] & 1)
			continue;
		a = client_send_activity(c, (uint32_t)i, q, opts.size, t->ts[q],
		    same ? t->aseq[q] : 0);
		t->aseq[q] = a;
		t->reported[q] |= 2;	/* resent */
		a2s_set(t, a, q);
		n++;
	}
	if (n > 0) {
		t->resent += n;
		t->resends++;
		client_flush(c);
		bench_log("publisher %d resent %" PRIu64 " unreported "
		    "activities (%s session)", i, n, same ? "same" : "a NEW");
	}
}

static void
enter_run(void)
{
	struct timeval	 tv;

	T.phase = P_RUN;
	T.t_run = bench_now_ns();
	if (T.logins_on)
		logins_start(opts.logins);
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

	if (c->role == CR_PROBE) {
		if (!c->ever_ready && ++T.nprobes_ready == T.nprobes)
			connect_traffic();
		return;
	}
	if (c->role == CR_PUB) {
		pub_ready(c);
		if (!c->ever_ready && ++T.npubs_ready == T.npubs &&
		    T.stage == 1) {
			struct timeval tv = { 0, STAGE_PAUSE_MS * 1000 };

			T.stage = 2;
			evtimer_add(T.stage_ev, &tv);
		}
	}
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

	if (c->role == CR_PROBE) {
		/* a probe never fails over: the killed server's is done */
		bench_log("probe on %s: %s", addr_name(c->cur), why);
		if (!c->ever_ready && ++T.nprobes_ready == T.nprobes)
			connect_traffic();
		c->state = CS_DEAD;
		return;
	}
	if (T.phase == P_DONE)
		return;
	if (T.phase >= P_RUN && c->failover && !c->orphan) {
		c->orphan = 1;
		c->t_down = now;
		c->uniq_at_down = c->uniq;
		c->redirects_at_down = c->redirects;
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

/* ACTIVITY_SENDING_REPORT to a publisher. */
static void
tr_report(struct client *c, uint64_t a, long long cc, long long sc,
    int partial)
{
	struct pubtrack	*t;
	uint64_t	 now = bench_now_ns();
	uint32_t	 q;

	if (c->role != CR_PUB)
		return;
	t = &T.pt[c->idx - T.nsubs];
	if (a == 0 || a >= t->a2s_cap || t->a2s[a] == 0) {
		T.rep_stray++;
		return;
	}
	if ((q = t->a2s[a]) == ~0u)
		return;		/* a warm-up probe */
	if (t->reported[q] & 1) {
		T.rep_dup++;
		return;
	}
	t->reported[q] |= 1;
	T.rep_n++;
	if (partial)
		T.rep_partial++;
	if (T.rep_n == 1 || cc < T.rep_cc_min)
		T.rep_cc_min = cc;
	if (T.rep_n == 1 || cc > T.rep_cc_max)
		T.rep_cc_max = cc;
	/* every receiver of ours (publishers included) was logged in
	 * throughout, except in failover */
	if (opts.workload != WL_FAILOVER && cc != T.ncl)
		T.rep_cc_bad++;
	if (sc < cc)
		T.rep_sc_short++;
	if (t->reported[q] & 2)
		T.rep_resent_n++;	/* its time includes a failover */
	else
		hist_add(&T.rep_lat, now > t->ts[q] ? now - t->ts[q] : 0);
	check_drained();
}

/* A tree probe arrived at receiver c. */
static void
tr_probe(struct client *c, int srv, uint32_t round)
{
	uint32_t	*m;
	int		 tree;

	if (round >= T.nrounds || srv < 0 || srv >= 31 || T.pmask == NULL)
		return;
	m = &T.pmask[(size_t)c->idx * ROUNDS_MAX + round];
	*m |= 1u << srv;
	if ((*m & ROUND_COUNTED) || (*m & T.alive_mask) != T.alive_mask)
		return;
	tree = c->role == CR_PROBE && T.probe_srv[c->idx - T.ncl] >= 0 &&
	    (T.alive_mask & (1u << T.probe_srv[c->idx - T.ncl]));
	if (c->role == CR_PROBE && !tree)
		return;		/* the killed or stopped server's own */
	*m |= ROUND_COUNTED;
	if (tree && ++T.round_tree_n[round] == T.ntree && T.t_tree == 0) {
		T.t_tree = bench_now_ns();
		T.tree_round = (int)round;
		bench_log("tree probes: round %u (sent %.1f ms after the "
		    "kill) reached every server's probe client %.1f ms after "
		    "it", round, (T.round_t[round] - T.t_kill) / 1e6,
		    (T.t_tree - T.t_kill) / 1e6);
	}
	if (++T.round_all_n[round] == T.nall && T.t_all == 0) {
		T.t_all = bench_now_ns();
		T.all_round = (int)round;
	}
}

/* CLUSTER_STATUS to a probe client. */
static void
tr_status(struct client *c, int normal)
{
	int	 k;

	if (c->role != CR_PROBE)
		return;
	k = c->idx - T.ncl;
	if (T.pstat[k] != normal) {
		T.pstat[k] = normal;
		T.pstat_t[k] = bench_now_ns();
		if (!normal && T.t_kill != 0)
			T.poos[k] = 1;
		bench_log("probe on %s: cluster status %s", addr_name(c->cur),
		    normal ? "NORMAL" : "not NORMAL");
	}
}

static void
tr_deliver(struct client *c, uint32_t pub, uint32_t seq, uint64_t ts)
{
	uint8_t		*bm;
	uint64_t	 now, lat;
	size_t		 bytes = T.quota / 8 + 1;

	if (c->role == CR_PROBE)
		return;
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
	/* receiving again: an activity sent after the kill arrived (one
	 * replayed from before it does not show the path works) */
	if (c->orphan && c->t_login != 0 && c->t_first == 0 && ts >= T.t_kill)
		c->t_first = now;
	if (c->uniq == T.total && !T.complete[c->idx]) {
		T.complete[c->idx] = 1;
		T.ncomplete++;
		check_drained();
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
	.report = tr_report,
	.probe = tr_probe,
	.status = tr_status,
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
				struct pubtrack *t = &T.pt[i];
				uint64_t ts = bench_now_ns(), a;

				p->sent++;
				if (T.t_first_send == 0)
					T.t_first_send = ts;
				a = client_send_activity(p, (uint32_t)i, p->sent,
				    opts.size, ts, 0);
				t->ts[p->sent] = ts;
				t->aseq[p->sent] = a;
				a2s_set(t, a, p->sent);
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
		check_drained();
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

/*
 * Every run that the tree is whole again needs every phase done: the
 * receivers complete, and (with sending_report) every activity reported
 * or --report-wait-ms past the last send.
 */
static void
check_drained(void)
{
	uint64_t	 now;

	if (T.phase != P_DRAIN || T.ncomplete + T.ndead < T.ncl)
		return;
	if (T.want_reports && T.rep_n < total_sent()) {
		now = bench_now_ns();
		if (now < T.t_last_send + (uint64_t)opts.report_wait_ms *
		    1000000ull)
			return;		/* the tick looks again */
	}
	finish("complete");
}

static void
kill_cb(evutil_socket_t fd, short ev, void *arg)
{
	int	 i, k, s;

	(void)fd;
	(void)ev;
	(void)arg;
	for (i = 0; i < T.ncl; i++)
		if (addrs[T.cls[i].cur].server == T.kill_index &&
		    T.cls[i].state == CS_READY)
			T.expected_orphan[i] = 1;
	/* the probes that must hear each other: one per surviving server */
	T.alive_mask = 0;
	T.ntree = 0;
	for (k = 0; k < T.nprobes; k++) {
		struct client *c = &T.probes[k];

		s = c->state == CS_READY ? addrs[c->cur].server : -1;
		T.probe_srv[k] = s;
		if (s < 0 || s >= 31 || s == T.kill_index)
			continue;
		T.alive_mask |= 1u << s;
		T.ntree++;
	}
	T.nall = T.ntree + T.ncl;
	/* the kernel frees a killed process's memory before it closes its
	 * sockets: its clients see the end later the bigger it was */
	T.kill_rss_kb = proc_rss_kb(cl.srv[T.kill_index].pid);
	T.t_kill = bench_now_ns();
	T.kill_rc = cluster_signal(T.kill_index, opts.kill_signal);
	T.kill_done = 1;
	{
		struct timespec	 wts;
		struct tm	 tm;
		char		 hms[16];

		clock_gettime(CLOCK_REALTIME, &wts);
		localtime_r(&wts.tv_sec, &tm);
		strftime(hms, sizeof hms, "%H:%M:%S", &tm);
		fprintf(stderr, "activity-bench: %s server %d (pid %d) %.3f s "
		    "into the run, at %s.%03ld: %s\n", opts.kill_signal ==
		    SIGSTOP ? "SIGSTOP" : "kill -9", T.kill_index,
		    (int)cl.srv[T.kill_index].pid, (T.t_kill - T.t_run) / 1e9,
		    hms, wts.tv_nsec / 1000000, T.kill_rc == 0 ? "done" :
		    "FAILED");
	}
}

/* After the kill: a round of tree probes every --probe-ms, from the
 * probe client of every surviving server, until one round has reached
 * every probe client and one has reached every client. */
static void
probe_round(uint64_t now)
{
	uint32_t	 r;
	int		 k;

	if (!T.kill_done || opts.probe_ms <= 0 || T.pmask == NULL ||
	    T.nrounds >= ROUNDS_MAX || (T.t_tree != 0 && T.t_all != 0) ||
	    now < T.t_round + (uint64_t)opts.probe_ms * 1000000ull)
		return;
	r = T.nrounds++;
	T.round_t[r] = now;
	T.t_round = now;
	for (k = 0; k < T.nprobes; k++)
		if (T.probe_srv[k] >= 0 &&
		    (T.alive_mask & (1u << T.probe_srv[k])) &&
		    T.probes[k].state == CS_READY)
			client_send_probe(&T.probes[k], T.probe_srv[k], r);
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
				a2s_set(&T.pt[i], client_send_activity(p,
				    (uint32_t)i, 0, opts.size, 0, 0), ~0u);
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
		for (i = 0; i < T.ncl; i++)
			client_tick(&T.cls[i], now);
		for (i = 0; i < T.nprobes; i++)
			client_tick(&T.probes[i], now);
		probe_round(now);
		check_drained();
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
	if (T.logins_on)
		logins_stop(&T.logins_opened, &T.logins_ok, &T.logins_failed,
		    &T.logins_s, &T.logins_repeats);
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
	double		 det_med = -1, det_max = -1, rel_med = -1, rel_max = -1;
	double		 first_med = -1, first_max = -1, la[3], cpu;
	int		 i, s, norph = 0, nrel = 0, nfirst = 0, via_backup = 0;
	int		 per_server[BENCH_SERVERS_MAX], expected = 0;
	int		 said = 0;
	long		 hwm_max = -1;
	int		 resumes = 0, pub_orphans = 0;
	unsigned	 accepted = 0;
	char		 r1[32], r2[32], what[320], feats[128];
	const char	*status, *topo;
	uint64_t	 repeats = 0, hb_losses = 0, resent = 0, resends = 0;
	uint64_t	 new_sessions = 0, rep_missing;
	double		 tree_ms = -1, all_ms = -1, status_ms = -1;
	int		 k, noos = 0, nnormal = 0, nsurv = 0, lossy_subs = 0;
	struct runfig	*rf = nrf < RUNFIG_MAX ? &RF[nrf++] : NULL;

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
		repeats += c->repeats;
		hb_losses += c->hb_losses;
		if (l > 0 || c->dups > 0 || c->ooo > 0)
			lossy_subs++;
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
	for (i = 0; i < T.npubs; i++) {
		resent += T.pt[i].resent;
		resends += T.pt[i].resends;
		new_sessions += T.pt[i].new_sessions;
	}
	rep_missing = sent > T.rep_n ? sent - T.rep_n : 0;
	if (T.kill_done) {
		if (T.t_tree)
			tree_ms = (T.t_tree - T.t_kill) / 1e6;
		if (T.t_all)
			all_ms = (T.t_all - T.t_kill) / 1e6;
		/* CLUSTER_STATUS: NORMAL again on every surviving server */
		status_ms = 0;
		for (k = 0; k < T.nprobes; k++) {
			if (T.probe_srv[k] < 0 || T.probe_srv[k] ==
			    T.kill_index)
				continue;
			nsurv++;
			if (T.pstat[k] == 1)
				nnormal++;
			if (T.poos[k]) {
				noos++;
				if ((T.pstat_t[k] - T.t_kill) / 1e6 > status_ms)
					status_ms = (T.pstat_t[k] - T.t_kill) /
					    1e6;
			}
		}
		if (nnormal < nsurv || nsurv == 0)
			status_ms = -1;
	}
	/* failover: every orphan back and receiving, and (what resume
	 * promises) nothing lost, repeated or out of order anywhere */
	if (opts.workload == WL_FAILOVER && strcmp(status, "failed") != 0)
		status = (norph > 0 && nfirst == norph && lost == 0 &&
		    dups == 0 && ooo == 0) ? "ok" : "degraded";

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
	json_kint(&b, "receivers_with_loss_dup_or_ooo", lossy_subs);
	json_kint(&b, "repeats_dropped_by_clients", (long long)repeats);
	json_kint(&b, "links_given_up_by_client_heartbeat",
	    (long long)hb_losses);
	json_key(&b, "reports");
	jbuf_addc(&b, '{');
	json_kint(&b, "used", T.want_reports);
	json_kint(&b, "received", (long long)T.rep_n);
	json_kint(&b, "missing", (long long)(T.want_reports ? rep_missing :
	    0));
	json_kint(&b, "repeated", (long long)T.rep_dup);
	json_kint(&b, "stray", (long long)T.rep_stray);
	json_kint(&b, "partial", (long long)T.rep_partial);
	json_kint(&b, "client_count_min", T.rep_cc_min);
	json_kint(&b, "client_count_max", T.rep_cc_max);
	json_kint(&b, "client_count_expected", T.ncl);
	json_kint(&b, "client_count_wrong", (long long)T.rep_cc_bad);
	json_kint(&b, "succ_below_client_count", (long long)T.rep_sc_short);
	json_kint(&b, "of_resent_activities", (long long)T.rep_resent_n);
	hist_json(&b, "latency", &T.rep_lat);
	jbuf_addc(&b, '}');
	json_kint(&b, "publisher_resent", (long long)resent);
	json_kint(&b, "publisher_resends", (long long)resends);
	json_kint(&b, "publisher_new_sessions", (long long)new_sessions);
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
		json_kstr(&b, "signal", opts.kill_signal == SIGSTOP ?
		    "SIGSTOP" : "SIGKILL");
		json_kint(&b, "killed_server_rss_kb", T.kill_rss_kb);
		json_knum(&b, "tree_reformed_ms", tree_ms);
		json_knum(&b, "tree_round_sent_ms", T.t_tree ?
		    (T.round_t[T.tree_round] - T.t_kill) / 1e6 : -1);
		json_knum(&b, "probe_reached_every_client_ms", all_ms);
		json_kint(&b, "probe_servers", T.ntree);
		json_kint(&b, "surviving_servers", cl.n - 1);
		json_kint(&b, "probe_rounds", T.nrounds);
		json_knum(&b, "status_normal_everywhere_ms", status_ms);
		json_kint(&b, "status_out_of_service_servers", noos);
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
			json_kint(&b, "redirects", (long long)(c->redirects -
			    c->redirects_at_down));
			jbuf_addc(&b, '}');
		}
		jbuf_addc(&b, ']');
		{
			uint64_t rt = 0, rmax = 0, r;

			for (i = 0; i < T.ncl; i++) {
				if (!T.cls[i].orphan)
					continue;
				r = T.cls[i].redirects -
				    T.cls[i].redirects_at_down;
				rt += r;
				if (r > rmax)
					rmax = r;
			}
			json_kint(&b, "orphan_redirects", (long long)rt);
			json_kint(&b, "orphan_redirects_max", (long long)rmax);
		}
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
		bench_say("   loss seen by the orphans median %.1f ms, max %.1f "
		    "(killed server RSS %.1f MB); logged in again median %.1f"
		    " ms; tree re-formed (a probe from each of %d surviving "
		    "servers at all of them) %.1f ms; a probe at every client "
		    "%.1f ms; CLUSTER_STATUS NORMAL everywhere %.1f ms (%d "
		    "servers went OUT_OF_SERVICE)", det_med, det_max,
		    T.kill_rss_kb / 1024.0, rel_med, T.ntree, tree_ms, all_ms,
		    status_ms, noos);
		bench_say("   publisher resent %" PRIu64 " unreported "
		    "activities (%" PRIu64 " failovers, %" PRIu64 " new "
		    "sessions); clients dropped %" PRIu64 " repeats by (sender,"
		    " activity_seq); %" PRIu64 " links given up by the client "
		    "heartbeat", resent, resends, new_sessions, repeats,
		    hb_losses);
	}
	if (T.want_reports)
		bench_say("   reports: %" PRIu64 " of %" PRIu64 " (%" PRIu64
		    " partial, %" PRIu64 " repeated, %" PRIu64 " stray); "
		    "send->report p50 %.2f ms p99 %.2f max %.2f; client_count "
		    "%lld..%lld (%d logged in), %" PRIu64 " wrong, %" PRIu64
		    " with succ_count < client_count", T.rep_n, sent,
		    T.rep_partial, T.rep_dup, T.rep_stray,
		    hist_pct(&T.rep_lat, .5) / 1e6,
		    hist_pct(&T.rep_lat, .99) / 1e6, T.rep_lat.max / 1e6,
		    T.rep_cc_min, T.rep_cc_max, T.ncl, T.rep_cc_bad,
		    T.rep_sc_short);

	/* the markdown row */
	topo = !cl.own || cl.n < 3 ? "" : cl.topology == TOPO_STAR ? " (star)" :
	    " (chain)";
	if (opts.workload == WL_FAILOVER) {
		snprintf(what, sizeof what, "failover, %d servers%s, %d clients, "
		    "%s/s, %s server %d%s; features used: %s", cl.n, topo, T.ncl,
		    fmt_rate(opts.rate, r1, sizeof r1),
		    opts.kill_signal == SIGSTOP ? "SIGSTOP" : "kill -9",
		    T.kill_index, pub_orphans ? " (the publisher's)" : "",
		    feats);
		bench_row(what, "%d orphans%s (by %s): logged in again median "
		    "%.1f / max %.1f ms, receiving again median %.1f / max %.1f "
		    "ms; tree re-formed %.1f ms, status NORMAL %.1f ms; lost %"
		    PRIu64 " (orphans %" PRIu64 "), dup %" PRIu64 ", ooo %"
		    PRIu64 " over %d receivers; %" PRIu64 " repeats dropped, %"
		    PRIu64 " resent; %s | %.2f",
		    norph, pub_orphans ? " incl. the publisher" : "",
		    norph == 0 ? "-" : via_backup == norph ?
		    "BACKUP_LIST" : via_backup == 0 ? "server list" : "mixed",
		    rel_med, rel_max, first_med, first_max, tree_ms, status_ms,
		    lost, orph_lost, dups, ooo, T.ncl, repeats, resent, status,
		    env->load_before[0]);
	} else if (opts.workload == WL_REPORT) {
		snprintf(what, sizeof what, "delivery reports, %d servers%s, "
		    "%d subs + %d pubs, %s publishes/s, %d B", cl.n, topo,
		    T.nsubs, T.npubs, fmt_rate(opts.rate, r1, sizeof r1),
		    opts.size);
		bench_row(what, "send -> ACTIVITY_SENDING_REPORT p50 %.2f ms, "
		    "p99 %.2f, max %.2f (%" PRIu64 " of %" PRIu64 " reported);"
		    " client_count %lld..%lld for %d logged in (%" PRIu64
		    " wrong), succ_count < client_count %" PRIu64 ", partial %"
		    PRIu64 "; delivery p50 %.2f ms; lost %" PRIu64 ", dup %"
		    PRIu64 ", ooo %" PRIu64 "; %s | %.2f",
		    hist_pct(&T.rep_lat, .5) / 1e6,
		    hist_pct(&T.rep_lat, .99) / 1e6, T.rep_lat.max / 1e6,
		    T.rep_n, sent, T.rep_cc_min, T.rep_cc_max, T.ncl,
		    T.rep_cc_bad, T.rep_sc_short, T.rep_partial,
		    hist_pct(&T.lat, .5) / 1e6, lost, dups, ooo,
		    (strcmp(status, "ok") == 0 && rep_missing == 0 &&
		    T.rep_cc_bad == 0 && T.rep_sc_short == 0 &&
		    T.rep_partial == 0) ? "ok" : "degraded",
		    env->load_before[0]);
	} else if (opts.workload == WL_LOGINS) {
		char	 who[64];

		logins_who(who, sizeof who);
		snprintf(what, sizeof what, "logins %s%s, %d servers%s, %d "
		    "subs + %d pubs, %s publishes/s, %d B", env->mode ?
		    "storm of " : "none", env->mode ? who : "", cl.n, topo,
		    T.nsubs, T.npubs, fmt_rate(opts.rate, r1, sizeof r1),
		    opts.size);
		bench_row(what, "p50 %.3f ms, p90 %.3f, p99 %.3f, max %.2f; "
		    "logins %" PRIu64 " ok of %" PRIu64 " opened in %.1f s "
		    "(%.0f/s), %" PRIu64 " failed, %" PRIu64 " a user again at "
		    "the same server; lost %" PRIu64 ", dup %"
		    PRIu64 ", ooo %" PRIu64 "; %s | %.2f",
		    hist_pct(&T.lat, .5) / 1e6, hist_pct(&T.lat, .9) / 1e6,
		    hist_pct(&T.lat, .99) / 1e6, T.lat.max / 1e6, T.logins_ok,
		    T.logins_opened, T.logins_s, T.logins_s > 0 ?
		    T.logins_ok / T.logins_s : 0, T.logins_failed,
		    T.logins_repeats, lost, dups,
		    ooo, status, env->load_before[0]);
	} else if (opts.workload == WL_ORDERING) {
		snprintf(what, sizeof what, "ordering %s, %d servers%s, %d subs "
		    "+ %d pubs, %s publishes/s, %d B, activity_seq",
		    env->mode ? "off (--order-wait 0)" : "on (default "
		    "--order-wait)", cl.n, topo, T.nsubs, T.npubs,
		    fmt_rate(opts.rate, r1, sizeof r1), opts.size);
		bench_row(what, "p50 %.3f ms, p90 %.3f, p99 %.3f, max %.2f; "
		    "lost %" PRIu64 ", dup %" PRIu64 ", ooo %" PRIu64
		    "; %s | %.2f", hist_pct(&T.lat, .5) / 1e6,
		    hist_pct(&T.lat, .9) / 1e6, hist_pct(&T.lat, .99) / 1e6,
		    T.lat.max / 1e6, lost, dups, ooo, status,
		    env->load_before[0]);
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

	if (rf != NULL) {
		memset(rf, 0, sizeof *rf);
		rf->mode = env->mode;
		rf->load1 = env->load_before[0];
		rf->ok = strcmp(status, "ok") == 0;
		rf->orphans = norph;
		rf->pub_orphan = pub_orphans;
		rf->login_med = rel_med;
		rf->login_max = nrel == norph ? rel_max : -1;
		rf->recv_med = first_med;
		rf->recv_max = nfirst == norph ? first_max : -1;
		rf->detect_max = det_max;
		rf->tree_ms = tree_ms;
		rf->all_ms = all_ms;
		rf->status_ms = status_ms;
		rf->lost = lost;
		rf->dups = dups;
		rf->ooo = ooo;
		rf->repeats = repeats;
		rf->resent = resent;
		rf->orph_lost = orph_lost;
		rf->p50 = hist_pct(&T.lat, .5) / 1e6;
		rf->p99 = hist_pct(&T.lat, .99) / 1e6;
		rf->rep_p50 = hist_pct(&T.rep_lat, .5) / 1e6;
		rf->rep_p99 = hist_pct(&T.rep_lat, .99) / 1e6;
		rf->rep_bad = (T.want_reports ? rep_missing : 0) + T.rep_cc_bad +
		    T.rep_sc_short + T.rep_partial;
	}
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
	T.logins_on = opts.workload == WL_LOGINS && env->mode == 1;
	if (T.logins_on && logins_prepare() != 0) {
		fprintf(stderr, "activity-bench: logins: cannot register the "
		    "user the storm logs in as\n");
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
	if ((T.pt = calloc((size_t)T.npubs, sizeof *T.pt)) == NULL)
		bench_fatal("out of memory");
	for (i = 0; i < T.npubs; i++)
		if ((T.pt[i].ts = calloc((size_t)T.quota + 2,
		    sizeof(uint64_t))) == NULL ||
		    (T.pt[i].aseq = calloc((size_t)T.quota + 2,
		    sizeof(uint64_t))) == NULL ||
		    (T.pt[i].reported = calloc((size_t)T.quota + 2, 1)) == NULL)
			bench_fatal("out of memory");
	/* failover: a probe client on each server, logged in first (so
	 * that no REDIRECT moves it), for the tree and cluster status */
	if (opts.workload == WL_FAILOVER && opts.probe_ms > 0) {
		T.nprobes = cl.n < 31 ? cl.n : 31;
		if ((T.probes = calloc((size_t)T.nprobes,
		    sizeof *T.probes)) == NULL ||
		    (T.pmask = calloc((size_t)(T.ncl + T.nprobes) * ROUNDS_MAX,
		    sizeof *T.pmask)) == NULL ||
		    (T.round_t = calloc(ROUNDS_MAX, sizeof *T.round_t)) ==
		    NULL ||
		    (T.round_tree_n = calloc(ROUNDS_MAX, sizeof(int))) == NULL ||
		    (T.round_all_n = calloc(ROUNDS_MAX, sizeof(int))) == NULL)
			bench_fatal("out of memory");
		for (i = 0; i < T.nprobes; i++) {
			client_init(&T.probes[i], T.ncl + i, CR_PROBE,
			    cl.srv[i].addr);
			T.probes[i].features = "cluster_status,activity_seq";
			T.pstat[i] = -1;
		}
	}
	hist_reset(&T.lat);
	hist_reset(&T.lat_subs);
	hist_reset(&T.login);
	hist_reset(&T.rep_lat);
	client_ops = &traffic_ops;
	g_proto_errors = 0;
	g_last_error[0] = '\0';

	T.pump_ev = event_new(base, -1, 0, pump_cb, NULL);
	T.stage_ev = evtimer_new(base, stage_cb, NULL);
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
	if (T.nprobes > 0)
		for (i = 0; i < T.nprobes; i++)
			client_connect(&T.probes[i], 0);
	else
		connect_traffic();
	event_base_dispatch(base);
	if (T.phase != P_DONE)
		finish("loop_exit");

	report(env, cpu0, scpu0);
	rc = strcmp(T.end, "complete") == 0 || strcmp(T.end, "settled") == 0 ?
	    0 : 1;

	for (i = 0; i < T.ncl; i++)
		client_free(&T.cls[i]);
	for (i = 0; i < T.nprobes; i++)
		client_free(&T.probes[i]);
	for (i = 0; i < T.npubs; i++) {
		free(T.pt[i].ts);
		free(T.pt[i].aseq);
		free(T.pt[i].reported);
		free(T.pt[i].a2s);
	}
	free(T.pt);
	free(T.probes);
	free(T.pmask);
	free(T.round_t);
	free(T.round_tree_n);
	free(T.round_all_n);
	event_free(T.pump_ev);
	event_free(T.stage_ev);
	event_free(T.kill_ev);
	event_free(T.tick_ev);
	free(T.cls);
	free(T.warm);
	free(T.complete);
	free(T.expected_orphan);
	return rc;
}

/* ------------------------------------------------------------ --runs */

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, worst (max) and count of the values >= 0 among n; the number
 * of missing ones (< 0: never happened) in *miss. */
struct agg {
	double	 med, min, max;
	int	 n, miss;
};

static struct agg
agg_of(const double *v, int n)
{
	struct agg	 a;
	double		*w;
	int		 i;

	memset(&a, 0, sizeof a);
	a.med = a.min = a.max = -1;
	if ((w = calloc((size_t)n + 1, sizeof *w)) == NULL)
		bench_fatal("out of memory");
	for (i = 0; i < n; i++) {
		if (v[i] < 0)
			a.miss++;
		else
			w[a.n++] = v[i];
	}
	if (a.n > 0) {
		qsort(w, (size_t)a.n, sizeof *w, cmp_dbl);
		a.med = (a.n & 1) ? w[a.n / 2] : (w[a.n / 2 - 1] +
		    w[a.n / 2]) / 2;
		a.min = w[0];
		a.max = w[a.n - 1];
	}
	free(w);
	return a;
}

static void
json_agg(struct jbuf *b, const char *k, struct agg a)
{
	json_key(b, k);
	jbuf_addc(b, '{');
	json_knum(b, "median", a.med);
	json_knum(b, "min", a.min);
	json_knum(b, "worst", a.max);
	json_kint(b, "runs", a.n);
	json_kint(b, "never", a.miss);
	jbuf_addc(b, '}');
}

#define FIELD_AGG(name, expr, sel)					\
	do {								\
		int _i, _n = 0;						\
		for (_i = 0; _i < nrf; _i++)				\
			if (sel)					\
				v[_n++] = (expr);			\
		name = agg_of(v, _n);					\
	} while (0)

/* Median and worst over the runs of this invocation (--runs N). */
void
traffic_summary(int nruns)
{
	struct jbuf	 b;
	struct run_env	 env;
	struct agg	 lmed, lmax, rmed, rmax, tree, st, det, all, load;
	struct agg	 p50[2], p99[2], dp50, dp99, rp50, rp99;
	double		*v;
	uint64_t	 lost = 0, dups = 0, ooo = 0, rep = 0, res = 0, bad = 0;
	int		 i, ok = 0, under = 0, pairs = 0, m;
	char		 what[256];

	(void)nruns;
	if (nrf == 0 || (nrf < 2 && opts.workload != WL_ORDERING &&
	    opts.workload != WL_LOGINS))
		return;
	if ((v = calloc((size_t)nrf + 1, sizeof *v)) == NULL)
		bench_fatal("out of memory");
	memset(&env, 0, sizeof env);
	loadavg_read(env.load_before);
	jbuf_init(&b);
	json_begin(&b, &env);
	json_kstr(&b, "summary_of_runs", "yes");
	json_kint(&b, "runs", nrf);
	FIELD_AGG(load, RF[_i].load1, 1);
	json_agg(&b, "load1", load);
	for (i = 0; i < nrf; i++) {
		lost += RF[i].lost;
		dups += RF[i].dups;
		ooo += RF[i].ooo;
		rep += RF[i].repeats;
		res += RF[i].resent;
		bad += RF[i].rep_bad;
		ok += RF[i].ok;
	}

	if (opts.workload == WL_FAILOVER) {
		FIELD_AGG(lmed, RF[_i].login_med, 1);
		FIELD_AGG(lmax, RF[_i].login_max, 1);
		FIELD_AGG(rmed, RF[_i].recv_med, 1);
		FIELD_AGG(rmax, RF[_i].recv_max, 1);
		FIELD_AGG(tree, RF[_i].tree_ms, 1);
		FIELD_AGG(all, RF[_i].all_ms, 1);
		FIELD_AGG(st, RF[_i].status_ms, 1);
		FIELD_AGG(det, RF[_i].detect_max, 1);
		for (i = 0; i < nrf; i++)
			if (RF[i].recv_max >= 0 && RF[i].recv_max < 100 &&
			    RF[i].tree_ms >= 0 && RF[i].tree_ms < 100)
				under++;
		json_agg(&b, "detect_max_ms", det);
		json_agg(&b, "login_again_median_ms", lmed);
		json_agg(&b, "login_again_max_ms", lmax);
		json_agg(&b, "receiving_again_median_ms", rmed);
		json_agg(&b, "receiving_again_max_ms", rmax);
		json_agg(&b, "tree_reformed_ms", tree);
		json_agg(&b, "probe_reached_every_client_ms", all);
		json_agg(&b, "status_normal_everywhere_ms", st);
		json_kint(&b, "runs_all_back_and_tree_under_100ms", under);
		json_kint(&b, "lost", (long long)lost);
		json_kint(&b, "duplicated", (long long)dups);
		json_kint(&b, "out_of_order", (long long)ooo);
		json_kint(&b, "repeats_dropped_by_clients", (long long)rep);
		json_kint(&b, "publisher_resent", (long long)res);
		json_kint(&b, "runs_ok", ok);
		bench_say("== failover over %d runs (%s server %d): orphans "
		    "logged in again: median of the run medians %.1f ms, worst "
		    "%.1f ms; receiving again: median %.1f ms, median of the "
		    "run maxima %.1f, worst %.1f ms; tree re-formed median "
		    "%.1f / worst %.1f ms; status NORMAL median %.1f / worst "
		    "%.1f ms; lost %" PRIu64 ", duplicated %" PRIu64 ", out "
		    "of order %" PRIu64 " over all runs; %d of %d runs with "
		    "every orphan receiving and the tree whole within 100 ms; "
		    "load %.2f..%.2f", nrf, opts.kill_signal == SIGSTOP ?
		    "SIGSTOP" : "kill -9", opts.kill_index, lmed.med, lmax.max,
		    rmed.med, rmax.med, rmax.max, tree.med, tree.max, st.med,
		    st.max, lost, dups, ooo, under, nrf, load.min, load.max);
		if (lmax.miss + rmax.miss + tree.miss > 0)
			bench_say("   runs where not every orphan got back: "
			    "%d; where the tree probes never all arrived: %d",
			    rmax.miss, tree.miss);
		snprintf(what, sizeof what, "failover, %d runs, %d servers, "
		    "%d subs + %d pub at %.0f/s, %s server %d",
		    nrf, cl.n > 0 ? cl.n : opts.cluster, opts.subs, opts.pubs,
		    opts.rate, opts.kill_signal == SIGSTOP ? "SIGSTOP" :
		    "kill -9", opts.kill_index);
		bench_row(what, "re-login median %.1f ms (worst %.1f); "
		    "receiving again median %.1f ms, worst %.1f; tree "
		    "re-formed median %.1f ms, worst %.1f; status NORMAL median "
		    "%.1f, worst %.1f; lost %" PRIu64 ", dup %" PRIu64 ", ooo %"
		    PRIu64 " over all runs (%" PRIu64 " repeats dropped, %"
		    PRIu64 " resent); %d/%d runs all back < 100 ms%s | "
		    "%.2f..%.2f", lmed.med, lmax.max, rmed.med, rmax.max,
		    tree.med, tree.max, st.med, st.max, lost, dups, ooo, rep,
		    res, under, nrf, rmax.miss + tree.miss ? " (some never)" :
		    "", load.min, load.max);
	} else if (opts.workload == WL_LOGINS) {
		for (m = 0; m < 2; m++) {
			FIELD_AGG(p50[m], RF[_i].p50, RF[_i].mode == m);
			FIELD_AGG(p99[m], RF[_i].p99, RF[_i].mode == m);
		}
		json_agg(&b, "p50_ms_no_logins", p50[0]);
		json_agg(&b, "p50_ms_login_storm", p50[1]);
		json_agg(&b, "p99_ms_no_logins", p99[0]);
		json_agg(&b, "p99_ms_login_storm", p99[1]);
		char	 who[64];

		logins_who(who, sizeof who);
		json_knum(&b, "logins_per_s", opts.logins);
		json_kint(&b, "logins_users", opts.logins_anonymous ? 0 :
		    opts.logins_users > 0 ? opts.logins_users : 1);
		json_knum(&b, "p99_ratio", p99[0].med > 0 ? p99[1].med /
		    p99[0].med : 0);
		json_kint(&b, "lost", (long long)lost);
		json_kint(&b, "duplicated", (long long)dups);
		json_kint(&b, "out_of_order", (long long)ooo);
		bench_say("== login storm over %d runs (interleaved): p99 "
		    "without logins %.3f ms, with %.0f LOGINs/s of %s %.3f ms "
		    "(ratio %.2f); p50 %.3f / %.3f ms; lost %" PRIu64 ", dup %"
		    PRIu64 ", ooo %" PRIu64 "; load %.2f..%.2f", nrf,
		    p99[0].med, opts.logins, who, p99[1].med, p99[0].med > 0 ?
		    p99[1].med / p99[0].med : 0, p50[0].med, p50[1].med, lost,
		    dups, ooo, load.min, load.max);
		snprintf(what, sizeof what, "login storm, %d runs interleaved "
		    "(none vs %.0f LOGINs/s of %s), %d servers, %d subs + %d "
		    "pubs, %.0f/s", nrf, opts.logins, who, opts.cluster,
		    opts.subs, opts.pubs, opts.rate);
		bench_row(what, "p99 %.2f ms without vs %.2f with: ratio %.2f; "
		    "p50 %.3f vs %.3f; lost %" PRIu64 ", dup %" PRIu64 ", ooo %"
		    PRIu64 " | %.2f..%.2f", p99[0].med, p99[1].med,
		    p99[0].med > 0 ? p99[1].med / p99[0].med : 0, p50[0].med,
		    p50[1].med, lost, dups, ooo, load.min, load.max);
	} else if (opts.workload == WL_ORDERING) {
		double	 d50[RUNFIG_MAX / 2], d99[RUNFIG_MAX / 2];

		for (m = 0; m < 2; m++) {
			FIELD_AGG(p50[m], RF[_i].p50, RF[_i].mode == m);
			FIELD_AGG(p99[m], RF[_i].p99, RF[_i].mode == m);
		}
		/* paired: runs 2k and 2k+1 are one of each, back to back */
		for (i = 0; i + 1 < nrf; i += 2) {
			const struct runfig *on = RF[i].mode == 0 ? &RF[i] :
			    &RF[i + 1];
			const struct runfig *off = RF[i].mode == 0 ?
			    &RF[i + 1] : &RF[i];

			if (on->mode == off->mode)
				continue;
			d50[pairs] = on->p50 - off->p50;
			d99[pairs++] = on->p99 - off->p99;
		}
		dp50 = agg_of(d50, pairs);
		dp99 = agg_of(d99, pairs);
		/* agg_of drops negatives: take the medians directly */
		qsort(d50, (size_t)pairs, sizeof *d50, cmp_dbl);
		qsort(d99, (size_t)pairs, sizeof *d99, cmp_dbl);
		dp50.med = pairs == 0 ? 0 : (pairs & 1) ? d50[pairs / 2] :
		    (d50[pairs / 2 - 1] + d50[pairs / 2]) / 2;
		dp99.med = pairs == 0 ? 0 : (pairs & 1) ? d99[pairs / 2] :
		    (d99[pairs / 2 - 1] + d99[pairs / 2]) / 2;
		json_agg(&b, "p50_ms_ordering_on", p50[0]);
		json_agg(&b, "p50_ms_ordering_off", p50[1]);
		json_agg(&b, "p99_ms_ordering_on", p99[0]);
		json_agg(&b, "p99_ms_ordering_off", p99[1]);
		json_knum(&b, "p50_on_minus_off_ms", p50[0].med - p50[1].med);
		json_knum(&b, "p99_on_minus_off_ms", p99[0].med - p99[1].med);
		json_kint(&b, "pairs", pairs);
		json_knum(&b, "p50_paired_difference_median_ms", dp50.med);
		json_knum(&b, "p99_paired_difference_median_ms", dp99.med);
		json_kint(&b, "lost", (long long)lost);
		json_kint(&b, "duplicated", (long long)dups);
		json_kint(&b, "out_of_order", (long long)ooo);
		bench_say("== ordering over %d runs (%d pairs, interleaved): "
		    "p50 on %.3f ms / off %.3f ms (difference of the medians "
		    "%+.3f ms, median paired difference %+.3f ms); p99 on %.3f"
		    " / off %.3f ms (%+.3f, paired %+.3f); lost %" PRIu64
		    ", dup %" PRIu64 ", ooo %" PRIu64 "; load %.2f..%.2f",
		    nrf, pairs, p50[0].med, p50[1].med, p50[0].med -
		    p50[1].med, dp50.med, p99[0].med, p99[1].med, p99[0].med -
		    p99[1].med, dp99.med, lost, dups, ooo, load.min, load.max);
		snprintf(what, sizeof what, "ordering overhead, %d runs "
		    "interleaved (default --order-wait vs 0), %d servers, %d "
		    "subs + %d pubs, %.0f/s", nrf, opts.cluster, opts.subs,
		    opts.pubs, opts.rate);
		bench_row(what, "p50 %.3f ms on vs %.3f off: %+.3f ms "
		    "(median of paired differences %+.3f); p99 %.2f vs %.2f: "
		    "%+.2f ms; lost %" PRIu64 ", dup %" PRIu64 ", ooo %"
		    PRIu64 " | %.2f..%.2f", p50[0].med, p50[1].med,
		    p50[0].med - p50[1].med, dp50.med, p99[0].med, p99[1].med,
		    p99[0].med - p99[1].med, lost, dups, ooo, load.min,
		    load.max);
	} else {
		FIELD_AGG(p50[0], RF[_i].p50, 1);
		FIELD_AGG(p99[0], RF[_i].p99, 1);
		FIELD_AGG(rp50, RF[_i].rep_p50, 1);
		FIELD_AGG(rp99, RF[_i].rep_p99, 1);
		json_agg(&b, "p50_ms", p50[0]);
		json_agg(&b, "p99_ms", p99[0]);
		if (opts.workload == WL_REPORT) {
			json_agg(&b, "report_p50_ms", rp50);
			json_agg(&b, "report_p99_ms", rp99);
			json_kint(&b, "report_problems", (long long)bad);
		}
		json_kint(&b, "lost", (long long)lost);
		json_kint(&b, "duplicated", (long long)dups);
		json_kint(&b, "out_of_order", (long long)ooo);
		bench_say("== %s over %d runs: delivery p50 median %.3f ms "
		    "(worst %.3f), p99 median %.3f ms (worst %.3f); lost %"
		    PRIu64 ", dup %" PRIu64 ", ooo %" PRIu64,
		    opts.workload_name, nrf, p50[0].med, p50[0].max,
		    p99[0].med, p99[0].max, lost, dups, ooo);
		if (opts.workload == WL_REPORT)
			bench_say("   send -> ACTIVITY_SENDING_REPORT: p50 median "
			    "%.3f ms (worst %.3f), p99 median %.3f ms (worst "
			    "%.3f); %" PRIu64 " reports missing, wrong or "
			    "partial", rp50.med, rp50.max, rp99.med, rp99.max,
			    bad);
		if (opts.workload == WL_REPORT) {
			snprintf(what, sizeof what, "delivery reports, %d runs,"
			    " %d servers, %d subs + %d pubs, %.0f/s", nrf,
			    opts.cluster, opts.subs, opts.pubs, opts.rate);
			bench_row(what, "send -> report p50 median %.2f ms "
			    "(worst %.2f), p99 median %.2f ms (worst %.2f); "
			    "%" PRIu64 " missing/wrong/partial | %.2f..%.2f",
			    rp50.med, rp50.max, rp99.med, rp99.max, bad,
			    load.min, load.max);
		}
	}
	json_end(&b);
	jbuf_free(&b);
	free(v);
	nrf = 0;
}
