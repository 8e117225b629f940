/* run.c - mailresponder run: the always-on spool daemon
 * SYNOPSIS     mailresponder run [-c settings.json] [-s]
 * DESCRIPTION  Runs in the foreground (systemd Type=notify or simple);
 *              diagnostics go to stderr, or to syslog (LOG_MAIL) with -s.
 *              See lib/daemon.h for what it does.
 */
#include <getopt.h>

#include "cmd.h"
#include "daemon.h"
#include "log.h"
#include "snap.h"

int cmd_run(int argc, char **argv)
{
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
	sn = cmd_load(settings, 0);
	if (sn == NULL)
		return EXIT_USAGE;
	rc = dmn_run(settings, sn);
	snap_unref(&sn);
	return rc;
}
