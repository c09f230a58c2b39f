/*
 * The history log: every activity this server delivered, kept in
 * append-only segment files under DATA_DIR/history, bounded by count,
 * bytes and age (whole segments go), read back in pages.
 */
#ifndef HISTORY_H
#define HISTORY_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct history;
struct act;

#define HISTORY_MAX_DEFAULT	1000000		/* --history-max */
#define HISTORY_BYTES_DEFAULT	((size_t)512 * 1024 * 1024) /* --history-bytes */
#define HISTORY_AGE_DEFAULT	(7 * 86400)	/* --history-age, seconds */
#define HISTORY_SYNC_MS		1000	/* written data reaches the disk */

struct history_config {
	size_t		 max;		/* activities; 0: no history */
	size_t		 bytes;		/* on disk */
	uint64_t	 age_ms;
};

struct history	*history_open(struct event_base *, const char *,
		    const struct history_config *, char *, size_t);
void		 history_close(struct history *);
void		 history_append(struct history *, const struct act *,
		    uint64_t);
void		 history_flush(struct history *);
void		 history_cron(struct history *, uint64_t, uint64_t);
size_t		 history_count(const struct history *);
size_t		 history_bytes(const struct history *);
size_t		 history_segments(const struct history *);

#endif
