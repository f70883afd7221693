/*
 * discover.c - what a daemon learns from the shared export directory rather than
 * from its own fetches: the entries on disk at start-up (format 1 metas
 * migrated to generation 1, data that disagrees with its meta dropped,
 * generations left by dead daemons swept when no download is under way), the
 * leftovers of interrupted fetches (removed by age), and the entries other
 * daemons published since (learnt before a write marks a project stale).
 * Runs with c->lock held (or before any other thread exists).
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

#include "angofs/hash.h"
#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "exports_int.h"
#include "../cachedir/cachedir.h"

/* Format 1 (one <hash>.data, rewritten in place) becomes generation 1. */
static void migrate_v1(struct ao_xcache *c, struct ao_xentry *e, json_t *j)
{
	char from[4096], to[4096];
	struct cd_meta m = {.gen = 1,
			    .size = json_integer_value(json_object_get(j, "size")),
			    .fetched_at =
				(time_t)json_integer_value(json_object_get(j, "fetched_at")),
			    .stale = json_is_true(json_object_get(j, "stale"))};
	struct stat st;
	int lfd = xc_entry_lockfd(c, e);

	if (lfd < 0 || ao_lock_byte(lfd, 0, F_WRLCK, 0) < 0)
		return;
	cd_path(c->dir, e->hash, "data", from, sizeof(from));
	cd_data_path(c->dir, e->hash, 1, to, sizeof(to));
	if (stat(from, &st) == 0 && st.st_size == m.size && rename(from, to) == 0)
		cd_meta_write(c->dir, e->hash, e->key, &m);
	ao_lock_byte(lfd, 0, F_UNLCK, 0);
}

/* Load one <hash>.meta found at start (mutex not needed yet). */
void xc_load_meta(struct ao_xcache *c, const char *name)
{
	char path[4096], hx[17], hash[17];
	struct stat st;

	if (strlen(name) != 21)
		return;
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	json_t *j = json_load_file(path, 0, NULL);
	const char *key = json_string_value(json_object_get(j, "key"));
	memcpy(hash, name, 16);
	hash[16] = '\0';
	if (key)
		snprintf(hx, sizeof(hx), "%016llx", ao_hash_str(key));
	char *k = key && strcmp(hx, hash) == 0 ? strdup(key) : NULL;
	struct ao_xentry *e = k && !xc_find_hash(c, hash, k) ? xc_entry_new(c, hash, k) : NULL;
	if (!e) {
		free(k);
		json_decref(j);
		return;
	}
	if (json_integer_value(json_object_get(j, "version")) == 1)
		migrate_v1(c, e, j);
	json_decref(j);
	xc_refresh(c, e, 1);
	if (!e->have)
		return;
	cd_data_path(c->dir, e->hash, e->dgen, path, sizeof(path));
	if (stat(path, &st) < 0 || st.st_size != e->size) {
		/* data and meta disagree (a crash, a hand edit): not trustworthy */
		ao_warn("export cache: %s does not match its meta: dropped", path);
		xc_evict_one(c, e);
		return;
	}
	e->last_access = st.st_mtime;
	/* generations left by daemons that died, if no download is under way */
	if (e->lockfd >= 0 || xc_entry_lockfd(c, e) >= 0) {
		if (ao_lock_byte(e->lockfd, 0, F_WRLCK, 0) == 0) {
			cd_gen_sweep(c->dir, e->hash, e->lockfd, e->dgen, NULL, 0);
			ao_lock_byte(e->lockfd, 0, F_UNLCK, 0);
		}
	}
}

/* A leftover of a fetch or a publication interrupted by a crash (another
 * daemon sharing this cache may be writing a fresh one right now: only old
 * files go). */
void xc_drop_leftover(struct ao_xcache *c, const char *name)
{
	size_t n = strlen(name);
	char p[4096], m[4096];
	struct stat st;

	int gen_file = (n > 5 && strcmp(name + n - 5, ".data") == 0) ||
		       (n > 4 && strcmp(name + n - 4, ".idx") == 0);
	if (!strstr(name, ".tmp-") && !gen_file)
		return;
	snprintf(p, sizeof(p), "%s/%s", c->dir, name);
	if (!strstr(name, ".tmp-") && n > 16) {
		snprintf(m, sizeof(m), "%s/%.16s.meta", c->dir, name);
		if (access(m, F_OK) == 0)
			return; /* the entry's own sweep decides */
	}
	if (stat(p, &st) == 0 && time(NULL) - st.st_mtime > TMP_MAX_AGE_S)
		unlink(p);
}

/* Is byte 0 of lock file `name` (the publish lock) held by another daemon:
 * a download under way? F_GETLK takes nothing; this daemon holds no lock on
 * a file it has no entry for, so closing the descriptor drops none. */
static int publishing(struct ao_xcache *c, const char *name)
{
	char p[4096];
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};

	snprintf(p, sizeof(p), "%s/%s", c->dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	close(fd);
	return held;
}

static int known_hash(struct ao_xcache *c, const char *name)
{
	for (struct ao_xentry *e = c->entries; e; e = e->next)
		if (strncmp(e->hash, name, 16) == 0)
			return 1;
	return 0;
}

/* Learn the entries other daemons published since this one started (mutex
 * held): a write here must make their exports stale too. And note the
 * exports another daemon is downloading for the first time (a held publish
 * lock, no meta yet): this daemon has no entry to mark, so the entry it
 * creates later starts with one unsynced mark (xc_entry_new), and the
 * generation that download publishes does not count as holding the write. */
void xc_discover(struct ao_xcache *c)
{
	DIR *d = opendir(c->dir);
	struct dirent *de;
	char locks[XC_INFLIGHT_MAX][17];
	int nlocks = 0;

	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n != 21 || known_hash(c, de->d_name))
			continue;
		if (strcmp(de->d_name + 16, ".meta") == 0)
			xc_load_meta(c, de->d_name);
		else if (strcmp(de->d_name + 16, ".lock") == 0 && nlocks < XC_INFLIGHT_MAX)
			snprintf(locks[nlocks++], 17, "%.16s", de->d_name);
	}
	if (d)
		closedir(d);
	for (int i = 0; i < nlocks; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%.16s.lock", locks[i]);
		if (known_hash(c, locks[i]) || !publishing(c, name))
			continue; /* its meta was loaded above, or nobody downloads */
		int j = 0;
		while (j < c->ninflight && strcmp(c->inflight[j], locks[i]) != 0)
			j++;
		if (j == c->ninflight) {
			if (c->ninflight == XC_INFLIGHT_MAX) /* the oldest goes */
				memmove(c->inflight[0], c->inflight[1],
					sizeof(c->inflight[0]) * (XC_INFLIGHT_MAX - 1));
			else
				c->ninflight++;
			memcpy(c->inflight[c->ninflight - 1], locks[i], 17);
		}
	}
}
