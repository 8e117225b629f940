/* pfmaps.c - the Postfix lookup tables for the spool (contract: pfmaps.h)
 *
 * The table texts are built once, in pfm_open; pfm_current compares them
 * with the files, pfm_write writes them.
 */
#include "pfmaps.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "aws.h"
#include "log.h"
#include "rcfg.h"
#include "s3.h"
#include "settings.h"
#include "snap.h"

extern char **environ;

struct pfm_strv {
	char **v;
	size_t n;
};

struct pfm {
	struct pfm_strv addrs;   /* sorted, unique, lower-case */
	struct pfm_strv domains; /* sorted, unique, lower-case */
	char *value;             /* map value: "<spool>/" */
	char *maps;              /* DIR/virtual_mailbox_maps */
	char *domfile;           /* DIR/virtual_mailbox_domains */
	struct mr_buf maps_text; /* what goes into each file */
	struct mr_buf dom_text;
	int postmap;
};

static void pfm_strv_free(struct pfm_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

void pfm_free(struct pfm **pp)
{
	struct pfm *p = *pp;

	if (p == NULL)
		return;
	pfm_strv_free(&p->addrs);
	pfm_strv_free(&p->domains);
	free(p->value);
	free(p->maps);
	free(p->domfile);
	buf_free(&p->maps_text);
	buf_free(&p->dom_text);
	free(p);
	*pp = NULL;
}

/* The responder config: a file, or S3 read-only (a command run by hand or
 * by cron, possibly as another user than the daemon's, writes no cache).
 * NULL with problems; *unreachable_r set when S3 could not be reached and
 * nothing was cached. */
static struct rcfg *pfm_rcfg(const struct set *s, struct mr_msgs *problems,
			     int *unreachable_r)
{
	struct s3_counts c = {0};
	struct aws *aws;
	struct s3 *s3;
	struct rcfg *rc;

	*unreachable_r = 0;
	if (strncmp(s->responder_config, "s3://", 5) != 0)
		return rcfg_load_file(s->responder_config, problems);
	aws = aws_new(s);
	s3 = s3_new(s, aws, S3_READONLY);
	rc = snap_rcfg_load(s, s3, problems);
	if (rc == NULL && s3 != NULL) {
		s3_counts(s3, &c);
		*unreachable_r = c.unreachable > 0;
	}
	s3_free(&s3);
	aws_free(&aws);
	return rc;
}

/* The absolute form of path with ".", ".." and repeated '/' removed
 * lexically, the way virtual(8) joins virtual_mailbox_base and a value.
 * NULL with errno set when the working directory is unknown. */
static char *pfm_abspath(const char *path)
{
	char *cwd = NULL, *src;
	const char *p, *e;
	struct mr_buf b;

	if (path[0] != '/' && (cwd = getcwd(NULL, 0)) == NULL)
		return NULL;
	src = cwd ? xasprintf("%s/%s", cwd, path) : xstrdup(path);
	buf_init(&b);
	for (p = src; *p != 0; p = e) {
		while (*p == '/')
			p++;
		e = strchrnul(p, '/');
		if (e - p == 0 || (e - p == 1 && p[0] == '.'))
			continue;
		if (e - p == 2 && p[0] == '.' && p[1] == '.') {
			char *up = b.data ? strrchr(b.data, '/') : NULL;

			if (up) {
				*up = 0;
				b.len = (size_t)(up - b.data);
			}
			continue;
		}
		buf_puts(&b, "/");
		buf_append(&b, p, (size_t)(e - p));
	}
	if (b.len == 0)
		buf_puts(&b, "/");
	free(src);
	free(cwd);
	return buf_steal(&b, NULL);
}

/* The part of path below dir (both normalized), "." when they are equal,
 * NULL when path is not inside dir. */
static const char *pfm_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(path, dir) == 0)
		return ".";
	if (strcmp(dir, "/") == 0)
		return path + 1;
	if (strncmp(path, dir, n) == 0 && path[n] == '/')
		return path + n + 1;
	return NULL;
}

/* 1 if s can be a key or value in a Postfix table source line or a list
 * file: no whitespace, control characters or quotes (a quoted local part
 * is looked up unquoted), no leading '#' (a comment). */
static int pfm_table_safe(const char *s)
{
	if (*s == 0 || *s == '#')
		return 0;
	for (; *s != 0; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == 0x7f || c == '"')
			return 0;
	}
	return 1;
}

/* The map value: the spool relative to base, or the absolute spool when
 * base is NULL, ending in '/' so that virtual(8) delivers to a Maildir. */
static char *pfm_value(const char *spool, const char *base, struct mr_err *err)
{
	char *s = pfm_abspath(spool), *b = NULL, *v = NULL;
	const char *rel;

	if (s == NULL || (base && (b = pfm_abspath(base)) == NULL)) {
		mr_err_sys(err, MR_TEMP, errno, "getcwd");
		goto out;
	}
	if (b == NULL) {
		v = strcmp(s, "/") == 0 ? xstrdup(s) : xasprintf("%s/", s);
	} else if ((rel = pfm_below(s, b)) == NULL) {
		mr_err_set(err, MR_PERM, "spool %s is not under --base %s", s,
			   b);
		goto out;
	} else {
		v = xasprintf("%s/", rel);
	}
	if (!pfm_table_safe(v)) {
		mr_err_set(err, MR_PERM,
			   "spool %s: a Postfix table value cannot hold "
			   "whitespace, control characters or quotes",
			   s);
		free(v);
		v = NULL;
	}
out:
	free(s);
	free(b);
	return v;
}

static int pfm_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates, in place. */
static void pfm_strv_uniq(struct pfm_strv *sv)
{
	size_t k = 0;

	if (sv->n == 0)
		return;
	qsort(sv->v, sv->n, sizeof(sv->v[0]), pfm_cmp);
	for (size_t i = 1; i < sv->n; i++) {
		if (strcmp(sv->v[i], sv->v[k]) == 0)
			free(sv->v[i]);
		else
			sv->v[++k] = sv->v[i];
	}
	sv->n = k + 1;
}

/* Every configured address and the complaints address, and their
 * domains. -1 (problems say which) when one cannot be a table key. */
static int pfm_collect(struct pfm *p, const struct set *s,
		       const struct rcfg *rc, struct mr_msgs *problems)
{
	const char *const *addrs;
	size_t n = rcfg_addresses(rc, &addrs);
	int bad = 0;

	p->addrs.v = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		p->addrs.v[p->addrs.n++] = mr_lower_dup(addrs[i]);
	if (s->complaints_address)
		p->addrs.v[p->addrs.n++] = mr_lower_dup(s->complaints_address);
	pfm_strv_uniq(&p->addrs);
	p->domains.v = xcalloc(p->addrs.n + 1, sizeof(char *));
	for (size_t i = 0; i < p->addrs.n; i++) {
		if (!pfm_table_safe(p->addrs.v[i])) {
			mr_msgs_add(problems,
				    "address %s cannot be written to a "
				    "Postfix table (whitespace, control "
				    "characters, quotes or a leading '#')",
				    p->addrs.v[i]);
			bad = 1;
		}
		p->domains.v[p->domains.n++] =
			xstrdup(addr_domain(p->addrs.v[i]));
	}
	pfm_strv_uniq(&p->domains);
	return bad ? -1 : 0;
}

/* Lines "<v[i]> <value>\n", or "<v[i]>\n" when value is NULL. */
static void pfm_text(struct mr_buf *b, const struct pfm_strv *sv,
		     const char *value)
{
	buf_init(b);
	buf_puts(b, ""); /* an empty table is an empty file */
	for (size_t i = 0; i < sv->n; i++) {
		if (value)
			buf_printf(b, "%s %s\n", sv->v[i], value);
		else
			buf_printf(b, "%s\n", sv->v[i]);
	}
}

struct pfm *pfm_open(const struct set *s, const struct pfm_opts *o,
		     struct mr_msgs *problems, struct mr_err *err)
{
	const char *dir = o->dir ? o->dir : s->dir;
	struct pfm *p = xcalloc(1, sizeof(*p));
	struct rcfg *rc;
	int unreachable;

	rc = pfm_rcfg(s, problems, &unreachable);
	if (rc == NULL) {
		mr_err_set(err, unreachable ? MR_TEMP : MR_PERM,
			   "responder config %s not loaded",
			   s->responder_config);
		goto fail;
	}
	if (pfm_collect(p, s, rc, problems) < 0) {
		mr_err_set(err, MR_PERM, "an address cannot be listed");
		goto fail;
	}
	p->value = pfm_value(s->spool, o->base, err);
	if (p->value == NULL) {
		mr_msgs_add(problems, "%s", err->text);
		goto fail;
	}
	p->maps = mr_path_join(dir, PFM_MAPS);
	p->domfile = mr_path_join(dir, PFM_DOMAINS);
	pfm_text(&p->maps_text, &p->addrs, p->value);
	pfm_text(&p->dom_text, &p->domains, NULL);
	p->postmap = o->postmap;
	rcfg_free(&rc);
	return p;
fail:
	rcfg_free(&rc);
	pfm_free(&p);
	return NULL;
}

/* 1 when path is a regular file holding exactly want. */
static int pfm_same(const char *path, const struct mr_buf *want)
{
	struct mr_err err;
	char *data;
	size_t len;
	int same;

	mr_err_clear(&err);
	if (mr_read_file(path, want->len, &data, &len, &err) < 0)
		return 0; /* missing, unreadable or longer: rewrite it */
	same = len == want->len && memcmp(data, want->data, len) == 0;
	free(data);
	return same;
}

/* 1 when a's modification time is not earlier than b's. */
static int pfm_not_older(const struct stat *a, const struct stat *b)
{
	if (a->st_mtim.tv_sec != b->st_mtim.tv_sec)
		return a->st_mtim.tv_sec > b->st_mtim.tv_sec;
	return a->st_mtim.tv_nsec >= b->st_mtim.tv_nsec;
}

int pfm_current(const struct pfm *p, struct mr_msgs *done)
{
	struct stat text, db;
	char *dbpath;
	int ok;

	if (!pfm_same(p->maps, &p->maps_text) ||
	    !pfm_same(p->domfile, &p->dom_text))
		return 0;
	if (p->postmap) {
		dbpath = xasprintf("%s.db", p->maps);
		ok = stat(p->maps, &text) == 0 && stat(dbpath, &db) == 0 &&
		     S_ISREG(db.st_mode) && pfm_not_older(&db, &text);
		free(dbpath);
		if (!ok)
			return 0;
	}
	mr_msgs_add(done, "%s: unchanged, %zu address%s, %zu domain%s", p->maps,
		    p->addrs.n, p->addrs.n == 1 ? "" : "es", p->domains.n,
		    p->domains.n == 1 ? "" : "s");
	return 1;
}

/* Start argv[0] (no shell, no PATH search) with stdin and stdout on
 * /dev/null and stderr on a pipe. Returns the pipe's read end, or -1 with
 * err set; glibc reports a failed exec here too. */
static int pfm_spawn(char *const argv[], pid_t *pid_r, struct mr_err *err)
{
	posix_spawn_file_actions_t fa;
	int fds[2], r;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		mr_err_sys(err, MR_TEMP, errno, "pipe");
		return -1;
	}
	r = posix_spawn_file_actions_init(&fa);
	if (r == 0) {
		r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
						     O_RDONLY, 0);
		if (r == 0)
			r = posix_spawn_file_actions_addopen(
				&fa, 1, "/dev/null", O_WRONLY, 0);
		if (r == 0)
			r = posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
		if (r == 0)
			r = posix_spawn(pid_r, argv[0], &fa, NULL, argv,
					environ);
		(void)posix_spawn_file_actions_destroy(&fa); /* cannot fail */
	}
	(void)close(fds[1]); /* the child holds its own copy */
	if (r != 0) {
		(void)close(fds[0]); /* unused */
		mr_err_sys(err, MR_TEMP, r, "posix_spawn(%s)", argv[0]);
		return -1;
	}
	return fds[0];
}

/* Read fd to EOF, keeping at most PFM_STDERR_MAX bytes, so that a chatty
 * child never blocks on a full pipe. */
static void pfm_drain_fd(int fd, struct mr_buf *b)
{
	char chunk[1024];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		size_t room = PFM_STDERR_MAX - b->len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_append(b, chunk, (size_t)n < room ? (size_t)n : room);
	}
}

/* A child's captured stderr, each line indented, onto diag. */
static void pfm_add_output(const struct mr_buf *b, struct mr_msgs *diag)
{
	const char *p = b->data, *e;

	if (b->len == 0) {
		mr_msgs_add(diag, "  (nothing on stderr)");
		return;
	}
	for (; p && *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, '\n');
		mr_msgs_add(diag, "  %.*s", (int)(e - p), p);
	}
}

static void pfm_add_status(const char *prog, const char *arg, int status,
			   struct mr_msgs *diag)
{
	if (WIFEXITED(status))
		mr_msgs_add(diag, "%s %s failed: exit status %d", prog, arg,
			    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		mr_msgs_add(diag, "%s %s failed: killed by signal %d", prog,
			    arg, WTERMSIG(status));
	else
		mr_msgs_add(diag, "%s %s failed: wait status %d", prog, arg,
			    status);
}

/* Run postmap hash:maps; on failure diag gets its status and stderr, on
 * success its stderr if it wrote any (warnings). */
static int pfm_postmap(const char *maps, struct mr_msgs *diag)
{
	const char *env = getenv("MR_POSTMAP");
	char *prog = xstrdup(env && *env ? env : PFM_POSTMAP);
	char *arg = xasprintf("hash:%s", maps);
	char *argv[] = {prog, arg, NULL};
	struct mr_err err;
	struct mr_buf out;
	int fd, status, rc = -1;
	pid_t pid;

	buf_init(&out);
	mr_err_clear(&err);
	if ((fd = pfm_spawn(argv, &pid, &err)) < 0) {
		mr_msgs_add(diag, "%s", err.text);
		goto out;
	}
	pfm_drain_fd(fd, &out);
	(void)close(fd); /* read end, at EOF */
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			mr_msgs_add(diag, "waitpid(%s) failed: %s", prog,
				    log_strerror(errno));
			goto out;
		}
	}
	rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
	if (rc < 0)
		pfm_add_status(prog, arg, status, diag);
	if (rc < 0 || out.len > 0) /* warnings of a success too */
		pfm_add_output(&out, diag);
out:
	buf_free(&out);
	free(arg);
	free(prog);
	return rc;
}

static int pfm_put(const char *path, const struct mr_buf *text,
		   struct mr_msgs *diag)
{
	struct mr_err err;

	mr_err_clear(&err);
	if (mr_write_file_atomic(path, text->data, text->len, 0644, &err) == 0)
		return 0;
	mr_msgs_add(diag, "%s", err.text);
	return -1;
}

int pfm_write(const struct pfm *p, struct mr_msgs *done, struct mr_msgs *diag)
{
	mode_t old = umask(022); /* Postfix's daemons read the files */
	int rc = -1;

	if (pfm_put(p->maps, &p->maps_text, diag) < 0)
		goto out;
	mr_msgs_add(done, "%s: %zu address%s -> %s", p->maps, p->addrs.n,
		    p->addrs.n == 1 ? "" : "es", p->value);
	if (p->postmap) {
		if (pfm_postmap(p->maps, diag) < 0) {
			mr_msgs_add(diag, "%s left unchanged", p->domfile);
			goto out;
		}
		mr_msgs_add(done, "%s.db: rebuilt by postmap", p->maps);
	}
	if (pfm_put(p->domfile, &p->dom_text, diag) < 0)
		goto out;
	mr_msgs_add(done, "%s: %zu domain%s", p->domfile, p->domains.n,
		    p->domains.n == 1 ? "" : "s");
	rc = 0;
out:
	(void)umask(old);
	return rc;
}
