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

#include "angofs/cancel.h"
#include "angofs/log.h"
#include "labels_prep.h"
#include "writes_int.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* ---- lifecycle ---- */

struct ao_writes *ao_writes_new(const struct ao_writes_cfg *cfg, struct ao_err *err)
{
	struct ao_writes *w = calloc(1, sizeof(*w));

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
	/* chunk limits: fixed defaults unless the configuration sets them */
	w->chunk_items = cfg->chunk_items > 0 ? cfg->chunk_items : PREP_MAX_ITEMS_DEFAULT;
	w->chunk_bytes = cfg->chunk_bytes > 4096 ? cfg->chunk_bytes : PREP_MAX_BYTES_DEFAULT;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->idle, NULL);
	if (spool_init(w->spool_dir, err) < 0) {
		ao_writes_free(w);
		return NULL;
	}
	{
		struct ao_err oe;

		w->order = spool_order_open(w->spool_dir, &oe);
		if (!w->order)
			ao_warn("write side: %s; writes of one file by several daemons sharing "
				"the spool are not ordered",
				oe.msg);
	}
	return w;
}

/* 1 if a holds a newer write of its name than b (spool_order.h stamps;
 * entries without one by their last change). */
static int newer(const struct entry *a, const struct entry *b)
{
	return a->seq != b->seq ? a->seq > b->seq : a->updated > b->updated;
}

/* One entry per name in a daemon: e, found in the spool (adopted from a
 * daemon that stopped, or one of two left by stopped daemons), names a file
 * this daemon lists already. Keep the newer write; 1 if e was dropped or set
 * aside (w->mu held). */
static int loaded_twice(struct ao_writes *w, struct entry *e)
{
	struct entry *x = ws_find(w, e->project, e->relpath);

	if (!x)
		return 0;
	if (!newer(e, x)) {
		ao_info("write side: %s/%s (%s) from a daemon that stopped: a newer write of it "
			"is listed here; dropped (superseded)",
			e->project, e->relpath, spool_entry_state_name(e->state));
		spool_remove(w->spool_dir, e);
		spool_entry_free(e);
		return 1;
	}
	if (x->busy || x->opens) {
		spool_entry_free(e); /* lock given back: adopted at a later scan */
		return 1;
	}
	ao_info("write side: %s/%s (%s) is superseded by a newer write from a daemon that "
		"stopped; dropped",
		x->project, x->relpath, spool_entry_state_name(x->state));
	ws_discard(w, x);
	return 0;
}

static void loaded(void *ud, struct entry *e)
{
	struct ao_writes *w = ud;

	if (e->kind != EK_SCRATCH && loaded_twice(w, e))
		return;
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
		spool_entry_set_msg(
		    e, "the daemon stopped before this file was closed, so it was not "
		       "sent; its bytes are kept here: copy the file again to send it");
		ws_save_locked(w, e);
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

struct rescan {
	char **ids;
	size_t n;
	struct entry *found;
};

static int rescan_known(void *ud, const char *id)
{
	struct rescan *r = ud;
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->ids[i], id))
			return 1;
	return 0;
}

static void rescan_found(void *ud, struct entry *e)
{
	struct rescan *r = ud;
	e->next = r->found;
	r->found = e;
}

void ws_rescan(struct ao_writes *w)
{
	struct rescan r = {NULL, 0, NULL};
	struct entry *e;
	size_t cap = 0;
	struct ao_err err;

	/* the ids listed here: probing one would drop this daemon's own lock */
	pthread_mutex_lock(&w->mu);
	for (e = w->entries; e; e = e->next)
		cap++;
	r.ids = calloc(cap + 1, sizeof(*r.ids));
	for (e = w->entries; r.ids && e; e = e->next)
		if ((r.ids[r.n] = strdup(e->id)))
			r.n++;
	pthread_mutex_unlock(&w->mu);
	if (!r.ids)
		return;
	if (spool_load(w->spool_dir, rescan_known, rescan_found, &r, &err) < 0)
		ao_warn("write side: scanning the spool: %s", err.msg);
	pthread_mutex_lock(&w->mu);
	while ((e = r.found)) {
		r.found = e->next;
		ao_info("write side: adopting %s/%s (%s) from a daemon that stopped", e->project,
			e->relpath, spool_entry_state_name(e->state));
		loaded(w, e);
	}
	pthread_mutex_unlock(&w->mu);
	for (size_t i = 0; i < r.n; i++)
		free(r.ids[i]);
	free(r.ids);
}

int ao_writes_start(struct ao_writes *w, struct ao_err *err)
{
	int r;

	pthread_mutex_lock(&w->mu);
	r = spool_load(w->spool_dir, NULL, loaded, w, err);
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
	ws_dirs_free(w);
	for (e = w->entries; e; e = n) {
		n = e->next;
		spool_entry_free(e);
	}
	spool_order_free(w->order);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->idle);
	free(w->spool_dir);
	free(w);
}

int ao_writes_owns(const char *relpath)
{
	struct wpath p;

	return ws_parse(relpath, &p) == 0 && (!p.is_dir || p.stdir);
}

/* ---- attributes and listing ---- */

int ao_writes_getattr(struct ao_writes *w, const char *project_id, const char *relpath,
		      struct stat *st, struct ao_err *err)
{
	struct wpath p;
	struct entry *e;
	int r = ws_parse(relpath, &p);

	if (r < 0 || (p.is_dir && !p.stdir))
		return ao_errf(err, ENOENT, "%s: not a write-side file", relpath);
	pthread_mutex_lock(&w->mu);
	e = p.stdir ? NULL : ws_lookup(w, project_id, &p);
	if (p.is_status && e && e->kind == EK_SCRATCH)
		e = NULL; /* scratch files have no status */
	if (p.area == AR_ASSETS && !(p.is_status ? e != NULL : ws_visible(e)) &&
	    ws_is_dir(w, project_id, relpath)) {
		ws_dir_stat(w, st); /* assets/.status, a subfolder */
		r = 0;
	} else if (p.is_status && e) {
		char *t = ws_status_text(w, e);

		ws_fill_stat(st, 0444, (off_t)strlen(t), (time_t)e->updated);
		free(t);
		r = 0;
	} else if (!p.is_status && ws_visible(e)) {
		r = ws_entry_stat(w, e, st);
	} else {
		r = ao_errf(err, ENOENT, "%s: no such file", relpath);
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ws_gone(struct ao_writes *w, const char *project, const char *relpath, int clear)
{
	long long now = ao_sys_now_ms();

	for (unsigned i = 0; i < 16; i++)
		if (w->gone[i].until_ms > now && !strcmp(w->gone[i].relpath, relpath) &&
		    !strcmp(w->gone[i].project, project)) {
			if (clear)
				w->gone[i].until_ms = 0;
			return 1;
		}
	return 0;
}

int ao_writes_hidden(struct ao_writes *w, const char *project_id, const char *relpath)
{
	struct wpath p;
	int r;

	if (ws_parse(relpath, &p) < 0 || !p.answer || p.is_status)
		return 0;
	pthread_mutex_lock(&w->mu);
	r = !ws_visible(ws_find(w, project_id, p.target)) && ws_gone(w, project_id, p.target, 0);
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_sent_stat(struct ao_writes *w, const char *project_id, const char *relpath,
			struct stat *st)
{
	struct wpath p;
	struct entry *e;
	int r = -ENOENT;

	if (ws_parse(relpath, &p) < 0 || p.is_dir || p.is_status)
		return -ENOENT;
	pthread_mutex_lock(&w->mu);
	e = ws_find(w, project_id, p.target);
	if (e && e->state == ST_SENT && e->kind != EK_SCRATCH &&
	    time(NULL) - (time_t)e->updated < 60) {
		ws_fill_stat(st, 0444, (off_t)e->size, (time_t)e->updated);
		r = 0;
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
	int r = ws_parse(relpath, &p);

	if (r == 0 && p.area == AR_ASSETS) { /* assets/ and its subfolders, .status/ */
		pthread_mutex_lock(&w->mu);
		if (ws_is_dir(w, project_id, relpath) || !strcmp(relpath, "assets"))
			ws_assets_readdir(w, project_id, relpath, fill, ctx);
		pthread_mutex_unlock(&w->mu);
		return 0;
	}
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
		if (ws_visible(e) && !(p.area == AR_TASK && !strcmp(name, "answer.json"))) {
			ws_entry_stat(w, e, &st);
			if (fill(ctx, name, &st))
				break;
		}
		if (e->kind != EK_SCRATCH) {
			char *t = ws_status_text(w, e);

			ws_status_name(name, sname, sizeof(sname));
			ws_fill_stat(&st, 0444, (off_t)strlen(t), (time_t)e->updated);
			free(t);
			if (fill(ctx, sname, &st))
				break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* ---- opening ---- */

/*
 * Seeding an answer entry needs the task's current answer (GET /task), which
 * must never be fetched under w->mu: every write of the mount needs that
 * lock. So when an operation finds under the lock that it needs a seed, it
 * drops the lock, fetches (ws_fetch_answer), and starts over; if another
 * thread spooled something meanwhile, the fetched copy is simply not used.
 */

/* The task answer fetched for seeding (malloc'd; NULL when none) */
struct answer_seed {
	char *buf;
	size_t len;
	int fetched;
};

/*
 * The entry for p when nothing visible is spooled for it (w->mu held): *ep
 * (an invisible old entry) reset, or a new one, seeded with the task's
 * current answer when seed_it. A seed not fetched yet means: drop w->mu,
 * fetch it into *s, return 1; the caller starts over (takes w->mu and looks
 * again). Else 0 with *ep the entry, or -errno; w->mu still held.
 */
static int ws_prepare_answer_entry(struct ao_writes *w, const char *project_id,
				   const struct wpath *p, struct entry **ep, int seed_it,
				   struct answer_seed *s, struct ao_err *err)
{
	int r = 0;

	if (seed_it && !s->fetched) {
		pthread_mutex_unlock(&w->mu);
		ws_fetch_answer(w, project_id, p->target, &s->buf, &s->len);
		s->fetched = 1;
		return 1;
	}
	if (*ep)
		r = ws_reset_entry(w, *ep, p, 1, err);
	else if (!(*ep = ws_new_entry(w, project_id, p, err)))
		r = -err->code;
	if (r == 0 && seed_it)
		ws_seed_answer(w, *ep, s->buf, s->len);
	return r;
}

/*
 * An open for writing of a file whose earlier content is being sent right
 * now (a POST under way; after a restart, the resend of what the spool
 * held) waits for that send to end: the new content is the next one, the
 * last write wins. Bounded (BUSY_WAIT_MS) and not past an interrupt of the
 * caller. One step (w->mu held): 1 when the caller should look again (the
 * entry may be gone meanwhile), -EBUSY past *until, -EINTR.
 */
#define BUSY_WAIT_MS 75000

static int busy_wait_step(struct ao_writes *w, long long *until)
{
	if (!*until)
		*until = ao_sys_now_ms() + BUSY_WAIT_MS;
	if (ao_sys_now_ms() >= *until)
		return -EBUSY;
	return ao_cancel_cond_wait(&w->idle, &w->mu) < 0 ? -EINTR : 1;
}

static int busy_err(int r, const char *relpath, const char *spath, struct ao_err *err)
{
	if (r == -EINTR)
		return ao_errf(err, EINTR,
			       "%s: interrupted while its earlier content was being sent; "
			       "nothing was written",
			       relpath);
	return ao_errf(err, EBUSY,
		       "%s is still being sent after %d s; try again when %s "
		       "shows the outcome",
		       relpath, BUSY_WAIT_MS / 1000, spath);
}

int ao_writes_create(struct ao_writes *w, const char *project_id, const char *relpath, mode_t mode,
		     int flags, uint64_t *fh, struct ao_err *err)
{
	char spath[4200];
	struct wpath p;
	struct entry *e;
	int r = ws_parse(relpath, &p);

	if (r < 0 || p.is_dir)
		return ao_errf(err, EACCES, "%s: files cannot be created here", relpath);
	if (w->cfg.read_only)
		return ws_refuse_ro(w, relpath, err);
	if (p.is_status)
		return ao_errf(err, EACCES, "%s is a status file (read-only)", relpath);
	ws_status_path(p.target, spath, sizeof(spath));
	long long until = 0;
	pthread_mutex_lock(&w->mu);
	while ((e = ws_find(w, project_id, p.target)) && e->busy &&
	       (r = busy_wait_step(w, &until)) > 0)
		;
	ws_gone(w, project_id, p.target, 1);
	if (p.area == AR_ASSETS && ws_is_dir(w, project_id, relpath)) {
		r = ao_errf(err, EISDIR, "%s is a directory", relpath);
	} else if (p.area == AR_ASSETS && strcmp(p.dir, "assets") &&
		   !ws_is_dir(w, project_id, p.dir)) {
		r = ao_errf(err, ENOENT, "%s: no such directory", p.dir);
	} else if (e && e->busy) {
		r = busy_err(r, relpath, spath, err);
	} else if (e && (flags & O_EXCL) && ws_visible(e)) {
		r = ao_errf(err, EEXIST, "%s exists", relpath);
	} else {
		if (e)
			r = ws_reset_entry(w, e, &p, 1, err);
		else if (!(e = ws_new_entry(w, project_id, &p, err)))
			r = -err->code;
		if (r == 0)
			r = ws_open_data_handle(w, e, 1, fh, err);
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_open(struct ao_writes *w, const char *project_id, const char *relpath, int flags,
		   uint64_t *fh, struct ao_err *err)
{
	int writable = (flags & O_ACCMODE) != O_RDONLY;
	struct answer_seed seed = {NULL, 0, 0};
	struct wpath p;
	struct entry *e;
	int r = ws_parse(relpath, &p);

	long long until = 0;

	if (r < 0 || p.is_dir)
		return ao_errf(err, ENOENT, "%s: not a write-side file", relpath);
again:
	pthread_mutex_lock(&w->mu);
	e = ws_lookup(w, project_id, &p);
	if (p.is_status) {
		if (!e || e->kind == EK_SCRATCH) {
			r = ao_errf(err, ENOENT, "%s: no such file", relpath);
		} else if (writable) {
			r = ao_errf(err, EACCES, "%s is a status file (read-only)", relpath);
		} else if ((r = ws_new_handle(w, err)) >= 0) {
			w->h[r].snap = ws_status_text(w, e);
			w->h[r].snaplen = w->h[r].snap ? strlen(w->h[r].snap) : 0;
			*fh = (uint64_t)r + 1;
			r = 0;
		}
		goto out;
	}
	/*
	 * An OPEN with O_TRUNC for writing of a name that was sent (or discarded)
	 * is a create the kernel took for an open: its dentry of the old file is
	 * still cached (entry_timeout), so `cp f labels/` again must start a new
	 * file, not fail. (The kernel drops O_CREAT from OPEN, O_TRUNC stays.)
	 */
	if (!ws_visible(e) && !(p.answer && writable) && !(writable && (flags & O_TRUNC))) {
		r = ao_errf(err, ENOENT, "%s: no such file", relpath);
		goto out;
	}
	if (writable && w->cfg.read_only) {
		r = ws_refuse_ro(w, relpath, err);
		goto out;
	}
	if (writable && e && e->busy) {
		char spath[4200];
		if ((r = busy_wait_step(w, &until)) > 0) {
			pthread_mutex_unlock(&w->mu);
			goto again;
		}
		ws_status_path(p.target, spath, sizeof(spath));
		r = busy_err(r, relpath, spath, err);
		goto out;
	}
	if (!ws_visible(e)) { /* writing a task's answer that nothing is spooled for */
		int seed_it = p.answer && !(flags & O_TRUNC);

		r = ws_prepare_answer_entry(w, project_id, &p, &e, seed_it, &seed, err);
		if (r > 0)
			goto again;
		if (r == 0 && seed_it) {
			/* only a write (or O_TRUNC) sends: an open for reading and
			 * writing that writes nothing leaves the hub alone */
			e->dirty = 0;
			e->seeded = 1;
		}
	} else if (writable && (flags & O_TRUNC)) {
		char path[4096];

		if (e->state != ST_WRITING) {
			e->state = ST_WRITING;
			ws_save_locked(w, e);
		}
		ws_data_path(w, e, path, sizeof(path));
		if (truncate(path, 0) < 0)
			r = ao_errf(err, errno, "spool: %s", strerror(errno));
		e->dirty = 1;
		e->write_err = 0;
	}
	if (r == 0)
		r = ws_open_data_handle(w, e, writable, fh, err);
out:
	pthread_mutex_unlock(&w->mu);
	free(seed.buf);
	return r;
}

/* ---- namespace changes ---- */

int ao_writes_unlink(struct ao_writes *w, const char *project_id, const char *relpath,
		     struct ao_err *err)
{
	struct wpath p;
	struct entry *e;
	int r = ws_parse(relpath, &p);

	if (r < 0 || p.is_dir)
		return ao_errf(err, ENOENT, "%s: no such file", relpath);
	if (w->cfg.read_only)
		return ws_refuse_ro(w, relpath, err);
	pthread_mutex_lock(&w->mu);
	e = ws_lookup(w, project_id, &p);
	if (p.is_status) {
		if (!e)
			r = ao_errf(err, ENOENT, "%s: no such file", relpath);
		else if (ws_visible(e))
			r = ao_errf(err, EPERM, "%s: remove the file itself (%s) to discard it",
				    relpath, p.target);
		else if (e->busy || e->opens)
			r = ao_errf(err, EBUSY, "%s is in use", relpath);
		else
			ws_discard(w, e);
	} else if (ws_visible(e)) {
		if (e->busy)
			r = ao_errf(err, EBUSY, "%s is being sent right now", relpath);
		else {
			ao_log(e->kind == EK_SCRATCH ? AO_LOG_DEBUG : AO_LOG_INFO,
			       "write side: %s/%s discarded by the user (state %s)", project_id,
			       relpath, spool_entry_state_name(e->state));
			ws_discard(w, e);
		}
	} else if (p.answer) {
		/* mv from another file system and install(1) remove the target
		 * before writing it: accepted, and it changes nothing on the hub
		 * (the task keeps its answer; write {} to clear it) */
		unsigned i = w->gone_next++ % 16;

		ao_debug("write side: unlink of %s/%s: nothing spooled, the hub keeps the answer",
			 project_id, relpath);
		snprintf(w->gone[i].project, sizeof(w->gone[i].project), "%s", project_id);
		if (strlen(p.target) < sizeof(w->gone[i].relpath))
			memcpy(w->gone[i].relpath, p.target, strlen(p.target) + 1);
		w->gone[i].until_ms = ao_sys_now_ms() + WS_GONE_MS;
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
	char *seed = NULL;
	size_t seedlen = 0;
	int r, submit = 0, fetched = 0;

	if (ws_parse(from, &pf) < 0 || pf.is_dir)
		return ao_errf(err, ENOENT, "%s: no such file", from);
	if (ws_parse(to, &pt) < 0 || pt.is_dir)
		return ao_errf(err, EXDEV, "%s -> %s: cannot move a file there", from, to);
	if (w->cfg.read_only)
		return ws_refuse_ro(w, from, err);
	if (flags & RENAME_EXCHANGE)
		return ao_errf(err, EINVAL, "rename: exchanging files is not supported here");
	if (pf.is_status || pt.is_status)
		return ao_errf(err, EACCES, "status files cannot be renamed or replaced");
	if (strcmp(pf.dir, pt.dir))
		return ao_errf(err, EXDEV, "%s -> %s: only renames within one directory", from, to);
again:
	pthread_mutex_lock(&w->mu);
	e = ws_find(w, project_id, pf.target);
	t = ws_find(w, project_id, pt.target);
	if (!ws_visible(e)) {
		if (pf.answer && !pt.answer) {
			/* editor backup of the current answer (vim: answer.json -> answer.json~) */
			if (t && (t->busy || t->opens)) {
				r = ao_errf(err, EBUSY, "%s is in use", to);
			} else if (!fetched) {
				pthread_mutex_unlock(&w->mu);
				ws_fetch_answer(w, project_id, pf.target, &seed, &seedlen);
				fetched = 1;
				goto again;
			} else {
				if (t)
					ws_discard(w, t);
				e = ws_new_entry(w, project_id, &pt, err);
				r = e ? 0 : -err->code;
				if (e) {
					ws_seed_answer(w, e, seed, seedlen);
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
	if (ws_visible(t) && (flags & RENAME_NOREPLACE)) {
		r = ao_errf(err, EEXIST, "%s exists", to);
		goto out;
	}
	if (t) {
		if (t->busy) {
			r = ao_errf(err, EBUSY, "%s is being sent right now", to);
			goto out;
		}
		ws_discard(w, t);
	}
	free(e->relpath);
	e->relpath = strdup(pt.target);
	if (!e->relpath) {
		r = ao_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	/* a finished temp file renamed onto a real name is uploaded now, and
	 * rename() returns the outcome. Finished means closed: a handle that
	 * was closed (FLUSH seen) may still be open here because the kernel
	 * sends its RELEASE after close() returned (sed -i, perl -pi close the
	 * temp file and rename it at once), and a reader's handle changes
	 * nothing. Only a writer still at work defers the upload to its close. */
	submit = ws_kind_of(&pt) != EK_SCRATCH &&
		 (e->kind == EK_SCRATCH || e->state == ST_WRITING) && !ws_still_written(w, e);
	e->kind = ws_kind_of(&pt);
	if (e->kind == EK_ANSWER)
		e->next_stage = pt.next ? 1 : w->cfg.next_stage;
	if (submit)
		e->dirty = 1; /* stamped by the submission */
	else if (e->kind != EK_SCRATCH && e->state == ST_PENDING)
		e->seq = ws_stamp(w, e); /* now the newest write of its new name */
	ws_save_locked(w, e);
	r = 0;
out:
	pthread_mutex_unlock(&w->mu);
	free(seed);
	if (r == 0 && submit)
		r = ws_submit(w, e, err);
	return r;
}

int ao_writes_truncate(struct ao_writes *w, const char *project_id, const char *relpath, off_t size,
		       struct ao_err *err)
{
	char path[4096];
	struct answer_seed seed = {NULL, 0, 0};
	struct wpath p;
	struct entry *e;
	int r = ws_parse(relpath, &p);

	if (r < 0 || p.is_dir)
		return ao_errf(err, ENOENT, "%s: no such file", relpath);
	if (w->cfg.read_only)
		return ws_refuse_ro(w, relpath, err);
	if (p.is_status)
		return ao_errf(err, EACCES, "%s is a status file (read-only)", relpath);
again:
	pthread_mutex_lock(&w->mu);
	e = ws_find(w, project_id, p.target);
	if (!ws_visible(e)) {
		if (!p.answer) {
			r = ao_errf(err, ENOENT, "%s: no such file", relpath);
			goto out;
		}
		r = ws_prepare_answer_entry(w, project_id, &p, &e, size > 0, &seed, err);
		if (r > 0)
			goto again;
		if (r < 0)
			goto out;
	} else if (e->busy) {
		r = ao_errf(err, EBUSY, "%s is being sent right now", relpath);
		goto out;
	}
	ws_data_path(w, e, path, sizeof(path));
	if (truncate(path, size) < 0) {
		r = ao_errf(err, errno, "spool: truncate: %s", strerror(errno));
		goto out;
	}
	e->dirty = 1;
	e->gen++;
	if (size == 0)
		e->write_err = 0;
	if (e->state != ST_WRITING) {
		e->state = ST_WRITING;
		ws_save_locked(w, e);
	}
out:
	pthread_mutex_unlock(&w->mu);
	free(seed.buf);
	return r;
}
