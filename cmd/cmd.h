/* cmd.h - subcommands of mailresponder and what they share
 * SYNOPSIS     int cmd_parse(struct cmd *, int argc, char **argv);
 *              int cmd_open(struct cmd *, int snap_flags, int what);
 *              void cmd_close(struct cmd *);
 *              struct set *cmd_load_set(const char *settings);
 *              const char *cmd_settings(const char *opt);
 *              int cmd_usage(const char *cmd, const char *msg);
 * DESCRIPTION  cmd/main.c sends "mailresponder SUB" to cmd_SUB(argc, argv)
 *              (argv[0] is SUB). Each parses its options, loads the
 *              settings, calls lib/ and maps the result to an exit code:
 *              0 done, 1 usage or configuration error, 2 runtime error.
 *              The prologue is shared: a command describes its options in
 *              a table of struct cmd_opt and its positional arguments in
 *              struct cmd; cmd_parse reads argv (-c SETTINGS for every
 *              command, then the table), stores each option where its
 *              entry points, and sets settings (the -c argument, else
 *              $MAILRESPONDER_SETTINGS, else
 *              /etc/mailresponder/settings.json), args and nargs.
 *              cmd_open loads the snapshot (snap.h; every problem on
 *              stderr, the log level from the settings) and, as what
 *              asks, opens the spool (CMD_SPOOL) and the event log
 *              (CMD_EVENTS). sn, sp and ev belong to the struct cmd;
 *              cmd_close frees what cmd_open made (also after a failed
 *              cmd_open) and sets the three to NULL. settings and args
 *              point into argv, the environment or a constant. A
 *              command that needs the settings alone (no responder
 *              config, no S3) calls cmd_load_set; the caller frees the
 *              result with set_free.
 * DIAGNOSTICS  cmd_parse: 0, or EXIT_USAGE after a usage message on
 *              stderr. cmd_open: 0, or an exit code after a message:
 *              EXIT_USAGE when the settings or the responder config have
 *              problems, EXIT_RUNTIME when S3 cannot be reached and
 *              nothing is cached, or the spool or event log cannot be
 *              opened. cmd_load_set: NULL after every problem was printed
 *              on stderr. cmd_usage prints the usage error and returns
 *              EXIT_USAGE.
 * SEE ALSO     snap.h, settings.h, md.h, event.h; mailresponder(8) EXIT
 *              STATUS
 */
#ifndef MR_CMD_H
#define MR_CMD_H

#include "mr.h"

#define EXIT_USAGE 1
#define EXIT_RUNTIME 2

struct snap;
struct set;
struct md_spool;
struct ev_log;

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

enum cmd_opt_type {
	CMD_FLAG,    /* int *: set to 1 */
	CMD_STR,     /* const char **: the argument */
	CMD_LONG,    /* long *: a number */
	CMD_SECONDS, /* long *: a number greater than 0 */
	CMD_AGE,     /* long *: seconds, "90", "90s", "30m", "12h", "7d" */
};

struct cmd_opt {
	int key;          /* the short option letter, or 0: long only */
	const char *name; /* the long option, or NULL: short only */
	enum cmd_opt_type type;
	void *dst;       /* where the value goes; NULL ends the table */
	const char *bad; /* usage message for a bad argument */
};

struct cmd {
	const char *name;           /* "drain", for messages */
	const struct cmd_opt *opts; /* its options but -c, or NULL */
	int min_args, max_args;     /* positional arguments; max -1: any */
	const char *args_usage;     /* NULL: "no arguments expected" */
	const char *opt_usage;      /* NULL: "bad option" */
	/* set by cmd_parse */
	const char *settings;
	char **args;
	int nargs;
	/* set by cmd_open */
	struct snap *sn;
	struct md_spool *sp;
	struct ev_log *ev;
};

#define CMD_SPOOL 1  /* cmd_open: open the spool of the settings */
#define CMD_EVENTS 2 /* cmd_open: open the event log */

int cmd_parse(struct cmd *c, int argc, char **argv);
int cmd_open(struct cmd *c, int snap_flags, int what);
void cmd_close(struct cmd *c);

/* The settings alone (set_load), every problem on stderr; NULL when
 * there was any. */
struct set *cmd_load_set(const char *settings);

/* The settings path: opt, else $MAILRESPONDER_SETTINGS, else
 * /etc/mailresponder/settings.json (cmd_parse sets it). */
const char *cmd_settings(const char *opt);

/* Print a usage error and return EXIT_USAGE. */
int cmd_usage(const char *cmd, const char *msg);

#endif
