/*
 * Latency histogram, log-linear: values below 2^HIST_SUB_BITS are exact,
 * above that every power of two is split into 2^HIST_SUB_BITS buckets,
 * so a reported percentile is within 1/128 (0.8%) of the true value.
 * Values are nanoseconds.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static unsigned
bucket_of(uint64_t v)
{
	unsigned	 top;

	if (v < (1u << HIST_SUB_BITS))
		return (unsigned)v;
	top = 63u - (unsigned)__builtin_clzll(v);
	return ((top - HIST_SUB_BITS + 1) << HIST_SUB_BITS) |
	    (unsigned)((v >> (top - HIST_SUB_BITS)) &
	    ((1u << HIST_SUB_BITS) - 1));
}

/* The middle of a bucket's range. */
static uint64_t
bucket_mid(unsigned b)
{
	unsigned	 shift;
	uint64_t	 lo;

	if (b < (1u << HIST_SUB_BITS))
		return b;
	shift = (b >> HIST_SUB_BITS) - 1;
	lo = ((uint64_t)(1u << HIST_SUB_BITS) |
	    (b & ((1u << HIST_SUB_BITS) - 1))) << shift;
	return lo + ((1ull << shift) >> 1);
}

void
hist_reset(struct hist *h)
{
	memset(h, 0, sizeof *h);
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->count[bucket_of(v)]++;
	if (h->n == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->n++;
	h->sum += (double)v;
}

/* The value at quantile q (0..1), clamped to what was seen. */
uint64_t
hist_pct(const struct hist *h, double q)
{
	uint64_t	 want, seen = 0, v;
	unsigned	 b;

	if (h->n == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	want = (uint64_t)(q * (double)h->n + 0.5);
	if (want < 1)
		want = 1;
	for (b = 0; b < HIST_BUCKETS; b++) {
		seen += h->count[b];
		if (seen >= want) {
			v = bucket_mid(b);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

/* "name":{"n":..,"min_us":..,"mean_us":..,"p50_us":.. ... "max_us":..} */
void
hist_json(struct jbuf *b, const char *name, const struct hist *h)
{
	json_key(b, name);
	jbuf_addc(b, '{');
	json_kint(b, "n", (long long)h->n);
	json_knum(b, "min_us", h->min / 1e3);
	json_knum(b, "mean_us", h->n ? h->sum / (double)h->n / 1e3 : 0);
	json_knum(b, "p50_us", hist_pct(h, 0.50) / 1e3);
	json_knum(b, "p90_us", hist_pct(h, 0.90) / 1e3);
	json_knum(b, "p99_us", hist_pct(h, 0.99) / 1e3);
	json_knum(b, "p999_us", hist_pct(h, 0.999) / 1e3);
	json_knum(b, "max_us", h->max / 1e3);
	jbuf_addc(b, '}');
}
