/*
 * Per-sender high-water marks.  Servers deliver each sender's activities
 * in order, so anything at or below the mark is a replay.
 */
#include <string.h>

#include "dedup.h"
#include "msgbuild.h"

/* An empty table. */
void
dedup_init(struct dedup *s)
{
	memset(s, 0, sizeof *s);
}

/*
 * Record (sender, seq).  Returns 1 if it is a duplicate (seq at or below
 * the newest already seen from that sender), 0 if new.
 */
int
dedup_check(struct dedup *s, const char *sender, long long seq)
{
	struct dedup_entry	*e, *old = NULL;
	size_t			 i;

	s->tick++;
	for (i = 0; i < s->n; i++) {
		e = &s->e[i];
		if (strcmp(e->sender, sender) != 0)
			continue;
		e->used = s->tick;
		if (seq <= e->seq)
			return 1;
		e->seq = seq;
		return 0;
	}
	if (s->n < DEDUP_MAX)
		e = &s->e[s->n++];
	else {
		for (i = 0; i < s->n; i++)
			if (old == NULL || s->e[i].used < old->used)
				old = &s->e[i];
		e = old;
	}
	strncpy(e->sender, sender, sizeof e->sender - 1);
	e->sender[sizeof e->sender - 1] = '\0';
	e->seq = seq;
	e->used = s->tick;
	return 0;
}

/* The map {"sender":seq,...} a resuming LOGIN carries. */
void
dedup_json(const struct dedup *s, struct jbuf *b)
{
	size_t	 i;

	msgb_obj_begin(b);
	for (i = 0; i < s->n; i++)
		msgb_map_int(b, s->e[i].sender, s->e[i].seq);
	msgb_obj_end(b);
}
