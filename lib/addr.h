/* addr.h - mailbox parsing (libetpan), validation, matching and hashing
 * SYNOPSIS     int addr_parse_mailbox(const char *value, size_t len,
 *                                     char **addr_r, char **display_r);
 *              int addr_valid(const char *s);
 *              const char *addr_domain(const char *addr);
 *              size_t addr_local_len(const char *addr, int strip_detail);
 *              int addr_domain_under(const char *domain,
 *                                    const char *parent);
 *              int addr_domain_in(const char *domain, char *const *list,
 *                                 size_t n);
 *              void addr_hash_hex(const struct hash_key *key,
 *                                 const char *s, char out[]);
 * DESCRIPTION  Addresses are parsed with libetpan, never with a regular
 *              expression, and validated after the parse (libetpan is
 *              lenient: libetpan-notes.md s.2). addr_parse_mailbox() runs
 *              libetpan's mailbox-list parser on a header value, then
 *              checks what libetpan does not: the whole value was
 *              consumed (trailing CFWS and one CRLF allowed) and the
 *              addr-spec passes addr_valid(). libetpan drops the CFWS
 *              inside an addr-spec, spaces in quotes included ("a b"@x
 *              reads "ab"@x, another mailbox), so the addr-spec must also
 *              appear verbatim in the value, or the mailbox is refused.
 *              The display name is decoded with prs_display_dup().
 *
 *              addr_valid() accepts a dot-atom-ish local part (any byte
 *              but SP, CTL, specials; dots are not checked, since real
 *              mailboxes like "j..d" exist) in ASCII or UTF-8 (RFC 6532),
 *              or a quoted local part (may hold '@' and spaces, not CTL or
 *              "<>,;"), then one '@' and a domain of non-empty labels of
 *              letters, digits, '-' and '_' (at most 63 bytes each), or a
 *              [literal] of address-literal characters; at most 254
 *              bytes in all.
 *
 *              Comparisons ignore ASCII case only: no locale is involved.
 *              Hashes are what the store keeps (design.md s.7). Nothing
 *              here logs: these are addresses.
 * DIAGNOSTICS  addr_parse_mailbox(): 1 parsed, 0 unparsable (nothing to
 *              free). The others cannot fail.
 * SEE ALSO     parse.h, hash.h, libetpan-notes.md s.2, design.md s.4, s.7
 */
#ifndef MR_ADDR_H
#define MR_ADDR_H

#include <stddef.h>

#include "hash.h"

/* Parse a header value holding one mailbox ("Name <a@b>", "<a@b>", "a@b",
 * "a@b (comment)"; folded and encoded-word display names included). The
 * whole value must be consumed (trailing CFWS allowed) and the addr-spec
 * must pass addr_valid(). On success *addr_r gets the addr-spec as
 * written (malloc'd) and, if display_r is not NULL, *display_r the display
 * name decoded to valid UTF-8 with control characters replaced by spaces
 * (malloc'd, or NULL when there is none). When the value is a list, the
 * first mailbox is taken. Returns 1 parsed, 0 unparsable. */
int addr_parse_mailbox(const char *value, size_t len, char **addr_r,
		       char **display_r);

/* 1 if s is a plausible addr-spec: exactly one '@' outside a quoted local
 * part, non-empty local part and domain, no SP/CTL/'<>,;', no empty
 * domain labels, at most 254 bytes. */
int addr_valid(const char *s);

/* Pointer to the domain part (after the last '@'), or "" if none. */
const char *addr_domain(const char *addr);

/* Length of the local part, without a "+detail" suffix when strip_detail
 * is set; quotes around a quoted local part are kept. */
size_t addr_local_len(const char *addr, int strip_detail);

/* 1 if domain is parent or a subdomain of it ("a.b.example.org" is under
 * "example.org", "badexample.org" is not); ASCII case ignored. */
int addr_domain_under(const char *domain, const char *parent);

/* 1 if domain is under one of list[0..n) (addr_domain_under); a leading
 * '.' on an item is ignored, NULL items are skipped. */
int addr_domain_in(const char *domain, char *const *list, size_t n);

/* Hash of the lower-cased address or domain: SHA-512 hex, or
 * HMAC-SHA-512 hex when key is not NULL (design.md s.7). */
void addr_hash_hex(const struct hash_key *key, const char *addr_or_domain,
		   char out[HASH_SHA512_HEX]);

#endif
