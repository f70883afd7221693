/*
 * hostile_zip.c - hostile variants of an export zip, for the "zip" download
 * fault (POST /_admin/faults {"route": "GET /download", "zip": KIND}).
 *
 * Design: the variant is written with libarchive into an unlinked temporary
 * file next to the exports (so MHD can serve it from a file descriptor like a
 * real export) and built from the real export's first member, so a client
 * that handles the variant correctly still sees the true records:
 *   traversal  one member named "../../../angofs-escape/<member>"
 *   absolute   one member named "/tmp/angofs-escape-<member>"
 *   multi      the real member first, then "README.txt" and "extra/second.json"
 *   dironly    a directory entry first, then the real member
 *   empty      a zip with no member at all
 *   bomb       one member of 96 MiB of zeros (deflate: ~100 KiB on the wire,
 *              a ratio near 1000), named like the real member
 * Kinds are checked by hostile_zip_kind() when the fault is added.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "hubd.h"

#define BOMB_BYTES (96LL << 20)

static const char *const kinds[] = {NULL,      "traversal", "absolute", "multi",
				    "dironly", "empty",	    "bomb",	NULL};

int hostile_zip_kind(const char *name)
{
	for (int i = 1; kinds[i]; i++)
		if (!strcmp(kinds[i], name))
			return i;
	return 0;
}

static int add_member(struct archive *w, const char *name, const void *buf, size_t len,
		      long long repeat_zeros)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, repeat_zeros ? repeat_zeros : (la_int64_t)len);
	if (archive_write_header(w, e) != ARCHIVE_OK) {
		rc = -EIO;
	} else if (repeat_zeros) {
		static char zeros[1 << 16];
		for (long long done = 0; done < repeat_zeros && !rc;
		     done += (long long)sizeof(zeros))
			if (archive_write_data(w, zeros, sizeof(zeros)) < 0)
				rc = -EIO;
	} else if (len && archive_write_data(w, buf, len) < 0) {
		rc = -EIO;
	}
	archive_entry_free(e);
	return rc;
}

static int add_dir(struct archive *w, const char *name)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	if (archive_write_header(w, e) != ARCHIVE_OK)
		rc = -EIO;
	archive_entry_free(e);
	return rc;
}

/* Read the first regular member of the zip at path into memory (exports of
 * the demo seed are small; the fault is a test tool). */
static int first_member(const char *path, char **name, char **buf, size_t *len)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t cap = 0;
	int rc = -EIO;

	*name = *buf = NULL;
	*len = 0;
	if (!a)
		return -ENOMEM;
	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
		goto out;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		*name = strdup(archive_entry_pathname(e) ? archive_entry_pathname(e) : "export");
		for (;;) {
			char tmp[1 << 16];
			la_ssize_t n = archive_read_data(a, tmp, sizeof(tmp));
			if (n < 0)
				goto out;
			if (n == 0)
				break;
			if (*len + (size_t)n > cap) {
				char *nb = realloc(*buf, cap = (*len + (size_t)n) * 2);
				if (!nb)
					goto out;
				*buf = nb;
			}
			memcpy(*buf + *len, tmp, (size_t)n);
			*len += (size_t)n;
		}
		rc = *name ? 0 : -ENOMEM;
		break;
	}
out:
	archive_read_free(a);
	return rc;
}

int hostile_zip_open(int kind, const char *export_path)
{
	char tmpl[4200], member[600];
	char *name = NULL, *buf = NULL;
	size_t len = 0;
	struct archive *w = NULL;
	int fd = -1, rc;

	if (first_member(export_path, &name, &buf, &len) < 0)
		goto fail;
	snprintf(tmpl, sizeof(tmpl), "%s/hostile-XXXXXX", g_exports_dir);
	fd = mkstemp(tmpl);
	if (fd < 0)
		goto fail;
	unlink(tmpl);
	w = archive_write_new();
	if (!w || archive_write_set_format_zip(w) != ARCHIVE_OK ||
	    archive_write_open_fd(w, fd) != ARCHIVE_OK)
		goto fail;
	switch (kind) {
	case 1:
		snprintf(member, sizeof(member), "../../../angofs-escape/%s", name);
		rc = add_member(w, member, buf, len, 0);
		break;
	case 2:
		snprintf(member, sizeof(member), "/tmp/angofs-escape-%s", name);
		rc = add_member(w, member, buf, len, 0);
		break;
	case 3:
		rc = add_member(w, name, buf, len, 0);
		if (!rc)
			rc = add_member(w, "README.txt", "not the export\n", 15, 0);
		if (!rc)
			rc = add_member(w, "extra/second.json", "[]\n", 3, 0);
		break;
	case 4:
		rc = add_dir(w, "export/");
		if (!rc)
			rc = add_member(w, name, buf, len, 0);
		break;
	case 5:
		rc = 0;
		break;
	case 6:
		rc = add_member(w, name, NULL, 0, BOMB_BYTES);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0 || archive_write_close(w) != ARCHIVE_OK)
		goto fail;
	archive_write_free(w);
	free(name);
	free(buf);
	if (lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
fail:
	if (w)
		archive_write_free(w);
	if (fd >= 0)
		close(fd);
	free(name);
	free(buf);
	return -1;
}
