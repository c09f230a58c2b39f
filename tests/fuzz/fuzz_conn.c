/*
 * libFuzzer target: one server connection fed a hostile byte stream.
 *
 * Each input builds a fresh server (no sockets: every connection is one
 * end of a bufferevent_pair handed to peer_new(), the clock frozen with
 * clock_mock) and puts one connection into a state chosen by the first
 * byte:
 *
 *   0  unauthenticated (nothing sent yet)
 *   1  a logged-in client (anonymous or a registered user, with or
 *      without the protocol extensions)
 *   2  an authenticated server link (a correct AUTHENTICATE sent)
 *   3  our uplink, SERVER_HELLO sent: the stream plays the parent from
 *      its first answer on (the handshake itself is fuzzed); with 0x80
 *      the harness plays the parent through the handshake first, with
 *      the known cluster secret, so the stream is what a proved parent
 *      says afterwards (the post-join uplink code is fuzzed)
 *
 * Optional bystanders (a second client, a second server link, a client
 * that never reads) give broadcasts, lock fan-outs, reports and output
 * caps somewhere to go.  The rest of the input is written in chunks;
 * between chunks the loop runs and the mock clock moves on with a cron
 * tick, so timeouts, announces, reports and the hold-back queue run.
 * At the end the connection hangs up, time runs out, and everything is
 * freed (LeakSanitizer checks nothing is left).
 *
 * Invariants checked on everything the server writes: every line is a
 * JSON object the command table accepts; a client that asked for no
 * extension hears only base-protocol commands; an activity a client
 * sent reaches the others with exactly one authenticated_user, the one
 * it logged in as.
 *
 * Layout: byte 0 mode (bits 0-1) and bystanders (0x04 a client that
 * reads, 0x08 a server link that reads, 0x10 a client that never
 * reads, 0x40 a server link that never reads), 0x20: the fuzzed end
 * never reads either, so answers to it fail at the output cap (small
 * here) and close it in mid-handler; byte 1 chunk size, byte 2 clock
 * step, byte 3 login options (bits 0-1) and the output caps (bits 2-7:
 * 0 is 4 KiB, else 1 KiB and 64 bytes a step, so the fuzzer can put a
 * cap just where a given answer overflows it); 0x80 of byte 0: mode 3
 * with the handshake done; the rest is the stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "msg.h"
#include "registry.h"
#include "server.h"
#include "uplink.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

#define FZ_SECRET	"abc"
#define FZ_CLOCK_START	1000000
#define FZ_USER		"alice"
#define FZ_USER_SECRET	"pw"
#define FZ_PROVED	0x80	/* byte 0: mode 3 past the handshake */

/* Computed once: slow on purpose (scrypt, yescrypt). */
static uint8_t	 fz_link_key[AUTH_KEY_LEN];
static char	 fz_hash_alice[256], fz_hash_bob[256], fz_hash_carol[256];

enum fz_mode { FZ_NEW, FZ_CLIENT, FZ_SERVER, FZ_UPLINK };

struct fz_end {
	struct bufferevent	*mine;		/* the fuzzer's end */
	int			 base_only;	/* asked for no extension */
	int			 check_user;	/* activities carry ours */
	int			 reads;
};

struct fz {
	struct event_base	*base;
	struct server		*srv;
	struct fz_end		 ends[6];
	int			 nends;
	char			 user[64];
	int			 client_mode;
};

static struct msg	 omsg;

static void
fz_run(struct fz *z)
{
	int	 i;

	for (i = 0; i < 6; i++)
		event_base_loop(z->base, EVLOOP_NONBLOCK);
}

/* authenticated_user must appear once in the activity, with our name. */
static void
check_activity_user(const struct msg *m, const char *user)
{
	struct json_iter	 it;
	struct json_span	 key, val;
	enum json_type		 t;
	char			 dec[300];
	int			 n = 0;

	CHECK(m->type[F_ACTIVITY] == JSON_OBJECT);
	json_iter_object(&it, m->val[F_ACTIVITY]);
	while (json_next_member(&it, &key, &val, &t)) {
		if (!json_key_eq(key, "authenticated_user"))
			continue;
		n++;
		CHECK(t == JSON_STRING);
		val.p++;
		val.len -= 2;
		CHECK(json_str_decode(val, dec, sizeof dec, NULL) == 0);
		CHECK(strcmp(dec, user) == 0);
	}
	CHECK(n == 1);
}

/* What the server wrote to one of our ends must be well formed. */
static void
check_output(struct fz *z, struct fz_end *e)
{
	struct evbuffer	*in = bufferevent_get_input(e->mine);
	char		 err[512];
	char		*line;
	size_t		 len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		if (msg_parse(line, len, &omsg, err, sizeof err) != 0) {
			fprintf(stderr, "server wrote an invalid line (%s): "
			    "%.*s\n", err, (int)(len > 300 ? 300 : len), line);
			abort();
		}
		if (e->base_only)
			CHECK(omsg.cmd == CMD_LOGIN_SUCCESS ||
			    omsg.cmd == CMD_LOGIN_FAILED ||
			    omsg.cmd == CMD_REDIRECT ||
			    omsg.cmd == CMD_ACTIVITY_BROADCAST ||
			    omsg.cmd == CMD_INVALID_MESSAGE ||
			    omsg.cmd == CMD_AUTHENTICATION_FAIL ||
			    omsg.cmd == CMD_REGISTER_SUCCESS ||
			    omsg.cmd == CMD_REGISTER_FAILED ||
			    omsg.cmd == CMD_PONG);
		if (e->check_user && omsg.cmd == CMD_ACTIVITY_BROADCAST)
			check_activity_user(&omsg, z->user);
		free(line);
	}
}

static void
fz_check_all(struct fz *z)
{
	int	 i;

	for (i = 0; i < z->nends; i++)
		if (z->ends[i].reads)
			check_output(z, &z->ends[i]);
}

/* A new connection as if accepted; returns the server's peer. */
static struct peer *
fz_connect(struct fz *z, struct fz_end **ep, int reads)
{
	struct bufferevent	*pair[2];
	struct fz_end		*e = &z->ends[z->nends++];
	struct peer		*p;

	if (bufferevent_pair_new(z->base, BEV_OPT_DEFER_CALLBACKS, pair) != 0)
		abort();
	memset(e, 0, sizeof *e);
	e->mine = pair[1];
	e->reads = reads;
	bufferevent_enable(e->mine, reads ? EV_READ | EV_WRITE : EV_WRITE);
	if (!reads)
		bufferevent_disable(e->mine, EV_READ);
	p = peer_new(z->srv, pair[0], "fuzz", 0);
	*ep = e;
	return p;
}

static void
fz_send(struct fz *z, struct fz_end *e, const char *line)
{
	bufferevent_write(e->mine, line, strlen(line));
	bufferevent_write(e->mine, "\n", 1);
	fz_run(z);
	fz_check_all(z);
}

/*
 * Our uplink, put on a bufferevent pair: start the real state machine
 * towards a closed port, then move the peer's callbacks from its socket
 * to our pair and report the connection up, so it sends AUTHENTICATE.
 */
static struct fz_end *
fz_uplink(struct fz *z, int proved)
{
	struct bufferevent	*pair[2], *old;
	bufferevent_data_cb	 rcb, wcb;
	bufferevent_event_cb	 ecb;
	struct fz_end		*e = &z->ends[z->nends++];
	struct peer		*p;
	void			*arg;

	uplink_start(z->srv, "127.0.0.1", 1);
	p = TAILQ_LAST(&z->srv->peers, peer_list);
	CHECK(p != NULL && p->outgoing && p->role == PEER_UPLINK_AUTH);
	if (bufferevent_pair_new(z->base, BEV_OPT_DEFER_CALLBACKS, pair) != 0)
		abort();
	old = p->bev;
	bufferevent_getcb(old, &rcb, &wcb, &ecb, &arg);
	p->bev = pair[0];
	bufferevent_setcb(pair[0], rcb, wcb, ecb, arg);
	bufferevent_enable(pair[0], EV_READ | EV_WRITE);
	bufferevent_free(old);
	memset(e, 0, sizeof *e);
	e->mine = pair[1];
	e->reads = 1;
	bufferevent_enable(e->mine, EV_READ | EV_WRITE);
	ecb(pair[0], BEV_EVENT_CONNECTED, arg);
	fz_run(z);
	if (!proved)
		fz_check_all(z);	/* else fz_uplink_prove() reads it */
	return e;
}

/* The next line the server wrote to e, parsed into m; aborts if none. */
static void
fz_expect(struct fz_end *e, enum msg_cmd cmd, struct msg *m, char **linep)
{
	char	 err[512];
	size_t	 len;

	*linep = evbuffer_readln(bufferevent_get_input(e->mine), &len,
	    EVBUFFER_EOL_LF);
	CHECK(*linep != NULL);
	CHECK(msg_parse(*linep, len, m, err, sizeof err) == 0);
	CHECK(m->cmd == cmd);
}

/*
 * Play the parent through the handshake with the cluster secret: answer
 * SERVER_HELLO with a challenge, check the joiner's proof, then accept
 * with our own proof, a token key and a user, as a real parent would.
 * Without this the fuzzer, which cannot forge a proof, would never get
 * past AUTHENTICATE_SUCCESS.
 */
static void
fz_uplink_prove(struct fz *z, struct fz_end *e)
{
	uint8_t	 tk[AUTH_TOKEN_KEY_LEN];
	char	 nj[AUTH_NONCE_HEX], np[AUTH_NONCE_HEX];
	char	 tkhex[AUTH_TOKEN_KEY_HEX], proof[AUTH_MAC_HEX];
	char	 buf[1024], *l;

	fz_expect(e, CMD_SERVER_HELLO, &omsg, &l);
	CHECK(strlen(omsg.str[F_NONCE]) == AUTH_NONCE_HEX - 1);
	memcpy(nj, omsg.str[F_NONCE], AUTH_NONCE_HEX);
	free(l);
	/* Fixed, not random: an input must replay the same way. */
	memset(np, 'a', sizeof np - 1);
	np[sizeof np - 1] = '\0';
	snprintf(buf, sizeof buf, "{\"command\":\"SERVER_CHALLENGE\","
	    "\"nonce\":\"%s\"}", np);
	bufferevent_write(e->mine, buf, strlen(buf));
	bufferevent_write(e->mine, "\n", 1);
	fz_run(z);
	fz_expect(e, CMD_SERVER_PROOF, &omsg, &l);
	CHECK(auth_proof_ok(fz_link_key, AUTH_LABEL_JOIN, nj, np, NULL,
	    omsg.str[F_PROOF]));
	free(l);
	memset(tk, 7, sizeof tk);
	auth_hex(tk, sizeof tk, tkhex);
	auth_proof(fz_link_key, AUTH_LABEL_ACCEPT, nj, np, tkhex, proof);
	snprintf(buf, sizeof buf, "{\"command\":\"AUTHENTICATE_SUCCESS\","
	    "\"id\":\"parent1\",\"host\":\"localhost\",\"port\":9004,"
	    "\"path\":[\"parent1\"],\"token_key\":\"%s\",\"proof\":\"%s\","
	    "\"users\":[{\"username\":\"carol\",\"secret\":\"%s\","
	    "\"time\":5,\"origin\":\"parent1\"}]}", tkhex, proof,
	    fz_hash_carol);
	fz_send(z, e, buf);
	CHECK(uplink_state(z->srv) == UPLINK_ESTABLISHED);
	CHECK(registry_find(z->srv->reg, "carol") != NULL);
}

static void
fz_config(struct config *c, uint8_t caps)
{
	config_defaults(c);
	snprintf(c->secret, sizeof c->secret, "%s", FZ_SECRET);
	c->secret_given = 1;
	c->allow_base_servers = 1;
	c->hash_threads = 0;
	c->verbose = LOG_LVL_WARN;
	/* Small caps, so the limits are reached by short inputs. */
	c->max_msg = 4096;
	c->client_outbuf = caps >> 2 == 0 ? 4096 :
	    1024 + (size_t)(caps >> 2) * 64;
	c->server_outbuf = c->client_outbuf;
	c->max_conns = 16;
	c->max_servers = 8;
	c->max_pending_reg = 4;
	c->announce_ms = 1000;
	c->liveness_ms = 4000;
	c->register_timeout_ms = 1000;
	c->auth_timeout_ms = 2000;
	c->heartbeat_ms = 500;
	c->heartbeat_timeout_ms = 2000;
	/* Never reconnect for real: failover waits on a timer. */
	c->reconnect_delay_ms = 3600 * 1000;
	c->dcfg.order_wait_ms = 200;
	c->dcfg.report_timeout_ms = 1000;
	c->dcfg.replay_max = 64;
	c->dcfg.replay_bytes = 64 * 1024;
	c->dcfg.replay_window_ms = 60000;
	c->dcfg.max_senders = 8;
	c->dcfg.max_reports = 8;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_WARN);
	if (auth_init() != 0 || auth_derive_key(FZ_SECRET, fz_link_key) != 0 ||
	    hashpool_hash(FZ_USER_SECRET, fz_hash_alice,
	    sizeof fz_hash_alice) != 0 ||
	    hashpool_hash("s", fz_hash_bob, sizeof fz_hash_bob) != 0 ||
	    hashpool_hash("c", fz_hash_carol, sizeof fz_hash_carol) != 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const features =
	    "[\"backup_list\",\"cluster_status\",\"activity_seq\","
	    "\"sending_report\",\"resume\",\"heartbeat\"]";
	struct fz		 z;
	struct config		 cfg;
	struct fz_end		*e = NULL, *x;
	enum fz_mode		 mode;
	uint64_t		 now = FZ_CLOCK_START;
	size_t			 chunk, step, off, n;
	char			 line[512];
	int			 i;

	if (size < 4)
		return 0;
	memset(&z, 0, sizeof z);
	mode = (enum fz_mode)(data[0] & 3);
	chunk = 1 + (size_t)data[1] * 4;
	step = (size_t)data[2] * 20;
	clock_mock(now);
	fz_config(&cfg, data[3]);
	if ((z.base = event_base_new()) == NULL)
		abort();
	z.srv = server_new(z.base, &cfg);
	registry_put(z.srv->reg, FZ_USER, fz_hash_alice, 1, "origin0");
	registry_put(z.srv->reg, "bob", fz_hash_bob, 2, "origin0");

	/* Bystanders first, so they see what the fuzzed peer causes. */
	if (data[0] & 0x04) {
		fz_connect(&z, &x, 1);
		x->base_only = 1;
		fz_send(&z, x, "{\"command\":\"LOGIN\",\"username\":"
		    "\"anonymous\"}");
	}
	if (data[0] & 0x08) {
		fz_connect(&z, &x, 1);
		fz_send(&z, x, "{\"command\":\"AUTHENTICATE\",\"secret\":\""
		    FZ_SECRET "\",\"id\":\"bystander\",\"host\":\"localhost\","
		    "\"port\":9001}");
	}
	if (data[0] & 0x40) {
		fz_connect(&z, &x, 0);	/* joins, never reads */
		snprintf(line, sizeof line, "{\"command\":\"AUTHENTICATE\","
		    "\"secret\":\"" FZ_SECRET "\",\"id\":\"deaf\",\"host\":"
		    "\"localhost\",\"port\":9002}\n");
		bufferevent_write(x->mine, line, strlen(line));
		fz_run(&z);
	}
	if (data[0] & 0x10) {
		fz_connect(&z, &x, 0);	/* logs in, never reads */
		snprintf(line, sizeof line, "{\"command\":\"LOGIN\","
		    "\"username\":\"anonymous\",\"features\":%s}\n",
		    features);
		bufferevent_write(x->mine, line, strlen(line));
		fz_run(&z);
	}

	switch (mode) {
	case FZ_NEW:
		fz_connect(&z, &e, 1);
		break;
	case FZ_CLIENT:
		fz_connect(&z, &e, 1);
		z.client_mode = 1;
		snprintf(z.user, sizeof z.user, "%s",
		    data[3] & 1 ? FZ_USER : "anonymous");
		snprintf(line, sizeof line, "{\"command\":\"LOGIN\","
		    "\"username\":\"%s\",\"secret\":%s%s%s}", z.user,
		    data[3] & 1 ? "\"" FZ_USER_SECRET "\"" : "null",
		    data[3] & 2 ? ",\"features\":" : "",
		    data[3] & 2 ? features : "");
		e->base_only = !(data[3] & 2);
		fz_send(&z, e, line);
		/* Every activity anyone hears now is this client's. */
		for (i = 0; i < z.nends; i++)
			z.ends[i].check_user = 1;
		break;
	case FZ_SERVER:
		fz_connect(&z, &e, 1);
		fz_send(&z, e, "{\"command\":\"AUTHENTICATE\",\"secret\":\""
		    FZ_SECRET "\",\"id\":\"peer1\",\"host\":\"localhost\","
		    "\"port\":9000}");
		break;
	case FZ_UPLINK:
		e = fz_uplink(&z, data[0] & FZ_PROVED);
		if (data[0] & FZ_PROVED)
			fz_uplink_prove(&z, e);
		break;
	}

	if (data[0] & 0x20) {
		/* From here on the fuzzed end reads nothing. */
		bufferevent_disable(e->mine, EV_READ);
		e->reads = 0;
	}
	data += 4;
	size -= 4;
	for (off = 0; off < size; off += n) {
		n = size - off < chunk ? size - off : chunk;
		bufferevent_write(e->mine, data + off, n);
		fz_run(&z);
		fz_check_all(&z);
		if (step > 0) {
			now += step;
			clock_mock(now);
			cron_tick(z.srv);
			fz_run(&z);
			fz_check_all(&z);
		}
	}
	/* Hang up, and let every deadline pass. */
	bufferevent_flush(e->mine, EV_WRITE, BEV_FINISHED);
	fz_run(&z);
	fz_check_all(&z);
	for (i = 0; i < 3; i++) {
		now += 5000;
		clock_mock(now);
		cron_tick(z.srv);
		fz_run(&z);
		fz_check_all(&z);
	}

	server_free(z.srv);
	for (i = 0; i < z.nends; i++)
		bufferevent_free(z.ends[i].mine);
	event_base_free(z.base);
	clock_mock(0);
	return 0;
}
