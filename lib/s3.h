/* s3.h - objects from S3 through a local cache (design.md s.5)
 * SYNOPSIS     struct s3 *s3_new(const struct set *s, struct aws *aws,
 *                               int flags);
 *              int s3_get(struct s3 *, const char *bucket, const char *key,
 *                         char **data_r, size_t *len_r, struct mr_err *);
 * DESCRIPTION  s3_get() returns the bytes of bucket/key. Every object
 *              fetched is kept in s3.cache_dir (one file per object: a
 *              short header with bucket/key and ETag, then the bytes);
 *              the next get is a conditional GET with that ETag
 *              (If-None-Match), and 304 Not Modified keeps the cached
 *              copy. New bytes are checked (a single-part ETag must be
 *              their MD5), written to a temporary file, fsynced and
 *              renamed over the old copy. Requests are path-style
 *              (endpoint/bucket/key), signed by aws_curl_sign for "s3"
 *              in s3.region, bounded by s3.timeout_s.
 *              When S3 cannot be reached (connection refused, timeout,
 *              5xx) and a cached copy exists, the copy is returned with
 *              a warning in the log (*source "cache"). A missing object
 *              or a refusal (4xx) is an error even with a cached copy.
 *              S3_READONLY: the cache is read but never written (commands
 *              run by hand, possibly as another user).
 *              s3_abort() makes every transfer in progress and to come
 *              fail at once (the daemon is stopping).
 *              s3_url_split() splits "s3://bucket/key".
 * DIAGNOSTICS  s3_get: 0, or -1 with err naming bucket/key: MR_PERM for a
 *              missing or refused object, MR_TEMP for S3 out of reach
 *              without a cached copy.
 * SEE ALSO     aws.h, blob.h; components.md s.4
 */
#ifndef MR_S3_H
#define MR_S3_H

#include <stddef.h>

#include "mr.h"

#define S3_READONLY 1

struct set;
struct aws;
struct s3;

struct s3_counts {
	long requests;     /* HTTP requests sent */
	long fetched;      /* 200: new bytes */
	long not_modified; /* 304 */
	long from_cache;   /* S3 out of reach: the cached copy used */
	long bytes;        /* body bytes received */
	long unreachable;  /* out of reach and no cached copy */
};

struct s3 *s3_new(const struct set *s, struct aws *aws, int flags);
void s3_free(struct s3 **s3);
int s3_get(struct s3 *s3, const char *bucket, const char *key, char **data_r,
	   size_t *len_r, struct mr_err *err);
void s3_counts(struct s3 *s3, struct s3_counts *c);
void s3_abort(void);
int s3_url_split(const char *url, char **bucket_r, char **key_r);

#endif
