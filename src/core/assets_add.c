/*
 * assets_add.c - an asset this mount just uploaded joins the cached listing
 * of assets/ (core_int.h, asset_add), so `cp -r` of N files costs the three
 * calls of an upload per file instead of a re-read of every page of the
 * listing after each one (the next `stat` of a destination name did that).
 *
 * Design: POST /project/{id}/cloud answers with counts, not the asset, so the
 * write side hands over what it knows: the externalId and the unique stored
 * URL (sometimes the hub's whole object, when it looked it up anyway). The
 * listing must read exactly as a fetch of every page would: src/util/
 * names.c's rule, where the asset sorting first by (createdAt, id) keeps the
 * plain name of a colliding stem. The new asset is the youngest, so when its
 * sanitized stem equals no name already given (plain or suffixed) it takes
 * that plain name and no other name changes: its id is not needed for the
 * name, and it is listed under a stand-in id, "upload:<hash of its URL>"
 * (the node of its file carries that id, which finds its URL in this list;
 * the next fetch of the pages replaces it by the real one). It is inserted
 * in place: a binary search and a memmove in v and byid. When the stem
 * collides (rare), names depend on ids and creation times: the new asset
 * and every listed stand-in in its group are looked up (one GET each,
 * filtered by externalId, matched by the stored URL) and every name is
 * assigned again, as a fetch does. A lookup that fails drops the listing
 * (the next access reads every page). The listing keeps its age
 * (p->assets_refresh.at): its TTL still decides when changes made elsewhere are read.
 *
 * Locks: p->assets_refresh is held throughout, as a fetch of the pages
 * holds it (its lookups are network calls under it); a refresh in flight
 * ends first, so its list cannot replace ours and lose the asset. c->lock
 * (a leaf) is taken only to read and publish, never across a request. A
 * list is changed in place only when p->assets is its one reference
 * (nobody can take another without c->lock, which is then held); a list a
 * reader holds is copied, changed and published instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/hash.h"
#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/log.h"
#include "core_int.h"

#define STANDIN "upload:"

/* A copy of l (deep: the copy owns its strings), refs 1. */
static struct assetlist *list_clone(const struct assetlist *l)
{
	struct assetlist *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->refs = 1;
	d->cap = l->n + 1;
	d->v = calloc(d->cap, sizeof(*d->v));
	d->byid = malloc(d->cap * sizeof(*d->byid));
	if (!d->v || !d->byid) {
		asset_list_free(d);
		return NULL;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct asset *a = &d->v[i];
		*a = l->v[i];
		a->id = strdup(a->id);
		a->url = strdup(a->url);
		a->xid = strdup(a->xid);
		a->stem = strdup(a->stem);
		a->created = strdup(a->created);
		d->n++;
		if (!a->id || !a->url || !a->xid || !a->stem || !a->created) {
			asset_list_free(d);
			return NULL;
		}
	}
	memcpy(d->byid, l->byid, l->n * sizeof(*d->byid));
	return d;
}

/* Position in byid of the first id >= id. */
static size_t id_pos(const struct assetlist *l, const char *id, size_t n)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(l->v[l->byid[mid]].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int has_id(const struct assetlist *l, const char *id)
{
	size_t k = id_pos(l, id, l->n);
	return k < l->n && !strcmp(l->v[l->byid[k]].id, id);
}

/* Was a given a name whose stem is s (s: a sanitized stem)? Then a new
 * asset of stem s collides: names.c's first of a group keeps the plain
 * sanitized stem, and a suffixed name equal to s counts too (its later
 * passes). No sanitizing here: this runs over the whole list per upload. */
static int in_group(const struct asset *a, const char *s, size_t sl)
{
	return strlen(a->name) == sl + strlen(a->ext) && !strncmp(a->name, s, sl);
}

/* The asset just appended at v[n-1] moved to its place by name (names
 * unchanged otherwise), byid updated. */
static void place(struct assetlist *l)
{
	size_t last = l->n - 1, lo = 0, hi = last;
	struct asset a = l->v[last];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(l->v[mid].name, a.name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&l->v[lo + 1], &l->v[lo], (last - lo) * sizeof(*l->v));
	l->v[lo] = a;
	for (size_t i = 0; i < last; i++) /* indexes at or after lo moved by one */
		if (l->byid[i] >= lo)
			l->byid[i]++;
	size_t b = id_pos(l, a.id, last);
	memmove(&l->byid[b + 1], &l->byid[b], (last - b) * sizeof(*l->byid));
	l->byid[b] = lo;
}

static void unappend(struct assetlist *l)
{
	struct asset *a = &l->v[--l->n];

	free(a->id);
	free(a->url);
	free(a->xid);
	free(a->stem);
	free(a->created);
}

/* Give stand-in entries their looked-up ids and creation times (real[k]:
 * the hub's objects, matched by URL). 0 or -ENOMEM. */
static int settle(struct assetlist *l, json_t *real)
{
	size_t k;
	json_t *o;

	json_array_foreach(real, k, o)
	{
		const char *url = json_string_value(json_object_get(o, "_url"));
		for (size_t i = 0; url && i < l->n; i++) {
			struct asset *a = &l->v[i];
			if (strncmp(a->id, STANDIN, strlen(STANDIN)) || strcmp(a->url, url))
				continue;
			char *id = strdup(json_string_value(json_object_get(o, "_id")));
			const char *cr = json_string_value(json_object_get(o, "createdAt"));
			char *c2 = strdup(cr ? cr : "");
			if (!id || !c2) {
				free(id);
				free(c2);
				return -ENOMEM;
			}
			free(a->id);
			free(a->created);
			a->id = id;
			a->created = c2;
		}
	}
	return 0;
}

/* Add asset (with "_id": the hub's object; else a stand-in) to l, which is
 * exclusively ours; real: looked-up objects for the stand-ins of its group
 * (NULL: no collision was found). 0 or -ENOMEM (l unchanged, but for
 * settled ids, which are true). byid holds l->cap entries (asset_name_all
 * and list_clone allocate it so). */
static int add_to(struct assetlist *l, const json_t *asset, json_t *real)
{
	size_t n0 = l->n, cap0 = l->cap;
	char s[AO_NAME_MAX + 1];

	if (real && settle(l, real) < 0)
		return -ENOMEM;
	if (asset_append(l, asset) < 0)
		return -ENOMEM;
	if (l->n == n0)
		return 0; /* no id: not listed, as a fetch would skip it */
	if (l->cap != cap0) {
		size_t *b = realloc(l->byid, l->cap * sizeof(*b));
		if (!b) {
			unappend(l);
			return -ENOMEM;
		}
		l->byid = b;
	}
	struct asset *a = &l->v[l->n - 1];
	ao_name_sanitize(a->stem, s);
	int taken = !strcmp(s, ".status"); /* reserved (asset_name_all) */
	for (size_t i = 0, sl = strlen(s); i + 1 < l->n && !taken; i++)
		taken = in_group(&l->v[i], s, sl);
	if (taken) { /* every name again, as a fetch would */
		if (asset_name_all(l) == 0)
			return 0;
		unappend(l);
		return -ENOMEM;
	}
	size_t sl = strlen(s), el = strlen(a->ext); /* sl + el <= 255: stem cut */
	if (sl + el > AO_NAME_MAX)
		el = AO_NAME_MAX - sl;
	memcpy(a->name, s, sl);
	memcpy(a->name + sl, a->ext, el);
	a->name[sl + el] = '\0';
	place(l);
	return 0;
}

/* The hub's object of the asset named ext whose data is url (signature
 * ignored): pages of GET /project/{id}/assets filtered by externalId. A new
 * reference with "_url" = url added, or NULL with err set. */
static json_t *lookup(struct ao_core *c, const char *project, const char *ext, const char *url,
		      struct ao_err *err)
{
	json_t *f = json_pack("{s:s}", "externalId", ext), *hit = NULL;
	size_t ul = strcspn(url, "?#");
	long long seen = 0, total = 1;

	for (int page = 1; !hit && f && seen < total; page++) {
		json_t *data = NULL, *a;
		size_t i;
		int rc = hub_get_assets(c->cfg.hub, project, page, 100, f, &data, err);
		if (rc < 0) {
			json_decref(f);
			return NULL;
		}
		json_t *arr = json_object_get(data, "assets");
		total = json_integer_value(json_object_get(data, "total"));
		json_array_foreach(arr, i, a)
		{
			const char *d = json_string_value(json_object_get(a, "data"));
			if (!hit && d && strcspn(d, "?#") == ul && !strncmp(d, url, ul) &&
			    json_is_string(json_object_get(a, "_id")))
				hit = json_incref(a);
		}
		seen += (long long)json_array_size(arr);
		json_decref(data);
		if (!json_array_size(arr))
			break;
	}
	json_decref(f);
	if (hit) {
		json_t *h = json_deep_copy(hit); /* the reply's object is not ours to change */
		json_decref(hit);
		if (h)
			json_object_set_new(h, "_url", json_string(url));
		if (!h)
			ao_errf(err, ENOMEM, "out of memory");
		return h;
	}
	if (!err->code)
		ao_errf(err, ENOENT, "asset %s (%s) not found", ext, url);
	return NULL;
}

/* The sanitized stem asset would be named by (asset_append's rule) into s. */
static int new_stem(const json_t *asset, char *s)
{
	struct assetlist probe = {0};

	if (asset_append(&probe, asset) < 0 || probe.n != 1) {
		free(probe.v);
		return -ENOMEM;
	}
	ao_name_sanitize(probe.v[0].stem, s);
	unappend(&probe);
	free(probe.v);
	return 0;
}

/* With p->assets_refresh held: the looked-up objects of the new asset (if
 * !has_id: asset has a stand-in id; then *self is set too) and of every
 * stand-in its stem
 * collides with; an empty array when it collides with nothing. NULL: a
 * lookup failed (err). */
static json_t *group_lookups(struct ao_core *c, struct project *p, const json_t *asset, int has_id,
			     json_t **self, struct ao_err *err)
{
	const char *ext = json_string_value(json_object_get(asset, "externalId"));
	const char *url = json_string_value(json_object_get(asset, "data"));
	json_t *todo = json_array(), *out = json_array(), *t;
	char s[AO_NAME_MAX + 1];
	size_t k, sl;
	int taken;

	*self = NULL;
	if (!todo || !out || new_stem(asset, s) < 0) {
		json_decref(todo);
		json_decref(out);
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	sl = strlen(s);
	taken = !strcmp(s, ".status"); /* reserved: named with its id */
	pthread_mutex_lock(&c->lock);  /* the list is not replaced: we hold the refresh */
	struct assetlist *l = p->assets;
	for (size_t i = 0; l && i < l->n; i++) {
		if (!in_group(&l->v[i], s, sl))
			continue;
		taken = 1;
		if (!strncmp(l->v[i].id, STANDIN, strlen(STANDIN)))
			json_array_append_new(
			    todo, json_pack("{s:s,s:s}", "x", l->v[i].xid, "u", l->v[i].url));
	}
	pthread_mutex_unlock(&c->lock);
	if (taken && !has_id && ext && url)
		json_array_append_new(todo,
				      json_pack("{s:s,s:s,s:b}", "x", ext, "u", url, "self", 1));
	json_array_foreach(todo, k, t)
	{
		json_t *o = lookup(c, p->id, json_string_value(json_object_get(t, "x")),
				   json_string_value(json_object_get(t, "u")), err);
		if (!o) {
			json_decref(todo);
			json_decref(out);
			json_decref(*self);
			*self = NULL;
			return NULL;
		}
		if (json_is_true(json_object_get(t, "self")))
			*self = json_incref(o);
		json_array_append_new(out, o);
	}
	json_decref(todo);
	return out;
}

/* asset without "_id": the same object with a stand-in id (new reference). */
static json_t *standin(const json_t *asset)
{
	const char *url = json_string_value(json_object_get(asset, "data"));
	char id[64];
	json_t *o;

	if (!url)
		return NULL;
	/* the URL without its query: signed twice, one asset */
	snprintf(id, sizeof(id), STANDIN "%016llx", ao_hash_bytes(url, strcspn(url, "?#")));
	o = json_deep_copy(asset);
	if (o) {
		json_object_set_new(o, "_id", json_string(id));
		/* the youngest: sorts after every createdAt of the hub */
		json_object_set_new(o, "createdAt", json_string("~"));
	}
	return o;
}

/* Publish: asset into p->assets (in place when ours alone, else a changed
 * copy); with p->assets_refresh held. 0 or -errno. */
static int publish(struct ao_core *c, struct project *p, const json_t *asset, json_t *real)
{
	const char *id = json_string_value(json_object_get(asset, "_id"));
	struct assetlist *l, *copy = NULL, *old = NULL;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	l = p->assets;
	int mine = l && l->refs == 1;
	if (l && !mine)
		l->refs++; /* copied below, outside c->lock */
	if (mine && !has_id(l, id))
		rc = add_to(l, asset, real);
	pthread_mutex_unlock(&c->lock);
	if (!l || mine)
		return rc;
	if (!has_id(l, id)) {
		copy = list_clone(l);
		rc = copy ? add_to(copy, asset, real) : -ENOMEM;
	}
	pthread_mutex_lock(&c->lock);
	if (copy && rc == 0 && p->assets == l) { /* its `at` kept: the same age */
		old = p->assets;
		p->assets = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	asset_list_put(c, l);
	asset_list_put(c, old);
	if (copy)
		asset_list_free(copy);
	return rc;
}

void asset_add(struct ao_core *c, struct project *p, const json_t *asset)
{
	struct ao_err err = {0};
	int has_id = json_is_string(json_object_get(asset, "_id")), rc = -ENOMEM;
	json_t *self = NULL, *real = NULL, *cand;

	pthread_mutex_lock(&p->assets_refresh.flight);
	pthread_mutex_lock(&c->lock);
	int listed = p->assets != NULL;
	pthread_mutex_unlock(&c->lock);
	if (!listed) { /* nothing cached: the next access reads every page */
		pthread_mutex_unlock(&p->assets_refresh.flight);
		return;
	}
	cand = has_id ? json_incref((json_t *)asset) : standin(asset);
	if (cand)
		real = group_lookups(c, p, cand, has_id, &self, &err);
	if (real)
		rc = publish(c, p, self ? self : cand, json_array_size(real) ? real : NULL);
	else if (err.code)
		rc = -err.code;
	if (rc < 0) { /* the next access reads every page instead */
		ao_warn("assets: the new asset %s could not join the listing of %s (%s): it "
			"will be read again",
			json_string_value(json_object_get(asset, "externalId")), p->id,
			err.code ? err.msg : strerror(-rc));
		asset_drop_list(c, p);
	}
	pthread_mutex_unlock(&p->assets_refresh.flight);
	json_decref(cand);
	json_decref(self);
	json_decref(real);
}
