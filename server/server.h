/*
 * The activity server's shared state: one struct server, passed around,
 * holding the configuration, every connection, the known servers, the
 * user registry and the registrations in progress.
 *
 * Module map: each file, its one job.  Which way calls go: main.c and
 * cron.c call into every module; peer.c calls up in two places only,
 * dispatch_line() for each line read and, from the loop after a close,
 * peer_closed(), which tells lock, report, uplink and tree (a lost
 * server link, either side, is tree_link_lost());
 * dispatch.c alone calls the handlers (cmd-*.c, handshake.c, the
 * receiving ends in activity.c, presence.c and who.c); handlers call the
 * delivery modules (activity.c -> replay.c, report.c, order.c, and
 * order.c back to activity_deliver(), which calls report.c and
 * history.c), the link modules (tree.c, uplink.c, backup.c, known.c,
 * which call each other) and the tables (registry.c, lock.c, token.c,
 * limit.c, seen.c, strmap.c, hashpool.c); everything sends through
 * peer.c and tree.c.  common/ knows no program.
 *
 *   main.c         options, event_base, signals
 *   config.c       settings and their defaults
 *   monitor.c      --monitor HTTP endpoint (read only)
 *   cron.c         the one persistent timer
 *   server.c       the server object, listeners, accept cap, shutdown;
 *                  the scratch line buffer (server_out_take)
 *   tls-server.c   TLS contexts, the TLS listener, link certificate checks
 *   peer.c         connection lifecycle: read loop with a cap, send with
 *                  an output cap, peer_close() now, consequences later
 *   dispatch.c     the dispatch table: roles, refusals, handler per command
 *   cmd-client.c   client handlers: LOGIN (REDIRECT), LOGOUT, REGISTER
 *   cmd-history.c  HISTORY: pages of the history log for a client
 *   cmd-server.c   server handlers: AUTHENTICATE, announces, leaves,
 *                  the lock protocol's messages, user list merges
 *   handshake.c    server link authentication (HELLO/CHALLENGE/PROOF)
 *   hashpool.c     yescrypt hashing off the loop: a thread pool, each
 *                  thread with a helper process, under a CPU budget
 *   logincache.c   logins verified lately (no slow hash again), and
 *                  the keyed digest of a user's secret
 *   activity.c     the hot path: ACTIVITY_MESSAGE/BROADCAST in, the
 *                  activity object (act_new) and its one serialisation,
 *                  activity_take() hands it on, activity_deliver() fans
 *                  it out to our clients
 *   order.c        per-sender hold-back for our clients, then delivery
 *   report.c       delivery reports aggregated up the tree
 *   replay.c       the bounded replay log, ACTIVITY_SYNC and resume
 *                  replay
 *   history.c      the on-disk history log of delivered activities
 *   presence.c     where registered users are logged in (USER_PRESENCE)
 *   who.c          WHO and the users named in announces
 *   uplink.c       the parent link's state machine (uplink_fsm)
 *   backup.c       BACKUP_LIST: where each neighbour goes if we fail
 *   known.c        known servers and the one cluster status
 *   tree.c         sending to links and clients, mids, path, announces,
 *                  a lost link's SERVER_LEAVE
 *   lock.c         the registration lock table
 *   registry.c     users and their journal
 *   token.c        session tokens for resume
 *   limit.c        per-connection and per-address rate limits
 *   seen.c         per-origin anti-replay windows
 *   strmap.c       the one keyed (SipHash) string map
 */
#ifndef SERVER_H
#define SERVER_H

#include <sys/queue.h>

#include <event2/util.h>
#include <stddef.h>
#include <stdint.h>

#include "version.h"
#include "frame.h"
#include "json.h"
#include "msg.h"
#include "delivery.h"
#include "history.h"

struct event_base;
struct evconnlistener;
struct sockaddr;
struct evdns_base;
struct bufferevent;
struct event;
struct registry;
struct lock_table;
struct presence_table;
struct report_table;
struct order_table;
struct replay_log;
struct strmap;
struct sender;
struct uplink;
struct ssl_ctx_st;

#define SERVER_VERSION		ACTIVITY_VERSION	/* version.h */
#define SERVER_ID_LEN		24
#define SERVER_SECRET_MAX	256
#define SERVER_SECRET_MIN	16	/* shorter ones are warned about */
#define SERVER_NAME_MAX		256
/*
 * Servers wrap a client's activity in ids and metadata: a server link
 * accepts lines this much longer than --max-message, so an activity at
 * the cap still crosses the tree.
 */
#define SERVER_LINK_SLACK	4096

#define SERVER_PRIORITIES	3	/* the flush is the lowest */
#define FLUSH_MAX_READS		64	/* reads a pending flush may wait */

struct config {
	const char	*listen_host;		/* -lh: advertised host */
	int		 listen_port;		/* -lp */
	const char	*bind_addr;		/* --bind; default: -lh */
	const char	*remote_host;		/* -rh */
	int		 remote_port;		/* -rp */
	char		 secret[SERVER_SECRET_MAX];
	int		 secret_given;
	int		 announce_ms;		/* -a */
	int		 liveness_ms;		/* --liveness */
	size_t		 max_msg;		/* --max-message */
	size_t		 client_outbuf;		/* --client-outbuf */
	size_t		 server_outbuf;		/* --server-outbuf */
	int		 max_conns;		/* --max-connections */
	int		 max_servers;		/* --max-servers */
	int		 max_pending_reg;	/* --max-pending-registrations */
	int		 register_timeout_ms;	/* --register-timeout */
	int		 auth_timeout_ms;	/* --auth-timeout */
	int		 reconnect_delay_ms;	/* --reconnect-delay */
	int		 heartbeat_ms;		/* --heartbeat */
	int		 heartbeat_timeout_ms;	/* --heartbeat-timeout */
	int		 forget_ms;		/* --forget-after */
	const char	*data_dir;		/* --data-dir; NULL: default */
	const char	*log_file;		/* --log-file */
	const char	*monitor;		/* --monitor HOST:PORT */
	int		 allow_base_servers;	/* --allow-base-servers */
	int		 token_lifetime_ms;	/* 0: the replay window */
	int		 hash_threads;		/* hash workers; 0: inline */
	int		 hash_cpu;		/* --hash-cpu, % of a CPU; 0 any */
	int		 login_cache_ttl_ms;	/* --login-cache-ttl; 0 off */
	int		 login_cache_size;	/* --login-cache-size; 0 off */
	const char	*tls_cert;		/* --tls-cert */
	const char	*tls_key;		/* --tls-key */
	const char	*tls_ca;		/* --tls-ca */
	int		 tls_port;		/* --tls-port; 0: none */
	int		 remote_tls;		/* --remote-tls */
	int		 no_plaintext;		/* --no-plaintext */
	size_t		 max_users;		/* --max-users */
	int		 register_rate;		/* --register-rate, a minute */
	int		 register_conn_rate;	/* --register-conn-rate */
	int		 login_fail_delay_ms;	/* --login-fail-delay */
	int		 anon_idle_timeout_ms;	/* --anon-idle-timeout, 0 off */
	int		 allow_anonymous;	/* --allow-anonymous */
	int		 allow_register;	/* --allow-register */
	int		 verbose;
	struct delivery_config dcfg;
	struct history_config history;		/* --history-* */
};

enum peer_role {
	PEER_NEW,		/* accepted, has said nothing valid yet */
	PEER_CLIENT,		/* logged in */
	PEER_SERVER,		/* authenticated server link, either way */
	PEER_UPLINK_AUTH,	/* we sent SERVER_HELLO, awaiting the reply */
	PEER_LINK_AUTH,		/* sent us SERVER_HELLO, we challenged it */
};

#define ROLE_NEW		(1u << PEER_NEW)
#define ROLE_CLIENT		(1u << PEER_CLIENT)
#define ROLE_SERVER		(1u << PEER_SERVER)
#define ROLE_UPLINK_AUTH	(1u << PEER_UPLINK_AUTH)
#define ROLE_LINK_AUTH		(1u << PEER_LINK_AUTH)
#define ROLE_ANY		(ROLE_NEW | ROLE_CLIENT | ROLE_SERVER | \
				 ROLE_UPLINK_AUTH | ROLE_LINK_AUTH)

struct report;
struct users_stream;
struct evbuffer_cb_entry;
struct link_auth;
struct hashjob;
struct hashpool;
struct peer;

/* A slow hash off the loop (hashpool.c), and where its result goes. */
enum hashjob_kind {
	HASHJOB_VERIFY,
	HASHJOB_HASH,
};
typedef void	(*hashjob_cb)(struct peer *, const char *, size_t, int,
		    const char *);

struct report_mark {
	uint64_t	 end;		/* output offset just past the line */
	struct report	*r;
};

struct peer {
	TAILQ_ENTRY(peer)	 entry;
	TAILQ_ENTRY(peer)	 role_entry;	/* clients or links */
	int			 listed;
	TAILQ_ENTRY(peer)	 dirty_entry;	/* output to flush */
	int			 dirty;
	struct server		*srv;
	struct bufferevent	*bev;
	struct event		*free_ev;
	struct frame_reader	 fr;
	enum peer_role		 role;
	int			 closing;
	int			 close_done;	/* tables told it is gone */
	int			 outgoing;	/* we connected (our parent) */
	uint64_t		 serial;
	uint64_t		 created_ms;
	uint64_t		 last_rx_ms;
	size_t			 in_left;	/* input unframed after a read */
	char			 addr[64];
	uint64_t		 last_tx_ms;
	int			 counted;	/* in nconns: accepted, no link */
	int			 reserve;	/* accepted past --max-connections:
						 * may only join as a server */
	uint64_t		 reg_tat;	/* registration rate (limit.c) */

	/* a client */
	char			*username;
	char			*secret;
	int			 anonymous;
	int			 registered_here; /* REGISTER_SUCCESS sent */
	unsigned		 features;

	char			*session;	/* sender session id */
	uint64_t		 auto_seq;	/* activity_seq we assign */
	uint64_t		 last_seq_in;	/* highest activity_seq taken */
	uint64_t		 since_ms;	/* owed activities sent from */
	uint64_t		 login_wall_ms;
	uint64_t		 history_mark;	/* pages end here (history.c) */

	/* delivery reports: where queued lines end in the output */
	uint64_t		 tx_added;
	uint64_t		 tx_drained;
	uint64_t		 shed;		/* activities shed (slow link) */
	uint64_t		 shed_log_ms;
	uint64_t		 shed_drained;	/* bytes written out so far */
	size_t			 shed_bytes;	/* shed since it took any */
	struct report_mark	*marks;
	int			 mark_head;
	int			 nmarks;
	int			 capmarks;
	struct evbuffer_cb_entry *mark_cb;

	/* a server link */
	struct users_stream	*ustream;	/* our users, still being sent */
	char			*remote_id;
	char			*remote_host;
	int			 remote_port;
	struct link_auth	*auth;		/* the handshake's nonces */
	struct hashjob		*job;		/* a slow hash under way */
	int			 waiting;	/* for it: reading paused */
	uint8_t			 secret_digest[16]; /* logincache_digest */
	int			 remote_tls_port;	/* 0: none known */
	int			 synced;	/* its ACTIVITY_SYNC answered
						 * (or base protocol): live
						 * activities go to it */

	int			 tls;		/* over TLS */
	char			*tls_subject;	/* its verified certificate */
	struct evbuffer		*tls_stage;	/* this turn's output */
};
TAILQ_HEAD(peer_list, peer);

enum known_state {
	KNOWN_UP,
	KNOWN_DOWN,		/* a link to it failed: crashed or stopped */
	KNOWN_LOST,		/* no announce within the liveness window */
	KNOWN_GONE,		/* it left, or a restart took its address */
};

/* A server known from its SERVER_ANNOUNCE (or its link). */
struct known_server {
	char		 id[SERVER_NAME_MAX];
	char		 host[SERVER_NAME_MAX];
	char		 parent[SERVER_NAME_MAX];	/* "" for a root */
	int		 port;
	int		 tls_port;	/* 0: none announced */
	long long	 load;
	uint64_t	 last_seen_ms;
	enum known_state state;
	uint64_t	 lost_wall_ms;	/* when it was last lost */
	uint64_t	 down_ms;	/* now_ms() of the same */
	char		*announce;	/* its last SERVER_ANNOUNCE line */
	size_t		 announce_len;
	int		 reconnecting;	/* it said so in its announce */
	int		 redirected;	/* we sent it a client since its
					 * last announce */
};

#define PATH_DEPTH_MAX	64

enum cluster_status {
	CLUSTER_NORMAL,
	CLUSTER_OUT_OF_SERVICE,
};

/* Delivery report latency buckets, in ms (the last is +Inf). */
#define STATS_REPORT_BUCKETS	12

/*
 * Event counters for the monitoring endpoint, bumped where the events
 * happen; gauges (clients, links, the replay log) are read at a scrape.
 */
struct server_stats {
	uint64_t	 act_from_clients;	/* activities taken in */
	uint64_t	 act_from_servers;
	uint64_t	 act_delivered;		/* lines queued to clients */
	uint64_t	 bytes_in;		/* read from peers */
	uint64_t	 bytes_out;		/* queued to peers */
	uint64_t	 slow_drops;		/* slow consumers dropped */
	uint64_t	 shed;			/* activities shed, slow links */
	uint64_t	 redirects;
	uint64_t	 failovers;		/* parent lost */
	uint64_t	 rejoins;		/* joined again after that */
	uint64_t	 reg_ok;
	uint64_t	 reg_failed;
	uint64_t	 reg_timeout;
	uint64_t	 login_ok;
	uint64_t	 login_failed;
	uint64_t	 holdbacks;		/* held behind an order gap */
	uint64_t	 report_bucket[STATS_REPORT_BUCKETS + 1];
	uint64_t	 report_count;
	uint64_t	 report_sum_ms;
};

struct monitor;

struct server {
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct evconnlistener	*tls_listener;
	struct ssl_ctx_st	*tls_accept_ctx;	/* re-read on SIGHUP */
	struct ssl_ctx_st	*tls_connect_ctx;
	struct evdns_base	*dns;
	struct event		*cron_ev;
	struct event		*sig_ev[3];
	struct config		 cfg;
	char			 id[SERVER_ID_LEN];
	uint8_t			 session_key[16];	/* random: hashes */
	uint8_t			 link_key[32];	/* scrypt of the secret */
	uint8_t			 token_key[16];	/* the cluster's */
	uint8_t			 token_key_old[16];	/* ours before */
	int			 token_key_old_set;
	struct peer_list	 peers;
	struct peer_list	 clients;	/* logged in, not closing */
	struct peer_list	 links;		/* server links, not closing */
	struct peer_list	 dirty;		/* queued output this turn */
	struct event		*flush_ev;
	int			 reads_unflushed;	/* since output queued */
	uint64_t		 next_serial;
	int			 npeers;
	int			 nclients;
	int			 nservers;
	int			 nconns;	/* accepted, not server links */
	int			 nreserve;	/* of those, past the cap */
	struct limit_table	*limits;
	uint64_t		 next_idle_ms;	/* next --anon-idle-timeout scan */

	struct known_server	*known;
	int			 nknown;
	char			*path[PATH_DEPTH_MAX];	/* root first, us last */
	int			 pathlen;
	uint64_t		 next_mid;
	struct seen		*seen_ctl;	/* flooded control messages */
	struct seen		*seen_act;	/* activities */
	uint64_t		 next_act;
	uint64_t		 since_ms;	/* SYNC: we may lack from here */

	struct replay_log	*replay;	/* replay.c */
	struct order_table	*order;		/* order.c */
	struct presence_table	*presence;	/* where users logged in */
	struct report_table	*reports;	/* report.c */
	enum cluster_status	 status;
	char			 status_why[SERVER_NAME_MAX * 2 + 64];
	uint64_t		 status_sent_ms;
	int			 known_changed;	/* tell clients now */

	struct registry		*reg;
	struct hashpool		*hashpool;
	struct logincache	*logincache;
	struct lock_table	*locks;
	struct uplink		*uplink;
	struct history		*history;	/* NULL: none kept */

	uint64_t		 next_announce_ms;
	uint64_t		 last_announce_ms;
	int			 announced_load;
	unsigned		 who_gen;	/* named clients came or went */
	unsigned		 who_announced;	/* who_gen when we announced */
	struct jbuf		 who_list;	/* the last WHO_LIST built */
	uint64_t		 who_built_ms;
	uint64_t		 now_ms;	/* this loop turn's clock */
	/*
	 * When cron last ran, and when the loop was last seen running
	 * before its latest stall (stopped, starved) of more than
	 * --heartbeat-timeout and when that stall ended: lines read just
	 * after a stall were queued while it lasted, and are no sign
	 * that a link was alive then.
	 */
	uint64_t		 cron_ran_ms;
	uint64_t		 stalled_from_ms;
	uint64_t		 stall_end_ms;
	/*
	 * Scratch for building lines, one holder at a time: taken with
	 * server_out_take() (which resets it) and given back once its
	 * bytes are sent, so no builder can rewrite a line that is still
	 * being fanned out.  Never used directly.
	 */
	struct jbuf		 out;
	const char		*out_owner;	/* who holds out; NULL: free */
	struct server_stats	 stats;
	struct monitor		*monitor;	/* --monitor */
	uint64_t		 start_ms;
	uint64_t		 start_wall_ms;
	int			 exit_code;
	int			 stopping;	/* leaving: no failover */
	int			 exiting;
	uint64_t		 leave_deadline_ms;
};

enum cmd_ret {
	CMD_OK,
	CMD_CLOSE,
};

/* config.c */
#define CONFIG_LINE_MAX		4096
#define CONFIG_KEYS_MAX		4096

/* A config file as command-line words, each with its line number. */
struct config_file {
	char		*path;
	char		**argv;		/* argv[0] is the program's name */
	int		*line;
	int		 argc;
	int		 cap;
};
struct option;

void		 config_defaults(struct config *);
int		 config_default_data_dir(int, char *, size_t, char *, size_t);
int		 config_file_read(struct config_file *, const char *,
		    const struct option *, char *, size_t);
void		 config_file_free(struct config_file *);
void		 config_reload_apply(struct config *, const struct config *);

/* server.c */
struct server	*server_new(struct event_base *, const struct config *);
int		 server_listen(struct server *);
void		 server_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
void		 server_accept_error_cb(struct evconnlistener *, void *);
struct evconnlistener *server_bind(struct server *, int);
void		 server_free(struct server *);
void		 server_shutdown(struct server *, const char *);
void		 server_leave(struct server *, const char *);
int		 server_client_room(struct peer *);
struct jbuf	*server_out_take_as(struct server *, const char *);
void		 server_out_put(struct server *);
#define server_out_take(srv)	server_out_take_as((srv), __func__)

/* peer.c */
struct peer	*peer_new(struct server *, struct bufferevent *, const char *,
		    int);
void		 peer_close(struct peer *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 peer_free(struct peer *);
void		 peer_set_role(struct peer *, enum peer_role);
void		 peer_uncount(struct peer *);
void		 peer_flush_cb(evutil_socket_t, short, void *);
int		 peer_send(struct peer *, const void *, size_t);
int		 peer_shed(struct peer *, size_t);
int		 peer_send_jbuf(struct peer *, struct jbuf *);
void		 peer_reply_close(struct peer *, enum msg_cmd, const char *);
void		 peer_reply_info(struct peer *, enum msg_cmd, const char *);
const char	*peer_name(const struct peer *);
size_t		 peer_queued(const struct peer *);
void		 peer_resume(struct peer *, hashjob_cb, const char *, size_t,
		    int, const char *);

/* dispatch.c */
enum cmd_ret	 dispatch_line(struct peer *, const char *, size_t);

/* cmd-client.c */
enum cmd_ret	 cmd_login(struct peer *, struct msg *);
enum cmd_ret	 cmd_logout(struct peer *, struct msg *);
enum cmd_ret	 cmd_register(struct peer *, struct msg *);
enum cmd_ret	 cmd_activity_message(struct peer *, struct msg *);
enum cmd_ret	 cmd_ping(struct peer *, struct msg *);

/* cmd-history.c */
enum cmd_ret	 cmd_history(struct peer *, struct msg *);

/* cmd-server.c */
enum cmd_ret	 cmd_authenticate(struct peer *, struct msg *);
enum cmd_ret	 link_accept(struct peer *, struct msg *);
enum cmd_ret	 cmd_authenticate_success(struct peer *, struct msg *);
enum cmd_ret	 cmd_close_notice(struct peer *, struct msg *);
enum cmd_ret	 cmd_server_announce(struct peer *, struct msg *);
enum cmd_ret	 cmd_lock_request(struct peer *, struct msg *);
enum cmd_ret	 cmd_lock_answer(struct peer *, struct msg *);
enum cmd_ret	 cmd_user_register_result(struct peer *, struct msg *);
enum cmd_ret	 cmd_user_sync(struct peer *, struct msg *);
enum cmd_ret	 cmd_pong(struct peer *, struct msg *);
enum cmd_ret	 cmd_backup_list(struct peer *, struct msg *);
enum cmd_ret	 cmd_server_leave(struct peer *, struct msg *);

/* handshake.c */
void		 handshake_hello(struct server *, struct peer *);
void		 handshake_accept_fields(struct server *, struct peer *,
		    struct jbuf *);
int		 handshake_check_accept(struct peer *, struct msg *);
void		 handshake_free(struct peer *);
enum cmd_ret	 cmd_server_hello(struct peer *, struct msg *);
enum cmd_ret	 cmd_server_challenge(struct peer *, struct msg *);
enum cmd_ret	 cmd_server_proof(struct peer *, struct msg *);

/* hashpool.c */
#define HASHPOOL_THREADS	2	/* the default */
#define HASHPOOL_THREADS_MAX	16
#define HASHPOOL_PENDING_MAX	256	/* jobs waiting, then refuse */
#define HASHPOOL_COST		1	/* yescrypt's cost: ~5 ms a hash */
#define HASHPOOL_CPU		25	/* the default --hash-cpu, % */
struct hashpool	*hashpool_new(struct server *, int, int);
void		 hashpool_free(struct hashpool *);
int		 hashpool_submit(struct server *, struct peer *,
		    enum hashjob_kind, const char *, const char *,
		    const char *, size_t, hashjob_cb);
void		 hashpool_peer_gone(struct peer *);
uint64_t	 hashpool_rescues(struct hashpool *);
uint64_t	 hashpool_submitted(struct hashpool *);
void		 hashpool_pause_workers(struct hashpool *, int);
int		 hashpool_is_hash(const char *);
int		 hashpool_hash(const char *, char *, size_t);
int		 hashpool_verify(const char *, const char *);

/* logincache.c */
#define LOGINCACHE_DIGEST_LEN	16	/* SipHash-2-4-128 */
#define LOGINCACHE_TTL_MS	300000	/* the default: five minutes */
#define LOGINCACHE_SIZE		10000	/* the default cap */
struct logincache;
struct logincache *logincache_new(size_t, uint64_t);
void		 logincache_free(struct logincache *);
void		 logincache_digest(const struct logincache *, const char *,
		    const char *, uint8_t[LOGINCACHE_DIGEST_LEN]);
int		 logincache_matches(const struct logincache *, const char *,
		    const char *, const uint8_t[LOGINCACHE_DIGEST_LEN]);
int		 logincache_check(struct logincache *, const char *,
		    const char *, const char *);
void		 logincache_add(struct logincache *, const char *,
		    const char *, const char *);
void		 logincache_forget(struct logincache *, const char *);
size_t		 logincache_count(const struct logincache *);
uint64_t	 logincache_hits(const struct logincache *);

/* token.c */
#define TOKEN_LEN_MAX	64
void		 token_init(struct server *);
void		 token_set_key(struct server *, const uint8_t *);
void		 token_make(struct server *, const char *, const char *,
		    char *);
const char	*token_check(struct server *, const char *, const char *,
		    const char *);

/* tree.c */
void		 tree_forward(struct server *, struct peer *,
		    const struct msg *);
void		 tree_send_servers(struct server *, struct peer *,
		    const void *, size_t);
void		 tree_send_activity(struct server *, struct peer *,
		    const void *, size_t, int);
void		 tree_send_clients(struct server *, const void *, size_t);
void		 tree_announce(struct server *);
void		 tree_send_users(struct server *, struct peer *, int);
void		 tree_stream_free(struct peer *);
void		 tree_add_mid(struct server *, struct jbuf *);
int		 tree_seen(struct server *, struct msg *);
void		 tree_set_path(struct server *, char **, int);
int		 tree_parse_path(struct json_span, char **, int *);
void		 tree_free_path(char **, int);
void		 tree_add_path(struct server *, struct jbuf *);
void		 tree_leave(struct server *, const char *, const char *);
void		 tree_link_lost(struct server *, struct peer *);
void		 tree_user_replaced(struct server *, const char *);

/* known.c */
struct known_server *known_find(struct server *, const char *);
struct known_server *known_update(struct server *, const char *,
		    const char *, int, long long);
struct known_server *known_least_loaded(struct server *, long long);
enum cluster_status known_cluster_state(struct server *, char *, size_t);
int		 known_cluster_normal(struct server *);
void		 known_mark_lost(struct server *, const char *);
void		 known_left(struct server *, const char *);
void		 known_on_leave(struct server *, const char *, const char *,
		    long long);
void		 known_set_parent(struct known_server *, struct json_span);
void		 known_keep_announce(struct known_server *, const char *,
		    size_t);
void		 known_replay(struct server *, struct peer *);
void		 known_free(struct server *);
void		 known_check(struct server *);
void		 known_send_status(struct server *, struct peer *);
void		 known_build_status(struct server *, struct jbuf *);
const char	*known_state_name(enum known_state);

/* backup.c */
void		 backup_send(struct server *, struct peer *);
void		 backup_send_all(struct server *);

/* activity.c */
enum cmd_ret	 activity_publish(struct peer *, struct msg *);
enum cmd_ret	 cmd_activity_broadcast(struct peer *, struct msg *);
enum cmd_ret	 cmd_activity_succ_info(struct peer *, struct msg *);
enum cmd_ret	 cmd_activity_sync(struct peer *, struct msg *);

/* presence.c */
struct presence_table *presence_table_new(void);
void		 presence_table_free(struct presence_table *);
void		 presence_announce(struct server *, const char *,
		    const char *);
void		 presence_login(struct server *, struct peer *);
enum cmd_ret	 cmd_user_presence(struct peer *, struct msg *);

/* monitor.c */
int		 monitor_parse(const char *, char *, size_t, int *);
int		 monitor_start(struct server *, const char *);
void		 monitor_free(struct server *);
void		 monitor_report_latency(struct server *, uint64_t);
/* tls-server.c */
int		 tls_setup(struct server *);
int		 tls_reload(struct server *);
int		 tls_listen(struct server *);
void		 tls_free(struct server *);
struct bufferevent *tls_accept_bev(struct server *, evutil_socket_t);
struct bufferevent *tls_connect_bev(struct server *, const char *);
void		 tls_peer_connected(struct peer *);
void		 tls_peer_write_now(struct peer *);
int		 tls_peer_refuse_server(struct peer *);
const char	*tls_peer_error(struct peer *);

/* who.c */
void		 who_announce_users(struct server *, struct jbuf *);
enum cmd_ret	 cmd_who(struct peer *, struct msg *);

/* cron.c */
void		 cron_start(struct server *);
void		 cron_tick(struct server *);

#endif
