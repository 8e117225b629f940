/* cmd.h - subcommands of mailresponder and what they share
 * DESCRIPTION  cmd/main.c sends "mailresponder SUB" to cmd_SUB(argc, argv)
 *              (argv[0] is SUB). Each parses its options, loads the
 *              settings, calls lib/ and maps the result to an exit code:
 *              0 done, 1 usage or configuration error, 2 runtime error.
 */
#ifndef MR_CMD_H
#define MR_CMD_H

#include "mr.h"

#define EXIT_USAGE 1
#define EXIT_RUNTIME 2

struct snap;

int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_drain(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_reprocess(int argc, char **argv);
int cmd_blacklist(int argc, char **argv);
int cmd_config_check(int argc, char **argv);
int cmd_postfix_maps(int argc, char **argv);
int cmd_send_direct(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_setup(int argc, char **argv);
int cmd_dkim_keygen(int argc, char **argv);
int cmd_expire(int argc, char **argv);
int cmd_help(int argc, char **argv);

/* The settings path: the -c argument, else $MAILRESPONDER_SETTINGS, else
 * /etc/mailresponder/settings.json. */
const char *cmd_settings(const char *opt);

/* Load a snapshot, printing every problem to stderr; sets the log level
 * from the settings. NULL on failure. */
struct snap *cmd_load(const char *settings, int flags);

#define CMD_QUIET 1 /* no summary on stdout */
#define CMD_HANDOFF_TIMEOUT 600L

/* Open the spool, take its lock, open the event log and drain it,
 * printing the summary to stdout unless CMD_QUIET. When a daemon owns the
 * spool, hand the work to it and wait at most timeout_s. Returns an exit
 * code. */
int cmd_drain_spool(struct snap *sn, int flags, long timeout_s);

/* Print a usage error and return EXIT_USAGE. */
int cmd_usage(const char *cmd, const char *msg);

#endif
