/*
 * The history log.  Every activity this server delivers to its clients
 * is appended, as the server line it was delivered from (the activity
 * object, its "mid" with the origin server, the sender session, its
 * activity_seq, the origin's clock), behind this server's wall time:
 *
 *	<server time in ms> SP <server line> LF
 *
 * Records go to segment files DATA_DIR/history/<16 hex digits>.seg; the
 * newest is appended to, and a full one (by bytes or count, about a
 * thirtieth of the limits) is closed and the next begun.  Retention
 * drops whole segments, oldest first, once the log holds more than
 * --history-max activities or --history-bytes bytes, or its oldest
 * segment ends before --history-age: the limits hold to within one
 * segment.
 *
 * The hot path only copies a record into a buffer; one write(2) per
 * loop turn takes the turn's records (an event at the lowest priority,
 * as the output flush), and fdatasync(2) runs from the cron tick every
 * HISTORY_SYNC_MS.  So kill -9 loses nothing written, and a power
 * failure loses at most the last HISTORY_SYNC_MS (plus a cron tick) of
 * history.  At start every segment is read back and checked line by
 * line; a torn or corrupt tail is cut, as the user journal's is.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "delivery.h"
#include "history.h"
#include "json.h"
#include "log.h"
#include "msg.h"
#include "siphash.h"

#define HISTORY_DIR		"history"
#define HISTORY_SEG_PARTS	32	/* segments the limits span */
#define HISTORY_SEG_MIN		4096
#define HISTORY_SEG_MAX		(16 * 1024 * 1024)
#define HISTORY_SEGS_MAX	100000	/* files read at start */
#define HISTORY_RECENT_MS	60000	/* before the last record: see below */

/* Where one record is. */
struct hrec {
	uint64_t	 no;		/* numbered in order, from start */
	uint64_t	 t;		/* our wall clock when delivered */
	uint64_t	 key;		/* hash of its mid */
	uint64_t	 seg;		/* segment number */
	uint32_t	 off;
	uint32_t	 len;		/* the whole record, LF included */
};

struct hseg {
	uint64_t	 num;
	size_t		 bytes;
	size_t		 n;		/* records */
	uint64_t	 newest;	/* time of its last record */
};

struct history {
	struct event_base	*base;
	struct event		*flush_ev;
	int			 scheduled;
	char			*dir;		/* DATA_DIR/history */
	struct history_config	 cfg;
	size_t			 seg_bytes_max;
	size_t			 seg_n_max;

	struct hseg		*segs;		/* oldest first */
	size_t			 nsegs;
	size_t			 capsegs;
	int			 fd;		/* the newest segment */

	struct hrec		*recs;		/* oldest first, from head */
	size_t			 head;
	size_t			 nrecs;
	size_t			 caprecs;
	size_t			 bytes;		/* on disk, every segment */

	uint64_t		 next_no;
	struct jbuf		 pending;	/* this turn's records */
	size_t			 npending;	/* the last of recs */
	int			 unsynced;
	uint64_t		 synced_ms;
	int			 failing;	/* writes fail: logged once */

	/*
	 * A restarted server asks its first link for what it missed since
	 * its newest record; the replay may repeat what it already logged
	 * just before the crash.  The mids logged in the last
	 * HISTORY_RECENT_MS before the newest record at start are kept in
	 * this (open addressing) set, and are not logged again.
	 */
	uint64_t		*recent;
	size_t			 recent_cap;	/* a power of two, or 0 */
	uint64_t		 newest;	/* at start */
};

static const uint8_t history_key[16] = "activity-history";

static struct hrec *history_rec(struct history *, size_t);
static void	history_recent_build(struct history *);

/* The key a mid is found by. */
static uint64_t
history_key_of(const char *mid, size_t len)
{
	return siphash24(history_key, mid, len);
}

static void
history_seg_path(struct history *h, uint64_t num, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%016llx.seg", h->dir, (unsigned long long)num);
}

/* Room for one more index record. */
static struct hrec *
history_rec_new(struct history *h)
{
	if (h->head > 0 && h->head + h->nrecs == h->caprecs) {
		memmove(h->recs, h->recs + h->head, h->nrecs * sizeof *h->recs);
		h->head = 0;
	}
	if (h->head + h->nrecs == h->caprecs) {
		h->caprecs = h->caprecs ? h->caprecs * 2 : 1024;
		if ((h->recs = reallocarray(h->recs, h->caprecs,
		    sizeof *h->recs)) == NULL)
			fatal("reallocarray");
	}
	h->recs[h->head + h->nrecs].no = h->next_no++;
	return &h->recs[h->head + h->nrecs++];
}

static struct hseg *
history_seg_new(struct history *h, uint64_t num)
{
	struct hseg	*s;

	if (h->nsegs == h->capsegs) {
		h->capsegs = h->capsegs ? h->capsegs * 2 : 64;
		if ((h->segs = reallocarray(h->segs, h->capsegs,
		    sizeof *h->segs)) == NULL)
			fatal("reallocarray");
	}
	s = &h->segs[h->nsegs++];
	memset(s, 0, sizeof *s);
	s->num = num;
	return s;
}

/*
 * Check one record line (without its LF) and index it: a time, one
 * space, a JSON object with a string "mid".  -1 if it is not one.
 */
static int
history_index_line(struct history *h, struct hseg *s, const char *line,
    size_t len, size_t off)
{
	struct json_span	 obj, val;
	const char		*err, *sp, *p;
	char			 mid[512];
	size_t			 midlen = 0;
	uint64_t		 ts = 0;
	struct hrec		*r;

	if ((sp = memchr(line, ' ', len)) == NULL || sp == line ||
	    sp - line > 19)
		return -1;
	for (p = line; p < sp; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		ts = ts * 10 + (uint64_t)(*p - '0');
	}
	obj.p = sp + 1;
	obj.len = len - (size_t)(obj.p - line);
	if (json_validate(obj.p, obj.len, JSON_DEPTH_MAX, &err) != JSON_OBJECT)
		return -1;
	if (json_get(obj, msg_field_name(F_MID), JSON_STRING, &val,
	    NULL) != 0 ||
	    json_str_decode(json_str_inner(val), mid, sizeof mid,
	    &midlen) != 0)
		return -1;
	r = history_rec_new(h);
	r->t = ts;
	r->key = history_key_of(mid, midlen);
	r->seg = s->num;
	r->off = (uint32_t)off;
	r->len = (uint32_t)len + 1;
	s->n++;
	s->newest = ts;
	return 0;
}

/*
 * Read a segment back and index it; cut a torn or corrupt tail.  -1
 * if the file cannot be read at all.
 */
static int
history_load_seg(struct history *h, uint64_t num, char *err, size_t errlen)
{
	struct hseg	*s;
	struct stat	 st;
	char		 path[4200], *buf = NULL, *p, *nl, *end;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	history_seg_path(h, num, path, sizeof path);
	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (st.st_size > 0 && (buf = malloc((size_t)st.st_size)) == NULL)
		fatal("malloc");
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	s = history_seg_new(h, num);
	p = buf;
	end = buf + got;
	while (p < end && (size_t)(end - p) <= UINT32_MAX) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    history_index_line(h, s, p, (size_t)(nl - p),
		    (size_t)(p - buf)) != 0)
			break;
		p = nl + 1;
	}
	s->bytes = (size_t)(p - buf);
	if (s->bytes < (size_t)st.st_size) {
		log_warnx("history: %s: cut a torn or corrupt tail of %lld "
		    "bytes after %zu records", path,
		    (long long)st.st_size - (long long)s->bytes, s->n);
		if (ftruncate(fd, (off_t)s->bytes) == -1)
			log_warn("history: %s: ftruncate", path);
	}
	h->bytes += s->bytes;
	free(buf);
	close(fd);
	return 0;
}

static int
history_num_cmp(const void *x, const void *y)
{
	uint64_t	 a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* The segment numbers in the directory, sorted; -1 on error. */
static int
history_list(struct history *h, uint64_t **nums, size_t *n, char *err,
    size_t errlen)
{
	DIR		*d;
	struct dirent	*e;
	size_t		 cap = 0, i;
	uint64_t	 v;
	const char	*c;

	*nums = NULL;
	*n = 0;
	if ((d = opendir(h->dir)) == NULL) {
		snprintf(err, errlen, "%s: %s", h->dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != 20 ||
		    strcmp(e->d_name + 16, ".seg") != 0)
			continue;
		v = 0;
		for (i = 0, c = e->d_name; i < 16; i++, c++) {
			if (*c >= '0' && *c <= '9')
				v = v * 16 + (uint64_t)(*c - '0');
			else if (*c >= 'a' && *c <= 'f')
				v = v * 16 + (uint64_t)(*c - 'a' + 10);
			else
				break;
		}
		if (i < 16 || *n == HISTORY_SEGS_MAX)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((*nums = reallocarray(*nums, cap,
			    sizeof **nums)) == NULL)
				fatal("reallocarray");
		}
		(*nums)[(*n)++] = v;
	}
	closedir(d);
	if (*n > 0)
		qsort(*nums, *n, sizeof **nums, history_num_cmp);
	return 0;
}

/* Make the directory's new or removed entries durable. */
static void
history_sync_dir(struct history *h)
{
	int	 fd;

	if ((fd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if (fsync(fd) == -1)
		log_warn("history: fsync %s", h->dir);
	close(fd);
}

/* Open the newest segment for appending, or begin segment num. */
static int
history_open_newest(struct history *h, uint64_t num, int create)
{
	char	 path[4200];
	int	 flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW;

	if (create) {
		flags |= O_CREAT | O_TRUNC;
		history_seg_new(h, num);
	}
	history_seg_path(h, num, path, sizeof path);
	if ((h->fd = open(path, flags, 0600)) == -1) {
		log_warn("history: %s", path);
		return -1;
	}
	if (create)
		history_sync_dir(h);
	return 0;
}

/* Delete the oldest segment, file and index. */
static void
history_drop_oldest(struct history *h)
{
	struct hseg	*s = &h->segs[0];
	char		 path[4200];

	history_seg_path(h, s->num, path, sizeof path);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("history: unlink %s", path);
	h->head += s->n;
	h->nrecs -= s->n;
	h->bytes -= s->bytes;
	if (h->nrecs == 0)
		h->head = 0;
	memmove(h->segs, h->segs + 1, (h->nsegs - 1) * sizeof *h->segs);
	h->nsegs--;
}

/* Drop whole segments, oldest first, while the log is over a limit. */
static void
history_retain(struct history *h, uint64_t wall)
{
	int	 dropped = 0;

	while (h->nsegs > 1 && (h->nrecs > h->cfg.max ||
	    h->bytes > h->cfg.bytes ||
	    h->segs[0].newest + h->cfg.age_ms < wall)) {
		history_drop_oldest(h);
		dropped++;
	}
	if (dropped > 0)
		history_sync_dir(h);
}

/* The flush event: this loop turn's records in one write. */
static void
history_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	history_flush(arg);
}

/*
 * Open (creating) DATA_DIR/history and read it back.  NULL with err
 * set when the directory cannot be used.
 */
struct history *
history_open(struct event_base *base, const char *datadir,
    const struct history_config *cfg, char *err, size_t errlen)
{
	struct history	*h;
	uint64_t	*nums = NULL;
	size_t		 n = 0, i;
	char		*dir;

	if (asprintf(&dir, "%s/%s", datadir, HISTORY_DIR) == -1)
		fatal("asprintf");
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	if ((h = calloc(1, sizeof *h)) == NULL)
		fatal("calloc");
	h->base = base;
	h->dir = dir;
	h->cfg = *cfg;
	h->fd = -1;
	jbuf_init(&h->pending);
	h->seg_bytes_max = cfg->bytes / HISTORY_SEG_PARTS;
	if (h->seg_bytes_max < HISTORY_SEG_MIN)
		h->seg_bytes_max = HISTORY_SEG_MIN;
	if (h->seg_bytes_max > HISTORY_SEG_MAX)
		h->seg_bytes_max = HISTORY_SEG_MAX;
	h->seg_n_max = cfg->max / HISTORY_SEG_PARTS;
	if (h->seg_n_max == 0)
		h->seg_n_max = 1;
	if (history_list(h, &nums, &n, err, errlen) != 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (history_load_seg(h, nums[i], err, errlen) != 0)
			goto fail;
	/* Append to the newest segment, its torn tail already cut. */
	if (history_open_newest(h, n > 0 ? nums[n - 1] : 1, n == 0) != 0) {
		snprintf(err, errlen, "%s: cannot create a segment", dir);
		goto fail;
	}
	free(nums);
	if ((h->flush_ev = event_new(base, -1, 0, history_flush_cb, h)) == NULL)
		fatal("event_new");
	/* The lowest priority: after every read of the turn. */
	(void)event_priority_set(h->flush_ev, 2);
	h->synced_ms = now_ms();
	history_recent_build(h);
	history_retain(h, wall_ms());
	log_info("history: %zu activities in %zu segments (%zu bytes) in %s",
	    h->nrecs, h->nsegs, h->bytes, dir);
	return h;
fail:
	free(nums);
	history_close(h);
	return NULL;
}

/* Is key in the set of mids logged just before the start? */
static int
history_recent_has(struct history *h, uint64_t key)
{
	size_t	 i;

	if (h->recent_cap == 0)
		return 0;
	key |= 1;
	for (i = key & (h->recent_cap - 1); h->recent[i] != 0;
	    i = (i + 1) & (h->recent_cap - 1))
		if (h->recent[i] == key)
			return 1;
	return 0;
}

/* Remember the mids logged within HISTORY_RECENT_MS of the newest. */
static void
history_recent_build(struct history *h)
{
	size_t		 i, n = 0, j;
	uint64_t	 key;

	if (h->nrecs == 0)
		return;
	h->newest = history_rec(h, h->nrecs - 1)->t;
	for (i = h->nrecs; i > 0 && history_rec(h, i - 1)->t +
	    HISTORY_RECENT_MS >= h->newest; i--)
		n++;
	for (h->recent_cap = 16; h->recent_cap < 2 * n; h->recent_cap *= 2)
		;
	if ((h->recent = calloc(h->recent_cap, sizeof *h->recent)) == NULL)
		fatal("calloc");
	for (i = h->nrecs - n; i < h->nrecs; i++) {
		key = history_rec(h, i)->key | 1;
		for (j = key & (h->recent_cap - 1); h->recent[j] != 0 &&
		    h->recent[j] != key; j = (j + 1) & (h->recent_cap - 1))
			;
		h->recent[j] = key;
	}
}

/*
 * The time of the newest record when the server started (0: none):
 * what it may lack begins there.
 */
uint64_t
history_newest(const struct history *h)
{
	return h != NULL ? h->newest : 0;
}

/* Write what is pending, sync it, and free everything. */
void
history_close(struct history *h)
{
	if (h == NULL)
		return;
	if (h->flush_ev != NULL) {
		history_flush(h);
		event_free(h->flush_ev);
	}
	if (h->fd != -1) {
		if (h->unsynced && fdatasync(h->fd) == -1)
			log_warn("history: fdatasync");
		close(h->fd);
	}
	jbuf_free(&h->pending);
	free(h->recent);
	free(h->recs);
	free(h->segs);
	free(h->dir);
	free(h);
}

/*
 * Queue one delivered activity, stamped with our wall clock; it is
 * written at the end of the loop turn.
 */
void
history_append(struct history *h, const struct act *a, uint64_t wall)
{
	struct hseg	*s;
	struct hrec	*r;
	size_t		 start;

	if (h == NULL || h->fd == -1 || a->mid == NULL || a->len == 0 ||
	    a->len > UINT32_MAX / 2)
		return;
	if (h->recent_cap != 0 && history_recent_has(h,
	    history_key_of(a->mid, strlen(a->mid))))
		return;
	s = &h->segs[h->nsegs - 1];
	start = h->pending.len;
	jbuf_int(&h->pending, (long long)wall);
	jbuf_addc(&h->pending, ' ');
	jbuf_add(&h->pending, a->line, a->len);
	if (a->line[a->len - 1] != '\n')
		jbuf_addc(&h->pending, '\n');
	r = history_rec_new(h);
	r->t = wall;
	r->key = history_key_of(a->mid, strlen(a->mid));
	r->seg = s->num;
	r->off = (uint32_t)(s->bytes + start);
	r->len = (uint32_t)(h->pending.len - start);
	h->npending++;
	if (!h->scheduled) {
		h->scheduled = 1;
		event_active(h->flush_ev, EV_TIMEOUT, 0);
	}
}

/* Begin the next segment once the newest is full. */
static void
history_rotate(struct history *h)
{
	struct hseg	*s = &h->segs[h->nsegs - 1];

	if (h->fd == -1 || (s->bytes < h->seg_bytes_max &&
	    s->n < h->seg_n_max))
		return;
	if (fdatasync(h->fd) == -1)
		log_warn("history: fdatasync");
	close(h->fd);
	h->fd = -1;
	h->unsynced = 0;
	if (history_open_newest(h, s->num + 1, 1) != 0) {
		/* Keep appending where we were rather than lose records. */
		h->nsegs--;
		history_open_newest(h, h->segs[h->nsegs - 1].num, 0);
	}
}

/*
 * Write the pending records in one go.  A write that fails part-way is
 * cut back, and its records forgotten, so a segment never ends in a
 * fragment.
 */
void
history_flush(struct history *h)
{
	struct hseg	*s;
	size_t		 done = 0;
	ssize_t		 n;

	if (h == NULL)
		return;
	h->scheduled = 0;
	if (h->pending.len == 0)
		return;
	s = &h->segs[h->nsegs - 1];
	while (h->fd != -1 && done < h->pending.len) {
		n = write(h->fd, h->pending.p + done, h->pending.len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done < h->pending.len) {
		if (!h->failing)
			log_warn("history: write to segment %016llx failed; "
			    "activities are delivered but not kept until "
			    "it works again", (unsigned long long)s->num);
		h->failing = 1;
		if (h->fd != -1 && done > 0 &&
		    ftruncate(h->fd, (off_t)s->bytes) == -1)
			log_warn("history: ftruncate");
		h->nrecs -= h->npending;
		h->next_no -= h->npending;
	} else {
		if (h->failing)
			log_info("history: writing again");
		h->failing = 0;
		s->bytes += done;
		s->n += h->npending;
		s->newest = h->recs[h->head + h->nrecs - 1].t;
		h->bytes += done;
		h->unsynced = 1;
	}
	h->npending = 0;
	jbuf_reset(&h->pending);
	history_rotate(h);
	history_retain(h, wall_ms());
}

/*
 * The cron tick: what was written reaches the disk every
 * HISTORY_SYNC_MS, and old segments age out.
 */
void
history_cron(struct history *h, uint64_t now, uint64_t wall)
{
	if (h == NULL)
		return;
	if (h->unsynced && now - h->synced_ms >= HISTORY_SYNC_MS) {
		if (fdatasync(h->fd) == -1)
			log_warn("history: fdatasync");
		h->unsynced = 0;
		h->synced_ms = now;
	}
	history_retain(h, wall);
}

/*
 * Where the history stands now: a client that logs in is sent live
 * whatever is logged from here on, and pages end here for it.
 */
uint64_t
history_mark(const struct history *h)
{
	return h != NULL ? h->next_no : 0;
}

static struct hrec *
history_rec(struct history *h, size_t i)
{
	return &h->recs[h->head + i];
}

/* The index of the first record numbered no or later. */
static size_t
history_find_no(struct history *h, uint64_t no)
{
	size_t	 lo = 0, hi = h->nrecs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (history_rec(h, mid)->no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The index of the record of activity mid below end; -1 if none. */
static long long
history_find_mid(struct history *h, const char *mid, size_t end)
{
	uint64_t	 key = history_key_of(mid, strlen(mid));
	size_t		 i;

	for (i = end; i > 0; i--)
		if (history_rec(h, i - 1)->key == key)
			return (long long)i - 1;
	return -1;
}

/* Read record r and hand its time and server line to cb. */
static int
history_emit(struct history *h, struct hrec *r, int *fd, uint64_t *fdseg,
    char **buf, size_t *cap, history_page_cb cb, void *arg)
{
	char		 path[4200], *sp;
	ssize_t		 n;

	if (*fd == -1 || *fdseg != r->seg) {
		if (*fd != -1)
			close(*fd);
		history_seg_path(h, r->seg, path, sizeof path);
		if ((*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) ==
		    -1) {
			log_warn("history: %s", path);
			return -1;
		}
		*fdseg = r->seg;
	}
	if (*cap < r->len) {
		*cap = r->len;
		if ((*buf = realloc(*buf, *cap)) == NULL)
			fatal("realloc");
	}
	n = pread(*fd, *buf, r->len, (off_t)r->off);
	if (n != (ssize_t)r->len || (*buf)[r->len - 1] != '\n' ||
	    (sp = memchr(*buf, ' ', r->len)) == NULL) {
		log_warnx("history: segment %016llx: record at %u unreadable",
		    (unsigned long long)r->seg, r->off);
		return 0;
	}
	sp++;
	return cb(arg, r->t, sp, (size_t)(*buf + r->len - 1 - sp));
}

/*
 * One page of history for a client: q->limit activities at most, and
 * no more bytes than q->budget (but at least one), all logged before
 * q->mark, oldest first.  *more says whether there are more beyond the
 * page in the direction asked.  Returns the number sent, or -1 when the
 * activity q->mid is not in the history.
 */
int
history_page(struct history *h, const struct history_query *q,
    history_page_cb cb, void *arg, int *more)
{
	size_t		 hi, start, end, used = 0, cap = 0, i;
	long long	 at;
	char		*buf = NULL;
	uint64_t	 fdseg = 0;
	int		 fd = -1, n = 0;

	*more = 0;
	if (h == NULL)
		return q->mid != NULL ? -1 : 0;
	history_flush(h);
	hi = history_find_no(h, q->mark);
	start = end = hi;
	if (q->dir != HISTORY_LATEST && q->mid != NULL) {
		if ((at = history_find_mid(h, q->mid, hi)) == -1)
			return -1;
		start = end = (size_t)at + (q->dir == HISTORY_AFTER);
	} else if (q->dir == HISTORY_BEFORE) {
		while (end > 0 && history_rec(h, end - 1)->t >= q->time)
			end--;
		start = end;
	} else if (q->dir == HISTORY_AFTER) {
		for (start = 0; start < hi &&
		    history_rec(h, start)->t <= q->time; start++)
			;
		end = start;
	}
	if (q->dir == HISTORY_AFTER) {
		while (end < hi && (size_t)(end - start) < q->limit &&
		    (end == start || used + history_rec(h, end)->len <=
		    q->budget))
			used += history_rec(h, end++)->len;
		*more = end < hi;
	} else {
		while (start > 0 && (size_t)(end - start) < q->limit &&
		    (end == start || used + history_rec(h, start - 1)->len <=
		    q->budget))
			used += history_rec(h, --start)->len;
		*more = start > 0;
	}
	for (i = start; i < end; i++) {
		if (history_emit(h, history_rec(h, i), &fd, &fdseg, &buf,
		    &cap, cb, arg) != 0)
			break;
		n++;
	}
	if (fd != -1)
		close(fd);
	free(buf);
	return n;
}

size_t
history_count(const struct history *h)
{
	return h != NULL ? h->nrecs : 0;
}

size_t
history_bytes(const struct history *h)
{
	return h != NULL ? h->bytes : 0;
}

size_t
history_segments(const struct history *h)
{
	return h != NULL ? h->nsegs : 0;
}
