/* Unit test of angofs-hub's profile rules on the task filter: batch values
 * (ids only in strict, the message naming the batch and its id), the
 * strict defaults of an export (Complete stage(s) for tasks, default task
 * type for both), and the SDK's TaskFilter forms of `filter`. */
#include <errno.h>
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

/* The SDK's TaskFilter (models/task_filter.py) as the task list reads it. */
static void test_sdk_task_filter(void)
{
	struct task_filter f = {0};
	json_t *d = doc();
	char err[512];

	g_opts.strict = 1;
	CHECK_INT(
	    task_filter_parse_query(&f, d,
				    "{\"stage\":{\"$in\":[\"Done\",\"Label\"]},"
				    "\"batches\":{\"$in\":[\"b2\"]},\"type\":{\"$eq\":\"default\"},"
				    "\"status\":{\"$eq\":\"TODO\"},\"assignee\":\"a@x\","
				    "\"updatedAt\":{\"$gt\":\"2025-01-01T00:00:00.000Z\"}}",
				    "filter", err, sizeof(err)),
	    0);
	CHECK_INT((long long)json_array_size(f.stage_ids), 2);
	CHECK_STR(json_string_value(json_array_get(f.stage_ids, 0)), "u-1"); /* by name */
	CHECK_STR(json_string_value(json_array_get(f.batch_ids, 0)), "b2");
	CHECK_STR(json_string_value(json_array_get(f.task_types, 0)), "default");
	CHECK_STR(f.status, "TODO");
	CHECK_STR(f.assignee, "a@x");
	CHECK(f.has_upd_gt && !f.has_upd_lt);
	task_filter_free(&f);
	/* a bare stage string, a type list; strict refuses a batch name */
	CHECK_INT(
	    task_filter_parse_query(&f, d,
				    "{\"stage\":\"Complete\",\"type\":{\"$in\":[\"consensus\","
				    "\"benchmark\"]}}",
				    "filter", err, sizeof(err)),
	    0);
	CHECK_INT((long long)json_array_size(f.task_types), 2);
	task_filter_free(&f);
	CHECK_INT(task_filter_parse_query(&f, d, "{\"batches\":{\"$in\":[\"Night Drive\"]}}",
					  "filter", err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "batch name") != NULL);
	task_filter_free(&f);
	CHECK_INT(task_filter_parse_query(&f, d, "{\"type\":{\"$eq\":\"gold\"}}", "filter", err,
					  sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "gold") != NULL);
	task_filter_free(&f);
	CHECK_INT(task_filter_parse_query(&f, d, "{\"stage\":{\"$in\":[\"Nowhere\"]}}", "filter",
					  err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "Nowhere") != NULL);
	task_filter_free(&f);
	CHECK_INT(task_filter_parse_query(&f, d, "{\"isDraft\":{\"$eq\":true}}", "filter", err,
					  sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "isDraft") != NULL);
	task_filter_free(&f);
	/* issue exports: the task-type default, no stage default */
	struct task_filter_args a = {.project = "p"};
	CHECK_INT(task_filter_parse(&f, d, &a, err, sizeof(err)), 0);
	task_filter_strict_defaults(&f, d, 1);
	CHECK(f.stage_ids == NULL);
	CHECK_STR(json_string_value(json_array_get(f.task_types, 0)), "default");
	task_filter_free(&f);
	g_opts.strict = 0;
	json_decref(d);
}

int main(void)
{
	test_batches();
	test_strict_defaults();
	test_sdk_task_filter();
	return t_done("hub_profile");
}
