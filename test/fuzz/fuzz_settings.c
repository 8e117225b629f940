/* fuzz_settings.c - the settings file parser
 * DESCRIPTION  The input is written as a settings file and loaded: either
 *              a settings object comes back, or problems do, each naming
 *              something (never an empty text); loading twice agrees.
 */
#include "fuzz.h"

#include <string.h>

#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fz_world *w = fz_world();
	struct mr_msgs pr = {NULL, 0}, pr2 = {NULL, 0};
	char path[128];
	struct set *s, *s2;

	fz_write(w->dir, "fuzz.json", (const char *)data, size);
	snprintf(path, sizeof(path), "%s/fuzz.json", w->dir);
	s = set_load(path, &pr);
	s2 = set_load(path, &pr2);
	FZ_CHECK((s == NULL) == (pr.n > 0));
	FZ_CHECK((s == NULL) == (s2 == NULL) && pr.n == pr2.n);
	for (size_t i = 0; i < pr.n; i++)
		FZ_CHECK(pr.v[i][0] != 0);
	if (s != NULL)
		FZ_CHECK(s->spool != NULL && s->from_addr != NULL);
	set_free(&s);
	set_free(&s2);
	mr_msgs_free(&pr);
	mr_msgs_free(&pr2);
	return 0;
}
