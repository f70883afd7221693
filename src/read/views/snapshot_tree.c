/*
 * snapshot_tree.c - the snapshots in the tree (<project>/snapshots/;
 * snapshots.c is the store) and a snapshot's dataset source (views_int.h).
 *
 * Design: every path below snapshots/NAME is resolved against the pinned
 * directory itself (one stat per resolution, so a snapshot another daemon
 * pinned or unpinned is seen at once, and a name pinned again is another
 * inode, never mistaken for the old one). Its files are the pinned files,
 * served by pread from a descriptor of their own, under the per-path
 * rule (fs/kcache.c) with the file's identity standing for its bytes (a path that a new
 * pin of the same name reuses gets the new bytes, never the old pages).
 * snapshot.json and export/ are those files; datasets/ is read/views/tree.c's tree
 * over a set whose one generation comes from the pin: the export, the
 * schema, and the names and sizes images.tsv holds (no request, no header
 * read). Times: every entry shows the pin's creation time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../read_int.h"
#include "views_int.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"

/* ---- a snapshot set's source ------------------------------------------------------- */

int snap_source(struct ao_core *c, const struct dsv_set *s, int *fd, json_t **cs,
		struct ao_err *err)
{
	char p[4096];
	struct stat st;
	json_error_t je;

	(void)c;
	*fd = -1;
	*cs = NULL;
	if (stat(s->root ? s->root : s->dir, &st) < 0 ||
	    (unsigned long long)st.st_ino != s->snap_ino)
		return ao_errf(err, ENOENT, "snapshot '%s' was unpinned", s->snap);
	if (s->sub[0] && stat(s->dir, &st) < 0)
		return ao_errf(err, ENOENT, "snapshot '%s' has no %s view (made after it)", s->snap,
			       s->sub);
	snprintf(p, sizeof(p), "%s/schema.json", s->dir);
	*cs = json_load_file(p, 0, &je);
	if (!*cs)
		return ao_errf(err, EIO, "%s: %s", p, je.text);
	snprintf(p, sizeof(p), "%s/export/tasks.ndjson", s->dir);
	*fd = open(p, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		json_decref(*cs);
		*cs = NULL;
		return ao_errf(err, errno, "%s: %s", p, strerror(errno));
	}
	return 0;
}

/* images.tsv: per image (record order) its record number, size and name. */
struct snap_naming {
	size_t n;
	unsigned long long *rec;
	int *w, *h;
	char **name;
};

void snap_naming_end(struct snap_naming *nm)
{
	if (!nm)
		return;
	for (size_t i = 0; i < nm->n; i++)
		free(nm->name[i]);
	free(nm->name);
	free(nm->rec);
	free(nm->w);
	free(nm->h);
	free(nm);
}

static long find_rec(const struct snap_naming *nm, unsigned long long rec)
{
	size_t lo = 0, hi = nm->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (nm->rec[mid] < rec)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nm->n && nm->rec[lo] == rec ? (long)lo : -1;
}

static const char *pinned_name(void *ud, const struct ao_ds_image *img)
{
	struct snap_naming *nm = ud;
	long i = find_rec(nm, img->rec_no);

	return i >= 0 ? nm->name[i] : NULL;
}

static int pinned_size(void *ud, const struct ao_ds_image *img, int *w, int *h)
{
	struct snap_naming *nm = ud;
	long i = find_rec(nm, img->rec_no);

	if (i < 0 || nm->w[i] <= 0)
		return 0;
	*w = nm->w[i];
	*h = nm->h[i];
	return 1;
}

static int naming_add(struct snap_naming *nm, size_t *cap, char *line)
{
	char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
	char *t3 = t2 ? strchr(t2 + 1, '\t') : NULL;

	if (!t3)
		return -EIO;
	if (nm->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		void *a = realloc(nm->rec, nc * sizeof(*nm->rec)), *b, *d, *e;
		if (a)
			nm->rec = a;
		b = a ? realloc(nm->w, nc * sizeof(int)) : NULL;
		if (b)
			nm->w = b;
		d = b ? realloc(nm->h, nc * sizeof(int)) : NULL;
		if (d)
			nm->h = d;
		e = d ? realloc(nm->name, nc * sizeof(char *)) : NULL;
		if (!e)
			return -ENOMEM;
		nm->name = e;
		*cap = nc;
	}
	nm->rec[nm->n] = strtoull(line, NULL, 10);
	nm->w[nm->n] = atoi(t1 + 1);
	nm->h[nm->n] = atoi(t2 + 1);
	if (!(nm->name[nm->n] = strdup(t3 + 1)))
		return -ENOMEM;
	nm->n++;
	return 0;
}

int snap_naming_begin(struct dsv_gen *g, struct snap_naming **out, struct ao_err *err)
{
	struct snap_naming *nm = calloc(1, sizeof(*nm));
	char p[4096], *line = NULL;
	size_t cap = 0, lcap = 0;
	ssize_t len;
	int rc = 0;

	*out = NULL;
	snprintf(p, sizeof(p), "%s/images.tsv", g->set->dir);
	FILE *f = nm ? fopen(p, "re") : NULL;
	if (!f) {
		free(nm);
		return ao_errf(err, nm ? errno : ENOMEM, "%s: %s", p, strerror(errno));
	}
	while (rc == 0 && (len = getline(&line, &lcap, f)) > 0) {
		if (line[0] == '#')
			continue;
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		rc = naming_add(nm, &cap, line);
	}
	free(line);
	fclose(f);
	if (rc < 0) {
		snap_naming_end(nm);
		return ao_errf(err, -rc, "%s: %s", p, rc == -EIO ? "malformed" : "out of memory");
	}
	struct ao_ds_naming hooks = {NULL, pinned_name, nm, pinned_size};
	ao_ds_index_set_naming(g->idx, &hooks);
	*out = nm;
	return 0;
}

void snap_generation(struct ao_core *c, const char *project_id, const char *name, char *buf,
		     size_t n)
{
	char p[4400];
	json_t *j;

	buf[0] = '\0';
	if (snap_path(c, project_id, name, p, sizeof(p) - 20) < 0)
		return;
	strcat(p, "/snapshot.json");
	j = json_load_file(p, 0, NULL);
	snprintf(buf, n, "%s",
		 json_string_value(json_object_get(json_object_get(j, "generation"), "export"))
		     ?: "");
	json_decref(j);
}

/* ---- the tree --------------------------------------------------------------------- */

/* created_ms of the snapshot n is in, from the directory's snapshot.json. */
static time_t created(struct ao_core *c, const struct ao_node *n)
{
	char p[4096];
	struct stat st;

	if (snap_path(c, n->project_id, n->snap, p, sizeof(p)) < 0)
		return c->t0;
	strncat(p, "/snapshot.json", sizeof(p) - strlen(p) - 1);
	return stat(p, &st) == 0 ? st.st_mtime : c->t0;
}

/* The newest snapshot of the project (latest's target); 0 or -ENOENT. */
static int newest(struct ao_core *c, const char *project_id, char *name, size_t n)
{
	struct snap_ent *v;
	size_t k;

	snap_list(c, project_id, 0, &v, &k);
	if (k)
		snprintf(name, n, "%s", v[k - 1].name);
	free(v);
	return k ? 0 : -ENOENT;
}

int snap_has_latest(struct ao_core *c, const char *project_id)
{
	char name[AO_ID_MAX];

	return newest(c, project_id, name, sizeof(name)) == 0;
}

int snap_readlink(struct ao_core *c, const struct ao_node *n, char *buf, size_t size,
		  struct ao_err *err)
{
	if (newest(c, n->project_id, buf, size) < 0)
		return ao_errf(err, ENOENT, "no snapshot yet");
	return 0;
}

int snap_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st, struct ao_err *err)
{
	char p[4096], target[AO_ID_MAX];
	struct stat fst;

	switch (n->kind) {
	case AO_N_SNAP_LINK:
		if (newest(c, n->project_id, target, sizeof(target)) < 0)
			return ao_errf(err, ENOENT, "no snapshot yet");
		dsv_stat(c, S_IFLNK | 0777, (long long)strlen(target), c->t0, st);
		return 0;
	case AO_N_SNAP_DIR:
	case AO_N_SNAP_XDIR:
		dsv_stat(c, DSV_RO_DIR, 0, created(c, n), st);
		return 0;
	case AO_N_SNAP_FILE:
		if (snap_path(c, n->project_id, n->snap, p, sizeof(p)) < 0)
			return ao_errf(err, ENOENT, "no snapshot");
		snprintf(p + strlen(p), sizeof(p) - strlen(p), "/%s", n->ds_name);
		if (stat(p, &fst) < 0)
			return ao_errf(err, ENOENT, "%s: gone (unpinned)", n->ds_name);
		dsv_stat(c, DSV_RO_FILE, (long long)fst.st_size, created(c, n), st);
		return 0;
	default:
		return ao_errf(err, EIO, "unexpected snapshot node");
	}
}

int snap_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh, struct ao_err *err)
{
	struct {
		dev_t dev;
		ino_t ino;
		off_t size;
	} id;
	struct ao_kc_id *k = fh->kc;
	char p[4096];
	struct stat st;

	if (snap_path(c, n->project_id, n->snap, p, sizeof(p)) < 0)
		return ao_errf(err, ENOENT, "no snapshot");
	snprintf(p + strlen(p), sizeof(p) - strlen(p), "/%s", n->ds_name);
	fh->fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fh->fd < 0 || fstat(fh->fd, &st) < 0)
		return ao_errf(err, ENOENT, "%s: gone (unpinned)", n->ds_name);
	fh->own_fd = 1;
	memset(&id, 0, sizeof(id));
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	id.size = st.st_size;
	/* the per-path rule, the file's identity standing for its bytes */
	*k = (struct ao_kc_id){.rule = AO_KC_PATH, .len = sizeof(id)};
	memcpy(k->ident, &id, sizeof(id));
	k->id = k->ident;
	return 0;
}

int snap_readdir(struct ao_core *c, const struct ao_node *n, ao_core_fill_fn fill, void *ctx,
		 struct ao_err *err)
{
	struct snap_ent *v;
	size_t k;
	struct stat st;

	(void)err;
	snap_list(c, n->project_id, 0, &v, &k);
	for (size_t i = 0; i < k; i++) {
		dsv_stat(c, DSV_RO_DIR, 0, (time_t)(v[i].created_ms / 1000), &st);
		if (fill(ctx, v[i].name, &st))
			break;
	}
	free(v);
	return 0;
}

/* {"<project id>": [{"name", "created_ms", "bytes"}]} of every pin. */
json_t *snap_status(struct ao_core *c)
{
	json_t *all = json_object();
	struct dirent *de;
	DIR *d = c->cfg.snap_dir ? opendir(c->cfg.snap_dir) : NULL;

	while (all && d && (de = readdir(d))) {
		struct snap_ent *v;
		size_t k;
		json_t *a;
		if (de->d_name[0] == '.' || strlen(de->d_name) >= AO_ID_MAX)
			continue;
		snap_list(c, de->d_name, 1, &v, &k);
		a = k ? json_array() : NULL;
		for (size_t i = 0; a && i < k; i++)
			json_array_append_new(a,
					      json_pack("{s:s,s:I,s:I}", "name", v[i].name,
							"created_ms", (json_int_t)v[i].created_ms,
							"bytes", (json_int_t)v[i].bytes));
		if (a)
			json_object_set_new(all, de->d_name, a);
		free(v);
	}
	if (d)
		closedir(d);
	return all;
}
