/* Unit test of the router (include/angofs/router.h) and the read side over the
 * mock hub (mock_hub.h): no mount, no server. Which side answers each
 * operation, the refusals, both sides' entries in one listing, the hub
 * requests the read side makes (counted by the mock), and rename reporting
 * the source's error (it used to report the target's). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "angofs/core.h"
#include "angofs/export_cache.h"
#include "angofs/router.h"
#include "angofs/writes.h"
#include "mock_hub.h"
#include "unit_fixture.h"
#include "t.h"

static void cb_project_written(void *ud, const char *pid)
{
	ao_core_project_written(ud, pid);
}
static void cb_task_written(void *ud, const char *pid, const char *tid)
{
	ao_core_task_written(ud, pid, tid);
}

static void seed(struct mock_hub *m)
{
	mock_hub_on(
	    m, "GET", "/listProjects*",
	    "{\"projects\":[{\"_id\":\"p1\",\"name\":\"Cars\",\"createdAt\":\"2024-01-01\"}],"
	    "\"total\":1}");
	mock_hub_on(m, "GET", "/project/p1",
		    "{\"project\":{\"_id\":\"p1\",\"name\":\"Cars\",\"stages\":[{\"id\":\"s1\","
		    "\"name\":\"Label\"}],\"batches\":[]}}");
	mock_hub_on(m, "GET", "/task/t1*",
		    "{\"task\":{\"_id\":\"t1\",\"projectId\":\"p1\",\"answer\":{\"tools\":[]}}}");
}

static void test_routes(struct ao_router *r, struct mock_hub *m)
{
	struct ao_err e;
	struct stat st;
	struct uf_names n = {""};
	struct ao_rfh h;
	char buf[4096];

	ao_err_clear(&e);
	CHECK_INT(ao_router_getattr(r, "/", &st, &e), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_INT(ao_router_readdir(r, "/", uf_collect, &n, &e), 0);
	CHECK(strstr(n.all, "Cars|") != NULL);
	CHECK(strstr(n.all, ".status|") != NULL);

	/* the read side: project.json from GET /project/p1, once */
	CHECK_INT(ao_router_getattr(r, "/Cars/project.json", &st, &e), 0);
	CHECK(S_ISREG(st.st_mode) && st.st_size > 0);
	CHECK_INT(ao_router_open(r, "/Cars/project.json", O_RDONLY, &h, &e), 0);
	CHECK_INT(h.side, AO_SIDE_READ);
	ssize_t got = ao_core_read(r->core, h.rfh, buf, sizeof(buf) - 1, 0, &e);
	CHECK(got > 0);
	buf[got > 0 ? got : 0] = '\0';
	CHECK(strstr(buf, "\"Cars\"") != NULL);
	ao_router_release(r, &h);
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p1"), 1);

	/* refusals of the read side */
	CHECK_INT(ao_router_open(r, "/Cars/project.json", O_WRONLY, &h, &e), -EACCES);
	CHECK_INT(ao_router_truncate(r, "/Cars/project.json", 0, &e), -EACCES);
	CHECK_INT(ao_router_truncate(r, "/Cars", 0, &e), -EISDIR);
	CHECK_INT(ao_router_create(r, "/Cars/notes.txt", 0644, O_WRONLY, &h, &e), -EPERM);
	CHECK_INT(ao_router_refuse(r, "mkdir", "/Cars/export/new", &e), -EPERM);
	CHECK_INT(ao_router_unlink(r, "/Cars/project.json", &e), -EPERM);
	CHECK_INT(ao_router_getattr(r, "/Nope", &st, &e), -ENOENT);

	/* the write side owns labels/: create, then both sides in the listing */
	CHECK_INT(ao_router_getattr(r, "/Cars/labels", &st, &e), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_INT(ao_router_create(r, "/Cars/labels/x.ndjson", 0644, O_WRONLY, &h, &e), 0);
	CHECK_INT(h.side, AO_SIDE_WRITE);
	CHECK_INT(ao_router_getattr(r, "/Cars/labels/x.ndjson", &st, &e), 0);
	CHECK(S_ISREG(st.st_mode));
	memset(&n, 0, sizeof(n));
	CHECK_INT(ao_router_readdir(r, "/Cars/labels", uf_collect, &n, &e), 0);
	CHECK(strstr(n.all, "x.ndjson|") != NULL);
	int sent = -1;
	CHECK_INT(ao_router_setattr(r, "/Cars/labels/x.ndjson", 0, &sent, &e), 0); /* cp -p */
	CHECK_INT(sent, 0);
	CHECK_INT(ao_router_setattr(r, "/Cars/project.json", 0, &sent, &e), -EPERM);
	ao_router_release(r, &h);

	/* answer.json: the read side serves it (GET /task) until a write */
	CHECK_INT(ao_router_open(r, "/Cars/tasks/t1/answer.json", O_RDONLY, &h, &e), 0);
	CHECK_INT(h.side, AO_SIDE_READ);
	ao_router_release(r, &h);
	CHECK_INT(mock_hub_calls(m, "GET", "/task/t1"), 1);

	/* rename reports the source's error, not the target's */
	ao_err_clear(&e);
	CHECK_INT(ao_router_rename(r, "/Nope/a.json", "/Cars/nothere/b.json", 0, &e), -ENOENT);
	CHECK(strstr(e.msg, "Nope") != NULL);
	CHECK(strstr(e.msg, "nothere") == NULL);
	CHECK_INT(ao_router_rename(r, "/Cars/labels/a", "/Cars/project.json", 0, &e), -EPERM);

	/* touch is a refresh: the next stat asks the hub again */
	CHECK_INT(ao_router_setattr(r, "/Cars/project.json", 1, &sent, &e), 0);
	CHECK_INT(ao_router_getattr(r, "/Cars/project.json", &st, &e), 0);
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p1"), 2);
}

int main(void)
{
	struct unit_fixture f;
	char sdir[300];
	struct ao_err e;

	if (uf_open(&f, "router", 0, seed) != 0)
		return 1;
	snprintf(sdir, sizeof(sdir), "%s/spool", f.dir);
	ao_err_clear(&e);
	struct ao_core *core = f.core;
	struct ao_writes_cfg wcfg = {.hub = f.hub,
				     .spool_dir = sdir,
				     .ud = core,
				     .project_written = cb_project_written,
				     .task_written = cb_task_written};
	struct ao_writes *w = core ? ao_writes_new(&wcfg, &e) : NULL;
	CHECK(w != NULL);
	if (w) {
		struct ao_router r = {core, w, 0};
		ao_core_set_extra_ud(core, w);
		test_routes(&r, f.m);
		/* a read-only mount refuses with EROFS */
		struct ao_router ro = {core, w, 1};
		CHECK_INT(ao_router_refuse(&ro, "mkdir", "/Cars/x", &e), -EROFS);
	}
	ao_writes_free(w);
	if (uf_close(&f) != 0)
		return 1;
	return t_done("router");
}
