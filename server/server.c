/*
 * The server object: creation with its tables, the listening socket and
 * its accept path with a connection cap, and shutdown.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "auth.h"
#include "clock.h"
#include "limit.h"
#include "lock.h"
#include "log.h"
#include "msgbuild.h"
#include "registry.h"
#include "secret.h"
#include "seen.h"
#include "server.h"
#include "uplink.h"
#include "xmalloc.h"

#define SERVER_BACKLOG		1024
#define SERVER_ACCEPT_PAUSE_MS	100
#define SERVER_MMAP_THRESHOLD	(128 * 1024)	/* glibc's default */

/* Build a server with empty tables; nothing listens yet. */
struct server *
server_new(struct event_base *base, const struct config *cfg)
{
	struct server	*srv;
	unsigned char	 r[8];
	int		 i;

	srv = xcalloc(1, sizeof *srv);
	srv->base = base;
	srv->cfg = *cfg;
	srv->start_ms = now_ms();
	srv->start_wall_ms = wall_ms();
	TAILQ_INIT(&srv->peers);
	TAILQ_INIT(&srv->clients);
	TAILQ_INIT(&srv->links);
	TAILQ_INIT(&srv->dirty);
	if ((srv->flush_ev = event_new(base, -1, 0, peer_flush_cb, srv)) ==
	    NULL)
		fatalx("event_new");
	/* Fails harmlessly on a base without priorities (unit tests). */
	(void)event_priority_set(srv->flush_ev, SERVER_PRIORITIES - 1);
	if (secret_random_bytes(r, sizeof r) != 0)
		fatal("getrandom");
	for (i = 0; i < 8; i++)
		snprintf(srv->id + 2 * i, 3, "%02x", r[i]);
	srv->known = xcalloc((size_t)cfg->max_servers, sizeof *srv->known);
	/*
	 * Keys: a random one for local hashes, the slow link key.  Fix
	 * glibc's mmap threshold first: freeing scrypt's 16 MiB buffer
	 * would raise it (and the trim threshold with it) for good, and
	 * memory freed after a flood of connections would stay ours.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, SERVER_MMAP_THRESHOLD);
	if (secret_random_bytes(srv->session_key, sizeof srv->session_key) != 0)
		fatal("getrandom");
	if (auth_init() != 0 ||
	    auth_derive_key(srv->cfg.secret, srv->link_key) != 0)
		fatalx("scrypt: cannot derive the link key");
	token_init(srv);
	srv->hashpool = hashpool_new(srv, cfg->hash_threads,
	    cfg->hash_cpu);
	srv->logincache = logincache_new((size_t)cfg->login_cache_size,
	    (uint64_t)cfg->login_cache_ttl_ms);
	srv->reg = registry_new();
	registry_set_max(srv->reg, cfg->max_users);
	srv->limits = limit_new();
	srv->seen_ctl = seen_new(cfg->max_servers);
	srv->seen_act = seen_new(cfg->max_servers);
	srv->path[0] = xstrdup(srv->id);
	srv->pathlen = 1;
	srv->locks = lock_table_new();
	jbuf_init(&srv->out);
	jbuf_init(&srv->who_list);
	srv->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (srv->dns == NULL)
		srv->dns = evdns_base_new(base, 0);
	uplink_init(srv);
	delivery_init(srv);
	return srv;
}

#define SERVER_FULL_INFO	"server full: too many connections"

/*
 * Past --max-connections, room for servers that join (a child failing
 * over to us) is kept: up to --max-servers more connections are taken,
 * each of which may only AUTHENTICATE.  When those are taken too, the
 * oldest that has not proved itself a server makes room, so clients
 * holding every slot cannot lock a server out.  -1 if there is no room.
 */
static int
server_take_reserve(struct server *srv)
{
	struct peer	*p;

	if (srv->nreserve < srv->cfg.max_servers)
		return 0;
	TAILQ_FOREACH(p, &srv->peers, entry) {
		if (p->reserve && p->role == PEER_NEW && !p->closing) {
			peer_reply_close(p, CMD_INVALID_MESSAGE,
			    SERVER_FULL_INFO);
			peer_uncount(p);
			return 0;
		}
	}
	return -1;
}

/* A connection on either listener; the TLS one wraps it in TLS. */
void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	static const char	 full[] = "{\"command\":\"INVALID_MESSAGE\","
	    "\"info\":\"" SERVER_FULL_INFO "\"}\n";
	struct server		*srv = arg;
	struct bufferevent	*bev;
	struct peer		*p;
	char			 host[INET6_ADDRSTRLEN], addr[64];
	int			 one = 1, reserve = 0;

	if (getnameinfo(sa, (socklen_t)salen, host, sizeof host, NULL, 0,
	    NI_NUMERICHOST) != 0)
		snprintf(host, sizeof host, "?");
	snprintf(addr, sizeof addr, "%s:%d", host,
	    ntohs(((struct sockaddr_in *)sa)->sin_port));
	if (srv->nconns - srv->nreserve >= srv->cfg.max_conns) {
		if (server_take_reserve(srv) != 0) {
			log_warnx("refusing %s: %d connections open (the "
			    "maximum)", addr, srv->nconns);
			(void)!write(fd, full, sizeof full - 1);
			close(fd);
			return;
		}
		reserve = 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (l == srv->tls_listener)
		bev = tls_accept_bev(srv, fd);
	else
		bev = bufferevent_socket_new(srv->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("refusing %s: cannot allocate a buffer", addr);
		close(fd);
		return;
	}
	p = peer_new(srv, bev, addr, 0);
	p->tls = l == srv->tls_listener;
	if (reserve) {
		p->reserve = 1;
		srv->nreserve++;
	}
}

/*
 * A connection wants to be a client (LOGIN or REGISTER).  One taken
 * past --max-connections may, if a client has left since; otherwise it
 * is refused as a full server would have refused it.  0 if refused.
 */
int
server_client_room(struct peer *p)
{
	struct server	*srv = p->srv;

	if (!p->reserve)
		return 1;
	if (srv->nconns - srv->nreserve < srv->cfg.max_conns) {
		p->reserve = 0;
		srv->nreserve--;
		return 1;
	}
	log_warnx("refusing %s: %d connections open (the maximum)",
	    peer_name(p), srv->nconns - srv->nreserve);
	peer_reply_close(p, CMD_INVALID_MESSAGE, SERVER_FULL_INFO);
	return 0;
}

static void
server_accept_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)events;
	if (srv->listener != NULL)
		evconnlistener_enable(srv->listener);
	if (srv->tls_listener != NULL)
		evconnlistener_enable(srv->tls_listener);
}

/* Out of descriptors: pause accepting instead of spinning on EMFILE. */
void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv = { 0, SERVER_ACCEPT_PAUSE_MS * 1000 };
	int		 err = EVUTIL_SOCKET_ERROR();

	log_warnx("accept: %s; pausing for %d ms",
	    evutil_socket_error_to_string(err), SERVER_ACCEPT_PAUSE_MS);
	evconnlistener_disable(l);
	event_base_once(srv->base, -1, EV_TIMEOUT, server_accept_resume_cb,
	    srv, &tv);
}

/*
 * A listener on port at --bind (else -lh), taking connections through
 * server_accept_cb, plaintext and TLS alike; NULL, said why, if the
 * address does not resolve or the port cannot be bound.
 */
struct evconnlistener *
server_bind(struct server *srv, int port)
{
	struct addrinfo		 hints, *res;
	struct evconnlistener	*l;
	char			 portstr[16];
	const char		*host = srv->cfg.bind_addr != NULL ?
				    srv->cfg.bind_addr : srv->cfg.listen_host;
	int			 rc, err;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(portstr, sizeof portstr, "%d", port);
	if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		log_errorx("cannot resolve %s: %s", host, gai_strerror(rc));
		return NULL;
	}
	l = evconnlistener_new_bind(srv->base, server_accept_cb, srv,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    SERVER_BACKLOG, res->ai_addr, (int)res->ai_addrlen);
	err = errno;
	freeaddrinfo(res);
	if (l == NULL) {
		log_errorx("cannot listen on %s:%s: %s", host, portstr,
		    strerror(err));
		return NULL;
	}
	evconnlistener_set_error_cb(l, server_accept_error_cb);
	return l;
}

/*
 * Bind the listening sockets (plaintext unless --no-plaintext, TLS with
 * --tls-port); errors are reported, not fatal here.
 */
int
server_listen(struct server *srv)
{
	if (tls_listen(srv) != 0)
		return -1;
	if (srv->cfg.no_plaintext)
		return 0;
	srv->listener = server_bind(srv, srv->cfg.listen_port);
	return srv->listener != NULL ? 0 : -1;
}

#define SERVER_LEAVE_MAX_MS	200
#define SERVER_LEAVE_POLL_MS	2

/* Done leaving once every goodbye has left our buffers, or time is up. */
static void
server_leave_check_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv = { 0, SERVER_LEAVE_POLL_MS * 1000 };
	struct peer	*p;
	size_t		 pending = 0;

	(void)fd;
	(void)events;
	TAILQ_FOREACH(p, &srv->peers, entry)
		pending += peer_queued(p);
	if (pending == 0 || now_ms() >= srv->leave_deadline_ms) {
		server_shutdown(srv, "left the cluster");
		return;
	}
	event_base_once(srv->base, -1, EV_TIMEOUT, server_leave_check_cb, srv,
	    &tv);
}

/*
 * Leave gracefully: tell our neighbours (children re-parent at once
 * instead of retrying us), close clients so they fail over, stop
 * accepting, and exit as soon as that has been written (at most
 * SERVER_LEAVE_MAX_MS).
 */
void
server_leave(struct server *srv, const char *why)
{
	struct peer	*p;

	if (srv->stopping)
		return;
	log_info("leaving the cluster: %s", why);
	tree_leave(srv, srv->id, why);
	srv->stopping = 1;
	srv->leave_deadline_ms = now_ms() + SERVER_LEAVE_MAX_MS;
	if (srv->listener != NULL)
		evconnlistener_disable(srv->listener);
	if (srv->tls_listener != NULL)
		evconnlistener_disable(srv->tls_listener);
	TAILQ_FOREACH(p, &srv->peers, entry)
		if (p->role == PEER_CLIENT || p->role == PEER_NEW ||
		    p->role == PEER_LINK_AUTH)
			peer_close(p, "server shutting down");
	server_leave_check_cb(-1, 0, srv);
}

/*
 * The scratch buffer, reset, for owner to build one line in.  A second
 * holder would clobber bytes the first may still be sending: a broken
 * invariant, not something a peer can cause.
 */
struct jbuf *
server_out_take_as(struct server *srv, const char *owner)
{
	if (srv->out_owner != NULL)
		fatalx("%s: the scratch buffer is still held by %s", owner,
		    srv->out_owner);
	srv->out_owner = owner;
	jbuf_reset(&srv->out);
	return &srv->out;
}

/* The scratch buffer's holder is done with it. */
void
server_out_put(struct server *srv)
{
	srv->out_owner = NULL;
}

/* Stop the loop; the caller frees. */
void
server_shutdown(struct server *srv, const char *why)
{
	if (srv->exiting)
		return;
	srv->exiting = 1;
	srv->stopping = 1;
	log_info("shutting down: %s", why);
	event_base_loopexit(srv->base, NULL);
}

void
server_free(struct server *srv)
{
	struct peer	*p;
	int		 i;

	srv->stopping = 1;
	monitor_free(srv);
	while ((p = TAILQ_FIRST(&srv->peers)) != NULL)
		peer_free(p);
	if (srv->listener != NULL)
		evconnlistener_free(srv->listener);
	tls_free(srv);
	if (srv->cron_ev != NULL)
		event_free(srv->cron_ev);
	event_free(srv->flush_ev);
	for (i = 0; i < 3; i++)
		if (srv->sig_ev[i] != NULL)
			event_free(srv->sig_ev[i]);
	if (srv->dns != NULL)
		evdns_base_free(srv->dns, 0);
	delivery_free(srv);
	uplink_free(srv);
	hashpool_free(srv->hashpool);
	logincache_free(srv->logincache);
	lock_table_free(srv->locks);
	registry_free(srv->reg);
	history_close(srv->history);
	limit_free(srv->limits);
	seen_free(srv->seen_ctl);
	seen_free(srv->seen_act);
	tree_free_path(srv->path, srv->pathlen);
	jbuf_free(&srv->out);
	jbuf_free(&srv->who_list);
	known_free(srv);
	free(srv->known);
	free(srv);
}
