/* Unit test of angofs-hub's profile rules on the task filter: batch values
 * (ids only in strict, the message naming the batch and its id) and the
 * strict defaults of a task export (Complete stage(s), default task type). */
#include <stdlib.h>
#include <string.h>

#include "filters.h"
#include "t.h"

static json_t *doc(void)
{
	return json_loads("{\"stages\":[{\"id\":\"Start\",\"name\":\"Start\",\"type\":\"Start\"},"
			  "{\"id\":\"Label\",\"name\":\"Label\",\"type\":\"Label\"},"
			  "{\"id\":\"u-1\",\"name\":\"Done\",\"type\":\"Complete\"},"
			  "{\"id\":\"Complete\",\"name\":\"Complete\",\"type\":\"Complete\"}],"
			  "\"batches\":[{\"_id\":\"b1\",\"name\":\"Night Drive\"},"
			  "{\"_id\":\"b2\",\"name\":\"Batch B\"}]}",
			  0, NULL);
}

static void test_batches(void)
{
	json_t *d = doc();
	char err[512];

	g_opts.strict = 0;
	CHECK_STR(batch_filter_id(d, "b1", "batches", err, sizeof(err)), "b1");
	CHECK_STR(batch_filter_id(d, "Night Drive", "batches", err, sizeof(err)), "b1");
	CHECK(batch_filter_id(d, "Nope", "batches", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "Nope") != NULL);
	g_opts.strict = 1;
	CHECK_STR(batch_filter_id(d, "b2", "batches", err, sizeof(err)), "b2");
	CHECK(batch_filter_id(d, "Night Drive", "batches", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "\"Night Drive\"") && strstr(err, "b1") && strstr(err, "batch ids"));
	g_opts.strict = 0;
	json_decref(d);
}

static void test_strict_defaults(void)
{
	struct task_filter f = {0};
	struct task_filter_args a = {.project = "p"};
	json_t *d = doc();
	char err[256];

	CHECK_INT(task_filter_parse(&f, d, &a, err, sizeof(err)), 0);
	task_filter_strict_defaults(&f, d, 0);
	CHECK_INT((long long)json_array_size(f.stage_ids), 2); /* every Complete-type stage */
	CHECK_STR(json_string_value(json_array_get(f.stage_ids, 0)), "u-1");
	CHECK_STR(json_string_value(json_array_get(f.stage_ids, 1)), "Complete");
	CHECK_INT((long long)json_array_size(f.task_types), 1);
	CHECK_STR(json_string_value(json_array_get(f.task_types, 0)), "default");
	task_filter_free(&f);
	/* what the request names is kept */
	a.stage = "[\"Label\"]";
	a.task_types = "consensus,benchmark";
	CHECK_INT(task_filter_parse(&f, d, &a, err, sizeof(err)), 0);
	task_filter_strict_defaults(&f, d, 0);
	CHECK_INT((long long)json_array_size(f.stage_ids), 1);
	CHECK_STR(json_string_value(json_array_get(f.stage_ids, 0)), "Label");
	CHECK_INT((long long)json_array_size(f.task_types), 2);
	task_filter_free(&f);
	json_decref(d);
}

int main(void)
{
	test_batches();
	test_strict_defaults();
	return t_done("hub_profile");
}
