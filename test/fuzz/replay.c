/* replay.c - feed files to a fuzz target without libFuzzer
 * SYNOPSIS     replay_NAME PATH...
 * DESCRIPTION  Each PATH is a file or a folder of files (the committed
 *              seeds, test/fuzz/corpus/NAME, and past crash inputs,
 *              test/fuzz/crashes/NAME); every file goes through
 *              LLVMFuzzerTestOneInput() once. A property failure aborts
 *              (and names the property); otherwise one "ok" line per
 *              PATH. Built with the normal and the ASan build, so the
 *              regression replay needs no clang.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, r;

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (cap - len < 65536) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap);
			if (buf == NULL)
				abort();
		}
		r = fread(buf + len, 1, cap - len, f);
		len += r;
	} while (r > 0);
	fclose(f);
	fprintf(stderr, "input: %s\n", path);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int run_path(const char *path, size_t *n)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1; /* no crashes yet: fine */
	if (!S_ISDIR(st.st_mode)) {
		(*n)++;
		return run_file(path);
	}
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char sub[4096];

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (run_path(sub, n) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		size_t n = 0;

		if (run_path(argv[i], &n) < 0) {
			printf("not ok - replay %s\n", argv[i]);
			rc = 1;
		} else {
			printf("ok - replay %s (%zu inputs)\n", argv[i], n);
		}
	}
	return rc;
}
