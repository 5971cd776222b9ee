/*
 * log.h - logging: stderr in the foreground, syslog otherwise.
 * log_warn() and fatal() append strerror(errno); the x forms do not.
 */
#ifndef WSR_LOG_H
#define WSR_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG
};

#define PRINTFLIKE(a, b) __attribute__((format(printf, a, b)))

/* to_stderr: 1 stderr, 0 syslog (facility daemon). */
void log_init(int to_stderr, enum log_level level, const char *ident);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_level_parse(const char *s, enum log_level *out);

void log_warn(const char *, ...) PRINTFLIKE(1, 2);
void log_warnx(const char *, ...) PRINTFLIKE(1, 2);
void log_info(const char *, ...) PRINTFLIKE(1, 2);
void log_debug(const char *, ...) PRINTFLIKE(1, 2);
void fatal(const char *, ...) PRINTFLIKE(1, 2) __attribute__((noreturn));
void fatalx(const char *, ...) PRINTFLIKE(1, 2) __attribute__((noreturn));
void vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
    PRINTFLIKE(3, 0);

/* Route libevent's own messages through this log. */
void log_libevent(void);

#endif /* WSR_LOG_H */
