/*
 * mock_hub.h - in-process clients behind the hub seam (include/angofs/hub.h)
 * for unit tests, after mountpoint-s3's mock and failure clients:
 *
 *   mock_hub   answers from tables the test fills: GET/POST replies by path
 *              (exact, or a prefix ending in '*'), downloads by URL; counts
 *              every call. No network, no threads of its own.
 *   fail_hub   wraps any struct hub and, by script, fails calls the way the
 *              libcurl client fails after its retries (HTTP status -> errno,
 *              transient flag), delays them, or cuts a download short after
 *              N bytes. The script can be replaced while the hub is in use.
 *
 * Script: one rule per line, `OP PREFIX ACTION [xN]`
 *   OP      GET | POST | DOWNLOAD | PUT | *
 *   PREFIX  the start of the path-and-query (or URL), or * for any
 *   ACTION  http=STATUS | net | timeout | delay=MS | partial=BYTES |
 *           applied (POST: passed on, then failed as uncertain: the reply
 *           of a request the hub applied was lost)
 *   xN      only the first N matching calls (default: every one)
 * The first rule that matches and is not used up applies.
 */
#ifndef ANGOFS_MOCK_HUB_H
#define ANGOFS_MOCK_HUB_H

#include <stddef.h>

#include "angofs/hub.h"

struct mock_hub;

struct hub *mock_hub_new(struct mock_hub **m);
/* data_json is the envelope's "data" the call returns; NULL: 404 (ENOENT). */
void mock_hub_on(struct mock_hub *m, const char *method, const char *pattern,
		 const char *data_json);
void mock_hub_file(struct mock_hub *m, const char *url, const void *bytes, size_t len);
/* Downloads of url (pattern as above) answer 403, like a private object
 * fetched without a signature or with an expired one. */
void mock_hub_deny(struct mock_hub *m, const char *url);
/* A PUT (hub_put_file) stores the file: a DOWNLOAD of the URL without its
 * query returns it. */
/* Calls so far whose method is method ("GET", "POST", "DOWNLOAD", "PUT") and whose
 * path (or URL) starts with prefix. */
int mock_hub_calls(struct mock_hub *m, const char *method, const char *prefix);
/* The body of the last POST (NUL-terminated; "" if none). */
const char *mock_hub_last_body(struct mock_hub *m);

struct fail_hub;

/* Takes over inner (freed with the wrapper). */
struct hub *fail_hub_new(struct hub *inner, const char *script, struct fail_hub **f);
void fail_hub_script(struct fail_hub *f, const char *script);
/* Calls the wrapper failed, delayed or cut short so far. */
int fail_hub_injected(struct fail_hub *f);

#endif
