/* log.h - diagnostics to stderr or syslog (LOG_MAIL)
 * SYNOPSIS     void log_init(const char *progname, int to_syslog,
 *                            enum log_level level);
 *              void log_err(const char *fmt, ...);
 *              void log_warn(const char *fmt, ...);
 *              void log_info(const char *fmt, ...);
 *              void log_debug(const char *fmt, ...);
 *              const char *log_strerror(int errnum);
 *              void log_redact(char *dst, size_t n, const char *src);
 * DESCRIPTION  The logger is the only global; log_init() runs before any
 *              thread starts. Each line is written whole at once, so
 *              lines from several threads do not interleave; lines below
 *              the level are dropped. Messages read "what(object) failed:
 *              reason". Never pass a requester's address: log
 *              addr_hash_hex() or run foreign text through log_redact().
 *              log_strerror() is the thread-safe strerror (glibc's %m
 *              fails under -Wpedantic).
 * DIAGNOSTICS  None: logging never fails the caller (a lost line is
 *              lost). log_level_parse: -1 for an unknown word.
 * SEE ALSO     event.h (the event log is not the diagnostics log)
 */
#ifndef MR_LOG_H
#define MR_LOG_H

#include <stddef.h>

#include "mr.h"

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* to_syslog: 0 stderr, 1 syslog LOG_MAIL. */
void log_init(const char *progname, int to_syslog, enum log_level level);
void log_set_level(enum log_level level);
/* "err", "warn", "info", "debug" -> level; -1 if unknown */
int log_level_parse(const char *s);

void log_err(const char *fmt, ...) MR_PRINTF(1, 2);
void log_warn(const char *fmt, ...) MR_PRINTF(1, 2);
void log_info(const char *fmt, ...) MR_PRINTF(1, 2);
void log_debug(const char *fmt, ...) MR_PRINTF(1, 2);

/* Thread-safe description of an errno value. */
const char *log_strerror(int errnum);

/* Copy src into dst (size n), replacing every address-like token
 * (anything containing '@' between separators) with "<redacted>" and
 * control characters with spaces. Used for text that came from outside
 * (SMTP replies, library errors) before it reaches a log or event. */
void log_redact(char *dst, size_t n, const char *src);

#endif
