/* drain.c - mailresponder drain: process the backlog and exit
 * SYNOPSIS     mailresponder drain [-c settings.json] [-q]
 */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cmd.h"
#include "drain.h"
#include "event.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"

static int lock_spool(struct md_spool *sp, int flags)
{
	struct mr_err err;
	pid_t pid = 0;
	int r;

	mr_err_clear(&err);
	r = md_lock(sp, 0, &err);
	if (r > 0)
		return 0;
	if (r < 0) {
		log_err("spool lock: %s", err.text);
		return -1;
	}
	if (md_lock_owner(sp, &pid, &err) <= 0)
		pid = 0;
	if (flags & CMD_BUSY_OK) {
		printf("spool %s is owned by process %ld, which handles the "
		       "messages\n",
		       md_spool_path(sp), (long)pid);
		return 1;
	}
	log_err("spool %s is owned by process %ld; not draining",
		md_spool_path(sp), (long)pid);
	return -1;
}

int cmd_drain_spool(struct snap *sn, int flags)
{
	const struct set *s = sn->set;
	struct md_spool *sp = NULL;
	struct ev_log *ev = NULL;
	struct drain_stats st;
	struct mr_err err;
	long long t0 = mr_now_ms();
	int rc = EXIT_RUNTIME;

	mr_err_clear(&err);
	sp = md_spool_open(s->spool, s->failed_folder, &err);
	if (sp == NULL) {
		log_err("spool: %s", err.text);
		return EXIT_RUNTIME;
	}
	switch (lock_spool(sp, flags)) {
	case 1:
		rc = 0;
		goto out;
	case -1:
		goto out;
	}
	ev = ev_open(s->event_log, &err);
	if (ev == NULL) {
		log_err("event_log: %s", err.text);
		goto out;
	}
	rc = drain_run(sn, sp, ev, &st, &err) < 0 ? EXIT_RUNTIME : 0;
	if (rc != 0)
		log_err("drain stopped: %s", err.text);
	if (!(flags & CMD_QUIET)) {
		printf("drain: %s: %.3f s\n", s->spool,
		       (double)(mr_now_ms() - t0) / 1000.0);
		drain_stats_print(&st, stdout);
	}
out:
	ev_close(&ev);
	md_spool_close(&sp);
	return rc;
}

int cmd_drain(int argc, char **argv)
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
			return cmd_usage("drain", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage("drain", "no arguments expected");
	sn = cmd_load(cmd_settings(settings), 0);
	if (sn == NULL)
		return EXIT_USAGE;
	rc = cmd_drain_spool(sn, quiet ? CMD_QUIET : 0);
	snap_unref(&sn);
	return rc;
}
