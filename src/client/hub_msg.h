/*
 * hub_msg.h - how the libcurl client (hub_client.c) words and classifies a
 * failure: the hub's own message from an error envelope, HTTP status and
 * curl code to errno, and URLs cut for logs (a pre-signed URL's query or a
 * token path is a secret). Pure functions on their arguments: no state, no
 * lock. Internal to src/client.
 */
#ifndef ANGOFS_HUB_MSG_H
#define ANGOFS_HUB_MSG_H

#include <stddef.h>

#include <curl/curl.h>

/* Message from an error envelope: "message", "error.message",
 * "error.statusCode"; the start of a text body that is not JSON. */
void hub_envelope_message(const char *body, size_t len, char *out, size_t outsz);
/* HTTP status -> errno (include/angofs/hub.h's table). */
int hub_status_errno(long st);
/* curl code -> errno; *transient = 1 for network failures worth a retry. */
int hub_curl_errno(CURLcode rc, int *transient);
/* scheme://host/.../<last segment>, without query or fragment. */
void hub_url_for_log(const char *url, char *out, size_t outsz);

#endif
