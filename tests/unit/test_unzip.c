/* Unit test of export zip extraction (src/exports/unzip.c): zips are written with
 * libarchive's writer, then extracted, including hostile ones. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "angofs/unzip.h"
#include "t.h"

static char dir[] = "/tmp/angofs-unzip-XXXXXX";

/* Write a zip with members (name, data, len); data NULL = len zero bytes. */
static void make_zip(const char *path, int n, const char **names, const char **data,
		     const size_t *lens)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_open_filename(a, path);
	for (int i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_size(e, (la_int64_t)lens[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_write_header(a, e);
		if (data[i]) {
			archive_write_data(a, data[i], lens[i]);
		} else {
			static char zeros[65536];
			for (size_t left = lens[i]; left;) {
				size_t k = left < sizeof(zeros) ? left : sizeof(zeros);
				archive_write_data(a, zeros, k);
				left -= k;
			}
		}
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

static int extract(const char *zip, char *out, size_t outsz, long long *size, struct ao_err *e)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/out", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int rc = ao_unzip_first(zip, fd, size, e);
	if (out) {
		ssize_t n = pread(fd, out, outsz - 1, 0);
		out[n > 0 ? n : 0] = '\0';
	}
	close(fd);
	unlink(path);
	return rc;
}

int main(void)
{
	char zip[256], out[4096];
	struct ao_err e;
	long long size;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(zip, sizeof(zip), "%s/x.zip", dir);

	const char *n1[] = {"export.ndjson"}, *d1[] = {"{\"a\":1}\n{\"a\":2}\n"};
	size_t l1[] = {strlen(d1[0])};
	make_zip(zip, 1, n1, d1, l1);
	CHECK_INT(extract(zip, out, sizeof(out), &size, &e), 0);
	CHECK_STR(out, d1[0]);
	CHECK_INT(size, (long long)l1[0]);

	/* first regular member wins, like the SDK's namelist()[0] */
	const char *n2[] = {"a.json", "b.json"}, *d2[] = {"[1]", "[2]"};
	size_t l2[] = {3, 3};
	make_zip(zip, 2, n2, d2, l2);
	CHECK_INT(extract(zip, out, sizeof(out), &size, &e), 0);
	CHECK_STR(out, "[1]");

	/* path traversal and absolute names are refused */
	const char *n3[] = {"../../etc/passwd"};
	make_zip(zip, 1, n3, d1, l1);
	CHECK_INT(extract(zip, NULL, 0, &size, &e), -EIO);
	CHECK(strstr(e.msg, "unsafe name") != NULL);
	const char *n4[] = {"/abs.json"};
	make_zip(zip, 1, n4, d1, l1);
	CHECK_INT(extract(zip, NULL, 0, &size, &e), -EIO);

	/* 100 MiB of zeros in a ~100 KiB zip: refused as a bomb */
	const char *n5[] = {"zeros.json"}, *d5[] = {NULL};
	size_t l5[] = {100u << 20};
	make_zip(zip, 1, n5, d5, l5);
	CHECK_INT(extract(zip, NULL, 0, &size, &e), -EFBIG);

	/* an empty archive and a file that is not a zip */
	make_zip(zip, 0, NULL, NULL, NULL);
	CHECK(extract(zip, NULL, 0, &size, &e) < 0);
	int fd = open(zip, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "this is not a zip file at all, just text\n", 41) == 41);
	close(fd);
	CHECK_INT(extract(zip, NULL, 0, &size, &e), -EIO);

	/* truncated zip (download cut short) */
	make_zip(zip, 1, n1, d1, l1);
	CHECK(truncate(zip, 30) == 0);
	CHECK(extract(zip, NULL, 0, &size, &e) < 0);

	/* bytes flipped inside the compressed data (a corrupt download) */
	char *text = malloc(200000);
	size_t tl = 0;
	for (int i = 0; tl < 190000; i++)
		tl += (size_t)snprintf(text + tl, 200000 - tl, "{\"task\":%d,\"v\":\"%x\"}\n", i,
				       i * 2654435761u);
	const char *n6[] = {"big.ndjson"}, *d6[] = {text};
	size_t l6[] = {tl};
	make_zip(zip, 1, n6, d6, l6);
	CHECK_INT(extract(zip, NULL, 0, &size, &e), 0);
	CHECK_INT(size, (long long)tl);
	fd = open(zip, O_RDWR);
	off_t zsz = lseek(fd, 0, SEEK_END);
	char junk[64];
	CHECK(pread(fd, junk, sizeof(junk), zsz / 2) == (ssize_t)sizeof(junk));
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] ^= 0x5a;
	CHECK(pwrite(fd, junk, sizeof(junk), zsz / 2) == (ssize_t)sizeof(junk));
	close(fd);
	CHECK_INT(extract(zip, NULL, 0, &size, &e), -EIO);
	free(text);

	unlink(zip);
	rmdir(dir);
	return t_done("unzip");
}
