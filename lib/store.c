/* store.c - the state store front (contract: store.h)
 *
 * st_open() picks a backend by the URL scheme, as OpenSMTPD picks its
 * table backends by name. The argument checks live here, in one place, so
 * a backend sees only well-formed requests (store_impl.h).
 */
#include "store.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "log.h"

#include "store_impl.h"

struct st_scheme {
	const char *prefix;
	const char *name;
	const struct st_ops *ops; /* NULL: known but not built yet */
};

static const struct st_scheme st_schemes[] = {
	{"sqlite:", "sqlite", &st_sqlite_ops},
	{"mysql://", "mysql", &st_mysql_ops},
};

static const struct st_scheme *st_scheme_find(const char *url)
{
	size_t n = sizeof(st_schemes) / sizeof(st_schemes[0]);

	for (size_t i = 0; i < n; i++) {
		const char *p = st_schemes[i].prefix;

		if (strncmp(url, p, strlen(p)) == 0)
			return &st_schemes[i];
	}
	return NULL;
}

void st_global_init(void)
{
	st_mysql_global_init();
}

void st_global_end(void)
{
	st_mysql_global_end();
}

struct st *st_open(const char *url, int flags, struct mr_err *err)
{
	return st_open_opts(url, flags, NULL, err);
}

struct st *st_open_set(const struct set *s, int flags, struct mr_err *err)
{
	struct st_opts o = {
		s->mysql.password_env,      s->mysql.password_file,
		s->mysql.connect_timeout_s, s->mysql.read_timeout_s,
		s->mysql.write_timeout_s,
	};

	return st_open_opts(s->store, flags, &o, err);
}

struct st *st_open_opts(const char *url, int flags, const struct st_opts *opts,
			struct mr_err *err)
{
	const struct st_scheme *sc;
	struct st *st;

	mr_err_clear(err);
	if (url == NULL || (sc = st_scheme_find(url)) == NULL) {
		mr_err_set(err, MR_PERM, "st_open: unknown store scheme");
		return NULL;
	}
	if (sc->ops == NULL) {
		mr_err_set(err, MR_PERM, "st_open: %s store not built yet",
			   sc->name);
		return NULL;
	}
	st = sc->ops->open(url + strlen(sc->prefix), flags, opts, err);
	if (st == NULL)
		return NULL;
	st->ops = sc->ops;
	st->flags = flags;
	st->batching = 0;
	st->pend = NULL;
	st->n_pend = st->cap_pend = 0;
	return st;
}

static void st_pend_clear(struct st *st)
{
	for (size_t i = 0; i < st->n_pend; i++)
		free(st->pend[i].uniq);
	st->n_pend = 0;
}

void st_close(struct st **st)
{
	if (st == NULL || *st == NULL)
		return;
	if ((*st)->n_pend > 0)
		log_err("store: %zu journal rows of an unfinished batch "
			"dropped",
			(*st)->n_pend);
	st_pend_clear(*st);
	free((*st)->pend);
	(*st)->ops->close(*st);
	*st = NULL;
}

/* 0 when st can serve the call (a write when write is set), else -1. */
static int st_usable(const struct st *st, int write, const char *what,
		     struct mr_err *err)
{
	mr_err_clear(err);
	if (st == NULL) {
		mr_err_set(err, MR_PERM, "%s: no store", what);
		return -1;
	}
	if (write && (st->flags & ST_READONLY)) {
		mr_err_set(err, MR_PERM, "%s: store is read-only", what);
		return -1;
	}
	return 0;
}

/* 0 when key is a usable key (a hash or a unique name), else -1. */
static int st_key_ok(const char *key, const char *what, struct mr_err *err)
{
	if (key == NULL || key[0] == 0) {
		mr_err_set(err, MR_PERM, "%s: empty key", what);
		return -1;
	}
	return 0;
}

static int st_list_ok(enum st_list list, const char *what, struct mr_err *err)
{
	if ((unsigned)list >= ST_LIST_N) {
		mr_err_set(err, MR_PERM, "%s: unknown list %u", what,
			   (unsigned)list);
		return -1;
	}
	return 0;
}

/* The checks of st_list_has/add/remove: 0 or -1 with err. */
static int st_list_args_ok(struct st *st, int write, enum st_list list,
			   const char *hash, const char *what,
			   struct mr_err *err)
{
	if (st_usable(st, write, what, err) < 0 ||
	    st_list_ok(list, what, err) < 0 || st_key_ok(hash, what, err) < 0)
		return -1;
	return 0;
}

int st_list_has(struct st *st, enum st_list list, const char *hash,
		struct mr_err *err)
{
	if (st_list_args_ok(st, 0, list, hash, "st_list_has", err) < 0)
		return -1;
	return st->ops->list_has(st, list, hash, err);
}

int st_list_add(struct st *st, enum st_list list, const char *hash,
		struct mr_err *err)
{
	if (st_list_args_ok(st, 1, list, hash, "st_list_add", err) < 0)
		return -1;
	return st->ops->list_add(st, list, hash, err);
}

int st_list_remove(struct st *st, enum st_list list, const char *hash,
		   struct mr_err *err)
{
	if (st_list_args_ok(st, 1, list, hash, "st_list_remove", err) < 0)
		return -1;
	return st->ops->list_remove(st, list, hash, err);
}

long st_day(time_t now)
{
	return (long)(now / 86400);
}

int st_lists_match(struct st *st, const char *email_hash,
		   const char *const *dom_hashes, size_t n_dom,
		   unsigned *found_r, struct mr_err *err)
{
	static const char what[] = "st_lists_match";
	unsigned found = 0;
	size_t i = 0;

	if (found_r != NULL)
		*found_r = 0;
	if (st_usable(st, 0, what, err) < 0 ||
	    st_key_ok(email_hash, what, err) < 0)
		return -1;
	if (found_r == NULL || (n_dom > 0 && dom_hashes == NULL)) {
		mr_err_set(err, MR_PERM, "%s: no result or hash pointer", what);
		return -1;
	}
	for (size_t j = 0; j < n_dom; j++)
		if (st_key_ok(dom_hashes[j], what, err) < 0)
			return -1;
	/* at least one round, even without a domain: the email lists */
	do {
		size_t n = n_dom - i > ST_MATCH_MAX ? ST_MATCH_MAX : n_dom - i;

		if (st->ops->lists_match(st, email_hash,
					 n ? dom_hashes + i : NULL, n, &found,
					 err) < 0)
			return -1;
		i += n;
	} while (i < n_dom);
	*found_r = found;
	return 0;
}

int st_adhoc_get(struct st *st, const char *hash, time_t now, long *count_r,
		 struct mr_err *err)
{
	static const char what[] = "st_adhoc_get";

	if (count_r != NULL)
		*count_r = 0;
	if (st_usable(st, 0, what, err) < 0 || st_key_ok(hash, what, err) < 0)
		return -1;
	if (count_r == NULL) {
		mr_err_set(err, MR_PERM, "%s: no result pointer", what);
		return -1;
	}
	return st->ops->adhoc_get(st, hash, st_day(now), count_r, err);
}

int st_adhoc_take(struct st *st, const char *uniq, const char *hash, long limit,
		  time_t now, int *allowed_r, struct mr_err *err)
{
	static const char what[] = "st_adhoc_take";

	if (allowed_r != NULL)
		*allowed_r = 0;
	if (st_usable(st, 1, what, err) < 0 || st_key_ok(uniq, what, err) < 0 ||
	    st_key_ok(hash, what, err) < 0)
		return -1;
	if (allowed_r == NULL) {
		mr_err_set(err, MR_PERM, "%s: no result pointer", what);
		return -1;
	}
	return st->ops->adhoc_take(st, uniq, hash, limit, st_day(now), now,
				   allowed_r, err);
}

int st_adhoc_clear(struct st *st, time_t now, struct mr_err *err)
{
	if (st_usable(st, 1, "st_adhoc_clear", err) < 0)
		return -1;
	return st->ops->adhoc_clear(st, st_day(now), err);
}

int st_adhoc_remove(struct st *st, const char *hash, struct mr_err *err)
{
	static const char what[] = "st_adhoc_remove";

	if (st_usable(st, 1, what, err) < 0 || st_key_ok(hash, what, err) < 0)
		return -1;
	return st->ops->adhoc_remove(st, hash, err);
}

int st_journal_has(struct st *st, const char *uniq, int part,
		   struct mr_err *err)
{
	static const char what[] = "st_journal_has";

	if (st_usable(st, 0, what, err) < 0 || st_key_ok(uniq, what, err) < 0)
		return -1;
	for (size_t i = 0; i < st->n_pend; i++)
		if (st->pend[i].part == part &&
		    strcmp(st->pend[i].uniq, uniq) == 0)
			return 1;
	return st->ops->journal_has(st, uniq, part, err);
}

int st_journal_put(struct st *st, const char *uniq, int part, time_t now,
		   struct mr_err *err)
{
	static const char what[] = "st_journal_put";

	if (st_usable(st, 1, what, err) < 0 || st_key_ok(uniq, what, err) < 0)
		return -1;
	if (!st->batching)
		return st->ops->journal_put(st, uniq, part, now, err);
	if (st->n_pend == st->cap_pend) {
		st->cap_pend = st->cap_pend ? st->cap_pend * 2 : 32;
		st->pend = xrealloc(st->pend, st->cap_pend * sizeof(*st->pend));
	}
	st->pend[st->n_pend++] = (struct st_jrow){xstrdup(uniq), part, now};
	return 0;
}

void st_batch_begin(struct st *st)
{
	st->batching = 1;
}

void st_batch_abort(struct st *st)
{
	st->batching = 0;
	st_pend_clear(st);
}

size_t st_batch_pending(const struct st *st)
{
	return st->n_pend;
}

int st_batch_commit(struct st *st, struct mr_err *err)
{
	int rc = 0;

	mr_err_clear(err);
	st->batching = 0;
	if (st->n_pend == 0)
		return 0;
	if (st->ops->journal_put_rows != NULL) {
		rc = st->ops->journal_put_rows(st, st->pend, st->n_pend, err);
	} else {
		for (size_t i = 0; rc == 0 && i < st->n_pend; i++)
			rc = st->ops->journal_put(st, st->pend[i].uniq,
						  st->pend[i].part,
						  st->pend[i].ts, err);
	}
	st_pend_clear(st);
	return rc;
}

int st_journal_prune(struct st *st, time_t before, long *n_r,
		     struct mr_err *err)
{
	if (n_r != NULL)
		*n_r = 0;
	if (st_usable(st, 1, "st_journal_prune", err) < 0)
		return -1;
	return st->ops->journal_prune(st, before, n_r, err);
}
