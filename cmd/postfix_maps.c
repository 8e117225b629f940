/* postfix_maps.c - mailresponder postfix-maps: Postfix tables for the spool
 * SYNOPSIS     mailresponder postfix-maps [-c settings] [-d DIR] [--base DIR]
 *                                         [--postmap]
 * DESCRIPTION  Writes DIR/virtual_mailbox_maps, one "<address> <value>"
 *              line per configured address and for the complaints
 *              address, and DIR/virtual_mailbox_domains, one line per
 *              domain of those addresses; both sorted, unique and
 *              lower-case. DIR defaults to the folder of the settings file.
 *              A plus-address (get+fa@example.org) is listed as such:
 *              virtual(8) looks the full address up first.
 *
 *              The value is the spool with a trailing '/' (a Maildir).
 *              virtual(8) reads it relative to virtual_mailbox_base, so
 *              with --base DIR it is the spool relative to DIR (which must
 *              contain it), and without --base it is the absolute spool,
 *              for use with virtual_mailbox_base = /. Paths are compared
 *              lexically, as virtual(8) joins them: links are not resolved.
 *
 *              Each file is replaced atomically (tmp, fsync, rename) with
 *              mode 0644 whatever the umask: Postfix's unprivileged
 *              daemons read them. With --postmap, $MR_POSTMAP (default
 *              /usr/sbin/postmap) hash:DIR/virtual_mailbox_maps runs, via
 *              posix_spawn with an argv, stderr captured, before the domain
 *              list is replaced, so that a new domain is accepted only once
 *              its addresses are in the table. postmap reads main.cf from
 *              $MAIL_CONFIG, else /etc/postfix.
 * DIAGNOSTICS  Exit 0 done; 1 usage or configuration error (including an
 *              address or spool path no Postfix table can hold, and a spool
 *              outside --base); 2 runtime error (a write failed, or postmap
 *              could not run or failed: its status and stderr are printed).
 * SEE ALSO     design.md s.8, README.md "Running with Postfix", postmap(1),
 *              virtual(8), config/postfix/main.cf.sample
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "cmd.h"
#include "log.h"
#include "aws.h"
#include "rcfg.h"
#include "s3.h"
#include "snap.h"
#include "settings.h"

#define PM_CMD "postfix-maps"
#define PM_POSTMAP "/usr/sbin/postmap"
#define PM_DOMAINS "virtual_mailbox_domains"
#define PM_MAPS "virtual_mailbox_maps"
#define PM_STDERR_MAX 8192 /* postmap stderr kept for the report */

extern char **environ;

struct pm_opts {
	const char *settings;
	const char *dir;  /* NULL: the settings file's folder */
	const char *base; /* NULL: absolute values */
	int postmap;
};

struct pm_strv {
	char **v;
	size_t n;
};

/* Everything one run needs; pm_free() releases it. */
struct pm {
	struct set *set;
	struct rcfg *rcfg;
	struct pm_strv addrs;   /* sorted, unique, lower-case */
	struct pm_strv domains; /* sorted, unique, lower-case */
	char *value;            /* map value: "<spool>/" */
	char *maps;             /* DIR/virtual_mailbox_maps */
	char *domfile;          /* DIR/virtual_mailbox_domains */
};

static int pm_parse_opts(int argc, char **argv, struct pm_opts *o)
{
	static const struct option lopts[] = {
		{"base", required_argument, NULL, 'b'},
		{"postmap", no_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:d:", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->settings = optarg;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'b':
			o->base = optarg;
			break;
		case 'p':
			o->postmap = 1;
			break;
		default:
			return cmd_usage(PM_CMD, "bad option");
		}
	}
	if (optind != argc)
		return cmd_usage(PM_CMD, "no arguments expected");
	if ((o->dir && *o->dir == 0) || (o->base && *o->base == 0))
		return cmd_usage(PM_CMD, "empty DIR");
	return 0;
}

static void pm_strv_free(struct pm_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

static void pm_free(struct pm *pm)
{
	pm_strv_free(&pm->addrs);
	pm_strv_free(&pm->domains);
	free(pm->value);
	free(pm->maps);
	free(pm->domfile);
	rcfg_free(&pm->rcfg);
	set_free(&pm->set);
}

/* Settings and responder config only: no keys, attachments or store are
 * needed to list addresses. Every problem goes to stderr. */
static int pm_load(const char *settings, struct pm *pm)
{
	struct mr_msgs problems = {NULL, 0};
	int lvl;

	pm->set = set_load(settings, &problems);
	if (pm->set && strncmp(pm->set->responder_config, "s3://", 5) == 0) {
		struct aws *aws = aws_new(pm->set);
		struct s3 *s3 = s3_new(pm->set, aws, S3_READONLY);

		pm->rcfg = snap_rcfg_load(pm->set, s3, &problems);
		s3_free(&s3);
		aws_free(&aws);
	} else if (pm->set) {
		pm->rcfg = rcfg_load_file(pm->set->responder_config, &problems);
	}
	for (size_t i = 0; i < problems.n; i++)
		fprintf(stderr, "%s: %s\n", settings, problems.v[i]);
	mr_msgs_free(&problems);
	if (pm->rcfg == NULL)
		return -1;
	lvl = log_level_parse(pm->set->log_level);
	if (lvl >= 0)
		log_set_level((enum log_level)lvl);
	return 0;
}

/* The absolute form of path with ".", ".." and repeated '/' removed
 * lexically, the way virtual(8) joins virtual_mailbox_base and a value.
 * NULL with errno set when the working directory is unknown. */
static char *pm_abspath(const char *path)
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
static const char *pm_below(const char *path, const char *dir)
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
static int pm_table_safe(const char *s)
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
static char *pm_value(const char *spool, const char *base, struct mr_err *err)
{
	char *s = pm_abspath(spool), *b = NULL, *v = NULL;
	const char *rel;

	if (s == NULL || (base && (b = pm_abspath(base)) == NULL)) {
		mr_err_sys(err, MR_TEMP, errno, "getcwd");
		goto out;
	}
	if (b == NULL) {
		v = strcmp(s, "/") == 0 ? xstrdup(s) : xasprintf("%s/", s);
	} else if ((rel = pm_below(s, b)) == NULL) {
		mr_err_set(err, MR_PERM, "spool %s is not under --base %s", s,
			   b);
		goto out;
	} else {
		v = xasprintf("%s/", rel);
	}
	if (!pm_table_safe(v)) {
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

static int pm_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates, in place. */
static void pm_strv_uniq(struct pm_strv *sv)
{
	size_t k = 0;

	if (sv->n == 0)
		return;
	qsort(sv->v, sv->n, sizeof(sv->v[0]), pm_cmp);
	for (size_t i = 1; i < sv->n; i++) {
		if (strcmp(sv->v[i], sv->v[k]) == 0)
			free(sv->v[i]);
		else
			sv->v[++k] = sv->v[i];
	}
	sv->n = k + 1;
}

/* Every configured address and the complaints address, and their
 * domains. -1 (after saying why) when one cannot be a table key. */
static int pm_collect(struct pm *pm)
{
	const char *const *addrs;
	size_t n = rcfg_addresses(pm->rcfg, &addrs);
	int bad = 0;

	pm->addrs.v = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		pm->addrs.v[pm->addrs.n++] = mr_lower_dup(addrs[i]);
	if (pm->set->complaints_address)
		pm->addrs.v[pm->addrs.n++] =
			mr_lower_dup(pm->set->complaints_address);
	pm_strv_uniq(&pm->addrs);
	pm->domains.v = xcalloc(pm->addrs.n + 1, sizeof(char *));
	for (size_t i = 0; i < pm->addrs.n; i++) {
		if (!pm_table_safe(pm->addrs.v[i])) {
			fprintf(stderr,
				"%s: address %s cannot be written to a "
				"Postfix table (whitespace, control "
				"characters, quotes or a leading '#')\n",
				pm->set->path, pm->addrs.v[i]);
			bad = 1;
		}
		pm->domains.v[pm->domains.n++] =
			xstrdup(addr_domain(pm->addrs.v[i]));
	}
	pm_strv_uniq(&pm->domains);
	return bad ? -1 : 0;
}

/* Everything that can be decided before a file is touched; an exit code. */
static int pm_prepare(struct pm *pm, const struct pm_opts *o)
{
	const char *dir = o->dir ? o->dir : pm->set->dir;
	struct mr_err err;

	mr_err_clear(&err);
	if (pm_collect(pm) < 0)
		return EXIT_USAGE;
	pm->value = pm_value(pm->set->spool, o->base, &err);
	if (pm->value == NULL) {
		fprintf(stderr, "mailresponder %s: %s\n", PM_CMD, err.text);
		return err.kind == MR_PERM ? EXIT_USAGE : EXIT_RUNTIME;
	}
	pm->maps = mr_path_join(dir, PM_MAPS);
	pm->domfile = mr_path_join(dir, PM_DOMAINS);
	return 0;
}

/* Write lines "<v[i]><sep><value>\n" (or "<v[i]>\n") to path atomically. */
static int pm_write(const char *path, const struct pm_strv *sv,
		    const char *value)
{
	struct mr_buf b;
	struct mr_err err;
	int rc;

	buf_init(&b);
	buf_puts(&b, ""); /* an empty table is an empty file */
	for (size_t i = 0; i < sv->n; i++) {
		if (value)
			buf_printf(&b, "%s %s\n", sv->v[i], value);
		else
			buf_printf(&b, "%s\n", sv->v[i]);
	}
	mr_err_clear(&err);
	rc = mr_write_file_atomic(path, b.data, b.len, 0644, &err);
	if (rc < 0)
		log_err("%s: %s", PM_CMD, err.text);
	buf_free(&b);
	return rc;
}

/* Start argv[0] (no shell, no PATH search) with stdin and stdout on
 * /dev/null and stderr on a pipe. Returns the pipe's read end, or -1 with
 * err set; glibc reports a failed exec here too. */
static int pm_spawn(char *const argv[], pid_t *pid_r, struct mr_err *err)
{
	posix_spawn_file_actions_t fa;
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) < 0) {
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
			r = posix_spawn_file_actions_adddup2(&fa, p[1], 2);
		if (r == 0)
			r = posix_spawn(pid_r, argv[0], &fa, NULL, argv,
					environ);
		(void)posix_spawn_file_actions_destroy(&fa); /* cannot fail */
	}
	(void)close(p[1]); /* the child holds its own copy */
	if (r != 0) {
		(void)close(p[0]); /* unused */
		mr_err_sys(err, MR_TEMP, r, "posix_spawn(%s)", argv[0]);
		return -1;
	}
	return p[0];
}

/* Read fd to EOF, keeping at most PM_STDERR_MAX bytes, so that a chatty
 * child never blocks on a full pipe. */
static void pm_drain_fd(int fd, struct mr_buf *b)
{
	char chunk[1024];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		size_t room = PM_STDERR_MAX - b->len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_append(b, chunk, (size_t)n < room ? (size_t)n : room);
	}
}

/* Print a child's captured stderr, each line indented, to our stderr. */
static void pm_print_output(const struct mr_buf *b)
{
	const char *p = b->data, *e;

	if (b->len == 0) {
		fprintf(stderr, "  (nothing on stderr)\n");
		return;
	}
	for (; p && *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, '\n');
		fprintf(stderr, "  %.*s\n", (int)(e - p), p);
	}
}

static void pm_print_status(const char *prog, const char *arg, int status)
{
	fprintf(stderr, "mailresponder %s: %s %s failed: ", PM_CMD, prog, arg);
	if (WIFEXITED(status))
		fprintf(stderr, "exit status %d\n", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "killed by signal %d\n", WTERMSIG(status));
	else
		fprintf(stderr, "wait status %d\n", status);
}

/* Run postmap hash:maps; on failure report its status and stderr. */
static int pm_postmap(const char *maps)
{
	const char *env = getenv("MR_POSTMAP");
	char *prog = xstrdup(env && *env ? env : PM_POSTMAP);
	char *arg = xasprintf("hash:%s", maps);
	char *argv[] = {prog, arg, NULL};
	struct mr_err err;
	struct mr_buf out;
	int fd, status, rc = -1;
	pid_t pid;

	buf_init(&out);
	mr_err_clear(&err);
	if ((fd = pm_spawn(argv, &pid, &err)) < 0) {
		log_err("%s: %s", PM_CMD, err.text);
		goto out;
	}
	pm_drain_fd(fd, &out);
	(void)close(fd); /* read end, at EOF */
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_err("%s: waitpid(%s) failed: %s", PM_CMD, prog,
				log_strerror(errno));
			goto out;
		}
	}
	rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
	if (rc < 0)
		pm_print_status(prog, arg, status);
	if (rc < 0 || out.len > 0) /* warnings of a success too */
		pm_print_output(&out);
out:
	buf_free(&out);
	free(arg);
	free(prog);
	return rc;
}

/* Maps first, then postmap, then the domain list: a new domain is
 * accepted only once its addresses can be looked up. */
static int pm_write_all(const struct pm *pm, const struct pm_opts *o)
{
	(void)umask(022); /* Postfix's unprivileged daemons read the files */
	if (pm_write(pm->maps, &pm->addrs, pm->value) < 0)
		return EXIT_RUNTIME;
	printf("%s: %zu address%s -> %s\n", pm->maps, pm->addrs.n,
	       pm->addrs.n == 1 ? "" : "es", pm->value);
	if (o->postmap) {
		if (pm_postmap(pm->maps) < 0) {
			fprintf(stderr, "mailresponder %s: %s left unchanged\n",
				PM_CMD, pm->domfile);
			return EXIT_RUNTIME;
		}
		printf("%s.db: rebuilt by postmap\n", pm->maps);
	}
	if (pm_write(pm->domfile, &pm->domains, NULL) < 0)
		return EXIT_RUNTIME;
	printf("%s: %zu domain%s\n", pm->domfile, pm->domains.n,
	       pm->domains.n == 1 ? "" : "s");
	return 0;
}

int cmd_postfix_maps(int argc, char **argv)
{
	struct pm_opts o = {NULL, NULL, NULL, 0};
	struct pm pm = {0};
	int rc;

	if ((rc = pm_parse_opts(argc, argv, &o)) != 0)
		return rc;
	if (pm_load(cmd_settings(o.settings), &pm) < 0)
		rc = EXIT_USAGE;
	else if ((rc = pm_prepare(&pm, &o)) == 0)
		rc = pm_write_all(&pm, &o);
	pm_free(&pm);
	return rc;
}
