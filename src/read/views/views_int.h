/*
 * views_int.h - the dataset views under <project>/datasets/ (issue 13 item 4;
 * docs/DATASETS.md), the snapshots and the changes: the read side's
 * subtrees, built on it (read_int.h) and on src/datasets. Not an
 * interface: the read side reaches them through views.c's table. Parts:
 * tree.c (lookup, listing, attributes, contents), build.c (generations,
 * pass 1; image_headers.c, names.c), derived.c and shards.c (pass 2),
 * formats.c, images.c, splits.c, changes.c, and the snapshots
 * (snapshots.c the store, snapshot_json.c, snapshot_tree.c,
 * snapshot_views.c).
 *
 * A "set" is one feeding export: the NDJSON entry of the export cache for a
 * project and filter (whole project, one stage, one batch), the very entry
 * export/tasks.ndjson (or export/stage/<s>/tasks.ndjson) uses, so a view
 * costs no export request of its own. A "generation" is what was built
 * from one generation of that entry and one categorySchema: the schema,
 * the pass-1 index (names, sizes, classes), and, built on
 * demand by pass 2, the label pack of each YOLO mode and COCO's
 * annotations.json (files in the cache directory, shared by daemons).
 *
 * Locks (docs/DESIGN-NOTES.md, "Locks"):
 *   set->build  single flight of one set's (re)building: held across the
 *               export's open (which may fetch it), GET /project/{id} of
 *               the schema, pass 1 (with image-header reads, the asset
 *               lookups of colliding images and, for a stage or batch set,
 *               the whole project's export's open: read/views/names.c) and pass 2;
 *               only callers that want this same set wait (interruptibly).
 *               Taken before the export cache's lock, p->detail_refresh,
 *               c->lock and dv->lock; never while holding any of them.
 *   dv->lock    a leaf: the set list, each set's current generation and
 *               retired ones, the generations' reference counts, xgen,
 *               pass-2 outputs and split tables, the count of open dataset
 *               files.
 * A generation's schema, index, attributes and export descriptor are
 * immutable once published and read without a lock by whoever holds a
 * reference.
 *
 * Sources. A live set is fed by an export entry (above); a snapshot's set
 * (src/read/views/snapshots.c) by the files pinned in its directory: the export
 * generation, the schema, and the names and sizes the live view gave its
 * images when it was pinned (images.tsv), so its generation is built once,
 * without any request, and is never refreshed.
 *
 * Grace (-o grace): when a live set's generation is replaced, the old one
 * is kept "retired" for the grace period (at most DSV_RETIRED_MAX per set):
 * a name the new generation lacks still resolves in the newest retired
 * generation that has it (n->ds_gen), and serves that generation's bytes,
 * while listings show the current generation only.
 */
#ifndef ANGOFS_VIEWS_INT_H
#define ANGOFS_VIEWS_INT_H

#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "angofs/core.h"
#include "angofs/datasets.h"
#include "../read_int.h"

struct ao_core;

enum dsv_fmt {
	DSV_YOLO,
	DSV_YOLO_DETECT,
	DSV_YOLO_SEG,
	DSV_COCO,
	DSV_IF,
	DSV_VOC,   /* voc/: Annotations/, JPEGImages/, ImageSets/Main/ */
	DSV_MASKS, /* masks/: images/, annotations/<stem>.png, classes.txt */
	DSV_WDS,   /* webdataset/: shard-NNNNNN.tar, shards.json */
	DSV_NFMT
};

enum dsv_part {
	DSV_ROOT,	/* dir: the view itself (yolo/, coco/, imagefolder/) */
	DSV_IMAGES,	/* dir: images/ */
	DSV_LABELS,	/* dir: labels/ */
	DSV_CLASS,	/* dir: imagefolder/<class>/ (ds_name: the class directory) */
	DSV_DATA_YAML,	/* file: data.yaml */
	DSV_ANNOT,	/* file: annotations.json */
	DSV_SKIPPED,	/* file: skipped.txt */
	DSV_IMAGE,	/* file: an image (ds_name: its name) */
	DSV_LABEL,	/* file: labels/<label> (ds_name) */
	DSV_SPLITS,	/* dir: datasets/splits/ (the formats) */
	DSV_SPLITROOT,	/* dir: splits/<fmt>/ (train, val, test; yolo: data.yaml) */
	DSV_SPLIT_YAML, /* file: splits/yolo.../data.yaml (train/val/test) */
	DSV_VOC_ANN,	/* dir: voc/Annotations/ */
	DSV_VOC_XML,	/* file: voc/Annotations/<stem>.xml (ds_name) */
	DSV_VOC_SETS,	/* dir: voc/ImageSets/ */
	DSV_VOC_MAIN,	/* dir: voc/ImageSets/Main/ */
	DSV_VOC_SET,	/* file: voc/ImageSets/Main/<set>.txt (ds_name) */
	DSV_MASK_DIR,	/* dir: masks/annotations/ */
	DSV_MASK,	/* file: masks/annotations/<stem>.png (ds_name) */
	DSV_CLASSES,	/* file: masks/classes.txt */
	DSV_WDS_INDEX,	/* file: webdataset/shards.json */
	DSV_WDS_SHARD,	/* file: webdataset/shard-NNNNNN.tar (ds_name) */
};

/* pass-2 outputs: the three YOLO label packs, COCO, COCO of each split
 * (DSV_OUT_COCO_SPLIT + split - 1), the VOC annotations' pack, WebDataset
 * shards of the view and of each split (DSV_OUT_WDS + split) */
enum { DSV_OUT_COCO = 3, DSV_OUT_COCO_SPLIT = 4, DSV_OUT_VOC = 7, DSV_OUT_WDS = 8, DSV_NOUT = 12 };
/* Is output k a pack (one file of per-image parts, a table at its end)? */
static inline int dsv_is_pack(int k)
{
	return k < DSV_OUT_COCO || k == DSV_OUT_VOC;
}

#define DSV_RETIRED_MAX 16

/* What splits need of an image (pass 1, per index position). */
struct dsv_attr {
	unsigned long long
	    xhash; /* SHA-256 of the record's externalId, 8 bytes (read/views/splits.c) */
	int det;   /* its most frequent area class (ties: the lower), -1: none */
};

struct dsv_lab {
	unsigned long long off, len; /* one label file in the pack */
};

struct dsv_out {
	int built;	     /* dv->lock; the fields below are set before it */
	int fd;		     /* the published file, read-only (pread) */
	long long size;	     /* COCO: annotations.json's size */
	struct dsv_lab *tab; /* packs: per image (index position), else NULL */
	char *report;	     /* ao_ds_report_text of this pass 2 */
	json_t *index;	     /* WebDataset: shards.json (its shards: files beside it) */
};

struct dsv_set;

struct dsv_gen {
	int refs;		       /* dv->lock */
	struct dsv_set *set;	       /* immutable: sets live as long as the core */
	unsigned long serial;	       /* immutable: unique in the process (n->ds_gen) */
	time_t retired_at;	       /* dv->lock: when a newer one replaced it; 0: current */
	struct dsv_gen *rnext;	       /* dv->lock: the set's retired list, newest first */
	int pinned;		       /* immutable: a snapshot's (never refreshed, no grace) */
	const char *out_dir;	       /* immutable: where pass 2 publishes (the set's) */
	struct dsv_attr *attr;	       /* immutable: per image (splits) */
	unsigned char *split[2];       /* dv->lock once set: per image 1..3 (train, val,
					  test) by det class [0] or ImageFolder class [1] */
	unsigned long long *scount[4]; /* dv->lock once set: images per ImageFolder
					  class in split k (1..3) */
	unsigned long xgen;	       /* dv->lock: export cache generation last seen for it */
	unsigned long covers;	       /* dv->lock: the export entry's change count sampled
					  before its export was opened: it holds every change
					  marked up to that one (ao_xcache_changes) */
	char ident[128];     /* "<export hash>.<gen>-<schema hash>": names derived files */
	struct ao_xentry *x; /* immutable from here on */
	int xfd;	     /* our descriptor of the export generation's data file */
	int broken;	     /* reading xfd failed (relaxed atomic): rebuild on next access */
	char project_id[AO_ID_MAX];
	json_t *cs; /* the categorySchema the schema was loaded from */
	struct ao_ds_schema *schema;
	struct ao_ds_index *idx;
	char *if_note;	  /* why imagefolder/ is empty, or NULL */
	long long *isize; /* per image: its byte size once known, else 0 (relaxed atomics) */
	long long *msize; /* per image: its mask PNG's size once made, else 0 (idem) */
	unsigned *iopen;  /* per image: open handles of it, any path (relaxed atomics) */
	struct dsv_out out[DSV_NOUT];
};

struct dsv_set {
	struct dsv_set *next; /* dv->lock */
	struct ao_xentry *x;  /* immutable: the feeding export entry (NULL: a snapshot) */
	char project_id[AO_ID_MAX];
	char snap[AO_ID_MAX];	     /* immutable: a snapshot's name ("" live) */
	unsigned long long snap_ino; /* immutable: ... its directory's inode */
	char *dir;		     /* immutable: a snapshot view's pinned directory */
	char *root;		     /* immutable: the snapshot's (its identity: snap_ino) */
	char sub[AO_ID_MAX + 8];     /* immutable: "stage/<id>", "batch/<id>" or "" */
	char *out_dir;		     /* immutable: where its pass-2 files go */
	pthread_mutex_t build;	     /* single flight of building this set */
	struct dsv_gen *cur;	     /* dv->lock */
	unsigned long refreshes;     /* dv->lock: refreshes ended with a current generation */
	struct dsv_gen *retired;     /* dv->lock: replaced generations, newest first */
};

struct dsv {
	pthread_mutex_t lock; /* "dv->lock", a leaf */
	struct dsv_set *sets;
	unsigned long serial; /* dv->lock: the last generation serial given */
	struct dsh_fail *
	    *head_fail; /* dv->lock: header reads that failed (read/views/image_headers.c) */
};

/* ---- read/views/image_headers.c: image headers for pass 1 ------------------------------------ */

/* ao_ds_read_head_fn over the media cache; ud = {core, generation}. A read
 * that failed is not tried again for 10 minutes (-EAGAIN meanwhile). */
ssize_t dsv_read_head(void *ud, const struct ao_ds_image *im, void *buf, size_t cap);
void dsv_head_free_all(struct ao_core *c);

/* ---- read/views/build.c: generations ---------------------------------------------- */

/* The current generation of the set feeding n (fetching the export and
 * building pass 1 when needed; a snapshot's: its pinned files); with
 * n->ds_gen, that retired generation while its grace lasts (-ENOENT after).
 * Release with dsv_put. NULL + err. */
struct dsv_gen *dsv_acquire(struct ao_core *c, const struct ao_node *n, struct ao_err *err);
/* The current generation of the project's whole live view (what a
 * snapshot pins). */
struct dsv_gen *dsv_acquire_live(struct ao_core *c, const char *project_id, struct ao_err *err);
/* The retired generations of n's set whose grace lasts, newest first, each
 * with a reference (at most max); their count. */
size_t dsv_retired(struct ao_core *c, const struct ao_node *n, struct dsv_gen **out, size_t max);
/* Where pass-2 output k of g is published (its file name in out_dir). */
const char *dsv_out_name(int k);
/* A snapshot's sets and generations let go (it was unpinned). */
void dsv_snap_gone(struct ao_core *c, const char *project_id, const char *snap);
/* The sets' state for .status (a JSON array). */
json_t *dsv_status(struct ao_core *c);
void dsv_put(struct ao_core *c, struct dsv_gen *g);
#define DSV_RO_FILE (S_IFREG | 0444)
#define DSV_RO_DIR (S_IFDIR | 0555)
/* The attributes every file and directory of the views and snapshots has:
 * read-only, the mount's owner, time t. A size of 1 is the placeholder of a
 * size not known yet (as for an export never fetched): no blocks. */
static inline void dsv_stat(struct ao_core *c, mode_t mode, long long size, time_t t,
			    struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_uid = c->cfg.uid;
	st->st_gid = c->cfg.gid;
	st->st_atime = st->st_mtime = st->st_ctime = t;
	st->st_blksize = 65536;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_size = size;
	st->st_blocks = size > 1 ? (size + 511) / 512 : 0;
}
/* Make pass-2 output k of g available (building it once). */
int dsv_ensure(struct ao_core *c, struct dsv_gen *g, int k, struct ao_err *err);
/* The record of an image, read at its locator from the export generation. */
int dsv_record(const struct dsv_gen *g, const struct ao_ds_image *im, json_t **rec,
	       struct ao_err *err);
int dsv_record_fd(int fd, const struct ao_ds_image *im, json_t **rec, struct ao_err *err);
void dsv_free_all(struct ao_core *c);

/* ---- read/views/names.c: names as assets/ names them ------------------------------ */

/* Install on g->idx (before ao_ds_index_finish) the naming of
 * docs/DATASETS.md "Names": colliding images named by their assets' ids and
 * creation times (looked up), and for a stage or batch view the names of
 * the whole project's view. With set->build held (network I/O: lookups, the
 * whole project's export). dsv_naming_end(*out) after finish. */
struct dsv_naming;
int dsv_naming_begin(struct ao_core *c, struct dsv_gen *g, struct dsv_naming **out,
		     struct ao_err *err);
void dsv_naming_end(struct dsv_naming *nm);

/* ---- read/views/derived.c: pass 2 and the derived files ------------------------------- */

/* Write output k (a YOLO label pack) / COCO's annotations.json of g to f;
 * *report = the pass's report text (malloc'd). */
int dsv_build_pack(struct dsv_gen *g, int k, FILE *f, struct ao_err *err);
/* split: 0 the whole view, 1..3 the images of that split only. */
int dsv_build_coco(struct ao_core *c, struct dsv_gen *g, int split, FILE *f, char **report,
		   struct ao_err *err);
/* read/views/shards.c: WebDataset shards of g (split 0: the whole view) beside path,
 * then their index at path (shards.json). */
int dsv_build_wds(struct ao_core *c, struct dsv_gen *g, int split, const char *path,
		  struct ao_err *err);
/* Open the published output k at path and mark it built (dv->lock);
 * -ENOENT when it is not there (or incomplete). */
int dsv_load_out(struct ao_core *c, struct dsv_gen *g, int k, const char *path, struct ao_err *err);
/* Remove leftovers in dir: temp files and other generations' files of the
 * same export, both once an hour old. */
void dsv_sweep(const char *dir, const char *ident);
/* labels/<im->label> from the built pack k of g (malloc'd; -ENOENT: none). */
int dsv_label_text(const struct dsv_gen *g, int k, const struct ao_ds_image *im, char **buf,
		   size_t *len, struct ao_err *err);

/* ---- read/views/splits.c: stable splits ------------------------------------------- */

/* Pass 1's per-image attributes of g (the record of each image). */
int dsv_attr_note(struct dsv_gen *g, unsigned long long rec_no, const json_t *rec, void **acc);
int dsv_attr_finish(struct dsv_gen *g, void *acc);
/* The split (1 train, 2 val, 3 test) of image im for format fmt; 0 when
 * the tables cannot be built (out of memory). */
int dsv_split_of(struct ao_core *c, struct dsv_gen *g, int fmt, const struct ao_ds_image *im);
/* Images per ImageFolder option in split (0: the whole view; NULL: out of
 * memory). Owned by g. */
const unsigned long long *dsv_class_counts(struct ao_core *c, struct dsv_gen *g, int split);
/* Is split k (1..3) listed (its fraction is not 0)? */
int dsv_split_on(const struct ao_core *c, int k);
extern const char *const dsv_split_names[4]; /* "", "train", "val", "test" */

/* ---- read/views/snapshots.c: a snapshot set's source --------------------------------------- */

/* Open a snapshot set's pinned export (*fd) and schema (*cs); install on
 * g->idx the names and sizes pinned with it (*nm, snap_naming_end after
 * ao_ds_index_finish). */
struct snap_naming;
int snap_source(struct ao_core *c, const struct dsv_set *s, int *fd, json_t **cs,
		struct ao_err *err);
int snap_naming_begin(struct dsv_gen *g, struct snap_naming **nm, struct ao_err *err);
void snap_naming_end(struct snap_naming *nm);
/* read/views/snapshot_views.c: <snapdir>/views/<hash of key> of a stage or batch view; the
 * pin's stage and batch views, from the whole generation g and the
 * project's detail, into tmp. */
void snap_sub_dir(const char *snapdir, const char *key, char *buf, size_t n);
int snap_pin_subviews(struct dsv_gen *g, const json_t *detail, const char *tmp, struct ao_err *err);

/* ---- read/views/images.c: image bytes ------------------------------------------------ */

/* An open dataset file (core.h's struct ao_core_fh.ds). */
struct dsv_fh {
	struct dsv_gen *g;
	struct ao_media_fh *mfh;      /* an image's bytes */
	const struct ao_ds_image *im; /* that image (in g's index) */
	int counted;		      /* in g->iopen */
	int own_fd; /* a WebDataset shard's or a pinned image's descriptor (closed at release) */
	char pin[4400]; /* a snapshot's image not pinned yet: where it goes (read/views/images.c) */
	char *url;	/* ... and its asset URL */
	long long read_end; /* the furthest byte this handle read (dsv_read) */
};

/* An image's position in g's index (its sizes and open counts). */
size_t dsv_image_pos(const struct dsv_gen *g, const struct ao_ds_image *im);
/* Remember the size an open media handle knows. */
void dsv_image_note(const struct dsv_gen *g, const struct ao_ds_image *im, struct ao_media_fh *mfh);
/* Known once an image was opened (precise: or the media cache has it); else 1. */
long long dsv_image_size(struct ao_core *c, const struct dsv_gen *g, const struct ao_ds_image *im,
			 int precise);
/* At the close of a snapshot's image read whole: pin it (read/views/images.c). */
void dsv_image_pin(struct ao_core *c, struct dsv_fh *d);
/* Open im's bytes into fh (fh->ds set): waits for the first byte; a
 * snapshot's pinned copy if it has one. */
int dsv_image_open(struct ao_core *c, struct ao_core_fh *fh, const struct ao_ds_image *im,
		   struct ao_err *err);

/* ---- read/views/formats.c: the parts of voc/, masks/, webdataset/ ------------------------ */

/* DSV_VOC_XML / DSV_MASK if name ("<stem>.xml", "<stem>.png") is in n's
 * directory in g, else -1. */
int dsv_fmt_part_in(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n,
		    const char *name);
/* ImageSets/Main/, its set files, webdataset/'s shards: n becomes its child. */
int dsv_fmt_lookup(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
		   struct ao_err *err);
/* The children of a voc/, masks/ or webdataset/ directory (the shards of
 * webdataset/ itself), g: its generation (may be NULL for ImageSets/). */
int dsv_fmt_list(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n,
		 ao_core_fill_fn fill, void *ctx, struct ao_err *err);
int dsv_fmt_size(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n, long long *size,
		 struct ao_err *err);
/* fh->ds->g set: the file's content into fh (buf, or fd). */
int dsv_fmt_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
		 struct ao_err *err);

/* ---- read/views/tree.c: the tree ------------------------------------------------- */

/* Is image im in the view of node n (its format, split; class dir cls)? */
int dsv_in_view(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n, const char *cls,
		const struct ao_ds_image *im);

/* n is AO_N_DS_DIR/_STAGE_DIR/_BATCH_DIR (the views) or AO_N_DS_VDIR: its
 * child `name`, in place. */
int dsv_lookup(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
	       struct ao_err *err);
/* The children of n the table does not list. */
int dsv_readdir(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx,
		struct ao_err *err);
/* Size and mtime of an AO_N_DS_FILE (st already has its mode). */
int dsv_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st, struct ao_err *err);
int dsv_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh, struct ao_err *err);
ssize_t dsv_read(struct ao_core *c, struct ao_core_fh *fh, char *buf, size_t size, off_t off,
		 struct ao_err *err);
void dsv_release(struct ao_core *c, struct ao_core_fh *fh);

/* read/views/snapshots.c, read/views/snapshot_json.c, read/views/snapshot_tree.c: pinned snapshots
 * (<p>/snapshots/) */
#define SNAP_NAME_MAX 100
struct snap_ent {
	char name[SNAP_NAME_MAX + 1];
	unsigned long long ino;
	long long created_ms;
	long long bytes; /* with sizes: what its files hold on disk */
};
int snap_check_name(const char *name, struct ao_err *err);
/* <snap_dir>/<project>[/<name>]; -ENOTSUP without a cache directory */
int snap_path(struct ao_core *c, const char *project_id, const char *name, char *buf, size_t n);
int snap_find(struct ao_core *c, const char *project_id, const char *name, unsigned long long *ino,
	      struct ao_err *err);
/* The pins of a project, oldest first (malloc'd); leftovers swept. */
int snap_list(struct ao_core *c, const char *project_id, int sizes, struct snap_ent **v, size_t *n);
int snap_create(struct ao_core *c, const char *project_id, const char *name, struct ao_err *err);
int snap_remove(struct ao_core *c, const char *project_id, const char *name, struct ao_err *err);
struct dsv_gen;
int snap_describe(struct ao_core *c, struct dsv_gen *g, const char *name, const json_t *detail,
		  const char *tmp, json_t **out, struct ao_err *err);
int snap_has_latest(struct ao_core *c, const char *project_id);
/* Has the snapshot n is in a view of that stage (batch 0) or batch? */
int snap_sub_pinned(struct ao_core *c, const struct ao_node *n, int batch, const char *id);
/* The export generation ("<hash>.<gen>") a pin holds ("" if unknown). */
void snap_generation(struct ao_core *c, const char *project_id, const char *name, char *buf,
		     size_t n);
int snap_readlink(struct ao_core *c, const struct ao_node *n, char *buf, size_t size,
		  struct ao_err *err);
int snap_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st, struct ao_err *err);
int snap_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
	      struct ao_err *err);
int snap_readdir(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx,
		 struct ao_err *err);
json_t *snap_status(struct ao_core *c);

/* read/views/changes.c: <p>/changes/<A>..<B>.ndjson, .summary.json */
struct diff_result;
int dsv_changes_lookup(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
		       struct ao_err *err);
int dsv_changes_readdir(struct ao_core *c, const struct ao_node *n, const struct stat *fst,
			ao_core_fill_fn fill, void *ctx);
int dsv_changes_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st,
			struct ao_err *err);
int dsv_changes_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
		     struct ao_err *err);
void dsv_changes_free(struct ao_core *c);

#endif
