/* blist.h - blist: where an address or domain stands on the lists
 * SYNOPSIS     int blist_key(const struct snap *, const char *arg,
 *                            struct blist_key *);
 *              int blist_where(struct st *, const struct snap *,
 *                              const struct blist_key *, time_t now,
 *                              struct blist_where *, struct mr_err *);
 * DESCRIPTION  For mailresponder blacklist. An argument with an '@' is an
 *              address, otherwise a domain; blist_key checks it and hashes
 *              it as the store keeps it (addr_hash_hex with the store key,
 *              design.md s.7): only hashes reach the store. arg is
 *              borrowed and must outlive the key.
 *              blist_where looks the key up as the policy does (design.md
 *              s.4: a listed domain covers its subdomains): today's count
 *              and the address lists for an address, and for its domain
 *              the listed domain (itself or a parent) on the store's block
 *              and allow lists and on the settings' blocked_domains and
 *              exempt_domains. The domains returned point into arg.
 *              The settings' lists are matched as the policy matches them
 *              (addr_domain_in): a single label ("test") covers every
 *              domain under it.
 *              st is the caller's handle, used for the call only.
 * DIAGNOSTICS  blist_key: 0, or -1 when arg is not a valid address or
 *              domain. blist_where: 0, or -1 with err (store).
 * SEE ALSO     store.h, addr.h, policy.h; mailresponder(8) blacklist
 */
#ifndef MR_BLIST_H
#define MR_BLIST_H

#include <time.h>

#include "hash.h"
#include "mr.h"

struct snap;
struct st;

struct blist_key {
	const char *arg;    /* the address or domain (borrowed) */
	const char *domain; /* its domain: arg itself for a domain */
	int is_addr;
	char hash[HASH_SHA512_HEX];  /* of the address, when is_addr */
	char dhash[HASH_SHA512_HEX]; /* of the domain */
};

struct blist_where {
	long count;              /* today's count (address) */
	int blocked_addr;        /* on the store's block list (address) */
	int allowed_addr;        /* on the store's allow list (address) */
	const char *blocked_dom; /* listed domain, or NULL: not listed */
	const char *allowed_dom; /* the same for the allow list */
	const char *blocked_set; /* in the settings' blocked_domains */
	const char *exempt_set;  /* in the settings' exempt_domains */
};

int blist_key(const struct snap *sn, const char *arg, struct blist_key *k);
int blist_where(struct st *st, const struct snap *sn, const struct blist_key *k,
		time_t now, struct blist_where *w, struct mr_err *err);

#endif
