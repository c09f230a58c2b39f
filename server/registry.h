/*
 * Registered users: a hash table of name -> secret, the rule that merges
 * two registries, and an append-only journal that makes a registration
 * durable before the client is told it succeeded.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct user {
	char		*name;
	char		*secret;
	char		*origin;	/* id of the server that registered it */
	uint64_t	 time;		/* wall-clock ms of the registration */
	int		 unsynced;	/* not yet in the journal */
};

enum registry_put {
	REG_UNCHANGED,		/* already known with this secret */
	REG_ADDED,
	REG_REPLACED,		/* known with another secret that lost */
	REG_KEPT,		/* known with another secret that won */
	REG_ERROR,		/* the journal could not be written */
	REG_FULL,		/* a new name past --max-users */
};

struct registry;

struct registry		*registry_new(void);
void			 registry_free(struct registry *);
int			 registry_open(struct registry *, const char *, char *,
			    size_t);
const struct user	*registry_find(const struct registry *, const char *);
enum registry_put	 registry_put(struct registry *, const char *,
			    const char *, uint64_t, const char *);
enum registry_put	 registry_learn(struct registry *, const char *,
			    const char *, uint64_t, const char *);
void			 registry_retry(struct registry *, uint64_t);
void			 registry_batch_begin(struct registry *);
void			 registry_batch_end(struct registry *);
void			 registry_set_max(struct registry *, size_t);
int			 registry_full(const struct registry *);
size_t			 registry_unsynced(const struct registry *);
void			 registry_set_io(struct registry *,
			    ssize_t (*)(int, const void *, size_t),
			    int (*)(int));
size_t			 registry_count(const struct registry *);
void			 registry_foreach(const struct registry *,
			    void (*)(const struct user *, void *), void *);
int			 registry_wins(const struct user *, const char *,
			    uint64_t, const char *);

#endif
