/*
 * Mutual authentication of server links: a challenge-response over a
 * fresh nonce from each side, keyed with the link key (scrypt of the
 * cluster secret, derived once at start-up).
 *
 *   joiner                                 acceptor
 *   SERVER_HELLO {nonce: nJ}          ->
 *                                     <-   SERVER_CHALLENGE {nonce: nP}
 *   SERVER_PROOF {proof: MAC(join, nJ, nP), id, host, port, load}  ->
 *              acceptor checks the proof; a wrong one: AUTHENTICATION_FAIL
 *                                     <-   AUTHENTICATE_SUCCESS {..., users,
 *                  token_key: K xor MAC(wrap, nJ, nP),
 *                  proof: MAC(accept, nJ, nP, token_key)}
 *   joiner checks that proof before it takes anything from the message
 *
 * Neither side sends the secret, and neither sends anything of value
 * before the other has proved it knows the secret: the joiner proves
 * first (so a stranger who connects to a server learns nothing), and
 * the acceptor sends users and the cluster's token key only with its
 * own proof.  The nonces make every proof good for one link only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "msgbuild.h"
#include "server.h"
#include "uplink.h"
#include "xmalloc.h"

struct link_auth {
	char	 join[AUTH_NONCE_HEX];		/* the joiner's nonce */
	char	 accept[AUTH_NONCE_HEX];	/* the acceptor's nonce */
};

static struct link_auth *
link_auth_get(struct peer *p)
{
	if (p->auth == NULL)
		p->auth = xcalloc(1, sizeof *p->auth);
	return p->auth;
}

void
handshake_free(struct peer *p)
{
	free(p->auth);
	p->auth = NULL;
}

/* A nonce from the wire: exactly AUTH_NONCE_LEN bytes in hex. */
static int
nonce_ok(const char *s)
{
	uint8_t	 b[AUTH_NONCE_LEN];

	return auth_unhex(s, b, sizeof b) == 0;
}

/* The pad that hides the token key in AUTHENTICATE_SUCCESS. */
static void
token_key_pad(struct server *srv, const struct link_auth *a,
    uint8_t pad[AUTH_MAC_LEN])
{
	const char	*parts[3] = { AUTH_LABEL_WRAP, a->join, a->accept };

	auth_mac(srv->link_key, sizeof srv->link_key, parts, 3, pad);
}

/* Joining: our first line on a new uplink. */
void
handshake_hello(struct server *srv, struct peer *p)
{
	struct link_auth	*a = link_auth_get(p);
	struct jbuf		*b;

	if (auth_nonce(a->join) != 0)
		fatal("getrandom");
	a->accept[0] = '\0';
	b = server_out_take(srv);
	msgb_begin(b, CMD_SERVER_HELLO);
	msgb_str(b, F_NONCE, a->join);
	msgb_end(b);
	peer_send_jbuf(p, b);
	server_out_put(srv);
}

/* Accepting: a server wants to join; challenge it. */
enum cmd_ret
cmd_server_hello(struct peer *p, struct msg *m)
{
	struct server		*srv = p->srv;
	struct link_auth	*a;
	struct jbuf		*b;

	if (tls_peer_refuse_server(p))
		return CMD_CLOSE;
	if (!nonce_ok(m->str[F_NONCE])) {
		peer_reply_close(p, CMD_INVALID_MESSAGE, "SERVER_HELLO: "
		    "'nonce' must be 64 hex digits");
		return CMD_CLOSE;
	}
	a = link_auth_get(p);
	snprintf(a->join, sizeof a->join, "%s", m->str[F_NONCE]);
	if (auth_nonce(a->accept) != 0)
		fatal("getrandom");
	peer_set_role(p, PEER_LINK_AUTH);
	b = server_out_take(srv);
	msgb_begin(b, CMD_SERVER_CHALLENGE);
	msgb_str(b, F_NONCE, a->accept);
	msgb_end(b);
	peer_send_jbuf(p, b);
	server_out_put(srv);
	return CMD_OK;
}

/* Joining: the parent's challenge; prove we know the secret. */
enum cmd_ret
cmd_server_challenge(struct peer *p, struct msg *m)
{
	struct server		*srv = p->srv;
	struct link_auth	*a = p->auth;
	struct jbuf		*b;
	char			 proof[AUTH_MAC_HEX];

	if (a == NULL || a->accept[0] != '\0') {
		peer_reply_close(p, CMD_INVALID_MESSAGE, "SERVER_CHALLENGE "
		    "is only accepted once, in reply to SERVER_HELLO");
		return CMD_CLOSE;
	}
	if (!nonce_ok(m->str[F_NONCE]) ||
	    strcmp(m->str[F_NONCE], a->join) == 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE, "SERVER_CHALLENGE: "
		    "'nonce' must be 64 hex digits of its own");
		return CMD_CLOSE;
	}
	snprintf(a->accept, sizeof a->accept, "%s", m->str[F_NONCE]);
	auth_proof(srv->link_key, AUTH_LABEL_JOIN, a->join, a->accept, NULL,
	    proof);
	b = server_out_take(srv);
	msgb_begin(b, CMD_SERVER_PROOF);
	msgb_str(b, F_PROOF, proof);
	msgb_str(b, F_ID, srv->id);
	msgb_str(b, F_HOST, srv->cfg.listen_host);
	msgb_int(b, F_PORT, srv->cfg.listen_port);
	/*
	 * Our load now, not at our next announce: a parent that counted a
	 * joining child at load 0 sent it every orphan of a failover.
	 */
	msgb_int(b, F_LOAD, srv->nclients);
	if (srv->cfg.tls_port > 0)
		msgb_int(b, F_TLS_PORT, srv->cfg.tls_port);
	msgb_end(b);
	peer_send_jbuf(p, b);
	server_out_put(srv);
	return CMD_OK;
}

/* Accepting: the joiner's proof; take it in only if it holds. */
enum cmd_ret
cmd_server_proof(struct peer *p, struct msg *m)
{
	struct server		*srv = p->srv;
	struct link_auth	*a = p->auth;

	if (a == NULL || !auth_proof_ok(srv->link_key, AUTH_LABEL_JOIN,
	    a->join, a->accept, NULL, m->str[F_PROOF])) {
		log_warnx("%s: refused a server: it failed to prove it knows "
		    "the cluster secret", peer_name(p));
		peer_reply_close(p, CMD_AUTHENTICATION_FAIL,
		    "the proof of the cluster secret is wrong");
		return CMD_CLOSE;
	}
	return link_accept(p, m);
}

/*
 * Accepting: the proof and the wrapped token key that end the
 * AUTHENTICATE_SUCCESS being built in b (nothing for a server that
 * joined with the base protocol).
 */
void
handshake_accept_fields(struct server *srv, struct peer *p, struct jbuf *b)
{
	struct link_auth	*a = p->auth;
	uint8_t			 pad[AUTH_MAC_LEN], wrapped[AUTH_TOKEN_KEY_LEN];
	char			 hex[AUTH_TOKEN_KEY_HEX], proof[AUTH_MAC_HEX];
	size_t			 i;

	if (a == NULL || a->accept[0] == '\0')
		return;
	token_key_pad(srv, a, pad);
	for (i = 0; i < sizeof wrapped; i++)
		wrapped[i] = srv->token_key[i] ^ pad[i];
	auth_hex(wrapped, sizeof wrapped, hex);
	auth_proof(srv->link_key, AUTH_LABEL_ACCEPT, a->join, a->accept, hex,
	    proof);
	msgb_str(b, F_TOKEN_KEY, hex);
	msgb_str(b, F_PROOF, proof);
}

/*
 * Joining: does the parent's AUTHENTICATE_SUCCESS prove it knows the
 * secret?  If so, take the cluster's token key from it.  Nothing of
 * the message may be used before this returns 0.
 */
int
handshake_check_accept(struct peer *p, struct msg *m)
{
	struct server		*srv = p->srv;
	struct link_auth	*a = p->auth;
	uint8_t			 pad[AUTH_MAC_LEN], key[AUTH_TOKEN_KEY_LEN];
	size_t			 i;

	if (a == NULL || a->accept[0] == '\0' || m->str[F_PROOF] == NULL ||
	    m->str[F_TOKEN_KEY] == NULL ||
	    auth_unhex(m->str[F_TOKEN_KEY], key, sizeof key) != 0 ||
	    !auth_proof_ok(srv->link_key, AUTH_LABEL_ACCEPT, a->join,
	    a->accept, m->str[F_TOKEN_KEY], m->str[F_PROOF])) {
		log_warnx("%s: refused a parent: it failed to prove it knows "
		    "the cluster secret", peer_name(p));
		return -1;
	}
	token_key_pad(srv, a, pad);
	for (i = 0; i < sizeof key; i++)
		key[i] ^= pad[i];
	token_set_key(srv, key);
	return 0;
}
