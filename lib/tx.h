/* tx.h - transports: how a composed message leaves (design.md s.6)
 * SYNOPSIS     struct tx *tx_open(const char *url, const struct set *, struct mr_err *);
 *              int tx_send(struct tx *, const struct tx_env *, const struct iovec *, int, struct mr_err *);
 * DESCRIPTION  Picked by URL scheme, each backend a struct tx_ops:
 *              "maildir:<path>" writes the message into a Maildir
 *              (tmp/, fsync, rename into new/, fsync new/); later
 *              "smtp://host:port" and "ses". The message is given as an
 *              iovec list (headers, signature, prebuilt body) and sent as
 *              is: CRLF line ends. One handle per worker thread.
 * DIAGNOSTICS  0 accepted; -1 with err: MR_TEMP (try again later) or
 *              MR_PERM (this message can never be sent). Error texts never
 *              contain the recipient's address.
 */
#ifndef MR_TX_H
#define MR_TX_H

#include <sys/uio.h>

#include "mr.h"

struct set;
struct tx;

struct tx_env {
	const char *mail_from; /* envelope sender (the complaints address) */
	const char *rcpt;      /* envelope recipient */
	/* "<unique name>.E<part>" or NULL: a transport that can deliver
	 * idempotently (maildir:) delivers each key at most once, so a
	 * message recovered after a crash between delivery and the journal
	 * write is not delivered twice */
	const char *key;
};

struct tx_ops {
	const char *scheme; /* "maildir:" */
	void *(*open)(const char *rest, const struct set *s,
		      struct mr_err *err);
	int (*send)(void *h, const struct tx_env *env, const struct iovec *iov,
		    int iovcnt, struct mr_err *err);
	void (*close)(void *h);
};

struct tx *tx_open(const char *url, const struct set *s, struct mr_err *err);
int tx_send(struct tx *t, const struct tx_env *env, const struct iovec *iov,
	    int iovcnt, struct mr_err *err);
void tx_close(struct tx **t);
const char *tx_url(const struct tx *t);

extern const struct tx_ops tx_maildir_ops;
extern const struct tx_ops tx_smtp_ops, tx_smtps_ops;

#endif
