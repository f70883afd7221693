/*
 * db.c - SQLite storage of angofs-hub: schema, connection pool, and the few
 * shared row -> JSON conversions.
 *
 * Data model (all ids are 24-hex ObjectId-like strings):
 *   projects(id, name, created_ms, acl, doc)   doc = the Project JSON (name,
 *       categorySchema, stages, batches, ...). acl NULL = every key may see
 *       it; otherwise a comma list of keys ("" = nobody: the 403 project).
 *   assets(seq, id, project_id, external_id, url, metadata, batches, ...)
 *       batches = JSON array of batch ids (a task's batches are its asset's);
 *       upload_local = POST /cloud's uploadLocal (1 for seeded assets),
 *       storage = the item's storage id (shown in asset lists as "storage").
 *   tasks(seq, id, project_id, asset_id, stage_id, status, answer, ...)
 *       answer = stored form {"tools","classifications","relations"}.
 *   stage_history(task_seq, idx, stage_id, ...)  snapshots when a task left a stage.
 *       brush_url/medical_brush_url = the task's masks ("storage:<key>" or a URL).
 *   issues, attachments, exports (download tokens), seeds (idempotency marker),
 *   meta (the URL signing secret), objects (storage.c).
 * Times are epoch milliseconds (indexed, compared numerically); the API shows
 * them as ISO strings. WAL mode + a pool of connections: each request takes
 * one connection for its lifetime, so long export cursors run beside writes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubd.h"

#define POOL_MAX 16

static struct {
	sqlite3 *conn[POOL_MAX];
	int busy[POOL_MAX];
	int n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static const char *schema_sql =
    "CREATE TABLE IF NOT EXISTS projects(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, acl TEXT, doc TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS assets(seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
    " project_id TEXT NOT NULL, external_id TEXT, url TEXT, metadata TEXT,"
    " batches TEXT NOT NULL DEFAULT '[]', is_prelabeled INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS assets_proj ON assets(project_id, external_id);"
    "CREATE INDEX IF NOT EXISTS assets_url ON assets(project_id, url);"
    "CREATE TABLE IF NOT EXISTS tasks(seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
    " project_id TEXT NOT NULL, asset_id TEXT NOT NULL, stage_id TEXT NOT NULL,"
    " status TEXT NOT NULL, answer TEXT, created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL, updated_by TEXT, assignee TEXT,"
    " priority INTEGER NOT NULL DEFAULT 0, duration_ms INTEGER NOT NULL DEFAULT 0,"
    " task_type TEXT NOT NULL DEFAULT 'default', completed_ms INTEGER, completed_by TEXT);"
    "CREATE INDEX IF NOT EXISTS tasks_proj ON tasks(project_id, seq);"
    "CREATE INDEX IF NOT EXISTS tasks_asset ON tasks(asset_id);"
    "CREATE INDEX IF NOT EXISTS tasks_stage ON tasks(project_id, stage_id, seq);"
    "CREATE INDEX IF NOT EXISTS tasks_created ON tasks(project_id, created_ms, seq);"
    "CREATE INDEX IF NOT EXISTS tasks_updated ON tasks(project_id, updated_ms, seq);"
    /* counts of GET /project/{id}/tasks by taskTypes and stage: covering */
    "CREATE INDEX IF NOT EXISTS tasks_type ON tasks(project_id, task_type, stage_id);"
    "CREATE TABLE IF NOT EXISTS stage_history(task_seq INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " stage_id TEXT NOT NULL, duration_ms INTEGER, completed_ms INTEGER, completed_by TEXT,"
    " answer TEXT, PRIMARY KEY(task_seq, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS issues(seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,"
    " project_id TEXT NOT NULL, task_id TEXT NOT NULL, content TEXT, status TEXT,"
    " created_by TEXT, created_ms INTEGER, position TEXT);"
    "CREATE INDEX IF NOT EXISTS issues_proj ON issues(project_id, seq);"
    "CREATE TABLE IF NOT EXISTS attachments(seq INTEGER PRIMARY KEY, project_id TEXT NOT NULL,"
    " asset_id TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, created_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS attachments_asset ON attachments(asset_id);"
    "CREATE TABLE IF NOT EXISTS exports(token TEXT PRIMARY KEY, path TEXT NOT NULL,"
    " name TEXT NOT NULL, project_id TEXT, created_ms INTEGER, expires_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS seeds(name TEXT PRIMARY KEY, applied_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS objects(key TEXT PRIMARY KEY, project_id TEXT NOT NULL,"
    " type TEXT NOT NULL, ctype TEXT NOT NULL, size INTEGER NOT NULL, public INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, gen TEXT);";

/* Columns added after the first release: added to an older database on open. */
static const char *const added_columns[][2] = {
    {"tasks", "brush_url TEXT"},
    {"tasks", "medical_brush_url TEXT"},
    {"issues", "error_codes TEXT"},
    /* POST /cloud's uploadLocal: 1 = the media is in the hub's storage
     * (seeded assets too), 0 = an external reference (strict: shown as sent) */
    {"assets", "upload_local INTEGER NOT NULL DEFAULT 1"},
    /* the item's "storage" (the SDK sets it for an integrated bucket) */
    {"assets", "storage TEXT"},
};

static int migrate(sqlite3 *db)
{
	for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++) {
		char sql[256], name[64];
		sqlite3_stmt *st;
		int have = 0;

		sscanf(added_columns[i][1], "%63s", name);
		snprintf(sql, sizeof(sql),
			 "SELECT 1 FROM pragma_table_info('%s') WHERE name = '%s'",
			 added_columns[i][0], name);
		st = db_prep(db, sql);
		if (!st)
			return -EIO;
		have = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s", added_columns[i][0],
			 added_columns[i][1]);
		if (!have && db_exec(db, sql) < 0)
			return -EIO;
	}
	return 0;
}

static sqlite3 *open_one(const char *path, char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(errbuf, errlen, "cannot open database %s: %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 60000);
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
	return db;
}

int db_open_pool(const char *path, int nconn, char *errbuf, size_t errlen)
{
	char *msg = NULL;
	int i;

	if (nconn > POOL_MAX)
		nconn = POOL_MAX;
	for (i = 0; i < nconn; i++) {
		pool.conn[i] = open_one(path, errbuf, errlen);
		if (!pool.conn[i]) {
			db_close_pool();
			return -EIO;
		}
		pool.n = i + 1;
		if (i == 0 &&
		    sqlite3_exec(pool.conn[0], schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(errbuf, errlen, "cannot create schema in %s: %s", path,
				 msg ? msg : "?");
			sqlite3_free(msg);
			db_close_pool();
			return -EIO;
		}
		if (i == 0 && migrate(pool.conn[0]) < 0) {
			snprintf(errbuf, errlen, "cannot upgrade the schema of %s", path);
			db_close_pool();
			return -EIO;
		}
	}
	return 0;
}

void db_close_pool(void)
{
	int i;

	pthread_mutex_lock(&pool.mu);
	for (i = 0; i < pool.n; i++) {
		sqlite3_close_v2(pool.conn[i]);
		pool.conn[i] = NULL;
	}
	pool.n = 0;
	pthread_mutex_unlock(&pool.mu);
}

sqlite3 *db_acquire(void)
{
	sqlite3 *db = NULL;
	int i;

	pthread_mutex_lock(&pool.mu);
	while (!db && pool.n) {
		for (i = 0; i < pool.n; i++) {
			if (!pool.busy[i]) {
				pool.busy[i] = 1;
				db = pool.conn[i];
				break;
			}
		}
		if (!db)
			pthread_cond_wait(&pool.cv, &pool.mu);
	}
	pthread_mutex_unlock(&pool.mu);
	return db;
}

void db_release(sqlite3 *db)
{
	int i;

	if (!db)
		return;
	pthread_mutex_lock(&pool.mu);
	for (i = 0; i < pool.n; i++)
		if (pool.conn[i] == db)
			pool.busy[i] = 0;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

sqlite3_stmt *db_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "angofs-hub: SQL error: %s in: %.200s\n", sqlite3_errmsg(db), sql);
		return NULL;
	}
	return st;
}

int db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "angofs-hub: SQL error: %s in: %.200s\n", msg ? msg : "?", sql);
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

int db_project_load(sqlite3 *db, const char *id, json_t **doc, char **acl)
{
	sqlite3_stmt *st = db_prep(db, "SELECT doc, acl FROM projects WHERE id = ?");
	int rc = -ENOENT;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*doc = json_loads((const char *)sqlite3_column_text(st, 0), JSON_ALLOW_NUL, NULL);
		if (acl)
			*acl = sqlite3_column_type(st, 1) == SQLITE_NULL
				   ? NULL
				   : strdup((const char *)sqlite3_column_text(st, 1));
		rc = *doc ? 0 : -EIO;
	}
	sqlite3_finalize(st);
	return rc;
}

int project_visible(const char *acl, const char *key)
{
	const char *p;
	size_t kl;

	if (!acl)
		return 1;
	if (!key || !*key)
		return 0;
	kl = strlen(key);
	for (p = acl; *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == kl && !strncmp(p, key, l))
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

json_t *project_stage(json_t *doc, const char *stage_id)
{
	json_t *stages = json_object_get(doc, "stages"), *s;
	size_t i;

	json_array_foreach(stages, i, s)
	{
		const char *id = json_string_value(json_object_get(s, "id"));
		if (id && stage_id && !strcmp(id, stage_id))
			return s;
	}
	return NULL;
}

const char *stage_name(json_t *doc, const char *stage_id)
{
	json_t *s = project_stage(doc, stage_id);
	const char *n = s ? json_string_value(json_object_get(s, "name")) : NULL;

	return n ? n : stage_id;
}

const char *project_batch_id(json_t *doc, const char *id_or_name)
{
	json_t *b;
	size_t i;

	json_array_foreach(json_object_get(doc, "batches"), i, b)
	{
		const char *id = json_string_value(json_object_get(b, "_id"));
		const char *nm = json_string_value(json_object_get(b, "name"));
		if ((id && !strcmp(id, id_or_name)) || (nm && !strcmp(nm, id_or_name)))
			return id;
	}
	return NULL;
}

const char *batch_filter_id(json_t *doc, const char *value, const char *what, char *err,
			    size_t errlen)
{
	const char *id = project_batch_id(doc, value);

	if (id && g_opts.strict && strcmp(id, value)) {
		/* strict: hub-api.md §1.1, the SDK sends batch ids */
		snprintf(err, errlen,
			 "Invalid %s: batch \"%s\" is a batch name; batch filters take batch ids "
			 "(its id is %s)",
			 what, value, id);
		return NULL;
	}
	if (!id)
		snprintf(err, errlen, "Unknown batch in %s: %s", what, value);
	return id;
}

const char *project_batch_name(json_t *doc, const char *id)
{
	json_t *b;
	size_t i;

	json_array_foreach(json_object_get(doc, "batches"), i, b)
	{
		const char *bid = json_string_value(json_object_get(b, "_id"));
		if (bid && !strcmp(bid, id))
			return json_string_value(json_object_get(b, "name"));
	}
	return NULL;
}

static json_t *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? json_string((const char *)t) : json_null();
}

static json_t *col_time(sqlite3_stmt *st, int i)
{
	char buf[32];

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	fmt_iso(sqlite3_column_int64(st, i), buf);
	return json_string(buf);
}

static json_t *col_json(sqlite3_stmt *st, int i, json_t *dflt)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	json_t *j = t ? json_loads(t, 0, NULL) : NULL;

	if (j) {
		json_decref(dflt);
		return j;
	}
	return dflt;
}

json_t *task_json_from_row(sqlite3_stmt *st, json_t *pdoc, int with_answer)
{
	json_t *t = json_object();
	const char *stage = (const char *)sqlite3_column_text(st, 3);

	json_object_set_new(t, "_id", col_str(st, 0));
	json_object_set_new(t, "project", col_str(st, 1));
	json_object_set_new(t, "asset", col_str(st, 2));
	json_object_set_new(t, "externalId", col_str(st, 15));
	json_object_set_new(
	    t, "data",
	    storage_render_json(sqlite3_db_handle(st), (const char *)sqlite3_column_text(st, 16)));
	json_object_set_new(t, "stage", col_str(st, 3));
	json_object_set_new(t, "stageName", json_string(stage_name(pdoc, stage)));
	json_object_set_new(t, "status", col_str(st, 4));
	json_object_set_new(t, "assignee", col_str(st, 9));
	json_object_set_new(t, "batches", col_json(st, 17, json_array()));
	json_object_set_new(t, "priority", json_integer(sqlite3_column_int64(st, 10)));
	json_object_set_new(t, "taskType", col_str(st, 12));
	json_object_set_new(
	    t, "isBenchmark",
	    json_boolean(sqlite3_column_text(st, 12) &&
			 !strcmp((const char *)sqlite3_column_text(st, 12), "benchmark")));
	json_object_set_new(t, "createdAt", col_time(st, 6));
	json_object_set_new(t, "updatedAt", col_time(st, 7));
	json_object_set_new(t, "updatedBy", col_str(st, 8));
	json_object_set_new(t, "completedAt", col_time(st, 13));
	json_object_set_new(t, "completedBy", col_str(st, 14));
	json_object_set_new(t, "duration", json_real(sqlite3_column_int64(st, 11) / 1000.0));
	for (int c = 20; c <= 21; c++) {
		const char *v = (const char *)sqlite3_column_text(st, c);
		/* strict: a task shows its mask URLs as stored, unsigned (masks.c) */
		char *u = g_opts.strict ? storage_render_bare(v)
					: storage_render(sqlite3_db_handle(st), v);
		if (u)
			json_object_set_new(t, c == 20 ? "brushDataUrl" : "medicalBrushDataUrl",
					    json_string(u));
		free(u);
	}
	if (with_answer) {
		json_t *empty =
		    json_pack("{s:[],s:[],s:[]}", "tools", "classifications", "relations");
		json_object_set_new(t, "answer", col_json(st, 5, empty));
	}
	return t;
}

const char *const asset_match_where[3] = {
    "project_id = ?1 AND id = ?2",
    "project_id = ?1 AND external_id = ?2",
    "project_id = ?1 AND (url = ?2 OR external_id = ?2)",
};

int item_match_kind(json_t *item, const char **value)
{
	static const char *keys[3] = {"assetId", "externalId", "data"};

	for (int k = 0; k < 3; k++) {
		*value = json_string_value(json_object_get(item, keys[k]));
		if (*value)
			return k;
	}
	return -1;
}

int db_seed_done(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = db_prep(db, "SELECT 1 FROM seeds WHERE name = ?");
	int done;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	done = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return done;
}

int db_seed_mark(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st =
	    db_prep(db, "INSERT OR IGNORE INTO seeds(name, applied_ms) VALUES(?, ?)");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms());
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return rc;
}
