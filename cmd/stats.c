/* stats.c - mailresponder stats: a summary of the event log
 * SYNOPSIS     mailresponder stats [-c settings.json] [--since AGE |
 *                                  --from T [--to T]] [--json] [--mail]
 * DESCRIPTION  Reads the event log and its rotated siblings (stats.h) for
 *              the window (default the last 24 hours), adds the failed
 *              folder's count, size and oldest entry, and prints the
 *              report (text, or JSON with --json); --mail sends the text
 *              report to stats_addresses (else admin_addresses) instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "log.h"
#include "md.h"
#include "metrics.h"
#include "settings.h"
#include "snap.h"
#include "stats.h"

struct opts {
	long since;            /* --since AGE; -1: not given */
	const char *from, *to; /* --from, --to */
	int json, mail;
	time_t from_t, to_t; /* the window */
};

/* The window from the options; 0 or EXIT_USAGE. */
static int window(struct opts *o)
{
	time_t now = time(NULL);

	if (o->since >= 0 && (o->from || o->to))
		return cmd_usage("stats", "--since and --from/--to exclude "
					  "each other");
	if (o->to && !o->from)
		return cmd_usage("stats", "--to needs --from");
	/* records carry milliseconds: this second is in the window */
	o->to_t = now + 1;
	o->from_t = now - (o->since >= 0 ? o->since : 86400);
	if (o->from && stats_parse_time(o->from, &o->from_t) < 0)
		return cmd_usage("stats", "bad --from TIME");
	if (o->to && stats_parse_time(o->to, &o->to_t) < 0)
		return cmd_usage("stats", "bad --to TIME");
	if (o->from_t >= o->to_t)
		return cmd_usage("stats", "the window is empty (from >= to)");
	return 0;
}

static int failed_folder(struct md_spool *sp, struct stats_report *r)
{
	struct md_counts c;
	struct mr_err err;

	mr_err_clear(&err);
	if (md_counts(sp, &c, &err) < 0) {
		log_err("spool: %s", err.text);
		return -1;
	}
	r->failed_n = c.n_failed;
	r->failed_bytes = c.failed_bytes;
	r->failed_oldest = c.oldest_failed;
	return 0;
}

static int output(const struct stats_report *r, const struct opts *o)
{
	struct mr_buf b;
	struct mr_err err;
	char *js;
	int rc = 0;

	buf_init(&b);
	if (o->json) {
		js = stats_json_dup(r);
		printf("%s\n", js);
		free(js);
	}
	stats_text(r, &b);
	if (!o->json && !o->mail)
		fputs(b.data, stdout);
	mr_err_clear(&err);
	if (o->mail &&
	    stats_mail(r->sn, b.data, r->from, r->to, r->now, &err) < 0) {
		log_err("stats --mail: %s", err.text);
		rc = err.kind == MR_PERM ? EXIT_USAGE : EXIT_RUNTIME;
	}
	buf_free(&b);
	return rc;
}

int cmd_stats(int argc, char **argv)
{
	struct opts o = {-1, NULL, NULL, 0, 0, 0, 0};
	const struct cmd_opt opts[] = {
		{0, "since", CMD_AGE, &o.since, "bad --since AGE"},
		{0, "from", CMD_STR, &o.from, NULL},
		{0, "to", CMD_STR, &o.to, NULL},
		{0, "json", CMD_FLAG, &o.json, NULL},
		{0, "mail", CMD_FLAG, &o.mail, NULL},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = "stats", .opts = opts};
	struct stats_report r;
	struct stats_read rd;
	struct mr_err err;
	const char *log;
	struct met *m;
	int rc;

	if ((rc = cmd_parse(&c, argc, argv)) != 0 || (rc = window(&o)) != 0)
		return rc;
	/* the responder config tells our own addresses from others */
	if ((rc = cmd_open(&c, SNAP_READONLY | SNAP_NO_SEND, CMD_SPOOL)) != 0)
		return rc;
	log = c.sn->set->event_log;
	if (strcmp(log, "stderr") == 0 || strcmp(log, "syslog") == 0) {
		log_err("stats: event_log is %s: no file to read", log);
		cmd_close(&c);
		return EXIT_USAGE;
	}
	m = met_new();
	mr_err_clear(&err);
	rc = stats_read_log(log, o.from_t, o.to_t, m, &rd, &err);
	if (rc < 0)
		log_err("stats: %s", err.text);
	r = (struct stats_report){c.sn, m, &rd, o.from_t, o.to_t,
				  log,  0, 0,   0,        time(NULL)};
	if (rc == 0 && failed_folder(c.sp, &r) < 0)
		rc = -1;
	rc = rc < 0 ? EXIT_RUNTIME : output(&r, &o);
	met_free(&m);
	cmd_close(&c);
	return rc;
}
