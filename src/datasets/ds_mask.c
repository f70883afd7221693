/*
 * ds_mask.c - semantic masks: one PNG per image whose pixel is the class
 * index of the mark that covers it (docs/DATASETS.md "Semantic masks").
 *
 * Design: the marks are the ones YOLO and COCO keep (ds_geom.c's walker:
 * boxes, rotated boxes, polygons, segmentation zones, clipped to the
 * image). Pixel (x, y) is covered by a shape when its centre (x + 0.5,
 * y + 0.5) is inside it: a box by its half-open rectangle, a polygon by the
 * even-odd rule (what COCO's masks and OpenCV's fillPoly fill), found per
 * row with a scan line through the centres (each edge crossing the line
 * toggles, crossings sorted, the spans between pairs filled), so the cost
 * is the image's rows times the shape's edges, never a per-pixel point
 * test. Marks are painted in their order, a later one over an earlier
 * one, with value class index + 1; 0 is background. Segmentation holes are
 * dropped as in YOLO and COCO (counted in skipped.txt).
 *
 * Encoding (libpng, never a hand-written deflate): with at most 255
 * classes an 8-bit palette PNG (colour type 3) whose entries are the VOC
 * colour map (entry 0 black), so PIL opens it in mode "P" with the indices
 * as pixel values and viewers show colours; with more, a 16-bit grey PNG of
 * the indices. Rows are written one at a time from the index buffer.
 */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "ds_int.h"

struct raster {
	unsigned short *px; /* w*h class values */
	int w, h;
	double *xs; /* crossings of one row */
	size_t xcap;
};

static void fill_span(struct raster *r, int y, double xa, double xb, unsigned short v)
{
	/* pixels whose centre x + 0.5 lies in [xa, xb) */
	int a = (int)ceil(xa - 0.5), b = (int)ceil(xb - 0.5);

	if (a < 0)
		a = 0;
	if (b > r->w)
		b = r->w;
	for (int x = a; x < b; x++)
		r->px[(size_t)y * (size_t)r->w + (size_t)x] = v;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Even-odd fill of one polygon at the pixel centres. */
static int fill_poly(struct raster *r, const double *xy, size_t n, unsigned short v)
{
	double ymin = HUGE_VAL, ymax = -HUGE_VAL;

	for (size_t i = 0; i < n; i++) {
		ymin = fmin(ymin, xy[2 * i + 1]);
		ymax = fmax(ymax, xy[2 * i + 1]);
	}
	if (r->xcap < n) {
		double *nx = realloc(r->xs, n * sizeof(*nx));
		if (!nx)
			return -ENOMEM;
		r->xs = nx;
		r->xcap = n;
	}
	int y0 = (int)fmax(0, ceil(ymin - 0.5)), y1 = (int)fmin(r->h - 1, floor(ymax - 0.5));
	for (int y = y0; y <= y1; y++) {
		double cy = y + 0.5;
		size_t k = 0;
		for (size_t i = 0, j = n - 1; i < n; j = i++) {
			double ya = xy[2 * j + 1], yb = xy[2 * i + 1];
			if ((ya <= cy) != (yb <= cy)) /* the edge crosses the centre line */
				r->xs[k++] =
				    xy[2 * j] + (cy - ya) * (xy[2 * i] - xy[2 * j]) / (yb - ya);
		}
		qsort(r->xs, k, sizeof(double), cmp_d);
		for (size_t i = 0; i + 1 < k; i += 2)
			fill_span(r, y, r->xs[i], r->xs[i + 1], v);
	}
	return 0;
}

static int paint(void *ud, const struct ds_shape *sh)
{
	struct raster *r = ud;
	unsigned short v = (unsigned short)(sh->cls + 1);

	if (sh->is_box) {
		int y0 = (int)ceil(sh->y0 - 0.5), y1 = (int)ceil(sh->y1 - 0.5);
		for (int y = y0 < 0 ? 0 : y0; y < y1 && y < r->h; y++)
			fill_span(r, y, sh->x0, sh->x1, v);
		return 0;
	}
	for (size_t k = 0; k < sh->npoly; k++)
		if (fill_poly(r, sh->poly[k].xy, sh->poly[k].n, v) < 0)
			return -ENOMEM;
	return 0;
}

int ao_ds_mask_render(const struct ao_ds_schema *s, const struct ao_ds_image *img,
		      const json_t *record, unsigned short **px, struct ao_ds_report *r)
{
	struct raster ra = {NULL, img->width, img->height, NULL, 0};

	*px = NULL;
	if (img->width <= 0 || img->height <= 0)
		return -EINVAL;
	ra.px = calloc((size_t)img->width * (size_t)img->height, sizeof(*ra.px));
	if (!ra.px)
		return -ENOMEM;
	int rc = ao_ds_each_shape(s, record, img->width, img->height, paint, &ra, r);
	free(ra.xs);
	if (rc < 0) {
		free(ra.px);
		return rc;
	}
	r->images++;
	*px = ra.px;
	return 0;
}

/* The VOC colour map: entry i's bits spread over the channels' high bits. */
static void voc_color(unsigned i, png_color *c)
{
	unsigned r = 0, g = 0, b = 0;

	for (int k = 0; k < 8; k++, i >>= 3) {
		r |= ((i >> 0) & 1) << (7 - k);
		g |= ((i >> 1) & 1) << (7 - k);
		b |= ((i >> 2) & 1) << (7 - k);
	}
	c->red = (png_byte)r;
	c->green = (png_byte)g;
	c->blue = (png_byte)b;
}

struct png_ctx {
	jmp_buf jb;
	FILE *out;
};

static void on_error(png_structp png, png_const_charp msg)
{
	(void)msg;
	longjmp(((struct png_ctx *)png_get_error_ptr(png))->jb, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

int ao_ds_mask_png(const unsigned short *px, int w, int h, size_t ncls, FILE *out)
{
	struct png_ctx ctx = {.out = out};
	png_structp png =
	    png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	int pal = ncls + 1 <= 256;
	unsigned char *row = malloc((size_t)w * 2);
	png_color colors[256];
	volatile int rc = -ENOMEM;

	if (!png || !info || !row)
		goto out;
	if (setjmp(ctx.jb)) {
		rc = -EIO;
		goto out;
	}
	png_init_io(png, out);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, pal ? 8 : 16,
		     pal ? PNG_COLOR_TYPE_PALETTE : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (pal) {
		for (unsigned i = 0; i < 256; i++)
			voc_color(i, &colors[i]);
		png_set_PLTE(png, info, colors, (int)(ncls + 1));
	}
	png_write_info(png, info);
	for (int y = 0; y < h; y++) {
		const unsigned short *p = px + (size_t)y * (size_t)w;
		for (int x = 0; x < w; x++) {
			if (pal)
				row[x] = (unsigned char)p[x];
			else {
				row[2 * x] = (unsigned char)(p[x] >> 8); /* PNG: big-endian */
				row[2 * x + 1] = (unsigned char)p[x];
			}
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	rc = ferror(out) ? -EIO : 0;
out:
	png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
	free(row);
	return rc;
}

/* classes.txt: index 0 background, then one title per line (line i + 1 is
 * class i), control characters replaced so each title stays one line. */
int ao_ds_mask_classes(const struct ao_ds_schema *s, FILE *out)
{
	fputs("background\n", out);
	for (size_t i = 0; i < s->ncls; i++) {
		for (const unsigned char *p = (const unsigned char *)s->cls[i].title; *p; p++)
			fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
		fputc('\n', out);
	}
	return ferror(out) ? -EIO : 0;
}
