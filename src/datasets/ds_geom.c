/*
 * ds_geom.c - from an export record's marks to clipped shapes in pixels.
 *
 * Rules (docs/DATASETS.md, "Geometry"):
 * - bounding-box {x,y,width,height}: (x,y) is the first-clicked corner, so
 *   width/height may be negative; the box is first normalised to
 *   [min,max] on each axis, then intersected with the image [0,W]x[0,H].
 *   An empty intersection (zero width or height) is "degenerate".
 * - polygon [[x,y],...], rotated-bounding-box (its "corners", or, without
 *   them, the w x h box turned by "rotation" degrees clockwise on screen
 *   about its centre) and segmentation zones ("region" of each zone) are
 *   polygons, clipped exactly to the image rectangle with Sutherland-Hodgman
 *   (a convex clip window, so the clipped area is exact even for concave
 *   polygons; Sutherland-Hodgman keeps every point's winding number inside
 *   the window, so a self-intersecting polygon stays the same region).
 *   A part's area is its even-odd region's (ds_area.c: what pycocotools and
 *   OpenCV's fillPoly draw), so a self-intersecting polygon (a bow-tie) is
 *   kept as given, as COCO does, with its lobes' area. Parts with zero area
 *   after clipping, or fewer than 3 points, are dropped; a mark with no
 *   part left is "degenerate".
 * - a mark whose clipped bounding box is under one pixel wide or high is
 *   "subpixel" (dropped: YOLO's 6 decimals would print a zero-size row).
 * - segmentation holes cannot be expressed by polygon lists (YOLO rows,
 *   COCO polygon segmentation): each is counted as "holes" and dropped, the
 *   outer region kept; the area is then the region's.
 * - brush/medical-brush marks, unknown schemaIds, tools of non-area classes,
 *   marks on page/frame > 0 and marks without one of the four geometry keys
 *   are counted and skipped.
 * A shape that clipping changed is kept and counted in r->clipped.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/tools.h"
#include "ds_int.h"

const json_t *ao_ds_record_task(const json_t *record)
{
	const json_t *t = json_object_get(record, "task");

	if (json_is_object(t))
		return t;
	t = json_array_get(json_object_get(record, "tasks"), 0);
	return json_is_object(t) ? t : NULL;
}

static int num(const json_t *o, const char *key, double *v)
{
	const json_t *j = json_object_get(o, key);

	if (!json_is_number(j))
		return -1;
	*v = json_number_value(j);
	return isfinite(*v) ? 0 : -1;
}

static int point(const json_t *p, double *x, double *y)
{
	if (!json_is_array(p) || json_array_size(p) < 2 || !json_is_number(json_array_get(p, 0)) ||
	    !json_is_number(json_array_get(p, 1)))
		return -1;
	*x = json_number_value(json_array_get(p, 0));
	*y = json_number_value(json_array_get(p, 1));
	return isfinite(*x) && isfinite(*y) ? 0 : -1;
}

/* One Sutherland-Hodgman stage: keep the side of axis (0 x, 1 y) where
 * v >= bound (ge) or v <= bound. out holds 2n+2 points. */
static size_t clip_stage(const double *in, size_t n, double *out, int axis, double bound, int ge)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		const double *c = in + 2 * i, *p = in + 2 * ((i + n - 1) % n);
		int cin = ge ? c[axis] >= bound : c[axis] <= bound;
		int pin = ge ? p[axis] >= bound : p[axis] <= bound;
		if (cin != pin) {
			double t = (bound - p[axis]) / (c[axis] - p[axis]);
			out[2 * m + axis] = bound;
			out[2 * m + !axis] = p[!axis] + t * (c[!axis] - p[!axis]);
			m++;
		}
		if (cin) {
			out[2 * m] = c[0];
			out[2 * m + 1] = c[1];
			m++;
		}
	}
	return m;
}

/* Clip pts (n points) to the image; on success *pp holds the part (area >
 * 0). Returns 1 kept, 0 degenerate, -ENOMEM. *changed set if clipped. */
static int clip_poly(const double *pts, size_t n, int w, int h, struct ds_poly *pp, int *changed)
{
	const double bounds[4] = {0, (double)w, 0, (double)h};
	size_t cap = n, m = n;
	double *a = malloc(sizeof(double) * 2 * n), *b;

	if (!a)
		return -ENOMEM;
	memcpy(a, pts, sizeof(double) * 2 * n);
	for (size_t i = 0; i < n; i++)
		if (pts[2 * i] < 0 || pts[2 * i] > w || pts[2 * i + 1] < 0 || pts[2 * i + 1] > h)
			*changed = 1;
	for (int st = 0; st < 4 && m > 0; st++) {
		cap = 2 * m + 2;
		b = malloc(sizeof(double) * 2 * cap);
		if (!b) {
			free(a);
			return -ENOMEM;
		}
		m = clip_stage(a, m, b, st / 2, bounds[st], st % 2 == 0);
		free(a);
		a = b;
	}
	double area = m >= 3 ? ao_ds_poly_area(a, m) : 0;
	if (isnan(area)) {
		free(a);
		return -ENOMEM;
	}
	if (!(area > 0)) {
		free(a);
		return 0;
	}
	pp->xy = a;
	pp->n = m;
	pp->area = area;
	return 1;
}

/* Points of a JSON [[x,y],...] list into a new array; NULL if malformed. */
static double *json_points(const json_t *arr, size_t *n)
{
	size_t i, k = json_array_size(arr);
	const json_t *p;
	double *xy;

	if (!json_is_array(arr) || k < 3)
		return NULL;
	xy = malloc(sizeof(double) * 2 * k);
	if (!xy)
		return NULL;
	json_array_foreach(arr, i, p)
	{
		if (point(p, &xy[2 * i], &xy[2 * i + 1]) != 0) {
			free(xy);
			return NULL;
		}
	}
	*n = k;
	return xy;
}

/* Corners of a rotated box: given, or computed (clockwise on screen). */
static double *rotated_corners(const json_t *g, size_t *n)
{
	double x, y, bw, bh, rot, *xy;
	const json_t *c = json_object_get(g, "corners");

	if (json_array_size(c) == 4)
		return json_points(c, n);
	if (num(g, "x", &x) || num(g, "y", &y) || num(g, "width", &bw) || num(g, "height", &bh))
		return NULL;
	if (num(g, "rotation", &rot))
		rot = 0;
	xy = malloc(sizeof(double) * 8);
	if (!xy)
		return NULL;
	double cx = x + bw / 2, cy = y + bh / 2, r = rot * M_PI / 180, cs = cos(r), sn = sin(r);
	const double dx[4] = {-bw / 2, bw / 2, bw / 2, -bw / 2},
		     dy[4] = {-bh / 2, -bh / 2, bh / 2, bh / 2};
	for (int i = 0; i < 4; i++) {
		xy[2 * i] = cx + dx[i] * cs - dy[i] * sn;
		xy[2 * i + 1] = cy + dx[i] * sn + dy[i] * cs;
	}
	*n = 4;
	return xy;
}

static int box_shape(const json_t *g, int w, int h, struct ds_shape *sh, int *changed)
{
	double x, y, bw, bh;

	if (num(g, "x", &x) || num(g, "y", &y) || num(g, "width", &bw) || num(g, "height", &bh))
		return 0;
	double x0 = fmin(x, x + bw), x1 = fmax(x, x + bw);
	double y0 = fmin(y, y + bh), y1 = fmax(y, y + bh);
	if (x0 < 0 || y0 < 0 || x1 > w || y1 > h)
		*changed = 1;
	sh->x0 = fmax(x0, 0);
	sh->y0 = fmax(y0, 0);
	sh->x1 = fmin(x1, w);
	sh->y1 = fmin(y1, h);
	if (!(sh->x1 > sh->x0 && sh->y1 > sh->y0))
		return 0;
	sh->is_box = 1;
	sh->area = (sh->x1 - sh->x0) * (sh->y1 - sh->y0);
	return 1;
}

static int add_part(struct ds_shape *sh, const double *xy, size_t n, int w, int h, int *changed)
{
	struct ds_poly p;
	int rc = clip_poly(xy, n, w, h, &p, changed);

	if (rc <= 0)
		return rc;
	sh->poly[sh->npoly++] = p;
	sh->area += p.area;
	for (size_t i = 0; i < p.n; i++) {
		sh->x0 = fmin(sh->x0, p.xy[2 * i]);
		sh->x1 = fmax(sh->x1, p.xy[2 * i]);
		sh->y0 = fmin(sh->y0, p.xy[2 * i + 1]);
		sh->y1 = fmax(sh->y1, p.xy[2 * i + 1]);
	}
	return 1;
}

/* Polygon-like marks. Returns parts kept (0: degenerate) or -ENOMEM. */
static int poly_shape(const json_t *tool, const char *key, int w, int h, struct ds_shape *sh,
		      int *changed, unsigned long long *holes)
{
	const json_t *g = json_object_get(tool, key), *zones = NULL, *z;
	size_t nparts = 1, i, n;
	double *xy;
	int rc = 0;

	if (!strcmp(key, "segmentation")) {
		zones = json_object_get(g, "zones");
		nparts = json_array_size(zones);
	}
	sh->poly = calloc(nparts ? nparts : 1, sizeof(*sh->poly));
	if (!sh->poly)
		return -ENOMEM;
	sh->x0 = sh->y0 = INFINITY;
	sh->x1 = sh->y1 = -INFINITY;
	if (!zones) {
		xy = !strcmp(key, "polygon") ? json_points(g, &n) : rotated_corners(g, &n);
		rc = xy ? add_part(sh, xy, n, w, h, changed) : 0;
		free(xy);
		return rc;
	}
	json_array_foreach(zones, i, z)
	{
		*holes += json_array_size(json_object_get(z, "holes"));
		xy = json_points(json_object_get(z, "region"), &n);
		if (!xy)
			continue;
		rc = add_part(sh, xy, n, w, h, changed);
		free(xy);
		if (rc < 0)
			return rc;
	}
	return (int)sh->npoly;
}

static void free_shape(struct ds_shape *sh)
{
	for (size_t i = 0; i < sh->npoly; i++)
		free(sh->poly[i].xy);
	free(sh->poly);
}

/* Classify one mark: a skip reason, or -1 to convert it with geometry key *key. */
static int triage(const struct ao_ds_schema *s, const json_t *t, int *cls, const char **key)
{
	const char *tool = json_string_value(json_object_get(t, "tool"));
	const json_t *page = json_object_get(t, "page");

	if (!json_is_object(t))
		return AO_DS_SKIP_DEGENERATE;
	if (json_is_true(json_object_get(t, "medical-brush")) || json_object_get(t, "brush") ||
	    (tool && strstr(tool, "brush")))
		return AO_DS_SKIP_BRUSH;
	*cls = ao_ds_schema_class(s, json_string_value(json_object_get(t, "schemaId")));
	if (*cls == -2)
		return AO_DS_SKIP_UNKNOWN_SCHEMA;
	if (*cls == -1)
		return AO_DS_SKIP_GEOMETRY;
	if (json_is_number(page) && json_number_value(page) != 0)
		return AO_DS_SKIP_PAGE;
	*key = NULL;
	for (const struct ao_tool *g = ao_tools; g->name; g++)
		if ((g->flags & AO_TOOL_REGION) && json_object_get(t, g->name)) {
			*key = g->name;
			break;
		}
	if (*key && !strcmp(*key, "segmentation") &&
	    !json_is_array(json_object_get(json_object_get(t, *key), "zones")))
		return AO_DS_SKIP_GEOMETRY; /* exported without "Segmentation Points" */
	return *key ? -1 : AO_DS_SKIP_GEOMETRY;
}

int ao_ds_each_shape(const struct ao_ds_schema *s, const json_t *record, int w, int h,
		     ds_shape_fn fn, void *ud, struct ao_ds_report *r)
{
	const json_t *task = ao_ds_record_task(record), *tools, *t;
	size_t i;

	tools = json_object_get(task, "tools");
	if (!tools)
		tools = json_object_get(task, "objects");
	json_array_foreach(tools, i, t)
	{
		struct ds_shape sh = {0};
		const char *key = NULL;
		int changed = 0, rc, why = triage(s, t, &sh.cls, &key);
		if (why >= 0) {
			r->skipped[why]++;
			continue;
		}
		sh.object_id = json_string_value(json_object_get(t, "objectId"));
		sh.tool = t;
		if (!strcmp(key, "bounding-box"))
			rc = box_shape(json_object_get(t, key), w, h, &sh, &changed);
		else
			rc = poly_shape(t, key, w, h, &sh, &changed, &r->skipped[AO_DS_SKIP_HOLES]);
		if (rc <= 0) {
			free_shape(&sh);
			if (rc < 0)
				return rc;
			r->skipped[AO_DS_SKIP_DEGENERATE]++;
			continue;
		}
		if (sh.x1 - sh.x0 < 1 || sh.y1 - sh.y0 < 1) {
			/* under a pixel across after clipping: a zero-size row at
			 * YOLO's precision, nothing a mask can show */
			free_shape(&sh);
			r->skipped[AO_DS_SKIP_SUBPIXEL]++;
			continue;
		}
		r->clipped += changed;
		rc = fn(ud, &sh);
		free_shape(&sh);
		if (rc)
			return rc;
	}
	return 0;
}
