/* metrics.c - the one counter model of handled messages (contract: metrics.h)
 *
 * One mutex guards the data; met_add does a few array and hash-table updates
 * under it. Histogram buckets: below 1024 ms one per millisecond; above, 64
 * per power of two (the bucket of v is its top 7 significant bits), so a
 * quantile is exact below 1024 ms and within 1/64 above. A quantile reports
 * the upper end of its bucket, never above the maximum seen.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define MET_EXACT 1024
#define MET_SUB 64
#define MET_MAX_EXP 40 /* 2^41 ms: any larger time lands in the last bucket */
#define MET_N_BUCKETS (MET_EXACT + (MET_MAX_EXP - 9) * MET_SUB)
#define MET_KEY 128
#define MET_RHASH 256  /* > 2 * MET_MAX_REASONS, power of two */
#define MET_AHASH 1024 /* > 2 * MET_MAX_ADDRS, power of two */

static const char *const outcome_words[MET_N_OUTCOMES] = {"replied", "ignored",
							  "failed", "retry"};

struct met_reason {
	int outcome;
	char reason[MET_KEY];
	long n;
};

struct met_addr {
	char addr[MET_KEY];
	struct met_addr_counts c;
};

struct met_data {
	long n[MET_N_OUTCOMES];
	long replies, forwards, failed_entries, forwards_held;
	long long sum_ms;
	long max_ms;
	long hist[MET_N_BUCKETS];
	struct met_reason reasons[MET_MAX_REASONS];
	size_t n_reasons;
	short rhash[MET_RHASH]; /* index + 1, 0 = empty */
	struct met_addr addrs[MET_MAX_ADDRS];
	size_t n_addrs;
	short ahash[MET_AHASH];
	struct met_interval iv;
};

struct met {
	pthread_mutex_t mu;
	struct met_data d;
};

struct met *met_new(void)
{
	struct met *m = xcalloc(1, sizeof(*m));

	pthread_mutex_init(&m->mu, NULL);
	return m;
}

void met_free(struct met **mp)
{
	struct met *m = *mp;

	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
	*mp = NULL;
}

const char *met_outcome_word(enum met_outcome o)
{
	return (unsigned)o < MET_N_OUTCOMES ? outcome_words[o] : "?";
}

static int outcome_of(const char *w)
{
	for (int i = 0; w && i < MET_N_OUTCOMES; i++)
		if (strcmp(w, outcome_words[i]) == 0)
			return i;
	return -1;
}

/* ---- histogram ---- */

static size_t bucket_of(long v)
{
	int e;

	if (v < MET_EXACT)
		return v < 0 ? 0 : (size_t)v;
	e = 63 - __builtin_clzll((unsigned long long)v);
	if (e > MET_MAX_EXP)
		return MET_N_BUCKETS - 1;
	return MET_EXACT + (size_t)(e - 10) * MET_SUB +
	       (size_t)((v >> (e - 6)) & (MET_SUB - 1));
}

static long bucket_high(size_t b)
{
	size_t k = b - MET_EXACT;
	int e = 10 + (int)(k / MET_SUB);
	long lo;

	if (b < MET_EXACT)
		return (long)b;
	lo = (long)(MET_SUB + k % MET_SUB) << (e - 6);
	return lo + (1L << (e - 6)) - 1;
}

/* ---- keyed tables ---- */

static size_t key_hash(int outcome, const char *s)
{
	return mr_hash_str(s) * 31 + (size_t)outcome;
}

static void key_copy(char *dst, const char *src)
{
	(void)snprintf(dst, MET_KEY, "%s", src); /* cut keys are still keys */
}

static struct met_reason *reason_slot(struct met_data *d, int outcome,
				      const char *reason)
{
	size_t h = key_hash(outcome, reason) & (MET_RHASH - 1);
	struct met_reason *r;

	for (; d->rhash[h]; h = (h + 1) & (MET_RHASH - 1)) {
		r = &d->reasons[d->rhash[h] - 1];
		if (r->outcome == outcome &&
		    strncmp(r->reason, reason, MET_KEY - 1) == 0)
			return r;
	}
	if (d->n_reasons == MET_MAX_REASONS - 1 &&
	    strcmp(reason, "(other)") != 0)
		return reason_slot(d, outcome, "(other)");
	if (d->n_reasons == MET_MAX_REASONS)
		return &d->reasons[MET_MAX_REASONS - 1];
	r = &d->reasons[d->n_reasons++];
	r->outcome = outcome;
	key_copy(r->reason, reason);
	d->rhash[h] = (short)d->n_reasons;
	return r;
}

static struct met_addr *addr_slot(struct met_data *d, const char *addr)
{
	size_t h = key_hash(0, addr) & (MET_AHASH - 1);
	struct met_addr *a;

	for (; d->ahash[h]; h = (h + 1) & (MET_AHASH - 1)) {
		a = &d->addrs[d->ahash[h] - 1];
		if (strncmp(a->addr, addr, MET_KEY - 1) == 0)
			return a;
	}
	if (d->n_addrs == MET_MAX_ADDRS - 1 && strcmp(addr, "(other)") != 0)
		return addr_slot(d, "(other)");
	if (d->n_addrs == MET_MAX_ADDRS)
		return &d->addrs[MET_MAX_ADDRS - 1];
	a = &d->addrs[d->n_addrs++];
	key_copy(a->addr, addr);
	d->ahash[h] = (short)d->n_addrs;
	return a;
}

/* ---- counting ---- */

static void data_add(struct met_data *d, int o, const struct met_rec *r)
{
	struct met_addr *a;
	long ms = r->ms < 0 ? 0 : r->ms;

	d->n[o]++;
	d->replies += r->replies;
	d->forwards += r->forwarded;
	d->forwards_held += r->forward_held;
	d->failed_entries += r->failed_entries;
	d->sum_ms += ms;
	if (ms > d->max_ms)
		d->max_ms = ms;
	d->hist[bucket_of(ms)]++;
	d->iv.n[o]++;
	d->iv.replies += r->replies;
	if (d->iv.ms_n == 0 || ms < d->iv.ms_min)
		d->iv.ms_min = ms;
	if (ms > d->iv.ms_max)
		d->iv.ms_max = ms;
	d->iv.ms_n++;
	d->iv.ms_sum += ms;
	reason_slot(d, o, r->reason ? r->reason : "")->n++;
	a = addr_slot(d, r->requested ? r->requested : "(none)");
	a->c.n[o]++;
	a->c.replies += r->replies;
}

int met_add(struct met *m, const struct met_rec *r)
{
	int o = outcome_of(r->outcome);

	if (o < 0)
		return -1;
	pthread_mutex_lock(&m->mu);
	data_add(&m->d, o, r);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

struct met *met_copy(struct met *m)
{
	struct met *c = met_new();

	pthread_mutex_lock(&m->mu);
	c->d = m->d;
	pthread_mutex_unlock(&m->mu);
	return c;
}

void met_interval_take(struct met *m, struct met_interval *iv)
{
	pthread_mutex_lock(&m->mu);
	*iv = m->d.iv;
	memset(&m->d.iv, 0, sizeof(m->d.iv));
	pthread_mutex_unlock(&m->mu);
}

long met_handled(struct met *m)
{
	long n;

	pthread_mutex_lock(&m->mu);
	n = met_events(m);
	pthread_mutex_unlock(&m->mu);
	return n;
}

void met_merge(struct met *dst, const struct met *src)
{
	const struct met_data *s = &src->d;
	struct met_data *d = &dst->d;

	for (int o = 0; o < MET_N_OUTCOMES; o++)
		d->n[o] += s->n[o];
	d->replies += s->replies;
	d->forwards += s->forwards;
	d->forwards_held += s->forwards_held;
	d->failed_entries += s->failed_entries;
	d->sum_ms += s->sum_ms;
	if (s->max_ms > d->max_ms)
		d->max_ms = s->max_ms;
	for (size_t i = 0; i < MET_N_BUCKETS; i++)
		d->hist[i] += s->hist[i];
	for (size_t i = 0; i < s->n_reasons; i++)
		reason_slot(d, s->reasons[i].outcome, s->reasons[i].reason)
			->n += s->reasons[i].n;
	for (size_t i = 0; i < s->n_addrs; i++) {
		struct met_addr *a = addr_slot(d, s->addrs[i].addr);

		for (int o = 0; o < MET_N_OUTCOMES; o++)
			a->c.n[o] += s->addrs[i].c.n[o];
		a->c.replies += s->addrs[i].c.replies;
	}
}

/* ---- reading ---- */

long met_count(const struct met *m, enum met_outcome o)
{
	return (unsigned)o < MET_N_OUTCOMES ? m->d.n[o] : 0;
}

long met_events(const struct met *m)
{
	long n = 0;

	for (int o = 0; o < MET_N_OUTCOMES; o++)
		n += m->d.n[o];
	return n;
}

long met_replies(const struct met *m)
{
	return m->d.replies;
}

long met_forwards(const struct met *m)
{
	return m->d.forwards;
}

long met_forwards_held(const struct met *m)
{
	return m->d.forwards_held;
}

long met_failed_entries(const struct met *m)
{
	return m->d.failed_entries;
}

long met_max_ms(const struct met *m)
{
	return m->d.max_ms;
}

long long met_sum_ms(const struct met *m)
{
	return m->d.sum_ms;
}

long met_quantile_ms(const struct met *m, double q)
{
	long n = met_events(m), seen = 0, rank;

	if (n == 0)
		return 0;
	rank = (long)(q * (double)n);
	if ((double)rank < q * (double)n)
		rank++;
	if (rank < 1)
		rank = 1;
	for (size_t b = 0; b < MET_N_BUCKETS; b++) {
		seen += m->d.hist[b];
		if (seen >= rank) {
			long hi = bucket_high(b);

			return hi < m->d.max_ms ? hi : m->d.max_ms;
		}
	}
	return m->d.max_ms;
}

long met_count_le(const struct met *m, long limit_ms)
{
	long n = 0;

	for (size_t b = 0; b < MET_N_BUCKETS && bucket_high(b) <= limit_ms; b++)
		n += m->d.hist[b];
	return n;
}

int met_reason_at(const struct met *m, size_t i, const char **outcome_r,
		  const char **reason_r, long *n_r)
{
	if (i >= m->d.n_reasons)
		return 0;
	*outcome_r = outcome_words[m->d.reasons[i].outcome];
	*reason_r = m->d.reasons[i].reason;
	*n_r = m->d.reasons[i].n;
	return 1;
}

int met_addr_at(const struct met *m, size_t i, const char **addr_r,
		struct met_addr_counts *c_r)
{
	if (i >= m->d.n_addrs)
		return 0;
	*addr_r = m->d.addrs[i].addr;
	*c_r = m->d.addrs[i].c;
	return 1;
}

/* ---- exports ---- */

static void put_long(struct json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

char *met_json_dup(const struct met *m)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ms = json_object_new_object();
	struct json_object *rs = json_object_new_array();
	char *s;

	put_long(o, "handled", met_events(m));
	for (int i = 0; i < MET_N_OUTCOMES; i++)
		put_long(o, outcome_words[i], m->d.n[i]);
	put_long(o, "replies", m->d.replies);
	put_long(o, "forwards", m->d.forwards);
	put_long(o, "forwards_held", m->d.forwards_held);
	put_long(o, "failed_entries", m->d.failed_entries);
	put_long(ms, "p50", met_quantile_ms(m, 0.50));
	put_long(ms, "p95", met_quantile_ms(m, 0.95));
	put_long(ms, "p99", met_quantile_ms(m, 0.99));
	put_long(ms, "max", m->d.max_ms);
	put_long(ms, "sum", m->d.sum_ms);
	json_object_object_add(o, "ms", ms);
	for (size_t i = 0; i < m->d.n_reasons; i++) {
		struct json_object *r = json_object_new_object();
		const struct met_reason *e = &m->d.reasons[i];

		json_object_object_add(
			r, "outcome",
			json_object_new_string(outcome_words[e->outcome]));
		json_object_object_add(r, "reason",
				       json_object_new_string(e->reason));
		put_long(r, "n", e->n);
		json_object_array_add(rs, r);
	}
	json_object_object_add(o, "reasons", rs);
	s = xstrdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* A label value: backslash, double quote and newline escaped. */
static void prom_label(struct mr_buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_printf(out, "\\%c", *v);
		else if (*v == '\n')
			buf_puts(out, "\\n");
		else
			buf_append(out, v, 1);
	}
}

static void prom_head(struct mr_buf *out, const char *name, const char *type,
		      const char *help)
{
	buf_printf(out, "# HELP mailresponder_%s %s\n", name, help);
	buf_printf(out, "# TYPE mailresponder_%s %s\n", name, type);
}

static const long prom_le_ms[] = {5,   10,   25,   50,   100,   250,
				  500, 1000, 2500, 5000, 10000, 30000};

static void prom_hist(const struct met *m, struct mr_buf *out)
{
	prom_head(out, "processing_seconds", "histogram",
		  "Time from claim to final state of a message.");
	for (size_t i = 0; i < sizeof(prom_le_ms) / sizeof(prom_le_ms[0]); i++)
		buf_printf(out,
			   "mailresponder_processing_seconds_bucket{le=\"%g\"} "
			   "%ld\n",
			   (double)prom_le_ms[i] / 1000.0,
			   met_count_le(m, prom_le_ms[i]));
	buf_printf(out,
		   "mailresponder_processing_seconds_bucket{le=\"+Inf\"} %ld\n",
		   met_events(m));
	buf_printf(out, "mailresponder_processing_seconds_sum %.3f\n",
		   (double)m->d.sum_ms / 1000.0);
	buf_printf(out, "mailresponder_processing_seconds_count %ld\n",
		   met_events(m));
}

void met_prometheus(const struct met *m, struct mr_buf *out)
{
	prom_head(out, "requests_total", "counter",
		  "Handled messages by outcome (retry: sent back for a later "
		  "attempt).");
	for (int i = 0; i < MET_N_OUTCOMES; i++)
		buf_printf(out,
			   "mailresponder_requests_total{outcome=\"%s\"} %ld\n",
			   outcome_words[i], m->d.n[i]);
	prom_head(out, "requests_by_reason_total", "counter",
		  "Handled messages by outcome and reason.");
	for (size_t i = 0; i < m->d.n_reasons; i++) {
		buf_printf(
			out,
			"mailresponder_requests_by_reason_total{outcome=\"%s\","
			"reason=\"",
			outcome_words[m->d.reasons[i].outcome]);
		prom_label(out, m->d.reasons[i].reason);
		buf_printf(out, "\"} %ld\n", m->d.reasons[i].n);
	}
	prom_head(out, "replies_sent_total", "counter",
		  "Reply mails sent to requesters.");
	buf_printf(out, "mailresponder_replies_sent_total %ld\n", m->d.replies);
	prom_head(out, "forwards_sent_total", "counter",
		  "Admin forwards sent (complaints, bounces).");
	buf_printf(out, "mailresponder_forwards_sent_total %ld\n",
		   m->d.forwards);
	prom_head(out, "forwards_held_total", "counter",
		  "Admin forwards the hourly cap per reason held back.");
	buf_printf(out, "mailresponder_forwards_held_total %ld\n",
		   m->d.forwards_held);
	prom_head(out, "entry_failures_total", "counter",
		  "Config entries whose reply could not be sent.");
	buf_printf(out, "mailresponder_entry_failures_total %ld\n",
		   m->d.failed_entries);
	prom_hist(m, out);
}
