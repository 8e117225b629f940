/* fuzz.h - shared set-up of the libFuzzer targets (test/fuzz/fuzz_*.c)
 * DESCRIPTION  Each target defines LLVMFuzzerTestOneInput(); it is linked
 *              either with libFuzzer (make fuzz, clang) or with replay.c,
 *              a plain main() that feeds it the committed seeds and past
 *              crash inputs (make check, any compiler). A failed property
 *              aborts, so both report it the same way. fz_world() loads
 *              real settings and a real responder config from files in a
 *              temporary folder once per process.
 */
#ifndef MR_FUZZ_H
#define MR_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mr.h"
#include "rcfg.h"
#include "reply.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond)                                                         \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "property failed: %s (%s:%d)\n",       \
				#cond, __FILE__, __LINE__);                    \
			abort();                                               \
		}                                                              \
	} while (0)

struct fz_world {
	char dir[64];
	struct set *set;
	struct rcfg *rcfg;
	struct rpl_set *rpl;
};

static inline void fz_write(const char *dir, const char *name, const char *text,
			    size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

static inline const struct fz_world *fz_world(void)
{
	static struct fz_world w;
	static const char settings[] =
		"{\"spool\": \"spool\", \"from\": \"Get <get@r.test>\",\n"
		" \"complaints_address\": \"complaints@r.test\",\n"
		" \"admin_addresses\": [\"ops@r.test\"],\n"
		" \"authserv_id\": \"mx.r.test\", \"dkim_policy\": "
		"\"reject-fail\"}";
	static const char responses[] =
		"[{\"email_addr\": \"get@r.test\", \"body\": [[\"plain\", "
		"\"Links: https://r.test/a\"], [\"html\", \"<p>a</p>\"]], "
		"\"attachments\": null, \"send_method\": \"SMTP\"},"
		" {\"email_addr\": \"fa@r.test\", \"body\": \"b\", "
		"\"attachments\": null, \"send_method\": \"SMTP\"}]";
	struct mr_msgs pr = {NULL, 0};
	char path[128];

	if (w.set != NULL)
		return &w;
	snprintf(w.dir, sizeof(w.dir), "/tmp/mr-fuzz-XXXXXX");
	if (mkdtemp(w.dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	fz_write(w.dir, "settings.json", settings, sizeof(settings) - 1);
	snprintf(path, sizeof(path), "%s/settings.json", w.dir);
	w.set = set_load(path, &pr);
	w.rcfg = rcfg_parse(responses, sizeof(responses) - 1, &pr);
	if (w.set != NULL && w.rcfg != NULL)
		w.rpl = rpl_set_build(w.set, w.rcfg, NULL, &pr);
	for (size_t i = 0; i < pr.n; i++)
		fprintf(stderr, "fuzz set-up: %s\n", pr.v[i]);
	if (w.rpl == NULL)
		abort();
	mr_msgs_free(&pr);
	return &w;
}

/* A private copy of the input with two NUL bytes after it (the parser's
 * contract, libetpan-notes.md s.4 b). */
static inline char *fz_copy(const uint8_t *data, size_t size)
{
	char *b = malloc(size + 2);

	if (b == NULL)
		abort();
	if (size)
		memcpy(b, data, size);
	b[size] = b[size + 1] = 0;
	return b;
}

/* 1 if s[0..n) is valid UTF-8 without C0 controls or DEL. */
static inline int fz_clean_utf8(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < n;) {
		size_t k;

		if (s[i] < 0x20 || s[i] == 0x7F)
			return 0;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xC2 && s[i] <= 0xDF)
			k = 1;
		else if (s[i] >= 0xE0 && s[i] <= 0xEF)
			k = 2;
		else if (s[i] >= 0xF0 && s[i] <= 0xF4)
			k = 3;
		else
			return 0;
		if (i + 1 < n && ((s[i] == 0xE0 && s[i + 1] < 0xA0) ||
				  (s[i] == 0xED && s[i + 1] >= 0xA0) ||
				  (s[i] == 0xF0 && s[i + 1] < 0x90) ||
				  (s[i] == 0xF4 && s[i + 1] >= 0x90)))
			return 0; /* overlong, surrogate, above U+10FFFF */
		for (size_t j = 1; j <= k; j++)
			if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

/* Header block head[0..n): every line ends in CRLF (no bare CR or LF),
 * none is longer than 998 bytes. */
static inline int fz_lines_ok(const char *head, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (head[i] == '\r') {
			if (i + 1 >= n || head[i + 1] != '\n')
				return 0;
			if (i - start > 998)
				return 0;
			start = i + 2;
			i++;
		} else if (head[i] == '\n' || head[i] == 0) {
			return 0;
		}
	}
	return start == n;
}

#endif
