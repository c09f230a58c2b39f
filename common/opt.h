/* Option-value helpers shared by the programs' command lines. */
#ifndef OPT_H
#define OPT_H

#include <stddef.h>

int	opt_long(const char *, long, long, long *);
int	opt_size(const char *, size_t, size_t, size_t *);
int	opt_read_secret_file(const char *, char *, size_t);

#endif
