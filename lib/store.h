/* store.h - the state store: lists, daily counts, send journal (design.md s.7)
 * SYNOPSIS     struct st *st_open(const char *url, int flags,
 *                                 struct mr_err *err);
 *              int st_lists_match(struct st *st, const char *email_hash,
 *                                 ...);
 *              int st_adhoc_take(struct st *st, const char *uniq,
 *                                const char *hash, long limit, time_t now,
 *                                int *allowed_r, struct mr_err *err);
 *              int st_journal_has(struct st *st, const char *uniq,
 *                                 int part, struct mr_err *err);
 *              int st_journal_put(struct st *st, const char *uniq,
 *                                 int part, time_t now, ...);
 *              void st_close(struct st **st);
 * DESCRIPTION  A store is picked by URL scheme, each backend a struct
 *              st_ops (store_impl.h): "sqlite:<path>" or
 *              "mysql://user@host[:port]/db[?socket=/path]". Tables,
 *              compatible with the existing deployment:
 *                blacklist_adhoc(emailhash, count)   old daily counts
 *                adhoc_day(emailhash, day, count)    counts per UTC day
 *                blacklist_email(emailhash)          blocked senders
 *                blacklist_domain(domainhash)        blocked domains
 *                whitelist_email(emailhash)          allow-listed senders
 *                whitelist_domain(domainhash)        allow-listed domains
 *                send_journal(uniq, part, ts, val)   what was sent/counted
 *              Missing tables are created, except with ST_READONLY
 *              (MySQL: with the existing DDL, and existing ones checked
 *              for the columns used). Hashes
 *              are computed by the caller (addr_hash_hex). Every st_
 *              function clears err, checks its arguments and refuses
 *              writes on an ST_READONLY store before the backend sees the
 *              call; a read-only store whose database is missing reads as
 *              empty. st_adhoc_take counts a request at most once (its
 *              unique name is journalled with the answer, and a second
 *              take returns the first answer) and concurrent takers never
 *              exceed the limit. A group commit's journal rows
 *              (st_batch_commit) go in one transaction, all or none.
 *              One handle per thread; handles are not shared. The SQLite
 *              file (0600) and its folder (0700) are created whatever the
 *              umask; the MySQL password comes from a file others cannot
 *              read or an environment variable, never from the URL, and is
 *              never logged. A lost MySQL connection fails the call at
 *              hand and is reopened by the next call.
 * DIAGNOSTICS  int functions: 0 ok, -1 error; lookups 1 found, 0 not
 *              found, -1 error. A busy/locked database, I/O trouble, a
 *              lost or unreachable server, deadlocks and lock waits are
 *              MR_TEMP; anything else (corruption, a constraint, a bad
 *              argument, an unknown scheme, a write on a read-only store)
 *              MR_PERM. Failing to connect in st_open() is MR_PERM (the
 *              caller exits). Texts read "sqlite <operation> failed:
 *              <errmsg>" or "mysql <operation> failed: <error> (<code>)",
 *              name the function or the server (user@host:port/db), never
 *              a hash value or a password.
 * SEE ALSO     store_impl.h, policy.h, fwdcap.h; design.md s.7
 */
#ifndef MR_STORE_H
#define MR_STORE_H

#include <time.h>

#include "mr.h"

enum st_list {
	ST_BLOCK_EMAIL = 0, /* blacklist_email */
	ST_BLOCK_DOMAIN,    /* blacklist_domain */
	ST_ALLOW_EMAIL,     /* whitelist_email */
	ST_ALLOW_DOMAIN,    /* whitelist_domain */
};

#define ST_READONLY 1 /* never write; a missing database reads as empty */

/* Journal part number for the daily-limit decision of a request. */
#define ST_PART_LIMIT (-1)

struct st;
struct set;

/* Connection settings of a server store (mysql); NULL fields and zero
 * timeouts take the defaults. */
#define ST_PASSWORD_ENV "MAILRESPONDER_DB_PASSWORD"

struct st_opts {
	const char *password_env;  /* variable holding the password, or NULL
				      for ST_PASSWORD_ENV */
	const char *password_file; /* file holding it (others must not be
				      able to read it); wins over the env */
	long connect_timeout_s;    /* default 10 */
	long read_timeout_s;       /* default 30 */
	long write_timeout_s;      /* default 30 */
};

/* Once per process before any thread starts (the MariaDB library). */
void st_global_init(void);
void st_global_end(void);

struct st *st_open(const char *url, int flags, struct mr_err *err);
struct st *st_open_opts(const char *url, int flags, const struct st_opts *opts,
			struct mr_err *err);
/* The store of the settings (store and mysql.*). */
struct st *st_open_set(const struct set *s, int flags, struct mr_err *err);
void st_close(struct st **st);

int st_list_has(struct st *st, enum st_list list, const char *hash,
		struct mr_err *err);
int st_list_add(struct st *st, enum st_list list, const char *hash,
		struct mr_err *err);
/* Returns 1 removed, 0 was not there, -1 error. */
int st_list_remove(struct st *st, enum st_list list, const char *hash,
		   struct mr_err *err);

/* Which lists hold the sender (email lists, by email_hash) or one of its
 * domains (domain lists, by any of dom_hashes: the domain and each parent).
 * Bit (1u << enum st_list) is set in *found_r for each. Each list is asked
 * once for all the hashes (one round trip for all four where the backend
 * can), in chunks of ST_MATCH_MAX domain hashes. n_dom may be 0. */
#define ST_MATCH_MAX 8
int st_lists_match(struct st *st, const char *email_hash,
		   const char *const *dom_hashes, size_t n_dom,
		   unsigned *found_r, struct mr_err *err);

/* Daily counts belong to a UTC day (now / 86400), so a day's counts start
 * from zero at 00:00 UTC whether or not anything cleared them. */
long st_day(time_t now);

/* The sender's count for the UTC day of now (0 when absent). */
int st_adhoc_get(struct st *st, const char *hash, time_t now, long *count_r,
		 struct mr_err *err);
/* Count one request of uniq for hash on the UTC day of now and decide
 * whether it is within limit, atomically; idempotent per uniq: a second
 * call for the same uniq (a retried or recovered request) neither counts
 * again nor changes the first answer. *allowed_r is 1 when the count after
 * the increment is at most limit (or limit <= 0). The old table
 * blacklist_adhoc(emailhash, count) is raised with it, for the existing
 * deployment's tools; it is not read for decisions. */
int st_adhoc_take(struct st *st, const char *uniq, const char *hash, long limit,
		  time_t now, int *allowed_r, struct mr_err *err);
/* The old daily reset (cron): empty blacklist_adhoc and forget the counts
 * of days before the UTC day of now; today's counts stay, so a late or
 * repeated reset never lets a sender past the limit. */
int st_adhoc_clear(struct st *st, time_t now, struct mr_err *err);
/* Forget one sender's counts: 1 removed, 0 absent, -1 error. */
int st_adhoc_remove(struct st *st, const char *hash, struct mr_err *err);

/* Send journal keyed by (unique name, config entry index). */
int st_journal_has(struct st *st, const char *uniq, int part,
		   struct mr_err *err);
int st_journal_put(struct st *st, const char *uniq, int part, time_t now,
		   struct mr_err *err);

/* Group commit: after st_batch_begin, st_journal_put only records the
 * row (st_journal_has sees it); st_batch_commit writes every recorded row
 * in one transaction (all or none) and ends the batch. Until it returned
 * 0 nothing may treat those rows as written. On -1 the rows are dropped:
 * the caller sends their messages back for a retry. */
struct st_jrow {
	char *uniq;
	int part;
	time_t ts;
};

void st_batch_begin(struct st *st);
int st_batch_commit(struct st *st, struct mr_err *err);
void st_batch_abort(struct st *st); /* drop the recorded rows */
size_t st_batch_pending(const struct st *st);

/* Delete journal rows older than before, and daily counts of days before
 * before's; *n_r (if not NULL) = how many journal rows. */
int st_journal_prune(struct st *st, time_t before, long *n_r,
		     struct mr_err *err);

#endif
