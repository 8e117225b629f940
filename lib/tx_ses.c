/* tx_ses.c - the "ses" transport: Amazon SES SendRawEmail (contract: tx.h)
 *
 * Each send is one SES query-API call, Action=SendRawEmail (Version
 * 2010-12-01), POSTed as a form: Source, Destinations.member.1 and
 * RawMessage.Data (base64). SigV4 is libcurl's own (aws_curl_sign,
 * service "ses"). One easy handle per worker keeps its HTTPS connection
 * alive between sends. Never CURLOPT_VERBOSE: it would print the request.
 * SES's answer is the <Code> and <Message> of its ErrorResponse, mapped by
 * the codes table below; SES's message passes through log_redact().
 */
#include "tx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "addr.h"
#include "aws.h"
#include "log.h"
#include "pace.h"
#include "settings.h"
#include "tx_impl.h"

#define TXA_RESP_MAX ((size_t)64 * 1024)

struct txa {
	struct tx base; /* first: tx_impl.h */
	CURL *curl;
	struct aws *aws;   /* borrowed from the snapshot */
	struct pace *pace; /* borrowed from the snapshot */
	char *region;
	char *source;         /* complaints address (or from) */
	char *confset;        /* or NULL */
	struct mr_buf body;   /* the form being posted */
	struct aws_body resp; /* SES's answer */
	char errbuf[CURL_ERROR_SIZE];
};

static char *txa_check(const char *rest, const char *dir, struct mr_err *err)
{
	(void)dir; /* no paths */
	if (rest[0] != 0) {
		mr_err_set(err, MR_PERM,
			   "expected \"ses\" (region and endpoint are the "
			   "ses settings)");
		return NULL;
	}
	return xstrdup(rest);
}

/* An SES entry without credentials is a configuration error at start. */
static int txa_preflight(const char *rest, const struct tx_deps *d,
			 struct mr_err *err)
{
	struct aws_creds c;
	int r;

	(void)rest;
	if (d->aws == NULL) {
		mr_err_set(err, MR_PERM, "ses: no AWS credentials module");
		return -1;
	}
	r = aws_creds_get(d->aws, time(NULL), &c, err);
	aws_creds_clear(&c);
	if (r < 0) {
		char t[sizeof(err->text)];

		memcpy(t, err->text, sizeof(t));
		mr_err_set(err, MR_PERM, "ses: %s", t);
	}
	return r;
}

static CURLcode txa_setup(struct txa *t, const struct set *s)
{
	char *url = s->ses.endpoint
			    ? xstrdup(s->ses.endpoint)
			    : xasprintf("https://email.%s.amazonaws.com/",
					s->ses.region);
	CURL *c = t->curl;
	CURLcode rc = curl_easy_setopt(c, CURLOPT_URL, url);

	free(url); /* curl copied it */
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK) /* never: it would print the request */
		rc = curl_easy_setopt(c, CURLOPT_VERBOSE, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, aws_body_write);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, &t->resp);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
				      s->smtp_connect_timeout_s);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_TIMEOUT, s->ses.timeout_s);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	return rc;
}

static void txa_close(struct tx *h)
{
	struct txa *t = (struct txa *)h;

	if (t == NULL)
		return;
	if (t->curl)
		curl_easy_cleanup(t->curl);
	free(t->region);
	free(t->source);
	free(t->confset);
	buf_free(&t->body);
	buf_free(&t->resp.buf);
	free(t);
}

static struct tx *txa_open(const char *rest, const struct tx_deps *d,
			   struct mr_err *err)
{
	const struct set *s = d->set;
	struct txa *t;
	CURLcode rc;

	(void)rest; /* checked: empty */
	if (d->aws == NULL) {
		mr_err_set(err, MR_PERM, "ses: no AWS credentials module");
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->aws = d->aws;
	t->pace = d->ses_pace;
	t->region = xstrdup(s->ses.region);
	t->source = xstrdup(s->complaints_address ? s->complaints_address
						  : s->from_addr);
	t->confset = s->ses.configuration_set
			     ? xstrdup(s->ses.configuration_set)
			     : NULL;
	buf_init(&t->body);
	buf_init(&t->resp.buf);
	t->resp.max = TXA_RESP_MAX;
	t->curl = curl_easy_init();
	if (t->curl == NULL) {
		mr_err_set(err, MR_TEMP, "ses: curl_easy_init failed");
		txa_close(&t->base);
		return NULL;
	}
	rc = txa_setup(t, s);
	if (rc != CURLE_OK) {
		mr_err_set(err, MR_PERM, "ses: curl_easy_setopt: %s",
			   curl_easy_strerror(rc));
		txa_close(&t->base);
		return NULL;
	}
	return &t->base;
}

/* ---- the request ---- */

/* application/x-www-form-urlencoded value */
static void form_put(struct mr_buf *b, const char *name, const char *v,
		     size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o;

	buf_printf(b, "%s%s=", b->len ? "&" : "", name);
	/* make room once: at most three bytes per byte */
	buf_append(b, "", 0);
	if (b->cap < b->len + 3 * n + 1) {
		b->cap = b->len + 3 * n + 1;
		b->data = xrealloc(b->data, b->cap);
	}
	o = b->data + b->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = 0;
	b->len = (size_t)(o - b->data);
}

/* The message, base64 (one line, as SES wants it). */
static char *b64_iov(const struct iovec *iov, int iovcnt, size_t *len_r)
{
	size_t n = 0, o = 0;
	unsigned char *raw;
	char *out;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	raw = xmalloc(n + 1);
	for (int i = 0; i < iovcnt; i++) {
		memcpy(raw + o, iov[i].iov_base, iov[i].iov_len);
		o += iov[i].iov_len;
	}
	out = xmalloc(4 * ((n + 2) / 3) + 1);
	*len_r = (size_t)EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
	free(raw);
	return out;
}

static void txa_form(struct txa *t, const char *rcpt, const struct iovec *iov,
		     int iovcnt)
{
	size_t n;
	char *data = b64_iov(iov, iovcnt, &n);

	buf_reset(&t->body);
	form_put(&t->body, "Action", "SendRawEmail", 12);
	form_put(&t->body, "Version", "2010-12-01", 10);
	form_put(&t->body, "Source", t->source, strlen(t->source));
	form_put(&t->body, "Destinations.member.1", rcpt, strlen(rcpt));
	if (t->confset)
		form_put(&t->body, "ConfigurationSetName", t->confset,
			 strlen(t->confset));
	form_put(&t->body, "RawMessage.Data", data, n);
	free(data);
}

/* The text between <tag> and </tag> in SES's XML answer, or "". */
static void xml_field(const char *doc, const char *tag, char *out, size_t n)
{
	char open[48], close[48];
	const char *a, *b;

	out[0] = 0;
	if (doc == NULL)
		return;
	(void)snprintf(open, sizeof(open), "<%s>", tag);    /* short tags */
	(void)snprintf(close, sizeof(close), "</%s>", tag); /* short tags */
	a = strstr(doc, open);
	if (a == NULL)
		return;
	a += strlen(open);
	b = strstr(a, close);
	if (b == NULL)
		return;
	if ((size_t)(b - a) >= n)
		b = a + n - 1;
	memcpy(out, a, (size_t)(b - a));
	out[b - a] = 0;
}

struct txa_map {
	const char *code;
	enum mr_fail kind;
	enum reason reason;
	int pause;
};

static const struct txa_map codes[] = {
	{"MessageRejected", MR_PERM, REASON_SES_REJECTED, 0},
	{"InvalidParameterValue", MR_PERM, REASON_SES_INVALID, 0},
	{"InvalidParameterCombination", MR_PERM, REASON_SES_INVALID, 0},
	{"Throttling", MR_TEMP, REASON_SES_THROTTLED, 0},
	{"ThrottlingException", MR_TEMP, REASON_SES_THROTTLED, 0},
	{"AccountSendingPausedException", MR_TEMP, REASON_SES_PAUSED, 1},
	{"ExpiredToken", MR_TEMP, REASON_AWS_CREDENTIALS, 0},
	{"InvalidClientTokenId", MR_TEMP, REASON_AWS_CREDENTIALS, 0},
	{"SignatureDoesNotMatch", MR_TEMP, REASON_AWS_CREDENTIALS, 0},
	{"IncompleteSignature", MR_TEMP, REASON_AWS_CREDENTIALS, 0},
	{"MissingAuthenticationToken", MR_TEMP, REASON_AWS_CREDENTIALS, 0},
	{"AccessDenied", MR_TEMP, REASON_AWS_CREDENTIALS, 0},
	{"UnrecognizedClientException", MR_TEMP, REASON_AWS_CREDENTIALS, 0},
};

/* SES answered with an error: classify it. */
static void txa_refused(struct txa *t, long http, struct tx_why *why,
			struct mr_err *err)
{
	char code[64], msg[256], red[256];
	enum mr_fail kind = MR_TEMP;

	xml_field(t->resp.buf.data, "Code", code, sizeof(code));
	xml_field(t->resp.buf.data, "Message", msg, sizeof(msg));
	log_redact(red, sizeof(red), msg);
	why->reason = REASON_SES_UNAVAILABLE;
	for (size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++)
		if (strcmp(code, codes[i].code) == 0) {
			kind = codes[i].kind;
			why->reason = codes[i].reason;
			why->pause = codes[i].pause;
		}
	/* the daily quota comes as Throttling: the account is stopped */
	if (strstr(msg, "Daily message quota exceeded") != NULL) {
		why->reason = REASON_SES_PAUSED;
		why->pause = 1;
	}
	if (strcmp(code, "ExpiredToken") == 0)
		aws_creds_stale(t->aws);
	mr_err_set(err, kind, "ses: HTTP %ld %s%s%s", http,
		   code[0] ? code : "(no code)", red[0] ? ": " : "", red);
}

static int txa_perform(struct txa *t, const struct aws_creds *c,
		       struct mr_err *err)
{
	struct curl_slist *hl = curl_slist_append(
		NULL, "Content-Type: application/x-www-form-urlencoded");
	CURLcode rc = CURLE_OUT_OF_MEMORY;

	if (hl != NULL &&
	    aws_curl_sign(t->curl, c, t->region, "ses", &hl, err) < 0) {
		curl_slist_free_all(hl);
		return -1;
	}
	buf_reset(&t->resp.buf);
	t->errbuf[0] = 0;
	if (hl != NULL &&
	    curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, hl) == CURLE_OK &&
	    curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE_LARGE,
			     (curl_off_t)t->body.len) == CURLE_OK &&
	    curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, t->body.data) ==
		    CURLE_OK)
		rc = curl_easy_perform(t->curl);
	/* drop the pointers into this call's data; cannot fail */
	(void)curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	if (rc != CURLE_OK) {
		char red[CURL_ERROR_SIZE];

		log_redact(red, sizeof(red), t->errbuf);
		mr_err_set(err, MR_TEMP, "ses: %s%s%s%s",
			   curl_easy_strerror(rc), red[0] ? " (" : "", red,
			   red[0] ? ")" : "");
		return -1;
	}
	return 0;
}

static int txa_send(struct tx *h, const struct tx_env *env,
		    const struct iovec *iov, int iovcnt, struct tx_why *why,
		    struct mr_err *err)
{
	struct txa *t = (struct txa *)h;
	struct aws_creds c;
	long http = 0;
	int rc = -1;

	why->reason = REASON_SES_UNAVAILABLE;
	if (env->rcpt == NULL || !addr_valid(env->rcpt)) {
		mr_err_set(err, MR_PERM, "ses: recipient address unusable");
		why->reason = REASON_SES_INVALID;
		return -1;
	}
	if (aws_creds_get(t->aws, time(NULL), &c, err) < 0) {
		err->kind = MR_TEMP; /* not this message's fault */
		why->reason = REASON_AWS_CREDENTIALS;
		return -1;
	}
	txa_form(t, env->rcpt, iov, iovcnt);
	pace_wait(t->pace);
	if (txa_perform(t, &c, err) == 0) {
		curl_off_t us = 0;

		(void)curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &http);
		(void)curl_easy_getinfo(t->curl, CURLINFO_TOTAL_TIME_T, &us);
		log_debug("ses: SendRawEmail HTTP %ld in %ld us", http,
			  (long)us);
		if (http == 200)
			rc = 0;
		else
			txa_refused(t, http, why, err);
		why->keep = 1; /* SES answered: the connection is fine */
	}
	aws_creds_clear(&c);
	buf_reset(&t->body);
	return rc;
}

const struct tx_ops tx_ses_ops = {
	.scheme = "ses",
	.check = txa_check,
	.preflight = txa_preflight,
	.open = txa_open,
	.send = txa_send,
	.close = txa_close,
};
