/* blob.c - attachment bytes from a local directory or S3 (contract: blob.h)
 *
 * A small ops table per source. The local source opens with O_NONBLOCK so
 * that a FIFO does not block, and checks the open descriptor with fstat,
 * so nothing can be swapped in between the checks and the read.
 */
#include "blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3.h"

#define BLOB_MAX ((size_t)64 << 20) /* per object */

/* An attachment source: its get and close. */
struct blob_ops {
	int (*get)(struct blob *b, const char *bucket, const char *key,
		   char **data_r, size_t *len_r, struct mr_err *err);
	void (*close)(struct blob *b);
};

struct blob {
	const struct blob_ops *ops;
	char *dir;     /* local */
	struct s3 *s3; /* S3: not owned */
};

static int dir_get(struct blob *b, const char *bucket, const char *key,
		   char **data_r, size_t *len_r, struct mr_err *err);

static void dir_close(struct blob *b)
{
	free(b->dir);
}

static const struct blob_ops dir_ops = {dir_get, dir_close};

static int s3_blob_get(struct blob *b, const char *bucket, const char *key,
		       char **data_r, size_t *len_r, struct mr_err *err)
{
	return s3_get(b->s3, bucket, key, data_r, len_r, err);
}

static void s3_blob_close(struct blob *b)
{
	(void)b; /* the S3 client belongs to the caller */
}

static const struct blob_ops s3_ops = {s3_blob_get, s3_blob_close};

struct blob *blob_open_s3(struct s3 *s3)
{
	struct blob *b = xcalloc(1, sizeof(*b));

	b->ops = &s3_ops;
	b->s3 = s3;
	return b;
}

int blob_get(struct blob *b, const char *bucket, const char *key, char **data_r,
	     size_t *len_r, struct mr_err *err)
{
	*data_r = NULL;
	*len_r = 0;
	return b->ops->get(b, bucket, key, data_r, len_r, err);
}

struct blob *blob_open(const char *spec, struct mr_err *err)
{
	struct stat st;
	struct blob *b;

	if (spec == NULL || *spec == 0) {
		mr_err_set(err, MR_PERM, "blob_open: empty directory name");
		return NULL;
	}
	if (stat(spec, &st) < 0) {
		mr_err_sys(err, MR_PERM, errno, "blob_open: stat(%s)", spec);
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		mr_err_set(err, MR_PERM, "blob_open: %s: not a directory",
			   spec);
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->ops = &dir_ops;
	b->dir = xstrdup(spec);
	return b;
}

void blob_close(struct blob **b)
{
	if (b == NULL || *b == NULL)
		return;
	(*b)->ops->close(*b);
	free(*b);
	*b = NULL;
}

/* 1 if s is a relative path of acceptable components. */
static int name_ok(const char *s)
{
	const char *p = s, *c;

	if (s == NULL || *s == 0 || *s == '/')
		return 0;
	for (c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return 0;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += n;
		if (*p == '/' && *++p == 0)
			return 0; /* trailing slash: empty last component */
	}
	return 1;
}

/* Failures of open(2) that are about the object, not the machine. */
static enum mr_fail open_fail_kind(int e)
{
	switch (e) {
	case EMFILE:
	case ENFILE:
	case ENOMEM:
	case EIO:
	case EINTR:
	case EAGAIN:
		return MR_TEMP;
	default:
		return MR_PERM;
	}
}

static void open_fail(int e, const char *bucket, const char *key,
		      struct mr_err *err)
{
	if (e == ENOENT || e == ENOTDIR)
		mr_err_set(err, MR_PERM, "blob %s/%s: no such object", bucket,
			   key);
	else if (e == ELOOP)
		mr_err_set(err, MR_PERM, "blob %s/%s: symlink refused", bucket,
			   key);
	else
		mr_err_sys(err, open_fail_kind(e), e, "blob %s/%s: open",
			   bucket, key);
}

static int read_all(int fd, size_t size, char **data_r, size_t *len_r,
		    const char *bucket, const char *key, struct mr_err *err)
{
	char *data = xmalloc(size + 2);
	size_t len = 0;

	while (len < size) {
		ssize_t r = read(fd, data + len, size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mr_err_sys(err, MR_TEMP, errno, "blob %s/%s: read",
				   bucket, key);
			free(data);
			return -1;
		}
		if (r == 0)
			break; /* shrank while we read: take what is there */
		len += (size_t)r;
	}
	data[len] = 0;
	data[len + 1] = 0;
	*data_r = data;
	*len_r = len;
	return 0;
}

static int dir_get(struct blob *b, const char *bucket, const char *key,
		   char **data_r, size_t *len_r, struct mr_err *err)
{
	struct stat st;
	char *path;
	int fd, rc = -1;

	if (!name_ok(bucket) || !name_ok(key)) {
		mr_err_set(err, MR_PERM, "blob %s/%s: name refused",
			   bucket ? bucket : "(null)", key ? key : "(null)");
		return -1;
	}
	path = xasprintf("%s/%s/%s", b->dir, bucket, key);
	fd = open(path,
		  O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	free(path);
	if (fd < 0) {
		open_fail(errno, bucket, key, err);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "blob %s/%s: fstat", bucket,
			   key);
	} else if (!S_ISREG(st.st_mode)) {
		mr_err_set(err, MR_PERM, "blob %s/%s: not a regular file",
			   bucket, key);
	} else if ((unsigned long long)st.st_size > BLOB_MAX) {
		mr_err_set(err, MR_PERM, "blob %s/%s: larger than %zu bytes",
			   bucket, key, BLOB_MAX);
	} else {
		rc = read_all(fd, (size_t)st.st_size, data_r, len_r, bucket,
			      key, err);
	}
	(void)close(fd); /* read-only descriptor: nothing to lose */
	return rc;
}
