/* main.c - mailresponder: dispatch to a subcommand (cmd.h)
 */
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "store.h"

#include <curl/curl.h>

static const struct {
	const char *name;
	int (*fn)(int, char **);
} cmds[] = {
	{"run", cmd_run},
	{"status", cmd_status},
	{"drain", cmd_drain},
	{"classify", cmd_classify},
	{"reprocess", cmd_reprocess},
	{"blacklist", cmd_blacklist},
	{"config-check", cmd_config_check},
	{"postfix-maps", cmd_postfix_maps},
	{"send-direct", cmd_send_direct},
	{"stats", cmd_stats},
	{"setup", cmd_setup},
	{"dkim-keygen", cmd_dkim_keygen},
	{"expire", cmd_expire},
	{"help", cmd_help},
	{"--help", cmd_help},
	{"-h", cmd_help},
};

int main(int argc, char **argv)
{
	int rc;

	log_init("mailresponder", 0, LOG_LVL_INFO);
	if (argc < 2) {
		(void)cmd_help(0, NULL); /* always 0 */
		return EXIT_USAGE;
	}
	/* not thread-safe: before any thread starts */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("curl_global_init failed");
		return EXIT_RUNTIME;
	}
	st_global_init();
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			rc = cmds[i].fn(argc - 1, argv + 1);
			st_global_end();
			curl_global_cleanup();
			return rc;
		}
	}
	st_global_end();
	curl_global_cleanup();
	return cmd_usage(argv[1], "unknown command");
}
