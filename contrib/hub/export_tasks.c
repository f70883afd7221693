/*
 * export_tasks.c - task records of an export (hub-api.md §6.1/§6.2), written
 * as JSON text straight from the SQLite row.
 *
 * The stored answer is already JSON text in the canonical layout
 * {"tools":[..],"classifications":[..],"relations":[..]}, so its members are
 * spliced into the record as they are (minus "metadata" members unless
 * includeMetadata); strings from columns are escaped with jt_escape. Nothing
 * is parsed or re-serialized per task except the tiny batch-id list, which
 * made exports several times faster than building jansson trees. An answer
 * not in the canonical layout (never written by this server, but possible in
 * a hand-edited database) is canonicalized through jansson first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"

void w_flush(struct writer *w)
{
	if (w->len && !w->failed && archive_write_data(w->a, w->buf, w->len) < 0)
		w->failed = 1;
	w->len = 0;
}

void w_put(struct writer *w, const char *s, size_t n)
{
	if (w->len + n > WBUF)
		w_flush(w);
	if (n > WBUF) {
		if (!w->failed && archive_write_data(w->a, s, n) < 0)
			w->failed = 1;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

void w_record_begin(struct writer *w, struct exp_opts *o)
{
	if (o->json)
		w_put(w, w->records ? ",\n" : "\n", w->records ? 2 : 1);
}

void w_record_end(struct writer *w, struct exp_opts *o)
{
	if (!o->json)
		w_put(w, "\n", 1);
	w->records++;
}

static void put_cb(void *ud, const char *p, size_t n)
{
	w_put(ud, p, n);
}

static void put_lit(struct writer *w, const char *s)
{
	w_put(w, s, strlen(s));
}

static void put_str(struct writer *w, const char *s)
{
	if (s)
		jt_escape(s, put_cb, w);
	else
		put_lit(w, "null");
}

static void put_int(struct writer *w, long long v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%lld", v);

	w_put(w, b, (size_t)n);
}

static void put_time(struct writer *w, int64_t ms)
{
	char tb[32];

	fmt_iso(ms, tb);
	put_str(w, tb);
}

/* 1 if s is exactly {"tools":V,"classifications":V,"relations":V} (compact). */
static int is_canonical(const char *s, size_t len)
{
	static const char *keys[] = {"{\"tools\":", ",\"classifications\":", ",\"relations\":"};
	size_t i = 0;

	for (int k = 0; k < 3; k++) {
		size_t kl = strlen(keys[k]);

		if (len - i < kl || memcmp(s + i, keys[k], kl))
			return 0;
		i += kl;
		if (s[i] != '[')
			return 0;
		i = jt_skip_value(s, len, i);
		if (i == (size_t)-1)
			return 0;
	}
	return i + 1 == len && s[i] == '}';
}

/* Canonical text of any stored answer (malloc'd), via jansson. */
static char *canonicalize(const char *ans)
{
	static const char *keys[] = {"tools", "classifications", "relations"};
	json_t *a = json_loads(ans, 0, NULL), *c = json_object();
	char *out;

	for (int i = 0; i < 3; i++) {
		json_t *v = json_object_get(a, keys[i]);

		json_object_set_new(c, keys[i], json_is_array(v) ? json_incref(v) : json_array());
	}
	out = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(c);
	json_decref(a);
	return out;
}

/* Emit "tools":[..],"classifications":[..],"relations":[..] of a stored answer. */
static void put_answer_members(struct writer *w, const char *ans, int meta)
{
	char *canon = NULL, *stripped = NULL;
	size_t len;

	if (!ans) {
		put_lit(w, "\"tools\":[],\"classifications\":[],\"relations\":[]");
		return;
	}
	len = strlen(ans);
	if (!is_canonical(ans, len)) {
		canon = canonicalize(ans);
		if (!canon) {
			put_lit(w, "\"tools\":[],\"classifications\":[],\"relations\":[]");
			return;
		}
		ans = canon;
		len = strlen(ans);
	}
	if (!meta && jt_strip_key(ans, len, "metadata", &stripped, &len) == 0)
		ans = stripped;
	w_put(w, ans + 1, len - 2); /* without the outer braces */
	free(stripped);
	free(canon);
}

static void put_batches(struct writer *w, json_t *pdoc, const char *ids_text)
{
	json_t *ids = ids_text ? json_loads(ids_text, 0, NULL) : NULL, *v;
	size_t i;

	w_put(w, "[", 1);
	json_array_foreach(ids, i, v)
	{
		if (i)
			w_put(w, ",", 1);
		put_str(w,
			json_is_string(v) ? project_batch_name(pdoc, json_string_value(v)) : NULL);
	}
	w_put(w, "]", 1);
	json_decref(ids);
}

static void put_history(struct writer *w, sqlite3_stmt *hs, int64_t seq, json_t *pdoc,
			struct exp_opts *o, const char *task_answer)
{
	int n = 0;

	put_lit(w, ",\"stageHistory\":[");
	sqlite3_reset(hs);
	sqlite3_bind_int64(hs, 1, seq);
	while (sqlite3_step(hs) == SQLITE_ROW) {
		const char *sid = (const char *)sqlite3_column_text(hs, 0);
		const char *ans = (const char *)sqlite3_column_text(hs, 4);

		put_lit(w, n++ ? ",{\"stage\":" : "{\"stage\":");
		put_str(w, stage_name(pdoc, sid));
		put_lit(w, ",\"stageId\":");
		put_str(w, sid);
		put_lit(w, ",\"duration\":");
		put_int(w, sqlite3_column_int64(hs, 1));
		put_lit(w, ",\"completedAt\":");
		put_time(w, sqlite3_column_int64(hs, 2));
		if (sqlite3_column_text(hs, 3)) {
			put_lit(w, ",\"completedBy\":");
			put_str(w, (const char *)sqlite3_column_text(hs, 3));
		}
		w_put(w, ",", 1);
		/* a NULL snapshot (seeded history) means "as the task's answer" */
		put_answer_members(w, ans ? ans : task_answer, o->meta);
		w_put(w, "}", 1);
	}
	w_put(w, "]", 1);
}

/* A URL column as shown to clients (storage URLs signed now). */
static void put_url(struct writer *w, sqlite3_stmt *st, int col)
{
	char *u = storage_render(sqlite3_db_handle(st), (const char *)sqlite3_column_text(st, col));

	put_str(w, u);
	free(u);
}

/* ,"brushDataUrl":URL and/or ,"medicalBrushDataUrl":URL (signed now) when set. */
static void put_masks(struct writer *w, sqlite3_stmt *st)
{
	for (int c = 20; c <= 21; c++) {
		char *u =
		    storage_render(sqlite3_db_handle(st), (const char *)sqlite3_column_text(st, c));

		if (!u)
			continue;
		put_lit(w, c == 20 ? ",\"brushDataUrl\":" : ",\"medicalBrushDataUrl\":");
		put_str(w, u);
		free(u);
	}
}

int export_write_tasks(sqlite3 *db, struct writer *w, struct exp_opts *o, struct task_filter *f,
		       json_t *pdoc, char *err, size_t errlen)
{
	char where[4096], *sql = NULL;
	sqlite3_stmt *st, *hs = NULL;
	int rc = 0, step;

	task_filter_where(f, where, sizeof(where));
	if (asprintf(&sql,
		     "SELECT " TASK_COLS " FROM tasks t JOIN assets a ON a.id = t.asset_id%s "
		     "ORDER BY t.seq",
		     where) < 0)
		return -ENOMEM;
	st = db_prep(db, sql);
	free(sql);
	if (o->history)
		hs = db_prep(db, "SELECT stage_id, duration_ms, completed_ms, completed_by, answer "
				 "FROM stage_history WHERE task_seq = ? ORDER BY idx");
	if (!st || (o->history && !hs)) {
		sqlite3_finalize(st);
		snprintf(err, errlen, "database error preparing the export query");
		return -EIO;
	}
	task_filter_bind(f, st);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && !w->failed && !g_stopping) {
		const char *sid = (const char *)sqlite3_column_text(st, 3);
		const char *md = (const char *)sqlite3_column_text(st, 18);
		const char *ans = (const char *)sqlite3_column_text(st, 5);

		w_record_begin(w, o);
		put_lit(w, "{\"asset\":");
		put_url(w, st, 16);
		put_lit(w, ",\"externalId\":");
		put_str(w, (const char *)sqlite3_column_text(st, 15));
		put_lit(w, ",\"metadata\":");
		put_lit(w, md && *md == '{' ? md : "{}");
		put_lit(w, ",\"batches\":");
		put_batches(w, pdoc, (const char *)sqlite3_column_text(st, 17));
		put_lit(w, ",\"task\":{\"taskId\":");
		put_str(w, (const char *)sqlite3_column_text(st, 0));
		put_lit(w, ",\"stage\":");
		put_str(w, stage_name(pdoc, sid));
		put_lit(w, ",\"stageId\":");
		put_str(w, sid);
		put_lit(w, ",\"updatedAt\":");
		put_time(w, sqlite3_column_int64(st, 7));
		put_lit(w, ",\"updatedBy\":");
		put_str(w, (const char *)sqlite3_column_text(st, 8));
		w_put(w, ",", 1);
		put_answer_members(w, ans, o->meta);
		put_masks(w, st);
		put_lit(w, ",\"totalDuration\":");
		put_int(w, sqlite3_column_int64(st, 11));
		if (o->idle_blur)
			put_lit(w, ",\"idleDuration\":0,\"blurDuration\":0");
		if (o->history)
			put_history(w, hs, sqlite3_column_int64(st, 19), pdoc, o, ans);
		put_lit(w, "}}");
		w_record_end(w, o);
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		snprintf(err, errlen, "database error during export: %s", sqlite3_errmsg(db));
		rc = -EIO;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(hs);
	return rc;
}
