/* test_policy.c - unit tests of policy.c (pol_decide, pol_dkim_refuses)
 * DESCRIPTION  Requests are parsed with the real parser, settings and the
 *              responder config loaded from files in a temporary folder,
 *              and the store rows run against a real SQLite file. Each row
 *              of design.md s.4 is checked with its match and a near miss,
 *              and the order of the rows with messages that match two.
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "parse.h"
#include "rcfg.h"
#include "settings.h"
#include "store.h"
#include "t.h"

static char tdir[] = "/tmp/mr-test-policy-XXXXXX";
static struct set *S;
static struct rcfg *C;
static struct st *ST;
static int seq;

static void write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tdir, name);
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

static struct set *load_settings(const char *extra)
{
	char text[2048], path[512];
	struct mr_msgs m = {NULL, 0};
	struct set *s;

	snprintf(text, sizeof(text),
		 "{\"spool\": \"spool\", \"from\": \"Get <get@r.test>\",\n"
		 " \"complaints_address\": \"complaints@r.test\",\n"
		 " \"own_addresses\": [\"alias@r.test\"],\n"
		 " \"daily_limit\": 3, \"exempt_domains\": [\"exempt.test\"],\n"
		 " \"blocked_domains\": [\"blocked.test\"],\n"
		 " \"authserv_id\": \"mx.r.test\", \"store\": \"sqlite:st.db\"%s}",
		 extra);
	write_file("settings.json", text);
	snprintf(path, sizeof(path), "%s/settings.json", tdir);
	s = set_load(path, &m);
	for (size_t i = 0; i < m.n; i++)
		fprintf(stderr, "settings: %s\n", m.v[i]);
	mr_msgs_free(&m);
	return s;
}

static void setup(void)
{
	static const char cfg[] =
		"[{\"email_addr\": \"get@r.test\", \"body\": \"a\", "
		"\"attachments\": null, \"send_method\": \"SMTP\"},"
		" {\"email_addr\": \"GET@r.test\", \"body\": \"b\", "
		"\"attachments\": null, \"send_method\": \"SMTP\"},"
		" {\"email_addr\": \"fa@r.test\", \"body\": \"c\", "
		"\"attachments\": null, \"send_method\": \"SES\"}]";
	struct mr_msgs m = {NULL, 0};
	struct mr_err err;
	char url[600];

	if (mkdtemp(tdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	S = load_settings("");
	C = rcfg_parse(cfg, strlen(cfg), &m);
	snprintf(url, sizeof(url), "sqlite:%s/st.db", tdir);
	ST = st_open(url, 0, &err);
	if (S == NULL || C == NULL || ST == NULL) {
		fprintf(stderr, "setup failed: %s\n", ST ? "" : err.text);
		exit(2);
	}
	mr_msgs_free(&m);
}

/* Decide on a request made of hdrs (LF-separated, no blank line). */
static struct pol_verdict decide_with(const struct set *s, const char *hdrs,
				      int dry)
{
	struct pol_in in = {s, C, ST, NULL, NULL, dry, 1700000000};
	struct pol_verdict v = {POL_REPLIED, POL_OUT_FAIL, 0, 0};
	struct prs_msg *msg = NULL;
	struct mr_err err;
	char buf[8192], uniq[64];
	int n;

	n = snprintf(buf, sizeof(buf), "%s\n\nbody\n", hdrs);
	snprintf(uniq, sizeof(uniq), "u%d", ++seq);
	in.uniq = uniq;
	buf[n + 1] = 0;
	if (prs_parse(buf, (size_t)n, &msg, &err) < 0 ||
	    pol_decide(&in, msg, &v, &err) < 0)
		fprintf(stderr, "decide: %s\n", err.text);
	prs_free(&msg);
	return v;
}

static struct pol_verdict decide(const char *hdrs)
{
	return decide_with(S, hdrs, 0);
}

#define REQ(from, more)                                                        \
	"X-Original-To: get@r.test\nFrom: " from "\nSubject: hi" more

#define T_REASON(hdrs, want)                                                   \
	T_STR(pol_reason_word(decide(hdrs).reason), pol_reason_word(want))

T_CASE(replied_counts_entries)
{
	struct pol_verdict v = decide(REQ("A <a1@s.test>", ""));

	T_INT(v.outcome, POL_OUT_REPLY);
	T_INT(v.reason, POL_REPLIED);
	T_INT(v.n_entries, 2);
	T_INT(v.forward, 0);
}

T_CASE(requested_address)
{
	struct pol_verdict v = decide("From: a2@s.test\nSubject: x");

	T_INT(v.outcome, POL_OUT_FAIL);
	T_INT(v.reason, POL_NO_REQUESTED_ADDRESS);
	T_REASON("X-Original-To: junk here\nFrom: a2@s.test",
		 POL_NO_REQUESTED_ADDRESS);
	T_REASON("Delivered-To: Get@R.Test\nFrom: a3@s.test", POL_REPLIED);
	T_REASON("X-Original-To: GET@R.TEST\nFrom: a4@s.test", POL_REPLIED);
}

T_CASE(complaint_and_unknown)
{
	struct pol_verdict v =
		decide("X-Original-To: complaints@r.test\nFrom: a5@s.test");

	T_INT(v.reason, POL_COMPLAINT);
	T_INT(v.outcome, POL_OUT_IGNORE);
	T_INT(v.forward, 1);
	/* complaints win even over a null sender */
	T_REASON("Return-Path: <>\nX-Original-To: complaints@r.test",
		 POL_COMPLAINT);
	T_REASON("X-Original-To: nope@r.test\nFrom: a6@s.test",
		 POL_UNKNOWN_ADDRESS);
	/* unknown address is decided before the null sender */
	T_REASON("Return-Path: <>\nX-Original-To: nope@r.test",
		 POL_UNKNOWN_ADDRESS);
}

T_CASE(null_and_bad_sender)
{
	T_REASON("Return-Path: <>\n" REQ("a7@s.test", ""), POL_NULL_SENDER);
	T_REASON("Return-Path: <a8@s.test>\n" REQ("a8@s.test", ""),
		 POL_REPLIED);
	T_REASON("X-Original-To: get@r.test\nSubject: x", POL_BAD_SENDER);
	T_REASON(REQ("<>", ""), POL_BAD_SENDER);
	T_REASON(REQ("not an address", ""), POL_BAD_SENDER);
	T_REASON(REQ("\"Doe, Jane\" <jane@s.test>", ""), POL_REPLIED);
}

T_CASE(bounces)
{
	struct pol_verdict v = decide(REQ("MAILER-DAEMON@mx.s.test", ""));

	T_INT(v.reason, POL_BOUNCE);
	T_INT(v.forward, 1);
	T_REASON(REQ("Postmaster <postmaster@s.test>", ""), POL_BOUNCE);
	T_REASON(REQ("x@email-abuse.amazonses.com", ""), POL_BOUNCE);
	T_REASON(REQ("a9@s.test", "\nContent-Type: multipart/report; "
				  "report-type=delivery-status; boundary=b"),
		 POL_BOUNCE);
	T_REASON(REQ("a10@s.test", "\nContent-Type: multipart/mixed; "
				   "boundary=b"),
		 POL_REPLIED);
	T_REASON(REQ("mailer@s.test", ""), POL_REPLIED);
	T_REASON(REQ("x@notamazonses.com", ""), POL_REPLIED);
}

T_CASE(noreply_and_loop)
{
	T_REASON(REQ("noreply@s.test", ""), POL_NO_REPLY_SENDER);
	T_REASON(REQ("No-Reply.Team@s.test", ""), POL_NO_REPLY_SENDER);
	T_REASON(REQ("bounces-x@s.test", ""), POL_NO_REPLY_SENDER);
	T_REASON(REQ("complaints@other.test", ""), POL_NO_REPLY_SENDER);
	T_REASON(REQ("replyhere@s.test", ""), POL_REPLIED);
	T_REASON(REQ("GET@R.TEST", ""), POL_LOOP);
	T_REASON(REQ("alias@r.test", ""), POL_LOOP);
	T_REASON(REQ("fa@r.test", ""), POL_LOOP);
	T_REASON(REQ("get@r.test.evil", ""), POL_REPLIED);
}

T_CASE(auto_submitted)
{
	T_REASON(REQ("b1@s.test", "\nAuto-Submitted: auto-generated"),
		 POL_AUTO_SUBMITTED);
	T_REASON(REQ("b2@s.test", "\nAuto-Submitted: No"), POL_REPLIED);
	T_REASON(REQ("b3@s.test", "\nAuto-Submitted: no (manual)"),
		 POL_REPLIED);
	T_REASON(REQ("b4@s.test", "\nPrecedence: list"), POL_AUTO_SUBMITTED);
	T_REASON(REQ("b5@s.test", "\nPrecedence: first-class"), POL_REPLIED);
	T_REASON(REQ("b6@s.test", "\nX-Autorespond: 1"), POL_AUTO_SUBMITTED);
	T_REASON(REQ("b7@s.test", "\nX-Autogenerated: Reply"),
		 POL_AUTO_SUBMITTED);
	T_REASON(REQ("b8@s.test", "\nX-AutoReply-From: x"),
		 POL_AUTO_SUBMITTED);
	T_REASON(REQ("b9@s.test", "\nX-Mail-Autoreply: x"),
		 POL_AUTO_SUBMITTED);
	T_REASON(REQ("c1@s.test", "\nX-Auto-Response-Suppress: AutoReply"),
		 POL_AUTO_SUBMITTED);
	T_REASON(REQ("c2@s.test", "\nX-Auto-Response-Suppress: RN, NRN"),
		 POL_REPLIED);
	T_REASON(REQ("c3@s.test", "\nX-FC-MachineGenerated: false"),
		 POL_REPLIED);
	/* folded header */
	T_REASON(REQ("c4@s.test", "\nAuto-Submitted:\n auto-replied"),
		 POL_AUTO_SUBMITTED);
}

T_CASE(lists_and_spam)
{
	T_REASON(REQ("d1@s.test", "\nList-Post: <mailto:l@s.test>"),
		 POL_MAILING_LIST);
	T_REASON(REQ("d2@s.test", "\nList-Help: <mailto:l@s.test>"),
		 POL_MAILING_LIST);
	T_REASON(REQ("d3@s.test", "\nX-List: not a list header"),
		 POL_REPLIED);
	T_REASON(REQ("d4@s.test", "\nX-Spam-Flag: yes"), POL_SPAM);
	T_REASON(REQ("d5@s.test", "\nX-Spam-Flag: NO"), POL_REPLIED);
	/* order: auto-submitted before list before spam */
	T_REASON(REQ("d6@s.test", "\nX-Spam-Flag: YES\nList-Id: <l.s.test>"
				  "\nPrecedence: bulk"),
		 POL_AUTO_SUBMITTED);
	T_REASON(REQ("d7@s.test", "\nX-Spam-Flag: YES\nList-Id: <l.s.test>"),
		 POL_MAILING_LIST);
}

#define AR "\nAuthentication-Results: "

T_CASE(dkim_reject_fail)
{
	T_REASON(REQ("e1@s.test", AR "mx.r.test; dkim=fail header.d=s.test"),
		 POL_DKIM_FAIL);
	T_REASON(REQ("e2@s.test", AR "MX.R.TEST 1; spf=pass smtp.mailfrom=x;"
				  " dkim=permerror header.d=s.test"),
		 POL_DKIM_FAIL);
	/* a foreign or forged verifier does not count */
	T_REASON(REQ("e3@s.test", AR "evil.test; dkim=fail header.d=s.test"),
		 POL_REPLIED);
	T_REASON(REQ("e4@s.test",
		     AR "mx.r.test.evil; dkim=fail header.d=s.test"),
		 POL_REPLIED);
	/* a comment or quoted string holding the id does not count */
	T_REASON(REQ("e5@s.test",
		     AR "(mx.r.test) other.test; dkim=fail header.d=s.test"),
		 POL_REPLIED);
	T_REASON(REQ("e6@s.test", AR "mx.r.test; dkim=pass header.d=s.test"),
		 POL_REPLIED);
	/* a failing extra signature next to an aligned pass */
	T_REASON(REQ("e7@s.test", AR "mx.r.test; dkim=fail header.d=x.test;"
				  " dkim=pass header.d=s.test"),
		 POL_REPLIED);
	T_REASON(REQ("e8@s.test", AR "mx.r.test; dkim=none"), POL_REPLIED);
}

T_CASE(dkim_require_pass)
{
	struct set *s = load_settings(", \"dkim_policy\": \"require-pass\"");

	T_OK(s != NULL);
	if (s == NULL)
		return;
	T_STR(pol_reason_word(decide_with(s, REQ("f1@s.test", ""), 0).reason),
	      "dkim-fail");
	T_STR(pol_reason_word(decide_with(s,
					  REQ("f2@mail.s.test",
					      AR "mx.r.test; dkim=pass "
						 "(good) header.d=s.test"),
					  0)
				      .reason),
	      "replied");
	T_STR(pol_reason_word(
		      decide_with(s,
				  REQ("f3@s.test", AR "mx.r.test; dkim=pass "
						      "header.i=@s.test"),
				  0)
			      .reason),
	      "replied");
	/* signed by another domain: not aligned */
	T_STR(pol_reason_word(decide_with(s,
					  REQ("f4@s.test",
					      AR "mx.r.test; dkim=pass "
						 "header.d=evil.test"),
					  0)
				      .reason),
	      "dkim-fail");
	/* a subdomain of the From domain is not a parent */
	T_STR(pol_reason_word(decide_with(s,
					  REQ("f5@s.test",
					      AR "mx.r.test; dkim=pass "
						 "header.d=sub.s.test"),
					  0)
				      .reason),
	      "dkim-fail");
	T_STR(pol_reason_word(decide_with(s,
					  REQ("f6@xs.test",
					      AR "mx.r.test; dkim=pass "
						 "header.d=s.test"),
					  0)
				      .reason),
	      "dkim-fail");
	/* only our verifier counts */
	T_STR(pol_reason_word(decide_with(s,
					  REQ("f7@s.test",
					      AR "evil.test; dkim=pass "
						 "header.d=s.test"),
					  0)
				      .reason),
	      "dkim-fail");
	set_free(&s);
}

T_CASE(dkim_ignore)
{
	struct set *s = load_settings(", \"dkim_policy\": \"ignore\"");

	T_OK(s != NULL);
	if (s == NULL)
		return;
	T_STR(pol_reason_word(decide_with(s,
					  REQ("g1@s.test",
					      AR "mx.r.test; dkim=fail "
						 "header.d=s.test"),
					  0)
				      .reason),
	      "replied");
	set_free(&s);
}

T_CASE(blocked)
{
	struct mr_err err;
	char h[HASH_SHA512_HEX];

	T_REASON(REQ("h1@blocked.test", ""), POL_BLOCKED);
	T_REASON(REQ("h2@a.b.blocked.test", ""), POL_BLOCKED);
	T_REASON(REQ("h3@notblocked.test", ""), POL_REPLIED);
	addr_hash_hex(NULL, "bad@s.test", h);
	T_INT(st_list_add(ST, ST_BLOCK_EMAIL, h, &err), 0);
	T_REASON(REQ("Bad <BAD@S.TEST>", ""), POL_BLOCKED);
	addr_hash_hex(NULL, "dbblocked.test", h);
	T_INT(st_list_add(ST, ST_BLOCK_DOMAIN, h, &err), 0);
	T_REASON(REQ("h4@mx.dbblocked.test", ""), POL_BLOCKED);
	/* blocked beats the allow list */
	addr_hash_hex(NULL, "h5@blocked.test", h);
	T_INT(st_list_add(ST, ST_ALLOW_EMAIL, h, &err), 0);
	T_REASON(REQ("h5@blocked.test", ""), POL_BLOCKED);
}

T_CASE(daily_limit)
{
	static const char *const forms[] = {"k@s.test", "K@S.TEST",
					    "k@S.test", "K@s.test",
					    "k@s.TEST"};
	struct mr_err err;
	char h[HASH_SHA512_HEX], hdrs[256];
	int replied = 0;

	for (int i = 0; i < 5; i++) {
		snprintf(hdrs, sizeof(hdrs), REQ("%s", ""), forms[i]);
		replied += decide(hdrs).reason == POL_REPLIED;
	}
	T_INT(replied, 3);
	/* a dry run reads the count and does not add to it */
	T_REASON(REQ("k@s.test", ""), POL_RATE_LIMITED);
	T_INT(decide_with(S, REQ("k2@s.test", ""), 1).reason, POL_REPLIED);
	addr_hash_hex(NULL, "k2@s.test", h);
	{
		long count = -1;

		T_INT(st_adhoc_get(ST, h, &count, &err), 0);
		T_INT(count, 0);
	}
	/* exempt domains, their subdomains, and allow-listed senders */
	replied = 0;
	for (int i = 0; i < 5; i++)
		replied += decide(REQ("m@mail.exempt.test", "")).reason ==
			   POL_REPLIED;
	T_INT(replied, 5);
	addr_hash_hex(NULL, "vip.test", h);
	T_INT(st_list_add(ST, ST_ALLOW_DOMAIN, h, &err), 0);
	replied = 0;
	for (int i = 0; i < 5; i++)
		replied += decide(REQ("n@vip.test", "")).reason == POL_REPLIED;
	T_INT(replied, 5);
}

T_CASE(reason_words)
{
	T_STR(pol_reason_word(POL_NO_REQUESTED_ADDRESS),
	      "no-requested-address");
	T_STR(pol_reason_word(POL_RATE_LIMITED), "rate-limited");
	T_STR(pol_reason_word(POL_NO_REPLY_SENDER), "no-reply-sender");
	T_STR(pol_outcome_word(POL_OUT_IGNORE), "ignored");
}

int main(void)
{
	char cmd[600];
	int rc;

	setup();
	T_RUN(replied_counts_entries);
	T_RUN(requested_address);
	T_RUN(complaint_and_unknown);
	T_RUN(null_and_bad_sender);
	T_RUN(bounces);
	T_RUN(noreply_and_loop);
	T_RUN(auto_submitted);
	T_RUN(lists_and_spam);
	T_RUN(dkim_reject_fail);
	T_RUN(dkim_require_pass);
	T_RUN(dkim_ignore);
	T_RUN(blocked);
	T_RUN(daily_limit);
	T_RUN(reason_words);
	rc = t_done();
	st_close(&ST);
	rcfg_free(&C);
	set_free(&S);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tdir);
	return rc;
}
