/*
 * Cluster health from CLUSTER_STATUS: every server's host:port, load,
 * age of its last announce and state, refreshed as updates arrive and
 * aged between them.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "msg.h"
#include "tui.h"
#include "ui.h"

/* "850ms", "12s", "3m", "2h" */
void
pane_fmt_age(char *buf, size_t len, long long ms)
{
	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 1000)
		snprintf(buf, len, "%lldms", ms);
	else if (ms < 120000)
		snprintf(buf, len, "%llds", ms / 1000);
	else if (ms < 7200000)
		snprintf(buf, len, "%lldm", ms / 60000);
	else
		snprintf(buf, len, "%lldh", ms / 3600000);
}

/*
 * last_announce_ms as sent: a large value is a wall-clock time, a small
 * one an age at the time of the update, which keeps growing here.
 */
static long long
cluster_age(const struct model *m, const struct model_server *s)
{
	uint64_t	 w = wall_ms();

	if (s->last_announce < 0)
		return -1;
	if (s->last_announce > 1000000000000LL)
		return (uint64_t)s->last_announce > w ? 0 :
		    (long long)(w - (uint64_t)s->last_announce);
	return s->last_announce + (long long)(now_ms() - m->cluster_at);
}

/* Green for self and up, red for unavailable, yellow otherwise. */
static enum ui_color
cluster_color(const char *state)
{
	if (strcmp(state, "self") == 0 || strcmp(state, "up") == 0)
		return UI_OK;
	if (strcmp(state, "unavailable") == 0)
		return UI_ERROR;
	return UI_WARN;
}

/* Draw the cluster pane. */
void
pane_cluster_draw(struct pane *p, struct tui *t)
{
	struct model		*m = &t->model;
	const struct model_server *s;
	char			 buf[MODEL_HOST_MAX + 64];
	char			 hp[MODEL_HOST_MAX + 8];
	char			 age[16], load[24], right[48];
	int			 y = 1, x0, hw, i;

	right[0] = '\0';
	if (m->have_cluster) {
		pane_fmt_age(age, sizeof age,
		    (long long)(now_ms() - m->cluster_at));
		snprintf(right, sizeof right, "%d servers, %s ago ",
		    m->nservers, age);
	}
	ui_title(p, t, right, UI_NORMAL);
	ui_border(p, t);
	x0 = p->r.x > 0 ? 2 : 1;

	if (m->features_known &&
	    !(m->features & FEAT_BIT(FEAT_CLUSTER_STATUS))) {
		ui_wrap(p, y, x0, "server offers no cluster status",
		    ui_attr(t->ui, UI_WARN));
		return;
	}
	if (!m->have_cluster) {
		ui_wrap(p, y, x0, "no cluster status yet",
		    ui_attr(t->ui, UI_DIM));
		return;
	}
	/* host:port gets what load, age and state leave. */
	hw = p->r.w - x0 - 17;
	if (hw < 8)
		hw = 8;
	if (hw > 40)
		hw = 40;
	snprintf(buf, sizeof buf, "%-*s %4s %5s %s", hw, "server", "load",
	    "seen", "state");
	ui_put(p->win, y++, x0, p->r.w - x0, buf, ui_attr(t->ui, UI_DIM));
	for (i = (int)m->cluster_scroll; i < m->nservers && y < p->r.h;
	    i++, y++) {
		s = &m->servers[i];
		snprintf(hp, sizeof hp, "%s:%d", s->host, s->port);
		if (s->load >= 0)
			snprintf(load, sizeof load, "%lld", s->load);
		else
			snprintf(load, sizeof load, "?");
		pane_fmt_age(age, sizeof age, cluster_age(m, s));
		snprintf(buf, sizeof buf, "%-*.*s %4s %5s ", hw, hw, hp, load,
		    age);
		ui_put(p->win, y, x0, p->r.w - x0, buf,
		    strcmp(s->state, "self") == 0 ? A_BOLD : A_NORMAL);
		ui_put(p->win, y, x0 + hw + 12, p->r.w - x0 - hw - 12,
		    strcmp(s->state, "unavailable") == 0 ? "down" : s->state,
		    ui_attr(t->ui, cluster_color(s->state)));
	}
}
