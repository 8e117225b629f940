/* eng.c - the worker pool shared by the daemon and drain (contract: eng.h)
 *
 * Shared state: the work queue (its own lock) and the current snapshot (mu,
 * with a generation number each worker compares before each message). A
 * worker commits its batch before it takes up a new snapshot, before it
 * would wait for work, and when the queue is closed.
 */
#include "eng.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snap.h"

#define ENG_SCAN_BATCH 256
#define ENG_NEVER ((time_t)1 << 40) /* a retry time no run reaches */

struct wk {
	struct eng *e;
	struct job_ctx *ctx;
	uint64_t snap_gen;
	pthread_t tid;
	int started;
};

struct eng {
	struct eng_cfg cfg;
	struct wq *q;
	pthread_mutex_t mu;
	struct snap *sn;
	uint64_t snap_gen;
	struct wk *wks;
	long n;
	char (*names)[MD_NAME_MAX]; /* eng_scan's batch (one scanner) */
};

/* ---- workers ---- */

struct held_item {
	struct wq_item it;
	time_t now;
};

struct wk_batch {
	struct wk *w;
	struct held_item *items; /* in job_add order, as job_commit reports */
	size_t n, n_done;
};

/* job_commit's callback: the outcome is durable; tell the queue. */
static void wk_done(void *arg, const struct md_entry *ent,
		    const struct job_result *res)
{
	struct wk_batch *b = arg;
	struct eng *e = b->w->e;
	const struct held_item *h;

	if (b->n_done >= b->n)
		return; /* cannot happen: one call per job_add */
	h = &b->items[b->n_done++];
	if (!res->finished)
		wq_done(e->q, &h->it, NULL, 0, 0);
	else if (res->state == MD_RETRY)
		wq_done(e->q, &h->it, ent->uniq,
			e->cfg.no_retry
				? ENG_NEVER
				: wq_retry_at(e->q, h->it.attempts, h->now),
			1);
	else
		wq_done(e->q, &h->it, NULL, 0, 0);
	/* a transport said the whole account is stopped (SES paused) */
	if (res->finished && res->pause)
		wq_pause(e->q);
	if (res->finished && e->cfg.done)
		e->cfg.done(e->cfg.arg, res, h->it.adopt);
}

static void wk_commit(struct wk_batch *b)
{
	if (job_pending(b->w->ctx) > 0)
		(void)job_commit(b->w->ctx, wk_done, b); /* logs failures */
	b->n = b->n_done = 0;
}

static void wk_snap(struct wk_batch *b)
{
	struct wk *w = b->w;
	struct eng *e = w->e;

	pthread_mutex_lock(&e->mu);
	if (w->snap_gen != e->snap_gen) {
		wk_commit(b);
		job_ctx_set_snap(w->ctx, e->sn);
		w->snap_gen = e->snap_gen;
	}
	pthread_mutex_unlock(&e->mu);
}

/* Claim it and add it to the batch. */
static void wk_take(struct wk_batch *b, const struct wq_item *it)
{
	struct eng *e = b->w->e;
	struct held_item *h = &b->items[b->n];
	struct job_result *res;
	struct md_entry ent;
	struct mr_err err;
	int c;

	h->it = *it;
	h->now = mr_time();
	memset(&ent, 0, sizeof(ent));
	mr_err_clear(&err);
	c = it->adopt ? md_adopt(e->cfg.sp, it->name, &ent, &err)
		      : md_claim(e->cfg.sp, it->name, &ent, &err);
	if (c < 0) {
		log_err("claim: %s", err.text);
		wq_done(e->q, it, it->name,
			wq_retry_at(e->q, it->attempts, h->now), 1);
		return;
	}
	if (c == 0) {
		wq_done(e->q, it, NULL, 0, 0); /* another process won */
		return;
	}
	b->n++;
	(void)job_add(b->w->ctx, &ent, h->now, &res); /* room: batch size */
	/* a transient failure is committed at once: the queue's pause and
	 * drain's stop count them as they happen, not a batch later */
	if (res->state == MD_RETRY)
		wk_commit(b);
}

static void *wk_main(void *arg)
{
	struct wk *w = arg;
	struct eng *e = w->e;
	struct wk_batch b = {w, xcalloc(e->cfg.batch, sizeof(struct held_item)),
			     0, 0};
	struct wq_item it;

	memset(&it, 0, sizeof(it));
	for (;;) {
		int r = wq_trypop(e->q, &it);

		if (r == 0 && b.n > 0) {
			wk_commit(&b); /* nothing more now: make it durable */
			continue;
		}
		if (r == 0)
			r = wq_pop(e->q, &it) ? 1 : -1;
		if (r < 0)
			break;
		wk_snap(&b);
		wk_take(&b, &it);
		if (b.n == e->cfg.batch)
			wk_commit(&b);
	}
	wk_commit(&b);
	free(b.items);
	return NULL;
}

/* ---- the pool ---- */

static long n_workers(long n)
{
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}

struct eng *eng_start(const struct eng_cfg *cfg, struct mr_err *err)
{
	struct eng *e = xcalloc(1, sizeof(*e));

	e->cfg = *cfg;
	if (e->cfg.batch == 0)
		e->cfg.batch = 1;
	e->q = wq_new(cfg->queue_cap, &cfg->bo);
	pthread_mutex_init(&e->mu, NULL);
	e->sn = snap_ref(cfg->sn);
	e->n = n_workers(cfg->workers);
	e->wks = xcalloc((size_t)e->n, sizeof(*e->wks));
	e->names = xcalloc(ENG_SCAN_BATCH, MD_NAME_MAX);
	for (long i = 0; i < e->n; i++) {
		e->wks[i].e = e;
		e->wks[i].ctx = job_ctx_new(e->sn, cfg->sp, cfg->ev, err);
		if (e->wks[i].ctx == NULL) {
			eng_free(&e);
			return NULL;
		}
		job_ctx_batch(e->wks[i].ctx, e->cfg.batch);
	}
	for (long i = 0; i < e->n; i++) {
		if (pthread_create(&e->wks[i].tid, NULL, wk_main, &e->wks[i]) !=
		    0) {
			mr_err_set(err, MR_PERM, "pthread_create failed");
			if (eng_stop(e, 60000))
				eng_free(&e);
			return NULL;
		}
		e->wks[i].started = 1;
	}
	return e;
}

int eng_stop(struct eng *e, long timeout_ms)
{
	wq_close(e->q);
	if (!wq_wait_idle(e->q, timeout_ms))
		return 0;
	for (long i = 0; i < e->n; i++)
		if (e->wks[i].started) {
			pthread_join(e->wks[i].tid, NULL);
			e->wks[i].started = 0;
		}
	return 1;
}

void eng_free(struct eng **ep)
{
	struct eng *e = *ep;

	if (e == NULL)
		return;
	for (long i = 0; i < e->n; i++)
		job_ctx_free(&e->wks[i].ctx);
	free(e->wks);
	free(e->names);
	wq_free(&e->q);
	snap_unref(&e->sn);
	pthread_mutex_destroy(&e->mu);
	free(e);
	*ep = NULL;
}

void eng_set_snap(struct eng *e, struct snap *sn)
{
	struct snap *old;

	pthread_mutex_lock(&e->mu);
	old = e->sn;
	e->sn = snap_ref(sn);
	e->snap_gen++;
	pthread_mutex_unlock(&e->mu);
	snap_unref(&old);
}

int eng_scan(struct eng *e, enum md_where where, size_t *queued_r)
{
	struct mr_err err;
	size_t queued = 0;

	for (;;) {
		size_t n = 0;

		mr_err_clear(&err);
		if (md_scan(e->cfg.sp, where, wq_busy, e->q, e->names,
			    ENG_SCAN_BATCH, &n, &err) < 0) {
			log_err("scan: %s", err.text);
			break;
		}
		if (queued_r)
			*queued_r = queued;
		if (n == 0)
			return 0;
		for (size_t i = 0; i < n; i++) {
			int r = wq_push(e->q, e->names[i], where == MD_CLAIMED,
					1);

			if (r < 0)
				return -1;
			queued += (size_t)r;
		}
	}
	if (queued_r)
		*queued_r = queued;
	return -1;
}

int eng_wait_idle(struct eng *e, long timeout_ms)
{
	long long end = mr_now_ms() + timeout_ms;
	struct wq_counts c;

	for (;;) {
		long left = (long)(end - mr_now_ms());

		wq_counts(e->q, &c);
		if (c.queued == 0 && c.in_flight == 0)
			return 1;
		if (left <= 0)
			return 0;
		if (c.queued == 0)
			(void)wq_wait_idle(e->q, left);
		else
			(void)usleep(2000); /* workers are busy: poll */
	}
}

struct wq *eng_queue(struct eng *e)
{
	return e->q;
}

long eng_workers(const struct eng *e)
{
	return e->n;
}

void eng_times(struct eng *e, struct job_times *t)
{
	struct job_times one;

	t->busy_us = t->sign_us = 0;
	for (long i = 0; i < e->n; i++) {
		job_ctx_times(e->wks[i].ctx, &one);
		t->busy_us += one.busy_us;
		t->sign_us += one.sign_us;
	}
}
