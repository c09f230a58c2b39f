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

#define HISTORY_PAGE_DEFAULT	100	/* activities in a page */
#define HISTORY_PAGE_MAX	1000

enum history_dir {
	HISTORY_LATEST,
	HISTORY_BEFORE,
	HISTORY_AFTER,
};

/* A page wanted: where it starts and how much may be sent. */
struct history_query {
	uint64_t	 mark;		/* from here on the client saw live */
	enum history_dir dir;
	const char	*mid;		/* before or after this; NULL: time */
	uint64_t	 time;		/* before or after this, ms */
	size_t		 limit;		/* activities */
	size_t		 budget;	/* bytes (at least one is sent) */
};

/*
 * One activity of a page: when this server delivered it, its server
 * line, and where the activity object is in the line (act_len 0: not
 * known).
 */
struct history_item {
	uint64_t	 time;
	const char	*line;
	size_t		 len;
	size_t		 act_off;
	size_t		 act_len;
};

/* Called per activity of a page, oldest first; nonzero stops the page. */
typedef int	(*history_page_cb)(void *, const struct history_item *);

struct history	*history_open(struct event_base *, const char *,
		    const struct history_config *, char *, size_t);
void		 history_close(struct history *);
void		 history_append(struct history *, const struct act *,
		    uint64_t);
void		 history_flush(struct history *);
void		 history_cron(struct history *, uint64_t, uint64_t);
uint64_t	 history_mark(const struct history *);
uint64_t	 history_newest(const struct history *);
int		 history_page(struct history *, const struct history_query *,
		    history_page_cb, void *, int *);
int		 history_catchup(struct history *, uint64_t, size_t,
		    history_page_cb, history_page_cb, void *);
size_t		 history_count(const struct history *);
size_t		 history_bytes(const struct history *);
size_t		 history_segments(const struct history *);

#endif
