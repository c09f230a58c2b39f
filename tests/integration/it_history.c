/*
 * The history log: activities delivered are kept in segment files under
 * --data-dir, survive kill -9 (a torn tail is cut), and are bounded by
 * --history-max, --history-bytes and --history-age.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define HIST_SEGS_MAX	4096

static int
name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * Every segment of dir's history, oldest first, concatenated; *nsegs
 * says how many files there were, *last their newest's path.
 */
static char *
history_text(const char *dir, int *nsegs, char *last, size_t lastlen)
{
	char		 path[4200], *names[HIST_SEGS_MAX], *text, *buf;
	size_t		 len = 0, n;
	DIR		*d;
	struct dirent	*e;
	FILE		*f;
	int		 i, k = 0;

	snprintf(path, sizeof path, "%s/history", dir);
	if ((d = opendir(path)) == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL && k < HIST_SEGS_MAX)
		if (strstr(e->d_name, ".seg") != NULL)
			names[k++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)k, sizeof *names, name_cmp);
	text = calloc(1, 1);
	for (i = 0; i < k; i++) {
		snprintf(path, sizeof path, "%s/history/%s", dir, names[i]);
		if (last != NULL && i == k - 1)
			snprintf(last, lastlen, "%s", path);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		n = (size_t)ftell(f);
		rewind(f);
		buf = malloc(n + 1);
		n = fread(buf, 1, n, f);
		fclose(f);
		text = realloc(text, len + n + 1);
		memcpy(text + len, buf, n);
		len += n;
		text[len] = '\0';
		free(buf);
		free(names[i]);
	}
	if (nsegs != NULL)
		*nsegs = k;
	return text;
}

/* Records in the text: lines, each checked to be "<ms> {...}". */
static int
count_records(const char *text)
{
	const char	*p = text, *nl;
	int		 n = 0;

	while ((nl = strchr(p, '\n')) != NULL) {
		if (*p < '0' || *p > '9' || strchr(p, ' ') == NULL ||
		    strchr(p, ' ')[1] != '{' || nl[-1] != '}')
			it_fail("not a history record: %s",
			    it_escape(p, (size_t)(nl - p)));
		n++;
		p = nl + 1;
	}
	if (*p != '\0')
		it_fail("the history ends in a fragment: %s",
		    it_escape(p, strlen(p)));
	return n;
}

/* Does the history hold the activity marked it_seq k? */
static int
has_seq(const char *text, int k)
{
	char	 needle[64];

	snprintf(needle, sizeof needle, "\"it_seq\":%d}", k);
	return strstr(text, needle) != NULL;
}

/* Wait until dir's history holds exactly n records, or fail. */
static char *
wait_records(const char *dir, int n)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)it_timeout();
	char		*text;
	int		 got = -1;

	for (;;) {
		text = history_text(dir, NULL, NULL, 0);
		if (text != NULL && (got = count_records(text)) == n)
			return text;
		free(text);
		if (it_now_ms() > deadline)
			it_fail("history of %s: %d records, wanted %d", dir,
			    got, n);
		usleep(10000);
	}
}

/* Send activities it_seq from..to, each seen back before the next. */
static void
send_seqs(struct it_client *c, int from, int to, const char *pad)
{
	char	 act[8192];
	int	 k;

	for (k = from; k <= to; k++) {
		snprintf(act, sizeof act, "{\"pad\":\"%s\",\"it_seq\":%d}",
		    pad, k);
		it_send_activity(c, act);
		it_expect(c, "ACTIVITY_BROADCAST");
	}
}

/*
 * Activities sent, the server killed with -9 and a torn record left at
 * the end of its segment: the restarted server reports and cuts it,
 * keeps every activity, and appends after them.
 */
static void
history__kill9_torn_tail__intact_after_restart(void **state)
{
	struct it_server	*a;
	struct it_client	*c;
	char			*dir, *text, last[4200];
	int			 fd, k;
	const char		 torn[] = "1700000000000 {\"command\":\"ACTIV";

	(void)state;
	dir = it_mkdtemp("data");
	a = it_root("A", "--data-dir", dir);
	c = it_connect(a, "c");
	it_login(c, "anonymous", NULL);
	send_seqs(c, 1, 40, "x");
	free(wait_records(dir, 40));
	it_server_kill9(a);

	free(history_text(dir, NULL, last, sizeof last));
	if ((fd = open(last, O_WRONLY | O_APPEND)) == -1)
		it_fail("open %s: %s", last, strerror(errno));
	assert_int_equal(write(fd, torn, sizeof torn - 1),
	    (ssize_t)sizeof torn - 1);
	close(fd);

	a = it_root("A2", "--data-dir", dir);
	it_wait_log(a, "history: 40 activities");
	if (it_log_count(a, "cut a torn") != 1)
		it_fail("the torn tail was not reported once");
	c = it_connect(a, "c2");
	it_login(c, "anonymous", NULL);
	send_seqs(c, 41, 41, "y");
	text = wait_records(dir, 41);
	for (k = 1; k <= 41; k++)
		if (!has_seq(text, k))
			it_fail("it_seq %d is missing from the history", k);
	if (strstr(text, "ACTIV\n") != NULL || strstr(text, "\"y\"") == NULL)
		it_fail("the torn tail was not cut before the next record");
	free(text);
	it_server_kill9(a);
	a = it_root("A3", "--data-dir", dir);
	it_wait_log(a, "history: 41 activities");
}

/*
 * --history-max 8: whole segments go, oldest first; the newest eight
 * stay.
 */
static void
history__max_count__oldest_segments_deleted(void **state)
{
	struct it_server	*a;
	struct it_client	*c;
	char			*dir, *text;
	int			 k, n;

	(void)state;
	dir = it_mkdtemp("data");
	a = it_root("A", "--data-dir", dir, "--history-max", "8");
	c = it_connect(a, "c");
	it_login(c, "anonymous", NULL);
	send_seqs(c, 1, 30, "x");
	text = wait_records(dir, 8);
	n = count_records(text);
	for (k = 1; k <= 30; k++)
		if (has_seq(text, k) != (k > 30 - n))
			it_fail("it_seq %d %s the history of %d", k,
			    k > 30 - n ? "is missing from" : "is still in", n);
	free(text);
}

/* --history-bytes: the files together stay within the bound. */
static void
history__max_bytes__files_within_bound(void **state)
{
	struct it_server	*a;
	struct it_client	*c;
	char			*dir, *text, pad[1025];
	uint64_t		 deadline;
	size_t			 len;

	(void)state;
	memset(pad, 'p', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	dir = it_mkdtemp("data");
	a = it_root("A", "--data-dir", dir, "--history-bytes", "65536");
	c = it_connect(a, "c");
	it_login(c, "anonymous", NULL);
	send_seqs(c, 1, 150, pad);
	deadline = it_now_ms() + (uint64_t)it_timeout();
	for (;;) {
		text = history_text(dir, NULL, NULL, 0);
		len = strlen(text);
		if (has_seq(text, 150))
			break;
		free(text);
		if (it_now_ms() > deadline)
			it_fail("the newest activity never reached the history");
		usleep(10000);
	}
	count_records(text);
	if (len > 65536 || len < 65536 / 2 || has_seq(text, 1))
		it_fail("history of %zu bytes with --history-bytes 65536 "
		    "(the first activity %s)", len,
		    has_seq(text, 1) ? "kept" : "gone");
	free(text);
}

/* --history-age 1: a second later the records are gone by themselves. */
static void
history__age__old_records_deleted(void **state)
{
	struct it_server	*a;
	struct it_client	*c;
	char			*dir;

	(void)state;
	dir = it_mkdtemp("data");
	a = it_root("A", "--data-dir", dir, "--history-age", "1",
	    "--history-max", "8");
	c = it_connect(a, "c");
	it_login(c, "anonymous", NULL);
	send_seqs(c, 1, 3, "x");
	free(wait_records(dir, 3));
	free(wait_records(dir, 0));
}

/* --history-max 0 or --data-dir none: no history at all. */
static void
history__off__nothing_kept(void **state)
{
	struct it_server	*a, *b;
	struct it_client	*c;
	char			*dir, path[4200];
	struct stat		 st;

	(void)state;
	dir = it_mkdtemp("data");
	a = it_root("A", "--data-dir", dir, "--history-max", "0");
	b = it_root("B");
	c = it_connect(a, "c");
	it_login(c, "anonymous", NULL);
	send_seqs(c, 1, 3, "x");
	snprintf(path, sizeof path, "%s/history", dir);
	if (stat(path, &st) == 0)
		it_fail("--history-max 0 made %s", path);
	if (it_log_count(a, "history:") != 0 || it_log_count(b, "history:"))
		it_fail("a server without history logged one");
}

#define T(f)	cmocka_unit_test_setup_teardown(f, it_setup, it_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(history__kill9_torn_tail__intact_after_restart),
		T(history__max_count__oldest_segments_deleted),
		T(history__max_bytes__files_within_bound),
		T(history__age__old_records_deleted),
		T(history__off__nothing_kept),
	};

	return it_run_tests("integration: history", tests);
}
