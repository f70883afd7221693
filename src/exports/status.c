/*
 * status.c - the export cache's part of the .status file: one record per
 * entry this daemon knows (state, size, progress of a download, generation,
 * last error, what its last refresh did: incremental or full, records
 * merged, requests, bytes), read under the cache's mutex; nothing here touches the disk.
 */
#include <string.h>

#include <jansson.h>

#include "exports_int.h"
#include "../cachedir/cachedir.h"

long long ao_xcache_newest_us(struct ao_xcache *c, const char *project_id)
{
	long long top = 0;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	for (struct ao_xentry *e = c->entries; e; e = e->next)
		if (e->known && e->have && e->type == AO_X_TASK && e->hwm_us > top &&
		    !strcmp(e->project_id, project_id))
			top = e->hwm_us;
	pthread_mutex_unlock(&c->lock);
	return top;
}

json_t *ao_xcache_status(struct ao_xcache *c)
{
	json_t *arr = json_array();
	time_t now = time(NULL);
	long long total = 0;

	pthread_mutex_lock(&c->lock);
	for (struct ao_xentry *e = c->entries; e; e = e->next) {
		if (!e->have && !e->fetching && e->last_rc == 0)
			continue; /* never fetched: nothing to report */
		if (e->have)
			total += e->size;
		const char *state = e->fetching ? "downloading"
				    : !e->have	? (e->last_rc < 0 ? "failed" : "absent")
				    : xc_is_fresh(c, e, now) ? "cached"
							     : "stale";
		json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:i}", "id", e->hash, "state", state,
				      "size", (json_int_t)(e->have ? e->size : 0), "bytes_done",
				      (json_int_t)__atomic_load_n(&e->done, __ATOMIC_RELAXED),
				      "bytes_total",
				      (json_int_t)__atomic_load_n(&e->total, __ATOMIC_RELAXED),
				      "open", e->open_count);
		if (!o)
			continue;
		if (e->known) {
			json_object_set_new(o, "project", json_string(e->project_id));
			json_object_set_new(o, "type",
					    json_string(e->type == AO_X_ISSUE ? "issue" : "task"));
			json_object_set_new(o, "format",
					    json_string(e->ndjson ? "ndjson" : "json"));
			if (e->stage_id)
				json_object_set_new(o, "stage", json_string(e->stage_id));
			if (e->batch_id)
				json_object_set_new(o, "batch", json_string(e->batch_id));
			if (e->lean)
				json_object_set_new(o, "purpose", json_string("tasks/ listing"));
		}
		if (e->have) {
			json_object_set_new(o, "fetched_at", json_integer(e->fetched_at));
			json_object_set_new(o, "generation", json_integer((json_int_t)e->dgen));
		}
		if (e->stream_dgen) /* served while written: last_refresh comes after */
			json_object_set_new(o, "writing", json_true());
		long long ready;
		int readers;
		if (e->fetching && xc_grow_state(e, &ready, &readers)) {
			/* a cold download read while it is unzipped (exports/grow.c) */
			json_object_set_new(o, "bytes_unzipped", json_integer((json_int_t)ready));
			json_object_set_new(o, "readers_following", json_integer(readers));
		}
		if (e->last_refresh.mode) {
			const struct xc_refresh *r = &e->last_refresh;
			json_t *lr = json_pack(
			    "{s:s,s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:I,s:I}", "mode", r->mode, "changed",
			    (json_int_t)r->changed, "replaced", (json_int_t)r->replaced, "added",
			    (json_int_t)r->added, "removed", (json_int_t)r->removed, "records",
			    (json_int_t)r->records, "requests", r->requests, "bytes",
			    (json_int_t)r->bytes, "ms", (json_int_t)r->ms, "at", (json_int_t)r->at);
			if (lr && !strcmp(r->mode, "incremental")) {
				json_object_set_new(lr, "indexed", json_boolean(r->indexed));
				json_object_set_new(lr, "streamed", json_boolean(r->streamed));
			}
			if (lr && r->why[0])
				json_object_set_new(lr, "full_because", json_string(r->why));
			if (lr)
				json_object_set_new(o, "last_refresh", lr);
		}
		if (e->last_rc < 0 && e->last_msg[0])
			json_object_set_new(o, "last_error", json_string(e->last_msg));
		if (e->have && e->served_stale && e->last_rc < 0)
			/* degraded: the last refresh failed (hub unreachable, a
			 * damaged download): the cached generation is served */
			json_object_set_new(o, "degraded", json_true());
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&c->lock);
	/* pinned snapshots count toward the cap (cachedir/pins.c) */
	long long pinned = cd_pinned_bytes(c->cfg.pin_dir);
	return json_pack("{s:o,s:I,s:I,s:I,s:I}", "exports", arr, "cache_bytes",
			 (json_int_t)(total + pinned), "pinned_bytes", (json_int_t)pinned,
			 "cache_cap", (json_int_t)c->cfg.max_bytes, "ttl_s",
			 (json_int_t)c->cfg.ttl_s);
}
