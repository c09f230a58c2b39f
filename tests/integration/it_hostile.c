/*
 * Hostile input against a real server, as a table: each case puts a
 * fresh connection in a state (unauthenticated, logged in anonymously,
 * logged in as a registered user, or an authenticated server link),
 * sends bytes, and states the reply the protocol requires and whether
 * the connection must then be closed or must still be served.  After
 * every case a separate logged-in client must still be served, and at
 * the end the server's memory must be back near its baseline.
 *
 * Besides the table: a slowloris sender, a connection flood, and the
 * regression tests for the bugs these tests and the fuzzers found.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MIB		(1024 * 1024)
#define RSS_SLACK_KB	(2 * 1024)	/* memory back within 2 MiB */
#define AUTH_TIMEOUT_MS	1500
#define REG_USER	"reg"
#define REG_SECRET	"reg-secret"

enum hstate {
	H_NEW,		/* nothing sent yet */
	H_ANON,		/* logged in as anonymous */
	H_USER,		/* logged in as REG_USER */
	H_SERVER,	/* AUTHENTICATE with the right secret accepted */
};

enum hend {
	H_CLOSE,	/* the server must close the connection */
	H_OPEN,		/* the connection must still be served */
};

/* Lines built at run time (too long or too deep to write out). */
enum hgen {
	G_NONE,
	G_DEEP65_LOGIN,		/* LOGIN with resume nested 65 deep */
	G_DEEP_ARRAYS,		/* 100000 '[' */
	G_DEEP64_ACTIVITY,	/* an activity at exactly the limit */
	G_DEEP65_ACTIVITY,	/* one over */
	G_DEEP65_BROADCAST,	/* over the limit on a server link */
	G_LONG_USERNAME,	/* 300-byte username */
	G_LONG_SYNC_USER,	/* USER_SYNC entry with a 300-byte name */
};

struct hcase {
	const char	*name;
	enum hstate	 st;
	const char	*line;		/* sent with "\n"; may hold NULs;
					 * "@@" becomes a number unique to
					 * the run */
	size_t		 len;
	const char	*reply;		/* command expected, NULL: none */
	const char	*info;		/* in the reply's info, or NULL */
	enum hend	 end;
	int		 by_lines;	/* broadcasts the bystander gets */
	const char	*by_has;	/* ... whose line contains this */
	const char	*by_lacks;	/* ... and not this */
	enum hgen	 gen;
};

#define L(s)	.line = s, .len = sizeof(s) - 1
#define GEN(g)	.line = NULL, .len = 0
#define INV	"INVALID_MESSAGE"
#define AFAIL	"AUTHENTICATION_FAIL"

#define A_HEAD	"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"anonymous\","
#define U_HEAD	"{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"" \
		REG_USER "\","
#define AUTH_OK	"{\"command\":\"AUTHENTICATE\",\"secret\":\"" IT_SECRET "\""
#define BC(mid)	"{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":" \
		"{\"authenticated_user\":\"bob\",\"t\":\"" mid "\"}," \
		"\"mid\":\"" mid "\",\"sender\":\"" mid ".s\"," \
		"\"activity_seq\":1,\"username\":\"bob\",\"ts\":1}"

static const struct hcase cases[] = {
	/* Truncated and invalid JSON. */
	{ "truncated string", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"anonym"), INV,
	    "invalid JSON", H_CLOSE },
	{ "truncated after colon", H_NEW, L("{\"command\":"), INV,
	    "invalid JSON", H_CLOSE },
	{ "missing closing brace", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"anonymous\""), INV,
	    "invalid JSON", H_CLOSE },
	{ "not JSON", H_NEW, L("GET / HTTP/1.1"), INV, "invalid JSON",
	    H_CLOSE },
	{ "single quotes", H_NEW,
	    L("{'command':'LOGIN','username':'anonymous'}"), INV,
	    "invalid JSON", H_CLOSE },
	{ "trailing garbage", H_NEW, L("{\"command\":\"LOGOUT\"}}"), INV,
	    "invalid JSON", H_CLOSE },
	{ "trailing comma", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"anonymous\",}"), INV,
	    "invalid JSON", H_CLOSE },
	{ "leading zero number", H_NEW, L(AUTH_OK ",\"port\":0123}"), INV,
	    "invalid JSON", H_CLOSE },
	{ "bare minus", H_NEW, L(AUTH_OK ",\"port\":-}"), INV,
	    "invalid JSON", H_CLOSE },
	{ "array not object", H_NEW, L("[{\"command\":\"LOGOUT\"}]"), INV,
	    "not an object", H_CLOSE },
	{ "string not object", H_NEW, L("\"LOGIN\""), INV, "not an object",
	    H_CLOSE },
	{ "truncated on server link", H_SERVER,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":"), INV,
	    "invalid JSON", H_CLOSE },
	{ "truncated activity", H_ANON, L(A_HEAD "\"activity\":{\"a\":["),
	    INV, "invalid JSON", H_CLOSE },

	/* Invalid UTF-8 and NUL bytes. */
	{ "utf8 0xff", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"\xff\"}"), INV, "UTF-8",
	    H_CLOSE },
	{ "utf8 overlong slash", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"\xc0\xaf\"}"), INV,
	    "UTF-8", H_CLOSE },
	{ "utf8 encoded surrogate", H_ANON,
	    L(A_HEAD "\"activity\":{\"t\":\"\xed\xa0\x80\"}}"), INV, "UTF-8",
	    H_CLOSE },
	{ "utf8 truncated sequence", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"\xe2\x82\"}"), INV,
	    "UTF-8", H_CLOSE },
	{ "utf8 above U+10FFFF", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"\xf4\x90\x80\x80\"}"),
	    INV, "UTF-8", H_CLOSE },
	{ "utf8 in a key", H_NEW,
	    L("{\"command\":\"LOGIN\",\"user\xfe\":1,\"username\":\"x\"}"),
	    INV, "UTF-8", H_CLOSE },
	{ "lone surrogate escape", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"\\ud800\"}"), INV,
	    "surrogate", H_CLOSE },
	{ "raw NUL in string", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"anony\0mous\"}"), INV,
	    "NUL", H_CLOSE },
	{ "raw NUL first", H_ANON, L("\0{\"command\":\"PING\"}"), INV, "NUL",
	    H_CLOSE },
	{ "escaped NUL in username", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"a\\u0000b\"}"), INV,
	    "NUL", H_CLOSE },
	{ "escaped NUL in activity passes", H_ANON,
	    L(A_HEAD "\"activity\":{\"t\":\"x\\u0000y\"}}"), NULL, NULL,
	    H_OPEN, 1, "x\\u0000y" },
	{ "raw control char", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"a\x01\"}"), INV,
	    "control character", H_CLOSE },

	/* Nesting. */
	{ "nested 65 in LOGIN", H_NEW, GEN(G_DEEP65_LOGIN), INV,
	    "nested too deeply", H_CLOSE, 0, NULL, NULL, G_DEEP65_LOGIN },
	{ "nested 100000 arrays", H_NEW, GEN(G_DEEP_ARRAYS), INV,
	    "nested too deeply", H_CLOSE, 0, NULL, NULL, G_DEEP_ARRAYS },
	{ "activity at depth 64 passes", H_ANON, GEN(G_DEEP64_ACTIVITY),
	    NULL, NULL, H_OPEN, 1, "{\"d\":{\"d\":", NULL,
	    G_DEEP64_ACTIVITY },
	{ "activity at depth 65", H_ANON, GEN(G_DEEP65_ACTIVITY), INV,
	    "nested too deeply", H_CLOSE, 0, NULL, NULL, G_DEEP65_ACTIVITY },
	{ "broadcast at depth 65", H_SERVER, GEN(G_DEEP65_BROADCAST), INV,
	    "nested too deeply", H_CLOSE, 0, NULL, NULL, G_DEEP65_BROADCAST },

	/* Huge numbers. */
	{ "port 1e999999", H_NEW, L(AUTH_OK ",\"id\":\"h-big\",\"port\":"
	    "1e999999}"), INV, "port", H_CLOSE },
	{ "port overflows 64 bits", H_NEW, L(AUTH_OK ",\"id\":\"h-big2\","
	    "\"port\":99999999999999999999999}"), INV, "port", H_CLOSE },
	{ "port negative", H_NEW, L(AUTH_OK ",\"id\":\"h-neg\",\"port\":-1}"),
	    INV, "port", H_CLOSE },
	{ "port fraction", H_NEW, L(AUTH_OK ",\"id\":\"h-frac\","
	    "\"port\":80.5}"), INV, "port", H_CLOSE },
	{ "announce load 1e400", H_SERVER,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"x1\",\"load\":1e400,"
	    "\"hostname\":\"h\",\"port\":5}"), INV, "load", H_CLOSE },
	{ "announce port 70000", H_SERVER,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"x2\",\"load\":1,"
	    "\"hostname\":\"h\",\"port\":70000}"), INV, "port", H_CLOSE },
	{ "activity_seq huge", H_ANON,
	    L(A_HEAD "\"activity\":{},\"activity_seq\":1e400}"), NULL, NULL,
	    H_OPEN, 1 },
	{ "huge numbers pass through", H_ANON,
	    L(A_HEAD "\"activity\":{\"n\":123456789012345678901234567890,"
	    "\"e\":-1.5e-400}}"), NULL, NULL, H_OPEN, 1,
	    "\"n\":123456789012345678901234567890,\"e\":-1.5e-400" },
	{ "ping ts echoed verbatim", H_ANON,
	    L("{\"command\":\"PING\",\"ts\":1e999}"), "PONG", NULL, H_OPEN },

	/* Duplicated keys. */
	{ "duplicated command", H_NEW,
	    L("{\"command\":\"LOGIN\",\"command\":\"LOGIN\",\"username\":"
	    "\"anonymous\"}"), INV, "duplicated", H_CLOSE },
	{ "duplicated command escaped", H_NEW,
	    L("{\"command\":\"LOGIN\",\"comm\\u0061nd\":\"LOGOUT\","
	    "\"username\":\"anonymous\"}"), INV, "duplicated", H_CLOSE },
	{ "duplicated username", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"anonymous\",\"username\":"
	    "\"" REG_USER "\"}"), INV, "duplicated", H_CLOSE },
	{ "duplicated secret on link", H_SERVER,
	    L("{\"command\":\"LOCK_REQUEST\",\"username\":\"d1\",\"secret\":"
	    "\"a\",\"secret\":\"b\"}"), INV, "duplicated", H_CLOSE },

	/* No command, unknown commands. */
	{ "no command", H_NEW, L("{\"username\":\"anonymous\"}"), INV,
	    "no command", H_CLOSE },
	{ "command is a number", H_NEW, L("{\"command\":5}"), INV,
	    "must be a string", H_CLOSE },
	{ "unknown command", H_NEW, L("{\"command\":\"SHUTDOWN\"}"), INV,
	    "unknown command", H_CLOSE },
	{ "command in lower case", H_ANON, L("{\"command\":\"logout\"}"), INV,
	    "unknown command", H_CLOSE },

	/* Wrong types, every field of several commands. */
	{ "LOGIN username number", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":1}"), INV, "username",
	    H_CLOSE },
	{ "LOGIN secret number", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"" REG_USER "\","
	    "\"secret\":1}"), INV, "secret", H_CLOSE },
	{ "LOGIN features object", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":{}}"), INV, "features", H_CLOSE },
	{ "LOGIN features of numbers", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":[1,2]}"), INV, "features", H_CLOSE },
	{ "LOGIN resume array", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"resume\":[]}"), INV, "resume", H_CLOSE },
	{ "LOGIN username too long", H_NEW, GEN(G_LONG_USERNAME), INV,
	    "username", H_CLOSE, 0, NULL, NULL, G_LONG_USERNAME },
	{ "REGISTER username number", H_NEW,
	    L("{\"command\":\"REGISTER\",\"username\":[],\"secret\":\"s\"}"),
	    INV, "username", H_CLOSE },
	{ "REGISTER secret null", H_NEW,
	    L("{\"command\":\"REGISTER\",\"username\":\"n1\",\"secret\":null}"),
	    INV, "secret", H_CLOSE },
	{ "REGISTER features string", H_NEW,
	    L("{\"command\":\"REGISTER\",\"username\":\"n2\",\"secret\":\"s\","
	    "\"features\":\"all\"}"), INV, "features", H_CLOSE },
	{ "AUTHENTICATE secret number", H_NEW,
	    L("{\"command\":\"AUTHENTICATE\",\"secret\":42}"), INV, "secret",
	    H_CLOSE },
	{ "AUTHENTICATE id number", H_NEW, L(AUTH_OK ",\"id\":7}"), INV,
	    "id", H_CLOSE },
	{ "AUTHENTICATE host bool", H_NEW, L(AUTH_OK ",\"host\":true}"), INV,
	    "host", H_CLOSE },
	{ "AUTHENTICATE port string", H_NEW, L(AUTH_OK ",\"port\":\"80\"}"),
	    INV, "port", H_CLOSE },
	{ "AUTHENTICATE path object", H_NEW, L(AUTH_OK ",\"path\":{}}"), INV,
	    "path", H_CLOSE },
	{ "ACTIVITY activity string", H_ANON,
	    L(A_HEAD "\"activity\":\"hello\"}"), INV, "activity", H_CLOSE },
	{ "ACTIVITY activity array", H_ANON, L(A_HEAD "\"activity\":[1]}"),
	    INV, "activity", H_CLOSE },
	{ "ACTIVITY activity null", H_ANON, L(A_HEAD "\"activity\":null}"),
	    INV, "activity", H_CLOSE },
	{ "ACTIVITY username number", H_ANON,
	    L("{\"command\":\"ACTIVITY_MESSAGE\",\"username\":0,"
	    "\"activity\":{}}"), INV, "username", H_CLOSE },
	{ "ACTIVITY secret number", H_USER,
	    L(U_HEAD "\"secret\":1,\"activity\":{}}"), INV, "secret",
	    H_CLOSE },
	{ "ACTIVITY activity_seq string", H_ANON,
	    L(A_HEAD "\"activity\":{},\"activity_seq\":\"1\"}"), INV,
	    "activity_seq", H_CLOSE },
	{ "ANNOUNCE id number", H_SERVER,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":1,\"load\":1,"
	    "\"hostname\":\"h\",\"port\":5}"), INV, "id", H_CLOSE },
	{ "ANNOUNCE load string", H_SERVER,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"x3\",\"load\":\"1\","
	    "\"hostname\":\"h\",\"port\":5}"), INV, "load", H_CLOSE },
	{ "ANNOUNCE hostname array", H_SERVER,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"x4\",\"load\":1,"
	    "\"hostname\":[],\"port\":5}"), INV, "hostname", H_CLOSE },
	{ "ANNOUNCE port string", H_SERVER,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"x5\",\"load\":1,"
	    "\"hostname\":\"h\",\"port\":\"5\"}"), INV, "port", H_CLOSE },
	{ "ANNOUNCE load negative", H_SERVER,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"x6\",\"load\":-5,"
	    "\"hostname\":\"h\",\"port\":5}"), INV, "load", H_CLOSE },
	{ "LOCK_REQUEST username number", H_SERVER,
	    L("{\"command\":\"LOCK_REQUEST\",\"username\":5,\"secret\":\"s\"}"),
	    INV, "username", H_CLOSE },
	{ "LOCK_REQUEST secret null", H_SERVER,
	    L("{\"command\":\"LOCK_REQUEST\",\"username\":\"d2\","
	    "\"secret\":null}"), INV, "secret", H_CLOSE },
	{ "LOCK_REQUEST origin object", H_SERVER,
	    L("{\"command\":\"LOCK_REQUEST\",\"username\":\"d3\",\"secret\":"
	    "\"s\",\"origin\":{}}"), INV, "origin", H_CLOSE },
	{ "BROADCAST activity string", H_SERVER,
	    L("{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":\"x\"}"), INV,
	    "activity", H_CLOSE },
	{ "BROADCAST mid number", H_SERVER,
	    L("{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":{},"
	    "\"mid\":5}"), INV, "mid", H_CLOSE },
	{ "BROADCAST activity_seq negative", H_SERVER,
	    L("{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":{},"
	    "\"mid\":\"far:1\",\"activity_seq\":-1}"), INV, "activity_seq",
	    H_CLOSE },
	{ "SYNC vv array", H_SERVER,
	    L("{\"command\":\"ACTIVITY_SYNC\",\"vv\":[],\"since\":0}"), INV,
	    "vv", H_CLOSE },
	{ "SYNC vv of strings", H_SERVER,
	    L("{\"command\":\"ACTIVITY_SYNC\",\"vv\":{\"a\":\"1\"},"
	    "\"since\":0}"), INV, "vv", H_CLOSE },
	{ "SYNC since negative", H_SERVER,
	    L("{\"command\":\"ACTIVITY_SYNC\",\"vv\":{},\"since\":-1}"), INV,
	    "since", H_CLOSE },
	{ "REGISTER_RESULT result maybe", H_SERVER,
	    L("{\"command\":\"USER_REGISTER_RESULT\",\"result\":\"maybe\","
	    "\"username\":\"d4\",\"secret\":\"s\"}"), INV, "result", H_CLOSE },

	/* Commands out of state order. */
	{ "AUTHENTICATE_SUCCESS unasked", H_NEW,
	    L("{\"command\":\"AUTHENTICATE_SUCCESS\",\"id\":\"x\"}"), INV,
	    NULL, H_CLOSE },
	{ "ACTIVITY before login", H_NEW, L(A_HEAD "\"activity\":{}}"),
	    AFAIL, NULL, H_CLOSE },
	{ "PING before login", H_NEW, L("{\"command\":\"PING\"}"), INV, NULL,
	    H_CLOSE },
	{ "ANNOUNCE before AUTHENTICATE", H_NEW,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"x7\",\"load\":1,"
	    "\"hostname\":\"h\",\"port\":5}"), INV, NULL, H_CLOSE },
	{ "LOCK_REQUEST before AUTHENTICATE", H_NEW,
	    L("{\"command\":\"LOCK_REQUEST\",\"username\":\"d5\","
	    "\"secret\":\"s\"}"), INV, NULL, H_CLOSE },
	{ "LOGOUT before login", H_NEW, L("{\"command\":\"LOGOUT\"}"), NULL,
	    NULL, H_CLOSE },
	{ "LOGIN twice", H_ANON,
	    L("{\"command\":\"LOGIN\",\"username\":\"anonymous\"}"), INV, NULL,
	    H_CLOSE },
	{ "REGISTER after login", H_USER,
	    L("{\"command\":\"REGISTER\",\"username\":\"n3\","
	    "\"secret\":\"s\"}"), INV, NULL, H_CLOSE },
	{ "LOGIN unknown user", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"nobody\","
	    "\"secret\":\"x\"}"), "LOGIN_FAILED", NULL, H_CLOSE },
	{ "LOGIN wrong secret", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"" REG_USER "\","
	    "\"secret\":\"guess\"}"), "LOGIN_FAILED", NULL, H_CLOSE },
	{ "LOGIN null secret", H_NEW,
	    L("{\"command\":\"LOGIN\",\"username\":\"" REG_USER "\","
	    "\"secret\":null}"), "LOGIN_FAILED", NULL, H_CLOSE },
	{ "REGISTER taken name", H_NEW,
	    L("{\"command\":\"REGISTER\",\"username\":\"" REG_USER "\","
	    "\"secret\":\"other\"}"), "REGISTER_FAILED", NULL, H_CLOSE },
	{ "REGISTER anonymous", H_NEW,
	    L("{\"command\":\"REGISTER\",\"username\":\"anonymous\","
	    "\"secret\":\"s\"}"), "REGISTER_FAILED", NULL, H_CLOSE },
	{ "ACTIVITY as another user", H_ANON,
	    L("{\"command\":\"ACTIVITY_MESSAGE\",\"username\":\"" REG_USER
	    "\",\"secret\":\"" REG_SECRET "\",\"activity\":{}}"), AFAIL, NULL,
	    H_CLOSE },
	{ "ACTIVITY wrong secret", H_USER,
	    L(U_HEAD "\"secret\":\"guess\",\"activity\":{}}"), AFAIL, NULL,
	    H_CLOSE },
	{ "ACTIVITY null secret", H_USER,
	    L(U_HEAD "\"secret\":null,\"activity\":{}}"), AFAIL, NULL,
	    H_CLOSE },
	{ "ACTIVITY no secret", H_USER, L(U_HEAD "\"activity\":{}}"), AFAIL,
	    NULL, H_CLOSE },
	{ "forged authenticated_user", H_ANON,
	    L(A_HEAD "\"activity\":{\"authenticated_user\":\"" REG_USER "\","
	    "\"authenticated\\u005fuser\":\"" REG_USER "\",\"k\":1}}"), NULL,
	    NULL, H_OPEN, 1, "\"authenticated_user\":\"anonymous\",\"k\":1",
	    REG_USER },
	{ "INVALID_MESSAGE from client", H_ANON,
	    L("{\"command\":\"INVALID_MESSAGE\",\"info\":\"bye\"}"), NULL,
	    NULL, H_CLOSE },
	{ "LOGOUT", H_USER, L("{\"command\":\"LOGOUT\"}"), NULL, NULL,
	    H_CLOSE },

	/* Server messages from clients. */
	{ "client sends BROADCAST", H_ANON, L(BC("c:1")), INV, NULL,
	    H_CLOSE },
	{ "client sends ANNOUNCE", H_ANON,
	    L("{\"command\":\"SERVER_ANNOUNCE\",\"id\":\"x8\",\"load\":1,"
	    "\"hostname\":\"h\",\"port\":5}"), INV, NULL, H_CLOSE },
	{ "client sends LOCK_REQUEST", H_USER,
	    L("{\"command\":\"LOCK_REQUEST\",\"username\":\"d6\","
	    "\"secret\":\"s\"}"), INV, NULL, H_CLOSE },
	{ "client sends LOCK_ALLOWED", H_ANON,
	    L("{\"command\":\"LOCK_ALLOWED\",\"username\":\"d7\","
	    "\"secret\":\"s\"}"), INV, NULL, H_CLOSE },
	{ "client sends LOCK_DENIED", H_ANON,
	    L("{\"command\":\"LOCK_DENIED\",\"username\":\"" REG_USER "\","
	    "\"secret\":\"" REG_SECRET "\"}"), INV, NULL, H_CLOSE },
	{ "client sends USER_SYNC", H_ANON,
	    L("{\"command\":\"USER_SYNC\",\"users\":[{\"username\":\"evil\","
	    "\"secret\":\"e\"}]}"), INV, NULL, H_CLOSE },
	{ "client sends REGISTER_RESULT", H_ANON,
	    L("{\"command\":\"USER_REGISTER_RESULT\",\"result\":\"success\","
	    "\"username\":\"evil2\",\"secret\":\"e\"}"), INV, NULL, H_CLOSE },
	{ "client sends SUCC_INFO", H_ANON,
	    L("{\"command\":\"ACTIVITY_SUCC_INFO\",\"username\":\"a\","
	    "\"activity_seq\":1,\"client_count\":1,\"succ_count\":1}"), INV,
	    NULL, H_CLOSE },
	{ "client sends SYNC", H_ANON,
	    L("{\"command\":\"ACTIVITY_SYNC\",\"vv\":{},\"since\":0}"), INV,
	    NULL, H_CLOSE },
	{ "client sends SERVER_LEAVE", H_ANON,
	    L("{\"command\":\"SERVER_LEAVE\",\"id\":\"x\"}"), INV, NULL,
	    H_CLOSE },
	{ "client sends USER_PRESENCE", H_USER,
	    L("{\"command\":\"USER_PRESENCE\",\"username\":\"" REG_USER "\","
	    "\"id\":\"elsewhere\",\"time\":1}"), INV, NULL, H_CLOSE },
	{ "client sends BACKUP_LIST", H_ANON,
	    L("{\"command\":\"BACKUP_LIST\",\"servers\":[]}"), INV, NULL,
	    H_CLOSE },
	{ "client sends AUTHENTICATE", H_ANON, L(AUTH_OK "}"), INV, NULL,
	    H_CLOSE },
	{ "client sends CLUSTER_STATUS", H_ANON,
	    L("{\"command\":\"CLUSTER_STATUS\",\"status\":\"NORMAL\","
	    "\"servers\":[]}"), INV, NULL, H_CLOSE },
	{ "client sends LOGIN_SUCCESS", H_ANON,
	    L("{\"command\":\"LOGIN_SUCCESS\",\"info\":\"x\"}"), INV, NULL,
	    H_CLOSE },
	{ "client sends REDIRECT", H_NEW,
	    L("{\"command\":\"REDIRECT\",\"hostname\":\"h\",\"port\":1}"), INV,
	    NULL, H_CLOSE },

	/* Client messages from servers, and a replayed AUTHENTICATE. */
	{ "server sends AUTHENTICATE again", H_SERVER, L(AUTH_OK "}"), INV,
	    NULL, H_CLOSE },
	{ "server sends LOGIN", H_SERVER,
	    L("{\"command\":\"LOGIN\",\"username\":\"anonymous\"}"), INV, NULL,
	    H_CLOSE },
	{ "server sends REGISTER", H_SERVER,
	    L("{\"command\":\"REGISTER\",\"username\":\"n4\","
	    "\"secret\":\"s\"}"), INV, NULL, H_CLOSE },
	{ "server sends ACTIVITY_MESSAGE", H_SERVER,
	    L(A_HEAD "\"activity\":{}}"), INV, NULL, H_CLOSE },
	{ "server sends LOGOUT", H_SERVER, L("{\"command\":\"LOGOUT\"}"), INV,
	    NULL, H_CLOSE },
	{ "server sends REGISTER_SUCCESS", H_SERVER,
	    L("{\"command\":\"REGISTER_SUCCESS\",\"info\":\"x\"}"), INV, NULL,
	    H_CLOSE },
	{ "server sends INVALID_MESSAGE", H_SERVER,
	    L("{\"command\":\"INVALID_MESSAGE\",\"info\":\"bye\"}"), NULL,
	    NULL, H_CLOSE },

	/* Lock and report messages for names and ids nobody asked about. */
	{ "LOCK_ALLOWED unknown name", H_SERVER,
	    L("{\"command\":\"LOCK_ALLOWED\",\"username\":\"ghost\","
	    "\"secret\":\"g\",\"origin\":\"nowhere\"}"), NULL, NULL, H_OPEN },
	{ "LOCK_DENIED unknown name", H_SERVER,
	    L("{\"command\":\"LOCK_DENIED\",\"username\":\"ghost\","
	    "\"secret\":\"g\"}"), NULL, NULL, H_OPEN },
	{ "LOCK_DENIED registered name", H_SERVER,
	    L("{\"command\":\"LOCK_DENIED\",\"username\":\"" REG_USER "\","
	    "\"secret\":\"" REG_SECRET "\"}"), NULL, NULL, H_OPEN },
	{ "LOCK_REQUEST taken name", H_SERVER,
	    L("{\"command\":\"LOCK_REQUEST\",\"username\":\"" REG_USER "\","
	    "\"secret\":\"steal\"}"), "LOCK_DENIED", NULL, H_OPEN },
	{ "LOCK_REQUEST free name", H_SERVER,
	    L("{\"command\":\"LOCK_REQUEST\",\"username\":\"free@@\","
	    "\"secret\":\"f\"}"), "LOCK_ALLOWED", NULL, H_OPEN },
	{ "SUCC_INFO unknown mid", H_SERVER,
	    L("{\"command\":\"ACTIVITY_SUCC_INFO\",\"username\":\"a\","
	    "\"activity_seq\":1,\"client_count\":3,\"succ_count\":2,"
	    "\"mid\":\"nowhere:77\"}"), NULL, NULL, H_OPEN },
	{ "SUCC_INFO without mid", H_SERVER,
	    L("{\"command\":\"ACTIVITY_SUCC_INFO\",\"username\":\"a\","
	    "\"activity_seq\":1,\"client_count\":3,\"succ_count\":2}"), NULL,
	    NULL, H_OPEN },
	{ "SUCC_INFO succ over count", H_SERVER,
	    L("{\"command\":\"ACTIVITY_SUCC_INFO\",\"username\":\"a\","
	    "\"activity_seq\":1,\"client_count\":1,\"succ_count\":2,"
	    "\"mid\":\"nowhere:78\"}"), INV, NULL, H_CLOSE },
	{ "SUCC_INFO negative counts", H_SERVER,
	    L("{\"command\":\"ACTIVITY_SUCC_INFO\",\"username\":\"a\","
	    "\"activity_seq\":1,\"client_count\":-3,\"succ_count\":-4}"), INV,
	    NULL, H_CLOSE },
	{ "SERVER_LEAVE unknown id", H_SERVER,
	    L("{\"command\":\"SERVER_LEAVE\",\"id\":\"never-was\","
	    "\"mid\":\"x9:1\"}"), NULL, NULL, H_OPEN },
	{ "BACKUP_LIST from a child", H_SERVER,
	    L("{\"command\":\"BACKUP_LIST\",\"servers\":[{\"host\":\"h\","
	    "\"port\":1}]}"), NULL, NULL, H_OPEN },
	{ "broadcast twice delivered once", H_SERVER,
	    L(BC("far:@@") "\n" BC("far:@@")), NULL, NULL, H_OPEN, 1,
	    "\"t\":\"far:" },

	{ "USER_PRESENCE time string", H_SERVER,
	    L("{\"command\":\"USER_PRESENCE\",\"username\":\"" REG_USER "\","
	    "\"id\":\"x\",\"time\":\"now\"}"), INV, "time", H_CLOSE },
	{ "USER_PRESENCE time negative", H_SERVER,
	    L("{\"command\":\"USER_PRESENCE\",\"username\":\"" REG_USER "\","
	    "\"id\":\"x\",\"time\":-1}"), INV, "time", H_CLOSE },
	{ "USER_PRESENCE unknown user", H_SERVER,
	    L("{\"command\":\"USER_PRESENCE\",\"username\":\"nobody@@\","
	    "\"id\":\"x\",\"time\":5,\"mid\":\"pr:@@\"}"), NULL, NULL,
	    H_OPEN },

	/* USER_SYNC with garbage entries. */
	{ "USER_SYNC users object", H_SERVER,
	    L("{\"command\":\"USER_SYNC\",\"users\":{}}"), INV, "users",
	    H_CLOSE },
	{ "USER_SYNC entry number", H_SERVER,
	    L("{\"command\":\"USER_SYNC\",\"users\":[5]}"), INV, "users",
	    H_CLOSE },
	{ "USER_SYNC entry without secret", H_SERVER,
	    L("{\"command\":\"USER_SYNC\",\"users\":[{\"username\":\"g1\"}]}"),
	    INV, "users", H_CLOSE },
	{ "USER_SYNC username number", H_SERVER,
	    L("{\"command\":\"USER_SYNC\",\"users\":[{\"username\":1,"
	    "\"secret\":\"s\"}]}"), INV, "users", H_CLOSE },
	{ "USER_SYNC username with NUL", H_SERVER,
	    L("{\"command\":\"USER_SYNC\",\"users\":[{\"username\":\"g\\u0000"
	    "2\",\"secret\":\"s\"}]}"), INV, "users", H_CLOSE },
	{ "USER_SYNC time string", H_SERVER,
	    L("{\"command\":\"USER_SYNC\",\"users\":[{\"username\":\"g3\","
	    "\"secret\":\"s\",\"time\":\"now\"}]}"), INV, "users", H_CLOSE },
	{ "USER_SYNC username too long", H_SERVER, GEN(G_LONG_SYNC_USER), INV,
	    "users", H_CLOSE, 0, NULL, NULL, G_LONG_SYNC_USER },
	{ "USER_SYNC empty list", H_SERVER,
	    L("{\"command\":\"USER_SYNC\",\"users\":[]}"), NULL, NULL,
	    H_OPEN },
};

#define NCASES	((int)(sizeof cases / sizeof cases[0]))

static struct {
	struct it_server	*a;
	struct it_roster	 r;
	int			 nserv;		/* server-link ids used */
} fx;

/* ---- helpers ---- */

static long
rss_kb(struct it_server *s)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kb = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)s->pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * Is the server's memory use meaningless to compare?  Under ASan freed
 * memory sits in a quarantine, and valgrind has its own heap.
 */
static int
rss_unreliable(struct it_server *s)
{
	char	 path[64], line[512];
	FILE	*f;
	int	 yes = 0;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)s->pid);
	if ((f = fopen(path, "r")) == NULL)
		it_fail("%s: %s", path, strerror(errno));
	while (!yes && fgets(line, sizeof line, f) != NULL)
		yes = strstr(line, "libasan") != NULL ||
		    strstr(line, "vgpreload") != NULL;
	fclose(f);
	return yes;
}

/* Memory back within the slack, unless it cannot be measured. */
static void
check_rss(struct it_server *s, long base, long after, const char *what)
{
	/* A figure that could not be read compares as nothing. */
	if (base < 0 || after < 0)
		it_fail("server memory not measured over %s (VmRSS %ld kB, "
		    "then %ld kB): is /proc/%d/status readable?", what, base,
		    after, (int)s->pid);
	if (rss_unreliable(s)) {
		fprintf(stderr, "  (memory not compared: the server runs "
		    "under a sanitizer or valgrind)\n");
		return;
	}
	if (after > base + RSS_SLACK_KB)
		it_fail("server memory grew from %ld kB to %ld kB over %s",
		    base, after, what);
}

/* Open descriptors of the server (its sockets, mostly). */
static int
fd_count(struct it_server *s)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)s->pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
pause_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Wait until the server holds at most `want` descriptors. */
static void
wait_fds_at_most(struct it_server *s, int want)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)it_timeout();
	int		 n;

	while ((n = fd_count(s)) > want) {
		if (it_now_ms() >= deadline)
			it_fail("server %s still holds %d descriptors, "
			    "expected at most %d", s->name, n, want);
		pause_ms(10);
	}
}

static int
str_in(const char *s, const char *const *set)
{
	int	 i;

	for (i = 0; s != NULL && set[i] != NULL; i++)
		if (strcmp(s, set[i]) == 0)
			return 1;
	return 0;
}

/* What a server link hears without asking; what a client may too. */
static const char *const link_chatter[] = { "SERVER_ANNOUNCE", "BACKUP_LIST",
	"PING", "ACTIVITY_SYNC", "USER_SYNC", "ACTIVITY_BROADCAST",
	"SERVER_LEAVE", "AUTHENTICATE_SUCCESS", "USER_REGISTER_RESULT", NULL };
static const char *const client_chatter[] = { "ACTIVITY_BROADCAST", NULL };

/*
 * The next line that is not chatter: IT_READ_LINE with c->msg parsed,
 * or why there is none.
 */
static enum it_read
next_reply(struct it_client *c, const char *const *skip, const char **cmd)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)it_timeout();
	enum it_read	 r;
	int		 left;

	for (;;) {
		left = (int)(deadline - it_now_ms());
		if (left <= 0)
			return IT_READ_TIMEOUT;
		if ((r = it_read_line(c, left)) != IT_READ_LINE)
			return r;
		cJSON_Delete(c->msg);
		c->msg = cJSON_ParseWithLength(c->line, c->line_len);
		*cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    c->msg, "command"));
		if (*cmd == NULL)
			it_fail("client %s: the server sent a line that is not "
			    "a command object: %s", c->name,
			    it_escape(c->line, c->line_len));
		if (!str_in(*cmd, skip))
			return IT_READ_LINE;
	}
}

static char *
gen_line(enum hgen g, size_t *len)
{
	static char	 buf[128 * 1024];
	size_t		 n = 0;
	int		 i, depth;

#define PUT(s) do {							\
	size_t k_ = strlen(s);						\
	if (n + k_ >= sizeof buf)					\
		abort();						\
	memcpy(buf + n, s, k_);						\
	n += k_;							\
} while (0)
	switch (g) {
	case G_DEEP65_LOGIN:
		/* top (1), resume (2) and 63 more: 65 */
		PUT("{\"command\":\"LOGIN\",\"username\":\"anonymous\","
		    "\"resume\":");
		for (i = 0; i < 63; i++)
			PUT("{\"d\":");
		PUT("{}");
		for (i = 0; i < 63; i++)
			PUT("}");
		PUT("}");
		break;
	case G_DEEP_ARRAYS:
		memset(buf, '[', 100000);
		n = 100000;
		break;
	case G_DEEP64_ACTIVITY:
	case G_DEEP65_ACTIVITY:
	case G_DEEP65_BROADCAST:
		/* top (1), activity (2), then nested objects */
		depth = g == G_DEEP64_ACTIVITY ? 64 : 65;
		if (g == G_DEEP65_BROADCAST)
			PUT("{\"command\":\"ACTIVITY_BROADCAST\","
			    "\"activity\":");
		else
			PUT(A_HEAD "\"activity\":");
		for (i = 2; i < depth; i++)
			PUT("{\"d\":");
		PUT("{}");
		for (i = 2; i < depth; i++)
			PUT("}");
		PUT("}");
		break;
	case G_LONG_USERNAME:
		PUT("{\"command\":\"LOGIN\",\"username\":\"");
		for (i = 0; i < 300; i++)
			PUT("u");
		PUT("\"}");
		break;
	case G_LONG_SYNC_USER:
		PUT("{\"command\":\"USER_SYNC\",\"users\":[{\"username\":\"");
		for (i = 0; i < 300; i++)
			PUT("u");
		PUT("\",\"secret\":\"s\"}]}");
		break;
	case G_NONE:
		abort();
	}
#undef PUT
	*len = n;
	return buf;
}

/* The line with each "@@" replaced by a fresh number. */
static char *
unique_line(const char *line, size_t *len)
{
	static char	 buf[4096];
	static int	 serial;
	char		 num[16];
	size_t		 i, n = 0, k;

	k = (size_t)snprintf(num, sizeof num, "%d", ++serial);
	for (i = 0; i < *len; i++) {
		if (n + k >= sizeof buf)
			abort();
		if (i + 1 < *len && line[i] == '@' && line[i + 1] == '@') {
			memcpy(buf + n, num, k);
			n += k;
			i++;
		} else
			buf[n++] = line[i];
	}
	*len = n;
	return buf;
}

/* One server, a registered user, a logged-in bystander. */
static void
fx_start(const char *extra1, const char *extra2)
{
	memset(&fx, 0, sizeof fx);
	if (extra1 != NULL)
		fx.a = it_root("A", extra1, extra2);
	else
		fx.a = it_root("A");
	it_register(fx.a, REG_USER, REG_SECRET);
	it_roster_login(&fx.r, fx.a, "bystander", "anonymous", NULL);
}

/* A fresh connection in state st. */
static struct it_client *
open_state(enum hstate st, const char *name, char *id, size_t idlen)
{
	struct it_client	*c = it_connect(fx.a, name);
	const char		*cmd;

	id[0] = '\0';
	switch (st) {
	case H_NEW:
		break;
	case H_ANON:
		it_login(c, "anonymous", NULL);
		break;
	case H_USER:
		it_login(c, REG_USER, REG_SECRET);
		break;
	case H_SERVER:
		/* No host/port: this link is no redirect target. */
		snprintf(id, idlen, "hostile-%d", ++fx.nserv);
		it_sendf(c, AUTH_OK ",\"id\":\"%s\"}", id);
		if (next_reply(c, (const char *const[]){ NULL }, &cmd) !=
		    IT_READ_LINE || strcmp(cmd, "AUTHENTICATE_SUCCESS") != 0)
			it_fail("link %s: no AUTHENTICATE_SUCCESS: %s", name,
			    it_escape(c->line, c->line_len));
		break;
	}
	return c;
}

/* After a server link goes, the server must have let go of it too. */
static void
wait_link_closed(const char *id)
{
	char	 needle[64];

	snprintf(needle, sizeof needle, "(%s): closed", id);
	it_wait_log(fx.a, needle);
}

static void
run_case(int i)
{
	const struct hcase	*hc = &cases[i];
	const char *const	*skip;
	struct it_client	*c, *by = fx.r.c[0];
	const char		*line = hc->line, *cmd, *info;
	char			 id[32], name[48];
	size_t			 len = hc->len;
	enum it_read		 r;
	int			 k;

	if (hc->gen != G_NONE)
		line = gen_line(hc->gen, &len);
	else if (memmem(line, len, "@@", 2) != NULL)
		line = unique_line(line, &len);
	snprintf(name, sizeof name, "case%d", i);
	c = open_state(hc->st, name, id, sizeof id);
	skip = hc->st == H_SERVER ? link_chatter : hc->st == H_NEW ?
	    (const char *const[]){ NULL } : client_chatter;
	if (it_send_raw(c, line, len) != 0 || it_send_raw(c, "\n", 1) != 0)
		it_fail("case %d (%s): send: %s", i, hc->name,
		    strerror(errno));

	if (hc->reply != NULL) {
		r = next_reply(c, skip, &cmd);
		if (r != IT_READ_LINE)
			it_fail("case %d (%s): expected %s, got %s", i,
			    hc->name, hc->reply, r == IT_READ_TIMEOUT ?
			    "nothing" : "the connection closed");
		if (strcmp(cmd, hc->reply) != 0)
			it_fail("case %d (%s): expected %s, got: %s", i,
			    hc->name, hc->reply,
			    it_escape(c->line, c->line_len));
		info = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    c->msg, "info"));
		if (hc->info != NULL && (info == NULL ||
		    strstr(info, hc->info) == NULL))
			it_fail("case %d (%s): %s info lacks \"%s\": %s", i,
			    hc->name, cmd, hc->info,
			    it_escape(c->line, c->line_len));
	}
	if (hc->end == H_CLOSE) {
		r = next_reply(c, skip, &cmd);
		if (r != IT_READ_CLOSED)
			it_fail("case %d (%s): expected the server to close, "
			    "got %s", i, hc->name, r == IT_READ_TIMEOUT ?
			    "nothing (still open)" :
			    it_escape(c->line, c->line_len));
	} else {
		/* Still served: a PING is answered. */
		it_sendf(c, "{\"command\":\"PING\",\"ts\":4242}");
		r = next_reply(c, skip, &cmd);
		if (r != IT_READ_LINE || strcmp(cmd, "PONG") != 0)
			it_fail("case %d (%s): connection not served after "
			    "the case: %s", i, hc->name, r != IT_READ_LINE ?
			    "closed or silent" :
			    it_escape(c->line, c->line_len));
	}
	it_close(c);
	if (id[0] != '\0')
		wait_link_closed(id);

	/* The bystander hears what it should, then is served as before. */
	for (k = 0; k < hc->by_lines; k++) {
		r = next_reply(by, (const char *const[]){ NULL }, &cmd);
		if (r != IT_READ_LINE || strcmp(cmd, "ACTIVITY_BROADCAST") != 0)
			it_fail("case %d (%s): the bystander should have the "
			    "case's broadcast, got %s", i, hc->name,
			    r != IT_READ_LINE ? "nothing" :
			    it_escape(by->line, by->line_len));
		if (hc->by_has != NULL && memmem(by->line, by->line_len,
		    hc->by_has, strlen(hc->by_has)) == NULL)
			it_fail("case %d (%s): bystander's broadcast lacks %s: "
			    "%s", i, hc->name, hc->by_has,
			    it_escape(by->line, by->line_len));
		if (hc->by_lacks != NULL && memmem(by->line, by->line_len,
		    hc->by_lacks, strlen(hc->by_lacks)) != NULL)
			it_fail("case %d (%s): bystander's broadcast holds %s: "
			    "%s", i, hc->name, hc->by_lacks,
			    it_escape(by->line, by->line_len));
	}
	it_roster_broadcast(&fx.r, by);
}

/* ---- tests ---- */

static void
hostile__table__right_reply_close_and_others_served(void **state)
{
	struct it_client	*c;
	long			 base, after;
	int			 i;

	(void)state;
	fx_start("--auth-timeout", "20000");
	/* A warm-up round of every case, then the baseline. */
	for (i = 0; i < NCASES; i++)
		run_case(i);
	base = rss_kb(fx.a);
	for (i = 0; i < NCASES; i++)
		run_case(i);
	/* State intact: the registered user still logs in. */
	c = it_connect(fx.a, "reg-again");
	it_login(c, REG_USER, REG_SECRET);
	it_close(c);
	after = rss_kb(fx.a);
	fprintf(stderr, "  hostile: %d cases x2, server RSS %ld kB after the "
	    "first round, %ld kB after the second\n", NCASES, base, after);
	check_rss(fx.a, base, after, "the hostile cases");
}

/*
 * Slowloris: a LOGIN trickled one byte every 100 ms is cut off at the
 * --auth-timeout deadline with INVALID_MESSAGE, while the bystander is
 * served throughout.
 */
static void
hostile__slowloris__closed_at_auth_deadline(void **state)
{
	static const char	 line[] = "{\"command\":\"LOGIN\",\"username\":"
				    "\"anonymous\",\"pad\":\"................"
				    "........................\"}\n";
	struct it_client	*c;
	struct pollfd		 pfd;
	uint64_t		 t0, closed_at = 0, elapsed;
	char			 buf[512];
	size_t			 i, got = 0;
	ssize_t			 n;

	(void)state;
	fx_start("--auth-timeout", "1500");
	c = it_connect(fx.a, "slowloris");
	t0 = it_now_ms();
	for (i = 0; i < sizeof line - 1 && closed_at == 0; i++) {
		if (send(c->fd, line + i, 1, MSG_NOSIGNAL) != 1) {
			closed_at = it_now_ms();
			break;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) == 1) {
			n = read(c->fd, buf + got, sizeof buf - 1 - got);
			if (n <= 0)
				closed_at = it_now_ms();
			else
				got += (size_t)n;
		}
		if (i % 5 == 0)
			it_roster_broadcast(&fx.r, fx.r.c[0]);
	}
	if (closed_at == 0)
		it_fail("slowloris: still open after %llu ms (auth-timeout "
		    "1500)", (unsigned long long)(it_now_ms() - t0));
	buf[got] = '\0';
	elapsed = closed_at - t0;
	fprintf(stderr, "  slowloris: closed after %llu ms, %zu bytes sent: "
	    "%s", (unsigned long long)elapsed, i, buf);
	if (strstr(buf, "\"INVALID_MESSAGE\"") == NULL)
		it_fail("slowloris: closed without INVALID_MESSAGE: %s",
		    it_escape(buf, got));
	if (elapsed < AUTH_TIMEOUT_MS - 50 ||
	    elapsed > AUTH_TIMEOUT_MS + (uint64_t)it_scale_ms(1000))
		it_fail("slowloris: closed after %llu ms, expected about %d",
		    (unsigned long long)elapsed, AUTH_TIMEOUT_MS);
	it_roster_broadcast(&fx.r, fx.r.c[0]);
}

#define FLOOD		500

/* Connect without the harness (it holds 256 clients at most). */
static int
raw_connect(int port)
{
	struct sockaddr_in	 sin;
	int			 fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		it_fail("socket: %s", strerror(errno));
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		it_fail("connect: %s", strerror(errno));
	return fd;
}

/* Read one line from fd within ms, into buf; -1 on close or timeout. */
static int
raw_line(int fd, char *buf, size_t len, int ms)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)ms;
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	size_t		 got = 0;
	ssize_t		 n;
	int		 left;

	while (got < len - 1) {
		left = (int)((int64_t)deadline - (int64_t)it_now_ms());
		if (poll(&pfd, 1, left > 0 ? left : 0) != 1)
			return -1;
		if ((n = read(fd, buf + got, 1)) <= 0)
			return -1;
		if (buf[got] == '\n') {
			buf[got] = '\0';
			return 0;
		}
		got++;
	}
	return -1;
}

/* EOF (or reset) within ms. */
static int
raw_closed(int fd, int ms)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		 b;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	return read(fd, &b, 1) <= 0;
}

/*
 * 500 connections at once: every one is accepted, a sample of them
 * logs in, and the bystander is served throughout; once they are gone
 * the server is back to its descriptors and memory.
 */
static void
hostile__connection_flood__others_served_memory_back(void **state)
{
	static const char	 login[] = "{\"command\":\"LOGIN\","
				    "\"username\":\"anonymous\"}\n";
	int			 fds[FLOOD], i, base_fds;
	long			 base, peak, after;
	char			 buf[512];

	(void)state;
	fx_start(NULL, NULL);
	base_fds = fd_count(fx.a);
	/* Warm-up: one smaller flood, so allocator caches are primed. */
	for (i = 0; i < 50; i++)
		fds[i] = raw_connect(fx.a->port);
	it_roster_broadcast(&fx.r, fx.r.c[0]);
	for (i = 0; i < 50; i++)
		close(fds[i]);
	wait_fds_at_most(fx.a, base_fds);
	base = rss_kb(fx.a);

	for (i = 0; i < FLOOD; i++)
		fds[i] = raw_connect(fx.a->port);
	it_roster_broadcast(&fx.r, fx.r.c[0]);
	for (i = 0; i < FLOOD; i += 25) {
		if (write(fds[i], login, sizeof login - 1) !=
		    (ssize_t)(sizeof login - 1))
			it_fail("flood %d: write failed", i);
		if (raw_line(fds[i], buf, sizeof buf, it_timeout()) != 0 ||
		    strstr(buf, "LOGIN_SUCCESS") == NULL)
			it_fail("flood connection %d not served", i);
	}
	it_roster_broadcast(&fx.r, fx.r.c[0]);
	peak = rss_kb(fx.a);
	for (i = 0; i < FLOOD; i++)
		close(fds[i]);
	wait_fds_at_most(fx.a, base_fds);
	it_roster_broadcast(&fx.r, fx.r.c[0]);
	after = rss_kb(fx.a);
	fprintf(stderr, "  flood: %d connections; server RSS %ld kB before, "
	    "%ld kB with them, %ld kB after\n", FLOOD, base, peak, after);
	check_rss(fx.a, base, after, "a flood of connections");
}

/*
 * With --max-connections 100, a flood of 150: the first ones are
 * served, the rest refused with INVALID_MESSAGE and closed, and once
 * the flood is gone new connections are accepted again.
 */
static void
hostile__flood_over_max_connections__extra_refused(
    void **state)
{
	static const char	 login[] = "{\"command\":\"LOGIN\","
				    "\"username\":\"anonymous\"}\n";
	int			 fds[150], i, refused = 0, open_ = 0;
	int			 reset = 0;
	char			 buf[512];
	struct it_client	*c;

	(void)state;
	fx_start("--max-connections", "100");
	for (i = 0; i < 150; i++)
		fds[i] = raw_connect(fx.a->port);
	/*
	 * 100 clients at most: the bystander and 99 of these.  The rest
	 * are refused at their LOGIN, or at once past the room kept for
	 * joining servers (--max-servers).
	 */
	it_roster_broadcast(&fx.r, fx.r.c[0]);
	for (i = 0; i < 150; i++) {
		/* A refused one has its answer waiting, then EOF. */
		if (raw_line(fds[i], buf, sizeof buf, 0) == 0) {
			if (strstr(buf, "INVALID_MESSAGE") == NULL ||
			    strstr(buf, "too many connections") == NULL)
				it_fail("flood %d: unexpected %s", i, buf);
			if (!raw_closed(fds[i], it_timeout()))
				it_fail("flood %d: refused but not closed", i);
			refused++;
			close(fds[i]);
			fds[i] = -1;
		} else if (send(fds[i], login, sizeof login - 1,
		    MSG_NOSIGNAL) != (ssize_t)(sizeof login - 1))
			it_fail("flood %d: not refused, but send failed: %s",
			    i, strerror(errno));
	}
	for (i = 0; i < 150; i++) {
		if (fds[i] == -1)
			continue;
		if (raw_line(fds[i], buf, sizeof buf, it_timeout()) != 0)
			reset++;	/* refused late: our LOGIN met a RST */
		else if (strstr(buf, "LOGIN_SUCCESS") != NULL)
			open_++;
		else if (strstr(buf, "too many connections") != NULL)
			refused++;
		else
			it_fail("flood %d: neither refused nor served: %s", i,
			    buf);
	}
	it_wait_log_n(fx.a, "refusing", 51);
	fprintf(stderr, "  max-connections 100: %d served, %d refused, %d "
	    "reset\n", open_, refused, reset);
	/*
	 * The bystander is one of the 100: 99 served, 51 refused, unless
	 * the harness's readiness probes were still counted (slow runs).
	 */
	if (open_ > 99 || open_ < 90 || refused < 45)
		it_fail("expected 99 served and 51 refused, got %d served, %d "
		    "refused, %d reset", open_, refused, reset);
	it_roster_broadcast(&fx.r, fx.r.c[0]);
	for (i = 0; i < 150; i++)
		if (fds[i] != -1)
			close(fds[i]);
	/* Room again once they are gone. */
	{
		uint64_t deadline = it_now_ms() + (uint64_t)it_timeout();

		for (;;) {
			c = it_connect(fx.a, "after-flood");
			it_sendf(c, "{\"command\":\"LOGIN\",\"username\":"
			    "\"anonymous\"}");
			if (it_read_line(c, it_timeout()) == IT_READ_LINE &&
			    strstr(c->line, "LOGIN_SUCCESS") != NULL)
				break;
			it_close(c);
			if (it_now_ms() >= deadline)
				it_fail("no room after the flood closed");
			pause_ms(20);
		}
	}
	it_roster_broadcast(&fx.r, fx.r.c[0]);
}

/* ---- regression tests for bugs found here and by the fuzzers ---- */

/*
 * Regression test (found here, fixed in 92c266a).
 *
 * fuzz_conn, first seed run: LOGIN with features [activity_seq,
 * resume] and a "resume" object on a server whose replay log holds
 * nothing for the client makes replay_resume() call qsort(NULL, 0, ...)
 * (server/replay.c), undefined behaviour: UBSan aborts the server under
 * make check-asan.  Expected: LOGIN_SUCCESS with resume "ok" and the
 * server alive.  The plain build survived: this failed only under
 * check-asan (the harness reports the dead server).
 */
static void
regress__resume_with_empty_replay_log__login_succeeds(void **state)
{
	struct it_client	*c;
	const cJSON		*res;

	(void)state;
	/* No bystander: its hello would put an activity in the log. */
	memset(&fx, 0, sizeof fx);
	fx.a = it_root("A");
	it_register(fx.a, REG_USER, REG_SECRET);
	c = it_connect(fx.a, "resumer");
	it_sendf(c, "{\"command\":\"LOGIN\",\"username\":\"" REG_USER "\","
	    "\"secret\":\"" REG_SECRET "\",\"features\":[\"activity_seq\","
	    "\"resume\"],\"resume\":{\"session\":\"s1\",\"seen\":"
	    "{\"peer2.1\":3},\"since\":0}}");
	it_expect(c, "LOGIN_SUCCESS");
	res = cJSON_GetObjectItemCaseSensitive(c->msg, "resume");
	if (!cJSON_IsString(res))
		it_fail("LOGIN_SUCCESS without resume: %s",
		    it_escape(c->line, c->line_len));
	it_sendf(c, "{\"command\":\"PING\",\"ts\":1}");
	if (it_read_line(c, it_timeout()) != IT_READ_LINE ||
	    strstr(c->line, "PONG") == NULL)
		it_fail("no PONG after the resume (server died?)");
	if (!it_server_alive(fx.a))
		it_fail("the server died on a resume with nothing to replay");
}

/*
 * Regression test (found here, fixed in 73d8eb7).
 *
 * A server that joins with the base protocol's AUTHENTICATE (only a
 * secret: no id, host or port) is recorded as a known server at "?"
 * port 0 with load 0 (cmd_authenticate -> known_update with host "?"
 * and port 0).  Until that entry ages out (4 announce intervals, 20 s
 * by default) every client that logs in once two are connected is sent
 * REDIRECT {"hostname":"?","port":0} and closed: it cannot connect
 * anywhere.  Expected: a server known without a listening address is
 * never a REDIRECT target; the client stays logged in here.
 */
static void
regress__base_server_joins__no_redirect_to_nowhere(
    void **state)
{
	struct it_client	*link, *c1, *c2;
	const char		*cmd;

	(void)state;
	memset(&fx, 0, sizeof fx);
	fx.a = it_root("A", "-a", "5000");
	link = it_connect(fx.a, "base-server");
	it_sendf(link, "{\"command\":\"AUTHENTICATE\",\"secret\":\""
	    IT_SECRET "\"}");
	it_expect(link, "AUTHENTICATE_SUCCESS");
	c1 = it_connect(fx.a, "c1");
	it_login(c1, "anonymous", NULL);
	c2 = it_connect(fx.a, "c2");
	it_login(c2, "anonymous", NULL);
	/* The next thing c2 hears must be the answer to its PING. */
	it_sendf(c2, "{\"command\":\"PING\",\"ts\":1}");
	if (next_reply(c2, (const char *const[]){ NULL }, &cmd) !=
	    IT_READ_LINE || strcmp(cmd, "PONG") != 0)
		it_fail("second client not kept: %s",
		    it_escape(c2->line, c2->line_len));
}

/*
 * Regression test (found here, fixed in 73d8eb7).
 *
 * LOGIN "resume" takes over any sender session another client of the
 * same username holds (order_session_owner compares usernames only),
 * and every anonymous client has the username "anonymous".  Session ids
 * are public (the "sender" of every activity_seq broadcast).  Anonymous
 * M resumes anonymous V's session and sends activity_seq 2..5 under
 * it; V's own activity_seq 2 is then dropped everywhere as a repeat:
 * W never receives it.  Expected: V's activities reach W (M must not
 * get V's session).
 */
static void
regress__anon_resume_other_session__victim_delivered(void **state)
{
	struct it_client	*v, *w, *m;
	const char		*sid;
	char			 session[256];
	int			 i;

	(void)state;
	fx_start(NULL, NULL);
	v = it_connect(fx.a, "victim");
	it_sendf(v, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":[\"activity_seq\"]}");
	it_expect(v, "LOGIN_SUCCESS");
	sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v->msg,
	    "session"));
	if (sid == NULL)
		it_fail("no session in LOGIN_SUCCESS");
	snprintf(session, sizeof session, "%s", sid);
	w = it_connect(fx.a, "watcher");
	it_login(w, "anonymous", NULL);
	it_sendf(v, A_HEAD "\"activity\":{\"from\":\"V\",\"n\":1},"
	    "\"activity_seq\":1}");
	it_expect(w, "ACTIVITY_BROADCAST");

	m = it_connect(fx.a, "mallory");
	it_sendf(m, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":[\"activity_seq\",\"resume\"],\"resume\":"
	    "{\"session\":\"%s\",\"seen\":{}}}", session);
	it_expect(m, "LOGIN_SUCCESS");
	for (i = 2; i <= 5; i++)
		it_sendf(m, A_HEAD "\"activity\":{\"from\":\"M\",\"n\":%d},"
		    "\"activity_seq\":%d}", i, i);
	for (i = 2; i <= 5; i++)
		it_expect(w, "ACTIVITY_BROADCAST");
	it_sendf(v, A_HEAD "\"activity\":{\"from\":\"V\",\"n\":2},"
	    "\"activity_seq\":2}");
	it_expect(w, "ACTIVITY_BROADCAST");
	if (strstr(w->line, "\"from\":\"V\"") == NULL)
		it_fail("expected V's second activity, got: %s",
		    it_escape(w->line, w->line_len));
}

/*
 * Regression test (found here, fixed in 73d8eb7).
 *
 * The same, before the victim exists: session ids are "<server
 * id>.<connection serial>", so the next one is predictable, and a
 * resume naming a session nobody holds yet is granted
 * (order_session_owner: no sender yet -> owner).  M claims the id the
 * next connection will get and spends activity_seq 1..3 on it; the
 * victim, a registered user, then logs in, is given that same session,
 * and its first activities are dropped as repeats: W never sees them.
 */
static void
regress__resume_preclaims_next_session__victim_delivered(void **state)
{
	struct it_client	*w, *m, *v;
	const char		*sid, *dot;
	char			 claim[256];
	long			 serial;
	int			 i;

	(void)state;
	fx_start(NULL, NULL);
	w = it_connect(fx.a, "watcher");
	it_login(w, "anonymous", NULL);
	m = it_connect(fx.a, "mallory");
	it_sendf(m, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":[\"activity_seq\"]}");
	it_expect(m, "LOGIN_SUCCESS");
	sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m->msg,
	    "session"));
	if (sid == NULL || (dot = strrchr(sid, '.')) == NULL)
		it_fail("no session in LOGIN_SUCCESS");
	serial = strtol(dot + 1, NULL, 10);
	/* Our next connection is serial+1; the victim's serial+2. */
	snprintf(claim, sizeof claim, "%.*s.%ld", (int)(dot - sid), sid,
	    serial + 2);
	it_close(m);
	m = it_connect(fx.a, "mallory2");
	it_sendf(m, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"features\":[\"activity_seq\",\"resume\"],\"resume\":"
	    "{\"session\":\"%s\",\"seen\":{}}}", claim);
	it_expect(m, "LOGIN_SUCCESS");
	for (i = 1; i <= 3; i++) {
		it_sendf(m, A_HEAD "\"activity\":{\"from\":\"M\",\"n\":%d},"
		    "\"activity_seq\":%d}", i, i);
		it_expect(w, "ACTIVITY_BROADCAST");
	}
	v = it_connect(fx.a, "victim");
	it_sendf(v, "{\"command\":\"LOGIN\",\"username\":\"" REG_USER "\","
	    "\"secret\":\"" REG_SECRET "\",\"features\":[\"activity_seq\"]}");
	it_expect(v, "LOGIN_SUCCESS");
	fprintf(stderr, "  claimed %s; the victim was given %s\n", claim,
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v->msg,
	    "session")));
	it_sendf(v, U_HEAD "\"secret\":\"" REG_SECRET "\",\"activity\":"
	    "{\"from\":\"V\",\"n\":1},\"activity_seq\":1}");
	if (it_read_line(w, it_timeout()) != IT_READ_LINE ||
	    strstr(w->line, "\"from\":\"V\"") == NULL)
		it_fail("the victim's first activity never reached the "
		    "watcher");
}

/*
 * Regression test (found here, fixed in 73d8eb7).
 *
 * Log injection by an unauthenticated client: a REGISTER username may
 * hold a newline (decoded from "\\n"), and lock.c logs the name raw
 * ("registration of %s succeeded"), so a client writes whole forged
 * lines into the server's log.  STYLE: escape and cap anything a peer
 * sent before logging it.  Expected: no log line starts with FORGED.
 */
static void
regress__register_username_with_newline__log_line_escaped(void **state)
{
	struct it_client	*c;

	(void)state;
	memset(&fx, 0, sizeof fx);
	fx.a = it_root("A");
	c = it_connect(fx.a, "injector");
	it_sendf(c, "{\"command\":\"REGISTER\",\"username\":\"inj\\n"
	    "FORGED warning: server compromised\",\"secret\":\"s\"}");
	it_expect(c, "REGISTER_SUCCESS");
	it_close(c);
	it_wait_log(fx.a, "registration of inj");
	if (it_log_count(fx.a, "\nFORGED") > 0)
		it_fail("a client's username wrote a line of its own into the "
		    "server log");
}

/*
 * Regression test (found here, fixed in 73d8eb7).
 *
 * A parent that accepts a child and then closes the link at once (an
 * INVALID_MESSAGE right after AUTHENTICATE_SUCCESS: any persistent
 * objection, such as a line over its --max-message) is reconnected to
 * without any backoff: established resets the failed-round count, so
 * the child reconnects and re-authenticates as fast as the loopback
 * allows.  Expected: a minimum interval between attempts (the backoff
 * starts at 50 ms), so at most ~20 attempts a second, not hundreds.
 */
static void
regress__parent_closing_after_accept__reconnects_back_off(void **state)
{
	struct pollfd		 pfd;
	const char		*argv[16];
	char			 port[16], buf[4096];
	static const char	 reply[] =
	    "{\"command\":\"AUTHENTICATE_SUCCESS\",\"id\":\"evil-parent\"}\n"
	    "{\"command\":\"INVALID_MESSAGE\",\"info\":\"go away\"}\n";
	uint64_t		 t0;
	int			 lfd, fd, n = 0;

	(void)state;
	lfd = it_listen_any(port);
	argv[0] = "-lh"; argv[1] = "localhost"; argv[2] = "-lp";
	argv[3] = "@PORT"; argv[4] = "-s"; argv[5] = IT_SECRET;
	argv[6] = "-a"; argv[7] = "100"; argv[8] = "-rh";
	argv[9] = "localhost"; argv[10] = "-rp"; argv[11] = port;
	argv[12] = NULL;
	it_spawn("child", argv, 1);

	/* Serve as that parent for one second; count the attempts. */
	t0 = it_now_ms();
	while (it_now_ms() - t0 < 1000) {
		pfd.fd = lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 50) != 1)
			continue;
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		n++;
		pfd.fd = fd;
		if (poll(&pfd, 1, 500) == 1 && read(fd, buf, sizeof buf) > 0)
			(void)!write(fd, reply, sizeof reply - 1);
		close(fd);
	}
	close(lfd);
	fprintf(stderr, "  a parent that closes after accepting: %d attempts "
	    "in one second\n", n);
	if (n > 25)
		it_fail("%d reconnects to the same parent within one second: "
		    "no backoff after a link that was closed at once", n);
}

/*
 * Found by fuzz_conn (input "Z\\0" "2\"c\"co": a deaf link, a reading
 * link and our link, 1.5 KiB caps).  A fan-out whose bytes live in the
 * server's scratch buffer srv->out (a forwarded SERVER_ANNOUNCE, our
 * own announce, a LOCK_REQUEST...) walks the links; when a send to one
 * link fails at --server-outbuf, peer_close() of that child ran
 * tree_leave(), which rebuilds SERVER_LEAVE in the same srv->out, and
 * the walk goes on sending the old length from the overwritten buffer:
 * the links after it get the SERVER_LEAVE, a NUL byte and the tail of
 * the old line (a real server answers "message contains a NUL byte" and
 * closes that link too; had srv->out been reallocated, a use after
 * free).  Now a close's consequences run from the event loop after the
 * callback that closed the peer (peer.c).  Here a link floods 60 KiB
 * announces until the deaf link "deaf" is dropped; "watcher", after it
 * in the list, must only ever get well-formed lines.
 */
static void
regress__link_dropped_mid_fanout__next_links_get_whole_lines(void **state)
{
	struct it_client	*watch, *src;
	struct sockaddr_in	 sin;
	char			*pad, auth[256];
	const char		*cmd, *mid;
	int			 deaf, sz = 4096, i, bad = 0, lines = 0;
	char			 first[400] = "", want[32];

	(void)state;
	memset(&fx, 0, sizeof fx);
	fx.a = it_root("A", "--server-outbuf", "65536",
	    "--heartbeat-timeout", "60000");
	/* The deaf link first, so the fan-out reaches it before watcher. */
	if ((deaf = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		it_fail("socket: %s", strerror(errno));
	setsockopt(deaf, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)fx.a->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(deaf, (struct sockaddr *)&sin, sizeof sin) == -1)
		it_fail("connect: %s", strerror(errno));
	snprintf(auth, sizeof auth, AUTH_OK ",\"id\":\"deaf\"}\n");
	if (write(deaf, auth, strlen(auth)) != (ssize_t)strlen(auth))
		it_fail("deaf: write");
	it_wait_log(fx.a, "(deaf): server joined");
	watch = it_connect(fx.a, "watcher");
	it_sendf(watch, AUTH_OK ",\"id\":\"watcher\"}");
	it_expect(watch, "AUTHENTICATE_SUCCESS");
	src = it_connect(fx.a, "source");
	it_sendf(src, AUTH_OK ",\"id\":\"source\"}");
	it_expect(src, "AUTHENTICATE_SUCCESS");

	if ((pad = malloc(60001)) == NULL)
		abort();
	memset(pad, 'p', 60000);
	pad[60000] = '\0';
	for (i = 1; i <= 400 && bad == 0 &&
	    it_log_count(fx.a, "(deaf): dropped") == 0; i++) {
		it_sendf(src, "{\"command\":\"SERVER_ANNOUNCE\",\"id\":"
		    "\"far\",\"load\":1000,\"hostname\":\"h\",\"port\":1,"
		    "\"mid\":\"far:%d\",\"pad\":\"%s\"}", i, pad);
		/*
		 * watcher reads each announce before the next is sent, so
		 * its output never holds more than one (60 KiB, under the
		 * 64 KiB cap) however slowly this process runs: only deaf
		 * fills up.
		 */
		snprintf(want, sizeof want, "far:%d", i);
		for (;;) {
			if (it_read_line(watch, it_timeout()) != IT_READ_LINE) {
				if (bad > 0)
					break;
				it_fail("watcher: announce %d not forwarded "
				    "(closed?)", i);
			}
			lines++;
			cJSON_Delete(watch->msg);
			watch->msg = NULL;
			if (memchr(watch->line, '\0',
			    watch->line_len) == NULL &&
			    (watch->msg = cJSON_ParseWithLength(watch->line,
			    watch->line_len)) != NULL) {
				mid = cJSON_GetStringValue(
				    cJSON_GetObjectItemCaseSensitive(
				    watch->msg, "mid"));
				if (mid != NULL && strcmp(mid, want) == 0)
					break;
				continue;
			}
			if (bad++ == 0)
				snprintf(first, sizeof first, "%s", it_escape(
				    watch->line, watch->line_len > 200 ? 200 :
				    watch->line_len));
		}
	}
	free(pad);
	if (bad == 0 && it_log_count(fx.a, "(deaf): dropped") == 0)
		it_fail("the deaf link was never dropped");
	/* Drain watcher up to a round trip; every line must be whole. */
	it_sendf(watch, "{\"command\":\"PING\",\"ts\":3}");
	while (bad == 0) {
		if (it_read_line(watch, it_timeout()) != IT_READ_LINE)
			it_fail("watcher: no PONG (closed?)");
		lines++;
		cJSON_Delete(watch->msg);
		watch->msg = NULL;
		if (memchr(watch->line, '\0', watch->line_len) != NULL ||
		    (watch->msg = cJSON_ParseWithLength(watch->line,
		    watch->line_len)) == NULL) {
			if (bad++ == 0)
				snprintf(first, sizeof first, "%s", it_escape(
				    watch->line, watch->line_len > 200 ? 200 :
				    watch->line_len));
			continue;
		}
		cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    watch->msg, "command"));
		if (cmd != NULL && strcmp(cmd, "PONG") == 0)
			break;
	}
	close(deaf);
	fprintf(stderr, "  watcher read %d lines, %d of them corrupt\n",
	    lines, bad);
	if (bad > 0)
		it_fail("the link after a dropped one got %d corrupt lines "
		    "(a NUL byte or broken JSON), the first: %s", bad, first);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    hostile__table__right_reply_close_and_others_served,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    hostile__slowloris__closed_at_auth_deadline,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    hostile__connection_flood__others_served_memory_back,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    hostile__flood_over_max_connections__extra_refused,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    regress__resume_with_empty_replay_log__login_succeeds,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    regress__base_server_joins__no_redirect_to_nowhere,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    regress__anon_resume_other_session__victim_delivered,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    regress__resume_preclaims_next_session__victim_delivered,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    regress__register_username_with_newline__log_line_escaped,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    regress__parent_closing_after_accept__reconnects_back_off,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    regress__link_dropped_mid_fanout__next_links_get_whole_lines,
		    it_setup, it_teardown),
	};

	return it_run_tests("hostile", tests);
}
