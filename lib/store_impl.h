/* store_impl.h - private interface between the store front and its backends
 * SYNOPSIS     #include "store_impl.h"  (store.c and store_*.c only)
 * DESCRIPTION  A backend is a struct st_ops, picked by store.c from the
 *              URL scheme. Its open() allocates its own handle whose first
 *              member is a struct st and returns &handle->base; store.c
 *              then fills in ops and flags. Arguments that reach a backend
 *              have been checked by store.c: keys are non-NULL and
 *              non-empty, lists are valid, output pointers are set, and no
 *              write is passed on for an ST_READONLY store. Backends
 *              follow the store.h return conventions and fill err.
 * DIAGNOSTICS  As store.h; MR_TEMP only for what a retry can cure.
 * SEE ALSO     store.h, store.c, store_sqlite.c
 */
#ifndef MR_STORE_IMPL_H
#define MR_STORE_IMPL_H

#include <time.h>

#include "mr.h"
#include "store.h"

#define ST_LIST_N 4 /* enum st_list has values 0 .. ST_LIST_N - 1 */

struct st_ops;

/* The common head of every backend handle. */
struct st {
	const struct st_ops *ops; /* set by st_open() */
	int flags;                /* ST_READONLY, set by st_open() */
	/* group commit (st_batch_begin): journal rows not yet written */
	int batching;
	struct st_jrow *pend;
	size_t n_pend, cap_pend;
};

struct st_ops {
	const char *name;
	/* where: the URL after the scheme prefix */
	struct st *(*open)(const char *where, int flags,
			   const struct st_opts *opts, struct mr_err *err);
	void (*close)(struct st *st);

	int (*list_has)(struct st *st, enum st_list list, const char *hash,
			struct mr_err *err);
	int (*list_add)(struct st *st, enum st_list list, const char *hash,
			struct mr_err *err);
	int (*list_remove)(struct st *st, enum st_list list, const char *hash,
			   struct mr_err *err);

	/* dom: n_dom (0 .. ST_MATCH_MAX) hashes; set bits in *found_r */
	int (*lists_match)(struct st *st, const char *email_hash,
			   const char *const *dom, size_t n_dom,
			   unsigned *found_r, struct mr_err *err);

	/* day: st_day() of the caller's clock */
	int (*adhoc_get)(struct st *st, const char *hash, long day,
			 long *count_r, struct mr_err *err);
	int (*adhoc_take)(struct st *st, const char *uniq, const char *hash,
			  long limit, long day, time_t now, int *allowed_r,
			  struct mr_err *err);
	int (*adhoc_clear)(struct st *st, long day, struct mr_err *err);
	int (*adhoc_remove)(struct st *st, const char *hash,
			    struct mr_err *err);

	int (*journal_has)(struct st *st, const char *uniq, int part,
			   struct mr_err *err);
	int (*journal_put)(struct st *st, const char *uniq, int part,
			   time_t now, struct mr_err *err);
	/* also the daily counts of days before st_day(before) */
	int (*journal_prune)(struct st *st, time_t before, long *n_r,
			     struct mr_err *err);
	/* optional: n journal rows in one transaction, all or none; without
	 * it store.c calls journal_put for each */
	int (*journal_put_rows)(struct st *st, const struct st_jrow *rows,
				size_t n, struct mr_err *err);
};

extern const struct st_ops st_sqlite_ops;
extern const struct st_ops st_mysql_ops;
void st_mysql_global_init(void);
void st_mysql_global_end(void);

#endif
