/* help.c - mailresponder help
 */
#include <stdio.h>

#include "cmd.h"

static const char usage[] =
	"usage: mailresponder COMMAND [-c settings.json] [ARGS]\n"
	"\n"
	"commands:\n"
	"  run                   the daemon: watch new/ and answer each\n"
	"                        request as it arrives (SIGTERM stops, SIGHUP\n"
	"                        reopens the event log and reloads, SIGUSR1\n"
	"                        rescans)\n"
	"  status [--prometheus] who owns the spool, backlog, claimed,\n"
	"                        failed, oldest message, the daemon's\n"
	"                        counters (--prometheus: in the Prometheus\n"
	"                        text format)\n"
	"  drain [-t SECONDS]    process every message in the spool's new/\n"
	"                        (and any left claimed by a dead run), exit;\n"
	"                        with a daemon running, ask it and wait\n"
	"  classify FILE...      print the verdict for each file as JSON;\n"
	"                        sends nothing, changes nothing\n"
	"  reprocess [--all | FILE...] [--older-than AGE] [--newer-than AGE]\n"
	"                        move failed messages back to new/ and\n"
	"                        process them (AGE: 90, 30m, 12h, 7d)\n"
	"  blacklist clear-adhoc               reset every daily count\n"
	"  blacklist add ADDR|DOMAIN           block a sender or domain\n"
	"  blacklist allow ADDR|DOMAIN         exempt from the daily limit\n"
	"  blacklist remove ADDR|DOMAIN        drop from every list and\n"
	"                                      forget the daily count\n"
	"  blacklist show ADDR|DOMAIN          daily count and list membership\n"
	"  config-check          check the settings, keys, store, responder\n"
	"                        config, attachments and transports; print\n"
	"                        every problem and the DKIM DNS records\n"
	"  postfix-maps [-d DIR] [--base DIR] [--postmap] [--if-changed]\n"
	"                        write virtual_mailbox_domains and\n"
	"                        virtual_mailbox_maps (to DIR, default the\n"
	"                        settings folder); --postmap runs postmap;\n"
	"                        --if-changed: only when the table lines\n"
	"                        changed, else exit 3\n"
	"  send-direct --to ADDR --requested ADDR [--subject S]\n"
	"                        send the replies configured for the\n"
	"                        requested address to ADDR, as if ADDR had\n"
	"                        written in (no policy, no daily limit)\n"
	"  stats [--since AGE | --from T [--to T]] [--json] [--mail]\n"
	"                        summary of the event log (default the last\n"
	"                        24 h; T: 2026-12-04[T10:00[:00]Z] or @EPOCH);\n"
	"                        --mail sends it to stats_addresses\n"
	"  setup [-u USER] [--samples DIR]\n"
	"                        one-time host setup, as root: the settings\n"
	"                        and responder config from the samples when\n"
	"                        absent, the service user (default\n"
	"                        mailresponder), its folders; idempotent\n"
	"  dkim-keygen [-s SELECTOR] [--rsa-bits N] [--ed25519] [-u USER]\n"
	"                        write the DKIM key(s) the settings name and\n"
	"                        print the DNS TXT records to publish\n"
	"  expire [-q]           remove handled and failed requests older\n"
	"                        than retention.handled_s / failed_s (the\n"
	"                        daemon does it hourly; for cron)\n"
	"  help                  this text\n"
	"\n"
	"The settings file is -c FILE, else $MAILRESPONDER_SETTINGS, else\n"
	"/etc/mailresponder/settings.json.\n"
	"Exit status: 0 done, 1 usage or configuration error, 2 runtime "
	"error.\n";

int cmd_help(int argc, char **argv)
{
	(void)argc; /* no arguments */
	(void)argv;
	fputs(usage, stdout);
	return 0;
}
