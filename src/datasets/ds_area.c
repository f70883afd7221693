/*
 * ds_area.c - the area of a polygon as the formats' readers fill it: the
 * even-odd region (docs/DATASETS.md, "Geometry").
 *
 * Why not the shoelace formula: it gives the *signed* area, the integral of
 * the winding number, so a self-intersecting polygon's lobes cancel (a
 * bow-tie has area 0 and was dropped as degenerate; a figure eight with
 * unequal lobes got their difference). The consumers draw polygons with the
 * even-odd rule: pycocotools' frPoly/area (COCO's own `area` and masks) and
 * OpenCV's fillPoly (Ultralytics' polygon-to-mask) fill between successive
 * edge crossings of each scan line. So the area here is that region's, and a
 * polygon is degenerate only when that is 0 (all points on a line).
 *
 * Method: exact integration over horizontal slabs. Between two consecutive
 * y values where something happens (a vertex, or two edges crossing), the
 * edges spanning the slab keep their left-to-right order, so the covered
 * width f(y) = sum over pairs of sorted crossings (x[2k+1] - x[2k]) is linear
 * in y, and the slab contributes its height times f at mid-height. Edge
 * crossings are looked for only in slabs whose edges end in another order
 * than they start (a simple polygon has none), so a simple polygon costs
 * O(a log a) per slab, a = edges spanning it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_int.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct edge {
	double x0, y0, x1, y1; /* y0 < y1 */
};

static double x_at(const struct edge *e, double y)
{
	return e->x0 + (e->x1 - e->x0) * (y - e->y0) / (e->y1 - e->y0);
}

/* Covered width at height y of the edges act[0..a) (all spanning y). */
static double width_at(const struct edge *const *act, size_t a, double y, double *xs)
{
	double w = 0;

	for (size_t i = 0; i < a; i++)
		xs[i] = x_at(act[i], y);
	qsort(xs, a, sizeof(*xs), cmp_double);
	for (size_t i = 0; i + 1 < a; i += 2)
		w += xs[i + 1] - xs[i];
	return w;
}

struct by_xs {
	const double *xs, *xt;
};

static int cmp_bottom(const void *a, const void *b, void *ud)
{
	const struct by_xs *k = ud;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = cmp_double(&k->xs[i], &k->xs[j]);
	return c ? c : cmp_double(&k->xt[i], &k->xt[j]);
}

/* Do two of the a edges cross strictly inside the slab? Their order by x
 * at the bottom (ties by the top) is then not their order at the top. */
static int crossing(const double *xs, const double *xt, size_t a, size_t *ord)
{
	struct by_xs k = {xs, xt};

	for (size_t i = 0; i < a; i++)
		ord[i] = i;
	qsort_r(ord, a, sizeof(*ord), cmp_bottom, &k);
	for (size_t i = 1; i < a; i++)
		if (xt[ord[i]] < xt[ord[i - 1]])
			return 1;
	return 0;
}

/* Area of slab [y0, y1] over act[0..a); *cuts is scratch for crossing ys. */
static double slab(const struct edge *const *act, size_t a, double y0, double y1, double *xs,
		   double *xt, size_t *ord, double **cuts, size_t *cap)
{
	size_t nc = 0;

	for (size_t i = 0; i < a; i++) {
		xs[i] = x_at(act[i], y0);
		xt[i] = x_at(act[i], y1);
	}
	if (!crossing(xs, xt, a, ord))
		return (y1 - y0) * width_at(act, a, (y0 + y1) / 2, xs);
	/* self-intersecting here: split the slab at every crossing (O(a^2),
	 * only in such slabs) */
	for (size_t i = 0; i < a; i++)
		for (size_t j = i + 1; j < a; j++) {
			double db = xs[i] - xs[j], dt = xt[i] - xt[j];
			if (db * dt >= 0)
				continue;
			if (nc == *cap) {
				size_t ncap = *cap ? 2 * *cap : 16;
				double *nw = realloc(*cuts, ncap * sizeof(*nw));
				if (!nw)
					return NAN;
				*cuts = nw;
				*cap = ncap;
			}
			(*cuts)[nc++] = y0 + (y1 - y0) * db / (db - dt);
		}
	qsort(*cuts, nc, sizeof(**cuts), cmp_double);
	double area = 0, lo = y0;
	for (size_t k = 0; k <= nc; k++) {
		double hi = k < nc ? (*cuts)[k] : y1;
		if (hi > lo) {
			area += (hi - lo) * width_at(act, a, (lo + hi) / 2, xs);
			lo = hi;
		}
	}
	return area;
}

static int cmp_edge_y0(const void *a, const void *b)
{
	return cmp_double(&((const struct edge *)a)->y0, &((const struct edge *)b)->y0);
}

double ao_ds_poly_area(const double *xy, size_t n)
{
	size_t m = n ? n : 1, ne = 0, ny = 0, cap = 0, a = 0, next = 0;
	struct edge *e = malloc(m * sizeof(*e));
	const struct edge **act = malloc(m * sizeof(*act));
	double *ys = malloc(m * sizeof(*ys)), *xs = malloc(m * sizeof(*xs));
	double *xt = malloc(m * sizeof(*xt)), *cuts = NULL, area = 0;
	size_t *ord = malloc(m * sizeof(*ord));

	if (!e || !act || !ys || !xs || !xt || !ord) {
		area = NAN;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const double *p = xy + 2 * i, *q = xy + 2 * ((i + 1) % n);
		ys[ny++] = p[1];
		if (p[1] == q[1])
			continue; /* horizontal: no crossing with any scan line inside */
		e[ne++] = p[1] < q[1] ? (struct edge){p[0], p[1], q[0], q[1]}
				      : (struct edge){q[0], q[1], p[0], p[1]};
	}
	qsort(ys, ny, sizeof(*ys), cmp_double);
	qsort(e, ne, sizeof(*e), cmp_edge_y0);
	/* sweep upwards: every edge spans whole slabs (ys holds every vertex) */
	for (size_t k = 0; k + 1 < ny && isfinite(area); k++) {
		double y0 = ys[k], y1 = ys[k + 1];
		if (!(y1 > y0))
			continue;
		size_t keep = 0;
		for (size_t i = 0; i < a; i++) /* drop the edges that ended */
			if (act[i]->y1 > y0)
				act[keep++] = act[i];
		a = keep;
		while (next < ne && e[next].y0 <= y0)
			act[a++] = &e[next++];
		area += slab(act, a, y0, y1, xs, xt, ord, &cuts, &cap);
	}
out:
	free(e);
	free(act);
	free(ys);
	free(xs);
	free(xt);
	free(ord);
	free(cuts);
	return area;
}
