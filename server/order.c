/*
 * Per-sender order for our own clients.  Activities are forwarded to
 * other servers the moment they arrive; only delivery to our clients
 * waits, and only when there is a gap: the next expected activity_seq
 * of a sender goes out at once (in-order traffic gains no latency), one
 * ahead of a gap is held until the gap fills or --order-wait runs out,
 * whichever is first.  A sender session a server has not heard of yet
 * starts at activity_seq 1.  Activities that arrive after their gap was
 * given up on are still delivered (late beats lost); repeats of one
 * already delivered are dropped, whatever route they took.
 *
 * An activity_seq comes from the network: a rogue or buggy server can
 * send one far ahead of a session's real numbering, after which every
 * real activity of the session would count as an old repeat.  So a
 * session that keeps sending numbers far below its window (ORDER_RESYNC
 * of them, rising, with nothing inside the window between them) is
 * taken to have been pushed ahead: its numbering starts again there.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "delivery.h"
#include "log.h"
#include "server.h"
#include "strmap.h"
#include "xmalloc.h"

#define ORDER_WINDOW	1024	/* delivered seqs remembered below next */
#define ORDER_HELD_MAX	1024	/* held per sender before forcing */
#define ORDER_HELD_TOTAL_MAX 65536	/* held over all senders */
#define ORDER_RESYNC	64	/* rising seqs below the window: restart */

struct sender {
	TAILQ_ENTRY(sender)	 lru;
	TAILQ_ENTRY(sender)	 holding;	/* while nheld > 0 */
	char			*sid;
	char			*username;
	uint64_t		 next;
	uint64_t		 win[ORDER_WINDOW / 64];
	struct act		**held;
	int			 nheld;
	int			 capheld;
	uint64_t		 deadline_ms;
	uint64_t		 low_top;	/* highest seq below the window */
	int			 low_n;		/* rising ones since one inside */
};

/* Sender sessions: by id, least recently used first, and those holding. */
struct order_table {
	struct strmap		*byid;
	TAILQ_HEAD(, sender)	 lru;
	TAILQ_HEAD(, sender)	 holding;
	int			 held_total;
};

static void
win_set(struct sender *s, uint64_t seq, int v)
{
	uint64_t	 i = seq % ORDER_WINDOW;

	if (v)
		s->win[i / 64] |= 1ULL << (i % 64);
	else
		s->win[i / 64] &= ~(1ULL << (i % 64));
}

static int
win_get(const struct sender *s, uint64_t seq)
{
	uint64_t	 i = seq % ORDER_WINDOW;

	return (s->win[i / 64] >> (i % 64)) & 1;
}

static void
sender_free(struct server *srv, struct sender *s)
{
	int	 i;

	TAILQ_REMOVE(&srv->order->lru, s, lru);
	if (s->nheld > 0)
		TAILQ_REMOVE(&srv->order->holding, s, holding);
	strmap_del(srv->order->byid, s->sid);
	for (i = 0; i < s->nheld; i++)
		act_unref(s->held[i]);
	srv->order->held_total -= s->nheld;
	free(s->held);
	free(s->sid);
	free(s->username);
	free(s);
}

/* Find a sender, creating it (and forgetting an idle one) as needed. */
static struct sender *
sender_get(struct server *srv, const char *sid, const char *username,
    uint64_t first)
{
	struct sender	*s, *old;

	if ((s = strmap_get(srv->order->byid, sid)) != NULL) {
		TAILQ_REMOVE(&srv->order->lru, s, lru);
		TAILQ_INSERT_TAIL(&srv->order->lru, s, lru);
		return s;
	}
	if ((int)strmap_count(srv->order->byid) >= srv->cfg.dcfg.max_senders) {
		TAILQ_FOREACH(old, &srv->order->lru, lru)
			if (old->nheld == 0)
				break;
		if (old != NULL)
			sender_free(srv, old);
	}
	s = xcalloc(1, sizeof *s);
	s->sid = xstrdup(sid);
	s->username = xstrdup(username != NULL ? username : "");
	s->next = first;
	strmap_put(srv->order->byid, sid, s);
	TAILQ_INSERT_TAIL(&srv->order->lru, s, lru);
	return s;
}

/*
 * May a client of this username take over (resume) session sid?  Only
 * if nobody else has been sending under it.
 */
int
order_session_owner(struct server *srv, const char *sid, const char *username)
{
	struct sender	*s = strmap_get(srv->order->byid, sid);

	return s == NULL || strcmp(s->username, username) == 0;
}

/* Deliver s->next and everything held right behind it. */
static void
sender_advance(struct server *srv, struct sender *s)
{
	struct act	*a;
	int		 k = 0;

	while (k < s->nheld && s->held[k]->seq <= s->next) {
		a = s->held[k++];
		if (a->seq == s->next) {
			activity_deliver(srv, a, 0);
			win_set(s, a->seq, 1);
			s->next++;
		}
		act_unref(a);
	}
	if (k > 0) {
		memmove(s->held, s->held + k,
		    (size_t)(s->nheld - k) * sizeof *s->held);
		s->nheld -= k;
		srv->order->held_total -= k;
		if (s->nheld == 0)
			TAILQ_REMOVE(&srv->order->holding, s, holding);
	}
	s->deadline_ms = s->nheld > 0 ? now_ms() +
	    (uint64_t)srv->cfg.dcfg.order_wait_ms : 0;
}

/* Stop waiting: skip the gaps, deliver everything held, in order. */
static void
sender_flush(struct server *srv, struct sender *s)
{
	uint64_t	 gap;

	while (s->nheld > 0) {
		/* A hostile sender may leave a gap of 2^53: bound the work. */
		if (s->held[0]->seq - s->next >= ORDER_WINDOW)
			memset(s->win, 0, sizeof s->win);
		else
			for (gap = s->next; gap < s->held[0]->seq; gap++)
				win_set(s, gap, 0);
		log_debug("sender %s: gave up waiting for activity_seq "
		    "%llu-%llu", log_safe(s->sid), (unsigned long long)s->next,
		    (unsigned long long)s->held[0]->seq - 1);
		s->next = s->held[0]->seq;
		sender_advance(srv, s);
	}
}

/* Forget a sender's numbering: seq is the next one expected. */
static void
sender_restart(struct sender *s, uint64_t seq)
{
	log_warnx("sender %s: %d rising activity_seq up to %llu far below "
	    "%llu: its numbering starts again there", log_safe(s->sid),
	    ORDER_RESYNC, (unsigned long long)seq,
	    (unsigned long long)s->next);
	memset(s->win, 0, sizeof s->win);
	s->next = seq;
	s->low_n = 0;
	s->low_top = 0;
}

/* An activity new to this server: deliver it now or hold it back. */
void
order_submit(struct server *srv, struct act *a)
{
	struct sender	*s;
	int		 i;

	/* --order-wait 0 switches ordering off (for measuring it). */
	if (a->sender == NULL || srv->cfg.dcfg.order_wait_ms == 0) {
		activity_deliver(srv, a, 0);
		return;
	}
	/* New to us: expect what followed the origin's previous one. */
	s = sender_get(srv, a->sender, a->username,
	    a->prev < a->seq ? a->prev + 1 : a->seq);
	/* A numbering pushed far ahead starts again (see the top). */
	if (a->seq + ORDER_WINDOW < s->next) {
		if (a->seq > s->low_top) {
			s->low_top = a->seq;
			if (++s->low_n >= ORDER_RESYNC && s->nheld == 0)
				sender_restart(s, a->seq);
		}
	} else {
		s->low_n = 0;
		s->low_top = 0;
	}
	if (a->seq < s->next) {
		if (a->seq + ORDER_WINDOW < s->next || win_get(s, a->seq)) {
			log_debug("sender %s: dropped repeated activity_seq "
			    "%llu", log_safe(s->sid), (unsigned long long)a->seq);
			return;
		}
		win_set(s, a->seq, 1);
		a->behind = 1;		/* the history puts it back in place */
		activity_deliver(srv, a, 1);	/* late, but not lost */
		return;
	}
	if (a->seq == s->next) {
		activity_deliver(srv, a, 0);
		win_set(s, a->seq, 1);
		s->next++;
		if (s->nheld > 0)
			sender_advance(srv, s);
		return;
	}
	/* A gap: hold, sorted by seq, unless it is already held. */
	for (i = 0; i < s->nheld && s->held[i]->seq < a->seq; i++)
		;
	if (i < s->nheld && s->held[i]->seq == a->seq)
		return;
	if (s->nheld == s->capheld) {
		s->capheld = s->capheld ? s->capheld * 2 : 8;
		s->held = xreallocarray(s->held, (size_t)s->capheld,
		    sizeof *s->held);
	}
	memmove(s->held + i + 1, s->held + i,
	    (size_t)(s->nheld - i) * sizeof *s->held);
	s->held[i] = a;
	a->refs++;
	srv->order->held_total++;
	srv->stats.holdbacks++;
	if (s->nheld++ == 0) {
		s->deadline_ms = now_ms() + (uint64_t)srv->cfg.dcfg.order_wait_ms;
		TAILQ_INSERT_TAIL(&srv->order->holding, s, holding);
	}
	if (s->nheld > ORDER_HELD_MAX ||
	    srv->order->held_total > ORDER_HELD_TOTAL_MAX)
		sender_flush(srv, s);
}

/* Give up on gaps whose wait is over. */
void
order_cron(struct server *srv)
{
	struct sender	*s, *next;
	uint64_t	 now = now_ms();

	for (s = TAILQ_FIRST(&srv->order->holding); s != NULL; s = next) {
		next = TAILQ_NEXT(s, holding);
		if (now >= s->deadline_ms)
			sender_flush(srv, s);
	}
}

void
order_free(struct server *srv)
{
	struct sender	*s;

	if (srv->order == NULL)
		return;
	while ((s = TAILQ_FIRST(&srv->order->lru)) != NULL)
		sender_free(srv, s);
	strmap_free(srv->order->byid);
	free(srv->order);
	srv->order = NULL;
}

/* The empty sender table. */
void
order_init(struct server *srv)
{
	srv->order = xcalloc(1, sizeof *srv->order);
	srv->order->byid = strmap_new();
	TAILQ_INIT(&srv->order->lru);
	TAILQ_INIT(&srv->order->holding);
}
