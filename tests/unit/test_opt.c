/*
 * opt.c and secret.c: option values with ranges, secret files, and the
 * secret helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "opt.h"
#include "secret.h"

static void
opt_long__in_range__parsed(void **state)
{
	long	 v;

	(void)state;
	assert_int_equal(opt_long("8000", 1, 65535, &v), 0);
	assert_int_equal(v, 8000);
	assert_int_equal(opt_long("1", 1, 65535, &v), 0);
	assert_int_equal(opt_long("65535", 1, 65535, &v), 0);
	assert_int_equal(opt_long("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
}

static void
opt_long__bad_or_out_of_range__refused(void **state)
{
	static const char *const bad[] = {
		"", "0", "65536", "abc", "80x", "8000 ", "1e3", "0x10",
		"99999999999999999999999", "-1", NULL,
	};
	const char *const *s;
	long		 v;

	(void)state;
	assert_int_equal(opt_long(NULL, 1, 65535, &v), -1);
	for (s = bad; *s != NULL; s++)
		if (opt_long(*s, 1, 65535, &v) == 0)
			fail_msg("accepted \"%s\"", *s);
}

static void
opt_size__suffixes__powers_of_1024(void **state)
{
	size_t	 v;

	(void)state;
	assert_int_equal(opt_size("65536", 1, (size_t)1 << 40, &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(opt_size("512K", 1, (size_t)1 << 40, &v), 0);
	assert_int_equal(v, 512 * 1024);
	assert_int_equal(opt_size("1m", 1, (size_t)1 << 40, &v), 0);
	assert_int_equal(v, 1024 * 1024);
	assert_int_equal(opt_size("2G", 1, (size_t)1 << 40, &v), 0);
	assert_true(v == (size_t)2 << 30);
}

static void
opt_size__bad_or_out_of_range__refused(void **state)
{
	static const char *const bad[] = {
		"", "-1", "1T", "1KB", "K", "1.5M", "12 ", "0", "65M", NULL,
	};
	const char *const *s;
	size_t		 v;

	(void)state;
	for (s = bad; *s != NULL; s++)
		if (opt_size(*s, 1, (size_t)64 << 20, &v) == 0)
			fail_msg("accepted \"%s\"", *s);
}

static void
opt_size__suffix_overflow__refused(void **state)
{
	size_t	 v = 0;

	(void)state;
	/* 2^34 + 1 gibibytes wraps to 1 GiB in 64 bits: too big, not 1G. */
	if (opt_size("17179869185G", 1, (size_t)1 << 34, &v) == 0)
		fail_msg("accepted an overflowing size as %zu bytes", v);
	if (opt_size("18014398509481985K", 1, (size_t)1 << 34, &v) == 0)
		fail_msg("accepted an overflowing size as %zu bytes", v);
}

static void
opt_read_secret_file__first_line__without_newline(void **state)
{
	char	 path[] = "/tmp/test_opt.XXXXXX", buf[64];
	int	 fd;

	(void)state;
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, "s3cret\r\nsecond\n", 15), 15);
	close(fd);
	assert_int_equal(opt_read_secret_file(path, buf, sizeof buf), 0);
	assert_string_equal(buf, "s3cret");
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "\nx\n", 3), 3);
	close(fd);
	assert_int_equal(opt_read_secret_file(path, buf, sizeof buf), -1);
	unlink(path);
	assert_int_equal(opt_read_secret_file(path, buf, sizeof buf), -1);
}

/* Write data to a fresh file with the given mode; its path in path. */
static void
secret_file_make(char *path, const char *data, size_t len, mode_t mode)
{
	int	 fd;

	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
secret_read_file__group_or_other_access__refused_with_fix(void **state)
{
	char	 path[] = "/tmp/test_opt.XXXXXX", buf[64], err[256];
	mode_t	 modes[] = { 0644, 0640, 0604, 0620, 0602 };
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		snprintf(path, sizeof path, "/tmp/test_opt.XXXXXX");
		secret_file_make(path, "s3cret\n", 7, modes[i]);
		err[0] = '\0';
		assert_int_equal(secret_read_file(path, buf, sizeof buf, err,
		    sizeof err), -1);
		if (strstr(err, "chmod 600") == NULL)
			fail_msg("mode %04o: no fix in '%s'",
			    (unsigned)modes[i], err);
		assert_int_equal(opt_read_secret_file(path, buf, sizeof buf),
		    -1);
		unlink(path);
	}
	snprintf(path, sizeof path, "/tmp/test_opt.XXXXXX");
	secret_file_make(path, "s3cret\n", 7, 0400);
	assert_int_equal(secret_read_file(path, buf, sizeof buf, err,
	    sizeof err), 0);
	assert_string_equal(buf, "s3cret");
	unlink(path);
}

static void
secret_read_file__line_over_max__error_not_cut(void **state)
{
	char	 path[] = "/tmp/test_opt.XXXXXX", buf[16], err[256];
	char	 line[300];

	(void)state;
	/* 15 characters fit a 16-byte buffer, with or without a newline. */
	memset(line, 'a', sizeof line);
	secret_file_make(path, line, 15, 0600);
	assert_int_equal(secret_read_file(path, buf, sizeof buf, err,
	    sizeof err), 0);
	assert_int_equal(strlen(buf), 15);
	unlink(path);
	snprintf(path, sizeof path, "/tmp/test_opt.XXXXXX");
	memcpy(line + 15, "\nmore", 5);
	secret_file_make(path, line, 20, 0600);
	assert_int_equal(secret_read_file(path, buf, sizeof buf, err,
	    sizeof err), 0);
	assert_int_equal(strlen(buf), 15);
	unlink(path);
	/* 16 characters do not: an error, not the first 15. */
	snprintf(path, sizeof path, "/tmp/test_opt.XXXXXX");
	memset(line, 'a', sizeof line);
	secret_file_make(path, line, 16, 0600);
	assert_int_equal(secret_read_file(path, buf, sizeof buf, err,
	    sizeof err), -1);
	if (strstr(err, "longer than 15") == NULL)
		fail_msg("unclear error: '%s'", err);
	unlink(path);
	snprintf(path, sizeof path, "/tmp/test_opt.XXXXXX");
	secret_file_make(path, line, 300, 0600);
	assert_int_equal(opt_read_secret_file(path, buf, sizeof buf), -1);
	unlink(path);
	/* A NUL would cut the secret short too. */
	snprintf(path, sizeof path, "/tmp/test_opt.XXXXXX");
	secret_file_make(path, "ab\0cd\n", 6, 0600);
	assert_int_equal(secret_read_file(path, buf, sizeof buf, err,
	    sizeof err), -1);
	unlink(path);
}

static void
secret_equal__cases__exact_match_only(void **state)
{
	(void)state;
	assert_true(secret_equal("abc", "abc"));
	assert_true(secret_equal("", ""));
	assert_false(secret_equal("abc", "abd"));
	assert_false(secret_equal("abc", "ab"));
	assert_false(secret_equal("abc", "abcd"));
	assert_false(secret_equal("abc", ""));
	assert_false(secret_equal("", "a"));
	assert_false(secret_equal("abc", "ABC"));
}

static void
secret_generate__length_and_alphabet__as_asked(void **state)
{
	char	 a[27], b[27];
	size_t	 i;

	(void)state;
	assert_int_equal(secret_generate(a, sizeof a), 0);
	assert_int_equal(secret_generate(b, sizeof b), 0);
	assert_int_equal(strlen(a), 26);
	assert_string_not_equal(a, b);
	for (i = 0; i < strlen(a); i++)
		assert_non_null(strchr("abcdefghijkmnpqrstuvwxyz23456789",
		    a[i]));
	assert_int_equal(secret_generate(a, 1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(opt_long__in_range__parsed),
		cmocka_unit_test(opt_long__bad_or_out_of_range__refused),
		cmocka_unit_test(opt_size__suffixes__powers_of_1024),
		cmocka_unit_test(opt_size__bad_or_out_of_range__refused),
		cmocka_unit_test(opt_size__suffix_overflow__refused),
		cmocka_unit_test(
		    opt_read_secret_file__first_line__without_newline),
		cmocka_unit_test(
		    secret_read_file__group_or_other_access__refused_with_fix),
		cmocka_unit_test(
		    secret_read_file__line_over_max__error_not_cut),
		cmocka_unit_test(secret_equal__cases__exact_match_only),
		cmocka_unit_test(
		    secret_generate__length_and_alphabet__as_asked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
