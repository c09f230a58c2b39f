/*
 * HISTORY: a client that asked for the "history" feature reads pages of
 * the history log.  A page holds only activities logged before the
 * client logged in (its mark): everything after reached it live, so no
 * activity comes both ways.  Each is a HISTORY_ACTIVITY line, oldest
 * first, then HISTORY_END with the count and whether there is more.  A
 * page is capped in activities (HISTORY_PAGE_MAX) and in bytes (half of
 * --client-outbuf less what is still queued for the client): a client
 * pages on from the first or last activity it got, so it never gets
 * more than it reads.
 */
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "log.h"
#include "msgbuild.h"
#include "server.h"
#include "xmalloc.h"

struct history_out {
	struct peer	*p;
	struct msg	*m;
	struct jbuf	 rest;		/* a line less its activity */
	int		 sent;
	int		 omitted;
};

/*
 * One stored activity as a HISTORY_ACTIVITY line to the client.  The
 * line is parsed again, strictly, but for its activity object where
 * the history knows it: that was checked when the line was logged (as
 * it came in, and again when the segments were read back at start), and
 * is the bulk of the line, so a page costs about a copy of it.
 */
static int
history_out_cb(void *arg, const struct history_item *it)
{
	struct history_out	*o = arg;
	struct server		*srv = o->p->srv;
	struct json_span	 act;
	struct jbuf		*b;
	char			 err[256];
	const char		*line = it->line;
	size_t			 len = it->len;
	int			 rc = 0;
	long long		 seq;

	if (it->act_len > 0) {
		jbuf_reset(&o->rest);
		jbuf_add(&o->rest, it->line, it->act_off);
		jbuf_add(&o->rest, "{}", 2);
		jbuf_add(&o->rest, it->line + it->act_off + it->act_len,
		    it->len - it->act_off - it->act_len);
		line = o->rest.p;
		len = o->rest.len;
	}
	if (msg_parse(line, len, o->m, err, sizeof err) != 0 ||
	    o->m->cmd != CMD_ACTIVITY_BROADCAST || o->m->str[F_MID] == NULL) {
		o->omitted++;
		return 0;
	}
	act = o->m->val[F_ACTIVITY];
	if (it->act_len > 0) {
		act.p = it->line + it->act_off;
		act.len = it->act_len;
	}
	b = server_out_take(srv);
	msgb_begin(b, CMD_HISTORY_ACTIVITY);
	msgb_raw(b, F_ACTIVITY, act.p, act.len);
	msgb_str(b, F_MID, o->m->str[F_MID]);
	msgb_int(b, F_TIME, (long long)it->time);
	if (o->m->str[F_SENDER] != NULL &&
	    msg_int(o->m, F_ACTIVITY_SEQ, &seq) == 0) {
		msgb_str(b, F_SENDER, o->m->str[F_SENDER]);
		msgb_int(b, F_ACTIVITY_SEQ, seq);
	}
	msgb_end(b);
	/* No reply line is longer than a client may send. */
	if (b->len - 1 > srv->cfg.max_msg)
		o->omitted++;
	else if (peer_send(o->p, b->p, b->len) != 0)
		rc = -1;
	else
		o->sent++;
	server_out_put(srv);
	return rc;
}

/* HISTORY: send the page asked for, then HISTORY_END. */
enum cmd_ret
cmd_history(struct peer *p, struct msg *m)
{
	struct server		*srv = p->srv;
	struct history_query	 q;
	struct history_out	 o;
	struct jbuf		*b;
	enum msg_field		 f = F_BEFORE;
	long long		 v;
	size_t			 queued;
	int			 more, rc;

	if ((p->features & FEAT_BIT(FEAT_HISTORY)) == 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "HISTORY is only answered to a client that asked for the "
		    "\"history\" feature in LOGIN");
		return CMD_CLOSE;
	}
	memset(&q, 0, sizeof q);
	q.mark = p->history_mark;
	q.limit = HISTORY_PAGE_DEFAULT;
	if (msg_has(m, F_LIMIT)) {
		if (msg_int(m, F_LIMIT, &v) != 0 || v < 1) {
			peer_reply_close(p, CMD_INVALID_MESSAGE,
			    "HISTORY: 'limit' must be a positive integer");
			return CMD_CLOSE;
		}
		q.limit = v > HISTORY_PAGE_MAX ? HISTORY_PAGE_MAX : (size_t)v;
	}
	if (msg_has(m, F_BEFORE) && msg_has(m, F_AFTER)) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "HISTORY: 'before' and 'after' cannot go together");
		return CMD_CLOSE;
	}
	q.dir = HISTORY_LATEST;
	if (msg_has(m, F_AFTER))
		f = F_AFTER;
	if (msg_has(m, f)) {
		q.dir = f == F_AFTER ? HISTORY_AFTER : HISTORY_BEFORE;
		if (m->type[f] == JSON_STRING)
			q.mid = m->str[f];
		else if (msg_int(m, f, &v) == 0 && v >= 0)
			q.time = (uint64_t)v;
		else {
			peer_reply_close(p, CMD_INVALID_MESSAGE,
			    "HISTORY: 'before' and 'after' take an activity's "
			    "\"mid\" or a time in ms since the epoch");
			return CMD_CLOSE;
		}
	}
	queued = peer_queued(p);
	q.budget = queued < srv->cfg.client_outbuf / 2 ?
	    srv->cfg.client_outbuf / 2 - queued : 0;
	memset(&o, 0, sizeof o);
	o.p = p;
	jbuf_init(&o.rest);
	o.m = xmalloc(sizeof *o.m);
	rc = history_page(srv->history, &q, history_out_cb, &o, &more);
	free(o.m);
	jbuf_free(&o.rest);
	if (p->closing)
		return CMD_OK;
	b = server_out_take(srv);
	msgb_begin(b, CMD_HISTORY_END);
	msgb_int(b, F_COUNT, o.sent);
	msgb_bool(b, F_MORE, more);
	if (rc == -1)
		msgb_str(b, F_INFO, "no such activity in the history");
	else if (o.omitted > 0)
		msgb_str(b, F_INFO, "activities too long for --max-message "
		    "were left out");
	msgb_end(b);
	peer_send(p, b->p, b->len);
	server_out_put(srv);
	return CMD_OK;
}
