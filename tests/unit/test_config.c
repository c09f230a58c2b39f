/*
 * config.c: the config file turned into command-line words, with the
 * keys taken from an option table, and its errors by file and line;
 * monitor.c's HOST:PORT parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server.h"

static const struct option opts[] = {
	{ "listen-port", required_argument, NULL, 1 },
	{ "secret", required_argument, NULL, 2 },
	{ "verbose", no_argument, NULL, 3 },
	{ "quiet", no_argument, NULL, 4 },
	{ "config", required_argument, NULL, 5 },
	{ "help", no_argument, NULL, 6 },
	{ NULL, 0, NULL, 0 },
};

/* Write text to a fresh file; returns its path (static). */
static const char *
conf(const char *text)
{
	static char	 path[64];
	FILE		*f;
	int		 fd;

	snprintf(path, sizeof path, "/tmp/test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd != -1);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Read text; 0 and the words in cf, or -1 and the error in err. */
static int
read_conf(const char *text, struct config_file *cf, char *err, size_t len)
{
	const char	*path = conf(text);
	int		 rc;

	rc = config_file_read(cf, path, opts, err, len);
	unlink(path);
	return rc;
}

static void
config_file_read__keys_comments_quotes__words_with_lines(void **state)
{
	struct config_file	 cf;
	char			 err[256];

	(void)state;
	assert_int_equal(read_conf(
	    "# a comment\n"
	    "\n"
	    "listen-port = 8001   # trailing comment\n"
	    "  secret=\"a # b \"\t# quoted: kept as is\n"
	    "verbose\n"
	    "quiet = no\n"
	    "secret = x#y\r\n"
	    "listen-port = 8002\n", &cf, err, sizeof err), 0);
	assert_int_equal(cf.argc, 6);
	assert_string_equal(cf.argv[0], "activity-server");
	assert_string_equal(cf.argv[1], "--listen-port=8001");
	assert_int_equal(cf.line[1], 3);
	assert_string_equal(cf.argv[2], "--secret=a # b ");
	assert_int_equal(cf.line[2], 4);
	assert_string_equal(cf.argv[3], "--verbose");
	assert_int_equal(cf.line[3], 5);
	assert_string_equal(cf.argv[4], "--secret=x#y");
	assert_int_equal(cf.line[4], 7);
	/* Later lines come later: the parser lets them win. */
	assert_string_equal(cf.argv[5], "--listen-port=8002");
	assert_int_equal(cf.line[5], 8);
	assert_null(cf.argv[6]);
	config_file_free(&cf);
}

static void
config_file_read__errors__name_file_and_line(void **state)
{
	static const struct {
		const char	*text;
		const char	*want;
	} bad[] = {
		{ "listen-port = 1\nnope = 2\n", ":2: unknown key 'nope'" },
		{ "\n\nlisten-port 8001\n", ":3: expected 'listen-port = "
		    "value'" },
		{ "verbose = maybe\n", ":1: invalid value 'maybe' for "
		    "verbose" },
		{ "verbose yes\n", ":1: expected 'verbose' or" },
		{ "secret = \"open\n", ":1: a quoted value without" },
		{ "secret = \"a\" b\n", ":1: text after the closing quote" },
		{ "config = x\n", ":1: 'config' is for the command line" },
		{ "help\n", ":1: 'help' is for the command line" },
	};
	struct config_file	 cf;
	char			 err[256];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(read_conf(bad[i].text, &cf, err, sizeof err),
		    -1);
		if (strstr(err, bad[i].want) == NULL ||
		    strstr(err, "/tmp/test-config-") != err)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    bad[i].want);
		assert_null(cf.argv);
	}
}

static void
config_file_read__long_line_or_missing_file__refused(void **state)
{
	struct config_file	 cf;
	char			 err[256], *text;

	(void)state;
	text = malloc(CONFIG_LINE_MAX + 64);
	assert_non_null(text);
	memset(text, 'a', CONFIG_LINE_MAX + 10);
	memcpy(text, "secret = ", 9);
	strcpy(text + CONFIG_LINE_MAX + 10, "\n");
	assert_int_equal(read_conf(text, &cf, err, sizeof err), -1);
	assert_non_null(strstr(err, ":1: line too long"));
	free(text);
	assert_int_equal(config_file_read(&cf, "/nonexistent/x.conf", opts,
	    err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent/x.conf: "));
}

static void
monitor_parse__forms__host_and_port(void **state)
{
	char	 host[64];
	int	 port;

	(void)state;
	assert_int_equal(monitor_parse("9100", host, sizeof host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9100);
	assert_int_equal(monitor_parse("0.0.0.0:80", host, sizeof host,
	    &port), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(port, 80);
	assert_int_equal(monitor_parse("[::1]:9100", host, sizeof host,
	    &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(monitor_parse("localhost:1", NULL, 0, NULL), 0);
	assert_int_equal(monitor_parse("", NULL, 0, NULL), -1);
	assert_int_equal(monitor_parse(":9100", NULL, 0, NULL), -1);
	assert_int_equal(monitor_parse("host:", NULL, 0, NULL), -1);
	assert_int_equal(monitor_parse("host:0", NULL, 0, NULL), -1);
	assert_int_equal(monitor_parse("host:65536", NULL, 0, NULL), -1);
	assert_int_equal(monitor_parse("::1:9100", NULL, 0, NULL), -1);
	assert_int_equal(monitor_parse("a:b", NULL, 0, NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    config_file_read__keys_comments_quotes__words_with_lines),
		cmocka_unit_test(config_file_read__errors__name_file_and_line),
		cmocka_unit_test(config_file_read__long_line_or_missing_file__refused),
		cmocka_unit_test(monitor_parse__forms__host_and_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
