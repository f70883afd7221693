/*
 * unzip.c - first-member zip extraction with libarchive (see
 * include/angofs/unzip.h). The member's name is only checked, never used as
 * a path: the caller chooses where the bytes go.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "angofs/unzip.h"

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

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int ao_unzip_first(const char *zip_path, int out_fd, long long *size, struct ao_err *err)
{
	struct archive *a;
	struct archive_entry *ent;
	struct stat st;
	long long written = 0, limit;
	int rc = 0, r;

	*size = 0;
	if (stat(zip_path, &st) < 0)
		return ao_errf(err, errno, "export zip: %s", strerror(errno));
	limit = (long long)st.st_size * AO_UNZIP_MAX_RATIO;
	if (limit < AO_UNZIP_RATIO_FLOOR)
		limit = AO_UNZIP_RATIO_FLOOR;
	if (limit > AO_UNZIP_MAX_SIZE)
		limit = AO_UNZIP_MAX_SIZE;

	a = archive_read_new();
	if (!a)
		return ao_errf(err, ENOMEM, "out of memory");
	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, zip_path, 1 << 16) != ARCHIVE_OK) {
		rc = ao_errf(err, EIO, "export download is not a readable zip: %s",
			     archive_error_string(a));
		goto out;
	}
	for (;;) {
		r = archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF) {
			rc = ao_errf(err, EIO, "export zip holds no file");
			goto out;
		}
		if (r < ARCHIVE_WARN) {
			rc =
			    ao_errf(err, EIO, "export zip is corrupt: %s", archive_error_string(a));
			goto out;
		}
		if (archive_entry_filetype(ent) == AE_IFREG)
			break;
	}
	if (!name_is_safe(archive_entry_pathname(ent))) {
		rc = ao_errf(err, EIO, "export zip member has an unsafe name '%s'",
			     archive_entry_pathname(ent) ? archive_entry_pathname(ent) : "");
		goto out;
	}
	if (archive_entry_size_is_set(ent) && archive_entry_size(ent) > limit) {
		rc = ao_errf(err, EFBIG,
			     "export zip member claims %lld bytes from a %lld-byte zip: refused",
			     (long long)archive_entry_size(ent), (long long)st.st_size);
		goto out;
	}
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;

		r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		/* the zip reader reports a CRC mismatch as a warning: corrupt */
		if (r < ARCHIVE_OK) {
			rc =
			    ao_errf(err, EIO, "export zip is corrupt: %s", archive_error_string(a));
			goto out;
		}
		if (off != written) {
			/* sparse hole: zip members are not sparse, treat as corrupt */
			rc = ao_errf(err, EIO, "export zip is corrupt: unexpected data offset");
			goto out;
		}
		if (written + (long long)len > limit) {
			rc = ao_errf(err, EFBIG,
				     "export zip expands beyond %lld bytes (from %lld): refused as "
				     "a zip bomb",
				     limit, (long long)st.st_size);
			goto out;
		}
		int w = write_all(out_fd, buf, len);
		if (w < 0) {
			rc = ao_errf(err, -w, "writing the export to the cache: %s", strerror(-w));
			goto out;
		}
		written += (long long)len;
	}
	if (archive_entry_size_is_set(ent) && archive_entry_size(ent) != written) {
		rc = ao_errf(err, EIO, "export zip is corrupt: member holds %lld of %lld bytes",
			     written, (long long)archive_entry_size(ent));
		goto out;
	}
	*size = written;
out:
	archive_read_free(a);
	return rc;
}
