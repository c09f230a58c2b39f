/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): 2 compression rounds per
 * 8-byte block, 4 finalisation rounds, 128-bit key, 64-bit output (or
 * 128-bit, the reference's wider mode).
 */
#include <string.h>

#include "siphash.h"

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	    (uint64_t)p[7] << 56;
}

/*
 * The compression and the first finalisation, shared by both output
 * sizes; the 128-bit mode marks its start and end with 0xee (its
 * second half is finished by the caller).
 */
static void
siphash24_core(const uint8_t key[16], const void *data, size_t len,
    int wide, uint64_t v[4])
{
	const uint8_t	*in = data, *end = in + (len & ~(size_t)7);
	uint64_t	 k0 = le64(key), k1 = le64(key + 8), m, b;
	uint64_t	 v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t	 v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t	 v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t	 v3 = 0x7465646279746573ULL ^ k1;
	uint8_t		 tail[8];
	int		 i;

	if (wide)
		v1 ^= 0xee;
	for (; in != end; in += 8) {
		m = le64(in);
		v3 ^= m;
		for (i = 0; i < 2; i++)
			SIPROUND;
		v0 ^= m;
	}
	memset(tail, 0, sizeof tail);
	memcpy(tail, in, len & 7);
	b = ((uint64_t)len << 56) | le64(tail);
	v3 ^= b;
	for (i = 0; i < 2; i++)
		SIPROUND;
	v0 ^= b;
	v2 ^= wide ? 0xee : 0xff;
	for (i = 0; i < 4; i++)
		SIPROUND;
	v[0] = v0;
	v[1] = v1;
	v[2] = v2;
	v[3] = v3;
}

uint64_t
siphash24(const uint8_t key[16], const void *data, size_t len)
{
	uint64_t	 v[4];

	siphash24_core(key, data, len, 0, v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* SipHash-2-4 with its 128-bit output, little-endian as the reference. */
void
siphash24_128(const uint8_t key[16], const void *data, size_t len,
    uint8_t out[SIPHASH128_LEN])
{
	uint64_t	 v[4], v0, v1, v2, v3, h[2];
	int		 i, j;

	siphash24_core(key, data, len, 1, v);
	h[0] = v[0] ^ v[1] ^ v[2] ^ v[3];
	v0 = v[0];
	v1 = v[1] ^ 0xdd;
	v2 = v[2];
	v3 = v[3];
	for (i = 0; i < 4; i++)
		SIPROUND;
	h[1] = v0 ^ v1 ^ v2 ^ v3;
	for (i = 0; i < 2; i++)
		for (j = 0; j < 8; j++)
			out[8 * i + j] = (uint8_t)(h[i] >> (8 * j));
}
