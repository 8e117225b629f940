/* fuzz_rcfg.c - the responder config parser
 * DESCRIPTION  rcfg_parse() on the input: a config or problems (each
 *              non-empty); every configured address passes addr_valid()
 *              and is found again by rcfg_lookup().
 */
#include "fuzz.h"

#include <string.h>

#include "addr.h"
#include "rcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mr_msgs pr = {NULL, 0};
	struct rcfg *c = rcfg_parse((const char *)data, size, &pr);

	FZ_CHECK((c == NULL) == (pr.n > 0));
	for (size_t i = 0; i < pr.n; i++)
		FZ_CHECK(pr.v[i][0] != 0);
	if (c != NULL) {
		const char *const *addrs;
		size_t n = rcfg_addresses(c, &addrs);

		for (size_t i = 0; i < n; i++) {
			FZ_CHECK(addr_valid(addrs[i]));
			FZ_CHECK(rcfg_lookup(c, addrs[i], NULL, 0) > 0);
		}
	}
	rcfg_free(&c);
	mr_msgs_free(&pr);
	return 0;
}
