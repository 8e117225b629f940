/* config_check.c - mailresponder config-check: report every problem
 * DESCRIPTION  Loads the settings, the secrets, each DKIM key, the store,
 *              the responder config, every attachment and each entry's
 *              transport without creating anything (lib/check.c), prints
 *              each problem on its own line (naming the key, file or
 *              entry) and the DNS TXT record of each usable DKIM key, and
 *              exits 1 when there is any problem.
 */
#include <stdio.h>

#include "check.h"
#include "cmd.h"

int cmd_config_check(int argc, char **argv)
{
	struct mr_msgs problems = {NULL, 0}, records = {NULL, 0};
	struct cmd c = {.name = "config-check"};
	const char *settings;
	size_t entries, addrs;
	int rc;

	if ((rc = cmd_parse(&c, argc, argv)) != 0)
		return rc;
	settings = c.settings;
	(void)chk_config(settings, &problems, &records, &entries, &addrs);
	for (size_t i = 0; i < records.n; i++)
		printf("DKIM DNS record: %s\n", records.v[i]);
	for (size_t i = 0; i < problems.n; i++)
		fprintf(stderr, "%s: %s\n", settings, problems.v[i]);
	if (problems.n > 0) {
		fprintf(stderr, "%s: %zu problem%s\n", settings, problems.n,
			problems.n == 1 ? "" : "s");
		rc = EXIT_USAGE;
	} else {
		printf("%s: ok: %zu responder entries for %zu addresses\n",
		       settings, entries, addrs);
	}
	mr_msgs_free(&problems);
	mr_msgs_free(&records);
	return rc;
}
