/*
 * router.c - path -> node -> which side answers, for every operation
 * (include/angofs/router.h). One rule, written once (ao_route): the core
 * resolves; the write side is asked first where it owns the place and the
 * parent exists; its -ENOENT falls back to the core. Each side fills its own
 * struct ao_err, and the caller's err gets the message of the side whose
 * answer is returned.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/log.h"
#include "angofs/router.h"
#include "angofs/writes.h"

/* Is the parent of relpath a directory of the write side (a subfolder made
 * in assets/, assets/.status)? Then the core does not know it, but the
 * write side's own names below it are real. */
static int ws_parent(const struct ao_router *r, const struct ao_node *n)
{
	const char *slash = strrchr(n->relpath, '/');
	char parent[4096];

	if (!slash || (size_t)(slash - n->relpath) >= sizeof(parent))
		return 0;
	memcpy(parent, n->relpath, (size_t)(slash - n->relpath));
	parent[slash - n->relpath] = '\0';
	return ao_writes_isdir(r->w, n->project_id, parent);
}

void ao_route(const struct ao_router *r, const char *path, struct ao_route *rt)
{
	ao_err_clear(&rt->err);
	rt->rc = ao_core_resolve(r->core, path, &rt->n, &rt->err);
	rt->ws = r->w && rt->n.project_id[0] && rt->n.relpath[0] && ao_writes_owns(rt->n.relpath) &&
		 (rt->rc == 0 || (rt->rc == -ENOENT && (rt->n.parent_ok || ws_parent(r, &rt->n))));
}

/* A directory only the write side has (inside assets/). */
static int ws_dir(const struct ao_router *r, const struct ao_route *rt)
{
	return rt->ws && rt->rc == -ENOENT &&
	       ao_writes_isdir(r->w, rt->n.project_id, rt->n.relpath);
}

/* The core's answer for a route that failed. */
static int core_err(struct ao_route *rt, struct ao_err *err)
{
	if (err)
		*err = rt->err;
	return rt->rc;
}

static int refused(const struct ao_router *r, int rc)
{
	return r->read_only ? -EROFS : rc;
}

int ao_router_getattr(const struct ao_router *r, const char *path, struct stat *st,
		      struct ao_err *err)
{
	struct ao_route rt;

	ao_route(r, path, &rt);
	if (rt.ws) {
		if (ao_writes_hidden(r->w, rt.n.project_id, rt.n.relpath))
			return ao_errf(err, ENOENT, "%s: removed", path);
		int rc = ao_writes_getattr(r->w, rt.n.project_id, rt.n.relpath, st, err);
		if (rc != -ENOENT)
			return rc;
	}
	if (rt.rc < 0)
		return core_err(&rt, err);
	return ao_core_getattr(r->core, &rt.n, st, err);
}

int ao_router_sent_stat(const struct ao_router *r, const char *path, struct stat *st)
{
	struct ao_route rt;

	ao_route(r, path, &rt);
	if (rt.rc != -ENOENT || !rt.ws)
		return -ENOENT;
	return ao_writes_sent_stat(r->w, rt.n.project_id, rt.n.relpath, st);
}

/* The write side's names of a directory (its pending files and status
 * files: a few), gathered before the read side lists, so that a name both
 * sides have (answer.json, mask.png, a pending copy of an existing asset's
 * name) is listed once, by the read side. Owned by one readdir call. */
struct wnames {
	char **name;
	struct stat *st;
	char *seen;
	size_t n, cap;
	ao_core_fill_fn fill; /* the caller's */
	void *ctx;
};

static int gather(void *ctx, const char *name, const struct stat *st)
{
	struct wnames *w = ctx;

	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 16;
		char **nn = realloc(w->name, nc * sizeof(*nn));
		struct stat *ns = nn ? realloc(w->st, nc * sizeof(*ns)) : NULL;
		char *nsn = ns ? realloc(w->seen, nc) : NULL;

		if (nn)
			w->name = nn;
		if (ns)
			w->st = ns;
		if (nsn)
			w->seen = nsn;
		if (!nn || !ns || !nsn)
			return 1; /* out of memory: list what we have */
		w->cap = nc;
	}
	if (!(w->name[w->n] = strdup(name)))
		return 1;
	w->st[w->n] = *st;
	w->seen[w->n++] = 0;
	return 0;
}

static int fill_core(void *ctx, const char *name, const struct stat *st)
{
	struct wnames *w = ctx;

	for (size_t i = 0; i < w->n; i++)
		if (!w->seen[i] && !strcmp(w->name[i], name))
			w->seen[i] = 1;
	return w->fill(w->ctx, name, st);
}

int ao_router_readdir(const struct ao_router *r, const char *path, ao_core_fill_fn fill, void *ctx,
		      struct ao_err *err)
{
	struct wnames w = {NULL, NULL, NULL, 0, 0, fill, ctx};
	struct ao_route rt;
	struct ao_err we;
	int rc;

	ao_route(r, path, &rt);
	if (ws_dir(r, &rt)) /* a subfolder of assets/, assets/.status: its files */
		return ao_writes_readdir(r->w, rt.n.project_id, rt.n.relpath, fill, ctx, err);
	if (rt.rc < 0)
		return core_err(&rt, err);
	if (r->w && (rt.n.kind == AO_N_DROPBOX_DIR || rt.n.kind == AO_N_TASK_DIR ||
		     rt.n.kind == AO_N_ASSETS_DIR)) {
		ao_err_clear(&we);
		rc = ao_writes_readdir(r->w, rt.n.project_id, rt.n.relpath, gather, &w, &we);
		if (rc < 0 && rc != -ENOENT)
			ao_warn("readdir %s (write side): %s", path, we.msg);
	}
	rc = ao_core_readdir(r->core, &rt.n, fill_core, &w, err);
	for (size_t i = 0; i < w.n; i++) {
		if (rc == 0 && !w.seen[i] && fill(ctx, w.name[i], &w.st[i]))
			rc = 1; /* the caller's buffer is full: stop filling */
		free(w.name[i]);
	}
	free(w.name);
	free(w.st);
	free(w.seen);
	return rc < 0 ? rc : 0; /* the read side's listing stands */
}

int ao_router_open(const struct ao_router *r, const char *path, int flags, struct ao_rfh *h,
		   struct ao_err *err)
{
	struct ao_route rt;

	memset(h, 0, sizeof(*h));
	ao_route(r, path, &rt);
	if (rt.ws) {
		int rc = ao_writes_open(r->w, rt.n.project_id, rt.n.relpath, flags, &h->wfh, err);

		if (rc == 0)
			h->side = AO_SIDE_WRITE;
		if (rc != -ENOENT)
			return rc;
	}
	if (rt.rc < 0)
		return core_err(&rt, err);
	h->side = AO_SIDE_READ;
	return ao_core_open(r->core, &rt.n, flags, &h->rfh, err);
}

int ao_router_create(const struct ao_router *r, const char *path, mode_t mode, int flags,
		     struct ao_rfh *h, struct ao_err *err)
{
	struct ao_route rt;

	memset(h, 0, sizeof(*h));
	ao_route(r, path, &rt);
	if (rt.ws) {
		h->side = AO_SIDE_WRITE;
		return ao_writes_create(r->w, rt.n.project_id, rt.n.relpath, mode, flags, &h->wfh,
					err);
	}
	if (rt.rc == 0)
		return ao_router_open(r, path, flags, h, err);
	if (rt.rc == -ENOENT && rt.n.parent_ok)
		return refused(r, -EPERM);
	return core_err(&rt, err);
}

void ao_router_release(const struct ao_router *r, struct ao_rfh *h)
{
	if (h->side == AO_SIDE_WRITE)
		ao_writes_release(r->w, h->wfh);
	else if (h->rfh)
		ao_core_release(r->core, h->rfh);
	h->rfh = NULL;
}

int ao_router_truncate(const struct ao_router *r, const char *path, off_t size, struct ao_err *err)
{
	struct ao_route rt;

	ao_route(r, path, &rt);
	if (rt.ws) {
		int rc = ao_writes_truncate(r->w, rt.n.project_id, rt.n.relpath, size, err);

		if (rc != -ENOENT)
			return rc;
	}
	if (rt.rc < 0)
		return core_err(&rt, err);
	if (rt.n.kind == AO_N_ROOT || rt.n.kind == AO_N_PROJECT)
		return -EISDIR;
	return refused(r, -EACCES);
}

int ao_router_unlink(const struct ao_router *r, const char *path, struct ao_err *err)
{
	struct ao_route rt;

	ao_route(r, path, &rt);
	if (rt.ws) {
		int rc = ao_writes_unlink(r->w, rt.n.project_id, rt.n.relpath, err);

		if (rc != -ENOENT || rt.rc == -ENOENT)
			return rc;
	}
	if (rt.rc < 0)
		return core_err(&rt, err);
	return refused(r, -EPERM);
}

int ao_router_rename(const struct ao_router *r, const char *from, const char *to,
		     unsigned int flags, struct ao_err *err)
{
	struct ao_route a, b; /* each with its own message */

	ao_route(r, from, &a);
	ao_route(r, to, &b);
	if (a.ws && b.ws && strcmp(a.n.project_id, b.n.project_id) == 0) {
		int rc =
		    ao_writes_rename(r->w, a.n.project_id, a.n.relpath, b.n.relpath, flags, err);

		/* not written here but the hub's (an asset in assets/, a mask.png):
		 * refused like rm, not "No such file" for a file ls shows */
		if (rc == -ENOENT && a.rc == 0) {
			ao_err_clear(err);
			return refused(r, -EPERM);
		}
		return rc;
	}
	if (a.ws && !b.ws && b.rc == 0) {
		/* a scratch file (sed -i, perl -i) renamed over task.json */
		ao_debug("rename %s -> %s: refused (read-only target)", from, to);
		return refused(r, -EPERM);
	}
	if (a.rc < 0)
		return core_err(&a, err);
	if (a.ws && b.ws)
		return -EXDEV;
	return refused(r, -EPERM);
}

/* mkdir snapshots/NAME pins, rmdir unpins (src/core/snap.c). */
static int snap_dir_op(const struct ao_router *r, const char *path, const struct ao_route *rt,
		       int make, struct ao_err *err)
{
	const char *name = strrchr(path, '/');

	if (r->read_only)
		return -EROFS;
	if (make)
		return ao_core_snap_mkdir(r->core, &rt->n, name ? name + 1 : path, err);
	return ao_core_snap_rmdir(r->core, &rt->n, err);
}

int ao_router_mkdir(const struct ao_router *r, const char *path, struct ao_err *err)
{
	struct ao_route rt;

	ao_route(r, path, &rt);
	if (rt.rc == 0 && (rt.n.kind == AO_N_SNAP_DIR || rt.n.kind == AO_N_SNAP_LINK))
		return ao_errf(err, EEXIST, "%s exists", path);
	if (rt.rc == -ENOENT && rt.n.parent_ok && rt.n.kind == AO_N_SNAPS_DIR)
		return snap_dir_op(r, path, &rt, 1, err);
	if (rt.ws && rt.rc == 0) /* an asset of that name */
		return ao_errf(err, EEXIST, "%s exists", path);
	if (rt.ws && !strncmp(rt.n.relpath, "assets/", 7)) {
		if (r->read_only)
			return -EROFS;
		return ao_writes_mkdir(r->w, rt.n.project_id, rt.n.relpath, err);
	}
	return ao_router_refuse(r, "mkdir", path, err);
}

int ao_router_rmdir(const struct ao_router *r, const char *path, struct ao_err *err)
{
	struct ao_route rt;

	ao_route(r, path, &rt);
	if (ws_dir(r, &rt)) {
		if (r->read_only)
			return -EROFS;
		return ao_writes_rmdir(r->w, rt.n.project_id, rt.n.relpath, err);
	}
	if (rt.rc == 0 && rt.n.kind == AO_N_SNAP_DIR)
		return snap_dir_op(r, path, &rt, 0, err);
	return ao_router_refuse(r, "rmdir", path, err);
}

int ao_router_readlink(const struct ao_router *r, const char *path, char *buf, size_t size,
		       struct ao_err *err)
{
	struct ao_route rt;

	ao_route(r, path, &rt);
	if (rt.rc < 0)
		return core_err(&rt, err);
	return ao_core_readlink(r->core, &rt.n, buf, size, err);
}

int ao_router_refuse(const struct ao_router *r, const char *op, const char *path,
		     struct ao_err *err)
{
	struct ao_route rt;

	ao_route(r, path, &rt);
	if (rt.rc < 0 && !(rt.rc == -ENOENT && rt.n.parent_ok))
		return core_err(&rt, err);
	ao_debug("%s %s: refused (read-only place)", op, path);
	return refused(r, -EPERM);
}

int ao_router_setattr(const struct ao_router *r, const char *path, int touch, int *sent,
		      struct ao_err *err)
{
	struct ao_route rt;
	struct stat st;

	*sent = 0;
	ao_route(r, path, &rt);
	if (rt.ws) {
		struct ao_err we;

		ao_err_clear(&we);
		if (ao_writes_getattr(r->w, rt.n.project_id, rt.n.relpath, &st, &we) == 0)
			return touch ? 0 : refused(r, 0);
		if (rt.rc == -ENOENT &&
		    ao_writes_sent_stat(r->w, rt.n.project_id, rt.n.relpath, &st) == 0) {
			*sent = 1;
			if (!touch || !r->read_only)
				return refused(r, 0);
		}
	}
	if (rt.rc < 0)
		return core_err(&rt, err);
	if (touch) {
		ao_info("refresh requested: %s", path);
		return ao_core_touch(r->core, &rt.n, err);
	}
	if (rt.n.kind == AO_N_ANSWER_JSON)
		return refused(r, 0);
	return refused(r, -EPERM);
}
