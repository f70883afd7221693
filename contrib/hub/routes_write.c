/*
 * routes_write.c - the write routes: POST /import/labels, POST /attachments,
 * POST /annotate/{taskId}.
 *
 * Each request is validated completely before anything is written (a bad
 * item anywhere means a 400 naming it and no change), then applied in one
 * SQLite transaction. Both documented spellings are accepted: body key
 * "jsonContent" or "labels"; label items flat (objects/classifications/
 * relations at the top) or wrapped in "answer" (strict: under "jsonContent"
 * only flat items are read, as the SDK sends them; an "answer" there is not
 * looked at, and the reply is the documented {"project": "N / M tasks are
 * labeled."} without the hub's own "unmatched" list); attachment items of shape A
 * (attachmentUrl/attachmentType) or B (attachments: [{type, value}]). Every
 * write moves updatedAt (strictly, even within one millisecond). /annotate
 * also sets, keeps or clears the task's masks (masks.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hubd.h"

static char *dump(json_t *j)
{
	return json_dumps(j, JSON_COMPACT);
}

/* ---------------------------------------------------------------- labels */

/* The answer of one label item (new ref), flat or wrapped (flat_only: the
 * wrapper is not read). */
static json_t *item_answer(json_t *item, int flat_only)
{
	json_t *a = json_object_get(item, "answer"), *o;

	if (a && !flat_only)
		return json_incref(a);
	o = json_object();
	if (json_object_get(item, "objects"))
		json_object_set(o, "objects", json_object_get(item, "objects"));
	if (json_object_get(item, "tools"))
		json_object_set(o, "tools", json_object_get(item, "tools"));
	if (json_object_get(item, "classifications"))
		json_object_set(o, "classifications", json_object_get(item, "classifications"));
	if (json_object_get(item, "relations"))
		json_object_set(o, "relations", json_object_get(item, "relations"));
	return o;
}

void route_import_labels(struct req *r, struct reply *out)
{
	json_t *body = parse_body(r, out, NULL), *items, *doc = NULL, *answers = NULL, *it,
	       *unmatched;
	const char *pid, *key;
	char err[1024], user[64], prefix[48];
	sqlite3 *db = NULL;
	sqlite3_stmt *upd[3] = {NULL}, *pre[3] = {NULL};
	int dberr = 0;
	long labeled = 0, missed = 0;
	int64_t now = now_ms();
	size_t i;

	if (!body)
		return;
	pid = json_string_value(json_object_get(body, "project"));
	key = json_object_get(body, "jsonContent") ? "jsonContent" : "labels";
	items = json_object_get(body, key);
	if (!pid) {
		reply_fail(out, 400, "Missing required field: project");
		goto out;
	}
	if (!json_is_array(items)) {
		reply_fail(out, 400,
			   "Missing or invalid field: jsonContent (or labels) must be a "
			   "list of label items");
		goto out;
	}
	db = db_acquire();
	if (load_project_checked(db, r, out, pid, &doc) < 0)
		goto out;
	answers = json_array();
	json_array_foreach(items, i, it)
	{
		json_t *a, *c;
		int nm = 0;

		snprintf(prefix, sizeof(prefix), "%s[%zu]: ", key, i);
		if (!json_is_object(it)) {
			reply_fail(out, 400, "%sitem is not a JSON object", prefix);
			goto out;
		}
		nm += json_is_string(json_object_get(it, "externalId"));
		nm += json_is_string(json_object_get(it, "assetId"));
		nm += json_is_string(json_object_get(it, "data"));
		if (!nm) {
			reply_fail(out, 400, "%sitem needs externalId, assetId or data", prefix);
			goto out;
		}
		a = item_answer(it, g_opts.strict && !strcmp(key, "jsonContent"));
		c = answer_canonical(json_object_get(doc, "categorySchema"), a, prefix, err,
				     sizeof(err));
		json_decref(a);
		if (!c) {
			reply_fail(out, 400, "%s", err);
			goto out;
		}
		json_array_append_new(answers, c);
	}
	key_user(r->key_idx, user);
	unmatched = json_array();
	if (db_exec(db, "BEGIN IMMEDIATE") < 0) {
		json_decref(unmatched);
		reply_fail(out, 503, "Database is busy; retry later");
		goto out;
	}
	/* One UPDATE per item (never an UPDATE inside a scan of the same rows:
	 * updated_ms is indexed, so a row could move ahead of the cursor), with
	 * one statement per match kind so each is an indexed lookup. */
	for (int k = 0; k < 3; k++) {
		char *q1 = NULL, *q2 = NULL;

		if (asprintf(&q1,
			     "UPDATE tasks SET answer = ?3, updated_by = ?4, updated_ms = max(?5, "
			     "updated_ms + 1) WHERE asset_id IN (SELECT id FROM assets WHERE %s)",
			     asset_match_where[k]) < 0)
			q1 = NULL;
		if (asprintf(&q2, "UPDATE assets SET is_prelabeled = 1 WHERE %s",
			     asset_match_where[k]) < 0)
			q2 = NULL;
		upd[k] = q1 ? db_prep(db, q1) : NULL;
		pre[k] = q2 ? db_prep(db, q2) : NULL;
		free(q1);
		free(q2);
		if (!upd[k] || !pre[k])
			dberr = 1;
	}
	if (dberr) {
		db_exec(db, "ROLLBACK");
		json_decref(unmatched);
		reply_fail(out, 500, "database error");
		goto out;
	}
	json_array_foreach(items, i, it)
	{
		char *ans = dump(json_array_get(answers, i));
		const char *val;
		int hits = 0, kind = item_match_kind(it, &val);
		char sbuf[640];

		if (kind == 2)
			val = storage_match_value(db, val, sbuf, sizeof(sbuf));

		for (int k = 0; k < 2; k++) {
			sqlite3_stmt *st = k ? pre[kind] : upd[kind];

			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
			if (!k) {
				sqlite3_bind_text(st, 3, ans, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 4, user, -1, SQLITE_STATIC);
				sqlite3_bind_int64(st, 5, now);
			}
			if (sqlite3_step(st) != SQLITE_DONE) {
				dberr = 1;
				break;
			}
			if (!k)
				hits = sqlite3_changes(db);
		}
		free(ans);
		labeled += hits;
		if (!hits) {
			json_t *idv = json_object_get(it, "externalId");
			missed++;
			if (json_array_size(unmatched) < 100)
				json_array_append(unmatched,
						  idv ? idv
						      : (json_object_get(it, "assetId")
							     ? json_object_get(it, "assetId")
							     : json_object_get(it, "data")));
		}
		if (dberr)
			break;
	}
	if (dberr || db_exec(db, "COMMIT") < 0) {
		db_exec(db, "ROLLBACK");
		json_decref(unmatched);
		reply_fail(out, 500, "database error: %s", sqlite3_errmsg(db));
		goto out;
	}
	snprintf(err, sizeof(err), "%ld / %ld tasks are labeled.", labeled, labeled + missed);
	if (g_opts.strict) {
		json_decref(unmatched);
		reply_ok(out, json_pack("{s:s}", "project", err));
	} else {
		reply_ok(out, json_pack("{s:s,s:i,s:o}", "project", err, "labeled", (int)labeled,
					"unmatched", unmatched));
	}
out:
	for (int k = 0; k < 3; k++) {
		sqlite3_finalize(upd[k]);
		sqlite3_finalize(pre[k]);
	}
	json_decref(answers);
	json_decref(doc);
	json_decref(body);
	db_release(db);
}

/* ----------------------------------------------------------- attachments */

void route_attachments(struct req *r, struct reply *out)
{
	json_t *body = parse_body(r, out, NULL), *items, *doc = NULL, *it, *flat = NULL,
	       *unmatched = NULL;
	const char *pid;
	sqlite3 *db = NULL;
	sqlite3_stmt *sels[3] = {NULL}, *sel, *ins = NULL;
	long imported = 0, updated = 0;
	size_t i, j;

	if (!body)
		return;
	pid = json_string_value(json_object_get(body, "project"));
	items = json_object_get(body, "attachments");
	if (!pid) {
		reply_fail(out, 400, "Missing required field: project");
		goto out;
	}
	if (!json_is_array(items)) {
		reply_fail(out, 400, "Missing or invalid field: attachments must be a list");
		goto out;
	}
	db = db_acquire();
	if (load_project_checked(db, r, out, pid, &doc) < 0)
		goto out;
	/* flatten to [{match..., list:[{type,value}]}] while validating */
	flat = json_array();
	json_array_foreach(items, i, it)
	{
		json_t *list = json_array(), *a;

		json_array_append_new(flat, json_pack("{s:O,s:o}", "item", it, "list", list));
		if (!json_is_object(it)) {
			reply_fail(out, 400, "attachments[%zu]: item is not a JSON object", i);
			goto out;
		}
		if (!json_is_string(json_object_get(it, "externalId")) &&
		    !json_is_string(json_object_get(it, "assetId")) &&
		    !json_is_string(json_object_get(it, "data"))) {
			reply_fail(out, 400,
				   "attachments[%zu]: item needs externalId, assetId or data", i);
			goto out;
		}
		if (json_object_get(it, "attachmentUrl")) { /* shape A */
			const char *url = json_string_value(json_object_get(it, "attachmentUrl"));
			const char *type = json_string_value(json_object_get(it, "attachmentType"));

			if (!url || !*url) {
				reply_fail(out, 400,
					   "attachments[%zu]: attachmentUrl must be a string", i);
				goto out;
			}
			json_array_append_new(list, json_pack("{s:s,s:s}", "type",
							      type && *type ? type : "document",
							      "value", url));
		} else if (json_is_array(json_object_get(it, "attachments"))) { /* shape B */
			json_array_foreach(json_object_get(it, "attachments"), j, a)
			{
				const char *type = json_string_value(json_object_get(a, "type"));
				const char *val = json_string_value(json_object_get(a, "value"));

				if (!type ||
				    (strcasecmp(type, "IMAGE") && strcasecmp(type, "VIDEO") &&
				     strcasecmp(type, "TEXT"))) {
					reply_fail(out, 400,
						   "attachments[%zu].attachments[%zu]: type must "
						   "be IMAGE, "
						   "VIDEO or TEXT",
						   i, j);
					goto out;
				}
				if (!val) {
					reply_fail(
					    out, 400,
					    "attachments[%zu].attachments[%zu]: value must be a "
					    "string",
					    i, j);
					goto out;
				}
				json_array_append_new(
				    list, json_pack("{s:s,s:s}", "type", type, "value", val));
			}
		} else {
			reply_fail(
			    out, 400,
			    "attachments[%zu]: item needs attachmentUrl (+attachmentType) or "
			    "an attachments list of {type, value}",
			    i);
			goto out;
		}
	}
	unmatched = json_array();
	if (db_exec(db, "BEGIN IMMEDIATE") < 0) {
		reply_fail(out, 503, "Database is busy; retry later");
		goto out;
	}
	for (int k = 0; k < 3; k++) {
		char *q = NULL;

		if (asprintf(&q, "SELECT id FROM assets WHERE %s", asset_match_where[k]) < 0)
			q = NULL;
		sels[k] = q ? db_prep(db, q) : NULL;
		free(q);
	}
	ins = db_prep(db, "INSERT INTO attachments(project_id, asset_id, type, value, created_ms) "
			  "VALUES(?, ?, ?, ?, ?)");
	if (!sels[0] || !sels[1] || !sels[2] || !ins) {
		db_exec(db, "ROLLBACK");
		reply_fail(out, 500, "database error");
		goto out;
	}
	json_array_foreach(flat, i, it)
	{
		json_t *item = json_object_get(it, "item"), *list = json_object_get(it, "list"), *a;
		const char *val;
		int hits = 0;

		char sbuf[640];
		int kind = item_match_kind(item, &val);

		if (kind == 2)
			val = storage_match_value(db, val, sbuf, sizeof(sbuf));
		sel = sels[kind];
		sqlite3_reset(sel);
		sqlite3_bind_text(sel, 1, pid, -1, SQLITE_STATIC);
		sqlite3_bind_text(sel, 2, val, -1, SQLITE_STATIC);
		while (sqlite3_step(sel) == SQLITE_ROW) {
			hits++;
			json_array_foreach(list, j, a)
			{
				sqlite3_reset(ins);
				sqlite3_bind_text(ins, 1, pid, -1, SQLITE_STATIC);
				sqlite3_bind_text(ins, 2, (const char *)sqlite3_column_text(sel, 0),
						  -1, SQLITE_TRANSIENT);
				sqlite3_bind_text(ins, 3,
						  json_string_value(json_object_get(a, "type")), -1,
						  SQLITE_STATIC);
				sqlite3_bind_text(ins, 4,
						  json_string_value(json_object_get(a, "value")),
						  -1, SQLITE_STATIC);
				sqlite3_bind_int64(ins, 5, now_ms());
				sqlite3_step(ins);
				imported++;
			}
		}
		updated += hits;
		if (!hits && json_array_size(unmatched) < 100) {
			json_t *idv = json_object_get(item, "externalId");
			json_array_append(unmatched, idv ? idv
						     : json_object_get(item, "assetId")
							 ? json_object_get(item, "assetId")
							 : json_object_get(item, "data"));
		}
	}
	if (db_exec(db, "COMMIT") < 0) {
		db_exec(db, "ROLLBACK");
		reply_fail(out, 500, "database error: commit failed");
		goto out;
	}
	reply_ok(out,
		 json_pack("{s:{s:i,s:i},s:O}", "project", "attachmentsImported", (int)imported,
			   "assetsUpdated", (int)updated, "unmatched", unmatched));
out:
	for (int k = 0; k < 3; k++)
		sqlite3_finalize(sels[k]);
	sqlite3_finalize(ins);
	json_decref(unmatched);
	json_decref(flat);
	json_decref(doc);
	json_decref(body);
	db_release(db);
}

/* -------------------------------------------------------------- annotate */

static const char *status_for_stage(json_t *doc, const char *stage_id)
{
	json_t *s = project_stage(doc, stage_id);
	const char *type = s ? json_string_value(json_object_get(s, "type")) : NULL;

	return type && !strcmp(type, "Complete") ? "Completed" : "TODO";
}

void route_annotate(struct req *r, struct reply *out)
{
	const char *id = r->seg[1];
	json_t *body = NULL, *doc = NULL, *canon = NULL, *answer;
	char err[1024], user[64], *ans = NULL, *pid = NULL, *stage = NULL;
	const char *next = NULL;
	int next_stage, is_plugin;
	int64_t now = now_ms(), old_upd = 0, seq = 0, dur = 0;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct mask_change mc[2] = {{0, NULL}, {0, NULL}};

	if (!is_object_id(id)) {
		reply_fail(out, 400, "Invalid task: %s.", id);
		return;
	}
	if (parse_bool(req_arg(r, "nextStage"), 0, &next_stage) < 0) {
		reply_fail(out, 400, "Invalid nextStage: %s (use true or false)",
			   req_arg(r, "nextStage"));
		return;
	}
	if (parse_bool(req_arg(r, "isPlugin"), 0, &is_plugin) < 0) {
		reply_fail(out, 400, "Invalid isPlugin: %s (use true or false)",
			   req_arg(r, "isPlugin"));
		return;
	}
	body = parse_body(r, out, NULL);
	if (!body)
		return;
	answer = json_object_get(body, "answer");
	if (!answer) {
		reply_fail(out, 400, "Missing required field: answer");
		goto out;
	}
	if (json_object_get(body, "duration") &&
	    !json_is_number(json_object_get(body, "duration"))) {
		reply_fail(out, 400, "Invalid duration: must be a number (milliseconds)");
		goto out;
	}
	dur = (int64_t)json_number_value(json_object_get(body, "duration"));
	db = db_acquire();
	st = db_prep(db, "SELECT project_id, stage_id, updated_ms, seq FROM tasks WHERE id = ?");
	if (!st) {
		reply_fail(out, 500, "database error");
		goto out;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		reply_fail(out, 404, "Task not found: %s.", id);
		goto out;
	}
	pid = strdup((const char *)sqlite3_column_text(st, 0));
	stage = strdup((const char *)sqlite3_column_text(st, 1));
	old_upd = sqlite3_column_int64(st, 2);
	seq = sqlite3_column_int64(st, 3);
	sqlite3_finalize(st);
	st = NULL;
	if (load_project_checked(db, r, out, pid, &doc) < 0)
		goto out;
	canon =
	    answer_canonical(json_object_get(doc, "categorySchema"), answer, "", err, sizeof(err));
	if (!canon || mask_parse(db, body, mc, err, sizeof(err)) < 0) {
		reply_fail(out, 400, "%s", err);
		goto out;
	}
	ans = dump(canon);
	if (now <= old_upd)
		now = old_upd + 1;
	key_user(r->key_idx, user);
	if (next_stage) {
		json_t *s = project_stage(doc, stage);
		next = json_string_value(json_array_get(json_object_get(s, "next"), 0));
	}
	if (db_exec(db, "BEGIN IMMEDIATE") < 0) {
		reply_fail(out, 503, "Database is busy; retry later");
		goto out;
	}
	if (next) {
		st = db_prep(db,
			     "INSERT INTO stage_history(task_seq, idx, stage_id, duration_ms, "
			     "completed_ms, completed_by, answer) VALUES(?1, (SELECT "
			     "coalesce(max(idx), -1) + 1 FROM stage_history WHERE task_seq = ?1), "
			     "?2, ?3, ?4, ?5, ?6)");
		if (st) {
			sqlite3_bind_int64(st, 1, seq);
			sqlite3_bind_text(st, 2, stage, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, dur);
			sqlite3_bind_int64(st, 4, now);
			sqlite3_bind_text(st, 5, user, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 6, ans, -1, SQLITE_STATIC);
			sqlite3_step(st);
			sqlite3_finalize(st);
		}
	}
	st = db_prep(db,
		     "UPDATE tasks SET answer = ?1, updated_ms = ?2, updated_by = ?3, "
		     "duration_ms = duration_ms + ?4, stage_id = ?5, status = ?6, "
		     "completed_ms = CASE WHEN ?6 = 'Completed' AND ?7 THEN ?2 ELSE completed_ms "
		     "END, completed_by = CASE WHEN ?6 = 'Completed' AND ?7 THEN ?3 ELSE "
		     "completed_by END, brush_url = CASE WHEN ?9 THEN ?10 ELSE brush_url END, "
		     "medical_brush_url = CASE WHEN ?11 THEN ?12 ELSE medical_brush_url END "
		     "WHERE seq = ?8");
	if (!st) {
		db_exec(db, "ROLLBACK");
		reply_fail(out, 500, "database error");
		goto out;
	}
	sqlite3_bind_text(st, 1, ans, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, dur);
	sqlite3_bind_text(st, 5, next ? next : stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, status_for_stage(doc, next ? next : stage), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, next != NULL);
	sqlite3_bind_int64(st, 8, seq);
	for (int m = 0; m < 2; m++) {
		sqlite3_bind_int(st, 9 + 2 * m, mc[m].set);
		if (mc[m].value)
			sqlite3_bind_text(st, 10 + 2 * m, mc[m].value, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 10 + 2 * m);
	}
	if (sqlite3_step(st) != SQLITE_DONE || db_exec(db, "COMMIT") < 0) {
		db_exec(db, "ROLLBACK");
		reply_fail(out, 500, "database error: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = db_prep(db, "SELECT " TASK_COLS " FROM tasks t JOIN assets a ON a.id = t.asset_id "
			 "WHERE t.seq = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, seq);
		if (sqlite3_step(st) == SQLITE_ROW) {
			reply_ok(out, json_pack("{s:o}", "label", task_json_from_row(st, doc, 1)));
			goto out;
		}
	}
	reply_fail(out, 500, "database error reading the task back");
out:
	sqlite3_finalize(st);
	mask_change_free(mc);
	free(ans);
	free(pid);
	free(stage);
	json_decref(canon);
	json_decref(doc);
	json_decref(body);
	db_release(db);
}
