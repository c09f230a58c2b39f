/*
 * model.c, dedup.c and failover.c: the capped rings behind the panes,
 * report matching, duplicate dropping, and the failover schedule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "dedup.h"
#include "failover.h"
#include "json.h"
#include "model.h"

static int
setup(void **state)
{
	struct model	*m = calloc(1, sizeof *m);

	if (m == NULL)
		return -1;
	clock_mock(5000);
	model_init(m, 4);
	*state = m;
	return 0;
}

static int
teardown(void **state)
{
	model_free(*state);
	free(*state);
	clock_mock(0);
	return 0;
}

static void
add(struct model *m, const char *s)
{
	model_add(m, MODEL_ACTIVITY, "who", s, strlen(s));
}

/* Earlier history goes on top until the ring is full, with its time. */
static void
model_prepend__until_full__on_top_with_its_time(void **state)
{
	struct model	*m = *state;

	add(m, "c");
	add(m, "d");
	model_time_last(m, 0, 1234);
	assert_int_equal(model_line_at(m, 0)->wall_ms, 1234);
	assert_int_equal(model_prepend(m, MODEL_ACTIVITY, "w", "b", 1, 0), 0);
	model_time_last(m, 1, 99);
	assert_int_equal(model_prepend(m, MODEL_ACTIVITY, "w", "a", 1,
	    MODEL_F_ACTION), 0);
	assert_int_equal(m->lines_n, 4);
	assert_string_equal(model_line_at(m, 0)->text, "d");
	assert_string_equal(model_line_at(m, 2)->text, "b");
	assert_int_equal(model_line_at(m, 2)->wall_ms, 99);
	assert_string_equal(model_line_at(m, 3)->text, "a");
	assert_int_equal(model_line_at(m, 3)->flags, MODEL_F_ACTION);
	/* Full: the newest lines are not given up for older ones. */
	assert_int_equal(model_prepend(m, MODEL_ACTIVITY, "w", "z", 1, 0), -1);
	assert_string_equal(model_line_at(m, 0)->text, "d");
	assert_string_equal(model_line_at(m, 3)->text, "a");
}

/*
 * Paging back grows a full ring (to lines_max), keeping every line in
 * order; then older lines are refused, and live ones take the oldest.
 */
static void
model_prepend__full_ring__grows_to_lines_max(void **state)
{
	struct model	*m = *state;

	m->lines_max = 6;
	add(m, "c");
	add(m, "d");
	add(m, "e");
	add(m, "f");
	m->scroll = 1;
	assert_int_equal(model_prepend(m, MODEL_ACTIVITY, "w", "b", 1, 0), 0);
	assert_int_equal(model_prepend(m, MODEL_ACTIVITY, "w", "a", 1, 0), 0);
	assert_int_equal(m->lines_cap, 6);
	assert_int_equal(m->lines_n, 6);
	assert_int_equal(m->scroll, 1);
	assert_string_equal(model_line_at(m, 0)->text, "f");
	assert_string_equal(model_line_at(m, 3)->text, "c");
	assert_string_equal(model_line_at(m, 5)->text, "a");
	assert_int_equal(model_prepend(m, MODEL_ACTIVITY, "w", "z", 1, 0), -1);
	assert_string_equal(model_line_at(m, 5)->text, "a");
	add(m, "g");
	assert_int_equal(m->lines_n, 6);
	assert_string_equal(model_line_at(m, 0)->text, "g");
	assert_string_equal(model_line_at(m, 5)->text, "b");
}

static void
model_add__over_cap__oldest_overwritten(void **state)
{
	struct model	*m = *state;

	add(m, "a");
	add(m, "b");
	add(m, "c");
	add(m, "d");
	add(m, "e");
	assert_int_equal(m->lines_n, 4);
	assert_int_equal(m->lines_total, 5);
	assert_string_equal(model_line_at(m, 0)->text, "e");
	assert_string_equal(model_line_at(m, 3)->text, "b");
	assert_null(model_line_at(m, 4));
	assert_true(m->dirty & MODEL_D_ACTIVITY);
}

static void
model_add__control_characters__sanitised(void **state)
{
	struct model	*m = *state;

	model_add(m, MODEL_ACTIVITY, "e\x1bvil", "x\x1b]0;t\x07y", 8);
	assert_string_equal(model_line_at(m, 0)->text, "x?]0;t?y");
	assert_string_equal(model_line_at(m, 0)->who, "e?vil");
}

static void
model_scroll__new_lines__view_stays_put(void **state)
{
	struct model	*m = *state;

	add(m, "a");
	add(m, "b");
	add(m, "c");
	model_scroll(m, 1);
	assert_int_equal(m->scroll, 1);
	add(m, "d");
	assert_int_equal(m->scroll, 2);
	assert_string_equal(model_line_at(m, m->scroll)->text, "b");
	model_scroll(m, 100);
	assert_int_equal(m->scroll, 3);
	model_scroll(m, -100);
	assert_int_equal(m->scroll, 0);
}

static void
model_report_update__matching_seq__counts_and_state(void **state)
{
	struct model	*m = *state;

	model_report_add(m, 1, 1, "one", 3);
	model_report_add(m, 2, 1, "two", 3);
	model_report_add(m, 3, 1, "three", 5);
	assert_int_equal(model_reports_pending(m), 3);
	assert_int_equal(model_report_update(m, 2, 3, 3, 0), 0);
	assert_int_equal(model_report_update(m, 3, 1, 3, 0), 0);
	assert_int_equal(model_report_update(m, 1, 1, 3, 1), 0);
	assert_int_equal(model_report_at(m, 1)->state, REPORT_DONE);
	assert_int_equal(model_report_at(m, 1)->delivered, 3);
	assert_int_equal(model_report_at(m, 0)->state, REPORT_SHORT);
	assert_int_equal(model_report_at(m, 2)->state, REPORT_PARTIAL);
	assert_int_equal(model_reports_pending(m), 0);
}

static void
model_report_update__unknown_or_old_session__not_matched(void **state)
{
	struct model	*m = *state;

	model_report_add(m, 1, 1, "one", 3);
	assert_int_equal(model_report_update(m, 7, 1, 1, 0), -1);
	model_new_session(m);
	assert_int_equal(model_report_update(m, 1, 1, 1, 0), -1);
	model_report_add(m, 1, 1, "again", 5);
	assert_int_equal(model_report_update(m, 1, 2, 2, 0), 0);
	assert_int_equal(model_report_at(m, 0)->state, REPORT_DONE);
	assert_int_equal(model_report_at(m, 1)->state, REPORT_PENDING);
}

static void
model_report_add__new_session__numbers_go_on(void **state)
{
	struct model	*m = *state;

	model_report_add(m, 1, 1, "one", 3);
	model_report_add(m, 2, 1, "two", 3);
	model_new_session(m);
	model_report_add(m, 1, 1, "three", 5);
	assert_int_equal(model_report_at(m, 0)->num, 3);
	assert_int_equal(model_report_at(m, 1)->num, 2);
	assert_int_equal(model_report_at(m, 2)->num, 1);
	assert_int_equal(model_report_at(m, 0)->seq, 1);
}

static void
model_reports_lost__link_down__pending_marked(void **state)
{
	struct model	*m = *state;

	model_report_add(m, 1, 1, "one", 3);
	model_report_add(m, 0, 0, "untracked", 9);
	model_reports_lost(m);
	assert_int_equal(model_reports_pending(m), 0);
	assert_int_equal(model_report_at(m, 1)->state, REPORT_LOST);
	assert_int_equal(model_report_at(m, 0)->state, REPORT_UNTRACKED);
	/* A late report still lands. */
	assert_int_equal(model_report_update(m, 1, 2, 2, 0), 0);
	assert_int_equal(model_report_at(m, 1)->state, REPORT_DONE);
}

static void
model_report_add__over_cap__ring_wraps(void **state)
{
	struct model	*m = *state;
	int		 i;

	for (i = 1; i <= MODEL_REPORTS_MAX + 3; i++)
		model_report_add(m, i, 1, "x", 1);
	assert_int_equal(m->reports_n, MODEL_REPORTS_MAX);
	assert_int_equal(model_report_at(m, 0)->seq, MODEL_REPORTS_MAX + 3);
	assert_int_equal(model_report_at(m, MODEL_REPORTS_MAX - 1)->seq, 4);
}

static void
dedup_check__replay__dropped(void **state)
{
	struct dedup	*d = calloc(1, sizeof *d);

	(void)state;
	assert_non_null(d);
	dedup_init(d);
	assert_int_equal(dedup_check(d, "s1", 1), 0);
	assert_int_equal(dedup_check(d, "s1", 2), 0);
	assert_int_equal(dedup_check(d, "s2", 1), 0);
	assert_int_equal(dedup_check(d, "s1", 2), 1);
	assert_int_equal(dedup_check(d, "s1", 1), 1);
	assert_int_equal(dedup_check(d, "s1", 3), 0);
	free(d);
}

static void
dedup_check__many_senders__least_recent_forgotten(void **state)
{
	struct dedup	*d = calloc(1, sizeof *d);
	char		 id[32];
	int		 i;

	(void)state;
	assert_non_null(d);
	dedup_init(d);
	for (i = 0; i < DEDUP_MAX + 1; i++) {
		snprintf(id, sizeof id, "s%d", i);
		dedup_check(d, id, 5);
	}
	assert_int_equal(d->n, DEDUP_MAX);
	/* s0 was forgotten: its replay is taken as new. */
	assert_int_equal(dedup_check(d, "s0", 5), 0);
	assert_int_equal(dedup_check(d, "s5", 5), 1);
	free(d);
}

static void
dedup_json__two_senders__seen_map(void **state)
{
	struct dedup	*d = calloc(1, sizeof *d);
	struct jbuf	 b;

	(void)state;
	assert_non_null(d);
	dedup_init(d);
	dedup_check(d, "a", 3);
	dedup_check(d, "b\"", 9);
	jbuf_init(&b);
	dedup_json(d, &b);
	assert_string_equal(b.p, "{\"a\":3,\"b\\\"\":9}");
	jbuf_free(&b);
	free(d);
}

static struct fo_target
target(const char *host, int port)
{
	struct fo_target	 t;

	memset(&t, 0, sizeof t);
	snprintf(t.host, sizeof t.host, "%s", host);
	t.port = port;
	return t;
}

static void
failover_next__backups_then_lost__first_at_once(void **state)
{
	struct failover		 fo;
	struct fo_target	 b[2], lost, t;

	(void)state;
	failover_init(&fo, 100, 1000);
	b[0] = target("10.0.0.2", 2);
	b[1] = target("10.0.0.3", 3);
	failover_set_backups(&fo, b, 2);
	lost = target("10.0.0.1", 1);
	failover_begin(&fo, &lost);
	assert_int_equal(failover_next(&fo, 0, &t), 0);
	assert_int_equal(t.port, 2);
	assert_int_equal(failover_next(&fo, 0, &t), 100);
	assert_int_equal(t.port, 3);
	assert_int_equal(failover_next(&fo, 0, &t), 200);
	assert_int_equal(t.port, 1);
	assert_int_equal(failover_next(&fo, 0, &t), 400);
	assert_int_equal(t.port, 2);
	assert_int_equal(fo.attempt, 4);
}

static void
failover_begin__lost_in_backups__tried_once_per_round(void **state)
{
	struct failover		 fo;
	struct fo_target	 b[2], t;

	(void)state;
	failover_init(&fo, 100, 1000);
	b[0] = target("h", 1);
	b[1] = target("h", 2);
	failover_set_backups(&fo, b, 2);
	failover_begin(&fo, &b[0]);
	assert_int_equal(fo.nring, 2);
	failover_next(&fo, 0, &t);
	failover_next(&fo, 0, &t);
	failover_next(&fo, 0, &t);
	assert_int_equal(t.port, 1);
}

static void
failover_begin__already_active__schedule_goes_on(void **state)
{
	struct failover		 fo;
	struct fo_target	 lost = target("h", 1), t;

	(void)state;
	failover_init(&fo, 100, 1000);
	failover_begin(&fo, &lost);
	failover_next(&fo, 0, &t);
	failover_begin(&fo, &lost);
	assert_int_equal(failover_next(&fo, 0, &t), 100);
	failover_end(&fo);
	failover_begin(&fo, &lost);
	assert_int_equal(failover_next(&fo, 0, &t), 0);
}

static void
failover_delay__many_attempts__bounded_with_jitter(void **state)
{
	unsigned	 d;
	uint32_t	 r;
	int		 a;

	(void)state;
	assert_int_equal(failover_delay(1, 250, 8000, 12345), 0);
	for (a = 2; a < 200; a++) {
		for (r = 0; r < 5000; r += 499) {
			d = failover_delay(a, 250, 8000, r);
			assert_true(d <= 8000);
			assert_true(d >= 125);
		}
	}
	assert_int_equal(failover_delay(40, 250, 8000, 0), 8000);
	assert_int_equal(failover_delay(40, 250, 8000, 4000), 4000);
}

static void
failover_next__nothing_known__no_target(void **state)
{
	struct failover		 fo;
	struct fo_target	 t;

	(void)state;
	failover_init(&fo, 0, 0);
	failover_begin(&fo, NULL);
	failover_next(&fo, 0, &t);
	assert_int_equal(t.port, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(model_add__over_cap__oldest_overwritten),
		T(model_prepend__until_full__on_top_with_its_time),
		T(model_prepend__full_ring__grows_to_lines_max),
		T(model_add__control_characters__sanitised),
		T(model_scroll__new_lines__view_stays_put),
		T(model_report_update__matching_seq__counts_and_state),
		T(model_report_update__unknown_or_old_session__not_matched),
		T(model_report_add__new_session__numbers_go_on),
		T(model_reports_lost__link_down__pending_marked),
		T(model_report_add__over_cap__ring_wraps),
#undef T
		cmocka_unit_test(dedup_check__replay__dropped),
		cmocka_unit_test(
		    dedup_check__many_senders__least_recent_forgotten),
		cmocka_unit_test(dedup_json__two_senders__seen_map),
		cmocka_unit_test(
		    failover_next__backups_then_lost__first_at_once),
		cmocka_unit_test(
		    failover_begin__lost_in_backups__tried_once_per_round),
		cmocka_unit_test(
		    failover_begin__already_active__schedule_goes_on),
		cmocka_unit_test(
		    failover_delay__many_attempts__bounded_with_jitter),
		cmocka_unit_test(failover_next__nothing_known__no_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
