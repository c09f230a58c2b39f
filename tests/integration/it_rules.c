/*
 * Rules of activity-protocol(7) that only a running server can show
 * (the rest of the sweep is tests/unit/test_protocol.c): what a server
 * without a plaintext listener advertises.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/*
 * The body of GET path from the monitoring endpoint at 127.0.0.1:port
 * (malloc'd), read until the server closes; fails the test if no whole
 * reply comes within the test timeout.
 */
static char *
http_body(int port, const char *path)
{
	struct sockaddr_in	 sin;
	struct pollfd		 pfd;
	uint64_t		 deadline;
	char			*buf, *sep, req[256];
	size_t			 len = 0, cap = 1 << 20;
	ssize_t			 n;
	int			 fd;

	deadline = it_now_ms() + (uint64_t)it_timeout();
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		it_fail("socket: %s", strerror(errno));
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		it_fail("connect to the monitor port %d: %s", port,
		    strerror(errno));
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "Connection: close\r\n\r\n", path, port);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		it_fail("write: %s", strerror(errno));
	if ((buf = malloc(cap)) == NULL)
		abort();
	for (;;) {
		if ((int64_t)(deadline - it_now_ms()) <= 0)
			it_fail("GET %s: no whole reply within %d ms", path,
			    it_timeout());
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - it_now_ms())) <= 0)
			continue;
		if (len + 1 >= cap)
			it_fail("GET %s: reply over %zu bytes", path, cap);
		if ((n = read(fd, buf + len, cap - len - 1)) < 0) {
			if (errno == EINTR)
				continue;
			it_fail("read: %s", strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.1 200", 12) != 0 ||
	    (sep = strstr(buf, "\r\n\r\n")) == NULL)
		it_fail("GET %s: not a 200 reply: %s", path,
		    it_escape(buf, len));
	memmove(buf, sep + 4, strlen(sep + 4) + 1);
	return buf;
}

/*
 * TLS: a server with no plaintext listener advertises its TLS port as
 * its port, even when -lp names another: its own row of the cluster
 * status (what SERVER_ANNOUNCE, BACKUP_LIST and REDIRECT give out too)
 * carries the TLS port.
 */
static void
tls__no_plaintext__tls_port_advertised_as_port(void **state)
{
	struct it_server	*a;
	const cJSON		*s, *self = NULL;
	cJSON			*j;
	char			*dir, *body, ca[1024];
	char			 cert[1024], key[1024], lp[16], mon[64];
	int			 mp = it_free_port();

	(void)state;
	dir = it_mkdtemp("rules-tls");
	it_make_ca(dir, "ca", "activity test CA");
	it_make_cert(dir, "srv", "localhost", "ca",
	    "DNS:localhost,IP:127.0.0.1");
	snprintf(ca, sizeof ca, "%s/ca.crt", dir);
	snprintf(cert, sizeof cert, "%s/srv.crt", dir);
	snprintf(key, sizeof key, "%s/srv.key", dir);
	snprintf(lp, sizeof lp, "%d", it_free_port());
	snprintf(mon, sizeof mon, "127.0.0.1:%d", mp);
	{
		const char *argv[] = { "-lh", "localhost", "-lp", lp,
		    "-s", IT_SECRET, "--tls-port", "@PORT", "--no-plaintext",
		    "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca,
		    "--monitor", mon, NULL };

		/* @PORT, the TLS one, is where readiness is checked. */
		a = it_spawn("A", argv, 1);
	}
	if (a->port == atoi(lp))
		it_fail("the TLS port is the -lp port: nothing to tell");
	it_wait_log(a, "monitoring on http://127.0.0.1:");
	body = http_body(mp, "/status");
	if ((j = cJSON_Parse(body)) == NULL)
		it_fail("/status is not JSON: %s", body);
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "cluster"), "servers")) {
		const cJSON *st = cJSON_GetObjectItem(s, "state");

		if (cJSON_IsString(st) && strcmp(st->valuestring, "self") == 0)
			self = s;
	}
	if (self == NULL)
		it_fail("no row for the server itself: %s", body);
	if (!cJSON_IsNumber(cJSON_GetObjectItem(self, "port")) ||
	    cJSON_GetObjectItem(self, "port")->valueint != a->port)
		it_fail("it advertises port %s, its TLS port is %d (-lp %s)",
		    cJSON_PrintUnformatted(cJSON_GetObjectItem(self, "port")),
		    a->port, lp);
	cJSON_Delete(j);
	free(body);
	it_wait_log(a, "(TLS only)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
		    tls__no_plaintext__tls_port_advertised_as_port,
		    it_teardown),
	};

	return it_run_tests("integration: rules", tests);
}
