/*
 * cache.c - the media cache's object table and its readers (interface and
 * design in include/angofs/media.h; shared state in media/media_int.h).
 *
 * Design choice: one in-memory object per cached URL, created on the first
 * open and freed with its last handle, so memory follows what is open, not
 * what is cached (a 100k-image project costs nothing until read). A reader
 * never waits for a whole download: each handle has its own descriptor of
 * the file being written and waits on the object's condition variable only
 * until the bytes it asked for are there. The table mutex is taken for
 * moments; each object has its own mutex, so readers of different images
 * never wait for each other.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "angofs/cancel.h"
#include "angofs/hash.h"
#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "media/media_int.h"
#include "../cachedir/cachedir.h"

const char *ao_media_type_name(enum ao_media_type t)
{
	switch (t) {
	case AO_MEDIA_BRUSH:
		return "brushes";
	case AO_MEDIA_MEDICAL_BRUSH:
		return "medicalBrushes";
	default:
		return "assets";
	}
}

struct ao_media *ao_media_new(const struct ao_media_cfg *cfg, struct ao_err *err)
{
	struct ao_media *m = calloc(1, sizeof(*m));

	if (!m || !cfg->dir || !cfg->hub) {
		free(m);
		ao_errf(err, m ? EINVAL : ENOMEM, "media cache: %s",
			m ? "no directory or hub" : "out of memory");
		return NULL;
	}
	m->cfg = *cfg;
	m->cfg.dir = strdup(cfg->dir);
	m->cfg.xdir = cfg->xdir ? strdup(cfg->xdir) : NULL;
	m->cfg.host = strdup(cfg->host ? cfg->host : "");
	if (m->cfg.ttl_s <= 0)
		m->cfg.ttl_s = 3600;
	m->est_bytes = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->idle, NULL);
	mo_keep_init(m);
	if (mkdir(m->cfg.dir, 0700) < 0 && errno != EEXIST) {
		ao_errf(err, errno, "media cache: cannot create %s: %s", m->cfg.dir,
			strerror(errno));
		ao_media_free(m);
		return NULL;
	}
	return m;
}

void ao_media_free(struct ao_media *m)
{
	if (!m)
		return;
	struct mobj *kept;

	pthread_mutex_lock(&m->lock);
	__atomic_store_n(&m->stopping, 1, __ATOMIC_RELAXED);
	while (m->nthreads > 0)
		pthread_cond_wait(&m->idle, &m->lock);
	mo_keep_trim(m, 1, &kept);
	pthread_mutex_unlock(&m->lock);
	while (kept) {
		struct mobj *o = kept;
		kept = o->knext;
		mo_free(o);
	}
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->idle);
	free((char *)m->cfg.dir);
	free((char *)m->cfg.xdir);
	free((char *)m->cfg.host);
	free(m);
}

void ao_media_get_stats(struct ao_media *m, struct ao_media_stats *s)
{
	pthread_mutex_lock(&m->lock);
	*s = m->st;
	pthread_mutex_unlock(&m->lock);
}

int mo_fresh(struct ao_media *m, time_t fetched_at)
{
	return fetched_at + m->cfg.ttl_s > time(NULL);
}

/* The object key: host, type, project and the URL without its query (a
 * signature does not make another object). NULL on ENOMEM. */
static char *media_key(struct ao_media *m, const struct ao_media_ref *r)
{
	size_t ulen = strcspn(r->url, "?#");
	char *k = NULL;

	if (asprintf(&k, "media\n%s\n%s\n%s\n%.*s", m->cfg.host, ao_media_type_name(r->type),
		     r->project_id ? r->project_id : "", (int)ulen, r->url) < 0)
		return NULL;
	return k;
}

struct mfd *mo_fd_new(int fd)
{
	struct mfd *f = malloc(sizeof(*f));

	if (!f) {
		close(fd);
		return NULL;
	}
	f->fd = fd;
	f->refs = 1;
	return f;
}

void mo_fd_put(struct mfd *f)
{
	if (f && --f->refs == 0) {
		close(f->fd);
		free(f);
	}
}

int mo_set_fd(struct mobj *o, int fd)
{
	mo_fd_put(o->cur);
	o->cur = mo_fd_new(fd);
	return o->cur ? 0 : -ENOMEM;
}

unsigned long mo_next_cseq(void)
{
	static unsigned long seq;

	return __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
}

void mo_free(struct mobj *o)
{
	mo_fd_put(o->cur);
	if (o->lockfd >= 0)
		close(o->lockfd);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	free(o->key);
	free(o->project_id);
	free(o->storage_id);
	free(o->url);
	free(o);
}

static struct mobj *obj_new(struct ao_media *m, const struct ao_media_ref *r, char *key,
			    unsigned long long h, struct ao_err *err)
{
	struct mobj *o = calloc(1, sizeof(*o));
	char path[4096];

	if (!o) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(o->hash, sizeof(o->hash), "%016llx", h);
	o->key = key;
	o->project_id = strdup(r->project_id ? r->project_id : "");
	o->url = strdup(r->url);
	o->storage_id = r->storage_id && *r->storage_id ? strdup(r->storage_id) : NULL;
	o->type = r->type;
	o->total = -1;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	cd_path(m->cfg.dir, o->hash, "lock", path, sizeof(path));
	o->lockfd = ao_lock_open(path);
	if (o->lockfd < 0 || !o->project_id || !o->url) {
		ao_errf(err, o->lockfd < 0 ? -o->lockfd : ENOMEM, "media cache: %s: %s", path,
			strerror(o->lockfd < 0 ? -o->lockfd : ENOMEM));
		o->key = NULL;
		mo_free(o);
		return NULL;
	}
	return o;
}

/* Find or create the object of r with refs more references. */
static struct mobj *obj_get(struct ao_media *m, const struct ao_media_ref *r, int refs,
			    struct ao_err *err)
{
	char *key = media_key(m, r);
	unsigned long long h;
	struct mobj *o;

	if (!key) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	h = ao_hash_str(key);
	pthread_mutex_lock(&m->lock);
	for (o = m->tab[h % MEDIA_BUCKETS]; o; o = o->next)
		if (!strcmp(o->key, key))
			break;
	if (o) {
		free(key);
		mo_unkeep(m, o);
	} else {
		o = obj_new(m, r, key, h, err);
		if (o) {
			o->next = m->tab[h % MEDIA_BUCKETS];
			m->tab[h % MEDIA_BUCKETS] = o;
		}
	}
	if (o)
		o->refs += refs;
	pthread_mutex_unlock(&m->lock);
	return o;
}

void mo_put(struct ao_media *m, struct mobj *o)
{
	unsigned long long h = strtoull(o->hash, NULL, 16);
	struct mobj **pp, *old;

	pthread_mutex_lock(&o->mu); /* for mo_keep's look at the state */
	pthread_mutex_lock(&m->lock);
	if (--o->refs > 0 || mo_keep(m, o)) {
		mo_keep_trim(m, 0, &old);
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(&o->mu);
		while (old) {
			struct mobj *x = old;
			old = x->knext;
			mo_free(x);
		}
		return;
	}
	for (pp = &m->tab[h % MEDIA_BUCKETS]; *pp && *pp != o; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = o->next;
	/* Closed under m->lock: closing any descriptor of H.lock drops all of
	 * this process's locks on it, so no new object of this hash may have
	 * opened it (and taken a lock) before this one is closed. */
	if (o->lockfd >= 0)
		close(o->lockfd);
	o->lockfd = -1;
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&o->mu);
	mo_free(o); /* no handle, no download: it held no fcntl lock */
}

void mo_hold(struct mobj *o, unsigned long long gen, int delta)
{
	int i, free_i = -1;

	if (!gen)
		return;
	for (i = 0; i < MEDIA_HOLDS; i++) {
		if (o->holds[i].n && o->holds[i].gen == gen)
			break;
		if (!o->holds[i].n && free_i < 0)
			free_i = i;
	}
	if (i == MEDIA_HOLDS) {
		if (delta < 0 || free_i < 0)
			return; /* more generations open at once than tracked: unlocked */
		i = free_i;
		o->holds[i].gen = gen;
	}
	if (o->holds[i].n == 0 && delta > 0)
		ao_lock_byte(o->lockfd, (off_t)gen, F_RDLCK, 1);
	o->holds[i].n += delta;
	if (o->holds[i].n <= 0) {
		o->holds[i].n = 0;
		ao_lock_byte(o->lockfd, (off_t)gen, F_UNLCK, 0);
	}
}

/* Make sure o has content for a new handle: fresh on disk or in memory, or
 * a download under way that has delivered its first bytes. o->mu held. */
static int obj_ready(struct ao_media *m, struct mobj *o, int *spare_ref, struct ao_err *err)
{
	unsigned waited = 0;
	int mine = 0;

	for (;;) {
		if (o->state == M_READY && (mo_fresh(m, o->fetched_at) || o->downloading))
			return 0;
		if (o->state == M_DOWNLOADING && (o->done > 0 || o->total >= 0))
			return 0;
		if (o->state == M_FAILED && mine && o->epoch == waited) {
			if (err)
				*err = o->err;
			return -o->err.code;
		}
		if (!o->downloading) {
			if (o->state != M_READY && mf_from_disk(m, o))
				continue;
			if (!*spare_ref)
				return ao_errf(err, EAGAIN, "media cache: no reference");
			*spare_ref = 0;
			o->downloading = 1;
			o->epoch++;
			waited = o->epoch;
			mine = 1;
			if (o->state != M_READY)
				o->state = M_STARTING;
			int rc = mf_start(m, o, err);
			if (rc < 0) {
				o->downloading = 0;
				*spare_ref = 1;
				return rc;
			}
			continue;
		}
		if (!mine) {
			waited = o->epoch;
			mine = 1;
		}
		if (ao_cancel_cond_wait(&o->cv, &o->mu) < 0)
			return ao_errf(err, EINTR, "interrupted while waiting for the download");
	}
}

/* o kept since its last handle (o->mu held): read-lock byte gen and check it
 * is still the published file, fresh; if not, o forgets it (obj_ready then
 * takes what is on disk now, or downloads). 1: the lock is held for the
 * new handle. */
static int revalidate(struct ao_media *m, struct mobj *o)
{
	o->reval = 0;
	if (o->state != M_READY || o->fhs || o->downloading)
		return 0;
	if (mo_fresh(m, o->fetched_at)) {
		mo_hold(o, o->gen, 1);
		if (mo_keep_check(m, o))
			return 1;
		mo_hold(o, o->gen, -1);
		ao_debug("media cache: %s.%llu kept open was replaced or evicted: read again",
			 o->hash, o->gen);
	}
	mo_fd_put(o->cur);
	o->cur = NULL;
	o->gen = 0;
	o->cseq = 0;
	o->state = M_IDLE;
	return 0;
}

int ao_media_open(struct ao_media *m, const struct ao_media_ref *r, struct ao_media_fh **out,
		  struct ao_err *err)
{
	struct ao_media_fh *fh;
	struct mobj *o;
	int spare = 1, rc, held;

	*out = NULL;
	if (!r->url || !*r->url)
		return ao_errf(err, ENOENT, "no media URL");
	fh = calloc(1, sizeof(*fh));
	if (!fh)
		return ao_errf(err, ENOMEM, "out of memory");
	o = obj_get(m, r, 2, err); /* the handle's, and a spare for a download */
	if (!o) {
		free(fh);
		return err && err->code ? -err->code : -ENOMEM;
	}
	pthread_mutex_lock(&o->mu);
	held = o->reval ? revalidate(m, o) : 0;
	rc = obj_ready(m, o, &spare, err);
	if (rc == 0 && !o->cur)
		rc = ao_errf(err, EIO, "media cache: %s has no content", o->hash);
	if (rc == 0) {
		fh->o = o;
		fh->f = o->cur;
		fh->f->refs++;
		fh->fd = fh->f->fd;
		fh->epoch = o->epoch;
		fh->gen = o->state == M_READY ? o->gen : 0;
		fh->st = o->state == M_READY ? FH_DONE : FH_GROWING;
		if (!held)
			mo_hold(o, fh->gen, 1);
		fh->next = o->fhs;
		o->fhs = fh;
		if (fh->gen)
			mo_stamp(m, o);
	}
	pthread_mutex_unlock(&o->mu);
	if (spare)
		mo_put(m, o);
	if (rc < 0) {
		mo_put(m, o);
		free(fh);
		return rc;
	}
	*out = fh;
	return 0;
}

/* 1 if fh's content is complete (o->mu held). */
static int fh_complete(const struct ao_media_fh *fh)
{
	return fh->st == FH_DONE;
}

ssize_t ao_media_read(struct ao_media *m, struct ao_media_fh *fh, void *buf, size_t size, off_t off,
		      struct ao_err *err)
{
	struct mobj *o = fh->o;
	size_t got = 0;

	(void)m;
	if (off < 0)
		return ao_errf(err, EINVAL, "negative offset");
	pthread_mutex_lock(&o->mu);
	for (;;) {
		long long want = (long long)off + (long long)size;

		if (fh->st == FH_DONE)
			break;
		if (fh->st == FH_FAILED) {
			/* its download failed: the bytes it wrote are good, no more */
			if (want <= fh->avail)
				break;
			if (err)
				*err = fh->err;
			pthread_mutex_unlock(&o->mu);
			return fh->err.code ? -fh->err.code : -EIO;
		}
		if (o->total >= 0 && want > o->total)
			want = o->total;
		if (o->done >= want)
			break;
		if (ao_cancel_cond_wait(&o->cv, &o->mu) < 0) {
			pthread_mutex_unlock(&o->mu);
			return ao_errf(err, EINTR, "interrupted while waiting for the download");
		}
	}
	if (fh->st == FH_GROWING && o->done < (long long)off + (long long)size)
		size = o->done > (long long)off ? (size_t)(o->done - off) : 0;
	pthread_mutex_unlock(&o->mu);
	while (got < size) {
		ssize_t n = pread(fh->fd, (char *)buf + got, size - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ao_errf(err, errno, "reading the cached media: %s", strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int ao_media_fh_size(struct ao_media_fh *fh, long long *size)
{
	struct mobj *o = fh->o;
	int known = 0;
	struct stat st;

	pthread_mutex_lock(&o->mu);
	if (fh_complete(fh) && fstat(fh->fd, &st) == 0) {
		*size = st.st_size;
		known = 1;
	} else if (fh->st == FH_GROWING && o->total >= 0) {
		*size = o->total;
		known = 1;
	}
	pthread_mutex_unlock(&o->mu);
	return known;
}

int ao_media_fh_fd(struct ao_media_fh *fh)
{
	int fd;

	pthread_mutex_lock(&fh->o->mu);
	fd = fh_complete(fh) ? fh->fd : -1;
	pthread_mutex_unlock(&fh->o->mu);
	return fd;
}

int ao_media_fh_ident(struct ao_media_fh *fh, struct ao_media_ident *id)
{
	struct mobj *o = fh->o;
	int known;

	pthread_mutex_lock(&o->mu);
	/* o's identity is of o->cur: the handle's only while it reads that */
	known = fh_complete(fh) && fh->f == o->cur && o->dino && o->gen == fh->gen && o->cseq;
	if (known)
		*id = (struct ao_media_ident){o->ddev, o->dino, o->total, o->cseq, o->fetched_at};
	pthread_mutex_unlock(&o->mu);
	return known;
}

unsigned long ao_media_fh_current(struct ao_media_fh *fh)
{
	unsigned long c;

	pthread_mutex_lock(&fh->o->mu);
	c = fh->o->state == M_READY ? fh->o->cseq : 0;
	pthread_mutex_unlock(&fh->o->mu);
	return c;
}

void ao_media_close(struct ao_media *m, struct ao_media_fh *fh)
{
	struct mobj *o;
	struct ao_media_fh **pp;

	if (!fh)
		return;
	o = fh->o;
	pthread_mutex_lock(&o->mu);
	for (pp = &o->fhs; *pp && *pp != fh; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = fh->next;
	mo_hold(o, fh->gen, -1);
	mo_fd_put(fh->f);
	pthread_mutex_unlock(&o->mu);
	free(fh);
	mo_put(m, o);
}

ssize_t ao_media_read_head(struct ao_media *m, const struct ao_media_ref *r, void *buf, size_t n,
			   struct ao_err *err)
{
	struct ao_media_fh *fh;
	ssize_t got;
	int rc = ao_media_open(m, r, &fh, err);

	if (rc < 0)
		return rc;
	got = ao_media_read(m, fh, buf, n, 0, err);
	ao_media_close(m, fh);
	return got;
}

/* The size of an object this daemon has in memory: 1 and *size when it is
 * complete or its download announced Content-Length. */
static int stat_mem(struct ao_media *m, const char *key, unsigned long long h, long long *size,
		    time_t *mtime, unsigned long *cseq)
{
	struct mobj *o;
	int known = 0;

	pthread_mutex_lock(&m->lock);
	for (o = m->tab[h % MEDIA_BUCKETS]; o; o = o->next)
		if (!strcmp(o->key, key))
			break;
	if (o && o->kept) { /* refs 0: nobody changes it while m->lock is held */
		known = mo_fresh(m, o->fetched_at);
		*size = o->total;
		*mtime = o->fetched_at;
		*cseq = o->cseq;
		pthread_mutex_unlock(&m->lock);
		return known;
	}
	if (o)
		o->refs++;
	pthread_mutex_unlock(&m->lock);
	if (!o)
		return 0;
	pthread_mutex_lock(&o->mu);
	if ((o->state == M_READY || o->state == M_DOWNLOADING) && o->total >= 0) {
		*size = o->total;
		*mtime = o->state == M_READY ? o->fetched_at : time(NULL);
		*cseq = o->state == M_READY ? o->cseq : 0;
		known = 1;
	}
	pthread_mutex_unlock(&o->mu);
	mo_put(m, o);
	return known;
}

int ao_media_stat(struct ao_media *m, const struct ao_media_ref *r, long long *size, time_t *mtime)
{
	unsigned long cseq;

	return ao_media_stat_gen(m, r, size, mtime, &cseq);
}

int ao_media_stat_gen(struct ao_media *m, const struct ao_media_ref *r, long long *size,
		      time_t *mtime, unsigned long *cseq)
{
	char *key = media_key(m, r), hash[17];
	struct cd_meta meta;
	unsigned long long h;
	int known = 0;

	if (!key)
		return 0;
	h = ao_hash_str(key);
	snprintf(hash, sizeof(hash), "%016llx", h);
	*cseq = 0;
	known = stat_mem(m, key, h, size, mtime, cseq);
	if (!known)
		*cseq = 0;
	if (!known && cd_meta_read(m->cfg.dir, hash, key, &meta, NULL) == 0 && meta.gen &&
	    mo_fresh(m, meta.fetched_at)) {
		*size = meta.size;
		*mtime = meta.fetched_at;
		known = 1;
	}
	free(key);
	return known;
}
