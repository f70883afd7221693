/*
 * server.c - libmicrohttpd glue of angofs-hub: routing, the apikey check,
 * response envelopes, request counting/logging, and the admin API.
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION), so a handler may
 * block (latency faults, a stalled download, a long export) without holding up
 * anyone else. A request goes through, in order:
 *   count it (route key with {id} placeholders) -> injected faults (latency,
 *   status) -> apikey (401) -> rate limit (429 + Retry-After) -> handler.
 * Admin routes (/_admin/...) are loopback-only, need no key, and are neither
 * counted nor logged; every other request also goes to the wire log
 * (capture.c) with its query and body. POST bodies are collected in memory up to HUB_BODY_MAX.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "hubd.h"

static struct MHD_Daemon *daemon_;

enum kind { K_V2, K_DOWNLOAD, K_STORAGE, K_ADMIN, K_OTHER };

struct conn_ctx {
	enum kind kind;
	char route_key[96];
	char method[16];
	char path[512];
	char *body;
	size_t len, cap;
	int too_big;
	int apikey_present;
	struct timespec t0;
	int status;
	long long bytes;
	int logged;
};

typedef void (*route_fn)(struct req *, struct reply *);

static const struct route {
	const char *method;
	const char *pattern; /* after /v2 */
	route_fn fn;
} routes[] = {
    {"GET", "/listProjects", route_list_projects},
    {"GET", "/project/{id}", route_project},
    {"GET", "/project/{id}/tasks", route_project_tasks},
    {"GET", "/project/{id}/assets", route_project_assets},
    {"DELETE", "/project/{id}/assets", route_delete_assets},
    {"GET", "/task/{id}", route_task},
    {"GET", "/export", route_export},
    {"POST", "/import/labels", route_import_labels},
    {"POST", "/attachments", route_attachments},
    {"POST", "/annotate/{id}", route_annotate},
    {"GET", "/getSignedUrl", route_get_signed_url},
    {"GET", "/getUploadUrl", route_get_upload_url},
    {"POST", "/project/{id}/cloud", route_project_cloud},
};

int route_key_known(const char *key)
{
	size_t i;
	char buf[96];

	if (!strcmp(key, "*") || !strcmp(key, "GET /download") || !strcmp(key, "GET /storage") ||
	    !strcmp(key, "PUT /storage"))
		return 1;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		snprintf(buf, sizeof(buf), "%s /v2%s", routes[i].method, routes[i].pattern);
		if (!strcmp(buf, key))
			return 1;
	}
	return 0;
}

/* Split "/v2/a/b/c" into segments after /v2 and build the pattern. */
static void classify_v2(const char *url, struct req *r, char *pattern, size_t plen)
{
	const char *p = url + 3; /* after "/v2" */
	size_t used = 0;

	r->nseg = 0;
	pattern[0] = 0;
	while (*p == '/') {
		const char *e;
		size_t l;

		p++;
		e = strchr(p, '/');
		l = e ? (size_t)(e - p) : strlen(p);
		if (r->nseg >= 4 || l >= sizeof(r->seg[0])) {
			r->nseg = -1;
			return;
		}
		memcpy(r->seg[r->nseg], p, l);
		r->seg[r->nseg][l] = 0;
		r->nseg++;
		if (!e)
			break;
		p = e;
	}
	for (int i = 0; i < r->nseg; i++) {
		/* the second segment of project/task/annotate is an id */
		const char *s =
		    (i == 1 && (!strcmp(r->seg[0], "project") || !strcmp(r->seg[0], "task") ||
				!strcmp(r->seg[0], "annotate")))
			? "{id}"
			: r->seg[i];
		used += (size_t)snprintf(pattern + used, plen - used, "/%s", s);
		if (used >= plen)
			break;
	}
}

const char *req_arg(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void reply_json(struct reply *out, int status, json_t *doc)
{
	out->status = status;
	free(out->body);
	out->body = json_dumps(doc, JSON_COMPACT);
	out->len = out->body ? strlen(out->body) : 0;
	out->ctype = "application/json; charset=utf-8";
	json_decref(doc);
}

void reply_ok(struct reply *out, json_t *data)
{
	reply_json(out, 200, json_pack("{s:s,s:o}", "status", "success", "data", data));
}

void reply_fail(struct reply *out, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_json(out, status, json_pack("{s:s,s:s}", "status", "fail", "message", msg));
}

json_t *parse_body(struct req *r, struct reply *out, const char *expected)
{
	json_error_t je;
	json_t *b;

	if (!r->body || !r->body_len) {
		reply_fail(out, 400, "Request body is empty; expected %s",
			   expected ? expected : "a JSON object");
		return NULL;
	}
	b = json_loadb(r->body, r->body_len, 0, &je);
	if (!b) {
		reply_fail(out, 400, "Malformed JSON body: %s (line %d, column %d)", je.text,
			   je.line, je.column);
		return NULL;
	}
	if (!json_is_object(b)) {
		reply_fail(out, 400, "Request body must be a JSON object%s%s",
			   expected ? "; expected " : "", expected ? expected : "");
		json_decref(b);
		return NULL;
	}
	return b;
}

void reply_text(struct reply *out, int status, const char *ctype, const char *text)
{
	out->status = status;
	free(out->body);
	out->body = strdup(text);
	out->len = strlen(text);
	out->ctype = ctype;
}

static int peer_is_loopback(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

static void handle_admin(struct conn_ctx *x, struct req *r, struct reply *out)
{
	char err[512];
	json_t *spec;

	if (!strcmp(x->method, "GET") && !strcmp(x->path, "/_admin/stats")) {
		reply_json(out, 200, stats_json());
	} else if (!strcmp(x->method, "POST") && !strcmp(x->path, "/_admin/stats/reset")) {
		stats_reset();
		reply_json(out, 200, json_pack("{s:b}", "ok", 1));
	} else if (!strcmp(x->path, "/_admin/requests")) {
		if (!strcmp(x->method, "DELETE"))
			capture_clear();
		else if (strcmp(x->method, "GET")) {
			reply_fail(out, 405, "Method %s not allowed on %s", x->method, x->path);
			return;
		}
		reply_json(out, 200, capture_json());
	} else if (!strcmp(x->path, "/_admin/faults")) {
		if (!strcmp(x->method, "POST")) {
			json_error_t je;
			spec = json_loadb(r->body ? r->body : "", r->body_len, 0, &je);
			if (!spec) {
				reply_fail(out, 400, "Malformed JSON body: %s (line %d, column %d)",
					   je.text, je.line, je.column);
				return;
			}
			if (faults_add(spec, err, sizeof(err)) < 0) {
				json_decref(spec);
				reply_fail(out, 400, "%s", err);
				return;
			}
			json_decref(spec);
		} else if (!strcmp(x->method, "DELETE")) {
			faults_clear();
		} else if (strcmp(x->method, "GET") != 0) {
			reply_fail(out, 405, "Method %s not allowed on %s", x->method, x->path);
			return;
		}
		reply_json(out, 200, json_pack("{s:b,s:o}", "ok", 1, "faults", faults_list()));
	} else {
		reply_fail(out, 404, "Unknown admin route: %s %s", x->method, x->path);
	}
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	json_object_set_new(cls, key, json_string(value ? value : ""));
	return MHD_YES;
}

static void fault_reply(struct reply *out, struct fault_hit *hit)
{
	reply_fail(out, hit->status, "%s", hit->message);
	if (hit->retry_after > 0 || hit->status == 429)
		snprintf(out->retry_after, sizeof(out->retry_after), "%d",
			 hit->retry_after > 0 ? hit->retry_after : 1);
}

static void handle_v2(struct conn_ctx *x, struct req *r, struct reply *out)
{
	struct fault_hit hit;
	size_t i;
	int wait, limit;

	faults_take(x->route_key, 1, &hit);
	if (hit.latency_ms > 0)
		sleep_ms_interruptible(hit.latency_ms);
	if (hit.body) {
		/* hostile-data fault: this exact text, whatever it is */
		reply_text(out, hit.body_status, "application/json", hit.body);
		free(hit.body);
		return;
	}
	if (hit.status && !hit.apply) {
		fault_reply(out, &hit);
		return;
	}
	if (r->key_idx < 0) {
		reply_fail(out, 401, "Invalid API KEY");
		return;
	}
	wait = rate_check(r->apikey, &limit);
	if (wait > 0) {
		reply_fail(out, 429,
			   "Too many requests: rate limit of %d requests per minute exceeded",
			   limit);
		snprintf(out->retry_after, sizeof(out->retry_after), "%d", wait);
		return;
	}
	if (x->too_big) {
		reply_fail(out, 413, "Request body too large (limit %ld bytes)", HUB_BODY_MAX);
		return;
	}
	if (r->nseg < 0) {
		reply_fail(out, 404, "Cannot %s %s", x->method, x->path);
		return;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		char key[96];

		snprintf(key, sizeof(key), "%s /v2%s", routes[i].method, routes[i].pattern);
		if (!strcmp(key, x->route_key)) {
			routes[i].fn(r, out);
			if (hit.status && hit.apply) {
				/* applied (or refused) for real; the reply is lost */
				if (g_opts.verbose)
					fprintf(stderr,
						"angofs-hub: %s %s applied with %d, answering "
						"injected %d\n",
						x->method, x->path, out->status, hit.status);
				fault_reply(out, &hit);
			}
			return;
		}
	}
	reply_fail(out, 404, "Cannot %s %s", x->method, x->path);
}

static void log_request(struct conn_ctx *x)
{
	struct timespec t1;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - x->t0.tv_sec) * 1000.0 +
	     (double)(t1.tv_nsec - x->t0.tv_nsec) / 1e6;
	stats_log(x->method, x->path, x->route_key, x->status, ms, x->bytes, x->apikey_present);
	if (g_opts.verbose)
		fprintf(stderr, "angofs-hub: %s %s -> %d (%.1f ms, %lld bytes)\n", x->method,
			x->path, x->status, ms, x->bytes);
}

static enum MHD_Result queue_reply(struct MHD_Connection *c, struct conn_ctx *x, struct reply *out)
{
	struct MHD_Response *resp = out->mhd_resp;
	enum MHD_Result ret;

	if (!resp) {
		if (!out->body)
			reply_fail(out, 500, "internal error: no reply");
		resp = MHD_create_response_from_buffer(out->len, out->body, MHD_RESPMEM_MUST_FREE);
		out->body = NULL;
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, "Content-Type", out->ctype);
		x->bytes = (long long)out->len;
	} else if (out->bytes_hint >= 0) {
		x->bytes = out->bytes_hint;
	}
	if (out->retry_after[0])
		MHD_add_response_header(resp, "Retry-After", out->retry_after);
	x->status = out->status;
	if (!out->mhd_resp && x->kind != K_ADMIN) {
		/* A buffered reply is complete now: log it before the client can
		 * see it, so a client that reads /_admin/stats right after its
		 * response finds the entry. Streams are logged on completion. */
		log_request(x);
		x->logged = 1;
	}
	ret = MHD_queue_response(c, (unsigned)out->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct conn_ctx *x = *con_cls;
	struct req r;
	struct reply out;
	enum MHD_Result ret;

	memset(&r, 0, sizeof(r));
	r.conn = c;
	r.method = method;
	r.path = url;
	r.apikey = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "apikey");
	r.key_idx = key_index(r.apikey);

	if (!x) {
		char pattern[512];

		x = calloc(1, sizeof(*x));
		if (!x)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &x->t0);
		snprintf(x->method, sizeof(x->method), "%s", method);
		snprintf(x->path, sizeof(x->path), "%s", url);
		x->apikey_present = r.apikey != NULL;
		if (!strncmp(url, "/_admin/", 8)) {
			x->kind = K_ADMIN;
		} else if (!strcmp(url, "/v2") || !strncmp(url, "/v2/", 4)) {
			x->kind = K_V2;
			classify_v2(url, &r, pattern, sizeof(pattern));
			snprintf(x->route_key, sizeof(x->route_key), "%.10s /v2%.80s", method,
				 r.nseg < 0 ? "/<unknown>" : pattern);
			stats_count(x->route_key);
		} else if (!strncmp(url, "/storage/", 9)) {
			x->kind = K_STORAGE;
			snprintf(x->route_key, sizeof(x->route_key), "%.10s /storage", method);
			stats_count(x->route_key);
		} else if (!strncmp(url, "/download/", 10)) {
			x->kind = K_DOWNLOAD;
			snprintf(x->route_key, sizeof(x->route_key), "%s /download", method);
			stats_count(x->route_key);
		} else {
			x->kind = K_OTHER;
			snprintf(x->route_key, sizeof(x->route_key), "%s <other>", method);
			stats_count(x->route_key);
		}
		*con_cls = x;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!x->too_big && x->len + *upload_size > (size_t)HUB_BODY_MAX) {
			x->too_big = 1;
			free(x->body);
			x->body = NULL;
			x->len = x->cap = 0;
		}
		if (!x->too_big) {
			if (x->len + *upload_size + 1 > x->cap) {
				size_t nc = x->cap ? x->cap : 65536;
				char *nb;

				while (nc < x->len + *upload_size + 1)
					nc *= 2;
				nb = realloc(x->body, nc);
				if (!nb)
					return MHD_NO;
				x->body = nb;
				x->cap = nc;
			}
			memcpy(x->body + x->len, upload, *upload_size);
			x->len += *upload_size;
			x->body[x->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}

	memset(&out, 0, sizeof(out));
	out.bytes_hint = -1;
	r.body = x->body;
	r.body_len = x->len;
	if (x->kind == K_V2) {
		char pattern[512];
		classify_v2(url, &r, pattern, sizeof(pattern));
	}

	switch (x->kind) {
	case K_ADMIN:
		if (!peer_is_loopback(c))
			reply_fail(&out, 403, "The admin API is only available from loopback");
		else
			handle_admin(x, &r, &out);
		break;
	case K_V2:
		handle_v2(x, &r, &out);
		break;
	case K_DOWNLOAD: {
		struct fault_hit hit;
		json_t *hdrs = json_object();

		MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, hdrs);
		stats_download_headers(url, hdrs);
		faults_take(x->route_key, 0, &hit);
		if (hit.latency_ms > 0)
			sleep_ms_interruptible(hit.latency_ms);
		if (hit.body) {
			reply_text(&out, hit.body_status, "application/zip", hit.body);
			free(hit.body);
		} else if (hit.redirect[0]) {
			/* a pre-signed URL that sends the client elsewhere */
			char *loc = NULL;
			struct MHD_Response *resp =
			    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);

			if (resp && asprintf(&loc, "%s%s", hit.redirect, url) > 0) {
				MHD_add_response_header(resp, "Location", loc);
				out.mhd_resp = resp;
				out.status = 302;
				out.bytes_hint = 0;
			} else {
				if (resp)
					MHD_destroy_response(resp);
				reply_text(&out, 500, "application/xml", "<Error/>\n");
			}
			free(loc);
		} else if (hit.status) {
			char body[512];

			snprintf(body, sizeof(body),
				 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
				 "InjectedFault</Code><Message>%s</Message></Error>\n",
				 hit.message);
			reply_text(&out, hit.status, "application/xml", body);
			if (hit.retry_after > 0 || hit.status == 429)
				snprintf(out.retry_after, sizeof(out.retry_after), "%d",
					 hit.retry_after > 0 ? hit.retry_after : 1);
		} else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
			reply_text(&out, 405, "application/xml",
				   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
				   "MethodNotAllowed</Code></Error>\n");
		} else {
			route_download(&r, &out, &hit, &x->bytes);
		}
		break;
	}
	case K_STORAGE: {
		struct fault_hit hit;

		faults_take(x->route_key, 0, &hit);
		free(hit.body);
		if (hit.latency_ms > 0)
			sleep_ms_interruptible(hit.latency_ms);
		if (hit.status) {
			char body[512];

			snprintf(body, sizeof(body),
				 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
				 "InjectedFault</Code><Message>%s</Message></Error>\n",
				 hit.message);
			reply_text(&out, hit.status, "application/xml", body);
		} else if (x->too_big) {
			reply_text(&out, 413, "application/xml",
				   "<Error><Code>EntityTooLarge"
				   "</Code></Error>\n");
		} else {
			route_storage(&r, &out, &hit, &x->bytes);
		}
		break;
	}
	default:
		reply_fail(&out, 404, "Cannot %s %s", method, url);
		break;
	}
	if (x->kind != K_ADMIN)
		capture_request(&r, out.status);
	ret = queue_reply(c, x, &out);
	free(out.body);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *x = *con_cls;

	if (!x)
		return;
	if (x->kind != K_ADMIN && !x->logged) {
		log_request(x);
		if (g_opts.verbose && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			fprintf(stderr, "angofs-hub: %s %s: transfer aborted\n", x->method,
				x->path);
	}
	free(x->body);
	free(x);
	*con_cls = NULL;
}

int server_start(char *errbuf, size_t errlen)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, one = 1, e;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)g_opts.port);
	if (inet_pton(AF_INET, g_opts.listen_host, &sa.sin_addr) != 1) {
		snprintf(errbuf, errlen, "--listen: not an IPv4 address: %s", g_opts.listen_host);
		return -EINVAL;
	}
	/* Bind here rather than in MHD: the bound port (for port 0) and with it
	 * g_base_url are known before the first request can arrive. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		snprintf(errbuf, errlen, "cannot listen on %s:%u: %s", g_opts.listen_host,
			 g_opts.port, strerror(e));
		return -e;
	}
	g_opts.port = ntohs(sa.sin_port);
	snprintf(g_base_url, sizeof(g_base_url), "http://%s:%u",
		 strcmp(g_opts.listen_host, "0.0.0.0") ? g_opts.listen_host : "127.0.0.1",
		 g_opts.port);
	daemon_ = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
				       MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
				   0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
				   MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)300,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned int)512, MHD_OPTION_END);
	if (!daemon_) {
		close(fd);
		snprintf(errbuf, errlen, "cannot start the HTTP server on %s", g_base_url);
		return -EIO;
	}
	return 0;
}

void server_stop(void)
{
	if (daemon_) {
		MHD_stop_daemon(daemon_);
		daemon_ = NULL;
	}
}
