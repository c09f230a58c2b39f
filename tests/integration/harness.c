/*
 * Integration test harness: start real activity-server processes on
 * free loopback ports and talk to them over plain blocking sockets with
 * poll() timeouts.  Every wait is for a condition with a deadline; the
 * only pauses are short polling intervals inside those waits.
 */
#include <sys/prctl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define IT_MAX_SERVERS		64
#define IT_MAX_CLIENTS		256
#define IT_MAX_PORTS		512
#define IT_POLL_MS		5	/* polling interval inside waits */
#define IT_SPAWN_TRIES		6

static struct it_server	*servers[IT_MAX_SERVERS];
static int		 nservers;
static struct it_client	*clients[IT_MAX_CLIENTS];
static int		 nclients;
static int		 ports_used[IT_MAX_PORTS];
static int		 nports_used;
static char		 tmpdir[PATH_MAX];
static char		*dirs[IT_MAX_SERVERS];	/* it_mkdtemp paths to free */
static int		 ndirs;
static pid_t		 owner_pid;

static void	 ports_release(void);
static int		 server_serial;
int			 it_no_data_dir = 1;
static char		 client_netns[64];
static __thread int	 home_netns = -1;	/* the thread's own */

static void	it_init(void);

uint64_t
it_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
it_pause_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
it_timeout(void)
{
	static int	 t;
	const char	*e;

	if (t == 0) {
		e = getenv("IT_TIMEOUT_MS");
		t = e != NULL ? atoi(e) : 0;
		if (t <= 0)
			t = 5000;
	}
	return t;
}

/* Slack for a time bound: ms at the default 5000, more when stretched. */
int
it_scale_ms(int ms)
{
	long long	 t = (long long)ms * it_timeout() / 5000;

	return t > ms ? (int)t : ms;
}

/* Built by the Makefile next to the test binaries. */
const char *
it_fsync_shim(void)
{
	const char	*p = getenv("IT_FSYNC_SHIM");

	if (p == NULL || *p == '\0' || access(p, R_OK) != 0)
		it_fail("IT_FSYNC_SHIM (%s) names no readable shim: run the "
		    "tests through make", p != NULL ? p : "unset");
	return p;
}

static char	*shim_asan_old;	/* ASAN_OPTIONS before it_shim_begin */
static int	 shim_on;

/*
 * Servers spawned from here to it_shim_end run under the fsync shim
 * (the caller sets its FSYNC_SHIM_* variables); ASan, which wants to
 * be first, is told the shim comes before it.
 */
void
it_shim_begin(void)
{
	const char	*old = getenv("ASAN_OPTIONS");
	char		 asan[512];

	if (shim_on)
		it_fail("it_shim_begin twice");
	shim_on = 1;
	free(shim_asan_old);
	shim_asan_old = old != NULL ? strdup(old) : NULL;
	snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0",
	    old != NULL ? old : "", old != NULL && *old != '\0' ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
	setenv("LD_PRELOAD", it_fsync_shim(), 1);
}

/* Servers spawned from here on run without the shim. */
void
it_shim_end(void)
{
	unsetenv("LD_PRELOAD");
	unsetenv("FSYNC_SHIM_LOG");
	unsetenv("FSYNC_SHIM_FAIL");
	unsetenv("FSYNC_SHIM_FULL");
	if (shim_asan_old != NULL)
		setenv("ASAN_OPTIONS", shim_asan_old, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(shim_asan_old);
	shim_asan_old = NULL;
	shim_on = 0;
}

const char *
it_bin(void)
{
	const char	*e = getenv("ACTIVITY_BIN");

	return e != NULL && *e != '\0' ? e : "./bin";
}

/* A printable, capped rendering of bytes for failure messages. */
char *
it_escape(const char *s, size_t n)
{
	static char	 bufs[4][1200];
	static int	 k;
	char		*b = bufs[k++ & 3], *p = b;
	size_t		 i;

	if (s == NULL)
		return strcpy(b, "(null)");
	for (i = 0; i < n && p < b + sizeof bufs[0] - 16; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			p += sprintf(p, "\\n");
		else if (c < 0x20 || c == 0x7f)
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	if (i < n)
		p += sprintf(p, "...(%zu bytes)", n);
	*p = '\0';
	return b;
}

/* The whole file (malloc'd, NUL-terminated); "" if it cannot be read. */
char *
it_read_file(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 len = 0, cap = 0, n;

	if ((f = fopen(path, "r")) == NULL) {
		if (lenp != NULL)
			*lenp = 0;
		return strdup("");
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			if ((buf = realloc(buf, cap + 1)) == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

/* Print the last `lines` lines of a server's stderr (and its stdout). */
static void
dump_server(struct it_server *s, int lines)
{
	char	*log, *p;
	size_t	 len;
	int	 n = 0;

	log = it_read_file(s->errpath, &len);
	p = log + len;
	while (p > log && (lines <= 0 || n <= lines)) {
		p--;
		if (*p == '\n')
			n++;
	}
	if (p > log)
		p++;
	fprintf(stderr, "---- server %s (pid %d, port %d, %s) stderr%s ----\n",
	    s->name, (int)s->pid, s->port,
	    s->reaped ? "exited" : "running", p > log ? " (tail)" : "");
	fputs(p, stderr);
	if (len > 0 && log[len - 1] != '\n')
		fputc('\n', stderr);
	free(log);
	log = it_read_file(s->outpath, &len);
	if (len > 0)
		fprintf(stderr, "---- server %s stdout ----\n%s\n", s->name,
		    log);
	free(log);
}

static void
dump_all(void)
{
	const char	*e = getenv("IT_LOG_LINES");
	int		 i, lines = e != NULL ? atoi(e) : 40;

	for (i = 0; i < nservers; i++)
		dump_server(servers[i], lines);
}

void
it_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list	 ap;

	fflush(stdout);
	fprintf(stderr, "ERROR: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	dump_all();
	fflush(stderr);
	_fail(file, line);
	abort();	/* _fail longjmps out of the test */
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
it_atexit(void)
{
	if (getpid() != owner_pid)
		return;
	it_cleanup();
	ports_release();
	if (tmpdir[0] != '\0' && getenv("IT_KEEP") == NULL)
		nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void
it_init(void)
{
	const char	*t;

	if (owner_pid != 0)
		return;
	owner_pid = getpid();
	signal(SIGPIPE, SIG_IGN);
	t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/activity-it-XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	/* A default data directory, if a server gets one, is ours. */
	setenv("XDG_STATE_HOME", tmpdir, 1);
	unsetenv("STATE_DIRECTORY");
	atexit(it_atexit);
}

const char *
it_tmpdir(void)
{
	it_init();
	return tmpdir;
}

char *
it_mkdtemp(const char *prefix)
{
	char	*p;

	it_init();
	if (asprintf(&p, "%s/%s-XXXXXX", tmpdir, prefix) == -1)
		abort();
	if (mkdtemp(p) == NULL || ndirs == IT_MAX_SERVERS) {
		perror("mkdtemp");
		abort();
	}
	dirs[ndirs++] = p;	/* freed by it_cleanup, removed at exit */
	return p;
}

/*
 * Ports are reserved machine-wide, one file per port in IT_PORT_DIR, for
 * as long as the test process that took one lives: a server killed and
 * restarted on its port (it_ha, chaos) finds it free again, since no
 * other test run on the machine picks it meanwhile.  A reservation whose
 * owner is gone is taken over.
 */
#define IT_PORT_DIR	"/tmp/activity-it-ports"
#define IT_PORT_LO	8192	/* below tests/tui/run.sh's 20000-31999 */
#define IT_PORT_HI	19999	/* and the kernel's ephemeral range */

static int
port_reserve(int port)
{
	char	 path[64], buf[32];
	ssize_t	 n;
	pid_t	 pid;
	int	 fd, tries;

	if (mkdir(IT_PORT_DIR, 01777) == 0)
		(void)chmod(IT_PORT_DIR, 01777);	/* whatever the umask */
	snprintf(path, sizeof path, IT_PORT_DIR "/%d", port);
	for (tries = 0; tries < 2; tries++) {
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644)) != -1) {
			n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
			(void)!write(fd, buf, (size_t)n);
			close(fd);
			return 0;
		}
		if (errno != EEXIST)
			return 0;	/* no reservations here: probe only */
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			return -1;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		pid = (pid_t)atoi(buf);
		/* A reservation being written, or held by a live process. */
		if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH)
			return -1;
		(void)unlink(path);	/* its owner is gone */
	}
	return -1;
}

/* Give back this process's reservations (at exit). */
static void
ports_release(void)
{
	char	 path[64];
	int	 i;

	for (i = 0; i < nports_used; i++) {
		snprintf(path, sizeof path, IT_PORT_DIR "/%d", ports_used[i]);
		(void)unlink(path);
	}
	nports_used = 0;
}

/*
 * Our own generator: rand() and random() belong to the tests (chaos
 * replays a seed), and concurrent runs should not try the same ports.
 */
static unsigned
port_random(void)
{
	static uint32_t	 x;

	if (x == 0)
		x = ((uint32_t)getpid() * 2654435761u ^
		    (uint32_t)it_now_ms()) | 1;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

/*
 * A port nothing listens on right now, reserved for this process (see
 * port_reserve), outside the kernel's ephemeral range so that no
 * connection's local port takes it while its server is down, and
 * probed with a bind as the server will bind it.
 */
int
it_free_port(void)
{
	struct sockaddr_in	 sin;
	int			 fd, port, i, tries, one = 1;

	it_init();
	for (tries = 0; tries < 2000; tries++) {
		port = IT_PORT_LO + (int)(port_random() %
		    (unsigned)(IT_PORT_HI - IT_PORT_LO + 1));
		for (i = 0; i < nports_used; i++)
			if (ports_used[i] == port)
				break;
		if (i < nports_used)
			continue;	/* handed out already in this run */
		if (nports_used == IT_MAX_PORTS)
			break;
		if (port_reserve(port) != 0)
			continue;
		ports_used[nports_used++] = port;
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1)
			abort();
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
			close(fd);
			continue;	/* kept reserved: not ours to use */
		}
		close(fd);
		return port;
	}
	fprintf(stderr, "it_free_port: no free port in %d-%d\n", IT_PORT_LO,
	    IT_PORT_HI);
	abort();
}

/* ---- servers ---- */

static void
server_reap(struct it_server *s, int block)
{
	pid_t	 r;
	int	 st;

	if (s->reaped)
		return;
	do
		r = waitpid(s->pid, &st, block ? 0 : WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == s->pid) {
		s->reaped = 1;
		s->status = st;
	} else if (r == -1) {
		s->reaped = 1;
		s->status = -1;
	}
}

int
it_server_alive(struct it_server *s)
{
	server_reap(s, 0);
	return !s->reaped;
}

static const char *
status_str(int st)
{
	static char	 buf[64];

	if (st == -1)
		snprintf(buf, sizeof buf, "unknown status");
	else if (WIFEXITED(st))
		snprintf(buf, sizeof buf, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof buf, "killed by signal %d (%s)",
		    WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, sizeof buf, "status %#x", st);
	return buf;
}

char *
it_server_log(struct it_server *s)
{
	return it_read_file(s->errpath, NULL);
}

char *
it_server_stdout(struct it_server *s)
{
	return it_read_file(s->outpath, NULL);
}

int
it_log_count(struct it_server *s, const char *needle)
{
	char	*log = it_server_log(s), *p = log;
	int	 n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	free(log);
	return n;
}

void
it_wait_log_at(const char *file, int line, struct it_server *s,
    const char *needle, int count)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)it_timeout();

	for (;;) {
		if (it_log_count(s, needle) >= count)
			return;
		if (!it_server_alive(s)) {
			if (it_log_count(s, needle) >= count)
				return;
			it_fail_at(file, line, "server %s exited (%s) before "
			    "its log showed \"%s\"", s->name,
			    status_str(s->status), needle);
		}
		if (it_now_ms() >= deadline)
			it_fail_at(file, line, "server %s: no \"%s\" (x%d) in "
			    "its log within %d ms", s->name, needle, count,
			    it_timeout());
		it_pause_ms(IT_POLL_MS);
	}
}

int
it_server_wait_exit(struct it_server *s, int ms)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)ms;

	for (;;) {
		server_reap(s, 0);
		if (s->reaped)
			return s->status;
		if (it_now_ms() >= deadline)
			return -1;
		it_pause_ms(IT_POLL_MS);
	}
}

static void
server_free(struct it_server *s)
{
	int	 i;

	for (i = 0; i < s->argc; i++)
		free(s->argv[i]);
	free(s);
}

static void
server_unregister(struct it_server *s)
{
	int	 i;

	for (i = 0; i < nservers; i++) {
		if (servers[i] == s) {
			servers[i] = servers[--nservers];
			return;
		}
	}
}

static int
argv_has(struct it_server *s, const char *a)
{
	int	 i;

	for (i = 1; i < s->argc; i++)
		if (strcmp(s->argv[i], a) == 0)
			return 1;
	return 0;
}

void
it_set_client_netns(const char *ns)
{
	snprintf(client_netns, sizeof client_netns, "%s", ns != NULL ? ns :
	    "");
}

const char *
it_client_netns(void)
{
	return client_netns;
}

/* Enter a named namespace (setns is per thread); 0 or -1. */
int
it_netns_enter(const char *ns)
{
	char	 path[PATH_MAX];
	int	 fd, rc;

	if (ns == NULL || *ns == '\0')
		return 0;
	if (home_netns == -1 && (home_netns = open("/proc/thread-self/ns/net",
	    O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	snprintf(path, sizeof path, "/run/netns/%s", ns);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

void
it_netns_leave(void)
{
	if (home_netns != -1 && setns(home_netns, CLONE_NEWNET) == -1)
		abort();
}

int
it_netns_socket(const char *ns, int type)
{
	int	 fd, e;

	if (it_netns_enter(ns) == -1)
		return -1;
	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	e = errno;
	if (ns != NULL && *ns != '\0')
		it_netns_leave();
	errno = e;
	return fd;
}

/* A blocking connection from namespace ns to host (NULL: loopback). */
static int
argv_has_c(const char *const *argv, const char *a)
{
	int	 i;

	for (i = 0; argv[i] != NULL; i++)
		if (strcmp(argv[i], a) == 0)
			return 1;
	return 0;
}

static int
try_connect_ns(const char *ns, const char *host, int port)
{
	struct sockaddr_in	 sin;
	int			 fd, rc;

	if ((fd = it_netns_socket(ns, SOCK_STREAM)) == -1)
		return -1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (host != NULL && *host != '\0' &&
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	do
		rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
	while (rc == -1 && errno == EINTR);
	if (rc == -1) {
		rc = errno;
		close(fd);
		errno = rc;
		return -1;
	}
	return fd;
}

enum ready { READY, READY_CONFLICT, READY_DIED, READY_TIMEOUT };

/*
 * Ready: it accepts a connection and (unless quiet) has logged that it
 * listens, so a stranger that grabbed the port cannot pass for it.
 */
static enum ready
server_wait_ready(struct it_server *s, int ms)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)ms;
	int		 fd, quiet = argv_has(s, "-q") || argv_has(s, "--quiet");
	char		*log;
	enum ready	 r;

	for (;;) {
		if (!it_server_alive(s)) {
			log = it_server_log(s);
			r = strstr(log, "cannot listen") != NULL &&
			    strstr(log, "in use") != NULL ? READY_CONFLICT :
			    READY_DIED;
			free(log);
			return r;
		}
		if ((fd = try_connect_ns(s->netns, s->host, s->port)) != -1) {
			close(fd);
			if (quiet || it_log_count(s, "listening on") > 0)
				return READY;
		}
		if (it_now_ms() >= deadline)
			return READY_TIMEOUT;
		it_pause_ms(IT_POLL_MS);
	}
}

static void
server_exec(struct it_server *s, pid_t parent)
{
	char		 path[PATH_MAX];
	const char	*wrap;
	int		 fd, maxfd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	if ((fd = open("/dev/null", O_RDONLY)) != -1) {
		dup2(fd, 0);
		close(fd);
	}
	if ((fd = open(s->outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600)) !=
	    -1) {
		dup2(fd, 1);
		close(fd);
	}
	if ((fd = open(s->errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600)) !=
	    -1) {
		dup2(fd, 2);
		close(fd);
	}
	maxfd = (int)sysconf(_SC_OPEN_MAX);
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	for (fd = 3; fd < maxfd; fd++)
		close(fd);
	snprintf(path, sizeof path, "%s/activity-server", it_bin());
	if (s->netns[0] != '\0') {
		char	*nargv[72];
		int	 n = 0, i;

		nargv[n++] = "ip";
		nargv[n++] = "netns";
		nargv[n++] = "exec";
		nargv[n++] = s->netns;
		nargv[n++] = path;
		for (i = 1; s->argv[i] != NULL && n < 71; i++)
			nargv[n++] = s->argv[i];
		nargv[n] = NULL;
		execvp(nargv[0], nargv);
		fprintf(stderr, "exec ip netns exec: %s\n", strerror(errno));
		_exit(127);
	}
	/* IT_WRAPPER runs the server under a tool, e.g. valgrind. */
	if ((wrap = getenv("IT_WRAPPER")) != NULL && *wrap != '\0') {
		char	*words = strdup(wrap), *w, *save = NULL;
		char	*wargv[128];
		int	 n = 0, i;

		for (w = strtok_r(words, " ", &save); w != NULL && n < 64;
		    w = strtok_r(NULL, " ", &save))
			wargv[n++] = w;
		wargv[n++] = path;
		for (i = 1; s->argv[i] != NULL; i++)
			wargv[n++] = s->argv[i];
		wargv[n] = NULL;
		execvp(wargv[0], wargv);
		fprintf(stderr, "exec %s: %s\n", wargv[0], strerror(errno));
		_exit(127);
	}
	execv(path, s->argv);
	fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* Start a server, in namespace netns ("": ours) reached at host. */
static struct it_server *
spawn(const char *file, int line, const char *name, const char *netns,
    const char *host, const char *const *argv, int ready)
{
	struct it_server	*s;
	enum ready		 r = READY_DIED;
	pid_t			 parent;
	int			 i, tries, has_port = 0;

	it_init();
	for (i = 0; argv[i] != NULL; i++)
		if (strcmp(argv[i], "@PORT") == 0)
			has_port = 1;
	for (tries = 0; tries < IT_SPAWN_TRIES; tries++) {
		if (nservers == IT_MAX_SERVERS)
			it_fail_at(file, line, "too many servers");
		if ((s = calloc(1, sizeof *s)) == NULL)
			abort();
		snprintf(s->name, sizeof s->name, "%s", name);
		snprintf(s->netns, sizeof s->netns, "%s", netns);
		snprintf(s->host, sizeof s->host, "%s", host);
		s->port = has_port ? it_free_port() : 0;
		snprintf(s->port_str, sizeof s->port_str, "%d", s->port);
		s->argv[s->argc++] = strdup("activity-server");
		/* Tests never write a journal into the home directory. */
		if (it_no_data_dir && !argv_has_c(argv, "-c") &&
		    !argv_has_c(argv, "--config")) {
			s->argv[s->argc++] = strdup("--data-dir");
			s->argv[s->argc++] = strdup("none");
		}
		for (i = 0; argv[i] != NULL && s->argc < 62; i++) {
			if (strcmp(argv[i], "@PORT") == 0)
				s->argv[s->argc++] = strdup(s->port_str);
			else
				s->argv[s->argc++] = strdup(argv[i]);
			/* an explicit -lp tells us the port */
			if (!has_port && i > 0 && (strcmp(argv[i - 1], "-lp") ==
			    0 || strcmp(argv[i - 1], "--listen-port") == 0)) {
				s->port = atoi(argv[i]);
				snprintf(s->port_str, sizeof s->port_str, "%d",
				    s->port);
			}
		}
		s->argv[s->argc] = NULL;
		server_serial++;
		snprintf(s->errpath, sizeof s->errpath, "%s/%02d-%s.stderr",
		    tmpdir, server_serial, name);
		snprintf(s->outpath, sizeof s->outpath, "%s/%02d-%s.stdout",
		    tmpdir, server_serial, name);
		fflush(stdout);
		fflush(stderr);
		parent = getpid();
		if ((s->pid = fork()) == -1)
			it_fail_at(file, line, "fork: %s", strerror(errno));
		if (s->pid == 0)
			server_exec(s, parent);
		servers[nservers++] = s;
		if (!ready)
			return s;
		r = server_wait_ready(s, 2 * it_timeout());
		if (r == READY)
			return s;
		if (r != READY_CONFLICT || !has_port)
			break;
		/* Someone took the port between our probe and its bind. */
		server_unregister(s);
		server_free(s);
	}
	if (r == READY_TIMEOUT)
		it_fail_at(file, line, "server %s (port %d) did not accept "
		    "connections within %d ms", name, s->port,
		    2 * it_timeout());
	it_fail_at(file, line, "server %s (port %d) exited at start: %s",
	    name, s->port, status_str(s->status));
}

struct it_server *
it_spawn_at(const char *file, int line, const char *name,
    const char *const *argv, int ready)
{
	return spawn(file, line, name, "", "", argv, ready);
}

struct it_server *
it_spawn_ns_at(const char *file, int line, const char *name,
    const char *netns, const char *host, const char *const *argv)
{
	return spawn(file, line, name, netns, host, argv, 1);
}

/*
 * The arguments a deployment starts a server with, into argv: -lh
 * localhost -lp @PORT -s IT_SECRET -a 100.  Returns how many.
 */
int
it_plain_args(const char **argv)
{
	int	 n = 0;

	argv[n++] = "-lh";
	argv[n++] = "localhost";
	argv[n++] = "-lp";
	argv[n++] = "@PORT";
	argv[n++] = "-s";
	argv[n++] = IT_SECRET;
	argv[n++] = "-a";
	argv[n++] = "100";
	return n;
}

static struct it_server *
spawn_va(const char *file, int line, const char *name,
    struct it_server *parent, int base, va_list ap)
{
	const char	*argv[64];
	const char	*a;
	int		 n;

	n = it_plain_args(argv);
	/* Tests play servers with the base protocol's AUTHENTICATE. */
	if (base)
		argv[n++] = "--allow-base-servers";
	if (parent != NULL) {
		argv[n++] = "-rh";
		argv[n++] = "localhost";
		argv[n++] = "-rp";
		argv[n++] = parent->port_str;
	}
	while ((a = va_arg(ap, const char *)) != NULL && n < 62)
		argv[n++] = a;
	argv[n] = NULL;
	return it_spawn_at(file, line, name, argv, 1);
}

struct it_server *
it_root_at(const char *file, int line, const char *name, ...)
{
	struct it_server	*s;
	va_list			 ap;

	va_start(ap, name);
	s = spawn_va(file, line, name, NULL, 1, ap);
	va_end(ap);
	return s;
}

struct it_server *
it_plain_at(const char *file, int line, const char *name, ...)
{
	struct it_server	*s;
	va_list			 ap;

	va_start(ap, name);
	s = spawn_va(file, line, name, NULL, 0, ap);
	va_end(ap);
	return s;
}

struct it_server *
it_child_at(const char *file, int line, const char *name,
    struct it_server *parent, ...)
{
	struct it_server	*s;
	va_list			 ap;

	va_start(ap, parent);
	s = spawn_va(file, line, name, parent, 1, ap);
	va_end(ap);
	it_wait_log_at(file, line, s, "joined the cluster", 1);
	return s;
}

/* SIGTERM, then SIGKILL after the timeout.  Returns the wait status. */
int
it_server_stop(struct it_server *s)
{
	if (!it_server_alive(s))
		return s->status;
	if (s->stopped)
		it_server_sigcont(s);
	kill(s->pid, SIGTERM);
	if (it_server_wait_exit(s, it_timeout()) == -1) {
		kill(s->pid, SIGKILL);
		server_reap(s, 1);
		fprintf(stderr, "server %s ignored SIGTERM for %d ms\n",
		    s->name, it_timeout());
		return -1;
	}
	return s->status;
}

void
it_server_kill9(struct it_server *s)
{
	s->expect_dead = 1;
	if (!it_server_alive(s))
		return;
	kill(s->pid, SIGKILL);
	server_reap(s, 1);
}

void
it_server_sigstop(struct it_server *s)
{
	if (kill(s->pid, SIGSTOP) == 0)
		s->stopped = 1;
}

void
it_server_sigcont(struct it_server *s)
{
	if (kill(s->pid, SIGCONT) == 0)
		s->stopped = 0;
}

/* ---- clients ---- */

static void
client_register(struct it_client *c)
{
	if (nclients == IT_MAX_CLIENTS) {
		fprintf(stderr, "too many clients\n");
		abort();
	}
	clients[nclients++] = c;
}

/* A client connected from namespace ns to host:port. */
static struct it_client *
connect_ns_at(const char *file, int line, const char *ns, const char *host,
    int port, const char *name)
{
	struct it_client	*c;
	int			 one = 1;

	it_init();
	if ((c = calloc(1, sizeof *c)) == NULL)
		abort();
	snprintf(c->name, sizeof c->name, "%s", name);
	if ((c->fd = try_connect_ns(ns, host, port)) == -1) {
		int	 e = errno;

		free(c);
		it_fail_at(file, line, "client %s: connect to %s port %d: %s",
		    name, host != NULL ? host : "loopback", port, strerror(e));
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	client_register(c);
	return c;
}

struct it_client *
it_connect_port_at(const char *file, int line, int port, const char *name)
{
	return connect_ns_at(file, line, NULL, NULL, port, name);
}

struct it_client *
it_connect_at(const char *file, int line, struct it_server *s,
    const char *name)
{
	struct it_client	*c;
	char			 full[48];

	snprintf(full, sizeof full, "%s@%s", name, s->name);
	if (s->netns[0] != '\0') {
		c = connect_ns_at(file, line, client_netns, s->host, s->port,
		    full);
	} else
		c = it_connect_port_at(file, line, s->port, full);
	c->srv = s;
	return c;
}

void
it_close(struct it_client *c)
{
	int	 i;

	if (c == NULL)
		return;
	for (i = 0; i < nclients; i++) {
		if (clients[i] == c) {
			clients[i] = clients[--nclients];
			break;
		}
	}
	if (c->fd != -1)
		close(c->fd);
	cJSON_Delete(c->msg);
	free(c->buf);
	free(c->line);
	free(c);
}

int
it_send_raw(struct it_client *c, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
it_sendf(struct it_client *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n, rc;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1)
		abort();
	s = realloc(s, (size_t)n + 2);
	s[n++] = '\n';
	rc = it_send_raw(c, s, (size_t)n);
	free(s);
	return rc;
}

/* The next line (without its newline) into c->line, or why not. */
enum it_read
it_read_line(struct it_client *c, int ms)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)ms;
	struct pollfd	 pfd;
	char		*nl;
	size_t		 n;
	ssize_t		 r;
	int		 left;

	for (;;) {
		if (c->len > 0 &&
		    (nl = memchr(c->buf, '\n', c->len)) != NULL) {
			n = (size_t)(nl - c->buf);
			free(c->line);
			if ((c->line = malloc(n + 1)) == NULL)
				abort();
			memcpy(c->line, c->buf, n);
			c->line[n] = '\0';
			c->line_len = n;
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return IT_READ_LINE;
		}
		if (c->len > IT_MAX_LINE) {
			fprintf(stderr, "client %s: line longer than %d bytes\n",
			    c->name, IT_MAX_LINE);
			return IT_READ_CLOSED;
		}
		left = (int)((int64_t)deadline - (int64_t)it_now_ms());
		if (left <= 0)
			return IT_READ_TIMEOUT;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0)
			return IT_READ_TIMEOUT;
		if (c->cap - c->len < 65536) {
			c->cap = c->cap == 0 ? 65536 : c->cap * 2;
			if ((c->buf = realloc(c->buf, c->cap)) == NULL)
				abort();
		}
		r = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return IT_READ_CLOSED;	/* EOF, reset or error */
		c->len += (size_t)r;
	}
}

static const char *
read_str(enum it_read r)
{
	return r == IT_READ_TIMEOUT ? "nothing (timeout)" :
	    "the connection closed";
}

cJSON *
it_expect_at(const char *file, int line, struct it_client *c,
    const char *cmd, int ms)
{
	const cJSON	*k;
	enum it_read	 r;

	cJSON_Delete(c->msg);
	c->msg = NULL;
	if ((r = it_read_line(c, ms)) != IT_READ_LINE)
		it_fail_at(file, line, "client %s: expected %s within %d ms, "
		    "got %s", c->name, cmd, ms, read_str(r));
	c->msg = cJSON_ParseWithLength(c->line, c->line_len);
	if (c->msg == NULL || !cJSON_IsObject(c->msg))
		it_fail_at(file, line, "client %s: expected %s, got a line "
		    "that is not a JSON object: %s", c->name, cmd,
		    it_escape(c->line, c->line_len));
	k = cJSON_GetObjectItemCaseSensitive(c->msg, "command");
	if (!cJSON_IsString(k) || strcmp(k->valuestring, cmd) != 0)
		it_fail_at(file, line, "client %s: expected %s, got: %s",
		    c->name, cmd, it_escape(c->line, c->line_len));
	return c->msg;
}

void
it_expect_closed_at(const char *file, int line, struct it_client *c, int ms)
{
	enum it_read	 r;

	r = it_read_line(c, ms);
	if (r == IT_READ_LINE)
		it_fail_at(file, line, "client %s: expected the server to "
		    "close, got: %s", c->name,
		    it_escape(c->line, c->line_len));
	if (r == IT_READ_TIMEOUT)
		it_fail_at(file, line, "client %s: connection still open "
		    "after %d ms (expected the server to close it)", c->name,
		    ms);
	if (c->len > 0)
		it_fail_at(file, line, "client %s: closed after a partial "
		    "line: %s", c->name, it_escape(c->buf, c->len));
}

void
it_expect_reply_close_at(const char *file, int line, struct it_client *c,
    const char *cmd)
{
	const cJSON	*info;

	it_expect_at(file, line, c, cmd, it_timeout());
	info = cJSON_GetObjectItemCaseSensitive(c->msg, "info");
	if (!cJSON_IsString(info) || info->valuestring[0] == '\0')
		it_fail_at(file, line, "client %s: %s without an info "
		    "string: %s", c->name, cmd,
		    it_escape(c->line, c->line_len));
	it_expect_closed_at(file, line, c, it_timeout());
}

/* ---- protocol steps ---- */

static char *
json_str(const char *s)
{
	cJSON	*j;
	char	*out;

	if (s == NULL)
		return strdup("null");
	j = cJSON_CreateString(s);
	out = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return out;
}

static void
send_login(struct it_client *c, const char *user, const char *secret)
{
	char	*u = json_str(user), *s = json_str(secret);

	if (secret == NULL)
		it_sendf(c, "{\"command\":\"LOGIN\",\"username\":%s}", u);
	else
		it_sendf(c, "{\"command\":\"LOGIN\",\"username\":%s,"
		    "\"secret\":%s}", u, s);
	free(u);
	free(s);
}

static void
set_user(struct it_client *c, const char *user, const char *secret)
{
	snprintf(c->user, sizeof c->user, "%s", user);
	snprintf(c->secret, sizeof c->secret, "%s",
	    secret != NULL ? secret : "");
	c->logged_in = 1;
}

void
it_login_at(const char *file, int line, struct it_client *c,
    const char *user, const char *secret)
{
	send_login(c, user, secret);
	it_expect_at(file, line, c, "LOGIN_SUCCESS", it_timeout());
	set_user(c, user, secret);
}

void
it_login_fail_at(const char *file, int line, struct it_client *c,
    const char *user, const char *secret)
{
	send_login(c, user, secret);
	it_expect_reply_close_at(file, line, c, "LOGIN_FAILED");
}

void
it_register_at(const char *file, int line, struct it_server *s,
    const char *user, const char *secret)
{
	struct it_client	*c;
	char			*u = json_str(user), *p = json_str(secret);

	c = it_connect_at(file, line, s, "registrar");
	it_sendf(c, "{\"command\":\"REGISTER\",\"username\":%s,\"secret\":%s}",
	    u, p);
	free(u);
	free(p);
	it_expect_at(file, line, c, "REGISTER_SUCCESS", 2 * it_timeout());
	it_close(c);
}

void
it_login_eventually_at(const char *file, int line, struct it_server *s,
    const char *user, const char *secret)
{
	uint64_t		 deadline = it_now_ms() + (uint64_t)it_timeout();
	struct it_client	*c;
	const cJSON		*k;
	char			 last[512] = "nothing";
	enum it_read		 r;

	for (;;) {
		c = it_connect_at(file, line, s, "login-probe");
		send_login(c, user, secret);
		r = it_read_line(c, it_timeout());
		if (r == IT_READ_LINE) {
			snprintf(last, sizeof last, "%s",
			    it_escape(c->line, c->line_len));
			c->msg = cJSON_ParseWithLength(c->line, c->line_len);
			k = cJSON_GetObjectItemCaseSensitive(c->msg,
			    "command");
			if (cJSON_IsString(k) &&
			    strcmp(k->valuestring, "LOGIN_SUCCESS") == 0) {
				it_sendf(c, "{\"command\":\"LOGOUT\"}");
				it_close(c);
				return;
			}
			if (!cJSON_IsString(k) ||
			    strcmp(k->valuestring, "LOGIN_FAILED") != 0)
				it_fail_at(file, line, "login of %s at %s: "
				    "unexpected reply %s", user, s->name,
				    last);
		} else
			snprintf(last, sizeof last, "%s", read_str(r));
		it_close(c);
		if (it_now_ms() >= deadline)
			it_fail_at(file, line, "user %s could not log in at "
			    "%s within %d ms; last reply: %s", user, s->name,
			    it_timeout(), last);
		it_pause_ms(20);
	}
}

int
it_send_activity(struct it_client *c, const char *activity)
{
	char	*u = json_str(c->user);
	char	*s = json_str(strcmp(c->user, "anonymous") == 0 ? NULL :
		    c->secret);
	int	 rc;

	rc = it_sendf(c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":%s,"
	    "\"secret\":%s,\"activity\":%s}", u, s, activity);
	free(u);
	free(s);
	return rc;
}

/* Check a broadcast carries marker `seq` and was sent by `user`. */
static void
check_marker(const char *file, int line, struct it_client *c, int seq,
    const char *user)
{
	const cJSON	*act, *k, *au;

	act = cJSON_GetObjectItemCaseSensitive(c->msg, "activity");
	k = cJSON_GetObjectItemCaseSensitive(act, "it_seq");
	au = cJSON_GetObjectItemCaseSensitive(act, "authenticated_user");
	if (!cJSON_IsObject(act) || !cJSON_IsNumber(k) ||
	    k->valueint != seq)
		it_fail_at(file, line, "client %s: expected the broadcast "
		    "with it_seq %d, got: %s", c->name, seq,
		    it_escape(c->line, c->line_len));
	if (!cJSON_IsString(au) || strcmp(au->valuestring, user) != 0)
		it_fail_at(file, line, "client %s: broadcast it_seq %d has "
		    "authenticated_user other than \"%s\": %s", c->name, seq,
		    user, it_escape(c->line, c->line_len));
}

struct it_client *
it_roster_login_at(const char *file, int line, struct it_roster *r,
    struct it_server *s, const char *name, const char *user,
    const char *secret)
{
	uint64_t		 deadline = it_now_ms() + (uint64_t)it_timeout();
	struct it_client	*c;
	char			 act[256];
	const char		*cmd;
	int			 i, seq;
	enum it_read		 rr;

	if (r->n == (int)(sizeof r->c / sizeof r->c[0]))
		it_fail_at(file, line, "roster full");
	for (;;) {
		c = it_connect_at(file, line, s, name);
		it_login_at(file, line, c, user, secret);
		seq = ++r->seq;
		snprintf(act, sizeof act, "{\"it_seq\":%d,\"it_hello\":\"%s\"}",
		    seq, c->name);
		it_send_activity(c, act);
		cJSON_Delete(c->msg);
		c->msg = NULL;
		if ((rr = it_read_line(c, it_timeout())) != IT_READ_LINE)
			it_fail_at(file, line, "client %s: no reply to its "
			    "first activity: %s", c->name, read_str(rr));
		c->msg = cJSON_ParseWithLength(c->line, c->line_len);
		cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    c->msg, "command"));
		if (cmd != NULL && strcmp(cmd, "REDIRECT") == 0) {
			/* Stale loads: it settles with the next announces. */
			it_expect_closed_at(file, line, c, it_timeout());
			it_close(c);
			if (it_now_ms() >= deadline)
				it_fail_at(file, line, "client %s: %s kept "
				    "redirecting for %d ms", name, s->name,
				    it_timeout());
			it_pause_ms(20);
			continue;
		}
		if (cmd == NULL || strcmp(cmd, "ACTIVITY_BROADCAST") != 0)
			it_fail_at(file, line, "client %s: expected its own "
			    "ACTIVITY_BROADCAST or a REDIRECT, got: %s",
			    c->name, it_escape(c->line, c->line_len));
		check_marker(file, line, c, seq, user);
		for (i = 0; i < r->n; i++) {
			it_expect_at(file, line, r->c[i], "ACTIVITY_BROADCAST",
			    it_timeout());
			check_marker(file, line, r->c[i], seq, user);
		}
		r->c[r->n++] = c;
		return c;
	}
}

void
it_roster_broadcast_at(const char *file, int line, struct it_roster *r,
    struct it_client *from)
{
	char	 act[256];
	int	 i, seq = ++r->seq;

	snprintf(act, sizeof act, "{\"it_seq\":%d,\"it_from\":\"%s\"}", seq,
	    from->name);
	if (it_send_activity(from, act) != 0)
		it_fail_at(file, line, "client %s: send failed: %s",
		    from->name, strerror(errno));
	for (i = 0; i < r->n; i++) {
		it_expect_at(file, line, r->c[i], "ACTIVITY_BROADCAST",
		    it_timeout());
		check_marker(file, line, r->c[i], seq, from->user);
	}
}

/* ---- cleanup ---- */

/*
 * Close every client, stop every server.  A server that died when the
 * test did not kill it, or that does not exit cleanly on SIGTERM, makes
 * the cleanup fail (crashes, sanitizer reports).
 */
int
it_cleanup(void)
{
	struct it_server	*s;
	uint64_t		 deadline;
	int			 rc = 0, i, st, verbose;
	int			 bad[IT_MAX_SERVERS];

	verbose = getenv("IT_VERBOSE") != NULL;
	while (nclients > 0)
		it_close(clients[nclients - 1]);
	/* Stop them all at once: each may take a moment to leave. */
	for (i = 0; i < nservers; i++) {
		s = servers[i];
		bad[i] = 0;
		if (!it_server_alive(s)) {
			if (!s->expect_dead) {
				fprintf(stderr, "ERROR: server %s died during "
				    "the test: %s\n", s->name,
				    status_str(s->status));
				bad[i] = 1;
			}
			continue;
		}
		if (s->stopped)
			it_server_sigcont(s);
		kill(s->pid, SIGTERM);
	}
	deadline = it_now_ms() + (uint64_t)it_timeout();
	for (i = 0; i < nservers; i++) {
		s = servers[i];
		if (s->reaped)
			continue;
		st = it_server_wait_exit(s, (int)(deadline > it_now_ms() ?
		    deadline - it_now_ms() : 0));
		if (st == -1) {
			kill(s->pid, SIGKILL);
			server_reap(s, 1);
		}
		if (st == -1 || (!s->expect_dead &&
		    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))) {
			fprintf(stderr, "ERROR: server %s did not shut down "
			    "cleanly on SIGTERM: %s\n", s->name, st == -1 ?
			    "had to SIGKILL it" : status_str(st));
			bad[i] = 1;
		}
	}
	for (i = 0; i < nservers; i++) {
		if (bad[i] || verbose)
			dump_server(servers[i], bad[i] ? 60 : 0);
		if (bad[i])
			rc = -1;
		server_free(servers[i]);
	}
	nservers = 0;
	while (ndirs > 0)
		free(dirs[--ndirs]);
	return rc;
}

void
it_apply_filter(void)
{
	const char	*f = getenv("IT_FILTER");

	if (f != NULL && *f != '\0')
		cmocka_set_test_filter(f);
}

int
it_setup(void **state)
{
	(void)state;
	it_init();
	return 0;
}

int
it_teardown(void **state)
{
	(void)state;
	return it_cleanup();
}

/* ---- raw JSON ---- */

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

/*
 * Split the raw text of a JSON object into its members ("key":value,
 * outer whitespace trimmed), byte-exact.  Returns how many, or -1.
 */
int
it_json_members(const char *obj, size_t len, const char **mp, size_t *ml,
    int max)
{
	const char	*p = obj, *end = obj + len, *start, *last;
	int		 depth, n = 0, instr;

	p = skip_ws(p, end);
	if (p == end || *p != '{')
		return -1;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return 0;
	for (;;) {
		start = p;
		depth = 0;
		instr = 0;
		for (; p < end; p++) {
			if (instr) {
				if (*p == '\\')
					p++;
				else if (*p == '"')
					instr = 0;
				continue;
			}
			if (*p == '"')
				instr = 1;
			else if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']') {
				if (depth == 0)
					break;
				depth--;
			} else if (*p == ',' && depth == 0)
				break;
		}
		if (p == end)
			return -1;
		last = p;
		while (last > start && (last[-1] == ' ' || last[-1] == '\t' ||
		    last[-1] == '\n' || last[-1] == '\r'))
			last--;
		if (n == max)
			return -1;
		mp[n] = start;
		ml[n] = (size_t)(last - start);
		n++;
		if (*p == '}')
			return n;
		p = skip_ws(p + 1, end);
	}
}

/* The raw value of member `key` (given unquoted, no escapes) of obj. */
int
it_json_member(const char *obj, size_t len, const char *key,
    const char **vp, size_t *vl)
{
	const char	*mp[256], *p, *end;
	size_t		 ml[256], kl = strlen(key);
	int		 i, n;

	if ((n = it_json_members(obj, len, mp, ml, 256)) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (ml[i] < kl + 2 || mp[i][0] != '"' ||
		    memcmp(mp[i] + 1, key, kl) != 0 || mp[i][kl + 1] != '"')
			continue;
		end = mp[i] + ml[i];
		p = skip_ws(mp[i] + kl + 2, end);
		if (p == end || *p != ':')
			return -1;
		p = skip_ws(p + 1, end);
		*vp = p;
		*vl = (size_t)(end - p);
		return 0;
	}
	return -1;
}

/* A listener on 127.0.0.1:port, which was just freed: retried a while. */
int
it_listen_freed(int port)
{
	struct sockaddr_in	 sin;
	uint64_t		 deadline;
	int			 fd, one = 1;

	deadline = it_now_ms() + (uint64_t)it_timeout();
	for (;;) {
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1)
			it_fail("socket: %s", strerror(errno));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
		    listen(fd, 16) == 0)
			return fd;
		close(fd);
		if (it_now_ms() > deadline)
			it_fail("cannot listen on the freed port %d: %s", port,
			    strerror(errno));
		usleep(20000);
	}
}

/*
 * A listener on 127.0.0.1 at a port the kernel picks (a parent a test
 * plays); the port's number, for -rp, into port.
 */
int
it_listen_any(char port[16])
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof sin;
	int			 fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		it_fail("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(fd, 64) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1)
		it_fail("listen: %s", strerror(errno));
	snprintf(port, 16, "%d", ntohs(sin.sin_port));
	return fd;
}

/* Run a shell command; fail the test if it fails. */
void
it_run(const char *fmt, ...)
{
	char	 cmd[4096];
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	if ((rc = system(cmd)) != 0)
		it_fail("command failed (%d): %s", rc, cmd);
}

/* A CA in dir: name.key and the self-signed name.crt, common name cn. */
void
it_make_ca(const char *dir, const char *name, const char *cn)
{
	it_run("cd %s && openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout %s.key -out %s.crt "
	    "-days 2 -subj '/CN=%s' 2>/dev/null", dir, name, name, cn);
}

/*
 * A key and a certificate in dir (name.key, name.crt) for common name
 * cn and subjectAltName san, signed by the CA ca of the same dir.
 */
void
it_make_cert(const char *dir, const char *name, const char *cn,
    const char *ca, const char *san)
{
	it_run("cd %s && printf 'subjectAltName=%s\\n' > %s.ext && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout %s.key -out %s.csr -subj '/O=activity test/CN=%s' "
	    "2>/dev/null && openssl x509 -req -in %s.csr -CA %s.crt "
	    "-CAkey %s.key -CAcreateserial -days 2 -out %s.crt "
	    "-extfile %s.ext 2>/dev/null", dir, san, name, name, name,
	    cn, name, ca, ca, name, name);
}
