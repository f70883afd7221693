/*
 * seed_hostile.c - "--seed hostile": a workspace whose server-side data is
 * hostile to a filesystem client (issue 6, item 4). Deterministic like the
 * other seeds (ids from make_id(HOSTILE_KIND, n)), so tests rely on it.
 *
 * Design: every project is a copy of a small street-ontology project document
 * (demo_project_doc) with one hostile property swapped in, so each test can
 * point at the one property it checks and the rest behaves normally:
 *   names      with '/', "..", ".", "", control characters, an embedded NUL
 *              (stored as \u0000 JSON text), 10,000 characters (twice, same
 *              prefix), names that collide once sanitized ("a/b" vs "a_b"),
 *              the reserved ".status", and non-ASCII text;
 *   stages and batches with the same kinds of names (project "Hostile Stages");
 *   one project with a 1 MiB description and a 1,000-deep nested array
 *              ("Hostile Deep");
 *   two tasks per project, one with a hostile externalId ("../../etc/passwd").
 * Names are listed in docs/HUB.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seed_data.h"

#define HOSTILE_INDEX 100 /* project ids make_id(1, 100 + i), clear of the demo */
#define DEEP_LEVELS 1000
#define BIG_DESC (1 << 20)

struct hname {
	const char *name;
	size_t len; /* 0: strlen */
};

static const char nul_name[] = "nul\0byte";

static int insert_project(sqlite3 *db, json_t *doc, char *err, size_t errlen)
{
	sqlite3_stmt *st = db_prep(db, "INSERT INTO projects(id, name, created_ms, acl, doc) "
				       "VALUES(?, ?, ?, NULL, ?)");
	char *text = json_dumps(doc, JSON_COMPACT);
	int64_t t = 0;
	int rc = 0;

	if (!st || !text) {
		snprintf(err, errlen, "hostile seed: cannot prepare a project");
		free(text);
		sqlite3_finalize(st);
		return -EIO;
	}
	parse_iso(json_string_value(json_object_get(doc, "createdAt")), &t);
	sqlite3_bind_text(st, 1, json_string_value(json_object_get(doc, "_id")), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, json_string_value(json_object_get(doc, "name")), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, t);
	sqlite3_bind_text(st, 4, text, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "hostile seed: %s", sqlite3_errmsg(db));
		rc = -EIO;
	}
	sqlite3_finalize(st);
	free(text);
	return rc;
}

static int insert_tasks(sqlite3 *db, const char *pid, unsigned n, char *err, size_t errlen)
{
	static const char *ext[2] = {"../../etc/passwd", "plain_0001.jpg"};
	sqlite3_stmt *a = db_prep(db, "INSERT INTO assets(id, project_id, external_id, url, "
				      "metadata, batches, created_ms) VALUES(?, ?, ?, ?, "
				      "'{\"width\":640,\"height\":480}', '[]', ?)");
	sqlite3_stmt *t =
	    db_prep(db, "INSERT INTO tasks(id, project_id, asset_id, stage_id, "
			"status, answer, created_ms, updated_ms, updated_by, priority, "
			"duration_ms) VALUES(?, ?, ?, 'Label', 'TODO', NULL, ?, ?, "
			"'admin@example.com', 0, 0)");
	char aid[25], tid[25], url[128];
	int rc = 0;

	for (unsigned i = 0; i < 2 && a && t && !rc; i++) {
		int64_t when = 1736154000000LL + (int64_t)(n * 2 + i) * 60000;

		make_id(aid, 71, n * 2 + i);
		make_id(tid, 72, n * 2 + i);
		snprintf(url, sizeof(url), "https://storage.example.com/hostile/%u-%u.jpg", n, i);
		sqlite3_bind_text(a, 1, aid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(a, 2, pid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(a, 3, ext[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(a, 4, url, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(a, 5, when);
		sqlite3_bind_text(t, 1, tid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(t, 2, pid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(t, 3, aid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(t, 4, when);
		sqlite3_bind_int64(t, 5, when);
		if (sqlite3_step(a) != SQLITE_DONE || sqlite3_step(t) != SQLITE_DONE)
			rc = -EIO;
		sqlite3_reset(a);
		sqlite3_reset(t);
	}
	if (!a || !t || rc)
		snprintf(err, errlen, "hostile seed: cannot insert tasks: %s", sqlite3_errmsg(db));
	sqlite3_finalize(a);
	sqlite3_finalize(t);
	return (!a || !t) ? -EIO : rc;
}

/* Insert project doc (taken: freed) and its n-th task set; 0, or as
 * insert_project/insert_tasks fail (err set). */
static int insert_project_tasks(sqlite3 *db, json_t *doc, unsigned n, char *err, size_t errlen)
{
	int rc = insert_project(db, doc, err, errlen);

	if (!rc)
		rc = insert_tasks(db, json_string_value(json_object_get(doc, "_id")), n, err,
				  errlen);
	json_decref(doc);
	return rc;
}

/* A street-ontology project document with index i and the given name. */
static json_t *base_doc(unsigned i, const struct hname *n)
{
	struct demo_project p = {
	    .index = HOSTILE_INDEX + (int)i,
	    .name = "x",
	    .description = "Hostile server data (angofs-hub --seed hostile)",
	    .kind = 71,
	    .stages = {"Start", "Label", NULL, "Complete"},
	    .batches = {"Batch A", "Batch B", NULL, NULL},
	    .created = "2025-03-01T08:00:00.000Z",
	};
	json_t *doc = demo_project_doc(&p);
	char created[32];

	snprintf(created, sizeof(created), "2025-03-01T08:%02u:00.000Z", i % 60);
	json_object_set_new(doc, "createdAt", json_string(created));
	json_object_set_new(doc, "name", json_stringn(n->name, n->len ? n->len : strlen(n->name)));
	return doc;
}

static void rename_list(json_t *arr, const struct hname *names, size_t n)
{
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o)
	{
		const struct hname *h = &names[i % n];
		json_object_set_new(o, "name",
				    json_stringn(h->name, h->len ? h->len : strlen(h->name)));
	}
}

int seed_hostile(sqlite3 *db, char *err, size_t errlen)
{
	static char long_a[10001], long_b[10001];
	struct hname names[] = {
	    {"slash/in/name", 0},
	    {"..", 0},
	    {".", 0},
	    {"", 0},
	    {"tab\there\nnewline\x01\x1b[31mred\x7f", 0},
	    {nul_name, sizeof(nul_name) - 1},
	    {long_a, 0},
	    {long_b, 0},
	    {"a/b", 0},
	    {"a_b", 0},
	    {".status", 0},
	    {"\xc3\x9c"
	     "n\xc3\xaf"
	     "c\xc3\xb8"
	     "d\xc3\xa9 \xf0\x9f\x9a\x97",
	     0}, /* Ünïcødé 🚗 */
	};
	const size_t nn = sizeof(names) / sizeof(names[0]);
	struct hname sub_names[] = {
	    {"/", 0}, {"..", 0}, {"a/b", 0}, {long_a, 0}, {"ctl\x01\x02", 0}, {"Label", 0},
	};
	json_t *doc;
	unsigned i;
	int rc = 0;

	memset(long_a, 'L', 10000);
	memset(long_b, 'L', 10000);
	long_b[9999] = 'M'; /* same first 9999 characters */
	for (i = 0; i < nn && !rc; i++) {
		doc = base_doc(i, &names[i]);
		rc = insert_project_tasks(db, doc, i, err, errlen);
	}
	if (rc)
		return rc;
	/* hostile stage and batch names (ids stay sane: tasks refer to them) */
	{
		struct hname n = {"Hostile Stages", 0};
		doc = base_doc(i++, &n);
		rename_list(json_object_get(doc, "stages"), sub_names, 6);
		json_array_append_new(json_object_get(doc, "batches"),
				      json_pack("{s:s,s:s}", "_id", "b-extra", "name", ".."));
		rename_list(json_object_get(doc, "batches"), sub_names + 1, 5);
		rc = insert_project_tasks(db, doc, i, err, errlen);
	}
	if (rc)
		return rc;
	/* a big description and a deeply nested value in the project document */
	{
		struct hname n = {"Hostile Deep", 0};
		char *desc = malloc(BIG_DESC + 1);
		json_t *deep = json_array(), *inner = deep;

		if (!desc) {
			snprintf(err, errlen, "out of memory");
			json_decref(deep);
			return -ENOMEM;
		}
		for (int k = 0; k < BIG_DESC; k++)
			desc[k] = (char)('a' + k % 26);
		desc[BIG_DESC] = 0;
		for (int d = 1; d < DEEP_LEVELS; d++) {
			json_t *next = json_array();
			json_array_append_new(inner, next);
			inner = next;
		}
		json_array_append_new(inner, json_string("bottom"));
		doc = base_doc(i++, &n);
		json_object_set_new(doc, "description", json_string(desc));
		json_object_set_new(doc, "deep", deep);
		free(desc);
		rc = insert_project_tasks(db, doc, i, err, errlen);
	}
	return rc;
}
