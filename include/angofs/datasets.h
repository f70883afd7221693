/*
 * datasets.h - converting an Ango export into dataset layouts (YOLO, COCO,
 * ImageFolder), FUSE-free and streaming (issue 13 item 4; docs/DATASETS.md).
 *
 * Design: exports can hold 100k+ records, so nothing here ever holds the
 * export. A conversion is two streaming passes over the same cached export
 * (NDJSON, one record per line, read with ao_ds_ndjson_next):
 *
 *   pass 1  ao_ds_index_add(record) for every record, then ao_ds_index_finish:
 *           builds the per-image index (names, sizes, ImageFolder class) -
 *           the only state that grows with the export (one small struct per
 *           image, no geometry);
 *   pass 2  per record: ao_ds_yolo_label (one labels/<name>.txt) and/or
 *           ao_ds_coco_add (appends that record's annotations to an
 *           annotations.json being written to a FILE*).
 *
 * The class tables come from the project's categorySchema once
 * (ao_ds_schema_load). Everything that cannot be expressed is skipped and
 * counted by reason in a struct ao_ds_report, never dropped silently.
 * Errors follow include/angofs/err.h (0 or -errno plus a message).
 */
#ifndef ANGOFS_DATASETS_H
#define ANGOFS_DATASETS_H

#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

#include "angofs/err.h"

/* ---- what gets skipped, and why ------------------------------------------ */

enum ao_ds_skip {
	AO_DS_SKIP_BAD_RECORD,	   /* record: not an object, or no task object */
	AO_DS_SKIP_NOT_IMAGE,	   /* record: video (frameTotal) or multi-image asset */
	AO_DS_SKIP_NO_SIZE,	   /* image: no width/height (metadata nor header) */
	AO_DS_SKIP_MASK,	   /* record: brushDataUrl/medicalBrushDataUrl mask */
	AO_DS_SKIP_BRUSH,	   /* tool: brush / medical-brush mark */
	AO_DS_SKIP_GEOMETRY,	   /* tool: geometry the format cannot express */
	AO_DS_SKIP_UNKNOWN_SCHEMA, /* tool: schemaId not in the categorySchema */
	AO_DS_SKIP_PAGE,	   /* tool: page/frame other than 0 */
	AO_DS_SKIP_DEGENERATE,	   /* tool: zero area after clipping, bad numbers */
	AO_DS_SKIP_HOLES,	   /* segmentation hole dropped (polygons have none) */
	AO_DS_SKIP_NO_ANSWER,	   /* ImageFolder: class classification unanswered */
	AO_DS_SKIP_UNKNOWN_OPTION, /* ImageFolder: answer matches no option */
	AO_DS_SKIP_SUBPIXEL,	   /* tool: under one pixel wide or high after clipping */
	AO_DS_SKIP_N
};

struct ao_ds_report {
	unsigned long long records;	/* records seen */
	unsigned long long images;	/* images written / indexed */
	unsigned long long annotations; /* label rows / COCO annotations written */
	unsigned long long clipped;	/* shapes cut to the image (kept) */
	unsigned long long skipped[AO_DS_SKIP_N];
};

const char *ao_ds_skip_name(enum ao_ds_skip s); /* "unknown_schema" */
const char *ao_ds_skip_why(enum ao_ds_skip s);	/* one-line explanation */
/* Text form ("name count  # why" lines, only non-zero reasons); malloc'd. */
char *ao_ds_report_text(const struct ao_ds_report *r);

/* ---- classes from the categorySchema ------------------------------------- */

struct ao_ds_class {
	char *schema_id;
	char *title; /* class name as in the schema (may be hostile) */
	char *tool;  /* bounding-box | rotated-bounding-box | polygon | segmentation */
};

struct ao_ds_option {
	char *value;	 /* option label (what exports carry) */
	char *schema_id; /* option schemaId */
	char dir[256];	 /* sanitized, de-duplicated directory name */
};

/* Read-only once loaded. */
struct ao_ds_schema {
	struct ao_ds_class *cls; /* YOLO index i / COCO category id i+1 */
	size_t ncls;
	char **other_ids; /* tool schemaIds known but not convertible */
	size_t nother;
	char *if_schema_id; /* ImageFolder classification (NULL: none) */
	char *if_title;
	struct ao_ds_option *opt;
	size_t nopt;
};

/* Parse categorySchema (the object {"tools","classifications",...}).
 * if_schema_id picks the ImageFolder classification; NULL applies the rule
 * (first top-level radio/single-dropdown). A named one that is missing or
 * not single-choice is -EINVAL with a message. */
int ao_ds_schema_load(const json_t *category_schema, const char *if_schema_id,
		      struct ao_ds_schema **out, struct ao_err *err);
void ao_ds_schema_free(struct ao_ds_schema *s);
/* Class index of a tool schemaId: >= 0, -1 known but not convertible,
 * -2 unknown. */
int ao_ds_schema_class(const struct ao_ds_schema *s, const char *schema_id);

/* ---- pass 1: the per-image index ------------------------------------------ */

struct ao_ds_image {
	unsigned long long rec_no;  /* 0-based position of the record in the export */
	unsigned long long locator; /* caller's (e.g. byte offset of the record) */
	char *task_id;		    /* may be NULL */
	char *name;		    /* images/<name>, set by ao_ds_index_finish */
	char *label;		    /* labels/<label>: name's stem + ".txt" */
	int width, height;	    /* 0: unknown */
	int cls;		    /* ImageFolder option index, -1: none */
	int has_ext;		    /* name ends in a known image extension */
};

struct ao_ds_index;

struct ao_ds_index *ao_ds_index_new(const struct ao_ds_schema *s);
void ao_ds_index_free(struct ao_ds_index *x);
/* Add record number rec_no (0-based, every record counts; strictly
 * increasing). Returns 1 if it became an image, 0 if skipped (counted),
 * -EINVAL when rec_no does not increase or after finish, -ENOMEM. */
int ao_ds_index_add(struct ao_ds_index *x, unsigned long long rec_no, unsigned long long locator,
		    const json_t *record);

/* Reads the first bytes of an image's media into buf (at most cap; fewer
 * only at the end of the media); returns the byte count or -errno. Used when
 * metadata lacks the size; called again with a larger cap (4 KiB, 64 KiB,
 * 256 KiB) only while the header lies further in. */
typedef ssize_t (*ao_ds_read_head_fn)(void *ud, const struct ao_ds_image *img, void *buf,
				      size_t cap);

/* Naming as assets/ names (docs/DATASETS.md, "Names"), optional:
 *   asset_of    the asset of an image whose stem collides (or is the
 *               reserved ".status"): its id and createdAt into id/created;
 *               0, or -1 when unknown (the task id tells it apart then).
 *               Called from ao_ds_index_finish, for colliding images only;
 *   fixed_name  the name the whole project's view gives img's task, or NULL
 *               (a stage or batch view takes those names when every image
 *               has one, so an image has one name in every view). */
#define AO_DS_ID_MAX 256
struct ao_ds_naming {
	int (*asset_of)(void *ud, const struct ao_ds_image *img, char *id, size_t idsz,
			char *created, size_t crsz);
	const char *(*fixed_name)(void *ud, const struct ao_ds_image *img);
	void *ud;
	/* optional: the size an image without metadata size was given before
	 * (a pinned snapshot: no header is read again); 1 and *w, *h set, or
	 * 0 (read_head decides) */
	int (*fixed_size)(void *ud, const struct ao_ds_image *img, int *w, int *h);
};
void ao_ds_index_set_naming(struct ao_ds_index *x, const struct ao_ds_naming *nm);

/* Assign names (names.h rules on the stem, extension kept), fill missing
 * sizes through read_head (may be NULL), count images without size. */
int ao_ds_index_finish(struct ao_ds_index *x, ao_ds_read_head_fn read_head, void *ud,
		       struct ao_err *err);
size_t ao_ds_index_count(const struct ao_ds_index *x);
const struct ao_ds_image *ao_ds_index_get(const struct ao_ds_index *x, size_t i);
/* The image named name (images/<name>) or whose label is label
 * (labels/<label>), or NULL: binary searches over arrays sorted at finish,
 * for the tree's lookups. */
const struct ao_ds_image *ao_ds_index_find_name(const struct ao_ds_index *x, const char *name);
const struct ao_ds_image *ao_ds_index_find_label(const struct ao_ds_index *x, const char *label);
/* The image of task task_id, or NULL. */
const struct ao_ds_image *ao_ds_index_find_task(const struct ao_ds_index *x, const char *task_id);
/* The image of record rec_no, or NULL (skipped record). */
const struct ao_ds_image *ao_ds_index_by_record(const struct ao_ds_index *x,
						unsigned long long rec_no);
/* Pass-1 counters (records, images, record-level skips). */
const struct ao_ds_report *ao_ds_index_report(const struct ao_ds_index *x);
/* Images per ImageFolder option (array of s->nopt counts). */
const unsigned long long *ao_ds_index_class_counts(const struct ao_ds_index *x);

/* ---- image headers --------------------------------------------------------- */

enum ao_ds_imgfmt {
	AO_DS_IMG_UNKNOWN,
	AO_DS_IMG_PNG,
	AO_DS_IMG_JPEG,
	AO_DS_IMG_WEBP,
	AO_DS_IMG_BMP,
	AO_DS_IMG_GIF,
	AO_DS_IMG_TIFF
};
struct ao_ds_imghead {
	int width, height;     /* as stored */
	int orientation;       /* EXIF Orientation 1..8 (JPEG; 1 when none) */
	enum ao_ds_imgfmt fmt; /* set as soon as the signature is known */
};
/* Width, height and orientation from the first len bytes of a PNG, JPEG,
 * WebP, BMP, GIF or TIFF (ds_imghead.c). 1: found; 0: its header lies
 * beyond len (read more); -EINVAL: none of these, or a corrupt header. */
int ao_ds_image_head(const void *buf, size_t len, struct ao_ds_imghead *h);
/* The size as loaders show it (OpenCV's imread, PIL's exif_transpose):
 * width and height swapped for a JPEG whose orientation is 5..8. */
void ao_ds_image_shown(const struct ao_ds_imghead *h, int *w, int *ht);
/* ao_ds_image_head's stored width/height only. fmt may be NULL. */
int ao_ds_image_size(const void *buf, size_t len, int *w, int *h, enum ao_ds_imgfmt *fmt);

/* ---- YOLO --------------------------------------------------------------- */

/* What a label row holds. MIXED is the brief's format (boxes as boxes,
 * polygons as polygon rows); Ultralytics reads a file mixing both as
 * segments, so a project with both kinds may serve BOXES (every mark as its
 * clipped bounding box: a detection dataset) and SEGMENTS (boxes as their
 * 4-corner polygon: a segmentation dataset) instead. */
enum ao_ds_yolo_mode { AO_DS_YOLO_MIXED, AO_DS_YOLO_BOXES, AO_DS_YOLO_SEGMENTS };

/* data.yaml: path (root, the view's absolute directory; NULL: no path key),
 * train/val, nc and names (YAML double-quoted). */
int ao_ds_yolo_data_yaml(const struct ao_ds_schema *s, const char *root, FILE *out);
/* The same with train/val/test image directories relative to root
 * (sets[i] NULL: that key left out), for a split view. */
int ao_ds_yolo_data_yaml_sets(const struct ao_ds_schema *s, const char *root,
			      const char *const sets[3], FILE *out);
/* labels/<img->label> for record (the record of img). Rows counted and
 * skips counted into r. 0, -EINVAL for an image without size (not in the
 * view), -errno on a write error. */
int ao_ds_yolo_label(const struct ao_ds_schema *s, const struct ao_ds_image *img,
		     const json_t *record, enum ao_ds_yolo_mode mode, FILE *out,
		     struct ao_ds_report *r);

/* ---- COCO --------------------------------------------------------------- */

struct ao_ds_coco;
/* Writes everything up to the annotations array (info, categories, images
 * from the index) to out. */
int ao_ds_coco_begin(const struct ao_ds_schema *s, const struct ao_ds_index *x, FILE *out,
		     struct ao_ds_coco **cp, struct ao_err *err);
/* The same for a subset of the images (a split, a stage of a snapshot):
 * only images keep() accepts are listed, and only their annotations are
 * added. keep NULL: every image. */
typedef int (*ao_ds_keep_fn)(void *ud, const struct ao_ds_image *img);
int ao_ds_coco_begin_subset(const struct ao_ds_schema *s, const struct ao_ds_index *x,
			    ao_ds_keep_fn keep, void *ud, FILE *out, struct ao_ds_coco **cp,
			    struct ao_err *err);
/* Append the annotations of record rec_no (no-op for skipped records). */
int ao_ds_coco_add(struct ao_ds_coco *c, unsigned long long rec_no, const json_t *record);
/* Close the document, copy the counters to r (may be NULL), free c.
 * Returns 0 or the first write error. */
int ao_ds_coco_end(struct ao_ds_coco *c, struct ao_ds_report *r);

/* ---- Pascal VOC, semantic masks, WebDataset ------------------------------ */

/* Annotations/<stem>.xml of img (ds_voc.c): one <object> per kept mark,
 * 1-based inclusive pixel boxes. -EINVAL for an image without size. */
int ao_ds_voc_xml(const struct ao_ds_schema *s, const struct ao_ds_image *img, const json_t *record,
		  FILE *out, struct ao_ds_report *r);
/* The class index + 1 of the mark covering each pixel centre (0:
 * background), w*h values (malloc'd), later marks over earlier ones
 * (ds_mask.c). */
int ao_ds_mask_render(const struct ao_ds_schema *s, const struct ao_ds_image *img,
		      const json_t *record, unsigned short **px, struct ao_ds_report *r);
/* px as a PNG: 8-bit palette (VOC colours) up to 255 classes, else 16-bit grey. */
int ao_ds_mask_png(const unsigned short *px, int w, int h, size_t ncls, FILE *out);
/* classes.txt: "background", then one class title a line. */
int ao_ds_mask_classes(const struct ao_ds_schema *s, FILE *out);
/* One ustar member (name < 100 bytes, mode 0444, mtime 0) and the end of
 * an archive (ds_wds.c); the bytes a member of len bytes takes. */
int ao_ds_tar_member(FILE *out, const char *name, const void *data, size_t len);
int ao_ds_tar_end(FILE *out);
size_t ao_ds_tar_size(size_t len);
/* A WebDataset sample's JSON: name, externalId, taskId, size, ImageFolder
 * class, and the kept marks in pixels. */
json_t *ao_ds_sample_json(const struct ao_ds_schema *s, const struct ao_ds_image *img,
			  const json_t *record, struct ao_ds_report *r);

/* ---- ImageFolder -------------------------------------------------------- */

/* Directory of img under imagefolder/, or NULL when not in the view. */
const char *ao_ds_imagefolder_dir(const struct ao_ds_schema *s, const struct ao_ds_image *img);

/* ---- reading the cached export ------------------------------------------ */

/* Next record of an NDJSON stream (blank lines skipped). 1: *rec set (and
 * *offset = its byte offset if offset); 0: end; -errno with a message
 * naming the line on a parse or read error. */
int ao_ds_ndjson_next(FILE *f, json_t **rec, long long *offset, struct ao_err *err);

#endif
