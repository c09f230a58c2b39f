/*
 * A server without sockets, for unit tests of the lock protocol and of
 * dispatch: server_new() on a private event_base, each connection one
 * end of a bufferevent_pair handed to peer_new(), the test holding the
 * other end.  The clock is frozen (clock_mock) so deadlines move only
 * when a test says so.  Included by the test files that need it; every
 * helper is static inline so a file that uses only some of them still
 * builds without warnings.
 */
#ifndef TEST_FIXTURE_H
#define TEST_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cJSON.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth.h"
#include "clock.h"
#include "lock.h"
#include "log.h"
#include "registry.h"
#include "server.h"

#define FX_CLOCK_START	1000000		/* ms; any fixed value */
#define FX_SECRET	"abc"
#define FX_CONNS_MAX	16

struct fx_conn {
	struct bufferevent	*mine;	/* the test's end */
	struct peer		*peer;	/* the server's peer, until freed */
	uint64_t		 serial;
	int			 eof;	/* the server end went away */
};

struct fx {
	struct event_base	*base;
	struct server		*srv;
	struct fx_conn		 conns[FX_CONNS_MAX];
	int			 nconns;
	uint64_t		 now;
};

/* The daemon's default configuration, secret "abc", quiet logs. */
static inline void
fx_config(struct config *c)
{
	config_defaults(c);
	c->liveness_ms = 4 * c->announce_ms;
	c->verbose = LOG_LVL_WARN;
	snprintf(c->secret, sizeof c->secret, "%s", FX_SECRET);
	c->secret_given = 1;
	/* The tests play servers with the base protocol's AUTHENTICATE. */
	c->allow_base_servers = 1;
	/* Slow hashes run inline, their results still through the loop. */
	c->hash_threads = 0;
}

/* A server with this id (NULL: the random one) and configuration. */
static inline struct fx *
fx_new_cfg(const char *id, const struct config *cfg)
{
	struct fx	*fx;

	log_init("unit", LOG_LVL_WARN);
	fx = calloc(1, sizeof *fx);
	assert_non_null(fx);
	fx->now = FX_CLOCK_START;
	clock_mock(fx->now);
	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->srv = server_new(fx->base, cfg);
	assert_non_null(fx->srv);
	if (id != NULL) {
		snprintf(fx->srv->id, sizeof fx->srv->id, "%s", id);
		/* The path from the root starts as just our id. */
		free(fx->srv->path[0]);
		fx->srv->path[0] = strdup(fx->srv->id);
		assert_int_equal(fx->srv->pathlen, 1);
	}
	return fx;
}

static inline struct fx *
fx_new(const char *id)
{
	struct config	 cfg;

	fx_config(&cfg);
	return fx_new_cfg(id, &cfg);
}

/* Let the loop deliver everything queued, deferred frees included. */
static inline void
fx_run(struct fx *fx)
{
	int	 i;

	for (i = 0; i < 8; i++)
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
}

/* Move the frozen clock on and run the cron tick, as the timer would. */
static inline void
fx_advance(struct fx *fx, uint64_t ms)
{
	fx->now += ms;
	clock_mock(fx->now);
	cron_tick(fx->srv);
	fx_run(fx);
}

static inline void
fx_free(struct fx *fx)
{
	int	 i;

	server_free(fx->srv);
	for (i = 0; i < fx->nconns; i++)
		bufferevent_free(fx->conns[i].mine);
	event_base_free(fx->base);
	clock_mock(0);
	free(fx);
}

static inline void
fx_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct fx_conn	*c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		c->eof = 1;
}

/* A new connection, as if accepted. */
static inline struct fx_conn *
fx_connect(struct fx *fx)
{
	struct bufferevent	*pair[2];
	struct fx_conn		*c;

	assert_true(fx->nconns < FX_CONNS_MAX);
	assert_int_equal(bufferevent_pair_new(fx->base,
	    BEV_OPT_DEFER_CALLBACKS, pair), 0);
	c = &fx->conns[fx->nconns++];
	memset(c, 0, sizeof *c);
	c->mine = pair[1];
	bufferevent_setcb(c->mine, NULL, NULL, fx_event_cb, c);
	bufferevent_enable(c->mine, EV_READ | EV_WRITE);
	c->peer = peer_new(fx->srv, pair[0], "test", 0);
	assert_non_null(c->peer);
	c->serial = c->peer->serial;
	return c;
}

/* The server's peer for c, or NULL once it has been freed. */
static inline struct peer *
fx_peer(struct fx *fx, struct fx_conn *c)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &fx->srv->peers, entry)
		if (p->serial == c->serial)
			return p;
	return NULL;
}

/* Is the connection open on the server's side (not closing, not freed)? */
static inline int
fx_open(struct fx *fx, struct fx_conn *c)
{
	struct peer	*p = fx_peer(fx, c);

	return p != NULL && !p->closing;
}

/* Write raw bytes from the test's end and let the server act. */
static inline void
fx_write(struct fx *fx, struct fx_conn *c, const void *data, size_t len)
{
	assert_int_equal(bufferevent_write(c->mine, data, len), 0);
	fx_run(fx);
}

/* Send one line (the newline is added). */
static inline void
fx_send(struct fx *fx, struct fx_conn *c, const char *line)
{
	assert_int_equal(bufferevent_write(c->mine, line, strlen(line)), 0);
	assert_int_equal(bufferevent_write(c->mine, "\n", 1), 0);
	fx_run(fx);
}

static inline void
fx_sendf(struct fx *fx, struct fx_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void
fx_sendf(struct fx *fx, struct fx_conn *c, const char *fmt, ...)
{
	char	 buf[8192];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof buf);
	fx_send(fx, c, buf);
}

/* The next line the server sent on c (caller frees), or NULL. */
static inline char *
fx_recv(struct fx_conn *c)
{
	return evbuffer_readln(bufferevent_get_input(c->mine), NULL,
	    EVBUFFER_EOL_LF);
}

/* Throw away whatever the server has sent on c so far. */
static inline int
fx_drain(struct fx_conn *c)
{
	char	*l;
	int	 n = 0;

	while ((l = fx_recv(c)) != NULL) {
		free(l);
		n++;
	}
	return n;
}

/* Nothing (more) was sent on c. */
static inline void
fx_expect_nothing(struct fx_conn *c)
{
	char	*l = fx_recv(c);

	if (l != NULL)
		fail_msg("expected nothing, got: %s", l);
}

/*
 * The next line on c must be a JSON object with this command; returns
 * it parsed (free with cJSON_Delete).
 */
static inline cJSON *
fx_expect(struct fx_conn *c, const char *command)
{
	cJSON	*j, *cmd;
	char	*l = fx_recv(c);

	if (l == NULL)
		fail_msg("expected %s, got nothing", command);
	j = cJSON_Parse(l);
	if (j == NULL)
		fail_msg("expected %s, got unparsable: %s", command, l);
	cmd = cJSON_GetObjectItemCaseSensitive(j, "command");
	if (!cJSON_IsString(cmd) || strcmp(cmd->valuestring, command) != 0)
		fail_msg("expected %s, got: %s", command, l);
	free(l);
	return j;
}

/* The next line on c must have this command; its fields do not matter. */
static inline void
fx_see(struct fx_conn *c, const char *command)
{
	cJSON_Delete(fx_expect(c, command));
}

/* Skip lines until one with this command (others are dropped); NULL
 * if none came. */
static inline cJSON *
fx_expect_skip_opt(struct fx_conn *c, const char *command)
{
	cJSON	*j, *cmd;
	char	*l;

	while ((l = fx_recv(c)) != NULL) {
		j = cJSON_Parse(l);
		free(l);
		if (j == NULL)
			continue;
		cmd = cJSON_GetObjectItemCaseSensitive(j, "command");
		if (cJSON_IsString(cmd) && strcmp(cmd->valuestring,
		    command) == 0)
			return j;
		cJSON_Delete(j);
	}
	return NULL;
}

/* Skip lines until one with this command (others are dropped). */
static inline cJSON *
fx_expect_skip(struct fx_conn *c, const char *command)
{
	cJSON	*j = fx_expect_skip_opt(c, command);

	if (j == NULL)
		fail_msg("expected %s, never came", command);
	return j;
}

/* A string member of j, or NULL. */
static inline const char *
fx_str(const cJSON *j, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(j, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Expect {command, info} with this info, exactly. */
static inline void
fx_expect_info(struct fx_conn *c, const char *command, const char *info)
{
	cJSON	*j = fx_expect(c, command);

	assert_non_null(fx_str(j, "info"));
	assert_string_equal(fx_str(j, "info"), info);
	cJSON_Delete(j);
}

/* Expect {command, info} whose info contains this text. */
static inline void
fx_expect_info_has(struct fx_conn *c, const char *command, const char *text)
{
	cJSON	*j = fx_expect(c, command);

	assert_non_null(fx_str(j, "info"));
	if (strstr(fx_str(j, "info"), text) == NULL)
		fail_msg("%s info \"%s\" lacks \"%s\"", command,
		    fx_str(j, "info"), text);
	cJSON_Delete(j);
}

/* A server link: a connection that authenticated with the right secret. */
static inline struct fx_conn *
fx_link(struct fx *fx, const char *id)
{
	struct fx_conn	*c = fx_connect(fx);
	int		 i;

	fx_sendf(fx, c, "{\"command\":\"AUTHENTICATE\",\"secret\":\"%s\","
	    "\"id\":\"%s\",\"host\":\"localhost\",\"port\":9000}",
	    fx->srv->cfg.secret, id);
	fx_see(c, "AUTHENTICATE_SUCCESS");
	assert_true(fx_open(fx, c));
	assert_int_equal(c->peer->role, PEER_SERVER);
	/* Earlier links heard our announce again: forget it everywhere. */
	for (i = 0; i < fx->nconns; i++)
		fx_drain(&fx->conns[i]);
	return c;
}

/* A client logged in anonymously. */
static inline struct fx_conn *
fx_client(struct fx *fx)
{
	struct fx_conn	*c = fx_connect(fx);

	fx_send(fx, c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\"}");
	fx_expect_info_has(c, "LOGIN_SUCCESS", "anonymous");
	fx_expect_nothing(c);
	assert_int_equal(c->peer->role, PEER_CLIENT);
	return c;
}

/*
 * The server's newest outgoing connection (the uplink dialing), moved
 * onto a bufferevent pair: the returned conn is the test's end.
 */
static inline struct fx_conn *
fx_adopt_outgoing(struct fx *fx)
{
	struct bufferevent	*pair[2], *old;
	bufferevent_data_cb	 rcb, wcb;
	bufferevent_event_cb	 ecb;
	struct fx_conn		*c;
	struct peer		*p;
	void			*arg;

	p = TAILQ_LAST(&fx->srv->peers, peer_list);
	assert_non_null(p);
	assert_true(p->outgoing);
	assert_int_equal(bufferevent_pair_new(fx->base,
	    BEV_OPT_DEFER_CALLBACKS, pair), 0);
	old = p->bev;
	bufferevent_getcb(old, &rcb, &wcb, &ecb, &arg);
	p->bev = pair[0];
	bufferevent_setcb(pair[0], rcb, wcb, ecb, arg);
	bufferevent_enable(pair[0], EV_READ | EV_WRITE);
	bufferevent_free(old);
	assert_true(fx->nconns < FX_CONNS_MAX);
	c = &fx->conns[fx->nconns++];
	memset(c, 0, sizeof *c);
	c->mine = pair[1];
	c->peer = p;
	c->serial = p->serial;
	bufferevent_setcb(c->mine, NULL, NULL, fx_event_cb, c);
	bufferevent_enable(c->mine, EV_READ | EV_WRITE);
	return c;
}

/*
 * Play the parent P of an adopted uplink (path ["P"]) through the
 * handshake, checking the joiner's proof; with good_proof, prove it
 * and accept.  Returns with AUTHENTICATE_SUCCESS sent.
 */
static inline void
fx_parent_accepts(struct fx *fx, struct fx_conn *c, int good_proof)
{
	uint8_t		 key[AUTH_KEY_LEN], tk[AUTH_TOKEN_KEY_LEN];
	char		 nj[AUTH_NONCE_HEX], np[AUTH_NONCE_HEX];
	char		 tkhex[AUTH_TOKEN_KEY_HEX], proof[AUTH_MAC_HEX];
	cJSON		*j;

	assert_int_equal(auth_derive_key(FX_SECRET, key), 0);
	j = fx_expect(c, "SERVER_HELLO");
	snprintf(nj, sizeof nj, "%s", fx_str(j, "nonce"));
	cJSON_Delete(j);
	assert_int_equal(auth_nonce(np), 0);
	fx_sendf(fx, c, "{\"command\":\"SERVER_CHALLENGE\",\"nonce\":\"%s\"}",
	    np);
	j = fx_expect(c, "SERVER_PROOF");
	assert_true(auth_proof_ok(key, AUTH_LABEL_JOIN, nj, np, NULL,
	    fx_str(j, "proof")));
	cJSON_Delete(j);
	memset(tk, 7, sizeof tk);
	auth_hex(tk, sizeof tk, tkhex);
	auth_proof(key, AUTH_LABEL_ACCEPT, nj, np, tkhex, proof);
	if (!good_proof)
		proof[0] = proof[0] == '0' ? '1' : '0';
	fx_sendf(fx, c, "{\"command\":\"AUTHENTICATE_SUCCESS\",\"id\":\"P\","
	    "\"host\":\"127.0.0.1\",\"port\":1,\"path\":[\"P\"],"
	    "\"token_key\":\"%s\",\"proof\":\"%s\",\"users\":[]}", tkhex,
	    proof);
}

/* A LOCK_* line (cmd) about username/secret from origin, sent on c. */
static inline void
fx_send_lock(struct fx *fx, struct fx_conn *c, const char *cmd,
    const char *user, const char *secret, const char *origin)
{
	fx_sendf(fx, c, "{\"command\":\"%s\",\"username\":\"%s\","
	    "\"secret\":\"%s\",\"origin\":\"%s\"}", cmd, user, secret, origin);
}

/* Close the test's end for writing: the server sees end of file. */
static inline void
fx_hangup(struct fx *fx, struct fx_conn *c)
{
	bufferevent_flush(c->mine, EV_WRITE, BEV_FINISHED);
	fx_run(fx);
}

#endif
