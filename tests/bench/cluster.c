/*
 * The servers under test: a loopback cluster this program starts (and
 * stops: only the PIDs it started), or one that is already running.
 * "Formed" is a condition, not a delay: a client logged in on every
 * server, and an activity published on the first reaches all of them.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"
#include "secret.h"

struct cluster		 cl;
static struct proxy	*proxies[BENCH_SERVERS_MAX];

static uint64_t
ms_now(void)
{
	return bench_now_ns() / 1000000;
}

/* Let the event loop (our counting proxies) run while we wait. */
static void
pump_loop(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

void
bench_raise_nofile(long *soft, long *hard)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		*soft = (long)rl.rlim_cur;
		*hard = (long)rl.rlim_max;
	} else
		*soft = *hard = -1;
}

/* A loopback port nobody listens on right now. */
int
bench_free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	int			 fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static long
status_kb(pid_t pid, const char *key)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 v = -1;
	size_t	 kl = strlen(key);

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

long
proc_rss_kb(pid_t pid)
{
	return pid > 0 ? status_kb(pid, "VmRSS") : -1;
}

long
proc_hwm_kb(pid_t pid)
{
	return pid > 0 ? status_kb(pid, "VmHWM") : -1;
}

/* User + system CPU seconds of a process. */
double
proc_cpu_s(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long		 ut, st;
	FILE			*f;
	size_t			 n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* after ") ": state(3) ... utime is field 14, stime 15 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Is something accepting connections on 127.0.0.1:port? */
static int
port_accepts(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, rc;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
	close(fd);
	return rc == 0;
}

static pid_t
spawn_server(int i, int port, int parent_port)
{
	char	*argv[48], portbuf[16], pportbuf[16], annbuf[16];
	int	 argc = 0, fd, k;
	pid_t	 pid;

	snprintf(portbuf, sizeof portbuf, "%d", port);
	snprintf(pportbuf, sizeof pportbuf, "%d", parent_port);
	snprintf(annbuf, sizeof annbuf, "%d", opts.announce_ms);
	argv[argc++] = (char *)opts.server_bin;
	argv[argc++] = "-lh";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "-lp";
	argv[argc++] = portbuf;
	argv[argc++] = "-s";
	argv[argc++] = cl.secret;
	/* No journal in the home directory; --server-arg may give one. */
	argv[argc++] = "--data-dir";
	argv[argc++] = "none";
	if (opts.announce_ms > 0) {
		argv[argc++] = "-a";
		argv[argc++] = annbuf;
	}
	if (parent_port > 0) {
		argv[argc++] = "-rh";
		argv[argc++] = "127.0.0.1";
		argv[argc++] = "-rp";
		argv[argc++] = pportbuf;
	}
	for (k = 0; k < opts.nserver_args; k++)
		if (opts.server_args[k] != NULL)
			argv[argc++] = (char *)opts.server_args[k];
	for (k = 0; k < opts.nrun_server_args; k++)
		argv[argc++] = (char *)opts.run_server_args[k];
	argv[argc] = NULL;

	snprintf(cl.srv[i].log, sizeof cl.srv[i].log, "%s/server%d.log",
	    cl.dir, i);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		/* Die with the bench, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open(cl.srv[i].log, O_WRONLY | O_CREAT | O_TRUNC,
		    0644)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd != -1) {
			dup2(fd, 0);
			close(fd);
		}
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static void
print_log_tail(int i)
{
	char	 line[512];
	FILE	*f;
	long	 size;

	if ((f = fopen(cl.srv[i].log, "r")) == NULL)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > 2000 ? size - 2000 : 0, SEEK_SET);
	fprintf(stderr, "activity-bench: --- end of %s ---\n", cl.srv[i].log);
	while (fgets(line, sizeof line, f) != NULL)
		fprintf(stderr, "  %s", line);
	fclose(f);
}

/*
 * Start n servers: the root first, each other one joining its parent
 * (the previous one, or the root) once that parent accepts connections.
 * With `proxied`, every server's uplink goes through a counting proxy.
 */
int
cluster_start(int n, int proxied)
{
	uint64_t	 deadline;
	int		 i, attempt, parent, status;
	pid_t		 pid;

	cluster_stop();
	memset(&cl, 0, sizeof cl);
	naddrs = 0;
	cl.n = n;
	cl.own = 1;
	cl.topology = opts.topology;
	if (access(opts.server_bin, X_OK) != 0) {
		fprintf(stderr, "activity-bench: %s: not executable (give "
		    "--server-bin)\n", opts.server_bin);
		return -1;
	}
	snprintf(cl.dir, sizeof cl.dir, "/tmp/activity-bench.XXXXXX");
	if (mkdtemp(cl.dir) == NULL) {
		fprintf(stderr, "activity-bench: mkdtemp: %s\n",
		    strerror(errno));
		return -1;
	}
	if (secret_generate(cl.secret, sizeof cl.secret) != 0)
		snprintf(cl.secret, sizeof cl.secret, "bench%d", (int)getpid());
	deadline = ms_now() + (uint64_t)opts.connect_timeout_ms;

	for (i = 0; i < n; i++) {
		parent = i == 0 ? -1 : (opts.topology == TOPO_STAR ? 0 : i - 1);
		cl.srv[i].parent = parent;
		if (proxied && parent >= 0) {
			if ((proxies[i] = proxy_new(cl.srv[parent].port)) ==
			    NULL) {
				fprintf(stderr, "activity-bench: cannot start "
				    "a counting proxy\n");
				return -1;
			}
			cl.srv[i].proxy_port = proxy_port(proxies[i]);
		}
		for (attempt = 0; attempt < 5; attempt++) {
			cl.srv[i].port = bench_free_port();
			pid = spawn_server(i, cl.srv[i].port, parent < 0 ? 0 :
			    (proxied ? cl.srv[i].proxy_port :
			    cl.srv[parent].port));
			if (pid <= 0)
				return -1;
			cl.srv[i].pid = pid;
			cl.srv[i].alive = 1;
			/* Wait until it accepts, or notice it died (the port
			 * was taken meanwhile: try another). */
			while (!port_accepts(cl.srv[i].port)) {
				if (waitpid(pid, &status, WNOHANG) == pid) {
					cl.srv[i].alive = 0;
					cl.srv[i].pid = 0;
					break;
				}
				if (ms_now() > deadline) {
					fprintf(stderr, "activity-bench: server "
					    "%d does not accept connections\n",
					    i);
					print_log_tail(i);
					return -1;
				}
				pump_loop();
				usleep(2000);
			}
			if (cl.srv[i].alive)
				break;
			print_log_tail(i);
		}
		if (!cl.srv[i].alive) {
			fprintf(stderr, "activity-bench: server %d would not "
			    "start\n", i);
			return -1;
		}
		cl.srv[i].addr = addr_add("127.0.0.1", cl.srv[i].port);
		addrs[cl.srv[i].addr].server = i;
		bench_log("server %d pid %d port %d parent %d%s", i,
		    (int)cl.srv[i].pid, cl.srv[i].port, parent,
		    proxied && parent >= 0 ? " (through a counting proxy)" : "");
	}
	return 0;
}

/* Use servers that are already running; PIDs are optional. */
int
cluster_attach(const char *list, const char *pids)
{
	char	*dup, *tok, *save = NULL, *colon;
	int	 i = 0, a;

	cluster_stop();
	memset(&cl, 0, sizeof cl);
	naddrs = 0;
	if ((dup = strdup(list)) == NULL)
		return -1;
	for (tok = strtok_r(dup, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if ((colon = strrchr(tok, ':')) == NULL) {
			fprintf(stderr, "activity-bench: '%s': want "
			    "host:port\n", tok);
			free(dup);
			return -1;
		}
		*colon = '\0';
		if (i == BENCH_SERVERS_MAX ||
		    (a = addr_add(tok, atoi(colon + 1))) < 0) {
			fprintf(stderr, "activity-bench: refusing server "
			    "'%s:%s': loopback addresses only\n", tok,
			    colon + 1);
			free(dup);
			return -1;
		}
		cl.srv[i].port = addrs[a].port;
		cl.srv[i].addr = a;
		cl.srv[i].parent = -1;
		cl.srv[i].alive = 1;
		addrs[a].server = i;
		i++;
	}
	free(dup);
	cl.n = i;
	if (pids != NULL) {
		if ((dup = strdup(pids)) == NULL)
			return -1;
		i = 0;
		save = NULL;
		for (tok = strtok_r(dup, ",", &save); tok != NULL && i < cl.n;
		    tok = strtok_r(NULL, ",", &save))
			cl.srv[i++].pid = (pid_t)atoi(tok);
		free(dup);
	}
	return cl.n > 0 ? 0 : -1;
}

/* ------------------------------------------------------------ formation */

struct probe {
	int	 fd;
	char	 buf[65536];
	size_t	 len;
};

static int
probe_connect(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Wait up to ms for a line containing `needle` (consuming lines before
 * it); 1 found, 0 not yet, -1 the connection failed.  With `other`, a
 * REDIRECT or failure line is reported as -1.
 */
static int
probe_wait(struct probe *p, const char *needle, int ms)
{
	struct pollfd	 pfd;
	uint64_t	 end = ms_now() + (uint64_t)ms;
	char		*nl;
	ssize_t		 n;
	int		 found;

	for (;;) {
		while ((nl = memchr(p->buf, '\n', p->len)) != NULL) {
			*nl = '\0';
			found = strstr(p->buf, needle) != NULL;
			if (strstr(p->buf, "\"REDIRECT\"") != NULL ||
			    strstr(p->buf, "\"LOGIN_FAILED\"") != NULL ||
			    strstr(p->buf, "\"INVALID_MESSAGE\"") != NULL)
				found = -1;
			p->len -= (size_t)(nl + 1 - p->buf);
			memmove(p->buf, nl + 1, p->len);
			if (found)
				return found;
		}
		if (p->len == sizeof p->buf)
			p->len = 0;
		pump_loop();
		if (ms_now() >= end)
			return 0;
		pfd.fd = p->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 5) <= 0)
			continue;
		n = read(p->fd, p->buf + p->len, sizeof p->buf - p->len);
		if (n <= 0)
			return -1;
		p->len += (size_t)n;
	}
}

static int
probe_send(int fd, const char *s)
{
	size_t	 len = strlen(s), off = 0;
	ssize_t	 n;

	while (off < len) {
		if ((n = write(fd, s + off, len - off)) <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/*
 * The cluster is formed when a client logged in on each server sees an
 * activity published on the first one.  Retried until timeout_ms.
 */
int
cluster_wait_formed(int timeout_ms)
{
	struct probe	*pr;
	uint64_t	 t0 = ms_now(), deadline = t0 + (uint64_t)timeout_ms;
	char		 msg[256], needle[64];
	int		 i, k = 0, ok = 0, r;

	if ((pr = calloc((size_t)cl.n, sizeof *pr)) == NULL)
		return -1;
	for (i = 0; i < cl.n; i++)
		pr[i].fd = -1;
	while (!ok && ms_now() < deadline && !bench_interrupted()) {
		/* one logged-in client per server */
		for (i = 0; i < cl.n; i++) {
			if (pr[i].fd != -1)
				continue;
			pr[i].len = 0;
			if ((pr[i].fd = probe_connect(cl.srv[i].port)) == -1)
				continue;
			if (probe_send(pr[i].fd, "{\"command\":\"LOGIN\","
			    "\"username\":\"anonymous\",\"secret\":null}\n") !=
			    0 || probe_wait(&pr[i], "\"LOGIN_SUCCESS\"", 2000) !=
			    1) {
				close(pr[i].fd);
				pr[i].fd = -1;
			}
		}
		for (i = 0; i < cl.n; i++)
			if (pr[i].fd == -1)
				break;
		if (i < cl.n) {
			pump_loop();
			usleep(20000);
			continue;
		}
		k++;
		snprintf(needle, sizeof needle, "\"bench_probe\":%d}", k);
		snprintf(msg, sizeof msg, "{\"command\":\"ACTIVITY_MESSAGE\","
		    "\"username\":\"anonymous\",\"secret\":null,\"activity\":"
		    "{\"bench_probe\":%d}}\n", k);
		if (probe_send(pr[0].fd, msg) != 0) {
			close(pr[0].fd);
			pr[0].fd = -1;
			continue;
		}
		ok = 1;
		for (i = 0; i < cl.n; i++) {
			r = probe_wait(&pr[i], needle, 300);
			if (r == 1)
				continue;
			ok = 0;
			if (r < 0) {
				close(pr[i].fd);
				pr[i].fd = -1;
			}
		}
	}
	for (i = 0; i < cl.n; i++)
		if (pr[i].fd != -1)
			close(pr[i].fd);
	free(pr);
	cl.formed_ms = ms_now() - t0;
	if (ok)
		bench_log("cluster of %d formed in %llu ms", cl.n,
		    (unsigned long long)cl.formed_ms);
	return ok ? 0 : -1;
}

/* ------------------------------------------------------------ stopping */

static void
reap(int i, int ms)
{
	uint64_t	 end = ms_now() + (uint64_t)ms;
	int		 status;

	while (ms_now() < end) {
		if (waitpid(cl.srv[i].pid, &status, WNOHANG) == cl.srv[i].pid) {
			cl.srv[i].alive = 0;
			return;
		}
		usleep(5000);
	}
}

/* kill -9 one of our servers (or one whose PID was given). */
int
cluster_kill(int i)
{
	if (i < 0 || i >= cl.n || cl.srv[i].pid <= 0 || !cl.srv[i].alive)
		return -1;
	if (kill(cl.srv[i].pid, SIGKILL) != 0)
		return -1;
	if (cl.own)
		reap(i, 2000);
	cl.srv[i].alive = 0;
	return 0;
}

/*
 * Send one of our servers a signal.  SIGSTOP leaves it silent with its
 * sockets open (a hung server); it is SIGKILLed when the cluster stops.
 */
int
cluster_signal(int i, int sig)
{
	if (i < 0 || i >= cl.n || cl.srv[i].pid <= 0 || !cl.srv[i].alive)
		return -1;
	if (kill(cl.srv[i].pid, sig) != 0)
		return -1;
	if (sig == SIGSTOP)
		cl.srv[i].stopped = 1;
	if (sig == SIGKILL) {
		/* reaped when the cluster stops: no waiting here, in the
		 * middle of a measurement */
		cl.srv[i].alive = 0;
		cl.srv[i].killed = 1;
	}
	return 0;
}

/* Stop exactly the processes we started; remove their logs. */
void
cluster_stop(void)
{
	char	 path[300];
	int	 i, failed = 0;

	if (!cl.own) {
		memset(&cl, 0, sizeof cl);
		return;
	}
	for (i = 0; i < cl.n; i++)
		if (cl.srv[i].pid > 0 && cl.srv[i].alive)
			kill(cl.srv[i].pid, cl.srv[i].stopped ? SIGKILL :
			    SIGTERM);
	for (i = 0; i < cl.n; i++) {
		if (cl.srv[i].pid > 0 && cl.srv[i].killed && cl.own)
			reap(i, 2000);
		if (cl.srv[i].pid <= 0 || !cl.srv[i].alive)
			continue;
		reap(i, 3000);
		if (cl.srv[i].alive) {
			fprintf(stderr, "activity-bench: server %d (pid %d) "
			    "ignored SIGTERM: SIGKILL\n", i,
			    (int)cl.srv[i].pid);
			kill(cl.srv[i].pid, SIGKILL);
			reap(i, 3000);
			failed = 1;
		}
	}
	for (i = 0; i < BENCH_SERVERS_MAX; i++) {
		if (proxies[i] != NULL)
			proxy_free(proxies[i]);
		proxies[i] = NULL;
	}
	if (cl.dir[0] != '\0') {
		if (opts.keep_logs || failed)
			fprintf(stderr, "activity-bench: server logs kept in "
			    "%s\n", cl.dir);
		else {
			for (i = 0; i < cl.n; i++) {
				snprintf(path, sizeof path, "%s/server%d.log",
				    cl.dir, i);
				unlink(path);
			}
			rmdir(cl.dir);
		}
	}
	memset(&cl, 0, sizeof cl);
}

void
cluster_json(struct jbuf *b)
{
	int	 i;

	json_key(b, "cluster");
	jbuf_addc(b, '{');
	json_kint(b, "servers", cl.n);
	json_kstr(b, "started_by_bench", cl.own ? "yes" : "no");
	if (cl.own) {
		json_kstr(b, "topology", cl.topology == TOPO_STAR ? "star" :
		    "chain");
		if (opts.announce_ms > 0)
			json_kint(b, "announce_ms", opts.announce_ms);
		else
			json_kstr(b, "announce_ms", "server default");
		if (opts.nrun_server_args > 0) {
			int k;

			json_key(b, "run_server_args");
			jbuf_addc(b, '[');
			for (k = 0; k < opts.nrun_server_args; k++) {
				if (k > 0)
					jbuf_addc(b, ',');
				jbuf_cstr(b, opts.run_server_args[k]);
			}
			jbuf_addc(b, ']');
		}
		json_kstr(b, "server_bin", opts.server_bin);
	}
	json_kint(b, "formed_ms", (long long)cl.formed_ms);
	json_key(b, "addrs");
	jbuf_addc(b, '[');
	for (i = 0; i < cl.n; i++) {
		if (i > 0)
			jbuf_addc(b, ',');
		jbuf_cstr(b, addr_name(cl.srv[i].addr));
	}
	jbuf_addc(b, ']');
	json_key(b, "pids");
	jbuf_addc(b, '[');
	for (i = 0; i < cl.n; i++) {
		if (i > 0)
			jbuf_addc(b, ',');
		jbuf_int(b, cl.srv[i].pid);
	}
	jbuf_adds(b, "]}");
}
