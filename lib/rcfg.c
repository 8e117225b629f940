/* rcfg.c - the responder config (contract: rcfg.h)
 *
 * The entries are indexed by (address, position) in a sorted array, so a
 * lookup is a binary search over pointers plus one stack copy of the
 * lower-cased query.
 */
#include "rcfg.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "addr.h"
#include "jsn.h"
#include "log.h"

#define RCFG_FILE_MAX ((size_t)16 << 20)
#define RCFG_ADDR_MAX 254 /* longest addr-spec (RFC 5321 path limit) */

struct rcfg {
	struct rcfg_entry *ents;
	size_t n;
	const struct rcfg_entry **sorted; /* by address, then position */
	const char **addrs;               /* distinct, first-seen order */
	size_t n_addrs;
};

/* One entry being checked: where problems go and what to call it. */
struct ectx {
	struct mr_msgs *pr;
	size_t i;
};

static void entry_free(struct rcfg_entry *e)
{
	free(e->email_addr);
	for (size_t i = 0; i < e->n_bodies; i++) {
		free(e->bodies[i].mimetype);
		free(e->bodies[i].text);
	}
	free(e->bodies);
	for (size_t i = 0; i < e->n_atts; i++) {
		free(e->atts[i].bucket);
		free(e->atts[i].key);
		free(e->atts[i].name);
	}
	free(e->atts);
}

void rcfg_free(struct rcfg **cp)
{
	struct rcfg *c = cp ? *cp : NULL;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_free(&c->ents[i]);
	free(c->ents);
	free(c->sorted);
	free(c->addrs);
	free(c);
	*cp = NULL;
}

/* What v is, for "got ..." in a problem text. */
static const char *jtype(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a number";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "a list";
	case json_type_string:
		return "a string";
	}
	return "something else";
}

/* The string v, or NULL (problem added) when v is no string, holds a NUL
 * or is not UTF-8. what names the field for the problem text. */
static const char *want_str(struct ectx *x, const char *what,
			    struct json_object *v)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string)) {
		mr_msgs_add(x->pr, "entry %zu: %s: expected a string, got %s",
			    x->i, what, jtype(v));
		return NULL;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len) {
		mr_msgs_add(x->pr, "entry %zu: %s: contains a NUL character",
			    x->i, what);
		return NULL;
	}
	if (!mr_utf8_valid(s, len)) {
		mr_msgs_add(x->pr, "entry %zu: %s: not valid UTF-8", x->i,
			    what);
		return NULL;
	}
	return s;
}

static void ent_addr(struct ectx *x, struct rcfg_entry *e,
		     struct json_object *v)
{
	char q[MR_SHOW_SIZE];
	const char *s = want_str(x, "email_addr", v);

	if (s == NULL)
		return;
	if (!addr_valid(s) || strlen(s) > RCFG_ADDR_MAX) {
		mr_msgs_add(x->pr,
			    "entry %zu: email_addr: expected an address such "
			    "as get@example.org, got %s",
			    x->i, mr_show(s, q, '"'));
		return;
	}
	e->email_addr = mr_lower_dup(s);
}

/* RFC 2045 token characters: no SP, CTL or tspecials. */
static size_t token_len(const char *s)
{
	size_t n = 0;

	while (s[n] > 0x20 && s[n] < 0x7f &&
	       strchr("()<>@,;:\\\"/[]?=", s[n]) == NULL)
		n++;
	return n;
}

/* The full media type for a configured one, or NULL: a bare subtype
 * ("plain", "html", any token) means text/<subtype>, as the existing
 * system builds its parts; type/subtype is taken as it is. Nothing
 * else: no parameters, we set the charset. */
static char *mimetype_dup(const char *s)
{
	size_t n = token_len(s), m;
	char *t;

	if (n > 0 && s[n] == 0)
		t = xasprintf("text/%s", s);
	else if (n == 0 || s[n] != '/')
		return NULL;
	else if ((m = token_len(s + n + 1)) == 0 || s[n + 1 + m] != 0)
		return NULL;
	else
		t = xstrdup(s);
	mr_lower(t);
	return t;
}

/* "what: sub" for a field inside a list element, e.g. "body[1]: text". */
static const char *subfield(char *out, size_t n, const char *what,
			    const char *sub)
{
	int r = snprintf(out, n, "%s: %s", what, sub);

	if (r < 0 || (size_t)r >= n)
		abort(); /* cannot happen: what is "<field>[<number>]" */
	return out;
}

#define RCFG_ITEM_NAME 48

/* "field[i]", how a problem text names a list item. */
static void item_name(char what[RCFG_ITEM_NAME], const char *field, size_t i)
{
	int r = snprintf(what, RCFG_ITEM_NAME, "%s[%zu]", field, i);

	if (r < 0 || r >= RCFG_ITEM_NAME)
		abort(); /* cannot happen: the fields are short words */
}

/* One [mimetype, text] pair (what: "body[i]"); 0 or -1 (problem added). */
static int body_pair(struct ectx *x, const char *what, struct json_object *v,
		     struct rcfg_body *b)
{
	char q[MR_SHOW_SIZE], field[96];
	const char *type, *text;
	char *full = NULL;

	if (!json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) != 2) {
		mr_msgs_add(x->pr,
			    "entry %zu: %s: expected [mimetype, text], got %s",
			    x->i, what, jtype(v));
		return -1;
	}
	subfield(field, sizeof(field), what, "mimetype");
	type = want_str(x, field, json_object_array_get_idx(v, 0));
	if (type != NULL && (full = mimetype_dup(type)) == NULL)
		mr_msgs_add(x->pr,
			    "entry %zu: %s: expected a text subtype such as "
			    "plain or html, or type/subtype such as "
			    "text/html, got %s",
			    x->i, field, mr_show(type, q, '"'));
	subfield(field, sizeof(field), what, "text");
	text = want_str(x, field, json_object_array_get_idx(v, 1));
	if (full == NULL || text == NULL) {
		free(full);
		return -1;
	}
	b->mimetype = full;
	b->len = strlen(text);
	b->text = xstrndup(text, b->len);
	return 0;
}

static void ent_body(struct ectx *x, struct rcfg_entry *e,
		     struct json_object *v)
{
	char what[RCFG_ITEM_NAME];
	size_t n;

	if (json_object_is_type(v, json_type_string)) {
		const char *s = want_str(x, "body", v);

		if (s == NULL)
			return;
		e->bodies = xcalloc(1, sizeof(*e->bodies));
		e->bodies[0].mimetype = xstrdup("text/plain");
		e->bodies[0].len = strlen(s);
		e->bodies[0].text = xstrndup(s, e->bodies[0].len);
		e->n_bodies = 1;
		return;
	}
	if (!json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) == 0) {
		mr_msgs_add(x->pr,
			    "entry %zu: body: expected a string or a non-empty "
			    "list of [mimetype, text], got %s",
			    x->i,
			    json_object_is_type(v, json_type_array)
				    ? "an empty list"
				    : jtype(v));
		return;
	}
	e->bodies = xcalloc(n, sizeof(*e->bodies));
	for (size_t i = 0; i < n; i++) {
		item_name(what, "body", i);
		if (body_pair(x, what, json_object_array_get_idx(v, i),
			      &e->bodies[e->n_bodies]) == 0)
			e->n_bodies++;
	}
}

/* A relative object path: no leading '/', no "." or ".." component and
 * no control characters (the local source reads <dir>/<bucket>/<key>). */
static const char *path_problem(const char *s)
{
	const char *p;
	size_t n;

	if (s[0] == 0)
		return "must not be empty";
	if (s[0] == '/')
		return "must not start with '/'";
	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "must not contain control characters";
	for (p = s;; p += n + 1) {
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return "must not contain \".\" or \"..\" components";
		if (p[n] == 0)
			return NULL;
	}
}

/* The shown file name goes into a quoted MIME parameter: printable
 * ASCII without '"', '\\' or '/'. */
static int filename_ok(const char *s)
{
	if (s[0] == 0)
		return 0;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\' ||
		    *s == '/')
			return 0;
	return 1;
}

static const char *const att_fields[] = {"bucket", "key", "shown_filename"};

/* Check the three strings of an attachment; 0 or -1 (problems added). */
static int att_check(struct ectx *x, const char *what, const char *f[3])
{
	char q[MR_SHOW_SIZE];
	const char *why;
	int rc = 0;

	for (int j = 0; j < 2; j++) {
		if ((why = path_problem(f[j])) != NULL) {
			mr_msgs_add(x->pr, "entry %zu: %s: %s: %s, got %s",
				    x->i, what, att_fields[j], why,
				    mr_show(f[j], q, '"'));
			rc = -1;
		}
	}
	if (!filename_ok(f[2])) {
		mr_msgs_add(x->pr,
			    "entry %zu: %s: shown_filename: expected a "
			    "non-empty printable ASCII name without '\"', "
			    "'\\' or '/', got %s",
			    x->i, what, mr_show(f[2], q, '"'));
		rc = -1;
	}
	return rc;
}

/* One [bucket, key, shown_filename] triple; 0 or -1 (problem added). */
static int att_one(struct ectx *x, const char *what, struct json_object *v,
		   struct rcfg_att *a)
{
	char field[96];
	const char *f[3];
	int bad = 0;

	if (!json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) != 3) {
		mr_msgs_add(x->pr,
			    "entry %zu: %s: expected [bucket, key, "
			    "shown_filename], got %s",
			    x->i, what, jtype(v));
		return -1;
	}
	for (size_t j = 0; j < 3; j++) {
		subfield(field, sizeof(field), what, att_fields[j]);
		f[j] = want_str(x, field, json_object_array_get_idx(v, j));
		if (f[j] == NULL)
			bad = 1;
	}
	if (bad || att_check(x, what, f) < 0)
		return -1;
	a->bucket = xstrdup(f[0]);
	a->key = xstrdup(f[1]);
	a->name = xstrdup(f[2]);
	return 0;
}

static void ent_atts(struct ectx *x, struct rcfg_entry *e,
		     struct json_object *v)
{
	char what[RCFG_ITEM_NAME];
	size_t n;

	if (v == NULL)
		return; /* null: no attachments */
	if (!json_object_is_type(v, json_type_array)) {
		mr_msgs_add(x->pr,
			    "entry %zu: attachments: expected null or a list "
			    "of [bucket, key, shown_filename], got %s",
			    x->i, jtype(v));
		return;
	}
	n = json_object_array_length(v);
	e->atts = xcalloc(n, sizeof(*e->atts));
	for (size_t i = 0; i < n; i++) {
		item_name(what, "attachments", i);
		if (att_one(x, what, json_object_array_get_idx(v, i),
			    &e->atts[e->n_atts]) == 0)
			e->n_atts++;
	}
}

static void ent_method(struct ectx *x, struct rcfg_entry *e,
		       struct json_object *v)
{
	char q[MR_SHOW_SIZE];
	const char *s = NULL;

	if (json_object_is_type(v, json_type_string))
		s = json_object_get_string(v);
	if (s != NULL && mr_streq_ci(s, "SMTP")) {
		e->method = RCFG_SMTP;
	} else if (s != NULL && mr_streq_ci(s, "SES")) {
		e->method = RCFG_SES;
	} else {
		mr_msgs_add(x->pr,
			    "entry %zu: send_method: expected \"SMTP\" or "
			    "\"SES\", got %s",
			    x->i, s ? mr_show(s, q, '"') : jtype(v));
	}
}

typedef void field_fn(struct ectx *x, struct rcfg_entry *e,
		      struct json_object *v);

static const struct {
	const char *name;
	field_fn *fn;
	int required;
} fields[] = {
	{"email_addr", ent_addr, 1},
	{"body", ent_body, 1},
	{"attachments", ent_atts, 0},
	{"send_method", ent_method, 1},
};

#define N_FIELDS (sizeof(fields) / sizeof(*fields))

static int field_known(const char *name)
{
	for (size_t f = 0; f < N_FIELDS; f++)
		if (strcmp(fields[f].name, name) == 0)
			return 1;
	return 0;
}

/* Check entry i (v) into e; every problem goes to pr. */
static void entry_parse(struct mr_msgs *pr, size_t i, struct json_object *v,
			struct rcfg_entry *e)
{
	struct ectx x = {pr, i};
	char q[MR_SHOW_SIZE];
	struct json_object_iterator it, end;

	e->index = i;
	if (!json_object_is_type(v, json_type_object)) {
		mr_msgs_add(pr, "entry %zu: expected an object, got %s", i,
			    jtype(v));
		return;
	}
	it = json_object_iter_begin(v);
	end = json_object_iter_end(v);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		if (!field_known(json_object_iter_peek_name(&it)))
			mr_msgs_add(pr, "entry %zu: unknown field %s", i,
				    mr_show(json_object_iter_peek_name(&it), q,
					    '"'));
	for (size_t f = 0; f < N_FIELDS; f++) {
		struct json_object *fv = NULL;

		if (json_object_object_get_ex(v, fields[f].name, &fv))
			fields[f].fn(&x, e, fv);
		else if (fields[f].required)
			mr_msgs_add(pr, "entry %zu: %s: missing", i,
				    fields[f].name);
	}
}

static int ent_cmp(const void *a, const void *b)
{
	const struct rcfg_entry *x = *(const struct rcfg_entry *const *)a;
	const struct rcfg_entry *y = *(const struct rcfg_entry *const *)b;
	int r = strcmp(x->email_addr, y->email_addr);

	if (r != 0)
		return r;
	return (x->index > y->index) - (x->index < y->index);
}

/* The lookup index and the distinct addresses in first-seen order: in the
 * sorted array the first of each run of one address is its first entry. */
static void build_index(struct rcfg *c)
{
	unsigned char *first = xcalloc(c->n, 1);

	/* an array of pointers, sized as such */
	/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
	c->sorted = xcalloc(c->n, sizeof(*c->sorted));
	for (size_t i = 0; i < c->n; i++)
		c->sorted[i] = &c->ents[i];
	/* NOLINTNEXTLINE(bugprone-sizeof-expression) */
	qsort(c->sorted, c->n, sizeof(*c->sorted), ent_cmp);
	for (size_t k = 0; k < c->n; k++)
		if (k == 0 || strcmp(c->sorted[k - 1]->email_addr,
				     c->sorted[k]->email_addr) != 0)
			first[c->sorted[k]->index] = 1;
	c->addrs = xcalloc(c->n, sizeof(*c->addrs));
	for (size_t i = 0; i < c->n; i++)
		if (first[i])
			c->addrs[c->n_addrs++] = c->ents[i].email_addr;
	free(first);
}

/* rcfg_parse; name (a file, or NULL) prefixes file-level problems. */
static struct rcfg *parse_named(const char *json, size_t len, const char *name,
				struct mr_msgs *pr)
{
	struct json_object *root;
	struct rcfg *c;
	size_t n0 = pr->n;
	char *z;

	if (len > INT_MAX) {
		mr_msgs_add(pr, "%s%slarger than %d bytes", name ? name : "",
			    name ? ": " : "", INT_MAX);
		return NULL;
	}
	if (jsn_check(json, len, name, pr) < 0)
		return NULL;
	z = xstrndup(json, len); /* jsn_check: no NUL inside */
	root = json_tokener_parse(z);
	free(z);
	if (root == NULL) {
		mr_msgs_add(pr, "%s%sJSON could not be parsed",
			    name ? name : "", name ? ": " : "");
		return NULL;
	}
	if (!json_object_is_type(root, json_type_array)) {
		mr_msgs_add(pr,
			    "%s%sexpected a JSON list of entries at the "
			    "top level, got %s",
			    name ? name : "", name ? ": " : "", jtype(root));
		json_object_put(root);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->n = json_object_array_length(root);
	c->ents = xcalloc(c->n, sizeof(*c->ents));
	for (size_t i = 0; i < c->n; i++)
		entry_parse(pr, i, json_object_array_get_idx(root, i),
			    &c->ents[i]);
	json_object_put(root);
	if (pr->n != n0) {
		rcfg_free(&c);
		return NULL;
	}
	build_index(c);
	return c;
}

struct rcfg *rcfg_parse(const char *json, size_t len, struct mr_msgs *problems)
{
	struct mr_msgs local = {NULL, 0};
	struct rcfg *c;

	c = parse_named(json, len, NULL, problems ? problems : &local);
	mr_msgs_free(&local);
	return c;
}

struct rcfg *rcfg_load_file(const char *path, struct mr_msgs *problems)
{
	struct mr_msgs local = {NULL, 0};
	struct mr_msgs *pr = problems ? problems : &local;
	struct rcfg *c = NULL;
	struct mr_err err;
	char *data;
	size_t len;

	mr_err_clear(&err);
	if (mr_read_file(path, RCFG_FILE_MAX, &data, &len, &err) < 0) {
		mr_msgs_add(pr, "%s", err.text);
	} else {
		c = parse_named(data, len, path, pr);
		free(data);
	}
	mr_msgs_free(&local);
	return c;
}

size_t rcfg_count(const struct rcfg *c)
{
	return c ? c->n : 0;
}

const struct rcfg_entry *rcfg_entry(const struct rcfg *c, size_t i)
{
	if (c == NULL || i >= c->n)
		return NULL;
	return &c->ents[i];
}

size_t rcfg_lookup(const struct rcfg *c, const char *addr,
		   const struct rcfg_entry **out, size_t max)
{
	char low[RCFG_ADDR_MAX + 1];
	size_t len, lo = 0, hi, n = 0;

	if (c == NULL || addr == NULL)
		return 0;
	len = strnlen(addr, sizeof(low));
	if (len > RCFG_ADDR_MAX)
		return 0; /* longer than any configured address */
	memcpy(low, addr, len + 1);
	mr_lower(low);
	hi = c->n;
	while (lo < hi) { /* first entry whose address is >= low */
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->sorted[mid]->email_addr, low) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < c->n && strcmp(c->sorted[lo]->email_addr, low) == 0; lo++)
		if (n < max)
			out[n++] = c->sorted[lo];
		else
			n++;
	return n;
}

size_t rcfg_addresses(const struct rcfg *c, const char *const **addrs_r)
{
	if (c == NULL) {
		*addrs_r = NULL;
		return 0;
	}
	*addrs_r = c->addrs;
	return c->n_addrs;
}
