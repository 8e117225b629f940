/* daemon.h - mailresponder run: the always-on spool daemon (design.md s.3, s.9)
 * SYNOPSIS     int dmn_run(const char *settings_path, struct snap *sn);
 * DESCRIPTION  One process owns the spool (flock). The main thread only
 *              waits in poll(2) on inotify (new/), a signalfd, a 1-second
 *              timerfd, the control socket and an eventfd that workers and
 *              the scanner poke; it never parses, queries or sends. A
 *              scanner thread does the streaming rescans (the first one
 *              after the watch is set up, so nothing slips between; one on
 *              IN_Q_OVERFLOW, SIGUSR1, a drain request, a full queue, and
 *              every rescan_interval_s as a safety net). Before the
 *              watch is read and READY is sent, the main thread queues
 *              the messages a dead run left claimed (cur/<uniq>:2,) for
 *              adoption; only then can this run claim any, so no scan of
 *              cur/ ever sees one of its own claims. N worker threads each
 *              own a job context (store handle, transports) and take names
 *              from the bounded work queue (wq.h).
 *              Signals: SIGTERM/SIGINT finish the messages in flight (at
 *              most shutdown_timeout_s) and leave the rest in new/; SIGHUP
 *              reopens the event log (logrotate's postrotate) and reloads
 *              the settings and the responder config (a broken new config
 *              is logged and the old one kept); SIGUSR1 rescans.
 *              Control socket <spool>/.mailresponder.sock (ctl_path in
 *              ctl.h, mode 0600; ctl.h is the client), one request line
 *              each: "drain" answers, once everything that was
 *              in new/ when it arrived has been handled, with
 *              {"handled":N,"deferred":M}; "status" answers with the
 *              counters (metrics.h) as JSON, "prometheus" with them in the
 *              Prometheus text format (several lines).
 * DIAGNOSTICS  Returns an exit code: 0 after a clean stop, 2 when the
 *              daemon could not start (spool owned by another process,
 *              store or spool unavailable, cur/ unreadable).
 * SEE ALSO     eng.h, ctl.h, snap.h, priv.h; mailresponder(8) run
 */
#ifndef MR_DAEMON_H
#define MR_DAEMON_H

struct snap;

int dmn_run(const char *settings_path, struct snap *sn);

#endif
