/*
 * One persistent timer for everything periodic: announces, liveness of
 * known servers, login deadlines for new connections, registration
 * timeouts.  Durations are measured on the monotonic clock.
 */
#include <event2/event.h>

#include "clock.h"
#include "lock.h"
#include "log.h"
#include "server.h"

#define CRON_TICK_MS	50

/* Connections that have not logged in, registered or joined in time. */
static void
cron_auth_deadlines(struct server *srv, uint64_t now)
{
	struct peer	*p;
	char		 info[128];

	TAILQ_FOREACH(p, &srv->peers, entry) {
		if (p->closing || (p->role != PEER_NEW &&
		    p->role != PEER_UPLINK_AUTH))
			continue;
		if (now - p->created_ms < (uint64_t)srv->cfg.auth_timeout_ms)
			continue;
		if (p->role == PEER_NEW && lock_client_waiting(srv, p))
			continue;
		if (p->outgoing) {
			peer_close(p, "no answer to AUTHENTICATE within %d ms",
			    srv->cfg.auth_timeout_ms);
			continue;
		}
		snprintf(info, sizeof info, "no login, registration or "
		    "authentication within %d ms", srv->cfg.auth_timeout_ms);
		peer_reply_close(p, CMD_INVALID_MESSAGE, info);
	}
}

/* Run whatever is due. */
void
cron_tick(struct server *srv)
{
	uint64_t	 now = now_ms();

	if (now >= srv->next_announce_ms) {
		tree_announce(srv);
		srv->next_announce_ms = now + (uint64_t)srv->cfg.announce_ms;
	}
	tree_check_liveness(srv);
	cron_auth_deadlines(srv, now);
	lock_cron(srv);
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
