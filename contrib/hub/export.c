/*
 * export.c - GET /export: build an export from the database and hand out a
 * pre-signed-style download link.
 *
 * The export is written while the SQLite cursor walks the matching rows:
 * each row becomes one record (task records: export_tasks.c; issue records
 * here), pushed through a 256 KiB buffer into a libarchive zip writer with ONE
 * member
 * (export.json: a top-level array; export.ndjson: one record per line). The
 * member size is not known up front, so libarchive writes a streaming entry
 * (data descriptor). Memory stays bounded whatever the project size. The zip
 * lands under <db>.exports/<token>.zip (written as .part, then renamed), and
 * the token (random, 48 hex digits) is recorded with its expiry in the exports
 * table; download.c serves it.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"

static int w_dump_cb(const char *s, size_t n, void *ud)
{
	w_put(ud, s, n);
	return 0;
}

static void w_record(struct writer *w, struct exp_opts *o, json_t *rec)
{
	w_record_begin(w, o);
	json_dump_callback(rec, w_dump_cb, w, JSON_COMPACT);
	w_record_end(w, o);
}

/* Lenient issue record: the hub's own field names (kept for old clients). */
static json_t *issue_lenient(sqlite3_stmt *st, json_t *pdoc)
{
	const char *pos = (const char *)sqlite3_column_text(st, 8);
	const char *sid = (const char *)sqlite3_column_text(st, 9);
	json_t *rec = json_object(), *pj = pos ? json_loads(pos, 0, NULL) : NULL;
	char tb[32];

#define COLS(i) json_string((const char *)sqlite3_column_text(st, i))
	json_object_set_new(rec, "issueId", COLS(0));
	json_object_set_new(rec, "taskId", COLS(1));
	json_object_set_new(rec, "externalId", COLS(2));
	json_object_set_new(
	    rec, "asset",
	    storage_render_json(sqlite3_db_handle(st), (const char *)sqlite3_column_text(st, 3)));
	json_object_set_new(rec, "content", COLS(4));
	json_object_set_new(rec, "status", COLS(5));
	json_object_set_new(rec, "createdBy", COLS(6));
	fmt_iso(sqlite3_column_int64(st, 7), tb);
	json_object_set_new(rec, "createdAt", json_string(tb));
	json_object_set_new(rec, "stage", json_string(stage_name(pdoc, sid)));
	json_object_set_new(rec, "stageId", json_string(sid));
	if (pj)
		json_object_set_new(rec, "position", pj);
	return rec;
}

/* Strict issue record: the documented Issue model (docs.imerit.net
 * api/docs/issues, schema "Issue"): _id, content, project, asset (id),
 * labelTask (task id), status, createdBy, position (a string), points,
 * contentMentions, comments, errorCodes [{category,name,key}], createdAt,
 * updatedAt. Fields the hub has no data for (title, assignee, errorType,
 * errorCode, pctDetails, resolvedBy/At, updatedBy) are left out. */
static json_t *issue_strict(sqlite3_stmt *st)
{
	const char *pos = (const char *)sqlite3_column_text(st, 8);
	const char *codes = (const char *)sqlite3_column_text(st, 12);
	json_t *rec = json_object(), *cj = codes ? json_loads(codes, 0, NULL) : NULL;
	char tb[32];

	json_object_set_new(rec, "_id", COLS(0));
	json_object_set_new(rec, "content", COLS(4));
	json_object_set_new(rec, "project", COLS(11));
	json_object_set_new(rec, "asset", COLS(10));
	json_object_set_new(rec, "labelTask", COLS(1));
	json_object_set_new(rec, "status", COLS(5));
	json_object_set_new(rec, "createdBy", COLS(6));
	json_object_set_new(rec, "position", pos ? json_string(pos) : json_null());
	json_object_set_new(rec, "points", json_array());
	json_object_set_new(rec, "contentMentions", json_array());
	json_object_set_new(rec, "comments", json_array());
	json_object_set_new(rec, "errorCodes", json_is_array(cj) ? json_incref(cj) : json_array());
	fmt_iso(sqlite3_column_int64(st, 7), tb);
	json_object_set_new(rec, "createdAt", json_string(tb));
	json_object_set_new(rec, "updatedAt", json_string(tb));
#undef COLS
	json_decref(cj);
	return rec;
}

static int write_issues(sqlite3 *db, struct writer *w, struct exp_opts *o, struct task_filter *f,
			json_t *pdoc, char *err, size_t errlen)
{
	char where[4096], *sql = NULL;
	sqlite3_stmt *st;
	int step, rc = 0;

	task_filter_where(f, where, sizeof(where));
	if (asprintf(
		&sql,
		"SELECT i.id, i.task_id, a.external_id, a.url, i.content, i.status, "
		"i.created_by, i.created_ms, i.position, t.stage_id, t.asset_id, i.project_id, "
		"i.error_codes FROM issues i JOIN tasks t ON t.id = i.task_id JOIN assets a ON "
		"a.id = t.asset_id%s ORDER BY i.seq",
		where) < 0)
		return -ENOMEM;
	st = db_prep(db, sql);
	free(sql);
	if (!st) {
		snprintf(err, errlen, "database error preparing the issue export");
		return -EIO;
	}
	task_filter_bind(f, st);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && !w->failed) {
		json_t *rec = g_opts.strict ? issue_strict(st) : issue_lenient(st, pdoc);

		w_record(w, o, rec);
		json_decref(rec);
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		snprintf(err, errlen, "database error during export: %s", sqlite3_errmsg(db));
		rc = -EIO;
	}
	sqlite3_finalize(st);
	return rc;
}

static int bool_arg(struct req *r, struct reply *out, const char *name, int *v)
{
	if (parse_bool(req_arg(r, name), 0, v) < 0) {
		reply_fail(out, 400, "Invalid %s: %s (use true or false)", name, req_arg(r, name));
		return -1;
	}
	return 0;
}

void route_export(struct req *r, struct reply *out)
{
	const char *pid = req_arg(r, "project"), *type = req_arg(r, "type"),
		   *format = req_arg(r, "format"), *filters = req_arg(r, "filters");
	struct task_filter f = {0};
	struct task_filter_args fa = {0};
	struct exp_opts o = {0};
	struct writer w = {0};
	struct archive_entry *e = NULL;
	json_t *doc = NULL;
	char err[512], token[64], path[4200], part[4300], name[128], url[512], tb[32];
	int dummy, rc = -1;
	int64_t now = now_ms();
	sqlite3 *db = NULL;
	sqlite3_stmt *st;

	if (!type || !*type || !strcmp(type, "task"))
		o.issues = 0;
	else if (!strcmp(type, "issue"))
		o.issues = 1;
	else {
		reply_fail(out, 400, "Invalid type: %s (use task or issue)", type);
		return;
	}
	if (!format || !*format || !strcmp(format, "json"))
		o.json = 1;
	else if (!strcmp(format, "ndjson"))
		o.json = 0;
	else {
		reply_fail(out, 400, "Invalid format: %s (use json or ndjson)", format);
		return;
	}
	if (bool_arg(r, out, "includeMetadata", &o.meta) < 0 ||
	    bool_arg(r, out, "includeHistory", &o.history) < 0 ||
	    bool_arg(r, out, "includeIdleBlurDurations", &o.idle_blur) < 0 ||
	    bool_arg(r, out, "includeOnlyKeyFrames", &dummy) < 0 ||
	    bool_arg(r, out, "sendEmail", &dummy) < 0 ||
	    bool_arg(r, out, "doNotNotify", &dummy) < 0 ||
	    bool_arg(r, out, "includeAssets", &dummy) < 0)
		return;
	db = db_acquire();
	if (load_project_checked(db, r, out, pid, &doc) < 0)
		goto out;
	fa.project = pid;
	fa.stage = req_arg(r, "stage");
	fa.batches = req_arg(r, "batches");
	fa.status = req_arg(r, "status");
	fa.task_types = req_arg(r, "taskTypes");
	fa.updated_at = req_arg(r, "updatedAt");
	fa.created_at = req_arg(r, "createdAt");
	if (task_filter_parse(&f, doc, &fa, err, sizeof(err)) < 0 ||
	    (filters && *filters &&
	     task_filter_parse_query(&f, doc, filters, "filters", err, sizeof(err)) < 0)) {
		reply_fail(out, 400, "%s", err);
		goto out;
	}
	if (g_opts.strict)
		task_filter_strict_defaults(&f, doc, o.issues);
	exports_sweep(db);
	random_hex(token, 24);
	snprintf(path, sizeof(path), "%s/%s.zip", g_exports_dir, token);
	snprintf(part, sizeof(part), "%s.part", path);
	snprintf(name, sizeof(name), "%s-%s-%lld.zip", o.issues ? "issues" : "export", pid,
		 (long long)now);
	w.buf = malloc(WBUF);
	w.a = archive_write_new();
	if (!w.buf || !w.a || archive_write_set_format_zip(w.a) != ARCHIVE_OK) {
		reply_fail(out, 500, "cannot start the export archive");
		goto out;
	}
	archive_write_set_options(w.a, "zip:compression-level=1"); /* speed; optional */
	if (archive_write_open_filename(w.a, part) != ARCHIVE_OK) {
		reply_fail(out, 500, "cannot write export file: %s", archive_error_string(w.a));
		goto out;
	}
	e = archive_entry_new();
	archive_entry_set_pathname(e, o.json ? (o.issues ? "issues.json" : "export.json")
					     : (o.issues ? "issues.ndjson" : "export.ndjson"));
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, (time_t)(now / 1000), 0);
	if (archive_write_header(w.a, e) != ARCHIVE_OK) {
		reply_fail(out, 500, "cannot write export header: %s", archive_error_string(w.a));
		goto out;
	}
	if (o.json)
		w_put(&w, "[", 1);
	rc = o.issues ? write_issues(db, &w, &o, &f, doc, err, sizeof(err))
		      : export_write_tasks(db, &w, &o, &f, doc, err, sizeof(err));
	if (o.json)
		w_put(&w, w.records ? "\n]\n" : "]\n", w.records ? 3 : 2);
	w_flush(&w);
	if (rc < 0 || w.failed || archive_write_finish_entry(w.a) != ARCHIVE_OK ||
	    archive_write_close(w.a) != ARCHIVE_OK) {
		if (rc >= 0)
			snprintf(err, sizeof(err), "writing the export failed: %s",
				 archive_error_string(w.a) ? archive_error_string(w.a) : "?");
		reply_fail(out, 500, "%s", err);
		rc = -1;
		goto out;
	}
	if (rename(part, path) < 0) {
		reply_fail(out, 500, "cannot finish export file: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	st = db_prep(db,
		     "INSERT INTO exports(token, path, name, project_id, created_ms, expires_ms) "
		     "VALUES(?, ?, ?, ?, ?, ?)");
	if (!st) {
		reply_fail(out, 500, "database error recording the export");
		unlink(path);
		goto out;
	}
	sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, pid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now + g_opts.export_ttl * 1000);
	sqlite3_step(st);
	sqlite3_finalize(st);
	snprintf(url, sizeof(url), "%s/download/%s/%s", g_base_url, token, name);
	fmt_iso(now + g_opts.export_ttl * 1000, tb);
	reply_ok(out, json_pack("{s:s,s:s,s:I}", "exportPath", url, "expiresAt", tb, "records",
				(json_int_t)w.records));
out:
	if (w.a)
		archive_write_free(w.a);
	if (rc < 0 && w.a)
		unlink(part);
	archive_entry_free(e);
	free(w.buf);
	task_filter_free(&f);
	json_decref(doc);
	db_release(db);
}

void exports_sweep(sqlite3 *db)
{
	sqlite3_stmt *st = db_prep(db, "SELECT token, path FROM exports WHERE expires_ms < ?");
	sqlite3_stmt *del;
	int64_t cutoff = now_ms() - 60000; /* keep a minute for in-flight downloads */

	if (!st)
		return;
	sqlite3_bind_int64(st, 1, cutoff);
	while (sqlite3_step(st) == SQLITE_ROW)
		unlink((const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	del = db_prep(db, "DELETE FROM exports WHERE expires_ms < ?");
	if (del) {
		sqlite3_bind_int64(del, 1, cutoff);
		sqlite3_step(del);
		sqlite3_finalize(del);
	}
}
