/*
 * xquery.c - what names an export cache entry and what asks the hub for it:
 * the key (every parameter that changes the export's bytes, plus the host),
 * and the GET /export request (its words are the hub client's:
 * angofs/hub_api.h). Kept apart from the cache's state machine: pure
 * functions, unit-tested.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "angofs/export_cache.h"
#include "angofs/hub_api.h"
#include "xmerge.h"

char *ao_xcache_key(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s)
{
	char *k;
	if (asprintf(
		&k,
		"v2\nhost=%s\nproject=%s\ntype=%s\nformat=%s\nstage=%s\nbatch=%s\n"
		"meta=%d history=%d keyframes=%d idleblur=%d tasktypes=%s lean=%d\n",
		cfg->host ? cfg->host : "", s->project_id, s->type == AO_X_ISSUE ? "issue" : "task",
		s->ndjson ? "ndjson" : "json", s->stage_id ? s->stage_id : "",
		s->batch_id ? s->batch_id : "", s->lean ? 0 : cfg->include_metadata,
		s->lean ? 0 : cfg->include_history, s->lean ? 0 : cfg->include_only_key_frames,
		s->lean ? 0 : cfg->include_idle_blur,
		cfg->task_types_json ? cfg->task_types_json : AO_XCACHE_TASK_TYPES, s->lean) < 0)
		return NULL;
	return k;
}

char *ao_xcache_query(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s)
{
	return ao_xcache_query_stages(cfg, s, NULL);
}

/* The request of spec s (every stage of stages_json when a task view has
 * none of its own; updated_after: an incremental refresh's bound) in the
 * hub's words (angofs/hub_api.h). */
static char *query(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s,
		   const char *stages_json, const char *updated_after)
{
	json_t *one = s->type == AO_X_TASK && s->stage_id ? json_pack("[s]", s->stage_id) : NULL;
	json_t *bt = s->batch_id ? json_pack("[s]", s->batch_id) : NULL;
	char *stage = one ? json_dumps(one, JSON_COMPACT) : NULL;
	char *batch = bt ? json_dumps(bt, JSON_COMPACT) : NULL, *q = NULL;
	int lean = s->lean;
	/* explicit filters, never the hub's defaults (Complete only, default
	 * tasks only): a view without a stage sends every stage of the project;
	 * the SDK's ExportOptions sends taskTypes with every export, issue
	 * exports too (and stage only with type=task) */
	struct hub_export_q hq = {
	    .project = s->project_id,
	    .issues = s->type == AO_X_ISSUE,
	    .ndjson = s->ndjson,
	    .stages = stage ? stage : (s->type == AO_X_TASK ? stages_json : NULL),
	    .batches = batch,
	    .metadata = cfg->include_metadata && !lean,
	    .history = cfg->include_history && !lean,
	    .key_frames = cfg->include_only_key_frames && !lean,
	    .idle_blur = cfg->include_idle_blur && !lean,
	    .task_types = cfg->task_types_json ? cfg->task_types_json : AO_XCACHE_TASK_TYPES,
	    .updated_after = updated_after,
	};

	if ((!one || stage) && (!bt || batch))
		q = hub_export_query(&hq);
	json_decref(one);
	json_decref(bt);
	free(stage);
	free(batch);
	return q;
}

char *ao_xcache_query_stages(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s,
			     const char *stages_json)
{
	return query(cfg, s, stages_json, NULL);
}

char *ao_xcache_query_incr(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s,
			   const char *stages_json, long long after_us)
{
	struct ao_xspec all = *s;
	char t[40];

	all.stage_id = NULL; /* every stage: a task that left the view is seen */
	xm_format_time(after_us, t, sizeof(t));
	return query(cfg, &all, stages_json, t);
}
