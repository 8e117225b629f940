/* drain.h - process a spool's backlog and return (mailresponder drain)
 * SYNOPSIS     int drain_spool(struct snap *, long timeout_s, FILE *out);
 * DESCRIPTION  Opens the spool of the settings and takes its lock. Then
 *              the daemon's engine (eng.h: the workers, group commit)
 *              without the watch: first every claimed-but-unfinished
 *              message (cur/<uniq>:2,) left by a dead run is finished,
 *              then new/ is scanned in bounded batches and each entry
 *              claimed and handled by the workers, until a scan finds
 *              nothing. A message sent back for a retry is not taken again
 *              in the same run, and after DRAIN_MAX_TEMP consecutive
 *              temporary failures (a dependency is down) the run stops
 *              (the messages in flight on other workers are finished) and
 *              leaves the rest in new/ for the next one. The summary (the
 *              outcomes per reason, counted where the events are emitted)
 *              goes to out unless it is NULL.
 *              When a daemon owns the spool, the work is handed to it
 *              instead (ctl_drain: it rescans, and answers once the
 *              backlog present at the request is handled; at most
 *              timeout_s); without its control socket it gets SIGUSR1 and
 *              new/ is watched until empty. When another drain holds the
 *              lock, the backlog is left to it. SIGUSR1 is ignored from
 *              the first call on: a drain is not the daemon, and a second
 *              drain must not end it. sn is borrowed for the call.
 * DIAGNOSTICS  0 done (whatever the outcomes); -1, logged, when the spool
 *              could not be opened or locked, the event log not opened,
 *              the run not go on (store unavailable, spool I/O error,
 *              dependency down) or the daemon not do the work in time.
 * SEE ALSO     eng.h, ctl.h, daemon.h; design.md s.3, mailresponder(8)
 *              drain
 */
#ifndef MR_DRAIN_H
#define MR_DRAIN_H

#include <stdio.h>

struct snap;

#define DRAIN_MAX_TEMP 20
#define DRAIN_HANDOFF_TIMEOUT 600L /* seconds, mailresponder drain -t */

int drain_spool(struct snap *sn, long timeout_s, FILE *out);

#endif
