/* check.c - every problem of a configuration at once (contract: check.h)
 *
 * The daemon stops at the first broken part (it cannot run with it); an
 * operator fixing a new install wants the whole list. So each part is
 * loaded here on its own and its problems are collected.
 */
#include "check.h"

#include <string.h>

#include "aws.h"
#include "blob.h"
#include "dkim.h"
#include "hash.h"
#include "rcfg.h"
#include "reply.h"
#include "s3.h"
#include "snap.h"
#include "settings.h"
#include "store.h"
#include "tx.h"

static void check_secrets(const struct set *s, struct mr_msgs *problems)
{
	struct hash_key k = {NULL, 0};
	struct mr_err err;
	int r;

	mr_err_clear(&err);
	if (s->hash_key) {
		r = hash_key_load(s->hash_key, 0, &k, &err);
		if (r == 0)
			mr_msgs_add(problems, "hash_key: %s: no such file",
				    s->hash_key);
		else if (r < 0)
			mr_msgs_add(problems, "hash_key: %s", err.text);
		hash_key_free(&k);
	}
	/* absent is fine: the daemon creates it at its first start */
	if (hash_key_load(s->event_key, 0, &k, &err) < 0)
		mr_msgs_add(problems, "event_key: %s", err.text);
	hash_key_free(&k);
}

static void check_store(const struct set *s, struct mr_msgs *problems)
{
	struct mr_err err;
	struct st *st;

	mr_err_clear(&err);
	st = st_open_set(s, ST_READONLY, &err);
	if (st == NULL)
		mr_msgs_add(problems, "store: %s", err.text);
	st_close(&st);
}

/* Whether url can send from this host: the transport's own preflight
 * (outside needs, such as credentials), then - except for maildir:, whose
 * open creates folders - a probe open, which refuses what is not built. */
static int tx_usable(const char *url, const struct tx_deps *d,
		     struct mr_err *err)
{
	struct tx *t;

	if (tx_preflight(url, d, err) < 0)
		return -1;
	if (strncmp(url, "maildir:", 8) == 0)
		return 0;
	t = tx_open(url, d, err);
	if (t == NULL)
		return -1;
	tx_close(&t);
	return 0;
}

/* Each entry's transport, as delivery picks it (dlv.c). */
static void check_transports(const struct set *s, const struct rcfg *c,
			     struct mr_msgs *problems)
{
	struct tx_deps deps = {s, aws_new(s), NULL};
	struct mr_err err;

	for (size_t i = 0; i < rcfg_count(c); i++) {
		const struct rcfg_entry *e = rcfg_entry(c, i);
		const char *url = s->transport_override;

		if (url == NULL)
			url = e->method == RCFG_SMTP ? s->smtp_url : "ses";
		mr_err_clear(&err);
		if (tx_usable(url, &deps, &err) < 0)
			mr_msgs_add(problems,
				    "entry %zu (%s): send_method %s: %s",
				    e->index, e->email_addr,
				    e->method == RCFG_SMTP ? "SMTP" : "SES",
				    err.text);
	}
	aws_free(&deps.aws);
}

static int has_attachments(const struct rcfg *c)
{
	for (size_t i = 0; i < rcfg_count(c); i++)
		if (rcfg_entry(c, i)->n_atts > 0)
			return 1;
	return 0;
}

static void check_replies(const struct set *s, struct mr_msgs *problems,
			  size_t *entries_r, size_t *addresses_r)
{
	const char *const *addrs;
	struct rpl_set *rs;
	struct blob *b;
	struct mr_err err;
	struct rcfg *c;
	struct aws *aws = NULL;
	struct s3 *s3 = NULL;

	if (snap_uses_s3(s)) {
		aws = aws_new(s);
		s3 = s3_new(s, aws, S3_READONLY);
	}
	c = snap_rcfg_load(s, s3, problems);
	if (c == NULL)
		goto out;
	*entries_r = rcfg_count(c);
	*addresses_r = rcfg_addresses(c, &addrs);
	mr_err_clear(&err);
	if (s->s3.attachments)
		b = blob_open_s3(s3);
	else
		b = blob_open(s->attachments_dir, &err);
	if (b == NULL && has_attachments(c))
		mr_msgs_add(problems, "attachments_dir: %s", err.text);
	rs = rpl_set_build(s, c, b, problems);
	rpl_set_free(&rs);
	check_transports(s, c, problems);
	blob_close(&b);
	rcfg_free(&c);
out:
	s3_free(&s3);
	aws_free(&aws);
}

size_t chk_config(const char *settings, struct mr_msgs *problems,
		  struct mr_msgs *records, size_t *entries_r,
		  size_t *addresses_r)
{
	size_t n0 = problems->n;
	struct set *s;

	*entries_r = *addresses_r = 0;
	s = set_load(settings, problems);
	if (s == NULL)
		return problems->n - n0;
	check_secrets(s, problems);
	(void)dkim_check(s, problems, records); /* problems tell */
	check_store(s, problems);
	check_replies(s, problems, entries_r, addresses_r);
	set_free(&s);
	return problems->n - n0;
}
