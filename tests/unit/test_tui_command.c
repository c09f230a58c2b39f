/*
 * command.c and the key handling in tui.c, without a terminal: slash
 * commands parse and say what is wrong in words, keys edit the line and
 * scroll the focused pane, Enter submits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <curses.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "conn.h"
#include "layout.h"
#include "text.h"
#include "tui.h"
#include "ui.h"

struct fx {
	struct event_base	*base;
	struct tui		 t;
	struct ui		 ui;
	struct fo_target	 dialed;
	int			 ndial;
};

/* Dialing always fails here: no sockets in unit tests. */
static struct bufferevent *
fx_dial(struct conn *c, const struct fo_target *t, int *connected)
{
	struct fx	*fx = c->dial_arg;

	(void)connected;
	fx->dialed = *t;
	fx->ndial++;
	return NULL;
}

static int
setup(void **state)
{
	struct fx	*fx = calloc(1, sizeof *fx);

	if (fx == NULL || (fx->base = event_base_new()) == NULL)
		return -1;
	setlocale(LC_ALL, "C.UTF-8");
	tui_init(&fx->t, fx->base);
	fx->t.conn->dial = fx_dial;
	fx->t.conn->dial_arg = fx;
	snprintf(fx->t.opt.host, sizeof fx->t.opt.host, "home");
	fx->t.opt.port = 7;
	layout_compute(80, 24, &fx->ui.lay);
	fx->ui.focus = PANE_ACTIVITY;
	fx->t.ui = &fx->ui;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	fx->t.ui = NULL;
	tui_free(&fx->t);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static const char *
last_text(struct fx *fx)
{
	const struct model_line	*l = model_line_at(&fx->t.model, 0);

	return l != NULL ? l->text : "";
}

static int
stream_has(struct fx *fx, const char *s)
{
	const struct model_line	*l;
	size_t			 i;

	for (i = 0; (l = model_line_at(&fx->t.model, i)) != NULL; i++)
		if (strstr(l->text, s) != NULL)
			return 1;
	return 0;
}

static void
keys(struct fx *fx, const char *s)
{
	while (*s != '\0')
		tui_key(&fx->t, (unsigned char)*s++, 0);
}

static void
command_split__words__split_in_place(void **state)
{
	char	 buf[] = "  connect  host\t42 ", *argv[4];

	(void)state;
	assert_int_equal(command_split(buf, argv, 4), 3);
	assert_string_equal(argv[0], "connect");
	assert_string_equal(argv[1], "host");
	assert_string_equal(argv[2], "42");
}

static void
command_split__too_many__refused(void **state)
{
	char	 buf[] = "a b c d e", *argv[4];

	(void)state;
	assert_int_equal(command_split(buf, argv, 4), -1);
}

/* Count the full help lines and the widest (in columns). */
static void
help_measure(void *arg, const char *line)
{
	int	*w = arg;
	int	 n = text_width(line, strlen(line));

	w[0]++;
	if (n > w[1])
		w[1] = n;
}

/*
 * The help overlay cuts what does not fit: every full help line fits its
 * width, and there are no more lines than it has rows, so at 80x24
 * nothing is cut.
 */
static void
command_help_each__full__every_line_fits_the_overlay(void **state)
{
	int	 w[2] = { 0, 0 };

	(void)state;
	command_help_each(help_measure, w, 0);
	assert_true(w[0] > 10);
	assert_true(w[1] > 0);
	assert_true(w[1] <= COMMAND_HELP_WIDTH);
	assert_true(w[0] <= COMMAND_HELP_ROWS);
}

static void
command_exec__unknown__says_so(void **state)
{
	struct fx	*fx = *state;

	assert_int_equal(command_exec(&fx->t, "/frobnicate now"), -1);
	assert_string_equal(last_text(fx),
	    "unknown command /frobnicate; try /help");
}

static void
command_exec__wrong_arguments__usage(void **state)
{
	struct fx	*fx = *state;

	assert_int_equal(command_exec(&fx->t, "/connect onlyhost"), -1);
	assert_string_equal(last_text(fx), "usage: /connect host port");
	assert_int_equal(command_exec(&fx->t, "/connect h 70000"), -1);
	assert_string_equal(last_text(fx), "/connect: bad port 70000");
	assert_int_equal(command_exec(&fx->t, "/login bob"), -1);
	assert_non_null(strstr(last_text(fx), "usage: /login"));
	assert_int_equal(fx->ndial, 0);
}

static void
command_exec__connect__dials_that_server(void **state)
{
	struct fx	*fx = *state;

	assert_int_equal(command_exec(&fx->t, "/connect example.org 99"), 0);
	assert_int_equal(fx->ndial, 1);
	assert_string_equal(fx->dialed.host, "example.org");
	assert_int_equal(fx->dialed.port, 99);
}

static void
command_exec__register__secret_generated_shown_on_success_only(void **state)
{
	struct fx	*fx = *state;

	assert_int_equal(command_exec(&fx->t, "/register zoe"), 0);
	assert_true(fx->t.conn->need_register);
	assert_true(fx->t.conn->generated);
	/* Not before the server said the registration succeeded. */
	assert_false(stream_has(fx, "generated secret for zoe"));
	assert_string_equal(fx->dialed.host, "home");
	assert_int_equal(command_exec(&fx->t, "/register anonymous"), -1);
}

static void
command_exec__help__lists_every_command(void **state)
{
	struct fx	*fx = *state;

	assert_int_equal(command_exec(&fx->t, "/help"), 0);
	assert_true(stream_has(fx, "/connect host port"));
	assert_true(stream_has(fx, "/login user secret"));
	assert_true(stream_has(fx, "/register user [secret]"));
	assert_true(stream_has(fx, "/logout"));
	assert_true(stream_has(fx, "/cluster"));
	assert_true(stream_has(fx, "/quit"));
}

static void
command_exec__cluster__focuses_cluster_pane(void **state)
{
	struct fx	*fx = *state;

	command_exec(&fx->t, "/cluster");
	assert_int_equal(fx->ui.focus, PANE_CLUSTER);
}

static void
tui_submit__offline__not_sent_in_words(void **state)
{
	struct fx	*fx = *state;

	tui_submit(&fx->t, "hello", 5);
	assert_non_null(strstr(last_text(fx), "not sent: not connected"));
	tui_submit(&fx->t, "{oops", 5);
	assert_non_null(strstr(last_text(fx), "not sent: invalid JSON"));
}

static void
tui_key__typing_and_enter__line_submitted_and_kept(void **state)
{
	struct fx	*fx = *state;

	keys(fx, "/nosuch");
	assert_int_equal(fx->t.input.len, 7);
	tui_key(&fx->t, '\r', 0);
	assert_int_equal(fx->t.input.len, 0);
	assert_non_null(strstr(last_text(fx), "unknown command /nosuch"));
	tui_key(&fx->t, KEY_UP, 1);
	assert_int_equal(fx->t.input.len, 7);
	tui_key(&fx->t, 0x17, 0);		/* ctrl-w */
	assert_int_equal(fx->t.input.len, 0);
}

static void
tui_key__editing_keys__edit_the_line(void **state)
{
	struct fx	*fx = *state;
	char		 buf[64];

	keys(fx, "ab");
	tui_key(&fx->t, KEY_HOME, 1);
	keys(fx, "x");
	tui_key(&fx->t, KEY_END, 1);
	tui_key(&fx->t, KEY_BACKSPACE, 1);
	tui_key(&fx->t, KEY_LEFT, 1);
	tui_key(&fx->t, KEY_DC, 1);
	keys(fx, "yz");
	tui_key(&fx->t, 0x01, 0);		/* ctrl-a */
	tui_key(&fx->t, 0x0b, 0);		/* ctrl-k */
	keys(fx, "q");
	tui_key(&fx->t, 0x05, 0);		/* ctrl-e */
	keys(fx, "!");
	input_utf8(&fx->t.input, buf, sizeof buf);
	assert_string_equal(buf, "q!");
	tui_key(&fx->t, 0x15, 0);		/* ctrl-u */
	assert_int_equal(fx->t.input.len, 0);
}

static void
tui_key__page_up_down__scrolls_focused_pane(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	for (i = 0; i < 100; i++)
		model_info(&fx->t.model, "line %d", i);
	tui_key(&fx->t, KEY_PPAGE, 1);
	assert_int_equal(fx->t.model.scroll,
	    (size_t)ui_page(&fx->ui, PANE_ACTIVITY));
	tui_key(&fx->t, KEY_NPAGE, 1);
	assert_int_equal(fx->t.model.scroll, 0);
	tui_key(&fx->t, '\t', 0);
	assert_int_equal(fx->ui.focus, PANE_REPORTS);
	tui_key(&fx->t, KEY_BTAB, 1);
	assert_int_equal(fx->ui.focus, PANE_ACTIVITY);
	tui_key(&fx->t, '\t', 0);
	tui_key(&fx->t, 0x1b, 0);		/* Escape */
	assert_int_equal(fx->ui.focus, PANE_ACTIVITY);
}

static void
tui_key__page_up_past_oldest__stops_at_full_page(void **state)
{
	struct fx	*fx = *state;
	struct rect	*r = &fx->ui.lay.r[PANE_ACTIVITY];
	size_t		 max;
	int		 i;

	for (i = 0; i < 275; i++)
		model_info(&fx->t.model, "line %d", i);
	for (i = 0; i < 100; i++)
		tui_key(&fx->t, KEY_PPAGE, 1);
	/* The oldest line is at the top of a full page, not alone. */
	max = fx->t.model.lines_n - (size_t)(r->h - 1);
	assert_int_equal(fx->t.model.scroll, max);
	assert_int_equal(pane_activity_scroll_max(&fx->t.model, r->w, r->h),
	    max);
	/* End at the end of the (empty) input line: back to the newest. */
	tui_key(&fx->t, KEY_END, 1);
	assert_int_equal(fx->t.model.scroll, 0);
	/* With text before the cursor End moves the cursor first. */
	tui_key(&fx->t, KEY_PPAGE, 1);
	keys(fx, "ab");
	tui_key(&fx->t, KEY_HOME, 1);
	tui_key(&fx->t, KEY_END, 1);
	assert_int_equal(fx->t.input.cur, 2);
	assert_true(fx->t.model.scroll > 0);
	tui_key(&fx->t, 0x05, 0);		/* ctrl-e, at the end */
	assert_int_equal(fx->t.model.scroll, 0);
}

/*
 * One row more than the page, the extra row in the newest line (it
 * wraps) or in the unread marker above it: the oldest row is off the
 * top at the bottom of the stream, so Page Up must scroll back to it.
 */
static void
tui_key__newest_wraps_past_page__page_up_reaches_oldest(void **state)
{
	struct fx	*fx = *state;
	struct rect	*r = &fx->ui.lay.r[PANE_ACTIVITY];
	char		 longer[200];
	int		 i, page = r->h - 1;

	for (i = 0; i < page - 1; i++)
		model_info(&fx->t.model, "line %d", i);
	memset(longer, 'x', sizeof longer - 1);
	longer[(size_t)r->w + 10] = '\0';	/* two rows */
	model_info(&fx->t.model, "%s", longer);
	assert_true(pane_activity_scroll_max(&fx->t.model, r->w, r->h) > 0);
	tui_key(&fx->t, KEY_PPAGE, 1);
	assert_true(fx->t.model.scroll > 0);

	/* The same with the unread marker as the extra row. */
	tui_key(&fx->t, KEY_END, 1);
	model_clear(&fx->t.model);
	for (i = 0; i < page - 1; i++)
		model_info(&fx->t.model, "line %d", i);
	model_set_focus(&fx->t.model, 0);
	model_info(&fx->t.model, "unread");
	assert_true(fx->t.model.marker);
	assert_true(pane_activity_scroll_max(&fx->t.model, r->w, r->h) > 0);
	tui_key(&fx->t, KEY_PPAGE, 1);
	assert_true(fx->t.model.scroll > 0);
}

static void
tui_key__few_lines__page_up_does_not_scroll(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	for (i = 0; i < 5; i++)
		model_info(&fx->t.model, "line %d", i);
	tui_key(&fx->t, KEY_PPAGE, 1);
	assert_int_equal(fx->t.model.scroll, 0);
}

static void
tui_key__cluster_rows_fit__page_up_hides_none(void **state)
{
	struct fx	*fx = *state;
	struct rect	*r = &fx->ui.lay.r[PANE_CLUSTER];
	int		 i;

	fx->t.model.nservers = r->h - 2;	/* exactly a page */
	fx->ui.focus = PANE_CLUSTER;
	tui_key(&fx->t, KEY_PPAGE, 1);
	assert_int_equal(fx->t.model.cluster_scroll, 0);
	fx->t.model.nservers = r->h + 3;
	for (i = 0; i < 5; i++)
		tui_key(&fx->t, KEY_PPAGE, 1);
	assert_int_equal(fx->t.model.cluster_scroll, 5);
	tui_key(&fx->t, KEY_END, 1);
	assert_int_equal(fx->t.model.cluster_scroll, 0);
}

static void
tui_submit__scrolled_back__snaps_to_newest(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	for (i = 0; i < 100; i++)
		model_info(&fx->t.model, "line %d", i);
	tui_key(&fx->t, KEY_PPAGE, 1);
	assert_true(fx->t.model.scroll > 0);
	keys(fx, "hello");
	tui_key(&fx->t, '\r', 0);
	assert_int_equal(fx->t.model.scroll, 0);
}

/* How many stream lines contain needle. */
static int
stream_count(struct fx *fx, const char *needle)
{
	const struct model_line	*l;
	size_t			 i;
	int			 n = 0;

	for (i = 0; (l = model_line_at(&fx->t.model, i)) != NULL; i++)
		if (strstr(l->text, needle) != NULL)
			n++;
	return n;
}

static void
tui_key__paste_lines__one_input_long_ones_asked(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	/* Offline, so each input sent says "not sent" once. */
	tui_key(&fx->t, TUI_KEY_PASTE_START, 1);
	keys(fx, "one\rtwo\r");
	tui_key(&fx->t, TUI_KEY_PASTE_END, 1);
	assert_int_equal(stream_count(fx, "not sent"), 1);
	assert_int_equal(fx->t.input.len, 0);
	/* Without a line break: into the input line, not sent. */
	tui_key(&fx->t, TUI_KEY_PASTE_START, 1);
	keys(fx, "just this");
	tui_key(&fx->t, TUI_KEY_PASTE_END, 1);
	assert_int_equal(fx->t.input.len, 9);
	assert_int_equal(stream_count(fx, "not sent"), 1);
	tui_key(&fx->t, 0x15, 0);		/* ctrl-u */
	/* Over the threshold: asked; n drops it, y sends it. */
	for (i = 0; i < 2; i++) {
		tui_key(&fx->t, TUI_KEY_PASTE_START, 1);
		keys(fx, "1\r2\r3\r4\r5\r6\r7");
		tui_key(&fx->t, TUI_KEY_PASTE_END, 1);
		assert_int_equal(fx->t.paste_ask, 7);
		keys(fx, "x");			/* neither: still asking */
		assert_int_equal(fx->t.paste_ask, 7);
		keys(fx, i == 0 ? "n" : "y");
		assert_int_equal(fx->t.paste_ask, 0);
	}
	assert_int_equal(stream_count(fx, "paste dropped"), 1);
	assert_int_equal(stream_count(fx, "not sent"), 2);
}

static void
tui_tick__paste_without_end__ends_it(void **state)
{
	struct fx	*fx = *state;
	int		 i;

	clock_mock(10000);
	tui_key(&fx->t, TUI_KEY_PASTE_START, 1);
	keys(fx, "a");
	clock_mock(10000 + TUI_PASTE_IDLE_MS + 1);
	fx->t.ui = NULL;		/* no screen to redraw here */
	for (i = 0; i < 200 && fx->t.pasting; i++) {
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		usleep(10000);
	}
	fx->t.ui = &fx->ui;
	clock_mock(0);
	assert_false(fx->t.pasting);
	/* Enter submits again instead of adding a line break. */
	tui_key(&fx->t, '\r', 0);
	assert_int_equal(fx->t.input.len, 0);
}

static void
tui_key__quit_command__logs_out_and_stops(void **state)
{
	struct fx	*fx = *state;

	keys(fx, "/quit");
	tui_key(&fx->t, '\n', 0);
	assert_true(fx->t.quitting);
	assert_int_equal(fx->t.model.state, LINK_LOGGED_OUT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(command_split__words__split_in_place),
		cmocka_unit_test(command_split__too_many__refused),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(command_exec__unknown__says_so),
		T(command_exec__wrong_arguments__usage),
		T(command_exec__connect__dials_that_server),
		T(command_exec__register__secret_generated_shown_on_success_only),
		T(command_exec__help__lists_every_command),
		T(command_exec__cluster__focuses_cluster_pane),
		T(tui_submit__offline__not_sent_in_words),
		T(tui_key__typing_and_enter__line_submitted_and_kept),
		T(tui_key__editing_keys__edit_the_line),
		T(tui_key__page_up_down__scrolls_focused_pane),
		T(tui_key__page_up_past_oldest__stops_at_full_page),
		T(tui_key__newest_wraps_past_page__page_up_reaches_oldest),
		T(tui_key__few_lines__page_up_does_not_scroll),
		T(tui_key__cluster_rows_fit__page_up_hides_none),
		T(tui_submit__scrolled_back__snaps_to_newest),
		T(tui_key__paste_lines__one_input_long_ones_asked),
		T(tui_tick__paste_without_end__ends_it),
		T(tui_key__quit_command__logs_out_and_stops),
		T(command_help_each__full__every_line_fits_the_overlay),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
