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

/* A minimal PNG: signature, IHDR of w x h, empty IDAT, IEND (enough for the checks). */
static size_t png(unsigned char *b, unsigned wd, unsigned ht)
{
	memcpy(b, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
	for (int i = 0; i < 4; i++) {
		b[16 + i] = (unsigned char)(wd >> (24 - 8 * i));
		b[20 + i] = (unsigned char)(ht >> (24 - 8 * i));
	}
	memcpy(b + 24, "\x08\x06\0\0\0\0\0\0\0", 9);
	/* an (empty) IDAT and the IEND: the chunk walk needs a complete file */
	memcpy(b + 33, "\0\0\0\0IDAT\0\0\0\0\0\0\0\0IEND\xae\x42\x60\x82", 24);
	return 57;
}

static void mask(const char *spool, struct hub *h, struct mock_hub *m, struct fail_hub *f)
{
	struct ao_writes *w = writes(spool, h);
	unsigned char b[64];
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
	hub_free(h);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK_INT(system(cmd), 0);
	return t_done("upload");
}
