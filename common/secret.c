/* Secret generation and comparison that leaks no timing. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "secret.h"

/*
 * Compare two NUL-terminated secrets in time that depends only on the
 * length of the first (ours), so a peer cannot learn a prefix by timing.
 */
int
secret_equal(const char *ours, const char *theirs)
{
	size_t			 n = strlen(ours), m = strlen(theirs), i;
	volatile unsigned char	 diff = (unsigned char)(n != m);

	for (i = 0; i < n; i++)
		diff |= (unsigned char)ours[i] ^
		    (unsigned char)(i < m ? theirs[i] : 0);
	return diff == 0;
}

int
secret_random_bytes(void *buf, size_t len)
{
	unsigned char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A random secret of len-1 characters from an unambiguous alphabet. */
int
secret_generate(char *buf, size_t len)
{
	static const char	 alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
	unsigned char		 r[128];
	size_t			 i, n;

	if (len < 2)
		return -1;
	n = len - 1 < sizeof r ? len - 1 : sizeof r;
	if (secret_random_bytes(r, n) != 0)
		return -1;
	for (i = 0; i < n; i++)
		buf[i] = alphabet[r[i] % (sizeof alphabet - 1)];
	buf[n] = '\0';
	return 0;
}
