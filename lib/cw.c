/* cw.c - CloudWatch metrics (contract: cw.h)
 *
 * The thread sleeps on a condition variable with the monotonic clock, so
 * cw_stop wakes it at once, also between retries. The request is the
 * query API's form body, built here and percent-encoded with
 * aws_uri_encode(). The curl handle, the credentials and the instance
 * facts belong to the thread. See components.md s.4b (PutMetricData).
 */
#include "cw.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "aws.h"
#include "log.h"
#include "md.h"
#include "metrics.h"
#include "settings.h"
#include "snap.h"

#define CW_RESP_MAX 4096

struct cw {
	struct snap *sn;
	struct met *m;
	struct md_spool *sp;
	struct aws *aws; /* the snapshot's */
	CURL *h;
	char *url;
	const char *region;
	char *instance_id; /* from instance metadata, when asked */
	char *asg;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
	int last_failed; /* the last call failed: skip the one at the stop */
	atomic_long calls, failed, dropped;
};

/* ---- the request body ---- */

static void param(struct mr_buf *b, int member, const char *key,
		  const char *val)
{
	buf_printf(b, "&MetricData.member.%d.%s=", member, key);
	aws_uri_encode(b, val, 0);
}

/* Dimension number k of a metric: its name and its value. */
static void dim(struct mr_buf *b, int member, int k, const char *name,
		const char *val)
{
	char key[64];

	(void)snprintf(key, sizeof(key), "Dimensions.member.%d.Name",
		       k); /* fits */
	param(b, member, key, name);
	(void)snprintf(key, sizeof(key), "Dimensions.member.%d.Value", k);
	param(b, member, key, val);
}

/* The dimensions of every metric, plus extra (name=value) when set. */
static void dims(const struct cw *c, struct mr_buf *b, int member,
		 const char *xname, const char *xval)
{
	const struct set *s = c->sn->set;
	int k = 0;

	for (size_t i = 0; i < s->metrics.dim_names.n; i++)
		dim(b, member, ++k, s->metrics.dim_names.v[i],
		    s->metrics.dim_values.v[i]);
	if (c->instance_id)
		dim(b, member, ++k, "InstanceId", c->instance_id);
	if (c->asg)
		dim(b, member, ++k, "AutoScalingGroupName", c->asg);
	if (xname)
		dim(b, member, ++k, xname, xval);
}

static void value(const struct cw *c, struct mr_buf *b, int *member,
		  const char *name, const char *unit, long long v,
		  const char *xname, const char *xval, const char *ts)
{
	int n = ++*member;

	param(b, n, "MetricName", name);
	param(b, n, "Unit", unit);
	param(b, n, "Timestamp", ts);
	buf_printf(b, "&MetricData.member.%d.Value=%lld", n, v);
	dims(c, b, n, xname, xval);
}

static void stat_set(const struct cw *c, struct mr_buf *b, int *member,
		     const char *name, const struct met_interval *iv,
		     const char *ts)
{
	int n = ++*member;

	param(b, n, "MetricName", name);
	param(b, n, "Unit", "Milliseconds");
	param(b, n, "Timestamp", ts);
	buf_printf(b,
		   "&MetricData.member.%d.StatisticValues.SampleCount=%ld"
		   "&MetricData.member.%d.StatisticValues.Sum=%lld"
		   "&MetricData.member.%d.StatisticValues.Minimum=%ld"
		   "&MetricData.member.%d.StatisticValues.Maximum=%ld",
		   n, iv->ms_n, n, iv->ms_sum, n, iv->ms_min, n, iv->ms_max);
	dims(c, b, n, NULL, NULL);
}

static void body(const struct cw *c, const struct met_interval *iv,
		 const struct md_counts *mc, time_t now, struct mr_buf *b)
{
	const struct set *s = c->sn->set;
	struct tm tm;
	char ts[32];
	int member = 0;

	gmtime_r(&now, &tm);
	if (strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		ts[0] = 0;
	buf_puts(b, "Action=PutMetricData&Version=2010-08-01&Namespace=");
	aws_uri_encode(b, s->metrics.namespace_, 0);
	if (iv->ms_n > 0)
		stat_set(c, b, &member, "ProcessingTime", iv, ts);
	for (int o = 0; o < MET_N_OUTCOMES; o++)
		value(c, b, &member, "Requests", "Count", iv->n[o], "Outcome",
		      met_outcome_word((enum met_outcome)o), ts);
	value(c, b, &member, "RepliesSent", "Count", iv->replies, NULL, NULL,
	      ts);
	value(c, b, &member, "Backlog", "Count", mc->n_new, NULL, NULL, ts);
	value(c, b, &member, "OldestRequestAge", "Seconds",
	      mc->oldest_new > 0 && now > mc->oldest_new
		      ? (long long)(now - mc->oldest_new)
		      : 0,
	      NULL, NULL, ts);
	if (!s->metrics.legacy_names)
		return;
	value(c, b, &member, "response_sent", "Count", iv->n[MET_REPLIED], NULL,
	      NULL, ts);
	if (iv->ms_n > 0)
		stat_set(c, b, &member, "processing_time", iv, ts);
}

/* ---- one call ---- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct mr_buf *b = arg;

	if (b->len + size * n <= CW_RESP_MAX)
		buf_append(b, p, size * n);
	return size * n;
}

/* The <Code> of an AWS error document, for the log. */
static void aws_code(const struct mr_buf *b, char *out, size_t n)
{
	const char *p = b->data ? strstr(b->data, "<Code>") : NULL;
	const char *e = p ? strstr(p, "</Code>") : NULL;

	(void)snprintf(out, n, "%.*s", p && e ? (int)(e - p - 6) : 0,
		       p && e ? p + 6 : "");
}

static void setup_call(struct cw *c, const char *data, size_t len,
		       struct mr_buf *resp, char *errbuf)
{
	const struct set *s = c->sn->set;

	curl_easy_reset(c->h);
	(void)curl_easy_setopt(c->h, CURLOPT_URL, c->url);
	(void)curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(c->h, CURLOPT_TIMEOUT, s->metrics.timeout_s);
	(void)curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT,
			       s->metrics.timeout_s < 5 ? s->metrics.timeout_s
							: 5L);
	(void)curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, data);
	(void)curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)len);
	(void)curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	(void)curl_easy_setopt(c->h, CURLOPT_WRITEDATA, resp);
	(void)curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, errbuf);
}

/* 0 accepted; -1 with err: MR_TEMP worth a retry, MR_PERM not. */
static int post(struct cw *c, const struct mr_buf *b, struct mr_err *err)
{
	struct curl_slist *hl = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", code_s[64];
	struct aws_creds cr;
	struct mr_buf resp;
	long code = 0;
	CURLcode rc;

	if (aws_creds_get(c->aws, time(NULL), &cr, err) < 0)
		return -1;
	buf_init(&resp);
	setup_call(c, b->data, b->len, &resp, errbuf);
	hl = curl_slist_append(
		hl, "Content-Type: application/x-www-form-urlencoded");
	if (hl == NULL ||
	    aws_curl_sign(c->h, &cr, c->region, "monitoring", &hl, err) < 0) {
		aws_creds_clear(&cr);
		curl_slist_free_all(hl);
		buf_free(&resp);
		return -1;
	}
	(void)curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hl);
	rc = curl_easy_perform(c->h);
	(void)curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	(void)curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
	aws_creds_clear(&cr);
	curl_slist_free_all(hl);
	aws_code(&resp, code_s, sizeof(code_s));
	buf_free(&resp);
	if (rc != CURLE_OK) {
		mr_err_set(err, MR_TEMP, "PutMetricData: %s",
			   errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return -1;
	}
	if (code == 200)
		return 0;
	if (strcmp(code_s, "ExpiredToken") == 0)
		aws_creds_stale(c->aws);
	mr_err_set(err,
		   code >= 500 || code == 429 ||
				   strcmp(code_s, "Throttling") == 0 ||
				   strcmp(code_s, "ExpiredToken") == 0
			   ? MR_TEMP
			   : MR_PERM,
		   "PutMetricData: HTTP %ld %s", code, code_s);
	return -1;
}

/* ---- the thread ---- */

/* Wait until deadline (monotonic) or cw_stop. 1 when stopping. */
static int wait_until(struct cw *c, const struct timespec *deadline)
{
	int stop;

	pthread_mutex_lock(&c->mu);
	while (!c->stopping &&
	       pthread_cond_timedwait(&c->cv, &c->mu, deadline) == 0)
		;
	stop = c->stopping;
	pthread_mutex_unlock(&c->mu);
	return stop;
}

static struct timespec after(double s)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)s;
	t.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* InstanceId and AutoScalingGroupName when asked and not known yet. 0
 * when every asked dimension is known. */
static int instance_facts(struct cw *c)
{
	const struct set *s = c->sn->set;
	struct mr_err err;

	mr_err_clear(&err);
	if (s->metrics.instance_id && c->instance_id == NULL &&
	    aws_imds_get(c->aws, "/latest/meta-data/instance-id",
			 &c->instance_id, &err) < 0)
		log_warn("metrics: InstanceId: %s", err.text);
	if (s->metrics.asg_name && c->asg == NULL &&
	    aws_imds_get(c->aws,
			 "/latest/meta-data/tags/instance/"
			 "aws:autoscaling:groupName",
			 &c->asg, &err) < 0)
		log_warn("metrics: AutoScalingGroupName (instance metadata "
			 "tags must be enabled): %s",
			 err.text);
	return (s->metrics.instance_id && c->instance_id == NULL) ||
			       (s->metrics.asg_name && c->asg == NULL)
		       ? -1
		       : 0;
}

/* One batch: sent, or dropped after the retries. */
static void flush(struct cw *c, long retries)
{
	struct met_interval iv;
	struct md_counts mc;
	struct mr_err err;
	struct mr_buf b;
	long i;

	met_interval_take(c->m, &iv);
	if (retries < 0) { /* the stop after a failure: do not wait again */
		atomic_fetch_add(&c->dropped, 1);
		return;
	}
	mr_err_clear(&err);
	if (md_counts(c->sp, &mc, &err) < 0) {
		log_warn("metrics: spool: %s", err.text);
		memset(&mc, 0, sizeof(mc));
	}
	if (instance_facts(c) < 0) {
		atomic_fetch_add(&c->dropped, 1);
		return;
	}
	buf_init(&b);
	body(c, &iv, &mc, time(NULL), &b);
	for (i = 0;; i++) {
		struct timespec t;

		mr_err_clear(&err);
		if (post(c, &b, &err) == 0) {
			atomic_fetch_add(&c->calls, 1);
			c->last_failed = 0;
			break;
		}
		atomic_fetch_add(&c->failed, 1);
		c->last_failed = 1;
		t = after((double)(1L << (i < 4 ? i : 4)));
		if (err.kind != MR_TEMP || i >= retries || wait_until(c, &t)) {
			log_warn("metrics: batch dropped: %s", err.text);
			atomic_fetch_add(&c->dropped, 1);
			break;
		}
	}
	buf_free(&b);
}

static void *cw_main(void *arg)
{
	struct cw *c = arg;
	long interval = c->sn->set->metrics.interval_s;
	struct timespec next = after((double)interval);

	for (;;) {
		int stop = wait_until(c, &next);

		flush(c, !stop            ? c->sn->set->metrics.retries
			 : c->last_failed ? -1
					  : 0);
		if (stop)
			return NULL;
		next.tv_sec += interval;
	}
}

/* ---- start and stop ---- */

static char *endpoint_url(const struct set *s, const char *region)
{
	if (s->metrics.endpoint)
		return xasprintf(
			"%s%s", s->metrics.endpoint,
			s->metrics.endpoint[strlen(s->metrics.endpoint) - 1] ==
					'/'
				? ""
				: "/");
	return xasprintf("https://monitoring.%s.amazonaws.com/", region);
}

static void cw_free(struct cw *c)
{
	curl_easy_cleanup(c->h);
	snap_unref(&c->sn);
	free(c->url);
	free(c->instance_id);
	free(c->asg);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

struct cw *cw_start(struct snap *sn, struct met *m, struct md_spool *sp,
		    struct mr_err *err)
{
	struct cw *c = xcalloc(1, sizeof(*c));
	const struct set *s = sn->set;
	pthread_condattr_t ca;

	c->sn = snap_ref(sn);
	c->m = m;
	c->sp = sp;
	c->region = s->metrics.region ? s->metrics.region : s->ses.region;
	c->url = endpoint_url(s, c->region);
	c->aws = sn->aws;
	c->h = curl_easy_init();
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (c->h == NULL || pthread_create(&c->th, NULL, cw_main, c) != 0) {
		mr_err_set(err, MR_TEMP, "metrics: cannot start");
		cw_free(c);
		return NULL;
	}
	log_info("metrics: CloudWatch namespace %s every %ld s to %s",
		 s->metrics.namespace_, s->metrics.interval_s, c->url);
	return c;
}

void cw_stop(struct cw **cp)
{
	struct cw *c = *cp;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	cw_free(c);
	*cp = NULL;
}

void cw_stats(struct cw *c, struct cw_stats *st)
{
	st->calls = atomic_load(&c->calls);
	st->failed = atomic_load(&c->failed);
	st->dropped = atomic_load(&c->dropped);
}
