/*
 * Keys and MACs for the cluster: the server-link key derived once from
 * the cluster secret with scrypt, HMAC-SHA-256 proofs over both sides'
 * nonces, and hex encoding.  All primitives come from OpenSSL's
 * libcrypto; nothing here is hand-written crypto.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_LEN		32	/* the derived link key */
#define AUTH_NONCE_LEN		32	/* random bytes per side */
#define AUTH_NONCE_HEX		(2 * AUTH_NONCE_LEN + 1)
#define AUTH_MAC_LEN		32	/* HMAC-SHA-256 */
#define AUTH_MAC_HEX		(2 * AUTH_MAC_LEN + 1)
#define AUTH_TOKEN_KEY_LEN	16	/* the cluster's session token key */
#define AUTH_TOKEN_KEY_HEX	(2 * AUTH_TOKEN_KEY_LEN + 1)

/* What each proof speaks for, so one can never stand for another. */
#define AUTH_LABEL_JOIN		"activity link: join"
#define AUTH_LABEL_ACCEPT	"activity link: accept"
#define AUTH_LABEL_WRAP		"activity link: token key"

int	 auth_init(void);
int	 auth_derive_key(const char *, uint8_t[AUTH_KEY_LEN]);
void	 auth_mac(const uint8_t *, size_t, const char *const *, int,
	    uint8_t[AUTH_MAC_LEN]);
int	 auth_nonce(char[AUTH_NONCE_HEX]);
void	 auth_proof(const uint8_t[AUTH_KEY_LEN], const char *, const char *,
	    const char *, const char *, char[AUTH_MAC_HEX]);
int	 auth_proof_ok(const uint8_t[AUTH_KEY_LEN], const char *, const char *,
	    const char *, const char *, const char *);
int	 auth_equal(const void *, const void *, size_t);
void	 auth_hex(const uint8_t *, size_t, char *);
int	 auth_unhex(const char *, uint8_t *, size_t);

#endif
