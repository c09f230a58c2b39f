/*
 * The failover schedule.  Backoff is bounded so a client never waits
 * long once a server is back, and jittered so that every client of a
 * dead server does not arrive at the same backup in the same instant.
 */
#include <string.h>

#include "failover.h"

/* No backups yet, nothing in progress. */
void
failover_init(struct failover *fo, unsigned base_ms, unsigned max_ms)
{
	memset(fo, 0, sizeof *fo);
	fo->base_ms = base_ms != 0 ? base_ms : FO_BASE_MS;
	fo->max_ms = max_ms != 0 ? max_ms : FO_MAX_MS;
	if (fo->max_ms < fo->base_ms)
		fo->max_ms = fo->base_ms;
}

/* Do two targets name the same server? */
int
failover_same(const struct fo_target *a, const struct fo_target *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Remember the latest BACKUP_LIST (cut at FO_BACKUPS_MAX entries). */
void
failover_set_backups(struct failover *fo, const struct fo_target *t, int n)
{
	if (n > FO_BACKUPS_MAX)
		n = FO_BACKUPS_MAX;
	if (n < 0)
		n = 0;
	if (n > 0)
		memcpy(fo->backups, t, (size_t)n * sizeof *t);
	fo->nbackups = n;
}

/* Add a target to the order of tries unless it is there already. */
static void
ring_add(struct failover *fo, const struct fo_target *t)
{
	int	 i;

	if (t->port <= 0 || t->host[0] == '\0' || fo->nring >= FO_RING_MAX)
		return;
	for (i = 0; i < fo->nring; i++)
		if (failover_same(&fo->ring[i], t))
			return;
	fo->ring[fo->nring++] = *t;
}

/*
 * The link to lost went down: build the order to try (backups first,
 * then lost itself, which may come back) unless a failover is already
 * under way, in which case it just goes on.
 */
void
failover_begin(struct failover *fo, const struct fo_target *lost)
{
	int	 i;

	if (fo->active)
		return;
	fo->active = 1;
	fo->attempt = 0;
	fo->idx = -1;
	fo->nring = 0;
	for (i = 0; i < fo->nbackups; i++)
		ring_add(fo, &fo->backups[i]);
	if (lost != NULL)
		ring_add(fo, lost);
}

/*
 * Delay before attempt number attempt (1-based): none for the first,
 * then base * 2^(attempt-2) up to max, of which a random half is taken
 * off (rnd supplies the randomness, so tests can fix it).
 */
unsigned
failover_delay(int attempt, unsigned base, unsigned max, uint32_t rnd)
{
	unsigned	 d;
	int		 i;

	if (attempt <= 1)
		return 0;
	d = base;
	for (i = 2; i < attempt && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	return d - (rnd % (d / 2 + 1));
}

/*
 * The next server to try, in *out, and how long to wait first.  Returns
 * the delay in milliseconds; out->port is 0 if there is nothing to try.
 */
unsigned
failover_next(struct failover *fo, uint32_t rnd, struct fo_target *out)
{
	if (fo->nring == 0) {
		memset(out, 0, sizeof *out);
		return 0;
	}
	fo->attempt++;
	fo->idx = (fo->idx + 1) % fo->nring;
	*out = fo->ring[fo->idx];
	return failover_delay(fo->attempt, fo->base_ms, fo->max_ms, rnd);
}

/* Logged in again: the next loss starts a fresh schedule. */
void
failover_end(struct failover *fo)
{
	fo->active = 0;
	fo->attempt = 0;
	fo->idx = -1;
}
