/*
 * TLS for both programs, over libevent's OpenSSL bufferevents.
 *
 * One policy everywhere: TLS 1.2 or newer, no compression (CRIME), no
 * renegotiation, and for TLS 1.2 only ECDHE key exchange with AEAD
 * ciphers (TLS 1.3's suites are all of that kind).  The side that dials
 * always verifies the certificate chain and the name it dialed; the
 * side that listens asks for a certificate and verifies any it gets, so
 * that a server link can be required to present one while clients need
 * none.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "tls.h"

#define TLS_CIPHERS_12	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
			"ECDHE-RSA-AES128-GCM-SHA256:" \
			"ECDHE-ECDSA-AES256-GCM-SHA384:" \
			"ECDHE-RSA-AES256-GCM-SHA384:" \
			"ECDHE-ECDSA-CHACHA20-POLY1305:" \
			"ECDHE-RSA-CHACHA20-POLY1305"
/* TLS 1.3: the same AEADs, AES-128 first (as strong here, and cheaper). */
#define TLS_SUITES_13	"TLS_AES_128_GCM_SHA256:" \
			"TLS_CHACHA20_POLY1305_SHA256:" \
			"TLS_AES_256_GCM_SHA384"

/* What OpenSSL said last, for a message; "" if nothing. */
static const char *
tls_last_error(void)
{
	static char	 buf[256];
	unsigned long	 e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		return "unknown error";
	if (ERR_reason_error_string(last) != NULL)
		return ERR_reason_error_string(last);
	ERR_error_string_n(last, buf, sizeof buf);
	return buf;
}

/*
 * A context for one role.  cert and key are our certificate chain and
 * private key (required to listen, optional to dial: a joining server
 * shows its own); ca is the file of trusted certificates, or NULL for
 * the system's store.  NULL with err filled on failure.
 */
SSL_CTX *
tls_ctx_new(enum tls_role role, const char *cert, const char *key,
    const char *ca, char *err, size_t errlen)
{
	static const unsigned char	 sid_ctx[] = "activity";
	SSL_CTX				*ctx;

	ERR_clear_error();
	if (role == TLS_ACCEPT && (cert == NULL || key == NULL)) {
		snprintf(err, errlen, "a TLS listener needs a certificate "
		    "and a key");
		return NULL;
	}
	if ((cert == NULL) != (key == NULL)) {
		snprintf(err, errlen, "a certificate needs its key and a key "
		    "its certificate");
		return NULL;
	}
	ctx = SSL_CTX_new(role == TLS_ACCEPT ? TLS_server_method() :
	    TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "SSL_CTX_new: %s", tls_last_error());
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS_SUITES_13) != 1) {
		snprintf(err, errlen, "TLS policy: %s", tls_last_error());
		goto fail;
	}
	/*
	 * A peer that closes without close_notify has gone away (killed,
	 * or a line-oriented protocol that needs no truncation check):
	 * an end of file, not an error.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	    (role == TLS_ACCEPT ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
	if (cert != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
			snprintf(err, errlen, "certificate %s: %s", cert,
			    tls_last_error());
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) !=
		    1) {
			snprintf(err, errlen, "key %s: %s", key,
			    tls_last_error());
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen, "key %s does not match "
			    "certificate %s", key, cert);
			goto fail;
		}
	}
	if (ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			snprintf(err, errlen, "CA file %s: %s", ca,
			    tls_last_error());
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "the system's trusted certificates: %s",
		    tls_last_error());
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (role == TLS_ACCEPT && SSL_CTX_set_session_id_context(ctx,
	    sid_ctx, sizeof sid_ctx - 1) != 1) {
		snprintf(err, errlen, "session id context: %s",
		    tls_last_error());
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

/* Wrap an accepted socket; the handshake runs as the peer speaks. */
struct bufferevent *
tls_bev_accept(struct event_base *base, evutil_socket_t fd, SSL_CTX *ctx)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* A peer that just goes away is an end of file, not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/*
 * A bufferevent to dial host with (bufferevent_socket_connect or
 * _connect_hostname next): the certificate must name host, as a DNS
 * name or, for an address, as an IP address entry.
 */
struct bufferevent *
tls_bev_connect(struct event_base *base, SSL_CTX *ctx, const char *host)
{
	struct bufferevent	*bev;
	struct in6_addr		 a6;
	struct in_addr		 a4;
	SSL			*ssl;
	int			 ok;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	if (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1)
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set_tlsext_host_name(ssl, host) == 1 &&
		    SSL_set1_host(ssl, host) == 1;
	}
	if (!ok) {
		SSL_free(ssl);
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

int
tls_bev_is_tls(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) != NULL;
}

/*
 * Why a TLS connection failed, in words: a certificate that did not
 * verify says which check failed ("certificate has expired", "hostname
 * mismatch", ...); otherwise OpenSSL's reason, such as the alert the
 * other side sent.  NULL if TLS has nothing to say (a socket error).
 */
const char *
tls_bev_error(struct bufferevent *bev, char *buf, size_t len)
{
	SSL		*ssl;
	unsigned long	 e, first = 0;
	long		 vr;
	const char	*r;

	if ((ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		return NULL;
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (first == 0)
			first = e;
	vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK) {
		snprintf(buf, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
		return buf;
	}
	if (first == 0)
		return NULL;
	if ((r = ERR_reason_error_string(first)) != NULL)
		snprintf(buf, len, "%s", r);
	else
		ERR_error_string_n(first, buf, len);
	return buf;
}

/*
 * The subject of the certificate the peer proved it holds (RFC 2253
 * form, bytes outside ASCII escaped); -1 if it showed none that verified.
 */
int
tls_bev_subject(struct bufferevent *bev, char *buf, size_t len)
{
	SSL		*ssl;
	X509		*cert;
	BIO		*bio;
	int		 n;

	if ((ssl = bufferevent_openssl_get_ssl(bev)) == NULL ||
	    (cert = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK || len == 0)
		return -1;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253) < 0) {
		BIO_free(bio);
		return -1;
	}
	n = BIO_read(bio, buf, (int)len - 1);
	BIO_free(bio);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return 0;
}

/* "TLSv1.3 TLS_AES_128_GCM_SHA256", for a log line. */
const char *
tls_bev_version(struct bufferevent *bev)
{
	static char	 buf[128];
	SSL		*ssl;

	if ((ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		return "plaintext";
	snprintf(buf, sizeof buf, "%s %s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
	return buf;
}
