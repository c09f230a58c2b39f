/* Monotonic time for durations; the seam unit tests replace. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

uint64_t	now_ms(void);
uint64_t	now_us(void);
uint64_t	wall_ms(void);
void		clock_mock(uint64_t);	/* tests: freeze at this ms; 0 ends */

#endif
