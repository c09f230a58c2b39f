/*
 * The screen: a table of panes {title, WINDOW *, rect, dirty, draw} laid
 * out by layout.c.  Handlers only change the model; ui_redraw() is the
 * one place that draws, pane by dirty pane, with a single doupdate().
 */
#ifndef UI_H
#define UI_H

#include <curses.h>

#include "decor.h"
#include "layout.h"

struct tui;
struct model;

enum ui_color {
	UI_NORMAL,
	UI_TITLE,
	UI_TITLE_FOCUS,
	UI_BAR,
	UI_INFO,
	UI_ERROR,
	UI_SELF,
	UI_OK,
	UI_WARN,
	UI_DIM,
	UI_WHO,
	UI_TIME,
	UI_MENTION,
	UI_MARKER,
	UI_NAME0,		/* DECOR_COLORS name colours from here */
	UI__COUNT = UI_NAME0 + DECOR_COLORS
};

struct pane {
	const char	*title;
	WINDOW		*win;
	struct rect	 r;
	int		 dirty;
	void		(*draw)(struct pane *, struct tui *);
};

struct ui {
	struct layout	 lay;
	struct pane	 panes[PANE__COUNT];
	WINDOW		*notice;	/* the terminal is too small */
	int		 colors;
	int		 help;		/* the help overlay is up */
	WINDOW		*help_win;
	enum pane_id	 focus;
	int		 cursor_y;
	int		 cursor_x;
};

struct ui	*ui_new(int);
void		 ui_free(struct ui *);
void		 ui_resize(struct ui *);
void		 ui_redraw(struct ui *, struct tui *);
void		 ui_dirty(struct ui *, unsigned);
void		 ui_focus(struct ui *, enum pane_id);
void		 ui_focus_next(struct ui *, int);
int		 ui_page(const struct ui *, enum pane_id);
WINDOW		*ui_input_window(const struct ui *);
attr_t		 ui_attr(const struct ui *, enum ui_color);
attr_t		 ui_name_attr(const struct ui *, const char *);
void		 ui_help(struct ui *, int);
void		 ui_title(struct pane *, struct tui *, const char *,
		    enum ui_color);
int		 ui_put(WINDOW *, int, int, int, const char *, attr_t);
void		 ui_border(struct pane *, struct tui *);
int		 ui_wrap(struct pane *, int, int, const char *, attr_t);

void	pane_status_draw(struct pane *, struct tui *);
void	pane_activity_draw(struct pane *, struct tui *);
size_t	pane_activity_scroll_max(const struct model *, int, int);
void	pane_reports_draw(struct pane *, struct tui *);
void	pane_failover_draw(struct pane *, struct tui *);
void	pane_cluster_draw(struct pane *, struct tui *);
void	pane_input_draw(struct pane *, struct tui *);
void	pane_fmt_age(char *, size_t, long long);

#endif
