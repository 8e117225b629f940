/* fwdcap.h - the hourly cap on admin forwards, per reason
 * SYNOPSIS     int fwdcap_take(struct st *, const struct hash_key *,
 *                              const char *uniq, const char *reason,
 *                              long cap, time_t now, int *allowed_r,
 *                              struct mr_err *);
 * DESCRIPTION  A spam wave must not flood the admins: at most cap
 *              messages per reason and UTC hour are forwarded. The count
 *              lives in the state store as one more daily count, under
 *              the hash of "forward-cap/<reason>/<unix time / 3600>", so
 *              it is atomic across workers, survives a restart, is shared
 *              by every host of a fleet on one MySQL store, and goes with
 *              the counts of past days. Each message is counted once, even when
 *              it is retried or recovered (journal key "<uniq>/fwdcap").
 * DIAGNOSTICS  0, or -1 with err (the store's: MR_TEMP when busy/down).
 * SEE ALSO     store.h, job.h
 */
#ifndef MR_FWDCAP_H
#define MR_FWDCAP_H

#include <time.h>

#include "mr.h"

struct st;
struct hash_key;

/* Count one forward of uniq for reason in the hour of now; *allowed_r is
 * 1 when it is within cap (cap 0: always). */
int fwdcap_take(struct st *st, const struct hash_key *key, const char *uniq,
		const char *reason, long cap, time_t now, int *allowed_r,
		struct mr_err *err);
/* Messages counted for reason in the hour of now (0 when none). */
int fwdcap_count(struct st *st, const struct hash_key *key, const char *reason,
		 time_t now, long *count_r, struct mr_err *err);

/* One line for status: "forwards this hour: ..." with, for each reason
 * in reasons (a pol_reasons set) that was counted this hour, the count and
 * how many of them the cap held back. 0, or -1 with err (nothing
 * printed). */
int fwdcap_print(struct st *st, const struct hash_key *key,
		 unsigned long long reasons, long cap, time_t now, void *f,
		 struct mr_err *err);

#endif
