/*
 * cancel.c - see include/angofs/cancel.h. The hook is a plain function
 * pointer written once at startup (before any FUSE thread exists) and read
 * with relaxed atomics; sleeps are cut into 100 ms slices so a cancelled
 * caller wakes within a tenth of a second.
 */
#include <errno.h>
#include <time.h>

#include "angofs/cancel.h"

static ao_cancel_fn hook;

void ao_cancel_set_hook(ao_cancel_fn fn)
{
	__atomic_store_n(&hook, fn, __ATOMIC_RELEASE);
}

int ao_cancelled(void)
{
	ao_cancel_fn fn = __atomic_load_n(&hook, __ATOMIC_ACQUIRE);

	return fn ? fn() != 0 : 0;
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
