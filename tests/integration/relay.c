/*
 * The fault-injecting relay: one thread per relay, one poll() over the
 * listener, a wake pipe and every connection pair.  Each direction has
 * a bounded buffer; a side is read only while the other side's buffer
 * has room, so a slow reader slows the writer as TCP would.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "relay.h"

#define RELAY_MAX	8
#define RELAY_PAIRS	64
#define RELAY_BUF	(256 * 1024)

struct relay_dir {
	char		 buf[RELAY_BUF];
	size_t		 len;
};

struct relay_pair {
	int		 fd[2];		/* 0: accepted, 1: upstream */
	int		 connecting;	/* upstream connect going on */
	int		 tainted;	/* lost bytes: reset on repair */
	int		 eof[2];	/* side i closed: so does the other
					   once its queue is written */
	struct relay_dir d[2];		/* d[i]: queued for fd[i] */
};

struct relay {
	int		 port;
	char		 port_str[16];	/* port, for a server's -rp */
	int		 target;
	int		 lfd;
	int		 wake[2];
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	enum relay_mode	 want;		/* set by the test */
	enum relay_mode	 mode;		/* in effect */
	unsigned	 asked, done;	/* mode change handshake */
	int		 stop;
	int		 accepted;
	long long	 forwarded;
	char		*cap;		/* bytes seen either way, under mu */
	size_t		 cap_len;
	size_t		 cap_max;
	struct relay_pair *pairs[RELAY_PAIRS];
	int		 npairs;
};

static struct relay	*relays[RELAY_MAX];
static int		 nrelays;

/* Close with RST rather than FIN: the peer sees a broken link. */
static void
close_reset(int fd)
{
	struct linger	 l = { 1, 0 };

	if (fd == -1)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(fd);
}

static void
pair_free(struct relay *r, int i, int reset)
{
	struct relay_pair	*p = r->pairs[i];

	if (reset) {
		close_reset(p->fd[0]);
		close_reset(p->fd[1]);
	} else {
		if (p->fd[0] != -1)
			close(p->fd[0]);
		if (p->fd[1] != -1)
			close(p->fd[1]);
	}
	free(p);
	r->pairs[i] = r->pairs[--r->npairs];
}

static void
relay_accept(struct relay *r)
{
	struct relay_pair	*p;
	struct sockaddr_in	 sin;
	int			 fd, one = 1, rc;

	while ((fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) != -1) {
		__atomic_add_fetch(&r->accepted, 1, __ATOMIC_RELAXED);
		if (r->mode == RELAY_RESET || r->npairs == RELAY_PAIRS) {
			close_reset(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if ((p = calloc(1, sizeof *p)) == NULL)
			abort();
		p->fd[0] = fd;
		p->fd[1] = -1;
		r->pairs[r->npairs++] = p;
		if (r->mode == RELAY_CUT) {
			p->tainted = 1;	/* never connected upstream */
			continue;
		}
		p->fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		setsockopt(p->fd[1], IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof one);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)r->target);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(p->fd[1], (struct sockaddr *)&sin, sizeof sin);
		if (rc == -1 && errno == EINPROGRESS)
			p->connecting = 1;
		else if (rc == -1)
			pair_free(r, r->npairs - 1, 1);
	}
}

/* Apply a mode change asked for by the test. */
static void
relay_switch(struct relay *r, enum relay_mode m)
{
	int	 i;

	if (m == RELAY_RESET) {
		while (r->npairs > 0)
			pair_free(r, r->npairs - 1, 1);
	} else if (m == RELAY_CUT) {
		for (i = 0; i < r->npairs; i++) {
			struct relay_pair *p = r->pairs[i];

			if (p->d[0].len > 0 || p->d[1].len > 0)
				p->tainted = 1;
			p->d[0].len = p->d[1].len = 0;
		}
	} else {
		for (i = r->npairs - 1; i >= 0; i--)
			if (r->pairs[i]->tainted)
				pair_free(r, i, 1);
	}
	r->mode = m;
}

/*
 * Move bytes for pair i; returns 0, or -1 if the pair was freed.  A
 * close on one side reaches the other once its queue is written, except
 * while cut: then nothing crosses, not even a close, and each end has
 * only its heartbeats to find out.
 */
/* Keep a copy of forwarded bytes for relay_captured(), up to the cap. */
static void
relay_record(struct relay *r, const char *p, size_t n)
{
	pthread_mutex_lock(&r->mu);
	if (r->cap != NULL) {
		if (n > r->cap_max - r->cap_len)
			n = r->cap_max - r->cap_len;
		memcpy(r->cap + r->cap_len, p, n);
		r->cap_len += n;
	}
	pthread_mutex_unlock(&r->mu);
}

static int
pair_io(struct relay *r, int i, const struct pollfd *pf)
{
	struct relay_pair	*p = r->pairs[i];
	struct relay_dir	*d;
	char			 drop[65536];
	ssize_t			 n;
	int			 s, err;
	socklen_t		 sl = sizeof err;

	if (p->connecting && pf[1].revents) {
		err = 0;
		getsockopt(p->fd[1], SOL_SOCKET, SO_ERROR, &err, &sl);
		if (err != 0) {
			pair_free(r, i, 1);
			return -1;
		}
		p->connecting = 0;
	}
	for (s = 0; s < 2; s++) {
		if (p->fd[s] == -1 || p->eof[s] || (s == 1 && p->connecting) ||
		    !(pf[s].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		/* Bytes read from side s go to the other side. */
		d = &p->d[!s];
		if (r->mode == RELAY_CUT)
			n = read(p->fd[s], drop, sizeof drop);
		else
			n = read(p->fd[s], d->buf + d->len,
			    sizeof d->buf - d->len);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n > 0) {
			if (r->mode == RELAY_CUT)
				p->tainted = 1;
			else {
				relay_record(r, d->buf + d->len, (size_t)n);
				d->len += (size_t)n;
			}
			continue;
		}
		if (r->mode == RELAY_CUT) {
			close(p->fd[s]);
			p->fd[s] = -1;
			p->tainted = 1;
			if (p->fd[!s] == -1) {
				pair_free(r, i, 0);
				return -1;
			}
			continue;
		}
		if (n == -1) {
			pair_free(r, i, 1);	/* a reset: pass it on */
			return -1;
		}
		p->eof[s] = 1;
	}
	for (s = 0; s < 2; s++) {
		d = &p->d[s];
		if (p->fd[s] == -1 || d->len == 0 || (s == 1 && p->connecting))
			continue;
		n = send(p->fd[s], d->buf, d->len, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			pair_free(r, i, 1);
			return -1;
		}
		memmove(d->buf, d->buf + n, d->len - (size_t)n);
		d->len -= (size_t)n;
		__atomic_add_fetch(&r->forwarded, (long long)n,
		    __ATOMIC_RELAXED);
	}
	if ((p->eof[0] && p->d[1].len == 0) || (p->eof[1] &&
	    p->d[0].len == 0)) {
		pair_free(r, i, 0);
		return -1;
	}
	return 0;
}

static void *
relay_main(void *arg)
{
	struct relay	*r = arg;
	struct pollfd	 pf[2 + 2 * RELAY_PAIRS];
	struct relay_pair *snap[RELAY_PAIRS];
	int		 i, k, np, s;
	char		 b[64];

	for (;;) {
		pthread_mutex_lock(&r->mu);
		if (r->stop) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		if (r->done != r->asked) {
			relay_switch(r, r->want);
			r->done = r->asked;
			pthread_cond_broadcast(&r->cv);
		}
		pthread_mutex_unlock(&r->mu);

		pf[0].fd = r->wake[0];
		pf[0].events = POLLIN;
		pf[1].fd = r->lfd;
		pf[1].events = POLLIN;
		np = r->npairs;
		for (i = 0; i < np; i++) {
			struct relay_pair *p = r->pairs[i];

			snap[i] = p;
			for (s = 0; s < 2; s++) {
				k = 2 + 2 * i + s;
				pf[k].fd = p->fd[s];
				pf[k].events = 0;
				pf[k].revents = 0;
				if (p->fd[s] == -1)
					continue;
				if (s == 1 && p->connecting) {
					pf[k].events = POLLOUT;
					continue;
				}
				/* Read only if the other side has room. */
				if (!p->eof[s] && (r->mode == RELAY_CUT ||
				    p->d[!s].len < sizeof p->d[!s].buf))
					pf[k].events |= POLLIN;
				if (p->d[s].len > 0)
					pf[k].events |= POLLOUT;
			}
		}
		pf[0].revents = pf[1].revents = 0;
		if (poll(pf, (nfds_t)(2 + 2 * np), 1000) < 0)
			continue;
		if (pf[0].revents)
			while (read(r->wake[0], b, sizeof b) > 0)
				;
		if (pf[1].revents)
			relay_accept(r);
		/* Pairs may move as others are freed: match by pointer. */
		for (i = 0; i < np; i++) {
			for (k = 0; k < r->npairs; k++)
				if (r->pairs[k] == snap[i])
					break;
			if (k == r->npairs)
				continue;
			pair_io(r, k, &pf[2 + 2 * i]);
		}
	}
	while (r->npairs > 0)
		pair_free(r, r->npairs - 1, 0);
	return NULL;
}

struct relay *
relay_new(int target_port)
{
	struct relay		*r;
	struct sockaddr_in	 sin;
	int			 tries, one = 1;

	if (nrelays == RELAY_MAX || (r = calloc(1, sizeof *r)) == NULL)
		abort();
	r->target = target_port;
	if ((r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		abort();
	setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	for (tries = 0; ; tries++) {
		r->port = it_free_port();
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)r->port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(r->lfd, (struct sockaddr *)&sin, sizeof sin) == 0)
			break;
		if (tries == 20)
			it_fail("relay: cannot bind: %s", strerror(errno));
	}
	snprintf(r->port_str, sizeof r->port_str, "%d", r->port);
	if (listen(r->lfd, 64) == -1 || pipe2(r->wake, O_NONBLOCK |
	    O_CLOEXEC) == -1)
		abort();
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pthread_create(&r->thread, NULL, relay_main, r) != 0)
		abort();
	relays[nrelays++] = r;
	return r;
}

int
relay_port(const struct relay *r)
{
	return r->port;
}

const char *
relay_port_str(const struct relay *r)
{
	return r->port_str;
}

static void
relay_wake(struct relay *r)
{
	(void)!write(r->wake[1], "x", 1);
}

void
relay_set(struct relay *r, enum relay_mode m)
{
	unsigned	 ticket;

	pthread_mutex_lock(&r->mu);
	r->want = m;
	ticket = ++r->asked;
	relay_wake(r);
	while ((int)(r->done - ticket) < 0)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

int
relay_accepted(struct relay *r)
{
	return __atomic_load_n(&r->accepted, __ATOMIC_RELAXED);
}

/* Record up to max bytes crossing the relay either way from now on. */
void
relay_capture(struct relay *r, size_t max)
{
	pthread_mutex_lock(&r->mu);
	free(r->cap);
	if ((r->cap = malloc(max)) == NULL)
		abort();
	r->cap_len = 0;
	r->cap_max = max;
	pthread_mutex_unlock(&r->mu);
}

/* A NUL-terminated copy of what was captured so far (malloc'd). */
char *
relay_captured(struct relay *r, size_t *lenp)
{
	char	*out;

	pthread_mutex_lock(&r->mu);
	if ((out = malloc(r->cap_len + 1)) == NULL)
		abort();
	if (r->cap_len > 0)
		memcpy(out, r->cap, r->cap_len);
	out[r->cap_len] = '\0';
	*lenp = r->cap_len;
	pthread_mutex_unlock(&r->mu);
	return out;
}

long long
relay_forwarded(struct relay *r)
{
	return __atomic_load_n(&r->forwarded, __ATOMIC_RELAXED);
}

void
relay_cleanup(void)
{
	struct relay	*r;

	while (nrelays > 0) {
		r = relays[--nrelays];
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		relay_wake(r);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
		close(r->lfd);
		close(r->wake[0]);
		close(r->wake[1]);
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		free(r->cap);
		free(r);
	}
}
