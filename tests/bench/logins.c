/*
 * A login storm beside the traffic: at a steady rate, a new connection
 * to the next server in turn sends LOGIN as a registered user and hangs
 * up at the answer.  Every such LOGIN costs the server a slow hash of
 * the secret; the "logins" workload measures what that does to the
 * fan-out latency of the traffic running at the same time.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bench.h"

#define LOGINS_TICK_MS		5
#define LOGINS_INFLIGHT_MAX	2000
#define LOGINS_SECRET		"bench-login-secret"

static struct {
	char		 user[64];
	double		 rate;
	uint64_t	 t0;
	uint64_t	 opened, ok, failed, inflight;
	int		 next_srv;
	struct event	*tick_ev;
} L;

/* One blocking request/answer on a fresh connection: REGISTER. */
static int
logins_register(int srv)
{
	struct sockaddr_in	 sin = addrs[cl.srv[srv].addr].sin;
	struct pollfd		 pfd;
	char			 line[256], buf[512];
	size_t			 n = 0;
	ssize_t			 r;
	int			 fd;

	sin.sin_port = htons((uint16_t)cl.srv[srv].port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		close(fd);
		return -1;
	}
	snprintf(line, sizeof line, "{\"command\":\"REGISTER\",\"username\":"
	    "\"%s\",\"secret\":\"%s\"}\n", L.user, LOGINS_SECRET);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		close(fd);
		return -1;
	}
	while (n < sizeof buf - 1 && memchr(buf, '\n', n) == NULL) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10000) != 1 ||
		    (r = read(fd, buf + n, sizeof buf - 1 - n)) <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
	return strstr(buf, "REGISTER_SUCCESS") != NULL ? 0 : -1;
}

/* Register the user the storm logs in as (on server 0). */
int
logins_prepare(void)
{
	uint64_t	 deadline = bench_now_ns() + 10000000000ull;

	/* The control: anonymous LOGINs cost no hash. */
	if (opts.logins_anonymous) {
		snprintf(L.user, sizeof L.user, "anonymous");
		return 0;
	}
	snprintf(L.user, sizeof L.user, "bench-login-%d-%llu", (int)getpid(),
	    (unsigned long long)(bench_now_ns() / 1000));
	/* The registration must reach every server before a LOGIN. */
	while (logins_register(0) != 0)
		if (bench_now_ns() > deadline)
			return -1;
	return 0;
}

static void
login_done(struct bufferevent *bev, int ok)
{
	if (ok)
		L.ok++;
	else
		L.failed++;
	L.inflight--;
	bufferevent_free(bev);
}

static void
login_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 n;
	char		*line;

	(void)arg;
	if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) == NULL)
		return;
	login_done(bev, strstr(line, "\"LOGIN_SUCCESS\"") != NULL);
	free(line);
}

static void
login_event_cb(struct bufferevent *bev, short what, void *arg)
{
	char	 line[256];

	(void)arg;
	if (what & BEV_EVENT_CONNECTED) {
		snprintf(line, sizeof line, "{\"command\":\"LOGIN\","
		    "\"username\":\"%s\",\"secret\":\"%s\"}\n", L.user,
		    LOGINS_SECRET);
		bufferevent_write(bev, line, strlen(line));
		return;
	}
	login_done(bev, 0);
}

static void
login_open(void)
{
	struct bufferevent	*bev;
	struct sockaddr_in	 sin;
	int			 s = L.next_srv++ % cl.n;

	sin = addrs[cl.srv[s].addr].sin;
	sin.sin_port = htons((uint16_t)cl.srv[s].port);
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		bench_fatal("bufferevent_socket_new");
	bufferevent_setcb(bev, login_read_cb, NULL, login_event_cb, NULL);
	bufferevent_enable(bev, EV_READ);
	L.opened++;
	L.inflight++;
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&sin,
	    sizeof sin) != 0)
		login_done(bev, 0);
}

/* Open as many logins as the rate owes by now. */
static void
logins_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	double		 el = (bench_now_ns() - L.t0) / 1e9;
	uint64_t	 due = (uint64_t)(el * L.rate);

	(void)fd;
	(void)ev;
	(void)arg;
	while (L.opened < due && L.inflight < LOGINS_INFLIGHT_MAX)
		login_open();
}

void
logins_start(double rate)
{
	struct timeval	 tv = { 0, LOGINS_TICK_MS * 1000 };

	L.rate = rate;
	L.t0 = bench_now_ns();
	L.opened = L.ok = L.failed = L.inflight = 0;
	L.tick_ev = event_new(base, -1, EV_PERSIST, logins_tick_cb, NULL);
	if (L.tick_ev == NULL || event_add(L.tick_ev, &tv) != 0)
		bench_fatal("event_new");
}

/* Stop opening logins; what was done (those still open are dropped). */
void
logins_stop(uint64_t *opened, uint64_t *ok, uint64_t *failed, double *secs)
{
	if (L.tick_ev != NULL) {
		event_free(L.tick_ev);
		L.tick_ev = NULL;
	}
	*opened = L.opened;
	*ok = L.ok;
	*failed = L.failed;
	*secs = (bench_now_ns() - L.t0) / 1e9;
}
