/*
 * The one client state every handler gets: the model the panes show, the
 * input line, the server link, and (interactive only) the screen.
 */
#ifndef TUI_H
#define TUI_H

#include <stdint.h>
#include <stdio.h>

#include "conn.h"
#include "input.h"
#include "model.h"
#include "version.h"

#define TUI_DEFAULT_HOST	"localhost"
#define TUI_DEFAULT_PORT	3780
#define TUI_WAIT_MS		5000	/* batch: for reports at the end */
#define TUI_GIVE_UP_MS		60000	/* batch: offline this long, exit */
#define TUI_TICK_MS		500
#define TUI_SECRET_MAX		256
#define TUI_SECRET_ENV		"ACTIVITY_SECRET"
#define TUI_MAX_MESSAGE		(1024 * 1024)	/* the server's default */
#define TUI_HISTORY_DEFAULT	100	/* --history: shown on connect */
#define TUI_HISTORY_MAX		1000	/* the server's page cap */
#define TUI_ENVELOPE_MAX	128	/* ACTIVITY_MESSAGE around it */
#define TUI_PASTE_ASK_LINES	5	/* a longer paste asks first */
#define TUI_PASTE_IDLE_MS	2000	/* a paste with no end mark ends */
/* The bracketed paste marks, as ncurses returns them (tui.c binds them). */
#define TUI_KEY_PASTE_START	(KEY_MAX + 5)
#define TUI_KEY_PASTE_END	(KEY_MAX + 6)

struct event_base;
struct event;
struct ui;
struct batch;

struct tui_options {
	char		 host[MODEL_HOST_MAX];
	int		 port;
	const char	*user;
	const char	*secret;
	int		 batch;
	int		 follow;	/* batch: go on after the input */
	size_t		 max_message;	/* bytes the server takes */
	const char	*codeset;	/* the locale's, when not UTF-8 */
	unsigned	 wait_ms;
	unsigned	 give_up_ms;
	int		 verbose;
	int		 no_color;	/* --no-color or NO_COLOR */
	const char	*logfile;
	int		 history;	/* --history: page on connect; -1 unset */
};

struct tui {
	struct event_base	*base;
	struct model		 model;
	struct input		 input;
	struct conn		*conn;
	struct ui		*ui;		/* NULL in batch mode */
	struct batch		*batch;		/* NULL when interactive */
	struct event		*redraw_ev;
	struct event		*tick_ev;
	struct event		*quit_ev;
	struct event		*stdin_ev;
	struct event		*sig_ev[4];
	FILE			*errfp;		/* the real stderr */
	struct tui_options	 opt;
	int			 esc;		/* ESC read: Alt-key next? */
	unsigned		 bells;		/* mentions rung for */
	int			 quitting;
	int			 input_full;	/* said so already */
	int			 pasting;	/* inside a bracketed paste */
	int			 paste_ask;	/* lines of a paste to confirm */
	uint64_t		 paste_at;	/* last pasted character */
	int			 empty_reads;	/* wakeups without a key */
	int			 exit_code;
	uint64_t		 quit_by;
};

void	tui_init(struct tui *, struct event_base *);
void	tui_free(struct tui *);
void	tui_changed(struct tui *);
void	tui_submit(struct tui *, const char *, size_t);
void	tui_quit(struct tui *, int);
void	tui_stop(struct tui *, int);
void	tui_key(struct tui *, unsigned int, int);
int	tui_run_interactive(struct tui *);
int	tui_run_batch(struct tui *);

/* command.c */
#define COMMAND_ARGS_MAX	8
int	command_split(char *, char **, int);
int	command_exec(struct tui *, const char *);
void	command_help(struct tui *);
/*
 * Columns and rows of text in the help overlay (76 wide with its frame),
 * and rows it has on a 24-line terminal.
 */
#define COMMAND_HELP_WIDTH	72
#define COMMAND_HELP_ROWS	20
void	command_help_each(void (*)(void *, const char *), void *, int);

#endif
