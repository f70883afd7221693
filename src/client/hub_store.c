/*
 * hub_store.c - see hub_store.h. A stored reply is one file named by the
 * FNV-1a 64 hash of "base path?query"; its first line repeats that key (a
 * hash collision is then a miss, not a wrong answer), the rest is the reply
 * as a JSON envelope whose "data" is what the hub answered (files written
 * by earlier versions hold the hub's whole body: read the same way). Files
 * are written to a temp name and renamed, so a reader never sees half a
 * reply, also with several daemons sharing the cache directory.
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
#include "angofs/hub.h"
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

static void put(const char *dir, const char *base, const char *pq, const char *body, size_t len)
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

static int get(const char *dir, const char *base, const char *method, const char *pq, char **body,
	       size_t *len, struct ao_err *err)
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

/* --- the client over another one ------------------------------------------ */

struct store {
	struct hub *inner;
	char *dir, *base; /* immutable: no lock (the inner client locks its own) */
	int offline;
};

static int refused(struct ao_err *err, const char *what)
{
	int rc = ao_errf(err, ENETUNREACH, "%s: offline (-o offline)", what);

	if (err)
		err->transient = 1;
	return rc;
}

/* The data of a stored reply: its "data" member, or the whole. */
static int stored(struct store *s, const char *pq, json_t **data, struct ao_err *err)
{
	char *body = NULL;
	size_t len = 0;
	json_error_t je;
	int rc = get(s->dir, s->base, "GET", pq, &body, &len, err);

	if (rc < 0)
		return rc;
	json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, &je);
	free(body);
	if (!j)
		return ao_errf(err, EPROTO, "GET /v2%s: the stored reply is not JSON (%s)", pq,
			       je.text);
	json_t *d = json_object_get(j, "data");
	if (data)
		*data = json_incref(d ? d : j);
	json_decref(j);
	return 0;
}

static int store_get(void *self, const char *pq, json_t **data, struct ao_err *err)
{
	struct store *s = self;
	json_t *d = NULL;
	int rc;

	if (s->offline)
		return stored(s, pq, data, err);
	rc = hub_get(s->inner, pq, &d, err);
	if (rc == 0 && d && s->dir && hub_store_wanted("GET", pq)) {
		json_t *env = json_pack("{s:O}", "data", d);
		char *text = env ? json_dumps(env, JSON_COMPACT) : NULL;
		if (text)
			put(s->dir, s->base, pq, text, strlen(text));
		free(text);
		json_decref(env);
	}
	if (data)
		*data = d;
	else
		json_decref(d);
	return rc;
}

static int store_post_flags(void *self, const char *pq, const char *body, size_t len, int flags,
			    json_t **data, struct ao_err *err)
{
	struct store *s = self;
	char what[600];

	if (s->offline) {
		snprintf(what, sizeof(what), "POST /v2%s", pq);
		return refused(err, what);
	}
	return hub_post_flags(s->inner, pq, body, len, flags, data, err);
}

static int store_post_raw(void *self, const char *pq, const char *body, size_t len, json_t **data,
			  struct ao_err *err)
{
	return store_post_flags(self, pq, body, len, 0, data, err);
}

static int store_download(void *self, const char *url, hub_sink_fn sink, hub_progress_fn progress,
			  void *ud, struct ao_err *err)
{
	struct store *s = self;

	if (s->offline)
		return refused(err, "download");
	return hub_download(s->inner, url, sink, progress, ud, err);
}

static int store_download_head(void *self, const char *url, long long n, hub_sink_fn sink, void *ud,
			       struct ao_err *err)
{
	struct store *s = self;

	if (s->offline)
		return refused(err, "download");
	return hub_download_first(s->inner, url, n, sink, ud, err);
}

static int store_put(void *self, const char *url, int fd, long long size, const char *content_type,
		     struct ao_err *err)
{
	struct store *s = self;

	if (s->offline)
		return refused(err, "upload");
	return hub_put_file(s->inner, url, fd, size, content_type, err);
}

static void store_free(void *self)
{
	struct store *s = self;

	hub_free(s->inner);
	free(s->dir);
	free(s->base);
	free(s);
}

static const struct hub_ops store_ops = {
    .name = "store",
    .get = store_get,
    .post_raw = store_post_raw,
    .download = store_download,
    .free = store_free,
    .post_flags = store_post_flags,
    .put = store_put,
    .download_head = store_download_head,
};

struct hub *hub_store_new(struct hub *inner, const char *dir, const char *base, int offline,
			  struct ao_err *err)
{
	struct store *s = calloc(1, sizeof(*s));
	struct hub *h = NULL;

	if (s) {
		s->inner = inner;
		s->offline = offline;
		s->dir = dir ? strdup(dir) : NULL;
		s->base = strdup(base ? base : "");
	}
	if (s && (!dir || s->dir) && s->base)
		h = hub_wrap(&store_ops, s, err);
	else
		ao_errf(err, ENOMEM, "out of memory");
	if (!h && s) {
		store_free(s);
	} else if (!h) {
		hub_free(inner);
	}
	return h;
}
