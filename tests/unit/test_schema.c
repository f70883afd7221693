/*
 * test_schema.c - checks of label content against a categorySchema: unknown
 * schemaIds (named), wrong kind, geometry key vs tool type and shape, answer
 * types and options, relations, and mapping by title with the unmapped names.
 */
#include <stdio.h>
#include <string.h>

#include "../../src/write/schema.h"
#include "schema_fixture.h"
#include "t.h"

static struct schema *S;

static long check(const char *ans, int map, struct sc_report *r, json_t **out)
{
	json_t *a = json_loads(ans, 0, NULL);
	long n;

	CHECK(a != NULL);
	sc_report_init(r);
	n = sc_check_answer(S, a, map, "line 1 (item 1)", r);
	if (out)
		*out = a;
	else
		json_decref(a);
	return n;
}

static int has(const struct sc_report *r, const char *s)
{
	return r->text && strstr(r->text, s);
}

int main(void)
{
	struct sc_report r;
	struct ao_err e;
	json_t *cs = fixture_load(fixture_schema), *a;

	S = sc_new(cs, &e);
	CHECK(S != NULL);

	CHECK_INT(
	    check("{\"objects\":[{\"schemaId\":\"t-car\",\"objectId\":\"1\",\"bounding-box\":"
		  "{\"x\":1,\"y\":2,\"width\":-3,\"height\":4},\"classifications\":[{\"schemaId\":"
		  "\"c-occ\","
		  "\"answer\":\"yes\"}]}],\"classifications\":[{\"schemaId\":\"c-weather\","
		  "\"answer\":\"o-rain\"},{\"schemaId\":\"c-tags\",\"answer\":[\"a\",\"b\"]},"
		  "{\"schemaId\":\"c-note\",\"answer\":\"free text\"},{\"schemaId\":\"c-night\","
		  "\"answer\":true}],\"relations\":[{\"schemaId\":\"r-tows\",\"from\":\"1\","
		  "\"to\":\"1\"}]}",
		  0, &r, NULL),
	    0);
	sc_report_free(&r);

	/* brush tools carry no geometry */
	CHECK_INT(check("{\"tools\":[{\"schemaId\":\"t-brush\"}]}", 0, &r, NULL), 0);
	sc_report_free(&r);

	CHECK_INT(check("{\"objects\":[{\"schemaId\":\"nope\",\"point\":[1,2]}]}", 0, &r, NULL), 1);
	CHECK(has(&r, "unknown schemaId 'nope'"));
	CHECK(has(&r, "line 1 (item 1): objects[0]"));
	sc_report_free(&r);

	CHECK_INT(
	    check("{\"objects\":[{\"schemaId\":\"c-weather\",\"point\":[1,2]}]}", 0, &r, NULL), 1);
	CHECK(has(&r, "is a classification ('Weather'), not a tool"));
	sc_report_free(&r);

	CHECK_INT(
	    check("{\"objects\":[{\"schemaId\":\"t-car\",\"polygon\":[[1,2]]}]}", 0, &r, NULL), 1);
	CHECK(has(&r, "tool 'Car' is a bounding-box but the object has \"polygon\""));
	sc_report_free(&r);

	CHECK_INT(check("{\"objects\":[{\"schemaId\":\"t-car\"}]}", 0, &r, NULL), 1);
	CHECK(has(&r, "has no \"bounding-box\" key"));
	sc_report_free(&r);

	CHECK_INT(
	    check("{\"objects\":[{\"schemaId\":\"t-road\",\"polygon\":[[1,\"x\"]]}]}", 0, &r, NULL),
	    1);
	CHECK(has(&r, "list of [x, y] points"));
	sc_report_free(&r);

	CHECK_INT(check("{\"classifications\":[{\"schemaId\":\"c-weather\",\"answer\":[\"Sunny\"]},"
			"{\"schemaId\":\"c-tags\",\"answer\":\"a\"},{\"schemaId\":\"c-weather\","
			"\"answer\":\"Snowy\"},{\"schemaId\":\"c-night\",\"answer\":3}]}",
			0, &r, NULL),
		  4);
	CHECK(has(&r, "must be a string"));
	CHECK(has(&r, "must be a list of strings"));
	CHECK(has(&r, "'Snowy' is not an option of 'Weather' (options: 'Sunny', 'Rainy')"));
	CHECK(has(&r, "must be true or false"));
	sc_report_free(&r);

	CHECK_INT(
	    check("{\"objects\":[{\"schemaId\":\"t-carpt\",\"objectId\":\"a\",\"point\":[1,2]},"
		  "{\"schemaId\":\"t-carpt\",\"objectId\":7,\"point\":[1,2]}],\"relations\":"
		  "[{\"schemaId\":\"r-tows\",\"from\":\"a\",\"to\":\"ghost\"}]}",
		  0, &r, NULL),
	    2);
	CHECK(has(&r, "\"to\" refers to objectId 'ghost', which no object of this answer has"));
	CHECK(has(&r, "objects[1]: \"objectId\" must be a string"));
	sc_report_free(&r);

	CHECK_INT(check("{\"relations\":[{\"schemaId\":\"r-tows\",\"from\":\"1\"}],"
			"\"objects\":\"x\"}",
			0, &r, NULL),
		  2);
	CHECK(has(&r, "needs \"from\" and \"to\""));
	CHECK(has(&r, "\"objects\" must be a list"));
	sc_report_free(&r);

	/* mapping by title: export from another project */
	CHECK_INT(check("{\"objects\":[{\"schemaId\":\"X1\",\"title\":\"Car\",\"bounding-box\":"
			"{\"x\":1,\"y\":2,\"width\":3,\"height\":4},\"classifications\":[{"
			"\"schemaId\":\"X2\",\"title\":\"Occluded\",\"answer\":\"no\"}]},"
			"{\"schemaId\":\"X9\",\"title\":\"Car\",\"point\":[1,2]}],"
			"\"classifications\":[{\"schemaId\":\"X6\",\"title\":\"Weather\",\"tool\":"
			"\"radio\",\"answer\":\"Sunny\"}]}",
			1, &r, &a),
		  0);
	CHECK_INT(r.nunmapped, 0);
	CHECK_STR(json_string_value(json_object_get(
		      json_array_get(json_object_get(a, "objects"), 0), "schemaId")),
		  "t-car");
	CHECK_STR(json_string_value(json_object_get(
		      json_array_get(json_object_get(a, "objects"), 1), "schemaId")),
		  "t-carpt");
	CHECK_STR(
	    json_string_value(json_object_get(
		json_array_get(json_object_get(json_array_get(json_object_get(a, "objects"), 0),
					       "classifications"),
			       0),
		"schemaId")),
	    "c-occ");
	CHECK_STR(json_string_value(json_object_get(
		      json_array_get(json_object_get(a, "classifications"), 0), "schemaId")),
		  "c-weather");
	json_decref(a);
	sc_report_free(&r);

	check("{\"objects\":[{\"schemaId\":\"X1\",\"title\":\"Truck\",\"bounding-box\":{\"x\":1,"
	      "\"y\":2,\"width\":3,\"height\":4}},{\"schemaId\":\"X1\",\"title\":\"Truck\","
	      "\"bounding-box\":{\"x\":1,\"y\":2,\"width\":3,\"height\":4}}],\"classifications\":"
	      "[{\"schemaId\":\"X6\",\"title\":\"Weather\",\"answer\":\"Foggy\"}]}",
	      1, &r, NULL);
	CHECK_INT(r.nunmapped, 2);
	sc_report_unmapped(&r);
	CHECK(has(&r, "cannot map tool 'Truck' (bounding-box) to this project's categorySchema by "
		      "title (2 occurrences)"));
	CHECK(has(&r, "option 'Foggy' of classification 'Weather'"));
	sc_report_free(&r);

	/* report cap and summary */
	{
		char sum[256];
		int i;

		sc_report_init(&r);
		r.max_lines = 3;
		for (i = 0; i < 10; i++)
			sc_problem(&r, "w", "problem %d", i);
		CHECK_INT(r.count, 10);
		sc_report_summary(&r, sum, sizeof(sum));
		CHECK_STR(sum, "w: problem 0 (and 9 more problems)");
		CHECK(!has(&r, "problem 3"));
		sc_report_free(&r);
	}
	sc_free(S);
	json_decref(cs);
	return t_done("schema");
}
