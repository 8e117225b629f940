/* test_compose.c - unit tests of reply.c (composer) and blob.c
 * DESCRIPTION  Every reply is checked by re-parsing head + CRLF + body with
 *              libetpan (mailmime_parse, mailmime_part_parse,
 *              mailmime_encoded_phrase_parse), never by comparing with
 *              expected MIME text. Fixtures (attachment files, the
 *              responder config) are written into a temporary directory;
 *              the config goes through rcfg_parse().
 *              The "Re:" rule tested here: no "Re: " is added when the
 *              trimmed Subject starts with "re:" in any case; "Re : x"
 *              is not a prefix and gets one.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "blob.h"
#include "hash.h"
#include "mr.h"
#include "rcfg.h"
#include "reply.h"
#include "settings.h"
#include "t.h"

#define NOW ((time_t)1717495200) /* Tue, 4 Jun 2024 10:00:00 UTC */
#define N_RANDOM 300             /* random texts, one entry each */
#define E_RANDOM 7               /* index of the first random entry */
#define BIN_LEN (100 * 1024)
#define BIG_LEN (1024 * 1024)

/* Everything the cases share, built once in main(). */
struct fx {
	char dir[64];   /* temporary directory */
	char att[128];  /* its attachments folder */
	struct set set; /* settings, filled field by field */
	struct rcfg *rcfg;
	struct rpl_set *rs;
	char *bin; /* random 100 KB attachment */
	char *texts[E_RANDOM + N_RANDOM];
};

static struct fx fx;

/*
 * Fixture.
 */

static char *long_line(void)
{
	struct mr_buf b;

	buf_init(&b);
	while (b.len < 2000)
		buf_puts(&b, "x=y \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85\t ");
	buf_puts(&b, "end   \n");
	return buf_steal(&b, NULL);
}

static char *plain_text(void)
{
	char *ll = long_line();
	char *t = xasprintf("Hello \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 "
			    "\xd8\xaf\xd9\x86\xdb\x8c"
			    "\xd8\xa7  \n"
			    "tab at end\t\n"
			    "a = b == c =\n"
			    "From here\n.\n.dot start\n"
			    "CRLF line \r\n"
			    "lone\rCR\n"
			    "emoji \xf0\x9f\x98\x80 \xf0\x9f\x8e\x89\n"
			    "%s"
			    "=41 not an escape\n\n\n"
			    "no newline at the end  ",
			    ll);

	free(ll);
	return t;
}

static unsigned rnd_next(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/* Random valid UTF-8 built from pieces that stress the QP writer. */
static char *random_text(unsigned *seed)
{
	static const char *const pieces[] = {
		"a",        "b",
		" ",        "\t",
		"=",        "\n",
		"\r\n",     "\r",
		".",        "F",
		"From ",    "\xc3\xa9",
		"\xd8\xb3", "\xf0\x9f\x98\x80",
		"=20",      "xyz",
		"  ",       "--",
		"=_mr_",    "?",
		"~",        "\x7f",
		"\x01",
	};
	size_t n = rnd_next(seed) % 400;
	struct mr_buf b;

	buf_init(&b);
	buf_append(&b, "", 0); /* buf_steal of an unwritten buffer: no NUL */
	if (rnd_next(seed) % 4 == 0)
		n = 1000 + rnd_next(seed) % 1500; /* past 998 in a line */
	for (size_t i = 0; i < n; i++) {
		size_t k = rnd_next(seed) % (sizeof(pieces) / sizeof(*pieces));

		if (n > 900 && (k == 5 || k == 6 || k == 7))
			k = 0;
		buf_puts(&b, pieces[k]);
	}
	return buf_steal(&b, NULL);
}

static void json_str(struct mr_buf *j, const char *s)
{
	buf_append(j, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_printf(j, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(j, "\\u%04x", c);
		else
			buf_append(j, s, 1);
	}
	buf_append(j, "\"", 1);
}

static void write_file(const char *rel, const void *data, size_t len)
{
	char *path = xasprintf("%s/%s", fx.att, rel);
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(2);
	}
	free(path);
}

static void make_files(void)
{
	char *big = xmalloc(BIG_LEN);
	char *sub;

	snprintf(fx.att, sizeof(fx.att), "%s/att", fx.dir);
	sub = xasprintf("%s/files", fx.att);
	if (mkdir(fx.att, 0700) < 0 || mkdir(sub, 0700) < 0) {
		perror("mkdir");
		exit(2);
	}
	free(sub);
	fx.bin = xmalloc(BIN_LEN);
	if (hash_random(fx.bin, BIN_LEN) < 0 || hash_random(big, BIG_LEN) < 0)
		exit(2);
	write_file("files/app.apk", fx.bin, BIN_LEN);
	write_file("files/Setup.EXE", "MZ\x90\0", 4);
	write_file("files/doc.pdf", "%PDF-1.4\n", 9);
	write_file("files/big.zip", big, BIG_LEN);
	write_file("files/empty.txt", "", 0);
	free(big);
}

static const char *const att_all = "[[\"files\",\"app.apk\",\"app.apk\"],"
				   "[\"files\",\"Setup.EXE\",\"Setup.EXE\"],"
				   "[\"files\",\"doc.pdf\",\"doc.pdf\"]]";

static void add_entry(struct mr_buf *j, size_t i, const char *body,
		      const char *atts)
{
	buf_printf(j,
		   "%s{\"email_addr\":\"Get%zu@Example.org\",\"body\":%s,"
		   "\"attachments\":%s,\"send_method\":\"SMTP\"}",
		   i ? "," : "[", i, body, atts ? atts : "null");
}

static char *pair(const char *type, const char *text)
{
	struct mr_buf b;

	buf_init(&b);
	buf_printf(&b, "[\"%s\",", type);
	json_str(&b, text);
	buf_puts(&b, "]");
	return buf_steal(&b, NULL);
}

/* Entries: 0 one plain body; 1 html then plain; 2 plain, html and
 * three attachments; 3 empty body; 4 a 1 MB attachment; 5 one body and
 * one untouched attachment; 6 three bodies; 7.. random texts. */
static char *config_json(void)
{
	struct mr_buf j, b;
	char *p[3];

	buf_init(&j);
	buf_init(&b);
	for (size_t i = 0; i < E_RANDOM + N_RANDOM; i++)
		free(fx.texts[i]);
	fx.texts[0] = plain_text();
	fx.texts[1] = xstrdup("<p>\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 = "
			      "html</p>\n");
	fx.texts[2] = xstrdup("plain part \n");
	fx.texts[3] = xstrdup("");
	fx.texts[4] = xstrdup("see the attachment\n");
	json_str(&b, fx.texts[0]);
	add_entry(&j, 0, b.data, NULL);
	p[0] = pair("text/html", fx.texts[1]);
	p[1] = pair("text/plain", fx.texts[2]);
	p[2] = pair("text/enriched", fx.texts[4]);
	buf_reset(&b);
	buf_printf(&b, "[%s,%s]", p[0], p[1]);
	add_entry(&j, 1, b.data, NULL);
	buf_reset(&b);
	buf_printf(&b, "[%s,%s]", p[1], p[0]);
	add_entry(&j, 2, b.data, att_all);
	add_entry(&j, 3, "\"\"", NULL);
	add_entry(&j, 4, "\"see the attachment\\n\"",
		  "[[\"files\",\"big.zip\",\"big.zip\"]]");
	add_entry(&j, 5, "\"see the attachment\\n\"",
		  "[[\"files\",\"doc.pdf\",\"doc.pdf\"],"
		  "[\"files\",\"empty.txt\",\"notes.TXT\"]]");
	buf_reset(&b);
	buf_printf(&b, "[%s,%s,%s]", p[0], p[1], p[2]);
	add_entry(&j, 6, b.data, NULL);
	for (int i = 0; i < 3; i++)
		free(p[i]);
	fx.texts[5] = fx.texts[6] = NULL;
	for (unsigned i = 0, seed = 7; i < N_RANDOM; i++) {
		fx.texts[E_RANDOM + i] = random_text(&seed);
		buf_reset(&b);
		json_str(&b, fx.texts[E_RANDOM + i]);
		add_entry(&j, E_RANDOM + i, b.data, NULL);
	}
	buf_puts(&j, "]");
	buf_free(&b);
	return buf_steal(&j, NULL);
}

static char *provider_v[] = {"gmail.com", "googlemail.com", "outlook.com",
			     "hotmail.com"};
static struct set_rename renames[] = {{".exe", ""}, {".apk", ".ap_"}};

static void fill_set(struct set *s)
{
	memset(s, 0, sizeof(*s));
	s->from = "Get \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 <get@example.org>";
	s->from_addr = "get@example.org";
	s->from_display = "Get \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85";
	s->provider_domains.v = provider_v;
	s->provider_domains.n = 4;
	s->provider_renames = renames;
	s->n_provider_renames = 2;
}

static struct rpl_set *build(struct blob *b, struct mr_msgs *pr)
{
	char *json = config_json();
	struct rcfg *c = rcfg_parse(json, strlen(json), pr);
	struct rpl_set *rs = c ? rpl_set_build(&fx.set, c, b, pr) : NULL;

	free(json);
	if (fx.rcfg == NULL)
		fx.rcfg = c;
	else
		rcfg_free(&c);
	return rs;
}

static void fx_setup(void)
{
	struct mr_msgs pr = {0};
	struct mr_err err;
	struct blob *b;

	snprintf(fx.dir, sizeof(fx.dir), "/tmp/mr_compose_XXXXXX");
	if (mkdtemp(fx.dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	make_files();
	fill_set(&fx.set);
	b = blob_open(fx.att, &err);
	if (b == NULL)
		exit(2);
	fx.rs = build(b, &pr);
	for (size_t i = 0; i < pr.n; i++)
		fprintf(stderr, "problem: %s\n", pr.v[i]);
	mr_msgs_free(&pr);
	blob_close(&b);
	if (fx.rs == NULL)
		exit(2);
}

static void fx_teardown(void)
{
	rpl_set_free(&fx.rs);
	rcfg_free(&fx.rcfg);
	for (size_t i = 0; i < E_RANDOM + N_RANDOM; i++)
		free(fx.texts[i]);
	free(fx.bin);
	if (t_rm_tree(fx.dir) != 0)
		fprintf(stderr, "cannot remove %s\n", fx.dir);
}

/*
 * Reading a reply back with libetpan.
 */

struct parsed {
	char *buf; /* head + CRLF + body, two NULs after */
	size_t len;
	struct mailmime *root;
};

static struct rpl_req req_for(const char *to)
{
	struct rpl_req r = {
		.to_addr = to,
		.reply_to = "get@example.org",
		.subject = "Question",
		.message_id = "abc.123@sender.test",
		.now = NOW,
	};

	return r;
}

static int parse_msg(const struct rpl_msg *m, struct parsed *p)
{
	size_t i = 0;

	p->len = m->head.len + 2 + m->body_len;
	p->buf = xmalloc(p->len + 2);
	memcpy(p->buf, m->head.data, m->head.len);
	memcpy(p->buf + m->head.len, "\r\n", 2);
	memcpy(p->buf + m->head.len + 2, m->body, m->body_len);
	p->buf[p->len] = p->buf[p->len + 1] = 0;
	p->root = NULL;
	return mailmime_parse(p->buf, p->len, &i, &p->root);
}

static void parsed_free(struct parsed *p)
{
	if (p->root)
		mailmime_free(p->root);
	free(p->buf);
}

static int compose_parse(size_t entry, const struct rpl_req *r,
			 struct rpl_msg *m, struct parsed *p)
{
	struct mr_err err;

	mr_err_clear(&err);
	if (rpl_compose(fx.rs, entry, r, m, &err) < 0) {
		fprintf(stderr, "# compose: %s\n", err.text);
		p->buf = NULL;
		p->root = NULL;
		return -1;
	}
	return parse_msg(m, p) == MAILIMF_NO_ERROR ? 0 : -1;
}

static struct mailmime *top(const struct parsed *p)
{
	return p->root->mm_data.mm_message.mm_msg_mime;
}

static void ctype(const struct mailmime *m, struct mr_buf *out)
{
	const struct mailmime_type *t = m->mm_content_type->ct_type;
	static const char *const disc[] = {"?",     "text",  "image",
					   "audio", "video", "application"};
	const char *ty = "?";

	if (t->tp_type == MAILMIME_TYPE_DISCRETE_TYPE) {
		int d = t->tp_data.tp_discrete_type->dt_type;

		ty = d >= 0 && d <= MAILMIME_DISCRETE_TYPE_APPLICATION
			     ? disc[d]
			     : t->tp_data.tp_discrete_type->dt_extension;
	} else if (t->tp_data.tp_composite_type->ct_type ==
		   MAILMIME_COMPOSITE_TYPE_MULTIPART) {
		ty = "multipart";
	}
	buf_printf(out, "%s/%s", ty, m->mm_content_type->ct_subtype);
}

/* "multipart/mixed(multipart/alternative(text/plain,...),...)" */
static void shape(const struct mailmime *m, struct mr_buf *out)
{
	clistiter *it;

	if (m->mm_content_type == NULL) {
		buf_puts(out, "(no content type)");
		return;
	}
	ctype(m, out);
	if (m->mm_type != MAILMIME_MULTIPLE)
		return;
	buf_puts(out, "(");
	for (it = clist_begin(m->mm_data.mm_multipart.mm_mp_list); it;
	     it = clist_next(it)) {
		shape(clist_content(it), out);
		if (clist_next(it))
			buf_puts(out, ",");
	}
	buf_puts(out, ")");
}

static char *shape_of(const struct parsed *p)
{
	struct mr_buf b;

	buf_init(&b);
	shape(top(p), &b);
	return buf_steal(&b, NULL);
}

/* Leaf parts in order. */
static size_t leaves(struct mailmime *m, struct mailmime **v, size_t max,
		     size_t n)
{
	if (m->mm_type == MAILMIME_SINGLE) {
		if (n < max)
			v[n] = m;
		return n + 1;
	}
	if (m->mm_type == MAILMIME_MESSAGE)
		return leaves(m->mm_data.mm_message.mm_msg_mime, v, max, n);
	for (clistiter *it = clist_begin(m->mm_data.mm_multipart.mm_mp_list);
	     it; it = clist_next(it))
		n = leaves(clist_content(it), v, max, n);
	return n;
}

/* The decoded bytes of a leaf (malloc'd copy of the input with two NULs
 * after it, so that the QP decoder's over-read stays inside). */
static char *decode(const struct mailmime *m, size_t *len_r)
{
	const struct mailmime_data *d = m->mm_data.mm_single;
	size_t n = d->dt_data.dt_text.dt_length, i = 0, dl = 0;
	char *in = xcalloc(1, n + 2), *dec = NULL, *out;

	memcpy(in, d->dt_data.dt_text.dt_data, n);
	if (mailmime_part_parse(in, n, &i, d->dt_encoding, &dec, &dl) !=
	    MAILIMF_NO_ERROR) {
		free(in);
		return NULL;
	}
	out = xmalloc(dl + 1);
	memcpy(out, dec, dl);
	out[dl] = 0;
	*len_r = dl;
	mailmime_decoded_part_free(dec);
	free(in);
	return out;
}

/* The config text with every lone LF turned into CRLF. */
static char *crlf(const char *s, size_t *len_r)
{
	struct mr_buf b;

	buf_init(&b);
	for (; *s; s++) {
		if (*s == '\n' && (b.len == 0 || b.data[b.len - 1] != '\r'))
			buf_append(&b, "\r", 1);
		buf_append(&b, s, 1);
	}
	return buf_steal(&b, len_r);
}

static int text_equal(const struct mailmime *m, const char *want)
{
	size_t wl, gl = 0;
	char *w = crlf(want, &wl), *g = decode(m, &gl);
	int ok = g != NULL && gl == wl && memcmp(g, w, wl) == 0;

	free(w);
	free(g);
	return ok;
}

static const char *filename(struct mailmime *m)
{
	struct mailmime_single_fields sf;

	mailmime_single_fields_init(&sf, m->mm_mime_fields, m->mm_content_type);
	return sf.fld_disposition_filename;
}

/* 1 if every line ends in CRLF (no bare CR or LF), has <= max bytes and
 * does not end in SP/TAB (transports may strip those: RFC 2045 6.7). */
static int lines_ok(const char *s, size_t n, size_t max)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
			return 0;
		if (s[i] != '\n')
			continue;
		if (i == 0 || s[i - 1] != '\r' || i - 1 - start > max)
			return 0;
		if (i >= 2 && (s[i - 2] == ' ' || s[i - 2] == '\t'))
			return 0;
		start = i + 1;
	}
	return start == n; /* ends with CRLF */
}

/* The value of the first raw header line "Name: " in the head. */
static char *head_value(const struct rpl_msg *m, const char *name)
{
	size_t n = strlen(name);
	const char *p = m->head.data;

	while (p && *p) {
		const char *e = strstr(p, "\r\n");

		if (strncmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ')
			return xstrndup(p + n + 2, (size_t)(e - p - n - 2));
		p = e ? e + 2 : NULL;
	}
	return NULL;
}

/* A check that the header name of m has the value want. */
#define T_HEAD(m, name, want) t_head(__FILE__, __LINE__, (m), (name), (want))

static void t_head(const char *file, int line, const struct rpl_msg *m,
		   const char *name, const char *want)
{
	char *v = head_value(m, name);

	if (v == NULL || strcmp(v, want) != 0) {
		char *note = xasprintf("%s: \"%s\", want \"%s\"", name,
				       v ? v : "(none)", want);

		t_note(file, line, note);
		free(note);
	}
	free(v);
}

/* Subject (unfolded by the decoder) decoded to UTF-8. */
/* The first header field of type in the parsed message, or NULL. */
static struct mailimf_field *field_of(const struct parsed *p, int type)
{
	struct mailimf_fields *f = p->root->mm_data.mm_message.mm_fields;

	for (clistiter *it = clist_begin(f->fld_list); it;
	     it = clist_next(it)) {
		struct mailimf_field *fd = clist_content(it);

		if (fd->fld_type == type)
			return fd;
	}
	return NULL;
}

static char *subject_of(const struct parsed *p)
{
	struct mailimf_field *fd = field_of(p, MAILIMF_FIELD_SUBJECT);
	char *out = NULL;
	const char *v;
	size_t i = 0;

	if (fd == NULL)
		return NULL;
	v = fd->fld_data.fld_subject->sbj_value;
	if (mailmime_encoded_phrase_parse("utf-8", v, strlen(v), &i, "utf-8",
					  &out) != 0)
		return NULL;
	return out;
}

/*
 * Cases.
 */

/* Entry i composed for to and parsed into m and p, checked to parse and,
 * unless want is NULL, to have the MIME shape want. 0 when p holds the
 * message (free p and m then), -1 when not. */
static int composed(size_t i, const char *to, const char *want,
		    struct rpl_msg *m, struct parsed *p)
{
	struct rpl_req r = req_for(to);
	char *s;

	T_OK(compose_parse(i, &r, m, p) == 0);
	if (p->root == NULL)
		return -1;
	if (want != NULL) {
		s = shape_of(p);
		T_STR(s, want);
		free(s);
	}
	return 0;
}

T_CASE(single_body_round_trip)
{
	struct mailmime *v[4];
	struct rpl_msg m;
	struct parsed p;

	if (composed(0, "john.doe@sender.test", "text/plain", &m, &p) < 0)
		return;
	T_INT(leaves(top(&p), v, 4, 0), 1);
	T_OK(text_equal(v[0], fx.texts[0]));
	T_OK(lines_ok(p.buf, p.len, 998));
	T_OK(lines_ok(m.body, m.body_len, 76));
	T_OK(strstr(m.head.data, "Content-Type: text/plain; "
				 "charset=\"utf-8\"\r\n") != NULL);
	T_OK(strstr(m.head.data, "Content-Transfer-Encoding: "
				 "quoted-printable\r\n") != NULL);
	parsed_free(&p);
	rpl_msg_free(&m);
}

T_CASE(empty_body)
{
	struct mailmime *v[2];
	struct rpl_msg m;
	struct parsed p;

	if (composed(3, "john.doe@sender.test", NULL, &m, &p) < 0)
		return;
	T_INT(leaves(top(&p), v, 2, 0), 1);
	T_OK(text_equal(v[0], ""));
	T_OK(lines_ok(p.buf, p.len, 998));
	parsed_free(&p);
	rpl_msg_free(&m);
}

T_CASE(two_bodies_html_last)
{
	struct mailmime *v[4];
	struct rpl_msg m;
	struct parsed p;

	if (composed(1, "john.doe@sender.test",
		     "multipart/alternative(text/plain,text/html)", &m, &p) < 0)
		return;
	T_INT(leaves(top(&p), v, 4, 0), 2);
	T_OK(text_equal(v[0], fx.texts[2]));
	T_OK(text_equal(v[1], fx.texts[1]));
	T_OK(lines_ok(p.buf, p.len, 998));
	parsed_free(&p);
	rpl_msg_free(&m);
	if (composed(
		    6, "john.doe@sender.test",
		    "multipart/alternative(text/plain,text/enriched,text/html)",
		    &m, &p) < 0)
		return;
	parsed_free(&p);
	rpl_msg_free(&m);
}

static void check_att(struct mailmime *m, const char *name, const char *type,
		      const char *data, size_t len)
{
	struct mr_buf t;
	size_t dl = 0;
	char *d = decode(m, &dl);

	buf_init(&t);
	ctype(m, &t);
	T_STR(t.data, type);
	T_STR(filename(m), name);
	T_OK(d != NULL && dl == len && memcmp(d, data, len) == 0);
	buf_free(&t);
	free(d);
}

static void check_entry2(const char *to, int variant)
{
	struct mailmime *v[8];
	struct rpl_msg m;
	struct parsed p;

	if (composed(2, to,
		     variant ? "multipart/mixed(multipart/alternative(text/"
			       "plain,text/html),application/octet-stream,"
			       "application/octet-stream,application/pdf)"
			     : "multipart/mixed(multipart/alternative(text/"
			       "plain,text/html),application/vnd.android."
			       "package-archive,application/octet-stream,"
			       "application/pdf)",
		     &m, &p) < 0)
		return;
	T_INT(m.variant, variant);
	T_INT(leaves(top(&p), v, 8, 0), 5);
	T_OK(text_equal(v[0], fx.texts[2]));
	T_OK(text_equal(v[1], fx.texts[1]));
	check_att(v[2], variant ? "app.ap_" : "app.apk",
		  variant ? "application/octet-stream"
			  : "application/vnd.android.package-archive",
		  fx.bin, BIN_LEN);
	check_att(v[3], variant ? "Setup" : "Setup.EXE",
		  "application/octet-stream", "MZ\x90\0", 4);
	check_att(v[4], "doc.pdf", "application/pdf", "%PDF-1.4\n", 9);
	T_OK(lines_ok(p.buf, p.len, 998));
	T_OK(lines_ok(m.body, m.body_len, 76));
	parsed_free(&p);
	rpl_msg_free(&m);
}

T_CASE(attachments_plain_names)
{
	check_entry2("john.doe@sender.test", 0);
	check_entry2("x@gmail.com.evil.test", 0);
}

T_CASE(attachments_provider_names)
{
	check_entry2("john.doe@gmail.com", 1);
	check_entry2("John@HotMail.COM", 1);
	check_entry2("a@outlook.com", 1);
}

T_CASE(variant_shared_without_rename)
{
	struct rpl_req r0 = req_for("a@sender.test"),
		       r1 = req_for("a@gmail.com");
	struct mailmime *v[4];
	struct rpl_msg m0, m1;
	struct parsed p;
	struct mr_err err;

	T_OK(rpl_compose(fx.rs, 5, &r0, &m0, &err) == 0);
	T_OK(rpl_compose(fx.rs, 5, &r1, &m1, &err) == 0);
	T_OK(m0.body == m1.body);
	T_INT(m1.variant, 1);
	T_OK(parse_msg(&m1, &p) == MAILIMF_NO_ERROR);
	if (p.root) {
		T_INT(leaves(top(&p), v, 4, 0), 3);
		check_att(v[1], "doc.pdf", "application/pdf", "%PDF-1.4\n", 9);
		check_att(v[2], "notes.TXT", "text/plain", "", 0);
	}
	parsed_free(&p);
	rpl_msg_free(&m0);
	rpl_msg_free(&m1);
}

T_CASE(random_texts_round_trip)
{
	struct rpl_req r = req_for("john.doe@sender.test");
	int bad = 0, badlines = 0;

	for (size_t i = 0; i < N_RANDOM; i++) {
		struct mailmime *v[2];
		struct rpl_msg m;
		struct parsed p;

		if (compose_parse(E_RANDOM + i, &r, &m, &p) < 0 ||
		    leaves(top(&p), v, 2, 0) != 1 ||
		    !text_equal(v[0], fx.texts[E_RANDOM + i]))
			bad++;
		if (p.buf && !lines_ok(m.body, m.body_len, 76))
			badlines++;
		parsed_free(&p);
		rpl_msg_free(&m);
	}
	T_INT(bad, 0);
	T_INT(badlines, 0);
}

T_CASE(headers)
{
	struct rpl_req r = req_for("John.Doe@Sender.test");
	struct rpl_msg m;
	struct parsed p;

	T_OK(compose_parse(0, &r, &m, &p) == 0);
	T_HEAD(&m, "Date", "Tue, 4 Jun 2024 10:00:00 +0000");
	T_HEAD(&m, "To", "John.Doe@Sender.test");
	T_HEAD(&m, "Reply-To", "get@example.org");
	T_HEAD(&m, "In-Reply-To", "<abc.123@sender.test>");
	T_HEAD(&m, "References", "<abc.123@sender.test>");
	T_HEAD(&m, "Auto-Submitted", "auto-replied");
	T_HEAD(&m, "MIME-Version", "1.0");
	T_OK(strncmp(m.head.data, "Date: ", 6) == 0);
	T_OK(m.head.len >= 2 &&
	     memcmp(m.head.data + m.head.len - 2, "\r\n", 2) == 0);
	T_OK(lines_ok(m.head.data, m.head.len, 78));
	parsed_free(&p);
	rpl_msg_free(&m);
}

T_CASE(header_order)
{
	static const char *const names[] = {
		"Date",         "From",         "Reply-To",
		"To",           "Message-ID",   "In-Reply-To",
		"References",   "Subject",      "Auto-Submitted",
		"MIME-Version", "Content-Type", "Content-Transfer-Encoding"};
	struct rpl_req r = req_for("a@sender.test");
	struct rpl_msg m;
	struct mr_err err;
	const char *p;
	size_t k = 0;

	T_OK(rpl_compose(fx.rs, 0, &r, &m, &err) == 0);
	for (p = m.head.data; p && *p;
	     p = strstr(p, "\r\n"), p = p ? p + 2 : p) {
		size_t n;

		if (*p == ' ' || *p == '\t')
			continue;
		n = strcspn(p, ":");
		T_OK(k < 12 && strlen(names[k]) == n &&
		     strncmp(p, names[k], n) == 0);
		k++;
	}
	T_INT(k, 12);
	rpl_msg_free(&m);
}

T_CASE(date_utc)
{
	struct rpl_req r = req_for("a@sender.test");
	struct rpl_msg m;
	struct mr_err err;

	setenv("TZ", "Asia/Tehran", 1);
	tzset();
	r.now = 1735689599; /* 2024-12-31 23:59:59 UTC */
	T_OK(rpl_compose(fx.rs, 0, &r, &m, &err) == 0);
	T_HEAD(&m, "Date", "Tue, 31 Dec 2024 23:59:59 +0000");
	rpl_msg_free(&m);
	unsetenv("TZ");
	tzset();
}

static char *display_of(const struct parsed *p)
{
	struct mailimf_field *fd = field_of(p, MAILIMF_FIELD_FROM);
	struct mailimf_mailbox *mb;
	char *dn = NULL;
	size_t i = 0;

	if (fd == NULL)
		return NULL;
	mb = clist_content(
		clist_begin(fd->fld_data.fld_from->frm_mb_list->mb_list));
	T_STR(mb->mb_addr_spec, "get@example.org");
	if (mb->mb_display_name == NULL)
		return xstrdup("(none)");
	if (mailmime_encoded_phrase_parse("utf-8", mb->mb_display_name,
					  strlen(mb->mb_display_name), &i,
					  "utf-8", &dn) != 0)
		return NULL;
	return dn;
}

/* Compose entry 0 with another From display name. */
static char *from_with(const char *display, struct rpl_msg *m)
{
	struct mr_msgs pr = {0};
	struct rpl_req r = req_for("a@sender.test");
	struct set s = fx.set;
	struct mr_err err;
	struct blob *b = blob_open(fx.att, &err);
	struct rpl_set *rs;
	struct parsed p = {0};
	char *dn = NULL;

	s.from_display = (char *)display;
	buf_init(&m->head);
	m->body = NULL;
	rs = rpl_set_build(&s, fx.rcfg, b, &pr);
	T_OK(rs != NULL && pr.n == 0);
	if (rs && rpl_compose(rs, 0, &r, m, &err) == 0 &&
	    parse_msg(m, &p) == MAILIMF_NO_ERROR)
		dn = display_of(&p);
	parsed_free(&p);
	rpl_set_free(&rs);
	mr_msgs_free(&pr);
	blob_close(&b);
	return dn;
}

T_CASE(from_header)
{
	static const char *const names[] = {
		"Get \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85", "Doe, \"J\" Service",
		"J. R. Service", "Plain Name", "=?utf-8?q?not_encoded?="};
	struct rpl_msg m;
	char *dn;

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		dn = from_with(names[i], &m);
		T_STR(dn, names[i]);
		T_OK(lines_ok(m.head.data, m.head.len, 78));
		free(dn);
		rpl_msg_free(&m);
	}
	dn = from_with(NULL, &m);
	T_STR(dn, "(none)");
	T_HEAD(&m, "From", "get@example.org");
	free(dn);
	rpl_msg_free(&m);
	dn = from_with("Plain Name", &m);
	T_HEAD(&m, "From", "Plain Name <get@example.org>");
	free(dn);
	rpl_msg_free(&m);
}

T_CASE(no_blob_source)
{
	struct mr_msgs pr = {0};
	struct rpl_set *rs = rpl_set_build(&fx.set, fx.rcfg, NULL, &pr);

	T_OK(rs == NULL);
	T_INT(pr.n, 6); /* entries 2, 4 and 5: each attachment reported */
	T_OK(pr.n > 0 && strcmp(pr.v[0], "entry 2: attachment "
					 "files/app.apk: no attachment "
					 "source") == 0);
	mr_msgs_free(&pr);
}

T_CASE(bad_from)
{
	struct mr_msgs pr = {0};
	struct set s = fx.set;
	struct mr_err err;
	struct blob *b = blob_open(fx.att, &err);
	struct rpl_set *rs;

	s.from_addr = "broken address@example.org";
	rs = rpl_set_build(&s, fx.rcfg, b, &pr);
	T_OK(rs == NULL);
	T_OK(pr.n == 1 && strncmp(pr.v[0], "from: ", 6) == 0);
	mr_msgs_free(&pr);
	blob_close(&b);
}

static char *subject_for(const char *orig, struct rpl_msg *m)
{
	struct rpl_req r = req_for("a@sender.test");
	struct parsed p;
	char *s = NULL;

	r.subject = orig;
	if (compose_parse(0, &r, m, &p) == 0) {
		s = subject_of(&p);
		if (!lines_ok(m->head.data, m->head.len, 998)) {
			free(s);
			s = xstrdup("(bad lines)");
		}
	}
	parsed_free(&p);
	return s;
}

static void check_subject(const char *orig, const char *want)
{
	struct rpl_msg m;
	char *s = subject_for(orig, &m);

	T_STR(s, want);
	free(s);
	rpl_msg_free(&m);
}

T_CASE(subject_re_rule)
{
	check_subject("Question", "Re: Question");
	check_subject("RE: Question", "RE: Question");
	check_subject("re:Question", "re:Question");
	check_subject("  Re: Question", "Re: Question");
	check_subject("Re : Question", "Re: Re : Question");
	check_subject("Fwd: Re: x", "Re: Fwd: Re: x");
	check_subject("Rex", "Re: Rex");
	check_subject(NULL, "Re:");
	check_subject("", "Re:");
	check_subject("   ", "Re:");
}

T_CASE(subject_encoding)
{
	struct rpl_msg m;
	char *s;

	check_subject("\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 caf\xc3\xa9",
		      "Re: \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 caf\xc3\xa9");
	check_subject("party \xf0\x9f\x8e\x89\xf0\x9f\x98\x80 time",
		      "Re: party \xf0\x9f\x8e\x89\xf0\x9f\x98\x80 time");
	check_subject("a =?utf-8?q?x?= b", "Re: a =?utf-8?q?x?= b");
	s = subject_for("plain ascii", &m);
	T_HEAD(&m, "Subject", "Re: plain ascii"); /* readable, not encoded */
	free(s);
	rpl_msg_free(&m);
}

static char *repeat(const char *unit, size_t n)
{
	struct mr_buf b;

	buf_init(&b);
	while (b.len < n)
		buf_puts(&b, unit);
	b.data[n] = 0;
	b.len = n;
	return buf_steal(&b, NULL);
}

/* The reply's subject to orig is "Re: " and all of orig, its header lines
 * folded to 78 where orig has room for it; frees orig. */
static void long_subject_kept(char *orig)
{
	struct rpl_msg m;
	char *want = xasprintf("Re: %s", orig), *s = subject_for(orig, &m);

	T_STR(s, want);
	T_OK(lines_ok(m.head.data, m.head.len, 78));
	free(s);
	rpl_msg_free(&m);
	free(orig);
	free(want);
}

T_CASE(subject_long)
{
	char *orig = repeat("word ", 300);

	orig[299] = 'x';
	long_subject_kept(orig);
	/* 300 Persian characters (600 bytes) */
	long_subject_kept(repeat("\xd8\xb3", 600));
	/* 1500 spaces in a row cannot be folded either */
	orig = repeat(" ", 1502);
	orig[0] = 'a';
	orig[1501] = 'b';
	long_subject_kept(orig);
	/* one 1200-character word: must stay below 998 per line */
	long_subject_kept(repeat("abcdefghij", 1200));
}

T_CASE(subject_controls)
{
	struct rpl_msg m;
	char *s = subject_for("hi\r\nBcc: evil@x.test\tthere", &m);

	T_STR(s, "Re: hi Bcc: evil@x.test there"); /* runs collapse on read */
	T_OK(strstr(m.head.data, "\r\nBcc:") == NULL);
	T_OK(lines_ok(m.head.data, m.head.len, 998));
	free(s);
	rpl_msg_free(&m);
}

T_CASE(in_reply_to_absent)
{
	struct rpl_req r = req_for("a@sender.test");
	struct rpl_msg m;
	struct mr_err err;

	r.message_id = NULL;
	T_OK(rpl_compose(fx.rs, 0, &r, &m, &err) == 0);
	T_OK(strstr(m.head.data, "In-Reply-To:") == NULL);
	T_OK(strstr(m.head.data, "References:") == NULL);
	rpl_msg_free(&m);
	r.message_id = "";
	T_OK(rpl_compose(fx.rs, 0, &r, &m, &err) == 0);
	T_OK(strstr(m.head.data, "In-Reply-To:") == NULL);
	rpl_msg_free(&m);
}

T_CASE(message_id)
{
	struct rpl_req r = req_for("a@sender.test");
	struct rpl_msg m1, m2;
	struct mr_err err;
	char *a, *b, *dot;

	T_OK(rpl_compose(fx.rs, 0, &r, &m1, &err) == 0);
	T_OK(rpl_compose(fx.rs, 0, &r, &m2, &err) == 0);
	a = head_value(&m1, "Message-ID");
	b = head_value(&m2, "Message-ID");
	T_OK(a && b && strcmp(a, b) != 0);
	T_OK(a && a[0] == '<' && strlen(a) > 24 &&
	     strcmp(a + strlen(a) - 24, ".1717495200@example.org>") == 0);
	dot = a ? strchr(a, '.') : NULL;
	T_OK(dot && dot - a - 1 >= 16 &&
	     strspn(a + 1, "0123456789abcdef") == (size_t)(dot - a - 1));
	T_OK(a && strstr(a, mr_hostname()) == NULL);
	free(a);
	free(b);
	rpl_msg_free(&m1);
	rpl_msg_free(&m2);
}

static void check_refused(const char *to, const char *reply_to, const char *mid)
{
	struct rpl_req r = req_for(to);
	struct rpl_msg m;
	struct mr_err err;

	r.reply_to = reply_to;
	r.message_id = mid;
	mr_err_clear(&err);
	T_INT(rpl_compose(fx.rs, 0, &r, &m, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(m.head.data == NULL && m.body == NULL);
	T_OK(strstr(err.text, "evil") == NULL);
	rpl_msg_free(&m);
}

T_CASE(header_injection)
{
	check_refused("a@b.test\r\nBcc: evil@x.test", "get@example.org", NULL);
	check_refused("a@b.test\nBcc: evil@x.test", "get@example.org", NULL);
	check_refused("Evil <a@b.test>", "get@example.org", NULL);
	check_refused("a@b.test", "get@example.org\rBcc: evil@x", NULL);
	check_refused("a@b.test", "get@example.org", "x@y\r\nBcc: evil@x");
	check_refused("a@b.test", "get@example.org", "x@y>\tevil");
	check_refused("", "get@example.org", NULL);
	check_refused("a@b.test", NULL, NULL);
	check_refused("nodomain@", "get@example.org", NULL);
}

T_CASE(unknown_entry)
{
	struct rpl_req r = req_for("a@sender.test");
	struct rpl_msg m;
	struct mr_err err;

	T_INT(rpl_compose(fx.rs, 100000, &r, &m, &err), -1);
	T_INT(err.kind, MR_PERM);
	rpl_msg_free(&m);
}

T_CASE(deterministic_bodies)
{
	struct mr_msgs pr = {0};
	struct mr_err err;
	struct blob *b = blob_open(fx.att, &err);
	struct rpl_set *rs2 = b ? build(b, &pr) : NULL;
	const char *to[2] = {"a@sender.test", "a@gmail.com"};
	int same = 0, total = 0;

	T_OK(rs2 != NULL);
	for (size_t e = 0; rs2 && e < E_RANDOM + N_RANDOM; e++) {
		for (int v = 0; v < 2; v++) {
			struct rpl_req r = req_for(to[v]);
			struct rpl_msg m1, m2;

			total++;
			if (rpl_compose(fx.rs, e, &r, &m1, &err) < 0 ||
			    rpl_compose(rs2, e, &r, &m2, &err) < 0)
				continue;
			same += m1.body != m2.body &&
				m1.body_len == m2.body_len &&
				memcmp(m1.body, m2.body, m1.body_len) == 0;
			rpl_msg_free(&m1);
			rpl_msg_free(&m2);
		}
	}
	T_INT(same, total);
	rpl_set_free(&rs2);
	T_OK(rs2 == NULL);
	mr_msgs_free(&pr);
	blob_close(&b);
}

T_CASE(missing_attachment)
{
	struct mr_msgs pr = {0};
	struct mr_err err;
	struct blob *b = blob_open(fx.att, &err);
	char *path = xasprintf("%s/files/doc.pdf", fx.att);
	char *moved = xasprintf("%s/files/doc.pdf.away", fx.att);
	struct rpl_set *rs2;

	T_OK(rename(path, moved) == 0);
	rs2 = build(b, &pr);
	T_OK(rs2 == NULL);
	T_INT(pr.n, 2); /* entries 2 and 5 */
	T_OK(pr.n > 0 && strncmp(pr.v[0],
				 "entry 2: attachment "
				 "files/doc.pdf: ",
				 35) == 0);
	T_OK(pr.n > 1 && strncmp(pr.v[1],
				 "entry 5: attachment "
				 "files/doc.pdf: ",
				 35) == 0);
	T_OK(rename(moved, path) == 0);
	rpl_set_free(&rs2);
	mr_msgs_free(&pr);
	blob_close(&b);
	free(path);
	free(moved);
}

T_CASE(is_provider)
{
	T_INT(rpl_is_provider(&fx.set, "x@gmail.com"), 1);
	T_INT(rpl_is_provider(&fx.set, "x@GMAIL.Com"), 1);
	T_INT(rpl_is_provider(&fx.set, "\"a@b\"@hotmail.com"), 1);
	T_INT(rpl_is_provider(&fx.set, "x@mail.gmail.com"), 0);
	T_INT(rpl_is_provider(&fx.set, "x@gmail.com.evil"), 0);
	T_INT(rpl_is_provider(&fx.set, "gmail.com"), 0);
	T_INT(rpl_is_provider(&fx.set, "x@"), 0);
}

static int decodes_to(const char *enc, const char *want)
{
	char *out = NULL;
	size_t i = 0;
	int ok;

	if (mailmime_encoded_phrase_parse("utf-8", enc, strlen(enc), &i,
					  "utf-8", &out) != 0)
		return 0;
	ok = strcmp(out, want) == 0;
	free(out);
	return ok;
}

/* Each word is at most 75 characters and decodes on its own to whole
 * UTF-8 characters. */
static int words_ok(const char *enc)
{
	char *copy = xstrdup(enc), *w = copy, *next;
	int ok = 1;

	for (; w; w = next) {
		char *out = NULL;
		size_t i = 0;

		next = strchr(w, ' ');
		if (next)
			*next++ = 0;

		ok &= strlen(w) <= 75 && strncmp(w, "=?UTF-8?B?", 10) == 0;
		ok &= mailmime_encoded_phrase_parse("utf-8", w, strlen(w), &i,
						    "utf-8", &out) == 0 &&
		      mr_utf8_valid(out, strlen(out)) &&
		      strchr(out, '?') == NULL;
		free(out);
	}
	free(copy);
	return ok;
}

T_CASE(encode_2047)
{
	char *e, *emoji = repeat("\xf0\x9f\x98\x80", 4 * 40);

	e = rpl_encode_2047("plain ASCII text");
	T_STR(e, "plain ASCII text");
	free(e);
	e = rpl_encode_2047("");
	T_STR(e, "");
	free(e);
	e = rpl_encode_2047("caf\xc3\xa9");
	T_STR(e, "=?UTF-8?B?Y2Fmw6k=?=");
	free(e);
	e = rpl_encode_2047(emoji);
	T_OK(decodes_to(e, emoji));
	T_OK(words_ok(e));
	free(e);
	e = rpl_encode_2047("x =?utf-8?b?eA==?= y");
	T_OK(strncmp(e, "=?UTF-8?B?", 10) == 0);
	T_OK(decodes_to(e, "x =?utf-8?b?eA==?= y"));
	free(e);
	free(emoji);
}

struct thr {
	int failures;
};

static void *thr_run(void *arg)
{
	struct thr *t = arg;
	struct rpl_req r = req_for("t@gmail.com");

	for (int i = 0; i < 2000; i++) {
		struct rpl_msg m;
		struct mr_err err;

		r.to_addr = i % 2 ? "t@gmail.com" : "t@sender.test";
		if (rpl_compose(fx.rs, 2, &r, &m, &err) < 0 ||
		    m.variant != i % 2)
			t->failures++;
		rpl_msg_free(&m);
	}
	return NULL;
}

T_CASE(threads)
{
	pthread_t th[4];
	struct thr t[4] = {{0}};

	for (int i = 0; i < 4; i++)
		T_INT(pthread_create(&th[i], NULL, thr_run, &t[i]), 0);
	for (int i = 0; i < 4; i++) {
		T_INT(pthread_join(th[i], NULL), 0);
		T_INT(t[i].failures, 0);
	}
}

T_CASE(compose_cost)
{
	struct rpl_req r = req_for("john.doe@gmail.com");
	struct timespec a, b;
	const char *body0 = NULL;
	int n = 20000, ok = 1;
	double us;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) {
		struct rpl_msg m;
		struct mr_err err;

		ok &= rpl_compose(fx.rs, 4, &r, &m, &err) == 0;
		ok &= m.body_len > BIG_LEN &&
		      (body0 == NULL || m.body == body0);
		body0 = m.body;
		rpl_msg_free(&m);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = ((double)(b.tv_sec - a.tv_sec) * 1e9 +
	      (double)(b.tv_nsec - a.tv_nsec)) /
	     1e3 / n;
	printf("# rpl_compose with a 1 MB attachment: %.2f us/reply\n", us);
	T_OK(ok);
	T_OK(us < 500);
}

/*
 * blob.c
 */

static void check_blob_refused(struct blob *b, const char *bucket,
			       const char *key, const char *why)
{
	char *d = (char *)"x";
	size_t n = 1;
	struct mr_err err;

	mr_err_clear(&err);
	T_INT(blob_get(b, bucket, key, &d, &n, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(d == NULL && n == 0);
	T_OK(strstr(err.text, why) != NULL);
}

T_CASE(blob_local)
{
	struct mr_err err;
	struct blob *b = blob_open(fx.att, &err);
	char *d = NULL, *p;
	size_t n = 0;

	T_OK(b != NULL);
	if (b == NULL)
		return;
	T_INT(blob_get(b, "files", "app.apk", &d, &n, &err), 0);
	T_OK(n == BIN_LEN && memcmp(d, fx.bin, n) == 0 && d[n] == 0 &&
	     d[n + 1] == 0);
	free(d);
	T_INT(blob_get(b, "files", "empty.txt", &d, &n, &err), 0);
	T_OK(n == 0 && d != NULL && d[0] == 0 && d[1] == 0);
	free(d);
	p = xasprintf("%s/files/link.pdf", fx.att);
	T_OK(symlink("doc.pdf", p) == 0);
	free(p);
	p = xasprintf("%s/files/fifo", fx.att);
	T_OK(mkfifo(p, 0600) == 0);
	free(p);
	p = xasprintf("%s/files/sub", fx.att);
	T_OK(mkdir(p, 0700) == 0);
	free(p);
	check_blob_refused(b, "files", "nope.pdf", "files/nope.pdf");
	check_blob_refused(b, "files", "link.pdf", "symlink");
	check_blob_refused(b, "files", "fifo", "not a regular file");
	check_blob_refused(b, "files", "sub", "not a regular file");
	check_blob_refused(b, "files", "../files/doc.pdf", "refused");
	check_blob_refused(b, "files", "./doc.pdf", "refused");
	check_blob_refused(b, "files", "/etc/passwd", "refused");
	check_blob_refused(b, "files", "sub//doc.pdf", "refused");
	check_blob_refused(b, "files", "sub/", "refused");
	check_blob_refused(b, "..", "att/files/doc.pdf", "refused");
	check_blob_refused(b, "", "doc.pdf", "refused");
	check_blob_refused(b, "files", "", "refused");
	check_blob_refused(b, "files", "a\nb", "refused");
	check_blob_refused(b, "nobucket", "doc.pdf", "nobucket/doc.pdf");
	blob_close(&b);
	T_OK(b == NULL);
	blob_close(&b);
}

T_CASE(blob_open_errors)
{
	struct mr_err err;
	char *p = xasprintf("%s/files/doc.pdf", fx.att);

	mr_err_clear(&err);
	T_OK(blob_open(p, &err) == NULL);
	T_INT(err.kind, MR_PERM);
	T_OK(blob_open("/nonexistent/mr/att", &err) == NULL);
	T_OK(blob_open("", &err) == NULL);
	free(p);
}

int main(void)
{
	fx_setup();
	T_RUN(single_body_round_trip);
	T_RUN(empty_body);
	T_RUN(two_bodies_html_last);
	T_RUN(attachments_plain_names);
	T_RUN(attachments_provider_names);
	T_RUN(variant_shared_without_rename);
	T_RUN(random_texts_round_trip);
	T_RUN(headers);
	T_RUN(header_order);
	T_RUN(date_utc);
	T_RUN(from_header);
	T_RUN(no_blob_source);
	T_RUN(bad_from);
	T_RUN(subject_re_rule);
	T_RUN(subject_encoding);
	T_RUN(subject_long);
	T_RUN(subject_controls);
	T_RUN(in_reply_to_absent);
	T_RUN(message_id);
	T_RUN(header_injection);
	T_RUN(unknown_entry);
	T_RUN(deterministic_bodies);
	T_RUN(missing_attachment);
	T_RUN(is_provider);
	T_RUN(encode_2047);
	T_RUN(threads);
	T_RUN(compose_cost);
	T_RUN(blob_local);
	T_RUN(blob_open_errors);
	fx_teardown();
	return t_done();
}
