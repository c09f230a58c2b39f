/*
 * The server tree: sending to links and clients, message ids for
 * flooded messages, our path from the root, announces, and the user
 * lists exchanged when servers link up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "msgbuild.h"
#include "registry.h"
#include "seen.h"
#include "server.h"
#include "uplink.h"

#define TREE_USERS_CHUNK	(48 * 1024)	/* bytes of users per line */

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
		el.p++;
		el.len -= 2;
		if (t != JSON_STRING || *n == PATH_DEPTH_MAX - 1 ||
		    json_str_decode(el, id, sizeof id, NULL) != 0 ||
		    id[0] == '\0') {
			tree_free_path(out, *n);
			*n = 0;
			return -1;
		}
		if ((out[(*n)++] = strdup(id)) == NULL)
			fatal("strdup");
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
		if ((srv->path[srv->pathlen++] = strdup(ancestors[i])) == NULL)
			fatal("strdup");
	if ((srv->path[srv->pathlen++] = strdup(srv->id)) == NULL)
		fatal("strdup");
	backup_send_all(srv);
}

void
tree_add_path(struct server *srv, struct jbuf *b)
{
	int	 i;

	msgb_key(b, F_PATH);
	jbuf_addc(b, '[');
	for (i = 0; i < srv->pathlen; i++) {
		if (i > 0)
			jbuf_addc(b, ',');
		jbuf_cstr(b, srv->path[i]);
	}
	jbuf_addc(b, ']');
}

/* Tell the tree that server id is gone from it. */
void
tree_leave(struct server *srv, const char *id, const char *why)
{
	struct jbuf	*b = &srv->out;

	jbuf_reset(b);
	msgb_begin(b, CMD_SERVER_LEAVE);
	msgb_str(b, F_ID, id);
	msgb_str(b, F_INFO, why);
	tree_add_mid(srv, b);
	msgb_end(b);
	tree_send_servers(srv, NULL, b->p, b->len);
}

/* SERVER_ANNOUNCE our id, load and address to every server link. */
void
tree_announce(struct server *srv)
{
	struct jbuf	*b = &srv->out;

	jbuf_reset(b);
	msgb_begin(b, CMD_SERVER_ANNOUNCE);
	msgb_str(b, F_ID, srv->id);
	msgb_int(b, F_LOAD, srv->nclients);
	msgb_str(b, F_HOSTNAME, srv->cfg.listen_host);
	msgb_int(b, F_PORT, srv->cfg.listen_port);
	if (srv->cfg.tls_port > 0)
		msgb_int(b, F_TLS_PORT, srv->cfg.tls_port);
	tree_add_path(srv, b);
	if (uplink_reconnecting(srv))
		msgb_str(b, F_STATUS, "reconnecting");
	who_announce_users(srv, b);
	tree_add_mid(srv, b);
	msgb_end(b);
	tree_send_servers(srv, NULL, b->p, b->len);
	srv->announced_load = srv->nclients;
	srv->last_announce_ms = now_ms();
}

struct users_out {
	struct server	*srv;
	struct peer	*to;
	struct jbuf	 b;
	int		 n;
	int		 first_is_auth;	/* first chunk closes an AUTHENTICATE_SUCCESS */
	size_t		 chunk;		/* flush past this many bytes */
};

static void
users_flush(struct users_out *o)
{
	if (o->n == 0 && !o->first_is_auth)
		return;
	jbuf_adds(&o->b, "]}\n");
	peer_send(o->to, o->b.p, o->b.len);
	jbuf_reset(&o->b);
	o->n = 0;
	o->first_is_auth = 0;
}

static void
users_add(const struct user *u, void *arg)
{
	struct users_out	*o = arg;

	if (o->b.len > o->chunk)
		users_flush(o);
	if (o->b.len == 0) {
		msgb_begin(&o->b, CMD_USER_SYNC);
		msgb_key(&o->b, F_USERS);
		jbuf_addc(&o->b, '[');
	}
	if (o->n++ > 0 || o->b.p[o->b.len - 1] != '[')
		jbuf_addc(&o->b, ',');
	jbuf_adds(&o->b, "{\"username\":");
	jbuf_cstr(&o->b, u->name);
	msgb_str(&o->b, F_SECRET, u->secret);
	msgb_int(&o->b, F_TIME, (long long)u->time);
	msgb_str(&o->b, F_ORIGIN, u->origin);
	jbuf_addc(&o->b, '}');
}

/*
 * Send our whole registry to a new link in bounded chunks.  With
 * `auth`, the first chunk is the AUTHENTICATE_SUCCESS reply itself.
 */
void
tree_send_users(struct server *srv, struct peer *to, int auth)
{
	struct users_out	 o;

	memset(&o, 0, sizeof o);
	o.srv = srv;
	o.to = to;
	/*
	 * Lines must fit the receiver's cap (--max-message plus the link
	 * slack); half of the smallest leaves room for the entry that
	 * crosses the mark.
	 */
	o.chunk = (srv->cfg.max_msg + SERVER_LINK_SLACK) / 2;
	if (o.chunk > TREE_USERS_CHUNK)
		o.chunk = TREE_USERS_CHUNK;
	jbuf_init(&o.b);
	if (auth) {
		msgb_begin(&o.b, CMD_AUTHENTICATE_SUCCESS);
		msgb_str(&o.b, F_ID, srv->id);
		msgb_str(&o.b, F_HOST, srv->cfg.listen_host);
		msgb_int(&o.b, F_PORT, srv->cfg.listen_port);
		if (srv->cfg.tls_port > 0)
			msgb_int(&o.b, F_TLS_PORT, srv->cfg.tls_port);
		tree_add_path(srv, &o.b);
		handshake_accept_fields(srv, to, &o.b);
		msgb_key(&o.b, F_USERS);
		jbuf_addc(&o.b, '[');
		o.first_is_auth = 1;
	}
	registry_foreach(srv->reg, users_add, &o);
	users_flush(&o);
	jbuf_free(&o.b);
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
