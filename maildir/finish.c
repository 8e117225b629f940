/* finish.c - final states and the way back (contract: md.h)
 *
 * Flags are written in ASCII order ("RS"). md_reprocess scans, then
 * renames, batch by batch, so no rename happens during a readdir pass.
 */
#include "md_impl.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define RP_BATCH 128 /* md_reprocess: names read per pass */

/* Where a state lands (and its MD_SYNC_ bit); NULL for a bad state. */
static const struct md_dir *state_dir(struct md_spool *sp, enum md_state state,
				      const char **suffix_r, unsigned *bit_r)
{
	switch (state) {
	case MD_REPLIED:
		*suffix_r = ":2,RS"; /* flags in ASCII order */
		*bit_r = MD_SYNC_CUR;
		return &sp->cur_d;
	case MD_IGNORED:
		*suffix_r = ":2,S";
		*bit_r = MD_SYNC_CUR;
		return &sp->cur_d;
	case MD_FAILED:
		*suffix_r = "";
		*bit_r = MD_SYNC_FAILED;
		return &sp->fnew_d;
	case MD_RETRY:
		*suffix_r = "";
		*bit_r = MD_SYNC_NEW;
		return &sp->new_d;
	}
	return NULL;
}

int md_finish(struct md_spool *sp, const struct md_entry *ent,
	      enum md_state state, struct mr_err *err)
{
	unsigned dirs = 0;

	if (md_finish_nosync(sp, ent, state, &dirs, err) < 0)
		return -1;
	return md_sync(sp, dirs, err);
}

int md_sync(struct md_spool *sp, unsigned dirs, struct mr_err *err)
{
	const struct md_dir *d[] = {&sp->cur_d, &sp->new_d, &sp->fnew_d};
	int rc = 0;

	for (unsigned i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if ((dirs & (1u << i)) &&
		    md_sync_dir(d[i], rc == 0 ? err : NULL) < 0)
			rc = -1;
	return rc;
}

int md_finish_nosync(struct md_spool *sp, const struct md_entry *ent,
		     enum md_state state, unsigned *dirs, struct mr_err *err)
{
	const struct md_dir *to;
	const char *suffix = "";
	char used[MD_NAME_MAX];
	unsigned bit = 0;
	int r;

	if ((to = state_dir(sp, state, &suffix, &bit)) == NULL) {
		mr_err_set(err, MR_PERM, "md_finish: bad state %d", (int)state);
		return -1;
	}
	if (!md_name_ok(ent->cur) || strchr(ent->uniq, '/') != NULL) {
		mr_err_set(err, MR_PERM, "md_finish: bad entry name");
		return -1;
	}
	r = md_move(&sp->cur_d, ent->cur, to, ent->uniq, suffix, used, err);
	if (r == 0)
		mr_err_set(err, MR_PERM, "cur/%s: claimed message vanished",
			   ent->cur);
	if (r <= 0)
		return -1;
	if (strcmp(used, ent->uniq) != 0)
		log_warn("cur/%s: %s/%s%s is taken, stored as %s/%s%s",
			 ent->cur, to->label, ent->uniq, suffix, to->label,
			 used, suffix);
	*dirs |= bit;
	return 0;
}

struct rp_ctx {
	const char *name; /* NULL: all */
	time_t newer_than;
	time_t older_than;
	int seen; /* name was found (in or out of the window) */
	size_t matched;
};

static int rp_keep(int dirfd, const char *fname, void *arg)
{
	struct rp_ctx *c = arg;
	struct stat st;
	size_t ulen = strcspn(fname, ":");

	if (c->name != NULL && strcmp(fname, c->name) != 0 &&
	    (ulen != strlen(c->name) || strncmp(fname, c->name, ulen) != 0))
		return 0;
	c->seen = 1;
	if (c->newer_than == 0 && c->older_than == 0)
		return 1;
	if (fstatat(dirfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0; /* gone since readdir */
	if (c->newer_than != 0 && st.st_mtime < c->newer_than)
		return 0;
	return c->older_than == 0 || st.st_mtime < c->older_than;
}

static int rp_count(int dirfd, const char *fname, void *arg)
{
	struct rp_ctx *c = arg;

	if (rp_keep(dirfd, fname, c))
		c->matched++;
	return 0;
}

/* Move matching entries of d to new/ in batches until none is left or
 * the budget (*left) is spent. */
static int rp_dir(struct md_spool *sp, const struct md_dir *d, struct rp_ctx *c,
		  char (*batch)[MD_NAME_MAX], size_t *left, size_t *moved_r,
		  struct mr_err *err)
{
	char uniq[MD_NAME_MAX], used[MD_NAME_MAX];
	size_t n;
	int r;

	while (*left > 0) {
		n = 0;
		if (md_scan_dir(d, rp_keep, c, batch, RP_BATCH, &n, err) < 0)
			return -1;
		if (n == 0)
			return 0;
		for (size_t i = 0; i < n; i++) {
			if (*left == 0)
				return 0;
			md_uniq_of(batch[i], uniq);
			r = md_move(d, batch[i], &sp->new_d, uniq, "", used,
				    err);
			if (r < 0)
				return -1;
			if (r > 0) {
				(*moved_r)++;
				(*left)--;
			}
		}
	}
	return 0;
}

static int rp_check_name(const char *name, struct mr_err *err)
{
	if (name != NULL && !md_name_ok(name)) {
		mr_err_set(err, MR_PERM, "reprocess: bad message name");
		return -1;
	}
	return 0;
}

int md_reprocess(struct md_spool *sp, const char *name, time_t newer_than,
		 time_t older_than, size_t *moved_r, struct mr_err *err)
{
	struct rp_ctx c = {name, newer_than, older_than, 0, 0};
	char(*batch)[MD_NAME_MAX];
	int ret = -1;

	*moved_r = 0;
	if (rp_check_name(name, err) < 0)
		return -1;
	if (md_walk(&sp->fnew_d, rp_count, &c, err) < 0 ||
	    md_walk(&sp->fcur_d, rp_count, &c, err) < 0)
		return -1;
	if (name != NULL && !c.seen) {
		mr_err_set(err, MR_PERM, "%s: not in the failure folder", name);
		return -1;
	}
	batch = xcalloc(RP_BATCH, sizeof(*batch));
	if (rp_dir(sp, &sp->fnew_d, &c, batch, &c.matched, moved_r, err) == 0 &&
	    rp_dir(sp, &sp->fcur_d, &c, batch, &c.matched, moved_r, err) == 0)
		ret = 0;
	free(batch);
	/* what was moved must be durable even when a later move failed */
	if (*moved_r > 0 && md_sync_dir(&sp->new_d, ret == 0 ? err : NULL) < 0)
		ret = -1;
	return ret;
}
