/*
 * User secrets are kept as salted yescrypt hashes (libcrypt), which are
 * slow on purpose: a few milliseconds each.  Hashing a new secret
 * (REGISTER) and checking one (LOGIN) therefore run off the event loop,
 * in a small pool of threads.  The loop hands a job over with the line
 * that asked for it, stops reading that connection, and goes on serving
 * everyone else; a worker writes a byte to a pipe when a job is done,
 * and the loop finishes the command from the saved line.  The number
 * of jobs waiting is capped: past it a request is refused at once
 * rather than queued behind a storm.
 *
 * The workers run at the scheduler's idle priority (SCHED_IDLE on
 * Linux, else the lowest nice): hashing takes only CPU time nobody else
 * wants, and the loop preempts a worker the moment it has something to
 * do, so a login storm does not delay the traffic.  On a machine with
 * no idle CPU they would starve, so one more thread, the rescuer, runs
 * at an ordinary (if lowered) priority and takes over any job that has
 * waited HASHPOOL_RESCUE_MS: if a worker has it already, both compute
 * it and the first result wins.  A login then waits a little longer,
 * never for ever.
 *
 * With no threads (unit tests) a job runs inline, but its result still
 * arrives through the loop as a threaded one would.
 */
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth.h"
#include "log.h"
#include "secret.h"
#include "server.h"
#include "xmalloc.h"

#define HASHPOOL_PREFIX		"$y$"	/* yescrypt */
#define HASHPOOL_NICE		10	/* the rescuer's niceness above the loop */
#define HASHPOOL_RESCUE_MS	200	/* a job waiting this long is rescued */

enum hashjob_state {
	HASHJOB_TODO,		/* queued */
	HASHJOB_BUSY,		/* a thread computes it */
	HASHJOB_DONE		/* the result is in, for the loop */
};

struct hashjob {
	TAILQ_ENTRY(hashjob)	 entry;
	enum hashjob_kind	 kind;
	struct peer		*peer;		/* NULL once it has gone */
	hashjob_cb		 cb;
	char			*plain;		/* wiped before it is freed */
	char			*stored;	/* VERIFY: the hash to match */
	char			*line;		/* the command to finish */
	size_t			 len;
	uint64_t		 queued_ms;	/* when it was submitted */
	enum hashjob_state	 state;		/* under mu */
	int			 runners;	/* under mu: threads on it */
	int			 rescued;	/* under mu: the rescuer took it */
	int			 orphan;	/* under mu: the last runner frees */
	int			 ok;		/* VERIFY: it matched */
	char			 hash[CRYPT_OUTPUT_SIZE]; /* HASH: the result */
};
TAILQ_HEAD(hashjob_list, hashjob);

/* What one thread computed for a job, before it is known to be first. */
struct hashjob_result {
	int			 ok;
	char			 hash[CRYPT_OUTPUT_SIZE];
};

struct hashpool {
	struct server		*srv;
	pthread_t		 threads[HASHPOOL_THREADS_MAX];
	int			 nthreads;
	pthread_t		 rescuer;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;		/* work for the workers */
	pthread_cond_t		 rescue_cv;	/* work for the rescuer */
	struct hashjob_list	 todo;		/* under mu */
	struct hashjob_list	 busy;		/* under mu */
	struct hashjob_list	 done;		/* under mu */
	int			 stop;		/* under mu */
	int			 paused;	/* under mu: workers idle (tests) */
	uint64_t		 rescues;	/* under mu: jobs rescued */
	int			 pending;	/* loop only: not back yet */
	int			 pipe[2];
	struct event		*done_ev;
};

/* The monotonic clock in ms, for the threads (now_ms() is the loop's). */
static uint64_t
hashpool_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Is s one of our hashes (and not a plaintext secret from before)? */
int
hashpool_is_hash(const char *s)
{
	return strncmp(s, HASHPOOL_PREFIX, sizeof HASHPOOL_PREFIX - 1) == 0 &&
	    crypt_checksalt(s) == CRYPT_SALT_OK;
}

/* A new salted hash of plain into out; -1 if libcrypt failed. */
int
hashpool_hash(const char *plain, char *out, size_t outlen)
{
	struct crypt_data	*cd;
	char			 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char		*h;
	int			 rc = -1;

	if (crypt_gensalt_rn(HASHPOOL_PREFIX, HASHPOOL_COST, NULL, 0, salt,
	    sizeof salt) == NULL)
		return -1;
	cd = xcalloc(1, sizeof *cd);
	h = crypt_r(plain, salt, cd);
	if (h != NULL && h[0] != '*' && strlen(h) < outlen) {
		memcpy(out, h, strlen(h) + 1);
		rc = 0;
	}
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return rc;
}

/*
 * Does plain hash to stored?  Compared in constant time.  A stored
 * secret that is no hash came from a server speaking the base protocol
 * (--allow-base-servers), which sends them in clear: compared as is.
 */
int
hashpool_verify(const char *plain, const char *stored)
{
	struct crypt_data	*cd;
	const char		*h;
	int			 ok;

	if (!hashpool_is_hash(stored))
		return secret_equal(stored, plain);
	cd = xcalloc(1, sizeof *cd);
	h = crypt_r(plain, stored, cd);
	ok = h != NULL && h[0] != '*' && strlen(h) == strlen(stored) &&
	    auth_equal(h, stored, strlen(stored));
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

/* Compute job j into r; the job itself is only read. */
static void
hashjob_run(const struct hashjob *j, struct hashjob_result *r)
{
	if (j->kind == HASHJOB_VERIFY)
		r->ok = hashpool_verify(j->plain, j->stored);
	else
		r->ok = hashpool_hash(j->plain, r->hash, sizeof r->hash) == 0;
}

/* Free j, wiping the secret it carried. */
static void
hashjob_free(struct hashjob *j)
{
	if (j->plain != NULL) {
		explicit_bzero(j->plain, strlen(j->plain));
		free(j->plain);
	}
	free(j->stored);
	explicit_bzero(j->line, j->len);	/* a LOGIN's secret */
	free(j->line);
	explicit_bzero(j->hash, sizeof j->hash);
	free(j);
}

/* Under mu: take j off the queue to compute it (it may be running). */
static void
hashjob_take(struct hashpool *hp, struct hashjob *j)
{
	if (j->state == HASHJOB_TODO) {
		TAILQ_REMOVE(&hp->todo, j, entry);
		TAILQ_INSERT_TAIL(&hp->busy, j, entry);
		j->state = HASHJOB_BUSY;
	}
	j->runners++;
}

/*
 * Under mu: a thread has computed j.  The first result goes to the
 * loop; a second one (the rescuer and a worker both ran it) is dropped,
 * and whoever is last frees a job the loop has finished with.
 */
static void
hashjob_finish(struct hashpool *hp, struct hashjob *j,
    struct hashjob_result *r)
{
	char	 c = 1;

	j->runners--;
	if (j->state == HASHJOB_BUSY) {
		j->ok = r->ok;
		memcpy(j->hash, r->hash, sizeof j->hash);
		TAILQ_REMOVE(&hp->busy, j, entry);
		TAILQ_INSERT_TAIL(&hp->done, j, entry);
		j->state = HASHJOB_DONE;
		(void)!write(hp->pipe[1], &c, 1);
	} else if (j->orphan && j->runners == 0)
		hashjob_free(j);
	explicit_bzero(r, sizeof *r);
}

/*
 * Lower the calling thread to the scheduler's idle class, so that it
 * runs only on CPU time nobody else wants; where there is none, the
 * lowest nice value.
 */
static void
hashpool_idle_priority(void)
{
#ifdef SCHED_IDLE
	struct sched_param	 sp;

	memset(&sp, 0, sizeof sp);
	if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0)
		return;
#endif
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}

/* A worker: runs queued jobs at idle priority. */
static void *
hashpool_worker(void *arg)
{
	struct hashpool		*hp = arg;
	struct hashjob		*j;
	struct hashjob_result	 r;

	hashpool_idle_priority();
	pthread_mutex_lock(&hp->mu);
	for (;;) {
		while (!hp->stop && (hp->paused || TAILQ_EMPTY(&hp->todo)))
			pthread_cond_wait(&hp->cv, &hp->mu);
		if (hp->stop)
			break;
		j = TAILQ_FIRST(&hp->todo);
		hashjob_take(hp, j);
		pthread_mutex_unlock(&hp->mu);
		memset(&r, 0, sizeof r);
		hashjob_run(j, &r);
		pthread_mutex_lock(&hp->mu);
		hashjob_finish(hp, j, &r);
	}
	pthread_mutex_unlock(&hp->mu);
	return NULL;
}

/* Under mu: the oldest job not rescued yet, queued or running. */
static struct hashjob *
hashpool_oldest(struct hashpool *hp)
{
	struct hashjob	*j, *best = NULL;

	TAILQ_FOREACH(j, &hp->busy, entry) {
		if (!j->rescued && (best == NULL ||
		    j->queued_ms < best->queued_ms))
			best = j;
	}
	j = TAILQ_FIRST(&hp->todo);
	if (j != NULL && (best == NULL || j->queued_ms < best->queued_ms))
		best = j;
	return best;
}

/* The rescuer: computes, at ordinary priority, any job kept waiting. */
static void *
hashpool_rescuer(void *arg)
{
	struct hashpool		*hp = arg;
	struct hashjob		*j;
	struct hashjob_result	 r;
	struct timespec		 ts;
	uint64_t		 now, due;

	/* Still below the loop: the loop, which everyone waits on, first. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    getpriority(PRIO_PROCESS, 0) + HASHPOOL_NICE);
	pthread_mutex_lock(&hp->mu);
	while (!hp->stop) {
		if ((j = hashpool_oldest(hp)) == NULL) {
			pthread_cond_wait(&hp->rescue_cv, &hp->mu);
			continue;
		}
		now = hashpool_now_ms();
		due = j->queued_ms + HASHPOOL_RESCUE_MS;
		if (now < due) {
			/* The queue is on the monotonic clock too. */
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)((due - now) / 1000);
			ts.tv_nsec += (long)((due - now) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&hp->rescue_cv, &hp->mu, &ts);
			continue;
		}
		j->rescued = 1;
		hp->rescues++;
		hashjob_take(hp, j);
		pthread_mutex_unlock(&hp->mu);
		memset(&r, 0, sizeof r);
		hashjob_run(j, &r);
		pthread_mutex_lock(&hp->mu);
		hashjob_finish(hp, j, &r);
	}
	pthread_mutex_unlock(&hp->mu);
	return NULL;
}

/* Back on the loop: finish every job that is done. */
static void
hashpool_done_cb(evutil_socket_t fd, short events, void *arg)
{
	struct hashpool		*hp = arg;
	struct hashjob_list	 done;
	struct hashjob		*j;
	char			 buf[256];

	(void)events;
	if (fd != -1)
		while (read(hp->pipe[0], buf, sizeof buf) > 0)
			;
	TAILQ_INIT(&done);
	pthread_mutex_lock(&hp->mu);
	TAILQ_CONCAT(&done, &hp->done, entry);
	pthread_mutex_unlock(&hp->mu);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		hp->pending--;
		if (j->peer != NULL) {
			j->peer->job = NULL;
			peer_resume(j->peer, j->cb, j->line, j->len, j->ok,
			    j->kind == HASHJOB_VERIFY ? j->stored : j->hash);
		}
		/* A second runner may still be reading it. */
		pthread_mutex_lock(&hp->mu);
		if (j->runners > 0)
			j->orphan = 1;
		else
			hashjob_free(j);
		pthread_mutex_unlock(&hp->mu);
	}
}

/*
 * A pool of nthreads idle-priority workers and the rescuer; with
 * nthreads 0, none: jobs run inline (unit tests).
 */
struct hashpool *
hashpool_new(struct server *srv, int nthreads)
{
	struct hashpool	*hp;
	int		 i;

	hp = xcalloc(1, sizeof *hp);
	hp->srv = srv;
	hp->nthreads = nthreads < HASHPOOL_THREADS_MAX ? nthreads :
	    HASHPOOL_THREADS_MAX;
	pthread_mutex_init(&hp->mu, NULL);
	pthread_cond_init(&hp->cv, NULL);
	pthread_cond_init(&hp->rescue_cv, NULL);
	TAILQ_INIT(&hp->todo);
	TAILQ_INIT(&hp->busy);
	TAILQ_INIT(&hp->done);
	if (pipe2(hp->pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	hp->done_ev = event_new(srv->base, hp->pipe[0], EV_READ | EV_PERSIST,
	    hashpool_done_cb, hp);
	if (hp->done_ev == NULL || event_add(hp->done_ev, NULL) != 0)
		fatalx("event_new");
	for (i = 0; i < hp->nthreads; i++)
		if ((errno = pthread_create(&hp->threads[i], NULL,
		    hashpool_worker, hp)) != 0)
			fatal("pthread_create");
	if (hp->nthreads > 0 && (errno = pthread_create(&hp->rescuer, NULL,
	    hashpool_rescuer, hp)) != 0)
		fatal("pthread_create");
	return hp;
}

/*
 * Stop the workers taking jobs, or let them again: how a test makes
 * them starve as a machine with no idle CPU would.
 */
void
hashpool_pause_workers(struct hashpool *hp, int paused)
{
	pthread_mutex_lock(&hp->mu);
	hp->paused = paused;
	pthread_cond_broadcast(&hp->cv);
	pthread_mutex_unlock(&hp->mu);
}

/* Jobs the rescuer has taken over since the start (stats). */
uint64_t
hashpool_rescues(struct hashpool *hp)
{
	uint64_t	 n;

	pthread_mutex_lock(&hp->mu);
	n = hp->rescues;
	pthread_mutex_unlock(&hp->mu);
	return n;
}

/* Stop the threads and free the pool with whatever jobs are left. */
void
hashpool_free(struct hashpool *hp)
{
	struct hashjob	*j;
	int		 i;

	if (hp == NULL)
		return;
	pthread_mutex_lock(&hp->mu);
	hp->stop = 1;
	pthread_cond_broadcast(&hp->cv);
	pthread_cond_broadcast(&hp->rescue_cv);
	pthread_mutex_unlock(&hp->mu);
	for (i = 0; i < hp->nthreads; i++)
		pthread_join(hp->threads[i], NULL);
	if (hp->nthreads > 0)
		pthread_join(hp->rescuer, NULL);
	while ((j = TAILQ_FIRST(&hp->todo)) != NULL) {
		TAILQ_REMOVE(&hp->todo, j, entry);
		hashjob_free(j);
	}
	while ((j = TAILQ_FIRST(&hp->busy)) != NULL) {
		TAILQ_REMOVE(&hp->busy, j, entry);
		hashjob_free(j);
	}
	while ((j = TAILQ_FIRST(&hp->done)) != NULL) {
		TAILQ_REMOVE(&hp->done, j, entry);
		hashjob_free(j);
	}
	event_free(hp->done_ev);
	close(hp->pipe[0]);
	close(hp->pipe[1]);
	pthread_mutex_destroy(&hp->mu);
	pthread_cond_destroy(&hp->cv);
	pthread_cond_destroy(&hp->rescue_cv);
	free(hp);
}

/* A copy of s, or NULL for NULL. */
static char *
xstrdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/*
 * Hash or verify plain for p off the loop, then call cb with the line
 * that asked for it.  Reading from p stops until then.  -1 if too many
 * jobs are waiting already: the caller refuses the request.
 */
int
hashpool_submit(struct server *srv, struct peer *p, enum hashjob_kind kind,
    const char *plain, const char *stored, const char *line, size_t len,
    hashjob_cb cb)
{
	struct hashpool		*hp = srv->hashpool;
	struct hashjob		*j;
	struct hashjob_result	 r;

	if (hp->pending >= HASHPOOL_PENDING_MAX)
		return -1;
	j = xcalloc(1, sizeof *j);
	j->line = xmalloc(len + 1);
	j->kind = kind;
	j->peer = p;
	j->cb = cb;
	j->plain = xstrdup_or_null(plain);
	j->stored = xstrdup_or_null(stored);
	memcpy(j->line, line, len);
	j->line[len] = '\0';
	j->len = len;
	j->queued_ms = hashpool_now_ms();
	p->job = j;
	p->waiting = 1;
	bufferevent_disable(p->bev, EV_READ);
	hp->pending++;
	if (hp->nthreads == 0) {
		memset(&r, 0, sizeof r);
		hashjob_run(j, &r);
		j->ok = r.ok;
		memcpy(j->hash, r.hash, sizeof j->hash);
		explicit_bzero(&r, sizeof r);
		j->state = HASHJOB_DONE;
		TAILQ_INSERT_TAIL(&hp->done, j, entry);
		event_active(hp->done_ev, EV_READ, 0);
		return 0;
	}
	pthread_mutex_lock(&hp->mu);
	j->state = HASHJOB_TODO;
	TAILQ_INSERT_TAIL(&hp->todo, j, entry);
	pthread_cond_signal(&hp->cv);
	pthread_cond_signal(&hp->rescue_cv);
	pthread_mutex_unlock(&hp->mu);
	return 0;
}

/* p is being freed: its job, if any, finishes for nobody. */
void
hashpool_peer_gone(struct peer *p)
{
	if (p->job != NULL) {
		p->job->peer = NULL;
		p->job = NULL;
	}
}
