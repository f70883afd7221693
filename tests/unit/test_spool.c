/*
 * test_spool.c - spool persistence: private modes, atomic meta round trip with
 * the chunk plan and each chunk's delivery state (what replay after kill -9
 * relies on), removal, and the treatment of half-created entry directories.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/write/spool.h"
#include "t.h"

static struct entry *loaded[8];
static int nloaded;

static void take(void *ud, struct entry *e)
{
	(void)ud;
	if (nloaded < 8)
		loaded[nloaded++] = e;
	else
		spool_entry_free(e);
}

static int mode_of(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

int main(void)
{
	char root[] = "/tmp/test_spool_XXXXXX", dir[256], path[512];
	struct ao_err e;
	struct entry *x, *y;
	int fd, i;

	CHECK(mkdtemp(root) != NULL);
	snprintf(dir, sizeof(dir), "%s/a/b/spool", root);
	CHECK_INT(spool_init(dir, &e), 0);
	CHECK_INT(mode_of(dir), 0700);

	x = spool_entry_new(dir, "p1", "labels/a.ndjson", EK_LABELS, &e);
	CHECK(x != NULL);
	snprintf(path, sizeof(path), "%s/%s", dir, x->id);
	CHECK_INT(mode_of(path), 0700);
	spool_path(dir, x, "data", path, sizeof(path));
	CHECK_INT(mode_of(path), 0600);
	fd = open(path, O_WRONLY);
	CHECK_INT(write(fd, "hello\n", 6), 6);
	close(fd);

	x->state = ST_PENDING;
	x->prepared = 1;
	x->items = 7;
	x->nchunks = 3;
	x->chunks = calloc(3, sizeof(*x->chunks));
	for (i = 0; i < 3; i++) {
		x->chunks[i].first = i * 3;
		x->chunks[i].count = i < 2 ? 3 : 1;
		x->chunks[i].line_first = i * 3 + 1;
		x->chunks[i].line_last = i * 3 + 3;
		x->chunks[i].off = i * 100;
		x->chunks[i].len = 100;
	}
	x->chunks[0].state = CH_SENT;
	x->chunks[0].msg = strdup("3 / 3 tasks are labeled.");
	x->chunks[1].state = CH_REFUSED;
	x->chunks[1].http = 400;
	x->chunks[1].msg = strdup("Invalid \"schemaId\"\nsecond line");
	spool_entry_set_msg(x, "being sent");
	CHECK_INT(spool_save(dir, x, &e), 0);
	spool_path(dir, x, "meta.json", path, sizeof(path));
	CHECK_INT(mode_of(path), 0600);
	spool_path(dir, x, "meta.json.tmp", path, sizeof(path));
	CHECK_INT(mode_of(path), -1); /* renamed into place */

	y = spool_entry_new(dir, "p2", "tasks/t1/answer.json", EK_ANSWER, &e);
	y->state = ST_SENT;
	y->next_stage = 1;
	CHECK_INT(spool_save(dir, y, &e), 0);

	/* a directory from a crash before meta.json: empty -> removed, with bytes -> kept */
	snprintf(path, sizeof(path), "%s/w1-empty", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/w1-empty/data", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	snprintf(path, sizeof(path), "%s/w2-bytes", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/w2-bytes/data", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK_INT(write(fd, "x", 1), 1);
	close(fd);

	CHECK_INT(spool_load(dir, NULL, take, NULL, &e), 2);
	CHECK_INT(nloaded, 2);
	snprintf(path, sizeof(path), "%s/w1-empty", dir);
	CHECK_INT(mode_of(path), -1);
	snprintf(path, sizeof(path), "%s/w2-bytes/data", dir);
	CHECK_INT(mode_of(path), 0600);
	for (i = 0; i < nloaded; i++) {
		struct entry *l = loaded[i];

		if (!strcmp(l->project, "p1")) {
			CHECK_STR(l->relpath, "labels/a.ndjson");
			CHECK_INT(l->kind, EK_LABELS);
			CHECK_INT(l->state, ST_PENDING);
			CHECK_INT(l->prepared, 1);
			CHECK_INT(l->items, 7);
			CHECK_INT(l->nchunks, 3);
			CHECK_INT(l->chunks[0].state, CH_SENT);
			CHECK_INT(l->chunks[1].state, CH_REFUSED);
			CHECK_INT(l->chunks[1].http, 400);
			CHECK_STR(l->chunks[1].msg, "Invalid \"schemaId\"\nsecond line");
			CHECK_INT(l->chunks[2].state, CH_TODO);
			CHECK_INT(l->chunks[2].line_first, 7);
			CHECK_INT(l->chunks[2].off, 200);
			CHECK_STR(l->message, "being sent");
			CHECK_STR(l->id, x->id);
		} else {
			CHECK_STR(l->relpath, "tasks/t1/answer.json");
			CHECK_INT(l->kind, EK_ANSWER);
			CHECK_INT(l->state, ST_SENT);
			CHECK_INT(l->next_stage, 1);
		}
	}
	for (i = 0; i < nloaded; i++) {
		spool_remove(dir, loaded[i]);
		spool_entry_free(loaded[i]);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, x->id);
	CHECK_INT(mode_of(path), -1);
	spool_entry_free(x);
	spool_entry_free(y);
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	CHECK_INT(system(path), 0);
	return t_done("spool");
}
