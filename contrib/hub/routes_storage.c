/*
 * routes_storage.c - the API side of the hub's storage (hub-api.md §5.6):
 * GET /getSignedUrl, GET /getUploadUrl and POST /project/{id}/cloud.
 *
 * getSignedUrl takes the docs' "url=<asset URL>" or the SDK's "name=<url>"
 * (+ project, type; strict: url= is required, as the current docs mark it)
 * and answers 201 {"data":{"signedUrl"}}: a URL into this
 * hub's storage comes back signed for GET (like a presigner, existence is not
 * checked); any other URL comes back unchanged (it is not ours to sign).
 * getUploadUrl (name, project, type) answers 201 {"data":{"uploadUrl"}}, a URL
 * signed for PUT; the object URL the SDK keeps is that URL without its query.
 * /project/{id}/cloud creates one asset and one task per item (201 with the
 * SDK's counts): the task starts in the stage the project's Start stage leads
 * to, status TODO; a storage URL in "data" is kept as "storage:<key>" and
 * shown signed; a PNG's width/height go into the asset's metadata when the
 * item gives none. Every item is validated before anything is written.
 *
 * uploadLocal (hub-api.md §5.6): "true" says the files were put in the hub's
 * own storage (the SDK's upload_files); omitted or "false" means "keep assets
 * in cloud, reference URLs only" (upload_files_cloud). It is recorded per
 * asset; the strict profile takes the docs at their word: an asset created
 * without it is an external reference, its URL kept and shown exactly as
 * sent (never signed), so a client that uploads into the hub's storage and
 * omits uploadLocal gets an asset nobody can read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filters.h"

static void reply_201(struct reply *out, json_t *data)
{
	reply_json(out, 201, json_pack("{s:s,s:o}", "status", "success", "data", data));
}

void route_get_signed_url(struct req *r, struct reply *out)
{
	const char *url = req_arg(r, "url") ? req_arg(r, "url") : req_arg(r, "name");
	const char *type = req_arg(r, "type");
	char key[600], signed_url[1200];
	int k;

	if (g_opts.strict && (!req_arg(r, "url") || !*req_arg(r, "url"))) {
		reply_fail(out, 400, "Missing required parameter: url");
		return;
	}
	if (!url || !*url) {
		reply_fail(out, 400, "Missing required parameter: url (or name)");
		return;
	}
	if (type && !storage_type_known(type)) {
		reply_fail(out, 400,
			   "Invalid type: %s (use assets, brushes, medicalBrushes, exports, "
			   "instructions)",
			   type);
		return;
	}
	k = storage_key_of_url(url, key, sizeof(key));
	if (k < 0) {
		reply_fail(out, 400, "Invalid url: not a storage object URL: %.300s", url);
		return;
	}
	if (k == 0) {
		reply_201(out, json_pack("{s:s}", "signedUrl", url));
		return;
	}
	storage_signed_url(key, "GET", g_opts.url_ttl, signed_url, sizeof(signed_url));
	reply_201(out, json_pack("{s:s}", "signedUrl", signed_url));
}

void route_get_upload_url(struct req *r, struct reply *out)
{
	const char *name = req_arg(r, "name"), *pid = req_arg(r, "project"),
		   *type = req_arg(r, "type");
	char key[600], url[1200];
	json_t *doc = NULL;
	sqlite3 *db;

	if (!type || !storage_type_known(type)) {
		reply_fail(out, 400,
			   "Invalid type: %s (use assets, brushes, medicalBrushes, exports, "
			   "instructions)",
			   type ? type : "(missing)");
		return;
	}
	if (!name || !storage_name_ok(name)) {
		reply_fail(out, 400,
			   "Invalid name: %s (a file name of letters, digits, '.', '_', '-', not "
			   "starting with '.', at most 200 bytes)",
			   name ? name : "(missing)");
		return;
	}
	db = db_acquire();
	if (load_project_checked(db, r, out, pid, &doc) == 0) {
		snprintf(key, sizeof(key), "%s/%s/%s", type, pid, name);
		storage_signed_url(key, "PUT", 3600, url, sizeof(url));
		reply_201(out, json_pack("{s:s}", "uploadUrl", url));
	}
	json_decref(doc);
	db_release(db);
}

/* Width and height of a stored PNG object, from its IHDR; 0 if not one. */
static int png_size(const char *key, long *w, long *h)
{
	unsigned char b[24];
	char path[4800];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", g_storage_dir, key);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ok = read(fd, b, sizeof(b)) == (ssize_t)sizeof(b) && !memcmp(b, "\x89PNG\r\n\x1a\n", 8) &&
	     !memcmp(b + 12, "IHDR", 4);
	close(fd);
	if (ok) {
		*w = (long)b[16] << 24 | (long)b[17] << 16 | (long)b[18] << 8 | b[19];
		*h = (long)b[20] << 24 | (long)b[21] << 16 | (long)b[22] << 8 | b[23];
	}
	return ok;
}

/* Validate item i and fill in its stored url, metadata and batch ids (in
 * place: "_url", "_meta", "_batches"). 0, or -1 with a 400 reply set. */
static int cloud_item(sqlite3 *db, json_t *doc, json_t *it, size_t i, json_t *qbatches, int local,
		      struct reply *out)
{
	const char *data = json_string_value(json_object_get(it, "data"));
	const char *ext = json_string_value(json_object_get(it, "externalId"));
	json_t *md = json_object_get(it, "metadata"), *bl = json_object_get(it, "batches"), *v,
	       *ids = json_array();
	char key[600], err[512], form[640];
	long w, h;
	size_t j;
	int k;

	if (!json_is_object(it) || !data || !ext || !*ext) {
		reply_fail(out, 400, "assets[%zu]: item needs data (a URL) and externalId", i);
		goto fail;
	}
	if (strncmp(data, "http://", 7) && strncmp(data, "https://", 8)) {
		reply_fail(out, 400, "assets[%zu].data: expected an http(s) URL: %.300s", i, data);
		goto fail;
	}
	if (md && !json_is_object(md)) {
		reply_fail(out, 400, "assets[%zu].metadata: expected an object", i);
		goto fail;
	}
	k = storage_key_of_url(data, key, sizeof(key));
	if (k < 0 || (k > 0 && storage_stored_form(db, key, form, sizeof(form)) < 0)) {
		reply_fail(out, 400,
			   "assets[%zu].data: no stored object at %.300s (upload it first: GET "
			   "/getUploadUrl, then PUT)",
			   i, data);
		goto fail;
	}
	if (json_object_get(it, "storage") && !json_is_null(json_object_get(it, "storage")) &&
	    !json_is_string(json_object_get(it, "storage"))) {
		reply_fail(out, 400, "assets[%zu].storage: expected a storage id string", i);
		goto fail;
	}
	if (bl && !json_is_array(bl)) {
		reply_fail(out, 400, "assets[%zu].batches: expected a list", i);
		goto fail;
	}
	for (int pass = 0; pass < 2; pass++) {
		json_array_foreach(pass ? qbatches : bl, j, v)
		{
			char what[64];
			const char *id;

			snprintf(what, sizeof(what), pass ? "batches" : "assets[%zu].batches", i);
			id = json_is_string(v) ? batch_filter_id(doc, json_string_value(v), what,
								 err, sizeof(err))
					       : NULL;
			if (!id) {
				reply_fail(out, 400, "%s",
					   json_is_string(v) ? err : "batches: expected strings");
				goto fail;
			}
			json_array_append_new(ids, json_string(id));
		}
	}
	json_object_set_new(it, "_url", json_string(k > 0 && local ? form : data));
	if (!md && k > 0 && local && png_size(key, &w, &h))
		json_object_set_new(it, "_meta",
				    json_pack("{s:i,s:i}", "width", (int)w, "height", (int)h));
	json_object_set_new(it, "_batches", ids);
	return 0;
fail:
	json_decref(ids);
	return -1;
}

static const char *first_stage(json_t *doc)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(doc, "stages"), i, s)
	{
		const char *type = json_string_value(json_object_get(s, "type"));
		const char *next = json_string_value(json_array_get(json_object_get(s, "next"), 0));

		if (type && !strcmp(type, "Start") && next)
			return next;
	}
	return "Start";
}

void route_project_cloud(struct req *r, struct reply *out)
{
	const char *pid = r->seg[1];
	json_t *body = NULL, *doc = NULL, *items, *qb = NULL, *it;
	json_error_t je;
	char err[256], aid[25], tid[25], user[64], *md = NULL, *bt = NULL;
	sqlite3 *db = db_acquire();
	sqlite3_stmt *ia = NULL, *itk = NULL;
	const char *stage;
	int64_t now = now_ms();
	size_t i;
	long prio = 0;
	json_t *ul;
	int local = 1;

	if (load_project_checked(db, r, out, pid, &doc) < 0)
		goto out;
	body = r->body ? json_loadb(r->body, r->body_len, 0, &je) : NULL;
	items = json_object_get(body, "assets");
	if (!json_is_array(items)) {
		reply_fail(out, 400, "Body must be a JSON object with an assets list");
		goto out;
	}
	ul = json_object_get(body, "uploadLocal");
	if (ul && !json_is_null(ul)) {
		const char *u = json_string_value(ul);

		if (!json_is_boolean(ul) && (!u || (strcmp(u, "true") && strcmp(u, "false")))) {
			reply_fail(out, 400, "Invalid uploadLocal: expected \"true\" or \"false\"");
			goto out;
		}
		local = json_is_true(ul) || (u && !strcmp(u, "true"));
	} else {
		local = 0; /* omitted: "keep assets in cloud, reference URLs only" */
	}
	if (json_object_get(body, "priority")) {
		json_t *p = json_object_get(body, "priority");
		if (!json_is_integer(p) || json_integer_value(p) < -1000 ||
		    json_integer_value(p) > 1000) {
			reply_fail(out, 400,
				   "Invalid priority: expected an integer in -1000..1000");
			goto out;
		}
		prio = (long)json_integer_value(p);
	}
	if (req_arg(r, "batches") &&
	    parse_str_list(req_arg(r, "batches"), &qb, err, sizeof(err), "batches") < 0) {
		reply_fail(out, 400, "%s", err);
		goto out;
	}
	json_array_foreach(items, i, it)
	{
		/* lenient: a storage URL is the hub's own object either way */
		if (cloud_item(db, doc, it, i, qb, local || !g_opts.strict, out) < 0)
			goto out;
	}
	stage = first_stage(doc);
	key_user(r->key_idx, user);
	ia = db_prep(db, "INSERT INTO assets(id, project_id, external_id, url, metadata, batches, "
			 "created_ms, upload_local, storage) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
	itk = db_prep(db, "INSERT INTO tasks(id, project_id, asset_id, stage_id, status, "
			  "created_ms, updated_ms, updated_by, priority) VALUES(?, ?, ?, ?, "
			  "'TODO', ?, ?, ?, ?)");
	if (!ia || !itk || db_exec(db, "BEGIN IMMEDIATE") < 0) {
		reply_fail(out, 503, "Database is busy; retry later");
		goto out;
	}
	json_array_foreach(items, i, it)
	{
		json_t *m = json_object_get(it, "metadata") ? json_object_get(it, "metadata")
							    : json_object_get(it, "_meta");

		new_object_id(aid);
		new_object_id(tid);
		md = m ? json_dumps(m, JSON_COMPACT) : strdup("{}");
		bt = json_dumps(json_object_get(it, "_batches"), JSON_COMPACT);
		sqlite3_bind_text(ia, 1, aid, -1, SQLITE_STATIC);
		sqlite3_bind_text(ia, 2, pid, -1, SQLITE_STATIC);
		sqlite3_bind_text(ia, 3, json_string_value(json_object_get(it, "externalId")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(ia, 4, json_string_value(json_object_get(it, "_url")), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(ia, 5, md, -1, SQLITE_STATIC);
		sqlite3_bind_text(ia, 6, bt, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ia, 7, now);
		sqlite3_bind_int(ia, 8, local);
		if (json_is_string(json_object_get(it, "storage")))
			sqlite3_bind_text(ia, 9, json_string_value(json_object_get(it, "storage")),
					  -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ia, 9);
		sqlite3_bind_text(itk, 1, tid, -1, SQLITE_STATIC);
		sqlite3_bind_text(itk, 2, pid, -1, SQLITE_STATIC);
		sqlite3_bind_text(itk, 3, aid, -1, SQLITE_STATIC);
		sqlite3_bind_text(itk, 4, stage, -1, SQLITE_STATIC);
		sqlite3_bind_int64(itk, 5, now);
		sqlite3_bind_int64(itk, 6, now);
		sqlite3_bind_text(itk, 7, user, -1, SQLITE_STATIC);
		sqlite3_bind_int64(itk, 8, prio);
		if (sqlite3_step(ia) != SQLITE_DONE || sqlite3_step(itk) != SQLITE_DONE) {
			db_exec(db, "ROLLBACK");
			reply_fail(out, 500, "database error: %s", sqlite3_errmsg(db));
			goto out;
		}
		sqlite3_reset(ia);
		sqlite3_reset(itk);
		free(md);
		free(bt);
		md = bt = NULL;
	}
	if (db_exec(db, "COMMIT") < 0) {
		db_exec(db, "ROLLBACK");
		reply_fail(out, 500, "database error: commit failed");
		goto out;
	}
	reply_201(out, json_pack("{s:{s:i,s:i,s:i,s:i}}", "assets", "assetsCreated",
				 (int)json_array_size(items), "tasksCreated",
				 (int)json_array_size(items), "preLabelsCount", 0,
				 "validPreLabelsCount", 0));
out:
	free(md);
	free(bt);
	sqlite3_finalize(ia);
	sqlite3_finalize(itk);
	json_decref(qb);
	json_decref(body);
	json_decref(doc);
	db_release(db);
}
