/*
 * Broadcast across a 3-server chain, logins, logout and REDIRECT, on
 * real activity-server processes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

struct chain {
	struct it_server	*a, *b, *c;
};

/* A root, B joins A, C joins B; one registered user per server. */
static void
chain_start(struct chain *ch)
{
	ch->a = it_root("A");
	ch->b = it_child("B", ch->a);
	ch->c = it_child("C", ch->b);
	it_register(ch->a, "alice", "alice-secret");
	it_register(ch->b, "bob", "bob-secret");
	it_register(ch->c, "carol", "carol-secret");
	/* Registrations reach the other servers eventually. */
	it_login_eventually(ch->b, "alice", "alice-secret");
	it_login_eventually(ch->c, "alice", "alice-secret");
	it_login_eventually(ch->a, "bob", "bob-secret");
	it_login_eventually(ch->c, "bob", "bob-secret");
	it_login_eventually(ch->a, "carol", "carol-secret");
	it_login_eventually(ch->b, "carol", "carol-secret");
}

/*
 * Six clients, an anonymous and a registered one on each server; each
 * sends, and every client (the sender too) must get each activity as
 * its very next line.  A second round proves nothing was duplicated or
 * left behind by the first: a copy would come before the new activity.
 */
static void
chain3__activity_from_each_client__every_client_gets_it_once(void **state)
{
	struct it_roster	 r;
	struct chain		 ch;
	int			 round, i;

	(void)state;
	memset(&r, 0, sizeof r);
	chain_start(&ch);
	it_roster_login(&r, ch.a, "anonA", "anonymous", NULL);
	it_roster_login(&r, ch.b, "anonB", "anonymous", NULL);
	it_roster_login(&r, ch.c, "anonC", "anonymous", NULL);
	it_roster_login(&r, ch.a, "alice", "alice", "alice-secret");
	it_roster_login(&r, ch.b, "bob", "bob", "bob-secret");
	it_roster_login(&r, ch.c, "carol", "carol", "carol-secret");
	for (round = 0; round < 2; round++)
		for (i = 0; i < r.n; i++)
			it_roster_broadcast(&r, r.c[i]);
}

/* The members of the activity every test sends, byte for byte. */
static const char *const act_members[] = {
	"\"big\":12345678901234567890",
	"\"neg\":-98765432109876543210987654321",
	"\"float\":1.5e300",
	"\"small\":0.1",
	"\"text\":\"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 "
	    "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89\"",
	"\"cl\xc3\xa9\":\"a key in UTF-8\"",
	"\"esc\":\"q\\\"b\\\\s\\/\\n\\t\\u00e9\\ud83c\\udf89\\u0000\"",
	"\"nested\":{\"a\":null,\"b\":[null,{\"c\":null}],\"d\":{},\"e\":[]}",
	"\"inner\":{\"authenticated_user\":\"not-top-level\"}",
	"\"flags\":[true,false,null,0,-0,\"\"]",
	"\"nothing\":null",
	"\"empty\":\"\"",
};
#define N_MEMBERS	(int)(sizeof act_members / sizeof act_members[0])
#define FORGED_AT	5	/* where the forged authenticated_user goes */

/* The activity, with a forged authenticated_user in the middle. */
static char *
make_activity(int forged)
{
	char	*s;
	size_t	 len = 2;
	int	 i;

	for (i = 0; i < N_MEMBERS; i++)
		len += strlen(act_members[i]) + 1;
	len += 64;
	if ((s = malloc(len)) == NULL)
		abort();
	strcpy(s, "{");
	for (i = 0; i < N_MEMBERS; i++) {
		if (i > 0)
			strcat(s, ",");
		if (forged && i == FORGED_AT)
			strcat(s, "\"authenticated_user\":\"mallory\",");
		strcat(s, act_members[i]);
	}
	strcat(s, "}");
	return s;
}

/*
 * The next line of c is the broadcast of make_activity(): the same
 * members in the same order, byte-exact, plus exactly one top-level
 * authenticated_user, naming `user`.
 */
static void
expect_exact_activity(struct it_client *c, const char *user)
{
	const char	*act, *mp[64], *au = NULL;
	size_t		 actlen, ml[64], aul = 0;
	const cJSON	*j;
	char		 want[160];
	int		 n, i, k = 0, nau = 0;

	it_expect(c, "ACTIVITY_BROADCAST");
	if (it_json_member(c->line, c->line_len, "activity", &act,
	    &actlen) != 0 || (n = it_json_members(act, actlen, mp, ml, 64)) <
	    0)
		it_fail("client %s: no activity object in %s", c->name,
		    it_escape(c->line, c->line_len));
	for (i = 0; i < n; i++) {
		if (ml[i] > 21 &&
		    strncmp(mp[i], "\"authenticated_user\"", 20) == 0) {
			nau++;
			au = mp[i];
			aul = ml[i];
			continue;
		}
		if (k >= N_MEMBERS || ml[i] != strlen(act_members[k]) ||
		    memcmp(mp[i], act_members[k], ml[i]) != 0)
			it_fail("client %s: activity member %d changed: sent "
			    "%s, got %s", c->name, k, k < N_MEMBERS ?
			    it_escape(act_members[k], strlen(act_members[k])) :
			    "(nothing)", it_escape(mp[i], ml[i]));
		k++;
	}
	if (k != N_MEMBERS)
		it_fail("client %s: activity lost members (%d of %d): %s",
		    c->name, k, N_MEMBERS, it_escape(act, actlen));
	snprintf(want, sizeof want, "\"authenticated_user\":\"%s\"", user);
	if (nau != 1 || aul != strlen(want) || memcmp(au, want, aul) != 0)
		it_fail("client %s: want exactly one %s, got %d in %s",
		    c->name, want, nau, it_escape(act, actlen));
	/* And it is JSON a plain parser accepts. */
	j = cJSON_GetObjectItemCaseSensitive(c->msg, "activity");
	j = cJSON_GetObjectItemCaseSensitive(j, "authenticated_user");
	assert_true(cJSON_IsString(j));
	assert_string_equal(j->valuestring, user);
}

/*
 * Activities with large integers, non-ASCII UTF-8, escapes, nested
 * nulls and a forged authenticated_user, sent from C (registered) and
 * from A (anonymous), arrive at clients on A, B and C unchanged apart
 * from the server's authenticated_user.
 */
static void
chain3__activity_content__byte_exact_except_authenticated_user(void **state)
{
	struct it_roster	 r;
	struct chain		 ch;
	struct it_client	*anon_a, *bob_b, *carol_c;
	char			*act;
	int			 i;

	(void)state;
	memset(&r, 0, sizeof r);
	chain_start(&ch);
	anon_a = it_roster_login(&r, ch.a, "anonA", "anonymous", NULL);
	bob_b = it_roster_login(&r, ch.b, "bob", "bob", "bob-secret");
	carol_c = it_roster_login(&r, ch.c, "carol", "carol", "carol-secret");

	act = make_activity(1);
	it_send_activity(carol_c, act);
	for (i = 0; i < r.n; i++)
		expect_exact_activity(r.c[i], "carol");
	it_send_activity(anon_a, act);
	for (i = 0; i < r.n; i++)
		expect_exact_activity(r.c[i], "anonymous");
	free(act);
	/* Without a forged field too. */
	act = make_activity(0);
	it_send_activity(bob_b, act);
	for (i = 0; i < r.n; i++)
		expect_exact_activity(r.c[i], "bob");
	free(act);
	/* Nothing else is pending anywhere. */
	it_roster_broadcast(&r, bob_b);
}

/* Anonymous login with "secret": null, as deployed clients send it. */
static void
login__anonymous_null_secret__success(void **state)
{
	struct it_client	*c;

	(void)state;
	c = it_connect(it_root("A"), "c");
	it_sendf(c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"secret\":null}");
	it_expect(c, "LOGIN_SUCCESS");
	it_sendf(c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"secret\":null,\"activity\":{\"x\":1}}");
	it_expect(c, "ACTIVITY_BROADCAST");
}

/* Anonymous login and activity with no secret field at all. */
static void
login__anonymous_no_secret__success(void **state)
{
	struct it_client	*c;

	(void)state;
	c = it_connect(it_root("A"), "c");
	it_sendf(c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\"}");
	it_expect(c, "LOGIN_SUCCESS");
	it_sendf(c, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"activity\":{\"x\":1}}");
	it_expect(c, "ACTIVITY_BROADCAST");
}

/* Anonymous with some secret: the secret is ignored. */
static void
login__anonymous_any_secret__success(void **state)
{
	struct it_client	*c;

	(void)state;
	c = it_connect(it_root("A"), "c");
	it_login(c, "anonymous", "whatever");
	it_send_activity(c, "{\"x\":1}");
	it_expect(c, "ACTIVITY_BROADCAST");
}

static void
login__registered_right_secret__success(void **state)
{
	struct it_server	*a;
	struct it_client	*c;

	(void)state;
	a = it_root("A");
	it_register(a, "dave", "dave-secret");
	c = it_connect(a, "c");
	it_login(c, "dave", "dave-secret");
	it_send_activity(c, "{\"x\":1}");
	it_expect(c, "ACTIVITY_BROADCAST");
}

static void
login__registered_wrong_secret__login_failed_and_closed(void **state)
{
	struct it_server	*a;

	(void)state;
	a = it_root("A");
	it_register(a, "dave", "dave-secret");
	it_login_fail(it_connect(a, "c1"), "dave", "not-daves-secret");
	it_login_fail(it_connect(a, "c2"), "dave", NULL);
	it_login_fail(it_connect(a, "c3"), "dave", "");
	/* The right secret still works afterwards. */
	it_login(it_connect(a, "c4"), "dave", "dave-secret");
}

static void
login__unknown_user__login_failed_and_closed(void **state)
{
	struct it_server	*a;

	(void)state;
	a = it_root("A");
	it_login_fail(it_connect(a, "c"), "nobody", "some-secret");
}

/* LOGOUT: the server closes; the other clients carry on. */
static void
logout__logged_in_client__server_closes(void **state)
{
	struct it_server	*a;
	struct it_client	*c, *other;

	(void)state;
	a = it_root("A");
	other = it_connect(a, "other");
	it_login(other, "anonymous", NULL);
	c = it_connect(a, "c");
	it_login(c, "anonymous", NULL);
	it_sendf(c, "{\"command\":\"LOGOUT\"}");
	it_expect_closed(c);
	it_send_activity(other, "{\"still\":\"here\"}");
	it_expect(other, "ACTIVITY_BROADCAST");
}

/*
 * A has 2 clients once the second logs in and B has 0: A answers
 * LOGIN_SUCCESS, then REDIRECT to B with a numeric port, and closes.
 * The first client (A one above B) is not redirected.  The redirected
 * client logs in at B, anonymously with "secret": null, and stays.
 */
static void
redirect__load_two_above_peer__login_success_redirect_close(void **state)
{
	struct it_server	*a, *b;
	struct it_client	*c1, *c2, *c3;
	const cJSON		*host, *port;
	const char		*raw;
	size_t			 rawlen;
	char			 needle[64];

	(void)state;
	a = it_root("A", "--liveness", "60000");
	b = it_child("B", a, "--liveness", "60000");
	snprintf(needle, sizeof needle, "at localhost:%d", b->port);
	it_wait_log(a, needle);		/* A knows B and its load */

	c1 = it_connect(a, "c1");
	it_login(c1, "anonymous", NULL);
	it_send_activity(c1, "{\"n\":1}");
	it_expect(c1, "ACTIVITY_BROADCAST");	/* not redirected */

	c2 = it_connect(a, "c2");
	it_sendf(c2, "{\"command\":\"LOGIN\",\"username\":\"anonymous\"}");
	it_expect(c2, "LOGIN_SUCCESS");
	it_expect(c2, "REDIRECT");
	host = cJSON_GetObjectItemCaseSensitive(c2->msg, "hostname");
	port = cJSON_GetObjectItemCaseSensitive(c2->msg, "port");
	assert_true(cJSON_IsString(host));
	assert_string_equal(host->valuestring, "localhost");
	assert_true(cJSON_IsNumber(port));
	assert_int_equal(port->valueint, b->port);
	assert_int_equal(it_json_member(c2->line, c2->line_len, "port", &raw,
	    &rawlen), 0);
	assert_int_equal(rawlen, strlen(b->port_str));
	assert_memory_equal(raw, b->port_str, rawlen);
	it_expect_closed(c2);

	c3 = it_connect_port_at(__FILE__, __LINE__, port->valueint, "c3");
	it_sendf(c3, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"secret\":null}");
	it_expect(c3, "LOGIN_SUCCESS");
	c3->logged_in = 1;
	strcpy(c3->user, "anonymous");
	it_send_activity(c3, "{\"n\":2}");
	it_expect(c3, "ACTIVITY_BROADCAST");	/* stayed at B */
	it_expect(c1, "ACTIVITY_BROADCAST");	/* and reached A */
}

/*
 * A peer server frozen with SIGSTOP does not hold up the others: a
 * client of A still gets its own activity back at once.  After SIGCONT
 * the frozen server's client gets what was sent meanwhile, once.
 */
static void
broadcast__peer_server_frozen__others_still_served(void **state)
{
	struct it_server	*a, *b;
	struct it_client	*ca, *cb;

	(void)state;
	a = it_root("A");
	b = it_child("B", a);
	ca = it_connect(a, "ca");
	it_login(ca, "anonymous", NULL);
	cb = it_connect(b, "cb");
	it_login(cb, "anonymous", NULL);
	it_send_activity(ca, "{\"it_seq\":1}");
	it_expect(ca, "ACTIVITY_BROADCAST");
	it_expect(cb, "ACTIVITY_BROADCAST");

	it_server_sigstop(b);
	it_send_activity(ca, "{\"it_seq\":2}");
	it_expect(ca, "ACTIVITY_BROADCAST");
	it_server_sigcont(b);
	it_expect(cb, "ACTIVITY_BROADCAST");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cb->msg, "activity"),
	    "it_seq")->valueint, 2);
	it_send_activity(cb, "{\"it_seq\":3}");
	it_expect(cb, "ACTIVITY_BROADCAST");	/* not a second copy of 2 */
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cb->msg, "activity"),
	    "it_seq")->valueint, 3);
	it_expect(ca, "ACTIVITY_BROADCAST");
}

/*
 * However the client spells "authenticated_user" (escapes, repeats),
 * the broadcast carries exactly one member of that name, the server's.
 */
static void
activity__forged_authenticated_user_any_spelling__replaced(void **state)
{
	const char *const acts[] = {
		"{\"authenticated\\u005fuser\":\"mallory\",\"k\":1}",
		"{\"\\u0061uthenticated_user\":\"mallory\",\"k\":1}",
		"{\"authenticated_user\":\"m1\",\"k\":1,"
		    "\"authenticated_user\":\"m2\"}",
		"{\"authenticated_user\":null,\"k\":1}",
		"{\"authenticated_user\":{\"name\":\"mallory\"},\"k\":1}",
		NULL,
	};
	struct it_server	*a;
	struct it_client	*c;
	const cJSON		*act, *m;
	int			 i, n;

	(void)state;
	a = it_root("A");
	it_register(a, "zed", "zed-secret");
	c = it_connect(a, "zed");
	it_login(c, "zed", "zed-secret");
	for (i = 0; acts[i] != NULL; i++) {
		it_send_activity(c, acts[i]);
		it_expect(c, "ACTIVITY_BROADCAST");
		act = cJSON_GetObjectItemCaseSensitive(c->msg, "activity");
		n = 0;
		cJSON_ArrayForEach(m, act) {
			if (strcmp(m->string, "authenticated_user") != 0)
				continue;
			n++;
			if (!cJSON_IsString(m) ||
			    strcmp(m->valuestring, "zed") != 0)
				it_fail("sent %s, got %s", acts[i],
				    it_escape(c->line, c->line_len));
		}
		if (n != 1)
			it_fail("sent %s: %d authenticated_user members in %s",
			    acts[i], n, it_escape(c->line, c->line_len));
	}
}

/*
 * nmsg activities, each padded to about pad bytes, written in one go by
 * a client of A, arrive at clients of A and of C (two hops away) all,
 * once, byte-exact and in the order sent.
 */
static void
burst_in_order(int nmsg, size_t pad)
{
	struct it_server	*a, *b, *c;
	struct it_client	*ca, *cc;
	char			*buf, *p, *fill;
	const cJSON		*act, *k;
	int			 i, j;
	struct it_client	*rx[2];

	a = it_root("A");
	b = it_child("B", a);
	c = it_child("C", b);
	ca = it_connect(a, "ca");
	it_login(ca, "anonymous", NULL);
	cc = it_connect(c, "cc");
	it_login(cc, "anonymous", NULL);
	if ((fill = malloc(pad + 1)) == NULL ||
	    (buf = malloc((size_t)nmsg * (pad + 160))) == NULL)
		abort();
	for (i = 0; (size_t)i < pad; i++)
		fill[i] = (char)('a' + i % 26);
	fill[pad] = '\0';
	p = buf;
	for (i = 1; i <= nmsg; i++)
		p += sprintf(p, "{\"command\":\"ACTIVITY_MESSAGE\","
		    "\"username\":\"anonymous\",\"secret\":null,"
		    "\"activity\":{\"it_seq\":%d,\"pad\":\"%s\"}}\n", i, fill);
	assert_int_equal(it_send_raw(ca, buf, (size_t)(p - buf)), 0);
	free(buf);
	rx[0] = ca;
	rx[1] = cc;
	for (j = 0; j < 2; j++) {
		for (i = 1; i <= nmsg; i++) {
			it_expect(rx[j], "ACTIVITY_BROADCAST");
			act = cJSON_GetObjectItemCaseSensitive(rx[j]->msg,
			    "activity");
			k = cJSON_GetObjectItemCaseSensitive(act, "it_seq");
			if (!cJSON_IsNumber(k) || k->valueint != i)
				it_fail("client %s: expected it_seq %d next, "
				    "got: %.200s", rx[j]->name, i,
				    it_escape(rx[j]->line, rx[j]->line_len));
			k = cJSON_GetObjectItemCaseSensitive(act, "pad");
			if (!cJSON_IsString(k) || strcmp(k->valuestring,
			    fill) != 0)
				it_fail("client %s: it_seq %d arrived with its "
				    "padding changed", rx[j]->name, i);
		}
	}
	free(fill);
	/* Nothing more: the next line is a new one, not a copy. */
	it_send_activity(cc, "{\"it_seq\":0}");
	it_expect(cc, "ACTIVITY_BROADCAST");
	it_expect(ca, "ACTIVITY_BROADCAST");
	k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    ca->msg, "activity"), "it_seq");
	assert_int_equal(k->valueint, 0);
}

/* 200 small activities in one write: many lines per read. */
static void
order__many_activities_in_one_write__all_arrive_in_order(void **state)
{
	(void)state;
	burst_in_order(200, 8);
}

/*
 * 100 activities of 4 KiB in one write (400 KiB): more than a server
 * takes in per read callback, with lines cut across reads, on the
 * client link and on both server links.
 */
static void
order__large_activities_in_one_write__all_arrive_in_order(void **state)
{
	(void)state;
	burst_in_order(100, 4096);
}

/* Messages split into single bytes, and CRLF line ends, are accepted. */
static void
framing__split_bytes_and_crlf__accepted(void **state)
{
	static const char	 login[] = "{\"command\":\"LOGIN\","
				    "\"username\":\"anonymous\"}\n";
	static const char	 act[] = "{\"command\":\"ACTIVITY_MESSAGE\","
				    "\"username\":\"anonymous\",\"activity\":"
				    "{\"split\":true}}\r\n";
	struct it_server	*a;
	struct it_client	*c;
	size_t			 i;

	(void)state;
	a = it_root("A");
	c = it_connect(a, "c");
	for (i = 0; i < sizeof login - 1; i++)
		it_send_raw(c, login + i, 1);
	it_expect(c, "LOGIN_SUCCESS");
	for (i = 0; i < sizeof act - 1; i++)
		it_send_raw(c, act + i, 1);
	it_expect(c, "ACTIVITY_BROADCAST");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(c->msg, "activity"), "split")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    chain3__activity_from_each_client__every_client_gets_it_once,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    chain3__activity_content__byte_exact_except_authenticated_user,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    login__anonymous_null_secret__success,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    login__anonymous_no_secret__success,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    login__anonymous_any_secret__success,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    login__registered_right_secret__success,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    login__registered_wrong_secret__login_failed_and_closed,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    login__unknown_user__login_failed_and_closed,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    logout__logged_in_client__server_closes,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    redirect__load_two_above_peer__login_success_redirect_close,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    broadcast__peer_server_frozen__others_still_served,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    activity__forged_authenticated_user_any_spelling__replaced,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    order__many_activities_in_one_write__all_arrive_in_order,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    order__large_activities_in_one_write__all_arrive_in_order,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    framing__split_bytes_and_crlf__accepted,
		    it_setup, it_teardown),
	};

	return it_run_tests("integration: basic", tests);
}
