/* tx_impl.h - private interface between the transport front and backends
 * SYNOPSIS     #include "tx_impl.h"  (tx.c and tx_*.c only)
 * DESCRIPTION  A backend is a struct tx_ops naming its URL scheme; tx.c
 *              picks it by that prefix. open() gets the rest of the URL,
 *              allocates its own handle whose first member is a struct tx
 *              and returns &handle->base; tx.c fills in ops and url.
 *              check() (optional) validates the rest of a URL from the
 *              settings and returns its normal form (or NULL with err);
 *              without it any rest is taken as is. preflight() (optional)
 *              checks outside needs once at start. send() follows tx.h;
 *              why arrives set to send-failed, no pause. A backend
 *              whose acceptance needs an fsync of its own (maildir:)
 *              leaves the part it can share between messages to sync()
 *              while defer_sync is set.
 * DIAGNOSTICS  As tx.h: 0 or -1 with err; open() NULL with err.
 * SEE ALSO     tx.h, tx.c, store_impl.h (the same shape)
 */
#ifndef MR_TX_IMPL_H
#define MR_TX_IMPL_H

#include "tx.h"

struct tx_ops;

/* The common head of every backend handle. */
struct tx {
	const struct tx_ops *ops; /* set by tx_open() */
	char *url;                /* set by tx_open() */
	int defer_sync;           /* tx_defer_sync(): send leaves it to sync */
};

struct tx_ops {
	const char *scheme; /* "maildir:", "smtp://", "ses" */
	char *(*check)(const char *rest, const char *dir, struct mr_err *err);
	int (*preflight)(const char *rest, const struct tx_deps *d,
			 struct mr_err *err);
	struct tx *(*open)(const char *rest, const struct tx_deps *d,
			   struct mr_err *err);
	int (*send)(struct tx *t, const struct tx_env *env,
		    const struct iovec *iov, int iovcnt, struct tx_why *why,
		    struct mr_err *err);
	/* optional: make durable what send() left to it (defer_sync) */
	int (*sync)(struct tx *t, struct mr_err *err);
	void (*close)(struct tx *t);
};

extern const struct tx_ops tx_maildir_ops;
extern const struct tx_ops tx_smtp_ops, tx_smtps_ops;
extern const struct tx_ops tx_ses_ops;

#endif
