/*
 * The link to our parent: a state machine that connects, authenticates,
 * and when the link is lost fails over through the backup list our
 * parent gave us, with bounded backoff and jitter, for as long as it
 * takes.
 */
#ifndef UPLINK_H
#define UPLINK_H

#include "json.h"

struct server;
struct peer;

enum uplink_state {
	UPLINK_NONE,		/* we are a root */
	UPLINK_WAITING,		/* backing off before the next attempt */
	UPLINK_CONNECTING,
	UPLINK_AUTHENTICATING,
	UPLINK_ESTABLISHED,
};

/* What happens to the uplink; uplink.c's table says where each leads. */
enum uplink_event {
	UE_START,		/* told to join (-rh/-rp) */
	UE_DIAL,		/* connecting to a target */
	UE_CONNECTED,		/* TCP up: SERVER_HELLO sent */
	UE_ACCEPTED,		/* AUTHENTICATE_SUCCESS with the proof */
	UE_ROUND_FAILED,	/* no target took us in: back off */
	UE_SERVE_AS_ROOT,	/* successor, or nobody takes us: probe */
	UE_LOST,		/* the parent link went: fail over */
	UE_LOST_AS_SUCCESSOR,	/* ... with an empty backup list */
};

int		 uplink_fsm(struct server *, enum uplink_event);
const char	*uplink_event_name(enum uplink_event);
void		 uplink_init(struct server *);
void		 uplink_free(struct server *);
void		 uplink_start(struct server *, const char *, int);
void		 uplink_connected(struct server *, struct peer *);
void		 uplink_established(struct server *, struct peer *);
void		 uplink_peer_closed(struct server *, struct peer *);
void		 uplink_refused(struct server *, struct peer *, const char *);
void		 uplink_avoid_parent(struct server *);
int		 uplink_set_backups(struct server *, struct json_span);
int		 uplink_reconnecting(const struct server *);
int		 uplink_targets(struct server *, const char **, int *, int *,
		    int);
enum uplink_state uplink_state(const struct server *);
struct peer	*uplink_peer(const struct server *);
const char	*uplink_state_name(enum uplink_state);

#endif
