/*
 * poll.h - change polling (-o poll=SECONDS): a background thread that asks
 * the hub, once per interval and per project the mount has touched, for the
 * newest task updatedAt and the task total (one cheap request each, the
 * SDK's get_tasks(page=1, limit=1, sort="-updatedAt", fields="updatedAt");
 * two, with an updatedAt filter instead of the sort, once the hub is seen to
 * ignore the sort: src/read/poll.c). When
 * either differs from the last answer, the project's cached exports and task
 * cache go stale (as after a write through the mount) and the changed
 * callback runs on the poll thread, which the daemon uses to queue kernel
 * invalidations (never from a request handler). Requests go through the hub
 * client, so they count against the shared request budget.
 */
#ifndef ANGOFS_POLL_H
#define ANGOFS_POLL_H

#include <jansson.h>

#include "angofs/err.h"

struct hub;
struct ao_core;
struct ao_poll;

struct ao_poll_cfg {
	struct hub *hub;
	struct ao_core *core;
	long interval_s; /* > 0 */
	/* a project changed on the hub: called on the poll thread after the core
	 * marked it stale; dir is the project's mount path ("/<name>") */
	void (*changed)(void *ud, const char *project_id, const char *dir);
	void *ud;
};

struct ao_poll *ao_poll_new(const struct ao_poll_cfg *cfg, struct ao_err *err);
int ao_poll_start(struct ao_poll *p, struct ao_err *err);
/* Stop (joins the thread) and free; NULL is fine. */
void ao_poll_free(struct ao_poll *p);
/* {"interval_s", "rounds", "requests", "errors", "last_poll", "projects": {id:
 * {"updatedAt", "total", "checked_at"}}, "changes": [{"project", "at",
 * "updatedAt", "total", "was"}] (the last 20), "form": "sort" | "updatedAt
 * filter"} */
json_t *ao_poll_status(struct ao_poll *p);

/* Core side (src/read/projects.c, over the core's project list). */
/* The projects the mount has read an export or a task of (new ref):
 * {id: epoch ms of the first such read}. */
json_t *ao_core_touched_projects(struct ao_core *c);
/* The project's mount path "/<name>" into buf; 0 or -ENOENT. */
int ao_core_project_dir(struct ao_core *c, const char *project_id, char *buf, size_t len);
/* Mark a project touched (the core calls it on an export or task open). */
void ao_core_mark_touched(struct ao_core *c, const char *project_id);

#endif
