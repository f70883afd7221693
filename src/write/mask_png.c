/*
 * mask_png.c - is a spooled tasks/<id>/mask.png a PNG every reader opens?
 * (writes_int.h, ws_mask_png_check; docs/WRITES.md, "mask.png").
 *
 * A mask replaces the task's current one, so a file that PIL or OpenCV
 * cannot open must never be sent: it is refused with EINVAL and the reason
 * before any request. Three steps, cheapest first, each with its own
 * message:
 *   1. the signature and an IHDR chunk first with a non-zero size;
 *   2. the chunk list: every chunk fits the file, IDAT before IEND (a copy
 *      cut short is named as such: "not a complete PNG ... truncated?");
 *   3. the whole image decoded by libpng, one row at a time (never the
 *      whole image in memory): every chunk's CRC checked (ancillary ones
 *      too, as PIL does), the zlib stream inflated to exactly the rows the
 *      header announces, IEND read. The decoded size is bounded before a
 *      row is inflated (MASK_MAX_DECODED; libpng's own limits bound the
 *      dimensions and ancillary chunks), so a small file that inflates to
 *      gigabytes is refused at once.
 * A decoder, not a hand-written inflater: libpng is what the hub side and
 * most readers use, and it is in scripts/install-deps.sh already.
 */
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writes_int.h"

/* At most 1 GiB of decoded pixels (a 16384 x 16384 RGBA mask) and sides of
 * at most 65535: far above an annotation mask, far below a bomb's aim. */
#define MASK_MAX_DECODED (1ULL << 30)
#define MASK_MAX_SIDE 65535u
#define MASK_MAX_CHUNK (8u << 20) /* ancillary chunks, decompressed */

/* 0 and the size, or -EINVAL with the reason in err. */
static int png_header(int fd, long *wd, long *ht, struct ao_err *err)
{
	unsigned char b[33];
	ssize_t n = pread(fd, b, sizeof(b), 0);

	if (n < 8 || memcmp(b, "\x89PNG\r\n\x1a\n", 8))
		return ao_errf(err, EINVAL,
			       "mask.png is not a PNG image (it does not start with the PNG "
			       "signature); write a PNG mask");
	if (n < 33 || memcmp(b + 8, "\0\0\0\x0dIHDR", 8))
		return ao_errf(err, EINVAL,
			       "mask.png is not a valid PNG: no IHDR chunk after the signature "
			       "(truncated or damaged file)");
	*wd = (long)b[16] << 24 | (long)b[17] << 16 | (long)b[18] << 8 | b[19];
	*ht = (long)b[20] << 24 | (long)b[21] << 16 | (long)b[22] << 8 | b[23];
	if (*wd <= 0 || *ht <= 0)
		return ao_errf(err, EINVAL, "mask.png: the PNG header gives a size of %ldx%ld", *wd,
			       *ht);
	return 0;
}

/* 0 when the chunks after the signature fit the file and end with IEND after
 * at least one IDAT (an interrupted copy would otherwise replace a good mask
 * with one no reader opens), else -EINVAL with the reason. 8 bytes read per
 * chunk. */
static int png_chunks(int fd, off_t size, struct ao_err *err)
{
	unsigned char h[8];
	off_t off = 8;
	int idat = 0, r = 1;

	while (r > 0) {
		uint32_t len;

		if (pread(fd, h, 8, off) != 8)
			return ao_errf(
			    err, EINVAL,
			    "mask.png is not a complete PNG: it ends at byte %lld without "
			    "its IEND chunk (truncated file?)",
			    (long long)size);
		len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		if (len > 0x7fffffffu || off + 12 + (off_t)len > size)
			return ao_errf(
			    err, EINVAL,
			    "mask.png is not a complete PNG: its %.4s chunk at byte %lld "
			    "needs %lu bytes but the file ends at byte %lld (truncated "
			    "file?)",
			    (const char *)h + 4, (long long)off, (unsigned long)len + 12,
			    (long long)size);
		if (!memcmp(h + 4, "IDAT", 4))
			idat = 1;
		if (!memcmp(h + 4, "IEND", 4))
			r = idat ? 0
				 : ao_errf(err, EINVAL,
					   "mask.png is not a complete PNG: no IDAT (image data) "
					   "chunk before IEND");
		off += 12 + (off_t)len;
	}
	return r;
}

struct decode {
	jmp_buf jb;
	char msg[200]; /* libpng's error message */
	FILE *f;
};

static void on_error(png_structp png, png_const_charp msg)
{
	struct decode *d = png_get_error_ptr(png);

	snprintf(d->msg, sizeof(d->msg), "%s", msg);
	longjmp(d->jb, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg; /* a warning does not stop readers */
}

/* Step 3: every row decoded, every CRC checked. 0 or -EINVAL/-ENOMEM. */
static int png_decode(int fd, struct ao_err *err)
{
	struct decode d = {.msg = ""};
	png_structp png = NULL;
	png_infop info = NULL;
	unsigned char *volatile row = NULL;
	volatile int rc = 0;
	int dfd = dup(fd);

	d.f = dfd >= 0 ? fdopen(dfd, "rb") : NULL;
	if (!d.f) {
		if (dfd >= 0)
			close(dfd);
		return ao_errf(err, ENOMEM, "mask.png: out of memory");
	}
	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, on_error, on_warning);
	info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		rc = ao_errf(err, ENOMEM, "mask.png: out of memory");
		goto out;
	}
	if (setjmp(d.jb)) {
		rc = ao_errf(err, EINVAL,
			     "mask.png is not a valid PNG: %s (a damaged file: PIL and OpenCV "
			     "would not open it)",
			     d.msg);
		goto out;
	}
	png_init_io(png, d.f);
	/* a bad CRC in any chunk stops the read, ancillary ones too (PIL) */
	png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
	png_set_user_limits(png, MASK_MAX_SIDE, MASK_MAX_SIDE);
	png_set_chunk_malloc_max(png, MASK_MAX_CHUNK);
	png_read_info(png, info);
	png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
	size_t rowbytes = png_get_rowbytes(png, info);
	if ((unsigned long long)rowbytes * h > MASK_MAX_DECODED) {
		rc = ao_errf(err, EINVAL,
			     "mask.png decodes to %llu bytes (%lux%lu, %zu bytes a row), more than "
			     "the %llu a mask may have",
			     (unsigned long long)rowbytes * h, (unsigned long)w, (unsigned long)h,
			     rowbytes, MASK_MAX_DECODED);
		goto out;
	}
	row = malloc(rowbytes ? rowbytes : 1);
	if (!row) {
		rc = ao_errf(err, ENOMEM, "mask.png: out of memory");
		goto out;
	}
	int passes = png_set_interlace_handling(png);
	for (int p = 0; p < passes; p++)
		for (png_uint_32 y = 0; y < h; y++)
			png_read_row(png, row, NULL);
	png_read_end(png, NULL); /* the chunks after the image, IEND */
out:
	png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
	free(row);
	fclose(d.f);
	return rc;
}

int ws_mask_png_check(const char *path, long *wd, long *ht, struct ao_err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0 || fstat(fd, &st) < 0) {
		r = ao_errf(err, errno, "spool: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	r = png_header(fd, wd, ht, err);
	if (r == 0)
		r = png_chunks(fd, st.st_size, err);
	if (r == 0)
		r = png_decode(fd, err);
	close(fd);
	return r;
}
