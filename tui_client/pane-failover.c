/*
 * Failover progress under one status: OUT_OF_SERVICE while this client
 * fails over (the server being tried, attempt and backoff, how long the
 * outage has lasted) or while the cluster says so (and why), NORMAL
 * otherwise; then the backup list with the one being tried marked.
 * Addresses lose the middle of their host name to a narrow pane, never
 * their port.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "decor.h"
#include "msg.h"
#include "tui.h"
#include "ui.h"

/* Draw the failover pane. */
void
pane_failover_draw(struct pane *p, struct tui *t)
{
	struct model	*m = &t->model;
	char		 buf[MODEL_HOST_MAX + 64], hp[MODEL_HOST_MAX + 16];
	uint64_t	 now = now_ms();
	int		 y = 1, x0, w, i, trying, oos;

	ui_title(p, t, NULL, UI_NORMAL);
	ui_border(p, t);
	x0 = p->r.x > 0 ? 2 : 1;
	w = p->r.w - x0;

#define LINE(s, c) do {							\
	if (y < p->r.h)							\
		ui_put(p->win, y++, x0, p->r.w - x0, (s),		\
		    ui_attr(t->ui, (c)));				\
} while (0)

	/*
	 * One status: ours while we fail over (the cluster's last word is
	 * stale then), else the cluster's.  The title may be too narrow
	 * for it: say it first in the body.
	 */
	oos = m->out_of_service || (m->have_cluster &&
	    strcmp(m->cluster_status, MSG_V_NORMAL) != 0);
	LINE(oos ? MSG_V_OUT_OF_SERVICE : MSG_V_NORMAL, oos ? UI_ERROR :
	    UI_OK);
	if (m->out_of_service) {
		decor_hostport(m->trying_host, m->trying_port, w - 7, hp,
		    sizeof hp);
		snprintf(buf, sizeof buf, "%s %s",
		    m->state == LINK_WAITING ? "next:" : "trying", hp);
		LINE(buf, UI_WARN);
		snprintf(buf, sizeof buf, "try %d, backoff %ums",
		    m->attempt, m->backoff_ms);
		LINE(buf, UI_NORMAL);
		if (m->state == LINK_WAITING && m->retry_at > now)
			snprintf(buf, sizeof buf, "retry %.1fs, down %.1fs",
			    (double)(m->retry_at - now) / 1000.0,
			    (double)(now - m->down_since) / 1000.0);
		else
			snprintf(buf, sizeof buf, "down for %.1fs",
			    (double)(now - m->down_since) / 1000.0);
		LINE(buf, UI_NORMAL);
		if (m->last_error[0] != '\0' && y < p->r.h)
			y = ui_wrap(p, y, x0, m->last_error,
			    ui_attr(t->ui, UI_DIM));
	} else {
		if (m->state == LINK_ONLINE) {
			decor_hostport(m->host, m->port, w - 3, hp, sizeof hp);
			snprintf(buf, sizeof buf, "on %s", hp);
		} else
			snprintf(buf, sizeof buf, "%s",
			    model_state_name(m->state));
		LINE(buf, m->state == LINK_ONLINE ? UI_OK : UI_WARN);
		if (m->failovers > 0) {
			snprintf(buf, sizeof buf, "failovers %u, last %llums",
			    m->failovers,
			    (unsigned long long)m->last_outage_ms);
			LINE(buf, UI_NORMAL);
		}
		if (oos && m->cluster_info[0] != '\0' && y < p->r.h)
			y = ui_wrap(p, y, x0, m->cluster_info,
			    ui_attr(t->ui, UI_WARN));
	}
	if (m->features_known && !(m->features & FEAT_BIT(FEAT_BACKUP_LIST)) &&
	    !m->have_backups) {
		ui_wrap(p, y, x0, "server offers no backup list; retries "
		    "the same server", ui_attr(t->ui, UI_WARN));
		return;
	}
	if (!m->have_backups) {
		LINE("no backup list yet", UI_DIM);
		return;
	}
	if (m->nbackups == 0) {
		LINE("backup list is empty", UI_WARN);
		return;
	}
	LINE("backups:", UI_DIM);
	for (i = 0; i < m->nbackups; i++) {
		trying = m->out_of_service &&
		    m->backups[i].port == m->trying_port &&
		    strcmp(m->backups[i].host, m->trying_host) == 0;
		decor_hostport(m->backups[i].host, m->backups[i].port, w - 2,
		    hp, sizeof hp);
		snprintf(buf, sizeof buf, "%s %s", trying ? ">" : " ", hp);
		LINE(buf, trying ? UI_WARN : UI_NORMAL);
	}
#undef LINE
}
