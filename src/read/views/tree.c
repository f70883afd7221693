/*
 * tree.c - the tree below <project>/datasets/ (src/read/views/views_int.h;
 * docs/DATASETS.md): lookup, listing, attributes and contents of the YOLO,
 * COCO and ImageFolder views, over the generations read/views/build.c builds.
 *
 * Design: read/tree.c's table holds the fixed part (datasets/, stage/, batch/)
 * and hands every other name below datasets/ to dsv_lookup, which resolves
 * one component at a time into (format, part, name) kept in the node. The
 * view directories themselves (yolo/, coco/, ...) and their fixed entries
 * cost nothing; a name that depends on the data (an image, a label, a class)
 * acquires the current generation (pass 1, built once per export
 * generation) and answers from its index with binary searches; files whose
 * content is pass 2 (labels, annotations.json, skipped.txt) build it on
 * their first stat, so their sizes are always true. Everything is
 * read-only; how the kernel may cache it (a new generation may change any
 * size, an image's is unknown until it is fetched) is dsv_open's rule.
 *
 * Formats: yolo/ (labels in the mixed mode: boxes as boxes, polygons as
 * polygon rows), yolo-detect/ (every mark as its box: Ultralytics detect),
 * yolo-seg/ (every mark as a polygon: Ultralytics segment), coco/,
 * imagefolder/ (the first top-level single-choice classification).
 *
 * splits/<format>/{train,val,test}/ is each view again with the images of
 * one split only (read/views/splits.c decides; n->ds_split), plus one data.yaml in
 * splits/yolo.../ naming the three, and an annotations.json per split for
 * COCO (its own pass-2 output). Below snapshots/NAME/datasets/ the same
 * tree is served from the pinned generation (n->snap). An image, label or
 * class a refresh removed resolves in a retired generation while its grace
 * lasts (n->ds_gen; listings show the current generation only).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../read_int.h"
#include "views_int.h"
#include "angofs/export_cache.h"
#include "angofs/fh.h"
#include "angofs/log.h"
#include "angofs/media.h"

static const char *const fmt_names[DSV_NFMT] = {
    "yolo", "yolo-detect", "yolo-seg", "coco", "imagefolder", "voc", "masks", "webdataset"};

#define F(x) (1u << (x))
#define YOLO (F(DSV_YOLO) | F(DSV_YOLO_DETECT) | F(DSV_YOLO_SEG))
/* The fixed entries of a view directory, by format (a mask of formats). */
static const struct {
	const char *name;
	int part;
	unsigned fmts; /* present in those views */
} fixed[] = {
    {"data.yaml", DSV_DATA_YAML, YOLO},
    {"images", DSV_IMAGES, YOLO | F(DSV_COCO) | F(DSV_MASKS)},
    {"labels", DSV_LABELS, YOLO},
    {"annotations.json", DSV_ANNOT, F(DSV_COCO)},
    {"Annotations", DSV_VOC_ANN, F(DSV_VOC)},
    {"JPEGImages", DSV_IMAGES, F(DSV_VOC)},
    {"ImageSets", DSV_VOC_SETS, F(DSV_VOC)},
    {"annotations", DSV_MASK_DIR, F(DSV_MASKS)},
    {"classes.txt", DSV_CLASSES, F(DSV_MASKS)},
    {"shards.json", DSV_WDS_INDEX, F(DSV_WDS)},
    {"skipped.txt", DSV_SKIPPED, ~0u},
};

static int is_yolo(int fmt)
{
	return fmt == DSV_YOLO || fmt == DSV_YOLO_DETECT || fmt == DSV_YOLO_SEG;
}

static int fmt_of(const char *name)
{
	for (int f = 0; f < DSV_NFMT; f++)
		if (!strcmp(name, fmt_names[f]))
			return f;
	return -1;
}

static int has_fixed(int fmt, size_t i)
{
	return fmt >= 0 && (fixed[i].fmts & F(fmt)) != 0;
}

static int part_is_dir(int part)
{
	return part == DSV_ROOT || part == DSV_IMAGES || part == DSV_LABELS || part == DSV_CLASS ||
	       part == DSV_SPLITS || part == DSV_SPLITROOT || part == DSV_VOC_ANN ||
	       part == DSV_VOC_SETS || part == DSV_VOC_MAIN || part == DSV_MASK_DIR;
}

/* Is image im in the view of node n (of format n->ds_fmt; of split
 * n->ds_split; under class dir cls for ImageFolder)? */
int dsv_in_view(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n, const char *cls,
		const struct ao_ds_image *im)
{
	if (!im)
		return 0;
	if (n->ds_fmt == DSV_IF) {
		const char *d = ao_ds_imagefolder_dir(g->schema, im);
		if (!d || (cls && strcmp(d, cls)))
			return 0;
	} else if (im->width <= 0)
		return 0;
	return !n->ds_split || dsv_split_of(c, g, n->ds_fmt, im) == n->ds_split;
}

/* The export entry feeding a view under n (a datasets/ directory); NULL
 * without an error for a snapshot's (its set is the pin). */
static struct ao_xentry *feed(struct ao_core *c, const struct ao_node *n, struct ao_err *err)
{
	struct ao_xspec s = {.project_id = n->project_id, .type = AO_X_TASK, .ndjson = 1};

	if (n->snap[0])
		return NULL;
	if (n->kind == AO_N_DS_STAGE_DIR)
		s.stage_id = n->sub_id;
	else if (n->kind == AO_N_DS_BATCH_DIR)
		s.batch_id = n->sub_id;
	return ao_xcache_get(c->cfg.xc, &s, err);
}

/* The part `name` is below n in generation g: DSV_CLASS, DSV_LABEL,
 * DSV_IMAGE, or -1 (not there). */
static int part_in(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n, const char *name)
{
	const struct ao_ds_image *im;

	if (n->ds_part == DSV_ROOT) { /* imagefolder/<class>: classes with images */
		const unsigned long long *cnt = dsv_class_counts(c, g, n->ds_split);
		for (size_t i = 0; cnt && i < g->schema->nopt; i++)
			if (cnt[i] && !strcmp(g->schema->opt[i].dir, name))
				return DSV_CLASS;
		return -1;
	}
	if (n->ds_part == DSV_LABELS) {
		im = ao_ds_index_find_label(g->idx, name);
		return dsv_in_view(c, g, n, NULL, im) ? DSV_LABEL : -1;
	}
	if (n->ds_part == DSV_VOC_ANN || n->ds_part == DSV_MASK_DIR)
		return dsv_fmt_part_in(c, g, n, name); /* <stem>.xml, <stem>.png */
	im = ao_ds_index_find_name(g->idx, name);
	return dsv_in_view(c, g, n, n->ds_part == DSV_CLASS ? n->ds_name : NULL, im) ? DSV_IMAGE
										     : -1;
}

/* A name the current generation lacks: the newest retired generation that
 * has it, while its grace lasts (-o grace), serves its old path. */
static int part_retired(struct ao_core *c, struct ao_node *n, const char *name)
{
	struct dsv_gen *r[DSV_RETIRED_MAX];
	size_t k = dsv_retired(c, n, r, DSV_RETIRED_MAX);
	int part = -1;

	for (size_t i = 0; i < k; i++) {
		if (part < 0 && (part = part_in(c, r[i], n, name)) >= 0) {
			n->ds_gen = r[i]->serial;
			ao_debug("datasets: %s served from retired generation %s (grace)", name,
				 r[i]->ident);
		}
		dsv_put(c, r[i]);
	}
	return part;
}

static int lookup_data(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
		       struct ao_err *err)
{
	struct dsv_gen *g = dsv_acquire(c, n, err);
	int part;

	if (!g)
		return err->code ? -err->code : -EIO;
	part = part_in(c, g, n, name);
	dsv_put(c, g);
	if (part < 0 && !n->ds_gen)
		part = part_retired(c, n, name);
	if (part < 0)
		return ao_errf(err, ENOENT, "%s: no such file", path);
	n->ds_part = part;
	snprintf(n->ds_name, sizeof(n->ds_name), "%s", name);
	n->kind = part_is_dir(part) ? AO_N_DS_VDIR : AO_N_DS_FILE;
	return 0;
}

/* datasets/, stage/<s>/, batch/<b>/: the views (and splits/ in datasets/). */
static int lookup_view(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
		       struct ao_err *err)
{
	int f = fmt_of(name), splits = !strcmp(name, "splits") && n->kind == AO_N_DS_DIR;

	if (f < 0 && !splits)
		return ao_errf(err, ENOENT, "%s: no such view", path);
	n->x = feed(c, n, err);
	if (!n->x && !n->snap[0])
		return -ENOMEM;
	if (n->snap[0] && (n->kind == AO_N_DS_STAGE_DIR || n->kind == AO_N_DS_BATCH_DIR))
		n->ds_sub =
		    n->kind == AO_N_DS_STAGE_DIR ? 1 : 2; /* pinned (read/views/snapshot_views.c) */
	n->ds_fmt = f;
	n->ds_part = splits ? DSV_SPLITS : DSV_ROOT;
	n->kind = AO_N_DS_VDIR;
	return 0;
}

/* splits/<fmt>/: train, val, test (those whose fraction is not 0), and the
 * YOLO views' data.yaml. */
static int lookup_split(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
			struct ao_err *err)
{
	if (is_yolo(n->ds_fmt) && !strcmp(name, "data.yaml")) {
		n->ds_part = DSV_SPLIT_YAML;
		n->kind = AO_N_DS_FILE;
		return 0;
	}
	for (int k = 1; k <= 3; k++)
		if (dsv_split_on(c, k) && !strcmp(name, dsv_split_names[k])) {
			n->ds_split = k;
			n->ds_part = DSV_ROOT;
			return 0;
		}
	return ao_errf(err, ENOENT, "%s: no such split", path);
}

int dsv_lookup(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
	       struct ao_err *err)
{
	if (n->kind != AO_N_DS_VDIR)
		return lookup_view(c, n, name, path, err);
	if (n->ds_part == DSV_SPLITS) {
		if ((n->ds_fmt = fmt_of(name)) < 0)
			return ao_errf(err, ENOENT, "%s: no such view", path);
		n->ds_part = DSV_SPLITROOT;
		return 0;
	}
	if (n->ds_part == DSV_SPLITROOT)
		return lookup_split(c, n, name, path, err);
	if (n->ds_part == DSV_ROOT)
		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			if (has_fixed(n->ds_fmt, i) && !strcmp(name, fixed[i].name) &&
			    !(n->ds_split && fixed[i].part == DSV_DATA_YAML)) {
				n->ds_part = fixed[i].part;
				n->kind = part_is_dir(n->ds_part) ? AO_N_DS_VDIR : AO_N_DS_FILE;
				return 0;
			}
	if (n->ds_part == DSV_VOC_SETS || n->ds_part == DSV_VOC_MAIN ||
	    (n->ds_part == DSV_ROOT && n->ds_fmt == DSV_WDS))
		return dsv_fmt_lookup(c, n, name, path, err); /* Main/, sets, shards */
	if (n->ds_part == DSV_ROOT && n->ds_fmt != DSV_IF)
		return ao_errf(err, ENOENT, "%s: no such file", path);
	return lookup_data(c, n, name, path, err);
}

/* ---- attributes --------------------------------------------------------------- */

static void file_stat(struct ao_core *c, int dir, long long size, struct stat *st)
{
	dsv_stat(c, dir ? DSV_RO_DIR : DSV_RO_FILE, size, c->t0, st);
}

/* The output pass 2 builds for a format and split (-1: none). */
static int out_of(int fmt, int split)
{
	if (is_yolo(fmt))
		return fmt;
	if (fmt == DSV_VOC)
		return DSV_OUT_VOC;
	if (fmt == DSV_WDS)
		return DSV_OUT_WDS + split;
	if (fmt != DSV_COCO)
		return -1;
	return split ? DSV_OUT_COCO_SPLIT + split - 1 : DSV_OUT_COCO;
}

/* skipped.txt: the index's report and the format's pass-2 report (of the
 * whole view: a split's YOLO labels are the view's). */
static char *skipped_text(struct ao_core *c, struct dsv_gen *g, int fmt, int split, size_t *len,
			  struct ao_err *err)
{
	int k = out_of(fmt, split);
	char *t = NULL, *idx;

	if (k >= 0 && dsv_ensure(c, g, k, err) < 0)
		return NULL;
	/* the index's reasons that concern this view only: ImageFolder needs no
	 * size, YOLO and COCO no class */
	struct ao_ds_report r = *ao_ds_index_report(g->idx);
	if (fmt == DSV_IF)
		r.skipped[AO_DS_SKIP_NO_SIZE] = 0;
	else
		r.skipped[AO_DS_SKIP_NO_ANSWER] = r.skipped[AO_DS_SKIP_UNKNOWN_OPTION] = 0;
	idx = ao_ds_report_text(&r);
	int n = idx ? asprintf(&t,
			       "# %s: what this view leaves out, and why (docs/DATASETS.md)\n"
			       "[index]\n%s%s[%s]\n%s",
			       fmt_names[fmt], idx, fmt == DSV_IF && g->if_note ? g->if_note : "",
			       fmt_names[fmt],
			       k >= 0 ? g->out[k].report
			       : fmt == DSV_IF
				   ? "(no per-mark conversion: images are sorted by class)\n"
				   : "(each mask is made when read, from the marks YOLO and "
				     "COCO keep: see their skipped.txt)\n")
		    : -1;
	free(idx);
	if (n < 0) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	*len = (size_t)n;
	return t;
}

/* data.yaml (node n) of a YOLO view:
 * `path` is the view's absolute directory on this mount, as n was reached
 * (a project's name or its id alias), so Ultralytics finds images/ from any
 * working directory (ds_yolo.c). */
static char *yaml_text(struct ao_core *c, const struct dsv_gen *g, const struct ao_node *n,
		       size_t *len, struct ao_err *err)
{
	char *root = NULL, *t = NULL;
	const char *p = n->path ? n->path : "";
	size_t pl = strlen(p);
	FILE *f;

	while (pl > 0 && p[--pl] != '/') /* data.yaml's directory: the view */
		;
	if (c->cfg.mountpoint && n->path &&
	    asprintf(&root, "%s%.*s", c->cfg.mountpoint, (int)pl, p) < 0) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	f = open_memstream(&t, len);
	/* splits/yolo.../data.yaml: one file naming the three sets */
	const char *sets[3] = {NULL, NULL, NULL};
	for (int k = 1; k <= 3; k++)
		if (dsv_split_on(c, k))
			sets[k - 1] = k == 1   ? "train/images"
				      : k == 2 ? "val/images"
					       : "test/images";
	int rc = !f ? -ENOMEM
		 : n->ds_part == DSV_SPLIT_YAML
		     ? ao_ds_yolo_data_yaml_sets(g->schema, root, sets, f)
		     : ao_ds_yolo_data_yaml(g->schema, root, f);
	if (f && fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	free(root);
	if (rc < 0 || !f) {
		free(t);
		ao_errf(err, ENOMEM, "out of memory writing data.yaml");
		return NULL;
	}
	return t;
}

static int file_size(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n, long long *size,
		     struct ao_err *err)
{
	const struct ao_ds_image *im;
	size_t len;
	int k = out_of(n->ds_fmt, n->ds_split);

	switch (n->ds_part) {
	case DSV_DATA_YAML:
	case DSV_SPLIT_YAML: {
		char *t = yaml_text(c, g, n, &len, err);
		free(t);
		*size = (long long)len;
		return t ? 0 : -err->code;
	}
	case DSV_ANNOT:
	case DSV_LABEL:
		if (dsv_ensure(c, g, k, err) < 0)
			return -err->code;
		if (n->ds_part == DSV_ANNOT) {
			*size = g->out[k].size;
			return 0;
		}
		im = ao_ds_index_find_label(g->idx, n->ds_name);
		if (!im)
			return ao_errf(err, ENOENT, "%s: gone", n->ds_name);
		*size = (long long)g->out[k].tab[im - ao_ds_index_get(g->idx, 0)].len;
		return 0;
	case DSV_SKIPPED: {
		char *t = skipped_text(c, g, n->ds_fmt, n->ds_split, &len, err);
		free(t);
		*size = (long long)len;
		return t ? 0 : -err->code;
	}
	case DSV_IMAGE:
		im = ao_ds_index_find_name(g->idx, n->ds_name);
		if (!im)
			return ao_errf(err, ENOENT, "%s: gone", n->ds_name);
		*size = dsv_image_size(c, g, im, 1);
		return 0;
	default: /* voc/, masks/, webdataset/ files (read/views/formats.c) */
		return dsv_fmt_size(c, g, n, size, err);
	}
}

/* stat never fetches an export: the current generation if the feeding
 * export is cached and fresh (built from the cache if needed), else the
 * generation built last, else NULL (nothing known yet). */
static struct dsv_gen *peek(struct ao_core *c, const struct ao_node *n, struct ao_err *err)
{
	struct dsv_gen *g = NULL;

	if (n->snap[0] || n->ds_gen || ao_xcache_fresh(c->cfg.xc, n->x))
		return dsv_acquire(c, n, err); /* a pin and a retired one fetch nothing */
	pthread_mutex_lock(&c->dsv->lock);
	for (struct dsv_set *s = c->dsv->sets; s; s = s->next)
		if (s->x == n->x && (g = s->cur))
			g->refs++;
	pthread_mutex_unlock(&c->dsv->lock);
	return g;
}

int dsv_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st, struct ao_err *err)
{
	struct dsv_gen *g = peek(c, n, err);
	long long size = 0;

	if (!g && err->code)
		return -err->code;
	if (!g) { /* never fetched: the size is unknown, shown as for an export */
		file_stat(c, 0, 1, st);
		return 0;
	}
	int rc = file_size(c, g, n, &size, err);
	dsv_put(c, g);
	if (rc < 0)
		return rc;
	file_stat(c, 0, size, st);
	return 0;
}

/* ---- listings ----------------------------------------------------------------- */

static int list_images(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n,
		       ao_core_fill_fn fill, void *ctx, struct ao_err *err)
{
	int k = out_of(n->ds_fmt, n->ds_split), labels = n->ds_part == DSV_LABELS;
	const struct ao_ds_image *first = ao_ds_index_get(g->idx, 0);
	struct stat st;

	if (labels && dsv_ensure(c, g, k, err) < 0)
		return -err->code;
	for (size_t i = 0; i < ao_ds_index_count(g->idx); i++) {
		const struct ao_ds_image *im = ao_ds_index_get(g->idx, i);
		if (!dsv_in_view(c, g, n, n->ds_part == DSV_CLASS ? n->ds_name : NULL, im))
			continue;
		if (labels)
			file_stat(c, 0, (long long)g->out[k].tab[im - first].len, &st);
		else {
			long long sz = dsv_image_size(c, g, im, 0);
			file_stat(c, 0, sz, &st);
		}
		if (fill(ctx, labels ? im->label : im->name, &st))
			break;
	}
	return 0;
}

/* imagefolder/'s class directories: the classes with images (in the split). */
static void list_classes(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n,
			 ao_core_fill_fn fill, void *ctx)
{
	const unsigned long long *cnt = dsv_class_counts(c, g, n->ds_split);
	struct stat st;

	file_stat(c, 1, 0, &st);
	for (size_t i = 0; cnt && i < g->schema->nopt; i++)
		if (cnt[i] && fill(ctx, g->schema->opt[i].dir, &st))
			break;
}

static int list_root(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx,
		     struct ao_err *err)
{
	/* class directories and shards are data: they need the index (fetching) */
	int data = n->ds_fmt == DSV_IF || n->ds_fmt == DSV_WDS;
	struct dsv_gen *g = data ? dsv_acquire(c, n, err) : peek(c, n, err);
	struct ao_node m = *n;
	struct stat st;

	if (!g && err->code)
		return -err->code;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (!has_fixed(n->ds_fmt, i) || (n->ds_split && fixed[i].part == DSV_DATA_YAML))
			continue;
		m.ds_part = fixed[i].part;
		long long size = 1;
		char child[4096]; /* the listed file's own path (data.yaml names its dir) */
		snprintf(child, sizeof(child), "%s/%s", n->path ? n->path : "", fixed[i].name);
		m.path = n->path ? child : NULL;
		if (g && !part_is_dir(m.ds_part) && file_size(c, g, &m, &size, err) < 0) {
			dsv_put(c, g);
			return -err->code;
		}
		file_stat(c, part_is_dir(m.ds_part), size, &st);
		if (fill(ctx, fixed[i].name, &st))
			break;
	}
	int rc = 0;
	if (g && n->ds_fmt == DSV_IF)
		list_classes(c, g, n, fill, ctx);
	else if (g && n->ds_fmt == DSV_WDS)
		rc = dsv_fmt_list(c, g, n, fill, ctx, err); /* the shards */
	dsv_put(c, g);
	return rc;
}

/* splits/ (the formats) and splits/<fmt>/ (data.yaml, train, val, test). */
static int list_splits(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx,
		       struct ao_err *err)
{
	struct stat st;

	file_stat(c, 1, 0, &st);
	if (n->ds_part == DSV_SPLITS) {
		for (int f = 0; f < DSV_NFMT; f++)
			if (fill(ctx, fmt_names[f], &st))
				break;
		return 0;
	}
	if (is_yolo(n->ds_fmt)) {
		struct dsv_gen *g = peek(c, n, err);
		struct ao_node m = *n;
		char child[4096];
		long long size = 1;
		if (!g && err->code)
			return -err->code;
		snprintf(child, sizeof(child), "%s/data.yaml", n->path ? n->path : "");
		m.path = n->path ? child : NULL;
		m.ds_part = DSV_SPLIT_YAML;
		if (g && file_size(c, g, &m, &size, err) < 0) {
			dsv_put(c, g);
			return -err->code;
		}
		dsv_put(c, g);
		file_stat(c, 0, size, &st);
		if (fill(ctx, "data.yaml", &st))
			return 0;
		file_stat(c, 1, 0, &st);
	}
	for (int k = 1; k <= 3; k++)
		if (dsv_split_on(c, k) && fill(ctx, dsv_split_names[k], &st))
			break;
	return 0;
}

int dsv_readdir(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx,
		struct ao_err *err)
{
	struct stat st;

	if (n->kind != AO_N_DS_VDIR) {
		file_stat(c, 1, 0, &st);
		for (int f = 0; f < DSV_NFMT; f++)
			if (fill(ctx, fmt_names[f], &st))
				return 0;
		if (n->kind == AO_N_DS_DIR)
			fill(ctx, "splits", &st);
		return 0;
	}
	if (n->ds_part == DSV_ROOT)
		return list_root(c, n, fill, ctx, err);
	if (n->ds_part == DSV_SPLITS || n->ds_part == DSV_SPLITROOT)
		return list_splits(c, n, fill, ctx, err);
	struct ao_node cur = *n;
	cur.ds_gen = 0; /* listings: the current generation only */
	n = &cur;
	struct dsv_gen *g = dsv_acquire(c, n, err);
	if (!g)
		return err->code ? -err->code : -EIO;
	int fmt_dir = n->ds_part == DSV_VOC_ANN || n->ds_part == DSV_VOC_SETS ||
		      n->ds_part == DSV_VOC_MAIN || n->ds_part == DSV_MASK_DIR;
	int rc =
	    fmt_dir ? dsv_fmt_list(c, g, n, fill, ctx, err) : list_images(c, g, n, fill, ctx, err);
	dsv_put(c, g);
	return rc;
}

/* ---- contents ----------------------------------------------------------------- */

static int open_part(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
		     struct ao_err *err)
{
	struct dsv_fh *d = fh->ds;
	const struct ao_ds_image *im;
	int k = out_of(n->ds_fmt, n->ds_split), rc = 0;

	switch (n->ds_part) {
	case DSV_DATA_YAML:
	case DSV_SPLIT_YAML:
		fh->buf = yaml_text(c, d->g, n, &fh->len, err);
		return fh->buf ? 0 : -err->code;
	case DSV_SKIPPED:
		fh->buf = skipped_text(c, d->g, n->ds_fmt, n->ds_split, &fh->len, err);
		return fh->buf ? 0 : -err->code;
	case DSV_ANNOT:
		rc = dsv_ensure(c, d->g, k, err);
		if (rc == 0)
			fh->fd = d->g->out[k].fd; /* borrowed: d->g keeps it open */
		return rc;
	case DSV_LABEL:
		rc = dsv_ensure(c, d->g, k, err);
		if (rc < 0)
			return rc;
		im = ao_ds_index_find_label(d->g->idx, n->ds_name);
		if (!im)
			return ao_errf(err, ENOENT, "%s: gone", n->ds_name);
		return dsv_label_text(d->g, k, im, &fh->buf, &fh->len, err);
	case DSV_IMAGE:
		im = ao_ds_index_find_name(d->g->idx, n->ds_name);
		if (!im)
			return ao_errf(err, ENOENT, "%s: gone", n->ds_name);
		return dsv_image_open(c, fh, im, err);
	default: /* voc/, masks/, webdataset/ files (read/views/formats.c) */
		return dsv_fmt_open(c, n, fh, err);
	}
}

/*
 * Kernel caching of a dataset file (the router decides, angofs/kcache.h;
 * the open says what the content is): the kernel may hold an old size for
 * this path (1 byte before the size was known, another generation's), so
 * opens ask for the path's attributes to be dropped. An image (AO_KC_IMAGE)
 * whose size is known, with no other handle of the image open (under any
 * path: no READ can be waiting with a page locked), is served through the
 * page cache at its true size (fstat after open, as tar does, is right);
 * otherwise, or while its size is unknown, direct_io (reads never clamped
 * to an old size), dropped on the side thread, which close waits for.
 * Derived files follow the per-path rule: other dataset files being read
 * change nothing.
 */
/* A derived file (data.yaml, labels, annotations.json, skipped.txt): its
 * bytes are fixed per generation, so the bytes (annotations.json: its
 * file's identity) stand for the content: page cache when no other handle
 * of the path is open or those read the same; a direct_io open still drops
 * the old size. */
static void derived_open(const struct ao_node *n, struct ao_core_fh *fh)
{
	struct derived_ident {
		dev_t dev;
		ino_t ino;
		off_t size;
		long long mtime_ns;
	} id;
	struct ao_kc_id *k = fh->kc;
	struct stat st;

	_Static_assert(sizeof(id) <= sizeof(k->ident), "an identity fits the handle");
	*k = (struct ao_kc_id){.rule = AO_KC_PATH,
			       .id = fh->buf ? (const void *)fh->buf : "",
			       .len = fh->len,
			       .drop_when_direct = 1};
	if (fh->fd >= 0) { /* NULL if it cannot be told: direct_io */
		memset(&id, 0, sizeof(id));
		k->id = NULL;
		k->len = sizeof(id);
		if (fstat(fh->fd, &st) == 0) {
			id = (struct derived_ident){st.st_dev, st.st_ino, st.st_size,
						    st.st_mtim.tv_sec * 1000000000LL +
							st.st_mtim.tv_nsec};
			memcpy(k->ident, &id, sizeof(id));
			k->id = k->ident;
		}
	}
	ao_debug("datasets: open %s", n->ds_name);
}

int dsv_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh, struct ao_err *err)
{
	struct dsv_fh *d = calloc(1, sizeof(*d));
	long long size;

	if (!d)
		return ao_errf(err, ENOMEM, "out of memory");
	d->g = dsv_acquire(c, n, err);
	if (!d->g) {
		free(d);
		return err->code ? -err->code : -EIO;
	}
	fh->ds = d;
	int rc = open_part(c, n, fh, err);
	if (rc < 0)
		return rc;
	if (!d->mfh) {
		derived_open(n, fh);
		return 0;
	}
	/* the same inode is this image under this path: count per image */
	int known = ao_media_fh_size(d->mfh, &size) == 1 && size > 0;
	int alone =
	    __atomic_fetch_add(&d->g->iopen[dsv_image_pos(d->g, d->im)], 1, __ATOMIC_RELAXED) == 0;
	d->counted = 1;
	/* complete content this daemon numbered (media/keep.c): the rule of
	 * exports with the content's number as the generation, as for assets/
	 * (read/assets.c): a warm open of unchanged bytes keeps the kernel's
	 * pages and attributes (the views show the mount's time as mtime) */
	struct ao_media_ident mi;
	if (known && fh->fd >= 0 && ao_media_fh_ident(d->mfh, &mi)) {
		*fh->kc = (struct ao_kc_id){
		    .rule = AO_KC_EXPORT, .gen = mi.cseq, .size = mi.size, .mtime = c->t0};
		ao_debug("datasets: open %s: complete content %lu", n->ds_name, mi.cseq);
		return 0;
	}
	/* the kernel's size for this path may be old: drop it now if no READ
	 * can be waiting on its pages, else on the side thread (direct_io) */
	*fh->kc = (struct ao_kc_id){.rule = AO_KC_IMAGE, .known = known, .others = !alone};
	ao_debug("datasets: open %s: size %s, %s", n->ds_name, known ? "known" : "unknown",
		 alone ? "alone" : "shared");
	return 0;
}

void dsv_release(struct ao_core *c, struct ao_core_fh *fh)
{
	struct dsv_fh *d = fh->ds;

	if (!d)
		return;
	if (d->own_fd > 0)
		close(d->own_fd); /* a shard's */
	fh->fd = -1;		  /* else borrowed from the generation or the media handle */
	if (d->counted && d->mfh)
		__atomic_fetch_sub(&d->g->iopen[dsv_image_pos(d->g, d->im)], 1, __ATOMIC_RELAXED);
	if (d->mfh) {
		dsv_image_note(d->g, d->im, d->mfh); /* complete by now, if it was read */
		dsv_image_pin(c, d);		     /* a snapshot's: keep it */
		ao_media_close(c->cfg.media, d->mfh);
	}
	dsv_put(c, d->g);
	free(d->url);
	free(d);
	fh->ds = NULL;
}
