/*
 * mock_hub.c - the mock client and the failure wrapper of mock_hub.h. Both are
 * plain tables under one mutex per hub (the export cache and the write side
 * call the hub from several threads); replies are copied out, so a test can
 * change a table while the code under test runs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "angofs/sysutil.h"
#include "mock_hub.h"

#define MAX_RULES 64

struct reply {
	char method[16], pattern[512];
	char *data;  /* JSON text, or NULL: 404 */
	void *bytes; /* a download */
	size_t len;
	int deny; /* a download answered 403 (a private object, unsigned) */
};

struct call {
	char method[16];
	char *what;
};

struct mock_hub {
	pthread_mutex_t mu;
	struct reply r[MAX_RULES];
	int nr;
	struct call *calls;
	int ncalls;
	char *last_body;
};

static struct reply *add(struct mock_hub *m, const char *method, const char *pattern);

static int matches(const char *pattern, const char *s)
{
	size_t n = strlen(pattern);

	if (!strcmp(pattern, "*"))
		return 1;
	if (n && pattern[n - 1] == '*')
		return !strncmp(pattern, s, n - 1);
	return !strcmp(pattern, s);
}

static void record(struct mock_hub *m, const char *method, const char *what)
{
	struct call *nc = realloc(m->calls, sizeof(*nc) * (size_t)(m->ncalls + 1));

	if (!nc)
		return;
	m->calls = nc;
	snprintf(nc[m->ncalls].method, sizeof(nc[0].method), "%s", method);
	nc[m->ncalls].what = strdup(what);
	m->ncalls++;
}

/* The newest matching reply (later mock_hub_on calls override). */
static struct reply *find(struct mock_hub *m, const char *method, const char *what)
{
	for (int i = m->nr - 1; i >= 0; i--)
		if (!strcmp(m->r[i].method, method) && matches(m->r[i].pattern, what))
			return &m->r[i];
	return NULL;
}

static int answer(struct mock_hub *m, const char *method, const char *pq, json_t **data,
		  struct ao_err *err)
{
	struct reply *r;
	char *text = NULL;

	pthread_mutex_lock(&m->mu);
	record(m, method, pq);
	r = find(m, method, pq);
	if (r && r->data)
		text = strdup(r->data);
	pthread_mutex_unlock(&m->mu);
	if (!text) {
		int rc = ao_errf(err, ENOENT, "%s /v2%s: not found (mock)", method, pq);

		if (err)
			err->http_status = 404;
		return rc;
	}
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	free(text);
	if (!j)
		return ao_errf(err, EPROTO, "mock reply is not JSON: %s", je.text);
	if (data)
		*data = j;
	else
		json_decref(j);
	return 0;
}

static int mock_get(void *self, const char *pq, json_t **data, struct ao_err *err)
{
	return answer(self, "GET", pq, data, err);
}

static int mock_post_raw(void *self, const char *pq, const char *body, size_t len, json_t **data,
			 struct ao_err *err)
{
	struct mock_hub *m = self;
	char *copy = malloc(len + 1);

	if (!copy)
		return ao_errf(err, ENOMEM, "out of memory");
	memcpy(copy, body ? body : "", body ? len : 0);
	copy[body ? len : 0] = '\0';
	pthread_mutex_lock(&m->mu);
	free(m->last_body);
	m->last_body = copy;
	pthread_mutex_unlock(&m->mu);
	return answer(m, "POST", pq, data, err);
}

static int mock_download(void *self, const char *url, hub_sink_fn sink, hub_progress_fn progress,
			 void *ud, struct ao_err *err)
{
	struct mock_hub *m = self;
	struct reply *r;
	char *bytes = NULL;
	size_t len = 0, done = 0;

	pthread_mutex_lock(&m->mu);
	record(m, "DOWNLOAD", url);
	r = find(m, "DOWNLOAD", url);
	if (r && !r->deny && (bytes = malloc(r->len ? r->len : 1)))
		memcpy(bytes, r->bytes, len = r->len);
	pthread_mutex_unlock(&m->mu);
	if (!bytes && r && r->deny) {
		int rc = ao_errf(err, EACCES, "download: HTTP 403 (mock: not readable unsigned)");

		if (err)
			err->http_status = 403;
		return rc;
	}
	if (!bytes) {
		int rc = ao_errf(err, ENOENT, "download: HTTP 404 (mock)");

		if (err)
			err->http_status = 404;
		return rc;
	}
	while (done < len) { /* in pieces, as a network would */
		size_t n = len - done < 4096 ? len - done : 4096;
		int rc = sink(ud, bytes + done, n);

		if (rc < 0) {
			free(bytes);
			return ao_errf(err, -rc, "download: the sink refused the data");
		}
		done += n;
		if (progress)
			progress(ud, (long long)done, (long long)len);
	}
	free(bytes);
	return 0;
}

/* A PUT stores the file's bytes: a DOWNLOAD of the URL without its query
 * then returns them (as the hub's storage serves an uploaded object). */
static int mock_put(void *self, const char *url, int fd, long long size, const char *ctype,
		    struct ao_err *err)
{
	struct mock_hub *m = self;
	char *bytes = malloc(size > 0 ? (size_t)size : 1), *obj;
	long long got = 0;

	(void)ctype;
	if (!bytes)
		return ao_errf(err, ENOMEM, "out of memory");
	while (got < size) {
		ssize_t n = pread(fd, bytes + got, (size_t)(size - got), (off_t)got);

		if (n <= 0) {
			free(bytes);
			return ao_errf(err, EIO, "PUT: short read of the file (mock)");
		}
		got += n;
	}
	obj = strndup(url, strcspn(url, "?"));
	pthread_mutex_lock(&m->mu);
	record(m, "PUT", url);
	if (obj) {
		struct reply *r = add(m, "DOWNLOAD", obj);

		r->bytes = bytes;
		r->len = (size_t)size;
		bytes = NULL;
	}
	pthread_mutex_unlock(&m->mu);
	free(obj);
	free(bytes);
	return 0;
}

static void mock_free(void *self)
{
	struct mock_hub *m = self;

	for (int i = 0; i < m->nr; i++) {
		free(m->r[i].data);
		free(m->r[i].bytes);
	}
	for (int i = 0; i < m->ncalls; i++)
		free(m->calls[i].what);
	free(m->calls);
	free(m->last_body);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static const struct hub_ops mock_ops = {
    .name = "mock",
    .get = mock_get,
    .post_raw = mock_post_raw,
    .download = mock_download,
    .free = mock_free,
    .put = mock_put,
};

struct hub *mock_hub_new(struct mock_hub **out)
{
	struct mock_hub *m = calloc(1, sizeof(*m));
	struct hub *h;

	if (!m)
		return NULL;
	pthread_mutex_init(&m->mu, NULL);
	h = hub_wrap(&mock_ops, m, NULL);
	if (!h) {
		mock_free(m);
		return NULL;
	}
	*out = m;
	return h;
}

static struct reply *add(struct mock_hub *m, const char *method, const char *pattern)
{
	struct reply *r;

	if (m->nr == MAX_RULES)
		abort(); /* a test with more replies than that: raise MAX_RULES */
	r = &m->r[m->nr++];
	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%s", method);
	snprintf(r->pattern, sizeof(r->pattern), "%s", pattern);
	return r;
}

void mock_hub_on(struct mock_hub *m, const char *method, const char *pattern, const char *data_json)
{
	pthread_mutex_lock(&m->mu);
	add(m, method, pattern)->data = data_json ? strdup(data_json) : NULL;
	pthread_mutex_unlock(&m->mu);
}

void mock_hub_file(struct mock_hub *m, const char *url, const void *bytes, size_t len)
{
	pthread_mutex_lock(&m->mu);
	struct reply *r = add(m, "DOWNLOAD", url);

	r->bytes = malloc(len ? len : 1);
	memcpy(r->bytes, bytes, len);
	r->len = len;
	pthread_mutex_unlock(&m->mu);
}

void mock_hub_deny(struct mock_hub *m, const char *url)
{
	pthread_mutex_lock(&m->mu);
	add(m, "DOWNLOAD", url)->deny = 1;
	pthread_mutex_unlock(&m->mu);
}

int mock_hub_calls(struct mock_hub *m, const char *method, const char *prefix)
{
	int n = 0;

	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->ncalls; i++)
		if (!strcmp(m->calls[i].method, method) &&
		    !strncmp(m->calls[i].what, prefix, strlen(prefix)))
			n++;
	pthread_mutex_unlock(&m->mu);
	return n;
}

const char *mock_hub_last_body(struct mock_hub *m)
{
	return m->last_body ? m->last_body : "";
}

/* ---- the failure wrapper ---- */

enum act { ACT_HTTP, ACT_NET, ACT_TIMEOUT, ACT_DELAY, ACT_PARTIAL, ACT_APPLIED };

struct rule {
	char op[16], prefix[512];
	enum act act;
	long arg;
	int left; /* -1: unlimited */
};

struct fail_hub {
	pthread_mutex_t mu;
	struct hub *inner;
	struct rule r[MAX_RULES];
	int nr, injected;
};

static int parse_rule(const char *line, struct rule *r)
{
	char act[64] = "", times[32] = "";
	int n = sscanf(line, "%15s %511s %63s %31s", r->op, r->prefix, act, times);

	if (n < 3)
		return -1;
	r->left = -1;
	if (n == 4 && times[0] == 'x')
		r->left = atoi(times + 1);
	if (!strncmp(act, "http=", 5))
		r->act = ACT_HTTP, r->arg = atol(act + 5);
	else if (!strcmp(act, "net"))
		r->act = ACT_NET;
	else if (!strcmp(act, "timeout"))
		r->act = ACT_TIMEOUT;
	else if (!strncmp(act, "delay=", 6))
		r->act = ACT_DELAY, r->arg = atol(act + 6);
	else if (!strcmp(act, "applied"))
		r->act = ACT_APPLIED;
	else if (!strncmp(act, "partial=", 8))
		r->act = ACT_PARTIAL, r->arg = atol(act + 8);
	else
		return -1;
	return 0;
}

void fail_hub_script(struct fail_hub *f, const char *script)
{
	const char *s = script ? script : "";

	pthread_mutex_lock(&f->mu);
	f->nr = 0;
	while (*s) {
		const char *e = strchr(s, '\n');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char line[700];

		snprintf(line, sizeof(line), "%.*s", (int)n, s);
		if (f->nr < MAX_RULES && line[0] && line[0] != '#') {
			if (parse_rule(line, &f->r[f->nr]) < 0) {
				fprintf(stderr, "fail_hub: bad rule '%s'\n", line);
				abort();
			}
			f->nr++;
		}
		s += n + (e ? 1 : 0);
	}
	pthread_mutex_unlock(&f->mu);
}

/* The rule for this call (used up by one), copied into *out; 0 if none. */
static int pick(struct fail_hub *f, const char *op, const char *what, struct rule *out)
{
	int found = 0;

	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nr && !found; i++) {
		struct rule *r = &f->r[i];

		if (r->left == 0 || (strcmp(r->op, "*") && strcmp(r->op, op)) ||
		    (strcmp(r->prefix, "*") && strncmp(what, r->prefix, strlen(r->prefix))))
			continue;
		if (r->left > 0)
			r->left--;
		*out = *r;
		found = 1;
		f->injected++;
	}
	pthread_mutex_unlock(&f->mu);
	return found;
}

/* Fail like the libcurl client after its retries (include/angofs/hub.h). */
static int inject(const struct rule *r, const char *what, struct ao_err *err)
{
	int code, rc;
	long st = r->act == ACT_HTTP ? r->arg : 0;

	if (r->act == ACT_NET)
		code = ECONNREFUSED;
	else if (r->act == ACT_TIMEOUT)
		code = ETIMEDOUT;
	else if (st == 400)
		code = EINVAL;
	else if (st == 401 || st == 403)
		code = EACCES;
	else if (st == 404)
		code = ENOENT;
	else if (st == 413)
		code = EFBIG;
	else if (st == 429 || st == 503)
		code = EAGAIN;
	else
		code = EIO;
	rc = ao_errf(err, code, "%s: injected %s%ld", what, st ? "HTTP " : "failure ", st);
	if (err) {
		err->http_status = (int)st;
		err->transient = !st || st == 429 || st >= 500;
	}
	return rc;
}

static int fail_get(void *self, const char *pq, json_t **data, struct ao_err *err)
{
	struct fail_hub *f = self;
	struct rule r;

	if (pick(f, "GET", pq, &r)) {
		if (r.act == ACT_DELAY)
			ao_sys_sleep_ms(r.arg);
		else
			return inject(&r, pq, err);
	}
	return hub_get(f->inner, pq, data, err);
}

static int fail_post_raw(void *self, const char *pq, const char *body, size_t len, json_t **data,
			 struct ao_err *err)
{
	struct fail_hub *f = self;
	struct rule r;

	if (pick(f, "POST", pq, &r)) {
		if (r.act == ACT_APPLIED) {
			/* the hub applies it, the reply is lost: what a non-idempotent
			 * call then reports (HUB_NONIDEMPOTENT in hub.h) */
			int rc = hub_post_raw(f->inner, pq, body, len, data, err);

			if (rc < 0)
				return rc;
			if (data) {
				json_decref(*data);
				*data = NULL;
			}
			rc = ao_errf(err, EIO,
				     "POST %s: HTTP 500 after the hub applied it (injected)", pq);
			if (err) {
				err->http_status = 500;
				err->transient = 1;
				err->uncertain = 1;
			}
			return rc;
		}
		if (r.act == ACT_DELAY)
			ao_sys_sleep_ms(r.arg);
		else
			return inject(&r, pq, err);
	}
	return hub_post_raw(f->inner, pq, body, len, data, err);
}

struct cut {
	hub_sink_fn sink;
	void *ud;
	long left;
	hub_progress_fn progress;
};

/* The caller's progress callback with the caller's ud (not the cut's). */
static void cut_progress(void *ud, long long done, long long total)
{
	struct cut *c = ud;

	if (c->progress)
		c->progress(c->ud, done, total);
}

static int cut_sink(void *ud, const void *buf, size_t len)
{
	struct cut *c = ud;
	size_t n = (long)len > c->left ? (size_t)c->left : len;
	int rc = n ? c->sink(c->ud, buf, n) : 0;

	c->left -= (long)n;
	if (rc < 0)
		return rc;
	return n < len ? -ECONNRESET : 0;
}

static int fail_download(void *self, const char *url, hub_sink_fn sink, hub_progress_fn progress,
			 void *ud, struct ao_err *err)
{
	struct fail_hub *f = self;
	struct rule r;

	if (pick(f, "DOWNLOAD", url, &r)) {
		if (r.act == ACT_PARTIAL) {
			struct cut c = {sink, ud, r.arg, progress};
			int rc = hub_download(f->inner, url, cut_sink, cut_progress, &c, err);

			if (rc < 0 && c.left <= 0) { /* our cut, not the inner hub's error */
				rc = ao_errf(err, ECONNRESET,
					     "download: cut after %ld bytes (injected)", r.arg);
				if (err)
					err->transient = 1;
			}
			return rc;
		}
		if (r.act == ACT_DELAY)
			ao_sys_sleep_ms(r.arg);
		else
			return inject(&r, "download", err);
	}
	return hub_download(f->inner, url, sink, progress, ud, err);
}

static int fail_put(void *self, const char *url, int fd, long long size, const char *ctype,
		    struct ao_err *err)
{
	struct fail_hub *f = self;
	struct rule r;

	if (pick(f, "PUT", url, &r)) {
		if (r.act == ACT_DELAY)
			ao_sys_sleep_ms(r.arg);
		else
			return inject(&r, "PUT", err);
	}
	return hub_put_file(f->inner, url, fd, size, ctype, err);
}

static void fail_free(void *self)
{
	struct fail_hub *f = self;

	hub_free(f->inner);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static const struct hub_ops fail_ops = {
    .name = "fail",
    .get = fail_get,
    .post_raw = fail_post_raw,
    .download = fail_download,
    .free = fail_free,
    .put = fail_put,
};

struct hub *fail_hub_new(struct hub *inner, const char *script, struct fail_hub **out)
{
	struct fail_hub *f = calloc(1, sizeof(*f));
	struct hub *h;

	if (!f)
		return NULL;
	pthread_mutex_init(&f->mu, NULL);
	f->inner = inner;
	fail_hub_script(f, script);
	h = hub_wrap(&fail_ops, f, NULL);
	if (!h) {
		fail_free(f);
		return NULL;
	}
	*out = f;
	return h;
}

int fail_hub_injected(struct fail_hub *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->injected;
	pthread_mutex_unlock(&f->mu);
	return n;
}
