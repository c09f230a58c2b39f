/*
 * Handlers for what servers send: joining (AUTHENTICATE and its reply),
 * broadcasts, announces, the registration lock protocol and user-list
 * merges.  Dispatch has checked the sender's role and every field's
 * presence and type before a handler runs.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "clock.h"
#include "delivery.h"
#include "lock.h"
#include "log.h"
#include "msgbuild.h"
#include "registry.h"
#include "secret.h"
#include "server.h"
#include "uplink.h"
#include "xmalloc.h"

static int	path_contains(struct server *, const char *);

/*
 * Merge a users array into the registry.  Entries that changed what we
 * know are flooded on to our other links, so a join or a healed split
 * spreads every registration through the whole tree.
 */
static int
merge_users(struct server *srv, struct peer *from, struct json_span users,
    char *err, size_t errlen)
{
	struct json_iter	 it;
	struct jbuf		 fwd;
	struct msg		 um;
	const char		*name, *origin;
	long long		 time;
	int			 nfwd = 0, nfull = 0, rc;
	enum registry_put	 r;

	jbuf_init(&fwd);
	registry_batch_begin(srv->reg);
	json_iter_array(&it, users);
	while ((rc = msg_next_object(&it, OBJ_USER, &um, err, errlen)) == 1) {
		/* No time: as new as can be, so it wins no conflict. */
		if (msg_int(&um, F_TIME, &time) != 0)
			time = (long long)wall_ms();
		name = um.str[F_USERNAME];
		origin = um.str[F_ORIGIN] != NULL ? um.str[F_ORIGIN] :
		    from->remote_id != NULL ? from->remote_id : "";
		r = registry_learn(srv->reg, name, um.str[F_SECRET],
		    (uint64_t)time, origin);
		if (r == REG_REPLACED)
			tree_user_replaced(srv, name);
		if (r == REG_FULL && nfull++ == 0)
			log_error("%s: users not kept: this server holds "
			    "--max-users %zu users already", peer_name(from),
			    srv->cfg.max_users);
		if (r != REG_ADDED && r != REG_REPLACED)
			continue;
		if (nfwd++ == 0) {
			msgb_begin(&fwd, CMD_USER_SYNC);
			msgb_key(&fwd, F_USERS);
			jbuf_addc(&fwd, '[');
		} else
			jbuf_addc(&fwd, ',');
		jbuf_add(&fwd, um.line, um.len);
	}
	/* On disk (or queued for a retry) before anyone hears of them. */
	registry_batch_end(srv->reg);
	if (nfwd > 0) {
		jbuf_adds(&fwd, "]}\n");
		tree_send_servers(srv, from, fwd.p, fwd.len);
	}
	jbuf_free(&fwd);
	return rc;
}

/*
 * A server asks to join through us with the base protocol's
 * AUTHENTICATE, its secret in clear: only with --allow-base-servers.
 * Without it the secret is not even compared, so the line is no
 * oracle for guesses.
 */
enum cmd_ret
cmd_authenticate(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;

	if (tls_peer_refuse_server(p))
		return CMD_CLOSE;
	if (!srv->cfg.allow_base_servers) {
		log_warnx("%s: refused a server: AUTHENTICATE sends the "
		    "cluster secret in clear (accepted only with "
		    "--allow-base-servers)", peer_name(p));
		peer_reply_close(p, CMD_AUTHENTICATION_FAIL,
		    "the base protocol's AUTHENTICATE is not accepted here: "
		    "join with SERVER_HELLO");
		return CMD_CLOSE;
	}
	if (!secret_equal(srv->cfg.secret, m->str[F_SECRET])) {
		log_warnx("%s: refused a server: wrong cluster secret",
		    peer_name(p));
		peer_reply_close(p, CMD_AUTHENTICATION_FAIL,
		    "the supplied secret is incorrect");
		return CMD_CLOSE;
	}
	/* A base-protocol server sends no ACTIVITY_SYNC: live from now. */
	p->synced = 1;
	return link_accept(p, m);
}

/*
 * A server has proved it knows the cluster secret (SERVER_PROOF, or
 * AUTHENTICATE where allowed): take it in as a child, and give it our
 * users, backups and what it may have missed.
 */
enum cmd_ret
link_accept(struct peer *p, struct msg *m)
{
	struct server		*srv = p->srv;
	struct known_server	*k;
	evutil_socket_t		 fd;
	int			 port = 0, one = 1;
	long long		 load = 0;
	const char		*why = NULL;
	char			 err[160];

	/* Links have their own budget, apart from --max-connections. */
	if (srv->nservers >= srv->cfg.max_servers) {
		log_warnx("%s: refused a server: %d server links open (the "
		    "--max-servers maximum)", peer_name(p), srv->nservers);
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "server full: too many server links");
		return CMD_CLOSE;
	}
	if (msg_has(m, F_PORT) && msg_port(m, F_PORT, &port) != 0)
		why = "field 'port' must be an integer from 1 to 65535";
	else if (msg_has(m, F_LOAD) && (msg_int(m, F_LOAD, &load) != 0 ||
	    load < 0))
		why = "field 'load' must be a non-negative integer";
	else if (m->str[F_ID] != NULL && strcmp(m->str[F_ID], srv->id) == 0)
		why = "a server cannot join itself";
	else if (m->str[F_ID] != NULL && path_contains(srv, m->str[F_ID]))
		why = "you are one of my ancestors; joining here would make a "
		    "cycle";
	if (why != NULL) {
		snprintf(err, sizeof err, "%s: %s", msg_cmd_name(m->cmd), why);
		peer_reply_close(p, CMD_INVALID_MESSAGE, err);
		return CMD_CLOSE;
	}
	peer_set_role(p, PEER_SERVER);
	srv->nservers++;
	p->remote_id = xstrdup(m->str[F_ID] != NULL ? m->str[F_ID] : p->addr);
	/* Only a full address makes a server someone's target. */
	if (m->str[F_HOST] != NULL && port > 0) {
		p->remote_host = xstrdup(m->str[F_HOST]);
		p->remote_port = port;
		if (msg_port(m, F_TLS_PORT, &p->remote_tls_port) != 0)
			p->remote_tls_port = 0;
	}
	fd = bufferevent_getfd(p->bev);
	if (fd != -1)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	log_info("%s: server joined", peer_name(p));
	/* A server that gave no address can be no one's target. */
	if (p->remote_host != NULL && port > 0 && (k = known_update(srv,
	    p->remote_id, p->remote_host, port, load)) != NULL) {
		snprintf(k->parent, sizeof k->parent, "%s", srv->id);
		k->tls_port = p->remote_tls_port;
	}
	tree_send_users(srv, p, 1);
	known_replay(srv, p);
	backup_send(srv, p);
	replay_send_sync(srv, p);
	tree_announce(srv);
	return CMD_OK;
}

/* Is id on our path from the root? */
static int
path_contains(struct server *srv, const char *id)
{
	int	 i;

	for (i = 0; i < srv->pathlen; i++)
		if (strcmp(srv->path[i], id) == 0)
			return 1;
	return 0;
}

/*
 * Take the path our parent sent.  If we are on it, the overlay has
 * closed a cycle through us: leave this parent and fail over.
 */
static int
take_parent_path(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	char		*path[PATH_DEPTH_MAX];
	int		 n, i, same;

	if (m->type[F_PATH] != JSON_ARRAY)
		return 0;
	if (tree_parse_path(m->val[F_PATH], path, &n) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "'path' must be an array of at most 63 non-empty server "
		    "ids");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(path[i], srv->id) == 0) {
			tree_free_path(path, n);
			uplink_avoid_parent(srv);
			peer_close(p, "cycle: our parent's path goes through "
			    "us");
			return -1;
		}
	}
	same = n + 1 == srv->pathlen;
	for (i = 0; same && i < n; i++)
		same = strcmp(path[i], srv->path[i]) == 0;
	if (!same)
		tree_set_path(srv, path, n);
	tree_free_path(path, n);
	return 0;
}

/*
 * Our parent accepted us: take its users, give it ours.  Not a byte of
 * the message is used before it proves the parent knows the secret.
 */
enum cmd_ret
cmd_authenticate_success(struct peer *p, struct msg *m)
{
	struct server		*srv = p->srv;
	struct known_server	*k;
	char			 err[256];
	int			 port;

	if (handshake_check_accept(p, m) != 0) {
		peer_reply_close(p, CMD_AUTHENTICATION_FAIL,
		    "no proof of the cluster secret");
		return CMD_CLOSE;
	}
	peer_set_role(p, PEER_SERVER);
	srv->nservers++;
	free(p->remote_id);
	p->remote_id = xstrdup(m->str[F_ID]);
	if (m->str[F_HOST] != NULL && msg_port(m, F_PORT, &port) == 0) {
		free(p->remote_host);
		p->remote_host = xstrdup(m->str[F_HOST]);
		p->remote_port = port;
		if (msg_port(m, F_TLS_PORT, &p->remote_tls_port) != 0)
			p->remote_tls_port = 0;
	}
	uplink_established(srv, p);
	if (p->remote_host != NULL && (k = known_update(srv, p->remote_id,
	    p->remote_host, p->remote_port, 0)) != NULL) {
		k->tls_port = p->remote_tls_port;
		if (m->type[F_PATH] == JSON_ARRAY)
			known_set_parent(k, m->val[F_PATH]);
	}
	if (take_parent_path(p, m) != 0)
		return CMD_CLOSE;
	if (m->type[F_USERS] == JSON_ARRAY &&
	    merge_users(srv, p, m->val[F_USERS], err, sizeof err) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE, err);
		return CMD_CLOSE;
	}
	if (registry_count(srv->reg) > 0)
		tree_send_users(srv, p, 0);
	known_replay(srv, p);
	replay_send_sync(srv, p);
	tree_announce(srv);
	return CMD_OK;
}

/* INVALID_MESSAGE or AUTHENTICATION_FAIL: the other side is closing. */
enum cmd_ret
cmd_close_notice(struct peer *p, struct msg *m)
{
	char	 esc[LOG_ESCAPE_MAX * 4 + 8];

	log_warnx("%s: peer said %s: %s", peer_name(p), msg_cmd_name(m->cmd),
	    log_escape(m->str[F_INFO], strlen(m->str[F_INFO]), esc,
	    sizeof esc));
	if (m->cmd == CMD_AUTHENTICATION_FAIL)
		uplink_refused(p->srv, p, m->str[F_INFO]);
	peer_close(p, "peer sent %s", msg_cmd_name(m->cmd));
	return CMD_CLOSE;
}

/* Remember the announcing server and pass the announce on. */
enum cmd_ret
cmd_server_announce(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	struct known_server	*k;
	long long		 load;
	int			 port;

	if (msg_port(m, F_PORT, &port) != 0 ||
	    msg_int(m, F_LOAD, &load) != 0 || load < 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "SERVER_ANNOUNCE: 'port' must be 1-65535 and 'load' a "
		    "non-negative integer");
		return CMD_CLOSE;
	}
	if (!tree_seen(srv, m))
		return CMD_OK;
	if ((k = known_update(srv, m->str[F_ID], m->str[F_HOSTNAME], port,
	    load)) != NULL) {
		if (msg_port(m, F_TLS_PORT, &k->tls_port) != 0)
			k->tls_port = 0;
		k->reconnecting = m->str[F_STATUS] != NULL &&
		    strcmp(m->str[F_STATUS], MSG_V_RECONNECTING) == 0;
		k->parent[0] = '\0';
		if (m->type[F_PATH] == JSON_ARRAY)
			known_set_parent(k, m->val[F_PATH]);
		known_keep_announce(k, m->line, m->len);
	}
	tree_forward(srv, p, m);
	return CMD_OK;
}

static const char *
lock_origin(struct peer *p, struct msg *m)
{
	return m->str[F_ORIGIN] != NULL ? m->str[F_ORIGIN] :
	    (p->remote_id != NULL ? p->remote_id : "");
}

enum cmd_ret
cmd_lock_request(struct peer *p, struct msg *m)
{
	lock_on_request(p->srv, p, m->str[F_USERNAME], m->str[F_SECRET],
	    lock_origin(p, m));
	return CMD_OK;
}

enum cmd_ret
cmd_lock_answer(struct peer *p, struct msg *m)
{
	lock_on_answer(p->srv, p, m->cmd == CMD_LOCK_ALLOWED,
	    m->str[F_USERNAME], m->str[F_SECRET], lock_origin(p, m));
	return CMD_OK;
}

enum cmd_ret
cmd_user_register_result(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	long long	 time = (long long)wall_ms();
	int		 success;

	if (strcmp(m->str[F_RESULT], MSG_V_SUCCESS) == 0)
		success = 1;
	else if (strcmp(m->str[F_RESULT], MSG_V_FAILURE) == 0)
		success = 0;
	else {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "USER_REGISTER_RESULT: 'result' must be \"success\" or "
		    "\"failure\"");
		return CMD_CLOSE;
	}
	if (msg_has(m, F_TIME) && (msg_int(m, F_TIME, &time) != 0 || time < 0)) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "USER_REGISTER_RESULT: 'time' must be a non-negative "
		    "integer");
		return CMD_CLOSE;
	}
	if (!tree_seen(srv, m))
		return CMD_OK;
	lock_on_result(srv, p, success, m->str[F_USERNAME], m->str[F_SECRET],
	    lock_origin(p, m), (unsigned long long)time);
	tree_forward(srv, p, m);
	return CMD_OK;
}

enum cmd_ret
cmd_user_sync(struct peer *p, struct msg *m)
{
	char	 err[256];

	if (merge_users(p->srv, p, m->val[F_USERS], err, sizeof err) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE, err);
		return CMD_CLOSE;
	}
	return CMD_OK;
}

enum cmd_ret
cmd_pong(struct peer *p, struct msg *m)
{
	(void)p;
	(void)m;
	return CMD_OK;
}

/* Our parent's BACKUP_LIST: where to go if it fails, and our path. */
enum cmd_ret
cmd_backup_list(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;

	if (p != uplink_peer(srv)) {
		log_debug("%s: ignoring a BACKUP_LIST from a child",
		    peer_name(p));
		return CMD_OK;
	}
	if (uplink_set_backups(srv, m->val[F_SERVERS]) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "BACKUP_LIST: 'servers' must hold objects with a string "
		    "'host' and a 'port' from 1 to 65535");
		return CMD_CLOSE;
	}
	return take_parent_path(p, m) == 0 ? CMD_OK : CMD_CLOSE;
}

/*
 * A server left the tree (shut down, or a link to it failed).  If it
 * is our parent telling us it is going, fail over now rather than
 * retrying it.
 */
enum cmd_ret
cmd_server_leave(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	const char	*id = m->str[F_ID];
	long long	 time = 0;

	if (!tree_seen(srv, m))
		return CMD_OK;
	if (strcmp(id, srv->id) == 0) {
		/* Someone lost its link to us; we are alive: say so. */
		tree_announce(srv);
		return CMD_OK;
	}
	if (msg_has(m, F_TIME) && msg_int(m, F_TIME, &time) != 0)
		time = 0;
	known_on_leave(srv, id, m->str[F_MID], time);
	tree_forward(srv, p, m);
	if (p == uplink_peer(srv) && p->remote_id != NULL &&
	    strcmp(p->remote_id, id) == 0) {
		uplink_avoid_parent(srv);
		peer_close(p, "our parent is leaving the tree");
		return CMD_CLOSE;
	}
	return CMD_OK;
}
