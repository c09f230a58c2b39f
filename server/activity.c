/*
 * The hot path: an activity from a client is processed once (the
 * authenticated_user field set, everything else passed through as the
 * exact bytes the client sent), serialised once into the broadcast
 * line, and those same bytes are queued for every link and client.
 */
#include <string.h>

#include "msgbuild.h"
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

/* Process a client's ACTIVITY_MESSAGE and broadcast it everywhere. */
void
activity_publish(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	struct jbuf	*b = &srv->out;

	jbuf_reset(b);
	msgb_begin(b, CMD_ACTIVITY_BROADCAST);
	msgb_key(b, F_ACTIVITY);
	activity_process(b, m->val[F_ACTIVITY], p->username);
	msgb_end(b);
	tree_send_servers(srv, NULL, b->p, b->len);
	tree_send_clients(srv, b->p, b->len);
}
