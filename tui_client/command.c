/*
 * Slash commands as data: a table of {name, arguments, usage, help,
 * exec}.  The same table serves the input line and batch mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "compose.h"
#include "conn.h"
#include "json.h"
#include "msg.h"
#include "msgbuild.h"
#include "model.h"
#include "opt.h"
#include "tui.h"
#include "ui.h"

struct command_entry {
	const char	*name;
	int		 minargs;
	int		 maxargs;
	const char	*usage;
	const char	*help;
	int		(*exec)(struct tui *, int, char **);
};

static int	command_connect(struct tui *, int, char **);
static int	command_login(struct tui *, int, char **);
static int	command_register(struct tui *, int, char **);
static int	command_logout(struct tui *, int, char **);
static int	command_cluster(struct tui *, int, char **);
static int	command_helpcmd(struct tui *, int, char **);
static int	command_who(struct tui *, int, char **);
static int	command_history(struct tui *, int, char **);
static int	command_clear(struct tui *, int, char **);
static int	command_me(struct tui *, const char *);
static int	command_quit(struct tui *, int, char **);

static const struct command_entry command_table[] = {
	{ "connect", 2, 2, "/connect host port",
	    "move to another server (logs out of this one)",
	    command_connect },
	{ "login", 1, 2, "/login user secret",
	    "log in again as user (anonymous: no secret)",
	    command_login },
	{ "register", 1, 2, "/register user [secret]",
	    "register user (no secret: one is made), log in",
	    command_register },
	{ "logout", 0, 0, "/logout", "log out and stay disconnected",
	    command_logout },
	{ "me", 1, COMMAND_ARGS_MAX, "/me action",
	    "send an action, shown as \"* you action\"", NULL },
	{ "who", 0, 0, "/who", "list who is online in the cluster",
	    command_who },
	{ "history", 0, 1, "/history [n]",
	    "show n (100) earlier activities",
	    command_history },
	{ "clear", 0, 0, "/clear", "empty the activity pane", command_clear },
	{ "cluster", 0, 0, "/cluster", "focus the cluster pane",
	    command_cluster },
	{ "help", 0, 0, "/help", "show commands and keys", command_helpcmd },
	{ "quit", 0, 0, "/quit", "log out and exit", command_quit },
};
#define COMMAND_COUNT	(sizeof command_table / sizeof command_table[0])

/*
 * Split s in place on blanks into at most max words; returns the count,
 * or -1 if there were more.
 */
int
command_split(char *s, char **argv, int max)
{
	int	 n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (*s == '\0')
			return n;
		if (n == max)
			return -1;
		argv[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
	}
}

/* The table entry for a command name, or NULL. */
static const struct command_entry *
command_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < COMMAND_COUNT; i++)
		if (strcmp(command_table[i].name, name) == 0)
			return &command_table[i];
	return NULL;
}

/* Run a "/name args" line.  Returns 0, or -1 after saying what was wrong. */
int
command_exec(struct tui *t, const char *line)
{
	const struct command_entry	*ce;
	char			 buf[1024], *argv[COMMAND_ARGS_MAX];
	int			 argc;

	if (strlen(line) >= sizeof buf) {
		model_error(&t->model, "command too long");
		return -1;
	}
	strlcpy(buf, line[0] == '/' ? line + 1 : line, sizeof buf);
	/* /me takes the rest of the line as it is, blanks and all. */
	if (strncmp(buf, "me", 2) == 0 && (buf[2] == ' ' || buf[2] == '\t' ||
	    buf[2] == '\0'))
		return command_me(t, buf + 2);
	argc = command_split(buf, argv, COMMAND_ARGS_MAX);
	if (argc == 0) {
		model_error(&t->model, "empty command; try /help");
		return -1;
	}
	if (argc < 0 || (ce = command_find(argv[0])) == NULL) {
		if (argc > 0)
			model_error(&t->model, "unknown command /%s; try /help",
			    argv[0]);
		else
			model_error(&t->model, "too many words; try /help");
		return -1;
	}
	if (argc - 1 < ce->minargs || argc - 1 > ce->maxargs) {
		model_error(&t->model, "usage: %s", ce->usage);
		return -1;
	}
	return ce->exec(t, argc - 1, argv + 1);
}

/* The keys, one line each, for /help and the help overlay. */
static const char *const command_keys[] = {
	"Left Right ^B ^F: cursor    Alt-b Alt-f ^Left ^Right: by words",
	"Home End ^A ^E: line ends   Backspace Delete ^D: delete",
	"^U ^K ^W: delete to the start, to the end, a word",
	"Up Down ^P ^N: history      PgUp PgDn: scroll the focused pane",
	"End at the end of the line: the newest line   mouse wheel: scroll",
	"Tab Shift-Tab: focus   Esc: activity pane   ^L: redraw   ^C: quit",
};

/*
 * Call emit with each line of help: typing, the commands, the keys (on
 * one line when compact, for the stream).  The full lines fit the help
 * overlay of an 80-column terminal (COMMAND_HELP_WIDTH), which cuts.
 */
void
command_help_each(void (*emit)(void *, const char *), void *arg,
    int compact)
{
	char	 line[160];
	size_t	 i;

	emit(arg, compact ? "text: a Note; {...}: that JSON object; //text: "
	    "/text" : "Text is sent as a Note, {...} as that JSON object, "
	    "//text as /text.");
	if (!compact)
		emit(arg, "Commands:");
	for (i = 0; i < COMMAND_COUNT; i++) {
		snprintf(line, sizeof line, "%-24s %s", command_table[i].usage,
		    command_table[i].help);
		emit(arg, line);
	}
	if (compact) {
		emit(arg, "keys: F1 or ? lists them all; Tab focus; PgUp PgDn "
		    "scroll; ^C quit");
		return;
	}
	emit(arg, "Keys (F1, or ? on an empty line: this help):");
	for (i = 0; i < sizeof command_keys / sizeof command_keys[0]; i++)
		emit(arg, command_keys[i]);
}

/* One line of help into the stream. */
static void
command_help_info(void *arg, const char *line)
{
	model_info(arg, "%s", line);
}

/* List the commands and keys in the stream. */
void
command_help(struct tui *t)
{
	command_help_each(command_help_info, &t->model, 1);
}

/* /me action: an Action activity the stream shows as "* user action". */
static int
command_me(struct tui *t, const char *rest)
{
	struct jbuf	 act;
	const char	*why;
	int		 rc = 0;

	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (*rest == '\0') {
		model_error(&t->model, "usage: /me action");
		return -1;
	}
	jbuf_init(&act);
	compose_activity(&act, COMPOSE_ACTION, rest, strlen(rest));
	if (json_validate(act.p, act.len, JSON_DEPTH_MAX, &why) !=
	    JSON_OBJECT) {
		model_error(&t->model, "not sent: %s", why);
		rc = -1;
	} else
		conn_send(t->conn, act.p, act.len);
	jbuf_free(&act);
	return rc;
}

/* /who: ask the server who is online; WHO_LIST answers in the stream. */
static int
command_who(struct tui *t, int argc, char **argv)
{
	struct jbuf	 b;
	int		 rc;

	(void)argc;
	(void)argv;
	if (!conn_online(t->conn)) {
		model_error(&t->model, "/who: not logged in");
		return -1;
	}
	if (!(t->conn->features & FEAT_BIT(FEAT_WHO))) {
		model_error(&t->model, "/who: this server does not say who is "
		    "online");
		return -1;
	}
	jbuf_init(&b);
	msgb_begin(&b, CMD_WHO);
	msgb_end(&b);
	rc = conn_write(t->conn, b.p, b.len);
	jbuf_free(&b);
	return rc;
}

/* /history [n]: the page before the oldest shown, put on top. */
static int
command_history(struct tui *t, int argc, char **argv)
{
	long	 n = TUI_HISTORY_DEFAULT;

	if (argc > 0 && opt_long(argv[0], 1, TUI_HISTORY_MAX, &n) != 0) {
		model_error(&t->model, "/history: n must be from 1 to %d",
		    TUI_HISTORY_MAX);
		return -1;
	}
	if (!conn_online(t->conn)) {
		model_error(&t->model, "/history: not logged in");
		return -1;
	}
	if (!(t->conn->features & FEAT_BIT(FEAT_HISTORY))) {
		model_error(&t->model, "/history: this server keeps no "
		    "history");
		return -1;
	}
	if (conn_history(t->conn, (int)n, 1) != 0) {
		model_error(&t->model, "/history: a page is on its way");
		return -1;
	}
	return 0;
}

/* /clear: empty the activity pane. */
static int
command_clear(struct tui *t, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	model_clear(&t->model);
	return 0;
}

/* /connect host port */
static int
command_connect(struct tui *t, int argc, char **argv)
{
	long	 port;

	(void)argc;
	if (opt_long(argv[1], 1, 65535, &port) != 0) {
		model_error(&t->model, "/connect: bad port %s", argv[1]);
		return -1;
	}
	model_info(&t->model, "connecting to %s:%ld as %s", argv[0], port,
	    t->conn->user);
	conn_connect(t->conn, argv[0], (int)port);
	return 0;
}

/* The server to use for /login and /register: the current one. */
static void
command_reopen(struct tui *t)
{
	struct fo_target	 home = t->conn->home;

	if (home.port == 0) {
		strlcpy(home.host, t->opt.host, sizeof home.host);
		home.port = t->opt.port;
	}
	conn_open(t->conn, home.host, home.port);
}

/* /login user secret */
static int
command_login(struct tui *t, int argc, char **argv)
{
	if (argc < 2 && strcmp(argv[0], MSG_V_ANONYMOUS) != 0) {
		model_error(&t->model, "usage: /login user secret (or "
		    "/register user to get a secret)");
		return -1;
	}
	conn_set_user(t->conn, argv[0], argc > 1 ? argv[1] : NULL, 0);
	command_reopen(t);
	return 0;
}

/* /register user [secret] */
static int
command_register(struct tui *t, int argc, char **argv)
{
	if (strcmp(argv[0], MSG_V_ANONYMOUS) == 0) {
		model_error(&t->model, "/register: anonymous cannot register");
		return -1;
	}
	conn_set_user(t->conn, argv[0], argc > 1 ? argv[1] : NULL, 1);
	command_reopen(t);
	return 0;
}

/* /logout */
static int
command_logout(struct tui *t, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	conn_logout(t->conn);
	model_info(&t->model, "logged out; /connect or /login to come back");
	return 0;
}

/* /cluster */
static int
command_cluster(struct tui *t, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (t->ui != NULL)
		ui_focus(t->ui, PANE_CLUSTER);
	return 0;
}

/* /help */
static int
command_helpcmd(struct tui *t, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	command_help(t);
	return 0;
}

/* /quit */
static int
command_quit(struct tui *t, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tui_quit(t, 0);
	return 0;
}
