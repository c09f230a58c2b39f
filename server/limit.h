/*
 * Per-connection and per-address limits against a hostile client: the
 * registration rate and the delay after failed logins.
 */
#ifndef LIMIT_H
#define LIMIT_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct peer;
struct limit_table;

struct limit_table	*limit_new(void);
void			 limit_free(struct limit_table *);
int			 limit_register(struct server *, struct peer *, char *,
			    size_t);
int			 limit_login_allowed(struct server *, struct peer *,
			    uint64_t *);
void			 limit_login_failed(struct server *, struct peer *);

#endif
