/*
 * The newest activity_seq seen from each sender session: drops the
 * duplicates a resumed session replays, and is the "seen" map a resume
 * sends.  Bounded: the least recently heard senders are forgotten.
 */
#ifndef DEDUP_H
#define DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define DEDUP_MAX	256
#define DEDUP_ID_MAX	260

struct dedup_entry {
	char		 sender[DEDUP_ID_MAX];
	long long	 seq;
	uint64_t	 used;
};

struct dedup {
	struct dedup_entry	 e[DEDUP_MAX];
	size_t			 n;
	uint64_t		 tick;
};

void	dedup_init(struct dedup *);
int	dedup_check(struct dedup *, const char *, long long);
void	dedup_json(const struct dedup *, struct jbuf *);

#endif
