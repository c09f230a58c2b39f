/*
 * seen.c: message ids of flooded messages.  A rogue or buggy server can
 * forge any origin's ids, so the parser takes digits only and the window
 * refuses wild jumps and recovers from a forged highest counter instead
 * of silencing the real origin for ever.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "seen.h"

static void
seen_parse_mid__digits_only__sign_space_and_overlong_refused(void **state)
{
	const char	*bad[] = { "a: -1", "a:-1", "a:+1", "a: 1", "a:01",
			    "a:1x", "a:0", "a:", ":1", "a1",
			    "a:1234567890123456789", "a:18446744073709551615",
			    NULL };
	char		 origin[64];
	uint64_t	 n;
	int		 i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++)
		if (seen_parse_mid(bad[i], origin, sizeof origin, &n) == 0)
			fail_msg("'%s' parsed as %s:%llu", bad[i], origin,
			    (unsigned long long)n);
	assert_int_equal(seen_parse_mid("ab:cd:42", origin, sizeof origin,
	    &n), 0);
	assert_string_equal(origin, "ab:cd");
	assert_int_equal(n, 42);
	assert_int_equal(seen_parse_mid("a:123456789012345678", origin,
	    sizeof origin, &n), 0);
	assert_int_equal(n, 123456789012345678ULL);
}

/* A counter 2^33 past the highest is refused; the origin goes on. */
static void
seen_add__counter_far_ahead__refused_origin_not_silenced(void **state)
{
	struct seen	*s = seen_new(4);
	uint64_t	 i;

	(void)state;
	log_init("unit", LOG_LVL_WARN);
	for (i = 1; i <= 10; i++)
		assert_int_equal(seen_add(s, "x", i), 1);
	assert_int_equal(seen_add(s, "x", 10 + (1ULL << 33)), 0);
	assert_int_equal(seen_add(s, "x", 11), 1);
	assert_int_equal(seen_add(s, "x", 11), 0);
	seen_free(s);
}

/*
 * A forged counter just under the jump limit made everything the real
 * origin sends look old.  After SEEN_RESYNC of its rising counters with
 * nothing inside the window between them, the window starts again: the
 * origin is heard again, and repeats are still dropped.
 */
static void
seen_add__forged_high_counter__origin_heard_again(void **state)
{
	struct seen	*s = seen_new(4);
	uint64_t	 i, forged = 5 + (1ULL << 31);
	int		 dropped = 0;

	(void)state;
	log_init("unit", LOG_LVL_WARN);
	for (i = 1; i <= 5; i++)
		assert_int_equal(seen_add(s, "x", i), 1);
	assert_int_equal(seen_add(s, "x", forged), 1);
	for (i = 6; seen_add(s, "x", i) == 0; i++)
		if (++dropped > 1000)
			fail_msg("origin x silenced for ever");
	assert_int_equal(dropped, 63);
	assert_int_equal(seen_add(s, "x", i), 0);
	assert_int_equal(seen_add(s, "x", i + 1), 1);
	assert_int_equal(seen_add(s, "x", i + 1), 0);
	seen_free(s);
}

/*
 * Old messages far below the window, while the origin's real traffic
 * goes on inside it, are only repeats: the window is not restarted.
 */
static void
seen_add__old_repeats_beside_live_traffic__window_kept(void **state)
{
	struct seen	*s = seen_new(4);
	uint64_t	 i, top = 200000;

	(void)state;
	log_init("unit", LOG_LVL_WARN);
	assert_int_equal(seen_add(s, "x", 1), 1);
	assert_int_equal(seen_add(s, "x", top), 1);
	for (i = 0; i < 500; i++) {
		assert_int_equal(seen_add(s, "x", 1000 + i), 0);
		assert_int_equal(seen_add(s, "x", top + 1 + i), 1);
	}
	assert_int_equal(seen_add(s, "x", top + 1), 0);
	seen_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    seen_parse_mid__digits_only__sign_space_and_overlong_refused),
		cmocka_unit_test(
		    seen_add__counter_far_ahead__refused_origin_not_silenced),
		cmocka_unit_test(
		    seen_add__forged_high_counter__origin_heard_again),
		cmocka_unit_test(
		    seen_add__old_repeats_beside_live_traffic__window_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
