/*
 * core_cb.c - what changes the core's state from outside a read (split
 * from core.c, which keeps paths, nodes and reads): touch (a refresh
 * request), the write side's callbacks (a project written, an asset added,
 * a task written) and what it reads back through the core, and the two
 * directory operations of the read side: mkdir and rmdir of a pinned
 * snapshot (src/core/snap.c) and readlink of snapshots/latest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "angofs/export_cache.h"
#include "angofs/log.h"

/* --- refresh and write-side callbacks ------------------------------------ */

int ao_core_touch(struct ao_core *c, const struct ao_node *n, struct ao_err *err)
{
	struct project *p = n->project_id[0] ? proj_by_id(c, n->project_id) : NULL;

	(void)err;
	switch (n->kind) {
	case AO_N_ROOT:
		pthread_mutex_lock(&c->lock);
		ao_slot_drop(&c->list_refresh);
		pthread_mutex_unlock(&c->lock);
		break;
	case AO_N_EXPORT_FILE:
		ao_xcache_touched(c->cfg.xc, n->x);
		if (p && !n->sub_id[0])
			task_drop_list(c, p);
		break;
	case AO_N_EXPORT_DIR:
		ao_xcache_project_stale(c->cfg.xc, n->project_id);
		if (p)
			task_drop_list(c, p);
		break;
	case AO_N_PROJECT:
	case AO_N_PROJECT_JSON:
	case AO_N_STAGES_DIR:
	case AO_N_BATCHES_DIR:
		if (p) {
			pthread_mutex_lock(&c->lock);
			ao_slot_drop(&p->detail_refresh);
			pthread_mutex_unlock(&c->lock);
			if (n->kind == AO_N_PROJECT)
				task_drop_list(c, p);
		}
		break;
	case AO_N_TASKS_DIR:
		if (p)
			task_drop_list(c, p);
		break;
	case AO_N_ASSETS_DIR:
		if (p)
			asset_drop_list(c, p);
		break;
	case AO_N_TASK_DIR:
	case AO_N_TASK_JSON:
	case AO_N_ANSWER_JSON:
		task_drop(c, n->task_id);
		break;
	case AO_N_DS_VDIR:
	case AO_N_DS_FILE: /* the view's feeding export: the next access rebuilds */
		ao_xcache_mark_stale(c->cfg.xc, n->x);
		break;
	default:
		break;
	}
	return 0;
}

int ao_core_snap_mkdir(struct ao_core *c, const struct ao_node *n, const char *name,
		       struct ao_err *err)
{
	if (n->kind != AO_N_SNAPS_DIR)
		return ao_errf(err, EPERM, "not a place for directories");
	if (c->cfg.read_only)
		return ao_errf(err, EROFS, "the mount is read-only");
	return snap_create(c, n->project_id, name, err);
}

int ao_core_snap_rmdir(struct ao_core *c, const struct ao_node *n, struct ao_err *err)
{
	if (n->kind != AO_N_SNAP_DIR)
		return ao_errf(err, EPERM, "not a snapshot");
	if (c->cfg.read_only)
		return ao_errf(err, EROFS, "the mount is read-only");
	return snap_remove(c, n->project_id, n->snap, err);
}

int ao_core_readlink(struct ao_core *c, const struct ao_node *n, char *buf, size_t size,
		     struct ao_err *err)
{
	if (n->kind != AO_N_SNAP_LINK)
		return ao_errf(err, EINVAL, "not a symbolic link");
	return snap_readlink(c, n, buf, size, err);
}

static void written(struct ao_core *c, const char *project_id, const json_t *asset)
{
	struct project *p = proj_by_id(c, project_id);
	ao_xcache_project_stale(c->cfg.xc, project_id);
	if (p) {
		task_drop_list(c, p);
		if (asset) /* the new asset joins the listing (assets_add.c) */
			asset_add(c, p, asset);
		else
			asset_drop_list(c, p); /* an asset list, an import: re-read */
	}
	task_drop_project(c, project_id);
}

void ao_core_project_written(struct ao_core *c, const char *project_id)
{
	written(c, project_id, NULL);
}

void ao_core_asset_added(struct ao_core *c, const char *project_id, const json_t *asset)
{
	written(c, project_id, asset);
}

void ao_core_task_written(struct ao_core *c, const char *project_id, const char *task_id)
{
	(void)project_id;
	task_drop(c, task_id);
}

int ao_core_category_schema(struct ao_core *c, const char *project_id, json_t **schema,
			    struct ao_err *err)
{
	struct project *p = proj_by_id(c, project_id);
	int rc;

	*schema = NULL;
	if (!p) {
		rc = proj_list_fresh(c, 1, err);
		if (rc < 0)
			return rc;
		p = proj_by_id(c, project_id);
		if (!p)
			return ao_errf(err, ENOENT, "no project with id '%s'", project_id);
	}
	rc = proj_detail(c, p, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	json_t *cs = json_object_get(p->detail, "categorySchema");
	*schema = json_is_object(cs) ? json_deep_copy(cs) : json_object();
	pthread_mutex_unlock(&c->lock);
	return *schema ? 0 : ao_errf(err, ENOMEM, "out of memory");
}

int ao_core_read_answer(struct ao_core *c, const char *project_id, const char *task_id, char **buf,
			size_t *len, struct ao_err *err)
{
	return task_fetch(c, project_id, task_id, 1, buf, len, err);
}

struct ao_media *ao_core_media(struct ao_core *c)
{
	return c->cfg.media;
}

int ao_core_task_masks(struct ao_core *c, const char *project_id, const char *task_id,
		       json_t **masks, struct ao_err *err)
{
	return task_masks(c, project_id, task_id, masks, err);
}
