/*
 * hub_api.c - one function per endpoint of the hub (include/angofs/hub_api.h):
 * path, escaping and envelope, over the seam's hub_get and hub_post_*.
 * Queries keep the parameter order angofs always sent: the offline store
 * (hub_store.c) names a reply by its path and query, so a new order would
 * orphan the replies users have on disk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/hub.h"
#include "angofs/hub_api.h"

char *hub_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* GET <path><escaped id><query>. */
static int get_with_id(struct hub *h, const char *path, const char *id, const char *query,
		       json_t **data, struct ao_err *err)
{
	char *e = hub_escape(id ? id : ""), *pq = NULL;
	int rc;

	if (!e || asprintf(&pq, "%s%s%s", path, e, query) < 0)
		pq = NULL;
	free(e);
	if (!pq)
		return ao_errf(err, ENOMEM, "out of memory");
	rc = hub_get(h, pq, data, err);
	free(pq);
	return rc;
}

/* The object data.<member>, or data itself when it is the object (the
 * local hub's and older replies); data's reference is taken over. */
static int unwrap(json_t *data, const char *member, json_t **out, const char *what,
		  struct ao_err *err)
{
	json_t *o = json_object_get(data, member);

	if (!json_is_object(o))
		o = data;
	if (!json_is_object(o)) {
		json_decref(data);
		return ao_errf(err, EPROTO, "%s: reply has no data.%s", what, member);
	}
	*out = json_incref(o);
	json_decref(data);
	return 0;
}

int hub_list_projects(struct hub *h, int page, int limit, json_t **data, struct ao_err *err)
{
	char pq[96];

	snprintf(pq, sizeof(pq), "/listProjects?page=%d&limit=%d", page, limit);
	return hub_get(h, pq, data, err);
}

/* GET <base><id><query> and unwrap data.<key> (a project, a task). */
static int get_one(struct hub *h, const char *base, const char *id, const char *query,
		   const char *key, json_t **out, struct ao_err *err)
{
	char what[300];
	json_t *data = NULL;
	int rc;

	*out = NULL;
	rc = get_with_id(h, base, id, query, &data, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "GET %s%s", base, id);
	return unwrap(data, key, out, what, err);
}

int hub_get_project(struct hub *h, const char *project_id, json_t **project, struct ao_err *err)
{
	return get_one(h, "/project/", project_id, "", "project", project, err);
}

int hub_get_task(struct hub *h, const char *task_id, json_t **task, struct ao_err *err)
{
	return get_one(h, "/task/", task_id, "?includeAnswer=true", "task", task, err);
}

/* A filter as its compact JSON text, escaped (malloc'd; NULL on ENOMEM). */
static char *filter_text(const json_t *f)
{
	char *s = f ? json_dumps(f, JSON_COMPACT) : strdup("{}"), *e = s ? hub_escape(s) : NULL;

	free(s);
	return e;
}

int hub_get_tasks(struct hub *h, const char *project_id, const struct hub_tasks_q *q, json_t **data,
		  struct ao_err *err)
{
	char *ep = hub_escape(project_id), *ef = q->filter ? filter_text(q->filter) : NULL;
	char *pq = NULL;
	int rc;

	if (!ep || (q->filter && !ef) ||
	    asprintf(&pq, "/project/%s/tasks?page=%d&limit=%d%s%s&includeAnswer=%s%s%s%s%s%s%s", ep,
		     q->page, q->limit, q->fields ? "&fields=" : "", q->fields ? q->fields : "",
		     q->answer ? "true" : "false", ef ? "&filter=" : "", ef ? ef : "",
		     ef ? "&filters=" : "", ef ? ef : "", q->sort ? "&sort=" : "",
		     q->sort ? q->sort : "") < 0)
		pq = NULL;
	free(ep);
	free(ef);
	if (!pq)
		return ao_errf(err, ENOMEM, "out of memory");
	rc = hub_get(h, pq, data, err);
	free(pq);
	return rc;
}

int hub_get_assets(struct hub *h, const char *project_id, int page, int limit,
		   const json_t *filters, json_t **data, struct ao_err *err)
{
	char *ep = hub_escape(project_id), *ef = filter_text(filters), *pq = NULL;
	int rc;

	if (!ep || !ef ||
	    asprintf(&pq, "/project/%s/assets?page=%d&limit=%d&filters=%s", ep, page, limit, ef) <
		0)
		pq = NULL;
	free(ep);
	free(ef);
	if (!pq)
		return ao_errf(err, ENOMEM, "out of memory");
	rc = hub_get(h, pq, data, err);
	free(pq);
	return rc;
}

/* &name=<escaped value>, or "" when value is NULL (malloc'd either way;
 * NULL on ENOMEM). */
static char *param(const char *name, const char *value)
{
	char *e = value ? hub_escape(value) : NULL, *p = NULL;

	if (value && !e)
		return NULL;
	if (asprintf(&p, "%s%s%s%s", value ? "&" : "", value ? name : "", value ? "=" : "",
		     e ? e : "") < 0)
		p = NULL;
	free(e);
	return p;
}

char *hub_export_query(const struct hub_export_q *q)
{
	char *pid = hub_escape(q->project), *stage = param("stage", q->stages);
	char *batch = param("batches", q->batches), *tt = param("taskTypes", q->task_types);
	char *after = NULL, *upd = NULL, *out = NULL;

	if (q->updated_after && asprintf(&after, "{\"$gt\":\"%s\"}", q->updated_after) < 0)
		after = NULL;
	upd = param("updatedAt", after);
#define TF(x) ((x) ? "true" : "false")
	if (pid && stage && batch && tt && upd &&
	    asprintf(&out,
		     "/export?project=%s&type=%s&format=%s%s%s&includeMetadata=%s"
		     "&includeHistory=%s&includeOnlyKeyFrames=%s"
		     "&includeIdleBlurDurations=%s%s&sendEmail=false&doNotNotify=true%s",
		     pid, q->issues ? "issue" : "task", q->ndjson ? "ndjson" : "json", stage, batch,
		     TF(q->metadata), TF(q->history), TF(q->key_frames), TF(q->idle_blur), tt,
		     upd) < 0)
		out = NULL;
#undef TF
	free(pid);
	free(stage);
	free(batch);
	free(tt);
	free(after);
	free(upd);
	return out;
}

int hub_export(struct hub *h, const char *query, char **url, struct ao_err *err)
{
	json_t *data = NULL;
	int rc;

	*url = NULL;
	rc = hub_get(h, query, &data, err);
	if (rc < 0)
		return rc;
	const char *u = json_string_value(json_object_get(data, "exportPath"));
	if (!u || !*u)
		rc = ao_errf(err, EPROTO, "GET /export: the reply has no data.exportPath");
	else if (!(*url = strdup(u)))
		rc = ao_errf(err, ENOMEM, "out of memory");
	json_decref(data);
	return rc;
}

char *hub_annotate_path(const char *task_id, int next_stage)
{
	char *e = hub_escape(task_id), *p = NULL;

	/* the SDK's _annotate_task: nextStage, then isPlugin=false */
	if (e && asprintf(&p, "/annotate/%s?nextStage=%s&isPlugin=false", e,
			  next_stage ? "true" : "false") < 0)
		p = NULL;
	free(e);
	return p;
}

int hub_cloud_path(const char *project_id, char *buf, size_t n)
{
	char *e = hub_escape(project_id);
	int r = e ? snprintf(buf, n, "/project/%s/cloud", e) : -1;

	free(e);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

int hub_signed_url(struct hub *h, const char *project_id, const char *type, const char *url,
		   const char *storage_id, char **signed_url, struct ao_err *err)
{
	char *en = hub_escape(url), *ep = hub_escape(project_id ? project_id : ""), *pq = NULL;
	char *es = storage_id && *storage_id ? hub_escape(storage_id) : NULL;
	json_t *data = NULL;
	int rc;

	*signed_url = NULL;
	if (!en || !ep || (storage_id && *storage_id && !es) ||
	    asprintf(&pq, "/getSignedUrl?name=%s&project=%s&type=%s&url=%s%s%s", en, ep, type, en,
		     es ? "&storageId=" : "", es ? es : "") < 0)
		pq = NULL;
	free(en);
	free(ep);
	free(es);
	if (!pq)
		return ao_errf(err, ENOMEM, "out of memory");
	rc = hub_get(h, pq, &data, err);
	free(pq);
	if (rc < 0)
		return rc;
	const char *s = json_string_value(json_object_get(data, "signedUrl"));
	if (!s && json_is_string(data)) /* a bare string as data */
		s = json_string_value(data);
	if (!s || !*s)
		rc = ao_errf(err, EPROTO, "GET /getSignedUrl: the reply has no data.signedUrl");
	else if (!(*signed_url = strdup(s)))
		rc = ao_errf(err, ENOMEM, "out of memory");
	json_decref(data);
	return rc;
}

int hub_upload_url(struct hub *h, const char *project_id, const char *type, const char *name,
		   char **upload_url, char **object_url, struct ao_err *err)
{
	char *en = hub_escape(name), *ep = hub_escape(project_id), *et = hub_escape(type),
	     *pq = NULL;
	const char *u;
	json_t *data = NULL;
	int rc;

	*upload_url = *object_url = NULL;
	if (!en || !ep || !et ||
	    asprintf(&pq, "/getUploadUrl?name=%s&project=%s&type=%s", en, ep, et) < 0) {
		pq = NULL;
		rc = ao_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	rc = hub_get(h, pq, &data, err);
	if (rc < 0)
		goto out;
	u = json_string_value(json_object_get(data, "uploadUrl"));
	if (!u || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))) {
		rc = ao_errf(err, EPROTO, "GET /v2/getUploadUrl: the reply has no uploadUrl");
		goto out;
	}
	*upload_url = strdup(u);
	*object_url = strndup(u, strcspn(u, "?#"));
	if (!*upload_url || !*object_url) {
		free(*upload_url);
		free(*object_url);
		*upload_url = *object_url = NULL;
		rc = ao_errf(err, ENOMEM, "out of memory");
	}
out:
	json_decref(data);
	free(pq);
	free(en);
	free(ep);
	free(et);
	return rc;
}

/* Storage names follow the SDK: the stored object URL is the upload URL
 * without its query, names are [A-Za-z0-9._-], not starting with a dot. */
void hub_storage_name(const char *name, char *buf, size_t n)
{
	size_t len = strlen(name), ext = 0, keep, i;
	const char *dot = strrchr(name, '.');

	if (n == 0)
		return;
	if (dot && dot != name && len - (size_t)(dot - name) < 16)
		ext = len - (size_t)(dot - name);
	/* cut the stem, not the extension, when the name is too long */
	keep = len < n ? len : (n - 1 > ext ? n - 1 - ext : 0);
	for (i = 0; i < len; i++) {
		size_t at = i < keep ? i : (i >= len - ext ? keep + (i - (len - ext)) : (size_t)-1);
		unsigned char c = (unsigned char)name[i];

		if (at == (size_t)-1 || at >= n - 1)
			continue;
		buf[at] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
			      ? (char)c
			      : '_';
	}
	buf[len < n ? len : (keep + ext < n ? keep + ext : n - 1)] = '\0';
	if (buf[0] == '.')
		buf[0] = '_';
}
