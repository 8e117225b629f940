/* tx.c - transport front: pick a backend by URL scheme (tx.h)
 */
#include "tx.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

struct tx {
	const struct tx_ops *ops;
	void *h;
	char *url;
};

static const struct tx_ops *const backends[] = {
	&tx_maildir_ops,
	&tx_smtp_ops,
	&tx_smtps_ops,
};

struct tx *tx_open(const char *url, const struct set *s, struct mr_err *err)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const struct tx_ops *ops = backends[i];
		size_t n = strlen(ops->scheme);
		struct tx *t;
		void *h;

		if (strncmp(url, ops->scheme, n) != 0)
			continue;
		h = ops->open(url + n, s, err);
		if (h == NULL)
			return NULL;
		t = xcalloc(1, sizeof(*t));
		t->ops = ops;
		t->h = h;
		t->url = xstrdup(url);
		return t;
	}
	mr_err_set(err, MR_PERM, "transport %.100s: unsupported scheme", url);
	return NULL;
}

int tx_send(struct tx *t, const struct tx_env *env, const struct iovec *iov,
	    int iovcnt, struct mr_err *err)
{
	return t->ops->send(t->h, env, iov, iovcnt, err);
}

void tx_close(struct tx **tp)
{
	struct tx *t = *tp;

	if (t == NULL)
		return;
	t->ops->close(t->h);
	free(t->url);
	free(t);
	*tp = NULL;
}

const char *tx_url(const struct tx *t)
{
	return t->url;
}
