/* store_mysql.c - the MariaDB/MySQL state store (contract: store.h)
 *
 * One connection per struct st (one per worker), through the MariaDB
 * Connector/C: utf8mb4, connect/read/write timeouts from the settings, no
 * automatic reconnect (it would lose a transaction silently). Data only
 * ever travels as bound parameters of prepared statements, kept for the
 * life of the connection; constant statements (DDL, the table probe,
 * START TRANSACTION) go as text. The existing deployment's five tables
 * are created with its DDL only when missing and checked for the columns
 * we use (names, types, keys, room for a 128-character hash).
 *
 * Autocommit is on; st_adhoc_take is one READ COMMITTED transaction: the
 * day's count is raised and read back in one statement (INSERT ... ON
 * DUPLICATE KEY UPDATE count = LAST_INSERT_ID(count + 1), the value
 * arrives with the OK packet), the old table raised with it, and the
 * answer journalled under the request's unique name; when the journal
 * already holds that name the transaction is rolled back and the first
 * answer returned. Row locks are always taken in the same order (day row,
 * old row, journal row), so takers never deadlock each other; a deadlock
 * reported anyway (Galera certification) re-runs the transaction. Per
 * answered request: 8 round trips (lists 1, count 5, journal lookup and
 * write). A lost connection (restart, failover, wait_timeout, KILL) drops
 * the connection; the next call connects again.
 *
 * Error mapping: client errors (no connection, lost, timeout), server
 * shutdown, killed connections, deadlocks, lock waits, a read-only
 * server, missing tables and access errors are MR_TEMP.
 */
/* The MariaDB headers declare a struct st_list, whose tag would clash
 * with our enum st_list: theirs is renamed in this file (we never use
 * it), before store_impl.h is read. */
#define st_list ma_st_list
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#undef st_list

#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define MY_PORT 3306
#define MY_PW_MAX 1024
#define MY_DEADLOCK_TRIES 3
#define MY_PARAMS_MAX (2 + 2 * ST_MATCH_MAX)
#define MY_IDLE_PING_MS 60000 /* ping a connection idle this long */

enum my_table {
	MYT_ADHOC = 0,
	MYT_LIST,
	MYT_JOURNAL = MYT_LIST + ST_LIST_N,
	MYT_DAY,
	MYT_N,
};

static const char *const my_tables[MYT_N] = {
	[MYT_ADHOC] = "blacklist_adhoc",
	[MYT_LIST + ST_BLOCK_EMAIL] = "blacklist_email",
	[MYT_LIST + ST_BLOCK_DOMAIN] = "blacklist_domain",
	[MYT_LIST + ST_ALLOW_EMAIL] = "whitelist_email",
	[MYT_LIST + ST_ALLOW_DOMAIN] = "whitelist_domain",
	[MYT_JOURNAL] = "send_journal",
	[MYT_DAY] = "adhoc_day",
};

/* The existing deployment's DDL for its tables; ours for the others. */
static const char *const my_ddl[MYT_N] = {
	[MYT_ADHOC] = "CREATE TABLE IF NOT EXISTS blacklist_adhoc("
		      "emailhash VARCHAR(128) PRIMARY KEY,"
		      " count INT NOT NULL DEFAULT 0)",
	[MYT_LIST + ST_BLOCK_EMAIL] = "CREATE TABLE IF NOT EXISTS "
				      "blacklist_email("
				      "emailhash VARCHAR(128) PRIMARY KEY)",
	[MYT_LIST + ST_BLOCK_DOMAIN] = "CREATE TABLE IF NOT EXISTS "
				       "blacklist_domain("
				       "domainhash VARCHAR(128) PRIMARY KEY)",
	[MYT_LIST + ST_ALLOW_EMAIL] = "CREATE TABLE IF NOT EXISTS "
				      "whitelist_email("
				      "emailhash VARCHAR(128) PRIMARY KEY)",
	[MYT_LIST + ST_ALLOW_DOMAIN] = "CREATE TABLE IF NOT EXISTS "
				       "whitelist_domain("
				       "domainhash VARCHAR(128) PRIMARY KEY)",
	[MYT_JOURNAL] = "CREATE TABLE IF NOT EXISTS send_journal("
			"uniq VARBINARY(255) NOT NULL, part INT NOT NULL,"
			" ts BIGINT NOT NULL, val INT NOT NULL DEFAULT 0,"
			" PRIMARY KEY(uniq, part), KEY send_journal_ts(ts))"
			" ENGINE=InnoDB",
	[MYT_DAY] = "CREATE TABLE IF NOT EXISTS adhoc_day("
		    "emailhash VARCHAR(128) NOT NULL, day INT NOT NULL,"
		    " count INT NOT NULL, PRIMARY KEY(emailhash, day))"
		    " ENGINE=InnoDB",
};

/* What a column must be: 'h' a hash (text, >= 128 characters), 'u' a
 * unique name (text or binary), 'i' an integer; key: must be in the
 * primary (or a unique) key. */
struct my_col {
	enum my_table t;
	const char *name;
	char kind;
	int key;
};

static const struct my_col my_cols[] = {
	{MYT_ADHOC, "emailhash", 'h', 1},
	{MYT_ADHOC, "count", 'i', 0},
	{MYT_LIST + ST_BLOCK_EMAIL, "emailhash", 'h', 0},
	{MYT_LIST + ST_BLOCK_DOMAIN, "domainhash", 'h', 0},
	{MYT_LIST + ST_ALLOW_EMAIL, "emailhash", 'h', 0},
	{MYT_LIST + ST_ALLOW_DOMAIN, "domainhash", 'h', 0},
	{MYT_JOURNAL, "uniq", 'u', 1},
	{MYT_JOURNAL, "part", 'i', 1},
	{MYT_JOURNAL, "ts", 'i', 0},
	{MYT_JOURNAL, "val", 'i', 0},
	{MYT_DAY, "emailhash", 'h', 1},
	{MYT_DAY, "day", 'i', 1},
	{MYT_DAY, "count", 'i', 0},
};

#define MY_NCOLS (sizeof(my_cols) / sizeof(my_cols[0]))

enum my_id {
	MY_LIST_HAS = 0,
	MY_LIST_ADD = MY_LIST_HAS + ST_LIST_N,
	MY_LIST_DEL = MY_LIST_ADD + ST_LIST_N,
	MY_MATCH = MY_LIST_DEL + ST_LIST_N,
	MY_ADHOC_GET,
	MY_ADHOC_INCR,
	MY_ADHOC_MIRROR,
	MY_ADHOC_CLEAR,
	MY_ADHOC_CLEAR_DAYS,
	MY_ADHOC_DEL,
	MY_ADHOC_DEL_DAYS,
	MY_JOURNAL_GET,
	MY_JOURNAL_PUT,
	MY_JOURNAL_PRUNE,
	MY_N,
};

#define MY_HAS(tab, col) "SELECT 1 FROM " tab " WHERE " col " = ?"
#define MY_ADD(tab, col)                                                       \
	"INSERT INTO " tab "(" col ") VALUES (?) ON DUPLICATE KEY UPDATE " col \
	" = " col
#define MY_DEL(tab, col) "DELETE FROM " tab " WHERE " col " = ?"
static const char *const my_sql[MY_N] = {
	[MY_LIST_HAS + ST_BLOCK_EMAIL] = MY_HAS("blacklist_email", "emailhash"),
	[MY_LIST_ADD + ST_BLOCK_EMAIL] = MY_ADD("blacklist_email", "emailhash"),
	[MY_LIST_DEL + ST_BLOCK_EMAIL] = MY_DEL("blacklist_email", "emailhash"),
	[MY_LIST_HAS + ST_BLOCK_DOMAIN] =
		MY_HAS("blacklist_domain", "domainhash"),
	[MY_LIST_ADD + ST_BLOCK_DOMAIN] =
		MY_ADD("blacklist_domain", "domainhash"),
	[MY_LIST_DEL + ST_BLOCK_DOMAIN] =
		MY_DEL("blacklist_domain", "domainhash"),
	[MY_LIST_HAS + ST_ALLOW_EMAIL] = MY_HAS("whitelist_email", "emailhash"),
	[MY_LIST_ADD + ST_ALLOW_EMAIL] = MY_ADD("whitelist_email", "emailhash"),
	[MY_LIST_DEL + ST_ALLOW_EMAIL] = MY_DEL("whitelist_email", "emailhash"),
	[MY_LIST_HAS + ST_ALLOW_DOMAIN] =
		MY_HAS("whitelist_domain", "domainhash"),
	[MY_LIST_ADD + ST_ALLOW_DOMAIN] =
		MY_ADD("whitelist_domain", "domainhash"),
	[MY_LIST_DEL + ST_ALLOW_DOMAIN] =
		MY_DEL("whitelist_domain", "domainhash"),
	[MY_MATCH] = NULL, /* my_match_sql(): the list tables present */
	[MY_ADHOC_GET] = "SELECT count FROM adhoc_day"
			 " WHERE emailhash = ? AND day = ?",
	/* LAST_INSERT_ID(x) hands x back in the OK packet, on both paths */
	[MY_ADHOC_INCR] = "INSERT INTO adhoc_day(emailhash, day, count)"
			  " VALUES (?, ?, LAST_INSERT_ID(1))"
			  " ON DUPLICATE KEY UPDATE"
			  " count = LAST_INSERT_ID(count + 1)",
	[MY_ADHOC_MIRROR] = "INSERT INTO blacklist_adhoc(emailhash, count)"
			    " VALUES (?, 1)"
			    " ON DUPLICATE KEY UPDATE count = count + 1",
	[MY_ADHOC_CLEAR] = "DELETE FROM blacklist_adhoc",
	[MY_ADHOC_CLEAR_DAYS] = "DELETE FROM adhoc_day WHERE day < ?",
	[MY_ADHOC_DEL] = "DELETE FROM blacklist_adhoc WHERE emailhash = ?",
	[MY_ADHOC_DEL_DAYS] = "DELETE FROM adhoc_day WHERE emailhash = ?",
	[MY_JOURNAL_GET] = "SELECT val FROM send_journal"
			   " WHERE uniq = ? AND part = ?",
	/* affected rows: 1 inserted, 0 the row was there (unchanged) */
	[MY_JOURNAL_PUT] = "INSERT INTO send_journal(uniq, part, ts, val)"
			   " VALUES (?, ?, ?, ?)"
			   " ON DUPLICATE KEY UPDATE uniq = uniq",
	[MY_JOURNAL_PRUNE] = "DELETE FROM send_journal WHERE ts < ?",
};

/* The lists in one statement; parameters: the email hash and
 * ST_MATCH_MAX domain hashes per list (unused ones ''). */
_Static_assert(ST_MATCH_MAX == 8, "my_match_parts has 8 domain slots");
#define MY_DOMS "(?, ?, ?, ?, ?, ?, ?, ?)"
static const char *const my_match_parts[ST_LIST_N] = {
	[ST_BLOCK_EMAIL] = "SELECT 0 FROM blacklist_email WHERE emailhash = ?",
	[ST_BLOCK_DOMAIN] =
		"SELECT 1 FROM blacklist_domain WHERE domainhash IN " MY_DOMS,
	[ST_ALLOW_EMAIL] = "SELECT 2 FROM whitelist_email WHERE emailhash = ?",
	[ST_ALLOW_DOMAIN] =
		"SELECT 3 FROM whitelist_domain WHERE domainhash IN " MY_DOMS,
};

static int my_list_is_domain(int l)
{
	return l == ST_BLOCK_DOMAIN || l == ST_ALLOW_DOMAIN;
}

struct my_conf {
	char *user, *host, *db, *socket; /* socket NULL: TCP */
	unsigned port;
	char *pw_env, *pw_file; /* from st_opts */
	unsigned timeout[3];    /* connect, read, write (s) */
	char *name;             /* user@host:port/db, for messages */
};

struct my_store {
	struct st base; /* first: store.c sees only this */
	struct my_conf c;
	int readonly;
	unsigned last_code; /* of the last failure */
	MYSQL *db;          /* NULL: not connected; the next call connects */
	long long used_ms;  /* last use of db (mr_now_ms) */
	unsigned tables;    /* bit (1 << enum my_table): table exists */
	char *match_sql;    /* MY_MATCH over the list tables present, or NULL */
	MYSQL_STMT *stmt[MY_N];
};

/* A bound parameter: a string (s != NULL) or an integer. */
struct my_par {
	const char *s;
	long long i;
};

static struct my_store *my_of(struct st *st)
{
	return (struct my_store *)st; /* base is the first member */
}

/* ------------------------------------------------------------ errors */

/* 1: the connection cannot be trusted any more (drop it). */
static int my_conn_error(unsigned code)
{
	switch (code) {
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
	case 4031: /* ER_CLIENT_INTERACTION_TIMEOUT (wait_timeout) */
	case ER_OPTION_PREVENTS_STATEMENT: /* read-only: a failed-over node */
	case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:
	case ER_NO_SUCH_TABLE:     /* reconnecting re-creates what is missing */
	case ER_UNKNOWN_COM_ERROR: /* Galera node not ready */
		return 1;
	default:
		return code >= CR_MIN_ERROR && code <= CR_MAX_ERROR;
	}
}

static enum mr_fail my_kind(unsigned code)
{
	if (my_conn_error(code))
		return MR_TEMP;
	switch (code) {
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_CON_COUNT_ERROR:
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_DBACCESS_DENIED_ERROR:
	case ER_ACCESS_DENIED_ERROR:
	case ER_TABLEACCESS_DENIED_ERROR:
	case ER_ERROR_DURING_COMMIT:
	case ER_LOCK_ABORTED:
		return MR_TEMP;
	default:
		return MR_PERM;
	}
}

static void my_stmts_close(struct my_store *my)
{
	for (int i = 0; i < MY_N; i++) {
		if (my->stmt[i] != NULL)
			(void)mysql_stmt_close(my->stmt[i]); /* frees it */
		my->stmt[i] = NULL;
	}
}

static void my_disconnect(struct my_store *my)
{
	my_stmts_close(my);
	if (my->db != NULL)
		mysql_close(my->db);
	my->db = NULL;
}

/* Fill err from code and text; drop the connection when it is gone or
 * suspect. Returns -1. */
static int my_fail(struct my_store *my, unsigned code, const char *text,
		   const char *what, struct mr_err *err)
{
	mr_err_set(err, my_kind(code), "mysql %s failed: %s (%u)", what, text,
		   code);
	my->last_code = code;
	if (my_conn_error(code))
		my_disconnect(my);
	return -1;
}

static int my_fail_db(struct my_store *my, const char *what, struct mr_err *err)
{
	return my_fail(my, mysql_errno(my->db), mysql_error(my->db), what, err);
}

static int my_fail_stmt(struct my_store *my, MYSQL_STMT *s, const char *what,
			struct mr_err *err)
{
	return my_fail(my, mysql_stmt_errno(s), mysql_stmt_error(s), what, err);
}

/* Undo an open transaction; a failure drops the connection (the server
 * rolls back when it goes). */
static void my_rollback(struct my_store *my)
{
	if (my->db != NULL && mysql_rollback(my->db) != 0) {
		log_warn("mysql rollback failed: %s", mysql_error(my->db));
		my_disconnect(my);
	}
}

/* --------------------------------------------------------- password */

/* The password from the file (others must not be able to read it) or
 * the environment; *pw_r NULL: none. 0 or -1 (kind for err). */
static int my_pw_file(const char *path, char **pw_r, enum mr_fail kind,
		      struct mr_err *err)
{
	char buf[MY_PW_MAX + 1];
	struct stat sb;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		mr_err_sys(err, kind, errno, "mysql password file %s", path);
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    (sb.st_mode & S_IRWXO)) {
		mr_err_set(err, kind, "mysql password file %s: refused: %s",
			   path,
			   !S_ISREG(sb.st_mode)
				   ? "not a regular file"
				   : "others may read or change it (chmod "
				     "o-rwx)");
		(void)close(fd); /* read-only */
		return -1;
	}
	n = read(fd, buf, MY_PW_MAX + 1);
	(void)close(fd); /* read-only */
	if (n < 0 || n > MY_PW_MAX) {
		mr_err_set(err, kind, "mysql password file %s: %s", path,
			   n < 0 ? "read failed" : "too long");
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = 0;
	*pw_r = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static int my_password(const struct my_conf *c, char **pw_r, enum mr_fail kind,
		       struct mr_err *err)
{
	const char *v;

	*pw_r = NULL;
	if (c->pw_file != NULL)
		return my_pw_file(c->pw_file, pw_r, kind, err);
	v = getenv(c->pw_env);
	if (v != NULL)
		*pw_r = xstrdup(v);
	return 0;
}

static void my_pw_free(char **pw)
{
	if (*pw != NULL) {
		explicit_bzero(*pw, strlen(*pw));
		free(*pw);
	}
	*pw = NULL;
}

/* ------------------------------------------------------- statements */

static MYSQL_STMT *my_prep(struct my_store *my, enum my_id id, const char *what,
			   struct mr_err *err)
{
	const char *sql = id == MY_MATCH ? my->match_sql : my_sql[id];
	MYSQL_STMT *s = my->stmt[id];

	if (s != NULL)
		return s;
	s = mysql_stmt_init(my->db);
	if (s == NULL) {
		(void)my_fail_db(my, what, err);
		return NULL;
	}
	if (mysql_stmt_prepare(s, sql, strlen(sql)) != 0) {
		char text[200];
		unsigned code = mysql_stmt_errno(s);

		(void)snprintf(text, sizeof(text), "%s", mysql_stmt_error(s));
		(void)mysql_stmt_close(s); /* frees it, before any reconnect */
		(void)my_fail(my, code, text, what, err);
		return NULL;
	}
	my->stmt[id] = s;
	return s;
}

static int my_connect(struct my_store *my, int at_open, struct mr_err *err);

/* A usable connection: connect when there is none; one idle for long
 * (past a server's wait_timeout, say) is pinged first and replaced when
 * it is gone, before any statement of the call is sent. */
static int my_ready(struct my_store *my, struct mr_err *err)
{
	long long now = mr_now_ms();

	if (my->db != NULL && now - my->used_ms > MY_IDLE_PING_MS &&
	    mysql_ping(my->db) != 0)
		my_disconnect(my);
	if (my->db == NULL && my_connect(my, 0, err) < 0)
		return -1;
	my->used_ms = now;
	return 0;
}

/* Execute statement id with np parameters. Rows: the first column of the
 * first row in *val_r (if not NULL), each row's value v as bit v of
 * *mask_r (if not NULL); *rows_r (if not NULL) the number of rows, or the
 * rows changed for a write; *id_r (if not NULL) LAST_INSERT_ID(). */
struct my_out {
	long long *val_r;
	unsigned *mask_r;
	long long *rows_r;
	unsigned long long *id_r;
};

static void my_bind_params(MYSQL_BIND *b, unsigned long *len,
			   const struct my_par *p, int np)
{
	memset(b, 0, sizeof(*b) * (size_t)np);
	for (int i = 0; i < np; i++) {
		if (p[i].s != NULL) {
			len[i] = strlen(p[i].s);
			b[i].buffer_type = MYSQL_TYPE_STRING;
			b[i].buffer = (void *)p[i].s;
			b[i].buffer_length = len[i];
			b[i].length = &len[i];
		} else {
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = (void *)&p[i].i;
		}
	}
}

static int my_fetch(struct my_store *my, MYSQL_STMT *s, const struct my_out *o,
		    const char *what, struct mr_err *err)
{
	long long v = 0, rows = 0;
	my_bool is_null = 0;
	MYSQL_BIND r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.buffer_type = MYSQL_TYPE_LONGLONG;
	r.buffer = &v;
	r.is_null = &is_null;
	if (mysql_stmt_bind_result(s, &r) != 0)
		return my_fail_stmt(my, s, what, err);
	while ((rc = mysql_stmt_fetch(s)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		if (rows == 0 && o->val_r != NULL)
			*o->val_r = is_null ? 0 : v;
		if (o->mask_r != NULL && !is_null && v >= 0 && v < 32)
			*o->mask_r |= 1u << v;
		rows++;
	}
	if (rc != MYSQL_NO_DATA)
		return my_fail_stmt(my, s, what, err);
	(void)mysql_stmt_free_result(s); /* nothing buffered: fetched all */
	if (o->rows_r != NULL)
		*o->rows_r = rows;
	return 0;
}

static int my_exec(struct my_store *my, enum my_id id, const struct my_par *p,
		   int np, const struct my_out *o, const char *what,
		   struct mr_err *err)
{
	MYSQL_BIND b[MY_PARAMS_MAX];
	unsigned long len[MY_PARAMS_MAX];
	struct my_out none = {NULL, NULL, NULL, NULL};
	MYSQL_STMT *s;

	if (my_ready(my, err) < 0)
		return -1;
	if ((s = my_prep(my, id, what, err)) == NULL)
		return -1;
	my_bind_params(b, len, p, np);
	if (mysql_stmt_bind_param(s, b) != 0 || mysql_stmt_execute(s) != 0)
		return my_fail_stmt(my, s, what, err);
	if (mysql_stmt_field_count(s) > 0)
		return my_fetch(my, s, o != NULL ? o : &none, what, err);
	if (o != NULL && o->rows_r != NULL)
		*o->rows_r = (long long)mysql_stmt_affected_rows(s);
	if (o != NULL && o->id_r != NULL)
		*o->id_r = mysql_stmt_insert_id(s);
	return 0;
}

/* A constant statement (no data) as text. */
static int my_query(struct my_store *my, const char *sql, const char *what,
		    struct mr_err *err)
{
	if (my_ready(my, err) < 0)
		return -1;
	if (mysql_real_query(my->db, sql, strlen(sql)) != 0)
		return my_fail_db(my, what, err);
	return 0;
}

/* ------------------------------------------------------------ lists */

static int my_list_has(struct st *st, enum st_list list, const char *hash,
		       struct mr_err *err)
{
	struct my_store *my = my_of(st);
	struct my_par p = {hash, 0};
	long long rows = 0;
	struct my_out o = {NULL, NULL, &rows, NULL};

	if (!(my->tables & (1u << (MYT_LIST + list))))
		return 0;
	if (my_exec(my, MY_LIST_HAS + list, &p, 1, &o, "list lookup", err) < 0)
		return -1;
	return rows > 0;
}

static int my_list_add(struct st *st, enum st_list list, const char *hash,
		       struct mr_err *err)
{
	struct my_par p = {hash, 0};

	return my_exec(my_of(st), MY_LIST_ADD + list, &p, 1, NULL, "list add",
		       err);
}

static int my_list_remove(struct st *st, enum st_list list, const char *hash,
			  struct mr_err *err)
{
	struct my_par p = {hash, 0};
	long long rows = 0;
	struct my_out o = {NULL, NULL, &rows, NULL};

	if (my_exec(my_of(st), MY_LIST_DEL + list, &p, 1, &o, "list remove",
		    err) < 0)
		return -1;
	return rows > 0;
}

static int my_lists_match(struct st *st, const char *email_hash,
			  const char *const *dom, size_t n_dom,
			  unsigned *found_r, struct mr_err *err)
{
	struct my_store *my = my_of(st);
	struct my_par p[MY_PARAMS_MAX];
	struct my_out o = {NULL, found_r, NULL, NULL};
	int np = 0;

	if (my->match_sql == NULL)
		return 0; /* read-only, no list table */
	for (int l = 0; l < ST_LIST_N; l++) {
		if (!(my->tables & (1u << (MYT_LIST + l))))
			continue;
		if (!my_list_is_domain(l)) {
			p[np++] = (struct my_par){email_hash, 0};
			continue;
		}
		for (size_t i = 0; i < ST_MATCH_MAX; i++)
			p[np++] = (struct my_par){i < n_dom ? dom[i] : "", 0};
	}
	return my_exec(my, MY_MATCH, p, np, &o, "list lookup", err);
}

/* ------------------------------------------------------ daily counts */

static int my_adhoc_get(struct st *st, const char *hash, long day,
			long *count_r, struct mr_err *err)
{
	struct my_store *my = my_of(st);
	struct my_par p[2] = {{hash, 0}, {NULL, day}};
	long long v = 0;
	struct my_out o = {&v, NULL, NULL, NULL};

	if (!(my->tables & (1u << MYT_DAY)))
		return 0;
	if (my_exec(my, MY_ADHOC_GET, p, 2, &o, "adhoc lookup", err) < 0)
		return -1;
	*count_r = (long)v;
	return 0;
}

/* One try of the take transaction: 0 done (*allowed_r set), -1 error
 * (rolled back or connection dropped). */
static int my_take_once(struct my_store *my, const char *uniq, const char *hash,
			long limit, long day, time_t now, int *allowed_r,
			struct mr_err *err)
{
	static const char what[] = "adhoc take";
	struct my_par pc[2] = {{hash, 0}, {NULL, day}};
	struct my_par pj[4] = {
		{uniq, 0}, {NULL, ST_PART_LIMIT}, {NULL, now}, {NULL, 0}};
	unsigned long long count = 0;
	long long rows = 0, val = 0;
	struct my_out oc = {NULL, NULL, NULL, &count};
	struct my_out oj = {NULL, NULL, &rows, NULL};
	struct my_out og = {&val, NULL, &rows, NULL};

	if (my_query(my, "START TRANSACTION", what, err) < 0)
		return -1;
	if (my_exec(my, MY_ADHOC_INCR, pc, 2, &oc, what, err) < 0 ||
	    my_exec(my, MY_ADHOC_MIRROR, pc, 1, NULL, what, err) < 0)
		goto fail;
	pj[3].i = limit <= 0 || (long long)count <= limit;
	if (my_exec(my, MY_JOURNAL_PUT, pj, 4, &oj, what, err) < 0)
		goto fail;
	if (rows == 0) {
		/* counted before (a retry or a recovered request): undo this
		 * count, answer as the first time */
		my_rollback(my);
		if (my_exec(my, MY_JOURNAL_GET, pj, 2, &og, what, err) < 0)
			return -1;
		*allowed_r = val != 0;
		return 0;
	}
	if (mysql_commit(my->db) != 0)
		return my_fail_db(my, what, err); /* may have committed: the
						     journal tells on retry */
	*allowed_r = pj[3].i != 0;
	return 0;
fail:
	my_rollback(my);
	return -1;
}

static int my_adhoc_take(struct st *st, const char *uniq, const char *hash,
			 long limit, long day, time_t now, int *allowed_r,
			 struct mr_err *err)
{
	struct my_store *my = my_of(st);
	int rc = -1;

	for (int i = 0; i < MY_DEADLOCK_TRIES; i++) {
		my->last_code = 0;
		rc = my_take_once(my, uniq, hash, limit, day, now, allowed_r,
				  err);
		if (rc == 0 || my->last_code != ER_LOCK_DEADLOCK)
			break;
		mr_err_clear(err); /* rolled back: run it again */
	}
	return rc;
}

static int my_adhoc_clear(struct st *st, long day, struct mr_err *err)
{
	struct my_store *my = my_of(st);
	struct my_par p = {NULL, day};

	if (my_exec(my, MY_ADHOC_CLEAR, NULL, 0, NULL, "adhoc clear", err) < 0)
		return -1;
	return my_exec(my, MY_ADHOC_CLEAR_DAYS, &p, 1, NULL, "adhoc clear",
		       err);
}

static int my_adhoc_remove(struct st *st, const char *hash, struct mr_err *err)
{
	struct my_store *my = my_of(st);
	struct my_par p = {hash, 0};
	long long a = 0, b = 0;
	struct my_out oa = {NULL, NULL, &a, NULL}, ob = {NULL, NULL, &b, NULL};

	if (my_exec(my, MY_ADHOC_DEL, &p, 1, &oa, "adhoc remove", err) < 0 ||
	    my_exec(my, MY_ADHOC_DEL_DAYS, &p, 1, &ob, "adhoc remove", err) < 0)
		return -1;
	return a + b > 0;
}

/* ----------------------------------------------------- send journal */

static int my_journal_has(struct st *st, const char *uniq, int part,
			  struct mr_err *err)
{
	struct my_store *my = my_of(st);
	struct my_par p[2] = {{uniq, 0}, {NULL, part}};
	long long rows = 0;
	struct my_out o = {NULL, NULL, &rows, NULL};

	if (!(my->tables & (1u << MYT_JOURNAL)))
		return 0;
	if (my_exec(my, MY_JOURNAL_GET, p, 2, &o, "journal lookup", err) < 0)
		return -1;
	return rows > 0;
}

static int my_journal_put(struct st *st, const char *uniq, int part, time_t now,
			  struct mr_err *err)
{
	struct my_par p[4] = {{uniq, 0}, {NULL, part}, {NULL, now}, {NULL, 0}};

	return my_exec(my_of(st), MY_JOURNAL_PUT, p, 4, NULL, "journal put",
		       err);
}

/* A group commit's rows: one transaction, all or none. */
static int my_journal_put_rows(struct st *st, const struct st_jrow *rows,
			       size_t n, struct mr_err *err)
{
	static const char what[] = "journal put";
	struct my_store *my = my_of(st);

	if (my_query(my, "START TRANSACTION", what, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct my_par p[4] = {{rows[i].uniq, 0},
				      {NULL, rows[i].part},
				      {NULL, rows[i].ts},
				      {NULL, 0}};

		if (my_exec(my, MY_JOURNAL_PUT, p, 4, NULL, what, err) < 0) {
			my_rollback(my);
			return -1;
		}
	}
	if (mysql_commit(my->db) != 0)
		return my_fail_db(my, what, err);
	return 0;
}

static int my_journal_prune(struct st *st, time_t before, long *n_r,
			    struct mr_err *err)
{
	struct my_store *my = my_of(st);
	struct my_par p = {NULL, before}, d = {NULL, st_day(before)};
	long long rows = 0;
	struct my_out o = {NULL, NULL, &rows, NULL};

	if (my_exec(my, MY_JOURNAL_PRUNE, &p, 1, &o, "journal prune", err) <
		    0 ||
	    my_exec(my, MY_ADHOC_CLEAR_DAYS, &d, 1, NULL, "journal prune",
		    err) < 0)
		return -1;
	if (n_r != NULL)
		*n_r = (long)rows;
	return 0;
}

/* ------------------------------------------------- tables and shapes */

static int my_type_is(const char *type, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcmp(type, *names) == 0)
			return 1;
	return 0;
}

/* NULL when the column fits c, else what is wrong with it. */
static const char *my_col_problem(const struct my_col *c, const char *type,
				  long long chars, const char *key)
{
	static const char *const text[] = {"char", "varchar",    "tinytext",
					   "text", "mediumtext", "longtext",
					   NULL};
	static const char *const bin[] = {"binary", "varbinary", "tinyblob",
					  "blob", NULL};
	static const char *const ints[] = {"tinyint", "smallint", "mediumint",
					   "int",     "bigint",   NULL};

	if (c->kind == 'i' && !my_type_is(type, ints))
		return "is not an integer";
	if (c->kind == 'h' && !my_type_is(type, text))
		return "is not a text column";
	if (c->kind == 'h' && chars < 128)
		return "is shorter than a hash (128 characters)";
	if (c->kind == 'u' && !my_type_is(type, text) && !my_type_is(type, bin))
		return "is not a text or binary column";
	if (c->key && strcmp(key, "PRI") != 0 && strcmp(key, "UNI") != 0)
		return "is not in the primary key";
	return NULL;
}

/* Note which of our tables exist, and check the columns we use. */
static int my_probe(struct my_store *my, enum mr_fail kind, struct mr_err *err)
{
	static const char sql[] =
		"SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE,"
		" IFNULL(CHARACTER_MAXIMUM_LENGTH, 0), COLUMN_KEY"
		" FROM information_schema.COLUMNS"
		" WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN"
		" ('blacklist_adhoc', 'blacklist_email', 'blacklist_domain',"
		" 'whitelist_email', 'whitelist_domain', 'send_journal',"
		" 'adhoc_day')";
	const char *problem[MY_NCOLS];
	MYSQL_RES *res;
	MYSQL_ROW row;

	for (size_t i = 0; i < MY_NCOLS; i++)
		problem[i] = "is missing";
	my->tables = 0;
	if (mysql_real_query(my->db, sql, sizeof(sql) - 1) != 0 ||
	    (res = mysql_store_result(my->db)) == NULL) {
		(void)my_fail_db(my, "table probe", err);
		if (kind == MR_PERM)
			err->kind = MR_PERM;
		return -1;
	}
	while ((row = mysql_fetch_row(res)) != NULL) {
		for (int t = 0; t < MYT_N; t++)
			if (row[0] && strcmp(row[0], my_tables[t]) == 0)
				my->tables |= 1u << t;
		for (size_t i = 0; i < MY_NCOLS; i++) {
			const struct my_col *c = &my_cols[i];

			if (row[0] && row[1] && row[2] && row[3] && row[4] &&
			    strcmp(row[0], my_tables[c->t]) == 0 &&
			    strcasecmp(row[1], c->name) == 0)
				problem[i] = my_col_problem(
					c, row[2], strtoll(row[3], NULL, 10),
					row[4]);
		}
	}
	mysql_free_result(res);
	for (size_t i = 0; i < MY_NCOLS; i++) {
		const struct my_col *c = &my_cols[i];

		if ((my->tables & (1u << c->t)) && problem[i] != NULL) {
			mr_err_set(err, MR_PERM,
				   "mysql table %s has an unexpected shape: "
				   "column %s %s",
				   my_tables[c->t], c->name, problem[i]);
			return -1;
		}
	}
	return 0;
}

/* Create the tables that are missing (never touching the others), then
 * check every table. */
static int my_schema(struct my_store *my, enum mr_fail kind, struct mr_err *err)
{
	if (my_probe(my, kind, err) < 0)
		return -1;
	if (my->readonly || my->tables == (1u << MYT_N) - 1)
		return 0;
	for (int t = 0; t < MYT_N; t++) {
		if (my->tables & (1u << t))
			continue;
		if (mysql_real_query(my->db, my_ddl[t], strlen(my_ddl[t])) !=
		    0) {
			char what[64];

			(void)snprintf(what, sizeof(what), "create table %s",
				       my_tables[t]); /* fits */
			(void)my_fail_db(my, what, err);
			if (kind == MR_PERM)
				err->kind = MR_PERM;
			return -1;
		}
	}
	return my_probe(my, kind, err);
}

/* SQL of MY_MATCH over the list tables present. */
static void my_match_sql(struct my_store *my)
{
	struct mr_buf b;

	free(my->match_sql);
	buf_init(&b);
	for (int l = 0; l < ST_LIST_N; l++) {
		if (!(my->tables & (1u << (MYT_LIST + l))))
			continue;
		if (b.len)
			buf_puts(&b, " UNION ALL ");
		buf_puts(&b, my_match_parts[l]);
	}
	my->match_sql = b.len ? buf_steal(&b, NULL) : NULL;
	buf_free(&b);
}

/* -------------------------------------------------------- connecting */

static void my_options(MYSQL *m, const struct my_conf *c)
{
	static const char init[] =
		"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
	my_bool no = 0;

	/* mysql_options() fails only for an unknown option: all known */
	(void)mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &c->timeout[0]);
	(void)mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &c->timeout[1]);
	(void)mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &c->timeout[2]);
	(void)mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	(void)mysql_options(m, MYSQL_OPT_RECONNECT, &no);
	(void)mysql_options(m, MYSQL_INIT_COMMAND, init);
}

/* Connect and check the tables. At open a failure is MR_PERM (the caller
 * gives up), later MR_TEMP (the message waits for the server). */
static int my_connect(struct my_store *my, int at_open, struct mr_err *err)
{
	enum mr_fail kind = at_open ? MR_PERM : MR_TEMP;
	char *pw = NULL;
	MYSQL *ok;

	my_disconnect(my);
	if (my_password(&my->c, &pw, kind, err) < 0)
		return -1;
	my->db = mysql_init(NULL);
	if (my->db == NULL) {
		my_pw_free(&pw);
		mr_err_set(err, MR_TEMP, "mysql init failed: out of memory");
		return -1;
	}
	my_options(my->db, &my->c);
	ok = mysql_real_connect(my->db, my->c.host, my->c.user, pw, my->c.db,
				my->c.port, my->c.socket, 0);
	my_pw_free(&pw);
	if (ok == NULL) {
		mr_err_set(err, kind, "mysql connect(%s) failed: %s (%u)",
			   my->c.name, mysql_error(my->db),
			   mysql_errno(my->db));
		my_disconnect(my);
		return -1;
	}
	if (my_schema(my, kind, err) < 0) {
		my_disconnect(my);
		return -1;
	}
	my_match_sql(my);
	my->used_ms = mr_now_ms();
	return 0;
}

/* ------------------------------------------------------- the URL */

static void my_conf_free(struct my_conf *c)
{
	free(c->user);
	free(c->host);
	free(c->db);
	free(c->socket);
	free(c->pw_env);
	free(c->pw_file);
	free(c->name);
}

/* host[:port] or [v6][:port], in [p, end). */
static int my_parse_host(struct my_conf *c, const char *p, const char *end,
			 struct mr_err *err)
{
	const char *colon = NULL, *h = p, *he;
	long port;

	if (*p == '[') {
		he = memchr(p, ']', (size_t)(end - p));
		if (he == NULL)
			goto bad;
		h = p + 1;
		colon = he + 1 < end && he[1] == ':' ? he + 1 : NULL;
		if (colon == NULL && he + 1 != end)
			goto bad;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		he = colon ? colon : end;
	}
	if (he == h)
		goto bad;
	c->host = xstrndup(h, (size_t)(he - h));
	c->port = MY_PORT;
	if (colon != NULL) {
		char *ps = xstrndup(colon + 1, (size_t)(end - colon - 1));
		int r = mr_parse_long(ps, &port);

		free(ps);
		if (r < 0 || port < 1 || port > 65535)
			goto bad;
		c->port = (unsigned)port;
	}
	return 0;
bad:
	mr_err_set(err, MR_PERM,
		   "mysql store: bad host or port (mysql://user@host:port/db)");
	return -1;
}

/* ?socket=/path; nothing else is known. */
static int my_parse_query(struct my_conf *c, const char *q, struct mr_err *err)
{
	if (q == NULL)
		return 0;
	if (strncmp(q, "socket=", 7) == 0 && q[7] == '/' &&
	    strchr(q, '&') == NULL) {
		c->socket = xstrdup(q + 7);
		return 0;
	}
	mr_err_set(err, MR_PERM,
		   "mysql store: unknown URL parameter (only ?socket=/path)");
	return -1;
}

/* where: user@host[:port]/db[?socket=/path] */
static int my_parse(struct my_conf *c, const char *where, struct mr_err *err)
{
	const char *at = strchr(where, '@'), *slash, *q;

	if (at == NULL || at == where) {
		mr_err_set(err, MR_PERM,
			   "mysql store: no user (mysql://user@host:port/db)");
		return -1;
	}
	if (memchr(where, ':', (size_t)(at - where)) != NULL) {
		mr_err_set(err, MR_PERM,
			   "mysql store: a password in the URL is refused; "
			   "use mysql.password_file or the environment");
		return -1;
	}
	slash = strchr(at, '/');
	q = slash ? strchr(slash, '?') : NULL;
	if (slash == NULL || slash[1] == 0 || slash + 1 == q) {
		mr_err_set(
			err, MR_PERM,
			"mysql store: no database (mysql://user@host:port/db)");
		return -1;
	}
	c->user = xstrndup(where, (size_t)(at - where));
	if (my_parse_host(c, at + 1, slash, err) < 0 ||
	    my_parse_query(c, q ? q + 1 : NULL, err) < 0)
		return -1;
	c->db = q ? xstrndup(slash + 1, (size_t)(q - slash - 1))
		  : xstrdup(slash + 1);
	if (c->socket != NULL)
		c->name = xasprintf("%s@%s/%s (socket %s)", c->user, c->host,
				    c->db, c->socket);
	else
		c->name = xasprintf("%s@%s:%u/%s", c->user, c->host, c->port,
				    c->db);
	return 0;
}

/* ------------------------------------------------------- open and close */

static void my_close(struct st *st)
{
	struct my_store *my = my_of(st);

	my_disconnect(my);
	my_conf_free(&my->c);
	free(my->match_sql);
	free(my);
}

static unsigned my_secs(long v, unsigned dflt)
{
	return v > 0 && v < 86400 ? (unsigned)v : dflt;
}

static struct st *my_open(const char *where, int flags,
			  const struct st_opts *opts, struct mr_err *err)
{
	struct my_store *my = xcalloc(1, sizeof(*my));
	const char *env = opts && opts->password_env ? opts->password_env
						     : ST_PASSWORD_ENV;

	my->readonly = (flags & ST_READONLY) != 0;
	my->c.pw_env = xstrdup(env);
	if (opts && opts->password_file)
		my->c.pw_file = xstrdup(opts->password_file);
	my->c.timeout[0] = my_secs(opts ? opts->connect_timeout_s : 0, 10);
	my->c.timeout[1] = my_secs(opts ? opts->read_timeout_s : 0, 30);
	my->c.timeout[2] = my_secs(opts ? opts->write_timeout_s : 0, 30);
	if (my_parse(&my->c, where, err) < 0 || my_connect(my, 1, err) < 0) {
		my_close(&my->base);
		return NULL;
	}
	return &my->base;
}

void st_mysql_global_init(void)
{
	if (mysql_library_init(0, NULL, NULL) != 0)
		log_err("mysql_library_init failed");
}

void st_mysql_global_end(void)
{
	mysql_library_end();
}

const struct st_ops st_mysql_ops = {
	.name = "mysql",
	.open = my_open,
	.close = my_close,
	.list_has = my_list_has,
	.list_add = my_list_add,
	.list_remove = my_list_remove,
	.lists_match = my_lists_match,
	.adhoc_get = my_adhoc_get,
	.adhoc_take = my_adhoc_take,
	.adhoc_clear = my_adhoc_clear,
	.adhoc_remove = my_adhoc_remove,
	.journal_has = my_journal_has,
	.journal_put = my_journal_put,
	.journal_put_rows = my_journal_put_rows,
	.journal_prune = my_journal_prune,
};
