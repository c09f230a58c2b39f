/*
 * Limits against a hostile client, kept per connection and per address:
 * how fast registrations may come, and a growing delay after failed
 * logins.  Rates are GCRA (a token bucket held as one time stamp: the
 * "theoretical arrival time" of the next allowed event), so a limit costs
 * one number per key.  The address table is capped; the least recently
 * used address is forgotten first, so a flood of addresses evicts old
 * entries instead of locking newcomers out.
 */
#include <sys/queue.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "limit.h"
#include "log.h"
#include "server.h"
#include "strmap.h"
#include "xmalloc.h"

#define LIMIT_ADDR_MAX		65536	/* addresses remembered */
#define LIMIT_FAIL_FREE		5	/* failed logins without a delay */
#define LIMIT_FAIL_DELAY_MAX_MS	60000
#define LIMIT_FAIL_FORGET_MS	(15 * 60 * 1000)
#define LIMIT_LOG_MS		1000	/* LIMIT_LOG_BURST log lines per */
#define LIMIT_LOG_BURST		10

struct limit_addr {
	char			 host[64];
	uint64_t		 reg_tat;	/* GCRA state: registrations */
	int			 fails;		/* failed logins, recent */
	uint64_t		 fail_ms;	/* the last one */
	uint64_t		 locked_until_ms;
	TAILQ_ENTRY(limit_addr)	 lru;		/* most recent last */
};

struct limit_table {
	struct strmap		*map;
	TAILQ_HEAD(, limit_addr) lru;
	size_t			 n;
	uint64_t		 log_window_ms;
	unsigned		 log_lines;	/* in the window */
	unsigned		 log_suppressed;
};

struct limit_table *
limit_new(void)
{
	struct limit_table	*t;

	t = xcalloc(1, sizeof *t);
	t->map = strmap_new();
	TAILQ_INIT(&t->lru);
	return t;
}

void
limit_free(struct limit_table *t)
{
	if (t == NULL)
		return;
	strmap_free_values(t->map);
	free(t);
}

/* The host part of a peer's "host:port" address. */
static void
limit_host(const struct peer *p, char *host, size_t len)
{
	const char	*colon = strrchr(p->addr, ':');
	size_t		 n = colon != NULL ? (size_t)(colon - p->addr) :
			    strlen(p->addr);

	if (n >= len)
		n = len - 1;
	memcpy(host, p->addr, n);
	host[n] = '\0';
}

/* The entry of p's address, made (evicting the oldest) if need be. */
static struct limit_addr *
limit_addr(struct limit_table *t, const struct peer *p)
{
	struct limit_addr	*a;
	char			 host[64];

	limit_host(p, host, sizeof host);
	if ((a = strmap_get(t->map, host)) != NULL) {
		TAILQ_REMOVE(&t->lru, a, lru);
		TAILQ_INSERT_TAIL(&t->lru, a, lru);
		return a;
	}
	if (t->n >= LIMIT_ADDR_MAX) {
		a = TAILQ_FIRST(&t->lru);
		TAILQ_REMOVE(&t->lru, a, lru);
		strmap_del(t->map, a->host);
		free(a);
		t->n--;
	}
	a = xcalloc(1, sizeof *a);
	snprintf(a->host, sizeof a->host, "%s", host);
	strmap_put(t->map, a->host, a);
	TAILQ_INSERT_TAIL(&t->lru, a, lru);
	t->n++;
	return a;
}

/*
 * GCRA: `per_min` events a minute, up to per_min at once.  Returns 0 and
 * counts the event if allowed, else -1 (the event is not counted).
 */
static int
limit_gcra(uint64_t *tat, int per_min, uint64_t now)
{
	uint64_t	 t = 60000 / (uint64_t)per_min;
	uint64_t	 burst = t * (uint64_t)(per_min - 1);

	if (t == 0)
		t = 1;
	if (*tat < now)
		*tat = now;
	if (*tat - now > burst)
		return -1;
	*tat += t;
	return 0;
}

/*
 * Log at info, at most LIMIT_LOG_BURST lines each LIMIT_LOG_MS: a flood
 * of failures must not become a flood of log lines.  What was dropped is
 * counted in the next line that goes out.
 */
static void
limit_log(struct limit_table *t, uint64_t now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
limit_log(struct limit_table *t, uint64_t now, const char *fmt, ...)
{
	char	 msg[256];
	va_list	 ap;

	if (now >= t->log_window_ms + LIMIT_LOG_MS) {
		t->log_window_ms = now;
		t->log_lines = 0;
	}
	if (t->log_lines >= LIMIT_LOG_BURST) {
		t->log_suppressed++;
		return;
	}
	t->log_lines++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (t->log_suppressed > 0)
		log_info("%s (and %u more limit messages not logged)", msg,
		    t->log_suppressed);
	else
		log_info("%s", msg);
	t->log_suppressed = 0;
}

/*
 * May this connection register one more user now?  0 if so (and it is
 * counted), else -1 with the reason for REGISTER_FAILED in why.
 */
int
limit_register(struct server *srv, struct peer *p, char *why, size_t len)
{
	struct limit_table	*t = srv->limits;
	struct limit_addr	*a;
	uint64_t		 now = now_ms(), conn_tat = p->reg_tat;

	if (srv->cfg.register_conn_rate > 0 &&
	    limit_gcra(&conn_tat, srv->cfg.register_conn_rate, now) != 0) {
		snprintf(why, len, "too many registrations on this "
		    "connection (at most %d a minute)",
		    srv->cfg.register_conn_rate);
		limit_log(t, now, "%s: registration refused: over %d a "
		    "minute on one connection", peer_name(p),
		    srv->cfg.register_conn_rate);
		return -1;
	}
	if (srv->cfg.register_rate > 0) {
		a = limit_addr(t, p);
		if (limit_gcra(&a->reg_tat, srv->cfg.register_rate, now) != 0) {
			snprintf(why, len, "too many registrations from your "
			    "address (at most %d a minute)",
			    srv->cfg.register_rate);
			limit_log(t, now, "%s: registration refused: over %d "
			    "a minute from %s", peer_name(p),
			    srv->cfg.register_rate, a->host);
			return -1;
		}
	}
	p->reg_tat = conn_tat;
	return 0;
}

/*
 * May a LOGIN with a secret be checked now?  0 if so; else -1 and the
 * milliseconds until it may, so a guesser cannot test secrets faster
 * than the delay allows (the secret is not even looked at).
 */
int
limit_login_allowed(struct server *srv, struct peer *p, uint64_t *wait_ms)
{
	struct limit_addr	*a;
	uint64_t		 now = now_ms();
	char			 host[64];

	limit_host(p, host, sizeof host);
	if ((a = strmap_get(srv->limits->map, host)) == NULL ||
	    now >= a->locked_until_ms)
		return 0;
	*wait_ms = a->locked_until_ms - now;
	limit_log(srv->limits, now, "%s: login refused: %d failed logins "
	    "from %s, next allowed in %llu ms", peer_name(p), a->fails,
	    a->host, (unsigned long long)*wait_ms);
	return -1;
}

/*
 * A LOGIN from p failed.  After LIMIT_FAIL_FREE failures in a row the
 * address waits before its next attempt, twice as long each time up to
 * LIMIT_FAIL_DELAY_MAX_MS; a quiet quarter of an hour forgives it.
 */
void
limit_login_failed(struct server *srv, struct peer *p)
{
	struct limit_addr	*a;
	uint64_t		 now = now_ms(), delay;
	int			 over;

	if (srv->cfg.login_fail_delay_ms == 0)
		return;
	a = limit_addr(srv->limits, p);
	if (a->fails > 0 && now - a->fail_ms > LIMIT_FAIL_FORGET_MS)
		a->fails = 0;
	a->fails++;
	a->fail_ms = now;
	if ((over = a->fails - LIMIT_FAIL_FREE) <= 0) {
		limit_log(srv->limits, now, "%s: failed login (%d in a row "
		    "from %s)", peer_name(p), a->fails, a->host);
		return;
	}
	delay = (uint64_t)srv->cfg.login_fail_delay_ms;
	while (--over > 0 && delay < LIMIT_FAIL_DELAY_MAX_MS)
		delay *= 2;
	if (delay > LIMIT_FAIL_DELAY_MAX_MS)
		delay = LIMIT_FAIL_DELAY_MAX_MS;
	a->locked_until_ms = now + delay;
	limit_log(srv->limits, now, "%s: %d failed logins from %s; its next "
	    "attempt waits %llu ms", peer_name(p), a->fails, a->host,
	    (unsigned long long)delay);
}
