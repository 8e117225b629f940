/* event.h - the event log: one JSON object per line per handled message
 * SYNOPSIS     struct ev_log *ev_open(const char *spec, struct mr_err *);
 *              int ev_emit(struct ev_log *, const struct ev_rec *);
 * DESCRIPTION  spec is "stderr", "syslog" (LOCAL1) or a file path (opened
 *              O_APPEND, created 0600). Each record is one line written
 *              with one write(2), so lines from several threads or
 *              processes never interleave. Fields (design.md s.8): ts,
 *              file, outcome, reason, requested, sender_hash, ms, replies,
 *              error when set, and entries when the request was answered:
 *              one {"i":index,"r":result[,"reason":word]} per config entry
 *              tried (never an address). The sender appears only as a keyed hash
 *              (HMAC-SHA-256 with the event key): never in clear.
 */
#ifndef MR_EVENT_H
#define MR_EVENT_H

#include "mr.h"

struct ev_log;

/* One config entry's result. */
struct ev_entry {
	int i;		    /* config entry index */
	const char *r;	    /* sent | journal | retry | failed */
	const char *reason; /* failure word, or NULL */
};

struct ev_rec {
	const char *file;	 /* unique name */
	const char *outcome;	 /* replied | ignored | failed | retry */
	const char *reason;	 /* policy word or failure reason */
	const char *requested;	 /* our address, or NULL */
	const char *sender_hash; /* keyed hash, or NULL */
	long ms;		 /* processing time */
	int replies;		 /* replies sent to the requester */
	int forwarded;		 /* admin forwards sent */
	const char *error;	 /* redacted error text, or NULL */
	const struct ev_entry *entries; /* NULL: no "entries" field */
	size_t n_entries;
};

struct ev_log *ev_open(const char *spec, struct mr_err *err);
void ev_close(struct ev_log **ev);
int ev_emit(struct ev_log *ev, const struct ev_rec *rec);

#endif
