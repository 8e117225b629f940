/* reason.c - failure reason words (contract: reason.h)
 *
 * The table is the single place these words are written; the Policy
 * section of mailresponder(8) and design.md s.4 list the same words.
 */
#include "reason.h"

static const char *const words[REASON_N] = {
	[REASON_NONE] = "",
	[REASON_NOT_REGULAR_FILE] = "not-regular-file",
	[REASON_READ_ERROR] = "read-error",
	[REASON_HEADERS_TOO_LARGE] = "headers-too-large",
	[REASON_UNPARSABLE] = "unparsable",
	[REASON_STORE_UNAVAILABLE] = "store-unavailable",
	[REASON_COMPOSE_ERROR] = "compose-error",
	[REASON_SIGN_ERROR] = "sign-error",
	[REASON_TRANSPORT_UNAVAILABLE] = "transport-unavailable",
	[REASON_SEND_FAILED] = "send-failed",
	[REASON_SES_REJECTED] = "ses-rejected",
	[REASON_SES_INVALID] = "ses-invalid",
	[REASON_SES_THROTTLED] = "ses-throttled",
	[REASON_SES_PAUSED] = "ses-paused",
	[REASON_SES_UNAVAILABLE] = "ses-unavailable",
	[REASON_AWS_CREDENTIALS] = "aws-credentials",
	[REASON_RETRY_EXPIRED] = "retry-expired",
	[REASON_UNREADABLE] = "unreadable",
	[REASON_TOO_MANY_HEADERS] = "too-many-headers",
	[REASON_HEADER_LINE_TOO_LONG] = "header-line-too-long",
	[REASON_MIME_TOO_DEEP] = "mime-too-deep",
	[REASON_MIME_TOO_MANY_PARTS] = "mime-too-many-parts",
	[REASON_TIME_LIMIT] = "time-limit",
};

const char *reason_word(enum reason r)
{
	if ((unsigned)r >= REASON_N)
		return "unknown";
	return words[r];
}
