/* Line framing with a cap, scanning each byte for a newline only once. */
#include <string.h>

#include <event2/buffer.h>

#include "frame.h"

void
frame_init(struct frame_reader *fr, size_t max)
{
	fr->max = max;
	fr->scanned = 0;
}

/*
 * Find the next complete line.  Empty lines are skipped.  The line is
 * made contiguous and left in the buffer until frame_done().
 */
enum frame_status
frame_next(struct frame_reader *fr, struct evbuffer *in, struct frame *f)
{
	struct evbuffer_ptr	 start, eol;
	size_t			 avail, len;
	unsigned char		*p;

again:
	avail = evbuffer_get_length(in);
	if (avail == 0) {
		fr->scanned = 0;
		return FRAME_NEED_MORE;
	}
	if (fr->scanned > avail)
		fr->scanned = 0;
	if (evbuffer_ptr_set(in, &start, fr->scanned, EVBUFFER_PTR_SET) != 0)
		return FRAME_NEED_MORE;
	eol = evbuffer_search(in, "\n", 1, &start);
	if (eol.pos < 0) {
		fr->scanned = avail;
		return avail > fr->max + 1 ? FRAME_TOO_LONG : FRAME_NEED_MORE;
	}
	len = (size_t)eol.pos;
	if ((p = evbuffer_pullup(in, (ev_ssize_t)len + 1)) == NULL)
		return FRAME_NEED_MORE;
	f->line = (const char *)p;
	f->total = len + 1;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	f->len = len;
	if (len > fr->max)
		return FRAME_TOO_LONG;
	if (len == 0) {
		frame_done(fr, in, f);
		goto again;
	}
	if (memchr(p, '\0', len) != NULL)
		return FRAME_BAD_NUL;
	return FRAME_LINE;
}

void
frame_done(struct frame_reader *fr, struct evbuffer *in, const struct frame *f)
{
	evbuffer_drain(in, f->total);
	fr->scanned = 0;
}
