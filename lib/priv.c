/* priv.c - the service user and the key files' owners (contract: priv.h)
 *
 * The drop follows OpenSMTPD's: setgroups, setresgid, setresuid, then a
 * setuid(0) that must fail. See also design.md s.8.
 */
#include "priv.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"

static int lookup(const char *name, struct priv *p, struct mr_err *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);

	if (res == NULL) {
		mr_err_set(err, MR_PERM, "user: no such user %s%s%s", name,
			   r ? ": " : "", r ? log_strerror(r) : "");
		return -1;
	}
	p->uid = pw.pw_uid;
	p->gid = pw.pw_gid;
	(void)snprintf(p->name, sizeof(p->name), "%s", name);
	return 0;
}

int priv_resolve(const struct set *s, struct priv *p, struct mr_err *err)
{
	memset(p, 0, sizeof(*p));
	p->uid = geteuid();
	p->gid = getegid();
	if (geteuid() != 0) {
		struct priv want;
		struct mr_err e2;

		/* not root: nothing to switch; a different user is noted */
		if (s->user != NULL &&
		    (lookup(s->user, &want, &e2) < 0 || want.uid != geteuid()))
			log_warn("user: started as uid %u, not as %s: running "
				 "as uid %u",
				 (unsigned)geteuid(), s->user,
				 (unsigned)geteuid());
		return 0;
	}
	if (s->user == NULL) {
		mr_err_set(err, MR_PERM,
			   "refusing to run as root: set \"user\" to the "
			   "service user (\"root\" to run as root anyway)");
		return -1;
	}
	if (lookup(s->user, p, err) < 0)
		return -1;
	p->drop = p->uid != 0;
	if (!p->drop)
		log_warn("run: running as root (\"user\": \"%s\")", s->user);
	return 0;
}

static int check_owner(const char *key, const char *path, const struct priv *p,
		       struct mr_err *err)
{
	struct stat st;

	if (path == NULL || lstat(path, &st) < 0)
		return 0; /* absent: its loader reports it, or creates it */
	if (st.st_uid == 0 || st.st_uid == p->uid) {
		if (st.st_uid == 0 && p->uid != 0)
			log_warn("%s: %s is owned by root: a reload, which "
				 "reads it again as %s, will fail",
				 key, path, p->name);
		return 0;
	}
	mr_err_set(err, MR_PERM,
		   "%s: %s is owned by uid %u; it must belong to root or to "
		   "uid %u, the user the daemon runs as",
		   key, path, (unsigned)st.st_uid, (unsigned)p->uid);
	return -1;
}

int priv_check_keys(const struct set *s, const struct priv *p,
		    struct mr_err *err)
{
	if (check_owner("dkim.rsa_key", s->dkim.rsa_key, p, err) < 0 ||
	    check_owner("dkim.ed25519_key", s->dkim.ed25519_key, p, err) < 0 ||
	    check_owner("event_key", s->event_key, p, err) < 0 ||
	    check_owner("hash_key", s->hash_key, p, err) < 0)
		return -1;
	return 0;
}

int priv_drop(const struct priv *p, struct mr_err *err)
{
	if (!p->drop)
		return 0;
	if (setgroups(1, &p->gid) < 0 ||
	    setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0) {
		mr_err_sys(err, MR_PERM, errno, "user: cannot switch to %s",
			   p->name);
		return -1;
	}
	if (setuid(0) == 0 || geteuid() != p->uid) {
		mr_err_set(err, MR_PERM, "user: %s: root could be regained",
			   p->name);
		return -1;
	}
	log_info("run: running as %s (uid %u)", p->name, (unsigned)p->uid);
	return 0;
}
