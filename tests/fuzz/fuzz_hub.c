/*
 * fuzz_hub.c - libFuzzer harness for the hub-response parsers: the JSON
 * envelope (src/client/hub_client.c), the project list and project details
 * (src/read/projects.c), task pages and single tasks (src/read/tasks.c) and, through an
 * export, the task listing scan of an export zip (src/read/tasks.c, exports/cache.c).
 *
 * Design: the parsers are fed the way the daemon feeds them, over HTTP. An
 * in-process libmicrohttpd server on 127.0.0.1 answers every request from the
 * fuzz input, which is split on the byte 0x01 into up to six reply bodies:
 *   0 GET /v2/listProjects          3 GET /v2/task/{id}
 *   1 GET /v2/project/{id}          4 any other /v2 request (export)
 *   2 GET /v2/project/{id}/tasks    5 anything else (export download)
 * A body may start with "!NNN" to choose the HTTP status (default 200).
 * Each run builds a fresh core (empty caches) and walks the tree the way `ls
 * -R` and `cat` would: root, each project (at most 3), its project.json, stage
 * and batch dirs, tasks/ and at most 3 tasks' task.json and answer.json. The
 * hub client has one attempt and short timeouts, so a hostile reply can cost
 * neither retries nor minutes. Errors must carry a message naming them.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "angofs/core.h"
#include "angofs/fh.h"
#include "angofs/export_cache.h"
#include "angofs/hub.h"
#include "angofs/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NPART 6
#define MAXNAMES 3

/* The reply bodies live in a copy of the input owned by the harness: the
 * server thread may still answer a request the client gave up on after the
 * run ended (libFuzzer frees its input buffer then). */
static pthread_mutex_t parts_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *owned;
static const uint8_t *part[NPART];
static size_t part_len[NPART];
static struct MHD_Daemon *srv;
static struct hub *hub;
static char base_url[64], tmpdir[64];

static int route(const char *url)
{
	if (strncmp(url, "/v2/", 4) != 0)
		return 5;
	url += 4;
	if (strcmp(url, "listProjects") == 0)
		return 0;
	if (strncmp(url, "task/", 5) == 0)
		return 3;
	if (strncmp(url, "project/", 8) == 0) {
		const char *rest = strchr(url + 8, '/');
		if (!rest)
			return 1;
		if (strcmp(rest, "/tasks") == 0)
			return 2;
	}
	return 4;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static int first_call_marker;
	(void)cls;
	(void)method;
	(void)version;
	(void)upload;
	if (*con_cls != &first_call_marker) { /* headers only: wait for the body */
		*con_cls = &first_call_marker;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	int k = route(url);
	pthread_mutex_lock(&parts_lock);
	const char *b = (const char *)part[k];
	size_t n = part_len[k];
	unsigned status = 200;
	if (n >= 4 && b[0] == '!' && b[1] >= '1' && b[1] <= '5' && b[2] >= '0' && b[2] <= '9' &&
	    b[3] >= '0' && b[3] <= '9') {
		status = (unsigned)((b[1] - '0') * 100 + (b[2] - '0') * 10 + (b[3] - '0'));
		b += 4;
		n -= 4;
	}
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(n, (void *)b, MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&parts_lock);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", k == 5 ? "application/zip" : "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	if (f->level > 0)
		remove(p);
	return 0;
}

static void teardown(void)
{
	if (hub)
		hub_free(hub);
	if (srv)
		MHD_stop_daemon(srv);
	free(owned);
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS), rmdir(tmpdir);
}

static void setup(void)
{
	struct ao_err err;
	srv = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
			       answer, NULL, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
	if (!srv)
		abort();
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv, MHD_DAEMON_INFO_BIND_PORT);
	if (!di || !di->port)
		abort();
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u", (unsigned)di->port);
	struct hub_cfg hc = {.base_url = base_url,
			     .api_key = "fuzz-key",
			     .connect_timeout_ms = 2000,
			     .request_timeout_ms = 5000,
			     .stall_timeout_s = 2,
			     .max_attempts = 1,
			     .max_retry_total_ms = -1};
	hub = hub_new(&hc, &err);
	if (!hub)
		abort();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/angofs-fuzz-hub-%d", (int)getpid());
	if (mkdir(tmpdir, 0700) < 0 && errno != EEXIST)
		abort();
	ao_log_set_debug(0);
	atexit(teardown);
}

struct names {
	size_t n;
	char v[MAXNAMES][300];
};

static int collect(void *ctx, const char *name, const struct stat *st)
{
	struct names *nm = ctx;
	(void)st;
	if (name[0] == '.' || nm->n >= MAXNAMES)
		return 0;
	snprintf(nm->v[nm->n++], sizeof(nm->v[0]), "%s", name);
	return 0;
}

static void check(int rc, const struct ao_err *err)
{
	if (rc < 0 && !err->msg[0]) {
		fprintf(stderr, "error %d without a message\n", rc);
		abort();
	}
}

/* resolve + getattr + readdir (names into nm, may be NULL) or open + read all. */
static void visit(struct ao_core *c, const char *path, struct names *nm)
{
	struct ao_node n;
	struct ao_err err;
	struct stat st;
	struct names dummy = {0};

	ao_err_clear(&err);
	int rc = ao_core_resolve(c, path, &n, &err);
	check(rc, &err);
	if (rc < 0)
		return;
	ao_err_clear(&err);
	check(ao_core_getattr(c, &n, &st, &err), &err);
	if (S_ISDIR(st.st_mode)) {
		ao_err_clear(&err);
		check(ao_core_readdir(c, &n, collect, nm ? nm : &dummy, &err), &err);
		return;
	}
	struct ao_fh fh;
	unsigned long g;
	ao_err_clear(&err);
	rc = ao_core_open(c, &n, O_RDONLY, &fh, &err);
	check(rc, &err);
	if (rc < 0)
		return;
	char buf[4096];
	off_t off = 0;
	ssize_t r;
	while ((r = fh.ops->read(&fh, buf, sizeof(buf), off, &err)) > 0)
		off += r;
	fh.ops->release(&fh, &g);
}

static void split(const uint8_t *data, size_t size)
{
	size_t k = 0, start = 0;
	for (int i = 0; i < NPART; i++)
		part[i] = data, part_len[i] = 0;
	for (size_t i = 0; i <= size && k < NPART; i++) {
		if (i == size || (data[i] == 0x01 && k < NPART - 1)) {
			part[k] = data + start;
			part_len[k] = i - start;
			k++;
			start = i + 1;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ao_err err;
	char xdir[128], path[1024];

	if (!srv)
		setup();
	pthread_mutex_lock(&parts_lock);
	free(owned);
	owned = malloc(size ? size : 1);
	if (!owned)
		abort();
	memcpy(owned, data, size);
	split(owned, size);
	pthread_mutex_unlock(&parts_lock);

	snprintf(xdir, sizeof(xdir), "%s/exports", tmpdir);
	struct ao_xcache_cfg xc = {.hub = hub, .dir = xdir, .host = base_url, .ttl_s = 60};
	struct ao_xcache *x = ao_xcache_new(&xc, &err);
	if (!x)
		abort();
	struct ao_core_cfg cc = {.hub = hub,
				 .xc = x,
				 .meta_ttl_s = 60,
				 .task_page_max = 250,
				 .uid = getuid(),
				 .gid = getgid()};
	struct ao_core *c = ao_core_new(&cc, &err);
	if (!c)
		abort();

	struct names projects = {0};
	visit(c, "/", &projects);
	visit(c, "/.status", NULL);
	for (size_t i = 0; i < projects.n; i++) {
		const char *p = projects.v[i];
		struct names tasks = {0};
		snprintf(path, sizeof(path), "/%s", p);
		visit(c, path, NULL);
		snprintf(path, sizeof(path), "/%s/project.json", p);
		visit(c, path, NULL);
		snprintf(path, sizeof(path), "/%s/export/stage", p);
		visit(c, path, NULL);
		snprintf(path, sizeof(path), "/%s/export/batch", p);
		visit(c, path, NULL);
		snprintf(path, sizeof(path), "/%s/tasks", p);
		visit(c, path, &tasks);
		for (size_t t = 0; t < tasks.n; t++) {
			snprintf(path, sizeof(path), "/%s/tasks/%s/task.json", p, tasks.v[t]);
			visit(c, path, NULL);
			snprintf(path, sizeof(path), "/%s/tasks/%s/answer.json", p, tasks.v[t]);
			visit(c, path, NULL);
		}
	}
	ao_core_free(c);
	ao_xcache_free(x);
	nftw(xdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}
