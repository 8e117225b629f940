/* eng.h - the worker pool shared by the daemon and drain
 * SYNOPSIS     struct eng *eng_start(const struct eng_cfg *, struct mr_err *);
 *              int eng_scan(struct eng *, enum md_where, size_t *queued_r);
 * DESCRIPTION  N worker threads, each with its own job context (store
 *              handle, transports, signing), take names from one bounded
 *              work queue (wq.h), claim them and handle them in batches
 *              (group commit, job.h): a worker keeps adding messages to
 *              its batch while the queue has more for it, up to
 *              cfg->batch, and commits when the queue runs dry or the
 *              batch is full, so under light load every message is
 *              committed alone (no added latency) and under a burst one
 *              set of fsyncs and one store transaction serve many.
 *              eng_scan() is one streaming scan of new/ (or of the
 *              claimed messages of a dead run) that offers every name not
 *              yet known to the queue, waiting for room: memory stays
 *              bounded by the queue, never by the backlog. The daemon adds
 *              the watch and the timers; drain scans until nothing is
 *              left (design.md s.3: a drain is the daemon's scan without
 *              the watch).
 *              cfg->done is called from a worker thread after each
 *              message's outcome is durable and its event written.
 * DIAGNOSTICS  eng_start: NULL with err when a job context cannot be
 *              opened or a thread not started. eng_scan: 0, or -1 when
 *              the queue was closed or the spool could not be read
 *              (logged).
 * SEE ALSO     wq.h, job.h, daemon.h, drain.h; design.md s.3
 */
#ifndef MR_ENG_H
#define MR_ENG_H

#include <stddef.h>

#include "job.h"
#include "md.h"
#include "mr.h"
#include "wq.h"

struct snap;
struct ev_log;
struct eng;

typedef void (*eng_done_fn)(void *arg, const struct job_result *res,
			    int adopted);

struct eng_cfg {
	struct snap *sn;
	struct md_spool *sp;
	struct ev_log *ev;
	long workers; /* <= 0: one per core */
	size_t queue_cap;
	size_t batch; /* most messages per group commit */
	struct wq_backoff bo;
	int no_retry;     /* a retried message is not offered again */
	eng_done_fn done; /* may be NULL */
	void *arg;
};

struct eng *eng_start(const struct eng_cfg *cfg, struct mr_err *err);
/* Close the queue (what is queued stays in new/) and wait at most
 * timeout_ms for the messages in flight. 1 all finished and the workers
 * joined; 0 some still in flight (the caller exits: they stay claimed
 * and are recovered at the next start). */
int eng_stop(struct eng *e, long timeout_ms);
/* Only after eng_stop() returned 1, or before any thread started. */
void eng_free(struct eng **e);

/* Workers use sn from their next message on (takes a reference). */
void eng_set_snap(struct eng *e, struct snap *sn);
int eng_scan(struct eng *e, enum md_where where, size_t *queued_r);
/* Wait until nothing is queued or in flight, at most timeout_ms: 1 idle. */
int eng_wait_idle(struct eng *e, long timeout_ms);
struct wq *eng_queue(struct eng *e);
long eng_workers(const struct eng *e);
void eng_times(struct eng *e, struct job_times *t);

#endif
