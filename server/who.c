/*
 * Who is online, for clients that asked for the "who" feature: every
 * server names its logged-in registered users in its SERVER_ANNOUNCE
 * (at most WHO_ANNOUNCE_MAX), and answers WHO from its own clients and
 * the last announce of every server it knows to be up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "msgbuild.h"
#include "server.h"
#include "xmalloc.h"

#define WHO_ANNOUNCE_MAX	100	/* names in one announce */
#define WHO_LIST_MAX		1000	/* names in one WHO_LIST */
#define WHO_CACHE_MS		1000	/* a WHO_LIST serves this long */

struct who_names {
	char	**v;
	int	  n;
	int	  cap;
	int	  more;	/* some were left out */
};

/* Names in byte order, for qsort. */
static int
who_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add a name (a copy) unless the list is full. */
static void
who_add(struct who_names *w, const char *name, size_t len)
{
	if (w->n == w->cap) {
		w->more = 1;
		return;
	}
	w->v[w->n] = xstrndup(name, len);
	w->n++;
}

/* Sort and drop repeats. */
static void
who_sort(struct who_names *w)
{
	int	 i, j = 0;

	qsort(w->v, (size_t)w->n, sizeof *w->v, who_cmp);
	for (i = 0; i < w->n; i++) {
		if (j > 0 && strcmp(w->v[j - 1], w->v[i]) == 0) {
			free(w->v[i]);
			continue;
		}
		w->v[j++] = w->v[i];
	}
	w->n = j;
}

/* An empty list for at most cap names. */
static void
who_init(struct who_names *w, int cap)
{
	memset(w, 0, sizeof *w);
	w->cap = cap;
	w->v = xcalloc((size_t)cap, sizeof *w->v);
}

/* Free the names and the list. */
static void
who_free(struct who_names *w)
{
	int	 i;

	for (i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
}

/* Our logged-in registered users. */
static void
who_local(struct server *srv, struct who_names *w)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &srv->clients, role_entry)
		if (!p->anonymous && p->username != NULL)
			who_add(w, p->username, strlen(p->username));
}

/* Our users, for our SERVER_ANNOUNCE (nothing if there are none). */
void
who_announce_users(struct server *srv, struct jbuf *b)
{
	struct who_names	 w;

	who_init(&w, WHO_ANNOUNCE_MAX);
	who_local(srv, &w);
	who_sort(&w);
	if (w.n > 0)
		msgb_strs(b, F_USERS, w.v, w.n);
	who_free(&w);
	srv->who_announced = srv->who_gen;
}

/* The names in k's last announce. */
static void
who_known(struct known_server *k, struct who_names *w, struct msg *m)
{
	struct json_iter	 it;
	struct json_span	 el;
	enum json_type		 t;
	char			 err[64], name[SERVER_NAME_MAX + 1];
	size_t			 len;

	if (k->announce == NULL || msg_parse(k->announce,
	    k->announce_len - 1, m, err, sizeof err) != 0 ||
	    m->type[F_USERS] != JSON_ARRAY)
		return;
	json_iter_array(&it, m->val[F_USERS]);
	while (json_next_element(&it, &el, &t)) {
		if (t != JSON_STRING)
			continue;
		el = json_str_inner(el);
		if (json_str_decode(el, name, sizeof name, &len) == 0 &&
		    len > 0 && memchr(name, '\0', len) == NULL)
			who_add(w, name, len);
	}
}

/*
 * WHO: the registered users online in the cluster, and how many
 * clients.  Building the list parses every server's announce, so one
 * list serves every WHO for WHO_CACHE_MS: a flood of WHOs costs no more
 * than one a second.
 */
enum cmd_ret
cmd_who(struct peer *p, struct msg *m)
{
	struct server		*srv = p->srv;
	struct jbuf		*b = &srv->who_list;
	struct who_names	 w;
	struct msg		*am;
	long long		 clients = srv->nclients;
	int			 i;

	(void)m;
	if ((p->features & FEAT_BIT(FEAT_WHO)) == 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE,
		    "WHO is only answered to a client that asked for the "
		    "\"who\" feature in LOGIN");
		return CMD_CLOSE;
	}
	if (b->len > 0 && now_ms() - srv->who_built_ms < WHO_CACHE_MS) {
		peer_send(p, b->p, b->len);
		return CMD_OK;
	}
	am = xmalloc(sizeof *am);
	who_init(&w, WHO_LIST_MAX);
	who_local(srv, &w);
	for (i = 0; i < srv->nknown; i++) {
		if (srv->known[i].state != KNOWN_UP)
			continue;
		clients += srv->known[i].load;
		who_known(&srv->known[i], &w, am);
	}
	free(am);
	who_sort(&w);

	jbuf_reset(b);
	msgb_begin(b, CMD_WHO_LIST);
	msgb_strs(b, F_USERS, w.v, w.n);
	msgb_int(b, F_CLIENTS, clients);
	if (w.more)
		msgb_bool(b, F_MORE, 1);
	msgb_end(b);
	who_free(&w);
	srv->who_built_ms = now_ms();
	peer_send(p, b->p, b->len);
	return CMD_OK;
}
