/*
 * cancel.c - see include/angofs/cancel.h. The hook is a plain function
 * pointer written once at startup (before any FUSE thread exists) and read
 * with relaxed atomics; sleeps are cut into 100 ms slices so a cancelled
 * caller wakes within a tenth of a second, lock waits into 250 ms ones. The
 * stop is one more atomic: the time it was asked for (0: not stopping),
 * written once by the stopper thread.
 */
#include <errno.h>
#include <time.h>

#include "angofs/cancel.h"
#include "angofs/sysutil.h"

static ao_cancel_fn hook;
static long long stop_at_ms; /* atomic; 0: not stopping */

void ao_cancel_set_hook(ao_cancel_fn fn)
{
	__atomic_store_n(&hook, fn, __ATOMIC_RELEASE);
}

int ao_cancelled(void)
{
	ao_cancel_fn fn = __atomic_load_n(&hook, __ATOMIC_ACQUIRE);

	if (__atomic_load_n(&stop_at_ms, __ATOMIC_ACQUIRE))
		return 1;
	return fn ? fn() != 0 : 0;
}

void ao_cancel_stop(void)
{
	long long zero = 0, now = ao_sys_now_ms();

	if (now <= 0)
		now = 1;
	__atomic_compare_exchange_n(&stop_at_ms, &zero, now, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

long long ao_cancel_stopping_ms(void)
{
	long long at = __atomic_load_n(&stop_at_ms, __ATOMIC_ACQUIRE), d;

	if (!at)
		return -1;
	d = ao_sys_now_ms() - at;
	return d > 0 ? d : 0;
}

int ao_cancel_sleep_ms(long long ms)
{
	while (ms > 0) {
		long long slice = ms < 100 ? ms : 100;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = slice * 1000000L};

		if (ao_cancelled())
			return -EINTR;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= slice;
	}
	return ao_cancelled() ? -EINTR : 0;
}

int ao_cancel_lock(pthread_mutex_t *m)
{
	for (;;) {
		struct timespec ts;
		int r;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		r = pthread_mutex_timedlock(m, &ts);
		if (r == 0)
			return 0;
		if (r != ETIMEDOUT) {
			pthread_mutex_lock(m);
			return 0;
		}
		if (ao_cancelled())
			return -EINTR;
	}
}

int ao_cancel_cond_wait(pthread_cond_t *cv, pthread_mutex_t *m)
{
	struct timespec ts;

	if (ao_cancelled())
		return -EINTR;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 250 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cv, m, &ts);
	return ao_cancelled() ? -EINTR : 0;
}
