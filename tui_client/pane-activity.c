/*
 * The activity stream: "HH:MM:SS who: text" ("* who text" for /me),
 * wrapped to the pane with continuation rows indented under the text,
 * newest at the bottom; each name in its own colour, lines that name
 * the user highlighted, a line where the day changes and a marker
 * above what arrived while the user was away.  Scrolled back, the
 * title says how many lines are below.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "decor.h"
#include "text.h"
#include "tui.h"
#include "ui.h"

#define ACT_ROWS_MAX	64	/* rows one entry may take */

struct act_row {
	const char	*p;
	size_t		 len;
};

/* Split an entry's text into rows of w columns (the first row w0). */
static int
act_wrap(const char *s, size_t len, int w0, int w, struct act_row *rows)
{
	size_t	 n;
	int	 nrows = 0, cw = w0;

	if (len == 0) {
		rows[0].p = s;
		rows[0].len = 0;
		return 1;
	}
	while (len > 0 && nrows < ACT_ROWS_MAX) {
		if (cw < 1)
			cw = 1;
		n = text_wrap(s, len, cw);
		rows[nrows].p = s;
		rows[nrows].len = n;
		nrows++;
		s += n;
		len -= n;
		cw = w;
	}
	return nrows;
}

/* Draw one entry's rows starting at row y; skip the first skip rows. */
static void
act_draw_entry(struct pane *p, struct tui *t, const struct model_line *l,
    int y, int skip, int nrows, struct act_row *rows, int indent,
    const char *prefix, const char *who)
{
	enum ui_color	 c;
	char		 buf[MODEL_TEXT_MAX + 8];
	int		 i, x;

	switch (l->kind) {
	case MODEL_INFO:
		c = UI_INFO;
		break;
	case MODEL_ERROR:
		c = UI_ERROR;
		break;
	case MODEL_SELF:
		c = UI_SELF;
		break;
	default:
		c = UI_NORMAL;
		break;
	}
	if (l->flags & MODEL_F_MENTION)
		c = UI_MENTION;
	for (i = skip; i < nrows; i++, y++) {
		x = 0;
		if (i == 0) {
			x += ui_put(p->win, y, x, p->r.w, prefix,
			    ui_attr(t->ui, UI_TIME));
			x += ui_put(p->win, y, x, p->r.w - x, who,
			    l->kind == MODEL_ACTIVITY || l->kind == MODEL_SELF ?
			    ui_name_attr(t->ui, l->who) : ui_attr(t->ui, c));
		} else
			x = indent;
		if (rows[i].len >= sizeof buf)
			rows[i].len = sizeof buf - 1;
		memcpy(buf, rows[i].p, rows[i].len);
		buf[rows[i].len] = '\0';
		ui_put(p->win, y, x, p->r.w - x, buf, ui_attr(t->ui, c));
	}
}

/* A row across the pane: "-- text ----". */
static void
act_rule(struct pane *p, struct tui *t, int y, const char *text,
    enum ui_color c)
{
	char	 buf[256];
	int	 used;

	snprintf(buf, sizeof buf, "-- %s ", text);
	used = ui_put(p->win, y, 0, p->r.w, buf, ui_attr(t->ui, c));
	if (used < p->r.w) {
		wattron(p->win, ui_attr(t->ui, c));
		mvwhline(p->win, y, used, '-', p->r.w - used);
		wattroff(p->win, ui_attr(t->ui, c));
	}
}

/* Draw the stream, bottom up from the scroll position. */
void
pane_activity_draw(struct pane *p, struct tui *t)
{
	struct model		*m = &t->model;
	const struct model_line	*l;
	struct act_row		 rows[ACT_ROWS_MAX];
	const struct model_line	*older;
	char			 prefix[16], who[MODEL_WHO_MAX + 4], right[64];
	char			 day[64];
	struct tm		 tm;
	time_t			 secs;
	size_t			 i;
	int			 y, nrows, indent, w0, skip, marker;

	if (m->scroll > 0)
		snprintf(right, sizeof right, "scrolled: %zu newer below ",
		    m->scroll);
	else
		snprintf(right, sizeof right, "%llu lines ", m->lines_total);
	ui_title(p, t, right, m->scroll > 0 ? UI_WARN : UI_NORMAL);

	y = p->r.h;		/* one past the last row */
	for (i = m->scroll; y > 1; i++) {
		if ((l = model_line_at(m, i)) == NULL)
			break;
		/* Above the first line that came while the user was away. */
		marker = m->marker && m->lines_total > m->marker_total &&
		    i + 1 == m->lines_total - m->marker_total;
		older = model_line_at(m, i + 1);
		secs = (time_t)(l->wall_ms / 1000);
		localtime_r(&secs, &tm);
		snprintf(prefix, sizeof prefix, "%02d:%02d:%02d ", tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		if (l->kind == MODEL_INFO || l->kind == MODEL_ERROR)
			snprintf(who, sizeof who, "%s ",
			    l->kind == MODEL_ERROR ? "!!" : "--");
		else if (l->flags & MODEL_F_ACTION)
			snprintf(who, sizeof who, "* %s ", l->who);
		else
			snprintf(who, sizeof who, "%s: ", l->who);
		indent = text_width(prefix, strlen(prefix)) +
		    text_width(who, strlen(who));
		if (indent > p->r.w / 2)
			indent = 9;
		w0 = p->r.w - text_width(prefix, strlen(prefix)) -
		    text_width(who, strlen(who));
		nrows = act_wrap(l->text, l->len, w0, p->r.w - indent, rows);
		skip = 0;
		y -= nrows;
		if (y < 1) {
			skip = 1 - y;
			y = 1;
		}
		act_draw_entry(p, t, l, y, skip, nrows, rows, indent, prefix,
		    who);
		if (marker && y > 1)
			act_rule(p, t, --y, "new since you looked away",
			    UI_MARKER);
		if (older != NULL && y > 1 &&
		    decor_day(older->wall_ms) != decor_day(l->wall_ms)) {
			decor_fmt_day(l->wall_ms, day, sizeof day);
			act_rule(p, t, --y, day, UI_INFO);
		}
	}
}
