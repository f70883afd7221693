/*
 * writes_bg.c - the write side's background sender: one thread that delivers
 * pending spool entries on their schedule (2 s doubling to 60 s after each
 * failed turn, one request per turn: HUB_ONE_ATTEMPT, the schedule is the
 * backoff) and adopts entries of daemons that stopped sharing the spool
 * (ws_rescan every WS_RESCAN_MS). Split from writes_send.c (delivery) by
 * concern. Locking: it takes w->mu to pick an entry, marks it busy, and
 * delivers without the lock (writes_int.h).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "writes_int.h"

static void *bg_main(void *arg)
{
	struct ao_writes *w = arg;

	long long next_scan = ao_sys_now_ms() + WS_RESCAN_MS;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct entry *e, *pick = NULL;
		long long now = ao_sys_now_ms(), next = now + 5000;
		struct timespec ts;

		if (now >= next_scan) {
			/* entries of daemons that stopped sharing this spool */
			pthread_mutex_unlock(&w->mu);
			ws_rescan(w);
			pthread_mutex_lock(&w->mu);
			next_scan = ao_sys_now_ms() + WS_RESCAN_MS;
			continue;
		}
		if (next_scan < next)
			next = next_scan;

		for (e = w->entries; e; e = e->next) {
			if (e->state != ST_PENDING || e->busy || e->opens)
				continue;
			if (e->next_try_ms <= now) {
				pick = e;
				break;
			}
			if (e->next_try_ms < next)
				next = e->next_try_ms;
		}
		if (pick) {
			struct ao_err err;

			pick->busy = 1;
			pick->dirty = 0;
			pick->sent_gen = pick->gen;
			pthread_mutex_unlock(&w->mu);
			int r = ws_deliver(w, pick, 1, &err);
			pthread_mutex_lock(&w->mu);
			if (r < 0 && pick->state == ST_PENDING &&
			    pick->next_try_ms <= ao_sys_now_ms()) {
				/* a failure that set no retry time (e.g. a spool file
				 * missing): back off, never spin */
				ao_warn("write side: %s/%s: %s; retrying in 10 s", pick->project,
					pick->relpath, err.msg);
				pick->next_try_ms = ao_sys_now_ms() + 10000;
			}
			ws_finish_locked(w, pick);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		{
			long long wait = next - now;

			if (wait < 50)
				wait = 50;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
		}
		pthread_cond_timedwait(&w->wake, &w->mu, &ts);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int ws_bg_start(struct ao_writes *w, struct ao_err *err)
{
	int r;

	if (w->bg_running)
		return 0;
	r = pthread_create(&w->bg, NULL, bg_main, w);
	if (r)
		return ao_errf(err, r, "starting the background sender: %s", strerror(r));
	w->bg_running = 1;
	return 0;
}

void ws_bg_stop(struct ao_writes *w)
{
	if (!w->bg_running)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->bg, NULL);
	w->bg_running = 0;
}
