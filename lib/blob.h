/* blob.h - where attachments come from: a local directory or S3
 * SYNOPSIS     struct blob *blob_open(const char *spec, struct mr_err *);
 * DESCRIPTION  blob_get() returns the bytes of bucket/key. The local source
 *              reads <dir>/<bucket>/<key>; bucket and key must be relative
 *              and may not contain "." or ".." components, and symlinks are
 *              not followed on the last component. The S3 source
 *              (blob_open_s3) reads bucket/key through s3_get (s3.h).
 * DIAGNOSTICS  0 ok; -1 with err (MR_PERM: missing or refused object,
 *              MR_TEMP: I/O or network trouble).
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
