/* Unit test of the streaming unzip (ao_unzip_stream_* and ao_unzip_verify in
 * src/exports/unzip.c): zips written by libarchive (as the hub writes them) are fed in
 * odd-sized pieces, the way a download delivers them, and must come out byte
 * for byte; hostile or broken streams must fail without hanging the feeder. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "angofs/unzip.h"
#include "t.h"

static char dir[] = "/tmp/angofs-unzips-XXXXXX";

/* One-member zip; data NULL = len zero bytes. */
static void make_zip(const char *path, const char *name, const char *data, size_t len)
{
	static char zeros[65536];
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	archive_write_set_format_zip(a);
	archive_write_open_filename(a, path);
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_write_header(a, e);
	for (size_t left = len, off = 0; left;) {
		size_t k = left < sizeof(zeros) ? left : sizeof(zeros);
		archive_write_data(a, data ? data + off : zeros, k);
		left -= k;
		off += k;
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
}

/* Feed the zip file in pieces of `piece` bytes; returns finish()'s result. */
static int stream_file(const char *zip, size_t piece, int out_fd, long long *size, struct ao_err *e)
{
	struct ao_unzip_stream *s;
	char *buf = malloc(piece);
	int fd = open(zip, O_RDONLY), feed_failed = 0;
	ssize_t n;

	CHECK(buf && fd >= 0);
	CHECK_INT(ao_unzip_stream_start(&s, out_fd, e), 0);
	while ((n = read(fd, buf, piece)) > 0)
		if (!feed_failed && ao_unzip_stream_feed(s, buf, (size_t)n) < 0)
			feed_failed = 1; /* worker gave up: the feeder must not block */
	close(fd);
	free(buf);
	return ao_unzip_stream_finish(s, size, e);
}

static char *read_all(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *b = malloc((size_t)end + 1);
	*len = (size_t)pread(fd, b, (size_t)end, 0);
	b[*len] = '\0';
	return b;
}

int main(void)
{
	char zip[256], outp[256];
	struct ao_err e;
	long long size;
	size_t got;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(zip, sizeof(zip), "%s/x.zip", dir);
	snprintf(outp, sizeof(outp), "%s/out", dir);

	/* ~3 MB of varied text: inflated correctly whatever the piece size */
	size_t cap = 3200000, tl = 0;
	char *text = malloc(cap);
	for (int i = 0; tl < cap - 100; i++)
		tl += (size_t)snprintf(text + tl, cap - tl, "{\"task\":%d,\"v\":\"%x\"}\n", i,
				       i * 2654435761u);
	make_zip(zip, "export.ndjson", text, tl);
	size_t pieces[] = {1, 777, 65536, 1 << 20};
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		if (pieces[i] == 1) /* byte by byte on a small zip only */
			continue;
		int fd = open(outp, O_RDWR | O_CREAT | O_TRUNC, 0600);
		ao_err_clear(&e);
		CHECK_INT(stream_file(zip, pieces[i], fd, &size, &e), 0);
		CHECK_INT(size, (long long)tl);
		char *o = read_all(fd, &got);
		CHECK(got == tl && memcmp(o, text, tl) == 0);
		free(o);
		close(fd);
		CHECK_INT(ao_unzip_verify(zip, size, &e), 0);
		/* the directory disagrees with a wrong size */
		CHECK_INT(ao_unzip_verify(zip, size - 1, &e), -EIO);
	}

	/* a tiny zip byte by byte */
	make_zip(zip, "a.json", "[1,2,3]\n", 8);
	int fd = open(outp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK_INT(stream_file(zip, 1, fd, &size, &e), 0);
	char *o = read_all(fd, &got);
	CHECK_STR(o, "[1,2,3]\n");
	free(o);
	close(fd);

	/* unsafe member name */
	make_zip(zip, "../evil.json", "[]", 2);
	fd = open(outp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK_INT(stream_file(zip, 4096, fd, &size, &e), -EIO);
	CHECK(strstr(e.msg, "unsafe name") != NULL);
	close(fd);

	/* 200 MiB of zeros from a ~200 KiB zip: a bomb, refused early; the
	 * feeder is not blocked by the worker that gave up */
	make_zip(zip, "zeros.json", NULL, 200u << 20);
	fd = open(outp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK_INT(stream_file(zip, 65536, fd, &size, &e), -EFBIG);
	CHECK(strstr(e.msg, "zip bomb") != NULL);
	CHECK(lseek(fd, 0, SEEK_END) < (off_t)(100u << 20));
	close(fd);

	/* not a zip; a truncated zip (download cut short); flipped bytes */
	fd = open(outp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int zf = open(zip, O_WRONLY | O_TRUNC);
	CHECK(write(zf, "this is not a zip file at all, just text\n", 41) == 41);
	close(zf);
	CHECK(stream_file(zip, 4096, fd, &size, &e) < 0);
	make_zip(zip, "export.ndjson", text, tl);
	CHECK(truncate(zip, 5000) == 0);
	CHECK(stream_file(zip, 4096, fd, &size, &e) < 0);
	make_zip(zip, "export.ndjson", text, tl);
	zf = open(zip, O_RDWR);
	off_t zsz = lseek(zf, 0, SEEK_END);
	char junk[64];
	CHECK(pread(zf, junk, sizeof(junk), zsz / 2) == (ssize_t)sizeof(junk));
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] ^= 0x5a;
	CHECK(pwrite(zf, junk, sizeof(junk), zsz / 2) == (ssize_t)sizeof(junk));
	close(zf);
	CHECK_INT(stream_file(zip, 4096, fd, &size, &e), -EIO);
	close(fd);

	/* finish() without any input */
	struct ao_unzip_stream *s;
	fd = open(outp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK_INT(ao_unzip_stream_start(&s, fd, &e), 0);
	CHECK(ao_unzip_stream_finish(s, &size, &e) < 0);
	close(fd);

	free(text);
	unlink(outp);
	unlink(zip);
	rmdir(dir);
	return t_done("unzip_stream");
}
