/*
 * test_answer.c - answer.json -> annotate body: tools->objects translation,
 * {"answer":..} wrapper, defaults, schema refusal, bad input, the request path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/write/answer.h"
#include "schema_fixture.h"
#include "t.h"

static struct schema *S;

static int prep(const char *s, json_t **body, struct ao_err *e)
{
	ao_err_clear(e);
	return answer_prepare(s, strlen(s), S, body, NULL, e);
}

int main(void)
{
	struct ao_err e;
	json_t *cs = fixture_load(fixture_schema), *b;
	char *p;

	S = schema_new(cs, &e);

	/* what cat answer.json shows can be written back */
	CHECK_INT(prep("{\"tools\":[{\"schemaId\":\"t-carpt\",\"point\":[1,2]}],"
		       "\"classifications\":[],\"relations\":[]}\n",
		       &b, &e),
		  0);
	CHECK(json_is_array(json_object_get(json_object_get(b, "answer"), "objects")));
	CHECK(json_object_get(json_object_get(b, "answer"), "tools") == NULL);
	CHECK_INT(json_array_size(json_object_get(json_object_get(b, "answer"), "objects")), 1);
	json_decref(b);

	CHECK_INT(
	    prep("{\"answer\":{\"objects\":[]},\"brushDataUrl\":\"u\",\"_id\":\"t\"}", &b, &e), 0);
	CHECK_STR(json_string_value(json_object_get(b, "brushDataUrl")), "u");
	CHECK(json_is_array(json_object_get(json_object_get(b, "answer"), "relations")));
	CHECK(json_object_get(b, "_id") == NULL);
	json_decref(b);

	CHECK_INT(prep("{}", &b, &e), 0);
	json_decref(b);

	CHECK_INT(prep("", &b, &e), -EINVAL);
	CHECK(strstr(e.msg, "empty answer.json") != NULL);
	CHECK_INT(prep("{\"tools\":[]} {}", &b, &e), -EINVAL);
	CHECK(strstr(e.msg, "one JSON object") != NULL);
	CHECK_INT(prep("{\"tools\":[}", &b, &e), -EINVAL);
	CHECK(strstr(e.msg, "line 1, column") != NULL);
	CHECK_INT(prep("[1]", &b, &e), -EINVAL);
	CHECK_INT(prep("[]", &b, &e), -EINVAL);
	CHECK(strstr(e.msg, "one JSON object") != NULL);
	CHECK_INT(prep("[{\"tools\":[]}]", &b, &e), -EINVAL);
	CHECK(strstr(e.msg, "not a JSON array") != NULL);
	CHECK_INT(prep("{\"tools\":[],\"objects\":[]}", &b, &e), -EINVAL);
	CHECK(strstr(e.msg, "both") != NULL);
	CHECK_INT(prep("{\"answer\":[]}", &b, &e), -EINVAL);
	CHECK_INT(prep("{\"tools\":[{\"schemaId\":\"zzz\",\"point\":[1,2]}]}", &b, &e), -EINVAL);
	CHECK(strstr(e.msg, "unknown schemaId 'zzz'") != NULL);
	CHECK(b == NULL);

	p = answer_path("abc 1/2", 1);
	CHECK_STR(p, "/annotate/abc%201%2F2?nextStage=true");
	free(p);
	p = answer_path("t1", 0);
	CHECK_STR(p, "/annotate/t1?nextStage=false");
	free(p);

	schema_free(S);
	json_decref(cs);
	return t_done("answer");
}
