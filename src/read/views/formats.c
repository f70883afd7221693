/*
 * formats.c - the parts of the views voc/, masks/ and webdataset/ below
 * their fixed entries (read/views/tree.c keeps the tree; docs/DATASETS.md "Pascal
 * VOC", "Semantic masks", "WebDataset").
 *
 * Design: each format reuses what the generation already has. VOC's
 * Annotations/<stem>.xml are a pass-2 pack like YOLO's labels (one file,
 * a table of offsets; src/read/views/derived.c), so stat and listing cost no
 * conversion; ImageSets/Main/<set>.txt are the ids (stems) of the view's
 * images in each split (read/views/splits.c), made at open. A mask PNG is made per
 * file when it is first looked at (its record read back, rasterized,
 * encoded: a few milliseconds), its size then remembered, as an image's
 * is: listing masks/annotations/ costs nothing and shows 1 byte for a mask
 * not made yet, as for an image not fetched yet; the open that makes it
 * tells the kernel its true size. The WebDataset shards are files of the
 * cache directory (read/views/shards.c), opened per handle.
 *
 * Names: an image's stem is its label's ("<stem>.txt", unique in a view),
 * so "<stem>.xml" and "<stem>.png" find it by the same binary search.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../read_int.h"
#include "views_int.h"

static const char *const sets[4] = {"train", "val", "test", "trainval"};

/* The image whose stem + ext is name. */
static const struct ao_ds_image *by_stem(const struct dsv_gen *g, const char *name, const char *ext)
{
	size_t l = strlen(name), el = strlen(ext);
	char label[300];

	if (l <= el || strcmp(name + l - el, ext) || l - el + 5 > sizeof(label))
		return NULL;
	memcpy(label, name, l - el);
	memcpy(label + l - el, ".txt", 5);
	return ao_ds_index_find_label(g->idx, label);
}

/* "<stem><ext>" of im into buf. */
static const char *stem_name(const struct ao_ds_image *im, const char *ext, char *buf, size_t n)
{
	size_t l = strlen(im->label) - 4; /* without ".txt" */

	snprintf(buf, n, "%.*s%s", (int)l, im->label, ext);
	return buf;
}

int dsv_fmt_part_in(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n, const char *name)
{
	const struct ao_ds_image *im;

	if (n->ds_part == DSV_VOC_ANN)
		return (im = by_stem(g, name, ".xml")) && dsv_in_view(c, g, n, NULL, im)
			   ? DSV_VOC_XML
			   : -1;
	if (n->ds_part == DSV_MASK_DIR)
		return (im = by_stem(g, name, ".png")) && dsv_in_view(c, g, n, NULL, im) ? DSV_MASK
											 : -1;
	return -1;
}

/* Is set s (0..3) of ImageSets/Main/ listed in n's view? */
static int set_on(const struct ao_core *c, const struct ao_node *n, int s)
{
	if (s == 3) /* trainval: in the whole view, when both are */
		return !n->ds_split && dsv_split_on(c, 1) && dsv_split_on(c, 2);
	return dsv_split_on(c, s + 1) && (!n->ds_split || n->ds_split == s + 1);
}

/* The WebDataset shard `name` of the built index, or NULL. */
static json_t *shard_of(const struct dsv_gen *g, int k, const char *name)
{
	json_t *sh;
	size_t i;

	json_array_foreach(json_object_get(g->out[k].index, "shards"), i, sh)
	{
		if (!strcmp(json_string_value(json_object_get(sh, "name")) ?: "", name))
			return sh;
	}
	return NULL;
}

int dsv_fmt_lookup(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
		   struct ao_err *err)
{
	if (n->ds_part == DSV_VOC_SETS) {
		if (strcmp(name, "Main"))
			return ao_errf(err, ENOENT, "%s: no such file", path);
		n->ds_part = DSV_VOC_MAIN;
		return 0;
	}
	if (n->ds_part == DSV_VOC_MAIN) {
		for (int s = 0; s < 4; s++) {
			char fn[32];
			snprintf(fn, sizeof(fn), "%s.txt", sets[s]);
			if (set_on(c, n, s) && !strcmp(name, fn)) {
				n->ds_part = DSV_VOC_SET;
				snprintf(n->ds_name, sizeof(n->ds_name), "%s", fn);
				n->kind = AO_N_DS_FILE;
				return 0;
			}
		}
		return ao_errf(err, ENOENT, "%s: no such set", path);
	}
	/* webdataset/shard-NNNNNN.tar: from the built index */
	int k = DSV_OUT_WDS + n->ds_split;
	struct dsv_gen *g = dsv_acquire(c, n, err);
	if (!g)
		return err->code ? -err->code : -EIO;
	int rc = dsv_ensure(c, g, k, err);
	int there = rc == 0 && shard_of(g, k, name);
	dsv_put(c, g);
	if (rc < 0)
		return rc;
	if (!there)
		return ao_errf(err, ENOENT, "%s: no such shard", path);
	n->ds_part = DSV_WDS_SHARD;
	snprintf(n->ds_name, sizeof(n->ds_name), "%s", name);
	n->kind = AO_N_DS_FILE;
	return 0;
}

/* ---- contents ------------------------------------------------------------------ */

/* masks/annotations/<stem>.png of im (malloc'd). */
static int mask_png(struct ao_core *c, struct dsv_gen *g, const struct ao_ds_image *im, char **buf,
		    size_t *len, struct ao_err *err)
{
	struct ao_ds_report rep = {0};
	unsigned short *px = NULL;
	json_t *rec;
	int rc = dsv_record(g, im, &rec, err);

	*buf = NULL;
	if (rc < 0)
		return rc;
	rc = ao_ds_mask_render(g->schema, im, rec, &px, &rep);
	json_decref(rec);
	FILE *f = rc == 0 ? open_memstream(buf, len) : NULL;
	if (f) {
		rc = ao_ds_mask_png(px, im->width, im->height, g->schema->ncls, f);
		if (fclose(f) != 0 && rc == 0)
			rc = -ENOMEM;
	} else if (rc == 0)
		rc = -ENOMEM;
	free(px);
	if (rc < 0) {
		free(*buf);
		*buf = NULL;
		return ao_errf(err, -rc, "%s: making its mask: %s", im->name, strerror(-rc));
	}
	__atomic_store_n(&g->msize[dsv_image_pos(g, im)], (long long)*len, __ATOMIC_RELAXED);
	return 0;
}

/* ImageSets/Main/<set>.txt: the ids of the view's images in the set. */
static char *set_text(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n, size_t *len)
{
	char *t = NULL, id[300];
	FILE *f = open_memstream(&t, len);
	int s;

	for (s = 0; s < 4; s++)
		if (!strncmp(n->ds_name, sets[s], strlen(sets[s])) &&
		    n->ds_name[strlen(sets[s])] == '.')
			break;
	for (size_t i = 0; f && s < 4 && i < ao_ds_index_count(g->idx); i++) {
		const struct ao_ds_image *im = ao_ds_index_get(g->idx, i);
		int k = dsv_in_view(c, g, n, NULL, im) ? dsv_split_of(c, g, DSV_VOC, im) : 0;
		if (k && (k == s + 1 || (s == 3 && k <= 2)))
			fprintf(f, "%s\n", stem_name(im, "", id, sizeof(id)));
	}
	if (!f || fclose(f) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

static char *classes_text(struct dsv_gen *g, size_t *len)
{
	char *t = NULL;
	FILE *f = open_memstream(&t, len);

	if (!f || ao_ds_mask_classes(g->schema, f) < 0 || fclose(f) != 0) {
		if (f)
			fclose(f);
		free(t);
		return NULL;
	}
	return t;
}

int dsv_fmt_size(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n, long long *size,
		 struct ao_err *err)
{
	const struct ao_ds_image *im;
	char *t = NULL;
	size_t len = 0;
	int k = DSV_OUT_WDS + n->ds_split;

	switch (n->ds_part) {
	case DSV_VOC_XML:
		if (dsv_ensure(c, g, DSV_OUT_VOC, err) < 0)
			return -err->code;
		if (!(im = by_stem(g, n->ds_name, ".xml")))
			return ao_errf(err, ENOENT, "%s: gone", n->ds_name);
		*size = (long long)g->out[DSV_OUT_VOC].tab[dsv_image_pos(g, im)].len;
		return 0;
	case DSV_MASK:
		if (!(im = by_stem(g, n->ds_name, ".png")))
			return ao_errf(err, ENOENT, "%s: gone", n->ds_name);
		*size = __atomic_load_n(&g->msize[dsv_image_pos(g, im)], __ATOMIC_RELAXED);
		if (*size > 0)
			return 0;
		if (mask_png(c, g, im, &t, &len, err) < 0)
			return -err->code;
		break;
	case DSV_VOC_SET:
		t = set_text(c, g, n, &len);
		break;
	case DSV_CLASSES:
		t = classes_text(g, &len);
		break;
	case DSV_WDS_INDEX:
	case DSV_WDS_SHARD:
		if (dsv_ensure(c, g, k, err) < 0)
			return -err->code;
		if (n->ds_part == DSV_WDS_INDEX) {
			*size = g->out[k].size;
			return 0;
		}
		json_t *sh = shard_of(g, k, n->ds_name);
		if (!sh)
			return ao_errf(err, ENOENT, "%s: gone", n->ds_name);
		*size = json_integer_value(json_object_get(sh, "size"));
		return 0;
	default:
		return ao_errf(err, EIO, "unexpected dataset node");
	}
	free(t);
	if (!t)
		return ao_errf(err, ENOMEM, "out of memory");
	*size = (long long)len;
	return 0;
}

int dsv_fmt_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
		 struct ao_err *err)
{
	struct dsv_gen *g = fh->ds->g;
	const struct ao_ds_image *im;
	int k = DSV_OUT_WDS + n->ds_split, rc;

	switch (n->ds_part) {
	case DSV_VOC_XML:
		if ((rc = dsv_ensure(c, g, DSV_OUT_VOC, err)) < 0)
			return rc;
		if (!(im = by_stem(g, n->ds_name, ".xml")))
			return ao_errf(err, ENOENT, "%s: gone", n->ds_name);
		return dsv_label_text(g, DSV_OUT_VOC, im, &fh->buf, &fh->len, err);
	case DSV_MASK:
		if (!(im = by_stem(g, n->ds_name, ".png")))
			return ao_errf(err, ENOENT, "%s: gone", n->ds_name);
		return mask_png(c, g, im, &fh->buf, &fh->len, err);
	case DSV_VOC_SET:
		fh->buf = set_text(c, g, n, &fh->len);
		break;
	case DSV_CLASSES:
		fh->buf = classes_text(g, &fh->len);
		break;
	case DSV_WDS_INDEX:
		if ((rc = dsv_ensure(c, g, k, err)) < 0)
			return rc;
		fh->fd = g->out[k].fd; /* borrowed: g keeps it open */
		return 0;
	case DSV_WDS_SHARD: {
		char p[4400];
		if ((rc = dsv_ensure(c, g, k, err)) < 0)
			return rc;
		long no = strtol(n->ds_name + 6, NULL, 10);
		snprintf(p, sizeof(p), "%s/%s.%.*s.%06ld.tar", g->out_dir, g->ident,
			 (int)strlen(dsv_out_name(k)) - 5, dsv_out_name(k), no);
		fh->ds->own_fd = fh->fd = open(p, O_RDONLY | O_CLOEXEC);
		return fh->fd < 0 ? ao_errf(err, errno, "%s: %s", p, strerror(errno)) : 0;
	}
	default:
		return ao_errf(err, EIO, "unexpected dataset node");
	}
	return fh->buf ? 0 : ao_errf(err, ENOMEM, "out of memory");
}

/* ---- listings ------------------------------------------------------------------- */

int dsv_fmt_list(struct ao_core *c, struct dsv_gen *g, const struct ao_node *n,
		 ao_core_fill_fn fill, void *ctx, struct ao_err *err)
{
	struct stat st;
	char name[300];
	int k = DSV_OUT_WDS + n->ds_split;

	if (n->ds_part == DSV_VOC_SETS) {
		dsv_stat(c, DSV_RO_DIR, 0, c->t0, &st);
		fill(ctx, "Main", &st);
		return 0;
	}
	if (n->ds_part == DSV_VOC_MAIN) {
		for (int s = 0; s < 4; s++) {
			struct ao_node m = *n;
			long long size = 1;
			snprintf(m.ds_name, sizeof(m.ds_name), "%s.txt", sets[s]);
			m.ds_part = DSV_VOC_SET;
			if (!set_on(c, n, s))
				continue;
			if (g && dsv_fmt_size(c, g, &m, &size, err) < 0)
				return -err->code;
			dsv_stat(c, DSV_RO_FILE, size, c->t0, &st);
			if (fill(ctx, m.ds_name, &st))
				break;
		}
		return 0;
	}
	if (n->ds_part == DSV_ROOT) { /* webdataset/: the shards */
		json_t *sh;
		size_t i;
		if (dsv_ensure(c, g, k, err) < 0)
			return -err->code;
		json_array_foreach(json_object_get(g->out[k].index, "shards"), i, sh)
		{
			dsv_stat(c, DSV_RO_FILE, json_integer_value(json_object_get(sh, "size")),
				 c->t0, &st);
			if (fill(ctx, json_string_value(json_object_get(sh, "name")), &st))
				break;
		}
		return 0;
	}
	int voc = n->ds_part == DSV_VOC_ANN;
	if (voc && dsv_ensure(c, g, DSV_OUT_VOC, err) < 0)
		return -err->code;
	for (size_t i = 0; i < ao_ds_index_count(g->idx); i++) {
		const struct ao_ds_image *im = ao_ds_index_get(g->idx, i);
		if (!dsv_in_view(c, g, n, NULL, im))
			continue;
		long long size = voc ? (long long)g->out[DSV_OUT_VOC].tab[i].len
				     : __atomic_load_n(&g->msize[i], __ATOMIC_RELAXED);
		dsv_stat(c, DSV_RO_FILE, size > 0 ? size : 1, c->t0, &st);
		if (fill(ctx, stem_name(im, voc ? ".xml" : ".png", name, sizeof(name)), &st))
			break;
	}
	return 0;
}
