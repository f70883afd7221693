/*
 * Unit test of image size from PNG/JPEG/WebP/BMP/GIF/TIFF headers and the
 * JPEG EXIF orientation (src/datasets/ds_imghead.c).
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

/* Every shorter prefix of a header says "read more", never a wrong size. */
static void prefixes_read_more(const unsigned char *b, size_t need, struct ao_ds_imghead *hd)
{
	for (size_t n = 0; n < need; n++)
		CHECK_INT(ao_ds_image_head(b, n, hd), 0);
	CHECK_INT(ao_ds_image_head(b, need, hd), 1);
}

/* Issue 23: WebP, BMP, GIF and TIFF without metadata were left out of YOLO
 * and COCO (no_size). Headers laid out by hand from the specs. */
static void test_webp(void)
{
	struct ao_ds_imghead hd;
	/* RIFF <size> WEBP "VP8 " <chunk size>, frame tag (3), start code
	 * 9d 01 2a, width 0x0190 = 400 (14 bits, scale 0), height 0x00c8 = 200 */
	const unsigned char lossy[30] = {'R',  'I', 'F', 'F',  0x24, 0,	   0,	 0,    'W',  'E',
					 'B',  'P', 'V', 'P',  '8',  ' ',  0,	 0,    0,    0,
					 0x30, 1,   0,	 0x9d, 0x01, 0x2a, 0x90, 0x01, 0xc8, 0x00};
	prefixes_read_more(lossy, 30, &hd);
	CHECK(hd.width == 400 && hd.height == 200 && hd.fmt == AO_DS_IMG_WEBP);
	/* "VP8L": 0x2f, then width-1 = 399 in bits 0..13, height-1 = 199 in
	 * 14..27: 399 | 199 << 14 = 0x0031c18f */
	unsigned char lossless[30] = {'R',  'I',  'F',	'F',  0x24, 0,	 0, 0, 'W', 'E',
				      'B',  'P',  'V',	'P',  '8',  'L', 0, 0, 0,   0,
				      0x2f, 0x8f, 0xc1, 0x31, 0x00, 0,	 0, 0, 0,   0};
	CHECK_INT(ao_ds_image_head(lossless, 30, &hd), 1);
	CHECK(hd.width == 400 && hd.height == 200);
	lossless[20] = 0x2e; /* not the signature byte */
	CHECK_INT(ao_ds_image_head(lossless, 30, &hd), -EINVAL);
	/* "VP8X": flags, reserved, canvas width-1 (24 bits) 399, height-1 199 */
	const unsigned char ext[30] = {'R',  'I', 'F', 'F', 0x24, 0,	0,    0,    'W',  'E',
				       'B',  'P', 'V', 'P', '8',  'X',	10,   0,    0,	  0,
				       0x08, 0,	  0,   0,   0x8f, 0x01, 0x00, 0xc7, 0x00, 0x00};
	CHECK_INT(ao_ds_image_head(ext, 30, &hd), 1);
	CHECK(hd.width == 400 && hd.height == 200);
	/* another RIFF (a WAV) is not an image */
	CHECK_INT(ao_ds_image_head("RIFF\x24\0\0\0WAVEfmt ", 16, &hd), -EINVAL);
}

static void test_bmp(void)
{
	struct ao_ds_imghead hd;
	/* "BM", file size, reserved, pixel offset, BITMAPINFOHEADER (40):
	 * width 300 (0x12c), height -150 (top-down: 0xffffff6a) */
	const unsigned char bmp[26] = {'B', 'M', 0, 0, 0, 0,	0,    0, 0, 0,	  54,	0,    0,
				       0,   40,	 0, 0, 0, 0x2c, 0x01, 0, 0, 0x6a, 0xff, 0xff, 0xff};
	prefixes_read_more(bmp, 26, &hd);
	CHECK(hd.width == 300 && hd.height == 150 && hd.fmt == AO_DS_IMG_BMP);
	/* OS/2 BITMAPCOREHEADER (12): 16-bit sizes 64 x 32 */
	const unsigned char core[26] = {'B', 'M', 0, 0, 0, 0,  0, 0,  0, 0, 26, 0,  0,
					0,   12,  0, 0, 0, 64, 0, 32, 0, 1, 0,	24, 0};
	CHECK_INT(ao_ds_image_head(core, 26, &hd), 1);
	CHECK(hd.width == 64 && hd.height == 32);
	unsigned char bad[26];
	memcpy(bad, bmp, 26);
	bad[14] = 20; /* no such DIB header */
	CHECK_INT(ao_ds_image_head(bad, 26, &hd), -EINVAL);
}

static void test_gif_tiff(void)
{
	struct ao_ds_imghead hd;
	int w, h;
	enum ao_ds_imgfmt fmt = AO_DS_IMG_PNG;

	/* before: -EINVAL and unknown format */
	CHECK_INT(ao_ds_image_size("GIF89a\x10\x00\x20\x00", 10, &w, &h, &fmt), 1);
	CHECK(w == 16 && h == 32 && fmt == AO_DS_IMG_GIF);
	prefixes_read_more((const unsigned char *)"GIF87a\x10\x00\x20\x00", 10, &hd);
	/* little-endian TIFF: IFD at 8 with 3 entries: ImageWidth SHORT 500,
	 * ImageLength LONG 70000, Orientation SHORT 6 (not applied to TIFF) */
	const unsigned char tif[8 + 2 + 36 + 4] = {
	    'I',  'I',	42, 0, 8, 0, 0,	   0,	 3,    0,    0x00, 0x01,
	    3,	  0,	1,  0, 0, 0, 0xf4, 0x01, 0,    0,	      /* 256 SHORT 500 */
	    0x01, 0x01, 4,  0, 1, 0, 0,	   0,	 0x70, 0x11, 0x01, 0, /* 257 LONG 70000 */
	    0x12, 0x01, 3,  0, 1, 0, 0,	   0,	 6,    0,    0,	   0, /* 274 SHORT 6 */
	    0,	  0,	0,  0};
	prefixes_read_more(tif, 46, &hd);
	CHECK(hd.width == 500 && hd.height == 70000 && hd.fmt == AO_DS_IMG_TIFF);
	CHECK_INT(hd.orientation, 1);
	/* big-endian, IFD placed after the pixels (offset 0x100): "read more"
	 * until those bytes are given */
	unsigned char mm[0x100 + 2 + 24];
	memset(mm, 0, sizeof(mm));
	memcpy(mm, "MM\0*\0\0\x01\0", 8);
	const unsigned char ifd[] = {0, 2, 1, 0, 0, 3, 0, 0, 0, 1, 0, 7, 0,
				     0, 1, 1, 0, 4, 0, 0, 0, 1, 0, 0, 0, 9};
	memcpy(mm + 0x100, ifd, sizeof(ifd));
	CHECK_INT(ao_ds_image_head(mm, 0x100, &hd), 0);
	CHECK_INT(ao_ds_image_head(mm, sizeof(mm), &hd), 1);
	CHECK(hd.width == 7 && hd.height == 9);
	mm[4] = 0; /* IFD offset 0x00000100 -> 0x00000000: inside the header */
	mm[6] = 0;
	CHECK_INT(ao_ds_image_head(mm, sizeof(mm), &hd), -EINVAL);
}

/* A JPEG with an Exif APP1 whose IFD0 says Orientation 6 (rotate 90 CW):
 * stored 400 x 200, shown 200 x 400 (OpenCV's imread, PIL's
 * exif_transpose); orientation 3 (180) keeps the size. */
static void test_exif_orientation(void)
{
	unsigned char jpg[] = {
	    0xff, 0xd8,					 /* SOI */
	    0xff, 0xe1, 0x00, 0x22,			 /* APP1, 34 = 2 + 6 + 26 */
	    'E',  'x',	'i',  'f',  0,	  0,		 /* "Exif\0\0" */
	    'M',  'M',	0,    42,   0,	  0,	0,    8, /* big-endian TIFF, IFD0 at 8 */
	    0,	  1,					 /* one entry */
	    0x01, 0x12, 0,    3,    0,	  0,	0,    1,    0,	  6,	0,    0, /* 274 SHORT 6 */
	    0,	  0,	0,    0,						 /* no next IFD */
	    0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0xc8, 0x01, 0x90, 0x01, 0x01, 0x11, 0x00};
	struct ao_ds_imghead hd;
	int w, h;

	CHECK_INT(ao_ds_image_head(jpg, sizeof(jpg), &hd), 1);
	CHECK(hd.width == 400 && hd.height == 200 && hd.orientation == 6);
	ao_ds_image_shown(&hd, &w, &h);
	CHECK(w == 200 && h == 400);
	jpg[31] = 3;
	CHECK_INT(ao_ds_image_head(jpg, sizeof(jpg), &hd), 1);
	ao_ds_image_shown(&hd, &w, &h);
	CHECK(hd.orientation == 3 && w == 400 && h == 200);
	jpg[31] = 9; /* not an orientation: ignored */
	CHECK_INT(ao_ds_image_head(jpg, sizeof(jpg), &hd), 1);
	CHECK_INT(hd.orientation, 1);
	/* an APP1 cut short before IFD0 ends: size still found later */
	jpg[31] = 8;
	CHECK_INT(ao_ds_image_head(jpg, 20, &hd), 0);
}

static void test_other(void)
{
	int w, h;

	CHECK_INT(ao_ds_image_size("\x89PNx", 4, &w, &h, NULL), -EINVAL);
	CHECK_INT(ao_ds_image_size("", 0, &w, &h, NULL), 0);
	CHECK_INT(ao_ds_image_size("%PDF-1.4", 8, &w, &h, NULL), -EINVAL);
}

int main(void)
{
	test_png();
	test_jpeg();
	test_webp();
	test_bmp();
	test_gif_tiff();
	test_exif_orientation();
	test_other();
	return t_done("ds_imghead");
}
