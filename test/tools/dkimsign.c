/* dkimsign.c - sign a message file with lib/dkim.c (for test/e2e/test_dkim.py)
 * SYNOPSIS     dkimsign SETTINGS MESSAGE [NOW]
 *              dkimsign -b BODYFILE
 * DESCRIPTION  The first form loads SETTINGS (set_load) and its dkim keys
 *              (dkim_load), splits MESSAGE (CRLF header lines, a blank
 *              line, the body) at the first blank line, hashes the body
 *              with dkim_body_hash(), signs the header block with
 *              dkim_sign() at time NOW (default: the clock) and writes the
 *              signatures, the header block, the blank line and the body
 *              to standard output. A message without a blank line is all
 *              header. The second form prints the base64 relaxed body hash
 *              of the whole of BODYFILE.
 * DIAGNOSTICS  Exit 0 done, 1 signing refused (dkim_load or dkim_sign
 *              error), 2 usage or file problem; the reason on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "dkim.h"
#include "log.h"
#include "mr.h"
#include "settings.h"

#define MSG_MAX (64L << 20)

static int usage(void)
{
	(void)fputs("usage: dkimsign SETTINGS MESSAGE [NOW]\n"
		    "       dkimsign -b BODYFILE\n",
		    stderr); /* exit status 2 says it all */
	return 2;
}

static int write_out(const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, stdout) != n)
		return -1;
	return 0;
}

static int finish_out(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("dkimsign: stdout");
		return 2;
	}
	return 0;
}

static int body_hash_main(const char *path)
{
	unsigned char bh[32];
	char b64[48];
	struct mr_err err;
	size_t len;
	char *data;

	mr_err_clear(&err);
	if (mr_read_file(path, MSG_MAX, &data, &len, &err) < 0) {
		fprintf(stderr, "dkimsign: %s\n", err.text);
		return 2;
	}
	dkim_body_hash(data, len, bh);
	free(data);
	EVP_EncodeBlock((unsigned char *)b64, bh, 32);
	printf("%s\n", b64);
	return finish_out();
}

static struct set *load_settings(const char *path)
{
	struct mr_msgs pr = {NULL, 0};
	struct set *s = set_load(path, &pr);

	for (size_t i = 0; i < pr.n; i++)
		fprintf(stderr, "dkimsign: %s: %s\n", path, pr.v[i]);
	mr_msgs_free(&pr);
	return s;
}

/* Sign msg (len bytes) and write the signed message. */
static int sign_msg(const struct dkim *d, const char *msg, size_t len,
		    time_t now)
{
	const char *sep = memmem(msg, len, "\r\n\r\n", 4);
	size_t head_len = sep ? (size_t)(sep - msg) + 2 : len;
	size_t body_off = sep ? head_len + 2 : len;
	unsigned char bh[32];
	struct mr_buf sigs;
	struct mr_err err;
	int rc = 0;

	mr_err_clear(&err);
	buf_init(&sigs);
	dkim_body_hash(msg + body_off, len - body_off, bh);
	if (dkim_sign(d, msg, head_len, bh, now, &sigs, &err) < 0) {
		fprintf(stderr, "dkimsign: %s\n", err.text);
		rc = 1;
	} else if (write_out(sigs.data, sigs.len) < 0 ||
		   write_out(msg, len) < 0) {
		perror("dkimsign: stdout");
		rc = 2;
	}
	buf_free(&sigs);
	return rc ? rc : finish_out();
}

static int sign_main(const char *spath, const char *mpath, const char *when)
{
	struct set *s = load_settings(spath);
	struct dkim *d = NULL;
	struct mr_err err;
	char *msg = NULL;
	size_t len = 0;
	long now = (long)time(NULL);
	int rc = 2;

	mr_err_clear(&err);
	if (s == NULL)
		return 2;
	if (when != NULL && mr_parse_long(when, &now) < 0) {
		fprintf(stderr, "dkimsign: NOW: not a number\n");
		goto out;
	}
	d = dkim_load(s, &err);
	if (d == NULL) {
		fprintf(stderr, "dkimsign: %s\n", err.text);
		rc = 1;
		goto out;
	}
	if (mr_read_file(mpath, MSG_MAX, &msg, &len, &err) < 0) {
		fprintf(stderr, "dkimsign: %s\n", err.text);
		goto out;
	}
	rc = sign_msg(d, msg, len, (time_t)now);
out:
	free(msg);
	dkim_free(&d);
	set_free(&s);
	return rc;
}

int main(int argc, char **argv)
{
	log_init("dkimsign", 0, LOG_LVL_WARN);
	if (argc == 3 && strcmp(argv[1], "-b") == 0)
		return body_hash_main(argv[2]);
	if (argc == 3 || argc == 4)
		return sign_main(argv[1], argv[2], argc == 4 ? argv[3] : NULL);
	return usage();
}
