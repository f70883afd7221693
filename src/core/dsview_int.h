/*
 * dsview_int.h - the dataset views under <project>/datasets/ (issue 13 item 4;
 * docs/DATASETS.md): the core's side of src/datasets. Not an interface:
 * core.c calls the dsv_* tree operations, dsview.c implements them on top
 * of the built generations of dsbuild.c.
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
 *               the whole project's export's open: dsnames.c) and pass 2;
 *               only callers that want this same set wait (interruptibly).
 *               Taken before the export cache's lock, p->detail_refresh,
 *               c->lock and dv->lock; never while holding any of them.
 *   dv->lock    a leaf: the set list, each set's current generation, the
 *               generations' reference counts, xgen and pass-2 outputs,
 *               the count of open dataset files.
 * A generation's schema, index and export descriptor are immutable
 * once published and read without a lock by whoever holds a reference.
 */
#ifndef ANGOFS_DSVIEW_INT_H
#define ANGOFS_DSVIEW_INT_H

#include <pthread.h>

#include "angofs/core.h"
#include "angofs/datasets.h"

struct ao_core;

enum dsv_fmt { DSV_YOLO, DSV_YOLO_DETECT, DSV_YOLO_SEG, DSV_COCO, DSV_IF, DSV_NFMT };

enum dsv_part {
	DSV_ROOT,      /* dir: the view itself (yolo/, coco/, imagefolder/) */
	DSV_IMAGES,    /* dir: images/ */
	DSV_LABELS,    /* dir: labels/ */
	DSV_CLASS,     /* dir: imagefolder/<class>/ (ds_name: the class directory) */
	DSV_DATA_YAML, /* file: data.yaml */
	DSV_ANNOT,     /* file: annotations.json */
	DSV_SKIPPED,   /* file: skipped.txt */
	DSV_IMAGE,     /* file: an image (ds_name: its name) */
	DSV_LABEL,     /* file: labels/<label> (ds_name) */
};

/* pass-2 outputs: the three YOLO label packs and COCO */
enum { DSV_OUT_COCO = 3, DSV_NOUT = 4 };

struct dsv_lab {
	unsigned long long off, len; /* one label file in the pack */
};

struct dsv_out {
	int built;	     /* dv->lock; the fields below are set before it */
	int fd;		     /* the published file, read-only (pread) */
	long long size;	     /* COCO: annotations.json's size */
	struct dsv_lab *tab; /* YOLO: per image (index position), NULL for COCO */
	char *report;	     /* ao_ds_report_text of this pass 2 */
};

struct dsv_gen {
	int refs;	     /* dv->lock */
	unsigned long xgen;  /* dv->lock: export cache generation last seen for it */
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
	unsigned *iopen;  /* per image: open handles of it, any path (relaxed atomics) */
	struct dsv_out out[DSV_NOUT];
};

struct dsv_set {
	struct dsv_set *next; /* dv->lock */
	struct ao_xentry *x;  /* immutable: the feeding export entry */
	char project_id[AO_ID_MAX];
	pthread_mutex_t build; /* single flight of building this set */
	struct dsv_gen *cur;   /* dv->lock */
};

struct dsv {
	pthread_mutex_t lock; /* "dv->lock", a leaf */
	struct dsv_set *sets;
};

/* ---- dsbuild.c: generations ---------------------------------------------- */

/* The current generation of the set feeding n (fetching the export and
 * building pass 1 when needed); release with dsv_put. NULL + err. */
struct dsv_gen *dsv_acquire(struct ao_core *c, const struct ao_node *n, struct ao_err *err);
void dsv_put(struct ao_core *c, struct dsv_gen *g);
/* Make pass-2 output k of g available (building it once). */
int dsv_ensure(struct ao_core *c, struct dsv_gen *g, int k, struct ao_err *err);
/* The record of an image, read at its locator from the export generation. */
int dsv_record(const struct dsv_gen *g, const struct ao_ds_image *im, json_t **rec,
	       struct ao_err *err);
int dsv_record_fd(int fd, const struct ao_ds_image *im, json_t **rec, struct ao_err *err);
void dsv_free_all(struct ao_core *c);

/* ---- dsnames.c: names as assets/ names them ------------------------------ */

/* Install on g->idx (before ao_ds_index_finish) the naming of
 * docs/DATASETS.md "Names": colliding images named by their assets' ids and
 * creation times (looked up), and for a stage or batch view the names of
 * the whole project's view. With set->build held (network I/O: lookups, the
 * whole project's export). dsv_naming_end(*out) after finish. */
struct dsv_naming;
int dsv_naming_begin(struct ao_core *c, struct dsv_gen *g, struct dsv_naming **out,
		     struct ao_err *err);
void dsv_naming_end(struct dsv_naming *nm);

/* ---- dspass2.c: pass 2 and the derived files ------------------------------- */

/* Write output k (a YOLO label pack) / COCO's annotations.json of g to f;
 * *report = the pass's report text (malloc'd). */
int dsv_build_pack(struct dsv_gen *g, int k, FILE *f, struct ao_err *err);
int dsv_build_coco(struct dsv_gen *g, FILE *f, char **report, struct ao_err *err);
/* Open the published output k at path and mark it built (dv->lock);
 * -ENOENT when it is not there (or incomplete). */
int dsv_load_out(struct ao_core *c, struct dsv_gen *g, int k, const char *path, struct ao_err *err);
/* Remove leftovers in dir: temp files and other generations' files of the
 * same export, both once an hour old. */
void dsv_sweep(const char *dir, const char *ident);
/* labels/<im->label> from the built pack k of g (malloc'd; -ENOENT: none). */
int dsv_label_text(const struct dsv_gen *g, int k, const struct ao_ds_image *im, char **buf,
		   size_t *len, struct ao_err *err);

/* ---- dsview.c: the tree ------------------------------------------------- */

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

#endif
