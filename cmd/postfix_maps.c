/* postfix_maps.c - mailresponder postfix-maps: Postfix tables for the spool
 * SYNOPSIS     mailresponder postfix-maps [-c settings] [-d DIR] [--base DIR]
 *                                         [--postmap] [--if-changed]
 * DESCRIPTION  Options, then lib/pfmaps.c: the tables, postmap and the
 *              --if-changed comparison are described in pfmaps.h.
 *              --if-changed writes nothing and runs nothing when the
 *              tables already hold the lines this run would write.
 * DIAGNOSTICS  Exit 0 written; 1 usage or configuration error (including an
 *              address or spool path no Postfix table can hold, and a spool
 *              outside --base); 2 runtime error (a write failed, postmap
 *              could not run or failed, S3 out of reach without a cached
 *              copy); PM_EXIT_UNCHANGED (3) with --if-changed when nothing
 *              had to change.
 * SEE ALSO     mailresponder(8) postfix-maps, pfmaps.h
 */
#include <stdio.h>

#include "cmd.h"
#include "log.h"
#include "pfmaps.h"
#include "settings.h"

#define PM_CMD "postfix-maps"
#define PM_EXIT_UNCHANGED 3

/* Each line with prefix, except the indented ones (postmap's stderr,
 * continuing the line above). */
static void pm_print(FILE *f, const char *prefix, struct mr_msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		fprintf(f, "%s%s\n", m->v[i][0] == ' ' ? "" : prefix, m->v[i]);
	mr_msgs_free(m);
}

/* Settings and responder config only: no keys, attachments or store are
 * needed to list addresses. */
static struct pfm *pm_open(const char *settings, const struct pfm_opts *o,
			   int *rc_r)
{
	struct mr_msgs problems = {NULL, 0};
	struct set *s = cmd_load_set(settings);
	struct pfm *p = NULL;
	struct mr_err err;
	int lvl;

	*rc_r = EXIT_USAGE;
	if (s == NULL)
		return NULL;
	lvl = log_level_parse(s->log_level);
	if (lvl >= 0)
		log_set_level((enum log_level)lvl);
	mr_err_clear(&err);
	p = pfm_open(s, o, &problems, &err);
	if (p == NULL && err.kind == MR_TEMP)
		*rc_r = EXIT_RUNTIME;
	for (size_t i = 0; i < problems.n; i++)
		fprintf(stderr, "%s: %s\n", settings, problems.v[i]);
	mr_msgs_free(&problems);
	set_free(&s);
	return p;
}

int cmd_postfix_maps(int argc, char **argv)
{
	struct pfm_opts o = {NULL, NULL, 0};
	int if_changed = 0;
	const struct cmd_opt opts[] = {
		{'d', NULL, CMD_STR, &o.dir, NULL},
		{0, "base", CMD_STR, &o.base, NULL},
		{0, "postmap", CMD_FLAG, &o.postmap, NULL},
		{0, "if-changed", CMD_FLAG, &if_changed, NULL},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = PM_CMD, .opts = opts};
	struct mr_msgs done = {NULL, 0}, diag = {NULL, 0};
	struct pfm *p;
	int rc;

	if ((rc = cmd_parse(&c, argc, argv)) != 0)
		return rc;
	if ((o.dir && *o.dir == 0) || (o.base && *o.base == 0))
		return cmd_usage(PM_CMD, "empty DIR");
	if ((p = pm_open(c.settings, &o, &rc)) == NULL)
		return rc;
	if (if_changed && pfm_current(p, &done))
		rc = PM_EXIT_UNCHANGED;
	else
		rc = pfm_write(p, &done, &diag) == 0 ? 0 : EXIT_RUNTIME;
	pm_print(stdout, "", &done);
	pm_print(stderr, "mailresponder " PM_CMD ": ", &diag);
	pfm_free(&p);
	return rc;
}
