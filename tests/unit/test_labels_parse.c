/*
 * test_labels_parse.c - the streaming splitter: every input form, positions of
 * errors (line/column), binary and UTF-8 checks, bounded item size, and that a
 * file read through the fd path gives the same items as the memory path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/write/labels_parse.h"
#include "t.h"

struct got {
	long n;
	char ids[16][32];
	long lines[16];
};

static int collect(void *ud, json_t *item, const struct lp_pos *pos, struct ao_err *err)
{
	struct got *g = ud;
	const char *id = json_string_value(json_object_get(item, "externalId"));

	if (g->n < 16) {
		snprintf(g->ids[g->n], sizeof(g->ids[0]), "%s", id ? id : "?");
		g->lines[g->n] = pos->line;
	}
	CHECK_INT(pos->index, g->n);
	g->n++;
	return 0;
}

static const char *const body_keys[] = {"jsonContent", "labels", NULL};
static const struct lp_opts opts = {body_keys, 0};

static long parse(const char *s, struct got *g, enum lp_form *f, struct ao_err *e)
{
	memset(g, 0, sizeof(*g));
	ao_err_clear(e);
	return lp_parse_mem(s, strlen(s), &opts, collect, g, f, e);
}

static void forms(void)
{
	struct got g;
	struct ao_err e;
	enum lp_form f;

	CHECK_INT(parse("[{\"externalId\":\"a\"}, {\"externalId\":\"b\"}]", &g, &f, &e), 2);
	CHECK_INT(f, LP_ARRAY);
	CHECK_STR(g.ids[1], "b");

	CHECK_INT(parse("  {\"externalId\":\"a\",\"objects\":[]}\n", &g, &f, &e), 1);
	CHECK_INT(f, LP_OBJECT);

	CHECK_INT(
	    parse("{\"externalId\":\"a\"}\n\n{\"externalId\":\"b\"}\r\n{\"externalId\":\"c\"}", &g,
		  &f, &e),
	    3);
	CHECK_INT(f, LP_NDJSON);
	CHECK_INT(g.lines[2], 4);
	CHECK_STR(g.ids[2], "c");

	CHECK_INT(parse("{\"project\":\"p1\",\"jsonContent\":[{\"externalId\":\"x\"},\n"
			"{\"externalId\":\"y\",\"n\":[1,{\"jsonContent\":[]}]}],\"extra\":{}}",
			&g, &f, &e),
		  2);
	CHECK_INT(f, LP_BODY);
	CHECK_STR(g.ids[1], "y");
	CHECK_INT(g.lines[1], 2);

	CHECK_INT(parse("{\"labels\":[{\"externalId\":\"x\"}],\"project\":\"p\"}", &g, &f, &e), 1);
	CHECK_INT(f, LP_BODY);

	CHECK_INT(parse("[]", &g, &f, &e), 0);
	CHECK_INT(f, LP_ARRAY);

	/* a UTF-8 BOM is skipped; strings with brackets and escapes */
	CHECK_INT(parse("\xef\xbb\xbf[{\"externalId\":\"a]\\\"}\"}]", &g, &f, &e), 1);
	CHECK_STR(g.ids[0], "a]\"}");
	CHECK_INT(parse("[{\"externalId\":\"caf\xc3\xa9\"}]", &g, &f, &e), 1);
}

static void errors(void)
{
	struct got g;
	struct ao_err e;
	enum lp_form f;

	CHECK_INT(parse("", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "empty file") != NULL);
	CHECK_INT(parse(" \n\t ", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "empty file") != NULL);

	CHECK_INT(parse("[{\"externalId\":\"a\"},\n {\"externalId\" \"b\"}]", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "line 2, column") != NULL);
	CHECK(strstr(e.msg, "item 2") != NULL);

	CHECK_INT(parse("[{\"a\":1},]", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "trailing comma") != NULL);
	CHECK_INT(parse("[,{\"a\":1}]", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "line 1, column 2") != NULL);

	CHECK_INT(parse("[{\"a\":1}\n", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "not closed") != NULL);
	CHECK(strstr(e.msg, "line 1, column 1") != NULL);

	CHECK_INT(parse("{\"a\":\"unterminated}", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "inside a string") != NULL);

	CHECK_INT(parse("[1, 2]", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "is a number") != NULL);

	CHECK_INT(parse("\"just a string\"", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "expected a JSON array") != NULL);

	CHECK_INT(parse("[{\"a\":1}] {\"b\":2}", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "after the end") != NULL);

	CHECK_INT(parse("{\"a\":1}\n[1]", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "line 2, column 1") != NULL);

	CHECK_INT(parse("[{\"a\":1}}]", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "column 9") != NULL);

	{
		static const char bin[] = "\x89PNG\r\n\x1a\n\0\0";
		memset(&g, 0, sizeof(g));
		CHECK_INT(lp_parse_mem(bin, sizeof(bin) - 1, &opts, collect, &g, &f, &e), -EINVAL);
		CHECK(strstr(e.msg, "UTF-8") != NULL || strstr(e.msg, "binary") != NULL);
	}
	{
		static const char nul[] = "[{\"a\":1}\0]";
		CHECK_INT(lp_parse_mem(nul, sizeof(nul) - 1, &opts, collect, &g, &f, &e), -EINVAL);
		CHECK(strstr(e.msg, "binary data") != NULL);
	}
	CHECK_INT(parse("[{\"a\":\"\xff\"}]", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "invalid UTF-8") != NULL);
	CHECK(strstr(e.msg, "column 8") != NULL);

	/* bounded item size */
	{
		struct lp_opts small = {body_keys, 16};
		const char *s = "[{\"externalId\":\"aaaaaaaaaaaaaaaaaaaaaaaaaa\"}]";
		CHECK_INT(lp_parse_mem(s, strlen(s), &small, collect, &g, &f, &e), -EFBIG);
	}
	/* a second body is refused */
	CHECK_INT(parse("{\"a\":1}\n{\"jsonContent\":[]}", &g, &f, &e), -EINVAL);
	CHECK(strstr(e.msg, "only JSON value") != NULL);
}

static int stop_at_2(void *ud, json_t *item, const struct lp_pos *pos, struct ao_err *err)
{
	return pos->index == 1 ? ao_errf(err, ECANCELED, "stop") : 0;
}

static void fd_path(void)
{
	char path[] = "/tmp/test_lp_XXXXXX";
	int fd = mkstemp(path);
	struct got g;
	struct ao_err e;
	enum lp_form f;
	long i, n = 20000;
	FILE *fp;

	CHECK(fd >= 0);
	fp = fdopen(fd, "w+");
	fputs("[\n", fp);
	for (i = 0; i < n; i++)
		fprintf(fp,
			"  {\"externalId\": \"img-%ld\", \"objects\": [{\"schemaId\": \"s\", "
			"\"point\": [%ld, 2]}]}%s\n",
			i, i, i + 1 < n ? "," : "");
	fputs("]\n", fp);
	fflush(fp);
	lseek(fd, 0, SEEK_SET);
	memset(&g, 0, sizeof(g));
	CHECK_INT(lp_parse_fd(fd, &opts, collect, &g, &f, &e), n);
	CHECK_INT(g.lines[3], 5);
	lseek(fd, 0, SEEK_SET);
	CHECK_INT(lp_parse_fd(fd, &opts, stop_at_2, NULL, &f, &e), -ECANCELED);
	fclose(fp);
	unlink(path);
}

int main(void)
{
	forms();
	errors();
	fd_path();
	return t_done("labels_parse");
}
