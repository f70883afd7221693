/*
 * writes_dirs.c - the directories of the write side inside assets/: the
 * status directory assets/.status/ and the subfolders `cp -r DIR assets/`
 * makes (include/angofs/writes.h: ao_writes_mkdir, ao_writes_rmdir,
 * ao_writes_isdir; docs/WRITES.md, "assets/").
 *
 * Design choices:
 * - Status files of assets/ live in assets/.status/, the tree of assets/
 *   mirrored (assets/.status/<name>, assets/.status/<dir>/<name>): a glob of
 *   images (globbing assets for every name, an image loader over the folder) never meets
 *   them, which it did when they were "<name>.status" beside the pictures.
 *   labels/, attachments/ and tasks/<id>/ keep their "<name>.status" files.
 * - Subfolders are flattened: a file copied to assets/<dir>/<sub>/<name> is
 *   the asset whose externalId is its path under assets/ ("<dir>/<sub>/
 *   <name>", what cp -r meant), listed at the top of assets/ as
 *   "<dir>_<sub>_<name>" (names sanitize '/'), so same-named files of two
 *   class folders stay apart and keep their class in their name. Not batch
 *   names: the API has no call that creates a batch.
 * - assets/.status always resolves; a listing of assets/ shows it once it
 *   holds a status (after a copy into assets/), so a loader that lists the
 *   folder of a mount nobody copied into meets pictures only.
 * - A directory exists while it was made by mkdir in this daemon (until
 *   rmdir or unmount) or while a file written below it is still visible
 *   (pending or failed, also after a restart); the dataset views and the
 *   hub know nothing of it. Nothing here is sent to the hub.
 * Every function here runs with w->mu held, except the ao_writes_* ones,
 * which take it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "writes_int.h"

#define STATUS_DIR "assets/.status"

struct ws_dir {
	struct ws_dir *next;
	char *project, *relpath;
};

void ws_dirs_free(struct ao_writes *w)
{
	struct ws_dir *d, *n;

	for (d = w->dirs; d; d = n) {
		n = d->next;
		free(d->project);
		free(d->relpath);
		free(d);
	}
	w->dirs = NULL;
}

static struct ws_dir *made(struct ao_writes *w, const char *project, const char *relpath)
{
	for (struct ws_dir *d = w->dirs; d; d = d->next)
		if (!strcmp(d->relpath, relpath) && !strcmp(d->project, project))
			return d;
	return NULL;
}

/* Is s below dir (dir + "/" + something)? */
static int below(const char *s, const char *dir, size_t dl)
{
	return !strncmp(s, dir, dl) && s[dl] == '/' && s[dl + 1];
}

/* The assets/ directory a status directory mirrors ("assets/.status/a" ->
 * "assets/a"), or NULL when relpath is not in assets/.status/. */
static const char *mirrored(const char *relpath, char *buf, size_t n)
{
	size_t sl = strlen(STATUS_DIR);

	if (strncmp(relpath, STATUS_DIR, sl) || (relpath[sl] && relpath[sl] != '/'))
		return NULL;
	snprintf(buf, n, "assets%s", relpath + sl);
	return buf;
}

int ws_is_dir(struct ao_writes *w, const char *project, const char *relpath)
{
	char buf[4200];
	const char *m = mirrored(relpath, buf, sizeof(buf));
	size_t dl;

	if (strncmp(relpath, "assets/", 7))
		return 0;
	if ((m && !strcmp(m, "assets")) || (!m && made(w, project, relpath)))
		return 1; /* assets/.status itself, or a mkdir */
	dl = strlen(m ? m : relpath);
	for (struct entry *e = w->entries; e; e = e->next) {
		if (strcmp(e->project, project) || !below(e->relpath, m ? m : relpath, dl))
			continue;
		if (m ? e->kind != EK_SCRATCH : ws_visible(e))
			return 1;
	}
	return 0;
}

void ws_dir_stat(struct ao_writes *w, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | (w->cfg.read_only ? 0555 : 0755);
	st->st_nlink = 2;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 4096;
	st->st_mtime = st->st_ctime = st->st_atime = time(NULL);
}

/* The names listed so far in one listing (directories are listed once). */
struct seen {
	char **v;
	size_t n;
};

static int seen_add(struct seen *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && !strncmp(s->v[i], name, len))
			return 0;
	char **nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!nv)
		return 0;
	s->v = nv;
	if (!(s->v[s->n] = strndup(name, len)))
		return 0;
	s->n++;
	return 1;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* The child of dir (length dl) that path lies in: its name (length *len)
 * and whether it is a directory (path goes on below it). */
static const char *child(const char *path, size_t dl, size_t *len, int *isdir)
{
	const char *name = path + dl + 1, *slash = strchr(name, '/');

	*isdir = slash != NULL;
	*len = slash ? (size_t)(slash - name) : strlen(name);
	return name;
}

int ws_assets_readdir(struct ao_writes *w, const char *project, const char *relpath,
		      ao_fill_fn fill, void *ctx)
{
	char buf[4200], sname[4200];
	const char *m = mirrored(relpath, buf, sizeof(buf)), *dir = m ? m : relpath;
	size_t dl = strlen(dir), len;
	struct seen seen = {NULL, 0};
	struct stat st;
	int isdir, stop = 0;

	if (!m && !strcmp(relpath, "assets")) {
		/* listed once it holds something: a mount nobody copied into shows
		 * the pictures only (a loader listing the folder meets no directory) */
		for (struct entry *e = w->entries; e; e = e->next)
			if (!strcmp(e->project, project) && !strncmp(e->relpath, "assets/", 7) &&
			    e->kind != EK_SCRATCH) {
				ws_dir_stat(w, &st);
				stop = fill(ctx, ".status", &st);
				break;
			}
	}
	for (struct entry *e = w->entries; e && !stop; e = e->next) {
		if (strcmp(e->project, project) || !below(e->relpath, dir, dl))
			continue;
		if (m ? e->kind == EK_SCRATCH : !ws_visible(e))
			continue;
		const char *name = child(e->relpath, dl, &len, &isdir);
		if (isdir) {
			if (seen_add(&seen, name, len)) {
				ws_dir_stat(w, &st);
				snprintf(sname, sizeof(sname), "%.*s", (int)len, name);
				stop = fill(ctx, sname, &st);
			}
		} else if (m) { /* a status file */
			char *t = ws_status_text(w, e);
			ws_fill_stat(&st, 0444, t ? (off_t)strlen(t) : 0, (time_t)e->updated);
			free(t);
			stop = fill(ctx, name, &st);
		} else {
			ws_entry_stat(w, e, &st);
			stop = fill(ctx, name, &st);
		}
	}
	for (struct ws_dir *d = m ? NULL : w->dirs; d && !stop; d = d->next) {
		if (strcmp(d->project, project) || !below(d->relpath, dir, dl))
			continue;
		const char *name = child(d->relpath, dl, &len, &isdir);
		if (!isdir && seen_add(&seen, name, len)) {
			ws_dir_stat(w, &st);
			stop = fill(ctx, name, &st);
		}
	}
	seen_free(&seen);
	return 0;
}

void ws_status_path(const char *relpath, char *buf, size_t n)
{
	if (!strncmp(relpath, "assets/", 7)) {
		snprintf(buf, n, STATUS_DIR "/%s", relpath + 7);
		return;
	}
	const char *slash = strrchr(relpath, '/');
	char sname[WS_NAME_MAX + 1];
	ws_status_name(slash ? slash + 1 : relpath, sname, sizeof(sname));
	snprintf(buf, n, "%.*s%s", slash ? (int)(slash - relpath + 1) : 0, relpath, sname);
}

int ao_writes_isdir(struct ao_writes *w, const char *project_id, const char *relpath)
{
	int r;

	if (strncmp(relpath, "assets/", 7))
		return 0;
	pthread_mutex_lock(&w->mu);
	r = ws_is_dir(w, project_id, relpath);
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_mkdir(struct ao_writes *w, const char *project_id, const char *relpath,
		    struct ao_err *err)
{
	struct wpath p;
	struct ws_dir *d;
	int r = ws_parse(relpath, &p);

	if (r < 0 || p.area != AR_ASSETS || p.is_dir || p.is_status)
		return ao_errf(err, EPERM, "%s: directories can be made only inside assets/",
			       relpath);
	if (w->cfg.read_only)
		return ws_refuse_ro(w, relpath, err);
	pthread_mutex_lock(&w->mu);
	if (ws_visible(ws_find(w, project_id, relpath)) || ws_is_dir(w, project_id, relpath))
		r = ao_errf(err, EEXIST, "%s exists", relpath);
	else if (strcmp(p.dir, "assets") && !ws_is_dir(w, project_id, p.dir))
		r = ao_errf(err, ENOENT, "%s: no such directory", p.dir);
	else if (!(d = calloc(1, sizeof(*d))) || !(d->project = strdup(project_id)) ||
		 !(d->relpath = strdup(relpath))) {
		if (d)
			free(d->project);
		free(d);
		r = ao_errf(err, ENOMEM, "out of memory");
	} else {
		d->next = w->dirs;
		w->dirs = d;
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

int ao_writes_rmdir(struct ao_writes *w, const char *project_id, const char *relpath,
		    struct ao_err *err)
{
	struct wpath p;
	struct ws_dir **pp, *d;
	size_t dl = strlen(relpath);
	int r = ws_parse(relpath, &p);

	if (r < 0 || p.area != AR_ASSETS || p.is_dir || p.is_status)
		return ao_errf(err, p.stdir ? EBUSY : ENOENT,
			       p.stdir ? "%s holds the status files of assets/ (rm a status file "
					 "to discard it)"
				       : "%s: not a directory of the write side",
			       relpath);
	if (w->cfg.read_only)
		return ws_refuse_ro(w, relpath, err);
	pthread_mutex_lock(&w->mu);
	if (!ws_is_dir(w, project_id, relpath)) {
		r = ao_errf(err, ws_visible(ws_find(w, project_id, relpath)) ? ENOTDIR : ENOENT,
			    "%s: no such directory", relpath);
		goto out;
	}
	for (struct entry *e = w->entries; e; e = e->next)
		if (!strcmp(e->project, project_id) && below(e->relpath, relpath, dl) &&
		    ws_visible(e)) {
			r = ao_errf(err, ENOTEMPTY, "%s is not empty (%s)", relpath, e->relpath);
			goto out;
		}
	for (d = w->dirs; d; d = d->next)
		if (!strcmp(d->project, project_id) && below(d->relpath, relpath, dl)) {
			r = ao_errf(err, ENOTEMPTY, "%s is not empty (%s/)", relpath, d->relpath);
			goto out;
		}
	for (pp = &w->dirs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->relpath, relpath) && !strcmp((*pp)->project, project_id)) {
			d = *pp;
			*pp = d->next;
			free(d->project);
			free(d->relpath);
			free(d);
			break;
		}
out:
	pthread_mutex_unlock(&w->mu);
	return r;
}
