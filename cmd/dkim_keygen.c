/* dkim_keygen.c - mailresponder dkim-keygen: make the signing key(s) and
 *                 print the DNS records to publish
 * SYNOPSIS     mailresponder dkim-keygen [-c settings.json] [-s SELECTOR]
 *                      [--rsa-bits N] [--ed25519] [-u USER]
 * DESCRIPTION  Writes an RSA key (default 2048 bits) to dkim.rsa_key (else
 *              <settings folder>/dkim-rsa.key) and with --ed25519 also an
 *              Ed25519 key to dkim.ed25519_key (else
 *              <settings folder>/dkim-ed25519.key), via lib/dkim.c. As root
 *              the files are root:<USER's group> 0640 (the service reads,
 *              cannot change them), otherwise the caller's, 0600. A key
 *              file that exists is kept, never replaced (rotating a key
 *              means a new selector). Prints one zone-file TXT line per key
 *              and the settings to set when they differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "dkim.h"
#include "inst.h"
#include "settings.h"

struct opts {
	const char *settings;
	const char *selector;
	const char *user;
	long rsa_bits;
	int ed25519;
};

/* Owner for the key files: root and the service group when run as root. */
static int owner(const struct opts *o, uid_t *uid, gid_t *gid)
{
	struct inst_user u;
	struct mr_err err;
	int r;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() != 0)
		return 0;
	mr_err_clear(&err);
	r = inst_user(o->user, "/", 0, &u, &err);
	if (r <= 0) {
		fprintf(stderr, "dkim-keygen: %s\n",
			r < 0 ? err.text
			      : "no such user; run \"mailresponder setup\" "
				"first (or name it with -u)");
		return -1;
	}
	*uid = 0;
	*gid = u.gid;
	return 0;
}

/* Make (or keep) one key and print its record. */
static int one_key(const struct set *s, enum dkim_alg alg, const char *path,
		   const char *sel, const struct opts *o, uid_t uid, gid_t gid)
{
	const char *setting = alg == DKIM_RSA ? "rsa_key" : "ed25519_key";
	struct mr_err err;
	struct stat st;
	char *rec, *line;

	mr_err_clear(&err);
	if (lstat(path, &st) == 0) {
		printf("dkim-keygen: kept the existing key %s\n", path);
	} else if (dkim_keygen(path, alg, (int)o->rsa_bits, uid, gid, &err) <
		   0) {
		fprintf(stderr, "dkim-keygen: dkim.%s: %s\n", setting,
			err.text);
		return -1;
	} else if (alg == DKIM_RSA) {
		printf("dkim-keygen: wrote %s (RSA, %ld bits, mode %s)\n", path,
		       o->rsa_bits, gid == (gid_t)-1 ? "0600" : "0640");
	} else {
		printf("dkim-keygen: wrote %s (Ed25519, mode %s)\n", path,
		       gid == (gid_t)-1 ? "0600" : "0640");
	}
	rec = dkim_record_dup(setting, path, alg, &err);
	if (rec == NULL) {
		fprintf(stderr, "dkim-keygen: %s\n", err.text);
		return -1;
	}
	line = dkim_zone_line_dup(sel, s->dkim.domain, rec);
	printf("%s\n", line);
	free(line);
	free(rec);
	return 0;
}

/* Say to set dkim.key to want in the settings unless it is set so. */
static void advise(const struct set *s, const char *key, const char *cur,
		   const char *want)
{
	if (cur == NULL || strcmp(cur, want) != 0)
		printf("dkim-keygen: set \"dkim\": {\"%s\": \"%s\"} in %s\n",
		       key, want, s->path);
}

static int keys(const struct set *s, const struct opts *o)
{
	const char *rsel = o->selector ? o->selector : s->dkim.selector;
	char *rsa = s->dkim.rsa_key ? xstrdup(s->dkim.rsa_key)
				    : mr_path_join(s->dir, "dkim-rsa.key");
	char *ed = NULL, *esel = NULL;
	uid_t uid;
	gid_t gid;
	int rc = -1;

	if (o->ed25519) {
		ed = s->dkim.ed25519_key
			     ? xstrdup(s->dkim.ed25519_key)
			     : mr_path_join(s->dir, "dkim-ed25519.key");
		/* a selector of its own: the one set, else <rsa>-ed25519 */
		esel = strcmp(s->dkim.ed25519_selector, s->dkim.selector) !=
					       0 &&
				       strcmp(s->dkim.ed25519_selector, rsel) !=
					       0
			       ? xstrdup(s->dkim.ed25519_selector)
			       : xasprintf("%s-ed25519", rsel);
	}
	if (owner(o, &uid, &gid) < 0)
		goto out;
	printf("dkim-keygen: publish in the DNS of %s (zone-file lines):\n",
	       s->dkim.domain);
	if (one_key(s, DKIM_RSA, rsa, rsel, o, uid, gid) < 0 ||
	    (ed && one_key(s, DKIM_ED25519, ed, esel, o, uid, gid) < 0))
		goto out;
	/* the settings that must name these keys and selectors */
	advise(s, "rsa_key", s->dkim.rsa_key, rsa);
	advise(s, "selector", s->dkim.selector, rsel);
	if (ed) {
		advise(s, "ed25519_key", s->dkim.ed25519_key, ed);
		advise(s, "ed25519_selector", s->dkim.ed25519_selector, esel);
	}
	rc = 0;
out:
	free(rsa);
	free(ed);
	free(esel);
	return rc;
}

int cmd_dkim_keygen(int argc, char **argv)
{
	struct opts o = {NULL, NULL, "mailresponder", 2048, 0};
	const struct cmd_opt opts[] = {
		{'s', NULL, CMD_STR, &o.selector, NULL},
		{'u', NULL, CMD_STR, &o.user, NULL},
		{0, "rsa-bits", CMD_LONG, &o.rsa_bits, NULL},
		{0, "ed25519", CMD_FLAG, &o.ed25519, NULL},
		{0, NULL, CMD_FLAG, NULL, NULL},
	};
	struct cmd c = {.name = "dkim-keygen",
			.opts = opts,
			.opt_usage = "bad option or argument",
			.args_usage = "bad option or argument"};
	struct set *s;
	int rc;

	if ((rc = cmd_parse(&c, argc, argv)) != 0)
		return rc;
	o.settings = c.settings;
	if ((s = cmd_load_set(o.settings)) == NULL)
		return EXIT_USAGE;
	if (s->dkim.domain == NULL) {
		fprintf(stderr,
			"%s: dkim.domain: not set, and \"from\" gives "
			"no domain\n",
			o.settings);
		set_free(&s);
		return EXIT_USAGE;
	}
	rc = keys(s, &o) < 0 ? EXIT_USAGE : 0;
	set_free(&s);
	return rc;
}
