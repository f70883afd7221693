/*
 * assets.c - <project>/assets/ (one file per asset, named by its externalId)
 * and tasks/<id>/mask.png, mask.seg.nrrd: names, listings and attributes on
 * the core's side; the bytes come from the media cache (angofs/media.h).
 *
 * Design choice: the asset list of a project is a reference-counted snapshot
 * built from the pages of GET /project/{id}/assets (the SDK's get_assets:
 * page, limit 100, filters {}; never a request per file; paged by count,
 * hub_pager.c), kept meta_ttl seconds like the task list, single flight
 * per project (p->assets_refresh, include/angofs/slot.h). Names follow docs/DATASETS.md "Names"
 * (the rule of src/util/names.c on the stem, the image extension put back
 * after the `~<asset id>` suffix; the oldest asset keeps the plain name), so
 * assets/ and the dataset views' images/ agree. Masks are listed only when
 * the task (from the task cache, which the task list fills) has the URL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/media.h"
#include "read_int.h"

static const char *const image_ext[] = {"jpg",	"jpeg", "png", "bmp", "gif", "tif",
					"tiff", "webp", "ppm", "pgm", NULL};

/* Length of s's image extension including the dot (0: none); s ends at n. */
static size_t ext_len(const char *s, size_t n)
{
	for (size_t i = n; i > 0; i--) {
		if (s[i - 1] == '.') {
			for (const char *const *e = image_ext; *e; e++)
				if (n - i == strlen(*e) && !strncasecmp(s + i, *e, n - i))
					return n - i + 1;
			return 0;
		}
		if (s[i - 1] == '/')
			return 0;
	}
	return 0;
}

void asset_list_free(struct assetlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].url);
		free(l->v[i].storage);
		free(l->v[i].xid);
		free(l->v[i].stem);
		free(l->v[i].created);
	}
	free(l->v);
	free(l->byid);
	free(l);
}

void asset_list_put(struct ao_core *c, struct assetlist *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&c->lock);
	int last = --l->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		asset_list_free(l);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct asset *)a)->name, ((const struct asset *)b)->name);
}

static int cmp_id(const void *a, const void *b, void *ud)
{
	const struct asset *v = ud;
	return strcmp(v[*(const size_t *)a].id, v[*(const size_t *)b].id);
}

/* Names for every asset: names.c's rule on the stems, extensions put back;
 * then v sorted by name and byid rebuilt. */
int asset_name_all(struct assetlist *l)
{
	struct ao_named *nm = calloc(l->n ? l->n : 1, sizeof(*nm));
	size_t *byid = malloc((l->cap ? l->cap : 1) * sizeof(*byid));

	if (!nm || !byid) {
		free(nm);
		free(byid);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		nm[i].id = l->v[i].id;
		nm[i].name = l->v[i].stem;
		nm[i].order_key = l->v[i].created;
	}
	/* ".status" is the write side's directory of assets/' status files */
	static const char *const reserved[] = {".status", NULL};
	if (ao_names_assign(nm, l->n, reserved) < 0) {
		free(nm);
		free(byid);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++)
		snprintf(l->v[i].name, sizeof(l->v[i].name), "%s%s", nm[i].out, l->v[i].ext);
	free(nm);
	if (l->n) /* l->v is NULL for a project without assets: qsort wants an array */
		qsort(l->v, l->n, sizeof(*l->v), cmp_name);
	for (size_t i = 0; i < l->n; i++)
		byid[i] = i;
	qsort_r(byid, l->n, sizeof(*byid), cmp_id, l->v);
	free(l->byid);
	l->byid = byid;
	return 0;
}

int asset_append(struct assetlist *l, const json_t *a)
{
	const char *id = json_string_value(json_object_get(a, "_id"));
	const char *xid = json_string_value(json_object_get(a, "externalId"));
	const char *url = json_string_value(json_object_get(a, "data"));
	const char *cr = json_string_value(json_object_get(a, "createdAt"));
	const char *sto = json_string_value(json_object_get(a, "storage"));
	size_t xl, el;

	if (!id || !*id || strlen(id) >= AO_ID_MAX)
		return 0; /* nothing to name it by: skipped */
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 128;
		struct asset *v = realloc(l->v, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = nc;
	}
	struct asset *s = &l->v[l->n];
	xid = xid ? xid : "";
	xl = strlen(xid);
	el = ext_len(xid, xl);
	memset(s, 0, sizeof(*s));
	if (el) {
		snprintf(s->ext, sizeof(s->ext), "%s", xid + xl - el);
		xl -= el;
	} else if (url && (el = ext_len(url, strcspn(url, "?#")))) {
		/* no extension in the externalId: the URL's (docs/DATASETS.md) */
		snprintf(s->ext, sizeof(s->ext), "%.*s", (int)el, url + strcspn(url, "?#") - el);
	}
	s->id = strdup(id);
	s->url = strdup(url ? url : "");
	if (!sto) /* the storage as an id, or as a {_id, ...} object */
		sto = json_string_value(json_object_get(json_object_get(a, "storage"), "_id"));
	s->storage = sto && *sto ? strdup(sto) : NULL;
	s->xid = strdup(xid);
	s->stem = strndup(xid, xl);
	s->created = strdup(cr ? cr : "");
	if (!s->id || !s->url || !s->xid || !s->stem || !s->created ||
	    (sto && *sto && !s->storage)) {
		free(s->id);
		free(s->url);
		free(s->xid);
		free(s->stem);
		free(s->created);
		free(s->storage);
		return -ENOMEM;
	}
	/* stem, "~<id>" (up to 66 bytes) and extension always fit in 255 */
	s->stem[ao_name_utf8_prefix(s->stem, AO_NAME_MAX - strlen(s->ext) - 66)] = '\0';
	l->n++;
	return 0;
}

/* Every page of GET /project/{id}/assets into a new list. */
static int list_fetch(struct ao_core *c, struct project *p, struct assetlist **out,
		      struct ao_err *err)
{
	struct assetlist *l = calloc(1, sizeof(*l));
	long long total = -1;
	struct hub_pager pg;
	int rc = 0;

	if (!l)
		return ao_errf(err, ENOMEM, "out of memory");
	l->refs = 1;
	hub_pager_init(&pg, 100);
	while (rc == 0) {
		json_t *data = NULL, *arr, *a;
		size_t i;

		rc = hub_get_assets(c->cfg.hub, p->id, pg.page, pg.limit, NULL, &data, err);
		if (rc < 0)
			break;
		arr = json_object_get(data, "assets");
		if (json_is_integer(json_object_get(data, "total")))
			total = json_integer_value(json_object_get(data, "total"));
		const char *fid = json_string_value(json_object_get(json_array_get(arr, 0), "_id"));
		if (!hub_pager_repeats(&pg, fid)) /* the same page again: nothing new */
			json_array_foreach(arr, i, a) if (rc == 0 && asset_append(l, a) < 0) rc =
			    ao_errf(err, ENOMEM, "out of memory");
		size_t got = json_array_size(arr);
		int more = hub_pager_next(&pg, got, fid, total);
		json_decref(data);
		if (rc == 0 && !more)
			break;
	}
	if (rc == 0 && asset_name_all(l) < 0)
		rc = ao_errf(err, ENOMEM, "out of memory");
	if (rc < 0) {
		asset_list_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

struct list_ud {
	struct ao_core *c;
	struct project *p;
};

/* Every page, then the list published (the slot's refresh). */
static int list_publish(void *ud, struct ao_err *err)
{
	struct list_ud *d = ud;
	struct assetlist *fresh = NULL, *old;
	int rc = list_fetch(d->c, d->p, &fresh, err);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&d->c->lock);
	old = d->p->assets;
	d->p->assets = fresh;
	ao_slot_stamp(&d->p->assets_refresh);
	pthread_mutex_unlock(&d->c->lock);
	asset_list_put(d->c, old);
	return 0;
}

static int list_have(void *ud)
{
	return ((struct list_ud *)ud)->p->assets != NULL;
}

struct assetlist *asset_list(struct ao_core *c, struct project *p, struct ao_err *err)
{
	struct list_ud d = {c, p};
	struct assetlist *l = NULL;
	char what[AO_ID_MAX + 32];
	struct ao_slot_use u = {&c->lock, c->cfg.meta_ttl_s, 0, list_publish, list_have, &d, what,
				0};

	snprintf(what, sizeof(what), "the asset list of %s", p->id);
	if (ao_slot_get(&p->assets_refresh, &u, err) < 0)
		return NULL;
	pthread_mutex_lock(&c->lock);
	if ((l = p->assets))
		l->refs++;
	pthread_mutex_unlock(&c->lock);
	return l;
}

void asset_drop_list(struct ao_core *c, struct project *p)
{
	pthread_mutex_lock(&c->lock);
	ao_slot_drop(&p->assets_refresh);
	pthread_mutex_unlock(&c->lock);
}

void asset_free_project(struct ao_core *c, struct project *p)
{
	(void)c;
	if (p->assets && --p->assets->refs == 0)
		asset_list_free(p->assets);
	p->assets = NULL;
	ao_slot_destroy(&p->assets_refresh);
}

int asset_lookup(struct ao_core *c, struct project *p, const char *name, char *id_out, size_t idsz,
		 struct ao_err *err)
{
	struct assetlist *l = asset_list(c, p, err);
	struct asset key, *a;
	int rc = 0;

	if (!l)
		return err && err->code ? -err->code : -EIO;
	snprintf(key.name, sizeof(key.name), "%s", name);
	a = l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_name) : NULL;
	if (a)
		snprintf(id_out, idsz, "%s", a->id);
	else
		rc = ao_errf(err, ENOENT, "assets/%s: no such asset", name);
	asset_list_put(c, l);
	return rc;
}

int asset_lookup_xid(struct ao_core *c, struct project *p, const char *xid, char *id_out,
		     size_t idsz, struct ao_err *err)
{
	struct assetlist *l = asset_list(c, p, err);
	const struct asset *best = NULL;

	if (!l)
		return err && err->code ? -err->code : -EIO;
	for (size_t i = 0; i < l->n; i++) /* only paths below a subfolder come here */
		if (!strcmp(l->v[i].xid, xid) &&
		    (!best || strcmp(l->v[i].created, best->created) < 0 ||
		     (!strcmp(l->v[i].created, best->created) && strcmp(l->v[i].id, best->id) < 0)))
			best = &l->v[i];
	if (best)
		snprintf(id_out, idsz, "%s", best->id);
	asset_list_put(c, l);
	return best ? 0 : ao_errf(err, ENOENT, "assets/%s: no such asset", xid);
}

int ao_core_asset_url(struct ao_core *c, const char *project_id, const char *asset_id, char **url,
		      const char **storage, struct ao_err *err)
{
	struct project *p = proj_by_id(c, project_id);
	struct assetlist *l;
	int rc = -ENOENT;

	*url = NULL;
	if (storage)
		*storage = NULL;
	if (!p)
		return ao_errf(err, ENOENT, "no project with id '%s'", project_id);
	l = asset_list(c, p, err);
	if (!l)
		return err && err->code ? -err->code : -EIO;
	size_t lo = 0, hi = l->n;
	while (lo < hi) { /* byid: indexes sorted by id */
		size_t mid = lo + (hi - lo) / 2;
		const struct asset *hit = &l->v[l->byid[mid]];
		int d = strcmp(hit->id, asset_id);
		if (d == 0) {
			/* the URL and, after its NUL, the storage id: one allocation */
			size_t ul = strlen(hit->url) + 1,
			       sl = hit->storage ? strlen(hit->storage) + 1 : 0;

			rc = (*url = malloc(ul + sl)) ? 0 : -ENOMEM;
			if (*url) {
				memcpy(*url, hit->url, ul);
				if (hit->storage)
					memcpy(*url + ul, hit->storage, sl);
				if (storage && hit->storage)
					*storage = *url + ul;
			}
			break;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	asset_list_put(c, l);
	if (rc == -ENOENT)
		return ao_errf(err, ENOENT, "no asset '%s' in project %s", asset_id, project_id);
	return rc < 0 ? ao_errf(err, -rc, "out of memory") : 0;
}

/* st (a file's base attributes) gets the media object's size and fetch
 * time when it is cached; before the first read: 1 byte, 0 blocks (unknown,
 * as for exports: not 0, which tar would archive empty without opening).
 * id (may be NULL): what the kernel will hold, for the kernel-cache table
 * (the content's number when this daemon has it in memory, else 0: not
 * known, the next open drops the kernel's copy). */
static void media_attr(struct ao_core *c, const struct ao_media_ref *r, struct stat *st,
		       struct ao_kc_id *id)
{
	long long size = 0;
	time_t mt = 0;
	unsigned long cseq = 0;

	if (c->cfg.media && ao_media_stat_gen(c->cfg.media, r, &size, &mt, &cseq)) {
		st->st_size = size;
		st->st_blocks = (size + 511) / 512;
		st->st_mtime = st->st_ctime = mt;
	} else {
		st->st_size = 1;
		st->st_blocks = 0;
		cseq = 0;
	}
	if (id)
		*id = (struct ao_kc_id){
		    .rule = AO_KC_EXPORT, .gen = cseq, .size = st->st_size, .mtime = st->st_mtime};
}

int asset_readdir(struct ao_core *c, struct project *p, const struct stat *base,
		  ao_core_fill_fn fill, void *ctx, struct ao_err *err)
{
	struct assetlist *l = asset_list(c, p, err);

	if (!l)
		return err && err->code ? -err->code : -EIO;
	for (size_t i = 0; i < l->n; i++) {
		struct ao_media_ref r = {p->id, l->v[i].url, AO_MEDIA_ASSET, l->v[i].storage};
		struct stat st = *base;

		media_attr(c, &r, &st, NULL);
		if (fill(ctx, l->v[i].name, &st))
			break;
	}
	asset_list_put(c, l);
	return 0;
}

/* The task's mask URL (key "brushDataUrl" or "medicalBrushDataUrl") from the
 * task cache (fetched if needed): 0 and *url, -ENOENT if it has none. */
int asset_mask_url(struct ao_core *c, const char *project_id, const char *task_id, const char *key,
		   char **url, struct ao_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = task_fetch(c, project_id, task_id, 0, &text, &len, err);

	*url = NULL;
	if (rc < 0)
		return rc;
	json_t *j = json_loadb(text, len, 0, NULL);
	free(text);
	const char *u = json_string_value(json_object_get(j, key));
	if (u && *u)
		*url = strdup(u);
	else
		rc = ao_errf(err, ENOENT, "task %s has no %s", task_id, key);
	json_decref(j);
	if (rc == 0 && !*url)
		rc = ao_errf(err, ENOMEM, "out of memory");
	return rc;
}

/* The media reference of an asset or mask node: *url malloc'd. */
int asset_ref(struct ao_core *c, const struct ao_node *n, struct ao_media_ref *r, char **url,
	      struct ao_err *err)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->project_id = n->project_id;
	if (n->kind == AO_N_ASSET_FILE) {
		r->type = AO_MEDIA_ASSET;
		rc = ao_core_asset_url(c, n->project_id, n->sub_id, url, &r->storage_id, err);
	} else {
		int med = !strcmp(n->sub_id, "medicalBrushDataUrl");
		r->type = med ? AO_MEDIA_MEDICAL_BRUSH : AO_MEDIA_BRUSH;
		rc = asset_mask_url(c, n->project_id, n->task_id, n->sub_id, url, err);
	}
	r->url = *url;
	return rc;
}

int asset_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st, struct ao_kc_id *id,
		  struct ao_err *err)
{
	struct ao_media_ref r;
	char *url = NULL;
	int rc = asset_ref(c, n, &r, &url, err);

	if (rc == 0)
		media_attr(c, &r, st, id);
	/* mask.png is written through the mount (the write side): show it so, or
	 * -o default_permissions refuses its owner's cp over it; the medical
	 * mask and assets/ files stay read-only */
	if (rc == 0 && n->kind == AO_N_MASK_FILE && !strcmp(n->sub_id, "brushDataUrl") &&
	    !c->cfg.read_only)
		st->st_mode |= S_IWUSR;
	free(url);
	return rc;
}

/* Open an asset or mask: a media cache handle. The kernel may still hold an
 * old size for the path (1 byte from a stat before the object was fetched,
 * perhaps by another daemon sharing the cache), so the open drops it
 * (`changed`) under the per-path rule (fs/kcache.c): a complete object opened with no
 * other handle of the path open is served through the page cache from its
 * file at its true size, as is a later open of the same file while such a
 * handle is open (no drop); else direct_io, and stat after close is true. */
int asset_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
	       struct ao_err *err)
{
	struct ao_media_ref r;
	char *url = NULL;
	long long size;
	time_t mt;
	int rc = asset_ref(c, n, &r, &url, err), known;

	if (rc == 0 && !c->cfg.media)
		rc = ao_errf(err, ENOTSUP, "no media cache");
	if (rc < 0) {
		free(url);
		return rc;
	}
	known = ao_media_stat(c->cfg.media, &r, &size, &mt);
	rc = ao_media_open(c->cfg.media, &r, &fh->m, err);
	free(url);
	if (rc < 0)
		return rc;
	fh->fd = ao_media_fh_fd(fh->m);
	/* a complete object this daemon numbered: the rule of exports
	 * (fs/kcache.c), the content's number as the generation, so a warm open
	 * of unchanged content keeps the kernel's pages and attributes */
	struct ao_media_ident mi;
	if (known && fh->fd >= 0 && ao_media_fh_ident(fh->m, &mi)) {
		*fh->kc = (struct ao_kc_id){
		    .rule = AO_KC_EXPORT, .gen = mi.cseq, .size = mi.size, .mtime = mi.mtime};
		/* the kernel may read the complete file itself (passthrough) */
		fh->kc->pt_fd = fh->fd;
		fh->kc->pt_ok = 1;
		return 0;
	}
	/* else page cache under the per-path rule, the file's identity
	 * standing for its bytes */
	struct media_ident {
		dev_t dev;
		ino_t ino;
		off_t size;
	} id; /* not the mtime: the cache moves it at use (its LRU clock) */
	struct stat st;
	memset(&id, 0, sizeof(id));
	int complete = known && fh->fd >= 0 && fstat(fh->fd, &st) == 0;
	if (complete)
		id = (struct media_ident){st.st_dev, st.st_ino, st.st_size};
	/* direct_io (size unknown, or another handle reads other bytes): still
	 * drop the old size once it is known, so stat after close is true
	 * (flush waits for it) */
	*fh->kc = (struct ao_kc_id){.rule = AO_KC_PATH, .len = sizeof(id), .drop_when_direct = 1};
	/* still downloading: the kernel's size (1, or an older object's) is
	 * dropped before the open returns, so the opener's fstat asks (the
	 * size the hub announced): sendfile (shutil.copyfile) and splice read
	 * through the page cache only up to the kernel's size, and
	 * shutil.copyfile sizes its copy by fstat */
	fh->kc->drop_first = !complete;
	memcpy(fh->kc->ident, &id, sizeof(id));
	fh->kc->id = complete ? fh->kc->ident : NULL;
	/* a complete object: the kernel may read its file itself (passthrough) */
	fh->kc->pt_fd = fh->fd;
	fh->kc->pt_ok = complete;
	return 0;
}

const char *asset_mask_key(const char *name)
{
	return strcmp(name, "mask.png") == 0 ? "brushDataUrl" : "medicalBrushDataUrl";
}

int asset_mask_present(struct ao_core *c, const struct ao_node *n, const char *name)
{
	char *url = NULL;
	int rc = asset_mask_url(c, n->project_id, n->task_id, asset_mask_key(name), &url, NULL);

	free(url);
	return rc == 0;
}
