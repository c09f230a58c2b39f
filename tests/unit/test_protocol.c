/*
 * The rules activity-protocol(7) states in FEATURES, Registration,
 * Presence, Cluster status, WHO and the server handshake, each checked
 * where it is stated, on a server without sockets (test_fixture.h).
 * The handshake's MACs are computed here again with OpenSSL's HMAC and
 * a fixed scrypt result, as the page writes them, not with the
 * server's own auth.c, so that a change to a label, a part or the key
 * derivation fails here even though both ends would still agree.
 */
#include "test_fixture.h"

#include <sys/time.h>
#include <ftw.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "history.h"
#include "uplink.h"

/* scrypt(N 16384, r 8, p 1, salt "activity-streamer cluster link key
 * v1") of the fixture's secret "abc", computed elsewhere. */
static const char	abc_link_key[] =
    "7237ff0be7878278de3ada1b327a446376b4180fcda70dfc38a3298aa15548ec";

/* Milliseconds since the epoch, as the server stamps activities. */
static uint64_t
wall_now(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Fail unless every member of j is one of the NULL-terminated names. */
static void
only_members(const cJSON *j, const char *const *names)
{
	const cJSON	*m;
	int		 i;

	cJSON_ArrayForEach(m, j) {
		for (i = 0; names[i] != NULL; i++)
			if (strcmp(m->string, names[i]) == 0)
				break;
		if (names[i] == NULL) {
			char	*s = cJSON_PrintUnformatted(j);

			fail_msg("unexpected member \"%s\" in %s", m->string,
			    s);
		}
	}
}

/* A number member of j (fails if absent). */
static double
num_of(const cJSON *j, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(j, key);

	if (!cJSON_IsNumber(v))
		fail_msg("no number \"%s\"", key);
	return v->valuedouble;
}

/* The string elements of array j joined by commas, into buf. */
static const char *
joined(const cJSON *j, char *buf, size_t len)
{
	const cJSON	*e;
	size_t		 off = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(e, j) {
		assert_true(cJSON_IsString(e));
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    off > 0 ? "," : "", e->valuestring);
		assert_true(off < len);
	}
	return buf;
}

/*
 * c sends LOGIN as user (secret "pw" unless anonymous), asking for
 * features (the inside of a JSON array; NULL: no "features") and
 * resuming with the object resume (NULL: none).
 */
static void
login_send(struct fx *fx, struct fx_conn *c, const char *user,
    const char *features, const char *resume)
{
	int	 anon = strcmp(user, "anonymous") == 0;

	fx_sendf(fx, c, "{\"command\":\"LOGIN\",\"username\":\"%s\"%s"
	    "%s%s%s%s%s}", user, anon ? "" : ",\"secret\":\"pw\"",
	    features != NULL ? ",\"features\":[" : "",
	    features != NULL ? features : "", features != NULL ? "]" : "",
	    resume != NULL ? ",\"resume\":" : "",
	    resume != NULL ? resume : "");
}

/* Log c in as user with features (login_send); returns LOGIN_SUCCESS. */
static cJSON *
login_as(struct fx *fx, struct fx_conn *c, const char *user,
    const char *features)
{
	login_send(fx, c, user, features, NULL);
	return fx_expect(c, "LOGIN_SUCCESS");
}

/* The same, for a test that needs nothing of LOGIN_SUCCESS. */
static void
login_ok(struct fx *fx, struct fx_conn *c, const char *user,
    const char *features)
{
	cJSON_Delete(login_as(fx, c, user, features));
}

/* An anonymous ACTIVITY_MESSAGE {"n": n} from c. */
static void
publish(struct fx *fx, struct fx_conn *c, int n)
{
	fx_sendf(fx, c, "{\"command\":\"ACTIVITY_MESSAGE\","
	    "\"username\":\"anonymous\",\"activity\":{\"n\":%d}}", n);
}

/* The n of the next ACTIVITY_BROADCAST on c, whose only member besides
 * the command must be the activity (a client without "activity_seq"). */
static int
base_broadcast_n(struct fx_conn *c)
{
	static const char *const names[] = { "command", "activity", NULL };
	cJSON		*j = fx_expect(c, "ACTIVITY_BROADCAST");
	int		 n;

	only_members(j, names);
	n = (int)num_of(cJSON_GetObjectItem(j, "activity"), "n");
	cJSON_Delete(j);
	return n;
}

/*
 * FEATURES: a client that sent no features never finds them, nor id,
 * session, token, time or resume, in LOGIN_SUCCESS, nor any field but
 * the activity in ACTIVITY_BROADCAST, though the sender asked for
 * everything; it gets nothing after LOGIN_SUCCESS either.
 */
static void
features__none_asked__base_protocol_only(void **state)
{
	static const char *const ls[] = { "command", "info", NULL };
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*base, *ext;
	cJSON		*j;

	(void)state;
	base = fx_connect(fx);
	j = login_as(fx, base, "anonymous", NULL);
	only_members(j, ls);
	cJSON_Delete(j);
	fx_expect_nothing(base);

	ext = fx_connect(fx);
	login_ok(fx, ext, "anonymous", "\"backup_list\",\"cluster_status\","
	    "\"activity_seq\",\"sending_report\",\"resume\",\"heartbeat\","
	    "\"who\"");
	fx_drain(ext);
	fx_send(fx, ext, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"activity_seq\":1,\"activity\":{\"n\":5}}");
	assert_int_equal(base_broadcast_n(base), 5);
	fx_expect_nothing(base);
	/* Nor the periodic BACKUP_LIST and CLUSTER_STATUS. */
	fx_advance(fx, (uint64_t)fx->srv->cfg.announce_ms);
	j = fx_expect_skip_opt(ext, "CLUSTER_STATUS");
	assert_non_null(j);
	cJSON_Delete(j);
	fx_expect_nothing(base);
	fx_free(fx);
}

/* FEATURES: an empty features array is enough for the fields. */
static void
features__empty_array__login_success_fields(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);
	cJSON		*j;

	(void)state;
	j = login_as(fx, c, "anonymous", "");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j,
	    "features")), 0);
	assert_string_equal(fx_str(j, "id"), "srv");
	assert_non_null(fx_str(j, "session"));
	assert_non_null(fx_str(j, "token"));
	assert_true(num_of(j, "time") > 0);
	cJSON_Delete(j);
	fx_expect_nothing(c);
	fx_free(fx);
}

/*
 * FEATURES: unknown names are ignored; an element that is not a string
 * is refused with INVALID_MESSAGE, in LOGIN and in REGISTER.
 */
static void
features__unknown_ignored__non_string_refused(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c;
	cJSON		*j;
	char		 buf[256];

	(void)state;
	c = fx_connect(fx);
	j = login_as(fx, c, "anonymous",
	    "\"no-such-feature\",\"who\",\"later\"");
	assert_string_equal(joined(cJSON_GetObjectItem(j, "features"), buf,
	    sizeof buf), "who");
	cJSON_Delete(j);

	c = fx_connect(fx);
	login_send(fx, c, "anonymous", "\"who\",7", NULL);
	fx_see(c, "INVALID_MESSAGE");
	fx_run(fx);
	assert_false(fx_open(fx, c));

	c = fx_connect(fx);
	fx_send(fx, c, "{\"command\":\"REGISTER\",\"username\":\"dora\","
	    "\"secret\":\"pw\",\"features\":[true]}");
	fx_see(c, "INVALID_MESSAGE");
	fx_run(fx);
	assert_false(fx_open(fx, c));
	assert_int_equal(lock_pending(fx->srv, "dora"), 0);
	fx_free(fx);
}

/*
 * FEATURES: after LOGIN_SUCCESS comes BACKUP_LIST, then CLUSTER_STATUS,
 * whatever order they were asked in; LOGIN_SUCCESS carries the granted
 * features, this server's id, the session "id.n", a token and the time.
 */
static void
features__login__success_then_backup_list_then_status(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c;
	cJSON		*j;
	char		 buf[256];
	uint64_t	 before = wall_now(), t;

	(void)state;
	fx_link(fx, "A");
	c = fx_connect(fx);
	j = login_as(fx, c, "anonymous", "\"cluster_status\",\"backup_list\"");
	assert_string_equal(joined(cJSON_GetObjectItem(j, "features"), buf,
	    sizeof buf), "backup_list,cluster_status");
	assert_string_equal(fx_str(j, "id"), "srv");
	assert_non_null(fx_str(j, "session"));
	assert_int_equal(strncmp(fx_str(j, "session"), "srv.", 4), 0);
	assert_non_null(fx_str(j, "token"));
	assert_true(strlen(fx_str(j, "token")) <= 64);
	t = (uint64_t)num_of(j, "time");
	assert_true(t >= before && t <= wall_now());
	assert_null(cJSON_GetObjectItem(j, "resume"));
	cJSON_Delete(j);
	fx_see(c, "BACKUP_LIST");
	fx_see(c, "CLUSTER_STATUS");
	fx_expect_nothing(c);
	fx_free(fx);
}

/*
 * FEATURES "backup_list": BACKUP_LIST at login and again every announce
 * interval, not sooner.
 */
static void
features__backup_list__every_announce_interval(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);
	uint64_t	 a = (uint64_t)fx->srv->cfg.announce_ms;

	(void)state;
	login_ok(fx, c, "anonymous", "\"backup_list\"");
	fx_see(c, "BACKUP_LIST");
	fx_expect_nothing(c);
	/* The first tick starts the period. */
	fx_advance(fx, 1);
	fx_drain(c);
	fx_advance(fx, a - 1);
	fx_expect_nothing(c);
	fx_advance(fx, 1);
	fx_see(c, "BACKUP_LIST");
	fx_expect_nothing(c);
	fx_free(fx);
}

/*
 * FEATURES "backup_list": BACKUP_LIST whenever this server's place in
 * the tree changes, at once: when it joins a parent, and when the
 * parent's path changes.
 */
static void
features__backup_list__at_once_when_the_place_changes(void **state)
{
	struct fx	*fx = fx_new("child");
	struct fx_conn	*c = fx_connect(fx), *up;

	(void)state;
	login_ok(fx, c, "anonymous", "\"backup_list\"");
	fx_see(c, "BACKUP_LIST");
	fx_expect_nothing(c);
	uplink_start(fx->srv, "127.0.0.1", 1);
	up = fx_adopt_outgoing(fx);
	uplink_connected(fx->srv, up->peer);
	fx_run(fx);
	fx_parent_accepts(fx, up, 1);
	assert_int_equal(uplink_state(fx->srv), UPLINK_ESTABLISHED);
	cJSON_Delete(fx_expect_skip(c, "BACKUP_LIST"));
	fx_expect_nothing(c);
	fx_drain(up);
	fx_send(fx, up, "{\"command\":\"BACKUP_LIST\",\"servers\":[{\"host\":"
	    "\"127.0.0.1\",\"port\":2}],\"path\":[\"R\",\"P\"]}");
	assert_int_equal(fx->srv->pathlen, 3);
	cJSON_Delete(fx_expect_skip(c, "BACKUP_LIST"));
	fx_expect_nothing(c);
	fx_free(fx);
}

/*
 * FEATURES "history": granted only by a server that keeps a history;
 * HISTORY from a client it was not granted to is refused.
 */
static void
features__history_without_a_history__not_granted(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c;
	cJSON		*j;
	char		 buf[256];

	(void)state;
	assert_null(fx->srv->history);
	c = fx_connect(fx);
	j = login_as(fx, c, "anonymous", "\"history\",\"who\"");
	assert_string_equal(joined(cJSON_GetObjectItem(j, "features"), buf,
	    sizeof buf), "who");
	cJSON_Delete(j);
	fx_send(fx, c, "{\"command\":\"HISTORY\"}");
	fx_see(c, "INVALID_MESSAGE");
	fx_free(fx);
}

/* nftw callback: remove what is there, deepest first. */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/*
 * HISTORY: a page is 100 activities by default, the latest ones, with
 * more; a limit under 1, or before and after together, is refused.
 */
static void
history__default_page_and_refusals(void **state)
{
	struct history_config	 hc = { 1000, 1 << 20, 3600 * 1000 };
	struct fx		*fx = fx_new("srv");
	struct fx_conn		*pub, *c;
	char			 dir[] = "/tmp/test_protocol.XXXXXX";
	char			 err[256], buf[64];
	cJSON			*j;
	int			 i, n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fx->srv->history = history_open(fx->base, dir, &hc, err, sizeof err);
	assert_non_null(fx->srv->history);
	pub = fx_client(fx);
	for (i = 1; i <= 101; i++)
		publish(fx, pub, i);
	c = fx_connect(fx);
	j = login_as(fx, c, "anonymous", "\"history\"");
	assert_string_equal(joined(cJSON_GetObjectItem(j, "features"), buf,
	    sizeof buf), "history");
	cJSON_Delete(j);
	fx_send(fx, c, "{\"command\":\"HISTORY\"}");
	for (n = 0; n < 100; n++) {
		j = fx_expect(c, "HISTORY_ACTIVITY");
		assert_int_equal((int)num_of(cJSON_GetObjectItem(j,
		    "activity"), "n"), n + 2);
		cJSON_Delete(j);
	}
	j = fx_expect(c, "HISTORY_END");
	assert_int_equal((int)num_of(j, "count"), 100);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "more")));
	cJSON_Delete(j);

	fx_send(fx, c, "{\"command\":\"HISTORY\",\"limit\":0}");
	fx_see(c, "INVALID_MESSAGE");
	c = fx_connect(fx);
	login_ok(fx, c, "anonymous", "\"history\"");
	fx_send(fx, c, "{\"command\":\"HISTORY\",\"before\":5,\"after\":1}");
	fx_see(c, "INVALID_MESSAGE");
	fx_expect_nothing(c);
	fx_run(fx);
	assert_false(fx_open(fx, c));
	fx_free(fx);
	assert_int_equal(nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/*
 * PING from any logged-in client, one without "heartbeat" too, is
 * answered PONG with the same ts, copied as sent.
 */
static void
ping__client_without_heartbeat__pong_with_ts_as_sent(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_client(fx);
	char		*l;

	(void)state;
	fx_send(fx, c, "{\"command\":\"PING\",\"ts\":1.79574048050e12}");
	l = fx_recv(c);
	assert_non_null(l);
	assert_string_equal(l,
	    "{\"command\":\"PONG\",\"ts\":1.79574048050e12}");
	free(l);
	fx_send(fx, c, "{\"command\":\"PING\"}");
	l = fx_recv(c);
	assert_non_null(l);
	assert_string_equal(l, "{\"command\":\"PONG\"}");
	free(l);
	fx_free(fx);
}

/* bob logs in with these features and resume object ("" for none). */
static cJSON *
bob_login(struct fx *fx, const char *features, const char *resume)
{
	struct fx_conn	*c = fx_connect(fx);

	login_send(fx, c, "bob", features, resume[0] != '\0' ? resume : NULL);
	return fx_expect(c, "LOGIN_SUCCESS");
}

/*
 * FEATURES "resume": the old session id is kept only with
 * "activity_seq" and the session's token; LOGIN_SUCCESS's time is the
 * resume's since, and resume says "partial" when the replay log does
 * not reach back to since, else "ok".
 */
static void
resume__kept_only_with_token_and_seq__time_is_since(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c;
	cJSON		*j;
	char		 sid[64], token[128], bad[128], res[512];
	uint64_t	 since;
	int		 i;

	(void)state;
	registry_put(fx->srv->reg, "bob", "pw", 1, "x");
	j = bob_login(fx, "\"activity_seq\",\"resume\"", "");
	snprintf(sid, sizeof sid, "%s", fx_str(j, "session"));
	snprintf(token, sizeof token, "%s", fx_str(j, "token"));
	cJSON_Delete(j);
	since = wall_now();

	snprintf(res, sizeof res, "{\"session\":\"%s\",\"token\":\"%s\","
	    "\"seen\":{},\"since\":%llu}", sid, token,
	    (unsigned long long)since);
	j = bob_login(fx, "\"activity_seq\",\"resume\"", res);
	assert_string_equal(fx_str(j, "session"), sid);
	assert_string_equal(fx_str(j, "resume"), "ok");
	assert_true((uint64_t)num_of(j, "time") == since);
	cJSON_Delete(j);

	/* The log was complete only from the server's start. */
	snprintf(res, sizeof res, "{\"session\":\"%s\",\"token\":\"%s\","
	    "\"seen\":{},\"since\":1000}", sid, token);
	j = bob_login(fx, "\"activity_seq\",\"resume\"", res);
	assert_string_equal(fx_str(j, "session"), sid);
	assert_string_equal(fx_str(j, "resume"), "partial");
	assert_int_equal((long long)num_of(j, "time"), 1000);
	cJSON_Delete(j);

	/* No activity_seq: a new session, the token notwithstanding. */
	snprintf(res, sizeof res, "{\"session\":\"%s\",\"token\":\"%s\","
	    "\"seen\":{}}", sid, token);
	j = bob_login(fx, "\"resume\"", res);
	assert_string_not_equal(fx_str(j, "session"), sid);
	cJSON_Delete(j);

	/* Another token: a new session. */
	snprintf(bad, sizeof bad, "%s", token);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
	snprintf(res, sizeof res, "{\"session\":\"%s\",\"token\":\"%s\","
	    "\"seen\":{}}", sid, bad);
	j = bob_login(fx, "\"activity_seq\",\"resume\"", res);
	assert_string_not_equal(fx_str(j, "session"), sid);
	cJSON_Delete(j);

	/* A token of 63 bytes is a wrong one; of 64, malformed. */
	memset(bad, 'a', 63);
	bad[63] = '\0';
	snprintf(res, sizeof res, "{\"session\":\"%s\",\"token\":\"%s\","
	    "\"seen\":{}}", sid, bad);
	j = bob_login(fx, "\"activity_seq\",\"resume\"", res);
	assert_string_not_equal(fx_str(j, "session"), sid);
	cJSON_Delete(j);
	snprintf(res, sizeof res, "{\"session\":\"%s\",\"token\":\"%sa\","
	    "\"seen\":{}}", sid, bad);
	c = fx_connect(fx);
	login_send(fx, c, "bob", "\"activity_seq\",\"resume\"", res);
	fx_see(c, "INVALID_MESSAGE");

	/* A resume that breaks its entry in the table: refused. */
	for (i = 0; i < 4; i++) {
		snprintf(res, sizeof res, "{\"session\":\"%s\","
		    "\"token\":\"%s\",%s}", sid, token,
		    i == 0 ? "\"since\":-1" : i == 1 ? "\"since\":1.5" :
		    i == 2 ? "\"seen\":[]" : "\"session\":\"x\"");
		c = fx_connect(fx);
		login_send(fx, c, "bob", "\"activity_seq\",\"resume\"", res);
		fx_expect_info_has(c, "INVALID_MESSAGE", "'resume' must be");
	}
	fx_free(fx);
}

/* Server id announces itself on l: host:port, path (JSON), users. */
static void
announce(struct fx *fx, struct fx_conn *l, const char *id, const char *host,
    int port, int load, const char *path, const char *users)
{
	static unsigned	 n;

	fx_sendf(fx, l, "{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"%s\","
	    "\"load\":%d,\"hostname\":\"%s\",\"port\":%d,\"path\":%s%s%s,"
	    "\"mid\":\"%s:%u\"}", id, load, host, port, path,
	    users != NULL ? ",\"users\":" : "", users != NULL ? users : "",
	    id, ++n);
}

/* USER_PRESENCE on link l: username logged in at server at time. */
static void
presence(struct fx *fx, struct fx_conn *l, const char *user,
    const char *server, uint64_t time, const char *mid)
{
	fx_sendf(fx, l, "{\"command\":\"USER_PRESENCE\",\"username\":\"%s\","
	    "\"id\":\"%s\",\"time\":%llu,\"mid\":\"%s\"}", user, server,
	    (unsigned long long)time, mid);
}

/* An activity {"n": n} from sender L.1 at seq, stamped ts, on link l. */
static void
from_link(struct fx *fx, struct fx_conn *l, int n, int seq, uint64_t ts)
{
	fx_sendf(fx, l, "{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":"
	    "{\"authenticated_user\":\"anonymous\",\"n\":%d},\"mid\":"
	    "\"L:%d\",\"sender\":\"L.1\",\"activity_seq\":%d,\"username\":"
	    "\"anonymous\",\"ts\":%llu}", n, n, seq, (unsigned long long)ts);
}

/*
 * Presence: bob logged in at R, R is lost, bob (a base client) logs in
 * here: he is replayed what this server delivered since R was lost
 * less 250 ms (activity 2, stamped 100 to 230 ms before), but not
 * before his login at R (activity 1, stamped just before it), with no
 * field but the activity; his login here is flooded; and the replay's start counts
 * as his connection's for late activities: one stamped at his login
 * at R, delivered late after his login here, is his.
 */
static void
presence__lost_server__replayed_from_login_there_on(void **state)
{
	struct fx	*fx = NULL;
	struct fx_conn	*r, *l = NULL, *pub, *bob;
	cJSON		*j;
	uint64_t	 at = 0, lost;
	int		 tries;

	(void)state;
	/* A stall of 130 ms dates the loss too late to tell: again. */
	for (tries = 0; tries < 5; tries++) {
		fx = fx_new("srv");
		r = fx_link(fx, "R");
		l = fx_link(fx, "L");
		registry_put(fx->srv->reg, "bob", "pw", 1, "x");
		/* Up until it is lost; too busy to be redirected to. */
		announce(fx, r, "R", "h", 1, 100, "[\"srv\",\"R\"]", NULL);
		announce(fx, l, "L", "h", 1, 100, "[\"srv\",\"L\"]", NULL);
		pub = fx_client(fx);
		publish(fx, pub, 1);
		/* bob logged in at R after activity 1, before 2. */
		at = wall_now() + 1;
		/* A mid past those of R's announces. */
		presence(fx, r, "bob", "R", at, "R:100000");
		while (wall_now() <= at)
			usleep(500);
		publish(fx, pub, 2);
		fx_drain(pub);
		fx_drain(l);
		/* R is lost 100 ms after 2: only the margin replays it. */
		lost = wall_now() + 100;
		while (wall_now() < lost)
			usleep(1000);
		fx_hangup(fx, r);
		assert_false(fx_open(fx, r));
		if (wall_now() < at + 230)
			break;
		fx_free(fx);
	}
	assert_true(tries < 5);

	bob = fx_connect(fx);
	login_ok(fx, bob, "bob", NULL);
	assert_int_equal(base_broadcast_n(bob), 2);
	fx_expect_nothing(bob);
	j = fx_expect_skip(l, "USER_PRESENCE");
	assert_string_equal(fx_str(j, "username"), "bob");
	assert_string_equal(fx_str(j, "id"), "srv");
	cJSON_Delete(j);
	/* His last login is here now: nothing again. */
	login_ok(fx, fx_connect(fx), "bob", NULL);
	assert_null(fx_expect_skip_opt(&fx->conns[fx->nconns - 1],
	    "ACTIVITY_BROADCAST"));

	/* L.1's 2 is held for 1, then given up on; 1 comes late. */
	from_link(fx, l, 12, 2, at);
	fx_expect_nothing(bob);
	fx_advance(fx, (uint64_t)fx->srv->cfg.dcfg.order_wait_ms);
	assert_int_equal(base_broadcast_n(bob), 12);
	from_link(fx, l, 11, 1, at);
	assert_int_equal(base_broadcast_n(bob), 11);
	fx_expect_nothing(bob);
	fx_free(fx);
}

/*
 * Presence: nothing is replayed when the server bob was on is up
 * again, nor to a client that asked for "resume" (it resumes, or not,
 * by itself), whose login is not flooded either.
 */
static void
presence__server_back_or_resume_client__nothing_replayed(void **state)
{
	struct fx		*fx = fx_new("srv");
	struct fx_conn		*r = fx_link(fx, "R");
	struct fx_conn		*l = fx_link(fx, "L"), *pub, *bob;
	struct known_server	*k;

	(void)state;
	registry_put(fx->srv->reg, "bob", "pw", 1, "x");
	/* Too busy to be redirected to. */
	announce(fx, l, "L", "h", 1, 100, "[\"srv\",\"L\"]", NULL);
	pub = fx_client(fx);
	presence(fx, r, "bob", "R", wall_now() - 1000, "R:1");
	fx_hangup(fx, r);
	publish(fx, pub, 1);
	fx_drain(pub);
	fx_drain(l);

	bob = fx_connect(fx);
	login_ok(fx, bob, "bob", "\"resume\"");
	fx_expect_nothing(bob);
	assert_null(fx_expect_skip_opt(l, "USER_PRESENCE"));

	/* R is back: a base client login replays nothing. */
	r = fx_link(fx, "R");
	announce(fx, r, "R", "h", 2, 100, "[\"srv\",\"R\"]", NULL);
	k = known_find(fx->srv, "R");
	assert_non_null(k);
	assert_int_equal(k->state, KNOWN_UP);
	bob = fx_connect(fx);
	login_ok(fx, bob, "bob", NULL);
	fx_expect_nothing(bob);
	fx_free(fx);
}

/*
 * TLS: REDIRECT gives the target's tls_port with its address, so a
 * client on TLS stays on TLS.
 */
static void
tls__redirect__carries_tls_port(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A"), *c;
	cJSON		*j;

	(void)state;
	fx_send(fx, l, "{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"A\","
	    "\"load\":0,\"hostname\":\"other\",\"port\":8001,"
	    "\"tls_port\":8441,\"path\":[\"srv\",\"A\"],\"mid\":\"A:1\"}");
	fx_client(fx);
	c = fx_connect(fx);
	login_ok(fx, c, "anonymous", NULL);
	j = fx_expect(c, "REDIRECT");
	assert_string_equal(fx_str(j, "hostname"), "other");
	assert_int_equal((int)num_of(j, "port"), 8001);
	assert_int_equal((int)num_of(j, "tls_port"), 8441);
	cJSON_Delete(j);
	fx_free(fx);
}

/* Send WHO on c; the WHO_LIST. */
static cJSON *
who(struct fx *fx, struct fx_conn *c)
{
	fx_drain(c);
	fx_send(fx, c, "{\"command\":\"WHO\"}");
	return fx_expect(c, "WHO_LIST");
}

/*
 * WHO_LIST: the registered users logged in anywhere, sorted, each once,
 * anonymous ones not named; clients counts every logged-in client,
 * anonymous ones and the announced loads of the others included.
 */
static void
who__users_sorted_once_anonymous_counted_not_named(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A"), *c;
	cJSON		*j;
	char		 buf[256];

	(void)state;
	registry_put(fx->srv->reg, "bob", "pw", 1, "x");
	registry_put(fx->srv->reg, "carol", "pw", 1, "x");
	announce(fx, l, "A", "other", 8001, 10, "[\"srv\",\"A\"]",
	    "[\"alice\",\"bob\"]");
	login_ok(fx, fx_connect(fx), "bob", NULL);
	login_ok(fx, fx_connect(fx), "bob", NULL);
	fx_client(fx);
	c = fx_connect(fx);
	login_ok(fx, c, "carol", "\"who\"");
	j = who(fx, c);
	assert_string_equal(joined(cJSON_GetObjectItem(j, "users"), buf,
	    sizeof buf), "alice,bob,carol");
	assert_int_equal((int)num_of(j, "clients"), 4 + 10);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "more")));
	cJSON_Delete(j);
	fx_free(fx);
}

/* WHO_LIST holds at most 1000 names, and then says more. */
static void
who__over_1000_names__1000_listed_and_more(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A"), *c;
	const cJSON	*u, *prev = NULL;
	cJSON		*j;
	char		 users[2048], id[16], path[64];
	int		 i, k, off, n = 0;

	(void)state;
	/* 11 servers of 100 names each (an announce's most). */
	for (i = 0; i < 11; i++) {
		off = snprintf(users, sizeof users, "[");
		for (k = 0; k < 100; k++)
			off += snprintf(users + off, sizeof users - (size_t)off,
			    "%s\"u%02d-%03d\"", k > 0 ? "," : "", i, k);
		snprintf(users + off, sizeof users - (size_t)off, "]");
		snprintf(id, sizeof id, "B%02d", i);
		snprintf(path, sizeof path, "[\"srv\",\"%s\"]", id);
		announce(fx, l, id, "far", 9000 + i, 100, path, users);
	}
	c = fx_connect(fx);
	login_ok(fx, c, "anonymous", "\"who\"");
	j = who(fx, c);
	cJSON_ArrayForEach(u, cJSON_GetObjectItem(j, "users")) {
		assert_true(cJSON_IsString(u));
		if (prev != NULL)
			assert_true(strcmp(prev->valuestring,
			    u->valuestring) < 0);
		prev = u;
		n++;
	}
	assert_int_equal(n, 1000);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "more")));
	cJSON_Delete(j);
	fx_free(fx);
}

/* A client that asked for "cluster_status"; its first CLUSTER_STATUS. */
static cJSON *
status_client(struct fx *fx, struct fx_conn **cp)
{
	struct fx_conn	*c = fx_connect(fx);
	cJSON		*j;

	login_ok(fx, c, "anonymous", "\"cluster_status\"");
	j = fx_expect(c, "CLUSTER_STATUS");
	if (cp != NULL)
		*cp = c;
	return j;
}

/* "id:state" of each server of CLUSTER_STATUS j, joined by commas. */
static const char *
rows(const cJSON *j, char *buf, size_t len)
{
	const cJSON	*s;
	size_t		 off = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(j, "servers")) {
		off += (size_t)snprintf(buf + off, len - off, "%s%s:%s",
		    off > 0 ? "," : "", fx_str(s, "id"), fx_str(s, "state"));
		assert_true(off < len);
	}
	return buf;
}

/*
 * CLUSTER_STATUS lists every server, itself included, sorted by host,
 * then port (two servers at one address are one restarted, so the id
 * never decides); itself with state "self" and last_announce_ms 0;
 * NORMAL with no info.
 */
static void
status__servers__sorted_by_host_port_id(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");
	const cJSON	*s;
	cJSON		*j;
	char		 buf[512];

	(void)state;
	announce(fx, l, "A", "zzz", 1, 0, "[\"srv\",\"A\"]", NULL);
	announce(fx, l, "B", "aaa", 20, 0, "[\"srv\",\"A\",\"B\"]", NULL);
	announce(fx, l, "C", "aaa", 10, 0, "[\"srv\",\"A\",\"C\"]", NULL);
	j = status_client(fx, NULL);
	assert_string_equal(fx_str(j, "status"), "NORMAL");
	assert_null(cJSON_GetObjectItem(j, "info"));
	assert_string_equal(rows(j, buf, sizeof buf),
	    "C:up,B:up,srv:self,A:up");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(j, "servers"))
		if (strcmp(fx_str(s, "id"), "srv") == 0)
			assert_int_equal((int)num_of(s, "last_announce_ms"),
			    0);
	cJSON_Delete(j);
	fx_free(fx);
}

/*
 * A server whose parent is not known to be up is "reconnecting" and
 * makes the status OUT_OF_SERVICE, with the reason in info; once the
 * parent announces itself, NORMAL.
 */
static void
status__parent_not_up__reconnecting_out_of_service(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");
	cJSON		*j;
	char		 buf[512];

	(void)state;
	announce(fx, l, "A", "h", 1, 0, "[\"srv\",\"A\"]", NULL);
	announce(fx, l, "B", "h", 3, 0, "[\"srv\",\"A\",\"Q\",\"B\"]", NULL);
	j = status_client(fx, NULL);
	assert_string_equal(fx_str(j, "status"), "OUT_OF_SERVICE");
	assert_non_null(fx_str(j, "info"));
	assert_non_null(strstr(fx_str(j, "info"), "reconnecting"));
	assert_string_equal(rows(j, buf, sizeof buf),
	    "A:up,B:reconnecting,srv:self");
	cJSON_Delete(j);
	assert_false(known_cluster_normal(fx->srv));
	announce(fx, l, "Q", "h", 2, 0, "[\"srv\",\"A\",\"Q\"]", NULL);
	assert_true(known_cluster_normal(fx->srv));
	/* One that says it is reconnecting is too. */
	fx_send(fx, l, "{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"Q\","
	    "\"load\":0,\"hostname\":\"h\",\"port\":2,\"path\":[\"Q\"],"
	    "\"status\":\"reconnecting\",\"mid\":\"Q:77\"}");
	assert_false(known_cluster_normal(fx->srv));
	fx_free(fx);
}

/*
 * A server that went down (its link closed) makes the status
 * OUT_OF_SERVICE for --heartbeat milliseconds, not a millisecond more
 * or less; clients that asked are told at the next tick, not at the
 * next announce interval.
 */
static void
status__server_down__out_of_service_for_one_heartbeat(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A"), *c;
	const cJSON	*s;
	cJSON		*j;
	uint64_t	 down;
	int		 hb = fx->srv->cfg.heartbeat_ms, seen = 0;

	(void)state;
	assert_true(fx->srv->cfg.announce_ms >= 4 * 50);
	announce(fx, l, "A", "h", 1, 0, "[\"srv\",\"A\"]", NULL);
	cJSON_Delete(status_client(fx, &c));
	/* The periodic send falls due now; let it pass. */
	fx_advance(fx, 50);
	fx_drain(c);
	fx_advance(fx, 50);
	fx_expect_nothing(c);

	fx_hangup(fx, l);
	down = fx->now;
	fx_advance(fx, 50);
	j = fx_expect(c, "CLUSTER_STATUS");
	assert_string_equal(fx_str(j, "status"), "OUT_OF_SERVICE");
	assert_non_null(fx_str(j, "info"));
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(j, "servers"))
		if (strcmp(fx_str(s, "id"), "A") == 0) {
			assert_string_equal(fx_str(s, "state"), "down");
			assert_int_equal((int)num_of(s, "down_ms"), 50);
			seen = 1;
		}
	assert_true(seen);
	cJSON_Delete(j);
	fx_advance(fx, down + (uint64_t)hb - 1 - fx->now);
	assert_false(known_cluster_normal(fx->srv));
	fx_drain(c);
	fx_advance(fx, 1);
	assert_true(known_cluster_normal(fx->srv));
	j = fx_expect_skip(c, "CLUSTER_STATUS");
	assert_string_equal(fx_str(j, "status"), "NORMAL");
	cJSON_Delete(j);
	/* No change: again every announce interval, not sooner. */
	fx_advance(fx, (uint64_t)fx->srv->cfg.announce_ms - 1);
	fx_expect_nothing(c);
	fx_advance(fx, 1);
	fx_see(c, "CLUSTER_STATUS");
	fx_expect_nothing(c);
	fx_free(fx);
}

/*
 * A server that is itself (re)connecting to its parent, not as a
 * successor, reports OUT_OF_SERVICE, and says why.
 */
static void
status__own_parent_link_down__out_of_service(void **state)
{
	struct fx	*fx = fx_new("child");
	cJSON		*j;

	(void)state;
	assert_true(known_cluster_normal(fx->srv));
	/* Nothing listens on port 1: it keeps trying. */
	uplink_start(fx->srv, "127.0.0.1", 1);
	fx_run(fx);
	assert_true(uplink_reconnecting(fx->srv));
	j = status_client(fx, NULL);
	assert_string_equal(fx_str(j, "status"), "OUT_OF_SERVICE");
	assert_non_null(fx_str(j, "info"));
	assert_non_null(strstr(fx_str(j, "info"), "reconnecting to its "
	    "parent"));
	cJSON_Delete(j);
	fx_free(fx);
}

/* A server that left on purpose is not listed and changes nothing. */
static void
status__server_left__not_listed_still_normal(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "A");
	cJSON		*j;
	char		 buf[512];

	(void)state;
	announce(fx, l, "A", "h", 1, 0, "[\"srv\",\"A\"]", NULL);
	fx_send(fx, l, "{\"command\":\"SERVER_LEAVE\",\"id\":\"A\","
	    "\"info\":\"SIGTERM\",\"mid\":\"A:99\"}");
	fx_hangup(fx, l);
	fx_advance(fx, 50);
	j = status_client(fx, NULL);
	assert_string_equal(fx_str(j, "status"), "NORMAL");
	assert_string_equal(rows(j, buf, sizeof buf), "srv:self");
	cJSON_Delete(j);
	fx_free(fx);
}

/* The next line on c is cmd about this secret. */
static void
expect_lock(struct fx_conn *c, const char *cmd, const char *secret)
{
	cJSON	*j = fx_expect(c, cmd);

	assert_string_equal(fx_str(j, "secret"), secret);
	cJSON_Delete(j);
}

/* The next cmd on c, other lines skipped, is about this secret. */
static void
expect_lock_skip(struct fx_conn *c, const char *cmd, const char *secret)
{
	cJSON	*j = fx_expect_skip(c, cmd);

	assert_string_equal(fx_str(j, "secret"), secret);
	cJSON_Delete(j);
}

/*
 * Registration tie-break: of two requests from one origin, the lower
 * secret wins: the held one is denied towards its link, the newcomer
 * goes on.
 */
static void
lock__same_origin__lower_secret_wins(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*la = fx_link(fx, "A"), *lb = fx_link(fx, "B");

	(void)state;
	fx_send_lock(fx, la, "LOCK_REQUEST", "zed", "s2", "O");
	expect_lock(lb, "LOCK_REQUEST", "s2");
	fx_send_lock(fx, lb, "LOCK_REQUEST", "zed", "s1", "O");
	expect_lock(la, "LOCK_DENIED", "s2");
	expect_lock(la, "LOCK_REQUEST", "s1");
	fx_expect_nothing(lb);
	/* And the other way round: the higher newcomer loses. */
	fx_send_lock(fx, la, "LOCK_REQUEST", "zed", "s3", "O");
	expect_lock(la, "LOCK_DENIED", "s3");
	fx_expect_nothing(lb);
	fx_free(fx);
}

/*
 * A relay whose subtree does not answer within --register-timeout
 * answers LOCK_DENIED, but keeps the lock until twice that time: a
 * request that loses to it is denied until then, and taken after.
 */
static void
lock__relay_unanswered__denied_at_timeout_kept_until_twice(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*la, *lb;
	uint64_t	 t;

	(void)state;
	/* Short, so the silent links outlive it (heartbeat timeout). */
	fx_config(&cfg);
	cfg.register_timeout_ms = 400;
	assert_true(cfg.heartbeat_timeout_ms > 2 * cfg.register_timeout_ms);
	fx = fx_new_cfg("srv", &cfg);
	la = fx_link(fx, "A");
	lb = fx_link(fx, "B");
	t = (uint64_t)cfg.register_timeout_ms;
	fx_send_lock(fx, la, "LOCK_REQUEST", "zed", "s", "A");
	expect_lock(lb, "LOCK_REQUEST", "s");
	fx_advance(fx, t - 1);
	assert_null(fx_expect_skip_opt(la, "LOCK_DENIED"));
	fx_advance(fx, 1);
	expect_lock_skip(la, "LOCK_DENIED", "s");
	fx_advance(fx, t / 2);
	fx_send_lock(fx, lb, "LOCK_REQUEST", "zed", "s", "Z");
	expect_lock_skip(lb, "LOCK_DENIED", "s");
	fx_advance(fx, t / 2 - 1);
	assert_int_equal(lock_pending(fx->srv, "zed"), 1);
	fx_advance(fx, 1);
	assert_int_equal(lock_pending(fx->srv, "zed"), 0);
	fx_drain(la);
	fx_send_lock(fx, lb, "LOCK_REQUEST", "zed", "s", "Z");
	expect_lock_skip(la, "LOCK_REQUEST", "s");
	assert_null(fx_expect_skip_opt(lb, "LOCK_DENIED"));
	fx_free(fx);
}

/*
 * The origin refuses a name it holds a lock for: a second client's
 * REGISTER while the first waits for the tree.
 */
static void
lock__name_locked_at_origin__second_register_refused(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*la = fx_link(fx, "A"), *c1, *c2;
	int		 i;

	(void)state;
	c1 = fx_connect(fx);
	fx_send(fx, c1, "{\"command\":\"REGISTER\",\"username\":\"zed\","
	    "\"secret\":\"one\"}");
	/* The hash comes back through the loop. */
	for (i = 0; i < 10000 && lock_pending(fx->srv, "zed") == 0; i++) {
		usleep(1000);
		fx_run(fx);
	}
	assert_int_equal(lock_pending(fx->srv, "zed"), 1);
	fx_see(la, "LOCK_REQUEST");
	c2 = fx_connect(fx);
	fx_send(fx, c2, "{\"command\":\"REGISTER\",\"username\":\"zed\","
	    "\"secret\":\"two\"}");
	for (i = 0; i < 10000 && fx_open(fx, c2); i++) {
		usleep(1000);
		fx_run(fx);
	}
	fx_expect_info(c2, "REGISTER_FAILED", "username is under register "
	    "process");
	fx_expect_nothing(la);
	fx_expect_nothing(c1);
	assert_true(fx_open(fx, c1));
	fx_free(fx);
}

/*
 * Locks other servers ask for are capped at --max-pending-registrations:
 * over it, the oldest is forgotten and denied, the newest taken.
 */
static void
lock__requests_over_cap__oldest_denied_table_capped(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*la, *lb;
	char		 name[16];
	int		 i, n;
	cJSON		*j;

	(void)state;
	fx_config(&cfg);
	cfg.max_pending_reg = 4;
	fx = fx_new_cfg("srv", &cfg);
	la = fx_link(fx, "A");
	lb = fx_link(fx, "B");
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "n%d", i);
		fx_send_lock(fx, la, "LOCK_REQUEST", name, "s", "A");
	}
	for (i = 0, n = 0; i < 5; i++) {
		snprintf(name, sizeof name, "n%d", i);
		n += lock_pending(fx->srv, name);
	}
	assert_int_equal(n, 4);
	assert_int_equal(lock_pending(fx->srv, "n0"), 0);
	assert_int_equal(lock_pending(fx->srv, "n4"), 1);
	j = fx_expect(la, "LOCK_DENIED");
	assert_string_equal(fx_str(j, "username"), "n0");
	cJSON_Delete(j);
	fx_expect_nothing(la);
	assert_int_equal(fx_drain(lb), 5);
	fx_free(fx);
}

/* USER_REGISTER_RESULT ends the registration everywhere: locks drop. */
static void
lock__result__relay_lock_dropped(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*la = fx_link(fx, "A"), *lb = fx_link(fx, "B");

	(void)state;
	fx_send_lock(fx, la, "LOCK_REQUEST", "zed", "s", "A");
	expect_lock(lb, "LOCK_REQUEST", "s");
	assert_int_equal(lock_pending(fx->srv, "zed"), 1);
	fx_send(fx, la, "{\"command\":\"USER_REGISTER_RESULT\",\"result\":"
	    "\"failure\",\"username\":\"zed\",\"secret\":\"s\",\"origin\":"
	    "\"A\",\"time\":5,\"mid\":\"A:1\"}");
	assert_int_equal(lock_pending(fx->srv, "zed"), 0);
	assert_null(registry_find(fx->srv->reg, "zed"));
	fx_see(lb, "USER_REGISTER_RESULT");
	fx_free(fx);
}

/*
 * Presence: a registered user's logout is flooded (id ""), so no
 * server replays to him as if his session there had been lost.
 */
static void
presence__logout__flooded(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*l = fx_link(fx, "L"), *bob;
	cJSON		*j;

	(void)state;
	registry_put(fx->srv->reg, "bob", "pw", 1, "x");
	announce(fx, l, "L", "h", 1, 100, "[\"srv\",\"L\"]", NULL);
	bob = fx_connect(fx);
	login_ok(fx, bob, "bob", NULL);
	cJSON_Delete(fx_expect_skip(l, "USER_PRESENCE"));
	fx_send(fx, bob, "{\"command\":\"LOGOUT\"}");
	j = fx_expect_skip(l, "USER_PRESENCE");
	assert_string_equal(fx_str(j, "username"), "bob");
	assert_string_equal(fx_str(j, "id"), "");
	cJSON_Delete(j);
	fx_free(fx);
}

/*
 * Registration at a relay that has the name: LOCK_ALLOWED at once if
 * the secret (hash) is the same, LOCK_DENIED if not; nothing forwarded.
 */
static void
lock__registered_name__allowed_same_secret_denied_other(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*la = fx_link(fx, "A"), *lb = fx_link(fx, "B");

	(void)state;
	registry_put(fx->srv->reg, "zed", "h1", 1, "x");
	fx_send_lock(fx, la, "LOCK_REQUEST", "zed", "h1", "A");
	expect_lock(la, "LOCK_ALLOWED", "h1");
	fx_send_lock(fx, la, "LOCK_REQUEST", "zed", "h2", "A");
	expect_lock(la, "LOCK_DENIED", "h2");
	fx_expect_nothing(lb);
	assert_int_equal(lock_pending(fx->srv, "zed"), 0);
	fx_free(fx);
}

/*
 * A registration costs one LOCK_REQUEST and one answer on each link
 * and one flooded USER_REGISTER_RESULT: the origin sends each link a
 * request, then, once all allowed, one result, and the client
 * REGISTER_SUCCESS.
 */
static void
lock__origin_two_links__one_request_one_result_each(void **state)
{
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*la = fx_link(fx, "A"), *lb = fx_link(fx, "B");
	struct fx_conn	*c;
	cJSON		*j;
	char		 hash[256];
	int		 i;

	(void)state;
	c = fx_connect(fx);
	fx_send(fx, c, "{\"command\":\"REGISTER\",\"username\":\"zed\","
	    "\"secret\":\"one\"}");
	for (i = 0; i < 10000 && lock_pending(fx->srv, "zed") == 0; i++) {
		usleep(1000);
		fx_run(fx);
	}
	j = fx_expect(la, "LOCK_REQUEST");
	assert_string_equal(fx_str(j, "origin"), "srv");
	snprintf(hash, sizeof hash, "%s", fx_str(j, "secret"));
	assert_string_not_equal(hash, "one");
	cJSON_Delete(j);
	fx_see(lb, "LOCK_REQUEST");
	fx_expect_nothing(la);
	fx_expect_nothing(lb);
	fx_send_lock(fx, la, "LOCK_ALLOWED", "zed", hash, "srv");
	fx_expect_nothing(c);
	fx_send_lock(fx, lb, "LOCK_ALLOWED", "zed", hash, "srv");
	fx_see(c, "REGISTER_SUCCESS");
	j = fx_expect(la, "USER_REGISTER_RESULT");
	assert_string_equal(fx_str(j, "result"), "success");
	cJSON_Delete(j);
	fx_see(lb, "USER_REGISTER_RESULT");
	fx_expect_nothing(la);
	fx_expect_nothing(lb);
	assert_non_null(registry_find(fx->srv->reg, "zed"));
	fx_free(fx);
}

/*
 * --max-users: a server that holds as many users as it may refuses a
 * REGISTER at once, with the bound, without asking the cluster.
 */
static void
lock__server_full__register_refused_before_any_lock(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*la, *c;

	(void)state;
	fx_config(&cfg);
	cfg.max_users = 2;
	fx = fx_new_cfg("srv", &cfg);
	la = fx_link(fx, "A");
	registry_put(fx->srv->reg, "u1", "h", 1, "x");
	registry_put(fx->srv->reg, "u2", "h", 1, "x");
	c = fx_connect(fx);
	fx_send(fx, c, "{\"command\":\"REGISTER\",\"username\":\"u3\","
	    "\"secret\":\"s\"}");
	fx_expect_info_has(c, "REGISTER_FAILED", "as many users as it may "
	    "hold (2)");
	fx_expect_nothing(la);
	assert_int_equal(lock_pending(fx->srv, "u3"), 0);
	fx_free(fx);
}

/*
 * --anon-idle-timeout ms: an anonymous client silent for ms is closed,
 * not sooner, and at most a second (the scan period) later.
 */
static void
limits__anon_idle__closed_within_a_second_after_timeout(void **state)
{
	struct config	 cfg;
	struct fx	*fx;
	struct fx_conn	*c;
	uint64_t	 t0;

	(void)state;
	fx_config(&cfg);
	cfg.anon_idle_timeout_ms = 3000;
	fx = fx_new_cfg("srv", &cfg);
	c = fx_client(fx);
	t0 = fx->now;
	while (fx->now < t0 + 2999) {
		fx_advance(fx, 100 - (fx->now + 100 > t0 + 2999 ?
		    fx->now + 100 - (t0 + 2999) : 0));
		assert_true(fx_open(fx, c));
	}
	fx_expect_nothing(c);
	while (fx_open(fx, c) && fx->now < t0 + 4000)
		fx_advance(fx, 100);
	assert_false(fx_open(fx, c));
	fx_expect_info_has(c, "INVALID_MESSAGE", "idle");
	fx_free(fx);
}

/* hex into bytes (exactly len of them). */
static void
unhex(const char *hex, uint8_t *out, size_t len)
{
	size_t		 i;
	unsigned	 v;

	assert_int_equal(strlen(hex), 2 * len);
	for (i = 0; i < len; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* HMAC-SHA-256 of the NUL-terminated parts, each with its NUL, in hex. */
static void
mac_hex(const uint8_t *key, const char *const *parts, int n, char out[65])
{
	uint8_t		 data[1024], mac[EVP_MAX_MD_SIZE];
	unsigned	 maclen = 0;
	size_t		 len = 0, l;
	int		 i;

	for (i = 0; i < n; i++) {
		l = strlen(parts[i]) + 1;
		assert_true(len + l <= sizeof data);
		memcpy(data + len, parts[i], l);
		len += l;
	}
	assert_non_null(HMAC(EVP_sha256(), key, 32, data, len, mac,
	    &maclen));
	assert_int_equal(maclen, 32);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* The link key is scrypt of the secret with the documented parameters. */
static void
handshake__link_key__documented_scrypt(void **state)
{
	uint8_t	 key[AUTH_KEY_LEN], want[32];

	(void)state;
	unhex(abc_link_key, want, sizeof want);
	assert_int_equal(auth_derive_key("abc", key), 0);
	assert_memory_equal(key, want, sizeof want);
}

/*
 * The handshake as activity-protocol(7) writes it, played as a joiner
 * with MACs computed here: the server takes a proof
 * MAC("activity link: join", nJ, nP, ""), and answers with
 * token_key = K xor MAC("activity link: token key", nJ, nP) and
 * proof = MAC("activity link: accept", nJ, nP, token_key).
 */
static void
handshake__as_joiner__macs_as_documented(void **state)
{
	static const char nj[] = "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef";
	struct fx	*fx = fx_new("srv");
	struct fx_conn	*c = fx_connect(fx);
	uint8_t		 key[32], pad[32], tk[AUTH_TOKEN_KEY_LEN];
	char		 np[AUTH_NONCE_HEX], mac[65], tkhex[64];
	const char	*parts[4];
	cJSON		*j;
	size_t		 i;

	(void)state;
	unhex(abc_link_key, key, sizeof key);
	fx_sendf(fx, c, "{\"command\":\"SERVER_HELLO\",\"nonce\":\"%s\"}", nj);
	j = fx_expect(c, "SERVER_CHALLENGE");
	assert_int_equal(strlen(fx_str(j, "nonce")), AUTH_NONCE_HEX - 1);
	snprintf(np, sizeof np, "%s", fx_str(j, "nonce"));
	cJSON_Delete(j);
	parts[0] = "activity link: join";
	parts[1] = nj;
	parts[2] = np;
	parts[3] = "";
	mac_hex(key, parts, 4, mac);
	fx_sendf(fx, c, "{\"command\":\"SERVER_PROOF\",\"proof\":\"%s\","
	    "\"id\":\"J\",\"host\":\"localhost\",\"port\":9001}", mac);
	j = fx_expect(c, "AUTHENTICATE_SUCCESS");
	snprintf(tkhex, sizeof tkhex, "%s", fx_str(j, "token_key"));
	parts[0] = "activity link: accept";
	parts[3] = tkhex;
	mac_hex(key, parts, 4, mac);
	assert_string_equal(fx_str(j, "proof"), mac);
	cJSON_Delete(j);
	parts[0] = "activity link: token key";
	mac_hex(key, parts, 3, mac);
	unhex(mac, pad, sizeof pad);
	unhex(tkhex, tk, sizeof tk);
	for (i = 0; i < sizeof tk; i++)
		tk[i] ^= pad[i];
	assert_memory_equal(tk, fx->srv->token_key, sizeof tk);
	assert_true(fx_open(fx, c));
	assert_int_equal(c->peer->role, PEER_SERVER);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(features__none_asked__base_protocol_only),
		cmocka_unit_test(features__empty_array__login_success_fields),
		cmocka_unit_test(
		    features__unknown_ignored__non_string_refused),
		cmocka_unit_test(
		    features__login__success_then_backup_list_then_status),
		cmocka_unit_test(
		    features__backup_list__every_announce_interval),
		cmocka_unit_test(
		    features__backup_list__at_once_when_the_place_changes),
		cmocka_unit_test(
		    features__history_without_a_history__not_granted),
		cmocka_unit_test(history__default_page_and_refusals),
		cmocka_unit_test(
		    ping__client_without_heartbeat__pong_with_ts_as_sent),
		cmocka_unit_test(
		    resume__kept_only_with_token_and_seq__time_is_since),
		cmocka_unit_test(
		    presence__lost_server__replayed_from_login_there_on),
		cmocka_unit_test(
		    presence__server_back_or_resume_client__nothing_replayed),
		cmocka_unit_test(presence__logout__flooded),
		cmocka_unit_test(tls__redirect__carries_tls_port),
		cmocka_unit_test(
		    who__users_sorted_once_anonymous_counted_not_named),
		cmocka_unit_test(who__over_1000_names__1000_listed_and_more),
		cmocka_unit_test(status__servers__sorted_by_host_port_id),
		cmocka_unit_test(
		    status__parent_not_up__reconnecting_out_of_service),
		cmocka_unit_test(
		    status__server_down__out_of_service_for_one_heartbeat),
		cmocka_unit_test(status__server_left__not_listed_still_normal),
		cmocka_unit_test(
		    status__own_parent_link_down__out_of_service),
		cmocka_unit_test(lock__same_origin__lower_secret_wins),
		cmocka_unit_test(
		    lock__relay_unanswered__denied_at_timeout_kept_until_twice),
		cmocka_unit_test(
		    lock__name_locked_at_origin__second_register_refused),
		cmocka_unit_test(
		    lock__requests_over_cap__oldest_denied_table_capped),
		cmocka_unit_test(lock__result__relay_lock_dropped),
		cmocka_unit_test(
		    lock__registered_name__allowed_same_secret_denied_other),
		cmocka_unit_test(
		    lock__origin_two_links__one_request_one_result_each),
		cmocka_unit_test(
		    lock__server_full__register_refused_before_any_lock),
		cmocka_unit_test(
		    limits__anon_idle__closed_within_a_second_after_timeout),
		cmocka_unit_test(handshake__link_key__documented_scrypt),
		cmocka_unit_test(handshake__as_joiner__macs_as_documented),
	};

	return cmocka_run_group_tests_name("unit: protocol rules", tests,
	    NULL, NULL);
}
