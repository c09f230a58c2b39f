/*
 * TLS on real activity-server processes.  The certificates are made at
 * run time with the openssl command (no key is kept in the tree): a
 * cluster CA, a server certificate for localhost and 127.0.0.1, one
 * from another CA, one whose name is elsewhere, and a replacement for
 * rotation.
 *
 * The harness's clients speak plaintext; a "front" here terminates TLS
 * for them: a thread listens on a loopback port and carries each
 * connection to the server's TLS port over a verified TLS session, so
 * every expect helper works unchanged on TLS links.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "relay.h"

static char	 certdir[4096];	/* made once per run */

/* The CAs and certificates every test uses, made on first use. */
static void
certs(void)
{
	if (certdir[0] != '\0')
		return;
	/* it_cleanup frees the name (not the directory) after each test. */
	snprintf(certdir, sizeof certdir, "%s", it_mkdtemp("tls"));
	it_make_ca(certdir, "ca", "activity test CA");
	it_make_ca(certdir, "ca2", "another CA");
	it_make_cert(certdir, "srv", "activity-server", "ca",
	    "DNS:localhost,IP:127.0.0.1");
	it_make_cert(certdir, "rot", "activity-server-rotated", "ca",
	    "DNS:localhost,IP:127.0.0.1");
	it_make_cert(certdir, "intruder", "intruder", "ca2",
	    "DNS:localhost,IP:127.0.0.1");
	it_make_cert(certdir, "wrongname", "wrongname", "ca",
	    "DNS:elsewhere.example");
}

/* certdir/name.ext in one of four rotating buffers. */
static const char *
cpath(const char *name, const char *ext)
{
	static char	 bufs[8][4200];
	static int	 next;
	char		*b = bufs[next++ % 8];

	snprintf(b, sizeof bufs[0], "%s/%s.%s", certdir, name, ext);
	return b;
}

static SSL_CTX *
client_ctx(const char *ca)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		it_fail("SSL_CTX_new");
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		it_fail("cannot load %s", ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

static int
tcp_connect(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* A verified TLS session to localhost:port, or NULL with err set. */
static SSL *
tls_dial(SSL_CTX *ctx, int port, char *err, size_t errlen)
{
	struct timeval	 tv;
	SSL		*ssl;
	long		 vr;
	int		 fd;

	if ((fd = tcp_connect(port)) == -1) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		return NULL;
	}
	/* Bounded: a server that never answers fails the test, not hangs. */
	tv.tv_sec = it_timeout() / 1000;
	tv.tv_usec = (it_timeout() % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	ssl = SSL_new(ctx);
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_set1_host(ssl, "localhost");
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		vr = SSL_get_verify_result(ssl);
		snprintf(err, errlen, "%s", vr != X509_V_OK ?
		    X509_verify_cert_error_string(vr) :
		    ERR_reason_error_string(ERR_peek_last_error()) != NULL ?
		    ERR_reason_error_string(ERR_peek_last_error()) :
		    "handshake failed");
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	tv.tv_sec = tv.tv_usec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return ssl;
}

static void
tls_hangup(SSL *ssl)
{
	int	 fd = SSL_get_fd(ssl);

	SSL_free(ssl);
	close(fd);
}

/* The common name the server at port shows now ("" if none). */
static void
probe_cn(int port, const char *ca, char *cn, size_t len)
{
	SSL_CTX	*ctx = client_ctx(ca);
	SSL	*ssl;
	X509	*c;
	char	 err[256];

	cn[0] = '\0';
	if ((ssl = tls_dial(ctx, port, err, sizeof err)) == NULL)
		it_fail("TLS to port %d: %s", port, err);
	if ((c = SSL_get0_peer_certificate(ssl)) != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(c),
		    NID_commonName, cn, (int)len);
	tls_hangup(ssl);
	SSL_CTX_free(ctx);
}

struct front_conn {
	int	 plain;
	SSL	*ssl;
};

/* SSL_write all of buf on a non-blocking socket; -1 if it closed. */
static int
front_write(SSL *ssl, const char *buf, int n)
{
	struct pollfd	 pfd;
	int		 w, e;

	while (n > 0) {
		if ((w = SSL_write(ssl, buf, n)) > 0) {
			buf += w;
			n -= w;
			continue;
		}
		e = SSL_get_error(ssl, w);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return -1;
		pfd.fd = SSL_get_fd(ssl);
		pfd.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		(void)poll(&pfd, 1, 100);
	}
	return 0;
}

/*
 * Carry bytes both ways until either side closes.  The TLS socket is
 * non-blocking: a record that is no data (a TLS 1.3 session ticket)
 * must not leave us blocked in SSL_read while the client waits.
 */
static void *
front_conn_main(void *arg)
{
	struct front_conn	*fc = arg;
	struct pollfd		 pfd[2];
	char			 buf[65536];
	int			 n, off, w, e;

	SSL_clear_mode(fc->ssl, SSL_MODE_AUTO_RETRY);
	if (fcntl(SSL_get_fd(fc->ssl), F_SETFL, O_NONBLOCK) == -1)
		goto done;
	pfd[0].fd = fc->plain;
	pfd[1].fd = SSL_get_fd(fc->ssl);
	pfd[0].events = pfd[1].events = POLLIN;
	for (;;) {
		if (SSL_pending(fc->ssl) == 0 && poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (SSL_pending(fc->ssl) > 0 || (pfd[1].revents & ~POLLOUT)) {
			if ((n = SSL_read(fc->ssl, buf, sizeof buf)) <= 0) {
				e = SSL_get_error(fc->ssl, n);
				if (e != SSL_ERROR_WANT_READ &&
				    e != SSL_ERROR_WANT_WRITE)
					break;
				n = 0;
			}
			for (off = 0; off < n; off += w)
				if ((w = (int)write(fc->plain, buf + off,
				    (size_t)(n - off))) <= 0)
					goto done;
		}
		if (pfd[0].revents & ~POLLOUT) {
			if ((n = (int)read(fc->plain, buf, sizeof buf)) <= 0)
				break;
			if (front_write(fc->ssl, buf, n) != 0)
				break;
		}
		pfd[0].revents = pfd[1].revents = 0;
	}
done:
	tls_hangup(fc->ssl);
	close(fc->plain);
	free(fc);
	return NULL;
}

struct front {
	int	 lfd;
	int	 port;
	int	 target;
	SSL_CTX	*ctx;
};

#define FRONT_MAX	16
static struct front	 fronts[FRONT_MAX];
static struct it_server	 front_srv[FRONT_MAX];
static int		 nfronts;

/* Accept plaintext connections and open a TLS session for each. */
static void *
front_main(void *arg)
{
	struct front		*f = arg;
	struct front_conn	*fc;
	pthread_t		 t;
	char			 err[256];
	int			 fd;

	for (;;) {
		if ((fd = accept(f->lfd, NULL, NULL)) == -1) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if ((fc = calloc(1, sizeof *fc)) == NULL)
			abort();
		fc->plain = fd;
		if ((fc->ssl = tls_dial(f->ctx, f->target, err,
		    sizeof err)) == NULL) {
			fprintf(stderr, "front: TLS to port %d: %s\n",
			    f->target, err);
			close(fd);
			free(fc);
			continue;
		}
		if (pthread_create(&t, NULL, front_conn_main, fc) != 0)
			abort();
		pthread_detach(t);
	}
}

/*
 * A plaintext port whose connections reach the server's TLS port; the
 * server's certificate is checked against ca.  The fake it_server it
 * returns stands for the server wherever the harness takes one.
 */
static struct it_server *
front_new(struct it_server *s, int tls_port, const char *ca)
{
	struct it_server	*fs;
	struct front		*f;
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof sin;
	pthread_t		 t;

	if (nfronts == FRONT_MAX)
		it_fail("too many fronts");
	f = &fronts[nfronts];
	fs = &front_srv[nfronts++];
	f->target = tls_port;
	f->ctx = client_ctx(ca);
	if ((f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		abort();
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(f->lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(f->lfd, 64) == -1 ||
	    getsockname(f->lfd, (struct sockaddr *)&sin, &sl) == -1)
		it_fail("front: %s", strerror(errno));
	f->port = ntohs(sin.sin_port);
	if (pthread_create(&t, NULL, front_main, f) != 0)
		abort();
	pthread_detach(t);
	snprintf(fs->name, sizeof fs->name, "%.20s/tls", s->name);
	fs->port = f->port;
	snprintf(fs->port_str, sizeof fs->port_str, "%d", f->port);
	fs->pid = s->pid;
	return fs;
}

#define TLS_ARGS(name) \
	"--tls-cert", cpath(name, "crt"), "--tls-key", cpath(name, "key"), \
	"--tls-ca", cpath("ca", "crt")

/*
 * Three servers, every link TLS and no plaintext listener anywhere: an
 * activity from a client of each server reaches every client once; a
 * plaintext LOGIN gets nowhere; each link's certificate subject is
 * logged beside the server id.
 */
static void
tls3__no_plaintext_cluster__activities_delivered(void **state)
{
	struct it_server	*a, *b, *c;
	struct it_client	*plain;
	struct it_roster	 r;
	int			 round, i;

	(void)state;
	certs();
	memset(&r, 0, sizeof r);
	a = it_root("A", "--tls-port", "@PORT", "--no-plaintext",
	    TLS_ARGS("srv"));
	b = it_child("B", a, "--tls-port", "@PORT", "--no-plaintext",
	    "--remote-tls", TLS_ARGS("srv"));
	c = it_child("C", b, "--tls-port", "@PORT", "--no-plaintext",
	    "--remote-tls", TLS_ARGS("srv"));
	it_wait_log(a, "certificate CN=activity-server,O=activity test): "
	    "server joined");
	it_wait_log(c, "joined the cluster through parent#1 localhost:");
	if (it_log_count(c, "certificate CN=activity-server,O=activity "
	    "test)") == 0)
		it_fail("C did not log its parent's certificate subject");

	/* The only listener speaks TLS: plaintext JSON is no handshake. */
	plain = it_connect(a, "plain");
	it_sendf(plain, "{\"command\":\"LOGIN\",\"username\":\"anonymous\"}\n");
	it_expect_closed(plain);

	it_roster_login(&r, front_new(a, a->port, cpath("ca", "crt")), "tA",
	    "anonymous", NULL);
	it_roster_login(&r, front_new(b, b->port, cpath("ca", "crt")), "tB",
	    "anonymous", NULL);
	it_roster_login(&r, front_new(c, c->port, cpath("ca", "crt")), "tC",
	    "anonymous", NULL);
	for (round = 0; round < 2; round++)
		for (i = 0; i < r.n; i++)
			it_roster_broadcast(&r, r.c[i]);
}

/*
 * A server whose certificate another CA signed is refused at the
 * handshake: the parent logs why, and the joiner never gets in.
 */
static void
tls__joiner_cert_from_other_ca__refused_and_logged(void **state)
{
	struct it_server	*a, *b;

	(void)state;
	certs();
	a = it_root("A", "--tls-port", "@PORT", "--no-plaintext",
	    TLS_ARGS("srv"));
	b = it_root("B", "-rh", "localhost", "-rp", a->port_str,
	    "--remote-tls", "--tls-cert", cpath("intruder", "crt"),
	    "--tls-key", cpath("intruder", "key"), "--tls-ca",
	    cpath("ca", "crt"));
	it_wait_log_n(a, "TLS refused: certificate verify failed: unable to "
	    "get local issuer certificate", 2);
	if (it_log_count(a, "server joined") != 0 ||
	    it_log_count(b, "joined the cluster") != 0)
		it_fail("a server with a foreign certificate got in");
}

/*
 * A parent whose certificate names another host is refused by the
 * joining server, which says so and never sends it the secret; so is
 * one dialled by an address its certificate does not list.
 */
static void
tls__parent_name_mismatch__refused_by_joiner(void **state)
{
	struct it_server	*a, *b, *c;

	(void)state;
	certs();
	a = it_root("A", "--tls-port", "@PORT", "--no-plaintext",
	    TLS_ARGS("wrongname"));
	b = it_root("B", "-rh", "localhost", "-rp", a->port_str,
	    "--remote-tls", TLS_ARGS("srv"));
	c = it_root("C", "-rh", "127.0.0.1", "-rp", a->port_str,
	    "--remote-tls", TLS_ARGS("srv"));
	it_wait_log_n(b, "TLS refused: certificate verify failed: hostname "
	    "mismatch", 2);
	it_wait_log_n(c, "TLS refused: certificate verify failed: IP address "
	    "mismatch", 2);
	if (it_log_count(a, "server joined") != 0 ||
	    it_log_count(b, "joined the cluster") != 0 ||
	    it_log_count(c, "joined the cluster") != 0)
		it_fail("joined a parent with the wrong name");
}

/*
 * Plaintext and TLS listeners side by side: a TLS client and a
 * plaintext one see each other's activities; a TLS client that trusts
 * another CA refuses the server; a server that starts to join over
 * TLS without a certificate (SERVER_HELLO, or AUTHENTICATE with the
 * right secret) is refused before anything else.
 */
static void
tls__client_over_tls__delivered_and_verified(void **state)
{
	struct it_server	*a, *b, *fa;
	struct it_client	*c;
	struct it_roster	 r;
	SSL_CTX			*ctx;
	char			 tport[16], tport_b[16], err[256];
	int			 i;

	(void)state;
	certs();
	memset(&r, 0, sizeof r);
	snprintf(tport, sizeof tport, "%d", it_free_port());
	snprintf(tport_b, sizeof tport_b, "%d", it_free_port());
	a = it_root("A", "--tls-port", tport, TLS_ARGS("srv"));
	b = it_child("B", a, "--tls-port", tport_b, TLS_ARGS("srv"));
	fa = front_new(a, atoi(tport), cpath("ca", "crt"));
	it_roster_login(&r, fa, "tls", "anonymous", NULL);
	it_roster_login(&r, a, "plain", "anonymous", NULL);
	it_roster_login(&r, front_new(b, atoi(tport_b), cpath("ca", "crt")),
	    "tlsB", "anonymous", NULL);
	for (i = 0; i < r.n; i++)
		it_roster_broadcast(&r, r.c[i]);

	ctx = client_ctx(cpath("ca2", "crt"));
	if (tls_dial(ctx, atoi(tport), err, sizeof err) != NULL)
		it_fail("a client trusting another CA accepted the server");
	if (strstr(err, "local issuer") == NULL &&
	    strstr(err, "self-signed certificate in certificate chain") ==
	    NULL)
		it_fail("unexpected refusal reason: %s", err);
	SSL_CTX_free(ctx);

	c = it_connect(fa, "nocert");
	it_sendf(c, "{\"command\":\"SERVER_HELLO\",\"nonce\":\"%s\"}\n",
	    "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff");
	it_expect_reply_close(c, "AUTHENTICATION_FAIL");
	c = it_connect(fa, "nocert-base");
	it_sendf(c, "{\"command\":\"AUTHENTICATE\",\"secret\":\"%s\"}\n",
	    IT_SECRET);
	it_expect_reply_close(c, "AUTHENTICATION_FAIL");
	it_wait_log_n(a, "refused a server over TLS: it presented no "
	    "certificate", 2);
}

/*
 * Plaintext and TLS listeners on every server, links over TLS: when
 * C's parent B dies, C fails over to A through the TLS port A's
 * BACKUP_LIST entry carries (not A's plaintext port), and activities
 * flow between A and C again.
 */
static void
tls__failover__rejoins_through_backup_tls_port(void **state)
{
	struct it_server	*a, *b, *c;
	struct it_roster	 r;
	char			 pa[16], pb[16], pc[16], want[128];

	(void)state;
	certs();
	memset(&r, 0, sizeof r);
	snprintf(pa, sizeof pa, "%d", it_free_port());
	snprintf(pb, sizeof pb, "%d", it_free_port());
	snprintf(pc, sizeof pc, "%d", it_free_port());
	a = it_root("A", "--tls-port", pa, TLS_ARGS("srv"));
	b = it_root("B", "-rh", "localhost", "-rp", pa, "--remote-tls",
	    "--tls-port", pb, TLS_ARGS("srv"));
	it_wait_log(b, "joined the cluster");
	c = it_root("C", "-rh", "localhost", "-rp", pb, "--remote-tls",
	    "--tls-port", pc, TLS_ARGS("srv"));
	it_wait_log(c, "joined the cluster");
	/* C learns A's address from B's announces before B goes. */
	it_wait_log(c, "learned of server");
	it_wait_log_n(c, "learned of server", 2);
	it_server_kill9(b);
	snprintf(want, sizeof want, "rejoined the cluster through parent#");
	it_wait_log(c, want);
	snprintf(want, sizeof want, "localhost:%s (", pa);
	if (it_log_count(c, want) == 0)
		it_fail("C did not rejoin through A's TLS port %s", pa);
	/*
	 * Both log in before either sends: an activity sent before a
	 * client logs in may still be on its way to the client's server
	 * and is then delivered to it live (activity-protocol(7), Per-sender
	 * order), so a hello of onA's could reach onC first.  One client a
	 * server: no REDIRECT.
	 */
	r.c[r.n++] = it_connect(a, "onA");
	it_login(r.c[0], "anonymous", NULL);
	r.c[r.n++] = it_connect(front_new(c, atoi(pc), cpath("ca", "crt")),
	    "onC");
	it_login(r.c[1], "anonymous", NULL);
	it_roster_broadcast(&r, r.c[0]);
	it_roster_broadcast(&r, r.c[1]);
}

/*
 * SIGHUP re-reads the certificate: new connections see the new one,
 * a connection made before keeps working, and a broken file leaves the
 * certificate in use in place.
 */
static void
tls__sighup__new_connections_see_new_certificate(void **state)
{
	struct it_server	*a, *fa;
	struct it_client	*c;
	char			*dir, crt[4200], key[4200], cn[256];

	(void)state;
	certs();
	dir = it_mkdtemp("rot");
	snprintf(crt, sizeof crt, "%s/cur.crt", dir);
	snprintf(key, sizeof key, "%s/cur.key", dir);
	it_run("cp %s %s && cp %s %s", cpath("srv", "crt"), crt,
	    cpath("srv", "key"), key);
	a = it_root("A", "--tls-port", "@PORT", "--no-plaintext",
	    "--tls-cert", crt, "--tls-key", key);
	probe_cn(a->port, cpath("ca", "crt"), cn, sizeof cn);
	if (strcmp(cn, "activity-server") != 0)
		it_fail("first certificate: CN %s", cn);
	fa = front_new(a, a->port, cpath("ca", "crt"));
	c = it_connect(fa, "before");
	it_login(c, "anonymous", NULL);

	it_run("cp %s %s.new && mv %s.new %s && cp %s %s.new && mv %s.new %s",
	    cpath("rot", "crt"), crt, crt, crt, cpath("rot", "key"), key,
	    key, key);
	kill(a->pid, SIGHUP);
	it_wait_log(a, "TLS: certificates reloaded");
	probe_cn(a->port, cpath("ca", "crt"), cn, sizeof cn);
	if (strcmp(cn, "activity-server-rotated") != 0)
		it_fail("after SIGHUP: CN %s, not the rotated one", cn);
	it_send_activity(c, "{\"still\":\"here\"}");
	it_expect(c, "ACTIVITY_BROADCAST");

	it_run("echo broken > %s", crt);
	kill(a->pid, SIGHUP);
	it_wait_log(a, "TLS: reload failed, keeping the certificates in use");
	probe_cn(a->port, cpath("ca", "crt"), cn, sizeof cn);
	if (strcmp(cn, "activity-server-rotated") != 0)
		it_fail("a failed reload changed the certificate: CN %s", cn);
}

/* What an impostor heard after TLS, in clear. */
struct heard {
	char	 got[65536];
	size_t	 len;
};

/* Read into h until a new line is complete; -1 on close or timeout. */
static int
heard_line(SSL *ssl, struct heard *h)
{
	size_t	 start = h->len;
	int	 n;

	while (memchr(h->got + start, '\n', h->len - start) == NULL) {
		if (h->len >= sizeof h->got - 1)
			return -1;
		n = SSL_read(ssl, h->got + h->len,
		    (int)(sizeof h->got - 1 - h->len));
		if (n <= 0)
			return -1;
		h->len += (size_t)n;
		h->got[h->len] = '\0';
	}
	return 0;
}

/*
 * Take one connection on lfd as a TLS server with certificate name.
 * With a handshake done, play the parent's side as far as the joiner
 * lets us and forge its end; return 1 if TLS came up, 0 if not, -1 if
 * nobody came.
 */
static int
impostor_once(int lfd, const char *name, struct heard *h)
{
	struct pollfd	 pfd;
	struct timeval	 tv;
	SSL_CTX		*ctx;
	SSL		*ssl;
	char		 line[1024];
	int		 fd, up = 0;

	pfd.fd = lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 200) != 1 || (fd = accept(lfd, NULL, NULL)) == -1)
		return -1;
	tv.tv_sec = it_timeout() / 1000;
	tv.tv_usec = (it_timeout() % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, cpath(name, "crt")) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cpath(name, "key"),
	    SSL_FILETYPE_PEM) != 1)
		it_fail("impostor: cannot load the %s certificate", name);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		up = 1;
		/* SERVER_HELLO, then a challenge, and the joiner's proof. */
		if (heard_line(ssl, h) == 0) {
			snprintf(line, sizeof line, "{\"command\":"
			    "\"SERVER_CHALLENGE\",\"nonce\":\"%064d\"}\n", 7);
			SSL_write(ssl, line, (int)strlen(line));
		}
		if (heard_line(ssl, h) == 0) {
			snprintf(line, sizeof line, "{\"command\":"
			    "\"AUTHENTICATE_SUCCESS\",\"id\":\"evil\","
			    "\"host\":\"localhost\",\"port\":1,"
			    "\"proof\":\"%064d\",\"token_key\":\"%032d\","
			    "\"users\":[{\"username\":\"alice\",\"secret\":"
			    "\"attacker-pw\",\"time\":0,\"origin\":\"\"}]}\n",
			    0, 0);
			SSL_write(ssl, line, (int)strlen(line));
		}
		while (heard_line(ssl, h) == 0)
			;
	}
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return up;
}

#define DW_PW	"alice-real-pw-5551"

/* A server of the "done when" cluster: no test-only switches. */
static struct it_server *
dw_spawn(const char *name, const char *dir, const char *parent_port)
{
	const char	*argv[32];
	int		 n = it_plain_args(argv);

	argv[n++] = "--tls-port";
	argv[n++] = "@PORT";
	argv[n++] = "--no-plaintext";
	argv[n++] = "--data-dir";
	argv[n++] = dir;
	argv[n++] = "--tls-cert";
	argv[n++] = cpath("srv", "crt");
	argv[n++] = "--tls-key";
	argv[n++] = cpath("srv", "key");
	argv[n++] = "--tls-ca";
	argv[n++] = cpath("ca", "crt");
	if (parent_port != NULL) {
		argv[n++] = "-rh";
		argv[n++] = "localhost";
		argv[n++] = "-rp";
		argv[n++] = parent_port;
		argv[n++] = "--remote-tls";
	}
	argv[n] = NULL;
	return it_spawn(name, argv, 1);
}

/*
 * The security issue's "done when", end to end, with no test-only
 * switch (no --allow-base-servers): three servers with TLS on every
 * link and no plaintext listener, each journalling to its own data
 * directory, B joined to A through a relay that records the link.
 * A user registered at A logs in at C.  Then A is killed and an
 * impostor takes its freed port, first with a certificate from another
 * CA, then with one our CA signed (a stolen certificate) but without
 * the cluster secret, forging the parent's answer with alice in it.
 * Expected: TLS refuses the first; the second hears a nonce and a
 * proof but no secret and no user, and B refuses it; alice's own
 * secret still logs in at B and C and the forged one does not; no
 * journal and no byte on the link holds a secret in clear.
 */
static void
done_when__tls_cluster__impostor_learns_nothing_no_secret_in_clear(
    void **state)
{
	struct it_server	*a, *b, *c, *fb;
	struct it_client	*cl;
	struct relay		*rl;
	static struct heard	 h;
	const char		*dirs[3];
	char			 path[4200], *got;
	uint64_t		 deadline;
	size_t			 len;
	int			 i, lfd, r, refused = 0, proved = 0;

	(void)state;
	certs();
	memset(&h, 0, sizeof h);
	for (i = 0; i < 3; i++)
		dirs[i] = strdup(it_mkdtemp("dw"));
	a = dw_spawn("A", dirs[0], NULL);
	rl = relay_new(a->port);
	relay_capture(rl, 1 << 20);
	b = dw_spawn("B", dirs[1], relay_port_str(rl));
	it_wait_log(b, "joined the cluster");
	c = dw_spawn("C", dirs[2], b->port_str);
	it_wait_log(c, "joined the cluster");
	it_register(front_new(a, a->port, cpath("ca", "crt")), "alice",
	    DW_PW);
	it_login_eventually(front_new(c, c->port, cpath("ca", "crt")),
	    "alice", DW_PW);

	it_server_kill9(a);
	lfd = it_listen_freed(a->port);
	deadline = it_now_ms() + 4 * (uint64_t)it_timeout();
	while (proved == 0 && it_now_ms() < deadline) {
		r = impostor_once(lfd, refused == 0 ? "intruder" : "srv", &h);
		if (r == -1)
			continue;
		if (refused == 0) {
			if (r == 1)
				it_fail("B completed TLS with a certificate "
				    "another CA signed");
			refused = 1;
		} else if (r == 1)
			proved = 1;
	}
	close(lfd);
	fprintf(stderr, "  the impostor heard: %s\n",
	    it_escape(h.got, h.len > 600 ? 600 : h.len));
	if (!proved)
		it_fail("B never came back to the freed port (refused %d)",
		    refused);
	it_wait_log(b, "TLS refused: certificate verify failed");
	if (strstr(h.got, "SERVER_HELLO") == NULL)
		it_fail("the impostor did not get as far as SERVER_HELLO");
	if (strstr(h.got, IT_SECRET) != NULL)
		it_fail("the impostor received the cluster secret");
	if (strstr(h.got, "alice") != NULL || strstr(h.got, "$y$") != NULL)
		it_fail("the impostor received a user");
	it_wait_log(b, "refused a parent: it failed to prove");

	/* Nothing changed: alice's secret works at B and C, the forged not. */
	fb = front_new(b, b->port, cpath("ca", "crt"));
	cl = it_connect(fb, "alice-at-B");
	it_login(cl, "alice", DW_PW);
	it_close(cl);
	cl = it_connect(fb, "attacker");
	it_login_fail(cl, "alice", "attacker-pw");
	it_close(cl);
	cl = it_connect(front_new(c, c->port, cpath("ca", "crt")),
	    "alice-at-C");
	it_login(cl, "alice", DW_PW);
	it_close(cl);

	/* Nothing in clear on the link (all TLS) or in a journal. */
	got = relay_captured(rl, &len);
	if (len < 1000)
		it_fail("the relay saw only %zu bytes", len);
	if (memmem(got, len, "SERVER_HELLO", 12) != NULL ||
	    memmem(got, len, IT_SECRET, strlen(IT_SECRET)) != NULL ||
	    memmem(got, len, DW_PW, strlen(DW_PW)) != NULL ||
	    memmem(got, len, "alice", 5) != NULL)
		it_fail("the A-B link carried something in clear");
	free(got);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/users.journal", dirs[i]);
		got = it_read_file(path, &len);
		if (strstr(got, "\"alice\"") == NULL ||
		    strstr(got, "$y$") == NULL)
			it_fail("%s lacks alice's hash: %s", path, got);
		if (strstr(got, DW_PW) != NULL ||
		    strstr(got, IT_SECRET) != NULL ||
		    strstr(got, "attacker-pw") != NULL)
			it_fail("%s holds a secret in clear", path);
		free(got);
		free((char *)dirs[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    tls3__no_plaintext_cluster__activities_delivered,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    tls__joiner_cert_from_other_ca__refused_and_logged,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    tls__parent_name_mismatch__refused_by_joiner,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    tls__client_over_tls__delivered_and_verified,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    tls__failover__rejoins_through_backup_tls_port,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    tls__sighup__new_connections_see_new_certificate,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    done_when__tls_cluster__impostor_learns_nothing_no_secret_in_clear,
		    it_setup, it_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return it_run_tests("integration: tls", tests);
}
