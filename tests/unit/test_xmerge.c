/*
 * test_xmerge.c - the record merge of an incremental export refresh
 * (src/exports/records.c) on hand-made exports: replace in place, add at the
 * end, a task that left a stage view, one that entered it (refused), order,
 * duplicates, malformed records, an ignored filter, NDJSON and the framing.
 * Files are memfds: the merge only sees descriptors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../src/exports/records.h"
#include "t.h"

#define T0 "2026-01-01T00:00:0"
/* the updatedAt bound of the incremental exports below: 00:00:05 */
#define B5 1767225605000000LL

/* One task record as the local hub writes it. */
static char *rec(const char *id, const char *stage, int sec, const char *word)
{
	static char b[16][512];
	static int i;
	char *p = b[i++ % 16];
	snprintf(p, 512,
		 "{\"asset\":\"https://x/%s.jpg\",\"externalId\":\"%s.jpg\",\"metadata\":{},"
		 "\"batches\":[],\"task\":{\"taskId\":\"%s\",\"stage\":\"S\",\"stageId\":\"%s\","
		 "\"updatedAt\":\"" T0
		 "%d.000Z\",\"tools\":[],\"classifications\":[{\"a\":\"%s\"}],"
		 "\"relations\":[]}}",
		 id, id, id, stage, sec, word);
	return p;
}

static int memfile(const char *text)
{
	int fd = memfd_create("x", 0);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* JSON array of the records given (as the hub frames it). */
static char *arr(int n, char **r)
{
	static char out[8192];
	size_t k = 0;
	k += (size_t)snprintf(out + k, sizeof(out) - k, "[");
	for (int i = 0; i < n; i++)
		k += (size_t)snprintf(out + k, sizeof(out) - k, "%s%s", i ? ",\n" : "\n", r[i]);
	snprintf(out + k, sizeof(out) - k, n ? "\n]\n" : "]\n");
	return strdup(out);
}

static char *nd(int n, char **r)
{
	static char out[8192];
	size_t k = 0;
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		k += (size_t)snprintf(out + k, sizeof(out) - k, "%s\n", r[i]);
	return strdup(out);
}

static char *slurp(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *p = calloc(1, (size_t)n + 1);
	if (pread(fd, p, (size_t)n, 0) != n)
		p[0] = '\0';
	return p;
}

static int indexed_checks;

/* Merge old and changes (after_us: the bound); *out the merged text. The
 * same merge through the old file's record index (xm_scan) must give the
 * same result, and the merged file's index must be what xm_scan makes of
 * the merged file. */
struct prog_seen {
	long long last, calls;
	int monotonic;
};

static void prog_fn(void *ud, long long bytes)
{
	struct prog_seen *p = ud;
	if (bytes < p->last)
		p->monotonic = 0;
	p->last = bytes;
	p->calls++;
}

static int dry_checks;

static int merge(const char *old, const char *changes, int ndjson, const char *stage,
		 long long after_us, struct xm_result *res, char **out)
{
	struct xm_changes ch = {0};
	struct ao_err err = {0};
	struct xm_view v = {stage, stage == NULL};
	int cfd = memfile(changes), ofd = memfile(old), dfd = memfd_create("d", 0), rc;
	int ifd = memfd_create("i", 0), d2 = memfd_create("d2", 0), i2 = memfd_create("i2", 0);
	long long n, h;

	*out = NULL;
	rc = xm_changes_load(&ch, cfd, ndjson, after_us, &err);
	if (rc == 0)
		rc = xm_merge(ofd, -1, ndjson, &ch, &v, dfd, -1, res, &err);
	if (rc == 0)
		*out = slurp(dfd);
	if (rc < 0)
		printf("  merge: %s\n", err.msg);
	lseek(ofd, 0, SEEK_SET);
	struct ao_err e2 = {0};
	if (ch.n && xm_scan(ofd, ndjson, ifd, &n, &h, &e2) == 0) {
		struct xm_result r2;
		lseek(ifd, 0, SEEK_SET);
		/* a dry run (exports/stream.c) proves the same result and size, writing
		 * nothing; then the real one tells its progress up to that size */
		struct xm_result rd;
		struct ao_err ed = {0};
		int rcd = xm_merge_p(ofd, ifd, ndjson, &ch, &v, -1, -1, NULL, &rd, &ed);
		CHECK_INT(rcd, rc);
		lseek(ofd, 0, SEEK_SET);
		lseek(ifd, 0, SEEK_SET);
		struct prog_seen ps = {0, 0, 1};
		struct xm_progress pr = {prog_fn, &ps};
		int rc2 = xm_merge_p(ofd, ifd, ndjson, &ch, &v, d2, i2, &pr, &r2, &e2);
		if (rc == 0 && rcd == 0 && rc2 == 0) {
			CHECK_INT(rd.size, (long long)strlen(*out));
			CHECK_INT(rd.records, res->records);
			CHECK_INT(rd.same, res->same);
			CHECK_INT(r2.size, rd.size);
			CHECK_INT(ps.last, rd.size); /* the last progress: every byte */
			CHECK_INT(ps.monotonic, 1);
			dry_checks++;
		}
		if (rc2 != rc)
			printf("  indexed: %s\n", e2.msg);
		CHECK_INT(rc2, rc);
		if (rc == 0 && rc2 == 0) {
			char *o2 = slurp(d2), *ix2 = slurp(i2);
			CHECK_STR(o2, *out);
			CHECK_INT(r2.records, res->records);
			CHECK_INT(r2.hwm_us, res->hwm_us);
			/* the merged file's index = a fresh scan's */
			int i3 = memfd_create("i3", 0);
			lseek(d2, 0, SEEK_SET);
			CHECK_INT(xm_scan(d2, ndjson, i3, &n, &h, &e2), 0);
			char *ix3 = slurp(i3);
			CHECK_STR(ix2, ix3);
			free(o2), free(ix2), free(ix3);
			close(i3);
			indexed_checks++;
		}
	}
	xm_changes_free(&ch);
	close(cfd), close(ofd), close(dfd), close(ifd), close(d2), close(i2);
	return rc;
}

static void test_replace_add_order(void)
{
	char *o[] = {rec("a", "L", 1, "x"), rec("b", "L", 2, "x"), rec("c", "R", 3, "x")};
	char *c[] = {rec("b", "R", 6, "y"), rec("d", "L", 7, "z"), rec("e", "L", 8, "z")};
	char *w[] = {o[0], c[0], o[2], c[1], c[2]};
	char *old = arr(3, o), *chg = arr(3, c), *want = arr(5, w), *got;
	struct xm_result r;

	CHECK_INT(merge(old, chg, 0, NULL, B5, &r, &got), 0);
	CHECK_STR(got, want);
	CHECK_INT(r.records, 5);
	CHECK_INT(r.replaced, 1);
	CHECK_INT(r.added, 2);
	CHECK_INT(r.kept, 2);
	long long us;
	xm_parse_time(T0 "8.000Z", strlen(T0 "8.000Z"), &us);
	CHECK_INT(r.hwm_us, us);
	free(got);
	/* NDJSON: the same, one record per line */
	char *ndo = nd(3, o), *ndc = nd(3, c), *ndw = nd(5, w);
	CHECK_INT(merge(ndo, ndc, 1, NULL, B5, &r, &got), 0);
	CHECK_STR(got, ndw);
	free(got);
	free(old), free(chg), free(want), free(ndo), free(ndc), free(ndw);
}

static void test_stage_view(void)
{
	char *o[] = {rec("a", "L", 1, "x"), rec("b", "L", 2, "x"), rec("c", "L", 3, "x")};
	/* b left stage L (now R); c changed within L */
	char *c[] = {rec("b", "R", 6, "y"), rec("c", "L", 7, "y")};
	char *w[] = {o[0], c[1]};
	char *old = arr(3, o), *chg = arr(2, c), *want = arr(2, w), *got;
	struct xm_result r;

	CHECK_INT(merge(old, chg, 0, "L", B5, &r, &got), 0);
	CHECK_STR(got, want);
	CHECK_INT(r.removed, 1);
	CHECK_INT(r.replaced, 1);
	free(got);
	/* a task entered L: its place is unknown */
	char *c2[] = {rec("z", "L", 8, "y")};
	char *chg2 = arr(1, c2);
	CHECK_INT(merge(old, chg2, 0, "L", B5, &r, &got), -EAGAIN);
	/* every task left: an empty array framed as the hub frames one */
	char *c3[] = {rec("a", "R", 6, "y"), rec("b", "R", 6, "y"), rec("c", "R", 6, "y")};
	char *chg3 = arr(3, c3);
	CHECK_INT(merge(old, chg3, 0, "L", B5, &r, &got), 0);
	CHECK_STR(got, "[]\n");
	free(got);
	/* and from an empty one, a new task in the whole project */
	char *c4[] = {rec("n", "L", 9, "q")};
	char *chg4 = arr(1, c4), *want4 = arr(1, c4);
	CHECK_INT(merge("[]\n", chg4, 0, NULL, B5, &r, &got), 0);
	CHECK_STR(got, want4);
	free(got);
	free(old), free(chg), free(want), free(chg2), free(chg3), free(chg4), free(want4);
}

static void test_refusals(void)
{
	char *o[] = {rec("a", "L", 1, "x"), rec("a", "L", 2, "x")};
	char *c[] = {rec("a", "L", 6, "y")};
	char *old = arr(2, o), *chg = arr(1, c), *got;
	struct xm_result r;

	/* a changed task twice in the old file */
	CHECK_INT(merge(old, chg, 0, NULL, B5, &r, &got), -EEXIST);
	/* twice in the incremental export */
	char *c2[] = {rec("a", "L", 6, "y"), rec("a", "L", 7, "y")};
	char *chg2 = arr(2, c2);
	CHECK_INT(merge(old, chg2, 0, NULL, B5, &r, &got), -EEXIST);
	/* the hub ignored the updatedAt filter: a record not newer than the bound */
	char *c3[] = {rec("a", "L", 4, "y")};
	char *chg3 = arr(1, c3);
	CHECK_INT(merge(old, chg3, 0, NULL, B5, &r, &got), -ERANGE);
	/* malformed: not JSON, no task id, truncated, not an array */
	CHECK_INT(merge(old, "[\n{\"task\":{\"taskId\":\"a\",]\n", 0, NULL, 0, &r, &got), -EINVAL);
	CHECK_INT(merge(old, "[\n{\"task\":{\"stageId\":\"L\"}}\n]\n", 0, NULL, 0, &r, &got),
		  -EINVAL);
	CHECK_INT(merge(old, "[\n{\"task\":{", 0, NULL, 0, &r, &got), -EINVAL);
	CHECK_INT(merge(old, "{\"a\":1}", 0, NULL, 0, &r, &got), -EINVAL);
	/* a malformed old file */
	CHECK_INT(merge("[\n{\"x\":1}\n]\n", chg, 0, NULL, B5, &r, &got), -EINVAL);
	free(old), free(chg), free(chg2), free(chg3);
}

static void test_fields_and_time(void)
{
	struct xm_fields f;
	const char *r = "{\"asset\":\"u\",\"task\":{\"taskId\":\"t\\u0031\",\"stageId\":\"S\","
			"\"updatedAt\":\"2026-01-01T00:00:01.5Z\"}}";
	CHECK_INT(xm_fields(r, strlen(r), &f), 0);
	CHECK_STR(f.task_id, "t1");
	CHECK_INT(f.updated_us, 1767225601500000LL);
	char t[40];
	xm_format_time(1767225601500000LL, t, sizeof(t));
	CHECK_STR(t, "2026-01-01T00:00:01.500000Z");
	long long us;
	CHECK_INT(xm_parse_time("2026-01-01 00:00:01Z", 20, &us), -EINVAL);
	long long n, h;
	struct ao_err err = {0};
	char *o[] = {rec("a", "L", 3, "x"), rec("b", "L", 2, "x")};
	char *old = arr(2, o);
	int fd = memfile(old);
	CHECK_INT(xm_scan(fd, 0, -1, &n, &h, &err), 0);
	CHECK_INT(n, 2);
	CHECK(h > 0);
	close(fd);
	free(old);
}

int main(void)
{
	test_replace_add_order();
	test_stage_view();
	test_refusals();
	test_fields_and_time();
	CHECK(indexed_checks >= 4);
	CHECK(dry_checks >= 4);
	return t_done("xmerge");
}
