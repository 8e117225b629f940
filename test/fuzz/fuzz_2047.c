/* fuzz_2047.c - RFC 2047 decoding and encoding
 * DESCRIPTION  prs_decode_2047() of the input is valid UTF-8 without
 *              controls (libetpan can emit code points above U+10FFFF:
 *              libetpan-notes.md s.3); rpl_encode_2047() of that text is
 *              printable ASCII and decodes back to the same text.
 */
#include "fuzz.h"

#include <string.h>

#include "parse.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fz_copy(data, size);
	char *dec = prs_decode_2047(buf, size), *enc, *back;

	FZ_CHECK(fz_clean_utf8(dec, strlen(dec)));
	enc = rpl_encode_2047(dec);
	for (const char *p = enc; *p; p++)
		FZ_CHECK(*p >= 0x20 && *p < 0x7F);
	back = prs_decode_2047(enc, strlen(enc));
	/* the decoder collapses runs of white space (notes s.3) */
	if (strstr(dec, "  ") == NULL && strstr(dec, "=?") == NULL)
		FZ_CHECK(strcmp(back, dec) == 0);
	free(back);
	free(enc);
	free(dec);
	free(buf);
	return 0;
}
