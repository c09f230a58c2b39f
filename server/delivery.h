/*
 * Delivery: an activity as a server holds it, the replay log that lets a
 * relinked server or a resuming client catch up, per-sender hold-back
 * ordering, and delivery reports aggregated up the tree.
 */
#ifndef DELIVERY_H
#define DELIVERY_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

struct server;
struct peer;
struct report;

/* One activity: its cluster-wide identity and the bytes that carry it. */
struct act {
	int			 refs;
	size_t			 size;		/* bytes allocated */
	int			 delivered;	/* released to our clients */
	char			*mid;		/* "origin:oc" */
	char			*origin;	/* server that took it in */
	uint64_t		 oc;		/* origin's activity counter */
	char			*sender;	/* sender's session id */
	uint64_t		 seq;		/* its activity_seq */
	uint64_t		 prev;		/* the one before, at origin */
	char			*username;
	uint64_t		 ts;		/* origin's wall clock, ms */
	int			 report;	/* the sender wants a report */
	int			 replayed;	/* came by relink replay */
	int			 behind;	/* after a later one of its sender */
	int			 replay_field;	/* its line says either way */
	char			*line;		/* server line, with "\n" */
	size_t			 len;
	size_t			 act_off;	/* the activity object within */
	size_t			 act_len;
	char			*client_line;	/* base-protocol clients */
	size_t			 client_len;
	char			*seq_line;	/* clients with activity_seq */
	size_t			 seq_len;
};

struct delivery_config {
	int	 order_wait_ms;		/* --order-wait */
	int	 report_timeout_ms;	/* --report-timeout */
	size_t	 replay_max;		/* --replay-max activities */
	size_t	 replay_bytes;		/* --replay-bytes */
	int	 replay_window_ms;	/* --replay-window */
	int	 max_senders;		/* --max-senders */
	int	 max_reports;		/* --max-pending-reports */
};

/* activity.c */
struct act	*act_new(const char *, size_t, size_t, size_t, const char *,
		    const char *, const char *, const char *);
void		 act_unref(struct act *);
const char	*act_client_bytes(struct act *, int, size_t *);
void		 activity_deliver(struct server *, struct act *, int);

/* replay.c */
void		 delivery_init(struct server *);
void		 delivery_free(struct server *);
size_t		 replay_count(struct server *);
size_t		 replay_bytes(struct server *);
void		 replay_append(struct server *, struct act *);
void		 replay_send_sync(struct server *, struct peer *);
int		 replay_on_sync(struct server *, struct peer *, struct json_span,
		    uint64_t);
int		 replay_resume(struct server *, struct peer *, struct json_span,
		    uint64_t, int *);
void		 replay_cron(struct server *);
uint64_t	 replay_oldest_ts(struct server *);

/* order.c */
void		 order_submit(struct server *, struct act *);
void		 order_cron(struct server *);
int		 order_session_owner(struct server *, const char *,
		    const char *);
void		 order_init(struct server *);
void		 order_free(struct server *);

/* report.c */
void		 report_start(struct server *, struct act *, struct peer *,
		    struct peer *);
struct report	*report_find(struct server *, struct act *);
void		 report_mark(struct server *, struct report *, struct peer *);
void		 report_local_done(struct server *, struct report *, int);
void		 report_on_succ_info(struct server *, struct peer *,
		    const char *, long long, long long, int);
void		 report_reply_empty(struct server *, struct peer *,
		    const char *, const char *, long long);
void		 report_peer_closed(struct server *, struct peer *);
void		 report_cron(struct server *);
void		 report_init(struct server *);
void		 report_free(struct server *);

#endif
