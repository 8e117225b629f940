/* parse.c - read and parse a request's header block (contract: parse.h)
 *
 * The block is complete when libetpan stopped at its end or on a blank
 * line. Header values are unfolded here once, so that policy compares
 * tokens and never searches raw header lines.
 */
#include "parse.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "addr.h"
#include "mr.h"

#define PRS_CHUNK ((size_t)64 * 1024)
#define PRS_DECODE_MAX ((size_t)64 * 1024)
#define PRS_MSGID_MAX 900 /* fits one References line of 998 */

/* what prs_parse() carries across the fields of one header block */
struct prs_state {
	const char *buf;
	size_t len;
	size_t cap_hdrs;
	int from_seen;
	int subject_seen;
	int msgid_seen;
};

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid;
 * *cp_r gets the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp_r)
{
	unsigned cp, min;
	size_t k;

	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		k = 1, cp = s[0] & 0x1Fu, min = 0x80;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		k = 2, cp = s[0] & 0x0Fu, min = 0x800;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		k = 3, cp = s[0] & 0x07u, min = 0x10000;
	else
		return 0;
	if (k >= n)
		return 0;
	for (size_t j = 1; j <= k; j++) {
		if ((s[j] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[j] & 0x3Fu);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	*cp_r = cp;
	return k + 1;
}

/* Copy s[0..n) as valid UTF-8 without controls into a new string:
 * invalid bytes -> U+FFFD, C0/DEL/C1 -> space, outer spaces trimmed. */
static char *utf8_clean_dup(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	char *out = xmalloc(3 * n + 1), *o = out;
	size_t i = 0, k;
	unsigned cp;

	while (i < n) {
		if (s[i] < 0x80) {
			*o++ = (char)(s[i] < 0x20 || s[i] == 0x7F ? ' ' : s[i]);
			i++;
		} else if ((k = utf8_seq(s + i, n - i, &cp)) == 0) {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		} else if (cp <= 0x9F) {
			*o++ = ' ';
			i += k;
		} else {
			memcpy(o, s + i, k);
			o += k;
			i += k;
		}
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = 0;
	k = strspn(out, " ");
	memmove(out, out + k, (size_t)(o - out) - k + 1);
	return xrealloc(out, (size_t)(o - out) - k + 1);
}

/* The raw value, unfolded, ASCII only: for phrases libetpan refuses. */
static char *raw_ascii_dup(const char *v, size_t n)
{
	char *tmp = xmalloc(n + 1), *res;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '\r' || c == '\n')
			continue;
		tmp[o++] = (char)(c >= 0x80 ? '?' : c);
	}
	res = utf8_clean_dup(tmp, o);
	free(tmp);
	return res;
}

char *prs_decode_2047(const char *value, size_t len)
{
	const char *nul;
	char *tmp, *dec = NULL, *res;
	size_t idx = 0;
	int r;

	if (value == NULL)
		return xstrdup("");
	if (len > PRS_DECODE_MAX)
		len = PRS_DECODE_MAX;
	if ((nul = memchr(value, 0, len)) != NULL)
		len = (size_t)(nul - value);
	/* a private copy with two NUL bytes after it (notes s.4 b) */
	tmp = xmalloc(len + 2);
	memcpy(tmp, value, len);
	tmp[len] = tmp[len + 1] = 0;
	r = mailmime_encoded_phrase_parse("utf-8", tmp, len, &idx, "utf-8",
					  &dec);
	if (r == MAILIMF_NO_ERROR && dec != NULL)
		res = utf8_clean_dup(dec, strlen(dec));
	else
		res = raw_ascii_dup(tmp, len);
	free(dec);
	free(tmp);
	return res;
}

/* Copy of an optional field's value: CR and LF of folds removed, WSP
 * kept, outer WSP trimmed; two NUL bytes follow it (notes s.4 b). */
static char *unfold_dup(const char *v)
{
	size_t n = strlen(v), o = 0;
	char *out = xmalloc(n + 2);

	while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
		v++;
	for (; *v; v++)
		if (*v != '\r' && *v != '\n')
			out[o++] = *v;
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = out[o + 1] = 0;
	return out;
}

/* Step over CFWS. libetpan's mailimf_cfws_parse() leaves the FWS after
 * a last comment ("(c) x"), so take FWS once more. 0, or -1 on ENOMEM. */
static int skip_cfws(const char *v, size_t n, size_t *i)
{
	int r = mailimf_cfws_parse(v, n, i);

	if (r == MAILIMF_NO_ERROR || r == MAILIMF_ERROR_PARSE)
		r = mailimf_fws_parse(v, n, i);
	return r == MAILIMF_ERROR_MEMORY ? -1 : 0;
}

/* 1 if v is "<>" once CFWS is removed ("<>", " <> ", "<> (x)"). */
static int is_null_path(const char *v)
{
	size_t n = strlen(v), i = 0;

	if (skip_cfws(v, n, &i) < 0 || i >= n || v[i++] != '<')
		return 0;
	if (skip_cfws(v, n, &i) < 0 || i >= n || v[i++] != '>')
		return 0;
	if (skip_cfws(v, n, &i) < 0)
		return 0;
	if (i < n && mailimf_crlf_parse(v, n, &i) != MAILIMF_NO_ERROR)
		return 0;
	return i == n;
}

static void add_hdr(struct prs_msg *m, struct prs_state *st,
		    const struct mailimf_optional_field *of)
{
	if (m->n_hdrs == st->cap_hdrs) {
		st->cap_hdrs = st->cap_hdrs ? 2 * st->cap_hdrs : 32;
		m->hdrs = xrealloc(m->hdrs, st->cap_hdrs * sizeof(*m->hdrs));
	}
	m->hdrs[m->n_hdrs].name = xstrdup(of->fld_name);
	m->hdrs[m->n_hdrs].value = unfold_dup(of->fld_value);
	m->n_hdrs++;
}

static void on_optional(struct prs_msg *m, struct prs_state *st,
			const struct mailimf_optional_field *of)
{
	if (mr_streq_ci(of->fld_name, "From")) {
		/* a From libetpan could not type: unparsable */
		m->from_count++;
		st->from_seen = 1;
	} else if (mr_streq_ci(of->fld_name, "Return-Path")) {
		if (!m->has_return_path)
			m->null_sender = is_null_path(of->fld_value);
		m->has_return_path = 1;
	}
	add_hdr(m, st, of);
}

char *prs_display_dup(const char *raw)
{
	char *d;

	if (raw == NULL)
		return NULL;
	d = prs_decode_2047(raw, strlen(raw));
	if (d[0] == 0) {
		free(d);
		return NULL;
	}
	return d;
}

static void on_from(struct prs_msg *m, struct prs_state *st,
		    const struct mailimf_from *from)
{
	const struct mailimf_mailbox *mb = NULL;
	const char *spec;

	m->from_count++;
	if (st->from_seen++)
		return;
	if (from != NULL && from->frm_mb_list != NULL &&
	    !clist_isempty(from->frm_mb_list->mb_list))
		mb = clist_content(clist_begin(from->frm_mb_list->mb_list));
	if (mb == NULL || !addr_valid(mb->mb_addr_spec))
		return;
	spec = mb->mb_addr_spec;
	/* libetpan drops CFWS inside an addr-spec: refuse a rewrite */
	if (memmem(st->buf, st->len, spec, strlen(spec)) == NULL)
		return;
	m->from_addr = xstrdup(spec);
	m->from_display = prs_display_dup(mb->mb_display_name);
}

static int msgid_ok(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++) {
		unsigned char c = (unsigned char)id[n];

		if (c <= ' ' || c >= 0x7F || c == '<' || c == '>')
			return 0;
	}
	return n > 0 && n <= PRS_MSGID_MAX;
}

static void on_field(struct prs_msg *m, struct prs_state *st,
		     const struct mailimf_field *fd)
{
	const struct mailimf_message_id *mid;
	const struct mailimf_subject *sbj;

	switch (fd->fld_type) {
	case MAILIMF_FIELD_FROM:
		on_from(m, st, fd->fld_data.fld_from);
		break;
	case MAILIMF_FIELD_SUBJECT:
		sbj = fd->fld_data.fld_subject;
		if (st->subject_seen++ || sbj == NULL || sbj->sbj_value == NULL)
			break;
		m->subject =
			prs_decode_2047(sbj->sbj_value, strlen(sbj->sbj_value));
		break;
	case MAILIMF_FIELD_MESSAGE_ID:
		mid = fd->fld_data.fld_message_id;
		if (st->msgid_seen++ || mid == NULL || mid->mid_value == NULL)
			break;
		if (msgid_ok(mid->mid_value))
			m->message_id = xstrdup(mid->mid_value);
		break;
	case MAILIMF_FIELD_OPTIONAL_FIELD:
		if (fd->fld_data.fld_optional_field != NULL)
			on_optional(m, st, fd->fld_data.fld_optional_field);
		break;
	default:
		break;
	}
}

/* X-Original-To (the first that parses), else Delivered-To. */
static void pick_requested(struct prs_msg *m)
{
	static const char *const names[] = {"X-Original-To", "Delivered-To"};
	const char *v;
	size_t next;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		next = 0;
		while ((v = prs_header(m, names[i], &next)) != NULL)
			if (addr_parse_mailbox(v, strlen(v), &m->requested,
					       NULL))
				return;
	}
}

void prs_limits_default(struct prs_limits *lim)
{
	lim->max_header_bytes = (size_t)1 << 20;
	lim->max_headers = 20000;
	lim->max_line = 8192;
	lim->mime_bytes = (size_t)1 << 20;
	lim->mime_depth = 16;
	lim->mime_parts = 200;
}

static size_t hdr_end(const char *buf, size_t len, size_t from);

/* Header fields and the longest line of the header block buf[0..end):
 * a field starts on a line that does not start with WSP. */
static int check_lines(const char *buf, size_t end,
		       const struct prs_limits *lim, struct mr_err *err)
{
	size_t fields = 0, i = 0;

	while (i < end) {
		const char *nl = memchr(buf + i, '\n', end - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) : end - i;

		if (n > 0 && buf[i + n - 1] == '\r')
			n--;
		if (n > lim->max_line) {
			mr_err_set(err, MR_PERM, "header-line-too-long");
			return -1;
		}
		if (n > 0 && buf[i] != ' ' && buf[i] != '\t' &&
		    ++fields > lim->max_headers) {
			mr_err_set(err, MR_PERM, "too-many-headers");
			return -1;
		}
		i += nl ? (size_t)(nl - (buf + i)) + 1 : n;
		if (nl == NULL)
			break;
	}
	return 0;
}

static int parse_headers(const char *buf, size_t len,
			 const struct prs_limits *lim, struct prs_msg **msg_r,
			 struct mr_err *err)
{
	struct prs_state st = {buf, len, 0, 0, 0, 0};
	struct mailimf_fields *f = NULL;
	struct prs_msg *m;
	size_t idx = 0, hend;
	int r;

	hend = hdr_end(buf, len, 0);
	if (check_lines(buf, hend ? hend : len, lim, err) < 0)
		return -1;
	r = mailimf_envelope_and_optional_fields_parse(buf, len, &idx, &f);
	if (r != MAILIMF_NO_ERROR) {
		mr_err_set(err, r == MAILIMF_ERROR_MEMORY ? MR_TEMP : MR_PERM,
			   "header parse failed (libetpan error %d)", r);
		return -1;
	}
	m = xcalloc(1, sizeof(*m));
	/* complete: libetpan stopped at the end, or on the blank line */
	m->headers_complete =
		idx == len || mailimf_crlf_parse(buf, len, &idx) == 0;
	m->header_bytes = idx;
	for (clistiter *it = clist_begin(f->fld_list); it != NULL;
	     it = clist_next(it))
		on_field(m, &st, clist_content(it));
	mailimf_fields_free(f);
	pick_requested(m);
	*msg_r = m;
	return 0;
}

/* ---- MIME structure (report detection) ---- */

/* Case-insensitive count of the words that open a container part: it
 * bounds the nesting depth and the containers mailmime_parse() can build
 * (libetpan-notes.md s.6), and is checked before calling it. */
static size_t count_containers(const char *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if ((c == 'm' || c == 'M') &&
		    ((len - i >= 10 &&
		      strncasecmp(buf + i, "multipart/", 10) == 0) ||
		     (len - i >= 8 &&
		      strncasecmp(buf + i, "message/", 8) == 0)))
			n++;
	}
	return n;
}

static int is_carried_original(const struct mailmime_content *ct)
{
	const struct mailmime_type *t = ct ? ct->ct_type : NULL;
	const char *sub = ct ? ct->ct_subtype : NULL;

	if (t == NULL || sub == NULL)
		return 0;
	if (t->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE &&
	    t->tp_data.tp_composite_type != NULL &&
	    t->tp_data.tp_composite_type->ct_type ==
		    MAILMIME_COMPOSITE_TYPE_MESSAGE)
		return mr_streq_ci(sub, "rfc822") || mr_streq_ci(sub, "global");
	if (t->tp_type == MAILMIME_TYPE_DISCRETE_TYPE &&
	    t->tp_data.tp_discrete_type != NULL &&
	    t->tp_data.tp_discrete_type->dt_type == MAILMIME_DISCRETE_TYPE_TEXT)
		return mr_streq_ci(sub, "rfc822-headers");
	return 0;
}

/* Walk the tree: parts, depth, carried originals. The depth is bounded
 * by count_containers() before the parse. */
static void mime_walk(struct prs_msg *m, const struct mailmime *mm,
		      size_t depth)
{
	m->mime_parts++;
	if (depth > m->mime_depth)
		m->mime_depth = depth;
	if (depth > 1 && is_carried_original(mm->mm_content_type))
		m->has_rfc822 = 1;
	switch (mm->mm_type) {
	case MAILMIME_MULTIPLE:
		for (clistiter *it =
			     clist_begin(mm->mm_data.mm_multipart.mm_mp_list);
		     it != NULL; it = clist_next(it))
			mime_walk(m, clist_content(it), depth + 1);
		break;
	case MAILMIME_MESSAGE:
		if (mm->mm_data.mm_message.mm_msg_mime != NULL)
			mime_walk(m, mm->mm_data.mm_message.mm_msg_mime,
				  depth + 1);
		break;
	default:
		break;
	}
}

static int top_is_multipart(const struct prs_msg *msg)
{
	const char *v = prs_header(msg, "Content-Type", NULL);
	struct mailmime_content *ct = NULL;
	size_t i = 0;
	int r;

	if (v == NULL ||
	    mailmime_content_parse(v, strlen(v), &i, &ct) != MAILIMF_NO_ERROR)
		return 0;
	r = ct->ct_type != NULL &&
	    ct->ct_type->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE &&
	    ct->ct_type->tp_data.tp_composite_type != NULL &&
	    ct->ct_type->tp_data.tp_composite_type->ct_type ==
		    MAILMIME_COMPOSITE_TYPE_MULTIPART;
	mailmime_content_free(ct);
	return r;
}

/* Scan the structure of the whole message buf[0..len) (buf[len] and
 * buf[len+1] are NUL). mailmime_parse() only behind the guards of
 * libetpan-notes.md s.6: size and container count checked first, the
 * tree never written back. */
static int scan_mime(struct prs_msg *m, const char *buf, size_t len,
		     const struct prs_limits *lim, struct mr_err *err)
{
	struct mailmime *root = NULL;
	size_t i = 0, containers;
	int r;

	if (len > lim->mime_bytes || !top_is_multipart(m))
		return 0;
	containers = count_containers(buf, len);
	if (containers >= lim->mime_parts) {
		mr_err_set(err, MR_PERM, "mime-too-many-parts");
		return -1;
	}
	r = mailmime_parse(buf, len, &i, &root);
	if (r != MAILIMF_NO_ERROR) {
		if (r == MAILIMF_ERROR_MEMORY) {
			mr_err_set(err, MR_TEMP, "mime parse: out of memory");
			return -1;
		}
		return 0; /* unparsable structure: the headers decide */
	}
	mime_walk(m, root, 1);
	mailmime_free(root);
	m->body_scanned = 1;
	if (m->mime_depth > lim->mime_depth) {
		mr_err_set(err, MR_PERM, "mime-too-deep");
		return -1;
	}
	if (m->mime_parts > lim->mime_parts) {
		mr_err_set(err, MR_PERM, "mime-too-many-parts");
		return -1;
	}
	return 0;
}

int prs_parse_limits(const char *buf, size_t len, const struct prs_limits *lim,
		     struct prs_msg **msg_r, struct mr_err *err)
{
	struct prs_msg *m = NULL;

	*msg_r = NULL;
	if (buf == NULL)
		buf = "", len = 0;
	if (parse_headers(buf, len, lim, &m, err) < 0)
		return -1;
	if (len > m->header_bytes && scan_mime(m, buf, len, lim, err) < 0) {
		prs_free(&m);
		return -1;
	}
	*msg_r = m;
	return 0;
}

int prs_parse(const char *buf, size_t len, struct prs_msg **msg_r,
	      struct mr_err *err)
{
	struct prs_limits lim;

	prs_limits_default(&lim);
	lim.max_header_bytes = len;
	lim.max_headers = lim.max_line = SIZE_MAX;
	return prs_parse_limits(buf, len, &lim, msg_r, err);
}

/* End of the header block in buf[0..len) (the offset just past its
 * blank line), looking at line ends from offset from on; 0 if none yet. */
static size_t hdr_end(const char *buf, size_t len, size_t from)
{
	const char *p = buf + from, *e = buf + len;

	if (from == 0 && len > 0 &&
	    (buf[0] == '\n' || (len > 1 && buf[0] == '\r' && buf[1] == '\n')))
		return buf[0] == '\n' ? 1 : 2;
	while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		if (p + 1 < e && p[1] == '\n')
			return (size_t)(p - buf) + 2;
		if (p + 2 < e && p[1] == '\r' && p[2] == '\n')
			return (size_t)(p - buf) + 3;
		p++;
	}
	return 0;
}

/* One read(2) of at most n bytes, retried on EINTR. */
static ssize_t read_some(int fd, char *p, size_t n)
{
	ssize_t r;

	do
		r = read(fd, p, n);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Read into *buf until the chunk that holds the end of the headers, or
 * EOF; *len_r gets what was read (the body's first bytes included).
 * Returns the header block size, or -1 with err set. */
static ssize_t read_header_block(int fd, size_t max_header, char **buf,
				 size_t *cap_r, size_t *len_r,
				 struct mr_err *err)
{
	size_t len = 0, cap = 0, end = 0, from;
	ssize_t r;

	for (;;) {
		if (cap - len < PRS_CHUNK) {
			cap = cap ? 2 * cap : PRS_CHUNK;
			*buf = xrealloc(*buf, cap + 2);
		}
		r = read_some(fd, *buf + len, PRS_CHUNK);
		if (r < 0) {
			mr_err_sys(err, MR_TEMP, errno, "read(message)");
			return -1;
		}
		if (r == 0)
			break;
		/* rescan two old bytes: a blank line may straddle reads */
		from = len > 2 ? len - 2 : 0;
		len += (size_t)r;
		end = hdr_end(*buf, len, from);
		if (end != 0 || len > max_header)
			break;
	}
	if (end == 0)
		end = len; /* EOF, or more than max_header without an end */
	if (end > max_header) {
		mr_err_set(err, MR_PERM, "headers-too-large");
		return -1;
	}
	*cap_r = cap;
	*len_r = len;
	return (ssize_t)end;
}

/* Read the rest of the message after buf[0..*len) while it stays within
 * max bytes. 1 all read, 0 larger than max, -1 read error. */
static int read_rest(int fd, char **buf, size_t *cap, size_t *len, size_t max,
		     struct mr_err *err)
{
	for (;;) {
		ssize_t r;

		if (*len > max)
			return 0;
		if (*cap - *len < PRS_CHUNK) {
			*cap = 2 * *cap;
			*buf = xrealloc(*buf, *cap + 2);
		}
		r = read_some(fd, *buf + *len, PRS_CHUNK);
		if (r < 0) {
			mr_err_sys(err, MR_TEMP, errno, "read(message)");
			return -1;
		}
		if (r == 0)
			return 1;
		*len += (size_t)r;
	}
}

int prs_read_limits(int fd, const struct prs_limits *lim,
		    struct prs_msg **msg_r, struct mr_err *err)
{
	char *buf = NULL, keep[2];
	size_t cap = 0, len = 0, end;
	ssize_t n;
	int rc = -1, r;

	*msg_r = NULL;
	n = read_header_block(fd, lim->max_header_bytes, &buf, &cap, &len, err);
	if (n < 0)
		goto out;
	end = (size_t)n;
	/* the header block alone, with its two NUL bytes */
	memcpy(keep, buf + end, 2);
	buf[end] = buf[end + 1] = 0;
	rc = parse_headers(buf, end, lim, msg_r, err);
	memcpy(buf + end, keep, 2);
	if (rc < 0 || len == end || !top_is_multipart(*msg_r))
		goto out;
	r = read_rest(fd, &buf, &cap, &len, lim->mime_bytes, err);
	if (r > 0) {
		buf[len] = buf[len + 1] = 0;
		r = scan_mime(*msg_r, buf, len, lim, err);
	}
	if (r < 0) {
		prs_free(msg_r);
		rc = -1;
	}
out:
	free(buf);
	return rc;
}

int prs_read(int fd, size_t max_header, struct prs_msg **msg_r,
	     struct mr_err *err)
{
	struct prs_limits lim;

	prs_limits_default(&lim);
	lim.max_header_bytes = max_header;
	lim.max_headers = lim.max_line = SIZE_MAX;
	return prs_read_limits(fd, &lim, msg_r, err);
}

void prs_free(struct prs_msg **msg)
{
	struct prs_msg *m;

	if (msg == NULL || *msg == NULL)
		return;
	m = *msg;
	for (size_t i = 0; i < m->n_hdrs; i++) {
		free(m->hdrs[i].name);
		free(m->hdrs[i].value);
	}
	free(m->hdrs);
	free(m->requested);
	free(m->from_addr);
	free(m->from_display);
	free(m->subject);
	free(m->message_id);
	free(m);
	*msg = NULL;
}

const char *prs_header(const struct prs_msg *msg, const char *name,
		       size_t *next)
{
	size_t i = next != NULL ? *next : 0;

	for (; i < msg->n_hdrs; i++) {
		if (mr_streq_ci(msg->hdrs[i].name, name)) {
			if (next != NULL)
				*next = i + 1;
			return msg->hdrs[i].value;
		}
	}
	if (next != NULL)
		*next = msg->n_hdrs;
	return NULL;
}

static int is_multipart_report(const struct mailmime_content *ct)
{
	const struct mailmime_composite_type *comp;

	if (ct->ct_type == NULL ||
	    ct->ct_type->tp_type != MAILMIME_TYPE_COMPOSITE_TYPE)
		return 0;
	comp = ct->ct_type->tp_data.tp_composite_type;
	if (comp == NULL || comp->ct_type != MAILMIME_COMPOSITE_TYPE_MULTIPART)
		return 0;
	/* the subtype keeps its case ("REPORT") */
	return ct->ct_subtype != NULL && mr_streq_ci(ct->ct_subtype, "report");
}

int prs_report_type_is(const struct prs_msg *msg, const char *report_type)
{
	struct mailmime_content *ct = NULL;
	const char *v = prs_header(msg, "Content-Type", NULL);
	size_t i = 0;
	int report;

	/* mailmime_content_parse only (notes s.4); hdrs values carry two
	 * NUL bytes after them (unfold_dup) */
	if (v == NULL ||
	    mailmime_content_parse(v, strlen(v), &i, &ct) != MAILIMF_NO_ERROR)
		return 0;
	report = is_multipart_report(ct);
	if (report && report_type != NULL) {
		const char *rt = mailmime_content_param_get(ct, "report-type");

		report = rt != NULL && mr_streq_ci(rt, report_type);
	}
	mailmime_content_free(ct);
	return report;
}

int prs_is_report(const struct prs_msg *msg)
{
	return prs_report_type_is(msg, NULL);
}
