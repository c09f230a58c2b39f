/*
 * The one definition of the allocation wrappers both programs use.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

/* malloc, or die. */
void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		fatal("malloc");
	return p;
}

/* calloc, or die. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		fatal("calloc");
	return p;
}

/* realloc, or die. */
void *
xrealloc(void *p, size_t n)
{
	void	*q;

	if ((q = realloc(p, n == 0 ? 1 : n)) == NULL)
		fatal("realloc");
	return q;
}

/* reallocarray (n * size checked for overflow), or die. */
void *
xreallocarray(void *p, size_t n, size_t size)
{
	void	*q;

	if ((q = reallocarray(p, n == 0 ? 1 : n, size == 0 ? 1 : size)) ==
	    NULL)
		fatal("reallocarray");
	return q;
}

/* strdup, or die. */
char *
xstrdup(const char *s)
{
	char	*d;

	if ((d = strdup(s)) == NULL)
		fatal("strdup");
	return d;
}

/* strndup, or die. */
char *
xstrndup(const char *s, size_t n)
{
	char	*d;

	if ((d = strndup(s, n)) == NULL)
		fatal("strndup");
	return d;
}

/* asprintf, or die; returns the length. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("asprintf");
	return n;
}
