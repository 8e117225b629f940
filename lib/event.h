/* event.h - the event log: one JSON object per line per handled message
 * SYNOPSIS     struct ev_log *ev_open(const char *spec, struct mr_err *);
 *              int ev_emit(struct ev_log *, const struct ev_rec *);
 *              int ev_reopen(struct ev_log *, struct mr_err *);
 *              struct met *ev_metrics(struct ev_log *);
 * DESCRIPTION  spec is "stderr", "syslog" (LOCAL1) or a file path (opened
 *              O_APPEND, created 0600). Each record is one line written
 *              with one write(2), so lines from several threads or
 *              processes never interleave. Fields (design.md s.8): ts,
 *              file, outcome, reason, requested, sender_hash, ms, replies,
 *              forwarded, forward_reason, forward_held and error when
 *              set, and entries when the request
 *              was answered: one {"i":index,"r":result[,"reason":word]}
 *              per config entry tried (never an address). The sender
 *              appears only as a keyed hash (HMAC-SHA-256 with the event
 *              key): never in clear.
 *              Every record also goes, once, into the log's counter model
 *              (metrics.h), which status and the drain summary read; the
 *              entries whose result is retry or failed count as failed
 *              entries.
 *              ev_reopen opens the path again (after logrotate renamed the
 *              file): a record is written whole to either the old or the
 *              new file, never split, never lost.
 * DIAGNOSTICS  ev_open: NULL with err when the file cannot be opened or
 *              created. ev_emit: 0, or -1 when the write failed (logged;
 *              the message's outcome stands). ev_reopen: 0, or -1 with err
 *              (the old file stays in use).
 * SEE ALSO     metrics.h, job.h; design.md s.8
 */
#ifndef MR_EVENT_H
#define MR_EVENT_H

#include "mr.h"

struct ev_log;

/* One config entry's result. */
struct ev_entry {
	int i;              /* config entry index */
	const char *r;      /* sent | journal | retry | failed */
	const char *reason; /* failure word, or NULL */
};

struct ev_rec {
	const char *file;               /* unique name */
	const char *outcome;            /* replied | ignored | failed | retry */
	const char *reason;             /* policy word or failure reason */
	const char *requested;          /* our address, or NULL */
	const char *sender_hash;        /* keyed hash, or NULL */
	long ms;                        /* processing time */
	int replies;                    /* replies sent to the requester */
	int forwarded;                  /* admin forwards sent */
	const char *error;              /* redacted error text, or NULL */
	const struct ev_entry *entries; /* NULL: no "entries" field */
	size_t n_entries;
	const char *forward_reason; /* reason of a wanted forward, or NULL */
	int forward_held;           /* the hourly cap held that forward back */
};

struct met;

struct ev_log *ev_open(const char *spec, struct mr_err *err);
void ev_close(struct ev_log **ev);
int ev_emit(struct ev_log *ev, const struct ev_rec *rec);
/* A request removed by retention: {"ts","file","outcome":"expired",
 * "reason"}; not counted as a handled message. 0 or -1 (logged). */
int ev_emit_expired(struct ev_log *ev, const char *file, const char *reason);
/* A file log: open the path anew and write there from now on; stderr and
 * syslog: nothing to do. 0, or -1 with err (the old file stays in use). */
int ev_reopen(struct ev_log *ev, struct mr_err *err);
/* The counters of every record emitted through ev (owned by ev). */
struct met *ev_metrics(struct ev_log *ev);

#endif
