/* rcfg.h - the responder config (design.md s.5), an immutable snapshot
 * SYNOPSIS     struct rcfg *rcfg_parse(const char *json, size_t len,
 *                                      struct mr_msgs *problems);
 *              struct rcfg *rcfg_load_file(const char *path,
 *                                          struct mr_msgs *problems);
 *              size_t rcfg_lookup(const struct rcfg *c, const char *addr,
 *                                 const struct rcfg_entry **out,
 *                                 size_t max);
 *              void rcfg_free(struct rcfg **c);
 * DESCRIPTION  The existing JSON format, accepted as-is: a list of
 *              {"email_addr", "body", "attachments", "send_method"}.
 *              body: a string (text/plain) or a non-empty list of
 *              [mimetype, text], where mimetype is a bare text subtype as
 *              existing deployments write it ("plain", "html":
 *              text/<subtype>) or type/subtype; attachments: null, absent
 *              or a list of [bucket, key, shown_filename]; send_method:
 *              "SMTP" or "SES" (any case). Parsed with json-c (comments
 *              allowed, nothing but whitespace after the list; a file of
 *              at most 16 MiB); every entry is checked in full and every
 *              problem kept, so that config-check shows all of them in
 *              one run. Several entries may share an address; they are
 *              answered in config order. Addresses are compared
 *              case-insensitively. Entry indexes are positions in the
 *              list. Lookups run per message: a binary search, no
 *              allocation. The loaded config is never changed, so threads
 *              share it freely.
 * DIAGNOSTICS  NULL when any problem was found; each names the entry index
 *              (from 0) and the field, e.g. "entry 3: send_method:
 *              expected \"SMTP\" or \"SES\", got \"FAX\"". JSON syntax
 *              problems give line, column and byte; file problems the
 *              path.
 * SEE ALSO     reply.h, snap.h; design.md s.5,
 *              config/responses.sample.json
 */
#ifndef MR_RCFG_H
#define MR_RCFG_H

#include <stddef.h>

#include "mr.h"

enum rcfg_method {
	RCFG_SMTP = 0,
	RCFG_SES,
};

struct rcfg_body {
	char *mimetype; /* lower-cased, e.g. "text/plain" */
	char *text;     /* UTF-8, NUL-terminated */
	size_t len;
};

struct rcfg_att {
	char *bucket;
	char *key;
	char *name; /* shown file name (ASCII, no CR/LF/NUL/quotes) */
};

struct rcfg_entry {
	size_t index;     /* position in the config list */
	char *email_addr; /* lower-cased addr-spec */
	struct rcfg_body *bodies;
	size_t n_bodies;
	struct rcfg_att *atts;
	size_t n_atts;
	enum rcfg_method method;
};

struct rcfg;

struct rcfg *rcfg_parse(const char *json, size_t len, struct mr_msgs *problems);
/* Reads a local file and calls rcfg_parse. */
struct rcfg *rcfg_load_file(const char *path, struct mr_msgs *problems);
void rcfg_free(struct rcfg **c);

size_t rcfg_count(const struct rcfg *c);
const struct rcfg_entry *rcfg_entry(const struct rcfg *c, size_t i);
/* Entries configured for addr (case-insensitive), in config order: fills
 * up to max pointers into out and returns how many exist in all. */
size_t rcfg_lookup(const struct rcfg *c, const char *addr,
		   const struct rcfg_entry **out, size_t max);
/* Distinct configured addresses, lower-cased, in first-seen order. */
size_t rcfg_addresses(const struct rcfg *c, const char *const **addrs_r);

#endif
