/*
 * writes_reg.c - the write side's registry: what a relpath means (drop-box
 * file, answer, scratch, status), the list of spool entries by relpath, and
 * the table of open handles. Every function here runs with w->mu held, except
 * ws_fetch_answer (network I/O, called without it).
 *
 * Scratch names: in a drop box, names starting with '.' or ending in '~',
 * ".swp", ".swx", ".tmp", vim's "4913" probe, and the mkstemp names of sed -i
 * ("sed" + 6 letters/digits) and perl -i ("XX" + 6); in tasks/<id>/ every name
 * but answer*.json. Scratch files are kept like any other but never uploaded until
 * renamed onto a real name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/hash.h"
#include "angofs/log.h"
#include "angofs/names.h"
#include "labels_prep.h"
#include "writes_int.h"

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

/* prefix followed by exactly n ASCII letters/digits: a mkstemp(3) name */
static int mkstemp_name(const char *name, const char *prefix, size_t n)
{
	size_t pl = strlen(prefix);

	if (strlen(name) != pl + n || strncmp(name, prefix, pl))
		return 0;
	for (const char *c = name + pl; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9')))
			return 0;
	return 1;
}

/* sed -i writes "sedXXXXXX" and perl -i "XXxxxxxx" next to the file, then
 * renames it over the original: temp files, not labels. */
static int dropbox_scratch(const char *name)
{
	return name[0] == '.' || ends_with(name, "~") || ends_with(name, ".swp") ||
	       ends_with(name, ".swx") || ends_with(name, ".tmp") || !strcmp(name, "4913") ||
	       mkstemp_name(name, "sed", 6) || mkstemp_name(name, "XX", 6);
}

/* dir := the directory part of target (target has a '/'); the name. */
static const char *split_dir(struct wpath *p)
{
	char *slash = strrchr(p->target, '/');
	size_t dl = (size_t)(slash - p->target);

	memcpy(p->dir, p->target, dl);
	p->dir[dl] = '\0';
	return slash + 1;
}

/* assets/...: files at any depth (cp -r: subfolders, writes_dirs.c), and
 * their status files under assets/.status/ (mirroring the tree, so a glob
 * of images never meets them), not beside them. */
static int parse_assets(const char *rel, size_t n, struct wpath *p)
{
	const char *name = rel + 7;

	p->area = AR_ASSETS;
	if (!*name || name[strlen(name) - 1] == '/')
		return -ENOENT;
	if (!strcmp(name, ".status")) {
		p->is_dir = p->stdir = 1;
		memcpy(p->dir, rel, n + 1);
		return 0;
	}
	if (!strncmp(name, ".status/", 8)) {
		p->is_status = 1;
		snprintf(p->target, sizeof(p->target), "assets/%s", name + 8);
	} else {
		memcpy(p->target, rel, n + 1);
	}
	p->scratch = dropbox_scratch(split_dir(p));
	return 0;
}

/* Classify relpath; returns 0 if it is the write side's, -ENOENT if not. */
int ws_parse(const char *rel, struct wpath *p)
{
	const char *name, *slash;
	size_t n = strlen(rel);

	memset(p, 0, sizeof(*p));
	if (n >= sizeof(p->target))
		return -ENAMETOOLONG;
	if (!strcmp(rel, "labels") || !strcmp(rel, "attachments") || !strcmp(rel, "assets")) {
		p->area = rel[0] == 'l' ? AR_LABELS : rel[1] == 't' ? AR_ATTACH : AR_ASSETS;
		p->is_dir = 1;
		memcpy(p->dir, rel, n + 1);
		return 0;
	}
	if (!strncmp(rel, "assets/", 7))
		return parse_assets(rel, n, p);
	if (!strncmp(rel, "labels/", 7) || !strncmp(rel, "attachments/", 12)) {
		p->area = rel[0] == 'l' ? AR_LABELS : AR_ATTACH;
		name = rel + (p->area == AR_ATTACH ? 12 : 7);
		if (!*name || strchr(name, '/'))
			return -ENOENT;
		memcpy(p->dir, rel, (size_t)(name - rel - 1));
		p->dir[name - rel - 1] = '\0';
	} else if (!strncmp(rel, "tasks/", 6)) {
		slash = strchr(rel + 6, '/');
		if (slash == rel + 6)
			return -ENOENT;
		p->area = AR_TASK;
		if (!slash) {
			p->is_dir = 1;
			memcpy(p->dir, rel, n + 1);
			return 0;
		}
		name = slash + 1;
		/* the read side's own files: task.json, the medical mask (read-only:
		 * a write is refused, not kept as a scratch file shadowing it) */
		if (!*name || strchr(name, '/') || !strcmp(name, "task.json") ||
		    !strcmp(name, "mask.seg.nrrd") || !strcmp(name, "mask.seg.nrrd.status"))
			return -ENOENT;
		memcpy(p->dir, rel, (size_t)(slash - rel));
		p->dir[slash - rel] = '\0';
	} else {
		return -ENOENT;
	}
	memcpy(p->target, rel, n + 1);
	if (ends_with(name, ".status") && strlen(name) > 7) {
		p->is_status = 1;
		p->target[n - 7] = '\0';
		name = p->target + (name - rel);
	}
	if (p->area == AR_TASK) {
		p->answer = !strcmp(name, "answer.json") || !strcmp(name, "answer.next.json");
		p->next = !strcmp(name, "answer.next.json");
		p->mask = !strcmp(name, "mask.png");
		p->scratch = !p->answer && !p->mask;
	} else {
		p->scratch = dropbox_scratch(name);
	}
	return 0;
}

enum ent_kind ws_kind_of(const struct wpath *p)
{
	if (p->scratch)
		return EK_SCRATCH;
	if (p->area == AR_TASK)
		return p->mask ? EK_MASK : EK_ANSWER;
	if (p->area == AR_ASSETS)
		return ends_with(p->target, ".json") || ends_with(p->target, ".ndjson") ? EK_ASSETS
											: EK_MEDIA;
	return p->area == AR_LABELS ? EK_LABELS : EK_ATTACHMENTS;
}

/* ---- registry (w->mu held) ---- */

struct entry *ws_find(struct ao_writes *w, const char *project, const char *relpath)
{
	struct entry *e;

	for (e = w->entries; e; e = e->next)
		if (!strcmp(e->relpath, relpath) && !strcmp(e->project, project))
			return e;
	return NULL;
}

/*
 * "<name>.status", or, when that would not fit in a directory entry (255
 * bytes), the name cut at a UTF-8 character boundary + "~" + 8 hex digits of
 * a hash of the whole name + ".status": readable, removable, and still unique.
 */
void ws_status_name(const char *name, char *buf, size_t n)
{
	size_t len = strlen(name), cut = ao_name_utf8_prefix(name, WS_NAME_MAX - 7 - 9);
	unsigned long long h = ao_hash_str(name);

	if (len + 7 <= WS_NAME_MAX) {
		snprintf(buf, n, "%s.status", name);
		return;
	}
	snprintf(buf, n, "%.*s~%08llx.status", (int)cut, name, h & 0xffffffffULL);
}

/* The entry p names; for a status name that was shortened (ws_status_name),
 * the entry in the same directory whose status name it is (p->target is then
 * set to that entry's relpath). */
struct entry *ws_lookup(struct ao_writes *w, const char *project, struct wpath *p)
{
	struct entry *e = ws_find(w, project, p->target);
	size_t dl = strlen(p->dir);
	const char *asked;
	char sname[WS_NAME_MAX + 1];

	if (e || !p->is_status)
		return e;
	asked = p->target + dl + 1;
	if (strlen(asked) < 9 || asked[strlen(asked) - 9] != '~')
		return NULL;
	for (e = w->entries; e; e = e->next) {
		if (strcmp(e->project, project) || strncmp(e->relpath, p->dir, dl) ||
		    e->relpath[dl] != '/' || strlen(e->relpath + dl + 1) + 7 <= WS_NAME_MAX)
			continue;
		ws_status_name(e->relpath + dl + 1, sname, sizeof(sname));
		if (strlen(sname) == strlen(asked) + 7 && !strncmp(sname, asked, strlen(asked))) {
			snprintf(p->target, sizeof(p->target), "%s", e->relpath);
			return e;
		}
	}
	return NULL;
}

int ws_visible(const struct entry *e)
{
	return e && e->state != ST_SENT && e->state != ST_SUPERSEDED;
}

static void unlink_list(struct ao_writes *w, struct entry *e)
{
	struct entry **pp;

	for (pp = &w->entries; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			e->next = NULL;
			return;
		}
}

/* Remove e from the spool; freed now or at its last release/when not busy. */
void ws_discard(struct ao_writes *w, struct entry *e)
{
	unlink_list(w, e);
	spool_remove(w->spool_dir, e);
	if (e->opens || e->busy)
		e->state = ST_SENT, e->kind = EK_SCRATCH, e->dirty = 0, e->next_try_ms = -1;
	else
		spool_entry_free(e);
}

/* A status record only: sent, or superseded by a newer write. */
static int record_only(const struct entry *e)
{
	return (e->state == ST_SENT || e->state == ST_SUPERSEDED) && e->kind != EK_SCRATCH;
}

void ws_prune_sent(struct ao_writes *w, long keep)
{
	struct entry *e, *oldest;
	long n = 0;

	for (e = w->entries; e; e = e->next)
		n += record_only(e);
	while (n > keep) {
		oldest = NULL;
		for (e = w->entries; e; e = e->next)
			if (record_only(e) && !e->opens && !e->busy &&
			    (!oldest || e->updated < oldest->updated))
				oldest = e;
		if (!oldest)
			return;
		ws_discard(w, oldest);
		n--;
	}
}

void ws_save_locked(struct ao_writes *w, struct entry *e)
{
	struct ao_err er;

	e->updated = time(NULL);
	if (spool_save(w->spool_dir, e, &er) < 0)
		ao_error("write side: %s", er.msg);
}

void ws_data_path(struct ao_writes *w, const struct entry *e, char *buf, size_t n)
{
	spool_path(w->spool_dir, e, "data", buf, n);
}

/* Start new content in e (create/O_TRUNC/replace). */
int ws_reset_entry(struct ao_writes *w, struct entry *e, const struct wpath *p, int trunc,
		   struct ao_err *err)
{
	char path[4096];

	if (trunc) {
		ws_data_path(w, e, path, sizeof(path));
		if (truncate(path, 0) < 0 && errno == ENOENT) {
			int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

			if (fd < 0)
				return ao_errf(err, errno, "spool: %s: %s", path, strerror(errno));
			close(fd);
		}
		e->size = 0;
	}
	e->state = ST_WRITING;
	e->kind = ws_kind_of(p);
	e->next_stage = p->next ? 1 : w->cfg.next_stage;
	e->code = e->http = 0;
	e->prepared = 0;
	e->attempts = 0;
	e->dirty = 1;
	e->gen++;
	e->seeded = 0;
	e->last_rc = 0;
	if (trunc)
		e->write_err = 0;
	free(e->object_url);
	e->object_url = NULL;
	e->posts = 0;
	spool_entry_clear_chunks(e);
	spool_entry_set_msg(e, NULL);
	spool_entry_set_detail(e, NULL);
	spool_unlink(w->spool_dir, e, "items");
	ws_save_locked(w, e);
	return 0;
}

void ws_requeue_locked(struct ao_writes *w, struct entry *e)
{
	char path[4096];
	struct stat st;

	e->state = ST_PENDING;
	e->prepared = 0;
	e->code = e->http = 0;
	e->attempts = 0;
	e->next_try_ms = 0;
	free(e->object_url); /* new content: a new upload */
	e->object_url = NULL;
	e->posts = 0;
	spool_entry_clear_chunks(e);
	spool_unlink(w->spool_dir, e, "items");
	spool_path(w->spool_dir, e, "data", path, sizeof(path));
	e->size = stat(path, &st) == 0 ? st.st_size : 0;
	spool_entry_set_msg(e, "changed while being sent; the new content is sent next");
	spool_entry_set_detail(e, NULL);
	e->seq = ws_stamp(w, e); /* the newest content of its name */
	ws_save_locked(w, e);
	pthread_cond_broadcast(&w->wake);
}

struct entry *ws_new_entry(struct ao_writes *w, const char *project, const struct wpath *p,
			   struct ao_err *err)
{
	struct entry *e = spool_entry_new(w->spool_dir, project, p->target, ws_kind_of(p), err);

	if (!e)
		return NULL;
	e->next_stage = p->next ? 1 : w->cfg.next_stage;
	e->dirty = 1;
	ws_save_locked(w, e);
	e->next = w->entries;
	w->entries = e;
	return e;
}

/* The current answer of the task of relpath (answer.json as the read side
 * shows it), for seeding an entry. Network I/O (GET /task): call WITHOUT
 * w->mu. *buf is NULL (and a warning logged) when it cannot be read. */
void ws_fetch_answer(struct ao_writes *w, const char *project, const char *relpath, char **buf,
		     size_t *len)
{
	char task[256];
	struct ao_err er;

	*buf = NULL;
	*len = 0;
	if (!w->cfg.read_answer || ws_task_of(relpath, task, sizeof(task)) < 0)
		return;
	ao_err_clear(&er);
	if (w->cfg.read_answer(w->cfg.ud, project, task, buf, len, &er) < 0) {
		ao_warn("write side: reading the current answer of task %s: %s (starting empty)",
			task, er.msg);
		*buf = NULL;
		*len = 0;
	}
}

/* Seed an answer entry with the answer fetched by ws_fetch_answer (open
 * without O_TRUNC); buf NULL leaves it empty. Local disk only. */
void ws_seed_answer(struct ao_writes *w, struct entry *e, const char *buf, size_t len)
{
	char path[4096];
	int fd;

	if (!buf)
		return;
	ws_data_path(w, e, path, sizeof(path));
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, buf, len) != (ssize_t)len)
			ao_warn("write side: seeding %s: %s", e->relpath, strerror(errno));
		close(fd);
		e->size = (long long)len;
	}
}

/* ---- handles (w->mu held) ---- */

int ws_new_handle(struct ao_writes *w, struct ao_err *err)
{
	size_t i;

	for (i = 0; i < w->nh; i++)
		if (!w->h[i].used)
			break;
	if (i == w->nh) {
		size_t nn = w->nh ? w->nh * 2 : 64;
		struct handle *nh = realloc(w->h, nn * sizeof(*nh));

		if (!nh)
			return ao_errf(err, ENOMEM, "out of memory");
		memset(nh + w->nh, 0, (nn - w->nh) * sizeof(*nh));
		w->h = nh;
		w->nh = nn;
	}
	memset(&w->h[i], 0, sizeof(w->h[i]));
	w->h[i].used = 1;
	w->h[i].fd = -1;
	return (int)i;
}

struct handle *ws_get_handle(struct ao_writes *w, uint64_t fh)
{
	if (fh == 0 || fh > w->nh || !w->h[fh - 1].used)
		return NULL;
	return &w->h[fh - 1];
}

int ws_open_data_handle(struct ao_writes *w, struct entry *e, int writable, uint64_t *fh,
			struct ao_err *err)
{
	char path[4096];
	int i = ws_new_handle(w, err), fd;

	if (i < 0)
		return i;
	ws_data_path(w, e, path, sizeof(path));
	fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		w->h[i].used = 0;
		return ao_errf(err, errno, "spool: %s: %s", path, strerror(errno));
	}
	w->h[i].e = e;
	w->h[i].fd = fd;
	w->h[i].writable = writable;
	e->opens++;
	*fh = (uint64_t)i + 1;
	return 0;
}

void ws_fill_stat(struct stat *st, mode_t mode, off_t size, time_t mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | mode;
	st->st_nlink = 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = size;
	st->st_blocks = (size + 511) / 512;
	st->st_blksize = 4096;
	st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

int ws_entry_stat(struct ao_writes *w, const struct entry *e, struct stat *st)
{
	char path[4096];
	struct stat ds;

	ws_data_path(w, e, path, sizeof(path));
	if (stat(path, &ds) < 0)
		memset(&ds, 0, sizeof(ds));
	ws_fill_stat(st, w->cfg.read_only ? 0444 : 0644, ds.st_size,
		     ds.st_mtime ? ds.st_mtime : (time_t)e->updated);
	return 0;
}

int ws_still_written(struct ao_writes *w, const struct entry *e)
{
	for (size_t i = 0; i < w->nh; i++)
		if (w->h[i].used && w->h[i].e == e && w->h[i].writable && w->h[i].unflushed)
			return 1;
	return 0;
}

int ws_refuse_ro(struct ao_writes *w, const char *relpath, struct ao_err *err)
{
	return ao_errf(err, EROFS, "%s: the mount is read-only (-o ro)", relpath);
}
