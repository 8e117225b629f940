/* tx.h - transports: how a composed message leaves (design.md s.6)
 * SYNOPSIS     char *tx_url_check(const char *url, const char *dir,
 *                                 struct mr_err *err);
 *              int tx_preflight(const char *url, const struct tx_deps *d,
 *                               struct mr_err *err);
 *              struct tx *tx_open(const char *url, const struct tx_deps *d,
 *                                 struct mr_err *err);
 *              int tx_send(struct tx *t, const struct tx_env *env,
 *                          const struct iovec *iov, int iovcnt,
 *                          struct tx_why *why, struct mr_err *err);
 *              void tx_close(struct tx **t);
 * DESCRIPTION  A transport is picked by its URL scheme; each backend
 *              module owns its scheme (tx_impl.h). The message is given
 *              as an iovec list (signature, headers, prebuilt body) and
 *              sent as is: CRLF line ends. One handle per worker thread,
 *              kept open between messages.
 *              tx_url_check() validates a URL from the settings and returns
 *              its normal form (a relative maildir: path resolved against
 *              dir); the error names what is wrong, not the key.
 *              tx_preflight() checks, before any message is handled, what
 *              a transport needs from outside (SES: AWS credentials; an
 *              smtp:// override with smtp_user: TLS).
 *
 *              "maildir:<path>" writes each message into a local Maildir
 *              as a delivery agent would (tmp/, fsync, rename into new/
 *              without replacing anything, fsync new/), with a Return-Path
 *              line of the envelope sender prepended. With env->key the
 *              file lands as new/<key>, and a key already there counts as
 *              delivered. For the demo, tests and dry runs.
 *
 *              "smtp://host:port" submits over plain SMTP (with
 *              smtp_starttls: STARTTLS before anything else, never a
 *              fallback to clear text), "smtps://host:port" over implicit
 *              TLS; peer and host name are verified (smtp_ca_file
 *              replaces the system CAs). With smtp_user, SMTP AUTH with
 *              the first line of smtp_password_file (read at open: a
 *              regular file that others cannot read). The URL path, if
 *              any, is the EHLO name; otherwise dkim.domain, else the
 *              domain of from_addr, else "localhost". Envelope: MAIL FROM
 *              env->mail_from, RCPT TO env->rcpt. A handle keeps one SMTP
 *              connection for all its sends; a send on a reused connection
 *              that fails before the server answered is tried once more
 *              on a fresh one.
 *
 *              "ses" sends through Amazon SES SendRawEmail (query API,
 *              signed with SigV4 for ses.region at ses.endpoint, default
 *              https://email.REGION.amazonaws.com): Source is the
 *              complaints address, the destination env->rcpt, the data the
 *              message as composed; ses.configuration_set when set. Every
 *              worker waits for its slot under ses.max_send_rate (pace.h)
 *              before a call. The handle borrows d->aws and d->ses_pace:
 *              close it before the snapshot that owns them goes.
 * DIAGNOSTICS  tx_send: 0 accepted; -1 with err: MR_TEMP (try again later)
 *              or MR_PERM (this message can never be sent), why->reason
 *              the word for the event log (default send-failed),
 *              why->pause asks the caller to stop every worker for a while
 *              (the sending account itself is paused); after a temporary
 *              failure the caller opens the transport afresh unless
 *              why->keep (the server answered: the connection is fine).
 *              smtp: an answer 4xx is MR_TEMP and 5xx MR_PERM (but a 5xx
 *              to the greeting, EHLO, STARTTLS, AUTH or MAIL FROM is
 *              MR_TEMP: it is not about the message), text "smtp: <code>
 *              <server reply>"; every other failure (refused, timeout,
 *              DNS, TLS) is MR_TEMP, "smtp: <curl's description>
 *              (<detail>)".
 *              ses: MessageRejected is MR_PERM ses-rejected;
 *              InvalidParameterValue/Combination MR_PERM ses-invalid;
 *              Throttling MR_TEMP ses-throttled; "Daily message quota
 *              exceeded." and AccountSendingPausedException MR_TEMP
 *              ses-paused with why->pause; signature and token errors
 *              MR_TEMP aws-credentials (ExpiredToken also drops cached
 *              instance credentials); HTTP 5xx, other codes, connection,
 *              TLS and timeout errors MR_TEMP ses-unavailable.
 *              maildir: system errors are MR_TEMP.
 *              Server replies and curl's details pass through log_redact();
 *              error texts never contain the recipient's address.
 *              tx_url_check: the normal form (caller frees), or NULL with
 *              err (MR_PERM). tx_open: a handle, or NULL with err.
 * SEE ALSO     tx_impl.h, aws.h, pace.h, dlv.h; components.md s.5; curl
 *              docs/examples/smtp-mail.c
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
