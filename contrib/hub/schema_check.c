/*
 * schema_check.c - validate an answer against a project's categorySchema and
 * produce the stored form {"tools","classifications","relations"}.
 *
 * What the real hub refuses, we refuse with a message that names the problem:
 * a schemaId that is not in the schema (tools, top-level and nested
 * classifications, relations), a geometry key that does not match the tool
 * type (or is malformed), a classification answer of the wrong type (string
 * vs list), a relation pointing at an objectId the answer does not contain.
 * The input may carry tools under "objects" (annotate/import) or "tools"
 * (stored form); missing "title"/"tool" are filled in from the schema, as the
 * hub does. The input is never modified; the result is a deep copy.
 */
#include <stdio.h>
#include <string.h>

#include "hubd.h"

static const char *geometry_keys[] = {"bounding-box",
				      "rotated-bounding-box",
				      "polygon",
				      "polyline",
				      "point",
				      "segmentation",
				      "ner",
				      "pdf",
				      "spline",
				      "angle",
				      NULL};

struct ctx {
	char *err;
	size_t errlen;
	const char *prefix;
};

static json_t *fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *fail(struct ctx *c, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = (size_t)snprintf(c->err, c->errlen, "%s", c->prefix);
	if (n >= c->errlen)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
	return NULL;
}

/* snprintf for location strings; truncation is harmless (messages only). */
static void path_fmt(char *dst, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void path_fmt(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, n, fmt, ap);
	va_end(ap);
}

/* The first object of list whose string member key is value (borrowed), or NULL. */
static json_t *find_by(json_t *list, const char *key, const char *value)
{
	json_t *c;
	size_t i;

	json_array_foreach(list, i, c)
	{
		const char *s = json_string_value(json_object_get(c, key));
		if (s && !strcmp(s, value))
			return c;
	}
	return NULL;
}

static json_t *find_cat(json_t *list, const char *schema_id)
{
	return find_by(list, "schemaId", schema_id);
}

static json_t *find_cat_title(json_t *list, const char *title)
{
	return find_by(list, "title", title);
}

static int is_point(json_t *p)
{
	return json_is_array(p) && json_array_size(p) >= 2 &&
	       json_is_number(json_array_get(p, 0)) && json_is_number(json_array_get(p, 1));
}

static int is_point_list(json_t *a, size_t min)
{
	json_t *p;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) < min)
		return 0;
	json_array_foreach(a, i, p)
	{
		if (!is_point(p))
			return 0;
	}
	return 1;
}

static const char *check_geometry(const char *type, json_t *g)
{
	if (!strcmp(type, "bounding-box") || !strcmp(type, "rotated-bounding-box")) {
		static const char *k[] = {"x", "y", "width", "height"};
		for (int i = 0; i < 4; i++)
			if (!json_is_number(json_object_get(g, k[i])))
				return "needs numeric x, y, width, height";
		return NULL;
	}
	if (!strcmp(type, "polygon"))
		return is_point_list(g, 3) ? NULL : "must be a list of at least 3 [x, y] points";
	if (!strcmp(type, "polyline"))
		return is_point_list(g, 2) ? NULL : "must be a list of at least 2 [x, y] points";
	if (!strcmp(type, "point"))
		return is_point(g) ? NULL : "must be [x, y]";
	if (!strcmp(type, "ner"))
		return json_is_number(json_object_get(g, "start")) &&
			       json_is_number(json_object_get(g, "end"))
			   ? NULL
			   : "needs numeric start and end";
	if (!strcmp(type, "segmentation"))
		return json_is_array(json_object_get(g, "zones")) ? NULL : "needs a zones list";
	return NULL;
}

static json_t *check_classifications(struct ctx *c, json_t *schema_list, json_t *items,
				     const char *where);

/* The stored copy of item it (new ref): schemaId sid, tool (when given and it
 * names none), the category's title when it has none, and its nested
 * classifications checked against cat's; NULL (c's message set) if those
 * fail. */
static json_t *checked_copy(struct ctx *c, json_t *it, json_t *cat, const char *sid,
			    const char *tool, const char *where)
{
	json_t *out = json_deep_copy(it), *nested = json_object_get(it, "classifications");
	char sub[256];

	json_object_set_new(out, "schemaId", json_string(sid));
	if (tool && !json_object_get(out, "tool"))
		json_object_set_new(out, "tool", json_string(tool));
	if (!json_object_get(out, "title") && json_object_get(cat, "title"))
		json_object_set(out, "title", json_object_get(cat, "title"));
	if (nested) {
		json_t *n;

		path_fmt(sub, sizeof(sub), "%s.classifications", where);
		n = check_classifications(c, json_object_get(cat, "classifications"), nested, sub);
		if (!n) {
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, "classifications", n);
	}
	return out;
}

static json_t *check_one_cls(struct ctx *c, json_t *schema_list, json_t *it, const char *where)
{
	const char *sid = json_string_value(json_object_get(it, "schemaId"));
	json_t *cat, *ans;
	const char *tool;

	if (!json_is_object(it))
		return fail(c, "%s is not an object", where);
	if (!sid && json_is_string(json_object_get(it, "title")))
		cat = find_cat_title(schema_list, json_string_value(json_object_get(it, "title")));
	else if (!sid)
		return fail(c, "%s has no schemaId", where);
	else
		cat = find_cat(schema_list, sid);
	if (!cat)
		return fail(c,
			    "Unknown schemaId \"%s\" in %s: not a classification of the "
			    "project's categorySchema here",
			    sid ? sid : json_string_value(json_object_get(it, "title")), where);
	sid = json_string_value(json_object_get(cat, "schemaId"));
	tool = json_string_value(json_object_get(cat, "tool"));
	if (!tool)
		tool = "radio";
	ans = json_object_get(it, "answer");
	if (!strcmp(tool, "radio") || !strcmp(tool, "single-dropdown") || !strcmp(tool, "text")) {
		if (!json_is_string(ans))
			return fail(c, "%s (schemaId %s, %s): answer must be a string", where, sid,
				    tool);
	} else if (!strcmp(tool, "checkbox") || !strcmp(tool, "multi-dropdown") ||
		   !strcmp(tool, "tree-dropdown")) {
		json_t *v;
		size_t i;

		if (!json_is_array(ans))
			return fail(c, "%s (schemaId %s, %s): answer must be a list of strings",
				    where, sid, tool);
		json_array_foreach(ans, i, v)
		{
			if (!json_is_string(v))
				return fail(c, "%s (schemaId %s, %s): answer[%zu] is not a string",
					    where, sid, tool, i);
		}
	} else if (!strcmp(tool, "boolean")) {
		if (!json_is_boolean(ans) && !json_is_string(ans))
			return fail(c, "%s (schemaId %s, boolean): answer must be true or false",
				    where, sid);
	}
	return checked_copy(c, it, cat, sid, tool, where);
}

static json_t *check_classifications(struct ctx *c, json_t *schema_list, json_t *items,
				     const char *where)
{
	json_t *out, *it, *one;
	char sub[256];
	size_t i;

	if (!json_is_array(items))
		return fail(c, "%s must be a list", where);
	out = json_array();
	json_array_foreach(items, i, it)
	{
		path_fmt(sub, sizeof(sub), "%s[%zu]", where, i);
		one = check_one_cls(c, schema_list, it, sub);
		if (!one) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, one);
	}
	return out;
}

static json_t *check_tool(struct ctx *c, json_t *schema, json_t *it, size_t i, json_t *ids)
{
	const char *sid = json_string_value(json_object_get(it, "schemaId"));
	json_t *cat, *oid;
	const char *type, *bad;
	char where[64];
	int k;

	snprintf(where, sizeof(where), "tools[%zu]", i);
	if (!json_is_object(it))
		return fail(c, "%s is not an object", where);
	if (!sid && json_is_string(json_object_get(it, "title")))
		cat = find_cat_title(json_object_get(schema, "tools"),
				     json_string_value(json_object_get(it, "title")));
	else if (!sid)
		return fail(c, "%s has no schemaId", where);
	else
		cat = find_cat(json_object_get(schema, "tools"), sid);
	if (!cat)
		return fail(c,
			    "Unknown schemaId \"%s\" in %s: not a tool of the project's "
			    "categorySchema",
			    sid ? sid : json_string_value(json_object_get(it, "title")), where);
	sid = json_string_value(json_object_get(cat, "schemaId"));
	type = json_string_value(json_object_get(cat, "tool"));
	if (!type)
		type = "";
	for (k = 0; geometry_keys[k]; k++) {
		if (strcmp(geometry_keys[k], type) && json_object_get(it, geometry_keys[k]))
			return fail(c, "%s (schemaId %s) is a %s tool but carries \"%s\" geometry",
				    where, sid, type, geometry_keys[k]);
	}
	for (k = 0; geometry_keys[k]; k++)
		if (!strcmp(geometry_keys[k], type))
			break;
	if (geometry_keys[k]) {
		json_t *g = json_object_get(it, type);

		if (!g)
			return fail(c, "%s (schemaId %s) has no \"%s\" geometry", where, sid, type);
		bad = check_geometry(type, g);
		if (bad)
			return fail(c, "%s (schemaId %s): \"%s\" %s", where, sid, type, bad);
	}
	oid = json_object_get(it, "objectId");
	if (oid && !json_is_string(oid))
		return fail(c, "%s (schemaId %s): objectId must be a string", where, sid);
	if (oid)
		json_object_set_new(ids, json_string_value(oid), json_true());
	return checked_copy(c, it, cat, sid, NULL, where);
}

static json_t *check_relation(struct ctx *c, json_t *schema, json_t *it, size_t i, json_t *ids)
{
	const char *sid = json_string_value(json_object_get(it, "schemaId"));
	const char *ends[2] = {"from", "to"};
	json_t *cat, *out, *grp, *v;
	char where[64];
	size_t j;

	snprintf(where, sizeof(where), "relations[%zu]", i);
	if (!json_is_object(it))
		return fail(c, "%s is not an object", where);
	if (!sid)
		return fail(c, "%s has no schemaId", where);
	cat = find_cat(json_object_get(schema, "relations"), sid);
	if (!cat)
		return fail(c,
			    "Unknown schemaId \"%s\" in %s: not a relation of the project's "
			    "categorySchema",
			    sid, where);
	grp = json_object_get(it, "group");
	if (grp) {
		if (!json_is_array(grp))
			return fail(c, "%s (schemaId %s): group must be a list of objectIds", where,
				    sid);
		json_array_foreach(grp, j, v)
		{
			if (!json_is_string(v) || !json_object_get(ids, json_string_value(v)))
				return fail(c,
					    "%s (schemaId %s): group[%zu] is not an objectId of "
					    "this answer's tools",
					    where, sid, j);
		}
	} else {
		for (j = 0; j < 2; j++) {
			v = json_object_get(it, ends[j]);
			if (!json_is_string(v))
				return fail(c, "%s (schemaId %s): \"%s\" (objectId) is required",
					    where, sid, ends[j]);
			if (!json_object_get(ids, json_string_value(v)))
				return fail(c,
					    "%s (schemaId %s): %s \"%s\" is not an objectId of "
					    "this answer's tools",
					    where, sid, ends[j], json_string_value(v));
		}
	}
	out = json_deep_copy(it);
	if (!json_object_get(out, "title") && json_object_get(cat, "title"))
		json_object_set(out, "title", json_object_get(cat, "title"));
	return out;
}

json_t *answer_canonical(json_t *schema, json_t *answer, const char *prefix, char *err,
			 size_t errlen)
{
	struct ctx c = {err, errlen, prefix ? prefix : ""};
	json_t *tools, *cls, *rels, *out, *ids, *it, *one;
	size_t i;

	if (!json_is_object(answer))
		return fail(&c, "answer must be a JSON object with objects/tools, classifications, "
				"relations");
	tools = json_object_get(answer, "objects");
	if (tools && json_object_get(answer, "tools"))
		return fail(&c, "answer has both \"objects\" and \"tools\"; send one");
	if (!tools)
		tools = json_object_get(answer, "tools");
	cls = json_object_get(answer, "classifications");
	rels = json_object_get(answer, "relations");
	if (tools && !json_is_array(tools))
		return fail(&c, "answer.objects must be a list");
	if (cls && !json_is_array(cls))
		return fail(&c, "answer.classifications must be a list");
	if (rels && !json_is_array(rels))
		return fail(&c, "answer.relations must be a list");
	out = json_pack("{s:[],s:[],s:[]}", "tools", "classifications", "relations");
	ids = json_object();
	json_array_foreach(tools, i, it)
	{
		one = check_tool(&c, schema, it, i, ids);
		if (!one)
			goto bad;
		json_array_append_new(json_object_get(out, "tools"), one);
	}
	if (cls) {
		one = check_classifications(&c, json_object_get(schema, "classifications"), cls,
					    "classifications");
		if (!one)
			goto bad;
		json_object_set_new(out, "classifications", one);
	}
	json_array_foreach(rels, i, it)
	{
		one = check_relation(&c, schema, it, i, ids);
		if (!one)
			goto bad;
		json_array_append_new(json_object_get(out, "relations"), one);
	}
	json_decref(ids);
	return out;
bad:
	json_decref(ids);
	json_decref(out);
	return NULL;
}
