/* status.c - mailresponder status: the health of a spool
 * SYNOPSIS     mailresponder status [-c settings.json]
 * DESCRIPTION  Whether a daemon owns the spool (and its counters when its
 *              control socket answers), the backlog in new/, the claimed
 *              count, the failed count and the age of the oldest message
 *              in new/. Changes nothing.
 */
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "cmd.h"
#include "daemon.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"

static void print_daemon(struct md_spool *sp)
{
	struct mr_err err;
	pid_t pid = 0;
	char out[1024];

	mr_err_clear(&err);
	if (md_lock_owner(sp, &pid, &err) <= 0) {
		printf("daemon: not running\n");
		return;
	}
	printf("daemon: running, pid %ld\n", (long)pid);
	if (dmn_request(md_spool_path(sp), "status", 2000, out,
			sizeof(out)) == 0)
		printf("daemon counters: %s", out);
}

int cmd_status(int argc, char **argv)
{
	const char *settings = NULL;
	struct md_spool *sp;
	struct md_counts c;
	struct mr_err err;
	struct snap *sn;
	int ch;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			return cmd_usage("status", "bad option");
		settings = optarg;
	}
	if (optind != argc)
		return cmd_usage("status", "no arguments expected");
	sn = cmd_load(cmd_settings(settings), SNAP_READONLY | SNAP_NO_REPLIES);
	if (sn == NULL)
		return EXIT_USAGE;
	mr_err_clear(&err);
	sp = md_spool_open(sn->set->spool, sn->set->failed_folder, &err);
	if (sp == NULL || md_counts(sp, &c, &err) < 0) {
		log_err("spool: %s", err.text);
		md_spool_close(&sp);
		snap_unref(&sn);
		return EXIT_RUNTIME;
	}
	printf("spool: %s\n", md_spool_path(sp));
	print_daemon(sp);
	printf("new: %ld\nclaimed: %ld\nfailed: %ld\n", c.n_new, c.n_claimed,
	       c.n_failed);
	if (c.oldest_new > 0)
		printf("oldest new: %ld s\n", (long)(time(NULL) - c.oldest_new));
	else
		printf("oldest new: -\n");
	md_spool_close(&sp);
	snap_unref(&sn);
	return 0;
}
