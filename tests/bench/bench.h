/*
 * activity-bench: a load generator and measuring tool for a cluster of
 * activity-server processes.  One single-threaded libevent process plays
 * every client; a run's figures come out as a human summary, a markdown
 * table row and one JSON object.
 */
#ifndef BENCH_H
#define BENCH_H

#include <sys/types.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

struct event_base;
struct event;

#define BENCH_ADDRS_MAX		64
#define BENCH_SERVERS_MAX	32
#define BENCH_SIZES_MAX		16
#define BENCH_SENDERS_MAX	16

/* ------------------------------------------------------------ options */

enum bench_workload {
	WL_FANOUT,
	WL_STEADY,
	WL_FAILOVER,
	WL_REGISTER,
	WL_IDLE,
	WL_CLUSTER,		/* start a cluster, print it, hold */
	WL_REPORT,		/* steady with sending_report: report latency */
	WL_ORDERING,		/* steady, --order-wait default vs 0 */
	WL_LOGINS,		/* steady, without vs with a login storm */
	WL_HISTORY,		/* append cost, fetching pages */
};

enum bench_topology {
	TOPO_CHAIN,
	TOPO_STAR,
};

struct bench_opts {
	enum bench_workload	 workload;
	const char		*workload_name;

	/* where the servers are */
	int			 cluster;	/* servers to start; 0: --servers */
	enum bench_topology	 topology;
	const char		*server_bin;
	int			 announce_ms;	/* 0: the server's default */
	const char		*server_args[16];
	int			 nserver_args;
	const char		*servers;	/* --servers */
	const char		*server_pids;	/* --server-pids */
	int			 keep_logs;

	/* traffic */
	int			 subs;
	int			 pubs;
	uint64_t		 msgs;
	int			 size;
	long			 window;
	double			 rate;
	double			 duration_s;
	int			 pub_server;	/* -1: spread */

	/* failover */
	int			 kill_index;	/* -1: the last server */
	int			 kill_after_ms;
	int			 kill_signal;	/* SIGKILL or SIGSTOP */
	const char		*features;	/* LOGIN "features", or NULL */
	int			 settle_ms;
	int			 resend;	/* resend unreported after failover */
	int			 probe_ms;	/* tree probes every MS; 0 off */
	int			 hb_ms;		/* client: PING a link quiet MS */
	int			 dead_ms;	/* client: give up a link quiet MS */
	int			 report_wait_ms; /* drain: wait for reports */
	double			 logins;	/* LOGINs/s beside the traffic */
	int			 logins_anonymous; /* as anonymous: no hash */
	int			 logins_users;	/* > 0: that many, in turn */

	/* per run, set by the run loop: extra server arguments */
	const char		*run_server_args[4];
	int			 nrun_server_args;

	/* register */
	int			 reg_sizes[BENCH_SIZES_MAX];
	int			 nreg_sizes;
	int			 reg_count;
	int			 reg_concurrency;
	int			 reg_count_links;

	/* idle */
	int			 idle_conns;

	/* general */
	int			 runs;
	int			 timeout_s;
	int			 idle_timeout_ms;
	int			 connect_timeout_ms;
	const char		*label;
	int			 json_only;
	int			 verbose;
	int			 hold_s;	/* cluster workload */
};

extern struct bench_opts	 opts;
extern struct event_base	*base;

/* ------------------------------------------------------------ addresses */

/* A server a client may connect to: from the command line, a REDIRECT or
 * a BACKUP_LIST.  Only loopback addresses are ever added. */
struct baddr {
	char			 host[64];
	int			 port;
	struct sockaddr_in	 sin;
	int			 server;	/* index in the cluster, or -1 */
};

extern struct baddr	 addrs[BENCH_ADDRS_MAX];
extern int		 naddrs;

int	 addr_add(const char *, int);
int	 addr_is_loopback(const char *);
const char *addr_name(int);

/* ------------------------------------------------------------ cluster */

struct bserver {
	pid_t	 pid;		/* 0: not ours */
	int	 port;
	int	 addr;		/* index in addrs */
	int	 parent;	/* index of the server it joined, or -1 */
	int	 proxy_port;	/* its uplink goes through our counting proxy */
	int	 alive;
	int	 stopped;	/* SIGSTOPped by us: SIGKILL at the end */
	int	 killed;	/* SIGKILLed by us, not reaped yet */
	char	 log[256];
};

struct cluster {
	int		 n;
	int		 own;		/* we started the processes */
	enum bench_topology topology;
	struct bserver	 srv[BENCH_SERVERS_MAX];
	char		 dir[128];
	char		 secret[64];
	uint64_t	 formed_ms;	/* start to formed */
};

extern struct cluster	 cl;

int	 cluster_start(int, int);
int	 cluster_attach(const char *, const char *);
int	 cluster_wait_formed(int);
void	 cluster_stop(void);
int	 cluster_kill(int);
int	 cluster_signal(int, int);
void	 cluster_json(struct jbuf *);
long	 proc_rss_kb(pid_t);
long	 proc_hwm_kb(pid_t);
double	 proc_cpu_s(pid_t);
void	 bench_raise_nofile(long *, long *);
int	 bench_free_port(void);

/* ------------------------------------------------------------ histogram */

#define HIST_SUB_BITS	7
#define HIST_BUCKETS	((64 - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

struct hist {
	uint64_t	 n;
	uint64_t	 min;
	uint64_t	 max;
	double		 sum;
	uint32_t	 count[HIST_BUCKETS];
};

void		 hist_reset(struct hist *);
void		 hist_add(struct hist *, uint64_t);
uint64_t	 hist_pct(const struct hist *, double);
void		 hist_json(struct jbuf *, const char *, const struct hist *);

/* ------------------------------------------------------------ clients */

enum client_role {
	CR_SUB,
	CR_PUB,
	CR_IDLE,
	CR_REG,
	CR_PROBE,		/* one per server: tree probes, cluster status */
};

enum client_state {
	CS_DOWN,
	CS_CONNECTING,
	CS_LOGIN,		/* LOGIN (or REGISTER) sent */
	CS_READY,
	CS_WAIT,		/* waiting to retry */
	CS_DEAD,		/* given up */
};

struct client;

/* What a workload wants to hear about. */
struct client_ops {
	void	(*ready)(struct client *);
	void	(*deliver)(struct client *, uint32_t, uint32_t, uint64_t);
	void	(*down)(struct client *, const char *);
	void	(*registered)(struct client *, int, const char *);
	void	(*writable)(struct client *);
	/* ACTIVITY_SENDING_REPORT: activity_seq, client_count, succ_count,
	 * partial */
	void	(*report)(struct client *, uint64_t, long long, long long, int);
	/* a tree probe: from the probe client on server S, round R */
	void	(*probe)(struct client *, int, uint32_t);
	/* CLUSTER_STATUS: 1 NORMAL, 0 anything else */
	void	(*status)(struct client *, int);
};

/* One sender session seen by a receiver: what it has (for resume's
 * "seen") and a bitmap of activity_seq received, to drop repeats. */
struct bsender {
	char		 sid[64];
	uint64_t	 last;		/* every activity_seq up to this one */
	uint8_t		*bm;
	uint64_t	 bmbits;
};

struct client {
	int		 idx;
	enum client_role role;
	enum client_state state;
	int		 home;		/* first address */
	int		 cur;		/* address now */
	int		 fd;
	struct event	*rev;
	struct event	*wev;
	struct event	*tmr;
	char		*rbuf;
	size_t		 rlen, rcap;
	struct jbuf	 out;
	size_t		 outoff;
	int		 failover;	/* reconnect elsewhere on loss */
	int		 tries;		/* candidates tried since the loss */
	int		 backoff_ms;
	int		 ever_ready;

	/* what the server told us */
	unsigned	 accepted;	/* features: bit i = msg_feature_names[i] */
	int		 said_features;
	int		 backup[BENCH_ADDRS_MAX];
	int		 nbackup;
	int		 used_backup;	/* last failover went by the BACKUP_LIST */

	/* sessions (features activity_seq and resume) */
	char		 session[64];	/* ours, from LOGIN_SUCCESS */
	char		 token[72];	/* proves the session is ours */
	uint64_t	 lost_wall_ms;	/* wall clock when the link was lost */
	char		 resumed[16];	/* "ok"/"partial" from the last resume */
	uint64_t	 next_aseq;	/* publishing: the next activity_seq */
	struct bsender	 senders[BENCH_SENDERS_MAX];
	int		 nsenders;
	uint64_t	 repeats;	/* dropped by (sender, activity_seq) */
	const char	*features;	/* LOGIN features; NULL: opts.features */
	int		 dedupe;	/* drop repeats by (sender, seq) */

	/* liveness of the link, as the client sees it */
	uint64_t	 t_state;	/* connect started (ns) */
	uint64_t	 t_rx;		/* last byte received (ns) */
	uint64_t	 t_ping;	/* PING outstanding since (ns), or 0 */
	uint64_t	 hb_losses;	/* links given up for silence */
	uint64_t	 resumes_ok;
	uint64_t	 resumes_partial;

	/* counters */
	uint64_t	 logins;
	uint64_t	 redirects;
	uint64_t	 disconnects;
	uint64_t	 errors;

	/* receiving */
	uint64_t	 rx;
	uint64_t	 uniq;
	uint64_t	 dups;
	uint64_t	 ooo;
	uint32_t	*maxseq;	/* per publisher */
	uint8_t		*seen;		/* per publisher bitmap */

	/* publishing */
	uint32_t	 sent;
	uint32_t	 quota;

	/* failover */
	int		 orphan;
	int		 down_server;
	uint64_t	 t_down;
	uint64_t	 t_login;
	uint64_t	 t_first;
	uint64_t	 uniq_at_down;
	uint64_t	 redirects_at_down;

	/* register */
	char		 username[64];
	uint64_t	 t_sent;

	void		*arg;
};

extern const struct client_ops	*client_ops;
extern uint64_t			 g_proto_errors;
extern char			 g_last_error[160];

void	 client_init(struct client *, int, enum client_role, int);
void	 client_connect(struct client *, int);
void	 client_close(struct client *);
void	 client_free(struct client *);
void	 client_queue(struct client *, const void *, size_t);
void	 client_flush(struct client *);
size_t	 client_pending(const struct client *);
uint64_t client_send_activity(struct client *, uint32_t, uint32_t, int,
	    uint64_t, uint64_t);
void	 client_send_probe(struct client *, int, uint32_t);
void	 client_tick(struct client *, uint64_t);
void	 client_register(struct client *, const char *, const char *);
void	 client_track_alloc(struct client *, int, uint32_t);
int	 client_feature_accepted(const struct client *, const char *);

/* ------------------------------------------------------------ workloads */

struct run_env {
	int		 run;		/* 1.. */
	int		 mode;		/* ordering: 0 default, 1 --order-wait 0;
					   logins: 0 none, 1 the storm */
	double		 load_before[3];
	uint64_t	 t_wall_start;
};

int	 wl_traffic(struct run_env *);	/* fanout, steady, failover, report,
					   ordering */
void	 traffic_summary(int);		/* over --runs */
int	 wl_register(struct run_env *);
int	 wl_history(struct run_env *);	/* histlog.c */

/* logins.c: a login storm beside the traffic */
int	 logins_prepare(void);
void	 logins_who(char *, size_t);
void	 logins_start(double);
void	 logins_stop(uint64_t *, uint64_t *, uint64_t *, double *,
	    uint64_t *);
int	 wl_idle(struct run_env *);

/* ------------------------------------------------------------ proxy */

struct proxy;
struct proxy	*proxy_new(int);
int		 proxy_port(const struct proxy *);
void		 proxy_free(struct proxy *);
void		 proxy_counts_reset(void);
uint64_t	 proxy_count(const char *);
uint64_t	 proxy_total(void);
void		 proxy_counts_json(struct jbuf *, double);

/* ------------------------------------------------------------ output */

uint64_t bench_now_ns(void);
void	 bench_log(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 bench_say(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 bench_fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 loadavg_read(double[3]);
void	 json_begin(struct jbuf *, struct run_env *);
void	 json_kstr(struct jbuf *, const char *, const char *);
void	 json_kint(struct jbuf *, const char *, long long);
void	 json_knum(struct jbuf *, const char *, double);
void	 json_key(struct jbuf *, const char *);
void	 json_end(struct jbuf *);
void	 bench_row(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 bench_interrupted(void);

#endif
