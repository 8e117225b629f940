/* test_metrics.c - the counter model and the event line scanner */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "stats.h"
#include "t.h"

static void add(struct met *m, const char *outcome, const char *reason,
		const char *req, long ms)
{
	struct met_rec r = {outcome, reason, req, ms, 0, 0, 0, 0};

	T_OK(met_add(m, &r) == 0);
}

T_CASE(quantiles_exact_below_1024)
{
	struct met *m = met_new();

	for (long i = 1; i <= 100; i++)
		add(m, "replied", "replied", "a@x", i);
	T_INT(met_quantile_ms(m, 0.50), 50);
	T_INT(met_quantile_ms(m, 0.95), 95);
	T_INT(met_quantile_ms(m, 0.99), 99);
	T_INT(met_quantile_ms(m, 1.0), 100);
	T_INT(met_max_ms(m), 100);
	T_INT(met_sum_ms(m), 5050);
	T_INT(met_count_le(m, 10), 10);
	met_free(&m);
	T_OK(m == NULL);
}

T_CASE(quantiles_within_1_64_above)
{
	struct met *m = met_new();
	long q;

	for (long i = 0; i < 1000; i++)
		add(m, "replied", "replied", NULL, 5000 + i * 10);
	q = met_quantile_ms(m, 0.5);
	/* nearest rank 500: 5000 + 499 * 10 = 9990 */
	T_OK(q >= 9990 && q <= 9990 + 9990 / 64);
	T_INT(met_quantile_ms(m, 1.0), 14990);
	T_INT(met_count_le(m, 1000), 0);
	met_free(&m);
}

T_CASE(outcomes_reasons_addresses)
{
	struct met *m = met_new(), *c;
	struct met_rec r = {"replied", "replied", "get@x", 3, 2, 0, 1, 0};
	const char *o, *rs, *a;
	struct met_addr_counts ac;
	long n;

	T_OK(met_add(m, &r) == 0);
	add(m, "ignored", "spam", "get@x", 1);
	add(m, "ignored", "spam", "other@x", 1);
	add(m, "retry", "send-failed", "get@x", 1);
	r.outcome = "bogus";
	T_OK(met_add(m, &r) < 0);
	T_INT(met_events(m), 4);
	T_INT(met_count(m, MET_IGNORED), 2);
	T_INT(met_replies(m), 2);
	T_INT(met_failed_entries(m), 1);
	T_OK(met_reason_at(m, 1, &o, &rs, &n) == 1);
	T_STR(o, "ignored");
	T_STR(rs, "spam");
	T_INT(n, 2);
	T_OK(met_reason_at(m, 3, &o, &rs, &n) == 0);
	T_OK(met_addr_at(m, 0, &a, &ac) == 1);
	T_STR(a, "get@x");
	T_INT(ac.n[MET_REPLIED], 1);
	T_INT(ac.n[MET_RETRY], 1);
	T_INT(ac.replies, 2);
	c = met_copy(m);
	met_merge(c, m);
	T_INT(met_events(c), 8);
	T_INT(met_handled(m), 4);
	met_free(&c);
	met_free(&m);
}

T_CASE(tables_are_bounded)
{
	struct met *m = met_new();
	char buf[64];
	const char *a, *o, *rs;
	struct met_addr_counts ac;
	long n, total = 0;
	size_t i;

	for (int k = 0; k < 3 * MET_MAX_ADDRS; k++) {
		snprintf(buf, sizeof(buf), "a%d@x", k);
		add(m, "failed", buf, buf, 1);
	}
	for (i = 0; met_addr_at(m, i, &a, &ac); i++)
		total += ac.n[MET_FAILED];
	T_INT((long)i, MET_MAX_ADDRS);
	T_STR(a, "(other)");
	T_INT(total, 3 * MET_MAX_ADDRS);
	total = 0;
	for (i = 0; met_reason_at(m, i, &o, &rs, &n); i++)
		total += n;
	T_INT((long)i, MET_MAX_REASONS);
	T_INT(total, 3 * MET_MAX_ADDRS);
	met_free(&m);
}

#define LINE(s) stats_line(s, strlen(s), 0, 4000000000L, m)

T_CASE(event_lines)
{
	static const char old[] = "{\"ts\":\"2020-01-01T00:00:00Z\","
				  "\"outcome\":\"replied\",\"reason\":\"r\","
				  "\"ms\":1}";
	struct met *m = met_new();
	const char *o, *rs;
	long n;

	T_INT(LINE("{\"ts\":\"2026-12-04T10:00:00.123Z\",\"file\":\"f\","
		   "\"outcome\":\"replied\",\"reason\":\"replied\","
		   "\"requested\":\"get@x\",\"ms\":12,\"replies\":2,"
		   "\"entries\":[{\"i\":0,\"r\":\"ok\"}]}"),
	      1);
	T_INT(LINE(" { \"ms\" : 3 , \"reason\" : \"bad \\\"x\\\" "
		   "\\u00e9\\ud83d\\ude00\","
		   " \"outcome\" : \"failed\", \"ts\" : "
		   "\"2026-12-04T10:00:00Z\","
		   " \"requested\" : null } "),
	      1);
	T_OK(met_reason_at(m, 1, &o, &rs, &n) == 1);
	T_STR(rs, "bad \"x\" \xc3\xa9\xf0\x9f\x98\x80");
	T_INT(met_replies(m), 2);
	T_INT(met_failed_entries(m), 0);
	T_INT(LINE("{\"ts\":\"2026-12-04T10:00:00Z\",\"outcome\":\"replied\","
		   "\"reason\":\"replied\",\"ms\":1,\"replies\":1,\"entries\":"
		   "[{\"i\":0,\"r\":\"sent\"},{\"i\":1,\"r\":\"failed\","
		   "\"reason\":\"x \\\"r\\\":\\\"retry\\\"\"},"
		   "{\"i\":2,\"r\":\"retry\"}]}"),
	      1);
	T_INT(met_failed_entries(m), 2);
	T_INT(LINE("{\"ts\":\"2026-12-04T10:00:00Z\",\"outcome\":\"replied\","
		   "\"reason\":\"replied\",\"ms\":1,\"entries\":3}"),
	      -1);
	T_INT(LINE(""), -1);
	T_INT(LINE("garbage"), -1);
	T_INT(LINE("{\"ts\":\"2026-12-04T10:00:00Z\",\"outcome\":\"replied\""),
	      -1);
	T_INT(LINE("{\"ts\":\"2026-12-04T10:00:00Z\",\"outcome\":\"replied\","
		   "\"reason\":\"r\",\"ms\":1}x"),
	      -1);
	T_INT(LINE("{\"ts\":\"2026-12-04T10:00:00Z\",\"outcome\":\"replied\","
		   "\"reason\":\"r\"}"),
	      -1); /* no ms */
	T_INT(LINE("{\"ts\":\"2026-13-04T10:00:00Z\",\"outcome\":\"replied\","
		   "\"reason\":\"r\",\"ms\":1}"),
	      -1);
	T_INT(LINE("{\"ts\":\"2026-12-04T10:00:00Z\",\"outcome\":\"maybe\","
		   "\"reason\":\"r\",\"ms\":1}"),
	      -1);
	T_INT(LINE("{\"ts\":\"2026-12-04T10:00:00Z\",\"outcome\":\"replied\","
		   "\"reason\":\"r\",\"ms\":-1}"),
	      -1);
	T_INT(LINE("{\"ts\":\"2026-12-04T10:00:00Z\",\"outcome\":\"replied\","
		   "\"reason\":\"a\x01b\",\"ms\":1}"),
	      -1);
	T_INT(stats_line(old, strlen(old), 1600000000, 1700000000, m), 0);
	T_INT(met_events(m), 3);
	met_free(&m);
}

T_CASE(times)
{
	time_t t;
	long s;

	T_OK(stats_parse_time("1970-01-01", &t) == 0 && t == 0);
	T_OK(stats_parse_time("2000-03-01T00:00Z", &t) == 0 && t == 951868800);
	T_OK(stats_parse_time("2026-12-04T10:11:12", &t) == 0 &&
	     t == 1796379072);
	T_OK(stats_parse_time("@1234", &t) == 0 && t == 1234);
	T_OK(stats_parse_time("2026-12-04T10", &t) < 0);
	T_OK(stats_parse_time("yesterday", &t) < 0);
	T_OK(stats_parse_duration("24h", &s) == 0 && s == 86400);
	T_OK(stats_parse_duration("7d", &s) == 0 && s == 7 * 86400);
	T_OK(stats_parse_duration("90", &s) == 0 && s == 90);
	T_OK(stats_parse_duration("h", &s) < 0);
	T_OK(stats_parse_duration("5hs", &s) < 0);
	T_OK(stats_parse_duration("-5m", &s) < 0);
}

T_CASE(prometheus_text)
{
	struct met *m = met_new();
	struct mr_buf b;

	add(m, "failed", "bad \"q\"\n\\", "get@x", 7);
	buf_init(&b);
	met_prometheus(m, &b);
	T_OK(strstr(b.data,
		    "mailresponder_requests_total{outcome=\"failed\"} 1\n") !=
	     NULL);
	T_OK(strstr(b.data, "reason=\"bad \\\"q\\\"\\n\\\\\"} 1\n") != NULL);
	T_OK(strstr(b.data, "mailresponder_processing_seconds_bucket{le=\"0."
			    "01\"} 1\n") != NULL);
	T_OK(strstr(b.data, "mailresponder_processing_seconds_bucket{le=\"0."
			    "005\"} 0\n") != NULL);
	T_OK(strstr(b.data, "mailresponder_processing_seconds_sum 0.007\n") !=
	     NULL);
	T_OK(strstr(b.data, "get@x") == NULL);
	buf_free(&b);
	met_free(&m);
}

int main(void)
{
	T_RUN(quantiles_exact_below_1024);
	T_RUN(quantiles_within_1_64_above);
	T_RUN(outcomes_reasons_addresses);
	T_RUN(tables_are_bounded);
	T_RUN(event_lines);
	T_RUN(times);
	T_RUN(prometheus_text);
	return t_done();
}
