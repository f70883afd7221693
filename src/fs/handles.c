/*
 * handles.c - open files (include/angofs/router.h, angofs/fh.h): every
 * operation on an open file goes to the part that opened it through its
 * operations, and its kernel caching is decided once, here, by the policy
 * (angofs/kcache.h) over the table of paths the router keeps.
 *
 * The write side knows nothing of struct ao_fh: its handles (a number of
 * its own) are one kind among the others, whose operations are below. A
 * read side's file gets its operations from the core at open.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "angofs/kcache.h"
#include "angofs/log.h"
#include "angofs/writes.h"
#include "fs/router_int.h"

/* ---- the write side's files ---------------------------------------------- */

struct wfh {
	struct ao_writes *w;
	uint64_t h; /* the write side's handle */
};

static struct wfh *W(struct ao_fh *fh)
{
	return fh->self;
}

static ssize_t w_read(struct ao_fh *fh, char *buf, size_t size, off_t off, struct ao_err *err)
{
	return ao_writes_read(W(fh)->w, W(fh)->h, buf, size, off, err);
}

static ssize_t w_write(struct ao_fh *fh, const char *buf, size_t size, off_t off,
		       struct ao_err *err)
{
	return ao_writes_write(W(fh)->w, W(fh)->h, buf, size, off, err);
}

static int w_flush(struct ao_fh *fh, struct ao_err *err)
{
	return ao_writes_flush(W(fh)->w, W(fh)->h, err);
}

static int w_fsync(struct ao_fh *fh, struct ao_err *err)
{
	return ao_writes_fsync(W(fh)->w, W(fh)->h, err);
}

static int w_ftruncate(struct ao_fh *fh, off_t size, struct ao_err *err)
{
	return ao_writes_ftruncate(W(fh)->w, W(fh)->h, size, err);
}

static int w_fgetattr(struct ao_fh *fh, struct stat *st, struct ao_err *err)
{
	return ao_writes_fgetattr(W(fh)->w, W(fh)->h, st, err);
}

static void w_release(struct ao_fh *fh, unsigned long *cur_gen)
{
	*cur_gen = 0;
	ao_writes_release(W(fh)->w, W(fh)->h);
	free(fh->self);
}

static const struct ao_fh_ops write_ops = {
    .kind = "write",
    .read = w_read,
    .write = w_write,
    .flush = w_flush,
    .fsync = w_fsync,
    .ftruncate = w_ftruncate,
    .fgetattr = w_fgetattr,
    .release = w_release,
};

int rtr_open_write(const struct ao_router *r, const struct ao_node *n, int flags, int create,
		   mode_t mode, struct ao_fh *fh, struct ao_err *err)
{
	struct wfh *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return ao_errf(err, ENOMEM, "out of memory");
	w->w = r->w;
	rc = create ? ao_writes_create(r->w, n->project_id, n->relpath, mode, flags, &w->h, err)
		    : ao_writes_open(r->w, n->project_id, n->relpath, flags, &w->h, err);
	if (rc < 0) {
		free(w);
		return rc;
	}
	fh->ops = &write_ops;
	fh->self = w;
	fh->id = (struct ao_kc_id){.rule = AO_KC_WRITE};
	return 0;
}

int rtr_open_read(const struct ao_router *r, const struct ao_node *n, int flags, struct ao_fh *fh,
		  struct ao_err *err)
{
	return ao_core_open(r->core, n, flags, fh, err);
}

/* ---- every file ------------------------------------------------------------ */

int rtr_decide(const struct ao_router *r, const char *path, struct ao_fh *fh, struct ao_err *err)
{
	unsigned long g;

	if (ao_kc_open(r->kc, path, fh) == 0) {
		ao_debug("open %s (%s): %s", path, fh->ops->kind,
			 fh->kc.direct_io    ? "direct_io"
			 : fh->kc.keep_cache ? "page cache, shared"
					     : "page cache");
		return 0;
	}
	fh->ops->release(fh, &g);
	return ao_errf(err, ENOMEM, "out of memory");
}

ssize_t ao_router_read(const struct ao_router *r, struct ao_fh *fh, char *buf, size_t size,
		       off_t off, struct ao_err *err)
{
	(void)r;
	return fh->ops->read(fh, buf, size, off, err);
}

int ao_router_splice_fd(const struct ao_router *r, struct ao_fh *fh, off_t off, size_t size,
			int *fd, struct ao_err *err)
{
	(void)r;
	*fd = -1;
	return fh->ops->splice_fd ? fh->ops->splice_fd(fh, off, size, fd, err) : 0;
}

ssize_t ao_router_write(const struct ao_router *r, struct ao_fh *fh, const char *buf, size_t size,
			off_t off, struct ao_err *err)
{
	(void)r;
	if (!fh->ops->write)
		return ao_errf(err, EBADF, "not open for writing");
	return fh->ops->write(fh, buf, size, off, err);
}

int ao_router_flush(const struct ao_router *r, struct ao_fh *fh, struct ao_err *err)
{
	int rc = fh->ops->flush ? fh->ops->flush(fh, err) : 0;

	ao_kc_flushed(r->kc, fh); /* its RELEASE follows, in the background */
	return rc;
}

int ao_router_fsync(const struct ao_router *r, struct ao_fh *fh, struct ao_err *err)
{
	(void)r;
	return fh->ops->fsync ? fh->ops->fsync(fh, err) : 0;
}

int ao_router_ftruncate(const struct ao_router *r, struct ao_fh *fh, off_t size, struct ao_err *err)
{
	(void)r;
	if (!fh->ops->ftruncate)
		return -EACCES; /* a read-only file: nothing to tell */
	return fh->ops->ftruncate(fh, size, err);
}

int ao_router_fgetattr(const struct ao_router *r, struct ao_fh *fh, struct stat *st,
		       struct ao_err *err)
{
	(void)r;
	(void)err;
	return fh->ops->fgetattr ? fh->ops->fgetattr(fh, st, err) : -ENOENT;
}

int ao_router_writable(const struct ao_fh *fh)
{
	return fh && fh->ops->write != NULL;
}

void ao_router_cached(const struct ao_router *r, struct ao_fh *fh, int done)
{
	ao_kc_cached(r->kc, fh, done);
}

int ao_router_release(const struct ao_router *r, struct ao_fh *fh)
{
	unsigned long cur = 0;
	int stale;

	if (!fh)
		return 0;
	fh->ops->release(fh, &cur);
	stale = ao_kc_release(r->kc, fh, cur);
	free(fh);
	return stale;
}

/* ---- the table ------------------------------------------------------------ */

static void stat_hook(void *ud, const char *path, const struct ao_kc_id *id, struct stat *st)
{
	ao_kc_stat(ud, path, id, st);
}

int ao_router_init(struct ao_router *r, struct ao_core *core, struct ao_writes *w, int read_only,
		   long open_wait_ms)
{
	r->core = core;
	r->w = w;
	r->read_only = read_only;
	r->kc = ao_kc_new(open_wait_ms);
	if (!r->kc)
		return -ENOMEM;
	ao_core_set_stat_hook(core, stat_hook, r->kc);
	return 0;
}

void ao_router_destroy(struct ao_router *r)
{
	if (r->core)
		ao_core_set_stat_hook(r->core, NULL, NULL);
	ao_kc_free(r->kc);
	r->kc = NULL;
}
