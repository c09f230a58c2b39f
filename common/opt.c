/* Parsing of numeric option values and of secret files, with ranges. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"
#include "secret.h"

/* A decimal integer within [min, max]; -1 otherwise. */
int
opt_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A byte count, with an optional K, M or G suffix (powers of 1024). */
int
opt_size(const char *s, size_t min, size_t max, size_t *out)
{
	char			*end;
	unsigned long long	 v;
	int			 shift = 0;

	if (s == NULL || *s == '\0' || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		end++;
		break;
	case 'm': case 'M':
		shift = 20;
		end++;
		break;
	case 'g': case 'G':
		shift = 30;
		end++;
		break;
	}
	if (shift > 0 && v > (ULLONG_MAX >> shift))
		return -1;
	v <<= shift;
	if (*end != '\0' || v < min || v > max)
		return -1;
	*out = (size_t)v;
	return 0;
}

/*
 * The first line of a private file, without its newline; see
 * secret_read_file.  errno says why it failed.
 */
int
opt_read_secret_file(const char *path, char *buf, size_t len)
{
	char	 err[256];

	return secret_read_file(path, buf, len, err, sizeof err);
}
