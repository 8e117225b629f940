/* parse.h - the headers of one request, parsed with libetpan
 * SYNOPSIS     int prs_read_limits(int fd, const struct prs_limits *lim,
 *                                  struct prs_msg **msg_r,
 *                                  struct mr_err *err);
 *              int prs_parse_limits(const char *buf, size_t len,
 *                                   const struct prs_limits *lim,
 *                                   struct prs_msg **msg_r,
 *                                   struct mr_err *err);
 *              void prs_free(struct prs_msg **msg);
 *              const char *prs_header(const struct prs_msg *msg,
 *                                     const char *name, size_t *next);
 *              char *prs_decode_2047(const char *value, size_t len);
 * DESCRIPTION  Only the header block is read and parsed, plus, for a
 *              multipart message within lim->mime_bytes, its MIME
 *              structure (report detection); a large body costs at most
 *              one 64 KiB chunk. prs_read*() read fd until the chunk that
 *              holds the blank line ending the headers (or EOF) and hand
 *              the block to prs_parse*(), which parses a buffer holding
 *              at least the header block (followed by two readable NUL
 *              bytes: buf[len], buf[len+1]).
 *              The parse uses mailimf_envelope_and_optional_fields_parse
 *              only (mailimf_fields_parse and mailimf_message_parse leak
 *              on a Return-Path without '>', libetpan-notes.md s.1). From:
 *              the FIRST From header decides; a From that libetpan could
 *              not type leaves from_addr NULL even when a later one
 *              parses, and from_count tells policy there were several.
 *              The From addr-spec must appear verbatim in the block
 *              (libetpan drops the CFWS inside one; notes s.2).
 *              Message-IDs holding CTL, SP, '<', '>' or non-ASCII bytes,
 *              or longer than 900 bytes, are dropped: they are copied
 *              into the reply's References.
 *              Garbage is not an error: fields that cannot be parsed are
 *              left NULL and policy decides (design.md s.4).
 *
 *              prs_decode_2047() decodes with libetpan (output UTF-8), at
 *              most 64 KiB of input, then validates the result (libetpan
 *              can emit code points above U+10FFFF, notes s.3): each
 *              invalid byte becomes U+FFFD; C0 controls (CR, LF and TAB
 *              included), DEL and C1 controls become spaces; leading and
 *              trailing spaces are trimmed. On a libetpan error (an
 *              encoding letter other than B or Q) the raw value is used,
 *              unfolded, with non-ASCII bytes as '?'.
 *
 *              No static mutable state: called from every worker thread.
 *              Nothing here logs header contents.
 * DIAGNOSTICS  0 parsed; -1 with err: MR_PERM with the reason word as the
 *              text when a limit is exceeded ("headers-too-large",
 *              "too-many-headers", "header-line-too-long",
 *              "mime-too-deep", "mime-too-many-parts"), or when libetpan
 *              fails; MR_TEMP for a read error or libetpan out of memory.
 * SEE ALSO     addr.h, policy.h, libetpan-notes.md s.1-s.4, s.6
 */
#ifndef MR_PARSE_H
#define MR_PARSE_H

#include <stddef.h>

#include "mr.h"

struct prs_hdr {
	char *name;  /* as written */
	char *value; /* unfolded (CR/LF removed), leading/trailing WSP trimmed */
};

struct prs_msg {
	/* original recipient: X-Original-To, else Delivered-To (first one
	 * that parses); the addr-spec as written, NULL if none parses */
	char *requested;
	int has_return_path; /* a Return-Path header exists */
	int null_sender;     /* the first Return-Path is "<>" */
	/* first mailbox of the first From; NULL when From is missing or
	 * unparsable (libetpan leaves it an optional field) */
	char *from_addr;
	char *from_display; /* decoded UTF-8 display name or NULL */
	int from_count;     /* number of From headers seen */
	/* Subject decoded from RFC 2047 to valid UTF-8; CR, LF, TAB and other
	 * controls replaced by spaces; NULL when there is no Subject */
	char *subject;
	char *message_id; /* without <>, NULL if none */
	/* every other header (optional fields: Authentication-Results,
	 * Auto-Submitted, Precedence, List-*, X-*, Content-Type, ...) in file
	 * order */
	struct prs_hdr *hdrs;
	size_t n_hdrs;
	int headers_complete; /* the header block ended with a blank line or
				 at EOF on a header boundary */
	size_t header_bytes;  /* size of the header block read */
	/* MIME structure of a multipart message (report detection): set
	 * only when the whole message was in the buffer and within
	 * prs_limits.mime_bytes */
	int body_scanned;
	int has_rfc822;    /* a message/rfc822, message/global or
			      text/rfc822-headers part (a carried original) */
	size_t mime_parts; /* parts in the tree (root included) */
	size_t mime_depth; /* deepest nesting (1: the message alone) */
};

/* What prs_read()/prs_parse_limits() accept; each is a permanent failure
 * with the reason word as err->text when exceeded. */
struct prs_limits {
	size_t max_header_bytes; /* "headers-too-large" */
	size_t max_headers;      /* header fields: "too-many-headers" */
	size_t max_line;         /* bytes of one header line, without its
				    line end: "header-line-too-long" */
	size_t mime_bytes;       /* a multipart message larger than this is
				    not scanned for its structure */
	size_t mime_depth;       /* nesting: "mime-too-deep" */
	size_t mime_parts;       /* parts: "mime-too-many-parts" */
};

/* The defaults of the settings (limits.* in mailresponder-settings(5)). */
void prs_limits_default(struct prs_limits *lim);

int prs_read(int fd, size_t max_header, struct prs_msg **msg_r,
	     struct mr_err *err);
int prs_parse(const char *buf, size_t len, struct prs_msg **msg_r,
	      struct mr_err *err);
/* prs_read() and prs_parse() check no header count or line length (the
 * MIME limits are the defaults). The same under explicit limits;
 * prs_read_limits() also reads the body of a multipart message (up to
 * lim->mime_bytes) for the structure scan. */
int prs_read_limits(int fd, const struct prs_limits *lim,
		    struct prs_msg **msg_r, struct mr_err *err);
int prs_parse_limits(const char *buf, size_t len, const struct prs_limits *lim,
		     struct prs_msg **msg_r, struct mr_err *err);
void prs_free(struct prs_msg **msg);

/* First header named name (case-insensitive), or NULL; *next (if not
 * NULL) starts/continues an iteration: set *next = 0 first. */
const char *prs_header(const struct prs_msg *msg, const char *name,
		       size_t *next);

/* 1 if the top-level Content-Type is multipart/report (a DSN or MDN). */
int prs_is_report(const struct prs_msg *msg);

/* 1 if the top-level Content-Type is multipart/report and, when
 * report_type is not NULL, its report-type parameter equals report_type
 * (case-insensitive). */
int prs_report_type_is(const struct prs_msg *msg, const char *report_type);

/* Decode an RFC 2047 phrase or unstructured value to valid UTF-8 (invalid
 * bytes and unknown charsets fall back cleanly); control characters
 * become spaces. Returns malloc'd text, never NULL. */
char *prs_decode_2047(const char *value, size_t len);

/* A display name as libetpan left it, decoded (prs_decode_2047()) into a
 * malloc'd string; NULL when raw is NULL or decodes to nothing. */
char *prs_display_dup(const char *raw);

#endif
