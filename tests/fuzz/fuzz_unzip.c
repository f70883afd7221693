/*
 * fuzz_unzip.c - libFuzzer harness for export zip extraction (src/unzip.c).
 *
 * The input is the zip the hub (or an attacker controlling exportPath) sends.
 * It is written to a temp file, as the export cache does, and extracted into a
 * memfd. Invariants checked: success reports exactly the bytes written, a
 * failure carries its errno and a message, and the output never exceeds the
 * zip-bomb bounds of unzip.h. The fuzzer's -rss_limit_mb catches unbounded
 * memory use.
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

static void cleanup(void)
{
	if (zip_path[0])
		unlink(zip_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int out = -1;
	struct ao_err err;
	long long n = -1;
	struct stat st;

	if (!zip_path[0]) {
		snprintf(zip_path, sizeof(zip_path), "/tmp/angofs-fuzz-unzip-%d.zip", (int)getpid());
		atexit(cleanup);
	}
	int fd = open(zip_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (out < 0 && (out = memfd_create("unzip-out", 0)) < 0)
		abort();
	if (ftruncate(out, 0) < 0 || lseek(out, 0, SEEK_SET) != 0)
		abort();

	ao_err_clear(&err);
	int rc = ao_unzip_first(zip_path, out, &n, &err);
	if (fstat(out, &st) < 0)
		abort();
	if (rc == 0) {
		if (n != st.st_size)
			abort();
		long long floor = AO_UNZIP_RATIO_FLOOR;
		if (n > floor && n > AO_UNZIP_MAX_RATIO * (long long)size)
			abort();
	} else if (rc > 0 || err.code != -rc || !err.msg[0]) {
		abort();
	}
	return 0;
}
