/*
 * The hot path.  An activity from a client is processed once (our
 * authenticated_user set first, every other member passed through as
 * the exact bytes the client sent), then serialised once per audience:
 * the server line, stamped with a cluster-unique id so a transient
 * cycle or a relink can never deliver it twice, and the base-protocol
 * client line.  The same bytes are queued for every link and client.
 * A server forwarding an activity does no JSON work beyond validating
 * it: the server line goes on as received.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "msgbuild.h"
#include "seen.h"
#include "server.h"

#define AUTH_USER_KEY	"authenticated_user"

/*
 * Rebuild the activity object with our authenticated_user first and
 * every other member copied verbatim; any authenticated_user the client
 * put there, however it was spelled with escapes, is dropped.
 */
static void
activity_process(struct jbuf *b, struct json_span act, const char *user)
{
	struct json_iter	 it;
	struct json_span	 key, val;
	enum json_type		 t;

	jbuf_addc(b, '{');
	jbuf_cstr(b, AUTH_USER_KEY);
	jbuf_addc(b, ':');
	jbuf_cstr(b, user);
	json_iter_object(&it, act);
	while (json_next_member(&it, &key, &val, &t)) {
		if (json_key_eq(key, AUTH_USER_KEY))
			continue;
		jbuf_adds(b, ",\"");
		jbuf_add(b, key.p, key.len);
		jbuf_adds(b, "\":");
		jbuf_add(b, val.p, val.len);
	}
	jbuf_addc(b, '}');
}

/* The line base-protocol clients get: command and activity only. */
static void
activity_client_line(struct jbuf *b, const char *act, size_t len)
{
	jbuf_reset(b);
	msgb_begin(b, CMD_ACTIVITY_BROADCAST);
	msgb_raw(b, F_ACTIVITY, act, len);
	msgb_end(b);
}

/* Process a client's ACTIVITY_MESSAGE and broadcast it everywhere. */
void
activity_publish(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	struct jbuf	*b = &srv->out;
	size_t		 act_off, act_len;
	char		 mid[SERVER_ID_LEN + 24];

	jbuf_reset(b);
	msgb_begin(b, CMD_ACTIVITY_BROADCAST);
	msgb_key(b, F_ACTIVITY);
	act_off = b->len;
	activity_process(b, m->val[F_ACTIVITY], p->username);
	act_len = b->len - act_off;
	if (srv->nservers > 0) {
		snprintf(mid, sizeof mid, "%s:%llu", srv->id,
		    (unsigned long long)++srv->next_act);
		msgb_str(b, F_MID, mid);
		msgb_end(b);
		tree_send_servers(srv, NULL, b->p, b->len);
		/* The client line is the server line without the id. */
		b->len = act_off + act_len;
	}
	msgb_end(b);
	tree_send_clients(srv, b->p, b->len);
}

/* An activity from another server: drop repeats, pass it on. */
enum cmd_ret
cmd_activity_broadcast(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	struct jbuf	*b = &srv->out;
	char		 origin[SERVER_NAME_MAX];
	uint64_t	 n;

	if (m->str[F_MID] != NULL &&
	    seen_parse_mid(m->str[F_MID], origin, sizeof origin, &n) == 0 &&
	    (strcmp(origin, srv->id) == 0 ||
	    !seen_add(srv->seen_act, origin, n))) {
		log_debug("%s: dropped a repeated activity %s", peer_name(p),
		    m->str[F_MID]);
		return CMD_OK;
	}
	if (srv->nservers > 1) {
		jbuf_reset(b);
		jbuf_add(b, m->line, m->len);
		jbuf_addc(b, '\n');
		tree_send_servers(srv, p, b->p, b->len);
	}
	activity_client_line(b, m->val[F_ACTIVITY].p, m->val[F_ACTIVITY].len);
	tree_send_clients(srv, b->p, b->len);
	return CMD_OK;
}
