/* send_direct.c - mailresponder send-direct: reply as if someone wrote in
 * SYNOPSIS     mailresponder send-direct [-c settings] --to ADDR
 *                      --requested ADDR [--subject S]
 * DESCRIPTION  Sends the replies configured for the requested address to
 *              --to, through the same composer, signer and transports as
 *              the pipeline, without policy checks or the daily limit (an
 *              operator's deliberate act). Prints how many were sent; the
 *              recipient is not echoed.
 */
#include <stdio.h>
#include <time.h>

#include "addr.h"
#include "cmd.h"
#include "job.h"
#include "log.h"
#include "settings.h"
#include "snap.h"

int cmd_send_direct(int argc, char **argv)
{
	const char *to = NULL, *requested = NULL, *subject = NULL;
	const struct cmd_opt opts[] = {
		{0, "to", CMD_STR, &to, NULL},
		{0, "requested", CMD_STR, &requested, NULL},
		{0, "subject", CMD_STR, &subject, NULL},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = "send-direct",
			.opts = opts,
			.args_usage = "--to and --requested needed"};
	struct job_ctx *ctx = NULL;
	struct mr_err err;
	int rc, sent = 0;

	if ((rc = cmd_parse(&c, argc, argv)) != 0)
		return rc;
	if (to == NULL || requested == NULL)
		return cmd_usage("send-direct", "--to and --requested needed");
	if (!addr_valid(to) || !addr_valid(requested))
		return cmd_usage("send-direct", "not a valid address");
	if ((rc = cmd_open(&c, 0, CMD_EVENTS)) != 0)
		return rc;
	mr_err_clear(&err);
	rc = EXIT_RUNTIME;
	if ((ctx = job_ctx_new(c.sn, NULL, c.ev, &err)) == NULL) {
		log_err("send-direct: %s", err.text);
	} else if (job_send_direct(ctx, to, requested, subject, time(NULL),
				   &sent, &err) < 0) {
		char red[256];

		log_redact(red, sizeof(red), err.text);
		log_err("send-direct: %d sent, then: %s", sent, red);
	} else {
		printf("send-direct: %d repl%s sent\n", sent,
		       sent == 1 ? "y" : "ies");
		rc = 0;
	}
	job_ctx_free(&ctx);
	cmd_close(&c);
	return rc;
}
