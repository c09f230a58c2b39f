/*
 * Cluster-wide registration: the lock protocol that makes a username
 * registered once over the whole tree.
 */
#ifndef LOCK_H
#define LOCK_H

struct server;
struct peer;

struct lock_table	*lock_table_new(void);
void			 lock_table_free(struct lock_table *);
int			 lock_pending(struct server *, const char *);
const char		*lock_secret(struct server *, const char *);
int			 lock_client_waiting(struct server *, struct peer *);
void			 lock_register(struct server *, struct peer *,
			    const char *, const char *);
void			 lock_on_request(struct server *, struct peer *,
			    const char *, const char *, const char *);
void			 lock_on_answer(struct server *, struct peer *, int,
			    const char *, const char *, const char *);
void			 lock_on_result(struct server *, struct peer *, int,
			    const char *, const char *, const char *,
			    unsigned long long);
void			 lock_peer_closed(struct server *, struct peer *);
void			 lock_cron(struct server *);

#endif
