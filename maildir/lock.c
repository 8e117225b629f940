/* lock.c - one owner per spool (contract: md.h)
 *
 * flock belongs to the open file description, so there is no stale lock
 * to clean up; the pid written into the file is for md_lock_owner and
 * for operators.
 */
#include "md_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define PID_TEXT_MAX 24
#define OWNER_TRIES 50 /* md_lock_owner: 50 x 2 ms for the pid to appear */

/* Open the lock file; refuses anything but a regular file. -2 when it
 * does not exist and O_CREAT is not in flags. */
static int lock_open(struct md_spool *sp, int flags, struct mr_err *err)
{
	struct stat st;
	int fd;

	fd = openat(sp->dir_fd, MD_LOCK_NAME,
		    flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		    0600);
	if (fd < 0 && errno == ENOENT && !(flags & O_CREAT))
		return -2;
	if (fd < 0) {
		mr_err_sys(err, MR_TEMP, errno, "open(%s/%s)", sp->path,
			   MD_LOCK_NAME);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		mr_err_set(err, MR_PERM, "%s/%s: not a regular file", sp->path,
			   MD_LOCK_NAME);
		(void)close(fd); /* nothing written through it yet */
		return -1;
	}
	return fd;
}

static int flock_retry(int fd, int op)
{
	int r;

	while ((r = flock(fd, op)) < 0 && errno == EINTR)
		;
	return r;
}

static int pid_write(int fd, struct mr_err *err)
{
	char buf[PID_TEXT_MAX];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (n < 0 || (size_t)n >= sizeof(buf)) {
		mr_err_set(err, MR_TEMP, "lock: pid text too long");
		return -1;
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n ||
	    fsync(fd) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "write(%s)", MD_LOCK_NAME);
		return -1;
	}
	return 0;
}

int md_lock(struct md_spool *sp, int wait, struct mr_err *err)
{
	int fd;

	if (sp->lock_fd >= 0)
		return 1;
	if ((fd = lock_open(sp, O_RDWR | O_CREAT, err)) < 0)
		return -1;
	if (flock_retry(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		int e = errno;

		if (e != EWOULDBLOCK)
			mr_err_sys(err, MR_TEMP, e, "flock(%s/%s)", sp->path,
				   MD_LOCK_NAME);
		(void)close(fd); /* nothing written */
		return e == EWOULDBLOCK ? 0 : -1;
	}
	if (pid_write(fd, err) < 0) {
		(void)close(fd); /* the error is already reported */
		return -1;
	}
	sp->lock_fd = fd;
	return 1;
}

void md_unlock(struct md_spool *sp)
{
	if (sp->lock_fd < 0)
		return;
	/* the pid is information only; a stale one is harmless */
	(void)!ftruncate(sp->lock_fd, 0);
	if (close(sp->lock_fd) < 0)
		log_warn("close(%s/%s): %s", sp->path, MD_LOCK_NAME,
			 log_strerror(errno));
	sp->lock_fd = -1;
}

/* "<digits>\n" and nothing else, > 0 and a valid pid_t. */
static int pid_parse(char *buf, ssize_t n, pid_t *pid_r)
{
	long v;

	if (n < 2 || buf[n - 1] != '\n')
		return -1;
	buf[n - 1] = 0;
	if (strspn(buf, "0123456789") != (size_t)(n - 1) ||
	    mr_parse_long(buf, &v) < 0 || v <= 0 || v > 0x7fffffff)
		return -1;
	*pid_r = (pid_t)v;
	return 0;
}

/* The holder truncates, then writes its pid: give it a moment. */
static int pid_read(const struct md_spool *sp, int fd, pid_t *pid_r,
		    struct mr_err *err)
{
	const struct timespec pause = {0, 2000000};
	char buf[PID_TEXT_MAX];
	ssize_t n;

	for (int i = 0; i < OWNER_TRIES; i++) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			mr_err_sys(err, MR_TEMP, errno, "read(%s/%s)", sp->path,
				   MD_LOCK_NAME);
			return -1;
		}
		if (pid_parse(buf, n, pid_r) == 0)
			return 1;
		(void)nanosleep(&pause, NULL); /* EINTR: just try again */
	}
	mr_err_set(err, MR_TEMP, "%s/%s: locked, but holds no valid pid",
		   sp->path, MD_LOCK_NAME);
	return -1;
}

int md_lock_owner(struct md_spool *sp, pid_t *pid_r, struct mr_err *err)
{
	int fd, r;

	if ((fd = lock_open(sp, O_RDONLY, err)) < 0)
		return fd == -2 ? 0 : -1;
	if (flock_retry(fd, LOCK_SH | LOCK_NB) == 0) {
		r = 0; /* nobody holds it; closing drops our probe */
	} else if (errno == EWOULDBLOCK) {
		r = pid_read(sp, fd, pid_r, err);
	} else {
		mr_err_sys(err, MR_TEMP, errno, "flock(%s/%s)", sp->path,
			   MD_LOCK_NAME);
		r = -1;
	}
	if (close(fd) < 0)
		log_warn("close(%s/%s): %s", sp->path, MD_LOCK_NAME,
			 log_strerror(errno));
	return r;
}
