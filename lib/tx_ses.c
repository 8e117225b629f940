/* tx_ses.c - the "ses" transport: Amazon SES
 * DESCRIPTION  Owns the scheme "ses" (the whole URL: region and endpoint
 *              are settings). Not built yet: opening it fails, so SES
 *              entries fail with transport-unavailable.
 */
#include "tx.h"

#include "tx_impl.h"

static char *txa_check(const char *rest, const char *dir, struct mr_err *err)
{
	(void)dir; /* no paths */
	if (rest[0] != 0) {
		mr_err_set(err, MR_PERM,
			   "expected \"ses\" (region and endpoint are the "
			   "ses settings)");
		return NULL;
	}
	return xstrdup(rest);
}

static struct tx *txa_open(const char *rest, const struct set *s,
			   struct mr_err *err)
{
	(void)rest;
	(void)s;
	mr_err_set(err, MR_PERM, "ses: the SES transport is not built yet");
	return NULL;
}

static int txa_send(struct tx *t, const struct tx_env *env,
		    const struct iovec *iov, int iovcnt, struct tx_why *why,
		    struct mr_err *err)
{
	(void)t, (void)env, (void)iov, (void)iovcnt, (void)why;
	mr_err_set(err, MR_PERM, "ses: not built yet");
	return -1;
}

static void txa_close(struct tx *t)
{
	(void)t;
}

const struct tx_ops tx_ses_ops = {
	.scheme = "ses",
	.check = txa_check,
	.open = txa_open,
	.send = txa_send,
	.close = txa_close,
};
