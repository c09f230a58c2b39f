/*
 * Where each pane goes, as a pure function of the terminal size: no
 * ncurses, so every size can be checked by a unit test.  The panes tile
 * the screen exactly, which is what keeps a resize free of leftovers.
 */
#ifndef LAYOUT_H
#define LAYOUT_H

enum pane_id {
	PANE_STATUS,
	PANE_ACTIVITY,
	PANE_REPORTS,
	PANE_FAILOVER,
	PANE_CLUSTER,
	PANE_INPUT,
	PANE__COUNT
};

struct rect {
	int	 x;
	int	 y;
	int	 w;
	int	 h;
};

struct layout {
	int		 cols;
	int		 lines;
	int		 too_small;	/* only a notice fits */
	int		 wide;		/* side bar instead of bottom band */
	struct rect	 r[PANE__COUNT];
};

#define LAYOUT_MIN_COLS		40
#define LAYOUT_MIN_LINES	12
#define LAYOUT_WIDE_COLS	120

void	layout_compute(int, int, struct layout *);

#endif
