/*
 * routes_delete.c - DELETE /v2/project/{id}/assets: asset (and task) deletion
 * as the Ango SDK sends it.
 *
 * The SDK's delete_assets(project_id, asset_ids) sends a JSON body
 * {"project": "<project id>", "assets": ["<asset id>", ...]} (docs/HUB.md).
 * That is the one accepted form: anything else is a 400 naming the problem.
 * Like the other write routes, the whole request is validated before
 * anything changes (an id that is malformed or not an asset of this project
 * means a 400 naming it and no deletion), then applied in one SQLite
 * transaction. The real Hub soft-deletes; this hub removes the rows, which
 * is what a client can observe either way: the assets leave
 * GET /project/{id}/assets, their tasks leave GET /project/{id}/tasks (and
 * its total) and every later export, and GET /task/{id} answers 404.
 * Removed with them: the tasks' stage history, issues, and the assets'
 * attachments. Storage objects are left alone (other assets may name them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubd.h"

#define DELETE_MAX 10000 /* asset ids per request */

/* Validate the body; the asset id array (borrowed from *body) or NULL with
 * the reply set. */
static json_t *delete_body(struct req *r, struct reply *out, const char *pid, json_t **body)
{
	json_t *b, *assets, *proj, *v;
	size_t i;

	*body = b =
	    parse_body(r, out, "{\"project\": \"<id>\", \"assets\": [\"<asset id>\", ...]}");
	if (!b)
		return NULL;
	proj = json_object_get(b, "project");
	if (proj && (!json_is_string(proj) || strcmp(json_string_value(proj), pid) != 0)) {
		reply_fail(out, 400,
			   "Body \"project\" (%s) does not match the project in the path (%s)",
			   json_is_string(proj) ? json_string_value(proj) : "not a string", pid);
		return NULL;
	}
	assets = json_object_get(b, "assets");
	if (!json_is_array(assets)) {
		reply_fail(out, 400,
			   "Missing or invalid \"assets\": expected an array of asset ids, as in "
			   "{\"project\": \"%s\", \"assets\": [\"<asset id>\"]}",
			   pid);
		return NULL;
	}
	if (json_array_size(assets) == 0) {
		reply_fail(out, 400, "\"assets\" is empty; name at least one asset id");
		return NULL;
	}
	if (json_array_size(assets) > DELETE_MAX) {
		reply_fail(out, 400, "\"assets\" has %zu ids; at most %d per request",
			   json_array_size(assets), DELETE_MAX);
		return NULL;
	}
	json_array_foreach(assets, i, v)
	{
		if (!json_is_string(v) || !is_object_id(json_string_value(v))) {
			char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			reply_fail(out, 400, "assets[%zu]: %.100s is not an asset id", i,
				   t ? t : "?");
			free(t);
			return NULL;
		}
	}
	return assets;
}

/* 0 if every id is an asset of project pid, else -1 with a 400 naming it. */
static int check_assets(sqlite3 *db, const char *pid, json_t *assets, struct reply *out)
{
	sqlite3_stmt *st = db_prep(db, "SELECT 1 FROM assets WHERE id = ?1 AND project_id = ?2");
	json_t *v;
	size_t i;

	if (!st) {
		reply_fail(out, 500, "database error");
		return -1;
	}
	json_array_foreach(assets, i, v)
	{
		int found;

		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, json_string_value(v), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, pid, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
		if (!found) {
			reply_fail(out, 400,
				   "assets[%zu]: %s is not an asset of project %s; nothing was "
				   "deleted",
				   i, json_string_value(v), pid);
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(st);
	return 0;
}

static const char *const delete_sql[] = {
    /* order matters: rows that point at tasks first, then tasks, then assets */
    "DELETE FROM stage_history WHERE task_seq IN (SELECT seq FROM tasks WHERE asset_id = ?1)",
    "DELETE FROM issues WHERE task_id IN (SELECT id FROM tasks WHERE asset_id = ?1)",
    "DELETE FROM tasks WHERE asset_id = ?1",
    "DELETE FROM attachments WHERE asset_id = ?1",
    "DELETE FROM assets WHERE id = ?1",
};
#define NDELETE (sizeof(delete_sql) / sizeof(delete_sql[0]))

/* Delete in one transaction; 0 or -1 (reply set). Counts tasks and assets. */
static int apply_delete(sqlite3 *db, json_t *assets, long *ntasks, long *nassets, struct reply *out)
{
	sqlite3_stmt *st[NDELETE] = {NULL};
	json_t *v;
	size_t i, k;
	int err = 0;

	if (db_exec(db, "BEGIN IMMEDIATE") < 0) {
		reply_fail(out, 503, "Database is busy; retry later");
		return -1;
	}
	for (k = 0; k < NDELETE && !err; k++)
		if (!(st[k] = db_prep(db, delete_sql[k])))
			err = 1;
	json_array_foreach(assets, i, v)
	{
		if (err)
			break;
		for (k = 0; k < NDELETE; k++) {
			sqlite3_reset(st[k]);
			sqlite3_bind_text(st[k], 1, json_string_value(v), -1, SQLITE_STATIC);
			if (sqlite3_step(st[k]) != SQLITE_DONE) {
				err = 1;
				break;
			}
			if (k == 2)
				*ntasks += sqlite3_changes(db);
			if (k == NDELETE - 1)
				*nassets += sqlite3_changes(db);
		}
	}
	for (k = 0; k < NDELETE; k++)
		sqlite3_finalize(st[k]);
	if (err || db_exec(db, "COMMIT") < 0) {
		reply_fail(out, 500, "database error: %s", sqlite3_errmsg(db));
		db_exec(db, "ROLLBACK");
		return -1;
	}
	return 0;
}

void route_delete_assets(struct req *r, struct reply *out)
{
	const char *pid = r->seg[1];
	json_t *body = NULL, *doc = NULL, *assets;
	sqlite3 *db = db_acquire();
	long ntasks = 0, nassets = 0;

	if (load_project_checked(db, r, out, pid, &doc) < 0)
		goto out;
	assets = delete_body(r, out, pid, &body);
	if (!assets || check_assets(db, pid, assets, out) < 0)
		goto out;
	if (apply_delete(db, assets, &ntasks, &nassets, out) < 0)
		goto out;
	reply_ok(out, json_pack("{s:I,s:I}", "deletedAssets", (json_int_t)nassets, "deletedTasks",
				(json_int_t)ntasks));
out:
	json_decref(body);
	json_decref(doc);
	db_release(db);
}
