/* stats.c - mailresponder stats: a summary of the event log
 * SYNOPSIS     mailresponder stats [-c settings.json] [--since AGE |
 *                                  --from T [--to T]] [--json] [--mail]
 * DESCRIPTION  Reads the event log and its rotated siblings (stats.h) for
 *              the window (default the last 24 hours), adds the failed
 *              folder's count, size and oldest entry, and prints the
 *              report (text, or JSON with --json); --mail sends the text
 *              report to stats_addresses (else admin_addresses) instead.
 */
#include <getopt.h>
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
	const char *settings;
	time_t from, to;
	int have_since, have_from, have_to;
	int json, mail;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{"since", required_argument, NULL, 's'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"mail", no_argument, NULL, 'm'},
		{NULL, 0, NULL, 0},
	};
	time_t now = time(NULL);
	long age;
	int c;

	/* records carry milliseconds: this second is in the window */
	o->to = now + 1;
	o->from = now - 86400;
	while ((c = getopt_long(argc, argv, "c:", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->settings = optarg;
			break;
		case 's':
			if (stats_parse_duration(optarg, &age) < 0)
				return cmd_usage("stats", "bad --since AGE");
			o->from = now - age;
			o->have_since = 1;
			break;
		case 'f':
			if (stats_parse_time(optarg, &o->from) < 0)
				return cmd_usage("stats", "bad --from TIME");
			o->have_from = 1;
			break;
		case 't':
			if (stats_parse_time(optarg, &o->to) < 0)
				return cmd_usage("stats", "bad --to TIME");
			o->have_to = 1;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'm':
			o->mail = 1;
			break;
		default:
			return cmd_usage("stats", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage("stats", "no arguments expected");
	if (o->have_since && (o->have_from || o->have_to))
		return cmd_usage("stats", "--since and --from/--to exclude "
					  "each other");
	if (o->have_to && !o->have_from)
		return cmd_usage("stats", "--to needs --from");
	if (o->from >= o->to)
		return cmd_usage("stats", "the window is empty (from >= to)");
	return 0;
}

static int failed_folder(const struct set *s, struct stats_report *r)
{
	struct md_spool *sp;
	struct md_counts c;
	struct mr_err err;

	mr_err_clear(&err);
	sp = md_spool_open(s->spool, s->failed_folder, &err);
	if (sp == NULL || md_counts(sp, &c, &err) < 0) {
		log_err("spool: %s", err.text);
		md_spool_close(&sp);
		return -1;
	}
	r->failed_n = c.n_failed;
	r->failed_bytes = c.failed_bytes;
	r->failed_oldest = c.oldest_failed;
	md_spool_close(&sp);
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
	struct opts o = {NULL, 0, 0, 0, 0, 0, 0, 0};
	struct stats_report r;
	struct stats_read rd;
	struct mr_err err;
	struct snap *sn;
	struct met *m;
	int rc;

	if (parse_opts(argc, argv, &o) != 0)
		return EXIT_USAGE;
	/* the responder config tells our own addresses from others */
	sn = cmd_load(cmd_settings(o.settings), SNAP_READONLY | SNAP_NO_SEND);
	if (sn == NULL)
		return EXIT_USAGE;
	if (strcmp(sn->set->event_log, "stderr") == 0 ||
	    strcmp(sn->set->event_log, "syslog") == 0) {
		log_err("stats: event_log is %s: no file to read",
			sn->set->event_log);
		snap_unref(&sn);
		return EXIT_USAGE;
	}
	m = met_new();
	mr_err_clear(&err);
	memset(&r, 0, sizeof(r));
	rc = stats_read_log(sn->set->event_log, o.from, o.to, m, &rd, &err);
	if (rc < 0)
		log_err("stats: %s", err.text);
	r = (struct stats_report){
		sn, m, &rd, o.from,    o.to, sn->set->event_log,
		0,  0, 0,   time(NULL)};
	if (rc == 0 && failed_folder(sn->set, &r) < 0)
		rc = -1;
	rc = rc < 0 ? EXIT_RUNTIME : output(&r, &o);
	met_free(&m);
	snap_unref(&sn);
	return rc;
}
