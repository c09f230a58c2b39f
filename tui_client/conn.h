/*
 * The link to a server: connect, register and log in, follow REDIRECT,
 * fail over along the BACKUP_LIST, resume, heartbeat, number activities
 * and match their reports.  Three files: conn.c the link and its state
 * machine, conn-recv.c the table of what the server sends, conn-send.c
 * the send queue and resend.  The link state lives here; the model gets
 * a copy of what the panes show.  Never draws.  The owner hears about
 * what happened through event_cb and, in batch mode, gets every
 * received line through line_cb.
 */
#ifndef CONN_H
#define CONN_H

#include <stddef.h>
#include <stdint.h>

#include "failover.h"
#include "frame.h"
#include "json.h"
#include "model.h"
#include "msg.h"
#include "dedup.h"

struct evbuffer;

struct event_base;
struct evdns_base;
struct bufferevent;
struct ssl_ctx_st;
struct event;

#define CONN_LINE_MAX		(1024 * 1024 + CONN_LINE_SLACK)
#define CONN_LINE_SLACK		(64 * 1024)	/* a broadcast's wrapping */
#define CONN_QUEUE_MAX		100
#define CONN_HELD_MAX		(4 * 1024 * 1024)	/* live, behind history */
#define CONN_UNACKED_MAX	256	/* sent, no report yet */
#define CONN_RETIRE_MAX		8
#define CONN_REDIRECT_MAX	8
#define CONN_OUTPUT_MAX		(4 * 1024 * 1024)
#define CONN_OUTPUT_LOW		(64 * 1024)
#define CONN_ATTEMPT_MS		5000	/* connect + log in within */
#define CONN_PING_MS		1000
#define CONN_DEAD_MS		3000	/* silence that means dead */

enum conn_event {
	CONN_EV_ONLINE,		/* logged in (again) */
	CONN_EV_OFFLINE,	/* lost the server; failing over */
	CONN_EV_FAILED,		/* login or registration refused */
	CONN_EV_CLOSED,		/* logged out as asked */
	CONN_EV_REPORT,		/* a sending report came */
	CONN_EV_CHANGED,	/* only the model changed */
	CONN_EV_WRITABLE,	/* output drained below CONN_OUTPUT_LOW */
};

enum conn_ret {
	CONN_OK,
	CONN_STOP,		/* the link is gone: read no further */
};

struct conn_retiree {
	struct bufferevent	*bev;
	int			 dead;
};

struct conn_queued {
	char		*act;
	size_t		 len;
	long long	 seq;		/* unacked: its activity_seq */
};

struct conn {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct model		*m;
	struct failover		 fo;
	struct dedup		 seen;
	enum link_state		 state;

	char			 user[MODEL_NAME_MAX];
	char			 secret[MODEL_NAME_MAX];
	int			 anonymous;
	int			 need_register;
	int			 generated;	/* the secret is ours */
	int			 registered;	/* REGISTER_SUCCESS came */

	struct fo_target	 home;		/* where we are or go */
	struct ssl_ctx_st	*tls;		/* dial TLS with it; NULL: no */
	struct bufferevent	*bev;
	struct frame_reader	 fr;
	size_t			 line_max;	/* longest line taken */
	struct event		*retry_ev;
	struct event		*attempt_ev;
	struct event		*tick_ev;
	struct event		*reap_ev;
	struct fo_target	 next;		/* what retry_ev will try */

	unsigned		 requested;	/* features asked for */
	unsigned		 features;	/* features granted */
	unsigned		 prev_features;
	char			 session[DEDUP_ID_MAX];
	char			 token[DEDUP_ID_MAX];	/* proves the session ours */
	long long		 next_seq;
	int			 online_pending;
	int			 resend_pending;
	int			 stopping;	/* no failover: we closed */
	int			 first;		/* not online since the start */
	int			 probing;	/* dialing for /connect */
	struct bufferevent	*probe;		/* /connect on its way */
	struct event		*probe_ev;
	struct fo_target	 probe_to;
	int			 redirects;
	uint64_t		 last_rx;
	int			 silent;	/* lost by the heartbeat timeout */
	int			 batch;		/* no one to type a command */
	uint64_t		 attempt_start;

	/* Failover, as the failover pane shows it. */
	int			 out_of_service;
	uint64_t		 down_since;
	uint64_t		 last_outage_ms;
	unsigned		 failovers;
	unsigned		 backoff_ms;
	uint64_t		 retry_at;
	char			 last_error[512];

	struct conn_queued	 queue[CONN_QUEUE_MAX];
	int			 nqueue;
	struct conn_queued	 unacked[CONN_UNACKED_MAX];
	int			 nunacked;
	uint64_t		 last_rx_wall;
	struct conn_retiree	 retiring[CONN_RETIRE_MAX];
	int			 nretiring;

	unsigned		 attempt_ms;
	unsigned		 ping_ms;
	unsigned		 dead_ms;

	void			(*event_cb)(struct conn *, enum conn_event,
				    void *);
	void			(*line_cb)(struct conn *, const char *,
				    size_t, void *);
	void			*arg;

	/*
	 * History (the "history" feature): a page is asked for once, on
	 * the first login; live activities that arrive before it ends are
	 * held (capped) and shown after it, below the divider.
	 */
	int			 history_want;	/* activities; 0: none */
	int			 history_asked;
	int			 history_pending;	/* a page under way */
	int			 history_got;	/* activities in it */
	char			 history_oldest[256];	/* mid, to page on */
	int			 history_fetching;	/* a page asked for */
	int			 history_before;	/* it goes on top */
	int			 history_more;	/* the server has earlier */
	struct evbuffer		*hpage;		/* such a page, so far */
	struct evbuffer		*held;		/* live lines meanwhile */

	/* The seam tests replace: open a link to a target. */
	struct bufferevent	*(*dial)(struct conn *,
				    const struct fo_target *, int *);
	void			*dial_arg;
};

struct conn	*conn_new(struct event_base *, struct model *);
void		 conn_free(struct conn *);
void		 conn_set_user(struct conn *, const char *, const char *,
		    int);
void		 conn_open(struct conn *, const char *, int);
void		 conn_connect(struct conn *, const char *, int);
void		 conn_logout(struct conn *);
int		 conn_send(struct conn *, const char *, size_t);
int		 conn_online(const struct conn *);
enum link_state	 conn_state(const struct conn *);
int		 conn_busy(const struct conn *);
size_t		 conn_outq(const struct conn *);
void		 conn_gen_secret(char *, size_t);

/* Between conn.c, conn-recv.c and conn-send.c only. */
void		 conn_emit(struct conn *, enum conn_event);
void		 conn_set_state(struct conn *, enum link_state);
int		 conn_write(struct conn *, const char *, size_t);
int		 conn_history(struct conn *, int, int);
int		 conn_write_jbuf(struct conn *, struct jbuf *);
void		 conn_build_hello(struct conn *, struct jbuf *, enum msg_cmd);
void		 conn_dial(struct conn *, const struct fo_target *);
void		 conn_lost(struct conn *, const char *);
void		 conn_refused(struct conn *, const char *);
enum conn_ret	 conn_invalid(struct conn *, const char *);
int		 conn_logged_in(struct conn *);
enum conn_ret	 conn_recv(struct conn *, struct msg *);
int		 conn_recv_duplicate(struct conn *, const struct msg *);
void		 conn_unacked_done(struct conn *, long long);
void		 conn_unacked_clear(struct conn *);
void		 conn_unacked_resend(struct conn *);
void		 conn_flush_queue(struct conn *);
void		 conn_queue_free(struct conn *);

#endif
