/*
 * Per-origin sliding windows of seen counters, like IPsec's anti-replay
 * window: a bitmap of the SEEN_WINDOW counters below the highest seen.
 * Anything older than the window counts as seen.  The table holds at
 * most `cap` origins; the least recently used one is forgotten first.
 *
 * Counters come from the network, so one server can forge another's:
 * a counter far above the real one would make everything the real
 * origin sends look old, silencing it for ever.  So a counter more than
 * SEEN_JUMP_MAX above the highest is refused, and if an origin keeps
 * sending counters far below the window (SEEN_RESYNC of them, rising,
 * with nothing inside the window between them) its highest was forged
 * or it restarted: the window starts again from what it sends now.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "seen.h"
#include "xmalloc.h"

#define SEEN_ID_MAX	64
#define SEEN_WORDS	(SEEN_WINDOW / 64)
#define SEEN_JUMP_MAX	(1ULL << 32)	/* counters skipped at once, at most */
#define SEEN_RESYNC	64	/* rising counters below the window */
#define SEEN_DIGITS_MAX	18	/* a counter below 10^18 */
#define SEEN_WARN_MS	10000	/* one warning per origin per */

struct seen_origin {
	char		 id[SEEN_ID_MAX];
	uint64_t	 top;		/* highest counter seen; 0: none */
	uint64_t	 floor;		/* every counter <= floor was seen */
	uint64_t	 base;		/* we met the origin after this one */
	uint64_t	 bits[SEEN_WORDS];
	uint64_t	 used_ms;
	uint64_t	 low_top;	/* highest counter below the window */
	int		 low_n;		/* rising ones since one inside it */
	uint64_t	 warned_ms;
};

struct seen {
	struct seen_origin	*o;
	int			 n;
	int			 cap;
};

struct seen *
seen_new(int cap)
{
	struct seen	*s;

	s = xcalloc(1, sizeof *s);
	s->o = xcalloc((size_t)cap, sizeof *s->o);
	s->cap = cap;
	return s;
}

void
seen_free(struct seen *s)
{
	if (s == NULL)
		return;
	free(s->o);
	free(s);
}

static struct seen_origin *
seen_origin(struct seen *s, const char *id, int create)
{
	struct seen_origin	*o;
	int			 i, lru = 0;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->o[i].id, id) == 0) {
			s->o[i].used_ms = now_ms();
			return &s->o[i];
		}
		if (s->o[i].used_ms < s->o[lru].used_ms)
			lru = i;
	}
	if (!create)
		return NULL;
	o = s->n < s->cap ? &s->o[s->n++] : &s->o[lru];
	memset(o, 0, sizeof *o);
	snprintf(o->id, sizeof o->id, "%s", id);
	o->used_ms = now_ms();
	return o;
}

static int
bit_get(const struct seen_origin *o, uint64_t n)
{
	uint64_t	 i = n % SEEN_WINDOW;

	return (o->bits[i / 64] >> (i % 64)) & 1;
}

static void
bit_set(struct seen_origin *o, uint64_t n, int v)
{
	uint64_t	 i = n % SEEN_WINDOW;

	if (v)
		o->bits[i / 64] |= 1ULL << (i % 64);
	else
		o->bits[i / 64] &= ~(1ULL << (i % 64));
}

static void	seen_warn(struct seen_origin *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* A warning about an origin's counters, at most one per SEEN_WARN_MS. */
static void
seen_warn(struct seen_origin *o, const char *fmt, ...)
{
	char		 msg[256];
	va_list		 ap;
	uint64_t	 now = now_ms();

	if (o->warned_ms != 0 && now - o->warned_ms < SEEN_WARN_MS)
		return;
	o->warned_ms = now;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warnx("message ids of %s: %s", log_safe(o->id), msg);
}

/* Forget an origin's window; n is the only counter seen. */
static void
seen_restart(struct seen_origin *o, uint64_t n)
{
	memset(o->bits, 0, sizeof o->bits);
	bit_set(o, n, 1);
	o->top = o->floor = n;
	o->base = n - 1;
	o->low_n = 0;
	o->low_top = 0;
}

/* Record counter n of origin id; 1 if it is new, 0 if seen before. */
int
seen_add(struct seen *s, const char *id, uint64_t n)
{
	struct seen_origin	*o = seen_origin(s, id, 0);
	uint64_t		 k;

	if (o == NULL) {
		/*
		 * Meeting an origin mid-stream: what it sent before is not
		 * ours to ask for again when we relink (see seen_foreach).
		 */
		o = seen_origin(s, id, 1);
		o->base = n - 1;
	}

	if (n == 0)
		return 0;
	if (o->top > 0 && n > o->top && n - o->top > SEEN_JUMP_MAX) {
		seen_warn(o, "a counter %llu past its highest, %llu: refused",
		    (unsigned long long)n, (unsigned long long)o->top);
		return 0;
	}
	if (o->top >= SEEN_WINDOW && n <= o->top - SEEN_WINDOW) {
		/* Far below the window: old, or the window was forged. */
		if (n > o->low_top) {
			o->low_top = n;
			if (++o->low_n >= SEEN_RESYNC) {
				seen_warn(o, "%d rising counters up to %llu, "
				    "far below its highest %llu: starting "
				    "its window again", SEEN_RESYNC,
				    (unsigned long long)n,
				    (unsigned long long)o->top);
				seen_restart(o, n);
				return 1;
			}
		}
		return 0;
	}
	o->low_n = 0;
	o->low_top = 0;
	if (n <= o->floor)
		return 0;
	if (n > o->top) {
		/* Slide: clear the slots the window moves over. */
		for (k = o->top + 1; k <= n && k <= o->top + SEEN_WINDOW; k++)
			bit_set(o, k, 0);
		o->top = n;
		if (o->top > SEEN_WINDOW && o->floor < o->top - SEEN_WINDOW)
			o->floor = o->top - SEEN_WINDOW;
	} else if (bit_get(o, n))
		return 0;
	bit_set(o, n, 1);
	while (o->floor < o->top && bit_get(o, o->floor + 1))
		o->floor++;
	return 1;
}

/* Every counter of origin id up to the result has been seen. */
uint64_t
seen_floor(struct seen *s, const char *id)
{
	struct seen_origin	*o = seen_origin(s, id, 0);

	return o != NULL ? o->floor : 0;
}

/* Split "origin:counter"; -1 if malformed. */
int
seen_parse_mid(const char *mid, char *origin, size_t len, uint64_t *n)
{
	const char	*colon = strrchr(mid, ':');
	char		*end;
	size_t		 olen;

	if (colon == NULL || colon == mid || colon[1] == '\0')
		return -1;
	olen = (size_t)(colon - mid);
	if (olen >= len || olen >= SEEN_ID_MAX)
		return -1;
	memcpy(origin, mid, olen);
	origin[olen] = '\0';
	/* Digits only: strtoull alone takes " -1" as 2^64 - 1. */
	if (strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) > SEEN_DIGITS_MAX || colon[1] == '0')
		return -1;
	*n = strtoull(colon + 1, &end, 10);
	if (*end != '\0' || *n == 0)
		return -1;
	return 0;
}

/*
 * Each origin with the counter up to which we have, or do not want,
 * everything: what we saw, or what it sent before we met it.
 */
void
seen_foreach(struct seen *s, void (*cb)(const char *, uint64_t, void *),
    void *arg)
{
	int	 i;

	for (i = 0; i < s->n; i++)
		cb(s->o[i].id, s->o[i].floor > s->o[i].base ? s->o[i].floor :
		    s->o[i].base, arg);
}
