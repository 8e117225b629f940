/* mr.h - common types and helpers shared by every mailresponder module
 * SYNOPSIS     #include "mr.h"
 * DESCRIPTION  struct mr_err carries an error kind (temporary or permanent)
 *              and a short text; the kind decides the spool state of a
 *              message (design.md s.3). struct mr_msgs collects several
 *              problems (config-check). x*() allocators abort on
 *              exhaustion: a claimed message is recovered on restart.
 *              struct mr_buf is a growable, always NUL-terminated buffer.
 *              The rest are the small helpers every module shares: ASCII
 *              case comparison (no locale), UTF-8 validation, a quoted
 *              copy for problem texts (mr_show), whole reads and writes
 *              that retry EINTR, an atomic file write (tmp, fsync,
 *              rename or link, fsync of the folder), mkdir -p, and the
 *              clock (mr_time, shifted by MAILRESPONDER_CLOCK_OFFSET_S in
 *              tests).
 *              All are thread-safe; mr_hostname() is first called before
 *              threads start.
 * DIAGNOSTICS  int functions return 0 or -1 (errno or err set, as each
 *              says); the x*() allocators never return NULL.
 * SEE ALSO     log.h, style.md s.2.3, s.2.4
 */
#ifndef MR_MR_H
#define MR_MR_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define MR_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum mr_fail {
	MR_OK = 0,
	MR_TEMP, /* retry later: dependency down, resource busy */
	MR_PERM, /* retrying cannot help: bad input, permanent refusal */
};

struct mr_err {
	enum mr_fail kind;
	char text[256];
};

void mr_err_clear(struct mr_err *err);
void mr_err_set(struct mr_err *err, enum mr_fail kind, const char *fmt, ...)
	MR_PRINTF(3, 4);
/* Like mr_err_set, appending ": <strerror(errnum)>". */
void mr_err_sys(struct mr_err *err, enum mr_fail kind, int errnum,
		const char *fmt, ...) MR_PRINTF(4, 5);

/* A list of problem texts (config-check prints them all). */
struct mr_msgs {
	char **v;
	size_t n;
};

void mr_msgs_add(struct mr_msgs *m, const char *fmt, ...) MR_PRINTF(2, 3);
void mr_msgs_free(struct mr_msgs *m);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) MR_PRINTF(1, 2);

struct mr_buf {
	char *data; /* NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
};

void buf_init(struct mr_buf *b);
void buf_reset(struct mr_buf *b);
void buf_free(struct mr_buf *b);
void buf_append(struct mr_buf *b, const void *p, size_t n);
void buf_puts(struct mr_buf *b, const char *s);
void buf_printf(struct mr_buf *b, const char *fmt, ...) MR_PRINTF(2, 3);
/* Takes the data out of b (caller frees), leaving b empty. */
char *buf_steal(struct mr_buf *b, size_t *len_r);

/* ASCII lower-casing (addresses and domains; non-ASCII bytes untouched). */
void mr_lower(char *s);
char *mr_lower_dup(const char *s);
int mr_streq_ci(const char *a, const char *b);
/* 1 if a[0..n) and b[0..n) are equal but for ASCII case. */
int mr_memeq_ci(const char *a, const char *b, size_t n);
/* 1 if s equals one of v[0..n) but for ASCII case (NULL items skipped). */
int mr_strv_has_ci(char *const *v, size_t n, const char *s);

/* A short printable copy of s for a problem text, between two quote
 * characters: at most MR_SHOW_MAX bytes, control bytes as '?', "..." when
 * cut (never inside a UTF-8 sequence). Operator data only, never a
 * requester's address. Returns out. */
#define MR_SHOW_MAX 80
#define MR_SHOW_SIZE (MR_SHOW_MAX + 8)
const char *mr_show(const char *s, char out[MR_SHOW_SIZE], char quote);

/* FNV-1a hash of a string, for hash tables. */
size_t mr_hash_str(const char *s);

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
int mr_utf8_valid(const char *s, size_t n);

/* Read a whole regular file (no symlinks) of at most max bytes. The
 * buffer gets two extra NUL bytes (libetpan decoders read past the end).
 * Returns 0 or -1 with err set. */
int mr_read_file(const char *path, size_t max, char **data_r, size_t *len_r,
		 struct mr_err *err);

/* One piece of a file that mr_write_parts_atomic writes. */
struct mr_part {
	const void *data;
	size_t len;
};

/* mr_write_opts flags: never replace path (link(2), EEXIST); a failed
 * fsync of the folder is no error (a cache: the rename is done). */
#define MR_WRITE_NEW 0x1
#define MR_WRITE_SOFT_DIRSYNC 0x2

/* How mr_write_parts_atomic writes. Set every field: uid 0 is root. */
struct mr_write_opts {
	mode_t mode;       /* exact (fchmod(2)), whatever the umask */
	uid_t uid;         /* owner (fchown(2)); (uid_t)-1 keeps ours */
	gid_t gid;         /* group; (gid_t)-1 keeps ours */
	int flags;         /* MR_WRITE_* */
	enum mr_fail kind; /* of every error */
	const char *what;  /* prefix of every error text, or NULL */
};

/* Write parts[0..n) in turn (never copied into one buffer) to
 * path.tmp.PID with o's owner and mode, fsync it, check its size, then
 * rename(2) it to path, or with MR_WRITE_NEW link(2) it so that an
 * existing path is kept (the error then says EEXIST), and fsync the
 * folder. With MR_WRITE_NEW the temp file is made with O_EXCL, so a
 * stale one (a crash) is an error, left for the operator; otherwise an
 * old one of ours is truncated. Our temp file never stays behind. The
 * folder must exist. 0, or -1 with err (o->kind, o->what first). */
int mr_write_parts_atomic(const char *path, const struct mr_part *parts,
			  size_t n, const struct mr_write_opts *o,
			  struct mr_err *err);

/* mr_write_parts_atomic of one part, replacing path, our owner, errors
 * MR_TEMP. */
int mr_write_file_atomic(const char *path, const void *data, size_t len,
			 mode_t mode, struct mr_err *err);

/* read(2) until n bytes or end of file, retrying EINTR; *got_r tells how
 * many were read, also on error. 0, or -1 with errno. */
int mr_read_full(int fd, void *buf, size_t n, size_t *got_r);

/* write(2) all n bytes, retrying EINTR and short writes; 0 or -1 with
 * errno. */
int mr_write_all(int fd, const void *data, size_t n);

/* The folder part of path (caller frees): "." when there is no '/', "/"
 * for a file in the root. */
char *mr_dir_dup(const char *path);

/* Create the missing folders above path with mode (an existing one is
 * left as it is); 0 or -1 with errno. */
int mr_mkdir_parents(const char *path, mode_t mode);

/* fsync a directory by path; 0 or -1 with errno. */
int mr_fsync_dir(const char *path);

/* The wall clock (time(2)), shifted by the MAILRESPONDER_CLOCK_OFFSET_S
 * environment variable when a test sets it (day-boundary tests). */
time_t mr_time(void);

/* Milliseconds since an arbitrary start (CLOCK_MONOTONIC). */
long long mr_now_ms(void);

/* Parse a non-negative decimal integer (whole string); 0 ok, -1 bad. */
int mr_parse_long(const char *s, long *out);

/* Path join: dir + "/" + name, unless name is absolute. */
char *mr_path_join(const char *dir, const char *name);

/* Host name (for Maildir unique names and the default authserv-id). */
const char *mr_hostname(void);

#endif
