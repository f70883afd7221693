/*
 * dswds.c - the WebDataset view's shards (webdataset/shard-NNNNNN.tar and
 * shards.json; docs/DATASETS.md "WebDataset"), pass 2 of its generation.
 *
 * Design: a shard holds the images' bytes, so unlike the other views it
 * cannot be served from the records alone: its build reads every image of
 * the view through the media cache (a download for each one not cached),
 * in record order, and writes tar members (src/datasets/ds_wds.c) into
 * shard files in the cache directory beside the other derived files,
 * "<ident>.wds[-<split>].NNNNNN.tar", each a temp file renamed into place,
 * a new shard begun before a sample that would take the current one past
 * -o shard_size (a shard holds at least one sample). The index,
 * "<ident>.wds[-<split>].json" (shards.json: every shard's name, size,
 * sample count, first and last key, and the pass's report), is published
 * last: its presence means every shard is there, in every daemon sharing
 * the directory. The same records and image bytes give the same shards,
 * byte for byte (ustar headers with mtime 0), so a snapshot's are what a
 * later build would make. An image that cannot be read fails the build
 * with its error: a shard never lacks a sample silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_int.h"
#include "dsview_int.h"
#include "angofs/log.h"
#include "angofs/media.h"

struct wds {
	struct ao_core *c;
	struct dsv_gen *g;
	const char *path; /* the index's; shards are "<path without .json>.NNNNNN.tar" */
	FILE *f;	  /* the shard being written */
	char tmp[4500];
	long long size, samples;
	json_t *shards, *cur;
	struct ao_ds_report rep;
};

/* "<index path without .json>.NNNNNN.tar" */
static void shard_path(const char *index, size_t no, char *buf, size_t n)
{
	size_t l = strlen(index) - 5;

	snprintf(buf, n, "%.*s.%06zu.tar", (int)l, index, no);
}

static int shard_close(struct wds *w, struct ao_err *err)
{
	char p[4400];
	int rc = 0;

	if (!w->f)
		return 0;
	shard_path(w->path, json_array_size(w->shards) - 1, p, sizeof(p));
	if (ao_ds_tar_end(w->f) < 0 || fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
		rc = ao_errf(err, EIO, "%s: write error", w->tmp);
	fclose(w->f);
	w->f = NULL;
	if (rc == 0 && rename(w->tmp, p) != 0)
		rc = ao_errf(err, errno, "%s: %s", p, strerror(errno));
	if (rc < 0)
		unlink(w->tmp);
	json_object_set_new(w->cur, "size", json_integer(w->size + 1024));
	return rc;
}

static int shard_open(struct wds *w, struct ao_err *err)
{
	char p[4400], name[32];
	size_t no = json_array_size(w->shards);

	shard_path(w->path, no, p, sizeof(p));
	snprintf(w->tmp, sizeof(w->tmp), "%s.tmp-XXXXXX", p);
	int fd = mkstemp(w->tmp);
	w->f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!w->f) {
		if (fd >= 0)
			close(fd), unlink(w->tmp);
		return ao_errf(err, errno ? errno : ENOMEM, "%s: %s", p, strerror(errno));
	}
	snprintf(name, sizeof(name), "shard-%06zu.tar", no);
	w->cur = json_pack("{s:s,s:i,s:i}", "name", name, "samples", 0, "size", 0);
	json_array_append_new(w->shards, w->cur);
	w->size = 0;
	return 0;
}

/* The bytes of im's asset (malloc'd). */
static int image_bytes(struct wds *w, const struct ao_ds_image *im, const json_t *rec, char **buf,
		       size_t *len, struct ao_err *err)
{
	struct ao_media_ref r = {w->g->project_id, json_string_value(json_object_get(rec, "asset")),
				 AO_MEDIA_ASSET, NULL};
	struct ao_media_fh *mh;
	size_t cap = 0;
	ssize_t got;

	*buf = NULL;
	*len = 0;
	if (!w->c->cfg.media || !r.url)
		return ao_errf(err, ENOENT, "%s: no asset to read", im->name);
	int rc = ao_media_open(w->c->cfg.media, &r, &mh, err);
	if (rc < 0)
		return rc;
	for (;;) {
		if (*len == cap) {
			char *nb = realloc(*buf, cap = cap ? cap * 2 : 1 << 16);
			if (!nb) {
				got = ao_errf(err, ENOMEM, "out of memory");
				break;
			}
			*buf = nb;
		}
		got = ao_media_read(w->c->cfg.media, mh, *buf + *len, cap - *len, (off_t)*len, err);
		if (got <= 0)
			break;
		*len += (size_t)got;
	}
	ao_media_close(w->c->cfg.media, mh);
	if (got < 0) {
		free(*buf);
		*buf = NULL;
		return (int)got;
	}
	return 0;
}

/* One sample: "<key>.<ext>" and "<key>.json". */
static int add_sample(struct wds *w, const struct ao_ds_image *im, const json_t *rec,
		      unsigned long long rec_no, struct ao_err *err)
{
	char key[80], name[100], *img = NULL, *js = NULL;
	const char *dot = strrchr(im->name, '.');
	size_t ilen = 0;
	int rc;

	if (im->task_id && strlen(im->task_id) < 64 && !strchr(im->task_id, '.') &&
	    !strchr(im->task_id, '/'))
		snprintf(key, sizeof(key), "%s", im->task_id);
	else
		snprintf(key, sizeof(key), "record-%llu", rec_no);
	json_t *j = ao_ds_sample_json(w->g->schema, im, rec, &w->rep);
	js = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!js)
		return ao_errf(err, ENOMEM, "out of memory");
	rc = image_bytes(w, im, rec, &img, &ilen, err);
	long long need = (long long)(ao_ds_tar_size(ilen) + ao_ds_tar_size(strlen(js)));
	if (rc == 0 && w->f && w->size > 0 && w->size + need > w->c->cfg.shard_bytes)
		rc = shard_close(w, err);
	if (rc == 0 && !w->f)
		rc = shard_open(w, err);
	if (rc == 0) {
		snprintf(name, sizeof(name), "%s.%.16s", key, dot && im->has_ext ? dot + 1 : "bin");
		if (ao_ds_tar_member(w->f, name, img, ilen) < 0)
			rc = ao_errf(err, EIO, "writing a shard");
		snprintf(name, sizeof(name), "%s.json", key);
		if (rc == 0 && ao_ds_tar_member(w->f, name, js, strlen(js)) < 0)
			rc = ao_errf(err, EIO, "writing a shard");
	}
	if (rc == 0) {
		w->size += need;
		w->samples++;
		json_object_set_new(
		    w->cur, "samples",
		    json_integer(json_integer_value(json_object_get(w->cur, "samples")) + 1));
		if (!json_object_get(w->cur, "first"))
			json_object_set_new(w->cur, "first", json_string(key));
		json_object_set_new(w->cur, "last", json_string(key));
	}
	free(img);
	free(js);
	return rc;
}

static int publish_index(struct wds *w, int split, struct ao_err *err)
{
	char tmp[4400], *rep = ao_ds_report_text(&w->rep);
	json_t *j = json_pack("{s:s,s:s?,s:I,s:I,s:O,s:s?}", "format", "webdataset", "split",
			      split ? dsv_split_names[split] : NULL, "shard_size",
			      (json_int_t)w->c->cfg.shard_bytes, "samples", (json_int_t)w->samples,
			      "shards", w->shards, "report", rep);
	int rc = 0;

	free(rep);
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", w->path);
	int fd = j ? mkstemp(tmp) : -1;
	if (fd < 0 || json_dumpfd(j, fd, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || fsync(fd) != 0 ||
	    rename(tmp, w->path) != 0)
		rc = ao_errf(err, errno ? errno : EIO, "%s: %s", w->path, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (rc < 0 && fd >= 0)
		unlink(tmp);
	json_decref(j);
	return rc;
}

int dsv_build_wds(struct ao_core *c, struct dsv_gen *g, int split, const char *path,
		  struct ao_err *err)
{
	struct wds w = {.c = c, .g = g, .path = path, .shards = json_array()};
	int fd = dup(g->xfd), rc = 0;
	FILE *ex = fd >= 0 ? fdopen(fd, "r") : NULL;
	unsigned long long n = 0;
	json_t *r;

	if (!ex || !w.shards) {
		if (fd >= 0 && !ex)
			close(fd);
		json_decref(w.shards);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	rewind(ex);
	while (rc == 0 && (rc = ao_ds_ndjson_next(ex, &r, NULL, err)) == 1) {
		const struct ao_ds_image *im = ao_ds_index_by_record(g->idx, n);
		rc = 0;
		w.rep.records++;
		if (im && im->width > 0 && (!split || dsv_split_of(c, g, DSV_WDS, im) == split))
			rc = add_sample(&w, im, r, n, err);
		n++;
		json_decref(r);
	}
	fclose(ex);
	if (rc == 0)
		rc = shard_close(&w, err);
	else if (w.f) {
		fclose(w.f);
		unlink(w.tmp);
	}
	if (rc == 0)
		rc = publish_index(&w, split, err);
	if (rc == 0)
		ao_info("datasets: %lld samples in %zu WebDataset shards", w.samples,
			json_array_size(w.shards));
	json_decref(w.shards);
	return rc;
}
