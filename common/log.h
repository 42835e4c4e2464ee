/*
 * log.h - one-line log records to stderr or a file, logfmt or JSON.
 *
 * Every line carries the time, level, process role and index and pid, so the
 * interleaved output of all hookd processes can be told apart.  A line is
 * written with one write(2) on an O_APPEND descriptor, so lines of different
 * processes never mix.
 */
#ifndef HK_LOG_H
#define HK_LOG_H

#include <stdarg.h>

enum hk_log_level {
	HK_LOG_DEBUG,
	HK_LOG_INFO,
	HK_LOG_WARN,
	HK_LOG_ERROR,
};

enum hk_log_format {
	HK_LOG_LOGFMT,
	HK_LOG_JSON,
};

int  hk_log_level_parse(const char *s);		/* -1 if unknown */
int  hk_log_format_parse(const char *s);	/* -1 if unknown */
void hk_log_setup(int level, int format, const char *file);
void hk_log_identity(const char *role, int index);
int  hk_log_reopen(void);
int  hk_log_enabled(int level);

void hk_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* hk_log at error level with ": strerror(errno)" appended. */
void hk_log_errno(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Log and exit(1); hk_fatal appends strerror(errno), hk_fatalx does not. */
void hk_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void hk_fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#define hk_log_debug(...) \
	do { if (hk_log_enabled(HK_LOG_DEBUG)) hk_log(HK_LOG_DEBUG, __VA_ARGS__); } while (0)
#define hk_log_info(...)  hk_log(HK_LOG_INFO, __VA_ARGS__)
#define hk_log_warn(...)  hk_log(HK_LOG_WARN, __VA_ARGS__)
#define hk_log_error(...) hk_log(HK_LOG_ERROR, __VA_ARGS__)

#endif
