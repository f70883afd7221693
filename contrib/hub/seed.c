/*
 * seed.c - deterministic seed data: "--seed demo" and "--seed synthetic:N".
 *
 * Everything derives from fixed numbers (ids via make_id(), answers from a
 * small PRNG seeded by the task index, times from a fixed base), so the same
 * seed always produces the same ids, names, externalIds and answers and tests
 * may rely on them (docs/HUB.md lists them). Each seed runs in ONE transaction
 * with prepared statements and records its name in the seeds table, so
 * re-seeding adds nothing twice and 100k synthetic tasks take seconds.
 *
 * The street-scene ontology (bounding boxes with nested radio, polygon,
 * polyline, point with two levels of nesting, radio/checkbox/text top-level
 * classifications, a one-to-one and a group relation) is shared by the main
 * demo project and the synthetic projects.
 *
 * Storage (storage.c): the demo's brush masks are real PNG files; the
 * "Street Photos" pictures and every synthetic picture are generated objects
 * drawn from the seeded answers (street:<i> recipes), so their boxes land on
 * visible shapes and N synthetic pictures cost one objects row.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubd.h"
#include "seed_data.h"

#define BASE_MS 1736154000000LL /* 2025-01-06T09:00:00.000Z */

struct seeder {
	sqlite3 *db;
	sqlite3_stmt *proj, *asset, *task, *hist, *issue, *att;
	char *err;
	size_t errlen;
};

static uint64_t rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return mix64(*s);
}

static int rnd(uint64_t *s, int n)
{
	return (int)(rng_next(s) % (uint64_t)n);
}

static int step_done(struct seeder *sd, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		snprintf(sd->err, sd->errlen, "seed insert failed: %s", sqlite3_errmsg(sd->db));
		return -EIO;
	}
	return 0;
}

static json_t *tool_meta(int64_t t, const char *who)
{
	char tb[32];

	fmt_iso(t, tb);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "createdAt", tb, "createdBy", who,
			 "createdIn", "Label", "updatedAt", tb, "updatedBy", who, "updatedIn",
			 "Label");
}

/* A realistic street-scene answer for task i (stored form). */
json_t *seed_street_answer(uint64_t i, int64_t t, const char *who)
{
	static const char *weather[] = {"Sunny", "Cloudy", "Rain", "Snow"};
	static const char *attrs[] = {"Night", "Urban", "Highway", "Construction"};
	static const char *colors[] = {"Red", "Yellow", "Green"};
	uint64_t s = i * 7919 + 17;
	json_t *tools = json_array(), *cls = json_array(), *rels = json_array(), *o, *sel;
	int ncars = 1 + rnd(&s, 4), k, obj = 0;
	char oid[16];

	for (k = 0; k < ncars; k++) {
		double x = 40 + rnd(&s, 1600), y = 300 + rnd(&s, 600);
		snprintf(oid, sizeof(oid), "o%llu-%d", (unsigned long long)i, obj++);
		o = json_pack("{s:s,s:s,s:s,s:{s:f,s:f,s:f,s:f},s:[{s:s,s:s,s:s,s:s,s:s}],s:i}",
			      "schemaId", SCH_CAR, "objectId", oid, "title", "Car", "bounding-box",
			      "x", x, "y", y, "width", 60.0 + rnd(&s, 240), "height",
			      40.0 + rnd(&s, 160), "classifications", "schemaId", SCH_OCCLUDED,
			      "objectId", "", "tool", "radio", "title", "Occluded", "answer",
			      rnd(&s, 3) ? "No" : "Yes", "page", 0);
		json_object_set_new(json_array_get(json_object_get(o, "classifications"), 0),
				    "objectId", json_sprintf("%s-c0", oid));
		json_object_set_new(o, "metadata", tool_meta(t, who));
		json_array_append_new(tools, o);
	}
	if (rnd(&s, 2)) {
		snprintf(oid, sizeof(oid), "o%llu-%d", (unsigned long long)i, obj++);
		o = json_pack("{s:s,s:s,s:s,s:{s:f,s:f,s:f,s:f},s:i}", "schemaId", SCH_PED,
			      "objectId", oid, "title", "Pedestrian", "bounding-box", "x",
			      100.0 + rnd(&s, 1500), "y", 400.0 + rnd(&s, 400), "width",
			      20.0 + rnd(&s, 40), "height", 60.0 + rnd(&s, 120), "page", 0);
		json_object_set_new(o, "metadata", tool_meta(t, who));
		json_array_append_new(tools, o);
	}
	snprintf(oid, sizeof(oid), "o%llu-%d", (unsigned long long)i, obj++);
	o = json_pack("{s:s,s:s,s:s,s:[[f,f],[f,f],[f,f],[f,f]],s:i}", "schemaId", SCH_ROAD,
		      "objectId", oid, "title", "Road", "polygon", 0.0, 1080.0, 1920.0, 1080.0,
		      1100.0 + rnd(&s, 100), 620.0, 800.0 + rnd(&s, 100), 620.0, "page", 0);
	json_object_set_new(o, "metadata", tool_meta(t, who));
	json_array_append_new(tools, o);
	for (k = rnd(&s, 3); k > 0; k--) {
		snprintf(oid, sizeof(oid), "o%llu-%d", (unsigned long long)i, obj++);
		o = json_pack("{s:s,s:s,s:s,s:[[f,f],[f,f],[f,f]],s:i}", "schemaId", SCH_LANE,
			      "objectId", oid, "title", "Lane", "polyline", 300.0 + rnd(&s, 400),
			      1080.0, 700.0 + rnd(&s, 200), 850.0, 900.0 + rnd(&s, 50), 640.0,
			      "page", 0);
		json_object_set_new(o, "metadata", tool_meta(t, who));
		json_array_append_new(tools, o);
	}
	if (rnd(&s, 3) == 0) {
		snprintf(oid, sizeof(oid), "o%llu-%d", (unsigned long long)i, obj++);
		sel = json_pack("{s:s,s:s,s:s,s:s,s:s}", "objectId", "", "schemaId", SCH_LIGHTCOLOR,
				"tool", "radio", "title", "Light Color", "answer",
				colors[rnd(&s, 3)]);
		json_object_set_new(sel, "objectId", json_sprintf("%s-c0", oid));
		if (rnd(&s, 2))
			json_object_set_new(sel, "classifications",
					    json_pack("[{s:s,s:s,s:s,s:s,s:s}]", "objectId", "n0",
						      "schemaId", SCH_VISNOTE, "tool", "text",
						      "title", "Visibility note", "answer",
						      "partly hidden by a tree"));
		o = json_pack("{s:s,s:s,s:s,s:[f,f],s:[o],s:i}", "schemaId", SCH_LIGHT, "objectId",
			      oid, "title", "Traffic Light", "point", 200.0 + rnd(&s, 1500),
			      100.0 + rnd(&s, 300), "classifications", sel, "page", 0);
		json_object_set_new(o, "metadata", tool_meta(t, who));
		json_array_append_new(tools, o);
	}
	json_array_append_new(cls, json_pack("{s:s,s:s,s:s,s:s,s:s}", "objectId", "w", "schemaId",
					     SCH_WEATHER, "tool", "radio", "title", "Weather",
					     "answer", weather[rnd(&s, 4)]));
	sel = json_array();
	for (k = 0; k < 4; k++)
		if (rnd(&s, 3) == 0)
			json_array_append_new(sel, json_string(attrs[k]));
	json_array_append_new(cls, json_pack("{s:s,s:s,s:s,s:s,s:o}", "objectId", "a", "schemaId",
					     SCH_ATTRS, "tool", "checkbox", "title",
					     "Scene Attributes", "answer", sel));
	if (rnd(&s, 4) == 0)
		json_array_append_new(cls,
				      json_pack("{s:s,s:s,s:s,s:s,s:s}", "objectId", "c",
						"schemaId", SCH_COMMENT, "tool", "text", "title",
						"Comment", "answer", "busy intersection"));
	if (rnd(&s, 2)) {
		int bad = rnd(&s, 3) == 0;
		o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "objectId", "q", "schemaId", SCH_QUALITY,
			      "tool", "radio", "title", "Quality", "answer", bad ? "Poor" : "Good");
		if (bad)
			json_object_set_new(o, "classifications",
					    json_pack("[{s:s,s:s,s:s,s:s,s:[s]}]", "objectId", "qi",
						      "schemaId", SCH_ISSUES, "tool", "checkbox",
						      "title", "Issues", "answer", "Blur"));
		json_array_append_new(cls, o);
	}
	if (ncars >= 2)
		json_array_append_new(
		    rels,
		    json_pack(
			"{s:s,s:s,s:s,s:s,s:s,s:s}", "objectId", "r0", "schemaId", SCH_FOLLOWS,
			"title", "Follows", "from",
			json_string_value(json_object_get(json_array_get(tools, 1), "objectId")),
			"to",
			json_string_value(json_object_get(json_array_get(tools, 0), "objectId")),
			"direction", "straight"));
	return json_pack("{s:o,s:o,s:o}", "tools", tools, "classifications", cls, "relations",
			 rels);
}

static int prepare(struct seeder *sd)
{
	sd->proj = db_prep(sd->db, "INSERT INTO projects(id, name, created_ms, acl, doc) "
				   "VALUES(?, ?, ?, ?, ?)");
	sd->asset =
	    db_prep(sd->db, "INSERT INTO assets(id, project_id, external_id, url, metadata, "
			    "batches, created_ms) VALUES(?, ?, ?, ?, ?, ?, ?)");
	sd->task = db_prep(
	    sd->db, "INSERT INTO tasks(id, project_id, asset_id, stage_id, status, answer, "
		    "created_ms, updated_ms, updated_by, assignee, priority, duration_ms, "
		    "completed_ms, completed_by) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	sd->hist =
	    db_prep(sd->db, "INSERT INTO stage_history(task_seq, idx, stage_id, duration_ms, "
			    "completed_ms, completed_by, answer) VALUES(?, ?, ?, ?, ?, ?, ?)");
	sd->issue = db_prep(
	    sd->db, "INSERT INTO issues(id, project_id, task_id, content, status, "
		    "created_by, created_ms, position, error_codes) VALUES(?, ?, ?, ?, ?, ?, ?, "
		    "?, ?)");
	sd->att = db_prep(sd->db, "INSERT INTO attachments(project_id, asset_id, type, value, "
				  "created_ms) VALUES(?, ?, ?, ?, ?)");
	if (!sd->proj || !sd->asset || !sd->task || !sd->hist || !sd->issue || !sd->att) {
		snprintf(sd->err, sd->errlen, "cannot prepare seed statements: %s",
			 sqlite3_errmsg(sd->db));
		return -EIO;
	}
	return 0;
}

static void finalize_all(struct seeder *sd)
{
	sqlite3_finalize(sd->proj);
	sqlite3_finalize(sd->asset);
	sqlite3_finalize(sd->task);
	sqlite3_finalize(sd->hist);
	sqlite3_finalize(sd->issue);
	sqlite3_finalize(sd->att);
}

static int add_project(struct seeder *sd, json_t *doc, const char *acl)
{
	char *s = json_dumps(doc, JSON_COMPACT);
	int64_t t;
	int rc;

	parse_iso(json_string_value(json_object_get(doc, "createdAt")), &t);
	sqlite3_bind_text(sd->proj, 1, json_string_value(json_object_get(doc, "_id")), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_text(sd->proj, 2, json_string_value(json_object_get(doc, "name")), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_int64(sd->proj, 3, t);
	if (acl)
		sqlite3_bind_text(sd->proj, 4, acl, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(sd->proj, 4);
	sqlite3_bind_text(sd->proj, 5, s, -1, SQLITE_TRANSIENT);
	rc = step_done(sd, sd->proj);
	free(s);
	return rc;
}

/* Stage of task i: 20% Start, 20% Label, 20% Review, 40% Complete. */
static int stage_slot(uint64_t i)
{
	static const int slot[10] = {0, 0, 1, 1, 2, 2, 3, 3, 3, 3};

	return slot[i % 10];
}

/* Insert n tasks (and their assets) into project pid. stages[4] = ids of the
 * Start/Label/Review/Complete slots (a NULL Review slot falls back to Label). */
static int add_tasks(struct seeder *sd, json_t *doc, unsigned kind, uint64_t nbase, uint64_t n,
		     const char *ext_fmt, const char *url_fmt, const char *const stages[4],
		     answer_fn fn)
{
	const char *pid = json_string_value(json_object_get(doc, "_id"));
	json_t *batches = json_object_get(doc, "batches");
	size_t nb = json_array_size(batches);
	char aid[25], tid[25], ext[128], url[256], bat[128];
	static const char *people[] = {"alice@example.com", "bob@example.com", "chen@example.com",
				       "dara@example.com"};
	uint64_t i;

	for (i = 1; i <= n; i++) {
		int slot = stage_slot(i);
		const char *stage = stages[slot] ? stages[slot] : stages[1];
		int64_t created = BASE_MS + (int64_t)i * 60000;
		int64_t updated = created + 86400000LL + (int64_t)(i % 97) * 1000;
		const char *who = people[i % 4];
		json_t *ans = NULL;
		char *ans_s = NULL;
		int64_t seq;

		make_id(aid, kind, nbase + i);
		make_id(tid, kind + 1, nbase + i);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		/* formats come from the fixed tables in seed_data.c */
		snprintf(ext, sizeof(ext), ext_fmt, (unsigned long long)i);
		snprintf(url, sizeof(url), url_fmt, ext);
#pragma GCC diagnostic pop
		if (nb) {
			const char *b1 = json_string_value(
			    json_object_get(json_array_get(batches, i % (nb > 2 ? 2 : nb)), "_id"));
			if (nb > 2 && i % 7 == 0)
				snprintf(bat, sizeof(bat), "[\"%s\",\"%s\"]", b1,
					 json_string_value(json_object_get(
					     json_array_get(batches, nb - 1), "_id")));
			else
				snprintf(bat, sizeof(bat), "[\"%s\"]", b1);
		} else {
			strcpy(bat, "[]");
		}
		sqlite3_bind_text(sd->asset, 1, aid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(sd->asset, 2, pid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(sd->asset, 3, ext, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(sd->asset, 4, url, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(sd->asset, 5, "{\"width\":1920,\"height\":1080}", -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(sd->asset, 6, bat, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(sd->asset, 7, created);
		if (step_done(sd, sd->asset) < 0)
			return -EIO;
		if (fn && (slot >= 2 || (slot == 1 && i % 10 == 2))) {
			ans = fn(nbase + i, updated, who);
			ans_s = json_dumps(ans, JSON_COMPACT);
		}
		sqlite3_bind_text(sd->task, 1, tid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(sd->task, 2, pid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(sd->task, 3, aid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(sd->task, 4, stage, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(sd->task, 5, slot == 3 ? "Completed" : "TODO", -1, SQLITE_STATIC);
		if (ans_s)
			sqlite3_bind_text(sd->task, 6, ans_s, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(sd->task, 6);
		sqlite3_bind_int64(sd->task, 7, created);
		sqlite3_bind_int64(sd->task, 8, slot ? updated : created);
		sqlite3_bind_text(sd->task, 9, slot ? who : "admin@example.com", -1, SQLITE_STATIC);
		sqlite3_bind_text(sd->task, 10, slot ? who : NULL, -1, SQLITE_STATIC);
		sqlite3_bind_int(sd->task, 11, (int)(i % 5));
		sqlite3_bind_int64(sd->task, 12, ans ? 30000 + (int64_t)(i % 50) * 1000 : 0);
		if (slot == 3) {
			sqlite3_bind_int64(sd->task, 13, updated);
			sqlite3_bind_text(sd->task, 14, who, -1, SQLITE_STATIC);
		} else {
			sqlite3_bind_null(sd->task, 13);
			sqlite3_bind_null(sd->task, 14);
		}
		if (step_done(sd, sd->task) < 0)
			goto fail;
		seq = sqlite3_last_insert_rowid(sd->db);
		/* history: one snapshot per stage the task has left */
		for (int h = 1, idx = 0; ans_s && h < slot; h++) {
			const char *hs = stages[h];

			if (!hs)
				continue;
			sqlite3_bind_int64(sd->hist, 1, seq);
			sqlite3_bind_int(sd->hist, 2, idx++);
			sqlite3_bind_text(sd->hist, 3, hs, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(sd->hist, 4, 20000 + (int64_t)h * 1000);
			sqlite3_bind_int64(sd->hist, 5, updated - (slot - h) * 3600000LL);
			sqlite3_bind_text(sd->hist, 6, h == 1 ? who : "reviewer@example.com", -1,
					  SQLITE_STATIC);
			sqlite3_bind_null(sd->hist, 7); /* NULL = same as the task's answer */
			if (step_done(sd, sd->hist) < 0)
				goto fail;
		}
		free(ans_s);
		json_decref(ans);
		continue;
	fail:
		free(ans_s);
		json_decref(ans);
		return -EIO;
	}
	return 0;
}

static const char *issue_codes(uint64_t n)
{
	switch (n) {
	case 1:
		return "[{\"category\":\"Geometry\",\"name\":\"Loose box\",\"key\":\"loose_box\"}]";
	case 2:
		return "[{\"category\":\"Missing\",\"name\":\"Missing object\",\"key\":"
		       "\"missing_object\"},{\"category\":\"Class\",\"name\":\"Wrong class\","
		       "\"key\":\"wrong_class\"}]";
	default:
		return "[]";
	}
}

static int add_issue(struct seeder *sd, const char *pid, unsigned task_kind, uint64_t task_n,
		     uint64_t n, const char *content, const char *status)
{
	char id[25], tid[25];

	make_id(id, 90, n);
	make_id(tid, task_kind, task_n);
	sqlite3_bind_text(sd->issue, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(sd->issue, 2, pid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(sd->issue, 3, tid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(sd->issue, 4, content, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(sd->issue, 5, status, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(sd->issue, 6, "reviewer@example.com", -1, SQLITE_STATIC);
	sqlite3_bind_int64(sd->issue, 7, BASE_MS + 3 * 86400000LL + (int64_t)n * 60000);
	sqlite3_bind_text(sd->issue, 8, "{\"x\":120,\"y\":340,\"page\":0}", -1, SQLITE_STATIC);
	sqlite3_bind_text(sd->issue, 9, issue_codes(n), -1, SQLITE_STATIC);
	return step_done(sd, sd->issue);
}

static int add_attachment(struct seeder *sd, const char *pid, unsigned asset_kind, uint64_t n,
			  const char *type, const char *value)
{
	char aid[25];

	make_id(aid, asset_kind, n);
	sqlite3_bind_text(sd->att, 1, pid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(sd->att, 2, aid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(sd->att, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(sd->att, 4, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(sd->att, 5, BASE_MS);
	return step_done(sd, sd->att);
}

/* Task i (from 1, in seeding order) of project pid: i % 4 == 1 consensus,
 * i % 4 == 3 benchmark, else default. */
static int set_task_types(struct seeder *sd, const char *pid)
{
	sqlite3_stmt *st = db_prep(
	    sd->db, "UPDATE tasks SET task_type = CASE (seq - (SELECT min(seq) FROM tasks WHERE "
		    "project_id = ?1) + 1) % 4 WHEN 1 THEN 'consensus' WHEN 3 THEN 'benchmark' "
		    "ELSE 'default' END WHERE project_id = ?1");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, pid, -1, SQLITE_TRANSIENT);
	rc = step_done(sd, st);
	sqlite3_finalize(st);
	return rc;
}

/* Brush masks for tasks 6, 66, 126, 186 (all in Complete) of the main demo
 * project: a real 1920x1080 RGBA PNG of the task's boxes and polygons in class
 * colours on transparent black, kept private in the storage and referenced by
 * the task's brush_url, as the real Hub does. */
static int add_masks(struct seeder *sd, const char *pid, unsigned task_kind, uint64_t ntasks)
{
	sqlite3_stmt *get = db_prep(sd->db, "SELECT answer FROM tasks WHERE id = ?"),
		     *set = db_prep(sd->db, "UPDATE tasks SET brush_url = ? WHERE id = ?");
	int rc = get && set ? 0 : -EIO;

	for (uint64_t i = 6; i <= ntasks && !rc; i += 60) {
		char tid[25], key[128], stored[140];
		json_t *ans = NULL;
		struct img *im = img_new(1920, 1080, 0);
		void *png = NULL;
		size_t len = 0;

		make_id(tid, task_kind, i);
		sqlite3_bind_text(get, 1, tid, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(get) == SQLITE_ROW && sqlite3_column_text(get, 0))
			ans = json_loads((const char *)sqlite3_column_text(get, 0), 0, NULL);
		sqlite3_reset(get);
		if (im && ans) {
			img_draw_answer(im, ans);
			png = img_png(im, &len);
		}
		snprintf(key, sizeof(key), "brushes/%s/%s.png", pid, tid);
		snprintf(stored, sizeof(stored), "storage:%s", key);
		if (!png || storage_put(sd->db, key, "image/png", png, len, 0, NULL) < 0) {
			snprintf(sd->err, sd->errlen, "cannot store the brush mask of task %s",
				 tid);
			rc = -EIO;
		} else {
			sqlite3_bind_text(set, 1, stored, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(set, 2, tid, -1, SQLITE_TRANSIENT);
			rc = step_done(sd, set);
		}
		free(png);
		img_free(im);
		json_decref(ans);
	}
	sqlite3_finalize(get);
	sqlite3_finalize(set);
	return rc;
}

/* Assets of project pid become generated pictures in the storage: object
 * assets/<pid>/<externalId> with recipe street:<i>:1920x1080 (the picture of
 * seed answer i: where the task's boxes are), odd i public, even i private
 * (shown as signed URLs). */
static int add_photos(struct seeder *sd, const char *pid, uint64_t ntasks)
{
	sqlite3_stmt *url =
	    db_prep(sd->db, "UPDATE assets SET url = ? WHERE project_id = ? AND external_id = ?");
	int rc = url ? 0 : -EIO;

	for (uint64_t i = 1; i <= ntasks && !rc; i++) {
		char key[128], gen[64], stored[160];

		snprintf(key, sizeof(key), "assets/%s/photo_%02llu.png", pid,
			 (unsigned long long)i);
		snprintf(gen, sizeof(gen), "street:%llu:1920x1080", (unsigned long long)i);
		snprintf(stored, sizeof(stored), "%s%s",
			 i & 1 ? "storage+public:" : "storage:", key);
		if (storage_put(sd->db, key, "image/png", NULL, 0, (int)(i & 1), gen) < 0) {
			snprintf(sd->err, sd->errlen, "cannot add the storage object %s", key);
			rc = -EIO;
			break;
		}
		sqlite3_bind_text(url, 1, stored, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(url, 2, pid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(url, 3, strrchr(key, '/') + 1, -1, SQLITE_TRANSIENT);
		rc = step_done(sd, url);
	}
	sqlite3_finalize(url);
	return rc;
}

/* A medical brush mask (.seg.nrrd: NRRD header, raw uint8 voxels 64x64x4, a
 * labelled cube in the middle) on task 46 of the main demo project, private,
 * referenced by the task's medical_brush_url. */
static int add_medical_mask(struct seeder *sd, const char *pid, unsigned task_kind)
{
	static const char hdr[] = "NRRD0004\n# angofs-hub demo segmentation\ntype: uint8\n"
				  "dimension: 3\nsizes: 64 64 4\nencoding: raw\n"
				  "space origin: (0,0,0)\n\n";
	size_t n = sizeof(hdr) - 1, len = n + 64 * 64 * 4;
	char *buf = calloc(1, len), tid[25], key[128], stored[140];
	sqlite3_stmt *set = db_prep(sd->db, "UPDATE tasks SET medical_brush_url = ? WHERE id = ?");
	int rc = buf && set ? 0 : -EIO;

	if (!rc) {
		memcpy(buf, hdr, n);
		for (int z = 1; z < 3; z++)
			for (int y = 16; y < 48; y++)
				memset(buf + n + (size_t)z * 4096 + (size_t)y * 64 + 16, 1, 32);
		make_id(tid, task_kind, 46);
		snprintf(key, sizeof(key), "medicalBrushes/%s/%s.seg.nrrd", pid, tid);
		snprintf(stored, sizeof(stored), "storage:%s", key);
		rc = storage_put(sd->db, key, "application/octet-stream", buf, len, 0, NULL);
		if (rc < 0)
			snprintf(sd->err, sd->errlen, "cannot store the medical mask of task %s",
				 tid);
	}
	if (!rc) {
		sqlite3_bind_text(set, 1, stored, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(set, 2, tid, -1, SQLITE_TRANSIENT);
		rc = step_done(sd, set);
	}
	sqlite3_finalize(set);
	free(buf);
	return rc;
}

static int seed_demo(struct seeder *sd)
{
	struct demo_project *p;
	const char *pid;
	char ext_dup[25];
	int rc = 0;

	for (p = demo_projects; p->name && !rc; p++) {
		json_t *doc = demo_project_doc(p);

		pid = json_string_value(json_object_get(doc, "_id"));
		rc = add_project(sd, doc, p->acl);
		if (!rc)
			rc = add_tasks(sd, doc, p->kind, 0, p->ntasks, p->ext_fmt, p->url_fmt,
				       p->stages,
				       p->ontology ? seed_vehicle_answer : seed_street_answer);
		if (!rc && p->index == 6)
			rc = set_task_types(sd, pid);
		if (!rc && p->index == 7)
			rc = add_photos(sd, pid, p->ntasks);
		if (!rc && p->index == 1) {
			rc = add_masks(sd, pid, p->kind + 1, p->ntasks);
			rc = rc ? rc : add_medical_mask(sd, pid, p->kind + 1);
			rc = rc ? rc
				: add_issue(sd, pid, p->kind + 1, 5, 1,
					    "Box is too loose around the car", "Open");
			rc = rc ? rc
				: add_issue(sd, pid, p->kind + 1, 16, 2, "Missing pedestrian",
					    "Open");
			rc = rc ? rc
				: add_issue(sd, pid, p->kind + 1, 27, 3, "Lane line ends too early",
					    "Resolved");
			rc = rc ? rc
				: add_issue(sd, pid, p->kind + 1, 38, 4, "Wrong weather class",
					    "Open");
			rc = rc ? rc
				: add_attachment(sd, pid, p->kind, 1, "TEXT",
						 "Captured with dashcam firmware 2.1");
			rc = rc ? rc
				: add_attachment(sd, pid, p->kind, 2, "IMAGE",
						 "https://storage.example.com/street-scenes/"
						 "street_0002_depth.png");
			rc = rc ? rc
				: add_attachment(sd, pid, p->kind, 3, "VIDEO",
						 "https://storage.example.com/street-scenes/"
						 "street_0003_clip.mp4");
			/* two assets sharing one externalId, as real workspaces have */
			make_id(ext_dup, p->kind, (uint64_t)p->ntasks);
			if (!rc) {
				sqlite3_stmt *st =
				    db_prep(sd->db, "UPDATE assets SET external_id = "
						    "'street_0001.jpg' WHERE id = ?");
				if (!st)
					rc = -EIO;
				else {
					sqlite3_bind_text(st, 1, ext_dup, -1, SQLITE_STATIC);
					rc = step_done(sd, st);
					sqlite3_finalize(st);
				}
			}
		}
		json_decref(doc);
	}
	return rc;
}

static int seed_synthetic(struct seeder *sd, unsigned long long n)
{
	json_t *doc = synthetic_project_doc(n);
	static const char *const stages[4] = {"Start", "Label", DEMO_REVIEW_ID, "Complete"};
	const char *pid = json_string_value(json_object_get(doc, "_id"));
	char url_fmt[96], fam[96], gen[96];
	sqlite3_stmt *st;
	int rc;

	/* pictures generated on request: one public family row for all N
	 * (storage.c), asset i = the street picture of its seeded answer */
	snprintf(url_fmt, sizeof(url_fmt), "storage+public:assets/%s/%%s", pid);
	snprintf(fam, sizeof(fam), "assets/%s/synthetic_*", pid);
	snprintf(gen, sizeof(gen), "street+%llu:%llu:1920x1080", n << 24, n);
	rc = add_project(sd, doc, NULL);
	if (!rc)
		rc = add_tasks(sd, doc, 40, n << 24, n, "synthetic_%07llu.jpg", url_fmt, stages,
			       seed_street_answer);
	st = rc ? NULL
		: db_prep(sd->db, "INSERT OR REPLACE INTO objects(key, project_id, type, ctype, "
				  "size, public, created_ms, gen) VALUES(?, ?, 'assets', "
				  "'image/png', 0, 1, ?, ?)");
	if (!rc && !st)
		rc = -EIO;
	if (st) {
		sqlite3_bind_text(st, 1, fam, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, pid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, BASE_MS);
		sqlite3_bind_text(st, 4, gen, -1, SQLITE_STATIC);
		rc = step_done(sd, st);
		sqlite3_finalize(st);
	}
	json_decref(doc);
	return rc;
}

int seed_run(const char *spec, char *err, size_t errlen)
{
	struct seeder sd = {0};
	unsigned long long n = 0;
	char name[64], *end;
	int rc;

	if (!strcmp(spec, "demo")) {
		strcpy(name, "demo");
	} else if (!strcmp(spec, "hostile")) {
		strcpy(name, "hostile");
	} else if (!strncmp(spec, "synthetic:", 10)) {
		n = strtoull(spec + 10, &end, 10);
		if (*end || !spec[10] || n < 1 || n > 10000000) {
			snprintf(err, errlen, "expected synthetic:N with N in 1..10000000");
			return -EINVAL;
		}
		snprintf(name, sizeof(name), "synthetic:%llu", n);
	} else {
		snprintf(err, errlen, "unknown seed \"%s\" (use demo, hostile or synthetic:N)",
			 spec);
		return -EINVAL;
	}
	sd.db = db_acquire();
	sd.err = err;
	sd.errlen = errlen;
	if (db_exec(sd.db, "BEGIN IMMEDIATE") < 0) {
		snprintf(err, errlen, "cannot start a transaction");
		db_release(sd.db);
		return -EIO;
	}
	rc = db_seed_done(sd.db, name);
	if (rc != 0) { /* already seeded (1) or error (<0) */
		db_exec(sd.db, "ROLLBACK");
		db_release(sd.db);
		if (rc < 0)
			snprintf(err, errlen, "cannot read the seeds table");
		return rc < 0 ? rc : 0;
	}
	rc = prepare(&sd);
	if (!rc)
		rc = n				? seed_synthetic(&sd, n)
		     : !strcmp(name, "hostile") ? seed_hostile(sd.db, err, errlen)
						: seed_demo(&sd);
	if (!rc)
		rc = db_seed_mark(sd.db, name);
	finalize_all(&sd);
	if (rc || db_exec(sd.db, "COMMIT") < 0) {
		db_exec(sd.db, "ROLLBACK");
		if (!rc)
			snprintf(err, errlen, "commit failed");
		rc = -EIO;
	} else {
		/* a big seed leaves a WAL as large as the data: fold it back now */
		sqlite3_wal_checkpoint_v2(sd.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	}
	db_release(sd.db);
	return rc;
}
