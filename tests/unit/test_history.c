/*
 * The history log's index, driven directly: an activity that comes
 * after a later one of its sender is listed before it (as appended, and
 * again when the segments are read back), retention drops whole
 * segments without losing a record placed back among older ones, and
 * paging by id finds activities at any depth, not ones dropped.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "delivery.h"
#include "history.h"

struct seen {
	char	 names[4096][16];
	int	 n;
};

struct hfx {
	struct event_base	*base;
	struct history		*h;
	char			 dir[64];
	struct history_config	 cfg;
	uint64_t		 oc;
};

/* Collect each record's activity name ("t") in page order. */
static int
seen_cb(void *arg, const struct history_item *it)
{
	struct seen	*s = arg;
	const char	*p;
	char		 copy[512];

	assert_true(it->len < sizeof copy);
	memcpy(copy, it->line, it->len);
	copy[it->len] = '\0';
	/* The activity object is where the history says. */
	assert_true(it->act_len > 0);
	assert_memory_equal(it->line + it->act_off, "{\"t\":\"", 6);
	assert_int_equal(it->line[it->act_off + it->act_len - 1], '}');
	assert_non_null(p = strstr(copy, "{\"t\":\""));
	p += 6;
	assert_true(s->n < 4096);
	snprintf(s->names[s->n], sizeof s->names[s->n], "%.*s",
	    (int)strcspn(p, "\""), p);
	s->n++;
	return 0;
}

static void
hfx_open(struct hfx *fx)
{
	char	 err[256];

	fx->h = history_open(fx->base, fx->dir, &fx->cfg, err, sizeof err);
	if (fx->h == NULL)
		fail_msg("history_open: %s", err);
}

static int
setup(void **state)
{
	struct hfx	*fx = calloc(1, sizeof *fx);

	if (fx == NULL || (fx->base = event_base_new()) == NULL)
		return -1;
	event_base_priority_init(fx->base, 3);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/test-history-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	fx->cfg.max = 1000000;
	fx->cfg.bytes = (size_t)1 << 30;
	fx->cfg.age_ms = (uint64_t)1 << 62;	/* the records are of 1970 */
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct hfx	*fx = *state;
	char		 cmd[128];

	history_close(fx->h);
	event_base_free(fx->base);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

/*
 * Append activity name from sender sid numbered seq; behind: it came
 * after a later one of its sender.  Written at once.
 */
static void
add(struct hfx *fx, const char *name, const char *sid, uint64_t seq,
    int behind)
{
	struct act	*a;
	char		 line[512], mid[64];
	int		 n, off;

	snprintf(mid, sizeof mid, "o:%llu", (unsigned long long)++fx->oc);
	n = snprintf(line, sizeof line, "{\"command\":\"ACTIVITY_BROADCAST\","
	    "\"activity\":%n{\"t\":\"%s\"},\"mid\":\"%s\",\"sender\":\"%s\","
	    "\"activity_seq\":%llu}\n", &off, name, mid, sid,
	    (unsigned long long)seq);
	a = act_new(line, (size_t)n, (size_t)off, strlen(name) + 8, mid, "o",
	    sid, "u");
	a->seq = seq;
	a->behind = behind;
	history_append(fx->h, a, 1000 + fx->oc);
	act_unref(a);
	history_flush(fx->h);
}

/* The whole history, as a page of everything, joined by spaces. */
static void
expect_all(struct hfx *fx, const char *want)
{
	struct history_query	 q;
	static struct seen	 s;
	char			 got[4096] = "";
	int			 more, i, n;

	memset(&q, 0, sizeof q);
	memset(&s, 0, sizeof s);
	q.mark = history_mark(fx->h);
	q.dir = HISTORY_LATEST;
	q.limit = HISTORY_PAGE_MAX;
	q.budget = (size_t)1 << 30;
	n = history_page(fx->h, &q, seen_cb, &s, &more);
	assert_int_equal(n, s.n);
	assert_int_equal((size_t)n, history_count(fx->h));
	for (i = 0; i < s.n; i++) {
		if (i > 0)
			strcat(got, " ");
		strcat(got, s.names[i]);
	}
	assert_string_equal(got, want);
}

static void
history_append__late_one__listed_before_its_senders_later(void **state)
{
	struct hfx	*fx = *state;

	hfx_open(fx);
	add(fx, "x1", "X", 1, 0);
	add(fx, "y1", "Y", 1, 0);
	add(fx, "x3", "X", 3, 0);
	add(fx, "y2", "Y", 2, 0);
	add(fx, "x2", "X", 2, 1);
	add(fx, "y3", "Y", 3, 0);
	expect_all(fx, "x1 y1 x2 x3 y2 y3");

	/* Read back from the segments: placed the same. */
	history_close(fx->h);
	hfx_open(fx);
	expect_all(fx, "x1 y1 x2 x3 y2 y3");
	add(fx, "x4", "X", 4, 0);
	expect_all(fx, "x1 y1 x2 x3 y2 y3 x4");
}

static void
history_retain__placed_record_outlives_older_segments(void **state)
{
	struct hfx	*fx = *state;

	/* One record a segment (a 32nd of 6, at least 1), 6 kept. */
	fx->cfg.max = 6;
	hfx_open(fx);
	add(fx, "x1", "X", 1, 0);
	add(fx, "y1", "Y", 1, 0);
	add(fx, "x3", "X", 3, 0);
	add(fx, "y2", "Y", 2, 0);
	add(fx, "x2", "X", 2, 1);	/* in the 5th segment */
	expect_all(fx, "x1 y1 x2 x3 y2");
	add(fx, "z1", "Z", 1, 0);
	add(fx, "z2", "Z", 2, 0);
	expect_all(fx, "y1 x2 x3 y2 z1 z2");
	add(fx, "z3", "Z", 3, 0);
	expect_all(fx, "x2 x3 y2 z1 z2 z3");
	add(fx, "z4", "Z", 4, 0);
	expect_all(fx, "x2 y2 z1 z2 z3 z4");
	add(fx, "z5", "Z", 5, 0);
	expect_all(fx, "x2 z1 z2 z3 z4 z5");
	add(fx, "z6", "Z", 6, 0);
	expect_all(fx, "z1 z2 z3 z4 z5 z6");
	assert_int_equal(history_segments(fx->h), 7);	/* and the next */

	history_close(fx->h);
	hfx_open(fx);
	expect_all(fx, "z1 z2 z3 z4 z5 z6");
}

static void
history_page__by_id_at_any_depth__dropped_ones_unknown(void **state)
{
	struct hfx		*fx = *state;
	struct history_query	 q;
	static struct seen	 s;
	char			 name[16];
	int			 i, more;

	fx->cfg.max = 4000;
	hfx_open(fx);
	for (i = 1; i <= 5000; i++) {
		snprintf(name, sizeof name, "a%d", i);
		add(fx, name, "A", (uint64_t)i, 0);
	}
	memset(&q, 0, sizeof q);
	q.mark = history_mark(fx->h);
	q.dir = HISTORY_BEFORE;
	q.limit = 3;
	q.budget = (size_t)1 << 30;
	q.mid = "o:4500";
	memset(&s, 0, sizeof s);
	assert_int_equal(history_page(fx->h, &q, seen_cb, &s, &more), 3);
	assert_string_equal(s.names[0], "a4497");
	assert_string_equal(s.names[2], "a4499");
	assert_true(more);
	q.dir = HISTORY_AFTER;
	memset(&s, 0, sizeof s);
	assert_int_equal(history_page(fx->h, &q, seen_cb, &s, &more), 3);
	assert_string_equal(s.names[0], "a4501");
	/* The first records went with their segments. */
	assert_true(history_count(fx->h) <= 4000);
	q.mid = "o:1";
	assert_int_equal(history_page(fx->h, &q, seen_cb, &s, &more), -1);
	/* The newest is not before the mark of a client logged in then. */
	q.mark = history_mark(fx->h) - 1;
	q.mid = "o:5000";
	assert_int_equal(history_page(fx->h, &q, seen_cb, &s, &more), -1);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(history_append__late_one__listed_before_its_senders_later),
		T(history_retain__placed_record_outlives_older_segments),
		T(history_page__by_id_at_any_depth__dropped_ones_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
