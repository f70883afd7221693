/*
 * routes_read.c - the read-only API routes: GET /listProjects,
 * /project/{id}, /project/{id}/tasks, /project/{id}/assets, /task/{id}.
 *
 * Paging follows the real API: page from 1, limit 1..100 (default 10; larger
 * is a 400 naming the limit), data.total over all pages. Lists page in SQL
 * (LIMIT/OFFSET with a stable tie-breaker) so a 100k-task project costs one
 * indexed query per page. Ids are checked for shape first (400 "Invalid
 * project: <id>."), then existence (404), then visibility to the key (403).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters.h"

int parse_paging(struct req *r, struct reply *out, long *page, long *limit)
{
	const char *p = req_arg(r, "page"), *l = req_arg(r, "limit");
	char *end;

	*page = 1;
	*limit = 10;
	if (p && *p) {
		*page = strtol(p, &end, 10);
		if (*end || *page < 1) {
			reply_fail(out, 400, "Invalid page: %s (pages start at 1)", p);
			return -1;
		}
	}
	if (l && *l) {
		*limit = strtol(l, &end, 10);
		if (*end || *limit < 1 || *limit > 100) {
			reply_fail(out, 400, "Invalid limit: %s (must be between 1 and 100)", l);
			return -1;
		}
	}
	/* a server page limit below the asked one: pages are of the capped
	 * size (page N starts at (N-1) x cap), as a server that clamps limit */
	if (g_opts.page_cap > 0 && *limit > g_opts.page_cap)
		*limit = g_opts.page_cap;
	return 0;
}

int load_project_checked(sqlite3 *db, struct req *r, struct reply *out, const char *id,
			 json_t **doc)
{
	char *acl = NULL;
	int rc;

	*doc = NULL;
	if (!id || !*id) {
		reply_fail(out, 400, "Missing required parameter: project");
		return -1;
	}
	if (!is_object_id(id)) {
		reply_fail(out, 400, "Invalid project: %s.", id);
		return -1;
	}
	rc = db_project_load(db, id, doc, &acl);
	if (rc == -ENOENT) {
		reply_fail(out, 404, "Project not found: %s.", id);
		return -1;
	}
	if (rc < 0) {
		reply_fail(out, 500, "Database error reading project %s", id);
		return -1;
	}
	if (!project_visible(acl, r->apikey)) {
		free(acl);
		json_decref(*doc);
		*doc = NULL;
		reply_fail(out, 403, "You do not have permission to access project %s.", id);
		return -1;
	}
	free(acl);
	return 0;
}

void route_list_projects(struct req *r, struct reply *out)
{
	const char *sort = req_arg(r, "sort");
	const char *order;
	char sql[256];
	long page, limit, idx = 0, total = 0;
	json_t *list = json_array();
	sqlite3 *db;
	sqlite3_stmt *st;

	if (parse_paging(r, out, &page, &limit) < 0)
		goto out;
	if (g_opts.ignore_sort)
		sort = NULL;
	if (!sort || !*sort || !strcmp(sort, "-createdAt"))
		order = "created_ms DESC, id DESC";
	else if (!strcmp(sort, "createdAt"))
		order = "created_ms ASC, id ASC";
	else if (!strcmp(sort, "name"))
		order = "name ASC, id ASC";
	else if (!strcmp(sort, "-name"))
		order = "name DESC, id DESC";
	else {
		reply_fail(out, 400, "Invalid sort: %s (use name, -name, createdAt, -createdAt)",
			   sort);
		goto out;
	}
	snprintf(sql, sizeof(sql), "SELECT doc, acl, id FROM projects ORDER BY %s", order);
	db = db_acquire();
	st = db_prep(db, sql);
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *acl = (const char *)sqlite3_column_text(st, 1);
		json_t *doc;

		if (!project_visible(sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL : acl,
				     r->apikey))
			continue;
		total++;
		if (idx++ < (page - 1) * limit || (long)json_array_size(list) >= limit)
			continue;
		doc = json_loads((const char *)sqlite3_column_text(st, 0), JSON_ALLOW_NUL, NULL);
		if (!doc)
			continue;
		json_array_append_new(
		    list, json_pack("{s:O,s:O,s:O,s:O,s:O}", "_id", json_object_get(doc, "_id"),
				    "name", json_object_get(doc, "name"), "description",
				    json_object_get(doc, "description"), "organization",
				    json_object_get(doc, "organization"), "createdAt",
				    json_object_get(doc, "createdAt")));
		json_decref(doc);
	}
	sqlite3_finalize(st);
	db_release(db);
	reply_ok(out, json_pack("{s:O,s:i}", "projects", list, "total", (int)total));
out:
	json_decref(list);
}

static long count_where(sqlite3 *db, const char *sql, const char *id)
{
	sqlite3_stmt *st = db_prep(db, sql);
	long n = 0;

	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

void route_project(struct req *r, struct reply *out)
{
	sqlite3 *db = db_acquire();
	json_t *doc;

	if (load_project_checked(db, r, out, r->seg[1], &doc) == 0) {
		json_object_set_new(
		    doc, "assetCount",
		    json_integer(count_where(db, "SELECT count(*) FROM assets WHERE project_id = ?",
					     r->seg[1])));
		json_object_set_new(
		    doc, "taskCount",
		    json_integer(count_where(db, "SELECT count(*) FROM tasks WHERE project_id = ?",
					     r->seg[1])));
		reply_ok(out, json_pack("{s:o}", "project", doc));
	}
	db_release(db);
}

/* "sort" for tasks: comma list of [-]createdAt|updatedAt|priority|externalId. */
static int task_order(const char *sort, char *order, size_t len, char *err, size_t errlen)
{
	static const struct {
		const char *name, *col;
	} cols[] = {{"createdAt", "t.created_ms"},
		    {"updatedAt", "t.updated_ms"},
		    {"priority", "t.priority"},
		    {"externalId", "a.external_id"},
		    {"_id", "t.id"}};
	const char *p = sort && *sort ? sort : "-createdAt";
	size_t u = 0, i;
	char last_dir[5] = "DESC";

	order[0] = 0;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		int desc = *p == '-';
		const char *name = p + (desc || *p == '+');
		size_t nl = l - (size_t)(name - p);

		for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
			if (strlen(cols[i].name) == nl && !strncmp(cols[i].name, name, nl))
				break;
		if (i == sizeof(cols) / sizeof(cols[0])) {
			snprintf(
			    err, errlen,
			    "Invalid sort: %.*s (use createdAt, updatedAt, priority, externalId, "
			    "_id, with - for descending)",
			    (int)l, p);
			return -EINVAL;
		}
		strcpy(last_dir, desc ? "DESC" : "ASC");
		u += (size_t)snprintf(order + u, len - u, "%s%s %s", u ? ", " : "", cols[i].col,
				      last_dir);
		if (!e)
			break;
		p = e + 1;
	}
	snprintf(order + u, len - u, ", t.seq %s", last_dir);
	return 0;
}

/* Keep only the fields named in a comma list (plus _id, project, asset). */
static void project_fields(json_t *task, const char *fields)
{
	json_t *keep = json_object(), *v;
	const char *k;
	void *tmp;

	json_object_set_new(keep, "_id", json_true());
	json_object_set_new(keep, "project", json_true());
	json_object_set_new(keep, "asset", json_true());
	for (const char *p = fields; *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		char *f = strndup(p, l);

		json_object_set_new(keep, f, json_true());
		free(f);
		if (!e)
			break;
		p = e + 1;
	}
	json_object_foreach_safe(task, tmp, k, v)
	{
		if (!json_object_get(keep, k))
			json_object_del(task, k);
	}
	json_decref(keep);
}

/* Strict: a `fields` projection as the SDK sends it, with _id, project and
 * asset and includeAnswer=true (get_tasks adds them whenever fields is set);
 * anything else is a request the SDK never makes. */
static int fields_check(struct req *r, const char *fields, char *err, size_t errlen)
{
	static const char *const must[] = {"_id", "project", "asset"};
	const char *ia = req_arg(r, "includeAnswer");

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(must[i]);
		const char *p = fields;
		int found = 0;

		while (!found && (p = strstr(p, must[i]))) {
			found = (p == fields || p[-1] == ',') && (p[n] == ',' || !p[n]);
			p += n;
		}
		if (!found) {
			snprintf(err, errlen,
				 "Invalid fields: %.200s lacks %s (the SDK always asks for _id, "
				 "project and asset)",
				 fields, must[i]);
			return -EINVAL;
		}
	}
	if (!ia || strcmp(ia, "true")) {
		snprintf(err, errlen,
			 "Invalid fields: a projection needs includeAnswer=true (the SDK always "
			 "sends it with fields)");
		return -EINVAL;
	}
	return 0;
}

void route_project_tasks(struct req *r, struct reply *out)
{
	struct task_filter f = {0};
	struct task_filter_args a = {0};
	const char *fields = req_arg(r, "fields"), *q;
	char err[512], where[2048], order[256], *sql = NULL;
	long page, limit, total = 0;
	int with_answer, i;
	json_t *doc = NULL, *list = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st;

	if (parse_paging(r, out, &page, &limit) < 0)
		return;
	if (parse_bool(req_arg(r, "includeAnswer"), 0, &with_answer) < 0) {
		reply_fail(out, 400, "Invalid includeAnswer: %s (use true or false)",
			   req_arg(r, "includeAnswer"));
		return;
	}
	if (fields && *fields && g_opts.strict && fields_check(r, fields, err, sizeof(err)) < 0) {
		reply_fail(out, 400, "%s", err);
		return;
	}
	if (fields && strstr(fields, "answer"))
		with_answer = 1;
	if (task_order(g_opts.ignore_sort ? NULL : req_arg(r, "sort"), order, sizeof(order), err,
		       sizeof(err)) < 0) {
		reply_fail(out, 400, "%s", err);
		return;
	}
	db = db_acquire();
	if (load_project_checked(db, r, out, r->seg[1], &doc) < 0)
		goto out;
	a.project = r->seg[1];
	a.stage = req_arg(r, "stage");
	a.batches = req_arg(r, "batches");
	a.status = req_arg(r, "status");
	a.assignee = req_arg(r, "assignee");
	/* strict: taskTypes is not a parameter of this endpoint (SDK, docs):
	 * ignored, the task type is filter.type */
	a.task_types = g_opts.strict ? NULL : req_arg(r, "taskTypes");
	q = req_arg(r, "filter") ? "filter" : "filters";
	if (task_filter_parse(&f, doc, &a, err, sizeof(err)) < 0 ||
	    (req_arg(r, q) && *req_arg(r, q) &&
	     task_filter_parse_query(&f, doc, req_arg(r, q), q, err, sizeof(err)) < 0)) {
		reply_fail(out, 400, "%s", err);
		goto out;
	}
	task_filter_where(&f, where, sizeof(where));
	/* the join is only needed when a filter looks at the asset */
	if (asprintf(&sql, "SELECT count(*) FROM tasks t%s%s",
		     f.batch_ids || f.ext_prefix || f.ext_exact
			 ? " JOIN assets a ON a.id = t.asset_id"
			 : "",
		     where) < 0)
		goto oom;
	st = db_prep(db, sql);
	if (!st)
		goto dberr;
	task_filter_bind(&f, st);
	if (sqlite3_step(st) == SQLITE_ROW)
		total = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	free(sql);
	if (asprintf(&sql,
		     "SELECT " TASK_COLS " FROM tasks t JOIN assets a ON a.id = t.asset_id%s "
		     "ORDER BY %s LIMIT ? OFFSET ?",
		     where, order) < 0) {
		sql = NULL;
		goto oom;
	}
	st = db_prep(db, sql);
	if (!st)
		goto dberr;
	i = task_filter_bind(&f, st);
	sqlite3_bind_int64(st, i++, limit);
	sqlite3_bind_int64(st, i++, (page - 1) * limit);
	list = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *t = task_json_from_row(st, doc, with_answer);

		if (fields && *fields)
			project_fields(t, fields);
		json_array_append_new(list, t);
	}
	sqlite3_finalize(st);
	reply_ok(out, json_pack("{s:o,s:i}", "tasks", list, "total", (int)total));
	goto out;
oom:
	reply_fail(out, 500, "out of memory");
	goto out;
dberr:
	reply_fail(out, 500, "database error: %s", sqlite3_errmsg(db));
out:
	free(sql);
	task_filter_free(&f);
	json_decref(doc);
	db_release(db);
}

static json_t *asset_attachments(sqlite3 *db, const char *asset_id)
{
	sqlite3_stmt *st = db_prep(db, "SELECT type, value FROM attachments WHERE asset_id = ? "
				       "ORDER BY seq");
	json_t *a = json_array();

	if (!st)
		return a;
	sqlite3_bind_text(st, 1, asset_id, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    a, json_pack("{s:s,s:s}", "type", (const char *)sqlite3_column_text(st, 0),
				 "value", (const char *)sqlite3_column_text(st, 1)));
	sqlite3_finalize(st);
	return a;
}

void route_project_assets(struct req *r, struct reply *out)
{
	const char *filters = req_arg(r, "filters");
	json_t *doc = NULL, *fj = NULL, *list = NULL, *v, *bv, *bids = NULL;
	char where[1024] = " WHERE project_id = ?", sql[1400], tbuf[32];
	long page, limit, total = 0;
	const char *k;
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	size_t u = strlen(where), i;
	int bi;

	if (parse_paging(r, out, &page, &limit) < 0)
		return;
	db = db_acquire();
	if (load_project_checked(db, r, out, r->seg[1], &doc) < 0)
		goto out;
	if (filters && *filters) {
		json_error_t je;

		fj = json_loads(filters, 0, &je);
		if (!json_is_object(fj)) {
			reply_fail(out, 400, "Invalid filters: expected a JSON object (%s)",
				   fj ? "wrong type" : je.text);
			goto out;
		}
		json_object_foreach(fj, k, v)
		{
			if (!strcmp(k, "_id") || !strcmp(k, "externalId")) {
				if (!json_is_string(v)) {
					reply_fail(out, 400,
						   "Invalid filters.%s: expected a string", k);
					goto out;
				}
				u += (size_t)snprintf(where + u, sizeof(where) - u, " AND %s = ?",
						      k[0] == '_' ? "id" : "external_id");
			} else if (!strcmp(k, "isPreLabeled")) {
				if (!json_is_boolean(v)) {
					reply_fail(
					    out, 400,
					    "Invalid filters.isPreLabeled: expected true or false");
					goto out;
				}
				u += (size_t)snprintf(where + u, sizeof(where) - u,
						      " AND is_prelabeled = ?");
			} else if (!strcmp(k, "batches")) {
				if (!json_is_array(v)) {
					reply_fail(out, 400,
						   "Invalid filters.batches: expected an array");
					goto out;
				}
				bids = json_array();
				json_array_foreach(v, i, bv)
				{
					char berr[512];
					const char *id =
					    json_is_string(bv)
						? batch_filter_id(doc, json_string_value(bv),
								  "filters.batches", berr,
								  sizeof(berr))
						: NULL;
					if (!id) {
						if (!json_is_string(bv))
							snprintf(berr, sizeof(berr),
								 "Invalid filters.batches[%zu]: "
								 "expected a batch id string",
								 i);
						reply_fail(out, 400, "%s", berr);
						goto out;
					}
					json_array_append_new(bids, json_string(id));
					u +=
					    (size_t)snprintf(where + u, sizeof(where) - u,
							     " AND EXISTS (SELECT 1 FROM "
							     "json_each(batches) WHERE value = ?)");
				}
			} else {
				reply_fail(
				    out, 400,
				    "Invalid filters: unknown key \"%s\" (use _id, externalId, "
				    "isPreLabeled, batches)",
				    k);
				goto out;
			}
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0)
			snprintf(sql, sizeof(sql), "SELECT count(*) FROM assets%s", where);
		else
			snprintf(sql, sizeof(sql),
				 "SELECT id, external_id, url, metadata, batches, is_prelabeled, "
				 "created_ms, storage FROM assets%s ORDER BY seq LIMIT ? OFFSET ?",
				 where);
		st = db_prep(db, sql);
		if (!st) {
			reply_fail(out, 500, "database error");
			goto out;
		}
		bi = 1;
		sqlite3_bind_text(st, bi++, r->seg[1], -1, SQLITE_STATIC);
		json_object_foreach(fj, k, v)
		{
			if (!strcmp(k, "_id") || !strcmp(k, "externalId"))
				sqlite3_bind_text(st, bi++, json_string_value(v), -1,
						  SQLITE_STATIC);
			else if (!strcmp(k, "isPreLabeled"))
				sqlite3_bind_int(st, bi++, json_is_true(v));
			else if (!strcmp(k, "batches"))
				json_array_foreach(bids, i, bv) sqlite3_bind_text(
				    st, bi++, json_string_value(bv), -1, SQLITE_STATIC);
		}
		if (pass == 0) {
			if (sqlite3_step(st) == SQLITE_ROW)
				total = (long)sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
			continue;
		}
		sqlite3_bind_int64(st, bi++, limit);
		sqlite3_bind_int64(st, bi++, (page - 1) * limit);
		list = json_array();
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *md = (const char *)sqlite3_column_text(st, 3);
			const char *bt = (const char *)sqlite3_column_text(st, 4);
			json_t *as = json_object();

			json_object_set_new(as, "_id",
					    json_string((const char *)sqlite3_column_text(st, 0)));
			json_object_set_new(as, "project", json_string(r->seg[1]));
			json_object_set_new(as, "externalId",
					    json_string((const char *)sqlite3_column_text(st, 1)));
			json_object_set_new(
			    as, "data",
			    storage_render_json(db, (const char *)sqlite3_column_text(st, 2)));
			json_object_set_new(as, "metadata",
					    md ? json_loads(md, 0, NULL) : json_object());
			json_object_set_new(as, "batches",
					    bt ? json_loads(bt, 0, NULL) : json_array());
			json_object_set_new(as, "isPreLabeled",
					    json_boolean(sqlite3_column_int(st, 5)));
			fmt_iso(sqlite3_column_int64(st, 6), tbuf);
			json_object_set_new(as, "createdAt", json_string(tbuf));
			json_object_set_new(
			    as, "attachments",
			    asset_attachments(db, (const char *)sqlite3_column_text(st, 0)));
			if (sqlite3_column_type(st, 7) != SQLITE_NULL)
				json_object_set_new(
				    as, "storage",
				    json_string((const char *)sqlite3_column_text(st, 7)));
			json_array_append_new(list, as);
		}
		sqlite3_finalize(st);
	}
	reply_ok(out, json_pack("{s:o,s:i}", "assets", list, "total", (int)total));
out:
	json_decref(fj);
	json_decref(bids);
	json_decref(doc);
	db_release(db);
}

void route_task(struct req *r, struct reply *out)
{
	const char *id = r->seg[1];
	sqlite3 *db;
	sqlite3_stmt *st;
	json_t *doc = NULL;
	int with_answer;

	if (parse_bool(req_arg(r, "includeAnswer"), 1, &with_answer) < 0) {
		reply_fail(out, 400, "Invalid includeAnswer: %s (use true or false)",
			   req_arg(r, "includeAnswer"));
		return;
	}
	if (!is_object_id(id)) {
		reply_fail(out, 400, "Invalid task: %s.", id);
		return;
	}
	db = db_acquire();
	st = db_prep(db, "SELECT " TASK_COLS " FROM tasks t JOIN assets a ON a.id = t.asset_id "
			 "WHERE t.id = ?");
	if (!st) {
		reply_fail(out, 500, "database error");
		db_release(db);
		return;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		reply_fail(out, 404, "Task not found: %s.", id);
	} else if (load_project_checked(db, r, out, (const char *)sqlite3_column_text(st, 1),
					&doc) == 0) {
		reply_ok(out, json_pack("{s:o}", "task", task_json_from_row(st, doc, with_answer)));
	}
	sqlite3_finalize(st);
	json_decref(doc);
	db_release(db);
}
