/*
 * capture.c - the wire log of angofs-hub: every request to /v2, /storage and
 * /download as the client sent it (method, path, the query's name=value
 * pairs in order and decoded, the body of /v2 requests, the User-Agent
 * that tells one client from another), for tests that
 * compare a client's requests with what the official SDK sends
 * (GET /_admin/requests; docs/HUB.md, "Requests angofs sends").
 *
 * Design: a ring of the last CAP_MAX requests under one mutex; a body is kept
 * up to CAP_BODY bytes (its full size is recorded, "truncated" says when it
 * was cut) and storage PUT bodies (media bytes) are never kept. Bounded
 * memory (CAP_MAX x CAP_BODY at worst) whatever a test or benchmark sends.
 * Admin requests are not captured.
 */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "hubd.h"

#define CAP_MAX 2000
#define CAP_BODY (64 * 1024)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *ring[CAP_MAX]; /* [mu] */
static int head, len;	      /* [mu] */
static long long seq;	      /* [mu] */

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	(void)kind;
	json_array_append_new(cls, json_pack("[s,s?]", key ? key : "", value));
	return MHD_YES;
}

void capture_request(struct req *r, int status)
{
	json_t *q = json_array(), *e;
	int keep_body = r->body && r->body_len && !strncmp(r->path, "/v2", 3);
	const char *ua = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "User-Agent");

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_arg, q);
	e = json_pack("{s:s,s:s,s:o,s:I,s:b,s:i,s:s}", "method", r->method, "path", r->path,
		      "query", q, "body_bytes", (json_int_t)r->body_len, "apikey_present",
		      r->apikey != NULL, "status", status, "user_agent", ua ? ua : "");
	if (!e)
		return;
	if (keep_body) {
		size_t n = r->body_len < CAP_BODY ? r->body_len : CAP_BODY;
		json_t *b;

		while (n < r->body_len && n > 0 && ((unsigned char)r->body[n] & 0xC0) == 0x80)
			n--;		      /* cut at a UTF-8 boundary */
		b = json_stringn(r->body, n); /* NULL: not UTF-8 text */
		json_object_set_new(e, "body", b ? b : json_null());
		json_object_set_new(e, "truncated", json_boolean(n < r->body_len));
	}
	pthread_mutex_lock(&mu);
	json_object_set_new(e, "seq", json_integer(++seq));
	if (len == CAP_MAX) {
		json_decref(ring[head]);
		ring[head] = e;
		head = (head + 1) % CAP_MAX;
	} else {
		ring[(head + len++) % CAP_MAX] = e;
	}
	pthread_mutex_unlock(&mu);
}

json_t *capture_json(void)
{
	json_t *a = json_array();

	pthread_mutex_lock(&mu);
	for (int i = 0; i < len; i++)
		json_array_append(a, ring[(head + i) % CAP_MAX]);
	pthread_mutex_unlock(&mu);
	return json_pack("{s:o}", "requests", a);
}

void capture_clear(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < len; i++)
		json_decref(ring[(head + i) % CAP_MAX]);
	head = len = 0;
	pthread_mutex_unlock(&mu);
}
