/*
 * png.c - small raster images for the hub's storage: brush masks drawn from a
 * task's answer, demo pictures whose shapes sit where the answer's boxes are,
 * and deterministic synthetic images; encoded as PNG with libpng.
 *
 * Images are RGBA, 8 bits per channel, in one malloc'd buffer. Drawing is
 * limited to what the seeds need: filled rectangles (Ango boxes may have a
 * negative width/height: the box spans from the clicked corner either way)
 * and filled polygons (even-odd scanline fill). Encoding writes into a
 * growing memory buffer through png_set_write_fn, at zlib level 1 (masks are
 * mostly one colour and compress well even so; speed matters more because
 * generated objects are rendered per request). An image of at most 256
 * colours is written as a palette PNG (with tRNS for alpha): a quarter of the
 * bytes to deflate; readers see the same RGBA pixels.
 */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "hubd.h"

struct img *img_new(int w, int h, uint32_t rgba)
{
	struct img *im = calloc(1, sizeof(*im));

	if (!im || w <= 0 || h <= 0 || w > 8192 || h > 8192) {
		free(im);
		return NULL;
	}
	im->w = w;
	im->h = h;
	im->px = malloc((size_t)w * (size_t)h * 4);
	if (!im->px) {
		free(im);
		return NULL;
	}
	/* one pixel, then copy what is filled onto the rest, doubling */
	im->px[0] = (unsigned char)(rgba >> 24);
	im->px[1] = (unsigned char)(rgba >> 16);
	im->px[2] = (unsigned char)(rgba >> 8);
	im->px[3] = (unsigned char)rgba;
	for (size_t done = 4, total = (size_t)w * (size_t)h * 4; done < total; done *= 2)
		memcpy(im->px + done, im->px, done < total - done ? done : total - done);
	return im;
}

void img_free(struct img *im)
{
	if (im) {
		free(im->px);
		free(im);
	}
}

static void span(struct img *im, int y, int x0, int x1, uint32_t rgba)
{
	if (y < 0 || y >= im->h)
		return;
	if (x0 < 0)
		x0 = 0;
	if (x1 > im->w)
		x1 = im->w;
	for (int x = x0; x < x1; x++) {
		unsigned char *p = im->px + 4 * ((size_t)y * (size_t)im->w + (size_t)x);
		p[0] = (unsigned char)(rgba >> 24);
		p[1] = (unsigned char)(rgba >> 16);
		p[2] = (unsigned char)(rgba >> 8);
		p[3] = (unsigned char)rgba;
	}
}

void img_fill_rect(struct img *im, double x, double y, double w, double h, uint32_t rgba)
{
	int x0, y0, x1, y1;

	if (w < 0) {
		x += w;
		w = -w;
	}
	if (h < 0) {
		y += h;
		h = -h;
	}
	x0 = (int)x;
	y0 = (int)y;
	x1 = (int)(x + w + 0.5);
	y1 = (int)(y + h + 0.5);
	for (int yy = y0 < 0 ? 0 : y0; yy < y1 && yy < im->h; yy++)
		span(im, yy, x0, x1, rgba);
}

/* pts: JSON array of [x, y] pairs */
void img_fill_polygon(struct img *im, json_t *pts, uint32_t rgba)
{
	size_t n = json_array_size(pts);
	double ymin = 1e9, ymax = -1e9;
	double xs[64];

	if (n < 3)
		return;
	for (size_t i = 0; i < n; i++) {
		double y = json_number_value(json_array_get(json_array_get(pts, i), 1));
		ymin = y < ymin ? y : ymin;
		ymax = y > ymax ? y : ymax;
	}
	for (int y = ymin < 0 ? 0 : (int)ymin; y <= (int)ymax && y < im->h; y++) {
		double sy = y + 0.5;
		int k = 0;

		for (size_t i = 0; i < n && k < 64; i++) {
			json_t *a = json_array_get(pts, i), *b = json_array_get(pts, (i + 1) % n);
			double ax = json_number_value(json_array_get(a, 0));
			double ay = json_number_value(json_array_get(a, 1));
			double bx = json_number_value(json_array_get(b, 0));
			double by = json_number_value(json_array_get(b, 1));

			if ((ay <= sy && by > sy) || (by <= sy && ay > sy))
				xs[k++] = ax + (sy - ay) * (bx - ax) / (by - ay);
		}
		for (int i = 1; i < k; i++) /* insertion sort: k is small */
			for (int j = i; j > 0 && xs[j - 1] > xs[j]; j--) {
				double t = xs[j];
				xs[j] = xs[j - 1];
				xs[j - 1] = t;
			}
		for (int i = 0; i + 1 < k; i += 2)
			span(im, y, (int)(xs[i] + 0.5), (int)(xs[i + 1] + 0.5), rgba);
	}
}

struct membuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void mem_write(png_structp png, png_bytep data, png_size_t n)
{
	struct membuf *m = png_get_io_ptr(png);

	if (m->oom)
		return;
	if (m->len + n > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 65536;
		unsigned char *np;

		while (nc < m->len + n)
			nc *= 2;
		np = realloc(m->p, nc);
		if (!np) {
			m->oom = 1;
			return;
		}
		m->p = np;
		m->cap = nc;
	}
	memcpy(m->p + m->len, data, n);
	m->len += n;
}

static void mem_flush(png_structp png)
{
	(void)png;
}

/* Palette of at most 256 colours and the index rows, or 0 if more colours. */
static int palettize(struct img *im, uint32_t pal[256], unsigned char *idx)
{
	int n = 0, last = -1;
	uint32_t last_c = 0;

	for (size_t i = 0; i < (size_t)im->w * (size_t)im->h; i++) {
		const unsigned char *p = im->px + 4 * i;
		uint32_t c =
		    (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		int k;

		if (last >= 0 && c == last_c) {
			idx[i] = (unsigned char)last;
			continue;
		}
		for (k = 0; k < n && pal[k] != c; k++)
			;
		if (k == n) {
			if (n == 256)
				return 0;
			pal[n++] = c;
		}
		idx[i] = (unsigned char)k;
		last = k;
		last_c = c;
	}
	return n;
}

void *img_png(struct img *im, size_t *len)
{
	struct membuf m = {0};
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	unsigned char *idx = malloc((size_t)im->w * (size_t)im->h);
	uint32_t pal[256];
	png_color pc[256];
	png_byte alpha[256];
	int n = idx ? palettize(im, pal, idx) : 0;

	if (!png || !info) {
		png_destroy_write_struct(&png, info ? &info : NULL);
		free(idx);
		return NULL;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(m.p);
		free(idx);
		return NULL;
	}
	png_set_write_fn(png, &m, mem_write, mem_flush);
	png_set_compression_level(png, 1);
	png_set_filter(png, 0, PNG_FILTER_NONE); /* flat colours: filters gain little, cost much */
	png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8,
		     n ? PNG_COLOR_TYPE_PALETTE : PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (n) { /* few colours (masks, drawings): 1 byte a pixel, 4x less to deflate */
		for (int k = 0; k < n; k++) {
			pc[k].red = (png_byte)(pal[k] >> 24);
			pc[k].green = (png_byte)(pal[k] >> 16);
			pc[k].blue = (png_byte)(pal[k] >> 8);
			alpha[k] = (png_byte)pal[k];
		}
		png_set_PLTE(png, info, pc, n);
		png_set_tRNS(png, info, alpha, n, NULL);
	}
	png_write_info(png, info);
	for (int y = 0; y < im->h; y++)
		png_write_row(png, n ? idx + (size_t)y * (size_t)im->w
				     : im->px + (size_t)y * (size_t)im->w * 4);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(idx);
	if (m.oom) {
		free(m.p);
		return NULL;
	}
	*len = m.len;
	return m.p;
}

/* A stable, saturated colour for a schemaId (alpha opaque): the demo
 * ontologies' own colours (seed_data.c; the road a blue-grey that stands out
 * from the drawn street), else one of a palette by hash. */
uint32_t img_class_color(const char *schema_id)
{
	static const struct {
		const char *id;
		uint32_t rgba;
	} known[] = {{"tCar0001", 0xf44336ff},
		     {"tPed0001", 0x2196f3ff},
		     {"tRoad001", 0x607d8bff},
		     {"vCar0001", 0xff9800ff},
		     {"vTruck01", 0x795548ff}};

	for (size_t i = 0; schema_id && i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(schema_id, known[i].id))
			return known[i].rgba;
	static const uint32_t pal[] = {0xf44336ff, 0x2196f3ff, 0x9e9e9eff, 0xffeb3bff,
				       0x4caf50ff, 0xff9800ff, 0x795548ff, 0x9c27b0ff};
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = schema_id ? schema_id : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return pal[h % (sizeof(pal) / sizeof(pal[0]))];
}

void img_draw_answer(struct img *im, json_t *answer)
{
	json_t *t;
	size_t i;

	json_array_foreach(json_object_get(answer, "tools"), i, t)
	{
		const char *sid = json_string_value(json_object_get(t, "schemaId"));
		json_t *bb = json_object_get(t, "bounding-box"),
		       *poly = json_object_get(t, "polygon");

		if (poly)
			img_fill_polygon(im, poly, img_class_color(sid));
		else if (bb)
			img_fill_rect(im, json_number_value(json_object_get(bb, "x")),
				      json_number_value(json_object_get(bb, "y")),
				      json_number_value(json_object_get(bb, "width")),
				      json_number_value(json_object_get(bb, "height")),
				      img_class_color(sid));
	}
}
