/* send_direct.c - mailresponder send-direct: reply as if someone wrote in
 * SYNOPSIS     mailresponder send-direct [-c settings] --to ADDR
 *                      --requested ADDR [--subject S]
 * DESCRIPTION  Sends the replies configured for the requested address to
 *              --to, through the same composer, signer and transports as
 *              the pipeline, without policy checks or the daily limit (an
 *              operator's deliberate act). Prints how many were sent; the
 *              recipient is not echoed.
 */
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "addr.h"
#include "cmd.h"
#include "event.h"
#include "job.h"
#include "log.h"
#include "settings.h"
#include "snap.h"

struct sd_opts {
	const char *settings, *to, *requested, *subject;
};

static int parse(int argc, char **argv, struct sd_opts *o)
{
	static const struct option lopts[] = {
		{"to", required_argument, NULL, 't'},
		{"requested", required_argument, NULL, 'r'},
		{"subject", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->settings = optarg;
			break;
		case 't':
			o->to = optarg;
			break;
		case 'r':
			o->requested = optarg;
			break;
		case 's':
			o->subject = optarg;
			break;
		default:
			return cmd_usage("send-direct", "bad option");
		}
	}
	if (optind != argc || o->to == NULL || o->requested == NULL)
		return cmd_usage("send-direct", "--to and --requested needed");
	if (!addr_valid(o->to) || !addr_valid(o->requested))
		return cmd_usage("send-direct", "not a valid address");
	return 0;
}

int cmd_send_direct(int argc, char **argv)
{
	struct sd_opts o = {NULL, NULL, NULL, NULL};
	struct job_ctx *ctx = NULL;
	struct ev_log *ev = NULL;
	struct snap *sn;
	struct mr_err err;
	int rc, sent = 0;

	if ((rc = parse(argc, argv, &o)) != 0)
		return rc;
	sn = cmd_load(cmd_settings(o.settings), 0);
	if (sn == NULL)
		return EXIT_USAGE;
	mr_err_clear(&err);
	rc = EXIT_RUNTIME;
	if ((ev = ev_open(sn->set->event_log, &err)) == NULL ||
	    (ctx = job_ctx_new(sn, NULL, ev, &err)) == NULL) {
		log_err("send-direct: %s", err.text);
	} else if (job_send_direct(ctx, o.to, o.requested, o.subject,
				   time(NULL), &sent, &err) < 0) {
		char red[256];

		log_redact(red, sizeof(red), err.text);
		log_err("send-direct: %d sent, then: %s", sent, red);
	} else {
		printf("send-direct: %d repl%s sent\n", sent,
		       sent == 1 ? "y" : "ies");
		rc = 0;
	}
	job_ctx_free(&ctx);
	ev_close(&ev);
	snap_unref(&sn);
	return rc;
}
