/*
 * The user registry and its journal.  Every change is appended as one
 * JSON line and flushed to disk before it is acknowledged; at start the
 * journal is replayed, later lines overriding earlier ones, and a torn
 * last line (a crash mid-write) is cut off rather than treated as fatal.
 *
 * A write that fails part-way (a full disk) is cut off again at once,
 * before anyone is told anything, so the journal always ends with a
 * whole line and the next write starts clean.  A user registered at
 * another server that cannot be journalled here is still kept in memory
 * (the cluster has acknowledged it), said at error level, and written
 * again from the cron tick until the journal takes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "msg.h"
#include "msgbuild.h"
#include "registry.h"
#include "server.h"
#include "strmap.h"
#include "xmalloc.h"

#define REGISTRY_JOURNAL	"users.journal"
#define SERVER_NAME_BUF		257
#define REGISTRY_HASH_BUF	256	/* a yescrypt hash and then some */
#define REGISTRY_RETRY_MS	1000	/* retry unjournalled users */
#define REGISTRY_NAG_MS		30000	/* repeat the error this often */

static int	registry_sync_dir(const char *, char *, size_t);
static void	registry_line(struct jbuf *, const struct user *);

struct registry {
	struct strmap	 *users;	/* name -> struct user */
	size_t		  count;
	size_t		  max;		/* --max-users; 0: no cap */
	int		  fd;		/* journal, -1 when not durable */
	int		  replaying;
	size_t		  migrate;	/* plaintext secrets hashed on load */
	off_t		  good;		/* the journal ends with a whole line here */
	int		  dirty;	/* bytes past good may remain: cut first */
	int		  batch;	/* learned users wait for batch_end */
	struct user	**unsynced;	/* kept, but not yet in the journal */
	size_t		  nunsynced;
	size_t		  capunsynced;
	uint64_t	  next_retry_ms;
	uint64_t	  next_nag_ms;
	ssize_t		(*write_fn)(int, const void *, size_t);
	int		(*sync_fn)(int);
};

struct registry *
registry_new(void)
{
	struct registry	*r;

	r = xcalloc(1, sizeof *r);
	r->users = strmap_new();
	r->fd = -1;
	r->write_fn = write;
	r->sync_fn = fdatasync;
	return r;
}

/* Hold at most max users (0: no cap); a new name past it is refused. */
void
registry_set_max(struct registry *r, size_t max)
{
	r->max = max;
}

/* Replace write(2) and fdatasync(2) for the journal: the test seam. */
void
registry_set_io(struct registry *r, ssize_t (*write_fn)(int, const void *,
    size_t), int (*sync_fn)(int))
{
	r->write_fn = write_fn != NULL ? write_fn : write;
	r->sync_fn = sync_fn != NULL ? sync_fn : fdatasync;
}

static void
user_free(struct user *u)
{
	free(u->name);
	free(u->secret);
	free(u->origin);
	free(u);
}

/* strmap_foreach callback: free one user. */
static void
registry_free_cb(const char *name, void *u, void *arg)
{
	(void)name;
	(void)arg;
	user_free(u);
}

void
registry_free(struct registry *r)
{
	if (r == NULL)
		return;
	if (r->nunsynced > 0)
		log_error("journal: exiting with %zu user%s registered "
		    "elsewhere not written; the other servers still know them",
		    r->nunsynced, r->nunsynced == 1 ? "" : "s");
	strmap_foreach(r->users, registry_free_cb, NULL);
	strmap_free(r->users);
	if (r->fd != -1)
		close(r->fd);
	free(r->unsynced);
	free(r);
}

const struct user *
registry_find(const struct registry *r, const char *name)
{
	return strmap_get(r->users, name);
}

/*
 * The conflict rule applied everywhere: of two registrations of one name
 * with different secrets the earlier one wins; equal times fall to the
 * lower origin id, then to the lower secret, so every server picks the
 * same winner whatever order it learns them in.  Returns 1 if the
 * candidate beats u.
 */
int
registry_wins(const struct user *u, const char *secret, uint64_t time,
    const char *origin)
{
	int	 c;

	if (time != u->time)
		return time < u->time;
	if ((c = strcmp(origin, u->origin)) != 0)
		return c < 0;
	return strcmp(secret, u->secret) < 0;
}

/*
 * Cut the journal back to its last whole line.  If even that fails the
 * journal is left dirty and every later write tries the cut first, so
 * nothing is ever appended to a fragment.
 */
static int
registry_rollback(struct registry *r)
{
	if (ftruncate(r->fd, r->good) == -1) {
		log_warn("journal: cannot cut a failed write back to %lld "
		    "bytes", (long long)r->good);
		r->dirty = 1;
		return -1;
	}
	r->dirty = 0;
	return 0;
}

/*
 * Append whole lines and flush them with one fdatasync; on any failure
 * cut the journal back to where it was, so it never ends in a fragment.
 */
static int
registry_write(struct registry *r, const struct jbuf *b)
{
	ssize_t		 n;
	size_t		 off = 0;
	int		 rc = 0;

	if (r->dirty && registry_rollback(r) != 0)
		return -1;
	while (off < b->len) {
		n = r->write_fn(r->fd, b->p + off, b->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			log_warn("journal write (%zu of %zu bytes written)",
			    off, b->len);
			rc = -1;
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0 && r->sync_fn(r->fd) == -1) {
		log_warn("journal fdatasync");
		rc = -1;
	}
	if (rc == 0)
		r->good += (off_t)b->len;
	else
		registry_rollback(r);
	return rc;
}

static int
registry_journal(struct registry *r, const struct user *u)
{
	/* u may be a candidate not yet in the table: journal first. */
	struct jbuf	 b;
	int		 rc;

	if (r->fd == -1 || r->replaying)
		return 0;
	jbuf_init(&b);
	registry_line(&b, u);
	rc = registry_write(r, &b);
	jbuf_free(&b);
	return rc;
}

/* Put u on the list of users known but not yet in the journal. */
static void
registry_queue(struct registry *r, struct user *u)
{
	if (u->unsynced)
		return;
	if (r->nunsynced == r->capunsynced) {
		r->capunsynced = r->capunsynced == 0 ? 16 :
		    r->capunsynced * 2;
		r->unsynced = xreallocarray(r->unsynced, r->capunsynced,
		    sizeof *r->unsynced);
	}
	r->unsynced[r->nunsynced++] = u;
	u->unsynced = 1;
}

/* Remember u as known but not in the journal; the cron tick retries. */
static void
registry_mark_unsynced(struct registry *r, struct user *u)
{
	if (u->unsynced)
		return;
	registry_queue(r, u);
	log_error("user %s (registered at %s) could not be written to the "
	    "journal; it is kept in memory and written again every %d ms "
	    "until the journal takes it", log_safe(u->name),
	    log_safe(u->origin), REGISTRY_RETRY_MS);
}

/*
 * Write every queued user, in one write and one fdatasync.  -1 (all
 * still queued) if the journal did not take them.
 */
static int
registry_flush(struct registry *r)
{
	struct jbuf	 b;
	size_t		 i;
	int		 rc;

	if (r->nunsynced == 0)
		return 0;
	jbuf_init(&b);
	for (i = 0; i < r->nunsynced; i++)
		registry_line(&b, r->unsynced[i]);
	if ((rc = registry_write(r, &b)) == 0) {
		for (i = 0; i < r->nunsynced; i++)
			r->unsynced[i]->unsynced = 0;
		r->nunsynced = 0;
	}
	jbuf_free(&b);
	return rc;
}

/*
 * Users learned from another server in one message are journalled
 * together, with one fdatasync, when the batch ends: a join streams
 * hundreds per line, and a flush each would make the join crawl.
 */
void
registry_batch_begin(struct registry *r)
{
	r->batch = r->fd != -1 && !r->replaying;
}

void
registry_batch_end(struct registry *r)
{
	size_t	 n = r->nunsynced;

	if (!r->batch)
		return;
	r->batch = 0;
	if (registry_flush(r) == 0 || r->nunsynced == 0)
		return;
	log_error("journal: %zu user%s registered elsewhere could not be "
	    "written; kept in memory and written again every %d ms until the "
	    "journal takes them", n, n == 1 ? "" : "s", REGISTRY_RETRY_MS);
}

/*
 * Write the users the journal could not take before.  Called from the
 * cron tick; says at error level, now and then, how many still wait.
 */
void
registry_retry(struct registry *r, uint64_t now)
{
	size_t	 n = r->nunsynced;

	if (n == 0 || r->batch || now < r->next_retry_ms)
		return;
	r->next_retry_ms = now + REGISTRY_RETRY_MS;
	if (registry_flush(r) == 0) {
		log_info("journal: wrote %zu user%s it could not take before",
		    n, n == 1 ? "" : "s");
		return;
	}
	if (now >= r->next_nag_ms) {
		r->next_nag_ms = now + REGISTRY_NAG_MS;
		log_error("journal: %zu user%s registered elsewhere not yet "
		    "written; retrying every %d ms", n, n == 1 ? "" : "s",
		    REGISTRY_RETRY_MS);
	}
}

/* Is there room for one more user? */
int
registry_full(const struct registry *r)
{
	return r->max > 0 && r->count >= r->max;
}

/* Users known but not in the journal (waiting for a retry). */
size_t
registry_unsynced(const struct registry *r)
{
	return r->nunsynced;
}

/*
 * Record name/secret, merging with what is known by the conflict rule.
 * A change is journalled (and flushed) before this returns.  If the
 * journal fails, a registration of ours is refused (REG_ERROR: nobody
 * has acknowledged it yet); one the cluster already acknowledged
 * (`elsewhere`) is kept and retried, never forgotten.
 */
static enum registry_put
registry_store(struct registry *r, const char *name, const char *secret,
    uint64_t time, const char *origin, int elsewhere)
{
	struct user	*u, cand;
	char		*s, *o;
	int		 failed;

	cand.name = (char *)name;
	cand.secret = (char *)secret;
	cand.origin = (char *)origin;
	cand.time = time;
	if ((u = (struct user *)registry_find(r, name)) != NULL) {
		if (strcmp(u->secret, secret) == 0)
			return REG_UNCHANGED;
		if (!registry_wins(u, secret, time, origin))
			return REG_KEPT;
		failed = 0;
		if (!(elsewhere && r->batch))
			failed = registry_journal(r, &cand) != 0;
		if (failed && !elsewhere)
			return REG_ERROR;
		s = xstrdup(secret);
		o = xstrdup(origin);
		free(u->secret);
		free(u->origin);
		u->secret = s;
		u->origin = o;
		u->time = time;
		if (failed)
			registry_mark_unsynced(r, u);
		else if (elsewhere && r->batch)
			registry_queue(r, u);
		return REG_REPLACED;
	}
	/* The table is capped; the journal replays whatever it holds. */
	if (r->max > 0 && r->count >= r->max && !r->replaying)
		return REG_FULL;
	/* Only what reached the disk may be acknowledged or used. */
	failed = 0;
	if (!(elsewhere && r->batch))
		failed = registry_journal(r, &cand) != 0;
	if (failed && !elsewhere)
		return REG_ERROR;
	u = xcalloc(1, sizeof *u);
	u->name = xstrdup(name);
	u->secret = xstrdup(secret);
	u->origin = xstrdup(origin);
	u->time = time;
	strmap_put(r->users, u->name, u);
	r->count++;
	if (failed)
		registry_mark_unsynced(r, u);
	else if (elsewhere && r->batch)
		registry_queue(r, u);
	return REG_ADDED;
}

/* A registration made here: refused if the journal cannot take it. */
enum registry_put
registry_put(struct registry *r, const char *name, const char *secret,
    uint64_t time, const char *origin)
{
	return registry_store(r, name, secret, time, origin, 0);
}

/*
 * A registration the cluster already acknowledged elsewhere: kept even
 * if the journal cannot take it now (it is retried).
 */
enum registry_put
registry_learn(struct registry *r, const char *name, const char *secret,
    uint64_t time, const char *origin)
{
	return registry_store(r, name, secret, time, origin, 1);
}

size_t
registry_count(const struct registry *r)
{
	return r->count;
}

struct registry_walk {
	void	(*cb)(const struct user *, void *);
	void	 *arg;
};

/* strmap_foreach callback: pass one user on. */
static void
registry_foreach_cb(const char *name, void *u, void *arg)
{
	struct registry_walk	*w = arg;

	(void)name;
	w->cb(u, w->arg);
}

void
registry_foreach(const struct registry *r,
    void (*cb)(const struct user *, void *), void *arg)
{
	struct registry_walk	 w = { cb, arg };

	strmap_foreach(r->users, registry_foreach_cb, &w);
}

/*
 * Apply one journal line, an entry of "users" (OBJ_USER); -1 if it is
 * not a well-formed one.
 */
static int
registry_replay_line(struct registry *r, const char *line, size_t len)
{
	struct json_span	 whole = { line, len };
	struct msg		 um;
	const char		*why, *origin;
	char			 err[128], hashed[REGISTRY_HASH_BUF];
	long long		 time;

	if (json_validate(line, len, 4, &why) != JSON_OBJECT ||
	    msg_parse_object(whole, OBJ_USER, &um, err, sizeof err) != 0)
		return -1;
	if (msg_int(&um, F_TIME, &time) != 0)
		time = 0;
	origin = um.str[F_ORIGIN] != NULL ? um.str[F_ORIGIN] : "";
	/* A journal from before secrets were hashed: hash them now. */
	if (!hashpool_is_hash(um.str[F_SECRET])) {
		if (hashpool_hash(um.str[F_SECRET], hashed, sizeof hashed) != 0)
			return -1;
		r->migrate++;
		registry_put(r, um.str[F_USERNAME], hashed, (uint64_t)time,
		    origin);
		explicit_bzero(um.strbuf, sizeof um.strbuf);
		return 0;
	}
	registry_put(r, um.str[F_USERNAME], um.str[F_SECRET], (uint64_t)time,
	    origin);
	return 0;
}

/* Append u's journal line to b. */
static void
registry_line(struct jbuf *b, const struct user *u)
{
	msgb_obj_begin(b);
	msgb_str(b, F_USERNAME, u->name);
	msgb_str(b, F_SECRET, u->secret);
	msgb_int(b, F_TIME, (long long)u->time);
	msgb_str(b, F_ORIGIN, u->origin);
	jbuf_adds(b, "}\n");
}

static void
registry_line_cb(const struct user *u, void *arg)
{
	registry_line(arg, u);
}

/*
 * Replace the journal at path with one line per user, atomically: a
 * new file, flushed, renamed over the old one, the directory synced.
 * Used once to drop the plaintext secrets of an old journal.
 */
static int
registry_rewrite(struct registry *r, const char *dir, const char *path,
    int *fdp, char *err, size_t errlen)
{
	char		 tmp[4200];
	struct jbuf	 b;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd, rc = -1;

	snprintf(tmp, sizeof tmp, "%s.new", path);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	jbuf_init(&b);
	registry_foreach(r, registry_line_cb, &b);
	while (off < b.len) {
		n = write(fd, b.p + off, b.len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < b.len || fdatasync(fd) == -1 || rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		(void)unlink(tmp);
		goto out;
	}
	close(fd);
	if (registry_sync_dir(dir, err, errlen) != 0)
		goto out;
	if ((fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW)) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	close(*fdp);
	*fdp = fd;
	r->good = (off_t)b.len;
	rc = 0;
out:
	jbuf_free(&b);
	return rc;
}

/*
 * A data directory or journal that group or others can reach would
 * hand every user's secret to them: refuse it, saying how to fix it.
 */
static int
registry_check_private(const char *path, const struct stat *st, int isdir,
    char *err, size_t errlen)
{
	if (isdir && !S_ISDIR(st->st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	if (!isdir && !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st->st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s: group or others can access it "
		    "(mode %04o), and it holds every user's secret; make it "
		    "private: chmod %s %s", path,
		    (unsigned)(st->st_mode & 07777), isdir ? "700" : "600",
		    path);
		return -1;
	}
	return 0;
}

/* Make a new file's directory entry durable too. */
static int
registry_sync_dir(const char *dir, char *err, size_t errlen)
{
	int	 dfd;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1) {
		snprintf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

/*
 * Make the registry durable in dir: replay the journal there, cut a torn
 * tail, and append from now on.
 */
int
registry_open(struct registry *r, const char *dir, char *err, size_t errlen)
{
	char		 path[4096];
	struct stat	 st;
	char		*buf = NULL, *p, *nl;
	size_t		 good = 0, lineno = 0;
	ssize_t		 n;
	off_t		 off = 0;
	int		 fd, created = 0;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (registry_check_private(dir, &st, 1, err, errlen) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/%s", dir, REGISTRY_JOURNAL);
	fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 && errno == ENOENT) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		created = fd != -1;
	}
	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (registry_check_private(path, &st, 0, err, errlen) != 0 ||
	    (created && registry_sync_dir(dir, err, errlen) != 0)) {
		close(fd);
		return -1;
	}
	if (st.st_size > 0) {
		buf = xmalloc((size_t)st.st_size);
		while (off < st.st_size) {
			n = pread(fd, buf + off, (size_t)(st.st_size - off),
			    off);
			if (n <= 0) {
				snprintf(err, errlen, "%s: read: %s", path,
				    n == 0 ? "short read" : strerror(errno));
				free(buf);
				close(fd);
				return -1;
			}
			off += n;
		}
		r->replaying = 1;
		for (p = buf; p < buf + st.st_size; p = nl + 1) {
			nl = memchr(p, '\n', (size_t)(buf + st.st_size - p));
			if (nl == NULL)
				break;		/* torn tail */
			lineno++;
			if (registry_replay_line(r, p, (size_t)(nl - p)) != 0)
				log_warnx("%s: line %zu is not a valid entry, "
				    "skipped", path, lineno);
			good = (size_t)(nl + 1 - buf);
		}
		r->replaying = 0;
		if (good < (size_t)st.st_size) {
			log_warnx("%s: ignoring a torn last line of %zu bytes",
			    path, (size_t)st.st_size - good);
			if (ftruncate(fd, (off_t)good) == -1) {
				snprintf(err, errlen, "%s: truncate: %s", path,
				    strerror(errno));
				free(buf);
				close(fd);
				return -1;
			}
		}
		explicit_bzero(buf, (size_t)st.st_size);
		free(buf);
	}
	r->good = (off_t)good;
	if (r->migrate > 0) {
		if (registry_rewrite(r, dir, path, &fd, err, errlen) != 0) {
			close(fd);
			return -1;
		}
		log_info("%s: %zu plaintext secrets replaced by their hashes",
		    path, r->migrate);
		r->migrate = 0;
	}
	r->fd = fd;
	log_info("registry: %zu users from %s", r->count, path);
	return 0;
}
