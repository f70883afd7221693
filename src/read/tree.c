/*
 * tree.c - paths to nodes and the read-side operations on them (interface
 * and tree in include/angofs/core.h). Path resolution walks the components
 * with a fixed grammar; names that come from the server are matched against
 * their sanitized directory names first and their ids second (hidden
 * aliases). Small files (project.json, task files, .status) are snapshotted
 * into memory at open; their size can change between stat and read.
 * Exports are served from the export cache's file with pread or spliced.
 * An open file is a struct ao_fh (angofs/fh.h) with the operations of its
 * kind, and the facts of its content; how the kernel caches it is the
 * router's decision (angofs/kcache.h), which also adjusts what stat reports
 * through the stat hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "read_int.h"
#include "angofs/export_cache.h"
#include "angofs/fh.h"
#include "angofs/log.h"
#include "angofs/media.h"
#include "angofs/poll.h"

/* The views' table (read/read_int.h, struct ao_views); their directories are
 * only in the tree when it is attached (a node of theirs implies it). */
#define V(c) ((c)->cfg.views)

struct ao_core *ao_core_new(const struct ao_core_cfg *cfg, struct ao_err *err)
{
	struct ao_core *c = calloc(1, sizeof(*c));
	if (!c) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	c->cfg = *cfg;
	if (c->cfg.meta_ttl_s <= 0)
		c->cfg.meta_ttl_s = 60;
	if (c->cfg.task_page_max <= 0)
		c->cfg.task_page_max = 1000;
	if (c->cfg.shard_bytes <= 0)
		c->cfg.shard_bytes = 256LL << 20;
	if (c->cfg.split[0] + c->cfg.split[1] + c->cfg.split[2] <= 0) { /* 80:10:10 */
		c->cfg.split[0] = 0.8;
		c->cfg.split[1] = c->cfg.split[2] = 0.1;
	}
	pthread_mutex_init(&c->lock, NULL);
	ao_slot_init(&c->list_refresh);
	if (c->cfg.views && c->cfg.views->init(c) < 0) {
		pthread_mutex_destroy(&c->lock);
		ao_slot_destroy(&c->list_refresh);
		free(c);
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	c->t0 = time(NULL);
	xcheck_install(c);
	return c;
}

void ao_core_set_extra_ud(struct ao_core *c, void *ud)
{
	c->cfg.extra_ud = ud;
}

void ao_core_free(struct ao_core *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nprojects; i++) {
		task_list_put(c, c->projects[i]->tasks);
		asset_free_project(c, c->projects[i]);
	}
	proj_free_all(c);
	task_free_all(c);
	xcheck_free_all(c);
	if (c->cfg.views)
		c->cfg.views->free(c);
	pthread_mutex_destroy(&c->lock);
	ao_slot_destroy(&c->list_refresh);
	free(c);
}

/* --- resolution --------------------------------------------------------- */

#define MAX_DEPTH 64 /* p/datasets/stage/S/yolo/images/NAME; p/assets/<subfolders>/NAME */

static int split(const char *path, const char **comp, size_t *clen, const char **rest1)
{
	int n = 0;
	const char *p = path;

	*rest1 = NULL;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		if (n == MAX_DEPTH)
			return -1;
		if (n == 1)
			*rest1 = p;
		comp[n] = p;
		while (*p && *p != '/')
			p++;
		clen[n] = (size_t)(p - comp[n]);
		n++;
	}
	return n;
}

static void export_spec(struct ao_node *n, const char *file, struct ao_xspec *s)
{
	memset(s, 0, sizeof(*s));
	s->project_id = n->project_id;
	s->type = strcmp(file, "issues.json") == 0 ? AO_X_ISSUE : AO_X_TASK;
	s->ndjson = strcmp(file, "tasks.ndjson") == 0;
	if (n->kind == AO_N_STAGE_DIR)
		s->stage_id = n->sub_id;
	else if (n->kind == AO_N_BATCH_DIR)
		s->batch_id = n->sub_id;
}

static int node_is_dir(enum ao_kind k)
{
	return k != AO_N_STATUS && k != AO_N_PROJECT_JSON && k != AO_N_EXPORT_FILE &&
	       k != AO_N_TASK_JSON && k != AO_N_ANSWER_JSON && k != AO_N_DS_FILE &&
	       k != AO_N_ASSET_FILE && k != AO_N_MASK_FILE && k != AO_N_SNAP_LINK &&
	       k != AO_N_SNAP_FILE && k != AO_N_CHANGES_FILE;
}

/*
 * The tree: the fixed children of each kind of directory, in listing order.
 * ao_core_resolve walks it and ao_core_readdir lists it; the children that
 * come from the hub (projects, stages, batches, tasks) are the dynamic ones
 * of ROOT, STAGES_DIR, BATCHES_DIR and TASKS_DIR (lookup_dynamic, and the
 * listings in ao_core_readdir). Below datasets/ the table has the fixed
 * part; the views and what is in them are read/views/tree.c's (dsv_lookup,
 * dsv_readdir).
 */
static const struct {
	enum ao_kind parent;
	const char *name;
	enum ao_kind kind;
} tree[] = {
    {AO_N_ROOT, ".status", AO_N_STATUS},
    {AO_N_PROJECT, "project.json", AO_N_PROJECT_JSON},
    {AO_N_PROJECT, "export", AO_N_EXPORT_DIR},
    {AO_N_PROJECT, "labels", AO_N_DROPBOX_DIR},
    {AO_N_PROJECT, "attachments", AO_N_DROPBOX_DIR},
    /* read side: one file per asset; cp adds assets (write side, merged) */
    {AO_N_PROJECT, "assets", AO_N_ASSETS_DIR},
    {AO_N_PROJECT, "tasks", AO_N_TASKS_DIR},
    {AO_N_PROJECT, "datasets", AO_N_DS_DIR},
    /* pinned generations (snap*.c): mkdir NAME pins, rmdir unpins */
    {AO_N_PROJECT, "snapshots", AO_N_SNAPS_DIR},
    /* diffs between snapshots, or a snapshot and live (read/views/changes.c) */
    {AO_N_PROJECT, "changes", AO_N_CHANGES_DIR},
    {AO_N_EXPORT_DIR, "tasks.json", AO_N_EXPORT_FILE},
    {AO_N_EXPORT_DIR, "tasks.ndjson", AO_N_EXPORT_FILE},
    {AO_N_EXPORT_DIR, "issues.json", AO_N_EXPORT_FILE},
    {AO_N_EXPORT_DIR, "stage", AO_N_STAGES_DIR},
    {AO_N_EXPORT_DIR, "batch", AO_N_BATCHES_DIR},
    {AO_N_STAGE_DIR, "tasks.json", AO_N_EXPORT_FILE},
    {AO_N_STAGE_DIR, "tasks.ndjson", AO_N_EXPORT_FILE},
    {AO_N_BATCH_DIR, "tasks.json", AO_N_EXPORT_FILE},
    {AO_N_BATCH_DIR, "tasks.ndjson", AO_N_EXPORT_FILE},
    {AO_N_TASK_DIR, "task.json", AO_N_TASK_JSON},
    {AO_N_TASK_DIR, "answer.json", AO_N_ANSWER_JSON},
    {AO_N_TASK_DIR, "mask.png", AO_N_MASK_FILE},
    {AO_N_TASK_DIR, "mask.seg.nrrd", AO_N_MASK_FILE},
    {AO_N_DS_DIR, "stage", AO_N_DS_STAGES_DIR},
    {AO_N_DS_DIR, "batch", AO_N_DS_BATCHES_DIR},
    {AO_N_SNAPS_DIR, "latest", AO_N_SNAP_LINK}, /* only while a snapshot exists */
    {AO_N_SNAP_DIR, "snapshot.json", AO_N_SNAP_FILE},
    {AO_N_SNAP_DIR, "export", AO_N_SNAP_XDIR},
    {AO_N_SNAP_DIR, "datasets", AO_N_DS_DIR}, /* n->snap: the pinned views */
    {AO_N_SNAP_XDIR, "tasks.json", AO_N_SNAP_FILE},
    {AO_N_SNAP_XDIR, "tasks.ndjson", AO_N_SNAP_FILE},
    {AO_N_SNAP_XDIR, "issues.json", AO_N_SNAP_FILE},
};

/* Is child i of the table there for n? (a mask only when the task has it,
 * latest only when a snapshot exists, the views' directories only with the
 * views) */
static int child_present(struct ao_core *c, const struct ao_node *n, size_t i)
{
	switch (tree[i].kind) {
	case AO_N_MASK_FILE:
		return asset_mask_present(c, n, tree[i].name);
	case AO_N_SNAP_LINK:
		return V(c) && V(c)->snap_has_latest(c, n->project_id);
	case AO_N_DS_DIR:
	case AO_N_SNAPS_DIR:
	case AO_N_CHANGES_DIR:
		return V(c) != NULL; /* the views' directories */
	default:
		return 1;
	}
}

static int fixed_child(enum ao_kind parent, const char *name)
{
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
		if (tree[i].parent == parent && !strcmp(tree[i].name, name))
			return (int)i;
	return -1;
}

/* n (a directory of kind n->kind) -> its child `name` from the hub, in place.
 * 0, or -errno (-ENOENT also when the kind has no dynamic children). */
static int lookup_dynamic(struct ao_core *c, struct ao_node *n, struct project **p,
			  const char *name, const char *path, struct ao_err *err)
{
	int rc;

	switch (n->kind) {
	case AO_N_ROOT:
		*p = proj_lookup(c, name, err);
		if (!*p)
			return err && err->code ? -err->code : -ENOENT;
		snprintf(n->project_id, sizeof(n->project_id), "%s", (*p)->id);
		n->kind = AO_N_PROJECT;
		return 0;
	case AO_N_STAGES_DIR:
	case AO_N_BATCHES_DIR:
	case AO_N_DS_STAGES_DIR:
	case AO_N_DS_BATCHES_DIR: {
		int b = n->kind == AO_N_BATCHES_DIR || n->kind == AO_N_DS_BATCHES_DIR;
		rc = proj_sub_lookup(c, *p, b, name, n->sub_id, sizeof(n->sub_id), err);
		if (rc == 0 && n->snap[0] && !V(c)->snap_sub_pinned(c, n, b, n->sub_id))
			return ao_errf(err, ENOENT, "%s: not in the snapshot (made after it)",
				       path);
		if (rc == 0 && n->kind >= AO_N_DS_DIR)
			n->kind = b ? AO_N_DS_BATCH_DIR : AO_N_DS_STAGE_DIR;
		else if (rc == 0)
			n->kind = b ? AO_N_BATCH_DIR : AO_N_STAGE_DIR;
		return rc;
	}
	case AO_N_DS_DIR:
	case AO_N_DS_STAGE_DIR:
	case AO_N_DS_BATCH_DIR:
	case AO_N_DS_VDIR:
		return V(c)->lookup(c, n, name, path, err);
	case AO_N_TASKS_DIR:
		if (strlen(name) >= AO_ID_MAX)
			return ao_errf(err, ENOENT, "%s: no such task", path);
		snprintf(n->task_id, sizeof(n->task_id), "%s", name);
		rc = task_exists(c, *p, n->task_id, err);
		if (rc == 0)
			n->kind = AO_N_TASK_DIR;
		return rc;
	case AO_N_ASSETS_DIR:
		rc = asset_lookup(c, *p, name, n->sub_id, sizeof(n->sub_id), err);
		if (rc == 0)
			n->kind = AO_N_ASSET_FILE;
		return rc;
	case AO_N_CHANGES_DIR:
		return V(c)->changes_lookup(c, n, name, path, err);
	case AO_N_SNAPS_DIR:
		rc = V(c)->snap_find(c, n->project_id, name, &n->snap_ino, err);
		if (rc == 0) {
			snprintf(n->snap, sizeof(n->snap), "%s", name);
			n->kind = AO_N_SNAP_DIR;
		}
		return rc;
	default:
		return ao_errf(err, ENOENT, "%s: no such file", path);
	}
}

/* One step of the walk: n becomes its child `name` (a component of path). */
static int step(struct ao_core *c, struct ao_node *n, struct project **p, const char *name,
		const char *path, struct ao_err *err)
{
	int i = node_is_dir(n->kind) ? fixed_child(n->kind, name) : -1;

	if (i < 0)
		return node_is_dir(n->kind) ? lookup_dynamic(c, n, p, name, path, err)
					    : ao_errf(err, ENOENT, "%s: no such file", path);
	if (!child_present(c, n, (size_t)i)) /* listed, and found, only when there */
		return ao_errf(err, ENOENT, "%s: no such file", path);
	if (tree[i].kind == AO_N_MASK_FILE)
		snprintf(n->sub_id, sizeof(n->sub_id), "%s", asset_mask_key(name));
	if (tree[i].kind == AO_N_SNAP_FILE) /* its path in the pinned directory */
		snprintf(n->ds_name, sizeof(n->ds_name), "%s%.200s",
			 n->kind == AO_N_SNAP_XDIR ? "export/" : "", name);
	if (tree[i].kind == AO_N_EXPORT_FILE) {
		struct ao_xspec s;
		export_spec(n, name, &s); /* the parent's stage or batch */
		n->x = ao_xcache_get(c->cfg.xc, &s, err);
		if (!n->x)
			return -ENOMEM;
	}
	n->kind = tree[i].kind;
	return 0;
}

int ao_core_resolve(struct ao_core *c, const char *path, struct ao_node *n, struct ao_err *err)
{
	const char *comp[MAX_DEPTH], *rest1;
	size_t clen[MAX_DEPTH];
	char name[AO_NAME_MAX + 1];
	struct project *p = NULL;
	int depth;

	memset(n, 0, sizeof(*n));
	n->relpath = "";
	n->path = path;
	n->kind = AO_N_ROOT;
	depth = split(path, comp, clen, &rest1);
	if (depth < 0)
		return ao_errf(err, ENOENT, "%s: no such path", path);
	for (int i = 0; i < depth; i++)
		if (clen[i] > AO_NAME_MAX)
			return ao_errf(err, ENAMETOOLONG, "%s: name too long", path);
	for (int i = 0; i < depth; i++) {
		int dir = node_is_dir(n->kind), rc;

		memcpy(name, comp[i], clen[i]);
		name[clen[i]] = '\0';
		if (n->kind == AO_N_ASSETS_DIR && i < depth - 1) {
			/* below a subfolder of assets/ (cp -r): the asset whose
			 * externalId is that path, if sent; else the write side's */
			rc = asset_lookup_xid(c, p, comp[i], n->sub_id, sizeof(n->sub_id), err);
			if (rc < 0)
				return rc;
			n->kind = AO_N_ASSET_FILE;
			return 0;
		}
		rc = step(c, n, &p, name, path, err);
		if (rc < 0) {
			/* the parent exists: a create there is up to the write side */
			n->parent_ok = i == 0 ? err && err->code == ENOENT
					      : rc == -ENOENT && dir && i == depth - 1;
			return rc;
		}
		if (i == 0 && n->kind == AO_N_PROJECT && depth > 1) {
			n->relpath = rest1;
			n->parent_ok = 1;
		}
	}
	return 0;
}

/* --- attributes --------------------------------------------------------- */

static void base_stat(struct ao_core *c, enum ao_kind k, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_uid = c->cfg.uid;
	st->st_gid = c->cfg.gid;
	st->st_atime = st->st_mtime = st->st_ctime = c->t0;
	st->st_blksize = 65536;
	if (node_is_dir(k)) {
		int writable = (k == AO_N_DROPBOX_DIR || k == AO_N_TASK_DIR ||
				k == AO_N_ASSETS_DIR || k == AO_N_SNAPS_DIR) &&
			       !c->cfg.read_only;
		st->st_mode = S_IFDIR | (writable ? 0755 : 0555);
		st->st_nlink = 2;
	} else {
		int writable = k == AO_N_ANSWER_JSON && !c->cfg.read_only;
		st->st_mode = S_IFREG | (writable ? 0644 : 0444);
		st->st_nlink = 1;
	}
}

static void set_size(struct stat *st, long long size)
{
	st->st_size = size;
	st->st_blocks = (size + 511) / 512;
}

static int getattr_node(struct ao_core *c, const struct ao_node *n, struct stat *st,
			struct ao_kc_id *id, struct ao_err *err);

void ao_core_set_stat_hook(struct ao_core *c, ao_core_stat_fn hook, void *ud)
{
	c->stat_hook = hook;
	c->stat_ud = ud;
}

/* The kinds served from memory (a snapshot taken at open). */
static int in_memory(enum ao_kind k)
{
	return k == AO_N_STATUS || k == AO_N_PROJECT_JSON || k == AO_N_TASK_JSON ||
	       k == AO_N_ANSWER_JSON || k == AO_N_CHANGES_FILE;
}

int ao_core_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st, struct ao_err *err)
{
	struct ao_kc_id id = {.rule = AO_KC_PATH, .bytes = 1};
	int rc = getattr_node(c, n, st, &id, err);

	if (rc == 0 && c->stat_hook && (id.rule == AO_KC_EXPORT || in_memory(n->kind)))
		c->stat_hook(c->stat_ud, n->path, &id, st);
	return rc;
}

static int getattr_node(struct ao_core *c, const struct ao_node *n, struct stat *st,
			struct ao_kc_id *id, struct ao_err *err)
{
	struct project *p = n->project_id[0] ? proj_by_id(c, n->project_id) : NULL;
	size_t len = 0;
	int rc;

	base_stat(c, n->kind, st);
	switch (n->kind) {
	case AO_N_STATUS: {
		char *s = core_status_text(c, &len);
		free(s);
		set_size(st, (long long)len);
		st->st_mtime = time(NULL);
		return 0;
	}
	case AO_N_PROJECT_JSON:
		if (!p)
			return ao_errf(err, ENOENT, "project gone");
		rc = proj_detail(c, p, err);
		if (rc < 0)
			return rc;
		pthread_mutex_lock(&c->lock);
		set_size(st, (long long)p->detail_len);
		st->st_mtime = p->detail_refresh.at;
		pthread_mutex_unlock(&c->lock);
		return 0;
	case AO_N_EXPORT_FILE: {
		long long size;
		time_t mt;
		unsigned long gen;
		int known = ao_xcache_stat_gen(c->cfg.xc, n->x, &size, &mt, &gen);
		/* the stat hook: while this path's page cache holds a generation,
		 * its size (the router's kernel-cache table) */
		*id =
		    (struct ao_kc_id){.rule = AO_KC_EXPORT, .gen = gen, .size = size, .mtime = mt};
		set_size(st, size);
		if (mt)
			st->st_mtime = st->st_ctime = mt;
		if (!known)
			/* Never fetched: the size is unknown. It shows as 1 byte and
			 * no blocks, not 0: tar skips a 0-byte file without opening
			 * it and stores it empty; with 1 it opens it (which fetches)
			 * and archives the size fstat then shows. angofs --prefetch
			 * makes sizes true before anyone looks. */
			set_size(st, 1), st->st_blocks = 0;
		return 0;
	}
	case AO_N_ASSET_FILE:
	case AO_N_MASK_FILE:
		return asset_getattr(c, n, st, id, err);
	case AO_N_DS_FILE:
		return V(c)->getattr(c, n, st, err);
	case AO_N_SNAP_LINK:
	case AO_N_SNAP_DIR:
	case AO_N_SNAP_XDIR:
	case AO_N_SNAP_FILE:
		return V(c)->snap_getattr(c, n, st, err);
	case AO_N_CHANGES_FILE:
		return V(c)->changes_getattr(c, n, st, err);
	case AO_N_TASK_JSON:
	case AO_N_ANSWER_JSON:
		rc = task_fetch(c, n->project_id, n->task_id, n->kind == AO_N_ANSWER_JSON, NULL,
				&len, err);
		if (rc < 0)
			return rc;
		set_size(st, (long long)len);
		/* the hub's updatedAt: find -newer finds the tasks that changed */
		time_t mt = task_mtime(c, n->task_id);
		if (mt)
			st->st_mtime = st->st_ctime = mt;
		return 0;
	default:
		return 0;
	}
}

/* --- listings ----------------------------------------------------------- */

static int fill_node(struct ao_core *c, const struct ao_node *parent, enum ao_kind k,
		     const char *name, ao_core_fill_fn fill, void *ctx)
{
	struct stat st;
	struct ao_node n = *parent;
	struct ao_err e;
	char path[4096];

	if (k == AO_N_EXPORT_FILE) {
		struct ao_xspec s;
		export_spec(&n, name, &s); /* while n is the parent: its stage or batch */
		n.x = ao_xcache_get(c->cfg.xc, &s, &e);
		if (!n.x)
			return fill(ctx, name, NULL);
	}
	n.kind = k;
	/* the child's own path: the kernel cache's pins are per path */
	if (parent->path &&
	    snprintf(path, sizeof(path), "%s/%s", strcmp(parent->path, "/") ? parent->path : "",
		     name) < (int)sizeof(path))
		n.path = path;
	else
		n.path = NULL;
	if (ao_core_getattr(c, &n, &st, &e) < 0)
		return fill(ctx, name, NULL);
	return fill(ctx, name, &st);
}

/* The fixed children of n's kind, from the tree table. */
static void fill_fixed(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx)
{
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		struct ao_node m = *n;

		if (tree[i].parent != n->kind || !child_present(c, n, i))
			continue;
		if (tree[i].kind == AO_N_MASK_FILE)
			snprintf(m.sub_id, sizeof(m.sub_id), "%s", asset_mask_key(tree[i].name));
		if (tree[i].kind == AO_N_SNAP_FILE)
			snprintf(m.ds_name, sizeof(m.ds_name), "%s%s",
				 n->kind == AO_N_SNAP_XDIR ? "export/" : "", tree[i].name);
		fill_node(c, &m, tree[i].kind, tree[i].name, fill, ctx);
	}
}

int ao_core_readdir(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx,
		    struct ao_err *err)
{
	struct project *p = n->project_id[0] ? proj_by_id(c, n->project_id) : NULL;
	struct stat dst;
	int rc = 0;

	base_stat(c, AO_N_PROJECT, &dst);
	switch (n->kind) {
	case AO_N_ROOT: {
		rc = proj_list_fresh(c, 0, err);
		if (rc < 0)
			return rc;
		pthread_mutex_lock(&c->lock);
		size_t cnt = 0, k = 0;
		for (size_t i = 0; i < c->nprojects; i++)
			cnt += c->projects[i]->listed;
		char(*names)[AO_NAME_MAX + 1] = calloc(cnt ? cnt : 1, sizeof(*names));
		for (size_t i = 0; names && i < c->nprojects; i++)
			if (c->projects[i]->listed)
				memcpy(names[k++], c->projects[i]->dname, sizeof(names[0]));
		pthread_mutex_unlock(&c->lock);
		if (!names)
			return ao_errf(err, ENOMEM, "out of memory");
		fill_fixed(c, n, fill, ctx);
		for (size_t i = 0; i < k; i++)
			if (fill(ctx, names[i], &dst))
				break;
		free(names);
		return 0;
	}
	case AO_N_STAGES_DIR:
	case AO_N_BATCHES_DIR:
	case AO_N_DS_STAGES_DIR:
	case AO_N_DS_BATCHES_DIR: {
		if (!p)
			return ao_errf(err, ENOENT, "project gone");
		rc = proj_detail(c, p, err);
		if (rc < 0)
			return rc;
		int which = n->kind == AO_N_BATCHES_DIR || n->kind == AO_N_DS_BATCHES_DIR;
		struct {
			char name[AO_NAME_MAX + 1], id[AO_ID_MAX];
		} * e;
		pthread_mutex_lock(&c->lock);
		size_t cnt = which ? p->nbatches : p->nstages;
		struct sub *v = which ? p->batches : p->stages;
		e = calloc(cnt ? cnt : 1, sizeof(*e));
		for (size_t i = 0; e && i < cnt; i++) {
			memcpy(e[i].name, v[i].dname, sizeof(e[0].name));
			snprintf(e[i].id, sizeof(e[i].id), "%s", v[i].id);
		}
		pthread_mutex_unlock(&c->lock);
		if (!e)
			return ao_errf(err, ENOMEM, "out of memory");
		for (size_t i = 0; i < cnt; i++) /* a snapshot's: those it pinned */
			if ((!n->snap[0] || V(c)->snap_sub_pinned(c, n, which, e[i].id)) &&
			    fill(ctx, e[i].name, &dst))
				break;
		free(e);
		return 0;
	}
	case AO_N_ASSETS_DIR: {
		struct stat fst;
		if (!p)
			return ao_errf(err, ENOENT, "project gone");
		base_stat(c, AO_N_ASSET_FILE, &fst);
		return asset_readdir(c, p, &fst, fill, ctx, err);
	}
	case AO_N_SNAPS_DIR:
		fill_fixed(c, n, fill, ctx); /* latest */
		return V(c)->snap_readdir(c, n, fill, ctx, err);
	case AO_N_CHANGES_DIR: {
		struct stat fst;
		base_stat(c, AO_N_CHANGES_FILE, &fst);
		fst.st_size = 1; /* computed at open (stat of one file: its size) */
		return V(c)->changes_readdir(c, n, &fst, fill, ctx);
	}
	case AO_N_TASKS_DIR: {
		if (!p)
			return ao_errf(err, ENOENT, "project gone");
		struct tasklist *l = task_list(c, p, err);
		if (!l)
			return err && err->code ? -err->code : -EIO;
		struct stat tst;
		base_stat(c, AO_N_TASK_DIR, &tst);
		for (size_t i = 0; i < l->n; i++)
			if (fill(ctx, l->ids[i], &tst))
				break;
		task_list_put(c, l);
		return 0;
	}
	default:
		if (!node_is_dir(n->kind))
			return ao_errf(err, ENOTDIR, "not a directory");
		fill_fixed(c, n, fill,
			   ctx); /* project, export/, stage/S, batch/B, task, drop box */
		if (n->kind == AO_N_DS_DIR || n->kind == AO_N_DS_STAGE_DIR ||
		    n->kind == AO_N_DS_BATCH_DIR || n->kind == AO_N_DS_VDIR)
			return V(c)->readdir(c, n, fill, ctx, err);
		return 0;
	}
}

/* --- file contents ------------------------------------------------------ */

/* An open file's kinds (struct ao_fh's operations): what its fields hold
 * says which. The kernel's caching of each is decided by the router from
 * the facts the open leaves in fh->kc. */

static struct ao_core_fh *CFH(struct ao_fh *fh)
{
	return fh->self;
}

static ssize_t mem_read(struct ao_core_fh *fh, char *buf, size_t size, off_t off)
{
	if ((size_t)off >= fh->len)
		return 0;
	size_t n = fh->len - (size_t)off;
	if (n > size)
		n = size;
	memcpy(buf, fh->buf + off, n);
	return (ssize_t)n;
}

/* Bytes [off, off+size) of an export generation still being written are
 * waited for (its stream); every other file's are there. */
static int bytes_there(struct ao_core_fh *fh, off_t off, size_t size, struct ao_err *err)
{
	if (fh->x && fh->xgrow)
		return ao_xcache_wait_grow(fh->c->cfg.xc, fh->xgrow,
					   (long long)off + (long long)size, err);
	if (!fh->x || !fh->xstream)
		return 0;
	return ao_xcache_wait(fh->c->cfg.xc, fh->x, fh->xstream, (long long)off + (long long)size,
			      err);
}

static ssize_t fd_read(struct ao_core_fh *fh, char *buf, size_t size, off_t off, struct ao_err *err)
{
	size_t got = 0;
	int rc = bytes_there(fh, off, size, err);

	if (rc < 0)
		return rc;
	while (got < size) {
		ssize_t r = pread(fh->fd, buf + got, size - got, off + (off_t)got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ao_errf(err, errno, "reading the cached file: %s", strerror(errno));
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static ssize_t op_read(struct ao_fh *f, char *buf, size_t size, off_t off, struct ao_err *err)
{
	struct ao_core_fh *fh = CFH(f);

	if (off < 0)
		return ao_errf(err, EINVAL, "negative offset");
	if (fh->m && fh->fd < 0) /* an asset or mask still downloading */
		return ao_media_read(fh->c->cfg.media, fh->m, buf, size, off, err);
	if (fh->ds && fh->fd < 0 && !fh->buf) /* a dataset image's bytes */
		return V(fh->c)->read(fh->c, fh, buf, size, off, err);
	if (fh->fd >= 0)
		return fd_read(fh, buf, size, off, err);
	return mem_read(fh, buf, size, off);
}

/* Spliced reads hand libfuse the file's descriptor instead of a copy. */
static int op_splice_fd(struct ao_fh *f, off_t off, size_t size, int *fd, struct ao_err *err)
{
	struct ao_core_fh *fh = CFH(f);
	int rc;

	*fd = -1;
	if (fh->fd < 0)
		return 0;
	if (off < 0)
		return ao_errf(err, EINVAL, "negative offset");
	if ((rc = bytes_there(fh, off, size, err)) < 0)
		return rc;
	*fd = fh->fd;
	return 0;
}

static void core_fh_free(struct ao_core_fh *fh)
{
	if (fh->own_fd && fh->fd >= 0)
		close(fh->fd);
	free(fh->buf);
	free(fh);
}

static void release_export(struct ao_fh *f, unsigned long *cur_gen)
{
	struct ao_core_fh *fh = CFH(f);

	ao_xcache_close(fh->c->cfg.xc, fh->x, fh->fd);
	*cur_gen = ao_xcache_gen(fh->c->cfg.xc, fh->x); /* current now */
	core_fh_free(fh);
}

static void release_media(struct ao_fh *f, unsigned long *cur_gen)
{
	struct ao_core_fh *fh = CFH(f);

	/* the content current now (asset_open's generation for the kernel cache) */
	*cur_gen = ao_media_fh_current(fh->m);
	ao_media_close(fh->c->cfg.media, fh->m); /* fd is the handle's */
	core_fh_free(fh);
}

static void release_view(struct ao_fh *f, unsigned long *cur_gen)
{
	struct ao_core_fh *fh = CFH(f);

	/* an image of complete content (read/views/tree.c dsv_open): the
	 * content it read stands for the current one (a newer one is seen at
	 * the next open, whose number then differs); else nothing to keep */
	*cur_gen = fh->kc->rule == AO_KC_EXPORT ? fh->kc->gen : 0;
	V(fh->c)->release(fh->c, fh);
	core_fh_free(fh);
}

static void release_file(struct ao_fh *f, unsigned long *cur_gen)
{
	*cur_gen = 0;
	core_fh_free(CFH(f));
}

static const struct ao_fh_ops export_ops = {
    .kind = "export", .read = op_read, .splice_fd = op_splice_fd, .release = release_export};
static const struct ao_fh_ops media_ops = {
    .kind = "media", .read = op_read, .splice_fd = op_splice_fd, .release = release_media};
static const struct ao_fh_ops view_ops = {
    .kind = "view", .read = op_read, .splice_fd = op_splice_fd, .release = release_view};
static const struct ao_fh_ops snapshot_ops = {
    .kind = "snapshot", .read = op_read, .splice_fd = op_splice_fd, .release = release_file};
static const struct ao_fh_ops memory_ops = {
    .kind = "memory", .read = op_read, .splice_fd = op_splice_fd, .release = release_file};

static const struct ao_fh_ops *ops_of(const struct ao_core_fh *fh)
{
	return fh->x	    ? &export_ops
	       : fh->m	    ? &media_ops
	       : fh->ds	    ? &view_ops
	       : fh->own_fd ? &snapshot_ops
			    : &memory_ops;
}

static int open_memory(struct ao_core *c, const struct ao_node *n, struct project *p,
		       struct ao_core_fh *fh, struct ao_err *err)
{
	int rc = 0;

	switch (n->kind) {
	case AO_N_STATUS:
		fh->buf = core_status_text(c, &fh->len);
		if (!fh->buf)
			rc = ao_errf(err, ENOMEM, "out of memory");
		break;
	case AO_N_PROJECT_JSON:
		if (!p)
			return ao_errf(err, ENOENT, "project gone");
		rc = proj_detail(c, p, err);
		if (rc < 0)
			break;
		pthread_mutex_lock(&c->lock);
		fh->buf = malloc(p->detail_len + 1);
		if (fh->buf) {
			memcpy(fh->buf, p->detail_text, p->detail_len + 1);
			fh->len = p->detail_len;
		}
		pthread_mutex_unlock(&c->lock);
		if (!fh->buf)
			rc = ao_errf(err, ENOMEM, "out of memory");
		break;
	default: /* task.json, answer.json */
		rc = task_fetch(c, n->project_id, n->task_id, n->kind == AO_N_ANSWER_JSON, &fh->buf,
				&fh->len, err);
	}
	return rc;
}

static int open_export(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
		       struct ao_err *err)
{
	struct ao_xopen o;
	int rc = ao_xcache_open_ex(c->cfg.xc, n->x, &o, 1, err);

	if (rc < 0)
		return rc;
	fh->x = n->x;
	fh->fd = o.fd;
	fh->xstream = o.stream_id;
	fh->xgrow = o.grow;
	/* one inode per path: one generation through the page cache at a time;
	 * one still downloading has no size yet: direct_io, the kernel's old
	 * size dropped */
	if (o.grow)
		*fh->kc =
		    (struct ao_kc_id){.rule = AO_KC_PATH, .drop_when_direct = 1, .drop_first = 1};
	else
		*fh->kc = (struct ao_kc_id){
		    .rule = AO_KC_EXPORT, .gen = o.gen, .size = o.size, .mtime = o.mtime};
	/* the kernel may read a complete, fresh generation itself (passthrough) */
	fh->kc->pt_fd = o.fd;
	fh->kc->pt_ok = !o.grow && !o.streamed && ao_xcache_fresh(c->cfg.xc, n->x);
	return 0;
}

int ao_core_open(struct ao_core *c, const struct ao_node *n, int flags, struct ao_fh *out,
		 struct ao_err *err)
{
	struct project *p = n->project_id[0] ? proj_by_id(c, n->project_id) : NULL;
	struct ao_core_fh *fh;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (node_is_dir(n->kind))
		return ao_errf(err, EISDIR, "is a directory");
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
		if (c->cfg.read_only)
			return ao_errf(err, EROFS, "the mount is read-only");
		return ao_errf(err, EACCES, "this file is read-only");
	}
	fh = calloc(1, sizeof(*fh));
	if (!fh)
		return ao_errf(err, ENOMEM, "out of memory");
	fh->c = c;
	fh->kind = n->kind;
	fh->fd = -1;
	fh->kc = &out->id;
	out->id.rule = AO_KC_PATH;
	if (p && (n->kind == AO_N_EXPORT_FILE || n->kind == AO_N_TASK_JSON ||
		  n->kind == AO_N_ANSWER_JSON || n->kind == AO_N_DS_FILE))
		ao_core_mark_touched(c, p->id); /* what -o poll watches */
	switch (n->kind) {
	case AO_N_STATUS:
	case AO_N_PROJECT_JSON:
	case AO_N_TASK_JSON:
	case AO_N_ANSWER_JSON:
		rc = open_memory(c, n, p, fh, err);
		break;
	case AO_N_EXPORT_FILE:
		rc = open_export(c, n, fh, err);
		break;
	case AO_N_ASSET_FILE:
	case AO_N_MASK_FILE:
		rc = asset_open(c, n, fh, err);
		break;
	case AO_N_DS_FILE:
		rc = V(c)->open(c, n, fh, err);
		break;
	case AO_N_SNAP_FILE:
		rc = V(c)->snap_open(c, n, fh, err);
		break;
	case AO_N_CHANGES_FILE:
		rc = V(c)->changes_open(c, n, fh, err);
		break;
	default:
		rc = ao_errf(err, EIO, "unexpected node");
	}
	if (rc < 0) {
		if (fh->ds)
			V(c)->release(c, fh);
		core_fh_free(fh);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->ops = ops_of(fh);
	out->self = fh;
	if (out->ops == &memory_ops) { /* the snapshot is the content */
		out->id = (struct ao_kc_id){.rule = AO_KC_PATH,
					    .id = fh->buf ? fh->buf : "",
					    .len = fh->len,
					    .bytes = in_memory(n->kind)};
	}
	return 0;
}
