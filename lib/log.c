/* log.c - diagnostics (contract: log.h)
 *
 * One global set up by log_init() before threads start. Each line is written
 * with a single write(2) so that lines from several threads do not
 * interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static struct {
	const char *prog;
	int to_syslog;
	enum log_level level;
} lg = {"mailresponder", 0, LOG_LVL_INFO};

void log_init(const char *progname, int to_syslog, enum log_level level)
{
	lg.prog = progname;
	lg.to_syslog = to_syslog;
	lg.level = level;
	(void)mr_hostname(); /* fill its cache before threads start */
	if (to_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_level(enum log_level level)
{
	lg.level = level;
}

int log_level_parse(const char *s)
{
	static const char *const names[] = {"err", "warn", "info", "debug"};

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static void log_v(enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *const tag[] = {"error", "warning", "info", "debug"};
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char msg[2048];
	char line[2200];
	int n;

	if (lvl > lg.level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	/* a truncated diagnostic is still useful */
	if (lg.to_syslog) {
		syslog(prio[lvl], "%s: %s", tag[lvl], msg);
		return;
	}
	n = snprintf(line, sizeof(line), "%s: %s: %s\n", lg.prog, tag[lvl],
		     msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* nowhere to report a failed write of a diagnostic */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

#define LOG_FN(name, lvl)                                                      \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_v(lvl, fmt, ap);                                           \
		va_end(ap);                                                    \
	}

LOG_FN(log_err, LOG_LVL_ERR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

const char *log_strerror(int errnum)
{
	const char *s = strerrordesc_np(errnum);

	return s ? s : "unknown error";
}

static int is_sep(unsigned char c)
{
	return c <= ' ' || c == '<' || c == '>' || c == '"' || c == '\'' ||
	       c == ',' || c == ';' || c == '(' || c == ')' || c == '[' ||
	       c == ']' || c == 127;
}

void log_redact(char *dst, size_t n, const char *src)
{
	static const char red[] = "<redacted>";
	size_t o = 0;
	const char *p = src;

	if (n == 0)
		return;
	while (*p && o + 1 < n) {
		const char *e = p;
		int at = 0;

		if (is_sep((unsigned char)*p)) {
			unsigned char c = (unsigned char)*p++;

			dst[o++] = (char)(c < ' ' || c == 127 ? ' ' : c);
			continue;
		}
		while (*e && !is_sep((unsigned char)*e)) {
			if (*e == '@')
				at = 1;
			e++;
		}
		if (at) {
			for (size_t i = 0; red[i] && o + 1 < n; i++)
				dst[o++] = red[i];
		} else {
			while (p < e && o + 1 < n)
				dst[o++] = *p++;
		}
		p = e;
	}
	dst[o] = 0;
}
