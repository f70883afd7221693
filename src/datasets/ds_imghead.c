/*
 * ds_imghead.c - an image's width, height and EXIF orientation from its
 * first bytes: PNG, JPEG, WebP, BMP, GIF, TIFF (docs/DATASETS.md, "Image
 * size").
 *
 * Ango fills an asset's metadata (width, height) lazily, so an export can
 * lack it; YOLO needs it to normalize, COCO lists it, and a mask must have
 * it. Every one of these formats keeps its size in a header at a known
 * place, so reading it costs the first bytes of the asset only, and no
 * decoder: PNG in IHDR (bytes 16..23); JPEG in the first SOFn frame header,
 * after APPn/COM/DQT/DHT segments skipped by their lengths (an EXIF
 * thumbnail can push it tens of kilobytes in: the caller reads more when
 * this says 0); WebP in its VP8/VP8L/VP8X chunk (RFC 9649); BMP in the DIB
 * header (a negative height is a top-down bitmap); GIF in the logical
 * screen descriptor; TIFF in the first IFD's ImageWidth/ImageLength tags
 * (wherever the header points it: 0 while it lies beyond the bytes given).
 * libpng/libjpeg/libwebp would each need a whole stream set up for two
 * integers, and libtiff a seekable file.
 *
 * Orientation: the EXIF Orientation tag (274) of a JPEG's APP1 "Exif"
 * segment. OpenCV's imread (what Ultralytics trains on) and PIL's
 * exif_transpose turn the picture by it, as browsers do for the annotator,
 * so values 5..8 swap width and height as the loaders see them
 * (ao_ds_image_shown). It is read for JPEG only: Ultralytics' exif_size
 * applies it to JPEG only, and for the other formats the loaders disagree.
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

static unsigned le16(const unsigned char *p)
{
	return (unsigned)p[1] << 8 | p[0];
}

static unsigned le32(const unsigned char *p)
{
	return (unsigned)p[3] << 24 | (unsigned)p[2] << 16 | (unsigned)p[1] << 8 | p[0];
}

static unsigned le24(const unsigned char *p)
{
	return (unsigned)p[2] << 16 | (unsigned)p[1] << 8 | p[0];
}

/* 1 with the size set when both are in 1..2^31-1, else -EINVAL. */
static int set_size(struct ao_ds_imghead *h, unsigned long w, unsigned long ht)
{
	if (w == 0 || ht == 0 || w > 0x7fffffffUL || ht > 0x7fffffffUL)
		return -EINVAL;
	h->width = (int)w;
	h->height = (int)ht;
	return 1;
}

static int png_size(const unsigned char *b, size_t len, struct ao_ds_imghead *h)
{
	if (len < 24)
		return 0;
	if (be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4) != 0)
		return -EINVAL; /* IHDR must be the first chunk */
	return set_size(h, be32(b + 16), be32(b + 20));
}

/* ---- TIFF structure (a TIFF file, or the body of a JPEG's EXIF) ---------- */

struct tiff {
	const unsigned char *b; /* the TIFF header's first byte */
	size_t len;		/* bytes available from b */
	int le;			/* "II": little endian */
};

static unsigned t16(const struct tiff *t, size_t off)
{
	return t->le ? le16(t->b + off) : be16(t->b + off);
}

static unsigned t32(const struct tiff *t, size_t off)
{
	return t->le ? le32(t->b + off) : be32(t->b + off);
}

/* Value of a SHORT or LONG entry with one value (the value field). */
static int t_value(const struct tiff *t, size_t e, unsigned long *v)
{
	unsigned type = t16(t, e + 2);

	if (t32(t, e + 4) != 1)
		return -1;
	if (type == 3) /* SHORT: the first two bytes of the field */
		*v = t16(t, e + 8);
	else if (type == 4) /* LONG */
		*v = t32(t, e + 8);
	else
		return -1;
	return 0;
}

/* The first IFD's width, height (when want_size) and orientation. 1 found
 * (the size, or for EXIF the IFD), 0 the IFD lies beyond len, -EINVAL. */
static int tiff_ifd0(const struct tiff *t, int want_size, struct ao_ds_imghead *h)
{
	unsigned long w = 0, ht = 0, v;

	if (t->len < 8)
		return 0;
	if (!((t->le && !memcmp(t->b, "II*\0", 4)) || (!t->le && !memcmp(t->b, "MM\0*", 4))))
		return -EINVAL;
	size_t ifd = t32(t, 4);
	if (ifd < 8)
		return -EINVAL;
	if (ifd + 2 > t->len)
		return 0;
	size_t n = t16(t, ifd);
	if (ifd + 2 + 12 * n > t->len)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t e = ifd + 2 + 12 * i;
		unsigned tag = t16(t, e);
		if ((tag == 256 || tag == 257 || tag == 274) && t_value(t, e, &v) == 0) {
			if (tag == 256)
				w = v;
			else if (tag == 257)
				ht = v;
			else if (v >= 1 && v <= 8)
				h->orientation = (int)v;
		}
	}
	return want_size ? set_size(h, w, ht) : 1;
}

static int tiff_size(const unsigned char *b, size_t len, struct ao_ds_imghead *h)
{
	struct tiff t = {b, len, b[0] == 'I'};
	int rc = tiff_ifd0(&t, 1, h);

	h->orientation = 1; /* not applied to TIFF (see the head comment) */
	return rc;
}

/* ---- JPEG ------------------------------------------------------------------ */

/* SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
static int is_sof(unsigned m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/* The orientation in an APP1 segment's bytes (seg, avail of them): set when
 * it is an Exif segment whose IFD0 is within them. */
static void jpeg_exif(const unsigned char *seg, size_t avail, struct ao_ds_imghead *h)
{
	if (avail < 6 + 8 || memcmp(seg, "Exif\0\0", 6) != 0)
		return;
	struct tiff t = {seg + 6, avail - 6, seg[6] == 'I'};
	struct ao_ds_imghead e = {.orientation = 1};
	if (tiff_ifd0(&t, 0, &e) == 1)
		h->orientation = e.orientation;
}

static int jpeg_size(const unsigned char *b, size_t len, struct ao_ds_imghead *h)
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
		if (m == 0xe1) { /* APP1: Exif (its orientation) or XMP */
			size_t end = p + seglen < len ? p + seglen : len;
			jpeg_exif(b + p + 2, end - (p + 2), h);
		}
		if (is_sof(m)) {
			/* length(2) precision(1) height(2) width(2) */
			if (p + 7 > len)
				return 0;
			/* height 0 (DNL) is not supported */
			return set_size(h, be16(b + p + 5), be16(b + p + 3));
		}
		p += seglen;
	}
}

/* ---- WebP, BMP, GIF -------------------------------------------------------- */

static int webp_size(const unsigned char *b, size_t len, struct ao_ds_imghead *h)
{
	if (len < 30)
		return 0;
	if (!memcmp(b + 12, "VP8 ", 4)) { /* lossy: frame tag, start code 9d 01 2a */
		if (b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a)
			return -EINVAL;
		return set_size(h, le16(b + 26) & 0x3fff, le16(b + 28) & 0x3fff);
	}
	if (!memcmp(b + 12, "VP8L", 4)) { /* lossless: 0x2f, 14-bit sizes - 1 */
		if (b[20] != 0x2f)
			return -EINVAL;
		unsigned long v = le32(b + 21);
		return set_size(h, (v & 0x3fff) + 1, ((v >> 14) & 0x3fff) + 1);
	}
	if (!memcmp(b + 12, "VP8X", 4)) /* extended: the canvas, 24-bit sizes - 1 */
		return set_size(h, le24(b + 24) + 1UL, le24(b + 27) + 1UL);
	return -EINVAL;
}

static int bmp_size(const unsigned char *b, size_t len, struct ao_ds_imghead *h)
{
	if (len < 26)
		return 0;
	unsigned dib = le32(b + 14);
	if (dib == 12) /* BITMAPCOREHEADER: 16-bit sizes */
		return set_size(h, le16(b + 18), le16(b + 20));
	if (dib < 40)
		return -EINVAL;
	int w = (int)le32(b + 18), ht = (int)le32(b + 22);
	if (w <= 0 || ht == (int)0x80000000)
		return -EINVAL;
	return set_size(h, (unsigned long)w, ht < 0 ? (unsigned long)-(long)ht : (unsigned long)ht);
}

static int gif_size(const unsigned char *b, size_t len, struct ao_ds_imghead *h)
{
	if (len < 10)
		return 0;
	return set_size(h, le16(b + 6), le16(b + 8)); /* the logical screen */
}

/* ---- dispatch -------------------------------------------------------------- */

static const struct {
	const char *sig;
	size_t off, len;
	enum ao_ds_imgfmt fmt;
} sigs[] = {
    {"\x89PNG\r\n\x1a\n", 0, 8, AO_DS_IMG_PNG},
    {"\xff\xd8\xff", 0, 3, AO_DS_IMG_JPEG},
    {"RIFF", 0, 4, AO_DS_IMG_WEBP}, /* + "WEBP" at 8 */
    {"GIF87a", 0, 6, AO_DS_IMG_GIF},
    {"GIF89a", 0, 6, AO_DS_IMG_GIF},
    {"II*\0", 0, 4, AO_DS_IMG_TIFF},
    {"MM\0*", 0, 4, AO_DS_IMG_TIFF},
    {"BM", 0, 2, AO_DS_IMG_BMP},
};

int ao_ds_image_head(const void *buf, size_t len, struct ao_ds_imghead *h)
{
	const unsigned char *b = buf;
	int prefix = 0;

	memset(h, 0, sizeof(*h));
	h->orientation = 1;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(*sigs); i++) {
		size_t n = sigs[i].len;
		if (len < n) { /* a signature cut short: read more */
			prefix |= memcmp(b, sigs[i].sig, len) == 0;
			continue;
		}
		if (memcmp(b, sigs[i].sig, n) != 0)
			continue;
		if (sigs[i].fmt == AO_DS_IMG_WEBP) {
			if (len < 12)
				return 0;
			if (memcmp(b + 8, "WEBP", 4) != 0)
				continue; /* another RIFF (WAV, AVI) */
		}
		h->fmt = sigs[i].fmt;
		switch (h->fmt) {
		case AO_DS_IMG_PNG:
			return png_size(b, len, h);
		case AO_DS_IMG_JPEG:
			return jpeg_size(b, len, h);
		case AO_DS_IMG_WEBP:
			return webp_size(b, len, h);
		case AO_DS_IMG_GIF:
			return gif_size(b, len, h);
		case AO_DS_IMG_TIFF:
			return tiff_size(b, len, h);
		default:
			return bmp_size(b, len, h);
		}
	}
	return prefix ? 0 : -EINVAL;
}

void ao_ds_image_shown(const struct ao_ds_imghead *h, int *w, int *ht)
{
	int swap = h->fmt == AO_DS_IMG_JPEG && h->orientation >= 5 && h->orientation <= 8;

	*w = swap ? h->height : h->width;
	*ht = swap ? h->width : h->height;
}

int ao_ds_image_size(const void *buf, size_t len, int *w, int *h, enum ao_ds_imgfmt *fmt)
{
	struct ao_ds_imghead hd;
	int rc = ao_ds_image_head(buf, len, &hd);

	if (fmt)
		*fmt = hd.fmt;
	if (rc == 1) {
		*w = hd.width;
		*h = hd.height;
	}
	return rc;
}
