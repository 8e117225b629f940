/* check.h - config-check: every problem of a configuration at once
 * SYNOPSIS     size_t chk_config(const char *settings,
 *                                struct mr_msgs *problems,
 *                                struct mr_msgs *records);
 * DESCRIPTION  Loads what the daemon would load, each part on its own, so
 *              that one problem does not hide the next, creating nothing:
 *              the settings first (without them nothing else can be
 *              found), then the hash and event keys, each DKIM key, the
 *              store, the responder config, every attachment of every
 *              entry, and the transport of each entry. Problems name the
 *              file, the key or the entry. records gets the DNS TXT line
 *              of each usable DKIM key, to compare with what the DNS
 *              publishes.
 * DIAGNOSTICS  The number of problems appended (0: the configuration is
 *              usable).
 * SEE ALSO     settings.h, rcfg.h, dkim.h, store.h, tx.h
 */
#ifndef MR_CHECK_H
#define MR_CHECK_H

#include <stddef.h>

#include "mr.h"

size_t chk_config(const char *settings, struct mr_msgs *problems,
		  struct mr_msgs *records, size_t *entries_r,
		  size_t *addresses_r);

#endif
