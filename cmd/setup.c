/* setup.c - mailresponder setup: the one-time host work, idempotent
 * SYNOPSIS     mailresponder setup [-c settings.json] [-u USER] [--samples DIR]
 * DESCRIPTION  As root: copies the sample settings and responder config
 *              when absent, adds the service user when absent, and
 *              creates (or fixes) the folders the settings name with the
 *              owner and mode the service needs (lib/inst.c). Running it
 *              again changes only what is missing or wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "inst.h"
#include "settings.h"

struct opts {
	const char *settings;
	const char *user;
	const char *samples;
};

/* Copy share/<sample> to dst when dst is absent; 0 or -1 (printed). */
static int sample(const char *share, const char *name, const char *dst)
{
	char *src = mr_path_join(share, name);
	struct mr_err err;
	int r;

	mr_err_clear(&err);
	r = inst_copy_new(src, dst, 0644, &err);
	if (r < 0)
		fprintf(stderr, "setup: %s\n", err.text);
	else if (r == 1)
		printf("setup: copied %s to %s (edit it)\n", src, dst);
	else
		printf("setup: kept %s\n", dst);
	free(src);
	return r < 0 ? -1 : 0;
}

static int user(const struct opts *o, const struct set *s, struct inst_user *u)
{
	char *home = inst_state_dir_dup(s);
	struct mr_err err;
	int r;

	mr_err_clear(&err);
	r = inst_user(o->user, home, 1, u, &err);
	free(home);
	if (r < 0) {
		fprintf(stderr, "setup: %s\n", err.text);
		return -1;
	}
	printf("setup: %s user %s (uid %u, gid %u)\n",
	       r == 2 ? "created" : "found", u->name, (unsigned)u->uid,
	       (unsigned)u->gid);
	return 0;
}

static int folders(const struct set *s, const struct inst_user *u)
{
	struct mr_msgs done = {NULL, 0}, problems = {NULL, 0};

	(void)inst_folders(s, u, &done, &problems); /* problems tell */
	for (size_t i = 0; i < done.n; i++)
		printf("setup: %s\n", done.v[i]);
	for (size_t i = 0; i < problems.n; i++)
		fprintf(stderr, "setup: %s\n", problems.v[i]);
	mr_msgs_free(&done);
	if (problems.n == 0)
		return 0;
	mr_msgs_free(&problems);
	return -1;
}

int cmd_setup(int argc, char **argv)
{
	struct opts o = {NULL, "mailresponder", NULL};
	const struct cmd_opt opts[] = {
		{'u', NULL, CMD_STR, &o.user, NULL},
		{0, "samples", CMD_STR, &o.samples, NULL},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = "setup",
			.opts = opts,
			.opt_usage = "bad option or argument",
			.args_usage = "bad option or argument"};
	struct inst_user u;
	struct set *s = NULL;
	char *share;
	int rc;

	if ((rc = cmd_parse(&c, argc, argv)) != 0)
		return rc;
	rc = EXIT_USAGE;
	if (geteuid() != 0) {
		fprintf(stderr, "setup: run it as root: it adds a user and "
				"gives folders to it\n");
		return EXIT_USAGE;
	}
	o.settings = c.settings;
	share = o.samples ? xstrdup(o.samples) : inst_share_dir_dup();
	if (sample(share, "settings.sample.json", o.settings) < 0 ||
	    (s = cmd_load_set(o.settings)) == NULL)
		goto out;
	if (strncmp(s->responder_config, "s3://", 5) != 0 &&
	    sample(share, "responses.sample.json", s->responder_config) < 0)
		goto out;
	if (user(&o, s, &u) < 0 || folders(s, &u) < 0)
		goto out;
	printf("setup: done; next: edit %s and %s, then run "
	       "\"mailresponder dkim-keygen\"\n",
	       o.settings, s->responder_config);
	rc = 0;
out:
	set_free(&s);
	free(share);
	return rc;
}
