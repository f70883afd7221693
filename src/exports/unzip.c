/*
 * unzip.c - first-member zip extraction with libarchive (see
 * include/angofs/unzip.h). The member's name is only checked, never used as
 * a path: the caller chooses where the bytes go.
 *
 * Two ways in, one extraction loop: ao_unzip_first reads a zip file (seekable
 * reader, central directory), ao_unzip_stream_* reads the zip while it is
 * being downloaded: the download thread pushes bytes into a socketpair and a
 * worker thread runs libarchive's streaming zip reader on the other end, so
 * inflating overlaps the transfer and memory stays at the socket buffer plus
 * one read block. The zip-bomb ratio is checked against the bytes received so
 * far, which only makes the stream check stricter than the file check.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "angofs/unzip.h"
#include "angofs/sysutil.h"

static int name_is_safe(const char *name)
{
	if (!name || !*name || name[0] == '/' || name[0] == '\\')
		return 0;
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/\\");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += n;
		if (*p)
			p++;
	}
	return 1;
}

/* The compressed size the ratio check is measured against: a fixed zip size,
 * or the bytes a stream has received so far (read with an atomic load). */
struct zsize {
	long long fixed;
	const long long *live;
	void (*written)(void *ud, long long n); /* after each block (NULL: none) */
	void *ud;
};

static long long ratio_limit(const struct zsize *z, long long *zbytes)
{
	long long n = z->live ? __atomic_load_n(z->live, __ATOMIC_RELAXED) : z->fixed;
	long long limit = n * AO_UNZIP_MAX_RATIO;
	if (limit < AO_UNZIP_RATIO_FLOOR)
		limit = AO_UNZIP_RATIO_FLOOR;
	if (limit > AO_UNZIP_MAX_SIZE)
		limit = AO_UNZIP_MAX_SIZE;
	*zbytes = n;
	return limit;
}

/* A zip that does not read as what it claims (CRC, sizes, no zip at all) is
 * most often a download damaged on its way: transient, so a cached
 * generation is served meanwhile (exports/cache.c). A zip that is hostile by
 * construction (no member, an unsafe name, a bomb) is not: EIO, final. */
static int damaged(struct ao_err *err, int rc)
{
	if (err)
		err->transient = 1;
	return rc;
}

/* Extract the first regular member of an opened archive into out_fd. */
static int extract(struct archive *a, const struct zsize *z, int out_fd, long long *size,
		   struct ao_err *err)
{
	struct archive_entry *ent;
	long long written = 0, zbytes, limit;
	int r;

	for (;;) {
		r = archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF)
			return ao_errf(err, EIO, "export zip holds no file");
		if (r < ARCHIVE_WARN)
			return damaged(err, ao_errf(err, EIO, "export zip is corrupt: %s",
						    archive_error_string(a)));
		if (archive_entry_filetype(ent) == AE_IFREG)
			break;
	}
	if (!name_is_safe(archive_entry_pathname(ent)))
		return ao_errf(err, EIO, "export zip member has an unsafe name '%s'",
			       archive_entry_pathname(ent) ? archive_entry_pathname(ent) : "");
	limit = ratio_limit(z, &zbytes);
	if (archive_entry_size_is_set(ent) && archive_entry_size(ent) > limit &&
	    (!z->live || archive_entry_size(ent) > AO_UNZIP_MAX_SIZE))
		return ao_errf(err, EFBIG,
			       "export zip member claims %lld bytes from a %lld-byte zip: refused",
			       (long long)archive_entry_size(ent), zbytes);
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;

		r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		/* the zip reader reports a CRC mismatch as a warning: corrupt */
		if (r < ARCHIVE_OK)
			return damaged(err, ao_errf(err, EIO, "export zip is corrupt: %s",
						    archive_error_string(a)));
		if (off != written) /* zip members are not sparse: corrupt */
			return damaged(
			    err,
			    ao_errf(err, EIO, "export zip is corrupt: unexpected data offset"));
		if (written + (long long)len > limit)
			limit = ratio_limit(z, &zbytes);
		if (written + (long long)len > limit)
			return ao_errf(
			    err, EFBIG,
			    "export zip expands beyond %lld bytes (from %lld): refused as "
			    "a zip bomb",
			    limit, zbytes);
		int w = ao_sys_write_all(out_fd, buf, len);
		if (w < 0)
			return ao_errf(err, -w, "writing the export to the cache: %s",
				       strerror(-w));
		written += (long long)len;
		if (z->written)
			z->written(z->ud, written);
	}
	if (archive_entry_size_is_set(ent) && archive_entry_size(ent) != written)
		return damaged(
		    err, ao_errf(err, EIO, "export zip is corrupt: member holds %lld of %lld bytes",
				 written, (long long)archive_entry_size(ent)));
	*size = written;
	return 0;
}

int ao_unzip_first(const char *zip_path, int out_fd, long long *size, struct ao_err *err)
{
	struct archive *a;
	struct stat st;
	int rc;

	*size = 0;
	if (stat(zip_path, &st) < 0)
		return ao_errf(err, errno, "export zip: %s", strerror(errno));
	struct zsize z = {(long long)st.st_size, NULL, NULL, NULL};
	a = archive_read_new();
	if (!a)
		return ao_errf(err, ENOMEM, "out of memory");
	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, zip_path, 1 << 16) != ARCHIVE_OK)
		rc = damaged(err, ao_errf(err, EIO, "export download is not a readable zip: %s",
					  archive_error_string(a)));
	else
		rc = extract(a, &z, out_fd, size, err);
	archive_read_free(a);
	return rc;
}

/* --- streaming ---------------------------------------------------------- */

#define STREAM_BLOCK (256 << 10)

struct ao_unzip_stream {
	int wfd, rfd; /* socketpair ends: feed writes wfd, the worker reads rfd */
	int out_fd;
	pthread_t thread;
	long long received; /* bytes the worker has read (atomic) */
	long long size;
	int rc;
	struct ao_err err;
	char *block;
	void (*written)(void *ud, long long n);
	void *ud;
};

static la_ssize_t stream_read(struct archive *a, void *ud, const void **buf)
{
	struct ao_unzip_stream *s = ud;
	for (;;) {
		ssize_t n = read(s->rfd, s->block, STREAM_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "reading the download: %s", strerror(errno));
			return -1;
		}
		__atomic_add_fetch(&s->received, (long long)n, __ATOMIC_RELAXED);
		*buf = s->block;
		return n;
	}
}

static void *stream_main(void *ud)
{
	struct ao_unzip_stream *s = ud;
	struct archive *a = archive_read_new();
	struct zsize z = {0, &s->received, s->written, s->ud};

	if (!a) {
		s->rc = ao_errf(&s->err, ENOMEM, "out of memory");
	} else {
		archive_read_support_format_zip_streamable(a);
		if (archive_read_open(a, s, NULL, stream_read, NULL) != ARCHIVE_OK)
			s->rc = ao_errf(&s->err, EIO, "export download is not a readable zip: %s",
					archive_error_string(a));
		else
			s->rc = extract(a, &z, s->out_fd, &s->size, &s->err);
		archive_read_free(a);
	}
	if (s->rc == 0) {
		/* the rest (central directory) must still flow: drain it */
		while (read(s->rfd, s->block, STREAM_BLOCK) > 0)
			;
	}
	/* on failure, closing our end makes feed() fail with EPIPE */
	shutdown(s->rfd, SHUT_RDWR);
	return NULL;
}

int ao_unzip_stream_start(struct ao_unzip_stream **sp, int out_fd, struct ao_err *err)
{
	return ao_unzip_stream_start_cb(sp, out_fd, NULL, NULL, err);
}

int ao_unzip_stream_start_cb(struct ao_unzip_stream **sp, int out_fd,
			     void (*written)(void *ud, long long n), void *ud, struct ao_err *err)
{
	struct ao_unzip_stream *s = calloc(1, sizeof(*s));
	int sv[2], r;

	*sp = NULL;
	if (!s || !(s->block = malloc(STREAM_BLOCK))) {
		free(s);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = errno;
		free(s->block);
		free(s);
		return ao_errf(err, r, "unzip stream: %s", strerror(r));
	}
	int bufsz = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	s->wfd = sv[0];
	s->rfd = sv[1];
	s->out_fd = out_fd;
	s->written = written;
	s->ud = ud;
	ao_err_clear(&s->err);
	r = pthread_create(&s->thread, NULL, stream_main, s);
	if (r) {
		close(sv[0]);
		close(sv[1]);
		free(s->block);
		free(s);
		return ao_errf(err, r, "unzip stream: %s", strerror(r));
	}
	*sp = s;
	return 0;
}

int ao_unzip_stream_feed(struct ao_unzip_stream *s, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = send(s->wfd, p, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPIPE ? -EIO : -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int ao_unzip_stream_finish(struct ao_unzip_stream *s, long long *size, struct ao_err *err)
{
	int rc;

	*size = 0;
	if (!s)
		return ao_errf(err, EINVAL, "unzip stream: not started");
	shutdown(s->wfd, SHUT_WR); /* end of the zip: the worker sees EOF */
	pthread_join(s->thread, NULL);
	rc = s->rc;
	if (rc < 0 && err)
		*err = s->err;
	if (rc == 0)
		*size = s->size;
	close(s->wfd);
	close(s->rfd);
	free(s->block);
	free(s);
	return rc;
}

int ao_unzip_verify(const char *zip_path, long long size, struct ao_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	int rc = 0, r;

	if (!a)
		return ao_errf(err, ENOMEM, "out of memory");
	archive_read_support_format_zip_seekable(a);
	if (archive_read_open_filename(a, zip_path, 1 << 16) != ARCHIVE_OK) {
		rc = ao_errf(err, EIO, "export download is not a readable zip: %s",
			     archive_error_string(a));
		goto out;
	}
	do
		r = archive_read_next_header(a, &ent);
	while (r >= ARCHIVE_WARN && archive_entry_filetype(ent) != AE_IFREG);
	if (r < ARCHIVE_WARN || r == ARCHIVE_EOF)
		rc = ao_errf(err, EIO, "export zip is corrupt: %s",
			     r == ARCHIVE_EOF ? "no file in its directory"
					      : archive_error_string(a));
	else if (!archive_entry_size_is_set(ent) || archive_entry_size(ent) != size)
		rc = ao_errf(
		    err, EIO,
		    "export zip is corrupt: its directory and its data disagree on the "
		    "size (%lld, %lld bytes)",
		    archive_entry_size_is_set(ent) ? (long long)archive_entry_size(ent) : -1, size);
out:
	archive_read_free(a);
	return rc;
}
