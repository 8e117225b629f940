/* scan.c - stream the spool directories (contract: md.h)
 *
 * Each call opens its own DIR (fdopendir of a fresh openat(fd, ".")),
 * so calls from several threads do not share a position. md_counts
 * counts an entry that vanishes between readdir and lstat.
 */
#include "md_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int md_is_claimed_name(const char *name)
{
	const char *p = strchr(name, ':');

	return p != NULL && strcmp(p, ":2,") == 0;
}

void md_uniq_of(const char *name, char uniq[MD_NAME_MAX])
{
	size_t n = strcspn(name, ":");

	if (n >= MD_NAME_MAX)
		n = MD_NAME_MAX - 1;
	memcpy(uniq, name, n);
	uniq[n] = 0;
}

int md_name_ok(const char *name)
{
	return name != NULL && name[0] != 0 && name[0] != '.' &&
	       strchr(name, '/') == NULL && strlen(name) < MD_NAME_MAX;
}

static DIR *dir_open(const struct md_dir *d, struct mr_err *err)
{
	DIR *dir;
	int fd;

	/* a fresh open file description: its own readdir position */
	fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		mr_err_sys(err, MR_TEMP, errno, "open(%s)", d->label);
		return NULL;
	}
	dir = fdopendir(fd);
	if (dir == NULL) {
		mr_err_sys(err, MR_TEMP, errno, "fdopendir(%s)", d->label);
		if (close(fd) < 0)
			log_warn("close(%s): %s", d->label,
				 log_strerror(errno));
	}
	return dir;
}

int md_walk(const struct md_dir *d, md_walk_fn fn, void *arg,
	    struct mr_err *err)
{
	struct dirent *de;
	DIR *dir;
	int ret = 0;

	if ((dir = dir_open(d, err)) == NULL)
		return -1;
	for (;;) {
		errno = 0;
		if ((de = readdir(dir)) == NULL) {
			if (errno != 0) {
				mr_err_sys(err, MR_TEMP, errno, "readdir(%s)",
					   d->label);
				ret = -1;
			}
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		if (fn(dirfd(dir), de->d_name, arg) != 0) {
			ret = 1;
			break;
		}
	}
	if (closedir(dir) < 0 && ret >= 0) {
		mr_err_sys(err, MR_TEMP, errno, "closedir(%s)", d->label);
		ret = -1;
	}
	return ret;
}

struct scan_ctx {
	md_keep_fn keep;
	void *arg;
	char (*names)[MD_NAME_MAX];
	size_t max;
	size_t n;
};

static int scan_one(int dirfd, const char *name, void *arg)
{
	struct scan_ctx *c = arg;
	size_t len = strlen(name);

	if (len >= MD_NAME_MAX)
		return 0;
	if (c->keep != NULL && !c->keep(dirfd, name, c->arg))
		return 0;
	memcpy(c->names[c->n++], name, len + 1);
	return c->n >= c->max;
}

int md_scan_dir(const struct md_dir *d, md_keep_fn keep, void *arg,
		char (*names)[MD_NAME_MAX], size_t max, size_t *n_r,
		struct mr_err *err)
{
	struct scan_ctx c = {keep, arg, names, max, *n_r};

	if (c.n >= max)
		return 0;
	if (md_walk(d, scan_one, &c, err) < 0)
		return -1;
	*n_r = c.n;
	return 0;
}

/* md_scan's filter: the caller's skip() plus, in cur/, claimed names. */
struct skip_ctx {
	md_skip_fn skip;
	void *arg;
	int claimed_only;
};

static int scan_keep(int dirfd, const char *name, void *arg)
{
	const struct skip_ctx *s = arg;

	(void)dirfd; /* names only */
	if (s->claimed_only && !md_is_claimed_name(name))
		return 0;
	return s->skip == NULL || s->skip(name, s->arg) == 0;
}

int md_scan(struct md_spool *sp, enum md_where where, md_skip_fn skip,
	    void *arg, char (*names)[MD_NAME_MAX], size_t max, size_t *n_r,
	    struct mr_err *err)
{
	struct skip_ctx s = {skip, arg, where == MD_CLAIMED};
	size_t n = 0;
	int r;

	*n_r = 0;
	switch (where) {
	case MD_NEW:
		r = md_scan_dir(&sp->new_d, scan_keep, &s, names, max, &n, err);
		break;
	case MD_CLAIMED:
		r = md_scan_dir(&sp->cur_d, scan_keep, &s, names, max, &n, err);
		break;
	case MD_FAILED_DIR:
		r = md_scan_dir(&sp->fnew_d, scan_keep, &s, names, max, &n,
				err);
		if (r == 0)
			r = md_scan_dir(&sp->fcur_d, scan_keep, &s, names, max,
					&n, err);
		break;
	default:
		mr_err_set(err, MR_PERM, "md_scan: bad directory %d",
			   (int)where);
		return -1;
	}
	*n_r = n;
	return r;
}

struct count_ctx {
	struct md_counts *c;
	int have_oldest;
};

static int count_new(int dirfd, const char *name, void *arg)
{
	struct count_ctx *k = arg;
	struct stat st;

	k->c->n_new++;
	/* gone already (claimed): it still was there when read */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (!k->have_oldest || st.st_mtime < k->c->oldest_new) {
		k->c->oldest_new = st.st_mtime;
		k->have_oldest = 1;
	}
	return 0;
}

static int count_claimed(int dirfd, const char *name, void *arg)
{
	struct md_counts *c = arg;

	(void)dirfd; /* names only */
	if (md_is_claimed_name(name))
		c->n_claimed++;
	return 0;
}

static int count_failed(int dirfd, const char *name, void *arg)
{
	struct md_counts *c = arg;
	struct stat st;

	c->n_failed++;
	/* gone already (reprocessed): it still was there when read */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	c->failed_bytes += st.st_size;
	if (c->oldest_failed == 0 || st.st_mtime < c->oldest_failed)
		c->oldest_failed = st.st_mtime;
	return 0;
}

int md_counts(struct md_spool *sp, struct md_counts *c, struct mr_err *err)
{
	struct count_ctx k;

	memset(c, 0, sizeof(*c));
	k = (struct count_ctx){c, 0};
	if (md_walk(&sp->new_d, count_new, &k, err) < 0 ||
	    md_walk(&sp->cur_d, count_claimed, c, err) < 0 ||
	    md_walk(&sp->fnew_d, count_failed, c, err) < 0 ||
	    md_walk(&sp->fcur_d, count_failed, c, err) < 0)
		return -1;
	return 0;
}
