/*
 * image_headers.c - the first bytes of an image for pass 1 of a dataset view
 * (src/read/views/build.c), when the export's record has no width and height.
 *
 * The bytes come through the media cache (a cached object is read from disk;
 * else it is downloaded, with the hub client's retries). A read that failed
 * is remembered by its object (the asset URL without its query) for
 * DSH_RETRY_S seconds and not tried again meanwhile: every new generation of
 * an export runs pass 1 again, and without the memory each one paid a whole
 * retry cycle per image whose media cannot be read (about 2 s per image for
 * an unresolvable host, 8-12 s listings: the race model test). Such an image
 * stays "no_size" in skipped.txt until the memory expires. The memory is a
 * small hash table of (object hash, time) under c->dsv->lock (a leaf), never
 * held across the read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../read_int.h"
#include "views_int.h"
#include "angofs/hash.h"
#include "angofs/log.h"
#include "angofs/media.h"

#define DSH_RETRY_S 600
#define DSH_BUCKETS 1024

struct dsh_fail {
	struct dsh_fail *next;
	unsigned long long h; /* the object: FNV-1a of the URL up to its query */
	time_t at;
};

static unsigned long long object_hash(const char *url)
{
	const char *q = strchr(url, '?');
	return ao_hash_bytes(url, q ? (size_t)(q - url) : strlen(url));
}

/* 1 if h failed less than DSH_RETRY_S ago (expired ones are dropped). */
static int failed_lately(struct ao_core *c, unsigned long long h, time_t now)
{
	struct dsh_fail **pp, *f;
	int hit = 0;

	pthread_mutex_lock(&c->dsv->lock);
	if (c->dsv->head_fail)
		for (pp = &c->dsv->head_fail[h % DSH_BUCKETS]; (f = *pp);) {
			if (now - f->at >= DSH_RETRY_S) {
				*pp = f->next;
				free(f);
				continue;
			}
			hit |= f->h == h;
			pp = &f->next;
		}
	pthread_mutex_unlock(&c->dsv->lock);
	return hit;
}

static void note_failure(struct ao_core *c, unsigned long long h, time_t now)
{
	struct dsh_fail *f = malloc(sizeof(*f));

	if (!f)
		return; /* tried again next time: only a cost */
	f->h = h;
	f->at = now;
	pthread_mutex_lock(&c->dsv->lock);
	if (!c->dsv->head_fail)
		c->dsv->head_fail = calloc(DSH_BUCKETS, sizeof(*c->dsv->head_fail));
	if (c->dsv->head_fail) {
		f->next = c->dsv->head_fail[h % DSH_BUCKETS];
		c->dsv->head_fail[h % DSH_BUCKETS] = f;
		f = NULL;
	}
	pthread_mutex_unlock(&c->dsv->lock);
	free(f);
}

ssize_t dsv_read_head(void *ud, const struct ao_ds_image *im, void *buf, size_t cap)
{
	struct ao_core *c = ((void **)ud)[0];
	const struct dsv_gen *g = ((void **)ud)[1];
	struct ao_err e = {0};
	json_t *rec;
	time_t now = time(NULL);

	if (dsv_record(g, im, &rec, &e) < 0)
		return -EIO;
	const char *url = json_string_value(json_object_get(rec, "asset"));
	unsigned long long h = url ? object_hash(url) : 0;
	ssize_t n;
	if (!url)
		n = -ENOENT;
	else if (failed_lately(c, h, now))
		n = -EAGAIN;
	else {
		struct ao_media_ref r = {g->project_id, url, AO_MEDIA_ASSET, NULL};
		n = ao_media_read_head(c->cfg.media, &r, buf, cap, &e);
		if (n < 0) {
			ao_info("datasets: no header of %s: %s (not read again for %d s)", im->name,
				e.msg, DSH_RETRY_S);
			note_failure(c, h, now);
		}
	}
	json_decref(rec);
	return n;
}

void dsv_head_free_all(struct ao_core *c)
{
	if (!c->dsv->head_fail)
		return;
	for (size_t i = 0; i < DSH_BUCKETS; i++)
		for (struct dsh_fail *f = c->dsv->head_fail[i], *nx; f; f = nx) {
			nx = f->next;
			free(f);
		}
	free(c->dsv->head_fail);
	c->dsv->head_fail = NULL;
}
