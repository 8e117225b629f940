/* test_ctl.c - the control-socket client against a scripted daemon
 * DESCRIPTION  A thread listens on <tmp>/.mailresponder.sock like the
 *              daemon, takes one request line and answers with a script:
 *              good answers, text that is not JSON, answers cut short, a
 *              refusal, silence past the timeout, and more than the
 *              client takes. Each must come back as a result, never a
 *              hang or a crash.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "t.h"

static char tdir[] = "/tmp/mr-ctl-XXXXXX";

struct fake {
	int lfd;
	const char *answer; /* NULL: close without a word */
	size_t len;         /* 0: strlen(answer) */
	long hold_ms;       /* wait before answering */
	char req[64];       /* the request line received */
};

static void *serve(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, f->req, sizeof(f->req) - 1);
	f->req[n > 0 ? n : 0] = 0;
	if (f->hold_ms)
		(void)usleep((useconds_t)f->hold_ms * 1000);
	if (f->answer) {
		size_t len = f->len ? f->len : strlen(f->answer);
		const char *p = f->answer;

		while (len > 0) {
			ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

			if (w <= 0)
				break; /* the client gave up */
			p += w;
			len -= (size_t)w;
		}
	}
	(void)close(fd); /* the answer ends with the connection */
	return NULL;
}

/* Listen on the socket of tdir; -1 on failure. */
static int listen_at(int do_listen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (ctl_path(tdir, sa.sun_path, sizeof(sa.sun_path)) < 0)
		return -1;
	(void)unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (void *)&sa, sizeof(sa)) < 0 ||
	    (do_listen && listen(fd, 4) < 0)) {
		perror("control socket");
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	return fd;
}

/* One drain request against an answer; the result of ctl_drain. */
static int drain_with(struct fake *f, long timeout_ms, struct ctl_drained *d,
		      struct mr_err *err)
{
	pthread_t th;
	int r;

	f->lfd = listen_at(1);
	T_OK(f->lfd >= 0);
	if (f->lfd < 0)
		return -2;
	T_OK(pthread_create(&th, NULL, serve, f) == 0);
	r = ctl_drain(tdir, timeout_ms, d, err);
	pthread_join(th, NULL);
	(void)close(f->lfd);
	T_STR(f->req, "drain\n");
	return r;
}

T_CASE(path_built_once_and_bounded)
{
	char buf[256], tiny[8], long_spool[200];

	T_OK(ctl_path("/var/spool/mr", buf, sizeof(buf)) == 0);
	T_STR(buf, "/var/spool/mr/.mailresponder.sock");
	T_OK(ctl_path("/var/spool/mr", tiny, sizeof(tiny)) < 0);
	/* longer than a socket address holds, though buf would */
	memset(long_spool, 'a', sizeof(long_spool) - 1);
	long_spool[0] = '/';
	long_spool[sizeof(long_spool) - 1] = 0;
	T_OK(ctl_path(long_spool, buf, sizeof(buf)) < 0);
}

T_CASE(no_daemon)
{
	struct ctl_drained d;
	struct mr_err err;
	char *s = (char *)"x";
	int fd;

	T_INT(ctl_drain(tdir, 100, &d, &err), 0);
	T_STR(err.text, "");
	T_INT(ctl_status(tdir, 100, &s, &err), 0);
	T_OK(s == NULL);
	/* a socket file nobody listens on (a daemon that died) */
	fd = listen_at(0);
	T_OK(fd >= 0);
	T_INT(ctl_drain(tdir, 100, &d, &err), 0);
	T_STR(err.text, "");
	if (fd >= 0)
		(void)close(fd);
}

T_CASE(drain_answer)
{
	struct fake f = {-1, "{\"handled\":12,\"deferred\":3}\n", 0, 0, ""};
	struct ctl_drained d;
	struct mr_err err;

	T_INT(drain_with(&f, 2000, &d, &err), 1);
	T_INT(d.handled, 12);
	T_INT(d.deferred, 3);
}

/* The drain answer ans gives -1 with an error text containing want. */
static void drain_fails(const char *ans, size_t len, long hold_ms,
			const char *want)
{
	struct fake f = {-1, ans, len, hold_ms, ""};
	struct ctl_drained d;
	struct mr_err err;

	T_INT(drain_with(&f, 300, &d, &err), -1);
	T_OK(strstr(err.text, want) != NULL);
	if (strstr(err.text, want) == NULL)
		printf("# %s -> %s\n", ans ? ans : "(none)", err.text);
}

T_CASE(drain_answer_not_json)
{
	drain_fails("handled 12\n", 0, 0, "not one JSON object");
	drain_fails("[12, 3]\n", 0, 0, "not one JSON object");
	drain_fails("{\"handled\":1,\n", 0, 0, "not one JSON object");
	drain_fails("{\"handled\":1}{\"deferred\":0}\n", 0, 0,
		    "not one JSON object");
	drain_fails("{\"handled\":1,\"deferred\":0}\n{}\n", 0, 0,
		    "not one JSON object");
	drain_fails("{\"handled\":\"12\",\"deferred\":0}\n", 0, 0,
		    "no count \"handled\"");
	drain_fails("{\"handled\":-1,\"deferred\":0}\n", 0, 0,
		    "no count \"handled\"");
	drain_fails("{\"handled\":1}\n", 0, 0, "no count \"deferred\"");
	drain_fails("{\"error\":\"bad request\"}\n", 0, 0,
		    "refused \"drain\": bad request");
}

T_CASE(drain_answer_cut_short)
{
	drain_fails("{\"handled\":12,\"defe", 0, 0, "cut short");
	drain_fails("{\"handled\":1}\0\n", 15, 0, "cut short or not text");
	drain_fails(NULL, 0, 0, "without an answer");
}

T_CASE(drain_no_answer_in_time)
{
	drain_fails("{\"handled\":1,\"deferred\":0}\n", 0, 1000,
		    "did not answer within 300 ms");
}

T_CASE(answer_too_long)
{
	size_t n = CTL_ANSWER_MAX + 4096;
	char *big = malloc(n + 1);

	T_OK(big != NULL);
	if (big == NULL)
		return;
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 2] = '}';
	big[n - 1] = '\n';
	big[n] = 0;
	drain_fails(big, n, 0, "longer than");
	free(big);
}

typedef int (*ask_fn)(const char *, long, char **, struct mr_err *);

/* One status or prometheus request against the answer ans. */
static int ask(ask_fn fn, const char *ans, const char *req, char **s_r,
	       struct mr_err *err)
{
	struct fake f = {-1, ans, 0, 0, ""};
	pthread_t th;
	int r;

	f.lfd = listen_at(1);
	T_OK(f.lfd >= 0);
	if (f.lfd < 0)
		return -2;
	T_OK(pthread_create(&th, NULL, serve, &f) == 0);
	r = fn(tdir, 2000, s_r, err);
	pthread_join(th, NULL);
	(void)close(f.lfd);
	T_STR(f.req, req);
	return r;
}

T_CASE(status_and_prometheus)
{
	const char *prom = "# HELP a b\n# TYPE a gauge\na 1\n";
	struct mr_err err;
	char *s = NULL;

	T_INT(ask(ctl_status, "{\"pid\":7,\"handled\":2}\n", "status\n", &s,
		  &err),
	      1);
	T_STR(s, "{\"pid\":7,\"handled\":2}\n");
	free(s);
	T_INT(ask(ctl_status, "pid 7\n", "status\n", &s, &err), -1);
	T_OK(s == NULL);
	T_OK(strstr(err.text, "not one JSON object") != NULL);
	T_INT(ask(ctl_prometheus, prom, "prometheus\n", &s, &err), 1);
	T_STR(s, prom);
	free(s);
	T_INT(ask(ctl_prometheus, "{\"error\":\"bad request\"}\n",
		  "prometheus\n", &s, &err),
	      -1);
	T_OK(s == NULL);
	T_OK(strstr(err.text, "not the Prometheus text format") != NULL);
}

int main(void)
{
	char path[256];

	if (mkdtemp(tdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(path_built_once_and_bounded);
	T_RUN(no_daemon);
	T_RUN(drain_answer);
	T_RUN(drain_answer_not_json);
	T_RUN(drain_answer_cut_short);
	T_RUN(drain_no_answer_in_time);
	T_RUN(answer_too_long);
	T_RUN(status_and_prometheus);
	if (ctl_path(tdir, path, sizeof(path)) == 0)
		(void)unlink(path);
	(void)rmdir(tdir);
	return t_done();
}
