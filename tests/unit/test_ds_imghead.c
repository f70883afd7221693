/*
 * Unit test of image size from PNG/JPEG headers (src/datasets/ds_imghead.c).
 * The byte strings are laid out by hand following the PNG spec (signature,
 * IHDR first) and JPEG (SOI, segments with big-endian lengths that count
 * themselves, SOFn = length, precision, height, width).
 */
#include <errno.h>
#include <string.h>

#include "angofs/datasets.h"
#include "t.h"

static void test_png(void)
{
	/* 8-byte signature, IHDR length 13, "IHDR", width 640 (0x280), height
	 * 480 (0x1e0), then depth/colour/... bytes */
	const unsigned char png[] = {0x89, 'P', 'N',  'G',  '\r', '\n', 0x1a, '\n', 0,	  0,
				     0,	   13,	'I',  'H',  'D',  'R',	0,    0,    0x02, 0x80,
				     0,	   0,	0x01, 0xe0, 8,	  2,	0,    0,    0};
	int w = 0, h = 0;
	enum ao_ds_imgfmt fmt;

	CHECK_INT(ao_ds_image_size(png, sizeof(png), &w, &h, &fmt), 1);
	CHECK_INT(w, 640);
	CHECK_INT(h, 480);
	CHECK_INT(fmt, AO_DS_IMG_PNG);
	/* every shorter prefix: "read more", never a wrong size */
	for (size_t n = 0; n < 24; n++)
		CHECK_INT(ao_ds_image_size(png, n, &w, &h, NULL), 0);
	/* first chunk not IHDR */
	unsigned char bad[sizeof(png)];
	memcpy(bad, png, sizeof(png));
	memcpy(bad + 12, "IDAT", 4);
	CHECK_INT(ao_ds_image_size(bad, sizeof(bad), &w, &h, NULL), -EINVAL);
	/* zero width */
	memcpy(bad, png, sizeof(png));
	memset(bad + 16, 0, 4);
	CHECK_INT(ao_ds_image_size(bad, sizeof(bad), &w, &h, NULL), -EINVAL);
	/* width 0x80000000 is beyond PNG's limit */
	memcpy(bad, png, sizeof(png));
	bad[16] = 0x80;
	CHECK_INT(ao_ds_image_size(bad, sizeof(bad), &w, &h, NULL), -EINVAL);
}

static void test_jpeg(void)
{
	/* SOI; APP0 JFIF (length 16 = 2 + 14 bytes); APP1 of length 8;
	 * DHT (C4, not a SOF) of length 4; two fill bytes; SOF2 (progressive)
	 * length 17: precision 8, height 0x0438 = 1080, width 0x0780 = 1920 */
	const unsigned char jpg[] = {
	    0xff, 0xd8, /* SOI */
	    0xff, 0xe0, 0x00, 0x10, 'J',  'F',	'I',  'F',  0,	  1,
	    1,	  0,	0,    1,    0,	  1,	0,    0,	     /* APP0 */
	    0xff, 0xe1, 0x00, 0x08, 'E',  'x',	'i',  'f',  0,	  0, /* APP1 */
	    0xff, 0xc4, 0x00, 0x04, 0x00, 0x00,			     /* DHT */
	    0xff, 0xff,						     /* fill */
	    0xff, 0xc2, 0x00, 0x11, 0x08, 0x04, 0x38, 0x07, 0x80, 0x03,
	    0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, /* SOF2 */
	    0xff, 0xda};
	int w = 0, h = 0;
	enum ao_ds_imgfmt fmt;

	CHECK_INT(ao_ds_image_size(jpg, sizeof(jpg), &w, &h, &fmt), 1);
	CHECK_INT(w, 1920);
	CHECK_INT(h, 1080);
	CHECK_INT(fmt, AO_DS_IMG_JPEG);
	/* SOF2 starts at 2+18+10+6+2 = 38; width ends at 38+9 = 47 */
	for (size_t n = 0; n < 47; n++)
		CHECK_INT(ao_ds_image_size(jpg, n, &w, &h, NULL), 0);
	CHECK_INT(ao_ds_image_size(jpg, 47, &w, &h, NULL), 1);

	/* scan data (SOS) before any SOF: corrupt */
	const unsigned char nosof[] = {0xff, 0xd8, 0xff, 0xda, 0x00, 0x02};
	CHECK_INT(ao_ds_image_size(nosof, sizeof(nosof), &w, &h, NULL), -EINVAL);
	/* garbage where a marker should be */
	const unsigned char junk[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0, 0, 0x12, 0x34};
	CHECK_INT(ao_ds_image_size(junk, sizeof(junk), &w, &h, NULL), -EINVAL);
	/* baseline SOF0 right after SOI, 1x1 */
	const unsigned char tiny[] = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00,
				      0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00};
	CHECK_INT(ao_ds_image_size(tiny, sizeof(tiny), &w, &h, NULL), 1);
	CHECK_INT(w, 1);
	CHECK_INT(h, 1);
}

static void test_other(void)
{
	int w, h;
	enum ao_ds_imgfmt fmt = AO_DS_IMG_PNG;

	CHECK_INT(ao_ds_image_size("GIF89a\x10\x00\x10\x00", 10, &w, &h, &fmt), -EINVAL);
	CHECK_INT(fmt, AO_DS_IMG_UNKNOWN);
	CHECK_INT(ao_ds_image_size("\x89PNx", 4, &w, &h, NULL), -EINVAL);
	CHECK_INT(ao_ds_image_size("", 0, &w, &h, NULL), 0);
}

int main(void)
{
	test_png();
	test_jpeg();
	test_other();
	return t_done("ds_imghead");
}
