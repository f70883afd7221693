/*
 * schema.c - categorySchema index and content checks (see schema.h).
 *
 * Design: the schema is small (tens of categories), the content large (100k
 * items), so the index is a flat array per kind scanned linearly; nothing is
 * copied (entries borrow from the schema JSON, which is kept referenced).
 * Nested classifications (under tools or under classifications) are indexed
 * with the classifications, remembering their parent, so a nested entry is
 * found by schemaId anywhere and by title first among its parent's children.
 * Checks follow hub-api.md: one geometry key per object, matching the tool's
 * type; classification answers typed by the classification's tool; options
 * by value (exports) or option schemaId (stored answers).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/tools.h"
#include "schema.h"

enum kind { K_TOOL, K_CLASS, K_REL };
static const char *const kind_name[] = {"tool", "classification", "relation"};

struct cat {
	enum kind kind;
	const char *schema_id, *title, *type;
	json_t *j;
	const struct cat *parent; /* for nested classifications */
	int parent_idx;
};

struct schema {
	json_t *cs;
	struct cat *c;
	size_t n, cap;
};

static const char *sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int add(struct schema *s, enum kind k, json_t *j, int parent)
{
	struct cat *c;

	if (!json_is_object(j))
		return 0;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 32;
		struct cat *nb = realloc(s->c, nc * sizeof(*nb));

		if (!nb)
			return -ENOMEM;
		s->c = nb;
		s->cap = nc;
	}
	c = &s->c[s->n++];
	c->kind = k;
	c->j = j;
	c->schema_id = sget(j, "schemaId");
	c->title = sget(j, "title");
	c->type = sget(j, "tool");
	c->parent_idx = parent;
	c->parent = NULL;
	return (int)(s->n - 1);
}

static int add_list(struct schema *s, enum kind k, json_t *arr, int parent)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		int idx = add(s, k, e, parent);

		if (idx < 0)
			return idx;
		if (json_is_array(json_object_get(e, "classifications"))) {
			int r = add_list(s, K_CLASS, json_object_get(e, "classifications"), idx);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

struct schema *sc_new(json_t *cs, struct ao_err *err)
{
	struct schema *s = calloc(1, sizeof(*s));
	size_t i;

	if (!s) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (cs && !json_is_object(cs)) {
		ao_errf(err, EPROTO, "the project's categorySchema is not an object");
		free(s);
		return NULL;
	}
	s->cs = cs ? json_incref(cs) : NULL;
	if (cs && (add_list(s, K_TOOL, json_object_get(cs, "tools"), -1) < 0 ||
		   add_list(s, K_CLASS, json_object_get(cs, "classifications"), -1) < 0 ||
		   add_list(s, K_REL, json_object_get(cs, "relations"), -1) < 0)) {
		ao_errf(err, ENOMEM, "out of memory");
		sc_free(s);
		return NULL;
	}
	for (i = 0; i < s->n; i++)
		s->c[i].parent = s->c[i].parent_idx >= 0 ? &s->c[s->c[i].parent_idx] : NULL;
	return s;
}

void sc_free(struct schema *s)
{
	if (!s)
		return;
	json_decref(s->cs);
	free(s->c);
	free(s);
}

/* ---- report ---- */

void sc_report_init(struct sc_report *r)
{
	memset(r, 0, sizeof(*r));
}

void sc_report_free(struct sc_report *r)
{
	size_t i;

	for (i = 0; i < r->nunmapped; i++)
		free(r->unmapped[i].name);
	free(r->unmapped);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

static void rep_append(struct sc_report *r, const char *line)
{
	size_t n = strlen(line);

	if (r->len + n + 2 > r->cap) {
		size_t nc = (r->len + n + 2) * 2;
		char *nb = realloc(r->text, nc);

		if (!nb)
			return;
		r->text = nb;
		r->cap = nc;
	}
	memcpy(r->text + r->len, line, n);
	r->len += n;
	r->text[r->len++] = '\n';
	r->text[r->len] = '\0';
}

void sc_problem(struct sc_report *r, const char *where, const char *fmt, ...)
{
	char msg[768], line[1024];
	long max = r->max_lines ? r->max_lines : 50;
	va_list ap;

	r->count++;
	if (r->count > max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (where && *where)
		snprintf(line, sizeof(line), "%s: %s", where, msg);
	else
		snprintf(line, sizeof(line), "%s", msg);
	rep_append(r, line);
}

static void unmapped(struct sc_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void unmapped(struct sc_report *r, const char *fmt, ...)
{
	char name[512];
	struct sc_unmapped *nb;
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	for (i = 0; i < r->nunmapped; i++)
		if (!strcmp(r->unmapped[i].name, name)) {
			r->unmapped[i].n++;
			return;
		}
	nb = realloc(r->unmapped, (r->nunmapped + 1) * sizeof(*nb));
	if (!nb)
		return;
	r->unmapped = nb;
	nb[r->nunmapped].name = strdup(name);
	nb[r->nunmapped].n = 1;
	if (nb[r->nunmapped].name)
		r->nunmapped++;
}

void sc_report_unmapped(struct sc_report *r)
{
	size_t i;

	for (i = 0; i < r->nunmapped; i++) {
		char line[700];

		snprintf(
		    line, sizeof(line),
		    "cannot map %s to this project's categorySchema by title (%ld occurrence%s)",
		    r->unmapped[i].name, r->unmapped[i].n, r->unmapped[i].n == 1 ? "" : "s");
		r->count++;
		rep_append(r, line);
	}
}

void sc_report_summary(const struct sc_report *r, char *buf, size_t n)
{
	const char *nl;
	size_t first;

	if (!r->count || !r->text) {
		snprintf(buf, n, "no problems");
		return;
	}
	nl = strchr(r->text, '\n');
	first = nl ? (size_t)(nl - r->text) : strlen(r->text);
	if (first > 600)
		first = 600;
	if (r->count == 1)
		snprintf(buf, n, "%.*s", (int)first, r->text);
	else
		snprintf(buf, n, "%.*s (and %ld more problem%s)", (int)first, r->text, r->count - 1,
			 r->count == 2 ? "" : "s");
}

/* ---- lookups ---- */

static const struct cat *by_id(const struct schema *s, enum kind k, const char *id)
{
	size_t i;

	if (!id)
		return NULL;
	for (i = 0; i < s->n; i++)
		if (s->c[i].kind == k && s->c[i].schema_id && !strcmp(s->c[i].schema_id, id))
			return &s->c[i];
	return NULL;
}

/* By title (and type if given); among parent's children first when parent. */
static const struct cat *by_title(const struct schema *s, enum kind k, const char *title,
				  const char *type, const struct cat *parent)
{
	size_t i;
	int pass;

	if (!title)
		return NULL;
	for (pass = parent ? 0 : 1; pass < 2; pass++)
		for (i = 0; i < s->n; i++) {
			const struct cat *c = &s->c[i];

			if (c->kind != k || !c->title || strcmp(c->title, title))
				continue;
			if (type && c->type && strcmp(c->type, type))
				continue;
			if (pass == 0 && c->parent != parent)
				continue;
			return c;
		}
	return NULL;
}

static int is_geometry(const char *type)
{
	return ao_tool_is(type, AO_TOOL_GEOMETRY);
}

/* The geometry key an object carries, NULL if none; *count gets how many. */
static const char *geometry_of(const json_t *o, int *count)
{
	const char *found = NULL;

	*count = 0;
	for (const struct ao_tool *g = ao_tools; g->name; g++)
		if ((g->flags & AO_TOOL_GEOMETRY) && json_object_get(o, g->name)) {
			if (!found)
				found = g->name;
			(*count)++;
		}
	return found;
}

static int is_point(const json_t *p)
{
	return json_is_array(p) && json_array_size(p) >= 2 &&
	       json_is_number(json_array_get(p, 0)) && json_is_number(json_array_get(p, 1));
}

static int nums(const json_t *o, const char *const *keys)
{
	for (; *keys; keys++)
		if (!json_is_number(json_object_get(o, *keys)))
			return 0;
	return 1;
}

/* A message if the geometry value has the wrong shape, else NULL. */
static const char *geometry_shape(const char *key, const json_t *v)
{
	static const char *const box[] = {"x", "y", "width", "height", NULL};
	static const char *const ner[] = {"start", "end", NULL};
	size_t i;
	json_t *e;

	if (!strcmp(key, "bounding-box") || !strcmp(key, "rotated-bounding-box"))
		return json_is_object(v) && nums(v, box)
			   ? NULL
			   : "must be an object with numeric x, y, width and height";
	if (!strcmp(key, "point"))
		return is_point(v) ? NULL : "must be [x, y]";
	if (!strcmp(key, "polygon") || !strcmp(key, "polyline")) {
		if (!json_is_array(v))
			return "must be a list of [x, y] points";
		json_array_foreach(v, i,
				   e) if (!is_point(e)) return "must be a list of [x, y] points";
		return NULL;
	}
	if (!strcmp(key, "ner"))
		return json_is_object(v) && nums(v, ner)
			   ? NULL
			   : "must be an object with numeric start and end";
	if (!strcmp(key, "segmentation") || !strcmp(key, "pdf"))
		return json_is_object(v) ? NULL : "must be an object";
	return NULL;
}

/* ---- checks ---- */

struct ctx {
	struct schema *s;
	int map;
	const char *where;
	struct sc_report *r;
};

static void check_classifications(struct ctx *x, json_t *arr, const char *path,
				  const struct cat *parent);

static int option_ok(const struct cat *c, const char *v)
{
	json_t *opts = json_object_get(c->j, "options"), *o;
	size_t i;

	if (!json_is_array(opts) || !json_array_size(opts))
		return 1; /* nothing to check against */
	json_array_foreach(opts, i, o)
	{
		const char *ov = sget(o, "value"), *oid = sget(o, "schemaId");

		if ((ov && !strcmp(ov, v)) || (oid && !strcmp(oid, v)))
			return 1;
	}
	return 0;
}

static void option_list(const struct cat *c, char *buf, size_t n)
{
	json_t *opts = json_object_get(c->j, "options"), *o;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(opts, i, o)
	{
		const char *ov = sget(o, "value");
		int w;

		if (!ov)
			continue;
		w = snprintf(buf + used, n - used, "%s'%s'", used ? ", " : "", ov);
		if (w < 0 || (size_t)w >= n - used) {
			if (n > 4)
				strcpy(buf + n - 4, "...");
			return;
		}
		used += (size_t)w;
	}
}

static void check_answer_value(struct ctx *x, const struct cat *c, json_t *cl, const char *path)
{
	json_t *a = json_object_get(cl, "answer");
	const char *t = c->type ? c->type : "";
	const char *title = c->title ? c->title : "?";
	char opts[300];

	if (!a || json_is_null(a))
		return;
	if (ao_tool_is(t, AO_TOOL_ONE | AO_TOOL_TEXT)) {
		if (!json_is_string(a)) {
			sc_problem(x->r, x->where, "%s: answer of '%s' (%s) must be a string", path,
				   title, t);
			return;
		}
		if (strcmp(t, "text") && !option_ok(c, json_string_value(a))) {
			if (x->map) {
				unmapped(x->r, "option '%s' of classification '%s'",
					 json_string_value(a), title);
				return;
			}
			option_list(c, opts, sizeof(opts));
			sc_problem(x->r, x->where,
				   "%s: '%s' is not an option of '%s' (options: %s)", path,
				   json_string_value(a), title, opts);
		}
	} else if (ao_tool_is(t, AO_TOOL_MANY)) {
		size_t i;
		json_t *e;

		if (!json_is_array(a)) {
			sc_problem(x->r, x->where,
				   "%s: answer of '%s' (%s) must be a list of strings", path, title,
				   t);
			return;
		}
		json_array_foreach(a, i, e)
		{
			if (!json_is_string(e)) {
				sc_problem(x->r, x->where,
					   "%s: answer of '%s' (%s) must be a list of strings",
					   path, title, t);
				return;
			}
			if (strcmp(t, "tree-dropdown") && !option_ok(c, json_string_value(e))) {
				if (x->map) {
					unmapped(x->r, "option '%s' of classification '%s'",
						 json_string_value(e), title);
					continue;
				}
				option_list(c, opts, sizeof(opts));
				sc_problem(x->r, x->where,
					   "%s: '%s' is not an option of '%s' (options: %s)", path,
					   json_string_value(e), title, opts);
			}
		}
	} else if (!strcmp(t, "boolean")) {
		const char *sv = json_string_value(a);

		if (!json_is_boolean(a) && !(sv && (!strcmp(sv, "true") || !strcmp(sv, "false"))))
			sc_problem(x->r, x->where,
				   "%s: answer of '%s' (boolean) must be true or false", path,
				   title);
	}
}

/* Resolve a category for an element: by schemaId; in map mode by title when
 * the id is unknown or names a category with another title. */
static const struct cat *resolve(struct ctx *x, enum kind k, json_t *el, const char *type,
				 const struct cat *parent, const char *path)
{
	const char *id = sget(el, "schemaId"), *title = sget(el, "title");
	const struct cat *c;

	if (!x->s) /* no schema to check against: structure only */
		return NULL;
	c = by_id(x->s, k, id);
	if (x->map) {
		if (c && (!title || !c->title || !strcmp(title, c->title)))
			return c;
		c = by_title(x->s, k, title, type, parent);
		if (c && c->schema_id) {
			json_object_set_new(el, "schemaId", json_string(c->schema_id));
			return c;
		}
		if (!title)
			unmapped(x->r, "%s without title (schemaId '%s')", kind_name[k],
				 id ? id : "none");
		else if (type)
			unmapped(x->r, "%s '%s' (%s)", kind_name[k], title, type);
		else
			unmapped(x->r, "%s '%s'", kind_name[k], title);
		return NULL;
	}
	if (!id) {
		/* the hub accepts a title instead of a schemaId for objects */
		if (k == K_TOOL && title) {
			c = by_title(x->s, k, title, type, NULL);
			if (c)
				return c;
			sc_problem(x->r, x->where,
				   "%s: no schemaId, and no tool titled '%s' in the "
				   "project's categorySchema",
				   path, title);
			return NULL;
		}
		sc_problem(x->r, x->where, "%s: missing \"schemaId\"", path);
		return NULL;
	}
	if (!json_is_string(json_object_get(el, "schemaId"))) {
		sc_problem(x->r, x->where, "%s: \"schemaId\" must be a string", path);
		return NULL;
	}
	if (!c) {
		const struct cat *other = NULL;
		enum kind ok;

		for (ok = K_TOOL; ok <= K_REL && !other; ok++)
			if (ok != k)
				other = by_id(x->s, ok, id);
		if (other)
			sc_problem(x->r, x->where, "%s: schemaId '%s' is a %s ('%s'), not a %s",
				   path, id, kind_name[other->kind],
				   other->title ? other->title : "?", kind_name[k]);
		else
			sc_problem(x->r, x->where,
				   "%s: unknown schemaId '%s': no %s with this id in the project's "
				   "categorySchema",
				   path, id, kind_name[k]);
	}
	return c;
}

static void check_objects(struct ctx *x, json_t *arr, const char *key)
{
	size_t i;
	json_t *o;
	char path[96];

	if (!json_is_array(arr)) {
		sc_problem(x->r, x->where, "\"%s\" must be a list", key);
		return;
	}
	json_array_foreach(arr, i, o)
	{
		const struct cat *c;
		const char *g, *why;
		int ng;

		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		if (!json_is_object(o)) {
			sc_problem(x->r, x->where, "%s must be an object", path);
			continue;
		}
		if (json_object_get(o, "objectId") &&
		    !json_is_string(json_object_get(o, "objectId")))
			sc_problem(x->r, x->where, "%s: \"objectId\" must be a string", path);
		g = geometry_of(o, &ng);
		if (ng > 1) {
			sc_problem(x->r, x->where,
				   "%s has %d geometry keys; an object has exactly one", path, ng);
			continue;
		}
		c = resolve(x, K_TOOL, o, g, NULL, path);
		if (!c)
			continue;
		if (is_geometry(c->type)) {
			if (!g) {
				sc_problem(x->r, x->where,
					   "%s: tool '%s' is a %s but the object has no \"%s\" key",
					   path, c->title ? c->title : "?", c->type, c->type);
				continue;
			}
			if (strcmp(g, c->type)) {
				sc_problem(
				    x->r, x->where,
				    "%s: tool '%s' is a %s but the object has \"%s\" geometry",
				    path, c->title ? c->title : "?", c->type, g);
				continue;
			}
		}
		if (g && (why = geometry_shape(g, json_object_get(o, g))))
			sc_problem(x->r, x->where, "%s: \"%s\" %s", path, g, why);
		if (json_object_get(o, "classifications")) {
			char sub[128];

			snprintf(sub, sizeof(sub), "%s.classifications", path);
			check_classifications(x, json_object_get(o, "classifications"), sub, c);
		}
	}
}

static void check_classifications(struct ctx *x, json_t *arr, const char *path,
				  const struct cat *parent)
{
	size_t i;
	json_t *cl;
	char p[160];

	if (!json_is_array(arr)) {
		sc_problem(x->r, x->where, "\"%s\" must be a list", path);
		return;
	}
	json_array_foreach(arr, i, cl)
	{
		const struct cat *c;

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_object(cl)) {
			sc_problem(x->r, x->where, "%s must be an object", p);
			continue;
		}
		c = resolve(x, K_CLASS, cl, sget(cl, "tool"), parent, p);
		if (!c)
			continue;
		check_answer_value(x, c, cl, p);
		if (json_object_get(cl, "classifications")) {
			char sub[200];

			snprintf(sub, sizeof(sub), "%s.classifications", p);
			check_classifications(x, json_object_get(cl, "classifications"), sub, c);
		}
	}
}

static int has_object_id(json_t *objs, const char *id)
{
	size_t i;
	json_t *o;

	json_array_foreach(objs, i, o)
	{
		const char *oid = sget(o, "objectId");

		if (oid && !strcmp(oid, id))
			return 1;
	}
	return 0;
}

/* Relation ends must name objects of the same answer. */
static void check_ends(struct ctx *x, json_t *rl, json_t *objs, const char *p)
{
	static const char *const ends[] = {"from", "to"};
	json_t *g = json_object_get(rl, "group"), *m;
	size_t i;

	for (i = 0; i < 2; i++) {
		json_t *v = json_object_get(rl, ends[i]);

		if (!v)
			continue;
		if (!json_is_string(v))
			sc_problem(x->r, x->where, "%s: \"%s\" must be an objectId (string)", p,
				   ends[i]);
		else if (!has_object_id(objs, json_string_value(v)))
			sc_problem(x->r, x->where,
				   "%s: \"%s\" refers to objectId '%s', which no object of this "
				   "answer has",
				   p, ends[i], json_string_value(v));
	}
	if (g && !json_is_array(g)) {
		sc_problem(x->r, x->where, "%s: \"group\" must be a list of objectIds", p);
		return;
	}
	json_array_foreach(g, i, m)
	{
		if (!json_is_string(m) || !has_object_id(objs, json_string_value(m))) {
			sc_problem(x->r, x->where,
				   "%s: group[%zu] is not the objectId of an object of this answer",
				   p, i);
			return;
		}
	}
}

static void check_relations(struct ctx *x, json_t *arr, json_t *objs)
{
	size_t i;
	json_t *rl;
	char p[64];

	if (!json_is_array(arr)) {
		sc_problem(x->r, x->where, "\"relations\" must be a list");
		return;
	}
	json_array_foreach(arr, i, rl)
	{
		snprintf(p, sizeof(p), "relations[%zu]", i);
		if (!json_is_object(rl)) {
			sc_problem(x->r, x->where, "%s must be an object", p);
			continue;
		}
		if (!resolve(x, K_REL, rl, NULL, NULL, p))
			continue;
		if (!json_object_get(rl, "group") &&
		    !(json_object_get(rl, "from") && json_object_get(rl, "to")))
			sc_problem(x->r, x->where, "%s needs \"from\" and \"to\", or \"group\"", p);
		else
			check_ends(x, rl, objs, p);
	}
}

long sc_check_answer(struct schema *s, json_t *ans, int map, const char *where, struct sc_report *r)
{
	struct ctx x = {s, map, where, r};
	long before = r->count;
	json_t *v;

	if (!json_is_object(ans)) {
		sc_problem(r, where, "the answer must be a JSON object");
		return r->count - before;
	}
	if ((v = json_object_get(ans, "objects")))
		check_objects(&x, v, "objects");
	if ((v = json_object_get(ans, "tools")))
		check_objects(&x, v, "tools");
	if ((v = json_object_get(ans, "classifications")))
		check_classifications(&x, v, "classifications", NULL);
	if ((v = json_object_get(ans, "relations"))) {
		json_t *objs = json_object_get(ans, "objects");

		check_relations(&x, v, objs ? objs : json_object_get(ans, "tools"));
	}
	return r->count - before;
}
