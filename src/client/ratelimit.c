/*
 * ratelimit.c - sliding-log request limiter (see include/angofs/ratelimit.h).
 * The ring holds the start times of the last per_minute requests; a request
 * may start once the oldest of them is 60 s old. Shared mode keeps the log
 * in a state file ({"t":[ms,...],"slow_until":ms}, JSON so it can be read by
 * a person), replaced (temp file + rename) under an fcntl lock on byte 0 of
 * "<file>.lock", which is never replaced. Never rewritten in place: another
 * machine's client may hold the old bytes and size in its page cache, while
 * a rename gives every reader a new file (measured on GlusterFS: in-place
 * rewrites under the lock lost updates, renames lost none).
 *
 * The shared state must be written to count: when it cannot be (the cache
 * disk is full, the filesystem lost its locks) each daemon falls back to its
 * own log in memory, which shared mode keeps up to date for that moment, and
 * says so in the log once (a budget per daemon, not none).
 *
 * The fcntl lock belongs to the process, so this process's threads take
 * turns at the file first (file_busy, see the struct's lock notes); a thread
 * waits for the fcntl lock, i.e. for another daemon, holding its turn but no
 * mutex, so nothing else of this process ever blocks behind another process
 * except a thread that wants the same file.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "angofs/ratelimit.h"

#define WINDOW_MS 60000LL

long long ao_ratelimit_now(const struct ao_ratelimit *rl)
{
	struct timespec ts;
	if (rl->fd < 0)
		return ao_sys_now_ms();
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ao_ratelimit_init(struct ao_ratelimit *rl, int per_minute)
{
	pthread_mutex_init(&rl->lock, NULL);
	pthread_cond_init(&rl->file_cv, NULL);
	rl->file_busy = 0;
	rl->per_minute = per_minute > 0 ? per_minute : 0;
	rl->head = rl->count = 0;
	rl->ring = NULL;
	rl->slow_until = 0;
	rl->fd = -1;
	rl->path = NULL;
	rl->shared_failed = 0;
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
	if (rl->fd >= 0)
		close(rl->fd);
	rl->fd = -1;
	free(rl->path);
	rl->path = NULL;
	pthread_cond_destroy(&rl->file_cv);
	pthread_mutex_destroy(&rl->lock);
}

int ao_ratelimit_share(struct ao_ratelimit *rl, const char *path)
{
	char lp[4200];
	snprintf(lp, sizeof(lp), "%s.lock", path);
	int fd = ao_lock_open(lp);
	char *p = strdup(path);
	if (fd < 0 || !p) {
		free(p);
		if (fd >= 0)
			close(fd);
		return fd < 0 ? fd : -ENOMEM;
	}
	pthread_mutex_lock(&rl->lock);
	if (rl->fd >= 0)
		close(rl->fd);
	free(rl->path);
	rl->fd = fd;
	rl->path = p;
	pthread_mutex_unlock(&rl->lock);
	return 0;
}

/* The shared log, read under the file lock; absent or unparsable = empty. */
static json_t *state_read(const char *path)
{
	json_t *j = json_load_file(path, 0, NULL);
	if (!json_is_object(j) || !json_is_array(json_object_get(j, "t"))) {
		json_decref(j);
		j = json_pack("{s:[],s:I}", "t", "slow_until", (json_int_t)0);
	}
	return j;
}

/* Replace the shared state: 0, or -errno (the disk is full: ENOSPC). */
static int state_write(const char *path, json_t *j)
{
	char tmp[4200];
	/* one writer at a time (the lock): a fixed temp name is enough */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	errno = EIO;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int bad = fd < 0 || json_dumpfd(j, fd, JSON_COMPACT) < 0;
	int e = errno;
	if (fd >= 0 && close(fd) < 0 && !bad)
		bad = 1, e = errno;
	if (!bad && rename(tmp, path) < 0)
		bad = 1, e = errno;
	if (!bad)
		return 0;
	if (fd >= 0)
		unlink(tmp); /* a partial temp file holds space the disk lacks */
	return -(e ? e : EIO);
}

/* The log in memory (rl->lock held): 0 and now_ms recorded, or the ms to
 * wait; enforce = 0 only records (the shared state holds the budget). In
 * shared mode it keeps this daemon's own history, so a shared state that
 * cannot be written (disk full) falls back to a budget per daemon at once. */
static long long ring_reserve(struct ao_ratelimit *rl, long long now_ms, int enforce)
{
	long long wait = 0;

	if (enforce && rl->slow_until > now_ms)
		wait = rl->slow_until - now_ms;
	else if (enforce && rl->count == rl->per_minute) {
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
	return wait;
}

/* The shared state could (ok) or could not be written: say so in the log
 * when that changes (rl->lock held). */
static void shared_health(struct ao_ratelimit *rl, int err)
{
	if (err && !rl->shared_failed)
		ao_warn("rate limit: cannot update the shared request budget %s: %s; counting "
			"this daemon's requests alone (%d a minute per daemon) until it can be "
			"written again",
			rl->path, strerror(-err), rl->per_minute);
	else if (!err && rl->shared_failed)
		ao_info("rate limit: the shared request budget %s is written again", rl->path);
	rl->shared_failed = err != 0;
}

/* Take this process's turn at the shared file, then its fcntl lock (no
 * mutex held while waiting for another daemon). 0, or -errno with the turn
 * given back (the filesystem lost its locks). */
static int file_turn_take(struct ao_ratelimit *rl)
{
	int r;

	pthread_mutex_lock(&rl->lock);
	while (rl->file_busy)
		pthread_cond_wait(&rl->file_cv, &rl->lock);
	rl->file_busy = 1;
	pthread_mutex_unlock(&rl->lock);
	r = ao_lock_byte(rl->fd, 0, F_WRLCK, 1);
	if (r < 0) {
		pthread_mutex_lock(&rl->lock);
		rl->file_busy = 0;
		pthread_cond_signal(&rl->file_cv);
		pthread_mutex_unlock(&rl->lock);
	}
	return r;
}

static void file_turn_give(struct ao_ratelimit *rl)
{
	ao_lock_byte(rl->fd, 0, F_UNLCK, 0);
	pthread_mutex_lock(&rl->lock);
	rl->file_busy = 0;
	pthread_cond_signal(&rl->file_cv);
	pthread_mutex_unlock(&rl->lock);
}

/* Reserve in the shared log (no lock held; takes the turn). */
static long long shared_reserve(struct ao_ratelimit *rl, long long now_ms)
{
	long long wait = 0;
	size_t i, recent = 0;
	json_t *j, *t, *keep, *v;

	int werr = 0;

	if ((werr = file_turn_take(rl)) < 0) {
		/* the filesystem lost its locks: a budget per daemon */
		pthread_mutex_lock(&rl->lock);
		shared_health(rl, werr);
		wait = ring_reserve(rl, now_ms, 1);
		pthread_mutex_unlock(&rl->lock);
		return wait;
	}
	j = state_read(rl->path);
	t = json_object_get(j, "t");
	keep = json_array();
	json_array_foreach(t, i, v)
	{
		long long x = json_integer_value(v);
		/* the last minute (and no further ahead than a skewed clock could be) */
		if (x > now_ms - WINDOW_MS && x < now_ms + WINDOW_MS)
			json_array_append(keep, v);
	}
	recent = json_array_size(keep);
	long long slow = json_integer_value(json_object_get(j, "slow_until"));
	if (slow > now_ms + 10 * WINDOW_MS)
		slow = 0; /* a clock far off wrote it: ignore */
	if (slow > now_ms)
		wait = slow - now_ms;
	else if (recent >= (size_t)rl->per_minute) {
		/* the entries are in order: the one that must age out first */
		long long oldest =
		    json_integer_value(json_array_get(keep, recent - (size_t)rl->per_minute));
		wait = oldest + WINDOW_MS - now_ms;
		if (wait <= 0)
			wait = 1;
	}
	if (!wait) {
		json_array_append_new(keep, json_integer(now_ms));
		json_object_set_new(j, "t", keep);
		werr = state_write(rl->path, j);
	} else {
		json_decref(keep);
	}
	json_decref(j);
	file_turn_give(rl);
	if (!wait) {
		pthread_mutex_lock(&rl->lock);
		shared_health(rl, werr);
		/* recorded in memory too; enforced there while the file is not */
		wait = ring_reserve(rl, now_ms, werr != 0);
		pthread_mutex_unlock(&rl->lock);
	}
	return wait;
}

long long ao_ratelimit_reserve(struct ao_ratelimit *rl, long long now_ms)
{
	long long wait = 0;

	if (!rl->per_minute)
		return 0;
	if (rl->fd >= 0)
		return shared_reserve(rl, now_ms);
	pthread_mutex_lock(&rl->lock);
	wait = ring_reserve(rl, now_ms, 1);
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

void ao_ratelimit_penalize(struct ao_ratelimit *rl, long long now_ms, long long ms)
{
	if (!rl->per_minute || ms <= 0)
		return;
	if (rl->fd >= 0 && file_turn_take(rl) == 0) {
		json_t *j = state_read(rl->path);
		int werr = 0;
		if (json_integer_value(json_object_get(j, "slow_until")) < now_ms + ms) {
			json_object_set_new(j, "slow_until", json_integer(now_ms + ms));
			werr = state_write(rl->path, j);
		}
		json_decref(j);
		file_turn_give(rl);
		if (!werr)
			return;
		pthread_mutex_lock(&rl->lock);
		shared_health(rl, werr);
		pthread_mutex_unlock(&rl->lock); /* and held back here at least */
	}
	pthread_mutex_lock(&rl->lock);
	if (rl->slow_until < now_ms + ms)
		rl->slow_until = now_ms + ms;
	pthread_mutex_unlock(&rl->lock);
}

int ao_ratelimit_acquire(struct ao_ratelimit *rl, long long max_wait_ms, int (*give_up)(void))
{
	long long start = ao_sys_now_ms();

	for (;;) {
		long long now = ao_sys_now_ms();
		long long w = ao_ratelimit_reserve(rl, ao_ratelimit_now(rl));
		if (!w)
			return 0;
		if (now + w - start > max_wait_ms)
			return -EAGAIN;
		/* slices: a reader's Ctrl-C or a stop ends the wait at once */
		for (long long end = now + w; ao_sys_now_ms() < end;) {
			if (give_up && give_up())
				return -EINTR;
			long long left = end - ao_sys_now_ms();
			ao_sys_sleep_ms(left < 100 ? (left > 0 ? left : 1) : 100);
		}
	}
}
