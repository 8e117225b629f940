/* tx.c - transport front (contract: tx.h)
 *
 * Picks a backend from a static table by URL scheme prefix, as OpenSMTPD
 * picks its table backends by name, and hands each call to its ops.
 */
#include "tx.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tx_impl.h"

static const struct tx_ops *const backends[] = {
	&tx_maildir_ops,
	&tx_smtp_ops,
	&tx_smtps_ops,
	&tx_ses_ops,
};

/* The backend for url; *rest is what follows the scheme. */
static const struct tx_ops *find(const char *url, const char **rest)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const struct tx_ops *ops = backends[i];
		size_t n = strlen(ops->scheme);

		if (strncmp(url, ops->scheme, n) == 0) {
			*rest = url + n;
			return ops;
		}
	}
	return NULL;
}

static void unsupported(const char *url, struct mr_err *err)
{
	struct mr_buf b;

	buf_init(&b);
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const char *sc = backends[i]->scheme;
		size_t n = strlen(sc);

		buf_printf(&b, "%s\"%s%s\"", i ? ", " : "", sc,
			   sc[n - 1] == ':' || sc[n - 1] == '/' ? "..." : "");
	}
	mr_err_set(err, MR_PERM, "expected one of %s, got \"%.100s\"", b.data,
		   url);
	buf_free(&b);
}

char *tx_url_check(const char *url, const char *dir, struct mr_err *err)
{
	const char *rest;
	const struct tx_ops *ops = find(url, &rest);
	char *norm;

	if (ops == NULL) {
		unsupported(url, err);
		return NULL;
	}
	if (ops->check == NULL)
		return xstrdup(url);
	norm = ops->check(rest, dir, err);
	if (norm == NULL)
		return NULL;
	if (strncmp(norm, ops->scheme, strlen(ops->scheme)) == 0)
		return norm;
	rest = norm;
	norm = xasprintf("%s%s", ops->scheme, rest);
	free((char *)rest);
	return norm;
}

int tx_preflight(const char *url, const struct tx_deps *d, struct mr_err *err)
{
	const char *rest;
	const struct tx_ops *ops = find(url, &rest);

	if (ops == NULL) {
		unsupported(url, err);
		return -1;
	}
	return ops->preflight ? ops->preflight(rest, d, err) : 0;
}

struct tx *tx_open(const char *url, const struct tx_deps *d, struct mr_err *err)
{
	const char *rest;
	const struct tx_ops *ops = find(url, &rest);
	struct tx *t;

	if (ops == NULL) {
		unsupported(url, err);
		return NULL;
	}
	t = ops->open(rest, d, err);
	if (t == NULL)
		return NULL;
	t->ops = ops;
	t->url = xstrdup(url);
	t->defer_sync = 0;
	return t;
}

int tx_send(struct tx *t, const struct tx_env *env, const struct iovec *iov,
	    int iovcnt, struct tx_why *why, struct mr_err *err)
{
	why->reason = REASON_SEND_FAILED;
	why->pause = 0;
	why->keep = 0;
	return t->ops->send(t, env, iov, iovcnt, why, err);
}

void tx_defer_sync(struct tx *t, int on)
{
	t->defer_sync = on;
}

int tx_sync(struct tx *t, struct mr_err *err)
{
	return t->ops->sync ? t->ops->sync(t, err) : 0;
}

void tx_close(struct tx **tp)
{
	struct tx *t = *tp;
	struct mr_err err;
	char *url;

	if (t == NULL)
		return;
	mr_err_clear(&err);
	if (tx_sync(t, &err) < 0)
		log_err("%s: %s", t->url, err.text);
	url = t->url;
	t->ops->close(t);
	free(url);
	*tp = NULL;
}

const char *tx_url(const struct tx *t)
{
	return t->url;
}
