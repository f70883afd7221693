/*
 * Unit test of the dataset conversions' edge cases (src/datasets/): image
 * names at the length limit, with unicode and hostile ids, many-way
 * collisions; malformed marks and metadata; the NDJSON reader's errors;
 * write errors of the COCO stream (/dev/full).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/datasets.h"
#include "t.h"

static struct ao_ds_schema *schema(void)
{
	struct ao_ds_schema *s = NULL;
	struct ao_err err = {0};
	json_t *cs = json_loads("{\"tools\":[{\"tool\":\"bounding-box\",\"title\":\"Box\","
				"\"schemaId\":\"sB\"},{\"tool\":\"polygon\",\"title\":\"Poly\","
				"\"schemaId\":\"sP\"}],\"classifications\":[]}",
				0, NULL);
	CHECK_INT(ao_ds_schema_load(cs, NULL, &s, &err), 0);
	json_decref(cs);
	return s;
}

static json_t *rec(const char *ext, const char *task_id, const char *tools)
{
	char *txt;
	json_t *r;

	if (asprintf(&txt,
		     "{\"asset\":\"https://h/x\",\"metadata\":{\"width\":100,\"height\":100},"
		     "\"task\":{\"tools\":%s}}",
		     tools ? tools : "[]") < 0)
		return NULL;
	r = json_loads(txt, 0, NULL);
	free(txt);
	if (ext)
		json_object_set_new(r, "externalId", json_string(ext));
	if (task_id)
		json_object_set_new(json_object_get(r, "task"), "taskId", json_string(task_id));
	return r;
}

static struct ao_ds_index *index_of(struct ao_ds_schema *s, json_t **recs, size_t n)
{
	struct ao_ds_index *x = ao_ds_index_new(s);
	struct ao_err err = {0};

	for (size_t i = 0; i < n; i++)
		CHECK_INT(ao_ds_index_add(x, i, 0, recs[i]), 1);
	CHECK_INT(ao_ds_index_finish(x, NULL, NULL, &err), 0);
	return x;
}

static void test_names(struct ao_ds_schema *s)
{
	char longx[301], uni[301 + 4];
	json_t *r[7];

	memset(longx, 'x', 296);
	strcpy(longx + 296, ".jpg"); /* 300 bytes */
	uni[0] = '\0';
	for (int i = 0; i < 100; i++)
		strcat(uni, "\xe5\x90\x8d"); /* U+540D, 3 bytes: 300 bytes */
	strcat(uni, ".PNG");
	r[0] = rec(longx, "t2", NULL);
	r[1] = rec(longx, "t1", NULL); /* same long name, older task */
	r[2] = rec(uni, "t3", NULL);
	r[3] = rec("x.jpg", "c", NULL);
	r[4] = rec("x.jpeg", "a", NULL);
	r[5] = rec("x.gif", "../t/9", NULL); /* hostile id in the suffix */
	r[6] = rec("..", "d", NULL);	     /* no extension, a reserved name */
	struct ao_ds_index *x = index_of(s, r, 7);

	/* stem cut to 255 - 4 - 66 = 185 bytes; t1 sorts first and keeps it */
	const struct ao_ds_image *a = ao_ds_index_get(x, 0), *b = ao_ds_index_get(x, 1);
	CHECK_INT(strlen(b->name), 185 + 4);
	CHECK(strncmp(b->name, longx, 185) == 0 && !strcmp(b->name + 185, ".jpg"));
	CHECK_INT(strlen(a->name), 185 + 3 + 4); /* "~t2" */
	CHECK(!strcmp(a->name + 185, "~t2.jpg"));
	CHECK(!strcmp(a->label + 185, "~t2.txt"));
	/* 185 bytes is not a character boundary (185 = 61*3 + 2): cut to 183 */
	const struct ao_ds_image *u = ao_ds_index_get(x, 2);
	CHECK_INT(strlen(u->name), 183 + 4);
	CHECK(!strcmp(u->name + 183, ".PNG"));
	CHECK_INT(u->has_ext, 1);
	/* stems "x": ids sorted "../t/9" < "a" < "c": the hostile id sorts first */
	CHECK_STR(ao_ds_index_get(x, 5)->name, "x.gif");
	CHECK_STR(ao_ds_index_get(x, 4)->name, "x~a.jpeg");
	CHECK_STR(ao_ds_index_get(x, 3)->name, "x~c.jpg");
	CHECK_STR(ao_ds_index_get(x, 3)->label, "x~c.txt");
	/* ".." becomes "_.." (names.h); no image extension */
	CHECK_STR(ao_ds_index_get(x, 6)->name, "_..");
	CHECK_INT(ao_ds_index_get(x, 6)->has_ext, 0);
	for (size_t i = 0; i < 7; i++) {
		CHECK(strlen(ao_ds_index_get(x, i)->name) <= 255);
		json_decref(r[i]);
	}
	ao_ds_index_free(x);

	/* the same task id twice (broken export): the second uses record-<n> */
	r[0] = rec("d.png", "dup", NULL);
	r[1] = rec("d.png", "dup", NULL);
	r[2] = rec("d.png", "dup", NULL);
	x = index_of(s, r, 3);
	CHECK_STR(ao_ds_index_get(x, 0)->name, "d.png");
	CHECK_STR(ao_ds_index_get(x, 1)->name, "d~record-1.png");
	CHECK_STR(ao_ds_index_get(x, 2)->name, "d~record-2.png");
	for (int i = 0; i < 3; i++)
		json_decref(r[i]);
	ao_ds_index_free(x);

	/* the suffix itself sanitized: a colliding hostile id */
	r[0] = rec("y.png", "a", NULL);
	r[1] = rec("y.png", "z/../\x01", NULL);
	x = index_of(s, r, 2);
	CHECK_STR(ao_ds_index_get(x, 1)->name, "y~z_.._\x5f.png");
	json_decref(r[0]);
	json_decref(r[1]);
	ao_ds_index_free(x);
}

static char *label(struct ao_ds_schema *s, const char *tools, enum ao_ds_yolo_mode mode,
		   struct ao_ds_report *rep)
{
	json_t *r = rec("i.png", "t", tools);
	struct ao_ds_index *x = index_of(s, &r, 1);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK_INT(ao_ds_yolo_label(s, ao_ds_index_get(x, 0), r, mode, f, rep), 0);
	fclose(f);
	ao_ds_index_free(x);
	json_decref(r);
	return buf;
}

static void test_marks(struct ao_ds_schema *s)
{
	struct ao_ds_report rep = {0};
	char *t;

	/* image 100x100. A box exactly the image is kept, not "clipped";
	 * strings for numbers, zero width, a point that is not a pair and a
	 * polygon given as an object are "degenerate"; a mark with no
	 * geometry key is "geometry"; a non-object mark is degenerate. */
	t = label(s,
		  "[{\"schemaId\":\"sB\",\"bounding-box\":{\"x\":0,\"y\":0,\"width\":100,"
		  "\"height\":100}},"
		  "{\"schemaId\":\"sB\",\"bounding-box\":{\"x\":\"10\",\"y\":0,\"width\":5,"
		  "\"height\":5}},"
		  "{\"schemaId\":\"sB\",\"bounding-box\":{\"x\":10,\"y\":0,\"width\":0,"
		  "\"height\":5}},"
		  "{\"schemaId\":\"sP\",\"polygon\":[[0,0],[10],[10,10]]},"
		  "{\"schemaId\":\"sP\",\"polygon\":{\"x\":1}},"
		  "{\"schemaId\":\"sP\"},"
		  "7]",
		  AO_DS_YOLO_MIXED, &rep);
	CHECK_STR(t, "0 0.500000 0.500000 1.000000 1.000000\n");
	free(t);
	CHECK_INT(rep.clipped, 0);
	CHECK_INT(rep.skipped[AO_DS_SKIP_DEGENERATE], 5);
	CHECK_INT(rep.skipped[AO_DS_SKIP_GEOMETRY], 1);

	/* concave "U" polygon (0,0)(30,0)(30,120)(20,120)(20,10)(10,10)(10,120)
	 * (0,120) cut at y=100: area = 30*10 + 2 * 10*90 = 2100 px. YOLO row
	 * points: Sutherland-Hodgman through y <= 100 gives 8 points. */
	memset(&rep, 0, sizeof(rep));
	t = label(s,
		  "[{\"schemaId\":\"sP\",\"polygon\":[[0,0],[30,0],[30,120],[20,120],[20,10],"
		  "[10,10],[10,120],[0,120]]}]",
		  AO_DS_YOLO_MIXED, &rep);
	CHECK_STR(t, "1 0.000000 1.000000 0.000000 0.000000 0.300000 0.000000 0.300000 1.000000 "
		     "0.200000 1.000000 0.200000 0.100000 0.100000 0.100000 0.100000 1.000000\n");
	free(t);
	CHECK_INT(rep.clipped, 1);
}

/* Box 10,20 30x40 and triangle (0,0)(50,0)(50,100) on 100x100, each mode:
 * box row: cx 25/100, cy 40/100, w .3, h .4; its corners (10,20)(40,20)
 * (40,60)(10,60); the triangle's bounding box 0..50 x 0..100: cx .25 cy .5
 * w .5 h 1. */
static void test_yolo_modes(struct ao_ds_schema *s)
{
	const char *tools = "[{\"schemaId\":\"sB\",\"bounding-box\":{\"x\":10,\"y\":20,"
			    "\"width\":30,\"height\":40}},{\"schemaId\":\"sP\",\"polygon\":"
			    "[[0,0],[50,0],[50,100]]}]";
	const char *box = "0 0.250000 0.400000 0.300000 0.400000\n";
	const char *box_poly =
	    "0 0.100000 0.200000 0.400000 0.200000 0.400000 0.600000 0.100000 0.600000\n";
	const char *tri = "1 0.000000 0.000000 0.500000 0.000000 0.500000 1.000000\n";
	const char *tri_box = "1 0.250000 0.500000 0.500000 1.000000\n";
	struct ao_ds_report rep = {0};
	char want[512], *t;

	snprintf(want, sizeof(want), "%s%s", box, tri);
	t = label(s, tools, AO_DS_YOLO_MIXED, &rep);
	CHECK_STR(t, want);
	free(t);
	snprintf(want, sizeof(want), "%s%s", box, tri_box);
	t = label(s, tools, AO_DS_YOLO_BOXES, &rep);
	CHECK_STR(t, want);
	free(t);
	snprintf(want, sizeof(want), "%s%s", box_poly, tri);
	t = label(s, tools, AO_DS_YOLO_SEGMENTS, &rep);
	CHECK_STR(t, want);
	free(t);
	CHECK_INT(rep.annotations, 6);
}

static void test_coco_area_and_errors(struct ao_ds_schema *s)
{
	json_t *r = rec("i.png", "t",
			"[{\"schemaId\":\"sP\",\"polygon\":[[0,0],[30,0],[30,120],[20,120],[20,10],"
			"[10,10],[10,120],[0,120]]}]");
	struct ao_ds_index *x = index_of(s, &r, 1);
	struct ao_ds_coco *c;
	struct ao_ds_report rep;
	struct ao_err err = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK_INT(ao_ds_coco_begin(s, x, f, &c, &err), 0);
	CHECK_INT(ao_ds_coco_add(c, 0, r), 0);
	CHECK_INT(ao_ds_coco_add(c, 1, r), 0); /* not indexed: nothing */
	CHECK_INT(ao_ds_coco_end(c, &rep), 0);
	fclose(f);
	json_t *doc = json_loads(buf, 0, NULL);
	json_t *a = json_array_get(json_object_get(doc, "annotations"), 0);
	CHECK_INT(json_array_size(json_object_get(doc, "annotations")), 1);
	CHECK(json_number_value(json_object_get(a, "area")) == 2100.0);
	json_decref(doc);
	free(buf);

	/* /dev/full: every write fails once flushed; the error comes back */
	FILE *full = fopen("/dev/full", "w");
	CHECK(full != NULL);
	if (full) {
		setvbuf(full, NULL, _IONBF, 0);
		int rc = ao_ds_coco_begin(s, x, full, &c, &err);
		CHECK_INT(rc, -EIO);
		CHECK(strstr(err.msg, "annotations.json") != NULL);
		clearerr(full);
		CHECK_INT(ao_ds_yolo_data_yaml(s, NULL, full), -EIO);
		fclose(full);
	}
	ao_ds_index_free(x);
	json_decref(r);
}

/* COCO annotations of one 100x100 image with the marks `tools`. */
static json_t *coco_of(struct ao_ds_schema *s, const char *tools, struct ao_ds_report *rep)
{
	json_t *r = rec("i.png", "t", tools);
	struct ao_ds_index *x = index_of(s, &r, 1);
	struct ao_ds_coco *c;
	struct ao_err err = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK_INT(ao_ds_coco_begin(s, x, f, &c, &err), 0);
	CHECK_INT(ao_ds_coco_add(c, 0, r), 0);
	CHECK_INT(ao_ds_coco_end(c, rep), 0);
	fclose(f);
	json_t *doc = json_loads(buf, 0, NULL);
	free(buf);
	ao_ds_index_free(x);
	json_decref(r);
	json_t *anns = json_incref(json_object_get(doc, "annotations"));
	json_decref(doc);
	return anns;
}

/* Issue 23: areas are the even-odd region's, so a self-intersecting polygon
 * is kept as given (as COCO keeps it) instead of "degenerate" by its signed
 * area 0, and a figure eight's area is its lobes' sum, not their
 * difference. Worked by hand:
 *   bow-tie (0,0)(10,10)(10,0)(0,10): lobes 25 + 25 = 50 (signed: 0);
 *   (0,0)(30,20)(30,0)(0,10): AB y=2x/3 meets CD y=10-x/3 at (10,20/3);
 *     left lobe base 10 (x=0) height 10: 50; right base 20 (x=30) height
 *     20: 200; even-odd 250 (shoelace: |0 - 600 + 300 + 0| / 2 = 150);
 *   a square traced twice (0,0)(10,0)(10,10)(0,10)(0,0)(10,0)(10,10)(0,10):
 *     each scan line crosses x=0 twice and x=10 twice, so nothing is
 *     inside by the even-odd rule (winding number 2): degenerate, as
 *     pycocotools and fillPoly draw it (empty);
 *   collinear points: degenerate. */
static void test_self_intersecting(struct ao_ds_schema *s)
{
	struct ao_ds_report rep = {0};
	json_t *a = coco_of(s,
			    "[{\"schemaId\":\"sP\",\"polygon\":[[0,0],[10,10],[10,0],[0,10]]},"
			    "{\"schemaId\":\"sP\",\"polygon\":[[0,0],[30,20],[30,0],[0,10]]},"
			    "{\"schemaId\":\"sP\",\"polygon\":[[0,0],[10,0],[10,10],[0,10],[0,0],"
			    "[10,0],[10,10],[0,10]]},"
			    "{\"schemaId\":\"sP\",\"polygon\":[[0,0],[5,5],[10,10]]}]",
			    &rep);
	CHECK_INT(json_array_size(a), 2);
	CHECK(fabs(json_number_value(json_object_get(json_array_get(a, 0), "area")) - 50) < 1e-9);
	CHECK(fabs(json_number_value(json_object_get(json_array_get(a, 1), "area")) - 250) < 1e-9);
	CHECK_INT(rep.skipped[AO_DS_SKIP_DEGENERATE], 2);
	/* the bow-tie's segmentation is the polygon as given */
	json_t *seg = json_array_get(json_object_get(json_array_get(a, 0), "segmentation"), 0);
	CHECK_INT(json_array_size(seg), 8);
	json_decref(a);
	/* YOLO keeps it too: the polygon row as given */
	char *t = label(s, "[{\"schemaId\":\"sP\",\"polygon\":[[0,0],[10,10],[10,0],[0,10]]}]",
			AO_DS_YOLO_MIXED, &rep);
	CHECK_STR(t, "1 0.000000 0.000000 0.100000 0.100000 0.100000 0.000000 0.000000 0.100000\n");
	free(t);
	/* cut by the border: x <= 100 of (90,0)(110,20)(110,0)(90,20), whose
	 * lobes meet at (100,10): the left lobe, 10 * 20 / 2 = 100 */
	a = coco_of(s, "[{\"schemaId\":\"sP\",\"polygon\":[[90,0],[110,20],[110,0],[90,20]]}]",
		    &rep);
	CHECK(fabs(json_number_value(json_object_get(json_array_get(a, 0), "area")) - 100) < 1e-9);
	json_decref(a);
}

/* Issue 23: a mark under one pixel across after clipping is "subpixel"
 * (a sub-pixel box printed as a zero-width YOLO row before); exactly one
 * pixel is kept. */
static void test_subpixel(struct ao_ds_schema *s)
{
	struct ao_ds_report rep = {0};
	char *t = label(s,
			"[{\"schemaId\":\"sB\",\"bounding-box\":{\"x\":10,\"y\":10,\"width\":"
			"0.0000001,\"height\":5}},"
			"{\"schemaId\":\"sB\",\"bounding-box\":{\"x\":10,\"y\":10,\"width\":5,"
			"\"height\":-0.5}},"
			"{\"schemaId\":\"sB\",\"bounding-box\":{\"x\":99.5,\"y\":10,\"width\":10,"
			"\"height\":10}},"
			"{\"schemaId\":\"sP\",\"polygon\":[[0,0],[50,0.2],[0,0.4]]},"
			"{\"schemaId\":\"sB\",\"bounding-box\":{\"x\":10,\"y\":10,\"width\":1,"
			"\"height\":1}}]",
			AO_DS_YOLO_MIXED, &rep);
	CHECK_STR(t, "0 0.105000 0.105000 0.010000 0.010000\n");
	free(t);
	CHECK_INT(rep.skipped[AO_DS_SKIP_SUBPIXEL], 4);
	CHECK_INT(rep.annotations, 1);
	CHECK_STR(ao_ds_skip_name(AO_DS_SKIP_SUBPIXEL), "subpixel");
}

/* asset_of for test_naming: the asset behind each task (t1 and t3 are two
 * tasks of one asset, consensus); t8's asset is unknown. */
static int test_asset_of(void *ud, const struct ao_ds_image *img, char *id, size_t idsz,
			 char *created, size_t crsz)
{
	static const char *const map[][3] = {{"t1", "a5", "2024-02"},
					     {"t2", "a3", "2024-01"},
					     {"t3", "a5", "2024-02"},
					     {"t9", "a9", "2024-03"}};
	(*(int *)ud)++;
	for (size_t i = 0; i < 4; i++)
		if (!strcmp(img->task_id, map[i][0])) {
			snprintf(id, idsz, "%s", map[i][1]);
			snprintf(created, crsz, "%s", map[i][2]);
			return 0;
		}
	return -1;
}

static const char *test_fixed(void *ud, const struct ao_ds_image *img)
{
	(void)ud;
	return !strcmp(img->task_id, "t1")   ? "c~a5.jpg"
	       : !strcmp(img->task_id, "t2") ? "c.png"
					     : NULL;
}

/* Issue 23: names as assets/ gives them. Colliding stems are told apart by
 * the asset id, the oldest asset (createdAt) keeping the plain name: c.png
 * (a3, 2024-01) before c.jpg (a5, 2024-02); t3 is a second task of a5: its
 * task id; t8's asset is unknown: its task id; ".status" is reserved (the
 * status directory of assets/). Non-colliding images are not looked up. A
 * stage view with every task named by the whole project takes those names. */
static void test_naming(struct ao_ds_schema *s)
{
	json_t *r[6] = {rec("c.jpg", "t1", NULL), rec("c.png", "t2", NULL),
			rec("c.jpg", "t3", NULL), rec("alone.jpg", "t4", NULL),
			rec("c.gif", "t8", NULL), rec(".status.jpg", "t9", NULL)};
	struct ao_ds_index *x = ao_ds_index_new(s);
	struct ao_err err = {0};
	int calls = 0;
	struct ao_ds_naming nm = {test_asset_of, NULL, &calls, NULL};

	for (size_t i = 0; i < 6; i++)
		CHECK_INT(ao_ds_index_add(x, i, 0, r[i]), 1);
	ao_ds_index_set_naming(x, &nm);
	CHECK_INT(ao_ds_index_finish(x, NULL, NULL, &err), 0);
	CHECK_STR(ao_ds_index_get(x, 1)->name, "c.png");
	CHECK_STR(ao_ds_index_get(x, 0)->name, "c~a5.jpg");
	CHECK_STR(ao_ds_index_get(x, 2)->name, "c~t3.jpg");
	CHECK_STR(ao_ds_index_get(x, 3)->name, "alone.jpg");
	CHECK_STR(ao_ds_index_get(x, 4)->name, "c~t8.gif");
	CHECK_STR(ao_ds_index_get(x, 5)->name, ".status~a9.jpg");
	CHECK_STR(ao_ds_index_get(x, 5)->label, ".status~a9.txt");
	CHECK_INT(calls, 5); /* the four c.* and .status, not alone.jpg */
	CHECK(ao_ds_index_find_task(x, "t3") == ao_ds_index_get(x, 2));
	CHECK(ao_ds_index_find_task(x, "nope") == NULL);
	ao_ds_index_free(x);

	/* a stage view: t1 and t2, both named by the whole project */
	struct ao_ds_naming fx = {NULL, test_fixed, NULL, NULL};
	x = ao_ds_index_new(s);
	CHECK_INT(ao_ds_index_add(x, 0, 0, r[0]), 1);
	CHECK_INT(ao_ds_index_add(x, 1, 0, r[1]), 1);
	ao_ds_index_set_naming(x, &fx);
	CHECK_INT(ao_ds_index_finish(x, NULL, NULL, &err), 0);
	CHECK_STR(ao_ds_index_get(x, 0)->name, "c~a5.jpg"); /* alone here, named as the whole */
	CHECK_STR(ao_ds_index_get(x, 0)->label, "c~a5.txt");
	CHECK(ao_ds_index_find_name(x, "c.png") == ao_ds_index_get(x, 1));
	ao_ds_index_free(x);
	/* a task the whole project's export lacks: the view's own rule */
	x = ao_ds_index_new(s);
	CHECK_INT(ao_ds_index_add(x, 0, 0, r[0]), 1);
	CHECK_INT(ao_ds_index_add(x, 1, 0, r[3]), 1);
	ao_ds_index_set_naming(x, &fx);
	CHECK_INT(ao_ds_index_finish(x, NULL, NULL, &err), 0);
	CHECK_STR(ao_ds_index_get(x, 0)->name, "c.jpg");
	ao_ds_index_free(x);
	for (size_t i = 0; i < 6; i++)
		json_decref(r[i]);
}

static void test_ndjson(void)
{
	struct ao_err err = {0};
	json_t *r;
	long long off = -1;
	FILE *f = tmpfile();

	fputs("{\"a\":1}\n\n  \n{\"b\":2}\n{\"c\":\n", f);
	rewind(f);
	CHECK_INT(ao_ds_ndjson_next(f, &r, &off, &err), 1);
	CHECK_INT(off, 0);
	json_decref(r);
	CHECK_INT(ao_ds_ndjson_next(f, &r, &off, &err), 1);
	CHECK_INT(off, 8 + 1 + 3); /* after "{\"a\":1}\n", "\n", "  \n" */
	json_decref(r);
	CHECK_INT(ao_ds_ndjson_next(f, &r, &off, &err), -EINVAL);
	CHECK(strstr(err.msg, "export record at byte 20 is not JSON") != NULL);
	CHECK(r == NULL);
	CHECK_INT(ao_ds_ndjson_next(f, &r, &off, &err), 0);
	fclose(f);
}

/* A baseline JPEG: SOI, SOF0 with height 0x01e0 = 480, width 0x0280 = 640. */
static ssize_t jpeg_head(void *ud, const struct ao_ds_image *img, void *buf, size_t cap)
{
	static const unsigned char jpg[] = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x01,
					    0xe0, 0x02, 0x80, 0x01, 0x01, 0x11, 0x00};
	(void)img;
	(*(int *)ud)++;
	if (cap < sizeof(jpg))
		return -ENOSPC;
	memcpy(buf, jpg, sizeof(jpg));
	return sizeof(jpg);
}

/* A JPEG whose SOF lies behind a 6000-byte APP1 (an EXIF thumbnail): SOI (2),
 * APP1 marker (2) + length 6000, SOF0 at 6004: the 4 KiB read says "more",
 * the 64 KiB read finds 1920x1080. */
static ssize_t exif_head(void *ud, const struct ao_ds_image *img, void *buf, size_t cap)
{
	static unsigned char jpg[6004 + 11];
	const unsigned char sof[11] = {0xff, 0xc0, 0x00, 0x0b, 0x08, 0x04,
				       0x38, 0x07, 0x80, 0x01, 0x01};
	size_t n = sizeof(jpg) < cap ? sizeof(jpg) : cap;

	(void)img;
	((int *)ud)[0]++;
	((int *)ud)[1] = (int)cap;
	memset(jpg, 0, sizeof(jpg));
	jpg[0] = 0xff, jpg[1] = 0xd8, jpg[2] = 0xff, jpg[3] = 0xe1;
	jpg[4] = 6000 >> 8, jpg[5] = 6000 & 0xff;
	memcpy(jpg + 6004, sof, sizeof(sof));
	memcpy(buf, jpg, n);
	return (ssize_t)n;
}

static void test_exif_hook(struct ao_ds_schema *s)
{
	json_t *r = rec("e.jpg", "t", NULL);
	struct ao_ds_index *x = ao_ds_index_new(s);
	struct ao_err err = {0};
	int calls[2] = {0, 0};

	json_object_del(r, "metadata");
	CHECK_INT(ao_ds_index_add(x, 0, 0, r), 1);
	CHECK_INT(ao_ds_index_finish(x, exif_head, calls, &err), 0);
	CHECK_INT(calls[0], 2);
	CHECK_INT(calls[1], 65536);
	CHECK_INT(ao_ds_index_get(x, 0)->width, 1920);
	CHECK_INT(ao_ds_index_get(x, 0)->height, 1080);
	CHECK_INT(ao_ds_index_report(x)->skipped[AO_DS_SKIP_NO_SIZE], 0);
	ao_ds_index_free(x);
	json_decref(r);
}

static void test_jpeg_hook(struct ao_ds_schema *s)
{
	json_t *r = rec("j.jpg", "t",
			"[{\"schemaId\":\"sB\",\"bounding-box\":{\"x\":64,"
			"\"y\":48,\"width\":320,\"height\":240}}]");
	struct ao_ds_index *x = ao_ds_index_new(s);
	struct ao_ds_report rep = {0};
	struct ao_err err = {0};
	int calls = 0;
	char *buf = NULL;
	size_t len = 0;

	json_object_del(r, "metadata");
	CHECK_INT(ao_ds_index_add(x, 0, 0, r), 1);
	CHECK_INT(ao_ds_index_finish(x, jpeg_head, &calls, &err), 0);
	CHECK_INT(calls, 1);
	const struct ao_ds_image *im = ao_ds_index_get(x, 0);
	CHECK_INT(im->width, 640);
	CHECK_INT(im->height, 480);
	/* box 64..384 x 48..288 on 640x480: cx 224/640 .35, cy 168/480 .35,
	 * w 320/640 .5, h 240/480 .5 */
	FILE *f = open_memstream(&buf, &len);
	CHECK_INT(ao_ds_yolo_label(s, im, r, AO_DS_YOLO_MIXED, f, &rep), 0);
	fclose(f);
	CHECK_STR(buf, "0 0.350000 0.350000 0.500000 0.500000\n");
	free(buf);
	ao_ds_index_free(x);
	json_decref(r);
}

static void test_metadata(struct ao_ds_schema *s)
{
	/* sizes as strings, zero or one missing: unknown */
	const char *metas[] = {"{\"width\":\"640\",\"height\":480}", "{\"width\":0,\"height\":480}",
			       "{\"height\":480}", "7"};
	struct ao_ds_index *x = ao_ds_index_new(s);
	struct ao_err err = {0};

	for (size_t i = 0; i < 4; i++) {
		json_t *r = rec("m.jpg", NULL, NULL);
		json_object_set_new(r, "metadata", json_loads(metas[i], JSON_DECODE_ANY, NULL));
		CHECK_INT(ao_ds_index_add(x, i, 0, r), 1);
		json_decref(r);
	}
	CHECK_INT(ao_ds_index_finish(x, NULL, NULL, &err), 0);
	CHECK_INT(ao_ds_index_report(x)->skipped[AO_DS_SKIP_NO_SIZE], 4);
	/* no task id: "record-<n>" tells them apart, record 0 keeping the name */
	CHECK_STR(ao_ds_index_get(x, 0)->name, "m.jpg");
	CHECK_STR(ao_ds_index_get(x, 3)->name, "m~record-3.jpg");
	CHECK_INT(ao_ds_index_finish(x, NULL, NULL, &err), -EINVAL);
	ao_ds_index_free(x);
}

int main(void)
{
	struct ao_ds_schema *s = schema();

	test_names(s);
	test_marks(s);
	test_yolo_modes(s);
	test_coco_area_and_errors(s);
	test_self_intersecting(s);
	test_subpixel(s);
	test_naming(s);
	test_ndjson();
	test_metadata(s);
	test_jpeg_hook(s);
	test_exif_hook(s);
	ao_ds_schema_free(s);
	return t_done("ds_edge");
}
