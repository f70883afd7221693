/*
 * test_hub_api.c - the hub's REST vocabulary (include/angofs/hub_api.h)
 * against the mock client: each endpoint's exact path and query (the mock
 * answers only the exact string), the escaping of the values put into it,
 * the envelope of its reply; and the -o offline reply store
 * (src/client/hub_store.c) as a client over the mock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/client/hub_store.h"
#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "mock_hub.h"
#include "t.h"

static void escape(void)
{
	char *e = hub_escape("a b/c?d&e=f~g.h_i-j%\xc3\xa9");

	CHECK_STR(e, "a%20b%2Fc%3Fd%26e%3Df~g.h_i-j%25%C3%A9");
	free(e);
}

static void reads(struct hub *h, struct mock_hub *m)
{
	struct ao_err e;
	json_t *d = NULL;

	mock_hub_on(m, "GET", "/listProjects?page=2&limit=50", "{\"projects\":[],\"total\":0}");
	CHECK_INT(hub_list_projects(h, 2, 50, &d, &e), 0);
	CHECK(json_is_array(json_object_get(d, "projects")));
	json_decref(d);

	/* the project: data.project, or data itself; ids escaped */
	mock_hub_on(m, "GET", "/project/p%201", "{\"project\":{\"_id\":\"p 1\"}}");
	CHECK_INT(hub_get_project(h, "p 1", &d, &e), 0);
	CHECK_STR(json_string_value(json_object_get(d, "_id")), "p 1");
	json_decref(d);
	mock_hub_on(m, "GET", "/project/p2", "{\"_id\":\"p2\",\"name\":\"bare\"}");
	CHECK_INT(hub_get_project(h, "p2", &d, &e), 0);
	CHECK_STR(json_string_value(json_object_get(d, "name")), "bare");
	json_decref(d);
	mock_hub_on(m, "GET", "/project/p3", "[1]");
	CHECK_INT(hub_get_project(h, "p3", &d, &e), -EPROTO);
	CHECK(d == NULL && strstr(e.msg, "GET /project/p3: reply has no data.project"));

	mock_hub_on(m, "GET", "/task/t%2F1?includeAnswer=true", "{\"task\":{\"_id\":\"t/1\"}}");
	CHECK_INT(hub_get_task(h, "t/1", &d, &e), 0);
	CHECK_STR(json_string_value(json_object_get(d, "_id")), "t/1");
	json_decref(d);
	CHECK_INT(hub_get_task(h, "nope", &d, &e), -ENOENT);

	/* a project's tasks: parameters in the order always sent */
	struct hub_tasks_q q = {.page = 3, .limit = 100, .answer = 1};
	mock_hub_on(m, "GET", "/project/p1/tasks?page=3&limit=100&includeAnswer=true",
		    "{\"tasks\":[],\"total\":7}");
	CHECK_INT(hub_get_tasks(h, "p1", &q, &d, &e), 0);
	CHECK_INT(json_integer_value(json_object_get(d, "total")), 7);
	json_decref(d);
	json_t *f = json_pack("{s:{s:s}}", "updatedAt", "$gt", "2025-01-01T00:00:00.000Z");
	struct hub_tasks_q poll = {.page = 1,
				   .limit = 1,
				   .answer = 1,
				   .fields = "updatedAt,_id",
				   .filter = f,
				   .sort = "-updatedAt"};
	mock_hub_on(m, "GET",
		    "/project/p1/tasks?page=1&limit=1&fields=updatedAt,_id&includeAnswer=true"
		    "&filter=%7B%22updatedAt%22%3A%7B%22%24gt%22%3A%222025-01-01T00%3A00%3A00.000Z"
		    "%22%7D%7D&filters=%7B%22updatedAt%22%3A%7B%22%24gt%22%3A%222025-01-01T00%3A00"
		    "%3A00.000Z%22%7D%7D&sort=-updatedAt",
		    "{\"tasks\":[],\"total\":0}");
	CHECK_INT(hub_get_tasks(h, "p1", &poll, &d, &e), 0);
	json_decref(d);
	json_decref(f);

	/* assets: filters {} when none */
	mock_hub_on(m, "GET", "/project/p1/assets?page=1&limit=100&filters=%7B%7D",
		    "{\"assets\":[],\"total\":0}");
	CHECK_INT(hub_get_assets(h, "p1", 1, 100, NULL, &d, &e), 0);
	json_decref(d);
	f = json_pack("{s:s}", "externalId", "a b.jpg");
	mock_hub_on(m, "GET",
		    "/project/p1/assets?page=2&limit=10&filters=%7B%22externalId%22%3A%22a%20b.jpg"
		    "%22%7D",
		    "{\"assets\":[],\"total\":0}");
	CHECK_INT(hub_get_assets(h, "p1", 2, 10, f, &d, &e), 0);
	json_decref(d);
	json_decref(f);
}

static void export(struct hub *h, struct mock_hub *m)
{
	struct hub_export_q q = {.project = "p1",
				 .ndjson = 1,
				 .stages = "[\"s 1\"]",
				 .metadata = 1,
				 .task_types = "[\"default\"]"};
	struct ao_err e;
	char *url = NULL, *s = hub_export_query(&q);

	CHECK_STR(s, "/export?project=p1&type=task&format=ndjson&stage=%5B%22s%201%22%5D"
		     "&includeMetadata=true&includeHistory=false&includeOnlyKeyFrames=false"
		     "&includeIdleBlurDurations=false&taskTypes=%5B%22default%22%5D"
		     "&sendEmail=false&doNotNotify=true");
	mock_hub_on(m, "GET", s, "{\"exportPath\":\"https://dl/x.zip?sig=1\"}");
	CHECK_INT(hub_export(h, s, &url, &e), 0);
	CHECK_STR(url, "https://dl/x.zip?sig=1");
	free(url);
	free(s);
	q.issues = 1;
	q.stages = NULL;
	q.batches = "[\"b\"]";
	q.updated_after = "2025-01-01T00:00:00.000000Z";
	s = hub_export_query(&q);
	CHECK(strstr(s, "type=issue&format=ndjson&batches=%5B%22b%22%5D&includeMetadata") != NULL);
	CHECK(strstr(s, "doNotNotify=true&updatedAt=%7B%22%24gt%22%3A%222025-01-01T00%3A00%3A00."
			"000000Z%22%7D") != NULL);
	mock_hub_on(m, "GET", s, "{\"other\":1}");
	CHECK_INT(hub_export(h, s, &url, &e), -EPROTO);
	CHECK(url == NULL && strstr(e.msg, "no data.exportPath"));
	free(s);
}

static void writes(struct hub *h, struct mock_hub *m)
{
	char buf[64], *p = hub_annotate_path("abc 1/2", 1), *sg = NULL, *up = NULL, *obj = NULL;
	struct ao_err e;

	CHECK_STR(p, "/annotate/abc%201%2F2?nextStage=true&isPlugin=false");
	free(p);
	p = hub_annotate_path("t1", 0);
	CHECK_STR(p, "/annotate/t1?nextStage=false&isPlugin=false");
	free(p);
	CHECK_INT(hub_cloud_path("p 1", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/project/p%201/cloud");
	CHECK_INT(hub_cloud_path("p1", buf, 10), -1); /* does not fit */

	mock_hub_on(m, "GET",
		    "/getSignedUrl?name=https%3A%2F%2Fs%2Fa.png&project=p1&type=assets"
		    "&url=https%3A%2F%2Fs%2Fa.png&storageId=st%201",
		    "{\"signedUrl\":\"https://s/a.png?sig=2\"}");
	CHECK_INT(hub_signed_url(h, "p1", "assets", "https://s/a.png", "st 1", &sg, &e), 0);
	CHECK_STR(sg, "https://s/a.png?sig=2");
	free(sg);
	mock_hub_on(m, "GET", "/getUploadUrl?name=a.png&project=p1&type=assets",
		    "{\"uploadUrl\":\"https://s/up/a.png?X-Amz-Signature=1\"}");
	CHECK_INT(hub_upload_url(h, "p1", "assets", "a.png", &up, &obj, &e), 0);
	CHECK_STR(obj, "https://s/up/a.png");
	free(up);
	free(obj);
	hub_storage_name("a b/\xc3\xa7.jpg", buf, sizeof(buf));
	CHECK_STR(buf, "a_b___.jpg");
}

/* The offline store over the mock: online replies kept, offline served. */
static void store(void)
{
	char dir[] = "/tmp/angofs-test-store-XXXXXX", path[256];
	struct mock_hub *m;
	struct ao_err e;
	json_t *d = NULL;

	CHECK(mkdtemp(dir) != NULL);
	struct hub *online = hub_store_new(mock_hub_new(&m), dir, "http://h/v2", 0, &e);
	mock_hub_on(m, "GET", "/project/p1", "{\"project\":{\"_id\":\"p1\",\"name\":\"P\"}}");
	mock_hub_on(m, "GET", "/export*", "{\"exportPath\":\"https://dl/x.zip\"}");
	CHECK_INT(hub_get(online, "/project/p1", NULL, &e), 0); /* kept without a caller's data */
	CHECK_INT(hub_get(online, "/export?project=p1", &d, &e), 0); /* not kept */
	json_decref(d);
	CHECK_INT(mock_hub_calls(m, "GET", "/"), 2);
	hub_free(online);

	/* offline: the mock behind answers nothing, and is never asked */
	struct hub *off = hub_store_new(mock_hub_new(&m), dir, "http://h/v2", 1, &e);
	CHECK_INT(hub_get_project(off, "p1", &d, &e), 0);
	CHECK_STR(json_string_value(json_object_get(d, "name")), "P");
	json_decref(d);
	CHECK_INT(hub_get(off, "/project/p2", &d, &e), -ENETUNREACH);
	CHECK(e.transient && strstr(e.msg, "never fetched while online"));
	CHECK_INT(hub_get(off, "/export?project=p1", &d, &e), -ENETUNREACH);
	CHECK(e.transient && strstr(e.msg, "offline (-o offline)"));
	json_t *body = json_object(); /* hub_post serializes the body; the caller keeps it */
	CHECK_INT(hub_post(off, "/import/labels", body, NULL, &e), -ENETUNREACH);
	json_decref(body);
	CHECK(e.transient);
	char b[4];
	CHECK_INT(hub_download_head(off, "https://s/a.png", b, sizeof(b), &e), -ENETUNREACH);
	CHECK_INT(mock_hub_calls(m, "GET", "") + mock_hub_calls(m, "POST", "") +
		      mock_hub_calls(m, "DOWNLOAD", ""),
		  0);
	/* another host's replies are other keys */
	struct hub *other = hub_store_new(mock_hub_new(&m), dir, "http://other/v2", 1, &e);
	CHECK_INT(hub_get(other, "/project/p1", &d, &e), -ENETUNREACH);
	hub_free(other);

	/* a reply kept by an earlier version: the hub's whole body */
	struct hub *on2 = hub_store_new(mock_hub_new(&m), dir, "http://h/v2", 0, &e);
	mock_hub_on(m, "GET", "/task/t1?includeAnswer=true", "{\"task\":{\"_id\":\"t1\"}}");
	CHECK_INT(hub_get(on2, "/task/t1?includeAnswer=true", NULL, &e), 0);
	hub_free(on2);
	int n = 0;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "grep -l '^http://h/v2/task/t1' %s/*.reply", dir);
	FILE *ls = popen(cmd, "r");
	if (ls && fgets(path, sizeof(path), ls)) {
		path[strcspn(path, "\n")] = '\0';
		FILE *w = fopen(path, "w");
		if (w) {
			n = fprintf(
			    w, "http://h/v2/task/t1?includeAnswer=true\n"
			       "{\"status\":\"success\",\"data\":{\"task\":{\"_id\":\"old\"}}}");
			fclose(w);
		}
	}
	if (ls)
		pclose(ls);
	CHECK(n > 0);
	CHECK_INT(hub_get_task(off, "t1", &d, &e), 0);
	CHECK_STR(json_string_value(json_object_get(d, "_id")), "old");
	json_decref(d);
	hub_free(off);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

int main(void)
{
	struct mock_hub *m;
	struct hub *h = mock_hub_new(&m);

	escape();
	reads(h, m);
	export(h, m);
	writes(h, m);
	hub_free(h);
	store();
	return t_done("hub_api");
}
