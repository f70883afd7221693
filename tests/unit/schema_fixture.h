/*
 * schema_fixture.h - a small categorySchema shared by the write-side unit tests
 * (tools of several geometry types, classifications with options and nesting,
 * a relation), in the shape GET /project returns.
 */
#ifndef TEST_SCHEMA_FIXTURE_H
#define TEST_SCHEMA_FIXTURE_H

#include <jansson.h>

static const char fixture_schema[] =
    "{\"tools\":["
    " {\"tool\":\"bounding-box\",\"title\":\"Car\",\"schemaId\":\"t-car\","
    "  \"classifications\":[{\"tool\":\"radio\",\"title\":\"Occluded\",\"schemaId\":\"c-occ\","
    "   "
    "\"options\":[{\"value\":\"yes\",\"schemaId\":\"o-y\"},{\"value\":\"no\",\"schemaId\":\"o-n\"}]"
    "}]},"
    " {\"tool\":\"polygon\",\"title\":\"Road\",\"schemaId\":\"t-road\"},"
    " {\"tool\":\"point\",\"title\":\"Car\",\"schemaId\":\"t-carpt\"},"
    " {\"tool\":\"brush\",\"title\":\"Paint\",\"schemaId\":\"t-brush\"}],"
    "\"classifications\":["
    " {\"tool\":\"radio\",\"title\":\"Weather\",\"schemaId\":\"c-weather\","
    "  "
    "\"options\":[{\"value\":\"Sunny\",\"schemaId\":\"o-sun\"},{\"value\":\"Rainy\",\"schemaId\":"
    "\"o-rain\"}]},"
    " {\"tool\":\"checkbox\",\"title\":\"Tags\",\"schemaId\":\"c-tags\","
    "  "
    "\"options\":[{\"value\":\"a\",\"schemaId\":\"o-a\"},{\"value\":\"b\",\"schemaId\":\"o-b\"}]},"
    " {\"tool\":\"text\",\"title\":\"Note\",\"schemaId\":\"c-note\"},"
    " {\"tool\":\"boolean\",\"title\":\"Night\",\"schemaId\":\"c-night\"}],"
    "\"relations\":[{\"tool\":\"one-to-one\",\"title\":\"Tows\",\"schemaId\":\"r-tows\"}]}";

/* The same ontology as another project would have it: other schemaIds. */
static const char fixture_schema_other[] =
    "{\"tools\":["
    " {\"tool\":\"bounding-box\",\"title\":\"Car\",\"schemaId\":\"X1\","
    "  \"classifications\":[{\"tool\":\"radio\",\"title\":\"Occluded\",\"schemaId\":\"X2\","
    "   "
    "\"options\":[{\"value\":\"yes\",\"schemaId\":\"X3\"},{\"value\":\"no\",\"schemaId\":\"X4\"}]}]"
    "},"
    " {\"tool\":\"polygon\",\"title\":\"Road\",\"schemaId\":\"X5\"}],"
    "\"classifications\":["
    " {\"tool\":\"radio\",\"title\":\"Weather\",\"schemaId\":\"X6\","
    "  "
    "\"options\":[{\"value\":\"Sunny\",\"schemaId\":\"X7\"},{\"value\":\"Rainy\",\"schemaId\":"
    "\"X8\"}]}],"
    "\"relations\":[]}";

static inline json_t *fixture_load(const char *s)
{
	return json_loads(s, 0, NULL);
}

#endif
