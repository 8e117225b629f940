/* drain.h - process a spool's backlog and return (mailresponder drain)
 * SYNOPSIS     int drain_run(struct snap *, struct md_spool *, struct ev_log *,
 *                            struct drain_stats *, struct mr_err *);
 * DESCRIPTION  The caller holds the spool lock. First every claimed-but-
 *              unfinished message (cur/<uniq>:2,) left by a dead run is
 *              finished, then new/ is scanned in bounded batches and each
 *              entry claimed and handled, until a scan finds nothing. A
 *              message sent back for a retry is not taken again in the same
 *              run, and after DRAIN_MAX_TEMP consecutive temporary failures
 *              (a dependency is down) the run stops and leaves the rest in
 *              new/ for the next one.
 * DIAGNOSTICS  0 done (whatever the outcomes); -1 with err when the run
 *              could not go on (store unavailable, spool I/O error,
 *              dependency down).
 */
#ifndef MR_DRAIN_H
#define MR_DRAIN_H

#include "md.h"
#include "mr.h"

struct snap;
struct ev_log;

#define DRAIN_MAX_TEMP 20
#define DRAIN_MAX_REASONS 48

struct drain_stats {
	long handled;
	long replied, ignored, failed, retry;
	long replies; /* reply mails sent */
	long recovered;
	struct {
		char outcome[16];
		char reason[64];
		long n;
	} by_reason[DRAIN_MAX_REASONS];
	int n_reasons;
};

int drain_run(struct snap *sn, struct md_spool *sp, struct ev_log *ev,
	      struct drain_stats *stats, struct mr_err *err);

/* Print "outcome reason count" lines and a total line to f. */
void drain_stats_print(const struct drain_stats *stats, void *f);

#endif
