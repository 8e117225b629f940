/* aws.c - AWS credentials and request signing (contract: aws.h)
 *
 * The cache is one struct aws_creds under a mutex. Instance credentials are
 * fetched while holding it, so concurrent workers wait for one fetch instead
 * of each making their own. The IMDS requests use a short-lived curl handle
 * with short timeouts; the service requests use the caller's.
 *
 * See also components.md s.5 (IMDSv2 flow).
 */
#include "aws.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "log.h"
#include "settings.h"

#define AWS_FILE_MAX ((size_t)64 * 1024)
#define AWS_IMDS_MAX ((size_t)16 * 1024)

struct aws {
	pthread_mutex_t mu;
	struct aws_creds env;   /* key_id "" when not set */
	struct aws_creds cache; /* file or IMDS; key_id "" when empty */
	char *file;
	char *profile;
	char *imds; /* NULL: not asked */
};

static int copy(char *dst, size_t n, const char *src)
{
	size_t k = strlen(src);

	if (k >= n)
		return -1;
	memcpy(dst, src, k + 1);
	return 0;
}

/* memset through a volatile pointer: not optimised away */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

void aws_creds_clear(struct aws_creds *c)
{
	wipe(c, sizeof(*c));
}

struct aws *aws_new(const struct set *s)
{
	struct aws *a = xcalloc(1, sizeof(*a));
	const char *k = getenv("AWS_ACCESS_KEY_ID");
	const char *sec = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");

	pthread_mutex_init(&a->mu, NULL);
	if (k && *k && sec && *sec &&
	    (copy(a->env.key_id, sizeof(a->env.key_id), k) < 0 ||
	     copy(a->env.secret, sizeof(a->env.secret), sec) < 0 ||
	     copy(a->env.token, sizeof(a->env.token), tok ? tok : "") < 0)) {
		log_warn("AWS credentials in the environment are too long: "
			 "ignored");
		aws_creds_clear(&a->env);
	}
	a->env.source = "environment";
	if (s->aws.credentials_file)
		a->file = xstrdup(s->aws.credentials_file);
	a->profile = xstrdup(s->aws.profile ? s->aws.profile : "default");
	if (s->aws.imds && s->aws.imds_endpoint)
		a->imds = xstrdup(s->aws.imds_endpoint);
	return a;
}

void aws_free(struct aws **ap)
{
	struct aws *a = *ap;

	if (a == NULL)
		return;
	aws_creds_clear(&a->env);
	aws_creds_clear(&a->cache);
	pthread_mutex_destroy(&a->mu);
	free(a->file);
	free(a->profile);
	free(a->imds);
	free(a);
	*ap = NULL;
}

/* ---- the credentials file ---- */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

/* One "key = value" line of the wanted section into c. */
static void ini_line(char *line, struct aws_creds *c)
{
	char *eq = strchr(line, '='), *k, *v;

	if (eq == NULL)
		return;
	*eq = 0;
	k = trim(line);
	v = trim(eq + 1);
	if (strcmp(k, "aws_access_key_id") == 0)
		(void)copy(c->key_id, sizeof(c->key_id), v); /* checked below */
	else if (strcmp(k, "aws_secret_access_key") == 0)
		(void)copy(c->secret, sizeof(c->secret), v);
	else if (strcmp(k, "aws_session_token") == 0)
		(void)copy(c->token, sizeof(c->token), v);
}

static void ini_parse(char *data, const char *profile, struct aws_creds *c)
{
	int in = 0;

	for (char *line = data, *nl; line && *line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = 0;
		line = trim(line);
		if (*line == '#' || *line == ';' || *line == 0)
			continue;
		if (*line == '[') {
			char *end = strchr(line, ']');

			if (end)
				*end = 0;
			in = strcmp(trim(line + 1), profile) == 0;
			continue;
		}
		if (in)
			ini_line(line, c);
	}
}

/* 1 found, 0 no such profile or keys, -1 error */
static int from_file(struct aws *a, struct aws_creds *c, struct mr_err *err)
{
	struct stat st;
	size_t len;
	char *data;
	int fd = open(a->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		mr_err_sys(err, MR_PERM, errno, "aws.credentials_file %s",
			   a->file);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		mr_err_set(err, MR_PERM,
			   "aws.credentials_file %s: must be a regular file "
			   "that only its owner can read (chmod 600)",
			   a->file);
		(void)close(fd); /* read-only */
		return -1;
	}
	(void)close(fd); /* read-only; read again below by name */
	if (mr_read_file(a->file, AWS_FILE_MAX, &data, &len, err) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	ini_parse(data, a->profile, c);
	wipe(data, len);
	free(data);
	c->source = "credentials file";
	return c->key_id[0] && c->secret[0];
}

/* ---- instance metadata (IMDSv2) ---- */

struct imds_req {
	struct aws_body body;
	char errbuf[CURL_ERROR_SIZE];
};

/* One request; the answer's body in r->body. Returns the HTTP status, or
 * -1 with err. */
static long imds_call(CURL *h, struct imds_req *r, const char *url, int put,
		      const char *hdr, struct mr_err *err)
{
	struct curl_slist *hl = curl_slist_append(NULL, hdr);
	CURLcode rc;
	long code = 0;

	buf_reset(&r->body.buf);
	r->errbuf[0] = 0;
	curl_easy_reset(h);
	(void)curl_easy_setopt(h, CURLOPT_URL, url);
	(void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 2L);
	(void)curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
	(void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, aws_body_write);
	(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
	(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	if (put)
		(void)curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	rc = curl_easy_perform(h);
	(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	if (rc != CURLE_OK) {
		mr_err_set(err, MR_TEMP, "instance metadata: %s (%s)",
			   curl_easy_strerror(rc), r->errbuf);
		return -1;
	}
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		mr_err_set(err, MR_TEMP, "instance metadata: HTTP %ld for %s",
			   code, put ? "the token" : "credentials");
	return code;
}

static time_t parse_iso(const char *s)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return 0;
	return timegm(&tm);
}

/* The credentials JSON document into c. */
static int imds_parse(const char *doc, struct aws_creds *c, struct mr_err *err)
{
	struct json_object *o = json_tokener_parse(doc), *v;
	static const char *const names[] = {"AccessKeyId", "SecretAccessKey",
					    "Token", "Expiration"};
	const char *f[4] = {NULL, NULL, NULL, NULL};
	int rc = -1;

	for (size_t i = 0; o && i < 4; i++)
		if (json_object_object_get_ex(o, names[i], &v) &&
		    json_object_is_type(v, json_type_string))
			f[i] = json_object_get_string(v);
	memset(c, 0, sizeof(*c));
	if (f[0] && f[1] && copy(c->key_id, sizeof(c->key_id), f[0]) == 0 &&
	    copy(c->secret, sizeof(c->secret), f[1]) == 0 &&
	    copy(c->token, sizeof(c->token), f[2] ? f[2] : "") == 0) {
		c->expires = f[3] ? parse_iso(f[3]) : 0;
		c->source = "imds";
		rc = 0;
	} else {
		mr_err_set(err, MR_TEMP,
			   "instance metadata: credentials document unusable");
	}
	json_object_put(o);
	return rc;
}

/* A session token for instance metadata (IMDSv2, valid ttl_s seconds),
 * as the header later requests carry; NULL with err. */
static char *imds_token_hdr(CURL *h, struct imds_req *r, const char *imds,
			    long ttl_s, struct mr_err *err)
{
	char *url = xasprintf("%s/latest/api/token", imds);
	char *ttl =
		xasprintf("X-aws-ec2-metadata-token-ttl-seconds: %ld", ttl_s);
	long code = imds_call(h, r, url, 1, ttl, err);

	free(url);
	free(ttl);
	if (code != 200)
		return NULL;
	if (r->body.buf.len == 0) {
		mr_err_set(err, MR_TEMP, "instance metadata: no token");
		return NULL;
	}
	return xasprintf("X-aws-ec2-metadata-token: %s", r->body.buf.data);
}

/* A handle and an empty request for a series of metadata calls. */
static CURL *imds_open(struct imds_req *r, struct mr_err *err)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		mr_err_set(err, MR_TEMP, "instance metadata: curl_easy_init");
	buf_init(&r->body.buf);
	r->body.max = AWS_IMDS_MAX;
	return h;
}

static void imds_close(CURL *h, struct imds_req *r)
{
	if (r->body.buf.data)
		wipe(r->body.buf.data, r->body.buf.len);
	buf_free(&r->body.buf);
	curl_easy_cleanup(h);
}

int aws_imds_get(struct aws *a, const char *path, char **out_r,
		 struct mr_err *err)
{
	CURL *h;
	struct imds_req r;
	char *url, *hdr;
	int rc = -1;

	*out_r = NULL;
	if (a->imds == NULL) {
		mr_err_set(err, MR_PERM, "instance metadata is off (aws.imds)");
		return -1;
	}
	if ((h = imds_open(&r, err)) == NULL)
		return -1;
	hdr = imds_token_hdr(h, &r, a->imds, 60, err);
	if (hdr != NULL) {
		url = xasprintf("%s%s", a->imds, path);
		if (imds_call(h, &r, url, 0, hdr, err) == 200 &&
		    r.body.buf.len > 0) {
			r.body.buf.data[strcspn(r.body.buf.data, "\r\n")] = 0;
			*out_r = xstrdup(r.body.buf.data);
			rc = 0;
		} else if (err->kind == MR_OK) {
			mr_err_set(err, MR_TEMP,
				   "instance metadata: %s: no "
				   "answer",
				   path);
		}
		free(url);
		free(hdr);
	}
	imds_close(h, &r);
	return rc;
}

static int from_imds(struct aws *a, struct aws_creds *c, struct mr_err *err)
{
	struct imds_req r;
	CURL *h = imds_open(&r, err);
	char *url = NULL, *hdr = NULL, *nl;
	int rc = -1;

	if (h == NULL)
		return -1;
	hdr = imds_token_hdr(h, &r, a->imds, 21600, err);
	if (hdr == NULL)
		goto out;
	url = xasprintf("%s/latest/meta-data/iam/security-credentials/",
			a->imds);
	if (imds_call(h, &r, url, 0, hdr, err) != 200 || r.body.buf.len == 0)
		goto out;
	nl = strpbrk(r.body.buf.data, "\r\n");
	if (nl)
		*nl = 0;
	free(url);
	url = xasprintf("%s/latest/meta-data/iam/security-credentials/%s",
			a->imds, r.body.buf.data);
	if (imds_call(h, &r, url, 0, hdr, err) != 200)
		goto out;
	rc = imds_parse(r.body.buf.data, c, err);
out:
	free(url);
	free(hdr);
	imds_close(h, &r);
	return rc;
}

/* ---- the chain ---- */

static int fresh(const struct aws_creds *c, time_t now)
{
	return c->key_id[0] &&
	       (c->expires == 0 || now < c->expires - AWS_REFRESH_S);
}

static int fill_cache(struct aws *a, time_t now, struct mr_err *err)
{
	int r;

	if (fresh(&a->cache, now))
		return 0;
	if (a->file) {
		r = from_file(a, &a->cache, err);
		if (r != 0)
			return r > 0 ? 0 : -1;
	}
	if (a->imds) {
		if (from_imds(a, &a->cache, err) == 0)
			return 0;
		/* still valid: keep using them until they expire */
		if (a->cache.key_id[0] && now < a->cache.expires)
			return 0;
		return -1;
	}
	if (a->file == NULL)
		mr_err_set(err, MR_PERM,
			   "no AWS credentials: set AWS_ACCESS_KEY_ID and "
			   "AWS_SECRET_ACCESS_KEY, aws.credentials_file, or "
			   "aws.imds");
	else
		mr_err_set(err, MR_PERM,
			   "no AWS credentials: %s has no keys for profile "
			   "[%s], and instance metadata is off (aws.imds)",
			   a->file, a->profile);
	return -1;
}

int aws_creds_get(struct aws *a, time_t now, struct aws_creds *c,
		  struct mr_err *err)
{
	int rc;

	if (a->env.key_id[0]) {
		*c = a->env;
		return 0;
	}
	pthread_mutex_lock(&a->mu);
	rc = fill_cache(a, now, err);
	if (rc == 0)
		*c = a->cache;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

void aws_creds_stale(struct aws *a)
{
	pthread_mutex_lock(&a->mu);
	if (a->cache.expires != 0)
		a->cache.expires = 1;
	pthread_mutex_unlock(&a->mu);
}

/* ---- signing ---- */

int aws_curl_sign(void *curl, const struct aws_creds *c, const char *region,
		  const char *service, void *headers, struct mr_err *err)
{
	struct curl_slist **hl = headers;
	CURL *h = curl;
	char sig[160];
	int n = snprintf(sig, sizeof(sig), "aws:amz:%s:%s", region, service);

	if (n < 0 || (size_t)n >= sizeof(sig)) {
		mr_err_set(err, MR_PERM, "aws: region or service too long");
		return -1;
	}
	if (curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sig) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERNAME, c->key_id) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret) != CURLE_OK) {
		mr_err_set(err, MR_TEMP, "aws: cannot set up signing");
		return -1;
	}
	if (c->token[0]) {
		char *t = xasprintf("X-Amz-Security-Token: %s", c->token);
		struct curl_slist *nl = curl_slist_append(*hl, t);

		wipe(t, strlen(t));
		free(t);
		if (nl == NULL) {
			mr_err_set(err, MR_TEMP, "aws: out of memory");
			return -1;
		}
		*hl = nl;
	}
	return 0;
}

size_t aws_body_write(char *p, size_t size, size_t n, void *body)
{
	struct aws_body *b = body;

	if (b->buf.len + size * n > b->max)
		return 0;
	buf_append(&b->buf, p, size * n);
	return size * n;
}

void aws_uri_encode(struct mr_buf *b, const char *s, int keep_slash)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~' || (keep_slash && *p == '/'))
			buf_append(b, p, 1);
		else
			buf_printf(b, "%%%02X", *p);
	}
}
