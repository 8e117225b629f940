/* job.h - one message through the pipeline
 * SYNOPSIS     int job_run(struct job_ctx *, const struct md_entry *, struct job_result *);
 * DESCRIPTION  claim (done by the caller) -> open -> parse -> policy ->
 *              for each config entry: journal check, compose, transport,
 *              journal write -> final spool state -> event. A job context
 *              belongs to one thread: it owns its store handle and its
 *              transport handles (kept open, so SMTP connections are
 *              reused). Outcomes follow the error kind: MR_TEMP sends the
 *              message back to new/ (or to the failure folder once it is
 *              older than retry.max_age_s), MR_PERM to the failure folder.
 * DIAGNOSTICS  job_run: 0 when the message reached a state (any outcome);
 *              -1 when even the final rename failed (it stays claimed and
 *              is recovered at the next start).
 */
#ifndef MR_JOB_H
#define MR_JOB_H

#include <time.h>

#include "hash.h"
#include "md.h"
#include "mr.h"

struct snap;
struct ev_log;
struct st;

struct job_ctx;

struct job_result {
	enum md_state state;
	const char *outcome; /* replied | ignored | failed | retry */
	char reason[64];
	int replies;
	int forwarded;
	char error[256]; /* redacted */
};

/* Time this context spent handling messages and, within that, signing
 * (microseconds); read from other threads. */
struct job_times {
	long long busy_us;
	long long sign_us;
};

void job_ctx_times(struct job_ctx *ctx, struct job_times *t);

/* Opens the store of sn's settings for this context. */
struct job_ctx *job_ctx_new(struct snap *sn, struct md_spool *sp,
			    struct ev_log *ev, struct mr_err *err);
void job_ctx_free(struct job_ctx **ctx);
/* Use a new snapshot from the next message on (after a reload); takes a
 * reference. Transports are reopened when their settings changed. */
void job_ctx_set_snap(struct job_ctx *ctx, struct snap *sn);

int job_run(struct job_ctx *ctx, const struct md_entry *ent, time_t now,
	    struct job_result *res);

/* send-direct: send the replies configured for requested to the address
 * to, as if to had written in: no policy, no daily limit, no journal (an
 * operator's deliberate act). One event with file "send-direct".
 * *sent_r = replies sent. 0, or -1 with err (the first failure stops). */
int job_send_direct(struct job_ctx *ctx, const char *to,
		    const char *requested, const char *subject, time_t now,
		    int *sent_r, struct mr_err *err);

/* classify: the verdict for a file, changing nothing. st may be NULL or a
 * read-only store. */
struct job_verdict {
	const char *outcome;
	char reason[64];
	char requested[256];
	char sender_hash[HASH_SHA256_HEX];
	int replies;
	int forward;
	char error[256];
};

int job_classify(const struct snap *sn, struct st *st, const char *path,
		 struct job_verdict *v);

#endif
