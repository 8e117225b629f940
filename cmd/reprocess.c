/* reprocess.c - mailresponder reprocess: failed messages through again
 * SYNOPSIS     mailresponder reprocess [-c settings] [-q] [--all | FILE...]
 *                      [--older-than AGE] [--newer-than AGE]
 * DESCRIPTION  Moves messages from the failure folder back into new/ (all,
 *              or the named ones, within an age window), then drains the
 *              spool - or, when a daemon owns it, leaves them to it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "drain.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

struct rp_opts {
	int all, quiet;
	long newer_s, older_s; /* ages; -1: not given */
	time_t newer, older;
};

static int move_back(struct md_spool *sp, const struct rp_opts *o,
		     const struct cmd *c, size_t *total)
{
	struct mr_err err;
	size_t moved = 0;
	int bad = 0;

	mr_err_clear(&err);
	if (o->all) {
		if (md_reprocess(sp, NULL, o->newer, o->older, total, &err) <
		    0) {
			log_err("reprocess: %s", err.text);
			return -1;
		}
		return 0;
	}
	for (int i = 0; i < c->nargs; i++) {
		if (md_reprocess(sp, base_name(c->args[i]), o->newer, o->older,
				 &moved, &err) < 0) {
			log_err("reprocess %s: %s", base_name(c->args[i]),
				err.text);
			bad = 1;
			continue;
		}
		*total += moved;
	}
	return bad ? -1 : 0;
}

int cmd_reprocess(int argc, char **argv)
{
	struct rp_opts o = {0, 0, -1, -1, 0, 0};
	const struct cmd_opt opts[] = {
		{'q', NULL, CMD_FLAG, &o.quiet, NULL},
		{0, "all", CMD_FLAG, &o.all, NULL},
		{0, "older-than", CMD_AGE, &o.older_s, "bad AGE"},
		{0, "newer-than", CMD_AGE, &o.newer_s, "bad AGE"},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = "reprocess", .opts = opts, .max_args = -1};
	time_t now = time(NULL);
	size_t total = 0;
	int rc, bad;

	if ((rc = cmd_parse(&c, argc, argv)) != 0)
		return rc;
	if (o.all == (c.nargs > 0))
		return cmd_usage("reprocess", "give --all or FILE...");
	o.older = o.older_s >= 0 ? now - o.older_s : 0;
	o.newer = o.newer_s >= 0 ? now - o.newer_s : 0;
	if ((rc = cmd_open(&c, 0, CMD_SPOOL)) != 0)
		return rc;
	bad = move_back(c.sp, &o, &c, &total);
	md_spool_close(&c.sp); /* the drain takes the spool's lock */
	if (!o.quiet)
		printf("reprocess: %zu message(s) moved back to new/\n", total);
	rc = drain_spool(c.sn, DRAIN_HANDOFF_TIMEOUT, o.quiet ? NULL : stdout) <
			     0
		     ? EXIT_RUNTIME
		     : 0;
	cmd_close(&c);
	return rc ? rc : bad ? EXIT_RUNTIME : 0;
}
