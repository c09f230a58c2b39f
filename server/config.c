/*
 * The server's settings and their defaults, in one place so the daemon
 * and the tests start from the same configuration.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"

/* Every setting at its default; main() then applies the flags. */
void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->listen_host = "localhost";
	c->listen_port = 3780;
	c->remote_port = 3780;
	c->announce_ms = 5000;
	c->max_msg = 1024 * 1024;
	c->client_outbuf = 16 * 1024 * 1024;
	c->server_outbuf = 64 * 1024 * 1024;
	c->max_conns = 16384;
	c->max_servers = 256;
	c->max_pending_reg = 1024;
	c->register_timeout_ms = 5000;
	c->auth_timeout_ms = 10000;
	c->liveness_ms = -1;
	c->heartbeat_ms = 500;
	c->dcfg.order_wait_ms = 200;
	c->dcfg.report_timeout_ms = 2000;
	c->dcfg.replay_max = 100000;
	c->dcfg.replay_bytes = 32 * 1024 * 1024;
	c->dcfg.replay_window_ms = 60000;
	c->dcfg.max_senders = 65536;
	c->dcfg.max_reports = 65536;
	c->heartbeat_timeout_ms = 2000;
	c->verbose = LOG_LVL_INFO;
}


/* mkdir -p, owner only: a journal is nobody else's business. */
static int
config_mkdirs(char *path)
{
	char	*p;

	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * The data directory when --data-dir is not given: a directory per
 * port under the service manager's $STATE_DIRECTORY (its first entry),
 * else under $XDG_STATE_HOME or ~/.local/state, so registered users
 * survive a restart without the operator asking.
 */
int
config_default_data_dir(int port, char *buf, size_t len, char *err,
    size_t errlen)
{
	const char	*base;
	size_t		 n;
	int		 w;

	if ((base = getenv("STATE_DIRECTORY")) != NULL && *base == '/') {
		n = strcspn(base, ":");
		w = snprintf(buf, len, "%.*s/%d", (int)n, base, port);
	} else if ((base = getenv("XDG_STATE_HOME")) != NULL && *base == '/')
		w = snprintf(buf, len, "%s/activity-server/%d", base, port);
	else if ((base = getenv("HOME")) != NULL && *base == '/')
		w = snprintf(buf, len, "%s/.local/state/activity-server/%d",
		    base, port);
	else {
		snprintf(err, errlen, "no $STATE_DIRECTORY, $XDG_STATE_HOME "
		    "or $HOME for the default data directory; give "
		    "--data-dir DIR or --data-dir none");
		return -1;
	}
	if (w < 0 || (size_t)w >= len) {
		snprintf(err, errlen, "the default data directory's path is "
		    "too long");
		return -1;
	}
	if (config_mkdirs(buf) != 0) {
		snprintf(err, errlen, "%s: %s", buf, strerror(errno));
		return -1;
	}
	return 0;
}
