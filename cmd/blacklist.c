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

#include "blist.h"
#include "cmd.h"
#include "log.h"
#include "settings.h"
#include "snap.h"
#include "store.h"

#define JOURNAL_KEEP_S (30L * 86400)

struct bl {
	struct snap *sn;
	struct st *st;
	struct blist_key k;
};

static int bl_fail(const char *what, const struct mr_err *err)
{
	log_err("blacklist %s: %s", what, err->text);
	return EXIT_RUNTIME;
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
	const char *dom = b->k.domain;
	struct blist_where w;
	struct mr_err err;

	if (blist_where(b->st, b->sn, &b->k, mr_time(), &w, &err) < 0)
		return bl_fail("show", &err);
	if (b->k.is_addr) {
		printf("hash: %s\n", b->k.hash);
		printf("daily count: %ld (limit %ld)\n", w.count,
		       b->sn->set->daily_limit);
		printf("blocked address: %s\n", w.blocked_addr ? "yes" : "no");
		printf("allowed address: %s\n", w.allowed_addr ? "yes" : "no");
	}
	print_hit("blocked domain", dom, w.blocked_dom);
	print_hit("allowed domain", dom, w.allowed_dom);
	print_hit("blocked domain (settings)", dom, w.blocked_set);
	print_hit("exempt domain (settings)", dom, w.exempt_set);
	return 0;
}

static int bl_remove(struct bl *b)
{
	static const char *const names[] = {"blocked", "blocked", "allowed",
					    "allowed"};
	const char *h = b->k.is_addr ? b->k.hash : b->k.dhash;
	enum st_list lists[2];
	struct mr_err err;
	int r, any = 0;

	lists[0] = b->k.is_addr ? ST_BLOCK_EMAIL : ST_BLOCK_DOMAIN;
	lists[1] = b->k.is_addr ? ST_ALLOW_EMAIL : ST_ALLOW_DOMAIN;
	for (int i = 0; i < 2; i++) {
		if ((r = st_list_remove(b->st, lists[i], h, &err)) < 0)
			return bl_fail("remove", &err);
		if (r > 0)
			printf("removed from the %s list\n", names[lists[i]]);
		any |= r;
	}
	if (b->k.is_addr) {
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

	if (b->k.is_addr)
		l = allow ? ST_ALLOW_EMAIL : ST_BLOCK_EMAIL;
	else
		l = allow ? ST_ALLOW_DOMAIN : ST_BLOCK_DOMAIN;
	if (st_list_add(b->st, l, b->k.is_addr ? b->k.hash : b->k.dhash, &err) <
	    0)
		return bl_fail(allow ? "allow" : "add", &err);
	printf("%s %s\n", allow ? "allowed" : "blocked",
	       b->k.is_addr ? "address" : "domain");
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
	if (want == 2 && blist_key(b.sn, c.args[1], &b.k) < 0) {
		cmd_close(&c);
		return cmd_usage("blacklist", "not a valid address or domain");
	}
	mr_err_clear(&err);
	b.st = st_open_set(b.sn->set, 0, &err);
	if (b.st == NULL) {
		log_err("store: %s", err.text);
		cmd_close(&c);
		return EXIT_RUNTIME;
	}
	if (want == 1)
		rc = bl_clear(&b);
	else
		rc = bl_dispatch(&b, verb);
	st_close(&b.st);
	cmd_close(&c);
	return rc;
}
