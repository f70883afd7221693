/*
 * faults.c - run-time fault injection and the per-key rate limit.
 *
 * Faults are a small list of specs set through POST /_admin/faults. Each spec
 * targets one route key ("GET /v2/export", "GET /download") or "*" (every /v2
 * route) and does one thing to the next `count` matching requests (forever
 * when count is omitted): answer with a status (429 adds Retry-After), add
 * latency, or - downloads only - stall after K bytes, drop the connection
 * after K bytes, or serve a corrupt zip. A stall lasts until the faults are
 * cleared (a generation counter bumped by DELETE /_admin/faults), the server
 * stops, or 10 minutes pass. Hostile-data faults: "body" answers with that raw
 * text (status 200 unless given), "redirect" answers a download with 302 to
 * that URL prefix + the request's path, "zip" serves a hostile variant of the
 * export zip (hostile_zip.c). "apply": true with a status (write routes only)
 * lets the request through to its handler and only then answers the status:
 * a reply lost after the hub applied the write, so a client that resends it
 * blindly leaves a duplicate in the data.
 *
 * The rate limit is a sliding window per API key: at most N accepted requests
 * in any 60 s; a refused request gets the seconds until the oldest one leaves
 * the window as Retry-After. --rate-limit sets the base value; {"rate_limit":N}
 * overrides it at run time until DELETE /_admin/faults restores the base.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubd.h"

#define FAULT_MAX 64
#define RL_KEYS 32

struct fault {
	unsigned id;
	char route[96];
	int status;
	int retry_after;
	char message[256];
	long latency_ms;
	long long stall_after, drop_after;
	int corrupt;
	char *body;	     /* raw reply text (malloc'd) */
	char redirect[1024]; /* URL prefix for a 302 of a download */
	int zip;	     /* hostile_zip kind */
	int apply;	     /* with status: apply the request, then answer status */
	long count;	     /* -1 = until cleared */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct fault faults[FAULT_MAX];
static int nfaults;
static unsigned next_id = 1;
static unsigned generation = 1;
static int base_rate, cur_rate;
static struct {
	char key[128];
	int64_t *ring;
	int head, len;
} buckets[RL_KEYS];

static void buckets_reset(void)
{
	int i;

	for (i = 0; i < RL_KEYS; i++) {
		free(buckets[i].ring);
		buckets[i].ring = NULL;
		buckets[i].key[0] = 0;
		buckets[i].head = buckets[i].len = 0;
	}
}

void faults_init(int rate_limit)
{
	base_rate = cur_rate = rate_limit;
}

void faults_take(const char *route_key, int is_v2, struct fault_hit *hit)
{
	int i, used;

	memset(hit, 0, sizeof(*hit));
	hit->stall_after = hit->drop_after = -1;
	pthread_mutex_lock(&mu);
	hit->stall_id = generation;
	for (i = 0; i < nfaults; i++) {
		struct fault *f = &faults[i];

		if (strcmp(f->route, route_key) && !(is_v2 && !strcmp(f->route, "*")))
			continue;
		used = 0;
		if (f->status && !f->body && !hit->status) {
			hit->status = f->status;
			hit->apply = f->apply;
			hit->retry_after = f->retry_after;
			snprintf(hit->message, sizeof(hit->message), "%s", f->message);
			used = 1;
		}
		if (f->latency_ms && !hit->latency_ms) {
			hit->latency_ms = f->latency_ms;
			used = 1;
		}
		if (f->stall_after >= 0 && hit->stall_after < 0) {
			hit->stall_after = f->stall_after;
			used = 1;
		}
		if (f->drop_after >= 0 && hit->drop_after < 0) {
			hit->drop_after = f->drop_after;
			used = 1;
		}
		if (f->corrupt && !hit->corrupt) {
			hit->corrupt = 1;
			used = 1;
		}
		if (f->body && !hit->body) {
			hit->body = strdup(f->body);
			hit->body_status = f->status ? f->status : 200;
			used = 1;
		}
		if (f->redirect[0] && !hit->redirect[0]) {
			snprintf(hit->redirect, sizeof(hit->redirect), "%s", f->redirect);
			used = 1;
		}
		if (f->zip && !hit->zip) {
			hit->zip = f->zip;
			used = 1;
		}
		if (used && f->count > 0 && --f->count == 0) {
			free(f->body);
			memmove(f, f + 1, sizeof(*f) * (size_t)(nfaults - i - 1));
			nfaults--;
			i--;
		}
	}
	pthread_mutex_unlock(&mu);
}

int fault_active(unsigned id)
{
	int r;

	pthread_mutex_lock(&mu);
	r = id == generation;
	pthread_mutex_unlock(&mu);
	return r;
}

static int get_int(json_t *spec, const char *k, long long lo, long long hi, long long *out,
		   char *err, size_t errlen)
{
	json_t *v = json_object_get(spec, k);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		snprintf(err, errlen, "fault spec: \"%s\" must be an integer in %lld..%lld", k, lo,
			 hi);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 1;
}

int faults_add(json_t *spec, char *err, size_t errlen)
{
	static const char *allowed[] = {"route",   "status",	 "count",	"retry_after",
					"message", "latency_ms", "stall_after", "drop_after",
					"corrupt", "rate_limit", "body",	"redirect",
					"zip",	   "apply",	 NULL};
	struct fault f;
	const char *k, *route;
	json_t *v;
	long long n;
	int i, effects = 0;

	if (!json_is_object(spec)) {
		snprintf(err, errlen, "fault spec must be a JSON object");
		return -EINVAL;
	}
	json_object_foreach(spec, k, v)
	{
		for (i = 0; allowed[i]; i++)
			if (!strcmp(allowed[i], k))
				break;
		if (!allowed[i]) {
			snprintf(err, errlen, "fault spec: unknown key \"%s\"", k);
			return -EINVAL;
		}
	}
	if (json_object_get(spec, "rate_limit")) {
		if (get_int(spec, "rate_limit", 0, 1000000, &n, err, errlen) < 0)
			return -EINVAL;
		if (json_object_size(spec) != 1) {
			snprintf(err, errlen,
				 "fault spec: \"rate_limit\" must be alone in its spec");
			return -EINVAL;
		}
		pthread_mutex_lock(&mu);
		cur_rate = (int)n;
		buckets_reset();
		pthread_mutex_unlock(&mu);
		return 0;
	}
	memset(&f, 0, sizeof(f));
	f.stall_after = f.drop_after = -1;
	f.count = -1;
	route = json_string_value(json_object_get(spec, "route"));
	if (!route) {
		snprintf(err, errlen, "fault spec: \"route\" (string) is required");
		return -EINVAL;
	}
	if (!route_key_known(route)) {
		snprintf(err, errlen,
			 "fault spec: unknown route \"%s\" (use e.g. \"GET /v2/export\", "
			 "\"GET /download\" or \"*\")",
			 route);
		return -EINVAL;
	}
	snprintf(f.route, sizeof(f.route), "%s", route);
	/* a raw "body" may come with any status, 200 included */
	if ((i = get_int(spec, "status", json_object_get(spec, "body") ? 200 : 400, 599, &n, err,
			 errlen)) < 0)
		return -EINVAL;
	if (i) {
		f.status = (int)n;
		effects++;
	}
	if (get_int(spec, "retry_after", 0, 86400, &n, err, errlen) < 0)
		return -EINVAL;
	f.retry_after = json_object_get(spec, "retry_after") ? (int)n : 0;
	if ((i = get_int(spec, "latency_ms", 1, 600000, &n, err, errlen)) < 0)
		return -EINVAL;
	if (i) {
		f.latency_ms = (long)n;
		effects++;
	}
	if ((i = get_int(spec, "stall_after", 0, (1LL << 50), &n, err, errlen)) < 0)
		return -EINVAL;
	if (i) {
		f.stall_after = n;
		effects++;
	}
	if ((i = get_int(spec, "drop_after", 0, (1LL << 50), &n, err, errlen)) < 0)
		return -EINVAL;
	if (i) {
		f.drop_after = n;
		effects++;
	}
	v = json_object_get(spec, "corrupt");
	if (v) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "fault spec: \"corrupt\" must be true or false");
			return -EINVAL;
		}
		if (json_is_true(v)) {
			f.corrupt = 1;
			effects++;
		}
	}
	v = json_object_get(spec, "redirect");
	if (v) {
		const char *u = json_string_value(v);
		if (!u ||
		    (strncmp(u, "http://", 7) && strncmp(u, "https://", 8) &&
		     strncmp(u, "file://", 7) && strncmp(u, "ftp://", 6)) ||
		    strlen(u) >= sizeof(f.redirect)) {
			snprintf(
			    err, errlen,
			    "fault spec: \"redirect\" must be a URL prefix (http://, https://, "
			    "file://, ftp://; < 1024 bytes)");
			return -EINVAL;
		}
		snprintf(f.redirect, sizeof(f.redirect), "%s", u);
		effects++;
	}
	v = json_object_get(spec, "zip");
	if (v) {
		if (!json_is_string(v) || !(f.zip = hostile_zip_kind(json_string_value(v)))) {
			snprintf(err, errlen,
				 "fault spec: \"zip\" must be one of traversal, absolute, multi, "
				 "dironly, empty, bomb");
			return -EINVAL;
		}
		effects++;
	}
	if ((f.stall_after >= 0 || f.drop_after >= 0 || f.corrupt) &&
	    strcmp(f.route, "GET /download") && strcmp(f.route, "GET /storage")) {
		snprintf(err, errlen,
			 "fault spec: stall_after/drop_after/corrupt apply to \"GET "
			 "/download\" and \"GET /storage\" only");
		return -EINVAL;
	}
	if ((f.redirect[0] || f.zip) && strcmp(f.route, "GET /download")) {
		snprintf(err, errlen, "fault spec: redirect/zip apply to \"GET /download\" only");
		return -EINVAL;
	}
	v = json_object_get(spec, "apply");
	if (v) {
		if (!json_is_boolean(v)) {
			snprintf(err, errlen, "fault spec: \"apply\" must be true or false");
			return -EINVAL;
		}
		f.apply = json_is_true(v);
		if (f.apply && (!f.status || json_object_get(spec, "body") ||
				(strcmp(f.route, "POST /v2/attachments") &&
				 strcmp(f.route, "POST /v2/import/labels") &&
				 strcmp(f.route, "POST /v2/annotate/{id}") &&
				 strcmp(f.route, "POST /v2/project/{id}/cloud")))) {
			snprintf(err, errlen,
				 "fault spec: \"apply\" needs a \"status\" and one of the routes "
				 "\"POST /v2/attachments\", \"POST /v2/import/labels\", \"POST "
				 "/v2/annotate/{id}\", \"POST /v2/project/{id}/cloud\"");
			return -EINVAL;
		}
	}
	v = json_object_get(spec, "body");
	if (v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "fault spec: \"body\" must be a string");
			return -EINVAL;
		}
		effects++;
	}
	if (!effects) {
		snprintf(err, errlen,
			 "fault spec: give one of status, latency_ms, stall_after, drop_after, "
			 "corrupt, body, redirect, zip, or rate_limit");
		return -EINVAL;
	}
	if ((i = get_int(spec, "count", 1, 1000000000, &n, err, errlen)) < 0)
		return -EINVAL;
	if (i)
		f.count = (long)n;
	v = json_object_get(spec, "message");
	if (v && !json_is_string(v)) {
		snprintf(err, errlen, "fault spec: \"message\" must be a string");
		return -EINVAL;
	}
	snprintf(f.message, sizeof(f.message), "%s", v ? json_string_value(v) : "Injected fault");
	v = json_object_get(spec, "body");
	if (v && !(f.body = strdup(json_string_value(v)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&mu);
	if (nfaults >= FAULT_MAX) {
		pthread_mutex_unlock(&mu);
		free(f.body);
		snprintf(err, errlen, "too many active faults (max %d)", FAULT_MAX);
		return -ENOSPC;
	}
	f.id = next_id++;
	faults[nfaults++] = f;
	pthread_mutex_unlock(&mu);
	return 0;
}

json_t *faults_list(void)
{
	json_t *a = json_array();
	int i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < nfaults; i++) {
		struct fault *f = &faults[i];
		json_t *o = json_pack("{s:i,s:s}", "id", (int)f->id, "route", f->route);

		if (f->status) {
			json_object_set_new(o, "status", json_integer(f->status));
			json_object_set_new(o, "message", json_string(f->message));
			if (f->apply)
				json_object_set_new(o, "apply", json_true());
		}
		if (f->retry_after)
			json_object_set_new(o, "retry_after", json_integer(f->retry_after));
		if (f->latency_ms)
			json_object_set_new(o, "latency_ms", json_integer(f->latency_ms));
		if (f->stall_after >= 0)
			json_object_set_new(o, "stall_after", json_integer(f->stall_after));
		if (f->drop_after >= 0)
			json_object_set_new(o, "drop_after", json_integer(f->drop_after));
		if (f->corrupt)
			json_object_set_new(o, "corrupt", json_true());
		if (f->body)
			json_object_set_new(o, "body_bytes",
					    json_integer((json_int_t)strlen(f->body)));
		if (f->redirect[0])
			json_object_set_new(o, "redirect", json_string(f->redirect));
		if (f->zip)
			json_object_set_new(o, "zip", json_integer(f->zip));
		json_object_set_new(o, "count",
				    f->count < 0 ? json_null() : json_integer(f->count));
		json_array_append_new(a, o);
	}
	if (cur_rate)
		json_array_append_new(a, json_pack("{s:i}", "rate_limit", cur_rate));
	pthread_mutex_unlock(&mu);
	return a;
}

void faults_clear(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nfaults; i++)
		free(faults[i].body);
	nfaults = 0;
	generation++;
	cur_rate = base_rate;
	buckets_reset();
	pthread_mutex_unlock(&mu);
}

int rate_check(const char *key, int *limit)
{
	int64_t now = now_ms(), oldest;
	int i, free_i = -1, wait = 0;

	pthread_mutex_lock(&mu);
	*limit = cur_rate;
	if (cur_rate <= 0 || !key) {
		pthread_mutex_unlock(&mu);
		return 0;
	}
	for (i = 0; i < RL_KEYS; i++) {
		if (!strcmp(buckets[i].key, key))
			break;
		if (free_i < 0 && !buckets[i].key[0])
			free_i = i;
	}
	if (i == RL_KEYS) {
		if (free_i < 0) {
			free_i = 0; /* more keys than buckets: share the first */
			buckets[0].head = buckets[0].len = 0;
		}
		i = free_i;
		snprintf(buckets[i].key, sizeof(buckets[i].key), "%s", key);
		free(buckets[i].ring);
		buckets[i].ring = calloc((size_t)cur_rate, sizeof(int64_t));
		buckets[i].head = buckets[i].len = 0;
	}
	if (!buckets[i].ring) {
		pthread_mutex_unlock(&mu);
		return 0;
	}
	if (buckets[i].len == cur_rate) {
		oldest = buckets[i].ring[buckets[i].head];
		if (now - oldest < 60000) {
			wait = (int)((oldest + 60000 - now + 999) / 1000);
			if (wait < 1)
				wait = 1;
			pthread_mutex_unlock(&mu);
			return wait;
		}
		buckets[i].head = (buckets[i].head + 1) % cur_rate;
		buckets[i].len--;
	}
	buckets[i].ring[(buckets[i].head + buckets[i].len) % cur_rate] = now;
	buckets[i].len++;
	pthread_mutex_unlock(&mu);
	return 0;
}
