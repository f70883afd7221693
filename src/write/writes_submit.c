/*
 * writes_submit.c - handing a write to the hub in order (see writes_int.h):
 * ws_submit is close()'s and rename()'s upload (the content is final: it is
 * stamped as the newest write of its target, spool_order.h, fsync'ed, then
 * delivered once), and ws_deliver is every delivery attempt's gate, for
 * close() and the background sender alike: it takes the target's turn, so no
 * other write of the target is at the hub meanwhile, and sends only if no
 * newer write of the target was made since; else the entry is superseded.
 * The requests themselves are writes_send.c's (and the uploads'). Split from
 * writes_send.c by concern: the order of writes, not their requests.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "angofs/cancel.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "writes_int.h"

long long ws_stamp(struct ao_writes *w, const struct entry *e)
{
	char key[WS_KEY_MAX];

	spool_order_key(e->project, e->relpath, key, sizeof(key));
	return spool_order_stamp(w->order, key);
}

/* A newer write of e's target (stamp newest) exists: e is not sent. */
static void set_superseded(struct ao_writes *w, struct entry *e, long long newest)
{
	char msg[AO_ERR_MSG_MAX], when[64], task[256], what[400];
	time_t t = (time_t)(newest / 1000000);
	struct tm tm;
	size_t sent = 0;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < e->nchunks; i++)
		sent += e->chunks[i].state == CH_SENT;
	if (e->kind == EK_ANSWER && !ws_task_of(e->relpath, task, sizeof(task)))
		snprintf(what, sizeof(what),
			 "answer of task %.200s (answer.json or answer.next.json)", task);
	else
		snprintf(what, sizeof(what), "%.390s", e->relpath);
	snprintf(msg, sizeof(msg),
		 "not sent: a newer %s%s was written (closed at %s, by this or another daemon "
		 "sharing the cache) before this one was delivered%s",
		 e->kind == EK_ANSWER ? "" : "copy of ", what, when,
		 sent ? "; some of its requests had been sent before (see the list below)" : "");
	e->state = ST_SUPERSEDED;
	e->code = 0;
	e->http = 0;
	spool_entry_set_msg(e, msg);
	ws_save_locked(w, e);
	spool_unlink(w->spool_dir, e, "data");
	spool_unlink(w->spool_dir, e, "items");
	spool_unlink(w->spool_dir, e, "lines");
	ws_prune_sent(w, WS_SENT_KEEP);
	pthread_mutex_unlock(&w->mu);
	ao_info("write side: %s/%s superseded: %s", e->project, e->relpath, msg);
}

/* How long a close() waits for another daemon delivering a write of the
 * same target (one client call: 60 s deadline, and its last request) */
#define TURN_WAIT_MS 75000

/* One delivery attempt (bg: from the background sender, one request): with
 * the target's turn (no other write of it is at the hub meanwhile), and only
 * if no newer write of the target was made (spool_order.h). */
int ws_deliver(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err)
{
	char key[WS_KEY_MAX];
	long long newest;
	int r;

	pthread_mutex_lock(&w->mu);
	spool_order_key(e->project, e->relpath, key, sizeof(key));
	pthread_mutex_unlock(&w->mu);
	r = spool_order_turn(w->order, key, bg ? 0 : TURN_WAIT_MS);
	if (r < 0) {
		ao_errf(err, -r,
			"%s another write of this file (by a daemon sharing the cache) was being "
			"sent",
			r == -EINTR ? "interrupted while" : "not sent yet:");
		err->transient = 1;
		if (bg) { /* its turn comes soon: try again in a second */
			pthread_mutex_lock(&w->mu);
			e->next_try_ms = ao_sys_now_ms() + 1000;
			pthread_mutex_unlock(&w->mu);
		} else {
			ws_set_pending(w, e, err);
		}
		return r;
	}
	newest = spool_order_newest(w->order, key);
	if (newest > e->seq) {
		set_superseded(w, e, newest);
		r = 0;
	} else if (e->kind == EK_ANSWER) {
		r = ws_deliver_answer(w, e, bg, err);
	} else if (e->kind == EK_MEDIA) {
		r = ws_deliver_media(w, e, bg, err);
	} else if (e->kind == EK_MASK) {
		r = ws_deliver_mask(w, e, bg, err);
	} else {
		r = ws_deliver_dropbox(w, e, bg, err);
	}
	spool_order_turn_end(w->order, key);
	return r;
}

/* Wait on w->idle (w->mu held), waking every 250 ms to see whether the
 * caller's FUSE request was interrupted: -EINTR then. */
static int wait_idle_cancellable(struct ao_writes *w)
{
	return ao_cancel_cond_wait(&w->idle, &w->mu);
}

int ws_submit(struct ao_writes *w, struct entry *e, struct ao_err *err)
{
	char path[4096];
	struct stat st;
	int r, werr;

	pthread_mutex_lock(&w->mu);
	while (e->busy) {
		/* an earlier upload of this file is under way: wait for it, but
		 * not past an interrupt of our caller (the new bytes stay in the
		 * spool, marked changed: the next close sends them) */
		if (wait_idle_cancellable(w) < 0) {
			pthread_mutex_unlock(&w->mu);
			return ao_errf(err, EINTR,
				       "%s: interrupted while an earlier upload of this file was "
				       "being sent; the new content is kept",
				       e->relpath);
		}
	}
	e->busy = 1;
	e->dirty = 0;
	e->sent_gen = e->gen;
	e->state = ST_PENDING;
	e->prepared = 0;
	e->partly = 0;
	e->code = e->http = 0;
	e->attempts = 0;
	e->items = 0;
	e->export_records = 0;
	free(e->object_url); /* new content: a new upload */
	e->object_url = NULL;
	e->posts = 0;
	spool_entry_clear_chunks(e);
	spool_entry_set_msg(e, "being sent");
	spool_entry_set_detail(e, NULL);
	spool_path(w->spool_dir, e, "data", path, sizeof(path));
	e->size = stat(path, &st) == 0 ? st.st_size : 0;
	werr = e->write_err;
	/* the content is final: the newest write of its name on the spool */
	e->seq = ws_stamp(w, e);
	pthread_mutex_unlock(&w->mu);

	/* the bytes are on disk before anything else happens; a write that
	 * failed (the cache disk filled up) left only part of them */
	if (werr)
		r = ao_errf(err, werr, "writing the spool failed: %s", strerror(werr));
	else
		r = spool_fsync_path(path, err);
	pthread_mutex_lock(&w->mu);
	ws_save_locked(w, e);
	pthread_mutex_unlock(&w->mu);
	if (r == 0 && e->size == 0)
		r = ao_errf(err, EINVAL, "empty file: nothing to send");
	if (r < 0) { /* nothing to send, or the bytes may not be on disk */
		ws_set_failed(w, e, err, NULL);
		if (err->code == ENOSPC || err->code == EDQUOT) {
			pthread_mutex_lock(&w->mu);
			snprintf(err->msg, sizeof(err->msg), "%s", e->message);
			pthread_mutex_unlock(&w->mu);
		}
	} else
		r = ws_deliver(w, e, 0, err);
	pthread_mutex_lock(&w->mu);
	e->last_rc = r;
	ws_finish_locked(w, e);
	pthread_mutex_unlock(&w->mu);
	if (r < 0)
		ao_err_prefix(err, "%s", e->relpath);
	return r;
}
