/*
 * UTF-8 text as the terminal shows it: make peer text safe to draw,
 * measure it in columns and cut it to fit.  No ncurses here, so the
 * pane code that wraps and clips can be unit tested.
 */
#ifndef TEXT_H
#define TEXT_H

#include <stddef.h>

void	text_set_ascii(int);
size_t	text_sanitize(const char *, size_t, char *, size_t);
size_t	text_sanitize_lines(const char *, size_t, char *, size_t);
int	text_width(const char *, size_t);
size_t	text_fit(const char *, size_t, int, int *);
size_t	text_wrap(const char *, size_t, int);
size_t	text_utf8_put(unsigned int, char *);

#endif
