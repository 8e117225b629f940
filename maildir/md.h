/* md.h - the spool: a Maildir with a failure folder (design.md s.3)
 * SYNOPSIS     struct md_spool *md_spool_open(const char *path,
 *                      const char *failed_folder, struct mr_err *err);
 *              int md_lock(struct md_spool *sp, int wait,
 *                      struct mr_err *err);
 *              int md_scan(struct md_spool *sp, enum md_where where,
 *                      md_skip_fn skip, void *arg,
 *                      char (*names)[MD_NAME_MAX], size_t max,
 *                      size_t *n_r, struct mr_err *err);
 *              int md_claim(struct md_spool *sp, const char *name,
 *                      struct md_entry *ent, struct mr_err *err);
 *              int md_open(struct md_spool *sp, const struct md_entry *ent,
 *                      struct mr_err *err);
 *              int md_finish(struct md_spool *sp,
 *                      const struct md_entry *ent, enum md_state state,
 *                      struct mr_err *err);
 *              int md_reprocess(struct md_spool *sp, const char *name,
 *                      time_t newer_than, time_t older_than,
 *                      size_t *moved_r, struct mr_err *err);
 *              int md_expire(struct md_spool *sp, time_t now, ...);
 *              struct md_watch *md_watch_open(struct md_spool *sp,
 *                      struct mr_err *err);
 * DESCRIPTION  States: new/<uniq> delivered; cur/<uniq>:2, claimed;
 *              cur/<uniq>:2,RS replied; cur/<uniq>:2,S ignored;
 *              <failed>/new/<uniq> failed; back to new/<uniq> for a retry.
 *              md_spool_open creates what is missing (mode 0700, each
 *              creation fsynced in its parent): the spool directory itself
 *              (not its parents), tmp/, new/, cur/, and the Maildir++
 *              failure folder <failed>/{tmp,new,cur} with its
 *              "maildirfolder" marker; opening an existing spool changes
 *              nothing. The spool path may be a symlink; nothing inside it
 *              is ever followed (a symlinked new/ or .Failed/ is refused).
 *              failed_folder NULL means ".Failed"; it must be one path
 *              component starting with '.'.
 *              A claim is one renameat2(new/NAME, cur/UNIQ:2,): whoever's
 *              rename wins owns the message, the others get 0. The claim
 *              is not fsynced: a claim lost in a crash leaves the message
 *              in new/, where it is claimed again. md_adopt takes over
 *              cur/UNIQ:2, left by a dead run. Every rename uses
 *              RENAME_NOREPLACE; when the target name is taken (a
 *              unique-name collision) the message gets a fresh unique name
 *              "<uniq>.<hex>" instead of overwriting (ent->uniq says
 *              which). md_finish fsyncs the directory the message landed
 *              in: the state is durable when it returns; md_finish_nosync
 *              leaves that to md_sync (group commit). Any entry type moves
 *              (a symlink moves as a link, never followed).
 *              Names starting with '.' are never touched. md_open checks
 *              with lstat that the entry is a regular file, opens it with
 *              O_NOFOLLOW|O_NONBLOCK and checks the fd is that same file:
 *              a symlink, FIFO, socket, device or directory dropped into
 *              the spool is never followed, read or blocked on.
 *              md_scan reads a directory once, from the start, with its
 *              own DIR, and renames nothing. In new/ every entry is
 *              returned whatever its type (it must still reach a final
 *              state); in cur/ only claimed names. md_counts walks the
 *              same way, for stats.
 *              md_reprocess moves entries of <failed>/new and
 *              <failed>/cur back to new/UNIQ (":2,..." dropped), in
 *              bounded batches, at most as many as matched when it
 *              started (a message that fails again at once cannot keep it
 *              busy), and fsyncs new/ once at the end.
 *              md_expire removes (unlink) requests in their final state
 *              long enough, by inode change time (the final rename sets
 *              it, so a request retried for days is not removed the moment
 *              it fails): they hold the requester's address in clear.
 *              Claimed entries and dot-files are never touched; only
 *              regular files are removed; each touched directory is
 *              fsynced once.
 *              One process owns a spool at a time: md_lock takes flock(2)
 *              LOCK_EX on <spool>/.mailresponder.lock (0600, never through
 *              a symlink), which goes away when the owner exits however it
 *              exits, and writes the owner's pid into it (information; the
 *              flock is the truth). md_lock_owner probes with LOCK_SH: a
 *              non-blocking md_lock racing with that brief probe can see
 *              the spool as taken. md_lock and md_unlock are for the main
 *              thread only; every other function is safe to call from
 *              several threads on one spool handle.
 *              md_watch (inotify on new/) only reports names: it never
 *              opens, parses or renames anything.
 * DIAGNOSTICS  int functions: 0 ok, -1 with err (MR_TEMP for system
 *              errors); md_claim, md_adopt: 1 ok, 0 gone (when the stat
 *              after a successful claim fails, ent->uniq and ent->cur are
 *              still filled: the message is ours and must be finished).
 *              md_lock: 1 taken, 0 held by another process.
 *              md_lock_owner: 1 found, 0 not held. md_watch_read: 1
 *              overflow (rescan), 0 ok. md_finish and md_reprocess:
 *              MR_PERM for a bad name, a vanished message, or a name that
 *              is not in the failure folder. md_expire: an entry that
 *              vanished meanwhile is not an error.
 * SEE ALSO     md_impl.h, wq.h, expire.h; design.md s.3, rename(2),
 *              flock(2), readdir(3)
 */
#ifndef MR_MD_H
#define MR_MD_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "mr.h"

#define MD_NAME_MAX 256 /* NAME_MAX + 1 */

struct md_spool;

enum md_state {
	MD_REPLIED = 0, /* cur/<uniq>:2,RS */
	MD_IGNORED,     /* cur/<uniq>:2,S */
	MD_FAILED,      /* <failed>/new/<uniq> */
	MD_RETRY,       /* new/<uniq> */
};

enum md_where {
	MD_NEW = 0,    /* new/: delivered, not yet handled */
	MD_CLAIMED,    /* cur/ entries whose info is exactly ":2," */
	MD_FAILED_DIR, /* <failed>/new and <failed>/cur */
};

struct md_entry {
	char uniq[MD_NAME_MAX];    /* unique name, without ":2,..." */
	char cur[MD_NAME_MAX + 8]; /* name in cur/ while claimed: uniq ":2," */
	time_t mtime;              /* mtime at claim: delivery time */
	off_t size;
};

struct md_counts {
	long n_new;
	long n_claimed;
	long n_failed;
	time_t oldest_new; /* mtime of the oldest entry in new/, 0 if none */
	long long failed_bytes; /* size of the failed folder's messages */
	time_t oldest_failed;   /* mtime of its oldest message, 0 if none */
};

/* Opens (creating when missing, mode 0700) <path>/{tmp,new,cur} and
 * <path>/<failed>/{tmp,new,cur} plus the Maildir++ maildirfolder marker. */
struct md_spool *md_spool_open(const char *path, const char *failed_folder,
			       struct mr_err *err);
void md_spool_close(struct md_spool **sp);
const char *md_spool_path(const struct md_spool *sp);

/* Take the spool lock (LOCK_EX; blocking when wait is set) and write our
 * pid into it. 1 taken, 0 held by another process, -1 error. */
int md_lock(struct md_spool *sp, int wait, struct mr_err *err);
void md_unlock(struct md_spool *sp);
/* pid of the process holding the lock: 1 found (*pid_r set), 0 nobody
 * holds it, -1 error. */
int md_lock_owner(struct md_spool *sp, pid_t *pid_r, struct mr_err *err);

/* Read up to max names from where (one fresh pass over the directory, in
 * readdir order), skipping dot-files and names for which skip (if not
 * NULL) returns non-zero. Names are copied into names[i]. The caller
 * claims them and scans again until a scan returns 0 names: renaming while
 * a directory is being read can skip entries, so no rename happens during
 * a pass. Memory is bounded by max, never by the backlog. */
typedef int (*md_skip_fn)(const char *name, void *arg);
int md_scan(struct md_spool *sp, enum md_where where, md_skip_fn skip,
	    void *arg, char (*names)[MD_NAME_MAX], size_t max, size_t *n_r,
	    struct mr_err *err);

/* Claim new/<name>: rename it to cur/<uniq>:2, (uniq = name up to its
 * first ':'). 1 claimed (ent filled), 0 the entry is gone (another process
 * won), -1 error. */
int md_claim(struct md_spool *sp, const char *name, struct md_entry *ent,
	     struct mr_err *err);
/* Take over cur/<name> left claimed by a dead run (name ends in ":2,"). 1
 * ok (ent filled), 0 gone, -1 error. */
int md_adopt(struct md_spool *sp, const char *name, struct md_entry *ent,
	     struct mr_err *err);
/* Open a claimed message for reading: lstat first (regular files only),
 * then open with O_NOFOLLOW|O_NONBLOCK and check it is the same file.
 * Returns an fd, or -1 with err (MR_PERM "not a regular file" for
 * anything else). */
int md_open(struct md_spool *sp, const struct md_entry *ent,
	    struct mr_err *err);
/* Move a claimed message to its final (or retry) state; fsyncs the
 * directory it lands in. */
int md_finish(struct md_spool *sp, const struct md_entry *ent,
	      enum md_state state, struct mr_err *err);
/* Group commit: the same rename without the fsync; the directory it
 * landed in is added to *dirs (MD_SYNC_* bits), and the state is durable
 * only after md_sync(sp, *dirs). Nothing may report the outcome before. */
#define MD_SYNC_CUR 1u
#define MD_SYNC_NEW 2u
#define MD_SYNC_FAILED 4u
int md_finish_nosync(struct md_spool *sp, const struct md_entry *ent,
		     enum md_state state, unsigned *dirs, struct mr_err *err);
/* fsync each directory named in dirs; 0 or -1 with err (the first
 * failure; the others are still tried). */
int md_sync(struct md_spool *sp, unsigned dirs, struct mr_err *err);

/* Move failed messages back to new/: name NULL = all, else the one whose
 * unique name (or file name) is name. Only messages whose mtime is in
 * [newer_than, older_than) are moved (0 = no bound). *moved_r = count. */
int md_reprocess(struct md_spool *sp, const char *name, time_t newer_than,
		 time_t older_than, size_t *moved_r, struct mr_err *err);

int md_counts(struct md_spool *sp, struct md_counts *c, struct mr_err *err);

/* Retention (expire.c): remove handled requests (cur/, flags with S) in
 * their final state for at least handled_s seconds and failed ones (the
 * failure folder) for at least failed_s, by inode change time against
 * now. fn (may be NULL) gets each removed unique name; out the counts. */
struct md_expired {
	long handled;
	long failed;
};

typedef void (*md_expired_fn)(const char *uniq, int failed, void *arg);
int md_expire(struct md_spool *sp, time_t now, long handled_s, long failed_s,
	      md_expired_fn fn, void *arg, struct md_expired *out,
	      struct mr_err *err);
/* A retention of 0: unlink the claimed message instead of renaming it
 * (the unlink is its final state). As md_finish_nosync: cur/ is added to
 * *dirs and must be synced with md_sync. */
int md_remove_claimed(struct md_spool *sp, const struct md_entry *ent,
		      unsigned *dirs, struct mr_err *err);

/* Directory paths, for inotify and tests. */
const char *md_new_path(const struct md_spool *sp);

/* The inotify watch on new/: IN_CREATE (virtual(8) delivers by link())
 * and IN_MOVED_TO. Set it up before the first scan so that nothing slips
 * between. md_watch_read() never blocks: it reads what is pending and
 * calls cb with each entry name (dot-files skipped). Returns 1 when the
 * kernel's event queue overflowed (IN_Q_OVERFLOW: the caller must rescan),
 * 0 otherwise, -1 with err. */
struct md_watch;
typedef void (*md_watch_fn)(const char *name, void *arg);
struct md_watch *md_watch_open(struct md_spool *sp, struct mr_err *err);
void md_watch_close(struct md_watch **w);
int md_watch_fd(const struct md_watch *w);
int md_watch_read(struct md_watch *w, md_watch_fn cb, void *arg,
		  struct mr_err *err);

#endif
