/* event.c - the event log (contract: event.h)
 *
 * Records are built with json-c, never with printf, and written with a
 * single write(2) to an O_APPEND descriptor. The descriptor is swapped by
 * ev_reopen under fd_mu, which every write holds, so no line is split
 * between two files.
 */
#include "event.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "metrics.h"

enum ev_kind {
	EV_FD = 0,
	EV_SYSLOG,
};

struct ev_log {
	enum ev_kind kind;
	int fd;
	int own_fd;
	char *path; /* file logs */
	pthread_mutex_t fd_mu;
	struct met *met;
};

static struct ev_log *ev_new(enum ev_kind kind, int fd)
{
	struct ev_log *ev = xcalloc(1, sizeof(*ev));

	ev->kind = kind;
	ev->fd = fd;
	pthread_mutex_init(&ev->fd_mu, NULL);
	ev->met = met_new();
	return ev;
}

static int open_file(const char *path, struct mr_err *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	/* the log's folder is ours: make it (0700) when it is missing */
	if (fd < 0 && errno == ENOENT) {
		if (mr_mkdir_parents(path, 0700) < 0) {
			mr_err_sys(err, MR_PERM, errno,
				   "event_log: cannot create the folder of "
				   "%s (run \"mailresponder setup\" as root, "
				   "or create it for the service user, mode "
				   "0700)",
				   path);
			return -1;
		}
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			  0600);
	}
	if (fd < 0)
		mr_err_sys(err, MR_PERM, errno, "event_log: open(%s)%s", path,
			   errno == EACCES ? " (its folder must belong to the "
					     "service user: \"mailresponder "
					     "setup\" fixes it)"
					   : "");
	return fd;
}

struct ev_log *ev_open(const char *spec, struct mr_err *err)
{
	struct ev_log *ev;
	int fd;

	if (strcmp(spec, "stderr") == 0)
		return ev_new(EV_FD, STDERR_FILENO);
	if (strcmp(spec, "syslog") == 0)
		return ev_new(EV_SYSLOG, -1);
	fd = open_file(spec, err);
	if (fd < 0)
		return NULL;
	ev = ev_new(EV_FD, fd);
	ev->own_fd = 1;
	ev->path = xstrdup(spec);
	return ev;
}

int ev_reopen(struct ev_log *ev, struct mr_err *err)
{
	int fd, old;

	if (ev->path == NULL)
		return 0;
	fd = open_file(ev->path, err);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&ev->fd_mu);
	old = ev->fd;
	ev->fd = fd;
	pthread_mutex_unlock(&ev->fd_mu);
	if (close(old) < 0)
		log_warn("close(event log) failed: %s", log_strerror(errno));
	return 0;
}

struct met *ev_metrics(struct ev_log *ev)
{
	return ev->met;
}

void ev_close(struct ev_log **evp)
{
	struct ev_log *ev = *evp;

	if (ev == NULL)
		return;
	if (ev->own_fd && close(ev->fd) < 0)
		log_warn("close(event log) failed: %s", log_strerror(errno));
	met_free(&ev->met);
	pthread_mutex_destroy(&ev->fd_mu);
	free(ev->path);
	free(ev);
	*evp = NULL;
}

static void put_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void format_ts(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;
	size_t k;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
	if (k == 0 || snprintf(out + k, n - k, ".%03ldZ",
			       ts.tv_nsec / 1000000) >= (int)(n - k))
		out[0] = 0;
}

static struct json_object *entries_json(const struct ev_rec *r)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < r->n_entries; i++) {
		const struct ev_entry *e = &r->entries[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "i", json_object_new_int(e->i));
		put_str(o, "r", e->r);
		if (e->reason && e->reason[0])
			put_str(o, "reason", e->reason);
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *ev_json(const struct ev_rec *r)
{
	struct json_object *o = json_object_new_object();
	char ts[40];

	format_ts(ts, sizeof(ts));
	put_str(o, "ts", ts);
	put_str(o, "file", r->file);
	put_str(o, "outcome", r->outcome);
	put_str(o, "reason", r->reason);
	put_str(o, "requested", r->requested);
	put_str(o, "sender_hash", r->sender_hash);
	json_object_object_add(o, "ms", json_object_new_int64(r->ms));
	json_object_object_add(o, "replies", json_object_new_int(r->replies));
	if (r->forwarded)
		json_object_object_add(o, "forwarded",
				       json_object_new_int(r->forwarded));
	if (r->forward_reason)
		put_str(o, "forward_reason", r->forward_reason);
	if (r->forward_held)
		json_object_object_add(o, "forward_held",
				       json_object_new_int(1));
	if (r->error)
		put_str(o, "error", r->error);
	if (r->entries)
		json_object_object_add(o, "entries", entries_json(r));
	return o;
}

/* Entries not sent: failed now, or sent back for a retry. */
static int failed_entries(const struct ev_rec *r)
{
	int n = 0;

	for (size_t i = 0; r->entries && i < r->n_entries; i++)
		n += r->entries[i].r != NULL &&
		     (strcmp(r->entries[i].r, "failed") == 0 ||
		      strcmp(r->entries[i].r, "retry") == 0);
	return n;
}

static void count(struct ev_log *ev, const struct ev_rec *r)
{
	struct met_rec m = {
		r->outcome, r->reason,    r->requested,      r->ms,
		r->replies, r->forwarded, failed_entries(r), r->forward_held};

	if (met_add(ev->met, &m) < 0)
		log_warn("event of %s: unknown outcome %s", r->file,
			 r->outcome ? r->outcome : "(none)");
}

static int write_json(struct ev_log *ev, struct json_object *o)
{
	const char *s;
	size_t len;
	char *line;
	int rc = 0;

	s = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (ev->kind == EV_SYSLOG) {
		syslog(LOG_LOCAL1 | LOG_INFO, "%s", s);
		json_object_put(o);
		return 0;
	}
	len = strlen(s);
	line = xmalloc(len + 1);
	memcpy(line, s, len);
	line[len] = '\n';
	json_object_put(o);
	pthread_mutex_lock(&ev->fd_mu);
	if (mr_write_all(ev->fd, line, len + 1) < 0) {
		log_err("write(event log) failed: %s", log_strerror(errno));
		rc = -1;
	}
	pthread_mutex_unlock(&ev->fd_mu);
	free(line);
	return rc;
}

int ev_emit(struct ev_log *ev, const struct ev_rec *rec)
{
	count(ev, rec);
	return write_json(ev, ev_json(rec));
}

int ev_emit_expired(struct ev_log *ev, const char *file, const char *reason)
{
	struct json_object *o = json_object_new_object();
	char ts[40];

	format_ts(ts, sizeof(ts));
	put_str(o, "ts", ts);
	put_str(o, "file", file);
	put_str(o, "outcome", "expired");
	put_str(o, "reason", reason);
	return write_json(ev, o);
}
