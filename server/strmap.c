/*
 * Chained hashing with FNV-1a, doubling when the load passes one.
 * Keys are copied; values are the caller's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strmap.h"

struct strmap_entry {
	struct strmap_entry	*next;
	void			*value;
	char			 key[];
};

struct strmap {
	struct strmap_entry	**b;
	size_t			  nb;
	size_t			  n;
};

static size_t
strmap_hash(const char *s)
{
	uint64_t	 h = 1469598103934665603ULL;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

struct strmap *
strmap_new(void)
{
	struct strmap	*m;

	if ((m = calloc(1, sizeof *m)) == NULL)
		fatal("calloc");
	m->nb = 16;
	if ((m->b = calloc(m->nb, sizeof *m->b)) == NULL)
		fatal("calloc");
	return m;
}

void
strmap_free(struct strmap *m)
{
	struct strmap_entry	*e, *next;
	size_t			 i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(m->b);
	free(m);
}

void *
strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_entry	*e;

	for (e = m->b[strmap_hash(key) & (m->nb - 1)]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e->value;
	return NULL;
}

static void
strmap_grow(struct strmap *m)
{
	struct strmap_entry	**nb, *e, *next;
	size_t			  i, n = m->nb * 2, h;

	if ((nb = calloc(n, sizeof *nb)) == NULL)
		fatal("calloc");
	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			h = strmap_hash(e->key) & (n - 1);
			e->next = nb[h];
			nb[h] = e;
		}
	free(m->b);
	m->b = nb;
	m->nb = n;
}

/* Insert or replace; returns the value replaced, if any. */
void *
strmap_put(struct strmap *m, const char *key, void *value)
{
	struct strmap_entry	*e;
	size_t			 h, len;
	void			*old;

	h = strmap_hash(key) & (m->nb - 1);
	for (e = m->b[h]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0) {
			old = e->value;
			e->value = value;
			return old;
		}
	if (m->n >= m->nb) {
		strmap_grow(m);
		h = strmap_hash(key) & (m->nb - 1);
	}
	len = strlen(key) + 1;
	if ((e = malloc(sizeof *e + len)) == NULL)
		fatal("malloc");
	memcpy(e->key, key, len);
	e->value = value;
	e->next = m->b[h];
	m->b[h] = e;
	m->n++;
	return NULL;
}

/* Remove key; returns its value (NULL if absent). */
void *
strmap_del(struct strmap *m, const char *key)
{
	struct strmap_entry	**pp, *e;
	void			 *v;

	pp = &m->b[strmap_hash(key) & (m->nb - 1)];
	for (; (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->key, key) == 0) {
			*pp = e->next;
			v = e->value;
			free(e);
			m->n--;
			return v;
		}
	}
	return NULL;
}

/* Free the map and every value in it. */
void
strmap_free_values(struct strmap *m)
{
	struct strmap_entry	*e;
	size_t			 i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = e->next)
			free(e->value);
	strmap_free(m);
}

size_t
strmap_count(const struct strmap *m)
{
	return m->n;
}
