/*
 * dsnames.c - an image has one name in assets/ and in every dataset view
 * (src/core/dsview_int.h, dsv_naming_begin; docs/DATASETS.md, "Names").
 *
 * assets/ names a picture by its externalId's stem, and tells colliding
 * stems apart by "~<asset id>", the asset created first keeping the plain
 * name (assets.c: names.c's rule on (createdAt, id)). An export record has
 * neither the asset's id nor its creation time, so a view used to tell them
 * apart by "~<task id>": the same picture had two names. Two facts make it
 * cheap to agree:
 *   - names.c's rule decides a name from its collision group only, and an
 *     image whose stem collides with no other keeps the plain name in both
 *     places: only colliding images (rare) need their asset. Each is looked
 *     up: one GET /project/{id}/assets filtered by its externalId (cached
 *     for the build, so a group of one externalId costs one request),
 *     matched to the record by the asset's URL without its signature;
 *   - a stage or batch view holds part of the project, and one of its
 *     images may collide with a picture outside it. So such a view takes
 *     the names the whole project's view gives the same tasks: the whole
 *     project's export (the cache entry export/tasks.ndjson uses, fetched
 *     if not fresh) is indexed for its names only (no image is read), with
 *     the same lookups. A view whose task the whole export lacks (it is
 *     older than the view's) keeps its own names.
 * What is left apart: an asset with no task in the export (not in any view)
 * still counts in assets/' groups; two tasks of one asset (consensus) in one
 * view: the later task's image gets "~<task id>" (docs/DATASETS.md).
 *
 * Runs with the set's build mutex held (network I/O: it is the view's
 * single flight), no other lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "angofs/export_cache.h"
#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/log.h"
#include "core_int.h"
#include "dsview_int.h"

struct dsv_naming {
	struct ao_core *c;
	const char *project_id;
	int fd;			   /* the export the images being named come from */
	json_t *seen;		   /* externalId -> [assets] looked up in this build */
	struct ao_ds_index *whole; /* a stage or batch view: the project's names */
	int wfd;
	unsigned lookups;
};

/* The assets whose externalId is ext (every page), cached for the build. */
static json_t *assets_named(struct dsv_naming *nm, const char *ext, struct ao_err *err)
{
	json_t *got = json_object_get(nm->seen, ext), *all, *f;
	long long seen = 0, total = 1;

	if (got)
		return got;
	all = json_array();
	f = json_pack("{s:s}", "externalId", ext);
	for (int page = 1; all && f && seen < total; page++) {
		json_t *data = NULL, *arr;
		int rc = hub_get_assets(nm->c->cfg.hub, nm->project_id, page, 100, f, &data, err);
		nm->lookups++;
		if (rc < 0) {
			json_decref(all);
			all = NULL;
			break;
		}
		arr = json_object_get(data, "assets");
		total = json_integer_value(json_object_get(data, "total"));
		json_array_extend(all, arr);
		seen += (long long)json_array_size(arr);
		json_decref(data);
		if (!json_array_size(arr))
			break;
	}
	json_decref(f);
	if (!all)
		return NULL;
	json_object_set_new(nm->seen, ext, all);
	return all;
}

static int asset_of(void *ud, const struct ao_ds_image *img, char *id, size_t idsz, char *created,
		    size_t crsz)
{
	struct dsv_naming *nm = ud;
	struct ao_err e = {0};
	json_t *rec = NULL, *a;
	size_t i;
	int rc = -1;

	if (dsv_record_fd(nm->fd, img, &rec, &e) < 0)
		return -1;
	const char *ext = json_string_value(json_object_get(rec, "externalId"));
	const char *url = json_string_value(json_object_get(rec, "asset"));
	json_t *list = ext && url ? assets_named(nm, ext, &e) : NULL;
	size_t ul = url ? strcspn(url, "?#") : 0;
	json_array_foreach(list, i, a)
	{
		const char *d = json_string_value(json_object_get(a, "data"));
		const char *aid = json_string_value(json_object_get(a, "_id"));
		const char *cr = json_string_value(json_object_get(a, "createdAt"));
		if (d && aid && strcspn(d, "?#") == ul && !strncmp(d, url, ul)) {
			snprintf(id, idsz, "%s", aid);
			snprintf(created, crsz, "%s", cr ? cr : "");
			rc = 0;
			break;
		}
	}
	if (rc < 0)
		ao_debug("datasets: the asset of %s (%s) was not found%s%s: its task id names it",
			 img->name, ext ? ext : "?", e.code ? ": " : "", e.code ? e.msg : "");
	json_decref(rec);
	return rc;
}

static const char *fixed_name(void *ud, const struct ao_ds_image *img)
{
	struct dsv_naming *nm = ud;
	const struct ao_ds_image *w = ao_ds_index_find_task(nm->whole, img->task_id);

	return w ? w->name : NULL;
}

/* A stage or batch view: the whole project's export indexed for its names. */
static int whole_names(struct dsv_naming *nm, struct dsv_gen *g, struct ao_xentry *x,
		       struct ao_err *err)
{
	struct ao_xopen o;
	unsigned long long n = 0;
	long long off;
	json_t *r;
	int rc = ao_xcache_open(nm->c->cfg.xc, x, &o, err);

	if (rc < 0)
		return rc;
	nm->wfd = dup(o.fd);
	ao_xcache_close(nm->c->cfg.xc, x, o.fd);
	FILE *f = nm->wfd >= 0 ? fdopen(dup(nm->wfd), "r") : NULL;
	nm->whole = ao_ds_index_new(g->schema);
	if (!f || !nm->whole) {
		if (f)
			fclose(f);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	rewind(f);
	while ((rc = ao_ds_ndjson_next(f, &r, &off, err)) == 1) {
		rc = ao_ds_index_add(nm->whole, n++, (unsigned long long)off, r);
		json_decref(r);
		if (rc < 0)
			break;
	}
	fclose(f);
	if (rc < 0)
		return err->code
			   ? rc
			   : ao_errf(err, -rc, "indexing the project's export: %s", strerror(-rc));
	struct ao_ds_naming hooks = {asset_of, NULL, nm, NULL};
	nm->fd = nm->wfd;
	ao_ds_index_set_naming(nm->whole, &hooks);
	return ao_ds_index_finish(nm->whole, NULL, NULL, err); /* names only: no image read */
}

int dsv_naming_begin(struct ao_core *c, struct dsv_gen *g, struct dsv_naming **out,
		     struct ao_err *err)
{
	struct ao_xspec whole = {.project_id = g->project_id, .type = AO_X_TASK, .ndjson = 1};
	struct dsv_naming *nm = calloc(1, sizeof(*nm));
	struct ao_xentry *x;

	*out = NULL;
	if (!nm || !(nm->seen = json_object())) {
		free(nm);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	nm->c = c;
	nm->project_id = g->project_id;
	nm->wfd = -1;
	x = ao_xcache_get(c->cfg.xc, &whole, err);
	if (!x) {
		dsv_naming_end(nm);
		return -ENOMEM;
	}
	if (x != g->x) {
		int rc = whole_names(nm, g, x, err);
		if (rc < 0) {
			dsv_naming_end(nm);
			return rc;
		}
	}
	nm->fd = g->xfd;
	struct ao_ds_naming hooks = {asset_of, nm->whole ? fixed_name : NULL, nm, NULL};
	ao_ds_index_set_naming(g->idx, &hooks);
	*out = nm;
	return 0;
}

void dsv_naming_end(struct dsv_naming *nm)
{
	if (!nm)
		return;
	if (nm->lookups)
		ao_info("datasets: %u asset lookup%s to name colliding images of project %s",
			nm->lookups, nm->lookups == 1 ? "" : "s", nm->project_id);
	ao_ds_index_free(nm->whole);
	if (nm->wfd >= 0)
		close(nm->wfd);
	json_decref(nm->seen);
	free(nm);
}
