/*
 * Backup lists: where each neighbour should go if we fail.
 *
 * For a child server the list must re-form one tree without cycles
 * after any single crash:
 *  - a server with a parent gives its children its ancestors, nearest
 *    first (parent, grandparent, ..., root): if we die, our children
 *    join our parent, and if that is gone too, the next one up.
 *    Ancestors are never in the child's own subtree, so no cycle.
 *  - the root orders its children by when they joined and gives child i
 *    the children joined before it.  If the root dies, the oldest child
 *    has an empty list and becomes the root; every other child joins
 *    the oldest one still alive.  Each joins only an older sibling, so
 *    again no cycle.
 * A server that is itself reconnecting gives its children the targets
 * it is trying (the parent it lost and that one's backups: ancestors
 * all), so a child that joined meanwhile never takes an empty list for
 * a successor's; only a list the parent sent makes one.  The list also
 * carries our
 * path from the root, which a child uses to know its own and to refuse
 * a server joining through it that is one of its ancestors.
 *
 * For a client any live server will do, but one is best: the one our
 * child servers go to, where the tree is whole again first.  It leads
 * the list; every other server we know to be up follows, neighbours
 * first, rotated per client so that if the first is gone too, the
 * orphans spread out instead of all landing on one server.
 */
#include <stdio.h>
#include <string.h>

#include "msgbuild.h"
#include "server.h"
#include "uplink.h"

#define BACKUP_MAX	32

struct backup_entry {
	const char	*host;
	int		 port;
	int		 tls_port;	/* 0: none */
};

/* Entries from `fixed` on are rotated by `rotate`, to spread clients. */
static void
backup_emit(struct server *srv, struct peer *to, struct backup_entry *e,
    int n, int fixed, int rotate, int with_path)
{
	struct jbuf	*b;
	int		 i, k;

	b = server_out_take(srv);
	msgb_begin(b, CMD_BACKUP_LIST);
	msgb_key(b, F_SERVERS);
	jbuf_addc(b, '[');
	for (i = 0; i < n; i++) {
		k = i < fixed ? i : fixed + (i - fixed + rotate) % (n - fixed);
		if (i > 0)
			jbuf_addc(b, ',');
		msgb_obj_begin(b);
		msgb_str(b, F_HOST, e[k].host);
		msgb_int(b, F_PORT, e[k].port);
		if (e[k].tls_port > 0)
			msgb_int(b, F_TLS_PORT, e[k].tls_port);
		msgb_obj_end(b);
	}
	jbuf_addc(b, ']');
	if (with_path)
		tree_add_path(srv, b);
	msgb_end(b);
	peer_send_jbuf(to, b);
	server_out_put(srv);
}

/* Our ancestors, nearest first, with the addresses we know for them. */
static int
backup_ancestors(struct server *srv, struct backup_entry *e)
{
	struct peer		*up = uplink_peer(srv);
	struct known_server	*k;
	int			 i, n = 0;

	if (up == NULL || up->remote_host == NULL)
		return 0;
	e[n].host = up->remote_host;
	e[n].tls_port = up->remote_tls_port;
	e[n++].port = up->remote_port;
	for (i = srv->pathlen - 3; i >= 0 && n < BACKUP_MAX; i--) {
		if ((k = known_find(srv, srv->path[i])) == NULL ||
		    k->state != KNOWN_UP)
			continue;
		e[n].host = k->host;
		e[n].tls_port = k->tls_port;
		e[n++].port = k->port;
	}
	return n;
}

/* As the root: the children that joined before `child`. */
static int
backup_older_siblings(struct server *srv, struct peer *child,
    struct backup_entry *e)
{
	struct peer	*p;
	int		 n = 0;

	TAILQ_FOREACH(p, &srv->links, role_entry) {
		if (p->outgoing || p->remote_host == NULL ||
		    p->serial >= child->serial)
			continue;
		if (n < BACKUP_MAX) {
			e[n].host = p->remote_host;
			e[n].tls_port = p->remote_tls_port;
			e[n++].port = p->remote_port;
		}
	}
	return n;
}

/* Up, not reconnecting, and not a stale entry: a client may go there. */
static int
backup_client_target(struct server *srv, struct peer *p)
{
	struct known_server *k = p->remote_id != NULL ?
	    known_find(srv, p->remote_id) : NULL;

	return p->remote_host != NULL &&
	    (k == NULL || (k->state == KNOWN_UP && !k->reconnecting));
}

/*
 * Where our clients go if we die.  First the server our orphaned child
 * servers also go to (our parent; as the root, the oldest child, which
 * takes over), so the orphans land where the tree is whole again soonest
 * and do not wait for a cut-off server to re-join.  After it, the other
 * neighbours and every server we know to be up, as fallbacks.  Returns
 * the count; the first is the one not to rotate.
 */
static int
backup_for_client(struct server *srv, struct backup_entry *e, int *fixed)
{
	struct peer	*p, *first = uplink_peer(srv);
	int		 i, n = 0;

	if (first == NULL)
		TAILQ_FOREACH(p, &srv->links, role_entry)
			if (!p->outgoing && backup_client_target(srv, p) &&
			    (first == NULL || p->serial < first->serial))
				first = p;
	if (first != NULL && !backup_client_target(srv, first))
		first = NULL;
	if (first != NULL) {
		e[n].host = first->remote_host;
		e[n].tls_port = first->remote_tls_port;
		e[n++].port = first->remote_port;
	}
	*fixed = n;
	TAILQ_FOREACH(p, &srv->links, role_entry) {
		if (p == first || n == BACKUP_MAX ||
		    !backup_client_target(srv, p))
			continue;
		e[n].host = p->remote_host;
		e[n].tls_port = p->remote_tls_port;
		e[n++].port = p->remote_port;
	}
	for (i = 0; i < srv->nknown && n < BACKUP_MAX; i++) {
		struct known_server *k = &srv->known[i];
		int		     j, dup = 0;

		if (k->state != KNOWN_UP || k->reconnecting)
			continue;
		for (j = 0; j < n; j++)
			if (e[j].port == k->port &&
			    strcmp(e[j].host, k->host) == 0)
				dup = 1;
		if (!dup) {
			e[n].host = k->host;
			e[n].tls_port = k->tls_port;
			e[n++].port = k->port;
		}
	}
	return n;
}

/* Send one neighbour its backup list. */
void
backup_send(struct server *srv, struct peer *to)
{
	struct backup_entry	 e[BACKUP_MAX];
	int			 n, fixed;

	if (to->closing)
		return;
	if (to->role == PEER_CLIENT) {
		if ((to->features & FEAT_BIT(FEAT_BACKUP_LIST)) == 0)
			return;
		n = backup_for_client(srv, e, &fixed);
		backup_emit(srv, to, e, n, fixed,
		    n > fixed ? (int)(to->serial % (uint64_t)(n - fixed)) : 0, 0);
		return;
	}
	if (to->role != PEER_SERVER || to->outgoing)
		return;
	if (uplink_reconnecting(srv)) {
		/*
		 * A child that joined us while we reconnect must not think
		 * an empty list makes it a successor: give it our targets.
		 */
		const char	*hosts[BACKUP_MAX];
		int		 ports[BACKUP_MAX], tls_ports[BACKUP_MAX], i;

		n = uplink_targets(srv, hosts, ports, tls_ports, BACKUP_MAX);
		for (i = 0; i < n; i++) {
			e[i].host = hosts[i];
			e[i].port = ports[i];
			e[i].tls_port = tls_ports[i];
		}
		backup_emit(srv, to, e, n, n, 0, 1);
		return;
	}
	if (uplink_peer(srv) != NULL)
		n = backup_ancestors(srv, e);
	else
		n = backup_older_siblings(srv, to, e);
	backup_emit(srv, to, e, n, n, 0, 1);
}

/* Every child server and every client that asked. */
void
backup_send_all(struct server *srv)
{
	struct peer	*p, *next;

	/* A send can drop p (its output cap): take next first. */
	for (p = TAILQ_FIRST(&srv->links); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		backup_send(srv, p);
	}
	for (p = TAILQ_FIRST(&srv->clients); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		backup_send(srv, p);
	}
}
