/* tx_maildir.c - the "maildir:<path>" transport (contract: tx.h)
 *
 * A file in tmp/ named <sec>.M<usec>P<pid>Q<n>.<host> (exclusive create),
 * the data, fsync, close, rename into new/ without replacing anything,
 * fsync new/. With defer_sync set (group commit) send only writes the
 * file in tmp/ and starts its writeback (sync_file_range); txm_sync then
 * makes every pending file durable (one syncfs(2) of the outbox's file
 * system when there are several: one cache flush instead of one per
 * file; fsync for a single one), renames each into new/ and fsyncs new/
 * once: a file is never in new/ before its data is on disk. syncfs also
 * writes whatever else is dirty on that file system: the maildir: outbox
 * is for dry runs, tests and the demo.
 */
#include "tx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "tx_impl.h"

struct txm {
	struct tx base; /* first: tx_impl.h */
	int tmp_fd;
	int new_fd;
	int dirty; /* renamed into new/ since its last fsync */
	char host[128];
	struct txm_pend *pend; /* written, waiting for txm_sync */
	size_t n_pend, cap_pend;
};

/* A message written to tmp/ whose fsync and rename wait for txm_sync. */
struct txm_pend {
	int fd;
	int keyed; /* a delivery key: a taken final name means delivered */
	char name[256], final[256];
};

static atomic_ulong txm_seq;

static int mkdir_at(int dfd, const char *name)
{
	if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Maildir unique names may not hold '/' or ':'. */
static void safe_host(char *out, size_t n)
{
	const char *h = mr_hostname();
	size_t o = 0;

	for (; *h && o + 5 < n; h++) {
		if (*h == '/' || *h == ':') {
			int k = snprintf(out + o, n - o, "\\%03o",
					 (unsigned)(unsigned char)*h);
			if (k < 0 || (size_t)k >= n - o)
				break;
			o += (size_t)k;
		} else {
			out[o++] = *h;
		}
	}
	out[o] = 0;
}

/* A relative path resolves against the settings file's folder. */
static char *txm_check(const char *path, const char *dir, struct mr_err *err)
{
	size_t n = dir ? strlen(dir) : 0;

	if (path[0] == 0) {
		mr_err_set(err, MR_PERM, "expected \"maildir:<path>\"");
		return NULL;
	}
	if (path[0] == '/' || n == 0)
		return xstrdup(path);
	return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", path);
}

static struct tx *txm_open(const char *path, const struct tx_deps *d,
			   struct mr_err *err)
{
	struct txm *m;
	int dfd, cur;

	(void)d; /* no settings needed */
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		mr_err_sys(err, MR_TEMP, errno, "mkdir(%s)", path);
		return NULL;
	}
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		mr_err_sys(err, MR_TEMP, errno, "open(%s)", path);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	m->tmp_fd = mkdir_at(dfd, "tmp");
	m->new_fd = mkdir_at(dfd, "new");
	cur = mkdir_at(dfd, "cur");
	if (m->tmp_fd < 0 || m->new_fd < 0 || cur < 0) {
		mr_err_sys(err, MR_TEMP, errno, "maildir %s", path);
		if (m->tmp_fd >= 0)
			(void)close(m->tmp_fd); /* read-only dir fds */
		if (m->new_fd >= 0)
			(void)close(m->new_fd);
		free(m);
		m = NULL;
	}
	if (cur >= 0)
		(void)close(cur);
	(void)close(dfd);
	if (m == NULL)
		return NULL;
	safe_host(m->host, sizeof(m->host));
	return &m->base;
}

static int write_all(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		ssize_t w = writev(fd, iov, iovcnt > 1024 ? 1024 : iovcnt);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		while (iovcnt > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Write tmp/name. With fd_r, the file is left open with its writeback
 * started (*fd_r); without, it is fsynced and closed. */
static int txm_write(struct txm *m, const char *name, const char *rp,
		     const struct iovec *iov, int iovcnt, int *fd_r,
		     struct mr_err *err)
{
	struct iovec *v = xcalloc((size_t)iovcnt + 1, sizeof(*v));
	int fd, rc = -1;

	fd = openat(m->tmp_fd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		mr_err_sys(err, MR_TEMP, errno, "outbox: open(tmp/%s)", name);
		free(v);
		return -1;
	}
	v[0].iov_base = (void *)rp;
	v[0].iov_len = strlen(rp);
	memcpy(v + 1, iov, (size_t)iovcnt * sizeof(*v));
	if (write_all(fd, v, iovcnt + 1) < 0 ||
	    (fd_r == NULL && fsync(fd) < 0)) {
		mr_err_sys(err, MR_TEMP, errno, "outbox: write(tmp/%s)", name);
		(void)close(fd); /* already failing */
		goto out;
	}
	if (fd_r != NULL) {
		/* start the writeback now; txm_sync waits for it */
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		*fd_r = fd;
		rc = 0;
		goto out;
	}
	if (close(fd) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "outbox: close(tmp/%s)", name);
		goto out;
	}
	rc = 0;
out:
	free(v);
	return rc;
}

/* The name in new/: the delivery key when there is one (a second delivery
 * of the same key then finds it taken), else the temporary name. */
static int final_name(const struct tx_env *env, const char *tmp, char *out,
		      size_t n)
{
	unsigned char md[32];
	char hex[65];
	int k;

	if (env->key && strlen(env->key) > 200) {
		/* a long unique name: keep the key's identity, not its text */
		hash_sha256(env->key, strlen(env->key), md);
		hash_hex(md, 20, hex);
		k = snprintf(out, n, "K%s", hex);
	} else {
		k = snprintf(out, n, "%s", env->key ? env->key : tmp);
	}
	if (k < 0 || (size_t)k >= n)
		return -1;
	for (char *p = out; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	return 0;
}

/* Move a written file into new/: 0 (also when a keyed name is taken: it
 * was delivered before a crash), -1 with err. */
static int txm_publish(struct txm *m, const char *name, const char *final,
		       int keyed, struct mr_err *err)
{
	if (renameat2(m->tmp_fd, name, m->new_fd, final, RENAME_NOREPLACE) ==
	    0) {
		m->dirty = 1;
		return 0;
	}
	if (errno == EEXIST && keyed) {
		/* delivered before a crash: not again (but perhaps never
		 * synced) */
		(void)unlinkat(m->tmp_fd, name, 0);
		m->dirty = 1;
		return 0;
	}
	mr_err_sys(err, MR_TEMP, errno, "outbox: rename(%s)", final);
	(void)unlinkat(m->tmp_fd, name, 0); /* our own temp file */
	return -1;
}

/* fsync, close and publish every pending file; the first error in err,
 * and the files after a failure are dropped (their messages are sent
 * again). */
static int txm_flush(struct txm *m, struct mr_err *err)
{
	int rc = 0, whole = m->n_pend > 1;

	/* several files: one syncfs(2) writes them all and flushes the
	 * disk's cache once, where an fsync each would flush it once each */
	if (whole && syncfs(m->tmp_fd) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "outbox: syncfs(tmp)");
		rc = -1;
	}
	for (size_t i = 0; i < m->n_pend; i++) {
		struct txm_pend *p = &m->pend[i];

		if (rc == 0 && !whole && fsync(p->fd) < 0) {
			mr_err_sys(err, MR_TEMP, errno, "outbox: fsync(tmp/%s)",
				   p->name);
			rc = -1;
		}
		if (close(p->fd) < 0 && rc == 0) {
			mr_err_sys(err, MR_TEMP, errno, "outbox: close(tmp/%s)",
				   p->name);
			rc = -1;
		}
		if (rc < 0)
			(void)unlinkat(m->tmp_fd, p->name, 0); /* ours */
		else if (txm_publish(m, p->name, p->final, p->keyed, err) < 0)
			rc = -1;
	}
	m->n_pend = 0;
	return rc;
}

static int txm_sync(struct tx *h, struct mr_err *err)
{
	struct txm *m = (struct txm *)h;
	int rc = txm_flush(m, err);

	if (!m->dirty)
		return rc;
	if (fsync(m->new_fd) < 0) {
		if (rc == 0)
			mr_err_sys(err, MR_TEMP, errno, "outbox: fsync(new)");
		return -1;
	}
	m->dirty = 0;
	return rc;
}

/* Group commit: keep the open file for txm_sync. */
static void txm_hold(struct txm *m, int fd, const char *name, const char *final,
		     int keyed)
{
	struct txm_pend *p;

	if (m->n_pend == m->cap_pend) {
		m->cap_pend = m->cap_pend ? m->cap_pend * 2 : 16;
		m->pend = xrealloc(m->pend, m->cap_pend * sizeof(*m->pend));
	}
	p = &m->pend[m->n_pend++];
	p->fd = fd;
	p->keyed = keyed;
	(void)snprintf(p->name, sizeof(p->name), "%s", name);    /* fits */
	(void)snprintf(p->final, sizeof(p->final), "%s", final); /* fits */
}

static int txm_send(struct tx *h, const struct tx_env *env,
		    const struct iovec *iov, int iovcnt, struct tx_why *why,
		    struct mr_err *err)
{
	struct txm *m = (struct txm *)h;
	struct timeval tv;
	char name[256], final[256], rp[600];
	int n, fd;

	(void)why; /* every failure here is send-failed */
	gettimeofday(&tv, NULL);
	n = snprintf(name, sizeof(name), "%lld.M%06ldP%ldQ%lu.%s",
		     (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
		     atomic_fetch_add(&txm_seq, 1) + 1, m->host);
	if (n < 0 || (size_t)n >= sizeof(name)) {
		mr_err_set(err, MR_PERM, "outbox: unique name too long");
		return -1;
	}
	n = snprintf(rp, sizeof(rp), "Return-Path: <%s>\r\n",
		     env->mail_from ? env->mail_from : "");
	if (n < 0 || (size_t)n >= sizeof(rp)) {
		mr_err_set(err, MR_PERM, "outbox: envelope sender too long");
		return -1;
	}
	if (final_name(env, name, final, sizeof(final)) < 0) {
		mr_err_set(err, MR_PERM, "outbox: delivery key too long");
		return -1;
	}
	if (h->defer_sync) {
		if (txm_write(m, name, rp, iov, iovcnt, &fd, err) < 0)
			goto unlink;
		txm_hold(m, fd, name, final, env->key != NULL);
		return 0;
	}
	if (txm_write(m, name, rp, iov, iovcnt, NULL, err) < 0)
		goto unlink;
	if (txm_publish(m, name, final, env->key != NULL, err) < 0)
		return -1;
	return txm_sync(h, err);
unlink:
	(void)unlinkat(m->tmp_fd, name, 0); /* our own temp file */
	return -1;
}

static void txm_close(struct tx *h)
{
	struct txm *m = (struct txm *)h;

	if (m == NULL)
		return;
	/* tx_close synced; anything left failed: drop the files */
	for (size_t i = 0; i < m->n_pend; i++) {
		(void)close(m->pend[i].fd); /* unpublished: no data to keep */
		(void)unlinkat(m->tmp_fd, m->pend[i].name, 0);
	}
	free(m->pend);
	(void)close(m->tmp_fd); /* directory fds: nothing to flush */
	(void)close(m->new_fd);
	free(m);
}

const struct tx_ops tx_maildir_ops = {
	.scheme = "maildir:",
	.check = txm_check,
	.open = txm_open,
	.send = txm_send,
	.sync = txm_sync,
	.close = txm_close,
};
