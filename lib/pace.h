/* pace.h - spread sends evenly under a rate shared by every worker
 * SYNOPSIS     struct pace *pace_new(long per_s);
 *              void pace_wait(struct pace *p);
 *              void pace_free(struct pace **p);
 * DESCRIPTION  pace_wait() reserves the next free send slot (slots are
 *              1/per_s apart, on the monotonic clock) under a mutex and
 *              sleeps until it comes, so the workers together never start
 *              more than per_s sends in any second, whatever their
 *              number. A burst is smoothed instead of being refused by the
 *              service (SES answers "Maximum sending rate exceeded").
 *              per_s 0, or p NULL: no pacing.
 * DIAGNOSTICS  None: pace_wait cannot fail (a signal does not cut the
 *              sleep short).
 * SEE ALSO     tx.h ("ses"), snap.h (one pace per snapshot)
 */
#ifndef MR_PACE_H
#define MR_PACE_H

struct pace;

struct pace *pace_new(long per_s);
void pace_free(struct pace **p);
void pace_wait(struct pace *p);

#endif
