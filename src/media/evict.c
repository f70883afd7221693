/*
 * evict.c - the media cache's size cap (include/angofs/media.h).
 *
 * Design choice: the cap is checked from an estimate (bytes found by the
 * last directory scan plus every download since), so a stream of small
 * images costs no directory scan each; only when the estimate passes the cap
 * is media/ (and exports/, which counts toward the same cap) scanned, and
 * the least recently opened media objects removed until the total fits.
 * An object is removed only if no handle of this daemon has it (the table)
 * and no other daemon has it open or is publishing it (its byte G and byte
 * 0 of H.lock can be write-locked without waiting); the probe descriptor of
 * H.lock is opened and closed under m->lock so no object of that hash can
 * appear (and take a lock through another descriptor) meanwhile. Temp files
 * left by a dead downloader are removed after an hour.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "media/media_int.h"
#include "../cachedir/cachedir.h"

struct victim {
	char hash[17];
	unsigned long long gen;
	long long size;
	time_t atime;
};

static long long dir_data_bytes(const char *dir)
{
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	long long sum = 0;
	struct stat st;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n > 5 && !strcmp(de->d_name + n - 5, ".data") &&
		    fstatat(dirfd(d), de->d_name, &st, 0) == 0)
			sum += st.st_size;
	}
	closedir(d);
	return sum;
}

/* "<16 hex>.<gen>.data" -> hash, gen; 0 if not one. */
static int parse_name(const char *name, struct victim *v)
{
	char *end;
	size_t n = strlen(name);

	if (n < 23 || name[16] != '.' || strcmp(name + n - 5, ".data") != 0)
		return 0;
	memcpy(v->hash, name, 16);
	v->hash[16] = '\0';
	v->gen = strtoull(name + 17, &end, 10);
	return v->gen && end == name + n - 5;
}

static int cmp_atime(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	return x->atime < y->atime ? -1 : x->atime > y->atime;
}

/* Every media data file (and stale temp files removed); total bytes. */
static struct victim *scan(struct ao_media *m, size_t *nv, long long *total)
{
	DIR *d = opendir(m->cfg.dir);
	struct victim *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat st;

	*total = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		struct victim x;

		if (strstr(de->d_name, ".tmp-")) {
			if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
			    st.st_mtime < time(NULL) - 3600)
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (!parse_name(de->d_name, &x) || fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		x.size = st.st_size;
		x.atime = st.st_mtime;
		*total += x.size;
		if (n == cap) {
			struct victim *nvv = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
			if (!nvv)
				break;
			v = nvv;
		}
		v[n++] = x;
	}
	closedir(d);
	*nv = n;
	return v;
}

/* 1 if an object of hash is in use here; one only kept open (refs 0) is
 * taken out of the table and put on *freed (for mo_free, no lock held). */
static int in_table(struct ao_media *m, const char *hash, struct mobj **freed)
{
	unsigned long long h = strtoull(hash, NULL, 16);

	for (struct mobj *o = m->tab[h % MEDIA_BUCKETS]; o; o = o->next)
		if (!strcmp(o->hash, hash)) {
			if (!o->kept)
				return 1;
			mo_keep_drop(m, o);
			o->knext = *freed;
			*freed = o;
			return in_table(m, hash, freed);
		}
	return 0;
}

/* Remove one generation if nobody anywhere uses it. m->lock held. */
static int evict_one(struct ao_media *m, const struct victim *v, struct mobj **freed)
{
	char path[4096];
	int fd, removed = 0;

	if (in_table(m, v->hash, freed))
		return 0;
	cd_path(m->cfg.dir, v->hash, "lock", path, sizeof(path));
	fd = ao_lock_open(path);
	if (fd < 0)
		return 0;
	if (ao_lock_byte(fd, 0, F_WRLCK, 0) == 0) {
		char mpath[4096];

		/* a meta naming this generation goes with it */
		cd_path(m->cfg.dir, v->hash, "meta", mpath, sizeof(mpath));
		removed = cd_gen_remove(m->cfg.dir, v->hash, fd, v->gen);
		json_t *j = removed ? json_load_file(mpath, 0, NULL) : NULL;
		if (j &&
		    (unsigned long long)json_integer_value(json_object_get(j, "gen")) == v->gen)
			unlink(mpath);
		json_decref(j);
		ao_lock_byte(fd, 0, F_UNLCK, 0);
	}
	close(fd);
	return removed;
}

void me_after_download(struct ao_media *m, long long size)
{
	long long total, xbytes, cap = m->cfg.max_bytes;
	struct victim *v;
	size_t n = 0;

	if (cap <= 0)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->est_bytes >= 0) {
		m->est_bytes += size;
		if (m->est_bytes <= cap) {
			pthread_mutex_unlock(&m->lock);
			return;
		}
	}
	m->est_bytes = 0; /* one scanner at a time: others add to the estimate */
	mo_keep_flush(m); /* the order below is this daemon's exact one */
	pthread_mutex_unlock(&m->lock);
	xbytes = dir_data_bytes(m->cfg.xdir) + cd_pinned_bytes(m->cfg.pin_dir);
	v = scan(m, &n, &total);
	total += xbytes;
	if (v && total > cap) {
		qsort(v, n, sizeof(*v), cmp_atime);
		for (size_t i = 0; i < n && total > cap; i++) {
			struct mobj *freed = NULL;
			pthread_mutex_lock(&m->lock);
			int gone = evict_one(m, &v[i], &freed);
			if (gone)
				m->st.evictions++;
			pthread_mutex_unlock(&m->lock);
			while (freed) {
				struct mobj *o = freed;
				freed = o->knext;
				mo_free(o);
			}
			if (gone) {
				total -= v[i].size;
				ao_info("media cache: evicted %s.%llu (%lld bytes; cache over cap "
					"%lld)",
					v[i].hash, v[i].gen, v[i].size, cap);
			}
		}
	}
	free(v);
	pthread_mutex_lock(&m->lock);
	m->est_bytes += total;
	pthread_mutex_unlock(&m->lock);
}
