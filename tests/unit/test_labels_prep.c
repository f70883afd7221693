/*
 * test_labels_prep.c - drop-box file -> normalized items and chunk plan:
 * item shapes, export records mapped by title, identity checks, attachments
 * (both shapes and the request body), chunk limits by count and by bytes,
 * line ranges per chunk, and the exact request bodies built from chunks;
 * streaming: which files hand chunks over before their end, the forced cuts
 * of a resumed file, and nothing handed over once a problem is known.
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

/* What a streaming callback saw: each chunk, and how much of the items file
 * was written (and where the parse stood in the input) when it came. */
struct seen {
	int in_fd, out_fd;
	size_t n;
	struct prep_chunk c[64];
	off_t in_at[64], out_at[64];
};

static int on_chunk(void *ud, size_t index, const struct prep_chunk *c)
{
	struct seen *s = ud;

	if (index != s->n || s->n == 64)
		return -EIO;
	s->c[s->n] = *c;
	s->in_at[s->n] = lseek(s->in_fd, 0, SEEK_CUR);
	s->out_at[s->n++] = lseek(s->out_fd, 0, SEEK_END);
	return 0;
}

/* n items of ~1 KB (NDJSON, or a JSON array); item bad (1-based) has an
 * unknown schemaId */
static char *big(int n, int array, int bad)
{
	size_t cap = (size_t)n * 1200 + 16, len = 0;
	char *b = malloc(cap), pad[1001];

	memset(pad, 'x', 1000);
	pad[1000] = '\0';
	len += (size_t)snprintf(b + len, cap - len, "%s", array ? "[\n" : "");
	for (int i = 1; i <= n; i++)
		len += (size_t)snprintf(
		    b + len, cap - len,
		    "{\"externalId\":\"img-%d-%s\",\"objects\":[{\"schemaId\":\"%s\","
		    "\"point\":[1,2]}]}%s\n",
		    i, pad, i == bad ? "t-nope" : "t-carpt", array && i < n ? "," : "");
	snprintf(b + len, cap - len, "%s", array ? "]\n" : "");
	return b;
}

static int run_stream(const char *in, const long *bounds, size_t nb, struct seen *sn,
		      struct prep_result *res, struct ao_err *e)
{
	struct prep_stream st = {on_chunk, sn, bounds, nb};
	int r;

	memset(sn, 0, sizeof(*sn));
	sn->in_fd = tmpfd(in);
	sn->out_fd = tmpfd(NULL);
	ao_err_clear(e);
	lseek(sn->in_fd, 0, SEEK_SET);
	r = prep_labels_stream(sn->in_fd, sn->out_fd, -1, DK_LABELS, S, 100, 0, &st, res, e);
	close(sn->in_fd);
	close(sn->out_fd);
	return r;
}

static void streaming(void)
{
	static const long bounds[] = {30, 250};
	struct prep_result res;
	struct seen sn;
	struct ao_err e;
	char *in = big(1000, 0, 0);
	size_t i;

	/* NDJSON (1 MB, parsed in 256 KB blocks): chunk 1 is handed over with
	 * its items written, long before the parse reached the end */
	CHECK_INT(run_stream(in, NULL, 0, &sn, &res, &e), 0);
	CHECK_INT(sn.n, 10);
	CHECK_INT(res.nchunks, 10);
	CHECK(sn.in_at[0] < (off_t)strlen(in) / 2);
	CHECK(sn.out_at[0] >= (off_t)(sn.c[0].off + (off_t)sn.c[0].len));
	for (i = 0; i < sn.n; i++)
		CHECK_INT(sn.c[i].first, (long)i * 100);
	prep_result_free(&res);

	/* resumed: the first chunks are cut where the recorded ones ended */
	CHECK_INT(run_stream(in, bounds, 2, &sn, &res, &e), 0);
	CHECK_INT(sn.c[0].count, 30);
	CHECK_INT(sn.c[1].count, 250);
	CHECK_INT(sn.c[2].first, 280);
	CHECK_INT(sn.c[2].count, 100);
	CHECK_INT(sn.c[sn.n - 1].first + sn.c[sn.n - 1].count, 1000);
	prep_result_free(&res);
	free(in);

	/* a bad last item: the chunks before it went, none after the problem */
	in = big(1000, 0, 1000);
	CHECK_INT(run_stream(in, NULL, 0, &sn, &res, &e), -EINVAL);
	CHECK_INT(sn.n, 9);
	CHECK(strstr(e.msg, "line 1000 (item 1000)") != NULL);
	prep_result_free(&res);
	/* a bad item in chunk 3: chunks 1 and 2 only */
	free(in);
	in = big(1000, 0, 250);
	CHECK_INT(run_stream(in, NULL, 0, &sn, &res, &e), -EINVAL);
	CHECK_INT(sn.n, 2);
	prep_result_free(&res);
	free(in);

	/* a flat item goes as written (its own bytes); one with "tools" or an
	 * "answer" wrapper is normalized */
	{
		static const char two[] = "{\"externalId\": \"caf\xc3\xa9\", \"objects\": []}\n"
					  "{\"externalId\":\"b\",\"tools\":[]}\n";
		struct prep_result r2;
		char buf[256] = "";
		int out;

		CHECK_INT(run(two, DK_LABELS, 0, 0, &r2, &out, &e), 0);
		CHECK(pread(out, buf, sizeof(buf) - 1, 0) > 0);
		CHECK_STR(buf, "{\"externalId\": \"caf\xc3\xa9\", \"objects\": []}\n"
			       "{\"externalId\":\"b\",\"objects\":[]}\n");
		prep_result_free(&r2);
		close(out);
	}

	/* a JSON array: nothing before its end, then every chunk */
	in = big(1000, 1, 0);
	CHECK_INT(run_stream(in, NULL, 0, &sn, &res, &e), 0);
	CHECK_INT(sn.n, 10);
	CHECK_INT(sn.in_at[0], (off_t)strlen(in));
	prep_result_free(&res);
	free(in);
	in = big(1000, 1, 1000);
	CHECK_INT(run_stream(in, NULL, 0, &sn, &res, &e), -EINVAL);
	CHECK_INT(sn.n, 0);
	prep_result_free(&res);
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
	streaming();
	sc_free(S);
	json_decref(cs);
	return t_done("labels_prep");
}
