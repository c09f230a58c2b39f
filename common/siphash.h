/* SipHash-2-4: a keyed hash, used to sign session ids with the cluster secret. */
#ifndef SIPHASH_H
#define SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t	siphash24(const uint8_t key[16], const void *, size_t);

#endif
