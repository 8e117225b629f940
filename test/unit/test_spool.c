/* test_spool.c - unit tests of the spool module (maildir/, md.h)
 * DESCRIPTION  Every case works in its own spool under one mkdtemp(3)
 *              directory in /tmp, removed at the end, and checks what is
 *              on disk afterwards: paths, flags, contents, entry types.
 *              Races use fork(2) (two processes, like a drain started
 *              while the daemon runs) and threads (one handle, several
 *              workers). The last case measures claim + finish(REPLIED)
 *              per message and prints it as a "#" comment line.
 *              Usage: test_spool [N]   (N messages for the measurement,
 *              default 10000).
 * SEE ALSO     md.h, t.h, design.md s.3
 */
#include "md.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mr.h"
#include "t.h"

static char t_root[] = "/tmp/mr-spool-test-XXXXXX";
static long bench_n = 10000;

/* ---- helpers ---- */

static char *pj(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static int put(const char *dir, const char *name, const char *text)
{
	char *p = pj(dir, name);
	FILE *f = fopen(p, "w");
	int ok = f != NULL && fputs(text, f) >= 0;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	free(p);
	return ok ? 0 : -1;
}

/* Contents of dir/name (at most 255 bytes) into a static-free buffer. */
static const char *get(const char *dir, const char *name, char *buf, size_t n)
{
	char *p = pj(dir, name);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	ssize_t r = fd < 0 ? -1 : read(fd, buf, n - 1);

	if (fd >= 0 && close(fd) < 0)
		r = -1;
	free(p);
	if (r < 0)
		return "(unreadable)";
	buf[r] = 0;
	return buf;
}

/* lstat type of dir/name: 'f' file, 'l' symlink, 'p' fifo, 'd' dir,
 * '-' missing, '?' other. */
static char kind(const char *dir, const char *name)
{
	char *p = pj(dir, name);
	struct stat st;
	int r = lstat(p, &st);

	free(p);
	if (r < 0)
		return '-';
	if (S_ISREG(st.st_mode))
		return 'f';
	if (S_ISLNK(st.st_mode))
		return 'l';
	if (S_ISFIFO(st.st_mode))
		return 'p';
	return S_ISDIR(st.st_mode) ? 'd' : '?';
}

static long count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	if (closedir(d) < 0)
		return -1;
	return n;
}

static int set_mtime(const char *dir, const char *name, time_t t)
{
	struct timespec ts[2] = {{t, 0}, {t, 0}};
	char *p = pj(dir, name);
	int r = utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);

	free(p);
	return r;
}

static void rm_rf(const char *p)
{
	if (t_rm_tree(p) < 0)
		fprintf(stderr, "# rm -rf %s failed\n", p);
}

/* A fresh spool <root>/<tag>; *base_r is its path (caller frees). */
static struct md_spool *spool_new(const char *tag, char **base_r)
{
	struct mr_err err;
	struct md_spool *sp;

	*base_r = pj(t_root, tag);
	sp = md_spool_open(*base_r, NULL, &err);
	if (sp == NULL)
		fprintf(stderr, "# md_spool_open(%s): %s\n", *base_r, err.text);
	return sp;
}

struct dirs {
	char *base, *new_, *cur, *fnew, *fcur;
};

static void dirs_set(struct dirs *d, char *base)
{
	d->base = base;
	d->new_ = pj(base, "new");
	d->cur = pj(base, "cur");
	d->fnew = pj(base, ".Failed/new");
	d->fcur = pj(base, ".Failed/cur");
}

static void dirs_free(struct dirs *d)
{
	free(d->base);
	free(d->new_);
	free(d->cur);
	free(d->fnew);
	free(d->fcur);
}

/* spool_new() and dirs_set() for a spool named tag. */
static struct md_spool *spool_dirs(const char *tag, struct dirs *d)
{
	struct md_spool *sp = spool_new(tag, &d->base);

	dirs_set(d, d->base);
	return sp;
}

static void spool_done(struct md_spool **sp, struct dirs *d)
{
	md_spool_close(sp);
	dirs_free(d);
}

/* ---- open ---- */

static int is_dir_0700(const char *base, const char *sub)
{
	char *p = pj(base, sub);
	struct stat st;
	int ok = lstat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
		 (st.st_mode & 07777) == 0700;

	free(p);
	return ok;
}

T_CASE(open_creates_every_dir)
{
	static const char *const subs[] = {
		".",       "tmp",         "new",         "cur",
		".Failed", ".Failed/tmp", ".Failed/new", ".Failed/cur"};
	struct mr_err err;
	struct md_spool *sp;
	struct dirs d;
	char buf[64];

	dirs_set(&d, pj(t_root, "open"));
	sp = md_spool_open(d.base, ".Failed", &err);
	T_OK(sp != NULL);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		T_OK(is_dir_0700(d.base, subs[i]));
	T_OK(kind(d.base, ".Failed/maildirfolder") == 'f');
	T_STR(get(d.base, ".Failed/maildirfolder", buf, sizeof(buf)), "");
	T_STR(md_spool_path(sp), d.base);
	T_STR(md_new_path(sp), d.new_);
	T_OK(put(d.new_, "keep", "x") == 0);
	md_spool_close(&sp);
	T_OK(sp == NULL);
	md_spool_close(&sp); /* NULL is fine */
	sp = md_spool_open(d.base, ".Failed", &err);
	T_OK(sp != NULL);
	T_STR(get(d.new_, "keep", buf, sizeof(buf)), "x");
	T_INT(count(d.base), 4); /* tmp new cur .Failed */
	spool_done(&sp, &d);
}

T_CASE(open_refuses_bad_folder_and_inner_symlink)
{
	static const char *const bad[] = {"Failed", ".a/b", ".", "..", ""};
	struct mr_err err;
	struct md_spool *sp;
	char *base = pj(t_root, "badopen"), *link = pj(t_root, "linked");
	char *real = pj(t_root, "real"), *newp = pj(real, "new");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_OK(md_spool_open(base, bad[i], &err) == NULL);
		T_INT(err.kind, MR_PERM);
	}
	/* the spool path itself may be a symlink */
	T_OK(mkdir(real, 0700) == 0 && symlink(real, link) == 0);
	sp = md_spool_open(link, NULL, &err);
	T_OK(sp != NULL);
	md_spool_close(&sp);
	T_OK(kind(real, "cur") == 'd');
	/* but nothing inside it is followed */
	T_OK(rmdir(newp) == 0 && symlink("/tmp", newp) == 0);
	T_OK(md_spool_open(real, NULL, &err) == NULL);
	T_OK(strstr(err.text, "new") != NULL);
	free(base);
	free(link);
	free(real);
	free(newp);
}

T_CASE(open_relative_and_trailing_slash)
{
	struct mr_err err;
	struct md_spool *sp;
	char *slashed = xasprintf("%s/slashed/", t_root);

	T_OK(chdir(t_root) == 0);
	sp = md_spool_open("rel", NULL, &err);
	T_OK(sp != NULL);
	md_spool_close(&sp);
	T_OK(kind("rel", ".Failed/cur") == 'd');
	T_OK(chdir("/") == 0);
	sp = md_spool_open(slashed, NULL, &err);
	T_OK(sp != NULL);
	md_spool_close(&sp);
	T_OK(kind(t_root, "slashed/new") == 'd');
	free(slashed);
}

/* ---- claim ---- */

T_CASE(claim_moves_to_cur)
{
	struct mr_err err;
	struct md_entry ent = {0};
	struct dirs d;
	struct md_spool *sp = spool_dirs("claim", &d);
	char buf[64];

	T_OK(put(d.new_, "1.M1P2.host", "hello") == 0);
	T_OK(set_mtime(d.new_, "1.M1P2.host", 1000000) == 0);
	T_INT(md_claim(sp, "1.M1P2.host", &ent, &err), 1);
	T_STR(ent.uniq, "1.M1P2.host");
	T_STR(ent.cur, "1.M1P2.host:2,");
	T_INT(ent.mtime, 1000000);
	T_INT(ent.size, 5);
	T_STR(get(d.cur, "1.M1P2.host:2,", buf, sizeof(buf)), "hello");
	T_INT(count(d.new_), 0);
	/* gone: someone else won */
	T_INT(md_claim(sp, "1.M1P2.host", &ent, &err), 0);
	T_INT(md_claim(sp, "never-there", &ent, &err), 0);
	/* info in new/ is dropped: uniq is the name up to ':' */
	T_OK(put(d.new_, "2.x:2,S", "two") == 0);
	T_INT(md_claim(sp, "2.x:2,S", &ent, &err), 1);
	T_STR(ent.uniq, "2.x");
	T_OK(kind(d.cur, "2.x:2,") == 'f');
	T_INT(md_claim(sp, ".hidden", &ent, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_INT(md_claim(sp, "a/b", &ent, &err), -1);
	T_INT(md_claim(sp, "", &ent, &err), -1);
	spool_done(&sp, &d);
}

T_CASE(claim_collision_gets_fresh_name)
{
	struct mr_err err;
	struct md_entry ent = {0};
	struct dirs d;
	struct md_spool *sp = spool_dirs("collide", &d);
	char buf[64];

	T_OK(put(d.new_, "c1", "new one") == 0);
	T_OK(put(d.cur, "c1:2,", "old one") == 0);
	T_INT(md_claim(sp, "c1", &ent, &err), 1);
	T_OK(strncmp(ent.uniq, "c1.", 3) == 0);
	T_INT(strlen(ent.uniq), 3 + 16);
	T_OK(strcmp(ent.cur, ent.uniq) > 0 &&
	     strcmp(ent.cur + strlen(ent.uniq), ":2,") == 0);
	T_STR(get(d.cur, ent.cur, buf, sizeof(buf)), "new one");
	T_STR(get(d.cur, "c1:2,", buf, sizeof(buf)), "old one");
	T_INT(count(d.new_), 0);
	T_INT(count(d.cur), 2);
	spool_done(&sp, &d);
}

/* Claim everything in new/ the way the daemon does: scan a bounded batch,
 * claim it, scan again until empty. wins[i] counts claims of m<i>. */
static long claim_all(struct md_spool *sp, size_t max, unsigned char *wins,
		      long n, FILE *log)
{
	char(*names)[MD_NAME_MAX] = xcalloc(max, MD_NAME_MAX);
	struct mr_err err;
	struct md_entry ent = {0};
	size_t got;
	long mine = 0, idx;

	while (md_scan(sp, MD_NEW, NULL, NULL, names, max, &got, &err) == 0 &&
	       got > 0) {
		for (size_t i = 0; i < got; i++) {
			if (md_claim(sp, names[i], &ent, &err) != 1)
				continue;
			mine++;
			if (log != NULL)
				fprintf(log, "%s\n", ent.uniq);
			if (wins != NULL &&
			    mr_parse_long(ent.uniq + 1, &idx) == 0 && idx < n)
				wins[idx]++;
		}
	}
	free(names);
	return mine;
}

static void make_msgs(const char *dir, long n)
{
	char name[32];

	for (long i = 0; i < n; i++) {
		(void)snprintf(name, sizeof(name), "m%ld", i); /* fits */
		if (put(dir, name, "Subject: x\n\nbody\n") < 0)
			fprintf(stderr, "# cannot create %s/%s\n", dir, name);
	}
}

static long read_wins(const char *path, unsigned char *wins, long n)
{
	char line[MD_NAME_MAX + 2];
	FILE *f = fopen(path, "r");
	long got = 0, idx;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = 0;
		if (mr_parse_long(line + 1, &idx) == 0 && idx < n) {
			wins[idx]++;
			got++;
		}
	}
	if (fclose(f) != 0)
		return -1;
	return got;
}

T_CASE(claim_fork_race_each_once)
{
	enum { N = 1000 };

	static unsigned char wins[N];
	struct dirs d;
	struct md_spool *sp = spool_dirs("forkrace", &d);
	char *logp = pj(t_root, "forkrace.child");
	int status = -1, go[2], once = 1;
	long mine, theirs;
	pid_t pid;
	char c = 'g';

	make_msgs(d.new_, N);
	T_OK(pipe(go) == 0);
	if ((pid = fork()) == 0) {
		struct md_spool *csp = md_spool_open(d.base, NULL, NULL);
		FILE *f = fopen(logp, "w");

		if (csp == NULL || f == NULL || read(go[0], &c, 1) != 1)
			_exit(2);
		claim_all(csp, 64, NULL, N, f);
		md_spool_close(&csp);
		_exit(fclose(f) == 0 ? 0 : 3);
	}
	T_OK(pid > 0 && write(go[1], &c, 1) == 1);
	mine = claim_all(sp, 64, wins, N, NULL);
	T_OK(waitpid(pid, &status, 0) == pid);
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	theirs = read_wins(logp, wins, N);
	T_INT(mine + theirs, N);
	for (long i = 0; i < N; i++)
		once &= wins[i] == 1;
	T_OK(once);
	fprintf(stdout, "# fork race: parent %ld, child %ld\n", mine, theirs);
	T_INT(count(d.new_), 0);
	T_INT(count(d.cur), N);
	T_OK(close(go[0]) == 0 && close(go[1]) == 0);
	md_spool_close(&sp);
	free(logp);
	dirs_free(&d);
}

struct race_arg {
	struct md_spool *sp;
	unsigned char *wins;
	long n, mine;
	pthread_mutex_t *mu;
};

static void *race_thread(void *p)
{
	struct race_arg *a = p;
	unsigned char *local = xcalloc((size_t)a->n, 1);

	a->mine = claim_all(a->sp, 32, local, a->n, NULL);
	pthread_mutex_lock(a->mu);
	for (long i = 0; i < a->n; i++)
		a->wins[i] += local[i];
	pthread_mutex_unlock(a->mu);
	free(local);
	return NULL;
}

T_CASE(claim_thread_race_each_once)
{
	enum { N = 2000, TH = 4 };

	static unsigned char wins[N];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct race_arg a[TH];
	pthread_t th[TH];
	struct dirs d;
	struct md_spool *sp = spool_dirs("threadrace", &d);
	long total = 0;
	int once = 1;

	make_msgs(d.new_, N);
	for (int i = 0; i < TH; i++) {
		a[i] = (struct race_arg){sp, wins, N, 0, &mu};
		T_OK(pthread_create(&th[i], NULL, race_thread, &a[i]) == 0);
	}
	for (int i = 0; i < TH; i++) {
		T_OK(pthread_join(th[i], NULL) == 0);
		total += a[i].mine;
	}
	T_INT(total, N);
	for (long i = 0; i < N; i++)
		once &= wins[i] == 1;
	T_OK(once);
	T_INT(count(d.cur), N);
	spool_done(&sp, &d);
}

/* ---- finish ---- */

static void claim_one(struct md_spool *sp, const char *dir, const char *name,
		      const char *text, struct md_entry *ent)
{
	struct mr_err err;

	T_OK(put(dir, name, text) == 0);
	T_INT(md_claim(sp, name, ent, &err), 1);
}

T_CASE(finish_each_state)
{
	struct mr_err err;
	struct md_entry e[4] = {0};
	struct dirs d;
	struct md_spool *sp = spool_dirs("finish", &d);
	char buf[64];

	claim_one(sp, d.new_, "a", "text a", &e[0]);
	claim_one(sp, d.new_, "b", "text b", &e[1]);
	claim_one(sp, d.new_, "c", "text c", &e[2]);
	claim_one(sp, d.new_, "d", "text d", &e[3]);
	T_INT(md_finish(sp, &e[0], MD_REPLIED, &err), 0);
	T_INT(md_finish(sp, &e[1], MD_IGNORED, &err), 0);
	T_INT(md_finish(sp, &e[2], MD_FAILED, &err), 0);
	T_INT(md_finish(sp, &e[3], MD_RETRY, &err), 0);
	T_STR(get(d.cur, "a:2,RS", buf, sizeof(buf)), "text a");
	T_STR(get(d.cur, "b:2,S", buf, sizeof(buf)), "text b");
	T_STR(get(d.fnew, "c", buf, sizeof(buf)), "text c");
	T_STR(get(d.new_, "d", buf, sizeof(buf)), "text d");
	T_INT(count(d.cur), 2);
	T_INT(count(d.new_), 1);
	T_INT(count(d.fnew), 1);
	/* finishing twice: the claimed name is gone */
	T_INT(md_finish(sp, &e[0], MD_REPLIED, &err), -1);
	T_INT(md_finish(sp, &e[0], (enum md_state)42, &err), -1);
	T_INT(err.kind, MR_PERM);
	spool_done(&sp, &d);
}

/* Entries of dir named "<prefix>.<16 hex><suffix>" holding text. */
static int fresh_with(const char *dir, const char *prefix, const char *suffix,
		      const char *text)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	DIR *dd = opendir(dir);
	struct dirent *de;
	char buf[64];
	int n = 0;

	if (dd == NULL)
		return -1;
	while ((de = readdir(dd)) != NULL) {
		const char *nm = de->d_name;

		if (strncmp(nm, prefix, pl) == 0 && nm[pl] == '.' &&
		    strlen(nm) == pl + 17 + sl &&
		    strcmp(nm + pl + 17, suffix) == 0 &&
		    strcmp(get(dir, nm, buf, sizeof(buf)), text) == 0)
			n++;
	}
	if (closedir(dd) < 0)
		return -1;
	return n;
}

T_CASE(finish_collision_does_not_overwrite)
{
	static const struct {
		enum md_state state;
		const char *sub, *taken, *suffix;
	} c[] = {{MD_REPLIED, "cur", "r:2,RS", ":2,RS"},
		 {MD_IGNORED, "cur", "r:2,S", ":2,S"},
		 {MD_FAILED, ".Failed/new", "r", ""},
		 {MD_RETRY, "new", "r", ""}};
	struct mr_err err;
	struct md_entry ent = {0};
	char buf[64];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *tag = xasprintf("fincollide%zu", i);
		struct dirs d;
		struct md_spool *sp = spool_dirs(tag, &d);
		char *dir = pj(d.base, c[i].sub);

		claim_one(sp, d.new_, "r", "mine", &ent);
		T_OK(put(dir, c[i].taken, "the other one") == 0);
		T_INT(md_finish(sp, &ent, c[i].state, &err), 0);
		T_STR(get(dir, c[i].taken, buf, sizeof(buf)), "the other one");
		T_INT(fresh_with(dir, "r", c[i].suffix, "mine"), 1);
		T_OK(kind(d.cur, "r:2,") == '-');
		T_INT(count(dir), 2);
		md_spool_close(&sp);
		free(dir);
		free(tag);
		dirs_free(&d);
	}
}

/* ---- open ---- */

T_CASE(open_reads_regular_file)
{
	struct mr_err err;
	struct md_entry ent = {0};
	struct dirs d;
	struct md_spool *sp = spool_dirs("openreg", &d);
	char buf[64];
	ssize_t n;
	int fd;

	claim_one(sp, d.new_, "m", "the message", &ent);
	fd = md_open(sp, &ent, &err);
	T_OK(fd >= 0);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	T_INT(n, 11);
	buf[n > 0 ? n : 0] = 0;
	T_STR(buf, "the message");
	T_OK(fd >= 0 && close(fd) == 0);
	spool_done(&sp, &d);
}

/* Claim new/name (already created), check md_open refuses it, fail it,
 * and check it landed in .Failed/new as the same kind of entry. */
static void refuse_and_fail(struct md_spool *sp, struct dirs *d,
			    const char *name, char k)
{
	struct mr_err err;
	struct md_entry ent = {0};

	T_INT(md_claim(sp, name, &ent, &err), 1);
	T_INT(md_open(sp, &ent, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "not a regular file") != NULL);
	T_INT(md_finish(sp, &ent, MD_FAILED, &err), 0);
	T_OK(kind(d->fnew, name) == k);
	T_OK(kind(d->cur, ent.cur) == '-');
}

T_CASE(open_refuses_symlink_fifo_dir)
{
	struct dirs d;
	struct md_spool *sp = spool_dirs("openbad", &d);
	char *outside = pj(t_root, "outside"), *lnk, *fifo, *dir;
	char buf[64];

	lnk = pj(d.new_, "sym");
	fifo = pj(d.new_, "fifo");
	dir = pj(d.new_, "dir");
	T_OK(put(t_root, "outside", "secret") == 0);
	T_OK(symlink(outside, lnk) == 0);
	refuse_and_fail(sp, &d, "sym", 'l');
	T_STR(get(t_root, "outside", buf, sizeof(buf)), "secret");
	T_OK(mkfifo(fifo, 0600) == 0);
	alarm(10); /* a blocking open would hang here */
	refuse_and_fail(sp, &d, "fifo", 'p');
	alarm(0);
	T_OK(mkdir(dir, 0700) == 0);
	refuse_and_fail(sp, &d, "dir", 'd');
	md_spool_close(&sp);
	free(outside);
	free(lnk);
	free(fifo);
	free(dir);
	dirs_free(&d);
}

/* ---- scan ---- */

static int skip_b(const char *name, void *arg)
{
	(*(int *)arg)++;
	return strcmp(name, "b") == 0;
}

static int has(char (*names)[MD_NAME_MAX], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

T_CASE(scan_skips_and_bounds)
{
	char names[8][MD_NAME_MAX];
	struct mr_err err;
	struct dirs d;
	struct md_spool *sp = spool_dirs("scan", &d);
	size_t n = 99;
	int calls = 0;

	T_OK(put(d.new_, "a", "") == 0 && put(d.new_, "b", "") == 0 &&
	     put(d.new_, "c", "") == 0 && put(d.new_, ".hidden", "") == 0);
	T_INT(md_scan(sp, MD_NEW, NULL, NULL, names, 8, &n, &err), 0);
	T_INT(n, 3);
	T_OK(has(names, n, "a") && has(names, n, "b") && has(names, n, "c"));
	T_INT(md_scan(sp, MD_NEW, skip_b, &calls, names, 8, &n, &err), 0);
	T_INT(n, 2);
	T_INT(calls, 3); /* dot-files never reach skip() */
	T_OK(has(names, n, "a") && !has(names, n, "b") && has(names, n, "c"));
	T_INT(md_scan(sp, MD_NEW, NULL, NULL, names, 1, &n, &err), 0);
	T_INT(n, 1);
	T_INT(md_scan(sp, MD_NEW, NULL, NULL, names, 0, &n, &err), 0);
	T_INT(n, 0);
	T_INT(md_scan(sp, (enum md_where)9, NULL, NULL, names, 8, &n, &err),
	      -1);
	spool_done(&sp, &d);
}

T_CASE(scan_claimed_only_plain_info)
{
	static const char *const in_cur[] = {"a:2,",  "b:2,S",  "c:2,RS",
					     "d",     "e:2,x",  "f:3,",
					     ".g:2,", "h:2,:2,"};
	char names[8][MD_NAME_MAX];
	struct mr_err err;
	struct dirs d;
	struct md_spool *sp = spool_dirs("scancur", &d);
	size_t n = 0;

	for (size_t i = 0; i < sizeof(in_cur) / sizeof(in_cur[0]); i++)
		T_OK(put(d.cur, in_cur[i], "") == 0);
	T_INT(md_scan(sp, MD_CLAIMED, NULL, NULL, names, 8, &n, &err), 0);
	T_INT(n, 1);
	T_STR(n > 0 ? names[0] : "", "a:2,");
	spool_done(&sp, &d);
}

T_CASE(scan_failed_dir)
{
	char names[8][MD_NAME_MAX];
	struct mr_err err;
	struct dirs d;
	struct md_spool *sp = spool_dirs("scanfail", &d);
	size_t n = 0;

	T_OK(put(d.fnew, "x", "") == 0 && put(d.fcur, "y:2,S", "") == 0);
	T_OK(put(d.fcur, ".z", "") == 0);
	T_INT(md_scan(sp, MD_FAILED_DIR, NULL, NULL, names, 8, &n, &err), 0);
	T_INT(n, 2);
	T_OK(has(names, n, "x") && has(names, n, "y:2,S"));
	T_INT(md_scan(sp, MD_FAILED_DIR, NULL, NULL, names, 1, &n, &err), 0);
	T_INT(n, 1);
	spool_done(&sp, &d);
}

T_CASE(scan_10000_in_batches_of_256)
{
	enum { N = 10000 };

	static unsigned char wins[N];
	struct dirs d;
	struct md_spool *sp = spool_dirs("scan10k", &d);
	int once = 1;

	make_msgs(d.new_, N);
	T_INT(claim_all(sp, 256, wins, N, NULL), N);
	for (long i = 0; i < N; i++)
		once &= wins[i] == 1;
	T_OK(once);
	T_INT(count(d.new_), 0);
	T_INT(count(d.cur), N);
	spool_done(&sp, &d);
}

/* ---- adopt ---- */

T_CASE(adopt_claimed)
{
	struct mr_err err;
	struct md_entry ent = {0};
	struct dirs d;
	struct md_spool *sp = spool_dirs("adopt", &d);

	T_OK(put(d.cur, "left:2,", "abc") == 0);
	T_OK(set_mtime(d.cur, "left:2,", 777) == 0);
	T_INT(md_adopt(sp, "left:2,", &ent, &err), 1);
	T_STR(ent.uniq, "left");
	T_STR(ent.cur, "left:2,");
	T_INT(ent.size, 3);
	T_INT(ent.mtime, 777);
	T_INT(md_adopt(sp, "gone:2,", &ent, &err), 0);
	T_INT(md_adopt(sp, "done:2,S", &ent, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_INT(md_adopt(sp, "x/y:2,", &ent, &err), -1);
	T_INT(md_adopt(sp, "left:2,", &ent, &err), 1);
	T_INT(md_finish(sp, &ent, MD_REPLIED, &err), 0);
	T_OK(kind(d.cur, "left:2,RS") == 'f');
	spool_done(&sp, &d);
}

/* ---- reprocess ---- */

static void failed_put(struct dirs *d, const char *sub, const char *name,
		       time_t mtime)
{
	const char *dir = strcmp(sub, "new") == 0 ? d->fnew : d->fcur;

	T_OK(put(dir, name, name) == 0);
	T_OK(set_mtime(dir, name, mtime) == 0);
}

T_CASE(reprocess_by_name_and_window)
{
	struct mr_err err;
	struct dirs d;
	struct md_spool *sp = spool_dirs("reproc", &d);
	size_t moved = 99;
	char buf[64];

	failed_put(&d, "new", "r1", 1000);
	failed_put(&d, "new", "r2", 2000);
	failed_put(&d, "cur", "r3:2,S", 3000);
	failed_put(&d, "cur", "r4:2,", 4000);
	T_INT(md_reprocess(sp, "r3", 0, 0, &moved, &err), 0); /* uniq */
	T_INT(moved, 1);
	T_STR(get(d.new_, "r3", buf, sizeof(buf)), "r3:2,S");
	T_INT(md_reprocess(sp, "r4:2,", 0, 0, &moved, &err), 0); /* file */
	T_INT(moved, 1);
	T_OK(kind(d.new_, "r4") == 'f');
	T_INT(md_reprocess(sp, "nope", 0, 0, &moved, &err), -1);
	T_INT(err.kind, MR_PERM);
	T_OK(strstr(err.text, "not in the failure folder") != NULL);
	T_INT(md_reprocess(sp, "../new/r3", 0, 0, &moved, &err), -1);
	T_INT(err.kind, MR_PERM);
	/* in the folder, but outside the window: not an error */
	T_INT(md_reprocess(sp, "r1", 1500, 0, &moved, &err), 0);
	T_INT(moved, 0);
	T_INT(md_reprocess(sp, NULL, 1500, 2500, &moved, &err), 0);
	T_INT(moved, 1);
	T_OK(kind(d.new_, "r2") == 'f');
	T_INT(md_reprocess(sp, NULL, 0, 1001, &moved, &err), 0);
	T_INT(moved, 1);
	T_OK(kind(d.new_, "r1") == 'f');
	T_INT(count(d.fnew) + count(d.fcur), 0);
	spool_done(&sp, &d);
}

T_CASE(reprocess_all_keeps_duplicates)
{
	struct mr_err err;
	struct dirs d;
	struct md_spool *sp = spool_dirs("reprocall", &d);
	size_t moved = 0;
	char buf[64];

	for (int i = 0; i < 300; i++) {
		char name[16];

		(void)snprintf(name, sizeof(name), "f%d", i); /* fits */
		failed_put(&d, i % 2 ? "new" : "cur", name, 5000 + i);
	}
	T_OK(put(d.new_, "f1", "delivered meanwhile") == 0);
	T_INT(md_reprocess(sp, NULL, 0, 0, &moved, &err), 0);
	T_INT(moved, 300);
	T_INT(count(d.new_), 301);
	T_INT(count(d.fnew) + count(d.fcur), 0);
	T_STR(get(d.new_, "f1", buf, sizeof(buf)), "delivered meanwhile");
	spool_done(&sp, &d);
}

/* ---- lock ---- */

/* In a child: the spool is locked by the parent. 0 if all is as it
 * should be, else a bit per failed check. */
static int child_sees_parent_lock(const char *base, pid_t parent)
{
	struct md_spool *sp = md_spool_open(base, NULL, NULL);
	pid_t owner = 0;
	int bad = 0;

	if (sp == NULL)
		return 64;
	if (md_lock(sp, 0, NULL) != 0)
		bad |= 1;
	if (md_lock_owner(sp, &owner, NULL) != 1)
		bad |= 2;
	if (owner != parent)
		bad |= 4;
	md_spool_close(&sp);
	return bad;
}

/* In a child: lock, tell the parent, wait for "go", wait 100 ms, exit. */
static int child_holds_lock(const char *base, int to_parent, int from_parent)
{
	const struct timespec pause = {0, 100000000};
	struct md_spool *sp = md_spool_open(base, NULL, NULL);
	char c = 'l';

	if (sp == NULL || md_lock(sp, 0, NULL) != 1)
		return 1;
	if (write(to_parent, &c, 1) != 1 || read(from_parent, &c, 1) != 1)
		return 2;
	(void)nanosleep(&pause, NULL); /* the parent blocks meanwhile */
	return 0;                      /* exit releases the flock */
}

static pid_t spawn_holder(const char *base, int *to_child)
{
	int up[2], down[2];
	pid_t pid;
	char c;

	if (pipe(up) < 0 || pipe(down) < 0)
		return -1;
	if ((pid = fork()) == 0)
		_exit(child_holds_lock(base, up[1], down[0]));
	*to_child = down[1];
	if (pid < 0 || read(up[0], &c, 1) != 1)
		pid = -1;
	(void)close(up[0]); /* pipes: nothing to lose */
	(void)close(up[1]);
	(void)close(down[0]);
	return pid;
}

T_CASE(lock_one_owner)
{
	struct mr_err err;
	struct dirs d;
	struct md_spool *sp = spool_dirs("lock", &d);
	pid_t pid, owner = 0;
	int status = -1, to_child = -1;
	char buf[32], want[32];

	T_INT(md_lock_owner(sp, &owner, &err), 0); /* no lock file yet */
	T_INT(md_lock(sp, 0, &err), 1);
	T_INT(md_lock(sp, 0, &err), 1); /* already ours */
	(void)snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	T_STR(get(d.base, ".mailresponder.lock", buf, sizeof(buf)), want);
	T_INT(md_lock_owner(sp, &owner, &err), 1);
	T_INT(owner, getpid());
	if ((pid = fork()) == 0)
		_exit(child_sees_parent_lock(d.base, getppid()));
	T_OK(pid > 0 && waitpid(pid, &status, 0) == pid);
	T_OK(WIFEXITED(status));
	T_INT(WEXITSTATUS(status), 0);
	md_unlock(sp);
	T_INT(md_lock_owner(sp, &owner, &err), 0);
	/* a child takes it; we cannot; we wait for it */
	pid = spawn_holder(d.base, &to_child);
	T_OK(pid > 0);
	T_INT(md_lock(sp, 0, &err), 0);
	T_INT(md_lock_owner(sp, &owner, &err), 1);
	T_INT(owner, pid);
	T_OK(write(to_child, "g", 1) == 1);
	T_INT(md_lock(sp, 1, &err), 1);
	T_OK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	     WEXITSTATUS(status) == 0);
	T_STR(get(d.base, ".mailresponder.lock", buf, sizeof(buf)), want);
	T_OK(close(to_child) == 0);
	md_spool_close(&sp); /* unlocks */
	dirs_free(&d);
}

T_CASE(lock_owner_strict_pid)
{
	struct mr_err err;
	struct dirs d;
	struct md_spool *sp = spool_dirs("lockpid", &d);
	pid_t owner = 0;
	char *p;
	int fd;

	p = pj(d.base, ".mailresponder.lock");
	T_INT(md_lock(sp, 0, &err), 1);
	fd = open(p, O_WRONLY | O_TRUNC);
	T_OK(fd >= 0 && write(fd, "12x\n", 4) == 4 && close(fd) == 0);
	T_INT(md_lock_owner(sp, &owner, &err), -1);
	T_INT(err.kind, MR_TEMP);
	md_spool_close(&sp);
	T_INT(kind(d.base, ".mailresponder.lock"), 'f');
	free(p);
	dirs_free(&d);
}

/* ---- counts ---- */

T_CASE(counts)
{
	struct mr_err err;
	struct md_counts c = {0};
	struct dirs d;
	struct md_spool *sp = spool_dirs("counts", &d);

	T_INT(md_counts(sp, &c, &err), 0);
	T_OK(c.n_new == 0 && c.n_claimed == 0 && c.n_failed == 0);
	T_INT(c.oldest_new, 0);
	T_OK(put(d.new_, "n1", "") == 0 && set_mtime(d.new_, "n1", 500) == 0);
	T_OK(put(d.new_, "n2", "") == 0 && set_mtime(d.new_, "n2", 300) == 0);
	T_OK(put(d.new_, "n3", "") == 0 && set_mtime(d.new_, "n3", 900) == 0);
	T_OK(put(d.new_, ".n4", "") == 0);
	T_OK(put(d.cur, "a:2,", "") == 0 && put(d.cur, "b:2,RS", "") == 0);
	T_OK(put(d.cur, "c:2,S", "") == 0 && put(d.cur, "d:2,", "") == 0);
	T_OK(put(d.fnew, "e", "") == 0 && put(d.fcur, "f:2,S", "") == 0);
	T_INT(md_counts(sp, &c, &err), 0);
	T_INT(c.n_new, 3);
	T_INT(c.n_claimed, 2);
	T_INT(c.n_failed, 2);
	T_INT(c.oldest_new, 300);
	spool_done(&sp, &d);
}

/* ---- measurement ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

T_CASE(measure_claim_finish)
{
	struct mr_err err;
	struct md_entry ent = {0};
	struct dirs d;
	struct md_spool *sp = spool_dirs("bench", &d);
	char(*names)[MD_NAME_MAX] = xcalloc(256, MD_NAME_MAX);
	double t0, t_claim = 0, t_fin = 0, t;
	long done = 0;
	size_t n;

	make_msgs(d.new_, bench_n);
	while (md_scan(sp, MD_NEW, NULL, NULL, names, 256, &n, &err) == 0 &&
	       n > 0) {
		for (size_t i = 0; i < n; i++) {
			t0 = now_s();
			if (md_claim(sp, names[i], &ent, &err) != 1)
				continue;
			t = now_s();
			t_claim += t - t0;
			done += md_finish(sp, &ent, MD_REPLIED, &err) == 0;
			t_fin += now_s() - t;
		}
	}
	T_INT(done, bench_n);
	T_INT(count(d.cur), bench_n);
	if (done > 0)
		printf("# claim+finish(REPLIED) over %ld: claim %.1f us, "
		       "finish %.1f us, total %.1f us/msg = %.0f msgs/s\n",
		       done, t_claim / done * 1e6, t_fin / done * 1e6,
		       (t_claim + t_fin) / done * 1e6,
		       done / (t_claim + t_fin));
	free(names);
	spool_done(&sp, &d);
}

int main(int argc, char **argv)
{
	if (argc > 1 && (mr_parse_long(argv[1], &bench_n) < 0 || bench_n < 1)) {
		fprintf(stderr, "usage: %s [messages-to-measure]\n", argv[0]);
		return 2;
	}
	log_init("test_spool", 0, LOG_LVL_ERR);
	if (mkdtemp(t_root) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	T_RUN(open_creates_every_dir);
	T_RUN(open_refuses_bad_folder_and_inner_symlink);
	T_RUN(open_relative_and_trailing_slash);
	T_RUN(claim_moves_to_cur);
	T_RUN(claim_collision_gets_fresh_name);
	T_RUN(claim_fork_race_each_once);
	T_RUN(claim_thread_race_each_once);
	T_RUN(finish_each_state);
	T_RUN(finish_collision_does_not_overwrite);
	T_RUN(open_reads_regular_file);
	T_RUN(open_refuses_symlink_fifo_dir);
	T_RUN(scan_skips_and_bounds);
	T_RUN(scan_claimed_only_plain_info);
	T_RUN(scan_failed_dir);
	T_RUN(scan_10000_in_batches_of_256);
	T_RUN(adopt_claimed);
	T_RUN(reprocess_by_name_and_window);
	T_RUN(reprocess_all_keeps_duplicates);
	T_RUN(lock_one_owner);
	T_RUN(lock_owner_strict_pid);
	T_RUN(counts);
	T_RUN(measure_claim_finish);
	rm_rf(t_root);
	return t_done();
}
