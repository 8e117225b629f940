/* reply.h - compose replies (design.md s.5)
 * SYNOPSIS     struct rpl_set *rpl_set_build(const struct set *s,
 *                      const struct rcfg *c, struct blob *b,
 *                      struct mr_msgs *problems);
 *              int rpl_compose(const struct rpl_set *rs, size_t entry,
 *                      const struct rpl_req *req, struct rpl_msg *out,
 *                      struct mr_err *err);
 *              int rpl_forward(const struct rpl_set *rs,
 *                      const struct rpl_fwd *f, ...);
 *              int rpl_notice(const struct rpl_set *rs,
 *                      const char *to_addr, ...);
 *              char *rpl_encode_2047(const char *utf8);
 * DESCRIPTION  A config entry's body is the same for every requester except
 *              the provider variant (attachment names renamed for
 *              recipients in exactly one of provider_domains), so
 *              rpl_set_build() builds each (entry, variant) body once -
 *              MIME part headers and the encoded content with fixed
 *              boundaries - and rpl_compose() only writes the headers of
 *              one reply and points at the prebuilt body: no attachment
 *              byte is copied. The sent message is head + CRLF + body.
 *              Two builds of the same config give the same bytes
 *              (boundaries come from a hash of what they enclose).
 *              Structure: multipart/mixed holding multipart/alternative
 *              (parts in config order, text/html last) and the
 *              attachments (base64, Content-Disposition: attachment;
 *              filename=...); without attachments the alternative alone,
 *              or a single text part for a single body. With attachments
 *              the bodies always sit in a multipart/alternative, even a
 *              single one. Text is UTF-8 quoted-printable and round-trips
 *              exactly. Every line ends in CRLF; text lines are at most 76
 *              bytes, header lines are folded at spaces to 78 where a
 *              space allows it and are always below 998.
 *              Headers: Date (UTC), From (settings), To (bare addr-spec),
 *              Reply-To (the requested address), Subject, Message-ID
 *              (own, random), In-Reply-To and References (the request's
 *              Message-ID), Auto-Submitted: auto-replied, MIME-Version,
 *              then the body's own Content-Type (and
 *              Content-Transfer-Encoding for a single part). The Subject
 *              is the original with controls turned into spaces,
 *              leading/trailing spaces trimmed, cut to RPL_SUBJECT_MAX
 *              bytes, RFC 2047 B when not ASCII; "Re: " is not added when
 *              it starts with "re:" in any case ("Re : x" and "Re- x" get
 *              one); an empty or missing Subject gives "Re:". A rename
 *              that would leave an empty name is not applied.
 *              rpl_forward() wraps a request for an admin (message/rfc822)
 *              and rpl_notice() writes a plain text mail of ours (the stats
 *              report). The built set is read-only and shared by workers.
 * DIAGNOSTICS  rpl_set_build: NULL with problems naming the entry
 *              ("entry 2: attachment files/app.apk: ..."). rpl_compose:
 *              0, or -1 with err: MR_PERM for CR/LF/controls, '<' or '>'
 *              in to_addr, reply_to or message_id, or an unknown entry;
 *              MR_TEMP when no randomness is available.
 * SEE ALSO     rcfg.h, blob.h, dkim.h; design.md s.5, libetpan-notes.md
 *              s.5, RFC 2045-2047, RFC 5322
 */
#ifndef MR_REPLY_H
#define MR_REPLY_H

#include <stddef.h>
#include <time.h>

#include "mr.h"

struct set;
struct rcfg;
struct blob;
struct rpl_set;

/* The per-reply facts. */
struct rpl_req {
	const char *to_addr;    /* the requester's addr-spec */
	const char *reply_to;   /* the requested (our) address */
	const char *subject;    /* decoded original Subject or NULL */
	const char *message_id; /* the request's Message-ID without <> */
	time_t now;
};

struct rpl_msg {
	struct mr_buf head; /* header lines, each ending CRLF, no blank line */
	const char *body;   /* after the blank line; borrowed from the set */
	size_t body_len;
	/* DKIM body hash of body (relaxed/SHA-256), computed once per
	 * prebuilt body; NULL for a forward (the signer computes it) */
	const unsigned char *body_hash;
	char *own_body; /* a forward's body (body points at it), or NULL */
	int variant;    /* 0 plain, 1 provider names */
	size_t entry;   /* config entry index */
};

/* A complaint or bounce forwarded to one admin address (design.md s.4):
 * a note and the original as message/rfc822 (8bit, line ends made CRLF;
 * base64 application/octet-stream when the original has NULs, bare CRs or
 * lines over 998 bytes; text/rfc822-headers when orig_cut). Subject:
 * "<tag> <reason>: <original subject>". Auto-Submitted: auto-generated. */
struct rpl_fwd {
	const char *to_addr;   /* one admin address */
	const char *tag;       /* admin_subject_tag */
	const char *reason;    /* the forward reason: "complaint", ... */
	const char *requested; /* our address that was written to */
	const char *subject;   /* decoded original Subject or NULL */
	const char *uniq;      /* the request's unique name */
	const char *orig;      /* the original bytes (or its headers) */
	size_t orig_len;
	int orig_cut; /* orig holds only the headers of a large original */
	time_t now;
};

struct rpl_set *rpl_set_build(const struct set *s, const struct rcfg *c,
			      struct blob *b, struct mr_msgs *problems);
void rpl_set_free(struct rpl_set **rs);

/* 1 if addr's domain is one of the settings' provider_domains. */
int rpl_is_provider(const struct set *s, const char *addr);

int rpl_compose(const struct rpl_set *rs, size_t entry,
		const struct rpl_req *req, struct rpl_msg *out,
		struct mr_err *err);
void rpl_msg_free(struct rpl_msg *m);

int rpl_forward(const struct rpl_set *rs, const struct rpl_fwd *f,
		struct rpl_msg *out, struct mr_err *err);

/* A plain text mail of ours (the stats report) to one address: From as
 * in replies, Subject (RFC 2047 when needed), Auto-Submitted:
 * auto-generated, the text as UTF-8 quoted-printable. 0, or -1 with err. */
int rpl_notice(const struct rpl_set *rs, const char *to_addr,
	       const char *subject, const char *text, time_t now,
	       struct rpl_msg *out, struct mr_err *err);

/* Encode UTF-8 text as an RFC 2047 header value: returned as-is (copied)
 * when it is printable ASCII, else "=?UTF-8?B?...?=" words of at most 45
 * bytes of text each (cut at character boundaries), separated by single
 * spaces. Caller frees. */
char *rpl_encode_2047(const char *utf8);

#endif
