/*
 * entry.c - files and locks of a shared export cache entry (see cachedir/cachedir.h
 * and docs/DESIGN-NOTES.md).
 *
 * Design choice: generations are separate, immutable files, so a reader's
 * size and bytes always come from one file (fstat of its own descriptor),
 * whatever another daemon publishes meanwhile; a generation is removed only
 * when its byte in H.lock can be write-locked, i.e. when no daemon anywhere
 * has it open. Nothing here takes the export cache's mutex: callers decide.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "cachedir.h"

void cd_path(const char *dir, const char *hash, const char *ext, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s.%s", dir, hash, ext);
}

void cd_data_path(const char *dir, const char *hash, unsigned long long gen, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s.%llu.data", dir, hash, gen);
}

void cd_idx_path(const char *dir, const char *hash, unsigned long long gen, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s.%llu.idx", dir, hash, gen);
}

int cd_meta_read(const char *dir, const char *hash, const char *key, struct cd_meta *m,
		 struct stat *st)
{
	char path[4096];
	json_t *j;
	int fd, rc = 0;

	memset(m, 0, sizeof(*m));
	cd_path(dir, hash, "meta", path, sizeof(path));
	/* ESTALE: a network filesystem's cached name of a meta that another
	 * machine replaced; the next lookup finds the new one */
	for (int i = 0; (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno == ESTALE && i < 3;
	     i++)
		;
	if (fd < 0)
		return -errno;
	if (st && fstat(fd, st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* one read, not jansson's json_loadfd (a read(2) per byte) */
	char *buf = NULL;
	size_t len = 0;
	j = ao_sys_read_fd(fd, 1 << 20, &buf, &len) == 0 ? json_loadb(buf, len, 0, NULL) : NULL;
	free(buf);
	close(fd);
	const char *k = json_string_value(json_object_get(j, "key"));
	json_int_t gen = json_integer_value(json_object_get(j, "gen"));
	if (!j || !k || strcmp(k, key) != 0 ||
	    json_integer_value(json_object_get(j, "version")) != 2 || gen <= 0) {
		json_decref(j);
		return -EINVAL;
	}
	m->gen = (unsigned long long)gen;
	m->size = json_integer_value(json_object_get(j, "size"));
	m->fetched_at = (time_t)json_integer_value(json_object_get(j, "fetched_at"));
	m->mtime = (time_t)json_integer_value(json_object_get(j, "mtime"));
	if (!m->mtime)
		m->mtime = m->fetched_at;
	m->stale = json_is_true(json_object_get(j, "stale"));
	m->stale_at = m->stale ? (time_t)json_integer_value(json_object_get(j, "stale_at")) : 0;
	json_t *rec = json_object_get(j, "records");
	m->records = json_is_integer(rec) ? json_integer_value(rec) : -1;
	m->hwm_us = json_integer_value(json_object_get(j, "hwm"));
	const char *fp = json_string_value(json_object_get(j, "fp"));
	m->fp = fp ? strtoull(fp, NULL, 16) : 0;
	m->base_at = (time_t)json_integer_value(json_object_get(j, "base_at"));
	json_decref(j);
	return 0;
}

int cd_meta_write(const char *dir, const char *hash, const char *key, const struct cd_meta *m)
{
	char path[4096], tmp[4200];
	json_t *j;
	int fd, rc = 0;

	cd_path(dir, hash, "meta", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	char fp[20];
	snprintf(fp, sizeof(fp), "%016llx", m->fp);
	j = json_pack("{s:i,s:s,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:s,s:I}", "version", 2, "key", key,
		      "gen", (json_int_t)m->gen, "size", (json_int_t)m->size, "fetched_at",
		      (json_int_t)m->fetched_at, "mtime",
		      (json_int_t)(m->mtime ? m->mtime : m->fetched_at), "stale", m->stale,
		      "stale_at", (json_int_t)m->stale_at, "records", (json_int_t)m->records, "hwm",
		      (json_int_t)m->hwm_us, "fp", fp, "base_at", (json_int_t)m->base_at);
	if (!j)
		return -ENOMEM;
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		json_decref(j);
		ao_warn("export cache: cannot write %s: %s", path, strerror(-rc));
		return rc;
	}
	fchmod(fd, 0600);
	if (json_dumpfd(j, fd, JSON_COMPACT) < 0)
		rc = -EIO;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	json_decref(j);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		ao_warn("export cache: cannot write %s: %s", path, strerror(-rc));
	}
	return rc;
}

int cd_gen_remove(const char *dir, const char *hash, int lockfd, unsigned long long gen)
{
	char path[4096];

	if (ao_lock_byte(lockfd, (off_t)gen, F_WRLCK, 0) < 0)
		return 0;
	cd_data_path(dir, hash, gen, path, sizeof(path));
	if (unlink(path) == 0)
		ao_debug("export cache: removed %s (no daemon has it open)", path);
	cd_idx_path(dir, hash, gen, path, sizeof(path));
	unlink(path);
	ao_lock_byte(lockfd, (off_t)gen, F_UNLCK, 0);
	return 1;
}

/* gen of "<hash>.<gen><ext>" (ext ".data" or ".idx"), or 0 */
static unsigned long long name_gen(const char *name, const char *hash, const char *ext)
{
	size_t hl = strlen(hash), n = strlen(name), el = strlen(ext);
	char *end;

	if (n <= hl + el + 1 || strncmp(name, hash, hl) != 0 || name[hl] != '.' ||
	    strcmp(name + n - el, ext) != 0)
		return 0;
	unsigned long long g = strtoull(name + hl + 1, &end, 10);
	return end == name + n - el ? g : 0;
}

static unsigned long long scan(const char *dir, const char *hash, int lockfd,
			       unsigned long long keep, const unsigned long long *held,
			       size_t nheld)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned long long max = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		unsigned long long g = name_gen(de->d_name, hash, ".data");
		size_t i;
		if (!g) {
			/* an index of another generation is never read again */
			g = name_gen(de->d_name, hash, ".idx");
			if (g && lockfd >= 0 && g != keep) {
				char p[4096];
				cd_idx_path(dir, hash, g, p, sizeof(p));
				unlink(p);
			}
			continue;
		}
		if (g > max)
			max = g;
		if (lockfd < 0 || g == keep)
			continue;
		for (i = 0; i < nheld && held[i] != g; i++)
			;
		if (i == nheld)
			cd_gen_remove(dir, hash, lockfd, g);
	}
	closedir(d);
	return max;
}

void cd_gen_sweep(const char *dir, const char *hash, int lockfd, unsigned long long keep,
		  const unsigned long long *held, size_t nheld)
{
	scan(dir, hash, lockfd, keep, held, nheld);
}

unsigned long long cd_gen_max(const char *dir, const char *hash)
{
	return scan(dir, hash, -1, 0, NULL, 0);
}
