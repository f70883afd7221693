/*
 * snapdesc.c - snapshot.json: what a pinned snapshot is (src/core/snap.c;
 * docs/DATASETS.md "Snapshots"), written once into the pin before it is
 * renamed into place.
 *
 * Design: the description is enough to tell later, without the hub,
 * whether a copy of the data a model was trained on is the pinned one:
 * when, which generation (the export's "<hash>.<gen>" and the schema's
 * hash), the hub's counts then (taskCount, assetCount of GET /project) and
 * the view's, and a fingerprint of each file whose bytes the snapshot
 * holds: SHA-256 and size of each export file and of annotations.json;
 * for a directory of many small files (labels/) one SHA-256 over its
 * "<name>\t<SHA-256 of the file>\n" lines in byte order of the names, which
 * `sha256sum` and `sort` reproduce; for image directories, whose bytes are
 * the hub's assets (fetched through the media cache, not copied into the
 * pin), the SHA-256 of their sorted names, one per line. data.yaml is not
 * fingerprinted: its `path` is the mount's (docs/DATASETS.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core_int.h"
#include "dsview_int.h"

#define HEX_LEN 64

static void hex(const unsigned char *md, char out[HEX_LEN + 1])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int sha_buf(const void *buf, size_t len, char out[HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	hex(md, out);
	return 0;
}

/* {"size", "sha256"} of a file. */
static json_t *file_print(const char *path)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE], buf[1 << 16];
	unsigned int mdlen = 0;
	long long size = 0;
	char h[HEX_LEN + 1];
	ssize_t r = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (ctx && fd >= 0 && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		while ((r = read(fd, buf, sizeof(buf))) > 0 &&
		       EVP_DigestUpdate(ctx, buf, (size_t)r))
			size += r;
	int ok = r == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return NULL;
	hex(md, h);
	return json_pack("{s:I,s:s}", "size", (json_int_t)size, "sha256", h);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SHA-256 of lines (sorted here, in byte order), each ending in '\n'. */
static json_t *lines_print(char **v, size_t n, const char *key)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char h[HEX_LEN + 1];
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, v[i], strlen(v[i])) && EVP_DigestUpdate(ctx, "\n", 1);
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return NULL;
	hex(md, h);
	return json_pack("{s:I,s:s}", "files", (json_int_t)n, key, h);
}

static void free_lines(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* labels/ of YOLO mode k: "<label>\t<sha256>" per labelled image. */
static json_t *labels_print(struct dsv_gen *g, int k)
{
	size_t n = ao_ds_index_count(g->idx), m = 0;
	char **v = calloc(n ? n : 1, sizeof(*v));
	json_t *j = NULL;

	for (size_t i = 0; v && i < n; i++) {
		const struct ao_ds_image *im = ao_ds_index_get(g->idx, i);
		struct ao_err e = {0};
		char *buf = NULL, h[HEX_LEN + 1];
		size_t len = 0;
		if (im->width <= 0)
			continue;
		if (dsv_label_text(g, k, im, &buf, &len, &e) < 0 || sha_buf(buf, len, h) < 0 ||
		    asprintf(&v[m], "%s\t%s", im->label, h) < 0) {
			free(buf);
			free_lines(v, m);
			return NULL;
		}
		m++;
		free(buf);
	}
	if (v)
		j = lines_print(v, m, "sha256");
	free_lines(v, m);
	return j;
}

/* The names of a view's images (imf: "<class>/<name>" of imagefolder/). */
static json_t *names_print(struct dsv_gen *g, int imf)
{
	size_t n = ao_ds_index_count(g->idx), m = 0;
	char **v = calloc(n ? n : 1, sizeof(*v));
	json_t *j = NULL;

	for (size_t i = 0; v && i < n; i++) {
		const struct ao_ds_image *im = ao_ds_index_get(g->idx, i);
		const char *cls = ao_ds_imagefolder_dir(g->schema, im);
		if (imf ? !cls : im->width <= 0)
			continue;
		if (asprintf(&v[m], "%s%s%s", imf ? cls : "", imf ? "/" : "", im->name) < 0) {
			free_lines(v, m);
			return NULL;
		}
		m++;
	}
	if (v)
		j = lines_print(v, m, "names_sha256");
	free_lines(v, m);
	return j;
}

static json_t *fingerprints(struct dsv_gen *g, const char *tmp)
{
	static const char *const xfiles[] = {"tasks.ndjson", "tasks.json", "issues.json"};
	static const char *const ymodes[] = {"yolo", "yolo-detect", "yolo-seg"};
	json_t *f = json_object();
	char p[4096], key[128];

	for (size_t i = 0; f && i < 3; i++) {
		snprintf(p, sizeof(p), "%s/export/%s", tmp, xfiles[i]);
		snprintf(key, sizeof(key), "export/%s", xfiles[i]);
		json_object_set_new(f, key, file_print(p));
	}
	snprintf(p, sizeof(p), "%s/derived/snapshot.%s", tmp, dsv_out_name(DSV_OUT_COCO));
	json_object_set_new(f, "datasets/coco/annotations.json", file_print(p));
	for (int k = 0; f && k < 3; k++) {
		snprintf(key, sizeof(key), "datasets/%s/labels", ymodes[k]);
		json_object_set_new(f, key, labels_print(g, k));
		snprintf(key, sizeof(key), "datasets/%s/images", ymodes[k]);
		json_object_set_new(f, key, names_print(g, 0));
	}
	json_object_set_new(f, "datasets/coco/images", names_print(g, 0));
	json_object_set_new(f, "datasets/imagefolder", names_print(g, 1));
	return f;
}

/* "annotations N" of a pass-2 report. */
static long long report_count(const char *report, const char *what)
{
	size_t wl = strlen(what);

	for (const char *p = report; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, what, wl) && p[wl] == ' ')
			return atoll(p + wl + 1);
	return -1;
}

static json_t *view_counts(struct dsv_gen *g)
{
	size_t n = ao_ds_index_count(g->idx), sized = 0, classed = 0;

	for (size_t i = 0; i < n; i++) {
		const struct ao_ds_image *im = ao_ds_index_get(g->idx, i);
		sized += im->width > 0;
		classed += ao_ds_imagefolder_dir(g->schema, im) != NULL;
	}
	return json_pack("{s:I,s:I,s:I,s:I,s:I}", "records",
			 (json_int_t)ao_ds_index_report(g->idx)->records, "images", (json_int_t)n,
			 "yolo_coco_images", (json_int_t)sized, "imagefolder_images",
			 (json_int_t)classed, "annotations",
			 (json_int_t)report_count(g->out[DSV_OUT_COCO].report, "annotations"));
}

int snap_describe(struct ao_core *c, struct dsv_gen *g, const char *name, const json_t *detail,
		  const char *tmp, json_t **out, struct ao_err *err)
{
	struct timespec ts;
	char when[64], path[4096];
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	const char *dash = strrchr(g->ident, '-');
	json_t *d = json_pack(
	    "{s:s,s:{s:s,s:s?},s:s,s:I,s:{s:s,s:s#,s:s?},s:{s:O?,s:O?},s:o,s:o}", "name", name,
	    "project", "id", g->project_id, "name",
	    json_string_value(json_object_get(detail, "name")), "created", when, "created_ms",
	    (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, "generation", "ident", g->ident,
	    "export", g->ident, dash ? (int)(dash - g->ident) : (int)strlen(g->ident), "schema",
	    dash ? dash + 1 : NULL, "hub", "taskCount", json_object_get(detail, "taskCount"),
	    "assetCount", json_object_get(detail, "assetCount"), "counts", view_counts(g), "files",
	    fingerprints(g, tmp));

	(void)c;
	if (!d)
		return ao_errf(err, ENOMEM, "out of memory describing the snapshot");
	snprintf(path, sizeof(path), "%s/snapshot.json", tmp);
	if (json_dump_file(d, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
		json_decref(d);
		return ao_errf(err, EIO, "%s: write error", path);
	}
	*out = d;
	return 0;
}
