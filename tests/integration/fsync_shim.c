/*
 * An LD_PRELOAD seam for durability tests: the server's fdatasync and
 * fsync go through here.  Reading a journal back proves nothing about
 * durability (kill -9 keeps the page cache), so a test instead checks
 * that the flush happened before the reply, and that a flush that fails
 * is not answered as success.
 *
 *   FSYNC_SHIM_LOG=path	append "fdatasync PATH" (or "fsync PATH") for
 *			each call, PATH being what the descriptor names
 *   FSYNC_SHIM_FAIL=path	while the file path exists, fail every call
 *			with EIO, syncing nothing (a test creates it once
 *			the server has started, which syncs too)
 *   FSYNC_SHIM_FULL=path	while the file path exists, the disk under
 *			users.journal is full: a write(2) to it writes half
 *			of what it was given, and the next one fails with
 *			ENOSPC, as a filling disk does
 */
#include <sys/types.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int	fdatasync(int);
int	fsync(int);
ssize_t	write(int, const void *, size_t);

/* Record one call in FSYNC_SHIM_LOG, if set, with one write(2). */
static void
shim_record(const char *what, int fd)
{
	const char	*log = getenv("FSYNC_SHIM_LOG");
	char		 link[64], target[1024], line[1200];
	ssize_t		 n;
	int		 lfd, len;

	if (log == NULL || *log == '\0')
		return;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if ((n = readlink(link, target, sizeof target - 1)) < 0)
		n = 0;
	target[n] = '\0';
	len = snprintf(line, sizeof line, "%s %s\n", what, target);
	if (len < 0 || (size_t)len >= sizeof line)
		return;
	if ((lfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		return;
	(void)!write(lfd, line, (size_t)len);
	close(lfd);
}

/* Fail the call (nothing synced) while FSYNC_SHIM_FAIL's file exists. */
static int
shim_fail(void)
{
	const char	*f = getenv("FSYNC_SHIM_FAIL");

	if (f == NULL || *f == '\0' || access(f, F_OK) != 0)
		return 0;
	errno = EIO;
	return 1;
}

/* The real function of that name, found past this library. */
static int
shim_real(const char *name, int fd)
{
	int	(*real)(int);

	*(void **)&real = dlsym(RTLD_NEXT, name);
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd);
}

int
fdatasync(int fd)
{
	shim_record("fdatasync", fd);
	if (shim_fail())
		return -1;
	return shim_real("fdatasync", fd);
}

int
fsync(int fd)
{
	shim_record("fsync", fd);
	if (shim_fail())
		return -1;
	return shim_real("fsync", fd);
}

/* Is fd the journal, on a disk FSYNC_SHIM_FULL says is full? */
static int
shim_full(int fd)
{
	const char	*f = getenv("FSYNC_SHIM_FULL");
	static const char journal[] = "/users.journal";
	char		 link[64], target[1024];
	ssize_t		 n;

	if (f == NULL || *f == '\0' || access(f, F_OK) != 0)
		return 0;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if ((n = readlink(link, target, sizeof target - 1)) <
	    (ssize_t)sizeof journal - 1)
		return 0;
	target[n] = '\0';
	return strcmp(target + n - (sizeof journal - 1), journal) == 0;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	static ssize_t	(*real)(int, const void *, size_t);
	static int	 half_written;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "write");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (!shim_full(fd)) {
		half_written = 0;
		return real(fd, buf, len);
	}
	if (!half_written && len > 1) {
		half_written = 1;
		return real(fd, buf, len / 2);
	}
	errno = ENOSPC;
	return -1;
}
