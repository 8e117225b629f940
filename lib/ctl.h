/* ctl.h - ctl: the client of the daemon's control socket
 * SYNOPSIS     int ctl_path(const char *spool, char *buf, size_t n);
 *              int ctl_drain(const char *spool, long timeout_ms,
 *                            struct ctl_drained *, struct mr_err *);
 *              int ctl_status(const char *spool, long timeout_ms,
 *                             char **json_r, struct mr_err *);
 *              int ctl_prometheus(const char *spool, long timeout_ms,
 *                                 char **text_r, struct mr_err *);
 * DESCRIPTION  The daemon (daemon.h) listens on <spool>/.mailresponder.sock,
 *              the name ctl_path builds for both sides (0, or -1 when it
 *              does not fit in n or in a socket address). A request is one
 *              line; the daemon writes its answer, ending in a newline,
 *              and closes the connection. The client reads the answer to
 *              the end within timeout_ms and checks it with json-c:
 *              ctl_drain asks the daemon to rescan and waits until what
 *              was in new/ has been handled; the answer is the object
 *              {"handled":N,"deferred":M}. ctl_status returns the "status"
 *              answer, one JSON object (the counters, metrics.h), as the
 *              daemon wrote it, newline included. ctl_prometheus returns
 *              the Prometheus text (it starts with "# HELP").
 *              *json_r and *text_r are the caller's to free.
 * DIAGNOSTICS  1 answered; 0 no daemon accepted the request (no socket,
 *              or nobody listening on it); -1 with err when the daemon
 *              took the request but its answer did not come within
 *              timeout_ms, was cut short, too long (CTL_ANSWER_MAX) or
 *              not what the request expects.
 * SEE ALSO     daemon.h
 */
#ifndef MR_CTL_H
#define MR_CTL_H

#include <stddef.h>

#include "mr.h"

#define CTL_SOCKET ".mailresponder.sock"
#define CTL_ANSWER_MAX (256 * 1024)

struct ctl_drained {
	long long handled;  /* messages handled since the request came */
	long long deferred; /* of those, sent back for a retry */
};

int ctl_path(const char *spool, char *buf, size_t n);
int ctl_drain(const char *spool, long timeout_ms, struct ctl_drained *d,
	      struct mr_err *err);
int ctl_status(const char *spool, long timeout_ms, char **json_r,
	       struct mr_err *err);
int ctl_prometheus(const char *spool, long timeout_ms, char **text_r,
		   struct mr_err *err);

#endif
