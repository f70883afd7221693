/*
 * ratelimit.h - client-side request limiter (N requests per minute).
 *
 * A sliding log of the last N request start times rather than a refilling
 * bucket: a refilling bucket that starts full lets N + k requests through in
 * the first minute, which a server enforcing "N per rolling minute" answers
 * with 429. With the log, any 60-second window holds at most N requests. The
 * time source is injectable so unit tests need no sleeping.
 *
 * Shared budget: daemons on one cache directory (one machine or a cluster's
 * shared filesystem) use the same key, and the hub counts the key, not the
 * daemon. ao_ratelimit_share puts the log in a small state file instead of
 * memory: every reservation locks "<file>.lock" (fcntl), reads the file,
 * drops entries older than a minute, appends one and replaces the file, so N daemons together stay
 * under N requests per minute. The file also holds "slow until": a 429 seen
 * by any daemon (ao_ratelimit_penalize) holds back the requests of all of
 * them. A state file that cannot be written (disk full) falls back to a
 * budget per daemon (the in-memory log, kept in shared mode too), with a
 * warning in the log. Shared mode uses wall-clock milliseconds (CLOCK_REALTIME: the one
 * clock other machines share, within NTP's precision).
 */
#ifndef ANGOFS_RATELIMIT_H
#define ANGOFS_RATELIMIT_H

#include <pthread.h>

#include "angofs/sysutil.h" /* ao_sys_now_ms() */

/* Locks: rl->lock is a leaf held for moments only: the in-memory log, or
 * taking and giving back this process's turn at the shared state file. It is
 * never held while anything waits on another process: the caller sleeps for
 * a slot without it (ao_ratelimit_acquire), and in shared mode a thread
 * first takes the turn (file_busy; waiting for it on file_cv releases
 * rl->lock), then, with no mutex held, waits for the fcntl lock of
 * "<path>.lock" and reads and replaces the state file. The turn is needed
 * because fcntl locks belong to the process: it keeps this process's threads
 * from using the file at once. Order: turn, then the fcntl lock; rl->lock is
 * taken alone. */
struct ao_ratelimit {
	pthread_mutex_t lock;
	pthread_cond_t file_cv; /* file_busy cleared */
	int per_minute;		/* immutable after init; 0 = unlimited */
	int head, count;	/* lock */
	long long *ring;	/* lock; start times in ms, per_minute slots */
	long long slow_until;	/* lock; after a 429: no request before (same clock) */
	int file_busy;		/* lock; a thread has the turn at the shared file */
	int shared_failed;	/* lock; the shared file could not be written last
				 * time: the ring (this daemon's log) is enforced */
	/* fd, path: set by ao_ratelimit_share (under lock) at setup, before
	 * requests start; ao_ratelimit_now reads fd without the lock; the fcntl
	 * lock on fd and the state file: only the thread holding the turn */
	int fd;	    /* <path>.lock (one descriptor), -1: log in memory */
	char *path; /* shared state file */
};

int ao_ratelimit_init(struct ao_ratelimit *rl, int per_minute);
void ao_ratelimit_destroy(struct ao_ratelimit *rl);

/* Keep the log in the state file path (created 0600), shared with every
 * daemon using the same file. 0 or -errno (then the log stays in memory). */
int ao_ratelimit_share(struct ao_ratelimit *rl, const char *path);

/* The hub answered 429: no request (from any daemon sharing the state)
 * before now_ms + ms. */
void ao_ratelimit_penalize(struct ao_ratelimit *rl, long long now_ms, long long ms);

/* The clock reserve/penalize expect: monotonic in memory, wall clock when
 * shared. */
long long ao_ratelimit_now(const struct ao_ratelimit *rl);

/* Reserve a slot at time now_ms: returns 0 and records the request if one is
 * free, else the number of ms to wait before asking again (> 0). */
long long ao_ratelimit_reserve(struct ao_ratelimit *rl, long long now_ms);

/* Block (sleeping) until a slot is free, but at most max_wait_ms; returns 0
 * if reserved, -EAGAIN if the wait would exceed max_wait_ms, -EINTR as soon
 * as give_up() (may be NULL) says the caller gave up (checked every 100 ms). */
int ao_ratelimit_acquire(struct ao_ratelimit *rl, long long max_wait_ms, int (*give_up)(void));

#endif
