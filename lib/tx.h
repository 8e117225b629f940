/* tx.h - transports: how a composed message leaves (design.md s.6)
 * SYNOPSIS     char *tx_url_check(const char *url, const char *dir, struct mr_err *);
 *              struct tx *tx_open(const char *url, const struct tx_deps *, struct mr_err *);
 *              int tx_send(struct tx *, const struct tx_env *, const struct iovec *, int,
 *                          struct tx_why *, struct mr_err *);
 * DESCRIPTION  A transport is picked by its URL scheme; each backend
 *              module owns its scheme (tx_impl.h): "maildir:<path>"
 *              writes into a local Maildir, "smtp://host:port" and
 *              "smtps://host:port" submit over SMTP, "ses" sends through
 *              Amazon SES. The message is given as an iovec list
 *              (signature, headers, prebuilt body) and sent as is: CRLF
 *              line ends. One handle per worker thread.
 *              tx_url_check() validates a URL from the settings and returns
 *              its normal form (a relative maildir: path resolved against
 *              dir); the error names what is wrong, not the key.
 *              tx_preflight() checks, before any message is handled, what
 *              a transport needs from outside (SES: AWS credentials).
 * DIAGNOSTICS  0 accepted; -1 with err: MR_TEMP (try again later) or
 *              MR_PERM (this message can never be sent), and why->reason
 *              the word for the event log (default send-failed);
 *              why->pause asks the caller to stop every worker for a while
 *              (the sending account itself is paused); after a temporary
 *              failure the caller opens the transport afresh unless
 *              why->keep (the server answered: the connection is fine).
 *              Error texts never
 *              contain the recipient's address.
 */
#ifndef MR_TX_H
#define MR_TX_H

#include <sys/uio.h>

#include "mr.h"
#include "reason.h"

struct set;
struct aws;
struct pace;
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

/* What a failure means beyond its kind. */
struct tx_why {
	enum reason reason;
	int pause; /* pause all sending: the account is stopped */
	int keep;  /* the handle is fine after this failure: keep it */
};

char *tx_url_check(const char *url, const char *dir, struct mr_err *err);

/* What a transport needs: the settings, and what the workers of a process
 * share (owned by the configuration snapshot, which outlives every
 * transport handle opened with it). */
struct tx_deps {
	const struct set *set;
	struct aws *aws;       /* AWS credentials (SES); may be NULL */
	struct pace *ses_pace; /* ses.max_send_rate; NULL: no pacing */
};

int tx_preflight(const char *url, const struct tx_deps *d, struct mr_err *err);
struct tx *tx_open(const char *url, const struct tx_deps *d,
		   struct mr_err *err);
int tx_send(struct tx *t, const struct tx_env *env, const struct iovec *iov,
	    int iovcnt, struct tx_why *why, struct mr_err *err);
void tx_close(struct tx **t);
/* Group commit: with on set, tx_send may leave the part of its durability
 * that several messages can share (maildir: the fsync of new/) to
 * tx_sync(); a message sent this way counts as accepted only after
 * tx_sync() returned 0. tx_close() syncs what is pending. */
void tx_defer_sync(struct tx *t, int on);
int tx_sync(struct tx *t, struct mr_err *err);
const char *tx_url(const struct tx *t);

#endif
