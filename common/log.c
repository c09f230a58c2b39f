/*
 * Leveled logging to stderr and, when one is set, a log file that can be
 * reopened after rotation; libevent's own messages are routed here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

static const char	*log_procname = "activity";
static int		 log_verbose;
static int		 log_fd = -1;		/* the log file, or -1 */
static char		*log_path;

static void
log_event_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

/* Set the program name and verbosity; route libevent's log through us. */
void
log_init(const char *procname, int verbose)
{
	log_procname = procname;
	log_verbose = verbose;
	event_set_log_callback(log_event_cb);
}

/*
 * Log to path as well as to stderr (NULL: stderr only).  The file is
 * opened for appending, so logrotate's rename then log_reopen() loses
 * nothing; on failure the previous file stays in use.
 */
int
log_set_file(const char *path)
{
	char	*copy = NULL;
	int	 fd = -1;

	if (path != NULL) {
		if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640)) == -1)
			return -1;
		if ((copy = strdup(path)) == NULL) {
			close(fd);
			return -1;
		}
	}
	if (log_fd != -1)
		close(log_fd);
	free(log_path);
	log_fd = fd;
	log_path = copy;
	return 0;
}

/* Open the log file again by name (after a rotation). */
int
log_reopen(void)
{
	char	*path;
	int	 rc;

	if (log_path == NULL)
		return 0;
	if ((path = strdup(log_path)) == NULL)
		return -1;
	rc = log_set_file(path);
	free(path);
	return rc;
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return log_verbose;
}

static void
log_vwrite(const char *level, const char *fmt, va_list ap, const char *err)
{
	char		 msg[2048], line[2560];
	struct timespec	 ts;
	struct tm	 tm;
	int		 n;

	vsnprintf(msg, sizeof msg, fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof line,
	    "%02d:%02d:%02d.%03ld %s[%d] %s: %s%s%s\n", tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_procname, (int)getpid(),
	    level, msg, err != NULL ? ": " : "", err != NULL ? err : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	fputs(line, stderr);
	if (log_fd != -1)
		(void)!write(log_fd, line, (size_t)n);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite("warning", fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

/* Something is wrong that an operator must fix; always printed. */
void
log_error(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite("error", fmt, ap, NULL);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite("warning", fmt, ap, NULL);
	va_end(ap);
}

/* An error the program cannot go on from, logged before it exits. */
void
log_errorx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite("error", fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	if (log_verbose < LOG_LVL_INFO)
		return;
	va_start(ap, fmt);
	log_vwrite("info", fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_verbose < LOG_LVL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vwrite("debug", fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite("fatal", fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite("fatal", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

/*
 * Escape up to LOG_ESCAPE_MAX bytes of peer data into buf so a log line
 * can neither be forged with newlines nor flooded.
 */
const char *
log_escape(const char *p, size_t len, char *buf, size_t bufsz)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0;
	unsigned char		 c;

	if (bufsz == 0)
		return "";
	for (i = 0; i < len && i < LOG_ESCAPE_MAX; i++) {
		c = (unsigned char)p[i];
		if (o + 5 >= bufsz)
			break;
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	if (i < len && o + 4 < bufsz) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/*
 * log_escape() a peer-supplied string into one of a few static buffers,
 * so a log call can take several: log_info("%s", log_safe(name)).
 */
const char *
log_safe(const char *s)
{
	static char	 bufs[4][LOG_ESCAPE_MAX * 4 + 8];
	static int	 next;
	char		*b = bufs[next++ % 4];

	if (s == NULL)
		return "(null)";
	return log_escape(s, strlen(s), b, sizeof bufs[0]);
}
