/* test_util.c - unit tests of util.c (contract: mr.h)
 * DESCRIPTION  The atomic file write, in a mkdtemp(3) folder: replace
 *              and never-replace, parts written one after the other, the
 *              exact mode whatever the umask, the owner, the kind and
 *              prefix of errors, and no temp file left behind when a
 *              write fails. Each case reads back what is on disk.
 */
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mr.h"

static char t_dir[] = "/tmp/mr-test-util-XXXXXX";

static char *t_path(const char *name)
{
	return mr_path_join(t_dir, name);
}

/* The whole file at path (caller frees), or NULL. */
static char *slurp(const char *path, size_t *len_r)
{
	struct mr_err err;
	char *data = NULL;
	size_t len = 0;

	mr_err_clear(&err);
	if (mr_read_file(path, (size_t)16 << 20, &data, &len, &err) < 0)
		return NULL;
	if (len_r != NULL)
		*len_r = len;
	return data;
}

static int t_mode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* How many entries the folder holds (no "." or ".."), -1 on error. */
static int t_entries(const char *dir)
{
	DIR *d = opendir(dir);
	const struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* A fresh folder below t_dir for one case (caller frees). */
static char *t_case_dir(const char *name)
{
	char *dir = t_path(name);

	T_INT(mkdir(dir, 0700), 0);
	return dir;
}

/* Options with our owner (uid and gid -1). */
static struct mr_write_opts opts(mode_t mode, int flags, enum mr_fail kind,
				 const char *what)
{
	struct mr_write_opts o = {mode,  (uid_t)-1, (gid_t)-1,
				  flags, kind,      what};

	return o;
}

T_CASE(write_file_atomic_replaces)
{
	char *dir = t_case_dir("replace"), *path = mr_path_join(dir, "f");
	struct mr_err err;
	char *got;

	mr_err_clear(&err);
	T_INT(mr_write_file_atomic(path, "one\n", 4, 0600, &err), 0);
	T_INT(mr_write_file_atomic(path, "second\n", 7, 0644, &err), 0);
	T_INT(err.kind, MR_OK);
	got = slurp(path, NULL);
	T_STR(got, "second\n");
	T_INT(t_mode(path), 0644);
	T_INT(t_entries(dir), 1); /* no path.tmp.PID */
	free(got);
	free(path);
	free(dir);
}

T_CASE(write_new_never_replaces)
{
	char *dir = t_case_dir("new"), *path = mr_path_join(dir, "key");
	const struct mr_part old = {"old key\n", 8}, new = {"new key\n", 8};
	const struct mr_write_opts o =
		opts(0600, MR_WRITE_NEW, MR_PERM, "key: ");
	char *got, *link_pfx = xasprintf("key: link(%s.tmp.", path);
	struct mr_err err;

	mr_err_clear(&err);
	T_INT(mr_write_parts_atomic(path, &old, 1, &o, &err), 0);
	T_INT(err.kind, MR_OK);
	T_INT(mr_write_parts_atomic(path, &new, 1, &o, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(strncmp(err.text, link_pfx, strlen(link_pfx)) == 0);
	T_OK(strstr(err.text, log_strerror(EEXIST)) != NULL);
	got = slurp(path, NULL);
	T_STR(got, "old key\n");
	T_INT(t_entries(dir), 1); /* the temp file went with the failure */
	free(got);
	free(link_pfx);
	free(path);
	free(dir);
}

T_CASE(write_new_keeps_a_stale_temp_file)
{
	char *dir = t_case_dir("stale"), *path = mr_path_join(dir, "key");
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	const struct mr_part part = {"k", 1};
	const struct mr_write_opts o = opts(0600, MR_WRITE_NEW, MR_PERM, NULL);
	struct mr_err err;
	char *got;

	mr_err_clear(&err);
	T_INT(mr_write_file_atomic(tmp, "crash", 5, 0600, &err), 0);
	T_INT(mr_write_parts_atomic(path, &part, 1, &o, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(strncmp(err.text, "open(", 5) == 0);
	T_OK(access(path, F_OK) < 0 && errno == ENOENT);
	got = slurp(tmp, NULL); /* not ours: left as it was */
	T_STR(got, "crash");
	free(got);
	free(tmp);
	free(path);
	free(dir);
}

T_CASE(write_parts_in_order)
{
	char *dir = t_case_dir("parts"), *path = mr_path_join(dir, "cache");
	size_t big_len = (size_t)3 << 20, len = 0;
	char *big = xmalloc(big_len), *got;
	struct mr_part parts[4] = {
		{"head\n", 5}, {NULL, 0}, {big, big_len}, {"\ntail", 5}};
	const struct mr_write_opts o =
		opts(0640, MR_WRITE_SOFT_DIRSYNC, MR_TEMP, NULL);
	struct mr_err err;

	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	mr_err_clear(&err);
	T_INT(mr_write_parts_atomic(path, parts, 4, &o, &err), 0);
	got = slurp(path, &len);
	T_INT(len, 5 + big_len + 5);
	T_OK(got != NULL && memcmp(got, "head\n", 5) == 0 &&
	     memcmp(got + 5, big, big_len) == 0 &&
	     memcmp(got + 5 + big_len, "\ntail", 5) == 0);
	T_INT(t_mode(path), 0640);
	free(got);
	parts[2].len = 0; /* replaced by a shorter file */
	T_INT(mr_write_parts_atomic(path, parts, 4, &o, &err), 0);
	got = slurp(path, NULL);
	T_STR(got, "head\n\ntail");
	T_INT(t_entries(dir), 1);
	free(got);
	free(big);
	free(path);
	free(dir);
}

T_CASE(write_mode_is_exact)
{
	char *dir = t_case_dir("mode"), *a = mr_path_join(dir, "a"),
	     *b = mr_path_join(dir, "b");
	const struct mr_part part = {"x", 1};
	const struct mr_write_opts o = opts(0640, MR_WRITE_NEW, MR_PERM, NULL);
	mode_t old = umask(0277); /* open(2) alone would give 0400 */
	struct mr_err err;

	mr_err_clear(&err);
	T_INT(mr_write_file_atomic(a, "x", 1, 0644, &err), 0);
	T_INT(mr_write_parts_atomic(b, &part, 1, &o, &err), 0);
	umask(old);
	T_INT(t_mode(a), 0644);
	T_INT(t_mode(b), 0640);
	T_INT(mr_write_file_atomic(a, "y", 1, 0600, &err), 0);
	T_INT(t_mode(a), 0600); /* the new mode, not the old file's */
	free(a);
	free(b);
	free(dir);
}

T_CASE(write_sets_the_owner)
{
	char *dir = t_case_dir("owner"), *path = mr_path_join(dir, "k");
	const struct mr_part part = {"k", 1};
	/* root gives the file away; others can only name their own ids */
	uid_t uid = geteuid() == 0 ? 1 : geteuid();
	gid_t gid = geteuid() == 0 ? 2 : getegid();
	struct mr_write_opts o = opts(0640, MR_WRITE_NEW, MR_PERM, NULL);
	struct mr_err err;
	struct stat st;

	o.uid = uid;
	o.gid = gid;
	mr_err_clear(&err);
	T_INT(mr_write_parts_atomic(path, &part, 1, &o, &err), 0);
	T_INT(stat(path, &st), 0);
	T_INT(st.st_uid, uid);
	T_INT(st.st_gid, gid);
	T_INT(st.st_mode & 07777, 0640);
	free(path);
	free(dir);
}

T_CASE(write_failure_leaves_no_temp_file)
{
	char *dir = t_case_dir("fail"), *sub = mr_path_join(dir, "sub");
	char *inner = mr_path_join(sub, "x"), *missing = t_path("no/such/f");
	const struct mr_part parts[] = {{"a", 1}, {"b", 1}};
	const struct mr_write_opts o = opts(0640, 0, MR_TEMP, "s3 cache: ");
	struct mr_err err;

	T_INT(mkdir(sub, 0700), 0);
	T_INT(mkdir(inner, 0700), 0);
	mr_err_clear(&err);
	/* rename(2) of a file onto a folder fails after the temp file is
	 * written */
	T_INT(mr_write_parts_atomic(sub, parts, 2, &o, &err), -1);
	T_INT(err.kind, MR_TEMP);
	T_OK(strncmp(err.text, "s3 cache: rename(", 17) == 0);
	T_INT(t_entries(dir), 1); /* sub only */
	T_INT(t_entries(sub), 1); /* untouched */
	T_INT(t_entries(inner), 0);
	mr_err_clear(&err);
	T_INT(mr_write_file_atomic(missing, "a", 1, 0600, &err), -1);
	T_INT(err.kind, MR_TEMP);
	T_OK(strncmp(err.text, "open(", 5) == 0);
	T_OK(strstr(err.text, log_strerror(ENOENT)) != NULL);
	free(missing);
	free(inner);
	free(sub);
	free(dir);
}

int main(void)
{
	if (mkdtemp(t_dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	T_RUN(write_file_atomic_replaces);
	T_RUN(write_new_never_replaces);
	T_RUN(write_new_keeps_a_stale_temp_file);
	T_RUN(write_parts_in_order);
	T_RUN(write_mode_is_exact);
	T_RUN(write_sets_the_owner);
	T_RUN(write_failure_leaves_no_temp_file);
	(void)t_rm_tree(t_dir);
	return t_done();
}
