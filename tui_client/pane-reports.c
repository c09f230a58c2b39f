/*
 * Send reports: one row per activity we sent, newest first: its
 * activity_seq, delivered/target once a report came, and the state
 * (pending, done, short, partial, no report).
 */
#include <stdio.h>
#include <string.h>

#include "msg.h"
#include "tui.h"
#include "ui.h"

/* Green when delivered, yellow while pending, red when short or lost. */
static enum ui_color
report_color(enum report_state st)
{
	switch (st) {
	case REPORT_DONE:
		return UI_OK;
	case REPORT_PENDING:
		return UI_WARN;
	case REPORT_SHORT:
	case REPORT_PARTIAL:
	case REPORT_LOST:
		return UI_ERROR;
	default:
		return UI_NORMAL;
	}
}

/* Draw the reports pane. */
void
pane_reports_draw(struct pane *p, struct tui *t)
{
	struct model			*m = &t->model;
	const struct model_report	*r;
	char				 buf[128], right[32];
	int				 y = 1, x0, x, offered;
	size_t				 i;

	snprintf(right, sizeof right, "%zu pending ",
	    model_reports_pending(m));
	ui_title(p, t, right, model_reports_pending(m) > 0 ? UI_WARN :
	    UI_NORMAL);
	ui_border(p, t);
	x0 = p->r.x > 0 ? 2 : 1;

	offered = m->features_known &&
	    (m->features & FEAT_BIT(FEAT_SENDING_REPORT)) &&
	    (m->features & FEAT_BIT(FEAT_ACTIVITY_SEQ));
	if (m->features_known && !offered)
		y = ui_wrap(p, y, x0, "server offers no sending reports",
		    ui_attr(t->ui, UI_WARN));
	if (m->reports_n == 0)
		y = ui_wrap(p, y, x0, "nothing sent yet",
		    ui_attr(t->ui, UI_DIM));
	for (i = m->reports_scroll; y < p->r.h; i++, y++) {
		if ((r = model_report_at(m, i)) == NULL)
			break;
		x = x0;
		/*
		 * Rows are numbered per client run: activity_seq starts
		 * again in every session, and would read #3 #2 #1 #9 #8.
		 */
		if (r->state == REPORT_UNTRACKED)
			snprintf(buf, sizeof buf, "#%-3llu %5s ", r->num, "");
		else if (r->report_ms == 0)
			snprintf(buf, sizeof buf, "#%-3llu %5s ", r->num,
			    "?/?");
		else {
			char	 counts[48];

			snprintf(counts, sizeof counts, "%lld/%lld",
			    r->delivered, r->target);
			snprintf(buf, sizeof buf, "#%-3llu %5s ", r->num,
			    counts);
		}
		x += ui_put(p->win, y, x, p->r.w - x, buf, A_NORMAL);
		snprintf(buf, sizeof buf, "%-7s ",
		    model_report_name(r->state));
		x += ui_put(p->win, y, x, p->r.w - x, buf,
		    ui_attr(t->ui, report_color(r->state)));
		ui_put(p->win, y, x, p->r.w - x, r->preview,
		    ui_attr(t->ui, UI_DIM));
	}
}
