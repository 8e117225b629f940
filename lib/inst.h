/* inst.h - one-time host setup: service user, folders, sample configs
 * SYNOPSIS     int inst_user(const char *name, const char *home, int create,
 *                            struct inst_user *u, struct mr_err *err);
 *              int inst_copy_new(const char *src, const char *dst,
 *                                mode_t mode, struct mr_err *err);
 *              size_t inst_folders(const struct set *s,
 *                                  const struct inst_user *u,
 *                                  struct mr_msgs *done,
 *                                  struct mr_msgs *problems);
 * DESCRIPTION  What "mailresponder setup" does, idempotently: find or
 *              create the service user (useradd --system through
 *              posix_spawn with an argv, its exit status checked), copy
 *              the samples when the files are absent, and create the
 *              folders the settings name with the owner and mode the
 *              service needs. Folders are made with mkdir(2) and then
 *              given their owner and mode with chown/chmod, so the umask
 *              does not matter; missing parents are created root-owned
 *              0755, as install -d would. A folder that exists with
 *              another owner is fixed only when it is empty (a folder
 *              named by mistake, such as /var/log, is never taken over):
 *              otherwise a problem names the folder and the fix.
 * DIAGNOSTICS  inst_user: 1 found, 2 created, 0 absent, -1 with err.
 *              inst_copy_new: 1 copied, 0 was there, -1 with err.
 *              inst_folders returns the number of problems it appended.
 *              Errors are MR_PERM (setup is run by hand and fixed by hand).
 * SEE ALSO     settings.h, priv.h; mailresponder(8) setup
 */
#ifndef MR_INST_H
#define MR_INST_H

#include <sys/types.h>

#include "mr.h"

struct set;

struct inst_user {
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Look the user up; when absent and create is set, add it as a system
 * user with its own group, home, no login shell. 1 found, 2 created,
 * 0 absent (create not set), -1 error. */
int inst_user(const char *name, const char *home, int create,
	      struct inst_user *u, struct mr_err *err);

/* Copy src to dst (mode, owner root) unless dst exists: 1 copied, 0 was
 * there, -1 error. The parent folder is created (0755) when missing. */
int inst_copy_new(const char *src, const char *dst, mode_t mode,
		  struct mr_err *err);

/* The folder holding the installed samples: <exe>/../share/mailresponder
 * when that exists, else MR_SHAREDIR (the build's PREFIX). Caller frees. */
char *inst_share_dir_dup(void);

/* The state folder (store, event key): the service user's home. */
char *inst_state_dir_dup(const struct set *s);

/* Create or fix every folder the settings name: the spool with tmp/,
 * new/, cur/ and the failed folder (service user, 0700), the folders of
 * the SQLite store, the event key and the event log (service user, 0700),
 * a maildir: transport_override (service user, 0700) and the attachments
 * (root, service group, 0750). One line per folder in done ("created
 * PATH ...", "ok PATH"). */
size_t inst_folders(const struct set *s, const struct inst_user *u,
		    struct mr_msgs *done, struct mr_msgs *problems);

#endif
