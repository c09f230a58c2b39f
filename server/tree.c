/*
 * The server tree: sending to links and clients, the table of known
 * servers with their announced load and liveness, announces, and the
 * user lists exchanged when servers link up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "msgbuild.h"
#include "registry.h"
#include "server.h"

#define TREE_USERS_CHUNK	(48 * 1024)	/* bytes of users per line */

/* Send to every authenticated server link except `except`. */
void
tree_send_servers(struct server *srv, struct peer *except, const void *data,
    size_t len)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &srv->peers, entry)
		if (p->role == PEER_SERVER && p != except && !p->closing)
			peer_send(p, data, len);
}

/* Send to every logged-in client. */
void
tree_send_clients(struct server *srv, const void *data, size_t len)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &srv->peers, entry)
		if (p->role == PEER_CLIENT && !p->closing)
			peer_send(p, data, len);
}

static struct known_server *
tree_known_find(struct server *srv, const char *id)
{
	int	 i;

	for (i = 0; i < srv->nknown; i++)
		if (strcmp(srv->known[i].id, id) == 0)
			return &srv->known[i];
	return NULL;
}

/*
 * Record what a server announced.  The table is capped: a flood of
 * invented ids replaces the stalest entry rather than growing memory.
 */
struct known_server *
tree_known_update(struct server *srv, const char *id, const char *host,
    int port, long long load)
{
	struct known_server	*k;
	int			 i, oldest = 0;

	if (strcmp(id, srv->id) == 0)
		return NULL;
	if ((k = tree_known_find(srv, id)) == NULL) {
		if (srv->nknown < srv->cfg.max_servers)
			k = &srv->known[srv->nknown++];
		else {
			for (i = 1; i < srv->nknown; i++)
				if (srv->known[i].last_seen_ms <
				    srv->known[oldest].last_seen_ms)
					oldest = i;
			k = &srv->known[oldest];
			log_warnx("server table full (%d): forgetting %s",
			    srv->cfg.max_servers, k->id);
		}
		memset(k, 0, sizeof *k);
		snprintf(k->id, sizeof k->id, "%s", id);
		log_info("learned of server %s at %s:%d", id, host, port);
	}
	snprintf(k->host, sizeof k->host, "%s", host);
	k->port = port;
	k->load = load;
	k->last_seen_ms = now_ms();
	if (!k->available)
		log_debug("server %s is available", id);
	k->available = 1;
	return k;
}

/* Servers not heard from within the liveness window are unavailable. */
void
tree_check_liveness(struct server *srv)
{
	uint64_t	 now = now_ms();
	int		 i;

	for (i = 0; i < srv->nknown; i++) {
		struct known_server *k = &srv->known[i];

		if (k->available &&
		    now - k->last_seen_ms > (uint64_t)srv->cfg.liveness_ms) {
			k->available = 0;
			log_info("server %s (%s:%d) unavailable: no announce "
			    "for %d ms", k->id, k->host, k->port,
			    srv->cfg.liveness_ms);
		}
	}
}

/*
 * A server to redirect a client to: the least loaded available one,
 * if its load is at least 2 below ours.
 */
struct known_server *
tree_least_loaded(struct server *srv, long long myload)
{
	struct known_server	*best = NULL;
	int			 i;

	for (i = 0; i < srv->nknown; i++) {
		struct known_server *k = &srv->known[i];

		if (!k->available || k->load > myload - 2)
			continue;
		if (best == NULL || k->load < best->load)
			best = k;
	}
	return best;
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
	msgb_end(b);
	tree_send_servers(srv, NULL, b->p, b->len);
}

struct users_out {
	struct server	*srv;
	struct peer	*to;
	struct jbuf	 b;
	int		 n;
	int		 first_is_auth;	/* first chunk closes an AUTHENTICATE_SUCCESS */
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

	if (o->b.len > TREE_USERS_CHUNK)
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
	jbuf_init(&o.b);
	if (auth) {
		msgb_begin(&o.b, CMD_AUTHENTICATE_SUCCESS);
		msgb_str(&o.b, F_ID, srv->id);
		msgb_str(&o.b, F_HOST, srv->cfg.listen_host);
		msgb_int(&o.b, F_PORT, srv->cfg.listen_port);
		msgb_key(&o.b, F_USERS);
		jbuf_addc(&o.b, '[');
		o.first_is_auth = 1;
	}
	registry_foreach(srv->reg, users_add, &o);
	users_flush(&o);
	jbuf_free(&o.b);
}
