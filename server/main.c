/*
 * activity-server: options, the event loop, signals.  The flags existing
 * scripts use (-lh -lp -rh -rp -s -a) work as they are; every flag also
 * has a GNU long form.
 */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "opt.h"
#include "registry.h"
#include "secret.h"
#include "server.h"
#include "uplink.h"

#define SECRET_ENV	"ACTIVITY_SECRET"	/* the secret, kept out of ps */

enum {
	OPT_LH = 256, OPT_LP, OPT_RH, OPT_RP, OPT_BIND, OPT_SECRET_FILE,
	OPT_DATA_DIR, OPT_MAX_MSG, OPT_CLIENT_OUTBUF, OPT_SERVER_OUTBUF,
	OPT_MAX_CONNS, OPT_MAX_SERVERS, OPT_MAX_PENDING, OPT_REG_TIMEOUT,
	OPT_AUTH_TIMEOUT, OPT_LIVENESS, OPT_RECONNECT_DELAY, OPT_HEARTBEAT,
	OPT_HEARTBEAT_TIMEOUT, OPT_ORDER_WAIT, OPT_REPORT_TIMEOUT,
	OPT_REPLAY_MAX, OPT_REPLAY_BYTES, OPT_REPLAY_WINDOW, OPT_MAX_SENDERS,
	OPT_MAX_REPORTS, OPT_CHECK_CONFIG, OPT_LOG_FILE, OPT_LOG_LEVEL,
	OPT_MONITOR, OPT_ALLOW_BASE_SERVERS, OPT_TOKEN_LIFETIME,
	OPT_FORGET, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_CA, OPT_TLS_PORT,
	OPT_REMOTE_TLS, OPT_NO_PLAINTEXT,
	OPT_MAX_USERS, OPT_REGISTER_RATE, OPT_REGISTER_CONN_RATE,
	OPT_LOGIN_FAIL_DELAY, OPT_ANON_IDLE_TIMEOUT, OPT_ALLOW_ANONYMOUS,
	OPT_ALLOW_REGISTER, OPT_HASH_THREADS, OPT_HISTORY_MAX, OPT_HISTORY_BYTES,
	OPT_HISTORY_AGE, OPT_HASH_CPU, OPT_LOGIN_CACHE_TTL, OPT_LOGIN_CACHE_SIZE,
};

#define OPTSTRING	"s:a:c:vqhV"

/*
 * The option table is also the config file's list of keys: a long
 * option added here can be set in the file as "name = value" with no
 * other change.
 */

static const struct option longopts[] = {
	{ "lh", required_argument, NULL, OPT_LH },
	{ "listen-host", required_argument, NULL, OPT_LH },
	{ "lp", required_argument, NULL, OPT_LP },
	{ "listen-port", required_argument, NULL, OPT_LP },
	{ "rh", required_argument, NULL, OPT_RH },
	{ "remote-host", required_argument, NULL, OPT_RH },
	{ "rp", required_argument, NULL, OPT_RP },
	{ "remote-port", required_argument, NULL, OPT_RP },
	{ "secret", required_argument, NULL, 's' },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "announce-interval", required_argument, NULL, 'a' },
	{ "bind", required_argument, NULL, OPT_BIND },
	{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
	{ "max-message", required_argument, NULL, OPT_MAX_MSG },
	{ "client-outbuf", required_argument, NULL, OPT_CLIENT_OUTBUF },
	{ "server-outbuf", required_argument, NULL, OPT_SERVER_OUTBUF },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
	{ "max-servers", required_argument, NULL, OPT_MAX_SERVERS },
	{ "max-pending-registrations", required_argument, NULL,
	    OPT_MAX_PENDING },
	{ "register-timeout", required_argument, NULL, OPT_REG_TIMEOUT },
	{ "auth-timeout", required_argument, NULL, OPT_AUTH_TIMEOUT },
	{ "liveness", required_argument, NULL, OPT_LIVENESS },
	{ "forget-after", required_argument, NULL, OPT_FORGET },
	{ "reconnect-delay", required_argument, NULL, OPT_RECONNECT_DELAY },
	{ "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
	{ "heartbeat-timeout", required_argument, NULL,
	    OPT_HEARTBEAT_TIMEOUT },
	{ "order-wait", required_argument, NULL, OPT_ORDER_WAIT },
	{ "report-timeout", required_argument, NULL, OPT_REPORT_TIMEOUT },
	{ "replay-max", required_argument, NULL, OPT_REPLAY_MAX },
	{ "replay-bytes", required_argument, NULL, OPT_REPLAY_BYTES },
	{ "replay-window", required_argument, NULL, OPT_REPLAY_WINDOW },
	{ "history-max", required_argument, NULL, OPT_HISTORY_MAX },
	{ "history-bytes", required_argument, NULL, OPT_HISTORY_BYTES },
	{ "history-age", required_argument, NULL, OPT_HISTORY_AGE },
	{ "max-senders", required_argument, NULL, OPT_MAX_SENDERS },
	{ "max-pending-reports", required_argument, NULL, OPT_MAX_REPORTS },
	{ "config", required_argument, NULL, 'c' },
	{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "monitor", required_argument, NULL, OPT_MONITOR },
	{ "allow-base-servers", no_argument, NULL, OPT_ALLOW_BASE_SERVERS },
	{ "token-lifetime", required_argument, NULL, OPT_TOKEN_LIFETIME },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
	{ "tls-port", required_argument, NULL, OPT_TLS_PORT },
	{ "remote-tls", no_argument, NULL, OPT_REMOTE_TLS },
	{ "no-plaintext", no_argument, NULL, OPT_NO_PLAINTEXT },
	{ "max-users", required_argument, NULL, OPT_MAX_USERS },
	{ "register-rate", required_argument, NULL, OPT_REGISTER_RATE },
	{ "register-conn-rate", required_argument, NULL,
	    OPT_REGISTER_CONN_RATE },
	{ "login-fail-delay", required_argument, NULL, OPT_LOGIN_FAIL_DELAY },
	{ "anon-idle-timeout", required_argument, NULL,
	    OPT_ANON_IDLE_TIMEOUT },
	{ "allow-anonymous", required_argument, NULL, OPT_ALLOW_ANONYMOUS },
	{ "allow-register", required_argument, NULL, OPT_ALLOW_REGISTER },
	{ "hash-threads", required_argument, NULL, OPT_HASH_THREADS },
	{ "hash-cpu", required_argument, NULL, OPT_HASH_CPU },
	{ "login-cache-ttl", required_argument, NULL, OPT_LOGIN_CACHE_TTL },
	{ "login-cache-size", required_argument, NULL, OPT_LOGIN_CACHE_SIZE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	/*
	 * The one-letter flags by exact name too, so that --s, --a, --v,
	 * --h and --V mean -s, -a, -v, -h and -V (as --lh means -lh)
	 * instead of being ambiguous prefixes or unknown.
	 */
	{ "s", required_argument, NULL, 's' },
	{ "a", required_argument, NULL, 'a' },
	{ "c", required_argument, NULL, 'c' },
	{ "v", no_argument, NULL, 'v' },
	{ "q", no_argument, NULL, 'q' },
	{ "h", no_argument, NULL, 'h' },
	{ "V", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: activity-server [-lh host] [-lp port] [-rh host -rp port] [-s secret]\n"
"                       [-a ms] [options]\n"
"\n"
"Run one server of an activity-streamer cluster.  Started alone it is the\n"
"root (and prints a generated secret unless -s is given); with -rh/-rp it\n"
"joins the cluster through that server.\n"
"\n"
"  -lh, --listen-host HOST    host name this server advertises (localhost)\n"
"  -lp, --listen-port PORT    port to listen on (3780)\n"
"  -rh, --remote-host HOST    a server of the cluster to join\n"
"  -rp, --remote-port PORT    its port (3780)\n"
"  -s,  --secret SECRET       the cluster secret\n"
"       --secret-file PATH    read the secret from the first line of PATH\n"
"                             (mode 600); else from $ACTIVITY_SECRET\n"
"  -a,  --announce-interval MS  SERVER_ANNOUNCE period (5000)\n"
"       --bind ADDR           address to listen on (the -lh host)\n"
"       --data-dir DIR        keep the journal of registered users in DIR\n"
"                             ($XDG_STATE_HOME/activity-server/PORT; none:\n"
"                             no journal)\n"
"       --max-message BYTES   longest accepted message (1M)\n"
"       --client-outbuf BYTES drop a client with more unread output (16M)\n"
"       --server-outbuf BYTES drop a server link with more unread output,\n"
"                             shed activities for it over half (64M)\n"
"       --max-connections N   client connections at most (16384); server\n"
"                             links do not count\n"
"       --max-servers N       known servers, and server links, at most (256)\n"
"       --max-pending-registrations N  registrations in progress (1024)\n"
"       --register-timeout MS give up a registration after MS (5000)\n"
"       --auth-timeout MS     close connections that have not logged in,\n"
"                             registered or authenticated after MS (10000)\n"
"       --liveness MS         mark a server lost after MS without an\n"
"                             announce (4 announce intervals)\n"
"       --forget-after MS     stop listing a server down or lost for MS\n"
"                             (600000)\n"
"       --reconnect-delay MS  wait MS before re-joining after losing the\n"
"                             parent (0; a test knob)\n"
"       --heartbeat MS        PING a quiet server link every MS (500)\n"
"       --heartbeat-timeout MS  drop a server link silent for MS (2000)\n"
"       --order-wait MS       hold an activity behind a gap in its sender's\n"
"                             activity_seq for at most MS (200; 0: no\n"
"                             ordering)\n"
"       --report-timeout MS   send a delivery report as partial after MS (2000)\n"
"       --replay-max N        activities kept for replay (100000)\n"
"       --replay-bytes BYTES  bytes kept for replay (32M)\n"
"       --replay-window MS    how long activities are kept for replay (60000)\n"
"       --history-max N       activities kept in the history log in the\n"
"                             data directory (1000000; 0: no history)\n"
"       --history-bytes BYTES bytes of history kept (512M)\n"
"       --history-age SECONDS how long history is kept (604800: a week)\n"
"       --max-senders N       sender sessions tracked for ordering (65536)\n"
"       --max-pending-reports N  delivery reports in progress (65536)\n"
"  -c,  --config FILE         read settings from FILE (key = value, the keys\n"
"                             are these long options); flags override it\n"
"       --check-config        check the configuration and exit\n"
"       --log-file PATH       log to PATH too (reopened on SIGHUP)\n"
"       --log-level LEVEL     warning, info (the default) or debug\n"
"       --monitor HOST:PORT   serve /healthz, /status and /metrics over HTTP\n"
"                             (a bare PORT: on 127.0.0.1)\n"
"       --allow-base-servers  accept the base protocol's AUTHENTICATE, which\n"
"                             sends the cluster secret in clear (off)\n"
"       --token-lifetime MS   session tokens expire after MS (the replay\n"
"                             window)\n"
"       --tls-port PORT       also listen for TLS on PORT (clients and servers)\n"
"       --tls-cert FILE       our certificate chain (PEM), for --tls-port and\n"
"                             --remote-tls; re-read on SIGHUP\n"
"       --tls-key FILE        its private key (PEM); re-read on SIGHUP\n"
"       --tls-ca FILE         trusted CA certificates (PEM): a server joining\n"
"                             over TLS, and our parent, must have a\n"
"                             certificate they signed (default: the system's)\n"
"       --remote-tls          join the parent over TLS (-rp is its TLS port)\n"
"       --no-plaintext        no plaintext listener; -lp is ignored and the\n"
"                             TLS port is the one advertised\n"
"       --max-users N         registered users at most (1000000)\n"
"       --register-rate N     registrations a minute from one address (100;\n"
"                             0: no limit)\n"
"       --register-conn-rate N  registrations a minute on one connection\n"
"                             (10; 0: no limit)\n"
"       --login-fail-delay MS after 5 failed logins from an address, its\n"
"                             next waits MS, doubling to 60 s (1000; 0: off)\n"
"       --anon-idle-timeout MS  close an anonymous client silent for MS\n"
"                             (0: never)\n"
"       --allow-anonymous yes|no  anonymous logins (yes)\n"
"       --allow-register yes|no   REGISTER from clients (yes)\n"
"       --hash-threads N      threads (and helper processes) hashing secrets\n"
"                             at idle priority (2)\n"
"       --hash-cpu PERCENT    of one CPU the hashing may use at most (25;\n"
"                             0: no limit); more logins wait, then \"busy\"\n"
"       --login-cache-ttl MS  a verified login is remembered MS (300000;\n"
"                             0: off): the same secret needs no slow hash\n"
"       --login-cache-size N  logins remembered at most (10000; 0: off)\n"
"  -v,  --verbose             log more (repeat for debug)\n"
"  -q,  --quiet               log warnings only\n"
"  -h,  --help                this help\n"
"  -V,  --version             print the version\n"
"\n"
"Example: activity-server -lh localhost -lp 8001 -s abc -rh localhost -rp 8000 -a 5000\n");
}

static int			 saved_argc;
static char			**saved_argv;
static const char		*config_path;	/* -c */
static int			 check_config;	/* --check-config */
static const char		*secret_file;	/* --secret-file */
static struct config_file	 boot_file;	/* -c as read at start */
static struct config_file	 reload_file;	/* -c as read on SIGHUP */
static const struct config_file	*words_file;	/* words now parsed */
static jmp_buf			*reload_jmp;	/* set during SIGHUP */

/*
 * A configuration error: at start it is fatal (logged at error level,
 * with the config file's name and line when it came from there); while
 * SIGHUP re-reads the file, the reload is abandoned instead.
 */
static void __attribute__((format(printf, 1, 2)))
config_fail(const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (words_file != NULL && optind >= 1 && optind <= words_file->argc)
		log_errorx("%s:%d: %s", words_file->path,
		    words_file->line[optind - 1], msg);
	else
		log_errorx("%s", msg);
	if (reload_jmp != NULL)
		longjmp(*reload_jmp, 1);
	exit(1);
}

/*
 * A bad value names the setting as the person wrote it: the flag on the
 * command line, the key ("listen-port", not "-lp") in a config file.
 */
static void
bad_value(const char *opt, const char *val, const char *want)
{
	char		 key[64];
	const char	*w;
	size_t		 n;

	if (words_file != NULL && optind >= 1 && optind <= words_file->argc &&
	    strncmp(w = words_file->argv[optind - 1], "--", 2) == 0) {
		w += 2;
		n = strcspn(w, "=");
		if (n < sizeof key) {
			memcpy(key, w, n);
			key[n] = '\0';
			config_fail("invalid value '%s' for %s: %s", val, key,
			    want);
		}
	}
	config_fail("invalid value '%s' for %s: %s", val, opt, want);
}

static long
num_arg(const char *opt, const char *val, long min, long max)
{
	long	 v;
	char	 want[96];

	if (opt_long(val, min, max, &v) != 0) {
		snprintf(want, sizeof want, "expected an integer from %ld to "
		    "%ld", min, max);
		bad_value(opt, val, want);
	}
	return v;
}

static size_t
size_arg(const char *opt, const char *val, size_t min, size_t max)
{
	size_t	 v;

	if (opt_size(val, min, max, &v) != 0)
		bad_value(opt, val, "expected a byte count such as 65536, "
		    "512K or 1M, within limits");
	return v;
}

/* TLS flags that make no sense together stop us before we start. */
static void
check_tls_args(struct config *c)
{
	const char	*why = NULL;

	if (c->tls_port > 0 && (c->tls_cert == NULL || c->tls_key == NULL))
		why = "--tls-port needs --tls-cert and --tls-key";
	else if (c->remote_tls && (c->tls_cert == NULL || c->tls_key == NULL))
		why = "--remote-tls needs --tls-cert and --tls-key: a parent "
		    "asks a joining server for its certificate";
	else if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		why = "--tls-cert and --tls-key go together";
	else if (c->no_plaintext && c->tls_port == 0)
		why = "--no-plaintext needs --tls-port";
	else if (c->tls_port > 0 && c->tls_port == c->listen_port &&
	    !c->no_plaintext)
		why = "--tls-port must differ from -lp";
	if (why != NULL)
		config_fail("%s", why);
	/* Every address we give out must be one that answers. */
	if (c->no_plaintext)
		c->listen_port = c->tls_port;
}

/* A yes/no switch. */
static int
bool_arg(const char *opt, const char *val)
{
	if (strcmp(val, "yes") == 0 || strcmp(val, "on") == 0 ||
	    strcmp(val, "1") == 0)
		return 1;
	if (strcmp(val, "no") == 0 || strcmp(val, "off") == 0 ||
	    strcmp(val, "0") == 0)
		return 0;
	bad_value(opt, val, "expected yes or no");
	return 0;
}

/*
 * Apply one list of words, the command line or a config file's, over c;
 * a later word wins over an earlier one.
 */
static void
parse_words(int argc, char **argv, struct config *c)
{
	int	 ch, s_here = 0, sf_here = 0;

	optind = 0;
	while ((ch = getopt_long_only(argc, argv, OPTSTRING, longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
		case OPT_CHECK_CONFIG:
			break;		/* config_prescan() took them */
		case OPT_LOG_FILE:
			c->log_file = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (strcmp(optarg, "warning") == 0)
				c->verbose = LOG_LVL_WARN;
			else if (strcmp(optarg, "info") == 0)
				c->verbose = LOG_LVL_INFO;
			else if (strcmp(optarg, "debug") == 0)
				c->verbose = LOG_LVL_DEBUG;
			else
				bad_value("--log-level", optarg, "expected "
				    "warning, info or debug");
			break;
		case OPT_MONITOR:
			if (monitor_parse(optarg, NULL, 0, NULL) != 0)
				bad_value("--monitor", optarg, "expected "
				    "HOST:PORT");
			c->monitor = optarg;
			break;
		case OPT_LH:
			c->listen_host = optarg;
			break;
		case OPT_LP:
			c->listen_port = (int)num_arg("-lp", optarg, 1, 65535);
			break;
		case OPT_RH:
			c->remote_host = optarg;
			break;
		case OPT_RP:
			c->remote_port = (int)num_arg("-rp", optarg, 1, 65535);
			break;
		case 's':
			if (strlen(optarg) == 0 ||
			    strlen(optarg) >= sizeof c->secret)
				bad_value("-s", optarg, "expected 1 to 255 "
				    "characters");
			snprintf(c->secret, sizeof c->secret, "%s", optarg);
			c->secret_given = 1;
			secret_file = NULL;
			s_here = 1;
			break;
		case OPT_SECRET_FILE:
			secret_file = optarg;
			c->secret_given = 0;
			sf_here = 1;
			break;
		case 'a':
			c->announce_ms = (int)num_arg("-a", optarg, 10,
			    3600000);
			break;
		case OPT_BIND:
			c->bind_addr = optarg;
			break;
		case OPT_DATA_DIR:
			c->data_dir = optarg;
			break;
		case OPT_MAX_MSG:
			c->max_msg = size_arg("--max-message", optarg, 256,
			    (size_t)64 << 20);
			break;
		case OPT_CLIENT_OUTBUF:
			c->client_outbuf = size_arg("--client-outbuf", optarg,
			    4096, (size_t)1 << 32);
			break;
		case OPT_SERVER_OUTBUF:
			c->server_outbuf = size_arg("--server-outbuf", optarg,
			    4096, (size_t)1 << 34);
			break;
		case OPT_MAX_CONNS:
			c->max_conns = (int)num_arg("--max-connections",
			    optarg, 1, 1000000);
			break;
		case OPT_MAX_SERVERS:
			c->max_servers = (int)num_arg("--max-servers", optarg,
			    1, 1024);
			break;
		case OPT_MAX_PENDING:
			c->max_pending_reg = (int)num_arg(
			    "--max-pending-registrations", optarg, 1, 1000000);
			break;
		case OPT_REG_TIMEOUT:
			c->register_timeout_ms = (int)num_arg(
			    "--register-timeout", optarg, 10, 3600000);
			break;
		case OPT_AUTH_TIMEOUT:
			c->auth_timeout_ms = (int)num_arg("--auth-timeout",
			    optarg, 10, 3600000);
			break;
		case OPT_LIVENESS:
			c->liveness_ms = (int)num_arg("--liveness", optarg,
			    10, 86400000);
			break;
		case OPT_FORGET:
			c->forget_ms = (int)num_arg("--forget-after", optarg,
			    0, 86400000);
			break;
		case OPT_RECONNECT_DELAY:
			c->reconnect_delay_ms = (int)num_arg(
			    "--reconnect-delay", optarg, 0, 3600000);
			break;
		case OPT_HEARTBEAT:
			c->heartbeat_ms = (int)num_arg("--heartbeat", optarg,
			    10, 600000);
			break;
		case OPT_HEARTBEAT_TIMEOUT:
			c->heartbeat_timeout_ms = (int)num_arg(
			    "--heartbeat-timeout", optarg, 20, 3600000);
			break;
		case OPT_ORDER_WAIT:
			c->dcfg.order_wait_ms = (int)num_arg("--order-wait",
			    optarg, 0, 600000);
			break;
		case OPT_REPORT_TIMEOUT:
			c->dcfg.report_timeout_ms = (int)num_arg(
			    "--report-timeout", optarg, 10, 3600000);
			break;
		case OPT_REPLAY_MAX:
			c->dcfg.replay_max = (size_t)num_arg("--replay-max",
			    optarg, 0, 100000000);
			break;
		case OPT_REPLAY_BYTES:
			c->dcfg.replay_bytes = size_arg("--replay-bytes",
			    optarg, 0, (size_t)1 << 36);
			break;
		case OPT_REPLAY_WINDOW:
			c->dcfg.replay_window_ms = (int)num_arg(
			    "--replay-window", optarg, 0, 86400000);
			break;
		case OPT_HISTORY_MAX:
			c->history.max = (size_t)num_arg("--history-max",
			    optarg, 0, 100000000);
			break;
		case OPT_HISTORY_BYTES:
			c->history.bytes = size_arg("--history-bytes",
			    optarg, 65536, (size_t)1 << 40);
			break;
		case OPT_HISTORY_AGE:
			c->history.age_ms = (uint64_t)num_arg("--history-age",
			    optarg, 1, 100L * 365 * 86400) * 1000;
			break;
		case OPT_MAX_SENDERS:
			c->dcfg.max_senders = (int)num_arg("--max-senders",
			    optarg, 1, 10000000);
			break;
		case OPT_MAX_REPORTS:
			c->dcfg.max_reports = (int)num_arg(
			    "--max-pending-reports", optarg, 1, 10000000);
			break;
		case OPT_ALLOW_BASE_SERVERS:
			c->allow_base_servers = 1;
			break;
		case OPT_TOKEN_LIFETIME:
			c->token_lifetime_ms = (int)num_arg("--token-lifetime",
			    optarg, 1, 86400000);
			break;
		case OPT_TLS_CERT:
			c->tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			c->tls_key = optarg;
			break;
		case OPT_TLS_CA:
			c->tls_ca = optarg;
			break;
		case OPT_TLS_PORT:
			c->tls_port = (int)num_arg("--tls-port", optarg, 1,
			    65535);
			break;
		case OPT_REMOTE_TLS:
			c->remote_tls = 1;
			break;
		case OPT_NO_PLAINTEXT:
			c->no_plaintext = 1;
			break;
		case OPT_MAX_USERS:
			c->max_users = (size_t)num_arg("--max-users", optarg,
			    1, 100000000);
			break;
		case OPT_REGISTER_RATE:
			c->register_rate = (int)num_arg("--register-rate",
			    optarg, 0, 60000);
			break;
		case OPT_REGISTER_CONN_RATE:
			c->register_conn_rate = (int)num_arg(
			    "--register-conn-rate", optarg, 0, 60000);
			break;
		case OPT_LOGIN_FAIL_DELAY:
			c->login_fail_delay_ms = (int)num_arg(
			    "--login-fail-delay", optarg, 0, 60000);
			break;
		case OPT_ANON_IDLE_TIMEOUT:
			c->anon_idle_timeout_ms = (int)num_arg(
			    "--anon-idle-timeout", optarg, 0, 86400000);
			break;
		case OPT_ALLOW_ANONYMOUS:
			c->allow_anonymous = bool_arg("--allow-anonymous",
			    optarg);
			break;
		case OPT_ALLOW_REGISTER:
			c->allow_register = bool_arg("--allow-register",
			    optarg);
			break;
		case OPT_HASH_THREADS:
			c->hash_threads = (int)num_arg("--hash-threads",
			    optarg, 1, HASHPOOL_THREADS_MAX);
			break;
		case OPT_HASH_CPU:
			c->hash_cpu = (int)num_arg("--hash-cpu", optarg, 0,
			    100 * HASHPOOL_THREADS_MAX);
			break;
		case OPT_LOGIN_CACHE_TTL:
			c->login_cache_ttl_ms = (int)num_arg(
			    "--login-cache-ttl", optarg, 0, 86400000);
			break;
		case OPT_LOGIN_CACHE_SIZE:
			c->login_cache_size = (int)num_arg(
			    "--login-cache-size", optarg, 0, 10000000);
			break;
		case 'v':
			c->verbose++;
			break;
		case 'q':
			c->verbose = LOG_LVL_WARN;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("activity-server %s\n", SERVER_VERSION);
			exit(0);
		default:
			/* getopt said what was wrong, in one line. */
			fprintf(stderr, "try 'activity-server --help'\n");
			exit(1);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "activity-server: unexpected argument '%s'\n"
		    "try 'activity-server --help'\n", argv[optind]);
		exit(1);
	}
	if (s_here && sf_here)
		config_fail("give -s or --secret-file, not both");
}

/* Find -c and --check-config before anything else is parsed. */
static void
config_prescan(int argc, char **argv)
{
	int	 ch;

	opterr = 0;
	optind = 0;
	while ((ch = getopt_long_only(argc, argv, OPTSTRING, longopts,
	    NULL)) != -1) {
		if (ch == 'c')
			config_path = optarg;
		else if (ch == OPT_CHECK_CONFIG)
			check_config = 1;
	}
	opterr = 1;
}

/*
 * The whole configuration: defaults, then the config file, then the
 * command line over it.
 */
static void
config_load(int argc, char **argv, struct config *c, struct config_file *cf)
{
	const char	*env;
	char		 err[1024];

	config_defaults(c);
	secret_file = NULL;
	if (config_path != NULL) {
		config_file_free(cf);
		if (config_file_read(cf, config_path, longopts, err,
		    sizeof err) != 0)
			config_fail("%s", err);
		words_file = cf;
		parse_words(cf->argc, cf->argv, c);
		words_file = NULL;
	}
	parse_words(argc, argv, c);
	if (secret_file != NULL) {
		if (secret_read_file(secret_file, c->secret, sizeof c->secret,
		    err, sizeof err) != 0)
			config_fail("%s", err);
		c->secret_given = 1;
	} else if (!c->secret_given && (env = getenv(SECRET_ENV)) != NULL) {
		if (*env == '\0' || strlen(env) >= sizeof c->secret)
			config_fail("%s must hold 1 to %zu characters",
			    SECRET_ENV, sizeof c->secret - 1);
		snprintf(c->secret, sizeof c->secret, "%s", env);
		c->secret_given = 1;
	}
	if (c->heartbeat_timeout_ms <= c->heartbeat_ms)
		config_fail("--heartbeat-timeout must be longer than "
		    "--heartbeat");
	if (c->liveness_ms < 0)
		c->liveness_ms = 4 * c->announce_ms;
	check_tls_args(c);
}

/*
 * SIGHUP: reopen the log file (logrotate has moved it) and re-read the
 * config file and command line; what can change without a restart is
 * applied, and a file with errors leaves everything as it was.
 */
static void
sighup_cb(evutil_socket_t sig, short events, void *arg)
{
	static struct config	 c;
	struct server		*srv = arg;
	jmp_buf			 jb;

	(void)sig;
	(void)events;
	if (log_reopen() != 0)
		log_warn("SIGHUP: cannot reopen the log file");
	/* Certificates rotate even if the config file has a fault. */
	tls_reload(srv);
	if (setjmp(jb) != 0) {
		reload_jmp = NULL;
		words_file = NULL;
		config_file_free(&reload_file);
		log_warnx("SIGHUP: configuration not reloaded; the previous "
		    "one stays in force");
		return;
	}
	reload_jmp = &jb;
	config_load(saved_argc, saved_argv, &c, &reload_file);
	reload_jmp = NULL;
	config_reload_apply(&srv->cfg, &c);
	log_setverbose(c.verbose);
	config_file_free(&reload_file);
	log_info("SIGHUP: configuration reloaded%s%s",
	    config_path != NULL ? " from " : "",
	    config_path != NULL ? config_path : "");
}

static void
signal_cb(evutil_socket_t sig, short events, void *arg)
{
	struct server	*srv = arg;

	(void)events;
	server_leave(srv, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

int
main(int argc, char **argv)
{
	struct config		 cfg;
	struct event_base	*base;
	struct event_config	*ec;
	struct server		*srv;
	char			 err[512], datadir[4096];
	int			 rc;

	log_init("activity-server", LOG_LVL_INFO);
	saved_argc = argc;
	saved_argv = argv;
	config_prescan(argc, argv);
	config_load(argc, argv, &cfg, &boot_file);
	if (check_config) {
		printf("%s: the configuration is valid\n", config_path != NULL ?
		    config_path : "the command line");
		config_file_free(&boot_file);
		return 0;
	}
	log_setverbose(cfg.verbose);
	if (cfg.log_file != NULL && log_set_file(cfg.log_file) != 0) {
		log_errorx("cannot open the log file %s: %s", cfg.log_file,
		    strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	if (!cfg.secret_given) {
		if (cfg.remote_host != NULL) {
			log_errorx("joining a cluster (-rh) needs its secret "
			    "(-s or --secret-file)");
			return 1;
		}
		if (secret_generate(cfg.secret, 27) != 0)
			fatal("cannot generate a secret");
		printf("cluster secret: %s\n", cfg.secret);
		fflush(stdout);
	}
	if (strlen(cfg.secret) < SERVER_SECRET_MIN)
		log_warnx("the cluster secret is shorter than %d characters: "
		    "anyone who records a server link's handshake can guess "
		    "it offline; use a generated one", SERVER_SECRET_MIN);

	/*
	 * One thread: no locks.  The epoll changelist folds the add and
	 * delete of a client's write event between two loop turns into
	 * nothing, which under fan-out saves two epoll_ctl calls per
	 * client per turn.
	 */
	if ((ec = event_config_new()) == NULL)
		fatalx("event_config_new");
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK |
	    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (base == NULL)
		fatalx("event_base_new");
	/*
	 * Three priorities: a closed peer's consequences run at 0, right
	 * after the callback that closed it; everything else runs at the
	 * default (1); the output flush runs at 2, after every read a loop
	 * turn has ready, so one write carries all a turn queued (see
	 * peer_flush_cb).
	 */
	if (event_base_priority_init(base, SERVER_PRIORITIES) != 0)
		fatalx("event_base_priority_init");
	if (cfg.data_dir == NULL) {
		if (config_default_data_dir(cfg.listen_port, datadir,
		    sizeof datadir, err, sizeof err) != 0) {
			log_errorx("cannot use the data directory: %s", err);
			return 1;
		}
		cfg.data_dir = datadir;
	} else if (strcmp(cfg.data_dir, "none") == 0)
		cfg.data_dir = NULL;
	srv = server_new(base, &cfg);
	if (cfg.data_dir != NULL &&
	    registry_open(srv->reg, cfg.data_dir, err, sizeof err) != 0) {
		log_errorx("cannot use the data directory: %s", err);
		return 1;
	}
	if (cfg.data_dir != NULL && cfg.history.max > 0 &&
	    (srv->history = history_open(base, cfg.data_dir, &cfg.history,
	    err, sizeof err)) == NULL) {
		log_errorx("cannot keep the history: %s", err);
		return 1;
	}
	/*
	 * Restarted: what we may lack begins at our newest record, so the
	 * first link replays what was sent while we were down (as far as
	 * its replay log reaches back).
	 */
	if (history_newest(srv->history) > 0 &&
	    history_newest(srv->history) < srv->since_ms)
		srv->since_ms = history_newest(srv->history) - 1000;
	if (cfg.data_dir != NULL)
		log_info("data directory %s: registered users are kept there",
		    cfg.data_dir);
	else
		log_info("no data directory (--data-dir none): registered "
		    "users are forgotten when every server stops");
	if (tls_setup(srv) != 0 || server_listen(srv) != 0)
		return 1;
	if (cfg.monitor != NULL && monitor_start(srv, cfg.monitor) != 0)
		return 1;
	srv->sig_ev[0] = evsignal_new(base, SIGTERM, signal_cb, srv);
	srv->sig_ev[1] = evsignal_new(base, SIGINT, signal_cb, srv);
	srv->sig_ev[2] = evsignal_new(base, SIGHUP, sighup_cb, srv);
	event_add(srv->sig_ev[0], NULL);
	event_add(srv->sig_ev[1], NULL);
	event_add(srv->sig_ev[2], NULL);
	cron_start(srv);
	log_info("server %s listening on %s:%d%s%s", srv->id,
	    cfg.bind_addr != NULL ? cfg.bind_addr : cfg.listen_host,
	    cfg.listen_port, cfg.no_plaintext ? " (TLS only)" :
	    cfg.tls_port > 0 ? " and TLS" : "",
	    cfg.remote_host != NULL ? ", joining" : " as root");
	if (cfg.tls_port > 0 && !cfg.no_plaintext)
		log_info("TLS listener on port %d", cfg.tls_port);
	if (cfg.remote_host != NULL)
		uplink_start(srv, cfg.remote_host, cfg.remote_port);

	event_base_dispatch(base);

	rc = srv->exit_code;
	server_free(srv);
	event_base_free(base);
	config_file_free(&boot_file);
	config_file_free(&reload_file);
	log_set_file(NULL);
	return rc;
}
