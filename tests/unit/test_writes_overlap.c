/*
 * test_writes_overlap.c - bytes written through a descriptor that stays open
 * while an earlier close() of the same file is uploading (the hub delayed by
 * the fail_hub wrapper) are never dropped: the confirmed upload keeps the
 * spool entry when its content changed meanwhile, and the newer content is
 * sent next, by the second close or, when that close never submits (an
 * interrupted close), by the background sender.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "angofs/writes.h"
#include "mock_hub.h"
#include "t.h"

static const char A[] = "{\"tools\":[],\"classifications\":[{\"schemaId\":\"c1\",\"answer\":"
			"\"AAAA\"}],\"relations\":[]}";
static const char B[] = "{\"tools\":[],\"classifications\":[{\"schemaId\":\"c1\",\"answer\":"
			"\"BBBBBBBB\"}],\"relations\":[]}";

struct closer {
	struct ao_writes *w;
	uint64_t fh;
	int rc;
};

static void *close_fh(void *arg)
{
	struct closer *c = arg;
	struct ao_err e;

	c->rc = ao_writes_flush(c->w, c->fh, &e);
	ao_writes_release(c->w, c->fh);
	return NULL;
}

static int settled(struct ao_writes *w)
{
	json_t *s = ao_writes_status(w);
	int ok = json_array_size(json_object_get(s, "pending")) == 0 &&
		 json_array_size(json_object_get(s, "failed")) == 0;

	json_decref(s);
	return ok;
}

/* fh1 writes A and closes (upload delayed); meanwhile fh2 truncates and
 * writes B, then closes normally (close2) or is released without a flush. */
static void run(struct ao_writes *w, struct mock_hub *m, struct fail_hub *f, const char *task,
		int close2)
{
	char path[64];
	struct closer c;
	struct ao_err e;
	pthread_t th;
	uint64_t fh1, fh2;
	int before = mock_hub_calls(m, "POST", "/annotate/"), inj = fail_hub_injected(f), i;

	snprintf(path, sizeof(path), "tasks/%s/answer.json", task);
	fail_hub_script(f, "POST /annotate delay=1500 x1");
	CHECK_INT(ao_writes_create(w, "p", path, 0644, O_WRONLY | O_TRUNC, &fh1, &e), 0);
	CHECK_INT(ao_writes_open(w, "p", path, O_WRONLY, &fh2, &e), 0);
	CHECK_INT(ao_writes_write(w, fh1, A, strlen(A), 0, &e), (long)strlen(A));
	c.w = w, c.fh = fh1, c.rc = 1;
	CHECK_INT(pthread_create(&th, NULL, close_fh, &c), 0);
	for (i = 0; i < 500 && fail_hub_injected(f) == inj; i++)
		usleep(10000);
	CHECK(fail_hub_injected(f) > inj); /* the first upload is in flight */
	CHECK_INT(ao_writes_ftruncate(w, fh2, 0, &e), 0);
	CHECK_INT(ao_writes_write(w, fh2, B, strlen(B), 0, &e), (long)strlen(B));
	if (close2)
		CHECK_INT(ao_writes_flush(w, fh2, &e), 0);
	ao_writes_release(w, fh2);
	pthread_join(th, NULL);
	CHECK_INT(c.rc, 0);
	for (i = 0;
	     i < 1000 && !(settled(w) && mock_hub_calls(m, "POST", "/annotate/") >= before + 2);
	     i++)
		usleep(10000);
	CHECK_INT(mock_hub_calls(m, "POST", "/annotate/"), before + 2);
	CHECK(strstr(mock_hub_last_body(m), "BBBBBBBB") != NULL);
	CHECK(settled(w));
}

int main(void)
{
	char root[] = "/tmp/test_wover_XXXXXX", spool[256], cmd[300];
	struct ao_writes_cfg cfg;
	struct mock_hub *m;
	struct fail_hub *f;
	struct ao_writes *w;
	struct ao_err e;

	CHECK(mkdtemp(root) != NULL);
	snprintf(spool, sizeof(spool), "%s/spool", root);
	memset(&cfg, 0, sizeof(cfg));
	cfg.spool_dir = spool;
	cfg.hub = fail_hub_new(mock_hub_new(&m), "", &f);
	mock_hub_on(m, "POST", "/annotate/*", "{\"ok\":true}");
	w = ao_writes_new(&cfg, &e);
	CHECK(w != NULL);
	CHECK_INT(ao_writes_start(w, &e), 0);
	run(w, m, f, "t1", 1); /* the second close sends B */
	run(w, m, f, "t2", 0); /* nobody closes again: the background sends B */
	ao_writes_free(w);
	hub_free(cfg.hub);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK_INT(system(cmd), 0);
	return t_done("writes_overlap");
}
