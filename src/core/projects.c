/*
 * projects.c - the project list (all pages of GET /listProjects) and each
 * project's details (GET /project/{id}), cached for meta_ttl_s, with the
 * directory names derived from them: project names (de-duplicated, oldest
 * keeps the plain name, ".status" reserved), stage and batch names. A lookup
 * of an unknown name refreshes the list at most every few seconds, so a new
 * project appears without waiting for the TTL while shells probing for
 * missing files do not hammer the hub.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "angofs/hub.h"
#include "angofs/hub_api.h"

#define NEG_REFRESH_S 3
#define LIST_PAGE 100

char *proj_pretty_json(json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*len = n + 1;
	return t;
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static struct project *find_id_locked(struct ao_core *c, const char *id)
{
	for (size_t i = 0; i < c->nprojects; i++)
		if (strcmp(c->projects[i]->id, id) == 0)
			return c->projects[i];
	return NULL;
}

static struct project *add_locked(struct ao_core *c, const char *id)
{
	struct project *p;

	if (c->nprojects == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct project **v = realloc(c->projects, cap * sizeof(*v));
		if (!v)
			return NULL;
		c->projects = v;
		c->cap = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->id = strdup(id))) {
		free(p);
		return NULL;
	}
	ao_slot_init(&p->detail_refresh);
	ao_slot_init(&p->tasks_refresh);
	ao_slot_init(&p->assets_refresh);
	c->projects[c->nprojects++] = p;
	return p;
}

static void set_str(char **dst, const char *v)
{
	char *n = strdup(v ? v : "");
	if (n) {
		free(*dst);
		*dst = n;
	}
}

/* Fetch every page; install the result under the lock. */
static int list_fetch(struct ao_core *c, struct ao_err *err)
{
	json_t *all = json_array();
	long long total = -1;
	int rc = 0;

	if (!all)
		return ao_errf(err, ENOMEM, "out of memory");
	struct hub_pager pg;

	hub_pager_init(&pg, LIST_PAGE);
	for (;;) {
		json_t *data = NULL;
		rc = hub_list_projects(c->cfg.hub, pg.page, pg.limit, &data, err);
		if (rc < 0)
			break;
		json_t *arr = json_object_get(data, "projects");
		if (json_is_integer(json_object_get(data, "total")))
			total = json_integer_value(json_object_get(data, "total"));
		size_t n = json_array_size(arr);
		json_array_extend(all, arr);
		/* by count, a short page the last, a page repeated the end
		 * (hub_pager.c: a hub claiming 10^12 projects on pages of one
		 * was paged for hours at the request budget) */
		json_t *f = json_array_get(arr, 0);
		const char *fid = jstr(f, "_id") ? jstr(f, "_id") : jstr(f, "id");
		int more = hub_pager_next(&pg, n, fid, total);
		json_decref(data);
		if (!more)
			break;
	}
	if (rc < 0) {
		json_decref(all);
		return rc;
	}

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nprojects; i++)
		c->projects[i]->listed = 0;
	size_t i;
	json_t *it;
	json_array_foreach(all, i, it)
	{
		const char *id = jstr(it, "_id");
		if (!id)
			id = jstr(it, "id");
		if (!id || !*id || strlen(id) >= AO_ID_MAX)
			continue;
		struct project *p = find_id_locked(c, id);
		if (!p)
			p = add_locked(c, id);
		if (!p)
			continue;
		if (p->listed)
			continue; /* duplicate across pages */
		set_str(&p->name, jstr(it, "name"));
		set_str(&p->created, jstr(it, "createdAt"));
		p->listed = 1;
	}
	size_t nl = 0;
	for (i = 0; i < c->nprojects; i++)
		nl += c->projects[i]->listed;
	struct ao_named *nm = calloc(nl ? nl : 1, sizeof(*nm));
	struct project **back = calloc(nl ? nl : 1, sizeof(*back));
	if (nm && back) {
		static const char *const reserved[] = {".status", NULL};
		size_t k = 0;
		for (i = 0; i < c->nprojects; i++) {
			struct project *p = c->projects[i];
			if (!p->listed)
				continue;
			nm[k].id = p->id;
			nm[k].name = p->name;
			nm[k].order_key = p->created;
			back[k++] = p;
		}
		ao_names_assign(nm, nl, reserved);
		for (k = 0; k < nl; k++)
			memcpy(back[k]->dname, nm[k].out, sizeof(back[k]->dname));
		ao_slot_stamp(&c->list_refresh);
	} else {
		rc = ao_errf(err, ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&c->lock);
	free(nm);
	free(back);
	json_decref(all);
	return rc;
}

static int list_fetch_ud(void *c, struct ao_err *err)
{
	return list_fetch(c, err);
}

/* force: 0 = only if older than the TTL, 1 = if older than NEG_REFRESH_S
 * (a lookup of an unknown name: a failure keeps the list, silently). */
int proj_list_fresh(struct ao_core *c, int force, struct ao_err *err)
{
	struct ao_slot_use u = {&c->lock,
				c->cfg.meta_ttl_s,
				force ? NEG_REFRESH_S : 0,
				list_fetch_ud,
				NULL,
				c,
				"the project list",
				force};

	return ao_slot_get(&c->list_refresh, &u, err);
}

static struct project *match_locked(struct ao_core *c, const char *name)
{
	for (size_t i = 0; i < c->nprojects; i++)
		if (c->projects[i]->listed && strcmp(c->projects[i]->dname, name) == 0)
			return c->projects[i];
	for (size_t i = 0; i < c->nprojects; i++)
		if (c->projects[i]->listed && strcmp(c->projects[i]->id, name) == 0)
			return c->projects[i];
	return NULL;
}

struct project *proj_lookup(struct ao_core *c, const char *name, struct ao_err *err)
{
	struct project *p;

	if (proj_list_fresh(c, 0, err) < 0)
		return NULL;
	pthread_mutex_lock(&c->lock);
	p = match_locked(c, name);
	pthread_mutex_unlock(&c->lock);
	if (p)
		return p;
	if (proj_list_fresh(c, 1, err) < 0)
		return NULL;
	pthread_mutex_lock(&c->lock);
	p = match_locked(c, name);
	pthread_mutex_unlock(&c->lock);
	if (!p)
		ao_errf(err, ENOENT, "no project named '%s'", name);
	return p;
}

struct project *proj_by_id(struct ao_core *c, const char *id)
{
	pthread_mutex_lock(&c->lock);
	struct project *p = find_id_locked(c, id);
	pthread_mutex_unlock(&c->lock);
	return p;
}

static void free_subs(struct sub *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].name);
	}
	free(v);
}

/* stages: [{id,name}], batches: [{_id,name}] -> subs with assigned dir names */
static struct sub *build_subs(json_t *arr, size_t *n_out)
{
	size_t n = json_array_size(arr), k = 0, i;
	struct sub *v = calloc(n ? n : 1, sizeof(*v));
	struct ao_named *nm = calloc(n ? n : 1, sizeof(*nm));
	char(*order)[16] = calloc(n ? n : 1, sizeof(*order));
	json_t *it;

	*n_out = 0;
	if (!v || !nm || !order) {
		free(v);
		free(nm);
		free(order);
		return NULL;
	}
	json_array_foreach(arr, i, it)
	{
		const char *id = jstr(it, "id");
		if (!id)
			id = jstr(it, "_id");
		if (!id || !*id || strlen(id) >= AO_ID_MAX)
			continue;
		const char *name = jstr(it, "name");
		v[k].id = strdup(id);
		v[k].name = strdup(name ? name : id);
		if (!v[k].id || !v[k].name) {
			free(v[k].id);
			free(v[k].name);
			continue;
		}
		snprintf(order[k], sizeof(order[k]), "%08zu", k);
		nm[k].id = v[k].id;
		nm[k].name = v[k].name;
		nm[k].order_key = order[k];
		k++;
	}
	ao_names_assign(nm, k, NULL);
	for (i = 0; i < k; i++)
		memcpy(v[i].dname, nm[i].out, sizeof(v[i].dname));
	free(nm);
	free(order);
	*n_out = k;
	return v;
}

/* GET /project/{id}; install it under the lock. */
static int detail_fetch(struct ao_core *c, struct project *p, struct ao_err *err)
{
	json_t *proj = NULL;
	int rc = hub_get_project(c->cfg.hub, p->id, &proj, err);

	if (rc < 0)
		return rc;
	size_t len = 0, ns = 0, nb = 0;
	char *text = proj_pretty_json(proj, &len);
	json_t *barr = json_object_get(proj, "batches");
	struct sub *st = build_subs(json_object_get(proj, "stages"), &ns);
	struct sub *bt = build_subs(barr, &nb);
	if (!text || !st || !bt) {
		free(text);
		free_subs(st, ns);
		free_subs(bt, nb);
		json_decref(proj);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&c->lock);
	json_decref(p->detail);
	free(p->detail_text);
	free_subs(p->stages, p->nstages);
	free_subs(p->batches, p->nbatches);
	p->detail = proj;
	p->detail_text = text;
	p->detail_len = len;
	p->stages = st;
	p->nstages = ns;
	p->batches = bt;
	p->nbatches = nb;
	ao_slot_stamp(&p->detail_refresh);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

struct detail_ud {
	struct ao_core *c;
	struct project *p;
};

static int detail_fetch_ud(void *ud, struct ao_err *err)
{
	struct detail_ud *d = ud;

	return detail_fetch(d->c, d->p, err);
}

static int detail_have(void *ud)
{
	return ((struct detail_ud *)ud)->p->detail != NULL;
}

int proj_detail(struct ao_core *c, struct project *p, struct ao_err *err)
{
	struct detail_ud d = {c, p};
	char what[AO_ID_MAX + 16];
	struct ao_slot_use u = {
	    &c->lock, c->cfg.meta_ttl_s, 0, detail_fetch_ud, detail_have, &d, what, 0};

	snprintf(what, sizeof(what), "project %s", p->id);
	return ao_slot_get(&p->detail_refresh, &u, err);
}

int proj_sub_lookup(struct ao_core *c, struct project *p, int which, const char *name, char *id_out,
		    size_t idsz, struct ao_err *err)
{
	int rc = proj_detail(c, p, err);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	pthread_mutex_lock(&c->lock);
	struct sub *v = which ? p->batches : p->stages;
	size_t n = which ? p->nbatches : p->nstages;
	for (int pass = 0; pass < 2 && rc < 0; pass++)
		for (size_t i = 0; i < n; i++)
			if (strcmp(pass ? v[i].id : v[i].dname, name) == 0) {
				snprintf(id_out, idsz, "%s", v[i].id);
				rc = 0;
				break;
			}
	pthread_mutex_unlock(&c->lock);
	if (rc < 0)
		ao_errf(err, ENOENT, "project '%s' has no %s named '%s'", p->dname,
			which ? "batch" : "stage", name);
	return rc;
}

void proj_free_all(struct ao_core *c)
{
	for (size_t i = 0; i < c->nprojects; i++) {
		struct project *p = c->projects[i];
		free(p->id);
		free(p->name);
		free(p->created);
		json_decref(p->detail);
		free(p->detail_text);
		free_subs(p->stages, p->nstages);
		free_subs(p->batches, p->nbatches);
		if (p->tasks)
			task_list_put(c, p->tasks);
		ao_slot_destroy(&p->detail_refresh);
		ao_slot_destroy(&p->tasks_refresh);
		asset_free_project(c, p);
		free(p);
	}
	free(c->projects);
	c->projects = NULL;
	c->nprojects = c->cap = 0;
}
