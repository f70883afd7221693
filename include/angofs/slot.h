/*
 * slot.h - one cached value of the hub (the project list, a project's
 * details, its task list, its asset list) refreshed by one request at a
 * time and kept for a time to live.
 *
 * The rule, written once: a fresh value is served without a lock held
 * across anything; a stale one is refreshed by one caller while the others
 * that want this same value wait for it (an interrupt ends their wait with
 * EINTR) and then find it fresh; when the hub is unreachable (a transient
 * failure) the last good copy is served instead of the error and counts as
 * fresh for AO_SLOT_HOLD_S more seconds, so a down hub costs one bounded
 * retry loop per hold, not one per file access.
 *
 * Locks: `flight` is held across the refresh (before the guard, never
 * while holding it); `at` and the value itself are the guard's (the
 * caller's leaf mutex, taken for moments).
 */
#ifndef ANGOFS_SLOT_H
#define ANGOFS_SLOT_H

#include <pthread.h>
#include <time.h>

#include "angofs/err.h"

#define AO_SLOT_HOLD_S 10

struct ao_slot {
	pthread_mutex_t flight; /* single flight of the refresh */
	time_t at;		/* guard: when the value was fetched; 0: never, or dropped */
};

/* How a slot is read: everything but the slot itself. */
struct ao_slot_use {
	pthread_mutex_t *guard; /* the lock of the value and of `at` */
	long ttl;		/* the value is fresh this many seconds */
	long max_age;		/* 0: ttl; else fresh only if younger than this */
	/* refresh (flight held, guard not): publishes the value and calls
	 * ao_slot_stamp under guard; 0 or -errno with err */
	int (*fetch)(void *ud, struct ao_err *err);
	/* guard held: 1 if there is a copy (NULL: there is one when at != 0) */
	int (*have)(void *ud);
	void *ud;
	const char *what; /* for messages: "the task list of <id>" */
	/* a failed refresh of any kind keeps the copy silently, without
	 * prolonging it (a negative lookup's early refresh) */
	int keep_on_failure;
};

void ao_slot_init(struct ao_slot *s);
void ao_slot_destroy(struct ao_slot *s);
/* Make the value fresh (refresh it unless it is): 0 with a value to read
 * under guard, or -errno (EINTR: interrupted while waiting). */
int ao_slot_get(struct ao_slot *s, const struct ao_slot_use *u, struct ao_err *err);
/* Guard held: the value was fetched just now. */
void ao_slot_stamp(struct ao_slot *s);
/* Guard held: refresh at the next ao_slot_get (the copy stays for a
 * degraded answer). */
void ao_slot_drop(struct ao_slot *s);

#endif
