/*
 * Chained hashing, doubling when the load passes one.  Peers choose the
 * keys (user names, server ids, message ids), so the hash is SipHash
 * with a random key per map: nobody can make names that collide.
 * Keys are copied; values are the caller's.
 */
#include <sys/random.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "siphash.h"
#include "strmap.h"
#include "xmalloc.h"

struct strmap_entry {
	struct strmap_entry	*next;
	void			*value;
	char			 key[];
};

struct strmap {
	struct strmap_entry	**b;
	size_t			  nb;
	size_t			  n;
	uint8_t			  key[16];
};

/* The bucket hash of s in m: keyed, so a peer cannot aim at one chain. */
static size_t
strmap_hash(const struct strmap *m, const char *s)
{
	return (size_t)siphash24(m->key, s, strlen(s));
}

struct strmap *
strmap_new(void)
{
	struct strmap	*m;

	m = xcalloc(1, sizeof *m);
	if (getrandom(m->key, sizeof m->key, 0) != sizeof m->key)
		fatal("getrandom");
	m->nb = 16;
	m->b = xcalloc(m->nb, sizeof *m->b);
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

	for (e = m->b[strmap_hash(m, key) & (m->nb - 1)]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e->value;
	return NULL;
}

static void
strmap_grow(struct strmap *m)
{
	struct strmap_entry	**nb, *e, *next;
	size_t			  i, n = m->nb * 2, h;

	nb = xcalloc(n, sizeof *nb);
	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			h = strmap_hash(m, e->key) & (n - 1);
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

	h = strmap_hash(m, key) & (m->nb - 1);
	for (e = m->b[h]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0) {
			old = e->value;
			e->value = value;
			return old;
		}
	if (m->n >= m->nb) {
		strmap_grow(m);
		h = strmap_hash(m, key) & (m->nb - 1);
	}
	len = strlen(key) + 1;
	e = xmalloc(sizeof *e + len);
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

	pp = &m->b[strmap_hash(m, key) & (m->nb - 1)];
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

/* Call cb on every key and value, in no particular order. */
void
strmap_foreach(const struct strmap *m, void (*cb)(const char *, void *,
    void *), void *arg)
{
	struct strmap_entry	*e, *next;
	size_t			 i;

	for (i = 0; i < m->nb; i++)
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			cb(e->key, e->value, arg);
		}
}
