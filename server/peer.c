/*
 * Connection lifecycle: a peer wraps one bufferevent.  Lines are framed
 * with a cap and handed to dispatch; a peer condemned by peer_close()
 * reads nothing more, flushes what it was told, and is freed later from
 * the event loop, never inside its own callback.
 *
 * What a close means to the rest of the server (the tree hears of a lost
 * child, locks and reports stop waiting, the uplink fails over) also
 * runs from the loop, right after the callback that closed the peer.
 * A send fails and closes its peer in the middle of a fan-out; running
 * those consequences there would build new messages while the fan-out
 * still holds the scratch buffer (server_out_take() refuses that), and
 * change the lists it walks.
 */
#include <sys/uio.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "lock.h"
#include "log.h"
#include "msgbuild.h"
#include "server.h"
#include "uplink.h"
#include "xmalloc.h"

#define PEER_LINGER_MS	1000	/* how long a closing peer may flush */
#define PEER_WRITE_EARLY (32 * 1024)	/* write at once past this backlog */
#define PEER_EV_READ	4096		/* libevent 2.1 reads this per event */
#define PEER_READ_CHUNK	(64 * 1024)	/* one readv(2) of ours */
#define PEER_READ_MAX	(256 * 1024)	/* one read callback takes in */

static void	peer_read_cb(struct bufferevent *, void *);
static void	peer_write_cb(struct bufferevent *, void *);
static void	peer_event_cb(struct bufferevent *, short, void *);
static void	peer_free_cb(evutil_socket_t, short, void *);

/*
 * Wrap an accepted or connected bufferevent.  The bufferevent, not a
 * socket, is the seam: tests hand in one end of a bufferevent_pair.
 */
struct peer *
peer_new(struct server *srv, struct bufferevent *bev, const char *addr,
    int outgoing)
{
	struct peer	*p;

	p = xcalloc(1, sizeof *p);
	p->srv = srv;
	p->bev = bev;
	p->role = PEER_NEW;
	p->outgoing = outgoing;
	p->serial = ++srv->next_serial;
	p->created_ms = p->last_rx_ms = now_ms();
	snprintf(p->addr, sizeof p->addr, "%s", addr);
	frame_init(&p->fr, srv->cfg.max_msg);
	if ((p->free_ev = evtimer_new(srv->base, peer_free_cb, p)) == NULL)
		fatalx("evtimer_new");
	/* Fails harmlessly on a base without priorities (unit tests). */
	(void)event_priority_set(p->free_ev, 0);
	TAILQ_INSERT_TAIL(&srv->peers, p, entry);
	srv->npeers++;
	if (!outgoing) {
		p->counted = 1;
		srv->nconns++;
	}
	/*
	 * Writing is ours: peer_flush_cb writes what a turn of the loop
	 * queued; only output the kernel would not take waits for EV_WRITE.
	 */
	bufferevent_setcb(bev, peer_read_cb, peer_write_cb, peer_event_cb, p);
	bufferevent_enable(bev, EV_READ);
	if (!outgoing)
		bufferevent_disable(bev, EV_WRITE);	/* on by default */
	log_debug("%s: new connection", peer_name(p));
	return p;
}

static void
peer_undirty(struct peer *p)
{
	if (p->dirty) {
		TAILQ_REMOVE(&p->srv->dirty, p, dirty_entry);
		p->dirty = 0;
	}
}

/*
 * Where peer_send queues a peer's output.  Libevent's OpenSSL
 * bufferevent encrypts and writes at once whatever is added to its
 * output while writing is on: one TLS record and one write(2) per line.
 * So a TLS peer's lines wait in a stage of their own, and
 * peer_write_tls hands a whole turn's worth over in one piece.
 */
static struct evbuffer *
peer_queue(struct peer *p)
{
	if (!p->tls)
		return bufferevent_get_output(p->bev);
	if (p->tls_stage == NULL && (p->tls_stage = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	return p->tls_stage;
}

/* Bytes queued for a peer and not yet taken by the kernel. */
size_t
peer_queued(const struct peer *p)
{
	size_t	 n = evbuffer_get_length(bufferevent_get_output(p->bev));

	if (p->tls_stage != NULL)
		n += evbuffer_get_length(p->tls_stage);
	return n;
}

/*
 * TLS: the staged output, made one contiguous piece (one SSL_write,
 * records of up to 16 KiB), goes to the bufferevent with writing on;
 * tls_peer_write_now encrypts and writes what the kernel takes now.
 * Writing goes off again once the output drains (peer_write_cb).
 */
static int
peer_write_tls(struct peer *p)
{
	struct evbuffer	*out = bufferevent_get_output(p->bev);
	int		 idle;

	if (p->tls_stage == NULL || evbuffer_get_length(p->tls_stage) == 0)
		return 0;
	if (evbuffer_pullup(p->tls_stage, -1) == NULL) {
		peer_close(p, "out of memory joining output");
		return -1;
	}
	idle = evbuffer_get_length(out) == 0;
	bufferevent_enable(p->bev, EV_WRITE);
	if (evbuffer_add_buffer(out, p->tls_stage) != 0) {
		peer_close(p, "out of memory queueing output");
		return -1;
	}
	if (idle)
		tls_peer_write_now(p);
	return p->closing ? -1 : 0;
}

/*
 * Hand a peer's queued output to the kernel now.  What it does not take
 * is left to libevent's EV_WRITE, which turns itself off again once the
 * buffer is empty.  -1 if the write failed and the peer was closed.
 */
static int
peer_write_now(struct peer *p)
{
	struct evbuffer	*out = bufferevent_get_output(p->bev);
	evutil_socket_t	 fd;
	int		 n;

	if (p->closing)
		return 0;
	if (p->tls)
		return peer_write_tls(p);
	if ((bufferevent_get_enabled(p->bev) & EV_WRITE) ||
	    evbuffer_get_length(out) == 0)
		return 0;
	if ((fd = bufferevent_getfd(p->bev)) == -1) {
		/* Not a socket (a test's bufferevent pair). */
		bufferevent_enable(p->bev, EV_WRITE);
		return 0;
	}
	/* A bufferevent keeps its output's start frozen: thaw it. */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, fd);
	evbuffer_freeze(out, 1);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		peer_close(p, "write: %s", strerror(errno));
		return -1;
	}
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(p->bev, EV_WRITE);
	return 0;
}

/*
 * End of a loop turn's work: every peer's new output goes to the
 * kernel in one write each.  This runs at the lowest priority, after
 * all the reads a turn had ready, so a write carries all they queued.
 */
void
peer_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server	*srv = arg;
	struct peer	*p;

	(void)fd;
	(void)events;
	srv->reads_unflushed = 0;
	while ((p = TAILQ_FIRST(&srv->dirty)) != NULL) {
		peer_undirty(p);
		peer_write_now(p);
	}
}

static void
peer_unlist(struct peer *p)
{
	if (!p->listed)
		return;
	if (p->role == PEER_CLIENT)
		TAILQ_REMOVE(&p->srv->clients, p, role_entry);
	else
		TAILQ_REMOVE(&p->srv->links, p, role_entry);
	/*
	 * A walk that sends may drop the peer it is on; one that then
	 * followed this peer's stale links could skip or revisit peers.
	 * Cleared, such a walk stops at once, which the tests notice.
	 */
	p->role_entry.tqe_next = NULL;
	p->role_entry.tqe_prev = NULL;
	p->listed = 0;
}

/* Take p out of the client connection counts (--max-connections). */
void
peer_uncount(struct peer *p)
{
	if (p->reserve) {
		p->reserve = 0;
		p->srv->nreserve--;
	}
	if (p->counted) {
		p->counted = 0;
		p->srv->nconns--;
	}
}

/*
 * Change what a connection is.  Logged-in clients and server links are
 * also kept on lists of their own, so a fan-out walks only its targets.
 */
void
peer_set_role(struct peer *p, enum peer_role role)
{
	peer_unlist(p);
	/* A server link has its own budget (--max-servers). */
	if (role == PEER_SERVER)
		peer_uncount(p);
	p->role = role;
	if (role == PEER_SERVER || role == PEER_UPLINK_AUTH)
		p->fr.max = p->srv->cfg.max_msg + SERVER_LINK_SLACK;
	if (role == PEER_CLIENT) {
		TAILQ_INSERT_TAIL(&p->srv->clients, p, role_entry);
		p->listed = 1;
	} else if (role == PEER_SERVER) {
		TAILQ_INSERT_TAIL(&p->srv->links, p, role_entry);
		p->listed = 1;
	}
}

/* A short name for logs: role, serial, address, and user or server id. */
const char *
peer_name(const struct peer *p)
{
	static char	 buf[SERVER_NAME_MAX + 96];
	char		 esc[LOG_ESCAPE_MAX * 4 + 8];

	switch (p->role) {
	case PEER_CLIENT:
		snprintf(buf, sizeof buf, "client#%llu %s (%s)",
		    (unsigned long long)p->serial, p->addr,
		    log_escape(p->username, strlen(p->username), esc,
		    sizeof esc));
		break;
	case PEER_SERVER:
	case PEER_UPLINK_AUTH:
		snprintf(buf, sizeof buf, "%s#%llu %s (%s%s%s)",
		    p->outgoing ? "parent" : "child",
		    (unsigned long long)p->serial, log_safe(p->addr),
		    p->remote_id != NULL ? log_safe(p->remote_id) : "?",
		    p->tls_subject != NULL ? ", certificate " : "",
		    p->tls_subject != NULL ? log_safe(p->tls_subject) : "");
		break;
	default:
		snprintf(buf, sizeof buf, "conn#%llu %s",
		    (unsigned long long)p->serial, p->addr);
		break;
	}
	return buf;
}

/* Release a peer at once; only from the loop or at shutdown. */
void
peer_free(struct peer *p)
{
	struct server	*srv = p->srv;

	peer_unlist(p);
	peer_undirty(p);
	peer_uncount(p);
	tree_stream_free(p);
	TAILQ_REMOVE(&srv->peers, p, entry);
	srv->npeers--;
	bufferevent_free(p->bev);
	event_free(p->free_ev);
	free(p->username);
	free(p->secret);
	free(p->remote_id);
	handshake_free(p);
	hashpool_peer_gone(p);
	free(p->remote_host);
	free(p->tls_subject);
	if (p->tls_stage != NULL)
		evbuffer_free(p->tls_stage);
	free(p->session);
	free(p->marks);
	free(p);
}

/*
 * The rest of the server learns a peer is gone.  The peer is off the
 * role lists already, and sends to it fail, so nothing new reaches it.
 */
static void
peer_closed(struct peer *p)
{
	struct server	*srv = p->srv;

	p->close_done = 1;
	/* A child's link; our parent's is uplink.c's to report. */
	if (p->role == PEER_SERVER && !p->outgoing && !srv->stopping)
		tree_link_lost(srv, p);
	lock_peer_closed(srv, p);
	report_peer_closed(srv, p);
	uplink_peer_closed(srv, p);
}

/* First the consequences of the close, then the free once flushed. */
static void
peer_free_cb(evutil_socket_t fd, short events, void *arg)
{
	struct peer	*p = arg;
	struct timeval	 tv;

	(void)fd;
	(void)events;
	if (!p->close_done) {
		peer_closed(p);
		if (evbuffer_get_length(bufferevent_get_output(p->bev)) == 0) {
			peer_free(p);
			return;
		}
	} else {
		peer_free(p);
		return;
	}
	/* Flushing what it was told: free it when done, or after a while. */
	bufferevent_setcb(p->bev, NULL, peer_write_cb, peer_event_cb, p);
	bufferevent_enable(p->bev, EV_WRITE);
	tv.tv_sec = PEER_LINGER_MS / 1000;
	tv.tv_usec = (PEER_LINGER_MS % 1000) * 1000;
	evtimer_add(p->free_ev, &tv);
}

/*
 * Condemn a peer: log why once, take it off the role lists and stop
 * reading.  The tables that point at it hear of it from the loop
 * (peer_closed), and it is freed once its output has flushed (or after
 * a short linger if the other side does not read).
 */
void
peer_close(struct peer *p, const char *fmt, ...)
{
	struct server	*srv = p->srv;
	char		 reason[512];
	va_list		 ap;
	enum peer_role	 role = p->role;

	if (p->closing)
		return;
	p->closing = 1;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (role == PEER_SERVER || role == PEER_UPLINK_AUTH)
		log_info("%s: closed: %s", peer_name(p), reason);
	else
		log_debug("%s: closed: %s", peer_name(p), reason);

	peer_unlist(p);
	if (role == PEER_CLIENT) {
		srv->nclients--;
		if (!p->anonymous)
			srv->who_gen++;
	}
	if (role == PEER_SERVER)
		srv->nservers--;
	bufferevent_disable(p->bev, EV_READ);
	peer_undirty(p);
	/* Its output still goes out; the rest happens from the loop. */
	if (p->tls_stage != NULL && evbuffer_get_length(p->tls_stage) > 0) {
		bufferevent_enable(p->bev, EV_WRITE);
		evbuffer_add_buffer(bufferevent_get_output(p->bev),
		    p->tls_stage);
	}
	if (evbuffer_get_length(bufferevent_get_output(p->bev)) > 0)
		bufferevent_enable(p->bev, EV_WRITE);
	event_active(p->free_ev, EV_TIMEOUT, 0);
}

/* Libevent drained what the kernel would not take at once. */
static void
peer_write_cb(struct bufferevent *bev, void *arg)
{
	struct peer	*p = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (p->closing) {
		evtimer_del(p->free_ev);
		event_active(p->free_ev, EV_TIMEOUT, 0);
	} else
		bufferevent_disable(bev, EV_WRITE);
}

/*
 * Is an activity of len bytes for server link p to be shed?  A link
 * whose unread output is over half its cap is slower than the stream:
 * it loses activities, counted and logged, rather than being dropped as
 * a slow consumer, which would make it re-join, be sent everything it
 * lacked, overflow again, and so on in a loop.  Everything else still
 * goes (up to the whole cap), so the link and the tree stay up.  A link
 * that has taken nothing while a cap's worth was shed for it does not
 * read at all: that one is dropped as a slow consumer.
 */
int
peer_shed(struct peer *p, size_t len)
{
	struct evbuffer	*out;
	size_t		 cap;
	uint64_t	 now, drained;

	if (p->closing || p->role != PEER_SERVER)
		return 0;
	out = bufferevent_get_output(p->bev);
	cap = p->srv->cfg.server_outbuf / 2;
	if (evbuffer_get_length(out) + len > cap && peer_write_now(p) != 0)
		return 1;
	if (evbuffer_get_length(out) + len <= cap)
		return 0;
	drained = p->tx_added - evbuffer_get_length(out);
	if (drained != p->shed_drained) {
		p->shed_drained = drained;
		p->shed_bytes = 0;
	} else if ((p->shed_bytes += len) > p->srv->cfg.server_outbuf) {
		log_warnx("%s: dropped: output buffer over %zu bytes, it does "
		    "not read (slow consumer)", peer_name(p),
		    p->srv->cfg.server_outbuf);
		p->srv->stats.slow_drops++;
		peer_close(p, "output buffer over %zu bytes: not reading "
		    "(slow consumer)", p->srv->cfg.server_outbuf);
		return 1;
	}
	p->shed++;
	p->srv->stats.shed++;
	now = now_ms();
	if (p->shed == 1 || now - p->shed_log_ms >= 1000) {
		log_warnx("%s: slow link: %llu activities shed so far (output "
		    "over %zu bytes)", peer_name(p),
		    (unsigned long long)p->shed, cap);
		p->shed_log_ms = now;
	}
	return 1;
}

/*
 * Queue bytes for a peer.  A peer whose unread output passes its cap is
 * a slow consumer: it is dropped rather than buffered without bound.
 */
int
peer_send(struct peer *p, const void *data, size_t len)
{
	struct evbuffer	*out;
	size_t		 cap;

	if (p->closing)
		return -1;
	out = peer_queue(p);
	cap = p->role == PEER_SERVER || p->role == PEER_UPLINK_AUTH ?
	    p->srv->cfg.server_outbuf : p->srv->cfg.client_outbuf;
	/* Over the cap with a write pending: see if the kernel takes it. */
	if (peer_queued(p) + len > cap && peer_write_now(p) != 0)
		return -1;
	if (peer_queued(p) + len > cap) {
		log_warnx("%s: dropped: output buffer over %zu bytes, it does "
		    "not read (slow consumer)", peer_name(p), cap);
		p->srv->stats.slow_drops++;
		peer_close(p, "output buffer over %zu bytes: not reading "
		    "(slow consumer)", cap);
		return -1;
	}
	if (evbuffer_add(out, data, len) != 0) {
		peer_close(p, "out of memory queueing output");
		return -1;
	}
	p->srv->stats.bytes_out += len;
	p->last_tx_ms = p->srv->now_ms;
	p->tx_added += len;
	/* A big backlog goes out now rather than at the turn's end. */
	if (evbuffer_get_length(out) >= PEER_WRITE_EARLY)
		return peer_write_now(p) == 0 || !p->closing ? 0 : -1;
	if (!p->dirty) {
		p->dirty = 1;
		TAILQ_INSERT_TAIL(&p->srv->dirty, p, dirty_entry);
		if (TAILQ_FIRST(&p->srv->dirty) == p)
			event_active(p->srv->flush_ev, EV_TIMEOUT, 0);
	}
	return 0;
}

int
peer_send_jbuf(struct peer *p, struct jbuf *b)
{
	return peer_send(p, b->p, b->len);
}

/* Send a {command, info} message. */
void
peer_reply_info(struct peer *p, enum msg_cmd cmd, const char *info)
{
	struct jbuf	 b;

	jbuf_init(&b);
	msgb_info(&b, cmd, info);
	peer_send_jbuf(p, &b);
	jbuf_free(&b);
}

/* Send a {command, info} reply, then close: the protocol's error path. */
void
peer_reply_close(struct peer *p, enum msg_cmd cmd, const char *info)
{
	struct jbuf	*b;

	b = server_out_take(p->srv);
	msgb_info(b, cmd, info);
	peer_send_jbuf(p, b);
	server_out_put(p->srv);
	peer_close(p, "sent %s: %s", msg_cmd_name(cmd), info);
}

/*
 * Libevent 2.1 reads at most 4096 bytes per read event, so a link or a
 * publisher carrying activities of kilobytes took a loop turn, and a
 * flush to every client, per activity or less.  When libevent's read
 * came back full, the socket likely holds more: read it here, up to
 * PEER_READ_MAX, so one turn frames, fans out and writes a batch.  A
 * short read means the socket is drained and costs no extra call.  End
 * of file and errors are left for libevent's next read to report.
 */
static void
peer_read_more(struct peer *p, struct evbuffer *in, size_t got)
{
	struct evbuffer_iovec	 v[2];
	evutil_socket_t		 fd;
	size_t			 total = 0, left;
	ssize_t			 n;
	int			 i, nv;

	if (p->tls || got < PEER_EV_READ ||
	    (fd = bufferevent_getfd(p->bev)) == -1)
		return;
	/* A bufferevent keeps its input's end frozen: thaw it. */
	evbuffer_unfreeze(in, 0);
	while (total < PEER_READ_MAX) {
		nv = evbuffer_reserve_space(in, PEER_READ_CHUNK, v, 2);
		if (nv < 1)
			break;
		/* An evbuffer_iovec is laid out as a struct iovec. */
		n = readv(fd, (struct iovec *)v, nv);
		if (n <= 0)
			break;
		left = (size_t)n;
		for (i = 0; i < nv; i++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
		}
		if (evbuffer_commit_space(in, v, nv) != 0)
			break;
		total += (size_t)n;
		if ((size_t)n < PEER_READ_CHUNK)
			break;
	}
	evbuffer_freeze(in, 0);
}

static void
peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer		*p = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct frame		 f;
	enum frame_status	 st;
	char			 info[128];
	size_t			 before = evbuffer_get_length(in);

	p->last_rx_ms = p->srv->now_ms = now_ms();
	if (!p->closing && !p->waiting && before > p->in_left) {
		peer_read_more(p, in, before - p->in_left);
		before = evbuffer_get_length(in);
	}
	while (!p->closing && !p->waiting) {
		st = frame_next(&p->fr, in, &f);
		if (st == FRAME_NEED_MORE)
			break;
		if (st == FRAME_TOO_LONG) {
			snprintf(info, sizeof info,
			    "message longer than %zu bytes", p->fr.max);
			peer_reply_close(p, CMD_INVALID_MESSAGE, info);
			break;
		}
		if (st == FRAME_BAD_NUL) {
			peer_reply_close(p, CMD_INVALID_MESSAGE,
			    "message contains a NUL byte");
			break;
		}
		/*
		 * CMD_CLOSE: the handler condemned the peer.  CMD_OK with
		 * the peer closing: something it did dropped the peer (its
		 * own reply over the output cap).  Either way no later line
		 * of this buffer is read.
		 */
		if (dispatch_line(p, f.line, f.len) == CMD_CLOSE) {
			if (!p->closing)
				peer_close(p, "closed by its handler");
			break;
		}
		if (p->closing)
			break;
		frame_done(&p->fr, in, &f);
	}
	p->in_left = evbuffer_get_length(in);
	if (p->in_left < before)
		p->srv->stats.bytes_in += before - p->in_left;
	/*
	 * The flush waits for a turn with no reads left; under a load
	 * that never leaves one, it runs here after FLUSH_MAX_READS.
	 */
	if (!TAILQ_EMPTY(&p->srv->dirty) &&
	    ++p->srv->reads_unflushed >= FLUSH_MAX_READS)
		peer_flush_cb(-1, 0, p->srv);
}

/*
 * A slow hash for p is done (hashpool.c): finish the command that
 * waited for it, then read on where reading stopped.
 */
void
peer_resume(struct peer *p, hashjob_cb cb, const char *line, size_t len,
    int ok, const char *hash)
{
	p->waiting = 0;
	if (p->closing)
		return;
	p->srv->now_ms = now_ms();
	cb(p, line, len, ok, hash);
	if (p->closing || p->waiting)
		return;
	bufferevent_enable(p->bev, EV_READ);
	peer_read_cb(p->bev, p);
}

static void
peer_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct peer	*p = arg;
	int		 err = EVUTIL_SOCKET_ERROR();
	const char	*tls_err;

	(void)bev;
	if (events & BEV_EVENT_CONNECTED) {
		tls_peer_connected(p);
		uplink_connected(p->srv, p);
		return;
	}
	if (p->closing) {
		/* The other side went away while we flushed: free now. */
		evtimer_del(p->free_ev);
		event_active(p->free_ev, EV_TIMEOUT, 0);
		return;
	}
	if (events & BEV_EVENT_EOF)
		peer_close(p, "connection closed by peer");
	else if ((events & BEV_EVENT_ERROR) &&
	    (tls_err = tls_peer_error(p)) != NULL) {
		/* A certificate refused, or the other side refused ours. */
		log_warnx("%s: TLS refused: %s", peer_name(p), tls_err);
		peer_close(p, "TLS: %s", tls_err);
	} else if (events & BEV_EVENT_ERROR)
		peer_close(p, "connection error: %s",
		    evutil_socket_error_to_string(err));
	else
		peer_close(p, "connection event %#x", events);
}
