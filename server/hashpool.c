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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth.h"
#include "log.h"
#include "secret.h"
#include "server.h"
#include "xmalloc.h"

#define HASHPOOL_PREFIX		"$y$"	/* yescrypt */
#define HASHPOOL_NICE		10	/* workers' niceness above the loop */

struct hashjob {
	TAILQ_ENTRY(hashjob)	 entry;
	enum hashjob_kind	 kind;
	struct peer		*peer;		/* NULL once it has gone */
	hashjob_cb		 cb;
	char			*plain;		/* wiped before it is freed */
	char			*stored;	/* VERIFY: the hash to match */
	char			*line;		/* the command to finish */
	size_t			 len;
	int			 ok;		/* VERIFY: it matched */
	char			 hash[CRYPT_OUTPUT_SIZE]; /* HASH: the result */
};
TAILQ_HEAD(hashjob_list, hashjob);

struct hashpool {
	struct server		*srv;
	pthread_t		 threads[HASHPOOL_THREADS_MAX];
	int			 nthreads;
	int			 started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct hashjob_list	 todo;		/* under mu */
	struct hashjob_list	 done;		/* under mu */
	int			 stop;		/* under mu */
	int			 pending;	/* loop only: not back yet */
	int			 pipe[2];
	struct event		*done_ev;
};

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
	if ((cd = calloc(1, sizeof *cd)) == NULL)
		fatal("calloc");
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
	if ((cd = calloc(1, sizeof *cd)) == NULL)
		fatal("calloc");
	h = crypt_r(plain, stored, cd);
	ok = h != NULL && h[0] != '*' && strlen(h) == strlen(stored) &&
	    auth_equal(h, stored, strlen(stored));
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

static void
hashjob_run(struct hashjob *j)
{
	if (j->kind == HASHJOB_VERIFY)
		j->ok = hashpool_verify(j->plain, j->stored);
	else
		j->ok = hashpool_hash(j->plain, j->hash, sizeof j->hash) == 0;
}

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

static void *
hashpool_worker(void *arg)
{
	struct hashpool	*hp = arg;
	struct hashjob	*j;
	char		 c = 1;

	/*
	 * Below the event loop in the scheduler: on a busy machine the
	 * loop, which every client waits on, gets the CPU first, and a
	 * login waits a little longer instead.
	 */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    getpriority(PRIO_PROCESS, 0) + HASHPOOL_NICE);
	pthread_mutex_lock(&hp->mu);
	for (;;) {
		while (!hp->stop && TAILQ_EMPTY(&hp->todo))
			pthread_cond_wait(&hp->cv, &hp->mu);
		if (hp->stop)
			break;
		j = TAILQ_FIRST(&hp->todo);
		TAILQ_REMOVE(&hp->todo, j, entry);
		pthread_mutex_unlock(&hp->mu);
		hashjob_run(j);
		pthread_mutex_lock(&hp->mu);
		TAILQ_INSERT_TAIL(&hp->done, j, entry);
		(void)!write(hp->pipe[1], &c, 1);
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
		hashjob_free(j);
	}
}

struct hashpool *
hashpool_new(struct server *srv, int nthreads)
{
	struct hashpool	*hp;
	int		 i;

	if ((hp = calloc(1, sizeof *hp)) == NULL)
		fatal("calloc");
	hp->srv = srv;
	hp->nthreads = nthreads < HASHPOOL_THREADS_MAX ? nthreads :
	    HASHPOOL_THREADS_MAX;
	pthread_mutex_init(&hp->mu, NULL);
	pthread_cond_init(&hp->cv, NULL);
	TAILQ_INIT(&hp->todo);
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
	return hp;
}

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
	pthread_mutex_unlock(&hp->mu);
	for (i = 0; i < hp->nthreads; i++)
		pthread_join(hp->threads[i], NULL);
	while ((j = TAILQ_FIRST(&hp->todo)) != NULL) {
		TAILQ_REMOVE(&hp->todo, j, entry);
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
	struct hashpool	*hp = srv->hashpool;
	struct hashjob	*j;

	if (hp->pending >= HASHPOOL_PENDING_MAX)
		return -1;
	if ((j = calloc(1, sizeof *j)) == NULL ||
	    (j->line = malloc(len + 1)) == NULL)
		fatal("calloc");
	j->kind = kind;
	j->peer = p;
	j->cb = cb;
	j->plain = xstrdup_or_null(plain);
	j->stored = xstrdup_or_null(stored);
	memcpy(j->line, line, len);
	j->line[len] = '\0';
	j->len = len;
	p->job = j;
	p->waiting = 1;
	bufferevent_disable(p->bev, EV_READ);
	hp->pending++;
	if (hp->nthreads == 0) {
		hashjob_run(j);
		TAILQ_INSERT_TAIL(&hp->done, j, entry);
		event_active(hp->done_ev, EV_READ, 0);
		return 0;
	}
	pthread_mutex_lock(&hp->mu);
	TAILQ_INSERT_TAIL(&hp->todo, j, entry);
	pthread_cond_signal(&hp->cv);
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
