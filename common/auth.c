/*
 * Server-link authentication and MACs from OpenSSL's libcrypto.
 *
 * The link key is scrypt(cluster secret) with a fixed salt, computed
 * once at start-up: every guess of the secret an eavesdropper or an
 * impostor wants to test against a recorded proof costs one scrypt
 * (16 MiB of memory), not one hash.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "secret.h"

#define AUTH_SALT	"activity-streamer cluster link key v1"
#define AUTH_SCRYPT_N	16384
#define AUTH_SCRYPT_R	8
#define AUTH_SCRYPT_P	1
#define AUTH_SCRYPT_MEM	(64 * 1024 * 1024)
#define AUTH_SECRET_MAX	256

/*
 * The link key every server of a cluster derives from its secret.  The
 * last one is remembered: a process that builds many servers with one
 * secret (tests, the fuzzer) pays for scrypt once.
 */
int
auth_derive_key(const char *secret, uint8_t key[AUTH_KEY_LEN])
{
	static char	 last_secret[AUTH_SECRET_MAX];
	static uint8_t	 last_key[AUTH_KEY_LEN];
	static int	 have_last;

	if (have_last && strcmp(secret, last_secret) == 0) {
		memcpy(key, last_key, AUTH_KEY_LEN);
		return 0;
	}
	if (EVP_PBE_scrypt(secret, strlen(secret),
	    (const unsigned char *)AUTH_SALT, sizeof AUTH_SALT - 1,
	    AUTH_SCRYPT_N, AUTH_SCRYPT_R, AUTH_SCRYPT_P, AUTH_SCRYPT_MEM,
	    key, AUTH_KEY_LEN) != 1)
		return -1;
	if (strlen(secret) < sizeof last_secret) {
		memcpy(last_secret, secret, strlen(secret) + 1);
		memcpy(last_key, key, AUTH_KEY_LEN);
		have_last = 1;
	}
	return 0;
}

/*
 * Load what the MACs need now, at start-up: libcrypto's first fetch
 * allocates its provider tables, which should not look like a leak in
 * the middle of serving clients.  The fetched HMAC is kept.
 */
static EVP_MAC *
auth_hmac(void)
{
	static EVP_MAC	*hmac;

	if (hmac == NULL)
		hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	return hmac;
}

int
auth_init(void)
{
	static const char *const parts[1] = { "warm-up" };
	uint8_t		 key[AUTH_KEY_LEN] = { 0 }, mac[AUTH_MAC_LEN];

	if (auth_hmac() == NULL)
		return -1;
	auth_mac(key, sizeof key, parts, 1, mac);
	return 0;
}

/*
 * HMAC-SHA-256 over parts, each followed by a NUL, so no two different
 * lists of strings give the same input.
 */
void
auth_mac(const uint8_t *key, size_t keylen, const char *const *parts,
    int nparts, uint8_t out[AUTH_MAC_LEN])
{
	EVP_MAC		*mac = auth_hmac();
	EVP_MAC_CTX	*ctx;
	OSSL_PARAM	 params[2];
	size_t		 outlen;
	int		 i;

	ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string("digest",
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_MAC_init(ctx, key, keylen, params) != 1)
		goto fail;
	for (i = 0; i < nparts; i++)
		if (EVP_MAC_update(ctx, (const unsigned char *)parts[i],
		    strlen(parts[i]) + 1) != 1)
			goto fail;
	if (EVP_MAC_final(ctx, out, &outlen, AUTH_MAC_LEN) != 1 ||
	    outlen != AUTH_MAC_LEN)
		goto fail;
	EVP_MAC_CTX_free(ctx);
	return;
fail:
	/* Out of memory in libcrypto: a MAC nobody can match. */
	EVP_MAC_CTX_free(ctx);
	if (secret_random_bytes(out, AUTH_MAC_LEN) != 0)
		memset(out, 0xa5, AUTH_MAC_LEN);
}

/* A fresh random nonce, in hex. */
int
auth_nonce(char out[AUTH_NONCE_HEX])
{
	uint8_t	 r[AUTH_NONCE_LEN];

	if (secret_random_bytes(r, sizeof r) != 0)
		return -1;
	auth_hex(r, sizeof r, out);
	return 0;
}

/* The proof for label over the joiner's and the acceptor's nonces. */
void
auth_proof(const uint8_t key[AUTH_KEY_LEN], const char *label,
    const char *nonce_join, const char *nonce_accept, const char *extra,
    char out[AUTH_MAC_HEX])
{
	const char	*parts[4];
	uint8_t		 mac[AUTH_MAC_LEN];

	parts[0] = label;
	parts[1] = nonce_join;
	parts[2] = nonce_accept;
	parts[3] = extra != NULL ? extra : "";
	auth_mac(key, AUTH_KEY_LEN, parts, 4, mac);
	auth_hex(mac, sizeof mac, out);
}

/* Does the peer's proof match, compared in constant time? */
int
auth_proof_ok(const uint8_t key[AUTH_KEY_LEN], const char *label,
    const char *nonce_join, const char *nonce_accept, const char *extra,
    const char *theirs)
{
	char	 want[AUTH_MAC_HEX];

	if (strlen(theirs) != AUTH_MAC_HEX - 1)
		return 0;
	auth_proof(key, label, nonce_join, nonce_accept, extra, want);
	return auth_equal(want, theirs, AUTH_MAC_HEX - 1);
}

int
auth_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void
auth_hex(const uint8_t *p, size_t len, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Exactly 2*len lower- or upper-case hex digits into len bytes. */
int
auth_unhex(const char *s, uint8_t *out, size_t len)
{
	size_t	 i;
	int	 hi, lo;

	if (strlen(s) != 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		hi = OPENSSL_hexchar2int((unsigned char)s[2 * i]);
		lo = OPENSSL_hexchar2int((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
