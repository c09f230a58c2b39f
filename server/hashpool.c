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
 * Idle CPU is not free on a small machine: a hash that runs while the
 * loop sleeps still takes memory bandwidth and caches from it, and the
 * rescuer's time is taken from everyone.  So all threads together
 * spend at most --hash-cpu percent of one CPU (their own CPU time,
 * measured, against a budget that refills with the wall clock and
 * saves up HASHPOOL_BURST_MS of it): a storm of logins makes the
 * logins wait in the queue (then "busy"), not the traffic.  The queue
 * is first in, first out and the budget always refills, so a queued
 * LOGIN is answered in bounded time.
 *
 * The hashing itself runs in helper processes, one per thread, forked
 * at start-up: yescrypt maps and unmaps its memory for every hash, and
 * in our own address space that takes the lock of the memory map and
 * shoots down TLB entries on every CPU the loop runs on; a hash thread
 * preempted while it holds that lock (and at idle priority it is
 * preempted by anything) stalls the loop's next fault or allocation
 * for as long as it waits for a CPU.  Only the secret and the stored
 * hash cross a socket pair.  A helper that has gone (the OOM killer,
 * an operator's kill) is noticed by its thread at the next hash (EOF or
 * EPIPE on the socket), and one stopped (SIGSTOP, a debugger) while its
 * thread waits for it is as good as gone once it has stayed stopped for
 * HASHPOOL_STOPPED_MS: the thread ends it, reaps it, forks a new one from
 * itself (at most one a HASHPOOL_RESTART_MS, so a helper that keeps
 * dying does not make the server fork for every login) and asks that
 * one, or else hashes in the thread; either way the LOGIN waiting for
 * it is answered.  The loop logs what happened (a thread does not log).
 *
 * The loop never waits for the pool's lock: a worker at idle priority
 * that is preempted while it holds the lock may not run again for as
 * long as the machine is busy, and the loop would stall behind it (a
 * priority inversion).  The loop only tries the lock; when it is held,
 * new jobs wait in an inbox and finished ones in a release list that
 * only the loop touches, and the loop tries again a moment later.
 *
 * With no threads (unit tests) a job runs inline, but its result still
 * arrives through the loop as a threaded one would.
 */
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
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
#define HASHPOOL_BURST_MS	200	/* wall time of budget kept unused */
#define HASHPOOL_MSG_MAX	4096	/* a request to a helper, at most */
#define HASHPOOL_RESTART_MS	1000	/* a new helper, at most one this often */
#define HASHPOOL_NOTE_MAX	384	/* a helper's fate, for the log */
#define HASHPOOL_STOPPED_MS	500	/* a helper stopped this long is lost */

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

/* A request to a helper process: the lengths, then the strings. */
struct hashpool_req {
	uint32_t		 kind;
	uint32_t		 plain_len;
	uint32_t		 stored_len;
};

/* A helper's answer, and the CPU time it spent on it. */
struct hashpool_rep {
	struct hashjob_result	 r;
	uint64_t		 cpu_us;
};

/* A thread of the pool and the helper process that hashes for it. */
struct hashpool_thread {
	struct hashpool		*hp;
	pthread_t		 tid;
	pid_t			 pid;		/* -1: none */
	int			 fd;		/* -1: hash in the thread */
	int			 rescuer;
	uint64_t		 next_start_ms;	/* no new helper before */
	char			 note[HASHPOOL_NOTE_MAX]; /* under mu: to log */
};

struct hashpool {
	struct server		*srv;
	/* The workers, then the rescuer. */
	struct hashpool_thread	 threads[HASHPOOL_THREADS_MAX + 1];
	int			 nthreads;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;		/* work for the workers */
	pthread_cond_t		 rescue_cv;	/* work for the rescuer */
	struct hashjob_list	 todo;		/* under mu */
	struct hashjob_list	 busy;		/* under mu */
	struct hashjob_list	 done;		/* under mu */
	int			 stop;		/* under mu */
	int			 paused;	/* under mu: workers idle (tests) */
	uint64_t		 rescues;	/* atomic: jobs rescued */
	int			 cpu_pct;	/* --hash-cpu; 0: no budget */
	int			 rescuer_nice;	/* the loop's nice + HASHPOOL_NICE */
	int64_t			 budget_us;	/* under mu: CPU left */
	uint64_t		 budget_at_us;	/* under mu: refilled up to */
	uint64_t		 submitted;	/* loop only: jobs ever */
	int			 pending;	/* loop only: not back yet */
	struct hashjob_list	 inbox;		/* loop only: not queued yet */
	struct hashjob_list	 release;	/* loop only: to free */
	int			 pipe[2];
	struct event		*done_ev;
	struct event		*retry_ev;	/* the lock was busy */
};

static int	 hashpool_helper_start(struct hashpool_thread *, char *, size_t);

/*
 * A clock in us: the monotonic one for the threads (now_ms() is the
 * loop's, and tests freeze it), or a thread's CPU time.
 */
static uint64_t
hashpool_clock_us(clockid_t clock)
{
	struct timespec	 ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The monotonic clock in ms. */
static uint64_t
hashpool_now_ms(void)
{
	return hashpool_clock_us(CLOCK_MONOTONIC) / 1000;
}

/*
 * Under mu: wait on cv for at most us microseconds.  The conditions
 * are on the monotonic clock (hashpool_new).
 */
static void
hashpool_timedwait(struct hashpool *hp, pthread_cond_t *cv, uint64_t us)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(us / 1000000);
	ts.tv_nsec += (long)(us % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	(void)pthread_cond_timedwait(cv, &hp->mu, &ts);
}

/*
 * Under mu: refill the CPU budget up to now; 0 if a hash may start, else
 * how many us until it may.
 */
static uint64_t
hashpool_budget_wait(struct hashpool *hp)
{
	uint64_t	 now, gain;
	int64_t		 cap;

	if (hp->cpu_pct == 0)
		return 0;
	now = hashpool_clock_us(CLOCK_MONOTONIC);
	cap = (int64_t)hp->cpu_pct * HASHPOOL_BURST_MS * 10;
	gain = (now - hp->budget_at_us) * (uint64_t)hp->cpu_pct / 100;
	/* Only the time turned into budget is used up: no rounding loss. */
	hp->budget_at_us += gain * 100 / (uint64_t)hp->cpu_pct;
	hp->budget_us += (int64_t)gain;
	if (hp->budget_us >= cap) {
		hp->budget_us = cap;
		hp->budget_at_us = now;
	}
	if (hp->budget_us > 0)
		return 0;
	return (uint64_t)(-hp->budget_us) * 100 / (uint64_t)hp->cpu_pct + 1;
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
 * loop (1: wake it); a second one (the rescuer and a worker both ran
 * it) is dropped, and whoever is last frees a job the loop has
 * finished with.
 */
static int
hashjob_finish(struct hashpool *hp, struct hashjob *j,
    struct hashjob_result *r)
{
	int	 wake = 0;

	j->runners--;
	if (j->state == HASHJOB_BUSY) {
		j->ok = r->ok;
		memcpy(j->hash, r->hash, sizeof j->hash);
		TAILQ_REMOVE(&hp->busy, j, entry);
		TAILQ_INSERT_TAIL(&hp->done, j, entry);
		j->state = HASHJOB_DONE;
		wake = 1;
	} else if (j->orphan && j->runners == 0)
		hashjob_free(j);
	explicit_bzero(r, sizeof *r);
	return wake;
}

/* Whether process pid is stopped (SIGSTOP, SIGTSTP, a debugger). */
static int
hashpool_pid_stopped(pid_t pid)
{
	char	 path[64], buf[512], *p;
	char	 st;
	FILE	*f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	p = fgets(buf, sizeof buf, f);
	fclose(f);
	/* "pid (comm) state ...": the name may hold a ')'. */
	if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c", &st) != 1)
		return 0;
	return st == 'T' || st == 't';
}

/*
 * Wait until t's helper has answered: 0; -1 (why in err) if it has
 * been stopped for HASHPOOL_STOPPED_MS, as good as gone: a helper left
 * stopped would hold its thread, and with the rescuer's, every LOGIN
 * and the server's shutdown.  One that is slow (at idle priority on a
 * busy machine it may wait long for a CPU) is waited for, however
 * long.  -2 when the pool stops meanwhile: the thread hashes the job
 * itself and the helper is ended with the pool.
 */
static int
hashpool_wait_answer(struct hashpool_thread *t, char *err, size_t errlen)
{
	struct pollfd	 pfd;
	int		 n, stopped = 0, stop;

	pfd.fd = t->fd;
	pfd.events = POLLIN;
	for (;;) {
		n = poll(&pfd, 1, HASHPOOL_STOPPED_MS / 2);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		pthread_mutex_lock(&t->hp->mu);
		stop = t->hp->stop;
		pthread_mutex_unlock(&t->hp->mu);
		if (stop)
			return -2;
		/* Seen stopped twice: not just caught in a SIGCONT. */
		if (n == 0 && t->pid > 0 && hashpool_pid_stopped(t->pid)) {
			if (++stopped >= 2) {
				snprintf(err, errlen, "stopped for %d ms",
				    HASHPOOL_STOPPED_MS / 2 * stopped);
				return -1;
			}
		} else if (n == 0)
			stopped = 0;
	}
}

/*
 * Have t's helper compute j into r: 0; -1 with why it failed (the
 * helper has gone, been stopped, or answered nonsense) in err; -2 if
 * the pool stops meanwhile.
 */
static int
hashpool_ask(struct hashpool_thread *t, const struct hashjob *j,
    struct hashjob_result *r, uint64_t *cpu_us, char *err, size_t errlen)
{
	struct hashpool_req	 req;
	struct hashpool_rep	 rep;
	uint8_t			 buf[HASHPOOL_MSG_MAX];
	size_t			 plen, slen, len;
	ssize_t			 n;

	plen = strlen(j->plain);
	slen = j->stored != NULL ? strlen(j->stored) : 0;
	len = sizeof req + plen + slen;
	req.kind = (uint32_t)j->kind;
	req.plain_len = (uint32_t)plen;
	req.stored_len = (uint32_t)slen;
	memcpy(buf, &req, sizeof req);
	memcpy(buf + sizeof req, j->plain, plen);
	if (slen > 0)
		memcpy(buf + sizeof req + plen, j->stored, slen);
	do
		n = send(t->fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	explicit_bzero(buf, len);
	if (n != (ssize_t)len) {
		snprintf(err, errlen, "send: %s", n == -1 ? strerror(errno) :
		    "short");
		return -1;
	}
	if ((n = hashpool_wait_answer(t, err, errlen)) != 0)
		return n;
	do
		n = recv(t->fd, &rep, sizeof rep, 0);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof rep) {
		snprintf(err, errlen, "recv: %s", n == -1 ? strerror(errno) :
		    n == 0 ? "end of file" : "short answer");
		explicit_bzero(&rep, sizeof rep);
		return -1;
	}
	*r = rep.r;
	r->hash[sizeof r->hash - 1] = '\0';
	*cpu_us = rep.cpu_us;
	explicit_bzero(&rep, sizeof rep);
	return 0;
}

/*
 * t's helper failed (why: err): end it if it has not ended, reap it and
 * say how it went into t's note, then fork a new one if it is time.
 */
static void
hashpool_helper_lost(struct hashpool_thread *t, const char *err, char *note,
    size_t notelen)
{
	char	 how[64], again[128], why[64];
	pid_t	 pid = t->pid, r;
	int	 st = 0;

	close(t->fd);
	t->fd = -1;
	snprintf(how, sizeof how, "gone");
	if (pid > 0) {
		/* Still ours until reaped: the pid cannot be another's. */
		(void)kill(pid, SIGKILL);
		while ((r = waitpid(pid, &st, 0)) == -1 && errno == EINTR)
			;
		if (r != pid)
			snprintf(how, sizeof how, "waitpid: %s",
			    strerror(errno));
		else if (WIFSIGNALED(st))
			snprintf(how, sizeof how, "killed by signal %d",
			    WTERMSIG(st));
		else if (WIFEXITED(st))
			snprintf(how, sizeof how, "exited with status %d",
			    WEXITSTATUS(st));
	}
	t->pid = -1;
	if (hashpool_now_ms() < t->next_start_ms)
		snprintf(again, sizeof again, "hashing in the thread for now");
	else if (hashpool_helper_start(t, why, sizeof why) == 0)
		snprintf(again, sizeof again, "started another, pid %ld",
		    (long)t->pid);
	else
		snprintf(again, sizeof again, "no other (%s), hashing in the "
		    "thread", why);
	snprintf(note, notelen, "hash helper pid %ld (%s): %s, %s; %s",
	    (long)pid, t->rescuer ? "rescuer" : "worker", err, how, again);
}

/*
 * Have t's helper compute j into r; -1 if there is none (then the
 * thread hashes itself).  A helper that has gone is replaced and the
 * new one asked; note says what happened, for the log.
 */
static int
hashpool_remote(struct hashpool_thread *t, const struct hashjob *j,
    struct hashjob_result *r, uint64_t *cpu_us, char *note, size_t notelen)
{
	char	 err[64];
	int	 tries, rc;

	if (sizeof (struct hashpool_req) + strlen(j->plain) +
	    (j->stored != NULL ? strlen(j->stored) : 0) > HASHPOOL_MSG_MAX)
		return -1;
	/* A helper that could not be forked before: try again. */
	if (t->fd == -1 && hashpool_now_ms() >= t->next_start_ms &&
	    hashpool_helper_start(t, err, sizeof err) != 0)
		snprintf(note, notelen, "hash helper (%s): %s; hashing in "
		    "the thread", t->rescuer ? "rescuer" : "worker", err);
	for (tries = 0; tries < 2 && t->fd != -1; tries++) {
		if ((rc = hashpool_ask(t, j, r, cpu_us, err, sizeof err)) == 0)
			return 0;
		if (rc == -2)
			break;
		hashpool_helper_lost(t, err, note, notelen);
	}
	return -1;
}

/*
 * A thread computes j (taken under mu, which it releases meanwhile),
 * pays for it from the budget and hands the result on.
 */
static void
hashpool_run_locked(struct hashpool_thread *t, struct hashjob *j)
{
	struct hashpool		*hp = t->hp;
	struct hashjob_result	 r;
	uint64_t		 cpu;
	char			 note[HASHPOOL_NOTE_MAX] = "";
	int			 wake;

	hashjob_take(hp, j);
	pthread_mutex_unlock(&hp->mu);
	memset(&r, 0, sizeof r);
	if (hashpool_remote(t, j, &r, &cpu, note, sizeof note) != 0) {
		cpu = hashpool_clock_us(CLOCK_THREAD_CPUTIME_ID);
		hashjob_run(j, &r);
		cpu = hashpool_clock_us(CLOCK_THREAD_CPUTIME_ID) - cpu;
	}
	pthread_mutex_lock(&hp->mu);
	hp->budget_us -= (int64_t)cpu;
	/* What befell the helper is the loop's to log. */
	if (note[0] != '\0')
		memcpy(t->note, note, sizeof t->note);
	wake = hashjob_finish(hp, j, &r) || note[0] != '\0';
	if (wake) {
		/* Not under the lock: the loop wakes and wants it. */
		pthread_mutex_unlock(&hp->mu);
		(void)!write(hp->pipe[1], "", 1);
		pthread_mutex_lock(&hp->mu);
	}
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
	struct hashpool_thread	*t = arg;
	struct hashpool		*hp = t->hp;
	uint64_t		 wait;

	hashpool_idle_priority();
	pthread_mutex_lock(&hp->mu);
	for (;;) {
		while (!hp->stop && (hp->paused || TAILQ_EMPTY(&hp->todo)))
			pthread_cond_wait(&hp->cv, &hp->mu);
		if (hp->stop)
			break;
		if ((wait = hashpool_budget_wait(hp)) > 0) {
			hashpool_timedwait(hp, &hp->cv, wait);
			continue;
		}
		hashpool_run_locked(t, TAILQ_FIRST(&hp->todo));
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

/*
 * Lower the calling thread below the loop, but not to idle: to the
 * loop's niceness plus HASHPOOL_NICE, taken once at start (a helper
 * forked from the rescuer starts at the rescuer's already).
 */
static void
hashpool_rescuer_priority(struct hashpool *hp)
{
	/* The loop, which everyone waits on, first. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
	    hp->rescuer_nice);
}

/* The rescuer: computes, at ordinary priority, any job kept waiting. */
static void *
hashpool_rescuer(void *arg)
{
	struct hashpool_thread	*t = arg;
	struct hashpool		*hp = t->hp;
	struct hashjob		*j;
	uint64_t		 now, due, wait;

	hashpool_rescuer_priority(hp);
	pthread_mutex_lock(&hp->mu);
	while (!hp->stop) {
		if ((j = hashpool_oldest(hp)) == NULL) {
			pthread_cond_wait(&hp->rescue_cv, &hp->mu);
			continue;
		}
		now = hashpool_now_ms();
		due = j->queued_ms + HASHPOOL_RESCUE_MS;
		if (now < due) {
			hashpool_timedwait(hp, &hp->rescue_cv,
			    (due - now) * 1000);
			continue;
		}
		/* Rescued or not, a hash is paid from the one budget. */
		if ((wait = hashpool_budget_wait(hp)) > 0) {
			hashpool_timedwait(hp, &hp->rescue_cv, wait);
			continue;
		}
		j->rescued = 1;
		__atomic_add_fetch(&hp->rescues, 1, __ATOMIC_RELAXED);
		hashpool_run_locked(t, j);
	}
	pthread_mutex_unlock(&hp->mu);
	return NULL;
}

/* The lock was busy: try again in a millisecond. */
static void
hashpool_retry_soon(struct hashpool *hp)
{
	struct timeval	 tv = { 0, 1000 };

	if (!evtimer_pending(hp->retry_ev, NULL))
		evtimer_add(hp->retry_ev, &tv);
}

/*
 * On the loop, under mu: queue the inbox for the threads, free (or
 * leave to their last runner) the jobs the loop is done with, and take
 * the finished ones into done.
 */
static void
hashpool_sync_locked(struct hashpool *hp, struct hashjob_list *done)
{
	struct hashjob	*j;
	int		 queued = 0;

	while ((j = TAILQ_FIRST(&hp->inbox)) != NULL) {
		TAILQ_REMOVE(&hp->inbox, j, entry);
		j->state = HASHJOB_TODO;
		TAILQ_INSERT_TAIL(&hp->todo, j, entry);
		queued = 1;
	}
	if (queued) {
		pthread_cond_broadcast(&hp->cv);
		pthread_cond_signal(&hp->rescue_cv);
	}
	while ((j = TAILQ_FIRST(&hp->release)) != NULL) {
		TAILQ_REMOVE(&hp->release, j, entry);
		/* A second runner may still be reading it. */
		if (j->runners > 0)
			j->orphan = 1;
		else
			hashjob_free(j);
	}
	if (done != NULL)
		TAILQ_CONCAT(done, &hp->done, entry);
}

/*
 * On the loop: hand the threads what is new, and finish every job that
 * is done; without ever waiting for the lock.
 */
static void
hashpool_sync(struct hashpool *hp)
{
	struct hashjob_list	 done;
	struct hashjob		*j;
	char			 notes[HASHPOOL_THREADS_MAX + 1][HASHPOOL_NOTE_MAX];
	int			 i, n = 0;

	TAILQ_INIT(&done);
	if (pthread_mutex_trylock(&hp->mu) != 0) {
		hashpool_retry_soon(hp);
		return;
	}
	hashpool_sync_locked(hp, &done);
	for (i = 0; hp->nthreads > 0 && i <= hp->nthreads; i++) {
		if (hp->threads[i].note[0] == '\0')
			continue;
		memcpy(notes[n++], hp->threads[i].note, HASHPOOL_NOTE_MAX);
		hp->threads[i].note[0] = '\0';
	}
	pthread_mutex_unlock(&hp->mu);
	for (i = 0; i < n; i++)
		log_warnx("%s", notes[i]);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		hp->pending--;
		if (j->peer != NULL) {
			j->peer->job = NULL;
			peer_resume(j->peer, j->cb, j->line, j->len, j->ok,
			    j->kind == HASHJOB_VERIFY ? j->stored : j->hash);
		}
		TAILQ_INSERT_TAIL(&hp->release, j, entry);
	}
	if (TAILQ_EMPTY(&hp->release) && TAILQ_EMPTY(&hp->inbox))
		return;
	if (pthread_mutex_trylock(&hp->mu) != 0) {
		hashpool_retry_soon(hp);
		return;
	}
	hashpool_sync_locked(hp, NULL);
	pthread_mutex_unlock(&hp->mu);
}

/* Back on the loop: a job is done (or the lock was busy before). */
static void
hashpool_done_cb(evutil_socket_t fd, short events, void *arg)
{
	struct hashpool	*hp = arg;
	char		 buf[256];

	(void)events;
	if (fd != -1)
		while (read(hp->pipe[0], buf, sizeof buf) > 0)
			;
	hashpool_sync(hp);
}

/* The lock was busy a moment ago: try again. */
static void
hashpool_retry_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	hashpool_sync(arg);
}

/*
 * A helper process: hash what its thread sends on fd, at the thread's
 * priority, until the thread closes it (or the server dies).
 */
static void __attribute__((noreturn))
hashpool_helper_main(struct hashpool *hp, int fd, int rescuer)
{
	struct hashpool_req	 req;
	struct hashpool_rep	 rep;
	struct hashjob		 j;
	uint8_t			 buf[HASHPOOL_MSG_MAX];
	char			 plain[HASHPOOL_MSG_MAX];
	char			 stored[HASHPOOL_MSG_MAX];
	uint64_t		 cpu;
	ssize_t			 n;

	if (rescuer)
		hashpool_rescuer_priority(hp);
	else
		hashpool_idle_priority();
	for (;;) {
		n = recv(fd, buf, sizeof buf, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n < (ssize_t)sizeof req)
			_exit(0);
		memcpy(&req, buf, sizeof req);
		if (req.plain_len >= sizeof plain ||
		    req.stored_len >= sizeof stored ||
		    (size_t)n != sizeof req + req.plain_len + req.stored_len)
			_exit(1);
		memcpy(plain, buf + sizeof req, req.plain_len);
		plain[req.plain_len] = '\0';
		memcpy(stored, buf + sizeof req + req.plain_len,
		    req.stored_len);
		stored[req.stored_len] = '\0';
		memset(&j, 0, sizeof j);
		j.kind = req.kind == HASHJOB_VERIFY ? HASHJOB_VERIFY :
		    HASHJOB_HASH;
		j.plain = plain;
		j.stored = stored;
		memset(&rep, 0, sizeof rep);
		cpu = hashpool_clock_us(CLOCK_THREAD_CPUTIME_ID);
		hashjob_run(&j, &rep.r);
		rep.cpu_us = hashpool_clock_us(CLOCK_THREAD_CPUTIME_ID) - cpu;
		n = send(fd, &rep, sizeof rep, MSG_NOSIGNAL);
		explicit_bzero(buf, sizeof buf);
		explicit_bzero(plain, sizeof plain);
		explicit_bzero(&rep, sizeof rep);
		if (n != (ssize_t)sizeof rep)
			_exit(0);
	}
}

/*
 * Fork t's helper process, from the loop at start or from t's thread
 * later (then it dies with that thread).  It keeps only its end of the
 * socket pair and dies with the server.  Without one (-1, why in err)
 * t hashes in the thread, and tries again in HASHPOOL_RESTART_MS.
 */
static int
hashpool_helper_start(struct hashpool_thread *t, char *err, size_t errlen)
{
	pid_t	 parent = getpid();
	int	 sv[2];

	t->pid = -1;
	t->fd = -1;
	t->next_start_ms = hashpool_now_ms() + HASHPOOL_RESTART_MS;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	if ((t->pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (t->pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		/*
		 * The server's handlers are the server's.  A SIGHUP meant
		 * for the server (a terminal's hangup, killall -HUP) is not
		 * the helper's business; ps tells it apart by its name.
		 */
		(void)prctl(PR_SET_NAME, "activity-hash");
		(void)signal(SIGHUP, SIG_IGN);
		(void)signal(SIGINT, SIG_DFL);
		(void)signal(SIGTERM, SIG_DFL);
		if (sv[1] != 3 && dup2(sv[1], 3) == -1)
			_exit(1);
		(void)close_range(4, ~0U, 0);
		hashpool_helper_main(t->hp, 3, t->rescuer);
	}
	close(sv[1]);
	t->fd = sv[0];
	return 0;
}

/*
 * A pool of nthreads idle-priority workers and the rescuer, spending
 * at most cpu_pct percent of one CPU (0: no limit); with nthreads 0,
 * none: jobs run inline (unit tests).
 */
struct hashpool *
hashpool_new(struct server *srv, int nthreads, int cpu_pct)
{
	struct hashpool		*hp;
	pthread_condattr_t	 ca;
	char			 err[64];
	int			 i;

	hp = xcalloc(1, sizeof *hp);
	hp->srv = srv;
	hp->rescuer_nice = getpriority(PRIO_PROCESS, 0) + HASHPOOL_NICE;
	hp->nthreads = nthreads < HASHPOOL_THREADS_MAX ? nthreads :
	    HASHPOOL_THREADS_MAX;
	pthread_mutex_init(&hp->mu, NULL);
	hp->cpu_pct = cpu_pct;
	hp->budget_at_us = hashpool_clock_us(CLOCK_MONOTONIC);
	hp->budget_us = (int64_t)cpu_pct * HASHPOOL_BURST_MS * 10;
	/* Timed waits count on the monotonic clock, as the queue does. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hp->cv, &ca);
	pthread_cond_init(&hp->rescue_cv, &ca);
	pthread_condattr_destroy(&ca);
	TAILQ_INIT(&hp->todo);
	TAILQ_INIT(&hp->busy);
	TAILQ_INIT(&hp->done);
	TAILQ_INIT(&hp->inbox);
	TAILQ_INIT(&hp->release);
	if (pipe2(hp->pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	hp->done_ev = event_new(srv->base, hp->pipe[0], EV_READ | EV_PERSIST,
	    hashpool_done_cb, hp);
	hp->retry_ev = evtimer_new(srv->base, hashpool_retry_cb, hp);
	if (hp->done_ev == NULL || hp->retry_ev == NULL ||
	    event_add(hp->done_ev, NULL) != 0)
		fatalx("event_new");
	/* The helpers first: fork before there are threads. */
	for (i = 0; hp->nthreads > 0 && i <= hp->nthreads; i++) {
		hp->threads[i].hp = hp;
		hp->threads[i].rescuer = i == hp->nthreads;
		if (hashpool_helper_start(&hp->threads[i], err,
		    sizeof err) != 0)
			log_warnx("hash helper: %s; hashing in the thread", err);
		/* The first to die is replaced at once, the next ones not. */
		hp->threads[i].next_start_ms = 0;
	}
	for (i = 0; hp->nthreads > 0 && i <= hp->nthreads; i++)
		if ((errno = pthread_create(&hp->threads[i].tid, NULL,
		    hp->threads[i].rescuer ? hashpool_rescuer :
		    hashpool_worker, &hp->threads[i])) != 0)
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

/* Hashes asked of the pool since the start (stats, tests). */
uint64_t
hashpool_submitted(struct hashpool *hp)
{
	return hp->submitted;
}

/* Jobs the rescuer has taken over since the start (stats). */
uint64_t
hashpool_rescues(struct hashpool *hp)
{
	/* Not the lock: the loop asks (metrics). */
	return __atomic_load_n(&hp->rescues, __ATOMIC_RELAXED);
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
	for (i = 0; hp->nthreads > 0 && i <= hp->nthreads; i++) {
		pthread_join(hp->threads[i].tid, NULL);
		/*
		 * A helper holds nothing worth a clean exit, and one that
		 * is stopped would never see its socket close.
		 */
		if (hp->threads[i].fd != -1)
			close(hp->threads[i].fd);
		if (hp->threads[i].pid > 0) {
			(void)kill(hp->threads[i].pid, SIGKILL);
			(void)waitpid(hp->threads[i].pid, NULL, 0);
		}
	}
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
	while ((j = TAILQ_FIRST(&hp->inbox)) != NULL) {
		TAILQ_REMOVE(&hp->inbox, j, entry);
		hashjob_free(j);
	}
	while ((j = TAILQ_FIRST(&hp->release)) != NULL) {
		TAILQ_REMOVE(&hp->release, j, entry);
		hashjob_free(j);
	}
	event_free(hp->done_ev);
	event_free(hp->retry_ev);
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
	hp->submitted++;
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
	TAILQ_INSERT_TAIL(&hp->inbox, j, entry);
	hashpool_sync(hp);
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
