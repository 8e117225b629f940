/* cmd.c - the prologue the subcommands share (contract: cmd.h)
 *
 * The getopt_long tables are built from the command's struct cmd_opt
 * table; a long-only option gets the code CMD_LONG_ONLY + its index.
 */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "event.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"
#include "stats.h"

#define CMD_OPTS_MAX 16
#define CMD_LONG_ONLY 256

int cmd_usage(const char *cmd, const char *msg)
{
	fprintf(stderr, "mailresponder %s: %s\n", cmd, msg);
	fprintf(stderr, "run 'mailresponder help' for usage\n");
	return EXIT_USAGE;
}

const char *cmd_settings(const char *opt)
{
	const char *env;

	if (opt)
		return opt;
	env = getenv("MAILRESPONDER_SETTINGS");
	if (env && *env)
		return env;
	return "/etc/mailresponder/settings.json";
}

/* The getopt_long tables for c's options (-c first). */
static void tables(const struct cmd *c, char *sh, struct option *lo)
{
	size_t k = 0, m = 0;

	sh[k++] = 'c';
	sh[k++] = ':';
	for (size_t i = 0; c->opts && c->opts[i].dst; i++) {
		const struct cmd_opt *o = &c->opts[i];
		int arg = o->type != CMD_FLAG;

		if (i >= CMD_OPTS_MAX) {
			log_err("%s: more than %d options", c->name,
				CMD_OPTS_MAX);
			abort(); /* a table in the code is wrong */
		}
		if (o->key) {
			sh[k++] = (char)o->key;
			if (arg)
				sh[k++] = ':';
		}
		if (o->name)
			lo[m++] = (struct option){
				o->name, arg ? required_argument : no_argument,
				NULL, o->key ? o->key : CMD_LONG_ONLY + (int)i};
	}
	sh[k] = 0;
	lo[m] = (struct option){NULL, 0, NULL, 0};
}

/* Store optarg as o says; 0 or -1 (a bad argument). */
static int store(const struct cmd_opt *o, const char *arg)
{
	long *v = o->dst;

	switch (o->type) {
	case CMD_FLAG:
		*(int *)o->dst = 1;
		return 0;
	case CMD_STR:
		*(const char **)o->dst = arg;
		return 0;
	case CMD_LONG:
		return mr_parse_long(arg, v);
	case CMD_SECONDS:
		return mr_parse_long(arg, v) < 0 || *v <= 0 ? -1 : 0;
	case CMD_AGE:
		return stats_parse_duration(arg, v);
	}
	return -1;
}

static const struct cmd_opt *find(const struct cmd *c, int ch)
{
	for (size_t i = 0; c->opts && c->opts[i].dst; i++) {
		const struct cmd_opt *o = &c->opts[i];

		if (o->key ? o->key == ch : CMD_LONG_ONLY + (int)i == ch)
			return o;
	}
	return NULL;
}

int cmd_parse(struct cmd *c, int argc, char **argv)
{
	char sh[2 * CMD_OPTS_MAX + 3];
	struct option lo[CMD_OPTS_MAX + 1];
	const char *opt_usage = c->opt_usage ? c->opt_usage : "bad option";
	const char *settings = NULL;
	int ch;

	tables(c, sh, lo);
	while ((ch = getopt_long(argc, argv, sh, lo, NULL)) != -1) {
		const struct cmd_opt *o = ch == 'c' ? NULL : find(c, ch);

		if (ch == 'c')
			settings = optarg;
		else if (o == NULL)
			return cmd_usage(c->name, opt_usage);
		else if (store(o, optarg) < 0)
			return cmd_usage(c->name, o->bad ? o->bad : opt_usage);
	}
	c->settings = cmd_settings(settings);
	c->args = argv + optind;
	c->nargs = argc - optind;
	if (c->nargs < c->min_args ||
	    (c->max_args >= 0 && c->nargs > c->max_args))
		return cmd_usage(c->name, c->args_usage
						  ? c->args_usage
						  : "no arguments expected");
	return 0;
}

static void print_problems(const char *settings, struct mr_msgs *problems)
{
	for (size_t i = 0; i < problems->n; i++)
		fprintf(stderr, "%s: %s\n", settings, problems->v[i]);
	mr_msgs_free(problems);
}

/* The snapshot into c->sn; 0 or an exit code. */
static int load(struct cmd *c, int snap_flags)
{
	struct mr_msgs problems = {NULL, 0};
	int unreachable = 0, lvl;

	c->sn = snap_load_ex(c->settings, snap_flags, &problems, &unreachable);
	print_problems(c->settings, &problems);
	if (unreachable)
		fprintf(stderr,
			"%s: S3 could not be reached and nothing is "
			"cached yet: not starting\n",
			c->settings);
	if (c->sn == NULL)
		return unreachable ? EXIT_RUNTIME : EXIT_USAGE;
	lvl = log_level_parse(c->sn->set->log_level);
	if (lvl >= 0)
		log_set_level((enum log_level)lvl);
	return 0;
}

int cmd_open(struct cmd *c, int snap_flags, int what)
{
	struct mr_err err;
	int rc;

	c->sn = NULL;
	c->sp = NULL;
	c->ev = NULL;
	if ((rc = load(c, snap_flags)) != 0)
		return rc;
	mr_err_clear(&err);
	if ((what & CMD_SPOOL) &&
	    (c->sp = md_spool_open(c->sn->set->spool, c->sn->set->failed_folder,
				   &err)) == NULL) {
		log_err("spool: %s", err.text);
		cmd_close(c);
		return EXIT_RUNTIME;
	}
	if ((what & CMD_EVENTS) &&
	    (c->ev = ev_open(c->sn->set->event_log, &err)) == NULL) {
		log_err("event_log: %s", err.text);
		cmd_close(c);
		return EXIT_RUNTIME;
	}
	return 0;
}

void cmd_close(struct cmd *c)
{
	ev_close(&c->ev);
	md_spool_close(&c->sp);
	snap_unref(&c->sn);
}

struct set *cmd_load_set(const char *settings)
{
	struct mr_msgs problems = {NULL, 0};
	struct set *s = set_load(settings, &problems);

	print_problems(settings, &problems);
	return s;
}
