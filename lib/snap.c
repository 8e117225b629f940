/* snap.c - load and share a configuration snapshot (contract: snap.h)
 *
 * A failed load frees what was built through the same snap_unref() path
 * as a released snapshot, so every part has one free.
 */
#include "snap.h"

#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "dkim.h"
#include "log.h"
#include "rcfg.h"
#include "reply.h"
#include "aws.h"
#include "pace.h"
#include "s3.h"
#include "settings.h"
#include "tx.h"

static int load_keys(struct snap *sn, int flags, struct mr_msgs *problems)
{
	const struct set *s = sn->set;
	struct mr_err err;
	int r;

	mr_err_clear(&err);
	if (s->hash_key) {
		r = hash_key_load(s->hash_key, 0, &sn->store_key, &err);
		if (r == 0)
			mr_msgs_add(problems, "hash_key: %s: no such file",
				    s->hash_key);
		else if (r < 0)
			mr_msgs_add(problems, "hash_key: %s", err.text);
		if (r <= 0)
			return -1;
	}
	r = hash_key_load(s->event_key, !(flags & SNAP_READONLY),
			  &sn->event_key, &err);
	if (r < 0) {
		mr_msgs_add(problems, "event_key: %s", err.text);
		return -1;
	}
	sn->dkim = dkim_load(s, &err);
	if (sn->dkim == NULL) {
		mr_msgs_add(problems, "%s", err.text);
		return -1;
	}
	return 0;
}

static int has_attachments(const struct rcfg *c)
{
	for (size_t i = 0; i < rcfg_count(c); i++)
		if (rcfg_entry(c, i)->n_atts > 0)
			return 1;
	return 0;
}

int snap_uses_s3(const struct set *s)
{
	return strncmp(s->responder_config, "s3://", 5) == 0 ||
	       s->s3.attachments;
}

struct rcfg *snap_rcfg_load(const struct set *s, struct s3 *s3,
			    struct mr_msgs *problems)
{
	const char *src = s->responder_config;
	char *bucket, *key, *data;
	struct rcfg *c = NULL;
	struct mr_err err;
	size_t len, n0 = problems->n;

	if (strncmp(src, "s3://", 5) != 0)
		return rcfg_load_file(src, problems);
	if (s3 == NULL || s3_url_split(src, &bucket, &key) < 0) {
		mr_msgs_add(problems, "responder_config: %s: not usable", src);
		return NULL;
	}
	mr_err_clear(&err);
	if (s3_get(s3, bucket, key, &data, &len, &err) < 0) {
		mr_msgs_add(problems, "responder_config: %s", err.text);
	} else {
		c = rcfg_parse(data, len, problems);
		/* name the source in front of the parser's entry/field */
		for (size_t i = n0; i < problems->n; i++) {
			char *t = xasprintf("responder_config %s: %s", src,
					    problems->v[i]);

			free(problems->v[i]);
			problems->v[i] = t;
		}
		free(data);
	}
	free(bucket);
	free(key);
	return c;
}

static int load_replies(struct snap *sn, int flags, struct mr_msgs *problems)
{
	const struct set *s = sn->set;
	struct mr_err err;

	if (snap_uses_s3(s))
		sn->s3 = s3_new(s, sn->aws,
				flags & SNAP_READONLY ? S3_READONLY : 0);
	sn->rcfg = snap_rcfg_load(s, sn->s3, problems);
	if (sn->rcfg == NULL)
		return -1;
	mr_err_clear(&err);
	if (s->s3.attachments)
		sn->blob = blob_open_s3(sn->s3);
	else
		sn->blob = blob_open(s->attachments_dir, &err);
	if (sn->blob == NULL && has_attachments(sn->rcfg)) {
		mr_msgs_add(problems, "attachments_dir: %s", err.text);
		return -1;
	}
	sn->rpl = rpl_set_build(s, sn->rcfg, sn->blob, problems);
	return sn->rpl ? 0 : -1;
}

/* Amazon SES needs AWS credentials from outside: with an SES entry (or
 * an override of "ses") and no credentials, every request would fail,
 * so it is a configuration error at start. (The SMTP transport's outside
 * needs, its password file, are checked when it is opened, and retried;
 * config-check reports them all.) */
static int preflight(struct snap *sn, struct mr_msgs *problems)
{
	const struct set *s = sn->set;
	struct tx_deps deps = {s, sn->aws, sn->ses_pace};
	const char *ov = s->transport_override;
	int ses = 0;
	struct mr_err err;

	for (size_t i = 0; i < rcfg_count(sn->rcfg); i++)
		if (rcfg_entry(sn->rcfg, i)->method == RCFG_SES)
			ses = 1;
	if (ov != NULL)
		ses = strcmp(ov, "ses") == 0 && rcfg_count(sn->rcfg) > 0;
	if (!ses)
		return 0;
	mr_err_clear(&err);
	if (tx_preflight("ses", &deps, &err) < 0) {
		mr_msgs_add(problems, "%s", err.text);
		return -1;
	}
	return 0;
}

struct snap *snap_load(const char *settings_path, int flags,
		       struct mr_msgs *problems)
{
	return snap_load_ex(settings_path, flags, problems, NULL);
}

struct snap *snap_load_ex(const char *settings_path, int flags,
			  struct mr_msgs *problems, int *unreachable_r)
{
	struct snap *sn = xcalloc(1, sizeof(*sn));
	struct s3_counts c;

	if (unreachable_r)
		*unreachable_r = 0;

	atomic_init(&sn->refs, 1);
	sn->set = set_load(settings_path, problems);
	if (sn->set == NULL)
		goto fail;
	if (load_keys(sn, flags, problems) < 0)
		goto fail;
	sn->aws = aws_new(sn->set);
	sn->ses_pace = pace_new(sn->set->ses.max_send_rate);
	if (!(flags & SNAP_NO_REPLIES) && load_replies(sn, flags, problems) < 0)
		goto fail;
	if (!(flags & (SNAP_NO_REPLIES | SNAP_NO_SEND)) &&
	    preflight(sn, problems) < 0)
		goto fail;
	return sn;
fail:
	if (sn->s3 && unreachable_r) {
		s3_counts(sn->s3, &c);
		*unreachable_r = c.unreachable > 0;
	}
	snap_unref(&sn);
	return NULL;
}

struct snap *snap_ref(struct snap *sn)
{
	atomic_fetch_add(&sn->refs, 1);
	return sn;
}

void snap_unref(struct snap **snp)
{
	struct snap *sn = *snp;

	if (sn == NULL)
		return;
	*snp = NULL;
	if (atomic_fetch_sub(&sn->refs, 1) != 1)
		return;
	rpl_set_free(&sn->rpl);
	dkim_free(&sn->dkim);
	blob_close(&sn->blob);
	s3_free(&sn->s3);
	rcfg_free(&sn->rcfg);
	set_free(&sn->set);
	hash_key_free(&sn->store_key);
	hash_key_free(&sn->event_key);
	aws_free(&sn->aws);
	pace_free(&sn->ses_pace);
	free(sn);
}

void snap_sender_hash(const struct snap *sn, const char *addr,
		      char out[HASH_SHA256_HEX])
{
	char *low;

	out[0] = 0;
	if (sn->event_key.data == NULL || addr == NULL)
		return;
	low = mr_lower_dup(addr);
	hash_hmac_sha256_hex(&sn->event_key, low, strlen(low), out);
	free(low);
}
