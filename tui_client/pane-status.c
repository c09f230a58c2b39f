/*
 * Connection status: one bar across the top, most important first, so a
 * narrow terminal drops the least useful parts.  State, user@server,
 * round-trip time, server id, session and resume.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "msg.h"
#include "text.h"
#include "tui.h"
#include "ui.h"

/* Add " part " to the bar if it fits; returns the new column. */
static int
status_part(struct pane *p, struct tui *t, int x, const char *s,
    enum ui_color c)
{
	int	 w = text_width(s, strlen(s));

	if (x + w + 3 > p->r.w)
		return x;
	if (x > 0)
		x += ui_put(p->win, 0, x, p->r.w - x, " | ",
		    ui_attr(t->ui, UI_BAR));
	return x + ui_put(p->win, 0, x, p->r.w - x, s,
	    c == UI_BAR ? ui_attr(t->ui, UI_BAR) :
	    ui_attr(t->ui, c) | A_REVERSE | A_BOLD);
}

/* Draw the status bar. */
void
pane_status_draw(struct pane *p, struct tui *t)
{
	struct model	*m = &t->model;
	char		 buf[MODEL_HOST_MAX + MODEL_NAME_MAX + 32];
	enum ui_color	 sc;
	int		 x = 0;

	wattron(p->win, ui_attr(t->ui, UI_BAR));
	mvwhline(p->win, 0, 0, ' ', p->r.w);
	wattroff(p->win, ui_attr(t->ui, UI_BAR));

	switch (m->state) {
	case LINK_ONLINE:
		sc = UI_OK;
		break;
	case LINK_FAILED:
		sc = UI_ERROR;
		break;
	default:
		sc = UI_WARN;
		break;
	}
	snprintf(buf, sizeof buf, " %s ", model_state_name(m->state));
	x = ui_put(p->win, 0, 0, p->r.w, buf,
	    ui_attr(t->ui, sc) | A_REVERSE | A_BOLD);
	x += 1;

	if (m->host[0] != '\0')
		snprintf(buf, sizeof buf, "%s@%s:%d", m->user, m->host,
		    m->port);
	else
		snprintf(buf, sizeof buf, "%s", m->user);
	x = status_part(p, t, x, buf, UI_BAR);

	/* Retries show here and in the failover pane, not in the stream. */
	if (m->out_of_service && m->attempt > 0) {
		if (m->state == LINK_WAITING && m->retry_at > now_ms())
			snprintf(buf, sizeof buf, "try %d, next in %.1fs",
			    m->attempt + 1,
			    (double)(m->retry_at - now_ms()) / 1000.0);
		else
			snprintf(buf, sizeof buf, "try %d", m->attempt);
		x = status_part(p, t, x, buf, UI_WARN);
	}
	if (m->state != LINK_ONLINE)
		buf[0] = '\0';
	else if (m->features_known &&
	    (m->features & FEAT_BIT(FEAT_HEARTBEAT)) == 0)
		snprintf(buf, sizeof buf, "rtt n/a (no heartbeat)");
	else if (m->rtt_ms >= 0)
		snprintf(buf, sizeof buf, "rtt %lld ms", m->rtt_ms);
	else
		snprintf(buf, sizeof buf, "rtt -");
	if (buf[0] != '\0')
		x = status_part(p, t, x, buf, UI_BAR);

	if (m->server_id[0] != '\0') {
		snprintf(buf, sizeof buf, "id %s", m->server_id);
		x = status_part(p, t, x, buf, UI_BAR);
	}
	if (m->state == LINK_ONLINE && m->resume[0] != '\0') {
		snprintf(buf, sizeof buf, "resume %s", m->resume);
		x = status_part(p, t, x, buf, UI_BAR);
	}
	if (m->session[0] != '\0') {
		snprintf(buf, sizeof buf, "session %s", m->session);
		x = status_part(p, t, x, buf, UI_BAR);
	}
	(void)x;
}
