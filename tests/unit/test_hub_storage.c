/* Unit test of angofs-hub's storage helpers: object keys, URL signatures and
 * the PNG drawing/encoding (decoded back with libpng, pixel by pixel). */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "hubd.h"
#include "t.h"

static void test_keys(void)
{
	char key[256];

	CHECK(storage_key_ok("brushes/0123456789abcdef01234567/m.png"));
	CHECK(storage_key_ok("assets/0123456789abcdef01234567/a_b-c.1.jpg"));
	CHECK(!storage_key_ok("brush/0123456789abcdef01234567/m.png")); /* unknown type */
	CHECK(!storage_key_ok("brushes/xyz/m.png"));			/* not a project id */
	CHECK(!storage_key_ok("brushes/0123456789abcdef01234567/../x"));
	CHECK(!storage_key_ok("brushes/0123456789abcdef01234567/.hidden"));
	CHECK(!storage_key_ok("brushes/0123456789abcdef01234567/a/b"));
	CHECK(!storage_key_ok("brushes/0123456789abcdef01234567/"));
	strcpy(g_base_url, "http://127.0.0.1:5000");
	CHECK_INT(storage_key_of_url("http://127.0.0.1:5000/storage/brushes/"
				     "0123456789abcdef01234567/m.png?Expires=1&Signature=x",
				     key, sizeof(key)),
		  1);
	CHECK_STR(key, "brushes/0123456789abcdef01234567/m.png");
	CHECK_INT(storage_key_of_url("https://elsewhere/storage/brushes/x", key, sizeof(key)), 0);
	CHECK(storage_key_of_url("http://127.0.0.1:5000/storage/nope", key, sizeof(key)) < 0);
}

static void test_signatures(void)
{
	char a[65], b[65], c[65], d[65];
	const char *k = "brushes/0123456789abcdef01234567/m.png";

	storage_sign("GET", k, 1000, a);
	storage_sign("GET", k, 1000, b);
	storage_sign("PUT", k, 1000, c);
	storage_sign("GET", k, 1001, d);
	CHECK_INT((long long)strlen(a), 64);
	CHECK_STR(a, b);
	CHECK(strcmp(a, c) != 0); /* bound to the method */
	CHECK(strcmp(a, d) != 0); /* and to the expiry */
}

struct rd {
	const unsigned char *p;
	size_t len, off;
};

static void rd_fn(png_structp png, png_bytep out, png_size_t n)
{
	struct rd *r = png_get_io_ptr(png);

	if (r->off + n > r->len)
		png_error(png, "short read");
	memcpy(out, r->p + r->off, n);
	r->off += n;
}

/* Decode to RGBA with libpng; 0 on success. */
static int decode(const void *data, size_t len, int *w, int *h, unsigned char **px)
{
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	struct rd r = {data, len, 0};

	*px = NULL;
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		free(*px);
		return -1;
	}
	png_set_read_fn(png, &r, rd_fn);
	png_read_info(png, info);
	png_set_expand(png); /* palette + tRNS -> RGBA */
	png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
	png_read_update_info(png, info);
	*w = (int)png_get_image_width(png, info);
	*h = (int)png_get_image_height(png, info);
	*px = malloc((size_t)*w * (size_t)*h * 4);
	for (int y = 0; y < *h; y++)
		png_read_row(png, *px + (size_t)y * (size_t)*w * 4, NULL);
	png_read_end(png, NULL);
	png_destroy_read_struct(&png, &info, NULL);
	return 0;
}

static uint32_t at(const unsigned char *px, int w, int x, int y)
{
	const unsigned char *p = px + 4 * ((size_t)y * (size_t)w + (size_t)x);

	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_png(void)
{
	struct img *im = img_new(200, 100, 0x00000000);
	json_t *ans = json_loads("{\"tools\":[{\"schemaId\":\"A\",\"bounding-box\":{\"x\":150,"
				 "\"y\":60,\"width\":-40,\"height\":-20}},{\"schemaId\":\"B\","
				 "\"polygon\":[[10,10],[50,10],[10,50]]}]}",
				 0, NULL);
	unsigned char *px = NULL;
	size_t len = 0;
	void *png;
	int w = 0, h = 0;

	img_draw_answer(im, ans);
	png = img_png(im, &len);
	CHECK(png && len > 8);
	CHECK_INT(decode(png, len, &w, &h, &px), 0);
	CHECK_INT(w, 200);
	CHECK_INT(h, 100);
	if (px) {
		CHECK(at(px, w, 130, 50) ==
		      img_class_color("A"));	/* box from (110,40) to (150,60) */
		CHECK(at(px, w, 105, 50) == 0); /* left of it */
		CHECK(at(px, w, 130, 65) == 0); /* below it */
		CHECK(at(px, w, 15, 15) == img_class_color("B")); /* inside the triangle */
		CHECK(at(px, w, 45, 45) == 0);			  /* beyond its hypotenuse */
		CHECK(at(px, w, 0, 0) == 0);
	}
	free(px);
	free(png);
	img_free(im);
	/* more than 256 colours: written as RGBA, same pixels */
	im = img_new(64, 64, 0x000000ff);
	for (int i = 0; i < 64 * 64; i++)
		im->px[4 * i] = (unsigned char)i, im->px[4 * i + 1] = (unsigned char)(i >> 8);
	png = img_png(im, &len);
	CHECK_INT(decode(png, len, &w, &h, &px), 0);
	CHECK(px && !memcmp(px, im->px, 64 * 64 * 4));
	free(px);
	free(png);
	img_free(im);
	json_decref(ans);
	/* generated objects are deterministic */
	{
		size_t l1 = 0, l2 = 0;
		void *a = storage_generate("synthetic:7:64x48", &l1);
		void *b = storage_generate("synthetic:7:64x48", &l2);
		void *c = storage_generate("synthetic:8:64x48", &l2);

		CHECK(a && b && c && l1 > 0 && !memcmp(a, b, l1));
		CHECK_INT(decode(a, l1, &w, &h, &px), 0);
		CHECK(w == 64 && h == 48);
		CHECK(storage_generate("synthetic:7:0x48", &l1) == NULL);
		CHECK(storage_generate("bogus", &l1) == NULL);
		free(px);
		free(a);
		free(b);
		free(c);
	}
}

int main(void)
{
	test_keys();
	test_signatures();
	test_png();
	return t_done("hub_storage");
}
