/*
 * read_int.h - the read side's state (struct ao_core) and its parts: tree.c
 * (paths and nodes, open files of each kind), events.c (touch, the write
 * side's callbacks), projects.c (project list and details, what -o poll
 * watches), tasks.c (task cache and listings), assets.c and asset_added.c
 * (assets/ and task masks), completeness.c (explicit filters, the
 * completeness check), poll.c, status.c (MOUNT/.status); the views' table
 * (struct ao_views) through which the tree reaches datasets/, snapshots/
 * and changes/. Not an interface: these files include it, and the views
 * (read/views/), which build on the read side.
 *
 * Locking: c->lock guards every field below that a refresh replaces; network
 * calls run without it. A refresh of one object is serialized by that
 * object's refresh mutex and re-checks freshness after taking it, so
 * concurrent callers cause one request. Project structs are never freed
 * while the core lives (a project that leaves the list is only unlisted), so
 * pointers to them stay valid without reference counting.
 *
 * Lock order (core): c->list_refresh, p->tasks_refresh, then (released
 * before the next) the export cache's lock, p->detail_refresh, and last
 * c->lock, a leaf: nothing else is locked while c->lock is held, and no
 * network call runs under it. p->tasks_refresh may be held while
 * p->detail_refresh is taken (a listing export asks for the project's
 * stages, read/completeness.c all_stages), never the reverse. read/poll.c's p->lock
 * is never held together with any of these. Global order across modules:
 * docs/DESIGN-NOTES.md ("Locks").
 */
#ifndef ANGOFS_READ_INT_H
#define ANGOFS_READ_INT_H

#include <pthread.h>
#include <time.h>

#include "angofs/core.h"
#include "angofs/fh.h"
#include "angofs/names.h"
#include "angofs/slot.h"

/* A stage or batch of a project: immutable once built; the array holding it
 * (p->stages, p->batches) is replaced whole under c->lock by a detail refresh
 * and read under c->lock. */
struct sub {
	char *id, *name;
	char dname[AO_NAME_MAX + 1];
};

/* A published snapshot of a project's task ids, reference counted: readers
 * keep it (task_list/task_list_put) after c->lock is dropped. */
struct tasklist {
	int refs;   /* c->lock */
	size_t n;   /* immutable once published in p->tasks */
	char **ids; /* idem; sorted, unique */
};

struct project {
	char *id; /* immutable after creation: read without any lock */
	/* rewritten by each list refresh (read/projects.c) under c->lock; read under
	 * c->lock */
	char *name, *created;
	char dname[AO_NAME_MAX + 1];
	int listed;
	/* c->lock: epoch ms an export or task of it was first opened, 0 = never (read/poll.c) */
	long long touched;

	/* detail_refresh: GET /project/{id}, cached for meta_ttl_s (slot.h: its
	 * flight held across that request on purpose, only callers wanting this
	 * project's detail wait; taken before c->lock, never while holding it).
	 * Its `at` (the mtime of project.json) and the fields below: c->lock */
	struct ao_slot detail_refresh;
	json_t *detail;
	char *detail_text;
	size_t detail_len;
	struct sub *stages, *batches;
	size_t nstages, nbatches;

	/* tasks_refresh: this project's task list (pages or the export; slot.h,
	 * its flight before c->lock). Its `at` and the fields below: c->lock */
	struct ao_slot tasks_refresh;
	struct tasklist *tasks;
	unsigned long tasks_gen; /* export generation the list came from (0: pages) */

	/* assets_refresh: this project's asset list (pages of GET
	 * /project/{id}/assets; slot.h, its flight before c->lock). Its `at` and
	 * the fields below: c->lock (read/assets.c) */
	struct ao_slot assets_refresh;
	struct assetlist *assets;
};

/* One file of assets/ (read/assets.c): immutable once its list is published. */
struct asset {
	char *id, *url;
	char *xid;		    /* externalId */
	char *stem;		    /* externalId without its image extension, cut */
	char *created;		    /* createdAt ("" if none): the naming order */
	char *storage;		    /* the asset's storage id (`storage`), NULL: none */
	char ext[16];		    /* image extension with its dot, or "" */
	char name[AO_NAME_MAX + 1]; /* the file name */
};

/* A published snapshot of a project's assets, sorted by name; reference
 * counted like struct tasklist (refs: c->lock). Immutable while shared:
 * read/asset_added.c changes a list in place only when p->assets is its one
 * reference (refs == 1 under c->lock, with p->assets_refresh held), else
 * publishes a changed copy. */
struct assetlist {
	int refs;
	size_t n, cap;
	struct asset *v;
	size_t *byid; /* indexes into v, sorted by asset id (lookups by id) */
};

/* A cached task (c->tb). Every field: c->lock; an entry is built whole
 * before it is linked and freed only after it is unlinked, both under
 * c->lock, and readers copy its texts out before dropping the lock. */
struct task_ent {
	struct task_ent *next;
	char *id, *project_id;
	char *task_text, *answer_text;
	size_t task_len, answer_len;
	time_t at;
	time_t updated; /* the hub's updatedAt (0 if absent): the files' mtime */
};

#define TASK_BUCKETS 4096
#define TASK_CACHE_MAX 50000

struct dsv;
struct diff_result;

struct ao_core {
	struct ao_core_cfg cfg; /* immutable after init */
	pthread_mutex_t lock;	/* "c->lock": a leaf, never held across a request */
	/* what stat is told goes through it (ao_core_set_stat_hook): the
	 * kernel-cache table's; set before the core is used, then immutable */
	ao_core_stat_fn stat_hook;
	void *stat_ud;
	/* list_refresh: listProjects (slot.h, its flight before c->lock). Its
	 * `at`, projects..cap, tb, ntask_ents, wgen: c->lock (a leaf, never held
	 * across a request) */
	struct ao_slot list_refresh;
	struct project **projects;
	size_t nprojects, cap;
	struct task_ent *tb[TASK_BUCKETS];
	size_t ntask_ents;
	/* bumped by every write (task_drop, task_drop_project): a task fetched by a
	 * request that overlapped a write is not cached (it may predate the write) */
	unsigned long wgen;
	time_t t0;	       /* immutable after init (mount time) */
	struct xcheck *checks; /* export completeness results (read/completeness.c); lock */
	struct dsv
	    *dsv; /* the views' state (read/views/views_int.h; cfg.views->init): its own lock */
	struct diff_result
	    *diffs; /* c->lock: changes/ files computed last (read/views/changes.c) */
};

/* Degraded mode of a single cached task (the slots of slot.h do the same):
 * when the hub is unreachable an expired copy is served, and it counts as
 * fresh for AO_SLOT_HOLD_S more seconds (the returned fetch time may lie in
 * the future when the TTL is shorter), so a down hub costs one bounded
 * retry loop per hold, not one per file access. */
static inline time_t degraded_at(long ttl)
{
	return time(NULL) - ttl + AO_SLOT_HOLD_S;
}

/* read/completeness.c: explicit stage filters and the completeness check */
void xcheck_install(struct ao_core *c);
void xcheck_free_all(struct ao_core *c);
json_t *xcheck_status(struct ao_core *c);

/* read/projects.c */
int proj_list_fresh(struct ao_core *c, int force, struct ao_err *err);
struct project *proj_lookup(struct ao_core *c, const char *name, struct ao_err *err);
struct project *proj_by_id(struct ao_core *c, const char *id);
int proj_detail(struct ao_core *c, struct project *p, struct ao_err *err);
/* stage (which=0) or batch (1) by dir name or id alias; copies the id. */
int proj_sub_lookup(struct ao_core *c, struct project *p, int which, const char *name, char *id_out,
		    size_t idsz, struct ao_err *err);
void proj_free_all(struct ao_core *c);
char *proj_pretty_json(json_t *j, size_t *len);

/* read/status.c: the text of /.status (malloc'd) */
char *core_status_text(struct ao_core *c, size_t *len);

/* read/assets.c: assets/ and task masks */
struct ao_media_ref;
struct assetlist *asset_list(struct ao_core *c, struct project *p, struct ao_err *err);
void asset_list_put(struct ao_core *c, struct assetlist *l);
void asset_drop_list(struct ao_core *c, struct project *p);
/* read/assets.c helpers shared with read/asset_added.c: one asset object of the hub
 * appended to l->v (0, or -ENOMEM; an asset without _id is skipped); the
 * names of every asset (src/util/names.c's rule on the stems), then v
 * sorted by name and byid rebuilt; freeing a list. */
int asset_append(struct assetlist *l, const json_t *a);
int asset_name_all(struct assetlist *l);
void asset_list_free(struct assetlist *l);
/* read/asset_added.c: an asset this mount just created (the hub's asset object)
 * joins the cached listing of project p, named as a fetch of every page
 * would name it; without a cached listing nothing is done. */
void asset_add(struct ao_core *c, struct project *p, const json_t *asset);
void asset_free_project(struct ao_core *c, struct project *p);
int asset_lookup(struct ao_core *c, struct project *p, const char *name, char *id_out, size_t idsz,
		 struct ao_err *err);
/* The asset whose externalId is xid (the oldest of several): what
 * assets/<dir>/<name> is once cp -r sent it (its externalId "<dir>/<name>";
 * listed flattened at the top of assets/, found under its path too, so
 * rsync --ignore-existing and cp -n skip it). */
int asset_lookup_xid(struct ao_core *c, struct project *p, const char *xid, char *id_out,
		     size_t idsz, struct ao_err *err);
int asset_readdir(struct ao_core *c, struct project *p, const struct stat *base,
		  ao_core_fill_fn fill, void *ctx, struct ao_err *err);
int asset_mask_url(struct ao_core *c, const char *project_id, const char *task_id, const char *key,
		   char **url, struct ao_err *err);
/* The task's key behind a mask file name ("mask.png" -> "brushDataUrl",
 * "mask.seg.nrrd" -> "medicalBrushDataUrl"), and whether task directory n
 * has that mask (task cache; no media request). */
const char *asset_mask_key(const char *name);
int asset_mask_present(struct ao_core *c, const struct ao_node *n, const char *name);
int asset_ref(struct ao_core *c, const struct ao_node *n, struct ao_media_ref *r, char **url,
	      struct ao_err *err);
/* id: what the kernel's attributes will describe (the EXPORT rule) */
int asset_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st, struct ao_kc_id *id,
		  struct ao_err *err);
int asset_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
	       struct ao_err *err);

/* read/tasks.c */
/* mtime of a cached task's files: its updatedAt on the hub (0: not cached) */
time_t task_mtime(struct ao_core *c, const char *task_id);
int task_masks(struct ao_core *c, const char *project_id, const char *task_id, json_t **masks,
	       struct ao_err *err);
int task_fetch(struct ao_core *c, const char *project_id, const char *task_id, int answer,
	       char **text, size_t *len, struct ao_err *err);
int task_exists(struct ao_core *c, struct project *p, const char *task_id, struct ao_err *err);
struct tasklist *task_list(struct ao_core *c, struct project *p, struct ao_err *err);
void task_list_put(struct ao_core *c, struct tasklist *l);
void task_drop(struct ao_core *c, const char *task_id);
void task_drop_project(struct ao_core *c, const char *project_id); /* labels imported */
void task_drop_list(struct ao_core *c, struct project *p);
void task_free_all(struct ao_core *c);
int task_id_valid(const char *id);

/*
 * The subtrees below a project that the views give (src/read/views/views.c:
 * datasets/, snapshots/, changes/; their state c->dsv is theirs). The read
 * side calls them through this table, attached by whoever builds it
 * (ao_core_cfg.views, angofs/views.h), so it uses nothing above itself; no
 * table: those directories are empty and their files absent.
 */
struct ao_views {
	int (*init)(struct ao_core *c); /* 0 or -ENOMEM */
	void (*free)(struct ao_core *c);
	/* datasets/ below the tree table */
	int (*lookup)(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
		      struct ao_err *err);
	int (*getattr)(struct ao_core *c, const struct ao_node *n, struct stat *st,
		       struct ao_err *err);
	int (*readdir)(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx,
		       struct ao_err *err);
	int (*open)(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
		    struct ao_err *err);
	ssize_t (*read)(struct ao_core *c, struct ao_core_fh *fh, char *buf, size_t size, off_t off,
			struct ao_err *err);
	void (*release)(struct ao_core *c, struct ao_core_fh *fh);
	json_t *(*status)(struct ao_core *c);
	/* snapshots/ */
	int (*snap_find)(struct ao_core *c, const char *project_id, const char *name,
			 unsigned long long *ino, struct ao_err *err);
	int (*snap_has_latest)(struct ao_core *c, const char *project_id);
	/* has the snapshot n is in a view of that stage (batch 0) or batch? */
	int (*snap_sub_pinned)(struct ao_core *c, const struct ao_node *n, int batch,
			       const char *id);
	int (*snap_getattr)(struct ao_core *c, const struct ao_node *n, struct stat *st,
			    struct ao_err *err);
	int (*snap_readdir)(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill,
			    void *ctx, struct ao_err *err);
	int (*snap_open)(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
			 struct ao_err *err);
	int (*snap_readlink)(struct ao_core *c, const struct ao_node *n, char *buf, size_t size,
			     struct ao_err *err);
	int (*snap_create)(struct ao_core *c, const char *project_id, const char *name,
			   struct ao_err *err);
	int (*snap_remove)(struct ao_core *c, const char *project_id, const char *name,
			   struct ao_err *err);
	json_t *(*snap_status)(struct ao_core *c);
	/* changes/ */
	int (*changes_lookup)(struct ao_core *c, struct ao_node *n, const char *name,
			      const char *path, struct ao_err *err);
	int (*changes_readdir)(struct ao_core *c, const struct ao_node *n, const struct stat *fst,
			       ao_core_fill_fn fill, void *ctx);
	int (*changes_getattr)(struct ao_core *c, const struct ao_node *n, struct stat *st,
			       struct ao_err *err);
	int (*changes_open)(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
			    struct ao_err *err);
};

#endif
