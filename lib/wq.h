/* wq.h - the daemon's bounded work queue, with in-flight and retry state
 * SYNOPSIS     struct wq *wq_new(size_t cap, const struct wq_backoff *bo);
 *              int wq_push(struct wq *q, const char *name, int adopt,
 *                          int block);
 *              int wq_pop(struct wq *q, struct wq_item *it);
 *              void wq_done(struct wq *q, const struct wq_item *it,
 *                           const char *park_name, time_t retry_at,
 *                           int temp);
 *              void wq_close(struct wq *q);
 * DESCRIPTION  The only mutable state the watcher, the scanner and the
 *              workers share: one mutex and three condition variables
 *              (can_pop: an item is queued or the pause ended; can_push:
 *              there is room again; idle: nothing is in flight). It holds
 *              every name the daemon currently knows about:
 *                queued     waiting for a worker (at most cap of them);
 *                in flight  taken by a worker;
 *                deferred   sent back to new/ after a transient failure,
 *                           due again after an exponential backoff
 *                           (initial_s doubling up to max_s).
 *              A name is known at most once, so the watcher, the rescans
 *              and the retry timer can all offer the same name: it is
 *              queued once and claimed once (the claim rename decides
 *              anyway). After pause_after transient failures in a row (a
 *              dependency is down), or at wq_pause() (the sending account
 *              is paused), workers get nothing until a pause that doubles
 *              with each pause in a row, up to max_s, has passed: no busy
 *              loop. A success ends the run of pauses. Each queued item
 *              gets a sequence number, so that a drain request can wait
 *              until everything queued before a point is done
 *              (wq_done_upto). Every function is thread-safe.
 * DIAGNOSTICS  wq_push: 1 queued, 0 not queued (known and not due, or
 *              full without block), -1 closed. wq_pop: 1 got one, 0
 *              closed. wq_trypop: 1 got one, 0 none ready, -1 closed.
 *              wq_wait_idle: 1 idle, 0 timed out. Nothing here fails
 *              otherwise (allocation failure aborts, mr.h).
 * SEE ALSO     eng.h, daemon.h, design.md s.3
 */
#ifndef MR_WQ_H
#define MR_WQ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "md.h"

struct wq_backoff {
	long initial_s;  /* first retry delay */
	long max_s;      /* cap of the doubling delay */
	int pause_after; /* transient failures in a row before a pause */
};

struct wq_item {
	char name[MD_NAME_MAX + 8]; /* new/ name, or cur/ name when adopt */
	int adopt;                  /* a claimed message left by a dead run */
	int attempts;               /* earlier transient failures */
	uint64_t seq;
};

struct wq_counts {
	size_t queued, in_flight, deferred;
	uint64_t last_seq;
	time_t paused_until;
};

struct wq;

struct wq *wq_new(size_t cap, const struct wq_backoff *bo);
void wq_free(struct wq **q);
void wq_set_backoff(struct wq *q, const struct wq_backoff *bo);

/* Offer a name. Returns 1 queued, 0 not queued (already known and not due,
 * or the queue is full and block is 0), -1 closed. With block, waits for
 * room. */
int wq_push(struct wq *q, const char *name, int adopt, int block);
/* Take the next item, waiting while the queue is empty or paused. 1 got
 * one (now in flight), 0 the queue was closed. */
int wq_pop(struct wq *q, struct wq_item *it);
/* The same without waiting: 1 got one, 0 none ready now (empty or
 * paused), -1 closed. */
int wq_trypop(struct wq *q, struct wq_item *it);
/* A worker is done with it. retry_at > 0: the message went back to new/ as
 * park_name; it is deferred until retry_at (see wq_retry_at). temp: the
 * outcome was a transient failure (drives the global pause). */
void wq_done(struct wq *q, const struct wq_item *it, const char *park_name,
	     time_t retry_at, int temp);
/* Pause every worker now, as after pause_after transient failures in a
 * row (a transport said the whole account is stopped). */
void wq_pause(struct wq *q);
/* When a message that failed attempts times should be tried again. */
time_t wq_retry_at(const struct wq *q, int attempts, time_t now);
/* 1 if the name is queued, in flight, or deferred and not yet due: a scan
 * skips it. (A md_skip_fn.) */
int wq_busy(const char *name, void *q);
/* Queue the deferred names that are due; returns how many. */
size_t wq_release_due(struct wq *q, time_t now);
/* 1 when no item with a sequence number <= seq is queued or in flight. */
int wq_done_upto(struct wq *q, uint64_t seq);
void wq_counts(struct wq *q, struct wq_counts *c);
/* Stop: queued items are dropped (they are still in new/), wq_pop returns
 * 0 and wq_push -1 from now on. */
void wq_close(struct wq *q);
/* Wait until nothing is in flight, at most timeout_ms. 1 idle, 0 not. */
int wq_wait_idle(struct wq *q, long timeout_ms);

#endif
