/*
 * filters.c - the task filter shared by GET /project/{id}/tasks and
 * GET /export: parse the API's filter parameters (stage, batches, status,
 * assignee, taskTypes, updatedAt/createdAt ranges, task ids) once, with a 400
 * message naming any bad value, then render them as one SQL WHERE clause with
 * positional parameters and bind them. Stage values may be ids or names;
 * batch values too in the lenient profile, ids only in the strict one
 * (batch_filter_id); both are resolved against the project document to ids.
 * task_filter_strict_defaults() adds what the strict profile assumes for an
 * export that names no stage or task type (docs/HUB.md, "Profiles").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters.h"

int parse_str_list(const char *s, json_t **out, char *err, size_t errlen, const char *what)
{
	json_t *arr, *v;
	size_t i;

	*out = NULL;
	while (*s == ' ')
		s++;
	if (*s == '[') {
		json_error_t je;

		arr = json_loads(s, JSON_DECODE_ANY, &je);
		if (!json_is_array(arr)) {
			snprintf(err, errlen, "%s: not a valid JSON array: %s", what,
				 arr ? "wrong type" : je.text);
			json_decref(arr);
			return -EINVAL;
		}
		json_array_foreach(arr, i, v)
		{
			if (!json_is_string(v)) {
				snprintf(err, errlen, "%s: element %zu is not a string", what, i);
				json_decref(arr);
				return -EINVAL;
			}
		}
		*out = arr;
		return 0;
	}
	arr = json_array();
	while (*s) {
		const char *e = strchr(s, ',');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		char *tok;

		while (l && s[0] == ' ') {
			s++;
			l--;
		}
		while (l && s[l - 1] == ' ')
			l--;
		if (l) {
			tok = strndup(s, l);
			json_array_append_new(arr, json_string(tok));
			free(tok);
		}
		if (!e)
			break;
		s = e + 1;
	}
	*out = arr;
	return 0;
}

static int parse_range(const char *s, const char *what, int *has_gt, int64_t *gt, int *has_lt,
		       int64_t *lt, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loads(s, JSON_DECODE_ANY, &je), *v;
	const char *k;

	if (!json_is_object(o)) {
		snprintf(err, errlen,
			 "Invalid %s: expected a JSON object like {\"$gt\": "
			 "\"2020-08-19T07:37:15.000000Z\"}",
			 what);
		json_decref(o);
		return -EINVAL;
	}
	json_object_foreach(o, k, v)
	{
		int64_t ms;

		if (strcmp(k, "$gt") && strcmp(k, "$lt") && strcmp(k, "$gte") &&
		    strcmp(k, "$lte")) {
			snprintf(err, errlen, "Invalid %s: unknown operator \"%s\" (use $gt, $lt)",
				 what, k);
			json_decref(o);
			return -EINVAL;
		}
		if (!json_is_string(v) || parse_iso(json_string_value(v), &ms) < 0) {
			snprintf(err, errlen, "Invalid %s.%s: expected an ISO-8601 date", what, k);
			json_decref(o);
			return -EINVAL;
		}
		if (k[1] == 'g') {
			*has_gt = 1;
			*gt = !strcmp(k, "$gte") ? ms - 1 : ms;
		} else {
			*has_lt = 1;
			*lt = !strcmp(k, "$lte") ? ms + 1 : ms;
		}
	}
	json_decref(o);
	return 0;
}

/* The string values of one filter key, in the SDK's TaskFilter forms: a
 * string, {"$eq": s}, {"$in": [s, ...]} or a plain list. New array, or NULL
 * with a message naming key. */
static json_t *str_values(json_t *v, const char *what, const char *key, char *err, size_t errlen)
{
	json_t *list = NULL, *x;
	size_t i;

	if (json_is_string(v))
		return json_pack("[O]", v);
	if (json_is_object(v) && json_object_size(v) == 1 &&
	    json_is_string(json_object_get(v, "$eq")))
		return json_pack("[O]", json_object_get(v, "$eq"));
	if (json_is_object(v) && json_object_size(v) == 1)
		list = json_object_get(v, "$in");
	else if (json_is_array(v))
		list = v;
	if (!json_is_array(list)) {
		snprintf(err, errlen,
			 "Invalid %s.%s: use a string, {\"$eq\": s} or {\"$in\": [strings]}", what,
			 key);
		return NULL;
	}
	json_array_foreach(list, i, x)
	{
		if (!json_is_string(x)) {
			snprintf(err, errlen, "Invalid %s.%s: element %zu is not a string", what,
				 key, i);
			return NULL;
		}
	}
	return json_incref(list);
}

/* One value of a key that takes a single string (assignee, status). */
static const char *one_value(json_t *v, const char *what, const char *key, char *err, size_t errlen)
{
	json_t *eq = json_object_get(v, "$eq");

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_object(v) && json_object_size(v) == 1 && json_is_string(eq))
		return json_string_value(eq);
	snprintf(err, errlen, "Invalid %s.%s: use a string or {\"$eq\": s}", what, key);
	return NULL;
}

/* A {"$gt"|"$gte"|"$lt"|"$lte": ISO} object as a range (parse_range's text). */
static int range_value(json_t *v, const char *what, const char *key, int *has_gt, int64_t *gt,
		       int *has_lt, int64_t *lt, char *err, size_t errlen)
{
	char name[96], *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc;

	snprintf(name, sizeof(name), "%s.%s", what, key);
	rc = s ? parse_range(s, name, has_gt, gt, has_lt, lt, err, errlen) : -ENOMEM;
	free(s);
	return rc;
}

/* Stage values (ids or names) -> ids, as the stage parameter resolves them. */
static int stage_ids(json_t *pdoc, json_t *vals, json_t **out, char *err, size_t errlen)
{
	json_t *v, *st;
	size_t i, j;

	*out = json_array();
	json_array_foreach(vals, i, v)
	{
		const char *s = json_string_value(v);
		int found = 0;

		json_array_foreach(json_object_get(pdoc, "stages"), j, st)
		{
			const char *id = json_string_value(json_object_get(st, "id"));
			const char *nm = json_string_value(json_object_get(st, "name"));

			if ((id && !strcmp(id, s)) || (nm && !strcmp(nm, s))) {
				json_array_append(*out, json_object_get(st, "id"));
				found = 1;
			}
		}
		if (!found) {
			snprintf(err, errlen, "Unknown stage: %s", s);
			return -EINVAL;
		}
	}
	return 0;
}

static int task_types_ok(json_t *types, const char *what, char *err, size_t errlen)
{
	json_t *v;
	size_t i;

	json_array_foreach(types, i, v)
	{
		const char *t = json_string_value(v);

		if (strcmp(t, "default") && strcmp(t, "consensus") && strcmp(t, "benchmark")) {
			snprintf(err, errlen,
				 "Unknown %s value: %s (use default, consensus, benchmark)", what,
				 t);
			return -EINVAL;
		}
	}
	return 0;
}

/* Replace *slot (a list the filter owns) by v (new ref). */
static void set_list(json_t **slot, json_t *v)
{
	json_decref(*slot);
	*slot = v;
}

void task_filter_free(struct task_filter *f)
{
	json_decref(f->query);
	json_decref(f->stage_ids);
	json_decref(f->batch_ids);
	json_decref(f->task_types);
	json_decref(f->task_ids);
	memset(f, 0, sizeof(*f));
}

int task_filter_parse(struct task_filter *f, json_t *pdoc, struct task_filter_args *a, char *err,
		      size_t errlen)
{
	json_t *list, *v;
	size_t i;

	if (a->stage && *a->stage) {
		if (parse_str_list(a->stage, &list, err, errlen, "stage") < 0)
			return -EINVAL;
		if (stage_ids(pdoc, list, &f->stage_ids, err, errlen) < 0) {
			json_decref(list);
			return -EINVAL;
		}
		json_decref(list);
	}
	if (a->batches && *a->batches) {
		if (parse_str_list(a->batches, &list, err, errlen, "batches") < 0)
			return -EINVAL;
		f->batch_ids = json_array();
		json_array_foreach(list, i, v)
		{
			const char *id =
			    batch_filter_id(pdoc, json_string_value(v), "batches", err, errlen);

			if (!id) {
				json_decref(list);
				return -EINVAL;
			}
			json_array_append_new(f->batch_ids, json_string(id));
		}
		json_decref(list);
	}
	if (a->task_types && *a->task_types) {
		if (parse_str_list(a->task_types, &f->task_types, err, errlen, "taskTypes") < 0 ||
		    task_types_ok(f->task_types, "taskTypes", err, errlen) < 0)
			return -EINVAL;
	}
	if (a->updated_at && *a->updated_at &&
	    parse_range(a->updated_at, "updatedAt", &f->has_upd_gt, &f->upd_gt, &f->has_upd_lt,
			&f->upd_lt, err, errlen) < 0)
		return -EINVAL;
	if (a->created_at && *a->created_at &&
	    parse_range(a->created_at, "createdAt", &f->has_cr_gt, &f->cr_gt, &f->has_cr_lt,
			&f->cr_lt, err, errlen) < 0)
		return -EINVAL;
	f->status = a->status && *a->status ? a->status : NULL;
	f->assignee = a->assignee && *a->assignee ? a->assignee : NULL;
	f->project = a->project;
	return 0;
}

void task_filter_strict_defaults(struct task_filter *f, json_t *pdoc, int issues)
{
	json_t *st;
	size_t j;

	if (!f->stage_ids && !issues) {
		f->stage_ids = json_array();
		json_array_foreach(json_object_get(pdoc, "stages"), j, st)
		{
			const char *type = json_string_value(json_object_get(st, "type"));

			if (type && !strcmp(type, "Complete"))
				json_array_append(f->stage_ids, json_object_get(st, "id"));
		}
	}
	if (!f->task_types)
		f->task_types = json_pack("[s]", "default");
}

int task_filter_parse_query(struct task_filter *f, json_t *pdoc, const char *s, const char *what,
			    char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loads(s, 0, &je), *v, *l;
	const char *k;

	json_decref(f->query);
	f->query = o; /* owns the strings the filter points into */
	if (!json_is_object(o)) {
		snprintf(err, errlen, "Invalid %s: expected a JSON object (%s)", what,
			 o ? "wrong type" : je.text);
		return -EINVAL;
	}
	json_object_foreach(o, k, v)
	{
		if (!strcmp(k, "_id")) {
			if (!(l = str_values(v, what, k, err, errlen)))
				return -EINVAL;
			set_list(&f->task_ids, l);
		} else if (!strcmp(k, "stage")) {
			json_t *ids = NULL;

			if (!(l = str_values(v, what, k, err, errlen)))
				return -EINVAL;
			if (stage_ids(pdoc, l, &ids, err, errlen) < 0) {
				json_decref(l);
				json_decref(ids);
				return -EINVAL;
			}
			json_decref(l);
			set_list(&f->stage_ids, ids);
		} else if (!strcmp(k, "batches")) {
			json_t *ids = json_array(), *x;
			size_t i;

			if (!(l = str_values(v, what, k, err, errlen))) {
				json_decref(ids);
				return -EINVAL;
			}
			json_array_foreach(l, i, x)
			{
				char name[96];
				const char *id;

				snprintf(name, sizeof(name), "%s.batches", what);
				id = batch_filter_id(pdoc, json_string_value(x), name, err, errlen);
				if (!id) {
					json_decref(l);
					json_decref(ids);
					return -EINVAL;
				}
				json_array_append_new(ids, json_string(id));
			}
			json_decref(l);
			set_list(&f->batch_ids, ids);
		} else if (!strcmp(k, "type")) {
			char name[96];

			snprintf(name, sizeof(name), "%s.type", what);
			if (!(l = str_values(v, what, k, err, errlen)))
				return -EINVAL;
			if (task_types_ok(l, name, err, errlen) < 0) {
				json_decref(l);
				return -EINVAL;
			}
			set_list(&f->task_types, l);
		} else if (!strcmp(k, "assignee")) {
			if (!(f->assignee = one_value(v, what, k, err, errlen)))
				return -EINVAL;
		} else if (!strcmp(k, "status")) {
			if (!(f->status = one_value(v, what, k, err, errlen)))
				return -EINVAL;
		} else if (!strcmp(k, "updatedAt") || !strcmp(k, "createdAt")) {
			int upd = k[0] == 'u';

			if (range_value(v, what, k, upd ? &f->has_upd_gt : &f->has_cr_gt,
					upd ? &f->upd_gt : &f->cr_gt,
					upd ? &f->has_upd_lt : &f->has_cr_lt,
					upd ? &f->upd_lt : &f->cr_lt, err, errlen) < 0)
				return -EINVAL;
		} else if (!strcmp(k, "externalId")) {
			const char *re = json_string_value(json_object_get(v, "$regex"));
			json_t *eq = json_object_get(v, "$eq");

			if (json_is_string(v) || json_is_string(eq)) {
				f->ext_exact = json_string_value(json_is_string(v) ? v : eq);
			} else if (re && re[0] == '^' && !strpbrk(re + 1, ".*+?()[]{}|\\$")) {
				f->ext_prefix = re + 1;
			} else {
				snprintf(err, errlen,
					 "Invalid %s.externalId: only a string, {\"$eq\": s} or "
					 "{\"$regex\": \"^prefix\"} is supported",
					 what);
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen,
				 "Unsupported %s key: %s (use _id, stage, batches, type, status, "
				 "assignee, externalId, updatedAt, createdAt)",
				 what, k);
			return -EINVAL;
		}
	}
	return 0;
}

/* Append "?, ?, ?" for n parameters. */
static size_t placeholders(char *p, size_t room, size_t n)
{
	size_t used = 0, i;

	for (i = 0; i < n && used < room; i++)
		used += (size_t)snprintf(p + used, room - used, i ? ", ?" : "?");
	return used;
}

void task_filter_where(struct task_filter *f, char *sql, size_t len)
{
	size_t u = 0;

#define ADD(...) u += (size_t)snprintf(sql + u, u < len ? len - u : 0, __VA_ARGS__)
	ADD(" WHERE t.project_id = ?");
	if (f->stage_ids) {
		ADD(" AND t.stage_id IN (");
		u += placeholders(sql + u, len - u, json_array_size(f->stage_ids));
		ADD(")");
	}
	if (f->batch_ids) {
		ADD(" AND EXISTS (SELECT 1 FROM json_each(a.batches) j WHERE j.value IN (");
		u += placeholders(sql + u, len - u, json_array_size(f->batch_ids));
		ADD("))");
	}
	if (f->task_types) {
		ADD(" AND t.task_type IN (");
		u += placeholders(sql + u, len - u, json_array_size(f->task_types));
		ADD(")");
	}
	if (f->task_ids) {
		ADD(" AND t.id IN (");
		u += placeholders(sql + u, len - u, json_array_size(f->task_ids));
		ADD(")");
	}
	if (f->status)
		ADD(" AND t.status = ?");
	if (f->assignee)
		ADD(" AND t.assignee = ?");
	if (f->has_upd_gt)
		ADD(" AND t.updated_ms > ?");
	if (f->has_upd_lt)
		ADD(" AND t.updated_ms < ?");
	if (f->has_cr_gt)
		ADD(" AND t.created_ms > ?");
	if (f->has_cr_lt)
		ADD(" AND t.created_ms < ?");
	if (f->ext_prefix)
		ADD(" AND substr(a.external_id, 1, ?) = ?");
	if (f->ext_exact)
		ADD(" AND a.external_id = ?");
#undef ADD
}

static void bind_list(sqlite3_stmt *st, int *i, json_t *arr)
{
	size_t k;
	json_t *v;

	json_array_foreach(arr, k, v)
	    sqlite3_bind_text(st, (*i)++, json_string_value(v), -1, SQLITE_TRANSIENT);
}

int task_filter_bind(struct task_filter *f, sqlite3_stmt *st)
{
	int i = 1;

	sqlite3_bind_text(st, i++, f->project, -1, SQLITE_TRANSIENT);
	if (f->stage_ids)
		bind_list(st, &i, f->stage_ids);
	if (f->batch_ids)
		bind_list(st, &i, f->batch_ids);
	if (f->task_types)
		bind_list(st, &i, f->task_types);
	if (f->task_ids)
		bind_list(st, &i, f->task_ids);
	if (f->status)
		sqlite3_bind_text(st, i++, f->status, -1, SQLITE_TRANSIENT);
	if (f->assignee)
		sqlite3_bind_text(st, i++, f->assignee, -1, SQLITE_TRANSIENT);
	if (f->has_upd_gt)
		sqlite3_bind_int64(st, i++, f->upd_gt);
	if (f->has_upd_lt)
		sqlite3_bind_int64(st, i++, f->upd_lt);
	if (f->has_cr_gt)
		sqlite3_bind_int64(st, i++, f->cr_gt);
	if (f->has_cr_lt)
		sqlite3_bind_int64(st, i++, f->cr_lt);
	if (f->ext_prefix) {
		sqlite3_bind_int(st, i++, (int)strlen(f->ext_prefix));
		sqlite3_bind_text(st, i++, f->ext_prefix, -1, SQLITE_TRANSIENT);
	}
	if (f->ext_exact)
		sqlite3_bind_text(st, i++, f->ext_exact, -1, SQLITE_TRANSIENT);
	return i;
}
