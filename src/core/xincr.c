/*
 * xincr.c - incremental refresh of a cached task export (design:
 * docs/DESIGN-NOTES.md, "Incremental export refresh").
 *
 * A stale generation that carries its newest task updatedAt (H.meta "hwm"),
 * its record count and the project fingerprint it was made with is brought
 * up to date with one export of the tasks changed since: `updatedAt {"$gt":
 * hwm - margin}`, every stage (so a task that left a stage view is seen with
 * its new stage), the other filters as the full export's. The changed
 * records are merged into a new generation (xmerge.c), which is published
 * like a full download (xrefresh.c). Anything the merge cannot prove falls
 * back to a full export: the project's fingerprint changed (stages, batches,
 * categorySchema, updatedAt), the hub ignored the filter (a record not newer
 * than the bound), the hub's clock runs ahead of ours by more than the
 * margin, a task entered a stage view (its place is unknown), a malformed or
 * duplicated record, or a merged count that differs from GET
 * /project/{id}/tasks `total` for the same filter (a deletion: nothing in an
 * incremental export says a task is gone). Issue exports and batch views are
 * always fetched whole (no count to prove them by). A full export is also
 * made at least every incr_full_s seconds: signed URLs in unchanged records
 * were signed at that export and must not expire in the cache.
 *
 * Before the publish lock (xc_incr_prepare) the count starts in a thread of
 * its own while the fingerprint is asked; it is joined before the
 * incremental export is asked for. The count always comes first: a task
 * created after it is in the export and makes the merged count exceed it,
 * a task deleted before it makes the merged count exceed it too (both: a
 * full export), so an equal count means the merged file holds exactly the
 * tasks of the count's moment, with their content at the export's. A task
 * deleted between the two is still in it, as in a full export made a moment
 * earlier, and the next refresh's count catches it (docs/DESIGN-NOTES.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/hub.h"
#include "angofs/log.h"
#include "xincr.h"
#include "xmerge.h"

#define US 1000000LL

static void why(struct xc_refresh *ri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(struct xc_refresh *ri, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ri->why, sizeof(ri->why), fmt, ap);
	va_end(ap);
}

static void spec_of(const struct ao_xentry *e, struct ao_xspec *s)
{
	*s =
	    (struct ao_xspec){e->project_id, e->type, e->ndjson, e->stage_id, e->batch_id, e->lean};
}

/* A hub error a full export would meet too: fail the refresh. */
static int hub_failed(int rc, const struct ao_err *err)
{
	return rc < 0 && (err->transient || rc == -EINTR);
}

/* GET /project/{id}/tasks total for the view (its own thread). */
static void *count_main(void *arg)
{
	struct xc_incr *pl = arg;
	struct ao_xcache *c = pl->c;

	pl->count_rc = c->hooks.count(c->hooks.ud, &pl->spec, &pl->total, &pl->count_err);
	return NULL;
}

int xc_incr_prepare(struct ao_xcache *c, struct ao_xentry *e, const struct xs_meta *m,
		    struct xc_incr *pl, struct xc_refresh *ri, struct ao_err *err)
{
	time_t now = time(NULL);
	int rc;

	memset(pl, 0, sizeof(*pl));
	if (!c->cfg.incr_full_s)
		return 0; /* off: full exports, nothing to explain */
	if (e->type != AO_X_TASK || e->batch_id) {
		why(ri, "%s are always exported whole",
		    e->type != AO_X_TASK ? "issue exports" : "batch views");
		return 0;
	}
	if (m->hwm_us <= 0 || m->records < 0 || !m->fp || !m->base_at) {
		why(ri, "the cached generation carries no incremental state");
		return 0;
	}
	if (now - m->base_at >= c->cfg.incr_full_s || now < m->base_at) {
		why(ri, "the last full export is %llds old (incremental=%ld)",
		    (long long)(now - m->base_at), c->cfg.incr_full_s);
		return 0;
	}
	if (m->hwm_us / US > (long long)m->fetched_at + AO_XCACHE_INCR_MARGIN_S) {
		why(ri,
		    "clock skew: the newest updatedAt in the cache is %llds ahead of the time "
		    "it was fetched (margin %ds)",
		    m->hwm_us / US - (long long)m->fetched_at, AO_XCACHE_INCR_MARGIN_S);
		return 0;
	}
	if (!c->hooks.project_fp || !c->hooks.count) {
		why(ri, "no project fingerprint or task count available");
		return 0;
	}
	spec_of(e, &pl->spec);
	pl->c = c;
	ri->requests++;
	ao_err_clear(&pl->count_err);
	if (pthread_create(&pl->counter, NULL, count_main, pl) == 0)
		pl->counting = 1;
	else
		count_main(pl);
	rc = c->hooks.project_fp(c->hooks.ud, e->project_id, 1, &pl->fp, &ri->requests, err);
	if (hub_failed(rc, err)) {
		xc_incr_end(pl);
		return rc;
	}
	if (rc < 0) {
		why(ri, "reading the project: %s", err->msg);
		return 0;
	}
	pl->fp_known = 1;
	if (pl->fp != m->fp) {
		why(ri, "the project changed (stages, batches, categorySchema or updatedAt)");
		return 0;
	}
	pl->gen = m->gen;
	pl->ok = 1;
	return 0;
}

void xc_incr_end(struct xc_incr *pl)
{
	if (pl->counting)
		pthread_join(pl->counter, NULL);
	pl->counting = 0;
}

/* The count, once it is there: 0; XC_INCR_FULL (it failed for good);
 * -errno (a hub error a full export would meet too). */
static int total_of(struct xc_incr *pl, struct xc_refresh *ri, struct ao_err *err)
{
	xc_incr_end(pl);
	if (pl->count_rc == 0)
		return 0;
	if (hub_failed(pl->count_rc, &pl->count_err)) {
		*err = pl->count_err;
		return pl->count_rc;
	}
	why(ri, "counting the hub's tasks: %s", pl->count_err.msg);
	return XC_INCR_FULL;
}

/* Download the tasks changed since bound_us into ch. */
static int load_changes(struct ao_xcache *c, struct ao_xentry *e, unsigned long long g,
			long long bound_us, struct xm_changes *ch, struct xc_refresh *ri,
			struct ao_err *err)
{
	struct ao_xspec s;
	char *stages = NULL, *q = NULL, p[4200];
	long long zsize = 0;
	int rc = 0, fd;

	spec_of(e, &s);
	if (c->hooks.all_stages)
		rc = c->hooks.all_stages(c->hooks.ud, s.project_id, &stages, err);
	if (rc == 0 && !(q = ao_xcache_query_incr(&c->cfg, &s, stages, bound_us)))
		rc = ao_errf(err, ENOMEM, "out of memory");
	free(stages);
	snprintf(p, sizeof(p), "%s/%s.%llu.changes.tmp-inc", c->dir, e->hash, g);
	if (rc == 0) {
		ri->requests += 2;	 /* GET /export and its download */
		xc_sample_changes(c, e); /* what the merge will hold */
		rc = xs_download_to(c->cfg.hub, q, c->dir, e->hash, p, xs_wall_ms_of(ri->m0_ms),
				    &e->done, &e->total, &zsize, err);
		ri->bytes = __atomic_load_n(&e->done, __ATOMIC_RELAXED);
	}
	free(q);
	if (rc < 0)
		return rc;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	unlink(p);
	if (fd < 0)
		return ao_errf(err, errno, "export cache: %s: %s", p, strerror(errno));
	rc = xm_changes_load(ch, fd, s.ndjson, bound_us, err);
	close(fd);
	return rc;
}

/* Descriptor of a new temp file next to path (name in tmp), or -errno. */
static int temp_for(const char *path, char *tmp, size_t n, struct ao_err *err)
{
	snprintf(tmp, n, "%s.tmp-XXXXXX", path);
	int fd = mkstemp(tmp);
	return fd >= 0 ? fd : ao_errf(err, errno, "export cache: %s: %s", tmp, strerror(errno));
}

/* Merge generation m and ch into generation g and its index (renamed into
 * place). The old generation's index makes it a copy of the unchanged runs;
 * without one (or with one that does not match) the old file is scanned. */
static int merge_into(struct ao_xcache *c, struct ao_xentry *e, const struct xs_meta *m,
		      unsigned long long g, struct xm_changes *ch, struct xm_result *res,
		      long long *size, int *indexed, struct ao_err *err)
{
	char op[4096], oi[4096], dp[4096], ip[4096], tmp[4200], itmp[4200];
	struct xm_view v = {e->stage_id, !e->stage_id};
	struct stat st;
	int ofd, oifd, dfd, ifd, rc;

	xs_data_path(c->dir, e->hash, m->gen, op, sizeof(op));
	xs_idx_path(c->dir, e->hash, m->gen, oi, sizeof(oi));
	xs_data_path(c->dir, e->hash, g, dp, sizeof(dp));
	xs_idx_path(c->dir, e->hash, g, ip, sizeof(ip));
	ofd = open(op, O_RDONLY | O_CLOEXEC);
	if (ofd < 0)
		return ao_errf(err, errno, "export cache: %s: %s", op, strerror(errno));
	oifd = open(oi, O_RDONLY | O_CLOEXEC);
	if ((dfd = temp_for(dp, tmp, sizeof(tmp), err)) < 0 ||
	    (ifd = temp_for(ip, itmp, sizeof(itmp), err)) < 0) {
		rc = dfd < 0 ? dfd : -err->code;
		if (dfd >= 0)
			close(dfd), unlink(tmp);
		goto out;
	}
	rc = xm_merge(ofd, oifd, e->ndjson, ch, &v, dfd, ifd, res, err);
	*indexed = oifd >= 0 && rc == 0;
	if (rc == -EINVAL && oifd >= 0) {
		ao_info("export: %s: %s: merging without it", oi, err->msg);
		if (ftruncate(dfd, 0) == 0 && ftruncate(ifd, 0) == 0 &&
		    lseek(dfd, 0, SEEK_SET) == 0 && lseek(ifd, 0, SEEK_SET) == 0 &&
		    lseek(ofd, 0, SEEK_SET) == 0)
			rc = xm_merge(ofd, -1, e->ndjson, ch, &v, dfd, ifd, res, err);
	}
	if (rc == 0 && fstat(dfd, &st) < 0)
		rc = ao_errf(err, errno, "export cache: %s", strerror(errno));
	if (close(dfd) < 0 && rc == 0)
		rc = ao_errf(err, errno, "export cache: writing %s: %s", tmp, strerror(errno));
	if (close(ifd) < 0 && rc == 0)
		rc = ao_errf(err, errno, "export cache: writing %s: %s", itmp, strerror(errno));
	if (rc == 0 && (rename(itmp, ip) < 0 || rename(tmp, dp) < 0))
		rc = ao_errf(err, errno, "export cache: %s: %s", dp, strerror(errno));
	if (rc < 0) {
		unlink(tmp);
		unlink(itmp);
		unlink(ip);
	} else {
		*size = st.st_size;
	}
out:
	if (oifd >= 0)
		close(oifd);
	close(ofd);
	return rc;
}

/* Remove generation g (never published: no meta names it, byte 0 held). */
static void drop_gen(struct ao_xcache *c, struct ao_xentry *e, unsigned long long g)
{
	char p[4096];
	xs_data_path(c->dir, e->hash, g, p, sizeof(p));
	unlink(p);
	xs_idx_path(c->dir, e->hash, g, p, sizeof(p));
	unlink(p);
}

int xc_incr_judge(int rc, const struct xm_result *res, long long total, struct xc_refresh *ri,
		  const struct ao_err *err)
{
	if (rc == -EAGAIN || rc == -EINVAL || rc == -EEXIST) {
		why(ri, "%s", err->msg);
		return XC_INCR_FULL;
	}
	if (rc < 0)
		return rc;
	ri->replaced = res->replaced;
	ri->added = res->added;
	ri->removed = res->removed;
	ri->records = res->records;
	if (res->records != total) {
		why(ri,
		    "the merged export holds %lld records, the hub lists %lld for the same "
		    "filter (a task was deleted)",
		    res->records, total);
		return XC_INCR_FULL;
	}
	if (res->same == res->replaced && !res->added && !res->removed)
		return XC_INCR_SAME; /* byte for byte the old generation: keep that one */
	return XC_INCR_MERGED;
}

int xc_incr_run(struct ao_xcache *c, struct ao_xentry *e, const struct xs_meta *m,
		unsigned long long g, int lfd, struct xc_incr *pl, struct xs_meta *out,
		struct xc_refresh *ri, struct ao_err *err)
{
	struct xm_changes ch = {0};
	struct xm_result res = {0};
	long long bound = m->hwm_us - AO_XCACHE_INCR_MARGIN_S * US, size = 0, top = m->hwm_us;
	int rc;

	rc = total_of(pl, ri, err); /* the count before the export (see above) */
	if (rc == 0)
		rc = load_changes(c, e, g, bound, &ch, ri, err);
	if (rc == -EINVAL || rc == -ERANGE || rc == -EEXIST) {
		why(ri, "%s", err->msg);
		rc = XC_INCR_FULL;
		goto out;
	}
	if (rc != 0)
		goto out;
	ri->changed = (long long)ch.n;
	for (size_t i = 0; i < ch.n; i++)
		if (ch.v[i].f.updated_us > top)
			top = ch.v[i].f.updated_us;
	*out = *m;
	out->stale = 0;
	out->hwm_us = top; /* every task changed up to here has been seen */
	if (ch.n == 0 && m->records == pl->total) {
		ri->records = m->records;
		rc = XC_INCR_SAME; /* nothing changed: the generation stays */
		goto out;
	}
	if (ch.n == 0) {
		why(ri,
		    "no task changed but the hub lists %lld tasks for the filter, the cache "
		    "%lld (a task was deleted)",
		    pl->total, m->records);
		rc = XC_INCR_FULL;
		goto out;
	}
	rc = xc_stream_try(c, e, m, g, lfd, &ch, pl->total, out, ri, err);
	if (rc == XC_INCR_STREAMING)
		return rc; /* ch is the writer thread's now */
	if (rc != XC_INCR_NOT_STREAMED)
		goto out; /* SAME, FULL or an error */
	int mrc = merge_into(c, e, m, g, &ch, &res, &size, &ri->indexed, err);
	rc = xc_incr_judge(mrc, &res, pl->total, ri, err);
	if (mrc == 0 && rc != XC_INCR_MERGED)
		drop_gen(c, e, g); /* nobody has it: byte 0 is held and no meta names it */
	if (rc != XC_INCR_MERGED)
		goto out;
	out->gen = g;
	out->size = size;
	out->records = res.records;
out:
	xm_changes_free(&ch);
	return rc;
}
