/* reprocess.c - mailresponder reprocess: failed messages through again
 * SYNOPSIS     mailresponder reprocess [-c settings] [-q] [--all | FILE...]
 *                      [--older-than AGE] [--newer-than AGE]
 * DESCRIPTION  Moves messages from the failure folder back into new/ (all,
 *              or the named ones, within an age window), then drains the
 *              spool - or, when a daemon owns it, leaves them to it.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"

/* "90", "90s", "30m", "12h", "7d" -> seconds; -1 if bad. */
static long parse_age(const char *s)
{
	static const struct {
		char unit;
		long mul;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};

	char num[32];
	size_t n = strlen(s);
	long v, mul = 1;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n + 1);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (num[n - 1] == units[i].unit) {
			mul = units[i].mul;
			num[n - 1] = 0;
		}
	if (mr_parse_long(num, &v) < 0 || v > 100L * 365 * 86400)
		return -1;
	return v * mul;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

struct rp_opts {
	const char *settings;
	int all, quiet;
	time_t newer, older;
};

static int parse_opts(int argc, char **argv, struct rp_opts *o)
{
	static const struct option lopts[] = {
		{"all", no_argument, NULL, 'a'},
		{"older-than", required_argument, NULL, 'o'},
		{"newer-than", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	time_t now = time(NULL);
	long age;
	int c;

	while ((c = getopt_long(argc, argv, "c:q", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->settings = optarg;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'a':
			o->all = 1;
			break;
		case 'o':
		case 'n':
			if ((age = parse_age(optarg)) < 0)
				return cmd_usage("reprocess", "bad AGE");
			if (c == 'o')
				o->older = now - age;
			else
				o->newer = now - age;
			break;
		default:
			return cmd_usage("reprocess", "bad option");
		}
	}
	if (o->all == (optind < argc))
		return cmd_usage("reprocess", "give --all or FILE...");
	return 0;
}

static int move_back(struct md_spool *sp, const struct rp_opts *o, int argc,
		     char **argv, size_t *total)
{
	struct mr_err err;
	size_t moved = 0;
	int bad = 0;

	mr_err_clear(&err);
	if (o->all) {
		if (md_reprocess(sp, NULL, o->newer, o->older, total, &err) <
		    0) {
			log_err("reprocess: %s", err.text);
			return -1;
		}
		return 0;
	}
	for (int i = optind; i < argc; i++) {
		if (md_reprocess(sp, base_name(argv[i]), o->newer, o->older,
				 &moved, &err) < 0) {
			log_err("reprocess %s: %s", base_name(argv[i]),
				err.text);
			bad = 1;
			continue;
		}
		*total += moved;
	}
	return bad ? -1 : 0;
}

int cmd_reprocess(int argc, char **argv)
{
	struct rp_opts o = {NULL, 0, 0, 0, 0};
	struct md_spool *sp;
	struct snap *sn;
	struct mr_err err;
	size_t total = 0;
	int rc, bad;

	if ((rc = parse_opts(argc, argv, &o)) != 0)
		return rc;
	sn = cmd_load(cmd_settings(o.settings), 0);
	if (sn == NULL)
		return EXIT_USAGE;
	mr_err_clear(&err);
	sp = md_spool_open(sn->set->spool, sn->set->failed_folder, &err);
	if (sp == NULL) {
		log_err("spool: %s", err.text);
		snap_unref(&sn);
		return EXIT_RUNTIME;
	}
	bad = move_back(sp, &o, argc, argv, &total);
	md_spool_close(&sp);
	if (!o.quiet)
		printf("reprocess: %zu message(s) moved back to new/\n", total);
	rc = cmd_drain_spool(sn, o.quiet ? CMD_QUIET : 0, CMD_HANDOFF_TIMEOUT);
	snap_unref(&sn);
	return rc ? rc : bad ? EXIT_RUNTIME : 0;
}
