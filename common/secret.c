/*
 * Secret generation, comparison that leaks no timing, and reading a
 * secret from a file only its owner can read.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/*
 * The first line of path (without its CR or LF) into buf.  The file must
 * be a regular file that neither group nor others can read or write, and
 * the line must fit: a longer one is an error, never cut to a different
 * secret.  -1 with errno set and a message in err otherwise.
 */
int
secret_read_file(const char *path, char *buf, size_t len, char *err,
    size_t errlen)
{
	struct stat	 st;
	size_t		 n = 0, line;
	ssize_t		 r;
	int		 fd, saved;

	if (len < 2) {
		snprintf(err, errlen, "%s: no room for a secret", path);
		errno = EINVAL;
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1 ||
	    fstat(fd, &st) == -1) {
		saved = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
		if (fd != -1)
			close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s: group or others can access it "
		    "(mode %04o); a secret file must be private: chmod 600 %s",
		    path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		errno = EACCES;
		return -1;
	}
	/* Read until the first line ends or cannot fit (len - 1 chars). */
	buf[0] = '\0';
	while (n < len - 1 && strcspn(buf, "\r\n") == n) {
		r = read(fd, buf + n, len - 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			saved = errno;
			snprintf(err, errlen, "%s: read: %s", path,
			    strerror(saved));
			close(fd);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
	}
	for (line = 0; line < n; line++)
		if (buf[line] == '\r' || buf[line] == '\n' ||
		    buf[line] == '\0')
			break;
	if (line < n && buf[line] == '\0') {
		snprintf(err, errlen, "%s: the secret contains a NUL byte",
		    path);
		close(fd);
		explicit_bzero(buf, len);
		errno = EINVAL;
		return -1;
	}
	if (line == n && n == len - 1) {
		/* Full and no line end yet: is there more on this line? */
		char	 c;

		while ((r = read(fd, &c, 1)) == -1 && errno == EINTR)
			;
		if (r == 1 && c != '\n' && c != '\r') {
			snprintf(err, errlen, "%s: the secret is longer than "
			    "%zu characters", path, len - 1);
			close(fd);
			explicit_bzero(buf, len);
			errno = E2BIG;
			return -1;
		}
	}
	close(fd);
	buf[line] = '\0';
	if (line == 0) {
		snprintf(err, errlen, "%s: the first line is empty", path);
		errno = EINVAL;
		return -1;
	}
	return 0;
}
