/* job.c - one message through the pipeline (contract: job.h)
 *
 * Sending, signing and the journal are dlv.c's; this module decides,
 * collects the per-entry results into one final state and writes the
 * event. job_add holds each handled message in the context's batch
 * (struct job_held) with what its event needs; job_commit makes the batch
 * durable and only then finishes and reports it.
 */
#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "dlv.h"
#include "event.h"
#include "expire.h"
#include "fwdcap.h"
#include "log.h"
#include "parse.h"
#include "policy.h"
#include "reason.h"
#include "rcfg.h"
#include "reply.h"
#include "settings.h"
#include "snap.h"
#include "store.h"

struct job_ctx {
	struct snap *sn;
	struct md_spool *sp;
	struct ev_log *ev;
	struct st *st;
	char *st_url;
	struct dlv *dlv;
	atomic_llong busy_us;
	struct job_held *held; /* the open batch (job_add) */
	size_t n_held, batch_max;
};

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void job_ctx_times(struct job_ctx *ctx, struct job_times *t)
{
	t->busy_us = atomic_load(&ctx->busy_us);
	t->sign_us = dlv_sign_us(ctx->dlv);
}

struct job_ctx *job_ctx_new(struct snap *sn, struct md_spool *sp,
			    struct ev_log *ev, struct mr_err *err)
{
	struct job_ctx *ctx = xcalloc(1, sizeof(*ctx));

	ctx->st = st_open_set(sn->set, 0, err);
	if (ctx->st == NULL) {
		free(ctx);
		return NULL;
	}
	ctx->st_url = xstrdup(sn->set->store);
	ctx->dlv = dlv_new();
	ctx->sn = snap_ref(sn);
	ctx->sp = sp;
	ctx->ev = ev;
	job_ctx_batch(ctx, 1);
	return ctx;
}

void job_ctx_free(struct job_ctx **ctxp)
{
	struct job_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	if (ctx->n_held > 0)
		(void)job_commit(ctx, NULL, NULL); /* logs its failures */
	free(ctx->held);
	dlv_free(&ctx->dlv);
	st_close(&ctx->st);
	free(ctx->st_url);
	snap_unref(&ctx->sn);
	free(ctx);
	*ctxp = NULL;
}

void job_ctx_set_snap(struct job_ctx *ctx, struct snap *sn)
{
	struct mr_err err;

	if (sn == ctx->sn)
		return;
	if (ctx->n_held > 0)
		(void)job_commit(ctx, NULL, NULL); /* logs its failures */
	dlv_reset(ctx->dlv);
	if (strcmp(ctx->st_url, sn->set->store) != 0) {
		struct st *st = st_open_set(sn->set, 0, &err);

		if (st == NULL) {
			log_err("store: %s; keeping the previous one",
				err.text);
		} else {
			st_close(&ctx->st);
			ctx->st = st;
			free(ctx->st_url);
			ctx->st_url = xstrdup(sn->set->store);
		}
	}
	snap_unref(&ctx->sn);
	ctx->sn = snap_ref(sn);
}

/* ---- results ---- */

static void res_set(struct job_result *res, enum md_state st,
		    const char *outcome, const char *reason)
{
	res->state = st;
	res->outcome = outcome;
	(void)snprintf(res->reason, sizeof(res->reason), "%s", reason);
}

/* Too old to be retried again: the failure folder. */
static int expired(const struct job_ctx *ctx, const struct md_entry *ent,
		   time_t now)
{
	return now - ent->mtime > ctx->sn->set->retry.max_age_s;
}

/* A failure: TEMP -> retry (unless the message is too old), PERM -> the
 * failure folder. */
static void res_fail(struct job_ctx *ctx, const struct md_entry *ent,
		     time_t now, struct job_result *res, enum reason why,
		     const struct mr_err *err)
{
	log_redact(res->error, sizeof(res->error), err->text);
	if (err->kind != MR_TEMP) {
		res_set(res, MD_FAILED, "failed", reason_word(why));
		return;
	}
	if (expired(ctx, ent, now)) {
		res_set(res, MD_FAILED, "failed",
			reason_word(REASON_RETRY_EXPIRED));
		return;
	}
	res_set(res, MD_RETRY, "retry", reason_word(why));
}

/* ---- forwards to the admins (complaints, bounces) ---- */

/* The original, or only its header block when it is larger than
 * max_forward_bytes. */
static int read_original(struct job_ctx *ctx, const struct md_entry *ent,
			 const struct prs_msg *msg, struct rpl_fwd *f,
			 char **data, struct mr_err *err)
{
	size_t max = (size_t)ctx->sn->set->max_forward_bytes, want, got = 0;
	struct stat st;
	int fd = md_open(ctx->sp, ent, err);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "fstat(%s)", ent->uniq);
		(void)close(fd); /* read-only */
		return -1;
	}
	want = (size_t)st.st_size;
	f->orig_cut = want > max;
	if (f->orig_cut)
		want = msg->header_bytes < max ? msg->header_bytes : max;
	*data = xmalloc(want + 2);
	/* a read error leaves a shorter copy, as an early end of file does */
	(void)mr_read_full(fd, *data, want, &got);
	(void)close(fd); /* read-only */
	(*data)[got] = (*data)[got + 1] = 0;
	f->orig = *data;
	f->orig_len = got;
	return 0;
}

/* Forward to admin address i unless the journal has it; d->r stays
 * DLV_SENT on success. */
static void forward_one(struct job_ctx *ctx, const struct md_entry *ent,
			struct rpl_fwd *f, size_t i, time_t now,
			struct job_result *res, struct dlv_res *d)
{
	const struct set *s = ctx->sn->set;
	int part = ST_PART_LIMIT - 1 - (int)i, r;
	struct rpl_msg m;
	char *key;

	r = st_journal_has(ctx->st, ent->uniq, part, &d->err);
	if (r > 0)
		return;
	d->reason = REASON_STORE_UNAVAILABLE;
	if (r < 0) {
		d->r = d->err.kind == MR_PERM ? DLV_PERM : DLV_TEMP;
		return;
	}
	f->to_addr = s->admin_addresses.v[i];
	if (rpl_forward(ctx->sn->rpl, f, &m, &d->err) < 0) {
		d->r = d->err.kind == MR_TEMP ? DLV_TEMP : DLV_PERM;
		d->reason = REASON_COMPOSE_ERROR;
		return;
	}
	key = xasprintf("%s.F%zu", ent->uniq, i);
	dlv_send(ctx->dlv, ctx->sn, &m, RCFG_SMTP, f->to_addr, key, now, d);
	free(key);
	rpl_msg_free(&m);
	if (d->r != DLV_SENT)
		return;
	if (st_journal_put(ctx->st, ent->uniq, part, now, &d->err) < 0) {
		d->r = d->err.kind == MR_PERM ? DLV_PERM : DLV_TEMP;
		d->reason = REASON_STORE_UNAVAILABLE;
		return;
	}
	res->forwarded++;
}

static const struct hash_key *store_key(const struct snap *sn)
{
	return sn->store_key.data ? &sn->store_key : NULL;
}

/* The hourly cap of reason why: 1 forward, 0 held back (counted in res),
 * -1 store error. */
static int forward_allowed(struct job_ctx *ctx, const struct md_entry *ent,
			   const char *why, time_t now, struct job_result *res,
			   struct mr_err *err)
{
	const struct set *s = ctx->sn->set;
	int allowed;

	(void)snprintf(res->forward_reason, sizeof(res->forward_reason), "%s",
		       why); /* a policy word: always fits */
	if (fwdcap_take(ctx->st, store_key(ctx->sn), ent->uniq, why,
			s->forward_cap_per_hour, now, &allowed, err) < 0)
		return -1;
	res->forward_held = !allowed;
	return allowed;
}

/* Forward to every admin address not yet in the journal (parts -2, -3,
 * ...), unless the hourly cap of the reason holds it back (counted in
 * res). 0 done or held back, -1 failed (res set). */
static int forward(struct job_ctx *ctx, const struct md_entry *ent,
		   const struct prs_msg *msg, const char *why, time_t now,
		   struct job_result *res)
{
	const struct set *s = ctx->sn->set;
	struct rpl_fwd f = {NULL,
			    s->admin_subject_tag,
			    why,
			    msg->requested,
			    msg->subject,
			    ent->uniq,
			    NULL,
			    0,
			    0,
			    now};
	struct dlv_res d = {.r = DLV_SENT};
	char *orig = NULL;
	int allowed;

	mr_err_clear(&d.err);
	if (s->admin_addresses.n == 0)
		return 0;
	allowed = forward_allowed(ctx, ent, why, now, res, &d.err);
	if (allowed == 0)
		return 0;
	if (allowed < 0) {
		d.r = d.err.kind == MR_PERM ? DLV_PERM : DLV_TEMP;
		d.reason = REASON_STORE_UNAVAILABLE;
	} else if (read_original(ctx, ent, msg, &f, &orig, &d.err) < 0) {
		d.r = DLV_TEMP;
		d.reason = REASON_READ_ERROR;
	}
	for (size_t i = 0; d.r == DLV_SENT && i < s->admin_addresses.n; i++)
		forward_one(ctx, ent, &f, i, now, res, &d);
	free(orig);
	if (d.r == DLV_SENT)
		return 0;
	res->pause |= d.pause;
	res_fail(ctx, ent, now, res, d.reason, &d.err);
	return -1;
}

/* Results of the entries of one request. */
struct tally {
	int sent, temp, perm;
	const struct dlv_res *first_temp, *first_perm;
};

static void record(struct job_result *res, size_t index,
		   const struct dlv_res *d)
{
	struct ev_entry *e;

	if (res->n_entries == JOB_ENTRIES_MAX)
		return;
	e = &res->entries[res->n_entries++];
	e->i = (int)index;
	e->r = dlv_word(d->r);
	e->reason = d->r >= DLV_TEMP ? reason_word(d->reason) : NULL;
}

/* The final state from every entry's result (job.h). */
static void conclude(struct job_ctx *ctx, const struct md_entry *ent,
		     time_t now, const struct tally *t, struct job_result *res)
{
	const struct dlv_res *f = t->first_temp ? t->first_temp : t->first_perm;

	if (f != NULL)
		log_redact(res->error, sizeof(res->error), f->err.text);
	if (t->temp > 0 && !expired(ctx, ent, now)) {
		res_set(res, MD_RETRY, "retry", reason_word(f->reason));
		return;
	}
	if (t->sent > 0 || f == NULL) {
		res_set(res, MD_REPLIED, "replied", "replied");
		return;
	}
	res_set(res, MD_FAILED, "failed",
		reason_word(t->temp > 0 ? REASON_RETRY_EXPIRED : f->reason));
}

static void send_replies(struct job_ctx *ctx, const struct md_entry *ent,
			 const struct prs_msg *msg, time_t now,
			 struct job_result *res)
{
	const struct rcfg *c = ctx->sn->rcfg;
	size_t n = rcfg_lookup(c, msg->requested, NULL, 0);
	const struct rcfg_entry **es = xcalloc(n, sizeof(*es));
	struct dlv_res *d = xcalloc(n + 1, sizeof(*d));
	char *reply_to = mr_lower_dup(msg->requested);
	struct rpl_req req = {msg->from_addr, reply_to, msg->subject,
			      msg->message_id, now};
	struct tally t = {0, 0, 0, NULL, NULL};

	n = rcfg_lookup(c, msg->requested, es, n);
	for (size_t i = 0; i < n; i++) {
		dlv_entry(ctx->dlv, ctx->sn, ctx->st, ent->uniq, es[i], &req,
			  &d[i]);
		record(res, es[i]->index, &d[i]);
		res->pause |= d[i].pause;
		if (d[i].r == DLV_SENT)
			res->replies++;
		if (d[i].r == DLV_SENT || d[i].r == DLV_JOURNAL) {
			t.sent++;
		} else if (d[i].r == DLV_TEMP) {
			if (t.temp++ == 0)
				t.first_temp = &d[i];
		} else if (t.perm++ == 0) {
			t.first_perm = &d[i];
		}
	}
	conclude(ctx, ent, now, &t, res);
	free(d);
	free(reply_to);
	free(es);
}

/* ---- the pipeline ---- */

static void decide(struct job_ctx *ctx, const struct md_entry *ent,
		   const struct prs_msg *msg, time_t now,
		   struct job_result *res)
{
	const struct snap *sn = ctx->sn;
	struct pol_in in = {
		.set = sn->set,
		.rcfg = sn->rcfg,
		.st = ctx->st,
		.store_key = sn->store_key.data ? &sn->store_key : NULL,
		.uniq = ent->uniq,
		.dry_run = 0,
		.now = (long)now,
	};
	struct pol_verdict v;
	struct mr_err err;

	if (pol_decide(&in, msg, &v, &err) < 0) {
		res_fail(ctx, ent, now, res, REASON_STORE_UNAVAILABLE, &err);
		return;
	}
	if (v.outcome == POL_OUT_REPLY) {
		send_replies(ctx, ent, msg, now, res);
		/* a reply goes out first; a failed forward retries the
		 * message, and the journal keeps the replies from repeating */
		if (v.forward && res->state == MD_REPLIED)
			(void)forward(ctx, ent, msg,
				      pol_reason_word(v.fwd_reason), now,
				      res); /* sets res on failure */
		return;
	}
	if (v.forward &&
	    forward(ctx, ent, msg, pol_reason_word(v.fwd_reason), now, res) < 0)
		return;
	if (v.outcome == POL_OUT_FAIL)
		res_set(res, MD_FAILED, "failed", pol_reason_word(v.reason));
	else
		res_set(res, MD_IGNORED, "ignored", pol_reason_word(v.reason));
}

/* prs_read's failures: a header block over the cap, one that does not
 * parse, or a read error. */
static enum reason read_reason(const struct mr_err *err)
{
	static const enum reason limits[] = {
		REASON_HEADERS_TOO_LARGE,    REASON_TOO_MANY_HEADERS,
		REASON_HEADER_LINE_TOO_LONG, REASON_MIME_TOO_DEEP,
		REASON_MIME_TOO_MANY_PARTS,
	};

	if (err->kind != MR_PERM)
		return REASON_READ_ERROR;
	for (size_t i = 0; i < sizeof(limits) / sizeof(*limits); i++)
		if (strcmp(err->text, reason_word(limits[i])) == 0)
			return limits[i];
	return REASON_UNPARSABLE;
}

/* The parser's limits from the settings (limits.*). */
static void set_limits(const struct set *s, struct prs_limits *lim)
{
	lim->max_header_bytes = (size_t)s->max_header_bytes;
	lim->max_headers = (size_t)s->limits.max_headers;
	lim->max_line = (size_t)s->limits.max_header_line;
	lim->mime_bytes = (size_t)s->limits.mime_bytes;
	lim->mime_depth = (size_t)s->limits.mime_depth;
	lim->mime_parts = (size_t)s->limits.mime_parts;
}

static int read_msg(struct job_ctx *ctx, const struct md_entry *ent, time_t now,
		    struct prs_msg **msg, struct job_result *res)
{
	long long t0 = mr_now_ms();
	struct prs_limits lim;
	struct mr_err err;
	int fd, r;

	mr_err_clear(&err);
	fd = md_open(ctx->sp, ent, &err);
	if (fd < 0) {
		res_fail(ctx, ent, now, res,
			 err.kind == MR_PERM ? REASON_NOT_REGULAR_FILE
					     : REASON_READ_ERROR,
			 &err);
		return -1;
	}
	set_limits(ctx->sn->set, &lim);
	r = prs_read_limits(fd, &lim, msg, &err);
	(void)close(fd); /* read-only */
	if (r < 0) {
		res_fail(ctx, ent, now, res, read_reason(&err), &err);
		return -1;
	}
	/* a backstop: parsing is linear, but a request that took this long
	 * is not worth a reply that may be late anyway */
	if (mr_now_ms() - t0 > ctx->sn->set->limits.message_time_ms) {
		prs_free(msg);
		mr_err_set(&err, MR_PERM, "time-limit");
		res_fail(ctx, ent, now, res, REASON_TIME_LIMIT, &err);
		return -1;
	}
	return 0;
}

/* A handled message waiting for its batch to commit. */
struct job_held {
	struct md_entry ent;
	struct job_result res;
	char *requested;                   /* lower-cased, or NULL */
	char sender_hash[HASH_SHA256_HEX]; /* "" when none */
	long long t0;                      /* ms, when handling began */
	int gone; /* removed at once (retention 0), not renamed */
};

static void emit(struct job_ctx *ctx, const struct job_held *h)
{
	const struct job_result *res = &h->res;
	struct ev_rec r = {
		.file = h->ent.uniq,
		.outcome = res->outcome,
		.reason = res->reason,
		.requested = h->requested,
		.sender_hash = h->sender_hash[0] ? h->sender_hash : NULL,
		.ms = (long)(mr_now_ms() - h->t0),
		.replies = res->replies,
		.forwarded = res->forwarded,
		.error = res->error[0] ? res->error : NULL,
		.entries = res->n_entries ? res->entries : NULL,
		.n_entries = res->n_entries,
		.forward_reason =
			res->forward_reason[0] ? res->forward_reason : NULL,
		.forward_held = res->forward_held,
	};

	if (ctx->ev)
		(void)ev_emit(ctx->ev, &r); /* ev_emit logs its own errors */
}

void job_ctx_batch(struct job_ctx *ctx, size_t max)
{
	ctx->batch_max = max > 1 ? max : 1;
	ctx->held = xrealloc(ctx->held, ctx->batch_max * sizeof(*ctx->held));
}

size_t job_pending(const struct job_ctx *ctx)
{
	return ctx->n_held;
}

int job_add(struct job_ctx *ctx, const struct md_entry *ent, time_t now,
	    struct job_result **res_r)
{
	long long u0 = now_us();
	struct prs_msg *msg = NULL;
	struct job_held *h;

	if (ctx->n_held == ctx->batch_max)
		return -1;
	if (ctx->n_held == 0) {
		st_batch_begin(ctx->st);
		dlv_defer(ctx->dlv, 1);
	}
	h = &ctx->held[ctx->n_held++];
	memset(h, 0, sizeof(*h));
	h->ent = *ent;
	h->t0 = mr_now_ms();
	h->res.now = now;
	if (read_msg(ctx, ent, now, &msg, &h->res) == 0)
		decide(ctx, ent, msg, now, &h->res);
	if (msg && msg->requested)
		h->requested = mr_lower_dup(msg->requested);
	if (msg && msg->from_addr)
		snap_sender_hash(ctx->sn, msg->from_addr, h->sender_hash);
	prs_free(&msg);
	atomic_fetch_add(&ctx->busy_us, now_us() - u0);
	if (res_r)
		*res_r = &h->res;
	return 0;
}

/* The batch's replies or journal rows could not be made durable: every
 * message that sent something goes back for a retry (the journal and
 * the maildir transport's delivery keys keep a retry from sending twice
 * what did get through). */
static void unsent(struct job_ctx *ctx, enum reason why,
		   const struct mr_err *err)
{
	for (size_t i = 0; i < ctx->n_held; i++) {
		struct job_held *h = &ctx->held[i];

		if (h->res.replies + h->res.forwarded == 0)
			continue;
		h->res.replies = h->res.forwarded = 0;
		res_fail(ctx, &h->ent, h->res.now, &h->res, why, err);
	}
}

/* A retention of 0 for the final state: the original is removed instead
 * of being kept (the unlink is its final state). */
static int removed_at_once(const struct set *s, enum md_state st)
{
	if (st == MD_REPLIED || st == MD_IGNORED)
		return s->retention.handled_s == 0;
	return st == MD_FAILED && s->retention.failed_s == 0;
}

/* Make the batch durable in order: the replies (outbox directory), the
 * journal rows (one transaction), then each message's final rename and
 * one fsync per directory they landed in; only then the events and done
 * calls. A crash anywhere in between leaves each message either claimed
 * (recovered, and the journal or the delivery keys prevent a second
 * reply) or in its final state with everything it sent durable. */
int job_commit(struct job_ctx *ctx, job_done_fn done, void *arg)
{
	unsigned dirs = 0;
	struct mr_err err;
	int rc = 0;

	mr_err_clear(&err);
	if (dlv_sync(ctx->dlv, &err) < 0) {
		log_err("group commit: %s", err.text);
		st_batch_abort(ctx->st); /* rows of replies not durable */
		unsent(ctx, REASON_SEND_FAILED, &err);
	} else if (st_batch_commit(ctx->st, &err) < 0) {
		log_err("group commit: %s", err.text);
		unsent(ctx, REASON_STORE_UNAVAILABLE, &err);
	}
	dlv_defer(ctx->dlv, 0);
	for (size_t i = 0; i < ctx->n_held; i++) {
		struct job_held *h = &ctx->held[i];

		mr_err_clear(&err);
		h->gone = removed_at_once(ctx->sn->set, h->res.state);
		h->res.finished =
			(h->gone ? md_remove_claimed(ctx->sp, &h->ent, &dirs,
						     &err)
				 : md_finish_nosync(ctx->sp, &h->ent,
						    h->res.state, &dirs,
						    &err)) == 0;
		if (!h->res.finished)
			log_err("finish(%s) failed: %s", h->ent.uniq, err.text);
	}
	mr_err_clear(&err);
	if (md_sync(ctx->sp, dirs, &err) < 0) {
		/* the renames happened; only their durability is unsure */
		log_err("group commit: %s", err.text);
		rc = -1;
	}
	for (size_t i = 0; i < ctx->n_held; i++) {
		struct job_held *h = &ctx->held[i];

		if (h->res.finished)
			emit(ctx, h);
		else
			rc = -1;
		if (h->res.finished && h->gone)
			exp_emit(ctx->ev, h->ent.uniq,
				 h->res.state == MD_FAILED);
		if (done)
			done(arg, &h->ent, &h->res);
		free(h->requested);
	}
	ctx->n_held = 0;
	return rc;
}

static void copy_result(void *arg, const struct md_entry *ent,
			const struct job_result *res)
{
	(void)ent; /* the caller has it */
	*(struct job_result *)arg = *res;
}

int job_run(struct job_ctx *ctx, const struct md_entry *ent, time_t now,
	    struct job_result *res)
{
	memset(res, 0, sizeof(*res));
	if (ctx->n_held > 0 && job_commit(ctx, NULL, NULL) < 0)
		log_warn("job_run: an earlier batch did not commit cleanly");
	if (job_add(ctx, ent, now, NULL) < 0)
		return -1;
	(void)job_commit(ctx, copy_result, res); /* res->finished tells */
	return res->finished ? 0 : -1;
}

/* ---- send-direct ---- */

static void direct_event(struct job_ctx *ctx, const char *to,
			 const char *requested, const char *reason,
			 long long t0, int sent, const struct mr_err *err)
{
	char red[256] = "", sh[HASH_SHA256_HEX];
	struct ev_rec r = {"send-direct",
			   err ? "failed" : "replied",
			   reason,
			   requested,
			   NULL,
			   (long)(mr_now_ms() - t0),
			   sent,
			   0,
			   NULL,
			   NULL,
			   0,
			   NULL,
			   0};

	snap_sender_hash(ctx->sn, to, sh);
	r.sender_hash = sh[0] ? sh : NULL;
	if (err)
		log_redact(red, sizeof(red), err->text);
	r.error = err ? red : NULL;
	(void)ev_emit(ctx->ev, &r); /* logs its own errors */
}

int job_send_direct(struct job_ctx *ctx, const char *to, const char *requested,
		    const char *subject, time_t now, int *sent_r,
		    struct mr_err *err)
{
	const struct rcfg *c = ctx->sn->rcfg;
	size_t n = rcfg_lookup(c, requested, NULL, 0);
	const struct rcfg_entry **es = xcalloc(n + 1, sizeof(*es));
	char *reply_to = mr_lower_dup(requested);
	struct rpl_req req = {to, reply_to, subject, NULL, now};
	const char *reason = "send-direct";
	long long t0 = mr_now_ms();
	int rc = 0;

	*sent_r = 0;
	if (n == 0) {
		mr_err_set(err, MR_PERM, "%s is not in the responder config",
			   reply_to);
		reason = pol_reason_word(POL_UNKNOWN_ADDRESS);
		rc = -1;
	}
	n = rcfg_lookup(c, requested, es, n);
	for (size_t i = 0; i < n; i++) {
		struct dlv_res d;
		struct rpl_msg m;

		mr_err_clear(&d.err);
		if (rpl_compose(ctx->sn->rpl, es[i]->index, &req, &m, &d.err) <
		    0) {
			d.reason = REASON_COMPOSE_ERROR;
		} else {
			dlv_send(ctx->dlv, ctx->sn, &m, es[i]->method, to, NULL,
				 now, &d);
			rpl_msg_free(&m);
			if (d.r == DLV_SENT) {
				(*sent_r)++;
				continue;
			}
		}
		if (rc == 0) {
			*err = d.err;
			reason = reason_word(d.reason);
		}
		rc = -1;
	}
	if (ctx->ev)
		direct_event(ctx, to, reply_to, reason, t0, *sent_r,
			     rc ? err : NULL);
	free(reply_to);
	free(es);
	return rc;
}

/* ---- classify ---- */

static int classify_read(const struct snap *sn, const char *path,
			 struct prs_msg **msg, struct mr_err *err)
{
	struct prs_limits lim;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		mr_err_sys(err, MR_PERM, errno, "stat(%s)", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		mr_err_set(err, MR_PERM, "not a regular file");
		return -1;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		mr_err_sys(err, MR_PERM, errno, "open(%s)", path);
		return -1;
	}
	set_limits(sn->set, &lim);
	r = prs_read_limits(fd, &lim, msg, err);
	(void)close(fd); /* read-only */
	return r;
}

int job_classify(const struct snap *sn, struct st *st, const char *path,
		 struct job_verdict *v)
{
	struct pol_in in = {
		.set = sn->set,
		.rcfg = sn->rcfg,
		.st = st,
		.store_key = sn->store_key.data ? &sn->store_key : NULL,
		.uniq = "",
		.dry_run = 1,
		.now = (long)mr_time(),
	};
	struct prs_msg *msg = NULL;
	struct pol_verdict pv;
	struct mr_err err;

	memset(v, 0, sizeof(*v));
	mr_err_clear(&err);
	if (classify_read(sn, path, &msg, &err) < 0 ||
	    pol_decide(&in, msg, &pv, &err) < 0) {
		v->outcome = err.kind == MR_TEMP ? "retry" : "failed";
		(void)snprintf(v->reason, sizeof(v->reason), "%s",
			       reason_word(err.kind == MR_TEMP
						   ? REASON_STORE_UNAVAILABLE
						   : REASON_UNREADABLE));
		log_redact(v->error, sizeof(v->error), err.text);
		prs_free(&msg);
		return -1;
	}
	v->outcome = pol_outcome_word(pv.outcome);
	(void)snprintf(v->reason, sizeof(v->reason), "%s",
		       pol_reason_word(pv.reason));
	if (msg->requested)
		(void)snprintf(v->requested, sizeof(v->requested), "%s",
			       msg->requested);
	mr_lower(v->requested);
	snap_sender_hash(sn, msg->from_addr, v->sender_hash);
	v->replies = pv.outcome == POL_OUT_REPLY ? (int)pv.n_entries : 0;
	v->forward = pv.forward;
	prs_free(&msg);
	return 0;
}
