/* job.h - one message through the pipeline
 * SYNOPSIS     struct job_ctx *job_ctx_new(struct snap *sn,
 *                      struct md_spool *sp, struct ev_log *ev,
 *                      struct mr_err *err);
 *              void job_ctx_set_snap(struct job_ctx *ctx, struct snap *sn);
 *              int job_add(struct job_ctx *ctx, const struct md_entry *ent,
 *                      time_t now, struct job_result **res_r);
 *              int job_commit(struct job_ctx *ctx, job_done_fn done,
 *                      void *arg);
 *              int job_run(struct job_ctx *ctx, const struct md_entry *ent,
 *                      time_t now, struct job_result *res);
 * DESCRIPTION  claim (done by the caller) -> open -> parse -> policy ->
 *              every config entry delivered on its own (dlv.h) -> final
 *              spool state -> event. A job context belongs to one thread:
 *              it owns its store handle and its delivery handle (kept
 *              open, so connections are reused), and holds a reference to
 *              the snapshot it works with until job_ctx_set_snap() gives
 *              it another. Every entry is tried, in config order; then:
 *              any temporary failure -> back to new/ (the journal keeps
 *              what was sent, so only the rest is retried), or to the
 *              failure folder with retry-expired once the message is
 *              older than retry.max_age_s; otherwise at least one entry
 *              sent -> replied; all permanent failures -> the failure
 *              folder. Admin forwards (forward_reasons) are capped per
 *              hour (fwdcap.h). Nothing outside learns an outcome before
 *              it is durable (group commit, below).
 *              job_send_direct() and job_classify() serve the send-direct
 *              and classify commands.
 * DIAGNOSTICS  job_run: 0 when the message reached a state (any outcome);
 *              -1 when even the final rename failed (it stays claimed and
 *              is recovered at the next start). job_add: -1 when the
 *              batch is full. job_commit: 0, or -1 when something could
 *              not be made final or durable (logged). job_ctx_new: NULL
 *              with err when the store cannot be opened.
 * SEE ALSO     dlv.h, policy.h, eng.h; design.md s.3, s.4, s.6, s.8
 */
#ifndef MR_JOB_H
#define MR_JOB_H

#include <time.h>

#include "event.h"
#include "hash.h"
#include "md.h"
#include "mr.h"

struct snap;
struct ev_log;
struct st;

struct job_ctx;

#define JOB_ENTRIES_MAX 32 /* per-entry results recorded in the event */

struct job_result {
	enum md_state state;
	const char *outcome; /* replied | ignored | failed | retry */
	char reason[64];
	int replies;
	int forwarded;
	int pause;        /* a transport asked to pause all sending */
	char error[256];  /* redacted */
	size_t n_entries; /* results in entries (0: no reply attempted) */
	struct ev_entry entries[JOB_ENTRIES_MAX];
	time_t now;              /* when it was handled */
	int finished;            /* the final rename happened (job_commit) */
	char forward_reason[32]; /* "" when no forward was wanted */
	int forward_held;        /* the hourly cap held the forward back */
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
 * reference. A different snapshot first commits the held batch, then
 * closes every transport (they reopen with the new settings at their next
 * send, whether or not those changed) and reopens the store only when its
 * URL changed (on failure the old store is kept, logged). */
void job_ctx_set_snap(struct job_ctx *ctx, struct snap *sn);

/* One message, committed at once (a batch of one). */
int job_run(struct job_ctx *ctx, const struct md_entry *ent, time_t now,
	    struct job_result *res);

/* Group commit. job_add() handles a claimed message (parse, decide,
 * send) and holds it: its final rename, its journal rows and the shared
 * fsyncs wait for job_commit(), which makes the whole batch durable (the
 * replies, then the journal rows in one store transaction, then the
 * final renames and one fsync per directory), then writes each message's
 * event and calls done for it (res->finished = 0: the final rename
 * failed, it stays claimed and is recovered at the next start). Nothing
 * outside learns an outcome before it is durable. job_add returns -1
 * when the batch is full (job_ctx_batch, default 1). job_commit: 0, or -1
 * when something could not be made final or durable (logged). */
typedef void (*job_done_fn)(void *arg, const struct md_entry *ent,
			    const struct job_result *res);
void job_ctx_batch(struct job_ctx *ctx, size_t max);
int job_add(struct job_ctx *ctx, const struct md_entry *ent, time_t now,
	    struct job_result **res_r);
size_t job_pending(const struct job_ctx *ctx);
int job_commit(struct job_ctx *ctx, job_done_fn done, void *arg);

/* send-direct: send the replies configured for requested to the address
 * to, as if to had written in: no policy, no daily limit, no journal (an
 * operator's deliberate act). One event with file "send-direct".
 * Every entry is tried. *sent_r = replies sent. 0, or -1 with err (the
 * first failure) when an entry failed. */
int job_send_direct(struct job_ctx *ctx, const char *to, const char *requested,
		    const char *subject, time_t now, int *sent_r,
		    struct mr_err *err);

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
