/*
 * The network rig (see rig.h): namespaces and links made with ip(8) and
 * tc(8), and a latency relay in a thread of the test process.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "rig.h"

#define RIG_ALIASES	32
#define RIG_DELAY_CONNS	8
#define RIG_DELAY_CAP	(256 * 1024)	/* bytes held per direction */

struct rig_alias {
	char	 name[64];
	int	 host;
};

struct chunk {
	struct chunk	*next;
	uint64_t	 due;
	size_t		 len, off;
	char		 data[];
};

struct dir {
	int		 from, to;
	struct chunk	*head, *tail;
	size_t		 queued;
	int		 eof;		/* from has closed: shut to down */
	int		 shut;
};

struct relay_conn {
	int		 used;
	struct dir	 d[2];
};

struct rig_delay {
	pthread_t	 thread;
	int		 stop[2];	/* a pipe: the thread ends on input */
	char		 ns[64];
	int		 port, tport, delay_ms;
	char		 to[16];
	struct relay_conn conns[RIG_DELAY_CONNS];
	long long	 queued;	/* read by other threads */
};

static char		 sfx[16];
static int		 nhosts;
static char		 ns_r[64];
static char		 ns_h[RIG_MAX_HOSTS + 1][64];
static char		 ip_h[RIG_MAX_HOSTS + 1][16];
static char		 name_h[RIG_MAX_HOSTS + 1][32];
static struct rig_alias	 aliases[RIG_ALIASES];
static int		 naliases;
static int		 nrules;
static int		 up;
static int		 wan_a, wan_b;
static struct rig_delay	*delay;
static pthread_mutex_t	 delay_lock = PTHREAD_MUTEX_INITIALIZER;

int
rig_sh(const char *fmt, ...)
{
	char	 cmd[1024];
	va_list	 ap;
	int	 rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	if (getenv("NET_VERBOSE") != NULL)
		fprintf(stderr, "rig: %s\n", cmd);
	fflush(stdout);
	fflush(stderr);
	rc = system(cmd);
	if (rc == -1)
		it_fail("rig: cannot run %s", cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* Run a command that must work. */
#define RIG_MUST(...) do {						\
	if (rig_sh(__VA_ARGS__) != 0)					\
		it_fail("rig: command failed (NET_VERBOSE=1 shows it)"); \
} while (0)

const char *
rig_sfx(void)
{
	const char	*e;
	unsigned	 r;

	if (sfx[0] != '\0')
		return sfx;
	if ((e = getenv("NET_RUN")) != NULL && *e != '\0' &&
	    strlen(e) <= 6 && strspn(e, "0123456789abcdef") == strlen(e))
		snprintf(sfx, sizeof sfx, "%s", e);
	else {
		r = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
		snprintf(sfx, sizeof sfx, "%06x", r & 0xffffff);
	}
	return sfx;
}

const char *
rig_ns(int i)
{
	return ns_h[i];
}

const char *
rig_ip(int i)
{
	return ip_h[i];
}

const char *
rig_host(int i)
{
	return name_h[i];
}

const char *
rig_resolve(const char *name)
{
	int	 i;

	if (strcmp(name, "localhost") == 0)
		return "127.0.0.1";
	for (i = 1; i <= nhosts; i++)
		if (strcmp(name, name_h[i]) == 0)
			return ip_h[i];
	for (i = 0; i < naliases; i++)
		if (strcmp(name, aliases[i].name) == 0)
			return ip_h[aliases[i].host];
	return NULL;
}

/* Write /etc/netns/NS/hosts for every host: ip netns exec mounts it. */
static void
rig_hosts_files(void)
{
	char	 dir[PATH_MAX], path[PATH_MAX + 8];
	FILE	*f;
	int	 i, j;

	for (i = 1; i <= nhosts; i++) {
		snprintf(dir, sizeof dir, "/etc/netns/%s", ns_h[i]);
		mkdir("/etc/netns", 0755);
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			it_fail("rig: mkdir %s: %s", dir, strerror(errno));
		snprintf(path, sizeof path, "%s/hosts", dir);
		if ((f = fopen(path, "w")) == NULL)
			it_fail("rig: %s: %s", path, strerror(errno));
		fprintf(f, "127.0.0.1\tlocalhost\n");
		for (j = 1; j <= nhosts; j++)
			fprintf(f, "%s\t%s\n", ip_h[j], name_h[j]);
		for (j = 0; j < naliases; j++)
			fprintf(f, "%s\t%s\n", ip_h[aliases[j].host],
			    aliases[j].name);
		fclose(f);
	}
}

void
rig_alias(int i, const char *name)
{
	if (naliases == RIG_ALIASES)
		it_fail("rig: too many aliases");
	snprintf(aliases[naliases].name, sizeof aliases[0].name, "%s", name);
	aliases[naliases++].host = i;
	if (up)
		rig_hosts_files();
}

static void
rig_signal(int sig)
{
	/* The servers and namespaces go at exit (harness and rig_atexit). */
	(void)sig;
	exit(130);
}

static void
rig_atexit(void)
{
	rig_down();
}

void
rig_up(int n)
{
	static int	 once;
	const char	*r = ns_r;
	int		 i;

	if (!once) {
		once = 1;
		atexit(rig_atexit);
		signal(SIGINT, rig_signal);
		signal(SIGTERM, rig_signal);
		signal(SIGHUP, rig_signal);
	}
	if (up)
		rig_down();
	if (n < 1 || n > RIG_MAX_HOSTS)
		it_fail("rig: %d hosts", n);
	nhosts = n;
	up = 1;
	snprintf(ns_r, sizeof ns_r, "an-%s-r", rig_sfx());
	RIG_MUST("ip netns add %s", r);
	RIG_MUST("ip -n %s link set lo up && ip netns exec %s sh -c "
	    "'echo 1 > /proc/sys/net/ipv4/ip_forward'", r, r);
	for (i = 1; i <= n; i++) {
		snprintf(ns_h[i], sizeof ns_h[i], "an-%s-h%d", sfx, i);
		snprintf(ip_h[i], sizeof ip_h[i], "10.77.%d.2", i);
		snprintf(name_h[i], sizeof name_h[i], "h%d-%s", i, sfx);
		RIG_MUST("ip netns add %s && ip -n %s link set lo up",
		    ns_h[i], ns_h[i]);
		/*
		 * Fixed MAC addresses and permanent neighbour entries: no
		 * ARP, so a cut link never turns into an ICMP unreachable
		 * from the router.  Each end sees a silent loss.
		 */
		RIG_MUST("ip link add vh%d-%s netns %s address 02:77:00:00:00:%02x "
		    "type veth peer name vr%d-%s netns %s "
		    "address 02:77:01:00:00:%02x", i, sfx, ns_h[i], i, i, sfx,
		    r, i);
		RIG_MUST("ip -n %s addr add 10.77.%d.1/24 dev vr%d-%s && "
		    "ip -n %s link set vr%d-%s up && "
		    "ip -n %s neigh replace 10.77.%d.2 lladdr "
		    "02:77:00:00:00:%02x dev vr%d-%s nud permanent",
		    r, i, i, sfx, r, i, sfx, r, i, i, i, sfx);
		RIG_MUST("ip -n %s addr add 10.77.%d.2/24 dev vh%d-%s && "
		    "ip -n %s link set vh%d-%s up && "
		    "ip -n %s route add default via 10.77.%d.1 && "
		    "ip -n %s neigh replace 10.77.%d.1 lladdr "
		    "02:77:01:00:00:%02x dev vh%d-%s nud permanent",
		    ns_h[i], i, i, sfx, ns_h[i], i, sfx, ns_h[i], i,
		    ns_h[i], i, i, i, sfx);
	}
	rig_hosts_files();
}

static void
rig_delay_stop(void)
{
	struct rig_delay	*d = delay;

	if (d == NULL)
		return;
	pthread_mutex_lock(&delay_lock);
	delay = NULL;
	pthread_mutex_unlock(&delay_lock);
	if (write(d->stop[1], "x", 1) != 1)
		abort();
	pthread_join(d->thread, NULL);
	close(d->stop[0]);
	close(d->stop[1]);
	free(d);
}

void
rig_down(void)
{
	char	 path[PATH_MAX];
	int	 i;

	if (!up)
		return;
	up = 0;
	rig_delay_stop();
	/* Deleting a namespace takes its ends of every veth with it. */
	for (i = 1; i <= nhosts; i++) {
		rig_sh("ip netns del %s 2>/dev/null", ns_h[i]);
		snprintf(path, sizeof path, "/etc/netns/%s/hosts", ns_h[i]);
		unlink(path);
		snprintf(path, sizeof path, "/etc/netns/%s", ns_h[i]);
		rmdir(path);
	}
	rig_sh("ip netns del %s 2>/dev/null", ns_r);
	nhosts = naliases = nrules = 0;
	wan_a = wan_b = 0;
}

void
rig_link(int i, int on)
{
	RIG_MUST("ip -n %s link set vh%d-%s %s", ns_h[i], i, sfx,
	    on ? "up" : "down");
	/* Coming back up, the default route has to be put back. */
	if (on)
		RIG_MUST("ip -n %s route replace default via 10.77.%d.1",
		    ns_h[i], i);
}

/* Drop at the router every packet from host i to host j. */
static void
rig_drop(int i, int j)
{
	RIG_MUST("ip -n %s rule add from 10.77.%d.0/24 to 10.77.%d.0/24 "
	    "blackhole pref 100", ns_r, i, j);
	nrules++;
}

void
rig_split(unsigned mask)
{
	int	 i, j;

	for (i = 1; i <= nhosts; i++)
		for (j = 1; j <= nhosts; j++)
			if (!(mask & (1u << i)) != !(mask & (1u << j)))
				rig_drop(i, j);
}

void
rig_block(int i, int j)
{
	rig_drop(i, j);
}

void
rig_heal(void)
{
	for (; nrules > 0; nrules--)
		RIG_MUST("ip -n %s rule del pref 100", ns_r);
}

/* Milliseconds on the monotonic clock. */
static uint64_t
mono_ms(void)
{
	return it_now_ms();
}

static void
dir_free(struct dir *d)
{
	struct chunk	*c;

	while ((c = d->head) != NULL) {
		d->head = c->next;
		free(c);
	}
	d->tail = NULL;
	d->queued = 0;
}

static void
conn_close(struct relay_conn *c)
{
	close(c->d[0].from);
	close(c->d[0].to);
	dir_free(&c->d[0]);
	dir_free(&c->d[1]);
	c->used = 0;
}

/* Read what from has into the queue, due delay_ms from now; -1: gone. */
static int
dir_read(struct rig_delay *rd, struct dir *d)
{
	struct chunk	*c;
	char		 buf[16384];
	ssize_t		 n;

	n = read(d->from, buf, sizeof buf);
	if (n == 0) {
		d->eof = 1;
		return 0;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if ((c = malloc(sizeof *c + (size_t)n)) == NULL)
		abort();
	c->next = NULL;
	c->due = mono_ms() + (uint64_t)rd->delay_ms;
	c->len = (size_t)n;
	c->off = 0;
	memcpy(c->data, buf, (size_t)n);
	if (d->tail != NULL)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	d->queued += (size_t)n;
	return 0;
}

/* Write whatever is due; -1 if the other side is gone. */
static int
dir_write(struct dir *d, uint64_t now)
{
	struct chunk	*c;
	ssize_t		 n;

	while ((c = d->head) != NULL && c->due <= now) {
		n = write(d->to, c->data + c->off, c->len - c->off);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->off += (size_t)n;
		d->queued -= (size_t)n;
		if (c->off < c->len)
			return 0;
		d->head = c->next;
		if (d->head == NULL)
			d->tail = NULL;
		free(c);
	}
	if (d->head == NULL && d->eof && !d->shut) {
		shutdown(d->to, SHUT_WR);
		d->shut = 1;
	}
	return 0;
}

static void
delay_accept(struct rig_delay *rd, int lfd)
{
	struct sockaddr_in	 sin;
	struct relay_conn	*c = NULL;
	int			 a, b, i, one = 1;

	if ((a = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1)
		return;
	for (i = 0; i < RIG_DELAY_CONNS; i++)
		if (!rd->conns[i].used)
			c = &rd->conns[i];
	if (c == NULL ||
	    (b = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		close(a);
		return;
	}
	setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)rd->tport);
	inet_pton(AF_INET, rd->to, &sin.sin_addr);
	if (connect(b, (struct sockaddr *)&sin, sizeof sin) == -1 &&
	    errno != EINPROGRESS) {
		close(a);
		close(b);
		return;
	}
	memset(c, 0, sizeof *c);
	c->used = 1;
	c->d[0].from = a;
	c->d[0].to = b;
	c->d[1].from = b;
	c->d[1].to = a;
}

/* The relay thread: one poll over the listener and every connection. */
static void *
delay_main(void *arg)
{
	struct rig_delay	*rd = arg;
	struct pollfd		 pfd[2 + 2 * RIG_DELAY_CONNS];
	struct sockaddr_in	 sin;
	struct relay_conn	*c;
	struct dir		*d;
	uint64_t		 now, next;
	long long		 q;
	int			 lfd, n, i, k, t, one = 1;

	if (it_netns_enter(rd->ns) == -1)
		abort();
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		abort();
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)rd->port);
	inet_pton(AF_INET, "10.78.0.1", &sin.sin_addr);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(lfd, 16) == -1)
		abort();
	for (;;) {
		now = mono_ms();
		next = now + 1000;
		pfd[0].fd = rd->stop[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = lfd;
		pfd[1].events = POLLIN;
		n = 2;
		q = 0;
		/* One pollfd per socket: conns[i].d[k].from is pfd[2+2i+k]. */
		for (i = 0; i < RIG_DELAY_CONNS; i++) {
			c = &rd->conns[i];
			for (k = 0; k < 2; k++) {
				pfd[n + k].fd = c->used ? c->d[k].from : -1;
				pfd[n + k].events = 0;
			}
			for (k = 0; c->used && k < 2; k++) {
				d = &c->d[k];
				if (!d->eof && d->queued < RIG_DELAY_CAP)
					pfd[n + k].events |= POLLIN;
				q += (long long)d->queued;
				if (d->head == NULL)
					continue;
				if (d->head->due <= now)
					pfd[n + 1 - k].events |= POLLOUT;
				else if (d->head->due < next)
					next = d->head->due;
			}
			n += 2;
		}
		__atomic_store_n(&rd->queued, q, __ATOMIC_RELAXED);
		t = next > now ? (int)(next - now) : 0;
		if (poll(pfd, (nfds_t)n, t) == -1 && errno != EINTR)
			abort();
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			delay_accept(rd, lfd);
		now = mono_ms();
		for (i = 0, n = 2; i < RIG_DELAY_CONNS; i++, n += 2) {
			c = &rd->conns[i];
			if (!c->used)
				continue;
			for (k = 0; k < 2; k++) {
				d = &c->d[k];
				if ((pfd[n + k].revents & (POLLIN | POLLHUP |
				    POLLERR)) && dir_read(rd, d) == -1)
					break;
				if (dir_write(d, now) == -1)
					break;
			}
			if (k < 2 || (c->d[0].shut && c->d[1].shut))
				conn_close(c);
		}
	}
	for (i = 0; i < RIG_DELAY_CONNS; i++)
		if (rd->conns[i].used)
			conn_close(&rd->conns[i]);
	close(lfd);
	return NULL;
}

void
rig_wan(int a, int b, const char *rate, int port, int bport, int delay_ms)
{
	struct rig_delay	*rd;
	int			 i;

	if (delay != NULL)
		it_fail("rig: one wan link at a time");
	RIG_MUST("ip link add wa-%s netns %s type veth peer name wb-%s "
	    "netns %s", sfx, ns_h[a], sfx, ns_h[b]);
	RIG_MUST("ip -n %s addr add 10.78.0.1/24 dev wa-%s && "
	    "ip -n %s link set wa-%s up && "
	    "ip -n %s addr add 10.78.0.2/24 dev wb-%s && "
	    "ip -n %s link set wb-%s up", ns_h[a], sfx, ns_h[a], sfx,
	    ns_h[b], sfx, ns_h[b], sfx);
	/* The queue holds at most 100 ms at the rate, as a router's would. */
	RIG_MUST("ip netns exec %s tc qdisc add dev wa-%s root tbf rate %s "
	    "burst 4kb latency 100ms && ip netns exec %s tc qdisc add dev "
	    "wb-%s root tbf rate %s burst 4kb latency 100ms", ns_h[a], sfx,
	    rate, ns_h[b], sfx, rate);
	wan_a = a;
	wan_b = b;
	if ((rd = calloc(1, sizeof *rd)) == NULL)
		abort();
	snprintf(rd->ns, sizeof rd->ns, "%s", ns_h[a]);
	snprintf(rd->to, sizeof rd->to, "10.78.0.2");
	rd->port = port;
	rd->tport = bport;
	rd->delay_ms = delay_ms;
	for (i = 0; i < RIG_DELAY_CONNS; i++)
		rd->conns[i].used = 0;
	if (pipe2(rd->stop, O_CLOEXEC) == -1)
		abort();
	if (pthread_create(&rd->thread, NULL, delay_main, rd) != 0)
		abort();
	delay = rd;
}

long long
rig_wan_queued(void)
{
	long long	 q = 0;

	pthread_mutex_lock(&delay_lock);
	if (delay != NULL)
		q = __atomic_load_n(&delay->queued, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&delay_lock);
	return q;
}
