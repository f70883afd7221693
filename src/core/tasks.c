/*
 * tasks.c - tasks of a project: the cache of single tasks (GET /task/{id}
 * ?includeAnswer=true, pretty task.json and answer.json texts) and the list of
 * task ids behind tasks/.
 *
 * Listing strategy: one probe page of GET /project/{id}/tasks (limit 100,
 * with answers) gives data.total. Small projects (total <= task_page_max) are
 * paged, and every task on a page also fills the task cache, so `find` or
 * `cat tasks/<id>/answer.json` costs no further requests. Larger projects are listed
 * from the whole-project ndjson task export (one GET /export + one download,
 * shared with export/tasks.ndjson): 100k tasks take two API requests instead
 * of 1000 pages, which matters under a 100 requests/minute limit. A list is
 * refcounted so readdir can fill without holding the core lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_int.h"
#include "angofs/export_cache.h"
#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/jscan.h"
#include "angofs/log.h"

#define PAGE 100

int task_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n >= AO_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return 0;
	for (const char *p = id; *p; p++)
		if (*p == '/' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static unsigned bucket(const char *id)
{
	unsigned h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % TASK_BUCKETS;
}

static void ent_free(struct task_ent *t)
{
	free(t->id);
	free(t->project_id);
	free(t->task_text);
	free(t->answer_text);
	free(t);
}

static void clear_locked(struct ao_core *c)
{
	for (size_t b = 0; b < TASK_BUCKETS; b++)
		while (c->tb[b]) {
			struct task_ent *t = c->tb[b];
			c->tb[b] = t->next;
			ent_free(t);
		}
	c->ntask_ents = 0;
}

void task_free_all(struct ao_core *c)
{
	clear_locked(c);
}

static struct task_ent *find_locked(struct ao_core *c, const char *id)
{
	for (struct task_ent *t = c->tb[bucket(id)]; t; t = t->next)
		if (strcmp(t->id, id) == 0)
			return t;
	return NULL;
}

static void unlink_locked(struct ao_core *c, const char *id)
{
	struct task_ent **pp = &c->tb[bucket(id)];
	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0) {
			struct task_ent *t = *pp;
			*pp = t->next;
			ent_free(t);
			c->ntask_ents--;
			return;
		}
}

void task_drop(struct ao_core *c, const char *task_id)
{
	pthread_mutex_lock(&c->lock);
	c->wgen++;
	unlink_locked(c, task_id);
	pthread_mutex_unlock(&c->lock);
}

/* A label import may have changed any task of the project: forget them all. */
void task_drop_project(struct ao_core *c, const char *project_id)
{
	pthread_mutex_lock(&c->lock);
	c->wgen++;
	for (size_t b = 0; b < TASK_BUCKETS; b++)
		for (struct task_ent **pp = &c->tb[b]; *pp;) {
			struct task_ent *t = *pp;
			if (strcmp(t->project_id, project_id) != 0) {
				pp = &t->next;
				continue;
			}
			*pp = t->next;
			ent_free(t);
			c->ntask_ents--;
		}
	pthread_mutex_unlock(&c->lock);
}

static unsigned long write_gen(struct ao_core *c)
{
	pthread_mutex_lock(&c->lock);
	unsigned long g = c->wgen;
	pthread_mutex_unlock(&c->lock);
	return g;
}

static const char *project_of(json_t *task)
{
	json_t *p = json_object_get(task, "project");
	if (json_is_object(p))
		p = json_object_get(p, "_id");
	return json_string_value(p);
}

/* "2025-01-06T11:40:00.000Z" -> unix seconds (0 if absent or malformed) */
static time_t iso_time(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return timegm(&tm);
}

time_t task_mtime(struct ao_core *c, const char *task_id)
{
	pthread_mutex_lock(&c->lock);
	struct task_ent *t = find_locked(c, task_id);
	time_t m = t ? t->updated : 0;
	pthread_mutex_unlock(&c->lock);
	return m;
}

/* What answer.json shows: the stored answer plus, next to it, the task's mask
 * URLs when it has them (they live on the task, not in the answer; a write
 * that leaves them out carries them over, see docs/WRITES.md). */
static json_t *answer_shown(json_t *task, json_t *ans)
{
	static const char *const masks[] = {"brushDataUrl", "medicalBrushDataUrl"};
	json_t *out = json_copy(ans);

	for (size_t i = 0; out && i < 2; i++) {
		json_t *v = json_object_get(task, masks[i]);
		if (json_is_string(v) && *json_string_value(v))
			json_object_set(out, masks[i], v);
	}
	return out;
}

/* Build the cache entry of one task object fetched by a request that started
 * at write generation gen, copy the text asked for (answer or task) to *text
 * (may be NULL), and insert the entry unless a write came in between: the
 * reply may predate the write, so it answers this read only. */
static int cache_task(struct ao_core *c, const char *project_id, const char *id, json_t *task,
		      unsigned long gen, int answer, char **text, size_t *len)
{
	struct task_ent *t = calloc(1, sizeof(*t));
	json_t *ans = json_object_get(task, "answer");
	json_t *empty = NULL;

	if (!t)
		return -ENOMEM;
	if (!json_is_object(ans))
		ans = empty =
		    json_pack("{s:[],s:[],s:[]}", "tools", "classifications", "relations");
	t->id = strdup(id);
	t->project_id = strdup(project_id);
	t->task_text = proj_pretty_json(task, &t->task_len);
	json_t *shown = ans ? answer_shown(task, ans) : NULL;
	t->answer_text = shown ? proj_pretty_json(shown, &t->answer_len) : NULL;
	json_decref(shown);
	json_decref(empty);
	if (!t->id || !t->project_id || !t->task_text || !t->answer_text) {
		ent_free(t);
		return -ENOMEM;
	}
	t->at = time(NULL);
	t->updated = iso_time(json_string_value(json_object_get(task, "updatedAt")));
	if (len)
		*len = answer ? t->answer_len : t->task_len;
	if (text) {
		*text = strdup(answer ? t->answer_text : t->task_text);
		if (!*text) {
			ent_free(t);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&c->lock);
	if (c->wgen != gen) {
		pthread_mutex_unlock(&c->lock);
		ent_free(t);
		return 0;
	}
	unlink_locked(c, id);
	if (c->ntask_ents >= TASK_CACHE_MAX)
		clear_locked(c); /* crude but bounded: refill on demand */
	unsigned b = bucket(id);
	t->next = c->tb[b];
	c->tb[b] = t;
	c->ntask_ents++;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int fetch_task(struct ao_core *c, const char *project_id, const char *id, int answer,
		      char **text, size_t *len, struct ao_err *err)
{
	json_t *task = NULL;
	unsigned long gen = write_gen(c);
	int rc = hub_get_task(c->cfg.hub, id, &task, err);

	if (rc < 0)
		return rc;
	const char *pid = project_of(task);
	if (pid && strcmp(pid, project_id) != 0) {
		rc = ao_errf(err, ENOENT, "task %s belongs to another project", id);
	} else if (cache_task(c, project_id, id, task, gen, answer, text, len) < 0) {
		rc = ao_errf(err, ENOMEM, "out of memory");
	}
	json_decref(task);
	return rc;
}

/* The task's current mask URLs, asked of the hub now (not the cache): what an
 * answer write that does not mention them carries over. */
int task_masks(struct ao_core *c, const char *project_id, const char *task_id, json_t **masks,
	       struct ao_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = fetch_task(c, project_id, task_id, 1, &text, &len, err);

	*masks = NULL;
	if (rc < 0)
		return rc;
	json_t *shown = json_loadb(text, len, 0, NULL);
	free(text);
	if (!shown)
		return ao_errf(err, ENOMEM, "out of memory");
	*masks = json_object();
	for (const char *const *k =
		 (const char *const[]){"brushDataUrl", "medicalBrushDataUrl", NULL};
	     *masks && *k; k++)
		if (json_object_get(shown, *k))
			json_object_set(*masks, *k, json_object_get(shown, *k));
	json_decref(shown);
	return *masks ? 0 : ao_errf(err, ENOMEM, "out of memory");
}

int task_fetch(struct ao_core *c, const char *project_id, const char *task_id, int answer,
	       char **text, size_t *len, struct ao_err *err)
{
	pthread_mutex_lock(&c->lock);
	struct task_ent *t = find_locked(c, task_id);
	if (t && time(NULL) - t->at >= c->cfg.meta_ttl_s) {
		/* expired: refetch; keep the old copy for degraded mode */
		struct ao_err ferr;
		int rc;

		pthread_mutex_unlock(&c->lock);
		ao_err_clear(&ferr);
		rc = fetch_task(c, project_id, task_id, answer, text, len, &ferr);
		if (rc == 0 || !ferr.transient) {
			if (rc < 0) {
				pthread_mutex_lock(&c->lock);
				unlink_locked(c, task_id);
				pthread_mutex_unlock(&c->lock);
			}
			if (err)
				*err = ferr;
			return rc;
		}
		pthread_mutex_lock(&c->lock);
		t = find_locked(c, task_id);
		if (!t) {
			pthread_mutex_unlock(&c->lock);
			if (err)
				*err = ferr;
			return rc;
		}
		ao_warn("hub unreachable (%s): serving the cached copy of task %s", ferr.msg,
			task_id);
		t->at = degraded_at(c->cfg.meta_ttl_s);
	}
	if (t && strcmp(t->project_id, project_id) != 0) {
		pthread_mutex_unlock(&c->lock);
		return ao_errf(err, ENOENT, "task %s belongs to another project", task_id);
	}
	if (!t) {
		pthread_mutex_unlock(&c->lock);
		return fetch_task(c, project_id, task_id, answer, text, len, err);
	}
	const char *src = answer ? t->answer_text : t->task_text;
	size_t n = answer ? t->answer_len : t->task_len;
	if (text) {
		*text = malloc(n + 1);
		if (*text)
			memcpy(*text, src, n + 1);
	}
	*len = n;
	pthread_mutex_unlock(&c->lock);
	if (text && !*text)
		return ao_errf(err, ENOMEM, "out of memory");
	return 0;
}

/* --- listings ----------------------------------------------------------- */

void task_list_put(struct ao_core *c, struct tasklist *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&c->lock);
	int last = --l->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (!last)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->ids[i]);
	free(l->ids);
	free(l);
}

struct idvec {
	char **v;
	size_t n, cap;
};

static int idvec_add(struct idvec *iv, const char *id)
{
	if (!task_id_valid(id)) {
		ao_warn("tasks: skipping a task id that cannot be a file name");
		return 0;
	}
	if (iv->n == iv->cap) {
		size_t cap = iv->cap ? iv->cap * 2 : 1024;
		char **v = realloc(iv->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		iv->v = v;
		iv->cap = cap;
	}
	if (!(iv->v[iv->n] = strdup(id)))
		return -ENOMEM;
	iv->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *task_id_of(json_t *t)
{
	const char *id = json_string_value(json_object_get(t, "_id"));
	return id ? id : json_string_value(json_object_get(t, "taskId"));
}

/* Page through /project/{id}/tasks (page 1 already in `first`). */
static int list_by_pages(struct ao_core *c, struct project *p, json_t *first, long long total,
			 unsigned long gen, struct idvec *iv, struct ao_err *err)
{
	json_t *data = json_incref(first);
	struct hub_pager pg;
	int rc = 0;

	hub_pager_init(&pg, PAGE);
	for (;;) {
		if (pg.page > 1) {
			struct hub_tasks_q q = {.page = pg.page, .limit = pg.limit, .answer = 1};
			data = NULL;
			rc = hub_get_tasks(c->cfg.hub, p->id, &q, &data, err);
			if (rc < 0)
				break;
		}
		json_t *arr = json_object_get(data, "tasks"), *t;
		size_t i, n = json_array_size(arr);
		json_array_foreach(arr, i, t)
		{
			const char *id = task_id_of(t);
			if (!id)
				continue;
			if ((rc = idvec_add(iv, id)) < 0)
				break;
			if (task_id_valid(id))
				cache_task(c, p->id, id, t, gen, 0, NULL, NULL);
		}
		/* by count, a short page the last (hub_pager.c) */
		int more =
		    rc == 0 && hub_pager_next(&pg, n, task_id_of(json_array_get(arr, 0)), total);
		json_decref(data);
		data = NULL;
		if (!more)
			break;
	}
	json_decref(data);
	if (rc == -ENOMEM)
		ao_errf(err, ENOMEM, "out of memory");
	return rc;
}

/* The value of "taskId" inside the record's top-level "task" object,
 * located by the byte scanner (util/jscan.c: full JSON parsing of a
 * 100k-task export costs far more than the request budget allows). -1
 * when not found; the caller then parses. */
struct tid_walk {
	size_t n;
	char *out;
	size_t outsz;
	int found;
};

static int tid_member(void *ud, const char *s, const char *k, size_t kl, size_t vi, size_t vj)
{
	struct tid_walk *w = ud;

	if (!AO_JSCAN_KEY(k, kl, "taskId"))
		return 0;
	w->found = ao_jscan_string(s, vi, vj, w->out, w->outsz) == 0 && w->out[0];
	return 1;
}

static int task_member(void *ud, const char *s, const char *k, size_t kl, size_t vi, size_t vj)
{
	struct tid_walk *w = ud;

	(void)vj;
	if (!AO_JSCAN_KEY(k, kl, "task"))
		return 0;
	ao_jscan_members(s, w->n, vi, tid_member, w);
	return 1;
}

static int scan_task_id(const char *s, size_t n, char *out, size_t outsz)
{
	struct tid_walk w = {n, out, outsz, 0};

	ao_jscan_members(s, n, 0, task_member, &w);
	return w.found ? 0 : -1;
}

/* One record of the export: current format has task.taskId; the legacy one
 * an array "tasks" of {taskId}. */
static int add_record_ids(struct idvec *iv, json_t *rec)
{
	json_t *task = json_object_get(rec, "task");
	const char *id = json_string_value(json_object_get(task, "taskId"));
	if (id)
		return idvec_add(iv, id);
	json_t *tasks = json_object_get(rec, "tasks"), *t;
	size_t i;
	json_array_foreach(tasks, i, t)
	{
		id = json_string_value(json_object_get(t, "taskId"));
		if (id && idvec_add(iv, id) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int list_by_export(struct ao_core *c, struct project *p, struct idvec *iv,
			  unsigned long *gen, struct ao_err *err)
{
	/* export/tasks.ndjson if it is cached and fresh, else a lean export
	 * (no metadata, no history: far smaller and faster to build) */
	struct ao_xspec full = {p->id, AO_X_TASK, 1, NULL, NULL, 0};
	struct ao_xspec lean = {p->id, AO_X_TASK, 1, NULL, NULL, 1};
	struct ao_xentry *x = ao_xcache_get(c->cfg.xc, &full, err);
	struct ao_xopen o;
	int rc;

	if (x && !ao_xcache_fresh(c->cfg.xc, x))
		x = ao_xcache_get(c->cfg.xc, &lean, err);
	if (!x)
		return -ENOMEM;
	rc = ao_xcache_open(c->cfg.xc, x, &o, err);
	if (rc < 0)
		return rc;
	*gen = ao_xcache_gen(c->cfg.xc, x);
	int fd2 = dup(o.fd);
	FILE *f = fd2 >= 0 ? fdopen(fd2, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0, bad = 0;

	if (!f) {
		if (fd2 >= 0)
			close(fd2);
		ao_xcache_close(c->cfg.xc, x, o.fd);
		return ao_errf(err, errno, "tasks: reading the export: %s", strerror(errno));
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		char tid[AO_ID_MAX];
		if (scan_task_id(line, (size_t)n, tid, sizeof(tid)) == 0) {
			if (idvec_add(iv, tid) < 0)
				rc = ao_errf(err, ENOMEM, "out of memory");
			continue;
		}
		json_t *rec = json_loadb(line, (size_t)n, 0, NULL);
		if (!rec) {
			bad++;
			continue;
		}
		if (add_record_ids(iv, rec) < 0)
			rc = ao_errf(err, ENOMEM, "out of memory");
		json_decref(rec);
	}
	if (bad)
		ao_warn("tasks: %ld of %ld export lines of project %s are not JSON", bad, lineno,
			p->id);
	free(line);
	fclose(f);
	ao_xcache_close(c->cfg.xc, x, o.fd);
	return rc;
}

static int list_fetch(struct ao_core *c, struct project *p, struct ao_err *err)
{
	struct hub_tasks_q q = {.page = 1, .limit = PAGE, .answer = 1};
	json_t *first = NULL;
	struct idvec iv = {0};
	unsigned long gen = 0;
	int rc;

	unsigned long wg = write_gen(c);
	rc = hub_get_tasks(c->cfg.hub, p->id, &q, &first, err);
	if (rc < 0)
		return rc;
	json_t *tj = json_object_get(first, "total");
	long long total = json_is_integer(tj) ? json_integer_value(tj) : -1;
	if (total < 0 && json_array_size(json_object_get(first, "tasks")) < PAGE)
		total = (long long)json_array_size(json_object_get(first, "tasks"));
	if (total >= 0 && total <= c->cfg.task_page_max) {
		rc = list_by_pages(c, p, first, total, wg, &iv, err);
	} else {
		ao_info("tasks: project %s has %lld tasks: listing them from the task export",
			p->id, total);
		rc = list_by_export(c, p, &iv, &gen, err);
	}
	json_decref(first);
	if (rc == 0) {
		if (iv.n)
			qsort(iv.v, iv.n, sizeof(*iv.v), cmp_str);
		size_t k = 0;
		for (size_t i = 0; i < iv.n; i++) {
			if (k && strcmp(iv.v[k - 1], iv.v[i]) == 0) {
				free(iv.v[i]);
				continue;
			}
			iv.v[k++] = iv.v[i];
		}
		iv.n = k;
		struct tasklist *l = calloc(1, sizeof(*l));
		if (!l) {
			rc = ao_errf(err, ENOMEM, "out of memory");
		} else {
			l->refs = 1;
			l->n = iv.n;
			l->ids = iv.v;
			iv.v = NULL;
			iv.n = 0;
			pthread_mutex_lock(&c->lock);
			struct tasklist *old = p->tasks;
			p->tasks = l;
			ao_slot_stamp(&p->tasks_refresh);
			p->tasks_gen = gen;
			pthread_mutex_unlock(&c->lock);
			task_list_put(c, old);
		}
	}
	for (size_t i = 0; i < iv.n; i++)
		free(iv.v[i]);
	free(iv.v);
	return rc;
}

struct list_ud {
	struct ao_core *c;
	struct project *p;
};

static int list_fetch_ud(void *ud, struct ao_err *err)
{
	struct list_ud *d = ud;

	return list_fetch(d->c, d->p, err);
}

static int list_have(void *ud)
{
	return ((struct list_ud *)ud)->p->tasks != NULL;
}

struct tasklist *task_list(struct ao_core *c, struct project *p, struct ao_err *err)
{
	struct list_ud d = {c, p};
	struct tasklist *l = NULL;
	char what[AO_ID_MAX + 32];
	struct ao_slot_use u = {&c->lock, c->cfg.meta_ttl_s, 0, list_fetch_ud, list_have, &d, what,
				0};

	snprintf(what, sizeof(what), "the task list of %s", p->id);
	if (ao_slot_get(&p->tasks_refresh, &u, err) < 0)
		return NULL;
	pthread_mutex_lock(&c->lock);
	if ((l = p->tasks))
		l->refs++;
	pthread_mutex_unlock(&c->lock);
	return l;
}

void task_drop_list(struct ao_core *c, struct project *p)
{
	struct ao_xspec lean = {p->id, AO_X_TASK, 1, NULL, NULL, 1};
	struct ao_xentry *x = ao_xcache_get(c->cfg.xc, &lean, NULL);

	if (x)
		ao_xcache_mark_stale(c->cfg.xc, x);
	pthread_mutex_lock(&c->lock);
	ao_slot_drop(&p->tasks_refresh);
	pthread_mutex_unlock(&c->lock);
}

int task_exists(struct ao_core *c, struct project *p, const char *task_id, struct ao_err *err)
{
	if (!task_id_valid(task_id))
		return ao_errf(err, ENOENT, "'%s' is not a task id", task_id);
	pthread_mutex_lock(&c->lock);
	int known = 0;
	if (p->tasks && time(NULL) - p->tasks_refresh.at < c->cfg.meta_ttl_s) {
		const char *key = task_id;
		known = p->tasks->n &&
			bsearch(&key, p->tasks->ids, p->tasks->n, sizeof(char *), cmp_str) != NULL;
	}
	struct task_ent *t = known ? NULL : find_locked(c, task_id);
	if (t && strcmp(t->project_id, p->id) == 0 && time(NULL) - t->at < c->cfg.meta_ttl_s)
		known = 1;
	pthread_mutex_unlock(&c->lock);
	if (known)
		return 0;
	size_t len;
	int rc = task_fetch(c, p->id, task_id, 0, NULL, &len, err);
	if (rc == -EINVAL) { /* the hub calls a malformed id a bad request: no such task */
		char m[AO_ERR_MSG_MAX]; /* a copy: err->msg may not be both source and target */
		snprintf(m, sizeof(m), "%s", err ? err->msg : "");
		rc = ao_errf(err, ENOENT, "no task '%s' (%s)", task_id, m);
	}
	return rc;
}
