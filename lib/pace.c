/* pace.c - send pacing across threads (contract: pace.h)
 *
 * The slot is taken under the mutex, the sleep happens outside it
 * (clock_nanosleep to an absolute time, restarted after EINTR).
 */
#include "pace.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "mr.h"

struct pace {
	pthread_mutex_t mu;
	long long gap_ns;
	long long next_ns; /* CLOCK_MONOTONIC: the next free slot */
};

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct pace *pace_new(long per_s)
{
	struct pace *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->mu, NULL);
	p->gap_ns = per_s > 0 ? 1000000000LL / per_s : 0;
	return p;
}

void pace_free(struct pace **pp)
{
	if (*pp == NULL)
		return;
	pthread_mutex_destroy(&(*pp)->mu);
	free(*pp);
	*pp = NULL;
}

void pace_wait(struct pace *p)
{
	long long now, slot;
	struct timespec ts;

	if (p == NULL || p->gap_ns == 0)
		return;
	pthread_mutex_lock(&p->mu);
	now = mono_ns();
	slot = p->next_ns > now ? p->next_ns : now;
	p->next_ns = slot + p->gap_ns;
	pthread_mutex_unlock(&p->mu);
	if (slot <= now)
		return;
	ts.tv_sec = (time_t)(slot / 1000000000LL);
	ts.tv_nsec = (long)(slot % 1000000000LL);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}
