/* run.c - mailresponder run: the always-on spool daemon
 * SYNOPSIS     mailresponder run [-c settings.json] [-s]
 * DESCRIPTION  Runs in the foreground (systemd Type=notify or simple);
 *              diagnostics go to stderr, or to syslog (LOG_MAIL) with -s.
 *              See lib/daemon.h for what it does.
 */
#include "cmd.h"
#include "daemon.h"
#include "log.h"

int cmd_run(int argc, char **argv)
{
	int use_syslog = 0, rc;
	const struct cmd_opt opts[] = {
		{'s', NULL, CMD_FLAG, &use_syslog, NULL},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = "run", .opts = opts};

	if ((rc = cmd_parse(&c, argc, argv)) != 0)
		return rc;
	if (use_syslog)
		log_init("mailresponder", 1, LOG_LVL_INFO);
	if ((rc = cmd_open(&c, 0, 0)) != 0)
		return rc;
	rc = dmn_run(c.settings, c.sn);
	cmd_close(&c);
	return rc;
}
