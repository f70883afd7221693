/*
 * refresh.c - one refresh of an export cache entry for every daemon sharing
 * the cache directory: incremental when the cached generation allows it
 * (exports/incremental.c), else a full export; either way a new generation published under
 * byte 0 of H.lock exactly the same way (cachedir/cachedir.h), so readers of the old
 * generation keep it and other daemons adopt the new one.
 *
 * Network I/O and locks: what proves an incremental refresh (the project's
 * fingerprint, the task count) is asked before byte 0 is taken, and the
 * completeness check of a full export (the `fetched` hook) runs after it is
 * released; under byte 0 run only the export download itself (the
 * single-flight of the directory: other daemons wait for it rather than
 * download it too) and local file work. No mutex is held here.
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
#include "angofs/hub.h"
#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "incremental.h"
#include "records.h"

/* Remove generations nobody has open, other than the current one; caller
 * holds byte 0 (no publication can be under way) and not the mutex. */
static void sweep(struct ao_xcache *c, struct ao_xentry *e, int lfd, unsigned long long keep)
{
	unsigned long long held[64];
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < e->nholds && n < 64; i++)
		held[n++] = e->holds[i].dgen;
	pthread_mutex_unlock(&c->lock);
	cd_gen_sweep(c->dir, e->hash, lfd, keep, held, n);
}

/* Records and newest updatedAt of generation g, for the next incremental
 * refresh (-1 / 0 if it is not an export of task records), and its record
 * index H.g.idx (none if it has no task ids). */
static void scan_gen(struct ao_xcache *c, struct ao_xentry *e, unsigned long long g,
		     struct cd_meta *n)
{
	char p[4096], ip[4096], tmp[4200];
	struct ao_err err;
	int fd, ifd = -1;

	n->records = -1;
	n->hwm_us = 0;
	cd_data_path(c->dir, e->hash, g, p, sizeof(p));
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	cd_idx_path(c->dir, e->hash, g, ip, sizeof(ip));
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", ip);
	if (c->cfg.incr_full_s && e->type == AO_X_TASK && !e->batch_id)
		ifd = mkstemp(tmp);
	ao_err_clear(&err);
	int rc = xm_scan(fd, e->ndjson, ifd, &n->records, &n->hwm_us, &err);
	if (rc < 0) {
		ao_info("export: %s: %s", p, err.msg);
		if (rc != -ENOENT)
			n->records = -1; /* not an export of records */
		n->hwm_us = 0;
	}
	if (ifd >= 0) {
		if (close(ifd) < 0 || rc < 0 || rename(tmp, ip) < 0)
			unlink(tmp);
	}
	close(fd);
}

/* A full export as generation g; *n gets its meta. */
static int full_export(struct ao_xcache *c, struct ao_xentry *e, unsigned long long g,
		       const struct xc_incr *pl, struct cd_meta *n, struct xc_refresh *ri,
		       struct ao_err *err)
{
	struct ao_xspec s = {e->project_id, e->type, e->ndjson, e->stage_id, e->batch_id, e->lean};
	char *stages = NULL, *q = NULL;
	long long size = 0;
	int rc = 0;

	if (s.type == AO_X_TASK && !s.stage_id && c->hooks.all_stages)
		rc = c->hooks.all_stages(c->hooks.ud, s.project_id, &stages, err);
	if (rc == 0 && !(q = ao_xcache_query_stages(&c->cfg, &s, stages)))
		rc = ao_errf(err, ENOMEM, "out of memory");
	free(stages);
	if (rc == 0) {
		ri->requests += 2;	 /* GET /export and its download */
		xc_sample_changes(c, e); /* what this export holds */
		/* on a thread of its own (a cold open): readers may follow the file */
		struct xc_watch w;
		int watched = e->bg && xc_grow_watch(c, e, g, &w) == 0;
		rc = xc_download(c->cfg.hub, q, c->dir, e->hash, g, cd_wall_ms_of(ri->m0_ms),
				 &e->done, &e->total, &size, watched ? &w : NULL, err);
		if (watched)
			xc_grow_end(c, e, rc, size);
		ri->bytes = __atomic_load_n(&e->done, __ATOMIC_RELAXED);
	}
	free(q);
	if (rc < 0)
		return rc;
	memset(n, 0, sizeof(*n));
	n->gen = g;
	n->size = size;
	n->base_at = time(NULL);
	scan_gen(c, e, g, n);
	ri->records = n->records;
	if (pl->fp_known) {
		n->fp = pl->fp;
	} else if (c->cfg.incr_full_s && s.type == AO_X_TASK && !s.batch_id &&
		   c->hooks.project_fp) {
		struct ao_err ferr;
		ao_err_clear(&ferr);
		if (c->hooks.project_fp(c->hooks.ud, s.project_id, 0, &n->fp, &ri->requests,
					&ferr) < 0)
			n->fp = 0; /* no incremental refresh from this generation */
	}
	return 0;
}

/* Wait for byte 0, polling so an interrupt of our own reader is honoured (a
 * blocking F_SETLKW is not). *waited: another daemon held it. */
static int lock_publish(struct ao_xcache *c, struct ao_xentry *e, int lfd, int *waited,
			struct ao_err *err)
{
	int rc;

	while ((rc = ao_lock_byte(lfd, 0, F_WRLCK, 0)) == -EAGAIN && !ao_cancelled()) {
		*waited = 1;
		ao_sys_sleep_ms(250);
	}
	if (rc == -EAGAIN)
		return ao_errf(err, EINTR, "interrupted while waiting for the export download");
	if (rc < 0)
		return ao_errf(err, -rc, "export cache: locking %s/%s.lock: %s", c->dir, e->hash,
			       strerror(-rc));
	return 0;
}

int xc_publish(struct ao_xcache *c, struct ao_xentry *e, int lfd, const struct cd_meta *old,
	       struct cd_meta *n, struct ao_err *err)
{
	int rc = cd_meta_write(c->dir, e->hash, e->key, n);

	if (rc < 0) {
		char p[4096];
		cd_data_path(c->dir, e->hash, n->gen, p, sizeof(p));
		if (!old || old->gen != n->gen)
			unlink(p);
		return ao_errf(err, -rc, "export cache: writing %s/%s.meta: %s", c->dir, e->hash,
			       strerror(-rc));
	}
	sweep(c, e, lfd, n->gen);
	return 0;
}

/* New content: a new mtime, later than the old one even within its second
 * (rsync's quick check compares size and whole-second mtime: a same-size
 * change would be skipped); the one stat showed while it was stale if any (a
 * copy made by rsync then is of this content: a second run copies nothing).
 * n->fetched_at is set. */
void xc_new_mtime(const struct cd_meta *m, int had, struct cd_meta *n)
{
	if (had && m->stale && m->stale_at > m->mtime)
		n->mtime = m->stale_at;
	else
		n->mtime = had && m->mtime >= n->fetched_at ? m->mtime + 1 : n->fetched_at;
}

int xc_fetch_shared(struct ao_xcache *c, struct ao_xentry *e, int lfd, unsigned long long seen,
		    time_t shown_at, struct xc_refresh *ri, struct ao_err *err)
{
	struct ao_xspec s = {e->project_id, e->type, e->ndjson, e->stage_id, e->batch_id, e->lean};
	struct xc_incr pl = {0};
	struct cd_meta m, n;
	long long hub_total = -1;
	int rc, waited = 0;

	ri->mode = "full";
	if (cd_meta_read(c->dir, e->hash, e->key, &m, NULL) == 0 &&
	    (rc = xc_incr_prepare(c, e, &m, &pl, ri, err)) < 0)
		return rc;
	if ((rc = lock_publish(c, e, lfd, &waited, err)) < 0) {
		xc_incr_end(&pl);
		return rc;
	}
	rc = cd_meta_read(c->dir, e->hash, e->key, &m, NULL);
	if (rc == 0 && m.gen != seen && !m.stale) {
		ao_lock_byte(lfd, 0, F_UNLCK, 0);
		xc_incr_end(&pl);
		return XC_ADOPTED; /* published by another daemon while this one waited */
	}
	int had = rc == 0; /* a generation to replace */
	unsigned long long g = rc == 0 ? m.gen : 0, mx = cd_gen_max(c->dir, e->hash);
	g = (seen > g ? seen : g);
	g = (mx > g ? mx : g) + 1;
	if (pl.ok && (!had || m.gen != pl.gen || waited)) {
		pl.ok = 0; /* its count may be older than another daemon's download */
		snprintf(ri->why, sizeof(ri->why), "another daemon refreshed the export meanwhile");
	}
	int v = pl.ok ? xc_incr_run(c, e, &m, g, lfd, &pl, &n, ri, err) : XC_INCR_FULL;
	if (v == XC_INCR_STREAMING) {
		xc_incr_end(&pl);
		return XC_STREAMING; /* the writer publishes and unlocks */
	}
	if (v == XC_INCR_MERGED || v == XC_INCR_SAME) {
		ri->mode = v == XC_INCR_MERGED ? "incremental" : "unchanged";
		hub_total = pl.total;
		/* nothing changed: the generation stays, and the mtime (make,
		 * rsync redo nothing) unless stat showed a newer one while it
		 * was stale (touch, poll, a write) */
		n.mtime = v == XC_INCR_SAME
			      ? (m.stale && m.stale_at > m.mtime ? m.stale_at : m.mtime)
			      : 0;
	}
	xc_incr_end(&pl);
	rc = v < 0 ? v : 0;
	if (v == XC_INCR_FULL) {
		if (ri->why[0])
			ao_info("export: %s: a full export: %s", e->hash, ri->why);
		rc = full_export(c, e, g, &pl, &n, ri, err);
		/* the first generation after stat showed the export as not cached
		 * keeps the mtime stat showed (within the TTL): no jump at the
		 * first read */
		time_t now = time(NULL);
		n.mtime = !had && shown_at && now - shown_at < c->cfg.ttl_s ? shown_at : 0;
	}
	if (rc == 0) { /* both ways: publish n */
		n.fetched_at = time(NULL);
		n.stale = 0;
		n.stale_at = 0;
		if (!n.mtime)
			xc_new_mtime(&m, had, &n);
		rc = xc_publish(c, e, lfd, had ? &m : NULL, &n, err);
	}
	ao_lock_byte(lfd, 0, F_UNLCK, 0);
	/* the completeness check, outside the publish lock (it may ask the hub) */
	if (rc == 0 && c->hooks.fetched)
		c->hooks.fetched(c->hooks.ud, &s, NULL, n.size, n.records, hub_total);
	return rc < 0 ? rc : XC_PUBLISHED;
}
