/*
 * Cluster health from CLUSTER_STATUS: every server's host:port (and id
 * where the pane is wide), load, age of its last announce and state,
 * refreshed as updates arrive and aged between them.  A server that is
 * down or lost is dimmed, with how long ago; a narrow pane cuts the
 * middle of host names, never the port.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "decor.h"
#include "msg.h"
#include "text.h"
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

/* Append s to buf (of size len), cut if it must be. */
static void
cluster_cat(char *buf, const char *s, size_t len)
{
	size_t	 n = strlen(buf);

	if (n + 1 < len)
		snprintf(buf + n, len - n, "%s", s);
}

/* Is the server down or lost (not heard from, shown dimmed)? */
static int
cluster_gone(const char *state)
{
	return strcmp(state, MSG_V_DOWN) == 0 || strcmp(state, MSG_V_LOST) == 0;
}

/* Green for self and up, dim for down and lost, yellow otherwise. */
static enum ui_color
cluster_color(const char *state)
{
	if (strcmp(state, MSG_V_SELF) == 0 || strcmp(state, MSG_V_UP) == 0)
		return UI_OK;
	if (cluster_gone(state))
		return UI_DIM;
	return UI_WARN;
}

/* Pane widths from which the id (short, full) and load and age show. */
#define CLUSTER_ID_W		42
#define CLUSTER_FULL_ID_W	58
#define CLUSTER_STATS_W		28

/* Draw the cluster pane. */
void
pane_cluster_draw(struct pane *p, struct tui *t)
{
	struct model		*m = &t->model;
	const struct model_server *s;
	char			 buf[MODEL_HOST_MAX + 64];
	char			 hp[MODEL_HOST_MAX + 8];
	char			 age[16], load[24], right[48], st[48];
	int			 y = 1, x0, x, hw, i, idw = 0, avail, stats;
	attr_t			 a;

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
	/*
	 * host:port gets what the id (where there is room), load, age
	 * and state leave; a narrow pane drops load and age first.
	 */
	avail = p->r.w - x0;
	if (avail >= CLUSTER_FULL_ID_W)
		idw = 16;
	else if (avail >= CLUSTER_ID_W)
		idw = 8;
	stats = avail >= CLUSTER_STATS_W ? 12 : 0;
	hw = avail - (idw > 0 ? idw + 1 : 0) - stats - 6;
	if (hw > 40)
		hw = 40;
	if (hw < 1)
		hw = 1;
	snprintf(buf, sizeof buf, "%-*s%s%-*s%s ", idw, idw > 0 ? "id" : "",
	    idw > 0 ? " " : "", hw, "server", stats > 0 ? " load  seen" : "");
	cluster_cat(buf, "state", sizeof buf);
	ui_put(p->win, y++, x0, avail, buf, ui_attr(t->ui, UI_DIM));
	for (i = (int)m->cluster_scroll; i < m->nservers && y < p->r.h;
	    i++, y++) {
		s = &m->servers[i];
		decor_hostport(s->host, s->port, hw, hp, sizeof hp);
		if (s->load >= 0)
			snprintf(load, sizeof load, "%lld", s->load);
		else
			snprintf(load, sizeof load, "?");
		/* Down or lost: how long ago it went, not its last word. */
		if (cluster_gone(s->state) && s->down_ms >= 0)
			pane_fmt_age(age, sizeof age, s->down_ms +
			    (long long)(now_ms() - m->cluster_at));
		else
			pane_fmt_age(age, sizeof age, cluster_age(m, s));
		snprintf(buf, sizeof buf, "%-*.*s%s%s%*s", idw, idw,
		    idw > 0 ? s->id : "", idw > 0 ? " " : "", hp,
		    hw - text_width(hp, strlen(hp)), "");
		if (stats > 0) {
			snprintf(st, sizeof st, " %4s %5s", load, age);
			cluster_cat(buf, st, sizeof buf);
		}
		cluster_cat(buf, " ", sizeof buf);
		a = strcmp(s->state, MSG_V_SELF) == 0 ? A_BOLD : A_NORMAL;
		if (cluster_gone(s->state))
			a = ui_attr(t->ui, UI_DIM);
		x = x0 + ui_put(p->win, y, x0, avail, buf, a);
		ui_put(p->win, y, x, p->r.w - x, s->state,
		    ui_attr(t->ui, cluster_color(s->state)));
	}
}
