/* dlv.h - outbound delivery: transport choice, signing, send, journal
 * SYNOPSIS     struct dlv *dlv_new(void);
 *              void dlv_entry(struct dlv *d, const struct snap *sn,
 *                             struct st *st, const char *uniq,
 *                             const struct rcfg_entry *e,
 *                             const struct rpl_req *req,
 *                             struct dlv_res *res);
 *              void dlv_send(struct dlv *d, const struct snap *sn,
 *                            const struct rpl_msg *m,
 *                            enum rcfg_method method, const char *rcpt,
 *                            const char *key, time_t now,
 *                            struct dlv_res *res);
 *              void dlv_reset(struct dlv *d);
 * DESCRIPTION  A struct dlv belongs to one worker thread and keeps its
 *              transport handles open between messages (one SMTP
 *              connection, one SES HTTPS connection per worker). The
 *              transport of an entry is the settings' transport_override
 *              when set, else smtp_url for send_method SMTP and "ses" for
 *              SES. SMTP entries (and admin forwards) are DKIM-signed when
 *              keys are configured; SES entries never (SES signs). The
 *              method decides, not the transport, so a maildir: dry run
 *              holds exactly what would be sent.
 *              dlv_entry() sends one config entry idempotently: the send
 *              journal is asked for (uniq, entry index) first and written
 *              after the transport accepted the message, so a retried or
 *              recovered request re-sends only what the journal does not
 *              know. The one duplicate window is between the transport's
 *              acceptance and the journal write.
 *              dlv_reset() closes the transports, after making durable
 *              what they left pending (a failure there is reported by the
 *              next dlv_sync()); each reopens at its next send. The job
 *              context calls it for every new snapshot.
 * DIAGNOSTICS  Every call fills a struct dlv_res: sent, already sent (in
 *              the journal), temporary or permanent failure with a reason
 *              word and an error text (not yet redacted: the caller
 *              redacts before anything is written), and pause when the
 *              transport asked all sending to stop for a while.
 * SEE ALSO     tx.h, dkim.h, store.h, job.h; design.md s.3, s.5, s.6
 */
#ifndef MR_DLV_H
#define MR_DLV_H

#include <time.h>

#include "mr.h"
#include "rcfg.h"
#include "reason.h"

struct dlv;
struct snap;
struct st;
struct rpl_msg;
struct rpl_req;

enum dlv_r {
	DLV_SENT = 0, /* accepted by the transport now */
	DLV_JOURNAL,  /* sent before: the journal has it */
	DLV_TEMP,     /* try again later */
	DLV_PERM,     /* this entry can never be sent */
};

struct dlv_res {
	enum dlv_r r;
	enum reason reason; /* DLV_TEMP, DLV_PERM */
	int pause;          /* the transport asked for a global pause */
	struct mr_err err;  /* DLV_TEMP, DLV_PERM; not redacted */
};

struct dlv *dlv_new(void);
void dlv_free(struct dlv **d);
void dlv_reset(struct dlv *d);

void dlv_send(struct dlv *d, const struct snap *sn, const struct rpl_msg *m,
	      enum rcfg_method method, const char *rcpt, const char *key,
	      time_t now, struct dlv_res *res);
void dlv_entry(struct dlv *d, const struct snap *sn, struct st *st,
	       const char *uniq, const struct rcfg_entry *e,
	       const struct rpl_req *req, struct dlv_res *res);

/* Group commit (job.h): with on set, a transport may leave the part of
 * its durability that messages can share to dlv_sync(), which must
 * return 0 before any message sent since counts as delivered. */
void dlv_defer(struct dlv *d, int on);
int dlv_sync(struct dlv *d, struct mr_err *err);

/* Microseconds spent signing (read from other threads). */
long long dlv_sign_us(struct dlv *d);

/* "sent", "journal", "retry", "failed" (the event's per-entry "r") */
const char *dlv_word(enum dlv_r r);

#endif
