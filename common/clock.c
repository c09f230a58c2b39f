/* CLOCK_MONOTONIC for timeouts, CLOCK_REALTIME only for display and stamps. */
#include <time.h>

#include "clock.h"

static uint64_t	clock_mocked_ms;

void
clock_mock(uint64_t ms)
{
	clock_mocked_ms = ms;
}

uint64_t
now_us(void)
{
	struct timespec	 ts;

	if (clock_mocked_ms != 0)
		return clock_mocked_ms * 1000;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
now_ms(void)
{
	return now_us() / 1000;
}

uint64_t
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
