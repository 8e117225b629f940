/* expire.h - retention of finished requests (design.md s.3)
 * SYNOPSIS     int exp_run(struct md_spool *, long handled_s, long failed_s,
 *                          struct ev_log *, time_t now, struct md_expired *,
 *                          struct mr_err *);
 * DESCRIPTION  One retention pass over the spool with the settings'
 *              retention.handled_s and retention.failed_s (md_expire):
 *              each removed request gets an event line (outcome
 *              "expired", reason naming the setting that removed it, the
 *              unique name; never an address). Used by the daemon (hourly,
 *              in its scanner thread, off the workers) and by the expire
 *              command. The caller passes now: mr_time(), which tests shift
 *              with MAILRESPONDER_CLOCK_OFFSET_S to age files whose change
 *              time they cannot set.
 * DIAGNOSTICS  0, or -1 with err.
 * SEE ALSO     md.h, event.h; mailresponder(8) expire
 */
#ifndef MR_EXPIRE_H
#define MR_EXPIRE_H

#include <time.h>

#include "md.h"
#include "mr.h"

struct ev_log;

int exp_run(struct md_spool *sp, long handled_s, long failed_s,
	    struct ev_log *ev, time_t now, struct md_expired *out,
	    struct mr_err *err);
/* The event of one request removed at once (retention 0). */
void exp_emit(struct ev_log *ev, const char *uniq, int failed);

#endif
