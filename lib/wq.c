/* wq.c - the daemon's work queue (contract: wq.h)
 *
 * A hash table of known names (chained, grows at load 1) plus a FIFO ring
 * of the queued ones. Queued entries are only ever removed by wq_pop, so
 * the ring never points at a freed entry. Sequence numbers grow in push
 * order, so the oldest queued item is at the head of the ring, and the
 * in-flight items (at most one per worker) are kept in a small array for
 * wq_done_upto.
 */
#include "wq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

enum ent_state {
	E_QUEUED = 0,
	E_INFLIGHT,
	E_DEFERRED,
};

struct ent {
	struct ent *next; /* hash chain */
	enum ent_state st;
	int adopt;
	int attempts;
	uint64_t seq;
	time_t due;
	char name[];
};

struct wq {
	pthread_mutex_t mu;
	pthread_cond_t can_pop, can_push, idle;
	struct ent **tab;
	size_t tab_cap, n_ent;
	struct ent **ring;
	size_t cap, head, len;
	struct ent **fly;
	size_t n_fly, fly_cap;
	size_t n_deferred;
	uint64_t last_seq;
	struct wq_backoff bo;
	int temp_in_row, pause_rounds;
	time_t paused_until;
	int closed;
};

struct wq *wq_new(size_t cap, const struct wq_backoff *bo)
{
	struct wq *q = xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->can_pop, NULL);
	pthread_cond_init(&q->can_push, NULL);
	pthread_cond_init(&q->idle, NULL);
	q->cap = cap ? cap : 1;
	q->ring = xcalloc(q->cap, sizeof(*q->ring));
	q->tab_cap = 1024;
	q->tab = xcalloc(q->tab_cap, sizeof(*q->tab));
	q->bo = *bo;
	return q;
}

void wq_free(struct wq **qp)
{
	struct wq *q = *qp;

	if (q == NULL)
		return;
	for (size_t i = 0; i < q->tab_cap; i++)
		for (struct ent *e = q->tab[i], *n; e; e = n) {
			n = e->next;
			free(e);
		}
	free(q->tab);
	free(q->ring);
	free(q->fly);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->can_pop);
	pthread_cond_destroy(&q->can_push);
	pthread_cond_destroy(&q->idle);
	free(q);
	*qp = NULL;
}

void wq_set_backoff(struct wq *q, const struct wq_backoff *bo)
{
	pthread_mutex_lock(&q->mu);
	q->bo = *bo;
	pthread_mutex_unlock(&q->mu);
}

/* ---- the table (called with the mutex held) ---- */

static struct ent *find(struct wq *q, const char *name)
{
	struct ent *e = q->tab[mr_hash_str(name) & (q->tab_cap - 1)];

	while (e && strcmp(e->name, name) != 0)
		e = e->next;
	return e;
}

static void grow(struct wq *q)
{
	size_t cap = q->tab_cap * 2;
	struct ent **tab = xcalloc(cap, sizeof(*tab));

	for (size_t i = 0; i < q->tab_cap; i++)
		for (struct ent *e = q->tab[i], *n; e; e = n) {
			size_t h = mr_hash_str(e->name) & (cap - 1);

			n = e->next;
			e->next = tab[h];
			tab[h] = e;
		}
	free(q->tab);
	q->tab = tab;
	q->tab_cap = cap;
}

static struct ent *add(struct wq *q, const char *name)
{
	size_t n = strlen(name) + 1, h;
	struct ent *e;

	if (q->n_ent + 1 > q->tab_cap)
		grow(q);
	e = xcalloc(1, sizeof(*e) + n);
	memcpy(e->name, name, n);
	h = mr_hash_str(name) & (q->tab_cap - 1);
	e->next = q->tab[h];
	q->tab[h] = e;
	q->n_ent++;
	return e;
}

static void del(struct wq *q, struct ent *e)
{
	struct ent **pp = &q->tab[mr_hash_str(e->name) & (q->tab_cap - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp)
		*pp = e->next;
	q->n_ent--;
	free(e);
}

static void enqueue(struct wq *q, struct ent *e)
{
	e->st = E_QUEUED;
	e->seq = ++q->last_seq;
	q->ring[(q->head + q->len) % q->cap] = e;
	q->len++;
	pthread_cond_signal(&q->can_pop);
}

static void fly_add(struct wq *q, struct ent *e)
{
	if (q->n_fly == q->fly_cap) {
		q->fly_cap = q->fly_cap ? q->fly_cap * 2 : 16;
		q->fly = xrealloc(q->fly, q->fly_cap * sizeof(*q->fly));
	}
	q->fly[q->n_fly++] = e;
}

static void fly_del(struct wq *q, struct ent *e)
{
	for (size_t i = 0; i < q->n_fly; i++)
		if (q->fly[i] == e) {
			q->fly[i] = q->fly[--q->n_fly];
			break;
		}
	if (q->n_fly == 0)
		pthread_cond_broadcast(&q->idle);
}

/* ---- producers ---- */

int wq_push(struct wq *q, const char *name, int adopt, int block)
{
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct ent *e = find(q, name);

		if (q->closed) {
			rc = -1;
			break;
		}
		if (e && (e->st != E_DEFERRED || e->due > time(NULL)))
			break; /* known: queued, in flight or not yet due */
		if (q->len == q->cap) {
			if (!block)
				break;
			pthread_cond_wait(&q->can_push, &q->mu);
			continue;
		}
		if (e) {
			q->n_deferred--;
		} else {
			e = add(q, name);
			e->adopt = adopt;
		}
		enqueue(q, e);
		rc = 1;
		break;
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

size_t wq_release_due(struct wq *q, time_t now)
{
	size_t n = 0;

	pthread_mutex_lock(&q->mu);
	for (size_t i = 0; i < q->tab_cap && q->n_deferred > 0; i++)
		for (struct ent *e = q->tab[i]; e; e = e->next) {
			if (e->st != E_DEFERRED || e->due > now ||
			    q->len == q->cap || q->closed)
				continue;
			q->n_deferred--;
			enqueue(q, e);
			n++;
		}
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* ---- consumers ---- */

static int paused(struct wq *q, struct timespec *until)
{
	time_t now = time(NULL);

	if (q->paused_until <= now)
		return 0;
	until->tv_sec = q->paused_until;
	until->tv_nsec = 0;
	return 1;
}

/* Take the head item (mutex held, q->len > 0). */
static void take(struct wq *q, struct wq_item *it)
{
	struct ent *e = q->ring[q->head];

	q->head = (q->head + 1) % q->cap;
	q->len--;
	e->st = E_INFLIGHT;
	fly_add(q, e);
	(void)snprintf(it->name, sizeof(it->name), "%s", e->name); /* fits */
	it->adopt = e->adopt;
	it->attempts = e->attempts;
	it->seq = e->seq;
	pthread_cond_signal(&q->can_push);
}

int wq_pop(struct wq *q, struct wq_item *it)
{
	struct timespec until;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (q->closed) {
			pthread_mutex_unlock(&q->mu);
			return 0;
		}
		if (paused(q, &until)) {
			pthread_cond_timedwait(&q->can_pop, &q->mu, &until);
			continue;
		}
		if (q->len > 0)
			break;
		pthread_cond_wait(&q->can_pop, &q->mu);
	}
	take(q, it);
	pthread_mutex_unlock(&q->mu);
	return 1;
}

int wq_trypop(struct wq *q, struct wq_item *it)
{
	struct timespec until;
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	if (q->closed) {
		rc = -1;
	} else if (!paused(q, &until) && q->len > 0) {
		take(q, it);
		rc = 1;
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

time_t wq_retry_at(const struct wq *q, int attempts, time_t now)
{
	long d = q->bo.initial_s > 0 ? q->bo.initial_s : 1;

	for (int i = 0; i < attempts && d < q->bo.max_s; i++)
		d *= 2;
	if (d > q->bo.max_s)
		d = q->bo.max_s;
	return now + d;
}

static void pause_now(struct wq *q, const char *why)
{
	long d = wq_retry_at(q, q->pause_rounds, 0);

	q->paused_until = time(NULL) + d;
	q->pause_rounds++;
	q->temp_in_row = 0;
	log_warn("%s: pausing work for %ld s", why, d);
}

static void count_temp(struct wq *q, int temp)
{
	char why[64];

	if (!temp) {
		q->temp_in_row = 0;
		q->pause_rounds = 0;
		return;
	}
	if (++q->temp_in_row < q->bo.pause_after || q->bo.pause_after <= 0)
		return;
	(void)snprintf(why, sizeof(why), "%d transient failures in a row",
		       q->bo.pause_after); /* fits */
	pause_now(q, why);
}

void wq_pause(struct wq *q)
{
	pthread_mutex_lock(&q->mu);
	if (q->paused_until <= time(NULL))
		pause_now(q, "the sending account is paused");
	pthread_mutex_unlock(&q->mu);
}

static void park(struct wq *q, struct ent *e, const char *park_name,
		 int attempts, time_t retry_at)
{
	if (strcmp(e->name, park_name) != 0) {
		del(q, e);
		e = find(q, park_name);
		if (e && e->st != E_DEFERRED)
			return; /* already offered again: let it run */
		if (e == NULL) {
			e = add(q, park_name);
			q->n_deferred++;
		}
	} else {
		q->n_deferred++;
	}
	e->st = E_DEFERRED;
	e->adopt = 0;
	e->attempts = attempts + 1;
	e->due = retry_at;
}

void wq_done(struct wq *q, const struct wq_item *it, const char *park_name,
	     time_t retry_at, int temp)
{
	struct ent *e;

	pthread_mutex_lock(&q->mu);
	e = find(q, it->name);
	if (e && e->st == E_INFLIGHT) {
		fly_del(q, e);
		if (retry_at > 0 && park_name)
			park(q, e, park_name, it->attempts, retry_at);
		else
			del(q, e);
	}
	count_temp(q, temp);
	pthread_mutex_unlock(&q->mu);
}

int wq_busy(const char *name, void *arg)
{
	struct wq *q = arg;
	struct ent *e;
	int busy;

	pthread_mutex_lock(&q->mu);
	e = find(q, name);
	busy = e && (e->st != E_DEFERRED || e->due > time(NULL));
	pthread_mutex_unlock(&q->mu);
	return busy;
}

int wq_done_upto(struct wq *q, uint64_t seq)
{
	int done = 1;

	pthread_mutex_lock(&q->mu);
	if (q->len > 0 && q->ring[q->head]->seq <= seq)
		done = 0;
	for (size_t i = 0; done && i < q->n_fly; i++)
		if (q->fly[i]->seq <= seq)
			done = 0;
	pthread_mutex_unlock(&q->mu);
	return done;
}

void wq_counts(struct wq *q, struct wq_counts *c)
{
	pthread_mutex_lock(&q->mu);
	c->queued = q->len;
	c->in_flight = q->n_fly;
	c->deferred = q->n_deferred;
	c->last_seq = q->last_seq;
	c->paused_until = q->paused_until;
	pthread_mutex_unlock(&q->mu);
}

void wq_close(struct wq *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = 1;
	pthread_cond_broadcast(&q->can_pop);
	pthread_cond_broadcast(&q->can_push);
	pthread_mutex_unlock(&q->mu);
}

int wq_wait_idle(struct wq *q, long timeout_ms)
{
	struct timespec until;
	int idle;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->mu);
	while (q->n_fly > 0)
		if (pthread_cond_timedwait(&q->idle, &q->mu, &until) != 0)
			break;
	idle = q->n_fly == 0;
	pthread_mutex_unlock(&q->mu);
	return idle;
}
