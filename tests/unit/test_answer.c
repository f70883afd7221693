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

	S = sc_new(cs, &e);

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

	/* masks as cat shows them, next to the answer: out of the answer, into
	 * the body; null clears; unmentioned ones are left to the carry-over */
	CHECK_INT(prep("{\"tools\":[],\"brushDataUrl\":\"http://h/m.png\","
		       "\"medicalBrushDataUrl\":null}",
		       &b, &e),
		  0);
	CHECK_STR(json_string_value(json_object_get(b, "brushDataUrl")), "http://h/m.png");
	CHECK(json_is_null(json_object_get(b, "medicalBrushDataUrl")));
	CHECK(json_object_get(json_object_get(b, "answer"), "brushDataUrl") == NULL);
	CHECK(json_object_get(json_object_get(b, "answer"), "medicalBrushDataUrl") == NULL);
	CHECK_INT(answer_masks_missing(b), 0);
	json_t *cur = json_pack("{s:s,s:s}", "brushDataUrl", "http://h/old.png",
				"medicalBrushDataUrl", "http://h/old.nrrd");
	CHECK_INT(answer_carry_masks(b, cur), 0); /* mentioned: the write wins */
	CHECK_STR(json_string_value(json_object_get(b, "brushDataUrl")), "http://h/m.png");
	json_decref(b);
	CHECK_INT(prep("{\"tools\":[]}", &b, &e), 0);
	CHECK(json_object_get(b, "brushDataUrl") == NULL && answer_masks_missing(b));
	CHECK_INT(answer_carry_masks(b, cur), 2);
	CHECK_STR(json_string_value(json_object_get(b, "brushDataUrl")), "http://h/old.png");
	CHECK_STR(json_string_value(json_object_get(b, "medicalBrushDataUrl")),
		  "http://h/old.nrrd");
	json_decref(b);
	/* a task without masks: nothing carried, null sent (the SDK's payload) */
	CHECK_INT(prep("{\"tools\":[]}", &b, &e), 0);
	json_t *none = json_object();
	CHECK_INT(answer_carry_masks(b, none), 0);
	CHECK(json_is_null(json_object_get(b, "brushDataUrl")));
	CHECK(json_is_null(json_object_get(b, "medicalBrushDataUrl")));
	json_decref(none);
	json_decref(b);
	/* on the wire: bare mask URLs, duration 0 (the SDK's AnnotationPayload) */
	CHECK_INT(prep("{\"tools\":[],\"brushDataUrl\":\"http://h/s/m.png?Expires=9&"
		       "Signature=ab\",\"medicalBrushDataUrl\":\"https://b.s3.x/m.nrrd?"
		       "X-Amz-Date=1&X-Amz-Signature=f\"}",
		       &b, &e),
		  0);
	CHECK_INT(answer_sdk_body(b), 0);
	CHECK_STR(json_string_value(json_object_get(b, "brushDataUrl")), "http://h/s/m.png");
	CHECK_STR(json_string_value(json_object_get(b, "medicalBrushDataUrl")),
		  "https://b.s3.x/m.nrrd");
	CHECK(json_integer_value(json_object_get(b, "duration")) == 0 &&
	      json_is_integer(json_object_get(b, "duration")));
	json_decref(b);
	p = answer_bare_url("https://h/m.png?id=3&v=2");
	CHECK_STR(p, "https://h/m.png?id=3&v=2"); /* a query that signs nothing stays */
	free(p);
	p = answer_bare_url("https://acct.blob.core.windows.net/c/m.png?sv=2020&sig=x%2B");
	CHECK_STR(p, "https://acct.blob.core.windows.net/c/m.png");
	free(p);
	p = answer_bare_url("https://h/m.png?a=1&x-goog-signature=z");
	CHECK_STR(p, "https://h/m.png");
	free(p);
	p = answer_bare_url("https://h/m.png");
	CHECK_STR(p, "https://h/m.png");
	free(p);
	/* a task.json's duration is kept */
	CHECK_INT(prep("{\"answer\":{\"tools\":[]},\"duration\":1200}", &b, &e), 0);
	CHECK_INT(answer_sdk_body(b), 0);
	CHECK(json_integer_value(json_object_get(b, "duration")) == 1200);
	json_decref(b);
	json_decref(cur);
	CHECK_INT(prep("{\"tools\":[],\"brushDataUrl\":3}", &b, &e), -EINVAL);
	CHECK(strstr(e.msg, "\"brushDataUrl\" must be the mask's URL") != NULL);
	CHECK_INT(prep("{\"answer\":{\"tools\":[]},\"medicalBrushDataUrl\":\"\"}", &b, &e),
		  -EINVAL);

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

	sc_free(S);
	json_decref(cs);
	return t_done("answer");
}
