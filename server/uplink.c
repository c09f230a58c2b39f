/*
 * The parent link's state machine.  WAITING -> CONNECTING (TCP) ->
 * AUTHENTICATING (AUTHENTICATE sent) -> ESTABLISHED (AUTHENTICATE_SUCCESS
 * received).  Any failure drops back to WAITING; the first retry is
 * immediate (after --reconnect-delay), later ones back off exponentially
 * to a cap, with jitter so orphans do not reconnect in lockstep.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "msgbuild.h"
#include "secret.h"
#include "server.h"
#include "uplink.h"

#define UPLINK_BACKOFF_MIN_MS	50
#define UPLINK_BACKOFF_MAX_MS	2000

struct uplink {
	enum uplink_state	 state;
	struct peer		*peer;
	struct event		*retry_ev;
	char			 host[SERVER_NAME_MAX];
	int			 port;
	int			 attempt;
	int			 ever_established;
};

static void	uplink_retry_cb(evutil_socket_t, short, void *);

void
uplink_init(struct server *srv)
{
	struct uplink	*u;

	if ((u = calloc(1, sizeof *u)) == NULL)
		fatal("calloc");
	if ((u->retry_ev = evtimer_new(srv->base, uplink_retry_cb, srv)) ==
	    NULL)
		fatalx("evtimer_new");
	u->state = UPLINK_NONE;
	srv->uplink = u;
}

void
uplink_free(struct server *srv)
{
	if (srv->uplink == NULL)
		return;
	event_free(srv->uplink->retry_ev);
	free(srv->uplink);
	srv->uplink = NULL;
}

enum uplink_state
uplink_state(const struct server *srv)
{
	return srv->uplink->state;
}

struct peer *
uplink_peer(const struct server *srv)
{
	return srv->uplink->state == UPLINK_ESTABLISHED ?
	    srv->uplink->peer : NULL;
}

const char *
uplink_state_name(enum uplink_state st)
{
	switch (st) {
	case UPLINK_NONE:
		return "root";
	case UPLINK_WAITING:
		return "waiting";
	case UPLINK_CONNECTING:
		return "connecting";
	case UPLINK_AUTHENTICATING:
		return "authenticating";
	case UPLINK_ESTABLISHED:
		return "established";
	}
	return "?";
}

/* Open the TCP connection to host:port without blocking on DNS. */
static void
uplink_connect(struct server *srv)
{
	struct uplink		*u = srv->uplink;
	struct bufferevent	*bev;
	struct sockaddr_in	 sin;
	char			 addr[SERVER_NAME_MAX + 8];
	const char		*ip = u->host;
	int			 rc;

	u->attempt++;
	bev = bufferevent_socket_new(srv->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		fatalx("bufferevent_socket_new");
	snprintf(addr, sizeof addr, "%s:%d", u->host, u->port);
	u->peer = peer_new(srv, bev, addr, 1);
	u->peer->role = PEER_UPLINK_AUTH;
	u->state = UPLINK_CONNECTING;
	log_info("uplink: connecting to %s (attempt %d)", addr, u->attempt);

	if (strcmp(ip, "localhost") == 0)
		ip = "127.0.0.1";
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)u->port);
	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1)
		rc = bufferevent_socket_connect(bev,
		    (struct sockaddr *)&sin, sizeof sin);
	else
		rc = bufferevent_socket_connect_hostname(bev, srv->dns,
		    AF_INET, u->host, u->port);
	if (rc != 0)
		peer_close(u->peer, "cannot connect to %s", addr);
}

static void
uplink_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)events;
	if (srv->uplink->state == UPLINK_WAITING)
		uplink_connect(srv);
}

/* Wait before the next attempt: immediate first, then backoff + jitter. */
static void
uplink_schedule(struct server *srv)
{
	struct uplink	*u = srv->uplink;
	struct timeval	 tv;
	unsigned	 r;
	long		 ms = srv->cfg.reconnect_delay_ms, b;
	int		 i;

	u->state = UPLINK_WAITING;
	u->peer = NULL;
	if (u->attempt > 0) {
		b = UPLINK_BACKOFF_MIN_MS;
		for (i = 1; i < u->attempt && b < UPLINK_BACKOFF_MAX_MS; i++)
			b *= 2;
		if (b > UPLINK_BACKOFF_MAX_MS)
			b = UPLINK_BACKOFF_MAX_MS;
		if (secret_random_bytes(&r, sizeof r) != 0)
			r = 0;
		ms += b / 2 + (long)(r % (unsigned)(b / 2 + 1));
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(u->retry_ev, &tv);
}

/* Join the tree through host:port. */
void
uplink_start(struct server *srv, const char *host, int port)
{
	struct uplink	*u = srv->uplink;

	snprintf(u->host, sizeof u->host, "%s", host);
	u->port = port;
	u->attempt = 0;
	u->state = UPLINK_WAITING;
	uplink_connect(srv);
}

/* TCP is up: introduce ourselves. */
void
uplink_connected(struct server *srv, struct peer *p)
{
	struct uplink	*u = srv->uplink;
	struct jbuf	*b = &srv->out;
	evutil_socket_t	 fd;
	int		 one = 1;

	if (p != u->peer)
		return;
	fd = bufferevent_getfd(p->bev);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	u->state = UPLINK_AUTHENTICATING;
	jbuf_reset(b);
	msgb_begin(b, CMD_AUTHENTICATE);
	msgb_str(b, F_SECRET, srv->cfg.secret);
	msgb_str(b, F_ID, srv->id);
	msgb_str(b, F_HOST, srv->cfg.listen_host);
	msgb_int(b, F_PORT, srv->cfg.listen_port);
	msgb_end(b);
	peer_send_jbuf(p, b);
}

/* AUTHENTICATE_SUCCESS arrived: we are part of the tree. */
void
uplink_established(struct server *srv, struct peer *p)
{
	struct uplink	*u = srv->uplink;

	u->state = UPLINK_ESTABLISHED;
	u->attempt = 0;
	u->ever_established = 1;
	log_info("uplink: joined the cluster through %s", peer_name(p));
}

/*
 * The parent refused our secret.  At start that is a configuration
 * error worth stopping for; later it is one more failed attempt.
 */
void
uplink_refused(struct server *srv, struct peer *p, const char *info)
{
	struct uplink	*u = srv->uplink;

	if (p != u->peer)
		return;
	if (!u->ever_established) {
		log_warnx("uplink: %s:%d refused to let us join: %s", u->host,
		    u->port, info);
		srv->exit_code = 1;
		server_shutdown(srv, "the cluster secret was refused");
	}
}

void
uplink_peer_closed(struct server *srv, struct peer *p)
{
	struct uplink	*u = srv->uplink;

	if (u == NULL || p != u->peer)
		return;
	if (u->state == UPLINK_ESTABLISHED)
		log_warnx("uplink: lost the parent link to %s:%d", u->host,
		    u->port);
	u->peer = NULL;
	if (srv->stopping)
		return;
	uplink_schedule(srv);
}
