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
#include "tls.h"
#include "xmalloc.h"

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_retire_write_cb(struct bufferevent *, void *);
static void	conn_retire_event_cb(struct bufferevent *, short, void *);
static void	conn_retry_cb(evutil_socket_t, short, void *);
static void	conn_attempt_cb(evutil_socket_t, short, void *);
static void	conn_tick_cb(evutil_socket_t, short, void *);
static void	conn_reap_cb(evutil_socket_t, short, void *);
static void	conn_probe_timeout_cb(evutil_socket_t, short, void *);
static int	conn_hold(struct conn *, const char *, size_t);
static enum conn_ret conn_release(struct conn *, struct msg *);
static void	conn_probe_end(struct conn *);
static void	conn_fresh(struct conn *);
static void	conn_switch_to(struct conn *, struct bufferevent *, int);
static struct bufferevent *conn_dial_socket(struct conn *,
		    const struct fo_target *, int *);

/*
 * Copy the link's state into the model, for the status and failover
 * panes.  The model only shows it: every decision reads the conn.
 */
static void
conn_show(struct conn *c)
{
	struct model	*m = c->m;
	int		 online = c->state == LINK_ONLINE;

	model_set_state(m, c->state);
	strlcpy(m->host, c->home.host, sizeof m->host);
	m->port = c->home.port;
	strlcpy(m->user, c->user, sizeof m->user);
	strlcpy(m->session, online ? c->session : "", sizeof m->session);
	if (!online) {
		m->rtt_ms = -1;
		m->server_id[0] = '\0';
		m->resume[0] = '\0';
	}
	m->features = c->features;
	m->features_known = online;
	m->out_of_service = c->out_of_service;
	m->down_since = c->down_since;
	m->last_outage_ms = c->last_outage_ms;
	m->failovers = c->failovers;
	strlcpy(m->last_error, c->last_error, sizeof m->last_error);
	if (c->state == LINK_WAITING) {
		strlcpy(m->trying_host, c->next.host, sizeof m->trying_host);
		m->trying_port = c->next.port;
	} else {
		strlcpy(m->trying_host, c->home.host, sizeof m->trying_host);
		m->trying_port = c->home.port;
	}
	m->attempt = c->out_of_service ? c->fo.attempt : 0;
	m->backoff_ms = c->out_of_service ? c->backoff_ms : 0;
	m->retry_at = c->out_of_service ? c->retry_at : 0;
	m->dirty |= MODEL_D_STATUS | MODEL_D_FAILOVER | MODEL_D_INPUT;
}

/* Tell the owner, after showing the link as it now is. */
void
conn_emit(struct conn *c, enum conn_event ev)
{
	conn_show(c);
	if (c->event_cb != NULL)
		c->event_cb(c, ev, c->arg);
}

/* Move the link to state st. */
void
conn_set_state(struct conn *c, enum link_state st)
{
	c->state = st;
	conn_show(c);
}

/* The link's state. */
enum link_state
conn_state(const struct conn *c)
{
	return c->state;
}

/* A new link with no server yet. */
struct conn *
conn_new(struct event_base *base, struct model *m)
{
	struct conn	*c;
	int		 i;

	c = xcalloc(1, sizeof *c);
	c->base = base;
	c->m = m;
	failover_init(&c->fo, FO_BASE_MS, FO_MAX_MS);
	dedup_init(&c->seen);
	c->anonymous = 1;
	strlcpy(c->user, MSG_V_ANONYMOUS, sizeof c->user);
	c->next_seq = 1;
	c->first = 1;
	c->line_max = CONN_LINE_MAX;
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
	c->probe_ev = evtimer_new(base, conn_probe_timeout_cb, c);
	if (c->retry_ev == NULL || c->attempt_ev == NULL ||
	    c->tick_ev == NULL || c->reap_ev == NULL || c->probe_ev == NULL)
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
	if (c->probe != NULL)
		bufferevent_free(c->probe);
	for (i = 0; i < c->nretiring; i++)
		bufferevent_free(c->retiring[i].bev);
	conn_queue_free(c);
	if (c->held != NULL)
		evbuffer_free(c->held);
	if (c->hpage != NULL)
		evbuffer_free(c->hpage);
	event_free(c->retry_ev);
	event_free(c->attempt_ev);
	event_free(c->tick_ev);
	event_free(c->reap_ev);
	event_free(c->probe_ev);
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
	if (user == NULL || *user == '\0' || strcmp(user, MSG_V_ANONYMOUS) == 0) {
		c->anonymous = 1;
		c->need_register = 0;
		strlcpy(c->user, MSG_V_ANONYMOUS, sizeof c->user);
		c->secret[0] = '\0';
	} else {
		c->anonymous = 0;
		strlcpy(c->user, user, sizeof c->user);
		c->need_register = reg || secret == NULL || *secret == '\0';
		/* Shown once the registration succeeded, not before. */
		c->generated = secret == NULL || *secret == '\0';
		if (c->generated)
			conn_gen_secret(c->secret, sizeof c->secret);
		else
			strlcpy(c->secret, secret, sizeof c->secret);
	}
	c->registered = 0;
	c->session[0] = '\0';
	c->next_seq = 1;
	conn_show(c);
}

/* Is the session logged in? */
int
conn_online(const struct conn *c)
{
	return c->state == LINK_ONLINE && c->bev != NULL;
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
int
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
int
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
void
conn_build_hello(struct conn *c, struct jbuf *b, enum msg_cmd cmd)
{
	msgb_begin(b, cmd);
	msgb_str(b, F_USERNAME, c->user);
	if (c->anonymous && cmd == CMD_LOGIN)
		msgb_null(b, F_SECRET);
	else
		msgb_str(b, F_SECRET, c->secret);
	msgb_features(b, c->requested);
	if (cmd == CMD_LOGIN && c->session[0] != '\0' &&
	    (c->prev_features & FEAT_BIT(FEAT_RESUME))) {
		msgb_key(b, F_RESUME);
		msgb_obj_begin(b);
		msgb_str(b, F_SESSION, c->session);
		if (c->token[0] != '\0')
			msgb_str(b, F_TOKEN, c->token);
		msgb_key(b, F_SEEN);
		dedup_json(&c->seen, b);
		/*
		 * Senders we never heard from: whatever they sent since
		 * shortly before the link went quiet.
		 */
		if (c->last_rx_wall > 1000)
			msgb_int(b, F_SINCE,
			    (long long)(c->last_rx_wall - 1000));
		msgb_obj_end(b);
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
		conn_set_state(c, LINK_REGISTERING);
	} else {
		conn_build_hello(c, &b, CMD_LOGIN);
		conn_set_state(c, LINK_LOGGING_IN);
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
	/* With --tls the certificate must name the host as given. */
	bev = c->tls != NULL ? tls_bev_connect(c->base, c->tls, host) :
	    bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
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
		if (!c->probing)
			conn_set_state(c, LINK_RESOLVING);
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

/* Make bev (connected or on its way) the link to t. */
static void
conn_attach(struct conn *c, const struct fo_target *t,
    struct bufferevent *bev, int connected)
{
	struct timeval	 tv;

	c->home = *t;
	c->bev = bev;
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

/* Start an attempt on t, dropping whatever link there was. */
void
conn_dial(struct conn *c, const struct fo_target *t)
{
	struct bufferevent	*bev;
	int			 connected = 0;

	conn_retire(c);
	evtimer_del(c->retry_ev);
	c->home = *t;
	conn_set_state(c, LINK_CONNECTING);
	frame_init(&c->fr, c->line_max);
	c->online_pending = 0;
	c->attempt_start = now_ms();
	log_info("connecting to %s:%d", t->host, t->port);

	if ((bev = c->dial(c, t, &connected)) == NULL) {
		conn_lost(c, "cannot open a connection");
		return;
	}
	conn_attach(c, t, bev, connected);
}

/*
 * Connect to host:port as the user asked (start-up, /connect, /login,
 * /register): a fresh start, so any failover schedule is forgotten.
 */
void
conn_open(struct conn *c, const char *host, int port)
{
	struct fo_target	 t;

	memset(&t, 0, sizeof t);
	strlcpy(t.host, host, sizeof t.host);
	t.port = port;
	conn_fresh(c);
	conn_dial(c, &t);
}

/* Forget the old server and any failover: the user chose a new start. */
static void
conn_fresh(struct conn *c)
{
	struct jbuf	 b;

	conn_probe_end(c);
	if (conn_online(c)) {
		jbuf_init(&b);
		msgb_begin(&b, CMD_LOGOUT);
		msgb_end(&b);
		conn_write_jbuf(c, &b);
	}
	c->stopping = 0;
	c->redirects = 0;
	c->first = 1;
	failover_end(&c->fo);
	c->out_of_service = 0;
	c->backoff_ms = 0;
	c->retry_at = 0;
	c->last_error[0] = '\0';
}

/* Drop a /connect attempt still on its way. */
static void
conn_probe_end(struct conn *c)
{
	if (c->probe != NULL) {
		bufferevent_free(c->probe);
		c->probe = NULL;
	}
	evtimer_del(c->probe_ev);
}

/* The new address of a /connect failed: say so and stay where we were. */
static void
conn_probe_failed(struct conn *c, const char *why)
{
	conn_probe_end(c);
	if (c->state == LINK_ONLINE)
		model_error(c->m, "cannot connect to %s:%d: %s; staying on "
		    "%s:%d", c->probe_to.host, c->probe_to.port, why,
		    c->home.host, c->home.port);
	else if (c->state == LINK_IDLE || c->state == LINK_FAILED ||
	    c->state == LINK_LOGGED_OUT)
		model_error(c->m, "cannot connect to %s:%d: %s; staying "
		    "offline", c->probe_to.host, c->probe_to.port, why);
	else
		model_error(c->m, "cannot connect to %s:%d: %s; still trying "
		    "%s:%d", c->probe_to.host, c->probe_to.port, why,
		    c->next.host, c->next.port);
	conn_emit(c, CONN_EV_CHANGED);
}

/* Why a connection attempt or a link failed, in words. */
static void
conn_event_why(struct bufferevent *bev, short what, char *why, size_t len)
{
	char	tlserr[160];
	int	dnserr;

	if (what & BEV_EVENT_EOF)
		snprintf(why, len, "server closed the connection");
	else if (tls_bev_error(bev, tlserr, sizeof tlserr) != NULL)
		snprintf(why, len, "TLS refused: %s", tlserr);
	else if ((dnserr = bufferevent_socket_get_dns_error(bev)) != 0)
		snprintf(why, len, "cannot resolve: %s",
		    evutil_gai_strerror(dnserr));
	else
		snprintf(why, len, "%s", evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
}

/* The /connect attempt connected, failed, or took too long. */
static void
conn_probe_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	char		 why[192];

	if (what & BEV_EVENT_CONNECTED) {
		c->probe = NULL;
		evtimer_del(c->probe_ev);
		conn_switch_to(c, bev, 1);
		return;
	}
	conn_event_why(bev, what, why, sizeof why);
	conn_probe_failed(c, why);
}

/* The /connect attempt has not connected in time. */
static void
conn_probe_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	char		 why[64];

	(void)fd;
	(void)what;
	snprintf(why, sizeof why, "no connection within %u ms", c->attempt_ms);
	conn_probe_failed(c, why);
}

/* The new address answered: leave the old server and log in there. */
static void
conn_switch_to(struct conn *c, struct bufferevent *bev, int connected)
{
	struct fo_target	 t = c->probe_to;

	conn_fresh(c);
	conn_retire(c);
	evtimer_del(c->retry_ev);
	evtimer_del(c->tick_ev);
	frame_init(&c->fr, c->line_max);
	c->online_pending = 0;
	c->attempt_start = now_ms();
	conn_set_state(c, LINK_CONNECTING);
	log_info("connected to %s:%d", t.host, t.port);
	conn_attach(c, &t, bev, connected);
}

/*
 * /connect: try host:port first and only leave the server we are on
 * once the new one accepts the connection.  A wrong or dead address
 * leaves everything as it was, failover count included.
 */
void
conn_connect(struct conn *c, const char *host, int port)
{
	struct bufferevent	*bev;
	struct timeval		 tv;
	int			 connected = 0;

	conn_probe_end(c);
	memset(&c->probe_to, 0, sizeof c->probe_to);
	strlcpy(c->probe_to.host, host, sizeof c->probe_to.host);
	c->probe_to.port = port;
	c->probing = 1;
	bev = c->dial(c, &c->probe_to, &connected);
	c->probing = 0;
	if (bev == NULL) {
		conn_probe_failed(c, "cannot open a connection");
		return;
	}
	if (connected) {
		conn_switch_to(c, bev, 1);
		return;
	}
	c->probe = bev;
	bufferevent_setcb(bev, NULL, NULL, conn_probe_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	tv.tv_sec = c->attempt_ms / 1000;
	tv.tv_usec = (c->attempt_ms % 1000) * 1000;
	evtimer_add(c->probe_ev, &tv);
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
	c->out_of_service = 0;
	conn_set_state(c, LINK_LOGGED_OUT);
	conn_emit(c, CONN_EV_CLOSED);
}

/* The server refused us: stay down, say why. */
void
conn_refused(struct conn *c, const char *why)
{
	strlcpy(c->last_error, why, sizeof c->last_error);
	c->stopping = 1;
	conn_retire(c);
	evtimer_del(c->retry_ev);
	evtimer_del(c->tick_ev);
	failover_end(&c->fo);
	c->out_of_service = 0;
	model_reports_lost(c->m);
	conn_set_state(c, LINK_FAILED);
	conn_emit(c, CONN_EV_FAILED);
}

/*
 * The link is gone (or an attempt failed).  Unless we closed it on
 * purpose, continue the failover: pick the next server and when.
 */
void
conn_lost(struct conn *c, const char *why)
{
	struct timeval	 tv;
	unsigned	 delay;
	int		 was_online = c->state == LINK_ONLINE;
	int		 no_answer = c->state == LINK_CONNECTING ||
			    c->state == LINK_RESOLVING;
	int		 silent = c->silent;

	conn_retire(c);
	evtimer_del(c->tick_ev);
	c->online_pending = 0;
	if (c->stopping || c->state == LINK_FAILED ||
	    c->state == LINK_LOGGED_OUT)
		return;
	model_reports_lost(c->m);
	snprintf(c->last_error, sizeof c->last_error, "%s:%d: %s",
	    c->home.host, c->home.port, why);
	log_info("%s", c->last_error);
	/*
	 * One line in the stream when the link goes and one when it is
	 * back; the retries in between show in the failover pane and the
	 * status line only.
	 */
	if (was_online) {
		model_error(c->m, "lost %s:%d: %s; failing over",
		    c->home.host, c->home.port, why);
		c->first = 0;
	} else if (c->first && !c->out_of_service && no_answer)
		model_error(c->m, "cannot connect to %s:%d: %s; is the server "
		    "running at %s:%d? (retrying)", c->home.host, c->home.port,
		    why, c->home.host, c->home.port);
	else if (c->first && !c->out_of_service)
		model_error(c->m, "cannot log in at %s:%d: %s (retrying)",
		    c->home.host, c->home.port, why);
	if (!c->out_of_service) {
		c->out_of_service = 1;
		/*
		 * A server that fell silent (stopped, or cut off) was out
		 * since it was last heard from, dead_ms before we gave it
		 * up.  A closed or broken link is news of its own: the
		 * server was there until then, however long it had had
		 * nothing to say.
		 */
		if (was_online && silent &&
		    (c->features & FEAT_BIT(FEAT_HEARTBEAT)) && c->last_rx != 0)
			c->down_since = c->last_rx;
		else
			c->down_since = now_ms();
		if (!c->first)
			c->failovers++;
	}
	failover_begin(&c->fo, &c->home);
	delay = failover_next(&c->fo, arc4random(), &c->next);
	if (c->next.port == 0) {
		model_error(c->m, "no server left to try");
		conn_set_state(c, LINK_IDLE);
		return;
	}
	c->backoff_ms = delay;
	c->retry_at = now_ms() + delay;
	conn_set_state(c, LINK_WAITING);
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
	log_info("failover: trying %s:%d (attempt %d)", t.host, t.port,
	    c->fo.attempt);
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
	if (c->state == LINK_ONLINE)
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
	if (c->state != LINK_ONLINE || c->bev == NULL)
		return;
	c->redirects = 0;
	if ((c->features & FEAT_BIT(FEAT_HEARTBEAT)) == 0)
		return;
	if (now - c->last_rx > c->dead_ms) {
		snprintf(why, sizeof why, "no reply for %u ms", c->dead_ms);
		c->silent = 1;
		conn_lost(c, why);
		c->silent = 0;
		return;
	}
	jbuf_init(&b);
	msgb_begin(&b, CMD_PING);
	msgb_int(&b, F_TS, (long long)now);
	msgb_end(&b);
	conn_write_jbuf(c, &b);
}

/* Reply INVALID_MESSAGE to a server that broke the protocol, and go. */
enum conn_ret
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

/*
 * LOGIN_SUCCESS was accepted: the link is up.  End the failover, start
 * the heartbeat; the owner hears "online" once the buffer is read.
 * Returns 1 when this ends a failover (and said so in the stream).
 */
int
conn_logged_in(struct conn *c)
{
	struct timeval	 tv;
	struct jbuf	 b;
	int		 back = 0;

	c->m->online_since = now_ms();
	c->m->logins++;
	if (c->out_of_service && !c->first) {
		back = 1;
		c->last_outage_ms = now_ms() - c->down_since;
		model_info(c->m, "failover done: back online at %s:%d after "
		    "%llu ms%s%s", c->home.host, c->home.port,
		    (unsigned long long)c->last_outage_ms,
		    c->m->resume[0] != '\0' ? "; resume " : "", c->m->resume);
	}
	c->out_of_service = 0;
	c->first = 0;
	c->backoff_ms = 0;
	c->m->dirty |= MODEL_D_ALL;
	failover_end(&c->fo);
	conn_set_state(c, LINK_ONLINE);
	evtimer_del(c->attempt_ev);
	if (!evtimer_pending(c->tick_ev, NULL)) {
		tv.tv_sec = c->ping_ms / 1000;
		tv.tv_usec = (c->ping_ms % 1000) * 1000;
		event_add(c->tick_ev, &tv);
	}
	if (c->features & FEAT_BIT(FEAT_HEARTBEAT)) {
		jbuf_init(&b);
		msgb_begin(&b, CMD_PING);
		msgb_int(&b, F_TS, (long long)now_ms());
		msgb_end(&b);
		conn_write_jbuf(c, &b);
	}
	return back;
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

	msg = xmalloc(sizeof *msg);
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
		if (conn_recv_duplicate(c, msg)) {
			frame_done(&c->fr, in, &f);
			continue;
		}
		if (c->history_pending && msg->cmd == CMD_ACTIVITY_BROADCAST &&
		    conn_hold(c, f.line, f.len) == 0) {
			frame_done(&c->fr, in, &f);
			continue;
		}
		if (c->line_cb != NULL)
			c->line_cb(c, f.line, f.len, c->arg);
		rc = conn_recv(c, msg);
		if (c->bev == bev)
			frame_done(&c->fr, in, &f);
		if (rc == CONN_OK && !c->history_pending && c->held != NULL &&
		    evbuffer_get_length(c->held) > 0)
			rc = conn_release(c, msg);
	}
	free(msg);
	if (c->online_pending && c->bev == bev &&
	    c->state == LINK_ONLINE) {
		c->online_pending = 0;
		if (c->resend_pending)
			conn_unacked_resend(c);
		c->resend_pending = 0;
		conn_flush_queue(c);
		conn_emit(c, CONN_EV_ONLINE);
	} else
		conn_emit(c, CONN_EV_CHANGED);
}

/*
 * Keep a live line until the history page asked for on login has come,
 * so the page is shown (or printed) first; -1 if the hold is full.
 */
static int
conn_hold(struct conn *c, const char *line, size_t len)
{
	if (c->held == NULL && (c->held = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	if (evbuffer_get_length(c->held) + len + 1 > CONN_HELD_MAX)
		return -1;
	evbuffer_add(c->held, line, len);
	evbuffer_add(c->held, "\n", 1);
	return 0;
}

/* The page is over: handle the live lines held behind it, in order. */
static enum conn_ret
conn_release(struct conn *c, struct msg *msg)
{
	enum conn_ret	 rc = CONN_OK;
	char		*line, err[256];
	size_t		 len;

	while (rc == CONN_OK && (line = evbuffer_readln(c->held, &len,
	    EVBUFFER_EOL_LF)) != NULL) {
		if (msg_parse(line, len, msg, err, sizeof err) == 0) {
			if (c->line_cb != NULL)
				c->line_cb(c, line, len, c->arg);
			rc = conn_recv(c, msg);
		}
		free(line);
	}
	if (rc != CONN_OK)
		evbuffer_drain(c->held, evbuffer_get_length(c->held));
	return rc;
}

/* Connected, or the link failed: log in, or fail over. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	char		 why[192];

	if (what & BEV_EVENT_CONNECTED) {
		conn_connected(c);
		return;
	}
	conn_event_why(bev, what, why, sizeof why);
	conn_lost(c, why);
}
