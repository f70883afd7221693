/*
 * ratelimit.c - sliding-log request limiter (see include/angofs/ratelimit.h).
 * The ring holds the start times of the last per_minute requests; a request
 * may start once the oldest of them is 60 s old.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "angofs/ratelimit.h"

#define WINDOW_MS 60000LL

int ao_ratelimit_init(struct ao_ratelimit *rl, int per_minute)
{
	pthread_mutex_init(&rl->lock, NULL);
	rl->per_minute = per_minute > 0 ? per_minute : 0;
	rl->head = rl->count = 0;
	rl->ring = NULL;
	if (rl->per_minute) {
		rl->ring = calloc((size_t)rl->per_minute, sizeof(*rl->ring));
		if (!rl->ring)
			return -ENOMEM;
	}
	return 0;
}

void ao_ratelimit_destroy(struct ao_ratelimit *rl)
{
	free(rl->ring);
	rl->ring = NULL;
	pthread_mutex_destroy(&rl->lock);
}

long long ao_ratelimit_reserve(struct ao_ratelimit *rl, long long now_ms)
{
	long long wait = 0;

	if (!rl->per_minute)
		return 0;
	pthread_mutex_lock(&rl->lock);
	if (rl->count == rl->per_minute) {
		long long oldest = rl->ring[rl->head];
		if (now_ms - oldest < WINDOW_MS)
			wait = WINDOW_MS - (now_ms - oldest);
	}
	if (!wait) {
		/* head is the oldest slot once the ring is full; overwrite it */
		int slot = (rl->head + rl->count) % rl->per_minute;
		if (rl->count == rl->per_minute) {
			slot = rl->head;
			rl->head = (rl->head + 1) % rl->per_minute;
		} else {
			rl->count++;
		}
		rl->ring[slot] = now_ms;
	}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

int ao_ratelimit_acquire(struct ao_ratelimit *rl, long long max_wait_ms)
{
	long long start = ao_now_ms();

	for (;;) {
		long long now = ao_now_ms();
		long long w = ao_ratelimit_reserve(rl, now);
		if (!w)
			return 0;
		if (now + w - start > max_wait_ms)
			return -EAGAIN;
		ao_sleep_ms(w);
	}
}
