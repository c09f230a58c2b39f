/*
 * What the panes show besides the text itself, as pure functions so
 * they can be unit tested: a stable colour for each name, mentions of
 * the user's name, day changes in the stream, and host:port cut to a
 * width without losing the port.
 */
#ifndef DECOR_H
#define DECOR_H

#include <stddef.h>
#include <stdint.h>

#define DECOR_COLORS	6	/* name colours */

int	decor_name_color(const char *);
int	decor_mentions(const char *, size_t, const char *);
long	decor_day(uint64_t);
void	decor_fmt_day(uint64_t, char *, size_t);
void	decor_hostport(const char *, int, int, char *, size_t);

#endif
