/*
 * fuzz_datasets.c - libFuzzer harness for the dataset conversions
 * (src/datasets/). The input plays two roles:
 *
 * - the first bytes of an image: ao_ds_image_size must give a positive size
 *   or 0/-EINVAL, and a prefix of an input whose size is found must say
 *   "read more" (0) or find the same size, never fail;
 * - an NDJSON export: its records go through both passes (index with the
 *   input also served as every image's header, YOLO labels in the three
 *   modes, the COCO stream). Every YOLO number must lie in [0,1] with a
 *   class below nc, and the COCO document must parse with every image_id and
 *   category_id resolving. A violation aborts (a finding).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/datasets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *schema_json =
    "{\"tools\":[{\"tool\":\"bounding-box\",\"title\":\"Car\",\"schemaId\":\"sCar\"},"
    "{\"tool\":\"polygon\",\"title\":\"Road\",\"schemaId\":\"sRoad\"},"
    "{\"tool\":\"polyline\",\"title\":\"Lane\",\"schemaId\":\"sLane\"},"
    "{\"tool\":\"rotated-bounding-box\",\"title\":\"Sign\",\"schemaId\":\"sSign\"},"
    "{\"tool\":\"segmentation\",\"title\":\"Water\",\"schemaId\":\"sWater\"}],"
    "\"classifications\":[{\"tool\":\"radio\",\"title\":\"W\",\"schemaId\":\"sW\","
    "\"options\":[{\"value\":\"Sunny\",\"schemaId\":\"o1\"},{\"value\":\"Fog\","
    "\"schemaId\":\"o2\"},{\"value\":\"Fog\",\"schemaId\":\"o3\"}]}]}";

struct input {
	const uint8_t *data;
	size_t size;
};

static ssize_t read_head(void *ud, const struct ao_ds_image *img, void *buf, size_t cap)
{
	const struct input *in = ud;
	size_t n = in->size < cap ? in->size : cap;

	(void)img;
	memcpy(buf, in->data, n);
	return (ssize_t)n;
}

static void check_header(const uint8_t *data, size_t size)
{
	int w = 0, h = 0, w2 = 0, h2 = 0;
	int rc = ao_ds_image_size(data, size, &w, &h, NULL);

	if (rc != 1 && rc != 0 && rc != -EINVAL)
		abort();
	if (rc != 1)
		return;
	if (w <= 0 || h <= 0)
		abort();
	int r2 = ao_ds_image_size(data, size / 2, &w2, &h2, NULL);
	if (r2 == -EINVAL || (r2 == 1 && (w2 != w || h2 != h)))
		abort();
}

static void check_yolo_text(const char *t, size_t ncls)
{
	const char *p = t;

	while (*p) {
		char *end;
		long cls = strtol(p, &end, 10);
		if (end == p || cls < 0 || (size_t)cls >= ncls)
			abort();
		p = end;
		while (*p == ' ') {
			double v = strtod(p + 1, &end);
			if (end == p + 1 || !(v >= 0.0 && v <= 1.0))
				abort();
			p = end;
		}
		if (*p++ != '\n')
			abort();
	}
}

static void check_coco(const char *buf, size_t ncls)
{
	json_t *doc = json_loads(buf, 0, NULL), *a, *im;
	size_t i, j;

	if (!doc)
		abort();
	json_t *imgs = json_object_get(doc, "images");
	json_array_foreach(json_object_get(doc, "annotations"), i, a)
	{
		json_int_t iid = json_integer_value(json_object_get(a, "image_id"));
		json_int_t cid = json_integer_value(json_object_get(a, "category_id"));
		int found = 0;
		json_array_foreach(imgs, j, im) found |=
		    json_integer_value(json_object_get(im, "id")) == iid;
		if (!found || cid < 1 || (size_t)cid > ncls)
			abort();
	}
	json_decref(doc);
}

static void convert(const struct ao_ds_schema *s, json_t **recs, size_t n, struct input *in)
{
	struct ao_ds_index *x = ao_ds_index_new(s);
	struct ao_ds_report r = {0};
	struct ao_ds_coco *c;
	struct ao_err err;
	char *buf = NULL;
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		if (ao_ds_index_add(x, i, 0, recs[i]) < 0)
			abort();
	if (ao_ds_index_finish(x, read_head, in, &err) != 0) {
		if (!err.msg[0])
			abort();
		ao_ds_index_free(x);
		return; /* e.g. a task id equal to another record's "record-<n>" */
	}
	for (size_t i = 0; i < n; i++) {
		const struct ao_ds_image *im = ao_ds_index_by_record(x, i);
		if (!im || im->width <= 0)
			continue;
		if (!im->name[0] || strchr(im->name, '/') || strlen(im->name) > 255)
			abort();
		if (ao_ds_index_find_name(x, im->name) != im ||
		    ao_ds_index_find_label(x, im->label) != im)
			abort(); /* names and labels are unique */
		for (int m = AO_DS_YOLO_MIXED; m <= AO_DS_YOLO_SEGMENTS; m++) {
			FILE *f = open_memstream(&buf, &len);
			if (ao_ds_yolo_label(s, im, recs[i], m, f, &r) != 0)
				abort();
			fclose(f);
			check_yolo_text(buf, s->ncls);
			free(buf);
		}
	}
	FILE *f = open_memstream(&buf, &len);
	if (ao_ds_coco_begin(s, x, f, &c, &err) != 0)
		abort();
	for (size_t i = 0; i < n; i++)
		ao_ds_coco_add(c, i, recs[i]);
	if (ao_ds_coco_end(c, NULL) != 0)
		abort();
	fclose(f);
	check_coco(buf, s->ncls);
	free(buf);
	ao_ds_index_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ao_ds_schema *s;
	struct input in = {data, size};
	struct ao_err err;
	json_t *recs[64], *r;
	size_t n = 0;

	if (!s) {
		json_t *cs = json_loads(schema_json, 0, NULL);
		if (ao_ds_schema_load(cs, NULL, &s, &err) != 0)
			abort();
		json_decref(cs);
	}
	check_header(data, size);
	FILE *f = fmemopen((void *)data, size ? size : 1, "r");
	if (!f)
		return 0;
	/* a line that is not JSON is skipped, so an image header can lead */
	for (int k = 0, rc; k < 256 && n < 64 && (rc = ao_ds_ndjson_next(f, &r, NULL, &err)); k++)
		if (rc == 1)
			recs[n++] = r;
	fclose(f);
	convert(s, recs, n, &in);
	for (size_t i = 0; i < n; i++)
		json_decref(recs[i]);
	return 0;
}
