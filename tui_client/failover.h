/*
 * Which server to try next after losing one, and when: the backup list
 * in order, then the server that was lost, round and round; the first
 * try at once, then exponential backoff with jitter up to a bound.  Pure
 * state, no sockets: conn.c does the connecting.
 */
#ifndef FAILOVER_H
#define FAILOVER_H

#include <stdint.h>

#include "model.h"

#define FO_BACKUPS_MAX	MODEL_BACKUPS_MAX
#define FO_RING_MAX	(FO_BACKUPS_MAX + 1)
#define FO_BASE_MS	250
#define FO_MAX_MS	8000

struct fo_target {
	char	 host[MODEL_HOST_MAX];
	int	 port;
};

struct failover {
	struct fo_target	 backups[FO_BACKUPS_MAX];
	int			 nbackups;
	struct fo_target	 ring[FO_RING_MAX];
	int			 nring;
	int			 active;
	int			 attempt;	/* tries since the loss */
	int			 idx;		/* of the last try */
	unsigned		 base_ms;
	unsigned		 max_ms;
};

void		failover_init(struct failover *, unsigned, unsigned);
void		failover_set_backups(struct failover *,
		    const struct fo_target *, int);
void		failover_begin(struct failover *, const struct fo_target *);
unsigned	failover_next(struct failover *, uint32_t, struct fo_target *);
void		failover_end(struct failover *);
unsigned	failover_delay(int, unsigned, unsigned, uint32_t);
int		failover_same(const struct fo_target *,
		    const struct fo_target *);

#endif
