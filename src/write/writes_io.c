/*
 * writes_io.c - I/O on the write side's open handles (see writes.h): reads and
 * writes go straight to the entry's data file in the spool (pread/pwrite, no
 * copy in memory); flush is where an upload happens and what close() returns.
 * A descriptor through which nothing was written yet does not upload an empty
 * file: a shell's `> file` closes its first descriptor before the command writes
 * through the dup'ed one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/log.h"
#include "labels_prep.h"
#include "writes_int.h"

/* ---- I/O on handles ---- */

/* Take w->mu and find handle fh: 0 with *hp set (w->mu held), or -EBADF
 * (w->mu released) when there is none or, for_write, when it is not a spool
 * handle open for writing. */
static int lock_handle(struct ao_writes *w, uint64_t fh, int for_write, struct handle **hp,
		       struct ao_err *err)
{
	struct handle *h = NULL;

	pthread_mutex_lock(&w->mu);
	h = ws_get_handle(w, fh);
	if (h && (!for_write || (h->e && h->writable))) {
		*hp = h;
		return 0;
	}
	pthread_mutex_unlock(&w->mu);
	return ao_errf(err, EBADF, for_write ? "file not open for writing" : "bad file handle");
}

/* A change through the writable handle h (w->mu held): its entry is dirty,
 * a new generation, being written; wrote: bytes came through h. */
static void mark_changed(struct ao_writes *w, struct handle *h, int wrote)
{
	struct entry *e = h->e;

	e->dirty = 1;
	e->gen++;
	h->unflushed = 1;
	if (wrote)
		h->wrote = 1;
	if (e->state != ST_WRITING && !e->busy) {
		e->state = ST_WRITING;
		ws_save_locked(w, e);
	}
}

/* A write or truncate through fh failed (code: errno): the entry's bytes are
 * not what its writer meant, so its close() must not send them. */
static void data_failed(struct ao_writes *w, uint64_t fh, int code)
{
	struct handle *h;

	pthread_mutex_lock(&w->mu);
	h = ws_get_handle(w, fh);
	if (h && h->e && !h->e->write_err) {
		h->e->write_err = code;
		ao_warn("write side: %s/%s: writing the spool in %s: %s", h->e->project,
			h->e->relpath, w->spool_dir, strerror(code));
	}
	pthread_mutex_unlock(&w->mu);
}

ssize_t ao_writes_read(struct ao_writes *w, uint64_t fh, char *buf, size_t size, off_t off,
		       struct ao_err *err)
{
	struct handle *h = NULL;
	ssize_t n;
	int fd;

	if ((n = lock_handle(w, fh, 0, &h, err)) < 0)
		return n;
	if (!h->e) {
		n = 0;
		if (off >= 0 && (size_t)off < h->snaplen) {
			n = (ssize_t)(h->snaplen - (size_t)off < size ? h->snaplen - (size_t)off
								      : size);
			memcpy(buf, h->snap + off, (size_t)n);
		}
		pthread_mutex_unlock(&w->mu);
		return n;
	}
	fd = h->fd;
	pthread_mutex_unlock(&w->mu);
	n = pread(fd, buf, size, off);
	if (n < 0)
		return ao_errf(err, errno, "spool: read: %s", strerror(errno));
	return n;
}

ssize_t ao_writes_write(struct ao_writes *w, uint64_t fh, const char *buf, size_t size, off_t off,
			struct ao_err *err)
{
	struct handle *h = NULL;
	ssize_t n;
	int fd;

	if ((n = lock_handle(w, fh, 1, &h, err)) < 0)
		return n;
	mark_changed(w, h, 1);
	fd = h->fd;
	pthread_mutex_unlock(&w->mu);
	n = pwrite(fd, buf, size, off);
	if (n < 0) {
		n = ao_errf(err, errno, "spool: write: %s", strerror(errno));
		data_failed(w, fh, (int)-n);
	}
	return n;
}

int ao_writes_ftruncate(struct ao_writes *w, uint64_t fh, off_t size, struct ao_err *err)
{
	struct handle *h = NULL;
	int fd, r;

	if ((r = lock_handle(w, fh, 1, &h, err)) < 0)
		return r;
	mark_changed(w, h, size > 0);
	if (size == 0)
		h->e->write_err = 0; /* starting from empty again */
	fd = h->fd;
	pthread_mutex_unlock(&w->mu);
	if (ftruncate(fd, size) < 0) {
		r = ao_errf(err, errno, "spool: truncate: %s", strerror(errno));
		data_failed(w, fh, -r);
		return r;
	}
	return 0;
}

int ao_writes_fgetattr(struct ao_writes *w, uint64_t fh, struct stat *st, struct ao_err *err)
{
	struct handle *h = NULL;
	struct stat ds;
	int r;

	if ((r = lock_handle(w, fh, 0, &h, err)) < 0)
		return r;
	if (!h->e) {
		ws_fill_stat(st, 0444, (off_t)h->snaplen, time(NULL));
	} else if (fstat(h->fd, &ds) < 0) {
		r = ao_errf(err, errno, "spool: %s", strerror(errno));
	} else {
		ws_fill_stat(st, w->cfg.read_only ? 0444 : 0644, ds.st_size, ds.st_mtime);
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_flush(struct ao_writes *w, uint64_t fh, struct ao_err *err)
{
	struct handle *h = NULL;
	struct entry *e;
	struct stat st;
	int r;

	if ((r = lock_handle(w, fh, 0, &h, err)) < 0)
		return r;
	h->unflushed = 0; /* a descriptor of it is being closed */
	e = h->e;
	if (!e || !h->writable || e->kind == EK_SCRATCH ||
	    ws_find(w, e->project, e->relpath) != e) {
		pthread_mutex_unlock(&w->mu);
		return 0;
	}
	if (!e->dirty) { /* unchanged since the last upload: report that again */
		r = h->last_rc;
		if (r < 0)
			ao_errf(err, -r, "%s: %s", e->relpath,
				e->message ? e->message : strerror(-r));
		pthread_mutex_unlock(&w->mu);
		return r;
	}
	if (!h->wrote && fstat(h->fd, &st) == 0 && st.st_size == 0) {
		/* Nothing written through this descriptor yet: a shell's `> file`
		 * closes its first descriptor before the command writes through the
		 * dup'ed one. Report it, keep the entry open for writing; release
		 * records the refusal if nothing ever comes. */
		pthread_mutex_unlock(&w->mu);
		return ao_errf(err, EINVAL, "%s: empty file: nothing to send", e->relpath);
	}
	e->opens++; /* keep e alive while uploading without the lock */
	pthread_mutex_unlock(&w->mu);
	if (fsync(h->fd) < 0)
		ao_warn("write side: fsync: %s", strerror(errno));
	r = ws_submit(w, e, err);
	pthread_mutex_lock(&w->mu);
	e->opens--;
	h = ws_get_handle(w, fh);
	if (h)
		h->last_rc = r;
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_fsync(struct ao_writes *w, uint64_t fh, struct ao_err *err)
{
	struct handle *h = NULL;
	int fd;

	pthread_mutex_lock(&w->mu);
	h = ws_get_handle(w, fh);
	fd = h && h->e ? h->fd : -1;
	pthread_mutex_unlock(&w->mu);
	if (fd >= 0 && fsync(fd) < 0)
		return ao_errf(err, errno, "spool: fsync: %s", strerror(errno));
	return 0;
}

int ao_writes_release(struct ao_writes *w, uint64_t fh)
{
	struct handle *h = NULL;
	struct entry *e;

	pthread_mutex_lock(&w->mu);
	h = ws_get_handle(w, fh);
	if (!h) {
		pthread_mutex_unlock(&w->mu);
		return -EBADF;
	}
	e = h->e;
	if (h->fd >= 0)
		close(h->fd);
	free(h->snap);
	memset(h, 0, sizeof(*h));
	if (e) {
		e->opens--;
		if (e->opens == 0 && e->state == ST_WRITING && e->dirty && e->kind != EK_SCRATCH &&
		    ws_find(w, e->project, e->relpath) == e) {
			struct stat ds;
			char path[4096];

			ws_data_path(w, e, path, sizeof(path));
			if (stat(path, &ds) == 0 && ds.st_size == 0) {
				e->state = ST_FAILED;
				e->code = EINVAL;
				spool_entry_set_msg(e, "empty file: nothing was sent");
				ws_save_locked(w, e);
			} else if (!e->busy) {
				/* its close() never submitted (interrupted while an
				 * earlier upload ran): the background sender sends it */
				ws_requeue_locked(w, e);
			}
		}
		/* an answer opened for writing and closed unchanged: nothing to send */
		if (e->opens == 0 && e->seeded && !e->dirty && e->state == ST_WRITING &&
		    ws_find(w, e->project, e->relpath) == e) {
			ws_discard(w, e);
			e = NULL;
		}
		/* discarded while open: free it now that nobody uses it */
		if (e && e->opens == 0 && !e->busy && ws_find(w, e->project, e->relpath) != e)
			spool_entry_free(e);
	}
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

json_t *ao_writes_status(struct ao_writes *w)
{
	json_t *pending = json_array(), *failed = json_array(), *partly = json_array();
	struct entry *e;
	long sent = 0, superseded = 0;

	pthread_mutex_lock(&w->mu);
	for (e = w->entries; e; e = e->next) {
		json_t *o;

		if (e->kind == EK_SCRATCH)
			continue;
		if (e->state == ST_SENT || e->state == ST_SUPERSEDED) {
			sent += e->state == ST_SENT;
			superseded += e->state == ST_SUPERSEDED;
			if (e->state == ST_SENT && e->partly) /* items matched no asset */
				json_array_append_new(
				    partly, json_pack("{s:s,s:s,s:s?}", "project", e->project,
						      "path", e->relpath, "message", e->message));
			continue;
		}
		o = json_pack("{s:s,s:s,s:s,s:s?}", "project", e->project, "path", e->relpath,
			      "state", spool_entry_state_name(e->state), "message", e->message);
		json_array_append_new(
		    e->state == ST_FAILED || e->state == ST_UNCERTAIN ? failed : pending, o);
	}
	pthread_mutex_unlock(&w->mu);
	return json_pack("{s:o,s:o,s:I,s:I,s:o}", "pending", pending, "failed", failed, "sent",
			 (json_int_t)sent, "superseded", (json_int_t)superseded, "partly_matched",
			 partly);
}
