/*
 * Integration tests of the cluster's security: the server-link
 * handshake (no secret on the wire, an impostor learns nothing and
 * changes nothing), the base protocol's AUTHENTICATE only where
 * allowed, and session tokens that are no oracle for the secret, are
 * bound to their user and expire; the hash helpers behind LOGIN come
 * back when they are killed and end with their server.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "harness.h"
#include "relay.h"
#include "siphash.h"

#define FAKE_LOG_MAX	65536

static uint64_t
wall_now_ms(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* A string member of the last line read, or fail. */
static const char *
str_of(struct it_client *c, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(c->msg, key);

	if (!cJSON_IsString(v))
		it_fail("client %s: no string '%s' in %s", c->name, key,
		    it_escape(c->line, c->line_len));
	return v->valuestring;
}

struct fake {
	char	 got[FAKE_LOG_MAX];	/* everything the servers sent us */
	size_t	 len;
};

/* Read into f->got until a newline arrives, the peer closes, or ms. */
static int
fake_read_line(struct fake *f, int fd, int ms)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)ms;
	struct pollfd	 pfd;
	size_t		 start = f->len;
	ssize_t		 n;

	for (;;) {
		if (memchr(f->got + start, '\n', f->len - start) != NULL)
			return 0;
		if (it_now_ms() >= deadline || f->len >= sizeof f->got - 1)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - it_now_ms())) != 1)
			continue;
		n = read(fd, f->got + f->len, sizeof f->got - 1 - f->len);
		if (n <= 0)
			return -1;
		f->len += (size_t)n;
		f->got[f->len] = '\0';
	}
}

/* Wait (bounded) for the server to close the connection. */
static void
fake_drain(struct fake *f, int fd)
{
	while (fake_read_line(f, fd, it_timeout()) == 0)
		;
	close(fd);
}

static int
fake_accept(int lfd, int ms)
{
	struct pollfd	 pfd;

	pfd.fd = lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

#define FORGED_USERS \
	"\"users\":[{\"username\":\"alice\",\"secret\":\"attacker-pw\"," \
	"\"time\":0,\"origin\":\"\"}]"

/*
 * Regression test (issue: a joining server trusted whatever answered).
 *
 * After kill -9 of a root, a plain listener bound to its freed port got
 * {"command":"AUTHENTICATE","secret":"<the cluster secret>"} from the
 * root's orphan within 2 s, and its forged AUTHENTICATE_SUCCESS with
 * users [{alice, attacker-pw, time 0}] overwrote alice everywhere.
 * Expected: the impostor, whether it answers at once or plays along
 * with the handshake, receives no secret and no user, and alice keeps
 * her secret.
 */
static void
regress__fake_parent_on_freed_port__learns_nothing_changes_nothing(
    void **state)
{
	struct it_server	*a, *b;
	struct it_client	*c;
	static struct fake	 f;
	char			 line[1024], nonce[AUTH_NONCE_HEX];
	uint64_t		 deadline;
	int			 lfd, fd, tries = 0, played = 0;

	(void)state;
	memset(&f, 0, sizeof f);
	a = it_root("A");
	b = it_child("B", a);
	it_register(a, "alice", "alice-real-pw");
	it_login_eventually(b, "alice", "alice-real-pw");

	it_server_kill9(a);
	lfd = it_listen_freed(a->port);
	/*
	 * B probes its lost parent until it is back.  First answer a
	 * forged AUTHENTICATE_SUCCESS at once; then play along with the
	 * handshake and forge the end of it.
	 */
	deadline = it_now_ms() + 4 * (uint64_t)it_timeout();
	while (played < 2 && it_now_ms() < deadline) {
		if ((fd = fake_accept(lfd, 200)) == -1)
			continue;
		tries++;
		if (fake_read_line(&f, fd, it_timeout()) != 0) {
			close(fd);
			continue;
		}
		if (played == 0) {
			snprintf(line, sizeof line, "{\"command\":"
			    "\"AUTHENTICATE_SUCCESS\",\"id\":\"evil\","
			    FORGED_USERS "}\n");
		} else {
			if (auth_nonce(nonce) != 0)
				it_fail("getrandom");
			snprintf(line, sizeof line, "{\"command\":"
			    "\"SERVER_CHALLENGE\",\"nonce\":\"%s\"}\n", nonce);
			(void)!write(fd, line, strlen(line));
			if (fake_read_line(&f, fd, it_timeout()) != 0) {
				close(fd);
				continue;
			}
			snprintf(line, sizeof line, "{\"command\":"
			    "\"AUTHENTICATE_SUCCESS\",\"id\":\"evil\","
			    "\"proof\":\"%064d\",\"token_key\":\"%032d\","
			    FORGED_USERS "}\n", 0, 0);
		}
		(void)!write(fd, line, strlen(line));
		fake_drain(&f, fd);
		played++;
	}
	close(lfd);
	fprintf(stderr, "  the impostor was contacted %d times and heard: "
	    "%s\n", tries, it_escape(f.got, f.len > 400 ? 400 : f.len));
	if (played < 2)
		it_fail("B never came to the freed port twice (%d)", played);
	if (strstr(f.got, IT_SECRET) != NULL)
		it_fail("the impostor received the cluster secret");
	if (strstr(f.got, "alice") != NULL)
		it_fail("the impostor received a user");
	it_wait_log_n(b, "refused a parent: it failed to prove", 2);

	/* Nothing changed: alice's own secret works, the forged one not. */
	c = it_connect(b, "alice-again");
	it_login(c, "alice", "alice-real-pw");
	it_close(c);
	c = it_connect(b, "attacker");
	it_login_fail(c, "alice", "attacker-pw");
	if (!it_server_alive(b))
		it_fail("B died");
}

/*
 * A cluster secret shorter than 16 characters is warned about at start
 * (a recorded handshake lets anyone guess it offline); the harness's
 * 17-character one is not.
 */
static void
secret__shorter_than_16__warned_at_start(void **state)
{
	struct it_server	*a, *b;
	const char		*argv[] = { "-lh", "localhost", "-lp", "@PORT",
	    "-s", "fifteen-chars15", "-a", "100", NULL };

	(void)state;
	a = it_spawn("short", argv, 1);
	it_wait_log(a, "warning: the cluster secret is shorter than 16 "
	    "characters");
	b = it_plain("long");
	it_wait_log(b, "listening");
	if (it_log_count(b, "shorter than") != 0)
		it_fail("a 17-character secret was warned about");
}

/*
 * Without --allow-base-servers the base protocol's AUTHENTICATE is
 * refused even with the right secret, and the refusal is logged.
 */
static void
base_authenticate__refused_by_default(void **state)
{
	struct it_server	*a;
	struct it_client	*c;

	(void)state;
	a = it_plain("A");
	c = it_connect(a, "base-server");
	it_sendf(c, "{\"command\":\"AUTHENTICATE\",\"secret\":\"%s\"}",
	    IT_SECRET);
	it_expect_reply_close(c, "AUTHENTICATION_FAIL");
	it_wait_log(a, "refused a server: AUTHENTICATE sends the cluster "
	    "secret in clear");
}

/* Start the handshake on c; return the server's nonce in theirs. */
static void
hello(struct it_client *c, char ours[AUTH_NONCE_HEX],
    char theirs[AUTH_NONCE_HEX])
{
	if (auth_nonce(ours) != 0)
		it_fail("getrandom");
	it_sendf(c, "{\"command\":\"SERVER_HELLO\",\"nonce\":\"%s\"}", ours);
	it_expect(c, "SERVER_CHALLENGE");
	snprintf(theirs, AUTH_NONCE_HEX, "%s", str_of(c, "nonce"));
	if (strlen(theirs) != AUTH_NONCE_HEX - 1 || strcmp(ours, theirs) == 0)
		it_fail("a bad challenge nonce: %s", theirs);
}

/*
 * The handshake by hand: a wrong proof is refused and logged at
 * warning with the address; the right one is answered with
 * AUTHENTICATE_SUCCESS carrying the server's own proof over both
 * nonces and the wrapped token key.
 */
static void
handshake__wrong_proof_refused__right_one_proved_back(void **state)
{
	struct it_server	*a;
	struct it_client	*c;
	uint8_t			 key[AUTH_KEY_LEN];
	char			 ours[AUTH_NONCE_HEX], theirs[AUTH_NONCE_HEX];
	char			 proof[AUTH_MAC_HEX], tk[AUTH_TOKEN_KEY_HEX];
	char			 wrong[AUTH_KEY_LEN];

	(void)state;
	a = it_plain("A");
	c = it_connect(a, "impostor");
	hello(c, ours, theirs);
	/* The proof of someone with another secret. */
	if (auth_derive_key("not-the-cluster-secret", (uint8_t *)wrong) != 0)
		it_fail("scrypt");
	auth_proof((uint8_t *)wrong, AUTH_LABEL_JOIN, ours, theirs, NULL,
	    proof);
	it_sendf(c, "{\"command\":\"SERVER_PROOF\",\"proof\":\"%s\"}", proof);
	it_expect_reply_close(c, "AUTHENTICATION_FAIL");
	it_wait_log(a, "127.0.0.1");
	it_wait_log(a, "refused a server: it failed to prove it knows the "
	    "cluster secret");
	if (it_log_count(a, "server joined") != 0)
		it_fail("the impostor joined");

	if (auth_derive_key(IT_SECRET, key) != 0)
		it_fail("scrypt");
	c = it_connect(a, "server");
	hello(c, ours, theirs);
	auth_proof(key, AUTH_LABEL_JOIN, ours, theirs, NULL, proof);
	it_sendf(c, "{\"command\":\"SERVER_PROOF\",\"proof\":\"%s\","
	    "\"id\":\"by-hand\"}", proof);
	it_expect(c, "AUTHENTICATE_SUCCESS");
	snprintf(tk, sizeof tk, "%s", str_of(c, "token_key"));
	if (!auth_proof_ok(key, AUTH_LABEL_ACCEPT, ours, theirs, tk,
	    str_of(c, "proof")))
		it_fail("the server's proof does not hold: %s",
		    it_escape(c->line, c->line_len));
	it_wait_log(a, "server joined");
}

/* The info of the last LOGIN_SUCCESS login_session() got. */
static char	 login_info[512];

/* LOGIN with the resume features; the session and token it gets. */
static void
login_session(struct it_server *s, const char *user, const char *secret,
    const char *sid, const char *token, char *got_sid, char *got_token)
{
	struct it_client	*c = it_connect(s, user);
	char			 resume[512] = "";

	if (sid != NULL)
		snprintf(resume, sizeof resume, ",\"resume\":{\"session\":"
		    "\"%s\",\"token\":\"%s\",\"seen\":{}}", sid, token);
	it_sendf(c, "{\"command\":\"LOGIN\",\"username\":\"%s\","
	    "\"secret\":%s%s%s,\"features\":[\"activity_seq\",\"resume\"]%s}",
	    user, secret != NULL ? "\"" : "", secret != NULL ? secret : "null",
	    secret != NULL ? "\"" : "", resume);
	it_expect(c, "LOGIN_SUCCESS");
	snprintf(login_info, sizeof login_info, "%s", str_of(c, "info"));
	snprintf(got_sid, 256, "%s", str_of(c, "session"));
	snprintf(got_token, 256, "%s", str_of(c, "token"));
	it_close(c);
}

/*
 * Regression test (issue: the session token was SipHash(session id)
 * under a key derived from the cluster secret with public constants,
 * so any anonymous client could test guesses of the secret offline).
 *
 * Expected: the token is not that function of the secret, and a token
 * from one server does not verify at another that has the same secret
 * but never joined it (the key is random, not derived).
 */
static void
regress__token__no_longer_verifies_guesses_of_the_secret(void **state)
{
	static const uint8_t	 k0[16] = "activity-sess-k0";
	static const uint8_t	 k1[16] = "activity-sess-k1";
	struct it_server	*x, *y;
	uint8_t			 key[16];
	uint64_t		 h0, h1;
	char			 sid[256], tok[256], sid2[256], tok2[256];
	char			 guess[32];
	int			 i;

	(void)state;
	x = it_root("X");
	y = it_root("Y");
	login_session(x, "anonymous", NULL, NULL, NULL, sid, tok);

	/* The attack from the issue, with the right guess. */
	h0 = siphash24(k0, IT_SECRET, strlen(IT_SECRET));
	h1 = siphash24(k1, IT_SECRET, strlen(IT_SECRET));
	for (i = 0; i < 8; i++) {
		key[i] = (uint8_t)(h0 >> (8 * i));
		key[8 + i] = (uint8_t)(h1 >> (8 * i));
	}
	snprintf(guess, sizeof guess, "%016llx",
	    (unsigned long long)siphash24(key, sid, strlen(sid)));
	if (strcmp(guess, tok) == 0 || strstr(tok, guess) != NULL)
		it_fail("the token %s is a function of the cluster secret",
		    tok);

	/* The token resumes at its own server ... */
	login_session(x, "anonymous", NULL, sid, tok, sid2, tok2);
	if (strcmp(sid2, sid) != 0)
		it_fail("a valid token did not resume session %s (got %s)",
		    sid, sid2);
	/* ... but not at a server that only shares the secret. */
	login_session(y, "anonymous", NULL, sid, tok, sid2, tok2);
	if (strcmp(sid2, sid) == 0)
		it_fail("a server that only shares the secret accepted the "
		    "token: it is derived from the secret");
}

/*
 * Regression test (issue: with --order-wait 0 an anonymous client took
 * over alice's session with her token).
 *
 * Expected: a token resumes only its own user's session; anyone else
 * gets a session of their own, whatever --order-wait is.
 */
static void
regress__token_of_another_user__refused(void **state)
{
	struct it_server	*a;
	char			 sid[256], tok[256], sid2[256], tok2[256];

	(void)state;
	a = it_root("A", "--order-wait", "0");
	it_register(a, "alice", "alice-pw");
	it_register(a, "bob", "bob-pw");
	login_session(a, "alice", "alice-pw", NULL, NULL, sid, tok);

	login_session(a, "anonymous", NULL, sid, tok, sid2, tok2);
	if (strcmp(sid2, sid) == 0)
		it_fail("anonymous resumed alice's session %s", sid);
	login_session(a, "bob", "bob-pw", sid, tok, sid2, tok2);
	if (strcmp(sid2, sid) == 0)
		it_fail("bob resumed alice's session %s", sid);
	if (strstr(login_info, "not resumed: the token was not made for "
	    "this user") == NULL)
		it_fail("bob is not told why: %s", login_info);
	it_wait_log(a, "the token was not made for this user and session");
	/* Alice herself still can. */
	login_session(a, "alice", "alice-pw", sid, tok, sid2, tok2);
	if (strcmp(sid2, sid) != 0)
		it_fail("alice could not resume her own session %s (got %s)",
		    sid, sid2);
	if (strstr(login_info, "not resumed") != NULL)
		it_fail("alice resumed but is told otherwise: %s", login_info);
}

/*
 * A token stops resuming once its --token-lifetime has passed, and the
 * client is told so in LOGIN_SUCCESS's info.
 */
static void
token__expired__not_resumed(void **state)
{
	struct it_server	*a;
	char			 sid[256], tok[256], sid2[256], tok2[256];
	unsigned long long	 expiry;
	uint64_t		 deadline;

	(void)state;
	a = it_root("A", "--token-lifetime", "300");
	login_session(a, "anonymous", NULL, NULL, NULL, sid, tok);
	if (sscanf(tok, "%llu.", &expiry) != 1)
		it_fail("token %s does not start with its expiry", tok);
	deadline = it_now_ms() + (uint64_t)it_timeout();
	while (wall_now_ms() <= expiry) {
		if (it_now_ms() > deadline)
			it_fail("the token's expiry %llu is not near", expiry);
		usleep(20000);
	}
	login_session(a, "anonymous", NULL, sid, tok, sid2, tok2);
	if (strcmp(sid2, sid) == 0)
		it_fail("an expired token resumed session %s", sid);
	/* The client is told why, not only the log. */
	if (strstr(login_info, "not resumed: the token has expired") == NULL)
		it_fail("LOGIN_SUCCESS does not say the token expired: %s",
		    login_info);
	it_wait_log(a, "the token has expired");
}

/*
 * Regression test (issue: user secrets crossed server links in
 * LOCK_REQUEST, USER_REGISTER_RESULT, USER_SYNC and
 * AUTHENTICATE_SUCCESS, the cluster secret in AUTHENTICATE, and the
 * journal kept secrets in plaintext).
 *
 * A child joins its parent through the relay, which records every byte
 * either way; a user registers at the parent and logs in at the child.
 * Expected: neither the cluster secret nor the user's secret is in the
 * link's bytes or the journal; their hash is.
 */
static void
regress__link_and_journal__no_plaintext_secret(void **state)
{
	struct it_server	*a, *b;
	struct relay		*rl;
	char			*got, *dir, path[4200];
	size_t			 len;

	(void)state;
	dir = it_mkdtemp("journal");
	a = it_plain("A", "--data-dir", dir);
	rl = relay_new(a->port);
	relay_capture(rl, 1 << 20);
	b = it_plain("B", "-rh", "localhost", "-rp", relay_port_str(rl));
	it_wait_log(b, "joined the cluster");
	it_register(a, "carol", "carol-secret-pw");
	it_login_eventually(b, "carol", "carol-secret-pw");
	got = relay_captured(rl, &len);
	if (strstr(got, "SERVER_PROOF") == NULL ||
	    strstr(got, "USER_REGISTER_RESULT") == NULL)
		it_fail("the relay did not see the handshake and the "
		    "registration: %s", it_escape(got, len > 300 ? 300 : len));
	if (memmem(got, len, IT_SECRET, strlen(IT_SECRET)) != NULL)
		it_fail("the cluster secret crossed the link");
	if (memmem(got, len, "carol-secret-pw", 15) != NULL)
		it_fail("carol's secret crossed the link in clear");
	if (strstr(got, "\"secret\":\"$y$") == NULL)
		it_fail("no hashed secret crossed the link: %s",
		    it_escape(got, len > 600 ? 600 : len));
	free(got);
	snprintf(path, sizeof path, "%s/users.journal", dir);
	got = it_read_file(path, &len);
	if (strstr(got, "carol") == NULL)
		it_fail("carol is not in the journal: %s", got);
	if (strstr(got, "carol-secret-pw") != NULL)
		it_fail("the journal holds carol's secret in clear: %s", got);
	free(got);
}

/* Read c's lines until one is cmd; fail at the deadline or a close. */
static void
expect_eventually(struct it_client *c, const char *cmd)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)it_timeout();
	const cJSON	*k;

	while (it_now_ms() < deadline) {
		if (it_read_line(c, it_timeout()) != IT_READ_LINE)
			break;
		cJSON_Delete(c->msg);
		c->msg = cJSON_ParseWithLength(c->line, c->line_len);
		k = cJSON_GetObjectItemCaseSensitive(c->msg, "command");
		if (cJSON_IsString(k) && strcmp(k->valuestring, cmd) == 0)
			return;
	}
	it_fail("client %s: no %s", c->name, cmd);
}

/*
 * The login cache never outlives a change of the secret: carol logs in
 * at A twice (the second time from A's login cache), then a server
 * that registered carol earlier with another secret joins A, and that
 * registration wins.  As soon as A has taken the new secret (its
 * session with the old one is ended), the cached old one is refused,
 * without waiting for --login-cache-ttl.
 */
static void
logincache__secret_replaced_by_joining_server__old_secret_fails_at_once(
    void **state)
{
	struct it_server	*a, *b;
	struct it_client	*c1;
	char			*dir;

	(void)state;
	dir = it_mkdtemp("journal");
	b = it_root("B", "--data-dir", dir);
	it_register(b, "carol", "carol-first");
	b->expect_dead = 1;
	assert_int_equal(it_server_stop(b), 0);
	a = it_root("A");
	it_register(a, "carol", "carol-later");
	c1 = it_connect(a, "c1");
	it_login(c1, "carol", "carol-later");
	it_login(it_connect(a, "c2"), "carol", "carol-later");
	b = it_child("B2", a, "--data-dir", dir);
	expect_eventually(c1, "AUTHENTICATION_FAIL");
	it_login_fail(it_connect(a, "c3"), "carol", "carol-later");
	it_login_eventually(a, "carol", "carol-first");
	it_login_eventually(b, "carol", "carol-first");
}

#define HELPERS_MAX	64

/*
 * The pids of ppid's children that have not ended (the hash helpers of
 * a server), at most HELPERS_MAX; with ppid 0, whether each of pids[n]
 * is still running instead (returns how many are).
 */
static int
children_of(pid_t ppid, pid_t *pids, int n)
{
	char		 path[64], buf[512], *p;
	DIR		*d;
	struct dirent	*de;
	FILE		*f;
	long		 pid, parent;
	char		 st;
	int		 i, found = 0;

	if ((d = opendir("/proc")) == NULL)
		it_fail("opendir /proc: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if ((pid = strtol(de->d_name, &p, 10)) <= 0 || *p != '\0')
			continue;
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		p = fgets(buf, sizeof buf, f);
		fclose(f);
		/* "pid (comm) state ppid": comm may hold anything. */
		if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 1, " %c %ld", &st, &parent) != 2 || st == 'Z')
			continue;
		if (ppid != 0) {
			if (parent == (long)ppid && found < HELPERS_MAX)
				pids[found++] = (pid_t)pid;
			continue;
		}
		for (i = 0; i < n; i++)
			if (pids[i] == (pid_t)pid)
				found++;
	}
	closedir(d);
	return found;
}

/* Wait until none of pids[n] runs any more; fail at the deadline. */
static void
expect_ended(pid_t *pids, int n, const char *what)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)it_timeout();

	while (children_of(0, pids, n) > 0) {
		if (it_now_ms() > deadline)
			it_fail("%s: %d hash helpers still run", what,
			    children_of(0, pids, n));
		usleep(20000);
	}
}

#define HELPER_USERS	4

/*
 * A root with HELPER_USERS registered users, helper-userI with secret
 * helper-secretI, whose hash helpers (a worker's and the rescuer's at
 * least) are in pids[*n].
 */
static struct it_server *
root_with_helpers(pid_t *pids, int *n)
{
	struct it_server	*a;
	char			 user[32], secret[32];
	int			 i;

	a = it_root("A", "--login-fail-delay", "0");
	for (i = 0; i < HELPER_USERS; i++) {
		snprintf(user, sizeof user, "helper-user%d", i);
		snprintf(secret, sizeof secret, "helper-secret%d", i);
		it_register(a, user, secret);
	}
	*n = children_of(a->pid, pids, 0);
	if (*n < 2)
		it_fail("server A has %d hash helpers, want a worker's and "
		    "the rescuer's at least", *n);
	return a;
}

/*
 * Every user of root_with_helpers logs in, cold (the cache has none of
 * them: each LOGIN a hash), and one wrong secret is refused.
 */
static void
login_helper_users(struct it_server *a)
{
	char	 user[32], secret[32];
	int	 i;

	for (i = 0; i < HELPER_USERS; i++) {
		snprintf(user, sizeof user, "helper-user%d", i);
		snprintf(secret, sizeof secret, "helper-secret%d", i);
		it_login(it_connect(a, "c"), user, secret);
	}
	it_login_fail(it_connect(a, "bad"), "helper-user0", "not-the-secret");
}

/*
 * A hash helper that dies (the OOM killer, an operator) does not lose a
 * LOGIN: its thread notices at the next hash, logs why, starts another
 * helper and every LOGIN is answered, right or wrong as it should be.
 * When the server stops, no helper, old or new, is left running.
 */
static void
hashpool__helpers_killed__logins_answered_helpers_replaced(void **state)
{
	struct it_server	*a;
	pid_t			 old[HELPERS_MAX], now[HELPERS_MAX];
	pid_t			 all[2 * HELPERS_MAX];
	int			 i, k, nold, nnow, nall, fresh;
	uint64_t		 deadline;

	(void)state;
	a = root_with_helpers(old, &nold);
	for (i = 0; i < nold; i++)
		assert_int_equal(kill(old[i], SIGKILL), 0);
	expect_ended(old, nold, "killed");
	login_helper_users(a);
	it_wait_log(a, "killed by signal 9");
	it_wait_log(a, "started another, pid");
	/* A helper not among the killed ones hashes now. */
	deadline = it_now_ms() + (uint64_t)it_timeout();
	for (;;) {
		nnow = children_of(a->pid, now, 0);
		for (i = 0, fresh = 0; i < nnow; i++) {
			for (k = 0; k < nold && old[k] != now[i]; k++)
				;
			fresh += k == nold;
		}
		if (fresh > 0)
			break;
		if (it_now_ms() > deadline)
			it_fail("no new hash helper after the old ones died");
		usleep(20000);
	}
	nall = 0;
	for (i = 0; i < nold; i++)
		all[nall++] = old[i];
	for (i = 0; i < nnow; i++)
		all[nall++] = now[i];
	a->expect_dead = 1;
	assert_int_equal(it_server_stop(a), 0);
	expect_ended(all, nall, "after the server stopped");
}

/*
 * A SIGHUP that reaches the hash helpers too (a terminal's hangup goes
 * to the whole process group, killall -HUP to every process of the
 * name) reloads the server and leaves them running.
 */
static void
hashpool__helpers_sent_sighup__keep_running(void **state)
{
	struct it_server	*a;
	pid_t			 pids[HELPERS_MAX];
	int			 i, n;

	(void)state;
	a = root_with_helpers(pids, &n);
	for (i = 0; i < n; i++)
		assert_int_equal(kill(pids[i], SIGHUP), 0);
	assert_int_equal(kill(a->pid, SIGHUP), 0);
	it_wait_log(a, "SIGHUP: configuration reloaded");
	it_login(it_connect(a, "c"), "helper-user1", "helper-secret1");
	assert_int_equal(children_of(0, pids, n), n);
}

/*
 * Hash helpers left stopped (SIGSTOP, a debugger) hold no LOGIN for
 * long: each one found stopped while its thread waits is killed and
 * replaced, and the LOGIN answered.  A server whose helpers are all
 * stopped still stops at SIGTERM, and leaves none behind.
 */
static void
hashpool__helpers_stopped__logins_answered_server_stops(void **state)
{
	struct it_server	*a;
	pid_t			 old[HELPERS_MAX], now[HELPERS_MAX];
	int			 i, nold, nnow;

	(void)state;
	a = root_with_helpers(old, &nold);
	for (i = 0; i < nold; i++)
		assert_int_equal(kill(old[i], SIGSTOP), 0);
	login_helper_users(a);
	it_wait_log(a, "stopped for");
	it_wait_log(a, "killed by signal 9");
	/* Now every helper there is, old or new, is stopped. */
	nnow = children_of(a->pid, now, 0);
	for (i = 0; i < nnow; i++)
		assert_int_equal(kill(now[i], SIGSTOP), 0);
	a->expect_dead = 1;
	assert_int_equal(it_server_stop(a), 0);
	expect_ended(old, nold, "after the server stopped (the first)");
	expect_ended(now, nnow, "after the server stopped (the last)");
}

/*
 * A server killed outright (SIGKILL: no clean-up of its own) leaves no
 * hash helper behind either: they die with it.
 */
static void
hashpool__server_killed__helpers_end_with_it(void **state)
{
	struct it_server	*a;
	pid_t			 pids[HELPERS_MAX];
	int			 n;

	(void)state;
	a = root_with_helpers(pids, &n);
	it_server_kill9(a);
	expect_ended(pids, n, "after SIGKILL of the server");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
		    regress__fake_parent_on_freed_port__learns_nothing_changes_nothing,
		    it_teardown),
		cmocka_unit_test_teardown(base_authenticate__refused_by_default,
		    it_teardown),
		cmocka_unit_test_teardown(
		    handshake__wrong_proof_refused__right_one_proved_back,
		    it_teardown),
		cmocka_unit_test_teardown(
		    regress__token__no_longer_verifies_guesses_of_the_secret,
		    it_teardown),
		cmocka_unit_test_teardown(
		    regress__token_of_another_user__refused, it_teardown),
		cmocka_unit_test_teardown(token__expired__not_resumed,
		    it_teardown),
		cmocka_unit_test_teardown(
		    secret__shorter_than_16__warned_at_start, it_teardown),
		cmocka_unit_test_teardown(
		    regress__link_and_journal__no_plaintext_secret,
		    it_teardown),
		cmocka_unit_test_teardown(
		    logincache__secret_replaced_by_joining_server__old_secret_fails_at_once,
		    it_teardown),
		cmocka_unit_test_teardown(
		    hashpool__helpers_killed__logins_answered_helpers_replaced,
		    it_teardown),
		cmocka_unit_test_teardown(
		    hashpool__helpers_sent_sighup__keep_running, it_teardown),
		cmocka_unit_test_teardown(
		    hashpool__helpers_stopped__logins_answered_server_stops,
		    it_teardown),
		cmocka_unit_test_teardown(
		    hashpool__server_killed__helpers_end_with_it, it_teardown),
	};

	return it_run_tests("auth", tests);
}
