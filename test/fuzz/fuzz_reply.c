/* fuzz_reply.c - the reply to a request and the admin forward of it
 * DESCRIPTION  The input is a request. When policy would look at it (a
 *              From and a requested address parse), the reply is composed
 *              as for a configured entry and the same message is
 *              forwarded to an admin as a bounce. Properties of both:
 *              every header line ends in CRLF and is at most 998 bytes;
 *              no header but our own appears (nothing a sender controls
 *              adds a line); the reply parses back with its own From,
 *              To and Subject; the forward parses back with our From.
 */
#include "fuzz.h"

#include <string.h>
#include <strings.h>

#include "mr.h"
#include "parse.h"
#include "reply.h"

static const char *const own_names[] = {
	"Date",         "From",         "Reply-To",
	"To",           "Message-ID",   "In-Reply-To",
	"References",   "Subject",      "Auto-Submitted",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	NULL,
};

/* Every field of the header block starts with one of our names. */
static int only_own_fields(const char *h, size_t n)
{
	for (size_t i = 0; i < n;) {
		const char *eol = memchr(h + i, '\n', n - i);
		size_t nl = strcspn(h + i, ":");
		int known = 0;

		if (h[i] != ' ' && h[i] != '\t') {
			for (size_t k = 0; own_names[k]; k++)
				if (strlen(own_names[k]) == nl &&
				    strncasecmp(h + i, own_names[k], nl) == 0)
					known = 1;
			if (!known)
				return 0;
		}
		if (eol == NULL)
			break;
		i = (size_t)(eol - h) + 1;
	}
	return 1;
}

/* Copy of s with runs of white space made one space, trimmed. */
static char *squeeze(const char *s)
{
	char *o = malloc(strlen(s) + 1), *p = o;

	for (; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			if (p > o && p[-1] != ' ')
				*p++ = ' ';
			continue;
		}
		*p++ = *s;
	}
	while (p > o && p[-1] == ' ')
		p--;
	*p = 0;
	return o;
}

/* Parse head + CRLF + body back. */
static struct prs_msg *parse_back(const struct rpl_msg *r)
{
	struct prs_msg *m = NULL;
	struct mr_err err;
	size_t n = r->head.len;
	char *all = malloc(n + 4);

	memcpy(all, r->head.data, n);
	memcpy(all + n, "\r\n\0\0", 4);
	FZ_CHECK(prs_parse(all, n + 2, &m, &err) == 0);
	free(all);
	return m;
}

static void check_reply(const struct prs_msg *req, const struct rpl_msg *r)
{
	struct prs_msg *b;
	char *want, *got, *line;

	FZ_CHECK(fz_lines_ok(r->head.data, r->head.len));
	FZ_CHECK(only_own_fields(r->head.data, r->head.len));
	line = xasprintf("\r\nTo: %s\r\n", req->from_addr);
	FZ_CHECK(memmem(r->head.data, r->head.len, line, strlen(line)));
	free(line);
	b = parse_back(r);
	FZ_CHECK(b->from_addr && strcmp(b->from_addr, "get@r.test") == 0);
	FZ_CHECK(b->subject != NULL);
	if (req->subject && strlen(req->subject) < 1000 &&
	    strncasecmp(req->subject, "re:", 3) != 0 && req->subject[0]) {
		want = xasprintf("Re: %s", req->subject);
		got = squeeze(b->subject);
		line = squeeze(want);
		FZ_CHECK(strcmp(got, line) == 0);
		free(line);
		free(got);
		free(want);
	}
	prs_free(&b);
}

static void check_forward(const struct rpl_msg *r)
{
	struct prs_msg *b;

	FZ_CHECK(fz_lines_ok(r->head.data, r->head.len));
	FZ_CHECK(only_own_fields(r->head.data, r->head.len));
	FZ_CHECK(memmem(r->head.data, r->head.len, "\r\nTo: ops@r.test\r\n",
			18));
	b = parse_back(r);
	FZ_CHECK(b->from_addr && strcmp(b->from_addr, "get@r.test") == 0);
	prs_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fz_world *w = fz_world();
	struct prs_limits lim;
	struct prs_msg *m = NULL;
	struct rpl_msg r;
	struct mr_err err;
	char *buf = fz_copy(data, size);

	prs_limits_default(&lim);
	if (prs_parse_limits(buf, size, &lim, &m, &err) == 0 &&
	    m->from_addr != NULL) {
		struct rpl_req req = {m->from_addr, "get@r.test", m->subject,
				      m->message_id, 1700000000};
		struct rpl_fwd f = {"ops@r.test", "[mr]",     "bounce",
				    m->requested, m->subject, "1.M1P1.host",
				    buf,          size,       size > 65536,
				    1700000000};

		FZ_CHECK(rpl_compose(w->rpl, 0, &req, &r, &err) == 0);
		check_reply(m, &r);
		rpl_msg_free(&r);
		if (f.orig_cut)
			f.orig_len = m->header_bytes;
		FZ_CHECK(rpl_forward(w->rpl, &f, &r, &err) == 0);
		check_forward(&r);
		rpl_msg_free(&r);
	}
	prs_free(&m);
	free(buf);
	return 0;
}
