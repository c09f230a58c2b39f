/*
 * The parent link's state machine.
 *
 *   WAITING -> CONNECTING (TCP) -> AUTHENTICATING (SERVER_HELLO sent,
 *     the handshake of handshake.c) -> ESTABLISHED (AUTHENTICATE_SUCCESS
 *     received with the parent's proof)
 *
 * On losing an established parent we build a round of targets: the old
 * parent first (the link may have broken, not the server; skipped when
 * the parent left, went silent or sent us into a cycle), then the backup
 * list it gave us.  Targets are tried back to back; when a round fails
 * we start another after an exponential backoff (50 ms doubling to 2 s,
 * with jitter so orphans do not reconnect in lockstep), forever.
 *
 * A server whose parent left it an empty backup list is the designated
 * successor of a root: it becomes root at once, and only probes its old
 * targets every BACKGROUND_MS so a repaired link merges the groups.
 * Once it has served as root for a liveness window it also probes every
 * server it knew of that is not in its tree now: after a one-way link
 * failure the lost parent may stay out of reach while the rest of the
 * old tree is reachable, and by then a crashed root's orphans have all
 * joined us (servers of our own tree refuse us as their ancestor).
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
#include "tls.h"
#include "uplink.h"
#include "xmalloc.h"

#define UPLINK_BACKOFF_MIN_MS	50
#define UPLINK_BACKOFF_MAX_MS	2000
#define UPLINK_BACKGROUND_MS	2000
#define UPLINK_DEAD_ROUNDS	3
#define UPLINK_FLAP_MS		1000
#define UPLINK_TARGETS_MAX	32
#define UPLINK_SINCE_MARGIN_MS	1000	/* clock skew, in-flight lines */

struct uplink_target {
	char	 host[SERVER_NAME_MAX];
	int	 port;
	int	 tls_port;	/* 0: none known */
};

struct uplink {
	enum uplink_state	 state;
	struct peer		*peer;
	struct event		*retry_ev;
	struct uplink_target	 parent;		/* current or last */
	struct uplink_target	 lost;		/* the parent we lost */
	struct uplink_target	 backups[UPLINK_TARGETS_MAX];
	int			 nbackups;
	struct uplink_target	 round[UPLINK_TARGETS_MAX + 1];
	int			 nround;
	int			 next;		/* index into round */
	int			 rounds;	/* failed rounds in a row */
	int			 ever_established;
	int			 successor;	/* root by design, probing */
	uint64_t		 successor_ms;	/* since when */
	int			 got_list;	/* this parent sent a BACKUP_LIST */
	int			 round_connected; /* a target took us in */
	uint64_t		 established_ms;
	int			 flaps;		/* links that died young */
	int			 avoid_parent;
};

static void	uplink_retry_cb(evutil_socket_t, short, void *);
static void	uplink_next(struct server *);

#define US(s)	(1u << (s))

/*
 * Every state change of the uplink, in one table: from which states an
 * event may come, and where it leads.  uplink_fsm() is the only place
 * the state is assigned and logs each transition; the functions below
 * do the work and say which event happened.
 */
static const struct uplink_transition {
	unsigned		 from;		/* US() mask */
	enum uplink_event	 ev;
	enum uplink_state	 to;
} uplink_table[] = {
	{ US(UPLINK_NONE), UE_START, UPLINK_WAITING },
	{ US(UPLINK_NONE) | US(UPLINK_WAITING) | US(UPLINK_CONNECTING) |
	  US(UPLINK_AUTHENTICATING), UE_DIAL, UPLINK_CONNECTING },
	{ US(UPLINK_CONNECTING), UE_CONNECTED, UPLINK_AUTHENTICATING },
	{ US(UPLINK_AUTHENTICATING), UE_ACCEPTED, UPLINK_ESTABLISHED },
	{ US(UPLINK_WAITING) | US(UPLINK_CONNECTING) |
	  US(UPLINK_AUTHENTICATING), UE_ROUND_FAILED, UPLINK_WAITING },
	{ US(UPLINK_NONE) | US(UPLINK_WAITING) | US(UPLINK_CONNECTING) |
	  US(UPLINK_AUTHENTICATING), UE_SERVE_AS_ROOT, UPLINK_NONE },
	{ US(UPLINK_ESTABLISHED), UE_LOST, UPLINK_WAITING },
	{ US(UPLINK_ESTABLISHED), UE_LOST_AS_SUCCESSOR, UPLINK_NONE },
};

const char *
uplink_event_name(enum uplink_event ev)
{
	switch (ev) {
	case UE_START:
		return "start";
	case UE_DIAL:
		return "dial";
	case UE_CONNECTED:
		return "connected";
	case UE_ACCEPTED:
		return "accepted";
	case UE_ROUND_FAILED:
		return "round failed";
	case UE_SERVE_AS_ROOT:
		return "serve as root";
	case UE_LOST:
		return "lost";
	case UE_LOST_AS_SUCCESSOR:
		return "lost, successor";
	}
	return "?";
}

/*
 * Take the transition for ev from the current state.  An event the
 * table does not allow here is a bug: it is logged and the state kept.
 */
int
uplink_fsm(struct server *srv, enum uplink_event ev)
{
	struct uplink	*u = srv->uplink;
	size_t		 i;

	for (i = 0; i < sizeof uplink_table / sizeof uplink_table[0]; i++) {
		if (uplink_table[i].ev != ev ||
		    (uplink_table[i].from & US(u->state)) == 0)
			continue;
		log_debug("uplink: %s -> %s (%s)", uplink_state_name(u->state),
		    uplink_state_name(uplink_table[i].to),
		    uplink_event_name(ev));
		u->state = uplink_table[i].to;
		return 0;
	}
	log_warnx("uplink: event %s in state %s has no transition",
	    uplink_event_name(ev), uplink_state_name(u->state));
	return -1;
}

void
uplink_init(struct server *srv)
{
	struct uplink	*u;

	u = xcalloc(1, sizeof *u);
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

/* Are we trying to get back into the tree (not a root by design)? */
int
uplink_reconnecting(const struct server *srv)
{
	const struct uplink	*u = srv->uplink;

	return u->state != UPLINK_NONE && u->state != UPLINK_ESTABLISHED &&
	    !u->successor;
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

/* Is a server of our tree announcing itself from this address? */
static int
target_in_tree(struct server *srv, const struct uplink_target *t)
{
	int	 i;

	for (i = 0; i < srv->nknown; i++) {
		struct known_server *k = &srv->known[i];

		if (k->state == KNOWN_UP && (k->port == t->port ||
		    (t->tls_port > 0 && k->tls_port == t->tls_port)) &&
		    strcmp(k->host, t->host) == 0)
			return 1;
	}
	return 0;
}

static int
target_is_self(struct server *srv, const struct uplink_target *t)
{
	return (t->port == srv->cfg.listen_port || (t->tls_port > 0 &&
	    t->tls_port == srv->cfg.tls_port)) &&
	    strcmp(t->host, srv->cfg.listen_host) == 0;
}

/* The port we dial: the TLS one with --remote-tls (0: it has none). */
static int
target_port(struct server *srv, const struct uplink_target *t)
{
	return srv->cfg.remote_tls ? t->tls_port : t->port;
}

/* Open the TCP connection to a target without blocking on DNS. */
static void
uplink_connect(struct server *srv, const struct uplink_target *t)
{
	struct uplink		*u = srv->uplink;
	struct bufferevent	*bev;
	struct sockaddr_in	 sin;
	char			 addr[SERVER_NAME_MAX + 8];
	const char		*ip = t->host;
	int			 rc, port = target_port(srv, t);

	/* TLS checks the certificate against the name we dial. */
	bev = srv->cfg.remote_tls ? tls_connect_bev(srv, t->host) : NULL;
	if (bev == NULL)
		bev = bufferevent_socket_new(srv->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		fatalx("bufferevent_socket_new");
	snprintf(addr, sizeof addr, "%s:%d", t->host, port);
	u->parent = *t;
	u->peer = peer_new(srv, bev, addr, 1);
	peer_set_role(u->peer, PEER_UPLINK_AUTH);
	u->peer->tls = srv->cfg.remote_tls;
	if (srv->cfg.remote_tls && !tls_bev_is_tls(bev)) {
		peer_close(u->peer, "cannot set up TLS for %s",
		    log_safe(addr));
		return;
	}
	uplink_fsm(srv, UE_DIAL);
	log_debug("uplink: connecting to %s", log_safe(addr));

	if (strcmp(ip, "localhost") == 0)
		ip = "127.0.0.1";
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1)
		rc = bufferevent_socket_connect(bev,
		    (struct sockaddr *)&sin, sizeof sin);
	else
		rc = bufferevent_socket_connect_hostname(bev, srv->dns,
		    AF_INET, t->host, port);
	if (rc != 0)
		peer_close(u->peer, "cannot connect to %s", log_safe(addr));
}

/* Add to the round the servers we knew of that are not in our tree. */
static void
uplink_probe_known(struct server *srv)
{
	struct uplink		*u = srv->uplink;
	struct uplink_target	 t;
	int			 i, j;

	for (i = 0; i < srv->nknown &&
	    u->nround < UPLINK_TARGETS_MAX + 1; i++) {
		struct known_server *k = &srv->known[i];

		if (k->state == KNOWN_UP || k->port <= 0 ||
		    strlen(k->host) >= sizeof t.host)
			continue;
		memset(&t, 0, sizeof t);
		snprintf(t.host, sizeof t.host, "%s", k->host);
		t.port = k->port;
		t.tls_port = k->tls_port;
		if (target_is_self(srv, &t))
			continue;
		for (j = 0; j < u->nround; j++)
			if (u->round[j].port == t.port &&
			    strcmp(u->round[j].host, t.host) == 0)
				break;
		if (j == u->nround)
			u->round[u->nround++] = t;
	}
}

static void
uplink_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)events;
	struct uplink	*u = srv->uplink;
	int		 i;

	if (u->state == UPLINK_NONE && u->successor) {
		/*
		 * Background probe: the lost parent too, even one that went
		 * silent, since a stopped root that comes back must be
		 * merged with again.  But not an address where a server of
		 * our own tree now announces itself (a restarted server on
		 * the old port): joining it would only close a loop.
		 */
		u->nround = 0;
		if (!target_in_tree(srv, &u->lost))
			u->round[u->nround++] = u->lost;
		for (i = 0; i < u->nbackups; i++)
			if (!target_in_tree(srv, &u->backups[i]))
				u->round[u->nround++] = u->backups[i];
		if (now_ms() - u->successor_ms >=
		    (uint64_t)srv->cfg.liveness_ms)
			uplink_probe_known(srv);
	}
	if (u->state == UPLINK_WAITING || u->state == UPLINK_NONE) {
		u->next = 0;
		uplink_next(srv);
	}
}

static void
uplink_wait(struct server *srv, long ms)
{
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(srv->uplink->retry_ev, &tv);
}

/* Exponential backoff with jitter for the n-th failure in a row. */
static long
uplink_backoff_ms(int n)
{
	unsigned	 r;
	long		 b = UPLINK_BACKOFF_MIN_MS;
	int		 i;

	if (n <= 0)
		return 0;
	for (i = 1; i < n && b < UPLINK_BACKOFF_MAX_MS; i++)
		b *= 2;
	if (b > UPLINK_BACKOFF_MAX_MS)
		b = UPLINK_BACKOFF_MAX_MS;
	if (secret_random_bytes(&r, sizeof r) != 0)
		r = 0;
	return b / 2 + (long)(r % (unsigned)(b / 2 + 1));
}

/* A round failed: back off (exponentially, with jitter) and retry. */
static void
uplink_round_failed(struct server *srv)
{
	struct uplink	*u = srv->uplink;
	long		 b;

	u->peer = NULL;
	if (u->successor) {
		uplink_fsm(srv, UE_SERVE_AS_ROOT);
		uplink_wait(srv, UPLINK_BACKGROUND_MS);
		return;
	}
	u->rounds++;
	if (!u->round_connected && u->rounds >= UPLINK_DEAD_ROUNDS &&
	    u->ever_established) {
		/*
		 * Nobody on our list takes us in (gone, silent, or now in
		 * our own subtree and refusing us as its ancestor).  Serve
		 * our part of the tree as its root and keep probing, so a
		 * repaired link merges us back.
		 */
		log_warnx("uplink: no server of the backup list took us in "
		    "for %d rounds: taking over as root", u->rounds);
		u->successor = 1;
		u->successor_ms = now_ms();
		uplink_fsm(srv, UE_SERVE_AS_ROOT);
		uplink_wait(srv, UPLINK_BACKGROUND_MS);
		return;
	}
	uplink_fsm(srv, UE_ROUND_FAILED);
	u->round_connected = 0;
	b = uplink_backoff_ms(u->rounds);
	/* Every round at debug level; a warning now and then is enough. */
	if (u->rounds == 1 || u->rounds % 10 == 0)
		log_warnx("uplink: no server of %d reachable (round %d); "
		    "retrying in %ld ms", u->nround, u->rounds, b);
	else
		log_debug("uplink: no server of %d reachable (round %d); "
		    "retrying in %ld ms", u->nround, u->rounds, b);
	uplink_wait(srv, b);
}

/* Try the next target of the round, or end the round. */
static void
uplink_next(struct server *srv)
{
	struct uplink	*u = srv->uplink;

	while (u->next < u->nround &&
	    (target_is_self(srv, &u->round[u->next]) ||
	    target_port(srv, &u->round[u->next]) == 0))
		u->next++;
	if (u->next >= u->nround) {
		uplink_round_failed(srv);
		return;
	}
	uplink_connect(srv, &u->round[u->next++]);
}

/* Join the tree through host:port (the -rh/-rp of the command line). */
void
uplink_start(struct server *srv, const char *host, int port)
{
	struct uplink	*u = srv->uplink;

	snprintf(u->round[0].host, sizeof u->round[0].host, "%s", host);
	u->round[0].port = port;
	u->round[0].tls_port = srv->cfg.remote_tls ? port : 0;
	u->nround = 1;
	u->next = 0;
	u->rounds = 0;
	uplink_fsm(srv, UE_START);
	uplink_next(srv);
}

/*
 * Lost the parent: build the failover round and start it now.  With an
 * empty backup list we are the root's designated successor.
 */
static void
uplink_failover(struct server *srv)
{
	struct uplink	*u = srv->uplink;
	int		 i;

	srv->stats.failovers++;
	u->nround = 0;
	u->lost = u->parent;
	if (!u->avoid_parent)
		u->round[u->nround++] = u->parent;
	for (i = 0; i < u->nbackups; i++)
		u->round[u->nround++] = u->backups[i];
	/* Only an empty list the parent really sent makes a successor. */
	u->successor = u->ever_established && u->got_list && u->nbackups == 0;
	u->successor_ms = now_ms();
	u->avoid_parent = 0;
	u->next = 0;
	u->rounds = 0;
	u->round_connected = 0;
	uplink_fsm(srv, u->successor ? UE_LOST_AS_SUCCESSOR : UE_LOST);
	if (u->successor)
		log_warnx("uplink: parent lost and no backup: taking over "
		    "as root");
	tree_set_path(srv, NULL, 0);
	/*
	 * A parent that drops us right after accepting (or a link that
	 * keeps breaking) must not turn into a reconnect storm: links that
	 * die within UPLINK_FLAP_MS back off like failed rounds.
	 */
	if (now_ms() - u->established_ms < UPLINK_FLAP_MS)
		u->flaps++;
	else
		u->flaps = 0;
	if (u->flaps > 0 || srv->cfg.reconnect_delay_ms > 0) {
		uplink_wait(srv, srv->cfg.reconnect_delay_ms +
		    uplink_backoff_ms(u->flaps));
		return;
	}
	uplink_next(srv);
}

/* TCP is up: introduce ourselves. */
void
uplink_connected(struct server *srv, struct peer *p)
{
	struct uplink	*u = srv->uplink;
	evutil_socket_t	 fd;
	int		 one = 1;

	if (p != u->peer)
		return;
	fd = bufferevent_getfd(p->bev);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	uplink_fsm(srv, UE_CONNECTED);
	p->created_ms = now_ms();
	handshake_hello(srv, p);
}

/* AUTHENTICATE_SUCCESS arrived: we are part of the tree. */
void
uplink_established(struct server *srv, struct peer *p)
{
	struct uplink	*u = srv->uplink;

	evtimer_del(u->retry_ev);
	if (u->successor || u->rounds > 0 || u->ever_established) {
		log_info("uplink: rejoined the cluster through %s after %d "
		    "failed rounds", peer_name(p), u->rounds);
		srv->stats.rejoins++;
	} else
		log_info("uplink: joined the cluster through %s",
		    peer_name(p));
	uplink_fsm(srv, UE_ACCEPTED);
	u->established_ms = now_ms();
	u->round_connected = 1;
	u->rounds = 0;
	u->ever_established = 1;
	u->successor = 0;
	u->nbackups = 0;
	u->got_list = 0;
}

/*
 * While we reconnect, our children get where we are trying to go: the
 * parent we lost and its backups, all of them our ancestors.
 */
int
uplink_targets(struct server *srv, const char **hosts, int *ports,
    int *tls_ports, int max)
{
	struct uplink	*u = srv->uplink;
	int		 i, n = 0;

	if (u->lost.port > 0 && n < max) {
		hosts[n] = u->lost.host;
		tls_ports[n] = u->lost.tls_port;
		ports[n++] = u->lost.port;
	}
	for (i = 0; i < u->nbackups && n < max; i++) {
		hosts[n] = u->backups[i].host;
		tls_ports[n] = u->backups[i].tls_port;
		ports[n++] = u->backups[i].port;
	}
	return n;
}

/* Do not go back to this parent first: it left, fell silent, or looped. */
void
uplink_avoid_parent(struct server *srv)
{
	srv->uplink->avoid_parent = 1;
}

/*
 * The parent refused us.  A wrong secret at start is a configuration
 * error worth stopping for; anything else is one more failed target.
 */
void
uplink_refused(struct server *srv, struct peer *p, const char *info)
{
	struct uplink	*u = srv->uplink;

	if (p != u->peer)
		return;
	if (!u->ever_established && u->nround == 1) {
		log_errorx("uplink: %s:%d refused to let us join: %s",
		    log_safe(u->parent.host), u->parent.port, log_safe(info));
		srv->exit_code = 1;
		server_shutdown(srv, "the cluster secret was refused");
	}
}

/*
 * When the parent link was last heard from, for the relink's "since".
 * A server that was itself stopped reads, when it runs again, what was
 * queued while it stood still (heartbeats, then the parent's close): the
 * link was last heard from before the stall, not at those reads.
 */
static uint64_t
uplink_heard_ms(struct server *srv, struct peer *p)
{
	uint64_t	 now = now_ms(), heard = p->last_rx_ms;
	uint64_t	 timeout = (uint64_t)srv->cfg.heartbeat_timeout_ms;

	if (srv->cron_ran_ms != 0 && now - srv->cron_ran_ms > timeout) {
		/* Stalled until this turn; cron has not run since. */
		if (srv->cron_ran_ms < heard)
			heard = srv->cron_ran_ms;
	} else if (srv->stall_end_ms != 0 && now - srv->stall_end_ms <=
	    timeout && srv->stalled_from_ms < heard)
		heard = srv->stalled_from_ms;
	return heard;
}
/* Keep the parent's BACKUP_LIST for the day we lose it. */
int
uplink_set_backups(struct server *srv, struct json_span servers)
{
	struct uplink		*u = srv->uplink;
	struct json_iter	 it;
	struct uplink_target	 tg;
	struct msg		 sm;
	char			 err[256];
	int			 n = 0, rc;

	json_iter_array(&it, servers);
	while ((rc = msg_next_object(&it, OBJ_SERVER, &sm, err,
	    sizeof err)) == 1) {
		if (msg_port(&sm, F_PORT, &tg.port) != 0 ||
		    strlen(sm.str[F_HOST]) >= sizeof tg.host)
			return -1;
		tg.tls_port = 0;
		if (msg_has(&sm, F_TLS_PORT) &&
		    msg_port(&sm, F_TLS_PORT, &tg.tls_port) != 0)
			return -1;
		snprintf(tg.host, sizeof tg.host, "%s", sm.str[F_HOST]);
		if (n < UPLINK_TARGETS_MAX)
			u->backups[n++] = tg;
	}
	if (rc != 0)
		return -1;
	u->nbackups = n;
	u->got_list = 1;
	return 0;
}

void
uplink_peer_closed(struct server *srv, struct peer *p)
{
	struct uplink	*u = srv->uplink;
	enum uplink_state st;

	if (u == NULL || p != u->peer)
		return;
	st = u->state;
	u->peer = NULL;
	if (srv->stopping)
		return;
	if (st == UPLINK_ESTABLISHED) {
		log_warnx("uplink: lost the parent link to %s:%d",
		    log_safe(u->parent.host), target_port(srv, &u->parent));
		/*
		 * We may lack what the parent sent on since it was last
		 * heard from: a link found silent at the heartbeat timeout,
		 * or by a server that was itself stopped, went quiet long
		 * before now.  Ask for it back at the relink.
		 */
		srv->since_ms = wall_ms() - (now_ms() - uplink_heard_ms(srv,
		    p)) - UPLINK_SINCE_MARGIN_MS;
		tree_link_lost(srv, p);
		uplink_failover(srv);
		return;
	}
	uplink_next(srv);
}
