/* test_store.c - unit tests of the state store (store.h), both backends
 * DESCRIPTION  One suite, two URLs: without MR_TEST_MYSQL_PORT it runs on
 *              SQLite; with it (test/e2e/test_store_mysql.py starts a
 *              private MariaDB and sets it, with the password in
 *              MAILRESPONDER_DB_PASSWORD) the generic cases run again on
 *              mysql://responder@127.0.0.1:PORT/mrt_<case>, each in a
 *              database made afresh, followed by the MySQL-only cases
 *              (the old DDL, table shapes, lost connections, passwords).
 *              SQLite cases work on files under a fresh mkdtemp(3)
 *              directory in /tmp, removed at the end. sqlite3 is used
 *              directly only to prepare databases the store did not make
 *              (an older deployment, a file without tables) or to hold a
 *              lock / inject a failure from another connection. The last
 *              case prints the cost of one handled message (take + journal
 *              lookup + journal write) as a "# perf:" line.
 */
/* mysql.h declares a struct st_list, clashing with our enum st_list */
#define st_list ma_st_list
#include <mysql.h>
#undef st_list

#include "t.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hash.h"
#include "mr.h"
#include "store.h"

#define T_TAKERS 4
#define T_TAKES 50
#define T_PERF_N 10000
/* 2025-12-04 12:00 UTC; T_DAY is a day in seconds */
#define T_NOW ((time_t)1764849600)
#define T_DAY ((time_t)86400)

static char t_dir[64];
static long t_my_port; /* 0: SQLite; else the MariaDB port */

/* path and "sqlite:" URL of name in the test directory (caller frees) */
static char *t_path(const char *name)
{
	return xasprintf("%s/%s", t_dir, name);
}

/* A raw connection to the test server as the test user (db may be
 * NULL), or NULL with a "# " line. */
static MYSQL *t_my_conn(const char *db)
{
	MYSQL *m = mysql_init(NULL);

	if (m != NULL &&
	    mysql_real_connect(m, "127.0.0.1", "responder",
			       getenv("MAILRESPONDER_DB_PASSWORD"), db,
			       (unsigned)t_my_port, NULL, 0) != NULL)
		return m;
	printf("# t_my_conn: %s\n", m ? mysql_error(m) : "no memory");
	mysql_close(m);
	return NULL;
}

/* Run constant sql in db through a separate connection: 0 or -1. */
static int t_my(const char *db, const char *sql)
{
	MYSQL *m = t_my_conn(db);
	int rc = -1;

	if (m != NULL && (rc = mysql_query(m, sql)) != 0)
		printf("# t_my(%s): %s\n", sql, mysql_error(m));
	if (m != NULL) {
		MYSQL_RES *r = mysql_store_result(m);

		mysql_free_result(r);
	}
	mysql_close(m);
	return rc == 0 ? 0 : -1;
}

/* One integer from a query in db, -1 when none. */
static long long t_my_int(const char *db, const char *sql)
{
	MYSQL *m = t_my_conn(db);
	MYSQL_RES *r = NULL;
	MYSQL_ROW row;
	long long v = -1;

	if (m != NULL && mysql_query(m, sql) == 0 &&
	    (r = mysql_store_result(m)) != NULL &&
	    (row = mysql_fetch_row(r)) != NULL && row[0] != NULL)
		v = strtoll(row[0], NULL, 10);
	mysql_free_result(r);
	mysql_close(m);
	return v;
}

/* "mrt_" + name with anything but letters and digits made '_'. */
static void t_my_db(const char *name, char *db, size_t n)
{
	size_t i = 0;

	snprintf(db, n, "mrt_%s", name);
	for (i = 4; db[i]; i++)
		if (!((db[i] >= 'a' && db[i] <= 'z') ||
		      (db[i] >= '0' && db[i] <= '9')))
			db[i] = '_';
}

/* The URL of a store for a case: a file in the test directory, or a
 * MariaDB database made afresh (caller frees). */
static char *t_url(const char *name)
{
	char db[64], *sql;

	if (!t_my_port)
		return xasprintf("sqlite:%s/%s", t_dir, name);
	t_my_db(name, db, sizeof(db));
	sql = xasprintf("DROP DATABASE IF EXISTS %s", db);
	(void)t_my(NULL, sql); /* a failure shows in the next one */
	free(sql);
	sql = xasprintf("CREATE DATABASE %s CHARACTER SET utf8mb4", db);
	(void)t_my(NULL, sql); /* and in the case's st_open() */
	free(sql);
	return xasprintf("mysql://responder@127.0.0.1:%ld/%s", t_my_port, db);
}

static void t_hash(const char *addr, char out[HASH_SHA512_HEX])
{
	hash_sha512_hex(addr, strlen(addr), out);
}

/* A check that uniq is counted for h under limit with the answer want (1:
 * allowed, 0: over the limit). */
#define T_TAKE(st, uniq, h, limit, want)                                       \
	t_take(__FILE__, __LINE__, (st), (uniq), (h), (limit), (want))

static void t_take(const char *file, int line, struct st *st, const char *uniq,
		   const char *h, long limit, int want)
{
	struct mr_err err;
	int allowed = -1;
	char m[512];

	mr_err_clear(&err);
	if (st_adhoc_take(st, uniq, h, limit, T_NOW, &allowed, &err) != 0) {
		snprintf(m, sizeof(m), "st_adhoc_take(%s): failed: %s", uniq,
			 err.text);
		t_note(file, line, m);
	} else if (allowed != want) {
		snprintf(m, sizeof(m), "st_adhoc_take(%s): allowed %d, want %d",
			 uniq, allowed, want);
		t_note(file, line, m);
	}
}

/* A check that the count of h is want. */
#define T_COUNT(st, h, want) t_count(__FILE__, __LINE__, (st), (h), (want))

static void t_count(const char *file, int line, struct st *st, const char *h,
		    long want)
{
	struct mr_err err;
	long n = -1;
	char m[512];

	mr_err_clear(&err);
	if (st_adhoc_get(st, h, T_NOW, &n, &err) != 0) {
		snprintf(m, sizeof(m), "st_adhoc_get: failed: %s", err.text);
		t_note(file, line, m);
	} else if (n != want) {
		snprintf(m, sizeof(m), "st_adhoc_get: count %ld, want %ld", n,
			 want);
		t_note(file, line, m);
	}
}

static int t_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* size of path, -1 if it does not exist */
static long long t_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static int t_mode(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

/* Run sql on path through a separate raw sqlite3 connection. */
static int t_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(path, &db);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "# t_sql: %s\n", sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc;
}

static long long t_sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

T_CASE(open_creates_dir_and_file_0600)
{
	char *url = t_url("new/sub/state.db"),
	     *path = t_path("new/sub/state.db");
	char *dir = t_path("new"), *sub = t_path("new/sub");
	char *wal = t_path("new/sub/state.db-wal");
	struct mr_err err;
	mode_t old = umask(0277); /* would give 0400 files, 0500 dirs */
	struct st *st = st_open(url, 0, &err);

	umask(old);
	T_OK(st != NULL);
	T_INT(err.kind, MR_OK);
	T_INT(t_mode(dir), 0700);
	T_INT(t_mode(sub), 0700);
	T_INT(t_mode(path), 0600);
	T_INT(st_list_add(st, ST_BLOCK_EMAIL, "x", &err), 0);
	T_INT(t_mode(wal), 0600); /* sqlite copies the database's mode */
	T_INT(t_sql_int(path, "PRAGMA user_version"), 2);
	st_close(&st);
	T_OK(st == NULL);
	st_close(&st); /* NULL is fine */
	st_close(NULL);
	free(url);
	free(path);
	free(dir);
	free(sub);
	free(wal);
}

T_CASE(reopen_persists)
{
	char *url = t_url("persist.db"), *path = t_path("persist.db");
	char h[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	int allowed = -1;

	t_hash("someone@example.org", h);
	T_OK(st != NULL);
	T_INT(st_list_add(st, ST_ALLOW_DOMAIN, h, &err), 0);
	T_INT(st_adhoc_take(st, "u1", h, 5, T_NOW, &allowed, &err), 0);
	T_INT(st_journal_put(st, "u1", 0, 1000, &err), 0);
	st_close(&st);
	if (!t_my_port)
		T_INT(t_mode(path), 0600);
	st = st_open(url, 0, &err);
	T_OK(st != NULL);
	T_INT(st_list_has(st, ST_ALLOW_DOMAIN, h, &err), 1);
	T_COUNT(st, h, 1);
	T_INT(st_journal_has(st, "u1", 0, &err), 1);
	T_INT(st_journal_has(st, "u1", ST_PART_LIMIT, &err), 1);
	st_close(&st);
	free(url);
	free(path);
}

T_CASE(lists_add_has_remove)
{
	char *url = t_url("lists.db");
	char a[HASH_SHA512_HEX], b[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);

	t_hash("a@example.org", a);
	t_hash("example.net", b);
	T_OK(st != NULL);
	for (int l = ST_BLOCK_EMAIL; l <= ST_ALLOW_DOMAIN; l++)
		T_INT(st_list_has(st, (enum st_list)l, a, &err), 0);
	T_INT(st_list_add(st, ST_BLOCK_EMAIL, a, &err), 0);
	T_INT(st_list_add(st, ST_BLOCK_EMAIL, a, &err), 0); /* twice: fine */
	T_INT(st_list_add(st, ST_BLOCK_DOMAIN, b, &err), 0);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, a, &err), 1);
	T_INT(st_list_has(st, ST_BLOCK_DOMAIN, b, &err), 1);
	/* lists are separate tables */
	T_INT(st_list_has(st, ST_BLOCK_DOMAIN, a, &err), 0);
	T_INT(st_list_has(st, ST_ALLOW_EMAIL, a, &err), 0);
	T_INT(st_list_has(st, ST_ALLOW_DOMAIN, b, &err), 0);
	T_INT(st_list_add(st, ST_ALLOW_EMAIL, a, &err), 0);
	T_INT(st_list_remove(st, ST_BLOCK_EMAIL, a, &err), 1);
	T_INT(st_list_remove(st, ST_BLOCK_EMAIL, a, &err), 0);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, a, &err), 0);
	T_INT(st_list_has(st, ST_ALLOW_EMAIL, a, &err), 1);
	T_INT(err.kind, MR_OK);
	/* bad arguments */
	T_INT(st_list_has(st, (enum st_list)7, a, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_INT(st_list_add(st, ST_BLOCK_EMAIL, "", &err), -1);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, NULL, &err), -1);
	T_INT(st_list_has(NULL, ST_BLOCK_EMAIL, a, &err), -1);
	st_close(&st);
	free(url);
}

/* Each list asked once for the sender and all its domain hashes. */
T_CASE(lists_match_in_one_call)
{
	char *url = t_url("match.db");
	char e[HASH_SHA512_HEX], d[12][HASH_SHA512_HEX];
	const char *dv[12];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	unsigned found = 99;

	t_hash("m@a.b.example.org", e);
	for (int i = 0; i < 12; i++) {
		char name[32];

		snprintf(name, sizeof(name), "d%d.example.org", i);
		t_hash(name, d[i]);
		dv[i] = d[i];
	}
	T_OK(st != NULL);
	T_INT(st_lists_match(st, e, dv, 12, &found, &err), 0);
	T_INT(found, 0);
	T_INT(st_lists_match(st, e, NULL, 0, &found, &err), 0);
	T_INT(found, 0);
	T_INT(st_list_add(st, ST_BLOCK_DOMAIN, d[3], &err), 0);
	T_INT(st_list_add(st, ST_ALLOW_EMAIL, e, &err), 0);
	T_INT(st_lists_match(st, e, dv, 12, &found, &err), 0);
	T_INT(found, (1u << ST_BLOCK_DOMAIN) | (1u << ST_ALLOW_EMAIL));
	T_INT(st_lists_match(st, e, NULL, 0, &found, &err), 0);
	T_INT(found, 1u << ST_ALLOW_EMAIL);
	/* beyond ST_MATCH_MAX domain hashes: the next chunk */
	T_INT(st_list_add(st, ST_ALLOW_DOMAIN, d[11], &err), 0);
	T_INT(st_lists_match(st, d[0], dv, 12, &found, &err), 0);
	T_INT(found, (1u << ST_BLOCK_DOMAIN) | (1u << ST_ALLOW_DOMAIN));
	T_INT(st_lists_match(st, d[0], dv + 4, 4, &found, &err), 0);
	T_INT(found, 0);
	/* an email hash is not looked up in the domain lists */
	T_INT(st_lists_match(st, d[3], NULL, 0, &found, &err), 0);
	T_INT(found, 0);
	T_INT(st_lists_match(st, e, dv, 2, NULL, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_INT(st_lists_match(st, "", dv, 2, &found, &err), -1);
	st_close(&st);
	free(url);
}

T_CASE(adhoc_take_is_idempotent)
{
	char *url = t_url("adhoc.db");
	char h[HASH_SHA512_HEX], g[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	int allowed = -1;

	t_hash("x@example.org", h);
	t_hash("y@example.org", g);
	T_COUNT(st, h, 0);
	T_TAKE(st, "m1", h, 1, 1);
	T_TAKE(st, "m1", h, 1, 1); /* retry */
	T_COUNT(st, h, 1);
	T_TAKE(st, "m2", h, 1, 0);
	T_TAKE(st, "m2", h, 1, 0); /* the first answer stays */
	T_TAKE(st, "m1", h, 1, 1);
	T_COUNT(st, h, 2);
	/* another sender is counted apart */
	T_TAKE(st, "m3", g, 1, 1);
	T_COUNT(st, g, 1);
	/* limit <= 0: no limit, still counted */
	for (int i = 0; i < 3; i++) {
		char u[16];

		snprintf(u, sizeof(u), "nl%d", i);
		T_TAKE(st, u, g, 0, 1);
	}
	T_COUNT(st, g, 4);
	T_INT(st_adhoc_take(st, "", h, 1, T_NOW, &allowed, &err), -1);
	T_INT(st_adhoc_take(st, "m9", h, 1, T_NOW, NULL, &err), -1);
	st_close(&st);
	free(url);
}

T_CASE(adhoc_limit_boundary)
{
	char *url = t_url("limit.db");
	char h[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);

	t_hash("limit@example.org", h);
	for (int i = 1; i <= 5; i++) {
		char u[16];

		snprintf(u, sizeof(u), "req%d", i);
		T_TAKE(st, u, h, 3, i <= 3);
	}
	T_COUNT(st, h, 5);
	st_close(&st);
	free(url);
}

T_CASE(adhoc_clear_and_remove)
{
	char *url = t_url("clear.db");
	char h[HASH_SHA512_HEX], g[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	long n = -1;
	int allowed = -1;

	t_hash("c1@example.org", h);
	t_hash("c2@example.org", g);
	T_INT(st_adhoc_take(st, "a", h, 1, T_NOW, &allowed, &err), 0);
	T_TAKE(st, "b", h, 1, 0);
	T_INT(st_adhoc_take(st, "c", g, 1, T_NOW, &allowed, &err), 0);
	T_INT(st_adhoc_remove(st, g, &err), 1);
	T_INT(st_adhoc_remove(st, g, &err), 0);
	T_COUNT(st, h, 2);
	/* the old cron's reset, late in the day: today's count stays, so
	 * the sender is not let past the limit */
	T_INT(st_adhoc_take(st, "y1", h, 1, T_NOW - T_DAY, &allowed, &err), 0);
	T_INT(st_adhoc_clear(st, T_NOW, &err), 0);
	T_COUNT(st, h, 2);
	T_INT(st_adhoc_get(st, h, T_NOW - T_DAY, &n, &err), 0);
	T_INT(n, 0); /* past days are forgotten */
	T_TAKE(st, "d", h, 1, 0);
	/* the next UTC day: a new request is allowed again ... */
	T_INT(st_adhoc_take(st, "e", h, 1, T_NOW + T_DAY, &allowed, &err), 0);
	T_INT(allowed, 1);
	/* ... and a retried old one keeps its answer, uncounted */
	T_INT(st_adhoc_take(st, "b", h, 1, T_NOW + T_DAY, &allowed, &err), 0);
	T_INT(allowed, 0);
	T_INT(st_adhoc_get(st, h, T_NOW + T_DAY, &n, &err), 0);
	T_INT(n, 1);
	st_close(&st);
	free(url);
}

T_CASE(journal_has_put_prune)
{
	char *url = t_url("journal.db");
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	long n = -1;

	T_INT(st_journal_has(st, "u1", 0, &err), 0);
	T_INT(st_journal_put(st, "u1", 0, 1000, &err), 0);
	T_INT(st_journal_put(st, "u1", 1, 2000, &err), 0);
	T_INT(st_journal_put(st, "u2", 0, 3000, &err), 0);
	T_INT(st_journal_put(st, "u1", 0, 5000, &err), 0); /* again: fine */
	T_INT(st_journal_has(st, "u1", 0, &err), 1);
	T_INT(st_journal_has(st, "u1", 1, &err), 1);
	T_INT(st_journal_has(st, "u1", 2, &err), 0);
	T_INT(st_journal_has(st, "u3", 0, &err), 0);
	T_INT(st_journal_prune(st, 2000, &n, &err), 0);
	T_INT(n, 1); /* only ts < 2000; the repeated put kept ts 1000 */
	T_INT(st_journal_has(st, "u1", 0, &err), 0);
	T_INT(st_journal_has(st, "u1", 1, &err), 1);
	T_INT(st_journal_prune(st, 2000, &n, &err), 0);
	T_INT(n, 0);
	T_INT(st_journal_prune(st, 10000, NULL, &err), 0);
	T_INT(st_journal_has(st, "u1", 1, &err), 0);
	T_INT(st_journal_has(st, "u2", 0, &err), 0);
	T_INT(st_journal_put(st, NULL, 0, 1, &err), -1);
	T_INT(err.kind, MR_PERM);
	st_close(&st);
	free(url);
}

/* Group commit: rows recorded, seen, then written in one go. */
T_CASE(journal_batch)
{
	char *url = t_url("batch.db");
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);

	T_OK(st != NULL);
	st_batch_begin(st);
	T_INT(st_journal_put(st, "b1", 0, 1000, &err), 0);
	T_INT(st_journal_put(st, "b1", 1, 1000, &err), 0);
	T_INT(st_journal_put(st, "b2", 0, 1000, &err), 0);
	T_INT((int)st_batch_pending(st), 3);
	T_INT(st_journal_has(st, "b1", 1, &err), 1); /* seen while pending */
	T_INT(st_batch_commit(st, &err), 0);
	T_INT((int)st_batch_pending(st), 0);
	st_close(&st);
	st = st_open(url, 0, &err);
	T_INT(st_journal_has(st, "b1", 0, &err), 1);
	T_INT(st_journal_has(st, "b1", 1, &err), 1);
	T_INT(st_journal_has(st, "b2", 0, &err), 1);
	/* an aborted batch writes nothing */
	st_batch_begin(st);
	T_INT(st_journal_put(st, "b3", 0, 1000, &err), 0);
	st_batch_abort(st);
	T_INT(st_journal_has(st, "b3", 0, &err), 0);
	T_INT(st_batch_commit(st, &err), 0);
	T_INT(st_journal_has(st, "b3", 0, &err), 0);
	st_close(&st);
	free(url);
}

/* Every write on a read-only store fails with MR_PERM "read-only". */
static void t_writes_refused(struct st *st, const char *h)
{
	struct mr_err err;
	long n = -1;
	int allowed = -1;

	T_INT(st_list_add(st, ST_BLOCK_EMAIL, h, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "read-only") != NULL);
	T_INT(st_list_remove(st, ST_BLOCK_EMAIL, h, &err), -1);
	T_OK(strstr(err.text, "read-only") != NULL);
	T_INT(st_adhoc_take(st, "r1", h, 5, T_NOW, &allowed, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "read-only") != NULL);
	T_INT(st_adhoc_clear(st, T_NOW, &err), -1);
	T_INT(st_adhoc_remove(st, h, &err), -1);
	T_INT(st_journal_put(st, "r1", 0, 1, &err), -1);
	T_OK(strstr(err.text, "read-only") != NULL);
	T_INT(st_journal_prune(st, 100000, &n, &err), -1);
	T_INT(err.kind, MR_PERM);
}

T_CASE(readonly_missing_creates_nothing)
{
	char *url = t_url("nodir/missing.db"), *dir = t_path("nodir");
	char *url2 = t_url("missing.db"), *path2 = t_path("missing.db");
	char h[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, ST_READONLY, &err);

	t_hash("ro@example.org", h);
	T_OK(st != NULL);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, h, &err), 0);
	T_INT(st_list_has(st, ST_ALLOW_DOMAIN, h, &err), 0);
	T_COUNT(st, h, 0);
	T_INT(st_journal_has(st, "u1", 0, &err), 0);
	t_writes_refused(st, h);
	st_close(&st);
	T_OK(!t_exists(dir));
	st = st_open(url2, ST_READONLY, &err);
	T_OK(st != NULL);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, h, &err), 0);
	st_close(&st);
	T_OK(!t_exists(path2));
	free(url);
	free(dir);
	free(url2);
	free(path2);
}

T_CASE(readonly_existing)
{
	char *url = t_url("ro.db"), *path = t_path("ro.db");
	char *wal = t_path("ro.db-wal");
	char h[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	int allowed = -1;

	t_hash("ro2@example.org", h);
	T_INT(st_list_add(st, ST_BLOCK_DOMAIN, h, &err), 0);
	T_INT(st_adhoc_take(st, "q1", h, 5, T_NOW, &allowed, &err), 0);
	T_INT(st_journal_put(st, "q1", 0, 77, &err), 0);
	st_close(&st);
	st = st_open(url, ST_READONLY, &err);
	T_OK(st != NULL);
	T_INT(st_list_has(st, ST_BLOCK_DOMAIN, h, &err), 1);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, h, &err), 0);
	T_COUNT(st, h, 1);
	T_INT(st_journal_has(st, "q1", 0, &err), 1);
	T_INT(st_journal_has(st, "q1", ST_PART_LIMIT, &err), 1);
	t_writes_refused(st, h);
	st_close(&st);
	if (t_my_port) {
		free(url);
		free(path);
		free(wal);
		return;
	}
	/* nothing changed: a reader of a WAL database may leave an empty
	 * -wal and a -shm (the next writer removes them), nothing more */
	T_OK(t_size(wal) <= 0);
	T_INT(t_sql_int(path, "SELECT count FROM blacklist_adhoc"), 1);
	T_INT(t_sql_int(path, "SELECT count FROM adhoc_day"), 1);
	T_INT(t_sql_int(path, "SELECT count(*) FROM send_journal"), 2);
	T_INT(t_sql_int(path, "SELECT count(*) FROM blacklist_domain"), 1);
	free(url);
	free(path);
	free(wal);
}

T_CASE(readonly_without_tables)
{
	char *url = t_url("bare.db"), *path = t_path("bare.db");
	char *url2 = t_url("part.db"), *path2 = t_path("part.db");
	struct mr_err err;
	struct st *st;
	long n = -1;

	T_INT(t_sql(path, "CREATE TABLE other(x)"), SQLITE_OK);
	st = st_open(url, ST_READONLY, &err);
	T_OK(st != NULL);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, "h", &err), 0);
	T_INT(st_adhoc_get(st, "h", T_NOW, &n, &err), 0);
	T_INT(n, 0);
	T_INT(st_journal_has(st, "u", 0, &err), 0);
	st_close(&st);
	T_INT(t_sql_int(path, "SELECT count(*) FROM sqlite_master"), 1);
	/* some tables only: those read, the others are empty */
	T_INT(t_sql(path2, "CREATE TABLE blacklist_email(emailhash TEXT"
			   " PRIMARY KEY); INSERT INTO blacklist_email"
			   " VALUES('h')"),
	      SQLITE_OK);
	st = st_open(url2, ST_READONLY, &err);
	T_OK(st != NULL);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, "h", &err), 1);
	T_INT(st_list_has(st, ST_BLOCK_DOMAIN, "h", &err), 0);
	T_INT(st_adhoc_get(st, "h", T_NOW, &n, &err), 0);
	T_INT(st_journal_has(st, "u", 0, &err), 0);
	st_close(&st);
	free(url);
	free(path);
	free(url2);
	free(path2);
}

T_CASE(existing_deployment_schema)
{
	char *url = t_url("old.db"), *path = t_path("old.db");
	struct mr_err err;
	struct st *st;
	long n = -1;
	int allowed = -1;

	T_INT(t_sql(path, "CREATE TABLE blacklist_adhoc(emailhash TEXT"
			  " PRIMARY KEY, count INTEGER NOT NULL);"
			  "INSERT INTO blacklist_adhoc VALUES('h', 7);"
			  "CREATE TABLE blacklist_email(emailhash TEXT"
			  " PRIMARY KEY);"
			  "INSERT INTO blacklist_email VALUES('b');"),
	      SQLITE_OK);
	st = st_open(url, 0, &err);
	T_OK(st != NULL);
	/* the old count has no day: it is kept and raised, not obeyed */
	T_INT(st_adhoc_get(st, "h", T_NOW, &n, &err), 0);
	T_INT(n, 0);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, "b", &err), 1);
	T_INT(st_adhoc_take(st, "u", "h", 1, T_NOW, &allowed, &err), 0);
	T_INT(allowed, 1);
	T_INT(st_journal_has(st, "u", ST_PART_LIMIT, &err), 1);
	st_close(&st);
	T_INT(t_sql_int(path, "SELECT count FROM blacklist_adhoc"), 8);
	T_INT(t_sql_int(path, "PRAGMA user_version"), 2);
	/* a newer schema than ours is refused */
	T_INT(t_sql(path, "PRAGMA user_version = 99"), SQLITE_OK);
	st = st_open(url, 0, &err);
	T_OK(st == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "newer") != NULL);
	free(url);
	free(path);
}

T_CASE(bad_files_and_urls)
{
	char *path = t_path("garbage.db"), *url = t_url("garbage.db");
	char *url2 = t_url("garbage.db/sub/x.db");
	struct mr_err err;
	FILE *f = fopen(path, "w");

	T_OK(f != NULL);
	if (f != NULL) {
		for (int i = 0; i < 256; i++)
			(void)fputs("not a database. ", f); /* fclose tells */
		T_INT(fclose(f), 0);
	}
	T_OK(st_open(url, 0, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "sqlite") != NULL);
	T_OK(st_open(url, ST_READONLY, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(st_open(url2, 0, &err) == NULL); /* parent is a file */
	T_INT(err.kind, MR_PERM);
	T_OK(st_open("foo:/tmp/x", 0, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "unknown store scheme") != NULL);
	T_OK(st_open("/tmp/x.db", 0, &err) == NULL);
	T_OK(strstr(err.text, "unknown store scheme") != NULL);
	T_OK(st_open(NULL, 0, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(st_open("mysql://u@localhost:3306/db", 0, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "mysql") != NULL);
	T_OK(st_open("sqlite:", 0, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	free(path);
	free(url);
	free(url2);
}

/* Another connection holds the write lock: a write waits for the busy
 * timeout and fails MR_TEMP; the handle works once the lock is gone. */
T_CASE(busy_is_temp)
{
	char *url = t_url("busy.db"), *path = t_path("busy.db");
	char h[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	sqlite3 *db = NULL;
	int allowed = -1;
	long long t0;

	t_hash("busy@example.org", h);
	T_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_INT(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	t0 = mr_now_ms();
	T_INT(st_adhoc_take(st, "b1", h, 5, T_NOW, &allowed, &err), -1);
	T_OK(mr_now_ms() - t0 >= 4000); /* waited for the busy timeout */
	T_INT(err.kind, MR_TEMP);
	T_OK(strstr(err.text, "adhoc take") != NULL);
	T_OK(strstr(err.text, "locked") != NULL);
	T_OK(strstr(err.text, h) == NULL);
	T_INT(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	T_TAKE(st, "b1", h, 5, 1);
	st_close(&st);
	free(url);
	free(path);
}

/* A failure after the count was raised rolls the whole take back. */
T_CASE(failed_take_rolls_back)
{
	char *url = t_url("inject.db"), *path = t_path("inject.db");
	char h[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	int allowed = -1;

	t_hash("inject@example.org", h);
	T_INT(st_adhoc_take(st, "i0", h, 5, T_NOW, &allowed, &err), 0);
	T_INT(t_sql(path, "CREATE TRIGGER t_fail BEFORE INSERT ON send_journal"
			  " BEGIN SELECT RAISE(ABORT, 'injected'); END"),
	      SQLITE_OK);
	T_INT(st_adhoc_take(st, "i1", h, 5, T_NOW, &allowed, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "adhoc take") != NULL);
	T_OK(strstr(err.text, "injected") != NULL);
	T_OK(strstr(err.text, h) == NULL);
	T_COUNT(st, h, 1); /* the increment was rolled back */
	T_INT(t_sql(path, "DROP TRIGGER t_fail"), SQLITE_OK);
	T_TAKE(st, "i1", h, 5, 1);
	T_COUNT(st, h, 2);
	st_close(&st);
	free(url);
	free(path);
}

struct t_taker {
	const char *url;
	const char *hash;
	int id;
	int allowed;
	int errors;
	char last_err[256];
};

/* T_TAKES distinct requests, then each again (a retry must not count). */
static void *t_take_run(void *arg)
{
	struct t_taker *tk = arg;
	struct mr_err err;
	struct st *st = st_open(tk->url, 0, &err);

	for (int round = 0; st != NULL && round < 2; round++) {
		for (int i = 0; i < T_TAKES; i++) {
			char uniq[32];
			int allowed = 0;

			snprintf(uniq, sizeof(uniq), "w%d-%d", tk->id, i);
			if (st_adhoc_take(st, uniq, tk->hash, 100, T_NOW,
					  &allowed, &err) < 0) {
				tk->errors++;
				memcpy(tk->last_err, err.text,
				       sizeof(err.text));
			} else if (round == 0) {
				tk->allowed += allowed;
			}
		}
	}
	if (st == NULL) {
		tk->errors++;
		memcpy(tk->last_err, err.text, sizeof(err.text));
	}
	st_close(&st);
	return NULL;
}

/* After the takers on url: total allowed in all, every take counted for h
 * (all the takers' requests come from h); frees url. */
static void takers_counted(char *url, const char *h, int total)
{
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);

	T_INT(total, 100);
	T_COUNT(st, h, T_TAKERS * T_TAKES);
	st_close(&st);
	free(url);
}

T_CASE(concurrent_threads_never_exceed)
{
	char *url = t_url("threads.db");
	char h[HASH_SHA512_HEX];
	struct t_taker tk[T_TAKERS];
	pthread_t th[T_TAKERS];
	int total = 0;

	t_hash("popular@example.org", h);
	memset(tk, 0, sizeof(tk));
	for (int i = 0; i < T_TAKERS; i++) {
		tk[i] = (struct t_taker){.url = url, .hash = h, .id = i};
		T_INT(pthread_create(&th[i], NULL, t_take_run, &tk[i]), 0);
	}
	for (int i = 0; i < T_TAKERS; i++) {
		T_INT(pthread_join(th[i], NULL), 0);
		T_INT(tk[i].errors, 0);
		if (tk[i].errors)
			printf("# taker %d: %s\n", i, tk[i].last_err);
		total += tk[i].allowed;
	}
	takers_counted(url, h, total);
}

T_CASE(concurrent_processes_never_exceed)
{
	char *url = t_url("procs.db");
	char h[HASH_SHA512_HEX];
	pid_t pid[T_TAKERS];
	int total = 0;

	t_hash("popular@example.org", h);
	(void)fflush(stdout); /* children must not repeat buffered output */
	for (int i = 0; i < T_TAKERS; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			struct t_taker tk = {.url = url, .hash = h, .id = i};

			t_take_run(&tk);
			_exit(tk.errors ? 255 : tk.allowed);
		}
		T_OK(pid[i] > 0);
	}
	for (int i = 0; i < T_TAKERS; i++) {
		int status = 0;

		T_INT(waitpid(pid[i], &status, 0), pid[i]);
		T_OK(WIFEXITED(status) && WEXITSTATUS(status) != 255);
		total += WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	}
	takers_counted(url, h, total);
}

static double t_now_us(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* What one handled message costs: take, journal lookup, journal write. */
T_CASE(perf_per_message)
{
	char *url = t_url("perf.db");
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	int errors = 0, allowed = 0, sum = 0;
	long n = -1;
	double t0, c0, us, cpu;

	t0 = t_now_us(CLOCK_MONOTONIC);
	c0 = t_now_us(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < T_PERF_N; i++) {
		char uniq[32], h[HASH_SHA512_HEX];

		snprintf(uniq, sizeof(uniq), "%d.M%d.host", 1700000000 + i, i);
		snprintf(h, sizeof(h), "%0128d", i % 1000); /* 1000 senders */
		if (st_adhoc_take(st, uniq, h, 5, T_NOW, &allowed, &err) < 0 ||
		    st_journal_has(st, uniq, 0, &err) != 0 ||
		    st_journal_put(st, uniq, 0, 1000 + i, &err) < 0)
			errors++;
		sum += allowed;
	}
	us = (t_now_us(CLOCK_MONOTONIC) - t0) / T_PERF_N;
	cpu = (t_now_us(CLOCK_PROCESS_CPUTIME_ID) - c0) / T_PERF_N;
	printf("# perf: %.1f us per message, %.1f us CPU (adhoc_take +"
	       " journal_has + journal_put, %d distinct uniqs)\n",
	       us, cpu, T_PERF_N);
	T_INT(errors, 0);
	T_INT(sum, 5 * 1000); /* 10 requests per sender, limit 5 */
	T_INT(st_journal_prune(st, 2000000000, &n, &err), 0);
	T_INT(n, 2 * T_PERF_N);
	st_close(&st);
	free(url);
}

/* ------------------------------------------------------- MySQL only */

#define T_TABLES_SQL                                                           \
	"SELECT COUNT(*) FROM information_schema.TABLES"                       \
	" WHERE TABLE_SCHEMA = DATABASE()"

/* The existing deployment's tables, created by its DDL and filled:
 * opened, only our two tables are added; its rows are read and kept. */
T_CASE(mysql_old_ddl_prefilled)
{
	char *url = t_url("oldddl"), db[64], *sql;
	char blk[HASH_SHA512_HEX], dom[HASH_SHA512_HEX], vip[HASH_SHA512_HEX];
	const char *dv[1] = {dom};
	struct mr_err err;
	struct st *st;
	unsigned found = 0;

	t_my_db("oldddl", db, sizeof(db));
	t_hash("blocked@old.example", blk);
	t_hash("blocked.example", dom);
	t_hash("vip@old.example", vip);
	T_INT(t_my(db, "CREATE TABLE blacklist_adhoc(emailhash VARCHAR(128)"
		       " PRIMARY KEY, count INT NOT NULL DEFAULT 0)"),
	      0);
	T_INT(t_my(db, "CREATE TABLE blacklist_email(emailhash VARCHAR(128)"
		       " PRIMARY KEY)"),
	      0);
	T_INT(t_my(db, "CREATE TABLE blacklist_domain(domainhash VARCHAR(128)"
		       " PRIMARY KEY)"),
	      0);
	T_INT(t_my(db, "CREATE TABLE whitelist_email(emailhash VARCHAR(128)"
		       " PRIMARY KEY)"),
	      0);
	T_INT(t_my(db, "CREATE TABLE whitelist_domain(domainhash VARCHAR(128)"
		       " PRIMARY KEY)"),
	      0);
	sql = xasprintf("INSERT INTO blacklist_email VALUES ('%s');"
			"INSERT INTO blacklist_domain VALUES ('%s');"
			"INSERT INTO whitelist_email VALUES ('%s');"
			"INSERT INTO blacklist_adhoc VALUES ('%s', 99)",
			blk, dom, vip, vip);
	{
		MYSQL *m = t_my_conn(db);

		T_OK(m != NULL);
		if (m != NULL) {
			T_INT(mysql_set_server_option(
				      m, MYSQL_OPTION_MULTI_STATEMENTS_ON),
			      0);
			T_INT(mysql_query(m, sql), 0);
			while (mysql_next_result(m) == 0)
				;
			mysql_close(m);
		}
	}
	free(sql);
	st = st_open(url, 0, &err);
	T_OK(st != NULL);
	if (st == NULL)
		printf("# %s\n", err.text);
	T_INT(t_my_int(db, T_TABLES_SQL), 7);
	T_INT(st_lists_match(st, blk, dv, 1, &found, &err), 0);
	T_INT(found, (1u << ST_BLOCK_EMAIL) | (1u << ST_BLOCK_DOMAIN));
	T_INT(st_lists_match(st, vip, NULL, 0, &found, &err), 0);
	T_INT(found, 1u << ST_ALLOW_EMAIL);
	T_COUNT(st, vip, 0); /* the old count has no day: kept, not obeyed */
	T_TAKE(st, "o1", vip, 3, 1);
	st_close(&st);
	T_INT(t_my_int(db, "SELECT count FROM blacklist_adhoc"), 100);
	T_INT(t_my_int(db, "SELECT COUNT(*) FROM blacklist_email"), 1);
	T_INT(t_my_int(db, "SELECT COUNT(*) FROM blacklist_domain"), 1);
	T_INT(t_my_int(db, "SELECT COUNT(*) FROM whitelist_email"), 1);
	free(url);
}

/* Open with one table made by create_sql: refused, naming table and
 * column (also read-only). */
static void t_bad_shape(const char *name, const char *create_sql,
			const char *table, const char *col)
{
	char *url = t_url(name), db[64];
	struct mr_err err;

	t_my_db(name, db, sizeof(db));
	T_INT(t_my(db, create_sql), 0);
	T_OK(st_open(url, 0, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, table) != NULL);
	T_OK(strstr(err.text, col) != NULL);
	T_OK(strstr(err.text, "unexpected shape") != NULL);
	printf("# %s\n", err.text);
	T_OK(st_open(url, ST_READONLY, &err) == NULL);
	T_OK(strstr(err.text, table) != NULL);
	T_INT(t_my_int(db, T_TABLES_SQL), 1); /* nothing created */
	free(url);
}

T_CASE(mysql_bad_shape)
{
	t_bad_shape("shape1",
		    "CREATE TABLE blacklist_adhoc(emailhash VARCHAR(128)"
		    " PRIMARY KEY, count VARCHAR(10))",
		    "blacklist_adhoc", "count");
	t_bad_shape("shape2",
		    "CREATE TABLE blacklist_email(emailhash VARCHAR(64))",
		    "blacklist_email", "emailhash");
	t_bad_shape("shape3", "CREATE TABLE whitelist_domain(h VARCHAR(128))",
		    "whitelist_domain", "domainhash");
	t_bad_shape("shape4",
		    "CREATE TABLE blacklist_adhoc(emailhash VARCHAR(128),"
		    " count INT)",
		    "blacklist_adhoc", "emailhash");
}

/* Kill the store's connections from outside: 0 or -1. */
static int t_my_kill_others(void)
{
	MYSQL *m = t_my_conn(NULL);
	MYSQL_RES *r = NULL;
	MYSQL_ROW row;
	int killed = 0;

	if (m == NULL ||
	    mysql_query(m, "SELECT ID FROM information_schema.PROCESSLIST"
			   " WHERE USER = 'responder'"
			   " AND ID <> CONNECTION_ID()") != 0 ||
	    (r = mysql_store_result(m)) == NULL) {
		mysql_close(m);
		return -1;
	}
	while ((row = mysql_fetch_row(r)) != NULL) {
		char *sql = xasprintf("KILL %s", row[0]);

		if (mysql_query(m, sql) == 0)
			killed++;
		free(sql);
	}
	mysql_free_result(r);
	mysql_close(m);
	return killed > 0 ? 0 : -1;
}

/* A killed connection (as after a restart or wait_timeout): the call at
 * hand fails MR_TEMP, the next one connects again; nothing is counted
 * twice or lost. */
T_CASE(mysql_lost_connection_is_temp)
{
	char *url = t_url("lost");
	char h[HASH_SHA512_HEX];
	struct mr_err err;
	struct st *st = st_open(url, 0, &err);
	unsigned found = 0;
	int allowed = -1;

	t_hash("lost@example.org", h);
	T_OK(st != NULL);
	T_INT(st_adhoc_take(st, "l1", h, 5, T_NOW, &allowed, &err), 0);
	T_INT(t_my_kill_others(), 0);
	T_INT(st_adhoc_take(st, "l2", h, 5, T_NOW, &allowed, &err), -1);
	T_INT(err.kind, MR_TEMP);
	T_OK(strstr(err.text, "mysql adhoc take failed") != NULL);
	printf("# %s\n", err.text);
	T_TAKE(st, "l2", h, 5, 1);
	T_INT(t_my_kill_others(), 0);
	T_INT(st_lists_match(st, h, NULL, 0, &found, &err), -1);
	T_INT(err.kind, MR_TEMP);
	T_INT(st_lists_match(st, h, NULL, 0, &found, &err), 0);
	T_INT(t_my_kill_others(), 0);
	T_INT(st_journal_put(st, "l2", 0, 1000, &err), -1);
	T_INT(err.kind, MR_TEMP);
	T_INT(st_journal_put(st, "l2", 0, 1000, &err), 0);
	T_INT(st_journal_has(st, "l2", 0, &err), 1);
	T_COUNT(st, h, 2);
	st_close(&st);
	free(url);
}

T_CASE(mysql_bad_server_and_password)
{
	char *url = t_url("pw"), *bad;
	struct st_opts o = {"T_MR_WRONG_PW", NULL, 2, 5, 5};
	struct mr_err err;
	struct st *st;
	long long t0;

	T_INT(setenv("T_MR_WRONG_PW", "not-the-password", 1), 0);
	T_OK(st_open_opts(url, 0, &o, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "Access denied") != NULL);
	T_OK(strstr(err.text, "not-the-password") == NULL);
	printf("# %s\n", err.text);
	/* nothing listens on port 1: refused at once, clear message */
	bad = xasprintf("mysql://responder@127.0.0.1:1/x");
	t0 = mr_now_ms();
	T_OK(st_open(bad, 0, &err) == NULL);
	T_OK(mr_now_ms() - t0 < 5000);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "mysql connect(responder@127.0.0.1:1/x)") !=
	     NULL);
	printf("# %s\n", err.text);
	free(bad);
	/* right password, but the user may not use that database */
	bad = xasprintf("mysql://responder@127.0.0.1:%ld/mysql", t_my_port);
	T_OK(st_open(bad, 0, &err) == NULL);
	T_OK(strstr(err.text, "denied") != NULL);
	free(bad);
	st = st_open(url, 0, &err);
	T_OK(st != NULL);
	st_close(&st);
	free(url);
}

T_CASE(mysql_password_file)
{
	char *url = t_url("pwfile");
	char path[] = "/tmp/test_store_pw.XXXXXX";
	const char *pw = getenv("MAILRESPONDER_DB_PASSWORD");
	struct st_opts o = {"T_MR_NO_SUCH_VAR", path, 0, 0, 0};
	struct mr_err err;
	struct st *st;
	int fd = mkstemp(path);

	T_OK(fd >= 0 && pw != NULL);
	if (fd < 0 || pw == NULL)
		return;
	T_INT((int)write(fd, pw, strlen(pw)), (int)strlen(pw));
	T_INT((int)write(fd, "\n", 1), 1);
	T_INT(close(fd), 0);
	T_INT(chmod(path, 0644), 0);
	T_OK(st_open_opts(url, 0, &o, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, path) != NULL);
	T_OK(strstr(err.text, "others") != NULL);
	T_OK(strstr(err.text, pw) == NULL);
	printf("# %s\n", err.text);
	T_INT(chmod(path, 0640), 0);
	st = st_open_opts(url, 0, &o, &err);
	T_OK(st != NULL);
	if (st == NULL)
		printf("# %s\n", err.text);
	st_close(&st);
	T_INT(unlink(path), 0);
	T_OK(st_open_opts(url, 0, &o, &err) == NULL);
	T_OK(strstr(err.text, path) != NULL);
	free(url);
}

T_CASE(mysql_urls)
{
	static const char *const bad[] = {
		"mysql://responder:s3cret@127.0.0.1/db",
		"mysql://127.0.0.1/db",
		"mysql://responder@127.0.0.1:99999/db",
		"mysql://responder@127.0.0.1/",
		"mysql://responder@127.0.0.1",
		"mysql://responder@/db",
		"mysql://responder@127.0.0.1/db?ssl=1",
	};
	const char *sock = getenv("MR_TEST_MYSQL_SOCKET");
	struct mr_err err;
	struct st *st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_OK(st_open(bad[i], 0, &err) == NULL);
		T_INT(err.kind, MR_PERM);
		T_OK(strstr(err.text, "s3cret") == NULL);
		T_OK(strstr(err.text, "mysql store") != NULL);
	}
	if (sock != NULL) {
		char *url = t_url("socket"), *su;

		free(url);
		su = xasprintf("mysql://responder@localhost/mrt_socket"
			       "?socket=%s",
			       sock);
		st = st_open(su, 0, &err);
		T_OK(st != NULL);
		if (st == NULL)
			printf("# %s\n", err.text);
		T_INT(st_list_add(st, ST_BLOCK_EMAIL, "x", &err), 0);
		T_INT(st_list_has(st, ST_BLOCK_EMAIL, "x", &err), 1);
		st_close(&st);
		free(su);
	}
}

/* classify and config-check on a database without tables: empty, and
 * nothing created. */
T_CASE(mysql_readonly_empty)
{
	char *url = t_url("roempty"), db[64];
	struct mr_err err;
	struct st *st;
	unsigned found = 9;
	long n = -1;

	t_my_db("roempty", db, sizeof(db));
	st = st_open(url, ST_READONLY, &err);
	T_OK(st != NULL);
	T_INT(st_lists_match(st, "h", NULL, 0, &found, &err), 0);
	T_INT(found, 0);
	T_INT(st_list_has(st, ST_BLOCK_EMAIL, "h", &err), 0);
	T_INT(st_adhoc_get(st, "h", T_NOW, &n, &err), 0);
	T_INT(n, 0);
	T_INT(st_journal_has(st, "u", 0, &err), 0);
	t_writes_refused(st, "h");
	st_close(&st);
	T_INT(t_my_int(db, T_TABLES_SQL), 0);
	free(url);
}

static void t_mysql_only(void)
{
	T_RUN(mysql_old_ddl_prefilled);
	T_RUN(mysql_bad_shape);
	T_RUN(mysql_lost_connection_is_temp);
	T_RUN(mysql_bad_server_and_password);
	T_RUN(mysql_password_file);
	T_RUN(mysql_urls);
	T_RUN(mysql_readonly_empty);
}

/* The cases that hold for every backend. */
static void t_generic(void)
{
	T_RUN(reopen_persists);
	T_RUN(lists_add_has_remove);
	T_RUN(lists_match_in_one_call);
	T_RUN(adhoc_take_is_idempotent);
	T_RUN(adhoc_limit_boundary);
	T_RUN(adhoc_clear_and_remove);
	T_RUN(journal_has_put_prune);
	T_RUN(journal_batch);
	T_RUN(readonly_existing);
	T_RUN(concurrent_threads_never_exceed);
	T_RUN(concurrent_processes_never_exceed);
	T_RUN(perf_per_message);
}

int main(void)
{
	const char *port = getenv("MR_TEST_MYSQL_PORT");

	st_global_init();
	if (port != NULL && port[0] != 0) {
		if (mr_parse_long(port, &t_my_port) < 0 || t_my_port < 1) {
			fprintf(stderr, "MR_TEST_MYSQL_PORT: bad port\n");
			return 2;
		}
		t_generic();
		t_mysql_only();
		st_global_end();
		return t_done();
	}
	snprintf(t_dir, sizeof(t_dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(t_dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	T_RUN(open_creates_dir_and_file_0600);
	T_RUN(readonly_missing_creates_nothing);
	T_RUN(readonly_without_tables);
	T_RUN(existing_deployment_schema);
	T_RUN(bad_files_and_urls);
	T_RUN(busy_is_temp);
	T_RUN(failed_take_rolls_back);
	t_generic();
	if (t_rm_tree(t_dir) != 0)
		fprintf(stderr, "# cleanup of %s failed\n", t_dir);
	st_global_end();
	return t_done();
}
