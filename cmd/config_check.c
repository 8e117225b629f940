/* config_check.c - mailresponder config-check: report every problem
 * DESCRIPTION  Loads the settings, the keys, the responder config and
 *              every attachment (building every reply body) without
 *              creating anything, prints each problem on its own line
 *              (naming the key, or the entry index and field) and exits 1
 *              when there is any.
 */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "log.h"
#include "rcfg.h"
#include "settings.h"
#include "snap.h"
#include "store.h"

int cmd_config_check(int argc, char **argv)
{
	const char *settings = NULL;
	const char *const *addrs;
	struct snap *sn;
	struct st *st;
	struct mr_err err;
	int c;

	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			return cmd_usage("config-check", "bad option");
		settings = optarg;
	}
	if (optind != argc)
		return cmd_usage("config-check", "no arguments expected");
	settings = cmd_settings(settings);
	sn = cmd_load(settings, SNAP_READONLY);
	if (sn == NULL)
		return EXIT_USAGE;
	mr_err_clear(&err);
	st = st_open_set(sn->set, ST_READONLY, &err);
	if (st == NULL) {
		fprintf(stderr, "%s: store: %s\n", settings, err.text);
		snap_unref(&sn);
		return EXIT_USAGE;
	}
	st_close(&st);
	printf("%s: ok: %zu responder entries for %zu addresses\n", settings,
	       rcfg_count(sn->rcfg), rcfg_addresses(sn->rcfg, &addrs));
	snap_unref(&sn);
	return 0;
}
