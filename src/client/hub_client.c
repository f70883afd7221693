/*
 * hub_client.c - the hub client of include/angofs/hub.h over libcurl.
 *
 * Design: one CURLSH (DNS, TLS sessions and the connection cache shared under
 * mutexes) plus a small pool of easy handles reused across calls, so every
 * FUSE worker thread can call in at once and connections stay alive. Each API
 * call is a bounded loop: rate-limit slot (sliding log, ratelimit.c), request
 * with connect/total/stall timeouts, classification of the outcome, and for
 * transient failures (network, 5xx, 429) an exponential backoff or the
 * server's Retry-After, bounded by max_attempts and max_retry_total_ms
 * (hub_retry.h: a download that moved starts both budgets again).
 *
 * Stalls are measured by the transfer's own clock: libcurl's progress
 * callback (called on every block and at least once a second while idle)
 * notes the last time a byte moved either way and aborts the transfer when
 * none has for stall_timeout; curl's LOW_SPEED averages the speed over its
 * window and fired ~6-7 s late. The same callback aborts a GET or a download
 * whose reader was interrupted, and every transfer when the daemon stops
 * (ao_cancel_stop: GETs, downloads and PUTs at once, a POST after
 * POST_STOP_GRACE_MS, since cutting one may leave it half-applied).
 *
 * Downloads of pre-signed export URLs never carry the apikey header. A broken
 * download is resumed with a Range request; a server that ignores Range is
 * re-read from the start with the already-delivered prefix skipped, so the
 * sink sees every byte exactly once. One log line per request: method, path
 * (API query kept, a download's signed query string dropped), status, ms,
 * bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "angofs/cancel.h"
#include "angofs/hub.h"
#include "angofs/log.h"
#include "angofs/ratelimit.h"
#include "hub_retry.h"
#include "angofs/sysutil.h"
#include "hub_store.h"
#include "hub_msg.h"

#define POOL_MAX 16
#define MAX_BODY (256L << 20) /* API response bodies; exports go through hub_download */
#define RATE_WAIT_MAX_MS 180000
/* a stop lets a POST in flight run this long before it is cut (the daemon
 * must be gone within 5 s; see src/daemon/stop.c) */
#define POST_STOP_GRACE_MS 2500

/* Locks: every field is set in hubc_new and read-only afterwards, except
 * pool/npool (pool_lock), the share's data (share_lock[], taken by libcurl for
 * a moment) and rl (its own lock). None is held during a request: a handle
 * leaves the pool for the whole transfer, and the rate limiter sleeps without
 * its lock. All are leaves (nothing else is locked while they are held). */
struct hubc {
	/* base .. share: immutable after hubc_new */
	char *base;   /* ".../v2" */
	char *origin; /* "scheme://host[:port]" for relative export paths */
	char *key_header;
	struct hub_cfg cfg;
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL *pool[POOL_MAX];	/* pool_lock */
	int npool;		/* pool_lock */
	struct ao_ratelimit rl; /* its own rl.lock (include/angofs/ratelimit.h) */
};

static void hubc_free(struct hubc *h);

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
}

static void share_lock(CURL *c, curl_lock_data d, curl_lock_access a, void *ud)
{
	struct hubc *h = ud;
	(void)c;
	(void)a;
	pthread_mutex_lock(&h->share_lock[d]);
}

static void share_unlock(CURL *c, curl_lock_data d, void *ud)
{
	struct hubc *h = ud;
	(void)c;
	pthread_mutex_unlock(&h->share_lock[d]);
}

static struct hubc *hubc_new(const struct hub_cfg *cfg, struct ao_err *err)
{
	struct hubc *h;
	size_t len;

	if (!cfg || !cfg->base_url || !cfg->api_key || !*cfg->api_key) {
		ao_errf(err, EINVAL, "hub: base URL and API key are required");
		return NULL;
	}
	pthread_once(&curl_once, curl_init_once);
	h = calloc(1, sizeof(*h));
	if (!h) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	h->cfg = *cfg;
	h->cfg.base_url = NULL;
	h->cfg.api_key = NULL;
	h->cfg.store_dir = NULL;
	h->cfg.offline = 0; /* the store's (hub_new) */
	if (h->cfg.connect_timeout_ms <= 0)
		h->cfg.connect_timeout_ms = 10000;
	if (h->cfg.request_timeout_ms <= 0)
		h->cfg.request_timeout_ms = 600000;
	if (h->cfg.stall_timeout_s <= 0)
		h->cfg.stall_timeout_s = 30;
	if (h->cfg.max_attempts <= 0)
		h->cfg.max_attempts = 4;
	if (h->cfg.max_retry_total_ms < 0)
		h->cfg.max_retry_total_ms = 0;
	else if (h->cfg.max_retry_total_ms == 0)
		h->cfg.max_retry_total_ms = 60000;

	len = strlen(cfg->base_url);
	while (len && cfg->base_url[len - 1] == '/')
		len--;
	int has_v2 = len >= 3 && strncmp(cfg->base_url + len - 3, "/v2", 3) == 0;
	h->base = malloc(len + 4);
	if (h->base) {
		memcpy(h->base, cfg->base_url, len);
		strcpy(h->base + len, has_v2 ? "" : "/v2");
	}
	const char *p = strstr(cfg->base_url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	h->origin =
	    p ? strndup(cfg->base_url, (size_t)(p - cfg->base_url)) : strndup(cfg->base_url, len);
	if (asprintf(&h->key_header, "apikey: %s", cfg->api_key) < 0)
		h->key_header = NULL;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_lock[i], NULL);
	pthread_mutex_init(&h->pool_lock, NULL);
	h->share = curl_share_init();
	if (!h->base || !h->origin || !h->key_header || !h->share ||
	    ao_ratelimit_init(&h->rl, cfg->rate_per_minute) < 0) {
		hubc_free(h);
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (cfg->rate_state && h->rl.per_minute) {
		int r = ao_ratelimit_share(&h->rl, cfg->rate_state);
		if (r < 0)
			ao_warn("rate limit: %s: %s; this mount counts its own requests only",
				cfg->rate_state, strerror(-r));
	}
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	return h;
}

static void hubc_free(struct hubc *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	if (h->share)
		curl_share_cleanup(h->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_lock[i]);
	pthread_mutex_destroy(&h->pool_lock);
	ao_ratelimit_destroy(&h->rl);
	if (h->key_header)
		explicit_bzero(h->key_header, strlen(h->key_header));
	free(h->key_header);
	free(h->base);
	free(h->origin);
	free(h);
}

static CURL *easy_get(struct hubc *h)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->pool_lock);
	if (h->npool)
		c = h->pool[--h->npool];
	pthread_mutex_unlock(&h->pool_lock);
	if (c)
		curl_easy_reset(c);
	else
		c = curl_easy_init();
	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_SHARE, h->share);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* curl's defaults, said out loud: https peers are verified (chain and host
	 * name), so the key never goes to a host that cannot prove who it is */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->cfg.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT,
			 "angofs/"
			 "0.1");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	return c;
}

static void easy_put(struct hubc *h, CURL *c)
{
	pthread_mutex_lock(&h->pool_lock);
	if (h->npool < POOL_MAX) {
		h->pool[h->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->pool_lock);
	if (c)
		curl_easy_cleanup(c);
}

/* --- one transfer ------------------------------------------------------ */

struct xfer {
	/* API bodies */
	char *buf;
	size_t len, cap;
	int too_big;
	/* downloads */
	hub_sink_fn sink;
	hub_progress_fn progress;
	void *ud;
	long long skip;	     /* bytes of this response already delivered earlier */
	long long delivered; /* bytes handed to sink over all attempts */
	long long total;
	long long base;	     /* offset the current response starts at */
	long long range_end; /* hub_download_range: last byte wanted; 0 none */
	int sink_err;
	int started;
	/* uploads (KIND_PUT): the file, read with pread from up_off */
	int up_fd;
	long long up_size, up_off;
	const char *up_ctype;
	CURL *curl;
	/* the transfer's own clock (on_xferinfo): when a byte last moved either
	 * way and the counts then; stall_ms 0: no stall check (POSTs and GET
	 * /export, whose replies may take long to think about) */
	long long last_byte_ms;
	curl_off_t seen_dn, seen_up;
	long long stall_ms;
	int post;    /* has a body: never cut by a reader's interrupt */
	int stalled; /* aborted: no byte for stall_ms */
	int stopped; /* aborted: the daemon is stopping */
	/* headers */
	long retry_after_s;
	long long range_start; /* from Content-Range, -1 if none */
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;
	size_t n = sz * nm;

	if (x->len + n > (size_t)MAX_BODY) {
		x->too_big = 1;
		return 0;
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		while (cap < x->len + n + 1)
			cap *= 2;
		char *b = realloc(x->buf, cap);
		if (!b)
			return 0;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;
	size_t n = sz * nm;
	char line[256];

	if (n >= sizeof(line))
		return n;
	memcpy(line, p, n);
	line[n] = '\0';
	if (strncasecmp(line, "HTTP/", 5) == 0) {
		/* a new response (redirect or retry): forget old headers */
		x->retry_after_s = -1;
		x->range_start = -1;
	} else if (strncasecmp(line, "Retry-After:", 12) == 0) {
		char *v = line + 12;
		while (*v == ' ')
			v++;
		if (*v >= '0' && *v <= '9') {
			x->retry_after_s = strtol(v, NULL, 10);
		} else if (*v) {
			struct tm tm;
			memset(&tm, 0, sizeof(tm));
			if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
				long d = (long)(timegm(&tm) - time(NULL));
				x->retry_after_s = d > 0 ? d : 0;
			}
		}
	} else if (strncasecmp(line, "Content-Range:", 14) == 0) {
		char *v = strstr(line, "bytes ");
		if (v)
			x->range_start = strtoll(v + 6, NULL, 10);
	}
	return n;
}

static size_t on_download(char *p, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;
	size_t n = sz * nm, off = 0;
	long status = 0;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300)
		return on_body(p, sz, nm, ud); /* error body: keep for the message */
	if (!x->started) {
		curl_off_t cl = -1;
		x->started = 1;
		curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (status == 206 && x->range_start >= 0) {
			if (x->range_start > x->delivered)
				return 0; /* hole: cannot continue */
			x->skip = x->delivered - x->range_start;
			x->base = x->range_start;
		} else {
			x->skip = x->delivered;
			x->base = 0;
		}
		if (cl >= 0)
			x->total = x->base + cl;
	}
	if (x->skip > 0) {
		off = (size_t)x->skip < n ? (size_t)x->skip : n;
		x->skip -= (long long)off;
	}
	if (off < n) {
		/* the size first: a reader woken by these bytes then finds it known */
		if (x->progress && x->delivered == 0 && x->total >= 0)
			x->progress(x->ud, x->delivered, x->total);
		int r = x->sink(x->ud, p + off, n - off);
		if (r < 0) {
			x->sink_err = r;
			return 0;
		}
		x->delivered += (long long)(n - off);
		if (x->progress)
			x->progress(x->ud, x->delivered, x->total);
	}
	return n;
}

/* libcurl's progress callback (on every block, and at least once a second
 * while idle): the stall clock, a cancelled caller, a stop. Nonzero aborts
 * the transfer (CURLE_ABORTED_BY_CALLBACK; x says why). */
static int on_xferinfo(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = ud;
	long long now = ao_sys_now_ms(), stopping = ao_cancel_stopping_ms();

	(void)dt;
	(void)ut;
	if (dn != x->seen_dn || un != x->seen_up) {
		x->seen_dn = dn;
		x->seen_up = un;
		x->last_byte_ms = now;
	}
	if (stopping >= (x->post ? POST_STOP_GRACE_MS : 0)) {
		x->stopped = 1;
		return 1;
	}
	if (!x->post && ao_cancelled())
		return 1;
	if (x->stall_ms && now - x->last_byte_ms >= x->stall_ms) {
		x->stalled = 1;
		return 1;
	}
	return 0;
}

enum { KIND_API, KIND_DOWNLOAD, KIND_PUT };

/* libcurl's read callback of a PUT: the next bytes of the file (pread: the
 * descriptor's offset is not touched, each attempt starts at byte 0). */
static size_t on_upload(char *p, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;
	size_t want = sz * nm;
	ssize_t n;

	if (x->up_off >= x->up_size)
		return 0;
	if ((long long)want > x->up_size - x->up_off)
		want = (size_t)(x->up_size - x->up_off);
	do
		n = pread(x->up_fd, p, want, (off_t)x->up_off);
	while (n < 0 && errno == EINTR);
	if (n <= 0) /* the file shrank or cannot be read: abort, never send short */
		return CURL_READFUNC_ABORT;
	x->up_off += n;
	return (size_t)n;
}

/* A PUT to a pre-signed upload URL: no apikey (the URL is the capability),
 * no redirects, a stall timeout rather than a total one (files are large). */
static struct curl_slist *setup_put(struct hubc *h, CURL *c, struct xfer *x)
{
	struct curl_slist *hdrs = NULL;
	char ct[200];

	x->up_off = 0;
	snprintf(ct, sizeof(ct), "Content-Type: %s",
		 x->up_ctype ? x->up_ctype : "application/octet-stream");
	hdrs = curl_slist_append(hdrs, ct);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
	curl_easy_setopt(c, CURLOPT_READDATA, x);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->up_size);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	x->stall_ms = h->cfg.stall_timeout_s * 1000LL;
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	return hdrs;
}

/* Set up c for one attempt of a call. Returns the header list to free. */
static struct curl_slist *setup_attempt(struct hubc *h, CURL *c, int kind, const char *url,
					const char *log_path, const char *body, size_t blen,
					long long remaining_ms, struct xfer *x)
{
	struct curl_slist *hdrs = NULL;
	char range[64];

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	/* the stall clock, interrupts and stops (on_xferinfo): reads stop when
	 * their caller is interrupted (angofs/cancel.h); POSTs run to their end
	 * (cutting one may leave it half-applied) unless the daemon stops */
	x->last_byte_ms = ao_sys_now_ms();
	x->seen_dn = x->seen_up = 0;
	x->stall_ms = 0;
	x->post = body != NULL;
	x->stalled = x->stopped = 0;
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	if (kind == KIND_PUT) {
		hdrs = setup_put(h, c, x);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		return hdrs;
	}
	if (kind == KIND_API) {
		long tmo = h->cfg.request_timeout_ms;

		/* a retry never runs past the operation's deadline by more than
		 * the stall timeout; the first attempt has the full request time */
		if (remaining_ms >= 0 && remaining_ms + h->cfg.stall_timeout_s * 1000L < tmo)
			tmo = (long)remaining_ms + h->cfg.stall_timeout_s * 1000L;
		hdrs = curl_slist_append(hdrs, h->key_header);
		hdrs = curl_slist_append(hdrs, "Accept: application/json");
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tmo);
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
		if (!body && strncmp(log_path, "/v2/export", 10) != 0)
			/* a metadata GET that gets no byte for the stall timeout
			 * is stuck (a frozen hub accepts connections and never
			 * answers): fail it then, not after the 10 min total */
			x->stall_ms = h->cfg.stall_timeout_s * 1000LL;
		if (body) {
			hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
		}
	} else {
		/* pre-signed URL: no apikey, redirects allowed (still no key).
		 * No total timeout (exports are large) but a stall timeout; API
		 * calls have only the total one, since the hub may think for a
		 * long time before the first byte of a big import's reply. */
		x->stall_ms = h->cfg.stall_timeout_s * 1000LL;
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_download);
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
		if (x->range_end > 0) { /* the first bytes only (a header) */
			snprintf(range, sizeof(range), "Range: bytes=%lld-%lld", x->delivered,
				 x->range_end);
			hdrs = curl_slist_append(hdrs, range);
		} else if (x->delivered > 0) {
			snprintf(range, sizeof(range), "Range: bytes=%lld-", x->delivered);
			hdrs = curl_slist_append(hdrs, range);
		}
	}
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	return hdrs;
}

/* Run one call: attempts as hub_retry.c decides. For KIND_API, body/blen may
 * be a POST body (method "POST"); the response body is left in x->buf. */
/* A failed attempt: its errno, transient flag and message (for the retry
 * decision and the error the caller gets). */
static void classify(CURLcode cc, long status, const struct xfer *x, const char *method,
		     const char *log_path, struct hub_attempt *a, char *msg, size_t msgsz)
{
	if (cc == CURLE_ABORTED_BY_CALLBACK && x->stalled) {
		a->code = ETIMEDOUT;
		a->transient = 1;
		a->timed_out = 1;
		snprintf(msg, msgsz, "%s %s: no byte for %lld s (stall_timeout)", method, log_path,
			 x->stall_ms / 1000);
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		/* a stop is transient: a write cut by it stays pending */
		a->code = EINTR;
		a->cancelled = 1;
		a->stopped = x->stopped;
		a->transient = x->stopped;
		snprintf(msg, msgsz, "%s %s: %s", method, log_path,
			 x->stopped ? "aborted: the daemon is stopping" : "interrupted");
	} else if (cc != CURLE_OK) {
		a->code = hub_curl_errno(cc, &a->transient);
		a->timed_out = a->code == ETIMEDOUT;
		snprintf(msg, msgsz, "%s %s: %s", method, log_path, curl_easy_strerror(cc));
	} else {
		char hubmsg[400];

		a->code = hub_status_errno(status);
		a->transient = status >= 500 || status == 429 || status == 408;
		hub_envelope_message(x->buf ? x->buf : "", x->len, hubmsg, sizeof(hubmsg));
		snprintf(msg, msgsz, "%s %s: HTTP %ld%s%s", method, log_path, status,
			 hubmsg[0] ? ": " : "", hubmsg);
	}
}

/* The stop alone ends a POST's or a PUT's waits (a reader's interrupt does
 * not: close() delivers what it can). */
static int stopping(void)
{
	return ao_cancel_stopping_ms() >= 0;
}

/* Sleep ms before a retry; -EINTR as soon as give_up() says so. */
static int retry_sleep(long long ms, int (*give_up)(void))
{
	for (long long end = ao_sys_now_ms() + ms; ao_sys_now_ms() < end;) {
		if (give_up())
			return -EINTR;
		long long left = end - ao_sys_now_ms();
		ao_sys_sleep_ms(left < 100 ? (left > 0 ? left : 1) : 100);
	}
	return give_up() ? -EINTR : 0;
}

static int run(struct hubc *h, int kind, const char *method, const char *url, const char *log_path,
	       const char *body, size_t blen, int flags, struct xfer *x, long *status_out,
	       struct ao_err *err)
{
	struct hub_op op = {0, h->cfg.max_attempts, 0, 0};
	int (*give_up)(void) = body || kind == KIND_PUT ? stopping : ao_cancelled;
	char msg[600];

	if (flags & HUB_ONE_ATTEMPT || h->cfg.max_retry_total_ms < 0)
		op.max_attempts = 1;
	op.budget_ms = h->cfg.max_retry_total_ms > 0 ? h->cfg.max_retry_total_ms : 0;
	op.deadline = ao_sys_now_ms() + op.budget_ms;
	for (;;) {
		struct hub_attempt a;
		struct curl_slist *hdrs;
		const char *why;
		long long t0, ms, d, before = x->delivered;
		curl_off_t got = 0, up = 0;
		enum hub_verdict v;
		long status = 0;
		CURLcode cc;
		CURL *c;

		if (give_up()) {
			/* nothing sent: a write stays pending */
			ao_errf(err, EINTR, "%s %s: %s", method, log_path,
				stopping() ? "not sent: the daemon is stopping" : "interrupted");
			if (err)
				err->transient = stopping();
			return -EINTR;
		}
		int rl = kind == KIND_API && h->rl.per_minute
			     ? ao_ratelimit_acquire(&h->rl, RATE_WAIT_MAX_MS, give_up)
			     : 0;
		if (rl == -EINTR)
			continue; /* reported above */
		if (rl < 0)
			return ao_errf(err, EAGAIN,
				       "%s %s: client rate limit (%d/min) would delay it too long",
				       method, log_path, h->rl.per_minute);
		c = easy_get(h);
		if (!c)
			return ao_errf(err, ENOMEM, "out of memory (curl handle)");
		memset(&a, 0, sizeof(a));
		a.download = kind == KIND_DOWNLOAD;
		a.nonidempotent = (flags & HUB_NONIDEMPOTENT) != 0;
		op.attempt++;
		x->curl = c;
		x->len = 0;
		x->too_big = 0;
		x->started = 0;
		x->retry_after_s = -1;
		x->range_start = -1;
		hdrs = setup_attempt(h, c, kind, url, log_path, body, blen,
				     op.attempt > 1 ? op.deadline - ao_sys_now_ms() : -1, x);
		t0 = ao_sys_now_ms();
		cc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		ms = ao_sys_now_ms() - t0;
		curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got);
		curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
		curl_slist_free_all(hdrs);
		easy_put(h, c);
		x->curl = NULL;
		ao_info("%s %s %ld %lldms %lldB%s%s", method, log_path, status, ms, (long long)got,
			cc ? " curl: " : "", cc ? curl_easy_strerror(cc) : "");

		if (x->sink_err) {
			ao_errf(err, -x->sink_err, "%s %s: download aborted by the receiver",
				method, log_path);
			return x->sink_err;
		}
		if (cc == CURLE_OK && status >= 200 && status < 300) {
			*status_out = status;
			return 0;
		}
		if (cc == CURLE_WRITE_ERROR && x->too_big)
			return ao_errf(err, EFBIG, "%s %s: response larger than %ld MB", method,
				       log_path, MAX_BODY >> 20);
		a.status = status;
		a.retry_after_s = x->retry_after_s;
		a.got = x->delivered - before;
		/* the hub needs the whole body to act on a POST; a connection that
		 * failed before curl handed it all over cannot have been applied */
		a.body_sent = body && up >= (curl_off_t)blen && cc != CURLE_COULDNT_CONNECT &&
			      cc != CURLE_COULDNT_RESOLVE_HOST && cc != CURLE_COULDNT_RESOLVE_PROXY;
		classify(cc, status, x, method, log_path, &a, msg, sizeof(msg));
		v = hub_retry_decide(&op, &a, ao_sys_now_ms(), &d, &why);
		if (status == 429 && kind == KIND_API)
			/* the key's budget is spent: hold back every daemon sharing it */
			ao_ratelimit_penalize(&h->rl, ao_ratelimit_now(&h->rl),
					      v == HUB_RETRY	     ? d
					      : x->retry_after_s > 0 ? x->retry_after_s * 1000LL
								     : 1000);
		if (v == HUB_RETRY) {
			ao_warn("%s (attempt %d/%d, retrying in %lld ms)", msg, op.attempt,
				op.max_attempts, d);
			/* a POST's or PUT's only by a stop, never by an interrupt */
			if (retry_sleep(d, give_up) == 0)
				continue;
			a.stopped = stopping();
			why = a.stopped ? " (the daemon is stopping)" : " (interrupted)";
			a.code = EINTR;
			a.cancelled = 1;
		}
		ao_errf(err, a.code, "%s%s", msg, why);
		if (err) {
			err->http_status = (int)status;
			/* a stop leaves a write pending (or uncertain), never refused */
			err->transient = a.stopped || (a.transient && !a.cancelled);
			err->uncertain = v == HUB_UNCERTAIN;
		}
		ao_warn("%s", err ? err->msg : msg);
		return -a.code;
	}
}

static int api_call(struct hubc *h, const char *method, const char *pq, const char *body,
		    size_t blen, int flags, json_t **data, struct ao_err *err)
{
	struct xfer x;
	char *url, log_path[600];
	long status = 0;
	int rc;

	if (data)
		*data = NULL;
	if (!pq || pq[0] != '/')
		return ao_errf(err, EINVAL, "hub: path must start with '/'");
	if (asprintf(&url, "%s%s", h->base, pq) < 0)
		return ao_errf(err, ENOMEM, "out of memory");
	snprintf(log_path, sizeof(log_path), "/v2%s", pq);
	memset(&x, 0, sizeof(x));
	rc = run(h, KIND_API, method, url, log_path, body, blen, flags, &x, &status, err);
	free(url);
	if (rc == 0) {
		json_error_t je;
		/* JSON_ALLOW_NUL: one name with a \u0000 must not make the whole
		 * reply unreadable; C strings simply end at the NUL */
		json_t *j = json_loadb(x.buf ? x.buf : "", x.len, JSON_ALLOW_NUL, &je);
		if (!j) {
			rc = ao_errf(err, EPROTO,
				     "%s %s: HTTP %ld with a body that is not JSON (%s)", method,
				     log_path, status, je.text);
		} else {
			json_t *st = json_object_get(j, "status");
			if (json_is_string(st) && (strcmp(json_string_value(st), "fail") == 0 ||
						   strcmp(json_string_value(st), "error") == 0)) {
				char m[400];
				hub_envelope_message(x.buf, x.len, m, sizeof(m));
				rc = ao_errf(err, EIO, "%s %s: hub reported failure: %s", method,
					     log_path, m);
				if (err)
					err->http_status = (int)status;
			} else if (data) {
				json_t *d = json_object_get(j, "data");
				*data = json_incref(d ? d : j);
			}
			json_decref(j);
		}
	}
	free(x.buf);
	return rc;
}

static int hubc_get(struct hubc *h, const char *path_and_query, json_t **data, struct ao_err *err)
{
	return api_call(h, "GET", path_and_query, NULL, 0, 0, data, err);
}

static int hubc_post_raw(struct hubc *h, const char *path_and_query, const char *body, size_t len,
			 json_t **data, struct ao_err *err)
{
	return api_call(h, "POST", path_and_query, body ? body : "", body ? len : 0, 0, data, err);
}

static int hubc_post_flags(struct hubc *h, const char *path_and_query, const char *body, size_t len,
			   int flags, json_t **data, struct ao_err *err)
{
	return api_call(h, "POST", path_and_query, body ? body : "", body ? len : 0, flags, data,
			err);
}

/* What a download and an upload share before run(): the http(s) check on
 * url (bad_url says what was wrong with it; NULL skips the check,
 * for a URL made from the hub's own origin), the URL as logged and a zeroed
 * xfer. 0, or -errno with err set. */
static int xfer_begin(struct hubc *h, const char *op, const char *url, const char *bad_url,
		      struct xfer *x, char *log_path, size_t log_size, struct ao_err *err)
{
	if (bad_url &&
	    (!url || (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))))
		return ao_errf(err, EPROTO, "%s: %s", op, bad_url);
	hub_url_for_log(url, log_path, log_size);
	memset(x, 0, sizeof(*x));
	return 0;
}

static int hubc_download(struct hubc *h, const char *url, hub_sink_fn sink,
			 hub_progress_fn progress, void *ud, long long range_end,
			 struct ao_err *err)
{
	struct xfer x;
	char *abs = NULL, log_path[600];
	long status = 0;
	int rc;

	if (!url || !*url)
		return ao_errf(err, EPROTO, "download: empty URL");
	if (url[0] == '/') {
		if (asprintf(&abs, "%s%s", h->origin, url) < 0)
			return ao_errf(err, ENOMEM, "out of memory");
		url = abs;
	}
	rc = xfer_begin(h, "download", url, abs ? NULL : "unsupported URL scheme", &x, log_path,
			sizeof(log_path), err);
	if (rc == 0) {
		x.sink = sink;
		x.progress = progress;
		x.ud = ud;
		x.total = -1;
		x.range_end = range_end;
		rc = run(h, KIND_DOWNLOAD, "GET", url, log_path, NULL, 0, 0, &x, &status, err);
		free(x.buf);
	}
	free(abs);
	return rc;
}

static int hubc_put(struct hubc *h, const char *url, int fd, long long size,
		    const char *content_type, struct ao_err *err)
{
	struct xfer x;
	char log_path[600];
	long status = 0;
	int rc;

	rc =
	    xfer_begin(h, "upload", url, "not an http(s) URL", &x, log_path, sizeof(log_path), err);
	if (rc)
		return rc;
	x.up_fd = fd;
	x.up_size = size;
	x.up_ctype = content_type;
	rc = run(h, KIND_PUT, "PUT", url, log_path, NULL, 0, 0, &x, &status, err);
	free(x.buf);
	return rc;
}

/* The seam (include/angofs/hub.h): the libcurl client as struct hub_ops. */
static int curlc_get(void *self, const char *pq, json_t **data, struct ao_err *err)
{
	return hubc_get(self, pq, data, err);
}

static int curlc_post_raw(void *self, const char *pq, const char *body, size_t len, json_t **data,
			  struct ao_err *err)
{
	return hubc_post_raw(self, pq, body, len, data, err);
}

static int curlc_post_flags(void *self, const char *pq, const char *body, size_t len, int flags,
			    json_t **data, struct ao_err *err)
{
	return hubc_post_flags(self, pq, body, len, flags, data, err);
}

static int curlc_download(void *self, const char *url, hub_sink_fn sink, hub_progress_fn progress,
			  void *ud, struct ao_err *err)
{
	return hubc_download(self, url, sink, progress, ud, 0, err);
}

static int curlc_download_head(void *self, const char *url, long long n, hub_sink_fn sink, void *ud,
			       struct ao_err *err)
{
	return hubc_download(self, url, sink, NULL, ud, n - 1, err);
}

static int curlc_put(void *self, const char *url, int fd, long long size, const char *ctype,
		     struct ao_err *err)
{
	return hubc_put(self, url, fd, size, ctype, err);
}

static void curlc_free(void *self)
{
	hubc_free(self);
}

static const struct hub_ops curl_ops = {
    .name = "curl",
    .get = curlc_get,
    .post_raw = curlc_post_raw,
    .download = curlc_download,
    .free = curlc_free,
    .post_flags = curlc_post_flags,
    .put = curlc_put,
    .download_head = curlc_download_head,
};

struct hub *hub_new(const struct hub_cfg *cfg, struct ao_err *err)
{
	struct hubc *c = hubc_new(cfg, err);
	struct hub *h = c ? hub_wrap(&curl_ops, c, err) : NULL;

	if (c && !h)
		hubc_free(c);
	/* the reply store over it (-o offline answers from there alone) */
	if (h && (cfg->store_dir || cfg->offline))
		h = hub_store_new(h, cfg->store_dir, c->base, cfg->offline, err);
	return h;
}
