/* Unit test of angofs-hub's fault injection and per-key rate limit (faults.c). */
#include <string.h>

#include "hubd.h"
#include "t.h"

static int add(const char *spec, char *err, size_t len)
{
	json_t *j = json_loads(spec, 0, NULL);
	int rc = faults_add(j, err, len);

	json_decref(j);
	return rc;
}

int main(void)
{
	struct fault_hit h;
	char err[256];
	int limit, wait;
	unsigned gen;
	json_t *l;

	faults_init(0);
	/* refused specs name the problem */
	CHECK(add("{\"route\":\"GET /v2/export\",\"colour\":1}", err, sizeof(err)) < 0);
	CHECK(strstr(err, "colour") != NULL);
	CHECK(add("{\"route\":\"GET /v2/nothing\",\"status\":500}", err, sizeof(err)) < 0);
	CHECK(strstr(err, "GET /v2/nothing") != NULL);
	CHECK(add("{\"route\":\"GET /v2/export\"}", err, sizeof(err)) < 0);
	CHECK(add("{\"route\":\"GET /v2/export\",\"drop_after\":1}", err, sizeof(err)) < 0);
	CHECK(add("{\"route\":\"GET /v2/export\",\"status\":200}", err, sizeof(err)) < 0);
	CHECK(add("{\"rate_limit\":5,\"route\":\"*\"}", err, sizeof(err)) < 0);

	/* status with count; several faults apply to one request */
	CHECK_INT(add("{\"route\":\"GET /v2/export\",\"status\":503,\"count\":2,"
		      "\"message\":\"busy\"}",
		      err, sizeof(err)),
		  0);
	CHECK_INT(add("{\"route\":\"*\",\"latency_ms\":5,\"count\":1}", err, sizeof(err)), 0);
	faults_take("GET /v2/export", 1, &h);
	CHECK_INT(h.status, 503);
	CHECK_STR(h.message, "busy");
	CHECK_INT(h.latency_ms, 5);
	faults_take("GET /v2/export", 1, &h);
	CHECK_INT(h.status, 503);
	CHECK_INT(h.latency_ms, 0);
	faults_take("GET /v2/export", 1, &h);
	CHECK_INT(h.status, 0);
	l = faults_list();
	CHECK_INT(json_array_size(l), 0);
	json_decref(l);

	/* "*" is every /v2 route, not downloads; 429 keeps its Retry-After */
	CHECK_INT(add("{\"route\":\"*\",\"status\":429,\"retry_after\":9}", err, sizeof(err)), 0);
	faults_take("GET /download", 0, &h);
	CHECK_INT(h.status, 0);
	faults_take("POST /v2/annotate/{id}", 1, &h);
	CHECK_INT(h.status, 429);
	CHECK_INT(h.retry_after, 9);
	faults_take("GET /v2/task/{id}", 1, &h);
	CHECK_INT(h.status, 429); /* no count: until cleared */

	/* download faults; a stall lasts until the faults are cleared */
	CHECK_INT(add("{\"route\":\"GET /download\",\"stall_after\":10}", err, sizeof(err)), 0);
	CHECK_INT(
	    add("{\"route\":\"GET /download\",\"corrupt\":true,\"count\":1}", err, sizeof(err)), 0);
	faults_take("GET /download", 0, &h);
	CHECK_INT(h.stall_after, 10);
	CHECK_INT(h.drop_after, -1);
	CHECK_INT(h.corrupt, 1);
	gen = h.stall_id;
	CHECK(fault_active(gen));
	faults_take("GET /download", 0, &h);
	CHECK_INT(h.corrupt, 0);
	faults_clear();
	CHECK(!fault_active(gen));
	faults_take("GET /v2/task/{id}", 1, &h);
	CHECK_INT(h.status, 0);

	/* rate limit per key, restored to the base value by a clear */
	CHECK_INT(rate_check("k1", &limit), 0);
	CHECK_INT(limit, 0);
	CHECK_INT(add("{\"rate_limit\":3}", err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++)
		CHECK_INT(rate_check("k1", &limit), 0);
	CHECK_INT(limit, 3);
	wait = rate_check("k1", &limit);
	CHECK(wait >= 1 && wait <= 60);
	CHECK_INT(rate_check("k2", &limit), 0);
	faults_clear();
	for (int i = 0; i < 10; i++)
		CHECK_INT(rate_check("k1", &limit), 0);
	return t_done("hub_faults");
}
