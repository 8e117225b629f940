/* drain.c - process the backlog and return (drain.h)
 * DESCRIPTION  The daemon's engine (eng.h) without the watch: the same
 *              workers and group commit, fed by streaming scans of new/
 *              (bounded by the queue, so memory does not grow with the
 *              backlog) until a scan, made once the workers are idle,
 *              finds nothing new. A message sent back for a retry stays
 *              known to the queue as deferred with no due time, so it is
 *              not taken again in the same run.
 */
#include "drain.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eng.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"
#include "snap.h"

#define DRAIN_QUEUE 1024
#define DRAIN_COMMIT 32 /* most messages per group commit */

/* ---- the summary ---- */

void drain_print(const struct met *m, long recovered, void *fp)
{
	const char *outcome, *reason;
	FILE *f = fp;
	long n;

	for (size_t i = 0; met_reason_at(m, i, &outcome, &reason, &n); i++)
		fprintf(f, "  %-8s %-22s %ld\n", outcome, reason, n);
	fprintf(f,
		"  total: %ld handled (%ld recovered): %ld replied, "
		"%ld ignored, %ld failed, %ld retry; %ld reply mails sent\n",
		met_events(m), recovered, met_count(m, MET_REPLIED),
		met_count(m, MET_IGNORED), met_count(m, MET_FAILED),
		met_count(m, MET_RETRY), met_replies(m));
	if (met_forwards(m) || met_forwards_held(m))
		fprintf(f,
			"  forwards to the admins: %ld sent, %ld held back by "
			"the hourly cap\n",
			met_forwards(m), met_forwards_held(m));
}

/* ---- the run ---- */

struct drain {
	pthread_mutex_t mu;
	long recovered;
	int temp_in_row;
	int stop;
	struct eng *e;
	char why[640];
};

/* eng's done callback, from a worker thread */
static void on_done(void *arg, const struct job_result *r, int adopted)
{
	struct drain *d = arg;

	pthread_mutex_lock(&d->mu);
	d->recovered += adopted != 0;
	if (r->state != MD_RETRY) {
		d->temp_in_row = 0;
	} else if (++d->temp_in_row >= DRAIN_MAX_TEMP && !d->stop) {
		d->stop = 1;
		(void)snprintf(d->why, sizeof(d->why),
			       "%d temporary failures in a row (last: %s: %s); "
			       "leaving the rest for the next run",
			       d->temp_in_row, r->reason, r->error);
		/* the scan and the workers stop; the rest stays in new/ */
		wq_close(eng_queue(d->e));
	}
	pthread_mutex_unlock(&d->mu);
}

static int stopping(struct drain *d)
{
	int stop;

	pthread_mutex_lock(&d->mu);
	stop = d->stop;
	pthread_mutex_unlock(&d->mu);
	return stop;
}

/* Scan and wait until a scan finds nothing new. 0, or -1 (scan failed). */
static int run(struct eng *e, struct drain *d)
{
	size_t queued = 1;
	int rc = eng_scan(e, MD_CLAIMED, NULL);

	while (rc == 0 && queued > 0 && !stopping(d)) {
		rc = eng_scan(e, MD_NEW, &queued);
		while (!eng_wait_idle(e, 1000) && !stopping(d))
			;
	}
	return rc;
}

int drain_run(struct snap *sn, struct md_spool *sp, struct ev_log *ev,
	      long *recovered_r, struct mr_err *err)
{
	struct drain d = {.recovered = 0};
	struct eng_cfg cfg = {
		.sn = sn,
		.sp = sp,
		.ev = ev,
		.workers = sn->set->workers,
		.queue_cap = DRAIN_QUEUE,
		.batch = DRAIN_COMMIT,
		.bo = {1, 1, 0},
		.no_retry = 1,
		.done = on_done,
		.arg = &d,
	};
	struct eng *e;
	int rc;

	*recovered_r = 0;
	pthread_mutex_init(&d.mu, NULL);
	e = eng_start(&cfg, err);
	if (e == NULL) {
		pthread_mutex_destroy(&d.mu);
		return -1;
	}
	pthread_mutex_lock(&d.mu);
	d.e = e;
	pthread_mutex_unlock(&d.mu);
	rc = run(e, &d);
	/* what is still queued stays in new/ for the next run */
	while (!eng_stop(e, 60000))
		log_warn("drain: waiting for the messages in flight");
	eng_free(&e);
	if (d.stop) {
		mr_err_set(err, MR_TEMP, "%s", d.why);
		rc = -1;
	} else if (rc < 0) {
		mr_err_set(err, MR_TEMP, "spool: scan failed (logged)");
	}
	*recovered_r = d.recovered;
	pthread_mutex_destroy(&d.mu);
	return rc;
}
