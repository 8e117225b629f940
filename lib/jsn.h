/* jsn.h - one JSON document, parsed strictly enough for config files
 * SYNOPSIS     struct json_object *jsn_parse(const char *data, size_t len,
 *                                            const char *name, struct mr_msgs *);
 * DESCRIPTION  The one JSON value filling data[0..len): json-c's // and
 *              block comments are allowed, anything but whitespace after
 *              the value is not (json-c alone ignores trailing garbage).
 *              A syntax error becomes one problem naming name (a file, or
 *              NULL), the line, the column and the byte offset.
 * DIAGNOSTICS  The value (json_object_put it), or NULL after a problem.
 */
#ifndef MR_JSN_H
#define MR_JSN_H

#include <stddef.h>

#include "mr.h"

struct json_object;

struct json_object *jsn_parse(const char *data, size_t len, const char *name,
			      struct mr_msgs *pr);

#endif
