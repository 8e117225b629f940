/* priv.h - who the daemon runs as
 * SYNOPSIS     int priv_resolve(const struct set *s, struct priv *p,
 *                               struct mr_err *err);
 *              int priv_check_keys(const struct set *s,
 *                                  const struct priv *p,
 *                                  struct mr_err *err);
 *              int priv_drop(const struct priv *, struct mr_err *);
 * DESCRIPTION  run started as root needs the settings' "user": it opens
 *              what needs root (keys, spool lock, control socket, event
 *              log) and then drops to that user for good (groups, gid,
 *              uid; a later setuid(0) must fail). Without "user" it
 *              refuses to start as root; "user": "root" keeps root on
 *              purpose. Not started as root, a "user" other than the
 *              current one is only warned about. Key files (dkim.rsa_key,
 *              dkim.ed25519_key, event_key, hash_key) must be owned by
 *              root or by the user the daemon runs as; their modes are
 *              checked where they are loaded (dkim.c, hash.c).
 * DIAGNOSTICS  0, or -1 with err naming the setting or file.
 * SEE ALSO     daemon.h, dkim.h, hash.h; mailresponder(8) run
 */
#ifndef MR_PRIV_H
#define MR_PRIV_H

#include <sys/types.h>

#include "mr.h"

struct set;

struct priv {
	int drop;  /* started as root with a user to switch to */
	uid_t uid; /* who the daemon runs as after priv_drop */
	gid_t gid;
	char name[64];
};

int priv_resolve(const struct set *s, struct priv *p, struct mr_err *err);
int priv_check_keys(const struct set *s, const struct priv *p,
		    struct mr_err *err);
int priv_drop(const struct priv *p, struct mr_err *err);

#endif
