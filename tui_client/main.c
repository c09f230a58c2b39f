/*
 * activity-tui: options, where logs go, and which mode to run.  Logs
 * never reach the terminal the client draws on: stderr is pointed at
 * the log file (or /dev/null) and what the user must read goes to a
 * saved copy of the real stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "opt.h"
#include "secret.h"
#include "text.h"
#include "tls.h"
#include "tui.h"

#include <term.h>	/* last: its macros (lines, columns) name fields */

static void	tui_usage(FILE *, int) __attribute__((noreturn));

/* Print the options to f and exit with code. */
static void
tui_usage(FILE *f, int code)
{
	fprintf(f,
"usage: activity-tui [-v] [--batch [--follow]] [-rh host] [-rp port]\n"
"                    [-u username] [-s secret | --secret-file file]\n"
"                    [--wait seconds] [--give-up seconds] [--log file]\n"
"                    [--max-message bytes] [--no-color]\n"
"                    [--tls [--tls-ca file]] [--history n]\n"
"  -rh, --remote-host host  server to connect to (default %s)\n"
"  -rp, --remote-port port  its port (default %d)\n"
"  -u, --username name      log in as name (default anonymous)\n"
"  -s, --secret secret      the secret; a name without one is registered\n"
"                           with a generated secret first\n"
"  --secret-file file       read the secret from the first line of file\n"
"                           (else from ACTIVITY_SECRET, with -u)\n"
"  --batch                  send stdin lines, print server messages\n"
"  --follow                 batch: keep receiving after the input ends,\n"
"                           until SIGINT or SIGTERM\n"
"  --wait seconds           batch: wait this long for reports at the end\n"
"  --give-up seconds        batch: exit after this long without a server\n"
"  --log file               log here (default activity-tui.log with -v)\n"
"  --no-color               no colours (also when NO_COLOR is set)\n"
"  --tls                    connect with TLS (-rp is the TLS port); the\n"
"                           certificate must name the host\n"
"  --tls-ca file            trust the CA certificates in file (default:\n"
"                           the system's)\n"
"  --history n              show the latest n activities of the server's\n"
"                           history on connect (100; batch: 0; 0: none)\n"
"  --max-message bytes      the longest message the server takes (1M):\n"
"                           longer input is refused before it is sent\n"
"  -v, --verbose            log more (twice: debug)\n"
"  -h, --help               this text\n"
"  -V, --version            the version\n",
	    TUI_DEFAULT_HOST, TUI_DEFAULT_PORT);
	exit(code);
}

/* Point stderr at the log (or nowhere); keep the real one for people. */
static FILE *
main_logs(const char *path, int verbose)
{
	FILE	*errfp;
	int	 fd, saved;

	if ((saved = dup(STDERR_FILENO)) == -1 ||
	    (errfp = fdopen(saved, "w")) == NULL) {
		fprintf(stderr, "activity-tui: dup: %s\n", strerror(errno));
		exit(1);
	}
	setvbuf(errfp, NULL, _IOLBF, 0);
	if (path == NULL && verbose > 0)
		path = "activity-tui.log";
	if (path != NULL)
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	else
		fd = open("/dev/null", O_WRONLY);
	if (fd == -1) {
		fprintf(errfp, "activity-tui: %s: %s\n",
		    path != NULL ? path : "/dev/null", strerror(errno));
		exit(1);
	}
	dup2(fd, STDERR_FILENO);
	close(fd);
	setvbuf(stderr, NULL, _IOLBF, 0);
	return errfp;
}

/*
 * Can curses draw on this terminal?  Asked before stderr goes to the log
 * so the answer reaches the user: an unknown TERM would otherwise end
 * the program with nothing said, and a terminal that cannot move the
 * cursor (TERM=dumb) would show a blank screen.
 */
static void
main_check_term(void)
{
	const char	*term = getenv("TERM");
	char		*cup;
	int		 err = 0;

	if (term == NULL || *term == '\0') {
		fprintf(stderr, "activity-tui: TERM is not set, so the screen "
		    "cannot be drawn; set TERM (e.g. TERM=xterm-256color) or "
		    "use --batch\n");
		exit(1);
	}
	if (setupterm(NULL, STDOUT_FILENO, &err) != OK) {
		fprintf(stderr, "activity-tui: unknown terminal type \"%s\" "
		    "(TERM): it is not in this system's terminfo database; "
		    "set TERM to a known type (e.g. TERM=xterm-256color) or "
		    "use --batch\n", term);
		exit(1);
	}
	cup = tigetstr("cup");
	if (cup == NULL || cup == (char *)-1) {
		fprintf(stderr, "activity-tui: the terminal \"%s\" (TERM) "
		    "cannot move the cursor, so the screen cannot be drawn; "
		    "use --batch, or a terminal such as TERM=xterm-256color\n",
		    term);
		del_curterm(cur_term);
		exit(1);
	}
	del_curterm(cur_term);
}

/* Parse options, point the logs away from the screen, run a mode. */
int
main(int argc, char **argv)
{
	enum {
		OPT_RH = 256, OPT_RP, OPT_BATCH, OPT_WAIT, OPT_GIVE_UP,
		OPT_LOG, OPT_FOLLOW, OPT_NO_COLOR, OPT_TLS, OPT_TLS_CA, OPT_MAX_MSG,
		OPT_SECRET_FILE, OPT_HISTORY
	};
	static const struct option longopts[] = {
		{ "rh", required_argument, NULL, OPT_RH },
		{ "rp", required_argument, NULL, OPT_RP },
		{ "remote-host", required_argument, NULL, OPT_RH },
		{ "remote-port", required_argument, NULL, OPT_RP },
		{ "username", required_argument, NULL, 'u' },
		{ "secret", required_argument, NULL, 's' },
		{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
		{ "batch", no_argument, NULL, OPT_BATCH },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "max-message", required_argument, NULL, OPT_MAX_MSG },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ "give-up", required_argument, NULL, OPT_GIVE_UP },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "tls", no_argument, NULL, OPT_TLS },
		{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "no-color", no_argument, NULL, OPT_NO_COLOR },
		{ "history", required_argument, NULL, OPT_HISTORY },
		{ NULL, 0, NULL, 0 }
	};
	struct event_base	*base;
	struct tui		 t;
	struct ssl_ctx_st	*tls_ctx = NULL;
	const char		*tls_ca = NULL;
	char			 err[512];
	long			 v;
	const char		*codeset, *secret_file = NULL, *env;
	char			 secret[TUI_SECRET_MAX + 1];
	int			 ch, rc, give_up_set = 0, tls = 0;

	memset(&t, 0, sizeof t);
	strlcpy(t.opt.host, TUI_DEFAULT_HOST, sizeof t.opt.host);
	t.opt.port = TUI_DEFAULT_PORT;
	t.opt.wait_ms = TUI_WAIT_MS;
	t.opt.give_up_ms = TUI_GIVE_UP_MS;
	/* https://no-color.org: set and not empty means no colour. */
	t.opt.no_color = getenv("NO_COLOR") != NULL &&
	    getenv("NO_COLOR")[0] != '\0';
	t.opt.max_message = TUI_MAX_MESSAGE;
	t.opt.history = -1;

	while ((ch = getopt_long_only(argc, argv, "hs:u:vV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_RH:
			if (*optarg == '\0' ||
			    strlen(optarg) >= sizeof t.opt.host) {
				fprintf(stderr, "activity-tui: bad host: %s\n",
				    optarg);
				exit(1);
			}
			strlcpy(t.opt.host, optarg, sizeof t.opt.host);
			break;
		case OPT_RP:
			if (opt_long(optarg, 1, 65535, &v) != 0) {
				fprintf(stderr, "activity-tui: bad port: %s\n",
				    optarg);
				exit(1);
			}
			t.opt.port = (int)v;
			break;
		case 'u':
			if (*optarg == '\0' || strlen(optarg) > 256) {
				fprintf(stderr, "activity-tui: bad username\n");
				exit(1);
			}
			t.opt.user = optarg;
			break;
		case 's':
			if (strlen(optarg) > TUI_SECRET_MAX) {
				fprintf(stderr, "activity-tui: secret too "
				    "long\n");
				exit(1);
			}
			t.opt.secret = optarg;
			break;
		case OPT_BATCH:
			t.opt.batch = 1;
			break;
		case OPT_FOLLOW:
			t.opt.follow = 1;
			break;
		case OPT_SECRET_FILE:
			secret_file = optarg;
			break;
		case OPT_MAX_MSG:
			if (opt_size(optarg, 256, 64 * 1024 * 1024,
			    &t.opt.max_message) != 0) {
				fprintf(stderr, "activity-tui: bad --max-message: "
				    "%s\n", optarg);
				exit(1);
			}
			break;
		case OPT_WAIT:
			if (opt_long(optarg, 0, 3600, &v) != 0) {
				fprintf(stderr, "activity-tui: bad --wait: "
				    "%s\n", optarg);
				exit(1);
			}
			t.opt.wait_ms = (unsigned)v * 1000;
			break;
		case OPT_GIVE_UP:
			if (opt_long(optarg, 0, 86400, &v) != 0) {
				fprintf(stderr, "activity-tui: bad --give-up: "
				    "%s\n", optarg);
				exit(1);
			}
			t.opt.give_up_ms = (unsigned)v * 1000;
			give_up_set = 1;
			break;
		case OPT_LOG:
			t.opt.logfile = optarg;
			break;
		case OPT_HISTORY:
			if (opt_long(optarg, 0, TUI_HISTORY_MAX, &v) != 0) {
				fprintf(stderr, "activity-tui: bad --history: "
				    "%s\n", optarg);
				exit(1);
			}
			t.opt.history = (int)v;
			break;
		case OPT_NO_COLOR:
			t.opt.no_color = 1;
			break;
		case OPT_TLS:
			tls = 1;
			break;
		case OPT_TLS_CA:
			tls_ca = optarg;
			break;
		case 'v':
			t.opt.verbose++;
			break;
		case 'h':
			tui_usage(stdout, 0);
		case 'V':
			printf("activity-tui %s\n", ACTIVITY_VERSION);
			exit(0);
		default:
			/* getopt said what was wrong, in one line. */
			fprintf(stderr, "try 'activity-tui --help'\n");
			exit(1);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "activity-tui: unexpected argument '%s'\n"
		    "try 'activity-tui --help'\n", argv[optind]);
		exit(1);
	}
	if (t.opt.follow && !t.opt.batch && isatty(STDIN_FILENO)) {
		fprintf(stderr, "activity-tui: --follow needs --batch\n");
		exit(1);
	}
	/* A watcher keeps failing over until it is stopped. */
	if (t.opt.follow && !give_up_set)
		t.opt.give_up_ms = 0;
	if (!t.opt.batch && !isatty(STDIN_FILENO))
		t.opt.batch = 1;
	if (!t.opt.batch && !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "activity-tui: the interactive client needs a "
		    "terminal (use --batch)\n");
		exit(1);
	}
	/*
	 * The secret from a file or the environment keeps it out of ps and
	 * the shell history; -s is for throwaway secrets.
	 */
	if (t.opt.secret != NULL && secret_file != NULL) {
		fprintf(stderr, "activity-tui: give -s or --secret-file, not "
		    "both\n");
		exit(1);
	}
	if (secret_file != NULL) {
		if (secret_read_file(secret_file, secret, sizeof secret, err,
		    sizeof err) != 0) {
			fprintf(stderr, "activity-tui: %s\n", err);
			exit(1);
		}
		t.opt.secret = secret;
	} else if (t.opt.secret == NULL && t.opt.user != NULL &&
	    (env = getenv(TUI_SECRET_ENV)) != NULL && *env != '\0') {
		if (strlen(env) > TUI_SECRET_MAX) {
			fprintf(stderr, "activity-tui: %s is too long\n",
			    TUI_SECRET_ENV);
			exit(1);
		}
		strlcpy(secret, env, sizeof secret);
		t.opt.secret = secret;
	}
	if (t.opt.secret != NULL && t.opt.user == NULL) {
		fprintf(stderr, "activity-tui: a secret needs -u\n");
		exit(1);
	}

	if (tls_ca != NULL && !tls) {
		fprintf(stderr, "activity-tui: --tls-ca needs --tls\n");
		exit(1);
	}
	if (tls && (tls_ctx = tls_ctx_new(TLS_CONNECT, NULL, NULL, tls_ca,
	    err, sizeof err)) == NULL) {
		fprintf(stderr, "activity-tui: TLS: %s\n", err);
		exit(1);
	}

	setlocale(LC_ALL, "");
	/* Not UTF-8 (LC_ALL=C): escape what the terminal would garble. */
	codeset = nl_langinfo(CODESET);
	if (strcmp(codeset, "UTF-8") != 0) {
		text_set_ascii(1);
		t.opt.codeset = codeset;
	}
	if (!t.opt.batch)
		main_check_term();
	t.errfp = main_logs(t.opt.logfile, t.opt.verbose);
	log_init("activity-tui", t.opt.verbose);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	tui_init(&t, base);
	t.conn->tls = tls_ctx;
	/* Batch output is for scripts: history only when asked. */
	t.conn->history_want = t.opt.history >= 0 ? t.opt.history :
	    t.opt.batch ? 0 : TUI_HISTORY_DEFAULT;

	if (t.opt.batch)
		rc = tui_run_batch(&t);
	else {
		rc = tui_run_interactive(&t);
		if (t.conn->generated && t.conn->registered)
			fprintf(t.errfp, "activity-tui: registered %s with "
			    "secret %s\n", t.conn->user, t.conn->secret);
		if (conn_state(t.conn) == LINK_FAILED)
			fprintf(t.errfp, "activity-tui: %s\n",
			    t.model.last_error[0] != '\0' ?
			    t.model.last_error : "login failed");
	}
	tui_free(&t);
	event_base_free(base);
	tls_ctx_free(tls_ctx);
	fclose(t.errfp);
	return rc;
}
