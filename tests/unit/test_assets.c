/* Unit test of assets/ and task masks on the read side (src/read/assets.c)
 * over the mock hub, through the router without a write side: names by
 * externalId (the docs/DATASETS.md rule: collision suffix before the image
 * extension, the URL's extension when the externalId has none, hostile
 * names sanitized), one page of GET /project/{id}/assets for the listing and
 * every lookup, bytes through the media cache (a private object signed with
 * getSignedUrl type assets), mask.png only in the task that has a
 * brushDataUrl (signed with type brushes). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "angofs/core.h"
#include "angofs/export_cache.h"
#include "angofs/media.h"
#include "angofs/router.h"
#include "mock_hub.h"
#include "unit_fixture.h"
#include "t.h"

static void seed(struct mock_hub *m)
{
	mock_hub_on(
	    m, "GET", "/listProjects*",
	    "{\"projects\":[{\"_id\":\"p1\",\"name\":\"Cars\",\"createdAt\":\"2024-01-01\"}],"
	    "\"total\":1}");
	mock_hub_on(m, "GET", "/project/p1/assets?page=1&limit=100&filters=%7B%7D",
		    "{\"total\":5,\"assets\":["
		    "{\"_id\":\"a2\",\"externalId\":\"cat.png\",\"createdAt\":\"2024-01-02\","
		    "\"data\":\"http://s/assets/p1/cat2.png?Signature=old\"},"
		    "{\"_id\":\"a1\",\"externalId\":\"cat.jpg\",\"createdAt\":\"2024-01-01\","
		    "\"data\":\"http://s/assets/p1/cat.jpg\"},"
		    "{\"_id\":\"a3\",\"externalId\":\"scan-17\",\"createdAt\":\"2024-01-03\","
		    "\"data\":\"http://s/x/scan-17.PNG?sig=1\"},"
		    "{\"_id\":\"a4\",\"externalId\":\"a/b\",\"createdAt\":\"2024-01-04\","
		    "\"data\":\"http://s/x/noext\"},"
		    "{\"_id\":\"a5\",\"externalId\":\"..\",\"createdAt\":\"2024-01-05\","
		    "\"data\":\"http://s/x/dots\"}]}");
	mock_hub_on(m, "GET", "/task/t1*",
		    "{\"task\":{\"_id\":\"t1\",\"projectId\":\"p1\",\"project\":\"p1\","
		    "\"brushDataUrl\":\"http://s/brushes/p1/t1.png?Expires=1\"}}");
	mock_hub_on(m, "GET", "/task/t2*",
		    "{\"task\":{\"_id\":\"t2\",\"projectId\":\"p1\",\"project\":\"p1\"}}");
	/* cat2.png is private and its listed signature expired */
	mock_hub_deny(m, "http://s/assets/p1/cat2.png?Signature=old");
	mock_hub_on(
	    m, "GET",
	    "/getSignedUrl?name=http%3A%2F%2Fs%2Fassets%2Fp1%2Fcat2.png&project=p1&type=assets"
	    "&url=http%3A%2F%2Fs%2Fassets%2Fp1%2Fcat2.png",
	    "{\"signedUrl\":\"http://s/assets/p1/cat2.png?Signature=new\"}");
	mock_hub_file(m, "http://s/assets/p1/cat2.png?Signature=new", "PNGBYTES", 8);
	mock_hub_file(m, "http://s/assets/p1/cat.jpg", "JPEG", 4);
	mock_hub_deny(m, "http://s/brushes/p1/t1.png?Expires=1");
	mock_hub_on(
	    m, "GET",
	    "/getSignedUrl?name=http%3A%2F%2Fs%2Fbrushes%2Fp1%2Ft1.png&project=p1&type=brushes"
	    "&url=http%3A%2F%2Fs%2Fbrushes%2Fp1%2Ft1.png",
	    "{\"signedUrl\":\"http://s/brushes/p1/t1.png?Expires=2\"}");
	mock_hub_file(m, "http://s/brushes/p1/t1.png?Expires=2", "MASK", 4);
	mock_hub_file(m, "http://s/x/emu.jpg", "EMU", 3);
}

static ssize_t read_path(struct ao_router *r, const char *path, char *buf, size_t n)
{
	struct ao_fh *h;
	struct ao_err e;
	ssize_t got;

	if (ao_router_open(r, path, 0, &h, &e) < 0)
		return -1;
	got = ao_router_read(r, h, buf, n, 0, &e);
	ao_router_release(r, h);
	return got;
}

static void test_assets(struct ao_router *r, struct mock_hub *m)
{
	struct uf_names n = {""};
	struct ao_err e;
	struct stat st;
	char buf[64];

	CHECK_INT(ao_router_readdir(r, "/Cars/assets", uf_collect, &n, &e), 0);
	CHECK_STR(n.all, "_..|a_b|cat.jpg|cat~a2.png|scan-17.PNG|");
	/* stat before the first read: 1 byte, 0 blocks (unknown) */
	CHECK_INT(ao_router_getattr(r, "/Cars/assets/cat.jpg", &st, &e), 0);
	CHECK(S_ISREG(st.st_mode) && st.st_size == 1 && st.st_blocks == 0);
	CHECK_INT(ao_router_getattr(r, "/Cars/assets/nope.jpg", &st, &e), -ENOENT);
	CHECK_INT(read_path(r, "/Cars/assets/cat.jpg", buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "JPEG", 4) == 0);
	CHECK_INT(read_path(r, "/Cars/assets/cat~a2.png", buf, sizeof(buf)), 8);
	CHECK(memcmp(buf, "PNGBYTES", 8) == 0);
	CHECK_INT(ao_router_getattr(r, "/Cars/assets/cat~a2.png", &st, &e), 0);
	CHECK_INT(st.st_size, 8);
	/* one page for the listing and every lookup; one signing */
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p1/assets"), 1);
	CHECK_INT(mock_hub_calls(m, "GET", "/getSignedUrl"), 1);
	/* the dataset views' lookup of an asset by id */
	char *url = NULL;
	CHECK_INT(ao_core_asset_url(r->core, "p1", "a3", &url, NULL, &e), 0);
	CHECK_STR(url, "http://s/x/scan-17.PNG?sig=1");
	free(url);
	CHECK_INT(ao_core_asset_url(r->core, "p1", "zz", &url, NULL, &e), -ENOENT);
}

/* ao_core_asset_added called from inside a listing: the list is held by
 * that readdir, so the addition publishes a changed copy. */
struct add_during {
	struct uf_names n;
	struct ao_core *core;
	int done;
};

static int add_while_listing(void *ctx, const char *name, const struct stat *st)
{
	struct add_during *d = ctx;
	json_t *a = json_pack("{s:s,s:s,s:s,s:s}", "_id", "a7", "externalId", "dog.jpg", "data",
			      "http://s/x/dog.jpg", "createdAt", "2024-02-01");

	if (!d->done++)
		ao_core_asset_added(d->core, "p1", a);
	json_decref(a);
	return uf_collect(&d->n, name, st);
}

/* Issue 23: an asset this mount uploaded joins the cached listing (no page
 * read again), named as a fetch of every page names it: a new stem keeps
 * its name, a colliding one (cat, scan-17) gets ~<id>, the old ones keep
 * theirs; an id already listed is not added twice. */
static void test_added(struct ao_router *r, struct mock_hub *m)
{
	struct uf_names n = {""};
	struct add_during d = {{""}, r->core, 0};
	struct ao_err e;
	struct stat st;
	int pages = mock_hub_calls(m, "GET", "/project/p1/assets");
	json_t *a = json_pack("{s:s,s:s,s:s,s:s}", "_id", "a6", "externalId", "cat.gif", "data",
			      "http://s/x/c.gif", "createdAt", "2024-02-01");

	ao_core_asset_added(r->core, "p1", a); /* in place: nobody holds the list */
	ao_core_asset_added(r->core, "p1", a); /* the same asset again: no change */
	json_decref(a);
	a = json_pack("{s:s,s:s,s:s,s:s}", "_id", "a8", "externalId", "zebra.png", "data",
		      "http://s/x/z.png", "createdAt", "2024-02-02");
	ao_core_asset_added(r->core, "p1", a);
	json_decref(a);
	CHECK_INT(ao_router_readdir(r, "/Cars/assets", uf_collect, &n, &e), 0);
	CHECK_STR(n.all, "_..|a_b|cat.jpg|cat~a2.png|cat~a6.gif|scan-17.PNG|zebra.png|");
	CHECK_INT(ao_router_readdir(r, "/Cars/assets", add_while_listing, &d, &e), 0);
	CHECK_STR(d.n.all, "_..|a_b|cat.jpg|cat~a2.png|cat~a6.gif|scan-17.PNG|zebra.png|");
	memset(&n, 0, sizeof(n));
	CHECK_INT(ao_router_readdir(r, "/Cars/assets", uf_collect, &n, &e), 0);
	CHECK_STR(n.all, "_..|a_b|cat.jpg|cat~a2.png|cat~a6.gif|dog.jpg|scan-17.PNG|zebra.png|");
	CHECK_INT(ao_router_getattr(r, "/Cars/assets/dog.jpg", &st, &e), 0);
	char *url = NULL;
	CHECK_INT(ao_core_asset_url(r->core, "p1", "a8", &url, NULL, &e), 0); /* byid kept */
	CHECK_STR(url, "http://s/x/z.png");
	free(url);
	CHECK_INT(ao_core_asset_url(r->core, "p1", "a3", &url, NULL, &e), 0);
	CHECK_STR(url, "http://s/x/scan-17.PNG?sig=1");
	free(url);
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p1/assets"), pages);

	/* what an upload knows (no _id): listed at once under a stand-in id,
	 * readable by its name; no request */
	a = json_pack("{s:s,s:s}", "externalId", "emu.jpg", "data", "http://s/x/emu.jpg");
	ao_core_asset_added(r->core, "p1", a);
	json_decref(a);
	memset(&n, 0, sizeof(n));
	CHECK_INT(ao_router_readdir(r, "/Cars/assets", uf_collect, &n, &e), 0);
	CHECK(strstr(n.all, "|dog.jpg|emu.jpg|scan-17.PNG|") != NULL);
	char buf[16];
	CHECK_INT(read_path(r, "/Cars/assets/emu.jpg", buf, sizeof(buf)), 3);
	CHECK(!memcmp(buf, "EMU", 3));
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p1/assets"), pages);
	/* a second upload of that stem collides: the stand-in and the new one
	 * are looked up (their ids and times name them), nothing else read */
	mock_hub_on(m, "GET", "/project/p1/assets?page=1&limit=100&filters=*",
		    "{\"total\":2,\"assets\":["
		    "{\"_id\":\"a9\",\"externalId\":\"emu.jpg\",\"createdAt\":\"2024-03-01\","
		    "\"data\":\"http://s/x/emu.jpg?sig=1\"},"
		    "{\"_id\":\"b1\",\"externalId\":\"emu.png\",\"createdAt\":\"2024-03-02\","
		    "\"data\":\"http://s/x/emu2.png\"}]}");
	a = json_pack("{s:s,s:s}", "externalId", "emu.png", "data", "http://s/x/emu2.png");
	ao_core_asset_added(r->core, "p1", a);
	json_decref(a);
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p1/assets"), pages + 2);
	memset(&n, 0, sizeof(n));
	CHECK_INT(ao_router_readdir(r, "/Cars/assets", uf_collect, &n, &e), 0);
	CHECK(strstr(n.all, "|dog.jpg|emu.jpg|emu~b1.png|scan-17.PNG|") != NULL);
	CHECK_INT(ao_core_asset_url(r->core, "p1", "a9", &url, NULL, &e), 0); /* settled */
	CHECK_STR(url, "http://s/x/emu.jpg");
	free(url);
	CHECK_INT(ao_core_asset_url(r->core, "p1", "b1", &url, NULL, &e), 0);
	free(url);
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p1/assets"), pages + 2);
}

static void test_masks(struct ao_router *r, struct mock_hub *m)
{
	struct uf_names n1 = {""}, n2 = {""};
	struct ao_err e;
	struct stat st;
	char buf[64];

	CHECK_INT(ao_router_readdir(r, "/Cars/tasks/t1", uf_collect, &n1, &e), 0);
	CHECK(strstr(n1.all, "mask.png|") != NULL);
	CHECK(strstr(n1.all, "mask.seg.nrrd") == NULL);
	CHECK_INT(ao_router_readdir(r, "/Cars/tasks/t2", uf_collect, &n2, &e), 0);
	CHECK(strstr(n2.all, "mask.png") == NULL);
	CHECK_INT(ao_router_getattr(r, "/Cars/tasks/t2/mask.png", &st, &e), -ENOENT);
	CHECK_INT(ao_router_getattr(r, "/Cars/tasks/t1/mask.seg.nrrd", &st, &e), -ENOENT);
	CHECK_INT(read_path(r, "/Cars/tasks/t1/mask.png", buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "MASK", 4) == 0);
	CHECK_INT(mock_hub_calls(m, "GET", "/getSignedUrl?name=http%3A%2F%2Fs%2Fbrushes"), 1);
}

int main(void)
{
	struct unit_fixture f;

	if (uf_open(&f, "assets", 1, seed) != 0)
		return 1;
	CHECK(f.core != NULL);
	if (f.core) {
		struct ao_router r;
		CHECK_INT(ao_router_init(&r, f.core, NULL, 0, 2000), 0);
		test_assets(&r, f.m);
		test_masks(&r, f.m);
		test_added(&r, f.m);
		ao_router_destroy(&r);
	}
	if (uf_close(&f) != 0)
		return 1;
	return t_done("assets");
}
