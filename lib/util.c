/* util.c - errors, allocation, buffers and small helpers (contract: mr.h)
 *
 * Allocation failure logs and aborts: the message being handled stays
 * claimed and is recovered at restart.
 */
#include "mr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

void mr_err_clear(struct mr_err *err)
{
	if (err == NULL)
		return;
	err->kind = MR_OK;
	err->text[0] = 0;
}

static void err_vset(struct mr_err *err, enum mr_fail kind, const char *fmt,
		     va_list ap)
{
	int n;

	if (err == NULL)
		return;
	err->kind = kind;
	n = vsnprintf(err->text, sizeof(err->text), fmt, ap);
	if (n < 0)
		err->text[0] = 0;
	/* truncation of an error text is harmless */
}

void mr_err_set(struct mr_err *err, enum mr_fail kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, kind, fmt, ap);
	va_end(ap);
}

void mr_err_sys(struct mr_err *err, enum mr_fail kind, int errnum,
		const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	err_vset(err, kind, fmt, ap);
	va_end(ap);
	n = strlen(err->text);
	if (n < sizeof(err->text) - 1)
		(void)snprintf(err->text + n, sizeof(err->text) - n, ": %s",
			       log_strerror(errnum)); /* may truncate */
}

void mr_msgs_add(struct mr_msgs *m, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		log_err("vasprintf: out of memory");
		abort();
	}
	va_end(ap);
	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->v[m->n++] = s;
}

void mr_msgs_free(struct mr_msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static void oom(size_t n)
{
	log_err("out of memory allocating %zu bytes", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom(strlen(s));
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		oom(n);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom(0);
	va_end(ap);
	return s;
}

void buf_init(struct mr_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_reset(struct mr_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

void buf_free(struct mr_buf *b)
{
	free(b->data);
	buf_init(b);
}

static void buf_grow(struct mr_buf *b, size_t more)
{
	size_t need = b->len + more + 1;
	size_t cap = b->cap ? b->cap : 64;

	if (need <= b->cap)
		return;
	while (cap < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	b->data[b->len] = 0;
}

void buf_append(struct mr_buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

void buf_puts(struct mr_buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct mr_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap); /* sized */
	va_end(ap);
	b->len += (size_t)n;
}

char *buf_steal(struct mr_buf *b, size_t *len_r)
{
	char *p;

	if (b->data == NULL)
		buf_grow(b, 0);
	p = b->data;
	if (len_r)
		*len_r = b->len;
	buf_init(b);
	return p;
}

void mr_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

char *mr_lower_dup(const char *s)
{
	char *p = xstrdup(s);

	mr_lower(p);
	return p;
}

static int lower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int mr_streq_ci(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = lower_ascii((unsigned char)*a);

		if (ca != lower_ascii((unsigned char)*b))
			return 0;
		if (ca == 0)
			return 1;
	}
}

int mr_memeq_ci(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower_ascii((unsigned char)a[i]) !=
		    lower_ascii((unsigned char)b[i]))
			return 0;
	return 1;
}

int mr_strv_has_ci(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] != NULL && mr_streq_ci(v[i], s))
			return 1;
	return 0;
}

const char *mr_show(const char *s, char out[MR_SHOW_SIZE], char quote)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	out[o++] = quote;
	for (; i < MR_SHOW_MAX && u[i] != 0; i++)
		out[o++] = (char)(u[i] < 0x20 || u[i] == 0x7f ? '?' : u[i]);
	if (u[i] != 0) {
		while (o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
			o--; /* do not cut a UTF-8 sequence */
		if (o > 1 && (unsigned char)out[o - 1] >= 0xC0)
			o--;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = quote;
	out[o] = 0;
	return out;
}

size_t mr_hash_str(const char *s)
{
	size_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

int mr_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t k;
		unsigned cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 1, cp = c & 0x1F, min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2, cp = c & 0x0F, min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += k + 1;
	}
	return 1;
}

int mr_read_file(const char *path, size_t max, char **data_r, size_t *len_r,
		 struct mr_err *err)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		mr_err_sys(err, MR_PERM, errno, "open(%s)", path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		mr_err_set(err, MR_PERM, "%s: not a regular file", path);
		goto fail;
	}
	if ((unsigned long long)st.st_size > max) {
		mr_err_set(err, MR_PERM, "%s: larger than %zu bytes", path,
			   max);
		goto fail;
	}
	data = xmalloc((size_t)st.st_size + 2);
	if (mr_read_full(fd, data, (size_t)st.st_size, &len) < 0) {
		mr_err_sys(err, MR_PERM, errno, "read(%s)", path);
		goto fail;
	}
	data[len] = 0;
	data[len + 1] = 0;
	(void)close(fd); /* read-only: nothing to lose */
	*data_r = data;
	*len_r = len;
	return 0;
fail:
	free(data);
	(void)close(fd); /* read-only */
	return -1;
}

int mr_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r, e;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	e = errno;
	(void)close(fd); /* read-only descriptor */
	errno = e;
	return r;
}

int mr_read_full(int fd, void *buf, size_t n, size_t *got_r)
{
	char *p = buf;

	*got_r = 0;
	while (*got_r < n) {
		ssize_t r = read(fd, p + *got_r, n - *got_r);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		*got_r += (size_t)r;
	}
	return 0;
}

int mr_write_all(int fd, const void *data, size_t n)
{
	const char *p = data;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

char *mr_dir_dup(const char *path)
{
	const char *s = strrchr(path, '/');

	if (s == NULL)
		return xstrdup(".");
	if (s == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(s - path));
}

int mr_mkdir_parents(const char *path, mode_t mode)
{
	char *dir = mr_dir_dup(path);
	int rc = 0;

	for (char *p = dir + 1; rc == 0; p++) {
		char c = *p;

		if (c != '/' && c != 0)
			continue;
		*p = 0;
		if (mkdir(dir, mode) < 0 && errno != EEXIST)
			rc = -1;
		*p = c;
		if (c == 0)
			break;
	}
	free(dir);
	return rc;
}

/* Owner, mode, the parts in turn, fsync and the size check of the temp
 * file; 0 or -1 with err. */
static int wf_fill(int fd, const char *tmp, const struct mr_part *parts,
		   size_t n, const struct mr_write_opts *o, struct mr_err *err)
{
	const char *pre = o->what != NULL ? o->what : "";
	struct stat st;
	size_t total = 0;

	if ((o->uid != (uid_t)-1 || o->gid != (gid_t)-1) &&
	    fchown(fd, o->uid, o->gid) < 0) {
		mr_err_sys(err, o->kind, errno, "%sfchown(%s)", pre, tmp);
		return -1;
	}
	if (fchmod(fd, o->mode) < 0) {
		mr_err_sys(err, o->kind, errno, "%sfchmod(%s)", pre, tmp);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (mr_write_all(fd, parts[i].data, parts[i].len) < 0) {
			mr_err_sys(err, o->kind, errno, "%swrite(%s)", pre,
				   tmp);
			return -1;
		}
		total += parts[i].len;
	}
	if (fsync(fd) < 0 || fstat(fd, &st) < 0) {
		mr_err_sys(err, o->kind, errno, "%sfsync(%s)", pre, tmp);
		return -1;
	}
	/* a thread of ours writing the same path shares the temp name */
	if ((size_t)st.st_size != total) {
		mr_err_set(err, o->kind, "%s%s: short write", pre, tmp);
		return -1;
	}
	return 0;
}

int mr_write_parts_atomic(const char *path, const struct mr_part *parts,
			  size_t n, const struct mr_write_opts *o,
			  struct mr_err *err)
{
	const char *pre = o->what != NULL ? o->what : "";
	int keep = (o->flags & MR_WRITE_NEW) != 0;
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	char *dir = mr_dir_dup(path);
	int fd, rc = -1;

	/* O_EXCL for a key: never write into a file someone else made */
	fd = open(tmp,
		  O_WRONLY | O_CREAT | (keep ? O_EXCL : O_TRUNC) | O_NOFOLLOW |
			  O_CLOEXEC,
		  0600);
	if (fd < 0) {
		mr_err_sys(err, o->kind, errno, "%sopen(%s)", pre, tmp);
		goto out;
	}
	if (wf_fill(fd, tmp, parts, n, o, err) < 0) {
		(void)close(fd); /* already failing */
		goto unlink;
	}
	if (close(fd) < 0) {
		mr_err_sys(err, o->kind, errno, "%sclose(%s)", pre, tmp);
		goto unlink;
	}
	/* link(2) never replaces a file; rename(2) does, atomically */
	if (keep ? link(tmp, path) < 0 : rename(tmp, path) < 0) {
		mr_err_sys(err, o->kind, errno, "%s%s(%s, %s)", pre,
			   keep ? "link" : "rename", tmp, path);
		goto unlink;
	}
	/* path holds the data; the folder's fsync makes both durable */
	if (keep)
		(void)unlink(tmp); /* ours */
	if (mr_fsync_dir(dir) < 0 && !(o->flags & MR_WRITE_SOFT_DIRSYNC)) {
		mr_err_sys(err, o->kind, errno, "%sfsync(%s)", pre, dir);
		goto out;
	}
	rc = 0;
	goto out;
unlink:
	(void)unlink(tmp); /* best effort cleanup of our own temp file */
out:
	free(tmp);
	free(dir);
	return rc;
}

int mr_write_file_atomic(const char *path, const void *data, size_t len,
			 mode_t mode, struct mr_err *err)
{
	const struct mr_part part = {data, len};
	const struct mr_write_opts o = {.mode = mode,
					.uid = (uid_t)-1,
					.gid = (gid_t)-1,
					.kind = MR_TEMP};

	return mr_write_parts_atomic(path, &part, 1, &o, err);
}

/* Seconds added to the wall clock: MAILRESPONDER_CLOCK_OFFSET_S, read
 * once. For tests of the day boundary only; unset in production. */
static long clock_offset;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

static void clock_offset_init(void)
{
	const char *v = getenv("MAILRESPONDER_CLOCK_OFFSET_S");
	long off;
	int neg = v != NULL && v[0] == '-';

	if (v == NULL || v[0] == 0)
		return;
	if (mr_parse_long(v + neg, &off) < 0) {
		log_warn("MAILRESPONDER_CLOCK_OFFSET_S: not an integer; "
			 "ignored");
		return;
	}
	clock_offset = neg ? -off : off;
	log_warn("clock offset %ld s (MAILRESPONDER_CLOCK_OFFSET_S)",
		 clock_offset);
}

time_t mr_time(void)
{
	(void)pthread_once(&clock_once, clock_offset_init); /* cannot fail */
	return time(NULL) + clock_offset;
}

long long mr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mr_parse_long(const char *s, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != 0)
		return -1;
	*out = v;
	return 0;
}

char *mr_path_join(const char *dir, const char *name)
{
	if (name[0] == '/' || dir == NULL || dir[0] == 0)
		return xstrdup(name);
	return xasprintf("%s/%s", dir, name);
}

const char *mr_hostname(void)
{
	static char host[HOST_NAME_MAX + 1];
	static int done;

	/* set once before threads start (log_init calls it) */
	if (!done) {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == 0)
			(void)snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = 0;
		done = 1;
	}
	return host;
}
