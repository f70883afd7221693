/*
 * slot.c - a cached value with single-flight refresh, time to live and
 * degraded mode (include/angofs/slot.h).
 */
#include <errno.h>

#include "angofs/cancel.h"
#include "angofs/log.h"
#include "angofs/slot.h"

void ao_slot_init(struct ao_slot *s)
{
	pthread_mutex_init(&s->flight, NULL);
	s->at = 0;
}

void ao_slot_destroy(struct ao_slot *s)
{
	pthread_mutex_destroy(&s->flight);
}

void ao_slot_stamp(struct ao_slot *s)
{
	s->at = time(NULL);
}

void ao_slot_drop(struct ao_slot *s)
{
	s->at = 0;
}

/* guard held */
static int have(const struct ao_slot *s, const struct ao_slot_use *u)
{
	return u->have ? u->have(u->ud) : s->at != 0;
}

static int fresh(struct ao_slot *s, const struct ao_slot_use *u)
{
	long age = u->max_age ? u->max_age : u->ttl;

	pthread_mutex_lock(u->guard);
	int f = have(s, u) && s->at && time(NULL) - s->at < age;
	pthread_mutex_unlock(u->guard);
	return f;
}

int ao_slot_get(struct ao_slot *s, const struct ao_slot_use *u, struct ao_err *err)
{
	int rc = 0, kept = 0;

	if (fresh(s, u))
		return 0;
	if (ao_cancel_lock(&s->flight) < 0)
		return ao_errf(err, EINTR, "interrupted while waiting for %s", u->what);
	if (!fresh(s, u)) /* not refreshed by the caller we waited for */
		rc = u->fetch(u->ud, err);
	if (rc < 0 && (u->keep_on_failure || (err && err->transient))) {
		pthread_mutex_lock(u->guard);
		kept = have(s, u);
		if (kept && !u->keep_on_failure)
			s->at = time(NULL) - u->ttl + AO_SLOT_HOLD_S;
		pthread_mutex_unlock(u->guard);
	}
	pthread_mutex_unlock(&s->flight);
	if (kept && !u->keep_on_failure)
		ao_warn("hub unreachable (%s): serving the cached copy of %s", err->msg, u->what);
	return kept ? 0 : rc;
}
