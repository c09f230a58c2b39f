/*
 * Batch mode.  Lines are taken from stdin only while logged in and the
 * server keeps up, so nothing typed into a pipe is sent into a dead link
 * and the output queue stays bounded; the rest waits in a capped buffer
 * (and in the pipe) until failover brings the link back.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "batch.h"
#include "clock.h"
#include "log.h"
#include "model.h"
#include "tui.h"
#include "xmalloc.h"

static void	batch_read_cb(evutil_socket_t, short, void *);
static void	batch_pump(struct batch *);

/* Print a message from the server, exactly as it came, one per line. */
void
batch_line(struct conn *c, const char *line, size_t len, void *arg)
{
	(void)c;
	(void)arg;
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
	if (ferror(stdout)) {
		/* Nobody reads our output any more: no point going on. */
		exit(1);
	}
}

/* Read what stdin has; returns 0 at end of input. */
static int
batch_read(struct batch *b)
{
	int	 n;

	n = evbuffer_read(b->in, STDIN_FILENO, 65536);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		if (n < 0)
			log_warn("stdin");
		b->eof = 1;
		if (b->ev != NULL)
			event_del(b->ev);
		return 0;
	}
	return 1;
}

/* Watch stdin only while lines can be sent and the buffer has room. */
static void
batch_watch(struct batch *b)
{
	int	 want;

	if (!b->pollable || b->ev == NULL)
		return;
	want = !b->eof && !b->finishing && conn_online(b->t->conn) &&
	    evbuffer_get_length(b->in) < BATCH_READ_MAX;
	if (want && !event_pending(b->ev, EV_READ, NULL))
		event_add(b->ev, NULL);
	else if (!want && event_pending(b->ev, EV_READ, NULL))
		event_del(b->ev);
}

/* No more lines: wait for reports, bounded, then log out. */
void
batch_finish(struct tui *t)
{
	struct batch	*b = t->batch;

	if (b == NULL || b->finishing)
		return;
	b->finishing = 1;
	b->finish_by = now_ms() + t->opt.wait_ms;
	batch_watch(b);
	batch_tick(t);
}

/* Send complete lines while the link and the server keep up. */
static void
batch_pump(struct batch *b)
{
	struct tui		*t = b->t;
	struct frame		 f;
	struct evbuffer_ptr	 p;
	enum frame_status	 st;

	while (!b->finishing && !b->done && conn_online(t->conn) &&
	    conn_outq(t->conn) < BATCH_OUTQ_MAX) {
		if (b->skipping) {
			p = evbuffer_search(b->in, "\n", 1, NULL);
			if (p.pos < 0) {
				evbuffer_drain(b->in,
				    evbuffer_get_length(b->in));
				frame_init(&b->fr, t->opt.max_message);
				if (b->eof)
					b->skipping = 0;
				else if (b->pollable)
					break;
				else
					batch_read(b);
				continue;
			}
			evbuffer_drain(b->in, (size_t)p.pos + 1);
			frame_init(&b->fr, t->opt.max_message);
			b->skipping = 0;
		}
		st = frame_next(&b->fr, b->in, &f);
		if (st == FRAME_LINE || st == FRAME_BAD_NUL) {
			if (st == FRAME_BAD_NUL)
				model_error(&t->model, "not sent: a line holds "
				    "a NUL byte");
			else {
				tui_submit(t, f.line, f.len);
				b->sent++;
			}
			frame_done(&b->fr, b->in, &f);
			continue;
		}
		if (st == FRAME_TOO_LONG) {
			model_error(&t->model, "not sent: a line is longer "
			    "than %zu bytes (--max-message)",
			    t->opt.max_message);
			b->skipping = 1;
			continue;
		}
		/* FRAME_NEED_MORE */
		if (b->eof) {
			if (evbuffer_get_length(b->in) > 0) {
				/* The last line had no newline. */
				evbuffer_add(b->in, "\n", 1);
				continue;
			}
			/* --follow: the input is done, the watching is not. */
			if (!t->opt.follow)
				batch_finish(t);
			break;
		}
		if (b->pollable)
			break;
		batch_read(b);		/* a regular file never blocks */
	}
	batch_watch(b);
}

/* stdin is readable: take what it has and send the complete lines. */
static void
batch_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct batch	*b = arg;

	(void)fd;
	(void)what;
	batch_read(b);
	batch_pump(b);
}

/* What the link did, as batch mode cares. */
void
batch_event(struct tui *t, enum conn_event ev)
{
	struct batch	*b = t->batch;

	switch (ev) {
	case CONN_EV_FAILED:
		b->done = 1;
		t->exit_code = 1;
		event_base_loopbreak(t->base);
		return;
	case CONN_EV_CLOSED:
		if (!b->finishing) {
			/* /logout in the input: nothing more to do. */
			b->finishing = 1;
		}
		break;
	case CONN_EV_REPORT:
		if (b->finishing)
			batch_tick(t);
		break;
	case CONN_EV_ONLINE:
		b->offline_since = 0;
		break;
	default:
		break;
	}
	batch_pump(b);
}

/*
 * Twice a second: give up after being offline too long, and end once
 * finishing and every report is in (or the wait is over).
 */
void
batch_tick(struct tui *t)
{
	struct batch	*b = t->batch;
	uint64_t	 now = now_ms();
	size_t		 pending;

	if (b == NULL || b->done)
		return;
	if (!conn_online(t->conn) && conn_state(t->conn) != LINK_LOGGED_OUT) {
		if (b->offline_since == 0)
			b->offline_since = now;
		else if (t->opt.give_up_ms > 0 &&
		    now - b->offline_since >= t->opt.give_up_ms) {
			model_error(&t->model, "giving up: no server for %u s",
			    t->opt.give_up_ms / 1000);
			b->done = 1;
			tui_stop(t, 1);
			return;
		}
	}
	if (!b->finishing)
		return;
	pending = model_reports_pending(&t->model);
	if (pending > 0 && now < b->finish_by && conn_online(t->conn))
		return;
	if (pending > 0)
		model_error(&t->model, "%zu report(s) still pending after "
		    "%u ms", pending, t->opt.wait_ms);
	b->done = 1;
	tui_stop(t, t->exit_code);
}

/* Run batch mode until the input is done; returns the exit status. */
int
batch_run(struct tui *t)
{
	struct batch	*b;
	struct stat	 st;

	b = xcalloc(1, sizeof *b);
	t->batch = b;
	b->t = t;
	if ((b->in = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	frame_init(&b->fr, t->opt.max_message);
	setvbuf(stdout, NULL, _IOLBF, 0);
	t->model.echo = t->errfp;
	t->conn->line_cb = batch_line;

	b->pollable = fstat(STDIN_FILENO, &st) != 0 || !S_ISREG(st.st_mode);
	if (b->pollable) {
		fcntl(STDIN_FILENO, F_SETFL,
		    fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
		b->ev = event_new(t->base, STDIN_FILENO, EV_READ | EV_PERSIST,
		    batch_read_cb, b);
		if (b->ev == NULL || event_add(b->ev, NULL) != 0) {
			/* Not pollable after all (e.g. /dev/null). */
			if (b->ev != NULL)
				event_free(b->ev);
			b->ev = NULL;
			b->pollable = 0;
		} else
			event_del(b->ev);
	}

	t->conn->batch = 1;
	conn_set_user(t->conn, t->opt.user, t->opt.secret, 0);
	conn_open(t->conn, t->opt.host, t->opt.port);
	event_base_dispatch(t->base);

	if (b->ev != NULL)
		event_free(b->ev);
	evbuffer_free(b->in);
	free(b);
	t->batch = NULL;
	return t->exit_code;
}
