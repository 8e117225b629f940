/* pfmaps.h - the Postfix lookup tables for the spool (mailresponder
 *            postfix-maps)
 * SYNOPSIS     struct pfm *pfm_open(const struct set *s,
 *                                   const struct pfm_opts *o,
 *                                   struct mr_msgs *problems,
 *                                   struct mr_err *err);
 *              int pfm_current(const struct pfm *p, struct mr_msgs *done);
 *              int pfm_write(const struct pfm *p, struct mr_msgs *done,
 *                            struct mr_msgs *diag);
 *              void pfm_free(struct pfm **p);
 * DESCRIPTION  pfm_open() reads the responder config the settings name (a
 *              file, or "s3://bucket/key" through s3_get read-only: the
 *              S3 cache is read, never written) and prepares the two
 *              tables: DIR/virtual_mailbox_maps, one "<address> <value>"
 *              line per configured address and for complaints_address,
 *              and DIR/virtual_mailbox_domains, one line per domain of
 *              those addresses; both sorted, unique and lower-case. DIR
 *              is o->dir, else the folder of the settings file. A
 *              plus-address (get+fa@example.org) is listed as such:
 *              virtual(8) looks the full address up first. Nothing is
 *              written yet. s and o are borrowed for the call; the
 *              caller frees the result with pfm_free(&p), which accepts
 *              NULL and sets p to NULL.
 *
 *              The value is the spool with a trailing '/' (a Maildir).
 *              virtual(8) reads it relative to virtual_mailbox_base, so
 *              with o->base it is the spool relative to base (which must
 *              contain it), and with base NULL the absolute spool, for
 *              virtual_mailbox_base = /. Paths are compared lexically, as
 *              virtual(8) joins them: links are not resolved. An address
 *              or value no Postfix table can hold (whitespace, control
 *              characters, quotes, a leading '#') is refused.
 *
 *              pfm_current() tells whether DIR already holds exactly
 *              these lines: both files have the content pfm_write would
 *              give them and, with o->postmap, virtual_mailbox_maps.db
 *              exists and is not older than virtual_mailbox_maps (a
 *              postmap that failed after the maps file was replaced
 *              leaves the .db older, so the next run rebuilds it). Reply
 *              bodies, attachments and the order or case of the entries
 *              do not count: only the lines of the tables. When they are
 *              current, done gets a line saying so with the counts.
 *
 *              pfm_write() replaces each file atomically (tmp, fsync,
 *              rename) with mode 0644 whatever the umask: Postfix's
 *              unprivileged daemons read them. The maps file comes first;
 *              with o->postmap, $MR_POSTMAP (default /usr/sbin/postmap)
 *              hash:DIR/virtual_mailbox_maps runs next, via posix_spawn
 *              with an argv, stdin and stdout on /dev/null, its stderr
 *              captured (at most PFM_STDERR_MAX bytes); the domain list
 *              comes last, so that a new domain is accepted only once its
 *              addresses can be looked up. postmap reads main.cf from
 *              $MAIL_CONFIG, else /etc/postfix. done gets one line per
 *              step ("<path>: 5 addresses -> <value>", "<path>.db:
 *              rebuilt by postmap", "<path>: 3 domains"); diag gets
 *              postmap's stderr (each line indented by two spaces, also
 *              after a success: its warnings) and, on failure, what
 *              failed and what was left as it was.
 * DIAGNOSTICS  pfm_open: NULL with every problem appended to problems and
 *              err's kind telling MR_PERM (the settings, the responder
 *              config, an address or path no table can hold, a spool
 *              outside base) from MR_TEMP (S3 out of reach without a
 *              cached copy, no working directory). pfm_current: 1 or 0.
 *              pfm_write: 0, or -1 after a write failed or postmap could
 *              not run or failed (diag says which, with postmap's exit
 *              status or signal).
 * SEE ALSO     design.md s.8, mailresponder(8) postfix-maps, postmap(1),
 *              virtual(8), config/postfix/main.cf.sample
 */
#ifndef MR_PFMAPS_H
#define MR_PFMAPS_H

#include <stddef.h>

#include "mr.h"

#define PFM_POSTMAP "/usr/sbin/postmap"
#define PFM_MAPS "virtual_mailbox_maps"
#define PFM_DOMAINS "virtual_mailbox_domains"
#define PFM_STDERR_MAX 8192 /* postmap stderr kept for the report */

struct set;
struct pfm;

struct pfm_opts {
	const char *dir;  /* NULL: the settings file's folder */
	const char *base; /* NULL: absolute values */
	int postmap;      /* run postmap on the maps file */
};

struct pfm *pfm_open(const struct set *s, const struct pfm_opts *o,
		     struct mr_msgs *problems, struct mr_err *err);
int pfm_current(const struct pfm *p, struct mr_msgs *done);
int pfm_write(const struct pfm *p, struct mr_msgs *done, struct mr_msgs *diag);
void pfm_free(struct pfm **p);

#endif
