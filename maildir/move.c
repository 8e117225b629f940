/* move.c - rename without replacing a file (contract: md_impl.h)
 *
 * A fresh name is 8 random bytes in hex after a dot, behind as much of the
 * old unique name as leaves room for the flags added later.
 */
#include "md_impl.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"

static atomic_uint_fast64_t md_fresh_seq;

/* 8 bytes of randomness, or (if getrandom fails) something unique
 * enough within this host: pid, clock and a process-wide counter. */
static void fresh_bytes(unsigned char out[8])
{
	struct timespec ts;
	uint64_t v;

	if (hash_random(out, 8) == 0)
		return;
	(void)clock_gettime(CLOCK_REALTIME, &ts); /* cannot fail here */
	v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
	    ((uint64_t)getpid() << 40) ^
	    (atomic_fetch_add(&md_fresh_seq, 1) * 0x9e3779b97f4a7c15ULL);
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

void md_uniq_fresh(const char *base, char out[MD_NAME_MAX])
{
	unsigned char raw[8];
	char hex[2 * sizeof(raw) + 1];
	size_t keep = strlen(base);
	size_t room = MD_UNIQ_MAX - 1 - MD_FRESH_HEX;

	fresh_bytes(raw);
	hash_hex(raw, sizeof(raw), hex);
	if (keep > room)
		keep = room;
	/* fits by construction: keep + 1 + 16 <= MD_UNIQ_MAX */
	if (keep == 0)
		memcpy(out, hex, sizeof(hex));
	else
		(void)snprintf(out, MD_NAME_MAX, "%.*s.%s", (int)keep, base,
			       hex);
}

/* The first unique name to try: uniq itself unless it is empty (the entry
 * was called ":2,..." ) or too long to carry flags later. */
static void first_uniq(const char *uniq, char out[MD_NAME_MAX])
{
	size_t len = strlen(uniq);

	if (len == 0 || len > MD_UNIQ_MAX)
		md_uniq_fresh(uniq, out);
	else
		memcpy(out, uniq, len + 1);
}

int md_move(const struct md_dir *from, const char *name,
	    const struct md_dir *to, const char *uniq, const char *suffix,
	    char uniq_r[MD_NAME_MAX], struct mr_err *err)
{
	char cand[MD_NAME_MAX];
	char target[NAME_MAX + 1];
	int n;

	first_uniq(uniq, cand);
	for (int i = 0; i < MD_MOVE_TRIES; i++) {
		n = snprintf(target, sizeof(target), "%s%s", cand, suffix);
		if (n < 0 || (size_t)n >= sizeof(target)) {
			mr_err_set(err, MR_PERM, "%s/%s: name too long",
				   to->label, cand);
			return -1;
		}
		if (renameat2(from->fd, name, to->fd, target,
			      RENAME_NOREPLACE) == 0) {
			memcpy(uniq_r, cand, strlen(cand) + 1);
			return 1;
		}
		if (errno == ENOENT)
			return 0;
		if (errno != EEXIST) {
			mr_err_sys(err, MR_TEMP, errno, "rename(%s/%s, %s/%s)",
				   from->label, name, to->label, target);
			return -1;
		}
		/* a different message already has this name: keep both */
		md_uniq_fresh(uniq, cand);
	}
	mr_err_set(err, MR_TEMP, "rename(%s/%s, %s/): no free unique name",
		   from->label, name, to->label);
	return -1;
}

int md_sync_dir(const struct md_dir *d, struct mr_err *err)
{
	if (fsync(d->fd) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "fsync(%s)", d->label);
		return -1;
	}
	return 0;
}
