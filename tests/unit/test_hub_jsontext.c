/* Unit test of angofs-hub's JSON text helpers (export splicing). */
#include <stdlib.h>
#include <string.h>

#include "hubd.h"
#include "t.h"

static char *strip(const char *in)
{
	char *out = NULL;
	size_t n = 0;

	if (jt_strip_key(in, strlen(in), "metadata", &out, &n) < 0)
		return NULL;
	CHECK_INT(n, strlen(out));
	return out;
}

static void check_strip(const char *in, const char *want)
{
	char *got = strip(in);

	CHECK_STR(got, want);
	/* the result is still valid JSON */
	if (got) {
		json_t *j = json_loads(got, JSON_DECODE_ANY, NULL);
		CHECK(j != NULL);
		json_decref(j);
	}
	free(got);
}

struct sbuf {
	char b[256];
	size_t n;
};

static void put(void *ud, const char *p, size_t n)
{
	struct sbuf *s = ud;

	memcpy(s->b + s->n, p, n);
	s->n += n;
	s->b[s->n] = 0;
}

int main(void)
{
	struct sbuf s = {{0}, 0};
	const char *v = "{\"a\":[1,{\"b\":\"}\"}],\"c\":2}";

	/* skip_value */
	CHECK_INT(jt_skip_value(v, strlen(v), 0), strlen(v));
	CHECK_INT(jt_skip_value(v, strlen(v), 5), 18); /* [1,{"b":"}"}] */
	CHECK_INT(jt_skip_value("  -1.5e3,", 9, 0), 8);
	CHECK_INT(jt_skip_value("\"x\\\"y\" ", 7, 0), 6);
	CHECK(jt_skip_value("[1,2", 4, 0) == (size_t)-1);
	CHECK(jt_skip_value("\"open", 5, 0) == (size_t)-1);
	CHECK(jt_skip_value("   ", 3, 0) == (size_t)-1);

	/* strip: first, middle, last, only member; nested; arrays of objects */
	check_strip("{\"metadata\":{\"x\":1},\"a\":1}", "{\"a\":1}");
	check_strip("{\"a\":1,\"metadata\":{\"x\":[1,2]},\"b\":2}", "{\"a\":1,\"b\":2}");
	check_strip("{\"a\":1,\"metadata\":null}", "{\"a\":1}");
	check_strip("{\"metadata\":\"x\"}", "{}");
	check_strip("{\"tools\":[{\"s\":1,\"metadata\":{\"by\":\"me\"},\"classifications\":"
		    "[{\"metadata\":{},\"answer\":\"a\"}]}],\"relations\":[]}",
		    "{\"tools\":[{\"s\":1,\"classifications\":[{\"answer\":\"a\"}]}],"
		    "\"relations\":[]}");
	/* the word as a value or inside a string is not a key */
	check_strip("{\"a\":\"metadata\",\"b\":[\"metadata\"],\"c\":\"x\\\"metadata\\\":1\"}",
		    "{\"a\":\"metadata\",\"b\":[\"metadata\"],\"c\":\"x\\\"metadata\\\":1\"}");
	/* whitespace around members */
	check_strip("{ \"a\" : 1 , \"metadata\" : { \"x\" : 1 } , \"b\" : 2 }",
		    "{ \"a\" : 1  , \"b\" : 2 }");
	check_strip("{\"metadatax\":1,\"xmetadata\":2}", "{\"metadatax\":1,\"xmetadata\":2}");
	CHECK(strip("{\"a\":[1,2}") == NULL);
	CHECK(strip("{\"metadata\":}") == NULL);
	CHECK(strip("{\"a\":\"open}") == NULL);

	/* escape */
	jt_escape("plain é", put, &s);
	CHECK_STR(s.b, "\"plain é\"");
	s.n = 0;
	jt_escape("q\"b\\n\n\t\x01", put, &s);
	CHECK_STR(s.b, "\"q\\\"b\\\\n\\n\\t\\u0001\"");
	return t_done("hub_jsontext");
}
