/* expire.c - mailresponder expire: retention pass for cron
 * SYNOPSIS     mailresponder expire [-c settings] [-q]
 * DESCRIPTION  Removes handled requests older than retention.handled_s
 *              and failed ones older than retention.failed_s (the daemon
 *              does the same every hour), with one event line per removed
 *              file, and prints the counts. Needs no spool lock: only
 *              requests in a final state are removed, which the daemon no
 *              longer touches.
 */
#include <stdio.h>

#include "cmd.h"
#include "expire.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"

int cmd_expire(int argc, char **argv)
{
	struct md_expired n = {0, 0};
	struct mr_err err;
	int quiet = 0, rc;
	const struct cmd_opt opts[] = {
		{'q', NULL, CMD_FLAG, &quiet, NULL},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = "expire", .opts = opts};

	if ((rc = cmd_parse(&c, argc, argv)) != 0 ||
	    (rc = cmd_open(&c, SNAP_READONLY | SNAP_NO_REPLIES,
			   CMD_SPOOL | CMD_EVENTS)) != 0)
		return rc;
	mr_err_clear(&err);
	if (exp_run(c.sp, c.sn->set->retention.handled_s,
		    c.sn->set->retention.failed_s, c.ev, mr_time(), &n,
		    &err) < 0) {
		log_err("expire: %s", err.text);
		rc = EXIT_RUNTIME;
	}
	if (!quiet)
		printf("expire: %ld handled and %ld failed request(s) "
		       "removed\n",
		       n.handled, n.failed);
	cmd_close(&c);
	return rc;
}
