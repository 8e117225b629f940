/* blacklist.c - mailresponder blacklist: the store's lists and daily counts
 * SYNOPSIS     mailresponder blacklist [-c settings] clear-adhoc
 *              mailresponder blacklist [-c settings] add|allow|remove|show ADDR|DOMAIN
 * DESCRIPTION  Only hashes reach the store (design.md s.7). An argument
 *              with an '@' is an address, otherwise a domain. show prints
 *              the daily count and every list the address or domain is on
 *              (with the settings' domain lists), by hash: the clear
 *              address is never needed in the store and never printed.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "cmd.h"
#include "log.h"
#include "settings.h"
#include "snap.h"
#include "store.h"

#define JOURNAL_KEEP_S (30L * 86400)

struct bl {
	struct snap *sn;
	struct st *st;
	const char *arg;
	int is_addr;
	char hash[HASH_SHA512_HEX];
	char dhash[HASH_SHA512_HEX];
};

static int valid_domain(const char *d)
{
	char probe[300];
	int n = snprintf(probe, sizeof(probe), "x@%s", d);

	return n > 0 && (size_t)n < sizeof(probe) && addr_valid(probe);
}

static int bl_fail(const char *what, const struct mr_err *err)
{
	log_err("blacklist %s: %s", what, err->text);
	return EXIT_RUNTIME;
}

static int yesno(struct bl *b, enum st_list l, const char *h, int *out)
{
	struct mr_err err;
	int r = st_list_has(b->st, l, h, &err);

	if (r < 0)
		return bl_fail("show", &err);
	*out = r;
	return 0;
}

/* Which of dom and its parents is on the store's list, as the policy
 * looks them up (design.md s.4: a listed domain covers its subdomains):
 * *hit_r is the listed one, or NULL. 0 or EXIT_RUNTIME. */
static int domain_hit(struct bl *b, enum st_list l, const char *dom,
		      const char **hit_r)
{
	const struct hash_key *k =
		b->sn->store_key.data ? &b->sn->store_key : NULL;
	char h[HASH_SHA512_HEX];
	int r = 0;

	*hit_r = NULL;
	for (const char *d = dom; d && strchr(d, '.'); d = strchr(d, '.') + 1) {
		addr_hash_hex(k, d, h);
		if (yesno(b, l, h, &r) != 0)
			return EXIT_RUNTIME;
		if (r) {
			*hit_r = d;
			return 0;
		}
	}
	return 0;
}

/* The same for a list of the settings (domains in clear there). */
static const char *settings_hit(const char *dom, const struct set_strv *v)
{
	for (const char *d = dom; d && strchr(d, '.'); d = strchr(d, '.') + 1)
		for (size_t i = 0; i < v->n; i++)
			if (mr_streq_ci(v->v[i], d))
				return d;
	return NULL;
}

/* "yes", "yes, by its parent domain X", or "no" */
static void print_hit(const char *what, const char *dom, const char *hit)
{
	if (hit == NULL)
		printf("%s: no\n", what);
	else if (mr_streq_ci(hit, dom))
		printf("%s: yes\n", what);
	else
		printf("%s: yes, by its parent domain %s\n", what, hit);
}

static int bl_show(struct bl *b)
{
	const struct set *s = b->sn->set;
	const char *dom = b->is_addr ? addr_domain(b->arg) : b->arg;
	const char *bd, *ad;
	int be = 0, ae = 0;
	struct mr_err err;
	long count = 0;

	if (b->is_addr &&
	    (st_adhoc_get(b->st, b->hash, mr_time(), &count, &err) < 0))
		return bl_fail("show", &err);
	if ((b->is_addr && (yesno(b, ST_BLOCK_EMAIL, b->hash, &be) ||
			    yesno(b, ST_ALLOW_EMAIL, b->hash, &ae))) ||
	    domain_hit(b, ST_BLOCK_DOMAIN, dom, &bd) ||
	    domain_hit(b, ST_ALLOW_DOMAIN, dom, &ad))
		return EXIT_RUNTIME;
	if (b->is_addr) {
		printf("hash: %s\n", b->hash);
		printf("daily count: %ld (limit %ld)\n", count, s->daily_limit);
		printf("blocked address: %s\n", be ? "yes" : "no");
		printf("allowed address: %s\n", ae ? "yes" : "no");
	}
	print_hit("blocked domain", dom, bd);
	print_hit("allowed domain", dom, ad);
	print_hit("blocked domain (settings)", dom,
		  settings_hit(dom, &s->blocked_domains));
	print_hit("exempt domain (settings)", dom,
		  settings_hit(dom, &s->exempt_domains));
	return 0;
}

static int bl_remove(struct bl *b)
{
	static const char *const names[] = {"blocked", "blocked", "allowed",
					    "allowed"};
	const char *h = b->is_addr ? b->hash : b->dhash;
	enum st_list lists[2];
	struct mr_err err;
	int r, any = 0;

	lists[0] = b->is_addr ? ST_BLOCK_EMAIL : ST_BLOCK_DOMAIN;
	lists[1] = b->is_addr ? ST_ALLOW_EMAIL : ST_ALLOW_DOMAIN;
	for (int i = 0; i < 2; i++) {
		if ((r = st_list_remove(b->st, lists[i], h, &err)) < 0)
			return bl_fail("remove", &err);
		if (r > 0)
			printf("removed from the %s list\n", names[lists[i]]);
		any |= r;
	}
	if (b->is_addr) {
		if ((r = st_adhoc_remove(b->st, h, &err)) < 0)
			return bl_fail("remove", &err);
		if (r > 0)
			printf("daily count forgotten\n");
		any |= r;
	}
	if (!any)
		printf("not on any list\n");
	return 0;
}

static int bl_add(struct bl *b, int allow)
{
	enum st_list l;
	struct mr_err err;

	if (b->is_addr)
		l = allow ? ST_ALLOW_EMAIL : ST_BLOCK_EMAIL;
	else
		l = allow ? ST_ALLOW_DOMAIN : ST_BLOCK_DOMAIN;
	if (st_list_add(b->st, l, b->is_addr ? b->hash : b->dhash, &err) < 0)
		return bl_fail(allow ? "allow" : "add", &err);
	printf("%s %s\n", allow ? "allowed" : "blocked",
	       b->is_addr ? "address" : "domain");
	return 0;
}

static int bl_clear(struct bl *b)
{
	struct mr_err err;
	long pruned = 0;

	if (st_adhoc_clear(b->st, mr_time(), &err) < 0 ||
	    st_journal_prune(b->st, mr_time() - JOURNAL_KEEP_S, &pruned, &err) <
		    0)
		return bl_fail("clear-adhoc", &err);
	printf("daily counts of past days cleared; %ld old journal rows "
	       "pruned\n",
	       pruned);
	return 0;
}

static int bl_prepare(struct bl *b, const char *arg)
{
	const struct hash_key *k =
		b->sn->store_key.data ? &b->sn->store_key : NULL;

	b->arg = arg;
	b->is_addr = strchr(arg, '@') != NULL;
	if (b->is_addr ? !addr_valid(arg) : !valid_domain(arg))
		return cmd_usage("blacklist", "not a valid address or domain");
	if (b->is_addr)
		addr_hash_hex(k, arg, b->hash);
	addr_hash_hex(k, b->is_addr ? addr_domain(arg) : arg, b->dhash);
	return 0;
}

static int bl_dispatch(struct bl *b, const char *verb)
{
	if (strcmp(verb, "add") == 0)
		return bl_add(b, 0);
	if (strcmp(verb, "allow") == 0)
		return bl_add(b, 1);
	if (strcmp(verb, "remove") == 0)
		return bl_remove(b);
	return bl_show(b);
}

int cmd_blacklist(int argc, char **argv)
{
	struct cmd c = {.name = "blacklist",
			.min_args = 1,
			.max_args = -1,
			.args_usage = "a subcommand is needed"};
	const char *verb;
	struct bl b;
	struct mr_err err;
	int rc, want;

	memset(&b, 0, sizeof(b));
	if ((rc = cmd_parse(&c, argc, argv)) != 0)
		return rc;
	verb = c.args[0];
	want = strcmp(verb, "clear-adhoc") == 0 ? 1 : 2;
	if (want == 2 && strcmp(verb, "add") && strcmp(verb, "allow") &&
	    strcmp(verb, "remove") && strcmp(verb, "show"))
		return cmd_usage("blacklist", "unknown subcommand");
	if (c.nargs != want)
		return cmd_usage("blacklist", "wrong number of arguments");
	if ((rc = cmd_open(&c, SNAP_NO_REPLIES, 0)) != 0)
		return rc;
	b.sn = c.sn;
	mr_err_clear(&err);
	b.st = st_open_set(b.sn->set, 0, &err);
	if (b.st == NULL) {
		log_err("store: %s", err.text);
		cmd_close(&c);
		return EXIT_RUNTIME;
	}
	if (want == 1)
		rc = bl_clear(&b);
	else if ((rc = bl_prepare(&b, c.args[1])) == 0)
		rc = bl_dispatch(&b, verb);
	st_close(&b.st);
	cmd_close(&c);
	return rc;
}
