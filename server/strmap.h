/* A string-keyed hash map of pointers, for tables peers can make us grow. */
#ifndef STRMAP_H
#define STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap	*strmap_new(void);
void		 strmap_free(struct strmap *);
void		*strmap_get(const struct strmap *, const char *);
void		*strmap_put(struct strmap *, const char *, void *);
void		 strmap_free_values(struct strmap *);
void		*strmap_del(struct strmap *, const char *);
size_t		 strmap_count(const struct strmap *);
void		 strmap_foreach(const struct strmap *,
		    void (*)(const char *, void *, void *), void *);

#endif
