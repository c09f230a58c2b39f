/*
 * TLS for both programs: OpenSSL 3 contexts with one policy (TLS 1.2 at
 * least, no compression, no renegotiation, AEAD ciphers with forward
 * secrecy), bufferevents over them, and failures put in words.
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>

#include <event2/util.h>

struct event_base;
struct bufferevent;
struct ssl_ctx_st;

enum tls_role {
	TLS_ACCEPT,		/* we listen: a certificate is required */
	TLS_CONNECT,		/* we dial: the peer's name is checked */
};

struct ssl_ctx_st *tls_ctx_new(enum tls_role, const char *, const char *,
		    const char *, char *, size_t);
void		 tls_ctx_free(struct ssl_ctx_st *);
struct bufferevent *tls_bev_accept(struct event_base *, evutil_socket_t,
		    struct ssl_ctx_st *);
struct bufferevent *tls_bev_connect(struct event_base *, struct ssl_ctx_st *,
		    const char *);
int		 tls_bev_is_tls(struct bufferevent *);
const char	*tls_bev_error(struct bufferevent *, char *, size_t);
int		 tls_bev_subject(struct bufferevent *, char *, size_t);
const char	*tls_bev_version(struct bufferevent *);

#endif
