/* dkim.h - DKIM signing of replies (RFC 6376, RFC 8463; design.md s.5)
 * SYNOPSIS     struct dkim *dkim_load(const struct set *s,
 *                                     struct mr_err *err);
 *              void dkim_free(struct dkim **d);
 *              int dkim_enabled(const struct dkim *d);
 *              void dkim_body_hash(const char *body, size_t len,
 *                                  unsigned char out[32]);
 *              int dkim_sign(const struct dkim *d, const char *head,
 *                            size_t head_len, const unsigned char bh[32],
 *                            time_t now, struct mr_buf *out,
 *                            struct mr_err *err);
 *              int dkim_keygen(const char *path, enum dkim_alg alg, ...);
 *              size_t dkim_check(const struct set *s, ...);
 * DESCRIPTION  relaxed/relaxed, rsa-sha256 and ed25519-sha256. Only this
 *              module loads private keys (style.md s.2.6).
 *              dkim_load() reads the private keys named by dkim.rsa_key
 *              and dkim.ed25519_key once. A key file must be a regular
 *              file (opened with O_NOFOLLOW, checked with fstat on the
 *              open descriptor, so no symlink or swap can slip in) that
 *              "others" cannot read, write or execute; group access is the
 *              operator's business (0640 for a key group). Keys are PEM;
 *              encrypted keys are refused instead of prompting. RSA must
 *              be 1024..4096 bits (RFC 8301: verifiers need not accept
 *              more), ed25519_key must hold an Ed25519 key, and the two
 *              selectors must differ, because one DNS name holds one key.
 *              Each key signs and verifies a test string at load, so a
 *              broken key fails at start, not on the first reply.
 *              The body hash is computed once per prebuilt reply body (the
 *              composer caches it); dkim_sign() sees only the header
 *              block. Both algorithms are deterministic (the tests rely
 *              on it). struct dkim is read-only after dkim_load() and
 *              shared by every worker.
 *              dkim_keygen(), dkim_check(), dkim_record_dup() and
 *              dkim_zone_line_dup() serve dkim-keygen and config-check.
 * DIAGNOSTICS  dkim_load: NULL, err MR_PERM, text starting with the setting
 *              ("dkim.rsa_key: /x/k.pem: mode 0644 lets others read it;
 *              chmod 600 (or 640) it"). dkim_sign: 0, or -1 with MR_PERM
 *              when the header block has no From, MR_TEMP when OpenSSL
 *              fails; out is then left as it was. OpenSSL's error queue is
 *              drained after every failure.
 * SEE ALSO     reply.h, dlv.h; design.md s.5, RFC 6376, RFC 8301, RFC 8463
 */
#ifndef MR_DKIM_H
#define MR_DKIM_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "mr.h"

struct set;

struct dkim; /* loaded keys; immutable after dkim_load, shared by threads */

/* Load the keys named in s->dkim (rsa_key, ed25519_key; either or both or
 * none). A key file that is readable or writable by "others" (mode & 007),
 * not a regular file, or a symlink is refused with a clear message naming
 * the file and the mode ("dkim.rsa_key: /x/k.pem: mode 0644 lets others
 * read it; chmod 600 (or 640) it"). A key of the wrong type for its setting
 * (RSA < 1024 bits, an RSA key in ed25519_key, ...) is refused. Returns NULL
 * with err on any problem; with no key configured returns an object for
 * which dkim_enabled() is 0. Loads each key once (at start and on reload). */
struct dkim *dkim_load(const struct set *s, struct mr_err *err);
void dkim_free(struct dkim **d);
int dkim_enabled(const struct dkim *d);

/* SHA-256 of the relaxed-canonicalized body (RFC 6376 3.4.4 incl. the
 * empty-body and trailing-empty-lines rules); body is CRLF text. */
void dkim_body_hash(const char *body, size_t len, unsigned char out[32]);

/* Sign a message whose header block is head (CRLF lines, no blank line)
 * and whose body hash is bh: appends one "DKIM-Signature: ..." header
 * (folded, CRLF line ends) per key to out - RSA first, then Ed25519 - to
 * be put in front of head. Signed headers (h=): those present among From,
 * To, Subject, Date, Message-ID, Reply-To, In-Reply-To, References,
 * MIME-Version, Content-Type, Auto-Submitted, with From listed once more
 * (over-signing, so that a second From cannot be added). d= s->dkim.domain,
 * s= selector / ed25519_selector, t= now, c=relaxed/relaxed. */
int dkim_sign(const struct dkim *d, const char *head, size_t head_len,
	      const unsigned char bh[32], time_t now, struct mr_buf *out,
	      struct mr_err *err);

enum dkim_alg {
	DKIM_RSA = 0,
	DKIM_ED25519,
};

/* Generate a key with OpenSSL (RSA of rsa_bits, 1024..4096, or Ed25519)
 * and write it as a new PEM file at path (an existing file is never
 * replaced: -1, EEXIST in the text). The file gets owner uid and group
 * gid with mode 0640, or mode 0600 when gid is (gid_t)-1; uid (uid_t)-1
 * keeps the caller as owner. Written to path.tmp, fsync'ed, linked into
 * place, folder fsync'ed. 0, or -1 with err (MR_PERM). */
int dkim_keygen(const char *path, enum dkim_alg alg, int rsa_bits, uid_t uid,
		gid_t gid, struct mr_err *err);

/* Check each configured key on its own (the same checks as dkim_load):
 * every problem is appended to problems (naming the setting and file),
 * and for every good key its DNS record line (dkim_zone_line_dup) to
 * records. Returns the number of problems added. */
size_t dkim_check(const struct set *s, struct mr_msgs *problems,
		  struct mr_msgs *records);

/* The DNS TXT record for the public half of the key in path, as
 * "v=DKIM1; k=rsa; p=<base64>" (or k=ed25519), checked like dkim_load;
 * setting names the key in messages ("rsa_key"). NULL with err. */
char *dkim_record_dup(const char *setting, const char *path, enum dkim_alg alg,
		      struct mr_err *err);

/* A zone-file line publishing record at SELECTOR._domainkey.DOMAIN:
 * 'SEL._domainkey.DOM. IN TXT ( "..." "..." )', the record cut into
 * strings of at most 255 bytes as DNS needs (RFC 1035 s.3.3.14). */
char *dkim_zone_line_dup(const char *selector, const char *domain,
			 const char *record);

#endif
