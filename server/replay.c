/*
 * Activities as a server keeps them, and the replay log.
 *
 * Every activity a server takes in (from a client or a link) is kept,
 * reference counted, in a log bounded by count, bytes and age.  When two
 * servers link up, each sends ACTIVITY_SYNC: for every origin server it
 * has heard from, the counter up to which it has every activity ("vv"),
 * and "since", the time from which it may have missed activities of
 * origins it has never heard of.  Each side then replays what the other
 * lacks; receivers drop repeats by message id.  A client that fails over
 * with "resume" says, per sender, the last activity_seq it received, and
 * is sent what it missed, per sender in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "delivery.h"
#include "log.h"
#include "msgbuild.h"
#include "seen.h"
#include "server.h"
#include "siphash.h"
#include "strmap.h"
#include "xmalloc.h"

#define VV_MAX	1024
/* Our time of logging is after the origin's: look that much later. */
#define REPLAY_HISTORY_SLACK_MS	2000

/* The replay log: a ring of records, oldest first, bounded (replay_cron). */
struct replay_log {
	struct replay_rec	*ring;
	size_t			 ring_cap;	/* a power of two */
	size_t			 ring_head;
	size_t			 count;
	size_t			 bytes;
	uint64_t		 complete_ms;	/* complete from here */
	struct jbuf		 tail;		/* ,"replay":true}\n */
};

void
delivery_init(struct server *srv)
{
	srv->replay = xcalloc(1, sizeof *srv->replay);
	order_init(srv);
	report_init(srv);
	srv->presence = presence_table_new();
	srv->since_ms = wall_ms();
	srv->replay->complete_ms = srv->since_ms;
	/* What ends a line replayed to a link, built once. */
	jbuf_init(&srv->replay->tail);
	msgb_bool(&srv->replay->tail, F_REPLAY, 1);
	msgb_end(&srv->replay->tail);
}

/*
 * The replay log is a ring of these, oldest first.  Beside each activity
 * it keeps what a resume tests of it: a resume scans the whole log, and
 * reading these 32 bytes each costs a fraction of visiting every
 * activity.
 */
struct replay_rec {
	uint64_t	 sender;	/* siphash of its sender, 0: none */
	uint64_t	 seq;
	uint64_t	 ts;
	struct act	*a;
};

/* Activities in the replay log. */
size_t
replay_count(struct server *srv)
{
	return srv->replay->count;
}

/* Bytes of activities in the replay log. */
size_t
replay_bytes(struct server *srv)
{
	return srv->replay->bytes;
}

static uint64_t
replay_sender_key(struct server *srv, const char *sender, size_t len)
{
	uint64_t	 h = siphash24(srv->session_key, sender, len);

	return h != 0 ? h : 1;
}

/* The i-th oldest entry of the log (i == replay_count: the next free). */
static struct replay_rec *
replay_at(struct server *srv, size_t i)
{
	return &srv->replay->ring[(srv->replay->ring_head + i) &
	    (srv->replay->ring_cap - 1)];
}

static void
replay_ring_push(struct server *srv, struct act *a)
{
	struct replay_rec	*r, *ring;
	size_t			 cap, i;

	if (srv->replay->count == srv->replay->ring_cap) {
		cap = srv->replay->ring_cap ? srv->replay->ring_cap * 2 : 1024;
		ring = xcalloc(cap, sizeof *ring);
		for (i = 0; i < srv->replay->count; i++)
			ring[i] = *replay_at(srv, i);
		free(srv->replay->ring);
		srv->replay->ring = ring;
		srv->replay->ring_cap = cap;
		srv->replay->ring_head = 0;
	}
	r = replay_at(srv, srv->replay->count);
	r->sender = a->sender != NULL ?
	    replay_sender_key(srv, a->sender, strlen(a->sender)) : 0;
	r->seq = a->seq;
	r->ts = a->ts;
	r->a = a;
}

static void
replay_evict_head(struct server *srv)
{
	struct act	*a = replay_at(srv, 0)->a;

	srv->replay->ring_head = (srv->replay->ring_head + 1) &
	    (srv->replay->ring_cap - 1);
	if (a->ts > srv->replay->complete_ms)
		srv->replay->complete_ms = a->ts;
	srv->replay->count--;
	srv->replay->bytes -= a->size;
	act_unref(a);
}

/* Keep an activity for replay; the oldest go first past the bounds. */
void
replay_append(struct server *srv, struct act *a)
{
	a->refs++;
	replay_ring_push(srv, a);
	srv->replay->count++;
	srv->replay->bytes += a->size;
	while (srv->replay->count > srv->cfg.dcfg.replay_max ||
	    srv->replay->bytes > srv->cfg.dcfg.replay_bytes)
		replay_evict_head(srv);
}

/* Forget what has aged out of the replay window. */
void
replay_cron(struct server *srv)
{
	uint64_t	 now = wall_ms();

	while (srv->replay->count > 0 && replay_at(srv, 0)->ts +
	    (uint64_t)srv->cfg.dcfg.replay_window_ms < now)
		replay_evict_head(srv);
}

/*
 * The wall time from which the log holds everything we took in: not
 * before we started, nor before the newest activity we let go.
 */
uint64_t
replay_oldest_ts(struct server *srv)
{
	return srv->replay->complete_ms;
}

static void
sync_vv_cb(const char *origin, uint64_t floor, void *arg)
{
	msgb_map_int(arg, origin, (long long)floor);
}

/* Tell a new link what we have, so it can send us what we lack. */
void
replay_send_sync(struct server *srv, struct peer *to)
{
	struct jbuf	*b;

	b = server_out_take(srv);
	msgb_begin(b, CMD_ACTIVITY_SYNC);
	msgb_key(b, F_VV);
	msgb_obj_begin(b);
	seen_foreach(srv->seen_act, sync_vv_cb, b);
	msgb_obj_end(b);
	msgb_int(b, F_SINCE, (long long)srv->since_ms);
	msgb_end(b);
	peer_send_jbuf(to, b);
	server_out_put(srv);
}

struct vv_entry {
	char		 origin[SERVER_NAME_MAX];
	uint64_t	 floor;
};

/* Parse {"origin": counter, ...} (OBJ_VV); -1 if malformed. */
static int
vv_parse(struct json_span v, struct vv_entry *e, int *n)
{
	struct msg_map	 mm;
	int		 rc;

	*n = 0;
	if (msg_map_open(&mm, v, OBJ_VV) != 0 || mm.count > VV_MAX)
		return -1;
	while ((rc = msg_map_next_uint(&mm, e[*n].origin,
	    sizeof e[*n].origin, NULL, &e[*n].floor)) == 1)
		(*n)++;
	return rc;
}

/* What a catch-up from the history log tests each record against. */
struct replay_catchup {
	struct server		*srv;
	struct peer		*from;
	struct vv_entry		*e;
	int			 n;
	uint64_t		 since;
	struct msg		*m;
};

/*
 * Does the linked server lack this record of the history?  1 yes, 0
 * no, -1 it is for the replay log.
 */
static int
replay_lacks_cb(void *arg, const struct history_item *it)
{
	struct replay_catchup	*c = arg;
	const char		*mid, *colon;
	char			 err[256];
	long long		 ts;
	uint64_t		 oc = 0;
	size_t			 olen;
	int			 i;

	if (msg_parse(it->line, it->len, c->m, err, sizeof err) != 0 ||
	    c->m->cmd != CMD_ACTIVITY_BROADCAST ||
	    (mid = c->m->str[F_MID]) == NULL ||
	    (colon = strrchr(mid, ':')) == NULL ||
	    msg_int(c->m, F_TS, &ts) != 0)
		return 0;
	olen = (size_t)(colon - mid);
	for (colon++; *colon >= '0' && *colon <= '9'; colon++)
		oc = oc * 10 + (uint64_t)(*colon - '0');
	if (c->from->remote_id != NULL &&
	    strlen(c->from->remote_id) == olen &&
	    strncmp(c->from->remote_id, mid, olen) == 0)
		return 0;
	/* The replay log has it, and sends it after. */
	if ((uint64_t)ts > replay_oldest_ts(c->srv))
		return -1;
	for (i = 0; i < c->n; i++)
		if (strlen(c->e[i].origin) == olen &&
		    strncmp(c->e[i].origin, mid, olen) == 0)
			return oc > c->e[i].floor;
	return (uint64_t)ts >= c->since;
}

/* Send a record of the history to the linked server, as a replay. */
static int
replay_catchup_cb(void *arg, const struct history_item *it)
{
	struct replay_catchup	*c = arg;
	const struct jbuf	*tail = &c->srv->replay->tail;
	char			 err[256];

	if (msg_parse(it->line, it->len, c->m, err, sizeof err) != 0)
		return 0;
	if (c->m->type[F_REPLAY] != JSON_NONE || it->len < 1 ||
	    it->line[it->len - 1] != '}')
		return peer_send(c->from, it->line, it->len) != 0 ||
		    peer_send(c->from, "\n", 1) != 0;
	return peer_send(c->from, it->line, it->len - 1) != 0 ||
	    peer_send(c->from, tail->p, tail->len) != 0;
}

/*
 * What the replay log no longer holds comes from the history log, as
 * far back as the linked server lacks activities (a server restarted
 * after a long outage, a partition longer than --replay-window), within
 * a quarter of --server-outbuf, oldest first, before the replay.
 */
static void
replay_from_history(struct server *srv, struct peer *from,
    struct vv_entry *e, int n, uint64_t since)
{
	struct replay_catchup	 c;
	int			 sent;

	if (srv->history == NULL)
		return;
	c.srv = srv;
	c.from = from;
	c.e = e;
	c.n = n;
	c.since = since;
	c.m = xcalloc(1, sizeof *c.m);
	sent = history_catchup(srv->history, replay_oldest_ts(srv) +
	    REPLAY_HISTORY_SLACK_MS, srv->cfg.server_outbuf / 4,
	    replay_lacks_cb, replay_catchup_cb, &c);
	free(c.m);
	if (sent > 0)
		log_info("%s: sent %d activities it lacked from the history "
		    "log, older than the replay log", peer_name(from), sent);
}

/* A link's ACTIVITY_SYNC: replay every activity it lacks. */
int
replay_on_sync(struct server *srv, struct peer *from, struct json_span vv,
    uint64_t since)
{
	const struct jbuf *tail = &srv->replay->tail;
	struct vv_entry	*e;
	struct act	*a;
	size_t		 k;
	int		 n, i, known, sent = 0;

	e = xcalloc(VV_MAX, sizeof *e);
	if (vv_parse(vv, e, &n) != 0) {
		free(e);
		return -1;
	}
	replay_from_history(srv, from, e, n, since);
	for (k = 0; k < srv->replay->count; k++) {
		a = replay_at(srv, k)->a;
		if (from->remote_id != NULL &&
		    strcmp(a->origin, from->remote_id) == 0)
			continue;
		known = 0;
		for (i = 0; i < n; i++) {
			if (strcmp(e[i].origin, a->origin) == 0) {
				known = 1;
				break;
			}
		}
		if (known ? a->oc <= e[i].floor : a->ts < since)
			continue;
		if (peer_shed(from, a->len + tail->len))
			continue;
		/*
		 * Marked as a replay, so every server delivers it only to
		 * clients that were connected when it was sent.
		 */
		if (!a->replay_field && a->len >= 2 &&
		    a->line[a->len - 2] == '}') {
			if (peer_send(from, a->line, a->len - 2) != 0 ||
			    peer_send(from, tail->p, tail->len) != 0)
				break;
		} else if (peer_send(from, a->line, a->len) != 0)
			break;
		sent++;
	}
	free(e);
	if (sent > 0)
		log_info("%s: replayed %d activities it lacked",
		    peer_name(from), sent);
	return 0;
}

static int
act_cmp_sender_seq(const void *x, const void *y)
{
	const struct act	*a = *(const struct act *const *)x;
	const struct act	*b = *(const struct act *const *)y;
	int			 c;

	if ((c = strcmp(a->sender, b->sender)) != 0)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * A client resumed: send it, per sender in order, what it has not
 * seen.  *partial is set when the log no longer reaches back far
 * enough.  The "seen" map is the client's: sender -> last activity_seq.
 */
int
replay_resume(struct server *srv, struct peer *p, struct json_span seen,
    uint64_t since, int *partial)
{
	struct msg_map		 mm;
	struct replay_rec	*r;
	struct act		**v = NULL;
	struct seen_slot {
		uint64_t	 key;
		uint64_t	 last;
	}			*tab = NULL, *slot;
	char			 sid[SERVER_NAME_MAX];
	size_t			 n = 0, cap = 0, i, len, tcap = 16;
	uint64_t		 k, c, prev = 0;
	const uint64_t		*last = NULL;
	const char		*bytes;
	int			 rc = 0;

	/* The client's map, sender -> last activity_seq, by sender key. */
	if (msg_map_open(&mm, seen, OBJ_SEEN) != 0 ||
	    mm.count > (size_t)srv->cfg.dcfg.max_senders)
		return -1;
	while (tcap < 2 * mm.count)
		tcap *= 2;
	tab = xcalloc(tcap, sizeof *tab);
	while ((rc = msg_map_next_uint(&mm, sid, sizeof sid, &len, &c)) == 1) {
		k = replay_sender_key(srv, sid, len);
		for (i = k & (tcap - 1); tab[i].key != 0 && tab[i].key != k;
		    i = (i + 1) & (tcap - 1))
			;
		tab[i].key = k;
		tab[i].last = c;
	}
	if (rc != 0)
		goto out;
	/*
	 * The whole log is scanned: an activity the client lacks may have
	 * been logged long ago (in a partition).  Consecutive entries are
	 * mostly one sender's, so a run reuses its lookup.
	 */
	for (i = 0; i < srv->replay->count; i++) {
		r = replay_at(srv, i);
		if (r->sender == 0)
			continue;
		if (r->sender != prev) {
			prev = r->sender;
			for (slot = &tab[prev & (tcap - 1)]; slot->key != 0 &&
			    slot->key != prev; slot = &tab[(size_t)(slot - tab +
			    1) & (tcap - 1)])
				;
			last = slot->key != 0 ? &slot->last : NULL;
		}
		if (last != NULL ? r->seq <= *last : r->ts < since)
			continue;
		if (!r->a->delivered)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[n++] = r->a;
	}
	if (n > 0)
		qsort(v, n, sizeof *v, act_cmp_sender_seq);
	for (i = 0; i < n; i++) {
		bytes = act_client_bytes(v[i],
		    (p->features & FEAT_BIT(FEAT_ACTIVITY_SEQ)) != 0, &len);
		if (peer_send(p, bytes, len) != 0)
			break;
	}
	*partial = replay_oldest_ts(srv) > since;
	log_info("%s: resumed, replayed %zu activities%s", peer_name(p), n,
	    *partial ? " (the log no longer reaches back far enough)" : "");
out:
	free(v);
	free(tab);
	return rc;
}

void
delivery_free(struct server *srv)
{
	while (srv->replay->count > 0)
		replay_evict_head(srv);
	free(srv->replay->ring);
	jbuf_free(&srv->replay->tail);
	free(srv->replay);
	srv->replay = NULL;
	order_free(srv);
	report_free(srv);
	presence_table_free(srv->presence);
}
