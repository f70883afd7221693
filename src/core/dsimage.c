/*
 * dsimage.c - the image files of the dataset views (src/core/dsview_int.h):
 * their bytes are the asset's, from the media cache by the record's
 * `asset` URL (read back at the record's byte offset), so an image is the
 * same bytes in every view and a download serves every path of it. Sizes
 * are known once the media cache has the object (or its Content-Length);
 * until then stat shows 1 byte and no blocks, as for an export never
 * fetched. Split from dsview.c, which keeps the tree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "dsview_int.h"
#include "angofs/media.h"

/* ---- image bytes (the media cache) ------------------------------------------- */

/* An image's position in the index (the sizes array). */
size_t dsv_image_pos(const struct dsv_gen *g, const struct ao_ds_image *im)
{
	return (size_t)(im - ao_ds_index_get(g->idx, 0));
}

void dsv_image_note(const struct dsv_gen *g, const struct ao_ds_image *im, struct ao_media_fh *mfh)
{
	long long size;

	if (mfh && ao_media_fh_size(mfh, &size) == 1 && size > 0)
		__atomic_store_n(&g->isize[dsv_image_pos(g, im)], size, __ATOMIC_RELAXED);
}

/* Known once an image was opened (or, for one file's stat, once the media
 * cache has it: that costs reading its record back, not a request); else 1. */
long long dsv_image_size(struct ao_core *c, const struct dsv_gen *g, const struct ao_ds_image *im,
			 int precise)
{
	long long size = __atomic_load_n(&g->isize[dsv_image_pos(g, im)], __ATOMIC_RELAXED);
	struct ao_err e = {0};
	json_t *rec;
	time_t mt;

	if (size > 0 || !precise || !c->cfg.media || dsv_record(g, im, &rec, &e) < 0)
		return size > 0 ? size : 1;
	struct ao_media_ref r = {g->project_id, json_string_value(json_object_get(rec, "asset")),
				 AO_MEDIA_ASSET, NULL};
	if (r.url && ao_media_stat(c->cfg.media, &r, &size, &mt) == 1 && size > 0)
		__atomic_store_n(&g->isize[dsv_image_pos(g, im)], size, __ATOMIC_RELAXED);
	else
		size = 1;
	json_decref(rec);
	return size;
}

int dsv_image_open(struct ao_core *c, struct ao_core_fh *fh, const struct ao_ds_image *im,
		   struct ao_err *err)
{
	struct dsv_fh *d = fh->ds;
	json_t *rec;
	int rc;

	if (!c->cfg.media)
		return ao_errf(err, ENOTSUP, "%s: image files need the media cache", im->name);
	rc = dsv_record(d->g, im, &rec, err);
	if (rc < 0)
		return rc;
	struct ao_media_ref r = {d->g->project_id, json_string_value(json_object_get(rec, "asset")),
				 AO_MEDIA_ASSET, NULL};
	rc = r.url ? ao_media_open(c->cfg.media, &r, &d->mfh, err)
		   : ao_errf(err, ENOENT, "%s: the record has no asset URL", im->name);
	json_decref(rec);
	if (rc < 0)
		return rc;
	d->im = im;
	long long size;
	char b;
	if (ao_media_fh_size(d->mfh, &size) != 1) /* wait for the first byte: the size comes
						     with it when the server sends one */
		rc = (int)ao_media_read(c->cfg.media, d->mfh, &b, 1, 0, err);
	if (rc < 0)
		return rc;
	dsv_image_note(d->g, im, d->mfh);
	fh->fd = ao_media_fh_fd(d->mfh); /* complete: served by pread/splice (borrowed) */
	return 0;
}

ssize_t dsv_read(struct ao_core *c, struct ao_core_fh *fh, char *buf, size_t size, off_t off,
		 struct ao_err *err)
{
	if (!fh->ds || !fh->ds->mfh)
		return ao_errf(err, EIO, "not an image handle");
	return ao_media_read(c->cfg.media, fh->ds->mfh, buf, size, off, err);
}
