/* aws.h - AWS credentials and request signing, for SES, S3 and CloudWatch
 * SYNOPSIS     struct aws *aws_new(const struct set *s);
 *              int aws_creds_get(struct aws *a, time_t now,
 *                                struct aws_creds *c, struct mr_err *err);
 *              int aws_curl_sign(void *curl, const struct aws_creds *c,
 *                                const char *region, const char *service,
 *                                void *headers, struct mr_err *err);
 *              int aws_imds_get(struct aws *a, const char *path,
 *                               char **out_r, struct mr_err *err);
 *              size_t aws_body_write(char *p, size_t size, size_t n,
 *                                    void *body);
 *              void aws_uri_encode(struct mr_buf *b, const char *s,
 *                                  int keep_slash);
 * DESCRIPTION  One struct aws per configuration snapshot, shared by every
 *              worker (thread-safe). Credentials come from the first
 *              source that has them, as in the AWS SDKs:
 *                1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *                   optional AWS_SESSION_TOKEN (read once, by aws_new);
 *                2. the INI file aws.credentials_file, section
 *                   [aws.profile]: aws_access_key_id, aws_secret_access_key,
 *                   optional aws_session_token; refused when the group or
 *                   others may read it;
 *                3. EC2 instance metadata (aws.imds, aws.imds_endpoint),
 *                   IMDSv2: PUT /latest/api/token, then the role and its
 *                   credentials with the token header. These expire: they
 *                   are fetched again AWS_REFRESH_S before Expiration, by
 *                   the first worker that needs them, once for all.
 *              aws_creds_get() copies the current credentials out.
 *              aws_curl_sign() prepares a libcurl easy handle (CURL *)
 *              for one request to service ("ses", "s3", "monitoring") in
 *              region: curl's own SigV4 (CURLOPT_AWS_SIGV4), the key pair,
 *              and for temporary credentials the X-Amz-Security-Token
 *              header appended to *headers (a struct curl_slist **; the
 *              caller sets CURLOPT_HTTPHEADER afterwards and frees the
 *              list). curl signs every header in that list.
 *              aws_creds_stale() forgets cached instance credentials (the
 *              service answered ExpiredToken).
 *              aws_imds_get() reads one instance metadata item (IMDSv2).
 *              aws_body_write() and aws_uri_encode() are what every AWS
 *              caller (SES, S3, CloudWatch) needs around a request: a
 *              bounded response body and SigV4's percent-encoding.
 *              Secrets never reach a log line or an error text.
 * DIAGNOSTICS  0, or -1 with err: MR_PERM when no source is configured or
 *              a file is unusable, MR_TEMP when instance metadata did not
 *              answer (aws_imds_get: MR_PERM when aws.imds is off).
 * SEE ALSO     tx.h, s3.h, cw.h; components.md s.4b, s.5
 */
#ifndef MR_AWS_H
#define MR_AWS_H

#include <time.h>

#include "mr.h"

#define AWS_REFRESH_S 300 /* instance credentials: refresh this early */

struct set;
struct aws;

struct aws_creds {
	char key_id[128];
	char secret[256];
	char token[4096];   /* "" when none */
	time_t expires;     /* 0: does not expire */
	const char *source; /* "environment", "credentials file", "imds" */
};

struct aws *aws_new(const struct set *s);
void aws_free(struct aws **a);
int aws_creds_get(struct aws *a, time_t now, struct aws_creds *c,
		  struct mr_err *err);
void aws_creds_stale(struct aws *a);
int aws_curl_sign(void *curl, const struct aws_creds *c, const char *region,
		  const char *service, void *headers, struct mr_err *err);
/* One instance metadata item (IMDSv2), e.g. "/latest/meta-data/instance-id":
 * *out_r is the caller's (first line). 0, or -1 with err (MR_PERM when
 * instance metadata is off in the settings). */
int aws_imds_get(struct aws *a, const char *path, char **out_r,
		 struct mr_err *err);
/* Wipe a copy of credentials. */
void aws_creds_clear(struct aws_creds *c);

/* A response body of at most max bytes. aws_body_write() is its libcurl
 * write callback (CURLOPT_WRITEDATA a struct aws_body *): a body that
 * would grow past max fails the transfer (CURLE_WRITE_ERROR). */
struct aws_body {
	struct mr_buf buf;
	size_t max;
};

size_t aws_body_write(char *p, size_t size, size_t n, void *body);

/* Append s to b percent-encoded as SigV4 wants it (RFC 3986: unreserved
 * characters kept, every other byte %XX in upper case); '/' is kept too
 * when keep_slash is set (an S3 object key in a path). */
void aws_uri_encode(struct mr_buf *b, const char *s, int keep_slash);

#endif
