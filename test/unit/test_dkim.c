/* test_dkim.c - unit tests of dkim.c (dkim_load, dkim_body_hash, dkim_sign)
 * DESCRIPTION  Keys are made with openssl genpkey in a mkdtemp folder.
 *              Signatures are checked with OpenSSL's verify against the
 *              public key, over data this file rebuilds on its own (the
 *              canonical header text is written out by hand here); the
 *              independent check with python3-dkim is test/e2e/test_dkim.py.
 *              Signing is deterministic for both algorithms, so the thread
 *              case compares every signature with a reference. The perf
 *              case prints a "# perf:" line.
 */
#include "dkim.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "hash.h"
#include "log.h"
#include "settings.h"
#include "t.h"

#define NOW 1700000000

static char tdir[] = "/tmp/mr-dkim-XXXXXX";
static char dom[] = "responder.test", sel[] = "rsa1", esel[] = "ed1";

static const char head[] =
	"From: Responder <noreply@responder.test>\r\n"
	"To: someone@example.test\r\n"
	"Subject: Re: =?UTF-8?B?2LPZhNin2YU=?=   and\r\n\t  more  \r\n"
	"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
	"Message-ID: <abc@responder.test>\r\n"
	"Reply-To: get@responder.test\r\n"
	"In-Reply-To: <req@example.test>\r\n"
	"References: <req@example.test>\r\n"
	"Auto-Submitted: auto-replied\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=\"utf-8\"\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"X-Mailer : test\r\n";

/* head's signed fields, relaxed, in h= order (written by hand) */
static const char head_canon[] =
	"from:Responder <noreply@responder.test>\r\n"
	"to:someone@example.test\r\n"
	"subject:Re: =?UTF-8?B?2LPZhNin2YU=?= and more\r\n"
	"date:Mon, 01 Jan 2024 00:00:00 +0000\r\n"
	"message-id:<abc@responder.test>\r\n"
	"reply-to:get@responder.test\r\n"
	"in-reply-to:<req@example.test>\r\n"
	"references:<req@example.test>\r\n"
	"mime-version:1.0\r\n"
	"content-type:text/plain; charset=\"utf-8\"\r\n"
	"auto-submitted:auto-replied\r\n";

static const char head_h[] = "from:to:subject:date:message-id:reply-to:"
			     "in-reply-to:references:mime-version:"
			     "content-type:auto-submitted:from";

/* Run a shell command; any failure ends the test run. */
static void sh(const char *fmt, ...) MR_PRINTF(1, 2);

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int n, st;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd)) {
		fprintf(stderr, "sh: command too long\n");
		exit(2);
	}
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "sh: %s: failed (status %d)\n", cmd, st);
		exit(2);
	}
}

/* tdir/name; the caller frees. */
static char *tp(const char *name)
{
	return xasprintf("%s/%s", tdir, name);
}

static struct set mkset(char *rsa, char *ed)
{
	struct set s;

	memset(&s, 0, sizeof(s));
	s.dkim.domain = dom;
	s.dkim.selector = sel;
	s.dkim.ed25519_selector = esel;
	s.dkim.rsa_key = rsa;
	s.dkim.ed25519_key = ed;
	return s;
}

/* dkim_load with the named files of tdir (NULL: not set). */
static struct dkim *load(const char *rsa, const char *ed, struct mr_err *err)
{
	char *r = rsa ? tp(rsa) : NULL, *e = ed ? tp(ed) : NULL;
	struct set s = mkset(r, e);
	struct dkim *d;

	mr_err_clear(err);
	d = dkim_load(&s, err);
	free(r);
	free(e);
	return d;
}

/* A load that must fail with a text containing want. */
#define T_REFUSED(rsa, ed, want) t_refused(__FILE__, __LINE__, rsa, ed, want)

static void t_refused(const char *file, int line, const char *rsa,
		      const char *ed, const char *want)
{
	struct mr_err err;
	struct dkim *d = load(rsa, ed, &err);
	char m[600];

	if (d == NULL && err.kind == MR_PERM && strstr(err.text, want))
		return;
	(void)snprintf(m, sizeof(m),
		       "load(%s, %s): want refusal with \"%s\","
		       " got %s \"%s\"",
		       rsa ? rsa : "-", ed ? ed : "-", want,
		       d ? "success" : "refusal", err.text); /* may cut */
	t_note(file, line, m);
	dkim_free(&d);
}

static int loads(const char *rsa, const char *ed)
{
	struct mr_err err;
	struct dkim *d = load(rsa, ed, &err);
	int ok = d != NULL && dkim_enabled(d);

	if (!ok)
		fprintf(stderr, "# load(%s, %s): %s\n", rsa ? rsa : "-",
			ed ? ed : "-", err.text);
	dkim_free(&d);
	return ok;
}

static void b64(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* ---- body hash ---- */

/* dkim_body_hash(in) must be SHA-256(canon). */
#define T_BH(in, canon) t_bh(__FILE__, __LINE__, in, sizeof(in) - 1, canon)

static void t_bh(const char *file, int line, const char *in, size_t n,
		 const char *canon)
{
	unsigned char got[32], want[32];

	dkim_body_hash(in, n, got);
	hash_sha256(canon, strlen(canon), want);
	if (memcmp(got, want, 32) != 0) {
		char m[300];

		(void)snprintf(m, sizeof(m),
			       "body hash of \"%.60s\" is not "
			       "SHA-256 of \"%.60s\"",
			       in, canon); /* cut ok */
		t_note(file, line, m);
	}
}

T_CASE(body_hash_vectors)
{
	unsigned char h[32];
	char s[48];

	dkim_body_hash("", 0, h);
	b64(h, 32, s);
	T_STR(s, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	dkim_body_hash("\r\n", 2, h);
	b64(h, 32, s); /* relaxed: an empty body is "", not CRLF */
	T_STR(s, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	T_BH("", "");
	T_BH("\r\n\r\n\r\n", "");
	T_BH(" \t \r\n\t\r\n", "");
	T_BH("a\r\n", "a\r\n");
	T_BH("a", "a\r\n");
	T_BH("a\r\n\r\n\r\n", "a\r\n");
	T_BH("a  \t b\t\r\n", "a b\r\n");
	T_BH("  lead\r\n", " lead\r\n");
	T_BH("a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n");
	T_BH("a \r\n \r\nb\r\n", "a\r\n\r\nb\r\n");
	T_BH("x\ny \r\n", "x\ny\r\n");
	T_BH("a\r\n  ", "a\r\n");
	T_BH("a\r\n \r\n\t", "a\r\n");
	T_BH("\r\n\r\nx  y  \r\n", "\r\n\r\nx y\r\n");
	T_BH("\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85  \xd8\xaf\xd9\x86\xdb\x8c\xd8"
	     "\xa7 \t\r\n\r\n",
	     "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 \xd8\xaf\xd9\x86\xdb\x8c\xd8"
	     "\xa7\r\n");
}

T_CASE(body_hash_long_line)
{
	size_t n = 20000;
	char *in = xmalloc(n + 8), *canon = xmalloc(n + 8);
	unsigned char got[32], want[32];

	memset(in, 'x', n);
	memcpy(in + n, "  \r\n\r\n", 6);
	memset(canon, 'x', n);
	memcpy(canon + n, "\r\n", 2);
	dkim_body_hash(in, n + 6, got);
	hash_sha256(canon, n + 2, want);
	T_OK(memcmp(got, want, 32) == 0);
	free(in);
	free(canon);
}

/* ---- loading ---- */

T_CASE(key_permissions)
{
	char *p = tp("k644.key"), want[600];
	struct mr_err err;
	struct dkim *d;

	sh("cp %s/rsa.key %s/k644.key && chmod 644 %s/k644.key", tdir, tdir,
	   tdir);
	sh("cp %s/rsa.key %s/k640.key && chmod 640 %s/k640.key", tdir, tdir,
	   tdir);
	sh("cp %s/rsa.key %s/k602.key && chmod 602 %s/k602.key", tdir, tdir,
	   tdir);
	sh("cp %s/ed.key %s/e604.key && chmod 604 %s/e604.key", tdir, tdir,
	   tdir);
	sh("ln -s %s/rsa.key %s/link.key && mkdir %s/dir.key", tdir, tdir,
	   tdir);
	d = load("k644.key", NULL, &err);
	T_OK(d == NULL);
	(void)snprintf(want, sizeof(want),
		       "dkim.rsa_key: %s: mode 0644 lets others read it; chmod "
		       "600 (or 640) it",
		       p); /* fits */
	T_STR(err.text, want);
	T_INT(err.kind, MR_PERM);
	T_OK(loads("rsa.key", NULL));
	T_OK(loads("k640.key", NULL));
	T_REFUSED("k602.key", NULL, "mode 0602 lets others write it");
	T_REFUSED(NULL, "e604.key", "dkim.ed25519_key: ");
	T_REFUSED(NULL, "e604.key", "e604.key: mode 0604 lets others read it");
	T_REFUSED("link.key", NULL, "link.key: is a symbolic link");
	T_REFUSED("dir.key", NULL, "dir.key: not a regular file");
	free(p);
}

T_CASE(key_missing)
{
	char *p = tp("nope.key"), want[600];
	struct mr_err err;
	struct dkim *d = load("nope.key", NULL, &err);

	T_OK(d == NULL);
	(void)snprintf(want, sizeof(want),
		       "dkim.rsa_key: open(%s): No such file or directory",
		       p); /* fits */
	T_STR(err.text, want);
	free(p);
}

T_CASE(key_types)
{
	T_REFUSED(NULL, "rsa.key", "dkim.ed25519_key: ");
	T_REFUSED(NULL, "rsa.key", "key type RSA; expected an Ed25519 key");
	T_REFUSED("ed.key", NULL, "key type ED25519; expected an RSA key");
	T_REFUSED("ec.key", NULL, "key type EC; expected an RSA key");
	T_REFUSED(NULL, "ec.key", "expected an Ed25519 key");
	T_REFUSED("rsa512.key", NULL, "RSA key of 512 bits; DKIM needs 1024");
	T_REFUSED("rsa.pub", NULL, "reading a PEM private key");
	T_REFUSED("junk.key", NULL, "reading a PEM private key");
	T_REFUSED("enc.key", NULL, "reading a PEM private key");
	T_OK(loads("rsa1024.key", NULL));
	T_OK(loads("rsa.key", "ed.key"));
	T_OK(loads(NULL, "ed.key"));
}

T_CASE(load_settings_checks)
{
	char *r = tp("rsa.key"), *e = tp("ed.key");
	struct set s = mkset(r, e);
	struct mr_err err;
	struct dkim *d;

	s.dkim.ed25519_selector = sel;
	d = dkim_load(&s, &err);
	T_OK(d == NULL);
	T_OK(strstr(err.text, "dkim.ed25519_selector: \"rsa1\" is also") !=
	     NULL);
	s = mkset(r, NULL);
	s.dkim.domain = NULL;
	d = dkim_load(&s, &err);
	T_OK(d == NULL);
	T_OK(strncmp(err.text, "dkim.domain: ", 13) == 0);
	free(r);
	free(e);
}

T_CASE(no_keys)
{
	struct set s = mkset(NULL, NULL);
	unsigned char bh[32] = {0};
	struct mr_err err;
	struct mr_buf out;
	struct dkim *d = dkim_load(&s, &err);

	T_OK(d != NULL);
	T_INT(dkim_enabled(d), 0);
	T_INT(dkim_enabled(NULL), 0);
	buf_init(&out);
	T_INT(dkim_sign(d, head, sizeof(head) - 1, bh, NOW, &out, &err), 0);
	T_INT(out.len, 0);
	buf_free(&out);
	dkim_free(&d);
	T_OK(d == NULL);
	dkim_free(&d);
	dkim_free(NULL);
}

/* ---- signatures, checked with the public key ---- */

/* The i-th DKIM-Signature field in sigs (with its final CRLF). */
static size_t nth_sig(const char *sigs, size_t i, const char **p_r)
{
	const char *p = sigs, *next;

	for (; i > 0 && p != NULL; i--) {
		p = strstr(p + 1, "\r\nDKIM-Signature:");
		p = p ? p + 2 : NULL;
	}
	if (p == NULL || strncmp(p, "DKIM-Signature:", 15) != 0)
		return 0;
	next = strstr(p, "\r\nDKIM-Signature:");
	*p_r = p;
	return next ? (size_t)(next - p) + 2 : strlen(p);
}

/* The value of tag name in an unfolded tag list, whitespace removed. */
static void tag_value(const char *list, const char *name, char *out, size_t n)
{
	size_t k = strlen(name), o = 0;
	const char *p = list;

	out[0] = 0;
	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ' ' || p[-1] == ';' ||
		     p[-1] == '\t') &&
		    p[k] == '=')
			break;
		p++;
	}
	if (p == NULL)
		return;
	for (p += k + 1; *p && *p != ';' && o + 1 < n; p++)
		if (*p != ' ' && *p != '\t')
			out[o++] = *p;
	out[o] = 0;
}

/* Unfold (drop CRLF) and make WSP runs one SP, trimmed. */
static char *unfold_dup(const char *p, size_t n)
{
	char *s = xmalloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n')
			continue;
		if (p[i] == ' ' || p[i] == '\t') {
			if (o > 0 && s[o - 1] != ' ')
				s[o++] = ' ';
			continue;
		}
		s[o++] = p[i];
	}
	while (o > 0 && s[o - 1] == ' ')
		o--;
	s[o] = 0;
	return s;
}

static EVP_PKEY *pubkey(const char *name)
{
	char *p = tp(name);
	FILE *f = fopen(p, "r");
	EVP_PKEY *pk = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		(void)fclose(f); /* read-only */
	free(p);
	return pk;
}

/* Verify one DKIM-Signature (p, n) over canon with the key in pubfile. */
static int verify_sig(const char *p, size_t n, const char *canon,
		      const char *pubfile, int ed)
{
	char *u = unfold_dup(p, n), *cut, b[1024];
	unsigned char sig[600], h[32];
	struct mr_buf data;
	EVP_PKEY *pk = pubkey(pubfile);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int len, ok = 0;

	tag_value(u + 15, "b", b, sizeof(b));
	cut = strstr(u, " b=");
	len = EVP_DecodeBlock(sig, (unsigned char *)b, (int)strlen(b));
	len -= (int)(strlen(b) > 0 && b[strlen(b) - 1] == '=') +
	       (int)(strlen(b) > 1 && b[strlen(b) - 2] == '=');
	buf_init(&data);
	buf_puts(&data, canon);
	if (cut != NULL && pk != NULL && ctx != NULL && len > 0) {
		cut[3] = 0;
		buf_puts(&data, "dkim-signature:");
		buf_puts(&data, u + 15 + (u[15] == ' '));
		EVP_Digest(data.data, data.len, h, NULL, EVP_sha256(), NULL);
		ok = EVP_DigestVerifyInit(ctx, NULL, ed ? NULL : EVP_sha256(),
					  NULL, pk) == 1 &&
		     EVP_DigestVerify(ctx, sig, (size_t)len,
				      ed ? h : (unsigned char *)data.data,
				      ed ? 32 : data.len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	buf_free(&data);
	free(u);
	return ok;
}

/* Lines end CRLF, are at most 78 bytes, and continue with a tab. */
static int well_folded(const char *p, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= n || p[i + 1] != '\n' || col > 78)
				return 0;
			if (i + 2 < n && p[i + 2] != '\t')
				return 0;
			i++;
			col = 0;
			continue;
		}
		if (p[i] == '\n')
			return 0;
		col++;
	}
	return n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n';
}

static void check_one(const char *sigs, size_t i, const char *alg,
		      const char *s, const char *canon, const char *h,
		      const char *pub)
{
	const char *p = NULL;
	size_t n = nth_sig(sigs, i, &p);
	char v[600], *u;

	T_OK(n > 0);
	if (n == 0)
		return;
	u = unfold_dup(p, n);
	T_OK(well_folded(p, n));
	tag_value(u + 15, "a", v, sizeof(v));
	T_STR(v, alg);
	tag_value(u + 15, "s", v, sizeof(v));
	T_STR(v, s);
	tag_value(u + 15, "d", v, sizeof(v));
	T_STR(v, "responder.test");
	tag_value(u + 15, "c", v, sizeof(v));
	T_STR(v, "relaxed/relaxed");
	tag_value(u + 15, "t", v, sizeof(v));
	T_STR(v, "1700000000");
	tag_value(u + 15, "h", v, sizeof(v));
	T_STR(v, h);
	tag_value(u + 15, "bh", v, sizeof(v));
	T_STR(v, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
	T_OK(verify_sig(p, n, canon, pub, alg[0] == 'e'));
	free(u);
}

/* dkim_sign takes any 32 bytes as bh; SHA-256("\r\n") gives a known bh=. */
static void test_bh(unsigned char bh[32])
{
	hash_sha256("\r\n", 2, bh);
}

/* The keys rsa and ed (file names or NULL), checked to load, and their
 * signatures over h in out, checked to succeed. NULL when the keys did not
 * load (out is then empty); else free out and the result. */
static struct dkim *sign_with(const char *rsa, const char *ed, const char *h,
			      size_t hlen, struct mr_buf *out)
{
	struct mr_err err;
	struct dkim *d = load(rsa, ed, &err);
	unsigned char bh[32];

	buf_init(out);
	T_OK(d != NULL);
	if (d == NULL)
		return NULL;
	test_bh(bh);
	T_INT(dkim_sign(d, h, hlen, bh, NOW, out, &err), 0);
	return d;
}

T_CASE(sign_both_verify)
{
	struct mr_buf out;
	struct dkim *d =
		sign_with("rsa.key", "ed.key", head, sizeof(head) - 1, &out);
	const char *p = NULL;
	size_t n;

	if (d == NULL)
		return;
	T_OK(strncmp(out.data, "DKIM-Signature: v=1; a=rsa-sha256;", 34) == 0);
	check_one(out.data, 0, "rsa-sha256", "rsa1", head_canon, head_h,
		  "rsa.pub");
	check_one(out.data, 1, "ed25519-sha256", "ed1", head_canon, head_h,
		  "ed.pub");
	T_INT(nth_sig(out.data, 2, &p), 0);
	/* a signature over other data must not verify */
	n = nth_sig(out.data, 0, &p);
	T_OK(n > 0 && !verify_sig(p, n, "to:x\r\n", "rsa.pub", 0));
	n = nth_sig(out.data, 1, &p);
	T_OK(n > 0 && !verify_sig(p, n, "to:x\r\n", "ed.pub", 1));
	buf_free(&out);
	dkim_free(&d);
}

T_CASE(sign_ed25519_alone)
{
	struct mr_buf out;
	struct dkim *d =
		sign_with(NULL, "ed.key", head, sizeof(head) - 1, &out);
	const char *p;

	if (d == NULL)
		return;
	check_one(out.data, 0, "ed25519-sha256", "ed1", head_canon, head_h,
		  "ed.pub");
	T_INT(nth_sig(out.data, 1, &p), 0);
	buf_free(&out);
	dkim_free(&d);
}

/* Two To fields, upper-case names, a field without a body: instances are
 * signed bottom-up (RFC 6376 s.5.4.2). */
T_CASE(sign_repeated_fields)
{
	static const char h2[] = "FROM:a@responder.test\r\n"
				 "To: first@example.test\r\n"
				 "X-Skip: 1\r\n"
				 "to:\tsecond@example.test,\r\n"
				 "   third@example.test\r\n"
				 "Subject:\r\n";
	static const char c2[] =
		"from:a@responder.test\r\n"
		"to:second@example.test, third@example.test\r\n"
		"to:first@example.test\r\n"
		"subject:\r\n";
	struct mr_buf out;
	struct dkim *d =
		sign_with("rsa.key", "ed.key", h2, sizeof(h2) - 1, &out);

	if (d == NULL)
		return;
	check_one(out.data, 0, "rsa-sha256", "rsa1", c2,
		  "from:to:to:subject:from", "rsa.pub");
	check_one(out.data, 1, "ed25519-sha256", "ed1", c2,
		  "from:to:to:subject:from", "ed.pub");
	buf_free(&out);
	dkim_free(&d);
}

T_CASE(sign_without_from)
{
	static const char h3[] = "To: a@example.test\r\nSubject: x\r\n";
	struct mr_err err;
	struct dkim *d = load("rsa.key", NULL, &err);
	unsigned char bh[32] = {0};
	struct mr_buf out;

	buf_init(&out);
	buf_puts(&out, "X");
	T_OK(d != NULL);
	T_INT(dkim_sign(d, h3, sizeof(h3) - 1, bh, NOW, &out, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "no From") != NULL);
	T_STR(out.data, "X");
	buf_free(&out);
	dkim_free(&d);
}

/* ---- threads ---- */

struct worker {
	const struct dkim *d;
	const struct mr_buf *ref;
	int rounds;
	int bad;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned char bh[32];
	struct mr_err err;
	struct mr_buf out;

	test_bh(bh);
	buf_init(&out);
	for (int i = 0; i < w->rounds; i++) {
		buf_reset(&out);
		if (dkim_sign(w->d, head, sizeof(head) - 1, bh, NOW, &out,
			      &err) < 0 ||
		    out.len != w->ref->len ||
		    memcmp(out.data, w->ref->data, out.len) != 0)
			w->bad++;
	}
	buf_free(&out);
	return NULL;
}

T_CASE(threads)
{
	struct mr_buf ref;
	struct dkim *d =
		sign_with("rsa.key", "ed.key", head, sizeof(head) - 1, &ref);
	struct worker w[4];
	pthread_t th[4];

	if (d == NULL)
		return;
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){d, &ref, 40, 0};
		T_INT(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		T_INT(pthread_join(th[i], NULL), 0);
		T_INT(w[i].bad, 0);
	}
	buf_free(&ref);
	dkim_free(&d);
}

/* ---- speed ---- */

static double us_per_sign(const struct dkim *d, int rounds)
{
	unsigned char bh[32];
	struct timespec a, b;
	struct mr_err err;
	struct mr_buf out;

	test_bh(bh);
	buf_init(&out);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < rounds; i++) {
		buf_reset(&out);
		if (dkim_sign(d, head, sizeof(head) - 1, bh, NOW, &out, &err) <
		    0)
			return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	buf_free(&out);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 +
		(double)(b.tv_nsec - a.tv_nsec)) /
	       1e3 / rounds;
}

T_CASE(perf)
{
	struct mr_err err;
	struct dkim *r = load("rsa.key", NULL, &err);
	struct dkim *e = load(NULL, "ed.key", &err);
	struct dkim *both = load("rsa.key", "ed.key", &err);
	double ur, ue, ub;

	T_OK(r && e && both);
	if (r && e && both) {
		ur = us_per_sign(r, 300);
		ue = us_per_sign(e, 3000);
		ub = us_per_sign(both, 300);
		T_OK(ur > 0 && ue > 0 && ub > 0);
		printf("# perf: dkim_sign per message (%zu-byte header "
		       "block): rsa-2048 %.0f us, ed25519 %.0f us, both "
		       "%.0f us\n",
		       sizeof(head) - 1, ur, ue, ub);
	}
	dkim_free(&r);
	dkim_free(&e);
	dkim_free(&both);
}

static void make_keys(void)
{
	const char *q = "2>/dev/null";

	sh("cd %s && openssl genpkey -algorithm RSA -pkeyopt "
	   "rsa_keygen_bits:2048 -out rsa.key %s && openssl pkey -in rsa.key "
	   "-pubout -out rsa.pub && openssl genpkey -algorithm ed25519 -out "
	   "ed.key && openssl pkey -in ed.key -pubout -out ed.pub",
	   tdir, q);
	sh("cd %s && openssl genpkey -algorithm RSA -pkeyopt "
	   "rsa_keygen_bits:1024 -out rsa1024.key %s && openssl genpkey "
	   "-algorithm RSA -pkeyopt rsa_keygen_bits:512 -out rsa512.key %s",
	   tdir, q, q);
	sh("cd %s && openssl genpkey -algorithm EC -pkeyopt "
	   "ec_paramgen_curve:P-256 -out ec.key && openssl genpkey "
	   "-algorithm ed25519 -aes256 -pass pass:secret -out enc.key && "
	   "echo 'not a key' > junk.key && chmod 600 *.key *.pub",
	   tdir);
}

int main(void)
{
	log_init("test_dkim", 0, LOG_LVL_ERR);
	if (mkdtemp(tdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	make_keys();
	T_RUN(body_hash_vectors);
	T_RUN(body_hash_long_line);
	T_RUN(key_permissions);
	T_RUN(key_missing);
	T_RUN(key_types);
	T_RUN(load_settings_checks);
	T_RUN(no_keys);
	T_RUN(sign_both_verify);
	T_RUN(sign_ed25519_alone);
	T_RUN(sign_repeated_fields);
	T_RUN(sign_without_from);
	T_RUN(threads);
	T_RUN(perf);
	sh("rm -rf %s", tdir);
	return t_done();
}
