/* expire.c - retention passes and their events (contract: expire.h)
 *
 * The spool side (what is old enough, unlink, fsync) is md_expire's
 * (maildir/expire.c); this module only turns each removal into an event.
 */
#include "expire.h"

#include "event.h"

void exp_emit(struct ev_log *ev, const char *uniq, int failed)
{
	if (ev != NULL)
		(void)ev_emit_expired(ev, uniq,
				      failed ? "retention.failed_s"
					     : "retention.handled_s");
}

static void on_removed(const char *uniq, int failed, void *arg)
{
	exp_emit(arg, uniq, failed);
}

int exp_run(struct md_spool *sp, long handled_s, long failed_s,
	    struct ev_log *ev, time_t now, struct md_expired *out,
	    struct mr_err *err)
{
	return md_expire(sp, now, handled_s, failed_s, on_removed, ev, out,
			 err);
}
