/*
 * hub.h - the hub client: the only code that speaks HTTP to Ango Hub.
 *
 * A small interface over libcurl so the core and the write side never see curl.
 * Thread-safe: any FUSE worker thread may call it at once (connections are
 * pooled and kept alive). Every call has a timeout and a bounded retry loop,
 * and the client is the only place that retries (policy and request costs:
 * src/client/hub_retry.h, docs/RELIABILITY.md): network errors, 5xx and 429
 * are retried with exponential backoff (429 honours Retry-After) within a
 * per-operation deadline; when retries run out the call fails with
 * err->transient = 1. A non-idempotent call (HUB_NONIDEMPOTENT) is never sent
 * again once the hub may have applied it: it fails with err->uncertain = 1.
 * GETs and downloads give up with EINTR when the caller is cancelled
 * (angofs/cancel.h: a FUSE interrupt); POSTs always run to their end.
 *
 * Errno mapping (return value, also err->code; err->http_status keeps the status):
 *   400 -> EINVAL, 401/403 -> EACCES, 404 -> ENOENT, 413 -> EFBIG,
 *   429/503 after retries -> EAGAIN, other 5xx -> EIO, timeout -> ETIMEDOUT,
 *   refused/unreachable -> ECONNREFUSED/EHOSTUNREACH, bad JSON envelope -> EPROTO.
 * err->msg carries the hub's own message (envelope "message", "error.message").
 *
 * The API key is sent only as the `apikey` header to the configured host, never
 * to an export download URL (or any redirect), and never logged.
 *
 * The seam: a struct hub is any client behind struct hub_ops (hub_wrap). The
 * daemon's is the libcurl client (hub_new, src/client/hub_client.c); the unit
 * tests use an in-process mock and a failure wrapper that injects errors,
 * delays and partial bodies by script (tests/unit/mock_hub.h), the way
 * mountpoint-s3 tests against its mock and failure clients. The -o offline
 * reply store is such a client over the libcurl one (src/client/hub_store.h).
 * The callers (core, export cache, write side) see the functions below and
 * the endpoints of angofs/hub_api.h over them.
 */
#ifndef ANGOFS_HUB_H
#define ANGOFS_HUB_H

#include <stddef.h>
#include <jansson.h>

#include "angofs/err.h"

struct hub_cfg {
	const char *base_url; /* "https://imeritapi.ango.ai" or ".../v2"; "/v2" added if absent */
	const char *api_key;  /* copied; never logged */
	long connect_timeout_ms; /* default 10000 */
	long request_timeout_ms; /* one API request, default 600000 (exports are slow) */
	long stall_timeout_s;	 /* abort a download (or metadata GET) below 1 byte/s for
				    this long, default 30 (-o stall_timeout=) */
	int max_attempts;	 /* per call, including the first; default 4 */
	long max_retry_total_ms; /* operation deadline: no retry starts later than this
				    after the call began, default 60000; -1 = no retries */
	int rate_per_minute;	 /* client-side token bucket; 0 = off */
	const char *rate_state;	 /* share the budget through this file (ratelimit.h); NULL = no */
	const char
	    *store_dir; /* keep replies for offline use here (src/client/hub_store.h); NULL = no */
	int offline;	/* answer from store_dir only, send nothing (-o offline) */
};

struct hub;

typedef int (*hub_sink_fn)(void *ud, const void *buf, size_t len);
typedef void (*hub_progress_fn)(void *ud, long long done, long long total);

/* One client implementation: the calls below on its own state (self). */
struct hub_ops {
	const char *name; /* "curl", "mock", "fail" */
	int (*get)(void *self, const char *path_and_query, json_t **data, struct ao_err *err);
	int (*post_raw)(void *self, const char *path_and_query, const char *body, size_t len,
			json_t **data, struct ao_err *err);
	int (*download)(void *self, const char *url, hub_sink_fn sink, hub_progress_fn progress,
			void *ud, struct ao_err *err);
	void (*free)(void *self);
	/* post_raw with HUB_* flags (below); NULL: post_raw (a client without
	 * retries has nothing to hold back) */
	int (*post_flags)(void *self, const char *path_and_query, const char *body, size_t len,
			  int flags, json_t **data, struct ao_err *err);
	/* PUT size bytes of fd (read with pread from offset 0) to a pre-signed
	 * URL; NULL: the client cannot upload (EOPNOTSUPP) */
	int (*put)(void *self, const char *url, int fd, long long size, const char *content_type,
		   struct ao_err *err);
	/* download asking for the first n bytes only (Range: bytes=0-<n-1>);
	 * NULL: download, stopped by hub_download_head after n bytes */
	int (*download_head)(void *self, const char *url, long long n, hub_sink_fn sink, void *ud,
			     struct ao_err *err);
};

/* A struct hub over ops and self (hub_free() calls ops->free(self)). */
struct hub *hub_wrap(const struct hub_ops *ops, void *self, struct ao_err *err);
/* The libcurl client (the daemon's). */
struct hub *hub_new(const struct hub_cfg *cfg, struct ao_err *err);
void hub_free(struct hub *h);

/* GET {base}/v2{path_and_query}. On success *data is the envelope's "data"
 * member (new reference; the whole body if it has no "data"). */
int hub_get(struct hub *h, const char *path_and_query, json_t **data, struct ao_err *err);

/* POST a JSON body (Content-Type: application/json). */
int hub_post(struct hub *h, const char *path_and_query, json_t *body, json_t **data,
	     struct ao_err *err);

/* POST an already serialized JSON body (large label chunks). */
int hub_post_raw(struct hub *h, const char *path_and_query, const char *body, size_t len,
		 json_t **data, struct ao_err *err);

/* hub_post_raw with flags:
 *   HUB_NONIDEMPOTENT  applying the request twice does harm (POST /attachments):
 *                      resent only when the hub cannot have applied it
 *                      (connection failed before the whole body was sent, 429);
 *                      otherwise the call fails with err->uncertain = 1.
 *   HUB_ONE_ATTEMPT    one request, no retry (the caller has its own schedule,
 *                      e.g. the write side's background sender). */
#define HUB_NONIDEMPOTENT 1
#define HUB_ONE_ATTEMPT 2
int hub_post_flags(struct hub *h, const char *path_and_query, const char *body, size_t len,
		   int flags, json_t **data, struct ao_err *err);

/* Stream an absolute URL (an export's pre-signed exportPath) into sink without
 * the API key. sink returns 0 to go on or -errno to abort. progress may be NULL;
 * total is -1 while unknown. */
int hub_download(struct hub *h, const char *url, hub_sink_fn sink, hub_progress_fn progress,
		 void *ud, struct ao_err *err);
/* The first bytes of an absolute URL (an image's header): at most n into
 * buf, asked with "Range: bytes=0-<n-1>" (a server that ignores it is cut
 * off after n bytes). Returns the byte count (fewer only at the object's
 * end) or -errno as hub_download. */
ssize_t hub_download_head(struct hub *h, const char *url, void *buf, size_t n, struct ao_err *err);
/* The first n bytes of url into sink: asked with a Range request when the
 * client can (ops->download_head), else the whole transfer, which the sink
 * stops. For a client over another one (src/client/hub_store.c). */
int hub_download_first(struct hub *h, const char *url, long long n, hub_sink_fn sink, void *ud,
		       struct ao_err *err);
/* A failed download leaves the HTTP status in err->http_status (0: no
 * response): 401/403 (-EACCES) from a storage URL means "not readable
 * without a signature" or "signature expired" (sign it: hub_signed_url). */

/* Paging a list endpoint by count (src/client/hub_pager.c): ask page
 * pg->page with pg->limit items; after each reply, hub_pager_next says
 * whether to ask again. A first page short of the asked limit while `total`
 * says more is the server's page size: the next pages ask that. */
struct hub_pager {
	int page, limit;
	long long seen;
	char first[128]; /* id of the last page's first item: a repeated page ends it */
};
void hub_pager_init(struct hub_pager *pg, int limit);
/* After a page of got items whose first item's id is first_id (NULL: none;
 * total: the reply's `total`, -1 if absent): 1 = ask page pg->page with
 * pg->limit (may have shrunk), 0 = done. */
int hub_pager_next(struct hub_pager *pg, size_t got, const char *first_id, long long total);
/* 1 if a page starting with first_id repeats the previous page: its items
 * are not new (skip them; hub_pager_next then ends the paging). */
int hub_pager_repeats(const struct hub_pager *pg, const char *first_id);

/* PUT a file's bytes to a pre-signed upload URL (getUploadUrl), streamed from
 * fd with pread (the file is never held in memory), without the API key.
 * A PUT to a fresh upload URL is idempotent (it stores the same object
 * again): transient failures are retried like a GET, each attempt sending
 * the file from its first byte. 2xx: 0. */
int hub_put_file(struct hub *h, const char *url, int fd, long long size, const char *content_type,
		 struct ao_err *err);

#endif
