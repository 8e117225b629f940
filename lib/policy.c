/* policy.c - when to reply (contract: policy.h)
 *
 * The rule table below is the data of design.md s.4, row by row.
 * Authentication-Results are tokenised here: comments removed, resinfo
 * split on ';' outside quoted strings.
 */
#include "policy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "parse.h"
#include "rcfg.h"
#include "settings.h"
#include "store.h"

/* Each reason's word and its forward properties: POL_FWD_DEFAULT is
 * forwarded unless forward_reasons says otherwise; POL_FWD_EXISTING is
 * forwarded by the existing system, which forward_reasons "existing"
 * copies. A new row adds its reason here, with its properties. */
_Static_assert(POL_N_REASONS <= 64, "pol_reasons holds one bit per reason");

#define POL_FWD_DEFAULT 1u
#define POL_FWD_EXISTING 2u

static const struct {
	const char *word;
	unsigned fwd;
} reasons[POL_N_REASONS] = {
	[POL_REPLIED] = {"replied", 0},
	[POL_NO_REQUESTED_ADDRESS] = {"no-requested-address", POL_FWD_EXISTING},
	[POL_COMPLAINT] = {"complaint", POL_FWD_DEFAULT | POL_FWD_EXISTING},
	[POL_UNKNOWN_ADDRESS] = {"unknown-address", 0},
	/* the existing system reads the requester from Return-Path: a
	 * null one is its "unparsable sender", and SES bounces arrive so */
	[POL_NULL_SENDER] = {"null-sender", POL_FWD_EXISTING},
	[POL_BAD_SENDER] = {"bad-sender", POL_FWD_EXISTING},
	[POL_BOUNCE] = {"bounce", POL_FWD_DEFAULT | POL_FWD_EXISTING},
	[POL_NO_REPLY_SENDER] = {"no-reply-sender", POL_FWD_EXISTING},
	[POL_LOOP] = {"loop", 0},
	[POL_AUTO_SUBMITTED] = {"auto-submitted", 0},
	[POL_MAILING_LIST] = {"mailing-list", 0},
	[POL_SPAM] = {"spam", POL_FWD_EXISTING},
	[POL_DKIM_FAIL] = {"dkim-fail", POL_FWD_EXISTING},
	[POL_BLOCKED] = {"blocked", 0},
	[POL_RATE_LIMITED] = {"rate-limited", 0},
	[POL_LIST_MANAGER] = {"list-manager", 0},
	/* the existing system logs auto-submitted mail, forwards none */
	[POL_AUTO_REPLY] = {"auto-reply", 0},
	[POL_DKIM_MISSING] = {"dkim-missing", POL_FWD_EXISTING},
};

const char *pol_reason_word(enum pol_reason r)
{
	if ((size_t)r >= POL_N_REASONS || reasons[r].word == NULL)
		return "unknown";
	return reasons[r].word;
}

int pol_forward_reason(const char *word, enum pol_reason *r)
{
	for (size_t i = 0; i < POL_N_REASONS; i++)
		if (i != POL_REPLIED && reasons[i].word != NULL &&
		    strcmp(reasons[i].word, word) == 0) {
			*r = (enum pol_reason)i;
			return 1;
		}
	return 0;
}

static pol_reasons with_flag(unsigned flag)
{
	pol_reasons set = 0;

	for (size_t i = 0; i < POL_N_REASONS; i++)
		if (reasons[i].fwd & flag)
			set |= 1ULL << i;
	return set;
}

pol_reasons pol_forward_default(void)
{
	return with_flag(POL_FWD_DEFAULT);
}

pol_reasons pol_forward_existing(void)
{
	return with_flag(POL_FWD_EXISTING);
}

int pol_reason_forwards(enum pol_reason r)
{
	return (size_t)r < POL_N_REASONS &&
	       (reasons[r].fwd & POL_FWD_DEFAULT) != 0;
}

const char *pol_outcome_word(enum pol_outcome o)
{
	switch (o) {
	case POL_OUT_REPLY:
		return "replied";
	case POL_OUT_IGNORE:
		return "ignored";
	case POL_OUT_FAIL:
		return "failed";
	}
	return "unknown";
}

/* ---- small token helpers ---- */

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Copy of v with RFC 5322 comments removed (quoted strings kept intact). */
static char *strip_comments(const char *v)
{
	char *out = xmalloc(strlen(v) + 1), *o = out;
	int depth = 0, quoted = 0;

	for (const char *p = v; *p; p++) {
		if (*p == '\\' && p[1] && (quoted || depth)) {
			if (!depth) {
				*o++ = *p;
				*o++ = p[1];
			}
			p++;
			continue;
		}
		if (!depth && *p == '"')
			quoted = !quoted;
		if (!quoted && *p == '(') {
			depth++;
			continue;
		}
		if (!quoted && depth && *p == ')') {
			depth--;
			continue;
		}
		if (!depth)
			*o++ = *p;
	}
	*o = 0;
	return out;
}

/* The first token of v (up to WSP, ';' or ','), trimmed; 1 if it equals
 * word case-insensitively. */
static int first_token_is(const char *v, const char *word)
{
	size_t n;

	while (is_wsp(*v))
		v++;
	n = strcspn(v, " \t;,");
	return n == strlen(word) && strncasecmp(v, word, n) == 0;
}

/* 1 if the comma-separated list v holds one of words (case-insensitive). */
static int list_has(const char *v, const char *const *words)
{
	const char *p = v;

	while (*p) {
		size_t n;

		while (is_wsp(*p) || *p == ',')
			p++;
		n = strcspn(p, ",");
		while (n > 0 && is_wsp(p[n - 1]))
			n--;
		for (size_t i = 0; words[i]; i++)
			if (n == strlen(words[i]) &&
			    strncasecmp(p, words[i], n) == 0)
				return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

/* ---- the rule table (design.md s.4) ---- */

/* What a row looks at. Sender kinds read the From addr-spec (local part
 * compared case-insensitively) or its decoded display name; header kinds
 * read unfolded values of the named header; PM_REPORT the top-level
 * Content-Type; PM_CARRIED the structure scan (a message/rfc822 part). */
enum pm_kind {
	PM_LOCAL_IS,       /* local part equals pattern */
	PM_LOCAL_PREFIX,   /* local part starts with pattern */
	PM_LOCAL_SUFFIX,   /* local part ends with pattern */
	PM_DOMAIN,         /* domain is pattern or a subdomain of it */
	PM_DISPLAY_IS,     /* display name equals pattern */
	PM_HDR,            /* header present */
	PM_HDR_TOKEN,      /* first token of the header equals pattern */
	PM_HDR_NOT_TOKEN,  /* header present, first token not pattern */
	PM_HDR_LIST,       /* comma-separated value holds pattern */
	PM_HDR_CONTAINS,   /* value contains pattern */
	PM_SUBJECT_PREFIX, /* decoded Subject starts with pattern */
	PM_REPORT,         /* multipart/report (pattern: its report-type) */
	PM_CARRIED,        /* carries an original message as a part */
	PM_OWN,            /* sender is one of our addresses (settings) */
	PM_DKIM,           /* the DKIM row (settings) */
};

/* One row: a strong row decides alone; a weak row ("sign") decides only
 * together with a sign of the same reason in another field. */
struct pol_rule {
	enum pm_kind kind;
	int weak;
	const char *field; /* header, "From", "Subject" or "@body" */
	const char *pattern;
	enum pol_reason reason;
};

#define R(k, f, p, r)                                                          \
	{                                                                      \
		k, 0, f, p, r                                                  \
	}
#define W(k, f, p, r)                                                          \
	{                                                                      \
		k, 1, f, p, r                                                  \
	}

static const struct pol_rule rules[] = {
	/* feedback loops: ARF (RFC 5965), and non-ARF complaints that
	 * carry the original */
	R(PM_REPORT, "Content-Type", "feedback-report", POL_COMPLAINT),
	W(PM_CARRIED, "@body", NULL, POL_COMPLAINT),
	W(PM_HDR, "X-HmXmrOriginalRecipient", NULL, POL_COMPLAINT),
	W(PM_LOCAL_IS, "From", "fbl", POL_COMPLAINT),
	W(PM_LOCAL_IS, "From", "feedbackloop", POL_COMPLAINT),
	W(PM_LOCAL_IS, "From", "feedback-loop", POL_COMPLAINT),
	W(PM_LOCAL_IS, "From", "scomp", POL_COMPLAINT),
	W(PM_LOCAL_IS, "From", "abuse", POL_COMPLAINT),
	W(PM_SUBJECT_PREFIX, "Subject", "complaint about message from",
	  POL_COMPLAINT),
	W(PM_SUBJECT_PREFIX, "Subject", "abuse report", POL_COMPLAINT),
	/* daemons and gateways (procmail FROM_DAEMON / FROM_MAILER) */
	R(PM_LOCAL_IS, "From", "mailer-daemon", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "mailer_daemon", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "mailerdaemon", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "mail-daemon", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "maildaemon", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "postmaster", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "post_master", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "post-master", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "postmastr", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "postmastre", POL_BOUNCE),
	R(PM_LOCAL_PREFIX, "From", "postmaster-", POL_BOUNCE),
	R(PM_LOCAL_PREFIX, "From", "postmaster+", POL_BOUNCE),
	R(PM_LOCAL_IS, "From", "mmsc", POL_BOUNCE),
	R(PM_LOCAL_PREFIX, "From", "microsoftexchange", POL_BOUNCE),
	R(PM_DISPLAY_IS, "From", "Mailer Daemon", POL_BOUNCE),
	R(PM_DISPLAY_IS, "From", "Mailer-Daemon", POL_BOUNCE),
	R(PM_DISPLAY_IS, "From", "Mail Delivery System", POL_BOUNCE),
	R(PM_DISPLAY_IS, "From", "Mail Delivery Subsystem", POL_BOUNCE),
	R(PM_DISPLAY_IS, "From", "Mail Delivery Service", POL_BOUNCE),
	R(PM_DISPLAY_IS, "From", "MMSC", POL_BOUNCE),
	R(PM_DOMAIN, "From", "amazonses.com", POL_BOUNCE),
	R(PM_HDR, "X-MS-Exchange-Message-Is-Ndr", NULL, POL_BOUNCE),
	R(PM_HDR, "X-Failed-Recipients", NULL, POL_BOUNCE),
	R(PM_REPORT, "Content-Type", NULL, POL_BOUNCE),
	/* no-reply senders */
	R(PM_LOCAL_PREFIX, "From", "no-reply", POL_NO_REPLY_SENDER),
	R(PM_LOCAL_PREFIX, "From", "noreply", POL_NO_REPLY_SENDER),
	R(PM_LOCAL_PREFIX, "From", "no_reply", POL_NO_REPLY_SENDER),
	R(PM_LOCAL_PREFIX, "From", "donotreply", POL_NO_REPLY_SENDER),
	R(PM_LOCAL_PREFIX, "From", "do-not-reply", POL_NO_REPLY_SENDER),
	R(PM_LOCAL_PREFIX, "From", "bounces", POL_NO_REPLY_SENDER),
	R(PM_LOCAL_PREFIX, "From", "complaints", POL_NO_REPLY_SENDER),
	R(PM_OWN, "From", NULL, POL_LOOP),
	/* RFC 3834 and autoresponder markers */
	R(PM_HDR_NOT_TOKEN, "Auto-Submitted", "no", POL_AUTO_SUBMITTED),
	R(PM_HDR_LIST, "Precedence", "bulk", POL_AUTO_SUBMITTED),
	R(PM_HDR_LIST, "Precedence", "list", POL_AUTO_SUBMITTED),
	R(PM_HDR_LIST, "Precedence", "junk", POL_AUTO_SUBMITTED),
	R(PM_HDR_LIST, "X-Auto-Response-Suppress", "all", POL_AUTO_SUBMITTED),
	R(PM_HDR_LIST, "X-Auto-Response-Suppress", "oof", POL_AUTO_SUBMITTED),
	R(PM_HDR_LIST, "X-Auto-Response-Suppress", "autoreply",
	  POL_AUTO_SUBMITTED),
	R(PM_HDR_TOKEN, "X-FC-MachineGenerated", "true", POL_AUTO_SUBMITTED),
	R(PM_HDR_CONTAINS, "X-POST-MessageClass", "autoresponder",
	  POL_AUTO_SUBMITTED),
	R(PM_HDR, "X-Autoreply", NULL, POL_AUTO_SUBMITTED),
	R(PM_HDR, "X-Autorespond", NULL, POL_AUTO_SUBMITTED),
	R(PM_HDR, "X-Autogenerated", NULL, POL_AUTO_SUBMITTED),
	R(PM_HDR, "X-AutoReply-From", NULL, POL_AUTO_SUBMITTED),
	R(PM_HDR, "X-Mail-Autoreply", NULL, POL_AUTO_SUBMITTED),
	R(PM_HDR, "X-Autoresponse", NULL, POL_AUTO_SUBMITTED),
	R(PM_HDR, "X-Cron-Env", NULL, POL_AUTO_SUBMITTED),
	/* provider vacation and out-of-office replies */
	R(PM_HDR_TOKEN, "X-Apple-Action", "vacation", POL_AUTO_REPLY),
	R(PM_HDR, "X-MS-Exchange-Inbox-Rules-Loop", NULL, POL_AUTO_REPLY),
	W(PM_SUBJECT_PREFIX, "Subject", "auto reply:", POL_AUTO_REPLY),
	W(PM_SUBJECT_PREFIX, "Subject", "auto-reply:", POL_AUTO_REPLY),
	W(PM_SUBJECT_PREFIX, "Subject", "autoreply:", POL_AUTO_REPLY),
	W(PM_SUBJECT_PREFIX, "Subject", "automatic reply:", POL_AUTO_REPLY),
	W(PM_SUBJECT_PREFIX, "Subject", "out of office", POL_AUTO_REPLY),
	W(PM_SUBJECT_PREFIX, "Subject", "out of the office", POL_AUTO_REPLY),
	W(PM_SUBJECT_PREFIX, "Subject", "abwesenheitsnotiz", POL_AUTO_REPLY),
	W(PM_HDR, "X-Auto-Response-Suppress", NULL, POL_AUTO_REPLY),
	W(PM_HDR_CONTAINS, "X-Mailer", "vacation", POL_AUTO_REPLY),
	/* mailing lists (RFC 2369, RFC 2919) */
	R(PM_HDR, "List-Id", NULL, POL_MAILING_LIST),
	R(PM_HDR, "List-Unsubscribe", NULL, POL_MAILING_LIST),
	R(PM_HDR, "List-Post", NULL, POL_MAILING_LIST),
	R(PM_HDR, "List-Help", NULL, POL_MAILING_LIST),
	R(PM_HDR, "List-Subscribe", NULL, POL_MAILING_LIST),
	R(PM_HDR, "List-Owner", NULL, POL_MAILING_LIST),
	R(PM_HDR, "List-Archive", NULL, POL_MAILING_LIST),
	/* list managers' own addresses and notices */
	R(PM_LOCAL_SUFFIX, "From", "-admin", POL_LIST_MANAGER),
	R(PM_LOCAL_SUFFIX, "From", "-owner", POL_LIST_MANAGER),
	R(PM_LOCAL_SUFFIX, "From", "-request", POL_LIST_MANAGER),
	R(PM_LOCAL_SUFFIX, "From", "-bounces", POL_LIST_MANAGER),
	R(PM_LOCAL_PREFIX, "From", "owner-", POL_LIST_MANAGER),
	R(PM_LOCAL_IS, "From", "listserv", POL_LIST_MANAGER),
	R(PM_LOCAL_IS, "From", "majordomo", POL_LIST_MANAGER),
	R(PM_LOCAL_IS, "From", "mailman", POL_LIST_MANAGER),
	R(PM_LOCAL_IS, "From", "sympa", POL_LIST_MANAGER),
	R(PM_LOCAL_IS, "From", "listmaster", POL_LIST_MANAGER),
	R(PM_HDR, "X-Mailman-Version", NULL, POL_LIST_MANAGER),
	R(PM_HDR_TOKEN, "X-List-Administrivia", "yes", POL_LIST_MANAGER),
	R(PM_HDR, "X-ML-Name", NULL, POL_LIST_MANAGER),
	R(PM_HDR, "X-MLServer", NULL, POL_LIST_MANAGER),
	R(PM_HDR_CONTAINS, "X-Loop", "sympa", POL_LIST_MANAGER),
	R(PM_HDR_CONTAINS, "Mailing-List", "ezmlm", POL_LIST_MANAGER),
	R(PM_HDR, "X-ezmlm-Request", NULL, POL_LIST_MANAGER),
	/* spam filter verdict, then DKIM */
	R(PM_HDR_TOKEN, "X-Spam-Flag", "yes", POL_SPAM),
	R(PM_DKIM, "Authentication-Results", NULL, POL_DKIM_FAIL),
};

#undef R
#undef W

#define N_RULES (sizeof(rules) / sizeof(rules[0]))

int pol_rule_reason(size_t i)
{
	return i < N_RULES ? (int)rules[i].reason : -1;
}

static int local_match(const struct pol_rule *r, const char *from)
{
	size_t ll = addr_local_len(from, 0), n = strlen(r->pattern);

	if (ll < n)
		return 0;
	switch (r->kind) {
	case PM_LOCAL_IS:
		return ll == n && strncasecmp(from, r->pattern, n) == 0;
	case PM_LOCAL_PREFIX:
		return strncasecmp(from, r->pattern, n) == 0;
	default: /* PM_LOCAL_SUFFIX */
		return strncasecmp(from + ll - n, r->pattern, n) == 0;
	}
}

static int header_match(const struct pol_rule *r, const struct prs_msg *m)
{
	const char *const words[2] = {r->pattern, NULL};
	size_t it = 0;
	const char *v;

	/* every header of that name counts, not only the first */
	while ((v = prs_header(m, r->field, &it)) != NULL) {
		switch (r->kind) {
		case PM_HDR:
			return 1;
		case PM_HDR_TOKEN:
			if (first_token_is(v, r->pattern))
				return 1;
			break;
		case PM_HDR_NOT_TOKEN:
			if (!first_token_is(v, r->pattern))
				return 1;
			break;
		case PM_HDR_LIST:
			if (list_has(v, words))
				return 1;
			break;
		default: /* PM_HDR_CONTAINS */
			if (strcasestr(v, r->pattern))
				return 1;
			break;
		}
	}
	return 0;
}

static int sender_is_own(const struct set *s, const struct rcfg *c,
			 const char *from)
{
	const char *const *addrs;
	size_t n;

	if ((s->from_addr && mr_streq_ci(s->from_addr, from)) ||
	    (s->complaints_address &&
	     mr_streq_ci(s->complaints_address, from)) ||
	    mr_strv_has_ci(s->own_addresses.v, s->own_addresses.n, from))
		return 1;
	n = rcfg_addresses(c, &addrs);
	for (size_t i = 0; i < n; i++)
		if (mr_streq_ci(addrs[i], from))
			return 1;
	return 0;
}

/* ---- DKIM (RFC 8601 Authentication-Results) ---- */

struct ar_state {
	int pass_aligned; /* a dkim=pass whose header.d aligns with From */
	int fail;         /* a dkim=fail (or permerror) */
	int result;       /* any RFC 8601 dkim result at all */
};

/* 1 if v is a DKIM result of RFC 8601 s.2.7.1. */
static int dkim_result_word(const char *v)
{
	static const char *const words[] = {
		"none",    "pass",      "fail",      "policy",
		"neutral", "temperror", "permerror", NULL,
	};

	for (size_t i = 0; words[i]; i++)
		if (strcasecmp(v, words[i]) == 0)
			return 1;
	return 0;
}

/* 1 if d is dom or a parent of it (and has at least one dot). */
static int dkim_aligned(const char *d, const char *dom)
{
	return strchr(d, '.') != NULL && addr_domain_under(dom, d);
}

/* Next ';'-separated segment of *p outside quoted strings (NUL-cut). */
static char *next_segment(char **p)
{
	char *s = *p, *q = s;
	int quoted = 0;

	if (s == NULL)
		return NULL;
	for (; *q; q++) {
		if (*q == '\\' && q[1]) {
			q++;
			continue;
		}
		if (*q == '"')
			quoted = !quoted;
		if (!quoted && *q == ';')
			break;
	}
	*p = *q ? q + 1 : NULL;
	*q = 0;
	return s;
}

/* Next whitespace-separated token of *p (NUL-cut), quotes removed from a
 * "name=\"value\"" form. */
static char *next_token(char **p)
{
	char *s = *p, *o, *r;
	int quoted = 0;

	while (is_wsp(*s))
		s++;
	if (*s == 0)
		return NULL;
	for (r = o = s; *r; r++) {
		if (*r == '"') {
			quoted = !quoted;
			continue;
		}
		if (*r == '\\' && quoted && r[1]) {
			*o++ = *++r;
			continue;
		}
		if (!quoted && is_wsp(*r))
			break;
		*o++ = *r;
	}
	*p = *r ? r + 1 : r;
	*o = 0;
	return s;
}

static void ar_resinfo(char *seg, const char *dom, struct ar_state *st)
{
	char *p = seg, *tok = next_token(&p);
	const char *d = NULL;
	size_t ml;
	int pass;

	if (tok == NULL)
		return;
	ml = strcspn(tok, "/=");
	if (ml != 4 || strncasecmp(tok, "dkim", 4) != 0)
		return;
	tok = strchr(tok, '=');
	if (tok == NULL)
		return;
	pass = strcasecmp(tok + 1, "pass") == 0;
	if (dkim_result_word(tok + 1))
		st->result = 1;
	if (strcasecmp(tok + 1, "fail") == 0 ||
	    strcasecmp(tok + 1, "permerror") == 0)
		st->fail = 1;
	while ((tok = next_token(&p)) != NULL) {
		if (strncasecmp(tok, "header.d=", 9) == 0)
			d = tok + 9;
		else if (d == NULL && strncasecmp(tok, "header.i=", 9) == 0)
			d = addr_domain(tok + 9);
	}
	if (pass && d && dom && dkim_aligned(d, dom))
		st->pass_aligned = 1;
}

static void ar_header(const char *value, const char *authserv, const char *dom,
		      struct ar_state *st)
{
	char *copy = strip_comments(value), *p = copy, *seg, *tp;
	char *id;

	seg = next_segment(&p);
	tp = seg;
	id = seg ? next_token(&tp) : NULL;
	if (id == NULL || strcasecmp(id, authserv) != 0) {
		free(copy);
		return; /* forged or foreign: does not count */
	}
	while ((seg = next_segment(&p)) != NULL)
		ar_resinfo(seg, dom, st);
	free(copy);
}

/* The DKIM row: 1 when the message must not be answered. *missing_r is
 * 1 when our verifier left no DKIM result at all (policy not ignore). */
static int dkim_row(const struct set *s, const struct prs_msg *msg,
		    int *missing_r)
{
	struct ar_state st = {0, 0, 0};
	const char *dom = msg->from_addr ? addr_domain(msg->from_addr) : NULL;
	size_t it = 0;
	const char *v;

	*missing_r = 0;
	if (s->dkim_policy == SET_DKIM_IGNORE)
		return 0;
	while ((v = prs_header(msg, "Authentication-Results", &it)) != NULL)
		ar_header(v, s->authserv_id, dom, &st);
	*missing_r = !st.result;
	if (s->dkim_policy == SET_DKIM_REQUIRE_PASS)
		return !st.pass_aligned;
	return st.fail && !st.pass_aligned;
}

int pol_dkim_refuses(const struct set *s, const struct prs_msg *msg)
{
	int missing;

	return dkim_row(s, msg, &missing);
}

/* 1 when our verifier left no DKIM result (policy not ignore). */
static int dkim_result_missing(const struct set *s, const struct prs_msg *msg)
{
	int missing;

	(void)dkim_row(s, msg, &missing); /* the refusal was decided before */
	return missing;
}

/* ---- store rows ---- */

/* The store lists holding the sender or its domain (or a parent with at
 * least one dot), bit (1u << enum st_list): each list asked once. */
static int store_lists(const struct pol_in *in, const char *dom,
		       const char *fhash, unsigned *found_r, struct mr_err *err)
{
	char(*h)[HASH_SHA512_HEX] = NULL;
	const char **hv = NULL;
	size_t n = 0, cap = 0;
	int r;

	for (const char *d = dom; d && strchr(d, '.'); d = strchr(d, '.') + 1)
		cap++;
	if (cap > 0) {
		h = xcalloc(cap, sizeof(*h));
		hv = xcalloc(cap, sizeof(*hv));
	}
	for (const char *d = dom; n < cap; d = strchr(d, '.') + 1) {
		addr_hash_hex(in->store_key, d, h[n]);
		hv[n] = h[n];
		n++;
	}
	r = st_lists_match(in->st, fhash, hv, n, found_r, err);
	free(hv);
	free(h);
	return r;
}

#define POL_ON(found, list) (((found) >> (list)) & 1u)

/* 1 blocked, 0 not, -1 store error; *found_r: the store's lists. */
static int is_blocked(const struct pol_in *in, const char *from,
		      const char *fhash, unsigned *found_r, struct mr_err *err)
{
	const struct set *s = in->set;
	const char *dom = addr_domain(from);

	*found_r = 0;
	if (addr_domain_in(dom, s->blocked_domains.v, s->blocked_domains.n))
		return 1;
	if (in->st == NULL)
		return 0;
	if (store_lists(in, dom, fhash, found_r, err) < 0)
		return -1;
	return POL_ON(*found_r, ST_BLOCK_EMAIL) ||
	       POL_ON(*found_r, ST_BLOCK_DOMAIN);
}

/* 1 over the limit, 0 within (or exempt), -1 store error. */
static int over_limit(const struct pol_in *in, const char *from,
		      const char *fhash, unsigned found, struct mr_err *err)
{
	const struct set *s = in->set;
	const char *dom = addr_domain(from);
	long count;
	int allowed;

	if (s->daily_limit <= 0 ||
	    addr_domain_in(dom, s->exempt_domains.v, s->exempt_domains.n) ||
	    in->st == NULL)
		return 0;
	if (POL_ON(found, ST_ALLOW_EMAIL) || POL_ON(found, ST_ALLOW_DOMAIN))
		return 0;
	if (in->dry_run) {
		if (st_adhoc_get(in->st, fhash, (time_t)in->now, &count, err) <
		    0)
			return -1;
		return count + 1 > s->daily_limit;
	}
	if (st_adhoc_take(in->st, in->uniq, fhash, s->daily_limit,
			  (time_t)in->now, &allowed, err) < 0)
		return -1;
	return !allowed;
}

static int rule_matches(const struct pol_in *in, const struct prs_msg *m,
			const struct pol_rule *r)
{
	const char *from = m->from_addr;
	const char *dom = addr_domain(from);
	const char *const one[2] = {r->pattern, NULL};

	switch (r->kind) {
	case PM_LOCAL_IS:
	case PM_LOCAL_PREFIX:
	case PM_LOCAL_SUFFIX:
		return local_match(r, from);
	case PM_DOMAIN:
		return addr_domain_in(dom, (char *const *)one, 1);
	case PM_DISPLAY_IS:
		return m->from_display &&
		       mr_streq_ci(m->from_display, r->pattern);
	case PM_SUBJECT_PREFIX:
		return m->subject && strncasecmp(m->subject, r->pattern,
						 strlen(r->pattern)) == 0;
	case PM_REPORT:
		return prs_report_type_is(m, r->pattern);
	case PM_CARRIED:
		return m->has_rfc822;
	case PM_OWN:
		return sender_is_own(in->set, in->rcfg, from);
	case PM_DKIM:
		return pol_dkim_refuses(in->set, m);
	default:
		return header_match(r, m);
	}
}

/* The weak signs seen so far: one per (reason, field). */
struct signs {
	const struct pol_rule *seen[N_RULES];
	size_t n;
};

/* Record a weak sign; 1 when it is the second of its reason, in another
 * field. */
static int sign_decides(struct signs *sg, const struct pol_rule *r)
{
	int other = 0;

	for (size_t i = 0; i < sg->n; i++) {
		if (sg->seen[i]->reason != r->reason)
			continue;
		if (strcmp(sg->seen[i]->field, r->field) == 0)
			return 0; /* the same field again: one sign */
		other = 1;
	}
	sg->seen[sg->n++] = r;
	return other;
}

/* Walk the table; the first strong row that matches, or the weak row
 * that completes a pair, decides. -1 when none does. */
static int rule_walk(const struct pol_in *in, const struct prs_msg *m)
{
	struct signs sg = {{NULL}, 0};

	for (size_t i = 0; i < N_RULES; i++) {
		const struct pol_rule *r = &rules[i];

		if (!rule_matches(in, m, r))
			continue;
		if (!r->weak || sign_decides(&sg, r))
			return (int)r->reason;
	}
	return -1;
}

static void set_v(struct pol_verdict *v, enum pol_reason r, enum pol_outcome o)
{
	v->reason = r;
	v->outcome = o;
	v->forward = pol_reason_forwards(r);
}

/* Rows up to (and including) the DKIM row: no store needed. */
static int header_rows(const struct pol_in *in, const struct prs_msg *m,
		       struct pol_verdict *v, int *dkim_missing)
{
	int r;

	if (m->requested == NULL)
		return set_v(v, POL_NO_REQUESTED_ADDRESS, POL_OUT_FAIL), 1;
	if (in->set->complaints_address &&
	    mr_streq_ci(m->requested, in->set->complaints_address))
		return set_v(v, POL_COMPLAINT, POL_OUT_IGNORE), 1;
	v->n_entries = rcfg_lookup(in->rcfg, m->requested, NULL, 0);
	if (v->n_entries == 0)
		return set_v(v, POL_UNKNOWN_ADDRESS, POL_OUT_IGNORE), 1;
	if (m->null_sender)
		return set_v(v, POL_NULL_SENDER, POL_OUT_IGNORE), 1;
	if (m->from_addr == NULL)
		return set_v(v, POL_BAD_SENDER, POL_OUT_IGNORE), 1;
	r = rule_walk(in, m);
	if (r < 0) {
		/* passed the DKIM row too: was there a result at all? */
		*dkim_missing = dkim_result_missing(in->set, m);
		return 0;
	}
	set_v(v, (enum pol_reason)r, POL_OUT_IGNORE);
	return 1;
}

/* Whether the verdict's mail goes to the admins, and under which reason:
 * the verdict's own when forward_reasons lists it, else dkim-missing
 * when that is listed and our verifier left no result. */
static void forward_of(const struct set *s, int dkim_missing,
		       struct pol_verdict *v)
{
	pol_reasons want = (pol_reasons)s->forward_reasons;

	v->fwd_reason = v->reason;
	if (dkim_missing && !(want & (1ULL << v->reason)))
		v->fwd_reason = POL_DKIM_MISSING;
	v->forward = (want & (1ULL << v->fwd_reason)) != 0;
}

/* Rows after the DKIM row: the store's lists and the daily limit. */
static int store_rows(const struct pol_in *in, const struct prs_msg *msg,
		      struct pol_verdict *v, struct mr_err *err)
{
	char fhash[HASH_SHA512_HEX];
	unsigned found;
	int r;

	addr_hash_hex(in->store_key, msg->from_addr, fhash);
	r = is_blocked(in, msg->from_addr, fhash, &found, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return set_v(v, POL_BLOCKED, POL_OUT_IGNORE), 0;
	r = over_limit(in, msg->from_addr, fhash, found, err);
	if (r < 0)
		return -1;
	if (r > 0)
		return set_v(v, POL_RATE_LIMITED, POL_OUT_IGNORE), 0;
	set_v(v, POL_REPLIED, POL_OUT_REPLY);
	return 0;
}

int pol_decide(const struct pol_in *in, const struct prs_msg *msg,
	       struct pol_verdict *v, struct mr_err *err)
{
	int dkim_missing = 0;

	memset(v, 0, sizeof(*v));
	mr_err_clear(err);
	if (!header_rows(in, msg, v, &dkim_missing) &&
	    store_rows(in, msg, v, err) < 0)
		return -1;
	forward_of(in->set, dkim_missing, v);
	return 0;
}
