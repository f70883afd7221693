/*
 * test_upload.c - the write side's uploads over the mock hub and the failure
 * wrapper: a media file copied into assets/ (getUploadUrl, PUT, POST /cloud),
 * the failure cases (PUT fails, /cloud fails before and after the hub
 * applied it, a restart between) with the request counts that prove each
 * ends with exactly one create request applied, and tasks/<id>/mask.png
 * (PNG and size checks before anything is sent, the answer kept).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <unistd.h>

#include "angofs/writes.h"
#include "mock_hub.h"
#include "t.h"

#define OBJ "http://hub.test/storage/assets/p/up.jpg"

static int settled(struct ao_writes *w)
{
	json_t *s = ao_writes_status(w);
	int ok = json_array_size(json_object_get(s, "pending")) == 0;

	json_decref(s);
	return ok;
}

static void wait_settled(struct ao_writes *w)
{
	for (int i = 0; i < 1500 && !settled(w); i++)
		usleep(10000);
	CHECK(settled(w));
}

/* write bytes to relpath of project p and close: close()'s result */
static int put_file(struct ao_writes *w, const char *proj, const char *rel, const void *b, size_t n)
{
	struct ao_err e;
	uint64_t fh;
	int r;

	CHECK_INT(ao_writes_create(w, proj, rel, 0644, O_WRONLY | O_TRUNC, &fh, &e), 0);
	CHECK_INT(ao_writes_write(w, fh, b, n, 0, &e), (long)n);
	r = ao_writes_flush(w, fh, &e);
	ao_writes_release(w, fh);
	return r;
}

/* the status text of rel */
static char *status_of(struct ao_writes *w, const char *proj, const char *rel)
{
	static char buf[4096];
	char sp[512];
	struct ao_err e;
	uint64_t fh;
	ssize_t n;

	if (!strncmp(rel, "assets/", 7)) /* assets/.status/<name> */
		snprintf(sp, sizeof(sp), "assets/.status/%s", rel + 7);
	else
		snprintf(sp, sizeof(sp), "%s.status", rel);
	buf[0] = '\0';
	if (ao_writes_open(w, proj, sp, O_RDONLY, &fh, &e) < 0)
		return buf;
	n = ao_writes_read(w, fh, buf, sizeof(buf) - 1, 0, &e);
	buf[n > 0 ? n : 0] = '\0';
	ao_writes_release(w, fh);
	return buf;
}

struct acc {
	char b[64];
	size_t n;
};

static int sink(void *ud, const void *buf, size_t len)
{
	struct acc *a = ud;

	if (a->n + len <= sizeof(a->b)) {
		memcpy(a->b + a->n, buf, len);
		a->n += len;
	}
	return 0;
}

static struct ao_writes *writes(const char *spool, struct hub *h)
{
	struct ao_writes_cfg cfg;
	struct ao_writes *w;
	struct ao_err e;

	memset(&cfg, 0, sizeof(cfg));
	cfg.spool_dir = spool;
	cfg.hub = h;
	w = ao_writes_new(&cfg, &e);
	CHECK(w != NULL);
	CHECK_INT(ao_writes_start(w, &e), 0);
	return w;
}

static void media(const char *spool, struct hub *h, struct mock_hub *m, struct fail_hub *f)
{
	struct ao_writes *w = writes(spool, h);
	struct acc got = {"", 0};
	struct ao_err e;

	mock_hub_on(m, "GET", "/getUploadUrl*", "{\"uploadUrl\":\"" OBJ "?Signature=abc\"}");
	mock_hub_on(m, "POST", "/project/p/cloud", "{\"assets\":{\"tasksCreated\":1}}");
	mock_hub_on(m, "GET", "/project/p/assets*", "{\"assets\":[],\"total\":0}");

	/* the sequence: upload URL, PUT of the bytes, one /cloud */
	CHECK_INT(put_file(w, "p", "assets/a b.jpg", "JPEGDATA", 8), 0);
	CHECK_INT(mock_hub_calls(m, "GET", "/getUploadUrl?name="), 1);
	CHECK_INT(mock_hub_calls(m, "PUT", OBJ "?Signature=abc"), 1);
	CHECK_INT(mock_hub_calls(m, "POST", "/project/p/cloud"), 1);
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p/assets"), 0);
	CHECK_STR(mock_hub_last_body(m),
		  "{\"assets\":[{\"data\":\"" OBJ "\",\"externalId\":\"a b.jpg\"}],"
		  "\"uploadLocal\":\"true\",\"priority\":0}"); /* the SDK's upload_files */
	CHECK_INT(hub_download(h, OBJ, sink, NULL, &got, &e), 0);
	CHECK(got.n == 8 && !memcmp(got.b, "JPEGDATA", 8));
	CHECK(strncmp(status_of(w, "p", "assets/a b.jpg"), "sent: asset created", 19) == 0);
	/* the storage name is unique and clean: 16 hex, '_', the name sanitized */
	CHECK(strstr(status_of(w, "p", "assets/a b.jpg"), "externalId a b.jpg") != NULL);

	/* PUT fails: nothing created; the retry uploads again, then one /cloud */
	fail_hub_script(f, "PUT * http=500 x1");
	CHECK_INT(put_file(w, "p", "assets/b.jpg", "B", 1), -EIO);
	CHECK_INT(mock_hub_calls(m, "POST", "/project/p/cloud"), 1);
	CHECK(strncmp(status_of(w, "p", "assets/b.jpg"), "pending: ", 9) == 0);
	wait_settled(w);
	CHECK_INT(mock_hub_calls(m, "PUT", OBJ), 2);
	CHECK_INT(mock_hub_calls(m, "GET", "/getUploadUrl?name="), 3);
	CHECK_INT(mock_hub_calls(m, "POST", "/project/p/cloud"), 2);
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p/assets"), 0); /* never posted */

	/* /cloud refused with a 503 (not applied): checked, then sent again;
	 * the file is not uploaded again */
	fail_hub_script(f, "POST /project/p/cloud http=503 x1");
	CHECK_INT(put_file(w, "p", "assets/c.jpg", "C", 1), -EAGAIN);
	wait_settled(w);
	CHECK_INT(mock_hub_calls(m, "PUT", OBJ), 3);
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p/assets"), 1);
	CHECK_INT(mock_hub_calls(m, "POST", "/project/p/cloud"), 3);

	/* /cloud applied, its reply lost, then the daemon stops (a crash
	 * between the POST and its record): after the restart the check finds
	 * the asset and nothing is posted again */
	fail_hub_script(f, "POST /project/p/cloud applied x1");
	CHECK_INT(put_file(w, "p", "assets/d.jpg", "D", 1), -EIO);
	CHECK_INT(mock_hub_calls(m, "POST", "/project/p/cloud"), 4);
	CHECK(strstr(status_of(w, "p", "assets/d.jpg"), "checks before sending again") != NULL);
	ao_writes_free(w);
	mock_hub_on(m, "GET", "/project/p/assets*",
		    "{\"assets\":[{\"externalId\":\"d.jpg\",\"data\":\"" OBJ
		    "?Expires=1&Signature=ff\"}],\"total\":1}");
	w = writes(spool, h);
	wait_settled(w);
	CHECK_INT(mock_hub_calls(m, "POST", "/project/p/cloud"), 4);
	CHECK_INT(mock_hub_calls(m, "GET", "/project/p/assets"), 2);
	CHECK_INT(mock_hub_calls(m, "PUT", OBJ), 4);
	CHECK(strstr(status_of(w, "p", "assets/d.jpg"), "by an earlier request") != NULL);

	/* a list: checked (nothing sent when an item is bad), then one /cloud */
	CHECK_INT(put_file(w, "p", "assets/l.json", "[{\"externalId\":\"x\"}]", 20), -EINVAL);
	CHECK(strstr(status_of(w, "p", "assets/l.json"), "(item 1): \"data\" is missing") != NULL);
	CHECK_INT(mock_hub_calls(m, "POST", "/project/p/cloud"), 4);
	{
		const char *l = "{\"data\":\"https://x/1.jpg\",\"externalId\":\"1.jpg\"}\n"
				"{\"data\":\"https://x/2.jpg\",\"externalId\":\"2.jpg\"}\n";

		CHECK_INT(put_file(w, "p", "assets/l.ndjson", l, strlen(l)), 0);
		CHECK_INT(mock_hub_calls(m, "POST", "/project/p/cloud"), 5);
		CHECK_STR(mock_hub_last_body(m),
			  "{\"assets\":[{\"data\":\"https://x/1.jpg\",\"externalId\":\"1.jpg\"},"
			  "{\"data\":\"https://x/2.jpg\",\"externalId\":\"2.jpg\"}],"
			  "\"uploadLocal\":null,\"priority\":0}"); /* upload_files_cloud */
	}
	ao_writes_free(w);
}

/* A chunk of type t with data d (n bytes) at b, its CRC computed; returns
 * its length. */
static size_t chunk(unsigned char *b, const char *t, const unsigned char *d, size_t n)
{
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char)(n >> (24 - 8 * i));
	memcpy(b + 4, t, 4);
	if (n)
		memcpy(b + 8, d, n);
	unsigned long c = crc32(crc32(0, NULL, 0), b + 4, (uInt)n + 4);
	for (int i = 0; i < 4; i++)
		b[8 + n + i] = (unsigned char)(c >> (24 - 8 * i));
	return n + 12;
}

/* A valid grey PNG of w x h (small enough to compress into 2 KB): signature, IHDR, one IDAT of the
 * zlib-compressed rows (filter byte 0 + w zero bytes), IEND. */
static size_t png(unsigned char *b, unsigned wd, unsigned ht)
{
	unsigned char ihdr[13] = {0}, z[2048], *raw = calloc((size_t)(wd + 1) * ht, 1);
	uLongf zl = sizeof(z);
	size_t n = 8;

	memcpy(b, "\x89PNG\r\n\x1a\n", 8);
	for (int i = 0; i < 4; i++) {
		ihdr[i] = (unsigned char)(wd >> (24 - 8 * i));
		ihdr[4 + i] = (unsigned char)(ht >> (24 - 8 * i));
	}
	ihdr[8] = 8; /* depth 8, colour type 0 (grey) */
	compress(z, &zl, raw, (uLong)(wd + 1) * ht);
	free(raw);
	n += chunk(b + n, "IHDR", ihdr, 13);
	n += chunk(b + n, "IDAT", z, zl);
	n += chunk(b + n, "IEND", NULL, 0);
	return n;
}

static void mask(const char *spool, struct hub *h, struct mock_hub *m, struct fail_hub *f)
{
	struct ao_writes *w = writes(spool, h);
	unsigned char b[4096];
	size_t n;

	fail_hub_script(f, "");
	mock_hub_on(
	    m, "GET", "/task/t9?includeAnswer=true",
	    "{\"task\":{\"_id\":\"t9\",\"project\":\"q\",\"asset\":\"a9\",\"answer\":{"
	    "\"tools\":[{\"schemaId\":\"s1\"}],\"classifications\":[],\"relations\":[]},"
	    "\"brushDataUrl\":\"http://old/m.png\",\"medicalBrushDataUrl\":\"http://m/s.nrrd\"}}");
	mock_hub_on(m, "GET", "/project/q/assets*",
		    "{\"assets\":[{\"_id\":\"a9\",\"metadata\":{\"width\":100,\"height\":50}}]}");
	mock_hub_on(m, "POST", "/annotate/t9*", "{\"label\":{}}");
	/* not a PNG, a broken one, the wrong size: refused, nothing sent */
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", "GIF89a....", 10), -EINVAL);
	CHECK(strstr(status_of(w, "q", "tasks/t9/mask.png"), "is not a PNG image") != NULL);
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", "\x89PNG\r\n\x1a\nxxxxxxxx", 16), -EINVAL);
	CHECK_INT(mock_hub_calls(m, "GET", "/task/"), 0);
	n = png(b, 100, 50);
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", b, n - 12), -EINVAL); /* no IEND */
	CHECK(strstr(status_of(w, "q", "tasks/t9/mask.png"), "not a complete PNG") != NULL);
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", b, 40), -EINVAL); /* cut in IDAT */
	CHECK_INT(mock_hub_calls(m, "GET", "/task/"), 0);
	/* issue 23: complete chunks but undecodable: a bad IHDR CRC, damaged
	 * IDAT data (its CRC fixed up, so only inflating finds it), an IDAT
	 * holding fewer rows than IHDR announces; refused before any request */
	b[29] ^= 0x40; /* a byte of IHDR's CRC */
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", b, n), -EINVAL);
	CHECK(strstr(status_of(w, "q", "tasks/t9/mask.png"), "not a valid PNG: IHDR: CRC error") !=
	      NULL);
	n = png(b, 100, 50);
	b[33 + 8 + 2] ^= 0xff; /* the first deflate block's header */
	chunk(b + 33, "IDAT", b + 33 + 8, n - 33 - 12 - 12);
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", b, n), -EINVAL);
	CHECK(strstr(status_of(w, "q", "tasks/t9/mask.png"), "not a valid PNG") != NULL);
	unsigned char rows[2048];
	n = png(rows, 100, 20); /* 20 rows of data under a header saying 50 */
	n = png(b, 100, 50);
	size_t short_n = png(rows, 100, 20);
	memcpy(rows + 8, b + 8, 25); /* IHDR of 100x50 */
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", rows, short_n), -EINVAL);
	CHECK(strstr(status_of(w, "q", "tasks/t9/mask.png"), "not a valid PNG") != NULL);
	CHECK_INT(mock_hub_calls(m, "GET", "/task/"), 0);
	n = png(b, 10, 10);
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", b, n), -EINVAL);
	CHECK(strstr(status_of(w, "q", "tasks/t9/mask.png"),
		     "mask.png is 10x10 but the task's asset is 100x50") != NULL);
	CHECK_INT(mock_hub_calls(m, "PUT", ""), 4);
	CHECK_INT(mock_hub_calls(m, "POST", "/annotate/"), 0);
	/* the right size: uploaded, set, the answer and the medical mask kept */
	n = png(b, 100, 50);
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", b, n), 0);
	CHECK_INT(mock_hub_calls(m, "PUT", ""), 5);
	CHECK_INT(mock_hub_calls(m, "POST", "/annotate/t9?nextStage=false"), 1);
	CHECK(strstr(mock_hub_last_body(m), "\"objects\":[{\"schemaId\":\"s1\"}]") != NULL);
	CHECK(strstr(mock_hub_last_body(m), "\"brushDataUrl\":\"" OBJ "\"") != NULL);
	CHECK(strstr(mock_hub_last_body(m), "\"medicalBrushDataUrl\":\"http://m/s.nrrd\"") != NULL);
	/* annotate fails: pending; the retry posts again, never uploads again */
	fail_hub_script(f, "POST /annotate http=503 x1");
	CHECK_INT(put_file(w, "q", "tasks/t9/mask.png", b, n), -EAGAIN);
	wait_settled(w);
	CHECK_INT(mock_hub_calls(m, "PUT", ""), 6);
	CHECK_INT(mock_hub_calls(m, "POST", "/annotate/t9"), 2);
	ao_writes_free(w);
}

/* Issue 23: an asset the hub keeps no size for (a JPEG): the size comes
 * from its header, the first bytes of its data by one Range download (the
 * mock hands over the whole object; the client stops after the header). */
static void mask_header(const char *spool, struct hub *h, struct mock_hub *m)
{
	struct ao_writes *w = writes(spool, h);
	/* SOI, SOF0 of 154 x 305 (height, width), then data the reader never
	 * needs */
	unsigned char jpg[8192] = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00,
				   0x9a, 0x01, 0x31, 0x01, 0x01, 0x11, 0x00};
	unsigned char b[4096];
	size_t n;

	mock_hub_on(m, "GET", "/task/t8?includeAnswer=true",
		    "{\"task\":{\"_id\":\"t8\",\"project\":\"q\",\"asset\":\"a8\",\"answer\":{"
		    "\"tools\":[],\"classifications\":[],\"relations\":[]}}}");
	mock_hub_on(m, "GET", "/project/q/assets?page=1&limit=1&filters=%7B%22_id%22%3A%22a8%22%7D",
		    "{\"assets\":[{\"_id\":\"a8\",\"data\":\"http://s/q/pic.jpg\"}]}");
	mock_hub_on(m, "POST", "/annotate/t8*", "{\"label\":{}}");
	mock_hub_file(m, "http://s/q/pic.jpg", jpg, sizeof(jpg));
	int puts = mock_hub_calls(m, "PUT", "");
	n = png(b, 10, 10);
	CHECK_INT(put_file(w, "q", "tasks/t8/mask.png", b, n), -EINVAL);
	CHECK(strstr(status_of(w, "q", "tasks/t8/mask.png"),
		     "mask.png is 10x10 but the task's asset is 305x154 (from its JPEG header)") !=
	      NULL);
	CHECK_INT(mock_hub_calls(m, "DOWNLOAD", "http://s/q/pic.jpg"), 1);
	CHECK_INT(mock_hub_calls(m, "PUT", ""), puts);
	n = png(b, 305, 154);
	CHECK_INT(put_file(w, "q", "tasks/t8/mask.png", b, n), 0);
	CHECK_INT(mock_hub_calls(m, "POST", "/annotate/t8?nextStage=false"), 1);
	CHECK_INT(mock_hub_calls(m, "PUT", ""), puts + 1);
	ao_writes_free(w);
}

int main(void)
{
	char root[] = "/tmp/test_upload_XXXXXX", spool[256], cmd[300];
	struct mock_hub *m;
	struct fail_hub *f;
	struct hub *h;

	CHECK(mkdtemp(root) != NULL);
	snprintf(spool, sizeof(spool), "%s/spool", root);
	h = fail_hub_new(mock_hub_new(&m), "", &f);
	media(spool, h, m, f);
	mask(spool, h, m, f);
	mask_header(spool, h, m);
	hub_free(h);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK_INT(system(cmd), 0);
	return t_done("upload");
}
