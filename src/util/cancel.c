/*
 * cancel.c - see include/angofs/cancel.h. The hook is a plain function
 * pointer written once at startup (before any FUSE thread exists) and read
 * with relaxed atomics; sleeps are cut into 100 ms slices so a cancelled
 * caller wakes within a tenth of a second, lock waits into 250 ms ones. The
 * stop is one more atomic: the time it was asked for (0: not stopping),
 * written once by the stopper thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Signals whose default action is to be ignored: a handler of one makes
 * the kernel interrupt a FUSE request, but nobody meant to cancel it. */
static const int harmless[] = {SIGCHLD, SIGWINCH, SIGURG, SIGCONT};

int ao_cancel_signal_matters(int tid)
{
	char path[64], line[256];
	unsigned long long pending = 0, mask = 0;
	int seen = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "re");
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "SigPnd:", 7) || !strncmp(line, "ShdPnd:", 7)) {
			pending |= strtoull(line + 7, NULL, 16);
			seen++;
		}
	fclose(f);
	if (seen < 2)
		return 1;
	for (size_t i = 0; i < sizeof(harmless) / sizeof(harmless[0]); i++)
		mask |= 1ULL << (harmless[i] - 1); /* bit n-1 is signal n */
	return (pending & ~mask) != 0;
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
