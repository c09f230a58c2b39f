/*
 * The hot path.  An activity from a client is processed once (our
 * authenticated_user set first, every other member passed through as
 * the exact bytes the client sent) and serialised once into the server
 * line, which carries its cluster-wide identity: "mid" (origin server
 * and counter), the sender's session and activity_seq, the username and
 * the origin's clock.  Servers forward that line as received; client
 * lines are cut from it once per activity (act_client_bytes) and the
 * same bytes are queued for every client.
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
#include "xmalloc.h"

#define SEQ_MAX		(1LL << 53)

/*
 * Rebuild the activity object with our authenticated_user first and
 * every other member copied verbatim; any authenticated_user the client
 * put there, however it was spelled with escapes, is dropped.
 */
static void
activity_process(struct jbuf *b, struct json_span act, const char *user)
{
	struct json_iter	 it;
	struct json_span	 key, val;
	enum json_type		 t;

	jbuf_addc(b, '{');
	jbuf_cstr(b, MSG_ACT_AUTH_USER);
	jbuf_addc(b, ':');
	jbuf_cstr(b, user);
	json_iter_object(&it, act);
	while (json_next_member(&it, &key, &val, &t)) {
		if (json_key_eq(key, MSG_ACT_AUTH_USER))
			continue;
		jbuf_adds(b, ",\"");
		jbuf_add(b, key.p, key.len);
		jbuf_adds(b, "\":");
		jbuf_add(b, val.p, val.len);
	}
	jbuf_addc(b, '}');
}

static char *
act_copy(char **at, const char *s)
{
	char	*d = *at;
	size_t	 n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(d, s, n);
	*at += n;
	return d;
}

/*
 * Copy a server line and its identity into one allocation: the log
 * holds many of these, and one malloc each keeps that cheap.
 */
struct act *
act_new(const char *line, size_t len, size_t act_off, size_t act_len,
    const char *mid, const char *origin, const char *sender,
    const char *username)
{
	struct act	*a;
	size_t		 size = sizeof *a + len + 1;
	char		*at;

	size += strlen(mid) + 1 + strlen(origin) + 1;
	size += sender != NULL ? strlen(sender) + 1 : 0;
	size += username != NULL ? strlen(username) + 1 : 0;
	a = xmalloc(size);
	memset(a, 0, sizeof *a);
	at = (char *)(a + 1);
	a->line = at;
	memcpy(at, line, len);
	at[len] = '\0';
	at += len + 1;
	a->mid = act_copy(&at, mid);
	a->origin = act_copy(&at, origin);
	a->sender = act_copy(&at, sender);
	a->username = act_copy(&at, username);
	a->len = len;
	a->size = size;
	a->act_off = act_off;
	a->act_len = act_len;
	a->refs = 1;
	return a;
}

void
act_unref(struct act *a)
{
	if (a == NULL || --a->refs > 0)
		return;
	free(a->client_line);
	free(a->seq_line);
	free(a);
}

/*
 * The bytes a client gets: {command, activity} for base-protocol
 * clients, plus sender and activity_seq for those that asked.  Each is
 * built once per activity, on first use, and shared by every client.
 */
const char *
act_client_bytes(struct act *a, int with_seq, size_t *len)
{
	struct jbuf	 b;

	if (with_seq && a->sender != NULL) {
		if (a->seq_line == NULL) {
			jbuf_init(&b);
			msgb_begin(&b, CMD_ACTIVITY_BROADCAST);
			msgb_raw(&b, F_ACTIVITY, a->line + a->act_off,
			    a->act_len);
			msgb_str(&b, F_SENDER, a->sender);
			msgb_int(&b, F_ACTIVITY_SEQ, (long long)a->seq);
			msgb_end(&b);
			a->seq_line = jbuf_detach(&b, &a->seq_len);
		}
		*len = a->seq_len;
		return a->seq_line;
	}
	if (a->client_line == NULL) {
		jbuf_init(&b);
		msgb_begin(&b, CMD_ACTIVITY_BROADCAST);
		msgb_raw(&b, F_ACTIVITY, a->line + a->act_off, a->act_len);
		msgb_end(&b);
		a->client_line = jbuf_detach(&b, &a->client_len);
	}
	*len = a->client_len;
	return a->client_line;
}

/* Hand one activity to every logged-in client, sharing its bytes. */
void
activity_deliver(struct server *srv, struct act *a, int late)
{
	late |= a->replayed;
	struct peer	*p, *next;
	struct report	*r = a->report ? report_find(srv, a) : NULL;
	const char	*bytes;
	size_t		 len;
	int		 targets = 0;

	a->delivered = 1;
	history_append(srv->history, a, wall_ms());
	for (p = TAILQ_FIRST(&srv->clients); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		/*
		 * A late one (replayed after a relink, or behind a gap we
		 * gave up on) that was sent before this client was here is
		 * not owed to it.  Live traffic is never filtered by clock.
		 */
		if (late && a->ts < p->since_ms)
			continue;
		bytes = act_client_bytes(a,
		    (p->features & FEAT_BIT(FEAT_ACTIVITY_SEQ)) != 0, &len);
		targets++;
		if (peer_send(p, bytes, len) != 0)
			continue;
		srv->stats.act_delivered++;
		if (r != NULL)
			report_mark(srv, r, p);
	}
	if (r != NULL)
		report_local_done(srv, r, targets);
	/* The log keeps only the server line; a replay rebuilds these. */
	free(a->client_line);
	free(a->seq_line);
	a->client_line = a->seq_line = NULL;
}

/* Send an activity we took in to our links, our clients and the log. */
static void
activity_take(struct server *srv, struct act *a, struct peer *from,
    struct peer *sender)
{
	if (sender != NULL)
		srv->stats.act_from_clients++;
	else
		srv->stats.act_from_servers++;
	replay_append(srv, a);
	tree_send_activity(srv, from, a->line, a->len, 1);
	if (a->report)
		report_start(srv, a, from, sender);
	order_submit(srv, a);
}

/* Process a client's ACTIVITY_MESSAGE and broadcast it everywhere. */
enum cmd_ret
activity_publish(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	struct jbuf	*b;
	struct act	*a;
	long long	 seq;
	size_t		 act_off, act_len;
	char		 mid[SERVER_ID_LEN + 24];
	uint64_t	 ts = wall_ms();

	if (p->features & FEAT_BIT(FEAT_ACTIVITY_SEQ)) {
		if (msg_int(m, F_ACTIVITY_SEQ, &seq) != 0 || seq < 1 ||
		    seq > SEQ_MAX) {
			peer_reply_close(p, CMD_INVALID_MESSAGE,
			    "ACTIVITY_MESSAGE: 'activity_seq' must be an "
			    "integer from 1 (this client asked for "
			    "activity_seq)");
			return CMD_CLOSE;
		}
	} else
		seq = (long long)++p->auto_seq;

	snprintf(mid, sizeof mid, "%s:%llu", srv->id,
	    (unsigned long long)++srv->next_act);
	b = server_out_take(srv);
	msgb_begin(b, CMD_ACTIVITY_BROADCAST);
	msgb_key(b, F_ACTIVITY);
	act_off = b->len;
	activity_process(b, m->val[F_ACTIVITY], p->username);
	act_len = b->len - act_off;
	msgb_str(b, F_MID, mid);
	msgb_str(b, F_SENDER, p->session);
	msgb_int(b, F_ACTIVITY_SEQ, seq);
	msgb_str(b, F_USERNAME, p->username);
	msgb_int(b, F_TS, (long long)ts);
	/*
	 * The previous activity_seq we took from this session lets a
	 * server meeting the sender for the first time start there
	 * rather than wait for activity_seq 1.
	 */
	msgb_int(b, F_PREV, (long long)p->last_seq_in);
	if (p->features & FEAT_BIT(FEAT_SENDING_REPORT))
		msgb_bool(b, F_REPORT, 1);
	msgb_end(b);

	a = act_new(b->p, b->len, act_off, act_len, mid, srv->id, p->session,
	    p->username);
	server_out_put(srv);
	a->oc = srv->next_act;
	a->seq = (uint64_t)seq;
	a->prev = p->last_seq_in;
	if ((uint64_t)seq > p->last_seq_in)
		p->last_seq_in = (uint64_t)seq;
	a->ts = ts;
	a->report = (p->features & FEAT_BIT(FEAT_SENDING_REPORT)) != 0;
	activity_take(srv, a, NULL, p);
	act_unref(a);
	return CMD_OK;
}

/* The activity object's place in a validated line. */
static void
activity_span(struct msg *m, size_t *off, size_t *len)
{
	*off = (size_t)(m->val[F_ACTIVITY].p - m->line);
	*len = m->val[F_ACTIVITY].len;
}

/* An activity from another server: drop repeats, take in the rest. */
enum cmd_ret
cmd_activity_broadcast(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	struct jbuf	*b;
	struct act	*a;
	char		 origin[SERVER_NAME_MAX];
	uint64_t	 oc;
	long long	 seq = 0, ts = 0, prev = 0;
	size_t		 off, len;

	if (m->str[F_MID] == NULL ||
	    seen_parse_mid(m->str[F_MID], origin, sizeof origin, &oc) != 0) {
		/* A server without ids: pass it on as the base protocol. */
		b = server_out_take(srv);
		jbuf_add(b, m->line, m->len);
		jbuf_addc(b, '\n');
		tree_send_activity(srv, p, b->p, b->len, 0);
		activity_span(m, &off, &len);
		jbuf_reset(b);
		msgb_begin(b, CMD_ACTIVITY_BROADCAST);
		msgb_raw(b, F_ACTIVITY, m->line + off, len);
		msgb_end(b);
		srv->stats.act_from_servers++;
		srv->stats.act_delivered += (uint64_t)srv->nclients;
		tree_send_clients(srv, b->p, b->len);
		server_out_put(srv);
		return CMD_OK;
	}
	if ((msg_has(m, F_ACTIVITY_SEQ) &&
	    (msg_int(m, F_ACTIVITY_SEQ, &seq) != 0 || seq < 1)) ||
	    (msg_has(m, F_TS) && (msg_int(m, F_TS, &ts) != 0 || ts < 0)) ||
	    (msg_has(m, F_PREV) && (msg_int(m, F_PREV, &prev) != 0 ||
	    prev < 0))) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "ACTIVITY_BROADCAST: 'activity_seq' and 'ts' must be "
		    "positive integers");
		return CMD_CLOSE;
	}
	if (strcmp(origin, srv->id) == 0 ||
	    !seen_add(srv->seen_act, origin, oc)) {
		log_debug("%s: dropped a repeated activity %s", peer_name(p),
		    log_safe(m->str[F_MID]));
		if (msg_true(m, F_REPORT))
			report_reply_empty(srv, p, m->str[F_MID],
			    m->str[F_USERNAME], seq);
		return CMD_OK;
	}
	activity_span(m, &off, &len);
	/* Keep the line as received, newline restored for forwarding. */
	b = server_out_take(srv);
	jbuf_add(b, m->line, m->len);
	jbuf_addc(b, '\n');
	a = act_new(b->p, b->len, off, len, m->str[F_MID], origin,
	    seq > 0 ? m->str[F_SENDER] : NULL, m->str[F_USERNAME]);
	server_out_put(srv);
	a->oc = oc;
	if (a->sender != NULL) {
		a->seq = (uint64_t)seq;
		a->prev = (uint64_t)prev;
	}
	a->ts = (uint64_t)ts;
	a->report = msg_true(m, F_REPORT);
	a->replayed = msg_true(m, F_REPLAY);
	a->replay_field = m->type[F_REPLAY] != JSON_NONE;
	activity_take(srv, a, p, NULL);
	act_unref(a);
	return CMD_OK;
}

/* ACTIVITY_SUCC_INFO: a link's counts for its subtree. */
enum cmd_ret
cmd_activity_succ_info(struct peer *p, struct msg *m)
{
	long long	 targets, reached;

	if (msg_int(m, F_CLIENT_COUNT, &targets) != 0 || targets < 0 ||
	    msg_int(m, F_SUCC_COUNT, &reached) != 0 || reached < 0 ||
	    reached > targets) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "ACTIVITY_SUCC_INFO: 'client_count' and 'succ_count' must "
		    "be integers with 0 <= succ_count <= client_count");
		return CMD_CLOSE;
	}
	if (m->str[F_MID] == NULL)
		return CMD_OK;	/* a report we cannot match: ignore */
	report_on_succ_info(p->srv, p, m->str[F_MID], targets, reached,
	    msg_true(m, F_PARTIAL));
	return CMD_OK;
}

/* ACTIVITY_SYNC: a new link says what it has; send what it lacks. */
enum cmd_ret
cmd_activity_sync(struct peer *p, struct msg *m)
{
	long long	 since;

	if (msg_int(m, F_SINCE, &since) != 0 || since < 0 ||
	    replay_on_sync(p->srv, p, m->val[F_VV], (uint64_t)since) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "ACTIVITY_SYNC: 'vv' must map server ids to counters and "
		    "'since' be a time in ms");
		return CMD_CLOSE;
	}
	/* Replayed up to now: live activities follow (tree_send_activity). */
	p->synced = 1;
	return CMD_OK;
}
