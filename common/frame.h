/*
 * Newline-delimited framing over an evbuffer with a hard cap: a line is
 * handed out in place (no copy), and a peer that sends more than the cap
 * without a newline is told so instead of being buffered without bound.
 */
#ifndef FRAME_H
#define FRAME_H

#include <stddef.h>

struct evbuffer;

enum frame_status {
	FRAME_LINE,
	FRAME_NEED_MORE,
	FRAME_TOO_LONG,
	FRAME_BAD_NUL,
};

struct frame_reader {
	size_t	 max;		/* longest line accepted, newline excluded */
	size_t	 scanned;	/* bytes known to hold no newline */
};

struct frame {
	const char	*line;	/* valid until frame_done() */
	size_t		 len;	/* without "\n" or "\r\n" */
	size_t		 total;	/* bytes to drain */
};

void			frame_init(struct frame_reader *, size_t);
enum frame_status	frame_next(struct frame_reader *, struct evbuffer *,
			    struct frame *);
void			frame_done(struct frame_reader *, struct evbuffer *,
			    const struct frame *);

#endif
