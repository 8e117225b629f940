/* blist.c - where an address or domain stands on the lists
 * (contract: blist.h)
 *
 * The store holds hashes only, so a domain's parents are hashed and
 * looked up one by one, from the domain itself up to the last name with
 * a dot, as the policy checks them.
 */
#include "blist.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "settings.h"
#include "snap.h"
#include "store.h"

static const struct hash_key *store_key(const struct snap *sn)
{
	return sn->store_key.data ? &sn->store_key : NULL;
}

static int valid_domain(const char *d)
{
	char probe[300];
	int n = snprintf(probe, sizeof(probe), "x@%s", d);

	return n > 0 && (size_t)n < sizeof(probe) && addr_valid(probe);
}

int blist_key(const struct snap *sn, const char *arg, struct blist_key *k)
{
	memset(k, 0, sizeof(*k));
	k->arg = arg;
	k->is_addr = strchr(arg, '@') != NULL;
	if (k->is_addr ? !addr_valid(arg) : !valid_domain(arg))
		return -1;
	k->domain = k->is_addr ? addr_domain(arg) : arg;
	if (k->is_addr)
		addr_hash_hex(store_key(sn), arg, k->hash);
	addr_hash_hex(store_key(sn), k->domain, k->dhash);
	return 0;
}

/* Which of dom and its parents is on the store's list l: *hit_r is the
 * listed one, or NULL. 0 or -1 with err. */
static int store_hit(struct st *st, const struct snap *sn, enum st_list l,
		     const char *dom, const char **hit_r, struct mr_err *err)
{
	char h[HASH_SHA512_HEX];

	*hit_r = NULL;
	for (const char *d = dom; d && strchr(d, '.'); d = strchr(d, '.') + 1) {
		int r;

		addr_hash_hex(store_key(sn), d, h);
		if ((r = st_list_has(st, l, h, err)) < 0)
			return -1;
		if (r) {
			*hit_r = d;
			break;
		}
	}
	return 0;
}

/* The same for a list of the settings (domains in clear there). The
 * policy matches these with addr_domain_in, which lets a single label
 * ("test") cover every domain under it, so the walk goes down to the
 * last label. */
static const char *settings_hit(const char *dom, const struct set_strv *v)
{
	const char *d = dom;

	for (;;) {
		if (mr_strv_has_ci(v->v, v->n, d))
			return d;
		if ((d = strchr(d, '.')) == NULL)
			return NULL;
		d++;
	}
}

int blist_where(struct st *st, const struct snap *sn, const struct blist_key *k,
		time_t now, struct blist_where *w, struct mr_err *err)
{
	const struct set *s = sn->set;
	int r;

	memset(w, 0, sizeof(*w));
	if (k->is_addr) {
		if (st_adhoc_get(st, k->hash, now, &w->count, err) < 0 ||
		    (r = st_list_has(st, ST_BLOCK_EMAIL, k->hash, err)) < 0)
			return -1;
		w->blocked_addr = r;
		if ((r = st_list_has(st, ST_ALLOW_EMAIL, k->hash, err)) < 0)
			return -1;
		w->allowed_addr = r;
	}
	if (store_hit(st, sn, ST_BLOCK_DOMAIN, k->domain, &w->blocked_dom,
		      err) < 0 ||
	    store_hit(st, sn, ST_ALLOW_DOMAIN, k->domain, &w->allowed_dom,
		      err) < 0)
		return -1;
	w->blocked_set = settings_hit(k->domain, &s->blocked_domains);
	w->exempt_set = settings_hit(k->domain, &s->exempt_domains);
	return 0;
}
