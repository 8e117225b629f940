/* fuzz_addr.c - address parsing and hashing
 * DESCRIPTION  addr_parse_mailbox() on the input as a header value: an
 *              address it returns passes addr_valid(), has no CR, LF,
 *              space or angle bracket, and its domain and local part
 *              split consistently; the display name (if any) is clean
 *              UTF-8. Parsing twice gives the same address.
 */
#include "fuzz.h"

#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fz_copy(data, size), *a = NULL, *b = NULL, *dn = NULL;
	char *dn2 = NULL;
	int r = addr_parse_mailbox(buf, size, &a, &dn);
	int r2 = addr_parse_mailbox(buf, size, &b, &dn2);

	FZ_CHECK(r == r2);
	if (r == 1) {
		const char *dom = addr_domain(a);

		FZ_CHECK(addr_valid(a));
		FZ_CHECK(strcmp(a, b) == 0);
		FZ_CHECK(strpbrk(a, "\r\n <>") == NULL);
		FZ_CHECK(dom != NULL && dom > a && dom[-1] == '@');
		FZ_CHECK(addr_local_len(a, 0) == (size_t)(dom - 1 - a));
		if (dn)
			FZ_CHECK(fz_clean_utf8(dn, strlen(dn)));
	}
	free(a);
	free(b);
	free(dn);
	free(dn2);
	free(buf);
	return 0;
}
