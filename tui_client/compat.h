/* What glibc before 2.38 lacks. */
#ifndef COMPAT_H
#define COMPAT_H

#include <string.h>

#if defined(__GLIBC__) && !__GLIBC_PREREQ(2, 38)
/* Copy with truncation, always NUL-terminated; returns strlen(src). */
static inline size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t	 n = strlen(src);

	if (size > 0) {
		size_t	 c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}
#endif

#endif
