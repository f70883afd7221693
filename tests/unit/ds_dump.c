/*
 * ds_dump - test driver of the dataset conversions: runs the two streaming
 * passes over an NDJSON export exactly as the mount will, and writes the
 * views to a directory so Python can check them with ordinary readers
 * (tests/unit/check_ds.py):
 *
 *   OUT/yolo/data.yaml, OUT/yolo/labels/<stem>.txt, OUT/yolo/images.txt
 *   (the image names, one a line: the media themselves are not fetched),
 *   OUT/coco/annotations.json, OUT/imagefolder.txt ("<class>/<name>" lines),
 *   OUT/report.txt (index, yolo and coco counters).
 *
 * usage: ds_dump SCHEMA.json EXPORT.ndjson OUTDIR [CLASS_SCHEMA_ID|- [MEDIA]]
 * CLASS_SCHEMA_ID picks the ImageFolder classification ("-": the rule);
 * MEDIA/<image name> are read for sizes missing from the metadata.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "angofs/datasets.h"

static int die(const char *what, const char *msg)
{
	fprintf(stderr, "ds_dump: %s: %s\n", what, msg);
	return 1;
}

static FILE *open_out(const char *dir, const char *name)
{
	char *p;
	FILE *f;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	f = fopen(p, "w");
	free(p);
	return f;
}

/* The header hook: MEDIA/<image name> plays the role of images/<name>. */
static ssize_t read_head(void *ud, const struct ao_ds_image *img, void *buf, size_t cap)
{
	char *p;
	FILE *f;
	size_t n;

	if (asprintf(&p, "%s/%s", (const char *)ud, img->name) < 0)
		return -ENOMEM;
	f = fopen(p, "rb");
	free(p);
	if (!f)
		return -errno;
	n = fread(buf, 1, cap, f);
	fclose(f);
	return (ssize_t)n;
}

static int pass1(FILE *ex, struct ao_ds_index *x, const char *media, struct ao_err *err)
{
	unsigned long long n = 0;
	long long off;
	json_t *r;
	int rc;

	while ((rc = ao_ds_ndjson_next(ex, &r, &off, err)) == 1) {
		rc = ao_ds_index_add(x, n++, (unsigned long long)off, r);
		json_decref(r);
		if (rc < 0)
			return rc;
	}
	return rc < 0 ? rc : ao_ds_index_finish(x, media ? read_head : NULL, (void *)media, err);
}

static int pass2(FILE *ex, const struct ao_ds_schema *s, const struct ao_ds_index *x,
		 const char *out, struct ao_ds_coco *coco, struct ao_ds_report *yr,
		 struct ao_err *err)
{
	unsigned long long n = 0;
	char dir[4096];
	json_t *r;
	int rc;

	snprintf(dir, sizeof(dir), "%s/yolo/labels", out);
	while ((rc = ao_ds_ndjson_next(ex, &r, NULL, err)) == 1) {
		const struct ao_ds_image *im = ao_ds_index_by_record(x, n);
		rc = 0;
		if (im && im->width > 0) {
			FILE *f = open_out(dir, im->label);
			if (!f)
				return -errno;
			rc = ao_ds_yolo_label(s, im, r, AO_DS_YOLO_MIXED, f, yr);
			if (fclose(f) != 0 && rc == 0)
				rc = -EIO;
		}
		if (rc == 0)
			rc = ao_ds_coco_add(coco, n, r);
		json_decref(r);
		n++;
		if (rc < 0)
			return rc;
	}
	return rc;
}

static void lists(const struct ao_ds_schema *s, const struct ao_ds_index *x, const char *out)
{
	FILE *img = open_out(out, "yolo/images.txt"), *fold = open_out(out, "imagefolder.txt");

	for (size_t i = 0; img && fold && i < ao_ds_index_count(x); i++) {
		const struct ao_ds_image *im = ao_ds_index_get(x, i);
		const char *d = ao_ds_imagefolder_dir(s, im);
		if (im->width > 0)
			fprintf(img, "%s\n", im->name);
		if (d)
			fprintf(fold, "%s/%s\n", d, im->name);
	}
	if (img)
		fclose(img);
	if (fold)
		fclose(fold);
}

static void report(FILE *f, const char *title, const struct ao_ds_report *r)
{
	char *t = ao_ds_report_text(r);

	fprintf(f, "[%s]\n%s", title, t ? t : "(out of memory)\n");
	free(t);
}

int main(int argc, char **argv)
{
	struct ao_err err = {0};
	struct ao_ds_schema *s;
	struct ao_ds_report yr = {0}, cr;
	struct ao_ds_coco *coco;
	char p[4096];
	json_error_t je;

	if (argc < 4)
		return die("usage",
			   "ds_dump SCHEMA.json EXPORT.ndjson OUTDIR [CLASS_SCHEMA_ID|- [MEDIA]]");
	json_t *cs = json_load_file(argv[1], 0, &je);
	if (!cs)
		return die(argv[1], je.text);
	if (ao_ds_schema_load(cs, argc > 4 && strcmp(argv[4], "-") ? argv[4] : NULL, &s, &err))
		return die(argv[1], err.msg);
	json_decref(cs);
	const char *sub[] = {"", "/yolo", "/yolo/labels", "/coco"};
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", argv[3], sub[i]);
		mkdir(p, 0755);
	}
	FILE *ex = fopen(argv[2], "r");
	if (!ex)
		return die(argv[2], strerror(errno));
	struct ao_ds_index *x = ao_ds_index_new(s);
	if (pass1(ex, x, argc > 5 ? argv[5] : NULL, &err))
		return die("pass 1", err.msg);
	FILE *yaml = open_out(argv[3], "yolo/data.yaml");
	FILE *json = open_out(argv[3], "coco/annotations.json");
	if (!yaml || !json || ao_ds_yolo_data_yaml(s, NULL, yaml) || fclose(yaml))
		return die(argv[3], "cannot write the views");
	if (ao_ds_coco_begin(s, x, json, &coco, &err))
		return die("coco", err.msg);
	rewind(ex);
	int rc = pass2(ex, s, x, argv[3], coco, &yr, &err);
	if (ao_ds_coco_end(coco, &cr) || fclose(json) || rc)
		return die("pass 2", rc ? (err.msg[0] ? err.msg : strerror(-rc)) : "write error");
	fclose(ex);
	lists(s, x, argv[3]);
	FILE *rf = open_out(argv[3], "report.txt");
	if (rf) {
		report(rf, "index", ao_ds_index_report(x));
		report(rf, "yolo", &yr);
		report(rf, "coco", &cr);
		fclose(rf);
	}
	ao_ds_index_free(x);
	ao_ds_schema_free(s);
	return 0;
}
