/*
 * From a typed line to an activity, and from a received activity to the
 * text the stream shows.  Shared by the input line and batch mode so the
 * two follow the same rules.
 */
#ifndef COMPOSE_H
#define COMPOSE_H

#include <stddef.h>

#include "json.h"

/* The activity members and types the TUI writes and shows as text. */
#define COMPOSE_K_TYPE		"type"
#define COMPOSE_K_CONTENT	"content"
#define COMPOSE_NOTE		"Note"		/* a typed line */
#define COMPOSE_ACTION		"Action"	/* /me */

enum compose_kind {
	COMPOSE_EMPTY,
	COMPOSE_COMMAND,	/* "/name args" */
	COMPOSE_ACTIVITY,	/* the activity object is in the jbuf */
	COMPOSE_ERROR,		/* why is in err */
};

enum compose_kind compose_line(const char *, size_t, struct jbuf *, char *,
		    size_t);
int		 compose_show(const char *, size_t, char *, size_t, char *,
		    size_t);
void		 compose_activity(struct jbuf *, const char *, const char *,
		    size_t);

#endif
