/*
 * hub_msg.c - failure wording and classification for the libcurl client
 * (hub_msg.h): pure functions, split from hub_client.c so the transfer loop
 * stays readable.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "hub_msg.h"

/* Message from an error envelope: "message", "error.message", "error.statusCode". */
void hub_envelope_message(const char *body, size_t len, char *out, size_t outsz)
{
	json_t *j = json_loadb(body, len, 0, NULL), *m = NULL;

	out[0] = '\0';
	if (j && json_is_object(j)) {
		m = json_object_get(j, "message");
		json_t *e = json_object_get(j, "error");
		if (!json_is_string(m) && json_is_object(e)) {
			m = json_object_get(e, "message");
			if (!json_is_string(m) && json_is_integer(json_object_get(e, "statusCode")))
				snprintf(out, outsz, "status code %lld",
					 (long long)json_integer_value(
					     json_object_get(e, "statusCode")));
		} else if (!json_is_string(m) && json_is_string(e)) {
			m = e;
		}
		if (json_is_string(m))
			snprintf(out, outsz, "%s", json_string_value(m));
	} else if (len) {
		/* not JSON: show the start of the text body */
		size_t n = len < outsz - 1 ? len : outsz - 1;
		if (n > 200)
			n = 200;
		for (size_t i = 0; i < n; i++)
			out[i] = (body[i] >= ' ' && body[i] < 0x7f) ? body[i] : ' ';
		out[n] = '\0';
	}
	json_decref(j);
}

int hub_status_errno(long st)
{
	switch (st) {
	case 400:
		return EINVAL;
	case 401:
	case 403:
		return EACCES;
	case 404:
	case 410:
		return ENOENT;
	case 408:
		return ETIMEDOUT;
	case 413:
		return EFBIG;
	case 429:
	case 503:
		return EAGAIN;
	default:
		return EIO;
	}
}

int hub_curl_errno(CURLcode rc, int *transient)
{
	*transient = 1;
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return EIO;
	default:
		*transient = 0;
		return EIO;
	}
}

/* An export link is a capability: its query string (a pre-signed URL's
 * signature) or its path (a token, as the local hub hands out) may be the
 * secret. Logs and messages show only scheme://host, "/.../" and the file
 * name. */
void hub_url_for_log(const char *url, char *out, size_t outsz)
{
	size_t n = strcspn(url, "?#");
	const char *host = strstr(url, "://"), *path, *last;

	host = host && (size_t)(host - url) < n ? host + 3 : url;
	path = memchr(host, '/', n - (size_t)(host - url));
	if (!path) {
		snprintf(out, outsz, "%.*s", (int)n, url);
		return;
	}
	last = path;
	for (const char *p = path; p < url + n; p++)
		if (*p == '/')
			last = p;
	snprintf(out, outsz, "%.*s%s%.*s", (int)(path - url), url, last == path ? "" : "/...",
		 (int)(url + n - last), last);
}
