/* drain.h - process a spool's backlog and return (mailresponder drain)
 * SYNOPSIS     int drain_run(struct snap *, struct md_spool *, struct ev_log *,
 *                            long *recovered_r, struct mr_err *);
 * DESCRIPTION  The caller holds the spool lock. The daemon's engine
 *              (eng.h: the workers, group commit) without the watch:
 *              first every claimed-but-unfinished message (cur/<uniq>:2,)
 *              left by a dead run is finished, then new/ is scanned in
 *              bounded batches and each entry claimed and handled by the
 *              workers, until a scan finds nothing. A
 *              message sent back for a retry is not taken again in the same
 *              run, and after DRAIN_MAX_TEMP consecutive temporary failures
 *              (a dependency is down) the run stops (the messages in flight
 *              on other workers are finished) and leaves the rest in new/
 *              for the next one. Outcomes are counted where the events
 *              are emitted (ev_metrics); drain_print reads them there.
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

struct met;

/* *recovered_r: messages found claimed by a dead run and finished. */
int drain_run(struct snap *sn, struct md_spool *sp, struct ev_log *ev,
	      long *recovered_r, struct mr_err *err);

/* Print "outcome reason count" lines and a total line of the counters m
 * to f. */
void drain_print(const struct met *m, long recovered, void *f);

#endif
