/* expire.c - retention of finished requests (contract: md.h)
 *
 * A directory is read in one pass while entries are unlinked (unlink
 * cannot make readdir skip a live entry for long: the next run sees it).
 */
#include "md_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ex_ctx {
	time_t now;
	long keep_s;
	int failed; /* walking the failure folder */
	md_expired_fn fn;
	void *arg;
	long removed;
	int err_no;
	char err_name[MD_NAME_MAX];
};

/* 1 if a cur/ name is in a final state: info ":2," with an S flag. */
static int handled_name(const char *name)
{
	const char *info = strstr(name, ":2,");

	return info != NULL && strchr(info + 3, 'S') != NULL;
}

static int ex_one(int dirfd, const char *name, void *arg)
{
	struct ex_ctx *c = arg;
	char uniq[MD_NAME_MAX];
	struct stat st;

	if (!c->failed && !handled_name(name))
		return 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_ctime + c->keep_s > c->now)
		return 0;
	if (unlinkat(dirfd, name, 0) < 0) {
		if (errno != ENOENT && c->err_no == 0) {
			c->err_no = errno;
			(void)snprintf(c->err_name, sizeof(c->err_name), "%s",
				       name);
		}
		return 0;
	}
	c->removed++;
	if (c->fn) {
		size_t n = strcspn(name, ":");

		if (n >= sizeof(uniq))
			n = sizeof(uniq) - 1;
		memcpy(uniq, name, n);
		uniq[n] = 0;
		c->fn(uniq, c->failed, c->arg);
	}
	return 0;
}

static int ex_dir(const struct md_dir *d, struct ex_ctx *c, long *count,
		  struct mr_err *err)
{
	c->removed = 0;
	if (md_walk(d, ex_one, c, err) < 0)
		return -1;
	if (c->err_no != 0) {
		mr_err_sys(err, MR_TEMP, c->err_no, "unlink(%s/%s)", d->label,
			   c->err_name);
		return -1;
	}
	*count += c->removed;
	return c->removed > 0 ? md_sync_dir(d, err) : 0;
}

int md_expire(struct md_spool *sp, time_t now, long handled_s, long failed_s,
	      md_expired_fn fn, void *arg, struct md_expired *out,
	      struct mr_err *err)
{
	struct ex_ctx c = {now, handled_s, 0, fn, arg, 0, 0, ""};

	out->handled = out->failed = 0;
	if (ex_dir(&sp->cur_d, &c, &out->handled, err) < 0)
		return -1;
	c.keep_s = failed_s;
	c.failed = 1;
	if (ex_dir(&sp->fnew_d, &c, &out->failed, err) < 0)
		return -1;
	return ex_dir(&sp->fcur_d, &c, &out->failed, err);
}

int md_remove_claimed(struct md_spool *sp, const struct md_entry *ent,
		      unsigned *dirs, struct mr_err *err)
{
	if (!md_name_ok(ent->cur)) {
		mr_err_set(err, MR_PERM, "md_remove_claimed: bad entry name");
		return -1;
	}
	if (unlinkat(sp->cur_d.fd, ent->cur, 0) < 0) {
		mr_err_sys(err, errno == ENOENT ? MR_PERM : MR_TEMP, errno,
			   "unlink(cur/%s)", ent->cur);
		return -1;
	}
	*dirs |= MD_SYNC_CUR;
	return 0;
}
