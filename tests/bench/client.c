/*
 * One simulated client: a non-blocking socket driven by libevent, our
 * own input and output buffers (one read() and one write() per event,
 * no per-line allocation), LOGIN or REGISTER on connect, REDIRECT
 * followed, BACKUP_LIST remembered, and failover on loss: to the
 * BACKUP_LIST the server gave, else to the next server of the list.
 *
 * ACTIVITY_BROADCAST lines take a fast path that reads only the bench
 * fields; every other line goes through the project's strict parser.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"
#include "msg.h"

#define CLIENT_READ_MAX		(256 * 1024)
#define CLIENT_LINE_MAX		(4 * 1024 * 1024)
#define CLIENT_BACKOFF_MIN_MS	50
#define CLIENT_BACKOFF_MAX_MS	1000

const struct client_ops	*client_ops;
uint64_t		 g_proto_errors;
char			 g_last_error[160];

static const char	 bcast_prefix[] = "{\"command\":\"ACTIVITY_BROADCAST\"";
static char		 pad[65536];
static struct msg	 pmsg;		/* big: one, reused */

static void	client_read_cb(evutil_socket_t, short, void *);
static void	client_write_cb(evutil_socket_t, short, void *);
static void	client_timer_cb(evutil_socket_t, short, void *);
static void	client_lost(struct client *, const char *);

void
client_init(struct client *c, int idx, enum client_role role, int home)
{
	memset(c, 0, sizeof *c);
	c->idx = idx;
	c->role = role;
	c->home = c->cur = home;
	c->fd = -1;
	c->state = CS_DOWN;
	c->down_server = -1;
	jbuf_init(&c->out);
	if (pad[0] != 'x')
		memset(pad, 'x', sizeof pad);
}

/* Receipt tracking for npubs publishers of up to quota activities each
 * (sequence 0 is the warm-up probe). */
void
client_track_alloc(struct client *c, int npubs, uint32_t quota)
{
	size_t	 bytes = quota / 8 + 1;

	c->maxseq = calloc((size_t)npubs, sizeof *c->maxseq);
	c->seen = calloc((size_t)npubs, bytes);
	if (c->maxseq == NULL || c->seen == NULL)
		bench_fatal("out of memory");
}

void
client_close(struct client *c)
{
	if (c->rev != NULL) {
		event_free(c->rev);
		c->rev = NULL;
	}
	if (c->wev != NULL) {
		event_free(c->wev);
		c->wev = NULL;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	c->rlen = 0;
	jbuf_reset(&c->out);
	c->outoff = 0;
}

void
client_free(struct client *c)
{
	int	 i;

	client_close(c);
	for (i = 0; i < c->nsenders; i++) {
		free(c->senders[i].bm);
		c->senders[i].bm = NULL;
	}
	if (c->tmr != NULL)
		event_free(c->tmr);
	c->tmr = NULL;
	free(c->rbuf);
	free(c->maxseq);
	free(c->seen);
	jbuf_free(&c->out);
	c->rbuf = NULL;
	c->maxseq = NULL;
	c->seen = NULL;
	c->state = CS_DEAD;
}

size_t
client_pending(const struct client *c)
{
	return c->out.len - c->outoff;
}

void
client_queue(struct client *c, const void *d, size_t n)
{
	if (c->fd == -1)
		return;
	if (c->outoff > 0 && c->outoff == c->out.len) {
		jbuf_reset(&c->out);
		c->outoff = 0;
	}
	jbuf_add(&c->out, d, n);
}

/* Write what is queued; what the socket will not take waits for EV_WRITE. */
void
client_flush(struct client *c)
{
	ssize_t	 n;

	while (c->fd != -1 && c->outoff < c->out.len) {
		n = write(c->fd, c->out.p + c->outoff, c->out.len - c->outoff);
		if (n > 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (c->wev != NULL)
				event_add(c->wev, NULL);
			return;
		}
		client_lost(c, n == 0 ? "write returned 0" : strerror(errno));
		return;
	}
	if (c->outoff == c->out.len) {
		jbuf_reset(&c->out);
		c->outoff = 0;
	}
}

static void
send_login(struct client *c)
{
	struct jbuf	 b;
	const char	*features = c->features != NULL ? c->features :
			    opts.features;
	char		*dup, *tok, *save = NULL;
	int		 n = 0, i;

	jbuf_init(&b);
	jbuf_adds(&b, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"secret\":null");
	if (features != NULL) {
		jbuf_adds(&b, ",\"features\":[");
		if ((dup = strdup(features)) == NULL)
			bench_fatal("out of memory");
		for (tok = strtok_r(dup, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			if (n++ > 0)
				jbuf_addc(&b, ',');
			jbuf_cstr(&b, tok);
		}
		free(dup);
		jbuf_addc(&b, ']');
	}
	/* After a loss, pick the session up where we were, if we may. */
	if (c->logins > 0 && c->session[0] != '\0' &&
	    client_feature_accepted(c, "resume")) {
		jbuf_adds(&b, ",\"resume\":{\"session\":");
		jbuf_cstr(&b, c->session);
		if (c->token[0] != '\0') {
			jbuf_adds(&b, ",\"token\":");
			jbuf_cstr(&b, c->token);
		}
		/* what we may have missed began at the loss (a second of
		 * margin for the clocks; "seen" drops what we have) */
		if (c->lost_wall_ms > 1000) {
			jbuf_adds(&b, ",\"since\":");
			jbuf_int(&b, (long long)(c->lost_wall_ms - 1000));
		}
		jbuf_adds(&b, ",\"seen\":{");
		for (i = 0; i < c->nsenders; i++) {
			if (i > 0)
				jbuf_addc(&b, ',');
			jbuf_cstr(&b, c->senders[i].sid);
			jbuf_addc(&b, ':');
			jbuf_int(&b, (long long)c->senders[i].last);
		}
		jbuf_adds(&b, "}}");
	}
	jbuf_adds(&b, "}\n");
	client_queue(c, b.p, b.len);
	jbuf_free(&b);
}

void
client_register(struct client *c, const char *user, const char *secret)
{
	struct jbuf	 b;

	snprintf(c->username, sizeof c->username, "%s", user);
	jbuf_init(&b);
	jbuf_adds(&b, "{\"command\":\"REGISTER\",\"username\":");
	jbuf_cstr(&b, user);
	jbuf_adds(&b, ",\"secret\":");
	jbuf_cstr(&b, secret);
	jbuf_adds(&b, "}\n");
	c->t_sent = bench_now_ns();
	client_queue(c, b.p, b.len);
	client_flush(c);
	jbuf_free(&b);
}

/*
 * One activity of exactly opts.size bytes:
 * {"pub":P,"seq":S,"ts":T,"pad":"xxx..."} wrapped in ACTIVITY_MESSAGE.
 * ts 0: now.  With activity_seq, aseq 0 numbers it next in the session;
 * a resend gives the number it had.  Returns the activity_seq used (0:
 * none).  The caller flushes, so a burst costs one write().
 */
uint64_t
client_send_activity(struct client *c, uint32_t pub, uint32_t seq, int size,
    uint64_t ts, uint64_t aseq)
{
	char		 head[160], act[128];
	int		 hn, an, padlen;

	if (ts == 0)
		ts = bench_now_ns();
	hn = snprintf(head, sizeof head, "{\"command\":\"ACTIVITY_MESSAGE\","
	    "\"username\":\"anonymous\",\"secret\":null,\"activity\":");
	an = snprintf(act, sizeof act, "{\"pub\":%" PRIu32 ",\"seq\":%" PRIu32
	    ",\"ts\":%" PRIu64 ",\"pad\":\"", pub, seq, ts);
	padlen = size - an - 2;
	if (padlen < 0)
		padlen = 0;
	if (padlen > (int)sizeof pad)
		padlen = (int)sizeof pad;
	client_queue(c, head, (size_t)hn);
	client_queue(c, act, (size_t)an);
	client_queue(c, pad, (size_t)padlen);
	if (client_feature_accepted(c, "activity_seq")) {
		if (aseq == 0)
			aseq = ++c->next_aseq;
		else if (aseq > c->next_aseq)
			c->next_aseq = aseq;
		hn = snprintf(head, sizeof head, "\"},\"activity_seq\":%" PRIu64
		    "}\n", aseq);
		client_queue(c, head, (size_t)hn);
		return aseq;
	}
	client_queue(c, "\"}}\n", 4);
	return 0;
}

/* A tree probe: {"bprobe":S,"round":R,"ts":T}, base-protocol numbering. */
void
client_send_probe(struct client *c, int srv, uint32_t round)
{
	char	 line[256];
	int	 n;

	n = snprintf(line, sizeof line, "{\"command\":\"ACTIVITY_MESSAGE\","
	    "\"username\":\"anonymous\",\"secret\":null,\"activity\":"
	    "{\"bprobe\":%d,\"round\":%" PRIu32 ",\"ts\":%" PRIu64 "}",
	    srv, round, bench_now_ns());
	if (client_feature_accepted(c, "activity_seq"))
		n += snprintf(line + n, sizeof line - (size_t)n,
		    ",\"activity_seq\":%" PRIu64, ++c->next_aseq);
	n += snprintf(line + n, sizeof line - (size_t)n, "}\n");
	client_queue(c, line, (size_t)n);
	client_flush(c);
}

int
client_feature_accepted(const struct client *c, const char *name)
{
	int	 i;

	for (i = 0; msg_feature_names[i] != NULL; i++)
		if (strcmp(msg_feature_names[i], name) == 0)
			return (c->accepted & (1u << i)) != 0;
	return 0;
}

static void
note_error(struct client *c, const char *line, size_t len)
{
	size_t	 i, n = len < sizeof g_last_error - 1 ? len :
		    sizeof g_last_error - 1;

	c->errors++;
	g_proto_errors++;
	for (i = 0; i < n; i++) {
		char ch = line[i];

		g_last_error[i] = (ch < 0x20 || ch == 0x7f) ? '?' : ch;
	}
	g_last_error[n] = '\0';
	if (g_proto_errors <= 5)
		fprintf(stderr, "activity-bench: client %d on %s: %s\n",
		    c->idx, addr_name(c->cur), g_last_error);
}

/* Read an unsigned decimal after "key": in [p, end). */
static int
field_u64(const char *p, const char *end, const char *key, size_t klen,
    uint64_t *v, const char **after)
{
	const char	*k;
	uint64_t	 x = 0;

	if ((k = memmem(p, (size_t)(end - p), key, klen)) == NULL)
		return -1;
	k += klen;
	if (k >= end || *k < '0' || *k > '9')
		return -1;
	while (k < end && *k >= '0' && *k <= '9')
		x = x * 10 + (uint64_t)(*k++ - '0');
	*v = x;
	*after = k;
	return 0;
}

/*
 * Per sender session: the highest activity_seq received with nothing
 * missing before it (what a resumed login says it has seen), and a
 * bitmap of what was received, so that a repeat is dropped by (sender,
 * activity_seq) as the protocol asks of clients.  Returns 1 for a repeat.
 */
#define SENDER_BITS_MAX	(1ull << 27)

static int
sender_check(struct client *c, const char *s, size_t n, uint64_t seq)
{
	struct bsender	*sd;
	uint64_t	 want;
	uint8_t		*nb;
	int		 i;

	if (n >= sizeof c->senders[0].sid)
		return 0;
	for (i = 0; i < c->nsenders; i++)
		if (strlen(c->senders[i].sid) == n &&
		    memcmp(c->senders[i].sid, s, n) == 0)
			break;
	if (i == c->nsenders) {
		if (c->nsenders == BENCH_SENDERS_MAX)
			return 0;
		memset(&c->senders[i], 0, sizeof c->senders[i]);
		memcpy(c->senders[i].sid, s, n);
		c->senders[i].sid[n] = '\0';
		c->nsenders++;
	}
	sd = &c->senders[i];
	if (seq <= sd->last)
		return 1;
	if (seq >= sd->bmbits) {
		if (seq >= SENDER_BITS_MAX)
			return 0;	/* beyond what we track: deliver */
		want = sd->bmbits ? sd->bmbits : 65536;
		while (want <= seq)
			want *= 2;
		if ((nb = realloc(sd->bm, (size_t)(want / 8))) == NULL)
			bench_fatal("out of memory");
		memset(nb + sd->bmbits / 8, 0, (size_t)((want - sd->bmbits) / 8));
		sd->bm = nb;
		sd->bmbits = want;
	}
	if (sd->bm[seq >> 3] & (1u << (seq & 7)))
		return 1;
	sd->bm[seq >> 3] |= (uint8_t)(1u << (seq & 7));
	while (sd->last + 1 < sd->bmbits &&
	    (sd->bm[(sd->last + 1) >> 3] & (1u << ((sd->last + 1) & 7))))
		sd->last++;
	return 0;
}

/* The sender session and activity_seq of a broadcast line, after p. */
static int
line_sender(const char *p, const char *end, const char **sid, size_t *n,
    uint64_t *seq)
{
	const char	*s, *q, *after;

	if ((s = memmem(p, (size_t)(end - p), "\"sender\":\"", 10)) == NULL)
		return -1;
	s += 10;
	if ((q = memchr(s, '"', (size_t)(end - s))) == NULL)
		return -1;
	if (field_u64(q, end, "\"activity_seq\":", 15, seq, &after) != 0)
		return -1;
	*sid = s;
	*n = (size_t)(q - s);
	return 0;
}

static void
on_broadcast(struct client *c, const char *line, size_t len)
{
	const char	*p = line, *end = line + len, *a, *sid;
	uint64_t	 pub = 0, seq = 0, ts = 0, aseq, srv = 0, round = 0;
	size_t		 n;
	int		 probe = 0;

	if ((a = memmem(p, len, "\"activity\":", 11)) == NULL)
		return;
	if (field_u64(a, end, "\"pub\":", 6, &pub, &p) != 0 ||
	    field_u64(p, end, "\"seq\":", 6, &seq, &p) != 0 ||
	    field_u64(p, end, "\"ts\":", 5, &ts, &p) != 0) {
		p = a;
		if (field_u64(p, end, "\"bprobe\":", 9, &srv, &p) != 0 ||
		    field_u64(p, end, "\"round\":", 8, &round, &p) != 0)
			return;	/* not one of ours (cluster_wait_formed) */
		probe = 1;
	}
	/* What the protocol promises a client that asked for activity_seq
	 * and resume: repeats are dropped by (sender, activity_seq). */
	if ((c->accepted & FEAT_BIT(FEAT_ACTIVITY_SEQ)) &&
	    line_sender(p, end, &sid, &n, &aseq) == 0 &&
	    sender_check(c, sid, n, aseq)) {
		c->repeats++;
		return;
	}
	if (probe) {
		if (client_ops->probe != NULL)
			client_ops->probe(c, (int)srv, (uint32_t)round);
		return;
	}
	c->rx++;
	if (client_ops->deliver != NULL)
		client_ops->deliver(c, (uint32_t)pub, (uint32_t)seq, ts);
}

static void
on_backup_list(struct client *c, struct msg *m)
{
	struct json_iter	 it, mit;
	struct json_span	 el, key, val;
	enum json_type		 t, mt;
	char			 host[128];
	long long		 port;
	int			 a;

	c->nbackup = 0;
	json_iter_array(&it, m->val[F_SERVERS]);
	while (json_next_element(&it, &el, &t)) {
		if (t != JSON_OBJECT)
			continue;
		host[0] = '\0';
		port = 0;
		json_iter_object(&mit, el);
		while (json_next_member(&mit, &key, &val, &mt)) {
			if ((json_key_eq(key, "host") ||
			    json_key_eq(key, "hostname")) && mt == JSON_STRING) {
				val.p++;
				val.len -= 2;
				if (json_str_decode(val, host, sizeof host,
				    NULL) != 0)
					host[0] = '\0';
			} else if (json_key_eq(key, "port") && mt == JSON_NUMBER)
				json_num_int(val, &port);
		}
		if (host[0] == '\0' || port < 1 || port > 65535)
			continue;
		if ((a = addr_add(host, (int)port)) < 0) {
			bench_log("client %d: BACKUP_LIST entry %s:%lld is not "
			    "loopback: ignored", c->idx, host, port);
			continue;
		}
		if (c->nbackup < BENCH_ADDRS_MAX)
			c->backup[c->nbackup++] = a;
	}
}

static void
on_login_success(struct client *c, struct msg *m)
{
	struct json_iter	 it;
	struct json_span	 v;
	enum json_type		 t;
	int			 i;

	/* A new session (not the one we resumed) numbers from 1. */
	if (m->str[F_SESSION] != NULL) {
		if (strcmp(c->session, m->str[F_SESSION]) != 0)
			c->next_aseq = 0;
		snprintf(c->session, sizeof c->session, "%s",
		    m->str[F_SESSION]);
	} else
		c->next_aseq = 0;
	if (m->str[F_TOKEN] != NULL)
		snprintf(c->token, sizeof c->token, "%s", m->str[F_TOKEN]);
	c->resumed[0] = '\0';
	if (m->str[F_RESUME] != NULL) {
		snprintf(c->resumed, sizeof c->resumed, "%s",
		    m->str[F_RESUME]);
		if (strcmp(c->resumed, "ok") == 0)
			c->resumes_ok++;
		else
			c->resumes_partial++;
	}
	c->accepted = 0;
	c->said_features = m->type[F_FEATURES] == JSON_ARRAY;
	if (c->said_features) {
		json_iter_array(&it, m->val[F_FEATURES]);
		while (json_next_element(&it, &v, &t)) {
			if (t != JSON_STRING)
				continue;
			v.p++;
			v.len -= 2;
			for (i = 0; msg_feature_names[i] != NULL; i++)
				if (json_key_eq(v, msg_feature_names[i]))
					c->accepted |= 1u << i;
		}
	}
}

/* Returns 1 if the connection was replaced or lost (stop parsing). */
static int
on_line(struct client *c, const char *line, size_t len, int *logged_in)
{
	char	 err[256];
	int	 port, a;

	if (len >= sizeof bcast_prefix - 1 &&
	    memcmp(line, bcast_prefix, sizeof bcast_prefix - 1) == 0) {
		on_broadcast(c, line, len);
		return 0;
	}
	if (msg_parse(line, len, &pmsg, err, sizeof err) != 0) {
		note_error(c, line, len);
		return 0;
	}
	switch (pmsg.cmd) {
	case CMD_ACTIVITY_BROADCAST:
		on_broadcast(c, line, len);
		break;
	case CMD_LOGIN_SUCCESS:
		if (c->state == CS_LOGIN) {
			on_login_success(c, &pmsg);
			*logged_in = 1;
		}
		break;
	case CMD_REDIRECT:
		c->redirects++;
		if (msg_port(&pmsg, F_PORT, &port) != 0 ||
		    (a = addr_add(pmsg.str[F_HOSTNAME], port)) < 0) {
			note_error(c, line, len);
			client_lost(c, "REDIRECT to a non-loopback or bad "
			    "address refused");
			return 1;
		}
		bench_log("client %d redirected %s -> %s", c->idx,
		    addr_name(c->cur), addr_name(a));
		client_close(c);
		c->state = CS_DOWN;
		c->cur = a;
		*logged_in = 0;
		client_connect(c, 0);
		return 1;
	case CMD_BACKUP_LIST:
		on_backup_list(c, &pmsg);
		break;
	case CMD_REGISTER_SUCCESS:
	case CMD_REGISTER_FAILED:
		if (client_ops->registered != NULL)
			client_ops->registered(c, pmsg.cmd ==
			    CMD_REGISTER_SUCCESS, pmsg.str[F_INFO]);
		return c->fd == -1;
	case CMD_ACTIVITY_SENDING_REPORT: {
		long long aseq = 0, cc = -1, sc = -1;

		msg_int(&pmsg, F_ACTIVITY_SEQ, &aseq);
		msg_int(&pmsg, F_CLIENT_COUNT, &cc);
		msg_int(&pmsg, F_SUCC_COUNT, &sc);
		if (client_ops->report != NULL)
			client_ops->report(c, (uint64_t)(aseq > 0 ? aseq : 0),
			    cc, sc, pmsg.type[F_PARTIAL] == JSON_BOOL &&
			    json_is_bool_true(pmsg.val[F_PARTIAL]));
		break;
	}
	case CMD_CLUSTER_STATUS:
		if (client_ops->status != NULL)
			client_ops->status(c, pmsg.str[F_STATUS] != NULL &&
			    strcmp(pmsg.str[F_STATUS], "NORMAL") == 0);
		break;
	case CMD_LOGIN_FAILED:
	case CMD_INVALID_MESSAGE:
	case CMD_AUTHENTICATION_FAIL:
		note_error(c, line, len);
		break;
	default:
		/* PONG: only that the link is alive (t_rx) */
		break;
	}
	return 0;
}

static void
client_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct client	*c = arg;
	char		*p, *end, *nl;
	ssize_t		 n;
	size_t		 used, len;
	int		 logged_in = 0;

	(void)ev;
	if (c->rcap - c->rlen < CLIENT_READ_MAX / 4) {
		size_t want = c->rcap ? c->rcap * 2 : CLIENT_READ_MAX;

		if (want < c->rlen + CLIENT_READ_MAX)
			want = c->rlen + CLIENT_READ_MAX;
		if ((p = realloc(c->rbuf, want)) == NULL)
			bench_fatal("out of memory");
		c->rbuf = p;
		c->rcap = want;
	}
	n = read(fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	if (n == 0) {
		client_lost(c, "connection closed by the server");
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		client_lost(c, strerror(errno));
		return;
	}
	c->rlen += (size_t)n;
	c->t_rx = bench_now_ns();
	c->t_ping = 0;
	p = c->rbuf;
	end = c->rbuf + c->rlen;
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len > 0 && on_line(c, p, len, &logged_in))
			return;		/* connection gone or replaced */
		p = nl + 1;
	}
	used = (size_t)(p - c->rbuf);
	if (used < c->rlen)
		memmove(c->rbuf, p, c->rlen - used);
	c->rlen -= used;
	if (c->rlen > CLIENT_LINE_MAX) {
		client_lost(c, "a line longer than 4 MB");
		return;
	}
	if (logged_in) {
		/* only now: a REDIRECT may follow LOGIN_SUCCESS in the same
		 * read, and then the login does not count */
		c->state = CS_READY;
		c->logins++;
		c->tries = 0;
		c->backoff_ms = 0;
		if (client_ops->ready != NULL)
			client_ops->ready(c);
		if (!c->ever_ready)
			c->ever_ready = 1;
	}
}

static void
client_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct client	*c = arg;
	socklen_t	 sl = sizeof(int);
	int		 err = 0;

	(void)ev;
	if (c->state == CS_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 ||
		    err != 0) {
			client_lost(c, strerror(err ? err : errno));
			return;
		}
		c->state = CS_LOGIN;
		event_add(c->rev, NULL);
		if (c->role == CR_REG) {
			if (client_ops->ready != NULL)
				client_ops->ready(c);	/* sends REGISTER */
		} else
			send_login(c);
	}
	client_flush(c);
	if (c->fd != -1 && client_pending(c) == 0 &&
	    client_ops->writable != NULL)
		client_ops->writable(c);
}

static void
do_connect(struct client *c)
{
	int	 one = 1, fd;

	client_close(c);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		client_lost(c, strerror(errno));
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, client_read_cb, c);
	c->wev = event_new(base, fd, EV_WRITE, client_write_cb, c);
	if (c->rev == NULL || c->wev == NULL)
		bench_fatal("event_new failed");
	c->state = CS_CONNECTING;
	c->t_state = bench_now_ns();
	c->t_ping = 0;
	if (connect(fd, (struct sockaddr *)&addrs[c->cur].sin,
	    sizeof addrs[c->cur].sin) != 0 && errno != EINPROGRESS) {
		client_lost(c, strerror(errno));
		return;
	}
	event_add(c->wev, NULL);
}

static void
client_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	do_connect(arg);
}

/* Connect to c->cur now (delay 0) or after delay_ms. */
void
client_connect(struct client *c, int delay_ms)
{
	struct timeval	 tv;

	if (c->tmr == NULL &&
	    (c->tmr = evtimer_new(base, client_timer_cb, c)) == NULL)
		bench_fatal("evtimer_new failed");
	c->state = CS_WAIT;
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(c->tmr, &tv);
}

/*
 * The next server to try after a loss: the BACKUP_LIST in its order if
 * the server sent one, else the servers we were given, starting after
 * the one that failed.  -1 when every candidate has been tried.
 */
static int
next_candidate(struct client *c)
{
	int	 k, a, n;

	if (c->nbackup > 0) {
		c->used_backup = 1;
		if (c->tries >= c->nbackup)
			return -1;
		return c->backup[c->tries++];
	}
	c->used_backup = 0;
	n = cl.n;
	if (c->tries >= n)
		return -1;
	k = addrs[c->cur].server >= 0 ? addrs[c->cur].server : 0;
	a = cl.srv[(k + 1) % n].addr;
	c->tries++;
	return a;
}

static void
client_lost(struct client *c, const char *why)
{
	enum client_state was = c->state;
	int	 a;

	client_close(c);
	c->state = CS_DOWN;
	if (was == CS_READY || was == CS_LOGIN) {
		if (was == CS_READY || c->lost_wall_ms == 0) {
			struct timespec ts;
			uint64_t quiet = 0, now = bench_now_ns();

			/* what we may have missed began when the link last
			 * brought something (a silent server: seconds ago) */
			if (was == CS_READY && c->t_rx != 0 && now > c->t_rx)
				quiet = (now - c->t_rx) / 1000000;
			clock_gettime(CLOCK_REALTIME, &ts);
			c->lost_wall_ms = (uint64_t)ts.tv_sec * 1000 +
			    (uint64_t)ts.tv_nsec / 1000000 - quiet;
		}
		c->disconnects++;
		if (client_ops->down != NULL)
			client_ops->down(c, why);
		if (c->fd != -1 || c->state == CS_DEAD)
			return;
	} else
		bench_log("client %d: connect to %s failed: %s", c->idx,
		    addr_name(c->cur), why);
	if (!c->failover || c->state == CS_DEAD) {
		c->state = CS_DEAD;
		if (was != CS_READY && was != CS_LOGIN &&
		    client_ops->down != NULL)
			client_ops->down(c, why);
		return;
	}
	if ((a = next_candidate(c)) == -1) {
		/* every candidate tried: back off, then start over */
		c->tries = 0;
		c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 :
		    CLIENT_BACKOFF_MIN_MS;
		if (c->backoff_ms > CLIENT_BACKOFF_MAX_MS)
			c->backoff_ms = CLIENT_BACKOFF_MAX_MS;
		client_connect(c, c->backoff_ms);
		return;
	}
	c->cur = a;
	client_connect(c, 0);
}

/*
 * The client's own heartbeat (opts.hb_ms, opts.dead_ms), as the protocol
 * suggests for clients that asked for "heartbeat": PING a link that has
 * brought nothing for hb_ms, give it up once it has been silent for
 * dead_ms, and give up a connection attempt or LOGIN unanswered for
 * dead_ms.  A server stopped with SIGSTOP keeps its sockets open: without
 * this its clients would wait forever.
 */
void
client_tick(struct client *c, uint64_t now)
{
	uint64_t	 dead = (uint64_t)opts.dead_ms * 1000000ull;
	uint64_t	 hb = (uint64_t)opts.hb_ms * 1000000ull;
	char		 why[96];

	if (opts.dead_ms <= 0 || c->fd == -1)
		return;
	if (c->state == CS_CONNECTING || c->state == CS_LOGIN) {
		if (now > c->t_state && now - c->t_state > dead) {
			snprintf(why, sizeof why, "no answer to %s within %d ms",
			    c->state == CS_LOGIN ? "LOGIN" : "connect",
			    opts.dead_ms);
			c->hb_losses++;
			client_lost(c, why);
		}
		return;
	}
	if (c->state != CS_READY || now <= c->t_rx)
		return;
	if (now - c->t_rx > dead) {
		snprintf(why, sizeof why, "heartbeat: silent for %d ms",
		    opts.dead_ms);
		c->hb_losses++;
		client_lost(c, why);
		return;
	}
	if (hb > 0 && now - c->t_rx > hb && c->t_ping == 0) {
		static const char ping[] = "{\"command\":\"PING\"}\n";

		c->t_ping = now;
		client_queue(c, ping, sizeof ping - 1);
		client_flush(c);
	}
}
