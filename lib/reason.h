/* reason.h - the words for why a request failed or is retried
 * SYNOPSIS     const char *reason_word(enum reason r);
 * DESCRIPTION  One enum and one table for every failure reason that
 *              reaches the event log's "reason" field or an entry's result
 *              (design.md s.4 and s.8, mailresponder(8) Policy). Policy
 *              words (replied, unknown-address, ...) stay with the policy
 *              (pol_reason_word); these are the reasons a request could
 *              not be handled as decided.
 * DIAGNOSTICS  reason_word: "unknown" for a value outside the enum.
 * SEE ALSO     policy.h, event.h
 */
#ifndef MR_REASON_H
#define MR_REASON_H

enum reason {
	REASON_NONE = 0,
	REASON_NOT_REGULAR_FILE, /* not a plain file in new/ */
	REASON_READ_ERROR,       /* the spool file could not be read */
	REASON_HEADERS_TOO_LARGE,
	REASON_UNPARSABLE,            /* the header block does not parse */
	REASON_STORE_UNAVAILABLE,     /* rate-limit store or send journal */
	REASON_COMPOSE_ERROR,         /* the reply could not be built */
	REASON_SIGN_ERROR,            /* DKIM signing failed */
	REASON_TRANSPORT_UNAVAILABLE, /* the transport could not be opened */
	REASON_SEND_FAILED,           /* SMTP or outbox refused or failed */
	REASON_SES_REJECTED,          /* SES MessageRejected */
	REASON_SES_INVALID,      /* SES InvalidParameterValue and the like */
	REASON_SES_THROTTLED,    /* SES Throttling, sending rate exceeded */
	REASON_SES_PAUSED,       /* account sending paused, daily quota */
	REASON_SES_UNAVAILABLE,  /* 5xx, connection, TLS, timeout */
	REASON_AWS_CREDENTIALS,  /* no usable AWS credentials */
	REASON_RETRY_EXPIRED,    /* transient failures for too long */
	REASON_UNREADABLE,       /* classify: the file cannot be read */
	REASON_TOO_MANY_HEADERS, /* over limits.max_headers */
	REASON_HEADER_LINE_TOO_LONG, /* over limits.max_header_line */
	REASON_MIME_TOO_DEEP,        /* over limits.mime_depth */
	REASON_MIME_TOO_MANY_PARTS,  /* over limits.mime_parts */
	REASON_TIME_LIMIT,           /* over limits.message_time_ms */
	REASON_N
};

const char *reason_word(enum reason r);

#endif
