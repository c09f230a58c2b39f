/*
 * Running the server in production: the default data directory, and a
 * cluster that keeps every registered user across a full restart.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* A server on a fixed port (so it finds its journal again). */
static struct it_server *
ops_spawn(const char *name, const char *port, struct it_server *parent,
    const char *extra)
{
	const char		*argv[32];
	struct it_server	*s;
	int			 n = 0;

	argv[n++] = "-lh";
	argv[n++] = "localhost";
	argv[n++] = "-lp";
	argv[n++] = port;
	argv[n++] = "-s";
	argv[n++] = IT_SECRET;
	argv[n++] = "-a";
	argv[n++] = "100";
	if (parent != NULL) {
		argv[n++] = "-rh";
		argv[n++] = "localhost";
		argv[n++] = "-rp";
		argv[n++] = parent->port_str;
	}
	if (extra != NULL)
		argv[n++] = extra;
	argv[n] = NULL;
	s = it_spawn(name, argv, 1);
	if (parent != NULL)
		it_wait_log(s, "joined the cluster");
	return s;
}

/*
 * Without --data-dir a server keeps its journal in
 * $XDG_STATE_HOME/activity-server/PORT and says so at start; with
 * --data-dir none it keeps none and says that.
 */
static void
ops__default_data_dir__under_xdg_state_home(void **state)
{
	struct it_server	*a, *b;
	struct stat		 st;
	char			 dir[4200], path[4300], want[4400];
	const char		*xdg;

	(void)state;
	it_no_data_dir = 0;
	a = it_root("A");
	xdg = getenv("XDG_STATE_HOME");
	assert_non_null(xdg);
	assert_string_equal(xdg, it_tmpdir());
	snprintf(dir, sizeof dir, "%s/activity-server/%d", xdg, a->port);
	snprintf(want, sizeof want, "data directory %s:", dir);
	it_wait_log(a, want);
	it_register(a, "dora", "dora-secret");
	snprintf(path, sizeof path, "%s/users.journal", dir);
	if (stat(path, &st) == -1)
		it_fail("no journal at %s: %s", path, strerror(errno));
	assert_true(st.st_size > 0);
	if ((st.st_mode & 077) != 0)
		it_fail("journal %s is open to others (mode %o)", path,
		    (unsigned)st.st_mode & 0777);

	it_no_data_dir = 1;
	b = it_root("B");
	it_wait_log(b, "no data directory (--data-dir none)");
	snprintf(dir, sizeof dir, "%s/activity-server/%d", xdg, b->port);
	if (stat(dir, &st) == 0)
		it_fail("--data-dir none still created %s", dir);
}

/*
 * The README's three servers with their default data directories:
 * register users at each, stop all three, start all three, and every
 * user logs in.  The root is checked alone first, so what it knows can
 * only have come from its journal.
 */
static void
ops__full_restart__every_registered_user_logs_in(void **state)
{
	struct it_server	*a, *b, *c;
	char			 pa[16], pb[16], pc[16];
	static const char	*users[][2] = {
		{ "ann", "ann-secret" }, { "bob", "bob-secret" },
		{ "cat", "cat-secret" }, { "dan", "dan-secret" },
	};
	size_t			 i;

	(void)state;
	it_no_data_dir = 0;
	a = it_root("A");
	b = it_child("B", a);
	c = it_child("C", a);
	snprintf(pa, sizeof pa, "%s", a->port_str);
	snprintf(pb, sizeof pb, "%s", b->port_str);
	snprintf(pc, sizeof pc, "%s", c->port_str);
	it_register(a, users[0][0], users[0][1]);
	it_register(b, users[1][0], users[1][1]);
	it_register(c, users[2][0], users[2][1]);
	it_register(b, users[3][0], users[3][1]);
	/* Every server has journalled every user before the stop. */
	for (i = 0; i < 4; i++) {
		it_login_eventually(a, users[i][0], users[i][1]);
		it_login_eventually(b, users[i][0], users[i][1]);
		it_login_eventually(c, users[i][0], users[i][1]);
	}
	a->expect_dead = b->expect_dead = c->expect_dead = 1;
	assert_int_equal(it_server_stop(c), 0);
	assert_int_equal(it_server_stop(b), 0);
	assert_int_equal(it_server_stop(a), 0);

	a = ops_spawn("A2", pa, NULL, NULL);
	for (i = 0; i < 4; i++)
		it_login(it_connect(a, users[i][0]), users[i][0],
		    users[i][1]);
	it_login_fail(it_connect(a, "nobody"), "nobody", "x");
	it_login_fail(it_connect(a, "ann"), "ann", "bob-secret");
	b = ops_spawn("B2", pb, a, NULL);
	c = ops_spawn("C2", pc, a, NULL);
	for (i = 0; i < 4; i++) {
		it_login_eventually(b, users[i][0], users[i][1]);
		it_login_eventually(c, users[i][0], users[i][1]);
	}
	it_no_data_dir = 1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
		    ops__default_data_dir__under_xdg_state_home, it_teardown),
		cmocka_unit_test_teardown(
		    ops__full_restart__every_registered_user_logs_in,
		    it_teardown),
	};

	return it_run_tests("ops", tests);
}
