/* job.c - one message through the pipeline (job.h)
 * DESCRIPTION  The journal makes sending idempotent: before each config
 *              entry is sent, (unique name, entry index) is looked up;
 *              after the transport accepted it, it is recorded. A message
 *              recovered after a crash therefore re-sends only what the
 *              journal does not know; the one duplicate window is between
 *              the transport's acceptance and the journal write.
 * SEE ALSO     design.md s.3, s.4, s.8
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
#include "dkim.h"
#include "event.h"
#include "log.h"
#include "parse.h"
#include "policy.h"
#include "rcfg.h"
#include "reply.h"
#include "settings.h"
#include "snap.h"
#include "store.h"
#include "tx.h"

#define JOB_MAX_TX 4

struct job_ctx {
	struct snap *sn;
	struct md_spool *sp;
	struct ev_log *ev;
	struct st *st;
	char *st_url;
	struct tx *tx[JOB_MAX_TX];
	size_t n_tx;
	atomic_llong busy_us;
	atomic_llong sign_us;
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
	t->sign_us = atomic_load(&ctx->sign_us);
}

struct job_ctx *job_ctx_new(struct snap *sn, struct md_spool *sp,
			    struct ev_log *ev, struct mr_err *err)
{
	struct job_ctx *ctx = xcalloc(1, sizeof(*ctx));

	ctx->st = st_open(sn->set->store, 0, err);
	if (ctx->st == NULL) {
		free(ctx);
		return NULL;
	}
	ctx->st_url = xstrdup(sn->set->store);
	ctx->sn = snap_ref(sn);
	ctx->sp = sp;
	ctx->ev = ev;
	return ctx;
}

static void close_tx(struct job_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_tx; i++)
		tx_close(&ctx->tx[i]);
	ctx->n_tx = 0;
}

void job_ctx_free(struct job_ctx **ctxp)
{
	struct job_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	close_tx(ctx);
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
	close_tx(ctx);
	if (strcmp(ctx->st_url, sn->set->store) != 0) {
		struct st *st = st_open(sn->set->store, 0, &err);

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

/* A failure: TEMP -> retry (unless the message is too old), PERM -> the
 * failure folder. */
static void res_fail(struct job_ctx *ctx, const struct md_entry *ent,
		     time_t now, struct job_result *res, const char *reason,
		     const struct mr_err *err)
{
	const struct set *s = ctx->sn->set;

	log_redact(res->error, sizeof(res->error), err->text);
	if (err->kind != MR_TEMP) {
		res_set(res, MD_FAILED, "failed", reason);
		return;
	}
	if (now - ent->mtime > s->retry.max_age_s) {
		res_set(res, MD_FAILED, "failed", "retry-expired");
		return;
	}
	res_set(res, MD_RETRY, "retry", reason);
}

/* ---- sending ---- */

static struct tx *ctx_tx(struct job_ctx *ctx, enum rcfg_method method,
			 struct mr_err *err)
{
	const struct set *s = ctx->sn->set;
	const char *url = s->transport_override;
	struct tx *t;

	if (url == NULL)
		url = method == RCFG_SMTP ? s->smtp_url : "ses:";
	for (size_t i = 0; i < ctx->n_tx; i++)
		if (strcmp(tx_url(ctx->tx[i]), url) == 0)
			return ctx->tx[i];
	t = tx_open(url, s, err);
	if (t == NULL)
		return NULL;
	if (ctx->n_tx == JOB_MAX_TX)
		close_tx(ctx);
	ctx->tx[ctx->n_tx++] = t;
	return t;
}

static void drop_tx(struct job_ctx *ctx, struct tx *t)
{
	for (size_t i = 0; i < ctx->n_tx; i++)
		if (ctx->tx[i] == t) {
			tx_close(&ctx->tx[i]);
			ctx->tx[i] = ctx->tx[--ctx->n_tx];
			ctx->tx[ctx->n_tx] = NULL;
			return;
		}
}

static const char *envelope_from(const struct set *s)
{
	return s->complaints_address ? s->complaints_address : s->from_addr;
}

/* Sign (SMTP mail, when keys are set: SES signs itself; the method, not
 * the transport, decides, so a maildir dry run holds what would be sent)
 * and send m to rcpt. 0 sent, -1 error with *reason set. */
static int deliver(struct job_ctx *ctx, const struct rpl_msg *m,
		   enum rcfg_method method, const char *rcpt, const char *key,
		   time_t now, const char **reason, struct mr_err *err)
{
	const struct snap *sn = ctx->sn;
	struct tx_env env = {envelope_from(sn->set), rcpt, key};
	const unsigned char *bh = m->body_hash;
	unsigned char own_bh[32];
	struct iovec iov[4];
	struct mr_buf sig;
	struct tx *t;
	long long t0;
	int n = 0, r = -1;

	buf_init(&sig);
	if (method == RCFG_SMTP && dkim_enabled(sn->dkim)) {
		t0 = now_us();
		if (bh == NULL) {
			dkim_body_hash(m->body, m->body_len, own_bh);
			bh = own_bh;
		}
		*reason = "sign-error";
		r = dkim_sign(sn->dkim, m->head.data, m->head.len, bh, now, &sig,
			      err);
		atomic_fetch_add(&ctx->sign_us, now_us() - t0);
		if (r < 0)
			goto out;
		r = -1;
		iov[n++] = (struct iovec){sig.data, sig.len};
	}
	iov[n++] = (struct iovec){m->head.data, m->head.len};
	iov[n++] = (struct iovec){(void *)"\r\n", 2};
	iov[n++] = (struct iovec){(void *)m->body, m->body_len};
	*reason = "transport-unavailable";
	t = ctx_tx(ctx, method, err);
	if (t != NULL) {
		*reason = "send-failed";
		r = tx_send(t, &env, iov, n, err);
		/* a transient failure may have left the handle unusable (a
		 * dropped connection, a replaced outbox): open it afresh */
		if (r < 0 && err->kind == MR_TEMP)
			drop_tx(ctx, t);
	}
out:
	buf_free(&sig);
	return r;
}

/* Send one config entry unless the journal has it. 1 sent, 0 already
 * sent, -1 error (reason set). */
static int send_entry(struct job_ctx *ctx, const struct md_entry *ent,
		      const struct rcfg_entry *e, const struct rpl_req *req,
		      const char **reason, struct mr_err *err)
{
	struct rpl_msg m;
	char *key;
	int r;

	*reason = "store-unavailable";
	r = st_journal_has(ctx->st, ent->uniq, (int)e->index, err);
	if (r != 0)
		return r > 0 ? 0 : -1;
	*reason = "compose-error";
	if (rpl_compose(ctx->sn->rpl, e->index, req, &m, err) < 0)
		return -1;
	key = xasprintf("%s.E%zu", ent->uniq, e->index);
	r = deliver(ctx, &m, e->method, req->to_addr, key, req->now, reason,
		    err);
	free(key);
	rpl_msg_free(&m);
	if (r < 0)
		return -1;
	*reason = "store-unavailable";
	if (st_journal_put(ctx->st, ent->uniq, (int)e->index, req->now, err) <
	    0)
		return -1;
	return 1;
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
	while (got < want) {
		ssize_t r = read(fd, *data + got, want - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	(void)close(fd); /* read-only */
	(*data)[got] = (*data)[got + 1] = 0;
	f->orig = *data;
	f->orig_len = got;
	return 0;
}

/* Forward to every admin address not yet in the journal (parts -2, -3,
 * ...). 0 done, -1 failed (res set). */
static int forward(struct job_ctx *ctx, const struct md_entry *ent,
		   const struct prs_msg *msg, const char *why, time_t now,
		   struct job_result *res)
{
	const struct set *s = ctx->sn->set;
	struct rpl_fwd f = {NULL, s->admin_subject_tag, why, msg->requested,
			    msg->subject, ent->uniq, NULL, 0, 0, now};
	const char *reason = "read-error";
	char *orig = NULL;
	struct mr_err err;
	int rc = 0;

	mr_err_clear(&err);
	if (s->admin_addresses.n && read_original(ctx, ent, msg, &f, &orig,
						  &err) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < s->admin_addresses.n; i++) {
		int part = ST_PART_LIMIT - 1 - (int)i, r;
		struct rpl_msg m;
		char *key;

		reason = "store-unavailable";
		r = st_journal_has(ctx->st, ent->uniq, part, &err);
		if (r > 0)
			continue;
		f.to_addr = s->admin_addresses.v[i];
		if (r < 0 || (reason = "compose-error",
			      rpl_forward(ctx->sn->rpl, &f, &m, &err) < 0)) {
			rc = -1;
			break;
		}
		key = xasprintf("%s.F%zu", ent->uniq, i);
		r = deliver(ctx, &m, RCFG_SMTP, f.to_addr, key, now, &reason,
			    &err);
		free(key);
		rpl_msg_free(&m);
		if (r < 0 || (reason = "store-unavailable",
			      st_journal_put(ctx->st, ent->uniq, part, now,
					     &err) < 0))
			rc = -1;
		else
			res->forwarded++;
	}
	if (rc < 0)
		res_fail(ctx, ent, now, res, reason, &err);
	free(orig);
	return rc;
}

static void send_replies(struct job_ctx *ctx, const struct md_entry *ent,
			 const struct prs_msg *msg, time_t now,
			 struct job_result *res)
{
	const struct rcfg *c = ctx->sn->rcfg;
	size_t n = rcfg_lookup(c, msg->requested, NULL, 0);
	const struct rcfg_entry **es = xcalloc(n, sizeof(*es));
	struct rpl_req req = {
		.to_addr = msg->from_addr,
		.reply_to = NULL,
		.subject = msg->subject,
		.message_id = msg->message_id,
		.now = now,
	};
	char *reply_to = mr_lower_dup(msg->requested);
	const char *reason = NULL;
	struct mr_err err;

	mr_err_clear(&err);
	req.reply_to = reply_to;
	n = rcfg_lookup(c, msg->requested, es, n);
	res_set(res, MD_REPLIED, "replied", "replied");
	for (size_t i = 0; i < n; i++) {
		int r = send_entry(ctx, ent, es[i], &req, &reason, &err);

		if (r < 0) {
			res_fail(ctx, ent, now, res, reason, &err);
			break;
		}
		res->replies += r;
	}
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
		res_fail(ctx, ent, now, res, "store-unavailable", &err);
		return;
	}
	switch (v.outcome) {
	case POL_OUT_FAIL:
		res_set(res, MD_FAILED, "failed", pol_reason_word(v.reason));
		break;
	case POL_OUT_IGNORE:
		if (v.forward && forward(ctx, ent, msg, pol_reason_word(v.reason),
					 now, res) < 0)
			break;
		res_set(res, MD_IGNORED, "ignored", pol_reason_word(v.reason));
		break;
	case POL_OUT_REPLY:
		send_replies(ctx, ent, msg, now, res);
		break;
	}
}

static int read_msg(struct job_ctx *ctx, const struct md_entry *ent,
		    time_t now, struct prs_msg **msg, struct job_result *res)
{
	struct mr_err err;
	int fd, r;

	mr_err_clear(&err);
	fd = md_open(ctx->sp, ent, &err);
	if (fd < 0) {
		res_fail(ctx, ent, now, res,
			 err.kind == MR_PERM ? "not-regular-file"
					     : "read-error",
			 &err);
		return -1;
	}
	r = prs_read(fd, (size_t)ctx->sn->set->max_header_bytes, msg, &err);
	(void)close(fd); /* read-only */
	if (r < 0) {
		res_fail(ctx, ent, now, res,
			 err.kind == MR_PERM ? err.text : "read-error", &err);
		return -1;
	}
	return 0;
}

static void emit(struct job_ctx *ctx, const struct md_entry *ent,
		 const struct prs_msg *msg, const struct job_result *res,
		 long ms)
{
	char sh[HASH_SHA256_HEX] = "";
	char *req = msg && msg->requested ? mr_lower_dup(msg->requested) : NULL;
	struct ev_rec r = {
		.file = ent->uniq,
		.outcome = res->outcome,
		.reason = res->reason,
		.requested = req,
		.ms = ms,
		.replies = res->replies,
		.forwarded = res->forwarded,
		.error = res->error[0] ? res->error : NULL,
	};

	if (msg && msg->from_addr)
		snap_sender_hash(ctx->sn, msg->from_addr, sh);
	r.sender_hash = sh[0] ? sh : NULL;
	if (ctx->ev)
		(void)ev_emit(ctx->ev, &r); /* ev_emit logs its own errors */
	free(req);
}

int job_run(struct job_ctx *ctx, const struct md_entry *ent, time_t now,
	    struct job_result *res)
{
	long long t0 = mr_now_ms(), u0 = now_us();
	struct prs_msg *msg = NULL;
	struct mr_err err;

	memset(res, 0, sizeof(*res));
	if (read_msg(ctx, ent, now, &msg, res) == 0)
		decide(ctx, ent, msg, now, res);
	mr_err_clear(&err);
	if (md_finish(ctx->sp, ent, res->state, &err) < 0) {
		log_err("finish(%s) failed: %s", ent->uniq, err.text);
		prs_free(&msg);
		return -1;
	}
	emit(ctx, ent, msg, res, (long)(mr_now_ms() - t0));
	prs_free(&msg);
	atomic_fetch_add(&ctx->busy_us, now_us() - u0);
	return 0;
}

/* ---- send-direct ---- */

int job_send_direct(struct job_ctx *ctx, const char *to,
		    const char *requested, const char *subject, time_t now,
		    int *sent_r, struct mr_err *err)
{
	const struct rcfg *c = ctx->sn->rcfg;
	size_t n = rcfg_lookup(c, requested, NULL, 0);
	const struct rcfg_entry **es = xcalloc(n + 1, sizeof(*es));
	char *reply_to = mr_lower_dup(requested), sh[HASH_SHA256_HEX];
	struct rpl_req req = {to, reply_to, subject, NULL, now};
	const char *reason = "replied";
	long long t0 = mr_now_ms();
	int rc = 0;

	*sent_r = 0;
	if (n == 0) {
		mr_err_set(err, MR_PERM, "%s is not in the responder config",
			   reply_to);
		reason = "unknown-address";
		rc = -1;
	}
	n = rcfg_lookup(c, requested, es, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct rpl_msg m;

		reason = "compose-error";
		if (rpl_compose(ctx->sn->rpl, es[i]->index, &req, &m, err) < 0 ||
		    deliver(ctx, &m, es[i]->method, to, NULL, now, &reason,
			    err) < 0)
			rc = -1;
		else
			(*sent_r)++;
		rpl_msg_free(&m);
	}
	if (ctx->ev) {
		char red[256] = "";
		struct ev_rec r = {"send-direct", rc ? "failed" : "replied",
				   rc ? reason : "send-direct", reply_to,
				   NULL, (long)(mr_now_ms() - t0), *sent_r,
				   0, NULL};

		snap_sender_hash(ctx->sn, to, sh);
		r.sender_hash = sh[0] ? sh : NULL;
		if (rc)
			log_redact(red, sizeof(red), err->text);
		r.error = rc ? red : NULL;
		(void)ev_emit(ctx->ev, &r); /* logs its own errors */
	}
	free(reply_to);
	free(es);
	return rc;
}

/* ---- classify ---- */

static int classify_read(const struct snap *sn, const char *path,
			 struct prs_msg **msg, struct mr_err *err)
{
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
	r = prs_read(fd, (size_t)sn->set->max_header_bytes, msg, err);
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
			       err.kind == MR_TEMP ? "store-unavailable"
						   : "unreadable");
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
