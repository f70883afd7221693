/* Unit test of angofs-hub's categorySchema validation (answer_canonical). */
#include <string.h>

#include "hubd.h"
#include "t.h"

static const char *schema_text =
    "{\"tools\":[{\"tool\":\"bounding-box\",\"title\":\"Car\",\"schemaId\":\"car\","
    "\"classifications\":[{\"tool\":\"radio\",\"title\":\"Occluded\",\"schemaId\":\"occ\","
    "\"classifications\":[{\"tool\":\"text\",\"title\":\"Why\",\"schemaId\":\"why\"}]}]},"
    "{\"tool\":\"polygon\",\"title\":\"Road\",\"schemaId\":\"road\"},"
    "{\"tool\":\"point\",\"title\":\"Light\",\"schemaId\":\"light\"}],"
    "\"classifications\":[{\"tool\":\"checkbox\",\"title\":\"Attrs\",\"schemaId\":\"attrs\"},"
    "{\"tool\":\"radio\",\"title\":\"Weather\",\"schemaId\":\"weather\"}],"
    "\"relations\":[{\"tool\":\"one-to-one\",\"title\":\"Follows\",\"schemaId\":\"fol\"},"
    "{\"tool\":\"group\",\"title\":\"Convoy\",\"schemaId\":\"conv\"}]}";

static json_t *schema;

/* Validate answer text; returns the canonical form or NULL with err filled. */
static json_t *check(const char *answer, char *err, size_t len)
{
	json_t *a = json_loads(answer, JSON_DECODE_ANY, NULL), *c;

	err[0] = 0;
	c = answer_canonical(schema, a, "", err, len);
	json_decref(a);
	return c;
}

static void expect_error(const char *answer, const char *word)
{
	char err[512];
	json_t *c = check(answer, err, sizeof(err));

	CHECK(c == NULL);
	CHECK(strstr(err, word) != NULL);
	if (!strstr(err, word))
		fprintf(stderr, "  answer %s\n  message \"%s\" lacks \"%s\"\n", answer, err, word);
	json_decref(c);
}

int main(void)
{
	char err[512];
	json_t *c;

	schema = json_loads(schema_text, 0, NULL);
	CHECK(schema != NULL);

	c = check(
	    "{\"objects\":[{\"schemaId\":\"car\",\"objectId\":\"a\",\"bounding-box\":"
	    "{\"x\":1,\"y\":2,\"width\":-3,\"height\":4},\"classifications\":[{\"schemaId\":"
	    "\"occ\",\"answer\":\"Yes\",\"classifications\":[{\"schemaId\":\"why\",\"answer\":"
	    "\"tree\"}]}]},{\"title\":\"Car\",\"objectId\":\"b\",\"bounding-box\":{\"x\":1,"
	    "\"y\":2,\"width\":3,\"height\":4}}],\"classifications\":[{\"schemaId\":\"attrs\","
	    "\"answer\":[]}],\"relations\":[{\"schemaId\":\"fol\",\"from\":\"a\",\"to\":\"b\"},"
	    "{\"schemaId\":\"conv\",\"group\":[\"a\",\"b\"]}]}",
	    err, sizeof(err));
	CHECK(c != NULL);
	if (!c)
		fprintf(stderr, "  unexpected error: %s\n", err);
	CHECK(json_object_get(c, "objects") == NULL);
	CHECK_INT(json_array_size(json_object_get(c, "tools")), 2);
	/* mapped by title, title/tool filled in */
	CHECK_STR(json_string_value(
		      json_object_get(json_array_get(json_object_get(c, "tools"), 1), "schemaId")),
		  "car");
	CHECK_STR(json_string_value(json_object_get(
		      json_array_get(json_object_get(c, "classifications"), 0), "tool")),
		  "checkbox");
	json_decref(c);

	c = check("{}", err, sizeof(err));
	CHECK(c && json_array_size(json_object_get(c, "tools")) == 0 &&
	      json_is_array(json_object_get(c, "relations")));
	json_decref(c);

	expect_error("{\"objects\":[{\"schemaId\":\"truck\",\"bounding-box\":{}}]}", "\"truck\"");
	expect_error("{\"objects\":[{\"schemaId\":\"car\",\"bounding-box\":{\"x\":1,\"y\":2,"
		     "\"width\":3,\"height\":4},\"classifications\":[{\"schemaId\":\"occ\","
		     "\"answer\":\"Yes\",\"classifications\":[{\"schemaId\":\"deep\",\"answer\":"
		     "\"x\"}]}]}]}",
		     "\"deep\"");
	expect_error("{\"classifications\":[{\"schemaId\":\"occ\",\"answer\":\"Yes\"}]}",
		     "\"occ\"");
	expect_error("{\"relations\":[{\"schemaId\":\"nope\",\"from\":\"a\",\"to\":\"b\"}]}",
		     "\"nope\"");
	expect_error("{\"objects\":[{\"schemaId\":\"car\",\"point\":[1,2]}]}", "point");
	expect_error("{\"objects\":[{\"schemaId\":\"road\",\"polygon\":[[1,2],[3,4]]}]}", "3");
	expect_error("{\"objects\":[{\"schemaId\":\"light\",\"point\":\"here\"}]}", "[x, y]");
	expect_error("{\"objects\":[{\"schemaId\":\"light\"}]}", "no \"point\"");
	expect_error("{\"classifications\":[{\"schemaId\":\"weather\",\"answer\":[\"a\"]}]}",
		     "string");
	expect_error("{\"classifications\":[{\"schemaId\":\"attrs\",\"answer\":[1]}]}",
		     "answer[0]");
	expect_error("{\"relations\":[{\"schemaId\":\"fol\",\"from\":\"a\",\"to\":\"b\"}]}",
		     "\"a\"");
	expect_error("{\"objects\":[],\"tools\":[]}", "both");
	expect_error("{\"objects\":{}}", "objects");
	expect_error("[1]", "JSON object");
	expect_error("{\"objects\":[{\"bounding-box\":{}}]}", "no schemaId");
	json_decref(schema);
	return t_done("hub_schema");
}
