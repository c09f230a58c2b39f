/*
 * Integration test harness: real activity-server processes on free
 * loopback ports, and blocking line-oriented TCP clients with poll
 * timeouts.  Everything a test starts (servers, clients, temporary
 * directories) is owned by the harness and released by it_cleanup(),
 * which every test's cmocka teardown calls, and again at exit.
 *
 * Failures inside the harness report the caller's file and line, print
 * what was expected and what arrived instead, and dump the tail of every
 * server's log before failing the test.  Nothing is skipped silently:
 * the expect helpers fail on any line other than the expected one.
 *
 * The server binary is $ACTIVITY_BIN/activity-server (default ./bin).
 * IT_TIMEOUT_MS (default 5000) scales every wait, and it_scale_ms()
 * stretches the slack of a timing bound by the same factor (a bound
 * checked under valgrind needs more); IT_VERBOSE=1 prints
 * the full server logs at every cleanup.
 */
#ifndef IT_HARNESS_H
#define IT_HARNESS_H

#include <sys/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>
#include <cJSON.h>

#define IT_SECRET	"it-cluster-secret"
#define IT_MAX_LINE	(1024 * 1024)

struct it_server {
	char		 name[32];
	pid_t		 pid;
	int		 port;
	char		 port_str[16];
	char		 errpath[4160];	/* its stderr */
	char		 outpath[4160];	/* its stdout */
	int		 reaped;	/* waitpid has collected it */
	int		 status;	/* waitpid status once reaped */
	int		 expect_dead;	/* the test killed or stopped it */
	int		 stopped;	/* SIGSTOPped */
	char		*argv[64];	/* as started, "@PORT" substituted */
	int		 argc;
	char		 netns[64];	/* its network namespace, or "" */
	char		 host[64];	/* where clients reach it ("": loopback) */
};

struct it_client {
	char		 name[48];
	int		 fd;
	char		*buf;		/* bytes read but not consumed */
	size_t		 len;
	size_t		 cap;
	char		*line;		/* the last line read (NUL-terminated) */
	size_t		 line_len;
	cJSON		*msg;		/* the last line parsed */
	struct it_server *srv;		/* where it connected */
	char		 user[128];	/* after it_login: who it is */
	char		 secret[128];
	int		 logged_in;
};

/* Outcome of it_read_line. */
enum it_read {
	IT_READ_LINE = 1,
	IT_READ_TIMEOUT = 0,
	IT_READ_CLOSED = -1,		/* EOF or reset */
};

int		 it_timeout(void);		/* ms for one wait */
/* A time bound's slack, stretched as IT_TIMEOUT_MS is (never shrunk). */
int		 it_scale_ms(int);
/* The fdatasync/fsync LD_PRELOAD shim (IT_FSYNC_SHIM); fails if none. */
const char	*it_fsync_shim(void);
/*
 * Servers spawned between these run under the shim; the caller sets
 * FSYNC_SHIM_LOG, _FAIL or _FULL after it_shim_begin, it_shim_end
 * clears them.
 */
void		 it_shim_begin(void);
void		 it_shim_end(void);
/* The whole file (malloc'd, NUL-terminated); "" if it cannot be read. */
char		*it_read_file(const char *, size_t *);
const char	*it_bin(void);			/* directory of the binaries */
const char	*it_tmpdir(void);		/* this process's scratch dir */
char		*it_mkdtemp(const char *);	/* a fresh dir under it */
int		 it_cleanup(void);		/* 0 if every server was healthy */
int		 it_teardown(void **);		/* cmocka teardown: it_cleanup */
int		 it_setup(void **);		/* cmocka setup: nothing yet */
uint64_t	 it_now_ms(void);
int		 it_free_port(void);

/*
 * Servers.  argv lists the arguments after the program name; an element
 * "@PORT" is replaced by a free port (re-picked if the bind races).
 * it_spawn waits until the server accepts connections unless `ready` is
 * 0 (a server expected to exit).  Variadic forms take NULL-terminated
 * extra arguments; the macros add the NULL.
 */
struct it_server *it_spawn_at(const char *, int, const char *,
		    const char *const *, int);
struct it_server *it_root_at(const char *, int, const char *, ...);
struct it_server *it_child_at(const char *, int, const char *,
		    struct it_server *, ...);
#define it_spawn(name, argv, ready) \
	it_spawn_at(__FILE__, __LINE__, name, argv, ready)
/*
 * -lh localhost -lp @PORT -s IT_SECRET -a 100 --allow-base-servers (so
 * a test can play a server with the base protocol's AUTHENTICATE; the
 * servers themselves always join with the handshake), plus extras.
 */
#define it_root(name, ...) \
	it_root_at(__FILE__, __LINE__, name, ##__VA_ARGS__, (char *)NULL)
/*
 * A server as a deployment starts it, with no test switch: the first
 * it_plain_args (returned) of argv are -lh localhost -lp @PORT -s
 * IT_SECRET -a 100; it_plain adds extras to them.
 */
int		 it_plain_args(const char **);
struct it_server *it_plain_at(const char *, int, const char *, ...);
#define it_plain(name, ...) \
	it_plain_at(__FILE__, __LINE__, name, ##__VA_ARGS__, (char *)NULL)
/* As it_root plus -rh localhost -rp <parent>; waits until it joined. */
#define it_child(name, parent, ...) \
	it_child_at(__FILE__, __LINE__, name, parent, ##__VA_ARGS__, \
	    (char *)NULL)

/*
 * Servers start with --data-dir none (before the test's arguments, so
 * a test's own --data-dir wins) unless they are given a config file or
 * a test clears this; $XDG_STATE_HOME points into it_tmpdir() anyway.
 */
extern int	 it_no_data_dir;

/*
 * A server on another host (tests/net): started in network namespace
 * netns (ip netns exec, so /etc/netns/NETNS/hosts applies) and reached
 * at host:port.  Test clients open their sockets in the namespace
 * it_set_client_netns names ("" or NULL: the test's own).
 */
struct it_server *it_spawn_ns_at(const char *, int, const char *,
		    const char *, const char *, const char *const *);
#define it_spawn_ns(name, netns, host, argv) \
	it_spawn_ns_at(__FILE__, __LINE__, name, netns, host, argv)
void		 it_set_client_netns(const char *);
const char	*it_client_netns(void);
/* Switch this thread to netns ("" : stay); it_netns_leave goes back. */
int		 it_netns_enter(const char *);
void		 it_netns_leave(void);
/* A socket of type opened in netns ("": ours), or -1. */
int		 it_netns_socket(const char *, int);

int		 it_server_alive(struct it_server *);
int		 it_server_stop(struct it_server *);	/* SIGTERM; status */
void		 it_server_kill9(struct it_server *);
void		 it_server_sigstop(struct it_server *);
void		 it_server_sigcont(struct it_server *);
/* Wait for the server to exit by itself; -1 on timeout, else status. */
int		 it_server_wait_exit(struct it_server *, int);
char		*it_server_log(struct it_server *);	/* stderr, malloc'd */
char		*it_server_stdout(struct it_server *);
int		 it_log_count(struct it_server *, const char *);
/* Wait until the server's stderr contains `needle` (count times). */
void		 it_wait_log_at(const char *, int, struct it_server *,
		    const char *, int);
#define it_wait_log(s, needle) \
	it_wait_log_at(__FILE__, __LINE__, s, needle, 1)
#define it_wait_log_n(s, needle, n) \
	it_wait_log_at(__FILE__, __LINE__, s, needle, n)

/* Clients. */
struct it_client *it_connect_at(const char *, int, struct it_server *,
		    const char *);
#define it_connect(s, name) it_connect_at(__FILE__, __LINE__, s, name)
struct it_client *it_connect_port_at(const char *, int, int, const char *);
void		 it_close(struct it_client *);
int		 it_send_raw(struct it_client *, const void *, size_t);
int		 it_sendf(struct it_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
enum it_read	 it_read_line(struct it_client *, int);

cJSON		*it_expect_at(const char *, int, struct it_client *,
		    const char *, int);
void		 it_expect_closed_at(const char *, int, struct it_client *,
		    int);
/* The next line is `cmd` (any info), then the server closes. */
void		 it_expect_reply_close_at(const char *, int,
		    struct it_client *, const char *);
#define it_expect(c, cmd) \
	it_expect_at(__FILE__, __LINE__, c, cmd, it_timeout())
#define it_expect_within(c, cmd, ms) \
	it_expect_at(__FILE__, __LINE__, c, cmd, ms)
#define it_expect_closed(c) \
	it_expect_closed_at(__FILE__, __LINE__, c, it_timeout())
#define it_expect_reply_close(c, cmd) \
	it_expect_reply_close_at(__FILE__, __LINE__, c, cmd)

/*
 * Protocol steps.  it_login sends LOGIN (secret NULL: none sent) and
 * expects LOGIN_SUCCESS; use it only where no REDIRECT is possible (one
 * server, or at most one client per server).  it_login_fail expects
 * LOGIN_FAILED and the close.
 */
void		 it_login_at(const char *, int, struct it_client *,
		    const char *, const char *);
#define it_login(c, user, secret) \
	it_login_at(__FILE__, __LINE__, c, user, secret)
void		 it_login_fail_at(const char *, int, struct it_client *,
		    const char *, const char *);
#define it_login_fail(c, user, secret) \
	it_login_fail_at(__FILE__, __LINE__, c, user, secret)
/* REGISTER on a fresh connection to s, expect REGISTER_SUCCESS, close. */
void		 it_register_at(const char *, int, struct it_server *,
		    const char *, const char *);
#define it_register(s, user, secret) \
	it_register_at(__FILE__, __LINE__, s, user, secret)
/*
 * Log in on fresh connections to s until it succeeds or the deadline
 * passes (registrations reach other servers eventually); then log out.
 */
void		 it_login_eventually_at(const char *, int, struct it_server *,
		    const char *, const char *);
#define it_login_eventually(s, user, secret) \
	it_login_eventually_at(__FILE__, __LINE__, s, user, secret)
/* Send ACTIVITY_MESSAGE with the logged-in credentials. */
int		 it_send_activity(struct it_client *, const char *);

/*
 * A roster: every logged-in client of a cluster, each of which must
 * receive every broadcast exactly once.  it_roster_login logs a client
 * in at exactly the given server: it proves the login stuck by sending
 * a hello activity that every member (the sender too) must receive
 * next; a REDIRECT (the server saw stale loads) is retried until the
 * deadline.
 */
struct it_roster {
	struct it_client *c[32];
	int		  n;
	int		  seq;
};
struct it_client *it_roster_login_at(const char *, int, struct it_roster *,
		    struct it_server *, const char *, const char *,
		    const char *);
#define it_roster_login(r, s, name, user, secret) \
	it_roster_login_at(__FILE__, __LINE__, r, s, name, user, secret)
/* Send from `from`; every member's next line must be that broadcast. */
void		 it_roster_broadcast_at(const char *, int, struct it_roster *,
		    struct it_client *);
#define it_roster_broadcast(r, from) \
	it_roster_broadcast_at(__FILE__, __LINE__, r, from)

/* A listener on 127.0.0.1:port, which was just freed: retried a while. */
int		 it_listen_freed(int);
/* A listener on 127.0.0.1 at a port the kernel picks; its number in port. */
int		 it_listen_any(char [16]);

/*
 * Certificates made at run time with the openssl command (no key is
 * kept in the tree): it_run runs a shell command or fails the test;
 * it_make_ca makes DIR/NAME.{key,crt} self-signed for common name CN;
 * it_make_cert makes DIR/NAME.{key,crt} for CN and subjectAltName SAN,
 * signed by the CA named CA in DIR.
 */
void		 it_run(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 it_make_ca(const char *, const char *, const char *);
void		 it_make_cert(const char *, const char *, const char *,
		    const char *, const char *);

/* Run a group; IT_FILTER (a cmocka pattern such as "login*") narrows it. */
void		 it_apply_filter(void);
#define it_run_tests(name, tests) \
	(it_apply_filter(), \
	    cmocka_run_group_tests_name(name, tests, NULL, NULL))

/* Report a failure at file:line, dump the server logs, fail the test. */
void		 it_fail_at(const char *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4), noreturn));
#define it_fail(...) it_fail_at(__FILE__, __LINE__, __VA_ARGS__)

/* Raw JSON helpers for byte-exact checks. */
int		 it_json_members(const char *, size_t, const char **,
		    size_t *, int);
int		 it_json_member(const char *, size_t, const char *,
		    const char **, size_t *);
char		*it_escape(const char *, size_t);	/* for messages */

#endif
