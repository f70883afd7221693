/*
 * download.c - GET /download/<token>/<name>.zip: serve a finished export the
 * way a storage service serves a pre-signed URL.
 *
 * No API key is needed (or looked at); an unknown, mismatched or expired token
 * gets 403 with an S3-like XML error body. A plain download is handed to
 * libmicrohttpd as a file descriptor (MHD_create_response_from_fd64: streamed
 * by the library, nothing held in memory). When a download fault is active
 * the bytes go through a reader callback instead, which can stall after K
 * bytes (blocking this connection's own thread until the faults are cleared,
 * the server stops, or 10 minutes pass), drop the connection after K bytes,
 * or flip bytes so the zip is corrupt (in the middle of the data and in the
 * end-of-central-directory record, so both streaming and central-directory
 * readers fail). A single "Range: bytes=A-[B]" is honoured (206).
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hubd.h"

#define STALL_MAX_MS (10L * 60 * 1000)

struct dl {
	int fd;
	uint64_t start; /* range start: file offset of stream position 0 */
	uint64_t size;	/* whole file size */
	long long stall_after, drop_after;
	int corrupt, stalled;
	unsigned gen;
	long long *bytes_out;
};

static int in_corrupt(const struct dl *d, uint64_t off)
{
	uint64_t mid = d->size / 2;

	return (off >= mid && off < mid + 64) || (d->size >= 22 && off >= d->size - 22);
}

static ssize_t dl_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct dl *d = cls;
	uint64_t off = d->start + pos, end = d->size;
	ssize_t n;

	if (off >= d->size)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (d->drop_after >= 0) {
		if (pos >= (uint64_t)d->drop_after)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (d->start + (uint64_t)d->drop_after < end)
			end = d->start + (uint64_t)d->drop_after;
	}
	if (d->stall_after >= 0 && !d->stalled) {
		if (pos >= (uint64_t)d->stall_after) {
			long waited = 0;

			while (!g_stopping && fault_active(d->gen) && waited < STALL_MAX_MS) {
				sleep_ms_interruptible(50);
				waited += 50;
			}
			d->stalled = 1;
			if (g_stopping || waited >= STALL_MAX_MS)
				return MHD_CONTENT_READER_END_WITH_ERROR;
		} else if (d->start + (uint64_t)d->stall_after < end) {
			end = d->start + (uint64_t)d->stall_after;
		}
	}
	if (max > end - off)
		max = (size_t)(end - off);
	n = pread(d->fd, buf, max, (off_t)off);
	if (n <= 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (d->corrupt)
		for (ssize_t i = 0; i < n; i++)
			if (in_corrupt(d, off + (uint64_t)i))
				buf[i] ^= (char)0x5a;
	*d->bytes_out += n;
	return n;
}

static void dl_free(void *cls)
{
	struct dl *d = cls;

	close(d->fd);
	free(d);
}

struct dl_ctx {
	const struct fault_hit *hit;
	long long *bytes_out;
};

/* The faulted body (reply_body_fn): count bytes from offset a of fd through
 * dl_read, as the fault hit in ctx (a struct dl_ctx) says. */
static struct MHD_Response *dl_response(void *ctx, int fd, uint64_t a, uint64_t count)
{
	const struct dl_ctx *c = ctx;
	const struct fault_hit *hit = c->hit;
	struct MHD_Response *resp;
	struct dl *d = calloc(1, sizeof(*d));

	if (!d) {
		close(fd);
		return NULL;
	}
	d->fd = fd;
	d->start = a;
	d->size = a + count;
	d->stall_after = hit->stall_after;
	d->drop_after = hit->drop_after;
	d->corrupt = hit->corrupt;
	d->gen = hit->stall_id;
	d->bytes_out = c->bytes_out;
	resp = MHD_create_response_from_callback(count, 64 * 1024, dl_read, d, dl_free);
	if (!resp)
		dl_free(d);
	return resp;
}

struct MHD_Response *download_file_faulted(struct req *r, struct reply *out, int fd, uint64_t size,
					   const struct fault_hit *hit, long long *bytes_out)
{
	struct dl_ctx c = {hit, bytes_out};

	return reply_file_range(r, out, fd, size, dl_response, &c);
}

/* Parse "bytes=A-" or "bytes=A-B"; 0 ok, 1 none, -1 unsatisfiable. */
int http_parse_range(const char *h, uint64_t size, uint64_t *a, uint64_t *b)
{
	unsigned long long x, y;
	char dash;
	int n = 0;

	if (!h)
		return 1;
	if (sscanf(h, "bytes=%llu%c%n", &x, &dash, &n) != 2 || dash != '-')
		return 1; /* suffix ranges / multiple ranges: serve the whole file */
	h += n;
	if (!*h) {
		y = size ? size - 1 : 0;
	} else if (sscanf(h, "%llu", &y) != 1 || strchr(h, ',')) {
		return 1;
	}
	if (x >= size || y < x)
		return -1;
	if (y >= size)
		y = size - 1;
	*a = x;
	*b = y;
	return 0;
}

void route_download(struct req *r, struct reply *out, struct fault_hit *hit, long long *bytes_out)
{
	const char *p = r->path + strlen("/download/"), *slash = strchr(p, '/');
	char token[80], *path = NULL, *name = NULL;
	int64_t expires = 0;
	struct MHD_Response *resp;
	struct stat sb;
	sqlite3 *db;
	sqlite3_stmt *st;
	int fd;

	if (!slash || (size_t)(slash - p) >= sizeof(token)) {
		xml_error(out, 403, "AccessDenied", "Invalid download link");
		return;
	}
	memcpy(token, p, (size_t)(slash - p));
	token[slash - p] = 0;
	db = db_acquire();
	st = db_prep(db, "SELECT path, name, expires_ms FROM exports WHERE token = ?");
	if (st) {
		sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			path = strdup((const char *)sqlite3_column_text(st, 0));
			name = strdup((const char *)sqlite3_column_text(st, 1));
			expires = sqlite3_column_int64(st, 2);
		}
		sqlite3_finalize(st);
	}
	db_release(db);
	if (!path || !name || strcmp(slash + 1, name)) {
		xml_error(out, 403, "AccessDenied", "Invalid or unknown download link");
		goto out;
	}
	if (now_ms() >= expires) {
		xml_error(out, 403, "AccessDenied", "Request has expired");
		goto out;
	}
	if ((fd = open_object(path, &sb, out)) < 0)
		goto out;
	if (hit->zip) {
		/* hostile variant of this export (fault "zip") */
		int hfd = hostile_zip_open(hit->zip, path);

		close(fd);
		fd = hfd;
		if (fd < 0 || fstat(fd, &sb) < 0) {
			if (fd >= 0)
				close(fd);
			xml_error(out, 500, "InternalError", "cannot build the hostile zip");
			goto out;
		}
	}
	if (hit->stall_after < 0 && hit->drop_after < 0 && !hit->corrupt) {
		resp = reply_file_range(r, out, fd, (uint64_t)sb.st_size, NULL, NULL);
	} else {
		struct dl_ctx c = {hit, bytes_out};

		resp = reply_file_range(r, out, fd, (uint64_t)sb.st_size, dl_response, &c);
	}
	if (!resp)
		goto out;
	MHD_add_response_header(resp, "Content-Type", "application/zip");
	{
		char cd[300];

		snprintf(cd, sizeof(cd), "attachment; filename=\"%s\"", name);
		MHD_add_response_header(resp, "Content-Disposition", cd);
	}
out:
	free(path);
	free(name);
}
