/*
 * fuzz_unzip.c - libFuzzer harness for export zip extraction (src/exports/unzip.c).
 *
 * The input is the zip the hub (or an attacker controlling exportPath) sends.
 * Both ways the export cache unpacks it are run: the streaming reader fed in
 * chunks while it "downloads" (chunk size from the input's first byte) plus
 * the central-directory check, and extraction of the whole file from disk.
 * Invariants: success reports exactly the bytes written; a failure carries its
 * errno and a message; output stays within the zip-bomb bounds of unzip.h;
 * and a stream result that passes ao_unzip_verify has the size ao_unzip_first
 * finds (the cache serves the stream's bytes only then). -rss_limit_mb catches
 * unbounded memory use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "angofs/unzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char zip_path[64];

static void check_out(int rc, int fd, long long n, size_t zsize, const struct ao_err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		abort();
	if (rc == 0) {
		if (n != st.st_size)
			abort();
		if (n > AO_UNZIP_RATIO_FLOOR && n > AO_UNZIP_MAX_RATIO * (long long)zsize)
			abort();
	} else if (rc > 0 || err->code != -rc || !err->msg[0]) {
		abort();
	}
}

static int reset(int *fd, const char *name)
{
	if (*fd < 0 && (*fd = memfd_create(name, 0)) < 0)
		abort();
	if (ftruncate(*fd, 0) < 0 || lseek(*fd, 0, SEEK_SET) != 0)
		abort();
	return *fd;
}

static void cleanup(void)
{
	if (zip_path[0])
		unlink(zip_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int out = -1, sout = -1;
	struct ao_err err, serr;
	long long n = -1, sn = -1;

	if (!zip_path[0]) {
		snprintf(zip_path, sizeof(zip_path), "/tmp/angofs-fuzz-unzip-%d.zip",
			 (int)getpid());
		atexit(cleanup);
	}
	int fd = open(zip_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);

	/* streaming, as during the download */
	struct ao_unzip_stream *s = NULL;
	ao_err_clear(&serr);
	int src = ao_unzip_stream_start(&s, reset(&sout, "unzip-stream"), &serr);
	if (src == 0) {
		size_t chunk = size ? 1 + (size_t)data[0] * 37 : 1;
		for (size_t off = 0; off < size;) {
			size_t k = size - off < chunk ? size - off : chunk;
			if (ao_unzip_stream_feed(s, data + off, k) < 0)
				break;
			off += k;
		}
		src = ao_unzip_stream_finish(s, &sn, &serr);
		check_out(src, sout, sn, size, &serr);
		if (src == 0) {
			ao_err_clear(&serr);
			int v = ao_unzip_verify(zip_path, sn, &serr);
			if (v < 0 && (serr.code != -v || !serr.msg[0]))
				abort();
			if (v < 0)
				src = v;
		}
	}

	/* the whole file from disk (also the fallback) */
	ao_err_clear(&err);
	int rc = ao_unzip_first(zip_path, reset(&out, "unzip-out"), &n, &err);
	check_out(rc, out, n, size, &err);
	if (src == 0 && (rc != 0 || n != sn)) {
		fprintf(stderr, "stream+verify: %lld bytes; first: rc %d, %lld bytes (%s)\n", sn,
			rc, n, err.msg);
		abort();
	}
	return 0;
}
