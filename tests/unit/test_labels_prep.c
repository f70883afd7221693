/*
 * test_labels_prep.c - drop-box file -> normalized items and chunk plan:
 * item shapes, export records mapped by title, identity checks, attachments
 * (both shapes and the request body), chunk limits by count and by bytes,
 * line ranges per chunk, and the exact request bodies built from chunks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/write/labels_prep.h"
#include "schema_fixture.h"
#include "t.h"

static struct schema *S;

static int tmpfd(const char *content)
{
	char path[] = "/tmp/test_prep_XXXXXX";
	int fd = mkstemp(path);

	unlink(path);
	if (content && write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		return -1;
	return fd;
}

static int run(const char *in, enum drop_kind k, long max_items, size_t max_bytes,
	       struct prep_result *res, int *out, struct ao_err *e)
{
	int ifd = tmpfd(in), r;

	*out = tmpfd(NULL);
	ao_err_clear(e);
	r = prep_labels(ifd, *out, -1, k, k == DK_LABELS ? S : NULL, max_items, max_bytes, res, e);
	close(ifd);
	return r;
}

static void shapes(void)
{
	struct prep_result res;
	struct ao_err e;
	int out;
	char *body;
	size_t len;
	json_t *j;

	/* flat, answer-wrapped, tools->objects; NDJSON */
	CHECK_INT(
	    run("{\"externalId\":\"a\",\"objects\":[{\"schemaId\":\"t-carpt\",\"point\":[1,2]}]}\n"
		"{\"assetId\":\"b\",\"answer\":{\"tools\":[],\"classifications\":[{\"schemaId\":"
		"\"c-weather\",\"answer\":\"Sunny\"}]}}\n"
		"{\"data\":\"c.jpg\",\"tools\":[]}\n",
		DK_LABELS, 0, 0, &res, &out, &e),
	    0);
	CHECK_INT(res.items, 3);
	CHECK_INT(res.form, LP_NDJSON);
	CHECK_INT(res.nchunks, 1);
	CHECK_INT(prep_chunk_body(out, &res.chunks[0], "p1", DK_LABELS, &body, &len, &e), 0);
	j = json_loadb(body, len, 0, NULL);
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "project")), "p1");
	CHECK_INT(json_array_size(json_object_get(j, "jsonContent")), 3);
	/* the wrapped item goes flat, as the SDK sends jsonContent items */
	CHECK(json_object_get(json_array_get(json_object_get(j, "jsonContent"), 1), "answer") ==
	      NULL);
	CHECK(json_object_get(json_array_get(json_object_get(j, "jsonContent"), 1), "objects") !=
	      NULL);
	CHECK(json_object_get(json_array_get(json_object_get(j, "jsonContent"), 1),
			      "classifications") != NULL);
	CHECK(json_object_get(json_array_get(json_object_get(j, "jsonContent"), 2), "objects"));
	json_decref(j);
	free(body);
	prep_result_free(&res);
	close(out);

	/* export records from another project: mapped by title */
	CHECK_INT(run("[{\"asset\":\"u\",\"externalId\":\"img1\",\"task\":{\"taskId\":\"x\","
		      "\"tools\":[{\"schemaId\":\"X1\",\"title\":\"Car\",\"objectId\":\"o1\","
		      "\"bounding-box\":{\"x\":0,\"y\":0,\"width\":5,\"height\":5}}],"
		      "\"classifications\":[{\"schemaId\":\"X6\",\"title\":\"Weather\",\"answer\":"
		      "\"Rainy\"}],\"relations\":[]}}]",
		      DK_LABELS, 0, 0, &res, &out, &e),
		  0);
	CHECK_INT(res.export_records, 1);
	CHECK_INT(prep_chunk_body(out, &res.chunks[0], "p", DK_LABELS, &body, &len, &e), 0);
	CHECK(strstr(body, "\"t-car\"") != NULL);
	CHECK(strstr(body, "\"c-weather\"") != NULL);
	CHECK(strstr(body, "\"taskId\"") == NULL);
	CHECK(strstr(body, "\"externalId\":\"img1\"") != NULL);
	free(body);
	prep_result_free(&res);
	close(out);

	CHECK_INT(run("[{\"externalId\":\"img1\",\"task\":{\"tools\":[{\"schemaId\":\"X1\","
		      "\"title\":\"Bus\",\"bounding-box\":{\"x\":0,\"y\":0,\"width\":5,"
		      "\"height\":5}}]}}]",
		      DK_LABELS, 0, 0, &res, &out, &e),
		  -EINVAL);
	CHECK(strstr(e.msg, "cannot map tool 'Bus' (bounding-box)") != NULL);
	prep_result_free(&res);
	close(out);

	/* problems are all collected, with line and item */
	CHECK_INT(run("[{\"objects\":[]},\n{\"externalId\":\"a\"},\n{\"externalId\":\"b\","
		      "\"objects\":[{\"schemaId\":\"bad\",\"point\":[1,2]}]},\n"
		      "{\"externalId\":5,\"objects\":[]}]",
		      DK_LABELS, 0, 0, &res, &out, &e),
		  -EINVAL);
	CHECK_INT(res.rep.count, 4);
	CHECK(strstr(e.msg, "line 1 (item 1): item has neither \"externalId\"") != NULL);
	CHECK(strstr(e.msg, "and 3 more") != NULL);
	CHECK(strstr(res.rep.text, "line 2 (item 2): item has no labels") != NULL);
	CHECK(strstr(res.rep.text, "line 3 (item 3): objects[0]: unknown schemaId 'bad'") != NULL);
	CHECK(strstr(res.rep.text, "line 4 (item 4): \"externalId\" must be a non-empty string"));
	prep_result_free(&res);
	close(out);

	CHECK_INT(run("[]", DK_LABELS, 0, 0, &res, &out, &e), -EINVAL);
	CHECK(strstr(e.msg, "no items") != NULL);
	prep_result_free(&res);
	close(out);
}

static void attachments(void)
{
	struct prep_result res;
	struct ao_err e;
	int out;
	char *body;
	size_t len;

	CHECK_INT(run("{\"project\":\"p\",\"attachments\":[{\"externalId\":\"a\",\"attachmentUrl\":"
		      "\"https://x/y.pdf\",\"attachmentType\":\"pdf\"},{\"externalId\":\"b\","
		      "\"attachments\":[{\"type\":\"TEXT\",\"value\":\"hello\"}]}]}",
		      DK_ATTACHMENTS, 0, 0, &res, &out, &e),
		  0);
	CHECK_INT(res.items, 2);
	CHECK_INT(res.form, LP_BODY);
	CHECK_INT(prep_chunk_body(out, &res.chunks[0], "p2", DK_ATTACHMENTS, &body, &len, &e), 0);
	CHECK(!strncmp(body, "{\"project\":\"p2\",\"attachments\":[{", 32));
	free(body);
	prep_result_free(&res);
	close(out);

	CHECK_INT(
	    run("{\"externalId\":\"b\",\"attachments\":[{\"type\":\"AUDIO\",\"value\":\"x\"}]}\n"
		"{\"externalId\":\"c\"}\n",
		DK_ATTACHMENTS, 0, 0, &res, &out, &e),
	    -EINVAL);
	CHECK_INT(res.rep.count, 2);
	CHECK(strstr(res.rep.text, "\"type\" must be \"IMAGE\"") != NULL);
	CHECK(strstr(res.rep.text, "line 2 (item 2): item has neither \"attachmentUrl\"") != NULL);
	prep_result_free(&res);
	close(out);
}

static void chunking(void)
{
	struct prep_result res;
	struct ao_err e;
	int out, i;
	char *in = malloc(1 << 20), *body;
	size_t used = 0, len;
	long total = 0;

	used += (size_t)sprintf(in + used, "[\n");
	for (i = 0; i < 2500; i++)
		used += (size_t)sprintf(in + used,
					"{\"externalId\":\"img-%d\",\"objects\":[{\"schemaId\":"
					"\"t-carpt\",\"point\":[%d,1]}]}%s\n",
					i, i, i < 2499 ? "," : "");
	sprintf(in + used, "]\n");
	CHECK_INT(run(in, DK_LABELS, 1000, 0, &res, &out, &e), 0);
	CHECK_INT(res.items, 2500);
	CHECK_INT(res.nchunks, 3);
	CHECK_INT(res.chunks[0].count, 1000);
	CHECK_INT(res.chunks[2].count, 500);
	CHECK_INT(res.chunks[1].first, 1000);
	CHECK_INT(res.chunks[1].line_first, 1002);
	CHECK_INT(res.chunks[1].line_last, 2001);
	for (i = 0; i < 3; i++) {
		json_t *j;

		CHECK_INT(prep_chunk_body(out, &res.chunks[i], "p", DK_LABELS, &body, &len, &e), 0);
		j = json_loadb(body, len, 0, NULL);
		CHECK(j != NULL);
		total += (long)json_array_size(json_object_get(j, "jsonContent"));
		if (i == 2)
			CHECK_STR(json_string_value(json_object_get(
				      json_array_get(json_object_get(j, "jsonContent"), 499),
				      "externalId")),
				  "img-2499");
		json_decref(j);
		free(body);
	}
	CHECK_INT(total, 2500);
	prep_result_free(&res);
	close(out);

	/* the source line of every item, for naming refused items */
	{
		int ifd = tmpfd(in), lfd = tmpfd(NULL), ofd = tmpfd(NULL);
		long long line = 0;

		CHECK_INT(prep_labels(ifd, ofd, lfd, DK_LABELS, S, 1000, 0, &res, &e), 0);
		CHECK_INT(pread(lfd, &line, sizeof(line), 1500 * (off_t)sizeof(line)),
			  sizeof(line));
		CHECK_INT(line, 1502);
		CHECK_INT(lseek(lfd, 0, SEEK_END), 2500 * (off_t)sizeof(line));
		prep_result_free(&res);
		close(ifd);
		close(lfd);
		close(ofd);
	}

	/* by bytes: each item ~90 bytes, limit 4 KB -> chunks of <= 4 KB */
	CHECK_INT(run(in, DK_LABELS, 1000, 4096, &res, &out, &e), 0);
	CHECK(res.nchunks > 50);
	for (i = 0; i < (int)res.nchunks; i++)
		CHECK(res.chunks[i].len + 256 <= 4096);
	prep_result_free(&res);
	close(out);
	free(in);
}

int main(void)
{
	struct ao_err e;
	json_t *cs = fixture_load(fixture_schema);

	S = sc_new(cs, &e);
	shapes();
	attachments();
	chunking();
	sc_free(S);
	json_decref(cs);
	return t_done("labels_prep");
}
