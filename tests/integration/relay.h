/*
 * A fault-injecting TCP relay on loopback, for link cuts between two
 * servers: a server given the relay's port as its parent talks to the
 * real parent through it.  It runs in its own thread, so it keeps
 * forwarding while the test blocks in the harness's waits.
 *
 *   RELAY_PASS	forward both ways
 *   RELAY_CUT	a cut cable: connections stay open but every byte either
 *		way is silently dropped, and new connections are accepted
 *		and never answered (only heartbeats can tell)
 *   RELAY_RESET	every connection is reset and new ones are reset at once
 *
 * Going back to RELAY_PASS repairs the link: connections that lost
 * bytes while cut are reset (their stream is no longer whole), new ones
 * are forwarded.  relay_set returns once the relay has switched.
 */
#ifndef IT_RELAY_H
#define IT_RELAY_H

enum relay_mode {
	RELAY_PASS,
	RELAY_CUT,
	RELAY_RESET,
};

struct relay;

/* Listen on a free loopback port and forward to target_port. */
struct relay	*relay_new(int);
int		 relay_port(const struct relay *);
const char	*relay_port_str(const struct relay *);	/* for -rp */
void		 relay_set(struct relay *, enum relay_mode);
/* Connections accepted so far, and bytes forwarded. */
int		 relay_accepted(struct relay *);
long long	 relay_forwarded(struct relay *);
/* Record the bytes crossing either way; a copy of them so far. */
void		 relay_capture(struct relay *, size_t);
char		*relay_captured(struct relay *, size_t *);
/* Stop every relay (test teardown). */
void		 relay_cleanup(void);

#endif
