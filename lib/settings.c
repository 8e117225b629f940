/* settings.c - read and check the settings file (contract: settings.h)
 *
 * Each key goes to its handler in the keys table below; a handler checks
 * type and value before it replaces the default, so a bad value leaves
 * the default and a problem.
 */
#include "settings.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "addr.h"
#include "jsn.h"
#include "log.h"
#include "policy.h"
#include "tx.h"

#define SET_FILE_MAX ((size_t)1 << 20)
#define SET_SECONDS_MAX 315360000L /* ten years: no overflow in ms */
#define SET_BYTES_MAX (1L << 30)
#define SET_NAME_MAX 128 /* longest dotted key name we build */

#define STR_NULL 1  /* JSON null is allowed: the default stays */
#define STR_EMPTY 2 /* "" is allowed */
#define STR_SPACE 4 /* spaces are allowed */

/* One load in progress. */
struct ld {
	struct set *s;
	struct mr_msgs *pr;
};

struct key;
typedef void key_fn(struct ld *ld, const struct key *k, const char *name,
		    struct json_object *v);

/* A settings key: its handler and where its value lands in struct set. */
struct key {
	const char *name;
	key_fn *fn;
	size_t off;
	long min, max;         /* integer keys */
	const struct key *sub; /* object keys: the keys inside */
	size_t n_sub;
};

#define OFF(f) offsetof(struct set, f)

static const size_t str_fields[] = {
	OFF(path),
	OFF(dir),
	OFF(spool),
	OFF(failed_folder),
	OFF(responder_config),
	OFF(attachments_dir),
	OFF(store),
	OFF(mysql.password_env),
	OFF(mysql.password_file),
	OFF(transport_override),
	OFF(smtp_url),
	OFF(smtp_user),
	OFF(user),
	OFF(smtp_password_file),
	OFF(smtp_ca_file),
	OFF(ses.region),
	OFF(ses.endpoint),
	OFF(ses.configuration_set),
	OFF(aws.credentials_file),
	OFF(aws.profile),
	OFF(aws.imds_endpoint),
	OFF(metrics.namespace_),
	OFF(metrics.region),
	OFF(metrics.endpoint),
	OFF(s3.region),
	OFF(s3.endpoint),
	OFF(s3.cache_dir),
	OFF(event_log),
	OFF(event_key),
	OFF(hash_key),
	OFF(log_level),
	OFF(from),
	OFF(from_addr),
	OFF(from_display),
	OFF(complaints_address),
	OFF(admin_subject_tag),
	OFF(authserv_id),
	OFF(dkim.domain),
	OFF(dkim.selector),
	OFF(dkim.rsa_key),
	OFF(dkim.ed25519_key),
	OFF(dkim.ed25519_selector),
};

static const size_t strv_fields[] = {
	OFF(admin_addresses),   OFF(own_addresses),      OFF(exempt_domains),
	OFF(blocked_domains),   OFF(provider_domains),   OFF(stats_addresses),
	OFF(metrics.dim_names), OFF(metrics.dim_values),
};

static char **str_at(struct set *s, size_t off)
{
	return (char **)(void *)((char *)s + off);
}

static long *long_at(struct set *s, size_t off)
{
	return (long *)(void *)((char *)s + off);
}

static struct set_strv *strv_at(struct set *s, size_t off)
{
	return (struct set_strv *)(void *)((char *)s + off);
}

static void put(struct ld *ld, const struct key *k, char *v)
{
	char **p = str_at(ld->s, k->off);

	free(*p);
	*p = v;
}

static void strv_free(struct set_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

static void renames_free(struct set_rename *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].from_ext);
		free(r[i].to_ext);
	}
	free(r);
}

void set_free(struct set **sp)
{
	struct set *s = sp ? *sp : NULL;

	if (s == NULL)
		return;
	for (size_t i = 0; i < sizeof(str_fields) / sizeof(*str_fields); i++)
		free(*str_at(s, str_fields[i]));
	for (size_t i = 0; i < sizeof(strv_fields) / sizeof(*strv_fields); i++)
		strv_free(strv_at(s, strv_fields[i]));
	renames_free(s->provider_renames, s->n_provider_renames);
	free(s);
	*sp = NULL;
}

/* Resolve a path against the settings file's folder. */
static char *resolve(const struct set *s, const char *p)
{
	size_t n = strlen(s->dir);

	if (p[0] == '/')
		return xstrdup(p);
	if (n > 0 && s->dir[n - 1] == '/')
		return xasprintf("%s%s", s->dir, p);
	return xasprintf("%s/%s", s->dir, p);
}

static int has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* 1 if s[0..len) is UTF-8 text without NUL or other control characters. */
static int text_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return mr_utf8_valid(s, len);
}

/* The value of a string key, or NULL: after a problem, or for JSON null
 * when flags has STR_NULL (the default stays, no problem). */
static const char *want_str(struct ld *ld, const char *name,
			    struct json_object *v, int flags)
{
	const char *s;
	size_t len;

	if (v == NULL && (flags & STR_NULL))
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		mr_msgs_add(ld->pr, "%s: expected a string", name);
		return NULL;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (!text_ok(s, len)) {
		mr_msgs_add(ld->pr,
			    "%s: control character or invalid UTF-8 in string",
			    name);
		return NULL;
	}
	if (len == 0 && !(flags & STR_EMPTY)) {
		mr_msgs_add(ld->pr, "%s: must not be empty", name);
		return NULL;
	}
	if (!(flags & STR_SPACE) && strchr(s, ' ') != NULL) {
		mr_msgs_add(ld->pr, "%s: must not contain spaces", name);
		return NULL;
	}
	return s;
}

static void bad_value(struct ld *ld, const char *name, const char *expected,
		      const char *got)
{
	char q[MR_SHOW_SIZE];

	mr_msgs_add(ld->pr, "%s: expected %s, got %s", name, expected,
		    mr_show(got, q, '"'));
}

/* A domain name: dot-separated labels of letters, digits, '-' and '_'
 * (bytes >= 0x80 too: internationalized names in UTF-8). */
static int domain_ok(const char *s)
{
	size_t label = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
		label++;
	}
	return label > 0;
}

/* A DKIM selector: like a domain name (RFC 6376 s.3.1), ASCII only. */
static int selector_ok(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p >= 0x80)
			return 0;
	return domain_ok(s);
}

static void h_path(struct ld *ld, const struct key *k, const char *name,
		   struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL | STR_SPACE);

	if (p != NULL)
		put(ld, k, resolve(ld->s, p));
}

static void h_word(struct ld *ld, const struct key *k, const char *name,
		   struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL);

	if (p != NULL)
		put(ld, k, xstrdup(p));
}

/* The name of an environment variable. */
static void h_env(struct ld *ld, const struct key *k, const char *name,
		  struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL);
	const char *c = p;

	if (p == NULL)
		return;
	for (; *c; c++)
		if (!(*c == '_' || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= 'a' && *c <= 'z') ||
		      (c > p && *c >= '0' && *c <= '9')))
			break;
	if (*c != 0)
		bad_value(ld, name, "an environment variable name", p);
	else
		put(ld, k, xstrdup(p));
}

static void h_bool(struct ld *ld, const struct key *k, const char *name,
		   struct json_object *v)
{
	if (!json_object_is_type(v, json_type_boolean)) {
		mr_msgs_add(ld->pr, "%s: expected true or false", name);
		return;
	}
	*long_at(ld->s, k->off) = json_object_get_boolean(v) ? 1 : 0;
}

static void h_tag(struct ld *ld, const struct key *k, const char *name,
		  struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL | STR_EMPTY | STR_SPACE);

	if (p != NULL)
		put(ld, k, xstrdup(p));
}

static void h_domain(struct ld *ld, const struct key *k, const char *name,
		     struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL);

	if (p == NULL)
		return;
	if (!domain_ok(p))
		bad_value(ld, name, "a domain name", p);
	else
		put(ld, k, mr_lower_dup(p));
}

static void h_selector(struct ld *ld, const struct key *k, const char *name,
		       struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL);

	if (p == NULL)
		return;
	if (!selector_ok(p))
		bad_value(ld, name,
			  "a DKIM selector (letters, digits, '-', '_', '.')",
			  p);
	else
		put(ld, k, xstrdup(p));
}

static void h_folder(struct ld *ld, const struct key *k, const char *name,
		     struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL);

	if (p == NULL)
		return;
	if (p[0] != '.' || strcmp(p, ".") == 0 || strcmp(p, "..") == 0 ||
	    strchr(p, '/') != NULL)
		bad_value(ld, name,
			  "a Maildir++ folder name such as \".Failed\"", p);
	else
		put(ld, k, xstrdup(p));
}

static void h_rcfg(struct ld *ld, const struct key *k, const char *name,
		   struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL | STR_SPACE);
	const char *slash;

	if (p == NULL)
		return;
	if (!has_prefix(p, "s3://")) {
		put(ld, k, resolve(ld->s, p));
		return;
	}
	slash = strchr(p + 5, '/');
	if (slash == NULL || slash == p + 5 || slash[1] == 0)
		bad_value(ld, name, "a path or \"s3://bucket/key\"", p);
	else
		put(ld, k, xstrdup(p));
}

static void h_store(struct ld *ld, const struct key *k, const char *name,
		    struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL | STR_SPACE);
	char *path;

	if (p == NULL)
		return;
	if (has_prefix(p, "sqlite:") && p[7] != 0) {
		path = resolve(ld->s, p + 7);
		put(ld, k, xasprintf("sqlite:%s", path));
		free(path);
	} else if (has_prefix(p, "mysql://") && p[8] != 0) {
		const char *at = strchr(p + 8, '@');

		/* never echo it: it may hold a password */
		if (at != NULL && memchr(p + 8, ':', (size_t)(at - p - 8)))
			mr_msgs_add(ld->pr,
				    "%s: a password in the URL is refused; use "
				    "mysql.password_file or mysql.password_env",
				    name);
		else
			put(ld, k, xstrdup(p));
	} else {
		bad_value(ld, name, "\"sqlite:<path>\" or \"mysql://...\"", p);
	}
}

/* Transport URLs: each transport module knows its own scheme. */
static void h_transport(struct ld *ld, const struct key *k, const char *name,
			struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL | STR_SPACE);
	struct mr_err err;
	char *url;

	if (p == NULL)
		return;
	mr_err_clear(&err);
	url = tx_url_check(p, ld->s->dir, &err);
	if (url == NULL)
		mr_msgs_add(ld->pr, "%s: %s", name, err.text);
	else
		put(ld, k, url);
}

static void h_endpoint(struct ld *ld, const struct key *k, const char *name,
		       struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL);

	if (p == NULL)
		return;
	if ((has_prefix(p, "http://") && p[7] != 0) ||
	    (has_prefix(p, "https://") && p[8] != 0))
		put(ld, k, xstrdup(p));
	else
		bad_value(ld, name, "null or an http:// or https:// URL", p);
}

static void h_event_log(struct ld *ld, const struct key *k, const char *name,
			struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL | STR_SPACE);

	if (p == NULL)
		return;
	if (strcmp(p, "stderr") == 0 || strcmp(p, "syslog") == 0)
		put(ld, k, xstrdup(p));
	else
		put(ld, k, resolve(ld->s, p));
}

static void h_log_level(struct ld *ld, const struct key *k, const char *name,
			struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL);

	if (p == NULL)
		return;
	if (log_level_parse(p) < 0)
		bad_value(ld, name, "one of err, warn, info, debug", p);
	else
		put(ld, k, xstrdup(p));
}

static const struct {
	const char *name;
	enum set_dkim_policy policy;
} dkim_policies[] = {
	{"ignore", SET_DKIM_IGNORE},
	{"reject-fail", SET_DKIM_REJECT_FAIL},
	{"require-pass", SET_DKIM_REQUIRE_PASS},
};

static void h_dkim_policy(struct ld *ld, const struct key *k, const char *name,
			  struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL);

	(void)k; /* not an offset field: the enum is set directly */
	if (p == NULL)
		return;
	for (size_t i = 0; i < sizeof(dkim_policies) / sizeof(*dkim_policies);
	     i++) {
		if (strcmp(p, dkim_policies[i].name) == 0) {
			ld->s->dkim_policy = dkim_policies[i].policy;
			return;
		}
	}
	bad_value(ld, name, "one of ignore, reject-fail, require-pass", p);
}

static void h_from(struct ld *ld, const struct key *k, const char *name,
		   struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL | STR_SPACE);
	struct set *s = ld->s;
	char *addr = NULL, *display = NULL;

	(void)k; /* sets three fields */
	if (p == NULL)
		return;
	if (addr_parse_mailbox(p, strlen(p), &addr, &display) != 1) {
		bad_value(ld, name,
			  "a mailbox such as \"Name <a@example.org>\"", p);
		return;
	}
	free(s->from);
	free(s->from_addr);
	free(s->from_display);
	s->from = xstrdup(p);
	mr_lower(addr);
	s->from_addr = addr;
	s->from_display = display;
}

static void h_addr(struct ld *ld, const struct key *k, const char *name,
		   struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL);

	if (p == NULL)
		return;
	if (!addr_valid(p))
		bad_value(ld, name, "an address such as a@example.org", p);
	else
		put(ld, k, mr_lower_dup(p));
}

/* "name[i]" for a list element. */
static const char *elem_name(char *out, size_t n, const char *name, size_t i)
{
	int r = snprintf(out, n, "%s[%zu]", name, i);

	if (r < 0 || (size_t)r >= n)
		return name; /* cannot happen: our key names are short */
	return out;
}

typedef int elem_ok_fn(const char *s);

/* A list of strings, each checked by ok and stored lower-cased. */
static void strv_load(struct ld *ld, const struct key *k, const char *name,
		      struct json_object *v, elem_ok_fn *ok, const char *what)
{
	struct set_strv nv = {NULL, 0};
	char en[SET_NAME_MAX + 32];
	size_t n, bad = 0;

	if (!json_object_is_type(v, json_type_array)) {
		mr_msgs_add(ld->pr, "%s: expected a list of strings", name);
		return;
	}
	n = json_object_array_length(v);
	nv.v = xcalloc(n, sizeof(*nv.v));
	for (size_t i = 0; i < n; i++) {
		const char *e = elem_name(en, sizeof(en), name, i);
		const char *p =
			want_str(ld, e, json_object_array_get_idx(v, i), 0);

		if (p != NULL && !ok(p)) {
			bad_value(ld, e, what, p);
			p = NULL;
		}
		if (p == NULL)
			bad++;
		else
			nv.v[nv.n++] = mr_lower_dup(p);
	}
	if (bad > 0) {
		strv_free(&nv);
		return;
	}
	strv_free(strv_at(ld->s, k->off));
	*strv_at(ld->s, k->off) = nv;
}

/* One word of forward_reasons into *set; 0 or -1 after a problem. */
static int fwd_word(struct ld *ld, const char *name, struct json_object *v,
		    unsigned long long *set)
{
	const char *p = want_str(ld, name, v, 0);
	enum pol_reason r;

	if (p == NULL)
		return -1;
	if (!pol_forward_reason(p, &r)) {
		bad_value(ld, name,
			  "a policy reason such as complaint, bounce or spam",
			  p);
		return -1;
	}
	*set |= 1ULL << r;
	return 0;
}

/* A list of reason words, or "existing": what the existing system
 * forwards. [] forwards nothing. */
static void h_fwd_reasons(struct ld *ld, const struct key *k, const char *name,
			  struct json_object *v)
{
	char en[SET_NAME_MAX + 32];
	unsigned long long set = 0;
	int bad = 0;

	(void)k; /* not an offset field */
	if (json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), "existing") == 0) {
		ld->s->forward_reasons = pol_forward_existing();
		return;
	}
	if (!json_object_is_type(v, json_type_array)) {
		mr_msgs_add(ld->pr,
			    "%s: expected a list of policy reasons or "
			    "\"existing\"",
			    name);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (fwd_word(ld, elem_name(en, sizeof(en), name, i),
			     json_object_array_get_idx(v, i), &set) < 0)
			bad = 1;
	if (!bad)
		ld->s->forward_reasons = set;
}

static void h_addrv(struct ld *ld, const struct key *k, const char *name,
		    struct json_object *v)
{
	strv_load(ld, k, name, v, addr_valid,
		  "an address such as a@example.org");
}

static void h_domv(struct ld *ld, const struct key *k, const char *name,
		   struct json_object *v)
{
	strv_load(ld, k, name, v, domain_ok, "a domain name");
}

/* A file name extension: printable ASCII, no '/', '"' or '\\'. */
static int ext_ok(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == '/' || *s == '"' ||
		    *s == '\\')
			return 0;
	return 1;
}

/* One [from_ext, to_ext] pair into r; 0 or -1 after a problem. */
static int rename_load(struct ld *ld, const char *name, struct json_object *v,
		       struct set_rename *r)
{
	const char *from, *to;

	if (!json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) != 2) {
		mr_msgs_add(ld->pr, "%s: expected [from_ext, to_ext]", name);
		return -1;
	}
	from = want_str(ld, name, json_object_array_get_idx(v, 0), 0);
	to = want_str(ld, name, json_object_array_get_idx(v, 1), STR_EMPTY);
	if (from == NULL || to == NULL)
		return -1;
	if (from[0] != '.' || from[1] == 0 || !ext_ok(from)) {
		bad_value(ld, name, "from_ext such as \".exe\"", from);
		return -1;
	}
	if (!ext_ok(to)) {
		bad_value(ld, name, "to_ext such as \".ap_\" or \"\"", to);
		return -1;
	}
	r->from_ext = mr_lower_dup(from);
	r->to_ext = xstrdup(to);
	return 0;
}

static void h_renames(struct ld *ld, const struct key *k, const char *name,
		      struct json_object *v)
{
	struct set_rename *r;
	char en[SET_NAME_MAX + 32];
	size_t n, ok = 0;

	(void)k; /* two fields */
	if (!json_object_is_type(v, json_type_array)) {
		mr_msgs_add(ld->pr,
			    "%s: expected a list of [from_ext, to_ext] pairs",
			    name);
		return;
	}
	n = json_object_array_length(v);
	r = xcalloc(n, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		if (rename_load(ld, elem_name(en, sizeof(en), name, i),
				json_object_array_get_idx(v, i), &r[ok]) == 0)
			ok++;
	if (ok < n) {
		renames_free(r, ok);
		return;
	}
	renames_free(ld->s->provider_renames, ld->s->n_provider_renames);
	ld->s->provider_renames = r;
	ld->s->n_provider_renames = n;
}

static void h_int(struct ld *ld, const struct key *k, const char *name,
		  struct json_object *v)
{
	char upper[48] = "";
	int64_t x = 0;
	int n;

	if (json_object_is_type(v, json_type_int)) {
		x = json_object_get_int64(v);
		if (x >= k->min && x <= k->max) {
			*long_at(ld->s, k->off) = (long)x;
			return;
		}
	}
	if (k->max < INT_MAX) {
		n = snprintf(upper, sizeof(upper), " and <= %ld", k->max);
		if (n < 0 || (size_t)n >= sizeof(upper))
			upper[0] = 0; /* cannot happen: 48 bytes hold a long */
	}
	if (k->min == 1)
		mr_msgs_add(ld->pr, "%s: expected an integer > 0%s", name,
			    upper);
	else
		mr_msgs_add(ld->pr, "%s: expected an integer >= %ld%s", name,
			    k->min, upper);
}

static void walk(struct ld *ld, struct json_object *obj, const struct key *tab,
		 size_t n, const char *prefix);

static void h_obj(struct ld *ld, const struct key *k, const char *name,
		  struct json_object *v)
{
	if (!json_object_is_type(v, json_type_object)) {
		mr_msgs_add(ld->pr, "%s: expected an object", name);
		return;
	}
	walk(ld, v, k->sub, k->n_sub, name);
}

/* ---- metrics (CloudWatch) ---- */

/* CloudWatch names: 1 to 255 printable ASCII characters. */
static int cw_name_ok(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > 255)
		return 0;
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return 0;
	return 1;
}

static void h_namespace(struct ld *ld, const struct key *k, const char *name,
			struct json_object *v)
{
	const char *p = want_str(ld, name, v, STR_NULL | STR_SPACE);

	if (p == NULL)
		return;
	if (!cw_name_ok(p) || has_prefix(p, "AWS/"))
		bad_value(ld, name,
			  "1 to 255 printable ASCII characters, not starting "
			  "with AWS/",
			  p);
	else
		put(ld, k, xstrdup(p));
}

/* {"Name": "Value", ...}: names and values kept as written. */
static void h_dims(struct ld *ld, const struct key *k, const char *name,
		   struct json_object *v)
{
	struct set_strv *nv = &ld->s->metrics.dim_names;
	struct set_strv *vv = &ld->s->metrics.dim_values;
	size_t n;

	(void)k; /* two fields, named here */
	if (!json_object_is_type(v, json_type_object)) {
		mr_msgs_add(ld->pr,
			    "%s: expected an object of dimension "
			    "names and values",
			    name);
		return;
	}
	n = (size_t)json_object_object_length(v);
	if (n > 28) {
		mr_msgs_add(ld->pr, "%s: at most 28 dimensions", name);
		return;
	}
	strv_free(nv);
	strv_free(vv);
	nv->v = xcalloc(n + 1, sizeof(char *));
	vv->v = xcalloc(n + 1, sizeof(char *));
	json_object_object_foreach(v, dk, dv)
	{
		const char *val = json_object_get_string(dv);

		if (!cw_name_ok(dk) ||
		    !json_object_is_type(dv, json_type_string) ||
		    !cw_name_ok(val)) {
			mr_msgs_add(ld->pr,
				    "%s: %s: expected a name and a string "
				    "value of 1 to 255 printable ASCII "
				    "characters",
				    name, dk);
			continue;
		}
		nv->v[nv->n++] = xstrdup(dk);
		vv->v[vv->n++] = xstrdup(val);
	}
}

static void h_instdims(struct ld *ld, const struct key *k, const char *name,
		       struct json_object *v)
{
	char en[SET_NAME_MAX];
	size_t n;

	(void)k; /* two fields, named here */
	if (!json_object_is_type(v, json_type_array)) {
		mr_msgs_add(ld->pr, "%s: expected a list", name);
		return;
	}
	ld->s->metrics.instance_id = ld->s->metrics.asg_name = 0;
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		const char *e = elem_name(en, sizeof(en), name, i);
		const char *p =
			want_str(ld, e, json_object_array_get_idx(v, i), 0);

		if (p != NULL && strcmp(p, "InstanceId") == 0)
			ld->s->metrics.instance_id = 1;
		else if (p != NULL && strcmp(p, "AutoScalingGroupName") == 0)
			ld->s->metrics.asg_name = 1;
		else if (p != NULL)
			bad_value(ld, e, "InstanceId or AutoScalingGroupName",
				  p);
	}
}

#define K(n, fn, f)                                                            \
	{                                                                      \
		n, fn, OFF(f), 0, 0, NULL, 0                                   \
	}
#define K_INT(n, f, lo, hi)                                                    \
	{                                                                      \
		n, h_int, OFF(f), lo, hi, NULL, 0                              \
	}
#define K_OBJ(n, t)                                                            \
	{                                                                      \
		n, h_obj, 0, 0, 0, t, sizeof(t) / sizeof(*(t))                 \
	}

static const struct key ses_keys[] = {
	K("region", h_word, ses.region),
	K("endpoint", h_endpoint, ses.endpoint),
	K("configuration_set", h_word, ses.configuration_set),
	K_INT("max_send_rate", ses.max_send_rate, 0, 100000),
	K_INT("timeout_s", ses.timeout_s, 1, SET_SECONDS_MAX),
};

static const struct key aws_keys[] = {
	K("credentials_file", h_path, aws.credentials_file),
	K("profile", h_word, aws.profile),
	K("imds_endpoint", h_endpoint, aws.imds_endpoint),
	K_INT("imds", aws.imds, 0, 1),
};

static const struct key s3_keys[] = {
	K("region", h_word, s3.region),
	K("endpoint", h_endpoint, s3.endpoint),
	K("cache_dir", h_path, s3.cache_dir),
	K("attachments", h_bool, s3.attachments),
	K_INT("refresh_s", s3.refresh_s, 0, SET_SECONDS_MAX),
	K_INT("timeout_s", s3.timeout_s, 1, SET_SECONDS_MAX),
};

static const struct key dkim_keys[] = {
	K("domain", h_domain, dkim.domain),
	K("selector", h_selector, dkim.selector),
	K("rsa_key", h_path, dkim.rsa_key),
	K("ed25519_key", h_path, dkim.ed25519_key),
	K("ed25519_selector", h_selector, dkim.ed25519_selector),
};

static const struct key mysql_keys[] = {
	K("password_env", h_env, mysql.password_env),
	K("password_file", h_path, mysql.password_file),
	K_INT("connect_timeout_s", mysql.connect_timeout_s, 1, 3600),
	K_INT("read_timeout_s", mysql.read_timeout_s, 1, 3600),
	K_INT("write_timeout_s", mysql.write_timeout_s, 1, 3600),
};

static const struct key retry_keys[] = {
	K_INT("initial_s", retry.initial_s, 1, SET_SECONDS_MAX),
	K_INT("max_s", retry.max_s, 1, SET_SECONDS_MAX),
	K_INT("max_age_s", retry.max_age_s, 1, SET_SECONDS_MAX),
};

static const struct key retention_keys[] = {
	K_INT("handled_s", retention.handled_s, 0, SET_SECONDS_MAX),
	K_INT("failed_s", retention.failed_s, 0, SET_SECONDS_MAX),
};

static const struct key metrics_keys[] = {
	K("cloudwatch", h_bool, metrics.cloudwatch),
	K_INT("interval_s", metrics.interval_s, 1, 86400),
	K("namespace", h_namespace, metrics.namespace_),
	K("region", h_word, metrics.region),
	K("endpoint", h_endpoint, metrics.endpoint),
	K("dimensions", h_dims, metrics.dim_names),
	K("instance_dimensions", h_instdims, metrics.instance_id),
	K("legacy_names", h_bool, metrics.legacy_names),
	K_INT("timeout_s", metrics.timeout_s, 1, 600),
	K_INT("retries", metrics.retries, 0, 10),
};

static const struct key limits_keys[] = {
	K_INT("max_headers", limits.max_headers, 10, 1000000),
	K_INT("max_header_line", limits.max_header_line, 78, SET_BYTES_MAX),
	K_INT("mime_bytes", limits.mime_bytes, 0, SET_BYTES_MAX),
	K_INT("mime_depth", limits.mime_depth, 2, 1000),
	K_INT("mime_parts", limits.mime_parts, 2, 100000),
	K_INT("message_time_ms", limits.message_time_ms, 1,
	      SET_SECONDS_MAX * 1000),
};

static const struct key top_keys[] = {
	K("spool", h_path, spool),
	K("failed_folder", h_folder, failed_folder),
	K("responder_config", h_rcfg, responder_config),
	K("attachments_dir", h_path, attachments_dir),
	K("store", h_store, store),
	K_OBJ("mysql", mysql_keys),
	K("transport_override", h_transport, transport_override),
	K("smtp_url", h_transport, smtp_url),
	K_OBJ("ses", ses_keys),
	K_OBJ("aws", aws_keys),
	K_OBJ("s3", s3_keys),
	K("event_log", h_event_log, event_log),
	K("event_key", h_path, event_key),
	K("hash_key", h_path, hash_key),
	K("log_level", h_log_level, log_level),
	K("from", h_from, from),
	K("complaints_address", h_addr, complaints_address),
	K("admin_addresses", h_addrv, admin_addresses),
	K("admin_subject_tag", h_tag, admin_subject_tag),
	K("stats_addresses", h_addrv, stats_addresses),
	K("forward_reasons", h_fwd_reasons, forward_reasons),
	K_INT("forward_cap_per_hour", forward_cap_per_hour, 0, INT_MAX),
	K("own_addresses", h_addrv, own_addresses),
	K_INT("daily_limit", daily_limit, 0, INT_MAX),
	K("exempt_domains", h_domv, exempt_domains),
	K("blocked_domains", h_domv, blocked_domains),
	K("provider_domains", h_domv, provider_domains),
	K("provider_renames", h_renames, provider_renames),
	K("dkim_policy", h_dkim_policy, dkim_policy),
	K("authserv_id", h_word, authserv_id),
	K_OBJ("dkim", dkim_keys),
	K_INT("workers", workers, 0, 256),
	K_OBJ("retry", retry_keys),
	K("smtp_starttls", h_bool, smtp_starttls),
	K("smtp_user", h_word, smtp_user),
	K("smtp_password_file", h_path, smtp_password_file),
	K("smtp_ca_file", h_path, smtp_ca_file),
	K_OBJ("retention", retention_keys),
	K_OBJ("limits", limits_keys),
	K("user", h_word, user),
	K_INT("smtp_timeout_s", smtp_timeout_s, 1, SET_SECONDS_MAX),
	K_INT("smtp_connect_timeout_s", smtp_connect_timeout_s, 1,
	      SET_SECONDS_MAX),
	K_INT("max_header_bytes", max_header_bytes, 4096, SET_BYTES_MAX),
	K_INT("max_forward_bytes", max_forward_bytes, 0, SET_BYTES_MAX),
	K_INT("rescan_interval_s", rescan_interval_s, 0, SET_SECONDS_MAX),
	K_INT("shutdown_timeout_s", shutdown_timeout_s, 1, SET_SECONDS_MAX),
	K_OBJ("metrics", metrics_keys),
};

/* Levenshtein distance of two short strings (SIZE_MAX if too long). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[SET_NAME_MAX + 1];

	if (la > SET_NAME_MAX || lb > SET_NAME_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j],
			       best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static void unknown_key(struct ld *ld, const struct key *tab, size_t n,
			const char *prefix, const char *kname)
{
	char q[MR_SHOW_SIZE];
	const char *best = NULL, *dot = prefix[0] ? "." : "";
	size_t best_d = SIZE_MAX, len = strlen(kname);
	char *full = xasprintf("%s%s%s", prefix, dot, kname);

	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(kname, tab[i].name);

		if (d < best_d) {
			best_d = d;
			best = tab[i].name;
		}
	}
	mr_show(full, q, '\'');
	if (best != NULL && best_d <= 2 && best_d * 3 <= len)
		mr_msgs_add(ld->pr, "unknown key %s (did you mean '%s%s%s'?)",
			    q, prefix, dot, best);
	else
		mr_msgs_add(ld->pr, "unknown key %s", q);
	free(full);
}

/* Every key of obj, in file order, through its handler. */
static void walk(struct ld *ld, struct json_object *obj, const struct key *tab,
		 size_t n, const char *prefix)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);
	char name[SET_NAME_MAX];

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *kname = json_object_iter_peek_name(&it);
		const struct key *k = NULL;
		int r;

		for (size_t i = 0; i < n && k == NULL; i++)
			if (strcmp(tab[i].name, kname) == 0)
				k = &tab[i];
		if (k == NULL) {
			unknown_key(ld, tab, n, prefix, kname);
			continue;
		}
		r = snprintf(name, sizeof(name), "%s%s%s", prefix,
			     prefix[0] ? "." : "", kname);
		if (r < 0 || (size_t)r >= sizeof(name))
			abort(); /* cannot happen: names come from our tables */
		k->fn(ld, k, name, json_object_iter_peek_value(&it));
	}
}

static void set_defaults(struct set *s)
{
	static const char *const providers[] = {"gmail.com", "googlemail.com",
						"outlook.com", "hotmail.com"};
	size_t np = sizeof(providers) / sizeof(*providers);
	char *db = resolve(s, "state.db");

	s->failed_folder = xstrdup(".Failed");
	s->responder_config = resolve(s, "responses.json");
	s->attachments_dir = resolve(s, "attachments");
	s->store = xasprintf("sqlite:%s", db);
	free(db);
	s->mysql.password_env = xstrdup("MAILRESPONDER_DB_PASSWORD");
	s->mysql.connect_timeout_s = 10;
	s->mysql.read_timeout_s = 30;
	s->mysql.write_timeout_s = 30;
	s->smtp_url = xstrdup("smtp://127.0.0.1:2525");
	s->ses.region = xstrdup("us-east-1");
	s->ses.max_send_rate = 14;
	s->ses.timeout_s = 30;
	s->aws.profile = xstrdup("default");
	s->aws.imds_endpoint = xstrdup("http://169.254.169.254");
	s->aws.imds = 1;
	s->s3.cache_dir = resolve(s, "s3cache");
	s->s3.refresh_s = 300;
	s->s3.timeout_s = 30;
	s->event_log = resolve(s, "events.jsonl");
	s->event_key = resolve(s, "event.key");
	s->log_level = xstrdup("info");
	s->admin_subject_tag = xstrdup("[mailresponder]");
	s->forward_reasons = pol_forward_default();
	s->forward_cap_per_hour = 100;
	s->daily_limit = 3;
	s->provider_domains.v = xcalloc(np, sizeof(char *));
	for (size_t i = 0; i < np; i++)
		s->provider_domains.v[s->provider_domains.n++] =
			xstrdup(providers[i]);
	s->provider_renames = xcalloc(2, sizeof(*s->provider_renames));
	s->provider_renames[0].from_ext = xstrdup(".exe");
	s->provider_renames[0].to_ext = xstrdup("");
	s->provider_renames[1].from_ext = xstrdup(".apk");
	s->provider_renames[1].to_ext = xstrdup(".ap_");
	s->n_provider_renames = 2;
	s->dkim_policy = SET_DKIM_REJECT_FAIL;
	s->dkim.selector = xstrdup("default");
	s->workers = 0;
	s->retry.initial_s = 60;
	s->retry.max_s = 3600;
	s->retry.max_age_s = 5L * 24 * 3600;
	s->limits.max_headers = 20000;
	s->limits.max_header_line = 8192;
	s->limits.mime_bytes = 1L << 20;
	s->limits.mime_depth = 16;
	s->limits.mime_parts = 200;
	s->limits.message_time_ms = 10000;
	s->retention.handled_s = 24L * 3600;
	s->retention.failed_s = 7L * 24 * 3600;
	s->smtp_timeout_s = 60;
	s->smtp_connect_timeout_s = 10;
	s->max_header_bytes = 1L << 20;
	s->max_forward_bytes = 10L << 20;
	s->rescan_interval_s = 60;
	s->shutdown_timeout_s = 30;
	s->metrics.interval_s = 60;
	s->metrics.namespace_ = xstrdup("Psiphon/MailResponder");
	s->metrics.legacy_names = 1;
	s->metrics.timeout_s = 10;
	s->metrics.retries = 2;
}

/* A required key's problem, unless its handler already reported one: a
 * key that is there and not null but still unset was refused. */
static void required(struct ld *ld, struct json_object *root, const char *key,
		     const char *value, const char *what)
{
	struct json_object *v = NULL;

	if (value != NULL)
		return;
	if (json_object_object_get_ex(root, key, &v) && v != NULL)
		return;
	mr_msgs_add(ld->pr, "%s: required (%s)", key, what);
}

/* Required keys, derived defaults and checks across keys. */
/* SMTP AUTH needs both halves, and never sends a password in clear. */
static void smtp_auth_check(struct ld *ld)
{
	const struct set *s = ld->s;

	if (s->smtp_user != NULL && s->smtp_password_file == NULL)
		mr_msgs_add(ld->pr, "smtp_password_file: needed with "
				    "smtp_user (a file holding the password)");
	if (s->smtp_password_file != NULL && s->smtp_user == NULL)
		mr_msgs_add(ld->pr, "smtp_user: needed with "
				    "smtp_password_file");
	if (s->smtp_user != NULL && !s->smtp_starttls &&
	    strncmp(s->smtp_url, "smtps://", 8) != 0)
		mr_msgs_add(ld->pr,
			    "smtp_user: the password would cross the "
			    "network in clear; set \"smtp_starttls\": true "
			    "or use an smtps:// smtp_url");
}

static void finish(struct ld *ld, struct json_object *root)
{
	struct set *s = ld->s;

	required(ld, root, "spool", s->spool,
		 "the Maildir Postfix delivers to");
	required(ld, root, "from", s->from,
		 "the From of replies, e.g. \"Name <noreply@example.org>\"");
	if (s->dkim.domain == NULL && s->from_addr != NULL)
		s->dkim.domain = mr_lower_dup(addr_domain(s->from_addr));
	if (s->dkim.ed25519_selector == NULL)
		s->dkim.ed25519_selector = xstrdup(s->dkim.selector);
	if (s->authserv_id == NULL)
		s->authserv_id = xstrdup(mr_hostname());
	if (s->s3.region == NULL)
		s->s3.region = xstrdup(s->ses.region);
	smtp_auth_check(ld);
	if (s->retry.initial_s > s->retry.max_s)
		mr_msgs_add(ld->pr,
			    "retry.initial_s: must not exceed retry.max_s "
			    "(%ld > %ld)",
			    s->retry.initial_s, s->retry.max_s);
}

/* The absolute folder of path (realpath: the file was just read). */
static char *dir_abs(const char *path, struct mr_msgs *pr)
{
	const char *slash = strrchr(path, '/');
	char *folder, *abs;

	if (slash == NULL)
		folder = xstrdup(".");
	else if (slash == path)
		folder = xstrdup("/");
	else
		folder = xstrndup(path, (size_t)(slash - path));
	abs = realpath(folder, NULL);
	if (abs == NULL)
		mr_msgs_add(pr, "%s: realpath(%s) failed: %s", path, folder,
			    log_strerror(errno));
	free(folder);
	return abs;
}

/* Read and parse path into s; NULL after a problem. */
static struct json_object *load_json(struct set *s, const char *path,
				     struct mr_msgs *pr)
{
	struct json_object *root;
	struct mr_err err;
	char *data;
	size_t len;

	mr_err_clear(&err);
	if (mr_read_file(path, SET_FILE_MAX, &data, &len, &err) < 0) {
		mr_msgs_add(pr, "%s", err.text);
		return NULL;
	}
	/* mr_read_file ends data with a NUL, and jsn_check allows no other */
	if (jsn_check(data, len, path, pr) < 0) {
		free(data);
		return NULL;
	}
	root = json_tokener_parse(data);
	free(data);
	if (!json_object_is_type(root, json_type_object)) {
		mr_msgs_add(pr, "%s: expected a JSON object at the top level",
			    path);
		json_object_put(root);
		return NULL;
	}
	s->dir = dir_abs(path, pr);
	return root;
}

struct set *set_load(const char *path, struct mr_msgs *problems)
{
	struct mr_msgs local = {NULL, 0};
	struct mr_msgs *pr = problems ? problems : &local;
	size_t n0 = pr->n;
	struct set *s = xcalloc(1, sizeof(*s));
	struct ld ld = {s, pr};
	struct json_object *root;

	s->path = xstrdup(path);
	root = load_json(s, path, pr);
	if (root != NULL && s->dir != NULL) {
		set_defaults(s);
		walk(&ld, root, top_keys, sizeof(top_keys) / sizeof(*top_keys),
		     "");
		finish(&ld, root);
	}
	json_object_put(root);
	if (pr->n != n0)
		set_free(&s);
	mr_msgs_free(&local);
	return s;
}
