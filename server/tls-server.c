/*
 * The server's TLS: the two contexts (one to listen with, one to dial
 * the parent with) built from --tls-cert, --tls-key and --tls-ca and
 * built again on SIGHUP, the --tls-port listener, and the checks a
 * server link over TLS must pass.
 *
 * A reload swaps the contexts for new connections only: a connection
 * holds a reference to the context it was made with, so links that are
 * up stay up on the old certificate until they reconnect.
 */
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/ssl.h>

#include "log.h"
#include "server.h"
#include "tls.h"
#include "xmalloc.h"

/* Build both contexts from the files; 0, or -1 with err filled. */
static int
tls_build(struct server *srv, struct ssl_ctx_st **acc,
    struct ssl_ctx_st **con, char *err, size_t errlen)
{
	const struct config	*c = &srv->cfg;

	*acc = *con = NULL;
	if (c->tls_port > 0 && (*acc = tls_ctx_new(TLS_ACCEPT, c->tls_cert,
	    c->tls_key, c->tls_ca, err, errlen)) == NULL)
		return -1;
	if (c->remote_tls && (*con = tls_ctx_new(TLS_CONNECT, c->tls_cert,
	    c->tls_key, c->tls_ca, err, errlen)) == NULL) {
		tls_ctx_free(*acc);
		*acc = NULL;
		return -1;
	}
	return 0;
}

/* Load the certificates at start; -1 (logged) if they do not load. */
int
tls_setup(struct server *srv)
{
	char	 err[512];

	if (tls_build(srv, &srv->tls_accept_ctx, &srv->tls_connect_ctx, err,
	    sizeof err) != 0) {
		log_warnx("TLS: %s", err);
		return -1;
	}
	return 0;
}

/*
 * Read the certificate, key and CA files again (SIGHUP), for rotation
 * without a restart.  If the new files do not load, the old ones stay
 * in use and the reason is logged.
 */
int
tls_reload(struct server *srv)
{
	struct ssl_ctx_st	*acc, *con;
	char			 err[512];

	if (srv->cfg.tls_port == 0 && !srv->cfg.remote_tls)
		return 0;
	if (tls_build(srv, &acc, &con, err, sizeof err) != 0) {
		log_warnx("TLS: reload failed, keeping the certificates in "
		    "use: %s", err);
		return -1;
	}
	tls_ctx_free(srv->tls_accept_ctx);
	tls_ctx_free(srv->tls_connect_ctx);
	srv->tls_accept_ctx = acc;
	srv->tls_connect_ctx = con;
	log_info("TLS: certificates reloaded from %s",
	    srv->cfg.tls_cert != NULL ? srv->cfg.tls_cert : "the CA file");
	return 0;
}

void
tls_free(struct server *srv)
{
	if (srv->tls_listener != NULL)
		evconnlistener_free(srv->tls_listener);
	srv->tls_listener = NULL;
	tls_ctx_free(srv->tls_accept_ctx);
	tls_ctx_free(srv->tls_connect_ctx);
	srv->tls_accept_ctx = srv->tls_connect_ctx = NULL;
}

/* Bind --tls-port on the same address as the plaintext listener. */
int
tls_listen(struct server *srv)
{
	if (srv->cfg.tls_port == 0)
		return 0;
	srv->tls_listener = server_bind(srv, srv->cfg.tls_port);
	return srv->tls_listener != NULL ? 0 : -1;
}

/* An accepted socket on the TLS listener. */
struct bufferevent *
tls_accept_bev(struct server *srv, evutil_socket_t fd)
{
	return tls_bev_accept(srv->base, fd, srv->tls_accept_ctx);
}

/* A bufferevent to dial our parent at host with (--remote-tls). */
struct bufferevent *
tls_connect_bev(struct server *srv, const char *host)
{
	return tls_bev_connect(srv->base, srv->tls_connect_ctx, host);
}

/*
 * Encrypt and write a TLS peer's output now, in the turn that queued
 * it, as the plaintext path writes.  Libevent 2.1's OpenSSL bufferevent
 * on a socket only arms its write event when output is added, and
 * writes when that event fires in the next turn: every hop over TLS
 * waited a turn, and each peer cost two epoll_ctl a turn (armed in one
 * turn, disarmed in the next, too late for the changelist to fold).
 * Running the write event's own callback does what the event would:
 * write what the kernel takes and leave the event armed only for the
 * rest.  Called when the output was empty before this turn's piece.
 */
void
tls_peer_write_now(struct peer *p)
{
	struct bufferevent	*bev = p->bev;
	struct event		*ev = &bev->ev_write;
	SSL			*ssl;

	if (!p->tls || p->closing ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL ||
	    !SSL_is_init_finished(ssl) ||
	    !event_pending(ev, EV_WRITE, NULL))
		return;
	event_get_callback(ev)(event_get_fd(ev), EV_WRITE,
	    event_get_callback_arg(ev));
}

/*
 * The handshake is done: note what the peer's certificate proves, so
 * every log line about the link names it beside the server's id.
 */
void
tls_peer_connected(struct peer *p)
{
	char	 subj[512];

	if (!p->tls)
		return;
	free(p->tls_subject);
	p->tls_subject = NULL;
	if (tls_bev_subject(p->bev, subj, sizeof subj) == 0)
		p->tls_subject = xstrdup(subj);
	log_debug("%s: TLS established (%s)", peer_name(p),
	    tls_bev_version(p->bev));
}

/*
 * A server joining over TLS must have shown a certificate that chains
 * to --tls-ca (the handshake already refused one that does not): the
 * certificate, not only the secret, is what lets it in.  1 if refused.
 */
int
tls_peer_refuse_server(struct peer *p)
{
	if (!p->tls || p->tls_subject != NULL)
		return 0;
	log_warnx("%s: refused a server over TLS: it presented no "
	    "certificate", peer_name(p));
	peer_reply_close(p, CMD_AUTHENTICATION_FAIL, "a server joining over "
	    "TLS must present a certificate signed by the cluster's CA");
	return 1;
}

/* Why this peer's TLS failed, or NULL if it is no TLS failure. */
const char *
tls_peer_error(struct peer *p)
{
	static char	 buf[256];

	if (!p->tls)
		return NULL;
	return tls_bev_error(p->bev, buf, sizeof buf);
}
