/* fwdcap.c - the hourly cap on admin forwards (contract: fwdcap.h)
 *
 * The store's daily counts already are what the cap needs: an atomic,
 * idempotent per-message increment compared with a limit (st_adhoc_take).
 * The key names the reason and the hour, so a new hour starts from 0 without
 * any reset, and hashing it like an address keeps the row indistinguishable
 * from the others (with hash_key, an HMAC).
 *
 * See also store.h, design.md s.4.
 */
#include "fwdcap.h"

#include <stdio.h>
#include <stdlib.h>

#include "addr.h"
#include "hash.h"
#include "policy.h"
#include "store.h"

#define FWDCAP_NAME_MAX 128

static void cap_hash(const struct hash_key *key, const char *reason, time_t now,
		     char out[HASH_SHA512_HEX])
{
	char name[FWDCAP_NAME_MAX];
	int n = snprintf(name, sizeof(name), "forward-cap/%s/%lld", reason,
			 (long long)(now / 3600));

	if (n < 0 || (size_t)n >= sizeof(name))
		abort(); /* cannot happen: reason words are short */
	addr_hash_hex(key, name, out);
}

int fwdcap_take(struct st *st, const struct hash_key *key, const char *uniq,
		const char *reason, long cap, time_t now, int *allowed_r,
		struct mr_err *err)
{
	char h[HASH_SHA512_HEX];
	char *ju;
	int r;

	*allowed_r = 1;
	if (cap <= 0)
		return 0;
	cap_hash(key, reason, now, h);
	/* its own journal key: the request's ST_PART_LIMIT row belongs to
	 * the daily limit */
	ju = xasprintf("%s/fwdcap", uniq);
	r = st_adhoc_take(st, ju, h, cap, now, allowed_r, err);
	free(ju);
	return r;
}

int fwdcap_count(struct st *st, const struct hash_key *key, const char *reason,
		 time_t now, long *count_r, struct mr_err *err)
{
	char h[HASH_SHA512_HEX];

	cap_hash(key, reason, now, h);
	return st_adhoc_get(st, h, now, count_r, err);
}

int fwdcap_print(struct st *st, const struct hash_key *key,
		 unsigned long long reasons, long cap, time_t now, void *fp,
		 struct mr_err *err)
{
	struct mr_buf line;
	long n[POL_N_REASONS] = {0};
	int any = 0;

	for (size_t i = 0; i < POL_N_REASONS; i++)
		if ((reasons & (1ULL << i)) &&
		    fwdcap_count(st, key, pol_reason_word((enum pol_reason)i),
				 now, &n[i], err) < 0)
			return -1;
	buf_init(&line);
	buf_printf(&line, "forwards this hour:");
	for (size_t i = 0; i < POL_N_REASONS; i++) {
		if (n[i] == 0)
			continue;
		buf_printf(&line, "%s %s %ld", any ? "," : "",
			   pol_reason_word((enum pol_reason)i), n[i]);
		if (cap > 0 && n[i] > cap)
			buf_printf(&line, " (%ld held back)", n[i] - cap);
		any = 1;
	}
	if (!any)
		buf_printf(&line, " none");
	if (cap > 0)
		buf_printf(&line, "; cap %ld per reason\n", cap);
	else
		buf_printf(&line, "; no cap\n");
	fputs(line.data, (FILE *)fp);
	buf_free(&line);
	return 0;
}
