/* Unit tests over the hub seam (include/angofs/hub.h) with the in-process mock
 * and the failure wrapper (mock_hub.h): no server, no mount, milliseconds.
 *   - the mock and the wrapper themselves (replies, counts, injected
 *     statuses with their errno and transient flag, delays, partial bodies);
 *   - the export cache: one GET /export + one download per fetch, no request
 *     for a fresh copy, a download cut short is never served, degraded mode
 *     (a transient failure serves the cached copy), and the generation race
 *     of commit f44cdbe made deterministic: a reader holding generation 1
 *     open while generation 2 is fetched keeps reading generation 1 whole,
 *     while the new open reads generation 2 (a generation number apart);
 *   - a change marked while a fetch is in flight (a write, a poll) makes
 *     the generation it publishes stale, and an open that began after the
 *     change does not take that generation (issue 20 item 1). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "angofs/export_cache.h"
#include "angofs/sysutil.h"
#include "mock_hub.h"
#include "unit_fixture.h"
#include "t.h"

static void test_mock_and_failure_wrapper(void)
{
	struct mock_hub *m;
	struct fail_hub *f;
	struct hub *h = fail_hub_new(mock_hub_new(&m), "", &f);
	struct ao_err e;
	json_t *d = NULL;

	mock_hub_on(m, "GET", "/listProjects*", "{\"total\":1}");
	CHECK_INT(hub_get(h, "/listProjects?page=1", &d, &e), 0);
	CHECK_INT(json_integer_value(json_object_get(d, "total")), 1);
	json_decref(d);
	CHECK_INT(hub_get(h, "/project/x", &d, &e), -ENOENT);
	CHECK_INT(e.http_status, 404);

	fail_hub_script(f, "GET /listProjects http=503 x2\nPOST * http=400\n");
	for (int i = 0; i < 2; i++) {
		ao_err_clear(&e);
		CHECK_INT(hub_get(h, "/listProjects", &d, &e), -EAGAIN);
		CHECK(e.transient);
		CHECK_INT(e.http_status, 503);
	}
	CHECK_INT(hub_get(h, "/listProjects", &d, &e), 0); /* x2 used up */
	json_decref(d);
	ao_err_clear(&e);
	json_t *body = json_pack("{s:i}", "a", 1);
	CHECK_INT(hub_post(h, "/import/labels", body, NULL, &e), -EINVAL);
	CHECK(!e.transient);
	json_decref(body);
	CHECK_INT(mock_hub_calls(m, "GET", "/listProjects"),
		  2); /* the failed ones never got there */
	CHECK_INT(mock_hub_calls(m, "POST", "/"), 0);
	CHECK_INT(fail_hub_injected(f), 3);

	fail_hub_script(f, "GET * delay=30 x1\n");
	long long t0 = ao_sys_now_ms();
	CHECK_INT(hub_get(h, "/listProjects", &d, &e), 0);
	CHECK(ao_sys_now_ms() - t0 >= 30);
	json_decref(d);
	hub_free(h);
}

static char dir[] = "/tmp/angofs-seam-XXXXXX";

static int read_all(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return (int)n;
}

static void test_export_cache(void)
{
	static char zip[1 << 16];
	const char *gen1 = "[{\"task\":1}]", *gen2 = "[{\"task\":1},{\"task\":2,\"more\":true}]";
	struct mock_hub *m;
	struct fail_hub *f;
	struct hub *h = fail_hub_new(mock_hub_new(&m), "", &f);
	struct ao_xcache_cfg cfg = {.hub = h, .dir = dir, .host = "mock", .ttl_s = 3600};
	struct ao_xspec spec = {.project_id = "p1", .type = AO_X_ISSUE};
	struct ao_err e;
	struct ao_xopen a, b, c;
	char buf[4096];

	ao_err_clear(&e);
	struct ao_xcache *xc = ao_xcache_new(&cfg, &e);
	struct ao_xentry *x = xc ? ao_xcache_get(xc, &spec, &e) : NULL;
	CHECK(x != NULL);
	if (!x)
		return;
	mock_hub_on(m, "GET", "/export?*", "{\"exportPath\":\"https://files.mock/1.zip\"}");
	mock_hub_file(m, "https://files.mock/1.zip", zip,
		      uf_zip1("export.json", gen1, zip, sizeof(zip)));

	/* a download cut short is never served; the next open fetches again */
	fail_hub_script(f, "DOWNLOAD * partial=10 x1\n");
	CHECK(ao_xcache_open(xc, x, &a, &e) < 0);
	CHECK(e.transient);
	CHECK_INT(mock_hub_calls(m, "DOWNLOAD", "https://files.mock/"), 1);
	CHECK_INT(ao_xcache_open(xc, x, &a, &e), 0);
	CHECK_INT(mock_hub_calls(m, "GET", "/export?"), 2);
	CHECK_INT(a.size, (long long)strlen(gen1));
	read_all(a.fd, buf, sizeof(buf));
	CHECK_STR(buf, gen1);
	unsigned long g1 = ao_xcache_gen(xc, x);
	long long size;
	time_t mtime;
	ao_xcache_stat(xc, x, &size, &mtime); /* the kernel learns generation 1's size */
	CHECK_INT(size, (long long)strlen(gen1));

	/* fresh: a second open asks nothing */
	CHECK_INT(ao_xcache_open(xc, x, &b, &e), 0);
	ao_xcache_close(xc, x, b.fd);
	CHECK_INT(mock_hub_calls(m, "GET", "/export?"), 2);

	/* the generation race: a is still open while generation 2 arrives */
	mock_hub_on(m, "GET", "/export?*", "{\"exportPath\":\"https://files.mock/2.zip\"}");
	mock_hub_file(m, "https://files.mock/2.zip", zip,
		      uf_zip1("export.json", gen2, zip, sizeof(zip)));
	ao_xcache_mark_stale(xc, x);
	CHECK_INT(ao_xcache_open(xc, x, &b, &e), 0);
	CHECK(ao_xcache_gen(xc, x) > g1);
	CHECK(b.gen != a.gen); /* the router's per-path rule tells them apart (fs/kcache.c) */
	CHECK_INT(b.size, (long long)strlen(gen2));
	read_all(b.fd, buf, sizeof(buf));
	CHECK_STR(buf, gen2);
	read_all(a.fd, buf, sizeof(buf));
	CHECK_STR(buf, gen1); /* the old reader sees its generation whole */
	/* the current generation's size: what one path's inode is told while
	 * generation 1 is open there is the router's business (fs/kcache.c) */
	ao_xcache_stat(xc, x, &size, &mtime);
	CHECK_INT(size, (long long)strlen(gen2));
	ao_xcache_close(xc, x, a.fd);
	ao_xcache_close(xc, x, b.fd);
	ao_xcache_stat(xc, x, &size, &mtime);
	CHECK_INT(size, (long long)strlen(gen2));

	/* degraded mode: the hub fails transiently, the cached copy is served */
	fail_hub_script(f, "GET /export http=503\n");
	ao_xcache_mark_stale(xc, x);
	CHECK_INT(ao_xcache_open(xc, x, &c, &e), 0);
	read_all(c.fd, buf, sizeof(buf));
	CHECK_STR(buf, gen2);
	ao_xcache_close(xc, x, c.fd);
	/* ... but not a permanent failure (403: the key lost access) */
	fail_hub_script(f, "GET /export http=403\n");
	ao_xcache_free(xc);
	xc = ao_xcache_new(&cfg, &e); /* a restart keeps the copy on disk */
	x = ao_xcache_get(xc, &spec, &e);
	ao_xcache_mark_stale(xc, x);
	CHECK_INT(ao_xcache_open(xc, x, &c, &e), -EACCES);
	ao_xcache_free(xc);
	hub_free(h);
}

struct opener {
	pthread_t t;
	struct ao_xcache *xc;
	struct ao_xentry *x;
	struct ao_xopen o;
	int rc;
};

static void *open_main(void *arg)
{
	struct opener *op = arg;
	struct ao_err e;

	ao_err_clear(&e);
	op->rc = ao_xcache_open(op->xc, op->x, &op->o, &e);
	return NULL;
}

static void wait_calls(struct mock_hub *m, const char *method, const char *prefix, int n)
{
	for (int i = 0; i < 2000 && mock_hub_calls(m, method, prefix) < n; i++)
		ao_sys_sleep_ms(5);
}

static void test_change_during_fetch(void)
{
	static char zip[1 << 16];
	struct mock_hub *m;
	struct fail_hub *f;
	struct hub *h = fail_hub_new(mock_hub_new(&m), "", &f);
	struct ao_xcache_cfg cfg = {.hub = h, .dir = dir, .host = "mock2", .ttl_s = 3600};
	struct ao_xspec spec = {.project_id = "p2", .type = AO_X_ISSUE};
	struct ao_err e;
	struct ao_xopen a;

	ao_err_clear(&e);
	struct ao_xcache *xc = ao_xcache_new(&cfg, &e);
	struct ao_xentry *x = xc ? ao_xcache_get(xc, &spec, &e) : NULL;
	CHECK(x != NULL);
	if (!x)
		return;
	mock_hub_on(m, "GET", "/export?*", "{\"exportPath\":\"https://files.mock/c.zip\"}");
	mock_hub_file(m, "https://files.mock/c.zip", zip,
		      uf_zip1("export.json", "[{\"task\":1}]", zip, sizeof(zip)));
	CHECK_INT(ao_xcache_open(xc, x, &a, &e), 0);
	ao_xcache_close(xc, x, a.fd);

	/* a refresh in flight (its download held back); a change is marked
	 * after its GET /export: the opener that started it is served, but the
	 * generation it published is stale */
	struct opener o1 = {.xc = xc, .x = x}, o2 = {.xc = xc, .x = x};
	ao_xcache_mark_stale(xc, x);
	fail_hub_script(f, "DOWNLOAD * delay=400 x1\n");
	pthread_create(&o1.t, NULL, open_main, &o1);
	wait_calls(m, "GET", "/export?", 2);
	ao_xcache_mark_stale(xc, x); /* e.g. a write through the mount */
	/* an open that begins now, after that change, waits for the refresh in
	 * flight and then does not take its generation: it refreshes again */
	pthread_create(&o2.t, NULL, open_main, &o2);
	pthread_join(o1.t, NULL);
	pthread_join(o2.t, NULL);
	CHECK_INT(o1.rc, 0);
	CHECK_INT(o2.rc, 0);
	CHECK_INT(mock_hub_calls(m, "GET", "/export?"), 3);
	ao_xcache_close(xc, x, o1.o.fd);
	ao_xcache_close(xc, x, o2.o.fd);
	CHECK(ao_xcache_fresh(xc, x)); /* o2's refresh holds the change */

	/* the same, with no open after the change: the refresh's generation is
	 * stale, and the next open refreshes */
	ao_xcache_mark_stale(xc, x);
	fail_hub_script(f, "DOWNLOAD * delay=400 x1\n");
	pthread_create(&o1.t, NULL, open_main, &o1);
	wait_calls(m, "GET", "/export?", 4);
	ao_xcache_mark_stale(xc, x);
	pthread_join(o1.t, NULL);
	CHECK_INT(o1.rc, 0);
	ao_xcache_close(xc, x, o1.o.fd);
	CHECK(!ao_xcache_fresh(xc, x));
	CHECK_INT(ao_xcache_open(xc, x, &a, &e), 0);
	ao_xcache_close(xc, x, a.fd);
	CHECK_INT(mock_hub_calls(m, "GET", "/export?"), 5);
	CHECK(ao_xcache_fresh(xc, x));
	CHECK_INT(ao_xcache_open(xc, x, &a, &e), 0); /* fresh: nothing asked */
	ao_xcache_close(xc, x, a.fd);
	CHECK_INT(mock_hub_calls(m, "GET", "/export?"), 5);
	ao_xcache_free(xc);
	hub_free(h);
}

int main(void)
{
	char cmd[128];

	test_mock_and_failure_wrapper();
	if (!mkdtemp(dir))
		return 1;
	test_export_cache();
	test_change_during_fetch();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return t_done("hub_seam");
}
