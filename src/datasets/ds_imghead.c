/*
 * ds_imghead.c - image width/height from the first bytes of a PNG or JPEG.
 *
 * Ango fills an asset's metadata (width, height) lazily, so an export can
 * lack it; YOLO needs it to normalize and COCO lists it. Reading the header
 * costs the first bytes of the asset only: PNG has the size in IHDR at a
 * fixed offset (bytes 16..23); JPEG has it in the first SOFn frame header,
 * after any APPn/COM/DQT/DHT segments, which are skipped by their lengths
 * (EXIF thumbnails can push SOF tens of kilobytes in: the caller reads more
 * when this says 0). No decoding, no library: libpng/libjpeg would need the
 * whole stream set up for two integers.
 */
#include <errno.h>
#include <string.h>

#include "angofs/datasets.h"

static unsigned be32(const unsigned char *p)
{
	return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static int png_size(const unsigned char *b, size_t len, int *w, int *h)
{
	if (len < 24)
		return 0;
	if (be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4) != 0)
		return -EINVAL; /* IHDR must be the first chunk */
	unsigned pw = be32(b + 16), ph = be32(b + 20);
	/* PNG limits dimensions to 2^31-1; 0 is invalid */
	if (pw == 0 || ph == 0 || pw > 0x7fffffffu || ph > 0x7fffffffu)
		return -EINVAL;
	*w = (int)pw;
	*h = (int)ph;
	return 1;
}

/* SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
static int is_sof(unsigned m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

static int jpeg_size(const unsigned char *b, size_t len, int *w, int *h)
{
	size_t p = 2;

	for (;;) {
		if (p >= len)
			return 0;
		if (b[p] != 0xff)
			return -EINVAL;		/* not at a marker: corrupt */
		while (p < len && b[p] == 0xff) /* fill bytes */
			p++;
		if (p >= len)
			return 0;
		unsigned m = b[p++];
		if (m == 0xd8 || (m >= 0xd0 && m <= 0xd7) || m == 0x01)
			continue; /* markers without a length */
		if (m == 0xd9 || m == 0xda)
			return -EINVAL; /* end of image / scan data before any SOF */
		if (p + 2 > len)
			return 0;
		unsigned seglen = be16(b + p);
		if (seglen < 2)
			return -EINVAL;
		if (is_sof(m)) {
			/* length(2) precision(1) height(2) width(2) */
			if (p + 7 > len)
				return 0;
			unsigned jh = be16(b + p + 3), jw = be16(b + p + 5);
			if (jw == 0 || jh == 0)
				return -EINVAL; /* height 0 (DNL) is not supported */
			*w = (int)jw;
			*h = (int)jh;
			return 1;
		}
		p += seglen;
	}
}

int ao_ds_image_size(const void *buf, size_t len, int *w, int *h, enum ao_ds_imgfmt *fmt)
{
	static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	const unsigned char *b = buf;

	if (fmt)
		*fmt = AO_DS_IMG_UNKNOWN;
	if (len >= 8 && memcmp(b, png_sig, 8) == 0) {
		if (fmt)
			*fmt = AO_DS_IMG_PNG;
		return png_size(b, len, w, h);
	}
	if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
		if (fmt)
			*fmt = AO_DS_IMG_JPEG;
		return jpeg_size(b, len, w, h);
	}
	static const unsigned char jpg_sig[3] = {0xff, 0xd8, 0xff};
	if (len < 8 && memcmp(b, png_sig, len) == 0)
		return 0; /* a PNG signature cut short: read more */
	if (len < 3 && memcmp(b, jpg_sig, len) == 0)
		return 0;
	return -EINVAL;
}
