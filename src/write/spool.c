/*
 * spool.c - persistence of written files until the hub confirmed them (see
 * spool.h).
 *
 * Design: plain files, no database. Each entry is a directory named by a
 * unique id (time, pid, counter), so entries never collide, a rename of the
 * user-visible file is a meta.json update, and discarding is removing one
 * directory. meta.json is small (state, messages, the chunk plan with each
 * chunk's delivery state) and is always replaced atomically; a torn write can
 * only leave a stale "meta.json.tmp", which loading ignores.
 *
 * Several daemons may share the spool (one cache_dir): each entry is owned by
 * exactly one daemon at a time, the one holding an fcntl write lock on its
 * "lock" file (kept open, one descriptor, for as long as the daemon keeps the
 * entry). A new entry is built as "t<id>" (lock taken first) and renamed to
 * "w<id>", so no other daemon ever sees an unowned entry that is still being
 * created. Loading takes the lock without waiting and skips entries whose
 * owner is alive; when an owner dies the kernel drops its lock and the next
 * scan of another daemon adopts the entry (docs/DESIGN-NOTES.md).
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

#include <jansson.h>

#include "angofs/lockfile.h"
#include "angofs/sysutil.h"
#include "spool.h"

static const char *const kind_names[] = {"labels", "attachments", "answer", "scratch",
					 "assets", "media",	  "mask"};
static const char *const state_names[] = {"writing", "pending",	  "sent",
					  "failed",  "uncertain", "superseded"};
static const char *const chunk_names[] = {"todo", "sent", "refused", "uncertain", "sending"};

const char *spool_entry_state_name(enum ent_state s)
{
	return state_names[s];
}

static int mkdirs(const char *dir)
{
	char buf[4096], *p;

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int spool_init(const char *dir, struct ao_err *err)
{
	int r = mkdirs(dir);

	if (r < 0)
		return ao_errf(err, -r, "cannot create the spool %s: %s", dir, strerror(-r));
	if (chmod(dir, 0700) < 0)
		return ao_errf(err, errno, "chmod 0700 %s: %s", dir, strerror(errno));
	return 0;
}

void spool_path(const char *dir, const struct entry *e, const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s/%s", dir, e->id, name);
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int spool_fsync_path(const char *path, struct ao_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return ao_errf(err, errno, "open %s: %s", path, strerror(errno));
	if (fsync(fd) < 0) {
		int e = errno;

		close(fd);
		return ao_errf(err, e, "fsync %s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

static char tag_buf[16];

static void tag_init(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned long long x = (unsigned long long)ts.tv_nsec * 2654435761ULL ^
			       ((unsigned long long)getpid() << 20) ^ (unsigned long long)ts.tv_sec;
	snprintf(tag_buf, sizeof(tag_buf), "%08llx", x & 0xffffffffULL);
}

/* This process's tag in entry ids: a scan never probes (and so never drops
 * the fcntl lock of) an entry this process created. */
const char *spool_own_tag(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, tag_init);
	return tag_buf;
}

/* Lock <dir>/<name>/lock without waiting: fd, or -1 if another daemon owns
 * the entry (or it vanished). */
static int own_entry(const char *dir, const char *name)
{
	char path[4096];
	struct stat a, b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/lock", dir, name);
	fd = ao_lock_open(path);
	if (fd < 0)
		return -1;
	if (ao_lock_byte(fd, 0, F_WRLCK, 0) < 0 || fstat(fd, &a) < 0 || stat(path, &b) < 0 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		close(fd); /* owned, or removed by its owner after we opened it */
		return -1;
	}
	return fd;
}

struct entry *spool_entry_new(const char *dir, const char *project, const char *relpath,
			      enum ent_kind kind, struct ao_err *err)
{
	static unsigned long counter;
	struct entry *e = calloc(1, sizeof(*e));
	char path[4200], tpath[4096];
	struct timespec ts;
	int fd;

	if (!e) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	e->lockfd = -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(e->id, sizeof(e->id), "w%lld-%09ld-%d-%s-%lu", (long long)ts.tv_sec, ts.tv_nsec,
		 (int)getpid(), spool_own_tag(), __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST));
	e->project = strdup(project);
	e->relpath = strdup(relpath);
	e->kind = kind;
	e->state = ST_WRITING;
	e->created = e->updated = ts.tv_sec;
	if (!e->project || !e->relpath) {
		spool_entry_free(e);
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	/* built under a name loading ignores, owned before it is visible */
	snprintf(tpath, sizeof(tpath), "%s/t%s", dir, e->id + 1);
	if (mkdir(tpath, 0700) < 0) {
		ao_errf(err, errno, "spool: mkdir %s: %s", tpath, strerror(errno));
		spool_entry_free(e);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/lock", tpath);
	e->lockfd = ao_lock_open(path);
	if (e->lockfd < 0 || ao_lock_byte(e->lockfd, 0, F_WRLCK, 0) < 0) {
		ao_errf(err, EIO, "spool: cannot lock %s", path);
		unlink(path);
		rmdir(tpath);
		spool_entry_free(e);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/data", tpath);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	snprintf(path, sizeof(path), "%s/%s", dir, e->id);
	if (fd < 0 || rename(tpath, path) < 0) {
		ao_errf(err, errno, "spool: create %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		snprintf(path, sizeof(path), "%s/data", tpath);
		unlink(path);
		snprintf(path, sizeof(path), "%s/lock", tpath);
		unlink(path);
		rmdir(tpath);
		spool_entry_free(e);
		return NULL;
	}
	close(fd);
	return e;
}

void spool_entry_clear_chunks(struct entry *e)
{
	size_t i;

	for (i = 0; i < e->nchunks; i++)
		free(e->chunks[i].msg);
	free(e->chunks);
	e->chunks = NULL;
	e->nchunks = 0;
}

void spool_entry_free(struct entry *e)
{
	if (!e)
		return;
	if (e->lockfd >= 0)
		close(e->lockfd); /* ownership ends: another daemon may adopt it */
	free(e->project);
	free(e->relpath);
	free(e->message);
	free(e->detail);
	free(e->object_url);
	spool_entry_clear_chunks(e);
	free(e);
}

static void set_str(char **dst, const char *s)
{
	char *n = s ? strdup(s) : NULL;

	free(*dst);
	*dst = n;
}

void spool_entry_set_msg(struct entry *e, const char *msg)
{
	set_str(&e->message, msg);
}

void spool_entry_set_detail(struct entry *e, const char *detail)
{
	set_str(&e->detail, detail);
}

static json_t *to_json(const struct entry *e)
{
	json_t *j = json_object(), *ch = json_array();
	size_t i;

	json_object_set_new(j, "version", json_integer(1));
	json_object_set_new(j, "project", json_string(e->project));
	json_object_set_new(j, "relpath", json_string(e->relpath));
	json_object_set_new(j, "kind", json_string(kind_names[e->kind]));
	json_object_set_new(j, "state", json_string(state_names[e->state]));
	json_object_set_new(j, "next_stage", json_boolean(e->next_stage));
	json_object_set_new(j, "code", json_integer(e->code));
	json_object_set_new(j, "http", json_integer(e->http));
	if (e->message)
		json_object_set_new(j, "message", json_string(e->message));
	if (e->detail)
		json_object_set_new(j, "detail", json_string(e->detail));
	json_object_set_new(j, "size", json_integer(e->size));
	json_object_set_new(j, "items", json_integer(e->items));
	json_object_set_new(j, "form", json_integer(e->form));
	json_object_set_new(j, "export_records", json_integer(e->export_records));
	json_object_set_new(j, "prepared", json_boolean(e->prepared));
	if (e->partly)
		json_object_set_new(j, "partly_matched", json_true());
	json_object_set_new(j, "created", json_integer(e->created));
	json_object_set_new(j, "updated", json_integer(e->updated));
	json_object_set_new(j, "attempts", json_integer(e->attempts));
	if (e->object_url)
		json_object_set_new(j, "object_url", json_string(e->object_url));
	json_object_set_new(j, "posts", json_integer(e->posts));
	json_object_set_new(j, "seq", json_integer(e->seq));
	for (i = 0; i < e->nchunks; i++) {
		const struct ent_chunk *c = &e->chunks[i];

		json_array_append_new(
		    ch, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:i,s:s?}", "first",
				  (json_int_t)c->first, "count", (json_int_t)c->count, "line_first",
				  (json_int_t)c->line_first, "line_last", (json_int_t)c->line_last,
				  "off", (json_int_t)c->off, "len", (json_int_t)c->len, "state",
				  chunk_names[c->state], "http", c->http, "msg", c->msg));
		if (c->partly)
			json_object_set_new(json_array_get(ch, i), "partly_matched", json_true());
	}
	json_object_set_new(j, "chunks", ch);
	return j;
}

static int name_index(const char *s, const char *const *names, int n)
{
	int i;

	for (i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static struct entry *from_json(const char *id, json_t *j)
{
	struct entry *e = calloc(1, sizeof(*e));
	json_t *ch, *c;
	int k, s;
	size_t i;

	if (!e)
		return NULL;
	e->lockfd = -1;
	snprintf(e->id, sizeof(e->id), "%s", id);
	k = name_index(json_string_value(json_object_get(j, "kind")), kind_names, 7);
	s = name_index(json_string_value(json_object_get(j, "state")), state_names, 6);
	e->project = json_string_value(json_object_get(j, "project"))
			 ? strdup(json_string_value(json_object_get(j, "project")))
			 : NULL;
	e->relpath = json_string_value(json_object_get(j, "relpath"))
			 ? strdup(json_string_value(json_object_get(j, "relpath")))
			 : NULL;
	if (k < 0 || s < 0 || !e->project || !e->relpath) {
		spool_entry_free(e);
		return NULL;
	}
	e->kind = (enum ent_kind)k;
	e->state = (enum ent_state)s;
	e->next_stage = json_is_true(json_object_get(j, "next_stage"));
	e->code = (int)json_integer_value(json_object_get(j, "code"));
	e->http = (int)json_integer_value(json_object_get(j, "http"));
	set_str(&e->message, json_string_value(json_object_get(j, "message")));
	set_str(&e->detail, json_string_value(json_object_get(j, "detail")));
	e->size = json_integer_value(json_object_get(j, "size"));
	e->items = (long)json_integer_value(json_object_get(j, "items"));
	e->form = (int)json_integer_value(json_object_get(j, "form"));
	e->export_records = (long)json_integer_value(json_object_get(j, "export_records"));
	e->prepared = json_is_true(json_object_get(j, "prepared"));
	e->partly = json_is_true(json_object_get(j, "partly_matched"));
	e->created = json_integer_value(json_object_get(j, "created"));
	e->updated = json_integer_value(json_object_get(j, "updated"));
	e->attempts = (int)json_integer_value(json_object_get(j, "attempts"));
	set_str(&e->object_url, json_string_value(json_object_get(j, "object_url")));
	e->posts = (int)json_integer_value(json_object_get(j, "posts"));
	e->seq = json_integer_value(json_object_get(j, "seq"));
	ch = json_object_get(j, "chunks");
	if (json_array_size(ch)) {
		e->chunks = calloc(json_array_size(ch), sizeof(*e->chunks));
		if (!e->chunks) {
			spool_entry_free(e);
			return NULL;
		}
		json_array_foreach(ch, i, c)
		{
			struct ent_chunk *x = &e->chunks[i];
			int cs = name_index(json_string_value(json_object_get(c, "state")),
					    chunk_names, 5);

			x->first = (long)json_integer_value(json_object_get(c, "first"));
			x->count = (long)json_integer_value(json_object_get(c, "count"));
			x->line_first = (long)json_integer_value(json_object_get(c, "line_first"));
			x->line_last = (long)json_integer_value(json_object_get(c, "line_last"));
			x->off = json_integer_value(json_object_get(c, "off"));
			x->len = json_integer_value(json_object_get(c, "len"));
			x->state = cs < 0 ? CH_TODO : (enum chunk_state)cs;
			x->http = (int)json_integer_value(json_object_get(c, "http"));
			x->partly = json_is_true(json_object_get(c, "partly_matched"));
			set_str(&x->msg, json_string_value(json_object_get(c, "msg")));
		}
		e->nchunks = json_array_size(ch);
	}
	return e;
}

int spool_save(const char *dir, const struct entry *e, struct ao_err *err)
{
	char tmp[4096], path[4096], edir[4096];
	json_t *j = to_json(e);
	char *s = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
	size_t len;
	int fd, r = 0;

	json_decref(j);
	if (!s)
		return ao_errf(err, ENOMEM, "out of memory");
	len = strlen(s);
	spool_path(dir, e, "meta.json.tmp", tmp, sizeof(tmp));
	spool_path(dir, e, "meta.json", path, sizeof(path));
	snprintf(edir, sizeof(edir), "%s/%s", dir, e->id);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = ao_errf(err, errno, "spool: %s: %s", tmp, strerror(errno));
		goto out;
	}
	r = ao_sys_write_all(fd, s, len);
	if (r < 0) {
		r = ao_errf(err, -r, "spool: writing %s: %s", tmp, strerror(-r));
		close(fd);
		goto out;
	}
	if (fsync(fd) < 0) {
		r = ao_errf(err, errno, "spool: fsync %s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		r = ao_errf(err, errno, "spool: rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fsync_dir(edir) < 0)
		r = ao_errf(err, errno, "spool: fsync %s: %s", edir, strerror(errno));
out:
	free(s);
	return r;
}

void spool_unlink(const char *dir, const struct entry *e, const char *name)
{
	char path[4096];

	spool_path(dir, e, name, path, sizeof(path));
	unlink(path);
}

void spool_remove(const char *dir, const struct entry *e)
{
	char path[4096];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/%s", dir, e->id);
	d = opendir(path);
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' &&
			    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
				continue;
			spool_unlink(dir, e, de->d_name);
		}
		closedir(d);
	}
	rmdir(path);
	fsync_dir(dir);
}

int spool_load(const char *dir, int (*known)(void *ud, const char *id),
	       void (*fn)(void *ud, struct entry *e), void *ud, struct ao_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];
	const char *tag = spool_own_tag();
	int n = 0;

	if (!d)
		return ao_errf(err, errno, "spool %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		json_error_t je;
		json_t *j;
		struct entry *e;
		size_t nl = strlen(de->d_name);
		struct stat st;
		int lfd;

		if (de->d_name[0] != 'w' || nl >= sizeof(((struct entry *)0)->id) ||
		    (known && (strstr(de->d_name, tag) || known(ud, de->d_name))))
			continue;
		if ((lfd = own_entry(dir, de->d_name)) < 0)
			continue; /* its daemon is alive and keeps it */
		snprintf(path, sizeof(path), "%s/%s/meta.json", dir, de->d_name);
		j = json_load_file(path, 0, &je);
		if (!j) {
			/* created but never described: an empty shell from a crash */
			struct entry shell;

			memset(&shell, 0, sizeof(shell));
			memcpy(shell.id, de->d_name, nl + 1);
			snprintf(path, sizeof(path), "%s/%s/data", dir, de->d_name);
			if (!(stat(path, &st) == 0 && st.st_size > 0))
				spool_remove(dir, &shell); /* else keep bytes we cannot place */
			close(lfd);
			continue;
		}
		e = from_json(de->d_name, j);
		json_decref(j);
		if (!e) {
			close(lfd);
			continue;
		}
		e->lockfd = lfd;
		fn(ud, e);
		n++;
	}
	closedir(d);
	return n;
}
