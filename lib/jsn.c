/* jsn.c - json-c parsing shared by the settings and the responder config
 * SYNOPSIS     struct json_object *jsn_parse(const char *data, size_t len,
 *                                            const char *name, struct mr_msgs *);
 * DESCRIPTION  See jsn.h.
 */
#include "jsn.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"

static void syntax_problem(struct mr_msgs *pr, const char *name,
			   const char *data, size_t off, const char *what)
{
	size_t line = 1, col = 1;

	for (size_t i = 0; i < off; i++) {
		col++;
		if (data[i] == '\n') {
			line++;
			col = 1;
		}
	}
	mr_msgs_add(pr,
		    "%s%sJSON syntax error at line %zu, column %zu "
		    "(byte %zu): %s",
		    name ? name : "", name ? ": " : "", line, col, off, what);
}

/* The one JSON value filling data[0..len): json-c's comments are allowed,
 * anything but whitespace after the value is not. NULL after a problem. */
struct json_object *jsn_parse(const char *data, size_t len, const char *name,
			      struct mr_msgs *pr)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	size_t end;

	if (tok == NULL) {
		log_err("json_tokener_new: out of memory");
		abort();
	}
	o = json_tokener_parse_ex(tok, data, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue) {
		/* the data ended inside a value (or a bare number): tell the
		 * tokener that the input is over */
		o = json_tokener_parse_ex(tok, "", 1);
		end = len;
	}
	if (o == NULL) {
		syntax_problem(
			pr, name, data, end,
			json_tokener_error_desc(json_tokener_get_error(tok)));
	} else {
		while (end < len && data[end] != 0 &&
		       strchr(" \t\r\n", data[end]) != NULL)
			end++;
		if (end < len) {
			syntax_problem(pr, name, data, end,
				       "unexpected data after the JSON value");
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}
