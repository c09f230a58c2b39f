/*
 * The failover test client: non-blocking sockets, one poll() over every
 * client, explicit states (DOWN, CONNECTING, LOGIN, UP) and a failover
 * round built from the last BACKUP_LIST and the servers the test gave.
 * See fclient.h for what it records.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "fclient.h"

#define FC_MAX		256
#define FC_LINE_MAX	(1024 * 1024)
#define FC_BACKOFF_MIN	25
#define FC_BACKOFF_MAX	500
#define FC_STICKY_MS	30

static struct fclient	*all[FC_MAX];
static int		 nall;

static const char *const fc_features =
    "[\"backup_list\",\"cluster_status\",\"activity_seq\","
    "\"sending_report\",\"resume\",\"heartbeat\"]";

static void	fc_drop(struct fclient *, const char *);

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		abort();
	return p;
}

static char *
xstrdup(const char *s)
{
	char	*d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		abort();
	return d;
}

/* A JSON string literal for s (malloc'd), or "null". */
static char *
jstr(const char *s)
{
	cJSON	*j;
	char	*out;

	if (s == NULL)
		return xstrdup("null");
	j = cJSON_CreateString(s);
	out = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return out;
}

struct fclient *
fc_new(const char *name, const char *user, const char *secret,
    unsigned flags)
{
	struct fclient	*c;

	if (nall == FC_MAX)
		abort();
	if ((c = calloc(1, sizeof *c)) == NULL)
		abort();
	snprintf(c->name, sizeof c->name, "%s", name);
	snprintf(c->netns, sizeof c->netns, "%s", it_client_netns());
	snprintf(c->user, sizeof c->user, "%s", user);
	snprintf(c->secret, sizeof c->secret, "%s", secret != NULL ?
	    secret : "");
	c->flags = flags;
	c->fd = -1;
	c->state = FC_DOWN;
	c->retry_at = UINT64_MAX;
	c->next_seq = 1;
	c->ping_ms = 1000;
	c->dead_ms = 3000;
	all[nall++] = c;
	return c;
}

static void
addr_set(struct fc_addr *a, const char *host, int port)
{
	snprintf(a->host, sizeof a->host, "%s", host);
	a->port = port;
}

const char *(*fc_resolve)(const char *);

void
fc_add_server_at(struct fclient *c, const char *host, int port)
{
	if (c->ngiven < FC_ADDRS_MAX)
		addr_set(&c->given[c->ngiven++], host, port);
}

void
fc_add_server(struct fclient *c, int port)
{
	fc_add_server_at(c, "localhost", port);
}

static void
fc_close_fd(struct fclient *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->gen++;
	c->inlen = c->outlen = 0;
}

static void
fc_free(struct fclient *c)
{
	int	 i;

	fc_close_fd(c);
	for (i = 0; i < c->nrx; i++) {
		free(c->rx[i].sender);
		free(c->rx[i].tag);
		free(c->rx[i].user);
	}
	for (i = 0; i < c->nsent; i++)
		free(c->sent[i].tag);
	for (i = 0; i < c->nsenders; i++) {
		free(c->senders[i].sid);
		free(c->senders[i].bits);
	}
	free(c->senders);
	free(c->rx);
	free(c->sent);
	free(c->in);
	free(c->out);
	cJSON_Delete(c->cluster);
	free(c);
}

void
fc_cleanup(void)
{
	while (nall > 0)
		fc_free(all[--nall]);
}

/* ---- output ---- */

static void
fc_flush(struct fclient *c)
{
	ssize_t	 n;

	while (c->fd != -1 && c->outlen > 0 && c->state != FC_CONNECTING) {
		n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			fc_drop(c, strerror(errno));
			return;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
}

static void
fc_queue(struct fclient *c, const char *s, size_t len)
{
	if (c->outcap - c->outlen < len + 1) {
		c->outcap = c->outcap * 2 + len + 1024;
		c->out = xrealloc(c->out, c->outcap);
	}
	memcpy(c->out + c->outlen, s, len);
	c->outlen += len;
	fc_flush(c);
}

static void
fc_queuef(struct fclient *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	s = xrealloc(s, (size_t)n + 2);
	s[n++] = '\n';
	fc_queue(c, s, (size_t)n);
	free(s);
}

/* ---- connection ---- */

/* The LOGIN line, with resume after a loss if we have a session. */
static void
fc_send_login(struct fclient *c)
{
	char	*u = jstr(c->user), *s, *sess, *tok, *k;
	char	*seen = NULL;
	size_t	 len = 0;
	FILE	*f;
	int	 i, anon = strcmp(c->user, "anonymous") == 0;

	s = anon ? xstrdup("null") : jstr(c->secret);
	c->state = FC_LOGIN;
	c->login_sent_ms = c->last_rx_ms = it_now_ms();
	c->ping_sent_ms = 0;
	if (c->flags & FC_BASE) {
		if (anon)
			fc_queuef(c, "{\"command\":\"LOGIN\",\"username\":%s}",
			    u);
		else
			fc_queuef(c, "{\"command\":\"LOGIN\",\"username\":%s,"
			    "\"secret\":%s}", u, s);
		free(u);
		free(s);
		return;
	}
	if ((c->flags & FC_NO_RESUME) || c->session[0] == '\0') {
		fc_queuef(c, "{\"command\":\"LOGIN\",\"username\":%s,"
		    "\"secret\":%s,\"features\":%s}", u, s, fc_features);
		free(u);
		free(s);
		return;
	}
	if ((f = open_memstream(&seen, &len)) == NULL)
		abort();
	fputc('{', f);
	for (i = 0; i < c->nsenders; i++) {
		k = jstr(c->senders[i].sid);
		fprintf(f, "%s%s:%llu", i > 0 ? "," : "", k,
		    (unsigned long long)c->senders[i].last);
		free(k);
	}
	fputc('}', f);
	fclose(f);
	sess = jstr(c->session);
	tok = jstr(c->token);
	fc_queuef(c, "{\"command\":\"LOGIN\",\"username\":%s,\"secret\":%s,"
	    "\"features\":%s,\"resume\":{\"session\":%s,\"token\":%s,"
	    "\"seen\":%s,\"since\":%lld}}", u, s, fc_features, sess, tok, seen,
	    c->since);
	free(sess);
	free(tok);
	free(seen);
	free(u);
	free(s);
}

/* Start a TCP connection to a; LOGIN goes out once it is up. */
static void
fc_connect(struct fclient *c, const struct fc_addr *a)
{
	struct sockaddr_in	 sin;
	const char		*ip = NULL;
	int			 one = 1, rc;

	fc_close_fd(c);
	c->cur = *a;
	c->retry_at = UINT64_MAX;
	if ((c->fd = it_netns_socket(c->netns, SOCK_STREAM |
	    SOCK_NONBLOCK)) == -1)
		abort();
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)a->port);
	if (inet_pton(AF_INET, a->host, &sin.sin_addr) != 1) {
		if (fc_resolve != NULL && strcmp(a->host, "localhost") != 0 &&
		    ((ip = fc_resolve(a->host)) == NULL ||
		    inet_pton(AF_INET, ip, &sin.sin_addr) != 1)) {
			fc_drop(c, "cannot resolve the host name");
			return;
		}
		if (ip == NULL)
			sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	do
		rc = connect(c->fd, (struct sockaddr *)&sin, sizeof sin);
	while (rc == -1 && errno == EINTR);
	c->login_sent_ms = it_now_ms();
	if (rc == 0) {
		fc_send_login(c);
		return;
	}
	if (errno == EINPROGRESS) {
		c->state = FC_CONNECTING;
		return;
	}
	fc_drop(c, strerror(errno));
}

static int
addr_in(const struct fc_addr *v, int n, const struct fc_addr *a)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (v[i].port == a->port && strcmp(v[i].host, a->host) == 0)
			return 1;
	return 0;
}

/* After a loss: the backup list in order, then the given servers. */
static void
fc_build_round(struct fclient *c)
{
	int	 i;

	c->nround = 0;
	for (i = 0; i < c->nbackups; i++)
		if (!addr_in(c->round, c->nround, &c->backups[i]))
			c->round[c->nround++] = c->backups[i];
	for (i = 0; i < c->ngiven; i++)
		if (!addr_in(c->round, c->nround, &c->given[i]))
			c->round[c->nround++] = c->given[i];
	if (c->nround == 0)
		c->round[c->nround++] = c->cur;
	c->next = 0;
	c->rounds = 0;
}

/* Schedule the next target of the round, or a new round after backoff. */
static void
fc_next_attempt(struct fclient *c)
{
	long	 b = FC_BACKOFF_MIN;
	int	 i;

	c->state = FC_DOWN;
	if (c->closed || (c->flags & FC_NO_FAILOVER)) {
		c->retry_at = UINT64_MAX;
		return;
	}
	if (c->next < c->nround) {
		c->retry_at = it_now_ms();
		return;
	}
	c->rounds++;
	for (i = 1; i < c->rounds && b < FC_BACKOFF_MAX; i++)
		b *= 2;
	if (b > FC_BACKOFF_MAX)
		b = FC_BACKOFF_MAX;
	c->next = 0;
	c->retry_at = it_now_ms() + (uint64_t)(b / 2 + rand() % (b / 2 + 1));
}

/*
 * The connection is gone.  Lost while logged in: a failover starts now.
 * Lost while connecting or logging in: that target failed.
 */
static void
fc_drop(struct fclient *c, const char *why)
{
	enum fc_state	 st = c->state;

	fc_close_fd(c);
	if (st == FC_UP) {
		c->failovers++;
		c->down_ms = it_now_ms();
		c->sticky = 0;
		fc_build_round(c);
	}
	(void)why;
	fc_next_attempt(c);
}

void
fc_start_at(struct fclient *c, const char *host, int port, int sticky)
{
	c->sticky = sticky;
	c->closed = 0;
	addr_set(&c->round[0], host, port);
	c->nround = 1;
	c->next = 1;
	c->rounds = 0;
	if (!addr_in(c->given, c->ngiven, &c->round[0]))
		fc_add_server_at(c, host, port);
	fc_connect(c, &c->round[0]);
}

void
fc_start(struct fclient *c, int port, int sticky)
{
	fc_start_at(c, "localhost", port, sticky);
}

void
fc_close(struct fclient *c)
{
	c->closed = 1;
	fc_close_fd(c);
	c->state = FC_DOWN;
	c->retry_at = UINT64_MAX;
}

void
fc_break(struct fclient *c)
{
	fc_drop(c, "broken by the test");
}

/* ---- input ---- */

static struct fc_sender *
fc_sender(struct fclient *c, const char *sid, int create)
{
	int	 i;

	for (i = 0; i < c->nsenders; i++)
		if (strcmp(c->senders[i].sid, sid) == 0)
			return &c->senders[i];
	if (!create)
		return NULL;
	c->senders = xrealloc(c->senders, (size_t)(c->nsenders + 1) *
	    sizeof *c->senders);
	memset(&c->senders[c->nsenders], 0, sizeof *c->senders);
	c->senders[c->nsenders].sid = xstrdup(sid);
	return &c->senders[c->nsenders++];
}

static int
bit_get(struct fc_sender *s, uint64_t seq)
{
	return seq / 64 < s->nbits && (s->bits[seq / 64] >> (seq % 64) & 1);
}

static void
bit_set(struct fc_sender *s, uint64_t seq)
{
	size_t	 w = seq / 64, n;

	if (w >= s->nbits) {
		n = w * 2 + 16;
		s->bits = xrealloc(s->bits, n * sizeof *s->bits);
		memset(s->bits + s->nbits, 0, (n - s->nbits) *
		    sizeof *s->bits);
		s->nbits = n;
	}
	s->bits[w] |= 1ULL << (seq % 64);
}

static const char *
jget_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int
jget_num(const cJSON *o, const char *k, double *v)
{
	const cJSON	*j = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(j))
		return -1;
	*v = j->valuedouble;
	return 0;
}

static void
fc_error(struct fclient *c, const char *what, const char *line)
{
	snprintf(c->last_error, sizeof c->last_error, "%s: %s", what,
	    it_escape(line, strlen(line)));
}

static void
fc_on_broadcast(struct fclient *c, const cJSON *m, const char *line)
{
	const cJSON	*act;
	const char	*sender = jget_str(m, "sender"), *tag;
	struct fc_sender *s;
	struct fc_rx	*r;
	double		 v;
	uint64_t	 seq = 0;

	act = cJSON_GetObjectItemCaseSensitive(m, "activity");
	if (c->flags & FC_BASE && cJSON_GetArraySize(m) != 2) {
		c->unknown++;
		fc_error(c, "a base-protocol client got extra fields", line);
	}
	if (sender != NULL && jget_num(m, "activity_seq", &v) == 0 && v >= 1) {
		seq = (uint64_t)v;
		s = fc_sender(c, sender, 1);
		if (bit_get(s, seq)) {
			if (c->dups++ == 0)
				snprintf(c->first_dup, sizeof c->first_dup,
				    "sender %s activity_seq %llu (%s #%ld) "
				    "again via port %d after %d logins",
				    sender, (unsigned long long)seq,
				    jget_str(act, "t") ? jget_str(act, "t") :
				    "?", jget_num(act, "n", &v) == 0 ?
				    (long)v : -1L, c->cur.port, c->logins);
			return;
		}
		if (s->last != 0 && seq != s->last + 1) {
			if (c->order_errors++ == 0)
				snprintf(c->first_order_error,
				    sizeof c->first_order_error,
				    "sender %s: activity_seq %llu after %llu",
				    sender, (unsigned long long)seq,
				    (unsigned long long)s->last);
		}
		bit_set(s, seq);
		if (seq > s->last)
			s->last = seq;
	}
	if (c->nrx == c->caprx) {
		c->caprx = c->caprx ? c->caprx * 2 : 256;
		c->rx = xrealloc(c->rx, (size_t)c->caprx * sizeof *c->rx);
	}
	r = &c->rx[c->nrx++];
	memset(r, 0, sizeof *r);
	r->sender = xstrdup(sender);
	r->seq = seq;
	tag = jget_str(act, "t");
	r->tag = xstrdup(tag);
	r->n = jget_num(act, "n", &v) == 0 ? (long)v : -1;
	r->user = xstrdup(jget_str(act, "authenticated_user"));
	r->at_ms = it_now_ms();
	r->port = c->cur.port;
}

static void
fc_on_login_success(struct fclient *c, const cJSON *m)
{
	const char	*sess = jget_str(m, "session"), *id, *res;
	double		 t;

	c->state = FC_UP;
	c->logins++;
	c->up_ms = it_now_ms();
	if (c->down_ms != 0)
		c->last_outage_ms = c->up_ms - c->down_ms;
	if (sess != NULL && strcmp(sess, c->session) != 0) {
		snprintf(c->session, sizeof c->session, "%s", sess);
		c->next_seq = 1;	/* a new session numbers afresh */
	}
	if ((id = jget_str(m, "token")) != NULL)
		snprintf(c->token, sizeof c->token, "%s", id);
	if ((id = jget_str(m, "id")) != NULL)
		snprintf(c->server_id, sizeof c->server_id, "%s", id);
	if (c->since == 0 && jget_num(m, "time", &t) == 0)
		c->since = (long long)t;
	c->resumed[0] = '\0';
	if ((res = jget_str(m, "resume")) != NULL) {
		snprintf(c->resumed, sizeof c->resumed, "%s", res);
		if (strcmp(res, "ok") == 0)
			c->resumes_ok++;
		else
			c->resumes_partial++;
	}
}

static void
fc_on_redirect(struct fclient *c, const cJSON *m)
{
	struct fc_addr	 a;
	const char	*h = jget_str(m, "hostname");
	double		 p;

	c->redirects++;
	c->logins--;		/* that login did not stick */
	fc_close_fd(c);
	c->state = FC_DOWN;
	if (c->sticky) {
		c->retry_at = it_now_ms() + FC_STICKY_MS;
		c->nround = 1;
		c->round[0] = c->cur;
		c->next = 0;
		return;
	}
	if (h == NULL || jget_num(m, "port", &p) != 0) {
		fc_next_attempt(c);
		return;
	}
	addr_set(&a, h, (int)p);
	fc_connect(c, &a);
}

static void
fc_on_backup_list(struct fclient *c, const cJSON *m)
{
	const cJSON	*el, *v;
	const char	*h;
	double		 p;

	v = cJSON_GetObjectItemCaseSensitive(m, "servers");
	c->backup_lists++;
	c->nbackups = 0;
	cJSON_ArrayForEach(el, v) {
		h = jget_str(el, "host");
		if (h == NULL || jget_num(el, "port", &p) != 0 ||
		    c->nbackups == FC_ADDRS_MAX)
			continue;
		addr_set(&c->backups[c->nbackups++], h, (int)p);
	}
}

static void
fc_on_report(struct fclient *c, const cJSON *m)
{
	const cJSON	*partial;
	struct fc_sent	*s = NULL;
	double		 seq = 0, cc = -1, sc = -1;
	int		 i;

	partial = cJSON_GetObjectItemCaseSensitive(m, "partial");
	jget_num(m, "activity_seq", &seq);
	jget_num(m, "client_count", &cc);
	jget_num(m, "succ_count", &sc);
	for (i = c->nsent - 1; i >= 0; i--)
		if (c->sent[i].seq == (uint64_t)seq) {
			s = &c->sent[i];
			break;
		}
	if (s == NULL) {
		c->stray_reports++;
		return;
	}
	s->reported++;
	s->client_count = (long long)cc;
	s->succ_count = (long long)sc;
	s->partial = cJSON_IsTrue(partial);
	s->report_ms = it_now_ms();
}

static void
fc_line(struct fclient *c, const char *line, size_t len)
{
	cJSON		*m;
	const char	*cmd;
	int		 base = (c->flags & FC_BASE) != 0;

	c->last_rx_ms = it_now_ms();
	c->ping_sent_ms = 0;
	m = cJSON_ParseWithLength(line, len);
	cmd = jget_str(m, "command");
	if (cmd == NULL) {
		c->unknown++;
		fc_error(c, "not a command", line);
	} else if (strcmp(cmd, "ACTIVITY_BROADCAST") == 0)
		fc_on_broadcast(c, m, line);
	else if (strcmp(cmd, "LOGIN_SUCCESS") == 0)
		fc_on_login_success(c, m);
	else if (strcmp(cmd, "REDIRECT") == 0)
		fc_on_redirect(c, m);
	else if (!base && strcmp(cmd, "BACKUP_LIST") == 0)
		fc_on_backup_list(c, m);
	else if (!base && strcmp(cmd, "CLUSTER_STATUS") == 0) {
		cJSON_Delete(c->cluster);
		c->cluster = m;
		m = NULL;
		snprintf(c->status, sizeof c->status, "%s",
		    jget_str(c->cluster, "status") ? jget_str(c->cluster,
		    "status") : "?");
		c->statuses++;
		if (strcmp(c->status, "OUT_OF_SERVICE") == 0)
			c->out_of_service++;
	} else if (!base && strcmp(cmd, "ACTIVITY_SENDING_REPORT") == 0)
		fc_on_report(c, m);
	else if (!base && strcmp(cmd, "PONG") == 0)
		;
	else if (strcmp(cmd, "INVALID_MESSAGE") == 0 ||
	    strcmp(cmd, "AUTHENTICATION_FAIL") == 0 ||
	    strcmp(cmd, "LOGIN_FAILED") == 0) {
		c->errors++;
		fc_error(c, cmd, line);
	} else {
		c->unknown++;
		fc_error(c, "unexpected", line);
	}
	cJSON_Delete(m);
}

static void
fc_read(struct fclient *c)
{
	char		*nl;
	size_t		 n;
	ssize_t		 r;
	unsigned	 gen = c->gen;
	int		 gone = 0, err = 0;

	for (;;) {
		if (c->incap - c->inlen < 65536) {
			c->incap = c->incap * 2 + 65536;
			c->in = xrealloc(c->in, c->incap);
		}
		r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			/* Lines that arrived before the close still count. */
			gone = 1;
			err = r == 0 ? 0 : errno;
			break;
		}
		c->inlen += (size_t)r;
	}
	while (c->gen == gen && (nl = memchr(c->in, '\n', c->inlen)) != NULL) {
		n = (size_t)(nl - c->in);
		*nl = '\0';
		fc_line(c, c->in, n);
		if (c->gen != gen)
			return;	/* a REDIRECT replaced the link */
		memmove(c->in, nl + 1, c->inlen - n - 1);
		c->inlen -= n + 1;
	}
	if (c->gen != gen)
		return;
	if (c->inlen > FC_LINE_MAX)
		fc_drop(c, "line too long");
	else if (gone)
		fc_drop(c, err == 0 ? "closed" : strerror(err));
}

/* Timers: the next attempt, login and connect deadlines, heartbeats. */
static void
fc_timers(struct fclient *c, uint64_t now)
{
	switch (c->state) {
	case FC_DOWN:
		if (now >= c->retry_at && c->nround > 0) {
			if (c->next >= c->nround)
				c->next = 0;
			fc_connect(c, &c->round[c->next++]);
		}
		break;
	case FC_CONNECTING:
	case FC_LOGIN:
		if (now - c->login_sent_ms >= (uint64_t)c->dead_ms)
			fc_drop(c, "no answer");
		break;
	case FC_UP:
		if (c->flags & FC_BASE)
			break;
		if (c->ping_sent_ms != 0 &&
		    now - c->ping_sent_ms >= (uint64_t)c->dead_ms) {
			fc_drop(c, "silent after a PING");
			break;
		}
		if (c->ping_sent_ms == 0 &&
		    now - c->last_rx_ms >= (uint64_t)c->ping_ms) {
			c->ping_sent_ms = now;
			fc_queuef(c, "{\"command\":\"PING\",\"ts\":%llu}",
			    (unsigned long long)now);
		}
		break;
	}
}

static uint64_t
fc_next_timer(struct fclient *c)
{
	switch (c->state) {
	case FC_DOWN:
		return c->retry_at;
	case FC_CONNECTING:
	case FC_LOGIN:
		return c->login_sent_ms + (uint64_t)c->dead_ms;
	case FC_UP:
		if (c->flags & FC_BASE)
			return UINT64_MAX;
		if (c->ping_sent_ms != 0)
			return c->ping_sent_ms + (uint64_t)c->dead_ms;
		return c->last_rx_ms + (uint64_t)c->ping_ms;
	}
	return UINT64_MAX;
}

void
fc_poll(struct fclient **cs, int n, int ms)
{
	struct pollfd	 pfd[FC_MAX];
	struct fclient	*who[FC_MAX];
	unsigned	 gens[FC_MAX];
	uint64_t	 now = it_now_ms(), t, until = now + (uint64_t)ms;
	int		 i, k = 0, err;
	socklen_t	 sl = sizeof err;

	if (cs == NULL) {
		cs = all;
		n = nall;
	}
	for (i = 0; i < n; i++) {
		if ((t = fc_next_timer(cs[i])) < until)
			until = t;
		if (cs[i]->fd == -1)
			continue;
		pfd[k].fd = cs[i]->fd;
		pfd[k].events = POLLIN;
		if (cs[i]->state == FC_CONNECTING || cs[i]->outlen > 0)
			pfd[k].events |= POLLOUT;
		pfd[k].revents = 0;
		gens[k] = cs[i]->gen;
		who[k++] = cs[i];
	}
	ms = until > now ? (int)(until - now) : 0;
	if (poll(pfd, (nfds_t)k, ms) > 0) {
		for (i = 0; i < k; i++) {
			struct fclient *c = who[i];

			if (pfd[i].revents == 0 || c->gen != gens[i])
				continue;
			if (c->state == FC_CONNECTING) {
				err = 0;
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
				    &sl);
				if (err != 0)
					fc_drop(c, strerror(err));
				else
					fc_send_login(c);
				continue;
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				fc_read(c);
			if (c->gen == gens[i] && (pfd[i].revents & POLLOUT))
				fc_flush(c);
		}
	}
	now = it_now_ms();
	for (i = 0; i < n; i++)
		fc_timers(cs[i], now);
}

void
fc_run(struct fclient **cs, int n, int ms)
{
	uint64_t	 end = it_now_ms() + (uint64_t)ms, now;

	while ((now = it_now_ms()) < end)
		fc_poll(cs, n, (int)(end - now));
}

/* ---- sending ---- */

int
fc_send_seq(struct fclient *c, const char *tag, long n, uint64_t seq)
{
	struct fc_sent	*s;
	char		*u, *sec, *t;
	char		 seqf[48] = "";

	if (c->state != FC_UP)
		return -1;
	u = jstr(c->user);
	sec = strcmp(c->user, "anonymous") == 0 ? xstrdup("null") :
	    jstr(c->secret);
	t = jstr(tag);
	if (seq != 0)
		snprintf(seqf, sizeof seqf, ",\"activity_seq\":%llu",
		    (unsigned long long)seq);
	if (c->nsent == c->capsent) {
		c->capsent = c->capsent ? c->capsent * 2 : 256;
		c->sent = xrealloc(c->sent, (size_t)c->capsent *
		    sizeof *c->sent);
	}
	s = &c->sent[c->nsent++];
	memset(s, 0, sizeof *s);
	s->seq = seq;
	s->tag = xstrdup(tag);
	s->n = n;
	s->at_ms = it_now_ms();
	fc_queuef(c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":%s,"
	    "\"secret\":%s%s,\"activity\":{\"t\":%s,\"n\":%ld}}", u, sec, seqf,
	    t, n);
	free(u);
	free(sec);
	free(t);
	return 0;
}

uint64_t
fc_send(struct fclient *c, const char *tag, long n)
{
	uint64_t	 seq;

	if (c->state != FC_UP)
		return 0;
	if (c->flags & FC_BASE) {
		fc_send_seq(c, tag, n, 0);
		return (uint64_t)c->nsent;
	}
	seq = c->next_seq++;
	fc_send_seq(c, tag, n, seq);
	return seq;
}

/* ---- queries ---- */

int
fc_up(const struct fclient *c)
{
	return c->state == FC_UP;
}

int
fc_count(const struct fclient *c, const char *tag, long n)
{
	int	 i, k = 0;

	for (i = 0; i < c->nrx; i++)
		if (c->rx[i].tag != NULL && strcmp(c->rx[i].tag, tag) == 0 &&
		    c->rx[i].n == n)
			k++;
	return k;
}

const struct fc_rx *
fc_find(const struct fclient *c, const char *tag, long n)
{
	int	 i;

	for (i = 0; i < c->nrx; i++)
		if (c->rx[i].tag != NULL && strcmp(c->rx[i].tag, tag) == 0 &&
		    c->rx[i].n == n)
			return &c->rx[i];
	return NULL;
}

int
fc_all_have(struct fclient **cs, int n, const char *tag, long k)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (fc_find(cs[i], tag, k) == NULL)
			return 0;
	return 1;
}

int
fc_has_range(const struct fclient *c, const char *tag, long lo, long hi)
{
	char	*have;
	long	 i, got = 0;

	if (hi < lo)
		return 1;
	if ((have = calloc((size_t)(hi - lo + 1), 1)) == NULL)
		abort();
	for (i = 0; i < c->nrx; i++)
		if (c->rx[i].tag != NULL && strcmp(c->rx[i].tag, tag) == 0 &&
		    c->rx[i].n >= lo && c->rx[i].n <= hi &&
		    !have[c->rx[i].n - lo]) {
			have[c->rx[i].n - lo] = 1;
			got++;
		}
	free(have);
	return got == hi - lo + 1;
}

const struct fc_sent *
fc_sent_seq(const struct fclient *c, uint64_t seq)
{
	int	 i;

	for (i = c->nsent - 1; i >= 0; i--)
		if (c->sent[i].seq == seq)
			return &c->sent[i];
	return NULL;
}

const char *
fc_server_state(const struct fclient *c, int port)
{
	const cJSON	*el;
	double		 p;

	cJSON_ArrayForEach(el, cJSON_GetObjectItemCaseSensitive(c->cluster,
	    "servers"))
		if (jget_num(el, "port", &p) == 0 && (int)p == port)
			return jget_str(el, "state");
	return NULL;
}

const char *
fc_describe(const struct fclient *c)
{
	static char	 bufs[4][2048];
	static int	 k;
	static const char *const st[] = { "down", "connecting", "login",
	    "up" };
	char		*b = bufs[k++ & 3];

	snprintf(b, sizeof bufs[0], "%s (user %s, %s at port %d, logins %d, "
	    "redirects %d, failovers %d, resumed ok %d/partial %d, received "
	    "%d, repeats %d%s%s, order errors %d%s%s, errors %d, unexpected "
	    "%d%s%s)",
	    c->name, c->user, st[c->state], c->cur.port, c->logins,
	    c->redirects, c->failovers, c->resumes_ok, c->resumes_partial,
	    c->nrx, c->dups, c->dups ? ": first " : "", c->first_dup,
	    c->order_errors,
	    c->order_errors ? ": " : "", c->first_order_error, c->errors,
	    c->unknown, c->last_error[0] ? "; last: " : "", c->last_error);
	return b;
}

void
fc_check_exact_at(const char *file, int line, const struct fclient *c,
    const char *tag, long lo, long hi, int dups_ok)
{
	long	 want = lo;
	int	 i;

	for (i = 0; i < c->nrx; i++) {
		const struct fc_rx *r = &c->rx[i];

		if (r->tag == NULL || strcmp(r->tag, tag) != 0)
			continue;
		if (r->n != want) {
			if (r->n < want && fc_count(c, tag, r->n) > 1)
				it_fail_at(file, line, "client %s: %s #%ld "
				    "twice (expected #%ld next): %s", c->name,
				    tag, r->n, want, fc_describe(c));
			if (r->n < lo || r->n > hi)
				it_fail_at(file, line, "client %s: %s #%ld is "
				    "outside %ld..%ld: %s", c->name, tag,
				    r->n, lo, hi, fc_describe(c));
			it_fail_at(file, line, "client %s: %s #%ld where #%ld "
			    "was due (%s): %s", c->name, tag, r->n, want,
			    r->n > want ? "missing or late" : "out of order",
			    fc_describe(c));
		}
		want++;
	}
	if (want != hi + 1)
		it_fail_at(file, line, "client %s: %s #%ld..#%ld expected, "
		    "got only up to #%ld: %s", c->name, tag, lo, hi, want - 1,
		    fc_describe(c));
	if (c->order_errors > 0 || (!dups_ok && c->dups > 0))
		it_fail_at(file, line, "client %s: %s", c->name,
		    fc_describe(c));
}

/* ---- groups ---- */

struct fclient **
fc_list(int *n)
{
	*n = nall;
	return all;
}

struct fclient *
fc_on(struct it_server *s, const char *name, unsigned flags)
{
	struct fclient	*c;
	char		 full[64];

	snprintf(full, sizeof full, "%s@%s", name, s->name);
	c = fc_new(full, "anonymous", NULL, flags);
	fc_start_at(c, s->host[0] != '\0' ? s->host : "localhost", s->port,
	    1);
	return c;
}

static struct fclient *
first_down(void)
{
	int	 i;

	for (i = 0; i < nall; i++)
		if (!all[i]->closed && !fc_up(all[i]))
			return all[i];
	return NULL;
}

void
fc_wait_up_at(const char *file, int line, int ms)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)ms;
	struct fclient	*c;

	while ((c = first_down()) != NULL) {
		if (it_now_ms() >= deadline)
			it_fail_at(file, line, "client not logged in after %d "
			    "ms: %s", ms, fc_describe(c));
		fc_poll(NULL, 0, 5);
	}
}

void
fc_wait_log_at(const char *file, int line, struct it_server *s,
    const char *needle, int count, int ms)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)ms;

	while (it_log_count(s, needle) < count) {
		if (it_now_ms() >= deadline)
			it_fail_at(file, line, "server %s: \"%s\" (x%d) not in "
			    "its log within %d ms", s->name, needle, count, ms);
		fc_poll(NULL, 0, 5);
	}
}

long
fc_exchange_at(const char *file, int line, const char *tag, int ms)
{
	static long	 serial = 1;
	uint64_t	 deadline;
	long		 base = serial, n = 0;
	int		 i, j, sent = 0;

	fc_wait_up_at(file, line, ms);
	for (i = 0; i < nall; i++) {
		if (all[i]->closed)
			continue;
		if (fc_send(all[i], tag, base + i) == 0)
			it_fail_at(file, line, "client %s could not send: %s",
			    all[i]->name, fc_describe(all[i]));
		sent++;
	}
	serial += nall;
	deadline = it_now_ms() + (uint64_t)ms;
	for (;;) {
		for (i = 0; i < nall; i++) {
			if (all[i]->closed)
				continue;
			for (j = 0; j < nall; j++) {
				if (all[j]->closed)
					continue;
				n = base + j;
				if (fc_find(all[i], tag, n) == NULL)
					goto missing;
			}
		}
		return base;
missing:
		if (it_now_ms() >= deadline)
			it_fail_at(file, line, "%s: client %s did not get the "
			    "activity #%ld of %s within %d ms (%d sent): %s",
			    tag, all[i]->name, n, all[j]->name, ms, sent,
			    fc_describe(all[i]));
		fc_poll(NULL, 0, 5);
	}
}

void
fc_check_clean_at(const char *file, int line, int flags)
{
	struct fclient	*c;
	int		 i, k, n;

	for (i = 0; i < nall; i++) {
		c = all[i];
		for (k = 0; k < c->nrx; k++)
			if (c->rx[k].tag != NULL && (n = fc_count(c,
			    c->rx[k].tag, c->rx[k].n)) != 1)
				it_fail_at(file, line, "client %s got %s #%ld "
				    "%d times: %s", c->name, c->rx[k].tag,
				    c->rx[k].n, n, fc_describe(c));
		if ((!(flags & FC_CLEAN_DUPS_OK) && c->dups > 0) ||
		    (!(flags & FC_CLEAN_ORDER_OK) && c->order_errors > 0) ||
		    c->errors > 0 || c->unknown > 0 || c->stray_reports > 0)
			it_fail_at(file, line, "client %s: %s", c->name,
			    fc_describe(c));
	}
}
