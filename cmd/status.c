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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "ctl.h"
#include "fwdcap.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"
#include "store.h"

#define STATUS_TIMEOUT_MS 2000

static void print_daemon(struct md_spool *sp)
{
	struct mr_err err;
	pid_t pid = 0;
	char *js = NULL;

	mr_err_clear(&err);
	if (md_lock_owner(sp, &pid, &err) <= 0) {
		printf("daemon: not running\n");
		return;
	}
	printf("daemon: running, pid %ld\n", (long)pid);
	if (ctl_status(md_spool_path(sp), STATUS_TIMEOUT_MS, &js, &err) > 0)
		printf("daemon counters: %s", js);
	else if (err.text[0])
		log_warn("status: daemon counters: %s", err.text);
	free(js);
}

static void gauge(const char *name, const char *help, long long v)
{
	printf("# HELP mailresponder_%s %s\n# TYPE mailresponder_%s gauge\n"
	       "mailresponder_%s %lld\n",
	       name, help, name, name, v);
}

static void print_prometheus(struct md_spool *sp, const struct md_counts *c)
{
	char *out = NULL;
	struct mr_err err;
	pid_t pid = 0;
	int up;

	mr_err_clear(&err);
	up = md_lock_owner(sp, &pid, &err) > 0 &&
	     ctl_prometheus(md_spool_path(sp), STATUS_TIMEOUT_MS, &out, &err) >
		     0;
	if (!up && err.text[0])
		log_warn("status: %s", err.text);
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
	struct md_counts n;
	struct mr_err err;
	int prom = 0, rc;
	const struct cmd_opt opts[] = {
		{0, "prometheus", CMD_FLAG, &prom, NULL},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = "status", .opts = opts};

	if ((rc = cmd_parse(&c, argc, argv)) != 0 ||
	    (rc = cmd_open(&c, SNAP_READONLY | SNAP_NO_REPLIES, CMD_SPOOL)) !=
		    0)
		return rc;
	mr_err_clear(&err);
	if (md_counts(c.sp, &n, &err) < 0) {
		log_err("spool: %s", err.text);
		cmd_close(&c);
		return EXIT_RUNTIME;
	}
	if (prom) {
		print_prometheus(c.sp, &n);
	} else {
		printf("spool: %s\n", md_spool_path(c.sp));
		print_daemon(c.sp);
		printf("new: %ld\nclaimed: %ld\nfailed: %ld\n", n.n_new,
		       n.n_claimed, n.n_failed);
		if (n.oldest_new > 0)
			printf("oldest new: %ld s\n",
			       (long)(time(NULL) - n.oldest_new));
		else
			printf("oldest new: -\n");
		print_forwards(c.sn);
	}
	cmd_close(&c);
	return 0;
}
