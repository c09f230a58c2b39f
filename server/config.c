/*
 * The server's settings and their defaults, in one place so the daemon
 * and the tests start from the same configuration.
 */
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

