/*
 * core.h - the filesystem's read side without FUSE: paths to nodes, node
 * attributes, directory listings and file contents, on top of the hub client
 * and the export cache. The FUSE adapter (src/daemon/ll_ops.c) is a thin layer over
 * this; unit tests and tools can drive it directly.
 *
 * Tree (relpath = path inside a project directory):
 *   /                          projects (sanitized, de-duplicated names)
 *   /.status                   JSON: export downloads/cache state (+ writes)
 *   /<p>                       project by name; also by its _id (hidden alias)
 *   /<p>/project.json          GET /project/{id} data.project, pretty
 *   /<p>/export/{tasks.json,tasks.ndjson,issues.json}
 *   /<p>/export/stage/<s>/{tasks.json,tasks.ndjson}   (stage id: hidden alias)
 *   /<p>/export/batch/<b>/{tasks.json,tasks.ndjson}   (batch id: hidden alias)
 *   /<p>/labels/ /<p>/attachments/   drop boxes; contents are the write side's
 *   /<p>/tasks/<taskId>/{task.json,answer.json}
 *   /<p>/tasks/<taskId>/mask.png, mask.seg.nrrd   only when the task has
 *                              brushDataUrl / medicalBrushDataUrl (media cache)
 *   /<p>/assets/<name>         one file per asset, named by externalId
 *                              (docs/DATASETS.md "Names"), bytes from the media
 *                              cache (include/angofs/media.h); listed from the
 *                              pages of GET /project/{id}/assets
 *   /<p>/datasets/{yolo,yolo-detect,yolo-seg,coco,imagefolder}/...   read-only
 *   /<p>/datasets/stage/<s>/..., /<p>/datasets/batch/<b>/...   dataset views
 *       of one stage or batch (docs/DATASETS.md; src/read/views/)
 *   /<p>/datasets/splits/<view>/{train,val,test}/...   stable splits
 *   /<p>/snapshots/NAME/{snapshot.json,export/,datasets/}   pinned generations
 *       (mkdir pins, rmdir unpins; latest -> the newest; src/read/views/snapshot*.c)
 *   /<p>/changes/<A>..<B>.ndjson, .summary.json   diffs between snapshots
 *       (or live; src/read/views/changes.c)
 *
 * Every call returns 0 or -errno and fills err. Nothing here blocks on a
 * lock while doing network I/O except the per-object refresh locks that make
 * concurrent refreshes of one object a single request.
 */
#ifndef ANGOFS_CORE_H
#define ANGOFS_CORE_H

#include <sys/stat.h>
#include <sys/types.h>
#include <jansson.h>

#include "angofs/err.h"

struct hub;
struct ao_media;
struct ao_media_fh;
struct ao_xcache;
struct ao_xentry;
struct dsv_fh;
struct ao_views;
struct ao_fh;
struct ao_kc_id;

struct ao_core_cfg {
	struct hub *hub;
	struct ao_xcache *xc;
	struct ao_media *media; /* assets and masks; NULL: their opens fail (ENOTSUP) */
	long meta_ttl_s;	/* project list, project and task caches */
	long task_page_max;	/* list tasks by paging up to this many, else via export */
	int read_only;		/* -o ro */
	uid_t uid;
	gid_t gid;
	/* extra status (the write side's) merged into /.status; may be NULL */
	json_t *(*extra_status)(void *ud);
	void *extra_ud;
	/* top-level members merged into /.status (host, cache dir, ...); may be NULL */
	json_t *(*status_info)(void *ud);
	void *status_info_ud;
	/* derived files of the dataset views (<cache_dir>/datasets, created
	 * 0700); NULL: the views' labels and annotations.json fail with ENOTSUP */
	const char *ds_dir;
	/* -o imagefolder_class: title or schemaId of the classification whose
	 * answers are imagefolder/'s classes; NULL: the first top-level
	 * radio/single-dropdown (docs/DATASETS.md) */
	const char *ds_class;
	/* the mount point (absolute): the YOLO views' data.yaml names their
	 * directory by it (docs/DATASETS.md); NULL: data.yaml has no `path` */
	const char *mountpoint;
	/* pinned snapshots (<cache_dir>/snapshots, created 0700); NULL: mkdir
	 * in snapshots/ fails with ENOTSUP */
	const char *snap_dir;
	/* -o grace: a dataset file a refresh removed or moved stays readable
	 * by its old path this many seconds (0: gone at once) */
	long ds_grace_s;
	/* -o split (fractions of train, val, test; summing to 1) and
	 * -o split_by=class (stratified); see src/read/views/splits.c */
	double split[3];
	int split_by_class;
	/* -o shard_size: WebDataset shards of about this many bytes */
	long long shard_bytes;
	/* the dataset views, snapshots and changes (angofs/views.h: ao_views());
	 * NULL: no datasets/, snapshots/, changes/ below projects */
	const struct ao_views *views;
};

enum ao_kind {
	AO_N_ROOT,
	AO_N_STATUS,
	AO_N_PROJECT,
	AO_N_PROJECT_JSON,
	AO_N_EXPORT_DIR,
	AO_N_EXPORT_FILE,
	AO_N_STAGES_DIR,
	AO_N_STAGE_DIR,
	AO_N_BATCHES_DIR,
	AO_N_BATCH_DIR,
	AO_N_DROPBOX_DIR, /* labels/, attachments/ */
	AO_N_TASKS_DIR,
	AO_N_TASK_DIR,
	AO_N_TASK_JSON,
	AO_N_ANSWER_JSON,
	AO_N_ASSETS_DIR,     /* assets/ */
	AO_N_ASSET_FILE,     /* assets/<name>: sub_id = the asset id */
	AO_N_MASK_FILE,	     /* tasks/<id>/mask.png, mask.seg.nrrd: sub_id = the task's key */
	AO_N_DS_DIR,	     /* datasets/ */
	AO_N_DS_STAGES_DIR,  /* datasets/stage/ */
	AO_N_DS_STAGE_DIR,   /* datasets/stage/<s>/ */
	AO_N_DS_BATCHES_DIR, /* datasets/batch/ */
	AO_N_DS_BATCH_DIR,   /* datasets/batch/<b>/ */
	AO_N_DS_VDIR,	     /* a directory inside a view (ds_part says which) */
	AO_N_DS_FILE,	     /* a file inside a view (ds_part says which) */
	AO_N_SNAPS_DIR,	     /* snapshots/ (mkdir NAME pins, rmdir unpins) */
	AO_N_SNAP_LINK,	     /* snapshots/latest: a symlink to the newest */
	AO_N_SNAP_DIR,	     /* snapshots/NAME (snap, snap_ino) */
	AO_N_SNAP_XDIR,	     /* snapshots/NAME/export */
	AO_N_SNAP_FILE,	     /* snapshot.json, export/<file>: ds_name = its relative path */
	AO_N_CHANGES_DIR,    /* changes/ */
	AO_N_CHANGES_FILE,   /* changes/<A>..<B>.ndjson|.summary.json: ds_name */
};

#define AO_ID_MAX 256

struct ao_node {
	enum ao_kind kind;
	char project_id[AO_ID_MAX]; /* "" outside projects */
	char task_id[AO_ID_MAX];
	char sub_id[AO_ID_MAX]; /* stage or batch id; asset id; mask key */
	const char *relpath;	/* points into the path given to resolve; "" = project dir */
	const char *path;	/* the path given to resolve (or a listed child's): the
				 * kernel's inode; NULL if not resolved */
	int parent_ok;		/* on -ENOENT: the parent directory exists */
	struct ao_xentry *x;	/* AO_N_EXPORT_FILE; the feeding NDJSON export of AO_N_DS_* */
	/* AO_N_DS_VDIR / AO_N_DS_FILE (src/read/views/views_int.h): the view's format, the
	 * part of the view, and the image, label or class name */
	int ds_fmt, ds_part;
	char ds_name[256];
	int ds_split;		     /* under datasets/splits: 1 train, 2 val, 3 test; 0 none */
	unsigned long ds_gen;	     /* an old path served during the grace period: the
				      * retired generation it resolved in (0: the current) */
	char snap[AO_ID_MAX];	     /* below snapshots/NAME: NAME ("" = live) */
	int ds_sub;		     /* a snapshot's stage (1) or batch (2) view (its id: sub_id) */
	unsigned long long snap_ino; /* ... and its pinned directory's inode */
};

struct ao_core;

struct ao_core *ao_core_new(const struct ao_core_cfg *cfg, struct ao_err *err);
void ao_core_free(struct ao_core *c);
/* Set extra_ud after creation (the write side is created after the core). */
void ao_core_set_extra_ud(struct ao_core *c, void *ud);

/* Resolve an absolute mount path. On -ENOENT inside a project, n->project_id
 * and n->relpath are still set so the caller can ask the write side. */
int ao_core_resolve(struct ao_core *c, const char *path, struct ao_node *n, struct ao_err *err);

int ao_core_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st,
		    struct ao_err *err);
/* What stat of a path (getattr, and each entry of a listing) is told goes
 * through hook: the kernel-cache policy's (the router's, angofs/kcache.h)
 * records an export's generation as what the kernel holds and shows the
 * size of what the path's page-cache handles read while one is open. id:
 * the node's content (an export generation, an in-memory file). */
typedef void (*ao_core_stat_fn)(void *ud, const char *path, const struct ao_kc_id *id,
				struct stat *st);
void ao_core_set_stat_hook(struct ao_core *c, ao_core_stat_fn hook, void *ud);

typedef int (*ao_core_fill_fn)(void *ctx, const char *name, const struct stat *st);
int ao_core_readdir(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx,
		    struct ao_err *err);

/* The read side's state of an open file (struct ao_fh's self): which
 * fields are set says its kind, and so its operations (read/tree.c). */
struct ao_core_fh {
	struct ao_core *c;
	enum ao_kind kind;
	int fd; /* export data, a complete media file, a pinned or derived file; or -1 */
	struct ao_xentry *x;
	char *buf; /* in-memory content (project.json, task files, status) */
	size_t len;
	struct ao_media_fh *m;	/* an asset or mask (fd: its complete file, or -1) */
	struct dsv_fh *ds;	/* a dataset view file (the views'), or NULL */
	unsigned long xstream;	/* export still being written: its stream */
	struct ao_xgrow *xgrow; /* export still downloading (exports/grow.c) */
	int own_fd;		/* fd is the handle's own (a pinned file): closed at release */
	/* what the owner says of the content for the kernel-cache policy
	 * (the struct ao_fh's id: filled at open by the part that opens) */
	struct ao_kc_id *kc;
};

/* Open for reading (flags are open(2)'s: write access is refused with EACCES):
 * fh gets its operations (ops, self) and the facts of its content (id);
 * the router decides the kernel's caching from them (angofs/kcache.h). */
int ao_core_open(struct ao_core *c, const struct ao_node *n, int flags, struct ao_fh *fh,
		 struct ao_err *err);

/* mkdir NAME in <p>/snapshots (n: that directory): pin the project's
 * current generation; rmdir of snapshots/NAME (n): unpin it
 * (src/read/views/snapshots.c). readlink of snapshots/latest. */
int ao_core_snap_mkdir(struct ao_core *c, const struct ao_node *n, const char *name,
		       struct ao_err *err);
int ao_core_snap_rmdir(struct ao_core *c, const struct ao_node *n, struct ao_err *err);
int ao_core_readlink(struct ao_core *c, const struct ao_node *n, char *buf, size_t size,
		     struct ao_err *err);

/* utimens (touch): a refresh request. Exports go stale, cached metadata is
 * dropped. */
int ao_core_touch(struct ao_core *c, const struct ao_node *n, struct ao_err *err);

/* Write-side callbacks (struct ao_writes_cfg). */
void ao_core_project_written(struct ao_core *c, const char *project_id);
/* The same for a write that created one asset (cp into assets/): the asset
 * ({externalId, data} at least; the hub's object with _id when known) joins
 * the cached listing of assets/ instead of dropping it (read/asset_added.c). */
void ao_core_asset_added(struct ao_core *c, const char *project_id, const json_t *asset);
void ao_core_task_written(struct ao_core *c, const char *project_id, const char *task_id);
int ao_core_category_schema(struct ao_core *c, const char *project_id, json_t **schema,
			    struct ao_err *err);
int ao_core_read_answer(struct ao_core *c, const char *project_id, const char *task_id, char **buf,
			size_t *len, struct ao_err *err);
/* {"brushDataUrl"?, "medicalBrushDataUrl"?}: the task's mask URLs, fetched now. */
/* The media cache the core serves assets/ and masks from (may be NULL):
 * for the dataset views (src/datasets), which read asset bytes by URL with
 * ao_media_open / ao_media_read_head. */
struct ao_media *ao_core_media(struct ao_core *c);
/* The URL (`data`) of an asset of a project, from the cached asset list
 * (pages of GET /project/{id}/assets; malloc'd). -ENOENT if none. storage
 * (may be NULL) gets the asset's storage id (its `storage`, which the SDK
 * sets for assets of an integrated bucket) or NULL: it lives in *url's
 * allocation (freed with it). */
int ao_core_asset_url(struct ao_core *c, const char *project_id, const char *asset_id, char **url,
		      const char **storage, struct ao_err *err);

int ao_core_task_masks(struct ao_core *c, const char *project_id, const char *task_id,
		       json_t **masks, struct ao_err *err);

#endif
