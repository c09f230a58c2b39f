/*
 * A failover-capable test client, poll-driven so one thread can drive
 * many of them (fc_poll).  It logs in with every extension
 * (backup_list, cluster_status, activity_seq, sending_report, resume,
 * heartbeat) unless told to speak the base protocol, follows REDIRECT,
 * and when its connection is lost (or nothing arrives for dead_ms after
 * a PING) tries its last BACKUP_LIST in order, then the servers it was
 * given, with a short backoff between rounds, logging in again with
 * "resume" {session, seen, since}.
 *
 * It records every activity it receives (sender, activity_seq, the
 * test's tag and number, the time) after dropping repeats by (sender,
 * activity_seq), which it counts, and notes every break of per-sender
 * order.  It records what it sent and the ACTIVITY_SENDING_REPORT each
 * send got.  Tests check exactly-once and order on these records.
 *
 * Activities the tests send are {"t": tag, "n": number}.
 */
#ifndef IT_FCLIENT_H
#define IT_FCLIENT_H

#include <stdint.h>

#include <cJSON.h>

struct it_server;

#define FC_BASE		0x01	/* the base protocol: no features */
#define FC_NO_RESUME	0x02	/* features, but never resume */
#define FC_NO_FAILOVER	0x04	/* a lost connection stays lost */

#define FC_ADDRS_MAX	32

struct fc_addr {
	char		 host[64];
	int		 port;
};

/* One activity as received (after dropping repeats). */
struct fc_rx {
	char		*sender;	/* NULL from a base-protocol line */
	uint64_t	 seq;		/* 0 without activity_seq */
	char		*tag;		/* activity "t", or NULL */
	long		 n;		/* activity "n", -1 if none */
	char		*user;		/* authenticated_user */
	uint64_t	 at_ms;		/* monotonic time of arrival */
	int		 port;		/* the server it came from */
};

/* One activity as sent, and its delivery report. */
struct fc_sent {
	uint64_t	 seq;
	char		*tag;
	long		 n;
	uint64_t	 at_ms;
	int		 reported;	/* ACTIVITY_SENDING_REPORT count */
	long long	 client_count;
	long long	 succ_count;
	int		 partial;
	uint64_t	 report_ms;
};

struct fc_sender {
	char		*sid;
	uint64_t	 last;		/* highest activity_seq seen */
	uint64_t	*bits;		/* activity_seqs received */
	size_t		 nbits;		/* in 64-bit words */
};

enum fc_state {
	FC_DOWN,		/* between attempts (or given up) */
	FC_CONNECTING,		/* TCP connect in progress */
	FC_LOGIN,		/* LOGIN sent, awaiting the reply */
	FC_UP,			/* LOGIN_SUCCESS received */
};

struct fclient {
	char		 name[64];
	char		 netns[64];	/* its sockets' namespace ("": ours) */
	char		 user[128];
	char		 secret[128];
	unsigned	 flags;
	int		 fd;
	enum fc_state	 state;
	int		 sticky;	/* REDIRECT: retry the same server */
	int		 closed;	/* fc_close: never reconnect */
	unsigned	 gen;		/* bumped whenever fd is closed */

	char		*in;
	size_t		 inlen, incap;
	char		*out;
	size_t		 outlen, outcap;

	struct fc_addr	 cur;		/* where we are (or go) */
	struct fc_addr	 backups[FC_ADDRS_MAX]; /* last BACKUP_LIST */
	int		 nbackups;
	int		 backup_lists;	/* BACKUP_LISTs received */
	struct fc_addr	 given[FC_ADDRS_MAX];	/* fc_add_server */
	int		 ngiven;
	struct fc_addr	 round[2 * FC_ADDRS_MAX];
	int		 nround, next, rounds;
	uint64_t	 retry_at;	/* FC_DOWN: next attempt */

	char		 session[128];	/* LOGIN_SUCCESS "session" */
	char		 token[64];	/* and the token to resume it */
	char		 server_id[64];	/* LOGIN_SUCCESS "id" */
	long long	 since;		/* first LOGIN_SUCCESS "time" */
	char		 resumed[16];	/* its "resume" */
	uint64_t	 next_seq;	/* our next activity_seq */

	struct fc_sender *senders;
	int		 nsenders;
	struct fc_rx	*rx;
	int		 nrx, caprx;
	struct fc_sent	*sent;
	int		 nsent, capsent;

	int		 logins;	/* LOGIN_SUCCESS received */
	int		 redirects;
	int		 failovers;	/* losses of an UP connection */
	int		 resumes_ok, resumes_partial;
	int		 dups;		/* repeats dropped */
	int		 order_errors;	/* per-sender order broken */
	int		 errors;	/* error replies received */
	int		 unknown;	/* lines we did not expect */
	int		 stray_reports;	/* reports matching no send */
	char		 last_error[512];
	char		 first_order_error[256];
	char		 first_dup[256];

	char		 status[32];	/* last CLUSTER_STATUS status */
	cJSON		*cluster;	/* last CLUSTER_STATUS */
	int		 statuses;
	int		 out_of_service; /* OUT_OF_SERVICE received */

	int		 ping_ms;	/* idle time before a PING (1000) */
	int		 dead_ms;	/* silent so long after it: dead */
	uint64_t	 last_rx_ms;
	uint64_t	 ping_sent_ms;	/* 0: none outstanding */
	uint64_t	 login_sent_ms;
	uint64_t	 down_ms;	/* when the last UP link was lost */
	uint64_t	 up_ms;		/* when it last logged in */
	uint64_t	 last_outage_ms;
};

/*
 * A client; nothing happens until fc_start.  Its sockets are opened in
 * the namespace it_client_netns() names when it is made.
 */
struct fclient	*fc_new(const char *, const char *, const char *,
		    unsigned);
/* A server to fall back on after the backup list. */
void		 fc_add_server(struct fclient *, int);
void		 fc_add_server_at(struct fclient *, const char *, int);
/*
 * How a host name other than a dotted address or localhost is turned
 * into one (NULL: unknown name, the attempt fails); unset, every such
 * name is loopback.  tests/net sets it from its hosts table.
 */
extern const char *(*fc_resolve)(const char *);
/*
 * Connect to port and log in.  sticky: a REDIRECT of this first login
 * is retried at the same port (stale loads settle), so the test knows
 * where the client is.
 */
void		 fc_start(struct fclient *, int, int);
void		 fc_start_at(struct fclient *, const char *, int, int);
/* Drop the connection and never reconnect. */
void		 fc_close(struct fclient *);
/* Drop the connection as if it broke (the client fails over). */
void		 fc_break(struct fclient *);
/* Free every client fc_new made (test teardown). */
void		 fc_cleanup(void);

/* Run the clients for at most ms (less if something happened). */
void		 fc_poll(struct fclient **, int, int);
/* Run them for exactly ms. */
void		 fc_run(struct fclient **, int, int);

/*
 * Send {"t": tag, "n": n} with the next activity_seq; returns that seq
 * (1, 2, ... per session), or 0 if the client is not logged in.
 */
uint64_t	 fc_send(struct fclient *, const char *, long);
/* Send with an explicit activity_seq (0: none); raw, for order tests. */
int		 fc_send_seq(struct fclient *, const char *, long, uint64_t);

int		 fc_up(const struct fclient *);
/* Received (tag, n) how many times (after dropping repeats)? */
int		 fc_count(const struct fclient *, const char *, long);
/* The record of (tag, n), or NULL. */
const struct fc_rx *fc_find(const struct fclient *, const char *, long);
/* Have all of these got (tag, n)? */
int		 fc_all_have(struct fclient **, int, const char *, long);
/* Has c got every (tag, lo..hi)? */
int		 fc_has_range(const struct fclient *, const char *, long,
		    long);
const struct fc_sent *fc_sent_seq(const struct fclient *, uint64_t);
/* A CLUSTER_STATUS entry's state for the server on port, or NULL. */
const char	*fc_server_state(const struct fclient *, int);

/*
 * Fail the test unless c received (tag, lo..hi) each exactly once and
 * in that order, with no repeat or order error recorded.
 */
void		 fc_check_exact_at(const char *, int,
		    const struct fclient *, const char *, long, long, int);
#define fc_check_exact(c, tag, lo, hi) \
	fc_check_exact_at(__FILE__, __LINE__, c, tag, lo, hi, 0)
/* The same, but repeats dropped by the client (resume overlap) allowed. */
#define fc_check_exact_dups_ok(c, tag, lo, hi) \
	fc_check_exact_at(__FILE__, __LINE__, c, tag, lo, hi, 1)

/* Wait (driving the clients) until cond holds; fail with the message. */
#define FC_WAIT(cs, n, ms, cond, ...) do {				\
	uint64_t _fc_deadline = it_now_ms() + (uint64_t)(ms);		\
									\
	while (!(cond)) {						\
		if (it_now_ms() >= _fc_deadline)			\
			it_fail(__VA_ARGS__);				\
		fc_poll(cs, n, 5);					\
	}								\
} while (0)

/* A one-line summary of a client for failure messages. */
const char	*fc_describe(const struct fclient *);

/*
 * Groups: every client fc_new made, in order (fc_cleanup empties it).
 * The helpers below work on all of them but those fc_close closed.
 */
struct fclient	**fc_list(int *);
/* An anonymous client (flags as fc_new) logging in at exactly s. */
struct fclient	*fc_on(struct it_server *, const char *, unsigned);
/* Wait until every client is logged in. */
void		 fc_wait_up_at(const char *, int, int);
#define fc_wait_up(ms) fc_wait_up_at(__FILE__, __LINE__, ms)
/* Wait for a server log line, driving the clients meanwhile. */
void		 fc_wait_log_at(const char *, int, struct it_server *,
		    const char *, int, int);
#define fc_wait_log(s, needle, count, ms) \
	fc_wait_log_at(__FILE__, __LINE__, s, needle, count, ms)
/*
 * Every client sends one activity tagged tag; every client (the
 * senders too) must get every one within ms.  Returns the first n used
 * (client i sent n + i, in fc_list order).
 */
long		 fc_exchange_at(const char *, int, const char *, int);
#define fc_exchange(tag) \
	fc_exchange_at(__FILE__, __LINE__, tag, it_timeout())

#define FC_CLEAN_STRICT		0
#define FC_CLEAN_DUPS_OK	1	/* repeats dropped by (sender, seq) */
#define FC_CLEAN_ORDER_OK	2	/* per-sender order breaks */
/*
 * No client got a payload twice (whatever route or id it came with),
 * nor (unless allowed) a repeat it dropped or a per-sender order break,
 * nor an error, a command it did not ask for or a stray report.
 */
void		 fc_check_clean_at(const char *, int, int);
#define fc_check_clean() fc_check_clean_at(__FILE__, __LINE__, \
	FC_CLEAN_STRICT)

#endif
