/*
 * xquery.c - what names an export cache entry and what asks the hub for it:
 * the key (every parameter that changes the export's bytes, plus the host),
 * its FNV-1a hash (the entry's file names) and the GET /export query. Kept
 * apart from the cache's state machine: pure functions, unit-tested.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "angofs/export_cache.h"
#include "angofs/hub.h"
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

/* JSON array of one string, percent-escaped for a query. */
static char *json_array1_escaped(const char *v)
{
	json_t *a = json_pack("[s]", v);
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	char *e = s ? hub_escape(s) : NULL;
	json_decref(a);
	free(s);
	return e;
}

char *ao_xcache_query(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s)
{
	return ao_xcache_query_stages(cfg, s, NULL);
}

char *ao_xcache_query_stages(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s,
			     const char *stages_json)
{
	char *pid = hub_escape(s->project_id), *stage = NULL, *batch = NULL, *tt = NULL;
	char *q = NULL;

	/* explicit filters, never the hub's defaults (Complete only, default
	 * tasks only): a view without a stage sends every stage of the project */
	if (s->type == AO_X_TASK && s->stage_id)
		stage = json_array1_escaped(s->stage_id);
	else if (s->type == AO_X_TASK && stages_json)
		stage = hub_escape(stages_json);
	if (s->batch_id)
		batch = json_array1_escaped(s->batch_id);
	/* the SDK's ExportOptions sends taskTypes with every export, issue
	 * exports too (and stage only with type=task) */
	tt = hub_escape(cfg->task_types_json ? cfg->task_types_json : AO_XCACHE_TASK_TYPES);
#define TF(x) ((x) && !s->lean ? "true" : "false")
	if (pid &&
	    asprintf(&q,
		     "/export?project=%s&type=%s&format=%s%s%s%s%s&includeMetadata=%s"
		     "&includeHistory=%s&includeOnlyKeyFrames=%s"
		     "&includeIdleBlurDurations=%s%s%s&sendEmail=false&doNotNotify=true",
		     pid, s->type == AO_X_ISSUE ? "issue" : "task", s->ndjson ? "ndjson" : "json",
		     stage ? "&stage=" : "", stage ? stage : "", batch ? "&batches=" : "",
		     batch ? batch : "", TF(cfg->include_metadata), TF(cfg->include_history),
		     TF(cfg->include_only_key_frames), TF(cfg->include_idle_blur),
		     tt ? "&taskTypes=" : "", tt ? tt : "") < 0)
		q = NULL;
#undef TF
	free(pid);
	free(stage);
	free(batch);
	free(tt);
	return q;
}

char *ao_xcache_query_incr(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s,
			   const char *stages_json, long long after_us)
{
	struct ao_xspec all = *s;
	char t[40], *bound = NULL, *ebound, *base, *q = NULL;

	all.stage_id = NULL; /* every stage: a task that left the view is seen */
	base = ao_xcache_query_stages(cfg, &all, stages_json);
	xm_format_time(after_us, t, sizeof(t));
	if (asprintf(&bound, "{\"$gt\":\"%s\"}", t) < 0)
		bound = NULL;
	ebound = bound ? hub_escape(bound) : NULL;
	if (base && ebound && asprintf(&q, "%s&updatedAt=%s", base, ebound) < 0)
		q = NULL;
	free(base);
	free(bound);
	free(ebound);
	return q;
}
