/*
 * A counting TCP proxy for server-to-server links: a server joins its
 * parent through it, and every line crossing it, either way, is counted
 * by its "command".  The register workload uses it to count what one
 * registration costs on the links, exactly, without relying on the
 * servers' logs.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "bench.h"

#define PROXY_CMDS	32

struct pconn {
	struct pconn		*next;
	struct proxy		*px;
	struct bufferevent	*side[2];	/* 0: the child, 1: the parent */
};

struct proxy {
	struct evconnlistener	*lis;
	int			 port;
	int			 target;
	struct pconn		*conns;
};

static struct {
	char		 name[32];
	uint64_t	 n;
} counts[PROXY_CMDS];
static int	 ncounts;

static void
count_line(const char *line, size_t len)
{
	const char	*p, *q, *end = line + len;
	size_t		 n;
	int		 i;

	p = memmem(line, len, "\"command\"", 9);
	if (p == NULL)
		return;
	p += 9;
	while (p < end && (*p == ' ' || *p == ':'))
		p++;
	if (p >= end || *p != '"')
		return;
	p++;
	if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
		return;
	n = (size_t)(q - p);
	if (n >= sizeof counts[0].name)
		n = sizeof counts[0].name - 1;
	for (i = 0; i < ncounts; i++)
		if (strlen(counts[i].name) == n &&
		    memcmp(counts[i].name, p, n) == 0) {
			counts[i].n++;
			return;
		}
	if (ncounts == PROXY_CMDS)
		return;
	memcpy(counts[ncounts].name, p, n);
	counts[ncounts].name[n] = '\0';
	counts[ncounts++].n = 1;
}

void
proxy_counts_reset(void)
{
	int	 i;

	for (i = 0; i < ncounts; i++)
		counts[i].n = 0;
}

uint64_t
proxy_count(const char *name)
{
	int	 i;

	for (i = 0; i < ncounts; i++)
		if (strcmp(counts[i].name, name) == 0)
			return counts[i].n;
	return 0;
}

/* Periodic traffic that flows whether or not anyone registers. */
static int
periodic(const char *name)
{
	return strcmp(name, "SERVER_ANNOUNCE") == 0 ||
	    strcmp(name, "PING") == 0 || strcmp(name, "PONG") == 0;
}

/* Every line except the periodic ones. */
uint64_t
proxy_total(void)
{
	uint64_t	 t = 0;
	int		 i;

	for (i = 0; i < ncounts; i++)
		if (!periodic(counts[i].name))
			t += counts[i].n;
	return t;
}

/* "link_messages_per_registration":{"LOCK_REQUEST":x,...} */
void
proxy_counts_json(struct jbuf *b, double per)
{
	int	 i;

	json_key(b, "link_messages_per_registration");
	jbuf_addc(b, '{');
	for (i = 0; i < ncounts; i++)
		if (!periodic(counts[i].name) && counts[i].n > 0)
			json_knum(b, counts[i].name, (double)counts[i].n / per);
	jbuf_addc(b, '}');
}

static void
pconn_free(struct pconn *pc)
{
	struct pconn	**pp;

	for (pp = &pc->px->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == pc) {
			*pp = pc->next;
			break;
		}
	if (pc->side[0] != NULL)
		bufferevent_free(pc->side[0]);
	if (pc->side[1] != NULL)
		bufferevent_free(pc->side[1]);
	free(pc);
}

static void
pconn_read_cb(struct bufferevent *bev, void *arg)
{
	struct pconn	*pc = arg;
	struct evbuffer	*in = bufferevent_get_input(bev), *out;
	char		*line;
	size_t		 n;

	out = bufferevent_get_output(pc->side[bev == pc->side[0] ? 1 : 0]);
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
		count_line(line, n);
		evbuffer_add(out, line, n);
		evbuffer_add(out, "\n", 1);
		free(line);
	}
}

static void
pconn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct pconn	*pc = arg;
	int		 one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof one);
		return;
	}
	/* either side gone: drop both, as a broken link would */
	pconn_free(pc);
}

static void
proxy_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct proxy		*px = arg;
	struct pconn		*pc;
	struct sockaddr_in	 sin;
	int			 one = 1;

	(void)lis;
	(void)sa;
	(void)salen;
	if ((pc = calloc(1, sizeof *pc)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	pc->px = px;
	pc->side[0] = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	pc->side[1] = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	pc->next = px->conns;
	px->conns = pc;
	if (pc->side[0] == NULL || pc->side[1] == NULL) {
		pconn_free(pc);
		return;
	}
	bufferevent_setcb(pc->side[0], pconn_read_cb, NULL, pconn_event_cb, pc);
	bufferevent_setcb(pc->side[1], pconn_read_cb, NULL, pconn_event_cb, pc);
	bufferevent_enable(pc->side[0], EV_READ | EV_WRITE);
	bufferevent_enable(pc->side[1], EV_READ | EV_WRITE);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)px->target);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bufferevent_socket_connect(pc->side[1], (struct sockaddr *)&sin,
	    sizeof sin) != 0)
		pconn_free(pc);
}

/* A proxy on a free loopback port, forwarding to 127.0.0.1:target. */
struct proxy *
proxy_new(int target)
{
	struct proxy		*px;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;

	if ((px = calloc(1, sizeof *px)) == NULL)
		return NULL;
	px->target = target;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	px->lis = evconnlistener_new_bind(base, proxy_accept_cb, px,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    -1, (struct sockaddr *)&sin, sizeof sin);
	if (px->lis == NULL) {
		free(px);
		return NULL;
	}
	getsockname(evconnlistener_get_fd(px->lis), (struct sockaddr *)&sin,
	    &len);
	px->port = ntohs(sin.sin_port);
	return px;
}

int
proxy_port(const struct proxy *px)
{
	return px->port;
}

void
proxy_free(struct proxy *px)
{
	while (px->conns != NULL)
		pconn_free(px->conns);
	evconnlistener_free(px->lis);
	free(px);
}
