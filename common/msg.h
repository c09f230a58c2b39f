/*
 * The one table of protocol commands: wire names, the fields each carries
 * and their JSON types.  Parsing a line validates it against this table;
 * each program keeps its own dispatch table (who may send what, and the
 * handler) indexed by enum msg_cmd.
 */
#ifndef MSG_H
#define MSG_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

enum msg_cmd {
	CMD_AUTHENTICATE,
	CMD_AUTHENTICATE_SUCCESS,
	CMD_AUTHENTICATION_FAIL,
	CMD_INVALID_MESSAGE,
	CMD_LOGIN,
	CMD_LOGIN_SUCCESS,
	CMD_LOGIN_FAILED,
	CMD_REDIRECT,
	CMD_LOGOUT,
	CMD_ACTIVITY_MESSAGE,
	CMD_ACTIVITY_BROADCAST,
	CMD_SERVER_ANNOUNCE,
	CMD_REGISTER,
	CMD_REGISTER_FAILED,
	CMD_REGISTER_SUCCESS,
	CMD_LOCK_REQUEST,
	CMD_LOCK_DENIED,
	CMD_LOCK_ALLOWED,
	CMD_USER_REGISTER_RESULT,
	CMD_USER_SYNC,
	CMD_BACKUP_LIST,
	CMD_CLUSTER_STATUS,
	CMD_ACTIVITY_SUCC_INFO,
	CMD_ACTIVITY_SENDING_REPORT,
	CMD_PING,
	CMD_PONG,
	CMD_SERVER_LEAVE,
	CMD_ACTIVITY_SYNC,
	CMD_USER_PRESENCE,
	CMD_SERVER_HELLO,
	CMD_SERVER_CHALLENGE,
	CMD_SERVER_PROOF,
	CMD_WHO,
	CMD_WHO_LIST,
	CMD_HISTORY,
	CMD_HISTORY_ACTIVITY,
	CMD_HISTORY_END,
	CMD__COUNT
};

/* Every field name any command uses. */
enum msg_field {
	F_COMMAND,
	F_SECRET,
	F_INFO,
	F_USERNAME,
	F_HOSTNAME,
	F_HOST,
	F_PORT,
	F_ID,
	F_LOAD,
	F_ACTIVITY,
	F_ACTIVITY_SEQ,
	F_FEATURES,
	F_USERS,
	F_SERVERS,
	F_RESULT,
	F_ORIGIN,
	F_CLIENT_COUNT,
	F_SUCC_COUNT,
	F_PARTIAL,
	F_STATUS,
	F_SENDER,
	F_MID,
	F_TS,
	F_RESUME,
	F_SESSION,
	F_TIME,
	F_PATH,
	F_REPORT,
	F_VV,
	F_SINCE,
	F_SEEN,
	F_PREV,
	F_TOKEN,
	F_REPLAY,
	F_NONCE,
	F_PROOF,
	F_TOKEN_KEY,
	F_CLIENTS,
	F_MORE,
	F_TLS_PORT,
	F_LIMIT,
	F_BEFORE,
	F_AFTER,
	F_COUNT,
	F_STATE,
	F_LAST_ANNOUNCE_MS,
	F_DOWN_MS,
	F__COUNT
};

/* Caps of LOGIN "resume" strings, in decoded bytes (buffers: +1). */
#define MSG_SESSION_MAX	255
#define MSG_TOKEN_MAX	63

#define MSG_REQ		1	/* the field must be present */
#define MSG_UINT	2	/* numbers: an integer, 0 or more */
#define MSG_EACH	4	/* a map: the entry is every member, whatever
				   its key; the field says what the keys
				   are, maxlen caps them */

/* Protocol values (not keys) that programs test or send, named once. */
#define MSG_V_ANONYMOUS		"anonymous"	/* LOGIN username */
#define MSG_V_OK		"ok"		/* LOGIN_SUCCESS resume */
#define MSG_V_PARTIAL		"partial"	/* LOGIN_SUCCESS resume */
#define MSG_V_RECONNECTING	"reconnecting"	/* SERVER_ANNOUNCE status */
#define MSG_V_NORMAL		"NORMAL"	/* CLUSTER_STATUS status */
#define MSG_V_OUT_OF_SERVICE	"OUT_OF_SERVICE"
#define MSG_V_SELF		"self"		/* a CLUSTER_STATUS state */
#define MSG_V_UP		"up"
#define MSG_V_DOWN		"down"
#define MSG_V_LOST		"lost"
#define MSG_V_GONE		"gone"
#define MSG_V_SUCCESS		"success"	/* USER_REGISTER_RESULT */
#define MSG_V_FAILURE		"failure"

/* The member a server puts first in every activity it passes on. */
#define MSG_ACT_AUTH_USER	"authenticated_user"

struct msg_field_def {
	enum msg_field	 field;
	unsigned	 types;		/* JSON_* mask */
	unsigned	 flags;		/* MSG_REQ */
	size_t		 maxlen;	/* strings: decoded bytes, 0 = no cap */
};

#define MSG_FIELDS_MAX	12

struct msg_def {
	const char		*name;
	struct msg_field_def	 fields[MSG_FIELDS_MAX];
};

/* A parsed line: raw spans into the caller's buffer, strings decoded. */
#define MSG_STRBUF	8192
struct msg {
	enum msg_cmd		 cmd;
	const char		*line;
	size_t			 len;
	struct json_span	 val[F__COUNT];
	unsigned		 type[F__COUNT];	/* JSON_NONE: absent */
	const char		*str[F__COUNT];		/* decoded strings */
	char			 strbuf[MSG_STRBUF];
};

extern const struct msg_def	msg_defs[CMD__COUNT];

/* Objects nested in messages, each described like a command's fields. */
enum msg_obj {
	OBJ_USER,	/* an element of "users" (USER_SYNC, ...) */
	OBJ_SERVER,	/* an element of BACKUP_LIST "servers" */
	OBJ_CLUSTER_SERVER,	/* an element of CLUSTER_STATUS "servers" */
	OBJ_VV,		/* ACTIVITY_SYNC "vv": origin -> counter */
	OBJ_RESUME,	/* LOGIN "resume": session, token, seen, since */
	OBJ_SEEN,	/* LOGIN resume "seen": sender -> activity_seq */
	OBJ__COUNT
};

/* Walks a map (an OBJ_ entry with MSG_EACH) checked by msg_map_open. */
struct msg_map {
	struct json_iter		 it;
	const struct msg_field_def	*fd;
	size_t				 count;	/* members */
};

extern const struct msg_def	msg_obj_defs[OBJ__COUNT];

/* Opt-in client extensions, named in LOGIN/REGISTER "features". */
enum msg_feature {
	FEAT_BACKUP_LIST,
	FEAT_CLUSTER_STATUS,
	FEAT_ACTIVITY_SEQ,
	FEAT_SENDING_REPORT,
	FEAT_RESUME,
	FEAT_HEARTBEAT,
	FEAT_WHO,
	FEAT_HISTORY,
	FEAT__COUNT
};
#define FEAT_BIT(f)	(1u << (f))
extern const char *const msg_feature_names[FEAT__COUNT + 1];

const char	*msg_cmd_name(enum msg_cmd);
const char	*msg_field_name(enum msg_field);
int		 msg_cmd_lookup(const char *, size_t, enum msg_cmd *);
int		 msg_parse(const char *, size_t, struct msg *, char *, size_t);
int		 msg_parse_object(struct json_span, enum msg_obj, struct msg *,
		    char *, size_t);
int		 msg_next_object(struct json_iter *, enum msg_obj, struct msg *,
		    char *, size_t);
int		 msg_map_open(struct msg_map *, struct json_span,
		    enum msg_obj);
int		 msg_map_next_uint(struct msg_map *, char *, size_t, size_t *,
		    uint64_t *);
int		 msg_has(const struct msg *, enum msg_field);
int		 msg_true(const struct msg *, enum msg_field);
int		 msg_int(const struct msg *, enum msg_field, long long *);
int		 msg_port(const struct msg *, enum msg_field, int *);
int		 msg_features(const struct msg *, const char *const *, unsigned *);

#endif
