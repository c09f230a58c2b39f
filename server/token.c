/*
 * Session tokens: a client that fails over proves with one that a
 * session is its own.  A token is "<expiry>.<mac>", the MAC a 128-bit
 * HMAC-SHA-256 over the user, the session id and the expiry (wall-clock
 * ms) under the cluster's token key.  That key is random, made by the
 * first server and handed to joining servers only inside the link
 * handshake, so a token tells nothing about the cluster secret; a
 * token names its user, so nobody else can resume with it.
 *
 * A server that joins a cluster whose key differs from its own (a
 * healed split) takes the parent's and keeps the one it had for
 * checking, so tokens it handed out before still resume here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "secret.h"
#include "server.h"

#define TOKEN_LABEL	"activity session token"
#define TOKEN_MAC_LEN	16		/* 128 bits */

/* A fresh random key: this server may be the first of a cluster. */
void
token_init(struct server *srv)
{
	if (secret_random_bytes(srv->token_key, sizeof srv->token_key) != 0)
		fatal("getrandom");
	srv->token_key_old_set = 0;
}

/* The cluster's key, from our parent; ours becomes the old one. */
void
token_set_key(struct server *srv, const uint8_t *key)
{
	if (memcmp(key, srv->token_key, sizeof srv->token_key) == 0)
		return;
	memcpy(srv->token_key_old, srv->token_key, sizeof srv->token_key);
	srv->token_key_old_set = 1;
	memcpy(srv->token_key, key, sizeof srv->token_key);
	log_debug("token: took the cluster's session token key");
}

/* How long a token is good for: --token-lifetime, else the window. */
static uint64_t
token_lifetime_ms(const struct server *srv)
{
	if (srv->cfg.token_lifetime_ms > 0)
		return (uint64_t)srv->cfg.token_lifetime_ms;
	return (uint64_t)srv->cfg.dcfg.replay_window_ms;
}

static void
token_mac(const uint8_t *key, const char *user, const char *sid,
    const char *expiry, char out[2 * TOKEN_MAC_LEN + 1])
{
	const char	*parts[4] = { TOKEN_LABEL, user, sid, expiry };
	uint8_t		 mac[AUTH_MAC_LEN];

	auth_mac(key, AUTH_TOKEN_KEY_LEN, parts, 4, mac);
	auth_hex(mac, TOKEN_MAC_LEN, out);
}

/* The token that lets user resume session sid, from now on. */
void
token_make(struct server *srv, const char *user, const char *sid,
    char *out)
{
	char	 expiry[24], mac[2 * TOKEN_MAC_LEN + 1];

	snprintf(expiry, sizeof expiry, "%llu", (unsigned long long)
	    (wall_ms() + token_lifetime_ms(srv)));
	token_mac(srv->token_key, user, sid, expiry, mac);
	snprintf(out, TOKEN_LEN_MAX, "%s.%s", expiry, mac);
}

/*
 * Is token good for user resuming sid?  NULL if so, else why not (for
 * the log).
 */
const char *
token_check(struct server *srv, const char *user, const char *sid,
    const char *token)
{
	char		 expiry[24], want[2 * TOKEN_MAC_LEN + 1];
	const char	*dot = strchr(token, '.');
	size_t		 n;
	char		*end;
	unsigned long long exp;

	if (dot == NULL || (n = (size_t)(dot - token)) == 0 ||
	    n >= sizeof expiry || strlen(dot + 1) != 2 * TOKEN_MAC_LEN)
		return "malformed token";
	memcpy(expiry, token, n);
	expiry[n] = '\0';
	if (expiry[0] < '0' || expiry[0] > '9')
		return "malformed token";
	exp = strtoull(expiry, &end, 10);
	if (*end != '\0')
		return "malformed token";
	token_mac(srv->token_key, user, sid, expiry, want);
	if (!auth_equal(want, dot + 1, sizeof want - 1)) {
		if (!srv->token_key_old_set)
			return "the token was not made for this user and "
			    "session";
		token_mac(srv->token_key_old, user, sid, expiry, want);
		if (!auth_equal(want, dot + 1, sizeof want - 1))
			return "the token was not made for this user and "
			    "session";
	}
	if (exp < wall_ms())
		return "the token has expired";
	return NULL;
}
