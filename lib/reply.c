/* reply.c - compose replies around prebuilt MIME bodies (contract: reply.h)
 *
 * A small MIME writer of our own. libetpan's writer doubles a space before
 * a line break in quoted-printable, makes random boundaries and has a
 * time-zone bug in its dates (libetpan-notes.md s.5), so the body bytes
 * are written here and only checked against libetpan's parser in the unit
 * tests.
 *
 * Boundaries are "=_mr_<entry>_<variant>_<a|m>_<hex>" where hex is taken
 * from a SHA-256 of the parts they enclose; "=_" cannot occur in
 * quoted-printable or base64 text. Variant 1 (provider renames) is variant
 * 0 when no rename touches the entry's attachments. A single text part
 * ends with a soft line break when its text does not end in a newline, so
 * the message ends in CRLF and the text still round-trips.
 */
#include "reply.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blob.h"
#include "dkim.h"
#include "hash.h"
#include "rcfg.h"
#include "settings.h"

#define QP_LINE 76         /* RFC 2045 limit, soft-break '=' included */
#define B64_IN_LINE 57     /* 57 bytes -> 76 base64 characters */
#define HDR_FOLD 78        /* RFC 5322 "should" */
#define W2047_BYTES 42     /* text per word: 68 chars, "Subject: " + 68 < 78 */
#define ASCII_WORD_MAX 900 /* longer unbreakable words get encoded */
#define RPL_SUBJECT_MAX 2048 /* bytes of original Subject kept */
#define ATT_NAME_MAX 200
#define MID_MAX 900 /* "References: <id>" stays below 998 */
#define HEAD_RESERVE 1024

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* One prebuilt body: what follows MIME-Version in the head, and the
 * bytes after the blank line. */
struct rpl_body {
	char *hdrs;
	size_t hdrs_len;
	char *data;
	size_t len;
	unsigned char bh[32]; /* DKIM body hash (relaxed), computed once */
};

struct rpl_ent {
	struct rpl_body *v[2]; /* v[1] == v[0] when no rename applies */
};

struct rpl_set {
	char *from_line; /* "From: ...\r\n", folded */
	char *domain;    /* of the From address, for Message-IDs */
	char **providers;
	size_t n_providers;
	struct rpl_ent *ents;
	size_t n_ents;
};

/* A MIME part being built: header lines (each CRLF) and content. */
struct part {
	struct mr_buf hdrs;
	struct mr_buf body;
};

/* Attachment input of one entry, loaded once for both variants. */
struct att_in {
	char *data;
	size_t len;
	char *name[2]; /* per variant */
	int renamed;
};

/*
 * Small helpers.
 */

static void buf_reserve(struct mr_buf *b, size_t more)
{
	size_t need = b->len + more + 1;

	if (need <= b->cap)
		return;
	if (need < 2 * b->cap)
		need = 2 * b->cap;
	b->data = xrealloc(b->data, need);
	b->cap = need;
	b->data[b->len] = 0; /* keep mr_buf's NUL invariant */
}

static int is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static int is_ctl(int c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

static void part_init(struct part *p)
{
	buf_init(&p->hdrs);
	buf_init(&p->body);
}

static void part_free(struct part *p)
{
	buf_free(&p->hdrs);
	buf_free(&p->body);
}

/* The domain after the last '@' of addr, or NULL. */
static const char *domain_of(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;

	return at && at[1] ? at + 1 : NULL;
}

/* Exactly one of the listed domains, subdomains not included, as
 * mailresponder-settings(5) documents provider_domains. */
static int domain_listed(const char *addr, char *const *v, size_t n)
{
	const char *d = domain_of(addr);

	return d != NULL && mr_strv_has_ci(v, n, d);
}

int rpl_is_provider(const struct set *s, const char *addr)
{
	return domain_listed(addr, s->provider_domains.v,
			     s->provider_domains.n);
}

/*
 * Encoders.
 */

static void b64_raw(struct mr_buf *out, const unsigned char *p, size_t n)
{
	char *o;

	buf_reserve(out, (n + 2) / 3 * 4);
	o = out->data + out->len;
	for (; n >= 3; p += 3, n -= 3) {
		*o++ = b64_alphabet[p[0] >> 2];
		*o++ = b64_alphabet[(p[0] & 3) << 4 | p[1] >> 4];
		*o++ = b64_alphabet[(p[1] & 15) << 2 | p[2] >> 6];
		*o++ = b64_alphabet[p[2] & 63];
	}
	if (n > 0) {
		*o++ = b64_alphabet[p[0] >> 2];
		*o++ = b64_alphabet[(p[0] & 3) << 4 | (n > 1 ? p[1] >> 4 : 0)];
		*o++ = n > 1 ? b64_alphabet[(p[1] & 15) << 2] : (char)'=';
		*o++ = '=';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = 0;
}

/* Base64 in lines of 76 characters, each ending CRLF. */
static void b64_lines(struct mr_buf *out, const char *data, size_t n)
{
	const unsigned char *p = (const unsigned char *)data;

	buf_reserve(out, (n + 2) / 3 * 4 + (n / B64_IN_LINE + 1) * 2);
	while (n > 0) {
		size_t k = n < B64_IN_LINE ? n : B64_IN_LINE;

		b64_raw(out, p, k);
		buf_append(out, "\r\n", 2);
		p += k;
		n -= k;
	}
}

/* Length of a line end (LF or CRLF) at p, 0 if there is none. */
static size_t eol_len(const char *p, const char *end)
{
	if (p < end && p[0] == '\n')
		return 1;
	if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;
	return 0;
}

/* 1 if the byte at p must be written as =XX when at column col. */
static int qp_must_encode(const char *p, const char *end, size_t col)
{
	unsigned char c = (unsigned char)*p;

	if (is_wsp(c))
		return p + 1 == end || eol_len(p + 1, end) > 0;
	if (c < 33 || c > 126 || c == '=')
		return 1;
	/* keep mbox "From " munging and lone-dot handling off the text */
	if (col == 0 && c == '.')
		return 1;
	return col == 0 && c == 'F' && end - p >= 5 &&
	       memcmp(p, "From ", 5) == 0;
}

/* Quoted-printable: LF and CRLF become CRLF hard breaks, a lone CR is
 * =0D, trailing SP/TAB are =20/=09, lines are at most 76 characters and
 * a soft break never splits an =XX. */
static void qp_encode(struct mr_buf *out, const char *s, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	const char *p = s, *end = s + n;
	size_t col = 0;

	buf_reserve(out, n + n / 4 + 16);
	while (p < end) {
		size_t e = eol_len(p, end);
		int enc;

		if (e > 0) {
			buf_append(out, "\r\n", 2);
			col = 0;
			p += e;
			continue;
		}
		enc = qp_must_encode(p, end, col);
		if (col + (enc ? 3 : 1) > QP_LINE - 1) {
			buf_append(out, "=\r\n", 3);
			col = 0;
			enc = qp_must_encode(p, end, col);
		}
		if (enc) {
			unsigned char c = (unsigned char)*p;
			char t[3] = {'=', hx[c >> 4], hx[c & 15]};

			buf_append(out, t, 3);
		} else {
			buf_append(out, p, 1);
		}
		col += enc ? 3 : 1;
		p++;
	}
}

/* Longest prefix of s[0..n) of at most max bytes that does not cut a
 * UTF-8 sequence (invalid input is cut anywhere rather than stall). */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	size_t k;

	if (n <= max)
		return n;
	for (k = max; k > 0 && k > max - 4; k--)
		if (((unsigned char)s[k] & 0xC0) != 0x80)
			return k;
	return max;
}

static int needs_2047(const char *s)
{
	size_t word = 0;

	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e)
			return 1;
		if (c == '=' && p[1] == '?')
			return 1;
		/* what hdr_folded() cannot break: from one fold point
		 * (a space after a non-space) to the next */
		word = c == ' ' && p > s && p[-1] != ' ' ? 0 : word + 1;
		if (word > ASCII_WORD_MAX)
			return 1;
	}
	return 0;
}

char *rpl_encode_2047(const char *utf8)
{
	struct mr_buf b;
	size_t n, i = 0;

	if (!needs_2047(utf8))
		return xstrdup(utf8);
	buf_init(&b);
	n = strlen(utf8);
	while (i < n) {
		size_t k = utf8_cut(utf8 + i, n - i, W2047_BYTES);

		if (i > 0)
			buf_append(&b, " ", 1);
		buf_puts(&b, "=?UTF-8?B?");
		b64_raw(&b, (const unsigned char *)utf8 + i, k);
		buf_puts(&b, "?=");
		i += k;
	}
	return buf_steal(&b, NULL);
}

/*
 * Header lines.
 */

/* 1 if a fold may go before value[i]: a space after a non-space, with
 * something other than spaces after it (no all-blank lines). */
static int fold_point(const char *v, size_t i)
{
	if (i == 0 || !is_wsp(v[i]) || is_wsp(v[i - 1]))
		return 0;
	while (is_wsp(v[i]))
		i++;
	return v[i] != 0;
}

/* "Name: value" CRLF, folded before spaces to keep lines within 78
 * characters where the spaces allow it. */
static void hdr_folded(struct mr_buf *h, const char *name, const char *v)
{
	size_t col = strlen(name) + 2, i = 0, n = strlen(v);

	buf_puts(h, name);
	buf_append(h, ": ", 2);
	while (i < n) {
		size_t j = i + 1;

		while (j < n && !fold_point(v, j))
			j++;
		if (i > 0 && col + (j - i) > HDR_FOLD) {
			buf_append(h, "\r\n", 2);
			col = 0;
		}
		buf_append(h, v + i, j - i);
		col += j - i;
		i = j;
	}
	buf_append(h, "\r\n", 2);
}

/* RFC 5322 specials (and '"', '\\'): a display name holding one is
 * written as a quoted string. */
static int has_specials(const char *s)
{
	return strpbrk(s, "()<>[]:;@\\,.\"") != NULL;
}

static char *ctl_to_space_dup(const char *s, size_t max)
{
	size_t n = utf8_cut(s, strlen(s), max);
	char *d = xstrndup(s, n);

	for (char *p = d; *p; p++)
		if (is_ctl(*p))
			*p = ' ';
	return d;
}

/* Trim leading and trailing spaces in place; returns the start. */
static char *trim(char *s)
{
	size_t n;

	while (*s == ' ')
		s++;
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = 0;
	return s;
}

static char *display_name(const char *raw)
{
	char *d = ctl_to_space_dup(raw, 512), *t = trim(d), *r;
	struct mr_buf b;

	if (*t == 0) {
		free(d);
		return NULL;
	}
	if (needs_2047(t)) {
		r = rpl_encode_2047(t);
	} else if (has_specials(t)) {
		buf_init(&b);
		buf_append(&b, "\"", 1);
		for (const char *p = t; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_append(&b, "\\", 1);
			buf_append(&b, p, 1);
		}
		buf_append(&b, "\"", 1);
		r = buf_steal(&b, NULL);
	} else {
		r = xstrdup(t);
	}
	free(d);
	return r;
}

/* 1 if s is a plausible addr-spec for a header: printable, no SP, no
 * angle brackets, with a local part and a domain. */
static int hdr_addr_ok(const char *s)
{
	const char *at;

	if (s == NULL || *s == 0 || strlen(s) > 254)
		return 0;
	for (const char *p = s; *p; p++)
		if (is_ctl(*p) || *p == ' ' || *p == '<' || *p == '>')
			return 0;
	at = strrchr(s, '@');
	return at != NULL && at != s && at[1] != 0;
}

static char *from_line(const struct set *s)
{
	char *name = s->from_display ? display_name(s->from_display) : NULL;
	char *v, *line;
	struct mr_buf h;

	if (name)
		v = xasprintf("%s <%s>", name, s->from_addr);
	else
		v = xstrdup(s->from_addr);
	buf_init(&h);
	hdr_folded(&h, "From", v);
	line = buf_steal(&h, NULL);
	free(v);
	free(name);
	return line;
}

/*
 * Bodies.
 */

static int mimetype_ok(const char *t)
{
	static const char tok[] = "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789!#$&^_.+-";
	size_t a = strspn(t, tok);

	if (strlen(t) > 100)
		return 0;
	return a > 0 && t[a] == '/' && strspn(t + a + 1, tok) > 0 &&
	       t[a + 1 + strspn(t + a + 1, tok)] == 0;
}

static int att_name_ok(const char *n)
{
	if (n == NULL || *n == 0 || strlen(n) > ATT_NAME_MAX)
		return 0;
	for (const char *p = n; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e ||
		    *p == '"' || *p == '\\')
			return 0;
	return 1;
}

static int ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return k > 0 && n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* The provider name of an attachment, or NULL when no rename applies. */
static char *provider_name(const struct set *s, const char *name)
{
	for (size_t i = 0; i < s->n_provider_renames; i++) {
		const struct set_rename *r = &s->provider_renames[i];
		const char *to = r->to_ext ? r->to_ext : "";
		size_t keep;

		if (r->from_ext == NULL || !ends_with_ci(name, r->from_ext))
			continue;
		keep = strlen(name) - strlen(r->from_ext);
		if (keep == 0 && *to == 0)
			return NULL; /* would leave no name at all */
		return xasprintf("%.*s%s", (int)keep, name, to);
	}
	return NULL;
}

static const char *att_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} map[] = {
		{".pdf", "application/pdf"},
		{".apk", "application/vnd.android.package-archive"},
		{".zip", "application/zip"},
		{".txt", "text/plain"},
		{".exe", "application/octet-stream"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (ends_with_ci(name, map[i].ext))
			return map[i].type;
	return "application/octet-stream";
}

static void text_part(struct part *p, const struct rcfg_body *b)
{
	part_init(p);
	buf_printf(&p->hdrs, "Content-Type: %s; charset=\"utf-8\"\r\n",
		   b->mimetype);
	buf_puts(&p->hdrs, "Content-Transfer-Encoding: quoted-printable\r\n");
	qp_encode(&p->body, b->text, b->len);
}

static void att_part(struct part *p, const struct att_in *a, int variant)
{
	const char *name = a->name[variant];
	const char *type = variant && a->renamed ? "application/octet-stream"
						 : att_type(name);
	size_t line = sizeof("Content-Disposition: attachment; filename=\"\"") -
		      1 + strlen(name);

	part_init(p);
	buf_printf(&p->hdrs, "Content-Type: %s\r\n", type);
	buf_puts(&p->hdrs, "Content-Transfer-Encoding: base64\r\n");
	buf_printf(&p->hdrs,
		   "Content-Disposition: attachment;%sfilename=\"%s\""
		   "\r\n",
		   line > HDR_FOLD ? "\r\n " : " ", name);
	b64_lines(&p->body, a->data, a->len);
}

/* 1 if "--boundary" occurs in the part (it never should). */
static int part_has(const struct part *p, const char *delim)
{
	size_t n = strlen(delim);

	return (p->hdrs.len && memmem(p->hdrs.data, p->hdrs.len, delim, n)) ||
	       (p->body.len && memmem(p->body.data, p->body.len, delim, n));
}

static void boundary_hex(const struct part *kids, size_t n, char *hex)
{
	unsigned char *sums = xmalloc(n * 64), md[32];

	for (size_t i = 0; i < n; i++) {
		hash_sha256(kids[i].hdrs.data ? kids[i].hdrs.data : "",
			    kids[i].hdrs.len, sums + 64 * i);
		hash_sha256(kids[i].body.data ? kids[i].body.data : "",
			    kids[i].body.len, sums + 64 * i + 32);
	}
	hash_sha256(sums, n * 64, md);
	hash_hex(md, 8, hex);
	free(sums);
}

/* A multipart part around kids (freed here); -1 if the boundary shows
 * up inside a kid. */
static int multipart(struct part *out, const char *subtype, const char *prefix,
		     struct part *kids, size_t n)
{
	char hex[17], *bnd, *delim;
	int rc = 0;

	boundary_hex(kids, n, hex);
	bnd = xasprintf("%s%s", prefix, hex);
	delim = xasprintf("--%s", bnd);
	part_init(out);
	buf_printf(&out->hdrs,
		   "Content-Type: multipart/%s;\r\n"
		   " boundary=\"%s\"\r\n",
		   subtype, bnd);
	for (size_t i = 0; i < n; i++) {
		if (part_has(&kids[i], delim))
			rc = -1;
		buf_printf(&out->body, "%s\r\n", delim);
		buf_append(&out->body, kids[i].hdrs.data, kids[i].hdrs.len);
		buf_append(&out->body, "\r\n", 2);
		buf_append(&out->body, kids[i].body.data, kids[i].body.len);
		buf_append(&out->body, "\r\n", 2);
		part_free(&kids[i]);
	}
	buf_printf(&out->body, "%s--\r\n", delim);
	free(delim);
	free(bnd);
	return rc;
}

/* The bodies as parts, text/html last; returns how many. */
static size_t text_parts(const struct rcfg_entry *e, struct part *kids)
{
	size_t k = 0;

	for (int html = 0; html < 2; html++)
		for (size_t i = 0; i < e->n_bodies; i++)
			if ((strcmp(e->bodies[i].mimetype, "text/html") == 0) ==
			    html)
				text_part(&kids[k++], &e->bodies[i]);
	return k;
}

static struct rpl_body *body_from(struct part *top)
{
	struct rpl_body *b = xmalloc(sizeof(*b));

	b->hdrs = buf_steal(&top->hdrs, &b->hdrs_len);
	b->data = buf_steal(&top->body, &b->len);
	return b;
}

static struct rpl_body *build_body(const struct rcfg_entry *e, int variant,
				   const struct att_in *atts)
{
	struct part *kids = xcalloc(e->n_bodies + e->n_atts + 1, sizeof(*kids));
	struct part top;
	char prefix[64];
	int rc = 0, n;
	size_t k = text_parts(e, kids);

	n = snprintf(prefix, sizeof(prefix), "=_mr_%zu_%d_a_", e->index,
		     variant);
	if (n < 0 || (size_t)n >= sizeof(prefix))
		abort(); /* cannot happen: two integers */
	if (k == 1 && e->n_atts == 0) {
		top = kids[0];
	} else {
		rc = multipart(&top, "alternative", prefix, kids, k);
		if (e->n_atts > 0) {
			kids[0] = top;
			for (size_t i = 0; i < e->n_atts; i++)
				att_part(&kids[1 + i], &atts[i], variant);
			prefix[n - 2] = 'm';
			rc |= multipart(&top, "mixed", prefix, kids,
					1 + e->n_atts);
		}
	}
	free(kids);
	if (rc < 0) {
		part_free(&top);
		return NULL;
	}
	return body_from(&top);
}

/* A single text part must end in CRLF so that the message does: a soft
 * break there decodes to nothing. */
static void end_single(struct rpl_body *b, size_t n_parts)
{
	if (n_parts != 1 || (b->len >= 2 && b->data[b->len - 1] == '\n'))
		return;
	b->data = xrealloc(b->data, b->len + 4);
	memcpy(b->data + b->len, "=\r\n", 4);
	b->len += 3;
}

static void body_free(struct rpl_body *b)
{
	if (b == NULL)
		return;
	free(b->hdrs);
	free(b->data);
	free(b);
}

/*
 * Building the set.
 */

static void atts_free(struct att_in *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].data);
		free(a[i].name[0]);
		if (a[i].name[1] != a[i].name[0])
			free(a[i].name[1]);
	}
	free(a);
}

static int att_load(const struct set *s, const struct rcfg_entry *e, size_t i,
		    struct blob *b, struct att_in *a, struct mr_msgs *problems)
{
	const struct rcfg_att *ra = &e->atts[i];
	struct mr_err err;

	mr_err_clear(&err);
	if (!att_name_ok(ra->name)) {
		mr_msgs_add(problems,
			    "entry %zu: attachment %zu: bad shown "
			    "file name",
			    e->index, i);
		return -1;
	}
	if (b == NULL) {
		mr_msgs_add(problems,
			    "entry %zu: attachment %s/%s: no "
			    "attachment source",
			    e->index, ra->bucket, ra->key);
		return -1;
	}
	if (blob_get(b, ra->bucket, ra->key, &a->data, &a->len, &err) < 0) {
		mr_msgs_add(problems, "entry %zu: attachment %s/%s: %s",
			    e->index, ra->bucket, ra->key, err.text);
		return -1;
	}
	a->name[0] = xstrdup(ra->name);
	a->name[1] = provider_name(s, ra->name);
	a->renamed = a->name[1] != NULL;
	if (!a->renamed)
		a->name[1] = a->name[0];
	return 0;
}

static int entry_check(const struct rcfg_entry *e, struct mr_msgs *problems)
{
	if (e->n_bodies == 0) {
		mr_msgs_add(problems, "entry %zu: body: no text", e->index);
		return -1;
	}
	for (size_t i = 0; i < e->n_bodies; i++) {
		if (mimetype_ok(e->bodies[i].mimetype))
			continue;
		mr_msgs_add(problems, "entry %zu: body %zu: bad mimetype",
			    e->index, i);
		return -1;
	}
	return 0;
}

static int build_entry(const struct set *s, const struct rcfg_entry *e,
		       struct blob *b, struct rpl_ent *ent,
		       struct mr_msgs *problems)
{
	struct att_in *atts = xcalloc(e->n_atts + 1, sizeof(*atts));
	int renamed = 0, rc = -1;

	int bad = entry_check(e, problems) < 0;

	/* every attachment is tried, so that each missing one is reported */
	for (size_t i = 0; i < e->n_atts; i++) {
		if (att_load(s, e, i, b, &atts[i], problems) < 0)
			bad = 1;
		renamed |= atts[i].renamed;
	}
	if (bad)
		goto out;
	for (int v = 0; v < (renamed ? 2 : 1); v++) {
		ent->v[v] = build_body(e, v, atts);
		if (ent->v[v] == NULL) {
			mr_msgs_add(problems, "entry %zu: boundary collision",
				    e->index);
			goto out;
		}
		end_single(ent->v[v], e->n_bodies + e->n_atts);
		dkim_body_hash(ent->v[v]->data, ent->v[v]->len, ent->v[v]->bh);
	}
	if (!renamed)
		ent->v[1] = ent->v[0];
	rc = 0;
out:
	atts_free(atts, e->n_atts);
	return rc;
}

static int set_check(const struct set *s, struct mr_msgs *problems)
{
	if (!hdr_addr_ok(s->from_addr)) {
		mr_msgs_add(problems, "from: no usable address");
		return -1;
	}
	return 0;
}

struct rpl_set *rpl_set_build(const struct set *s, const struct rcfg *c,
			      struct blob *b, struct mr_msgs *problems)
{
	struct rpl_set *rs = xcalloc(1, sizeof(*rs));
	size_t before = problems->n;

	rs->n_ents = rcfg_count(c);
	rs->ents = xcalloc(rs->n_ents + 1, sizeof(*rs->ents));
	if (set_check(s, problems) == 0) {
		rs->from_line = from_line(s);
		rs->domain = xstrdup(domain_of(s->from_addr));
	}
	rs->n_providers = s->provider_domains.n;
	rs->providers = xcalloc(rs->n_providers + 1, sizeof(char *));
	for (size_t i = 0; i < rs->n_providers; i++)
		rs->providers[i] = xstrdup(s->provider_domains.v[i]);
	for (size_t i = 0; i < rs->n_ents; i++)
		(void)build_entry(s, rcfg_entry(c, i), b, &rs->ents[i],
				  problems); /* problems tell */
	if (problems->n > before)
		rpl_set_free(&rs);
	return rs;
}

void rpl_set_free(struct rpl_set **rsp)
{
	struct rpl_set *rs;

	if (rsp == NULL || *rsp == NULL)
		return;
	rs = *rsp;
	for (size_t i = 0; i < rs->n_ents; i++) {
		if (rs->ents[i].v[1] != rs->ents[i].v[0])
			body_free(rs->ents[i].v[1]);
		body_free(rs->ents[i].v[0]);
	}
	for (size_t i = 0; i < rs->n_providers; i++)
		free(rs->providers[i]);
	free(rs->providers);
	free(rs->ents);
	free(rs->from_line);
	free(rs->domain);
	free(rs);
	*rsp = NULL;
}

/*
 * One reply.
 */

static int req_check(const struct rpl_req *req, struct mr_err *err)
{
	const char *m = req->message_id;

	if (!hdr_addr_ok(req->to_addr)) {
		mr_err_set(err, MR_PERM, "reply: unusable recipient address");
		return -1;
	}
	if (!hdr_addr_ok(req->reply_to)) {
		mr_err_set(err, MR_PERM, "reply: unusable Reply-To address");
		return -1;
	}
	if (m == NULL || *m == 0)
		return 0;
	if (strlen(m) > MID_MAX) {
		mr_err_set(err, MR_PERM, "reply: Message-ID too long");
		return -1;
	}
	for (const char *p = m; *p; p++) {
		if (is_ctl(*p) || *p == ' ' || *p == '<' || *p == '>') {
			mr_err_set(err, MR_PERM, "reply: bad Message-ID");
			return -1;
		}
	}
	return 0;
}

static int put_date(struct mr_buf *h, time_t now, struct mr_err *err)
{
	static const char wday[7][4] = {"Sun", "Mon", "Tue", "Wed",
					"Thu", "Fri", "Sat"};
	static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr",
					"May", "Jun", "Jul", "Aug",
					"Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL || tm.tm_year < 0 ||
	    tm.tm_year > 8099) {
		mr_err_set(err, MR_PERM, "reply: time out of range");
		return -1;
	}
	buf_printf(h, "Date: %s, %d %s %d %02d:%02d:%02d +0000\r\n",
		   wday[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon],
		   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

static int put_msgid(struct mr_buf *h, const char *domain, time_t now,
		     struct mr_err *err)
{
	unsigned char rnd[12];
	char hex[2 * sizeof(rnd) + 1];

	if (hash_random(rnd, sizeof(rnd)) < 0) {
		mr_err_set(err, MR_TEMP, "reply: no random bytes");
		return -1;
	}
	hash_hex(rnd, sizeof(rnd), hex);
	buf_printf(h, "Message-ID: <%s.%lld@%s>\r\n", hex, (long long)now,
		   domain);
	return 0;
}

static void put_subject(struct mr_buf *h, const char *orig)
{
	char *d = ctl_to_space_dup(orig ? orig : "", RPL_SUBJECT_MAX);
	char *t = trim(d), *v, *enc;

	if (*t == 0)
		v = xstrdup("Re:");
	else if (strncasecmp(t, "re:", 3) == 0)
		v = xstrdup(t);
	else
		v = xasprintf("Re: %s", t);
	enc = rpl_encode_2047(v);
	hdr_folded(h, "Subject", enc);
	free(enc);
	free(v);
	free(d);
}

static int put_head(const struct rpl_set *rs, const struct rpl_body *b,
		    const struct rpl_req *req, struct mr_buf *h,
		    struct mr_err *err)
{
	const char *m = req->message_id;

	if (put_date(h, req->now, err) < 0)
		return -1;
	buf_puts(h, rs->from_line);
	buf_printf(h, "Reply-To: %s\r\n", req->reply_to);
	buf_printf(h, "To: %s\r\n", req->to_addr);
	if (put_msgid(h, rs->domain, req->now, err) < 0)
		return -1;
	if (m && *m)
		buf_printf(h, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", m,
			   m);
	put_subject(h, req->subject);
	buf_puts(h, "Auto-Submitted: auto-replied\r\n");
	buf_puts(h, "MIME-Version: 1.0\r\n");
	buf_append(h, b->hdrs, b->hdrs_len);
	return 0;
}

int rpl_compose(const struct rpl_set *rs, size_t entry,
		const struct rpl_req *req, struct rpl_msg *out,
		struct mr_err *err)
{
	const struct rpl_body *b;
	int variant;

	memset(out, 0, sizeof(*out));
	buf_init(&out->head);
	out->entry = entry;
	if (entry >= rs->n_ents) {
		mr_err_set(err, MR_PERM, "reply: no config entry %zu", entry);
		return -1;
	}
	if (req_check(req, err) < 0)
		return -1;
	variant = domain_listed(req->to_addr, rs->providers, rs->n_providers);
	b = rs->ents[entry].v[variant];
	buf_reserve(&out->head, HEAD_RESERVE + b->hdrs_len);
	if (put_head(rs, b, req, &out->head, err) < 0) {
		buf_free(&out->head);
		return -1;
	}
	out->body = b->data;
	out->body_len = b->len;
	out->body_hash = b->bh;
	out->variant = variant;
	return 0;
}

void rpl_msg_free(struct rpl_msg *m)
{
	if (m == NULL)
		return;
	buf_free(&m->head);
	free(m->own_body);
	m->own_body = NULL;
	m->body = NULL;
	m->body_len = 0;
	m->body_hash = NULL;
}

/*
 * A forward to the admins.
 */

/* 1 if raw can travel as an 8bit message/rfc822 part: no NUL, no bare CR,
 * no line over 998 bytes. */
static int rfc822_safe(const char *raw, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		if (raw[i] == 0 ||
		    (raw[i] == '\r' && (i + 1 == n || raw[i + 1] != '\n')))
			return 0;
		if (raw[i] == '\n')
			col = 0;
		else if (++col > 998)
			return 0;
	}
	return 1;
}

/* raw with every line ending made CRLF, ending in CRLF. */
static void crlf_copy(struct mr_buf *out, const char *raw, size_t n)
{
	size_t start = 0;

	buf_reserve(out, n + n / 32 + 2);
	for (size_t i = 0; i < n; i++) {
		if (raw[i] != '\n')
			continue;
		buf_append(out, raw + start,
			   i - start - (i > start && raw[i - 1] == '\r'));
		buf_append(out, "\r\n", 2);
		start = i + 1;
	}
	if (start < n) {
		buf_append(out, raw + start, n - start);
		buf_append(out, "\r\n", 2);
	}
}

static void original_part(struct part *p, const struct rpl_fwd *f)
{
	part_init(p);
	if (f->orig_cut) {
		buf_puts(&p->hdrs, "Content-Type: text/rfc822-headers; "
				   "charset=\"utf-8\"\r\n");
		buf_puts(&p->hdrs, "Content-Transfer-Encoding: base64\r\n");
		b64_lines(&p->body, f->orig, f->orig_len);
	} else if (rfc822_safe(f->orig, f->orig_len)) {
		buf_puts(&p->hdrs, "Content-Type: message/rfc822\r\n");
		buf_puts(&p->hdrs, "Content-Transfer-Encoding: 8bit\r\n");
		buf_puts(&p->hdrs, "Content-Disposition: attachment; "
				   "filename=\"original.eml\"\r\n");
		crlf_copy(&p->body, f->orig, f->orig_len);
	} else {
		buf_puts(&p->hdrs,
			 "Content-Type: application/octet-stream\r\n");
		buf_puts(&p->hdrs, "Content-Transfer-Encoding: base64\r\n");
		buf_puts(&p->hdrs, "Content-Disposition: attachment; "
				   "filename=\"original.eml\"\r\n");
		b64_lines(&p->body, f->orig, f->orig_len);
	}
}

static int fwd_head(const struct rpl_set *rs, const struct rpl_fwd *f,
		    const struct part *top, struct mr_buf *h,
		    struct mr_err *err)
{
	char *subj, *enc,
		*d = ctl_to_space_dup(f->subject ? f->subject : "",
				      RPL_SUBJECT_MAX);

	if (put_date(h, f->now, err) < 0 ||
	    put_msgid(h, rs->domain, f->now, err) < 0) {
		free(d);
		return -1;
	}
	buf_puts(h, rs->from_line);
	buf_printf(h, "To: %s\r\n", f->to_addr);
	subj = xasprintf("%s %s: %s", f->tag ? f->tag : "", f->reason, trim(d));
	enc = rpl_encode_2047(trim(subj));
	hdr_folded(h, "Subject", enc);
	free(enc);
	free(subj);
	free(d);
	buf_puts(h, "Auto-Submitted: auto-generated\r\n");
	buf_puts(h, "MIME-Version: 1.0\r\n");
	buf_append(h, top->hdrs.data, top->hdrs.len);
	return 0;
}

int rpl_forward(const struct rpl_set *rs, const struct rpl_fwd *f,
		struct rpl_msg *out, struct mr_err *err)
{
	struct part kids[2], top;
	struct rcfg_body note;
	char *text;

	memset(out, 0, sizeof(*out));
	buf_init(&out->head);
	if (!hdr_addr_ok(f->to_addr)) {
		mr_err_set(err, MR_PERM, "forward: unusable admin address");
		return -1;
	}
	text = xasprintf("A request to %s was not answered: %s.\n"
			 "Spool file: %s\n%s",
			 f->requested ? f->requested : "(unknown)", f->reason,
			 f->uniq,
			 f->orig_cut ? "The original was too large; its "
				       "headers are attached.\n"
				     : "The original is attached.\n");
	note = (struct rcfg_body){(char *)"text/plain", text, strlen(text)};
	text_part(&kids[0], &note);
	original_part(&kids[1], f);
	free(text);
	if (multipart(&top, "mixed", "=_mr_fwd_m_", kids, 2) < 0 ||
	    fwd_head(rs, f, &top, &out->head, err) < 0) {
		if (err->kind == MR_OK)
			mr_err_set(err, MR_PERM, "forward: boundary collision");
		part_free(&top);
		buf_free(&out->head);
		return -1;
	}
	buf_free(&top.hdrs);
	out->own_body = buf_steal(&top.body, &out->body_len);
	out->body = out->own_body;
	return 0;
}

int rpl_notice(const struct rpl_set *rs, const char *to_addr,
	       const char *subject, const char *text, time_t now,
	       struct rpl_msg *out, struct mr_err *err)
{
	struct rcfg_body b = {(char *)"text/plain", (char *)text, strlen(text)};
	struct part p;
	char *enc;

	memset(out, 0, sizeof(*out));
	buf_init(&out->head);
	if (!hdr_addr_ok(to_addr)) {
		mr_err_set(err, MR_PERM, "notice: unusable address");
		return -1;
	}
	if (put_date(&out->head, now, err) < 0 ||
	    put_msgid(&out->head, rs->domain, now, err) < 0) {
		buf_free(&out->head);
		return -1;
	}
	buf_puts(&out->head, rs->from_line);
	buf_printf(&out->head, "To: %s\r\n", to_addr);
	enc = rpl_encode_2047(subject);
	hdr_folded(&out->head, "Subject", enc);
	free(enc);
	buf_puts(&out->head, "Auto-Submitted: auto-generated\r\n");
	buf_puts(&out->head, "MIME-Version: 1.0\r\n");
	text_part(&p, &b);
	buf_append(&out->head, p.hdrs.data, p.hdrs.len);
	buf_free(&p.hdrs);
	out->own_body = buf_steal(&p.body, &out->body_len);
	out->body = out->own_body;
	return 0;
}
