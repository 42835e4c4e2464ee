/*
 * log.c - one-line log records, logfmt or JSON, with process identity.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "core.h"
#include "log.h"

static struct {
	int   level;
	int   format;
	int   fd;		/* 2, or the configured file */
	char  file[512];
	char  role[16];
	int   index;
} hk_log_state = { HK_LOG_INFO, HK_LOG_LOGFMT, 2, "", "master", 0 };

static const char *hk_log_names[] = { "debug", "info", "warn", "error" };

int
hk_log_level_parse(const char *s)
{
	for (size_t i = 0; i < HK_NELEM(hk_log_names); i++)
		if (strcmp(s, hk_log_names[i]) == 0)
			return (int)i;
	return -1;
}

int
hk_log_format_parse(const char *s)
{
	if (strcmp(s, "logfmt") == 0)
		return HK_LOG_LOGFMT;
	if (strcmp(s, "json") == 0)
		return HK_LOG_JSON;
	return -1;
}

void
hk_log_setup(int level, int format, const char *file)
{
	hk_log_state.level = level;
	hk_log_state.format = format;
	snprintf(hk_log_state.file, sizeof(hk_log_state.file), "%s",
	    file ? file : "");
	hk_log_reopen();
}

void
hk_log_identity(const char *role, int index)
{
	snprintf(hk_log_state.role, sizeof(hk_log_state.role), "%s", role);
	hk_log_state.index = index;
}

/* hk_log_reopen - (re)open the log file, for USR1 after logrotate moved it. */
int
hk_log_reopen(void)
{
	int fd;

	if (hk_log_state.file[0] == '\0') {
		hk_log_state.fd = 2;
		return HK_OK;
	}
	fd = open(hk_log_state.file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0640);
	if (fd == -1) {
		hk_log_errno("open(\"%s\") for the log", hk_log_state.file);
		return HK_ERROR;
	}
	if (hk_log_state.fd != 2)
		close(hk_log_state.fd);
	hk_log_state.fd = fd;
	return HK_OK;
}

int
hk_log_enabled(int level)
{
	return level >= hk_log_state.level;
}

/* Quote s for logfmt or JSON into out; both escape '"', '\\' and controls. */
static size_t
hk_log_quote(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

static void hk_log_write(int level, const char *fmt, va_list ap, int err)
    __attribute__((format(printf, 2, 0)));

static void
hk_log_write(int level, const char *fmt, va_list ap, int err)
{
	char msg[2048], quoted[4200], ts[32], line[4600];
	int  n, saved = errno;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	hk_log_quote(quoted, sizeof(quoted), msg);
	hk_clock_iso8601(hk_clock_real_us(), ts, sizeof(ts));

	if (hk_log_state.format == HK_LOG_JSON)
		n = snprintf(line, sizeof(line),
		    "{\"ts\":\"%s\",\"level\":\"%s\",\"role\":\"%s\","
		    "\"index\":%d,\"pid\":%d,\"msg\":\"%s\"}\n",
		    ts, hk_log_names[level], hk_log_state.role,
		    hk_log_state.index, (int)getpid(), quoted);
	else
		n = snprintf(line, sizeof(line),
		    "ts=%s level=%s role=%s index=%d pid=%d msg=\"%s\"\n",
		    ts, hk_log_names[level], hk_log_state.role,
		    hk_log_state.index, (int)getpid(), quoted);
	if (n > 0) {
		if ((size_t)n >= sizeof(line))
			n = sizeof(line) - 1;
		/* One write per line; a short write to a log is not retried. */
		if (write(hk_log_state.fd, line, (size_t)n) < 0) {
			/* nowhere left to report it */
		}
	}
	errno = saved;
}

void
hk_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level < hk_log_state.level)
		return;
	va_start(ap, fmt);
	hk_log_write(level, fmt, ap, 0);
	va_end(ap);
}

void
hk_log_errno(const char *fmt, ...)
{
	va_list ap;
	int     err = errno;

	va_start(ap, fmt);
	hk_log_write(HK_LOG_ERROR, fmt, ap, err);
	va_end(ap);
}

void
hk_fatal(const char *fmt, ...)
{
	va_list ap;
	int     err = errno;

	va_start(ap, fmt);
	hk_log_write(HK_LOG_ERROR, fmt, ap, err);
	va_end(ap);
	exit(1);
}

void
hk_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hk_log_write(HK_LOG_ERROR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}
