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

	snprintf(
		text, sizeof(text),
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
	struct pol_verdict v = {POL_REPLIED, POL_OUT_FAIL, 0, POL_REPLIED, 0};
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
	T_REASON(REQ("b8@s.test", "\nX-AutoReply-From: x"), POL_AUTO_SUBMITTED);
	T_REASON(REQ("b9@s.test", "\nX-Mail-Autoreply: x"), POL_AUTO_SUBMITTED);
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
	T_REASON(REQ("d3@s.test", "\nX-List: not a list header"), POL_REPLIED);
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
	T_STR(pol_reason_word(
		      decide_with(s,
				  REQ("f4@s.test", AR "mx.r.test; dkim=pass "
						      "header.d=evil.test"),
				  0)
			      .reason),
	      "dkim-fail");
	/* a subdomain of the From domain is not a parent */
	T_STR(pol_reason_word(
		      decide_with(s,
				  REQ("f5@s.test", AR "mx.r.test; dkim=pass "
						      "header.d=sub.s.test"),
				  0)
			      .reason),
	      "dkim-fail");
	T_STR(pol_reason_word(
		      decide_with(s,
				  REQ("f6@xs.test", AR "mx.r.test; dkim=pass "
						       "header.d=s.test"),
				  0)
			      .reason),
	      "dkim-fail");
	/* only our verifier counts */
	T_STR(pol_reason_word(
		      decide_with(s,
				  REQ("f7@s.test", AR "evil.test; dkim=pass "
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
	T_STR(pol_reason_word(
		      decide_with(s,
				  REQ("g1@s.test", AR "mx.r.test; dkim=fail "
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
	static const char *const forms[] = {"k@s.test", "K@S.TEST", "k@S.test",
					    "K@s.test", "k@s.TEST"};
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

		T_INT(st_adhoc_get(ST, h, 1700000000, &count, &err), 0);
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

/* ---- robots with a real envelope sender: one case per row ---------- */

/* Decide on a whole message (headers, blank line, body). */
static enum pol_reason decide_msg(const char *text)
{
	struct pol_in in = {S, C, ST, NULL, NULL, 1, 1700000000};
	struct pol_verdict v = {POL_REPLIED, POL_OUT_FAIL, 0, POL_REPLIED, 0};
	struct prs_msg *msg = NULL;
	struct mr_err err;
	size_t n = strlen(text);
	char *buf = malloc(n + 2);

	memcpy(buf, text, n + 1);
	buf[n + 1] = 0;
	in.uniq = "m";
	if (prs_parse(buf, n, &msg, &err) < 0 ||
	    pol_decide(&in, msg, &v, &err) < 0)
		fprintf(stderr, "decide: %s\n", err.text);
	prs_free(&msg);
	free(buf);
	return v.reason;
}

#define T_MSG(text, want)                                                      \
	T_STR(pol_reason_word(decide_msg(text)), pol_reason_word(want))

/* a request as a forwarder relays it: real envelope, Received trail */
#define RELAYED                                                                \
	"Return-Path: <srs0=ab12=cd=fwd.test=u@fwd.test>\n"                    \
	"Delivered-To: get@r.test\n"                                           \
	"X-Original-To: get@r.test\n"                                          \
	"Received: from mx.fwd.test (mx.fwd.test [192.0.2.7])\n"               \
	"\tby mx.r.test (Postfix) with ESMTPS id 4AbC1\n"                      \
	"\tfor <get@r.test>; Tue, 4 Jun 2024 10:00:00 +0000 (UTC)\n"           \
	"Date: Tue, 4 Jun 2024 09:59:58 +0000\n"                               \
	"Message-ID: <r1.x@fwd.test>\n"                                        \
	"MIME-Version: 1.0\n"

#define DSN_BODY(b)                                                            \
	"Content-Type: multipart/report; report-type=delivery-status;\n"       \
	"\tboundary=\"" b "\"\n\n--" b "\nContent-Type: text/plain\n\n"        \
	"This is the mail system at host mx.fwd.test.\n\n--" b                 \
	"\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; "      \
	"mx.fwd.test\n\nFinal-Recipient: rfc822; gone@fwd.test\nAction: "      \
	"failed\nStatus: 5.1.1\n\n--" b "\nContent-Type: message/rfc822\n\n"   \
	"From: get@r.test\nSubject: your files\n\nhello\n--" b "--\n"

T_CASE(daemon_senders)
{
	static const char *const locals[] = {
		"MAILER-DAEMON",
		"mailer_daemon",
		"MailerDaemon",
		"mail-daemon",
		"maildaemon",
		"postmaster",
		"Post_Master",
		"post-master",
		"postmastr",
		"postmastre",
		"postmaster-fr",
		"postmaster+x",
		"mmsc",
		"MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e",
	};
	/* near misses: a person whose name merely looks like one */
	static const char *const people[] = {
		"mailer",      "daemon.fan", "postmasters.guild",
		"postman.pat", "my-mmsc",    "exchange.student",
	};
	char m[1024];

	for (size_t i = 0; i < sizeof(locals) / sizeof(*locals); i++) {
		snprintf(m, sizeof(m),
			 RELAYED "From: %s@mx.fwd.test\nSubject: Undelivered "
				 "Mail Returned to Sender\n\nbody\n",
			 locals[i]);
		T_MSG(m, POL_BOUNCE);
	}
	for (size_t i = 0; i < sizeof(people) / sizeof(*people); i++) {
		snprintf(m, sizeof(m),
			 RELAYED "From: %s@s.test\nSubject: hello\n\nbody\n",
			 people[i]);
		T_MSG(m, POL_REPLIED);
	}
}

T_CASE(daemon_display_names)
{
	static const char *const names[] = {
		"Mailer Daemon",         "MAILER-DAEMON",
		"Mail Delivery System",  "Mail Delivery Subsystem",
		"mail delivery service", "MMSC",
	};
	char m[1024];

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		snprintf(m, sizeof(m),
			 RELAYED "From: \"%s\" <bounce-7781@mta.fwd.test>\n"
				 "Subject: Delivery Status Notification "
				 "(Failure)\n\nbody\n",
			 names[i]);
		T_MSG(m, POL_BOUNCE);
	}
	/* encoded display names are decoded first */
	T_MSG(RELAYED "From: =?utf-8?q?Mail_Delivery_System?= <x@fwd.test>\n"
		      "Subject: failure\n\nbody\n",
	      POL_BOUNCE);
	/* near miss: a person who mentions mail delivery */
	T_MSG(RELAYED "From: \"Mail Delivery Systems Ltd\" <sales@s.test>\n"
		      "Subject: hello\n\nbody\n",
	      POL_REPLIED);
}

T_CASE(ndr_gateways)
{
	/* Exchange NDR through a forwarder */
	T_MSG(RELAYED "From: Microsoft Outlook <Ops@contoso.test>\n"
		      "Subject: Undeliverable: files\n"
		      "X-MS-Exchange-Message-Is-Ndr:\n"
		      "Content-Type: text/plain\n\nDelivery has failed.\n",
	      POL_BOUNCE);
	/* Exim bounce with a real sender after a forwarder rewrote it */
	T_MSG(RELAYED "From: Ops <ops@exim.test>\n"
		      "Subject: Mail delivery failed\n"
		      "X-Failed-Recipients: gone@exim.test\n\nbody\n",
	      POL_BOUNCE);
	/* near miss: headers that only look alike */
	T_MSG(RELAYED "From: Ops <ops@exim.test>\nSubject: hi\n"
		      "X-MS-Exchange-Organization-SCL: 1\n"
		      "X-Failed: no\n\nbody\n",
	      POL_REPLIED);
	/* a DSN from a person-looking address: the structure decides */
	T_MSG(RELAYED "From: relay@fwd.test\nSubject: failure\n" DSN_BODY("b1"),
	      POL_BOUNCE);
}

T_CASE(feedback_loops)
{
	/* ARF (RFC 5965) with a real envelope sender */
	T_MSG(RELAYED
	      "From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.test>\n"
	      "Subject: FW: your files\n"
	      "Content-Type: multipart/report; report-type=feedback-report;\n"
	      "\tboundary=\"arf1\"\n\n--arf1\nContent-Type: text/plain\n\n"
	      "This is an email abuse report.\n\n--arf1\n"
	      "Content-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
	      "User-Agent: ReportGen/1.0\nVersion: 1\n\n--arf1\n"
	      "Content-Type: message/rfc822\n\nFrom: get@r.test\n"
	      "Subject: your files\n\nhello\n--arf1--\n",
	      POL_COMPLAINT);
	/* non-ARF (JMRP-like): the original as message/rfc822 plus a sign */
	T_MSG(RELAYED "From: staff@fbl.mail.test\n"
		      "Subject: complaint about message from 192.0.2.1\n"
		      "X-HmXmrOriginalRecipient: <someone@mail.test>\n"
		      "Content-Type: multipart/mixed; boundary=\"j1\"\n\n--j1\n"
		      "Content-Type: text/plain\n\nA complaint.\n--j1\n"
		      "Content-Type: message/rfc822\n\nFrom: get@r.test\n"
		      "Subject: your files\n\nhello\n--j1--\n",
	      POL_COMPLAINT);
	/* abuse desk forwarding the original as an attachment */
	T_MSG(RELAYED "From: abuse@isp.test\nSubject: Fwd: spam\n"
		      "Content-Type: multipart/mixed; boundary=\"a1\"\n\n--a1\n"
		      "Content-Type: text/plain\n\nSee attached.\n--a1\n"
		      "Content-Type: message/rfc822\n\nFrom: get@r.test\n"
		      "Subject: your files\n\nhello\n--a1--\n",
	      POL_COMPLAINT);
	/* fbl sender with an rfc822 part nested in an alternative */
	T_MSG(RELAYED "From: fbl@isp.test\nSubject: report\n"
		      "Content-Type: multipart/mixed; boundary=\"o\"\n\n--o\n"
		      "Content-Type: multipart/alternative; boundary=\"i\"\n\n"
		      "--i\nContent-Type: text/plain\n\nx\n--i\n"
		      "Content-Type: message/rfc822\n\nFrom: a@b.test\n\nhi\n"
		      "--i--\n--o--\n",
	      POL_COMPLAINT);
	/* two signs in headers alone */
	T_MSG(RELAYED "From: scomp@isp.test\nSubject: Abuse report\n\nx\n",
	      POL_COMPLAINT);
	/* near misses: one sign only */
	T_MSG(RELAYED "From: abuse@isp.test\nSubject: please send the app\n\n"
		      "hello\n",
	      POL_REPLIED);
	T_MSG(RELAYED "From: jane@s.test\n"
		      "Subject: complaint about message from my boss\n\nhi\n",
	      POL_REPLIED);
	T_MSG(RELAYED "From: jane@s.test\nSubject: report\n"
		      "Content-Type: multipart/report; report-type=other;\n"
		      "\tboundary=\"q\"\n\n--q\nContent-Type: text/plain\n\nx\n"
		      "--q--\n",
	      POL_BOUNCE);
}

T_CASE(forwarded_bounce_is_a_request)
{
	/* a person forwards a bounce as an attachment: still a requester */
	T_MSG(RELAYED
	      "From: Jane Doe <jane@s.test>\n"
	      "Subject: Fwd: Returned mail: see transcript for details\n"
	      "Content-Type: multipart/mixed; boundary=\"f1\"\n\n--f1\n"
	      "Content-Type: text/plain\n\nIt bounced, please help\n"
	      "--f1\nContent-Type: message/rfc822\n\n"
	      "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.test>\n"
	      "Subject: Returned mail: see transcript for details\n"
	      "X-Failed-Recipients: x@y.test\n\nThe original message "
	      "was received\n--f1--\n",
	      POL_REPLIED);
	/* inline forward */
	T_MSG(RELAYED "From: jane@s.test\n"
		      "Subject: Fwd: Undelivered Mail Returned to Sender\n\n"
		      "---------- Forwarded message ---------\n"
		      "From: MAILER-DAEMON@mx.test\n",
	      POL_REPLIED);
}

T_CASE(vacation_markers)
{
	/* Apple iCloud vacation reply */
	T_MSG(RELAYED "From: Jane <jane@icloud.test>\n"
		      "Subject: Re: your files\nX-Apple-Action: VACATION\n\n"
		      "I am away.\n",
	      POL_AUTO_REPLY);
	/* Exchange inbox-rule reply */
	T_MSG(RELAYED
	      "From: Jane <jane@contoso.test>\nSubject: Re: hi\n"
	      "X-MS-Exchange-Inbox-Rules-Loop: jane@contoso.test\n\nx\n",
	      POL_AUTO_REPLY);
	/* a subject sign together with another sign */
	T_MSG(RELAYED "From: Jane <jane@contoso.test>\n"
		      "Subject: Automatic reply: your files\n"
		      "X-Auto-Response-Suppress: RN, NRN\n\nI am away.\n",
	      POL_AUTO_REPLY);
	T_MSG(RELAYED "From: jane@unix.test\nSubject: Out of Office\n"
		      "X-Mailer: vacation 1.2.7\n\nAway.\n",
	      POL_AUTO_REPLY);
	T_MSG(RELAYED "From: jane@de.test\nSubject: Abwesenheitsnotiz: x\n"
		      "X-Auto-Response-Suppress: DR\n\nweg\n",
	      POL_AUTO_REPLY);
	/* near misses */
	T_MSG(RELAYED "From: jane@contoso.test\nSubject: Re: hi\n"
		      "X-Apple-Action: Compose\n\nx\n",
	      POL_REPLIED);
	T_MSG(RELAYED
	      "From: jane@contoso.test\n"
	      "Subject: Out of office until Monday, please send the app\n"
	      "\nx\n",
	      POL_REPLIED);
	T_MSG(RELAYED "From: jane@contoso.test\n"
		      "Subject: Auto reply: Automatic reply: x\n\nx\n",
	      POL_REPLIED); /* two subject signs are one field */
	T_MSG(RELAYED "From: jane@contoso.test\nSubject: hello\n"
		      "X-Mailer: Microsoft Outlook 16.0\n"
		      "X-Auto-Response-Suppress: RN\n\nx\n",
	      POL_REPLIED);
}

T_CASE(list_managers)
{
	static const char *const locals[] = {
		"users-admin", "users-owner", "users-request", "users-bounces",
		"owner-users", "listserv",    "majordomo",     "mailman",
		"sympa",       "listmaster",
	};
	static const char *const people[] = {
		"administrator", "owner",     "request.desk",
		"bouncer",       "ownership", "sympathy",
	};
	char m[1024];

	for (size_t i = 0; i < sizeof(locals) / sizeof(*locals); i++) {
		snprintf(m, sizeof(m),
			 RELAYED "From: %s@lists.test\nSubject: Welcome\n\nx\n",
			 locals[i]);
		T_MSG(m, POL_LIST_MANAGER);
	}
	for (size_t i = 0; i < sizeof(people) / sizeof(*people); i++) {
		snprintf(m, sizeof(m),
			 RELAYED "From: %s@s.test\nSubject: hello\n\nx\n",
			 people[i]);
		T_MSG(m, POL_REPLIED);
	}
	/* Mailman 2 administrivia */
	T_MSG(RELAYED "From: users@lists.test\nSubject: Your message awaits "
		      "moderator approval\nX-List-Administrivia: yes\n"
		      "X-Mailman-Version: 2.1.29\n\nx\n",
	      POL_LIST_MANAGER);
	T_MSG(RELAYED "From: users@lists.test\nSubject: x\n"
		      "X-List-Administrivia: no\n\nx\n",
	      POL_REPLIED);
	/* fml */
	T_MSG(RELAYED "From: elena@fml.test\nSubject: [elena:01234] x\n"
		      "X-ML-Name: elena\nX-Mail-Count: 01234\n"
		      "X-MLServer: fml [fml 4.0.3 release]\n\nx\n",
	      POL_LIST_MANAGER);
	T_MSG(RELAYED "From: elena@fml.test\nSubject: x\nX-ML: no\n\nx\n",
	      POL_REPLIED);
	/* Sympa */
	T_MSG(RELAYED "From: Robot <robot@lists.test>\nSubject: x\n"
		      "X-Loop: sympa@lists.test\n\nx\n",
	      POL_LIST_MANAGER);
	T_MSG(RELAYED "From: jane@s.test\nSubject: x\n"
		      "X-Loop: jane@s.test\n\nx\n",
	      POL_REPLIED);
	/* ezmlm */
	T_MSG(RELAYED "From: users-help@lists.test\nSubject: ezmlm response\n"
		      "Mailing-List: contact users-help@lists.test; run by "
		      "ezmlm\n\nx\n",
	      POL_LIST_MANAGER);
	T_MSG(RELAYED "From: jane@s.test\nSubject: x\n"
		      "Mailing-List: none\n\nx\n",
	      POL_REPLIED);
	/* a list post keeps its own word */
	T_MSG(RELAYED "From: jane@s.test\nSubject: x\nList-Id: <u.lists.test>\n"
		      "X-Mailman-Version: 2.1.29\n\nx\n",
	      POL_MAILING_LIST);
}

T_CASE(forward_is_a_property_of_the_reason)
{
	for (int r = 0; r <= POL_AUTO_REPLY; r++)
		T_INT(pol_reason_forwards((enum pol_reason)r),
		      r == POL_COMPLAINT || r == POL_BOUNCE);
	T_INT(decide(REQ("postmaster-fr@s.test", "")).forward, 1);
	T_INT(decide(REQ("users-request@s.test", "")).forward, 0);
	T_STR(pol_reason_word(POL_LIST_MANAGER), "list-manager");
	T_STR(pol_reason_word(POL_AUTO_REPLY), "auto-reply");
}

T_CASE(same_verdict_twice)
{
	const char *m = RELAYED "From: abuse@isp.test\nSubject: Abuse report\n"
				"\nx\n";

	T_INT(decide_msg(m), decide_msg(m));
}

T_CASE(reason_words)
{
	T_STR(pol_reason_word(POL_NO_REQUESTED_ADDRESS),
	      "no-requested-address");
	T_STR(pol_reason_word(POL_RATE_LIMITED), "rate-limited");
	T_STR(pol_reason_word(POL_NO_REPLY_SENDER), "no-reply-sender");
	T_STR(pol_outcome_word(POL_OUT_IGNORE), "ignored");
}

/* forward_reasons: each reason a property of its row; dkim-missing is
 * a forward reason only, for a message that passed the DKIM row. */
T_CASE(forward_reasons)
{
	struct set *ex = load_settings(", \"forward_reasons\": \"existing\"");
	struct set *none = load_settings(", \"forward_reasons\": []");
	struct set *dm =
		load_settings(", \"forward_reasons\": [\"dkim-missing\"],"
			      " \"daily_limit\": 0");
	enum pol_reason r;
	struct pol_verdict v;

	T_OK(ex != NULL && none != NULL && dm != NULL);
	if (ex == NULL || none == NULL || dm == NULL)
		goto out;
	T_INT(pol_forward_reason("spam", &r), 1);
	T_INT(r, POL_SPAM);
	T_INT(pol_forward_reason("dkim-missing", &r), 1);
	T_INT(r, POL_DKIM_MISSING);
	T_INT(pol_forward_reason("replied", &r), 0);
	T_INT(pol_forward_reason("Spam", &r), 0);
	T_OK(S->forward_reasons == pol_forward_default());
	T_OK(pol_forward_default() ==
	     ((1ULL << POL_COMPLAINT) | (1ULL << POL_BOUNCE)));
	T_OK((pol_forward_existing() & (1ULL << POL_AUTO_SUBMITTED)) == 0);
	T_OK((pol_forward_existing() & (1ULL << POL_SPAM)) != 0);
	/* default: complaint yes, spam no */
	T_INT(decide_with(S, "X-Original-To: complaints@r.test\nFrom: a@s.test",
			  1)
		      .forward,
	      1);
	T_INT(decide_with(S, REQ("sp@s.test", "\nX-Spam-Flag: YES"), 1).forward,
	      0);
	v = decide_with(ex, REQ("sp@s.test", "\nX-Spam-Flag: YES"), 1);
	T_INT(v.forward, 1);
	T_INT(v.fwd_reason, POL_SPAM);
	T_INT(decide_with(none, "X-Original-To: complaints@r.test", 1).forward,
	      0);
	/* a failed outcome is forwarded too */
	v = decide_with(ex, "From: a@s.test", 1);
	T_INT(v.outcome, POL_OUT_FAIL);
	T_INT(v.forward, 1);
	/* no DKIM result: replied, and forwarded as dkim-missing */
	v = decide_with(dm, REQ("m1@s.test", ""), 0);
	T_INT(v.reason, POL_REPLIED);
	T_INT(v.forward, 1);
	T_INT(v.fwd_reason, POL_DKIM_MISSING);
	v = decide_with(dm,
			REQ("m2@s.test", "\nAuthentication-Results: mx.r.test; "
					 "dkim=pass header.d=s.test"),
			0);
	T_INT(v.forward, 0);
	/* a foreign verifier's result does not count; dkim=none is a result */
	T_INT(decide_with(dm,
			  REQ("m3@s.test",
			      "\nAuthentication-Results: other.test; "
			      "dkim=pass header.d=s.test"),
			  0)
		      .forward,
	      1);
	T_INT(decide_with(dm,
			  REQ("m4@s.test",
			      "\nAuthentication-Results: mx.r.test; "
			      "dkim=none"),
			  0)
		      .forward,
	      0);
	T_INT(decide_with(dm,
			  REQ("m5@s.test",
			      "\nAuthentication-Results: mx.r.test; "
			      "dkim=bogus"),
			  0)
		      .forward,
	      1);
	/* decided before the DKIM row: never dkim-missing */
	T_INT(decide_with(dm, REQ("noreply@s.test", ""), 0).forward, 0);
out:
	set_free(&ex);
	set_free(&none);
	set_free(&dm);
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
	T_RUN(daemon_senders);
	T_RUN(daemon_display_names);
	T_RUN(ndr_gateways);
	T_RUN(feedback_loops);
	T_RUN(forwarded_bounce_is_a_request);
	T_RUN(vacation_markers);
	T_RUN(list_managers);
	T_RUN(forward_is_a_property_of_the_reason);
	T_RUN(same_verdict_twice);
	T_RUN(reason_words);
	T_RUN(forward_reasons);
	rc = t_done();
	st_close(&ST);
	rcfg_free(&C);
	set_free(&S);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tdir);
	return rc;
}
