/* inst.c - one-time host setup (contract: inst.h)
 *
 * Each folder is visited once (the seen list), however many settings name
 * it.
 */
#include "inst.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "settings.h"

#ifndef MR_SHAREDIR
#define MR_SHAREDIR "/usr/local/share/mailresponder"
#endif

#define USERADD "/usr/sbin/useradd"

extern char **environ;

static int user_get(const char *name, struct inst_user *u, struct mr_err *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);

	if (r != 0) {
		mr_err_sys(err, MR_PERM, r, "getpwnam(%s)", name);
		return -1;
	}
	if (res == NULL)
		return 0;
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	(void)snprintf(u->name, sizeof(u->name), "%s", name); /* checked */
	return 1;
}

static int user_add(const char *name, const char *home, struct mr_err *err)
{
	char *argv[] = {"useradd",    "--system",          "--user-group",
			"--home-dir", (char *)home,        "--no-create-home",
			"--shell",    "/usr/sbin/nologin", (char *)name,
			NULL};
	pid_t pid;
	int st, r;

	r = posix_spawn(&pid, USERADD, NULL, NULL, argv, environ);
	if (r != 0) {
		mr_err_sys(err, MR_PERM, r, "posix_spawn(%s)", USERADD);
		return -1;
	}
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		mr_err_sys(err, MR_PERM, errno, "waitpid(useradd)");
		return -1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		mr_err_set(err, MR_PERM,
			   "useradd %s failed (status %d); see its message "
			   "above",
			   name, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return -1;
	}
	return 0;
}

int inst_user(const char *name, const char *home, int create,
	      struct inst_user *u, struct mr_err *err)
{
	int r;

	if (strlen(name) >= sizeof(u->name) || name[0] == '-' ||
	    strchr(name, ':') != NULL || strchr(name, '/') != NULL) {
		mr_err_set(err, MR_PERM, "user %.64s: not a usable user name",
			   name);
		return -1;
	}
	r = user_get(name, u, err);
	if (r != 0 || !create)
		return r;
	if (user_add(name, home, err) < 0)
		return -1;
	r = user_get(name, u, err);
	if (r == 0)
		mr_err_set(err, MR_PERM, "useradd %s: user still unknown",
			   name);
	return r == 1 ? 2 : -1;
}

/* mkdir -p of the parents of path, root 0755 (like install -d). */
static int parents(const char *path, struct mr_err *err)
{
	if (mr_mkdir_parents(path, 0755) < 0) {
		mr_err_sys(err, MR_PERM, errno, "mkdir(parents of %s)", path);
		return -1;
	}
	return 0;
}

int inst_copy_new(const char *src, const char *dst, mode_t mode,
		  struct mr_err *err)
{
	struct stat st;
	size_t len = 0;
	char *data;
	int rc;

	if (lstat(dst, &st) == 0)
		return 0;
	if (errno != ENOENT) {
		mr_err_sys(err, MR_PERM, errno, "stat(%s)", dst);
		return -1;
	}
	if (mr_read_file(src, (size_t)16 << 20, &data, &len, err) < 0)
		return -1;
	rc = parents(dst, err);
	if (rc == 0)
		rc = mr_write_file_atomic(dst, data, len, mode, err);
	free(data);
	return rc < 0 ? -1 : 1;
}

char *inst_share_dir_dup(void)
{
	char exe[PATH_MAX], *share, *bin, *prefix;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct stat st;

	if (n <= 0)
		return xstrdup(MR_SHAREDIR);
	exe[n] = 0;
	bin = mr_dir_dup(exe);
	prefix = mr_dir_dup(bin);
	share = mr_path_join(prefix,
			     "share/mailresponder/settings.sample.json");
	free(bin);
	free(prefix);
	if (stat(share, &st) == 0) {
		share[strlen(share) - strlen("/settings.sample.json")] = 0;
		return share;
	}
	free(share);
	return xstrdup(MR_SHAREDIR);
}

char *inst_state_dir_dup(const struct set *s)
{
	if (strncmp(s->store, "sqlite:", 7) == 0)
		return mr_dir_dup(s->store + 7);
	return mr_dir_dup(s->event_key);
}

/* ---- folders ---- */

static int dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	(void)closedir(d); /* read-only */
	return empty;
}

struct want {
	uid_t uid;
	gid_t gid;
	mode_t mode;
	const char *owner; /* "user:group" for messages */
};

static int give(const char *path, const struct want *w, struct mr_err *err)
{
	if (chown(path, w->uid, w->gid) < 0 || chmod(path, w->mode) < 0) {
		mr_err_sys(err, MR_PERM, errno, "chown/chmod(%s)", path);
		return -1;
	}
	return 0;
}

/* A new folder with its parents, then its owner and mode. */
static int make_dir(const char *path, const struct want *w, struct mr_err *err)
{
	if (parents(path, err) < 0)
		return -1;
	if (mkdir(path, 0700) < 0) {
		mr_err_sys(err, MR_PERM, errno, "mkdir(%s)", path);
		return -1;
	}
	return give(path, w, err);
}

/* One folder: "created", "fixed", "ok", or a problem. */
static void one_dir(const char *path, const struct want *w,
		    struct mr_msgs *done, struct mr_msgs *problems)
{
	struct stat st;
	struct mr_err err;

	mr_err_clear(&err);
	if (lstat(path, &st) < 0 && errno == ENOENT) {
		if (make_dir(path, w, &err) < 0)
			mr_msgs_add(problems, "%s", err.text);
		else
			mr_msgs_add(done, "created %s (%s %04o)", path,
				    w->owner, (unsigned)w->mode);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		mr_msgs_add(problems, "%s: exists and is not a folder%s", path,
			    S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
		return;
	}
	if (st.st_uid == w->uid && st.st_gid == w->gid &&
	    (st.st_mode & 07777) == w->mode) {
		mr_msgs_add(done, "ok %s (%s %04o)", path, w->owner,
			    (unsigned)w->mode);
		return;
	}
	/* ours already, or empty: safe to give to the service */
	if (st.st_uid == w->uid || dir_empty(path)) {
		if (give(path, w, &err) < 0)
			mr_msgs_add(problems, "%s", err.text);
		else
			mr_msgs_add(done, "fixed %s (%s %04o)", path, w->owner,
				    (unsigned)w->mode);
		return;
	}
	mr_msgs_add(problems,
		    "%s: exists, owner %u:%u mode %04o, and is not empty; if "
		    "it is the service's own folder run \"chown -R %s %s && "
		    "chmod %04o %s\", else name a folder of its own in the "
		    "settings",
		    path, (unsigned)st.st_uid, (unsigned)st.st_gid,
		    (unsigned)(st.st_mode & 07777), w->owner, path,
		    (unsigned)w->mode, path);
}

/* one_dir once per distinct path */
static void dir_once(const char *path, const struct want *w,
		     struct mr_msgs *seen, struct mr_msgs *done,
		     struct mr_msgs *problems)
{
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->v[i], path) == 0)
			return;
	mr_msgs_add(seen, "%s", path);
	one_dir(path, w, done, problems);
}

static void file_dir(const char *file, const struct want *w,
		     struct mr_msgs *seen, struct mr_msgs *done,
		     struct mr_msgs *problems)
{
	char *dir = mr_dir_dup(file);

	dir_once(dir, w, seen, done, problems);
	free(dir);
}

size_t inst_folders(const struct set *s, const struct inst_user *u,
		    struct mr_msgs *done, struct mr_msgs *problems)
{
	static const char *const sub[] = {"tmp", "new", "cur"};
	char owner[160], group[160];
	struct want svc = {u->uid, u->gid, 0700, owner};
	struct want att = {0, u->gid, 0750, group};
	struct mr_msgs seen = {NULL, 0};
	size_t n0 = problems->n;

	(void)snprintf(owner, sizeof(owner), "%s:%u", u->name,
		       (unsigned)u->gid); /* fits */
	(void)snprintf(group, sizeof(group), "root:%u",
		       (unsigned)u->gid); /* fits */
	dir_once(s->spool, &svc, &seen, done, problems);
	for (size_t i = 0; i < 3; i++) {
		char *p = mr_path_join(s->spool, sub[i]);

		dir_once(p, &svc, &seen, done, problems);
		free(p);
	}
	if (strncmp(s->store, "sqlite:", 7) == 0)
		file_dir(s->store + 7, &svc, &seen, done, problems);
	file_dir(s->event_key, &svc, &seen, done, problems);
	if (strcmp(s->event_log, "stderr") != 0 &&
	    strcmp(s->event_log, "syslog") != 0)
		file_dir(s->event_log, &svc, &seen, done, problems);
	if (s->transport_override != NULL &&
	    strncmp(s->transport_override, "maildir:", 8) == 0)
		dir_once(s->transport_override + 8, &svc, &seen, done,
			 problems);
	dir_once(s->attachments_dir, &att, &seen, done, problems);
	mr_msgs_free(&seen);
	return problems->n - n0;
}
