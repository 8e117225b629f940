/* jsn.c - the strict JSON check of the settings and the responder config
 * (contract: jsn.h)
 *
 * json-c parses the value; what follows it must be whitespace. The value
 * is thrown away: the callers parse again (config files are small), each
 * with its own json-c tree.
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

int jsn_check(const char *data, size_t len, const char *name,
	      struct mr_msgs *pr)
{
	const char *nul = memchr(data, 0, len);
	struct json_tokener *tok;
	struct json_object *o;
	size_t end;
	int rc;

	if (nul != NULL) {
		/* the callers parse a NUL-terminated copy: it must be the
		 * same text */
		syntax_problem(pr, name, data, (size_t)(nul - data),
			       "NUL byte");
		return -1;
	}
	tok = json_tokener_new();
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
		while (end < len && strchr(" \t\r\n", data[end]) != NULL)
			end++;
		if (end < len)
			syntax_problem(pr, name, data, end,
				       "unexpected data after the JSON value");
	}
	rc = o != NULL && end >= len ? 0 : -1;
	json_tokener_free(tok);
	json_object_put(o);
	return rc;
}
