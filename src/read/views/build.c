/*
 * build.c - the generations of the dataset views (src/read/views/views_int.h):
 * pass 1 once per (export generation, categorySchema), pass 2 on demand.
 *
 * Design: a view never asks the hub for an export of its own. It opens the
 * export cache's NDJSON entry of its filter (fetching it only when the entry
 * is not fresh, exactly as a read of export/tasks.ndjson would) and keeps
 * that descriptor for as long as the generation is current, so the records
 * an image or label needs are read back at their byte offsets (pread) from
 * the same bytes the index came from. A generation is rebuilt when the
 * entry's generation changes (a refetch after the TTL, touch, a write) or
 * the schema does; the fast path (fresh entry, same generation) takes one
 * mutex for a moment and reads nothing.
 *
 * Pass 2 writes into <ds_dir> files named by the generation's identity (the
 * export's "<hash>.<gen>" on disk plus a hash of the schema), which is the
 * same in every daemon sharing the cache directory: built as a temp file
 * (0600) and renamed into place, never modified, so a daemon that finds one
 * uses it as is and none ever sees a torn file. A YOLO label pack is every
 * label file of one mode back to back, then the pass's report text, then a
 * table of (offset, length) per image and a trailer; COCO is the plain
 * annotations.json plus its report in "<name>.txt" (published first). Files
 * of other generations of the same export are removed once an hour old
 * (a reader on another host holding one that long may lose it: NFS).
 *
 * A snapshot's set (src/read/views/snapshots.c) has no export entry: its generation
 * comes from the files pinned in its directory, once, and its pass-2 files
 * live there too (they were copied in when it was pinned). A live set's
 * replaced generation is retired, not dropped, for -o grace seconds
 * (read/views/views_int.h, "Grace").
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

#include "../read_int.h"
#include "views_int.h"
#include "angofs/cancel.h"
#include "angofs/export_cache.h"
#include "angofs/hash.h"
#include "angofs/log.h"
#include "angofs/media.h"
#include "angofs/sysutil.h"

#define PACK_MAGIC "AODSLBL1"
#define OLD_GEN_AGE_S 3600

static const char *const out_names[DSV_NOUT] = {
    "yolo.labels",     "yolo-detect.labels", "yolo-seg.labels", "coco.json",
    "coco-train.json", "coco-val.json",	     "coco-test.json",	"voc.xml",
    "wds.json",	       "wds-train.json",     "wds-val.json",	"wds-test.json"};

const char *dsv_out_name(int k)
{
	return k >= 0 && k < DSV_NOUT ? out_names[k] : NULL;
}

/* ---- sets and references --------------------------------------------------- */

/* The set of (x) or of (project, snapshot name, its inode), made on first use. */
/* The set of (x), or of (project, snapshot name, its inode, its stage or
 * batch view sub: "" for the whole), made on first use. */
static struct dsv_set *set_of(struct ao_core *c, struct ao_xentry *x, const char *project_id,
			      const char *snap, unsigned long long ino, const char *sub)
{
	struct dsv *dv = c->dsv;
	struct dsv_set *s;
	char *root = NULL, *dir = NULL, *out = NULL, vd[4400];

	if (snap && snap[0]) {
		if (!c->cfg.snap_dir ||
		    asprintf(&root, "%s/%s/%s", c->cfg.snap_dir, project_id, snap) < 0)
			return NULL;
		snap_sub_dir(root, sub, vd, sizeof(vd));
		if (!(dir = strdup(sub[0] ? vd : root)) || asprintf(&out, "%s/derived", dir) < 0) {
			free(root);
			free(dir);
			return NULL;
		}
	}
	pthread_mutex_lock(&dv->lock);
	for (s = dv->sets; s; s = s->next)
		if (snap && snap[0] ? s->snap_ino == ino && !strcmp(s->snap, snap) &&
					  !strcmp(s->project_id, project_id) && !strcmp(s->sub, sub)
				    : s->x == x && !s->snap[0])
			break;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		s->x = snap && snap[0] ? NULL : x;
		snprintf(s->project_id, sizeof(s->project_id), "%s", project_id);
		snprintf(s->snap, sizeof(s->snap), "%s", snap ? snap : "");
		snprintf(s->sub, sizeof(s->sub), "%s", snap && snap[0] ? sub : "");
		s->snap_ino = ino;
		s->root = root;
		s->dir = dir;
		s->out_dir = out;
		root = dir = out = NULL;
		pthread_mutex_init(&s->build, NULL);
		s->next = dv->sets;
		dv->sets = s;
	}
	pthread_mutex_unlock(&dv->lock);
	free(root);
	free(dir);
	free(out);
	return s;
}

static void gen_free(struct ao_core *c, struct dsv_gen *g)
{
	for (int k = 0; k < DSV_NOUT; k++) {
		if (g->out[k].fd >= 0)
			close(g->out[k].fd);
		free(g->out[k].tab);
		free(g->out[k].report);
		json_decref(g->out[k].index);
	}
	if (g->xfd >= 0)
		close(g->xfd);
	ao_ds_index_free(g->idx);
	ao_ds_schema_free(g->schema);
	json_decref(g->cs);
	free(g->attr);
	free(g->split[0]);
	free(g->split[1]);
	for (int k = 0; k < 4; k++)
		free(g->scount[k]);
	free(g->if_note);
	free(g->isize);
	free(g->msize);
	free(g->iopen);
	free(g);
}

void dsv_put(struct ao_core *c, struct dsv_gen *g)
{
	int last;

	if (!g)
		return;
	pthread_mutex_lock(&c->dsv->lock);
	last = --g->refs == 0;
	pthread_mutex_unlock(&c->dsv->lock);
	if (last)
		gen_free(c, g);
}

void dsv_free_all(struct ao_core *c)
{
	struct dsv_set *s = c->dsv->sets, *nx;

	for (; s; s = nx) {
		nx = s->next;
		if (s->cur)
			dsv_put(c, s->cur);
		for (struct dsv_gen *r = s->retired, *rn; r; r = rn) {
			rn = r->rnext;
			dsv_put(c, r);
		}
		pthread_mutex_destroy(&s->build);
		free(s->root);
		free(s->dir);
		free(s->out_dir);
		free(s);
	}
	c->dsv->sets = NULL;
	dsv_head_free_all(c);
}

/* Retire old (the set's generation until now; dv->lock held): kept for
 * the grace period, newest first, at most DSV_RETIRED_MAX; the expired
 * ones are unlinked onto *drop (put them without the lock). */
static void retire(struct ao_core *c, struct dsv_set *s, struct dsv_gen *old, struct dsv_gen **drop)
{
	time_t now = time(NULL);
	size_t k = 0;

	if (old && c->cfg.ds_grace_s > 0 && !old->pinned) {
		old->retired_at = now;
		old->rnext = s->retired;
		s->retired = old;
	} else if (old) {
		old->rnext = *drop;
		*drop = old;
	}
	for (struct dsv_gen **pp = &s->retired; *pp;) {
		struct dsv_gen *r = *pp;
		if (++k > DSV_RETIRED_MAX || now - r->retired_at >= c->cfg.ds_grace_s) {
			*pp = r->rnext;
			r->rnext = *drop;
			*drop = r;
		} else
			pp = &r->rnext;
	}
}

static void put_list(struct ao_core *c, struct dsv_gen *l)
{
	for (struct dsv_gen *nx; l; l = nx) {
		nx = l->rnext;
		dsv_put(c, l);
	}
}

size_t dsv_retired(struct ao_core *c, const struct ao_node *n, struct dsv_gen **out, size_t max)
{
	struct dsv_gen *drop = NULL;
	size_t k = 0;

	if (n->snap[0] || c->cfg.ds_grace_s <= 0)
		return 0;
	pthread_mutex_lock(&c->dsv->lock);
	for (struct dsv_set *s = c->dsv->sets; s; s = s->next) {
		if (s->x != n->x || s->snap[0])
			continue;
		retire(c, s, NULL, &drop); /* the expired ones go */
		for (struct dsv_gen *r = s->retired; r && k < max; r = r->rnext) {
			r->refs++;
			out[k++] = r;
		}
	}
	pthread_mutex_unlock(&c->dsv->lock);
	put_list(c, drop);
	return k;
}

void dsv_snap_gone(struct ao_core *c, const char *project_id, const char *snap)
{
	struct dsv_gen *drop = NULL;

	pthread_mutex_lock(&c->dsv->lock);
	for (struct dsv_set *s = c->dsv->sets; s; s = s->next)
		if (s->snap[0] && !strcmp(s->snap, snap) && !strcmp(s->project_id, project_id) &&
		    s->cur) {
			s->cur->rnext = drop;
			drop = s->cur;
			s->cur = NULL;
		}
	pthread_mutex_unlock(&c->dsv->lock);
	put_list(c, drop);
}

/* s->cur with a reference if it still describes the entry's current
 * generation (no I/O), else NULL. */
static struct dsv_gen *cur_if_fresh(struct ao_core *c, struct dsv_set *s)
{
	struct dsv_gen *g = NULL;
	int fresh = s->x && ao_xcache_fresh(c->cfg.xc, s->x);
	unsigned long xg = s->x ? ao_xcache_gen(c->cfg.xc, s->x) : 0;

	pthread_mutex_lock(&c->dsv->lock);
	if (s->cur && (s->cur->pinned || (fresh && xg == s->cur->xgen)) &&
	    !__atomic_load_n(&s->cur->broken, __ATOMIC_RELAXED)) {
		g = s->cur;
		g->refs++;
	}
	pthread_mutex_unlock(&c->dsv->lock);
	return g;
}

/* s->refreshes, to tell later whether a refresh ended meanwhile. */
static unsigned long set_refreshes(struct ao_core *c, struct dsv_set *s)
{
	pthread_mutex_lock(&c->dsv->lock);
	unsigned long n = s->refreshes;
	pthread_mutex_unlock(&c->dsv->lock);
	return n;
}

/* s->cur with a reference if a refresh ended since the caller came (with
 * s->refreshes at `seen`) and s->cur holds every change marked up to want
 * (its export was opened after them), even if a change marked since made
 * the export stale; else NULL. */
static struct dsv_gen *cur_if_covers(struct ao_core *c, struct dsv_set *s, unsigned long seen,
				     unsigned long want)
{
	struct dsv_gen *g = NULL;

	pthread_mutex_lock(&c->dsv->lock);
	if (s->cur && !s->cur->pinned && s->refreshes != seen && s->cur->covers >= want &&
	    !__atomic_load_n(&s->cur->broken, __ATOMIC_RELAXED)) {
		g = s->cur;
		g->refs++;
	}
	pthread_mutex_unlock(&c->dsv->lock);
	return g;
}

/* ---- reading records back ---------------------------------------------------- */

int dsv_record(const struct dsv_gen *g, const struct ao_ds_image *im, json_t **rec,
	       struct ao_err *err)
{
	return dsv_record_fd(g->xfd, im, rec, err);
}

int dsv_record_fd(int fd, const struct ao_ds_image *im, json_t **rec, struct ao_err *err)
{
	size_t cap = 65536, len = 0;
	char *buf = NULL;
	json_error_t je;

	*rec = NULL;
	for (;;) {
		char *nb = realloc(buf, cap);
		if (!nb) {
			free(buf);
			return ao_errf(err, ENOMEM, "out of memory");
		}
		buf = nb;
		ssize_t r = pread(fd, buf + len, cap - len, (off_t)(im->locator + len));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return ao_errf(err, errno, "reading the cached export: %s",
				       strerror(errno));
		}
		char *nl = memchr(buf + len, '\n', (size_t)r);
		len += (size_t)r;
		if (nl || r == 0) {
			len = nl ? (size_t)(nl - buf) : len;
			break;
		}
		cap *= 2;
	}
	*rec = json_loadb(buf, len, 0, &je);
	free(buf);
	if (!*rec)
		return ao_errf(err, EIO, "cached export: record at byte %llu: %s", im->locator,
			       je.text);
	return 0;
}

/* ---- pass 1 -------------------------------------------------------------------- */

/* The schemaId of the top-level classification titled or identified by
 * want, or want itself (ao_ds_schema_load then names it in its error). */
static const char *class_id(const json_t *cs, const char *want)
{
	json_t *cl;
	size_t i;

	json_array_foreach(json_object_get(cs, "classifications"), i, cl)
	{
		const char *id = json_string_value(json_object_get(cl, "schemaId"));
		const char *title = json_string_value(json_object_get(cl, "title"));
		if (id && (!strcmp(id, want) || (title && !strcmp(title, want))))
			return id;
	}
	return want;
}

/* The schema of g; with -o imagefolder_class naming no single-choice
 * classification of this project, imagefolder/ is empty and says why (the
 * option applies to every project; YOLO and COCO do not depend on it). */
static int load_schema(struct ao_core *c, struct dsv_gen *g, struct ao_err *err)
{
	const char *want = c->cfg.ds_class;
	int rc = ao_ds_schema_load(g->cs, want ? class_id(g->cs, want) : NULL, &g->schema, err);
	struct ao_ds_schema *s;

	if (rc != -EINVAL || !want)
		return rc;
	if (asprintf(&g->if_note, "imagefolder: -o imagefolder_class=%s: %s\n", want, err->msg) < 0)
		g->if_note = NULL;
	ao_warn("datasets: project %s: -o imagefolder_class=%s: %s", g->project_id, want, err->msg);
	ao_err_clear(err);
	rc = ao_ds_schema_load(g->cs, NULL, &g->schema, err);
	if (rc < 0)
		return rc;
	s = g->schema;
	for (size_t i = 0; i < s->nopt; i++) {
		free(s->opt[i].value);
		free(s->opt[i].schema_id);
	}
	free(s->opt);
	free(s->if_schema_id);
	free(s->if_title);
	s->opt = NULL;
	s->nopt = 0;
	s->if_schema_id = s->if_title = NULL;
	return 0;
}

/* Schema and pass 1 of g (whose export descriptor is open). */
static int pass1(struct ao_core *c, struct dsv_gen *g, struct ao_err *err)
{
	unsigned long long n = 0;
	long long off;
	json_t *r;
	int rc, fd = dup(g->xfd);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return ao_errf(err, errno, "cached export: %s", strerror(errno));
	}
	rewind(f);
	rc = load_schema(c, g, err);
	if (rc < 0) {
		fclose(f);
		return rc;
	}
	g->idx = ao_ds_index_new(g->schema);
	if (!g->idx) {
		fclose(f);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	void *acc = NULL;
	while ((rc = ao_ds_ndjson_next(f, &r, &off, err)) == 1) {
		rc = ao_ds_index_add(g->idx, n, (unsigned long long)off, r);
		if (rc == 1)
			rc = dsv_attr_note(g, n, r, &acc); /* what splits need */
		n++;
		json_decref(r);
		if (rc < 0) {
			fclose(f);
			dsv_attr_finish(NULL, acc);
			return ao_errf(err, -rc, "indexing the export: %s", strerror(-rc));
		}
	}
	fclose(f);
	if (rc < 0) {
		dsv_attr_finish(NULL, acc);
		return rc;
	}
	struct dsv_naming *nm = NULL;
	struct snap_naming *sn = NULL;
	if (g->pinned) /* the names and sizes pinned with the snapshot (read/views/snapshots.c) */
		rc = snap_naming_begin(g, &sn, err);
	else /* names as assets/ (read/views/names.c) */
		rc = dsv_naming_begin(c, g, &nm, err);
	if (rc < 0) {
		dsv_attr_finish(NULL, acc);
		return rc;
	}
	void *ud[2] = {c, g};
	rc = ao_ds_index_finish(g->idx, c->cfg.media ? dsv_read_head : NULL, ud, err);
	dsv_naming_end(nm);
	snap_naming_end(sn);
	if (rc == 0 && dsv_attr_finish(g, acc) < 0)
		rc = ao_errf(err, ENOMEM, "out of memory");
	else if (rc < 0)
		dsv_attr_finish(NULL, acc);
	if (rc < 0)
		return rc;
	g->isize = calloc(ao_ds_index_count(g->idx) + 1, sizeof(*g->isize));
	g->iopen = calloc(ao_ds_index_count(g->idx) + 1, sizeof(*g->iopen));
	g->msize = calloc(ao_ds_index_count(g->idx) + 1, sizeof(*g->msize));
	if (!g->schema->if_schema_id && !g->if_note)
		g->if_note = strdup("imagefolder: the project's categorySchema has no top-level "
				    "single-choice classification (radio or single-dropdown)\n");
	if (!g->isize || !g->iopen || !g->msize)
		return ao_errf(err, ENOMEM, "out of memory");
	return 0;
}

/* A new generation of s from the export descriptor o (taken over). */
static struct dsv_gen *gen_build(struct ao_core *c, struct dsv_set *s, int xfd, unsigned long xgen,
				 const char *ident, json_t *cs, struct ao_err *err)
{
	struct dsv_gen *g = calloc(1, sizeof(*g));

	if (!g) {
		close(xfd);
		json_decref(cs);
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	for (int k = 0; k < DSV_NOUT; k++)
		g->out[k].fd = -1;
	g->x = s->x;
	g->set = s;
	g->pinned = s->snap[0] != 0;
	g->out_dir = g->pinned ? s->out_dir : c->cfg.ds_dir;
	g->xfd = xfd;
	g->xgen = xgen;
	g->cs = cs;
	g->refs = 1;
	pthread_mutex_lock(&c->dsv->lock);
	g->serial = ++c->dsv->serial;
	pthread_mutex_unlock(&c->dsv->lock);
	snprintf(g->ident, sizeof(g->ident), "%s", ident);
	snprintf(g->project_id, sizeof(g->project_id), "%s", s->project_id);
	if (pass1(c, g, err) < 0) {
		gen_free(c, g);
		return NULL;
	}
	ao_info("datasets: indexed %s (%zu images)", ident, ao_ds_index_count(g->idx));
	return g;
}

/* With s->build held: the current generation, rebuilt if the entry or the
 * schema changed. */
/* Publish g as s's current generation (the caller's reference plus the
 * set's); the one it replaces is retired for the grace period. */
static struct dsv_gen *publish(struct ao_core *c, struct dsv_set *s, struct dsv_gen *g)
{
	struct dsv_gen *drop = NULL;

	pthread_mutex_lock(&c->dsv->lock);
	struct dsv_gen *old = s->cur;
	s->cur = g;
	s->refreshes++;
	g->refs++; /* the set's and the caller's */
	retire(c, s, old, &drop);
	pthread_mutex_unlock(&c->dsv->lock);
	put_list(c, drop);
	return g;
}

/* A snapshot's set: its one generation, from the pinned files. */
static struct dsv_gen *refresh_pinned(struct ao_core *c, struct dsv_set *s, struct ao_err *err)
{
	json_t *cs = NULL;
	int xfd = -1;

	if (snap_source(c, s, &xfd, &cs, err) < 0)
		return NULL;
	struct dsv_gen *g = gen_build(c, s, xfd, 1, "snapshot", cs, err);
	return g ? publish(c, s, g) : NULL;
}

static struct dsv_gen *refresh(struct ao_core *c, struct dsv_set *s, struct ao_err *err)
{
	struct ao_xopen o;
	char ident[128], xid[96];
	json_t *cs = NULL;
	struct dsv_gen *g;

	if (!s->x)
		return refresh_pinned(c, s, err);
	unsigned long covers = ao_xcache_changes(c->cfg.xc, s->x);
	int rc = ao_xcache_open(c->cfg.xc, s->x, &o, err);
	if (rc < 0)
		return NULL;
	unsigned long xgen = ao_xcache_gen(c->cfg.xc, s->x);
	rc = ao_xcache_fd_ident(c->cfg.xc, s->x, o.fd, xid, sizeof(xid));
	if (rc == 0)
		rc = ao_core_category_schema(c, s->project_id, &cs, err);
	if (rc < 0) {
		ao_xcache_close(c->cfg.xc, s->x, o.fd);
		if (!err->code)
			ao_errf(err, -rc, "dataset view: %s", strerror(-rc));
		return NULL;
	}
	char *text = json_dumps(cs, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(ident, sizeof(ident), "%s-%016llx", xid, text ? ao_hash_str(text) : 0ULL);
	free(text);
	/* our own descriptor of that generation: the export cache's handle is
	 * closed at once, so a view never counts as a reader of the export (its
	 * stat and page cache follow the next generation as if no view existed) */
	int xfd = fcntl(o.fd, F_DUPFD_CLOEXEC, 0);
	ao_xcache_close(c->cfg.xc, s->x, o.fd);
	if (xfd < 0) {
		json_decref(cs);
		ao_errf(err, errno, "cached export: %s", strerror(errno));
		return NULL;
	}
	pthread_mutex_lock(&c->dsv->lock);
	g = s->cur;
	if (g && !strcmp(g->ident, ident) && !__atomic_load_n(&g->broken, __ATOMIC_RELAXED)) {
		g->xgen = xgen; /* the same bytes and schema: nothing to rebuild */
		if (covers > g->covers)
			g->covers = covers;
		s->refreshes++;
		g->refs++;
	} else
		g = NULL;
	pthread_mutex_unlock(&c->dsv->lock);
	if (g) {
		close(xfd);
		json_decref(cs);
		return g;
	}
	g = gen_build(c, s, xfd, xgen, ident, cs, err);
	if (g)
		g->covers = covers; /* before publish: then under dv->lock */
	return g ? publish(c, s, g) : NULL;
}

/* n->ds_gen of set s: that generation while its grace lasts. */
static struct dsv_gen *by_serial(struct ao_core *c, struct dsv_set *s, unsigned long serial,
				 struct ao_err *err)
{
	struct dsv_gen *g = NULL, *drop = NULL;

	pthread_mutex_lock(&c->dsv->lock);
	retire(c, s, NULL, &drop);
	if (s->cur && s->cur->serial == serial)
		g = s->cur;
	for (struct dsv_gen *r = s->retired; !g && r; r = r->rnext)
		if (r->serial == serial)
			g = r;
	if (g)
		g->refs++;
	pthread_mutex_unlock(&c->dsv->lock);
	put_list(c, drop);
	if (!g)
		ao_errf(err, ENOENT, "gone: removed by a refresh, and its grace period is over");
	return g;
}

struct dsv_gen *dsv_acquire(struct ao_core *c, const struct ao_node *n, struct ao_err *err)
{
	char sub[AO_ID_MAX + 8] = "";
	if (n->ds_sub)
		snprintf(sub, sizeof(sub), "%s/%.*s", n->ds_sub == 1 ? "stage" : "batch",
			 AO_ID_MAX - 1, n->sub_id);
	struct dsv_set *s =
	    n->snap[0] || n->x ? set_of(c, n->x, n->project_id, n->snap, n->snap_ino, sub) : NULL;
	struct dsv_gen *g;

	if (!s) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (n->ds_gen)
		return by_serial(c, s, n->ds_gen, err);
	/* every change marked before this call must be in what it gets; one
	 * marked later never sends it round again (the export open's rule) */
	unsigned long want = s->x ? ao_xcache_changes(c->cfg.xc, s->x) : 0;
	unsigned long seen = set_refreshes(c, s);
	if ((g = cur_if_fresh(c, s)))
		return g;
	if (ao_cancel_lock(&s->build) < 0) {
		ao_errf(err, EINTR, "interrupted");
		return NULL;
	}
	g = cur_if_fresh(c, s);
	if (!g)
		g = cur_if_covers(c, s, seen, want);
	if (!g)
		g = refresh(c, s, err);
	pthread_mutex_unlock(&s->build);
	return g;
}

struct dsv_gen *dsv_acquire_live(struct ao_core *c, const char *project_id, struct ao_err *err)
{
	struct ao_xspec whole = {.project_id = project_id, .type = AO_X_TASK, .ndjson = 1};
	struct ao_node n;

	memset(&n, 0, sizeof(n));
	snprintf(n.project_id, sizeof(n.project_id), "%s", project_id);
	n.kind = AO_N_DS_VDIR;
	n.x = ao_xcache_get(c->cfg.xc, &whole, err);
	return n.x ? dsv_acquire(c, &n, err) : NULL;
}

json_t *dsv_status(struct ao_core *c)
{
	json_t *a = json_array();
	time_t now = time(NULL);

	pthread_mutex_lock(&c->dsv->lock);
	for (struct dsv_set *s = c->dsv->sets; a && s; s = s->next) {
		json_t *o = json_pack("{s:s}", "project", s->project_id), *ret = json_array();
		if (!o || !ret) {
			json_decref(o);
			json_decref(ret);
			continue;
		}
		if (s->snap[0])
			json_object_set_new(o, "snapshot", json_string(s->snap));
		if (s->cur) {
			json_object_set_new(o, "generation", json_string(s->cur->ident));
			json_object_set_new(
			    o, "images", json_integer((json_int_t)ao_ds_index_count(s->cur->idx)));
		}
		for (struct dsv_gen *r = s->retired; r; r = r->rnext)
			json_array_append_new(
			    ret, json_pack("{s:s,s:I,s:I,s:I}", "generation", r->ident, "images",
					   (json_int_t)ao_ds_index_count(r->idx), "retired_s",
					   (json_int_t)(now - r->retired_at), "grace_left_s",
					   (json_int_t)(r->retired_at + c->cfg.ds_grace_s - now)));
		json_object_set_new(o, "retired", ret);
		json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&c->dsv->lock);
	return a;
}

/* ---- pass 2 -------------------------------------------------------------------- */

static int publish_tmp(const char *dir, const char *path, FILE **f, char *tmp, size_t tmpsz,
		       struct ao_err *err)
{
	snprintf(tmp, tmpsz, "%s.tmp-XXXXXX", path);
	int fd = mkstemp(tmp); /* 0600 */
	if (fd < 0)
		return ao_errf(err, errno, "%s: %s", dir, strerror(errno));
	*f = fdopen(fd, "w+");
	if (!*f) {
		close(fd);
		unlink(tmp);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	return 0;
}

static int finish_tmp(FILE *f, const char *tmp, const char *path, int rc, struct ao_err *err)
{
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = rc < 0 ? rc : ao_errf(err, errno, "%s: %s", tmp, strerror(errno));
	fclose(f);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = ao_errf(err, errno, "%s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Build output k into the cache directory (or find it there). */
static int build_out(struct ao_core *c, struct dsv_gen *g, int k, struct ao_err *err)
{
	const char *dir = g->out_dir;
	char path[4096], tmp[4200];
	char *rep = NULL;
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, g->ident, out_names[k]);
	if (dsv_load_out(c, g, k, path, err) == 0)
		return 0; /* published by us earlier or by another daemon */
	ao_err_clear(err);
	mkdir(dir, 0700);
	if (!g->pinned) /* a snapshot's files are its own */
		dsv_sweep(dir, g->ident);
	if (k >= DSV_OUT_WDS) /* WebDataset shards, then their index (read/views/shards.c) */
		rc = dsv_build_wds(c, g, k - DSV_OUT_WDS, path, err);
	else if (k >= DSV_OUT_COCO && k != DSV_OUT_VOC) { /* annotations.json (a split's) */
		char rpath[4200], rtmp[4300];
		snprintf(rpath, sizeof(rpath), "%s.txt", path);
		rc = publish_tmp(dir, path, &f, tmp, sizeof(tmp), err);
		if (rc < 0)
			return rc;
		rc = dsv_build_coco(c, g, k - DSV_OUT_COCO, f, &rep, err);
		if (rc == 0) {
			FILE *rf;
			rc = publish_tmp(dir, rpath, &rf, rtmp, sizeof(rtmp), err);
			if (rc == 0) {
				int wr = fputs(rep, rf) < 0
					     ? ao_errf(err, EIO, "%s: write error", rtmp)
					     : 0;
				rc = finish_tmp(rf, rtmp, rpath, wr, err);
			}
		}
		free(rep);
		rc = finish_tmp(f, tmp, path, rc, err);
	} else {
		rc = publish_tmp(dir, path, &f, tmp, sizeof(tmp), err);
		if (rc < 0)
			return rc;
		rc = dsv_build_pack(g, k, f, err);
		rc = finish_tmp(f, tmp, path, rc, err);
	}
	if (rc < 0)
		return rc;
	ao_info("datasets: built %s.%s", g->ident, out_names[k]);
	return dsv_load_out(c, g, k, path, err);
}

int dsv_ensure(struct ao_core *c, struct dsv_gen *g, int k, struct ao_err *err)
{
	struct dsv_set *s = g->set;
	int built, rc;

	pthread_mutex_lock(&c->dsv->lock);
	built = g->out[k].built;
	pthread_mutex_unlock(&c->dsv->lock);
	if (built)
		return 0;
	if (!g->out_dir)
		return ao_errf(err, ENOTSUP, "dataset views need a cache directory");
	if (!s)
		return ao_errf(err, ENOMEM, "out of memory");
	if (ao_cancel_lock(&s->build) < 0)
		return ao_errf(err, EINTR, "interrupted");
	pthread_mutex_lock(&c->dsv->lock);
	built = g->out[k].built;
	pthread_mutex_unlock(&c->dsv->lock);
	rc = built ? 0 : build_out(c, g, k, err);
	pthread_mutex_unlock(&s->build);
	return rc;
}
