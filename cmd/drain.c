/* drain.c - mailresponder drain: process the backlog and exit
 * SYNOPSIS     mailresponder drain [-c settings.json] [-q] [-t SECONDS]
 * DESCRIPTION  Without a daemon, drains the spool itself. While a daemon
 *              owns the spool it neither double-processes nor does nothing:
 *              it asks the daemon to rescan and waits (at most -t seconds,
 *              default 600) until the backlog present at its start is
 *              handled, then reports (lib/drain.c).
 */
#include <stdio.h>

#include "cmd.h"
#include "drain.h"

int cmd_drain(int argc, char **argv)
{
	long timeout = DRAIN_HANDOFF_TIMEOUT;
	int quiet = 0, rc;
	const struct cmd_opt opts[] = {
		{'q', NULL, CMD_FLAG, &quiet, NULL},
		{'t', NULL, CMD_SECONDS, &timeout, "bad -t SECONDS"},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = "drain", .opts = opts};

	if ((rc = cmd_parse(&c, argc, argv)) != 0 ||
	    (rc = cmd_open(&c, 0, 0)) != 0)
		return rc;
	rc = drain_spool(c.sn, timeout, quiet ? NULL : stdout) < 0
		     ? EXIT_RUNTIME
		     : 0;
	cmd_close(&c);
	return rc;
}
