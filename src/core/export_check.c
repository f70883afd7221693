/*
 * export_check.c - explicit export filters and the completeness check.
 *
 * The hub's defaults are not ours: an export without `stage` may hold only
 * Complete tasks, one without `taskTypes` only default tasks (SDK and docs,
 * ../shared/hub-api.md §1). So a task export that has no stage filter of its
 * own (the whole project, a batch, the tasks/ listing) sends every stage id of
 * the project (all_stages, from GET /project/{id}; the export cache sends
 * taskTypes itself).
 *
 * And because a filter can still be read differently by a hub we never saw,
 * every export that should hold every task of its filter (whole project or
 * one stage) is counted after its fetch and compared with GET
 * /project/{id}/tasks `total` for the same filter (limit=1: one small
 * request). A mismatch is logged and shown in MOUNT/.status under
 * "completeness" instead of serving a silently short listing. A batch view
 * is counted the same way (filter batches = the batch id, as the SDK sends
 * it) but judged only where no reading of the batch filter can excuse it: an
 * export that holds no record while the hub counts tasks in the batch is
 * "short"; other differences stay "unchecked" (the docs say the task list's
 * batches are names: a hub may count another set).
 *
 * The records are counted by the export cache (xmerge.c's streaming scan,
 * which also finds the newest updatedAt for incremental refreshes); an
 * incremental refresh has already compared its count with the hub's (its
 * proof) and passes that total, so no second request is sent. Results live
 * in c->checks, guarded by c->lock, one per export (project, stage, format,
 * lean). The hooks also give the export cache the project's fingerprint and
 * the task count (incremental refresh, xincr.c). All run in the fetching
 * thread without any lock held while they do network I/O (`fetched` after
 * the export's publish lock is released).
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
#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/log.h"

struct xcheck {
	struct xcheck *next;
	char *project_id, *stage_id, *batch_id;
	int ndjson, lean;
	long long records, total; /* -1: unknown */
	const char *state;	  /* "complete", "short", "more", "unchecked" */
	char msg[AO_ERR_MSG_MAX + 2 * AO_ID_MAX + 256];
	time_t at;
};

static int all_stages(void *ud, const char *project_id, char **json, struct ao_err *err)
{
	struct ao_core *c = ud;
	struct project *p = proj_by_id(c, project_id);
	json_t *ids, *st;
	size_t i;
	int rc;

	*json = NULL;
	if (!p)
		return ao_errf(err, ENOENT, "export: project %s is gone", project_id);
	rc = proj_detail(c, p, err);
	if (rc < 0) {
		ao_err_prefix(err, "export: reading the project's stages");
		return rc;
	}
	ids = json_array();
	pthread_mutex_lock(&c->lock);
	json_array_foreach(json_object_get(p->detail, "stages"), i, st)
	{
		json_t *id = json_object_get(st, "id");
		if (!json_is_string(id))
			id = json_object_get(st, "_id");
		/* a copy, not a reference: p->detail's values are only touched
		 * under c->lock (a refresh frees them), ids is used after it */
		if (json_is_string(id) && *json_string_value(id))
			json_array_append_new(ids, json_string(json_string_value(id)));
	}
	pthread_mutex_unlock(&c->lock);
	if (json_array_size(ids))
		*json = json_dumps(ids, JSON_COMPACT);
	else
		ao_warn("export: project %s lists no stages: the export is sent without a stage "
			"filter (the hub may apply its default, Complete only)",
			project_id);
	rc = json_array_size(ids) && !*json ? ao_errf(err, ENOMEM, "out of memory") : 0;
	json_decref(ids);
	return rc;
}

/* The SDK's TaskFilter for the export's filter (models/task_filter.py):
 * stage and batches as {"$in": [ids]}, the task types as "type" ({"$eq": t}
 * for one, {"$in": [...]} for more). New reference or NULL. */
static json_t *count_filter(const struct ao_xspec *s, const char *types_json)
{
	json_t *f = json_object(), *types = json_loads(types_json, 0, NULL);

	if (!f || !json_is_array(types) || !json_array_size(types)) {
		json_decref(f);
		json_decref(types);
		return NULL;
	}
	if (s->stage_id)
		json_object_set_new(f, "stage", json_pack("{s:[s]}", "$in", s->stage_id));
	if (s->batch_id)
		json_object_set_new(f, "batches", json_pack("{s:[s]}", "$in", s->batch_id));
	if (json_array_size(types) == 1)
		json_object_set_new(f, "type", json_pack("{s:O}", "$eq", json_array_get(types, 0)));
	else
		json_object_set_new(f, "type", json_pack("{s:O}", "$in", types));
	json_decref(types);
	return f;
}

/* GET /project/{id}/tasks total for the export's filter: the SDK's
 * get_tasks(page=1, limit=1, task_filter=...) request, the filter sent as
 * `filter` (the SDK's name) and `filters` (the docs'), never a parameter
 * neither has (hub-api.md §5.3). */
static int hub_total(struct ao_core *c, const struct ao_xspec *s, long long *total,
		     struct ao_err *err)
{
	json_t *f = count_filter(s, ao_xcache_task_types(c->cfg.xc)), *data = NULL;
	struct hub_tasks_q q = {.page = 1, .limit = 1, .answer = 0, .filter = f};
	int rc;

	if (!f)
		return ao_errf(err, ENOMEM, "out of memory");
	rc = hub_get_tasks(c->cfg.hub, s->project_id, &q, &data, err);
	json_decref(f);
	if (rc < 0)
		return rc;
	json_t *t = json_object_get(data, "total");
	if (json_is_integer(t))
		*total = json_integer_value(t);
	else
		rc = ao_errf(err, EPROTO, "GET /project/%s/tasks: the reply has no data.total",
			     s->project_id);
	json_decref(data);
	return rc;
}

/* Hash of what shapes export records besides the tasks: stage and batch
 * names, the schema, the project's updatedAt. fresh: ask the hub now. */
static int project_fp(void *ud, const char *project_id, int fresh, unsigned long long *fp,
		      int *requests, struct ao_err *err)
{
	static const char *keys[] = {"stages", "batches", "categorySchema", "updatedAt"};
	struct ao_core *c = ud;
	struct project *p = proj_by_id(c, project_id);
	int rc;

	if (!p)
		return ao_errf(err, ENOENT, "export: project %s is gone", project_id);
	if (fresh) {
		pthread_mutex_lock(&c->lock);
		ao_slot_drop(&p->detail_refresh); /* proj_detail asks the hub again */
		pthread_mutex_unlock(&c->lock);
		(*requests)++;
	}
	rc = proj_detail(c, p, err);
	if (rc < 0)
		return rc;
	/* o borrows p->detail's values (their reference counts move): it lives
	 * and dies under c->lock, where a refresh of p->detail frees them */
	json_t *o = json_object();
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(p->detail, keys[i]);
		json_object_set(o, keys[i], v ? v : json_null());
	}
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	pthread_mutex_unlock(&c->lock);
	if (!text)
		return ao_errf(err, ENOMEM, "out of memory");
	*fp = ao_hash_str(text) | 1; /* never 0: 0 means unknown */
	free(text);
	return 0;
}

static int count_hook(void *ud, const struct ao_xspec *s, long long *total, struct ao_err *err)
{
	return hub_total(ud, s, total, err);
}

static void record(struct ao_core *c, const struct ao_xspec *s, struct xcheck *in)
{
	struct xcheck *x, **pp;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->checks; (x = *pp); pp = &x->next)
		if (x->ndjson == s->ndjson && x->lean == s->lean &&
		    strcmp(x->project_id, s->project_id) == 0 &&
		    strcmp(x->stage_id ? x->stage_id : "", s->stage_id ? s->stage_id : "") == 0 &&
		    strcmp(x->batch_id ? x->batch_id : "", s->batch_id ? s->batch_id : "") == 0)
			break;
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (x) {
			x->project_id = strdup(s->project_id);
			x->stage_id = s->stage_id ? strdup(s->stage_id) : NULL;
			x->batch_id = s->batch_id ? strdup(s->batch_id) : NULL;
			x->ndjson = s->ndjson;
			x->lean = s->lean;
			x->next = c->checks;
			c->checks = x;
		}
	}
	if (x) {
		x->records = in->records;
		x->total = in->total;
		x->state = in->state;
		x->at = time(NULL);
		snprintf(x->msg, sizeof(x->msg), "%s", in->msg);
	}
	pthread_mutex_unlock(&c->lock);
}

static void fetched(void *ud, const struct ao_xspec *s, const char *path, long long size,
		    long long records, long long known_total)
{
	struct ao_core *c = ud;
	struct xcheck r = {.records = -1, .total = -1, .state = "unchecked"};
	struct ao_err e;
	const char *what = s->lean     ? "the task listing's export"
			   : s->ndjson ? "tasks.ndjson"
				       : "tasks.json";
	char where[AO_ID_MAX + 16] = "";

	(void)size;
	(void)path;
	if (s->type != AO_X_TASK)
		return;
	if (s->stage_id)
		snprintf(where, sizeof(where), " stage %s", s->stage_id);
	else if (s->batch_id)
		snprintf(where, sizeof(where), " batch %s", s->batch_id);
	ao_err_clear(&e);
	r.records = records;
	r.total = known_total;
	if (r.records < 0) {
		snprintf(r.msg, sizeof(r.msg), "%s is not a JSON array of records", what);
	} else if (known_total < 0 && hub_total(c, s, &r.total, &e) < 0) {
		snprintf(r.msg, sizeof(r.msg), "could not count the hub's tasks: %s", e.msg);
	} else if (r.records == r.total) {
		r.state = "complete";
	} else if (s->batch_id && (r.records > 0 || r.total <= 0)) {
		/* a batch filter the task list may read differently (names) */
		snprintf(r.msg, sizeof(r.msg),
			 "%s of project %s%s holds %lld tasks, the hub lists %lld for the batch "
			 "filter: not judged (the task list may read batch filters differently)",
			 what, s->project_id, where, r.records, r.total);
	} else {
		r.state = r.records < r.total ? "short" : "more";
		snprintf(r.msg, sizeof(r.msg),
			 "%s of project %s%s holds %lld tasks but the hub lists %lld for the "
			 "same filter (taskTypes %s)%s",
			 what, s->project_id, where, r.records, r.total,
			 ao_xcache_task_types(c->cfg.xc),
			 r.records < r.total ? ": the export is short (see README, Troubleshooting)"
					     : ": tasks changed while it was built");
	}
	if (r.records >= 0 && r.records != r.total && r.total >= 0 && strcmp(r.state, "unchecked"))
		ao_warn("export: %s", r.msg);
	else if (r.msg[0])
		ao_info("export: completeness of %s of project %s%s unchecked: %s", what,
			s->project_id, where, r.msg);
	record(c, s, &r);
}

void xcheck_install(struct ao_core *c)
{
	struct ao_xhooks h = {.all_stages = all_stages,
			      .project_fp = project_fp,
			      .count = count_hook,
			      .fetched = fetched,
			      .ud = c};
	if (c->cfg.xc)
		ao_xcache_set_hooks(c->cfg.xc, &h);
}

void xcheck_free_all(struct ao_core *c)
{
	while (c->checks) {
		struct xcheck *x = c->checks;
		c->checks = x->next;
		free(x->project_id);
		free(x->stage_id);
		free(x->batch_id);
		free(x);
	}
}

json_t *xcheck_status(struct ao_core *c)
{
	json_t *a = json_array();

	pthread_mutex_lock(&c->lock);
	for (struct xcheck *x = c->checks; x; x = x->next) {
		json_t *o =
		    json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "project", x->project_id, "export",
			      x->lean	  ? "tasks/"
			      : x->ndjson ? "tasks.ndjson"
					  : "tasks.json",
			      "state", x->state, "records", (json_int_t)x->records, "hub_total",
			      (json_int_t)x->total, "checked_at", (json_int_t)x->at);
		if (!o)
			continue;
		if (x->stage_id)
			json_object_set_new(o, "stage", json_string(x->stage_id));
		if (x->batch_id)
			json_object_set_new(o, "batch", json_string(x->batch_id));
		if (x->msg[0])
			json_object_set_new(o, "message", json_string(x->msg));
		json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&c->lock);
	return a;
}
