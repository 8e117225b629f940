/* dlv.c - outbound delivery (contract: dlv.h)
 *
 * The transports are opened lazily, one per URL, at the first send that
 * needs them, and kept until dlv_reset().
 */
#include "dlv.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "dkim.h"
#include "log.h"
#include "reply.h"
#include "settings.h"
#include "snap.h"
#include "store.h"
#include "tx.h"

#define DLV_MAX_TX 4

struct dlv {
	struct tx *tx[DLV_MAX_TX];
	size_t n_tx;
	int defer;     /* dlv_defer(): group commit */
	int sync_lost; /* a transport closed whose sync failed */
	struct mr_err sync_err;
	atomic_llong sign_us;
};

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct dlv *dlv_new(void)
{
	return xcalloc(1, sizeof(struct dlv));
}

/* Close t after making durable what it left pending; a failure is kept
 * for the next dlv_sync(). */
static void close_tx(struct dlv *d, struct tx **t)
{
	struct mr_err err;

	mr_err_clear(&err);
	if (tx_sync(*t, &err) < 0 && !d->sync_lost) {
		d->sync_lost = 1;
		d->sync_err = err;
	}
	tx_close(t);
}

void dlv_reset(struct dlv *d)
{
	for (size_t i = 0; i < d->n_tx; i++)
		close_tx(d, &d->tx[i]);
	d->n_tx = 0;
}

void dlv_defer(struct dlv *d, int on)
{
	d->defer = on;
	for (size_t i = 0; i < d->n_tx; i++)
		tx_defer_sync(d->tx[i], on);
}

int dlv_sync(struct dlv *d, struct mr_err *err)
{
	int rc = 0;

	mr_err_clear(err);
	if (d->sync_lost) {
		*err = d->sync_err;
		d->sync_lost = 0;
		rc = -1;
	}
	for (size_t i = 0; i < d->n_tx; i++)
		if (tx_sync(d->tx[i], rc == 0 ? err : &d->sync_err) < 0)
			rc = -1;
	return rc;
}

void dlv_free(struct dlv **dp)
{
	if (*dp == NULL)
		return;
	dlv_reset(*dp);
	free(*dp);
	*dp = NULL;
}

long long dlv_sign_us(struct dlv *d)
{
	return atomic_load(&d->sign_us);
}

const char *dlv_word(enum dlv_r r)
{
	static const char *const w[] = {"sent", "journal", "retry", "failed"};

	return (unsigned)r < 4 ? w[r] : "unknown";
}

/* ---- results ---- */

static void res_ok(struct dlv_res *res, enum dlv_r r)
{
	res->r = r;
	res->reason = REASON_NONE;
	res->pause = 0;
	mr_err_clear(&res->err);
}

/* err is filled; its kind decides temporary or permanent */
static void res_fail(struct dlv_res *res, enum reason why)
{
	res->r = res->err.kind == MR_TEMP ? DLV_TEMP : DLV_PERM;
	res->reason = why;
}

/* ---- transports ---- */

static struct tx *get_tx(struct dlv *d, const struct snap *sn,
			 enum rcfg_method method, struct mr_err *err)
{
	const struct set *s = sn->set;
	struct tx_deps deps = {s, sn->aws, sn->ses_pace};
	const char *url = s->transport_override;
	struct tx *t;

	if (url == NULL)
		url = method == RCFG_SMTP ? s->smtp_url : "ses";
	for (size_t i = 0; i < d->n_tx; i++)
		if (strcmp(tx_url(d->tx[i]), url) == 0)
			return d->tx[i];
	t = tx_open(url, &deps, err);
	if (t == NULL)
		return NULL;
	tx_defer_sync(t, d->defer);
	if (d->n_tx == DLV_MAX_TX)
		dlv_reset(d);
	d->tx[d->n_tx++] = t;
	return t;
}

static void drop_tx(struct dlv *d, struct tx *t)
{
	for (size_t i = 0; i < d->n_tx; i++)
		if (d->tx[i] == t) {
			close_tx(d, &d->tx[i]);
			d->tx[i] = d->tx[--d->n_tx];
			d->tx[d->n_tx] = NULL;
			return;
		}
}

static const char *envelope_from(const struct set *s)
{
	return s->complaints_address ? s->complaints_address : s->from_addr;
}

/* The DKIM-Signature lines for m into sig; 0 or -1 with err. */
static int sign(struct dlv *d, const struct snap *sn, const struct rpl_msg *m,
		time_t now, struct mr_buf *sig, struct mr_err *err)
{
	const unsigned char *bh = m->body_hash;
	unsigned char own_bh[32];
	long long t0 = now_us();
	int r;

	if (bh == NULL) {
		dkim_body_hash(m->body, m->body_len, own_bh);
		bh = own_bh;
	}
	r = dkim_sign(sn->dkim, m->head.data, m->head.len, bh, now, sig, err);
	atomic_fetch_add(&d->sign_us, now_us() - t0);
	return r;
}

void dlv_send(struct dlv *d, const struct snap *sn, const struct rpl_msg *m,
	      enum rcfg_method method, const char *rcpt, const char *key,
	      time_t now, struct dlv_res *res)
{
	struct tx_env env = {envelope_from(sn->set), rcpt, key};
	struct tx_why why;
	struct iovec iov[4];
	struct mr_buf sig;
	struct tx *t;
	int n = 0;

	res_ok(res, DLV_SENT);
	buf_init(&sig);
	if (method == RCFG_SMTP && dkim_enabled(sn->dkim)) {
		if (sign(d, sn, m, now, &sig, &res->err) < 0) {
			res_fail(res, REASON_SIGN_ERROR);
			goto out;
		}
		iov[n++] = (struct iovec){sig.data, sig.len};
	}
	iov[n++] = (struct iovec){m->head.data, m->head.len};
	iov[n++] = (struct iovec){(void *)"\r\n", 2};
	iov[n++] = (struct iovec){(void *)m->body, m->body_len};
	t = get_tx(d, sn, method, &res->err);
	if (t == NULL) {
		res_fail(res, REASON_TRANSPORT_UNAVAILABLE);
		goto out;
	}
	if (tx_send(t, &env, iov, n, &why, &res->err) < 0) {
		res_fail(res, why.reason);
		res->pause = why.pause;
		/* a transient failure may have left the handle unusable (a
		 * dropped connection, a replaced outbox): open it afresh */
		if (res->err.kind == MR_TEMP && !why.keep)
			drop_tx(d, t);
	}
out:
	buf_free(&sig);
}

void dlv_entry(struct dlv *d, const struct snap *sn, struct st *st,
	       const char *uniq, const struct rcfg_entry *e,
	       const struct rpl_req *req, struct dlv_res *res)
{
	struct rpl_msg m;
	char *key;
	int r;

	res_ok(res, DLV_SENT);
	r = st_journal_has(st, uniq, (int)e->index, &res->err);
	if (r != 0) {
		if (r > 0)
			res_ok(res, DLV_JOURNAL);
		else
			res_fail(res, REASON_STORE_UNAVAILABLE);
		return;
	}
	if (rpl_compose(sn->rpl, e->index, req, &m, &res->err) < 0) {
		res_fail(res, REASON_COMPOSE_ERROR);
		return;
	}
	key = xasprintf("%s.E%zu", uniq, e->index);
	dlv_send(d, sn, &m, e->method, req->to_addr, key, req->now, res);
	free(key);
	rpl_msg_free(&m);
	if (res->r != DLV_SENT)
		return;
	if (st_journal_put(st, uniq, (int)e->index, req->now, &res->err) < 0)
		res_fail(res, REASON_STORE_UNAVAILABLE);
}
