/* spool.c - the spool's directories (contract: md.h)
 *
 * O_DIRECTORY fds are kept for the spool, new/, cur/ and the failure
 * folder's new/ and cur/; every later operation is an *at() call relative
 * to them.
 */
#include "md_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int folder_name_ok(const char *f)
{
	return f[0] == '.' && strcmp(f, ".") != 0 && strcmp(f, "..") != 0 &&
	       strchr(f, '/') == NULL && strlen(f) <= NAME_MAX;
}

static void close_fd(int *fd, const char *what)
{
	if (*fd >= 0 && close(*fd) < 0)
		log_warn("close(%s): %s", what, log_strerror(errno));
	*fd = -1;
}

/* mkdirat + open O_DIRECTORY|O_NOFOLLOW of parent/name; "what" names it
 * in errors. A directory we create is made durable in its parent. */
static int subdir_open(int parent, const char *name, const char *what,
		       struct mr_err *err)
{
	int created = mkdirat(parent, name, 0700) == 0;
	int fd;

	if (!created && errno != EEXIST) {
		mr_err_sys(err, MR_TEMP, errno, "mkdir(%s)", what);
		return -1;
	}
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		mr_err_sys(err, errno == ELOOP ? MR_PERM : MR_TEMP, errno,
			   "open(%s)", what);
		return -1;
	}
	if (created && fsync(parent) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "fsync(parent of %s)", what);
		close_fd(&fd, what);
		return -1;
	}
	return fd;
}

/* Open (creating) parent/{tmp,new,cur}; keep new/ and cur/. */
static int maildir_open(int parent, const char *base, struct md_dir *new_d,
			struct md_dir *cur_d, struct mr_err *err)
{
	char *tmp_label = xasprintf("%s%stmp", base, base[0] ? "/" : "");
	int fd = subdir_open(parent, "tmp", tmp_label, err);
	int ok = fd >= 0;

	close_fd(&fd, tmp_label);
	free(tmp_label);
	if (!ok)
		return -1;
	new_d->fd = subdir_open(parent, "new", new_d->label, err);
	if (new_d->fd < 0)
		return -1;
	cur_d->fd = subdir_open(parent, "cur", cur_d->label, err);
	return cur_d->fd < 0 ? -1 : 0;
}

/* The Maildir++ marker: an empty file "maildirfolder". */
static int marker_create(int folder_fd, const char *failed, struct mr_err *err)
{
	int fd = openat(folder_fd, "maildirfolder",
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);

	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		mr_err_sys(err, MR_TEMP, errno, "create(%s/maildirfolder)",
			   failed);
		return -1;
	}
	if (close(fd) < 0 || fsync(folder_fd) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "create(%s/maildirfolder)",
			   failed);
		return -1;
	}
	return 0;
}

/* fsync the directory holding path (trailing slashes ignored). */
static int parent_sync(const char *path, struct mr_err *err)
{
	size_t len = strlen(path);
	const char *slash;
	char *parent;
	int r;

	while (len > 1 && path[len - 1] == '/')
		len--;
	parent = xstrndup(path, len);
	slash = strrchr(parent, '/');
	if (slash == NULL) {
		free(parent);
		parent = xstrdup(".");
	} else {
		parent[slash == parent ? 1 : (size_t)(slash - parent)] = 0;
	}
	if ((r = mr_fsync_dir(parent)) < 0)
		mr_err_sys(err, MR_TEMP, errno, "fsync(%s)", parent);
	free(parent);
	return r;
}

static int spool_dirs_open(struct md_spool *sp, const char *failed,
			   struct mr_err *err)
{
	int ffd;
	int ret;

	if (mkdir(sp->path, 0700) == 0) {
		if (parent_sync(sp->path, err) < 0)
			return -1;
	} else if (errno != EEXIST) {
		mr_err_sys(err, MR_TEMP, errno, "mkdir(%s)", sp->path);
		return -1;
	}
	/* the spool path itself may be a symlink: no O_NOFOLLOW here */
	sp->dir_fd = open(sp->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dir_fd < 0) {
		mr_err_sys(err, MR_TEMP, errno, "open(%s)", sp->path);
		return -1;
	}
	if (maildir_open(sp->dir_fd, "", &sp->new_d, &sp->cur_d, err) < 0)
		return -1;
	if ((ffd = subdir_open(sp->dir_fd, failed, failed, err)) < 0)
		return -1;
	ret = maildir_open(ffd, failed, &sp->fnew_d, &sp->fcur_d, err);
	if (ret == 0)
		ret = marker_create(ffd, failed, err);
	close_fd(&ffd, failed);
	return ret;
}

struct md_spool *md_spool_open(const char *path, const char *failed_folder,
			       struct mr_err *err)
{
	const char *failed = failed_folder ? failed_folder : MD_DEFAULT_FAILED;
	struct md_spool *sp;

	mr_err_clear(err);
	if (!folder_name_ok(failed)) {
		mr_err_set(err, MR_PERM,
			   "failure folder \"%s\": must be one name "
			   "starting with '.'",
			   failed);
		return NULL;
	}
	sp = xcalloc(1, sizeof(*sp));
	sp->dir_fd = sp->new_d.fd = sp->cur_d.fd = -1;
	sp->fnew_d.fd = sp->fcur_d.fd = sp->lock_fd = -1;
	sp->path = xstrdup(path);
	sp->new_path = xasprintf("%s/new", path);
	sp->new_d.label = xstrdup("new");
	sp->cur_d.label = xstrdup("cur");
	sp->fnew_d.label = xasprintf("%s/new", failed);
	sp->fcur_d.label = xasprintf("%s/cur", failed);
	if (spool_dirs_open(sp, failed, err) < 0)
		md_spool_close(&sp);
	return sp;
}

static void dir_close(struct md_dir *d)
{
	close_fd(&d->fd, d->label);
	free(d->label);
	d->label = NULL;
}

void md_spool_close(struct md_spool **spp)
{
	struct md_spool *sp = *spp;

	if (sp == NULL)
		return;
	md_unlock(sp);
	dir_close(&sp->new_d);
	dir_close(&sp->cur_d);
	dir_close(&sp->fnew_d);
	dir_close(&sp->fcur_d);
	close_fd(&sp->dir_fd, sp->path);
	free(sp->path);
	free(sp->new_path);
	free(sp);
	*spp = NULL;
}

const char *md_spool_path(const struct md_spool *sp)
{
	return sp->path;
}

const char *md_new_path(const struct md_spool *sp)
{
	return sp->new_path;
}
