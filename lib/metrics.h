/* metrics.h - the one counter model of handled messages
 * SYNOPSIS     struct met *met_new(void);
 *              void met_add(struct met *, const struct met_rec *);
 *              struct met *met_copy(struct met *);
 * DESCRIPTION  Every handled message passes through met_add() once, where
 *              its event is emitted (ev_emit); the stats command feeds the
 *              same model from the event log. It holds the counts by
 *              outcome and by (outcome, reason), per requested address,
 *              the replies and admin forwards sent, the config entries
 *              that failed, and a histogram of processing times (exact to
 *              the millisecond below 1024 ms, then within 1/64). Status,
 *              the drain summary, the stats report and the Prometheus and
 *              CloudWatch exports all read it. met_add is thread-safe;
 *              readers take a consistent copy with met_copy().
 *              Tables are bounded (MET_MAX_REASONS, MET_MAX_ADDRS): what
 *              does not fit is counted under "(other)".
 * DIAGNOSTICS  None: nothing here fails (tables are bounded, allocation
 *              failure aborts, mr.h).
 * SEE ALSO     event.h, stats.h, cw.h
 */
#ifndef MR_METRICS_H
#define MR_METRICS_H

#include <stddef.h>

#include "mr.h"

#define MET_MAX_REASONS 128
#define MET_MAX_ADDRS 512

enum met_outcome {
	MET_REPLIED = 0,
	MET_IGNORED,
	MET_FAILED,
	MET_RETRY,
	MET_N_OUTCOMES,
};

struct met_rec {
	const char *outcome;   /* replied | ignored | failed | retry */
	const char *reason;    /* policy word or failure reason */
	const char *requested; /* our address, or NULL */
	long ms;               /* processing time */
	int replies;           /* replies sent to the requester */
	int forwarded;         /* admin forwards sent */
	int failed_entries;    /* config entries that failed */
	int forward_held;      /* the hourly cap held a forward back */
};

struct met;

struct met *met_new(void);
void met_free(struct met **m);
/* -1 when outcome is not one of the four words (nothing counted). */
int met_add(struct met *m, const struct met_rec *r);
/* A consistent snapshot (caller frees with met_free). */
struct met *met_copy(struct met *m);
/* Events counted so far, read under the lock (live counters). */
long met_handled(struct met *m);
/* Add everything of src into dst. */
void met_merge(struct met *dst, const struct met *src);

const char *met_outcome_word(enum met_outcome o);
/* Events of an outcome; met_events() all of them. */
long met_count(const struct met *m, enum met_outcome o);
long met_events(const struct met *m);
long met_replies(const struct met *m);
long met_forwards(const struct met *m);
long met_forwards_held(const struct met *m);
long met_failed_entries(const struct met *m);
/* Processing time: the q-quantile (0 < q <= 1) in ms, the maximum, the
 * sum; 0 when nothing was counted. */
long met_quantile_ms(const struct met *m, double q);
long met_max_ms(const struct met *m);
long long met_sum_ms(const struct met *m);

/* Iterate the (outcome, reason) and address tables: i from 0 while the
 * function returns 1. */
int met_reason_at(const struct met *m, size_t i, const char **outcome_r,
		  const char **reason_r, long *n_r);

struct met_addr_counts {
	long n[MET_N_OUTCOMES]; /* events by outcome */
	long replies;
};

int met_addr_at(const struct met *m, size_t i, const char **addr_r,
		struct met_addr_counts *c_r);

/* What was counted since the previous met_interval_take (CloudWatch
 * statistic sets): taking it starts the next interval. */
struct met_interval {
	long n[MET_N_OUTCOMES];
	long replies;
	long ms_n; /* events */
	long long ms_sum;
	long ms_min; /* 0 when ms_n is 0 */
	long ms_max;
};

void met_interval_take(struct met *m, struct met_interval *iv);

/* Events with ms <= limit_ms (Prometheus buckets; exact below 1024 ms). */
long met_count_le(const struct met *m, long limit_ms);

/* The counters as one JSON object (text, caller frees): handled, replied,
 * ignored, failed, retry, replies, forwards, failed_entries, ms {p50,
 * p95, p99, max, sum}, reasons [{outcome, reason, n}]. */
char *met_json_dup(const struct met *m);

/* The counters in the Prometheus text format (metric names start with
 * mailresponder_), appended to out. */
void met_prometheus(const struct met *m, struct mr_buf *out);

#endif
