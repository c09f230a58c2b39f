/*
 * conn.c without sockets: the dial seam hands the client one end of a
 * bufferevent_pair and the test plays the server on the other end.
 * Covers login and registration, REDIRECT, failover along the backup
 * list with resume, activity_seq numbering, report matching, duplicate
 * dropping, heartbeat silence and every server error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conn.h"
#include "model.h"

#define FX_DIALS_MAX	64
#define FX_EVENTS_MAX	64

struct fx {
	struct event_base	*base;
	struct model		 m;
	struct conn		*c;
	struct bufferevent	*srv[FX_DIALS_MAX];
	struct fo_target	 dialed[FX_DIALS_MAX];
	int			 ndial;
	int			 down_port;	/* dialing this port fails */
	int			 sockets;	/* dial a socketpair */
	enum conn_event		 ev[FX_EVENTS_MAX];
	int			 nev;
	int			 lines;		/* seen by line_cb */
};

static struct bufferevent *
fx_dial(struct conn *c, const struct fo_target *t, int *connected)
{
	struct fx		*fx = c->dial_arg;
	struct bufferevent	*pair[2];

	assert_true(fx->ndial < FX_DIALS_MAX);
	fx->dialed[fx->ndial] = *t;
	if (t->port == fx->down_port) {
		fx->srv[fx->ndial++] = NULL;
		return NULL;
	}
	if (fx->sockets) {
		/* A socket reports a close as an event, as the network does. */
		int	 sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		evutil_make_socket_nonblocking(sv[0]);
		evutil_make_socket_nonblocking(sv[1]);
		pair[0] = bufferevent_socket_new(fx->base, sv[0],
		    BEV_OPT_CLOSE_ON_FREE);
		pair[1] = bufferevent_socket_new(fx->base, sv[1],
		    BEV_OPT_CLOSE_ON_FREE);
		assert_non_null(pair[0]);
		assert_non_null(pair[1]);
	} else
		assert_int_equal(bufferevent_pair_new(fx->base,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, pair), 0);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	fx->srv[fx->ndial++] = pair[1];
	*connected = 1;
	return pair[0];
}

static void
fx_event_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct fx	*fx = arg;

	(void)c;
	if (ev != CONN_EV_CHANGED && ev != CONN_EV_WRITABLE &&
	    fx->nev < FX_EVENTS_MAX)
		fx->ev[fx->nev++] = ev;
}

static void
fx_line_cb(struct conn *c, const char *line, size_t len, void *arg)
{
	struct fx	*fx = arg;

	(void)c;
	(void)line;
	(void)len;
	fx->lines++;
}

static int
setup(void **state)
{
	struct fx	*fx = calloc(1, sizeof *fx);

	if (fx == NULL || (fx->base = event_base_new()) == NULL)
		return -1;
	model_init(&fx->m, 100);
	fx->c = conn_new(fx->base, &fx->m);
	fx->c->dial = fx_dial;
	fx->c->dial_arg = fx;
	fx->c->event_cb = fx_event_cb;
	fx->c->line_cb = fx_line_cb;
	fx->c->arg = fx;
	failover_init(&fx->c->fo, 1, 4);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	conn_free(fx->c);
	for (i = 0; i < fx->ndial; i++)
		if (fx->srv[i] != NULL)
			bufferevent_free(fx->srv[i]);
	model_free(&fx->m);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

/* Run the loop until nothing is left to do right now. */
static void
fx_run(struct fx *fx)
{
	int	 i;

	for (i = 0; i < 20; i++)
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
}

/* Run the loop for about ms milliseconds of real time. */
static void
fx_run_for(struct fx *fx, int ms)
{
	int	 i;

	for (i = 0; i < ms; i++) {
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	fx_run(fx);
}

/* Everything the client sent on dial i since the last call. */
static char *
fx_recv(struct fx *fx, int i)
{
	static char	 buf[65536];
	struct evbuffer	*in;
	size_t		 n;

	fx_run(fx);
	assert_non_null(fx->srv[i]);
	in = bufferevent_get_input(fx->srv[i]);
	n = evbuffer_get_length(in);
	assert_true(n < sizeof buf);
	evbuffer_remove(in, buf, n);
	buf[n] = '\0';
	return buf;
}

/* The server on dial i sends a line. */
static void
fx_send(struct fx *fx, int i, const char *line)
{
	bufferevent_write(fx->srv[i], line, strlen(line));
	bufferevent_write(fx->srv[i], "\n", 1);
	fx_run(fx);
}

/* The server on dial i goes away. */
static void
fx_close(struct fx *fx, int i)
{
	bufferevent_flush(fx->srv[i], EV_WRITE, BEV_FINISHED);
	bufferevent_free(fx->srv[i]);
	fx->srv[i] = NULL;
	fx_run(fx);
}

static int
fx_saw(struct fx *fx, enum conn_event ev)
{
	int	 i;

	for (i = 0; i < fx->nev; i++)
		if (fx->ev[i] == ev)
			return 1;
	return 0;
}

/* How many lines of the stream contain needle. */
static int
fx_stream_count(struct fx *fx, const char *needle)
{
	const struct model_line	*l;
	size_t			 i;
	int			 n = 0;

	for (i = 0; (l = model_line_at(&fx->m, i)) != NULL; i++)
		if (strstr(l->text, needle) != NULL)
			n++;
	return n;
}

#define ALL_FEATURES "[\"backup_list\",\"cluster_status\",\"activity_seq\"," \
	"\"sending_report\",\"resume\",\"heartbeat\",\"who\",\"history\"]"

/* Log in as ann on dial i with every feature and session sess. */
static void
fx_login(struct fx *fx, int i, const char *sess)
{
	char	 line[512];

	fx_recv(fx, i);
	snprintf(line, sizeof line, "{\"command\":\"LOGIN_SUCCESS\","
	    "\"info\":\"ok\",\"features\":%s,\"session\":\"%s\","
	    "\"id\":\"srv%d\"}", ALL_FEATURES, sess, i);
	fx_send(fx, i, line);
	assert_int_equal(fx->m.state, LINK_ONLINE);
}

static void
conn_open__anonymous__login_asks_every_feature(void **state)
{
	struct fx	*fx = *state;
	char		*out;

	conn_open(fx->c, "127.0.0.1", 4000);
	assert_int_equal(fx->ndial, 1);
	assert_string_equal(fx->dialed[0].host, "127.0.0.1");
	assert_int_equal(fx->m.state, LINK_LOGGING_IN);
	out = fx_recv(fx, 0);
	assert_string_equal(out, "{\"command\":\"LOGIN\",\"username\":"
	    "\"anonymous\",\"secret\":null,\"features\":" ALL_FEATURES "}\n");
	fx_send(fx, 0, "{\"command\":\"LOGIN_SUCCESS\",\"info\":\"hi\"}");
	assert_int_equal(fx->m.state, LINK_ONLINE);
	assert_true(fx->m.features_known);
	assert_int_equal(fx->m.features, 0);
	assert_true(fx_saw(fx, CONN_EV_ONLINE));
}

static void
conn_set_user__no_secret__registers_then_logs_in_same_link(void **state)
{
	struct fx	*fx = *state;
	char		*out, want[512];

	conn_set_user(fx->c, "ann", NULL, 0);
	assert_int_equal(strlen(fx->c->secret), 32);
	conn_open(fx->c, "h", 1);
	assert_int_equal(fx->m.state, LINK_REGISTERING);
	out = fx_recv(fx, 0);
	snprintf(want, sizeof want, "{\"command\":\"REGISTER\",\"username\":"
	    "\"ann\",\"secret\":\"%s\",", fx->c->secret);
	assert_memory_equal(out, want, strlen(want));
	assert_int_equal(fx_stream_count(fx, "generated secret"), 0);
	fx_send(fx, 0, "{\"command\":\"REGISTER_SUCCESS\",\"info\":\"ok\"}");
	assert_int_equal(fx_stream_count(fx, fx->c->secret), 1);
	assert_int_equal(fx_stream_count(fx, "generated secret for ann"), 1);
	out = fx_recv(fx, 0);
	snprintf(want, sizeof want, "{\"command\":\"LOGIN\",\"username\":"
	    "\"ann\",\"secret\":\"%s\",", fx->c->secret);
	assert_memory_equal(out, want, strlen(want));
	assert_int_equal(fx->ndial, 1);
	assert_int_equal(fx->m.state, LINK_LOGGING_IN);
}

static void
conn_read__login_failed__stays_down_no_retry(void **state)
{
	struct fx	*fx = *state;

	conn_set_user(fx->c, "ann", "wrong", 0);
	conn_open(fx->c, "h", 1);
	fx_send(fx, 0, "{\"command\":\"LOGIN_FAILED\","
	    "\"info\":\"bad secret\"}");
	fx_run_for(fx, 20);
	assert_int_equal(fx->m.state, LINK_FAILED);
	assert_int_equal(fx->ndial, 1);
	assert_true(fx_saw(fx, CONN_EV_FAILED));
	assert_non_null(strstr(fx->m.last_error, "bad secret"));
	/* It says what to do next, and stays. */
	assert_non_null(strstr(model_line_at(&fx->m, 0)->text,
	    "/register ann"));
	assert_non_null(strstr(model_line_at(&fx->m, 0)->text,
	    "/login ann"));
}

static void
conn_read__register_failed__shown_and_stays_down(void **state)
{
	struct fx	*fx = *state;

	conn_set_user(fx->c, "ann", NULL, 1);
	conn_open(fx->c, "h", 1);
	fx_send(fx, 0, "{\"command\":\"REGISTER_FAILED\",\"info\":\"taken\"}");
	assert_int_equal(fx->m.state, LINK_FAILED);
	assert_int_equal(fx_stream_count(fx, "registration of ann failed: "
	    "taken"), 1);
	/* The secret of a registration that failed is no secret to keep. */
	assert_int_equal(fx_stream_count(fx, "generated secret"), 0);
	assert_int_equal(fx_stream_count(fx, fx->c->secret), 0);
	/* It says what to do next, and stays. */
	assert_int_equal(fx_stream_count(fx, "/login ann SECRET if the "
	    "name is yours"), 1);
}

/* Batch mode exits on a refusal: no slash commands to suggest. */
static void
conn_read__batch_login_failed__no_commands_suggested(void **state)
{
	struct fx	*fx = *state;

	fx->c->batch = 1;
	conn_set_user(fx->c, "ann", "bad secret", 0);
	conn_open(fx->c, "h", 1);
	fx_send(fx, 0, "{\"command\":\"LOGIN_FAILED\",\"info\":\"no\"}");
	assert_int_equal(fx->m.state, LINK_FAILED);
	assert_int_equal(fx_stream_count(fx, "login failed as ann"), 1);
	assert_int_equal(fx_stream_count(fx, "still here"), 0);
	assert_int_equal(fx_stream_count(fx, "/login"), 0);
}

static void
conn_read__redirect__reconnects_and_logs_in_there(void **state)
{
	struct fx	*fx = *state;
	char		*out;

	conn_open(fx->c, "h", 1);
	fx_recv(fx, 0);
	fx_send(fx, 0, "{\"command\":\"LOGIN_SUCCESS\",\"info\":\"ok\"}\n"
	    "{\"command\":\"REDIRECT\",\"hostname\":\"other\",\"port\":2}");
	assert_int_equal(fx->ndial, 2);
	assert_string_equal(fx->dialed[1].host, "other");
	assert_int_equal(fx->dialed[1].port, 2);
	out = fx_recv(fx, 1);
	assert_non_null(strstr(out, "\"command\":\"LOGIN\""));
	assert_false(fx_saw(fx, CONN_EV_ONLINE));
	assert_false(fx->m.out_of_service);
}

static void
conn_read__redirect_loop__bounded(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	conn_open(fx->c, "h", 1);
	for (i = 0; i <= CONN_REDIRECT_MAX; i++)
		fx_send(fx, i, "{\"command\":\"REDIRECT\",\"hostname\":\"h\","
		    "\"port\":1}");
	/* The last one is refused: failover tries the same server. */
	assert_int_equal(fx->ndial, CONN_REDIRECT_MAX + 2);
	assert_true(fx->m.out_of_service);
	assert_non_null(strstr(fx->m.last_error, "too many redirects"));
}

static void
conn_lost__backup_list__fails_over_and_resumes(void **state)
{
	struct fx	*fx = *state;
	char		*out;

	conn_set_user(fx->c, "ann", "pw", 0);
	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_send(fx, 0, "{\"command\":\"BACKUP_LIST\",\"servers\":"
	    "[{\"host\":\"b\",\"port\":2},{\"host\":\"c\",\"port\":3}]}");
	assert_int_equal(fx->m.nbackups, 2);
	assert_int_equal(fx->m.backups[1].port, 3);
	fx_send(fx, 0, "{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":{},"
	    "\"sender\":\"X\",\"activity_seq\":7}");

	fx_close(fx, 0);
	assert_true(fx->m.out_of_service);
	assert_true(fx_saw(fx, CONN_EV_OFFLINE));
	assert_int_equal(fx->ndial, 2);		/* first retry at once */
	assert_string_equal(fx->dialed[1].host, "b");
	out = fx_recv(fx, 1);
	assert_non_null(strstr(out, "\"resume\":{\"session\":\"S1\","
	    "\"seen\":{\"X\":7},\"since\":"));
	fx_send(fx, 1, "{\"command\":\"LOGIN_SUCCESS\",\"info\":\"ok\","
	    "\"features\":" ALL_FEATURES ",\"session\":\"S1\","
	    "\"resume\":\"ok\"}");
	assert_int_equal(fx->m.state, LINK_ONLINE);
	assert_false(fx->m.out_of_service);
	assert_int_equal(fx->m.failovers, 1);
	assert_string_equal(fx->m.resume, "ok");
}

static void
conn_lost__backup_down__next_backup_after_backoff(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_send(fx, 0, "{\"command\":\"BACKUP_LIST\",\"servers\":"
	    "[{\"host\":\"b\",\"port\":2},{\"host\":\"c\",\"port\":3}]}");
	fx->down_port = 2;
	fx_close(fx, 0);
	assert_true(fx->ndial >= 2);
	assert_int_equal(fx->dialed[1].port, 2);
	/*
	 * The next backup waits for the backoff's timer, a real-time one:
	 * a machine that stalls this process for longer lets it fire
	 * inside the close already, so the wait is checked only when it
	 * is still running, and then by its length.
	 */
	if (fx->ndial == 2) {
		assert_int_equal(fx->m.state, LINK_WAITING);
		assert_int_equal(fx->m.attempt, 2);
		assert_int_equal(fx->m.trying_port, 3);
		assert_true(fx->c->backoff_ms > 0);
		fx_run_for(fx, (int)fx->c->backoff_ms + 20);
	}
	assert_int_equal(fx->ndial, 3);
	assert_int_equal(fx->dialed[2].port, 3);
	assert_int_equal(fx->m.state, LINK_LOGGING_IN);
}

static void
conn_lost__no_backup_list__retries_same_server(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_recv(fx, 0);
	fx_send(fx, 0, "{\"command\":\"LOGIN_SUCCESS\",\"info\":\"ok\"}");
	fx_close(fx, 0);
	assert_int_equal(fx->ndial, 2);
	assert_string_equal(fx->dialed[1].host, "a");
	/* No resume: the server never offered it. */
	assert_null(strstr(fx_recv(fx, 1), "\"resume\":{"));
}

static void
conn_send__numbered__reports_matched_by_seq(void **state)
{
	struct fx	*fx = *state;
	char		*out;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_recv(fx, 0);
	assert_int_equal(conn_send(fx->c, "{\"x\":1}", 7), 0);
	assert_int_equal(conn_send(fx->c, "{\"x\":2}", 7), 0);
	out = fx_recv(fx, 0);
	assert_non_null(strstr(out, "\"activity_seq\":1,\"activity\":"
	    "{\"x\":1}}\n"));
	assert_non_null(strstr(out, "\"activity_seq\":2,\"activity\":"
	    "{\"x\":2}}\n"));
	assert_int_equal(model_reports_pending(&fx->m), 2);
	fx_send(fx, 0, "{\"command\":\"ACTIVITY_SENDING_REPORT\","
	    "\"activity_seq\":2,\"client_count\":3,\"succ_count\":3,"
	    "\"partial\":false}");
	assert_int_equal(model_reports_pending(&fx->m), 1);
	assert_int_equal(model_report_at(&fx->m, 0)->state, REPORT_DONE);
	assert_int_equal(model_report_at(&fx->m, 0)->target, 3);
	assert_int_equal(model_report_at(&fx->m, 1)->state, REPORT_PENDING);
	assert_true(fx_saw(fx, CONN_EV_REPORT));
}

static void
conn_send__not_offered__unnumbered_untracked(void **state)
{
	struct fx	*fx = *state;
	char		*out;

	conn_set_user(fx->c, "ann", "pw", 0);
	conn_open(fx->c, "a", 1);
	fx_recv(fx, 0);
	fx_send(fx, 0, "{\"command\":\"LOGIN_SUCCESS\",\"info\":\"ok\"}");
	conn_send(fx->c, "{}", 2);
	out = fx_recv(fx, 0);
	assert_string_equal(out, "{\"command\":\"ACTIVITY_MESSAGE\","
	    "\"username\":\"ann\",\"secret\":\"pw\",\"activity\":{}}\n");
	assert_int_equal(model_report_at(&fx->m, 0)->state, REPORT_UNTRACKED);
	assert_int_equal(model_reports_pending(&fx->m), 0);
}

static void
conn_send__resumed_session__numbering_continues(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	conn_send(fx->c, "{}", 2);
	conn_send(fx->c, "{}", 2);
	fx_close(fx, 0);
	fx_login(fx, 1, "S1");
	conn_send(fx->c, "{}", 2);
	assert_non_null(strstr(fx_recv(fx, 1), "\"activity_seq\":3"));
	/* A new session starts from 1. */
	fx_close(fx, 1);
	fx_login(fx, 2, "S2");
	conn_send(fx->c, "{}", 2);
	assert_non_null(strstr(fx_recv(fx, 2), "\"activity_seq\":1,"));
}

static void
conn_lost__resumed__unreported_activities_sent_again(void **state)
{
	struct fx	*fx = *state;
	char		*out;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	conn_send(fx->c, "{\"n\":1}", 7);
	conn_send(fx->c, "{\"n\":2}", 7);
	conn_send(fx->c, "{\"n\":3}", 7);
	fx_send(fx, 0, "{\"command\":\"ACTIVITY_SENDING_REPORT\","
	    "\"activity_seq\":2,\"client_count\":1,\"succ_count\":1}");
	fx_close(fx, 0);
	assert_int_equal(model_report_at(&fx->m, 0)->state, REPORT_LOST);
	fx_recv(fx, 1);
	fx_send(fx, 1, "{\"command\":\"LOGIN_SUCCESS\",\"info\":\"ok\","
	    "\"features\":" ALL_FEATURES ",\"session\":\"S1\","
	    "\"resume\":\"ok\"}");
	out = fx_recv(fx, 1);
	assert_non_null(strstr(out, "\"activity_seq\":1,\"activity\":"
	    "{\"n\":1}"));
	assert_null(strstr(out, "{\"n\":2}"));
	assert_non_null(strstr(out, "\"activity_seq\":3,\"activity\":"
	    "{\"n\":3}"));
	assert_true(strstr(out, "{\"n\":1}") < strstr(out, "{\"n\":3}"));
	assert_int_equal(model_reports_pending(&fx->m), 2);
	assert_int_equal(model_report_at(&fx->m, 1)->state, REPORT_DONE);
	/* New activities go on from 4. */
	conn_send(fx->c, "{}", 2);
	assert_non_null(strstr(fx_recv(fx, 1), "\"activity_seq\":4"));
}

static void
conn_lost__new_session__nothing_sent_again(void **state)
{
	struct fx	*fx = *state;
	char		*out;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	conn_send(fx->c, "{\"n\":1}", 7);
	fx_close(fx, 0);
	fx_login(fx, 1, "S2");
	out = fx_recv(fx, 1);
	assert_null(strstr(out, "ACTIVITY_MESSAGE"));
	assert_int_equal(fx->c->nunacked, 0);
	assert_int_equal(model_report_at(&fx->m, 0)->state, REPORT_LOST);
}

static void
conn_lost__resume_under_new_id__numbering_restarts(void **state)
{
	struct fx	*fx = *state;
	char		*out;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	conn_send(fx->c, "{\"n\":1}", 7);
	fx_close(fx, 0);
	fx_recv(fx, 1);
	fx_send(fx, 1, "{\"command\":\"LOGIN_SUCCESS\",\"info\":\"ok\","
	    "\"features\":" ALL_FEATURES ",\"session\":\"S9\","
	    "\"resume\":\"ok\"}");
	out = fx_recv(fx, 1);
	assert_null(strstr(out, "ACTIVITY_MESSAGE"));
	conn_send(fx->c, "{}", 2);
	assert_non_null(strstr(fx_recv(fx, 1), "\"activity_seq\":1,"));
}

static void
conn_send__offline__queued_then_sent(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx->down_port = 1;
	fx_close(fx, 0);
	assert_int_equal(fx->m.state, LINK_WAITING);
	assert_int_equal(conn_send(fx->c, "{\"q\":1}", 7), 1);
	fx->down_port = 0;
	fx_run_for(fx, 20);
	fx_login(fx, fx->ndial - 1, "S1");
	assert_non_null(strstr(fx_recv(fx, fx->ndial - 1),
	    "\"activity\":{\"q\":1}"));
	assert_int_equal(fx->c->nqueue, 0);
}

static void
conn_send__logged_out__refused(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	conn_logout(fx->c);
	assert_null(strstr(fx_recv(fx, 0), "LOGIN"));
	assert_int_equal(fx->m.state, LINK_LOGGED_OUT);
	assert_int_equal(conn_send(fx->c, "{}", 2), -1);
	fx_run_for(fx, 10);
	assert_int_equal(fx->ndial, 1);
	assert_true(fx_saw(fx, CONN_EV_CLOSED));
}

static void
conn_logout__online__sends_logout(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_recv(fx, 0);
	conn_logout(fx->c);
	assert_string_equal(fx_recv(fx, 0), "{\"command\":\"LOGOUT\"}\n");
	fx_run(fx);
	assert_false(conn_busy(fx->c));
}

static void
conn_read__duplicate_broadcast__dropped(void **state)
{
	struct fx	*fx = *state;
	int		 before;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	before = fx->lines;
	fx_send(fx, 0, "{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":"
	    "{\"type\":\"Note\",\"content\":\"one\",\"authenticated_user\":"
	    "\"bo\"},\"sender\":\"X\",\"activity_seq\":1}");
	fx_send(fx, 0, "{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":"
	    "{\"type\":\"Note\",\"content\":\"one\",\"authenticated_user\":"
	    "\"bo\"},\"sender\":\"X\",\"activity_seq\":1}");
	fx_send(fx, 0, "{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":"
	    "{\"type\":\"Note\",\"content\":\"two\"},\"sender\":\"X\","
	    "\"activity_seq\":2}");
	assert_int_equal(fx->lines - before, 2);
	assert_string_equal(model_line_at(&fx->m, 0)->text, "two");
	assert_string_equal(model_line_at(&fx->m, 1)->text, "one");
	assert_string_equal(model_line_at(&fx->m, 1)->who, "bo");
	assert_int_equal(model_line_at(&fx->m, 1)->kind, MODEL_ACTIVITY);
}

/*
 * An earlier page of history that the full scrollback cannot take all
 * of: the newest of it go on top, the next page is asked before the
 * oldest shown (none skipped), and scrolling stops fetching.
 */
static void
conn_read__history_page_into_full_scrollback__none_skipped(void **state)
{
	struct fx	*fx = *state;
	char		 line[512], *sent;
	int		 i;

	fx->c->history_want = 0;	/* no page at login */
	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	/* Room for three of the page and the note that the rest did not. */
	while (fx->m.lines_n < fx->m.lines_cap - 4)
		model_info(&fx->m, "filler");
	snprintf(fx->c->history_oldest, sizeof fx->c->history_oldest, "o:9");
	assert_int_equal(conn_history(fx->c, 5, 1), 0);
	assert_non_null(strstr(fx_recv(fx, 0), "\"before\":\"o:9\""));
	for (i = 4; i <= 8; i++) {
		snprintf(line, sizeof line, "{\"command\":\"HISTORY_ACTIVITY\","
		    "\"activity\":{\"content\":\"h%d\"},\"mid\":\"o:%d\","
		    "\"time\":1000}", i, i);
		fx_send(fx, 0, line);
	}
	fx_send(fx, 0, "{\"command\":\"HISTORY_END\",\"count\":5,"
	    "\"more\":true}");
	assert_int_equal(fx_stream_count(fx, "h8"), 1);
	assert_int_equal(fx_stream_count(fx, "h6"), 1);
	assert_int_equal(fx_stream_count(fx, "h5"), 0);
	assert_int_equal(fx_stream_count(fx, "no more than"), 1);
	assert_false(fx->c->history_more);
	assert_int_equal(conn_history(fx->c, 5, 1), 0);
	sent = fx_recv(fx, 0);
	if (strstr(sent, "\"before\":\"o:6\"") == NULL)
		fail_msg("asked: %s", sent);
}

static void
conn_read__own_broadcast__marked_self(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_send(fx, 0, "{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":"
	    "{\"n\":1},\"sender\":\"S1\",\"activity_seq\":1}");
	assert_int_equal(model_line_at(&fx->m, 0)->kind, MODEL_SELF);
	assert_string_equal(model_line_at(&fx->m, 0)->text, "{\"n\":1}");
}

static void
conn_read__garbage__invalid_message_and_failover(void **state)
{
	struct fx	*fx = *state;
	char		*out;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_recv(fx, 0);
	fx_send(fx, 0, "not json");
	out = fx_recv(fx, 0);
	assert_non_null(strstr(out, "{\"command\":\"INVALID_MESSAGE\","
	    "\"info\":\"invalid JSON"));
	assert_true(fx->m.out_of_service);
	assert_int_equal(fx->ndial, 2);
}

static void
conn_read__server_command__invalid_message(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_recv(fx, 0);
	fx_send(fx, 0, "{\"command\":\"LOCK_REQUEST\",\"username\":\"u\","
	    "\"secret\":\"s\"}");
	assert_non_null(strstr(fx_recv(fx, 0), "LOCK_REQUEST is not sent "
	    "to clients"));
}

static void
conn_read__broadcast_before_login__invalid_message(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_recv(fx, 0);
	fx_send(fx, 0, "{\"command\":\"ACTIVITY_BROADCAST\",\"activity\":{}}");
	assert_non_null(strstr(fx_recv(fx, 0), "before login"));
	assert_int_equal(fx->lines, 1);
}

static void
conn_read__invalid_message_online__fails_over(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_send(fx, 0, "{\"command\":\"INVALID_MESSAGE\",\"info\":\"nope\"}");
	assert_true(fx->m.out_of_service);
	assert_non_null(strstr(fx->m.last_error, "nope"));
	assert_int_equal(fx->ndial, 2);
}

static void
conn_read__authentication_fail_at_login__stays_down(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_send(fx, 0, "{\"command\":\"AUTHENTICATION_FAIL\",\"info\":\"no\"}");
	assert_int_equal(fx->m.state, LINK_FAILED);
	assert_non_null(strstr(fx->m.last_error, "authentication failed"));
}

static void
conn_read__cluster_status__servers_in_model(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_send(fx, 0, "{\"command\":\"CLUSTER_STATUS\",\"status\":"
	    "\"OUT_OF_SERVICE\",\"servers\":[{\"id\":\"s1\",\"host\":\"a\","
	    "\"port\":1,\"load\":3,\"last_announce_ms\":120,\"state\":"
	    "\"self\"},{\"id\":\"s2\",\"host\":\"b\",\"port\":2,\"load\":0,"
	    "\"last_announce_ms\":21000,\"state\":\"unavailable\"}]}");
	assert_true(fx->m.have_cluster);
	assert_string_equal(fx->m.cluster_status, "OUT_OF_SERVICE");
	assert_int_equal(fx->m.nservers, 2);
	assert_string_equal(fx->m.servers[1].state, "unavailable");
	assert_int_equal(fx->m.servers[0].load, 3);
	assert_int_equal(fx->m.servers[1].last_announce, 21000);
}

/*
 * Send bad on a link that took good: the client must answer
 * INVALID_MESSAGE naming the command, drop the link and keep what good
 * put in the model.
 */
static void
fx_refused(void **state, const char *good, const char *bad,
    const char *cmd)
{
	struct fx	*fx = *state;
	char		 why[64];
	int		 nbackups, nservers;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_send(fx, 0, good);
	nbackups = fx->m.nbackups;
	nservers = fx->m.nservers;
	fx_recv(fx, 0);
	fx_send(fx, 0, bad);
	snprintf(why, sizeof why, "\"info\":\"%s: ", cmd);
	assert_non_null(strstr(fx_recv(fx, 0), why));
	snprintf(why, sizeof why, "invalid message: %s: ", cmd);
	assert_non_null(strstr(fx->m.last_error, why));
	assert_true(fx->m.out_of_service);
	assert_int_equal(fx->m.nbackups, nbackups);
	assert_int_equal(fx->m.nservers, nservers);
	/* A fresh fixture for the next line. */
	assert_int_equal(teardown(state), 0);
	assert_int_equal(setup(state), 0);
}

#define BL(s)	"{\"command\":\"BACKUP_LIST\",\"servers\":[" s "]}"

static void
conn_read__backup_list_malformed__refused(void **state)
{
	static const char *const bad[] = {
		BL("{\"host\":\"c\",\"port\":\"3\"}"),
		BL("{\"host\":\"c\"}"),
		BL("{\"port\":3}"),
		BL("{\"host\":\"\",\"port\":3}"),
		BL("{\"host\":7,\"port\":3}"),
		BL("{\"host\":\"c\",\"port\":0}"),
		BL("{\"host\":\"c\",\"port\":65536}"),
		BL("{\"host\":\"c\",\"port\":3.5}"),
		BL("{\"host\":\"c\",\"port\":3,\"tls_port\":\"4\"}"),
		BL("{\"host\":\"c\",\"port\":3,\"tls_port\":0}"),
		BL("{\"host\":\"c\",\"port\":3,\"port\":4}"),
		BL("{\"host\":\"c\",\"port\":3},7"),
		BL("{\"host\":\"c\",\"port\":3},[]"),
		NULL
	};
	char	 host[257], line[512];
	int	 i;

	for (i = 0; bad[i] != NULL; i++)
		fx_refused(state, BL("{\"host\":\"b\",\"port\":2}"), bad[i],
		    "BACKUP_LIST");
	/* A host longer than the client keeps. */
	memset(host, 'h', sizeof host - 1);
	host[sizeof host - 1] = '\0';
	snprintf(line, sizeof line, BL("{\"host\":\"%s\",\"port\":3}"),
	    host);
	fx_refused(state, BL("{\"host\":\"b\",\"port\":2}"), line,
	    "BACKUP_LIST");
}

static void
conn_read__backup_list__decoded_in_order(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_send(fx, 0, BL("{\"host\":\"b\",\"port\":2,\"tls_port\":12},"
	    "{\"port\":3,\"host\":\"c\",\"extra\":[1]},"
	    "{\"host\":\"d\",\"port\":65535}"));
	assert_false(fx->m.out_of_service);
	assert_true(fx->m.have_backups);
	assert_int_equal(fx->m.nbackups, 3);
	assert_string_equal(fx->m.backups[0].host, "b");
	assert_int_equal(fx->m.backups[0].port, 2);
	assert_string_equal(fx->m.backups[1].host, "c");
	assert_int_equal(fx->m.backups[1].port, 3);
	assert_int_equal(fx->m.backups[2].port, 65535);
	assert_int_equal(fx->c->fo.nbackups, 3);
	/* An empty list empties it. */
	fx_send(fx, 0, BL(""));
	assert_int_equal(fx->m.nbackups, 0);
	assert_int_equal(fx->c->fo.nbackups, 0);
}

static void
conn_read__backup_list_over_tls__tls_ports_only(void **state)
{
	static char	 ctx;
	struct fx	*fx = *state;

	/* Only tested for NULL here: the dial seam makes no TLS. */
	fx->c->tls = (struct ssl_ctx_st *)(void *)&ctx;
	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_send(fx, 0, BL("{\"host\":\"b\",\"port\":2,\"tls_port\":12},"
	    "{\"host\":\"c\",\"port\":3},"
	    "{\"host\":\"d\",\"port\":4,\"tls_port\":14}"));
	fx->c->tls = NULL;
	assert_false(fx->m.out_of_service);
	assert_int_equal(fx->m.nbackups, 2);
	assert_string_equal(fx->m.backups[0].host, "b");
	assert_int_equal(fx->m.backups[0].port, 12);
	assert_string_equal(fx->m.backups[1].host, "d");
	assert_int_equal(fx->m.backups[1].port, 14);
}

#define CS(s)	"{\"command\":\"CLUSTER_STATUS\",\"status\":\"NORMAL\"," \
	"\"servers\":[" s "]}"
#define CS_ONE	"{\"id\":\"s1\",\"host\":\"a\",\"port\":1,\"load\":3," \
	"\"last_announce_ms\":0,\"state\":\"self\"}"

static void
conn_read__cluster_status_malformed__refused(void **state)
{
	static const char *const bad[] = {
		/* Each required field missing in turn. */
		CS("{\"host\":\"a\",\"port\":1,\"load\":3,"
		    "\"last_announce_ms\":0,\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"port\":1,\"load\":3,"
		    "\"last_announce_ms\":0,\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"load\":3,"
		    "\"last_announce_ms\":0,\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":1,"
		    "\"last_announce_ms\":0,\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":1,\"load\":3,"
		    "\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":1,\"load\":3,"
		    "\"last_announce_ms\":0}"),
		/* Wrong types and ranges. */
		CS("{\"id\":1,\"host\":\"a\",\"port\":1,\"load\":3,"
		    "\"last_announce_ms\":0,\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":\"1\",\"load\":3,"
		    "\"last_announce_ms\":0,\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":0,\"load\":3,"
		    "\"last_announce_ms\":0,\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":1,\"load\":0.5,"
		    "\"last_announce_ms\":0,\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":1,\"load\":3,"
		    "\"last_announce_ms\":-1,\"state\":\"up\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":1,\"load\":3,"
		    "\"last_announce_ms\":0,\"state\":null}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":1,\"load\":3,"
		    "\"last_announce_ms\":0,\"state\":\"down\","
		    "\"down_ms\":\"5\"}"),
		CS("{\"id\":\"s\",\"host\":\"a\",\"port\":1,\"load\":3,"
		    "\"last_announce_ms\":0,\"state\":\"up\",\"id\":\"t\"}"),
		CS(CS_ONE ",\"s2\""),
		NULL
	};
	int	 i;

	for (i = 0; bad[i] != NULL; i++)
		fx_refused(state, CS(CS_ONE), bad[i], "CLUSTER_STATUS");
}

static void
conn_read__cluster_status__fields_decoded(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_send(fx, 0, CS(CS_ONE ",{\"state\":\"down\",\"down_ms\":1500,"
	    "\"id\":\"s2\",\"host\":\"b\",\"port\":65535,\"load\":-1,"
	    "\"last_announce_ms\":9000,\"extra\":{}}"));
	assert_false(fx->m.out_of_service);
	assert_true(fx->m.have_cluster);
	assert_string_equal(fx->m.cluster_status, "NORMAL");
	assert_string_equal(fx->m.cluster_info, "");
	assert_int_equal(fx->m.nservers, 2);
	assert_string_equal(fx->m.servers[0].id, "s1");
	assert_string_equal(fx->m.servers[0].host, "a");
	assert_int_equal(fx->m.servers[0].port, 1);
	assert_int_equal(fx->m.servers[0].load, 3);
	assert_int_equal(fx->m.servers[0].last_announce, 0);
	assert_int_equal(fx->m.servers[0].down_ms, -1);
	assert_string_equal(fx->m.servers[0].state, "self");
	assert_string_equal(fx->m.servers[1].id, "s2");
	assert_string_equal(fx->m.servers[1].host, "b");
	assert_int_equal(fx->m.servers[1].port, 65535);
	assert_int_equal(fx->m.servers[1].load, -1);
	assert_int_equal(fx->m.servers[1].last_announce, 9000);
	assert_int_equal(fx->m.servers[1].down_ms, 1500);
	assert_string_equal(fx->m.servers[1].state, "down");
	/* The next status replaces the list. */
	fx_send(fx, 0, "{\"command\":\"CLUSTER_STATUS\",\"status\":"
	    "\"OUT_OF_SERVICE\",\"info\":\"why\",\"servers\":[]}");
	assert_string_equal(fx->m.cluster_status, "OUT_OF_SERVICE");
	assert_string_equal(fx->m.cluster_info, "why");
	assert_int_equal(fx->m.nservers, 0);
}

static void
conn_read__pong__rtt_measured(void **state)
{
	struct fx	*fx = *state;
	char		*out, *ts, line[128];

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	out = fx_recv(fx, 0);
	assert_non_null(ts = strstr(out, "{\"command\":\"PING\",\"ts\":"));
	snprintf(line, sizeof line, "{\"command\":\"PONG\",\"ts\":%lld}",
	    strtoll(ts + 23, NULL, 10));
	fx_send(fx, 0, line);
	assert_true(fx->m.rtt_ms >= 0 && fx->m.rtt_ms < 1000);
}

static void
conn_tick__silent_server__declared_dead(void **state)
{
	struct fx	*fx = *state;

	fx->c->ping_ms = 5;
	fx->c->dead_ms = 30;
	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_run_for(fx, 120);
	assert_true(fx->ndial >= 2);
	assert_non_null(strstr(fx->m.last_error, "no reply"));
}

static void
conn_read__line_too_long__invalid_message(void **state)
{
	struct fx	*fx = *state;
	char		*big;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_recv(fx, 0);
	big = malloc(CONN_LINE_MAX + 10);
	assert_non_null(big);
	memset(big, 'x', CONN_LINE_MAX + 9);
	big[CONN_LINE_MAX + 9] = '\0';
	bufferevent_write(fx->srv[0], big, CONN_LINE_MAX + 9);
	free(big);
	fx_run(fx);
	assert_non_null(strstr(fx_recv(fx, 0), "line too long"));
	assert_true(fx->m.out_of_service);
}

static void
conn_lost__retries__one_line_lost_one_line_back(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx->down_port = 1;
	fx_close(fx, 0);
	/* Retry the lone server for a while: every try fails. */
	fx_run_for(fx, 15);
	assert_true(fx->ndial >= 4);
	assert_true(fx->m.attempt >= 3);
	assert_int_equal(fx_stream_count(fx, "lost a:1"), 1);
	assert_int_equal(fx_stream_count(fx, "trying"), 0);
	assert_int_equal(fx_stream_count(fx, "cannot open"), 0);
	assert_non_null(strstr(fx->m.last_error, "cannot open"));
	fx->down_port = 0;
	for (i = 0; i < 200 && fx->m.state != LINK_LOGGING_IN; i++)
		fx_run_for(fx, 1);
	assert_int_equal(fx->m.state, LINK_LOGGING_IN);
	fx_login(fx, fx->ndial - 1, "S2");
	assert_int_equal(fx_stream_count(fx, "back online at a:1 after"), 1);
	assert_int_equal(fx_stream_count(fx, "logged in to"), 1);
	assert_int_equal(fx->m.failovers, 1);
}

static void
conn_open__server_not_running__asks_once_not_failover(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	fx->down_port = 1;
	conn_open(fx->c, "a", 1);
	fx_run_for(fx, 15);
	assert_true(fx->ndial >= 3);
	assert_int_equal(fx_stream_count(fx,
	    "is the server running at a:1?"), 1);
	assert_int_equal(fx_stream_count(fx, "lost"), 0);
	assert_int_equal(fx_stream_count(fx, "failover"), 0);
	assert_int_equal(fx->m.failovers, 0);
	fx->down_port = 0;
	for (i = 0; i < 200 && fx->m.state != LINK_LOGGING_IN; i++)
		fx_run_for(fx, 1);
	fx_login(fx, fx->ndial - 1, "S1");
	assert_int_equal(fx_stream_count(fx, "back online"), 0);
	assert_int_equal(fx->m.failovers, 0);
}

static void
conn_connect__dead_address__stays_online_no_failover(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_recv(fx, 0);
	fx->down_port = 9;
	conn_connect(fx->c, "wrong", 9);
	fx_run(fx);
	assert_int_equal(fx->ndial, 2);
	assert_int_equal(fx->m.state, LINK_ONLINE);
	assert_false(fx->m.out_of_service);
	assert_int_equal(fx->m.failovers, 0);
	assert_int_equal(fx_stream_count(fx, "cannot connect to wrong:9"), 1);
	assert_int_equal(fx_stream_count(fx, "staying on a:1"), 1);
	/* The old link was not logged out and still works. */
	assert_null(strstr(fx_recv(fx, 0), "LOGOUT"));
	assert_int_equal(conn_send(fx->c, "{}", 2), 0);
	assert_non_null(strstr(fx_recv(fx, 0), "ACTIVITY_MESSAGE"));
}

static void
conn_connect__dead_address_offline__stays_offline(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	conn_logout(fx->c);
	fx->down_port = 9;
	conn_connect(fx->c, "wrong", 9);
	fx_run_for(fx, 20);
	assert_int_equal(fx->ndial, 2);
	assert_int_equal(fx->m.state, LINK_LOGGED_OUT);
	assert_false(fx->m.out_of_service);
	assert_int_equal(fx_stream_count(fx, "staying offline"), 1);
}

static void
conn_connect__live_address__logs_out_and_moves(void **state)
{
	struct fx	*fx = *state;

	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_recv(fx, 0);
	conn_connect(fx->c, "b", 2);
	fx_run(fx);
	assert_non_null(strstr(fx_recv(fx, 0), "LOGOUT"));
	assert_int_equal(fx->ndial, 2);
	fx_login(fx, 1, "S9");
	assert_string_equal(fx->m.host, "b");
	assert_int_equal(fx->m.failovers, 0);
}

static void
conn_tick__silent_server__outage_from_last_heard(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	fx->c->ping_ms = 5;
	fx->c->dead_ms = 60;
	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	for (i = 0; i < 2000 && fx->ndial < 2; i++)
		fx_run_for(fx, 1);
	assert_int_equal(fx->ndial, 2);
	fx_login(fx, 1, "S1");
	/* Silent for dead_ms before the loss was noticed: that counts. */
	assert_true(fx->m.last_outage_ms >= 60);
}

/*
 * A server that closes the link was there until it did: a quiet spell
 * before the close is no outage (a crash failed over in a few ms must
 * not read "back online after" the time since the last ping).
 */
static void
conn_lost__closed_after_quiet_spell__outage_from_the_close(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	fx->sockets = 1;
	fx->c->ping_ms = 100000;
	fx->c->dead_ms = 200000;
	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	fx_run_for(fx, 300);
	fx_close(fx, 0);
	for (i = 0; i < 2000 && fx->ndial < 2; i++)
		fx_run_for(fx, 1);
	assert_int_equal(fx->ndial, 2);
	fx_login(fx, 1, "S1");
	assert_int_equal(fx->m.failovers, 1);
	assert_true(fx->m.last_outage_ms < 300);
}

static void
conn_status__login_failed__no_stale_rtt_or_session(void **state)
{
	struct fx	*fx = *state;
	char		*out, *ts, line[128];

	conn_set_user(fx->c, "ann", "pw", 0);
	conn_open(fx->c, "a", 1);
	fx_login(fx, 0, "S1");
	out = fx_recv(fx, 0);
	assert_non_null(ts = strstr(out, "{\"command\":\"PING\",\"ts\":"));
	snprintf(line, sizeof line, "{\"command\":\"PONG\",\"ts\":%lld}",
	    strtoll(ts + 23, NULL, 10));
	fx_send(fx, 0, line);
	assert_true(fx->m.rtt_ms >= 0);
	assert_string_equal(fx->m.session, "S1");
	conn_set_user(fx->c, "ann", "wrong", 0);
	conn_open(fx->c, "a", 1);
	fx_send(fx, 1, "{\"command\":\"LOGIN_FAILED\",\"info\":\"no\"}");
	assert_int_equal(fx->m.state, LINK_FAILED);
	assert_int_equal(fx->m.rtt_ms, -1);
	assert_string_equal(fx->m.session, "");
	assert_string_equal(fx->m.server_id, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(conn_open__anonymous__login_asks_every_feature),
		T(conn_set_user__no_secret__registers_then_logs_in_same_link),
		T(conn_read__login_failed__stays_down_no_retry),
		T(conn_read__register_failed__shown_and_stays_down),
		T(conn_read__batch_login_failed__no_commands_suggested),
		T(conn_read__redirect__reconnects_and_logs_in_there),
		T(conn_read__redirect_loop__bounded),
		T(conn_lost__backup_list__fails_over_and_resumes),
		T(conn_lost__backup_down__next_backup_after_backoff),
		T(conn_lost__no_backup_list__retries_same_server),
		T(conn_send__numbered__reports_matched_by_seq),
		T(conn_send__not_offered__unnumbered_untracked),
		T(conn_send__resumed_session__numbering_continues),
		T(conn_send__offline__queued_then_sent),
		T(conn_lost__resumed__unreported_activities_sent_again),
		T(conn_lost__new_session__nothing_sent_again),
		T(conn_lost__resume_under_new_id__numbering_restarts),
		T(conn_send__logged_out__refused),
		T(conn_logout__online__sends_logout),
		T(conn_read__duplicate_broadcast__dropped),
		T(conn_read__history_page_into_full_scrollback__none_skipped),
		T(conn_read__own_broadcast__marked_self),
		T(conn_read__garbage__invalid_message_and_failover),
		T(conn_read__server_command__invalid_message),
		T(conn_read__broadcast_before_login__invalid_message),
		T(conn_read__invalid_message_online__fails_over),
		T(conn_read__backup_list_malformed__refused),
		T(conn_read__backup_list__decoded_in_order),
		T(conn_read__backup_list_over_tls__tls_ports_only),
		T(conn_read__cluster_status_malformed__refused),
		T(conn_read__cluster_status__fields_decoded),
		T(conn_read__authentication_fail_at_login__stays_down),
		T(conn_read__cluster_status__servers_in_model),
		T(conn_read__pong__rtt_measured),
		T(conn_tick__silent_server__declared_dead),
		T(conn_read__line_too_long__invalid_message),
		T(conn_lost__retries__one_line_lost_one_line_back),
		T(conn_open__server_not_running__asks_once_not_failover),
		T(conn_connect__dead_address__stays_online_no_failover),
		T(conn_connect__dead_address_offline__stays_offline),
		T(conn_connect__live_address__logs_out_and_moves),
		T(conn_tick__silent_server__outage_from_last_heard),
		T(conn_lost__closed_after_quiet_spell__outage_from_the_close),
		T(conn_status__login_failed__no_stale_rtt_or_session),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
