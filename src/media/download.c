/*
 * download.c - one media download: publish lock, signing, streaming into
 * a temp file, publishing (include/angofs/media.h, media/media_int.h).
 *
 * Design choice: each download runs on a thread of its own, detached from the
 * reader that started it, so the reader returns as soon as the first bytes
 * are there and later readers join it; the thread has its own curl handle
 * (the hub client's pool hands one out per transfer) and takes the object's
 * mutex only to publish progress. Signing is lazy: the URL the hub gave is
 * tried first (public objects and still-valid signed URLs cost no extra
 * request); 401/403 means "sign it" (GET /getSignedUrl), and a signed URL
 * that answers 403 later has expired: it is signed again and the transfer
 * continues after the bytes already written (the new response's first bytes
 * are skipped, so the file is written once, in order). A failed download is
 * published for the other daemons on the directory (H.fail, cachedir/failure.c): one
 * whose thread waited for the publish lock meanwhile shares it instead of
 * downloading again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "media/media_int.h"
#include "../cachedir/cachedir.h"

#define MAX_SIGNS 3

struct dl {
	struct ao_media *m;
	struct mobj *o;
	int fd;		     /* the temp file */
	long long written;   /* bytes in it */
	long long skip;	     /* bytes of the current response already written */
	long long since;     /* wall-clock ms when the download was asked for */
	struct stat meta_st; /* H.meta as published (st_ino 0: unknown) */
};

int mf_from_disk(struct ao_media *m, struct mobj *o)
{
	char path[4096];
	struct cd_meta meta;
	struct stat st, mst;
	int fd;

	if (cd_meta_read(m->cfg.dir, o->hash, o->key, &meta, &mst) < 0 || !meta.gen ||
	    !mo_fresh(m, meta.fetched_at))
		return 0;
	cd_data_path(m->cfg.dir, o->hash, meta.gen, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || st.st_size != meta.size) {
		close(fd);
		return 0;
	}
	if (mo_set_fd(o, fd) < 0)
		return 0;
	o->meta_st = mst;
	o->cseq = mo_next_cseq();
	o->ddev = st.st_dev;
	o->dino = st.st_ino;
	o->stamped = st.st_mtime;
	o->gen = meta.gen;
	o->state = M_READY;
	o->done = o->total = meta.size;
	o->fetched_at = meta.fetched_at;
	return 1;
}

static int dl_sink(void *ud, const void *buf, size_t len)
{
	struct dl *d = ud;
	const char *p = buf;
	int rc;

	if (__atomic_load_n(&d->m->stopping, __ATOMIC_RELAXED))
		return -ECANCELED;
	if (d->skip > 0) {
		size_t s = (long long)len < d->skip ? len : (size_t)d->skip;
		d->skip -= (long long)s;
		p += s;
		len -= s;
	}
	if (!len)
		return 0;
	rc = ao_sys_write_all(d->fd, p, len);
	if (rc < 0)
		return rc;
	d->written += (long long)len;
	pthread_mutex_lock(&d->o->mu);
	d->o->done = d->written;
	pthread_cond_broadcast(&d->o->cv);
	pthread_mutex_unlock(&d->o->mu);
	return 0;
}

static void dl_progress(void *ud, long long done, long long total)
{
	struct dl *d = ud;

	(void)done;
	if (total < 0)
		return;
	pthread_mutex_lock(&d->o->mu);
	if (d->o->total != total) {
		d->o->total = total;
		pthread_cond_broadcast(&d->o->cv);
	}
	pthread_mutex_unlock(&d->o->mu);
}

/* GET /getSignedUrl for o: *url = the signed URL (malloc'd). */
static int sign(struct ao_media *m, struct mobj *o, const char *url, char **out, struct ao_err *err)
{
	size_t ulen = strcspn(url, "?#");
	char *bare = strndup(url, ulen);
	int rc;

	if (!bare)
		return ao_errf(err, ENOMEM, "out of memory");
	rc = hub_signed_url(m->cfg.hub, o->project_id, ao_media_type_name(o->type), bare,
			    o->storage_id, out, err);
	free(bare);
	pthread_mutex_lock(&m->lock);
	m->st.signs++;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Download o->url into d->fd, signing on 401/403. */
static int fetch(struct dl *d, struct ao_err *err)
{
	struct mobj *o = d->o;
	char *url;
	int rc, signs = 0;

	pthread_mutex_lock(&o->mu);
	url = strdup(o->url);
	pthread_mutex_unlock(&o->mu);
	if (!url)
		return ao_errf(err, ENOMEM, "out of memory");
	for (;;) {
		char *signed_url = NULL;

		d->skip = d->written;
		ao_err_clear(err);
		rc = hub_download(d->m->cfg.hub, url, dl_sink, dl_progress, d, err);
		if (rc != -EACCES || signs >= MAX_SIGNS ||
		    __atomic_load_n(&d->m->stopping, __ATOMIC_RELAXED))
			break;
		/* not readable without a signature, or the signature expired */
		ao_info("media: %s answered HTTP %d: signing it (getSignedUrl)", o->hash,
			err ? err->http_status : 0);
		if (signs++ > 0 || d->written > 0 || strchr(url, '?')) {
			pthread_mutex_lock(&d->m->lock);
			d->m->st.resigns++;
			pthread_mutex_unlock(&d->m->lock);
		}
		rc = sign(d->m, o, url, &signed_url, err);
		if (rc < 0)
			break;
		free(url);
		url = signed_url;
		pthread_mutex_lock(&o->mu);
		free(o->url);
		o->url = strdup(url);
		pthread_mutex_unlock(&o->mu);
	}
	free(url);
	return rc;
}

/* Take byte 0 of H.lock, waiting (4 tries a second) unless stopping. */
static int publish_lock(struct ao_media *m, struct mobj *o)
{
	for (;;) {
		int rc = ao_lock_byte(o->lockfd, 0, F_WRLCK, 0);

		if (rc == 0 || rc != -EAGAIN)
			return rc;
		if (__atomic_load_n(&m->stopping, __ATOMIC_RELAXED))
			return -ECANCELED;
		ao_sys_sleep_ms(250);
	}
}

static unsigned long long next_gen(struct ao_media *m, struct mobj *o)
{
	struct cd_meta meta;
	char path[4096];
	unsigned long long g = 1;

	if (cd_meta_read(m->cfg.dir, o->hash, o->key, &meta, NULL) == 0)
		g = meta.gen + 1;
	for (;; g++) {
		cd_data_path(m->cfg.dir, o->hash, g, path, sizeof(path));
		if (access(path, F_OK) < 0)
			return g;
	}
}

/* Rename the temp file into place as generation g and name it in H.meta. */
static int publish(struct dl *d, const char *tmp, unsigned long long g, unsigned long long *old)
{
	struct ao_media *m = d->m;
	struct mobj *o = d->o;
	char path[4096];
	struct cd_meta meta, prev;
	int rc;

	*old = 0;
	if (cd_meta_read(m->cfg.dir, o->hash, o->key, &prev, NULL) == 0)
		*old = prev.gen;
	cd_data_path(m->cfg.dir, o->hash, g, path, sizeof(path));
	if (rename(tmp, path) < 0)
		return -errno;
	memset(&meta, 0, sizeof(meta));
	meta.gen = g;
	meta.size = d->written;
	meta.fetched_at = meta.mtime = time(NULL);
	rc = cd_meta_write(m->cfg.dir, o->hash, o->key, &meta);
	if (rc < 0) {
		unlink(path);
		return rc;
	}
	/* what a kept object compares H.meta with (media/keep.c) */
	cd_path(m->cfg.dir, o->hash, "meta", path, sizeof(path));
	if (stat(path, &d->meta_st) < 0)
		memset(&d->meta_st, 0, sizeof(d->meta_st));
	return 0;
}

/* The outcome, for o's readers (publish lock still held on success). */
static void finish(struct dl *d, int rc, unsigned long long g, const struct ao_err *e)
{
	struct mobj *o = d->o;

	pthread_mutex_lock(&o->mu);
	if (rc == 0) {
		struct stat st;
		o->state = M_READY;
		o->gen = g;
		o->total = o->done = d->written;
		o->fetched_at = o->stamped = time(NULL);
		o->meta_st = d->meta_st;
		o->cseq = mo_next_cseq();
		if (o->cur && fstat(o->cur->fd, &st) == 0) {
			o->ddev = st.st_dev;
			o->dino = st.st_ino;
		}
		for (struct ao_media_fh *fh = o->fhs; fh; fh = fh->next)
			if (fh->epoch == o->epoch && fh->st == FH_GROWING) {
				fh->st = FH_DONE;
				fh->gen = g;
				mo_hold(o, g, 1);
			}
	} else {
		o->state = M_FAILED;
		o->err = *e;
		if (!o->err.code)
			o->err.code = -rc;
		for (struct ao_media_fh *fh = o->fhs; fh; fh = fh->next)
			if (fh->epoch == o->epoch && fh->st == FH_GROWING) {
				fh->st = FH_FAILED;
				fh->avail = d->written;
				fh->err = o->err;
			}
	}
	o->downloading = 0;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

/* A temp file for generation g; its descriptor becomes o's content. */
static int start_temp(struct dl *d, unsigned long long g, char *tmp, size_t n)
{
	struct mobj *o = d->o;
	char path[4096];
	int rfd;

	cd_data_path(d->m->cfg.dir, o->hash, g, path, sizeof(path));
	snprintf(tmp, n, "%s.tmp-XXXXXX", path);
	d->fd = mkostemp(tmp, O_CLOEXEC);
	if (d->fd < 0)
		return -errno;
	fchmod(d->fd, 0600);
	rfd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (rfd < 0) {
		int rc = -errno;
		close(d->fd);
		unlink(tmp);
		return rc;
	}
	pthread_mutex_lock(&o->mu);
	if (mo_set_fd(o, rfd) < 0) {
		o->state = M_IDLE;
		pthread_mutex_unlock(&o->mu);
		close(d->fd);
		unlink(tmp);
		return -ENOMEM;
	}
	o->gen = 0;
	o->done = 0;
	o->total = -1;
	o->state = M_DOWNLOADING;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
	return 0;
}

static void run(struct dl *d)
{
	struct ao_media *m = d->m;
	struct mobj *o = d->o;
	struct ao_err e;
	unsigned long long g = 0, old = 0;
	char tmp[4200];
	int rc;

	ao_err_clear(&e);
	rc = publish_lock(m, o);
	if (rc < 0) {
		ao_errf(&e, -rc, "media cache: lock of %s: %s", o->hash, strerror(-rc));
		finish(d, rc, 0, &e);
		return;
	}
	pthread_mutex_lock(&o->mu);
	int disk = mf_from_disk(m, o); /* another daemon published it meanwhile */
	if (disk) {
		o->downloading = 0;
		pthread_cond_broadcast(&o->cv);
	}
	pthread_mutex_unlock(&o->mu);
	if (disk) {
		ao_lock_byte(o->lockfd, 0, F_UNLCK, 0);
		return;
	}
	if (cd_fail_shared(m->cfg.dir, o->hash, d->since, &e)) {
		/* a sibling failed it while this thread waited for the lock */
		finish(d, -e.code, 0, &e);
		ao_lock_byte(o->lockfd, 0, F_UNLCK, 0);
		return;
	}
	g = next_gen(m, o);
	rc = start_temp(d, g, tmp, sizeof(tmp));
	if (rc < 0) {
		ao_errf(&e, -rc, "media cache: temp file for %s: %s", o->hash, strerror(-rc));
	} else {
		pthread_mutex_lock(&m->lock);
		m->st.downloads++;
		pthread_mutex_unlock(&m->lock);
		rc = fetch(d, &e);
		if (rc == 0)
			cd_fail_clear(m->cfg.dir, o->hash);
		else
			cd_fail_publish(m->cfg.dir, o->hash, &e);
		if (close(d->fd) < 0 && rc == 0)
			rc =
			    ao_errf(&e, errno, "media cache: writing %s: %s", tmp, strerror(errno));
		if (rc == 0 && (rc = publish(d, tmp, g, &old)) < 0)
			ao_errf(&e, -rc, "media cache: publishing %s: %s", o->hash, strerror(-rc));
		if (rc < 0)
			unlink(tmp);
	}
	finish(d, rc, g, &e);
	if (rc == 0 && old && old != g) {
		int held = 0;
		pthread_mutex_lock(&o->mu);
		for (int i = 0; i < MEDIA_HOLDS; i++)
			held |= o->holds[i].n && o->holds[i].gen == old;
		pthread_mutex_unlock(&o->mu);
		if (!held)
			cd_gen_remove(m->cfg.dir, o->hash, o->lockfd, old);
	}
	ao_lock_byte(o->lockfd, 0, F_UNLCK, 0);
	if (rc == 0) {
		pthread_mutex_lock(&m->lock);
		m->st.bytes += d->written;
		pthread_mutex_unlock(&m->lock);
		me_after_download(m, d->written);
	} else {
		ao_warn("media: %s", e.msg);
	}
}

static void *dl_main(void *arg)
{
	struct dl *d = arg;
	struct ao_media *m = d->m;

	run(d);
	mo_put(m, d->o);
	free(d);
	pthread_mutex_lock(&m->lock);
	if (--m->nthreads == 0)
		pthread_cond_broadcast(&m->idle);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int mf_start(struct ao_media *m, struct mobj *o, struct ao_err *err)
{
	struct dl *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return ao_errf(err, ENOMEM, "out of memory");
	d->m = m;
	d->o = o;
	d->fd = -1;
	d->since = cd_wall_ms();
	/* m->lock after o->mu here is safe: nthreads is a counter, and no
	 * thread holding m->lock ever waits for an object's mutex */
	pthread_mutex_lock(&m->lock);
	if (m->stopping) {
		pthread_mutex_unlock(&m->lock);
		free(d);
		return ao_errf(err, ECANCELED, "media cache: shutting down");
	}
	m->nthreads++;
	pthread_mutex_unlock(&m->lock);
	rc = ao_sys_thread_detached(dl_main, d);
	if (rc) {
		pthread_mutex_lock(&m->lock);
		m->nthreads--;
		pthread_mutex_unlock(&m->lock);
		free(d);
		return ao_errf(err, rc, "media cache: cannot start a download: %s", strerror(rc));
	}
	return 0;
}
