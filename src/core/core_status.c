/*
 * core_status.c - the text of MOUNT/.status: the export cache's entries with
 * the paths users see under the mount, completeness results, the media
 * cache's counters and the write side's status. Split from core.c, which
 * keeps paths and nodes.
 */
#include <stdio.h>
#include <string.h>

#include "core_int.h"
#include "angofs/export_cache.h"
#include "angofs/media.h"

static const char *sub_dname(const struct sub *v, size_t n, const char *id)
{
	for (size_t i = 0; id && i < n; i++)
		if (!strcmp(v[i].id, id))
			return v[i].dname;
	return NULL;
}

/* Give each export of the status the path users see under the mount
 * ("Street Scenes/export/stage/Review/tasks.json"). */
static void status_paths(struct ao_core *c, json_t *xs)
{
	json_t *arr = json_object_get(xs, "exports"), *x;
	size_t i;

	pthread_mutex_lock(&c->lock);
	json_array_foreach(arr, i, x)
	{
		const char *pid = json_string_value(json_object_get(x, "project"));
		const char *type = json_string_value(json_object_get(x, "type"));
		const char *fmt = json_string_value(json_object_get(x, "format"));
		const char *st = json_string_value(json_object_get(x, "stage"));
		const char *bt = json_string_value(json_object_get(x, "batch"));
		struct project *p = NULL;
		char path[2048];

		for (size_t k = 0; pid && k < c->nprojects; k++)
			if (!strcmp(c->projects[k]->id, pid))
				p = c->projects[k];
		if (!p || !type || !fmt)
			continue;
		const char *sn = sub_dname(p->stages, p->nstages, st);
		const char *bn = sub_dname(p->batches, p->nbatches, bt);
		if ((st && !sn) || (bt && !bn))
			continue;
		if (json_object_get(x, "purpose")) /* the lean export behind tasks/ */
			snprintf(path, sizeof(path), "%s/tasks/", p->dname);
		else
			snprintf(path, sizeof(path), "%s/export/%s%s%s%s%s%s%s.%s", p->dname,
				 sn ? "stage/" : "", sn ? sn : "", sn ? "/" : "",
				 bn ? "batch/" : "", bn ? bn : "", bn ? "/" : "",
				 !strcmp(type, "issue") ? "issues" : "tasks", fmt);
		json_object_set_new(x, "path", json_string(path));
	}
	pthread_mutex_unlock(&c->lock);
}

/* Every pinned snapshot, with the path users see ("Street Photos/
 * snapshots/v1") and its size on disk. */
static json_t *status_snapshots(struct ao_core *c)
{
	json_t *by = snap_status(c), *out = json_array(), *arr, *s;
	const char *pid;
	size_t i;

	json_object_foreach(by, pid, arr)
	{
		struct project *p = proj_by_id(c, pid);
		char dname[AO_NAME_MAX + 1] = "";
		if (p) {
			pthread_mutex_lock(&c->lock);
			snprintf(dname, sizeof(dname), "%s", p->dname);
			pthread_mutex_unlock(&c->lock);
		}
		json_array_foreach(arr, i, s)
		{
			char path[1024];
			snprintf(path, sizeof(path), "%s/snapshots/%s", dname[0] ? dname : pid,
				 json_string_value(json_object_get(s, "name")));
			json_object_set_new(s, "project", json_string(pid));
			json_object_set_new(s, "path", json_string(path));
			json_array_append(out, s);
		}
	}
	json_decref(by);
	return out;
}

char *core_status_text(struct ao_core *c, size_t *len)
{
	json_t *j = c->cfg.status_info ? c->cfg.status_info(c->cfg.status_info_ud) : NULL;
	if (!j)
		j = json_object();
	json_t *xs = ao_xcache_status(c->cfg.xc);
	status_paths(c, xs);
	json_object_set_new(j, "exports", xs);
	json_object_set_new(j, "completeness", xcheck_status(c));
	json_object_set_new(j, "snapshots", status_snapshots(c));
	/* dataset view sets: the current generation, and the retired ones whose
	 * old paths still serve their bytes (-o grace) */
	json_t *ds =
	    json_pack("{s:I,s:o}", "grace_s", (json_int_t)c->cfg.ds_grace_s, "sets", dsv_status(c));
	if (ds)
		json_object_set_new(j, "datasets", ds);
	if (c->cfg.media) {
		struct ao_media_stats ms;
		ao_media_get_stats(c->cfg.media, &ms);
		json_object_set_new(
		    j, "media",
		    json_pack("{sI,sI,sI,sI,sI}", "downloads", (json_int_t)ms.downloads, "signs",
			      (json_int_t)ms.signs, "resigns", (json_int_t)ms.resigns, "evictions",
			      (json_int_t)ms.evictions, "bytes", (json_int_t)ms.bytes));
	}
	if (c->cfg.extra_status) {
		json_t *w = c->cfg.extra_status(c->cfg.extra_ud);
		if (w)
			json_object_set_new(j, "writes", w);
	}
	char *s = proj_pretty_json(j, len);
	json_decref(j);
	return s;
}
