/*
 * Validation and dispatch, driven by one table: for every command, the
 * connection roles that may send it, what a sender in any other role
 * is answered, and the handler.  msg_parse() has already checked the
 * fields against the command table in common/msg.c.
 */
#include <stdio.h>

#include "log.h"
#include "seen.h"
#include "server.h"

struct cmd_entry {
	unsigned	 roles;		/* ROLE_* that may send it */
	enum msg_cmd	 deny;		/* reply to a connection not logged in */
	const char	*deny_info;
	enum cmd_ret	(*handler)(struct peer *, struct msg *);
};

#define SERVER_ONLY	"is only accepted from an authenticated server"
#define CLIENT_ONLY	"is only accepted from a client"

static const struct cmd_entry cmd_table[CMD__COUNT] = {
	[CMD_AUTHENTICATE] = { ROLE_NEW, CMD_INVALID_MESSAGE,
	    "is only accepted as the first message of a new connection",
	    cmd_authenticate },
	[CMD_AUTHENTICATE_SUCCESS] = { ROLE_UPLINK_AUTH, CMD_INVALID_MESSAGE,
	    "is only accepted in reply to our AUTHENTICATE",
	    cmd_authenticate_success },
	[CMD_AUTHENTICATION_FAIL] = { ROLE_ANY, CMD_INVALID_MESSAGE, NULL,
	    cmd_close_notice },
	[CMD_INVALID_MESSAGE] = { ROLE_ANY, CMD_INVALID_MESSAGE, NULL,
	    cmd_close_notice },
	[CMD_LOGIN] = { ROLE_NEW, CMD_INVALID_MESSAGE,
	    "is not accepted on a connection that is already logged in or "
	    "a server link", cmd_login },
	[CMD_LOGOUT] = { ROLE_NEW | ROLE_CLIENT, CMD_INVALID_MESSAGE,
	    CLIENT_ONLY, cmd_logout },
	[CMD_ACTIVITY_MESSAGE] = { ROLE_CLIENT, CMD_AUTHENTICATION_FAIL,
	    "requires a logged in client", cmd_activity_message },
	[CMD_ACTIVITY_BROADCAST] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_activity_broadcast },
	[CMD_SERVER_ANNOUNCE] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_server_announce },
	[CMD_REGISTER] = { ROLE_NEW, CMD_INVALID_MESSAGE,
	    "is not accepted on a connection that is already logged in or "
	    "a server link", cmd_register },
	[CMD_LOCK_REQUEST] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_lock_request },
	[CMD_LOCK_ALLOWED] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_lock_answer },
	[CMD_LOCK_DENIED] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_lock_answer },
	[CMD_USER_REGISTER_RESULT] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_user_register_result },
	[CMD_USER_SYNC] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_user_sync },
	[CMD_PING] = { ROLE_CLIENT | ROLE_SERVER, CMD_INVALID_MESSAGE,
	    "is only accepted after login", cmd_ping },
	[CMD_PONG] = { ROLE_CLIENT | ROLE_SERVER, CMD_INVALID_MESSAGE,
	    "is only accepted after login", cmd_pong },
	/*
	 * What a server sends its clients is never valid towards a
	 * server: roles 0, so any sender is refused.
	 */
	[CMD_LOGIN_SUCCESS] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
	[CMD_LOGIN_FAILED] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
	[CMD_REDIRECT] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
	[CMD_REGISTER_FAILED] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
	[CMD_REGISTER_SUCCESS] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
	[CMD_BACKUP_LIST] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_backup_list },
	[CMD_CLUSTER_STATUS] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
	[CMD_ACTIVITY_SUCC_INFO] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_activity_succ_info },
	[CMD_USER_PRESENCE] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_user_presence },
	[CMD_ACTIVITY_SYNC] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_activity_sync },
	[CMD_ACTIVITY_SENDING_REPORT] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
	[CMD_SERVER_LEAVE] = { ROLE_SERVER, CMD_INVALID_MESSAGE,
	    SERVER_ONLY, cmd_server_leave },
	[CMD_SERVER_HELLO] = { ROLE_NEW, CMD_INVALID_MESSAGE,
	    "is only accepted as the first message of a new connection",
	    cmd_server_hello },
	[CMD_SERVER_CHALLENGE] = { ROLE_UPLINK_AUTH, CMD_INVALID_MESSAGE,
	    "is only accepted in reply to our SERVER_HELLO",
	    cmd_server_challenge },
	[CMD_SERVER_PROOF] = { ROLE_LINK_AUTH, CMD_INVALID_MESSAGE,
	    "is only accepted in reply to our SERVER_CHALLENGE",
	    cmd_server_proof },
	[CMD_WHO] = { ROLE_CLIENT, CMD_INVALID_MESSAGE,
	    "is only accepted after login", cmd_who },
	[CMD_HISTORY] = { ROLE_CLIENT, CMD_INVALID_MESSAGE,
	    "is only accepted after login", cmd_history },
	[CMD_HISTORY_ACTIVITY] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
	[CMD_HISTORY_END] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
	[CMD_WHO_LIST] = { 0, CMD_INVALID_MESSAGE,
	    "is sent by servers, not to them", NULL },
};

/*
 * Parse one line, check it against the tables, and run its handler.
 * Anything wrong before the handler is answered (INVALID_MESSAGE with
 * the reason, or the reply the protocol names) and the connection is
 * closed.
 */
enum cmd_ret
dispatch_line(struct peer *p, const char *line, size_t len)
{
	const struct cmd_entry	*e;
	struct msg		 m;
	char			 err[512], origin[SERVER_NAME_MAX];
	uint64_t		 n;

	if (msg_parse(line, len, &m, err, sizeof err) != 0) {
		peer_reply_close(p, CMD_INVALID_MESSAGE, err);
		return CMD_CLOSE;
	}
	e = &cmd_table[m.cmd];
	if ((e->roles & (1u << p->role)) == 0 || e->handler == NULL) {
		snprintf(err, sizeof err, "%s %s", msg_cmd_name(m.cmd),
		    e->deny_info != NULL ? e->deny_info :
		    "is not accepted here");
		/* Only a would-be client is told it must log in first. */
		peer_reply_close(p, p->role == PEER_NEW ? e->deny :
		    CMD_INVALID_MESSAGE, err);
		return CMD_CLOSE;
	}
	/*
	 * A flooded message's id decides what is a repeat for the whole
	 * tree: one that does not parse is refused here, for every
	 * handler, rather than passed on unchecked.
	 */
	if (p->role == PEER_SERVER && m.str[F_MID] != NULL &&
	    seen_parse_mid(m.str[F_MID], origin, sizeof origin, &n) != 0) {
		snprintf(err, sizeof err, "%s: 'mid' must be \"<server "
		    "id>:<counter>\", the counter a positive integer of at "
		    "most 18 digits", msg_cmd_name(m.cmd));
		peer_reply_close(p, CMD_INVALID_MESSAGE, err);
		return CMD_CLOSE;
	}
	return e->handler(p, &m);
}
