/*
 * ds_wds.c - WebDataset samples: POSIX tar members and each sample's JSON
 * (docs/DATASETS.md "WebDataset").
 *
 * Design: a WebDataset shard is a plain tar whose consecutive members
 * sharing a key (the name up to its first dot) form one sample: here
 * "<key>.<image extension>" (the asset's bytes) then "<key>.json" (its
 * annotations). The key is the task id (dot-free, unique, stable across
 * generations); images without one use "record-<n>". Members are ustar
 * headers (name, mode 0444, size, mtime 0, uid/gid 0, checksum) padded to
 * 512 bytes, the archive ends with two zero blocks: byte-for-byte the same
 * for the same samples, whoever builds it. The JSON holds what the other
 * views hold, in pixels: the image's name, externalId, task id, size, its
 * ImageFolder class, and each kept mark (ds_geom.c's walker, the same
 * marks as YOLO and COCO) as {class, name, bbox [x, y, w, h], segmentation
 * [[x, y, ...], ...]}.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ds_int.h"

#define BLOCK 512

static void octal(char *dst, size_t n, unsigned long long v)
{
	snprintf(dst, n, "%0*llo", (int)n - 1, v);
}

int ao_ds_tar_member(FILE *out, const char *name, const void *data, size_t len)
{
	unsigned char h[BLOCK];
	unsigned sum = 0;
	static const unsigned char zero[BLOCK];

	if (strlen(name) >= 100)
		return -ENAMETOOLONG;
	memset(h, 0, sizeof(h));
	memcpy(h, name, strlen(name));
	octal((char *)h + 100, 8, 0444);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	octal((char *)h + 124, 12, len);
	octal((char *)h + 136, 12, 0);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	if (fwrite(h, 1, BLOCK, out) != BLOCK || (len && fwrite(data, 1, len, out) != len) ||
	    (len % BLOCK && fwrite(zero, 1, BLOCK - len % BLOCK, out) != BLOCK - len % BLOCK))
		return -EIO;
	return 0;
}

size_t ao_ds_tar_size(size_t len)
{
	return BLOCK + (len + BLOCK - 1) / BLOCK * BLOCK;
}

int ao_ds_tar_end(FILE *out)
{
	static const unsigned char zero[2 * BLOCK];

	return fwrite(zero, 1, sizeof(zero), out) == sizeof(zero) ? 0 : -EIO;
}

static json_t *xy_list(const double *xy, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < 2 * n; i++)
		json_array_append_new(a, json_real(xy[i]));
	return a;
}

struct sample_ctx {
	json_t *objs;
	const struct ao_ds_schema *s;
};

static int sample_obj(void *ud, const struct ds_shape *sh)
{
	struct sample_ctx *ctx = ud;
	const struct ao_ds_schema *s = ctx->s;
	json_t *seg = json_array();

	if (sh->is_box) {
		const double r[8] = {sh->x0, sh->y0, sh->x1, sh->y0,
				     sh->x1, sh->y1, sh->x0, sh->y1};
		json_array_append_new(seg, xy_list(r, 4));
	}
	for (size_t k = 0; k < sh->npoly; k++)
		json_array_append_new(seg, xy_list(sh->poly[k].xy, sh->poly[k].n));
	json_t *o = json_pack("{s:i,s:s,s:[f,f,f,f],s:o}", "class", sh->cls, "name",
			      s->cls[sh->cls].title, "bbox", sh->x0, sh->y0, sh->x1 - sh->x0,
			      sh->y1 - sh->y0, "segmentation", seg);
	if (o && sh->object_id)
		json_object_set_new(o, "ango_object_id", json_string(sh->object_id));
	return o && json_array_append_new(ctx->objs, o) == 0 ? 0 : -ENOMEM;
}

json_t *ao_ds_sample_json(const struct ao_ds_schema *s, const struct ao_ds_image *img,
			  const json_t *record, struct ao_ds_report *r)
{
	const char *cls = ao_ds_imagefolder_dir(s, img);
	const char *xid = json_string_value(json_object_get(record, "externalId"));
	json_t *objs = json_array();
	struct sample_ctx ctx = {objs, s};
	json_t *j = json_pack("{s:s,s:s?,s:s?,s:i,s:i,s:s?}", "name", img->name, "externalId", xid,
			      "taskId", img->task_id, "width", img->width, "height", img->height,
			      "class", cls);

	if (!j || !objs ||
	    ao_ds_each_shape(s, record, img->width, img->height, sample_obj, &ctx, r)) {
		json_decref(j);
		json_decref(objs);
		return NULL;
	}
	r->images++;
	r->annotations += json_array_size(objs);
	json_object_set_new(j, "objects", objs);
	return j;
}
