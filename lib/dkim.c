/* dkim.c - DKIM signing, relaxed/relaxed (contract: dkim.h)
 *
 * dkim_sign() canonicalizes the signed header fields once (relaxed:
 * lower-case name, unfolded, WSP runs made one SP, WSP around the value
 * dropped), taking several instances of a name bottom-up (RFC 6376
 * s.5.4.2) and listing From once more than it occurs. Then per key it
 * writes the folded DKIM-Signature up to "b=", appends that header's own
 * relaxed form (no CRLF) to the data, signs, and folds the base64
 * signature in. rsa-sha256 is RSASSA-PKCS1-v1_5 over SHA-256 of the data;
 * ed25519-sha256 is PureEdDSA over the 32-byte SHA-256 of the data (RFC
 * 8463 s.3).
 *
 * Threads: each call makes its own EVP_MD_CTX; OpenSSL's error queue is
 * per thread.
 */
#include "dkim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "log.h"
#include "settings.h"

#define KEY_MAX ((size_t)64 * 1024) /* a PEM RSA-4096 key is about 3.3 KiB */
#define SIG_MAX 512                 /* RSA-4096 */
#define FOLD_AT 78                  /* RFC 5322 s.2.1.1 line length */
#define RSA_MIN_BITS 1024
#define RSA_MAX_BITS 4096

enum key_alg {
	KEY_RSA,
	KEY_ED25519,
};

struct dkim_key {
	EVP_PKEY *pk;
	enum key_alg alg;
	char *selector;
};

struct dkim {
	char *domain;
	size_t n;
	struct dkim_key key[2]; /* RSA first, then Ed25519 */
};

/* The header fields we sign when present, lower-case, in h= order. */
static const char *const signed_names[] = {
	"from",         "to",           "subject",        "date",
	"message-id",   "reply-to",     "in-reply-to",    "references",
	"mime-version", "content-type", "auto-submitted",
};

#define N_SIGNED (sizeof(signed_names) / sizeof(signed_names[0]))

static const char *alg_name(enum key_alg alg)
{
	return alg == KEY_RSA ? "rsa-sha256" : "ed25519-sha256";
}

/* Fill err from OpenSSL's error queue and empty the queue, so that a
 * stale error cannot surface in a later call on this thread. */
static void ossl_fail(struct mr_err *err, enum mr_fail kind, const char *what)
{
	char reason[160] = "no detail from OpenSSL";
	unsigned long e, first = 0;

	while ((e = ERR_get_error()) != 0)
		if (first == 0)
			first = e;
	if (first != 0)
		ERR_error_string_n(first, reason, sizeof(reason));
	mr_err_set(err, kind, "%s failed: %s", what, reason);
}

/* ---- key files ---- */

/* Open a key file and check what it is; the checks use fstat on the
 * descriptor, so the file checked is the file read. Returns fd or -1. */
static int key_open(const char *name, const char *path, struct mr_err *err)
{
	static const char *const what[8] = {
		"",
		"execute",
		"write",
		"write and execute",
		"read",
		"read and execute",
		"read and write",
		"read, write and execute",
	};
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 && errno == ELOOP) {
		mr_err_set(err, MR_PERM,
			   "dkim.%s: %s: is a symbolic link; name the key "
			   "file itself",
			   name, path);
		return -1;
	}
	if (fd < 0) {
		mr_err_sys(err, MR_PERM, errno, "dkim.%s: open(%s)", name,
			   path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		mr_err_sys(err, MR_PERM, errno, "dkim.%s: fstat(%s)", name,
			   path);
	} else if (!S_ISREG(st.st_mode)) {
		mr_err_set(err, MR_PERM, "dkim.%s: %s: not a regular file",
			   name, path);
	} else if (st.st_mode & 007) {
		mr_err_set(err, MR_PERM,
			   "dkim.%s: %s: mode %04o lets others %s it; chmod "
			   "600 (or 640) it",
			   name, path, (unsigned)(st.st_mode & 07777),
			   what[st.st_mode & 007]);
	} else {
		return fd;
	}
	(void)close(fd); /* opened read-only: nothing to lose */
	return -1;
}

/* Read the whole key file (at most KEY_MAX bytes) into a new buffer. */
static char *key_read(int fd, const char *name, const char *path, size_t *len_r,
		      struct mr_err *err)
{
	char *data = xmalloc(KEY_MAX + 1);
	size_t len = 0;
	int bad = 0;

	for (;;) {
		ssize_t r = read(fd, data + len, KEY_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mr_err_sys(err, MR_PERM, errno, "dkim.%s: read(%s)",
				   name, path);
			bad = 1;
			break;
		}
		len += (size_t)r;
		if (r == 0 || len > KEY_MAX)
			break;
	}
	if (!bad && len > KEY_MAX) {
		mr_err_set(err, MR_PERM,
			   "dkim.%s: %s: larger than %zu bytes; not a key",
			   name, path, KEY_MAX);
		bad = 1;
	}
	if (bad) {
		explicit_bzero(data, KEY_MAX + 1);
		free(data);
		return NULL;
	}
	*len_r = len;
	return data;
}

/* An encrypted key would make OpenSSL prompt on the terminal: refuse. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; /* pem_password_cb signature */
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static EVP_PKEY *key_parse(const char *data, size_t len, const char *name,
			   const char *path, struct mr_err *err)
{
	EVP_PKEY *pk = NULL;
	BIO *bio = BIO_new_mem_buf(data, (int)len);

	if (bio != NULL)
		pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (pk != NULL)
		ERR_clear_error(); /* decoders tried that did not fit */
	if (pk == NULL) {
		char what[200];
		int n = snprintf(what, sizeof(what),
				 "dkim.%s: %s: reading a PEM private key "
				 "(unencrypted)",
				 name, path);

		if (n < 0 || (size_t)n >= sizeof(what))
			(void)snprintf(what, sizeof(what), "dkim.%s: PEM key",
				       name); /* shorter, fits */
		ossl_fail(err, MR_PERM, what);
	}
	return pk;
}

/* The key must suit its setting: RSA of a usable size, or Ed25519. */
static int key_check(EVP_PKEY *pk, enum key_alg alg, const char *name,
		     const char *path, struct mr_err *err)
{
	const char *type = EVP_PKEY_get0_type_name(pk);
	int id = EVP_PKEY_get_base_id(pk);
	int bits = EVP_PKEY_get_bits(pk);

	if (type == NULL)
		type = "unknown";
	if (alg == KEY_ED25519 && id != EVP_PKEY_ED25519) {
		mr_err_set(err, MR_PERM,
			   "dkim.%s: %s: key type %s; expected an Ed25519 key",
			   name, path, type);
		return -1;
	}
	if (alg == KEY_ED25519)
		return 0;
	if (id != EVP_PKEY_RSA) {
		mr_err_set(err, MR_PERM,
			   "dkim.%s: %s: key type %s; expected an RSA key (not "
			   "RSA-PSS)",
			   name, path, type);
		return -1;
	}
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
		mr_err_set(err, MR_PERM,
			   "dkim.%s: %s: RSA key of %d bits; DKIM needs %d to "
			   "%d (RFC 8301; 2048 recommended)",
			   name, path, bits, RSA_MIN_BITS, RSA_MAX_BITS);
		return -1;
	}
	if (bits < 2048)
		log_warn("dkim.%s: %s: RSA key of %d bits; RFC 8301 "
			 "recommends 2048",
			 name, path, bits);
	return 0;
}

/* Sign data with k: rsa-sha256 over the data, ed25519-sha256 over the
 * SHA-256 of the data (RFC 8463 s.3). sig holds SIG_MAX bytes. */
static int sign_raw(const struct dkim_key *k, const void *data, size_t n,
		    unsigned char *sig, size_t *siglen_r, struct mr_err *err)
{
	const EVP_MD *md = EVP_sha256();
	unsigned char h[32];
	EVP_MD_CTX *ctx;

	if (k->alg == KEY_ED25519) {
		if (EVP_Digest(data, n, h, NULL, md, NULL) != 1) {
			ossl_fail(err, MR_TEMP, "dkim: EVP_Digest(SHA-256)");
			return -1;
		}
		data = h;
		n = sizeof(h);
		md = NULL; /* PureEdDSA: no digest of its own */
	}
	ctx = EVP_MD_CTX_new();
	*siglen_r = SIG_MAX;
	if (ctx == NULL ||
	    EVP_DigestSignInit(ctx, NULL, md, NULL, k->pk) != 1 ||
	    EVP_DigestSign(ctx, sig, siglen_r, data, n) != 1) {
		EVP_MD_CTX_free(ctx);
		ossl_fail(err, MR_TEMP,
			  k->alg == KEY_RSA ? "dkim: EVP_DigestSign(rsa-sha256)"
					    : "dkim: EVP_DigestSign(ed25519)");
		return -1;
	}
	EVP_MD_CTX_free(ctx);
	return 0;
}

/* Sign and verify a fixed text: a key whose halves do not match, or that
 * the provider cannot use, fails here at start. */
static int key_selftest(const struct dkim_key *k, const char *name,
			const char *path, struct mr_err *err)
{
	static const char text[] = "mailresponder dkim self-test";
	unsigned char sig[SIG_MAX], h[32];
	const void *data = text;
	size_t siglen, n = sizeof(text) - 1;
	EVP_MD_CTX *ctx;
	int ok;

	if (sign_raw(k, text, n, sig, &siglen, err) < 0)
		return -1;
	if (k->alg == KEY_ED25519) {
		if (EVP_Digest(text, n, h, NULL, EVP_sha256(), NULL) != 1) {
			ossl_fail(err, MR_PERM, "dkim: EVP_Digest(SHA-256)");
			return -1;
		}
		data = h;
		n = sizeof(h);
	}
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL &&
	     EVP_DigestVerifyInit(ctx, NULL,
				  k->alg == KEY_RSA ? EVP_sha256() : NULL, NULL,
				  k->pk) == 1 &&
	     EVP_DigestVerify(ctx, sig, siglen, data, n) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		char what[200];
		int r = snprintf(what, sizeof(what),
				 "dkim.%s: %s: self-test verify", name, path);

		if (r < 0 || (size_t)r >= sizeof(what))
			(void)snprintf(what, sizeof(what), "dkim.%s: verify",
				       name); /* shorter, fits */
		ossl_fail(err, MR_PERM, what);
		return -1;
	}
	return 0;
}

/* Load one key into d->key[d->n]. */
static int load_one(struct dkim *d, const char *name, const char *path,
		    enum key_alg alg, const char *selector, struct mr_err *err)
{
	struct dkim_key *k = &d->key[d->n];
	EVP_PKEY *pk;
	size_t len = 0;
	char *data;
	int fd;

	fd = key_open(name, path, err);
	if (fd < 0)
		return -1;
	data = key_read(fd, name, path, &len, err);
	(void)close(fd); /* opened read-only: nothing to lose */
	if (data == NULL)
		return -1;
	pk = key_parse(data, len, name, path, err);
	explicit_bzero(data, KEY_MAX + 1);
	free(data);
	if (pk == NULL)
		return -1;
	if (key_check(pk, alg, name, path, err) < 0) {
		EVP_PKEY_free(pk);
		return -1;
	}
	k->pk = pk;
	k->alg = alg;
	k->selector = xstrdup(selector);
	d->n++;
	return key_selftest(k, name, path, err);
}

/* Settings that must hold before any key is read. */
static int load_check(const struct set *s, struct mr_err *err)
{
	if (s->dkim.domain == NULL || s->dkim.domain[0] == 0) {
		mr_err_set(
			err, MR_PERM,
			"dkim.domain: not set, and \"from\" gives no domain");
		return -1;
	}
	if (s->dkim.rsa_key != NULL &&
	    (s->dkim.selector == NULL || s->dkim.selector[0] == 0)) {
		mr_err_set(err, MR_PERM, "dkim.selector: not set");
		return -1;
	}
	if (s->dkim.ed25519_key != NULL && (s->dkim.ed25519_selector == NULL ||
					    s->dkim.ed25519_selector[0] == 0)) {
		mr_err_set(err, MR_PERM, "dkim.ed25519_selector: not set");
		return -1;
	}
	if (s->dkim.rsa_key != NULL && s->dkim.ed25519_key != NULL &&
	    mr_streq_ci(s->dkim.selector, s->dkim.ed25519_selector)) {
		mr_err_set(
			err, MR_PERM,
			"dkim.ed25519_selector: \"%s\" is also dkim.selector;"
			" with both keys each needs its own selector (one "
			"DNS record per selector)",
			s->dkim.ed25519_selector);
		return -1;
	}
	return 0;
}

struct dkim *dkim_load(const struct set *s, struct mr_err *err)
{
	struct dkim *d = xcalloc(1, sizeof(*d));

	mr_err_clear(err);
	if (s->dkim.rsa_key == NULL && s->dkim.ed25519_key == NULL)
		return d;
	if (load_check(s, err) < 0)
		goto fail;
	d->domain = xstrdup(s->dkim.domain);
	if (s->dkim.rsa_key != NULL &&
	    load_one(d, "rsa_key", s->dkim.rsa_key, KEY_RSA, s->dkim.selector,
		     err) < 0)
		goto fail;
	if (s->dkim.ed25519_key != NULL &&
	    load_one(d, "ed25519_key", s->dkim.ed25519_key, KEY_ED25519,
		     s->dkim.ed25519_selector, err) < 0)
		goto fail;
	return d;
fail:
	dkim_free(&d);
	return NULL;
}

/* ---- key generation and DNS records ---- */

static char *b64_dup(const unsigned char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	(void)EVP_EncodeBlock((unsigned char *)out, p, (int)n); /* no fail */
	return out;
}

/* "v=DKIM1; k=...; p=..." for the public half of pk (RFC 6376 s.3.6.1:
 * RSA p= is the SubjectPublicKeyInfo DER; RFC 8463 s.4: Ed25519 p= is the
 * raw 32-byte key). */
static char *record_of(EVP_PKEY *pk, enum key_alg alg, struct mr_err *err)
{
	unsigned char raw[32], *der = NULL;
	size_t rawlen = sizeof(raw);
	char *b64, *rec;
	int n;

	if (alg == KEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) != 1) {
			ossl_fail(err, MR_PERM,
				  "dkim: EVP_PKEY_get_raw_public_key");
			return NULL;
		}
		b64 = b64_dup(raw, rawlen);
	} else {
		n = i2d_PUBKEY(pk, &der);
		if (n <= 0) {
			ossl_fail(err, MR_PERM, "dkim: i2d_PUBKEY");
			return NULL;
		}
		b64 = b64_dup(der, (size_t)n);
		OPENSSL_free(der);
	}
	rec = xasprintf("v=DKIM1; k=%s; p=%s",
			alg == KEY_RSA ? "rsa" : "ed25519", b64);
	free(b64);
	return rec;
}

char *dkim_zone_line_dup(const char *selector, const char *domain,
			 const char *record)
{
	struct mr_buf b;
	size_t len = strlen(record);

	buf_init(&b);
	buf_printf(&b, "%s._domainkey.%s. IN TXT (", selector, domain);
	for (size_t i = 0; i < len; i += 255) {
		size_t n = len - i < 255 ? len - i : 255;

		buf_puts(&b, " \"");
		buf_append(&b, record + i, n);
		buf_puts(&b, "\"");
	}
	buf_puts(&b, " )");
	return buf_steal(&b, NULL);
}

static const char *setting_of(enum key_alg alg)
{
	return alg == KEY_RSA ? "rsa_key" : "ed25519_key";
}

char *dkim_record_dup(const char *setting, const char *path, enum dkim_alg alg,
		      struct mr_err *err)
{
	struct dkim d = {NULL, 0, {{NULL, KEY_RSA, NULL}}};
	enum key_alg ka = alg == DKIM_RSA ? KEY_RSA : KEY_ED25519;
	char *rec = NULL;

	if (load_one(&d, setting, path, ka, "x", err) == 0)
		rec = record_of(d.key[0].pk, ka, err);
	for (size_t i = 0; i < d.n; i++) {
		EVP_PKEY_free(d.key[i].pk);
		free(d.key[i].selector);
	}
	return rec;
}

static void check_one(const struct set *s, enum key_alg alg,
		      struct mr_msgs *problems, struct mr_msgs *records)
{
	const char *path =
		alg == KEY_RSA ? s->dkim.rsa_key : s->dkim.ed25519_key;
	const char *sel =
		alg == KEY_RSA ? s->dkim.selector : s->dkim.ed25519_selector;
	struct mr_err err;
	char *rec, *line;

	if (path == NULL)
		return;
	mr_err_clear(&err);
	rec = dkim_record_dup(setting_of(alg), path,
			      alg == KEY_RSA ? DKIM_RSA : DKIM_ED25519, &err);
	if (rec == NULL) {
		mr_msgs_add(problems, "%s", err.text);
		return;
	}
	line = dkim_zone_line_dup(sel, s->dkim.domain, rec);
	mr_msgs_add(records, "%s", line);
	free(line);
	free(rec);
}

size_t dkim_check(const struct set *s, struct mr_msgs *problems,
		  struct mr_msgs *records)
{
	size_t n0 = problems->n;
	struct mr_err err;

	if (s->dkim.rsa_key == NULL && s->dkim.ed25519_key == NULL)
		return 0;
	mr_err_clear(&err);
	if (load_check(s, &err) < 0) {
		mr_msgs_add(problems, "%s", err.text);
		return problems->n - n0;
	}
	check_one(s, KEY_RSA, problems, records);
	check_one(s, KEY_ED25519, problems, records);
	return problems->n - n0;
}

static EVP_PKEY *keygen(enum dkim_alg alg, int rsa_bits, struct mr_err *err)
{
	EVP_PKEY *pk;

	if (alg == DKIM_RSA &&
	    (rsa_bits < RSA_MIN_BITS || rsa_bits > RSA_MAX_BITS)) {
		mr_err_set(err, MR_PERM,
			   "RSA key of %d bits; DKIM needs %d to %d (RFC "
			   "8301; 2048 recommended)",
			   rsa_bits, RSA_MIN_BITS, RSA_MAX_BITS);
		return NULL;
	}
	if (alg == DKIM_RSA)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL)
		ossl_fail(err, MR_PERM, "dkim: EVP_PKEY_Q_keygen");
	return pk;
}

/* PEM (PKCS#8, unencrypted) of pk in a new buffer; NULL with err. */
static char *pem_of(EVP_PKEY *pk, size_t *len_r, struct mr_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *mem, *out = NULL;
	long n;

	if (bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		ossl_fail(err, MR_PERM, "dkim: PEM_write_bio_PrivateKey");
		BIO_free(bio);
		return NULL;
	}
	n = BIO_get_mem_data(bio, &mem);
	if (n > 0) {
		out = xmalloc((size_t)n);
		memcpy(out, mem, (size_t)n);
		*len_r = (size_t)n;
		OPENSSL_cleanse(mem, (size_t)n);
	}
	BIO_free(bio);
	if (out == NULL)
		mr_err_set(err, MR_PERM, "dkim: empty PEM output");
	return out;
}

/* Write the key with its final owner and mode; MR_WRITE_NEW links it to
 * path, which never replaces a file, so a key that exists stays. */
static int key_write(const char *path, const char *data, size_t len, uid_t uid,
		     gid_t gid, struct mr_err *err)
{
	const struct mr_part part = {data, len};
	const struct mr_write_opts o = {.mode = gid == (gid_t)-1 ? 0600 : 0640,
					.uid = uid,
					.gid = gid,
					.flags = MR_WRITE_NEW,
					.kind = MR_PERM};

	/* missing folders above the key: 0755, so the service can reach it */
	if (mr_mkdir_parents(path, 0755) < 0) {
		mr_err_sys(err, MR_PERM, errno, "mkdir(parents of %s)", path);
		return -1;
	}
	return mr_write_parts_atomic(path, &part, 1, &o, err);
}

int dkim_keygen(const char *path, enum dkim_alg alg, int rsa_bits, uid_t uid,
		gid_t gid, struct mr_err *err)
{
	EVP_PKEY *pk;
	size_t len = 0;
	char *pem;
	int rc;

	mr_err_clear(err);
	pk = keygen(alg, rsa_bits, err);
	if (pk == NULL)
		return -1;
	pem = pem_of(pk, &len, err);
	EVP_PKEY_free(pk);
	if (pem == NULL)
		return -1;
	rc = key_write(path, pem, len, uid, gid, err);
	explicit_bzero(pem, len);
	free(pem);
	return rc;
}

void dkim_free(struct dkim **d)
{
	if (d == NULL || *d == NULL)
		return;
	for (size_t i = 0; i < (*d)->n; i++) {
		EVP_PKEY_free((*d)->key[i].pk);
		free((*d)->key[i].selector);
	}
	free((*d)->domain);
	free(*d);
	*d = NULL;
}

int dkim_enabled(const struct dkim *d)
{
	return d != NULL && d->n > 0;
}

/* ---- body hash (RFC 6376 s.3.4.4) ---- */

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

struct bh_state {
	EVP_MD_CTX *ctx;
	size_t blank; /* empty lines held back: dropped if nothing follows */
};

static void bh_update(struct bh_state *h, const void *p, size_t n)
{
	if (EVP_DigestUpdate(h->ctx, p, n) != 1) {
		ERR_clear_error();
		log_err("dkim: EVP_DigestUpdate(SHA-256) failed");
		abort(); /* SHA-256 in memory fails only on a broken library */
	}
}

/* One body line without its CRLF: WSP runs become one SP, WSP at the end
 * goes, and an empty result is held back as a possible trailing line. */
static void bh_line(struct bh_state *h, const char *p, size_t n)
{
	size_t i = 0, ws, run;
	int started = 0;

	while (i < n) {
		for (ws = i; i < n && is_wsp(p[i]); i++)
			;
		if (i == n)
			break; /* WSP at the end of the line */
		for (run = i; i < n && !is_wsp(p[i]); i++)
			;
		if (!started) {
			for (; h->blank > 0; h->blank--)
				bh_update(h, "\r\n", 2);
			started = 1;
		}
		if (run > ws)
			bh_update(h, " ", 1);
		bh_update(h, p + run, i - run);
	}
	if (started)
		bh_update(h, "\r\n", 2);
	else
		h->blank++;
}

/* Lines end in CRLF; a lone CR or LF is an ordinary character, as in the
 * RFC. A last line without CRLF gets one when it is not empty after the
 * WSP rules; an empty (or all-empty-lines) body hashes as "". */
void dkim_body_hash(const char *body, size_t len, unsigned char out[32])
{
	struct bh_state h = {EVP_MD_CTX_new(), 0};
	unsigned int n = 0;
	size_t pos = 0;

	if (h.ctx == NULL ||
	    EVP_DigestInit_ex(h.ctx, EVP_sha256(), NULL) != 1) {
		ERR_clear_error();
		log_err("dkim: EVP_DigestInit_ex(SHA-256) failed");
		abort(); /* allocation failure inside OpenSSL, as xmalloc */
	}
	while (pos < len) {
		const char *crlf = memmem(body + pos, len - pos, "\r\n", 2);
		size_t end = crlf ? (size_t)(crlf - body) : len;

		bh_line(&h, body + pos, end - pos);
		pos = crlf ? end + 2 : len;
	}
	if (EVP_DigestFinal_ex(h.ctx, out, &n) != 1 || n != 32) {
		ERR_clear_error();
		log_err("dkim: EVP_DigestFinal_ex(SHA-256) failed");
		abort();
	}
	EVP_MD_CTX_free(h.ctx);
}

/* ---- header fields ---- */

struct fld {
	const char *p; /* "Name: value", inner line ends included */
	size_t len;    /* without the final line end */
	size_t colon;  /* index of ':', or len when there is none */
	size_t nlen;   /* name length, WSP before ':' dropped */
};

/* Length of the line at p without its end (LF or CRLF); *eol_r gets the
 * length of that end (0 at the end of the data). */
static size_t line_len(const char *p, size_t n, size_t *eol_r)
{
	const char *lf = memchr(p, '\n', n);
	size_t l;

	if (lf == NULL) {
		*eol_r = 0;
		return n;
	}
	l = (size_t)(lf - p);
	*eol_r = (l > 0 && p[l - 1] == '\r') ? 2 : 1;
	return l - (*eol_r - 1);
}

static void fld_name(struct fld *f)
{
	const char *c = memchr(f->p, ':', f->len);

	f->colon = c ? (size_t)(c - f->p) : f->len;
	f->nlen = c ? f->colon : 0; /* no colon: never matches a name */
	while (f->nlen > 0 && is_wsp(f->p[f->nlen - 1]))
		f->nlen--;
}

/* Split the header block into fields (a line starting with WSP continues
 * the field above); a blank line ends the block. */
static size_t split_fields(const char *head, size_t n, struct fld **f_r)
{
	size_t nf = 0, cap = 1, pos = 0, eol, l;
	struct fld *f;

	for (size_t i = 0; i < n; i++)
		cap += head[i] == '\n';
	f = xcalloc(cap, sizeof(*f));
	while (pos < n) {
		l = line_len(head + pos, n - pos, &eol);
		if (l == 0)
			break;
		if (nf > 0 && is_wsp(head[pos])) {
			f[nf - 1].len = pos + l - (size_t)(f[nf - 1].p - head);
		} else {
			f[nf].p = head + pos;
			f[nf].len = l;
			nf++;
		}
		pos += l + eol;
	}
	for (size_t i = 0; i < nf; i++)
		fld_name(&f[i]);
	*f_r = f;
	return nf;
}

static int fld_is(const struct fld *f, const char *name)
{
	size_t n = strlen(name);

	if (f->nlen != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = f->p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return 0;
	}
	return 1;
}

/* Relaxed header canonicalization (RFC 6376 s.3.4.2), no CRLF. */
static void canon_field(struct mr_buf *b, const struct fld *f)
{
	int pending = 0, started = 0;

	for (size_t i = 0; i < f->nlen; i++) {
		char c = f->p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		buf_append(b, &c, 1);
	}
	buf_append(b, ":", 1);
	for (size_t i = f->colon + 1; i < f->len; i++) {
		char c = f->p[i];

		if (c == '\n' ||
		    (c == '\r' && i + 1 < f->len && f->p[i + 1] == '\n'))
			continue; /* unfold: only continuation ends are inside
				   */
		if (is_wsp(c)) {
			pending = 1;
			continue;
		}
		if (pending && started)
			buf_append(b, " ", 1);
		buf_append(b, &c, 1);
		pending = 0;
		started = 1;
	}
}

/* Canonical signed fields into canon and their names into hv (h= order):
 * each name's instances bottom-up, and From once more. */
static int canon_signed(const struct fld *f, size_t nf, struct mr_buf *canon,
			const char **hv, size_t *nh_r, struct mr_err *err)
{
	size_t nh = 0;

	for (size_t k = 0; k < N_SIGNED; k++) {
		for (size_t j = nf; j-- > 0;) {
			if (!fld_is(&f[j], signed_names[k]))
				continue;
			canon_field(canon, &f[j]);
			buf_append(canon, "\r\n", 2);
			hv[nh++] = signed_names[k];
		}
		if (k == 0 && nh == 0) {
			mr_err_set(err, MR_PERM,
				   "dkim_sign: the header block has no From "
				   "field");
			return -1;
		}
	}
	hv[nh++] = signed_names[0]; /* over-sign From */
	*nh_r = nh;
	return 0;
}

/* ---- the DKIM-Signature field ---- */

struct fold {
	struct mr_buf *b;
	size_t col; /* length of the current line so far */
};

/* Append tag val end as one piece, after a space when sp is set, on a
 * continuation line when it would pass FOLD_AT on this one. */
static void fold_tag(struct fold *f, const char *tag, const char *val,
		     const char *end, int sp)
{
	size_t n = strlen(tag) + strlen(val) + strlen(end);

	if (f->col + (size_t)(sp != 0) + n > FOLD_AT && f->col > 1) {
		buf_append(f->b, "\r\n\t", 3);
		f->col = 1;
		sp = 0;
	}
	if (sp) {
		buf_append(f->b, " ", 1);
		f->col++;
	}
	buf_puts(f->b, tag);
	buf_puts(f->b, val);
	buf_puts(f->b, end);
	f->col += n;
}

/* Base64 may be broken anywhere: FWS is allowed inside b= (s.3.5). */
static void fold_b64(struct fold *f, const char *s, size_t n)
{
	while (n > 0) {
		size_t room = f->col < FOLD_AT ? FOLD_AT - f->col : 0;
		size_t k;

		if (room < 8) {
			buf_append(f->b, "\r\n\t", 3);
			f->col = 1;
			room = FOLD_AT - 1;
		}
		k = n < room ? n : room;
		buf_append(f->b, s, k);
		f->col += k;
		s += k;
		n -= k;
	}
}

/* "DKIM-Signature: v=1; ...; bh=...; b=" (folded) into f->b. */
static void sig_begin(struct fold *f, const struct dkim *d,
		      const struct dkim_key *k, time_t now, const char **hv,
		      size_t nh, const char *bh64)
{
	char t[32];

	buf_puts(f->b, "DKIM-Signature:");
	f->col = sizeof("DKIM-Signature:") - 1;
	(void)snprintf(t, sizeof(t), "%lld", (long long)now); /* fits */
	fold_tag(f, "v=", "1", ";", 1);
	fold_tag(f, "a=", alg_name(k->alg), ";", 1);
	fold_tag(f, "c=", "relaxed/relaxed", ";", 1);
	fold_tag(f, "d=", d->domain, ";", 1);
	fold_tag(f, "s=", k->selector, ";", 1);
	fold_tag(f, "t=", t, ";", 1);
	for (size_t i = 0; i < nh; i++)
		fold_tag(f, i == 0 ? "h=" : ":", hv[i], i + 1 == nh ? ";" : "",
			 i == 0);
	fold_tag(f, "bh=", bh64, ";", 1);
	fold_tag(f, "b=", "", "", 1);
}

/* One DKIM-Signature for key k, appended to out. canon holds the signed
 * fields' canonical form. */
static int sign_one(const struct dkim *d, const struct dkim_key *k,
		    const struct mr_buf *canon, const char **hv, size_t nh,
		    const char *bh64, time_t now, struct mr_buf *out,
		    struct mr_err *err)
{
	unsigned char sig[SIG_MAX];
	char sig64[4 * SIG_MAX / 3 + 4];
	struct mr_buf hdr, data;
	struct fold f = {&hdr, 0};
	struct fld sf = {NULL, 0, 0, 0};
	size_t siglen;
	int rc = -1;

	buf_init(&hdr);
	buf_init(&data);
	sig_begin(&f, d, k, now, hv, nh, bh64);
	sf.p = hdr.data;
	sf.len = hdr.len;
	fld_name(&sf);
	buf_append(&data, canon->data, canon->len);
	canon_field(&data, &sf); /* with b= empty and no CRLF (s.3.7) */
	if (sign_raw(k, data.data, data.len, sig, &siglen, err) < 0)
		goto out;
	EVP_EncodeBlock((unsigned char *)sig64, sig, (int)siglen);
	fold_b64(&f, sig64, strlen(sig64));
	buf_append(&hdr, "\r\n", 2);
	buf_append(out, hdr.data, hdr.len);
	rc = 0;
out:
	buf_free(&hdr);
	buf_free(&data);
	return rc;
}

int dkim_sign(const struct dkim *d, const char *head, size_t head_len,
	      const unsigned char bh[32], time_t now, struct mr_buf *out,
	      struct mr_err *err)
{
	char bh64[48];
	size_t nf, nh = 0, old = out->len;
	struct mr_buf canon;
	const char **hv;
	struct fld *f;
	int rc = -1;

	if (!dkim_enabled(d))
		return 0;
	nf = split_fields(head, head_len, &f);
	hv = xcalloc(nf + 1, sizeof(*hv));
	buf_init(&canon);
	if (canon_signed(f, nf, &canon, hv, &nh, err) < 0)
		goto out;
	EVP_EncodeBlock((unsigned char *)bh64, bh, 32);
	for (size_t i = 0; i < d->n; i++)
		if (sign_one(d, &d->key[i], &canon, hv, nh, bh64, now, out,
			     err) < 0)
			goto out;
	rc = 0;
out:
	if (rc < 0 && out->data != NULL) {
		out->len = old; /* all signatures or none */
		out->data[old] = 0;
	}
	buf_free(&canon);
	free(hv);
	free(f);
	return rc;
}
