/*
 * ratelimit.h - client-side request limiter (N requests per minute).
 *
 * A sliding log of the last N request start times rather than a refilling
 * bucket: a refilling bucket that starts full lets N + k requests through in
 * the first minute, which a server enforcing "N per rolling minute" answers
 * with 429. With the log, any 60-second window holds at most N requests. The
 * time source is injectable so unit tests need no sleeping.
 */
#ifndef ANGOFS_RATELIMIT_H
#define ANGOFS_RATELIMIT_H

#include <pthread.h>

#include "angofs/sysutil.h" /* ao_now_ms() */

struct ao_ratelimit {
	pthread_mutex_t lock;
	int per_minute; /* 0 = unlimited */
	int head, count;
	long long *ring; /* start times in ms, per_minute slots */
};

int ao_ratelimit_init(struct ao_ratelimit *rl, int per_minute);
void ao_ratelimit_destroy(struct ao_ratelimit *rl);

/* Reserve a slot at time now_ms: returns 0 and records the request if one is
 * free, else the number of ms to wait before asking again (> 0). */
long long ao_ratelimit_reserve(struct ao_ratelimit *rl, long long now_ms);

/* Block (sleeping) until a slot is free, but at most max_wait_ms; returns 0
 * if reserved, -EAGAIN if the wait would exceed max_wait_ms. */
int ao_ratelimit_acquire(struct ao_ratelimit *rl, long long max_wait_ms);


#endif
