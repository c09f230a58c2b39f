/*
 * The registration lock protocol, improved as the seed designs it and
 * aggregated so a registration costs O(servers) messages:
 *
 *  - The server a client asks (the origin) checks its registry and its
 *    locks, records the name as under register and sends LOCK_REQUEST
 *    down every server link.
 *  - A server receiving LOCK_REQUEST checks the same, records the name,
 *    forwards the request to its other links and, once all of them have
 *    answered, answers the link it came from: LOCK_ALLOWED for its whole
 *    subtree, or LOCK_DENIED as soon as anything below denies.  A link
 *    that breaks while we wait answers for nobody and is not waited for.
 *  - The origin, once every link allowed, journals the user, broadcasts
 *    USER_REGISTER_RESULT "success" and answers REGISTER_SUCCESS; on a
 *    denial or timeout it broadcasts "failure" and REGISTER_FAILED.
 *
 * Two origins racing for one name: the request whose origin id sorts
 * lower wins wherever the two meet; the loser's own origin gives it up
 * when it sees the winner's request, and the winner's origin denies the
 * loser's.  So exactly one succeeds, whatever the timing.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "lock.h"
#include "log.h"
#include "msgbuild.h"
#include "registry.h"
#include "server.h"
#include "xmalloc.h"

struct lock {
	TAILQ_ENTRY(lock)	 entry;
	char			*username;
	char			*secret;
	char			*origin;
	struct peer		*client;	/* at the origin */
	struct peer		*from;		/* at a relay */
	struct peer		**waiting;
	int			 nwaiting;
	int			 answered;
	int			 mine;
	int			 recheck;
	uint64_t		 deadline_ms;	/* give up waiting */
	uint64_t		 expire_ms;	/* forget the name */
};
TAILQ_HEAD(lock_list, lock);

struct lock_table {
	struct lock_list	 locks;
	int			 count;
};

static void	lock_finish(struct server *, struct lock *, int,
		    const char *);

struct lock_table *
lock_table_new(void)
{
	struct lock_table	*t;

	t = xcalloc(1, sizeof *t);
	TAILQ_INIT(&t->locks);
	return t;
}

static void
lock_free(struct lock_table *t, struct lock *l)
{
	TAILQ_REMOVE(&t->locks, l, entry);
	t->count--;
	free(l->username);
	free(l->secret);
	free(l->origin);
	free(l->waiting);
	free(l);
}

void
lock_table_free(struct lock_table *t)
{
	struct lock	*l;

	if (t == NULL)
		return;
	while ((l = TAILQ_FIRST(&t->locks)) != NULL)
		lock_free(t, l);
	free(t);
}

static struct lock *
lock_find(struct server *srv, const char *username)
{
	struct lock	*l;

	TAILQ_FOREACH(l, &srv->locks->locks, entry)
		if (strcmp(l->username, username) == 0)
			return l;
	return NULL;
}

int
lock_pending(struct server *srv, const char *username)
{
	return lock_find(srv, username) != NULL;
}

/* The secret (a hash) a pending registration of username carries. */
const char *
lock_secret(struct server *srv, const char *username)
{
	struct lock	*l = lock_find(srv, username);

	return l != NULL ? l->secret : NULL;
}

/* Is this connection waiting for its registration's outcome? */
int
lock_client_waiting(struct server *srv, struct peer *p)
{
	struct lock	*l;

	TAILQ_FOREACH(l, &srv->locks->locks, entry)
		if (l->client == p)
			return 1;
	return 0;
}

static struct lock *
lock_new(struct server *srv, const char *username, const char *secret,
    const char *origin)
{
	struct lock	*l;
	uint64_t	 now = now_ms();

	l = xcalloc(1, sizeof *l);
	l->username = xstrdup(username);
	l->secret = xstrdup(secret);
	l->origin = xstrdup(origin);
	l->deadline_ms = now + (uint64_t)srv->cfg.register_timeout_ms;
	l->expire_ms = now + 2 * (uint64_t)srv->cfg.register_timeout_ms;
	TAILQ_INSERT_TAIL(&srv->locks->locks, l, entry);
	srv->locks->count++;
	return l;
}

static void
lock_build(struct jbuf *b, enum msg_cmd cmd, const struct lock *l)
{
	jbuf_reset(b);
	msgb_begin(b, cmd);
	msgb_str(b, F_USERNAME, l->username);
	msgb_str(b, F_SECRET, l->secret);
	msgb_str(b, F_ORIGIN, l->origin);
	msgb_end(b);
}

/* Send the request to every server link but `except`; wait for each. */
static void
lock_fan_out(struct server *srv, struct lock *l, struct peer *except)
{
	struct peer	*p, *next;
	struct jbuf	*b;
	int		 n = 0;

	b = server_out_take(srv);
	lock_build(b, CMD_LOCK_REQUEST, l);
	TAILQ_FOREACH(p, &srv->links, role_entry)
		if (p != except)
			n++;
	if (n > 0)
		l->waiting = xcalloc((size_t)n, sizeof *l->waiting);
	/* A send can drop p (its output cap): take next first. */
	for (p = TAILQ_FIRST(&srv->links); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		if (p == except)
			continue;
		if (l->nwaiting < n && peer_send_jbuf(p, b) == 0)
			l->waiting[l->nwaiting++] = p;
	}
	server_out_put(srv);
}

static void
lock_answer(struct server *srv, struct lock *l, int allowed)
{
	struct jbuf	*b;

	if (l->answered)
		return;
	l->answered = 1;
	if (l->from == NULL)
		return;
	b = server_out_take(srv);
	lock_build(b, allowed ? CMD_LOCK_ALLOWED : CMD_LOCK_DENIED, l);
	peer_send_jbuf(l->from, b);
	server_out_put(srv);
}

static void
lock_send_result(struct server *srv, const struct lock *l, int success,
    uint64_t time)
{
	struct jbuf	*b = server_out_take(srv);

	msgb_begin(b, CMD_USER_REGISTER_RESULT);
	msgb_str(b, F_RESULT, success ? MSG_V_SUCCESS : MSG_V_FAILURE);
	msgb_str(b, F_USERNAME, l->username);
	msgb_str(b, F_SECRET, l->secret);
	msgb_str(b, F_ORIGIN, l->origin);
	msgb_int(b, F_TIME, (long long)time);
	tree_add_mid(srv, b);
	msgb_end(b);
	tree_send_servers(srv, NULL, b->p, b->len);
	server_out_put(srv);
}

static const char	lock_timed_out[] = "registration timed out";

/*
 * The origin's end of a registration: commit and tell everyone, or
 * give up and tell everyone; then answer the client.
 */
static void
lock_finish(struct server *srv, struct lock *l, int success, const char *why)
{
	struct peer		*client = l->client;
	enum registry_put	 r;
	struct jbuf		 info;
	uint64_t		 time = wall_ms();

	if (success) {
		r = registry_put(srv->reg, l->username, l->secret, time,
		    srv->id);
		if (r == REG_ERROR) {
			success = 0;
			why = "the server could not store the registration";
		} else if (r == REG_FULL) {
			success = 0;
			why = "the server has as many users as it may hold";
		} else if (r == REG_KEPT) {
			success = 0;
			why = "username is registered";
		}
	}
	lock_send_result(srv, l, success, time);
	if (success)
		srv->stats.reg_ok++;
	else if (why == lock_timed_out)
		srv->stats.reg_timeout++;
	else
		srv->stats.reg_failed++;
	log_info("registration of %s %s%s%s", log_safe(l->username),
	    success ? "succeeded" : "failed", success ? "" : ": ",
	    success ? "" : why);
	if (client != NULL && !client->closing) {
		if (success) {
			jbuf_init(&info);
			jbuf_adds(&info, "register success for ");
			jbuf_adds(&info, l->username);
			client->registered_here = 1;
			peer_reply_info(client, CMD_REGISTER_SUCCESS,
			    info.p);
			jbuf_free(&info);
		} else
			peer_reply_close(client, CMD_REGISTER_FAILED, why);
	}
	lock_free(srv->locks, l);
}

/* Everyone we waited for has answered, or a denial came: conclude. */
static void
lock_progress(struct server *srv, struct lock *l, int denied)
{
	if (l->mine) {
		if (denied)
			lock_finish(srv, l, 0, "username is registered");
		else if (l->nwaiting == 0)
			lock_finish(srv, l, 1, NULL);
		return;
	}
	if (denied)
		lock_answer(srv, l, 0);
	else if (l->nwaiting == 0)
		lock_answer(srv, l, 1);
}

/* Does request (origin a, secret sa) beat (origin b, secret sb)? */
static int
lock_beats(const char *a, const char *sa, const char *b, const char *sb)
{
	int	 c;

	if ((c = strcmp(a, b)) != 0)
		return c < 0;
	return strcmp(sa, sb) < 0;
}

/* A client asked us to register username/secret. */
void
lock_register(struct server *srv, struct peer *client, const char *username,
    const char *secret)
{
	struct lock	*l;

	if (registry_find(srv->reg, username) != NULL) {
		srv->stats.reg_failed++;
		peer_reply_close(client, CMD_REGISTER_FAILED,
		    "username is registered");
		return;
	}
	if (lock_find(srv, username) != NULL) {
		srv->stats.reg_failed++;
		peer_reply_close(client, CMD_REGISTER_FAILED,
		    "username is under register process");
		return;
	}
	if (srv->locks->count >= srv->cfg.max_pending_reg) {
		srv->stats.reg_failed++;
		peer_reply_close(client, CMD_REGISTER_FAILED,
		    "too many registrations in progress, try again later");
		return;
	}
	l = lock_new(srv, username, secret, srv->id);
	l->mine = 1;
	l->client = client;
	lock_fan_out(srv, l, NULL);
	lock_progress(srv, l, 0);
}

/*
 * The table is full of requests: forget the oldest one another server
 * made (denying it if still unanswered), so a link flooding requests
 * cannot lock every newcomer out.  Our own clients' registrations are
 * kept.  -1 if there is none to forget.
 */
static int
lock_evict(struct server *srv)
{
	struct lock	*l;

	TAILQ_FOREACH(l, &srv->locks->locks, entry)
		if (!l->mine)
			break;
	if (l == NULL)
		return -1;
	log_warnx("%d registrations pending: forgetting the oldest, %s from "
	    "%s", srv->locks->count, log_safe(l->username),
	    log_safe(l->origin));
	lock_answer(srv, l, 0);
	lock_free(srv->locks, l);
	return 0;
}

/* LOCK_REQUEST from a server link. */
void
lock_on_request(struct server *srv, struct peer *from, const char *username,
    const char *secret, const char *origin)
{
	const struct user	*u;
	struct lock		*l, tmp;

	memset(&tmp, 0, sizeof tmp);
	tmp.username = (char *)username;
	tmp.secret = (char *)secret;
	tmp.origin = (char *)origin;
	tmp.from = from;

	if ((u = registry_find(srv->reg, username)) != NULL) {
		lock_answer(srv, &tmp, strcmp(u->secret, secret) == 0);
		return;
	}
	if ((l = lock_find(srv, username)) != NULL) {
		if (strcmp(l->origin, origin) == 0 &&
		    strcmp(l->secret, secret) == 0) {
			/* The same request again (a brief overlay cycle). */
			lock_answer(srv, &tmp, 1);
			return;
		}
		if (!lock_beats(origin, secret, l->origin, l->secret)) {
			lock_answer(srv, &tmp, 0);
			return;
		}
		/* The newcomer wins: the request we hold loses here. */
		log_info("registration of %s from %s yields to %s",
		    log_safe(username), log_safe(l->origin), log_safe(origin));
		if (l->mine)
			lock_finish(srv, l, 0,
			    "username is under register process");
		else {
			lock_answer(srv, l, 0);
			lock_free(srv->locks, l);
		}
	}
	if (srv->locks->count >= srv->cfg.max_pending_reg &&
	    lock_evict(srv) != 0) {
		log_warnx("registration of %s denied: %d registrations "
		    "pending", log_safe(username), srv->locks->count);
		lock_answer(srv, &tmp, 0);
		return;
	}
	l = lock_new(srv, username, secret, origin);
	l->from = from;
	lock_fan_out(srv, l, from);
	lock_progress(srv, l, 0);
}

/* LOCK_ALLOWED or LOCK_DENIED from a link we forwarded a request to. */
void
lock_on_answer(struct server *srv, struct peer *from, int allowed,
    const char *username, const char *secret, const char *origin)
{
	struct lock	*l;
	int		 i;

	if ((l = lock_find(srv, username)) == NULL ||
	    strcmp(l->origin, origin) != 0 || strcmp(l->secret, secret) != 0) {
		log_debug("lock answer for %s from %s: no such request",
		    log_safe(username), peer_name(from));
		return;
	}
	for (i = 0; i < l->nwaiting; i++)
		if (l->waiting[i] == from)
			break;
	if (i == l->nwaiting)
		return;
	l->waiting[i] = l->waiting[--l->nwaiting];
	lock_progress(srv, l, !allowed);
}

/* USER_REGISTER_RESULT: the origin's verdict, flooded over the tree. */
void
lock_on_result(struct server *srv, struct peer *from, int success,
    const char *username, const char *secret, const char *origin,
    unsigned long long time)
{
	struct lock	*l;

	(void)from;
	if ((l = lock_find(srv, username)) != NULL &&
	    strcmp(l->origin, origin) == 0 && !l->mine)
		lock_free(srv->locks, l);
	if (!success)
		return;
	/* Acknowledged elsewhere: kept even if our journal fails now. */
	switch (registry_learn(srv->reg, username, secret, time, origin)) {
	case REG_FULL:
		log_error("user %s registered at %s not kept: this server "
		    "holds --max-users %zu users already", log_safe(username),
		    log_safe(origin), srv->cfg.max_users);
		break;
	case REG_REPLACED:
		tree_user_replaced(srv, username);
		break;
	default:
		break;
	}
}

/*
 * A connection went away: nothing may point at it any more.  Concluding
 * a lock sends messages, and a send can condemn another peer and free
 * other locks, so each conclusion restarts the walk.
 */
void
lock_peer_closed(struct server *srv, struct peer *p)
{
	struct lock	*l;
	int		 i;

	TAILQ_FOREACH(l, &srv->locks->locks, entry) {
		if (l->client == p)
			l->client = NULL;
		if (l->from == p)
			l->from = NULL;
		for (i = 0; i < l->nwaiting; i++) {
			if (l->waiting[i] == p) {
				l->waiting[i] = l->waiting[--l->nwaiting];
				/* A lost subtree cannot object; merging
				 * settles any conflict later. */
				l->recheck = 1;
				break;
			}
		}
	}
again:
	TAILQ_FOREACH(l, &srv->locks->locks, entry) {
		if (l->recheck) {
			l->recheck = 0;
			lock_progress(srv, l, 0);
			goto again;
		}
	}
}

/* Time out registrations and forget stale locks. */
void
lock_cron(struct server *srv)
{
	struct lock	*l;
	uint64_t	 now = now_ms();

again:
	TAILQ_FOREACH(l, &srv->locks->locks, entry) {
		if (l->mine && now >= l->deadline_ms) {
			lock_finish(srv, l, 0, lock_timed_out);
			goto again;
		}
		if (!l->mine && !l->answered && now >= l->deadline_ms) {
			lock_answer(srv, l, 0);
			goto again;
		}
		if (!l->mine && now >= l->expire_ms) {
			lock_free(srv->locks, l);
			goto again;
		}
	}
}
