/* expire.c - mailresponder expire: retention pass for cron
 * SYNOPSIS     mailresponder expire [-c settings] [-q]
 * DESCRIPTION  Removes handled requests older than retention.handled_s
 *              and failed ones older than retention.failed_s (the daemon
 *              does the same every hour), with one event line per removed
 *              file, and prints the counts. Needs no spool lock: only
 *              requests in a final state are removed, which the daemon no
 *              longer touches.
 */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "event.h"
#include "expire.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"

static int expire_spool(const struct set *s, int quiet)
{
	struct md_expired n = {0, 0};
	struct md_spool *sp;
	struct ev_log *ev;
	struct mr_err err;
	int rc = 0;

	mr_err_clear(&err);
	sp = md_spool_open(s->spool, s->failed_folder, &err);
	if (sp == NULL) {
		log_err("spool: %s", err.text);
		return EXIT_RUNTIME;
	}
	ev = ev_open(s->event_log, &err);
	if (ev == NULL) {
		log_err("event log: %s", err.text);
		md_spool_close(&sp);
		return EXIT_RUNTIME;
	}
	if (exp_run(sp, s->retention.handled_s, s->retention.failed_s, ev,
		    mr_time(), &n, &err) < 0) {
		log_err("expire: %s", err.text);
		rc = EXIT_RUNTIME;
	}
	if (!quiet)
		printf("expire: %ld handled and %ld failed request(s) "
		       "removed\n",
		       n.handled, n.failed);
	ev_close(&ev);
	md_spool_close(&sp);
	return rc;
}

int cmd_expire(int argc, char **argv)
{
	const char *settings = NULL;
	struct snap *sn;
	int c, quiet = 0, rc;

	while ((c = getopt(argc, argv, "c:q")) != -1) {
		switch (c) {
		case 'c':
			settings = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			return cmd_usage("expire", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage("expire", "no arguments expected");
	sn = cmd_load(cmd_settings(settings), SNAP_READONLY | SNAP_NO_REPLIES);
	if (sn == NULL)
		return EXIT_USAGE;
	rc = expire_spool(sn->set, quiet);
	snap_unref(&sn);
	return rc;
}
