/*
 * xstream.c - an incrementally merged generation served while it is written.
 *
 * An incremental refresh of a large export changes a few records but still
 * writes the whole new generation (the unchanged runs copied from the old
 * one): ~0.5 s per 500 MB, and the reader who asked then reads it all
 * through FUSE again. Design choice: the two overlap. A dry run of the merge
 * (xmout.c, writing nothing) first proves the result the same way the merge
 * does (records against the hub's count, a task entering a stage view, an
 * identical result) and gives its exact size; then generation g is written
 * by a thread of its own under its final name <hash>.<g>.data (no meta names
 * it yet, byte 0 of H.lock is held: no other daemon looks at it), and this
 * daemon adopts it at once (size, mtime: what stat shows). Its readers (the
 * FUSE read path only: ao_xcache_open_ex(streamed)) get the growing file and
 * wait in ao_xcache_wait for the bytes they ask for; every other user of the
 * cache (datasets, task listings) still waits for the published file. The
 * writer thread publishes H.meta like any refresh, releases byte 0, runs the
 * completeness hook and ends the fetch (xc_fetch_done), so other daemons see
 * exactly what they saw before: one atomic publication.
 *
 * If the writing fails (disk full), the bytes already written stay readable,
 * later ones get EIO, and the entry goes back to the old generation; the
 * hub's faults all happen before (the incremental export, the count), and
 * leave the old generation served as before.
 *
 * Locks: the stream fields of an entry are c->lock's; the writer thread
 * holds no mutex while writing, takes c->lock for moments to tell its
 * progress (readers sleep on c->cond), and holds byte 0 of H.lock from the
 * refresh that started it until it has published.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "angofs/cancel.h"
#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "xincr.h"

struct job {
	struct ao_xcache *c;
	struct ao_xentry *e;
	int lfd, ofd, oifd, dfd, ifd;
	struct xs_meta m, n; /* the old generation's meta, the new one's */
	struct xm_changes ch;
	long long total; /* the hub's count the result was proven by */
	struct xc_refresh ri;
	unsigned long covers0; /* e->covers of the old generation (back to it on failure) */
	char dpath[4096], ipath[4096], itmp[4200];
};

static void progress(void *ud, long long bytes)
{
	struct job *j = ud;

	pthread_mutex_lock(&j->c->lock);
	j->e->stream_ready = bytes;
	pthread_cond_broadcast(&j->c->cond);
	pthread_mutex_unlock(&j->c->lock);
}

static void job_free(struct job *j)
{
	if (j->ofd >= 0)
		close(j->ofd);
	if (j->oifd >= 0)
		close(j->oifd);
	if (j->dfd >= 0)
		close(j->dfd);
	if (j->ifd >= 0)
		close(j->ifd);
	xm_changes_free(&j->ch);
	free(j);
}

/* Write, publish, unlock byte 0, end the fetch. */
static void *job_main(void *arg)
{
	struct job *j = arg;
	struct ao_xcache *c = j->c;
	struct ao_xentry *e = j->e;
	struct xm_view v = {e->stage_id, !e->stage_id};
	struct xm_progress prog = {progress, j};
	struct xm_result res;
	struct ao_err err;
	int rc;

	ao_err_clear(&err);
	/* the dry run read both from their current offsets */
	if (lseek(j->ofd, 0, SEEK_SET) < 0 || lseek(j->oifd, 0, SEEK_SET) < 0)
		rc = ao_errf(&err, errno, "export cache: %s", strerror(errno));
	else
		rc = xm_merge_p(j->ofd, j->oifd, e->ndjson, &j->ch, &v, j->dfd, j->ifd, &prog, &res,
				&err);
	if (rc == 0 && (res.size != j->n.size || res.records != j->n.records))
		rc = ao_errf(
		    &err, EIO,
		    "export cache: the merge wrote %lld bytes and %lld records, its dry run "
		    "said %lld and %lld",
		    res.size, res.records, j->n.size, j->n.records);
	if (close(j->dfd) < 0 && rc == 0)
		rc =
		    ao_errf(&err, errno, "export cache: writing %s: %s", j->dpath, strerror(errno));
	if (close(j->ifd) < 0 && rc == 0)
		rc = ao_errf(&err, errno, "export cache: writing %s: %s", j->itmp, strerror(errno));
	j->dfd = j->ifd = -1;
	if (rc == 0 && rename(j->itmp, j->ipath) < 0)
		rc = ao_errf(&err, errno, "export cache: %s: %s", j->ipath, strerror(errno));
	if (rc == 0)
		rc = xc_publish(c, e, j->lfd, &j->m, &j->n, &err);
	if (rc < 0) {
		unlink(j->dpath); /* readers keep their descriptors */
		unlink(j->itmp);
		unlink(j->ipath);
	}
	ao_lock_byte(j->lfd, 0, F_UNLCK, 0);
	if (rc == 0 && c->hooks.fetched) {
		struct ao_xspec s = {e->project_id, e->type,	 e->ndjson,
				     e->stage_id,   e->batch_id, e->lean};
		c->hooks.fetched(c->hooks.ud, &s, NULL, j->n.size, j->n.records, j->total);
	}
	j->ri.ms = ao_sys_now_ms() - j->ri.m0_ms;
	j->ri.at = time(NULL);
	pthread_mutex_lock(&c->lock);
	if (rc < 0) {
		ao_warn("export: writing %s generation %llu failed after %lld of %lld bytes: %s",
			e->hash, e->stream_dgen, e->stream_ready, e->stream_size, err.msg);
		e->bad_id = e->stream_id;
		e->bad_ready = e->stream_ready;
	} else {
		e->stream_ready = e->stream_size;
	}
	e->stream_dgen = 0;
	e->stream_id = 0;
	if (rc < 0) {
		e->covers = j->covers0;
		xc_refresh(c, e, 1); /* back to the generation on disk */
	}
	xc_fetch_done(c, e, rc, &j->ri, &err);
	e->served_stale = 0;
	e->hold_until = time(NULL) + 10;
	c->streams--;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	job_free(j);
	return NULL;
}

/* The dry run: MERGED (res proves a new generation), FULL, SAME, or
 * -errno; -EINVAL: let merge_into decide. */
static int dry_run(struct ao_xentry *e, int ofd, int oifd, struct xm_changes *ch, long long total,
		   struct xm_result *res, struct xc_refresh *ri, struct ao_err *err)
{
	struct xm_view v = {e->stage_id, !e->stage_id};
	int rc = xm_merge_p(ofd, oifd, e->ndjson, ch, &v, -1, -1, NULL, res, err);

	return rc == -EINVAL ? rc : xc_incr_judge(rc, res, total, ri, err);
}

/* Start j's thread, j->n adopted first (so its first reader finds it). */
static int start(struct job *j)
{
	struct ao_xcache *c = j->c;
	struct ao_xentry *e = j->e;
	int rc;

	pthread_mutex_lock(&c->lock);
	e->stream_dgen = j->n.gen;
	e->stream_ready = 0;
	e->stream_size = j->n.size;
	j->covers0 = e->covers;
	e->covers = e->fetch_from; /* what it holds (export_cache.c, fetched_covers) */
	xc_adopt(c, e, &j->n);
	e->stream_id = e->gen; /* new (the disk number may be a failed one's) */
	c->streams++;
	pthread_mutex_unlock(&c->lock);
	rc = ao_sys_thread_detached(job_main, j);
	if (rc == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	e->bad_id = e->stream_id; /* an open of it meanwhile reads nothing */
	e->bad_ready = 0;
	e->stream_dgen = 0;
	e->stream_id = 0;
	c->streams--;
	e->covers = j->covers0;
	xc_refresh(c, e, 1);
	pthread_mutex_unlock(&c->lock);
	return -rc;
}

int xc_stream_try(struct ao_xcache *c, struct ao_xentry *e, const struct xs_meta *m,
		  unsigned long long g, int lfd, struct xm_changes *ch, long long total,
		  const struct xs_meta *out, struct xc_refresh *ri, struct ao_err *err)
{
	struct job *j = calloc(1, sizeof(*j));
	struct xm_result res;
	char op[4096], oi[4096];
	int rc;

	if (!j)
		return XC_INCR_NOT_STREAMED;
	j->c = c;
	j->e = e;
	j->lfd = lfd;
	j->dfd = j->ifd = -1;
	xs_data_path(c->dir, e->hash, m->gen, op, sizeof(op));
	xs_idx_path(c->dir, e->hash, m->gen, oi, sizeof(oi));
	j->ofd = open(op, O_RDONLY | O_CLOEXEC);
	j->oifd = open(oi, O_RDONLY | O_CLOEXEC);
	if (j->ofd < 0 || j->oifd < 0) {
		job_free(j);
		return XC_INCR_NOT_STREAMED; /* no index: merge_into scans the old file */
	}
	rc = dry_run(e, j->ofd, j->oifd, ch, total, &res, ri, err);
	if (rc == -EINVAL)
		ao_info("export: %s: %s: merging without it", oi, err->msg);
	if (rc != XC_INCR_MERGED) {
		job_free(j);
		return rc == -EINVAL ? XC_INCR_NOT_STREAMED : rc;
	}
	xs_data_path(c->dir, e->hash, g, j->dpath, sizeof(j->dpath));
	xs_idx_path(c->dir, e->hash, g, j->ipath, sizeof(j->ipath));
	snprintf(j->itmp, sizeof(j->itmp), "%s.tmp-XXXXXX", j->ipath);
	/* under its final name: no meta names g and byte 0 is held, so no
	 * other daemon opens it; left over by a crash, the next sweep removes it */
	j->dfd = open(j->dpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (j->dfd < 0 || (j->ifd = mkstemp(j->itmp)) < 0) {
		rc = ao_errf(err, errno, "export cache: %s: %s", j->dfd < 0 ? j->dpath : j->itmp,
			     strerror(errno));
		if (j->dfd >= 0)
			unlink(j->dpath);
		job_free(j);
		return rc;
	}
	j->m = *m;
	j->n = *out;
	j->n.gen = g;
	j->n.size = res.size;
	j->n.records = res.records;
	j->n.fetched_at = time(NULL);
	j->n.stale = 0;
	j->n.stale_at = 0;
	xc_new_mtime(m, 1, &j->n);
	j->total = total;
	ri->indexed = 1;
	ri->streamed = 1;
	ri->mode = "incremental";
	j->ri = *ri;
	j->ch = *ch;
	memset(ch, 0, sizeof(*ch));
	if ((rc = start(j)) < 0) {
		*ch = j->ch; /* the caller merges it itself */
		memset(&j->ch, 0, sizeof(j->ch));
		unlink(j->dpath);
		unlink(j->itmp);
		job_free(j);
		ao_info("export: %s: no writer thread (%s): merging in place", e->hash,
			strerror(-rc));
		return XC_INCR_NOT_STREAMED;
	}
	return XC_INCR_STREAMING;
}

int ao_xcache_wait(struct ao_xcache *c, struct ao_xentry *e, unsigned long id, long long end,
		   struct ao_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (e->bad_id == id && end > e->bad_ready) {
			rc = ao_errf(
			    err, EIO,
			    "export cache: writing %s failed after %lld bytes (see the log); "
			    "open the file again",
			    e->hash, e->bad_ready);
			break;
		}
		long long need = end < e->stream_size ? end : e->stream_size;
		if (e->stream_id != id || e->stream_ready >= need)
			break;
		if (ao_cancel_cond_wait(&c->cond, &c->lock) < 0) {
			rc = ao_errf(err, EINTR, "interrupted while the export was written");
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void ao_xcache_drain(struct ao_xcache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	while (c->streams > 0)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}
