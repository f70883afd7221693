/*
 * ds_yolo.c - the YOLO view: data.yaml and one labels/<stem>.txt per image.
 *
 * Rows use the Ultralytics text format, coordinates normalised by the image
 * size and printed with 6 decimals (%.6f, what Ultralytics' own converters
 * write; sub-pixel for images up to 10^6 px wide):
 *   box:                 class cx cy w h
 *   polygon/rotated box: class x1 y1 x2 y2 ... (one row per part; an
 *                        unclipped rotated box is the 4-corner YOLO-OBB row)
 * in the default MIXED mode; BOXES writes every mark as the box row of its
 * clipped bounding box (one row per mark), SEGMENTS writes boxes as their
 * 4-corner polygon, so each file holds one kind of row.
 * Shapes arrive already clipped to the image (ds_geom.c), so every number
 * lies in [0,1]. The class is the index in ao_ds_schema.cls.
 * data.yaml names the classes in that order; titles go out as YAML
 * double-quoted scalars with every character YAML could misread escaped,
 * so a hostile title cannot add keys. Its `path` is the view's absolute
 * directory: Ultralytics (8.0-8.3, check_det_dataset) joins a relative
 * `path` to its own DATASETS_DIR, not to the yaml's folder, and falls back
 * to the yaml's folder only when `path` is absent *and* the yaml was named
 * by an absolute path; an absolute `path` is the one form every version
 * resolves to the view from any working directory (docs/DATASETS.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ds_int.h"

static void yaml_quoted(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else if (p[0] == 0xc2 && p[1] == 0x85) /* NEL */
			fputs("\\N", f), p++;
		else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
			fputs(p[2] == 0xa8 ? "\\L" : "\\P", f), p += 2;
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

int ao_ds_yolo_data_yaml(const struct ao_ds_schema *s, const char *root, FILE *out)
{
	return ao_ds_yolo_data_yaml_sets(s, root, NULL, out);
}

int ao_ds_yolo_data_yaml_sets(const struct ao_ds_schema *s, const char *root,
			      const char *const sets[3], FILE *out)
{
	static const char *const keys[3] = {"train", "val", "test"};

	fputs("# YOLO dataset made by angofs from the project's categorySchema;\n"
	      "# class i = i-th bounding-box/rotated-bounding-box/polygon/segmentation tool\n"
	      "# in schema order (docs/DATASETS.md).\n",
	      out);
	if (root) { /* absolute: Ultralytics resolves a relative path elsewhere */
		fputs("path: ", out);
		yaml_quoted(out, root);
		fputc('\n', out);
	}
	if (!sets)
		fputs("train: images\nval: images\n", out);
	for (int i = 0; sets && i < 3; i++)
		if (sets[i]) {
			fprintf(out, "%s: ", keys[i]);
			yaml_quoted(out, sets[i]);
			fputc('\n', out);
		}
	fprintf(out, "nc: %zu\nnames:\n", s->ncls);
	for (size_t i = 0; i < s->ncls; i++) {
		fputs("  - ", out);
		yaml_quoted(out, s->cls[i].title);
		fputc('\n', out);
	}
	return ferror(out) ? -EIO : 0;
}

struct yolo_ctx {
	FILE *out;
	double w, h;
	enum ao_ds_yolo_mode mode;
	struct ao_ds_report *r;
};

static void poly_row(struct yolo_ctx *c, int cls, const double *xy, size_t n)
{
	fprintf(c->out, "%d", cls);
	for (size_t i = 0; i < n; i++)
		fprintf(c->out, " %.6f %.6f", xy[2 * i] / c->w, xy[2 * i + 1] / c->h);
	fputc('\n', c->out);
	c->r->annotations++;
}

static int yolo_row(void *ud, const struct ds_shape *sh)
{
	struct yolo_ctx *c = ud;

	if (sh->is_box && c->mode == AO_DS_YOLO_SEGMENTS) {
		const double r[8] = {sh->x0, sh->y0, sh->x1, sh->y0,
				     sh->x1, sh->y1, sh->x0, sh->y1};
		poly_row(c, sh->cls, r, 4);
		return 0;
	}
	if (sh->is_box || c->mode == AO_DS_YOLO_BOXES) {
		fprintf(c->out, "%d %.6f %.6f %.6f %.6f\n", sh->cls, (sh->x0 + sh->x1) / 2 / c->w,
			(sh->y0 + sh->y1) / 2 / c->h, (sh->x1 - sh->x0) / c->w,
			(sh->y1 - sh->y0) / c->h);
		c->r->annotations++;
		return 0;
	}
	for (size_t k = 0; k < sh->npoly; k++)
		poly_row(c, sh->cls, sh->poly[k].xy, sh->poly[k].n);
	return 0;
}

int ao_ds_yolo_label(const struct ao_ds_schema *s, const struct ao_ds_image *img,
		     const json_t *record, enum ao_ds_yolo_mode mode, FILE *out,
		     struct ao_ds_report *r)
{
	struct yolo_ctx c = {out, img->width, img->height, mode, r};
	int rc;

	if (img->width <= 0 || img->height <= 0)
		return -EINVAL; /* not in the view: the index counted it as no_size */
	r->records++;
	r->images++;
	rc = ao_ds_each_shape(s, record, img->width, img->height, yolo_row, &c, r);
	if (rc == 0 && ferror(out))
		rc = -EIO;
	return rc;
}
