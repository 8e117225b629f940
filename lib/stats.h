/* stats.h - the stats report: a summary of the event log (design.md s.8)
 * SYNOPSIS     int stats_read_log(const char *path, time_t from, time_t to,
 *                                 struct met *m, struct stats_read *rd,
 *                                 struct mr_err *err);
 *              void stats_text(const struct stats_report *r,
 *                              struct mr_buf *out);
 *              char *stats_json_dup(const struct stats_report *);
 *              int stats_mail(const struct snap *, const char *text, ...);
 * DESCRIPTION  stats_read_log reads the event log file and its logrotate
 *              siblings in the same folder (path.1, path.2.gz,
 *              path-20261204, path-20261204.gz: the name, "." or "-", digits,
 *              "-" or "_", and an optional ".gz"; gzip through zlib) and
 *              counts every record whose ts is in [from, to) into the
 *              counter model (metrics.h). Files last written before from
 *              are skipped unread. Lines are parsed by a small scanner of
 *              flat JSON objects (nested values are skipped): a line that
 *              is not one whole object with ts, outcome, reason and ms -
 *              garbage, a truncated last line - is counted as bad and
 *              skipped. The report never shows a requester's address:
 *              the event log holds none, and requested addresses that are
 *              not our own (responder config, From, complaints,
 *              own_addresses) are shown together as "(other)".
 *              stats_mail sends the report as a text mail from the
 *              configured From to each stats address (stats_addresses,
 *              else admin_addresses) through the SMTP transport (or the
 *              override), DKIM-signed like replies.
 * DIAGNOSTICS  stats_read_log: 0, or -1 with err when the live file (or
 *              the folder) cannot be read; an unreadable or broken rotated
 *              file is a warning and counted in files_bad. stats_mail: 0,
 *              or -1 with err (the first failed send stops).
 * SEE ALSO     metrics.h, event.h; mailresponder(8) stats
 */
#ifndef MR_STATS_H
#define MR_STATS_H

#include <time.h>

#include "mr.h"

struct met;
struct snap;

struct stats_read {
	long files;     /* files read */
	long files_bad; /* files that could not be read to their end */
	long lines;     /* lines read */
	long bad;       /* lines that are not an event record */
	long in_window; /* records counted */
};

/* One line (without its newline): 1 counted, 0 outside [from, to), -1
 * not an event record. */
int stats_line(const char *line, size_t len, time_t from, time_t to,
	       struct met *m);

int stats_read_log(const char *path, time_t from, time_t to, struct met *m,
		   struct stats_read *r, struct mr_err *err);

struct stats_report {
	const struct snap *sn; /* own addresses, host, failed folder name */
	const struct met *m;
	const struct stats_read *rd;
	time_t from, to;
	const char *event_log;
	long failed_n; /* failed folder: messages, bytes, oldest mtime */
	long long failed_bytes;
	time_t failed_oldest;
	time_t now;
};

void stats_text(const struct stats_report *r, struct mr_buf *out);
char *stats_json_dup(const struct stats_report *r);

/* Parse "2026-12-04", "2026-12-04T10:00[:00][Z]" (UTC) or "@<epoch>";
 * 0 or -1. */
int stats_parse_time(const char *s, time_t *t_r);
/* Parse a duration "90", "90s", "15m", "24h", "7d" into seconds; 0 or -1. */
int stats_parse_duration(const char *s, long *s_r);

int stats_mail(const struct snap *sn, const char *text, time_t from, time_t to,
	       time_t now, struct mr_err *err);

#endif
