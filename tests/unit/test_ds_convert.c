/*
 * Unit test of the dataset conversions (src/datasets/): schema classes,
 * the per-image index (names, sizes, ImageFolder classes), YOLO labels and
 * data.yaml, the streamed COCO document, on a hand-made export
 * (tests/unit/data/ds_export.ndjson, schema ds_schema.json). Every expected
 * number is worked out by hand in the comments.
 *
 * Records (rec_no = position among non-blank lines):
 *   0 a.jpg 100x50 t0: 11 marks (boxes incl. negative and clipped, polygon,
 *     polyline, point, unknown schemaId, page 1, medical brush, rotated box
 *     without corners), Weather "Rain/Snow"
 *   1 a.png, no metadata (size 200x100 from the PNG header hook) t1: rotated
 *     box with corners, segmentation with a hole and a zone past the right
 *     edge; Weather only nested under Tags (does not count)
 *   2 [] (bad record)   3 video (frameTotal)
 *   4 "Ünïcödé/名前.jpg" t4, brushDataUrl, Weather "Fog"
 *   5 "scan-17" (.PNG from the URL) t5, no size (hook fails), Weather "oF2"
 *   6 legacy tasks[0].objects, externalId "a.jpg" again, t0b, Weather "Hail"
 *   7 no externalId (.jpeg from the URL), no taskId, two degenerate polygons
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/datasets.h"
#include "t.h"

static struct ao_ds_schema *schema;
static json_t *recs[16];
static size_t nrecs;
static int head_calls;

static void load(const char *schema_path, const char *export_path)
{
	struct ao_err err = {0};
	json_error_t je;
	json_t *cs = json_load_file(schema_path, 0, &je);
	FILE *f = fopen(export_path, "r");
	long long off, offs[16];
	json_t *r;

	CHECK(cs != NULL);
	CHECK_INT(ao_ds_schema_load(cs, NULL, &schema, &err), 0);
	json_decref(cs);
	CHECK(f != NULL);
	while (ao_ds_ndjson_next(f, &r, &off, &err) == 1 && nrecs < 16) {
		offs[nrecs] = off;
		recs[nrecs++] = r;
	}
	fclose(f);
	CHECK_INT(nrecs, 8);
	CHECK_INT(offs[0], 0);
	CHECK(offs[2] > offs[1]); /* the blank line is skipped, offsets still exact */
}

static void test_schema(void)
{
	/* area tools in schema order: Car, Road, Sign, Water; Lane, Light, Paint other */
	CHECK_INT(schema->ncls, 4);
	CHECK_STR(schema->cls[0].title, "Car");
	CHECK_STR(schema->cls[1].title, "Road");
	CHECK_STR(schema->cls[2].title, "Sign");
	CHECK_STR(schema->cls[3].tool, "segmentation");
	CHECK_INT(schema->nother, 3);
	CHECK_INT(ao_ds_schema_class(schema, "sWater"), 3);
	CHECK_INT(ao_ds_schema_class(schema, "sLane"), -1);
	CHECK_INT(ao_ds_schema_class(schema, "sGhost"), -2);
	/* ImageFolder: Tags is a checkbox, Region a tree, so Weather (not Time) */
	CHECK_STR(schema->if_schema_id, "sWeather");
	CHECK_INT(schema->nopt, 4);
	CHECK_STR(schema->opt[0].dir, "Sunny");
	CHECK_STR(schema->opt[1].dir, "Rain_Snow"); /* "/" sanitized */
	CHECK_STR(schema->opt[2].dir, "Fog");	    /* first "Fog" keeps the name */
	CHECK_STR(schema->opt[3].dir, "Fog~oF2");

	char *yaml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	CHECK_INT(ao_ds_yolo_data_yaml(schema, "/m/P/datasets/yolo", f), 0);
	fclose(f);
	CHECK(strstr(yaml, "\nnc: 4\nnames:\n  - \"Car\"\n  - \"Road\"\n  - \"Sign\"\n"
			   "  - \"Water\"\n") != NULL);
	CHECK(strstr(yaml, "train: images\n") != NULL);
	free(yaml);
}

static void test_schema_choice(void)
{
	struct ao_err err = {0};
	struct ao_ds_schema *s;
	json_t *cs = json_load_file(SRCDIR "/data/ds_schema.json", 0, NULL);

	CHECK_INT(ao_ds_schema_load(cs, "sTime", &s, &err), 0);
	CHECK_STR(s->if_title, "Time");
	CHECK_STR(s->opt[1].dir, "Night");
	ao_ds_schema_free(s);
	CHECK_INT(ao_ds_schema_load(cs, "sTags", &s, &err), -EINVAL);
	CHECK(strstr(err.msg, "checkbox") != NULL);
	/* nested classifications never label the whole image */
	CHECK_INT(ao_ds_schema_load(cs, "sInt", &s, &err), -EINVAL);
	CHECK(strstr(err.msg, "no top-level classification with schemaId sInt") != NULL);
	CHECK_INT(ao_ds_schema_load(json_object_get(cs, "tools"), NULL, &s, &err), -EINVAL);
	json_decref(cs);

	/* hostile title cannot add YAML keys; no single-choice: no ImageFolder */
	cs = json_loads("{\"tools\":[{\"tool\":\"polygon\",\"schemaId\":\"x\",\"title\":"
			"\"a\\\"b\\\\\\nnc: 9\"}],\"classifications\":[]}",
			0, NULL);
	CHECK_INT(ao_ds_schema_load(cs, NULL, &s, &err), 0);
	CHECK(s->if_schema_id == NULL);
	char *yaml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	ao_ds_yolo_data_yaml(s, NULL, f);
	fclose(f);
	CHECK(strstr(yaml, "  - \"a\\\"b\\\\\\x0anc: 9\"\n") != NULL);
	free(yaml);
	ao_ds_schema_free(s);
	json_decref(cs);
}

/* PNG signature + IHDR of 200x100 for t1; t5's media is unreadable. */
static ssize_t read_head(void *ud, const struct ao_ds_image *img, void *buf, size_t cap)
{
	static const unsigned char png[24] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
					      0,    0,	 0,   13,  'I',	 'H',  'D',  'R',
					      0,    0,	 0,   200, 0,	 0,    0,    100};
	(void)ud;
	head_calls++;
	if (img->task_id && !strcmp(img->task_id, "t1") && cap >= 24) {
		memcpy(buf, png, 24);
		return 24;
	}
	return -EIO;
}

static struct ao_ds_index *build_index(void)
{
	struct ao_ds_index *x = ao_ds_index_new(schema);
	struct ao_err err = {0};
	int kept = 0;

	for (size_t i = 0; i < nrecs; i++)
		kept += ao_ds_index_add(x, i, 1000 + i, recs[i]);
	CHECK_INT(kept, 6); /* all but the bad record and the video */
	CHECK_INT(ao_ds_index_add(x, 3, 0, recs[3]), -EINVAL); /* order enforced */
	CHECK_INT(ao_ds_index_finish(x, read_head, NULL, &err), 0);
	return x;
}

static void test_index(struct ao_ds_index *x)
{
	const struct ao_ds_report *r = ao_ds_index_report(x);
	const struct ao_ds_image *im;

	CHECK_INT(head_calls, 2); /* only a.png and scan-17 lack metadata */
	CHECK_INT(ao_ds_index_count(x), 6);
	/* "a.jpg" (t0) and "a.jpg" (t0b) and "a.png" (t1) share the stem "a":
	 * t0 sorts first and keeps it; the others get "~<taskId>" before the
	 * extension */
	im = ao_ds_index_by_record(x, 0);
	CHECK_STR(im->name, "a.jpg");
	CHECK_STR(im->label, "a.txt");
	CHECK_INT(im->locator, 1000);
	CHECK_STR(ao_ds_imagefolder_dir(schema, im), "Rain_Snow");
	im = ao_ds_index_by_record(x, 1);
	CHECK_STR(im->name, "a~t1.png");
	CHECK_STR(im->label, "a~t1.txt");
	CHECK_INT(im->width, 200); /* from the PNG header */
	CHECK_INT(im->height, 100);
	CHECK(ao_ds_imagefolder_dir(schema, im) == NULL); /* Weather only nested */
	CHECK(ao_ds_index_by_record(x, 2) == NULL);
	CHECK(ao_ds_index_by_record(x, 3) == NULL);
	im = ao_ds_index_by_record(x, 4);
	CHECK_STR(im->name, "Ünïcödé_名前.jpg");
	CHECK_STR(im->label, "Ünïcödé_名前.txt");
	CHECK_STR(ao_ds_imagefolder_dir(schema, im), "Fog");
	im = ao_ds_index_by_record(x, 5);
	CHECK_STR(im->name, "scan-17.PNG"); /* URL's extension; query ignored */
	CHECK_INT(im->width, 0);
	CHECK_STR(ao_ds_imagefolder_dir(schema, im), "Fog~oF2"); /* answer = option id */
	im = ao_ds_index_by_record(x, 6);
	CHECK_STR(im->name, "a~t0b.jpg");
	CHECK(ao_ds_imagefolder_dir(schema, im) == NULL); /* "Hail" */
	im = ao_ds_index_by_record(x, 7);
	CHECK_STR(im->name, "_.jpeg");
	CHECK(im->task_id == NULL);

	/* the tree's lookups */
	CHECK(ao_ds_index_find_name(x, "a~t1.png") == ao_ds_index_by_record(x, 1));
	CHECK(ao_ds_index_find_name(x, "Ünïcödé_名前.jpg") == ao_ds_index_by_record(x, 4));
	CHECK(ao_ds_index_find_label(x, "a~t0b.txt") == ao_ds_index_by_record(x, 6));
	CHECK(ao_ds_index_find_label(x, "_.txt") == ao_ds_index_by_record(x, 7));
	CHECK(ao_ds_index_find_name(x, "a") == NULL);
	CHECK(ao_ds_index_find_name(x, "a.txt") == NULL);
	CHECK(ao_ds_index_find_label(x, "a.jpg") == NULL);

	CHECK_INT(r->records, 8);
	CHECK_INT(r->images, 6);
	CHECK_INT(r->skipped[AO_DS_SKIP_BAD_RECORD], 1);
	CHECK_INT(r->skipped[AO_DS_SKIP_NOT_IMAGE], 1);
	CHECK_INT(r->skipped[AO_DS_SKIP_MASK], 1);
	CHECK_INT(r->skipped[AO_DS_SKIP_NO_SIZE], 1);
	CHECK_INT(r->skipped[AO_DS_SKIP_NO_ANSWER], 2); /* a.png, _.jpeg */
	CHECK_INT(r->skipped[AO_DS_SKIP_UNKNOWN_OPTION], 1);
	const unsigned long long *cc = ao_ds_index_class_counts(x);
	CHECK_INT(cc[0], 0);
	CHECK_INT(cc[1], 1);
	CHECK_INT(cc[2], 1);
	CHECK_INT(cc[3], 1);

	char *txt = ao_ds_report_text(r);
	CHECK(strstr(txt, "skipped.no_size 1  # image width/height unknown") != NULL);
	CHECK(strstr(txt, "skipped.brush") == NULL); /* zero counts are left out */
	free(txt);
}

static char *label_of(struct ao_ds_index *x, size_t rec, struct ao_ds_report *r, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*rc = ao_ds_yolo_label(schema, ao_ds_index_by_record(x, rec), recs[rec], AO_DS_YOLO_MIXED,
			       f, r);
	fclose(f);
	return buf;
}

static void test_yolo(struct ao_ds_index *x)
{
	struct ao_ds_report r = {0};
	char *t;
	int rc;

	/* a.jpg 100x50:
	 * box 10,10 20x10      -> cx 20/100 .2, cy 15/50 .3, w .2, h 10/50 .2
	 * box 50,40 -20x-30    -> x 30..50, y 10..40: cx .4, cy 25/50 .5, w .2, h .6
	 * box 90,40 20x20      -> clipped to x 90..100, y 40..50: cx .95 cy .9 w .1 h .2
	 * box 200,10           -> outside: degenerate
	 * polygon (0,0)(50,0)(50,25) -> 0 0, .5 0, .5 .5
	 * rotated 40,20 20x10 rot 90: centre (50,25), corners (-10,-5)..(-10,5)
	 * turned clockwise: (55,15) (55,35) (45,35) (45,15) -> /100, /50 */
	t = label_of(x, 0, &r, &rc);
	CHECK_INT(rc, 0);
	CHECK_STR(t, "0 0.200000 0.300000 0.200000 0.200000\n"
		     "0 0.400000 0.500000 0.200000 0.600000\n"
		     "0 0.950000 0.900000 0.100000 0.200000\n"
		     "1 0.000000 0.000000 0.500000 0.000000 0.500000 0.500000\n"
		     "2 0.550000 0.300000 0.550000 0.700000 0.450000 0.700000 0.450000 0.300000\n");
	free(t);
	/* a~t1.png 200x100: corners /200, /100; zone 1 the left square; zone 2
	 * (150,0)(250,0)(250,50) cut at x=200: C->A crosses at (200,25), A->B at
	 * (200,0), in Sutherland-Hodgman order (200,25)(150,0)(200,0) */
	t = label_of(x, 1, &r, &rc);
	CHECK_STR(t, "2 0.050000 0.100000 0.150000 0.100000 0.150000 0.200000 0.050000 0.200000\n"
		     "3 0.000000 0.000000 0.500000 0.000000 0.500000 1.000000 0.000000 1.000000\n"
		     "3 1.000000 0.250000 0.750000 0.000000 1.000000 0.000000\n");
	free(t);
	t = label_of(x, 4, &r, &rc);
	CHECK_STR(t, ""); /* no marks: an empty label file (background image) */
	free(t);
	t = label_of(x, 5, &r, &rc);
	CHECK_INT(rc, -EINVAL); /* no size: not in the view */
	free(t);
	t = label_of(x, 6, &r, &rc); /* legacy objects */
	CHECK_STR(t, "0 0.500000 0.500000 1.000000 1.000000\n");
	free(t);
	t = label_of(x, 7, &r, &rc); /* 2 points; 3 collinear points */
	CHECK_STR(t, "");
	free(t);
	CHECK_INT(r.images, 5);
	CHECK_INT(r.annotations, 9);
	CHECK_INT(r.clipped, 2);
	CHECK_INT(r.skipped[AO_DS_SKIP_DEGENERATE], 3);
	CHECK_INT(r.skipped[AO_DS_SKIP_GEOMETRY], 2);
	CHECK_INT(r.skipped[AO_DS_SKIP_UNKNOWN_SCHEMA], 1);
	CHECK_INT(r.skipped[AO_DS_SKIP_PAGE], 1);
	CHECK_INT(r.skipped[AO_DS_SKIP_BRUSH], 1);
	CHECK_INT(r.skipped[AO_DS_SKIP_HOLES], 1);
}

static int near(const json_t *j, double v)
{
	return json_is_number(j) && fabs(json_number_value(j) - v) < 1e-6;
}

static const json_t *ann(const json_t *doc, size_t i)
{
	return json_array_get(json_object_get(doc, "annotations"), i);
}

static void check_bbox(const json_t *a, double x, double y, double w, double h, double area)
{
	const json_t *b = json_object_get(a, "bbox");
	CHECK(near(json_array_get(b, 0), x) && near(json_array_get(b, 1), y));
	CHECK(near(json_array_get(b, 2), w) && near(json_array_get(b, 3), h));
	CHECK(near(json_object_get(a, "area"), area));
}

static void test_coco(struct ao_ds_index *x)
{
	struct ao_ds_coco *c;
	struct ao_ds_report r;
	struct ao_err err = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK_INT(ao_ds_coco_begin(schema, x, f, &c, &err), 0);
	for (size_t i = 0; i < nrecs; i++)
		CHECK_INT(ao_ds_coco_add(c, i, recs[i]), 0);
	CHECK_INT(ao_ds_coco_end(c, &r), 0);
	fclose(f);
	json_error_t je;
	json_t *doc = json_loads(buf, 0, &je);
	CHECK(doc != NULL);
	free(buf);
	const json_t *cats = json_object_get(doc, "categories");
	const json_t *imgs = json_object_get(doc, "images");
	CHECK_INT(json_array_size(cats), 4);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(cats, 3), "id")), 4);
	CHECK_STR(json_string_value(json_object_get(json_array_get(cats, 3), "name")), "Water");
	/* images: records 0,1,4,6,7 -> ids 1,2,5,7,8 (scan-17, id 6, has no size) */
	CHECK_INT(json_array_size(imgs), 5);
	const int ids[5] = {1, 2, 5, 7, 8};
	for (int i = 0; i < 5; i++)
		CHECK_INT(json_integer_value(json_object_get(json_array_get(imgs, i), "id")),
			  ids[i]);
	CHECK_STR(json_string_value(json_object_get(json_array_get(imgs, 2), "file_name")),
		  "Ünïcödé_名前.jpg");
	CHECK_INT(json_integer_value(json_object_get(json_array_get(imgs, 1), "width")), 200);
	/* 5 marks of a.jpg, 2 of a~t1.png, 1 of a~t0b.jpg */
	CHECK_INT(json_array_size(json_object_get(doc, "annotations")), 8);
	CHECK_INT(r.annotations, 8);
	check_bbox(ann(doc, 0), 10, 10, 20, 10, 200);
	check_bbox(ann(doc, 1), 30, 10, 20, 30, 600); /* negative width/height */
	check_bbox(ann(doc, 2), 90, 40, 10, 10, 100); /* clipped */
	check_bbox(ann(doc, 3), 0, 0, 50, 25, 625);   /* triangle: 50*25/2 */
	check_bbox(ann(doc, 4), 45, 15, 10, 20, 200); /* 20x10 turned 90 degrees */
	check_bbox(ann(doc, 5), 10, 10, 20, 10, 200);
	/* water: square 100*100 + clipped triangle 50*25/2, hole dropped */
	check_bbox(ann(doc, 6), 0, 0, 200, 100, 10000 + 625);
	check_bbox(ann(doc, 7), 0, 0, 100, 50, 5000);
	const json_t *a0 = ann(doc, 0), *a6 = ann(doc, 6), *a7 = ann(doc, 7);
	CHECK_INT(json_integer_value(json_object_get(a0, "id")), 1);
	CHECK_INT(json_integer_value(json_object_get(a0, "image_id")), 1);
	CHECK_INT(json_integer_value(json_object_get(a0, "category_id")), 1);
	CHECK_INT(json_integer_value(json_object_get(a0, "iscrowd")), 0);
	CHECK_STR(json_string_value(json_object_get(a0, "ango_object_id")), "o1");
	/* a box's segmentation is its rectangle: 10,10 30,10 30,20 10,20 */
	const json_t *s0 = json_array_get(json_object_get(a0, "segmentation"), 0);
	CHECK(json_array_size(s0) == 8 && near(json_array_get(s0, 2), 30) &&
	      near(json_array_get(s0, 5), 20));
	CHECK_INT(json_array_size(json_object_get(a6, "segmentation")), 2);
	CHECK_INT(json_integer_value(json_object_get(a6, "image_id")), 2);
	CHECK_INT(json_integer_value(json_object_get(a6, "category_id")), 4);
	CHECK_INT(json_integer_value(json_object_get(a7, "image_id")), 7);
	CHECK_INT(json_integer_value(json_object_get(a7, "id")), 8);
	/* the third car's own classification; the others have none */
	CHECK_STR(json_string_value(
		      json_object_get(json_object_get(ann(doc, 2), "attributes"), "Occluded")),
		  "Yes");
	CHECK(json_object_get(a0, "attributes") == NULL);
	json_decref(doc);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	load(SRCDIR "/data/ds_schema.json", SRCDIR "/data/ds_export.ndjson");
	test_schema();
	test_schema_choice();
	struct ao_ds_index *x = build_index();
	test_index(x);
	test_yolo(x);
	test_coco(x);
	ao_ds_index_free(x);
	ao_ds_schema_free(schema);
	for (size_t i = 0; i < nrecs; i++)
		json_decref(recs[i]);
	return t_done("ds_convert");
}
