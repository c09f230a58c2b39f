/*
 * Leveled logging to stderr (and a --log-file besides), in the OpenBSD
 * log API's shape.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>
#include <stdarg.h>

enum log_level { LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void	log_init(const char *, int);
int	log_set_file(const char *);
int	log_reopen(void);
void	log_setverbose(int);
int	log_getverbose(void);
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_errorx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* Bytes a peer sent, made safe to log: escaped and capped. */
#define LOG_ESCAPE_MAX 128
const char *log_escape(const char *, size_t, char *, size_t);
const char *log_safe(const char *);

#endif
