/*
 * The durable registry: --data-dir keeps a journal that survives
 * kill -9, including a torn last line, and registrations made at other
 * servers of the cluster.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct it_server *
durable(const char *name, const char *dir)
{
	return it_root(name, "--data-dir", dir);
}

static void
append(const char *dir, const char *text)
{
	char	 path[4200];
	int	 fd;
	ssize_t	 n;

	snprintf(path, sizeof path, "%s/users.journal", dir);
	if ((fd = open(path, O_WRONLY | O_APPEND)) == -1)
		it_fail("open %s: %s", path, strerror(errno));
	n = write(fd, text, strlen(text));
	assert_int_equal(n, (ssize_t)strlen(text));
	close(fd);
}

/*
 * Users registered, then kill -9 right after the last REGISTER_SUCCESS:
 * a server restarted on the same directory knows them all.
 */
static void
journal__kill9_then_restart__registered_users_log_in(void **state)
{
	struct it_server	*a;
	char			*dir;

	(void)state;
	dir = it_mkdtemp("data");
	a = durable("A", dir);
	it_register(a, "kim", "kim-secret");
	it_register(a, "lee", "lee-secret");
	it_register(a, "u\xc3\xb1icode", "s\xc3\xa9" "cret \"quoted\"");
	it_server_kill9(a);

	a = durable("A2", dir);
	it_login(it_connect(a, "kim"), "kim", "kim-secret");
	it_login(it_connect(a, "lee"), "lee", "lee-secret");
	it_login(it_connect(a, "uni"), "u\xc3\xb1icode",
	    "s\xc3\xa9" "cret \"quoted\"");
	it_login_fail(it_connect(a, "wrong"), "kim", "lee-secret");
	/* Still registered: the name cannot be taken again. */
	{
		struct it_client *c = it_connect(a, "dup");

		it_sendf(c, "{\"command\":\"REGISTER\",\"username\":\"kim\","
		    "\"secret\":\"x\"}");
		it_expect_reply_close(c, "REGISTER_FAILED");
	}
}

/*
 * Half a JSON line at the end of the journal (a crash mid-write): the
 * server starts, the old users log in, and users registered after the
 * restart survive another kill -9 (the torn bytes did not corrupt the
 * next line).
 */
static void
journal__torn_tail__starts_and_old_users_log_in(void **state)
{
	struct it_server	*a;
	char			*dir;

	(void)state;
	dir = it_mkdtemp("data");
	a = durable("A", dir);
	it_register(a, "mia", "mia-secret");
	it_register(a, "ned", "ned-secret");
	it_server_kill9(a);
	append(dir, "{\"username\":\"torn\",\"secret\":\"to");

	a = durable("A2", dir);
	if (it_log_count(a, "torn") == 0)
		it_fail("the server did not report the torn journal line");
	it_login(it_connect(a, "mia"), "mia", "mia-secret");
	it_login(it_connect(a, "ned"), "ned", "ned-secret");
	it_login_fail(it_connect(a, "torn"), "torn", "to");
	it_register(a, "oli", "oli-secret");
	it_server_kill9(a);

	a = durable("A3", dir);
	it_login(it_connect(a, "mia"), "mia", "mia-secret");
	it_login(it_connect(a, "oli"), "oli", "oli-secret");
}

/*
 * A registration made at another server of the cluster is journalled
 * by the durable one too.
 */
static void
journal__user_registered_elsewhere__survives_restart(void **state)
{
	struct it_server	*a, *b;
	char			*dir;

	(void)state;
	dir = it_mkdtemp("data");
	a = durable("A", dir);
	b = it_child("B", a);
	it_register(b, "pat", "pat-secret");
	it_login_eventually(a, "pat", "pat-secret");
	it_server_kill9(a);
	it_server_kill9(b);

	a = durable("A2", dir);
	it_login(it_connect(a, "pat"), "pat", "pat-secret");
}

/* An unusable --data-dir is a start-up error, not a silent fallback. */
static void
journal__data_dir_is_a_file__exits_nonzero(void **state)
{
	struct it_server	*s;
	char			 path[4200];
	const char		*argv[] = { "-lh", "localhost", "-lp", "@PORT",
				    "-s", "x", "--data-dir", path, NULL };
	int			 fd, st;

	(void)state;
	snprintf(path, sizeof path, "%s/not-a-dir", it_tmpdir());
	if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) == -1)
		it_fail("create %s: %s", path, strerror(errno));
	close(fd);
	s = it_spawn("A", argv, 0);
	s->expect_dead = 1;
	st = it_server_wait_exit(s, it_timeout());
	if (st == -1)
		it_fail("server still running with --data-dir %s", path);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
}

/*
 * Regression: a server whose journal could not be written still
 * approved another server's registration, and then lacked the user.
 * With B's fdatasync failing (the fsync shim), a user registered at A
 * is kept by B (said at error level) and logs in there; once the disk
 * takes writes again B writes it, and B restarted alone on its data
 * directory knows the user, the journal holding whole lines only.
 */
static void
journal__full_disk_at_child__user_from_elsewhere_kept_then_written(
    void **state)
{
	struct it_server	*a, *b;
	char			*dir, fail[4200], path[4200], *text;
	FILE			*f;

	(void)state;
	dir = it_mkdtemp("data");
	snprintf(fail, sizeof fail, "%s/fail-b", it_tmpdir());
	unlink(fail);
	a = it_root("A");
	it_shim_begin();
	setenv("FSYNC_SHIM_FAIL", fail, 1);
	b = it_child("B", a, "--data-dir", dir);
	it_shim_end();

	if ((f = fopen(fail, "w")) == NULL)
		it_fail("create %s: %s", fail, strerror(errno));
	fclose(f);
	it_register(a, "ivy", "ivy-secret");
	it_wait_log(b, "error: user ivy");
	it_login_eventually(b, "ivy", "ivy-secret");
	unlink(fail);
	it_wait_log(b, "journal: wrote 1 user");
	it_server_kill9(b);
	it_server_kill9(a);

	snprintf(path, sizeof path, "%s/users.journal", dir);
	text = it_read_file(path, NULL);
	if (text == NULL || *text == '\0' || text[strlen(text) - 1] != '\n' ||
	    strstr(text, "\"ivy\"") == NULL)
		it_fail("B's journal: %s", text != NULL ?
		    it_escape(text, strlen(text)) : "unreadable");
	free(text);
	b = durable("B2", dir);
	it_login(it_connect(b, "ivy"), "ivy", "ivy-secret");
}

/*
 * Regression (issue: a journal write that failed half-way on a full
 * disk left a fragment; the next registration was appended to it,
 * answered REGISTER_SUCCESS, and gone after a restart: "line 8 is not a
 * valid entry, skipped").  With the disk full (the shim writes half a
 * line, then ENOSPC) a REGISTER is refused, not acknowledged; once
 * there is room the next one is, and after kill -9 and a restart every
 * acknowledged user logs in and the journal holds whole lines only.
 */
static void
journal__disk_full_mid_line__no_acknowledged_user_lost(void **state)
{
	struct it_server	*a;
	struct it_client	*c;
	char			*dir, full[4200], path[4200], *text, *l;
	FILE			*f;

	(void)state;
	dir = it_mkdtemp("data");
	snprintf(full, sizeof full, "%s/disk-full", it_tmpdir());
	unlink(full);
	it_shim_begin();
	setenv("FSYNC_SHIM_FULL", full, 1);
	a = durable("A", dir);
	it_shim_end();

	it_register(a, "before", "pw-before");
	if ((f = fopen(full, "w")) == NULL)
		it_fail("create %s: %s", full, strerror(errno));
	fclose(f);
	c = it_connect(a, "on-full-disk");
	it_sendf(c, "{\"command\":\"REGISTER\",\"username\":\"lost\","
	    "\"secret\":\"pw-lost\"}");
	it_expect_reply_close(c, "REGISTER_FAILED");
	it_wait_log(a, "No space left on device");
	unlink(full);
	it_register(a, "after", "pw-after");
	it_server_kill9(a);

	snprintf(path, sizeof path, "%s/users.journal", dir);
	text = it_read_file(path, NULL);
	if (text == NULL || *text == '\0' || text[strlen(text) - 1] != '\n')
		it_fail("the journal does not end with a whole line: %s",
		    text != NULL ? it_escape(text, strlen(text)) : "unreadable");
	for (l = text; *l != '\0'; l = strchr(l, '\n') + 1)
		if (*l != '{')
			it_fail("a fragment in the journal: %s",
			    it_escape(text, strlen(text)));
	if (strstr(text, "\"lost\"") != NULL)
		it_fail("the refused registration is in the journal");
	free(text);
	a = durable("A2", dir);
	it_login(it_connect(a, "before"), "before", "pw-before");
	it_login(it_connect(a, "after"), "after", "pw-after");
	it_login_fail(it_connect(a, "lost"), "lost", "pw-lost");
	if (it_log_count(a, "not a valid entry") != 0)
		it_fail("the restarted server skipped a line of the journal");
}

/*
 * A journal created at start is durable as a name too: the data
 * directory is fsynced after the file is made (the fsync shim logs
 * each call with the path it was given).  An existing journal that
 * others can read is refused, saying how to fix it.
 */
static void
journal__created__directory_synced_and_private(void **state)
{
	struct it_server	*a;
	char			*dir, log[4200], real[4096], want[4200], *text;
	char			 path[4200];
	const char		*argv[] = { "-lh", "localhost", "-lp", "@PORT",
				    "-s", IT_SECRET, "--data-dir", NULL, NULL };
	int			 st;

	(void)state;
	dir = it_mkdtemp("data");
	snprintf(log, sizeof log, "%s/fsync-dir.log", it_tmpdir());
	unlink(log);
	it_shim_begin();
	setenv("FSYNC_SHIM_LOG", log, 1);
	a = durable("A", dir);
	it_shim_end();
	if (realpath(dir, real) == NULL)
		it_fail("realpath %s: %s", dir, strerror(errno));
	snprintf(want, sizeof want, "fsync %s\n", real);
	text = it_read_file(log, NULL);
	if (text == NULL || strstr(text, want) == NULL)
		it_fail("no fsync of %s after creating the journal: %s", real,
		    text != NULL ? it_escape(text, strlen(text)) : "no log");
	free(text);
	a->expect_dead = 1;
	it_server_stop(a);

	snprintf(path, sizeof path, "%s/users.journal", dir);
	if (chmod(path, 0644) != 0)
		it_fail("chmod %s: %s", path, strerror(errno));
	argv[7] = dir;
	a = it_spawn("A2", argv, 0);
	a->expect_dead = 1;
	st = it_server_wait_exit(a, it_timeout());
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 0)
		it_fail("a journal others can read was used");
	text = it_server_log(a);
	if (strstr(text, "chmod 600") == NULL)
		it_fail("no fix named: %s", it_escape(text, strlen(text)));
	free(text);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, it_setup, it_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(journal__kill9_then_restart__registered_users_log_in),
		T(journal__torn_tail__starts_and_old_users_log_in),
		T(journal__user_registered_elsewhere__survives_restart),
		T(journal__data_dir_is_a_file__exits_nonzero),
		T(journal__full_disk_at_child__user_from_elsewhere_kept_then_written),
		T(journal__disk_full_mid_line__no_acknowledged_user_lost),
		T(journal__created__directory_synced_and_private),
	};

	return it_run_tests("integration: journal", tests);
}
