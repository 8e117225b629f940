/* policy.h - when to reply (design.md s.4)
 * SYNOPSIS     int pol_decide(const struct pol_in *in,
 *                             const struct prs_msg *msg,
 *                             struct pol_verdict *v, struct mr_err *err);
 *              const char *pol_reason_word(enum pol_reason r);
 * DESCRIPTION  Applies the rows of design.md s.4 in order; the first match
 *              decides. Header values come from the parser already
 *              unfolded; markers are compared as tokens, case-insensitively,
 *              never by searching raw header lines. Of the
 *              Authentication-Results headers (RFC 8601) only those whose
 *              authserv-id is our verifier's (authserv_id) count; a
 *              dkim=pass aligns when its header.d (or the domain of
 *              header.i) is the From domain or a parent of it with at
 *              least one dot. The store rows (blocked lists, daily limit)
 *              use in->st when it is not NULL; with in->dry_run the daily
 *              limit is only read (classify changes nothing), otherwise
 *              one request is counted, once per unique name.
 * DIAGNOSTICS  0 with the verdict; -1 with err when the store failed
 *              (MR_TEMP: try the message again later).
 * SEE ALSO     parse.h, store.h, reason.h
 */
#ifndef MR_POLICY_H
#define MR_POLICY_H

#include <stddef.h>

#include "mr.h"

struct set;
struct rcfg;
struct st;
struct hash_key;
struct prs_msg;

enum pol_reason {
	POL_REPLIED = 0,
	POL_NO_REQUESTED_ADDRESS,
	POL_COMPLAINT,
	POL_UNKNOWN_ADDRESS,
	POL_NULL_SENDER,
	POL_BAD_SENDER,
	POL_BOUNCE,
	POL_NO_REPLY_SENDER,
	POL_LOOP,
	POL_AUTO_SUBMITTED,
	POL_MAILING_LIST,
	POL_SPAM,
	POL_DKIM_FAIL,
	POL_BLOCKED,
	POL_RATE_LIMITED,
	POL_LIST_MANAGER,
	POL_AUTO_REPLY,
	/* Not a verdict of its own: the message passed every header row
	 * (DKIM included), but our verifier left no DKIM result (no
	 * Authentication-Results of ours, or none with a dkim= result). Only
	 * a forward reason. */
	POL_DKIM_MISSING,
	POL_N_REASONS
};

/* A set of reasons, one bit per enum pol_reason (1ULL << reason). */
typedef unsigned long long pol_reasons;

enum pol_outcome {
	POL_OUT_REPLY = 0, /* one reply per config entry */
	POL_OUT_IGNORE,    /* handled, deliberately not replied */
	POL_OUT_FAIL,      /* cannot be processed: failure folder */
};

struct pol_verdict {
	enum pol_reason reason;
	enum pol_outcome outcome;
	int forward; /* forward the original to the admins: the settings'
			forward_reasons holds fwd_reason */
	enum pol_reason fwd_reason; /* reason, or POL_DKIM_MISSING */
	size_t n_entries; /* config entries to answer (POL_OUT_REPLY) */
};

struct pol_in {
	const struct set *set;
	const struct rcfg *rcfg;
	struct st *st;                    /* NULL: skip the store rows */
	const struct hash_key *store_key; /* NULL: plain SHA-512 hashes */
	const char *uniq;                 /* unique name: counted once */
	int dry_run;                      /* read the daily count only */
	long now;                         /* unix time: journal, UTC day */
};

int pol_decide(const struct pol_in *in, const struct prs_msg *msg,
	       struct pol_verdict *v, struct mr_err *err);

const char *pol_reason_word(enum pol_reason r);
/* 1 if mail refused for reason r is forwarded to the admins by default
 * (complaint, bounce): a property of the reason, not of the rule. */
int pol_reason_forwards(enum pol_reason r);
/* The rule table (design.md s.4), for the documentation test: row i's
 * reason, or -1 past the end. */
int pol_rule_reason(size_t i);
/* The reason named word (a policy row's word, or "dkim-missing"); 1 found,
 * 0 not. "replied" is not a reason one can forward: 0. */
int pol_forward_reason(const char *word, enum pol_reason *r);
/* Reasons forwarded by default (complaint and bounce), and the set that
 * forwards like the existing system (existing-system.md): each reason's
 * entry in policy.c's reason table says whether it belongs to either. */
pol_reasons pol_forward_default(void);
pol_reasons pol_forward_existing(void);
const char *pol_outcome_word(enum pol_outcome o);

/* Exposed for tests: the DKIM row alone. Returns 1 when the message must
 * not be answered under the settings' DKIM policy. */
int pol_dkim_refuses(const struct set *s, const struct prs_msg *msg);

#endif
