/*
 * The pane models.  Rings overwrite their oldest entry, so a client left
 * running for a week holds as much as one started a minute ago.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "model.h"
#include "text.h"
#include "xmalloc.h"

/* Set up an empty model whose scrollback keeps cap lines. */
void
model_init(struct model *m, size_t cap)
{
	memset(m, 0, sizeof *m);
	if (cap == 0)
		cap = MODEL_LINES_MAX;
	m->lines = xcalloc(cap, sizeof *m->lines);
	m->lines_cap = m->lines_max = cap;
	m->rtt_ms = -1;
	m->gen = 1;
	m->focused = 1;
	m->dirty = MODEL_D_ALL;
}

/* Release the scrollback. */
void
model_free(struct model *m)
{
	size_t	 i;

	if (m->lines == NULL)
		return;
	for (i = 0; i < m->lines_cap; i++)
		free(m->lines[i].text);
	free(m->lines);
	m->lines = NULL;
}

/*
 * Append a line to the stream.  The text is sanitised and cut here, once,
 * so drawing never sees a control character.  A reader scrolled back
 * keeps looking at the same lines while new ones arrive below.
 */
void
model_add(struct model *m, enum model_kind kind, const char *who,
    const char *text, size_t len)
{
	struct model_line	*l;
	char			 buf[MODEL_TEXT_MAX];
	size_t			 n;

	l = &m->lines[m->lines_head];
	free(l->text);
	n = text_sanitize_lines(text, len, buf, sizeof buf);
	l->text = xstrdup(buf);
	l->len = n;
	l->kind = kind;
	l->flags = 0;
	l->wall_ms = wall_ms();
	text_sanitize(who != NULL ? who : "", who != NULL ? strlen(who) : 0,
	    l->who, sizeof l->who);
	m->lines_head = (m->lines_head + 1) % m->lines_cap;
	if (m->lines_n < m->lines_cap)
		m->lines_n++;
	m->lines_total++;
	if (m->scroll > 0 && m->scroll + 1 < m->lines_n)
		m->scroll++;
	m->dirty |= MODEL_D_ACTIVITY;
}

/* Add a client message to the stream, the log, and stderr in batch mode. */
static void
model_vsay(struct model *m, enum model_kind kind, const char *fmt,
    va_list ap)
{
	char	 buf[1024];
	int	 n;

	n = vsnprintf(buf, sizeof buf, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	model_add(m, kind, kind == MODEL_ERROR ? "!" : "-", buf, (size_t)n);
	if (m->echo != NULL) {
		fprintf(m->echo, "activity-tui: %s%s\n",
		    kind == MODEL_ERROR ? "error: " : "", buf);
		fflush(m->echo);
	}
	if (kind == MODEL_ERROR)
		log_warnx("%s", buf);
	else
		log_info("%s", buf);
}

/* Tell the user something, in the stream (and on stderr in batch mode). */
void
model_info(struct model *m, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	model_vsay(m, MODEL_INFO, fmt, ap);
	va_end(ap);
}

/* Tell the user something went wrong. */
void
model_error(struct model *m, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	model_vsay(m, MODEL_ERROR, fmt, ap);
	va_end(ap);
}

/* The i-th line counting back from the newest (0), or NULL. */
const struct model_line *
model_line_at(const struct model *m, size_t i)
{
	size_t	 idx;

	if (i >= m->lines_n)
		return NULL;
	idx = (m->lines_head + m->lines_cap - 1 - i) % m->lines_cap;
	return &m->lines[idx];
}

/* Move the view up (positive) or down by delta lines, within bounds. */
void
model_scroll(struct model *m, long delta)
{
	long	 s = (long)m->scroll + delta;

	if (s < 0)
		s = 0;
	if (m->lines_n == 0)
		s = 0;
	else if ((size_t)s > m->lines_n - 1)
		s = (long)m->lines_n - 1;
	if ((size_t)s != m->scroll) {
		m->scroll = (size_t)s;
		m->dirty |= MODEL_D_ACTIVITY;
	}
	model_attention(m);
}

/*
 * The user looks away (the terminal loses the focus, or the stream is
 * scrolled back): what arrives from then on is unread, below a marker
 * line.  The marker stays after the user is back, until the next time
 * they look away, unless nothing came meanwhile.
 */
void
model_attention(struct model *m)
{
	int	 away = !m->focused || m->scroll > 0;

	if (away && !m->away) {
		m->marker_total = m->lines_total;
		m->marker = 1;
	} else if (!away && m->away && m->lines_total == m->marker_total)
		m->marker = 0;
	m->away = away;
	m->dirty |= MODEL_D_ACTIVITY;
}

/* The terminal gained (1) or lost (0) the focus. */
void
model_set_focus(struct model *m, int focused)
{
	m->focused = focused;
	model_attention(m);
}

/* Mark the newest line; a mention counts for the bell. */
void
model_flag_last(struct model *m, unsigned flags)
{
	struct model_line	*l;

	if (m->lines_n == 0)
		return;
	l = &m->lines[(m->lines_head + m->lines_cap - 1) % m->lines_cap];
	l->flags |= flags;
	if (flags & MODEL_F_MENTION)
		m->mentions++;
	m->dirty |= MODEL_D_ACTIVITY;
}

/*
 * Make the ring hold up to twice as many lines (no more than
 * lines_max), oldest first from the start; -1 if it is at lines_max.
 */
static int
model_grow(struct model *m)
{
	struct model_line	*nl;
	size_t			 cap, i;

	if (m->lines_cap >= m->lines_max)
		return -1;
	cap = m->lines_cap * 2 < m->lines_max ? m->lines_cap * 2 :
	    m->lines_max;
	nl = xcalloc(cap, sizeof *nl);
	for (i = 0; i < m->lines_n; i++)
		nl[m->lines_n - 1 - i] = *model_line_at(m, i);
	free(m->lines);
	m->lines = nl;
	m->lines_cap = cap;
	m->lines_head = m->lines_n % cap;
	return 0;
}

/*
 * Put a line before the oldest one (an earlier page of history); the
 * ring grows for it up to lines_max, then -1: its newest lines are not
 * given up for older ones.  The view, counted from the newest line,
 * stays where it was.
 */
int
model_prepend(struct model *m, enum model_kind kind, const char *who,
    const char *text, size_t len, unsigned flags)
{
	struct model_line	*l;
	char			 buf[MODEL_TEXT_MAX];

	if (m->lines_n == m->lines_cap && model_grow(m) != 0)
		return -1;
	l = &m->lines[(m->lines_head + m->lines_cap - m->lines_n - 1) %
	    m->lines_cap];
	free(l->text);
	l->len = text_sanitize_lines(text, len, buf, sizeof buf);
	l->text = xstrdup(buf);
	l->kind = kind;
	l->flags = flags;
	l->wall_ms = wall_ms();
	text_sanitize(who != NULL ? who : "", who != NULL ? strlen(who) : 0,
	    l->who, sizeof l->who);
	m->lines_n++;
	/* Not new: the unread marker stays where it was. */
	m->lines_total++;
	m->marker_total++;
	m->dirty |= MODEL_D_ACTIVITY;
	return 0;
}

/*
 * A history line is shown at the time it was said: the newest line's
 * time, or (oldest) the oldest's.
 */
void
model_time_last(struct model *m, int oldest, uint64_t ms)
{
	if (m->lines_n == 0 || ms == 0)
		return;
	if (oldest)
		m->lines[(m->lines_head + m->lines_cap - m->lines_n) %
		    m->lines_cap].wall_ms = ms;
	else
		m->lines[(m->lines_head + m->lines_cap - 1) %
		    m->lines_cap].wall_ms = ms;
	m->dirty |= MODEL_D_ACTIVITY;
}

/* /clear: empty the stream (what is sent and received goes on). */
void
model_clear(struct model *m)
{
	size_t	 i;

	for (i = 0; i < m->lines_cap; i++) {
		free(m->lines[i].text);
		m->lines[i].text = NULL;
	}
	m->lines_head = 0;
	m->lines_n = 0;
	m->scroll = 0;
	m->marker = 0;
	m->marker_total = m->lines_total;
	m->dirty |= MODEL_D_ACTIVITY;
}

/* A short one-line preview of an activity for the reports pane. */
void
model_preview(const char *text, size_t len, char *out, size_t outsz)
{
	size_t	 n;

	n = text_sanitize(text, len, out, outsz);
	(void)n;
}

/* Record an activity we sent; tracked says a report will follow. */
void
model_report_add(struct model *m, long long seq, int tracked,
    const char *preview, size_t len)
{
	struct model_report	*r;

	r = &m->reports[m->reports_head];
	memset(r, 0, sizeof *r);
	r->num = ++m->reports_sent;
	r->seq = seq;
	r->gen = m->gen;
	r->state = tracked ? REPORT_PENDING : REPORT_UNTRACKED;
	r->sent_ms = now_ms();
	model_preview(preview, len, r->preview, sizeof r->preview);
	m->reports_head = (m->reports_head + 1) % MODEL_REPORTS_MAX;
	if (m->reports_n < MODEL_REPORTS_MAX)
		m->reports_n++;
	m->dirty |= MODEL_D_REPORTS;
}

/* The i-th report counting back from the newest, or NULL. */
const struct model_report *
model_report_at(const struct model *m, size_t i)
{
	size_t	 idx;

	if (i >= m->reports_n)
		return NULL;
	idx = (m->reports_head + MODEL_REPORTS_MAX - 1 - i) %
	    MODEL_REPORTS_MAX;
	return &m->reports[idx];
}

/*
 * Match a sending report to the activity it is about: the newest one with
 * that activity_seq sent in the current session (numbers start again in
 * a new session).  A later report for the same activity replaces the
 * counts.  Returns -1 if nothing we sent matches.
 */
int
model_report_update(struct model *m, long long seq, long long succ,
    long long count, int partial)
{
	struct model_report	*r;
	size_t			 i, idx;

	for (i = 0; i < m->reports_n; i++) {
		idx = (m->reports_head + MODEL_REPORTS_MAX - 1 - i) %
		    MODEL_REPORTS_MAX;
		r = &m->reports[idx];
		if (r->gen != m->gen || r->seq != seq ||
		    r->state == REPORT_UNTRACKED)
			continue;
		r->delivered = succ;
		r->target = count;
		r->report_ms = now_ms();
		if (partial)
			r->state = REPORT_PARTIAL;
		else if (succ < count)
			r->state = REPORT_SHORT;
		else
			r->state = REPORT_DONE;
		m->dirty |= MODEL_D_REPORTS;
		return 0;
	}
	return -1;
}

/* The link went: reports still pending will not come from that server. */
void
model_reports_lost(struct model *m)
{
	size_t	 i;

	for (i = 0; i < m->reports_n; i++) {
		if (m->reports[i].state == REPORT_PENDING) {
			m->reports[i].state = REPORT_LOST;
			m->dirty |= MODEL_D_REPORTS;
		}
	}
}

/* An activity sent again after a resume waits for its report again. */
void
model_report_resent(struct model *m, long long seq)
{
	struct model_report	*r;
	size_t			 i;

	for (i = 0; i < m->reports_n; i++) {
		r = &m->reports[i];
		if (r->gen == m->gen && r->seq == seq &&
		    r->state == REPORT_LOST) {
			r->state = REPORT_PENDING;
			m->dirty |= MODEL_D_REPORTS;
		}
	}
}

/* How many sent activities still wait for their report. */
size_t
model_reports_pending(const struct model *m)
{
	size_t	 i, n = 0;

	for (i = 0; i < m->reports_n; i++)
		if (m->reports[i].state == REPORT_PENDING)
			n++;
	return n;
}

/* A new session numbers its activities from 1 again. */
void
model_new_session(struct model *m)
{
	m->gen++;
}

/* Change the link state shown in the status and failover panes. */
void
model_set_state(struct model *m, enum link_state st)
{
	if (m->state == st)
		return;
	m->state = st;
	m->dirty |= MODEL_D_STATUS | MODEL_D_FAILOVER;
}

/* The state in words. */
const char *
model_state_name(enum link_state st)
{
	switch (st) {
	case LINK_IDLE:
		return "not connected";
	case LINK_RESOLVING:
		return "resolving";
	case LINK_CONNECTING:
		return "connecting";
	case LINK_REGISTERING:
		return "registering";
	case LINK_LOGGING_IN:
		return "logging in";
	case LINK_ONLINE:
		return "online";
	case LINK_WAITING:
		return "reconnecting";
	case LINK_FAILED:
		return "login failed";
	case LINK_LOGGED_OUT:
		return "logged out";
	}
	return "?";
}

/* A report's state in words. */
const char *
model_report_name(enum report_state st)
{
	switch (st) {
	case REPORT_UNTRACKED:
		return "sent";
	case REPORT_PENDING:
		return "pending";
	case REPORT_DONE:
		return "done";
	case REPORT_SHORT:
		return "short";
	case REPORT_PARTIAL:
		return "partial";
	case REPORT_LOST:
		return "lost?";
	}
	return "?";
}
