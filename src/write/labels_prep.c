/*
 * labels_prep.c - validation, normalization and chunking of drop-box files.
 *
 * Design: one streaming pass. The splitter (labels_parse.c) hands over one
 * item at a time; each is normalized (export record -> label item with schemaIds
 * mapped by title; "tools" -> "objects"; an "answer"-wrapped label item made
 * flat, as the SDK's items under jsonContent are (hub-api.md §5.6); attachment
 * request bodies unpacked),
 * checked, serialized compactly as one line of the items file (a flat item
 * with nothing to normalize keeps the bytes it was written with, which
 * parsed as that very item: no second serialization), and assigned to
 * the current chunk. Problems are collected (not fatal) so the user sees them
 * all; a syntax error ends the pass. If anything was wrong the items file is
 * simply not used: nothing is sent unless every item before it was good.
 * Streaming (prep_labels_stream): a closed chunk of NDJSON label items is
 * handed over while the rest of the file is still being read, so its request
 * can go out meanwhile; other forms hand their chunks over at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "angofs/sysutil.h"
#include "assets_items.h"
#include "labels_prep.h"

struct pctx {
	enum drop_kind kind;
	struct schema *s;
	int out_fd;
	long max_items;
	size_t max_bytes;
	struct prep_result *res;
	off_t out_off;
	long n; /* items written */
	struct prep_chunk cur;
	size_t cap;
	struct ao_err *err;
	char *wbuf; /* write buffer */
	size_t wlen;
	int lines_fd;
	long long lbuf[4096]; /* source lines of items, written to lines_fd */
	size_t llen;
	const struct prep_stream *st; /* NULL: no streaming */
	size_t released;	      /* chunks handed to st->chunk */
	enum lp_form form_now;	      /* the input's form as known so far */
};

#define WBUF_SIZE (1 << 20)

static int wflush(struct pctx *x)
{
	int r = ao_sys_write_all(x->out_fd, x->wbuf, x->wlen);

	if (r < 0)
		return ao_errf(x->err, -r, "writing the spool: %s", strerror(-r));
	x->wlen = 0;
	return 0;
}

static int lflush(struct pctx *x)
{
	int r = x->lines_fd < 0
		    ? 0
		    : ao_sys_write_all(x->lines_fd, x->lbuf, x->llen * sizeof(x->lbuf[0]));

	if (r < 0)
		return ao_errf(x->err, -r, "writing the spool: %s", strerror(-r));
	x->llen = 0;
	return 0;
}

static int close_chunk(struct pctx *x)
{
	struct prep_result *r = x->res;

	if (!x->cur.count)
		return 0;
	if (r->nchunks == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 16;
		struct prep_chunk *nb = realloc(r->chunks, nc * sizeof(*nb));

		if (!nb)
			return ao_errf(x->err, ENOMEM, "out of memory");
		r->chunks = nb;
		x->cap = nc;
	}
	r->chunks[r->nchunks++] = x->cur;
	memset(&x->cur, 0, sizeof(x->cur));
	return 0;
}

/* Hand the closed chunks not handed over yet to the stream's callback, their
 * items and lines written first (the caller reads them from the files). */
static int release(struct pctx *x)
{
	int r;

	if (!x->st || x->released == x->res->nchunks)
		return 0;
	if ((r = wflush(x)) < 0 || (r = lflush(x)) < 0)
		return r;
	for (; x->released < x->res->nchunks; x->released++) {
		r = x->st->chunk(x->st->ud, x->released, &x->res->chunks[x->released]);
		if (r < 0)
			return ao_errf(x->err, -r, "preparing the file: stopped (%s)",
				       strerror(-r));
	}
	return 0;
}

/* May chunks go before the end of the file? Label items in NDJSON, all good
 * so far, none converted from an export record (WRITES.md says why). */
static int stream_now(const struct pctx *x)
{
	return x->st && x->kind == DK_LABELS && x->form_now == LP_NDJSON && !x->res->rep.count &&
	       !x->res->rep.nunmapped && !x->res->export_records;
}

/* Does the current chunk end before the next item (n bytes)? */
static int chunk_full(const struct pctx *x, size_t n)
{
	size_t ci = x->res->nchunks;

	if (!x->cur.count)
		return 0;
	if (x->st && ci < x->st->nbounds)
		return x->cur.count >= x->st->bounds[ci];
	return x->cur.count >= x->max_items || x->cur.len + n + 1 + 256 > x->max_bytes;
}

/* Add one item's compact text (s, n bytes, no newline) to the items file
 * and the current chunk. */
static int emit_text(struct pctx *x, const char *s, size_t n, long line)
{
	int r;

	if (chunk_full(x, n)) {
		if ((r = close_chunk(x)) < 0 || (stream_now(x) && (r = release(x)) < 0))
			return r;
	}
	if (!x->cur.count) {
		x->cur.first = x->n;
		x->cur.off = x->out_off;
		x->cur.line_first = line;
	}
	x->cur.count++;
	x->cur.len += n + 1;
	x->cur.line_last = line;
	x->n++;
	if (x->lines_fd >= 0) {
		if (x->llen == sizeof(x->lbuf) / sizeof(x->lbuf[0]) && (r = lflush(x)) < 0)
			return r;
		x->lbuf[x->llen++] = line;
	}
	x->out_off += (off_t)(n + 1);
	if (x->wlen + n + 1 > WBUF_SIZE && (r = wflush(x)) < 0)
		return r;
	if (n + 1 > WBUF_SIZE) { /* a huge item: write it directly */
		r = ao_sys_write_all(x->out_fd, s, n);
		if (r == 0)
			r = ao_sys_write_all(x->out_fd, "\n", 1);
		return r < 0 ? ao_errf(x->err, -r, "writing the spool: %s", strerror(-r)) : 0;
	}
	memcpy(x->wbuf + x->wlen, s, n);
	x->wbuf[x->wlen + n] = '\n';
	x->wlen += n + 1;
	return 0;
}

static int emit(struct pctx *x, json_t *item, long line)
{
	char *s;
	int r;

	if (x->res->rep.count) /* already refused: only keep checking */
		return 0;
	s = json_dumps(item, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!s)
		return ao_errf(x->err, ENOMEM, "out of memory");
	r = emit_text(x, s, strlen(s), line);
	free(s);
	return r;
}

/* An item sent as the user wrote it (nothing to normalize): its own bytes,
 * which parsed as this very object, spare a serialization. Only when they
 * hold no newline (the items file is one item per line). */
static int emit_raw(struct pctx *x, json_t *item, const struct lp_pos *pos)
{
	if (x->res->rep.count)
		return 0;
	if (!pos->raw || !pos->rawlen || memchr(pos->raw, '\n', pos->rawlen))
		return emit(x, item, pos->line);
	return emit_text(x, pos->raw, pos->rawlen, pos->line);
}

static int check_identity(struct pctx *x, json_t *item, const char *where)
{
	static const char *const keys[] = {"externalId", "assetId", "data", NULL};
	const char *const *k;
	int found = 0;

	for (k = keys; *k; k++) {
		json_t *v = json_object_get(item, *k);

		if (!v)
			continue;
		if (!json_is_string(v) || !json_string_length(v)) {
			sc_problem(&x->res->rep, where, "\"%s\" must be a non-empty string", *k);
			return -1;
		}
		found = 1;
	}
	if (!found) {
		sc_problem(&x->res->rep, where,
			   x->kind == DK_LABELS
			       ? "item has neither \"externalId\" nor \"assetId\" (nor \"data\"): "
				 "cannot tell which asset it labels"
			       : "item has neither \"externalId\" nor \"assetId\" (nor \"data\"): "
				 "cannot tell which asset it belongs to");
		return -1;
	}
	return 0;
}

/* "tools" -> "objects" in an answer-like object; refuse both. */
static int rename_tools(struct pctx *x, json_t *a, const char *where)
{
	json_t *t = json_object_get(a, "tools");

	if (!t)
		return 0;
	if (json_object_get(a, "objects")) {
		sc_problem(&x->res->rep, where,
			   "has both \"tools\" and \"objects\"; use one (they mean the same)");
		return -1;
	}
	json_object_set(a, "objects", t);
	json_object_del(a, "tools");
	return 0;
}

/* An Ango export record -> a flat label item. New reference or NULL. */
static json_t *from_export(struct pctx *x, json_t *rec, const char *where)
{
	json_t *task = json_object_get(rec, "task"), *out, *v;
	static const char *const ks[] = {"objects", "classifications", "relations"};
	size_t i;

	if (!task) { /* legacy format: "tasks" array, annotations under "objects" */
		json_t *tasks = json_object_get(rec, "tasks");

		task = json_array_size(tasks) ? json_array_get(tasks, json_array_size(tasks) - 1)
					      : NULL;
	}
	if (!json_is_object(task)) {
		sc_problem(&x->res->rep, where, "export record: \"task\" must be an object");
		return NULL;
	}
	out = json_object();
	if ((v = json_object_get(rec, "externalId")))
		json_object_set(out, "externalId", v);
	else if ((v = json_object_get(rec, "assetId")))
		json_object_set(out, "assetId", v);
	for (i = 0; i < 3; i++) {
		v = json_object_get(task, ks[i]);
		if (i == 0 && json_object_get(task, "tools"))
			v = json_object_get(task, "tools");
		if (json_is_array(v))
			json_object_set(out, ks[i], v);
		else
			json_object_set_new(out, ks[i], json_array());
	}
	return out;
}

/* {"externalId", "answer": {objects, ...}} -> {"externalId", objects, ...}:
 * the wrapper exists only in the docs' "labels" example; under jsonContent
 * the SDK sends flat items. it is the item's own copy (changed in place). */
static int flatten(struct pctx *x, json_t *it, json_t *ans, const char *where)
{
	static const char *const ks[] = {"objects", "classifications", "relations"};
	json_t *a = json_incref(ans);
	size_t i;

	json_object_del(it, "answer");
	for (i = 0; i < 3; i++) {
		json_t *v = json_object_get(a, ks[i]);

		if (!v)
			continue;
		if (json_object_get(it, ks[i]) || (i == 0 && json_object_get(it, "tools"))) {
			sc_problem(&x->res->rep, where,
				   "has \"%s\" both in \"answer\" and next to it; use one", ks[i]);
			json_decref(a);
			return -1;
		}
		json_object_set(it, ks[i], v);
	}
	json_decref(a);
	return 0;
}

static int label_item(struct pctx *x, json_t *item, const struct lp_pos *pos, const char *where)
{
	json_t *it = item, *ans;
	int map = 0, as_written = 0, r;

	if (json_is_object(json_object_get(item, "task")) ||
	    json_is_array(json_object_get(item, "tasks"))) {
		it = from_export(x, item, where);
		if (!it)
			return 0;
		map = 1;
		x->res->export_records++;
	} else {
		json_incref(it);
		/* flat, "objects" already: nothing below changes it */
		as_written = !json_object_get(it, "tools") && !json_object_get(it, "answer");
	}
	if (check_identity(x, it, where) < 0)
		goto out;
	ans = json_object_get(it, "answer");
	if (ans) {
		if (!json_is_object(ans)) {
			sc_problem(&x->res->rep, where, "\"answer\" must be an object");
			goto out;
		}
		if (rename_tools(x, ans, where) < 0)
			goto out;
	} else {
		if (rename_tools(x, it, where) < 0)
			goto out;
		if (!json_object_get(it, "objects") && !json_object_get(it, "classifications") &&
		    !json_object_get(it, "relations")) {
			sc_problem(&x->res->rep, where,
				   "item has no labels: expected \"objects\", \"classifications\", "
				   "\"relations\" or \"answer\"");
			goto out;
		}
		ans = it;
	}
	if (x->s)
		sc_check_answer(x->s, ans, map, where, &x->res->rep);
	if (ans != it && flatten(x, it, ans, where) < 0)
		goto out;
	r = as_written ? emit_raw(x, it, pos) : emit(x, it, pos->line);
	json_decref(it);
	return r;
out:
	json_decref(it);
	return 0;
}

static int attachment_item(struct pctx *x, json_t *item, long line, const char *where)
{
	json_t *url = json_object_get(item, "attachmentUrl");
	json_t *list = json_object_get(item, "attachments");

	if (check_identity(x, item, where) < 0)
		return 0;
	if (url) {
		json_t *t = json_object_get(item, "attachmentType");

		if (!json_is_string(url) || !json_string_length(url))
			sc_problem(&x->res->rep, where,
				   "\"attachmentUrl\" must be a non-empty string");
		else if (t && !json_is_string(t))
			sc_problem(&x->res->rep, where, "\"attachmentType\" must be a string");
	} else if (list) {
		size_t i;
		json_t *a;

		if (!json_is_array(list) || !json_array_size(list)) {
			sc_problem(&x->res->rep, where, "\"attachments\" must be a non-empty list");
			return 0;
		}
		json_array_foreach(list, i, a)
		{
			const char *ty = json_string_value(json_object_get(a, "type"));

			if (!json_is_object(a)) {
				sc_problem(&x->res->rep, where,
					   "attachments[%zu] must be an object", i);
			} else if (!ty || (strcmp(ty, "IMAGE") && strcmp(ty, "VIDEO") &&
					   strcmp(ty, "TEXT"))) {
				sc_problem(
				    &x->res->rep, where,
				    "attachments[%zu]: \"type\" must be \"IMAGE\", \"VIDEO\" "
				    "or \"TEXT\"",
				    i);
			} else if (!json_is_string(json_object_get(a, "value"))) {
				sc_problem(
				    &x->res->rep, where,
				    "attachments[%zu]: \"value\" must be a string (URL or text)",
				    i);
			}
		}
	} else {
		sc_problem(&x->res->rep, where,
			   "item has neither \"attachmentUrl\" nor \"attachments\"");
		return 0;
	}
	return emit(x, item, line);
}

static int on_item(void *ud, json_t *item, const struct lp_pos *pos, struct ao_err *err)
{
	struct pctx *x = ud;
	char where[96];

	x->form_now = pos->form;
	if (x->kind == DK_ASSETS) {
		json_t *list = json_object_get(item, "assets");
		size_t i;
		json_t *e;
		int r;

		/* {"assets":[items]}: the /cloud request body */
		if (json_is_array(list) && !json_object_get(item, "data")) {
			json_array_foreach(list, i, e)
			{
				snprintf(where, sizeof(where), "line %ld (assets[%zu])", pos->line,
					 i);
				if (assets_item_check(e, where, &x->res->rep) &&
				    (r = emit(x, e, pos->line)) < 0)
					return r;
			}
			x->res->form = LP_BODY;
			return 0;
		}
		snprintf(where, sizeof(where), "line %ld (item %ld)", pos->line, pos->index + 1);
		return assets_item_check(item, where, &x->res->rep) ? emit(x, item, pos->line) : 0;
	}
	if (x->kind == DK_ATTACHMENTS) {
		json_t *list = json_object_get(item, "attachments");

		/* {"project":..,"attachments":[items]}: a request body */
		if (json_is_array(list) && !json_object_get(item, "externalId") &&
		    !json_object_get(item, "assetId") && !json_object_get(item, "data")) {
			size_t i;
			json_t *e;
			int r;

			json_array_foreach(list, i, e)
			{
				snprintf(where, sizeof(where), "line %ld (attachments[%zu])",
					 pos->line, i);
				if (!json_is_object(e)) {
					sc_problem(&x->res->rep, where, "must be an object");
					continue;
				}
				if ((r = attachment_item(x, e, pos->line, where)) < 0)
					return r;
			}
			x->res->form = LP_BODY;
			return 0;
		}
		snprintf(where, sizeof(where), "line %ld (item %ld)", pos->line, pos->index + 1);
		return attachment_item(x, item, pos->line, where);
	}
	snprintf(where, sizeof(where), "line %ld (item %ld)", pos->line, pos->index + 1);
	return label_item(x, item, pos, where);
}

int prep_labels(int in_fd, int out_fd, int lines_fd, enum drop_kind kind, struct schema *s,
		long max_items, size_t max_bytes, struct prep_result *res, struct ao_err *err)
{
	return prep_labels_stream(in_fd, out_fd, lines_fd, kind, s, max_items, max_bytes, NULL, res,
				  err);
}

int prep_labels_stream(int in_fd, int out_fd, int lines_fd, enum drop_kind kind, struct schema *s,
		       long max_items, size_t max_bytes, const struct prep_stream *st,
		       struct prep_result *res, struct ao_err *err)
{
	static const char *const label_keys[] = {"jsonContent", "labels", NULL};
	struct lp_opts o = {kind == DK_LABELS ? label_keys : NULL, 0};
	struct pctx x;
	enum lp_form form = LP_NONE;
	long n;
	int r;

	memset(res, 0, sizeof(*res));
	sc_report_init(&res->rep);
	memset(&x, 0, sizeof(x));
	x.kind = kind;
	x.s = s;
	x.out_fd = out_fd;
	x.lines_fd = lines_fd;
	x.max_items = max_items > 0 ? max_items : PREP_MAX_ITEMS;
	x.max_bytes = max_bytes ? max_bytes : PREP_MAX_BYTES;
	x.res = res;
	x.err = err;
	x.st = st && st->chunk ? st : NULL;
	x.wbuf = malloc(WBUF_SIZE);
	if (!x.wbuf)
		return ao_errf(err, ENOMEM, "out of memory");
	if (lseek(in_fd, 0, SEEK_SET) < 0) {
		free(x.wbuf);
		return ao_errf(err, errno, "reading the spool: %s", strerror(errno));
	}
	n = lp_parse_fd(in_fd, &o, on_item, &x, &form, err);
	if (n < 0) {
		free(x.wbuf);
		return (int)n;
	}
	if (res->form == LP_NONE)
		res->form = form;
	if (res->rep.nunmapped)
		sc_report_unmapped(&res->rep);
	if (!res->rep.count && x.n == 0)
		sc_problem(&res->rep, NULL, "the file holds no items (an empty list)");
	if (res->rep.count) {
		char sum[AO_ERR_MSG_MAX];

		free(x.wbuf);
		sc_report_summary(&res->rep, sum, sizeof(sum));
		return ao_errf(err, EINVAL, "%s", sum);
	}
	r = wflush(&x);
	if (r == 0)
		r = lflush(&x);
	if (r == 0)
		r = close_chunk(&x);
	if (r == 0 && fsync(out_fd) < 0)
		r = ao_errf(err, errno, "fsync of the spool: %s", strerror(errno));
	res->items = x.n;
	if (r == 0)
		r = release(&x); /* the whole file is good: the rest goes */
	free(x.wbuf);
	return r;
}

void prep_result_free(struct prep_result *res)
{
	free(res->chunks);
	sc_report_free(&res->rep);
	memset(res, 0, sizeof(*res));
}

int prep_chunk_body(int items_fd, const struct prep_chunk *c, const char *project_id,
		    enum drop_kind kind, char **body, size_t *len, struct ao_err *err)
{
	json_t *pj = json_string(project_id);
	char *pid = pj ? json_dumps(pj, JSON_ENCODE_ANY) : NULL;
	const char *key = kind == DK_LABELS   ? "jsonContent"
			  : kind == DK_ASSETS ? "assets"
					      : "attachments";
	size_t head, cap, got = 0, i;
	char *b;

	json_decref(pj);
	if (!pid)
		return ao_errf(err, ENOMEM, "out of memory");
	cap = strlen(pid) + c->len + 96;
	b = malloc(cap);
	if (!b) {
		free(pid);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	if (kind == DK_ASSETS) /* the project is in the path */
		head = (size_t)snprintf(b, cap, "{\"%s\":[", key);
	else
		head = (size_t)snprintf(b, cap, "{\"project\":%s,\"%s\":[", pid, key);
	free(pid);
	while (got < c->len) {
		ssize_t r = pread(items_fd, b + head + got, c->len - got, c->off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(b);
			return ao_errf(err, r < 0 ? errno : EIO, "reading the spool: %s",
				       r < 0 ? strerror(errno) : "short read");
		}
		got += (size_t)r;
	}
	/* lines -> commas; the last newline goes */
	for (i = head; i < head + c->len; i++)
		if (b[i] == '\n')
			b[i] = ',';
	if (c->len)
		head += c->len - 1;
	/* /cloud: the rest of the SDK's upload_files_cloud body (its defaults:
	 * the items' URLs are the user's own, not the hub's storage) */
	head += (size_t)snprintf(b + head, cap - head, "]%s}",
				 kind == DK_ASSETS ? ",\"uploadLocal\":null,\"priority\":0" : "");
	*body = b;
	*len = head;
	return 0;
}
