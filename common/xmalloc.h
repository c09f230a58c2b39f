/*
 * Allocation that cannot fail: out of memory is fatal, as nothing a peer
 * sends can make either program need unbounded memory.
 */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
char	*xstrdup(const char *);

#endif
