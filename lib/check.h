/* check.h - config-check: every problem of a configuration at once
 * SYNOPSIS     size_t chk_config(const char *settings, struct mr_msgs *problems, struct mr_msgs *records);
 * DESCRIPTION  Loads what the daemon would load - settings, secrets, DKIM
 *              keys, store, responder config, attachments, transports -
 *              each part on its own, so that one problem does not hide the
 *              next, creating nothing. Problems name the file, the key or
 *              the entry. records gets the DNS TXT line of each usable
 *              DKIM key, to compare with what the DNS publishes.
 * DIAGNOSTICS  The number of problems appended.
 */
#ifndef MR_CHECK_H
#define MR_CHECK_H

#include <stddef.h>

#include "mr.h"

size_t chk_config(const char *settings, struct mr_msgs *problems,
		  struct mr_msgs *records, size_t *entries_r,
		  size_t *addresses_r);

#endif
