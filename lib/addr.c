/* addr.c - parse, validate, match and hash mail addresses (contract: addr.h)
 *
 * The mailbox parse works on a private copy of the value with two NUL
 * bytes after it, whatever the caller's buffer holds past len
 * (libetpan-notes.md s.4).
 */
#include "addr.h"

#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "mr.h"
#include "parse.h"

#define ADDR_MAX 254 /* RFC 5321 path limit, minus the <> */
#define ADDR_MAX_LABEL 63
/* a longer mailbox value is hostile */
#define ADDR_MAX_VALUE ((size_t)64 * 1024)

static int is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7F;
}

/* RFC 5322 specials other than '.', plus SP; '@' is handled by callers. */
static int is_special(unsigned char c)
{
	return c == ' ' || c == '(' || c == ')' || c == '<' || c == '>' ||
	       c == '[' || c == ']' || c == ':' || c == ';' || c == '\\' ||
	       c == ',' || c == '"';
}

/* Inside quotes only SP and '@' get an exception: CTL and "<>,;" stay
 * out, since these addresses end up in SMTP commands and headers. */
static int quoted_bad(unsigned char c)
{
	return c == 0 || is_ctl(c) || c == '<' || c == '>' || c == ',' ||
	       c == ';';
}

/* Length of a quoted local part at s (s[0] == '"'), closing quote
 * included; 0 if it is not closed, is empty, or holds a bad byte. */

static size_t quoted_len(const char *s)
{
	size_t i = 1;

	while (s[i] != '"') {
		if (quoted_bad((unsigned char)s[i]))
			return 0;
		if (s[i] == '\\') {
			if (quoted_bad((unsigned char)s[i + 1]))
				return 0;
			i++;
		}
		i++;
	}
	return i > 1 ? i + 1 : 0;
}

/* Length of the local part at s (up to the '@' that ends it), or 0. */
static size_t local_part_len(const char *s)
{
	size_t i = 0;

	if (s[0] == '"')
		return quoted_len(s);
	for (; s[i] != 0 && s[i] != '@'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_ctl(c) || is_special(c))
			return 0;
	}
	return i;
}

static int is_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* "[...]": printable ASCII inside, no brackets or backslash. */
static int domain_literal_valid(const char *d)
{
	size_t i = 1;

	for (; d[i] != 0 && d[i] != ']'; i++) {
		unsigned char c = (unsigned char)d[i];

		/* an address literal (RFC 5321 4.1.3): IPv4, "IPv6:..." or
		 * "tag:..."; nothing that could close or open a bracket,
		 * quote or list in a header we write it into */
		if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
		    !(c >= 'A' && c <= 'Z') && c != '.' && c != ':' && c != '-')
			return 0;
	}
	return i > 1 && d[i] == ']' && d[i + 1] == 0;
}

static int domain_valid(const char *d)
{
	size_t label = 0;

	if (d[0] == '[')
		return domain_literal_valid(d);
	for (; *d; d++) {
		if (*d == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!is_label_char((unsigned char)*d) ||
		    ++label > ADDR_MAX_LABEL)
			return 0;
	}
	return label > 0;
}

int addr_valid(const char *s)
{
	size_t n, local;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n < 3 || n > ADDR_MAX || !mr_utf8_valid(s, n))
		return 0;
	local = local_part_len(s);
	if (local == 0 || s[local] != '@')
		return 0;
	return domain_valid(s + local + 1);
}

const char *addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

size_t addr_local_len(const char *addr, int strip_detail)
{
	const char *at = strrchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);
	const char *plus;

	/* A quoted local part is one opaque token: "a+b"@x has no detail,
	 * and a leading '+' would leave an empty local part. */
	if (!strip_detail || n == 0 || addr[0] == '"')
		return n;
	plus = memchr(addr, '+', n);
	if (plus == NULL || plus == addr)
		return n;
	return (size_t)(plus - addr);
}

int addr_domain_under(const char *domain, const char *parent)
{
	size_t dn = strlen(domain), pn = strlen(parent);

	if (pn == 0 || pn > dn)
		return 0;
	if (pn == dn)
		return mr_memeq_ci(domain, parent, pn);
	return domain[dn - pn - 1] == '.' &&
	       mr_memeq_ci(domain + dn - pn, parent, pn);
}

int addr_domain_in(const char *domain, char *const *list, size_t n)
{
	if (domain == NULL || list == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const char *item = list[i];

		if (item == NULL)
			continue;
		if (item[0] == '.') /* ".example.org" means the same */
			item++;
		if (addr_domain_under(domain, item))
			return 1;
	}
	return 0;
}

void addr_hash_hex(const struct hash_key *key, const char *addr_or_domain,
		   char out[HASH_SHA512_HEX])
{
	char *low = mr_lower_dup(addr_or_domain);

	if (key != NULL)
		hash_hmac_sha512_hex(key, low, strlen(low), out);
	else
		hash_sha512_hex(low, strlen(low), out);
	free(low);
}

/* After the mailbox list: CFWS, then optionally one CRLF, then the end.
 * mailimf_cfws_parse() leaves the FWS after a last comment ("(c) "), so
 * FWS is taken once more. */
static int rest_is_empty(const char *v, size_t n, size_t i)
{
	int r = mailimf_cfws_parse(v, n, &i);

	if (r == MAILIMF_NO_ERROR || r == MAILIMF_ERROR_PARSE)
		r = mailimf_fws_parse(v, n, &i);
	if (r == MAILIMF_ERROR_MEMORY)
		return 0;
	if (i < n && mailimf_crlf_parse(v, n, &i) != MAILIMF_NO_ERROR)
		return 0;
	return i == n;
}

/* libetpan rewrites some addr-specs: it drops spaces inside quotes and
 * the CFWS between words ("a b"@x, a@ex ample.org, a(c)@x all lose
 * something). Only accept one that the value holds byte for byte. */
static int spec_as_written(const char *spec, const char *v, size_t n)
{
	return memmem(v, n, spec, strlen(spec)) != NULL;
}

int addr_parse_mailbox(const char *value, size_t len, char **addr_r,
		       char **display_r)
{
	struct mailimf_mailbox_list *l = NULL;
	struct mailimf_mailbox *mb;
	char *v;
	size_t i = 0;
	int ok = 0;

	*addr_r = NULL;
	if (display_r != NULL)
		*display_r = NULL;
	if (value == NULL || len == 0 || len > ADDR_MAX_VALUE ||
	    memchr(value, 0, len) != NULL)
		return 0;
	/* a private copy with two NUL bytes after it, whatever the caller's
	 * buffer holds past len (libetpan-notes.md s.4) */
	v = xmalloc(len + 2);
	memcpy(v, value, len);
	v[len] = v[len + 1] = 0;
	if (mailimf_mailbox_list_parse(v, len, &i, &l) != MAILIMF_NO_ERROR)
		goto out;
	mb = clist_isempty(l->mb_list) ? NULL
				       : clist_content(clist_begin(l->mb_list));
	if (mb == NULL || !rest_is_empty(v, len, i) ||
	    !addr_valid(mb->mb_addr_spec) ||
	    !spec_as_written(mb->mb_addr_spec, v, len))
		goto out;
	*addr_r = xstrdup(mb->mb_addr_spec);
	if (display_r != NULL)
		*display_r = prs_display_dup(mb->mb_display_name);
	ok = 1;
out:
	if (l != NULL)
		mailimf_mailbox_list_free(l);
	free(v);
	return ok;
}
