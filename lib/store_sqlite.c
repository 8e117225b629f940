/* store_sqlite.c - the SQLite state store (contract: store.h)
 *
 * One sqlite3 handle per struct st, opened with SQLITE_OPEN_NOMUTEX: a
 * handle belongs to one thread, and processes and threads share the file
 * through sqlite's own locking (WAL, synchronous=NORMAL, a busy timeout).
 * The schema is created when missing (PRAGMA user_version). Statements are
 * prepared on first use, kept for the life of the handle and take bound
 * parameters only. st_adhoc_take is one BEGIN IMMEDIATE transaction: the
 * journal row of the request decides if it was counted before; if not,
 * the count is upserted and the answer journalled with it. Any error
 * inside a transaction rolls it back.
 *
 * Error mapping: BUSY, LOCKED, IOERR, FULL, NOMEM and PROTOCOL are
 * MR_TEMP, anything else (CORRUPT, NOTADB, READONLY, CANTOPEN, a
 * constraint) MR_PERM.
 */
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"

#define SQ_SCHEMA_VERSION 2 /* PRAGMA user_version; 2 added adhoc_day */
#define SQ_STR_(x) #x
#define SQ_STR(x) SQ_STR_(x)
#define SQ_BUSY_MS 5000

/* Tables, in enum st_list order from SQT_LIST. */
enum sq_table {
	SQT_ADHOC = 0,
	SQT_LIST,
	SQT_JOURNAL = SQT_LIST + ST_LIST_N,
	SQT_DAY,
	SQT_N,
};

static const char *const sq_tables[SQT_N] = {
	[SQT_ADHOC] = "blacklist_adhoc",
	[SQT_LIST + ST_BLOCK_EMAIL] = "blacklist_email",
	[SQT_LIST + ST_BLOCK_DOMAIN] = "blacklist_domain",
	[SQT_LIST + ST_ALLOW_EMAIL] = "whitelist_email",
	[SQT_LIST + ST_ALLOW_DOMAIN] = "whitelist_domain",
	[SQT_JOURNAL] = "send_journal",
	[SQT_DAY] = "adhoc_day",
};

static const char sq_schema_sql[] =
	"CREATE TABLE IF NOT EXISTS blacklist_adhoc("
	"emailhash TEXT PRIMARY KEY, count INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS blacklist_email("
	"emailhash TEXT PRIMARY KEY);"
	"CREATE TABLE IF NOT EXISTS blacklist_domain("
	"domainhash TEXT PRIMARY KEY);"
	"CREATE TABLE IF NOT EXISTS whitelist_email("
	"emailhash TEXT PRIMARY KEY);"
	"CREATE TABLE IF NOT EXISTS whitelist_domain("
	"domainhash TEXT PRIMARY KEY);"
	"CREATE TABLE IF NOT EXISTS send_journal(uniq TEXT NOT NULL,"
	" part INTEGER NOT NULL, ts INTEGER NOT NULL,"
	" val INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(uniq, part));"
	"CREATE INDEX IF NOT EXISTS send_journal_ts ON send_journal(ts);"
	"CREATE TABLE IF NOT EXISTS adhoc_day(emailhash TEXT NOT NULL,"
	" day INTEGER NOT NULL, count INTEGER NOT NULL,"
	" PRIMARY KEY(emailhash, day)) WITHOUT ROWID;"
	"PRAGMA user_version = " SQ_STR(SQ_SCHEMA_VERSION) ";";

/* WAL: readers never block the writer; NORMAL: no fsync per commit,
 * still consistent after a crash (the last commits may be lost). */
static const char sq_pragmas[] =
	"PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

/* Prepared statements; the list ones in enum st_list order. */
enum sq_id {
	SQ_BEGIN = 0,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_LIST_HAS,
	SQ_LIST_ADD = SQ_LIST_HAS + ST_LIST_N,
	SQ_LIST_DEL = SQ_LIST_ADD + ST_LIST_N,
	SQ_MATCH = SQ_LIST_DEL + ST_LIST_N,
	SQ_ADHOC_GET,
	SQ_ADHOC_INCR,
	SQ_ADHOC_MIRROR,
	SQ_ADHOC_CLEAR,
	SQ_ADHOC_CLEAR_DAYS,
	SQ_ADHOC_DEL,
	SQ_ADHOC_DEL_DAYS,
	SQ_JOURNAL_GET,
	SQ_JOURNAL_PUT,
	SQ_JOURNAL_PRUNE,
	SQ_N,
};

/* String concatenation of constants: no data ever goes into SQL text. */
#define SQ_HAS(tab, col) "SELECT 1 FROM " tab " WHERE " col " = ?1"
#define SQ_ADD(tab, col)                                                       \
	"INSERT INTO " tab "(" col ") VALUES (?1) ON CONFLICT DO NOTHING"
#define SQ_DEL(tab, col) "DELETE FROM " tab " WHERE " col " = ?1"
static const char *const sq_sql[SQ_N] = {
	[SQ_BEGIN] = "BEGIN IMMEDIATE",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
	[SQ_LIST_HAS + ST_BLOCK_EMAIL] = SQ_HAS("blacklist_email", "emailhash"),
	[SQ_LIST_ADD + ST_BLOCK_EMAIL] = SQ_ADD("blacklist_email", "emailhash"),
	[SQ_LIST_DEL + ST_BLOCK_EMAIL] = SQ_DEL("blacklist_email", "emailhash"),
	[SQ_LIST_HAS + ST_BLOCK_DOMAIN] =
		SQ_HAS("blacklist_domain", "domainhash"),
	[SQ_LIST_ADD + ST_BLOCK_DOMAIN] =
		SQ_ADD("blacklist_domain", "domainhash"),
	[SQ_LIST_DEL + ST_BLOCK_DOMAIN] =
		SQ_DEL("blacklist_domain", "domainhash"),
	[SQ_LIST_HAS + ST_ALLOW_EMAIL] = SQ_HAS("whitelist_email", "emailhash"),
	[SQ_LIST_ADD + ST_ALLOW_EMAIL] = SQ_ADD("whitelist_email", "emailhash"),
	[SQ_LIST_DEL + ST_ALLOW_EMAIL] = SQ_DEL("whitelist_email", "emailhash"),
	[SQ_LIST_HAS + ST_ALLOW_DOMAIN] =
		SQ_HAS("whitelist_domain", "domainhash"),
	[SQ_LIST_ADD + ST_ALLOW_DOMAIN] =
		SQ_ADD("whitelist_domain", "domainhash"),
	[SQ_LIST_DEL + ST_ALLOW_DOMAIN] =
		SQ_DEL("whitelist_domain", "domainhash"),
	[SQ_MATCH] = NULL, /* built by sq_match_sql() for the tables present */
	[SQ_ADHOC_GET] = "SELECT count FROM adhoc_day"
			 " WHERE emailhash = ?1 AND day = ?2",
	[SQ_ADHOC_INCR] = "INSERT INTO adhoc_day(emailhash, day, count)"
			  " VALUES (?1, ?2, 1) ON CONFLICT(emailhash, day)"
			  " DO UPDATE SET count = count + 1 RETURNING count",
	[SQ_ADHOC_MIRROR] = "INSERT INTO blacklist_adhoc(emailhash, count)"
			    " VALUES (?1, 1) ON CONFLICT(emailhash)"
			    " DO UPDATE SET count = count + 1",
	[SQ_ADHOC_CLEAR] = "DELETE FROM blacklist_adhoc",
	[SQ_ADHOC_CLEAR_DAYS] = "DELETE FROM adhoc_day WHERE day < ?1",
	[SQ_ADHOC_DEL] = "DELETE FROM blacklist_adhoc WHERE emailhash = ?1",
	[SQ_ADHOC_DEL_DAYS] = "DELETE FROM adhoc_day WHERE emailhash = ?1",
	[SQ_JOURNAL_GET] = "SELECT val FROM send_journal"
			   " WHERE uniq = ?1 AND part = ?2",
	[SQ_JOURNAL_PUT] = "INSERT INTO send_journal(uniq, part, ts, val)"
			   " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
	[SQ_JOURNAL_PRUNE] = "DELETE FROM send_journal WHERE ts < ?1",
};

/* The lists in one statement: ?1 the email hash, ?2 .. ?9 the domain
 * hashes (unused ones bound to '', which no hash equals). */
_Static_assert(ST_MATCH_MAX == 8, "sq_match_parts has 8 domain slots");
#define SQ_DOMS "(?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
static const char *const sq_match_parts[ST_LIST_N] = {
	[ST_BLOCK_EMAIL] = "SELECT 0 FROM blacklist_email WHERE emailhash = ?1",
	[ST_BLOCK_DOMAIN] =
		"SELECT 1 FROM blacklist_domain WHERE domainhash IN " SQ_DOMS,
	[ST_ALLOW_EMAIL] = "SELECT 2 FROM whitelist_email WHERE emailhash = ?1",
	[ST_ALLOW_DOMAIN] =
		"SELECT 3 FROM whitelist_domain WHERE domainhash IN " SQ_DOMS,
};

struct st_sqlite {
	struct st base;  /* first: store.c sees only this */
	sqlite3 *db;     /* NULL: read-only and there is no database */
	unsigned tables; /* bit (1 << enum sq_table) set: table exists */
	char *match_sql; /* SQ_MATCH over the list tables present, or NULL */
	sqlite3_stmt *stmt[SQ_N];
};

static struct st_sqlite *sq_of(struct st *st)
{
	return (struct st_sqlite *)st; /* base is the first member */
}

static int sq_absent(const struct st_sqlite *sq, enum sq_table t)
{
	return (sq->tables & (1u << t)) == 0;
}

static enum mr_fail sq_kind(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_NOMEM:
	case SQLITE_PROTOCOL:
		return MR_TEMP;
	default:
		return MR_PERM;
	}
}

static void sq_rollback(struct st_sqlite *sq)
{
	sqlite3_stmt *s = sq->stmt[SQ_ROLLBACK];
	int rc;

	if (sq->db == NULL || sqlite3_get_autocommit(sq->db))
		return; /* no transaction, or sqlite rolled it back already */
	if (s != NULL) {
		rc = sqlite3_step(s);
		(void)sqlite3_reset(s); /* rc tells */
	} else {
		rc = sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK)
		log_warn("sqlite rollback failed: %s", sqlite3_errmsg(sq->db));
}

/* Fill err from rc and the handle's message, roll back; returns -1. */
static int sq_fail(struct st_sqlite *sq, int rc, const char *what,
		   struct mr_err *err)
{
	mr_err_set(err, sq_kind(rc), "sqlite %s failed: %s", what,
		   sq->db != NULL ? sqlite3_errmsg(sq->db)
				  : sqlite3_errstr(rc));
	sq_rollback(sq);
	return -1;
}

/* Like sq_fail() for opening path: the path helps, the hashes never. */
static int sq_fail_open(struct st_sqlite *sq, int rc, const char *path,
			struct mr_err *err)
{
	mr_err_set(err, sq_kind(rc), "sqlite open(%s) failed: %s", path,
		   sq->db != NULL ? sqlite3_errmsg(sq->db)
				  : sqlite3_errstr(rc));
	return -1;
}

/* Forget s's bindings and results, ready for the next use. After a
 * failed step, sqlite3_reset() keeps the error for sqlite3_errmsg(). */
static void sq_done(sqlite3_stmt *s)
{
	(void)sqlite3_reset(s); /* repeats the last step's code: seen */
	(void)sqlite3_clear_bindings(s); /* cannot fail */
}

/* Statement id, prepared on first use, with ?1 bound to text (unless
 * NULL). NULL on error, with err set and any transaction rolled back. */
static sqlite3_stmt *sq_prep(struct st_sqlite *sq, enum sq_id id,
			     const char *text, const char *what,
			     struct mr_err *err)
{
	sqlite3_stmt *s = sq->stmt[id];
	int rc;

	if (sq->db == NULL) {
		mr_err_set(err, MR_PERM, "sqlite %s failed: read-only", what);
		return NULL;
	}
	if (s == NULL) {
		rc = sqlite3_prepare_v3(
			sq->db, id == SQ_MATCH ? sq->match_sql : sq_sql[id], -1,
			SQLITE_PREPARE_PERSISTENT, &s, NULL);
		if (rc != SQLITE_OK) {
			(void)sq_fail(sq, rc, what, err);
			return NULL;
		}
		sq->stmt[id] = s;
	}
	if (text != NULL) {
		rc = sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
		if (rc != SQLITE_OK) {
			(void)sq_fail(sq, rc, what, err); /* before reset */
			sq_done(s);
			return NULL;
		}
	}
	return s;
}

/* Bind an integer to parameter i of s; 0, or -1 with s reset. */
static int sq_bind_int(struct st_sqlite *sq, sqlite3_stmt *s, int i,
		       sqlite3_int64 v, const char *what, struct mr_err *err)
{
	int rc = sqlite3_bind_int64(s, i, v);

	if (rc == SQLITE_OK)
		return 0;
	(void)sq_fail(sq, rc, what, err); /* reset would clear errmsg */
	sq_done(s);
	return -1;
}

/* Run s, which returns one row (RETURNING): 0 with column 0 in *val_r,
 * or -1. s is done with afterwards. */
static int sq_row(struct st_sqlite *sq, sqlite3_stmt *s, sqlite3_int64 *val_r,
		  const char *what, struct mr_err *err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW && val_r != NULL)
		*val_r = sqlite3_column_int64(s, 0);
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(s); /* RETURNING: run to the end */
	sq_done(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return 0;
	return sq_fail(sq, rc, what, err);
}

/* Like sq_row() for statements that return at most one row, telling
 * whether there was one: 1 row, 0 none, -1 error. */
static int sq_lookup(struct st_sqlite *sq, sqlite3_stmt *s,
		     sqlite3_int64 *val_r, const char *what, struct mr_err *err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW && val_r != NULL)
		*val_r = sqlite3_column_int64(s, 0);
	sq_done(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(sq, rc, what, err);
}

/* Run s to the end: number of rows changed, or -1. */
static long sq_change(struct st_sqlite *sq, sqlite3_stmt *s, const char *what,
		      struct mr_err *err)
{
	int rc = sqlite3_step(s);

	sq_done(s);
	if (rc != SQLITE_DONE)
		return sq_fail(sq, rc, what, err);
	return sqlite3_changes(sq->db);
}

static int sq_simple(struct st_sqlite *sq, enum sq_id id, const char *what,
		     struct mr_err *err)
{
	sqlite3_stmt *s = sq_prep(sq, id, NULL, what, err);

	if (s == NULL)
		return -1;
	return sq_change(sq, s, what, err) < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- lists */

static int sq_list_has(struct st *st, enum st_list list, const char *hash,
		       struct mr_err *err)
{
	struct st_sqlite *sq = sq_of(st);
	sqlite3_stmt *s;

	if (sq_absent(sq, SQT_LIST + list))
		return 0;
	s = sq_prep(sq, SQ_LIST_HAS + list, hash, "list lookup", err);
	if (s == NULL)
		return -1;
	return sq_lookup(sq, s, NULL, "list lookup", err);
}

static int sq_list_add(struct st *st, enum st_list list, const char *hash,
		       struct mr_err *err)
{
	struct st_sqlite *sq = sq_of(st);
	sqlite3_stmt *s =
		sq_prep(sq, SQ_LIST_ADD + list, hash, "list add", err);

	if (s == NULL)
		return -1;
	return sq_change(sq, s, "list add", err) < 0 ? -1 : 0;
}

static int sq_list_remove(struct st *st, enum st_list list, const char *hash,
			  struct mr_err *err)
{
	struct st_sqlite *sq = sq_of(st);
	sqlite3_stmt *s;
	long n;

	s = sq_prep(sq, SQ_LIST_DEL + list, hash, "list remove", err);
	if (s == NULL || (n = sq_change(sq, s, "list remove", err)) < 0)
		return -1;
	return n > 0;
}

static int sq_lists_match(struct st *st, const char *email_hash,
			  const char *const *dom, size_t n_dom,
			  unsigned *found_r, struct mr_err *err)
{
	static const char what[] = "list lookup";
	struct st_sqlite *sq = sq_of(st);
	sqlite3_stmt *s;
	int rc;

	if (sq->match_sql == NULL)
		return 0; /* read-only, no list table */
	s = sq_prep(sq, SQ_MATCH, email_hash, what, err);
	if (s == NULL)
		return -1;
	for (int i = 0; i < ST_MATCH_MAX; i++) {
		rc = sqlite3_bind_text(s, i + 2,
				       (size_t)i < n_dom ? dom[i] : "", -1,
				       SQLITE_STATIC);
		if (rc != SQLITE_OK) {
			(void)sq_fail(sq, rc, what, err);
			sq_done(s);
			return -1;
		}
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int l = sqlite3_column_int(s, 0);

		if (l >= 0 && l < ST_LIST_N)
			*found_r |= 1u << l;
	}
	sq_done(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(sq, rc, what, err);
}

/* -------------------------------------------------------- daily counts */

static int sq_adhoc_get(struct st *st, const char *hash, long day,
			long *count_r, struct mr_err *err)
{
	struct st_sqlite *sq = sq_of(st);
	sqlite3_int64 v = 0;
	sqlite3_stmt *s;

	if (sq_absent(sq, SQT_DAY))
		return 0;
	s = sq_prep(sq, SQ_ADHOC_GET, hash, "adhoc lookup", err);
	if (s == NULL || sq_bind_int(sq, s, 2, day, "adhoc lookup", err) < 0 ||
	    sq_lookup(sq, s, &v, "adhoc lookup", err) < 0)
		return -1;
	*count_r = (long)v;
	return 0;
}

/* In the open transaction: was uniq's limit decision journalled? 1 yes
 * (answer in *val_r), 0 no, -1 error. */
static int sq_journal_get(struct st_sqlite *sq, const char *uniq, int part,
			  sqlite3_int64 *val_r, const char *what,
			  struct mr_err *err)
{
	sqlite3_stmt *s = sq_prep(sq, SQ_JOURNAL_GET, uniq, what, err);

	if (s == NULL || sq_bind_int(sq, s, 2, part, what, err) < 0)
		return -1;
	return sq_lookup(sq, s, val_r, what, err);
}

static int sq_journal_insert(struct st_sqlite *sq, const char *uniq, int part,
			     time_t ts, sqlite3_int64 val, const char *what,
			     struct mr_err *err)
{
	sqlite3_stmt *s = sq_prep(sq, SQ_JOURNAL_PUT, uniq, what, err);

	if (s == NULL || sq_bind_int(sq, s, 2, part, what, err) < 0 ||
	    sq_bind_int(sq, s, 3, (sqlite3_int64)ts, what, err) < 0 ||
	    sq_bind_int(sq, s, 4, val, what, err) < 0)
		return -1;
	return sq_change(sq, s, what, err) < 0 ? -1 : 0;
}

/* In the open transaction: raise hash's count of day (and the old table's
 * count with it); the new count of the day in *count_r. */
static int sq_count(struct st_sqlite *sq, const char *hash, long day,
		    sqlite3_int64 *count_r, const char *what,
		    struct mr_err *err)
{
	sqlite3_stmt *s = sq_prep(sq, SQ_ADHOC_INCR, hash, what, err);

	if (s == NULL || sq_bind_int(sq, s, 2, day, what, err) < 0 ||
	    sq_row(sq, s, count_r, what, err) < 0)
		return -1;
	s = sq_prep(sq, SQ_ADHOC_MIRROR, hash, what, err);
	if (s == NULL || sq_change(sq, s, what, err) < 0)
		return -1;
	return 0;
}

static int sq_adhoc_take(struct st *st, const char *uniq, const char *hash,
			 long limit, long day, time_t now, int *allowed_r,
			 struct mr_err *err)
{
	static const char what[] = "adhoc take";
	struct st_sqlite *sq = sq_of(st);
	sqlite3_int64 val = 0, count = 0;
	int seen;

	if (sq_simple(sq, SQ_BEGIN, what, err) < 0)
		return -1;
	seen = sq_journal_get(sq, uniq, ST_PART_LIMIT, &val, what, err);
	if (seen < 0)
		return -1;
	if (!seen) {
		if (sq_count(sq, hash, day, &count, what, err) < 0)
			return -1;
		val = limit <= 0 || count <= limit;
		if (sq_journal_insert(sq, uniq, ST_PART_LIMIT, now, val, what,
				      err) < 0)
			return -1;
	}
	if (sq_simple(sq, SQ_COMMIT, what, err) < 0)
		return -1;
	*allowed_r = val != 0;
	return 0;
}

/* Run statement id with ?1 bound to the integer v: rows changed or -1. */
static long sq_change_int(struct st_sqlite *sq, enum sq_id id, sqlite3_int64 v,
			  const char *what, struct mr_err *err)
{
	sqlite3_stmt *s = sq_prep(sq, id, NULL, what, err);

	if (s == NULL || sq_bind_int(sq, s, 1, v, what, err) < 0)
		return -1;
	return sq_change(sq, s, what, err);
}

static int sq_adhoc_clear(struct st *st, long day, struct mr_err *err)
{
	static const char what[] = "adhoc clear";
	struct st_sqlite *sq = sq_of(st);

	if (sq_simple(sq, SQ_ADHOC_CLEAR, what, err) < 0 ||
	    sq_change_int(sq, SQ_ADHOC_CLEAR_DAYS, day, what, err) < 0)
		return -1;
	return 0;
}

static int sq_adhoc_remove(struct st *st, const char *hash, struct mr_err *err)
{
	static const char what[] = "adhoc remove";
	struct st_sqlite *sq = sq_of(st);
	sqlite3_stmt *s;
	long n, m;

	s = sq_prep(sq, SQ_ADHOC_DEL, hash, what, err);
	if (s == NULL || (n = sq_change(sq, s, what, err)) < 0)
		return -1;
	s = sq_prep(sq, SQ_ADHOC_DEL_DAYS, hash, what, err);
	if (s == NULL || (m = sq_change(sq, s, what, err)) < 0)
		return -1;
	return n + m > 0;
}

/* --------------------------------------------------------- send journal */

static int sq_journal_has(struct st *st, const char *uniq, int part,
			  struct mr_err *err)
{
	struct st_sqlite *sq = sq_of(st);

	if (sq_absent(sq, SQT_JOURNAL))
		return 0;
	return sq_journal_get(sq, uniq, part, NULL, "journal lookup", err);
}

static int sq_journal_put(struct st *st, const char *uniq, int part, time_t now,
			  struct mr_err *err)
{
	return sq_journal_insert(sq_of(st), uniq, part, now, 0, "journal put",
				 err);
}

static int sq_journal_put_rows(struct st *st, const struct st_jrow *rows,
			       size_t n, struct mr_err *err)
{
	static const char what[] = "journal put";
	struct st_sqlite *sq = sq_of(st);

	if (sq_simple(sq, SQ_BEGIN, what, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (sq_journal_insert(sq, rows[i].uniq, rows[i].part,
				      rows[i].ts, 0, what, err) < 0)
			return -1; /* rolled back */
	return sq_simple(sq, SQ_COMMIT, what, err);
}

static int sq_journal_prune(struct st *st, time_t before, long *n_r,
			    struct mr_err *err)
{
	static const char what[] = "journal prune";
	struct st_sqlite *sq = sq_of(st);
	long n;

	n = sq_change_int(sq, SQ_JOURNAL_PRUNE, (sqlite3_int64)before, what,
			  err);
	if (n < 0 || sq_change_int(sq, SQ_ADHOC_CLEAR_DAYS, st_day(before),
				   what, err) < 0)
		return -1;
	if (n_r != NULL)
		*n_r = n;
	return 0;
}

/* ------------------------------------------------------- open and close */

/* mkdir(dir) with mode 0700 whatever the umask: 1 made, 0 was there,
 * -1 with errno. */
static int sq_mkdir(const char *dir)
{
	if (mkdir(dir, 0700) == 0)
		return chmod(dir, 0700) == 0 ? 1 : -1;
	return errno == EEXIST ? 0 : -1;
}

/* mkdir -p dir (modified while it runs, restored). The usual case, an
 * existing directory, costs one mkdir(2). */
static int sq_mkdirs(char *dir, struct mr_err *err)
{
	int rc = sq_mkdir(dir);

	if (rc < 0 && errno == ENOENT) {
		/* a missing ancestor: make them all, from the top down */
		rc = 0;
		for (char *p = strchr(dir + 1, '/'); rc >= 0 && p != NULL;
		     p = strchr(p + 1, '/')) {
			*p = 0;
			rc = sq_mkdir(dir);
			*p = '/';
		}
		if (rc >= 0)
			rc = sq_mkdir(dir);
	}
	if (rc < 0) {
		mr_err_sys(err, MR_PERM, errno,
			   "sqlite mkdir(%s) failed (run \"mailresponder "
			   "setup\" as root, or create it for the service "
			   "user, mode 0700)",
			   dir);
		return -1;
	}
	return 0;
}

static int sq_mkparent(const char *path, struct mr_err *err)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int rc = 0;

	if (slash != NULL && slash != dir) {
		*slash = 0;
		rc = sq_mkdirs(dir, err);
	}
	free(dir);
	return rc;
}

/* Create the database file 0600 before sqlite does (sqlite would use
 * 0644 & ~umask); an existing file is left as it is. */
static int sq_create(const char *path, struct mr_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      0600);

	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		int full = errno == ENOSPC || errno == EDQUOT;

		mr_err_sys(err, full ? MR_TEMP : MR_PERM, errno,
			   "sqlite create(%s) failed", path);
		return -1;
	}
	if (fchmod(fd, 0600) < 0) {
		mr_err_sys(err, MR_PERM, errno, "sqlite chmod(%s) failed",
			   path);
		(void)close(fd); /* the chmod error is the one to report */
		return -1;
	}
	if (close(fd) < 0) {
		mr_err_sys(err, MR_PERM, errno, "sqlite close(%s) failed",
			   path);
		return -1;
	}
	return 0;
}

static int sq_exec(struct st_sqlite *sq, const char *sql, const char *what,
		   struct mr_err *err)
{
	int rc = sqlite3_exec(sq->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sq_fail(sq, rc, what, err);
}

/* One integer from a constant query (a PRAGMA), into *v_r. */
static int sq_query_int(struct st_sqlite *sq, const char *sql,
			sqlite3_int64 *v_r, const char *what,
			struct mr_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(sq->db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		*v_r = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	(void)sqlite3_finalize(s); /* repeats rc */
	return rc == SQLITE_OK ? 0 : sq_fail(sq, rc, what, err);
}

/* Create the tables when user_version says they are older than ours;
 * refuse a newer schema. One write transaction: concurrent openers
 * wait for each other and the second finds the work done. */
static int sq_schema(struct st_sqlite *sq, struct mr_err *err)
{
	static const char what[] = "schema";
	sqlite3_int64 v = 0;

	if (sq_simple(sq, SQ_BEGIN, what, err) < 0 ||
	    sq_query_int(sq, "PRAGMA user_version", &v, what, err) < 0)
		return -1;
	if (v > SQ_SCHEMA_VERSION) {
		mr_err_set(err, MR_PERM,
			   "sqlite schema version %lld is newer than %d",
			   (long long)v, SQ_SCHEMA_VERSION);
		sq_rollback(sq);
		return -1;
	}
	if (v < SQ_SCHEMA_VERSION && sq_exec(sq, sq_schema_sql, what, err) < 0)
		return -1;
	if (sq_simple(sq, SQ_COMMIT, what, err) < 0)
		return -1;
	sq->tables = (1u << SQT_N) - 1;
	return 0;
}

/* SQ_MATCH over the list tables present (all of them unless read-only). */
static void sq_match_sql(struct st_sqlite *sq)
{
	struct mr_buf b;

	buf_init(&b);
	for (int l = 0; l < ST_LIST_N; l++) {
		if (sq_absent(sq, SQT_LIST + l))
			continue;
		if (b.len)
			buf_puts(&b, " UNION ALL ");
		buf_puts(&b, sq_match_parts[l]);
	}
	sq->match_sql = b.len ? buf_steal(&b, NULL) : NULL;
	buf_free(&b);
}

static int sq_open_rw(struct st_sqlite *sq, const char *path,
		      struct mr_err *err)
{
	int rc;

	if (sq_mkparent(path, err) < 0 || sq_create(path, err) < 0)
		return -1;
	rc = sqlite3_open_v2(path, &sq->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return sq_fail_open(sq, rc, path, err);
	(void)sqlite3_busy_timeout(sq->db, SQ_BUSY_MS); /* cannot fail */
	/* Switching to WAL can report "locked" at once, without the busy
	 * handler, while another connection opens the same new file: wait
	 * for it like the busy timeout would. */
	for (int waited = 0;; waited += 10) {
		rc = sqlite3_exec(sq->db, sq_pragmas, NULL, NULL, NULL);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) ||
		    waited >= SQ_BUSY_MS)
			break;
		(void)sqlite3_sleep(10); /* returns the time slept */
	}
	if (rc != SQLITE_OK)
		return sq_fail_open(sq, rc, path, err);
	return sq_schema(sq, err);
}

/* Read-only: note which of our tables exist; the others read as empty. */
static int sq_probe(struct st_sqlite *sq, const char *path, struct mr_err *err)
{
	static const char sql[] =
		"SELECT name FROM sqlite_master WHERE type = 'table'";
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(sq->db, sql, -1, &s, NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);

		for (unsigned t = 0; name != NULL && t < SQT_N; t++)
			if (strcmp(name, sq_tables[t]) == 0)
				sq->tables |= 1u << t;
		rc = SQLITE_OK;
	}
	(void)sqlite3_finalize(s); /* repeats rc */
	return rc == SQLITE_DONE ? 0 : sq_fail_open(sq, rc, path, err);
}

static int sq_open_ro(struct st_sqlite *sq, const char *path,
		      struct mr_err *err)
{
	struct stat sb;
	int rc;

	if (stat(path, &sb) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0; /* no database: everything is absent */
		mr_err_sys(err, MR_PERM, errno, "sqlite stat(%s) failed", path);
		return -1;
	}
	rc = sqlite3_open_v2(path, &sq->db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return sq_fail_open(sq, rc, path, err);
	(void)sqlite3_busy_timeout(sq->db, SQ_BUSY_MS); /* cannot fail */
	return sq_probe(sq, path, err);
}

static void sq_close(struct st *st)
{
	struct st_sqlite *sq = sq_of(st);

	for (int i = 0; i < SQ_N; i++)
		(void)sqlite3_finalize(sq->stmt[i]); /* repeats old errors */
	if (sq->db != NULL && sqlite3_close(sq->db) != SQLITE_OK)
		log_warn("sqlite close failed: %s", sqlite3_errmsg(sq->db));
	free(sq->match_sql);
	free(sq);
}

static struct st *sq_open(const char *path, int flags,
			  const struct st_opts *opts, struct mr_err *err)
{
	struct st_sqlite *sq;
	int rc;

	(void)opts; /* a local file: nothing to connect */
	if (path[0] == 0) {
		mr_err_set(err, MR_PERM,
			   "sqlite store: no path (sqlite:<path>)");
		return NULL;
	}
	if (!sqlite3_threadsafe()) {
		/* NOMUTEX handles in several threads need its locking */
		mr_err_set(err, MR_PERM, "sqlite library is not thread-safe");
		return NULL;
	}
	sq = xcalloc(1, sizeof(*sq));
	if (flags & ST_READONLY)
		rc = sq_open_ro(sq, path, err);
	else
		rc = sq_open_rw(sq, path, err);
	if (rc < 0) {
		sq_close(&sq->base);
		return NULL;
	}
	sq_match_sql(sq);
	return &sq->base;
}

const struct st_ops st_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.journal_put_rows = sq_journal_put_rows,
	.list_has = sq_list_has,
	.list_add = sq_list_add,
	.list_remove = sq_list_remove,
	.lists_match = sq_lists_match,
	.adhoc_get = sq_adhoc_get,
	.adhoc_take = sq_adhoc_take,
	.adhoc_clear = sq_adhoc_clear,
	.adhoc_remove = sq_adhoc_remove,
	.journal_has = sq_journal_has,
	.journal_put = sq_journal_put,
	.journal_prune = sq_journal_prune,
};
