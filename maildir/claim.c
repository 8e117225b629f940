/* claim.c - take a message and read it (contract: md.h)
 *
 * The fd from md_open keeps O_NONBLOCK, which does nothing on a regular
 * file. The claim's target is built from the name up to its first ':'.
 */
#include "md_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int entry_stat(struct md_spool *sp, struct md_entry *ent,
		      struct mr_err *err)
{
	struct stat st;

	if (fstatat(sp->cur_d.fd, ent->cur, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		mr_err_sys(err, MR_TEMP, errno, "lstat(cur/%s)", ent->cur);
		return -1;
	}
	ent->mtime = st.st_mtime;
	ent->size = st.st_size;
	return 1;
}

static int entry_set(struct md_entry *ent, const char *uniq, struct mr_err *err)
{
	int n = snprintf(ent->cur, sizeof(ent->cur), "%s:2,", uniq);

	if (n < 0 || (size_t)n >= sizeof(ent->cur)) {
		mr_err_set(err, MR_PERM, "cur/%s:2,: name too long", uniq);
		return -1;
	}
	if (ent->uniq != uniq)
		memcpy(ent->uniq, uniq, strlen(uniq) + 1);
	ent->mtime = 0;
	ent->size = 0;
	return 0;
}

int md_claim(struct md_spool *sp, const char *name, struct md_entry *ent,
	     struct mr_err *err)
{
	char uniq[MD_NAME_MAX];
	int r;

	if (!md_name_ok(name)) {
		mr_err_set(err, MR_PERM, "md_claim: bad name");
		return -1;
	}
	md_uniq_of(name, uniq);
	r = md_move(&sp->new_d, name, &sp->cur_d, uniq, ":2,", ent->uniq, err);
	if (r <= 0)
		return r;
	if (strcmp(ent->uniq, uniq) != 0)
		log_warn("new/%s: cur/%s:2, is taken, claimed as cur/%s:2,",
			 name, uniq, ent->uniq);
	if (entry_set(ent, ent->uniq, err) < 0)
		return -1;
	r = entry_stat(sp, ent, err);
	if (r == 0) {
		/* it is ours: nobody else renames claimed entries */
		mr_err_set(err, MR_TEMP, "cur/%s vanished after its claim",
			   ent->cur);
		return -1;
	}
	return r;
}

int md_adopt(struct md_spool *sp, const char *name, struct md_entry *ent,
	     struct mr_err *err)
{
	char uniq[MD_NAME_MAX];

	if (!md_name_ok(name) || !md_is_claimed_name(name)) {
		mr_err_set(err, MR_PERM, "md_adopt: not a claimed name");
		return -1;
	}
	md_uniq_of(name, uniq);
	if (entry_set(ent, uniq, err) < 0)
		return -1;
	return entry_stat(sp, ent, err);
}

static int open_checked(struct md_spool *sp, const struct md_entry *ent,
			const struct stat *lst, struct mr_err *err)
{
	struct stat st;
	int fd;

	fd = openat(sp->cur_d.fd, ent->cur,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		/* ELOOP: a symlink was swapped in after the lstat */
		mr_err_sys(err,
			   e == ELOOP || e == EACCES || e == EPERM ? MR_PERM
								   : MR_TEMP,
			   e, "open(cur/%s)", ent->cur);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_dev != lst->st_dev || st.st_ino != lst->st_ino) {
		mr_err_set(err, MR_PERM, "cur/%s: not a regular file",
			   ent->cur);
		(void)close(fd); /* opened read-only: nothing to lose */
		return -1;
	}
	return fd;
}

int md_open(struct md_spool *sp, const struct md_entry *ent, struct mr_err *err)
{
	struct stat lst;

	if (!md_name_ok(ent->cur)) {
		mr_err_set(err, MR_PERM, "md_open: bad name");
		return -1;
	}
	if (fstatat(sp->cur_d.fd, ent->cur, &lst, AT_SYMLINK_NOFOLLOW) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "lstat(cur/%s)", ent->cur);
		return -1;
	}
	if (!S_ISREG(lst.st_mode)) {
		mr_err_set(err, MR_PERM, "cur/%s: not a regular file",
			   ent->cur);
		return -1;
	}
	return open_checked(sp, ent, &lst, err);
}
