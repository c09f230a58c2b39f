/*
 * The command table and the parser that checks a line against it: one
 * JSON object, a known string "command", no duplicated keys, every
 * required field present, every known field of an allowed type.
 * Fields a command does not define are ignored, so newer peers can add
 * fields without breaking older ones.
 */
#include <stdio.h>
#include <string.h>

#include "msg.h"

#define S	JSON_STRING
#define N	JSON_NUMBER
#define O	JSON_OBJECT
#define A	JSON_ARRAY
#define B	JSON_BOOL
#define Z	JSON_NULL

#define NAME_MAX_LEN	256
#define INFO_MAX_LEN	4096
#define HEX_MAX_LEN	64	/* nonces, proofs, keys */
#define ID_KEY_MAX_LEN	255	/* server and sender ids as map keys */

static const char *const field_names[F__COUNT] = {
	[F_COMMAND] = "command",
	[F_SECRET] = "secret",
	[F_INFO] = "info",
	[F_USERNAME] = "username",
	[F_HOSTNAME] = "hostname",
	[F_HOST] = "host",
	[F_PORT] = "port",
	[F_ID] = "id",
	[F_LOAD] = "load",
	[F_ACTIVITY] = "activity",
	[F_ACTIVITY_SEQ] = "activity_seq",
	[F_FEATURES] = "features",
	[F_USERS] = "users",
	[F_SERVERS] = "servers",
	[F_RESULT] = "result",
	[F_ORIGIN] = "origin",
	[F_CLIENT_COUNT] = "client_count",
	[F_SUCC_COUNT] = "succ_count",
	[F_PARTIAL] = "partial",
	[F_STATUS] = "status",
	[F_SENDER] = "sender",
	[F_MID] = "mid",
	[F_TS] = "ts",
	[F_RESUME] = "resume",
	[F_SESSION] = "session",
	[F_TIME] = "time",
	[F_PATH] = "path",
	[F_REPORT] = "report",
	[F_VV] = "vv",
	[F_SINCE] = "since",
	[F_SEEN] = "seen",
	[F_PREV] = "prev",
	[F_TOKEN] = "token",
	[F_REPLAY] = "replay",
	[F_NONCE] = "nonce",
	[F_PROOF] = "proof",
	[F_TOKEN_KEY] = "token_key",
	[F_CLIENTS] = "clients",
	[F_MORE] = "more",
	[F_TLS_PORT] = "tls_port",
	[F_LIMIT] = "limit",
	[F_BEFORE] = "before",
	[F_AFTER] = "after",
	[F_COUNT] = "count",
	[F_STATE] = "state",
	[F_LAST_ANNOUNCE_MS] = "last_announce_ms",
	[F_DOWN_MS] = "down_ms",
};

/*
 * Objects nested in messages, described as commands are: decoding one is
 * msg_parse_object() with its entry, not a loop over its members.
 */
const struct msg_def msg_obj_defs[OBJ__COUNT] = {
	[OBJ_USER] = { "users", {
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_SECRET, S, MSG_REQ, NAME_MAX_LEN },
		{ F_ORIGIN, S, 0, NAME_MAX_LEN },
		{ F_TIME, N, MSG_UINT, 0 },
	} },
	[OBJ_SERVER] = { "servers", {
		{ F_HOST, S, MSG_REQ, NAME_MAX_LEN },
		{ F_PORT, N, MSG_REQ, 0 },
		{ F_TLS_PORT, N, 0, 0 },
	} },
	[OBJ_CLUSTER_SERVER] = { "servers", {
		{ F_ID, S, MSG_REQ, NAME_MAX_LEN },
		{ F_HOST, S, MSG_REQ, NAME_MAX_LEN },
		{ F_PORT, N, MSG_REQ, 0 },
		{ F_LOAD, N, MSG_REQ, 0 },
		{ F_LAST_ANNOUNCE_MS, N, MSG_REQ | MSG_UINT, 0 },
		{ F_STATE, S, MSG_REQ, 32 },
		{ F_DOWN_MS, N, MSG_UINT, 0 },
	} },
	[OBJ_RESUME] = { "resume", {
		{ F_SESSION, S, 0, MSG_SESSION_MAX },
		{ F_TOKEN, S, 0, MSG_TOKEN_MAX },
		{ F_SEEN, O, 0, 0 },
		{ F_SINCE, N, MSG_UINT, 0 },
	} },
	/* Maps: the keys are ids, every value is a count or sequence. */
	[OBJ_VV] = { "vv", {
		{ F_ORIGIN, N, MSG_EACH | MSG_UINT, ID_KEY_MAX_LEN },
	} },
	[OBJ_SEEN] = { "seen", {
		{ F_SENDER, N, MSG_EACH | MSG_UINT, ID_KEY_MAX_LEN },
	} },
};

const char *const msg_feature_names[FEAT__COUNT + 1] = {
	[FEAT_BACKUP_LIST] = "backup_list",
	[FEAT_CLUSTER_STATUS] = "cluster_status",
	[FEAT_ACTIVITY_SEQ] = "activity_seq",
	[FEAT_SENDING_REPORT] = "sending_report",
	[FEAT_RESUME] = "resume",
	[FEAT_HEARTBEAT] = "heartbeat",
	[FEAT_WHO] = "who",
	[FEAT_HISTORY] = "history",
	[FEAT__COUNT] = NULL,
};

const struct msg_def msg_defs[CMD__COUNT] = {
	[CMD_AUTHENTICATE] = { "AUTHENTICATE", {
		{ F_SECRET, S, MSG_REQ, NAME_MAX_LEN },
		{ F_ID, S, 0, NAME_MAX_LEN },
		{ F_HOST, S, 0, NAME_MAX_LEN },
		{ F_PORT, N, 0, 0 },
		{ F_PATH, A, 0, 0 },
		{ F_LOAD, N, 0, 0 },
		{ F_TLS_PORT, N, 0, 0 },
	} },
	[CMD_AUTHENTICATE_SUCCESS] = { "AUTHENTICATE_SUCCESS", {
		{ F_ID, S, MSG_REQ, NAME_MAX_LEN },
		{ F_HOST, S, 0, NAME_MAX_LEN },
		{ F_PORT, N, 0, 0 },
		{ F_USERS, A, 0, 0 },
		{ F_PATH, A, 0, 0 },
		{ F_PROOF, S, 0, HEX_MAX_LEN },
		{ F_TOKEN_KEY, S, 0, HEX_MAX_LEN },
		{ F_TLS_PORT, N, 0, 0 },
	} },
	[CMD_AUTHENTICATION_FAIL] = { "AUTHENTICATION_FAIL", {
		{ F_INFO, S, MSG_REQ, INFO_MAX_LEN },
	} },
	[CMD_INVALID_MESSAGE] = { "INVALID_MESSAGE", {
		{ F_INFO, S, MSG_REQ, INFO_MAX_LEN },
	} },
	[CMD_LOGIN] = { "LOGIN", {
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_SECRET, S | Z, 0, NAME_MAX_LEN },
		{ F_FEATURES, A, 0, 0 },
		{ F_RESUME, O, 0, 0 },
	} },
	[CMD_LOGIN_SUCCESS] = { "LOGIN_SUCCESS", {
		{ F_INFO, S, MSG_REQ, INFO_MAX_LEN },
		{ F_FEATURES, A, 0, 0 },
		{ F_SESSION, S, 0, NAME_MAX_LEN },
		{ F_ID, S, 0, NAME_MAX_LEN },
		{ F_TIME, N, 0, 0 },
		{ F_RESUME, S, 0, 32 },
		{ F_TOKEN, S, 0, 64 },
	} },
	[CMD_LOGIN_FAILED] = { "LOGIN_FAILED", {
		{ F_INFO, S, MSG_REQ, INFO_MAX_LEN },
	} },
	[CMD_REDIRECT] = { "REDIRECT", {
		{ F_HOSTNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_PORT, N, MSG_REQ, 0 },
		{ F_TLS_PORT, N, 0, 0 },
	} },
	[CMD_LOGOUT] = { "LOGOUT", {
		{ F_USERNAME, S | Z, 0, NAME_MAX_LEN },
		{ F_SECRET, S | Z, 0, NAME_MAX_LEN },
	} },
	[CMD_ACTIVITY_MESSAGE] = { "ACTIVITY_MESSAGE", {
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_SECRET, S | Z, 0, NAME_MAX_LEN },
		{ F_ACTIVITY, O, MSG_REQ, 0 },
		{ F_ACTIVITY_SEQ, N, 0, 0 },
	} },
	[CMD_ACTIVITY_BROADCAST] = { "ACTIVITY_BROADCAST", {
		{ F_ACTIVITY, O, MSG_REQ, 0 },
		{ F_MID, S, 0, NAME_MAX_LEN },
		{ F_SENDER, S, 0, NAME_MAX_LEN },
		{ F_ACTIVITY_SEQ, N, 0, 0 },
		{ F_USERNAME, S, 0, NAME_MAX_LEN },
		{ F_TS, N, 0, 0 },
		{ F_REPORT, B, 0, 0 },
		{ F_PREV, N, 0, 0 },
		{ F_REPLAY, B, 0, 0 },
	} },
	[CMD_SERVER_ANNOUNCE] = { "SERVER_ANNOUNCE", {
		{ F_ID, S, MSG_REQ, NAME_MAX_LEN },
		{ F_LOAD, N, MSG_REQ, 0 },
		{ F_HOSTNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_PORT, N, MSG_REQ, 0 },
		{ F_PATH, A, 0, 0 },
		{ F_MID, S, 0, NAME_MAX_LEN },
		{ F_STATUS, S, 0, 32 },
		{ F_USERS, A, 0, 0 },
		{ F_TLS_PORT, N, 0, 0 },
	} },
	[CMD_REGISTER] = { "REGISTER", {
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_SECRET, S, MSG_REQ, NAME_MAX_LEN },
		{ F_FEATURES, A, 0, 0 },
	} },
	[CMD_REGISTER_FAILED] = { "REGISTER_FAILED", {
		{ F_INFO, S, MSG_REQ, INFO_MAX_LEN },
	} },
	[CMD_REGISTER_SUCCESS] = { "REGISTER_SUCCESS", {
		{ F_INFO, S, MSG_REQ, INFO_MAX_LEN },
	} },
	[CMD_LOCK_REQUEST] = { "LOCK_REQUEST", {
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_SECRET, S, MSG_REQ, NAME_MAX_LEN },
		{ F_ORIGIN, S, 0, NAME_MAX_LEN },
	} },
	[CMD_LOCK_DENIED] = { "LOCK_DENIED", {
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_SECRET, S, MSG_REQ, NAME_MAX_LEN },
		{ F_ORIGIN, S, 0, NAME_MAX_LEN },
	} },
	[CMD_LOCK_ALLOWED] = { "LOCK_ALLOWED", {
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_SECRET, S, MSG_REQ, NAME_MAX_LEN },
		{ F_ORIGIN, S, 0, NAME_MAX_LEN },
	} },
	[CMD_USER_REGISTER_RESULT] = { "USER_REGISTER_RESULT", {
		{ F_RESULT, S, MSG_REQ, 16 },
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_SECRET, S, MSG_REQ, NAME_MAX_LEN },
		{ F_ORIGIN, S, 0, NAME_MAX_LEN },
		{ F_TIME, N, 0, 0 },
		{ F_MID, S, 0, NAME_MAX_LEN },
	} },
	[CMD_USER_SYNC] = { "USER_SYNC", {
		{ F_USERS, A, MSG_REQ, 0 },
	} },
	[CMD_BACKUP_LIST] = { "BACKUP_LIST", {
		{ F_SERVERS, A, MSG_REQ, 0 },
		{ F_PATH, A, 0, 0 },
	} },
	[CMD_CLUSTER_STATUS] = { "CLUSTER_STATUS", {
		{ F_STATUS, S, MSG_REQ, 32 },
		{ F_SERVERS, A, MSG_REQ, 0 },
		{ F_INFO, S, 0, INFO_MAX_LEN },
	} },
	[CMD_ACTIVITY_SUCC_INFO] = { "ACTIVITY_SUCC_INFO", {
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_ACTIVITY_SEQ, N, MSG_REQ, 0 },
		{ F_CLIENT_COUNT, N, MSG_REQ, 0 },
		{ F_SUCC_COUNT, N, MSG_REQ, 0 },
		{ F_MID, S, 0, NAME_MAX_LEN },
		{ F_PARTIAL, B, 0, 0 },
	} },
	[CMD_ACTIVITY_SENDING_REPORT] = { "ACTIVITY_SENDING_REPORT", {
		{ F_ACTIVITY_SEQ, N, MSG_REQ, 0 },
		{ F_CLIENT_COUNT, N, MSG_REQ, 0 },
		{ F_SUCC_COUNT, N, MSG_REQ, 0 },
		{ F_PARTIAL, B, 0, 0 },
	} },
	[CMD_PING] = { "PING", {
		{ F_TS, N, 0, 0 },
	} },
	[CMD_PONG] = { "PONG", {
		{ F_TS, N, 0, 0 },
	} },
	[CMD_SERVER_LEAVE] = { "SERVER_LEAVE", {
		{ F_ID, S, MSG_REQ, NAME_MAX_LEN },
		{ F_MID, S, 0, NAME_MAX_LEN },
		{ F_INFO, S, 0, INFO_MAX_LEN },
		{ F_TIME, N, 0, 0 },
	} },
	[CMD_USER_PRESENCE] = { "USER_PRESENCE", {
		{ F_USERNAME, S, MSG_REQ, NAME_MAX_LEN },
		{ F_ID, S, MSG_REQ, NAME_MAX_LEN },
		{ F_TIME, N, MSG_REQ, 0 },
		{ F_MID, S, 0, NAME_MAX_LEN },
	} },
	[CMD_ACTIVITY_SYNC] = { "ACTIVITY_SYNC", {
		{ F_VV, O, MSG_REQ, 0 },
		{ F_SINCE, N, MSG_REQ, 0 },
	} },
	[CMD_SERVER_HELLO] = { "SERVER_HELLO", {
		{ F_NONCE, S, MSG_REQ, HEX_MAX_LEN },
	} },
	[CMD_SERVER_CHALLENGE] = { "SERVER_CHALLENGE", {
		{ F_NONCE, S, MSG_REQ, HEX_MAX_LEN },
	} },
	[CMD_SERVER_PROOF] = { "SERVER_PROOF", {
		{ F_PROOF, S, MSG_REQ, HEX_MAX_LEN },
		{ F_ID, S, 0, NAME_MAX_LEN },
		{ F_HOST, S, 0, NAME_MAX_LEN },
		{ F_PORT, N, 0, 0 },
		{ F_LOAD, N, 0, 0 },
		{ F_TLS_PORT, N, 0, 0 },
	} },
	[CMD_WHO] = { "WHO", { { 0 } } },
	[CMD_WHO_LIST] = { "WHO_LIST", {
		{ F_USERS, A, MSG_REQ, 0 },
		{ F_CLIENTS, N, MSG_REQ, 0 },
		{ F_MORE, B, 0, 0 },
	} },
	[CMD_HISTORY] = { "HISTORY", {
		{ F_LIMIT, N, 0, 0 },
		{ F_BEFORE, S | N, 0, NAME_MAX_LEN },
		{ F_AFTER, S | N, 0, NAME_MAX_LEN },
	} },
	[CMD_HISTORY_ACTIVITY] = { "HISTORY_ACTIVITY", {
		{ F_ACTIVITY, O, MSG_REQ, 0 },
		{ F_MID, S, MSG_REQ, NAME_MAX_LEN },
		{ F_TIME, N, MSG_REQ, 0 },
		{ F_SENDER, S, 0, NAME_MAX_LEN },
		{ F_ACTIVITY_SEQ, N, 0, 0 },
	} },
	[CMD_HISTORY_END] = { "HISTORY_END", {
		{ F_COUNT, N, MSG_REQ, 0 },
		{ F_MORE, B, MSG_REQ, 0 },
		{ F_INFO, S, 0, INFO_MAX_LEN },
	} },
};

#undef S
#undef N
#undef O
#undef A
#undef B
#undef Z

const char *
msg_cmd_name(enum msg_cmd cmd)
{
	return (unsigned)cmd < CMD__COUNT ? msg_defs[cmd].name : "?";
}

const char *
msg_field_name(enum msg_field f)
{
	return (unsigned)f < F__COUNT ? field_names[f] : "?";
}

/* Find a command by its wire name; -1 if unknown. */
int
msg_cmd_lookup(const char *name, size_t len, enum msg_cmd *cmd)
{
	int	 i;

	for (i = 0; i < CMD__COUNT; i++) {
		if (strlen(msg_defs[i].name) == len &&
		    memcmp(msg_defs[i].name, name, len) == 0) {
			*cmd = (enum msg_cmd)i;
			return 0;
		}
	}
	return -1;
}

/* Which field a key names; the common unescaped case costs no decode. */
static int
field_lookup(struct json_span key, enum msg_field *f)
{
	static size_t	 lens[F__COUNT];
	int		 i;

	if (lens[0] == 0)
		for (i = 0; i < F__COUNT; i++)
			lens[i] = strlen(field_names[i]);
	if (memchr(key.p, '\\', key.len) != NULL) {
		for (i = 0; i < F__COUNT; i++)
			if (json_key_eq(key, field_names[i]))
				break;
	} else {
		for (i = 0; i < F__COUNT; i++)
			if (lens[i] == key.len &&
			    memcmp(field_names[i], key.p, key.len) == 0)
				break;
	}
	if (i == F__COUNT)
		return -1;
	*f = (enum msg_field)i;
	return 0;
}

static const struct msg_field_def *
def_field(const struct msg_def *def, enum msg_field f)
{
	int	 i;

	for (i = 0; i < MSG_FIELDS_MAX && def->fields[i].types != 0; i++)
		if (def->fields[i].field == f)
			return &def->fields[i];
	return NULL;
}

static void
type_list(unsigned types, char *buf, size_t len)
{
	unsigned	 t;
	size_t		 n = 0;

	buf[0] = '\0';
	for (t = 1; t <= JSON_OBJECT && n < len; t <<= 1) {
		if ((types & t) == 0)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s",
		    n > 0 ? " or " : "", json_type_name((enum json_type)t));
	}
}

#define MSG_TOP_MEMBERS_MAX	64

/* Does a value of type t meet the entry's MSG_UINT (if it has it)? */
static int
uint_ok(const struct msg_field_def *fd, enum json_type t,
    struct json_span v)
{
	long long	 n;

	if ((fd->flags & MSG_UINT) == 0 || t != JSON_NUMBER)
		return 1;
	return json_num_int(v, &n) == 0 && n >= 0;
}

static int	msg_fields(const struct msg_def *, const struct json_member *,
		    int, struct msg *, char *, size_t);

/*
 * Parse and validate one line.  On failure returns -1 with a reason a
 * person can read in err; the reason is what INVALID_MESSAGE carries.
 */
int
msg_parse(const char *line, size_t len, struct msg *m, char *err,
    size_t errlen)
{
	struct json_member	 mb[MSG_TOP_MEMBERS_MAX];
	struct json_span	 val;
	enum json_type		 t;
	const char		*why;
	enum json_error		 jerr;
	int			 nm, i, j, found_cmd = 0;

	memset(m->type, 0, sizeof m->type);
	memset(m->val, 0, sizeof m->val);
	memset(m->str, 0, sizeof m->str);
	m->line = line;
	m->len = len;
	t = json_validate_members(line, len, JSON_DEPTH_MAX, mb,
	    MSG_TOP_MEMBERS_MAX, &nm, &why, &jerr);
	if (t == JSON_NONE) {
		if (jerr == JSON_ERR_TOO_MANY_MEMBERS)
			snprintf(err, errlen, "too many fields (over %d)",
			    MSG_TOP_MEMBERS_MAX);
		else
			snprintf(err, errlen, "invalid JSON: %s", why);
		return -1;
	}
	if (t != JSON_OBJECT) {
		snprintf(err, errlen, "message is a JSON %s, not an object",
		    json_type_name(t));
		return -1;
	}

	/* Duplicates and the command. */
	for (i = 0; i < nm; i++) {
		for (j = 0; j < i; j++) {
			if (json_key_same(mb[j].key, mb[i].key)) {
				snprintf(err, errlen, "duplicated field");
				return -1;
			}
		}
		if (!json_key_eq(mb[i].key, "command"))
			continue;
		if (mb[i].type != JSON_STRING) {
			snprintf(err, errlen,
			    "field 'command' must be a string");
			return -1;
		}
		val = json_str_inner(mb[i].val);
		if (msg_cmd_lookup(val.p, val.len, &m->cmd) != 0) {
			snprintf(err, errlen, "unknown command");
			return -1;
		}
		found_cmd = 1;
	}
	if (!found_cmd) {
		snprintf(err, errlen, "the message has no command");
		return -1;
	}
	return msg_fields(&msg_defs[m->cmd], mb, nm, m, err, errlen);
}

/*
 * Take the members def defines into m, checking types, string lengths
 * and required fields against the table; members it does not name are
 * left alone.
 */
static int
msg_fields(const struct msg_def *def, const struct json_member *mb, int nm,
    struct msg *m, char *err, size_t errlen)
{
	const struct msg_field_def *fd;
	struct json_span	 val;
	enum json_type		 t;
	enum msg_field		 f;
	char			 types[64];
	size_t			 used = 0, n;
	int			 i;

	for (i = 0; i < nm; i++) {
		if (field_lookup(mb[i].key, &f) != 0 || f == F_COMMAND)
			continue;
		if ((fd = def_field(def, f)) == NULL)
			continue;
		t = mb[i].type;
		val = mb[i].val;
		if ((fd->types & t) == 0) {
			type_list(fd->types, types, sizeof types);
			snprintf(err, errlen, "%s: field '%s' must be %s, "
			    "not %s", def->name, field_names[f], types,
			    json_type_name(t));
			return -1;
		}
		if (!uint_ok(fd, t, val)) {
			snprintf(err, errlen, "%s: field '%s' must be a "
			    "non-negative integer", def->name, field_names[f]);
			return -1;
		}
		m->type[f] = t;
		m->val[f] = val;
		m->str[f] = NULL;
		if (t != JSON_STRING)
			continue;
		val = json_str_inner(val);
		if (json_str_decode(val, m->strbuf + used,
		    sizeof m->strbuf - used, &n) != 0 ||
		    (fd->maxlen != 0 && n > fd->maxlen)) {
			snprintf(err, errlen, "%s: field '%s' is too long or "
			    "holds a NUL character", def->name,
			    field_names[f]);
			return -1;
		}
		m->str[f] = m->strbuf + used;
		used += n + 1;
	}
	for (i = 0; i < MSG_FIELDS_MAX && def->fields[i].types != 0; i++) {
		fd = &def->fields[i];
		if ((fd->flags & MSG_REQ) && m->type[fd->field] == JSON_NONE) {
			snprintf(err, errlen, "%s: missing field '%s'",
			    def->name, field_names[fd->field]);
			return -1;
		}
	}
	return 0;
}

/*
 * Decode one object nested in a message (an element of "users", ...)
 * against its entry in msg_obj_defs.  m->str points into m; -1 with a
 * reason in err if it is no object, repeats a key, or breaks the table.
 */
int
msg_parse_object(struct json_span obj, enum msg_obj kind, struct msg *m,
    char *err, size_t errlen)
{
	struct json_member	 mb[MSG_FIELDS_MAX * 2];
	const char		*why;
	int			 nm, i, j;

	memset(m->type, 0, sizeof m->type);
	memset(m->val, 0, sizeof m->val);
	memset(m->str, 0, sizeof m->str);
	m->cmd = CMD__COUNT;
	m->line = obj.p;
	m->len = obj.len;
	if (msg_obj_defs[kind].fields[0].flags & MSG_EACH) {
		snprintf(err, errlen, "%s: a map, not a record",
		    msg_obj_defs[kind].name);
		return -1;
	}
	if (json_validate_members(obj.p, obj.len, JSON_DEPTH_MAX, mb,
	    (int)(sizeof mb / sizeof mb[0]), &nm, &why, NULL) != JSON_OBJECT) {
		snprintf(err, errlen, "%s: every entry must be an object of "
		    "at most %zu fields", msg_obj_defs[kind].name,
		    sizeof mb / sizeof mb[0]);
		return -1;
	}
	for (i = 0; i < nm; i++)
		for (j = 0; j < i; j++)
			if (json_key_same(mb[j].key, mb[i].key)) {
				snprintf(err, errlen, "%s: duplicated field",
				    msg_obj_defs[kind].name);
				return -1;
			}
	return msg_fields(&msg_obj_defs[kind], mb, nm, m, err, errlen);
}

/*
 * The next element of an array of kind objects ("users", "servers"),
 * decoded into m by msg_parse_object (m->line, m->len: its bytes).  1 an
 * element, 0 the end, -1 with err if one is no object or breaks the
 * table.
 */
int
msg_next_object(struct json_iter *it, enum msg_obj kind, struct msg *m,
    char *err, size_t errlen)
{
	struct json_span	 el;
	enum json_type		 t;

	if (!json_next_element(it, &el, &t))
		return 0;
	if (t != JSON_OBJECT) {
		snprintf(err, errlen, "%s: every entry must be an object",
		    msg_obj_defs[kind].name);
		return -1;
	}
	return msg_parse_object(el, kind, m, err, errlen) == 0 ? 1 : -1;
}

/*
 * Check a map (an object whose keys are data) against its entry in
 * msg_obj_defs: every value of the entry's type, every key within its
 * cap.  0 and mm ready for msg_map_next_uint, -1 if it breaks the table.
 */
int
msg_map_open(struct msg_map *mm, struct json_span obj, enum msg_obj kind)
{
	const struct msg_field_def *fd = &msg_obj_defs[kind].fields[0];
	struct json_span	 val;
	char			 key[NAME_MAX_LEN + 1];
	size_t			 len;
	int			 rc;

	mm->fd = fd;
	mm->count = 0;
	if ((fd->flags & MSG_EACH) == 0 || fd->maxlen >= sizeof key ||
	    json_iter_object(&mm->it, obj) != 0)
		return -1;
	while ((rc = json_next_map_member(&mm->it, fd->types, key,
	    sizeof key, &len, &val)) == 1) {
		if (len > fd->maxlen || !uint_ok(fd, JSON_NUMBER, val))
			return -1;
		mm->count++;
	}
	if (rc != 0)
		return -1;
	json_iter_object(&mm->it, obj);
	return 0;
}

/*
 * The next member of a map msg_map_open passed whose values are
 * MSG_UINT: its key decoded into key (keysz bytes with the NUL, room
 * for the entry's cap), its value in *v.  1 a member, 0 the end, -1 if
 * key is too small.
 */
int
msg_map_next_uint(struct msg_map *mm, char *key, size_t keysz,
    size_t *keylen, uint64_t *v)
{
	struct json_span	 val;
	long long		 n;
	int			 rc;

	if ((mm->fd->flags & MSG_UINT) == 0)
		return -1;
	if ((rc = json_next_map_member(&mm->it, mm->fd->types, key, keysz,
	    keylen, &val)) != 1)
		return rc;
	if (json_num_int(val, &n) != 0 || n < 0)
		return -1;
	*v = (uint64_t)n;
	return 1;
}

int
msg_has(const struct msg *m, enum msg_field f)
{
	return m->type[f] != JSON_NONE && m->type[f] != JSON_NULL;
}

/* Is the field the literal true (absent, false or another type: no)? */
int
msg_true(const struct msg *m, enum msg_field f)
{
	return m->type[f] == JSON_BOOL && json_is_bool_true(m->val[f]);
}

/* An integer field; -1 if absent or not an integer. */
int
msg_int(const struct msg *m, enum msg_field f, long long *v)
{
	if (m->type[f] != JSON_NUMBER)
		return -1;
	return json_num_int(m->val[f], v);
}

/* A TCP port: an integer from 1 to 65535. */
int
msg_port(const struct msg *m, enum msg_field f, int *port)
{
	long long	 v;

	if (msg_int(m, f, &v) != 0 || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/*
 * Match the "features" array against names (a NULL-terminated list);
 * bit i is set for names[i].  Unknown names are skipped: a client may
 * ask for more than this peer offers.
 */
int
msg_features(const struct msg *m, const char *const *names, unsigned *mask)
{
	struct json_iter	 it;
	struct json_span	 v;
	enum json_type		 t;
	int			 i;

	*mask = 0;
	if (m->type[F_FEATURES] != JSON_ARRAY)
		return 0;
	json_iter_array(&it, m->val[F_FEATURES]);
	while (json_next_element(&it, &v, &t)) {
		if (t != JSON_STRING)
			return -1;
		v = json_str_inner(v);
		for (i = 0; names[i] != NULL; i++)
			if (json_key_eq(v, names[i]))
				*mask |= 1u << i;
	}
	return 0;
}
