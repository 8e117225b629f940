/* drain.c - mailresponder drain: process the backlog and exit
 * SYNOPSIS     mailresponder drain [-c settings.json] [-q] [-t SECONDS]
 * DESCRIPTION  Without a daemon, drains the spool itself. While a daemon
 *              owns the spool it neither double-processes nor does nothing:
 *              it asks the daemon to rescan and waits (at most -t seconds,
 *              default 600) until the backlog present at its start is
 *              handled, then reports.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "daemon.h"
#include "drain.h"
#include "event.h"
#include "log.h"
#include "md.h"
#include "settings.h"
#include "snap.h"

static const char *sock_path(struct md_spool *sp, char *buf, size_t n)
{
	int k = snprintf(buf, n, "%s/%s", md_spool_path(sp), DMN_SOCKET);

	return k > 0 && (size_t)k < n ? buf : "";
}

/* The spool is owned by a running daemon: ask it to rescan and wait until
 * what is in new/ now has been handled. Without its control socket, send
 * SIGUSR1 and watch new/ empty. Returns an exit code. */
static int hand_off(struct md_spool *sp, pid_t pid, long timeout_s, int flags)
{
	long long end = mr_now_ms() + timeout_s * 1000;
	char out[512], path[4096];
	struct md_counts c;
	struct mr_err err;

	if (dmn_request(md_spool_path(sp), "drain", timeout_s * 1000, out,
			sizeof(out)) == 0) {
		if (!(flags & CMD_QUIET))
			printf("drain: handed to the running daemon (pid %ld): "
			       "%s",
			       (long)pid, out);
		return strstr(out, "\"handled\"") ? 0 : EXIT_RUNTIME;
	}
	if (access(sock_path(sp, path, sizeof(path)), F_OK) < 0) {
		/* no daemon socket: another drain or reprocess holds the
		 * lock and is draining the backlog itself */
		if (!(flags & CMD_QUIET))
			printf("drain: spool %s is being drained by process "
			       "%ld; leaving the backlog to it\n",
			       md_spool_path(sp), (long)pid);
		return 0;
	}
	if (pid <= 0 || kill(pid, SIGUSR1) < 0) {
		log_err("spool %s is owned by process %ld, which cannot be "
			"reached",
			md_spool_path(sp), (long)pid);
		return EXIT_RUNTIME;
	}
	mr_err_clear(&err);
	while (md_counts(sp, &c, &err) == 0 && c.n_new + c.n_claimed > 0 &&
	       mr_now_ms() < end)
		(void)usleep(200 * 1000); /* EINTR only shortens the wait */
	if (err.text[0] || c.n_new + c.n_claimed > 0) {
		log_err("drain: the daemon (pid %ld) did not empty new/ within "
			"%ld s",
			(long)pid, timeout_s);
		return EXIT_RUNTIME;
	}
	if (!(flags & CMD_QUIET))
		printf("drain: handled by the running daemon (pid %ld)\n",
		       (long)pid);
	return 0;
}

/* 1 locked by us, 0 handed to the daemon (rc set), -1 error */
static int lock_spool(struct md_spool *sp, int flags, long timeout_s, int *rc)
{
	struct mr_err err;
	pid_t pid = 0;
	int r;

	mr_err_clear(&err);
	r = md_lock(sp, 0, &err);
	if (r > 0)
		return 1;
	if (r < 0) {
		log_err("spool lock: %s", err.text);
		return -1;
	}
	if (md_lock_owner(sp, &pid, &err) <= 0)
		pid = 0;
	*rc = hand_off(sp, pid, timeout_s, flags);
	return 0;
}

int cmd_drain_spool(struct snap *sn, int flags, long timeout_s)
{
	const struct set *s = sn->set;
	struct md_spool *sp = NULL;
	struct ev_log *ev = NULL;
	struct mr_err err;
	long recovered = 0;
	long long t0 = mr_now_ms();
	int rc = EXIT_RUNTIME;

	/* a drain is not the daemon: a second drain must not end it */
	signal(SIGUSR1, SIG_IGN);
	mr_err_clear(&err);
	sp = md_spool_open(s->spool, s->failed_folder, &err);
	if (sp == NULL) {
		log_err("spool: %s", err.text);
		return EXIT_RUNTIME;
	}
	switch (lock_spool(sp, flags, timeout_s, &rc)) {
	case 0:
	case -1:
		goto out;
	}
	ev = ev_open(s->event_log, &err);
	if (ev == NULL) {
		log_err("event_log: %s", err.text);
		goto out;
	}
	rc = drain_run(sn, sp, ev, &recovered, &err) < 0 ? EXIT_RUNTIME : 0;
	if (rc != 0)
		log_err("drain stopped: %s", err.text);
	if (!(flags & CMD_QUIET)) {
		printf("drain: %s: %.3f s\n", s->spool,
		       (double)(mr_now_ms() - t0) / 1000.0);
		drain_print(ev_metrics(ev), recovered, stdout);
	}
out:
	ev_close(&ev);
	md_spool_close(&sp);
	return rc;
}

int cmd_drain(int argc, char **argv)
{
	const char *settings = NULL;
	struct snap *sn;
	int c, quiet = 0, rc;
	long timeout = CMD_HANDOFF_TIMEOUT;

	while ((c = getopt(argc, argv, "c:qt:")) != -1) {
		switch (c) {
		case 'c':
			settings = optarg;
			break;
		case 't':
			if (mr_parse_long(optarg, &timeout) < 0 || timeout <= 0)
				return cmd_usage("drain", "bad -t SECONDS");
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			return cmd_usage("drain", "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage("drain", "no arguments expected");
	sn = cmd_load(cmd_settings(settings), 0);
	if (sn == NULL)
		return EXIT_USAGE;
	rc = cmd_drain_spool(sn, quiet ? CMD_QUIET : 0, timeout);
	snap_unref(&sn);
	return rc;
}
