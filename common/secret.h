/*
 * Secrets: generated from the kernel's random source, compared in constant
 * time, read from private files.
 */
#ifndef SECRET_H
#define SECRET_H

#include <stddef.h>

int	secret_equal(const char *, const char *);
int	secret_generate(char *, size_t);
int	secret_random_bytes(void *, size_t);
int	secret_read_file(const char *, char *, size_t, char *, size_t);

#endif
