/*
 * ds_coco.c - the COCO view: annotations.json written as a stream.
 *
 * COCO wants images and annotations in two separate arrays, which a single
 * pass over the export could only produce by buffering one of them. The
 * images come from the pass-1 index instead (name, size), so
 * ao_ds_coco_begin writes info, categories and the whole images array, and
 * each pass-2 record appends its annotations: only one record's worth of
 * JSON (built and dumped with jansson, so hostile names are escaped
 * correctly) is in memory at a time, whatever the export size.
 *
 * Ids (documented in docs/DATASETS.md):
 *   category id   = class index + 1 (schema order, 0 left for background)
 *   image id      = record's 0-based position in the export + 1 (skipped
 *                   records keep their number, so ids do not shift when a
 *                   record is skipped)
 *   annotation id = 1, 2, ... in export order, then mark order.
 * bbox is [x,y,w,h] in pixels after clipping, area is the box's w*h or the
 * clipped polygons' area, segmentation is a polygon list (a box's own
 * rectangle for boxes, so mask-reading tools accept every annotation),
 * iscrowd 0. Extra keys ango_task_id / ango_object_id / ango_schema_id
 * trace each entry back to the hub, and "attributes" holds the mark's own
 * classifications as {title: answer} (the key CVAT's COCO export uses);
 * COCO readers ignore unknown keys.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ds_int.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

struct ao_ds_coco {
	const struct ao_ds_schema *s;
	const struct ao_ds_index *x;
	FILE *out;
	ao_ds_keep_fn keep; /* NULL: every image */
	void *keep_ud;
	unsigned long long next_ann; /* next annotation id */
	unsigned long long image_id; /* of the record being added */
	int first;		     /* no annotation written yet */
	int rc;			     /* first error */
	struct ao_ds_report r;
};

/* Dump j (stolen) as an array element. */
static int put_elem(FILE *f, json_t *j, int *first)
{
	int rc;

	if (!j)
		return -ENOMEM;
	if (!*first)
		fputs(",\n", f);
	*first = 0;
	rc = json_dumpf(j, f, DUMP_FLAGS) ? -EIO : 0;
	json_decref(j);
	return rc;
}

static int put_categories(struct ao_ds_coco *c)
{
	int first = 1, rc = 0;

	fputs("\"categories\":[\n", c->out);
	for (size_t i = 0; i < c->s->ncls && !rc; i++) {
		const struct ao_ds_class *k = &c->s->cls[i];
		rc = put_elem(c->out,
			      json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)(i + 1), "name",
					k->title, "supercategory", k->tool, "ango_schema_id",
					k->schema_id),
			      &first);
	}
	fputs("],\n", c->out);
	return rc;
}

static int put_images(struct ao_ds_coco *c)
{
	int first = 1, rc = 0;

	fputs("\"images\":[\n", c->out);
	for (size_t i = 0; i < ao_ds_index_count(c->x) && !rc; i++) {
		const struct ao_ds_image *im = ao_ds_index_get(c->x, i);
		if (im->width <= 0 || (c->keep && !c->keep(c->keep_ud, im)))
			continue; /* no_size: counted by the index; not in the subset */
		json_t *j =
		    json_pack("{s:I,s:s,s:i,s:i}", "id", (json_int_t)(im->rec_no + 1), "file_name",
			      im->name, "width", im->width, "height", im->height);
		if (j && im->task_id)
			json_object_set_new(j, "ango_task_id", json_string(im->task_id));
		rc = put_elem(c->out, j, &first);
	}
	fputs("],\n", c->out);
	return rc;
}

int ao_ds_coco_begin(const struct ao_ds_schema *s, const struct ao_ds_index *x, FILE *out,
		     struct ao_ds_coco **cp, struct ao_err *err)
{
	return ao_ds_coco_begin_subset(s, x, NULL, NULL, out, cp, err);
}

int ao_ds_coco_begin_subset(const struct ao_ds_schema *s, const struct ao_ds_index *x,
			    ao_ds_keep_fn keep, void *ud, FILE *out, struct ao_ds_coco **cp,
			    struct ao_err *err)
{
	struct ao_ds_coco *c = calloc(1, sizeof(*c));
	int rc;

	*cp = NULL;
	if (!c)
		return ao_errf(err, ENOMEM, "out of memory starting annotations.json");
	c->s = s;
	c->x = x;
	c->out = out;
	c->keep = keep;
	c->keep_ud = ud;
	c->next_ann = 1;
	c->first = 1;
	fputs("{\"info\":{\"description\":\"COCO view made by angofs from an Ango Hub export "
	      "(docs/DATASETS.md)\",\"version\":\"1.0\"},\n\"licenses\":[],\n",
	      out);
	rc = put_categories(c);
	if (!rc)
		rc = put_images(c);
	fputs("\"annotations\":[\n", out);
	if (rc || ferror(out)) {
		free(c);
		return ao_errf(err, rc == -ENOMEM ? ENOMEM : EIO,
			       "writing the head of annotations.json failed");
	}
	*cp = c;
	return 0;
}

static json_t *xy_array(const double *xy, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < 2 * n; i++)
		json_array_append_new(a, json_real(xy[i]));
	return a;
}

/* {title: answer} of the mark's direct classifications, or NULL if none. */
static json_t *attributes(const json_t *tool)
{
	const json_t *cl = json_object_get(tool, "classifications"), *c;
	json_t *o = NULL;
	size_t i;

	json_array_foreach(cl, i, c)
	{
		const char *k = json_string_value(json_object_get(c, "title"));
		json_t *a = json_object_get(c, "answer");
		if (!k)
			k = json_string_value(json_object_get(c, "schemaId"));
		if (!k || !a)
			continue;
		if (!o && !(o = json_object()))
			return NULL;
		json_object_set(o, k, a);
	}
	return o;
}

static int coco_ann(void *ud, const struct ds_shape *sh)
{
	struct ao_ds_coco *c = ud;
	json_t *seg = json_array(), *j;

	if (!seg)
		return -ENOMEM;
	if (sh->is_box) {
		const double r[8] = {sh->x0, sh->y0, sh->x1, sh->y0,
				     sh->x1, sh->y1, sh->x0, sh->y1};
		json_array_append_new(seg, xy_array(r, 4));
	}
	for (size_t k = 0; k < sh->npoly; k++)
		json_array_append_new(seg, xy_array(sh->poly[k].xy, sh->poly[k].n));
	j = json_pack("{s:I,s:I,s:I,s:[f,f,f,f],s:f,s:o,s:i}", "id", (json_int_t)c->next_ann,
		      "image_id", (json_int_t)c->image_id, "category_id", (json_int_t)(sh->cls + 1),
		      "bbox", sh->x0, sh->y0, sh->x1 - sh->x0, sh->y1 - sh->y0, "area", sh->area,
		      "segmentation", seg, "iscrowd", 0);
	if (j && sh->object_id)
		json_object_set_new(j, "ango_object_id", json_string(sh->object_id));
	json_t *attr = j ? attributes(sh->tool) : NULL;
	if (attr)
		json_object_set_new(j, "attributes", attr);
	c->next_ann++;
	c->r.annotations++;
	return put_elem(c->out, j, &c->first);
}

int ao_ds_coco_add(struct ao_ds_coco *c, unsigned long long rec_no, const json_t *record)
{
	const struct ao_ds_image *im = ao_ds_index_by_record(c->x, rec_no);
	int rc;

	c->r.records++;
	if (c->rc)
		return c->rc;
	if (!im || im->width <= 0)
		return 0; /* skipped record (counted by the index) */
	if (c->keep && !c->keep(c->keep_ud, im))
		return 0; /* not in the subset */
	c->r.images++;
	c->image_id = rec_no + 1;
	rc = ao_ds_each_shape(c->s, record, im->width, im->height, coco_ann, c, &c->r);
	if (rc == 0 && ferror(c->out))
		rc = -EIO;
	return c->rc = rc;
}

int ao_ds_coco_end(struct ao_ds_coco *c, struct ao_ds_report *r)
{
	int rc = c->rc;

	fputs("\n]}\n", c->out);
	if (!rc && (fflush(c->out) != 0 || ferror(c->out)))
		rc = -EIO;
	if (r)
		*r = c->r;
	free(c);
	return rc;
}
