/* blob.h - where attachments come from: a local directory or S3
 * SYNOPSIS     struct blob *blob_open(const char *dir, struct mr_err *err);
 *              struct blob *blob_open_s3(struct s3 *s3);
 *              int blob_get(struct blob *b, const char *bucket,
 *                           const char *key, char **data_r, size_t *len_r,
 *                           struct mr_err *err);
 *              void blob_close(struct blob **b);
 * DESCRIPTION  blob_get() returns the bytes of bucket/key (caller frees
 *              *data_r). The local source maps bucket/key to
 *              <dir>/<bucket>/<key>. Only the directory path is kept, so a
 *              directory replaced by a deploy (rename of a new tree) is
 *              seen by the next get. Bucket and key must be relative paths
 *              made of non-empty components other than "." and "..",
 *              without control characters; the last component is opened
 *              with O_NOFOLLOW (a symlink there is refused) and must be a
 *              regular file of at most 64 MiB. A FIFO planted in the tree
 *              does not block the caller.
 *              The S3 source (blob_open_s3) reads bucket/key through the
 *              S3 cache (s3.h); it does not own the client.
 * DIAGNOSTICS  blob_open: NULL with err (MR_PERM) when dir is empty or not
 *              a directory. blob_get: 0, or -1 with err naming bucket/key:
 *              MR_PERM for a missing, refused or oversized object, MR_TEMP
 *              for resource trouble (EMFILE, EIO, ...) or, from S3, the
 *              service out of reach without a cached copy.
 * SEE ALSO     s3.h, reply.h; design.md s.5, s.10 (attachments_dir)
 */
#ifndef MR_BLOB_H
#define MR_BLOB_H

#include <stddef.h>

#include "mr.h"

struct blob;
struct s3;

/* spec: a directory path. */
struct blob *blob_open(const char *spec, struct mr_err *err);
/* s3: not owned; must outlive the blob. */
struct blob *blob_open_s3(struct s3 *s3);
void blob_close(struct blob **b);
/* *data_r is malloc'd with two NUL bytes after *len_r bytes. */
int blob_get(struct blob *b, const char *bucket, const char *key, char **data_r,
	     size_t *len_r, struct mr_err *err);

#endif
