/* drain.c - process the backlog and return (contract: drain.h)
 *
 * The daemon's engine (eng.h) without the watch: the same workers and
 * group commit, fed by streaming scans of new/ (bounded by the queue, so
 * memory does not grow with the backlog) until a scan, made once the
 * workers are idle, finds nothing new. A message sent back for a retry
 * stays known to the queue as deferred with no due time, so it is not
 * taken again in the same run.
 */
#include "drain.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "eng.h"
#include "event.h"
#include "job.h"
#include "log.h"
#include "md.h"
#include "metrics.h"
#include "settings.h"
#include "snap.h"

#define DRAIN_QUEUE 1024
#define DRAIN_COMMIT 32 /* most messages per group commit */

/* ---- the summary ---- */

static void drain_print(const struct met *m, long recovered, FILE *f)
{
	const char *outcome, *reason;
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

static int drain_run(struct snap *sn, struct md_spool *sp, struct ev_log *ev,
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

/* ---- a daemon owns the spool ---- */

/* The daemon has no control socket: send it SIGUSR1 and watch new/ empty
 * until end (ms). */
static int signal_and_wait(struct md_spool *sp, pid_t pid, long timeout_s,
			   FILE *out)
{
	long long end = mr_now_ms() + timeout_s * 1000;
	struct md_counts c;
	struct mr_err err;

	if (pid <= 0 || kill(pid, SIGUSR1) < 0) {
		log_err("spool %s is owned by process %ld, which cannot be "
			"reached",
			md_spool_path(sp), (long)pid);
		return -1;
	}
	mr_err_clear(&err);
	while (md_counts(sp, &c, &err) == 0 && c.n_new + c.n_claimed > 0 &&
	       mr_now_ms() < end)
		(void)usleep(200 * 1000); /* EINTR only shortens the wait */
	if (err.text[0] || c.n_new + c.n_claimed > 0) {
		log_err("drain: the daemon (pid %ld) did not empty new/ within "
			"%ld s",
			(long)pid, timeout_s);
		return -1;
	}
	if (out)
		fprintf(out, "drain: handled by the running daemon (pid %ld)\n",
			(long)pid);
	return 0;
}

/* The spool is owned by process pid: ask the daemon to rescan and wait
 * until what is in new/ now has been handled. */
static int hand_off(struct md_spool *sp, pid_t pid, long timeout_s, FILE *out)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctl_drained dr;
	struct mr_err err;

	switch (ctl_drain(md_spool_path(sp), timeout_s * 1000, &dr, &err)) {
	case 1:
		if (out)
			fprintf(out,
				"drain: handed to the running daemon (pid "
				"%ld): {\"handled\":%lld,\"deferred\":%lld}\n",
				(long)pid, dr.handled, dr.deferred);
		return 0;
	case -1:
		log_err("drain: asked the running daemon (pid %ld): %s",
			(long)pid, err.text);
		return -1;
	}
	if (ctl_path(md_spool_path(sp), path, sizeof(path)) == 0 &&
	    access(path, F_OK) < 0) {
		/* no daemon socket: another drain or reprocess holds the
		 * lock and is draining the backlog itself */
		if (out)
			fprintf(out,
				"drain: spool %s is being drained by process "
				"%ld; leaving the backlog to it\n",
				md_spool_path(sp), (long)pid);
		return 0;
	}
	return signal_and_wait(sp, pid, timeout_s, out);
}

/* 1 locked by us, 0 handed to the daemon (*rc_r set), -1 error */
static int lock_spool(struct md_spool *sp, long timeout_s, FILE *out, int *rc_r)
{
	struct mr_err err;
	pid_t pid = 0;
	int r;

	mr_err_clear(&err);
	r = md_lock(sp, 0, &err);
	if (r > 0)
		return 1;
	if (r < 0) {
		log_err("spool lock: %s", err.text);
		return -1;
	}
	if (md_lock_owner(sp, &pid, &err) <= 0)
		pid = 0;
	*rc_r = hand_off(sp, pid, timeout_s, out);
	return 0;
}

int drain_spool(struct snap *sn, long timeout_s, FILE *out)
{
	const struct set *s = sn->set;
	struct md_spool *sp = NULL;
	struct ev_log *ev = NULL;
	struct mr_err err;
	long recovered = 0;
	long long t0 = mr_now_ms();
	int rc = -1;

	/* a drain is not the daemon: a second drain must not end it */
	(void)signal(SIGUSR1, SIG_IGN); /* cannot fail for SIGUSR1 */
	mr_err_clear(&err);
	sp = md_spool_open(s->spool, s->failed_folder, &err);
	if (sp == NULL) {
		log_err("spool: %s", err.text);
		return -1;
	}
	if (lock_spool(sp, timeout_s, out, &rc) <= 0)
		goto out;
	ev = ev_open(s->event_log, &err);
	if (ev == NULL) {
		log_err("event_log: %s", err.text);
		goto out;
	}
	rc = drain_run(sn, sp, ev, &recovered, &err);
	if (rc < 0)
		log_err("drain stopped: %s", err.text);
	if (out) {
		fprintf(out, "drain: %s: %.3f s\n", s->spool,
			(double)(mr_now_ms() - t0) / 1000.0);
		drain_print(ev_metrics(ev), recovered, out);
	}
out:
	ev_close(&ev);
	md_spool_close(&sp);
	return rc;
}
