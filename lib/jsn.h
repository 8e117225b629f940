/* jsn.h - jsn_check: one JSON document, checked strictly enough for config
 *         files
 * SYNOPSIS     int jsn_check(const char *data, size_t len, const char *name,
 *                            struct mr_msgs *);
 * DESCRIPTION  Whether data[0..len) holds exactly one JSON value:
 *              json-c's // and block comments are allowed, anything but
 *              whitespace after the value is not (json-c alone ignores
 *              trailing garbage). A syntax error becomes one problem naming
 *              name (a file, or NULL), the line, the column and the byte
 *              offset. The caller then builds its tree from the data with
 *              json-c (settings.c, rcfg.c), so that no json-c type crosses
 *              a module boundary.
 * DIAGNOSTICS  0 one value; -1 after a problem.
 * SEE ALSO     settings.h, rcfg.h
 */
#ifndef MR_JSN_H
#define MR_JSN_H

#include <stddef.h>

#include "mr.h"

int jsn_check(const char *data, size_t len, const char *name,
	      struct mr_msgs *pr);

#endif
