/*
 * The server tree: sending to links and clients, message ids for
 * flooded messages, our path from the root, announces, and the user
 * lists exchanged when servers link up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "msgbuild.h"
#include "registry.h"
#include "seen.h"
#include "server.h"
#include "uplink.h"
#include "xmalloc.h"

#define TREE_USERS_CHUNK	(48 * 1024)	/* bytes of users per line */
#define TREE_USERS_MARK		(1024 * 1024)	/* queued user lines at most */

/* Send to every authenticated server link except `except`. */
void
tree_send_servers(struct server *srv, struct peer *except, const void *data,
    size_t len)
{
	struct peer	*p;

	struct peer	*next;

	/* A send can condemn a peer, which unlists it: keep the next. */
	for (p = TAILQ_FIRST(&srv->links); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		if (p != except)
			peer_send(p, data, len);
	}
}

/* A line from `from`, passed on as it came to every other server link. */
void
tree_forward(struct server *srv, struct peer *from, const struct msg *m)
{
	struct jbuf	*b = server_out_take(srv);

	jbuf_add(b, m->line, m->len);
	jbuf_addc(b, '\n');
	tree_send_servers(srv, from, b->p, b->len);
	server_out_put(srv);
}

/*
 * An activity to every server link except `except`, shed where slow.
 * A logged one (`logged`) skips a link whose ACTIVITY_SYNC we have not
 * answered yet: the replay that answers it carries the activity, in
 * log order behind the older ones the link lacks, where a live copy
 * sent now would overtake them and open a gap its clients may give up
 * on (--order-wait) before the replay fills it.
 */
void
tree_send_activity(struct server *srv, struct peer *except,
    const void *data, size_t len, int logged)
{
	struct peer	*p, *next;

	for (p = TAILQ_FIRST(&srv->links); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		if (p == except || (logged && !p->synced))
			continue;
		if (!peer_shed(p, len))
			peer_send(p, data, len);
	}
}

/* Send to every logged-in client. */
void
tree_send_clients(struct server *srv, const void *data, size_t len)
{
	struct peer	*p;

	struct peer	*next;

	for (p = TAILQ_FIRST(&srv->clients); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		peer_send(p, data, len);
	}
}

/* Stamp a flooded message with our next message id. */
void
tree_add_mid(struct server *srv, struct jbuf *b)
{
	char	 mid[SERVER_ID_LEN + 24];

	snprintf(mid, sizeof mid, "%s:%llu", srv->id,
	    (unsigned long long)++srv->next_mid);
	msgb_str(b, F_MID, mid);
}

/*
 * Has this flooded message been seen?  Returns 1 for a new one (or one
 * from a peer that does not stamp ids), 0 for a duplicate to drop.
 */
int
tree_seen(struct server *srv, struct msg *m)
{
	char		 origin[SERVER_NAME_MAX];
	uint64_t	 n;

	if (m->str[F_MID] == NULL)
		return 1;
	if (seen_parse_mid(m->str[F_MID], origin, sizeof origin, &n) != 0)
		return 1;
	if (strcmp(origin, srv->id) == 0)
		return 0;	/* our own, come back round a cycle */
	return seen_add(srv->seen_ctl, origin, n);
}

void
tree_free_path(char **path, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		free(path[i]);
}

/* A "path" array of server ids; -1 if malformed or too deep. */
int
tree_parse_path(struct json_span v, char **out, int *n)
{
	struct json_iter	 it;
	struct json_span	 el;
	enum json_type		 t;
	char			 id[SERVER_NAME_MAX + 1];

	*n = 0;
	json_iter_array(&it, v);
	while (json_next_element(&it, &el, &t)) {
		el = json_str_inner(el);
		if (t != JSON_STRING || *n == PATH_DEPTH_MAX - 1 ||
		    json_str_decode(el, id, sizeof id, NULL) != 0 ||
		    id[0] == '\0') {
			tree_free_path(out, *n);
			*n = 0;
			return -1;
		}
		out[(*n)++] = xstrdup(id);
	}
	return 0;
}

/* Our place in the tree changed: remember it, tell our children. */
void
tree_set_path(struct server *srv, char **ancestors, int n)
{
	int	 i;

	tree_free_path(srv->path, srv->pathlen);
	srv->pathlen = 0;
	for (i = 0; i < n && i < PATH_DEPTH_MAX - 1; i++)
		srv->path[srv->pathlen++] = xstrdup(ancestors[i]);
	srv->path[srv->pathlen++] = xstrdup(srv->id);
	backup_send_all(srv);
}

void
tree_add_path(struct server *srv, struct jbuf *b)
{
	msgb_strs(b, F_PATH, srv->path, srv->pathlen);
}

/* Tell the tree that server id is gone from it. */
void
tree_leave(struct server *srv, const char *id, const char *why)
{
	struct jbuf	*b;

	b = server_out_take(srv);
	msgb_begin(b, CMD_SERVER_LEAVE);
	msgb_str(b, F_ID, id);
	msgb_str(b, F_INFO, why);
	tree_add_mid(srv, b);
	msgb_end(b);
	tree_send_servers(srv, NULL, b->p, b->len);
	server_out_put(srv);
}

/*
 * Our link to a neighbour failed, to our child or to our parent: the
 * server it led to is down as far as we know, and the rest of the tree
 * hears that it left.  The one place either side of a link reports it.
 */
void
tree_link_lost(struct server *srv, struct peer *p)
{
	if (p->remote_id == NULL)
		return;
	known_mark_lost(srv, p->remote_id);
	tree_leave(srv, p->remote_id, p->outgoing ?
	    "its child lost the link" : "its parent lost the link");
}

/* SERVER_ANNOUNCE our id, load and address to every server link. */
void
tree_announce(struct server *srv)
{
	struct jbuf	*b;

	b = server_out_take(srv);
	msgb_begin(b, CMD_SERVER_ANNOUNCE);
	msgb_str(b, F_ID, srv->id);
	msgb_int(b, F_LOAD, srv->nclients);
	msgb_str(b, F_HOSTNAME, srv->cfg.listen_host);
	msgb_int(b, F_PORT, srv->cfg.listen_port);
	if (srv->cfg.tls_port > 0)
		msgb_int(b, F_TLS_PORT, srv->cfg.tls_port);
	tree_add_path(srv, b);
	if (uplink_reconnecting(srv))
		msgb_str(b, F_STATUS, MSG_V_RECONNECTING);
	who_announce_users(srv, b);
	tree_add_mid(srv, b);
	msgb_end(b);
	tree_send_servers(srv, NULL, b->p, b->len);
	server_out_put(srv);
	srv->announced_load = srv->nclients;
	srv->last_announce_ms = now_ms();
}

/*
 * A registry sent to a new link, streamed: a snapshot of the users (they
 * are never freed, so pointers stay good; a later change reaches the
 * link through the usual flooding), sent a chunk at a time while the
 * link's output is below a mark.  When its output drains, the next
 * chunks go; so a million users join through a link with a small
 * --server-outbuf, and no other link waits behind them.
 */
struct users_stream {
	struct peer		 *to;
	const struct user	**users;
	size_t			  n;
	size_t			  next;
	size_t			  cap;
	size_t			  chunk;	/* bytes of users per line */
	size_t			  mark;		/* send while output is below */
	int			  auth;		/* first line: AUTHENTICATE_SUCCESS */
	struct jbuf		  b;
	struct event		 *ev;
	struct evbuffer_cb_entry *cb;
};

static void
users_collect(const struct user *u, void *arg)
{
	struct users_stream	*st = arg;

	if (st->n == st->cap) {
		st->cap = st->cap == 0 ? 1024 : st->cap * 2;
		st->users = xreallocarray(st->users, st->cap,
		    sizeof *st->users);
	}
	st->users[st->n++] = u;
}

static void
users_add(struct jbuf *b, const struct user *u)
{
	msgb_obj_begin(b);
	msgb_str(b, F_USERNAME, u->name);
	msgb_str(b, F_SECRET, u->secret);
	msgb_int(b, F_TIME, (long long)u->time);
	msgb_str(b, F_ORIGIN, u->origin);
	msgb_obj_end(b);
}

/* The next line: AUTHENTICATE_SUCCESS first if asked, then USER_SYNC. */
static void
users_line(struct users_stream *st)
{
	struct server	*srv = st->to->srv;
	struct jbuf	*b = &st->b;
	size_t		 k = 0;

	jbuf_reset(b);
	if (st->auth) {
		msgb_begin(b, CMD_AUTHENTICATE_SUCCESS);
		msgb_str(b, F_ID, srv->id);
		msgb_str(b, F_HOST, srv->cfg.listen_host);
		msgb_int(b, F_PORT, srv->cfg.listen_port);
		if (srv->cfg.tls_port > 0)
			msgb_int(b, F_TLS_PORT, srv->cfg.tls_port);
		tree_add_path(srv, b);
		handshake_accept_fields(srv, st->to, b);
		st->auth = 0;
	} else
		msgb_begin(b, CMD_USER_SYNC);
	msgb_key(b, F_USERS);
	jbuf_addc(b, '[');
	while (st->next < st->n && b->len <= st->chunk) {
		if (k++ > 0)
			jbuf_addc(b, ',');
		users_add(b, st->users[st->next++]);
	}
	jbuf_adds(b, "]}\n");
}

static void
users_stream_free(struct users_stream *st)
{
	if (st->cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(st->to->bev),
		    st->cb);
	event_free(st->ev);
	jbuf_free(&st->b);
	free(st->users);
	st->to->ustream = NULL;
	free(st);
}

/* Send chunks while the link's output is below the mark. */
static void
users_pump(struct users_stream *st)
{
	struct peer	*to = st->to;
	struct evbuffer	*out = bufferevent_get_output(to->bev);

	while (!to->closing && (st->auth || st->next < st->n) &&
	    evbuffer_get_length(out) < st->mark) {
		users_line(st);
		if (peer_send(to, st->b.p, st->b.len) != 0)
			break;
	}
	if (to->closing || (!st->auth && st->next == st->n)) {
		if (st->n > 0)
			log_debug("%s: %zu users sent", peer_name(to),
			    st->next);
		users_stream_free(st);
	}
}

static void
users_pump_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	users_pump(arg);
}

/*
 * The link's output drained.  The pump runs from the loop, never here:
 * this is called in the middle of a write, which may be part of a
 * fan-out still using its lists and scratch buffer.
 */
static void
users_drain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct users_stream	*st = arg;

	if (info->n_deleted > 0 && evbuffer_get_length(buf) < st->mark &&
	    !event_pending(st->ev, EV_TIMEOUT, NULL))
		event_active(st->ev, EV_TIMEOUT, 0);
}

/*
 * Send our whole registry to a new link in bounded chunks, with flow
 * control.  With `auth`, the first chunk is the AUTHENTICATE_SUCCESS
 * reply itself.
 */
void
tree_send_users(struct server *srv, struct peer *to, int auth)
{
	struct users_stream	*st;

	if (to->ustream != NULL)
		users_stream_free(to->ustream);
	st = xcalloc(1, sizeof *st);
	st->to = to;
	st->auth = auth;
	/*
	 * Lines must fit the receiver's cap (--max-message plus the link
	 * slack); half of the smallest leaves room for the entry that
	 * crosses the mark.  A quarter of --server-outbuf per line, and
	 * lines sent only while under half of it, keep the stream clear
	 * of the slow-consumer cap.
	 */
	st->chunk = (srv->cfg.max_msg + SERVER_LINK_SLACK) / 2;
	if (st->chunk > TREE_USERS_CHUNK)
		st->chunk = TREE_USERS_CHUNK;
	if (st->chunk > srv->cfg.server_outbuf / 4)
		st->chunk = srv->cfg.server_outbuf / 4;
	st->mark = srv->cfg.server_outbuf / 2;
	if (st->mark > TREE_USERS_MARK)
		st->mark = TREE_USERS_MARK;
	jbuf_init(&st->b);
	registry_foreach(srv->reg, users_collect, st);
	if ((st->ev = event_new(srv->base, -1, 0, users_pump_cb, st)) == NULL)
		fatalx("event_new");
	st->cb = evbuffer_add_cb(bufferevent_get_output(to->bev),
	    users_drain_cb, st);
	if (st->cb == NULL)
		fatalx("evbuffer_add_cb");
	to->ustream = st;
	users_pump(st);
}

/* A link is going away: stop streaming users to it. */
void
tree_stream_free(struct peer *p)
{
	if (p->ustream != NULL)
		users_stream_free(p->ustream);
}

/*
 * A name registered on both sides of a split was settled in favour of
 * the other registration: sessions logged in with the losing secret end
 * now, told why, so only one account goes by that name.
 */
void
tree_user_replaced(struct server *srv, const char *name)
{
	const struct user	*u = registry_find(srv->reg, name);
	struct peer		*p, *next;

	if (u == NULL)
		return;
	/* Its fingerprint no longer matches either; now it is gone. */
	logincache_forget(srv->logincache, name);
	log_warnx("user %s: a conflicting registration from %s won; ending "
	    "sessions with the other secret", log_safe(name),
	    log_safe(u->origin));
	for (p = TAILQ_FIRST(&srv->clients); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		if (p->anonymous ||
		    strcmp(p->username, name) != 0 ||
		    strcmp(p->secret, u->secret) == 0)
			continue;
		peer_reply_close(p, CMD_AUTHENTICATION_FAIL,
		    "this username was registered elsewhere first, with "
		    "another secret; that registration wins");
	}
}
