/* t.h - a tiny test harness for unit tests
 * DESCRIPTION  T_CASE(name) { ... } defines a case; T_RUN(name) runs it.
 *              Each case prints "ok - name" or "not ok - name" followed by
 *              the failed checks; test/run.sh counts those lines. Checks
 *              go on after a failure so that one run shows every problem.
 *              t_done() returns the exit status; t_rm_tree(path) removes
 *              a case's scratch folder with everything below it.
 */
#ifndef MR_T_H
#define MR_T_H

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int t_failed_checks, t_cases_failed;
static char t_msgs[8192];
static size_t t_msgs_len;

static void t_note(const char *file, int line, const char *what)
{
	int n = snprintf(t_msgs + t_msgs_len, sizeof(t_msgs) - t_msgs_len,
			 "#   %s:%d: %s\n", file, line, what);

	if (n > 0 && t_msgs_len + (size_t)n < sizeof(t_msgs))
		t_msgs_len += (size_t)n;
	t_failed_checks++;
}

#define T_CASE(name) static void t_case_##name(void)
#define T_RUN(name)                                                            \
	do {                                                                   \
		int before_ = t_failed_checks;                                 \
		t_msgs_len = 0;                                                \
		t_msgs[0] = 0;                                                 \
		t_case_##name();                                               \
		if (t_failed_checks == before_) {                              \
			printf("ok - %s\n", #name);                            \
		} else {                                                       \
			printf("not ok - %s\n%s", #name, t_msgs);              \
			t_cases_failed++;                                      \
		}                                                              \
		fflush(stdout);                                                \
	} while (0)

#define T_OK(cond)                                                             \
	do {                                                                   \
		if (!(cond))                                                   \
			t_note(__FILE__, __LINE__, #cond);                     \
	} while (0)

#define T_STR(a, b)                                                            \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {         \
			char m_[1024];                                         \
			snprintf(m_, sizeof(m_), "%s == %s: \"%s\" vs \"%s\"", \
				 #a, #b, a_ ? a_ : "(null)",                   \
				 b_ ? b_ : "(null)");                          \
			t_note(__FILE__, __LINE__, m_);                        \
		}                                                              \
	} while (0)

#define T_INT(a, b)                                                            \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_) {                                                \
			char m_[512];                                          \
			snprintf(m_, sizeof(m_), "%s == %s: %lld vs %lld", #a, \
				 #b, a_, b_);                                  \
			t_note(__FILE__, __LINE__, m_);                        \
		}                                                              \
	} while (0)

static inline int t_rm_one(const char *path, const struct stat *st, int flag,
			   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path); /* FTW_DEPTH: a folder comes after its files */
}

/* rm -rf path, without following links: 0, or -1 */
static inline int t_rm_tree(const char *path)
{
	return nftw(path, t_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 ? -1 : 0;
}

static int t_done(void)
{
	return t_cases_failed ? 1 : 0;
}

#endif
