/* stats.c - the stats report (contract: stats.h)
 *
 * A million lines must be read in well under 3 s, so lines are not handed to
 * json-c: a scanner walks each flat object once, keeps pointers to the
 * values of the keys it needs and decodes escapes only in the few strings
 * that have them. It is strict where it matters: one object per line, every
 * string closed and free of control bytes, nothing after the closing brace.
 */
#include "stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <zlib.h>

#include "dlv.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "rcfg.h"
#include "reply.h"
#include "settings.h"
#include "snap.h"

#define STATS_CHUNK (1 << 20)
#define STATS_MAX_LINE (64 * 1024)
#define STATS_STR 256

/* ---- one line ---- */

enum fld {
	F_TS,
	F_OUTCOME,
	F_REASON,
	F_REQUESTED,
	F_MS,
	F_REPLIES,
	F_FORWARDED,
	F_ENTRIES,
	F_FORWARD_HELD,
	F_N
};

static const char *const fld_names[F_N] = {
	"ts",      "outcome",   "reason",  "requested",   "ms",
	"replies", "forwarded", "entries", "forward_held"};

struct val {
	const char *p; /* string: after the quote; other: the token */
	size_t n;
	int str;
	int esc; /* the string has backslash escapes */
};

static const char *ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

/* p after the opening quote; returns the closing quote or NULL. */
static const char *str_end(const char *p, const char *e, int *esc)
{
	for (; p < e; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			*esc = 1;
			if (++p == e)
				return NULL;
		}
	}
	return NULL;
}

/* A nested object or array, balanced, strings skipped; returns the byte
 * after it or NULL. */
static const char *skip_nested(const char *p, const char *e)
{
	int depth = 0, esc;

	for (; p < e; p++) {
		if (*p == '"') {
			p = str_end(p + 1, e, &esc);
			if (p == NULL)
				return NULL;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			if (--depth == 0)
				return p + 1;
		}
	}
	return NULL;
}

static const char *scalar_end(const char *p, const char *e)
{
	const char *s = p;

	while (p < e && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
			 *p == '-' || *p == '+' || *p == '.' || *p == 'E'))
		p++;
	return p > s ? p : NULL;
}

/* One value at p: fills v, returns the byte after it or NULL. */
static const char *value(const char *p, const char *e, struct val *v)
{
	memset(v, 0, sizeof(*v));
	if (p == e)
		return NULL;
	if (*p == '"') {
		const char *q = str_end(p + 1, e, &v->esc);

		if (q == NULL)
			return NULL;
		v->p = p + 1;
		v->n = (size_t)(q - p - 1);
		v->str = 1;
		return q + 1;
	}
	v->p = p;
	if (*p == '{' || *p == '[')
		p = skip_nested(p, e);
	else
		p = scalar_end(p, e);
	if (p != NULL)
		v->n = (size_t)(p - v->p);
	return p;
}

static int fld_of(const char *k, size_t n)
{
	for (int i = 0; i < F_N; i++)
		if (strlen(fld_names[i]) == n &&
		    memcmp(fld_names[i], k, n) == 0)
			return i;
	return -1;
}

/* The flat object of a line: the wanted values into vs. 0 or -1. */
static int scan_object(const char *p, const char *e, struct val *vs)
{
	struct val k, v;

	p = ws(p, e);
	if (p == e || *p++ != '{')
		return -1;
	p = ws(p, e);
	if (p < e && *p == '}')
		return ws(p + 1, e) == e ? 0 : -1;
	for (;;) {
		int f;

		p = ws(p, e);
		if (p == e || *p != '"' || (p = value(p, e, &k)) == NULL)
			return -1;
		p = ws(p, e);
		if (p == e || *p++ != ':')
			return -1;
		p = value(ws(p, e), e, &v);
		if (p == NULL)
			return -1;
		f = k.esc ? -1 : fld_of(k.p, k.n);
		if (f >= 0)
			vs[f] = v;
		p = ws(p, e);
		if (p < e && *p == ',') {
			p++;
			continue;
		}
		if (p < e && *p == '}')
			return ws(p + 1, e) == e ? 0 : -1;
		return -1;
	}
}

static int hexval(const char *p, unsigned *u)
{
	*u = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		*u <<= 4;
		if (c >= '0' && c <= '9')
			*u |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*u |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*u |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static size_t put_utf8(char *o, unsigned u)
{
	if (u < 0x80) {
		o[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		o[0] = (char)(0xc0 | (u >> 6));
		o[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		o[0] = (char)(0xe0 | (u >> 12));
		o[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		o[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (u >> 18));
	o[1] = (char)(0x80 | ((u >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((u >> 6) & 0x3f));
	o[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

/* \uXXXX at p (after the backslash-u), with a following low surrogate
 * when it is a high one: the code point and the bytes used, or -1. */
static int unicode_esc(const char *p, const char *e, unsigned *u)
{
	unsigned lo;

	if (e - p < 4 || hexval(p, u) < 0)
		return -1;
	if (*u >= 0xdc00 && *u <= 0xdfff)
		return -1;
	if (*u < 0xd800 || *u > 0xdbff)
		return 4;
	if (e - p < 10 || p[4] != '\\' || p[5] != 'u' ||
	    hexval(p + 6, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
		return -1;
	*u = 0x10000 + ((*u - 0xd800) << 10) + (lo - 0xdc00);
	return 10;
}

/* A string value, decoded, NUL-terminated in out (cut to fit). 0 or -1. */
static int str_val(const struct val *v, char *out, size_t n)
{
	const char *p = v->p, *e = v->p + v->n;
	size_t k = 0;

	if (!v->str)
		return -1;
	for (; p < e && k + 5 < n; p++) {
		unsigned u;
		int used;

		if (*p != '\\') {
			out[k++] = *p;
			continue;
		}
		switch (*++p) {
		case 'n':
			out[k++] = '\n';
			break;
		case 't':
			out[k++] = '\t';
			break;
		case 'r':
			out[k++] = '\r';
			break;
		case 'b':
			out[k++] = '\b';
			break;
		case 'f':
			out[k++] = '\f';
			break;
		case '"':
		case '\\':
		case '/':
			out[k++] = *p;
			break;
		case 'u':
			used = unicode_esc(p + 1, e, &u);
			if (used < 0)
				return -1;
			k += put_utf8(out + k, u);
			p += used;
			break;
		default:
			return -1;
		}
	}
	out[k] = 0;
	return 0;
}

/* A non-negative integer value; absent = 0. 0 or -1. */
static int int_val(const struct val *v, long *out)
{
	long n = 0;

	*out = 0;
	if (v->p == NULL)
		return 0;
	if (v->str || v->n == 0 || v->n > 15)
		return -1;
	for (size_t i = 0; i < v->n; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return -1;
		n = n * 10 + (v->p[i] - '0');
	}
	*out = n;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long days_of(long y, long m, long d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int digits(const char *p, int n, long *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*out = *out * 10 + (p[i] - '0');
	}
	return 0;
}

/* "YYYY-MM-DD" then optionally "THH:MM", ":SS", ".fff", "Z"; UTC. The
 * whole of s[0..n) must be used. */
static int parse_iso(const char *s, size_t n, time_t *t_r)
{
	long y, mo, d, h = 0, mi = 0, sec = 0;
	size_t i = 10;

	if (n < 10 || digits(s, 4, &y) < 0 || s[4] != '-' ||
	    digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
	    digits(s + 8, 2, &d) < 0 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return -1;
	if (i < n && (s[i] == 'T' || s[i] == ' ')) {
		if (n < i + 6 || digits(s + i + 1, 2, &h) < 0 ||
		    s[i + 3] != ':' || digits(s + i + 4, 2, &mi) < 0 ||
		    h > 23 || mi > 59)
			return -1;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n < i + 3 || digits(s + i + 1, 2, &sec) < 0 ||
			    sec > 60)
				return -1;
			i += 3;
		}
		if (i < n && s[i] == '.')
			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
				;
	}
	if (i < n && s[i] == 'Z')
		i++;
	if (i != n)
		return -1;
	*t_r = (time_t)(days_of(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec);
	return 0;
}

static size_t count_sub(const char *p, size_t n, const char *sub)
{
	size_t k = strlen(sub), c = 0;
	const char *e = p + n;

	while ((size_t)(e - p) >= k &&
	       (p = memmem(p, (size_t)(e - p), sub, k)) != NULL) {
		c++;
		p += k;
	}
	return c;
}

/* The per-entry results ("entries":[{"i":0,"r":"sent"},...], as ev_emit
 * writes them): those not sent (failed, or retry). Absent = 0. */
static int entry_failures(const struct val *v, long *out)
{
	*out = 0;
	if (v->p == NULL)
		return 0;
	if (v->str || v->n < 2 || v->p[0] != '[')
		return -1;
	/* a quote inside a string is escaped, so these cannot match there */
	*out = (long)(count_sub(v->p, v->n, "\"r\":\"failed\"") +
		      count_sub(v->p, v->n, "\"r\":\"retry\""));
	return 0;
}

static int count_rec(const struct val *vs, struct met *m)
{
	char outcome[16], reason[STATS_STR], requested[STATS_STR];
	struct met_rec r = {outcome, reason, NULL, 0, 0, 0, 0, 0};
	long replies, fwd, fe, held;

	if (str_val(&vs[F_OUTCOME], outcome, sizeof(outcome)) < 0 ||
	    str_val(&vs[F_REASON], reason, sizeof(reason)) < 0 ||
	    vs[F_MS].p == NULL || int_val(&vs[F_MS], &r.ms) < 0 ||
	    int_val(&vs[F_REPLIES], &replies) < 0 ||
	    int_val(&vs[F_FORWARDED], &fwd) < 0 ||
	    int_val(&vs[F_FORWARD_HELD], &held) < 0 ||
	    entry_failures(&vs[F_ENTRIES], &fe) < 0)
		return -1;
	if (vs[F_REQUESTED].p != NULL && vs[F_REQUESTED].str) {
		if (str_val(&vs[F_REQUESTED], requested, sizeof(requested)) < 0)
			return -1;
		r.requested = requested;
	}
	r.replies = (int)replies;
	r.forwarded = (int)fwd;
	r.forward_held = held != 0;
	r.failed_entries = (int)fe;
	return met_add(m, &r) < 0 ? -1 : 1;
}

int stats_line(const char *line, size_t len, time_t from, time_t to,
	       struct met *m)
{
	struct val vs[F_N];
	time_t ts;

	memset(vs, 0, sizeof(vs));
	if (scan_object(line, line + len, vs) < 0 || !vs[F_TS].str ||
	    vs[F_TS].esc || !vs[F_OUTCOME].str ||
	    parse_iso(vs[F_TS].p, vs[F_TS].n, &ts) < 0)
		return -1;
	if (vs[F_OUTCOME].n == 7 && memcmp(vs[F_OUTCOME].p, "expired", 7) == 0)
		return 0; /* retention removed a file: not a handled message */
	if (ts < from || ts >= to) /* still a record: a bad one is bad */
		return vs[F_REASON].str && vs[F_MS].p ? 0 : -1;
	return count_rec(vs, m);
}

/* ---- files ---- */

struct reader {
	struct met *m;
	time_t from, to;
	struct stats_read *r;
	char *carry; /* a line cut by the chunk boundary */
	size_t n_carry;
};

static void one_line(struct reader *rd, const char *p, size_t n)
{
	rd->r->lines++;
	switch (stats_line(p, n, rd->from, rd->to, rd->m)) {
	case 1:
		rd->r->in_window++;
		break;
	case -1:
		rd->r->bad++;
		break;
	}
}

/* Lines of a chunk; the unfinished tail goes to carry. */
static void chunk_lines(struct reader *rd, const char *p, size_t n)
{
	const char *e = p + n, *nl;

	if (rd->n_carry > 0) {
		nl = memchr(p, '\n', n);
		if (nl == NULL) {
			if (rd->n_carry + n <= STATS_MAX_LINE) {
				memcpy(rd->carry + rd->n_carry, p, n);
				rd->n_carry += n;
			}
			return;
		}
		if (rd->n_carry + (size_t)(nl - p) <= STATS_MAX_LINE) {
			memcpy(rd->carry + rd->n_carry, p, (size_t)(nl - p));
			one_line(rd, rd->carry, rd->n_carry + (size_t)(nl - p));
		} else {
			rd->r->lines++;
			rd->r->bad++;
		}
		rd->n_carry = 0;
		p = nl + 1;
	}
	while (p < e && (nl = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		one_line(rd, p, (size_t)(nl - p));
		p = nl + 1;
	}
	if (p < e) {
		size_t k = (size_t)(e - p);

		memcpy(rd->carry, p, k <= STATS_MAX_LINE ? k : STATS_MAX_LINE);
		rd->n_carry = k <= STATS_MAX_LINE ? k : STATS_MAX_LINE + 1;
	}
}

/* One file, plain or gzip (zlib reads plain files as they are). */
static int read_file(struct reader *rd, const char *path, char *buf,
		     struct mr_err *err)
{
	gzFile gz = gzopen(path, "rb");
	int n, zerr = Z_OK;

	if (gz == NULL) {
		mr_err_sys(err, MR_TEMP, errno, "open(%s)", path);
		return -1;
	}
	(void)gzbuffer(gz,
		       STATS_CHUNK); /* before the first read: cannot fail */
	rd->n_carry = 0;
	while ((n = gzread(gz, buf, STATS_CHUNK)) > 0)
		chunk_lines(rd, buf, (size_t)n);
	if (n < 0)
		mr_err_set(err, MR_TEMP, "read(%s): %s", path,
			   gzerror(gz, &zerr));
	if (rd->n_carry > 0) /* a last line without its newline */
		one_line(rd, rd->carry,
			 rd->n_carry <= STATS_MAX_LINE ? rd->n_carry : 0);
	rd->n_carry = 0;
	if (gzclose(gz) != Z_OK && n >= 0) {
		mr_err_set(err, MR_TEMP, "read(%s): broken gzip data", path);
		n = -1;
	}
	rd->r->files++;
	return n < 0 ? -1 : 0;
}

/* A logrotate sibling of base: base, "." or "-", [0-9_-]+, [".gz"]. */
static int is_sibling(const char *name, const char *base)
{
	size_t n = strlen(base), k;

	if (strncmp(name, base, n) != 0 || (name[n] != '.' && name[n] != '-'))
		return 0;
	name += n + 1;
	k = strspn(name, "0123456789_-");
	if (k == 0)
		return 0;
	return name[k] == 0 || strcmp(name + k, ".gz") == 0;
}

static int read_one(struct reader *rd, const char *path, int live, char *buf,
		    struct mr_err *err)
{
	struct stat st;
	struct mr_err e2;

	if (stat(path, &st) < 0) {
		if (live && errno == ENOENT)
			return 0; /* nothing logged yet */
		mr_err_sys(err, MR_TEMP, errno, "stat(%s)", path);
		return live ? -1 : 0;
	}
	if (!S_ISREG(st.st_mode) || st.st_mtime < rd->from)
		return 0; /* nothing of the window can be in it */
	mr_err_clear(&e2);
	if (read_file(rd, path, buf, &e2) == 0)
		return 0;
	rd->r->files_bad++;
	log_warn("stats: %s", e2.text);
	if (live) {
		*err = e2;
		return -1;
	}
	return 0;
}

int stats_read_log(const char *path, time_t from, time_t to, struct met *m,
		   struct stats_read *r, struct mr_err *err)
{
	struct reader rd = {m, from, to, r, NULL, 0};
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : path;
	char *buf = xmalloc(STATS_CHUNK);
	struct dirent *de;
	DIR *d;
	int rc;

	memset(r, 0, sizeof(*r));
	rd.carry = xmalloc(STATS_MAX_LINE + 1);
	if (slash)
		*slash = 0;
	d = opendir(slash ? (dir[0] ? dir : "/") : ".");
	if (d == NULL) {
		mr_err_sys(err, MR_TEMP, errno, "opendir(%s)",
			   slash ? dir : ".");
		rc = -1;
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (!is_sibling(de->d_name, base))
			continue;
		p = slash ? xasprintf("%s/%s", dir[0] ? dir : "", de->d_name)
			  : xstrdup(de->d_name);
		(void)read_one(&rd, p, 0, buf, err); /* warns, never fails */
		free(p);
	}
	(void)closedir(d); /* read-only */
	rc = read_one(&rd, path, 1, buf, err);
out:
	free(rd.carry);
	free(buf);
	free(dir);
	return rc;
}

/* ---- times given on the command line ---- */

int stats_parse_time(const char *s, time_t *t_r)
{
	long v;

	if (s[0] == '@') {
		if (mr_parse_long(s + 1, &v) < 0)
			return -1;
		*t_r = (time_t)v;
		return 0;
	}
	return parse_iso(s, strlen(s), t_r);
}

int stats_parse_duration(const char *s, long *s_r)
{
	static const struct {
		char unit;
		long mul;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};

	size_t n = strlen(s);
	long mul = 1, v;
	char num[32];

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n + 1);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (num[n - 1] == units[i].unit) {
			mul = units[i].mul;
			num[--n] = 0;
			break;
		}
	if (n == 0 || mr_parse_long(num, &v) < 0 ||
	    v > 100L * 365 * 86400 / mul)
		return -1;
	*s_r = v * mul;
	return 0;
}

/* ---- the report ---- */

static void fmt_time(time_t t, char *out, size_t n)
{
	struct tm tm;

	if (t <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, n, "-");
}

static int is_own(const struct snap *sn, const char *addr)
{
	const struct set *s = sn->set;

	if ((sn->rcfg && rcfg_lookup(sn->rcfg, addr, NULL, 0) > 0) ||
	    (s->from_addr && mr_streq_ci(addr, s->from_addr)) ||
	    (s->complaints_address && mr_streq_ci(addr, s->complaints_address)))
		return 1;
	return mr_strv_has_ci(s->own_addresses.v, s->own_addresses.n, addr);
}

/* The address table with every address that is not our own merged into
 * "(other)" ("(none)": no requested address). */
struct addr_row {
	const char *addr;
	struct met_addr_counts c;
};

static size_t addr_rows(const struct stats_report *r, struct addr_row *rows)
{
	struct met_addr_counts c, other;
	const char *a;
	size_t n = 0;

	memset(&other, 0, sizeof(other));
	for (size_t i = 0; met_addr_at(r->m, i, &a, &c); i++) {
		if (strcmp(a, "(none)") == 0 || is_own(r->sn, a)) {
			rows[n].addr = a;
			rows[n++].c = c;
			continue;
		}
		for (int o = 0; o < MET_N_OUTCOMES; o++)
			other.n[o] += c.n[o];
		other.replies += c.replies;
	}
	if (other.n[MET_REPLIED] + other.n[MET_IGNORED] + other.n[MET_FAILED] +
		    other.n[MET_RETRY] >
	    0) {
		rows[n].addr = "(other)";
		rows[n++].c = other;
	}
	return n;
}

static long requests(const struct met *m)
{
	return met_count(m, MET_REPLIED) + met_count(m, MET_IGNORED) +
	       met_count(m, MET_FAILED);
}

static void text_head(const struct stats_report *r, struct mr_buf *out)
{
	const struct met *m = r->m;
	char from[32], to[32];

	fmt_time(r->from, from, sizeof(from));
	fmt_time(r->to, to, sizeof(to));
	buf_printf(out, "mailresponder stats of %s, %s .. %s\n\n",
		   mr_hostname(), from, to);
	buf_printf(out,
		   "event log: %s (%ld files, %ld lines, %ld bad lines "
		   "skipped%s)\n",
		   r->event_log, r->rd->files, r->rd->lines, r->rd->bad,
		   r->rd->files_bad ? ", SOME FILES UNREADABLE" : "");
	buf_printf(out,
		   "requests: %ld (replied %ld, ignored %ld, failed %ld); "
		   "retries: %ld\n",
		   requests(m), met_count(m, MET_REPLIED),
		   met_count(m, MET_IGNORED), met_count(m, MET_FAILED),
		   met_count(m, MET_RETRY));
	buf_printf(out,
		   "replies sent: %ld; admin forwards sent: %ld; failed "
		   "config entries: %ld\n",
		   met_replies(m), met_forwards(m), met_failed_entries(m));
	buf_printf(out,
		   "processing time (ms): p50 %ld, p95 %ld, p99 %ld, max %ld\n",
		   met_quantile_ms(m, 0.50), met_quantile_ms(m, 0.95),
		   met_quantile_ms(m, 0.99), met_max_ms(m));
}

void stats_text(const struct stats_report *r, struct mr_buf *out)
{
	struct addr_row *rows = xcalloc(MET_MAX_ADDRS + 1, sizeof(*rows));
	const char *outcome, *reason;
	char oldest[32];
	size_t n;
	long k;

	text_head(r, out);
	buf_puts(out, "\nby outcome and reason:\n");
	for (size_t i = 0; met_reason_at(r->m, i, &outcome, &reason, &k); i++)
		buf_printf(out, "  %-8s %-28s %8ld\n", outcome, reason, k);
	buf_printf(out,
		   "\nby requested address:\n  %-32s %8s %8s %8s %8s "
		   "%8s %8s\n",
		   "address", "requests", "replied", "ignored", "failed",
		   "retry", "replies");
	n = addr_rows(r, rows);
	for (size_t i = 0; i < n; i++) {
		const struct met_addr_counts *c = &rows[i].c;

		buf_printf(out, "  %-32s %8ld %8ld %8ld %8ld %8ld %8ld\n",
			   rows[i].addr,
			   c->n[MET_REPLIED] + c->n[MET_IGNORED] +
				   c->n[MET_FAILED],
			   c->n[MET_REPLIED], c->n[MET_IGNORED],
			   c->n[MET_FAILED], c->n[MET_RETRY], c->replies);
	}
	fmt_time(r->failed_oldest, oldest, sizeof(oldest));
	buf_printf(out, "\nfailed folder (%s): %ld messages, %lld bytes",
		   r->sn->set->failed_folder, r->failed_n, r->failed_bytes);
	if (r->failed_n > 0 && r->failed_oldest > 0)
		buf_printf(out, ", oldest %s (%ld h ago)", oldest,
			   (long)(r->now - r->failed_oldest) / 3600);
	buf_puts(out, "\n");
	free(rows);
}

static void jput(struct json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void jstr(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static struct json_object *json_counts(const struct met_addr_counts *c)
{
	struct json_object *o = json_object_new_object();

	jput(o, "requests",
	     c->n[MET_REPLIED] + c->n[MET_IGNORED] + c->n[MET_FAILED]);
	for (int i = 0; i < MET_N_OUTCOMES; i++)
		jput(o, met_outcome_word((enum met_outcome)i), c->n[i]);
	jput(o, "replies", c->replies);
	return o;
}

static struct json_object *json_tables(const struct stats_report *r)
{
	struct addr_row *rows = xcalloc(MET_MAX_ADDRS + 1, sizeof(*rows));
	struct json_object *t = json_object_new_object();
	struct json_object *rs = json_object_new_array();
	struct json_object *as = json_object_new_object();
	const char *outcome, *reason;
	size_t n;
	long k;

	for (size_t i = 0; met_reason_at(r->m, i, &outcome, &reason, &k); i++) {
		struct json_object *e = json_object_new_object();

		jstr(e, "outcome", outcome);
		jstr(e, "reason", reason);
		jput(e, "n", k);
		json_object_array_add(rs, e);
	}
	json_object_object_add(t, "reasons", rs);
	n = addr_rows(r, rows);
	for (size_t i = 0; i < n; i++)
		json_object_object_add(as, rows[i].addr,
				       json_counts(&rows[i].c));
	json_object_object_add(t, "addresses", as);
	free(rows);
	return t;
}

char *stats_json_dup(const struct stats_report *r)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ms = json_object_new_object();
	struct json_object *f = json_object_new_object();
	struct json_object *t = json_tables(r);
	char from[32], to[32], oldest[32];
	char *s;

	fmt_time(r->from, from, sizeof(from));
	fmt_time(r->to, to, sizeof(to));
	fmt_time(r->failed_oldest, oldest, sizeof(oldest));
	jstr(o, "host", mr_hostname());
	jstr(o, "from", from);
	jstr(o, "to", to);
	jput(o, "files", r->rd->files);
	jput(o, "files_unreadable", r->rd->files_bad);
	jput(o, "lines", r->rd->lines);
	jput(o, "bad_lines", r->rd->bad);
	jput(o, "requests", requests(r->m));
	for (int i = 0; i < MET_N_OUTCOMES; i++)
		jput(o, met_outcome_word((enum met_outcome)i),
		     met_count(r->m, (enum met_outcome)i));
	jput(o, "replies", met_replies(r->m));
	jput(o, "forwards", met_forwards(r->m));
	jput(o, "failed_entries", met_failed_entries(r->m));
	jput(ms, "p50", met_quantile_ms(r->m, 0.50));
	jput(ms, "p95", met_quantile_ms(r->m, 0.95));
	jput(ms, "p99", met_quantile_ms(r->m, 0.99));
	jput(ms, "max", met_max_ms(r->m));
	json_object_object_add(o, "ms", ms);
	json_object_object_add(
		o, "reasons",
		json_object_get(json_object_object_get(t, "reasons")));
	json_object_object_add(
		o, "addresses",
		json_object_get(json_object_object_get(t, "addresses")));
	json_object_put(t);
	jput(f, "messages", r->failed_n);
	jput(f, "bytes", r->failed_bytes);
	jstr(f, "oldest",
	     r->failed_n > 0 && r->failed_oldest > 0 ? oldest : NULL);
	json_object_object_add(o, "failed_folder", f);
	s = xstrdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* ---- the stats mail ---- */

/* Compose and send to one address: signed and sent as an admin forward
 * is (dlv.h: SMTP method, DKIM when keys are set). */
static int mail_one(const struct snap *sn, struct dlv *d, const char *to,
		    const char *subject, const char *text, time_t now,
		    struct mr_err *err)
{
	struct dlv_res res;
	struct rpl_msg m;

	if (rpl_notice(sn->rpl, to, subject, text, now, &m, err) < 0)
		return -1;
	dlv_send(d, sn, &m, RCFG_SMTP, to, NULL, now, &res);
	rpl_msg_free(&m);
	if (res.r == DLV_SENT)
		return 0;
	log_redact(err->text, sizeof(err->text), res.err.text);
	err->kind = res.err.kind;
	return -1;
}

int stats_mail(const struct snap *sn, const char *text, time_t from, time_t to,
	       time_t now, struct mr_err *err)
{
	const struct set *s = sn->set;
	const struct set_strv *rcpts = s->stats_addresses.n
					       ? &s->stats_addresses
					       : &s->admin_addresses;
	char f[32], t_[32], *subject;
	struct dlv *d;
	int rc = 0;

	if (rcpts->n == 0) {
		mr_err_set(err, MR_PERM,
			   "stats_addresses and admin_addresses are empty: "
			   "no one to mail the report to");
		return -1;
	}
	if (sn->rpl == NULL) {
		mr_err_set(err, MR_PERM, "no responder config loaded");
		return -1;
	}
	d = dlv_new();
	fmt_time(from, f, sizeof(f));
	fmt_time(to, t_, sizeof(t_));
	subject = xasprintf(
		"%s%sstats %s %s .. %s",
		s->admin_subject_tag ? s->admin_subject_tag : "",
		s->admin_subject_tag && s->admin_subject_tag[0] ? " " : "",
		mr_hostname(), f, t_);
	for (size_t i = 0; rc == 0 && i < rcpts->n; i++)
		rc = mail_one(sn, d, rcpts->v[i], subject, text, now, err);
	free(subject);
	dlv_free(&d);
	return rc;
}
