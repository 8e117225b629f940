/* fuzz_policy.c - the policy decision on a parsed request
 * DESCRIPTION  Parse, then pol_decide() twice without a store (the store
 *              rows are skipped): the two verdicts are the same, the
 *              reason has a word, a reply has config entries, and only
 *              reasons that forward say so.
 */
#include "fuzz.h"

#include <string.h>

#include "parse.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fz_world *w = fz_world();
	struct pol_in in = {w->set, w->rcfg, NULL, NULL, "u", 0, 1700000000};
	struct pol_verdict v1, v2;
	struct prs_limits lim;
	struct prs_msg *m = NULL;
	struct mr_err err;
	char *buf = fz_copy(data, size);

	prs_limits_default(&lim);
	if (prs_parse_limits(buf, size, &lim, &m, &err) == 0) {
		FZ_CHECK(pol_decide(&in, m, &v1, &err) == 0);
		FZ_CHECK(pol_decide(&in, m, &v2, &err) == 0);
		FZ_CHECK(memcmp(&v1, &v2, sizeof(v1)) == 0);
		FZ_CHECK(strcmp(pol_reason_word(v1.reason), "unknown") != 0);
		FZ_CHECK(v1.forward == pol_reason_forwards(v1.reason));
		if (v1.outcome == POL_OUT_REPLY)
			FZ_CHECK(v1.n_entries > 0 && m->from_addr != NULL);
	}
	prs_free(&m);
	free(buf);
	return 0;
}
