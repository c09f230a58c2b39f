/*
 * The client's controller: turns keys and typed lines into model and
 * link changes, and schedules the redraw.  Redraws are coalesced into
 * one event so a burst of broadcasts costs one screen update.
 */
#include <sys/ioctl.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>
#include <event2/event.h>

#include "batch.h"
#include "clock.h"
#include "compat.h"
#include "compose.h"
#include "conn.h"
#include "log.h"
#include "tui.h"
#include "ui.h"
#include "xmalloc.h"

#define TUI_CTRL(c)	((c) & 0x1f)

/* Keys ncurses has no code for: bound to these at start. */
#define TUI_KEY_CLEFT		(KEY_MAX + 1)
#define TUI_KEY_CRIGHT		(KEY_MAX + 2)
#define TUI_KEY_FOCUS_IN	(KEY_MAX + 3)
#define TUI_KEY_FOCUS_OUT	(KEY_MAX + 4)

static void	tui_conn_cb(struct conn *, enum conn_event, void *);
static void	tui_redraw_cb(evutil_socket_t, short, void *);
static void	tui_tick_cb(evutil_socket_t, short, void *);
static void	tui_quit_cb(evutil_socket_t, short, void *);
static void	tui_enter(struct tui *);
static void	tui_paste_end(struct tui *);
static void	tui_insert(struct tui *, wchar_t);

/* Set up the model, input line and link on base. */
void
tui_init(struct tui *t, struct event_base *base)
{
	struct timeval	 tv = { 0, TUI_TICK_MS * 1000 };

	t->base = base;
	model_init(&t->model, MODEL_LINES_MAX);
	/* Paging back through the history may grow the scrollback. */
	t->model.lines_max = MODEL_HISTORY_LINES_MAX;
	input_init(&t->input);
	t->conn = conn_new(base, &t->model);
	if (t->opt.max_message == 0)
		t->opt.max_message = TUI_MAX_MESSAGE;
	input_set_max(&t->input, t->opt.max_message);
	t->conn->line_max = t->opt.max_message + CONN_LINE_SLACK;
	t->conn->event_cb = tui_conn_cb;
	t->conn->arg = t;
	t->redraw_ev = event_new(base, -1, 0, tui_redraw_cb, t);
	t->tick_ev = event_new(base, -1, EV_PERSIST, tui_tick_cb, t);
	t->quit_ev = event_new(base, -1, EV_PERSIST, tui_quit_cb, t);
	if (t->redraw_ev == NULL || t->tick_ev == NULL || t->quit_ev == NULL)
		fatalx("event_new failed");
	event_add(t->tick_ev, &tv);
}

/* Free what tui_init made. */
void
tui_free(struct tui *t)
{
	int	 i;

	conn_free(t->conn);
	t->conn = NULL;
	event_free(t->redraw_ev);
	event_free(t->tick_ev);
	event_free(t->quit_ev);
	for (i = 0; i < 4; i++)
		if (t->sig_ev[i] != NULL)
			event_free(t->sig_ev[i]);
	if (t->stdin_ev != NULL)
		event_free(t->stdin_ev);
	input_free(&t->input);
	model_free(&t->model);
}

/* Something changed: redraw once the current burst of events is done. */
void
tui_changed(struct tui *t)
{
	if (t->ui == NULL || t->redraw_ev == NULL)
		return;
	if (!event_pending(t->redraw_ev, EV_TIMEOUT, NULL))
		event_active(t->redraw_ev, EV_TIMEOUT, 0);
}

/* The one place the screen is redrawn. */
static void
tui_redraw_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tui	*t = arg;

	(void)fd;
	(void)what;
	if (t->ui == NULL)
		return;
	/* A line that named the user rings the terminal's bell, once. */
	if (t->model.mentions != t->bells) {
		t->bells = t->model.mentions;
		beep();
	}
	ui_redraw(t->ui, t);
}

/* The link changed: batch mode may act, the screen is redrawn. */
static void
tui_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct tui	*t = arg;

	(void)c;
	if (t->batch != NULL)
		batch_event(t, ev);
	if (ev != CONN_EV_WRITABLE)
		tui_changed(t);
}

/* Ages, countdowns and the heartbeat move on without any message. */
static void
tui_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tui	*t = arg;

	(void)fd;
	(void)what;
	if (t->batch != NULL) {
		batch_tick(t);
		return;
	}
	if (t->model.out_of_service)
		t->model.dirty |= MODEL_D_FAILOVER | MODEL_D_STATUS;
	if (t->model.have_cluster)
		t->model.dirty |= MODEL_D_CLUSTER;
	/* A paste whose end mark never came: typing is typing again. */
	if (t->pasting && now_ms() - t->paste_at > TUI_PASTE_IDLE_MS)
		tui_paste_end(t);
	tui_changed(t);
}

/* A typed (or piped) line: a command, an activity, or an error. */
void
tui_submit(struct tui *t, const char *line, size_t len)
{
	struct jbuf		 act;
	enum compose_kind	 k;
	char			 err[256], *cmd;
	size_t			 size;

	jbuf_init(&act);
	k = compose_line(line, len, &act, err, sizeof err);
	switch (k) {
	case COMPOSE_EMPTY:
		break;
	case COMPOSE_COMMAND:
		cmd = xstrndup(line, len);
		command_exec(t, cmd);
		free(cmd);
		break;
	case COMPOSE_ACTIVITY:
		/*
		 * Say so before sending what the server would refuse: the
		 * activity, in its ACTIVITY_MESSAGE, over --max-message.
		 */
		size = act.len + strlen(t->conn->user) +
		    strlen(t->conn->secret) + TUI_ENVELOPE_MAX;
		if (size > t->opt.max_message) {
			model_error(&t->model, "not sent: the message would be "
			    "%zu bytes, over the %zu of --max-message", size,
			    t->opt.max_message);
			break;
		}
		/* What we send shows at the bottom: go there. */
		model_scroll(&t->model, -(long)t->model.scroll);
		conn_send(t->conn, act.p, act.len);
		break;
	case COMPOSE_ERROR:
		model_error(&t->model, "%s", err);
		break;
	}
	jbuf_free(&act);
	tui_changed(t);
}

/*
 * Leave now: log out, give the LOGOUT up to a second to go, and end the
 * loop.  A second request while leaving ends at once.
 */
void
tui_stop(struct tui *t, int code)
{
	struct timeval	 tv = { 0, 20 * 1000 };

	if (t->quitting) {
		event_base_loopbreak(t->base);
		return;
	}
	t->quitting = 1;
	t->exit_code = code;
	if (t->stdin_ev != NULL)
		event_del(t->stdin_ev);
	if (conn_state(t->conn) != LINK_LOGGED_OUT &&
	    conn_state(t->conn) != LINK_FAILED)
		conn_logout(t->conn);
	t->quit_by = now_ms() + 1000;
	event_add(t->quit_ev, &tv);
}

/* /quit: batch mode first waits for reports; interactive leaves now. */
void
tui_quit(struct tui *t, int code)
{
	if (t->batch != NULL && !t->batch->finishing) {
		batch_finish(t);
		return;
	}
	tui_stop(t, code);
}

/* Leaving: end the loop once the LOGOUT is out or the time is up. */
static void
tui_quit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tui	*t = arg;

	(void)fd;
	(void)what;
	if (!conn_busy(t->conn) || now_ms() >= t->quit_by)
		event_base_loopbreak(t->base);
}

/* s within 0 .. n - rows: a full page of n items, never past it. */
static size_t
tui_clamp(long s, long n, long rows)
{
	long	 max = n - rows;

	if (max < 0)
		max = 0;
	return (size_t)(s < 0 ? 0 : s > max ? max : s);
}

/*
 * Scroll pane id by d lines (negative: towards newer), never further
 * back than a full page of its oldest lines.
 */
static void
tui_scroll_lines(struct tui *t, enum pane_id id, long d)
{
	struct model	*m = &t->model;
	struct rect	*r = &t->ui->lay.r[id];
	size_t		 max;
	int		 top;

	switch (id) {
	case PANE_ACTIVITY:
		top = d > 0 && m->scroll >= pane_activity_scroll_max(m, r->w,
		    r->h);
		model_scroll(m, d);
		max = pane_activity_scroll_max(m, r->w, r->h);
		if (m->scroll > max) {
			m->scroll = max;
			m->dirty |= MODEL_D_ACTIVITY;
		}
		/* Past the top: the page before, from the server's history. */
		if (top && t->conn->history_more)
			(void)conn_history(t->conn, TUI_HISTORY_DEFAULT, 1);
		return;
	case PANE_REPORTS:		/* rows below the title */
		m->reports_scroll = tui_clamp((long)m->reports_scroll + d,
		    (long)m->reports_n, r->h - 1);
		m->dirty |= MODEL_D_REPORTS;
		return;
	case PANE_CLUSTER:		/* rows below title and header */
		m->cluster_scroll = tui_clamp((long)m->cluster_scroll + d,
		    m->nservers, r->h - 2);
		m->dirty |= MODEL_D_CLUSTER;
		return;
	default:
		return;
	}
}

/* Scroll the focused pane by pages (negative: towards newer). */
static void
tui_scroll(struct tui *t, int pages)
{
	tui_scroll_lines(t, t->ui->focus,
	    (long)pages * ui_page(t->ui, t->ui->focus));
}

/* Back to the newest line of the focused pane. */
static void
tui_scroll_end(struct tui *t)
{
	struct model	*m = &t->model;

	switch (t->ui->focus) {
	case PANE_REPORTS:
		m->reports_scroll = 0;
		m->dirty |= MODEL_D_REPORTS;
		break;
	case PANE_CLUSTER:
		m->cluster_scroll = 0;
		m->dirty |= MODEL_D_CLUSTER;
		break;
	default:
		model_scroll(m, -(long)m->scroll);
		break;
	}
}

/* The mouse wheel scrolls the pane under the pointer, 3 lines a notch. */
static void
tui_mouse(struct tui *t)
{
	MEVENT		 ev;
	struct rect	*r;
	enum pane_id	 id = t->ui->focus;
	int		 i;

	if (getmouse(&ev) != OK)
		return;
	for (i = 0; i < PANE__COUNT; i++) {
		r = &t->ui->lay.r[i];
		if (ev.y >= r->y && ev.y < r->y + r->h && ev.x >= r->x &&
		    ev.x < r->x + r->w)
			id = (enum pane_id)i;
	}
	if (ev.bstate & BUTTON4_PRESSED)
		tui_scroll_lines(t, id, 3);
	else if (ev.bstate & BUTTON5_PRESSED)
		tui_scroll_lines(t, id, -3);
}

/*
 * A bracketed paste ended: the pasted text is in the input line, line
 * breaks included.  Without a break it stays there to be edited; with
 * them it is one input (one JSON object, or one note), sent at once, or
 * after a question when it has more than TUI_PASTE_ASK_LINES lines.
 */
static void
tui_paste_end(struct tui *t)
{
	struct input	*in = &t->input;
	size_t		 i, lines = 1;

	t->pasting = 0;
	/* A paste that ends with a line break: no empty last line. */
	if (in->cur > 0 && in->buf[in->cur - 1] == L'\n')
		input_backspace(in);
	for (i = 0; i < in->len; i++)
		if (in->buf[i] == L'\n')
			lines++;
	if (lines == 1)
		return;
	if (lines > TUI_PASTE_ASK_LINES) {
		t->paste_ask = (int)(lines > INT_MAX ? INT_MAX : lines);
		return;
	}
	tui_enter(t);
}

/* y or Enter sends the pasted input asked about; n or Escape drops it. */
static void
tui_paste_answer(struct tui *t, unsigned int ch, int iskey)
{
	if (!iskey && (ch == 'y' || ch == 'Y' || ch == '\r' || ch == '\n')) {
		t->paste_ask = 0;
		tui_enter(t);
	} else if ((!iskey && (ch == 'n' || ch == 'N' || ch == 0x1b ||
	    ch == TUI_CTRL('c'))) || (iskey && ch == KEY_CANCEL)) {
		t->paste_ask = 0;
		input_kill_start(&t->input);
		input_kill_end(&t->input);
		model_info(&t->model, "paste dropped");
	}
	t->model.dirty |= MODEL_D_INPUT;
	tui_changed(t);
}

/* Enter: the input line is submitted and a fresh one begins. */
static void
tui_enter(struct tui *t)
{
	char	*line;
	size_t	 n;

	line = input_take(&t->input, &n);
	tui_submit(t, line, n);
	free(line);
}

/* Type a character; a full line says so once instead of cutting it. */
static void
tui_insert(struct tui *t, wchar_t wc)
{
	if (input_insert(&t->input, wc) == 0) {
		t->input_full = 0;
		return;
	}
	if (!t->input_full)
		model_error(&t->model, "the input line is full: %zu characters "
		    "(--max-message %zu bytes)", t->input.max,
		    t->opt.max_message);
	t->input_full = 1;
}

/*
 * End, C-e: to the end of the line; at the end already (or on an empty
 * line), to the newest line of the focused pane.
 */
static void
tui_end(struct tui *t)
{
	if (t->input.cur < t->input.len)
		input_end(&t->input);
	else
		tui_scroll_end(t);
}

/*
 * Bind what ncurses may not know: Ctrl-Left and Ctrl-Right as xterm,
 * rxvt and tmux send them, and focus in and out, which the terminal is
 * asked to report (xterm's mode 1004, as vim and tmux ask for it).
 */
static void
tui_keys_define(void)
{
	static const char *const cleft[] = { "\033[1;5D", "\033[5D",
	    "\033Od" };
	static const char *const cright[] = { "\033[1;5C", "\033[5C",
	    "\033Oc" };
	size_t	 i;

	for (i = 0; i < sizeof cleft / sizeof cleft[0]; i++) {
		define_key(cleft[i], TUI_KEY_CLEFT);
		define_key(cright[i], TUI_KEY_CRIGHT);
	}
	define_key("\033[I", TUI_KEY_FOCUS_IN);
	define_key("\033[O", TUI_KEY_FOCUS_OUT);
	fputs("\033[?1004h", stdout);
	fflush(stdout);
}

/*
 * One key from ncurses: iskey says ch is a KEY_* code, otherwise it is
 * a character.
 */
void
tui_key(struct tui *t, unsigned int ch, int iskey)
{
	struct input	*in = &t->input;

	t->model.dirty |= MODEL_D_INPUT;
	if (t->paste_ask) {
		tui_paste_answer(t, ch, iskey);
		return;
	}
	if (iskey && ch == TUI_KEY_PASTE_START) {
		t->pasting = 1;
		t->paste_at = now_ms();
		return;
	}
	if (iskey && ch == TUI_KEY_PASTE_END) {
		tui_paste_end(t);
		tui_changed(t);
		return;
	}
	/* Inside a paste every character is text, line breaks too. */
	if (t->pasting) {
		t->paste_at = now_ms();
		if (iskey && ch == KEY_ENTER)
			ch = '\n', iskey = 0;
		if (!iskey && (ch == '\r' || ch == '\n'))
			tui_insert(t, L'\n');
		else if (!iskey && ch == '\t')
			tui_insert(t, L' ');
		else if (!iskey && ch >= 0x20 && ch != 0x7f)
			tui_insert(t, (wchar_t)ch);
		return;
	}
	if (t->ui != NULL && t->ui->help && !(iskey && (ch == KEY_RESIZE ||
	    ch == TUI_KEY_FOCUS_IN || ch == TUI_KEY_FOCUS_OUT))) {
		ui_help(t->ui, 0);	/* any key closes the help */
		t->esc = 0;
		tui_changed(t);
		return;
	}
	/* ESC and a key in the same read are Alt with that key. */
	if (t->esc && !iskey && (ch == 'b' || ch == 'f')) {
		t->esc = 0;
		if (ch == 'b')
			input_word_left(in);
		else
			input_word_right(in);
		tui_changed(t);
		return;
	}
	t->esc = !iskey && ch == 0x1b;
	if (iskey) {
		switch (ch) {
		case KEY_F(1):
			ui_help(t->ui, 1);
			break;
		case TUI_KEY_CLEFT:
			input_word_left(in);
			break;
		case TUI_KEY_CRIGHT:
			input_word_right(in);
			break;
		case TUI_KEY_FOCUS_IN:
		case TUI_KEY_FOCUS_OUT:
			model_set_focus(&t->model, ch == TUI_KEY_FOCUS_IN);
			break;
		case KEY_ENTER:
			goto enter;
		case KEY_LEFT:
			input_left(in);
			break;
		case KEY_RIGHT:
			input_right(in);
			break;
		case KEY_HOME:
			input_home(in);
			break;
		case KEY_END:
			tui_end(t);
			break;
		case KEY_MOUSE:
			tui_mouse(t);
			break;
		case KEY_BACKSPACE:
			input_backspace(in);
			break;
		case KEY_DC:
			input_delete(in);
			break;
		case KEY_UP:
			input_hist_prev(in);
			break;
		case KEY_DOWN:
			input_hist_next(in);
			break;
		case KEY_PPAGE:
			tui_scroll(t, 1);
			break;
		case KEY_NPAGE:
			tui_scroll(t, -1);
			break;
		case KEY_BTAB:
			ui_focus_next(t->ui, -1);
			break;
		case KEY_RESIZE:
			break;
		}
		tui_changed(t);
		return;
	}
	switch (ch) {
	case '\r':
	case '\n':
		goto enter;
	case TUI_CTRL('a'):
		input_home(in);
		break;
	case TUI_CTRL('e'):
		tui_end(t);
		break;
	case TUI_CTRL('b'):
		input_left(in);
		break;
	case TUI_CTRL('f'):
		input_right(in);
		break;
	case TUI_CTRL('h'):
	case 0x7f:
		input_backspace(in);
		break;
	case TUI_CTRL('d'):
		input_delete(in);
		break;
	case TUI_CTRL('u'):
		input_kill_start(in);
		break;
	case TUI_CTRL('k'):
		input_kill_end(in);
		break;
	case TUI_CTRL('w'):
		input_kill_word(in);
		break;
	case TUI_CTRL('p'):
		input_hist_prev(in);
		break;
	case TUI_CTRL('n'):
		input_hist_next(in);
		break;
	case '\t':
		ui_focus_next(t->ui, 1);
		break;
	case 0x1b:
		ui_focus(t->ui, PANE_ACTIVITY);
		break;
	case '?':
		if (in->len == 0)
			ui_help(t->ui, 1);
		else
			input_insert(in, (wchar_t)ch);
		break;
	case TUI_CTRL('l'):
		ui_resize(t->ui);
		t->model.dirty |= MODEL_D_ALL;
		break;
	default:
		if (ch >= 0x20)
			tui_insert(t, (wchar_t)ch);
		break;
	}
	tui_changed(t);
	return;

enter:
	tui_enter(t);
}

/* Keys are ready on the terminal: take them all. */
static void
tui_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tui	*t = arg;
	WINDOW		*w;
	wint_t		 wc;
	int		 rc, guard = 0;

	(void)fd;
	(void)what;
	while (guard < 4096 && (w = ui_input_window(t->ui)) != NULL) {
		rc = wget_wch(w, &wc);
		if (rc == ERR)
			break;
		guard++;
		tui_key(t, (unsigned int)wc, rc == KEY_CODE_YES);
		if (t->quitting)
			break;
	}
	t->esc = 0;
	/*
	 * Readable but no key, again and again: the terminal is gone (end
	 * of file), and waiting on it would spin.
	 */
	if (guard == 0) {
		if (++t->empty_reads > 1000) {
			log_warnx("terminal closed");
			tui_stop(t, 1);
		}
	} else
		t->empty_reads = 0;
}

/* The terminal changed size: lay out again and repaint everything. */
static void
tui_winch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tui	*t = arg;
	struct winsize	 ws;

	(void)fd;
	(void)what;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0)
		resizeterm(ws.ws_row, ws.ws_col);
	ui_resize(t->ui);
	t->model.dirty |= MODEL_D_ALL;
	tui_changed(t);
}

/* SIGINT, SIGTERM, SIGHUP: log out and leave. */
static void
tui_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct tui	*t = arg;

	(void)what;
	log_info("signal %d: leaving", (int)sig);
	tui_stop(t, 0);
}

/* Catch the signals that end the program so the terminal is restored. */
static void
tui_signals(struct tui *t, int winch)
{
	static const int	 sigs[] = { SIGINT, SIGTERM, SIGHUP };
	size_t			 i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		t->sig_ev[i] = evsignal_new(t->base, sigs[i], tui_signal_cb,
		    t);
		evsignal_add(t->sig_ev[i], NULL);
	}
	if (winch) {
		t->sig_ev[3] = evsignal_new(t->base, SIGWINCH, tui_winch_cb,
		    t);
		evsignal_add(t->sig_ev[3], NULL);
	}
}

/* Batch mode's signals (no SIGWINCH), for main.c. */
int
tui_run_batch(struct tui *t)
{
	tui_signals(t, 0);
	return batch_run(t);
}

/*
 * The interactive client: curses on the terminal, keys and the server
 * link on one event loop.  Returns the exit status.
 */
int
tui_run_interactive(struct tui *t)
{
	if (initscr() == NULL)
		fatalx("cannot start curses");
	cbreak();
	noecho();
	nonl();
	set_escdelay(25);
	curs_set(1);
	/* The wheel only; Shift still selects text in most terminals. */
	mousemask(BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
	mouseinterval(0);
	t->ui = ui_new(!t->opt.no_color);
	tui_keys_define();
	/* Bracketed paste: the terminal marks where a paste starts and ends. */
	define_key("\033[200~", TUI_KEY_PASTE_START);
	define_key("\033[201~", TUI_KEY_PASTE_END);
	fputs("\033[?2004h", stdout);
	fflush(stdout);
	tui_signals(t, 1);
	t->stdin_ev = event_new(t->base, STDIN_FILENO, EV_READ | EV_PERSIST,
	    tui_stdin_cb, t);
	if (t->stdin_ev == NULL || event_add(t->stdin_ev, NULL) != 0) {
		endwin();
		fatalx("cannot watch the terminal");
	}

	model_info(&t->model, "activity-tui %s; /help for commands and keys",
	    ACTIVITY_VERSION);
	if (t->opt.codeset != NULL)
		model_error(&t->model, "the locale is not UTF-8 (its character "
		    "set is %s): text beyond ASCII is shown escaped, as "
		    "\\u00e9; set LANG or LC_ALL to a UTF-8 locale such as "
		    "C.UTF-8", t->opt.codeset);
	conn_set_user(t->conn, t->opt.user, t->opt.secret, 0);
	conn_open(t->conn, t->opt.host, t->opt.port);
	ui_redraw(t->ui, t);

	event_base_dispatch(t->base);

	ui_free(t->ui);
	t->ui = NULL;
	fputs("\033[?2004l", stdout);
	fflush(stdout);
	endwin();
	fputs("\033[?1004l", stdout);
	fflush(stdout);
	return t->exit_code;
}
