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
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "relay.h"

#define HB_FAST	"--heartbeat", "100", "--heartbeat-timeout", "500"

#define HIST_SEGS_MAX	4096

struct page {
	int	 seq[1100];
	char	 first_mid[256];
	char	 last_mid[256];
	double	 time[1100];
	int	 n;
	int	 count;
	int	 more;
	char	 info[256];
	size_t	 longest;
};
static struct it_client *reader(struct it_server *, const char *, int);
static void	read_page(struct it_client *, struct page *);
static void	expect_seqs(struct page *, int, int, int);

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
	struct page		 pg;
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
	/* Read back from disk, the records are found by their ids. */
	c = reader(a, "r", 1);
	it_sendf(c, "{\"command\":\"HISTORY\",\"limit\":2}");
	read_page(c, &pg);
	expect_seqs(&pg, 40, 41, 1);
	it_sendf(c, "{\"command\":\"HISTORY\",\"limit\":2,\"before\":\"%s\"}",
	    pg.first_mid);
	read_page(c, &pg);
	expect_seqs(&pg, 38, 39, 1);
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

/* LOGIN as anonymous asking for features; the reply must grant "history" iff want. */
static struct it_client *
reader(struct it_server *s, const char *name, int want)
{
	struct it_client	*c = it_connect(s, name);
	cJSON			*m, *f, *e;
	int			 has = 0;

	it_sendf(c, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"secret\":null,\"features\":[\"history\",\"activity_seq\"]}");
	m = it_expect(c, "LOGIN_SUCCESS");
	f = cJSON_GetObjectItemCaseSensitive(m, "features");
	cJSON_ArrayForEach(e, f)
		if (cJSON_IsString(e) && strcmp(e->valuestring, "history") == 0)
			has = 1;
	if (has != want)
		it_fail("LOGIN_SUCCESS %s \"history\"", has ? "granted" :
		    "did not grant");
	return c;
}

/* Read one page: HISTORY_ACTIVITY lines, then HISTORY_END. */
static void
read_page(struct it_client *c, struct page *pg)
{
	cJSON	*m, *act, *k, *mid, *t;

	memset(pg, 0, sizeof *pg);
	for (;;) {
		if (it_read_line(c, it_timeout()) != IT_READ_LINE)
			it_fail("no HISTORY_END after %d activities", pg->n);
		m = cJSON_ParseWithLength(c->line, c->line_len);
		k = cJSON_GetObjectItemCaseSensitive(m, "command");
		if (!cJSON_IsString(k))
			it_fail("not a message: %s", it_escape(c->line,
			    c->line_len));
		if (c->line_len > pg->longest)
			pg->longest = c->line_len;
		if (strcmp(k->valuestring, "HISTORY_END") == 0) {
			pg->count = cJSON_GetObjectItemCaseSensitive(m,
			    "count")->valueint;
			pg->more = cJSON_IsTrue(
			    cJSON_GetObjectItemCaseSensitive(m, "more"));
			k = cJSON_GetObjectItemCaseSensitive(m, "info");
			if (cJSON_IsString(k))
				snprintf(pg->info, sizeof pg->info, "%s",
				    k->valuestring);
			cJSON_Delete(m);
			if (pg->count != pg->n)
				it_fail("HISTORY_END says %d, %d came",
				    pg->count, pg->n);
			return;
		}
		if (strcmp(k->valuestring, "HISTORY_ACTIVITY") != 0)
			it_fail("in a page: %s", it_escape(c->line,
			    c->line_len));
		act = cJSON_GetObjectItemCaseSensitive(m, "activity");
		mid = cJSON_GetObjectItemCaseSensitive(m, "mid");
		t = cJSON_GetObjectItemCaseSensitive(m, "time");
		k = cJSON_GetObjectItemCaseSensitive(act, "it_seq");
		if (!cJSON_IsNumber(k) || !cJSON_IsString(mid) ||
		    !cJSON_IsNumber(t) || pg->n == 1100 ||
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(act,
		    "authenticated_user")) ||
		    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(m,
		    "activity_seq")))
			it_fail("a bad HISTORY_ACTIVITY: %s",
			    it_escape(c->line, c->line_len));
		if (pg->n == 0)
			snprintf(pg->first_mid, sizeof pg->first_mid, "%s",
			    mid->valuestring);
		snprintf(pg->last_mid, sizeof pg->last_mid, "%s",
		    mid->valuestring);
		pg->time[pg->n] = t->valuedouble;
		pg->seq[pg->n++] = k->valueint;
		cJSON_Delete(m);
	}
}

/* The page holds it_seq from..to in order, nothing else. */
static void
expect_seqs(struct page *pg, int from, int to, int more)
{
	int	 i;

	if (pg->n != to - from + 1 || pg->more != more)
		it_fail("a page of %d (more %d), wanted %d..%d (more %d)",
		    pg->n, pg->more, from, to, more);
	for (i = 0; i < pg->n; i++)
		if (pg->seq[i] != from + i)
			it_fail("page entry %d is it_seq %d, wanted %d", i,
			    pg->seq[i], from + i);
}

static uint64_t
wall_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Each request form: the latest page, before and after an activity,
 * before and after a time, an unknown activity; the live boundary:
 * what arrived live after login is never in a page.
 */
static void
history__pages__each_form_and_no_overlap_with_live(void **state)
{
	struct it_server	*a;
	struct it_client	*w, *r;
	struct page		 pg;
	char			*dir, mid5[256], mid30[256];
	uint64_t		 t;

	(void)state;
	dir = it_mkdtemp("data");
	a = it_root("A", "--data-dir", dir);
	w = it_connect(a, "w");
	it_login(w, "anonymous", NULL);
	send_seqs(w, 1, 20, "x");
	/* A time between it_seq 20 and 21 on the server's clock. */
	t = wall_now() + 2;
	while (wall_now() < t + 2)
		;
	send_seqs(w, 21, 30, "x");

	r = reader(a, "r", 1);
	send_seqs(w, 31, 31, "live");
	it_expect(r, "ACTIVITY_BROADCAST");

	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":10}");
	read_page(r, &pg);
	expect_seqs(&pg, 21, 30, 1);
	snprintf(mid30, sizeof mid30, "%s", pg.last_mid);

	it_sendf(r, "{\"command\":\"HISTORY\",\"before\":\"%s\"}",
	    pg.first_mid);
	read_page(r, &pg);
	expect_seqs(&pg, 1, 20, 0);
	snprintf(mid5, sizeof mid5, "%s", "");
	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":3,\"before\":\"%s\"}",
	    mid30);
	read_page(r, &pg);
	expect_seqs(&pg, 27, 29, 1);

	it_sendf(r, "{\"command\":\"HISTORY\"}");
	read_page(r, &pg);
	expect_seqs(&pg, 1, 30, 0);
	/* The live one is not history for this client. */
	it_sendf(r, "{\"command\":\"HISTORY\",\"after\":\"%s\"}", mid30);
	read_page(r, &pg);
	expect_seqs(&pg, 1, 0, 0);

	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":1}");
	read_page(r, &pg);
	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":1}");
	read_page(r, &pg);
	expect_seqs(&pg, 30, 30, 1);

	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":4,\"after\":%llu}",
	    (unsigned long long)t);
	read_page(r, &pg);
	expect_seqs(&pg, 21, 24, 1);
	it_sendf(r, "{\"command\":\"HISTORY\",\"before\":%llu}",
	    (unsigned long long)t);
	read_page(r, &pg);
	expect_seqs(&pg, 1, 20, 0);
	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":2,\"after\":0}");
	read_page(r, &pg);
	expect_seqs(&pg, 1, 2, 1);
	snprintf(mid5, sizeof mid5, "%s", pg.last_mid);
	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":3,\"after\":\"%s\"}",
	    mid5);
	read_page(r, &pg);
	expect_seqs(&pg, 3, 5, 1);

	it_sendf(r, "{\"command\":\"HISTORY\",\"before\":\"nowhere:1\"}");
	read_page(r, &pg);
	expect_seqs(&pg, 1, 0, 0);
	if (strstr(pg.info, "no such activity") == NULL)
		it_fail("an unknown activity id: info \"%s\"", pg.info);

	/* A new client's boundary is later: it sees 31 as history. */
	r = reader(a, "r2", 1);
	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":2}");
	read_page(r, &pg);
	expect_seqs(&pg, 30, 31, 1);
}

/*
 * The caps: limit above HISTORY_PAGE_MAX gets 1000; a page never holds
 * more than half of --client-outbuf, and paging on from its first
 * activity reaches every one exactly once; a line that would pass
 * --max-message is left out and said so.
 */
static void
history__caps__limit_outbuf_and_max_message(void **state)
{
	struct it_server	*a;
	struct it_client	*w, *r;
	struct page		 pg;
	char			*dir, act[256], pad[1901], before[256];
	int			 k, seen[121], pages = 0, i;
	size_t			 bytes;

	(void)state;
	dir = it_mkdtemp("data");
	a = it_root("A", "--data-dir", dir);
	w = it_connect(a, "w");
	it_login(w, "anonymous", NULL);
	for (k = 1; k <= 1005; k++) {
		snprintf(act, sizeof act, "{\"it_seq\":%d}", k);
		it_send_activity(w, act);
	}
	for (k = 1; k <= 1005; k++)
		it_expect(w, "ACTIVITY_BROADCAST");
	r = reader(a, "r", 1);
	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":5000}");
	read_page(r, &pg);
	expect_seqs(&pg, 6, 1005, 1);
	it_close(r);

	dir = it_mkdtemp("data");
	a = it_root("B", "--data-dir", dir, "--client-outbuf", "65536",
	    "--max-message", "2048");
	w = it_connect(a, "w");
	it_login(w, "anonymous", NULL);
	memset(pad, 'p', 1000);
	pad[1000] = '\0';
	send_seqs(w, 1, 120, pad);
	r = reader(a, "r", 1);
	memset(seen, 0, sizeof seen);
	before[0] = '\0';
	do {
		if (before[0] == '\0')
			it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":1000}");
		else
			it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":1000,"
			    "\"before\":\"%s\"}", before);
		read_page(r, &pg);
		bytes = 0;
		for (i = 0; i < pg.n; i++) {
			if (pg.seq[i] < 1 || pg.seq[i] > 120 ||
			    seen[pg.seq[i]]++)
				it_fail("it_seq %d twice or unknown",
				    pg.seq[i]);
			bytes += 1100;
		}
		if (pg.n < 1 || bytes > 65536 / 2 + 2200)
			it_fail("a page of %d activities of 1 KB with "
			    "--client-outbuf 65536", pg.n);
		snprintf(before, sizeof before, "%s", pg.first_mid);
		pages++;
	} while (pg.more && pages < 100);
	for (k = 1; k <= 120; k++)
		if (seen[k] != 1)
			it_fail("it_seq %d came %d times", k, seen[k]);
	if (pages < 4)
		it_fail("120 KB came in %d pages with --client-outbuf 64K",
		    pages);

	memset(pad, 'q', 1900);
	pad[1900] = '\0';
	send_seqs(w, 121, 121, pad);
	r = reader(a, "r2", 1);
	it_sendf(r, "{\"command\":\"HISTORY\",\"limit\":2}");
	read_page(r, &pg);
	expect_seqs(&pg, 120, 120, 1);
	if (strstr(pg.info, "max-message") == NULL || pg.longest > 2048)
		it_fail("a line over --max-message: info \"%s\", longest "
		    "%zu", pg.info, pg.longest);
}

/*
 * Base-protocol clients get nothing new: HISTORY without the feature is
 * refused, and a server without history does not grant it.
 */
static void
history__not_negotiated__refused(void **state)
{
	struct it_server	*a, *b;
	struct it_client	*c;

	(void)state;
	a = it_root("A", "--data-dir", it_mkdtemp("data"));
	c = it_connect(a, "plain");
	it_login(c, "anonymous", NULL);
	it_sendf(c, "{\"command\":\"HISTORY\"}");
	it_expect_reply_close(c, "INVALID_MESSAGE");
	c = reader(a, "bad", 1);
	it_sendf(c, "{\"command\":\"HISTORY\",\"limit\":0}");
	it_expect_reply_close(c, "INVALID_MESSAGE");
	b = it_root("B");
	c = reader(b, "none", 0);
	it_sendf(c, "{\"command\":\"HISTORY\"}");
	it_expect_reply_close(c, "INVALID_MESSAGE");
}

/* The "mid" of each record, sorted, joined by newlines. */
static char *
history_mids(const char *text)
{
	char		**v = NULL, *out, *q;
	const char	*p = text, *m, *e;
	size_t		 n = 0, len = 1, k;

	while ((m = strstr(p, "\"mid\":\"")) != NULL) {
		m += 7;
		if ((e = strchr(m, '"')) == NULL)
			break;
		v = realloc(v, (n + 1) * sizeof *v);
		v[n++] = strndup(m, (size_t)(e - m));
		len += (size_t)(e - m) + 1;
		p = e;
	}
	qsort(v, n, sizeof *v, name_cmp);
	out = q = calloc(1, len);
	for (k = 0; k < n; k++) {
		q = stpcpy(q, v[k]);
		*q++ = '\n';
		free(v[k]);
	}
	free(v);
	return out;
}

/*
 * A history reader that stays at s: a LOGIN may be answered with a
 * REDIRECT to a less loaded server (and closed); try again until the
 * loads settle.
 */
static struct it_client *
reader_staying(struct it_server *s, const char *name)
{
	uint64_t		 deadline;
	struct it_client	*c;
	cJSON			*m;
	const char		*cmd;

	deadline = it_now_ms() + (uint64_t)it_timeout();
	for (;;) {
		c = reader(s, name, 1);
		it_sendf(c, "{\"command\":\"HISTORY\",\"limit\":1}");
		if (it_read_line(c, it_timeout()) != IT_READ_LINE)
			it_fail("%s: no reply to HISTORY", s->name);
		m = cJSON_ParseWithLength(c->line, c->line_len);
		cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m,
		    "command"));
		if (cmd == NULL || strcmp(cmd, "REDIRECT") != 0) {
			if (cmd != NULL && strcmp(cmd, "HISTORY_END") != 0)
				it_expect(c, "HISTORY_END");
			cJSON_Delete(m);
			return c;
		}
		cJSON_Delete(m);
		it_expect_closed(c);
		it_close(c);
		if (it_now_ms() >= deadline)
			it_fail("%s kept redirecting a reader", s->name);
		usleep(20000);
	}
}

/*
 * The history a client of s is served, paged from the oldest: one line
 * "sender activity_seq mid" per activity, in page order.
 */
static char *
history_served(struct it_server *s, const char *name)
{
	struct it_client	*c = reader_staying(s, name);
	cJSON			*m, *k, *snd, *seq, *mid;
	char			*out = calloc(1, 1), last[256] = "";
	size_t			 len = 0;
	int			 more = 1, n;

	while (more) {
		if (last[0] == '\0')
			it_sendf(c, "{\"command\":\"HISTORY\",\"limit\":1000,"
			    "\"after\":0}");
		else
			it_sendf(c, "{\"command\":\"HISTORY\",\"limit\":1000,"
			    "\"after\":\"%s\"}", last);
		for (n = 0;; n++) {
			if (it_read_line(c, it_timeout()) != IT_READ_LINE)
				it_fail("%s: a page without HISTORY_END",
				    s->name);
			m = cJSON_ParseWithLength(c->line, c->line_len);
			k = cJSON_GetObjectItemCaseSensitive(m, "command");
			if (cJSON_IsString(k) &&
			    strcmp(k->valuestring, "HISTORY_END") == 0) {
				more = cJSON_IsTrue(
				    cJSON_GetObjectItemCaseSensitive(m,
				    "more"));
				cJSON_Delete(m);
				break;
			}
			snd = cJSON_GetObjectItemCaseSensitive(m, "sender");
			seq = cJSON_GetObjectItemCaseSensitive(m,
			    "activity_seq");
			mid = cJSON_GetObjectItemCaseSensitive(m, "mid");
			if (!cJSON_IsString(k) ||
			    strcmp(k->valuestring, "HISTORY_ACTIVITY") != 0 ||
			    !cJSON_IsString(snd) || !cJSON_IsNumber(seq) ||
			    !cJSON_IsString(mid))
				it_fail("%s: in a page: %s", s->name,
				    it_escape(c->line, c->line_len));
			out = realloc(out, len + strlen(snd->valuestring) +
			    strlen(mid->valuestring) + 32);
			len += (size_t)sprintf(out + len, "%s %.0f %s\n",
			    snd->valuestring, seq->valuedouble,
			    mid->valuestring);
			snprintf(last, sizeof last, "%s", mid->valuestring);
			cJSON_Delete(m);
		}
		if (n == 0 && more)
			it_fail("%s: an empty page with more", s->name);
	}
	it_close(c);
	return out;
}

/* Lines compared by sender only (qsort of indexes keeps the order). */
static const char *const *by_sender_lines;

static int
by_sender_cmp(const void *x, const void *y)
{
	const char	*a = by_sender_lines[*(const int *)x];
	const char	*b = by_sender_lines[*(const int *)y];
	size_t		 la = strcspn(a, " "), lb = strcspn(b, " ");
	int		 c = strncmp(a, b, la < lb ? la : lb);

	if (c == 0 && la != lb)
		c = la < lb ? -1 : 1;
	if (c == 0)
		c = *(const int *)x < *(const int *)y ? -1 : 1;
	return c;
}

/*
 * A served history (history_served) grouped by sender, each sender's
 * activities in the order served; fails unless activity_seq rises
 * along each sender's.
 */
static char *
per_sender(const char *name, const char *served)
{
	const char	**lines = NULL;
	char		 *copy = strdup(served), *p, *out, *q, prev[128] = "";
	int		 *idx, n = 0, i;
	long		 last = 0, seq;

	for (p = strtok(copy, "\n"); p != NULL; p = strtok(NULL, "\n")) {
		lines = realloc(lines, (size_t)(n + 1) * sizeof *lines);
		lines[n++] = p;
	}
	idx = calloc((size_t)n + 1, sizeof *idx);
	for (i = 0; i < n; i++)
		idx[i] = i;
	by_sender_lines = lines;
	qsort(idx, (size_t)n, sizeof *idx, by_sender_cmp);
	out = q = calloc(1, strlen(served) + 1);
	for (i = 0; i < n; i++) {
		p = strchr(lines[idx[i]], ' ');
		seq = strtol(p + 1, NULL, 10);
		if (strncmp(prev, lines[idx[i]], (size_t)(p - lines[idx[i]]))
		    != 0 || prev[p - lines[idx[i]]] != '\0') {
			snprintf(prev, sizeof prev, "%.*s",
			    (int)(p - lines[idx[i]]), lines[idx[i]]);
			last = 0;
		}
		if (seq <= last)
			it_fail("%s's history: sender %s's activity_seq %ld "
			    "after %ld:\n%s", name, prev, seq, last, served);
		last = seq;
		q = stpcpy(q, lines[idx[i]]);
		*q++ = '\n';
	}
	free(idx);
	free(lines);
	free(copy);
	return out;
}

/*
 * The servers' histories as their clients are served them: the same
 * activities, and each sender's in the same order, activity_seq rising.
 */
static void
histories_same(struct it_server **s, int n)
{
	char	*served[8], *ps[8];
	int	 i;

	for (i = 0; i < n; i++) {
		served[i] = history_served(s[i], "hr");
		ps[i] = per_sender(s[i]->name, served[i]);
	}
	for (i = 1; i < n; i++)
		if (strcmp(ps[0], ps[i]) != 0)
			it_fail("the histories of %s and %s differ, by "
			    "sender:\n%s\nand\n%s", s[0]->name, s[i]->name,
			    ps[0], ps[i]);
	for (i = 0; i < n; i++) {
		free(served[i]);
		free(ps[i]);
	}
}

/*
 * Three servers, one killed with -9 while activities go on and
 * restarted on its data directory: the relink replay fills its history
 * from its newest record on, without repeating what it had, and every
 * server's history holds the same activities, each sender's in order.
 */
static void
history__kill9_restart__histories_converge(void **state)
{
	struct it_server	*a, *b, *c, *s[3];
	struct it_client	*wa, *wb;
	char			*d[3], *t[3], *m[3];
	int			 i;

	(void)state;
	for (i = 0; i < 3; i++)
		d[i] = it_mkdtemp("data");
	a = it_root("A", "--data-dir", d[0]);
	b = it_child("B", a, "--data-dir", d[1]);
	c = it_child("C", a, "--data-dir", d[2]);
	wa = it_connect(a, "wa");
	it_login(wa, "anonymous", NULL);
	wb = it_connect(b, "wb");
	it_login(wb, "anonymous", NULL);
	send_seqs(wa, 1, 10, "x");
	for (i = 0; i < 3; i++)
		free(wait_records(d[i], 10));
	it_server_kill9(c);
	send_seqs(wa, 11, 20, "x");
	send_seqs(wb, 21, 25, "x");
	c = it_child("C2", a, "--data-dir", d[2]);
	send_seqs(wa, 26, 30, "x");
	for (i = 0; i < 3; i++) {
		t[i] = wait_records(d[i], 30);
		m[i] = history_mids(t[i]);
	}
	for (i = 1; i < 3; i++)
		if (strcmp(m[0], m[i]) != 0)
			it_fail("the histories differ:\n%s\nand\n%s", m[0],
			    m[i]);
	for (i = 0; i < 3; i++) {
		free(t[i]);
		free(m[i]);
	}
	s[0] = a;
	s[1] = b;
	s[2] = c;
	histories_same(s, 3);
}

/* Wait until dir's history holds n records, for up to ms. */
static char *
wait_records_within(const char *dir, int n, int ms)
{
	uint64_t	 deadline = it_now_ms() + (uint64_t)ms;
	char		*text;

	for (;;) {
		text = history_text(dir, NULL, NULL, 0);
		if (text != NULL && count_records(text) == n)
			return text;
		free(text);
		if (it_now_ms() > deadline)
			return wait_records(dir, n);	/* fails with the count */
		usleep(10000);
	}
}

/*
 * A partition (a cut link through a relay) under traffic on both
 * sides, then the repair: the relink replay fills each side's history
 * with what the other side sent, and the three histories end the same.
 * With window (--replay-window) the cut outlasts it: what the replay
 * logs let go comes from the history logs.
 */
static void
partition_heal(const char *window)
{
	struct it_server	*p, *c, *d, *s[3];
	struct it_client	*wp, *wc;
	struct relay		*rl;
	char			*dir[3], *t[3], *m[3];
	/* The argument lists end at the first NULL: no window, no flag. */
	const char		*rw = window != NULL ? "--replay-window" : NULL;
	int			 i;

	for (i = 0; i < 3; i++)
		dir[i] = it_mkdtemp("data");
	p = it_root("P", "--data-dir", dir[0], HB_FAST, rw, window);
	rl = relay_new(p->port);
	c = it_plain("C", "-rh", "localhost", "-rp", relay_port_str(rl),
	    HB_FAST, "--data-dir", dir[1], rw, window);
	it_wait_log(c, "joined the cluster");
	d = it_child("D", c, "--data-dir", dir[2], HB_FAST, rw, window);
	wp = it_connect(p, "wp");
	it_login(wp, "anonymous", NULL);
	wc = it_connect(c, "wc");
	it_login(wc, "anonymous", NULL);
	send_seqs(wp, 1, 5, "x");
	send_seqs(wc, 6, 10, "x");
	for (i = 0; i < 3; i++)
		free(wait_records(dir[i], 10));

	relay_set(rl, RELAY_CUT);
	it_wait_log(c, "lost the parent link");
	send_seqs(wp, 11, 15, "p");
	send_seqs(wc, 16, 20, "c");
	/* Out of the replay logs (aged by the cron tick). */
	if (window != NULL)
		usleep((useconds_t)it_scale_ms(1500) * 1000);
	relay_set(rl, RELAY_PASS);
	for (i = 0; i < 3; i++) {
		t[i] = wait_records_within(dir[i], 20, 3 * it_timeout());
		m[i] = history_mids(t[i]);
	}
	for (i = 1; i < 3; i++)
		if (strcmp(m[0], m[i]) != 0)
			it_fail("the histories differ:\n%s\nand\n%s", m[0],
			    m[i]);
	for (i = 0; i < 3; i++) {
		free(t[i]);
		free(m[i]);
	}
	if (window != NULL)
		it_wait_log(p, "from the history log");
	s[0] = p;
	s[1] = c;
	s[2] = d;
	histories_same(s, 3);
}

static void
history__partition_healed__histories_converge(void **state)
{
	(void)state;
	partition_heal(NULL);
}

static void
history__partition_past_replay_window__caught_up_from_history(void **state)
{
	(void)state;
	partition_heal("300");
}

/*
 * A server down for longer than the others keep activities for replay
 * (--replay-window 300 ms here): when it comes back, what the replay
 * log no longer holds comes from the history log of the server it
 * joins, and every history ends the same.
 */
static void
history__down_past_replay_window__caught_up_from_history(void **state)
{
	struct it_server	*s[3];
	struct it_client	*wa, *wb;
	char			*d[3];
	int			 i;

	(void)state;
	for (i = 0; i < 3; i++)
		d[i] = it_mkdtemp("data");
	s[0] = it_root("A", "--data-dir", d[0], "--replay-window", "300");
	s[1] = it_child("B", s[0], "--data-dir", d[1], "--replay-window",
	    "300");
	s[2] = it_child("C", s[0], "--data-dir", d[2], "--replay-window",
	    "300");
	wa = it_connect(s[0], "wa");
	it_login(wa, "anonymous", NULL);
	wb = it_connect(s[1], "wb");
	it_login(wb, "anonymous", NULL);
	send_seqs(wa, 1, 5, "x");
	for (i = 0; i < 3; i++)
		free(wait_records(d[i], 5));
	it_server_kill9(s[2]);
	send_seqs(wa, 6, 15, "x");
	send_seqs(wb, 16, 20, "x");
	/* Out of the replay logs (300 ms, aged by the cron tick). */
	usleep((useconds_t)it_scale_ms(1500) * 1000);
	s[2] = it_child("C2", s[0], "--data-dir", d[2], "--replay-window",
	    "300");
	it_wait_log(s[0], "from the history log");
	for (i = 0; i < 3; i++)
		free(wait_records(d[i], 20));
	histories_same(s, 3);
}

/* Does text (a history's records) hold activity_seq b before a? */
static int
logged_before(const char *text, int b, int a)
{
	char		 nb[64], na[64];
	const char	*pb, *pa;

	snprintf(nb, sizeof nb, "\"activity_seq\":%d,", b);
	snprintf(na, sizeof na, "\"activity_seq\":%d,", a);
	pb = strstr(text, nb);
	pa = strstr(text, na);
	return pb != NULL && pa != NULL && pb < pa;
}

/*
 * A sender's activity_seq 2 comes after its 3, which every server
 * delivered once --order-wait gave up waiting for 2: each segment logs
 * 3 before 2, yet every server's history (as served, and again after
 * a restart reads it back) holds 1, 2, 3 in that order, with another
 * sender's activities in between.
 */
static void
history__gap_given_up__per_sender_order_everywhere(void **state)
{
	struct it_server	*s[3];
	struct it_client	*snd, *w;
	char			*d[3], *t;
	int			 i;

	(void)state;
	for (i = 0; i < 3; i++)
		d[i] = it_mkdtemp("data");
	s[0] = it_root("A", "--data-dir", d[0], "--order-wait", "300");
	s[1] = it_child("B", s[0], "--data-dir", d[1], "--order-wait", "300");
	s[2] = it_child("C", s[0], "--data-dir", d[2], "--order-wait", "300");
	snd = it_connect(s[1], "snd");
	it_sendf(snd, "{\"command\":\"LOGIN\",\"username\":\"anonymous\","
	    "\"secret\":null,\"features\":[\"activity_seq\"]}");
	it_expect(snd, "LOGIN_SUCCESS");
	w = it_connect(s[2], "w");
	it_login(w, "anonymous", NULL);

	it_sendf(snd, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"secret\":null,\"activity_seq\":1,"
	    "\"activity\":{\"it_seq\":1}}");
	it_expect(snd, "ACTIVITY_BROADCAST");
	it_sendf(snd, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"secret\":null,\"activity_seq\":3,"
	    "\"activity\":{\"it_seq\":3}}");
	/* Delivered (to its sender too) once the wait for 2 is over. */
	it_expect(snd, "ACTIVITY_BROADCAST");
	for (i = 0; i < 3; i++)
		free(wait_records(d[i], 2));
	send_seqs(w, 10, 12, "w");
	it_sendf(snd, "{\"command\":\"ACTIVITY_MESSAGE\",\"username\":"
	    "\"anonymous\",\"secret\":null,\"activity_seq\":2,"
	    "\"activity\":{\"it_seq\":2}}");
	it_expect(snd, "ACTIVITY_BROADCAST");
	send_seqs(w, 13, 14, "w");
	for (i = 0; i < 3; i++) {
		t = wait_records(d[i], 8);
		if (!logged_before(t, 3, 2))
			it_fail("%s did not log activity_seq 3 before 2 (the "
			    "gap was not given up): %s", s[i]->name, t);
		free(t);
	}
	histories_same(s, 3);

	/* Read back from the segments, the order is the same. */
	it_server_kill9(s[2]);
	s[2] = it_child("C2", s[0], "--data-dir", d[2], "--order-wait", "300");
	free(wait_records(d[2], 8));
	histories_same(s, 3);
}

/* cmocka teardown: relays, then servers (it_teardown). */
static int
history_teardown(void **state)
{
	relay_cleanup();
	return it_teardown(state);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, it_setup, history_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(history__kill9_torn_tail__intact_after_restart),
		T(history__max_count__oldest_segments_deleted),
		T(history__max_bytes__files_within_bound),
		T(history__age__old_records_deleted),
		T(history__off__nothing_kept),
		T(history__pages__each_form_and_no_overlap_with_live),
		T(history__caps__limit_outbuf_and_max_message),
		T(history__not_negotiated__refused),
		T(history__kill9_restart__histories_converge),
		T(history__partition_healed__histories_converge),
		T(history__partition_past_replay_window__caught_up_from_history),
		T(history__gap_given_up__per_sender_order_everywhere),
		T(history__down_past_replay_window__caught_up_from_history),
	};

	return it_run_tests("integration: history", tests);
}
