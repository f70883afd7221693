/*
 * dsimage.c - the image files of the dataset views (src/core/dsview_int.h):
 * their bytes are the asset's, from the media cache by the record's
 * `asset` URL (read back at the record's byte offset), so an image is the
 * same bytes in every view and a download serves every path of it. Sizes
 * are known once the media cache has the object (or its Content-Length);
 * until then stat shows 1 byte and no blocks, as for an export never
 * fetched. Split from dsview.c, which keeps the tree.
 *
 * A snapshot pins its images as they are read: when a handle of a pinned
 * generation's image closes with the object complete in the media cache,
 * that file (never modified) is hard-linked into the snapshot as
 * media/<SHA-256 of the asset URL without its query> (a copy where links
 * are refused). Later opens through the snapshot read the pinned file, so
 * an image read once survives the media cache's eviction and the asset's
 * deletion on the hub, with no request. The pin's bytes count toward
 * cache_size once the media cache has let its own name go.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "core_int.h"
#include "dsview_int.h"
#include "angofs/media.h"
#include "angofs/sysutil.h"

/* ---- image bytes (the media cache) ------------------------------------------- */

/* <snapshot>/media/<SHA-256 of url without its query> of a pinned
 * generation's image (0), else -1. */
static int pin_path(const struct dsv_gen *g, const char *url, char *buf, size_t n)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];

	if (!g->pinned || !url || !g->set->dir)
		return -1;
	SHA256((const unsigned char *)url, strcspn(url, "?#"), md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(buf, n, "%s/media/%s", g->set->dir, hex);
	return 0;
}

/* Link (or copy) the complete media file fd as d->pin. */
static void pin_fd(struct dsv_fh *d, int fd)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	char dir[4400];
	snprintf(dir, sizeof(dir), "%s", d->pin);
	*strrchr(dir, '/') = '\0';
	mkdir(dir, 0700);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, d->pin, AT_SYMLINK_FOLLOW) == 0 || errno == EEXIST)
		return;
	char tmp[4500], buf[1 << 16];
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", d->pin);
	int out = mkstemp(tmp);
	ssize_t r = 0;
	off_t off = 0;
	while (out >= 0 && (r = pread(fd, buf, sizeof(buf), off)) > 0 &&
	       write(out, buf, (size_t)r) == r)
		off += r;
	if (out >= 0 && (r != 0 || fsync(out) != 0 || rename(tmp, d->pin) != 0))
		unlink(tmp);
	if (out >= 0)
		close(out);
}

void dsv_image_pin(struct ao_core *c, struct dsv_fh *d)
{
	int fd = d->mfh ? ao_media_fh_fd(d->mfh) : -1;
	struct ao_media_fh *again = NULL;
	struct ao_err e = {0};
	long long size;
	time_t mt;

	if (!d->pin[0] || !d->url)
		return; /* not a snapshot's image, or pinned already */
	/* opened while it downloaded: the complete file once published, which
	 * follows the last byte by moments; waited for (bounded) only when
	 * this handle read to the end */
	int whole = d->mfh && ao_media_fh_size(d->mfh, &size) == 1 && d->read_end >= size;
	for (int i = 0; fd < 0 && i < (whole ? 40 : 1); i++) {
		struct ao_media_ref r = {d->g->project_id, d->url, AO_MEDIA_ASSET, NULL};
		if (i)
			ao_sys_sleep_ms(25);
		if (ao_media_stat(c->cfg.media, &r, &size, &mt) == 1 &&
		    ao_media_open(c->cfg.media, &r, &again, &e) == 0) {
			fd = ao_media_fh_fd(again);
			if (fd < 0) {
				ao_media_close(c->cfg.media, again);
				again = NULL;
			}
		}
	}
	if (fd >= 0)
		pin_fd(d, fd);
	if (again)
		ao_media_close(c->cfg.media, again);
}

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
	char pin[4400];
	struct stat st;
	if (pin_path(g, r.url, pin, sizeof(pin)) == 0 && stat(pin, &st) == 0 && st.st_size > 0)
		size = st.st_size; /* pinned with the snapshot */
	else if (!(r.url && ao_media_stat(c->cfg.media, &r, &size, &mt) == 1 && size > 0))
		size = 0;
	if (size > 0)
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
	d->im = im;
	if (pin_path(d->g, r.url, d->pin, sizeof(d->pin)) == 0 && (d->url = strdup(r.url))) {
		int fd = open(d->pin, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0) { /* pinned: the snapshot's own copy */
			json_decref(rec);
			__atomic_store_n(&d->g->isize[dsv_image_pos(d->g, im)],
					 (long long)st.st_size, __ATOMIC_RELAXED);
			d->pin[0] = '\0';
			fh->fd = d->own_fd = fd;
			return 0;
		}
		if (fd >= 0)
			close(fd);
	}
	rc = r.url ? ao_media_open(c->cfg.media, &r, &d->mfh, err)
		   : ao_errf(err, ENOENT, "%s: the record has no asset URL", im->name);
	json_decref(rec);
	if (rc < 0)
		return rc;
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
	ssize_t got = ao_media_read(c->cfg.media, fh->ds->mfh, buf, size, off, err);
	if (got >= 0 && off + got > fh->ds->read_end) /* how far this handle read */
		fh->ds->read_end = off + got;
	return got;
}
