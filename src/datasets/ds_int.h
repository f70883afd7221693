/*
 * ds_int.h - internals shared by the dataset converters: the record
 * accessors and the one geometry walker both YOLO and COCO use, so the two
 * formats always agree on what is kept, clipped and skipped.
 */
#ifndef ANGOFS_DS_INT_H
#define ANGOFS_DS_INT_H

#include "angofs/datasets.h"

/* A polygon: n points, xy[2*i], xy[2*i+1], in pixels, inside the image. */
struct ds_poly {
	double *xy;
	size_t n;
	double area; /* > 0 */
};

/* One convertible mark, clipped to [0,W]x[0,H]. */
struct ds_shape {
	int cls;	       /* class index */
	int is_box;	       /* bounding-box: poly is unused */
	double x0, y0, x1, y1; /* bounding box (for polygons: of all parts) */
	double area;	       /* box: w*h; polygons: sum of parts */
	struct ds_poly *poly;  /* polygons (rotated box: one 4-point part) */
	size_t npoly;
	const char *object_id; /* tool's objectId or NULL */
	const json_t *tool;    /* the mark itself (borrowed from the record) */
};

/* Called once per kept mark; a non-zero return stops the walk. */
typedef int (*ds_shape_fn)(void *ud, const struct ds_shape *sh);

/* Walk the marks of record (task.tools, or a legacy record's
 * tasks[0].objects): each convertible one is passed to fn, the others are
 * counted into r->skipped. W, H > 0. Returns 0, fn's non-zero value, or
 * -ENOMEM. */
int ao_ds_each_shape(const struct ao_ds_schema *s, const json_t *record, int w, int h,
		     ds_shape_fn fn, void *ud, struct ao_ds_report *r);

/* Area of the polygon's even-odd region (what pycocotools and OpenCV's
 * fillPoly fill), also for self-intersecting polygons; NaN: out of memory.
 * ds_area.c. */
double ao_ds_poly_area(const double *xy, size_t n);

/* The task object of a record (current format: "task"; legacy: tasks[0]). */
const json_t *ao_ds_record_task(const json_t *record);

#endif
