/* s3.c - S3 objects through a local cache (contract: s3.h)
 *
 * Cache file: <cache_dir>/<hex SHA-256 of "bucket/key">, holding
 * "mailresponder-s3 1\n<bucket>/<key>\n<etag>\n\n" and then the object's
 * bytes. One curl handle per struct s3 (connections are reused), used under
 * a mutex. Never CURLOPT_VERBOSE: it would print the signature.
 */
#include "s3.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "aws.h"
#include "hash.h"
#include "log.h"
#include "settings.h"

#define S3_MAX ((size_t)64 << 20) /* per object, as blob.c */
#define S3_MAGIC "mailresponder-s3 1\n"

static atomic_int s3_aborted;

struct s3 {
	pthread_mutex_t mu;
	const struct set *set;
	struct aws *aws;
	int flags;
	CURL *curl;
	char *endpoint; /* without a trailing '/' */
	struct s3_counts n;
};

struct resp {
	struct mr_buf body;
	char etag[128];
	int too_big;
};

void s3_abort(void)
{
	atomic_store(&s3_aborted, 1);
}

int s3_url_split(const char *url, char **bucket_r, char **key_r)
{
	const char *b, *slash;

	*bucket_r = *key_r = NULL;
	if (url == NULL || strncmp(url, "s3://", 5) != 0)
		return -1;
	b = url + 5;
	slash = strchr(b, '/');
	if (slash == NULL || slash == b || slash[1] == 0)
		return -1;
	*bucket_r = xstrndup(b, (size_t)(slash - b));
	*key_r = xstrdup(slash + 1);
	return 0;
}

struct s3 *s3_new(const struct set *s, struct aws *aws, int flags)
{
	struct s3 *s3 = xcalloc(1, sizeof(*s3));
	size_t n;

	pthread_mutex_init(&s3->mu, NULL);
	s3->set = s;
	s3->aws = aws;
	s3->flags = flags;
	if (s->s3.endpoint)
		s3->endpoint = xstrdup(s->s3.endpoint);
	else
		s3->endpoint =
			xasprintf("https://s3.%s.amazonaws.com", s->s3.region);
	n = strlen(s3->endpoint);
	while (n > 0 && s3->endpoint[n - 1] == '/')
		s3->endpoint[--n] = 0;
	return s3;
}

void s3_free(struct s3 **p)
{
	struct s3 *s3 = *p;

	if (s3 == NULL)
		return;
	*p = NULL;
	if (s3->curl)
		curl_easy_cleanup(s3->curl);
	free(s3->endpoint);
	pthread_mutex_destroy(&s3->mu);
	free(s3);
}

void s3_counts(struct s3 *s3, struct s3_counts *c)
{
	pthread_mutex_lock(&s3->mu);
	*c = s3->n;
	pthread_mutex_unlock(&s3->mu);
}

/* ---- names ---- */

static int name_ok(const char *s)
{
	if (s == NULL || *s == 0 || strlen(s) > 1024)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int bucket_ok(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return 0;
	for (; *b; b++)
		if (!((*b >= 'a' && *b <= 'z') || (*b >= '0' && *b <= '9') ||
		      *b == '-' || *b == '.'))
			return 0;
	return 1;
}

/* Path-style URL: each key segment percent-encoded (RFC 3986
 * unreserved kept), as S3's canonical URI wants it. */
static char *object_url(const struct s3 *s3, const char *bucket,
			const char *key)
{
	struct mr_buf b;

	buf_init(&b);
	buf_printf(&b, "%s/%s/", s3->endpoint, bucket);
	aws_uri_encode(&b, key, 1);
	return buf_steal(&b, NULL);
}

static char *cache_path(const struct s3 *s3, const char *bucket,
			const char *key)
{
	unsigned char md[32];
	char hex[2 * sizeof(md) + 1];
	char *bk = xasprintf("%s/%s", bucket, key);

	hash_sha256(bk, strlen(bk), md);
	free(bk);
	hash_hex(md, sizeof(md), hex);
	return xasprintf("%s/%s", s3->set->s3.cache_dir, hex);
}

/* ---- the cache ---- */

struct cached {
	char *file; /* whole file, NUL-terminated */
	size_t file_len;
	const char *data; /* into file */
	size_t len;
	char etag[128];
	time_t mtime;
};

static void cached_free(struct cached *c)
{
	free(c->file);
	memset(c, 0, sizeof(*c));
}

/* 1 found, 0 none (or unusable: treated as absent, with a warning). */
static int cache_read(const char *path, const char *bucket, const char *key,
		      struct cached *c)
{
	struct stat st;
	const char *p, *nl;
	char *want;
	size_t got = 0;
	int fd;

	memset(c, 0, sizeof(*c));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > S3_MAX + 4096) {
		(void)close(fd); /* read-only */
		return 0;
	}
	c->file = xmalloc((size_t)st.st_size + 2);
	/* a read error leaves a short copy, refused by the checks below */
	(void)mr_read_full(fd, c->file, (size_t)st.st_size, &got);
	(void)close(fd); /* read-only */
	c->file[got] = 0;
	c->file[got + 1] = 0;
	c->file_len = got;
	c->mtime = st.st_mtime;
	want = xasprintf(S3_MAGIC "%s/%s\n", bucket, key);
	p = c->file;
	if (got < strlen(want) || memcmp(p, want, strlen(want)) != 0)
		goto bad;
	p += strlen(want);
	nl = memchr(p, '\n', got - (size_t)(p - c->file));
	if (nl == NULL || (size_t)(nl - p) >= sizeof(c->etag) ||
	    nl + 1 >= c->file + got || nl[1] != '\n')
		goto bad;
	memcpy(c->etag, p, (size_t)(nl - p));
	c->etag[nl - p] = 0;
	c->data = nl + 2;
	c->len = got - (size_t)(c->data - c->file);
	free(want);
	return 1;
bad:
	log_warn("s3 cache %s: not a cached copy of %s/%s; ignored", path,
		 bucket, key);
	free(want);
	cached_free(c);
	return 0;
}

/* The head, then the data (not copied), in a file replaced atomically;
 * the folder's fsync is best effort, the cache being only a copy. */
static int cache_write(const struct s3 *s3, const char *path,
		       const char *bucket, const char *key, const char *etag,
		       const char *data, size_t len, struct mr_err *err)
{
	const char *dir = s3->set->s3.cache_dir;
	char *head = xasprintf(S3_MAGIC "%s/%s\n%s\n\n", bucket, key, etag);
	const struct mr_part parts[] = {{head, strlen(head)}, {data, len}};
	const struct mr_write_opts o = {.mode = 0640,
					.uid = (uid_t)-1,
					.gid = (gid_t)-1,
					.flags = MR_WRITE_SOFT_DIRSYNC,
					.kind = MR_TEMP,
					.what = "s3 cache: "};
	int rc = -1;

	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		mr_err_sys(err, MR_TEMP, errno, "s3 cache: mkdir(%s)", dir);
	else
		rc = mr_write_parts_atomic(path, parts, 2, &o, err);
	free(head);
	return rc;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;

	if (r->body.len + n > S3_MAX) {
		r->too_big = 1;
		return 0;
	}
	buf_append(&r->body, p, sz * n);
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = sz * n;

	if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		const char *v = p + 5, *e = p + len;

		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v &&
		       (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
			e--;
		if ((size_t)(e - v) < sizeof(r->etag)) {
			memcpy(r->etag, v, (size_t)(e - v));
			r->etag[e - v] = 0;
		}
	}
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
		       curl_off_t d)
{
	(void)arg;
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return atomic_load(&s3_aborted) ? 1 : 0;
}

/* A single-part ETag is the quoted MD5 hex of the bytes; a multipart
 * one ("...-N") cannot be checked. 1 ok or not checkable, 0 mismatch. */
static int etag_matches(const char *etag, const char *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 3];
	size_t el = strlen(etag);

	if (el != 34 || etag[0] != '"' || etag[33] != '"')
		return 1;
	(void)EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
	hex[0] = '"';
	hash_hex(md, n, hex + 1);
	hex[1 + 2 * n] = '"';
	hex[2 + 2 * n] = 0;
	return strcasecmp(hex, etag) == 0;
}

static int setup(struct s3 *s3, const char *url, struct resp *r,
		 struct curl_slist *hl)
{
	long t = s3->set->s3.timeout_s;
	CURL *c = s3->curl;
	CURLcode e;

	curl_easy_reset(c);
	e = curl_easy_setopt(c, CURLOPT_URL, url);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
				     t < 10 ? t : 10L);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_TIMEOUT, t);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	return e == CURLE_OK ? 0 : -1;
}

/* The response's S3 error code (<Code>..</Code>), or "". */
static void s3_code(const struct mr_buf *b, char *out, size_t n)
{
	const char *p = b->data ? strstr(b->data, "<Code>") : NULL;
	const char *e = p ? strstr(p, "</Code>") : NULL;

	out[0] = 0;
	if (p && e && (size_t)(e - p - 6) < n) {
		memcpy(out, p + 6, (size_t)(e - p - 6));
		out[e - p - 6] = 0;
	}
}

/* One conditional GET. Returns the HTTP status, or -1 with err. */
static long request(struct s3 *s3, const char *bucket, const char *key,
		    const char *etag, struct resp *r, struct mr_err *err)
{
	struct curl_slist *hl = NULL, *nl;
	struct aws_creds cr;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *url = object_url(s3, bucket, key), *inm = NULL;
	long status = -1;
	CURLcode cc;

	if (s3->curl == NULL)
		s3->curl = curl_easy_init();
	if (s3->curl == NULL) {
		mr_err_set(err, MR_TEMP, "s3 %s/%s: curl_easy_init failed",
			   bucket, key);
		free(url);
		return -1;
	}
	if (aws_creds_get(s3->aws, mr_time(), &cr, err) < 0) {
		free(url);
		return -1;
	}
	nl = curl_slist_append(hl, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	hl = nl;
	if (hl && etag && etag[0]) {
		inm = xasprintf("If-None-Match: %s", etag);
		nl = curl_slist_append(hl, inm);
		hl = nl ? nl : hl;
	}
	if (hl == NULL || setup(s3, url, r, hl) < 0 ||
	    curl_easy_setopt(s3->curl, CURLOPT_ERRORBUFFER, errbuf) !=
		    CURLE_OK ||
	    aws_curl_sign(s3->curl, &cr, s3->set->s3.region, "s3", &hl, err) <
		    0 ||
	    curl_easy_setopt(s3->curl, CURLOPT_HTTPHEADER, hl) != CURLE_OK) {
		if (err->text[0] == 0)
			mr_err_set(err, MR_TEMP, "s3 %s/%s: curl setup failed",
				   bucket, key);
		goto out;
	}
	s3->n.requests++;
	cc = curl_easy_perform(s3->curl);
	if (cc != CURLE_OK) {
		if (r->too_big)
			mr_err_set(err, MR_PERM,
				   "s3 %s/%s: larger than %zu bytes", bucket,
				   key, S3_MAX);
		else
			mr_err_set(err, MR_TEMP, "s3 %s/%s: %s", bucket, key,
				   errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	(void)curl_easy_getinfo(s3->curl, CURLINFO_RESPONSE_CODE, &status);
	s3->n.bytes += (long)r->body.len;
out:
	/* the list holds the session token: no copy left behind */
	(void)curl_easy_setopt(s3->curl, CURLOPT_HTTPHEADER, NULL);
	(void)curl_easy_setopt(s3->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hl);
	aws_creds_clear(&cr);
	free(inm);
	free(url);
	return status;
}

static void copy_out(const char *data, size_t len, char **data_r, size_t *len_r)
{
	*data_r = xmalloc(len + 2);
	memcpy(*data_r, data, len);
	(*data_r)[len] = 0;
	(*data_r)[len + 1] = 0;
	*len_r = len;
}

static int get_locked(struct s3 *s3, const char *bucket, const char *key,
		      char **data_r, size_t *len_r, struct mr_err *err)
{
	struct resp r = {0};
	struct cached c;
	char code[64], *path = cache_path(s3, bucket, key);
	int have = cache_read(path, bucket, key, &c), rc = -1;
	long st;

	buf_init(&r.body);
	st = request(s3, bucket, key, have ? c.etag : NULL, &r, err);
	if (st == 304 && have) {
		s3->n.not_modified++;
		copy_out(c.data, c.len, data_r, len_r);
		rc = 0;
	} else if (st == 200) {
		if (!etag_matches(r.etag, r.body.data ? r.body.data : "",
				  r.body.len)) {
			mr_err_set(err, MR_TEMP,
				   "s3 %s/%s: the bytes do not match ETag %s",
				   bucket, key, r.etag);
		} else if (!(s3->flags & S3_READONLY) && r.etag[0] &&
			   cache_write(s3, path, bucket, key, r.etag,
				       r.body.data ? r.body.data : "",
				       r.body.len, err) < 0) {
			/* err says why */
		} else {
			s3->n.fetched++;
			copy_out(r.body.data ? r.body.data : "", r.body.len,
				 data_r, len_r);
			rc = 0;
		}
	} else if (st >= 0) {
		s3_code(&r.body, code, sizeof(code));
		if (st == 404)
			mr_err_set(err, MR_PERM,
				   "s3 %s/%s: no such object (%s)", bucket, key,
				   code[0] ? code : "404");
		else
			mr_err_set(err,
				   st >= 500 || st == 304 ? MR_TEMP : MR_PERM,
				   "s3 %s/%s: HTTP %ld%s%s", bucket, key, st,
				   code[0] ? " " : "", code);
	}
	if (rc < 0 && err->kind == MR_TEMP && have &&
	    !atomic_load(&s3_aborted)) {
		char when[32];
		struct tm tm;

		gmtime_r(&c.mtime, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		log_warn("%s; using the cached copy of %s", err->text, when);
		s3->n.from_cache++;
		copy_out(c.data, c.len, data_r, len_r);
		mr_err_clear(err);
		rc = 0;
	}
	if (rc < 0 && err->kind == MR_TEMP)
		s3->n.unreachable++;
	buf_free(&r.body);
	cached_free(&c);
	free(path);
	return rc;
}

int s3_get(struct s3 *s3, const char *bucket, const char *key, char **data_r,
	   size_t *len_r, struct mr_err *err)
{
	int rc;

	*data_r = NULL;
	*len_r = 0;
	if (!name_ok(bucket) || !bucket_ok(bucket) || !name_ok(key)) {
		mr_err_set(err, MR_PERM, "s3 %s/%s: name refused",
			   bucket ? bucket : "(null)", key ? key : "(null)");
		return -1;
	}
	pthread_mutex_lock(&s3->mu);
	rc = get_locked(s3, bucket, key, data_r, len_r, err);
	pthread_mutex_unlock(&s3->mu);
	return rc;
}
