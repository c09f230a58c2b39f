/*
 * A login storm beside the traffic: at a steady rate, a new connection
 * to the next server in turn sends LOGIN as a registered user and hangs
 * up at the answer.  A LOGIN costs the server a slow hash of the secret
 * unless its login cache has seen that user log in with it lately:
 * with one user (the default) the cache soon answers nearly all; with
 * --logins-users N the storm goes through N users in turn, so a LOGIN
 * is a slow hash until a user comes back to the same server (counted
 * as a repeat).  The "logins" workload measures what the storm does to
 * the fan-out latency of the traffic running at the same time.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
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
#define LOGINS_REG_CONNS	6	/* registrations at once */
#define LOGINS_REG_TIMEOUT_MS	10000	/* for one answer */

static struct {
	char		 user[64];	/* one user; with N: the prefix */
	int		 nusers;	/* 0: just user */
	int		 next_user;
	uint8_t		*used;		/* nusers x servers: logged in */
	uint64_t	 repeats;	/* a user again at the same server */
	double		 rate;
	uint64_t	 t0;
	uint64_t	 opened, ok, failed, inflight;
	int		 next_srv;
	struct event	*tick_ev;
} L;

/* The name of storm user i. */
static void
logins_user(int i, char *out, size_t len)
{
	if (L.nusers == 0)
		snprintf(out, len, "%s", L.user);
	else
		snprintf(out, len, "%s-%d", L.user, i);
}

/* A connection to server srv, blocking; -1 if refused. */
static int
logins_connect(int srv)
{
	struct sockaddr_in	 sin = addrs[cl.srv[srv].addr].sin;
	int			 fd;

	sin.sin_port = htons((uint16_t)cl.srv[srv].port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send REGISTER of user i on fd. */
static int
logins_send_register(int fd, int i)
{
	char	 name[96], line[256];

	logins_user(i, name, sizeof name);
	snprintf(line, sizeof line, "{\"command\":\"REGISTER\",\"username\":"
	    "\"%s\",\"secret\":\"%s\"}\n", name, LOGINS_SECRET);
	return write(fd, line, strlen(line)) == (ssize_t)strlen(line) ? 0 : -1;
}

/*
 * Register users 0..n-1 over LOGINS_REG_CONNS connections at once,
 * spread over the servers; each connection registers one user at a
 * time (a REGISTER is answered when every server has approved it, so
 * a LOGIN anywhere finds the user).  -1 if one is refused or silent.
 */
static int
logins_register_all(int n)
{
	struct pollfd	 pfd[LOGINS_REG_CONNS];
	int		 cur[LOGINS_REG_CONNS];
	char		 buf[LOGINS_REG_CONNS][512];
	size_t		 have[LOGINS_REG_CONNS];
	int		 k, nconn, next = 0, done = 0, rc = 0;
	ssize_t		 r;
	char		*nl;

	nconn = n < LOGINS_REG_CONNS ? n : LOGINS_REG_CONNS;
	for (k = 0; k < nconn; k++) {
		have[k] = 0;
		cur[k] = next++;
		if ((pfd[k].fd = logins_connect(k % cl.n)) == -1 ||
		    logins_send_register(pfd[k].fd, cur[k]) != 0)
			rc = -1;
		pfd[k].events = POLLIN;
	}
	while (rc == 0 && done < n) {
		if (poll(pfd, (nfds_t)nconn, LOGINS_REG_TIMEOUT_MS) <= 0) {
			rc = -1;
			break;
		}
		for (k = 0; k < nconn && rc == 0; k++) {
			if (pfd[k].fd == -1 || !(pfd[k].revents &
			    (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pfd[k].fd, buf[k] + have[k],
			    sizeof buf[k] - 1 - have[k]);
			if (r <= 0) {
				rc = -1;
				break;
			}
			have[k] += (size_t)r;
			buf[k][have[k]] = '\0';
			if ((nl = strchr(buf[k], '\n')) == NULL) {
				if (have[k] == sizeof buf[k] - 1)
					rc = -1;
				continue;
			}
			if (strstr(buf[k], "REGISTER_SUCCESS") == NULL) {
				fprintf(stderr, "activity-bench: logins: "
				    "user %d: %s\n", cur[k], buf[k]);
				rc = -1;
				break;
			}
			/* One answer per request: nothing follows it. */
			have[k] = 0;
			done++;
			if (next < n) {
				cur[k] = next++;
				if (logins_send_register(pfd[k].fd,
				    cur[k]) != 0)
					rc = -1;
			} else {
				close(pfd[k].fd);
				pfd[k].fd = -1;
			}
		}
	}
	for (k = 0; k < nconn; k++)
		if (pfd[k].fd != -1)
			close(pfd[k].fd);
	return rc;
}

/* Who the storm logs in as, for the tables. */
void
logins_who(char *out, size_t len)
{
	if (opts.logins_anonymous)
		snprintf(out, len, "anonymous (no hash)");
	else if (opts.logins_users > 0)
		snprintf(out, len, "%d users in turn (cold)",
		    opts.logins_users);
	else
		snprintf(out, len, "one user, the same each time");
}

/* Register the user(s) the storm logs in as. */
int
logins_prepare(void)
{
	uint64_t	 deadline = bench_now_ns() + 10000000000ull;
	uint64_t	 t0 = bench_now_ns();

	free(L.used);
	L.used = NULL;
	L.nusers = 0;
	L.next_user = 0;
	L.repeats = 0;
	/* The control: anonymous LOGINs cost no hash. */
	if (opts.logins_anonymous) {
		snprintf(L.user, sizeof L.user, "anonymous");
		return 0;
	}
	snprintf(L.user, sizeof L.user, "bench-login-%d-%llu", (int)getpid(),
	    (unsigned long long)(bench_now_ns() / 1000));
	if (opts.logins_users > 0) {
		L.nusers = opts.logins_users;
		if ((L.used = calloc((size_t)L.nusers, (size_t)cl.n)) == NULL)
			bench_fatal("out of memory");
		if (logins_register_all(L.nusers) != 0)
			return -1;
		bench_log("logins: %d users registered in %.1f s", L.nusers,
		    (bench_now_ns() - t0) / 1e9);
		return 0;
	}
	/* The registration must reach every server before a LOGIN. */
	while (logins_register_all(1) != 0)
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
	char	 line[256], name[96];
	int	 i = (int)(intptr_t)arg;

	if (what & BEV_EVENT_CONNECTED) {
		logins_user(i, name, sizeof name);
		snprintf(line, sizeof line, "{\"command\":\"LOGIN\","
		    "\"username\":\"%s\",\"secret\":\"%s\"}\n", name,
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
	int			 s = L.next_srv++ % cl.n, u = 0;

	/* Each user in turn; a user back at a server may be cached there. */
	if (L.nusers > 0) {
		u = L.next_user++ % L.nusers;
		if (L.used[(size_t)u * (size_t)cl.n + (size_t)s])
			L.repeats++;
		L.used[(size_t)u * (size_t)cl.n + (size_t)s] = 1;
	}

	sin = addrs[cl.srv[s].addr].sin;
	sin.sin_port = htons((uint16_t)cl.srv[s].port);
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		bench_fatal("bufferevent_socket_new");
	bufferevent_setcb(bev, login_read_cb, NULL, login_event_cb,
	    (void *)(intptr_t)u);
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

/*
 * Stop opening logins; what was done (those still open are dropped),
 * and how many were a user again at the same server.
 */
void
logins_stop(uint64_t *opened, uint64_t *ok, uint64_t *failed, double *secs,
    uint64_t *repeats)
{
	if (L.tick_ev != NULL) {
		event_free(L.tick_ev);
		L.tick_ev = NULL;
	}
	*opened = L.opened;
	*ok = L.ok;
	*failed = L.failed;
	*secs = (bench_now_ns() - L.t0) / 1e9;
	*repeats = L.repeats;
}
