/*
 * One persistent timer for everything periodic: announces, liveness of
 * known servers, login deadlines for new connections, registration
 * timeouts.  Durations are measured on the monotonic clock.
 */
#include <event2/event.h>

#include "clock.h"
#include "delivery.h"
#include "lock.h"
#include "log.h"
#include "msgbuild.h"
#include "registry.h"
#include "server.h"
#include "uplink.h"

#define CRON_TICK_MS		50
#define CRON_LOAD_ANNOUNCE_MS	100
#define CRON_IDLE_SCAN_MS	1000

/* Connections that have not logged in, registered or joined in time. */
static void
cron_auth_deadlines(struct server *srv, uint64_t now)
{
	struct peer	*p;
	char		 info[128];

	TAILQ_FOREACH(p, &srv->peers, entry) {
		if (p->closing || (p->role != PEER_NEW &&
		    p->role != PEER_UPLINK_AUTH && p->role != PEER_LINK_AUTH))
			continue;
		if (now - p->created_ms < (uint64_t)srv->cfg.auth_timeout_ms)
			continue;
		if (p->role == PEER_NEW && lock_client_waiting(srv, p))
			continue;
		/*
		 * Its LOGIN or REGISTER waits for the hash pool (a storm
		 * under --hash-cpu), which answers it in bounded time: it
		 * did speak in time.
		 */
		if (p->job != NULL)
			continue;
		if (p->outgoing)
			continue;	/* heartbeats cover our uplink */
		snprintf(info, sizeof info, "no login, registration or "
		    "authentication within %d ms", srv->cfg.auth_timeout_ms);
		peer_reply_close(p, CMD_INVALID_MESSAGE, info);
	}
}

/*
 * --anon-idle-timeout: an anonymous client costs a slot and a share of
 * every fan-out while proving nothing; one silent for the limit goes.
 * Checked every CRON_IDLE_SCAN_MS, so a close comes at most that late.
 */
static void
cron_anon_idle(struct server *srv, uint64_t now)
{
	struct peer	*p, *next;
	uint64_t	 limit = (uint64_t)srv->cfg.anon_idle_timeout_ms;
	char		 info[128];

	if (limit == 0 || now < srv->next_idle_ms)
		return;
	srv->next_idle_ms = now + (limit < CRON_IDLE_SCAN_MS ? limit :
	    CRON_IDLE_SCAN_MS);
	for (p = TAILQ_FIRST(&srv->clients); p != NULL; p = next) {
		next = TAILQ_NEXT(p, role_entry);
		if (!p->anonymous || now - p->last_rx_ms < limit)
			continue;
		snprintf(info, sizeof info, "anonymous client idle for %d ms "
		    "(--anon-idle-timeout)", srv->cfg.anon_idle_timeout_ms);
		peer_reply_close(p, CMD_INVALID_MESSAGE, info);
	}
}

/*
 * Server links must not go silent: we PING a link we have sent nothing
 * on for a heartbeat interval, and drop one we have heard nothing from
 * for the heartbeat timeout.  A stopped or cut-off server is detected
 * within that bound, TCP errors or not.  Our own pending uplink gets
 * the same bound for its AUTHENTICATE answer.
 */
static void
cron_heartbeats(struct server *srv, uint64_t now)
{
	struct peer		*p;
	struct jbuf		 ping;

	/* Its own buffer: a close in the walk may build lines of its own. */
	jbuf_init(&ping);
	msgb_begin(&ping, CMD_PING);
	msgb_end(&ping);
	TAILQ_FOREACH(p, &srv->peers, entry) {
		if (p->closing)
			continue;
		if (p->role == PEER_UPLINK_AUTH) {
			if (now - p->created_ms >
			    (uint64_t)srv->cfg.heartbeat_timeout_ms)
				peer_close(p, "no answer to AUTHENTICATE "
				    "within %d ms", srv->cfg.heartbeat_timeout_ms);
			continue;
		}
		if (p->role != PEER_SERVER)
			continue;
		if (now - p->last_rx_ms >
		    (uint64_t)srv->cfg.heartbeat_timeout_ms) {
			if (p->outgoing)
				uplink_avoid_parent(srv);
			peer_close(p, "heartbeat timeout: silent for %llu ms",
			    (unsigned long long)(now - p->last_rx_ms));
			continue;
		}
		if (now - p->last_tx_ms >= (uint64_t)srv->cfg.heartbeat_ms)
			peer_send(p, ping.p, ping.len);
	}
	jbuf_free(&ping);
}

/* Run whatever is due. */
void
cron_tick(struct server *srv)
{
	uint64_t	 now = now_ms();

	srv->now_ms = now;
	if (srv->cron_ran_ms != 0 && now - srv->cron_ran_ms >
	    (uint64_t)srv->cfg.heartbeat_timeout_ms) {
		srv->stalled_from_ms = srv->cron_ran_ms;
		srv->stall_end_ms = now;
	}
	srv->cron_ran_ms = now;
	/*
	 * Besides the period, announce a changed load or set of logged-in
	 * users soon (at most every
	 * CRON_LOAD_ANNOUNCE_MS): redirects decided on stale loads send
	 * clients back and forth.
	 */
	if (now >= srv->next_announce_ms) {
		tree_announce(srv);
		backup_send_all(srv);
		srv->next_announce_ms = now + (uint64_t)srv->cfg.announce_ms;
	} else if ((srv->nclients != srv->announced_load ||
	    srv->who_gen != srv->who_announced) &&
	    now - srv->last_announce_ms >= CRON_LOAD_ANNOUNCE_MS)
		tree_announce(srv);
	cron_heartbeats(srv, now);
	known_check(srv);
	order_cron(srv);
	report_cron(srv);
	replay_cron(srv);
	history_cron(srv->history, now, wall_ms());
	cron_auth_deadlines(srv, now);
	cron_anon_idle(srv, now);
	lock_cron(srv);
	registry_retry(srv->reg, now);
}

static void
cron_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	cron_tick(arg);
}

void
cron_start(struct server *srv)
{
	struct timeval	 tv = { 0, CRON_TICK_MS * 1000 };

	srv->cron_ev = event_new(srv->base, -1, EV_PERSIST, cron_cb, srv);
	if (srv->cron_ev == NULL)
		fatalx("event_new");
	srv->next_announce_ms = now_ms() + (uint64_t)srv->cfg.announce_ms;
	event_add(srv->cron_ev, &tv);
}
