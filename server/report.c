/*
 * Delivery reports, aggregated up the tree as the seed designs them.
 *
 * "Reached" means the whole broadcast line was written to the client's
 * socket: we note where the line ends in the client's output stream and
 * count it reached when the kernel has taken every byte up to there.
 * A client whose connection is lost or dropped first was a target but
 * not reached.
 *
 * Each server waits for its local deliveries and for an
 * ACTIVITY_SUCC_INFO from every link it forwarded the activity to, then
 * answers the link it came from with the sums for its whole subtree.
 * The origin answers the sender with ACTIVITY_SENDING_REPORT.  A link
 * that breaks is not waited for and makes the report partial, and so
 * does --report-timeout, so a report always arrives.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "clock.h"
#include "delivery.h"
#include "log.h"
#include "msgbuild.h"
#include "server.h"
#include "strmap.h"
#include "xmalloc.h"

struct report {
	TAILQ_ENTRY(report)	 entry;
	char			*mid;
	char			*username;
	long long		 seq;
	struct peer		*from;		/* link to answer */
	struct peer		*sender;	/* at the origin */
	struct peer		**waiting;
	int			 nwaiting;
	int			 local_pending;	/* marks not yet drained */
	int			 local_done;
	int			 answered;
	int			 partial;
	int			 recheck;
	int			 checking;
	long long		 targets;
	long long		 reached;
	uint64_t		 deadline_ms;
	uint64_t		 start_ms;
};

/* Reports in progress: by mid, and in the order they started. */
struct report_table {
	struct strmap		*byid;
	TAILQ_HEAD(, report)	 list;
};

static void	report_check(struct server *, struct report *);
static void	report_answer(struct server *, struct report *);

/* No room to count: answer at once, empty and partial. */
static void
report_refuse(struct server *srv, struct act *a, struct peer *from,
    struct peer *sender)
{
	struct jbuf	*b;

	b = server_out_take(srv);
	if (from != NULL) {
		msgb_begin(b, CMD_ACTIVITY_SUCC_INFO);
		msgb_str(b, F_USERNAME, a->username != NULL ? a->username : "");
		msgb_int(b, F_ACTIVITY_SEQ, (long long)a->seq);
		msgb_int(b, F_CLIENT_COUNT, 0);
		msgb_int(b, F_SUCC_COUNT, 0);
		msgb_str(b, F_MID, a->mid);
		msgb_bool(b, F_PARTIAL, 1);
		msgb_end(b);
		peer_send_jbuf(from, b);
	} else if (sender != NULL) {
		msgb_begin(b, CMD_ACTIVITY_SENDING_REPORT);
		msgb_int(b, F_ACTIVITY_SEQ, (long long)a->seq);
		msgb_int(b, F_CLIENT_COUNT, 0);
		msgb_int(b, F_SUCC_COUNT, 0);
		msgb_bool(b, F_PARTIAL, 1);
		msgb_end(b);
		peer_send_jbuf(sender, b);
	}
	server_out_put(srv);
}

struct report *
report_find(struct server *srv, struct act *a)
{
	return strmap_get(srv->reports->byid, a->mid);
}

static void
report_free_one(struct server *srv, struct report *r)
{
	TAILQ_REMOVE(&srv->reports->list, r, entry);
	if (strmap_get(srv->reports->byid, r->mid) == r)
		strmap_del(srv->reports->byid, r->mid);
	free(r->mid);
	free(r->username);
	free(r->waiting);
	free(r);
}

/*
 * The table is full: the oldest report still counted is answered now,
 * partial, as its timeout would, and forgotten by its id (it stays on
 * the list until its lines drain), so a link flooding reported
 * activities cannot stop newcomers from being counted.
 */
static void
report_evict(struct server *srv)
{
	struct report	*r;

	TAILQ_FOREACH(r, &srv->reports->list, entry)
		if (strmap_get(srv->reports->byid, r->mid) == r)
			break;
	if (r == NULL)
		return;
	log_warnx("%d reports pending: answering the oldest, %s, as partial",
	    srv->cfg.dcfg.max_reports, log_safe(r->mid));
	strmap_del(srv->reports->byid, r->mid);
	if (!r->answered) {
		r->partial = 1;
		r->local_done = 1;
		r->nwaiting = 0;
		report_answer(srv, r);
	}
	report_check(srv, r);
}

/*
 * Begin counting for an activity we just took in and forwarded: wait
 * for every server link but the one it came from.
 */
void
report_start(struct server *srv, struct act *a, struct peer *from,
    struct peer *sender)
{
	struct report	*r;
	struct peer	*p;
	int		 n = 0;

	if (strmap_get(srv->reports->byid, a->mid) != NULL)
		return;
	if ((int)strmap_count(srv->reports->byid) >= srv->cfg.dcfg.max_reports)
		report_evict(srv);
	if ((int)strmap_count(srv->reports->byid) >= srv->cfg.dcfg.max_reports) {
		log_warnx("%d reports pending: not counting %s",
		    srv->cfg.dcfg.max_reports, log_safe(a->mid));
		report_refuse(srv, a, from, sender);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->mid = xstrdup(a->mid);
	r->username = xstrdup(a->username != NULL ? a->username : "");
	r->seq = (long long)a->seq;
	r->from = from;
	r->sender = sender;
	r->start_ms = now_ms();
	r->deadline_ms = r->start_ms +
	    (uint64_t)srv->cfg.dcfg.report_timeout_ms;
	TAILQ_FOREACH(p, &srv->links, role_entry)
		if (p != from)
			n++;
	if (n > 0)
		r->waiting = xcalloc((size_t)n, sizeof *r->waiting);
	TAILQ_FOREACH(p, &srv->links, role_entry)
		if (p != from && r->nwaiting < n)
			r->waiting[r->nwaiting++] = p;
	TAILQ_INSERT_TAIL(&srv->reports->list, r, entry);
	strmap_put(srv->reports->byid, r->mid, r);
}

static void
report_answer(struct server *srv, struct report *r)
{
	struct jbuf	*b;

	r->answered = 1;
	b = server_out_take(srv);
	if (r->from != NULL) {
		msgb_begin(b, CMD_ACTIVITY_SUCC_INFO);
		msgb_str(b, F_USERNAME, r->username);
		msgb_int(b, F_ACTIVITY_SEQ, r->seq);
		msgb_int(b, F_CLIENT_COUNT, r->targets);
		msgb_int(b, F_SUCC_COUNT, r->reached);
		msgb_str(b, F_MID, r->mid);
		msgb_bool(b, F_PARTIAL, r->partial);
		msgb_end(b);
		peer_send_jbuf(r->from, b);
	} else if (r->sender != NULL && !r->sender->closing) {
		msgb_begin(b, CMD_ACTIVITY_SENDING_REPORT);
		msgb_int(b, F_ACTIVITY_SEQ, r->seq);
		msgb_int(b, F_CLIENT_COUNT, r->targets);
		msgb_int(b, F_SUCC_COUNT, r->reached);
		msgb_bool(b, F_PARTIAL, r->partial);
		msgb_end(b);
		peer_send_jbuf(r->sender, b);
		monitor_report_latency(srv, now_ms() - r->start_ms);
	}
	server_out_put(srv);
}

/* Answer once everything is in; free once no mark points here. */
static void
report_check(struct server *srv, struct report *r)
{
	/*
	 * Answering sends, a failed send closes that link, and closing a
	 * link checks its reports again: only the outermost check of a
	 * report may free it.
	 */
	if (r->checking)
		return;
	r->checking = 1;
	if (!r->answered && r->local_done && r->local_pending == 0 &&
	    r->nwaiting == 0)
		report_answer(srv, r);
	r->checking = 0;
	if (r->answered && r->local_pending == 0)
		report_free_one(srv, r);
}

static void
report_unhook(struct peer *p)
{
	if (p->mark_cb != NULL) {
		evbuffer_remove_cb_entry(bufferevent_get_output(p->bev),
		    p->mark_cb);
		p->mark_cb = NULL;
	}
	p->mark_head = p->nmarks = 0;
}

/*
 * The kernel took bytes from a client's output: every line that ended
 * within them was reached.  Checking a report can send, and a send can
 * condemn this very peer, so marks are popped one at a time.
 */
static void
report_drain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct peer	*p = arg;
	struct report	*r;

	(void)buf;
	if (info->n_deleted == 0)
		return;
	p->tx_drained += info->n_deleted;
	while (p->mark_head < p->nmarks &&
	    p->marks[p->mark_head].end <= p->tx_drained) {
		r = p->marks[p->mark_head++].r;
		r->reached++;
		r->local_pending--;
		report_check(p->srv, r);
	}
	if (p->mark_head == p->nmarks)
		report_unhook(p);
}

/* The line just queued for p counts as reached once it drains. */
void
report_mark(struct server *srv, struct report *r, struct peer *p)
{
	struct evbuffer	*out = bufferevent_get_output(p->bev);

	(void)srv;
	if (p->nmarks == p->capmarks && p->mark_head > 0) {
		memmove(p->marks, p->marks + p->mark_head,
		    (size_t)(p->nmarks - p->mark_head) * sizeof *p->marks);
		p->nmarks -= p->mark_head;
		p->mark_head = 0;
	}
	if (p->nmarks == p->capmarks) {
		p->capmarks = p->capmarks ? p->capmarks * 2 : 8;
		p->marks = xreallocarray(p->marks, (size_t)p->capmarks,
		    sizeof *p->marks);
	}
	if (p->mark_cb == NULL) {
		p->tx_drained = p->tx_added - peer_queued(p);
		p->mark_cb = evbuffer_add_cb(out, report_drain_cb, p);
	}
	p->marks[p->nmarks].end = p->tx_added;
	p->marks[p->nmarks++].r = r;
	r->local_pending++;
}

/* Our clients have all been handed the activity. */
void
report_local_done(struct server *srv, struct report *r, int targets)
{
	r->targets += targets;
	r->local_done = 1;
	report_check(srv, r);
}

/* ACTIVITY_SUCC_INFO from a link we forwarded to. */
void
report_on_succ_info(struct server *srv, struct peer *from, const char *mid,
    long long targets, long long reached, int partial)
{
	struct report	*r = strmap_get(srv->reports->byid, mid);
	int		 i;

	if (r == NULL || r->answered)
		return;
	for (i = 0; i < r->nwaiting; i++)
		if (r->waiting[i] == from)
			break;
	if (i == r->nwaiting)
		return;
	r->waiting[i] = r->waiting[--r->nwaiting];
	r->targets += targets;
	r->reached += reached;
	r->partial |= partial;
	report_check(srv, r);
}

/* A repeat came in over a link that still wants an answer. */
void
report_reply_empty(struct server *srv, struct peer *to, const char *mid,
    const char *username, long long seq)
{
	struct jbuf	*b;

	b = server_out_take(srv);
	msgb_begin(b, CMD_ACTIVITY_SUCC_INFO);
	msgb_str(b, F_USERNAME, username != NULL ? username : "");
	msgb_int(b, F_ACTIVITY_SEQ, seq);
	msgb_int(b, F_CLIENT_COUNT, 0);
	msgb_int(b, F_SUCC_COUNT, 0);
	msgb_str(b, F_MID, mid);
	msgb_end(b);
	peer_send_jbuf(to, b);
	server_out_put(srv);
}

/*
 * A connection is going: lines not yet drained to it were not reached,
 * a link we waited for will not answer (partial), and nothing may keep
 * pointing at it.  Conclusions send, and a send can condemn another
 * peer, so the walk restarts after each.
 */
void
report_peer_closed(struct server *srv, struct peer *p)
{
	struct report	*r;
	int		 i, k;

	for (k = p->mark_head; k < p->nmarks; k++) {
		p->marks[k].r->local_pending--;
		p->marks[k].r->recheck = 1;
	}
	report_unhook(p);
	TAILQ_FOREACH(r, &srv->reports->list, entry) {
		if (r->from == p) {
			r->from = NULL;
			r->recheck = 1;
		}
		if (r->sender == p)
			r->sender = NULL;
		for (i = 0; i < r->nwaiting; i++) {
			if (r->waiting[i] == p) {
				r->waiting[i] = r->waiting[--r->nwaiting];
				r->partial = 1;
				r->recheck = 1;
				break;
			}
		}
	}
again:
	TAILQ_FOREACH(r, &srv->reports->list, entry) {
		if (r->recheck) {
			r->recheck = 0;
			report_check(srv, r);
			goto again;
		}
	}
}

/* Reports past their time are sent as they stand, marked partial. */
void
report_cron(struct server *srv)
{
	struct report	*r;
	uint64_t	 now = now_ms();

again:
	TAILQ_FOREACH(r, &srv->reports->list, entry) {
		if (!r->answered && now >= r->deadline_ms) {
			r->partial = 1;
			r->local_done = 1;
			r->nwaiting = 0;
			report_answer(srv, r);
			report_check(srv, r);
			goto again;
		}
	}
}

void
report_free(struct server *srv)
{
	struct report	*r;

	if (srv->reports == NULL)
		return;
	while ((r = TAILQ_FIRST(&srv->reports->list)) != NULL)
		report_free_one(srv, r);
	strmap_free(srv->reports->byid);
	free(srv->reports);
	srv->reports = NULL;
}

/* The empty report table. */
void
report_init(struct server *srv)
{
	srv->reports = xcalloc(1, sizeof *srv->reports);
	srv->reports->byid = strmap_new();
	TAILQ_INIT(&srv->reports->list);
}
