/*
 * Handlers for what clients send: LOGIN (with load-balancing REDIRECT),
 * LOGOUT, REGISTER and ACTIVITY_MESSAGE.  Dispatch has checked role,
 * fields and types before a handler runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "delivery.h"
#include "limit.h"
#include "lock.h"
#include "log.h"
#include "msgbuild.h"
#include "registry.h"
#include "secret.h"
#include "server.h"
#include "xmalloc.h"

/* Features this server offers clients; the rest are not yet built. */
#define SERVER_FEATURES	((1u << FEAT__COUNT) - 1)

static void	login_verified(struct peer *, const char *, size_t, int,
		    const char *);
static void	register_hashed(struct peer *, const char *, size_t, int,
		    const char *);

static int
is_anonymous(const char *username)
{
	return strcmp(username, MSG_V_ANONYMOUS) == 0;
}

static void
login_success(struct peer *p, struct msg *m, const char *resumed,
    const char *refused)
{
	struct server	*srv = p->srv;
	struct jbuf	*b;
	char		 info[2 * SERVER_NAME_MAX + 128];
	char		 token[TOKEN_LEN_MAX];

	/* A refused resume says why, so the client need not guess. */
	if (refused != NULL)
		snprintf(info, sizeof info, "logged in as user %s; a new "
		    "session, not resumed: %s", p->username, refused);
	else
		snprintf(info, sizeof info, "logged in as user %s",
		    p->username);
	b = server_out_take(srv);
	msgb_begin(b, CMD_LOGIN_SUCCESS);
	msgb_str(b, F_INFO, info);
	/* Only a client that spoke of features hears of them. */
	if (m->type[F_FEATURES] == JSON_ARRAY) {
		msgb_features(b, p->features);
		msgb_str(b, F_ID, srv->id);
		msgb_str(b, F_SESSION, p->session);
		token_make(srv, p->username, p->session, token);
		msgb_str(b, F_TOKEN, token);
		msgb_int(b, F_TIME, (long long)p->since_ms);
		if (resumed != NULL)
			msgb_str(b, F_RESUME, resumed);
	}
	msgb_end(b);
	peer_send_jbuf(p, b);
	server_out_put(srv);
}

struct resume {
	char			 session[MSG_SESSION_MAX + 1];
	char			 token[MSG_TOKEN_MAX + 1];
	struct json_span	 seen;
	int			 have_seen;
	long long		 since;	/* -1: not given */
};

/* The activity_seq the client last saw from sender sid, or 0. */
static uint64_t
resume_seen_of(struct json_span seen, const char *sid)
{
	long long	 n;

	if (json_get_int(seen, sid, &n) == 0 && n > 0)
		return (uint64_t)n;
	return 0;
}

/*
 * The LOGIN "resume" object, decoded against its entry OBJ_RESUME of
 * the command table: {session, token, seen: {sender: seq}, since}.
 */
static int
resume_parse(struct msg *m, struct resume *r)
{
	struct msg	 rm;
	char		 err[128];

	memset(r, 0, sizeof *r);
	r->since = -1;
	if (msg_parse_object(m->val[F_RESUME], OBJ_RESUME, &rm, err,
	    sizeof err) != 0 ||
	    (msg_has(&rm, F_SINCE) && msg_int(&rm, F_SINCE, &r->since) != 0))
		return -1;
	if (rm.str[F_SESSION] != NULL)
		snprintf(r->session, sizeof r->session, "%s",
		    rm.str[F_SESSION]);
	if (rm.str[F_TOKEN] != NULL)
		snprintf(r->token, sizeof r->token, "%s", rm.str[F_TOKEN]);
	r->have_seen = rm.type[F_SEEN] == JSON_OBJECT;
	r->seen = rm.val[F_SEEN];
	return 0;
}

static enum cmd_ret login_finish(struct peer *, struct msg *,
		    const struct user *);

/*
 * Log a client in, then send it elsewhere if we are the busy one.  A
 * registered user's secret is checked against its slow hash off the
 * loop (hashpool.c); login_verified() goes on from there.
 */
enum cmd_ret
cmd_login(struct peer *p, struct msg *m)
{
	struct server		*srv = p->srv;
	const char		*name = m->str[F_USERNAME];
	const char		*secret = m->str[F_SECRET];
	const struct user	*u;
	struct resume		 res;
	char			 wait_info[128];
	uint64_t		 wait = 0;
	unsigned		 wanted;

	if (msg_features(m, msg_feature_names, &wanted) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "LOGIN: 'features' must be an array of strings");
		return CMD_CLOSE;
	}
	if (m->type[F_RESUME] == JSON_OBJECT && resume_parse(m, &res) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "LOGIN: 'resume' must be {\"session\": string, \"seen\": "
		    "{sender: activity_seq}, \"since\": ms}");
		return CMD_CLOSE;
	}
	if (!server_client_room(p))
		return CMD_CLOSE;
	if (is_anonymous(name)) {
		if (!srv->cfg.allow_anonymous) {
			peer_reply_close(p, CMD_LOGIN_FAILED,
			    "anonymous logins are not allowed on this server");
			return CMD_CLOSE;
		}
		return login_finish(p, m, NULL);
	}
	/* Not even looked at while the address waits. */
	if (limit_login_allowed(srv, p, &wait) != 0) {
		snprintf(wait_info, sizeof wait_info, "too many failed logins "
		    "from your address: try again in %llu ms",
		    (unsigned long long)wait);
		peer_reply_close(p, CMD_LOGIN_FAILED, wait_info);
		return CMD_CLOSE;
	}
	if ((u = registry_find(srv->reg, name)) == NULL) {
		srv->stats.login_failed++;
		peer_reply_close(p, CMD_LOGIN_FAILED,
		    "username is not registered");
		return CMD_CLOSE;
	}
	if (secret == NULL) {
		srv->stats.login_failed++;
		limit_login_failed(srv, p);
		peer_reply_close(p, CMD_LOGIN_FAILED,
		    "attempt to login with wrong secret");
		return CMD_CLOSE;
	}
	/* Logged in with this secret lately: no slow hash again. */
	if (logincache_check(srv->logincache, name, secret, u->secret))
		return login_finish(p, m, u);
	if (hashpool_submit(srv, p, HASHJOB_VERIFY, secret, u->secret,
	    m->line, m->len, login_verified) != 0) {
		peer_reply_close(p, CMD_LOGIN_FAILED,
		    "server busy: too many logins in progress, try again");
		return CMD_CLOSE;
	}
	return CMD_OK;
}

/*
 * The slow hash has spoken (hash: the one checked against): finish the
 * LOGIN in line, or refuse it.
 */
static void
login_verified(struct peer *p, const char *line, size_t len, int ok,
    const char *hash)
{
	struct server		*srv = p->srv;
	const struct user	*u;
	struct msg		 m;
	char			 err[256];

	if (msg_parse(line, len, &m, err, sizeof err) != 0) {
		peer_close(p, "LOGIN could not be parsed again: %s", err);
		return;
	}
	/* The user may have been replaced while we hashed. */
	if (!ok || (u = registry_find(srv->reg, m.str[F_USERNAME])) == NULL ||
	    strcmp(u->secret, hash) != 0) {
		srv->stats.login_failed++;
		limit_login_failed(srv, p);
		peer_reply_close(p, CMD_LOGIN_FAILED,
		    "attempt to login with wrong secret");
		return;
	}
	logincache_add(srv->logincache, u->name, m.str[F_SECRET], u->secret);
	(void)login_finish(p, &m, u);
}

/* Log p in as u (NULL: anonymous); the secret has been checked. */
static enum cmd_ret
login_finish(struct peer *p, struct msg *m, const struct user *u)
{
	struct server		*srv = p->srv;
	const char		*name = m->str[F_USERNAME];
	const char		*secret = m->str[F_SECRET];
	struct known_server	*k;
	struct jbuf		*b;
	struct resume		 res;
	const char		*resumed = NULL, *why = NULL;
	char			 sid[SERVER_NAME_MAX];
	unsigned		 wanted;
	int			 partial = 0;

	/* cmd_login checked both. */
	if (msg_features(m, msg_feature_names, &wanted) != 0 ||
	    (m->type[F_RESUME] == JSON_OBJECT && resume_parse(m, &res) != 0))
		return CMD_CLOSE;
	p->username = xstrdup(name);
	p->secret = xstrdup(u != NULL ? u->secret : "");
	/* What ACTIVITY_MESSAGE's secret is checked against. */
	logincache_digest(srv->logincache, name, u != NULL && secret != NULL ?
	    secret : "", p->secret_digest);
	p->anonymous = u == NULL;
	p->features = wanted & SERVER_FEATURES;
	/* History is only offered where there is one. */
	if (srv->history == NULL)
		p->features &= ~FEAT_BIT(FEAT_HISTORY);
	p->history_mark = history_mark(srv->history);
	peer_set_role(p, PEER_CLIENT);
	p->login_wall_ms = wall_ms();
	srv->nclients++;
	if (!p->anonymous)
		srv->who_gen++;

	/*
	 * A resumed session keeps its id, so its activity_seq numbering
	 * goes on and receivers keep its order and drop its repeats.
	 */
	snprintf(sid, sizeof sid, "%s.%llu", srv->id,
	    (unsigned long long)p->serial);
	p->since_ms = p->login_wall_ms;
	if ((p->features & FEAT_BIT(FEAT_RESUME)) &&
	    m->type[F_RESUME] == JSON_OBJECT) {
		/*
		 * Only the client that was given a session's token may take
		 * it over, as the user it was given to, until it expires
		 * (token.c); otherwise the client gets a new session.
		 */
		if (res.session[0] != '\0' &&
		    (p->features & FEAT_BIT(FEAT_ACTIVITY_SEQ))) {
			if ((why = token_check(srv, name, res.session,
			    res.token)) == NULL &&
			    !order_session_owner(srv, res.session, name))
				why = "another user has sent under that "
				    "session";
			if (why != NULL)
				log_info("%s: not resuming session %s: %s",
				    peer_name(p), log_safe(res.session), why);
			else {
				snprintf(sid, sizeof sid, "%s", res.session);
				/* Its own last broadcast: the "prev" to carry. */
				if (res.have_seen)
					p->last_seq_in = resume_seen_of(
					    res.seen, sid);
			}
		}
		if (res.since < 0)
			res.since = (long long)p->login_wall_ms;
		p->since_ms = (uint64_t)res.since;
		partial = replay_oldest_ts(srv) > (uint64_t)res.since;
		resumed = partial ? MSG_V_PARTIAL : MSG_V_OK;
	}
	p->session = xstrdup(sid);
	login_success(p, m, resumed, why);
	srv->stats.login_ok++;

	/*
	 * No REDIRECT for a client that is failing over (it resumes a
	 * session) or while the tree heals: loads announced before a
	 * failure are stale, and each hop costs an orphan a connection,
	 * a LOGIN and a replay.  New logins balance the load later.
	 */
	if (resumed == NULL && known_cluster_normal(srv) &&
	    (k = known_least_loaded(srv, srv->nclients)) != NULL) {
		b = server_out_take(srv);
		msgb_begin(b, CMD_REDIRECT);
		msgb_str(b, F_HOSTNAME, k->host);
		msgb_int(b, F_PORT, k->port);
		if (k->tls_port > 0)
			msgb_int(b, F_TLS_PORT, k->tls_port);
		msgb_end(b);
		peer_send_jbuf(p, b);
		server_out_put(srv);
		srv->stats.redirects++;
		/* Count the client there until its next announce says so. */
		k->load++;
		k->redirected = 1;
		peer_close(p, "redirected to %s:%d (load %lld, ours %d)",
		    log_safe(k->host), k->port, k->load - 1, srv->nclients);
		return CMD_CLOSE;
	}
	log_debug("%s: logged in", peer_name(p));
	backup_send(srv, p);
	if (p->features & FEAT_BIT(FEAT_CLUSTER_STATUS))
		known_send_status(srv, p);
	if (!p->anonymous && (p->features & FEAT_BIT(FEAT_RESUME)) == 0)
		presence_login(srv, p);
	if (resumed != NULL && res.have_seen &&
	    replay_resume(srv, p, res.seen, (uint64_t)res.since, &partial) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "LOGIN: 'resume.seen' must map sender ids to activity_seq "
		    "numbers");
		return CMD_CLOSE;
	}
	return CMD_OK;
}

enum cmd_ret
cmd_logout(struct peer *p, struct msg *m)
{
	(void)m;
	if (p->role == PEER_CLIENT && !p->anonymous)
		presence_announce(p->srv, p->username, "");
	peer_close(p, "client logged out");
	return CMD_CLOSE;
}

enum cmd_ret
cmd_register(struct peer *p, struct msg *m)
{
	char		 why[128];
	unsigned	 wanted;

	if (msg_features(m, msg_feature_names, &wanted) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "REGISTER: 'features' must be an array of strings");
		return CMD_CLOSE;
	}
	if (is_anonymous(m->str[F_USERNAME])) {
		p->srv->stats.reg_failed++;
		peer_reply_close(p, CMD_REGISTER_FAILED,
		    "the name anonymous is reserved");
		return CMD_CLOSE;
	}
	if (m->str[F_USERNAME][0] == '\0') {
		p->srv->stats.reg_failed++;
		peer_reply_close(p, CMD_REGISTER_FAILED,
		    "the username must not be empty");
		return CMD_CLOSE;
	}
	if (!p->srv->cfg.allow_register) {
		peer_reply_close(p, CMD_REGISTER_FAILED,
		    "registration is not allowed on this server");
		return CMD_CLOSE;
	}
	if (!server_client_room(p))
		return CMD_CLOSE;
	if (registry_full(p->srv->reg)) {
		snprintf(why, sizeof why, "the server has as many users as it "
		    "may hold (%zu)", p->srv->cfg.max_users);
		peer_reply_close(p, CMD_REGISTER_FAILED, why);
		return CMD_CLOSE;
	}
	if (lock_client_waiting(p->srv, p)) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "REGISTER: a registration is already in progress on this "
		    "connection");
		return CMD_CLOSE;
	}
	if (limit_register(p->srv, p, why, sizeof why) != 0) {
		peer_reply_close(p, CMD_REGISTER_FAILED, why);
		return CMD_CLOSE;
	}
	/* The cluster only ever sees the slow hash: make it off the loop. */
	if (hashpool_submit(p->srv, p, HASHJOB_HASH, m->str[F_SECRET], NULL,
	    m->line, m->len, register_hashed) != 0) {
		p->srv->stats.reg_failed++;
		peer_reply_close(p, CMD_REGISTER_FAILED,
		    "server busy: too many registrations in progress, try "
		    "again later");
		return CMD_CLOSE;
	}
	return CMD_OK;
}

/* The new secret's hash is made: register the name with it. */
static void
register_hashed(struct peer *p, const char *line, size_t len, int ok,
    const char *hash)
{
	struct msg	 m;
	char		 err[256];

	if (msg_parse(line, len, &m, err, sizeof err) != 0) {
		peer_close(p, "REGISTER could not be parsed again: %s", err);
		return;
	}
	if (!ok) {
		p->srv->stats.reg_failed++;
		peer_reply_close(p, CMD_REGISTER_FAILED,
		    "the secret could not be hashed");
		return;
	}
	lock_register(p->srv, p, m.str[F_USERNAME], hash);
}

/* The client must be who it logged in as; then the activity goes out. */
enum cmd_ret
cmd_activity_message(struct peer *p, struct msg *m)
{
	const char	*secret = m->str[F_SECRET];

	if (strcmp(m->str[F_USERNAME], p->username) != 0) {
		peer_reply_close(p, CMD_AUTHENTICATION_FAIL,
		    "the username does not match the logged in user");
		return CMD_CLOSE;
	}
	if (!p->anonymous && (secret == NULL ||
	    !logincache_matches(p->srv->logincache, p->username, secret,
	    p->secret_digest))) {
		peer_reply_close(p, CMD_AUTHENTICATION_FAIL,
		    "the secret does not match the logged in user");
		return CMD_CLOSE;
	}
	return activity_publish(p, m);
}

/* PING from a client or server: echo its timestamp. */
enum cmd_ret
cmd_ping(struct peer *p, struct msg *m)
{
	struct jbuf	*b = server_out_take(p->srv);

	msgb_begin(b, CMD_PONG);
	if (m->type[F_TS] == JSON_NUMBER)
		msgb_raw(b, F_TS, m->val[F_TS].p, m->val[F_TS].len);
	msgb_end(b);
	peer_send_jbuf(p, b);
	server_out_put(p->srv);
	return CMD_OK;
}
