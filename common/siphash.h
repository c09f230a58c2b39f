/* SipHash-2-4: a keyed hash for hash tables and digests of secrets. */
#ifndef SIPHASH_H
#define SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH128_LEN	16

uint64_t	siphash24(const uint8_t key[16], const void *, size_t);
void		siphash24_128(const uint8_t key[16], const void *, size_t,
		    uint8_t[SIPHASH128_LEN]);

#endif
