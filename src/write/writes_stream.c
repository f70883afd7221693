/*
 * writes_stream.c - a labels/ file sent while it is prepared (see
 * writes_int.h): chunk k goes to the hub while chunk k+1 is parsed and
 * checked.
 *
 * Design: a preparer thread runs prep_labels_stream (labels_prep.h) over the
 * spooled bytes, writing the items and lines files as it goes and handing
 * each finished chunk to this file's queue; the delivering thread (close()'s
 * or the background sender's) takes the chunks in order (ws_stream_next) and
 * sends them with writes_send.c's loop, so only the first chunk's preparation
 * is on the critical path. Which files are handed over early is prep's rule
 * (NDJSON label items; every other form only once the whole file is known
 * good: docs/WRITES.md). Once the preparer found a problem, no further chunk
 * is handed out, even one already prepared: sending stops at the first
 * problem known, and the status names the problem and the requests that
 * went before it. A delivery that stops early (a transient failure, close()
 * interrupted) tells the preparer to stop and joins it.
 *
 * Resuming: a chunk enters e->chunks when it is handed out and its state is
 * persisted after its request (writes_send.c), while e->prepared stays 0
 * until the whole file is prepared. A delivery of an entry not prepared
 * (after a transient failure, a restart, an adoption) prepares it again from
 * its data and cuts its first chunks where the chunks already recorded end
 * (prep_stream.bounds), so a recorded chunk is the same items again and
 * keeps its state: a sent chunk is never sent twice.
 *
 * Locks: st->mu guards the queue, done, stop, rc and err; it is a leaf (the
 * preparer takes nothing else; the delivering thread takes w->mu only
 * without it). The entry is busy (writes_int.h) for the whole delivery, so
 * the delivering thread changes e->chunks under w->mu as writes_send.c does.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "angofs/log.h"
#include "labels_prep.h"
#include "writes_int.h"

struct ws_stream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct prep_chunk *ch; /* mu: chunks handed over, in order */
	size_t nch, cap;       /* mu */
	int done, stop, rc;    /* mu: prep ended (rc: its result); stop: asked to */
	struct ao_err err;     /* mu: prep's error (rc < 0) */
	int failed_seen;       /* delivering thread only: rc < 0 was handed out */
	/* the preparer's (read by the delivering thread once done) */
	struct prep_result res;
	struct prep_stream ps;
	long *bounds;
	struct schema *s;
	int in, out, lines;
	long max_items;
	size_t max_bytes;
	pthread_t th;
};

static int on_chunk(void *ud, size_t index, const struct prep_chunk *c)
{
	struct ws_stream *st = ud;
	int r = 0;

	pthread_mutex_lock(&st->mu);
	if (st->stop) {
		r = -ECANCELED;
	} else if (index != st->nch) {
		r = -EIO; /* prep hands chunks over once each, in order */
	} else {
		if (st->nch == st->cap) {
			size_t nc = st->cap ? st->cap * 2 : 16;
			struct prep_chunk *nb = realloc(st->ch, nc * sizeof(*nb));

			if (!nb)
				r = -ENOMEM;
			else {
				st->ch = nb;
				st->cap = nc;
			}
		}
		if (!r) {
			st->ch[st->nch++] = *c;
			pthread_cond_broadcast(&st->cv);
		}
	}
	pthread_mutex_unlock(&st->mu);
	return r;
}

static void *prep_main(void *arg)
{
	struct ws_stream *st = arg;
	struct ao_err err;
	int r;

	ao_err_clear(&err);
	r = prep_labels_stream(st->in, st->out, st->lines, DK_LABELS, st->s, st->max_items,
			       st->max_bytes, &st->ps, &st->res, &err);
	if (r == 0 && st->lines >= 0 && fsync(st->lines) < 0)
		ao_warn("write side: fsync of the lines file: %s", strerror(errno));
	pthread_mutex_lock(&st->mu);
	st->done = 1;
	st->rc = r;
	st->err = err;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

static void stream_free(struct ws_stream *st)
{
	if (st->in >= 0)
		close(st->in);
	if (st->out >= 0)
		close(st->out);
	if (st->lines >= 0)
		close(st->lines);
	sc_free(st->s);
	prep_result_free(&st->res);
	free(st->bounds);
	free(st->ch);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

int ws_stream_start(struct ao_writes *w, struct entry *e, struct ws_stream **out,
		    struct ao_err *err)
{
	char dpath[4096], ipath[4096], lpath[4096];
	struct ws_stream *st = calloc(1, sizeof(*st));
	int r;

	*out = NULL;
	if (!st)
		return ao_errf(err, ENOMEM, "out of memory");
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->in = st->out = st->lines = -1;
	if ((r = ws_get_schema(w, e->project, &st->s, err)) < 0) {
		if (err->transient)
			ws_set_pending(w, e, err);
		else
			ws_set_failed(w, e, err, NULL);
		stream_free(st);
		return r;
	}
	/* the chunks a previous attempt recorded: cut there again (e busy) */
	pthread_mutex_lock(&w->mu);
	if (e->nchunks) {
		st->bounds = calloc(e->nchunks, sizeof(*st->bounds));
		for (size_t i = 0; st->bounds && i < e->nchunks; i++)
			st->bounds[i] = e->chunks[i].count;
		st->ps.nbounds = st->bounds ? e->nchunks : 0;
	}
	pthread_mutex_unlock(&w->mu);
	if (e->nchunks && !st->bounds) {
		stream_free(st);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	spool_path(w->spool_dir, e, "data", dpath, sizeof(dpath));
	spool_path(w->spool_dir, e, "items", ipath, sizeof(ipath));
	spool_path(w->spool_dir, e, "lines", lpath, sizeof(lpath));
	st->in = open(dpath, O_RDONLY | O_CLOEXEC);
	st->out = open(ipath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (st->in < 0 || st->out < 0) {
		r = ao_errf(err, errno, "spool: %s", strerror(errno));
		stream_free(st);
		return r;
	}
	st->lines = open(lpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (st->lines < 0)
		ao_warn("write side: %s: %s (item line numbers unavailable)", lpath,
			strerror(errno));
	st->max_items = w->chunk_items;
	st->max_bytes = w->chunk_bytes;
	st->ps.chunk = on_chunk;
	st->ps.ud = st;
	st->ps.bounds = st->bounds;
	r = pthread_create(&st->th, NULL, prep_main, st);
	if (r) {
		stream_free(st);
		return ao_errf(err, r, "starting the preparation: %s", strerror(r));
	}
	*out = st;
	return 0;
}

/* Chunk index (handed out by prep) into e->chunks: a chunk recorded by an
 * earlier attempt keeps its state (the same items: prep cut it there). */
static int merge_chunk(struct ao_writes *w, struct entry *e, size_t index,
		       const struct prep_chunk *pc, struct ao_err *err)
{
	struct ent_chunk *c;

	pthread_mutex_lock(&w->mu);
	if (index >= e->nchunks) {
		struct ent_chunk *nb = realloc(e->chunks, (index + 1) * sizeof(*nb));

		if (!nb) {
			pthread_mutex_unlock(&w->mu);
			return ao_errf(err, ENOMEM, "out of memory");
		}
		memset(nb + e->nchunks, 0, (index + 1 - e->nchunks) * sizeof(*nb));
		e->chunks = nb;
		e->nchunks = index + 1;
	}
	c = &e->chunks[index];
	c->first = pc->first;
	c->count = pc->count;
	c->line_first = pc->line_first;
	c->line_last = pc->line_last;
	c->off = (long long)pc->off;
	c->len = (long long)pc->len;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* The whole file is prepared and good: the plan is complete. */
static void finish_plan(struct ao_writes *w, struct entry *e, struct ws_stream *st)
{
	pthread_mutex_lock(&w->mu);
	while (e->nchunks > st->nch) /* never, with the bounds; keep the plan exact */
		free(e->chunks[--e->nchunks].msg);
	e->items = st->res.items;
	e->form = st->res.form;
	e->export_records = st->res.export_records;
	e->prepared = 1;
	ws_save_locked(w, e);
	pthread_mutex_unlock(&w->mu);
}

int ws_stream_next(struct ao_writes *w, struct entry *e, struct ws_stream *st, size_t index,
		   struct ao_err *err)
{
	struct prep_chunk pc;

	pthread_mutex_lock(&st->mu);
	while (st->nch <= index && !st->done)
		pthread_cond_wait(&st->cv, &st->mu);
	if (st->done && st->rc < 0) {
		/* a problem is known: nothing more goes, prepared or not */
		int rc = st->rc;

		*err = st->err;
		st->failed_seen = 1;
		pthread_mutex_unlock(&st->mu);
		return rc;
	}
	if (st->nch > index) {
		pc = st->ch[index];
		pthread_mutex_unlock(&st->mu);
		return merge_chunk(w, e, index, &pc, err) < 0 ? -err->code : 1;
	}
	pthread_mutex_unlock(&st->mu);
	finish_plan(w, e, st);
	return 0;
}

/* The file was refused while (or before) its first chunks were sent: the
 * problems, and which requests went before the first one was found. */
static void set_refused(struct ao_writes *w, struct entry *e, struct ws_stream *st,
			struct ao_err *err)
{
	long sent = 0, items = 0, line = 0;

	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < e->nchunks; i++)
		if (e->chunks[i].state == CH_SENT || e->chunks[i].state == CH_REFUSED) {
			sent++;
			items = e->chunks[i].first + e->chunks[i].count;
			line = e->chunks[i].line_last;
		}
	/* the chunks not sent are dropped from the plan: the file is refused */
	while (e->nchunks && e->chunks[e->nchunks - 1].state == CH_TODO)
		free(e->chunks[--e->nchunks].msg);
	pthread_mutex_unlock(&w->mu);
	if (sent) {
		char m[AO_ERR_MSG_MAX];

		snprintf(m, sizeof(m),
			 "%.700s; sent before this was found: %ld request%s (items 1-%ld, "
			 "lines 1-%ld), nothing after them (an NDJSON file is sent as it is "
			 "checked; copying the fixed file again imports those items again, with "
			 "the same result)",
			 err->msg, sent, sent == 1 ? "" : "s", items, line);
		snprintf(err->msg, sizeof(err->msg), "%s", m);
	}
	ws_set_failed(w, e, err, st->res.rep.text);
	spool_unlink(w->spool_dir, e, "items");
}

int ws_stream_end(struct ao_writes *w, struct entry *e, struct ws_stream *st, struct ao_err *err)
{
	int refused;

	pthread_mutex_lock(&st->mu);
	st->stop = 1;
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->th, NULL);
	refused = st->failed_seen;
	if (refused)
		set_refused(w, e, st, err);
	stream_free(st);
	return refused;
}
