/*
 * Where registered users are logged in, so a base-protocol client (one
 * that cannot ask to resume) still gets what it missed when its server
 * dies: every server learns, by a flooded USER_PRESENCE, on which server
 * each registered user logged in last.  When that user logs in again
 * and that server is gone, the new server replays the activities sent
 * since the old one was lost (less a margin, so the guarantee is at
 * least once around the failure) from its replay log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "delivery.h"
#include "log.h"
#include "msgbuild.h"
#include "registry.h"
#include "seen.h"
#include "server.h"
#include "strmap.h"
#include "xmalloc.h"

#define PRESENCE_MARGIN_MS	250

struct presence {
	char		 server[SERVER_NAME_MAX];	/* last logged in at */
	uint64_t	 time;
	int		 logged_in;	/* 0: it logged out there since */
};

/* Registered user name -> struct presence; no larger than the registry. */
struct presence_table {
	struct strmap	*users;
};

/* An empty table. */
struct presence_table *
presence_table_new(void)
{
	struct presence_table	*t = xcalloc(1, sizeof *t);

	t->users = strmap_new();
	return t;
}

/* Free the table and every record in it. */
void
presence_table_free(struct presence_table *t)
{
	if (t == NULL)
		return;
	strmap_free_values(t->users);
	free(t);
}

/*
 * A login (server non-empty) says where the user is now; the newest
 * wins.  A logout (server "") says the user left `from`: it concerns
 * only a record that points there, so logging out of one server does
 * not hide a session the user holds, or has since opened, at another,
 * whatever the order in which the two announcements arrive.
 */
static void
presence_set(struct server *srv, const char *username, const char *server,
    const char *from, uint64_t time)
{
	struct presence	*pr;
	int		 logout = server[0] == '\0';

	if ((pr = strmap_get(srv->presence->users, username)) == NULL) {
		pr = xcalloc(1, sizeof *pr);
		strmap_put(srv->presence->users, username, pr);
	} else if (logout) {
		if (strcmp(pr->server, from) != 0 || time < pr->time)
			return;	/* about another server, or older news */
	} else if (time < pr->time &&
	    (pr->logged_in || strcmp(pr->server, server) == 0))
		return;		/* older news */
	snprintf(pr->server, sizeof pr->server, "%s", logout ? from : server);
	pr->time = time;
	pr->logged_in = !logout;
}

/* Tell the tree where username is now ("" after a logout). */
void
presence_announce(struct server *srv, const char *username, const char *server)
{
	struct jbuf	*b;
	uint64_t	 now = wall_ms();

	presence_set(srv, username, server, srv->id, now);
	b = server_out_take(srv);
	msgb_begin(b, CMD_USER_PRESENCE);
	msgb_str(b, F_USERNAME, username);
	msgb_str(b, F_ID, server);
	msgb_int(b, F_TIME, (long long)now);
	tree_add_mid(srv, b);
	msgb_end(b);
	tree_send_servers(srv, NULL, b->p, b->len);
	server_out_put(srv);
}

/*
 * A registered user without resume logs in: if the server it was on is
 * lost, replay what was sent since.  Returns how many were replayed.
 */
void
presence_login(struct server *srv, struct peer *p)
{
	static const struct json_span	 none = { "{}", 2 };
	struct presence			*pr;
	struct known_server		*k;
	uint64_t			 since;
	int				 partial = 0;

	pr = strmap_get(srv->presence->users, p->username);
	if (pr != NULL && pr->logged_in &&
	    strcmp(pr->server, srv->id) != 0 &&
	    (k = known_find(srv, pr->server)) != NULL &&
	    k->state != KNOWN_UP && k->lost_wall_ms != 0) {
		since = k->lost_wall_ms > PRESENCE_MARGIN_MS ?
		    k->lost_wall_ms - PRESENCE_MARGIN_MS : 0;
		if (since < pr->time)
			since = pr->time;
		log_info("%s: its server %s was lost: replaying since then",
		    peer_name(p), log_safe(k->id));
		replay_resume(srv, p, none, since, &partial);
		p->since_ms = since;
	}
	presence_announce(srv, p->username, srv->id);
}

/* USER_PRESENCE from a link: record it, pass it on. */
enum cmd_ret
cmd_user_presence(struct peer *p, struct msg *m)
{
	struct server	*srv = p->srv;
	long long	 time;
	char		 from[SERVER_NAME_MAX];
	uint64_t	 oc;

	if (msg_int(m, F_TIME, &time) != 0 || time < 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "USER_PRESENCE: 'time' must be a time in ms");
		return CMD_CLOSE;
	}
	if (!tree_seen(srv, m))
		return CMD_OK;
	/* Only registered names: a peer cannot make this table grow. */
	/* Its mid names the announcing server: for a logout, the one left. */
	if (m->str[F_MID] == NULL ||
	    seen_parse_mid(m->str[F_MID], from, sizeof from, &oc) != 0)
		from[0] = '\0';
	if (registry_find(srv->reg, m->str[F_USERNAME]) != NULL)
		presence_set(srv, m->str[F_USERNAME], m->str[F_ID], from,
		    (uint64_t)time);
	tree_forward(srv, p, m);
	return CMD_OK;
}
