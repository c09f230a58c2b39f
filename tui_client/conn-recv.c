/*
 * What the server sends a client, as a table like the server's
 * dispatch.c: for each command, the link states it is accepted in and
 * its handler.  Handlers are recv_<wire name>; they update the model
 * the panes show and ask the link (conn.c) to change state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "clock.h"
#include "compat.h"
#include "compose.h"
#include "conn.h"
#include "decor.h"
#include "log.h"
#include "msg.h"
#include "msgbuild.h"
#include "xmalloc.h"

/* An optional string field: NULL when absent (msg_parse leaves str[] stale). */
static const char *
recv_str(const struct msg *msg, enum msg_field f)
{
	return msg->type[f] == JSON_STRING ? msg->str[f] : NULL;
}

/* LOGIN_SUCCESS: online; learn the features, session and resume result. */
static enum conn_ret
recv_login_success(struct conn *c, struct msg *msg)
{
	char		 resume[16], names[128];
	const char	*sess;
	int		 i, cont, back;
	size_t		 n = 0;

	if (c->state != LINK_LOGGING_IN)
		return conn_invalid(c, "LOGIN_SUCCESS while not logging in");
	if (msg_features(msg, msg_feature_names, &c->features) != 0)
		return conn_invalid(c, "LOGIN_SUCCESS: features must be "
		    "strings");
	c->features &= c->requested;
	strlcpy(resume, recv_str(msg, F_RESUME) != NULL ?
	    recv_str(msg, F_RESUME) : "", sizeof resume);
	sess = recv_str(msg, F_SESSION);

	/*
	 * Numbering goes on where it was only if the server kept our
	 * session id (a resume it accepted); any other session starts at
	 * 1, and reports from before can no longer match.
	 */
	cont = sess != NULL && c->session[0] != '\0' &&
	    strcmp(sess, c->session) == 0;
	if (!cont) {
		c->next_seq = 1;
		model_new_session(c->m);
		conn_unacked_clear(c);
	}
	if (sess != NULL)
		strlcpy(c->session, sess, sizeof c->session);
	else
		c->session[0] = '\0';
	if (recv_str(msg, F_TOKEN) != NULL)
		strlcpy(c->token, recv_str(msg, F_TOKEN), sizeof c->token);
	else
		c->token[0] = '\0';
	c->prev_features = c->features;

	strlcpy(c->m->resume, resume, sizeof c->m->resume);
	if (recv_str(msg, F_ID) != NULL)
		strlcpy(c->m->server_id, recv_str(msg, F_ID),
		    sizeof c->m->server_id);
	back = conn_logged_in(c);

	names[0] = '\0';
	for (i = 0; msg_feature_names[i] != NULL; i++) {
		if ((c->features & FEAT_BIT(i)) == 0)
			continue;
		n += (size_t)snprintf(names + n, sizeof names - n, "%s%s",
		    n > 0 ? " " : "", msg_feature_names[i]);
		if (n >= sizeof names)
			break;
	}
	/* Back after a failover: conn_logged_in said so in one line. */
	if (!back)
		model_info(c->m, "logged in to %s:%d as %s%s%s%s%s",
		    c->home.host, c->home.port, c->user,
		    names[0] != '\0' ? "; features: " : "",
		    names[0] != '\0' ? names : "; no extensions offered",
		    resume[0] != '\0' ? "; resume " : "", resume);
	else
		log_info("logged in to %s:%d as %s; features: %s",
		    c->home.host, c->home.port, c->user, names);

	if (strcmp(resume, MSG_V_PARTIAL) == 0)
		model_error(c->m, "resumed in part: some activities sent while "
		    "we were away are older than the server keeps");

	/* Resent once the whole buffer is read: a REDIRECT may follow. */
	c->resend_pending = cont && resume[0] != '\0';
	if (!c->resend_pending)
		conn_unacked_clear(c);
	c->online_pending = 1;

	/* A page lost with its link is not waited for any more. */
	c->history_pending = 0;
	c->history_fetching = 0;
	if (c->hpage != NULL)
		evbuffer_drain(c->hpage, evbuffer_get_length(c->hpage));
	if (!c->history_asked && c->history_want > 0 &&
	    (c->features & FEAT_BIT(FEAT_HISTORY))) {
		c->history_asked = 1;
		c->history_pending = conn_history(c, c->history_want, 0) ==
		    0;
	}
	return CONN_OK;
}

/* REGISTER_SUCCESS: log in on the same connection. */
static enum conn_ret
recv_register_success(struct conn *c, struct msg *msg)
{
	struct jbuf	 b;

	if (c->state != LINK_REGISTERING)
		return conn_invalid(c, "REGISTER_SUCCESS while not "
		    "registering");
	if (c->generated)
		model_info(c->m, "generated secret for %s: %s (registered: %s)",
		    c->user, c->secret, msg->str[F_INFO]);
	else
		model_info(c->m, "registered %s: %s", c->user,
		    msg->str[F_INFO]);
	c->need_register = 0;
	c->registered = 1;
	jbuf_init(&b);
	conn_build_hello(c, &b, CMD_LOGIN);
	conn_write_jbuf(c, &b);
	conn_set_state(c, LINK_LOGGING_IN);
	return CONN_OK;
}

/* LOGIN_FAILED, REGISTER_FAILED: a refusal retrying will not change. */
static enum conn_ret
recv_refused(struct conn *c, struct msg *msg)
{
	char	 why[512];

	if (msg->cmd == CMD_LOGIN_FAILED)
		snprintf(why, sizeof why, "login failed as %s: %s", c->user,
		    msg->str[F_INFO]);
	else
		snprintf(why, sizeof why, "registration of %s failed: %s",
		    c->user, msg->str[F_INFO]);
	model_error(c->m, "%s", why);
	conn_refused(c, why);
	/*
	 * The interactive client stays open where it was: say how to go on
	 * (batch mode exits; it has no commands to suggest).
	 */
	if (c->batch || c->anonymous)
		return CONN_STOP;
	if (msg->cmd == CMD_LOGIN_FAILED)
		model_info(c->m, "not logged in; still here: /login %s SECRET "
		    "to try again, /register %s to register it again (a "
		    "cluster restarted without its data directories forgets "
		    "its users), /connect HOST PORT, or /quit", c->user,
		    c->user);
	else
		model_info(c->m, "not logged in; still here: /login %s SECRET "
		    "if the name is yours (the secret shown when it was "
		    "registered), /register NAME for another name, /connect "
		    "HOST PORT, or /quit", c->user);
	return CONN_STOP;
}

/*
 * INVALID_MESSAGE, AUTHENTICATION_FAIL: the server closes.  Before login
 * that is a refusal; once logged in, another server may do better.
 */
static enum conn_ret
recv_close_notice(struct conn *c, struct msg *msg)
{
	char	 why[512];

	snprintf(why, sizeof why, "server said %s: %s",
	    msg->cmd == CMD_INVALID_MESSAGE ? "our message was invalid" :
	    "authentication failed", msg->str[F_INFO]);
	if (c->state != LINK_ONLINE) {
		model_error(c->m, "%s", why);
		conn_refused(c, why);
		return CONN_STOP;
	}
	conn_lost(c, why);
	return CONN_STOP;
}

/* REDIRECT: go to the server named, and log in there. */
static enum conn_ret
recv_redirect(struct conn *c, struct msg *msg)
{
	struct fo_target	 t;

	memset(&t, 0, sizeof t);
	if (msg_port(msg, F_PORT, &t.port) != 0)
		return conn_invalid(c, "REDIRECT: port must be 1-65535");
	/* Over TLS we stay on TLS: the target's TLS port, if it has one. */
	if (c->tls != NULL && msg_port(msg, F_TLS_PORT, &t.port) != 0) {
		conn_lost(c, "REDIRECT to a server without a TLS port");
		return CONN_STOP;
	}
	if (msg->str[F_HOSTNAME][0] == '\0')
		return conn_invalid(c, "REDIRECT: empty hostname");
	strlcpy(t.host, msg->str[F_HOSTNAME], sizeof t.host);
	if (++c->redirects > CONN_REDIRECT_MAX) {
		conn_lost(c, "too many redirects in a row");
		return CONN_STOP;
	}
	if (c->out_of_service)
		log_info("redirected from %s:%d to %s:%d", c->home.host,
		    c->home.port, t.host, t.port);
	else
		model_info(c->m, "redirected from %s:%d to %s:%d",
		    c->home.host, c->home.port, t.host, t.port);
	c->online_pending = 0;
	conn_dial(c, &t);
	return CONN_STOP;
}

/*
 * An activity, live or from the history, into the stream: at the end,
 * or (an earlier page of history) before the oldest line; -1 if the
 * scrollback has no room left for that.
 */
static int
recv_show_activity(struct conn *c, struct msg *msg, int before)
{
	char			 text[MODEL_TEXT_MAX * 2], who[MODEL_WHO_MAX];
	const struct json_span	*a = &msg->val[F_ACTIVITY];
	const char		*sender = recv_str(msg, F_SENDER);
	enum model_kind		 kind = MODEL_ACTIVITY;
	long long		 ms;
	int			 shown;

	shown = compose_show(a->p, a->len, text, sizeof text, who,
	    sizeof who);
	if (who[0] == '\0' && recv_str(msg, F_USERNAME) != NULL)
		strlcpy(who, recv_str(msg, F_USERNAME), sizeof who);
	if (who[0] == '\0')
		strlcpy(who, "?", sizeof who);
	if (sender != NULL && c->session[0] != '\0')
		kind = strcmp(sender, c->session) == 0 ? MODEL_SELF :
		    MODEL_ACTIVITY;
	else if (!c->anonymous && strcmp(who, c->user) == 0)
		kind = MODEL_SELF;
	if (before) {
		if (model_prepend(c->m, kind, who, text, strlen(text),
		    shown == 2 ? MODEL_F_ACTION : 0) != 0)
			return -1;
		if (msg_int(msg, F_TIME, &ms) == 0 && ms > 0)
			model_time_last(c->m, 1, (uint64_t)ms);
		return 0;
	}
	model_add(c->m, kind, who, text, strlen(text));
	if (msg->cmd == CMD_HISTORY_ACTIVITY &&
	    msg_int(msg, F_TIME, &ms) == 0 && ms > 0)
		model_time_last(c->m, 0, (uint64_t)ms);
	if (shown == 2)
		model_flag_last(c->m, MODEL_F_ACTION);
	if (kind == MODEL_ACTIVITY && !c->anonymous &&
	    decor_mentions(text, strlen(text), c->user))
		model_flag_last(c->m, MODEL_F_MENTION);
	return 0;
}

/* ACTIVITY_BROADCAST: show the activity in the stream. */
static enum conn_ret
recv_activity_broadcast(struct conn *c, struct msg *msg)
{
	(void)recv_show_activity(c, msg, 0);
	return CONN_OK;
}

/*
 * Ask for a page of history: the latest, or the one before the oldest
 * activity of the pages already shown.
 */
int
conn_history(struct conn *c, int limit, int before)
{
	struct jbuf	 b;

	if (!conn_online(c) || (c->features & FEAT_BIT(FEAT_HISTORY)) == 0 ||
	    c->history_fetching)
		return -1;
	c->history_fetching = 1;
	c->history_before = before;
	jbuf_init(&b);
	msgb_begin(&b, CMD_HISTORY);
	msgb_int(&b, F_LIMIT, limit);
	if (c->history_oldest[0] != '\0')
		msgb_str(&b, F_BEFORE, c->history_oldest);
	msgb_end(&b);
	c->history_got = 0;
	return conn_write_jbuf(c, &b);
}

/* HISTORY_ACTIVITY: one of a page, oldest first. */
static enum conn_ret
recv_history_activity(struct conn *c, struct msg *msg)
{
	/* An earlier page moves it as it is shown (recv_history_prepend). */
	if (c->history_got++ == 0 && !c->history_before)
		strlcpy(c->history_oldest, recv_str(msg, F_MID),
		    sizeof c->history_oldest);
	if (!c->history_before) {
		(void)recv_show_activity(c, msg, 0);
		return CONN_OK;
	}
	/* Oldest first: kept until the page ends, then put on top. */
	if (c->hpage == NULL && (c->hpage = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	evbuffer_add(c->hpage, msg->line, msg->len);
	evbuffer_add(c->hpage, "\n", 1);
	return CONN_OK;
}

/*
 * Put a page kept by recv_history_activity above the stream, newest
 * first; where the scrollback is full (MODEL_HISTORY_LINES_MAX) the
 * rest is left out, and the next page is the one before the oldest
 * shown.  Returns how many were shown.
 */
static int
recv_history_prepend(struct conn *c)
{
	struct msg	*m;
	char		**v = NULL, *line, err[256];
	size_t		 len;
	int		 n = 0, i, shown = 0, full = 0;

	if (c->hpage == NULL)
		return 0;
	while ((line = evbuffer_readln(c->hpage, &len, EVBUFFER_EOL_LF)) !=
	    NULL) {
		v = xreallocarray(v, (size_t)n + 1, sizeof *v);
		v[n++] = line;
	}
	m = xmalloc(sizeof *m);
	for (i = n - 1; i >= 0; i--) {
		/* The last line left is for the note that this happened. */
		if (c->m->lines_n + 1 >= c->m->lines_max)
			full = 1;
		if (!full && msg_parse(v[i], strlen(v[i]), m, err,
		    sizeof err) == 0) {
			if (recv_show_activity(c, m, 1) == 0) {
				shown++;
				if (recv_str(m, F_MID) != NULL)
					strlcpy(c->history_oldest,
					    recv_str(m, F_MID),
					    sizeof c->history_oldest);
			} else
				full = 1;
		}
		free(v[i]);
	}
	free(m);
	free(v);
	if (full)
		c->history_more = 0;
	return shown;
}

/* HISTORY_END: the divider; held live lines follow it. */
static enum conn_ret
recv_history_end(struct conn *c, struct msg *msg)
{
	int	 more = msg_true(msg, F_MORE), n;

	c->history_pending = 0;
	c->history_fetching = 0;
	c->history_more = more;
	if (c->history_before) {
		n = recv_history_prepend(c);
		if (n < c->history_got)
			model_info(c->m, "history: %d earlier activit%s added at "
			    "the top; the scrollback holds no more than %d "
			    "lines (/clear makes room)", n, n == 1 ? "y" : "ies",
			    (int)c->m->lines_max);
		else
			model_info(c->m, "history: %d earlier activit%s added "
			    "at the top%s", n, n == 1 ? "y" : "ies",
			    more ? "" : "; that is all the server keeps");
	} else
		model_info(c->m, "---- history: %d activit%s above%s ----",
		    c->history_got, c->history_got == 1 ? "y" : "ies",
		    more ? " (/history N or scroll up for earlier ones)" :
		    "");
	if (recv_str(msg, F_INFO) != NULL)
		model_info(c->m, "history: %s", recv_str(msg, F_INFO));
	return CONN_OK;
}

/* ACTIVITY_SENDING_REPORT: match it to the activity we sent. */
static enum conn_ret
recv_activity_sending_report(struct conn *c, struct msg *msg)
{
	long long	 seq, count, succ;
	int		 partial;

	if (msg_int(msg, F_ACTIVITY_SEQ, &seq) != 0 ||
	    msg_int(msg, F_CLIENT_COUNT, &count) != 0 ||
	    msg_int(msg, F_SUCC_COUNT, &succ) != 0)
		return conn_invalid(c, "ACTIVITY_SENDING_REPORT: counts must "
		    "be integers");
	partial = msg_true(msg, F_PARTIAL);
	if (model_report_update(c->m, seq, succ, count, partial) != 0)
		log_info("report for activity_seq %lld we did not send", seq);
	conn_unacked_done(c, seq);
	conn_emit(c, CONN_EV_REPORT);
	return CONN_OK;
}

/*
 * A nested list the table refuses: say which command and why, and
 * drop the link (conn_invalid logs the reason).
 */
static enum conn_ret
recv_malformed(struct conn *c, struct msg *msg, const char *why)
{
	char	 what[384];

	snprintf(what, sizeof what, "%s: %s", msg_cmd_name(msg->cmd), why);
	return conn_invalid(c, what);
}

/*
 * BACKUP_LIST: the servers to fail over to, in order, each an OBJ_SERVER
 * of the table; one malformed entry refuses the whole list.
 */
static enum conn_ret
recv_backup_list(struct conn *c, struct msg *msg)
{
	struct fo_target	 t[FO_BACKUPS_MAX];
	struct json_iter	 it;
	struct msg		 sm;
	char			 err[256];
	int			 n = 0, i, rc, port, tls_port;

	json_iter_array(&it, msg->val[F_SERVERS]);
	while ((rc = msg_next_object(&it, OBJ_SERVER, &sm, err,
	    sizeof err)) == 1) {
		if (sm.str[F_HOST][0] == '\0' ||
		    strlen(sm.str[F_HOST]) >= sizeof t[0].host ||
		    msg_port(&sm, F_PORT, &port) != 0 ||
		    (msg_has(&sm, F_TLS_PORT) &&
		    msg_port(&sm, F_TLS_PORT, &tls_port) != 0))
			return recv_malformed(c, msg, "each server needs a "
			    "host and ports from 1 to 65535");
		/* Over TLS only a server's TLS port will do. */
		if (c->tls != NULL) {
			if (!msg_has(&sm, F_TLS_PORT))
				continue;
			port = tls_port;
		}
		if (n == FO_BACKUPS_MAX)
			continue;
		strlcpy(t[n].host, sm.str[F_HOST], sizeof t[n].host);
		t[n++].port = port;
	}
	if (rc != 0)
		return recv_malformed(c, msg, err);
	failover_set_backups(&c->fo, t, n);
	c->m->have_backups = 1;
	c->m->nbackups = n;
	for (i = 0; i < n; i++) {
		strlcpy(c->m->backups[i].host, t[i].host,
		    sizeof c->m->backups[i].host);
		c->m->backups[i].port = t[i].port;
	}
	c->m->dirty |= MODEL_D_FAILOVER;
	return CONN_OK;
}

/*
 * CLUSTER_STATUS: every server and its health, for the cluster pane,
 * each an OBJ_CLUSTER_SERVER of the table; one malformed entry refuses
 * the whole status, and the pane keeps the last good one.
 */
static enum conn_ret
recv_cluster_status(struct conn *c, struct msg *msg)
{
	struct model_server	 srv[MODEL_SERVERS_MAX], one;
	struct json_iter	 it;
	struct msg		 sm;
	char			 err[256];
	int			 n = 0, rc;

	json_iter_array(&it, msg->val[F_SERVERS]);
	while ((rc = msg_next_object(&it, OBJ_CLUSTER_SERVER, &sm, err,
	    sizeof err)) == 1) {
		memset(&one, 0, sizeof one);
		if (msg_port(&sm, F_PORT, &one.port) != 0 ||
		    msg_int(&sm, F_LOAD, &one.load) != 0 ||
		    msg_int(&sm, F_LAST_ANNOUNCE_MS, &one.last_announce) != 0)
			return recv_malformed(c, msg, "each server needs a "
			    "port from 1 to 65535 and integer counts");
		if (msg_int(&sm, F_DOWN_MS, &one.down_ms) != 0)
			one.down_ms = -1;
		strlcpy(one.id, sm.str[F_ID], sizeof one.id);
		strlcpy(one.host, sm.str[F_HOST], sizeof one.host);
		strlcpy(one.state, sm.str[F_STATE], sizeof one.state);
		/* Past the cap: checked, not kept. */
		if (n < MODEL_SERVERS_MAX)
			srv[n++] = one;
	}
	if (rc != 0)
		return recv_malformed(c, msg, err);
	strlcpy(c->m->cluster_status, msg->str[F_STATUS],
	    sizeof c->m->cluster_status);
	strlcpy(c->m->cluster_info, recv_str(msg, F_INFO) != NULL ?
	    recv_str(msg, F_INFO) : "", sizeof c->m->cluster_info);
	memcpy(c->m->servers, srv, (size_t)n * sizeof srv[0]);
	c->m->nservers = n;
	c->m->have_cluster = 1;
	c->m->cluster_at = now_ms();
	c->m->cluster_wall = wall_ms();
	c->m->dirty |= MODEL_D_CLUSTER | MODEL_D_FAILOVER;
	return CONN_OK;
}

/* WHO_LIST: who is online, as one line in the stream. */
static enum conn_ret
recv_who_list(struct conn *c, struct msg *msg)
{
	struct json_iter	 it;
	struct json_span	 el;
	enum json_type		 ty;
	char			 line[1024], name[MODEL_NAME_MAX];
	long long		 clients = 0;
	size_t			 n = 0;
	int			 users = 0, more = 0;

	line[0] = '\0';
	json_iter_array(&it, msg->val[F_USERS]);
	while (json_next_element(&it, &el, &ty)) {
		if (ty != JSON_STRING)
			return conn_invalid(c, "WHO_LIST: users must be "
			    "strings");
		el = json_str_inner(el);
		if (json_str_decode(el, name, sizeof name, NULL) != 0)
			continue;
		users++;
		if (n + strlen(name) + 8 < sizeof line)
			n += (size_t)snprintf(line + n, sizeof line - n, "%s%s",
			    n > 0 ? ", " : "", name);
		else
			more = 1;
	}
	(void)msg_int(msg, F_CLIENTS, &clients);
	model_info(c->m, "online: %s%s (%d registered user%s, %lld client%s "
	    "in all)", users > 0 ? line : "no registered users",
	    more || msg_has(msg, F_MORE) ? ", ..." : "", users,
	    users == 1 ? "" : "s", clients, clients == 1 ? "" : "s");
	return CONN_OK;
}

/* PONG: the round-trip time of the PING it answers. */
static enum conn_ret
recv_pong(struct conn *c, struct msg *msg)
{
	long long	 ts;
	uint64_t	 now = now_ms();

	if (msg_int(msg, F_TS, &ts) == 0 && ts > 0 && (uint64_t)ts <= now) {
		c->m->rtt_ms = (long long)(now - (uint64_t)ts);
		c->m->dirty |= MODEL_D_STATUS;
	}
	return CONN_OK;
}

#define RECV_ANY	0xffffu
#define RECV_ONLINE	(1u << LINK_ONLINE)

struct recv_entry {
	unsigned	 states;	/* 1 << LINK_*: accepted in */
	enum conn_ret	(*handler)(struct conn *, struct msg *);
};

/* Commands missing here are not sent to clients. */
static const struct recv_entry recv_table[CMD__COUNT] = {
	[CMD_LOGIN_SUCCESS] = { RECV_ANY, recv_login_success },
	[CMD_LOGIN_FAILED] = { RECV_ANY, recv_refused },
	[CMD_REGISTER_FAILED] = { RECV_ANY, recv_refused },
	[CMD_REGISTER_SUCCESS] = { RECV_ANY, recv_register_success },
	[CMD_INVALID_MESSAGE] = { RECV_ANY, recv_close_notice },
	[CMD_AUTHENTICATION_FAIL] = { RECV_ANY, recv_close_notice },
	[CMD_REDIRECT] = { RECV_ANY, recv_redirect },
	[CMD_ACTIVITY_BROADCAST] = { RECV_ONLINE, recv_activity_broadcast },
	[CMD_ACTIVITY_SENDING_REPORT] = { RECV_ONLINE,
	    recv_activity_sending_report },
	[CMD_BACKUP_LIST] = { RECV_ANY, recv_backup_list },
	[CMD_CLUSTER_STATUS] = { RECV_ANY, recv_cluster_status },
	[CMD_PONG] = { RECV_ANY, recv_pong },
	[CMD_WHO_LIST] = { RECV_ONLINE, recv_who_list },
	[CMD_HISTORY_ACTIVITY] = { RECV_ONLINE, recv_history_activity },
	[CMD_HISTORY_END] = { RECV_ONLINE, recv_history_end },
};

/* Hand a parsed message to its handler if the link state allows it. */
enum conn_ret
conn_recv(struct conn *c, struct msg *msg)
{
	const struct recv_entry	*e;
	char			 why[128];

	e = &recv_table[msg->cmd];
	if (e->handler == NULL) {
		snprintf(why, sizeof why, "%s is not sent to clients",
		    msg_cmd_name(msg->cmd));
		return conn_invalid(c, why);
	}
	if ((e->states & (1u << c->state)) == 0) {
		snprintf(why, sizeof why, "%s before login",
		    msg_cmd_name(msg->cmd));
		return conn_invalid(c, why);
	}
	return e->handler(c, msg);
}

/* Is this broadcast a replay of one already shown? */
int
conn_recv_duplicate(struct conn *c, const struct msg *msg)
{
	long long	 seq;

	if (msg->cmd != CMD_ACTIVITY_BROADCAST ||
	    c->state != LINK_ONLINE || recv_str(msg, F_SENDER) == NULL ||
	    msg_int(msg, F_ACTIVITY_SEQ, &seq) != 0)
		return 0;
	return dedup_check(&c->seen, recv_str(msg, F_SENDER), seq);
}
