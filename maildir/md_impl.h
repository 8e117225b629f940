/* md_impl.h - private parts of the spool module (md.h), shared by maildir/
 * SYNOPSIS     #include "md_impl.h"  (the maildir/ files only)
 *              int md_move(const struct md_dir *from, const char *name,
 *                          const struct md_dir *to, const char *uniq,
 *                          const char *suffix, char uniq_r[MD_NAME_MAX],
 *                          struct mr_err *err);
 *              int md_walk(const struct md_dir *d, md_walk_fn fn,
 *                          void *arg, struct mr_err *err);
 *              int md_sync_dir(const struct md_dir *d, struct mr_err *err);
 * DESCRIPTION  The body of struct md_spool and the helpers that more than
 *              one stage needs: walking a directory, scanning it into a
 *              bounded batch, moving an entry without replacing anything,
 *              and fsync of a directory. The struct is read-only after
 *              md_spool_open() except lock_fd, which only the main thread
 *              touches (md_lock, md_unlock); every other access goes
 *              through *at() calls on the directory fds, which are safe
 *              from several threads.
 *              md_move is one renameat2() with RENAME_NOREPLACE between two
 *              directory fds. A plain rename(2) silently replaces the
 *              target, so two messages that share a unique name (a buggy
 *              or restored deliverer, a message failed twice) would lose
 *              one; here the second one gets a fresh name "<uniq>.<hex>"
 *              (md_uniq_fresh: getrandom(2), thread-safe; a counter, the
 *              pid and the clock stand in if it ever fails). Renames never
 *              follow symlinks, so a symlink, FIFO or directory moves like
 *              any file.
 * DIAGNOSTICS  md_move: 1 moved, 0 the source is gone (another process
 *              took it), -1 with err (MR_TEMP). The others: 0, or -1 with
 *              err (MR_TEMP).
 * SEE ALSO     md.h, design.md s.3, rename(2)
 */
#ifndef MR_MD_IMPL_H
#define MR_MD_IMPL_H

#include <stddef.h>

#include "md.h"
#include "mr.h"

#define MD_LOCK_NAME ".mailresponder.lock"
#define MD_DEFAULT_FAILED ".Failed"
/* Longest unique name we create: uniq ":2,RS" must fit in NAME_MAX. */
#define MD_UNIQ_MAX (NAME_MAX - 5)
#define MD_FRESH_HEX 16  /* hex digits appended to make a fresh name */
#define MD_MOVE_TRIES 16 /* fresh names tried before giving up */

/* A directory of the spool: its O_DIRECTORY fd and a label for errors
 * ("new", ".Failed/cur"). */
struct md_dir {
	int fd;
	char *label;
};

struct md_spool {
	char *path;
	char *new_path;
	int dir_fd; /* the spool itself */
	struct md_dir new_d;
	struct md_dir cur_d;
	struct md_dir fnew_d; /* <failed>/new */
	struct md_dir fcur_d; /* <failed>/cur */
	int lock_fd;          /* -1 unless we hold the lock; main thread only */
};

/* Called for each entry not starting with '.'; non-zero stops the walk. */
typedef int (*md_walk_fn)(int dirfd, const char *name, void *arg);

/* One fresh readdir pass over d. 0 done, 1 stopped by fn, -1 err. */
int md_walk(const struct md_dir *d, md_walk_fn fn, void *arg,
	    struct mr_err *err);

/* Called with the directory fd and a name; non-zero keeps the name. */
typedef int (*md_keep_fn)(int dirfd, const char *name, void *arg);

/* Append up to max - *n_r names of d that keep() accepts (all when keep
 * is NULL) to names[*n_r...]; *n_r is updated. 0 or -1 with err. */
int md_scan_dir(const struct md_dir *d, md_keep_fn keep, void *arg,
		char (*names)[MD_NAME_MAX], size_t max, size_t *n_r,
		struct mr_err *err);

/* 1 if name is "<uniq>:2," with nothing after the first ':' but "2,". */
int md_is_claimed_name(const char *name);

/* Copy name up to its first ':' into uniq (MD_NAME_MAX bytes). */
void md_uniq_of(const char *name, char uniq[MD_NAME_MAX]);

/* 1 if name is usable as an entry name: not empty, no '/', no leading
 * '.', shorter than MD_NAME_MAX. */
int md_name_ok(const char *name);

/* A fresh unique name: base (cut so that the result stays within
 * MD_UNIQ_MAX) followed by "." and random hex. Thread-safe. */
void md_uniq_fresh(const char *base, char out[MD_NAME_MAX]);

/* rename from/<name> to to/<uniq><suffix> with RENAME_NOREPLACE. When the
 * target exists (or uniq is empty or too long) a fresh unique name is
 * used instead. uniq_r receives the unique name used. 1 moved, 0 the
 * source is gone (ENOENT), -1 error (MR_TEMP). Never fsyncs. */
int md_move(const struct md_dir *from, const char *name,
	    const struct md_dir *to, const char *uniq, const char *suffix,
	    char uniq_r[MD_NAME_MAX], struct mr_err *err);

/* fsync(d->fd); 0 or -1 with err (MR_TEMP). */
int md_sync_dir(const struct md_dir *d, struct mr_err *err);

#endif
