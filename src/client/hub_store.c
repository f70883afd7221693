/*
 * hub_store.c - see hub_store.h. A stored reply is one file named by the
 * FNV-1a 64 hash of "base path?query"; its first line repeats that key (a
 * hash collision is then a miss, not a wrong answer), the rest is the reply
 * body exactly as the hub sent it. Files are written to a temp name and
 * renamed, so a reader never sees half a reply, also with several daemons
 * sharing the cache directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/hash.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "hub_store.h"

#define STORE_MAX (256 << 20)

int hub_store_wanted(const char *method, const char *pq)
{
	if (strcmp(method, "GET") != 0 || !pq)
		return 0;
	return strncmp(pq, "/listProjects", 13) == 0 || strncmp(pq, "/project/", 9) == 0 ||
	       strncmp(pq, "/task/", 6) == 0;
}

static void store_path(const char *dir, const char *key, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%016llx.reply", dir, ao_hash_str(key));
}

static char *make_key(const char *base, const char *pq)
{
	char *k = NULL;
	if (asprintf(&k, "%s%s", base, pq) < 0)
		return NULL;
	for (char *p = k; *p; p++)
		if (*p == '\n')
			*p = ' '; /* the key is one line */
	return k;
}

void hub_store_put(const char *dir, const char *base, const char *pq, const char *body, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	char *key = make_key(base, pq);
	int fd, rc;

	if (!key || !dir)
		goto out;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ao_debug("offline store: mkdir %s: %s", dir, strerror(errno));
		goto out;
	}
	store_path(dir, key, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		ao_debug("offline store: %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = ao_sys_write_all(fd, key, strlen(key));
	if (rc == 0)
		rc = ao_sys_write_all(fd, "\n", 1);
	if (rc == 0)
		rc = ao_sys_write_all(fd, body ? body : "", body ? len : 0);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		ao_debug("offline store: writing %s: %s", path, strerror(-rc));
		unlink(tmp);
	}
out:
	free(key);
}

static int offline_err(struct ao_err *err, const char *method, const char *pq, const char *why)
{
	int rc = ao_errf(err, ENETUNREACH, "%s /v2%s: offline (-o offline)%s", method, pq, why);
	if (err)
		err->transient = 1;
	return rc;
}

int hub_store_get(const char *dir, const char *base, const char *method, const char *pq,
		  char **body, size_t *len, struct ao_err *err)
{
	char path[PATH_MAX];
	char *key, *buf, *nl;
	struct stat st;
	size_t got = 0;
	int fd, rc;

	*body = NULL;
	*len = 0;
	if (!dir || !hub_store_wanted(method, pq))
		return offline_err(err, method, pq, "");
	key = make_key(base, pq);
	if (!key)
		return ao_errf(err, ENOMEM, "out of memory");
	store_path(dir, key, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size > STORE_MAX) {
		if (fd >= 0)
			close(fd);
		free(key);
		return offline_err(err, method, pq, ": never fetched while online");
	}
	rc = ao_sys_read_fd(fd, STORE_MAX, &buf, &got);
	close(fd);
	if (rc == -ENOMEM) {
		free(key);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	if (rc < 0) {
		free(key);
		return offline_err(err, method, pq, ": never fetched while online");
	}
	nl = memchr(buf, '\n', got);
	if (!nl || (size_t)(nl - buf) != strlen(key) || memcmp(buf, key, strlen(key)) != 0) {
		free(buf);
		free(key);
		return offline_err(err, method, pq, ": never fetched while online");
	}
	free(key);
	*len = got - (size_t)(nl + 1 - buf);
	memmove(buf, nl + 1, *len);
	buf[*len] = '\0';
	*body = buf;
	ao_debug("GET /v2%s: offline, stored reply from %ld s ago", pq,
		 (long)(time(NULL) - st.st_mtime));
	return 0;
}
