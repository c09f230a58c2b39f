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
 *
 * The history holds each sender's activities in activity_seq order, on
 * every server, even where delivery to clients could not: an activity
 * that comes after a later one of its sender (late, once --order-wait
 * gave up waiting for it, or from a relink replay) is appended to the
 * segment like any other but placed in the index just before the
 * earliest later one of its sender, and pages list it there; a
 * restart places it again as it reads the segments back.  How the
 * activities of different senders interleave is the order this server
 * delivered them in.  Pages end at a client's login by number (no),
 * so one placed back among older records after the client logged in,
 * which the client got live, is left out of its pages.
 *
 * An activity is found by its mid through a table of mid hashes to
 * places (ord), so paging before or after one costs the same at any
 * depth; a page's records, mostly adjacent in one segment, are read
 * with one pread(2) per run.
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
#include "xmalloc.h"

#define HISTORY_DIR		"history"
#define HISTORY_SEG_PARTS	32	/* segments the limits span */
#define HISTORY_SEG_MIN		4096
#define HISTORY_SEG_MAX		(16 * 1024 * 1024)
#define HISTORY_SEGS_MAX	100000	/* files read at start */
#define HISTORY_RECENT_MS	60000	/* before the last record: see below */
#define HISTORY_BEHIND_SCAN	65536	/* records looked back to place one */
#define HISTORY_RUN_MAX		(1024 * 1024)	/* bytes read at once */
#define HISTORY_HAVE_RUN	256	/* catch-up: it has these in a row */

/* Where one record is. */
struct hrec {
	uint64_t	 no;		/* numbered as logged, from start */
	uint64_t	 ord;		/* its place: no, or its successor's */
	uint64_t	 t;		/* our wall clock when delivered */
	uint64_t	 key;		/* hash of its mid */
	uint64_t	 skey;		/* hash of its sender, 0: none */
	uint64_t	 seq;		/* its activity_seq */
	uint64_t	 seg;		/* segment number */
	uint32_t	 off;
	uint32_t	 len;		/* the whole record, LF included */
	uint32_t	 act_off;	/* the activity object in the line */
	uint32_t	 act_len;	/* 0: not known */
};

/* A hash table of 64-bit keys (open addressing, never deleted from). */
struct hmap {
	uint64_t	*k;		/* key | 1, 0: empty */
	uint64_t	*v;
	size_t		 cap;		/* a power of two, or 0 */
	size_t		 n;
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
	struct hmap		 ids;		/* mid hash -> ord */
	uint64_t		 ids_no;	/* from this no: not in ids */
	char			*rbuf;		/* records read for a page */
	size_t			 rcap;
	struct jbuf		 pending;	/* this turn's records */
	size_t			 npending;	/* numbered last */
	uint64_t		 pending_newest;
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
static size_t	history_place_last(struct history *);
static void	history_id_put(struct history *, uint64_t, uint64_t);
static size_t	history_find_ord(struct history *, uint64_t);

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
		h->recs = xreallocarray(h->recs, h->caprecs, sizeof *h->recs);
	}
	memset(&h->recs[h->head + h->nrecs], 0, sizeof *h->recs);
	h->recs[h->head + h->nrecs].no = h->next_no;
	h->recs[h->head + h->nrecs].ord = h->next_no++;
	return &h->recs[h->head + h->nrecs++];
}

/* The slot of key in m: where it is, or the empty one it would take. */
static size_t
hmap_slot(const struct hmap *m, uint64_t key)
{
	size_t	 i;

	key |= 1;
	for (i = (size_t)(key >> 1) & (m->cap - 1); m->k[i] != 0 &&
	    m->k[i] != key; i = (i + 1) & (m->cap - 1))
		;
	return i;
}

/* Is key in m?  Its value in *v if so. */
static int
hmap_get(const struct hmap *m, uint64_t key, uint64_t *v)
{
	size_t	 i;

	if (m->cap == 0)
		return 0;
	i = hmap_slot(m, key);
	if (m->k[i] == 0)
		return 0;
	*v = m->v[i];
	return 1;
}

/* An empty table with room for n keys at half load. */
static void
hmap_init(struct hmap *m, size_t n)
{
	for (m->cap = 1024; m->cap < 2 * n; m->cap *= 2)
		;
	m->k = xcalloc(m->cap, sizeof *m->k);
	m->v = xcalloc(m->cap, sizeof *m->v);
	m->n = 0;
}

static void
hmap_free(struct hmap *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof *m);
}

/* Set key to v; the caller keeps the load under three quarters. */
static void
hmap_put(struct hmap *m, uint64_t key, uint64_t v)
{
	size_t	 i = hmap_slot(m, key);

	if (m->k[i] == 0) {
		m->k[i] = key | 1;
		m->n++;
	}
	m->v[i] = v;
}

/* Set key to v, doubling the table when it fills. */
static void
hmap_put_grow(struct hmap *m, uint64_t key, uint64_t v)
{
	struct hmap	 bigger;
	size_t		 i;

	if (m->cap == 0 || (m->n + 1) * 4 > m->cap * 3) {
		hmap_init(&bigger, m->cap);
		for (i = 0; i < m->cap; i++)
			if (m->k[i] != 0)
				hmap_put(&bigger, m->k[i], m->v[i]);
		hmap_free(m);
		*m = bigger;
	}
	hmap_put(m, key, v);
}

/*
 * Where a record of sender skey numbered seq belongs among the first n
 * of the index: just before the earliest later one of its sender
 * (looking back HISTORY_BEHIND_SCAN records at most), else at the end.
 */
static size_t
history_place_of(struct history *h, uint64_t skey, uint64_t seq, size_t n)
{
	struct hrec	*r;
	size_t		 i, pos = n, scan = 0;

	for (i = n; i > 0 && scan < HISTORY_BEHIND_SCAN; i--, scan++) {
		r = history_rec(h, i - 1);
		if (r->skey != skey)
			continue;
		if (r->seq < seq)
			break;
		if (r->seq > seq)
			pos = i - 1;
	}
	return pos;
}

/*
 * Move the last index record to its place in its sender's order (see
 * the top); it takes the ord of the one it goes before.  Returns where
 * it is now.
 */
static size_t
history_place_last(struct history *h)
{
	struct hrec	 r = *history_rec(h, h->nrecs - 1);
	size_t		 pos;

	if (r.skey == 0 ||
	    (pos = history_place_of(h, r.skey, r.seq, h->nrecs - 1)) ==
	    h->nrecs - 1)
		return h->nrecs - 1;
	memmove(history_rec(h, pos + 1), history_rec(h, pos),
	    (h->nrecs - 1 - pos) * sizeof r);
	r.ord = history_rec(h, pos + 1)->ord;
	*history_rec(h, pos) = r;
	return pos;
}

/* Table the mids anew: only records still in the index. */
static void
history_ids_rebuild(struct history *h)
{
	size_t	 i;

	hmap_free(&h->ids);
	hmap_init(&h->ids, h->nrecs + 1);
	for (i = 0; i < h->nrecs; i++)
		hmap_put(&h->ids, history_rec(h, i)->key,
		    history_rec(h, i)->ord);
	h->ids_no = h->next_no;
}

/*
 * Note where the activity with mid hash key is.  Dropped records leave
 * their entries behind (a lookup checks the index), so a table that
 * fills is built again from the index, not grown.
 */
static void
history_id_put(struct history *h, uint64_t key, uint64_t ord)
{
	if (h->ids.cap == 0 || (h->ids.n + 1) * 4 > h->ids.cap * 3)
		history_ids_rebuild(h);
	hmap_put(&h->ids, key, ord);
}

/*
 * Table the mids of the records logged since the table was last
 * brought up to date.  Appending leaves this to the first lookup after
 * it: most records are never looked up by mid, and a table insert is a
 * cache miss on the hot path.  Those are the records at the end of the
 * index, and ones placed back within HISTORY_BEHIND_SCAN before them.
 */
static void
history_ids_fold(struct history *h)
{
	struct hrec	*r;
	size_t		 i;

	if (h->ids_no == h->next_no)
		return;
	i = history_find_ord(h, h->ids_no);
	for (i = i > HISTORY_BEHIND_SCAN ? i - HISTORY_BEHIND_SCAN : 0;
	    i < h->nrecs; i++) {
		r = history_rec(h, i);
		if (r->no >= h->ids_no)
			history_id_put(h, r->key, r->ord);
	}
	h->ids_no = h->next_no;
}

static struct hseg *
history_seg_new(struct history *h, uint64_t num)
{
	struct hseg	*s;

	if (h->nsegs == h->capsegs) {
		h->capsegs = h->capsegs ? h->capsegs * 2 : 64;
		h->segs = xreallocarray(h->segs, h->capsegs, sizeof *h->segs);
	}
	s = &h->segs[h->nsegs++];
	memset(s, 0, sizeof *s);
	s->num = num;
	return s;
}

/* What reading the segments back at start keeps between records. */
struct history_load {
	struct hmap	 senders;	/* sender hash -> highest seq */
	struct msg	*m;
};

/*
 * Check one record line (without its LF) and index it: a time, one
 * space, a JSON object with a string "mid".  Its activity object, its
 * sender and activity_seq come from the same parse when the line is the
 * server line the command table describes; a line it refuses (from
 * another version) is still an activity of the history if it has a
 * mid.  -1 if it is not a record.
 */
static int
history_index_line(struct history *h, struct history_load *ld,
    struct hseg *s, const char *line, size_t len, size_t off)
{
	struct json_span	 obj, val;
	struct msg		*m = ld->m;
	const char		*err, *sp, *p, *sid = NULL;
	char			 mid[512], why[256];
	size_t			 midlen = 0;
	uint64_t		 ts = 0, top;
	long long		 seq = -1;
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
	if (msg_parse(obj.p, obj.len, m, why, sizeof why) == 0 &&
	    m->str[F_MID] != NULL) {
		if ((midlen = strlen(m->str[F_MID])) >= sizeof mid)
			return -1;
		memcpy(mid, m->str[F_MID], midlen);
		sid = m->str[F_SENDER];
		if (sid != NULL && msg_int(m, F_ACTIVITY_SEQ, &seq) != 0)
			sid = NULL;
	} else {
		m->type[F_ACTIVITY] = JSON_NONE;
		if (json_validate(obj.p, obj.len, JSON_DEPTH_MAX, &err) !=
		    JSON_OBJECT ||
		    json_get(obj, msg_field_name(F_MID), JSON_STRING, &val,
		    NULL) != 0 ||
		    json_str_decode(json_str_inner(val), mid, sizeof mid,
		    &midlen) != 0)
			return -1;
	}
	r = history_rec_new(h);
	r->t = ts;
	r->key = history_key_of(mid, midlen);
	r->seg = s->num;
	r->off = (uint32_t)off;
	r->len = (uint32_t)len + 1;
	s->n++;
	s->newest = ts;
	if (m->type[F_ACTIVITY] == JSON_OBJECT) {
		r->act_off = (uint32_t)(m->val[F_ACTIVITY].p - obj.p);
		r->act_len = (uint32_t)m->val[F_ACTIVITY].len;
	}
	/* Its place in its sender's order (see the top). */
	if (sid != NULL && seq >= 0) {
		r->skey = history_key_of(sid, strlen(sid)) | 1;
		r->seq = (uint64_t)seq;
		if (hmap_get(&ld->senders, r->skey, &top) && top > r->seq)
			history_place_last(h);
		else
			hmap_put_grow(&ld->senders, r->skey, r->seq);
	}
	return 0;
}

/*
 * Read a segment back and index it; cut a torn or corrupt tail.  -1
 * if the file cannot be read at all.
 */
static int
history_load_seg(struct history *h, uint64_t num, struct history_load *ld,
    char *err, size_t errlen)
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
	if (st.st_size > 0)
		buf = xmalloc((size_t)st.st_size);
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
		    history_index_line(h, ld, s, p, (size_t)(nl - p),
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
			*nums = xreallocarray(*nums, cap, sizeof **nums);
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
	struct hrec	*r;
	char		 path[4200];
	size_t		 end, i, k;

	history_seg_path(h, s->num, path, sizeof path);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("history: unlink %s", path);
	/*
	 * Its records come first in the index, before any appended to a
	 * newer segment; ones of newer segments placed back among them
	 * (see the top) stay, moved up to just before those.
	 */
	for (end = 0; end < h->nrecs; end++) {
		r = history_rec(h, end);
		if (r->seg != s->num && r->no == r->ord)
			break;
	}
	for (i = k = end; i > 0; i--)
		if (history_rec(h, i - 1)->seg != s->num)
			*history_rec(h, --k) = *history_rec(h, i - 1);
	h->head += k;
	h->nrecs -= k;
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
	struct history_load ld;
	uint64_t	*nums = NULL;
	size_t		 n = 0, i;
	char		*dir;

	xasprintf(&dir, "%s/%s", datadir, HISTORY_DIR);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	h = xcalloc(1, sizeof *h);
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
	memset(&ld, 0, sizeof ld);
	ld.m = xmalloc(sizeof *ld.m);
	for (i = 0; i < n; i++)
		if (history_load_seg(h, nums[i], &ld, err, errlen) != 0) {
			hmap_free(&ld.senders);
			free(ld.m);
			goto fail;
		}
	hmap_free(&ld.senders);
	free(ld.m);
	history_ids_rebuild(h);
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
	/* One placed back may be the newest. */
	for (i = 0; i < h->nrecs; i++)
		if (history_rec(h, i)->t > h->newest)
			h->newest = history_rec(h, i)->t;
	for (i = h->nrecs; i > 0 && history_rec(h, i - 1)->t +
	    HISTORY_RECENT_MS >= h->newest; i--)
		n++;
	for (h->recent_cap = 16; h->recent_cap < 2 * n; h->recent_cap *= 2)
		;
	h->recent = xcalloc(h->recent_cap, sizeof *h->recent);
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
	hmap_free(&h->ids);
	free(h->rbuf);
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
	uint64_t	 key;

	if (h == NULL || h->fd == -1 || a->mid == NULL || a->len == 0 ||
	    a->len > UINT32_MAX / 2)
		return;
	key = history_key_of(a->mid, strlen(a->mid));
	if (h->recent_cap != 0 && history_recent_has(h, key))
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
	r->key = key;
	r->seg = s->num;
	r->off = (uint32_t)(s->bytes + start);
	r->len = (uint32_t)(h->pending.len - start);
	if (a->act_len > 0 && a->act_off + a->act_len <= a->len) {
		r->act_off = (uint32_t)a->act_off;
		r->act_len = (uint32_t)a->act_len;
	}
	if (a->sender != NULL) {
		r->skey = history_key_of(a->sender, strlen(a->sender)) | 1;
		r->seq = a->seq;
	}
	if (a->behind)
		(void)history_place_last(h);
	if (h->npending++ == 0 || wall > h->pending_newest)
		h->pending_newest = wall;
	if (!h->scheduled) {
		h->scheduled = 1;
		event_active(h->flush_ev, EV_TIMEOUT, 0);
	}
}

/*
 * Take the records of a write that failed out of the index: the last
 * ones numbered, placed within HISTORY_BEHIND_SCAN of the end.
 */
static void
history_forget_pending(struct history *h, struct hseg *s)
{
	struct hrec	*r;
	size_t		 i, k, from = h->npending + HISTORY_BEHIND_SCAN;

	from = h->nrecs > from ? h->nrecs - from : 0;
	for (i = k = from; i < h->nrecs; i++) {
		r = history_rec(h, i);
		if (r->seg == s->num && r->off >= s->bytes)
			continue;
		if (k != i)
			*history_rec(h, k) = *r;
		k++;
	}
	h->nrecs = k;
	h->next_no -= h->npending;
	if (h->ids_no > h->next_no)
		h->ids_no = h->next_no;
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
		history_forget_pending(h, s);
	} else {
		if (h->failing)
			log_info("history: writing again");
		h->failing = 0;
		s->bytes += done;
		s->n += h->npending;
		if (h->pending_newest > s->newest)
			s->newest = h->pending_newest;
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

/* The index of the first record placed at ord or later. */
static size_t
history_find_ord(struct history *h, uint64_t ord)
{
	size_t	 lo = 0, hi = h->nrecs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (history_rec(h, mid)->ord < ord)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The index of the first record below end logged at t or later (times
 * rise along the index but for records placed back, a few ms off).
 */
static size_t
history_find_t(struct history *h, size_t end, uint64_t t)
{
	size_t	 lo = 0, hi = end, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (history_rec(h, mid)->t < t)
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
	uint64_t	 key = history_key_of(mid, strlen(mid)), ord;
	size_t		 i;

	history_ids_fold(h);
	if (!hmap_get(&h->ids, key, &ord))
		return -1;
	/* Those placed back share the ord of the one after them. */
	for (i = history_find_ord(h, ord); i < end &&
	    history_rec(h, i)->ord == ord; i++)
		if (history_rec(h, i)->key == key)
			return (long long)i;
	return -1;
}

/* A page being read: the segment open. */
struct history_reader {
	int		 fd;
	uint64_t	 seg;
};

/* A reader with no segment open yet. */
static void
history_reader_init(struct history_reader *rd)
{
	memset(rd, 0, sizeof *rd);
	rd->fd = -1;
}

/*
 * Have segment seg open in rd and room for len bytes in h->rbuf; -1 if
 * the segment cannot be opened (path then names it).
 */
static int
history_reader_open(struct history *h, struct history_reader *rd,
    uint64_t seg, size_t len, char *path, size_t pathlen)
{
	if (rd->fd == -1 || rd->seg != seg) {
		if (rd->fd != -1)
			close(rd->fd);
		history_seg_path(h, seg, path, pathlen);
		rd->seg = seg;
		if ((rd->fd = open(path, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW)) == -1)
			return -1;
	}
	if (h->rcap < len) {
		h->rcap = len;
		h->rbuf = xrealloc(h->rbuf, h->rcap);
	}
	return 0;
}

/* Close rd's segment; keep a page's worth of buffer (longer is rare). */
static void
history_reader_close(struct history *h, struct history_reader *rd)
{
	if (rd->fd != -1)
		close(rd->fd);
	rd->fd = -1;
	if (h->rcap > HISTORY_RUN_MAX) {
		free(h->rbuf);
		h->rbuf = NULL;
		h->rcap = 0;
	}
}

/*
 * Read records first..last-1 of the index, those numbered before mark,
 * and hand each one's time and server line to cb: adjacent records of
 * a segment are read in one go, into a buffer kept for the next page.
 */
static int
history_emit(struct history *h, struct history_reader *rd, size_t first,
    size_t last, uint64_t mark, history_page_cb cb, void *arg)
{
	struct history_item	 it;
	struct hrec		*r, *e;
	char			 path[4200], *p, *sp;
	size_t			 i, j, len;
	ssize_t			 n;
	int			 sent = 0;

	for (i = first; i < last; i = j) {
		r = history_rec(h, i);
		j = i + 1;
		if (r->no >= mark)
			continue;
		len = r->len;
		while (j < last && (e = history_rec(h, j))->no < mark &&
		    e->seg == r->seg && e->off == r->off + len &&
		    len + e->len <= HISTORY_RUN_MAX) {
			len += e->len;
			j++;
		}
		if (history_reader_open(h, rd, r->seg, len, path,
		    sizeof path) != 0) {
			log_warn("history: %s", path);
			return sent;
		}
		n = pread(rd->fd, h->rbuf, len, (off_t)r->off);
		for (p = h->rbuf; i < j; i++) {
			e = history_rec(h, i);
			if (n < (ssize_t)(p - h->rbuf) + (ssize_t)e->len ||
			    p[e->len - 1] != '\n' ||
			    (sp = memchr(p, ' ', e->len)) == NULL) {
				log_warnx("history: segment %016llx: record "
				    "at %u unreadable",
				    (unsigned long long)e->seg, e->off);
				return sent;
			}
			it.time = e->t;
			it.line = sp + 1;
			it.len = (size_t)(p + e->len - 1 - it.line);
			it.act_off = e->act_off;
			it.act_len = e->act_len;
			/* Only where it still frames an object. */
			if (it.act_len < 2 ||
			    it.act_off + it.act_len > it.len ||
			    it.line[it.act_off] != '{' ||
			    it.line[it.act_off + it.act_len - 1] != '}')
				it.act_len = 0;
			if (cb(arg, &it) != 0)
				return sent;
			sent++;
			p += e->len;
		}
	}
	return sent;
}

/* Is a record numbered before mark in first..last-1 of the index? */
static int
history_any(struct history *h, size_t first, size_t last, uint64_t mark)
{
	for (; first < last; first++)
		if (history_rec(h, first)->no < mark)
			return 1;
	return 0;
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
	struct history_reader	 rd;
	struct hrec		*r;
	size_t			 hi, start, end, used = 0, n = 0;
	long long		 at;
	int			 sent;

	*more = 0;
	if (h == NULL)
		return q->mid != NULL ? -1 : 0;
	history_flush(h);
	/* Below hi every record is placed before the mark. */
	hi = history_find_ord(h, q->mark);
	start = end = hi;
	if (q->dir != HISTORY_LATEST && q->mid != NULL) {
		if ((at = history_find_mid(h, q->mid, hi)) == -1)
			return -1;
		start = end = (size_t)at + (q->dir == HISTORY_AFTER);
	} else if (q->dir == HISTORY_BEFORE) {
		start = end = history_find_t(h, hi, q->time);
	} else if (q->dir == HISTORY_AFTER) {
		start = end = history_find_t(h, hi, q->time + 1);
	}
	if (q->dir == HISTORY_AFTER) {
		for (; end < hi && n < q->limit; end++) {
			r = history_rec(h, end);
			if (r->no >= q->mark)
				continue;
			if (n > 0 && used + r->len > q->budget)
				break;
			used += r->len;
			n++;
		}
		*more = history_any(h, end, hi, q->mark);
	} else {
		for (; start > 0 && n < q->limit; start--) {
			r = history_rec(h, start - 1);
			if (r->no >= q->mark)
				continue;
			if (n > 0 && used + r->len > q->budget)
				break;
			used += r->len;
			n++;
		}
		*more = history_any(h, 0, start, q->mark);
	}
	history_reader_init(&rd);
	sent = history_emit(h, &rd, start, end, q->mark, cb, arg);
	history_reader_close(h, &rd);
	return sent;
}

/* Read record i of the index into h->rbuf; -1 if it cannot be. */
static int
history_read_one(struct history *h, struct history_reader *rd, size_t i,
    struct history_item *it)
{
	struct hrec	*r = history_rec(h, i);
	char		 path[4200], *sp;
	ssize_t		 n;

	if (history_reader_open(h, rd, r->seg, r->len, path,
	    sizeof path) != 0)
		return -1;
	n = pread(rd->fd, h->rbuf, r->len, (off_t)r->off);
	if (n != (ssize_t)r->len || h->rbuf[r->len - 1] != '\n' ||
	    (sp = memchr(h->rbuf, ' ', r->len)) == NULL)
		return -1;
	memset(it, 0, sizeof *it);
	it->time = r->t;
	it->line = sp + 1;
	it->len = (size_t)(h->rbuf + r->len - 1 - it->line);
	return 0;
}

/*
 * Catch a linked server up from the history where the replay log no
 * longer reaches: looking back from the records logged before
 * before_ms, lacks() says which the other server lacks (1), has (0) or
 * are none of this (-1); the looking stops at HISTORY_HAVE_RUN in a row
 * that it has, at the start of the history, or at budget bytes.  Those
 * it lacks go to send(), oldest first.  Returns how many were sent.
 */
int
history_catchup(struct history *h, uint64_t before_ms, size_t budget,
    history_page_cb lacks, history_page_cb send, void *arg)
{
	struct history_reader	 rd;
	struct history_item	 it;
	size_t			 i, *pick = NULL, npick = 0;
	size_t			 cappick = 0, used = 0, have = 0;
	int			 sent = 0, rc;

	if (h == NULL || h->nrecs == 0)
		return 0;
	history_flush(h);
	history_reader_init(&rd);
	for (i = history_find_t(h, h->nrecs, before_ms); i > 0 &&
	    have < HISTORY_HAVE_RUN && used < budget; i--) {
		if (history_read_one(h, &rd, i - 1, &it) != 0)
			break;
		if ((rc = lacks(arg, &it)) < 0)
			continue;
		if (rc == 0) {
			have++;
			continue;
		}
		have = 0;
		used += history_rec(h, i - 1)->len;
		if (npick == cappick) {
			cappick = cappick ? cappick * 2 : 256;
			pick = xreallocarray(pick, cappick, sizeof *pick);
		}
		pick[npick++] = i - 1;
	}
	while (npick > 0) {
		if (history_read_one(h, &rd, pick[--npick], &it) != 0 ||
		    send(arg, &it) != 0)
			break;
		sent++;
	}
	history_reader_close(h, &rd);
	free(pick);
	return sent;
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
