/*
 * export_cache.c - on-disk export cache with single-flight fetches (design in
 * include/angofs/export_cache.h).
 *
 * Locking: one mutex for the entry table and every entry's state; a condition
 * variable wakes openers waiting for a fetch. The fetch itself (HTTP, unzip,
 * rename) runs without the lock, guarded by the entry's `fetching` flag.
 * Progress counters are updated with relaxed atomics so the status file can
 * read them while the download runs.
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
#include "angofs/hub.h"
#include "angofs/log.h"
#include "angofs/unzip.h"
#include "angofs/sysutil.h"

/* A temp file untouched this long belongs to no running fetch (downloads
 * stall out after a minute). */
#define TMP_MAX_AGE_S 3600

/* Every field of an entry is guarded by c->lock, except done/total (relaxed
 * atomics, written by the fetching thread) and the spec fields (set once).
 * c->lock is a leaf held only for bookkeeping and local files (meta writes,
 * eviction), never across GET /export or the download: those run on an entry
 * marked `fetching`, and waiters sleep on c->cond (waking every 250 ms to
 * honour an interrupt of their own request). */
struct ao_xentry {
	struct ao_xentry *next;
	char *key;
	char hash[17];
	char *project_id, *stage_id, *batch_id;
	enum ao_xtype type;
	int ndjson, lean;
	int known; /* spec fields are set (entries loaded from disk lack them) */

	int have; /* data file present and complete */
	long long size;
	time_t fetched_at, last_access, meta_access;
	int stale;
	int fetching;
	unsigned long gen, attr_gen, open_gen;
	unsigned long fetch_seq; /* completed fetch attempts */
	int last_rc;
	int served_stale;  /* the last fetch failed transiently: the old copy is served */
	time_t hold_until; /* ... without asking the hub again until then */
	char last_msg[AO_ERR_MSG_MAX];
	int open_count;
	/* a new generation arrived while handles of an older one were open: their
	 * READs may fill the kernel's page cache with old bytes, and they read with
	 * the kernel's file size. Until the last handle closes, every open gets
	 * direct_io and stat keeps showing the size the kernel has (attr_size); the
	 * next open after that sees `changed` and drops the kernel's copy. */
	int gens_mixed;
	long long attr_size;
	time_t attr_mtime;
	/* mtime of the generation in the cache; shown_at: first stat while none
	 * was cached, the mtime the next fetch keeps (within the TTL) so a copy
	 * made from the listing stays in sync (rsync -a twice copies nothing) */
	time_t gen_mtime, shown_at;
	long long done, total; /* progress, atomics */
};

struct ao_xcache {
	struct ao_xcache_cfg cfg;
	char *dir, *host, *task_types;
	struct ao_xhooks hooks; /* set once before the first open; read-only after */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ao_xentry *entries;
	unsigned long next_gen;
};

unsigned long long ao_xcache_hash(const char *s)
{
	unsigned long long h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

char *ao_xcache_key(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s)
{
	char *k;
	if (asprintf(
		&k,
		"v2\nhost=%s\nproject=%s\ntype=%s\nformat=%s\nstage=%s\nbatch=%s\n"
		"meta=%d history=%d keyframes=%d idleblur=%d tasktypes=%s lean=%d\n",
		cfg->host ? cfg->host : "", s->project_id, s->type == AO_X_ISSUE ? "issue" : "task",
		s->ndjson ? "ndjson" : "json", s->stage_id ? s->stage_id : "",
		s->batch_id ? s->batch_id : "", s->lean ? 0 : cfg->include_metadata,
		s->lean ? 0 : cfg->include_history, s->lean ? 0 : cfg->include_only_key_frames,
		s->lean ? 0 : cfg->include_idle_blur,
		cfg->task_types_json ? cfg->task_types_json : AO_XCACHE_TASK_TYPES, s->lean) < 0)
		return NULL;
	return k;
}

/* JSON array of one string, percent-escaped for a query. */
static char *json_array1_escaped(const char *v)
{
	json_t *a = json_pack("[s]", v);
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	char *e = s ? hub_escape(s) : NULL;
	json_decref(a);
	free(s);
	return e;
}

char *ao_xcache_query(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s)
{
	return ao_xcache_query_stages(cfg, s, NULL);
}

char *ao_xcache_query_stages(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s,
			     const char *stages_json)
{
	char *pid = hub_escape(s->project_id), *stage = NULL, *batch = NULL, *tt = NULL;
	char *q = NULL;

	/* explicit filters, never the hub's defaults (Complete only, default
	 * tasks only): a view without a stage sends every stage of the project */
	if (s->type == AO_X_TASK && s->stage_id)
		stage = json_array1_escaped(s->stage_id);
	else if (s->type == AO_X_TASK && stages_json)
		stage = hub_escape(stages_json);
	if (s->batch_id)
		batch = json_array1_escaped(s->batch_id);
	if (s->type == AO_X_TASK)
		tt = hub_escape(cfg->task_types_json ? cfg->task_types_json : AO_XCACHE_TASK_TYPES);
#define TF(x) ((x) && !s->lean ? "true" : "false")
	if (pid &&
	    asprintf(&q,
		     "/export?project=%s&type=%s&format=%s%s%s%s%s&includeMetadata=%s"
		     "&includeHistory=%s&includeOnlyKeyFrames=%s"
		     "&includeIdleBlurDurations=%s%s%s&sendEmail=false&doNotNotify=true",
		     pid, s->type == AO_X_ISSUE ? "issue" : "task", s->ndjson ? "ndjson" : "json",
		     stage ? "&stage=" : "", stage ? stage : "", batch ? "&batches=" : "",
		     batch ? batch : "", TF(cfg->include_metadata), TF(cfg->include_history),
		     TF(cfg->include_only_key_frames), TF(cfg->include_idle_blur),
		     tt ? "&taskTypes=" : "", tt ? tt : "") < 0)
		q = NULL;
#undef TF
	free(pid);
	free(stage);
	free(batch);
	free(tt);
	return q;
}

static void entry_path(struct ao_xcache *c, struct ao_xentry *e, const char *ext, char *buf,
		       size_t sz)
{
	snprintf(buf, sz, "%s/%s.%s", c->dir, e->hash, ext);
}

static int write_meta(struct ao_xcache *c, struct ao_xentry *e)
{
	char path[4096], tmp[4200];
	json_t *j;
	int fd, rc = 0;

	entry_path(c, e, "meta", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	j = json_pack("{s:i,s:s,s:I,s:I,s:b,s:I}", "version", 1, "key", e->key, "size",
		      (json_int_t)e->size, "fetched_at", (json_int_t)e->fetched_at, "stale",
		      e->stale, "last_access", (json_int_t)e->last_access);
	if (!j)
		return -ENOMEM;
	fd = mkstemp(tmp);
	if (fd < 0) {
		json_decref(j);
		return -errno;
	}
	fchmod(fd, 0600);
	if (json_dumpfd(j, fd, JSON_COMPACT) < 0 || close(fd) < 0)
		rc = -EIO;
	json_decref(j);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		ao_warn("export cache: cannot write %s: %s", path, strerror(-rc));
	}
	e->meta_access = e->last_access;
	return rc;
}

static void drop_files(struct ao_xcache *c, struct ao_xentry *e)
{
	char path[4096];
	entry_path(c, e, "data", path, sizeof(path));
	unlink(path);
	entry_path(c, e, "meta", path, sizeof(path));
	unlink(path);
	e->have = 0;
	e->size = 0;
}

static struct ao_xentry *find_hash(struct ao_xcache *c, const char *hash, const char *key)
{
	for (struct ao_xentry *e = c->entries; e; e = e->next)
		if (strcmp(e->hash, hash) == 0 && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Load one <hash>.meta written by an earlier run. */
static void load_meta(struct ao_xcache *c, const char *name)
{
	char path[4096], dpath[4096];
	json_t *j;
	struct stat st;
	size_t hl = strlen(name) - 5;

	if (hl != 16)
		return;
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	j = json_load_file(path, 0, NULL);
	const char *key = json_string_value(json_object_get(j, "key"));
	struct ao_xentry *e = calloc(1, sizeof(*e));
	if (!j || !key || !e) {
		free(e);
		json_decref(j);
		unlink(path);
		return;
	}
	memcpy(e->hash, name, 16);
	e->hash[16] = '\0';
	snprintf(dpath, sizeof(dpath), "%s/%s.data", c->dir, e->hash);
	char hx[17];
	snprintf(hx, sizeof(hx), "%016llx", ao_xcache_hash(key));
	e->size = json_integer_value(json_object_get(j, "size"));
	if (strcmp(hx, e->hash) != 0 || stat(dpath, &st) < 0 || st.st_size != e->size) {
		/* mismatch or incomplete data: not trustworthy */
		unlink(dpath);
		unlink(path);
		free(e);
		json_decref(j);
		return;
	}
	e->key = strdup(key);
	e->fetched_at = (time_t)json_integer_value(json_object_get(j, "fetched_at"));
	e->last_access = (time_t)json_integer_value(json_object_get(j, "last_access"));
	e->meta_access = e->last_access;
	e->stale = json_is_true(json_object_get(j, "stale"));
	e->have = 1;
	e->gen = ++c->next_gen;
	json_decref(j);
	if (!e->key) {
		free(e);
		return;
	}
	e->next = c->entries;
	c->entries = e;
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
		char p[4096];
		if (strstr(de->d_name, ".tmp-")) {
			/* leftovers of a fetch interrupted by a crash; another daemon
			 * sharing this cache may be writing a fresh one right now */
			struct stat st;
			snprintf(p, sizeof(p), "%s/%s", c->dir, de->d_name);
			if (stat(p, &st) == 0 && time(NULL) - st.st_mtime > TMP_MAX_AGE_S)
				unlink(p);
		} else if (n > 5 && strcmp(de->d_name + n - 5, ".meta") == 0) {
			load_meta(c, de->d_name);
		}
	}
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
	while (c->entries) {
		struct ao_xentry *e = c->entries;
		c->entries = e->next;
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
	snprintf(hash, sizeof(hash), "%016llx", ao_xcache_hash(key));
	pthread_mutex_lock(&c->lock);
	e = find_hash(c, hash, key);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (e) {
			e->key = key;
			key = NULL;
			memcpy(e->hash, hash, sizeof(hash));
			e->next = c->entries;
			c->entries = e;
		}
	}
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

int ao_xcache_stat(struct ao_xcache *c, struct ao_xentry *e, long long *size, time_t *mtime)
{
	int known;

	pthread_mutex_lock(&c->lock);
	if (e->gens_mixed && e->attr_gen) {
		*size = e->attr_size;
		*mtime = e->attr_mtime;
		known = 1;
	} else {
		if (!e->have && !e->shown_at)
			e->shown_at = time(NULL);
		*size = e->attr_size = e->have ? e->size : 0;
		*mtime = e->attr_mtime =
		    e->have ? (e->gen_mtime ? e->gen_mtime : e->fetched_at) : e->shown_at;
		e->attr_gen = e->gen;
		known = e->have;
	}
	pthread_mutex_unlock(&c->lock);
	return known;
}

static int is_fresh(struct ao_xcache *c, struct ao_xentry *e, time_t now)
{
	if (e->have && e->served_stale && now < e->hold_until)
		return 1; /* degraded mode: hub unreachable a moment ago */
	return e->have && !e->stale && now - e->fetched_at < c->cfg.ttl_s && now >= e->fetched_at;
}

int ao_xcache_fresh(struct ao_xcache *c, struct ao_xentry *e)
{
	pthread_mutex_lock(&c->lock);
	int f = is_fresh(c, e, time(NULL));
	pthread_mutex_unlock(&c->lock);
	return f;
}

struct fetch_ctx {
	int fd;
	struct ao_xentry *e;
	struct ao_err *err;
	struct ao_unzip_stream *zs; /* NULL once the stream gave up */
	int zs_failed;
};

/* The zip goes to its temp file and, while the stream keeps up, to the
 * inflating worker: the export is unzipped as it downloads. */
static int sink_fd(void *ud, const void *buf, size_t len)
{
	struct fetch_ctx *f = ud;
	if (f->zs && !f->zs_failed && ao_unzip_stream_feed(f->zs, buf, len) < 0)
		f->zs_failed = 1; /* finish() tells why; the file fallback decides */
	return ao_write_all(f->fd, buf, len);
}

static void on_progress(void *ud, long long done, long long total)
{
	struct fetch_ctx *f = ud;
	__atomic_store_n(&f->e->done, done, __ATOMIC_RELAXED);
	__atomic_store_n(&f->e->total, total, __ATOMIC_RELAXED);
}

/* Fetch e into its data file. Runs without the lock (e->fetching is set). */
static int fetch(struct ao_xcache *c, struct ao_xentry *e, long long *size, struct ao_err *err)
{
	struct ao_xspec s = {e->project_id, e->type, e->ndjson, e->stage_id, e->batch_id, e->lean};
	char zpath[4300], dtmp[4300] = "", dpath[4096], *stages = NULL;
	json_t *data = NULL;
	int zfd = -1, dfd = -1, rc;

	if (s.type == AO_X_TASK && !s.stage_id && c->hooks.all_stages) {
		rc = c->hooks.all_stages(c->hooks.ud, s.project_id, &stages, err);
		if (rc < 0)
			return rc;
	}
	char *q = ao_xcache_query_stages(&c->cfg, &s, stages);
	free(stages);
	if (!q)
		return ao_errf(err, ENOMEM, "out of memory");
	__atomic_store_n(&e->done, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&e->total, -1, __ATOMIC_RELAXED);
	rc = hub_get(c->cfg.hub, q, &data, err);
	free(q);
	if (rc < 0)
		return rc;
	const char *url = json_string_value(json_object_get(data, "exportPath"));
	if (!url || !*url) {
		json_decref(data);
		return ao_errf(err, EPROTO, "GET /export: the reply has no data.exportPath");
	}
	entry_path(c, e, "zip.tmp-XXXXXX", zpath, sizeof(zpath));
	zfd = mkstemp(zpath);
	if (zfd < 0) {
		json_decref(data);
		return ao_errf(err, errno, "export cache: %s", strerror(errno));
	}
	entry_path(c, e, "data.tmp-XXXXXX", dtmp, sizeof(dtmp));
	dfd = mkstemp(dtmp);
	if (dfd < 0) {
		rc = ao_errf(err, errno, "export cache: %s", strerror(errno));
		close(zfd);
		json_decref(data);
		goto out;
	}
	struct fetch_ctx f = {zfd, e, err, NULL, 0};
	struct ao_err zerr;
	ao_err_clear(&zerr);
	if (ao_unzip_stream_start(&f.zs, dfd, &zerr) < 0)
		f.zs = NULL; /* extract from the file afterwards */
	rc = hub_download(c->cfg.hub, url, sink_fd, on_progress, &f, err);
	json_decref(data);
	if (close(zfd) < 0 && rc == 0)
		rc = ao_errf(err, errno, "export cache: writing the zip: %s", strerror(errno));
	int streamed = f.zs != NULL;
	int zrc = streamed ? ao_unzip_stream_finish(f.zs, size, &zerr) : -EIO;
	f.zs = NULL;
	if (rc < 0)
		goto out;
	if (zrc == 0)
		zrc = ao_unzip_verify(zpath, *size, &zerr);
	if (zrc < 0) {
		/* the stream could not read this zip front to back (or it is
		 * corrupt): the file reader, with the central directory, decides */
		if (streamed)
			ao_debug("export: streamed unzip failed (%s); reading the zip file",
				 zerr.msg);
		if (ftruncate(dfd, 0) < 0 || lseek(dfd, 0, SEEK_SET) < 0)
			rc = ao_errf(err, errno, "export cache: %s", strerror(errno));
		else
			rc = ao_unzip_first(zpath, dfd, size, err);
	}
	if (close(dfd) < 0 && rc == 0)
		rc = ao_errf(err, errno, "export cache: %s", strerror(errno));
	dfd = -1;
	if (rc == 0) {
		entry_path(c, e, "data", dpath, sizeof(dpath));
		if (rename(dtmp, dpath) < 0)
			rc = ao_errf(err, errno, "export cache: %s", strerror(errno));
		else if (c->hooks.fetched)
			c->hooks.fetched(c->hooks.ud, &s, dpath, *size);
	}
out:
	if (dfd >= 0)
		close(dfd);
	if (rc < 0 && dtmp[0])
		unlink(dtmp);
	unlink(zpath);
	return rc;
}

static void evict(struct ao_xcache *c, struct ao_xentry *keep)
{
	long long total = 0;

	if (!c->cfg.max_bytes)
		return;
	for (struct ao_xentry *e = c->entries; e; e = e->next)
		if (e->have)
			total += e->size;
	while (total > c->cfg.max_bytes) {
		struct ao_xentry *victim = NULL;
		for (struct ao_xentry *e = c->entries; e; e = e->next)
			if (e->have && e != keep && !e->open_count && !e->fetching &&
			    (!victim || e->last_access < victim->last_access))
				victim = e;
		if (!victim)
			break;
		ao_info("export cache: evicting %s (%lld bytes; cache %lld > cap %lld)",
			victim->hash, victim->size, total, c->cfg.max_bytes);
		total -= victim->size;
		drop_files(c, victim);
	}
}

/* Wait for a fetch of another thread (c->lock held), waking every 250 ms
 * to see whether our own caller gave up (a FUSE interrupt): -EINTR then. */
static int wait_cancellable(struct ao_xcache *c)
{
	struct timespec ts;

	if (ao_cancelled())
		return -EINTR;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 250 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	return ao_cancelled() ? -EINTR : 0;
}

int ao_xcache_open(struct ao_xcache *c, struct ao_xentry *e, struct ao_xopen *o, struct ao_err *err)
{
	char path[4096];
	unsigned long seen_seq;
	int rc = 0, retried = 0;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	pthread_mutex_lock(&c->lock);
again:
	seen_seq = e->fetch_seq;
	for (;;) {
		time_t now = time(NULL);
		/* fresh, or a fetch finished since we came (export_ttl=0 serves it once) */
		if (is_fresh(c, e, now) || (e->have && e->fetch_seq != seen_seq && e->last_rc == 0))
			break;
		if (e->fetching) {
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
			    e->last_rc != -EINTR && !is_fresh(c, e, time(NULL))) {
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
		e->fetching = 1;
		pthread_mutex_unlock(&c->lock);

		long long size = 0;
		struct ao_err ferr;
		ao_err_clear(&ferr);
		long long t0 = time(NULL);
		ao_info("export: fetching %s%s%s%s%s %s.%s", e->project_id,
			e->stage_id ? " stage " : "", e->stage_id ? e->stage_id : "",
			e->batch_id ? " batch " : "", e->batch_id ? e->batch_id : "",
			e->type == AO_X_ISSUE ? "issues" : "tasks", e->ndjson ? "ndjson" : "json");
		rc = fetch(c, e, &size, &ferr);

		pthread_mutex_lock(&c->lock);
		e->fetching = 0;
		e->fetch_seq++;
		e->last_rc = rc;
		snprintf(e->last_msg, sizeof(e->last_msg), "%s", ferr.msg);
		if (rc == 0) {
			time_t done_at = time(NULL);
			e->gen_mtime =
			    !e->have && e->shown_at && done_at - e->shown_at < c->cfg.ttl_s
				? e->shown_at
				: done_at;
			e->shown_at = 0;
			e->have = 1;
			e->size = size;
			e->fetched_at = done_at;
			e->last_access = e->fetched_at;
			e->stale = 0;
			e->gen = ++c->next_gen;
			if (e->open_count > 0)
				e->gens_mixed = 1;
			write_meta(c, e);
			ao_info("export: cached %s (%lld bytes, %llds)", e->hash, size,
				(long long)time(NULL) - t0);
			evict(c, e);
		}
		e->served_stale = rc < 0 && ferr.transient && e->have;
		e->hold_until = time(NULL) + 10;
		pthread_cond_broadcast(&c->cond);
		if (e->served_stale) {
			/* degraded mode: hub unreachable, the last good copy beats an error */
			ao_warn("export: hub unreachable (%s): serving the cached copy of %s",
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
	entry_path(c, e, "data", path, sizeof(path));
	o->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (o->fd < 0 && errno == ENOENT && !retried) {
		/* evicted behind our back (another daemon sharing the cache): fetch */
		e->have = 0;
		retried = 1;
		goto again;
	}
	if (o->fd < 0) {
		rc = ao_errf(err, errno, "export cache: opening %s: %s", path, strerror(errno));
		e->have = 0;
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	o->size = e->size;
	o->changed = e->gen != e->attr_gen;
	/* the adapter invalidates the kernel's copy synchronously when nobody
	 * else has the file open (no page of it can be locked by a read in
	 * flight); otherwise direct_io and a deferred invalidation */
	o->direct_io = (o->changed && e->open_count > 0) || e->gens_mixed;
	e->open_count++;
	o->keep_cache = !o->changed && e->open_gen == e->gen && !e->gens_mixed;
	e->open_gen = e->gen;
	e->last_access = time(NULL);
	if (e->last_access - e->meta_access > 60)
		write_meta(c, e);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void ao_xcache_close(struct ao_xcache *c, struct ao_xentry *e, int fd)
{
	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&c->lock);
	if (e->open_count > 0)
		e->open_count--;
	if (!e->open_count && e->gens_mixed) {
		e->gens_mixed = 0;
		e->open_gen = 0; /* the page cache may hold old bytes: no keep_cache */
	}
	if (!e->open_count)
		evict(c, NULL);
	pthread_mutex_unlock(&c->lock);
}

void ao_xcache_mark_stale(struct ao_xcache *c, struct ao_xentry *e)
{
	pthread_mutex_lock(&c->lock);
	if (e->have && !e->stale) {
		e->stale = 1;
		write_meta(c, e);
	}
	pthread_mutex_unlock(&c->lock);
}

void ao_xcache_project_stale(struct ao_xcache *c, const char *project_id)
{
	pthread_mutex_lock(&c->lock);
	for (struct ao_xentry *e = c->entries; e; e = e->next) {
		/* entries loaded from disk know their project only through the key */
		int match = e->known ? strcmp(e->project_id, project_id) == 0 : 0;
		if (!e->known) {
			const char *p = strstr(e->key, "\nproject=");
			size_t n = strlen(project_id);
			match = p && strncmp(p + 9, project_id, n) == 0 && p[9 + n] == '\n';
		}
		if (match && e->have && !e->stale) {
			e->stale = 1;
			write_meta(c, e);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

unsigned long ao_xcache_gen(struct ao_xcache *c, struct ao_xentry *e)
{
	pthread_mutex_lock(&c->lock);
	unsigned long g = e->have ? e->gen : 0;
	pthread_mutex_unlock(&c->lock);
	return g;
}

json_t *ao_xcache_status(struct ao_xcache *c)
{
	json_t *arr = json_array();
	time_t now = time(NULL);
	long long total = 0;

	pthread_mutex_lock(&c->lock);
	for (struct ao_xentry *e = c->entries; e; e = e->next) {
		if (!e->have && !e->fetching && e->last_rc == 0)
			continue; /* never fetched: nothing to report */
		if (e->have)
			total += e->size;
		const char *state = e->fetching		  ? "downloading"
				    : !e->have		  ? (e->last_rc < 0 ? "failed" : "absent")
				    : is_fresh(c, e, now) ? "cached"
							  : "stale";
		json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:i}", "id", e->hash, "state", state,
				      "size", (json_int_t)(e->have ? e->size : 0), "bytes_done",
				      (json_int_t)__atomic_load_n(&e->done, __ATOMIC_RELAXED),
				      "bytes_total",
				      (json_int_t)__atomic_load_n(&e->total, __ATOMIC_RELAXED),
				      "open", e->open_count);
		if (!o)
			continue;
		if (e->known) {
			json_object_set_new(o, "project", json_string(e->project_id));
			json_object_set_new(o, "type",
					    json_string(e->type == AO_X_ISSUE ? "issue" : "task"));
			json_object_set_new(o, "format",
					    json_string(e->ndjson ? "ndjson" : "json"));
			if (e->stage_id)
				json_object_set_new(o, "stage", json_string(e->stage_id));
			if (e->batch_id)
				json_object_set_new(o, "batch", json_string(e->batch_id));
			if (e->lean)
				json_object_set_new(o, "purpose", json_string("tasks/ listing"));
		}
		if (e->have)
			json_object_set_new(o, "fetched_at", json_integer(e->fetched_at));
		if (e->last_rc < 0 && e->last_msg[0])
			json_object_set_new(o, "last_error", json_string(e->last_msg));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&c->lock);
	return json_pack("{s:o,s:I,s:I,s:I}", "exports", arr, "cache_bytes", (json_int_t)total,
			 "cache_cap", (json_int_t)c->cfg.max_bytes, "ttl_s",
			 (json_int_t)c->cfg.ttl_s);
}
