/* status.c - mailresponder status: the health of a spool
 * SYNOPSIS     mailresponder status [-c settings.json] [--prometheus]
 * DESCRIPTION  Whether a daemon owns the spool (and its counters when its
 *              control socket answers), the backlog in new/, the claimed
 *              count, the failed count and the age of the oldest message
 *              in new/. Changes nothing. --prometheus prints the same in
 *              the Prometheus text format (for node_exporter's textfile
 *              collector): the spool's gauges always, the daemon's
 *              counters when it runs (mailresponder_up says whether).
 *              It also prints the admin forwards of this hour per reason
 *              with those the hourly cap held back (from the store, opened
 *              read-only).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "daemon.h"
#include "fwdcap.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"
#include "store.h"

static void print_daemon(struct md_spool *sp)
{
	struct mr_err err;
	pid_t pid = 0;
	char out[16384];

	mr_err_clear(&err);
	if (md_lock_owner(sp, &pid, &err) <= 0) {
		printf("daemon: not running\n");
		return;
	}
	printf("daemon: running, pid %ld\n", (long)pid);
	if (dmn_request(md_spool_path(sp), "status", 2000, out, sizeof(out)) ==
	    0)
		printf("daemon counters: %s", out);
}

#define STATUS_PROM_MAX (256 * 1024)

static void gauge(const char *name, const char *help, long long v)
{
	printf("# HELP mailresponder_%s %s\n# TYPE mailresponder_%s gauge\n"
	       "mailresponder_%s %lld\n",
	       name, help, name, name, v);
}

static void print_prometheus(struct md_spool *sp, const struct md_counts *c)
{
	char *out = xmalloc(STATUS_PROM_MAX);
	struct mr_err err;
	pid_t pid = 0;
	int up;

	mr_err_clear(&err);
	up = md_lock_owner(sp, &pid, &err) > 0 &&
	     dmn_request(md_spool_path(sp), "prometheus", 2000, out,
			 STATUS_PROM_MAX) == 0 &&
	     strncmp(out, "# HELP", 6) == 0;
	gauge("up", "1 when a daemon owns the spool and answered.", up);
	gauge("spool_new", "Messages waiting in new/.", c->n_new);
	gauge("spool_claimed", "Messages being handled (cur/ without flags).",
	      c->n_claimed);
	gauge("spool_failed", "Messages in the failed folder.", c->n_failed);
	gauge("spool_failed_bytes", "Size of the failed folder's messages.",
	      c->failed_bytes);
	gauge("oldest_new_age_seconds",
	      "Age of the oldest message waiting in new/ (0: none).",
	      c->oldest_new > 0 ? (long long)(time(NULL) - c->oldest_new) : 0);
	if (up)
		fputs(out, stdout);
	free(out);
}

static void print_forwards(const struct snap *sn)
{
	const struct set *s = sn->set;
	struct mr_err err;
	struct st *st;

	mr_err_clear(&err);
	st = st_open(s->store, ST_READONLY, &err);
	if (st == NULL ||
	    fwdcap_print(st, sn->store_key.data ? &sn->store_key : NULL,
			 s->forward_reasons, s->forward_cap_per_hour,
			 time(NULL), stdout, &err) < 0)
		printf("forwards this hour: unknown (%s)\n", err.text);
	st_close(&st);
}

int cmd_status(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"prometheus", no_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	const char *settings = NULL;
	struct md_spool *sp;
	struct md_counts c;
	struct mr_err err;
	struct snap *sn;
	int ch, prom = 0;

	while ((ch = getopt_long(argc, argv, "c:", lopts, NULL)) != -1) {
		if (ch == 'p')
			prom = 1;
		else if (ch == 'c')
			settings = optarg;
		else
			return cmd_usage("status", "bad option");
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
	if (prom) {
		print_prometheus(sp, &c);
		md_spool_close(&sp);
		snap_unref(&sn);
		return 0;
	}
	printf("spool: %s\n", md_spool_path(sp));
	print_daemon(sp);
	printf("new: %ld\nclaimed: %ld\nfailed: %ld\n", c.n_new, c.n_claimed,
	       c.n_failed);
	if (c.oldest_new > 0)
		printf("oldest new: %ld s\n",
		       (long)(time(NULL) - c.oldest_new));
	else
		printf("oldest new: -\n");
	print_forwards(sn);
	md_spool_close(&sp);
	snap_unref(&sn);
	return 0;
}
