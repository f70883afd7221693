/* Unit test of angofs-hub's pure helpers: ISO times, ids, booleans, list parsing. */
#include <stdlib.h>
#include <string.h>

#include "hubd.h"
#include "filters.h"
#include "t.h"

static void test_times(void)
{
	char buf[32];
	int64_t ms = 0;

	fmt_iso(0, buf);
	CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
	fmt_iso(1736154000123LL, buf);
	CHECK_STR(buf, "2025-01-06T09:00:00.123Z");
	CHECK_INT(parse_iso("2025-01-06T09:00:00.123Z", &ms), 0);
	CHECK_INT(ms, 1736154000123LL);
	/* the SDK's microsecond form, and no fraction at all */
	CHECK_INT(parse_iso("2020-08-19T07:37:15.000000Z", &ms), 0);
	fmt_iso(ms, buf);
	CHECK_STR(buf, "2020-08-19T07:37:15.000Z");
	CHECK_INT(parse_iso("2020-08-19T07:37:15Z", &ms), 0);
	CHECK_INT(parse_iso("2020-08-19T07:37:15.5", &ms), 0);
	CHECK_INT(ms % 1000, 500);
	CHECK(parse_iso("yesterday", &ms) < 0);
	CHECK(parse_iso("2020-13-01T00:00:00Z", &ms) < 0);
	CHECK(parse_iso("2020-01-01T00:00:00.Z", &ms) < 0);
	CHECK(parse_iso("2020-01-01T00:00:00Zjunk", &ms) < 0);
	CHECK(parse_iso(NULL, &ms) < 0);
}

static void test_ids(void)
{
	char a[25], b[25], c[25], hex[97];

	make_id(a, 1, 1);
	make_id(b, 1, 1);
	make_id(c, 1, 2);
	CHECK_STR(a, b);
	CHECK(strcmp(a, c) != 0);
	CHECK_INT(strlen(a), 24);
	CHECK(is_object_id(a));
	make_id(c, 2, 1); /* another kind, same n: different id */
	CHECK(strcmp(a, c) != 0);
	CHECK(!is_object_id("65a0000100de98167e5e0ce")); /* 23 */
	CHECK(!is_object_id("65a0000100de98167e5e0cex"));
	CHECK(!is_object_id(""));
	CHECK(!is_object_id(NULL));
	random_hex(hex, 24);
	CHECK_INT(strlen(hex), 48);
	random_hex(a, 12);
	CHECK(strcmp(hex, a) != 0);
	CHECK(mix64(1) != mix64(2));
}

static void test_bools(void)
{
	int v = -1;

	CHECK_INT(parse_bool(NULL, 1, &v), 0);
	CHECK_INT(v, 1);
	CHECK_INT(parse_bool("", 0, &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(parse_bool("true", 0, &v), 0);
	CHECK_INT(v, 1);
	CHECK_INT(parse_bool("False", 1, &v), 0); /* the SDK's get_task sends Python bools */
	CHECK_INT(v, 0);
	CHECK(parse_bool("yes", 0, &v) < 0);
}

static void test_lists(void)
{
	char err[256];
	json_t *l;

	CHECK_INT(parse_str_list("[\"a b\", \"c\"]", &l, err, sizeof(err), "batches"), 0);
	CHECK_INT(json_array_size(l), 2);
	CHECK_STR(json_string_value(json_array_get(l, 0)), "a b");
	json_decref(l);
	CHECK_INT(parse_str_list("Batch A, Night Drive,,", &l, err, sizeof(err), "batches"), 0);
	CHECK_INT(json_array_size(l), 2);
	CHECK_STR(json_string_value(json_array_get(l, 1)), "Night Drive");
	json_decref(l);
	CHECK(parse_str_list("[1, 2]", &l, err, sizeof(err), "stage") < 0);
	CHECK(strstr(err, "stage") != NULL);
	CHECK(parse_str_list("[\"x\"", &l, err, sizeof(err), "stage") < 0);
}

int main(void)
{
	test_times();
	test_ids();
	test_bools();
	test_lists();
	return t_done("hub_util");
}
