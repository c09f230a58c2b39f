/*
 * Known servers: what each announced (address, load, parent), whether
 * it is up, lost (its link failed) or unavailable (silent past the
 * liveness window), and from that the cluster status clients see:
 * OUT_OF_SERVICE while any server is reconnecting, NORMAL once the tree
 * is whole again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "msgbuild.h"
#include "server.h"
#include "uplink.h"

const char *
known_state_name(enum known_state st)
{
	switch (st) {
	case KNOWN_UP:
		return "up";
	case KNOWN_LOST:
		return "lost";
	case KNOWN_UNAVAILABLE:
		return "unavailable";
	}
	return "?";
}

struct known_server *
known_find(struct server *srv, const char *id)
{
	int	 i;

	for (i = 0; i < srv->nknown; i++)
		if (strcmp(srv->known[i].id, id) == 0)
			return &srv->known[i];
	return NULL;
}

/*
 * Record a server we heard of.  The table is capped: a flood of
 * invented ids replaces the stalest entry rather than growing memory.
 */
struct known_server *
known_update(struct server *srv, const char *id, const char *host, int port,
    long long load)
{
	struct known_server	*k;
	int			 i, oldest = 0;

	if (strcmp(id, srv->id) == 0)
		return NULL;
	if ((k = known_find(srv, id)) == NULL) {
		if (srv->nknown < srv->cfg.max_servers)
			k = &srv->known[srv->nknown++];
		else {
			for (i = 1; i < srv->nknown; i++)
				if (srv->known[i].last_seen_ms <
				    srv->known[oldest].last_seen_ms)
					oldest = i;
			k = &srv->known[oldest];
			log_warnx("server table full (%d): forgetting %s",
			    srv->cfg.max_servers, log_safe(k->id));
		}
		memset(k, 0, sizeof *k);
		snprintf(k->id, sizeof k->id, "%s", id);
		log_info("learned of server %s at %s:%d", log_safe(id),
		    log_safe(host), port);
	} else if (k->state != KNOWN_UP)
		log_info("server %s (%s:%d) is back", log_safe(id),
		    log_safe(host), port);
	snprintf(k->host, sizeof k->host, "%s", host);
	k->port = port;
	k->load = load;
	k->last_seen_ms = now_ms();
	k->state = KNOWN_UP;
	k->redirected = 0;
	return k;
}

/* A link to id failed (or it left): not a redirect or backup target. */
void
known_mark_lost(struct server *srv, const char *id)
{
	struct known_server	*k;

	if ((k = known_find(srv, id)) != NULL && k->state == KNOWN_UP) {
		k->state = KNOWN_LOST;
		k->lost_wall_ms = wall_ms();
		log_info("server %s (%s:%d) lost", log_safe(k->id),
		    log_safe(k->host), k->port);
	}
}

/*
 * A neighbour whose link has brought nothing for longer than a heartbeat
 * interval and a half: stopped or cut off, though not yet timed out.
 * Its kernel still accepts connections, so a client sent there would
 * wait for a LOGIN_SUCCESS that does not come.
 */
static int
known_link_silent(struct server *srv, const struct known_server *k)
{
	struct peer	*p;
	uint64_t	 quiet = (uint64_t)srv->cfg.heartbeat_ms * 3 / 2;

	TAILQ_FOREACH(p, &srv->links, role_entry)
		if (p->remote_id != NULL && strcmp(p->remote_id, k->id) == 0)
			return srv->now_ms - p->last_rx_ms > quiet;
	return 0;
}

/*
 * A server to redirect a client to: the least loaded one that is up,
 * if its load is at least 2 below ours.  One client at a time per
 * server, until it announces its load again (within 100 ms of a
 * change): servers that each see the others' loads of up to 100 ms ago
 * otherwise pass simultaneous logins around (~200 REDIRECTs for 33
 * logins on 9 servers).
 */
struct known_server *
known_least_loaded(struct server *srv, long long myload)
{
	struct known_server	*best = NULL;
	int			 i;

	for (i = 0; i < srv->nknown; i++) {
		struct known_server *k = &srv->known[i];

		if (k->state != KNOWN_UP || k->reconnecting ||
		    k->redirected || k->load > myload - 2 ||
		    known_link_silent(srv, k))
			continue;
		if (best == NULL || k->load < best->load)
			best = k;
	}
	return best;
}

/* Is some server, us included, on its way back into the tree? */
static enum cluster_status
known_status(struct server *srv)
{
	struct known_server	*k, *parent;
	int			 i;

	if (uplink_reconnecting(srv))
		return CLUSTER_OUT_OF_SERVICE;
	for (i = 0; i < srv->nknown; i++) {
		k = &srv->known[i];
		if (k->state != KNOWN_UP)
			continue;
		if (k->reconnecting)
			return CLUSTER_OUT_OF_SERVICE;
		if (k->parent[0] != '\0' && strcmp(k->parent, srv->id) != 0 &&
		    ((parent = known_find(srv, k->parent)) == NULL ||
		    parent->state != KNOWN_UP))
			return CLUSTER_OUT_OF_SERVICE;
	}
	return CLUSTER_NORMAL;
}

/* Is the tree whole, as far as we know? */
int
known_cluster_normal(struct server *srv)
{
	return known_status(srv) == CLUSTER_NORMAL;
}

/* CLUSTER_STATUS for one client (or, with NULL, every client that asked). */
void
known_send_status(struct server *srv, struct peer *to)
{
	struct jbuf	*b = &srv->out;
	struct peer	*p;
	uint64_t	 now = now_ms();
	int		 i;

	jbuf_reset(b);
	msgb_begin(b, CMD_CLUSTER_STATUS);
	msgb_str(b, F_STATUS, srv->status == CLUSTER_NORMAL ? "NORMAL" :
	    "OUT_OF_SERVICE");
	msgb_key(b, F_SERVERS);
	jbuf_adds(b, "[{\"id\":");
	jbuf_cstr(b, srv->id);
	msgb_str(b, F_HOST, srv->cfg.listen_host);
	msgb_int(b, F_PORT, srv->cfg.listen_port);
	msgb_int(b, F_LOAD, srv->nclients);
	jbuf_adds(b, ",\"last_announce_ms\":0,\"state\":\"self\"}");
	for (i = 0; i < srv->nknown; i++) {
		struct known_server *k = &srv->known[i];

		jbuf_adds(b, ",{\"id\":");
		jbuf_cstr(b, k->id);
		msgb_str(b, F_HOST, k->host);
		msgb_int(b, F_PORT, k->port);
		msgb_int(b, F_LOAD, k->load);
		jbuf_adds(b, ",\"last_announce_ms\":");
		jbuf_int(b, (long long)(now - k->last_seen_ms));
		jbuf_adds(b, ",\"state\":");
		jbuf_cstr(b, k->state == KNOWN_UP && k->reconnecting ?
		    "reconnecting" : known_state_name(k->state));
		jbuf_addc(b, '}');
	}
	jbuf_addc(b, ']');
	msgb_end(b);
	if (to != NULL) {
		peer_send_jbuf(to, b);
		return;
	}
	TAILQ_FOREACH(p, &srv->clients, role_entry)
		if (p->features & FEAT_BIT(FEAT_CLUSTER_STATUS))
			peer_send_jbuf(p, b);
	srv->status_sent_ms = now;
}

/*
 * Liveness and status, every tick: servers silent past the liveness
 * window become unavailable; clients hear of a status change at once
 * and of the whole view every announce interval.
 */
void
known_check(struct server *srv)
{
	enum cluster_status	 st;
	uint64_t		 now = now_ms();
	int			 i;

	for (i = 0; i < srv->nknown; i++) {
		struct known_server *k = &srv->known[i];

		if (k->state != KNOWN_UNAVAILABLE &&
		    now - k->last_seen_ms > (uint64_t)srv->cfg.liveness_ms) {
			if (k->state == KNOWN_UP)
				k->lost_wall_ms = wall_ms() -
				    (now - k->last_seen_ms);
			k->state = KNOWN_UNAVAILABLE;
			log_info("server %s (%s:%d) unavailable: no announce "
			    "for %d ms", log_safe(k->id), log_safe(k->host),
			    k->port,
			    srv->cfg.liveness_ms);
		}
	}
	st = known_status(srv);
	if (st != srv->status) {
		log_info("cluster status: %s", st == CLUSTER_NORMAL ?
		    "NORMAL" : "OUT_OF_SERVICE");
		srv->status = st;
		known_send_status(srv, NULL);
	} else if (now - srv->status_sent_ms >= (uint64_t)srv->cfg.announce_ms)
		known_send_status(srv, NULL);
}
