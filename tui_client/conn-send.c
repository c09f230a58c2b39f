/*
 * The send side of the link: activities wait in a bounded queue while
 * the link is down and go out after the next login; numbered ones stay
 * "unacked" until their report comes, so a resumed session can send
 * them again.  Nothing here reads from the server.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "compat.h"
#include "compose.h"
#include "conn.h"
#include "log.h"
#include "msg.h"
#include "msgbuild.h"
#include "xmalloc.h"

/* Write one ACTIVITY_MESSAGE; seq 0 leaves it unnumbered. */
static int
conn_write_activity(struct conn *c, long long seq, const char *act,
    size_t len)
{
	struct jbuf	 b;

	jbuf_init(&b);
	msgb_begin(&b, CMD_ACTIVITY_MESSAGE);
	msgb_str(&b, F_USERNAME, c->user);
	if (c->anonymous)
		msgb_null(&b, F_SECRET);
	else
		msgb_str(&b, F_SECRET, c->secret);
	if (seq > 0)
		msgb_int(&b, F_ACTIVITY_SEQ, seq);
	msgb_raw(&b, F_ACTIVITY, act, len);
	msgb_end(&b);
	return conn_write_jbuf(c, &b);
}

/* Keep a sent activity until its report says it arrived. */
static void
conn_unacked_add(struct conn *c, long long seq, const char *act, size_t len)
{
	struct conn_queued	*u;

	if (c->nunacked == CONN_UNACKED_MAX) {
		free(c->unacked[0].act);
		memmove(&c->unacked[0], &c->unacked[1],
		    (CONN_UNACKED_MAX - 1) * sizeof c->unacked[0]);
		c->nunacked--;
	}
	u = &c->unacked[c->nunacked++];
	u->act = xmalloc(len);
	memcpy(u->act, act, len);
	u->len = len;
	u->seq = seq;
}

/* The report for seq came: no need to keep it. */
void
conn_unacked_done(struct conn *c, long long seq)
{
	int	 i;

	for (i = 0; i < c->nunacked; i++) {
		if (c->unacked[i].seq != seq)
			continue;
		free(c->unacked[i].act);
		memmove(&c->unacked[i], &c->unacked[i + 1],
		    (size_t)(c->nunacked - i - 1) * sizeof c->unacked[0]);
		c->nunacked--;
		return;
	}
}

/* Forget the unreported activities: a new session cannot resend them. */
void
conn_unacked_clear(struct conn *c)
{
	int	 i;

	for (i = 0; i < c->nunacked; i++)
		free(c->unacked[i].act);
	c->nunacked = 0;
}

/*
 * The session was resumed: send again, with their own activity_seq,
 * the activities whose report never came.  The lost server may have
 * passed some on already; servers and receivers drop those as repeats
 * by (sender, activity_seq), so nothing is shown twice.
 */
void
conn_unacked_resend(struct conn *c)
{
	int	 i;

	if (c->nunacked > 0)
		model_info(c->m, "sending again %d activit%s without a report",
		    c->nunacked, c->nunacked == 1 ? "y" : "ies");
	for (i = 0; i < c->nunacked && conn_online(c); i++) {
		if (conn_write_activity(c, c->unacked[i].seq,
		    c->unacked[i].act, c->unacked[i].len) != 0)
			break;
		model_report_resent(c->m, c->unacked[i].seq);
	}
}

/* Send one activity now, numbered if the server numbers them. */
static int
conn_send_now(struct conn *c, const char *act, size_t len)
{
	char		 show[MODEL_PREVIEW_MAX * 2];
	long long	 seq = 0;
	int		 numbered, tracked;

	numbered = (c->features & FEAT_BIT(FEAT_ACTIVITY_SEQ)) != 0;
	tracked = numbered &&
	    (c->features & FEAT_BIT(FEAT_SENDING_REPORT)) != 0;
	if (numbered)
		seq = c->next_seq++;
	if (conn_write_activity(c, seq, act, len) != 0)
		return -1;
	if (tracked)
		conn_unacked_add(c, seq, act, len);
	compose_show(act, len, show, sizeof show, NULL, 0);
	model_report_add(c->m, seq, tracked, show, strlen(show));
	return 0;
}

/*
 * Send an activity object (already validated).  While the link is down
 * it waits in a bounded queue and goes out after the next login.
 * Returns 0 sent, 1 queued, -1 refused.
 */
int
conn_send(struct conn *c, const char *act, size_t len)
{
	struct conn_queued	*q;

	if (conn_online(c))
		return conn_send_now(c, act, len) == 0 ? 0 : 1;
	if (c->state == LINK_FAILED || c->state == LINK_LOGGED_OUT ||
	    c->state == LINK_IDLE) {
		model_error(c->m, "not sent: not connected (use /connect or "
		    "/login)");
		return -1;
	}
	if (c->nqueue == CONN_QUEUE_MAX) {
		model_error(c->m, "not sent: %d activities already wait for "
		    "the link", CONN_QUEUE_MAX);
		return -1;
	}
	q = &c->queue[c->nqueue++];
	q->act = xmalloc(len);
	memcpy(q->act, act, len);
	q->len = len;
	model_info(c->m, "queued until the link is back (%d waiting)",
	    c->nqueue);
	return 1;
}

/* Logged in again: send what waited. */
void
conn_flush_queue(struct conn *c)
{
	int	 i;

	for (i = 0; i < c->nqueue && conn_online(c); i++) {
		conn_send_now(c, c->queue[i].act, c->queue[i].len);
		free(c->queue[i].act);
		c->queue[i].act = NULL;
	}
	if (i < c->nqueue)
		memmove(&c->queue[0], &c->queue[i],
		    (size_t)(c->nqueue - i) * sizeof c->queue[0]);
	c->nqueue -= i;
}

/* Free what waits to be sent or reported, for conn_free. */
void
conn_queue_free(struct conn *c)
{
	int	 i;

	for (i = 0; i < c->nqueue; i++)
		free(c->queue[i].act);
	c->nqueue = 0;
	for (i = 0; i < c->nunacked; i++)
		free(c->unacked[i].act);
	c->nunacked = 0;
}
