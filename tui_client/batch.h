/*
 * Batch mode: stdin lines in (same rules as the input line), every
 * message from the server out on stdout as received, status on stderr.
 */
#ifndef BATCH_H
#define BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "frame.h"

struct tui;
struct evbuffer;
struct event;

#define BATCH_READ_MAX		(1024 * 1024)	/* buffered stdin */
#define BATCH_OUTQ_MAX		(256 * 1024)	/* to the server */

struct batch {
	struct tui		*t;
	struct evbuffer		*in;
	struct frame_reader	 fr;
	struct event		*ev;
	int			 pollable;	/* not a regular file */
	int			 eof;
	int			 skipping;	/* rest of an overlong line */
	int			 finishing;
	int			 done;
	uint64_t		 finish_by;
	uint64_t		 offline_since;
	unsigned long long	 sent;
};

int	batch_run(struct tui *);
void	batch_event(struct tui *, enum conn_event);
void	batch_tick(struct tui *);
void	batch_finish(struct tui *);
void	batch_line(struct conn *, const char *, size_t, void *);

#endif
