/* pace.h - spread sends evenly under a rate shared by every worker
 * SYNOPSIS     struct pace *pace_new(long per_s);
 *              void pace_wait(struct pace *);
 * DESCRIPTION  pace_wait() reserves the next free send slot (slots are
 *              1/per_s apart) under a mutex and sleeps until it comes, so
 *              the workers together never start more than per_s sends in
 *              any second, whatever their number. A burst is smoothed
 *              instead of being refused by the service (SES answers
 *              "Maximum sending rate exceeded"). per_s 0: no pacing.
 */
#ifndef MR_PACE_H
#define MR_PACE_H

struct pace;

struct pace *pace_new(long per_s);
void pace_free(struct pace **p);
void pace_wait(struct pace *p);

#endif
