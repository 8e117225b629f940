/* tx_smtp.c - the "smtp://" and "smtps://" transports (contract: tx.h)
 *
 * One libcurl easy handle per transport handle, that is per worker
 * thread, reused for every send: curl keeps the SMTP connection in the
 * handle's cache and sends QUIT only at curl_easy_cleanup(). When the
 * server has dropped an idle connection curl notices and reconnects; when
 * a send on a reused connection fails at the connection level before the
 * server answered (it closed the connection as we spoke, or said 421), it
 * is tried once more on a fresh connection. (SMTP's one duplicate window
 * stays: a break after the server took the final dot, before its 250
 * reached us.) STARTTLS is CURLUSESSL_ALL. TLS is GnuTLS (curl's). The
 * message is uploaded from the caller's iovec list; curl does the
 * dot-stuffing. Never CURLOPT_VERBOSE: it prints the RCPT TO line.
 * See curl docs/examples/smtp-mail.c.
 */
#include "tx.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "addr.h"
#include "log.h"
#include "settings.h"
#include "tx_impl.h"

#define TXS_REPLY_MAX 256
#define TXS_PASSWORD_MAX 1024

/* The message being uploaded: a cursor over the caller's iovec list. */
struct txs_src {
	const struct iovec *iov;
	int n;
	int i;      /* current element */
	size_t off; /* offset inside it */
};

struct txs {
	struct tx base; /* first: tx_impl.h */
	CURL *curl;
	struct txs_src src;
	int lines;                    /* server reply lines this transfer */
	char reply[TXS_REPLY_MAX];    /* last 4xx/5xx line (never logged raw) */
	char errbuf[CURL_ERROR_SIZE]; /* curl's detail */
};

/* ---- callbacks ---- */

static size_t txs_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct txs_src *src = arg;
	size_t room = size * nitems, o = 0;

	while (o < room && src->i < src->n) {
		const struct iovec *v = &src->iov[src->i];
		size_t k = v->iov_len - src->off;

		if (k > room - o)
			k = room - o;
		if (k > 0)
			memcpy(buf + o, (const char *)v->iov_base + src->off,
			       k);
		o += k;
		src->off += k;
		if (src->off == v->iov_len) {
			src->i++;
			src->off = 0;
		}
	}
	return o;
}

/* curl rewinds the upload when it must send it again. */
static int txs_seek(void *arg, curl_off_t offset, int origin)
{
	struct txs_src *src = arg;
	size_t left;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	left = (size_t)offset;
	src->i = 0;
	src->off = 0;
	while (src->i < src->n && left >= src->iov[src->i].iov_len) {
		left -= src->iov[src->i].iov_len;
		src->i++;
	}
	if (src->i == src->n && left > 0)
		return CURL_SEEKFUNC_FAIL;
	src->off = left;
	return CURL_SEEKFUNC_OK;
}

/* libcurl hands every SMTP reply line to the header callback. Keep the
 * last 4xx/5xx line: the refusal. (After a failure curl closes the
 * connection with QUIT, whose "221" comes last.) */
static size_t txs_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct txs *t = arg;
	size_t len = size * nitems, k = len;

	t->lines++;
	if (len == 0 || (buf[0] != '4' && buf[0] != '5'))
		return len;
	while (k > 0 && (buf[k - 1] == '\r' || buf[k - 1] == '\n'))
		k--;
	if (k >= sizeof(t->reply))
		k = sizeof(t->reply) - 1;
	memcpy(t->reply, buf, k);
	t->reply[k] = 0;
	return len;
}

/* ---- open and close ---- */

static int ehlo_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static int ehlo_ok(const char *s)
{
	if (*s == 0)
		return 0;
	for (; *s; s++)
		if (!ehlo_char_ok((unsigned char)*s))
			return 0;
	return 1;
}

/* host, IPv4 or [IPv6] literal, optional :port; no user:password@ */
static int authority_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!ehlo_char_ok(c) && c != ':' && c != '[' && c != ']')
			return 0;
	}
	return 1;
}

static const char *ehlo_default(const struct set *s)
{
	const char *d = NULL;

	if (s != NULL && s->dkim.domain != NULL)
		d = s->dkim.domain;
	else if (s != NULL && s->from_addr != NULL)
		d = addr_domain(s->from_addr);
	return d != NULL && ehlo_ok(d) ? d : "localhost";
}

/* scheme "smtp://", rest "host:port[/ehlo]" -> the URL curl gets */
static char *txs_url(const char *scheme, const char *rest, const struct set *s,
		     struct mr_err *err)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *ehlo = slash && slash[1] ? slash + 1 : ehlo_default(s);

	if (!authority_ok(rest, n)) {
		mr_err_set(err, MR_PERM,
			   "transport %s: expected %shost:port (no user "
			   "name or password)",
			   scheme, scheme);
		return NULL;
	}
	if (!ehlo_ok(ehlo)) {
		mr_err_set(err, MR_PERM,
			   "transport %s%.*s: the URL path (EHLO name) must "
			   "be a domain name",
			   scheme, (int)n, rest);
		return NULL;
	}
	return xasprintf("%s%.*s/%s", scheme, (int)n, rest, ehlo);
}

/* Remember the first failure of a run of curl_easy_setopt() calls. */
static void txs_keep(CURLcode *first, CURLcode rc)
{
	if (*first == CURLE_OK)
		*first = rc;
}

/* Options that stay for the handle's life. The server response timeout
 * also bounds the QUIT at cleanup (curl's default there is 120 s). */
static CURLcode txs_setup(struct txs *t, const char *url, const char *proto,
			  const struct set *s)
{
	CURL *c = t->curl;
	CURLcode rc = CURLE_OK;
	long tmo = s ? s->smtp_timeout_s : 60;
	long ctmo = s ? s->smtp_connect_timeout_s : 10;

	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_URL, url));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, proto));
	/* threads: no SIGALRM around DNS lookups */
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L));
	/* never verbose: it would print the RCPT TO line */
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_VERBOSE, 0L));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_UPLOAD, 1L));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_READFUNCTION, txs_read));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_READDATA, &t->src));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, txs_seek));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_SEEKDATA, &t->src));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, txs_header));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_HEADERDATA, t));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, ctmo));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_TIMEOUT, tmo));
	txs_keep(&rc,
		 curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, tmo));
	txs_keep(&rc, curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L));
	return rc;
}

/* The password: the first line of the file, which others must not be
 * able to read. 0, or -1 with err naming smtp_password_file. */
static int txs_password(const char *path, char *pw, size_t size,
			struct mr_err *err)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		mr_err_sys(err, MR_PERM, errno, "smtp_password_file: open(%s)",
			   path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		mr_err_set(err, MR_PERM,
			   "smtp_password_file: %s: not a regular file", path);
		(void)close(fd); /* read-only */
		return -1;
	}
	if (st.st_mode & 007) {
		mr_err_set(err, MR_PERM,
			   "smtp_password_file: %s: mode %04o lets others "
			   "use it; chmod 600 (or 640) it",
			   path, (unsigned)(st.st_mode & 07777));
		(void)close(fd); /* read-only */
		return -1;
	}
	n = read(fd, pw, size - 1);
	(void)close(fd); /* read-only */
	if (n < 0) {
		mr_err_sys(err, MR_PERM, errno, "smtp_password_file: read(%s)",
			   path);
		return -1;
	}
	pw[n] = 0;
	pw[strcspn(pw, "\r\n")] = 0;
	if (pw[0] == 0) {
		mr_err_set(err, MR_PERM,
			   "smtp_password_file: %s: no password on its first "
			   "line",
			   path);
		return -1;
	}
	return 0;
}

/* STARTTLS, the CA and AUTH; the password is copied by curl. */
static int txs_secure(struct txs *t, const char *proto, const struct set *s,
		      struct mr_err *err)
{
	char pw[TXS_PASSWORD_MAX];
	CURLcode rc = CURLE_OK;

	if (s == NULL)
		return 0;
	if (s->smtp_starttls && strcmp(proto, "smtp") == 0)
		txs_keep(&rc, curl_easy_setopt(t->curl, CURLOPT_USE_SSL,
					       (long)CURLUSESSL_ALL));
	if (s->smtp_ca_file != NULL)
		txs_keep(&rc, curl_easy_setopt(t->curl, CURLOPT_CAINFO,
					       s->smtp_ca_file));
	if (s->smtp_user != NULL) {
		if (txs_password(s->smtp_password_file, pw, sizeof(pw), err) <
		    0) {
			/* the operator's to fix (config-check names it): the
			 * requests wait for it instead of failing */
			err->kind = MR_TEMP;
			return -1;
		}
		txs_keep(&rc, curl_easy_setopt(t->curl, CURLOPT_USERNAME,
					       s->smtp_user));
		txs_keep(&rc, curl_easy_setopt(t->curl, CURLOPT_PASSWORD, pw));
		explicit_bzero(pw, sizeof(pw));
	}
	if (rc != CURLE_OK) {
		mr_err_set(err, MR_PERM, "transport %s: curl_easy_setopt: %s",
			   proto, curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

/* What the transport needs from outside, checked before any message:
 * the password file, the CA file, and no password in clear. */
static int txs_preflight(const char *scheme, const struct set *s,
			 struct mr_err *err)
{
	char pw[TXS_PASSWORD_MAX];
	int r;

	if (s->smtp_ca_file != NULL && access(s->smtp_ca_file, R_OK) < 0) {
		mr_err_sys(err, MR_PERM, errno, "smtp_ca_file: %s",
			   s->smtp_ca_file);
		return -1;
	}
	if (s->smtp_user == NULL)
		return 0;
	if (strcmp(scheme, "smtp://") == 0 && !s->smtp_starttls) {
		mr_err_set(err, MR_PERM,
			   "smtp_user: the password would cross the network "
			   "in clear; set \"smtp_starttls\": true or use "
			   "smtps://");
		return -1;
	}
	r = txs_password(s->smtp_password_file, pw, sizeof(pw), err);
	explicit_bzero(pw, sizeof(pw));
	return r;
}

static int txs_preflight_smtp(const char *rest, const struct tx_deps *d,
			      struct mr_err *err)
{
	(void)rest; /* the settings decide */
	return txs_preflight("smtp://", d->set, err);
}

static int txs_preflight_smtps(const char *rest, const struct tx_deps *d,
			       struct mr_err *err)
{
	(void)rest; /* the settings decide */
	return txs_preflight("smtps://", d->set, err);
}

/* Settings check: the same rules as txs_url, without the settings. */
static char *txs_check(const char *scheme, const char *rest, struct mr_err *err)
{
	char *url = txs_url(scheme, rest, NULL, err);

	if (url == NULL)
		return NULL;
	free(url);
	return xstrdup(rest);
}

static char *txs_check_smtp(const char *rest, const char *dir,
			    struct mr_err *err)
{
	(void)dir; /* no paths */
	return txs_check("smtp://", rest, err);
}

static char *txs_check_smtps(const char *rest, const char *dir,
			     struct mr_err *err)
{
	(void)dir; /* no paths */
	return txs_check("smtps://", rest, err);
}

static struct tx *txs_open(const char *scheme, const char *proto,
			   const char *rest, const struct set *s,
			   struct mr_err *err)
{
	struct txs *t;
	char *url = txs_url(scheme, rest, s, err);
	CURLcode rc;

	if (url == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->curl = curl_easy_init();
	if (t->curl == NULL) {
		mr_err_set(err, MR_TEMP, "transport %s: curl_easy_init failed",
			   scheme);
		goto fail;
	}
	rc = txs_setup(t, url, proto, s);
	if (rc != CURLE_OK) {
		mr_err_set(err, MR_PERM, "transport %s: curl_easy_setopt: %s",
			   scheme, curl_easy_strerror(rc));
		goto fail;
	}
	if (txs_secure(t, proto, s, err) < 0)
		goto fail;
	free(url); /* curl copied it */
	return &t->base;
fail:
	if (t->curl != NULL)
		curl_easy_cleanup(t->curl);
	free(t);
	free(url);
	return NULL;
}

static struct tx *txs_open_smtp(const char *rest, const struct tx_deps *d,
				struct mr_err *err)
{
	return txs_open("smtp://", "smtp", rest, d->set, err);
}

static struct tx *txs_open_smtps(const char *rest, const struct tx_deps *d,
				 struct mr_err *err)
{
	return txs_open("smtps://", "smtps", rest, d->set, err);
}

/* Sends QUIT on the kept connection and closes it. */
static void txs_close(struct tx *h)
{
	struct txs *t = (struct txs *)h;

	if (t == NULL)
		return;
	curl_easy_cleanup(t->curl);
	free(t);
}

/* ---- sending ---- */

/* The server's answer code for this transfer (0 if it said nothing). */
static long txs_code(struct txs *t)
{
	long code = 0;

	if (t->lines == 0 || curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE,
					       &code) != CURLE_OK)
		return 0;
	return code;
}

static CURLcode txs_perform(struct txs *t, long fresh)
{
	CURLcode rc;

	t->src.i = 0;
	t->src.off = 0;
	t->lines = 0;
	t->reply[0] = 0;
	t->errbuf[0] = 0;
	rc = curl_easy_setopt(t->curl, CURLOPT_FRESH_CONNECT, fresh);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(t->curl);
	return rc;
}

/* Worth one more try on a fresh connection: the failure came from a
 * reused connection, at the connection level, and the server had not
 * refused anything (no answer at all, or 421 "closing channel"). */
static int txs_retryable(struct txs *t, CURLcode rc)
{
	long nconn = -1, code = txs_code(t);

	if (rc != CURLE_SEND_ERROR && rc != CURLE_RECV_ERROR &&
	    rc != CURLE_GOT_NOTHING && rc != CURLE_WEIRD_SERVER_REPLY)
		return 0;
	if (curl_easy_getinfo(t->curl, CURLINFO_NUM_CONNECTS, &nconn) !=
		    CURLE_OK ||
	    nconn != 0)
		return 0;
	return code < 400 || code == 421;
}

/* "550 5.1.1 <x@y>: Recipient address rejected" -> "5.1.1 <<redacted>>:
 * Recipient address rejected" */
static void txs_reply_text(const char *r, char *red, size_t n)
{
	if (strlen(r) >= 4 && isdigit((unsigned char)r[0]) &&
	    isdigit((unsigned char)r[1]) && isdigit((unsigned char)r[2]) &&
	    (r[3] == ' ' || r[3] == '-'))
		r += 4;
	log_redact(red, n, r);
}

/* 1 if the refusal concerns this message (RCPT, DATA or the message
 * itself); 0 if the server refused the session or our envelope sender
 * (greeting, EHLO, MAIL FROM): that is a configuration problem on one side
 * or the other, and failing every message of the backlog would be wrong,
 * so it is retried like an outage. */
static int txs_msg_phase(const struct txs *t, CURLcode rc)
{
	static const char *const session[] = {"MAIL failed", "Got unexpected",
					      "Remote access denied",
					      "Authentication failed", NULL};

	/* a refused login (535) or STARTTLS is about our credentials or the
	 * relay, never about the message */
	if (rc == CURLE_LOGIN_DENIED || rc == CURLE_USE_SSL_FAILED)
		return 0;

	for (size_t i = 0; session[i]; i++)
		if (strncmp(t->errbuf, session[i], strlen(session[i])) == 0)
			return 0;
	return 1;
}

/* Translate a failed transfer into err; every foreign text is redacted. */
static void txs_fail(struct txs *t, CURLcode rc, const char *rcpt,
		     struct mr_err *err)
{
	char red[TXS_REPLY_MAX];
	long code = txs_code(t);
	const char *dom = addr_domain(rcpt);

	if (code >= 400 && code < 600) {
		txs_reply_text(t->reply, red, sizeof(red));
		mr_err_set(err,
			   code >= 500 && txs_msg_phase(t, rc) ? MR_PERM
							       : MR_TEMP,
			   "smtp: %ld%s%s", code, red[0] ? " " : "", red);
		return;
	}
	/* curl's detail may name the recipient's domain (IDN conversion) */
	if (dom[0] != 0 && strcasestr(t->errbuf, dom) != NULL)
		t->errbuf[0] = 0;
	log_redact(red, sizeof(red), t->errbuf);
	mr_err_set(err, MR_TEMP, "smtp: %s%s%s%s", curl_easy_strerror(rc),
		   red[0] ? " (" : "", red, red[0] ? ")" : "");
}

static int txs_envelope(struct txs *t, const struct tx_env *env,
			struct curl_slist **rcpt_r, struct mr_err *err)
{
	const char *from = env->mail_from ? env->mail_from : "";

	/* curl writes both into SMTP commands as they are */
	if (from[0] != 0 && !addr_valid(from)) {
		mr_err_set(err, MR_TEMP, "smtp: envelope sender unusable");
		return -1;
	}
	if (env->rcpt == NULL || !addr_valid(env->rcpt)) {
		mr_err_set(err, MR_PERM, "smtp: recipient address unusable");
		return -1;
	}
	*rcpt_r = curl_slist_append(NULL, env->rcpt);
	if (*rcpt_r == NULL) {
		mr_err_set(err, MR_TEMP, "smtp: out of memory");
		return -1;
	}
	if (curl_easy_setopt(t->curl, CURLOPT_MAIL_FROM, from) != CURLE_OK ||
	    curl_easy_setopt(t->curl, CURLOPT_MAIL_RCPT, *rcpt_r) != CURLE_OK) {
		mr_err_set(err, MR_TEMP, "smtp: cannot set the envelope");
		curl_slist_free_all(*rcpt_r);
		*rcpt_r = NULL;
		return -1;
	}
	return 0;
}

static int txs_send(struct tx *h, const struct tx_env *env,
		    const struct iovec *iov, int iovcnt, struct tx_why *why,
		    struct mr_err *err)
{
	struct txs *t = (struct txs *)h;
	struct curl_slist *rcpt = NULL;
	curl_off_t size = 0;
	CURLcode rc;

	(void)why; /* every SMTP failure is send-failed */
	if (txs_envelope(t, env, &rcpt, err) < 0)
		return -1;
	for (int i = 0; i < iovcnt; i++)
		size += (curl_off_t)iov[i].iov_len;
	t->src = (struct txs_src){iov, iovcnt, 0, 0};
	/* the size goes out as SIZE=, so an oversized reply fails early */
	rc = curl_easy_setopt(t->curl, CURLOPT_INFILESIZE_LARGE, size);
	if (rc == CURLE_OK) {
		rc = txs_perform(t, 0L);
		if (rc != CURLE_OK && txs_retryable(t, rc))
			rc = txs_perform(t, 1L);
	}
	if (rc != CURLE_OK)
		txs_fail(t, rc, env->rcpt, err);
	/* drop every pointer into this call's data before returning; setting
	 * an option to NULL cannot fail */
	(void)curl_easy_setopt(t->curl, CURLOPT_MAIL_RCPT, NULL);
	t->src = (struct txs_src){NULL, 0, 0, 0};
	curl_slist_free_all(rcpt);
	return rc == CURLE_OK ? 0 : -1;
}

const struct tx_ops tx_smtp_ops = {
	.scheme = "smtp://",
	.check = txs_check_smtp,
	.preflight = txs_preflight_smtp,
	.open = txs_open_smtp,
	.send = txs_send,
	.close = txs_close,
};

const struct tx_ops tx_smtps_ops = {
	.scheme = "smtps://",
	.check = txs_check_smtps,
	.preflight = txs_preflight_smtps,
	.open = txs_open_smtps,
	.send = txs_send,
	.close = txs_close,
};
