/* ctl.c - the client of the daemon's control socket (contract: ctl.h)
 *
 * One connection per request: connect, send the line, read until EOF,
 * parse. A daemon that stops while a client waits closes the connection
 * without an answer, which the client reports instead of waiting on.
 */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

int ctl_path(const char *spool, char *buf, size_t n)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	int k = snprintf(buf, n, "%s/%s", spool, CTL_SOCKET);

	if (k < 0 || (size_t)k >= n || (size_t)k >= max)
		return -1;
	return 0;
}

/* Connect to the daemon of spool and send req. The socket, or -1: with
 * err set when that is an error, without when nobody listens. */
static int ctl_connect(const char *spool, const char *req, struct mr_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(req);
	char *line;
	int fd;

	if (ctl_path(spool, sa.sun_path, sizeof(sa.sun_path)) < 0)
		return -1; /* the daemon cannot listen there either */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		mr_err_sys(err, MR_TEMP, errno, "control socket");
		return -1;
	}
	if (connect(fd, (void *)&sa, sizeof(sa)) < 0) {
		(void)close(fd); /* no daemon there */
		return -1;
	}
	line = xasprintf("%s\n", req);
	if (send(fd, line, len + 1, MSG_NOSIGNAL) != (ssize_t)(len + 1)) {
		mr_err_sys(err, MR_TEMP, errno, "control socket %s: send",
			   sa.sun_path);
		(void)close(fd); /* the request did not go out */
		fd = -1;
	}
	free(line);
	return fd;
}

/* Read fd to EOF into b within timeout_ms. 0, or -1 with err. */
static int read_answer(int fd, long timeout_ms, struct mr_buf *b,
		       struct mr_err *err)
{
	long long end = mr_now_ms() + timeout_ms;
	char chunk[4096];

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		long long left = end - mr_now_ms();
		ssize_t r;
		int k;

		k = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			mr_err_set(err, MR_TEMP,
				   "the daemon did not answer within %ld ms "
				   "(%zu bytes read)",
				   timeout_ms, b->len);
			return -1;
		}
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mr_err_sys(err, MR_TEMP, errno, "control socket: read");
			return -1;
		}
		if (r == 0)
			return 0;
		if (b->len + (size_t)r > CTL_ANSWER_MAX) {
			mr_err_set(
				err, MR_PERM,
				"the daemon's answer is longer than %d bytes",
				CTL_ANSWER_MAX);
			return -1;
		}
		buf_append(b, chunk, (size_t)r);
	}
}

/* Send req and read the whole answer, which ends in a newline. 1 with
 * *ans_r (caller frees), 0 nobody listens, -1 with err. */
static int ctl_request(const char *spool, const char *req, long timeout_ms,
		       char **ans_r, struct mr_err *err)
{
	struct mr_buf b;
	int fd, rc = -1;

	*ans_r = NULL;
	mr_err_clear(err);
	fd = ctl_connect(spool, req, err);
	if (fd < 0)
		return err->text[0] ? -1 : 0;
	buf_init(&b);
	if (read_answer(fd, timeout_ms, &b, err) < 0)
		goto out;
	if (b.len == 0) {
		mr_err_set(err, MR_TEMP,
			   "the daemon closed the connection without an "
			   "answer (is it stopping?)");
		goto out;
	}
	if (memchr(b.data, 0, b.len) != NULL || b.data[b.len - 1] != '\n') {
		mr_err_set(err, MR_PERM,
			   "the daemon's answer to \"%s\" is cut short or "
			   "not text (%zu bytes)",
			   req, b.len);
		goto out;
	}
	*ans_r = buf_steal(&b, NULL);
	rc = 1;
out:
	(void)close(fd); /* read-only: nothing to flush */
	buf_free(&b);
	return rc;
}

/* The answer line as one JSON object, or NULL with err. An object with
 * "error" is the daemon refusing the request. */
static struct json_object *answer_object(const char *req, const char *ans,
					 struct mr_err *err)
{
	struct json_tokener *tok = json_tokener_new();
	size_t len = strcspn(ans, "\n");
	struct json_object *o, *e;

	if (tok == NULL) {
		mr_err_set(err, MR_TEMP, "json_tokener_new: out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, ans, (int)len);
	if (o == NULL || json_tokener_get_parse_end(tok) != len ||
	    ans[len + 1] != 0 || !json_object_is_type(o, json_type_object)) {
		mr_err_set(err, MR_PERM,
			   "the daemon's answer to \"%s\" is not one JSON "
			   "object",
			   req);
		json_object_put(o);
		o = NULL;
	} else if (json_object_object_get_ex(o, "error", &e)) {
		mr_err_set(err, MR_TEMP, "the daemon refused \"%s\": %.80s",
			   req, json_object_get_string(e));
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* o's member key as a count >= 0; -1 with err when absent or not one. */
static int get_count(struct json_object *o, const char *key, long long *v,
		     struct mr_err *err)
{
	struct json_object *m;

	if (!json_object_object_get_ex(o, key, &m) ||
	    !json_object_is_type(m, json_type_int) ||
	    (*v = json_object_get_int64(m)) < 0) {
		mr_err_set(err, MR_PERM,
			   "the daemon's answer has no count \"%s\"", key);
		return -1;
	}
	return 0;
}

int ctl_drain(const char *spool, long timeout_ms, struct ctl_drained *d,
	      struct mr_err *err)
{
	struct json_object *o;
	char *ans;
	int r;

	memset(d, 0, sizeof(*d));
	r = ctl_request(spool, "drain", timeout_ms, &ans, err);
	if (r <= 0)
		return r;
	o = answer_object("drain", ans, err);
	free(ans);
	if (o == NULL)
		return -1;
	r = get_count(o, "handled", &d->handled, err) < 0 ||
			    get_count(o, "deferred", &d->deferred, err) < 0
		    ? -1
		    : 1;
	json_object_put(o);
	return r;
}

int ctl_status(const char *spool, long timeout_ms, char **json_r,
	       struct mr_err *err)
{
	struct json_object *o;
	int r;

	r = ctl_request(spool, "status", timeout_ms, json_r, err);
	if (r <= 0)
		return r;
	o = answer_object("status", *json_r, err);
	if (o == NULL) {
		free(*json_r);
		*json_r = NULL;
		return -1;
	}
	json_object_put(o);
	return 1;
}

int ctl_prometheus(const char *spool, long timeout_ms, char **text_r,
		   struct mr_err *err)
{
	int r = ctl_request(spool, "prometheus", timeout_ms, text_r, err);

	if (r > 0 && strncmp(*text_r, "# HELP", 6) != 0) {
		mr_err_set(err, MR_PERM,
			   "the daemon's answer to \"prometheus\" is not "
			   "the Prometheus text format");
		free(*text_r);
		*text_r = NULL;
		return -1;
	}
	return r;
}
