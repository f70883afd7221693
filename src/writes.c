/*
 * writes.c - the write side's file operations (see include/angofs/writes.h).
 *
 * Design: every writable file is a spool entry (spool.h) from the moment it is
 * created: its bytes go straight to the entry's data file on local disk, so
 * nothing written lives only in memory. Names map to entries by relpath:
 *   labels/<name>, attachments/<name>   drop-box files (uploaded at close)
 *   tasks/<id>/answer.json              the task's answer (annotate at close)
 *   tasks/<id>/answer.next.json         same, and submit to the next stage
 *   <any of these>.status               read-only outcome of the last upload
 *   scratch names                       editor/rsync temp files: kept, never
 *                                       uploaded until renamed onto a real name
 * Scratch names: in a drop box, names starting with '.' or ending in '~',
 * ".swp", ".swx", ".tmp", and vim's "4913" probe; in tasks/<id>/ every name but
 * answer*.json. Uploads happen in flush (close) or on rename onto a real name,
 * so their outcome is close()'s / rename()'s return value; a file that was not
 * changed since its last upload is not uploaded again (dup'ed descriptors).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/log.h"
#include "labels_prep.h"
#include "writes_int.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

enum area { AR_NONE, AR_LABELS, AR_ATTACH, AR_TASK };

struct wpath {
	enum area area;
	int is_dir;    /* labels, attachments, tasks/<id> */
	int is_status; /* <target>.status */
	int scratch;
	int answer, next;  /* answer.json / answer.next.json */
	char target[4096]; /* relpath of the entry (without .status) */
	char dir[4096];	   /* the directory part */
};

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

static int dropbox_scratch(const char *name)
{
	return name[0] == '.' || ends_with(name, "~") || ends_with(name, ".swp") ||
	       ends_with(name, ".swx") || ends_with(name, ".tmp") || !strcmp(name, "4913");
}

/* Classify relpath; returns 0 if it is the write side's, -ENOENT if not. */
static int parse(const char *rel, struct wpath *p)
{
	const char *name, *slash;
	size_t n = strlen(rel);

	memset(p, 0, sizeof(*p));
	if (n >= sizeof(p->target))
		return -ENAMETOOLONG;
	if (!strcmp(rel, "labels") || !strcmp(rel, "attachments")) {
		p->area = rel[0] == 'l' ? AR_LABELS : AR_ATTACH;
		p->is_dir = 1;
		memcpy(p->dir, rel, n + 1);
		return 0;
	}
	if (!strncmp(rel, "labels/", 7) || !strncmp(rel, "attachments/", 12)) {
		p->area = rel[0] == 'l' ? AR_LABELS : AR_ATTACH;
		name = rel + (p->area == AR_LABELS ? 7 : 12);
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
		if (!*name || strchr(name, '/') || !strcmp(name, "task.json"))
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
		p->scratch = !p->answer;
	} else {
		p->scratch = dropbox_scratch(name);
	}
	return 0;
}

static enum ent_kind kind_of(const struct wpath *p)
{
	if (p->scratch)
		return EK_SCRATCH;
	if (p->area == AR_TASK)
		return EK_ANSWER;
	return p->area == AR_LABELS ? EK_LABELS : EK_ATTACHMENTS;
}

/* ---- registry (w->mu held) ---- */

static struct entry *find(struct ao_writes *w, const char *project, const char *relpath)
{
	struct entry *e;

	for (e = w->entries; e; e = e->next)
		if (!strcmp(e->relpath, relpath) && !strcmp(e->project, project))
			return e;
	return NULL;
}

static int visible(const struct entry *e)
{
	return e && e->state != ST_SENT;
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
static void discard(struct ao_writes *w, struct entry *e)
{
	unlink_list(w, e);
	spool_remove(w->spool_dir, e);
	if (e->opens || e->busy)
		e->state = ST_SENT, e->kind = EK_SCRATCH, e->dirty = 0, e->next_try_ms = -1;
	else
		spool_entry_free(e);
}

void ws_prune_sent(struct ao_writes *w, long keep)
{
	struct entry *e, *oldest;
	long n = 0;

	for (e = w->entries; e; e = e->next)
		n += e->state == ST_SENT && e->kind != EK_SCRATCH;
	while (n > keep) {
		oldest = NULL;
		for (e = w->entries; e; e = e->next)
			if (e->state == ST_SENT && e->kind != EK_SCRATCH && !e->opens && !e->busy &&
			    (!oldest || e->updated < oldest->updated))
				oldest = e;
		if (!oldest)
			return;
		discard(w, oldest);
		n--;
	}
}

static void save_locked(struct ao_writes *w, struct entry *e)
{
	struct ao_err er;

	e->updated = time(NULL);
	if (spool_save(w->spool_dir, e, &er) < 0)
		ao_error("write side: %s", er.msg);
}

static void data_path(struct ao_writes *w, const struct entry *e, char *buf, size_t n)
{
	spool_path(w->spool_dir, e, "data", buf, n);
}

/* Start new content in e (create/O_TRUNC/replace). */
static int reset_entry(struct ao_writes *w, struct entry *e, const struct wpath *p, int trunc,
		       struct ao_err *err)
{
	char path[4096];

	if (trunc) {
		data_path(w, e, path, sizeof(path));
		if (truncate(path, 0) < 0 && errno == ENOENT) {
			int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

			if (fd < 0)
				return ao_errf(err, errno, "spool: %s: %s", path, strerror(errno));
			close(fd);
		}
		e->size = 0;
	}
	e->state = ST_WRITING;
	e->kind = kind_of(p);
	e->next_stage = p->next ? 1 : w->cfg.next_stage;
	e->code = e->http = 0;
	e->prepared = 0;
	e->attempts = 0;
	e->dirty = 1;
	e->last_rc = 0;
	entry_clear_chunks(e);
	entry_set_msg(e, NULL);
	entry_set_detail(e, NULL);
	spool_unlink(w->spool_dir, e, "items");
	save_locked(w, e);
	return 0;
}

static struct entry *new_entry(struct ao_writes *w, const char *project, const struct wpath *p,
			       struct ao_err *err)
{
	struct entry *e = spool_entry_new(w->spool_dir, project, p->target, kind_of(p), err);

	if (!e)
		return NULL;
	e->next_stage = p->next ? 1 : w->cfg.next_stage;
	e->dirty = 1;
	save_locked(w, e);
	e->next = w->entries;
	w->entries = e;
	return e;
}

/* Seed an answer entry with the current answer (open without O_TRUNC). */
static void seed_answer(struct ao_writes *w, struct entry *e, const char *project)
{
	char task[256], path[4096], *buf = NULL;
	size_t len = 0;
	struct ao_err er;
	int fd;

	if (!w->cfg.read_answer || ws_task_of(e->relpath, task, sizeof(task)) < 0)
		return;
	ao_err_clear(&er);
	if (w->cfg.read_answer(w->cfg.ud, project, task, &buf, &len, &er) < 0) {
		ao_warn("write side: reading the current answer of task %s: %s (starting empty)",
			task, er.msg);
		return;
	}
	data_path(w, e, path, sizeof(path));
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, buf, len) != (ssize_t)len)
			ao_warn("write side: seeding %s: %s", e->relpath, strerror(errno));
		close(fd);
		e->size = (long long)len;
	}
	free(buf);
}

/* ---- handles (w->mu held) ---- */

static int new_handle(struct ao_writes *w, struct ao_err *err)
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

static struct handle *get_handle(struct ao_writes *w, uint64_t fh)
{
	if (fh == 0 || fh > w->nh || !w->h[fh - 1].used)
		return NULL;
	return &w->h[fh - 1];
}

static int open_data_handle(struct ao_writes *w, struct entry *e, int writable, uint64_t *fh,
			    struct ao_err *err)
{
	char path[4096];
	int i = new_handle(w, err), fd;

	if (i < 0)
		return i;
	data_path(w, e, path, sizeof(path));
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

/* ---- lifecycle ---- */

struct ao_writes *ao_writes_new(const struct ao_writes_cfg *cfg, struct ao_err *err)
{
	struct ao_writes *w = calloc(1, sizeof(*w));
	const char *v;

	if (!w) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	w->cfg = *cfg;
	w->spool_dir = strdup(cfg->spool_dir ? cfg->spool_dir : "");
	if (!w->spool_dir || !cfg->spool_dir || !*cfg->spool_dir) {
		ao_errf(err, EINVAL, "write side: no spool directory");
		free(w->spool_dir);
		free(w);
		return NULL;
	}
	w->cfg.spool_dir = w->spool_dir;
	if (w->cfg.flush_retry_ms < 0)
		w->cfg.flush_retry_ms = 0;
	/* chunk limits: fixed defaults, overridable for tests and tuning */
	w->chunk_items = PREP_MAX_ITEMS_DEFAULT;
	w->chunk_bytes = PREP_MAX_BYTES_DEFAULT;
	if ((v = getenv("ANGOFS_CHUNK_ITEMS")) && atol(v) > 0)
		w->chunk_items = atol(v);
	if ((v = getenv("ANGOFS_CHUNK_BYTES")) && atol(v) > 4096)
		w->chunk_bytes = (size_t)atol(v);
	if ((v = getenv("ANGOFS_FLUSH_RETRY_MS")) && atol(v) >= 0)
		w->cfg.flush_retry_ms = atol(v);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->idle, NULL);
	if (spool_init(w->spool_dir, err) < 0) {
		ao_writes_free(w);
		return NULL;
	}
	return w;
}

static void loaded(void *ud, struct entry *e)
{
	struct ao_writes *w = ud;

	switch (e->state) {
	case ST_WRITING:
		if (e->kind == EK_SCRATCH) {
			spool_remove(w->spool_dir, e);
			spool_entry_free(e);
			return;
		}
		/* the writer never closed it: keep the bytes, do not guess */
		e->state = ST_FAILED;
		e->code = EIO;
		entry_set_msg(e, "the daemon stopped before this file was closed, so it was not "
				 "sent; its bytes are kept here: copy the file again to send it");
		save_locked(w, e);
		break;
	case ST_PENDING:
		e->next_try_ms = 0;
		ao_info("write side: resuming %s/%s from the spool", e->project, e->relpath);
		break;
	default:
		break;
	}
	e->next = w->entries;
	w->entries = e;
}

int ao_writes_start(struct ao_writes *w, struct ao_err *err)
{
	int r;

	pthread_mutex_lock(&w->mu);
	r = spool_load(w->spool_dir, loaded, w, err);
	pthread_mutex_unlock(&w->mu);
	if (r < 0)
		return r;
	return ws_bg_start(w, err);
}

void ao_writes_free(struct ao_writes *w)
{
	struct entry *e, *n;
	size_t i;

	if (!w)
		return;
	ws_bg_stop(w);
	for (i = 0; i < w->nh; i++)
		if (w->h[i].used) {
			if (w->h[i].fd >= 0)
				close(w->h[i].fd);
			free(w->h[i].snap);
		}
	free(w->h);
	for (e = w->entries; e; e = n) {
		n = e->next;
		spool_entry_free(e);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->idle);
	free(w->spool_dir);
	free(w);
}

int ao_writes_owns(const char *relpath)
{
	struct wpath p;

	return parse(relpath, &p) == 0 && !p.is_dir;
}

/* ---- attributes and listing ---- */

static void fill_stat(struct stat *st, mode_t mode, off_t size, time_t mtime)
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

static int entry_stat(struct ao_writes *w, const struct entry *e, struct stat *st)
{
	char path[4096];
	struct stat ds;

	data_path(w, e, path, sizeof(path));
	if (stat(path, &ds) < 0)
		memset(&ds, 0, sizeof(ds));
	fill_stat(st, w->cfg.read_only ? 0444 : 0644, ds.st_size,
		  ds.st_mtime ? ds.st_mtime : (time_t)e->updated);
	return 0;
}

int ao_writes_getattr(struct ao_writes *w, const char *project_id, const char *relpath,
		      struct stat *st, struct ao_err *err)
{
	struct wpath p;
	struct entry *e;
	int r = parse(relpath, &p);

	if (r < 0 || p.is_dir)
		return ao_errf(err, ENOENT, "%s: not a write-side file", relpath);
	pthread_mutex_lock(&w->mu);
	e = find(w, project_id, p.target);
	if (p.is_status && e && e->kind == EK_SCRATCH)
		e = NULL; /* scratch files have no status */
	if (p.is_status && e) {
		char *t = ws_status_text(w, e);

		fill_stat(st, 0444, (off_t)strlen(t), (time_t)e->updated);
		free(t);
		r = 0;
	} else if (!p.is_status && visible(e)) {
		r = entry_stat(w, e, st);
	} else {
		r = ao_errf(err, ENOENT, "%s: no such file", relpath);
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_readdir(struct ao_writes *w, const char *project_id, const char *relpath,
		      ao_fill_fn fill, void *ctx, struct ao_err *err)
{
	struct wpath p;
	struct entry *e;
	size_t dl = strlen(relpath);
	int r = parse(relpath, &p);

	if (r < 0 || !p.is_dir)
		return 0;
	pthread_mutex_lock(&w->mu);
	for (e = w->entries; e; e = e->next) {
		const char *name;
		char sname[4096];
		struct stat st;

		if (strcmp(e->project, project_id) || strncmp(e->relpath, relpath, dl) ||
		    e->relpath[dl] != '/')
			continue;
		name = e->relpath + dl + 1;
		if (visible(e) && !(p.area == AR_TASK && !strcmp(name, "answer.json"))) {
			entry_stat(w, e, &st);
			if (fill(ctx, name, &st))
				break;
		}
		if (e->kind != EK_SCRATCH) {
			char *t = ws_status_text(w, e);

			snprintf(sname, sizeof(sname), "%s.status", name);
			fill_stat(&st, 0444, (off_t)strlen(t), (time_t)e->updated);
			free(t);
			if (fill(ctx, sname, &st))
				break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* ---- opening ---- */

static int refuse_ro(struct ao_writes *w, const char *relpath, struct ao_err *err)
{
	return ao_errf(err, EROFS, "%s: the mount is read-only (-o ro)", relpath);
}

int ao_writes_create(struct ao_writes *w, const char *project_id, const char *relpath, mode_t mode,
		     int flags, uint64_t *fh, struct ao_err *err)
{
	struct wpath p;
	struct entry *e;
	int r = parse(relpath, &p);

	if (r < 0 || p.is_dir)
		return ao_errf(err, EACCES, "%s: files cannot be created here", relpath);
	if (w->cfg.read_only)
		return refuse_ro(w, relpath, err);
	if (p.is_status)
		return ao_errf(err, EACCES, "%s is a status file (read-only)", relpath);
	pthread_mutex_lock(&w->mu);
	e = find(w, project_id, p.target);
	if (e && e->busy) {
		r = ao_errf(err, EBUSY,
			    "%s is being sent right now; try again when %s.status "
			    "shows the outcome",
			    relpath, relpath);
	} else if (e && (flags & O_EXCL) && visible(e)) {
		r = ao_errf(err, EEXIST, "%s exists", relpath);
	} else {
		if (e)
			r = reset_entry(w, e, &p, 1, err);
		else if (!(e = new_entry(w, project_id, &p, err)))
			r = -err->code;
		if (r == 0)
			r = open_data_handle(w, e, 1, fh, err);
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_open(struct ao_writes *w, const char *project_id, const char *relpath, int flags,
		   uint64_t *fh, struct ao_err *err)
{
	int writable = (flags & O_ACCMODE) != O_RDONLY;
	struct wpath p;
	struct entry *e;
	int r = parse(relpath, &p);

	if (r < 0 || p.is_dir)
		return ao_errf(err, ENOENT, "%s: not a write-side file", relpath);
	pthread_mutex_lock(&w->mu);
	e = find(w, project_id, p.target);
	if (p.is_status) {
		if (!e || e->kind == EK_SCRATCH) {
			r = ao_errf(err, ENOENT, "%s: no such file", relpath);
		} else if (writable) {
			r = ao_errf(err, EACCES, "%s is a status file (read-only)", relpath);
		} else if ((r = new_handle(w, err)) >= 0) {
			w->h[r].snap = ws_status_text(w, e);
			w->h[r].snaplen = w->h[r].snap ? strlen(w->h[r].snap) : 0;
			*fh = (uint64_t)r + 1;
			r = 0;
		}
		goto out;
	}
	if (!visible(e) && !(p.answer && writable)) {
		r = ao_errf(err, ENOENT, "%s: no such file", relpath);
		goto out;
	}
	if (writable && w->cfg.read_only) {
		r = refuse_ro(w, relpath, err);
		goto out;
	}
	if (writable && e && e->busy) {
		r = ao_errf(err, EBUSY,
			    "%s is being sent right now; try again when %s.status "
			    "shows the outcome",
			    relpath, relpath);
		goto out;
	}
	if (!visible(e)) { /* writing a task's answer that nothing is spooled for */
		if (e)
			r = reset_entry(w, e, &p, 1, err);
		else if (!(e = new_entry(w, project_id, &p, err)))
			r = -err->code;
		if (r == 0 && !(flags & O_TRUNC))
			seed_answer(w, e, project_id);
	} else if (writable) {
		if (e->state != ST_WRITING) {
			e->state = ST_WRITING;
			save_locked(w, e);
		}
		if (flags & O_TRUNC) {
			char path[4096];

			data_path(w, e, path, sizeof(path));
			if (truncate(path, 0) < 0)
				r = ao_errf(err, errno, "spool: %s", strerror(errno));
			e->dirty = 1;
		}
	}
	if (r == 0)
		r = open_data_handle(w, e, writable, fh, err);
out:
	pthread_mutex_unlock(&w->mu);
	return r;
}

/* ---- namespace changes ---- */

int ao_writes_unlink(struct ao_writes *w, const char *project_id, const char *relpath,
		     struct ao_err *err)
{
	struct wpath p;
	struct entry *e;
	int r = parse(relpath, &p);

	if (r < 0 || p.is_dir)
		return ao_errf(err, ENOENT, "%s: no such file", relpath);
	if (w->cfg.read_only)
		return refuse_ro(w, relpath, err);
	pthread_mutex_lock(&w->mu);
	e = find(w, project_id, p.target);
	if (p.is_status) {
		if (!e)
			r = ao_errf(err, ENOENT, "%s: no such file", relpath);
		else if (visible(e))
			r = ao_errf(err, EPERM, "%s: remove the file itself (%s) to discard it",
				    relpath, p.target);
		else if (e->busy || e->opens)
			r = ao_errf(err, EBUSY, "%s is in use", relpath);
		else
			discard(w, e);
	} else if (visible(e)) {
		if (e->busy)
			r = ao_errf(err, EBUSY, "%s is being sent right now", relpath);
		else {
			ao_log(e->kind == EK_SCRATCH ? AO_LOG_DEBUG : AO_LOG_INFO,
			       "write side: %s/%s discarded by the user (state %s)", project_id,
			       relpath, entry_state_name(e->state));
			discard(w, e);
		}
	} else if (p.answer) {
		r = ao_errf(err, EPERM,
			    "%s: a task's answer cannot be removed; write {} to it to "
			    "clear the answer",
			    relpath);
	} else {
		r = ao_errf(err, ENOENT, "%s: no such file", relpath);
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_rename(struct ao_writes *w, const char *project_id, const char *from, const char *to,
		     unsigned int flags, struct ao_err *err)
{
	struct wpath pf, pt;
	struct entry *e, *t;
	int r, submit = 0;

	if (parse(from, &pf) < 0 || pf.is_dir)
		return ao_errf(err, ENOENT, "%s: no such file", from);
	if (parse(to, &pt) < 0 || pt.is_dir)
		return ao_errf(err, EXDEV, "%s -> %s: cannot move a file there", from, to);
	if (w->cfg.read_only)
		return refuse_ro(w, from, err);
	if (flags & RENAME_EXCHANGE)
		return ao_errf(err, EINVAL, "rename: exchanging files is not supported here");
	if (pf.is_status || pt.is_status)
		return ao_errf(err, EACCES, "status files cannot be renamed or replaced");
	if (strcmp(pf.dir, pt.dir))
		return ao_errf(err, EXDEV, "%s -> %s: only renames within one directory", from, to);
	pthread_mutex_lock(&w->mu);
	e = find(w, project_id, pf.target);
	t = find(w, project_id, pt.target);
	if (!visible(e)) {
		if (pf.answer && !pt.answer) {
			/* editor backup of the current answer (vim: answer.json -> answer.json~) */
			if (t && (t->busy || t->opens)) {
				r = ao_errf(err, EBUSY, "%s is in use", to);
			} else {
				if (t)
					discard(w, t);
				e = new_entry(w, project_id, &pt, err);
				r = e ? 0 : -err->code;
				if (e) {
					seed_answer(w, e, project_id);
					e->dirty = 0;
				}
			}
		} else {
			r = ao_errf(err, ENOENT, "%s: no such file", from);
		}
		goto out;
	}
	if (e == t) {
		r = 0;
		goto out;
	}
	if (e->busy) {
		r = ao_errf(err, EBUSY, "%s is being sent right now", from);
		goto out;
	}
	if (visible(t) && (flags & RENAME_NOREPLACE)) {
		r = ao_errf(err, EEXIST, "%s exists", to);
		goto out;
	}
	if (t) {
		if (t->busy) {
			r = ao_errf(err, EBUSY, "%s is being sent right now", to);
			goto out;
		}
		discard(w, t);
	}
	free(e->relpath);
	e->relpath = strdup(pt.target);
	if (!e->relpath) {
		r = ao_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	/* a finished temp file renamed onto a real name is uploaded now */
	submit = kind_of(&pt) != EK_SCRATCH && (e->kind == EK_SCRATCH || e->state == ST_WRITING) &&
		 e->opens == 0;
	e->kind = kind_of(&pt);
	if (e->kind == EK_ANSWER)
		e->next_stage = pt.next ? 1 : w->cfg.next_stage;
	if (submit)
		e->dirty = 1;
	save_locked(w, e);
	r = 0;
out:
	pthread_mutex_unlock(&w->mu);
	if (r == 0 && submit)
		r = ws_submit(w, e, err);
	return r;
}

int ao_writes_truncate(struct ao_writes *w, const char *project_id, const char *relpath, off_t size,
		       struct ao_err *err)
{
	char path[4096];
	struct wpath p;
	struct entry *e;
	int r = parse(relpath, &p);

	if (r < 0 || p.is_dir)
		return ao_errf(err, ENOENT, "%s: no such file", relpath);
	if (w->cfg.read_only)
		return refuse_ro(w, relpath, err);
	if (p.is_status)
		return ao_errf(err, EACCES, "%s is a status file (read-only)", relpath);
	pthread_mutex_lock(&w->mu);
	e = find(w, project_id, p.target);
	if (!visible(e)) {
		if (!p.answer) {
			r = ao_errf(err, ENOENT, "%s: no such file", relpath);
			goto out;
		}
		if (e)
			r = reset_entry(w, e, &p, 1, err);
		else if (!(e = new_entry(w, project_id, &p, err)))
			r = -err->code;
		if (r < 0)
			goto out;
		if (size > 0)
			seed_answer(w, e, project_id);
	} else if (e->busy) {
		r = ao_errf(err, EBUSY, "%s is being sent right now", relpath);
		goto out;
	}
	data_path(w, e, path, sizeof(path));
	if (truncate(path, size) < 0) {
		r = ao_errf(err, errno, "spool: truncate: %s", strerror(errno));
		goto out;
	}
	e->dirty = 1;
	if (e->state != ST_WRITING) {
		e->state = ST_WRITING;
		save_locked(w, e);
	}
out:
	pthread_mutex_unlock(&w->mu);
	return r;
}

/* ---- I/O on handles ---- */

ssize_t ao_writes_read(struct ao_writes *w, uint64_t fh, char *buf, size_t size, off_t off,
		       struct ao_err *err)
{
	struct handle *h;
	ssize_t n;
	int fd;

	pthread_mutex_lock(&w->mu);
	h = get_handle(w, fh);
	if (!h) {
		pthread_mutex_unlock(&w->mu);
		return ao_errf(err, EBADF, "bad file handle");
	}
	if (!h->e) {
		n = 0;
		if (off >= 0 && (size_t)off < h->snaplen) {
			n = (ssize_t)(h->snaplen - (size_t)off < size ? h->snaplen - (size_t)off
								      : size);
			memcpy(buf, h->snap + off, (size_t)n);
		}
		pthread_mutex_unlock(&w->mu);
		return n;
	}
	fd = h->fd;
	pthread_mutex_unlock(&w->mu);
	n = pread(fd, buf, size, off);
	if (n < 0)
		return ao_errf(err, errno, "spool: read: %s", strerror(errno));
	return n;
}

ssize_t ao_writes_write(struct ao_writes *w, uint64_t fh, const char *buf, size_t size, off_t off,
			struct ao_err *err)
{
	struct handle *h;
	struct entry *e;
	ssize_t n;
	int fd;

	pthread_mutex_lock(&w->mu);
	h = get_handle(w, fh);
	if (!h || !h->e || !h->writable) {
		pthread_mutex_unlock(&w->mu);
		return ao_errf(err, EBADF, "file not open for writing");
	}
	e = h->e;
	fd = h->fd;
	e->dirty = 1;
	h->wrote = 1;
	if (e->state != ST_WRITING && !e->busy) {
		e->state = ST_WRITING;
		save_locked(w, e);
	}
	pthread_mutex_unlock(&w->mu);
	n = pwrite(fd, buf, size, off);
	if (n < 0)
		return ao_errf(err, errno, "spool: write: %s", strerror(errno));
	return n;
}

int ao_writes_ftruncate(struct ao_writes *w, uint64_t fh, off_t size, struct ao_err *err)
{
	struct handle *h;
	int fd;

	pthread_mutex_lock(&w->mu);
	h = get_handle(w, fh);
	if (!h || !h->e || !h->writable) {
		pthread_mutex_unlock(&w->mu);
		return ao_errf(err, EBADF, "file not open for writing");
	}
	h->e->dirty = 1;
	if (size > 0)
		h->wrote = 1;
	fd = h->fd;
	pthread_mutex_unlock(&w->mu);
	if (ftruncate(fd, size) < 0)
		return ao_errf(err, errno, "spool: truncate: %s", strerror(errno));
	return 0;
}

int ao_writes_fgetattr(struct ao_writes *w, uint64_t fh, struct stat *st, struct ao_err *err)
{
	struct handle *h;
	struct stat ds;
	int r = 0;

	pthread_mutex_lock(&w->mu);
	h = get_handle(w, fh);
	if (!h) {
		r = ao_errf(err, EBADF, "bad file handle");
	} else if (!h->e) {
		fill_stat(st, 0444, (off_t)h->snaplen, time(NULL));
	} else if (fstat(h->fd, &ds) < 0) {
		r = ao_errf(err, errno, "spool: %s", strerror(errno));
	} else {
		fill_stat(st, w->cfg.read_only ? 0444 : 0644, ds.st_size, ds.st_mtime);
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_flush(struct ao_writes *w, uint64_t fh, struct ao_err *err)
{
	struct handle *h;
	struct entry *e;
	struct stat st;
	int r;

	pthread_mutex_lock(&w->mu);
	h = get_handle(w, fh);
	if (!h) {
		pthread_mutex_unlock(&w->mu);
		return ao_errf(err, EBADF, "bad file handle");
	}
	e = h->e;
	if (!e || !h->writable || e->kind == EK_SCRATCH || find(w, e->project, e->relpath) != e) {
		pthread_mutex_unlock(&w->mu);
		return 0;
	}
	if (!e->dirty) { /* unchanged since the last upload: report that again */
		r = h->last_rc;
		if (r < 0)
			ao_errf(err, -r, "%s: %s", e->relpath,
				e->message ? e->message : strerror(-r));
		pthread_mutex_unlock(&w->mu);
		return r;
	}
	if (!h->wrote && fstat(h->fd, &st) == 0 && st.st_size == 0) {
		/* Nothing written through this descriptor yet: a shell's `> file`
		 * closes its first descriptor before the command writes through the
		 * dup'ed one. Report it, keep the entry open for writing; release
		 * records the refusal if nothing ever comes. */
		pthread_mutex_unlock(&w->mu);
		return ao_errf(err, EINVAL, "%s: empty file: nothing to send", e->relpath);
	}
	e->opens++; /* keep e alive while uploading without the lock */
	pthread_mutex_unlock(&w->mu);
	if (fsync(h->fd) < 0)
		ao_warn("write side: fsync: %s", strerror(errno));
	r = ws_submit(w, e, err);
	pthread_mutex_lock(&w->mu);
	e->opens--;
	h = get_handle(w, fh);
	if (h)
		h->last_rc = r;
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_fsync(struct ao_writes *w, uint64_t fh, struct ao_err *err)
{
	struct handle *h;
	int fd;

	pthread_mutex_lock(&w->mu);
	h = get_handle(w, fh);
	fd = h && h->e ? h->fd : -1;
	pthread_mutex_unlock(&w->mu);
	if (fd >= 0 && fsync(fd) < 0)
		return ao_errf(err, errno, "spool: fsync: %s", strerror(errno));
	return 0;
}

int ao_writes_release(struct ao_writes *w, uint64_t fh)
{
	struct handle *h;
	struct entry *e;

	pthread_mutex_lock(&w->mu);
	h = get_handle(w, fh);
	if (!h) {
		pthread_mutex_unlock(&w->mu);
		return -EBADF;
	}
	e = h->e;
	if (h->fd >= 0)
		close(h->fd);
	free(h->snap);
	memset(h, 0, sizeof(*h));
	if (e) {
		e->opens--;
		if (e->opens == 0 && e->state == ST_WRITING && e->dirty && e->kind != EK_SCRATCH &&
		    find(w, e->project, e->relpath) == e) {
			struct stat ds;
			char path[4096];

			data_path(w, e, path, sizeof(path));
			if (stat(path, &ds) == 0 && ds.st_size == 0) {
				e->state = ST_FAILED;
				e->code = EINVAL;
				entry_set_msg(e, "empty file: nothing was sent");
				save_locked(w, e);
			}
		}
		/* discarded while open: free it now that nobody uses it */
		if (e->opens == 0 && !e->busy && find(w, e->project, e->relpath) != e)
			spool_entry_free(e);
	}
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

json_t *ao_writes_status(struct ao_writes *w)
{
	json_t *pending = json_array(), *failed = json_array();
	struct entry *e;
	long sent = 0;

	pthread_mutex_lock(&w->mu);
	for (e = w->entries; e; e = e->next) {
		json_t *o;

		if (e->kind == EK_SCRATCH)
			continue;
		if (e->state == ST_SENT) {
			sent++;
			continue;
		}
		o = json_pack("{s:s,s:s,s:s,s:s?}", "project", e->project, "path", e->relpath,
			      "state", entry_state_name(e->state), "message", e->message);
		json_array_append_new(e->state == ST_FAILED ? failed : pending, o);
	}
	pthread_mutex_unlock(&w->mu);
	return json_pack("{s:o,s:o,s:I}", "pending", pending, "failed", failed, "sent",
			 (json_int_t)sent);
}
