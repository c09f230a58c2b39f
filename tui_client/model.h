/*
 * What the panes show, kept apart from drawing: capped rings for the
 * activity stream and the send reports, and the state of the link, the
 * failover and the cluster.  Every change sets a dirty bit for the pane
 * that shows it; the UI turns those into redraws in one place.
 */
#ifndef MODEL_H
#define MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MODEL_LINES_MAX		2000	/* activity scrollback */
#define MODEL_HISTORY_LINES_MAX	1000000	/* grown to for paging back */
#define MODEL_REPORTS_MAX	256
#define MODEL_SERVERS_MAX	64
#define MODEL_BACKUPS_MAX	16
#define MODEL_TEXT_MAX		2048	/* bytes of one shown line */
#define MODEL_WHO_MAX		64
#define MODEL_HOST_MAX		256
#define MODEL_NAME_MAX		260
#define MODEL_PREVIEW_MAX	64

/* Dirty bits, one per pane. */
#define MODEL_D_STATUS		0x01
#define MODEL_D_ACTIVITY	0x02
#define MODEL_D_REPORTS		0x04
#define MODEL_D_FAILOVER	0x08
#define MODEL_D_CLUSTER		0x10
#define MODEL_D_INPUT		0x20
#define MODEL_D_ALL		0x3f

enum model_kind {
	MODEL_ACTIVITY,		/* someone else's activity */
	MODEL_SELF,		/* our own, echoed back */
	MODEL_INFO,		/* the client talking */
	MODEL_ERROR,		/* something went wrong */
};

#define MODEL_F_MENTION		0x01	/* names the user */
#define MODEL_F_ACTION		0x02	/* a /me action */

struct model_line {
	uint64_t	 wall_ms;
	enum model_kind	 kind;
	unsigned	 flags;		/* MODEL_F_* */
	char		 who[MODEL_WHO_MAX];
	char		*text;
	size_t		 len;
};

/* The link as a person sees it. */
enum link_state {
	LINK_IDLE,
	LINK_RESOLVING,
	LINK_CONNECTING,
	LINK_REGISTERING,
	LINK_LOGGING_IN,
	LINK_ONLINE,
	LINK_WAITING,		/* failover backoff */
	LINK_FAILED,		/* login refused: stays down */
	LINK_LOGGED_OUT,
};

enum report_state {
	REPORT_UNTRACKED,	/* the server numbers nothing */
	REPORT_PENDING,
	REPORT_DONE,
	REPORT_SHORT,		/* fewer delivered than targeted */
	REPORT_PARTIAL,		/* the server gave up waiting */
	REPORT_LOST,		/* the link went before a report came */
};

struct model_report {
	unsigned long long	 num;		/* shown: per client run */
	long long		 seq;
	unsigned		 gen;		/* session it was sent in */
	long long		 delivered;
	long long		 target;
	enum report_state	 state;
	uint64_t		 sent_ms;
	uint64_t		 report_ms;
	char			 preview[MODEL_PREVIEW_MAX];
};

struct model_server {
	char		 id[MODEL_WHO_MAX];
	char		 host[MODEL_HOST_MAX];
	int		 port;
	long long	 load;
	long long	 last_announce;	/* as the server sent it */
	long long	 down_ms;	/* down or lost this long; -1 */
	char		 state[16];
};

struct model_backup {
	char	 host[MODEL_HOST_MAX];
	int	 port;
};

struct model {
	unsigned		 dirty;
	FILE			*echo;		/* batch: info/errors go here */

	/* Activity stream. */
	struct model_line	*lines;
	size_t			 lines_cap;
	size_t			 lines_max;	/* cap grows to (history) */
	size_t			 lines_head;	/* next slot */
	size_t			 lines_n;
	size_t			 scroll;	/* lines up from the newest */
	unsigned long long	 lines_total;
	int			 focused;	/* the terminal has the focus */
	int			 away;		/* unfocused or scrolled back */
	int			 marker;	/* show the unread marker */
	unsigned long long	 marker_total;	/* lines_total when away */
	unsigned		 mentions;	/* lines that named the user */

	/* Send reports. */
	struct model_report	 reports[MODEL_REPORTS_MAX];
	size_t			 reports_head;
	size_t			 reports_n;
	size_t			 reports_scroll;
	unsigned long long	 reports_sent;	/* numbers the rows */
	unsigned		 gen;

	/* Connection status. */
	enum link_state		 state;
	char			 host[MODEL_HOST_MAX];
	int			 port;
	char			 server_id[MODEL_WHO_MAX];
	char			 user[MODEL_NAME_MAX];
	char			 session[MODEL_WHO_MAX];
	char			 resume[16];
	int			 features_known;
	unsigned		 features;
	long long		 rtt_ms;	/* -1: not measured */
	uint64_t		 online_since;
	unsigned		 logins;

	/* Failover. */
	int			 out_of_service;
	int			 have_backups;
	struct model_backup	 backups[MODEL_BACKUPS_MAX];
	int			 nbackups;
	char			 trying_host[MODEL_HOST_MAX];
	int			 trying_port;
	int			 attempt;
	unsigned		 backoff_ms;
	uint64_t		 retry_at;
	uint64_t		 down_since;
	uint64_t		 last_outage_ms;
	unsigned		 failovers;
	char			 last_error[512];

	/* Cluster health. */
	int			 have_cluster;
	char			 cluster_status[32];
	char			 cluster_info[256];	/* why not NORMAL */
	struct model_server	 servers[MODEL_SERVERS_MAX];
	int			 nservers;
	uint64_t		 cluster_at;	/* now_ms() of last update */
	uint64_t		 cluster_wall;	/* wall_ms() of the same */
	size_t			 cluster_scroll;
};

void		 model_init(struct model *, size_t);
void		 model_free(struct model *);
void		 model_add(struct model *, enum model_kind, const char *,
		    const char *, size_t);
void		 model_info(struct model *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 model_error(struct model *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
const struct model_line *model_line_at(const struct model *, size_t);
void		 model_scroll(struct model *, long);
void		 model_attention(struct model *);
void		 model_flag_last(struct model *, unsigned);
int		 model_prepend(struct model *, enum model_kind, const char *,
		    const char *, size_t, unsigned);
void		 model_time_last(struct model *, int, uint64_t);
void		 model_set_focus(struct model *, int);
void		 model_clear(struct model *);

void		 model_report_add(struct model *, long long, int,
		    const char *, size_t);
int		 model_report_update(struct model *, long long, long long,
		    long long, int);
void		 model_reports_lost(struct model *);
void		 model_report_resent(struct model *, long long);
size_t		 model_reports_pending(const struct model *);
const struct model_report *model_report_at(const struct model *, size_t);
void		 model_new_session(struct model *);

void		 model_set_state(struct model *, enum link_state);
const char	*model_state_name(enum link_state);
const char	*model_report_name(enum report_state);
void		 model_preview(const char *, size_t, char *, size_t);

#endif
