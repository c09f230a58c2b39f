/*
 * The newest activity_seq seen from each sender session: drops the
 * duplicates a resumed session replays, and is the "seen" map a resume
 * sends.  Bounded: the least recently heard senders are forgotten.
 */
#ifndef SEEN_H
#define SEEN_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define SEEN_MAX	256
#define SEEN_ID_MAX	260

struct seen_entry {
	char		 sender[SEEN_ID_MAX];
	long long	 seq;
	uint64_t	 used;
};

struct seen {
	struct seen_entry	 e[SEEN_MAX];
	size_t			 n;
	uint64_t		 tick;
};

void	seen_init(struct seen *);
int	seen_check(struct seen *, const char *, long long);
void	seen_json(const struct seen *, struct jbuf *);

#endif
