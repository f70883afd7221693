/*
 * hub_api.h - the hub's REST vocabulary, one function per endpoint: its
 * path, the escaping of every value put into it, and the envelope of its
 * reply (which member holds what). Everything above the client asks the
 * hub through these, over the seam (angofs/hub.h: hub_get, hub_post_*), so
 * the endpoints angofs uses are in one file (src/client/hub_api.c) and are
 * unit-tested against the mock client (tests/unit/test_hub_api.c).
 * Parameters and their spellings: ../shared/hub-api.md.
 *
 * Every call returns 0 or -errno with err, as the seam does; *data (or the
 * object named) is a new reference the caller releases.
 */
#ifndef ANGOFS_HUB_API_H
#define ANGOFS_HUB_API_H

#include <stddef.h>
#include <jansson.h>

#include "angofs/err.h"

struct hub;

/* Percent-escape one query value or path segment (RFC 3986 unreserved
 * bytes kept). malloc'd; NULL on ENOMEM. */
char *hub_escape(const char *s);

/* GET /listProjects?page=&limit=: data {projects, total}. */
int hub_list_projects(struct hub *h, int page, int limit, json_t **data, struct ao_err *err);

/* GET /project/{id}: the project object (data.project; data itself when it
 * is the object). EPROTO when the reply holds none. */
int hub_get_project(struct hub *h, const char *project_id, json_t **project, struct ao_err *err);

/* GET /task/{id}?includeAnswer=true: the task object (data.task, or data
 * itself when it is the object). EPROTO when the reply holds none. */
int hub_get_task(struct hub *h, const char *task_id, json_t **task, struct ao_err *err);

/* GET /project/{id}/tasks: one page of a project's tasks, data {tasks,
 * total}. */
struct hub_tasks_q {
	int page, limit;
	int answer;	    /* includeAnswer */
	const char *fields; /* `fields`, a comma list sent as is; NULL: every field */
	/* a TaskFilter, sent as `filter` (the SDK's name) and `filters` (the
	 * docs'); NULL: none */
	const json_t *filter;
	const char *sort; /* `sort` ("-updatedAt"); NULL: the hub's order */
};
int hub_get_tasks(struct hub *h, const char *project_id, const struct hub_tasks_q *q, json_t **data,
		  struct ao_err *err);

/* GET /project/{id}/assets?page=&limit=&filters=: data {assets, total};
 * filters NULL: {}, every asset. */
int hub_get_assets(struct hub *h, const char *project_id, int page, int limit,
		   const json_t *filters, json_t **data, struct ao_err *err);

/* GET /export: ask for an export; *url gets data.exportPath (malloc'd),
 * the zip's download URL. query is hub_export_query's. */
struct hub_export_q {
	const char *project;
	int issues;	     /* type=issue, else type=task */
	int ndjson;	     /* format=ndjson, else json */
	const char *stages;  /* JSON array text sent as `stage`; NULL: none */
	const char *batches; /* JSON array text sent as `batches`; NULL: none */
	int metadata, history, key_frames, idle_blur; /* include* options */
	const char *task_types;			      /* JSON array text (`taskTypes`) */
	const char *updated_after;		      /* ISO time: only tasks updated after it */
};
/* The path and query of an export request (malloc'd; NULL on ENOMEM):
 * also what names the request in logs and tests. */
char *hub_export_query(const struct hub_export_q *q);
int hub_export(struct hub *h, const char *query, char **url, struct ao_err *err);

/* The write endpoints (POST; the body is the caller's, the request is
 * kept in the spool by path so it can be sent again by another daemon). */
#define HUB_IMPORT_LABELS "/import/labels"
#define HUB_ATTACHMENTS "/attachments"
/* POST /annotate/{task}?nextStage=&isPlugin=false (the SDK's
 * _annotate_task). malloc'd; NULL on ENOMEM. */
char *hub_annotate_path(const char *task_id, int next_stage);
/* POST /project/{id}/cloud (upload_files_cloud): into buf, 0 or -1 if it
 * does not fit. */
int hub_cloud_path(const char *project_id, char *buf, size_t n);

/* GET /getSignedUrl?name=<url>&project=<id>&type=<type>&url=<url>
 * [&storageId=<id>] (hub-api.md §5.6): the SDK's _get_signed_url spelling
 * plus the docs' url= (which the current docs require), so either reading
 * finds its parameter; type one of assets, brushes, medicalBrushes, exports,
 * instructions; storage_id (NULL: none) when the asset names its storage.
 * *signed_url = data.signedUrl (malloc'd). */
int hub_signed_url(struct hub *h, const char *project_id, const char *type, const char *url,
		   const char *storage_id, char **signed_url, struct ao_err *err);

/* GET /getUploadUrl?name=&project=&type= (hub-api.md §5.6): *upload_url is
 * the pre-signed PUT URL, *object_url the stored URL (the upload URL without
 * its query string, as the SDK keeps it); both malloc'd. name must be a
 * storage name ([A-Za-z0-9._-], see hub_storage_name). The file's bytes go
 * with hub_put_file (angofs/hub.h). */
int hub_upload_url(struct hub *h, const char *project_id, const char *type, const char *name,
		   char **upload_url, char **object_url, struct ao_err *err);

/* A storage object name for file name `name` into buf: bytes other than
 * [A-Za-z0-9._-] become '_', a leading '.' becomes '_', at most n-1 bytes
 * (the extension kept). */
void hub_storage_name(const char *name, char *buf, size_t n);

#endif
