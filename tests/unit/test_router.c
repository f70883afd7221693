/* Unit test of the router (include/angofs/router.h) and the read side over the
 * mock hub (mock_hub.h): no mount, no server. Which side answers each
 * operation, the refusals, both sides' entries in one listing, the hub
 * requests the read side makes (counted by the mock), rename reporting the
 * source's error (it used to report the target's), and an open file's
 * read, write, flush and release going to the part that opened it, with the
 * kernel-cache decision the router makes for it. */
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
	struct ao_fh *h, *h2;
	char buf[4096];
	int fd;

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
	CHECK_STR(h->ops->kind, "memory");
	/* alone: the page cache, the kernel's old size dropped first */
	CHECK(!h->kc.direct_io && !h->kc.keep_cache && h->kc.must_invalidate);
	ssize_t got = ao_router_read(r, h, buf, sizeof(buf) - 1, 0, &e);
	CHECK(got > 0);
	buf[got > 0 ? got : 0] = '\0';
	CHECK(strstr(buf, "\"Cars\"") != NULL);
	CHECK_INT(ao_router_splice_fd(r, h, 0, 10, &fd, &e), 0);
	CHECK_INT(fd, -1); /* in memory: read, not spliced */
	CHECK_INT(ao_router_write(r, h, "x", 1, 0, &e), -EBADF);
	CHECK_INT(ao_router_ftruncate(r, h, 0, &e), -EACCES);
	CHECK(!ao_router_writable(h));
	/* the drop done: a second open of the same bytes shares the pages */
	ao_router_cached(r, h, 1);
	CHECK_INT(ao_router_open(r, "/Cars/project.json", O_RDONLY, &h2, &e), 0);
	CHECK(!h2->kc.direct_io && h2->kc.keep_cache && !h2->kc.must_invalidate);
	/* stat is pinned to the bytes the page-cache handles read */
	CHECK_INT(ao_router_getattr(r, "/Cars/project.json", &st, &e), 0);
	CHECK_INT(st.st_size, got);
	CHECK_INT(ao_router_flush(r, h2, &e), 0);
	CHECK_INT(ao_router_release(r, h2), 0);
	CHECK_INT(ao_router_release(r, h), 0);
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
	CHECK_STR(h->ops->kind, "write");
	CHECK(h->kc.direct_io && !h->kc.keep_cache && !h->kc.must_invalidate);
	CHECK(ao_router_writable(h));
	CHECK_INT(ao_router_write(r, h, "{\"x\"", 5, 0, &e), 5);
	CHECK_INT(ao_router_fgetattr(r, h, &st, &e), 0);
	CHECK_INT(st.st_size, 5);
	CHECK_INT(ao_router_read(r, h, buf, sizeof(buf), 0, &e), 5);
	CHECK(!memcmp(buf, "{\"x\"", 5));
	CHECK_INT(ao_router_fsync(r, h, &e), 0);
	CHECK_INT(ao_router_getattr(r, "/Cars/labels/x.ndjson", &st, &e), 0);
	CHECK(S_ISREG(st.st_mode));
	memset(&n, 0, sizeof(n));
	CHECK_INT(ao_router_readdir(r, "/Cars/labels", uf_collect, &n, &e), 0);
	CHECK(strstr(n.all, "x.ndjson|") != NULL);
	int sent = -1;
	CHECK_INT(ao_router_setattr(r, "/Cars/labels/x.ndjson", 0, &sent, &e), 0); /* cp -p */
	CHECK_INT(sent, 0);
	CHECK_INT(ao_router_setattr(r, "/Cars/project.json", 0, &sent, &e), -EPERM);
	/* close: the write side checks what was written (not JSON: refused) */
	CHECK_INT(ao_router_flush(r, h, &e), -EINVAL);
	CHECK_INT(ao_router_release(r, h), 0);
	CHECK_INT(mock_hub_calls(m, "POST", "/"), 0);

	/* answer.json: the read side serves it (GET /task) until a write */
	CHECK_INT(ao_router_open(r, "/Cars/tasks/t1/answer.json", O_RDONLY, &h, &e), 0);
	CHECK_STR(h->ops->kind, "memory");
	ao_router_release(r, h);
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
		struct ao_router r;
		CHECK_INT(ao_router_init(&r, core, w, 0, 2000), 0);
		ao_core_set_extra_ud(core, w);
		test_routes(&r, f.m);
		/* a read-only mount refuses with EROFS */
		struct ao_router ro = r;
		ro.read_only = 1;
		CHECK_INT(ao_router_refuse(&ro, "mkdir", "/Cars/x", &e), -EROFS);
		ao_router_destroy(&r);
	}
	ao_writes_free(w);
	if (uf_close(&f) != 0)
		return 1;
	return t_done("router");
}
