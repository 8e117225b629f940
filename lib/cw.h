/* cw.h - CloudWatch metrics: one PutMetricData call per interval
 * SYNOPSIS     struct cw *cw_start(struct snap *sn, struct met *m,
 *                                  struct md_spool *sp, struct mr_err *err);
 *              void cw_stop(struct cw **c);
 *              void cw_stats(struct cw *c, struct cw_stats *st);
 * DESCRIPTION  A thread of its own (never a worker: mail does not wait
 *              for metrics) wakes every metrics.interval_s, takes what the
 *              counter model counted since the last time
 *              (met_interval_take), reads the backlog (entries in new/)
 *              and the age of the oldest waiting request, and sends them
 *              in one PutMetricData call (query API, service
 *              "monitoring", signed through aws.h): ProcessingTime in
 *              Milliseconds as a statistic set (SampleCount, Sum, Minimum,
 *              Maximum; left out for an interval without requests),
 *              Requests per Outcome, RepliesSent (Count), Backlog (Count),
 *              OldestRequestAge (Seconds); with metrics.legacy_names also
 *              the old system's response_sent (replied requests, Count)
 *              and processing_time (the same statistic set). Every metric
 *              carries the dimensions of the settings, plus InstanceId and
 *              AutoScalingGroupName from instance metadata when asked
 *              (Requests adds Outcome). A failed call is retried at most
 *              metrics.retries times within the interval (each call
 *              bounded by metrics.timeout_s); then the batch is dropped
 *              and counted. cw_stop sends what was counted since the last
 *              call, once, without retries (not when the last call failed:
 *              a stop waits for at most the call in progress), and joins
 *              the thread.
 * DIAGNOSTICS  cw_start: NULL with err (nothing started) when the thread
 *              cannot start; a missing AWS credential is not an error at
 *              start: every call then fails and is counted as dropped.
 * SEE ALSO     metrics.h, aws.h; components.md s.4b, design.md s.9
 */
#ifndef MR_CW_H
#define MR_CW_H

#include "mr.h"

struct snap;
struct met;
struct md_spool;
struct cw;

struct cw_stats {
	long calls;   /* PutMetricData calls accepted */
	long failed;  /* calls that failed (each retry counts) */
	long dropped; /* batches given up */
};

struct cw *cw_start(struct snap *sn, struct met *m, struct md_spool *sp,
		    struct mr_err *err);
void cw_stop(struct cw **c);
void cw_stats(struct cw *c, struct cw_stats *st);

#endif
