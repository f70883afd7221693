/*
 * test_spool_order.c - last write wins across daemons sharing a spool
 * (src/write/spool_order.c): stamps of one target grow, across two "daemons"
 * (two handles on one spool, and a forked process) and even when the ledger
 * holds a stamp from a clock that runs ahead; answer.json and
 * answer.next.json of a task are one target; the newest stamp is what the
 * ledger says; a target's turn excludes other threads of this process and
 * other processes, and an interrupted or timed-out wait gives up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/write/spool_order.h"
#include "t.h"

static struct spool_order *oa;
static int turn_got = -1;

static void *other_thread(void *arg)
{
	(void)arg;
	turn_got = spool_order_turn(oa, "p/labels/a.ndjson", 300);
	return NULL;
}

int main(void)
{
	char root[] = "/tmp/test_spool_order_XXXXXX", key[256], key2[256];
	struct spool_order *ob;
	struct ao_err err;
	long long s1, s2, s3;
	int up[2], down[2];
	char c;
	pid_t child;

	CHECK(mkdtemp(root) != NULL);
	oa = spool_order_open(root, &err);
	ob = spool_order_open(root, &err); /* a second daemon on the same spool */
	CHECK(oa && ob);
	if (!oa || !ob)
		return t_done("spool_order");

	/* one target for both answer files of a task; others are their own */
	spool_order_key("p", "tasks/T1/answer.next.json", key, sizeof(key));
	CHECK_STR(key, "p/tasks/T1/answer.json");
	spool_order_key("p", "tasks/T1/answer.json", key2, sizeof(key2));
	CHECK_STR(key2, key);
	spool_order_key("p", "labels/answer.next.json", key2, sizeof(key2));
	CHECK_STR(key2, "p/labels/answer.next.json");

	CHECK_INT(spool_order_newest(oa, key), 0);
	s1 = spool_order_stamp(oa, key);
	s2 = spool_order_stamp(ob, key);
	s3 = spool_order_stamp(oa, key);
	CHECK(s1 > 0 && s2 > s1 && s3 > s2);
	CHECK(spool_order_newest(ob, key) == s3);
	CHECK_INT(spool_order_newest(ob, "p/labels/other.ndjson"), 0);

	/* a process (another daemon) stamps it: newer than all before */
	child = fork();
	if (child == 0) {
		struct spool_order *oc = spool_order_open(root, &err);

		_exit(oc && spool_order_stamp(oc, key) > s3 ? 0 : 1);
	}
	{
		int st = -1;

		waitpid(child, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK(spool_order_newest(oa, key) > s3);

	/* a stamp from a clock far ahead stays the one to beat */
	{
		long long ahead;
		char path[512];
		FILE *f;

		spool_order_stamp(oa, "p/labels/clock.ndjson");
		snprintf(path, sizeof(path), "%s/order", root);
		/* rewrite every ledger holding the key with a stamp a day ahead */
		ahead = spool_order_newest(oa, "p/labels/clock.ndjson") + 86400LL * 1000000;
		for (int b = 0; b < 4096; b++) {
			char lp[600], buf[4096];
			size_t n;

			snprintf(lp, sizeof(lp), "%s/%03x.json", path, b);
			f = fopen(lp, "r");
			if (!f)
				continue;
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = 0;
			if (!strstr(buf, "clock.ndjson"))
				continue;
			f = fopen(lp, "w");
			fprintf(f, "{\"p/labels/clock.ndjson\": %lld}", ahead);
			fclose(f);
		}
		CHECK(spool_order_newest(ob, "p/labels/clock.ndjson") == ahead);
		CHECK(spool_order_stamp(ob, "p/labels/clock.ndjson") == ahead + 1);
	}

	/* turns: a thread of this process waits, then gives up (300 ms) */
	CHECK_INT(spool_order_turn(oa, "p/labels/a.ndjson", 0), 0);
	{
		pthread_t th;

		pthread_create(&th, NULL, other_thread, NULL);
		pthread_join(th, NULL);
		CHECK_INT(turn_got, -EAGAIN);
	}
	/* another process cannot take it either; once given back it can */
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	child = fork();
	if (child == 0) {
		struct spool_order *oc = spool_order_open(root, &err);
		int first = spool_order_turn(oc, "p/labels/a.ndjson", 0);
		int r;

		if (write(up[1], first == -EAGAIN ? "b" : "x", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(2);
		r = spool_order_turn(oc, "p/labels/a.ndjson", 5000);
		_exit(r == 0 ? 0 : 1);
	}
	CHECK(read(up[0], &c, 1) == 1 && c == 'b');
	spool_order_turn_end(oa, "p/labels/a.ndjson");
	CHECK(write(down[1], "g", 1) == 1);
	{
		int st = -1;

		waitpid(child, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* given back by this process's other thread's owner: taken again here */
	CHECK_INT(spool_order_turn(ob, "p/labels/a.ndjson", 2000), 0);
	spool_order_turn_end(ob, "p/labels/a.ndjson");

	spool_order_free(oa);
	spool_order_free(ob);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		CHECK(system(cmd) == 0);
	}
	return t_done("spool_order");
}
