/* snap.h - a loaded configuration: settings, responder config, prebuilt
 *          reply bodies and keys, shared read-only by every worker
 * SYNOPSIS     struct snap *snap_load(const char *settings, int flags,
 *                                     struct mr_msgs *problems);
 *              struct snap *snap_ref(struct snap *sn);
 *              void snap_unref(struct snap **sn);
 * DESCRIPTION  Everything a worker needs that changes only on reload, in
 *              this order: the settings, the store and event keys, the
 *              DKIM keys, the AWS credential chain and the SES pace, then
 *              (unless SNAP_NO_REPLIES) the responder config (a file or
 *              s3://), the attachment source and the prebuilt reply
 *              bodies, then (unless SNAP_NO_SEND) the SES preflight: with
 *              an SES entry and no AWS credentials every request would
 *              fail, so that is a problem at load. SNAP_READONLY creates
 *              nothing (no key file, no S3 cache file). The snapshot is
 *              immutable and reference-counted (atomic): a reload builds a
 *              new one and swaps it in; workers finish their message with
 *              the one they started with (design.md s.9, style 2.5), and
 *              the last snap_unref() frees it.
 * DIAGNOSTICS  snap_load: NULL with every problem appended to problems;
 *              snap_load_ex also tells when the cause was S3 out of reach
 *              without a cached copy (a runtime failure, retried).
 * SEE ALSO     settings.h, rcfg.h, reply.h, dkim.h, aws.h, s3.h, job.h
 */
#ifndef MR_SNAP_H
#define MR_SNAP_H

#include <stdatomic.h>

#include "hash.h"
#include "mr.h"

struct set;
struct rcfg;
struct blob;
struct rpl_set;
struct dkim;
struct aws;
struct pace;
struct s3;

#define SNAP_READONLY                                                          \
	1                 /* create nothing (no event key file, no
			     S3 cache file) */
#define SNAP_NO_REPLIES 2 /* settings and keys only: no responder config */
#define SNAP_NO_SEND 4 /* sends no replies: skip the transports' start checks */

struct snap {
	struct set *set;
	struct rcfg *rcfg;         /* NULL with SNAP_NO_REPLIES */
	struct blob *blob;         /* attachment source */
	struct s3 *s3;             /* S3 client and cache, NULL when unused */
	struct rpl_set *rpl;       /* prebuilt bodies */
	struct dkim *dkim;         /* signing keys, loaded once per snapshot */
	struct hash_key store_key; /* data NULL: plain SHA-512 (s.7) */
	struct hash_key event_key; /* data NULL: absent (read-only use) */
	struct aws *aws;           /* AWS credentials, shared by the workers */
	struct pace *ses_pace;     /* ses.max_send_rate across the workers */
	atomic_int refs;
};

struct snap *snap_load(const char *settings_path, int flags,
		       struct mr_msgs *problems);
/* As snap_load; *unreachable_r set to 1 when it failed because S3 could
 * not be reached and there was no cached copy (a runtime failure, not a
 * configuration error). */
struct snap *snap_load_ex(const char *settings_path, int flags,
			  struct mr_msgs *problems, int *unreachable_r);
struct snap *snap_ref(struct snap *sn);
/* The responder config named by the settings: a local file, or
 * "s3://bucket/key" read through s3 (NULL: a problem says so). */
struct rcfg *snap_rcfg_load(const struct set *s, struct s3 *s3,
			    struct mr_msgs *problems);
/* 1 when the settings read anything from S3. */
int snap_uses_s3(const struct set *s);
void snap_unref(struct snap **sn);

/* Keyed hash of a sender for logs and events (HMAC-SHA-256 hex with the
 * event key); "" when there is no key. */
void snap_sender_hash(const struct snap *sn, const char *addr,
		      char out[HASH_SHA256_HEX]);

#endif
