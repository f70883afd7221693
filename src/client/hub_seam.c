/*
 * hub_seam.c - struct hub is a client behind struct hub_ops (include/angofs/hub.h):
 * the libcurl client in the daemon, the mock and the failure wrapper in the
 * unit tests. These functions only dispatch, so a caller cannot tell the
 * clients apart and a client's internals (retries, pooling) can change
 * underneath without touching the callers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/hub.h"

/* Immutable after hub_wrap: no lock (a client does its own locking). */
struct hub {
	const struct hub_ops *ops;
	void *self;
};

struct hub *hub_wrap(const struct hub_ops *ops, void *self, struct ao_err *err)
{
	struct hub *h = calloc(1, sizeof(*h));

	if (!h) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	h->ops = ops;
	h->self = self;
	return h;
}

void hub_free(struct hub *h)
{
	if (!h)
		return;
	if (h->ops->free)
		h->ops->free(h->self);
	free(h);
}

int hub_get(struct hub *h, const char *path_and_query, json_t **data, struct ao_err *err)
{
	if (data)
		*data = NULL;
	return h->ops->get(h->self, path_and_query, data, err);
}

int hub_post_raw(struct hub *h, const char *path_and_query, const char *body, size_t len,
		 json_t **data, struct ao_err *err)
{
	if (data)
		*data = NULL;
	return h->ops->post_raw(h->self, path_and_query, body, len, data, err);
}

int hub_post_flags(struct hub *h, const char *path_and_query, const char *body, size_t len,
		   int flags, json_t **data, struct ao_err *err)
{
	if (data)
		*data = NULL;
	if (!h->ops->post_flags)
		return h->ops->post_raw(h->self, path_and_query, body, len, data, err);
	return h->ops->post_flags(h->self, path_and_query, body, len, flags, data, err);
}

int hub_post(struct hub *h, const char *path_and_query, json_t *body, json_t **data,
	     struct ao_err *err)
{
	char *s = json_dumps(body, JSON_COMPACT);
	int rc;

	if (!s)
		return ao_errf(err, ENOMEM, "hub_post: cannot serialize the body");
	rc = hub_post_raw(h, path_and_query, s, strlen(s), data, err);
	free(s);
	return rc;
}

int hub_put_file(struct hub *h, const char *url, int fd, long long size, const char *content_type,
		 struct ao_err *err)
{
	if (!h->ops->put)
		return ao_errf(err, EOPNOTSUPP, "the %s client cannot upload files", h->ops->name);
	return h->ops->put(h->self, url, fd, size, content_type, err);
}

int hub_download(struct hub *h, const char *url, hub_sink_fn sink, hub_progress_fn progress,
		 void *ud, struct ao_err *err)
{
	return h->ops->download(h->self, url, sink, progress, ud, err);
}

struct head_buf {
	char *buf;
	size_t n, got;
};

/* Keeps the first n bytes; then stops the transfer (-ECANCELED, which
 * hub_download_head turns into success). */
static int head_sink(void *ud, const void *p, size_t len)
{
	struct head_buf *hb = ud;
	size_t k = len < hb->n - hb->got ? len : hb->n - hb->got;

	memcpy(hb->buf + hb->got, p, k);
	hb->got += k;
	return hb->got == hb->n ? -ECANCELED : 0;
}

int hub_download_first(struct hub *h, const char *url, long long n, hub_sink_fn sink, void *ud,
		       struct ao_err *err)
{
	return h->ops->download_head ? h->ops->download_head(h->self, url, n, sink, ud, err)
				     : h->ops->download(h->self, url, sink, NULL, ud, err);
}

ssize_t hub_download_head(struct hub *h, const char *url, void *buf, size_t n, struct ao_err *err)
{
	struct head_buf hb = {buf, n, 0};
	int rc;

	if (n == 0)
		return 0;
	rc = hub_download_first(h, url, (long long)n, head_sink, &hb, err);
	if (rc == -ECANCELED && hb.got == n) { /* stopped by us: got what we wanted */
		ao_err_clear(err);
		rc = 0;
	}
	return rc < 0 ? rc : (ssize_t)hb.got;
}
