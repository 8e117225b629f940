/* store.h - the state store: lists, daily counts, send journal (design.md s.7)
 * SYNOPSIS     struct st *st_open(const char *url, int flags, struct mr_err *);
 * DESCRIPTION  A store is picked by URL scheme ("sqlite:<path>", later
 *              "mysql://..."); each backend is a struct st_ops. Tables,
 *              compatible with the existing deployment:
 *                blacklist_adhoc(emailhash, count)   daily request counts
 *                blacklist_email(emailhash)          blocked senders
 *                blacklist_domain(domainhash)        blocked domains
 *                whitelist_email(emailhash)          allow-listed senders
 *                whitelist_domain(domainhash)        allow-listed domains
 *                send_journal(uniq, part, ts, val)   what was sent/counted
 *              Hashes are computed by the caller (addr_hash_hex). One
 *              handle per thread; handles are not shared.
 * DIAGNOSTICS  int functions: 0 ok, -1 error; lookups 1 found, 0 not
 *              found, -1 error. A busy/locked database or a lost server is
 *              MR_TEMP; anything else MR_PERM.
 */
#ifndef MR_STORE_H
#define MR_STORE_H

#include <time.h>

#include "mr.h"

enum st_list {
	ST_BLOCK_EMAIL = 0, /* blacklist_email */
	ST_BLOCK_DOMAIN,    /* blacklist_domain */
	ST_ALLOW_EMAIL,	    /* whitelist_email */
	ST_ALLOW_DOMAIN,    /* whitelist_domain */
};

#define ST_READONLY 1 /* never write; a missing database reads as empty */

/* Journal part number for the daily-limit decision of a request. */
#define ST_PART_LIMIT (-1)

struct st;

struct st *st_open(const char *url, int flags, struct mr_err *err);
void st_close(struct st **st);

int st_list_has(struct st *st, enum st_list list, const char *hash,
		struct mr_err *err);
int st_list_add(struct st *st, enum st_list list, const char *hash,
		struct mr_err *err);
/* Returns 1 removed, 0 was not there, -1 error. */
int st_list_remove(struct st *st, enum st_list list, const char *hash,
		   struct mr_err *err);

/* Current daily count of a sender (0 when absent). */
int st_adhoc_get(struct st *st, const char *hash, long *count_r,
		 struct mr_err *err);
/* Count one request of uniq for hash and decide whether it is within
 * limit, atomically; idempotent per uniq: a second call for the same uniq
 * (a retried or recovered request) neither counts again nor changes the
 * first answer. *allowed_r is 1 when the count after the increment is at
 * most limit. */
int st_adhoc_take(struct st *st, const char *uniq, const char *hash,
		  long limit, int *allowed_r, struct mr_err *err);
/* Forget every daily count (midnight reset). */
int st_adhoc_clear(struct st *st, struct mr_err *err);
/* Forget one sender's count: 1 removed, 0 absent, -1 error. */
int st_adhoc_remove(struct st *st, const char *hash, struct mr_err *err);

/* Send journal keyed by (unique name, config entry index). */
int st_journal_has(struct st *st, const char *uniq, int part,
		   struct mr_err *err);
int st_journal_put(struct st *st, const char *uniq, int part, time_t now,
		   struct mr_err *err);
/* Delete journal rows older than before; *n_r (if not NULL) = how many. */
int st_journal_prune(struct st *st, time_t before, long *n_r,
		     struct mr_err *err);

#endif
