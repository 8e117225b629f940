/* drain.c - process the backlog and return (drain.h)
 * DESCRIPTION  Scans stream readdir in batches of DRAIN_BATCH names (no
 *              rename while a directory is being read), so memory does not
 *              grow with the backlog. Names sent back for a retry during
 *              this run are kept in a small hash set and skipped.
 */
#include "drain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "log.h"
#include "metrics.h"
#include "snap.h"

#define DRAIN_BATCH 256

/* ---- a set of names (open addressing, grows) ---- */

struct nameset {
	char **slot;
	size_t cap;
	size_t n;
};

static int ns_has(const char *name, void *arg)
{
	const struct nameset *ns = arg;

	if (ns->cap == 0)
		return 0;
	for (size_t i = mr_hash_str(name) & (ns->cap - 1);;
	     i = (i + 1) & (ns->cap - 1)) {
		if (ns->slot[i] == NULL)
			return 0;
		if (strcmp(ns->slot[i], name) == 0)
			return 1;
	}
}

static void ns_put_slot(struct nameset *ns, char *name)
{
	size_t i = mr_hash_str(name) & (ns->cap - 1);

	while (ns->slot[i])
		i = (i + 1) & (ns->cap - 1);
	ns->slot[i] = name;
}

static void ns_add(struct nameset *ns, const char *name)
{
	if (ns_has(name, ns))
		return;
	if ((ns->n + 1) * 2 > ns->cap) {
		struct nameset big = {NULL, ns->cap ? ns->cap * 2 : 64, 0};

		big.slot = xcalloc(big.cap, sizeof(char *));
		for (size_t i = 0; i < ns->cap; i++)
			if (ns->slot[i])
				ns_put_slot(&big, ns->slot[i]);
		free(ns->slot);
		ns->slot = big.slot;
		ns->cap = big.cap;
	}
	ns_put_slot(ns, xstrdup(name));
	ns->n++;
}

static void ns_free(struct nameset *ns)
{
	for (size_t i = 0; i < ns->cap; i++)
		free(ns->slot[i]);
	free(ns->slot);
}

/* ---- the summary ---- */

void drain_print(const struct met *m, long recovered, void *fp)
{
	const char *outcome, *reason;
	FILE *f = fp;
	long n;

	for (size_t i = 0; met_reason_at(m, i, &outcome, &reason, &n); i++)
		fprintf(f, "  %-8s %-22s %ld\n", outcome, reason, n);
	fprintf(f,
		"  total: %ld handled (%ld recovered): %ld replied, "
		"%ld ignored, %ld failed, %ld retry; %ld reply mails sent\n",
		met_events(m), recovered, met_count(m, MET_REPLIED),
		met_count(m, MET_IGNORED), met_count(m, MET_FAILED),
		met_count(m, MET_RETRY), met_replies(m));
}

/* ---- the run ---- */

struct drain {
	struct job_ctx *ctx;
	struct md_spool *sp;
	long recovered;
	struct nameset deferred;
	int temp_in_row;
};

/* 0 go on, -1 stop (err set) */
static int handle(struct drain *d, const struct md_entry *ent,
		  struct mr_err *err)
{
	struct job_result r;

	if (job_run(d->ctx, ent, mr_time(), &r) < 0) {
		mr_err_set(err, MR_TEMP, "spool: could not finish %s",
			   ent->uniq);
		return -1;
	}
	if (r.state != MD_RETRY) {
		d->temp_in_row = 0;
		return 0;
	}
	ns_add(&d->deferred, ent->uniq);
	if (++d->temp_in_row >= DRAIN_MAX_TEMP) {
		mr_err_set(err, MR_TEMP,
			   "%d temporary failures in a row (last: %s: %s); "
			   "leaving the rest for the next run",
			   d->temp_in_row, r.reason, r.error);
		return -1;
	}
	return 0;
}

static int pass(struct drain *d, enum md_where where, struct mr_err *err)
{
	char(*names)[MD_NAME_MAX] = xcalloc(DRAIN_BATCH, MD_NAME_MAX);
	int rc = 0;

	for (;;) {
		size_t n = 0;

		if (md_scan(d->sp, where, ns_has, &d->deferred, names,
			    DRAIN_BATCH, &n, err) < 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		for (size_t i = 0; i < n && rc == 0; i++) {
			struct md_entry ent;
			int r = where == MD_CLAIMED
					? md_adopt(d->sp, names[i], &ent, err)
					: md_claim(d->sp, names[i], &ent, err);

			if (r < 0)
				rc = -1;
			else if (r > 0) {
				d->recovered += where == MD_CLAIMED;
				rc = handle(d, &ent, err);
			}
		}
		if (rc < 0)
			break;
	}
	free(names);
	return rc;
}

int drain_run(struct snap *sn, struct md_spool *sp, struct ev_log *ev,
	      long *recovered_r, struct mr_err *err)
{
	struct drain d = {NULL, sp, 0, {NULL, 0, 0}, 0};
	int rc;

	d.ctx = job_ctx_new(sn, sp, ev, err);
	if (d.ctx == NULL)
		return -1;
	rc = pass(&d, MD_CLAIMED, err);
	if (rc == 0)
		rc = pass(&d, MD_NEW, err);
	job_ctx_free(&d.ctx);
	ns_free(&d.deferred);
	*recovered_r = d.recovered;
	return rc;
}
