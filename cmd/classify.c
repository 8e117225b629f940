/* classify.c - mailresponder classify FILE...: print verdicts, change nothing
 * DESCRIPTION  One JSON object per file on stdout. The store is opened
 *              read-only (a missing database reads as empty), the daily
 *              count is only read, and no key file is created.
 */
#include <stdio.h>

#include <json-c/json.h>

#include "cmd.h"
#include "job.h"
#include "log.h"
#include "settings.h"
#include "snap.h"
#include "store.h"

static void print_verdict(const char *file, const struct job_verdict *v)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "file", json_object_new_string(file));
	json_object_object_add(o, "outcome",
			       json_object_new_string(v->outcome));
	json_object_object_add(o, "reason", json_object_new_string(v->reason));
	json_object_object_add(
		o, "requested",
		v->requested[0] ? json_object_new_string(v->requested) : NULL);
	json_object_object_add(o, "sender_hash",
			       v->sender_hash[0]
				       ? json_object_new_string(v->sender_hash)
				       : NULL);
	json_object_object_add(o, "replies", json_object_new_int(v->replies));
	json_object_object_add(o, "forward",
			       json_object_new_boolean(v->forward));
	if (v->error[0])
		json_object_object_add(o, "error",
				       json_object_new_string(v->error));
	puts(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

int cmd_classify(int argc, char **argv)
{
	struct cmd c = {.name = "classify",
			.min_args = 1,
			.max_args = -1,
			.args_usage = "FILE... expected"};
	struct st *st;
	struct mr_err err;
	int rc;

	if ((rc = cmd_parse(&c, argc, argv)) != 0 ||
	    (rc = cmd_open(&c, SNAP_READONLY | SNAP_NO_SEND, 0)) != 0)
		return rc;
	mr_err_clear(&err);
	st = st_open_set(c.sn->set, ST_READONLY, &err);
	if (st == NULL)
		log_warn("store: %s; list and limit rows skipped", err.text);
	for (int i = 0; i < c.nargs; i++) {
		struct job_verdict v;

		(void)job_classify(c.sn, st, c.args[i], &v); /* v says it all */
		print_verdict(c.args[i], &v);
	}
	fflush(stdout);
	st_close(&st);
	cmd_close(&c);
	return 0;
}
