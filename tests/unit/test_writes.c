/*
 * test_writes.c - the write side's file operations without a hub: which paths
 * it owns, scratch files (created, written, read, renamed, removed; never
 * uploaded), status-file and read-only refusals, and the spool entry a
 * drop-box file leaves behind when it is still being written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "angofs/writes.h"
#include "t.h"

struct names {
	char list[16][64];
	int n;
};

static int fill(void *ctx, const char *name, const struct stat *st)
{
	struct names *nm = ctx;

	if (nm->n < 16)
		snprintf(nm->list[nm->n++], 64, "%s", name);
	return 0;
}

static int listed(struct names *nm, const char *name)
{
	int i;

	for (i = 0; i < nm->n; i++)
		if (!strcmp(nm->list[i], name))
			return 1;
	return 0;
}

static void owns(void)
{
	CHECK(ao_writes_owns("labels/a.json"));
	CHECK(ao_writes_owns("labels/a.json.status"));
	CHECK(ao_writes_owns("attachments/x"));
	CHECK(ao_writes_owns("tasks/t1/answer.json"));
	CHECK(ao_writes_owns("tasks/t1/answer.next.json"));
	CHECK(ao_writes_owns("tasks/t1/sedAbc123"));
	CHECK(!ao_writes_owns("tasks/t1/task.json"));
	CHECK(!ao_writes_owns("tasks/t1"));
	CHECK(!ao_writes_owns("labels"));
	CHECK(!ao_writes_owns("labels/sub/x"));
	CHECK(!ao_writes_owns("export/tasks.json"));
	CHECK(!ao_writes_owns("project.json"));
	CHECK(!ao_writes_owns("tasks//answer.json"));
}

int main(void)
{
	char root[] = "/tmp/test_writes_XXXXXX", spool[256], cmd[300];
	struct ao_writes_cfg cfg;
	struct ao_writes *w;
	struct ao_err e;
	struct names nm;
	struct stat st;
	uint64_t fh;
	char buf[64];

	owns();
	CHECK(mkdtemp(root) != NULL);
	snprintf(spool, sizeof(spool), "%s/spool", root);
	memset(&cfg, 0, sizeof(cfg));
	cfg.spool_dir = spool;
	w = ao_writes_new(&cfg, &e);
	CHECK(w != NULL);
	CHECK(stat(spool, &st) == 0 && (st.st_mode & 0777) == 0700);

	/* an rsync-style temp file in a drop box: written, read back, not uploaded */
	CHECK_INT(ao_writes_create(w, "p", "labels/.a.json.Xy12", 0644, O_WRONLY, &fh, &e), 0);
	CHECK_INT(ao_writes_write(w, fh, "[{\"x\":1}]", 9, 0, &e), 9);
	CHECK_INT(ao_writes_read(w, fh, buf, sizeof(buf), 0, &e), 9);
	CHECK_INT(ao_writes_fgetattr(w, fh, &st, &e), 0);
	CHECK_INT(st.st_size, 9);
	CHECK_INT(ao_writes_flush(w, fh, &e), 0); /* scratch: nothing sent */
	CHECK_INT(ao_writes_release(w, fh), 0);
	CHECK_INT(ao_writes_getattr(w, "p", "labels/.a.json.Xy12", &st, &e), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_INT(ao_writes_getattr(w, "other", "labels/.a.json.Xy12", &st, &e), -ENOENT);
	/* no status file for scratch files */
	CHECK_INT(ao_writes_getattr(w, "p", "labels/.a.json.Xy12.status", &st, &e), -ENOENT);

	/* scratch renamed to another scratch name, then removed */
	CHECK_INT(ao_writes_rename(w, "p", "labels/.a.json.Xy12", "labels/a.json~", 0, &e), 0);
	CHECK_INT(ao_writes_getattr(w, "p", "labels/.a.json.Xy12", &st, &e), -ENOENT);
	memset(&nm, 0, sizeof(nm));
	CHECK_INT(ao_writes_readdir(w, "p", "labels", fill, &nm, &e), 0);
	CHECK(listed(&nm, "a.json~"));
	CHECK_INT(nm.n, 1);
	CHECK_INT(ao_writes_rename(w, "p", "labels/a.json~", "attachments/a.json", 0, &e), -EXDEV);
	CHECK_INT(ao_writes_unlink(w, "p", "labels/a.json~", &e), 0);
	CHECK_INT(ao_writes_getattr(w, "p", "labels/a.json~", &st, &e), -ENOENT);

	/* status files: read-only, unknown ones do not exist */
	CHECK_INT(ao_writes_create(w, "p", "labels/x.json.status", 0644, O_WRONLY, &fh, &e),
		  -EACCES);
	CHECK_INT(ao_writes_open(w, "p", "labels/x.json.status", O_RDONLY, &fh, &e), -ENOENT);
	/* answer.json with nothing spooled belongs to the read side */
	CHECK_INT(ao_writes_open(w, "p", "tasks/t1/answer.json", O_RDONLY, &fh, &e), -ENOENT);
	CHECK_INT(ao_writes_getattr(w, "p", "tasks/t1/answer.json", &st, &e), -ENOENT);
	/* removing it (mv across file systems, install) is accepted and sends
	 * nothing; the name looks free for a moment so they can create it */
	CHECK_INT(ao_writes_unlink(w, "p", "tasks/t1/answer.json", &e), 0);
	CHECK_INT(ao_writes_hidden(w, "p", "tasks/t1/answer.json"), 1);
	CHECK_INT(ao_writes_hidden(w, "p", "tasks/t2/answer.json"), 0);
	CHECK_INT(ao_writes_hidden(w, "p", "tasks/t1/task.json"), 0);

	/* a drop-box file still open for writing is listed with its status */
	CHECK_INT(ao_writes_create(w, "p", "labels/open.ndjson", 0644, O_WRONLY, &fh, &e), 0);
	CHECK_INT(ao_writes_write(w, fh, "{}\n", 3, 0, &e), 3);
	memset(&nm, 0, sizeof(nm));
	ao_writes_readdir(w, "p", "labels", fill, &nm, &e);
	CHECK(listed(&nm, "open.ndjson"));
	CHECK(listed(&nm, "open.ndjson.status"));
	{
		uint64_t sfh;
		ssize_t n;

		CHECK_INT(ao_writes_open(w, "p", "labels/open.ndjson.status", O_RDONLY, &sfh, &e),
			  0);
		n = ao_writes_read(w, sfh, buf, sizeof(buf) - 1, 0, &e);
		CHECK(n > 0);
		buf[n > 0 ? n : 0] = '\0';
		CHECK(!strncmp(buf, "writing:", 8));
		CHECK_INT(ao_writes_open(w, "p", "labels/open.ndjson.status", O_WRONLY, &sfh, &e),
			  -EACCES);
	}
	/* a second create of the same name while open restarts it (cp over it) */
	CHECK_INT(ao_writes_truncate(w, "p", "labels/open.ndjson", 0, &e), 0);
	CHECK_INT(ao_writes_getattr(w, "p", "labels/open.ndjson", &st, &e), 0);
	CHECK_INT(st.st_size, 0);
	/* nothing written through this descriptor: close reports the empty file */
	CHECK_INT(ao_writes_flush(w, fh, &e), -EINVAL);
	CHECK(strstr(e.msg, "empty file") != NULL);
	CHECK_INT(ao_writes_release(w, fh), 0);
	{
		json_t *s = ao_writes_status(w);

		CHECK_INT(json_array_size(json_object_get(s, "failed")), 1);
		json_decref(s);
	}
	ao_writes_free(w);

	/* restart: the failed entry is still there, bytes and status */
	w = ao_writes_new(&cfg, &e);
	CHECK_INT(ao_writes_start(w, &e), 0);
	CHECK_INT(ao_writes_getattr(w, "p", "labels/open.ndjson", &st, &e), 0);
	CHECK_INT(ao_writes_getattr(w, "p", "labels/open.ndjson.status", &st, &e), 0);
	CHECK_INT(ao_writes_unlink(w, "p", "labels/open.ndjson.status", &e), -EPERM);
	CHECK_INT(ao_writes_unlink(w, "p", "labels/open.ndjson", &e), 0);
	CHECK_INT(ao_writes_getattr(w, "p", "labels/open.ndjson.status", &st, &e), -ENOENT);
	ao_writes_free(w);

	/* -o ro: every write is refused with EROFS */
	cfg.read_only = 1;
	w = ao_writes_new(&cfg, &e);
	CHECK_INT(ao_writes_create(w, "p", "labels/a.json", 0644, O_WRONLY, &fh, &e), -EROFS);
	CHECK_INT(ao_writes_open(w, "p", "tasks/t/answer.json", O_WRONLY, &fh, &e), -EROFS);
	CHECK_INT(ao_writes_truncate(w, "p", "tasks/t/answer.json", 0, &e), -EROFS);
	CHECK_INT(ao_writes_unlink(w, "p", "labels/a.json", &e), -EROFS);
	CHECK_INT(ao_writes_rename(w, "p", "labels/a", "labels/b", 0, &e), -EROFS);
	ao_writes_free(w);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK_INT(system(cmd), 0);
	return t_done("writes");
}
