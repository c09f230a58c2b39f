/*
 * Starting servers the way existing scripts do: the seed's commands
 * verbatim, a generated secret, a wrong or missing secret, --help.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"

/* The exit status of a server expected to stop by itself. */
static int
exit_status(struct it_server *s)
{
	int	 st;

	s->expect_dead = 1;
	if ((st = it_server_wait_exit(s, it_timeout())) == -1)
		it_fail("server %s still running after %d ms", s->name,
		    it_timeout());
	if (!WIFEXITED(st))
		it_fail("server %s did not exit normally (status %#x)",
		    s->name, st);
	return WEXITSTATUS(st);
}

/*
 * activity-server -lh localhost -lp P1 -s abc -a 5000
 * activity-server -lh localhost -lp P2 -s abc -rh localhost -rp P1 -a 5000
 * form a cluster: a user registered at P2 logs in at P1, and an activity
 * from a client of P1 reaches a client of P2.
 */
static void
seed__start_commands_verbatim__servers_form_a_cluster(void **state)
{
	const char		*argv1[] = { "-lh", "localhost", "-lp", "@PORT",
				    "-s", "abc", "-a", "5000", NULL };
	struct it_server	*s1, *s2;
	struct it_client	*c1, *c2;

	(void)state;
	s1 = it_spawn("P1", argv1, 1);
	{
		const char	*argv2[] = { "-lh", "localhost", "-lp",
				    "@PORT", "-s", "abc", "-rh", "localhost",
				    "-rp", s1->port_str, "-a", "5000", NULL };

		s2 = it_spawn("P2", argv2, 1);
	}
	it_wait_log(s2, "joined the cluster");

	it_register(s2, "erin", "erin-secret");
	it_login_eventually(s1, "erin", "erin-secret");
	c1 = it_connect(s1, "c1");
	it_login(c1, "erin", "erin-secret");
	c2 = it_connect(s2, "c2");
	it_login(c2, "anonymous", NULL);
	it_send_activity(c1, "{\"hello\":\"from P1\"}");
	it_expect(c1, "ACTIVITY_BROADCAST");
	it_expect(c2, "ACTIVITY_BROADCAST");
	it_send_activity(c2, "{\"hello\":\"from P2\"}");
	it_expect(c2, "ACTIVITY_BROADCAST");
	it_expect(c1, "ACTIVITY_BROADCAST");
}

/*
 * A root started without -s prints "cluster secret: <s>" on stdout; a
 * second server joins with that secret.
 */
static void
seed__root_without_secret__prints_secret_that_lets_a_server_join(void **state)
{
	const char		*argv1[] = { "-lh", "localhost", "-lp", "@PORT",
				    "-a", "100", NULL };
	struct it_server	*s1, *s2;
	struct it_client	*c1, *c2;
	char			*out, *p, secret[256];
	size_t			 n;

	(void)state;
	s1 = it_spawn("root", argv1, 1);
	out = it_server_stdout(s1);	/* printed before it listens */
	if ((p = strstr(out, "cluster secret: ")) == NULL)
		it_fail("no \"cluster secret: \" on stdout: %s",
		    it_escape(out, strlen(out)));
	p += strlen("cluster secret: ");
	n = strcspn(p, "\r\n");
	assert_true(n > 0 && n < sizeof secret);
	memcpy(secret, p, n);
	secret[n] = '\0';
	free(out);
	assert_true(strcspn(secret, " \t") == strlen(secret));
	{
		const char	*argv2[] = { "-lh", "localhost", "-lp",
				    "@PORT", "-s", secret, "-rh", "localhost",
				    "-rp", s1->port_str, "-a", "100", NULL };

		s2 = it_spawn("joiner", argv2, 1);
	}
	it_wait_log(s2, "joined the cluster");
	c1 = it_connect(s1, "c1");
	it_login(c1, "anonymous", NULL);
	c2 = it_connect(s2, "c2");
	it_login(c2, "anonymous", NULL);
	it_send_activity(c2, "{\"via\":\"generated secret\"}");
	it_expect(c2, "ACTIVITY_BROADCAST");
	it_expect(c1, "ACTIVITY_BROADCAST");
}

/*
 * Joining with the wrong secret: refused, the joiner exits nonzero and
 * says why; the cluster carries on.
 */
static void
seed__join_with_wrong_secret__exits_nonzero_with_message(void **state)
{
	struct it_server	*root, *bad;
	struct it_client	*c;
	char			*log;

	(void)state;
	root = it_root("root");
	{
		const char	*argv[] = { "-lh", "localhost", "-lp",
				    "@PORT", "-s", "not-the-secret", "-rh",
				    "localhost", "-rp", root->port_str, "-a",
				    "100", NULL };

		bad = it_spawn("bad", argv, 0);
	}
	assert_int_not_equal(exit_status(bad), 0);
	log = it_server_log(bad);
	if (strstr(log, "secret") == NULL || strstr(log, "refused") == NULL)
		it_fail("the refused server does not say why: %s",
		    it_escape(log, strlen(log)));
	free(log);
	c = it_connect(root, "c");
	it_login(c, "anonymous", NULL);
	it_send_activity(c, "{\"x\":1}");
	it_expect(c, "ACTIVITY_BROADCAST");
}

/* -rh without any secret is a configuration error. */
static void
seed__join_without_secret__exits_nonzero_with_message(void **state)
{
	struct it_server	*root, *bad;
	char			*log;

	(void)state;
	root = it_root("root");
	{
		const char	*argv[] = { "-lh", "localhost", "-lp",
				    "@PORT", "-rh", "localhost", "-rp",
				    root->port_str, NULL };

		bad = it_spawn("bad", argv, 0);
	}
	assert_int_not_equal(exit_status(bad), 0);
	log = it_server_log(bad);
	if (strstr(log, "secret") == NULL)
		it_fail("no word of the missing secret: %s",
		    it_escape(log, strlen(log)));
	free(log);
}

/*
 * A secret file that group or others can read is refused with the fix
 * in the message; the same file made private lets the server join.
 */
static void
secret__file_readable_by_others__refused_then_private_joins(void **state)
{
	struct it_server	*root, *s;
	char			*dir, path[4200], *log;
	FILE			*f;

	(void)state;
	root = it_root("root");
	dir = it_mkdtemp("secret");
	snprintf(path, sizeof path, "%s/secret", dir);
	if ((f = fopen(path, "w")) == NULL)
		it_fail("cannot create %s", path);
	fprintf(f, "%s\n", IT_SECRET);
	fclose(f);
	assert_int_equal(chmod(path, 0644), 0);
	{
		const char	*argv[] = { "-lh", "localhost", "-lp",
				    "@PORT", "--secret-file", path, "-rh",
				    "localhost", "-rp", root->port_str, "-a",
				    "100", NULL };

		s = it_spawn("shared", argv, 0);
		assert_int_not_equal(exit_status(s), 0);
		log = it_server_log(s);
		if (strstr(log, "chmod 600") == NULL)
			it_fail("no fix named for a 0644 secret file: %s",
			    it_escape(log, strlen(log)));
		free(log);
		assert_int_equal(chmod(path, 0600), 0);
		s = it_spawn("private", argv, 1);
	}
	it_register(root, "fay", "fay-secret");
	it_login_eventually(s, "fay", "fay-secret");
}

/* ACTIVITY_SECRET carries the secret with nothing in argv. */
static void
secret__from_environment__joins_without_argv(void **state)
{
	struct it_server	*root, *s;

	(void)state;
	root = it_root("root");
	setenv("ACTIVITY_SECRET", IT_SECRET, 1);
	{
		const char	*argv[] = { "-lh", "localhost", "-lp",
				    "@PORT", "-rh", "localhost", "-rp",
				    root->port_str, "-a", "100", NULL };

		s = it_spawn("env", argv, 1);
	}
	unsetenv("ACTIVITY_SECRET");
	it_register(root, "gil", "gil-secret");
	it_login_eventually(s, "gil", "gil-secret");
}

/* --help prints usage with every seed flag and exits 0. */
static void
cli__help__usage_on_stdout_exit_zero(void **state)
{
	const char		*argv[] = { "--help", NULL };
	struct it_server	*s;
	char			*out;
	const char		*flags[] = { "-lh", "-lp", "-rh", "-rp", "-s",
				    "-a", "--data-dir", "--max-message",
				    "--auth-timeout", NULL };
	int			 i;

	(void)state;
	s = it_spawn("help", argv, 0);
	assert_int_equal(exit_status(s), 0);
	out = it_server_stdout(s);
	assert_non_null(strstr(out, "usage"));
	for (i = 0; flags[i] != NULL; i++)
		if (strstr(out, flags[i]) == NULL)
			it_fail("--help does not mention %s", flags[i]);
	free(out);
}

/* An unknown flag or a bad value: exit nonzero, nothing started. */
static void
cli__bad_arguments__exit_nonzero(void **state)
{
	const char		*argv1[] = { "--no-such-flag", NULL };
	const char		*argv2[] = { "-lp", "notaport", NULL };
	const char		*argv3[] = { "-a", "-5", NULL };

	(void)state;
	assert_int_not_equal(exit_status(it_spawn("bad1", argv1, 0)), 0);
	assert_int_not_equal(exit_status(it_spawn("bad2", argv2, 0)), 0);
	assert_int_not_equal(exit_status(it_spawn("bad3", argv3, 0)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    seed__start_commands_verbatim__servers_form_a_cluster,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    seed__root_without_secret__prints_secret_that_lets_a_server_join,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    seed__join_with_wrong_secret__exits_nonzero_with_message,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    seed__join_without_secret__exits_nonzero_with_message,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    secret__file_readable_by_others__refused_then_private_joins,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    secret__from_environment__joins_without_argv,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    cli__help__usage_on_stdout_exit_zero,
		    it_setup, it_teardown),
		cmocka_unit_test_setup_teardown(
		    cli__bad_arguments__exit_nonzero,
		    it_setup, it_teardown),
	};

	return it_run_tests("integration: start", tests);
}
