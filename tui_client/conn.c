/*
 * The server link.  One bufferevent at a time carries the session; a
 * link we are done with is "retired": it stops being read and is freed
 * once its output (a LOGOUT, an INVALID_MESSAGE) has gone, from the
 * reaper event rather than inside its own callback.
 *
 * The states follow the protocol: CONNECTING, then REGISTERING (only
 * when registering), LOGGING_IN, ONLINE.  Losing the link in any of them
 * starts or continues a failover, unless the user closed it or the
 * server refused the login: retrying a refused login would only be
 * refused again.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "clock.h"
#include "compat.h"
#include "compose.h"
#include "conn.h"
#include "log.h"
#include "msg.h"
#include "msgbuild.h"

enum conn_ret {
	CONN_OK,
	CONN_STOP,		/* the link is gone: read no further */
};

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_retire_write_cb(struct bufferevent *, void *);
static void	conn_retire_event_cb(struct bufferevent *, short, void *);
static void	conn_retry_cb(evutil_socket_t, short, void *);
static void	conn_attempt_cb(evutil_socket_t, short, void *);
static void	conn_tick_cb(evutil_socket_t, short, void *);
static void	conn_reap_cb(evutil_socket_t, short, void *);
static struct bufferevent *conn_dial_socket(struct conn *,
		    const struct fo_target *, int *);
static void	conn_dial(struct conn *, const struct fo_target *);
static void	conn_lost(struct conn *, const char *);

/* Tell the owner. */
static void
conn_emit(struct conn *c, enum conn_event ev)
{
	if (c->event_cb != NULL)
		c->event_cb(c, ev, c->arg);
}

/* A new link with no server yet. */
struct conn *
conn_new(struct event_base *base, struct model *m)
{
	struct conn	*c;
	int		 i;

	if ((c = calloc(1, sizeof *c)) == NULL)
		fatal("calloc");
	c->base = base;
	c->m = m;
	failover_init(&c->fo, FO_BASE_MS, FO_MAX_MS);
	dedup_init(&c->seen);
	c->anonymous = 1;
	strlcpy(c->user, "anonymous", sizeof c->user);
	strlcpy(m->user, c->user, sizeof m->user);
	c->next_seq = 1;
	c->attempt_ms = CONN_ATTEMPT_MS;
	c->ping_ms = CONN_PING_MS;
	c->dead_ms = CONN_DEAD_MS;
	c->dial = conn_dial_socket;
	for (i = 0; msg_feature_names[i] != NULL; i++)
		c->requested |= FEAT_BIT(i);
	c->retry_ev = evtimer_new(base, conn_retry_cb, c);
	c->attempt_ev = evtimer_new(base, conn_attempt_cb, c);
	c->tick_ev = event_new(base, -1, EV_PERSIST, conn_tick_cb, c);
	c->reap_ev = event_new(base, -1, 0, conn_reap_cb, c);
	if (c->retry_ev == NULL || c->attempt_ev == NULL ||
	    c->tick_ev == NULL || c->reap_ev == NULL)
		fatalx("event_new failed");
	return c;
}

/* Free everything at once, retired links included. */
void
conn_free(struct conn *c)
{
	int	 i;

	if (c == NULL)
		return;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	for (i = 0; i < c->nretiring; i++)
		bufferevent_free(c->retiring[i].bev);
	for (i = 0; i < c->nqueue; i++)
		free(c->queue[i].act);
	for (i = 0; i < c->nunacked; i++)
		free(c->unacked[i].act);
	event_free(c->retry_ev);
	event_free(c->attempt_ev);
	event_free(c->tick_ev);
	event_free(c->reap_ev);
	if (c->dns != NULL)
		evdns_base_free(c->dns, 0);
	free(c);
}

/* Random hex for a secret nobody has to type. */
void
conn_gen_secret(char *buf, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 r[16];
	size_t			 i;

	arc4random_buf(r, sizeof r);
	for (i = 0; i < sizeof r && 2 * i + 2 < len; i++) {
		buf[2 * i] = hex[r[i] >> 4];
		buf[2 * i + 1] = hex[r[i] & 15];
	}
	buf[2 * i] = '\0';
}

/*
 * Who to be: no user is anonymous; a user without a secret (or with
 * reg set) registers first, with a generated secret when none is given.
 */
void
conn_set_user(struct conn *c, const char *user, const char *secret, int reg)
{
	if (user == NULL || *user == '\0' || strcmp(user, "anonymous") == 0) {
		c->anonymous = 1;
		c->need_register = 0;
		strlcpy(c->user, "anonymous", sizeof c->user);
		c->secret[0] = '\0';
	} else {
		c->anonymous = 0;
		strlcpy(c->user, user, sizeof c->user);
		c->need_register = reg || secret == NULL || *secret == '\0';
		if (secret == NULL || *secret == '\0') {
			conn_gen_secret(c->secret, sizeof c->secret);
			model_info(c->m, "generated secret for %s: %s", c->user,
			    c->secret);
		} else
			strlcpy(c->secret, secret, sizeof c->secret);
	}
	strlcpy(c->m->user, c->user, sizeof c->m->user);
	c->session[0] = '\0';
	c->next_seq = 1;
	c->m->dirty |= MODEL_D_STATUS;
}

/* Is the session logged in? */
int
conn_online(const struct conn *c)
{
	return c->m->state == LINK_ONLINE && c->bev != NULL;
}

/* Is anything still being written out (a LOGOUT on its way)? */
int
conn_busy(const struct conn *c)
{
	return c->nretiring > 0;
}

/* Bytes waiting to go to the server. */
size_t
conn_outq(const struct conn *c)
{
	if (c->bev == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Output fell below the low mark: a batch writer may go on. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	conn_emit(c, CONN_EV_WRITABLE);
}

/* Queue bytes on the live link; a link that cannot keep up is dropped. */
static int
conn_write(struct conn *c, const char *p, size_t len)
{
	struct evbuffer	*out;

	if (c->bev == NULL)
		return -1;
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) + len > CONN_OUTPUT_MAX) {
		conn_lost(c, "the server stopped reading what we send");
		return -1;
	}
	bufferevent_write(c->bev, p, len);
	return 0;
}

/* Queue a built message on the live link and free the buffer. */
static int
conn_write_jbuf(struct conn *c, struct jbuf *b)
{
	int	 rc;

	rc = conn_write(c, b->p, b->len);
	jbuf_free(b);
	return rc;
}

/* Stop reading a link and free it once its output has drained. */
static void
conn_retire(struct conn *c)
{
	struct bufferevent	*bev = c->bev;
	struct timeval		 tv = { 2, 0 };

	if (bev == NULL)
		return;
	c->bev = NULL;
	evtimer_del(c->attempt_ev);
	if (c->nretiring == CONN_RETIRE_MAX) {
		/* Too many slow closes: drop the oldest outright. */
		bufferevent_free(c->retiring[0].bev);
		memmove(&c->retiring[0], &c->retiring[1],
		    (CONN_RETIRE_MAX - 1) * sizeof c->retiring[0]);
		c->nretiring--;
	}
	c->retiring[c->nretiring].bev = bev;
	c->retiring[c->nretiring].dead = 0;
	c->nretiring++;
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, conn_retire_write_cb,
	    conn_retire_event_cb, c);
	bufferevent_set_timeouts(bev, NULL, &tv);
	event_active(c->reap_ev, EV_TIMEOUT, 0);
}

/* A retired link drained its output: reap it. */
static void
conn_retire_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	event_active(c->reap_ev, EV_TIMEOUT, 0);
}

/* A retired link failed or closed: reap it whatever it still holds. */
static void
conn_retire_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	int		 i;

	(void)what;
	for (i = 0; i < c->nretiring; i++)
		if (c->retiring[i].bev == bev)
			c->retiring[i].dead = 1;
	event_active(c->reap_ev, EV_TIMEOUT, 0);
}

/* Free retired links that have nothing left to send (or cannot). */
static void
conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn		*c = arg;
	struct conn_retiree	*r;
	int			 i;

	(void)fd;
	(void)what;
	for (i = 0; i < c->nretiring; ) {
		r = &c->retiring[i];
		if (r->dead || evbuffer_get_length(
		    bufferevent_get_output(r->bev)) == 0) {
			bufferevent_free(r->bev);
			c->nretiring--;
			memmove(r, r + 1,
			    (size_t)(c->nretiring - i) * sizeof *r);
			continue;
		}
		i++;
	}
	conn_emit(c, CONN_EV_CHANGED);
}

/* The LOGIN (or REGISTER) line, asking for every feature we know. */
static void
conn_build_hello(struct conn *c, struct jbuf *b, enum msg_cmd cmd)
{
	int	 i, first = 1;

	msgb_begin(b, cmd);
	msgb_str(b, F_USERNAME, c->user);
	if (c->anonymous && cmd == CMD_LOGIN)
		msgb_null(b, F_SECRET);
	else
		msgb_str(b, F_SECRET, c->secret);
	msgb_key(b, F_FEATURES);
	jbuf_addc(b, '[');
	for (i = 0; msg_feature_names[i] != NULL; i++) {
		if ((c->requested & FEAT_BIT(i)) == 0)
			continue;
		if (!first)
			jbuf_addc(b, ',');
		jbuf_cstr(b, msg_feature_names[i]);
		first = 0;
	}
	jbuf_addc(b, ']');
	if (cmd == CMD_LOGIN && c->session[0] != '\0' &&
	    (c->prev_features & FEAT_BIT(FEAT_RESUME))) {
		msgb_key(b, F_RESUME);
		jbuf_addc(b, '{');
		jbuf_cstr(b, msg_field_name(F_SESSION));
		jbuf_addc(b, ':');
		jbuf_cstr(b, c->session);
		if (c->token[0] != '\0') {
			jbuf_addc(b, ',');
			jbuf_cstr(b, msg_field_name(F_TOKEN));
			jbuf_addc(b, ':');
			jbuf_cstr(b, c->token);
		}
		jbuf_addc(b, ',');
		jbuf_cstr(b, msg_field_name(F_SEEN));
		jbuf_addc(b, ':');
		dedup_json(&c->seen, b);
		/*
		 * Senders we never heard from: whatever they sent since
		 * shortly before the link went quiet.
		 */
		if (c->last_rx_wall > 1000) {
			jbuf_addc(b, ',');
			jbuf_cstr(b, msg_field_name(F_SINCE));
			jbuf_addc(b, ':');
			jbuf_int(b, (long long)(c->last_rx_wall - 1000));
		}
		jbuf_addc(b, '}');
	}
	msgb_end(b);
}

/* Connected: introduce ourselves. */
static void
conn_connected(struct conn *c)
{
	struct jbuf	 b;

	jbuf_init(&b);
	c->last_rx = now_ms();
	if (c->need_register) {
		conn_build_hello(c, &b, CMD_REGISTER);
		model_set_state(c->m, LINK_REGISTERING);
	} else {
		conn_build_hello(c, &b, CMD_LOGIN);
		model_set_state(c->m, LINK_LOGGING_IN);
	}
	conn_write_jbuf(c, &b);
	conn_emit(c, CONN_EV_CHANGED);
}

/*
 * Open a socket link.  Numeric addresses and "localhost" need no lookup;
 * other names go through evdns so the event loop never blocks on DNS.
 */
static struct bufferevent *
conn_dial_socket(struct conn *c, const struct fo_target *t, int *connected)
{
	struct bufferevent	*bev;
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 sslen;
	const char		*host = t->host;

	*connected = 0;
	bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)t->port);
		sslen = sizeof *sin;
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)t->port);
		sslen = sizeof *sin6;
	} else {
		if (c->dns == NULL)
			c->dns = evdns_base_new(c->base,
			    EVDNS_BASE_INITIALIZE_NAMESERVERS);
		model_set_state(c->m, LINK_RESOLVING);
		if (bufferevent_socket_connect_hostname(bev, c->dns,
		    AF_UNSPEC, host, t->port) != 0) {
			bufferevent_free(bev);
			return NULL;
		}
		return bev;
	}
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
	    (int)sslen) != 0) {
		bufferevent_free(bev);
		return NULL;
	}
	return bev;
}

/* Start an attempt on t, dropping whatever link there was. */
static void
conn_dial(struct conn *c, const struct fo_target *t)
{
	struct timeval	 tv;
	int		 connected = 0;

	conn_retire(c);
	evtimer_del(c->retry_ev);
	c->home = *t;
	strlcpy(c->m->trying_host, t->host, sizeof c->m->trying_host);
	c->m->trying_port = t->port;
	strlcpy(c->m->host, t->host, sizeof c->m->host);
	c->m->port = t->port;
	c->m->server_id[0] = '\0';
	c->m->features_known = 0;
	c->m->rtt_ms = -1;
	c->m->dirty |= MODEL_D_STATUS | MODEL_D_FAILOVER;
	model_set_state(c->m, LINK_CONNECTING);
	frame_init(&c->fr, CONN_LINE_MAX);
	c->online_pending = 0;
	c->attempt_start = now_ms();
	log_info("connecting to %s:%d", t->host, t->port);

	if ((c->bev = c->dial(c, t, &connected)) == NULL) {
		conn_lost(c, "cannot open a connection");
		return;
	}
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUTPUT_LOW, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	tv.tv_sec = c->attempt_ms / 1000;
	tv.tv_usec = (c->attempt_ms % 1000) * 1000;
	evtimer_add(c->attempt_ev, &tv);
	if (connected)
		conn_connected(c);
	conn_emit(c, CONN_EV_CHANGED);
}

/*
 * Connect to host:port as the user asked (start-up, /connect, /login,
 * /register): a fresh start, so any failover schedule is forgotten.
 */
void
conn_open(struct conn *c, const char *host, int port)
{
	struct fo_target	 t;

	if (conn_online(c)) {
		struct jbuf	 b;

		jbuf_init(&b);
		msgb_begin(&b, CMD_LOGOUT);
		msgb_end(&b);
		conn_write_jbuf(c, &b);
	}
	memset(&t, 0, sizeof t);
	strlcpy(t.host, host, sizeof t.host);
	t.port = port;
	c->stopping = 0;
	c->redirects = 0;
	failover_end(&c->fo);
	c->m->out_of_service = 0;
	c->m->attempt = 0;
	c->m->backoff_ms = 0;
	c->m->retry_at = 0;
	c->m->dirty |= MODEL_D_FAILOVER;
	conn_dial(c, &t);
}

/* Log out as asked: no failover afterwards. */
void
conn_logout(struct conn *c)
{
	struct jbuf	 b;

	if (conn_online(c)) {
		jbuf_init(&b);
		msgb_begin(&b, CMD_LOGOUT);
		msgb_end(&b);
		conn_write_jbuf(c, &b);
	}
	c->stopping = 1;
	conn_retire(c);
	evtimer_del(c->retry_ev);
	evtimer_del(c->tick_ev);
	failover_end(&c->fo);
	model_reports_lost(c->m);
	c->m->out_of_service = 0;
	c->m->dirty |= MODEL_D_FAILOVER;
	model_set_state(c->m, LINK_LOGGED_OUT);
	conn_emit(c, CONN_EV_CLOSED);
}

/* The server refused us: stay down, say why. */
static void
conn_refused(struct conn *c, const char *why)
{
	strlcpy(c->m->last_error, why, sizeof c->m->last_error);
	c->stopping = 1;
	conn_retire(c);
	evtimer_del(c->retry_ev);
	evtimer_del(c->tick_ev);
	failover_end(&c->fo);
	c->m->out_of_service = 0;
	model_reports_lost(c->m);
	model_set_state(c->m, LINK_FAILED);
	conn_emit(c, CONN_EV_FAILED);
}

/*
 * The link is gone (or an attempt failed).  Unless we closed it on
 * purpose, continue the failover: pick the next server and when.
 */
static void
conn_lost(struct conn *c, const char *why)
{
	struct timeval	 tv;
	unsigned	 delay;
	int		 was_online = c->m->state == LINK_ONLINE;

	conn_retire(c);
	evtimer_del(c->tick_ev);
	c->online_pending = 0;
	if (c->stopping || c->m->state == LINK_FAILED ||
	    c->m->state == LINK_LOGGED_OUT)
		return;
	model_reports_lost(c->m);
	snprintf(c->m->last_error, sizeof c->m->last_error, "%s:%d: %s",
	    c->home.host, c->home.port, why);
	if (was_online)
		model_error(c->m, "lost %s:%d: %s", c->home.host,
		    c->home.port, why);
	else
		model_error(c->m, "%s:%d: %s", c->home.host, c->home.port,
		    why);
	if (!c->m->out_of_service) {
		c->m->out_of_service = 1;
		c->m->down_since = now_ms();
		c->m->failovers++;
	}
	failover_begin(&c->fo, &c->home);
	delay = failover_next(&c->fo, arc4random(), &c->next);
	if (c->next.port == 0) {
		model_error(c->m, "no server left to try");
		model_set_state(c->m, LINK_IDLE);
		return;
	}
	c->m->attempt = c->fo.attempt;
	c->m->backoff_ms = delay;
	c->m->retry_at = now_ms() + delay;
	strlcpy(c->m->trying_host, c->next.host, sizeof c->m->trying_host);
	c->m->trying_port = c->next.port;
	c->m->dirty |= MODEL_D_FAILOVER | MODEL_D_STATUS;
	model_set_state(c->m, LINK_WAITING);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(c->retry_ev, &tv);
	if (was_online)
		conn_emit(c, CONN_EV_OFFLINE);
	else
		conn_emit(c, CONN_EV_CHANGED);
}

/* The backoff is over: try the next server. */
static void
conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn		*c = arg;
	struct fo_target	 t = c->next;

	(void)fd;
	(void)what;
	model_info(c->m, "failover: trying %s:%d (attempt %d)", t.host,
	    t.port, c->fo.attempt);
	conn_dial(c, &t);
}

/* An attempt took too long to reach login: give it up. */
static void
conn_attempt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	char		 why[64];

	(void)fd;
	(void)what;
	if (c->m->state == LINK_ONLINE)
		return;
	snprintf(why, sizeof why, "no login within %u ms", c->attempt_ms);
	conn_lost(c, why);
}

/*
 * Once a second while logged in: ping when the server offers heartbeat,
 * and give up on a link that has been silent for dead_ms.
 */
static void
conn_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct jbuf	 b;
	uint64_t	 now = now_ms();
	char		 why[64];

	(void)fd;
	(void)what;
	if (c->m->state != LINK_ONLINE || c->bev == NULL)
		return;
	c->redirects = 0;
	if ((c->features & FEAT_BIT(FEAT_HEARTBEAT)) == 0)
		return;
	if (now - c->last_rx > c->dead_ms) {
		snprintf(why, sizeof why, "no reply for %u ms", c->dead_ms);
		conn_lost(c, why);
		return;
	}
	jbuf_init(&b);
	msgb_begin(&b, CMD_PING);
	msgb_int(&b, F_TS, (long long)now);
	msgb_end(&b);
	conn_write_jbuf(c, &b);
}

/* Write one ACTIVITY_MESSAGE; seq 0 leaves it unnumbered. */
static int
conn_write_activity(struct conn *c, long long seq, const char *act,
    size_t len)
{
	struct jbuf	 b;

	jbuf_init(&b);
	msgb_begin(&b, CMD_ACTIVITY_MESSAGE);
	msgb_str(&b, F_USERNAME, c->user);
	if (c->anonymous)
		msgb_null(&b, F_SECRET);
	else
		msgb_str(&b, F_SECRET, c->secret);
	if (seq > 0)
		msgb_int(&b, F_ACTIVITY_SEQ, seq);
	msgb_raw(&b, F_ACTIVITY, act, len);
	msgb_end(&b);
	return conn_write_jbuf(c, &b);
}

/* Keep a sent activity until its report says it arrived. */
static void
conn_unacked_add(struct conn *c, long long seq, const char *act, size_t len)
{
	struct conn_queued	*u;

	if (c->nunacked == CONN_UNACKED_MAX) {
		free(c->unacked[0].act);
		memmove(&c->unacked[0], &c->unacked[1],
		    (CONN_UNACKED_MAX - 1) * sizeof c->unacked[0]);
		c->nunacked--;
	}
	u = &c->unacked[c->nunacked++];
	if ((u->act = malloc(len)) == NULL)
		fatal("malloc");
	memcpy(u->act, act, len);
	u->len = len;
	u->seq = seq;
}

/* The report for seq came: no need to keep it. */
static void
conn_unacked_done(struct conn *c, long long seq)
{
	int	 i;

	for (i = 0; i < c->nunacked; i++) {
		if (c->unacked[i].seq != seq)
			continue;
		free(c->unacked[i].act);
		memmove(&c->unacked[i], &c->unacked[i + 1],
		    (size_t)(c->nunacked - i - 1) * sizeof c->unacked[0]);
		c->nunacked--;
		return;
	}
}

/* Forget the unreported activities: a new session cannot resend them. */
static void
conn_unacked_clear(struct conn *c)
{
	int	 i;

	for (i = 0; i < c->nunacked; i++)
		free(c->unacked[i].act);
	c->nunacked = 0;
}

/*
 * The session was resumed: send again, with their own activity_seq,
 * the activities whose report never came.  The lost server may have
 * passed some on already; servers and receivers drop those as repeats
 * by (sender, activity_seq), so nothing is shown twice.
 */
static void
conn_unacked_resend(struct conn *c)
{
	int	 i;

	if (c->nunacked > 0)
		model_info(c->m, "sending again %d activit%s without a report",
		    c->nunacked, c->nunacked == 1 ? "y" : "ies");
	for (i = 0; i < c->nunacked && conn_online(c); i++) {
		if (conn_write_activity(c, c->unacked[i].seq,
		    c->unacked[i].act, c->unacked[i].len) != 0)
			break;
		model_report_resent(c->m, c->unacked[i].seq);
	}
}

/* Send one activity now, numbered if the server numbers them. */
static int
conn_send_now(struct conn *c, const char *act, size_t len)
{
	char		 show[MODEL_PREVIEW_MAX * 2];
	long long	 seq = 0;
	int		 numbered, tracked;

	numbered = (c->features & FEAT_BIT(FEAT_ACTIVITY_SEQ)) != 0;
	tracked = numbered &&
	    (c->features & FEAT_BIT(FEAT_SENDING_REPORT)) != 0;
	if (numbered)
		seq = c->next_seq++;
	if (conn_write_activity(c, seq, act, len) != 0)
		return -1;
	if (tracked)
		conn_unacked_add(c, seq, act, len);
	compose_show(act, len, show, sizeof show, NULL, 0);
	model_report_add(c->m, seq, tracked, show, strlen(show));
	return 0;
}

/*
 * Send an activity object (already validated).  While the link is down
 * it waits in a bounded queue and goes out after the next login.
 * Returns 0 sent, 1 queued, -1 refused.
 */
int
conn_send(struct conn *c, const char *act, size_t len)
{
	struct conn_queued	*q;

	if (conn_online(c))
		return conn_send_now(c, act, len) == 0 ? 0 : 1;
	if (c->m->state == LINK_FAILED || c->m->state == LINK_LOGGED_OUT ||
	    c->m->state == LINK_IDLE) {
		model_error(c->m, "not sent: not connected (use /connect or "
		    "/login)");
		return -1;
	}
	if (c->nqueue == CONN_QUEUE_MAX) {
		model_error(c->m, "not sent: %d activities already wait for "
		    "the link", CONN_QUEUE_MAX);
		return -1;
	}
	q = &c->queue[c->nqueue++];
	if ((q->act = malloc(len)) == NULL)
		fatal("malloc");
	memcpy(q->act, act, len);
	q->len = len;
	model_info(c->m, "queued until the link is back (%d waiting)",
	    c->nqueue);
	return 1;
}

/* Logged in again: send what waited. */
static void
conn_flush_queue(struct conn *c)
{
	int	 i;

	for (i = 0; i < c->nqueue && conn_online(c); i++) {
		conn_send_now(c, c->queue[i].act, c->queue[i].len);
		free(c->queue[i].act);
		c->queue[i].act = NULL;
	}
	if (i < c->nqueue)
		memmove(&c->queue[0], &c->queue[i],
		    (size_t)(c->nqueue - i) * sizeof c->queue[0]);
	c->nqueue -= i;
}

/* Reply INVALID_MESSAGE to a server that broke the protocol, and go. */
static enum conn_ret
conn_invalid(struct conn *c, const char *why)
{
	struct jbuf	 b;
	char		 what[512];

	jbuf_init(&b);
	msgb_info(&b, CMD_INVALID_MESSAGE, why);
	conn_write_jbuf(c, &b);
	snprintf(what, sizeof what, "server sent an invalid message: %s", why);
	conn_lost(c, what);
	return CONN_STOP;
}

/* An optional string field: NULL when absent (msg_parse leaves str[] stale). */
static const char *
conn_str(const struct msg *msg, enum msg_field f)
{
	return msg->type[f] == JSON_STRING ? msg->str[f] : NULL;
}

/* A port given as a number or a numeric string, 1 to 65535. */
static int
conn_port_of(struct json_span v, enum json_type t, int *port)
{
	long long	 n;
	char		 buf[16];

	if (t == JSON_NUMBER) {
		if (json_num_int(v, &n) != 0)
			return -1;
	} else if (t == JSON_STRING) {
		v.p++;
		v.len -= 2;
		if (json_str_decode(v, buf, sizeof buf, NULL) != 0)
			return -1;
		n = strtoll(buf, NULL, 10);
	} else
		return -1;
	if (n < 1 || n > 65535)
		return -1;
	*port = (int)n;
	return 0;
}

/* LOGIN_SUCCESS: online; learn the features, session and resume result. */
static enum conn_ret
cmd_login_success(struct conn *c, struct msg *msg)
{
	char		 resume[16], names[128];
	const char	*sess;
	int		 i, cont;
	size_t		 n = 0;

	if (c->m->state != LINK_LOGGING_IN)
		return conn_invalid(c, "LOGIN_SUCCESS while not logging in");
	if (msg_features(msg, msg_feature_names, &c->features) != 0)
		return conn_invalid(c, "LOGIN_SUCCESS: features must be "
		    "strings");
	c->features &= c->requested;
	resume[0] = '\0';
	compose_str(msg->line, msg->len, "resume", resume, sizeof resume);
	sess = conn_str(msg, F_SESSION);

	/*
	 * Numbering goes on where it was only if the server kept our
	 * session id (a resume it accepted); any other session starts at
	 * 1, and reports from before can no longer match.
	 */
	cont = sess != NULL && c->session[0] != '\0' &&
	    strcmp(sess, c->session) == 0;
	if (!cont) {
		c->next_seq = 1;
		model_new_session(c->m);
		conn_unacked_clear(c);
	}
	if (sess != NULL)
		strlcpy(c->session, sess, sizeof c->session);
	else
		c->session[0] = '\0';
	if (conn_str(msg, F_TOKEN) != NULL)
		strlcpy(c->token, conn_str(msg, F_TOKEN), sizeof c->token);
	else
		c->token[0] = '\0';
	c->prev_features = c->features;

	strlcpy(c->m->session, c->session, sizeof c->m->session);
	strlcpy(c->m->resume, resume, sizeof c->m->resume);
	if (conn_str(msg, F_ID) != NULL)
		strlcpy(c->m->server_id, conn_str(msg, F_ID),
		    sizeof c->m->server_id);
	c->m->features = c->features;
	c->m->features_known = 1;
	c->m->online_since = now_ms();
	c->m->logins++;
	if (c->m->out_of_service) {
		c->m->last_outage_ms = now_ms() - c->m->down_since;
		c->m->out_of_service = 0;
		model_info(c->m, "failover done: back online after %llu ms",
		    (unsigned long long)c->m->last_outage_ms);
	}
	c->m->attempt = 0;
	c->m->backoff_ms = 0;
	c->m->dirty |= MODEL_D_ALL;
	failover_end(&c->fo);
	model_set_state(c->m, LINK_ONLINE);
	evtimer_del(c->attempt_ev);

	names[0] = '\0';
	for (i = 0; msg_feature_names[i] != NULL; i++) {
		if ((c->features & FEAT_BIT(i)) == 0)
			continue;
		n += (size_t)snprintf(names + n, sizeof names - n, "%s%s",
		    n > 0 ? " " : "", msg_feature_names[i]);
		if (n >= sizeof names)
			break;
	}
	model_info(c->m, "logged in to %s:%d as %s%s%s%s%s", c->home.host,
	    c->home.port, c->user, names[0] != '\0' ? "; features: " : "",
	    names[0] != '\0' ? names : "; no extensions offered",
	    resume[0] != '\0' ? "; resume " : "", resume);

	if (strcmp(resume, "partial") == 0)
		model_error(c->m, "resumed in part: some activities sent while "
		    "we were away are older than the server keeps");

	if (!evtimer_pending(c->tick_ev, NULL)) {
		struct timeval	 tv;

		tv.tv_sec = c->ping_ms / 1000;
		tv.tv_usec = (c->ping_ms % 1000) * 1000;
		event_add(c->tick_ev, &tv);
	}
	if (c->features & FEAT_BIT(FEAT_HEARTBEAT)) {
		struct jbuf	 b;

		jbuf_init(&b);
		msgb_begin(&b, CMD_PING);
		msgb_int(&b, F_TS, (long long)now_ms());
		msgb_end(&b);
		conn_write_jbuf(c, &b);
	}
	/* Resent once the whole buffer is read: a REDIRECT may follow. */
	c->resend_pending = cont && resume[0] != '\0';
	if (!c->resend_pending)
		conn_unacked_clear(c);
	c->online_pending = 1;
	return CONN_OK;
}

/* REGISTER_SUCCESS: log in on the same connection. */
static enum conn_ret
cmd_register_success(struct conn *c, struct msg *msg)
{
	struct jbuf	 b;

	if (c->m->state != LINK_REGISTERING)
		return conn_invalid(c, "REGISTER_SUCCESS while not "
		    "registering");
	model_info(c->m, "registered %s (secret %s): %s", c->user, c->secret,
	    msg->str[F_INFO]);
	c->need_register = 0;
	jbuf_init(&b);
	conn_build_hello(c, &b, CMD_LOGIN);
	conn_write_jbuf(c, &b);
	model_set_state(c->m, LINK_LOGGING_IN);
	return CONN_OK;
}

/* LOGIN_FAILED, REGISTER_FAILED: a refusal retrying will not change. */
static enum conn_ret
cmd_refused(struct conn *c, struct msg *msg)
{
	char	 why[512];

	if (msg->cmd == CMD_LOGIN_FAILED)
		snprintf(why, sizeof why, "login failed as %s: %s", c->user,
		    msg->str[F_INFO]);
	else
		snprintf(why, sizeof why, "registration of %s failed: %s",
		    c->user, msg->str[F_INFO]);
	model_error(c->m, "%s", why);
	conn_refused(c, why);
	return CONN_STOP;
}

/*
 * INVALID_MESSAGE, AUTHENTICATION_FAIL: the server closes.  Before login
 * that is a refusal; once logged in, another server may do better.
 */
static enum conn_ret
cmd_server_error(struct conn *c, struct msg *msg)
{
	char	 why[512];

	snprintf(why, sizeof why, "server said %s: %s",
	    msg->cmd == CMD_INVALID_MESSAGE ? "our message was invalid" :
	    "authentication failed", msg->str[F_INFO]);
	if (c->m->state != LINK_ONLINE) {
		model_error(c->m, "%s", why);
		conn_refused(c, why);
		return CONN_STOP;
	}
	conn_lost(c, why);
	return CONN_STOP;
}

/* REDIRECT: go to the server named, and log in there. */
static enum conn_ret
cmd_redirect(struct conn *c, struct msg *msg)
{
	struct fo_target	 t;

	memset(&t, 0, sizeof t);
	if (msg_port(msg, F_PORT, &t.port) != 0)
		return conn_invalid(c, "REDIRECT: port must be 1-65535");
	if (msg->str[F_HOSTNAME][0] == '\0')
		return conn_invalid(c, "REDIRECT: empty hostname");
	strlcpy(t.host, msg->str[F_HOSTNAME], sizeof t.host);
	if (++c->redirects > CONN_REDIRECT_MAX) {
		conn_lost(c, "too many redirects in a row");
		return CONN_STOP;
	}
	model_info(c->m, "redirected from %s:%d to %s:%d", c->home.host,
	    c->home.port, t.host, t.port);
	c->online_pending = 0;
	conn_dial(c, &t);
	return CONN_STOP;
}

/* ACTIVITY_BROADCAST: show the activity in the stream. */
static enum conn_ret
cmd_broadcast(struct conn *c, struct msg *msg)
{
	char			 text[MODEL_TEXT_MAX * 2], who[MODEL_WHO_MAX];
	const struct json_span	*a = &msg->val[F_ACTIVITY];
	const char		*sender = conn_str(msg, F_SENDER);
	enum model_kind		 kind = MODEL_ACTIVITY;

	compose_show(a->p, a->len, text, sizeof text, who, sizeof who);
	if (who[0] == '\0' && conn_str(msg, F_USERNAME) != NULL)
		strlcpy(who, conn_str(msg, F_USERNAME), sizeof who);
	if (who[0] == '\0')
		strlcpy(who, "?", sizeof who);
	if (sender != NULL && c->session[0] != '\0')
		kind = strcmp(sender, c->session) == 0 ? MODEL_SELF :
		    MODEL_ACTIVITY;
	else if (!c->anonymous && strcmp(who, c->user) == 0)
		kind = MODEL_SELF;
	model_add(c->m, kind, who, text, strlen(text));
	return CONN_OK;
}

/* ACTIVITY_SENDING_REPORT: match it to the activity we sent. */
static enum conn_ret
cmd_report(struct conn *c, struct msg *msg)
{
	long long	 seq, count, succ;
	int		 partial;

	if (msg_int(msg, F_ACTIVITY_SEQ, &seq) != 0 ||
	    msg_int(msg, F_CLIENT_COUNT, &count) != 0 ||
	    msg_int(msg, F_SUCC_COUNT, &succ) != 0)
		return conn_invalid(c, "ACTIVITY_SENDING_REPORT: counts must "
		    "be integers");
	partial = msg->type[F_PARTIAL] == JSON_BOOL &&
	    json_is_bool_true(msg->val[F_PARTIAL]);
	if (model_report_update(c->m, seq, succ, count, partial) != 0)
		log_info("report for activity_seq %lld we did not send", seq);
	conn_unacked_done(c, seq);
	conn_emit(c, CONN_EV_REPORT);
	return CONN_OK;
}

/* BACKUP_LIST: the servers to fail over to, in order. */
static enum conn_ret
cmd_backup_list(struct conn *c, struct msg *msg)
{
	struct fo_target	 t[FO_BACKUPS_MAX];
	struct json_iter	 it;
	struct json_span	 el, v;
	enum json_type		 ty;
	int			 n = 0, i;

	json_iter_array(&it, msg->val[F_SERVERS]);
	while (n < FO_BACKUPS_MAX && json_next_element(&it, &el, &ty)) {
		if (ty != JSON_OBJECT)
			return conn_invalid(c, "BACKUP_LIST: servers must be "
			    "objects");
		memset(&t[n], 0, sizeof t[n]);
		if (compose_str(el.p, el.len, "host", t[n].host,
		    sizeof t[n].host) != 0 || t[n].host[0] == '\0' ||
		    compose_find(el.p, el.len, "port", &v, &ty) != 0 ||
		    conn_port_of(v, ty, &t[n].port) != 0)
			return conn_invalid(c, "BACKUP_LIST: each server needs "
			    "a host and a port");
		n++;
	}
	failover_set_backups(&c->fo, t, n);
	c->m->have_backups = 1;
	c->m->nbackups = n;
	for (i = 0; i < n; i++) {
		strlcpy(c->m->backups[i].host, t[i].host,
		    sizeof c->m->backups[i].host);
		c->m->backups[i].port = t[i].port;
	}
	c->m->dirty |= MODEL_D_FAILOVER;
	return CONN_OK;
}

/* CLUSTER_STATUS: every server and its health, for the cluster pane. */
static enum conn_ret
cmd_cluster_status(struct conn *c, struct msg *msg)
{
	struct model_server	*s;
	struct json_iter	 it;
	struct json_span	 el, v;
	enum json_type		 ty;
	int			 n = 0;

	strlcpy(c->m->cluster_status, msg->str[F_STATUS],
	    sizeof c->m->cluster_status);
	json_iter_array(&it, msg->val[F_SERVERS]);
	while (n < MODEL_SERVERS_MAX && json_next_element(&it, &el, &ty)) {
		if (ty != JSON_OBJECT)
			return conn_invalid(c, "CLUSTER_STATUS: servers must "
			    "be objects");
		s = &c->m->servers[n];
		memset(s, 0, sizeof *s);
		if (compose_str(el.p, el.len, "id", s->id, sizeof s->id) != 0)
			strlcpy(s->id, "?", sizeof s->id);
		if (compose_str(el.p, el.len, "host", s->host,
		    sizeof s->host) != 0)
			strlcpy(s->host, "?", sizeof s->host);
		if (compose_find(el.p, el.len, "port", &v, &ty) != 0 ||
		    conn_port_of(v, ty, &s->port) != 0)
			s->port = 0;
		if (compose_find(el.p, el.len, "load", &v, &ty) != 0 ||
		    ty != JSON_NUMBER || json_num_int(v, &s->load) != 0)
			s->load = -1;
		if (compose_find(el.p, el.len, "last_announce_ms", &v,
		    &ty) != 0 || ty != JSON_NUMBER ||
		    json_num_int(v, &s->last_announce) != 0)
			s->last_announce = -1;
		if (compose_str(el.p, el.len, "state", s->state,
		    sizeof s->state) != 0)
			strlcpy(s->state, "?", sizeof s->state);
		n++;
	}
	c->m->nservers = n;
	c->m->have_cluster = 1;
	c->m->cluster_at = now_ms();
	c->m->cluster_wall = wall_ms();
	c->m->dirty |= MODEL_D_CLUSTER | MODEL_D_FAILOVER;
	return CONN_OK;
}

/* PONG: the round-trip time of the PING it answers. */
static enum conn_ret
cmd_pong(struct conn *c, struct msg *msg)
{
	long long	 ts;
	uint64_t	 now = now_ms();

	if (msg_int(msg, F_TS, &ts) == 0 && ts > 0 && (uint64_t)ts <= now) {
		c->m->rtt_ms = (long long)(now - (uint64_t)ts);
		c->m->dirty |= MODEL_D_STATUS;
	}
	return CONN_OK;
}

/* What a client accepts, and in which states. */
static enum conn_ret
conn_dispatch(struct conn *c, struct msg *msg)
{
	int	 online = c->m->state == LINK_ONLINE;
	char	 why[128];

	switch (msg->cmd) {
	case CMD_LOGIN_SUCCESS:
		return cmd_login_success(c, msg);
	case CMD_LOGIN_FAILED:
	case CMD_REGISTER_FAILED:
		return cmd_refused(c, msg);
	case CMD_REGISTER_SUCCESS:
		return cmd_register_success(c, msg);
	case CMD_INVALID_MESSAGE:
	case CMD_AUTHENTICATION_FAIL:
		return cmd_server_error(c, msg);
	case CMD_REDIRECT:
		return cmd_redirect(c, msg);
	case CMD_ACTIVITY_BROADCAST:
		if (!online)
			break;
		return cmd_broadcast(c, msg);
	case CMD_ACTIVITY_SENDING_REPORT:
		if (!online)
			break;
		return cmd_report(c, msg);
	case CMD_BACKUP_LIST:
		return cmd_backup_list(c, msg);
	case CMD_CLUSTER_STATUS:
		return cmd_cluster_status(c, msg);
	case CMD_PONG:
		return cmd_pong(c, msg);
	default:
		snprintf(why, sizeof why, "%s is not sent to clients",
		    msg_cmd_name(msg->cmd));
		return conn_invalid(c, why);
	}
	snprintf(why, sizeof why, "%s before login", msg_cmd_name(msg->cmd));
	return conn_invalid(c, why);
}

/* Is this broadcast a replay of one already shown? */
static int
conn_duplicate(struct conn *c, const struct msg *msg)
{
	long long	 seq;

	if (msg->cmd != CMD_ACTIVITY_BROADCAST ||
	    c->m->state != LINK_ONLINE || conn_str(msg, F_SENDER) == NULL ||
	    msg_int(msg, F_ACTIVITY_SEQ, &seq) != 0)
		return 0;
	return dedup_check(&c->seen, conn_str(msg, F_SENDER), seq);
}

/*
 * Read every complete line; stop at the first one that ends the link.
 * The owner hears "online" only after the whole buffer, so a REDIRECT
 * that came right behind LOGIN_SUCCESS is followed first.
 */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn		*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct frame		 f;
	struct msg		*msg;
	enum frame_status	 st;
	enum conn_ret		 rc = CONN_OK;
	char			 err[256], esc[LOG_ESCAPE_MAX * 4 + 8];

	if ((msg = malloc(sizeof *msg)) == NULL)
		fatal("malloc");
	c->last_rx = now_ms();
	c->last_rx_wall = wall_ms();
	while (rc == CONN_OK && c->bev == bev) {
		st = frame_next(&c->fr, in, &f);
		if (st == FRAME_NEED_MORE)
			break;
		if (st == FRAME_TOO_LONG) {
			conn_invalid(c, "line too long");
			break;
		}
		if (st == FRAME_BAD_NUL) {
			conn_invalid(c, "NUL byte in a line");
			break;
		}
		log_debug("<- %s", log_escape(f.line, f.len, esc, sizeof esc));
		if (msg_parse(f.line, f.len, msg, err, sizeof err) != 0) {
			frame_done(&c->fr, in, &f);
			conn_invalid(c, err);
			break;
		}
		if (conn_duplicate(c, msg)) {
			frame_done(&c->fr, in, &f);
			continue;
		}
		if (c->line_cb != NULL)
			c->line_cb(c, f.line, f.len, c->arg);
		rc = conn_dispatch(c, msg);
		if (c->bev == bev)
			frame_done(&c->fr, in, &f);
	}
	free(msg);
	if (c->online_pending && c->bev == bev &&
	    c->m->state == LINK_ONLINE) {
		c->online_pending = 0;
		if (c->resend_pending)
			conn_unacked_resend(c);
		c->resend_pending = 0;
		conn_flush_queue(c);
		conn_emit(c, CONN_EV_ONLINE);
	} else
		conn_emit(c, CONN_EV_CHANGED);
}

/* Connected, or the link failed: log in, or fail over. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	char		 why[160];
	int		 dnserr;

	if (what & BEV_EVENT_CONNECTED) {
		conn_connected(c);
		return;
	}
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "server closed the connection");
	else if ((dnserr = bufferevent_socket_get_dns_error(bev)) != 0)
		snprintf(why, sizeof why, "cannot resolve: %s",
		    evutil_gai_strerror(dnserr));
	else
		snprintf(why, sizeof why, "%s", evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
	conn_lost(c, why);
}
