/* watch.c - inotify on the spool's new/ (contract: md.h)
 *
 * Postfix's virtual(8) writes tmp/ and link()s into new/ (IN_CREATE);
 * other delivery agents rename (IN_MOVED_TO).
 */
#include "md.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"

struct md_watch {
	int fd;
	int wd;
};

struct md_watch *md_watch_open(struct md_spool *sp, struct mr_err *err)
{
	struct md_watch *w;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0) {
		mr_err_sys(err, MR_PERM, errno, "inotify_init1");
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->fd = fd;
	w->wd = inotify_add_watch(fd, md_new_path(sp),
				  IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
	if (w->wd < 0) {
		mr_err_sys(err, MR_PERM, errno, "inotify_add_watch(%s)",
			   md_new_path(sp));
		(void)close(fd); /* nothing written */
		free(w);
		return NULL;
	}
	return w;
}

void md_watch_close(struct md_watch **wp)
{
	struct md_watch *w = *wp;

	if (w == NULL)
		return;
	if (close(w->fd) < 0)
		log_warn("close(inotify) failed: %s", log_strerror(errno));
	free(w);
	*wp = NULL;
}

int md_watch_fd(const struct md_watch *w)
{
	return w->fd;
}

static int handle(const struct inotify_event *ev, md_watch_fn cb, void *arg)
{
	if (ev->mask & IN_Q_OVERFLOW)
		return 1;
	if (ev->mask & IN_IGNORED)
		return 1; /* the watch is gone (new/ removed?): rescan */
	if (ev->len > 0 && ev->name[0] != 0 && ev->name[0] != '.')
		cb(ev->name, arg);
	return 0;
}

int md_watch_read(struct md_watch *w, md_watch_fn cb, void *arg,
		  struct mr_err *err)
{
	char buf[64 * 1024]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	int overflow = 0;

	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return overflow;
		if (n <= 0) {
			mr_err_sys(err, MR_PERM, n < 0 ? errno : EIO,
				   "read(inotify)");
			return -1;
		}
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (void *)p;

			overflow |= handle(ev, cb, arg);
			p += sizeof(*ev) + ev->len;
		}
	}
}
