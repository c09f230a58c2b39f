/*
 * siphash.c against an independent implementation: OpenSSL's SIPHASH
 * MAC (SipHash-2-4), in both output sizes, over every input length up
 * to a few blocks and more than one key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "siphash.h"

/* OpenSSL's SipHash-2-4 of data, outlen (8 or 16) bytes. */
static void
openssl_siphash(const uint8_t key[16], const uint8_t *data, size_t len,
    uint8_t *out, size_t outlen)
{
	EVP_MAC		*mac;
	EVP_MAC_CTX	*ctx;
	OSSL_PARAM	 params[2];
	size_t		 n = 0;

	mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	assert_non_null(mac);
	ctx = EVP_MAC_CTX_new(mac);
	assert_non_null(ctx);
	params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen);
	params[1] = OSSL_PARAM_construct_end();
	assert_int_equal(EVP_MAC_init(ctx, key, 16, params), 1);
	assert_int_equal(EVP_MAC_update(ctx, data, len), 1);
	assert_int_equal(EVP_MAC_final(ctx, out, &n, outlen), 1);
	assert_int_equal(n, outlen);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}

/* The 64-bit value as the reference writes it: little-endian bytes. */
static void
le64_bytes(uint64_t v, uint8_t out[8])
{
	int	 i;

	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Lengths 0..63 (every tail length, several blocks), the reference
 * key 00..0f and another: both output sizes match OpenSSL's.
 */
static void
siphash__both_sizes__match_openssl(void **state)
{
	uint8_t		 key[2][16], data[64], want[16], got[16];
	size_t		 len;
	int		 i, k;

	(void)state;
	for (i = 0; i < 16; i++) {
		key[0][i] = (uint8_t)i;
		key[1][i] = (uint8_t)(0xa5 ^ (i * 37));
	}
	for (i = 0; i < 64; i++)
		data[i] = (uint8_t)i;
	for (k = 0; k < 2; k++)
		for (len = 0; len < sizeof data; len++) {
			openssl_siphash(key[k], data, len, want, 8);
			le64_bytes(siphash24(key[k], data, len), got);
			assert_memory_equal(got, want, 8);
			openssl_siphash(key[k], data, len, want, 16);
			siphash24_128(key[k], data, len, got);
			assert_memory_equal(got, want, 16);
		}
}

/* The 128-bit digest is no widened 64-bit one: the halves differ. */
static void
siphash__128__not_the_64_bit_value(void **state)
{
	uint8_t		 key[16] = { 0 }, narrow[8], wide[16];

	(void)state;
	le64_bytes(siphash24(key, "secret", 6), narrow);
	siphash24_128(key, "secret", 6, wide);
	assert_memory_not_equal(narrow, wide, 8);
	assert_memory_not_equal(narrow, wide + 8, 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(siphash__both_sizes__match_openssl),
		cmocka_unit_test(siphash__128__not_the_64_bit_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
