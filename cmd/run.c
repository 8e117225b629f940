/* run.c - mailresponder run: the always-on spool daemon
 * SYNOPSIS     mailresponder run [-c settings.json] [-s]
 * DESCRIPTION  Runs in the foreground (systemd Type=notify or simple);
 *              diagnostics go to stderr, or to syslog (LOG_MAIL) with -s.
 *              See lib/daemon.h for what it does.
 */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "daemon.h"
#include "log.h"
#include "settings.h"
#include "snap.h"

/* As cmd_load; *unreachable_r: S3 out of reach with no cached copy. */
static struct snap *run_load(const char *settings, int *unreachable_r)
{
	struct mr_msgs problems = {NULL, 0};
	struct snap *sn = snap_load_ex(settings, 0, &problems, unreachable_r);
	int lvl;

	for (size_t i = 0; i < problems.n; i++)
		fprintf(stderr, "%s: %s\n", settings, problems.v[i]);
	mr_msgs_free(&problems);
	if (*unreachable_r)
		fprintf(stderr,
			"%s: S3 could not be reached and nothing is "
			"cached yet: not starting\n",
			settings);
	if (sn == NULL)
		return NULL;
	lvl = log_level_parse(sn->set->log_level);
	if (lvl >= 0)
		log_set_level((enum log_level)lvl);
	return sn;
}

int cmd_run(int argc, char **argv)
{
	int unreachable = 0;
	const char *settings = NULL;
	struct snap *sn;
	int c, rc;

	while ((c = getopt(argc, argv, "c:s")) != -1) {
		switch (c) {
		case 'c':
			settings = optarg;
			break;
		case 's':
			log_init("mailresponder", 1, LOG_LVL_INFO);
			break;
		default:
			return cmd_usage("run", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage("run", "no arguments expected");
	settings = cmd_settings(settings);
	sn = run_load(settings, &unreachable);
	if (sn == NULL)
		return unreachable ? EXIT_RUNTIME : EXIT_USAGE;
	rc = dmn_run(settings, sn);
	snap_unref(&sn);
	return rc;
}
