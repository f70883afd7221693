/*
 * storage_gen.c - generated storage objects: bytes made on each request from
 * a short recipe kept in objects.gen, instead of a stored file. This is what
 * lets "--seed synthetic:N" give N images without writing N files (one
 * family row, storage.c, yields a street:<i> recipe per picture).
 *
 * Recipes:
 *   synthetic:<n>:<w>x<h>   a deterministic PNG for index n: a background
 *                           tint and three rectangles, all derived from n
 *                           (mix64), so the same n is the same picture.
 *   street:<n>:<w>x<h>      the demo street picture n: the seed's street
 *                           answer n (seed.c) drawn over a road, so the
 *                           seeded boxes land on visible shapes; frozen (a
 *                           relabeled task keeps its picture).
 *   answer:<task id>        the picture of a demo asset: a street-grey
 *                           background with the task's current answer drawn
 *                           in class colours (boxes and polygons), so the
 *                           answer's shapes land on visible shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seed_data.h"

static void *gen_synthetic(unsigned long long n, int w, int h, size_t *len)
{
	struct img *im;
	uint64_t r = mix64(n + 1);
	void *png;

	im = img_new(w, h, 0x20202000u | (uint32_t)((r & 0x3f) << 24) | 0xffu);
	if (!im)
		return NULL;
	for (int k = 0; k < 3; k++) {
		uint64_t q = mix64(n * 3 + (uint64_t)k + 7);
		int rw = w / 8 + (int)(q % (uint64_t)(w / 3 + 1));
		int rh = h / 8 + (int)((q >> 16) % (uint64_t)(h / 3 + 1));

		img_fill_rect(im, (double)((q >> 32) % (uint64_t)(w - rw + 1)),
			      (double)((q >> 44) % (uint64_t)(h - rh + 1)), rw, rh,
			      img_class_color(k == 0   ? "a"
					      : k == 1 ? "b"
						       : "c"));
	}
	png = img_png(im, len);
	img_free(im);
	return png;
}

/* The demo street picture n: the seed's street answer n drawn in class
 * colours, so its boxes and polygons are where the picture's shapes are. */
static void *gen_street(unsigned long long n, int w, int h, size_t *len)
{
	json_t *ans = seed_street_answer(n, 0, "");
	struct img *im = img_new(w, h, 0x303840ffu);
	void *png = NULL;

	if (im && ans) {
		img_fill_rect(im, 0, h * 0.55, w, h * 0.45, 0x4a4a4aff); /* the street */
		img_draw_answer(im, ans);
		png = img_png(im, len);
	}
	img_free(im);
	json_decref(ans);
	return png;
}

static void *gen_answer(const char *task_id, size_t *len)
{
	sqlite3 *db = db_acquire();
	sqlite3_stmt *st = db_prep(db, "SELECT t.answer, a.metadata FROM tasks t JOIN assets a ON "
				       "a.id = t.asset_id WHERE t.id = ?");
	json_t *ans = NULL, *md = NULL;
	struct img *im = NULL;
	void *png = NULL;
	int w = 640, h = 360;

	if (st) {
		sqlite3_bind_text(st, 1, task_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const char *a = (const char *)sqlite3_column_text(st, 0);
			const char *m = (const char *)sqlite3_column_text(st, 1);

			ans = a ? json_loads(a, 0, NULL) : json_object();
			md = m ? json_loads(m, 0, NULL) : NULL;
		}
		sqlite3_finalize(st);
	}
	db_release(db);
	if (!ans)
		return NULL;
	if (json_integer_value(json_object_get(md, "width")) > 0)
		w = (int)json_integer_value(json_object_get(md, "width"));
	if (json_integer_value(json_object_get(md, "height")) > 0)
		h = (int)json_integer_value(json_object_get(md, "height"));
	im = img_new(w, h, 0x303840ffu);
	if (im) {
		img_draw_answer(im, ans);
		png = img_png(im, len);
		img_free(im);
	}
	json_decref(ans);
	json_decref(md);
	return png;
}

void *storage_generate(const char *gen, size_t *len)
{
	unsigned long long n;
	int w, h, used = 0;

	if (sscanf(gen, "synthetic:%llu:%dx%d%n", &n, &w, &h, &used) == 3 && !gen[used] && w > 0 &&
	    h > 0 && w <= 4096 && h <= 4096)
		return gen_synthetic(n, w, h, len);
	if (sscanf(gen, "street:%llu:%dx%d%n", &n, &w, &h, &used) == 3 && !gen[used] && w > 0 &&
	    h > 0 && w <= 4096 && h <= 4096)
		return gen_street(n, w, h, len);
	if (!strncmp(gen, "answer:", 7) && is_object_id(gen + 7))
		return gen_answer(gen + 7, len);
	return NULL;
}
