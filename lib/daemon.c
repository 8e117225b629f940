/* daemon.c - the always-on spool daemon (contract: daemon.h)
 *
 * Threads: main (poll loop), one scanner, N workers (the engine, eng.h,
 * shared with drain). Shared state: the work queue (its own lock), the
 * engine's snapshot, scan requests (scan_mu) and the event log's counters
 * (metrics.h). Signals are blocked in every thread and read through a
 * signalfd in the main loop.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "eng.h"
#include "ctl.h"
#include "cw.h"
#include "event.h"
#include "expire.h"
#include "job.h"
#include "log.h"
#include "md.h"
#include "metrics.h"
#include "priv.h"
#include "s3.h"
#include "settings.h"
#include "snap.h"
#include "wq.h"

#define DMN_QUEUE 4096
#define DMN_PAUSE_AFTER 5
#define DMN_MAX_WAITERS 64
#define DMN_COMMIT 32           /* most messages per group commit */
#define DMN_EXPIRE_EVERY_S 3600 /* retention pass, besides one at start */

struct waiter {
	int fd;
	uint64_t gen;    /* scan generation requested */
	uint64_t target; /* last queued seq when that scan ended */
	long handled0;   /* handled count at the request */
	int have_target;
};

struct dmn {
	const char *settings_path;
	struct snap *sn; /* the main thread's; workers have the engine's */

	struct md_spool *sp;
	struct ev_log *ev;
	struct cw *cw; /* CloudWatch metrics, or NULL */
	struct eng *eng;
	struct wq *q; /* the engine's */
	struct md_watch *w;
	int sfd, tfd, lfd, efd;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	pthread_mutex_t scan_mu;
	pthread_cond_t scan_cv;
	uint64_t scan_req, scan_done, scan_done_seq;
	int stopping;
	int expire_due; /* a retention pass is wanted (scan_mu) */
	long keep_handled_s, keep_failed_s; /* its settings (scan_mu) */
	long expire_ticks; /* seconds since the last one (main thread) */
	atomic_long expired_handled, expired_failed;

	int scanner_started;
	pthread_t scanner;

	/* configuration reloads and S3 refreshes: built on their own thread
	 * (S3 may be slow), swapped in by the main thread */
	pthread_mutex_t ref_mu;
	pthread_cond_t ref_cv;
	int ref_hup; /* SIGHUP: reload now */
	int ref_stop;
	long ref_period_s;    /* S3 refresh period; 0: SIGHUP only */
	struct snap *ref_new; /* built, not yet swapped in */
	char ref_error[512];  /* the last rejection's first problem */
	time_t ref_error_t;
	int refresher_started;
	pthread_t refresher;
	atomic_long cfg_rejected, cfg_swaps, s3_requests;

	time_t started;
	long ticks;
	struct waiter waiters[DMN_MAX_WAITERS];
	int n_waiters;
};

static void poke(struct dmn *d)
{
	uint64_t one = 1;

	/* a full counter (2^64-2 pokes) would only delay a wake-up */
	(void)!write(d->efd, &one, sizeof(one));
}

static void request_scan(struct dmn *d, uint64_t *gen_r)
{
	pthread_mutex_lock(&d->scan_mu);
	d->scan_req++;
	if (gen_r)
		*gen_r = d->scan_req;
	pthread_cond_signal(&d->scan_cv);
	pthread_mutex_unlock(&d->scan_mu);
}

/* Ask the scanner thread for a retention pass with the current settings
 * (main thread: d->sn is its snapshot). */
static void request_expire(struct dmn *d)
{
	pthread_mutex_lock(&d->scan_mu);
	d->expire_due = 1;
	d->keep_handled_s = d->sn->set->retention.handled_s;
	d->keep_failed_s = d->sn->set->retention.failed_s;
	pthread_cond_signal(&d->scan_cv);
	pthread_mutex_unlock(&d->scan_mu);
}

/* ---- scanner thread ---- */

/* A retention pass (expire.h), in the scanner thread: never on a worker,
 * never delaying the watcher. */
static void expire_pass(struct dmn *d, long handled_s, long failed_s)
{
	struct md_expired n = {0, 0};
	struct mr_err err;

	mr_err_clear(&err);
	if (exp_run(d->sp, handled_s, failed_s, d->ev, mr_time(), &n, &err) < 0)
		log_err("expire: %s", err.text);
	atomic_fetch_add(&d->expired_handled, n.handled);
	atomic_fetch_add(&d->expired_failed, n.failed);
	if (n.handled + n.failed > 0)
		log_info("expire: removed %ld handled and %ld failed "
			 "request(s)",
			 n.handled, n.failed);
}

static void *scanner_main(void *arg)
{
	struct dmn *d = arg;

	for (;;) {
		struct wq_counts c;
		uint64_t gen;
		long keep_h, keep_f;
		int expire;

		pthread_mutex_lock(&d->scan_mu);
		while (d->scan_req == d->scan_done && !d->stopping &&
		       !d->expire_due)
			pthread_cond_wait(&d->scan_cv, &d->scan_mu);
		gen = d->scan_req;
		expire = d->expire_due;
		keep_h = d->keep_handled_s;
		keep_f = d->keep_failed_s;
		d->expire_due = 0;
		pthread_mutex_unlock(&d->scan_mu);
		if (d->stopping)
			break;
		if (expire)
			expire_pass(d, keep_h, keep_f);
		if (gen == d->scan_done)
			continue; /* scan_done is only written here */
		if (eng_scan(d->eng, MD_NEW, NULL) < 0 && d->stopping)
			break;
		wq_counts(d->q, &c);
		pthread_mutex_lock(&d->scan_mu);
		d->scan_done = gen;
		d->scan_done_seq = c.last_seq;
		pthread_mutex_unlock(&d->scan_mu);
		poke(d);
	}
	return NULL;
}

/* ---- workers ---- */

/* The engine's done callback (a worker thread): wake the main loop for
 * the drain waiters. */
static void on_done(void *arg, const struct job_result *r, int adopted)
{
	struct dmn *d = arg;

	(void)r;       /* counted where the event is written */
	(void)adopted; /* likewise */
	poke(d);
}

/* ---- start and stop ---- */

static int open_fds(struct dmn *d, struct mr_err *err)
{
	struct itimerspec its = {{1, 0}, {1, 0}};
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	d->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->sfd < 0 || d->tfd < 0 || d->efd < 0 ||
	    timerfd_settime(d->tfd, 0, &its, NULL) < 0) {
		mr_err_sys(err, MR_PERM, errno, "signalfd/timerfd/eventfd");
		return -1;
	}
	return 0;
}

static int listen_socket(struct dmn *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	d->lfd = -1;
	if (ctl_path(md_spool_path(d->sp), d->sock_path, sizeof(d->sock_path)) <
	    0) {
		log_warn("control socket: spool path too long; drain falls "
			 "back to SIGUSR1");
		d->sock_path[0] = 0;
		return 0;
	}
	memcpy(sa.sun_path, d->sock_path, sizeof(sa.sun_path));
	(void)unlink(d->sock_path); /* stale: we own the spool lock */
	d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->lfd < 0 || bind(d->lfd, (void *)&sa, sizeof(sa)) < 0 ||
	    chmod(d->sock_path, 0600) < 0 || listen(d->lfd, 16) < 0) {
		log_err("control socket %s: %s", d->sock_path,
			log_strerror(errno));
		return -1;
	}
	return 0;
}

static int start_workers(struct dmn *d, struct mr_err *err)
{
	const struct set *s = d->sn->set;
	struct eng_cfg cfg = {
		.sn = d->sn,
		.sp = d->sp,
		.ev = d->ev,
		.workers = s->workers,
		.queue_cap = DMN_QUEUE,
		.batch = DMN_COMMIT,
		.bo = {s->retry.initial_s, s->retry.max_s, DMN_PAUSE_AFTER},
		.done = on_done,
		.arg = d,
	};

	d->eng = eng_start(&cfg, err);
	if (d->eng == NULL)
		return -1;
	d->q = eng_queue(d->eng);
	if (pthread_create(&d->scanner, NULL, scanner_main, d) != 0) {
		mr_err_set(err, MR_PERM, "pthread_create failed");
		return -1;
	}
	d->scanner_started = 1;
	return 0;
}

static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0; /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), 0, (void *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_warn("sd_notify: %s", log_strerror(errno));
	(void)close(fd); /* datagram sent or not: nothing to flush */
}

/* ---- control socket ---- */

/* Send all of s (the client reads until EOF), then close. */
static void send_close(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, s, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			log_warn("control socket: write: %s",
				 log_strerror(errno));
			break;
		}
		s += w;
		len -= (size_t)w;
	}
	(void)close(fd); /* the client reads until EOF */
}

static void reply_close(int fd, struct json_object *o)
{
	char *line = xasprintf(
		"%s\n", json_object_to_json_string_ext(
				o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE));

	send_close(fd, line, strlen(line));
	free(line);
	json_object_put(o);
}

/* The counters of the event log (metrics.h), merged into o. */
static void add_counters(struct dmn *d, struct json_object *o)
{
	struct met *m = met_copy(ev_metrics(d->ev));
	char *js = met_json_dup(m);
	struct json_object *c = json_tokener_parse(js);

	if (c != NULL) {
		struct json_object_iterator it = json_object_iter_begin(c);
		struct json_object_iterator end = json_object_iter_end(c);

		for (; !json_object_iter_equal(&it, &end);
		     json_object_iter_next(&it))
			json_object_object_add(
				o, json_object_iter_peek_name(&it),
				json_object_get(
					json_object_iter_peek_value(&it)));
		json_object_put(c);
	}
	free(js);
	met_free(&m);
}

/* What became of the CloudWatch batches. */
static void add_cloudwatch(struct dmn *d, struct json_object *o)
{
	struct json_object *c;
	struct cw_stats st;

	if (d->cw == NULL)
		return;
	cw_stats(d->cw, &st);
	c = json_object_new_object();
	json_object_object_add(c, "calls", json_object_new_int64(st.calls));
	json_object_object_add(c, "failed", json_object_new_int64(st.failed));
	json_object_object_add(c, "dropped", json_object_new_int64(st.dropped));
	json_object_object_add(o, "cloudwatch", c);
}

static void prom_cloudwatch(struct dmn *d, struct mr_buf *b)
{
	struct cw_stats st;

	if (d->cw == NULL)
		return;
	cw_stats(d->cw, &st);
	buf_printf(b,
		   "# HELP mailresponder_cloudwatch_calls_total PutMetricData "
		   "calls accepted.\n"
		   "# TYPE mailresponder_cloudwatch_calls_total counter\n"
		   "mailresponder_cloudwatch_calls_total %ld\n"
		   "# HELP mailresponder_cloudwatch_failed_total PutMetricData "
		   "calls that failed, retries included.\n"
		   "# TYPE mailresponder_cloudwatch_failed_total counter\n"
		   "mailresponder_cloudwatch_failed_total %ld\n"
		   "# HELP mailresponder_cloudwatch_dropped_total Metric "
		   "batches given up after the retries.\n"
		   "# TYPE mailresponder_cloudwatch_dropped_total counter\n"
		   "mailresponder_cloudwatch_dropped_total %ld\n",
		   st.calls, st.failed, st.dropped);
}

/* Prometheus text: the counters and the queue's gauges. */
static void send_prometheus(struct dmn *d, int fd)
{
	struct met *m = met_copy(ev_metrics(d->ev));
	struct mr_buf b;
	struct wq_counts c;

	buf_init(&b);
	wq_counts(d->q, &c);
	met_prometheus(m, &b);
	buf_printf(&b,
		   "# HELP mailresponder_queued Messages waiting in the work "
		   "queue.\n# TYPE mailresponder_queued gauge\n"
		   "mailresponder_queued %zu\n"
		   "# HELP mailresponder_in_flight Messages being handled.\n"
		   "# TYPE mailresponder_in_flight gauge\n"
		   "mailresponder_in_flight %zu\n"
		   "# HELP mailresponder_deferred Messages waiting for a "
		   "retry.\n# TYPE mailresponder_deferred gauge\n"
		   "mailresponder_deferred %zu\n"
		   "# HELP mailresponder_uptime_seconds Time since the daemon "
		   "started.\n# TYPE mailresponder_uptime_seconds gauge\n"
		   "mailresponder_uptime_seconds %lld\n",
		   c.queued, c.in_flight, c.deferred,
		   (long long)(time(NULL) - d->started));
	prom_cloudwatch(d, &b);
	send_close(fd, b.data, b.len);
	buf_free(&b);
	met_free(&m);
}

/* Worker time spent handling messages and signing them, summed. */
static void add_times(struct dmn *d, struct json_object *o)
{
	struct job_times sum;

	eng_times(d->eng, &sum);
	json_object_object_add(o, "busy_us",
			       json_object_new_int64(sum.busy_us));
	json_object_object_add(o, "sign_us",
			       json_object_new_int64(sum.sign_us));
}

/* Reloads and refreshes: swaps, rejections, the last rejection. */
static void add_config(struct dmn *d, struct json_object *o)
{
	json_object_object_add(
		o, "config_swaps",
		json_object_new_int64(atomic_load(&d->cfg_swaps)));
	json_object_object_add(
		o, "config_rejected",
		json_object_new_int64(atomic_load(&d->cfg_rejected)));
	json_object_object_add(
		o, "s3_requests",
		json_object_new_int64(atomic_load(&d->s3_requests)));
	pthread_mutex_lock(&d->ref_mu);
	if (d->ref_error[0]) {
		json_object_object_add(o, "config_error",
				       json_object_new_string(d->ref_error));
		json_object_object_add(o, "config_error_at",
				       json_object_new_int64(d->ref_error_t));
	}
	pthread_mutex_unlock(&d->ref_mu);
}

static struct json_object *status_json(struct dmn *d)
{
	struct json_object *o = json_object_new_object();
	struct wq_counts c;

	wq_counts(d->q, &c);
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "workers",
			       json_object_new_int64(eng_workers(d->eng)));
	json_object_object_add(o, "queued",
			       json_object_new_int64((int64_t)c.queued));
	json_object_object_add(o, "in_flight",
			       json_object_new_int64((int64_t)c.in_flight));
	json_object_object_add(o, "deferred",
			       json_object_new_int64((int64_t)c.deferred));
	add_counters(d, o);
	add_cloudwatch(d, o);
	json_object_object_add(
		o, "expired_handled",
		json_object_new_int64(atomic_load(&d->expired_handled)));
	json_object_object_add(
		o, "expired_failed",
		json_object_new_int64(atomic_load(&d->expired_failed)));
	json_object_object_add(
		o, "paused_s",
		json_object_new_int64(c.paused_until > time(NULL)
					      ? c.paused_until - time(NULL)
					      : 0));
	add_times(d, o);
	add_config(d, o);
	json_object_object_add(o, "uptime_s",
			       json_object_new_int64(time(NULL) - d->started));
	return o;
}

static void check_waiters(struct dmn *d)
{
	uint64_t done, seq;
	struct wq_counts c;

	pthread_mutex_lock(&d->scan_mu);
	done = d->scan_done;
	seq = d->scan_done_seq;
	pthread_mutex_unlock(&d->scan_mu);
	for (int i = 0; i < d->n_waiters;) {
		struct waiter *w = &d->waiters[i];
		struct json_object *o;

		if (!w->have_target && done >= w->gen) {
			w->target = seq;
			w->have_target = 1;
		}
		if (!w->have_target || !wq_done_upto(d->q, w->target)) {
			i++;
			continue;
		}
		wq_counts(d->q, &c);
		o = json_object_new_object();
		json_object_object_add(
			o, "handled",
			json_object_new_int64(met_handled(ev_metrics(d->ev)) -
					      w->handled0));
		json_object_object_add(
			o, "deferred",
			json_object_new_int64((int64_t)c.deferred));
		reply_close(w->fd, o);
		*w = d->waiters[--d->n_waiters];
	}
}

static void serve_client(struct dmn *d, int fd)
{
	char line[64];
	ssize_t n;
	struct pollfd p = {fd, POLLIN, 0};

	/* a local client sends its one short line at once */
	if (poll(&p, 1, 1000) <= 0 ||
	    (n = read(fd, line, sizeof(line) - 1)) <= 0) {
		(void)close(fd); /* nothing asked */
		return;
	}
	line[n] = 0;
	line[strcspn(line, "\r\n")] = 0;
	if (strcmp(line, "status") == 0) {
		reply_close(fd, status_json(d));
	} else if (strcmp(line, "prometheus") == 0) {
		send_prometheus(d, fd);
	} else if (strcmp(line, "drain") == 0 &&
		   d->n_waiters < DMN_MAX_WAITERS) {
		struct waiter *w = &d->waiters[d->n_waiters++];

		memset(w, 0, sizeof(*w));
		w->fd = fd;
		w->handled0 = met_handled(ev_metrics(d->ev));
		request_scan(d, &w->gen);
	} else {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "error",
				       json_object_new_string("bad request"));
		reply_close(fd, o);
	}
}

static void accept_clients(struct dmn *d)
{
	int fd;

	while ((fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		serve_client(d, fd);
}

/* ---- events of the main loop ---- */

static void on_name(const char *name, void *arg)
{
	struct dmn *d = arg;

	/* the watcher never waits: a full queue means a rescan later */
	if (wq_push(d->q, name, 0, 0) == 0 && !wq_busy(name, d->q))
		request_scan(d, NULL);
}

/* The refresh period of a snapshot: S3 sources only. */
static long refresh_period(const struct snap *sn)
{
	return snap_uses_s3(sn->set) ? sn->set->s3.refresh_s : 0;
}

static void count_s3(struct dmn *d, struct snap *sn)
{
	struct s3_counts c;

	if (sn->s3 == NULL)
		return;
	s3_counts(sn->s3, &c);
	atomic_fetch_add(&d->s3_requests, c.requests);
}

/* Build a new snapshot (refresher thread). A timed refresh that found
 * nothing new in S3 keeps the current one. */
static void refresh(struct dmn *d, int hup)
{
	struct mr_msgs problems = {NULL, 0};
	struct s3_counts c;
	struct snap *sn;
	const char *what = hup ? "reload" : "refresh";

	memset(&c, 0, sizeof(c));
	sn = snap_load(d->settings_path, 0, &problems);
	for (size_t i = 0; i < problems.n; i++)
		log_err("%s: %s: %s", what, d->settings_path, problems.v[i]);
	if (sn == NULL) {
		atomic_fetch_add(&d->cfg_rejected, 1);
		pthread_mutex_lock(&d->ref_mu);
		snprintf(d->ref_error, sizeof(d->ref_error), "%s",
			 problems.n ? problems.v[0] : "unknown");
		d->ref_error_t = time(NULL);
		pthread_mutex_unlock(&d->ref_mu);
		mr_msgs_free(&problems);
		log_err("%s failed; keeping the current configuration", what);
		if (hup)
			sd_notify_msg("READY=1");
		return;
	}
	mr_msgs_free(&problems);
	count_s3(d, sn);
	if (sn->s3)
		s3_counts(sn->s3, &c);
	if (!hup && c.fetched == 0) {
		log_debug("refresh: nothing changed in S3");
		snap_unref(&sn);
		return;
	}
	pthread_mutex_lock(&d->ref_mu);
	snap_unref(&d->ref_new); /* an older one never swapped in */
	d->ref_new = sn;
	pthread_mutex_unlock(&d->ref_mu);
	poke(d);
}

static void *refresher_main(void *arg)
{
	struct dmn *d = arg;
	struct timespec dl;

	pthread_mutex_lock(&d->ref_mu);
	for (;;) {
		long per = d->ref_period_s;
		int hup, timed_out = 0;

		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += per;
		while (!d->ref_stop && !d->ref_hup && !timed_out &&
		       d->ref_period_s == per) {
			if (per > 0)
				timed_out = pthread_cond_timedwait(
						    &d->ref_cv, &d->ref_mu,
						    &dl) == ETIMEDOUT;
			else
				pthread_cond_wait(&d->ref_cv, &d->ref_mu);
		}
		if (d->ref_stop)
			break;
		if (!d->ref_hup && !timed_out)
			continue; /* a new period: start counting again */
		hup = d->ref_hup;
		d->ref_hup = 0;
		pthread_mutex_unlock(&d->ref_mu);
		refresh(d, hup);
		pthread_mutex_lock(&d->ref_mu);
	}
	pthread_mutex_unlock(&d->ref_mu);
	return NULL;
}

static int start_refresher(struct dmn *d, struct mr_err *err)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->ref_cv, &ca);
	pthread_condattr_destroy(&ca);
	d->ref_period_s = refresh_period(d->sn);
	if (pthread_create(&d->refresher, NULL, refresher_main, d) != 0) {
		mr_err_set(err, MR_PERM, "pthread_create failed");
		return -1;
	}
	d->refresher_started = 1;
	return 0;
}

static void request_reload(struct dmn *d)
{
	sd_notify_msg("RELOADING=1");
	pthread_mutex_lock(&d->ref_mu);
	d->ref_hup = 1;
	pthread_cond_signal(&d->ref_cv);
	pthread_mutex_unlock(&d->ref_mu);
}

/* Swap in a snapshot the refresher built (main thread): workers take it
 * with their next message. */
static void swap_in(struct dmn *d)
{
	struct snap *sn, *old;
	struct wq_backoff bo;

	pthread_mutex_lock(&d->ref_mu);
	sn = d->ref_new;
	d->ref_new = NULL;
	if (sn && refresh_period(sn) != d->ref_period_s) {
		d->ref_period_s = refresh_period(sn);
		pthread_cond_signal(&d->ref_cv);
	}
	pthread_mutex_unlock(&d->ref_mu);
	if (sn == NULL)
		return;
	if (strcmp(sn->set->spool, d->sn->set->spool) != 0 ||
	    strcmp(sn->set->event_log, d->sn->set->event_log) != 0)
		log_warn("reload: spool and event_log changes need a restart");
	bo = (struct wq_backoff){sn->set->retry.initial_s, sn->set->retry.max_s,
				 DMN_PAUSE_AFTER};
	wq_set_backoff(d->q, &bo);
	eng_set_snap(d->eng, sn);
	old = d->sn;
	d->sn = sn;
	snap_unref(&old);
	atomic_fetch_add(&d->cfg_swaps, 1);
	log_info("reloaded %s", d->settings_path);
	sd_notify_msg("READY=1");
}

/* logrotate renamed the event log (its postrotate sends SIGHUP) */
static void reopen_events(struct dmn *d)
{
	struct mr_err err;

	mr_err_clear(&err);
	if (ev_reopen(d->ev, &err) < 0)
		log_err("event_log: %s; still writing to the old file",
			err.text);
}

/* 1 to stop */
static int on_signal(struct dmn *d)
{
	struct signalfd_siginfo si;
	int stop = 0;

	while (read(d->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			stop = 1;
			break;
		case SIGHUP:
			reopen_events(d);
			request_reload(d);
			break;
		case SIGUSR1:
			request_scan(d, NULL);
			break;
		}
	}
	return stop;
}

static void on_tick(struct dmn *d)
{
	uint64_t n;

	if (read(d->tfd, &n, sizeof(n)) < 0)
		return; /* spurious wake-up */
	d->ticks += (long)n;
	d->expire_ticks += (long)n;
	if (d->expire_ticks >= DMN_EXPIRE_EVERY_S) {
		d->expire_ticks = 0;
		request_expire(d);
	}
	(void)wq_release_due(d->q, time(NULL)); /* count not needed */
	if (d->sn->set->rescan_interval_s > 0 &&
	    d->ticks >= d->sn->set->rescan_interval_s) {
		d->ticks = 0;
		request_scan(d, NULL);
	}
}

static int loop(struct dmn *d)
{
	struct pollfd p[5];
	struct mr_err err;
	uint64_t n;

	for (;;) {
		int np = 4;

		p[0] = (struct pollfd){d->sfd, POLLIN, 0};
		p[1] = (struct pollfd){md_watch_fd(d->w), POLLIN, 0};
		p[2] = (struct pollfd){d->tfd, POLLIN, 0};
		p[3] = (struct pollfd){d->efd, POLLIN, 0};
		if (d->lfd >= 0)
			p[np++] = (struct pollfd){d->lfd, POLLIN, 0};
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll: %s", log_strerror(errno));
			return -1;
		}
		if ((p[0].revents & POLLIN) && on_signal(d))
			return 0;
		if (p[1].revents & POLLIN) {
			mr_err_clear(&err);
			int r = md_watch_read(d->w, on_name, d, &err);

			if (r < 0)
				log_err("watch: %s", err.text);
			if (r != 0) {
				log_warn("inotify queue overflow: rescanning");
				request_scan(d, NULL);
			}
		}
		if (p[2].revents & POLLIN)
			on_tick(d);
		if ((p[3].revents & POLLIN) &&
		    read(d->efd, &n, sizeof(n)) > 0) {
			swap_in(d);
			check_waiters(d);
		}
		if (np == 5 && (p[4].revents & POLLIN))
			accept_clients(d);
	}
}

static void stop_refresher(struct dmn *d)
{
	if (!d->refresher_started)
		return;
	pthread_mutex_lock(&d->ref_mu);
	d->ref_stop = 1;
	pthread_cond_signal(&d->ref_cv);
	pthread_mutex_unlock(&d->ref_mu);
	s3_abort(); /* a transfer in progress ends now */
	pthread_join(d->refresher, NULL);
	d->refresher_started = 0;
}

static void stop(struct dmn *d)
{
	long t = d->sn->set->shutdown_timeout_s;
	struct wq_counts c;

	sd_notify_msg("STOPPING=1");
	pthread_mutex_lock(&d->scan_mu);
	d->stopping = 1;
	pthread_cond_broadcast(&d->scan_cv);
	pthread_mutex_unlock(&d->scan_mu);
	wq_close(d->q);
	if (d->sock_path[0])
		(void)unlink(d->sock_path); /* gone with us */
	for (int i = 0; i < d->n_waiters; i++)
		(void)close(d->waiters[i].fd); /* client sees EOF */
	if (!eng_stop(d->eng, t * 1000)) {
		wq_counts(d->q, &c);
		log_warn("stop: %zu message(s) still in flight after %ld s; "
			 "they stay claimed and are recovered at the next "
			 "start",
			 c.in_flight, t);
		_exit(0);
	}
	pthread_join(d->scanner, NULL);
	d->scanner_started = 0;
	cw_stop(&d->cw); /* the last batch, once, no retries */
	stop_refresher(d);
	log_info("stopped after %ld messages", met_handled(ev_metrics(d->ev)));
}

/* Free everything; only once no thread runs. */
static void dmn_free(struct dmn *d)
{
	int fds[] = {d->sfd, d->tfd, d->efd, d->lfd};

	cw_stop(&d->cw);
	eng_free(&d->eng);
	md_watch_close(&d->w);
	ev_close(&d->ev);
	md_spool_close(&d->sp);
	snap_unref(&d->sn);
	snap_unref(&d->ref_new);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			(void)close(fds[i]); /* no data behind these */
	pthread_mutex_destroy(&d->scan_mu);
	pthread_cond_destroy(&d->scan_cv);
	pthread_mutex_destroy(&d->ref_mu);
	pthread_cond_destroy(&d->ref_cv);
	free(d);
}

static int lock_spool(struct dmn *d)
{
	struct mr_err err;
	pid_t pid = 0;
	int r;

	mr_err_clear(&err);
	r = md_lock(d->sp, 0, &err);
	if (r > 0)
		return 0;
	if (r == 0 && md_lock_owner(d->sp, &pid, &err) > 0)
		log_err("spool %s is owned by process %ld",
			md_spool_path(d->sp), (long)pid);
	else
		log_err("spool lock: %s", err.text[0] ? err.text : "busy");
	return -1;
}

/* What needs root is open: switch to the service user, and check that
 * it can still work in the spool. */
static int drop_privileges(struct dmn *d, const struct priv *p,
			   struct mr_err *err)
{
	const struct set *s = d->sn->set;

	if (priv_drop(p, err) < 0)
		return -1;
	if (p->drop && access(s->spool, R_OK | W_OK | X_OK) < 0) {
		mr_err_sys(err, MR_PERM, errno, "spool: %s is not usable by %s",
			   s->spool, p->name);
		return -1;
	}
	return 0;
}

static int setup(struct dmn *d, struct mr_err *err)
{
	const struct set *s = d->sn->set;
	struct priv p;

	if (priv_resolve(s, &p, err) < 0 || priv_check_keys(s, &p, err) < 0)
		return -1;
	d->sp = md_spool_open(s->spool, s->failed_folder, err);
	if (d->sp == NULL || lock_spool(d) < 0)
		return -1;
	d->ev = ev_open(s->event_log, err);
	if (d->ev == NULL)
		return -1;
	/* the watch first, then the first scan: nothing slips between */
	d->w = md_watch_open(d->sp, err);
	if (d->w == NULL || open_fds(d, err) < 0 || listen_socket(d) < 0 ||
	    drop_privileges(d, &p, err) < 0)
		return -1;
	if (s->metrics.cloudwatch &&
	    (d->cw = cw_start(d->sn, ev_metrics(d->ev), d->sp, err)) == NULL)
		return -1;
	if (start_workers(d, err) < 0)
		return -1;
	return start_refresher(d, err);
}

int dmn_run(const char *settings_path, struct snap *sn)
{
	struct dmn *d = xcalloc(1, sizeof(*d));
	struct mr_err err;
	sigset_t set;
	int rc;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by threads */
	signal(SIGPIPE, SIG_IGN);
	d->settings_path = settings_path;
	d->sn = snap_ref(sn);
	d->started = time(NULL);
	d->lfd = d->sfd = d->tfd = d->efd = -1;
	pthread_mutex_init(&d->scan_mu, NULL);
	pthread_cond_init(&d->scan_cv, NULL);
	pthread_mutex_init(&d->ref_mu, NULL);
	mr_err_clear(&err);
	if (setup(d, &err) < 0) {
		if (err.text[0])
			log_err("run: %s", err.text);
		if (d->eng == NULL && !d->scanner_started)
			dmn_free(d); /* else threads may hold it: exit */
		return 2;
	}
	count_s3(d, d->sn);
	/* What a dead run left claimed is queued for adoption before the
	 * watch is read: a scan of cur/ running beside this run's own claims
	 * would take an in-flight message for a leftover and send it twice. */
	if (eng_scan(d->eng, MD_CLAIMED, NULL) < 0) {
		log_err("run: the claimed messages in %s/cur cannot be read; "
			"not starting",
			md_spool_path(d->sp));
		stop(d);
		dmn_free(d);
		return 2;
	}
	request_expire(d); /* a retention pass at start, then hourly */
	request_scan(d, NULL);
	log_info("run: watching %s/new with %ld workers", md_spool_path(d->sp),
		 eng_workers(d->eng));
	sd_notify_msg("READY=1");
	rc = loop(d);
	stop(d);
	dmn_free(d);
	return rc < 0 ? 2 : 0;
}
