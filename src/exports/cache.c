/*
 * cache.c - on-disk export cache with single-flight fetches (design in
 * include/angofs/export_cache.h).
 *
 * Locking: one mutex for the entry table and every entry's state; a condition
 * variable wakes openers waiting for a fetch. The fetch itself (HTTP, unzip,
 * rename) runs without the lock, guarded by the entry's `fetching` flag.
 * Progress counters are updated with relaxed atomics so the status file can
 * read them while the download runs.
 *
 * Other daemons on the same directory: the files and fcntl locks of
 * cachedir/cachedir.h. In memory an entry mirrors H.meta (refreshed on every open and
 * stat, re-parsed only when the file changed); the in-process `fetching`
 * flag keeps one thread per daemon on the publish lock, and the publish lock
 * (byte 0 of H.lock) keeps one daemon per directory downloading.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/cancel.h"
#include "angofs/export_cache.h"
#include "angofs/hash.h"
#include "angofs/hub.h"
#include "angofs/lockfile.h"
#include "angofs/sysutil.h"
#include "angofs/log.h"
#include "angofs/unzip.h"
#include "../cachedir/cachedir.h"

#include "exports_int.h"

struct ao_xentry *xc_find_hash(struct ao_xcache *c, const char *hash, const char *key)
{
	for (struct ao_xentry *e = c->entries; e; e = e->next)
		if (strcmp(e->hash, hash) == 0 && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

struct ao_xentry *xc_entry_new(struct ao_xcache *c, const char *hash, char *key)
{
	struct ao_xentry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = key;
	memcpy(e->hash, hash, 17);
	e->lockfd = -1;
	e->next = c->entries;
	c->entries = e;
	for (int i = 0; i < c->ninflight; i++)
		if (strcmp(c->inflight[i], hash) == 0) {
			/* marked while another daemon downloaded it first: what that
			 * download publishes may predate the mark (xc_discover) */
			e->changes = e->unsynced = 1;
			memmove(c->inflight[i], c->inflight[i + 1],
				sizeof(c->inflight[0]) * (size_t)(c->ninflight - i - 1));
			c->ninflight--;
			break;
		}
	return e;
}

/* H.lock of e, opened on first use and kept (mutex held). fd or -errno. */
int xc_entry_lockfd(struct ao_xcache *c, struct ao_xentry *e)
{
	char p[4096];

	if (e->lockfd >= 0)
		return e->lockfd;
	cd_path(c->dir, e->hash, "lock", p, sizeof(p));
	e->lockfd = ao_lock_open(p);
	if (e->lockfd < 0) {
		ao_warn("export cache: %s: %s", p, strerror(-e->lockfd));
		int rc = e->lockfd;
		e->lockfd = -1;
		return rc;
	}
	return e->lockfd;
}

static size_t holds_of(struct ao_xentry *e, unsigned long long g)
{
	size_t n = 0;
	for (size_t i = 0; i < e->nholds; i++)
		n += e->holds[i].dgen == g;
	return n;
}

void xc_adopt(struct ao_xcache *c, struct ao_xentry *e, const struct cd_meta *m)
{
	if (m->gen != e->dgen) {
		e->gen = ++c->next_gen;
		e->dgen = m->gen;
	} else if (!e->have) {
		e->gen = ++c->next_gen;
	}
	e->have = 1;
	e->size = m->size;
	e->fetched_at = m->fetched_at;
	e->hwm_us = m->hwm_us;
	e->gen_mtime = m->mtime ? m->mtime : m->fetched_at;
	e->shown_at = 0;
	e->meta_stale = m->stale;
	int lacks = e->covers < e->changes; /* a change marked here it may lack */
	if (m->stale && m->stale_at > e->gen_mtime)
		e->stale_at = m->stale_at;
	else if (!lacks)
		e->stale_at = 0;
	e->stale = m->stale || lacks;
}

static int same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Mirror H.meta into e (mutex held): another daemon may have published a
 * generation, marked it stale or evicted it. Parsed only when it changed. */
void xc_refresh(struct ao_xcache *c, struct ao_xentry *e, int force)
{
	char path[4096];
	struct stat st;
	struct cd_meta m;

	cd_path(c->dir, e->hash, "meta", path, sizeof(path));
	int r, i = 0;
	while ((r = stat(path, &st)) < 0 && errno == ESTALE && i++ < 3)
		; /* a name cached by a network filesystem: the next lookup is fresh */
	if (r < 0) {
		e->have = 0;
		memset(&e->meta_st, 0, sizeof(e->meta_st));
		return;
	}
	if (!force && e->have && same_stat(&st, &e->meta_st))
		return;
	if (cd_meta_read(c->dir, e->hash, e->key, &m, &st) < 0) {
		e->have = 0; /* a hash collision or an old format: not ours to use */
		return;
	}
	e->meta_st = st;
	if (m.gen == e->gone_dgen) {
		e->have = 0; /* its data file is gone: the next open fetches */
		return;
	}
	if (m.gen != e->dgen && !e->fetching) {
		/* published by another daemon: its download began after every
		 * mark that set the stale flag in H.meta, not surely after one
		 * that found byte 0 held (exports/exports_int.h, unsynced) */
		e->covers = e->unsynced ? e->unsynced - 1 : e->changes;
		e->unsynced = 0;
	}
	xc_adopt(c, e, &m);
}

struct ao_xcache *ao_xcache_new(const struct ao_xcache_cfg *cfg, struct ao_err *err)
{
	struct ao_xcache *c = calloc(1, sizeof(*c));
	DIR *d;
	struct dirent *de;

	if (!c) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	c->cfg = *cfg;
	c->dir = strdup(cfg->dir);
	c->host = strdup(cfg->host ? cfg->host : "");
	c->task_types = cfg->task_types_json ? strdup(cfg->task_types_json) : NULL;
	c->cfg.dir = c->dir;
	c->cfg.host = c->host;
	c->cfg.task_types_json = c->task_types;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (!c->dir || !c->host) {
		ao_xcache_free(c);
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST) {
		ao_errf(err, errno, "export cache '%s': %s", c->dir, strerror(errno));
		ao_xcache_free(c);
		return NULL;
	}
	chmod(c->dir, 0700);
	d = opendir(c->dir);
	if (!d) {
		ao_errf(err, errno, "export cache '%s': %s", c->dir, strerror(errno));
		ao_xcache_free(c);
		return NULL;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n > 5 && strcmp(de->d_name + n - 5, ".meta") == 0)
			xc_load_meta(c, de->d_name);
	}
	rewinddir(d);
	while ((de = readdir(d)))
		xc_drop_leftover(c, de->d_name);
	closedir(d);
	return c;
}

void ao_xcache_set_hooks(struct ao_xcache *c, const struct ao_xhooks *h)
{
	c->hooks = *h;
}

const char *ao_xcache_task_types(const struct ao_xcache *c)
{
	return c->task_types ? c->task_types : AO_XCACHE_TASK_TYPES;
}

void ao_xcache_free(struct ao_xcache *c)
{
	if (!c)
		return;
	ao_xcache_drain(c);
	while (c->entries) {
		struct ao_xentry *e = c->entries;
		c->entries = e->next;
		for (size_t i = 0; i < e->nholds; i++)
			close(e->holds[i].fd);
		if (e->lockfd >= 0)
			close(e->lockfd); /* drops every lock this daemon held on it */
		free(e->holds);
		free(e->key);
		free(e->project_id);
		free(e->stage_id);
		free(e->batch_id);
		free(e);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->dir);
	free(c->host);
	free(c->task_types);
	free(c);
}

struct ao_xentry *ao_xcache_get(struct ao_xcache *c, const struct ao_xspec *s, struct ao_err *err)
{
	char *key = ao_xcache_key(&c->cfg, s), hash[17];
	struct ao_xentry *e;

	if (!key) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(hash, sizeof(hash), "%016llx", ao_hash_str(key));
	pthread_mutex_lock(&c->lock);
	e = xc_find_hash(c, hash, key);
	if (!e && (e = xc_entry_new(c, hash, key)))
		key = NULL;
	if (e && !e->known) {
		e->project_id = strdup(s->project_id);
		e->stage_id = s->stage_id ? strdup(s->stage_id) : NULL;
		e->batch_id = s->batch_id ? strdup(s->batch_id) : NULL;
		e->type = s->type;
		e->ndjson = s->ndjson;
		e->lean = s->lean;
		e->known = 1;
	}
	pthread_mutex_unlock(&c->lock);
	free(key);
	if (!e)
		ao_errf(err, ENOMEM, "out of memory");
	return e;
}

/* What stat shows of the current generation (mutex held). */
static time_t shown_mtime(const struct ao_xentry *e)
{
	/* stale (touch, poll, a write): the time it was marked */
	return e->stale && e->stale_at > e->gen_mtime ? e->stale_at : e->gen_mtime;
}

int ao_xcache_stat_gen(struct ao_xcache *c, struct ao_xentry *e, long long *size, time_t *mtime,
		       unsigned long *gen)
{
	int known;

	pthread_mutex_lock(&c->lock);
	/* descriptors read it while it downloads: its size is the one they
	 * read, known at the end (grow.c; E13) */
	while (!e->have && e->fetching && xc_grow_readers(e))
		if (ao_cancel_cond_wait(&c->cond, &c->lock) < 0)
			break;
	if (!e->fetching)
		xc_refresh(c, e, 0);
	if (!e->have && !e->shown_at)
		e->shown_at = time(NULL);
	known = e->have;
	*size = known ? e->size : 0;
	*mtime = known ? shown_mtime(e) : e->shown_at;
	*gen = known ? e->gen : 0;
	pthread_mutex_unlock(&c->lock);
	return known;
}

int ao_xcache_stat(struct ao_xcache *c, struct ao_xentry *e, long long *size, time_t *mtime)
{
	unsigned long g;
	return ao_xcache_stat_gen(c, e, size, mtime, &g);
}

int xc_is_fresh(struct ao_xcache *c, struct ao_xentry *e, time_t now)
{
	if (e->have && e->served_stale && now < e->hold_until)
		return 1; /* degraded mode: hub unreachable a moment ago */
	return e->have && !e->stale && now - e->fetched_at < c->cfg.ttl_s && now >= e->fetched_at;
}

int ao_xcache_fresh(struct ao_xcache *c, struct ao_xentry *e)
{
	pthread_mutex_lock(&c->lock);
	if (!e->fetching)
		xc_refresh(c, e, 0);
	int f = xc_is_fresh(c, e, time(NULL));
	pthread_mutex_unlock(&c->lock);
	return f;
}

/* Remove v's files if no daemon is publishing or reading them (mutex held,
 * v neither open nor being fetched here). 1 if removed. */
int xc_evict_one(struct ao_xcache *c, struct ao_xentry *v)
{
	char p[4096];
	struct cd_meta m;
	int lfd = xc_entry_lockfd(c, v), ok = 0;

	if (lfd < 0 || ao_lock_byte(lfd, 0, F_WRLCK, 0) < 0)
		return 0;
	if (cd_meta_read(c->dir, v->hash, v->key, &m, NULL) == 0 &&
	    ao_lock_byte(lfd, (off_t)m.gen, F_WRLCK, 0) == 0) {
		cd_path(c->dir, v->hash, "meta", p, sizeof(p));
		unlink(p);
		cd_data_path(c->dir, v->hash, m.gen, p, sizeof(p));
		unlink(p);
		cd_idx_path(c->dir, v->hash, m.gen, p, sizeof(p));
		unlink(p);
		ao_lock_byte(lfd, (off_t)m.gen, F_UNLCK, 0);
		ok = 1;
	}
	ao_lock_byte(lfd, 0, F_UNLCK, 0);
	if (ok) {
		v->have = 0;
		v->size = 0;
	}
	return ok;
}

static void evict(struct ao_xcache *c, struct ao_xentry *keep)
{
	static int round;
	long long total = 0;

	if (!c->cfg.max_bytes)
		return;
	round++;
	if (c->cfg.pin_dir && time(NULL) - c->pin_at >= 30) { /* snapshots count too */
		c->pin_bytes = cd_pinned_bytes(c->cfg.pin_dir);
		c->pin_at = time(NULL);
	}
	total = c->pin_bytes;
	for (struct ao_xentry *e = c->entries; e; e = e->next)
		if (e->have)
			total += e->size;
	while (total > c->cfg.max_bytes) {
		struct ao_xentry *victim = NULL;
		for (struct ao_xentry *e = c->entries; e; e = e->next)
			if (e->have && e != keep && !e->open_count && !e->fetching &&
			    e->evict_round != round &&
			    (!victim || e->last_access < victim->last_access))
				victim = e;
		if (!victim)
			break;
		victim->evict_round = round;
		long long sz = victim->size;
		if (!xc_evict_one(c, victim))
			continue; /* in use by another daemon */
		ao_info("export cache: evicted %s (%lld bytes; cache %lld > cap %lld)",
			victim->hash, sz, total, c->cfg.max_bytes);
		total -= sz;
	}
}

/* Open the current generation of e (mutex held): read-lock its byte, so no
 * daemon removes it while it is open, then open it. 0, -EAGAIN (it was
 * just replaced or removed: look again) or -errno. */
static int open_gen(struct ao_xcache *c, struct ao_xentry *e, struct ao_xopen *o)
{
	char path[4096];
	struct stat st;
	unsigned long long g = e->dgen;
	int lfd = xc_entry_lockfd(c, e), locked = 0;

	if (lfd < 0)
		return lfd;
	if (!holds_of(e, g)) {
		if (ao_lock_byte(lfd, (off_t)g, F_RDLCK, 0) < 0)
			return -EAGAIN; /* being removed right now */
		locked = 1;
	}
	cd_data_path(c->dir, e->hash, g, path, sizeof(path));
	o->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (o->fd < 0 || fstat(o->fd, &st) < 0 ||
	    (e->nholds == e->capholds &&
	     !(e->holds =
		   realloc(e->holds, (e->capholds = e->capholds * 2 + 4) * sizeof(*e->holds))))) {
		/* gone (ENOENT), or gone from another machine behind a cached name
		 * (ESTALE): look again */
		int rc = errno == ENOENT || errno == ESTALE ? -EAGAIN : -errno;
		if (o->fd >= 0)
			close(o->fd);
		o->fd = -1;
		if (locked)
			ao_lock_byte(lfd, (off_t)g, F_UNLCK, 0);
		return rc;
	}
	e->holds[e->nholds++] = (struct xhold){o->fd, g, NULL};
	o->streamed = e->stream_dgen == g; /* still written: reads wait (exports/stream.c) */
	o->stream_id = o->streamed ? e->stream_id : 0;
	if (st.st_size != e->size && !o->streamed)
		ao_warn("export cache: %s holds %lld bytes, its meta says %lld", path,
			(long long)st.st_size, e->size);
	o->size = o->streamed ? e->size : st.st_size; /* size and bytes of one file */
	if (time(NULL) - e->touched_at > 60) {
		futimens(o->fd, NULL); /* last access, for eviction by any daemon */
		e->touched_at = time(NULL);
	}
	return 0;
}

/* Fetch e as this daemon's one fetcher (mutex held on entry and exit). */
static int fetch_locked(struct ao_xcache *c, struct ao_xentry *e, struct ao_err *ferr)
{
	unsigned long long seen = e->dgen;
	time_t shown_at = e->have ? 0 : e->shown_at;
	int lfd = xc_entry_lockfd(c, e), rc;
	time_t t0 = time(NULL);

	e->fetching = 1;
	e->fetch_from = e->changes; /* sampled again before GET /export */
	pthread_mutex_unlock(&c->lock);
	ao_info("export: fetching %s%s%s%s%s %s.%s", e->project_id, e->stage_id ? " stage " : "",
		e->stage_id ? e->stage_id : "", e->batch_id ? " batch " : "",
		e->batch_id ? e->batch_id : "", e->type == AO_X_ISSUE ? "issues" : "tasks",
		e->ndjson ? "ndjson" : "json");
	struct xc_refresh ri = {0};
	long long m0 = ao_sys_now_ms();
	ri.m0_ms = m0;
	ri.t0 = t0;
	rc = lfd < 0 ? ao_errf(ferr, -lfd, "export cache: %s/%s.lock: %s", c->dir, e->hash,
			       strerror(-lfd))
		     : xc_fetch_shared(c, e, lfd, seen, shown_at, &ri, ferr);
	ri.ms = ao_sys_now_ms() - m0;
	ri.at = time(NULL);
	pthread_mutex_lock(&c->lock);
	if (rc == XC_STREAMING)
		return 0; /* served while written: its writer thread ends the fetch */
	return xc_fetch_done(c, e, rc, &ri, ferr);
}

void xc_sample_changes(struct ao_xcache *c, struct ao_xentry *e)
{
	pthread_mutex_lock(&c->lock);
	e->fetch_from = e->changes;
	pthread_mutex_unlock(&c->lock);
}

/* What the generation a fetch of ours ended with holds (mutex held, e
 * adopted it). rc 0, our own publication: every change marked before we
 * sent GET /export (fetch_from; we held byte 0 from before that request to
 * the publication). rc 1, another daemon's: the same, except a mark that
 * found that daemon publishing (unsynced), which its download may predate.
 * A change marked later than that makes the generation stale at once: in
 * H.meta too, for the other daemons (their own marks know nothing of it). */
static void fetched_covers(struct ao_xcache *c, struct ao_xentry *e, int rc)
{
	unsigned long cov = e->fetch_from;

	if (rc == XC_ADOPTED && e->unsynced && e->unsynced <= cov)
		cov = e->unsynced - 1;
	e->covers = cov;
	e->unsynced = 0;
	e->stale = e->meta_stale || e->covers < e->changes;
	if (e->covers >= e->changes)
		return;
	time_t now = time(NULL), at = now > e->gen_mtime ? now : e->gen_mtime + 1;
	ao_info("export: %s generation %llu is stale already: %lu change(s) marked after "
		"its export was asked for",
		e->hash, e->dgen, e->changes - e->covers);
	e->stale_at = at;
	if (!xc_meta_mark(c, e, at, 0))
		e->unsynced = e->covers + 1; /* the first mark it lacks */
}

int xc_fetch_done(struct ao_xcache *c, struct ao_xentry *e, int rc, const struct xc_refresh *rip,
		  struct ao_err *ferr)
{
	struct xc_refresh ri = *rip;
	time_t t0 = ri.t0;

	if (rc == XC_PUBLISHED)
		e->last_refresh = ri;
	e->fetch_seq++;
	if (rc >= 0) {
		xc_refresh(c, e, 1); /* still fetching: not another daemon's news */
		if (!e->have)
			rc = ao_errf(ferr, EIO, "export cache: %s/%s.meta vanished", c->dir,
				     e->hash);
	}
	e->fetching = 0;
	if (rc >= 0)
		fetched_covers(c, e, rc);
	if (rc >= 0) {
		e->last_access = time(NULL);
		if (rc == XC_PUBLISHED)
			ao_info(
			    "export: cached %s generation %llu (%lld bytes, %llds): %s refresh, "
			    "%lld changed records (%lld replaced, %lld added, %lld removed), "
			    "%lld records, %d requests, %lld bytes downloaded, %lld ms",
			    e->hash, e->dgen, e->size, (long long)time(NULL) - t0, ri.mode,
			    ri.changed, ri.replaced, ri.added, ri.removed, ri.records, ri.requests,
			    ri.bytes, ri.ms);
		else
			ao_info("export: %s generation %llu was fetched by another daemon "
				"sharing the cache",
				e->hash, e->dgen);
		rc = 0;
		evict(c, e);
	}
	e->last_rc = rc;
	snprintf(e->last_msg, sizeof(e->last_msg), "%s", rc < 0 ? ferr->msg : "");
	return rc;
}

/* Wait for a fetch of another thread (c->lock held), waking every 250 ms
 * to see whether our own caller gave up (a FUSE interrupt): -EINTR then. */
static int wait_cancellable(struct ao_xcache *c)
{
	return ao_cancel_cond_wait(&c->cond, &c->lock);
}

/* A fetch on a thread of its own (exports/grow.c: a cold export followed
 * while it downloads). It ends like one made by a reader: the waiting
 * openers share its result. */
static void *bg_main(void *arg)
{
	struct ao_xentry *e = arg;
	struct ao_xcache *c = e->bg_cache;
	struct ao_err ferr;

	ao_err_clear(&ferr);
	pthread_mutex_lock(&c->lock);
	int rc = fetch_locked(c, e, &ferr);
	e->served_stale = rc < 0 && ferr.transient && e->have;
	e->hold_until = time(NULL) + 10;
	if (e->served_stale)
		ao_warn("export: refresh failed (%s): serving the cached copy of %s", ferr.msg,
			e->hash);
	else if (rc < 0)
		ao_warn("export: fetch failed: %s", ferr.msg);
	xc_grow_drop(c, e);
	e->bg = 0;
	c->streams--;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Start it (c->lock held): 0, or -errno (then fetch in the caller). */
static int bg_fetch(struct ao_xcache *c, struct ao_xentry *e)
{
	if (!e->known)
		return -EINVAL;
	e->bg = 1;
	e->bg_cache = c;
	e->fetching = 1; /* nobody else starts one meanwhile */
	c->streams++;
	int rc = ao_sys_thread_detached(bg_main, e);
	if (rc == 0)
		return 0;
	e->bg = 0;
	e->fetching = 0;
	c->streams--;
	return -rc;
}

int ao_xcache_open(struct ao_xcache *c, struct ao_xentry *e, struct ao_xopen *o, struct ao_err *err)
{
	return ao_xcache_open_ex(c, e, o, 0, err);
}

int ao_xcache_open_ex(struct ao_xcache *c, struct ao_xentry *e, struct ao_xopen *o, int streamed,
		      struct ao_err *err)
{
	unsigned long seen_seq, want;
	int rc = 0, tries = 0;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	pthread_mutex_lock(&c->lock);
	want = e->changes; /* every change marked before this open: in what it reads */
again:
	if (!e->fetching)
		xc_refresh(c, e, 0);
	seen_seq = e->fetch_seq;
	for (;;) {
		time_t now = time(NULL);
		/* fresh, or a fetch finished since we came that holds every change
		 * marked before we came (export_ttl=0 serves it once; a change
		 * marked since does not send us round again) */
		if ((xc_is_fresh(c, e, now) || (e->have && e->fetch_seq != seen_seq &&
						e->last_rc == 0 && e->covers >= want)) &&
		    (!e->stream_dgen || streamed))
			break;
		/* a fetch ended in an error since we came without us waiting for
		 * it (a merge served while written fails in its writer thread,
		 * after our own fetch returned): share the error, do not retry */
		if (!e->fetching && e->fetch_seq != seen_seq && e->last_rc < 0 &&
		    e->last_rc != -EINTR && !e->served_stale) {
			rc = ao_errf(err, -e->last_rc, "%s", e->last_msg);
			pthread_mutex_unlock(&c->lock);
			return rc;
		}
		if (e->fetching) {
			/* a cold export downloading: its first bytes are enough */
			if (streamed && !e->have && xc_grow_attach(c, e, o) == 0) {
				pthread_mutex_unlock(&c->lock);
				return 0;
			}
			if (wait_cancellable(c) < 0) {
				pthread_mutex_unlock(&c->lock);
				return ao_errf(err, EINTR,
					       "interrupted while waiting for the export download");
			}
			/* a fetch we waited for failed: share its error, do not retry
			 * (unless its reader was interrupted: then fetch it ourselves) */
			if (!e->fetching && e->fetch_seq != seen_seq && e->last_rc < 0 &&
			    e->served_stale && e->have)
				break;
			if (!e->fetching && e->fetch_seq != seen_seq && e->last_rc < 0 &&
			    e->last_rc != -EINTR && !xc_is_fresh(c, e, time(NULL))) {
				rc = ao_errf(err, -e->last_rc, "%s", e->last_msg);
				pthread_mutex_unlock(&c->lock);
				return rc;
			}
			continue;
		}
		if (!e->known) {
			pthread_mutex_unlock(&c->lock);
			return ao_errf(err, EIO, "export cache: entry has no spec");
		}
		if (streamed && !e->have && c->cfg.first_bytes > 0 && bg_fetch(c, e) == 0)
			continue; /* followed while it downloads, or waited for */
		struct ao_err ferr;
		ao_err_clear(&ferr);
		rc = fetch_locked(c, e, &ferr);
		e->served_stale = rc < 0 && ferr.transient && e->have;
		e->hold_until = time(NULL) + 10;
		pthread_cond_broadcast(&c->cond);
		if (e->served_stale) {
			/* degraded mode: hub unreachable or the download damaged,
			 * the last good copy beats an error */
			ao_warn("export: refresh failed (%s): serving the cached copy of %s",
				ferr.msg, e->hash);
			break;
		}
		if (rc < 0) {
			pthread_mutex_unlock(&c->lock);
			if (err)
				*err = ferr;
			ao_warn("export: fetch failed: %s", ferr.msg);
			return rc;
		}
	}
	rc = open_gen(c, e, o);
	if (rc == -EAGAIN && tries++ < 5) {
		/* replaced, evicted or deleted behind our back: look again */
		if (tries > 1)
			e->gone_dgen = e->dgen; /* the meta names a file that is gone */
		xc_refresh(c, e, 1);
		goto again;
	}
	if (rc < 0) {
		rc = ao_errf(err, -rc, "export cache: opening %s generation %llu: %s", e->hash,
			     e->dgen, strerror(-rc));
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	o->gen = e->gen;
	o->mtime = shown_mtime(e);
	e->open_count++;
	e->last_access = time(NULL);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void ao_xcache_close(struct ao_xcache *c, struct ao_xentry *e, int fd)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; fd >= 0 && i < e->nholds; i++) {
		if (e->holds[i].fd != fd)
			continue;
		unsigned long long g = e->holds[i].dgen;
		struct ao_xgrow *grow = e->holds[i].grow;
		e->holds[i] = e->holds[--e->nholds];
		if (grow)
			xc_grow_close(grow);
		if (!holds_of(e, g) && e->lockfd >= 0) {
			ao_lock_byte(e->lockfd, (off_t)g, F_UNLCK, 0);
			/* an older generation: gone once nobody reads it (one still
			 * downloading, or never published: the next sweep's) */
			if (g != e->dgen && !grow)
				cd_gen_remove(c->dir, e->hash, e->lockfd, g);
		}
		break;
	}
	if (fd >= 0)
		close(fd);
	if (e->open_count > 0)
		e->open_count--;
	if (!e->open_count)
		evict(c, NULL);
	pthread_mutex_unlock(&c->lock);
}

int xc_meta_mark(struct ao_xcache *c, struct ao_xentry *e, time_t at, int touched)
{
	struct cd_meta m;
	int lfd = xc_entry_lockfd(c, e), ok;

	if (lfd < 0 || ao_lock_byte(lfd, 0, F_WRLCK, 0) < 0)
		return 0;
	int rc = cd_meta_read(c->dir, e->hash, e->key, &m, NULL);
	ok = rc == -ENOENT; /* nothing published: a later download holds it */
	if (rc == 0) {
		if (at <= m.mtime)
			at = m.mtime + 1;
		ok = 1;
		if (!m.stale || (touched && m.stale_at < at)) {
			m.stale = 1;
			m.stale_at = at;
			ok = cd_meta_write(c->dir, e->hash, e->key, &m) == 0;
		}
	}
	ao_lock_byte(lfd, 0, F_UNLCK, 0);
	return ok;
}

/* A change for e (mutex held): counted (exports/exports_int.h, changes), the current
 * generation stale here with the time it was marked (stat shows it as the
 * mtime from now on and the refresh keeps it, cachedir/cachedir.h) and, unless a fetch
 * of ours runs (fetched_covers judges its result), in H.meta for every
 * daemon. touched: a touch moves that time even if it is stale already. */
static void mark_stale_locked(struct ao_xcache *c, struct ao_xentry *e, int touched)
{
	time_t now = time(NULL), at = now > e->gen_mtime ? now : e->gen_mtime + 1;

	e->changes++;
	if (e->have) {
		if (!e->stale || (touched && e->stale_at < at))
			e->stale_at = at;
		e->stale = 1;
	}
	/* the first such mark: every mark from it on may be missing from what
	 * another daemon publishes (a later one must not replace it) */
	if ((e->fetching || !xc_meta_mark(c, e, at, touched)) && !e->unsynced)
		e->unsynced = e->changes;
}

static void mark_stale(struct ao_xcache *c, struct ao_xentry *e, int touched)
{
	pthread_mutex_lock(&c->lock);
	if (!e->fetching)
		xc_refresh(c, e, 0);
	mark_stale_locked(c, e, touched);
	pthread_mutex_unlock(&c->lock);
}

void ao_xcache_mark_stale(struct ao_xcache *c, struct ao_xentry *e)
{
	mark_stale(c, e, 0);
}

void ao_xcache_touched(struct ao_xcache *c, struct ao_xentry *e)
{
	mark_stale(c, e, 1);
}

void ao_xcache_project_stale(struct ao_xcache *c, const char *project_id)
{
	pthread_mutex_lock(&c->lock);
	xc_discover(c);
	for (struct ao_xentry *e = c->entries; e; e = e->next) {
		/* entries loaded from disk know their project only through the key */
		int match = e->known ? strcmp(e->project_id, project_id) == 0 : 0;
		if (!e->known) {
			const char *p = strstr(e->key, "\nproject=");
			size_t n = strlen(project_id);
			match = p && strncmp(p + 9, project_id, n) == 0 && p[9 + n] == '\n';
		}
		if (match) {
			if (!e->fetching)
				xc_refresh(c, e, 0);
			mark_stale_locked(c, e, 0);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

unsigned long ao_xcache_changes(struct ao_xcache *c, struct ao_xentry *e)
{
	pthread_mutex_lock(&c->lock);
	unsigned long n = e->changes;
	pthread_mutex_unlock(&c->lock);
	return n;
}

unsigned long ao_xcache_gen(struct ao_xcache *c, struct ao_xentry *e)
{
	pthread_mutex_lock(&c->lock);
	unsigned long g = e->have ? e->gen : 0;
	pthread_mutex_unlock(&c->lock);
	return g;
}

int ao_xcache_fd_ident(struct ao_xcache *c, struct ao_xentry *e, int fd, char *buf, size_t n)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < e->nholds; i++)
		if (e->holds[i].fd == fd) {
			snprintf(buf, n, "%s.%llu", e->hash, e->holds[i].dgen);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
