/*
 * Duplicate suppression for flooded messages.  Every message a server
 * floods carries "mid": "<origin id>:<counter>"; a receiver remembers,
 * per origin, a window of the counters it has seen, so a message that
 * comes round a transient cycle, or twice after a relink, is dropped.
 */
#ifndef SEEN_H
#define SEEN_H

#include <stdint.h>

#define SEEN_WINDOW	65536	/* counters remembered below the highest */

struct seen;

struct seen	*seen_new(int);
void		 seen_free(struct seen *);
int		 seen_add(struct seen *, const char *, uint64_t);
uint64_t	 seen_floor(struct seen *, const char *);
int		 seen_parse_mid(const char *, char *, size_t, uint64_t *);
void		 seen_foreach(struct seen *, void (*)(const char *, uint64_t,
		    void *), void *);

#endif
