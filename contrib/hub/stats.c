/*
 * stats.c - per-route request counters, a ring of the last 2000 requests and
 * the headers seen on export downloads, for GET /_admin/stats.
 *
 * Counters are keyed by route with {id} placeholders ("GET /v2/task/{id}"),
 * counted when a request arrives (so injected faults and 401s count too); the
 * log entry is written when the request completes (status, time, bytes).
 * One mutex guards everything; the data is small and updates are O(1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubd.h"

#define LOG_MAX 2000
#define HDR_MAX 200
#define COUNT_MAX 128

struct log_ent {
	char method[16];
	char path[256];
	char route[96];
	int status;
	double ms;
	long long bytes;
	int apikey_present;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char key[96];
	long long n;
} counts[COUNT_MAX];
static int ncounts;
static long long total;
static struct log_ent logs[LOG_MAX];
static int log_head, log_len;
static json_t *dl_headers; /* array of {"path","headers"} */

void stats_count(const char *route_key)
{
	int i;

	pthread_mutex_lock(&mu);
	total++;
	for (i = 0; i < ncounts; i++)
		if (!strcmp(counts[i].key, route_key))
			break;
	if (i == ncounts && ncounts < COUNT_MAX) {
		snprintf(counts[i].key, sizeof(counts[i].key), "%s", route_key);
		counts[i].n = 0;
		ncounts++;
	}
	if (i < ncounts)
		counts[i].n++;
	pthread_mutex_unlock(&mu);
}

void stats_log(const char *method, const char *path, const char *route_key, int status, double ms,
	       long long bytes, int apikey_present)
{
	struct log_ent *e;

	pthread_mutex_lock(&mu);
	e = &logs[(log_head + log_len) % LOG_MAX];
	if (log_len == LOG_MAX)
		log_head = (log_head + 1) % LOG_MAX;
	else
		log_len++;
	snprintf(e->method, sizeof(e->method), "%s", method);
	snprintf(e->path, sizeof(e->path), "%s", path);
	snprintf(e->route, sizeof(e->route), "%s", route_key);
	e->status = status;
	e->ms = ms;
	e->bytes = bytes;
	e->apikey_present = apikey_present;
	pthread_mutex_unlock(&mu);
}

void stats_download_headers(const char *path, json_t *headers)
{
	pthread_mutex_lock(&mu);
	if (!dl_headers)
		dl_headers = json_array();
	if (json_array_size(dl_headers) >= HDR_MAX)
		json_array_remove(dl_headers, 0);
	json_array_append_new(dl_headers, json_pack("{s:s,s:o}", "path", path, "headers", headers));
	pthread_mutex_unlock(&mu);
}

json_t *stats_json(void)
{
	json_t *c = json_object(), *l = json_array(), *root;
	int i;

	pthread_mutex_lock(&mu);
	if (!dl_headers)
		dl_headers = json_array();
	for (i = 0; i < ncounts; i++)
		json_object_set_new(c, counts[i].key, json_integer(counts[i].n));
	for (i = 0; i < log_len; i++) {
		struct log_ent *e = &logs[(log_head + i) % LOG_MAX];
		json_array_append_new(l, json_pack("{s:s,s:s,s:s,s:i,s:f,s:I,s:b}", "method",
						   e->method, "path", e->path, "route", e->route,
						   "status", e->status, "ms", e->ms, "bytes",
						   (json_int_t)e->bytes, "apikey_present",
						   e->apikey_present));
	}
	root = json_pack("{s:o,s:I,s:o,s:O,s:s}", "counts", c, "total", (json_int_t)total, "log", l,
			 "download_headers", dl_headers, "profile",
			 g_opts.strict ? "strict" : "lenient");
	pthread_mutex_unlock(&mu);
	return root;
}

void stats_reset(void)
{
	pthread_mutex_lock(&mu);
	ncounts = 0;
	total = 0;
	log_head = log_len = 0;
	json_decref(dl_headers);
	dl_headers = NULL;
	pthread_mutex_unlock(&mu);
}
