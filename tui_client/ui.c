/*
 * Pane windows and the redraw.  Windows tile the screen (stdscr is never
 * drawn on), so a resize recreates them all and repaints every cell:
 * nothing from the old layout can survive as garbage.
 */
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "compat.h"
#include "decor.h"
#include "log.h"
#include "model.h"
#include "text.h"
#include "tui.h"
#include "ui.h"
#include "xmalloc.h"

static const struct {
	const char	*title;
	void		(*draw)(struct pane *, struct tui *);
	unsigned	 bit;
} ui_table[PANE__COUNT] = {
	[PANE_STATUS] = { "Connection", pane_status_draw, MODEL_D_STATUS },
	[PANE_ACTIVITY] = { "Activity", pane_activity_draw,
	    MODEL_D_ACTIVITY },
	[PANE_REPORTS] = { "Reports", pane_reports_draw, MODEL_D_REPORTS },
	[PANE_FAILOVER] = { "Failover", pane_failover_draw,
	    MODEL_D_FAILOVER },
	[PANE_CLUSTER] = { "Cluster", pane_cluster_draw, MODEL_D_CLUSTER },
	[PANE_INPUT] = { "Input", pane_input_draw, MODEL_D_INPUT },
};

/* Colours: foreground, background (-1: the terminal's own). */
static const short ui_pairs[UI__COUNT][2] = {
	[UI_NORMAL] = { -1, -1 },
	[UI_TITLE] = { COLOR_BLACK, COLOR_CYAN },
	[UI_TITLE_FOCUS] = { COLOR_BLACK, COLOR_YELLOW },
	[UI_BAR] = { COLOR_WHITE, COLOR_BLUE },
	[UI_INFO] = { COLOR_CYAN, -1 },
	[UI_ERROR] = { COLOR_RED, -1 },
	[UI_SELF] = { COLOR_GREEN, -1 },
	[UI_OK] = { COLOR_GREEN, -1 },
	[UI_WARN] = { COLOR_YELLOW, -1 },
	[UI_DIM] = { -1, -1 },
	[UI_WHO] = { COLOR_MAGENTA, -1 },
	[UI_TIME] = { -1, -1 },
	[UI_MENTION] = { COLOR_BLACK, COLOR_YELLOW },
	[UI_MARKER] = { COLOR_YELLOW, -1 },
};

/*
 * Name colours: none is the terminal's background on a dark or a light
 * one, and red stays for errors; the bright variants where there are
 * 16 colours, which read better on a dark background.
 */
static const short ui_names[DECOR_COLORS] = {
	COLOR_GREEN, COLOR_YELLOW, COLOR_MAGENTA, COLOR_CYAN, COLOR_BLUE,
	COLOR_WHITE
};

/* Without colour, attributes keep things apart. */
static const attr_t ui_mono[UI__COUNT] = {
	[UI_NORMAL] = A_NORMAL,
	[UI_TITLE] = A_REVERSE,
	[UI_TITLE_FOCUS] = A_REVERSE | A_BOLD,
	[UI_BAR] = A_REVERSE,
	[UI_INFO] = A_NORMAL,
	[UI_ERROR] = A_BOLD,
	[UI_SELF] = A_BOLD,
	[UI_OK] = A_NORMAL,
	[UI_WARN] = A_BOLD,
	[UI_DIM] = A_DIM,
	[UI_WHO] = A_UNDERLINE,
	[UI_TIME] = A_NORMAL,
	[UI_MENTION] = A_REVERSE | A_BOLD,
	[UI_MARKER] = A_BOLD,
};

/* The attribute for a role, in colour when the terminal has it. */
attr_t
ui_attr(const struct ui *ui, enum ui_color c)
{
	attr_t	 a;

	if (!ui->colors)
		return c >= UI_NAME0 ? A_BOLD : ui_mono[c];
	a = COLOR_PAIR(c);
	if (c == UI_TITLE_FOCUS || c == UI_ERROR || c == UI_WHO ||
	    c == UI_MENTION)
		a |= A_BOLD;
	if (c == UI_DIM)
		a |= A_DIM;
	return a;
}

/* The attribute a name is shown in: its own stable colour. */
attr_t
ui_name_attr(const struct ui *ui, const char *name)
{
	return ui_attr(ui, (enum ui_color)(UI_NAME0 +
	    decor_name_color(name))) | A_BOLD;
}

/*
 * Start the screen: ncurses is already initialised by the caller.
 * Without color (NO_COLOR, --no-color) attributes alone tell things
 * apart.
 */
struct ui *
ui_new(int color)
{
	struct ui	*ui;
	int		 i;

	ui = xcalloc(1, sizeof *ui);
	for (i = 0; i < PANE__COUNT; i++) {
		ui->panes[i].title = ui_table[i].title;
		ui->panes[i].draw = ui_table[i].draw;
	}
	ui->focus = PANE_ACTIVITY;
	if (color && has_colors()) {
		start_color();
		use_default_colors();
		ui->colors = COLORS >= 8 && COLOR_PAIRS > UI__COUNT;
		for (i = 1; ui->colors && i < UI_NAME0; i++)
			init_pair((short)i, ui_pairs[i][0], ui_pairs[i][1]);
		for (i = 0; ui->colors && i < DECOR_COLORS; i++)
			init_pair((short)(UI_NAME0 + i), (short)(ui_names[i] +
			    (COLORS >= 16 ? 8 : 0)), -1);
	}
	ui_resize(ui);
	return ui;
}

/* Delete every pane window (and the notice). */
static void
ui_delwins(struct ui *ui)
{
	int	 i;

	for (i = 0; i < PANE__COUNT; i++) {
		if (ui->panes[i].win != NULL)
			delwin(ui->panes[i].win);
		ui->panes[i].win = NULL;
	}
	if (ui->notice != NULL)
		delwin(ui->notice);
	ui->notice = NULL;
	if (ui->help_win != NULL)
		delwin(ui->help_win);
	ui->help_win = NULL;
}

/* Drop the windows; the caller ends curses. */
void
ui_free(struct ui *ui)
{
	if (ui == NULL)
		return;
	ui_delwins(ui);
	free(ui);
}

/* Lay out again for the current COLS x LINES and mark all dirty. */
void
ui_resize(struct ui *ui)
{
	struct pane	*p;
	int		 i;

	ui_delwins(ui);
	layout_compute(COLS, LINES, &ui->lay);
	if (ui->lay.too_small) {
		ui->notice = newwin(LINES > 0 ? LINES : 1, COLS > 0 ? COLS : 1,
		    0, 0);
		if (ui->notice != NULL) {
			keypad(ui->notice, TRUE);
			nodelay(ui->notice, TRUE);
		}
		return;
	}
	for (i = 0; i < PANE__COUNT; i++) {
		p = &ui->panes[i];
		p->r = ui->lay.r[i];
		p->win = newwin(p->r.h, p->r.w, p->r.y, p->r.x);
		if (p->win == NULL)
			fatalx("newwin %dx%d failed", p->r.w, p->r.h);
		p->dirty = 1;
	}
	keypad(ui->panes[PANE_INPUT].win, TRUE);
	nodelay(ui->panes[PANE_INPUT].win, TRUE);
	clearok(curscr, TRUE);
}

/* Mark panes dirty from model dirty bits. */
void
ui_dirty(struct ui *ui, unsigned bits)
{
	int	 i;

	for (i = 0; i < PANE__COUNT; i++)
		if (bits & ui_table[i].bit)
			ui->panes[i].dirty = 1;
}

/* The window keys are read from. */
WINDOW *
ui_input_window(const struct ui *ui)
{
	if (ui->lay.too_small)
		return ui->notice;
	return ui->panes[PANE_INPUT].win;
}

/* Give a pane the focus (the one PgUp/PgDn scroll). */
void
ui_focus(struct ui *ui, enum pane_id id)
{
	if (ui->focus != id) {
		ui->panes[ui->focus].dirty = 1;
		ui->panes[id].dirty = 1;
	}
	ui->focus = id;
}

/* Tab: the next (dir > 0) or previous pane that can hold the focus. */
void
ui_focus_next(struct ui *ui, int dir)
{
	static const enum pane_id order[] = {
		PANE_ACTIVITY, PANE_REPORTS, PANE_FAILOVER, PANE_CLUSTER
	};
	int	 i, n = (int)(sizeof order / sizeof order[0]);

	for (i = 0; i < n; i++)
		if (order[i] == ui->focus)
			break;
	i = (i + (dir > 0 ? 1 : n - 1)) % n;
	ui_focus(ui, order[i]);
}

/* Rows of a pane's body: what one page scrolls. */
int
ui_page(const struct ui *ui, enum pane_id id)
{
	int	 h = ui->lay.r[id].h - 1;

	return h > 1 ? h - 1 : 1;
}

/*
 * Write UTF-8 text at (y, x), cut to w columns; returns the columns
 * used.  The text is sanitised by the model before it gets here.
 */
int
ui_put(WINDOW *win, int y, int x, int w, const char *s, attr_t a)
{
	size_t	 n;
	int	 used;

	if (w <= 0)
		return 0;
	n = text_fit(s, strlen(s), w, &used);
	if (n == 0)
		return 0;
	wattron(win, a);
	mvwaddnstr(win, y, x, s, (int)n);
	wattroff(win, a);
	return used;
}

/*
 * Write text from row y at column x, wrapped at blanks to the pane's
 * width and cut at its bottom; returns the row after the last one used.
 */
int
ui_wrap(struct pane *p, int y, int x, const char *s, attr_t a)
{
	char	 row[512];
	size_t	 len = strlen(s), n;

	while (len > 0 && y < p->r.h) {
		n = text_wrap(s, len, p->r.w - x);
		if (n >= sizeof row)
			n = sizeof row - 1;
		memcpy(row, s, n);
		row[n] = '\0';
		ui_put(p->win, y++, x, p->r.w - x, row, a);
		s += n;
		len -= n;
	}
	return y;
}

/* A pane's title row: its name, and right-aligned extra text. */
void
ui_title(struct pane *p, struct tui *t, const char *right,
    enum ui_color rc)
{
	struct ui	*ui = t->ui;
	attr_t		 a;
	char		 buf[128];
	int		 w = p->r.w, rw, used;

	a = ui_attr(ui, ui->focus == (enum pane_id)(p - ui->panes) ?
	    UI_TITLE_FOCUS : UI_TITLE);
	wattron(p->win, a);
	mvwhline(p->win, 0, 0, ' ', w);
	wattroff(p->win, a);
	snprintf(buf, sizeof buf, " %s%s", p->title,
	    ui->focus == (enum pane_id)(p - ui->panes) ? " *" : "");
	used = ui_put(p->win, 0, 0, w, buf, a);
	if (right == NULL || *right == '\0')
		return;
	rw = text_width(right, strlen(right)) + 1;
	if (used + 1 + rw > w)
		return;
	ui_put(p->win, 0, w - rw, rw, right,
	    rc == UI_NORMAL ? a : (ui_attr(ui, rc) | A_REVERSE));
}

/* A left border for panes that sit beside another. */
void
ui_border(struct pane *p, struct tui *t)
{
	(void)t;
	if (p->r.x == 0 || p->r.h < 2)
		return;
	mvwvline(p->win, 1, 0, ACS_VLINE, p->r.h - 1);
}

/* The terminal may have lost its cells under the overlay: repaint. */
void
ui_help(struct ui *ui, int on)
{
	int	 i;

	if (ui->help && !on)
		for (i = 0; i < PANE__COUNT; i++)
			ui->panes[i].dirty = 1;
	ui->help = on;
}

struct ui_help_ctx {
	struct ui	*ui;
	WINDOW		*w;
	int		 y;
	int		 h;
	int		 width;
};

/* One line of help into the overlay. */
static void
ui_help_line(void *arg, const char *line)
{
	struct ui_help_ctx	*x = arg;

	if (x->y < x->h - 1)
		ui_put(x->w, x->y++, 2, x->width - 4, line, A_NORMAL);
}

/* The help overlay, over the panes, until a key is pressed. */
static void
ui_help_draw(struct ui *ui)
{
	struct ui_help_ctx	 x;
	int			 w, h;

	w = COLS - 4 > COMMAND_HELP_WIDTH + 4 ? COMMAND_HELP_WIDTH + 4 :
	    COLS - 4;
	h = LINES - 2 > 30 ? 30 : LINES - 2;
	if (ui->help_win == NULL)
		ui->help_win = newwin(h, w, (LINES - h) / 2, (COLS - w) / 2);
	if (ui->help_win == NULL)
		return;
	werase(ui->help_win);
	box(ui->help_win, 0, 0);
	ui_put(ui->help_win, 0, 2, w - 4, " Help (any key closes) ",
	    ui_attr(ui, UI_TITLE_FOCUS));
	x.ui = ui;
	x.w = ui->help_win;
	x.y = 1;
	x.h = h;
	x.width = w;
	command_help_each(ui_help_line, &x, 0);
	wnoutrefresh(ui->help_win);
}

/*
 * Draw every dirty pane into its window, then one doupdate().  The input
 * window goes last so the terminal's cursor ends up on the input line.
 */
void
ui_redraw(struct ui *ui, struct tui *t)
{
	struct pane	*p;
	int		 i;

	ui_dirty(ui, t->model.dirty);
	t->model.dirty = 0;
	if (ui->lay.too_small) {
		if (ui->notice == NULL)
			return;
		werase(ui->notice);
		ui_put(ui->notice, 0, 0, COLS, "terminal too small", A_BOLD);
		mvwprintw(ui->notice, 1, 0, "need %dx%d",
		    LAYOUT_MIN_COLS, LAYOUT_MIN_LINES);
		wnoutrefresh(ui->notice);
		doupdate();
		return;
	}
	for (i = 0; i < PANE__COUNT; i++) {
		p = &ui->panes[i];
		if (!p->dirty || i == PANE_INPUT)
			continue;
		werase(p->win);
		p->draw(p, t);
		wnoutrefresh(p->win);
		p->dirty = 0;
	}
	p = &ui->panes[PANE_INPUT];
	if (p->dirty) {
		werase(p->win);
		p->draw(p, t);
		p->dirty = 0;
	}
	wmove(p->win, ui->cursor_y, ui->cursor_x);
	wnoutrefresh(p->win);
	if (ui->help)
		ui_help_draw(ui);
	else if (ui->help_win != NULL) {
		delwin(ui->help_win);
		ui->help_win = NULL;
	}
	doupdate();
}
