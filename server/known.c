/*
 * Known servers: what each announced (address, load, parent), whether
 * it is up, down (a link to it failed), lost (silent past the liveness
 * window) or gone (it left, or a restart took its address), and from
 * that the one cluster status: known_cluster_state().
 *
 * Every server should give a client the same list.  A server that
 * joins learns the whole table at once (known_replay: each known
 * server's last announce, as it was flooded, and a SERVER_LEAVE for
 * each one that is down), and the list is sent sorted by address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "msgbuild.h"
#include "seen.h"
#include "server.h"
#include "uplink.h"
#include "xmalloc.h"

/* A state's name, as CLUSTER_STATUS and the logs give it. */
const char *
known_state_name(enum known_state st)
{
	switch (st) {
	case KNOWN_UP:
		return MSG_V_UP;
	case KNOWN_DOWN:
		return MSG_V_DOWN;
	case KNOWN_LOST:
		return MSG_V_LOST;
	case KNOWN_GONE:
		return MSG_V_GONE;
	}
	return "?";
}

/* The entry for a server id, or NULL. */
struct known_server *
known_find(struct server *srv, const char *id)
{
	int	 i;

	for (i = 0; i < srv->nknown; i++)
		if (strcmp(srv->known[i].id, id) == 0)
			return &srv->known[i];
	return NULL;
}

/* Drop entry i from the table (the last one takes its slot). */
static void
known_remove(struct server *srv, int i)
{
	free(srv->known[i].announce);
	if (i != srv->nknown - 1)
		srv->known[i] = srv->known[srv->nknown - 1];
	memset(&srv->known[--srv->nknown], 0, sizeof srv->known[0]);
	srv->known_changed = 1;
}

/* Free what the table holds. */
void
known_free(struct server *srv)
{
	while (srv->nknown > 0)
		known_remove(srv, srv->nknown - 1);
}

/* Note that k stopped being up now (lost_wall_ms also dates replays). */
static void
known_went(struct server *srv, struct known_server *k, enum known_state st)
{
	if (k->state == KNOWN_UP) {
		k->lost_wall_ms = wall_ms();
		k->down_ms = now_ms();
	}
	k->state = st;
	srv->known_changed = 1;
}

/*
 * A slot for a new entry.  The table is capped: a flood of invented
 * ids replaces an entry that is gone, or else the stalest, rather than
 * growing memory.
 */
static struct known_server *
known_slot(struct server *srv)
{
	int	 i, oldest = -1;

	if (srv->nknown < srv->cfg.max_servers)
		return &srv->known[srv->nknown++];
	for (i = 0; i < srv->nknown; i++)
		if (srv->known[i].state == KNOWN_GONE && (oldest == -1 ||
		    srv->known[i].down_ms < srv->known[oldest].down_ms))
			oldest = i;
	for (i = 0; oldest == -1 && i < srv->nknown; i++)
		if (i == 0 || srv->known[i].last_seen_ms <
		    srv->known[oldest].last_seen_ms)
			oldest = i;
	log_warnx("server table full (%d): forgetting %s",
	    srv->cfg.max_servers, log_safe(srv->known[oldest].id));
	known_remove(srv, oldest);
	return &srv->known[srv->nknown++];
}

/*
 * Record a server we heard of.  A new id at the address of a server we
 * know is that server restarted: the old entry is gone (kept, unlisted,
 * for what presence.c replays to its users, until forgotten).
 */
struct known_server *
known_update(struct server *srv, const char *id, const char *host, int port,
    long long load)
{
	struct known_server	*k;
	int			 i;

	if (strcmp(id, srv->id) == 0)
		return NULL;
	if ((k = known_find(srv, id)) == NULL) {
		for (i = 0; i < srv->nknown; i++) {
			k = &srv->known[i];
			if (k->state == KNOWN_GONE || k->port != port ||
			    strcmp(k->host, host) != 0)
				continue;
			log_info("server %s (%s:%d) restarted as %s",
			    log_safe(k->id), log_safe(host), port,
			    log_safe(id));
			known_went(srv, k, KNOWN_GONE);
		}
		k = known_slot(srv);
		memset(k, 0, sizeof *k);
		snprintf(k->id, sizeof k->id, "%s", id);
		log_info("learned of server %s at %s:%d", log_safe(id),
		    log_safe(host), port);
		srv->known_changed = 1;
	} else if (k->state != KNOWN_UP) {
		log_info("server %s (%s:%d) is back", log_safe(id),
		    log_safe(host), port);
		srv->known_changed = 1;
	}
	if (k->port != port || strcmp(k->host, host) != 0)
		srv->known_changed = 1;
	snprintf(k->host, sizeof k->host, "%s", host);
	k->port = port;
	k->load = load;
	k->last_seen_ms = now_ms();
	k->state = KNOWN_UP;
	k->redirected = 0;
	return k;
}

/* Its parent, from a path (root first, the server itself last). */
void
known_set_parent(struct known_server *k, struct json_span path)
{
	char	*ids[PATH_DEPTH_MAX];
	int	 n;

	k->parent[0] = '\0';
	if (tree_parse_path(path, ids, &n) != 0)
		return;
	if (n >= 2)
		snprintf(k->parent, sizeof k->parent, "%s", ids[n - 2]);
	tree_free_path(ids, n);
}

/* Keep the announce line as flooded, to replay to servers that join. */
void
known_keep_announce(struct known_server *k, const char *line, size_t len)
{
	free(k->announce);
	k->announce = xmalloc(len + 1);
	memcpy(k->announce, line, len);
	k->announce[len] = '\n';
	k->announce_len = len + 1;
}

/* A link to id failed (or a neighbour's did): it is down. */
void
known_mark_lost(struct server *srv, const char *id)
{
	struct known_server	*k;

	if ((k = known_find(srv, id)) != NULL && (k->state == KNOWN_UP ||
	    k->state == KNOWN_LOST)) {
		known_went(srv, k, KNOWN_DOWN);
		log_info("server %s (%s:%d) down", log_safe(k->id),
		    log_safe(k->host), k->port);
	}
}

/* id said it is leaving the tree: no longer listed. */
void
known_left(struct server *srv, const char *id)
{
	struct known_server	*k;

	if ((k = known_find(srv, id)) != NULL && k->state != KNOWN_GONE) {
		known_went(srv, k, KNOWN_GONE);
		log_info("server %s (%s:%d) left", log_safe(k->id),
		    log_safe(k->host), k->port);
	}
}

/*
 * Tell a server that just linked with us every server we know: the
 * last announce of each (its original mid, so servers that have it
 * drop it) and, for one that is down, a SERVER_LEAVE saying since when.
 */
void
known_replay(struct server *srv, struct peer *to)
{
	struct jbuf	*b;
	int		 i;

	for (i = 0; i < srv->nknown; i++) {
		struct known_server *k = &srv->known[i];

		if (k->state == KNOWN_GONE || k->announce == NULL)
			continue;
		if (to->remote_id != NULL && strcmp(k->id, to->remote_id) == 0)
			continue;
		peer_send(to, k->announce, k->announce_len);
		if (k->state == KNOWN_UP)
			continue;
		b = server_out_take(srv);
		msgb_begin(b, CMD_SERVER_LEAVE);
		msgb_str(b, F_ID, k->id);
		msgb_str(b, F_INFO, "down");
		msgb_int(b, F_TIME, (long long)k->lost_wall_ms);
		tree_add_mid(srv, b);
		msgb_end(b);
		peer_send(to, b->p, b->len);
		server_out_put(srv);
	}
}

/*
 * A SERVER_LEAVE about id: from id itself (its mid's origin) it left;
 * from anyone else a link to it failed, at `time` (wall ms) if given.
 */
void
known_on_leave(struct server *srv, const char *id, const char *mid,
    long long time)
{
	struct known_server	*k;
	char			 origin[SERVER_NAME_MAX];
	uint64_t		 n, wall = wall_ms(), ago;

	if (mid != NULL && seen_parse_mid(mid, origin, sizeof origin,
	    &n) == 0 && strcmp(origin, id) == 0) {
		known_left(srv, id);
		return;
	}
	if ((k = known_find(srv, id)) == NULL || k->state == KNOWN_DOWN ||
	    k->state == KNOWN_GONE)
		return;
	known_mark_lost(srv, id);
	if (time > 0 && (uint64_t)time < wall) {
		ago = wall - (uint64_t)time;
		if (ago > (uint64_t)srv->cfg.forget_ms)
			ago = (uint64_t)srv->cfg.forget_ms;
		if (ago > k->down_ms)
			ago = k->down_ms;
		k->lost_wall_ms = wall - ago;
		k->down_ms -= ago;
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

/* Up, but its parent is not (nor are we): it must be on its way back. */
static int
known_orphaned(struct server *srv, const struct known_server *k)
{
	const struct known_server	*parent;

	if (k->parent[0] == '\0' || strcmp(k->parent, srv->id) == 0)
		return 0;
	parent = known_find(srv, k->parent);
	return parent == NULL || parent->state != KNOWN_UP;
}

/* The state a client is shown for k. */
static const char *
known_shown_state(struct server *srv, const struct known_server *k)
{
	if (k->state == KNOWN_UP && (k->reconnecting ||
	    known_orphaned(srv, k)))
		return MSG_V_RECONNECTING;
	return known_state_name(k->state);
}

/*
 * The cluster status, the one definition every user of it shares
 * (CLUSTER_STATUS, REDIRECT decisions, health checks).  OUT_OF_SERVICE
 * while the tree is not whole or a failure is being recovered from:
 * this server is reconnecting to its parent; a server it knows is up
 * but reconnecting (it says so, or its parent is not up); or a server
 * went down (crashed, stopped, cut off) less than a heartbeat interval
 * ago, so that the failure of a server without children is seen too,
 * while its clients fail over.  NORMAL otherwise.  With why, says what
 * makes it OUT_OF_SERVICE.
 */
enum cluster_status
known_cluster_state(struct server *srv, char *why, size_t len)
{
	struct known_server	*k;
	uint64_t		 now = now_ms();
	int			 i;

	if (uplink_reconnecting(srv)) {
		if (why != NULL)
			snprintf(why, len, "this server is reconnecting to "
			    "its parent");
		return CLUSTER_OUT_OF_SERVICE;
	}
	for (i = 0; i < srv->nknown; i++) {
		k = &srv->known[i];
		if (k->state == KNOWN_UP && (k->reconnecting ||
		    known_orphaned(srv, k))) {
			if (why != NULL)
				snprintf(why, len, "server %s (%s:%d) is "
				    "reconnecting", k->id, k->host, k->port);
			return CLUSTER_OUT_OF_SERVICE;
		}
		if ((k->state == KNOWN_DOWN || k->state == KNOWN_LOST) &&
		    now - k->down_ms < (uint64_t)srv->cfg.heartbeat_ms) {
			if (why != NULL)
				snprintf(why, len, "server %s (%s:%d) went "
				    "down", k->id, k->host, k->port);
			return CLUSTER_OUT_OF_SERVICE;
		}
	}
	if (why != NULL)
		snprintf(why, len, "every known server is up and in the tree");
	return CLUSTER_NORMAL;
}

/* known_cluster_state() is NORMAL. */
int
known_cluster_normal(struct server *srv)
{
	return known_cluster_state(srv, NULL, 0) == CLUSTER_NORMAL;
}

/*
 * Evaluate the status now; a change (or a new reason) is logged and
 * makes the next tick tell every client that asked.
 */
static void
known_refresh(struct server *srv)
{
	enum cluster_status	 st;
	char			 why[sizeof srv->status_why];

	st = known_cluster_state(srv, why, sizeof why);
	if (st == srv->status && (st == CLUSTER_NORMAL ||
	    strcmp(why, srv->status_why) == 0))
		return;
	if (st != srv->status)
		log_info("cluster status: %s (%s)", st == CLUSTER_NORMAL ?
		    "NORMAL" : "OUT_OF_SERVICE", log_safe(why));
	srv->status = st;
	snprintf(srv->status_why, sizeof srv->status_why, "%s", why);
	srv->known_changed = 1;
}

/* One row of CLUSTER_STATUS: self (k NULL) or a known server. */
struct known_row {
	const char		*id;
	const char		*host;
	int			 port;
	struct known_server	*k;
};

/* The list's order: by host, port, then id; the same on every server. */
static int
known_row_cmp(const void *a, const void *b)
{
	const struct known_row	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->host, y->host)) != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->id, y->id);
}

/*
 * CLUSTER_STATUS for one client (or, with NULL, every client that
 * asked), with the status as it is now: a client that logs in between
 * two ticks is not told what held before its server joined.
 */
void
known_send_status(struct server *srv, struct peer *to)
{
	struct jbuf	*b = server_out_take(srv);
	struct peer	*p, *next;

	known_build_status(srv, b);
	if (to != NULL) {
		peer_send_jbuf(to, b);
		server_out_put(srv);
		return;
	}
	/* A send can drop p (its output cap): take next first. */
	for (p = TAILQ_FIRST(&srv->clients); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		if (p->features & FEAT_BIT(FEAT_CLUSTER_STATUS))
			peer_send_jbuf(p, b);
	}
	server_out_put(srv);
	srv->status_sent_ms = now_ms();
	srv->known_changed = 0;
}

/*
 * The CLUSTER_STATUS line as it stands, into b (reset first): what
 * clients are sent, and what the monitoring endpoint shows.
 */
void
known_build_status(struct server *srv, struct jbuf *b)
{
	struct known_row	*rows;
	uint64_t		 now = now_ms();
	int			 i, n = 0;

	known_refresh(srv);

	rows = xcalloc((size_t)srv->nknown + 1, sizeof *rows);
	rows[n].id = srv->id;
	rows[n].host = srv->cfg.listen_host;
	rows[n++].port = srv->cfg.listen_port;
	for (i = 0; i < srv->nknown; i++) {
		if (srv->known[i].state == KNOWN_GONE)
			continue;
		rows[n].id = srv->known[i].id;
		rows[n].host = srv->known[i].host;
		rows[n].port = srv->known[i].port;
		rows[n++].k = &srv->known[i];
	}
	qsort(rows, (size_t)n, sizeof *rows, known_row_cmp);

	jbuf_reset(b);
	msgb_begin(b, CMD_CLUSTER_STATUS);
	msgb_str(b, F_STATUS, srv->status == CLUSTER_NORMAL ? MSG_V_NORMAL :
	    MSG_V_OUT_OF_SERVICE);
	if (srv->status != CLUSTER_NORMAL)
		msgb_str(b, F_INFO, srv->status_why);
	msgb_key(b, F_SERVERS);
	jbuf_addc(b, '[');
	for (i = 0; i < n; i++) {
		struct known_server *k = rows[i].k;

		if (i > 0)
			jbuf_addc(b, ',');
		msgb_obj_begin(b);
		msgb_str(b, F_ID, rows[i].id);
		msgb_str(b, F_HOST, rows[i].host);
		msgb_int(b, F_PORT, rows[i].port);
		msgb_int(b, F_LOAD, k == NULL ? srv->nclients : k->load);
		msgb_int(b, F_LAST_ANNOUNCE_MS,
		    k == NULL ? 0 : (long long)(now - k->last_seen_ms));
		msgb_str(b, F_STATE, k == NULL ? MSG_V_SELF :
		    known_shown_state(srv, k));
		if (k != NULL && k->state != KNOWN_UP)
			msgb_int(b, F_DOWN_MS, (long long)(now - k->down_ms));
		msgb_obj_end(b);
	}
	jbuf_addc(b, ']');
	msgb_end(b);
	free(rows);
}

/*
 * Liveness and status, every tick: servers silent past the liveness
 * window are lost; servers down, lost or gone for --forget-after are
 * forgotten; clients hear of a change of the status or of the list at
 * once, and of the whole view every announce interval.
 */
void
known_check(struct server *srv)
{
	uint64_t	 now = now_ms();
	int		 i;

	for (i = 0; i < srv->nknown; i++) {
		struct known_server *k = &srv->known[i];

		if (k->state == KNOWN_UP &&
		    now - k->last_seen_ms > (uint64_t)srv->cfg.liveness_ms) {
			known_went(srv, k, KNOWN_LOST);
			k->lost_wall_ms -= now - k->last_seen_ms;
			k->down_ms = k->last_seen_ms;
			log_info("server %s (%s:%d) lost: no announce "
			    "for %d ms", log_safe(k->id), log_safe(k->host),
			    k->port, srv->cfg.liveness_ms);
		} else if (k->state != KNOWN_UP &&
		    now - k->down_ms >= (uint64_t)srv->cfg.forget_ms) {
			log_info("forgetting server %s (%s:%d), %s for %d ms",
			    log_safe(k->id), log_safe(k->host), k->port,
			    known_state_name(k->state), srv->cfg.forget_ms);
			known_remove(srv, i--);
		}
	}
	known_refresh(srv);
	if (srv->known_changed ||
	    now - srv->status_sent_ms >= (uint64_t)srv->cfg.announce_ms)
		known_send_status(srv, NULL);
}
