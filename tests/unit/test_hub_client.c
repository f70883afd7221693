/* Test of the hub client (src/client/hub_client.c) against the real local hub
 * binary (path in argv[1]): envelopes, errno mapping with the hub's message,
 * retries of 5xx/429 (Retry-After), bounded failure, downloads without the
 * API key, and resumption of a dropped download. The hub runs on a free
 * loopback port with a temp database and is killed at exit. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/ratelimit.h"
#include "t.h"

static pid_t hub_pid;
static char url[128], dir[] = "/tmp/angofs-hubc-XXXXXX";

static void stop_hub(void)
{
	if (hub_pid > 0) {
		kill(hub_pid, SIGKILL);
		waitpid(hub_pid, NULL, 0);
		hub_pid = 0;
	}
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
}

static int start_hub(const char *bin)
{
	int p[2];
	char db[200];

	if (!mkdtemp(dir) || pipe(p) < 0)
		return -1;
	snprintf(db, sizeof(db), "%s/hub.db", dir);
	hub_pid = fork();
	if (hub_pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(bin, bin, "--db", db, "--listen", "127.0.0.1:0", "--api-key", "unit-key",
		      "--seed", "demo", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	atexit(stop_hub);
	FILE *f = fdopen(p[0], "r");
	char line[256];
	alarm(120); /* bounded: a hub that never starts fails the test */
	while (fgets(line, sizeof(line), f)) {
		char *u = strstr(line, "listening on ");
		if (u) {
			snprintf(url, sizeof(url), "%s", u + 13);
			url[strcspn(url, "\r\n")] = '\0';
			alarm(0);
			return 0; /* keep the pipe open: the hub may log more */
		}
	}
	return -1;
}

static size_t sink_buf(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

static void admin(const char *method, const char *path, const char *body)
{
	CURL *c = curl_easy_init();
	char u[256];
	snprintf(u, sizeof(u), "%s/_admin%s", url, path);
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_buf);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	CHECK_INT(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
}

struct mem {
	char *p;
	size_t n;
};

static int sink_mem(void *ud, const void *buf, size_t len)
{
	struct mem *m = ud;
	char *q = realloc(m->p, m->n + len);
	if (!q)
		return -ENOMEM;
	memcpy(q + m->n, buf, len);
	m->p = q;
	m->n += len;
	return 0;
}

int main(int argc, char **argv)
{
	struct ao_err e;
	json_t *data = NULL;

	if (argc < 2 || start_hub(argv[1]) < 0) {
		fprintf(stderr, "cannot start the hub\n");
		return 1;
	}
	struct hub_cfg cfg = {
	    .base_url = url, .api_key = "unit-key", .max_attempts = 4, .max_retry_total_ms = 10000};
	struct hub *h = hub_new(&cfg, &e);
	CHECK(h != NULL);

	/* success: data member of the envelope */
	CHECK_INT(hub_get(h, "/listProjects?page=1&limit=100", &data, &e), 0);
	CHECK(json_array_size(json_object_get(data, "projects")) >= 2);
	const char *pid = json_string_value(
	    json_object_get(json_array_get(json_object_get(data, "projects"), 0), "_id"));
	char pid_copy[64];
	snprintf(pid_copy, sizeof(pid_copy), "%s", pid ? pid : "");
	json_decref(data);

	/* wrong key: EACCES, the hub's message, the key never in it */
	struct hub_cfg bad = cfg;
	bad.api_key = "wrong-key-xyz";
	struct hub *hb = hub_new(&bad, &e);
	CHECK_INT(hub_get(hb, "/listProjects", &data, &e), -EACCES);
	CHECK_INT(e.http_status, 401);
	CHECK(strstr(e.msg, "401") != NULL);
	CHECK(strstr(e.msg, "wrong-key-xyz") == NULL);
	CHECK_INT(e.transient, 0);
	hub_free(hb);

	/* unknown task: ENOENT; unknown project id format: EINVAL or ENOENT */
	CHECK_INT(hub_get(h, "/task/65a0000bffffffffffffffff", &data, &e), -ENOENT);
	CHECK_INT(e.http_status, 404);

	/* 500 once -> retried to success */
	admin("POST", "/faults", "{\"route\":\"GET /v2/listProjects\",\"status\":500,\"count\":1}");
	CHECK_INT(hub_get(h, "/listProjects", &data, &e), 0);
	json_decref(data);
	/* 429 with Retry-After: 1 once -> waits, then success */
	admin("POST", "/faults",
	      "{\"route\":\"GET /v2/listProjects\",\"status\":429,\"count\":1,\"retry_after\":1}");
	long long t0 = ao_sys_now_ms();
	CHECK_INT(hub_get(h, "/listProjects", &data, &e), 0);
	CHECK(ao_sys_now_ms() - t0 >= 900); /* honoured Retry-After (a lower bound only) */
	json_decref(data);
	/* 503 forever -> EAGAIN after the bounded retries, marked transient */
	admin("POST", "/faults", "{\"route\":\"GET /v2/listProjects\",\"status\":503}");
	CHECK_INT(hub_get(h, "/listProjects", &data, &e), -EAGAIN);
	CHECK_INT(e.transient, 1);
	CHECK_INT(e.http_status, 503);
	admin("DELETE", "/faults", NULL);
	/* 500 forever -> EIO */
	admin("POST", "/faults", "{\"route\":\"GET /v2/listProjects\",\"status\":500}");
	CHECK_INT(hub_get(h, "/listProjects", &data, &e), -EIO);
	admin("DELETE", "/faults", NULL);

	/* export + download without the key; a dropped download is resumed */
	char q[256];
	snprintf(q, sizeof(q), "/export?project=%s&type=task&format=ndjson", pid_copy);
	CHECK_INT(hub_get(h, q, &data, &e), 0);
	const char *xp = json_string_value(json_object_get(data, "exportPath"));
	CHECK(xp != NULL);
	struct mem whole = {0}, resumed = {0};
	CHECK_INT(hub_download(h, xp, sink_mem, NULL, &whole, &e), 0);
	CHECK(whole.n > 100);
	admin("POST", "/faults", "{\"route\":\"GET /download\",\"drop_after\":100,\"count\":1}");
	CHECK_INT(hub_download(h, xp, sink_mem, NULL, &resumed, &e), 0);
	CHECK_INT(resumed.n, whole.n);
	CHECK(resumed.p && whole.p && memcmp(resumed.p, whole.p, whole.n) == 0);
	admin("DELETE", "/faults", NULL);
	free(whole.p);
	free(resumed.p);
	json_decref(data);

	/* unreachable host: ECONNREFUSED, bounded */
	struct hub_cfg off = cfg;
	off.base_url = "http://127.0.0.1:1";
	off.max_retry_total_ms = 1000;
	struct hub *ho = hub_new(&off, &e);
	CHECK_INT(hub_get(ho, "/listProjects", &data, &e), -ECONNREFUSED);
	CHECK_INT(e.transient, 1);
	hub_free(ho);

	/* non-idempotent POST: a 500 after the body was sent is not resent
	 * (uncertain); an idempotent one is retried to success */
	char ab[512];
	snprintf(ab, sizeof(ab),
		 "{\"project\":\"%s\",\"attachments\":[{\"externalId\":\"street_0001.jpg\","
		 "\"attachments\":[{\"type\":\"TEXT\",\"value\":\"unit\"}]}]}",
		 pid_copy);
	admin("POST", "/faults", "{\"route\":\"POST /v2/attachments\",\"status\":500,\"count\":1}");
	CHECK_INT(hub_post_flags(h, "/attachments", ab, strlen(ab), HUB_NONIDEMPOTENT, &data, &e),
		  -EIO);
	CHECK_INT(e.uncertain, 1);
	CHECK(strstr(e.msg, "may have applied") != NULL);
	/* the fault was used up by that one request: nothing was resent */
	CHECK_INT(hub_post_flags(h, "/attachments", ab, strlen(ab), HUB_NONIDEMPOTENT, &data, &e),
		  0);
	json_decref(data);
	admin("POST", "/faults", "{\"route\":\"POST /v2/attachments\",\"status\":500,\"count\":1}");
	CHECK_INT(hub_post_flags(h, "/attachments", ab, strlen(ab), 0, &data, &e), 0);
	json_decref(data);
	/* one attempt only: the 500 is final, transient, not uncertain */
	admin("POST", "/faults", "{\"route\":\"POST /v2/attachments\",\"status\":500,\"count\":1}");
	CHECK_INT(hub_post_flags(h, "/attachments", ab, strlen(ab), HUB_ONE_ATTEMPT, &data, &e),
		  -EIO);
	CHECK_INT(e.transient, 1);
	CHECK_INT(e.uncertain, 0);
	admin("DELETE", "/faults", NULL);

	/* upload: getUploadUrl, a PUT streamed from a file (a 503 retried, the
	 * file sent again from its first byte), the object then readable */
	{
		char tmpl[] = "/tmp/angofs-put-XXXXXX", *up = NULL, *obj = NULL, *sg = NULL, sn[40];
		int fd = mkstemp(tmpl);
		static char big[300000];
		struct mem back = {0};

		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (char)(i * 7 + 3);
		CHECK(fd >= 0 && write(fd, big, sizeof(big)) == (ssize_t)sizeof(big));
		CHECK_INT(hub_upload_url(h, pid_copy, "assets", "unit_put.bin", &up, &obj, &e), 0);
		CHECK(up && obj && strchr(up, '?') && !strchr(obj, '?'));
		CHECK(obj && strstr(obj, "/storage/assets/") && strstr(obj, "/unit_put.bin"));
		admin("POST", "/faults", "{\"route\":\"PUT /storage\",\"status\":503,\"count\":1}");
		CHECK_INT(
		    hub_put_file(h, up, fd, (long long)sizeof(big), "application/octet-stream", &e),
		    0);
		admin("DELETE", "/faults", NULL);
		CHECK_INT(hub_signed_url(h, pid_copy, "assets", obj, NULL, &sg, &e), 0);
		CHECK_INT(hub_download(h, sg, sink_mem, NULL, &back, &e), 0);
		CHECK(back.n == sizeof(big) && back.p && !memcmp(back.p, big, sizeof(big)));
		/* a refusal is final: EACCES without a valid signature, not retried */
		char badu[600];
		snprintf(badu, sizeof(badu), "%s?Expires=1&Signature=00", obj);
		CHECK_INT(hub_put_file(h, badu, fd, 10, NULL, &e), -EACCES);
		CHECK_INT(e.transient, 0);
		close(fd);
		unlink(tmpl);
		free(back.p);
		free(up);
		free(obj);
		free(sg);
		hub_storage_name("a b/ç.jpg", sn, sizeof(sn));
		CHECK_STR(sn, "a_b___.jpg");
		hub_storage_name(".hidden", sn, sizeof(sn));
		CHECK_STR(sn, "_hidden");
		hub_storage_name("0123456789012345678901234567890123456789.jpeg", sn, sizeof(sn));
		CHECK_STR(sn, "0123456789012345678901234567890123.jpeg");
	}

	char *esc = hub_escape("a b/[\"x\"]");
	CHECK_STR(esc, "a%20b%2F%5B%22x%22%5D");
	free(esc);
	hub_free(h);
	return t_done("hub_client");
}
