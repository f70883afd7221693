/*
 * labels_match.c - which items of a POST /import/labels matched no asset.
 *
 * The documented reply says only "N / M tasks are labeled." (hub-api.md §2.3);
 * N < M means items that matched nothing, a partial success a user must see
 * (docs/WRITES.md: "sent, partly matched"). The local hub names them
 * (data.unmatched); the real one does not, so they are found here: an item
 * names its assets by assetId, externalId or data (an asset URL, or an
 * externalId), and an item none of whose names is an asset of the project is
 * unmatched. Two ways to know the project's assets, the cheaper one taken:
 * the whole list (GET /project/{id}/assets, filters {}, ceil(total/100)
 * pages, paged by count: hub_pager.c) or one filtered request per item
 * (filters {"externalId"} or {"_id"}, limit 1: total 0 = unmatched), at most
 * MATCH_MAX_ITEMS of them. Runs in the sender's thread on a busy entry,
 * without w->mu (network I/O).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/log.h"
#include "writes_int.h"

#define MATCH_MAX_ITEMS 500 /* per-item lookups at most (then: the whole list) */
#define MATCH_MAX_PAGES 2000
#define MATCH_LISTED 50 /* unmatched names shown */

int ws_labels_counts(json_t *data, long *n, long *m)
{
	const char *s = json_string_value(json_object_get(data, "project"));

	return s && sscanf(s, "%ld / %ld", n, m) == 2 ? 0 : -1;
}

/* The name an item is known by in a report. */
static const char *item_name(json_t *it)
{
	static const char *const ks[] = {"externalId", "assetId", "data"};

	for (size_t i = 0; i < 3; i++)
		if (json_is_string(json_object_get(it, ks[i])))
			return json_string_value(json_object_get(it, ks[i]));
	return "?";
}

/* GET /project/{id}/assets?page&limit&filters=f; data (new ref). */
static int assets_get(struct ao_writes *w, const char *project, int page, int limit, json_t *f,
		      json_t **data, struct ao_err *err)
{
	return hub_get_assets(w->cfg.hub, project, page, limit, f, data, err);
}

/* Every asset of the project into the sets ids, exts, urls (bare). */
static int list_all(struct ao_writes *w, const char *project, json_t *first, json_t *ids,
		    json_t *exts, json_t *urls, struct ao_err *err)
{
	json_t *f = json_object(), *data = json_incref(first), *a;
	struct hub_pager pg;
	long long total;
	int r = 0;

	hub_pager_init(&pg, 100);
	for (;;) {
		size_t i, got = json_array_size(json_object_get(data, "assets"));
		const char *fid = json_string_value(
		    json_object_get(json_array_get(json_object_get(data, "assets"), 0), "_id"));

		total = json_is_integer(json_object_get(data, "total"))
			    ? json_integer_value(json_object_get(data, "total"))
			    : -1;
		int more = hub_pager_next(&pg, got, fid, total);
		json_array_foreach(json_object_get(data, "assets"), i, a)
		{
			const char *id = json_string_value(json_object_get(a, "_id"));
			const char *x = json_string_value(json_object_get(a, "externalId"));
			const char *u = json_string_value(json_object_get(a, "data"));

			if (id)
				json_object_set_new(ids, id, json_true());
			if (x)
				json_object_set_new(exts, x, json_true());
			if (u) {
				char *bare = strndup(u, strcspn(u, "?#"));

				if (bare)
					json_object_set_new(urls, bare, json_true());
				free(bare);
			}
		}
		json_decref(data);
		data = NULL;
		if (!more || pg.page > MATCH_MAX_PAGES)
			break;
		if ((r = assets_get(w, project, pg.page, pg.limit, f, &data, err)) < 0)
			break;
	}
	json_decref(data);
	json_decref(f);
	return r;
}

/* Per item: does an asset answer to its assetId or externalId? */
static int item_found(struct ao_writes *w, const char *project, json_t *it, int *found,
		      struct ao_err *err)
{
	const char *id = json_string_value(json_object_get(it, "assetId"));
	const char *x = json_string_value(json_object_get(it, "externalId"));
	json_t *f = x ? json_pack("{s:s}", "externalId", x) : json_pack("{s:s}", "_id", id);
	json_t *data = NULL;
	int r = f ? assets_get(w, project, 1, 1, f, &data, err) : -ENOMEM;

	json_decref(f);
	if (r == 0)
		*found = json_integer_value(json_object_get(data, "total")) > 0 ||
			 json_array_size(json_object_get(data, "assets")) > 0;
	json_decref(data);
	return r;
}

static void add_name(char *buf, size_t len, size_t *used, long k, const char *name)
{
	int n;

	if (k > MATCH_LISTED)
		return;
	n = k == MATCH_LISTED ? snprintf(buf + *used, len - *used, ", ...")
			      : snprintf(buf + *used, len - *used, "%s%s", k ? ", " : "", name);
	if (n > 0 && (size_t)n < len - *used)
		*used += (size_t)n;
}

char *ws_labels_unmatched(struct ao_writes *w, const char *project, json_t *data, const char *body,
			  size_t blen)
{
	json_t *um = json_object_get(data, "unmatched"), *req = NULL, *items, *it, *first = NULL;
	json_t *ids = json_object(), *exts = json_object(), *urls = json_object();
	char list[2048] = "", *out = NULL;
	size_t used = 0, i;
	long k = 0, per_item = 0;
	int by_list = 0, r = 0;
	struct ao_err err;

	ao_err_clear(&err);
	if (json_array_size(um)) { /* the hub named them */
		json_array_foreach(um, i, it) if (json_is_string(it))
		    add_name(list, sizeof(list), &used, k++, json_string_value(it));
		goto done;
	}
	req = json_loadb(body, blen, 0, NULL);
	items = json_object_get(req, "jsonContent");
	json_array_foreach(items, i, it)
	{
		if (json_is_string(json_object_get(it, "externalId")) ||
		    json_is_string(json_object_get(it, "assetId")))
			per_item++;
		else
			by_list = 1; /* named by data: only the list tells */
	}
	json_t *none = json_object();
	r = assets_get(w, project, 1, 100, none, &first, &err);
	json_decref(none);
	if (r < 0)
		goto done;
	long long total = json_integer_value(json_object_get(first, "total"));
	if (by_list || per_item > MATCH_MAX_ITEMS || (total + 99) / 100 <= per_item) {
		by_list = 1;
		if ((r = list_all(w, project, first, ids, exts, urls, &err)) < 0)
			goto done;
	}
	json_array_foreach(items, i, it)
	{
		const char *id = json_string_value(json_object_get(it, "assetId"));
		const char *x = json_string_value(json_object_get(it, "externalId"));
		const char *d = json_string_value(json_object_get(it, "data"));
		int found = 0;

		if (by_list) {
			char *bare = d ? strndup(d, strcspn(d, "?#")) : NULL;

			found = (id && json_object_get(ids, id)) ||
				(x && json_object_get(exts, x)) ||
				(d && json_object_get(exts, d)) ||
				(bare && json_object_get(urls, bare));
			free(bare);
		} else if ((r = item_found(w, project, it, &found, &err)) < 0) {
			goto done;
		}
		if (!found)
			add_name(list, sizeof(list), &used, k++, item_name(it));
	}
done:
	if (r < 0) {
		ao_warn("write side: finding the label items that matched no asset in %s: %s",
			project, err.msg);
		if (asprintf(&out, "Which items matched no asset is unknown: %s", err.msg) < 0)
			out = NULL;
	} else if (k && asprintf(&out, "Not matched to any asset (%ld): %s", k, list) < 0) {
		out = NULL;
	}
	json_decref(first);
	json_decref(req);
	json_decref(ids);
	json_decref(exts);
	json_decref(urls);
	return out;
}
