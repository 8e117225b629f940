/* fuzz_parse.c - the header block and the MIME structure scan
 * DESCRIPTION  prs_parse_limits() on the input as a whole message, then
 *              the properties every caller relies on: a From address
 *              passes addr_valid() and appears in the input; decoded
 *              Subject and display name are valid UTF-8 without
 *              controls; no header value keeps a CR or LF; the report
 *              checks (DSN, ARF) agree with each other; parsing twice
 *              gives the same message.
 */
#include "fuzz.h"

#include <string.h>

#include "addr.h"
#include "parse.h"

static void check_msg(const struct prs_msg *m, const char *buf, size_t len)
{
	if (m->from_addr) {
		FZ_CHECK(addr_valid(m->from_addr));
		FZ_CHECK(memmem(buf, len, m->from_addr, strlen(m->from_addr)) !=
			 NULL);
	}
	if (m->subject)
		FZ_CHECK(fz_clean_utf8(m->subject, strlen(m->subject)));
	if (m->from_display)
		FZ_CHECK(fz_clean_utf8(m->from_display,
				       strlen(m->from_display)));
	if (m->requested)
		FZ_CHECK(addr_valid(m->requested));
	for (size_t i = 0; i < m->n_hdrs; i++)
		FZ_CHECK(strpbrk(m->hdrs[i].value, "\r\n") == NULL);
	if (prs_report_type_is(m, "feedback-report"))
		FZ_CHECK(prs_is_report(m));
	FZ_CHECK(m->header_bytes <= len);
	if (m->body_scanned)
		FZ_CHECK(m->mime_parts >= 1 && m->mime_depth >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prs_limits lim;
	struct prs_msg *m = NULL, *m2 = NULL;
	struct mr_err err;
	char *buf = fz_copy(data, size);
	int r, r2;

	prs_limits_default(&lim);
	r = prs_parse_limits(buf, size, &lim, &m, &err);
	r2 = prs_parse_limits(buf, size, &lim, &m2, &err);
	FZ_CHECK(r == r2);
	if (r == 0) {
		check_msg(m, buf, size);
		FZ_CHECK(m->n_hdrs == m2->n_hdrs);
		FZ_CHECK(m->has_rfc822 == m2->has_rfc822);
		FZ_CHECK((m->from_addr == NULL) == (m2->from_addr == NULL));
	}
	prs_free(&m);
	prs_free(&m2);
	free(buf);
	return 0;
}
