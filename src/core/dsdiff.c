/*
 * dsdiff.c - <project>/changes/<A>..<B>.ndjson and .summary.json: what
 * changed between two snapshots, or a snapshot and the live export (issue
 * 24 item 2; docs/DATASETS.md "Changes").
 *
 * Design: a diff is computed from the two export generations the sides
 * name, both already on disk (a snapshot's pinned tasks.ndjson; `live`:
 * the export cache's current generation of the whole project's NDJSON
 * export, opened like export/tasks.ndjson, so no request when it is cached
 * and fresh), never from the hub. Each side is read once, streaming, into
 * one small summary per task (its id, externalId, stage, a hash of its
 * answer, its object count and its class counts), sorted by task id; the
 * two sorted arrays are merged. A task is "added", "removed", or "changed"
 * when its stage, answer (tools, classifications, relations as canonical
 * JSON), classes or object count differ; a task whose only change is its
 * updatedAt is not listed. Classes of a task: each mark counts under its
 * tool's title (the schema's, else the record's), each answer of a
 * top-level classification as "<title>: <answer>" (so an image that moved
 * from one ImageFolder class to another shows as such).
 *
 * The result (both files' text) is kept for the last DIFF_CACHE pairs of
 * sides, keyed by the sides' identities (a snapshot's directory inode, the
 * live generation's "<hash>.<gen>"), so stat, then open, then a second
 * reader compute it once. stat never fetches: a live side that is not
 * cached and fresh shows 1 byte (unknown), as exports do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_int.h"
#include "angofs/export_cache.h"
#include "angofs/hash.h"
#include "angofs/log.h"

#define DIFF_CACHE 8

struct tsum {
	char *task, *xid, *stage;
	unsigned long long answer;
	long objects;
	json_t *classes; /* {class: count} */
};

struct side {
	char name[SNAP_NAME_MAX + 1];
	char ident[128]; /* its export generation ("<hash>.<gen>"), as snapshot.json says */
	char key[160];	 /* what the cache tells sides apart by */
	struct tsum *v;
	size_t n, cap;
};

struct diff_result {
	char key[AO_ID_MAX + 2 * 160 + 300];
	char *text[2]; /* .ndjson, .summary.json */
	size_t len[2];
};

/* ---- names ------------------------------------------------------------------------ */

/* "<A>..<B>.ndjson" / ".summary.json" -> a, b, which (0, 1); -ENOENT. */
static int parse_name(const char *name, char *a, char *b, size_t n, int *which)
{
	const char *dots = strstr(name, ".."), *ext;
	size_t len = strlen(name), el;

	if (len > 13 && !strcmp(name + len - 13, ".summary.json"))
		el = 13, *which = 1;
	else if (len > 7 && !strcmp(name + len - 7, ".ndjson"))
		el = 7, *which = 0;
	else
		return -ENOENT;
	ext = name + len - el;
	if (!dots || dots == name || dots + 2 >= ext || (size_t)(dots - name) >= n ||
	    (size_t)(ext - dots - 2) >= n)
		return -ENOENT;
	memcpy(a, name, (size_t)(dots - name));
	a[dots - name] = '\0';
	memcpy(b, dots + 2, (size_t)(ext - dots - 2));
	b[ext - dots - 2] = '\0';
	return 0;
}

static int side_exists(struct ao_core *c, const char *pid, const char *name)
{
	unsigned long long ino;
	struct ao_err e = {0};

	return !strcmp(name, "live") || snap_find(c, pid, name, &ino, &e) == 0;
}

int dsv_changes_lookup(struct ao_core *c, struct ao_node *n, const char *name, const char *path,
		       struct ao_err *err)
{
	char a[SNAP_NAME_MAX + 1], b[SNAP_NAME_MAX + 1];
	int which;

	if (strlen(name) >= sizeof(n->ds_name) || parse_name(name, a, b, sizeof(a), &which) < 0 ||
	    !strcmp(a, b))
		return ao_errf(err, ENOENT, "%s: not <A>..<B>.ndjson or .summary.json", path);
	if (!side_exists(c, n->project_id, a) || !side_exists(c, n->project_id, b))
		return ao_errf(err, ENOENT, "%s: no snapshot '%s'", path,
			       side_exists(c, n->project_id, a) ? b : a);
	snprintf(n->ds_name, sizeof(n->ds_name), "%s", name);
	n->kind = AO_N_CHANGES_FILE;
	return 0;
}

int dsv_changes_readdir(struct ao_core *c, const struct ao_node *n, const struct stat *fst,
			ao_core_fill_fn fill, void *ctx)
{
	struct snap_ent *v;
	size_t k;
	char name[2 * SNAP_NAME_MAX + 32];

	snap_list(c, n->project_id, 0, &v, &k);
	for (size_t i = 0; i < k; i++) /* each pin against the next, the newest against live */
		for (int w = 0; w < 2; w++) {
			snprintf(name, sizeof(name), "%s..%s%s", v[i].name,
				 i + 1 < k ? v[i + 1].name : "live",
				 w ? ".summary.json" : ".ndjson");
			if (fill(ctx, name, fst)) {
				free(v);
				return 0;
			}
		}
	free(v);
	return 0;
}

/* ---- one side ----------------------------------------------------------------------- */

static void side_free(struct side *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].task);
		free(s->v[i].xid);
		free(s->v[i].stage);
		json_decref(s->v[i].classes);
	}
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static void count_class(json_t *cl, const char *name)
{
	json_object_set_new(cl, name,
			    json_integer(json_integer_value(json_object_get(cl, name)) + 1));
}

/* The class counts of a task (see the head comment); titles: schemaId ->
 * the schema's tool title. */
static json_t *classes_of(const json_t *task, const json_t *titles)
{
	json_t *cl = json_object(), *t, *a;
	const json_t *tools = json_object_get(task, "tools");
	size_t i, k;
	char buf[1024];

	if (!json_is_array(tools))
		tools = json_object_get(task, "objects");
	json_array_foreach(tools, i, t)
	{
		const char *id = json_string_value(json_object_get(t, "schemaId"));
		const char *ti = json_string_value(json_object_get(titles, id ? id : ""));
		if (!ti)
			ti = json_string_value(json_object_get(t, "title"));
		count_class(cl, ti ? ti : id ? id : "?");
	}
	json_array_foreach(json_object_get(task, "classifications"), i, t)
	{
		const char *ti = json_string_value(json_object_get(t, "title"));
		const json_t *ans = json_object_get(t, "answer");
		if (!ti)
			ti = json_string_value(json_object_get(t, "schemaId"));
		if (json_is_string(ans)) {
			snprintf(buf, sizeof(buf), "%s: %s", ti ? ti : "?", json_string_value(ans));
			count_class(cl, buf);
		}
		json_array_foreach(ans, k, a) if (json_is_string(a))
		{
			snprintf(buf, sizeof(buf), "%s: %s", ti ? ti : "?", json_string_value(a));
			count_class(cl, buf);
		}
	}
	return cl;
}

static unsigned long long answer_hash(const json_t *task)
{
	json_t *a = json_pack("{s:O?,s:O?,s:O?}", "tools", json_object_get(task, "tools"),
			      "classifications", json_object_get(task, "classifications"),
			      "relations", json_object_get(task, "relations"));
	char *s = a ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	unsigned long long h = s ? ao_hash_str(s) : 0;

	free(s);
	json_decref(a);
	return h;
}

static int side_add(struct side *s, const json_t *rec, const json_t *titles)
{
	const json_t *task = json_object_get(rec, "task");
	const char *tid = json_string_value(json_object_get(task, "taskId"));

	if (!json_is_object(task) || !tid)
		return 0; /* not a task record: not compared */
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 256;
		struct tsum *nv = realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	const char *xid = json_string_value(json_object_get(rec, "externalId"));
	const char *stage = json_string_value(json_object_get(task, "stageId"));
	const json_t *tools = json_object_get(task, "tools");
	struct tsum *t = &s->v[s->n];
	t->task = strdup(tid);
	t->xid = strdup(xid ? xid : "");
	t->stage = strdup(stage ? stage : "");
	t->answer = answer_hash(task);
	t->objects =
	    (long)json_array_size(json_is_array(tools) ? tools : json_object_get(task, "objects"));
	t->classes = classes_of(task, titles);
	s->n++;
	return t->task && t->xid && t->stage && t->classes ? 0 : -ENOMEM;
}

static int cmp_task(const void *a, const void *b)
{
	return strcmp(((const struct tsum *)a)->task, ((const struct tsum *)b)->task);
}

/* schemaId -> title of every tool of a categorySchema. */
static json_t *tool_titles(const json_t *cs)
{
	json_t *m = json_object(), *t;
	size_t i;

	json_array_foreach(json_object_get(cs, "tools"), i, t)
	{
		const char *id = json_string_value(json_object_get(t, "schemaId"));
		const char *ti = json_string_value(json_object_get(t, "title"));
		if (id && ti)
			json_object_set_new(m, id, json_string(ti));
	}
	return m;
}

static int side_read(struct side *s, int fd, const json_t *cs, struct ao_err *err)
{
	int dfd = dup(fd);
	FILE *f = dfd >= 0 ? fdopen(dfd, "r") : NULL;
	json_t *titles = tool_titles(cs), *r;
	int rc;

	if (!f) {
		if (dfd >= 0)
			close(dfd);
		json_decref(titles);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	rewind(f);
	while ((rc = ao_ds_ndjson_next(f, &r, NULL, err)) == 1) {
		rc = side_add(s, r, titles);
		json_decref(r);
		if (rc < 0) {
			ao_errf(err, ENOMEM, "out of memory");
			break;
		}
	}
	fclose(f);
	json_decref(titles);
	if (rc == 0)
		qsort(s->v, s->n, sizeof(*s->v), cmp_task);
	return rc;
}

/* The side's export descriptor and schema, and its identity; live: only
 * if fetch or the export is cached and fresh (else -EAGAIN: unknown). */
static int side_open(struct ao_core *c, const char *pid, struct side *s, int fetch, int *fd,
		     json_t **cs, struct ao_err *err)
{
	if (strcmp(s->name, "live") != 0) {
		struct dsv_set set = {0};
		char dir[4096];
		unsigned long long ino;
		if (snap_find(c, pid, s->name, &ino, err) < 0 ||
		    snap_path(c, pid, s->name, dir, sizeof(dir)) < 0)
			return -ENOENT;
		set.dir = dir;
		set.snap_ino = ino;
		snprintf(set.snap, sizeof(set.snap), "%.*s", SNAP_NAME_MAX, s->name);
		snprintf(s->key, sizeof(s->key), "snapshot %llx", ino);
		snap_generation(c, pid, s->name, s->ident, sizeof(s->ident));
		return snap_source(c, &set, fd, cs, err);
	}
	struct ao_xspec whole = {.project_id = pid, .type = AO_X_TASK, .ndjson = 1};
	struct ao_xentry *x = ao_xcache_get(c->cfg.xc, &whole, err);
	struct ao_xopen o;
	if (!x)
		return -ENOMEM;
	if (!fetch && !ao_xcache_fresh(c->cfg.xc, x))
		return -EAGAIN;
	int rc = ao_xcache_open(c->cfg.xc, x, &o, err);
	if (rc < 0)
		return rc;
	rc = ao_xcache_fd_ident(c->cfg.xc, x, o.fd, s->ident, sizeof(s->ident));
	snprintf(s->key, sizeof(s->key), "live %s", s->ident);
	*fd = rc == 0 ? fcntl(o.fd, F_DUPFD_CLOEXEC, 0) : -1;
	ao_xcache_close(c->cfg.xc, x, o.fd);
	if (*fd < 0)
		return ao_errf(err, EIO, "live export: %s", strerror(errno));
	rc = ao_core_category_schema(c, pid, cs, err);
	if (rc < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/* ---- the diff ----------------------------------------------------------------------- */

/* {class: [from, to]} of the summary, counting t (as side k: 0 from, 1 to). */
static void tally(json_t *per, const struct tsum *t, int k)
{
	const char *cls;
	json_t *cnt;

	json_object_foreach(t->classes, cls, cnt)
	{
		json_t *e = json_object_get(per, cls);
		if (!e) {
			e = json_pack("{s:i,s:i,s:i,s:i,s:i}", "from", 0, "to", 0, "added", 0,
				      "removed", 0, "tasks", 0);
			json_object_set_new(per, cls, e);
		}
		const char *key = k ? "to" : "from";
		json_object_set_new(e, key,
				    json_integer(json_integer_value(json_object_get(e, key)) +
						 json_integer_value(cnt)));
	}
}

/* Per class of a or b: the count delta (added/removed) and one more task. */
static json_t *class_delta(const struct tsum *a, const struct tsum *b, json_t *per)
{
	json_t *add = json_object(), *rem = json_object();
	json_t *all = json_object();
	const char *cls;
	json_t *v;

	if (a)
		json_object_update(all, a->classes);
	if (b)
		json_object_update(all, b->classes);
	json_object_foreach(all, cls, v)
	{
		long long x = a ? json_integer_value(json_object_get(a->classes, cls)) : 0;
		long long y = b ? json_integer_value(json_object_get(b->classes, cls)) : 0;
		json_t *e = json_object_get(per, cls);
		if (x == y)
			continue;
		json_object_set_new(y > x ? add : rem, cls, json_integer(y > x ? y - x : x - y));
		const char *key = y > x ? "added" : "removed";
		json_object_set_new(e, key,
				    json_integer(json_integer_value(json_object_get(e, key)) +
						 (y > x ? y - x : x - y)));
		json_object_set_new(
		    e, "tasks", json_integer(json_integer_value(json_object_get(e, "tasks")) + 1));
	}
	json_decref(all);
	json_t *out = json_pack("{s:o,s:o}", "added", add, "removed", rem);
	return out;
}

/* One line for a task only in a side (change: "added", "removed") or in
 * both and different ("changed"); NULL: the same. */
static json_t *line_of(const struct tsum *a, const struct tsum *b, json_t *per)
{
	const struct tsum *t = b ? b : a;
	json_t *what = json_array();
	json_t *cd = class_delta(a, b, per);
	int cls_changed = json_object_size(json_object_get(cd, "added")) ||
			  json_object_size(json_object_get(cd, "removed"));

	if (a && b) {
		if (strcmp(a->stage, b->stage))
			json_array_append_new(what, json_string("stage"));
		if (a->answer != b->answer)
			json_array_append_new(what, json_string("answer"));
		if (cls_changed)
			json_array_append_new(what, json_string("classes"));
		if (a->objects != b->objects)
			json_array_append_new(what, json_string("objects"));
		if (strcmp(a->xid, b->xid))
			json_array_append_new(what, json_string("externalId"));
		if (!json_array_size(what)) {
			json_decref(what);
			json_decref(cd);
			return NULL;
		}
	}
	json_t *l = json_pack("{s:s,s:s,s:s}", "change",
			      !a   ? "added"
			      : !b ? "removed"
				   : "changed",
			      "taskId", t->task, "externalId", t->xid);
	if (a && b) {
		json_object_set_new(l, "what", what);
		json_object_set_new(l, "stage",
				    json_pack("{s:s,s:s}", "from", a->stage, "to", b->stage));
		json_object_set_new(l, "objects",
				    json_pack("{s:I,s:I}", "from", (json_int_t)a->objects, "to",
					      (json_int_t)b->objects));
		json_object_set_new(l, "classes", cd);
	} else {
		json_decref(what);
		json_decref(cd);
		json_object_set_new(l, "stage", json_string(t->stage));
		json_object_set_new(l, "objects", json_integer(t->objects));
		json_object_set_new(l, "classes", json_deep_copy(t->classes));
	}
	return l;
}

static int put_line(FILE *f, json_t *l)
{
	int rc = json_dumpf(l, f, JSON_COMPACT | JSON_SORT_KEYS) == 0 && fputc('\n', f) != EOF
		     ? 0
		     : -EIO;
	json_decref(l);
	return rc;
}

/* Merge the sorted sides: the .ndjson text and the summary. */
static int merge(struct side *a, struct side *b, struct diff_result *r)
{
	FILE *f = open_memstream(&r->text[0], &r->len[0]);
	json_t *per = json_object();
	long long n[4] = {0, 0, 0, 0}; /* added, removed, changed, unchanged */
	size_t i = 0, j = 0;
	int rc = f && per ? 0 : -ENOMEM;

	for (size_t k = 0; k < a->n; k++)
		tally(per, &a->v[k], 0);
	for (size_t k = 0; k < b->n; k++)
		tally(per, &b->v[k], 1);
	while (rc == 0 && (i < a->n || j < b->n)) {
		int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->v[i].task, b->v[j].task);
		const struct tsum *x = c <= 0 ? &a->v[i] : NULL, *y = c >= 0 ? &b->v[j] : NULL;
		json_t *l = line_of(x, y, per);
		n[!x ? 0 : !y ? 1 : l ? 2 : 3]++;
		if (l)
			rc = put_line(f, l);
		i += c <= 0;
		j += c >= 0;
	}
	if (f && fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	json_t *s =
	    rc == 0
		? json_pack("{s:s,s:s,s:s,s:s,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:O}", "from", a->name,
			    "to", b->name, "from_generation", a->ident, "to_generation", b->ident,
			    "tasks", "from", (json_int_t)a->n, "to", (json_int_t)b->n, "added",
			    (json_int_t)n[0], "removed", (json_int_t)n[1], "changed",
			    (json_int_t)n[2], "unchanged", (json_int_t)n[3], "classes", per)
		: NULL;
	json_decref(per);
	r->text[1] = s ? json_dumps(s, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(s);
	if (r->text[1]) {
		r->len[1] = strlen(r->text[1]) + 1;
		char *t = realloc(r->text[1], r->len[1] + 1);
		if (t) {
			r->text[1] = t;
			strcpy(t + r->len[1] - 1, "\n");
		} else
			r->len[1]--;
	}
	return rc == 0 && r->text[1] ? 0 : -ENOMEM;
}

/* ---- results, cached ------------------------------------------------------------- */

static struct diff_result *cache_get(struct ao_core *c, const char *key, int which, char **text,
				     size_t *len)
{
	struct diff_result *hit = NULL;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < DIFF_CACHE && c->diffs; i++)
		if (c->diffs[i].text[0] && !strcmp(c->diffs[i].key, key)) {
			hit = &c->diffs[i];
			*len = hit->len[which];
			if (text && (*text = malloc(*len ? *len : 1)))
				memcpy(*text, hit->text[which], *len);
			else if (text)
				hit = NULL; /* out of memory: computed again */
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static void cache_put(struct ao_core *c, struct diff_result *r)
{
	pthread_mutex_lock(&c->lock);
	if (!c->diffs)
		c->diffs = calloc(DIFF_CACHE, sizeof(*c->diffs));
	if (c->diffs) {
		free(c->diffs[DIFF_CACHE - 1].text[0]);
		free(c->diffs[DIFF_CACHE - 1].text[1]);
		memmove(&c->diffs[1], &c->diffs[0], (DIFF_CACHE - 1) * sizeof(*c->diffs));
		c->diffs[0] = *r;
	} else {
		free(r->text[0]);
		free(r->text[1]);
	}
	pthread_mutex_unlock(&c->lock);
}

void dsv_changes_free(struct ao_core *c)
{
	for (int i = 0; c->diffs && i < DIFF_CACHE; i++) {
		free(c->diffs[i].text[0]);
		free(c->diffs[i].text[1]);
	}
	free(c->diffs);
	c->diffs = NULL;
}

/* The text of changes file n (malloc'd into *text when text is not NULL);
 * fetch: a live side may be fetched (open), else -EAGAIN when it is not
 * cached and fresh (stat). */
static int changes_text(struct ao_core *c, const struct ao_node *n, int fetch, char **text,
			size_t *len, struct ao_err *err)
{
	struct side s[2];
	int fd[2] = {-1, -1}, which, rc = 0;
	json_t *cs[2] = {NULL, NULL};
	struct diff_result r;

	memset(s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	if (parse_name(n->ds_name, s[0].name, s[1].name, sizeof(s[0].name), &which) < 0)
		return ao_errf(err, ENOENT, "%s: not a changes file", n->ds_name);
	for (int k = 0; k < 2 && rc == 0; k++)
		rc = side_open(c, n->project_id, &s[k], fetch, &fd[k], &cs[k], err);
	if (rc == 0) {
		snprintf(r.key, sizeof(r.key), "%s %s %s %s", n->project_id, s[0].key, s[1].key,
			 n->ds_name);
		if (cache_get(c, r.key, which, text, len))
			goto out;
		for (int k = 0; k < 2 && rc == 0; k++)
			rc = side_read(&s[k], fd[k], cs[k], err);
		if (rc == 0 && (rc = merge(&s[0], &s[1], &r)) < 0)
			ao_errf(err, ENOMEM, "out of memory comparing %s and %s", s[0].name,
				s[1].name);
		if (rc == 0) {
			*len = r.len[which];
			if (text && !(*text = malloc(*len ? *len : 1)))
				rc = ao_errf(err, ENOMEM, "out of memory");
			else if (text)
				memcpy(*text, r.text[which], *len);
			ao_info("changes: %s of project %s: %zu and %zu tasks compared", n->ds_name,
				n->project_id, s[0].n, s[1].n);
			cache_put(c, &r);
		} else {
			free(r.text[0]);
			free(r.text[1]);
		}
	}
out:
	for (int k = 0; k < 2; k++) {
		side_free(&s[k]);
		json_decref(cs[k]);
		if (fd[k] >= 0)
			close(fd[k]);
	}
	return rc;
}

int dsv_changes_getattr(struct ao_core *c, const struct ao_node *n, struct stat *st,
			struct ao_err *err)
{
	size_t len = 0;
	int rc = changes_text(c, n, 0, NULL, &len, err);

	if (rc == -EAGAIN) { /* the live export is not cached and fresh: unknown */
		ao_err_clear(err);
		st->st_size = 1;
		st->st_blocks = 0;
		return 0;
	}
	if (rc < 0)
		return rc;
	st->st_size = (off_t)len;
	st->st_blocks = (blkcnt_t)((len + 511) / 512);
	return 0;
}

int dsv_changes_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
		     struct ao_err *err)
{
	return changes_text(c, n, 1, &fh->buf, &fh->len, err);
}
