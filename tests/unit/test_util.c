/*
 * test_util.c - the helpers of src/util that several parts share (issue 25:
 * each written once): the FNV-1a hash that names cache files, UTF-8 cuts
 * and checks of names, the JSON byte scanner.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/hash.h"
#include "angofs/jscan.h"
#include "angofs/names.h"
#include "t.h"

static void hash(void)
{
	/* the basis every version used (cache file names depend on it) */
	CHECK(ao_hash_str("") == 1469598103934665603ULL);
	CHECK(ao_hash_bytes("", 0) == 1469598103934665603ULL);
	CHECK(ao_hash_str("a") == ((1469598103934665603ULL ^ 'a') * 1099511628211ULL));
	CHECK(ao_hash_str("abc") == ao_hash_bytes("abcdef", 3));
	CHECK(ao_hash_str("https://h/a.png") == ao_hash_bytes("https://h/a.png?sig=1", 15));
	CHECK(ao_hash_str("k1") != ao_hash_str("k2"));
	/* bytes past 0x7f hash as unsigned */
	CHECK(ao_hash_str("\xc3\xa9") == ao_hash_bytes("\xc3\xa9", 2));
}

static void utf8(void)
{
	/* "é" is 2 bytes, "€" 3: a cut never splits them */
	CHECK_INT(ao_name_utf8_prefix("abc", 10), 3);
	CHECK_INT(ao_name_utf8_prefix("abc", 3), 3);
	CHECK_INT(ao_name_utf8_prefix("abc", 2), 2);
	CHECK_INT(ao_name_utf8_prefix("a\xc3\xa9", 2), 1);
	CHECK_INT(ao_name_utf8_prefix("a\xc3\xa9", 3), 3);
	CHECK_INT(ao_name_utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 5), 3);
	CHECK_INT(ao_name_utf8_prefix("\xe2\x82\xac", 0), 0);
	CHECK(ao_name_utf8_valid(""));
	CHECK(ao_name_utf8_valid("plain"));
	CHECK(ao_name_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	CHECK(!ao_name_utf8_valid("\xc3"));		/* cut short */
	CHECK(!ao_name_utf8_valid("\xc0\xaf"));		/* overlong '/' */
	CHECK(!ao_name_utf8_valid("\xe0\x80\xaf"));	/* overlong 3 bytes */
	CHECK(!ao_name_utf8_valid("\xed\xa0\x80"));	/* a surrogate */
	CHECK(!ao_name_utf8_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
	CHECK(!ao_name_utf8_valid("\xff"));
}

struct seen {
	char keys[128];
	char id[32];
	int stop_at;
	int n;
};

static int member(void *ud, const char *s, const char *k, size_t kl, size_t vi, size_t vj)
{
	struct seen *w = ud;

	strncat(w->keys, k, kl);
	strcat(w->keys, ";");
	if (AO_JSCAN_KEY(k, kl, "id") && ao_jscan_string(s, vi, vj, w->id, sizeof(w->id)) < 0)
		return -EINVAL;
	return ++w->n == w->stop_at;
}

static void jscan(void)
{
	const char *r =
	    "{\"a\": [1, {\"b\": \"}\"}], \"id\" : \"x\\\"y\", \"k\\\"q\": 2.5e3 , \"z\":null}";
	size_t n = strlen(r);
	struct seen w = {"", "", 0, 0};

	CHECK_INT(ao_jscan_ws("  \t\nx", 5, 0), 4);
	CHECK_INT(ao_jscan_str("\"a\\\"b\" ", 7, 0), 6);
	CHECK(ao_jscan_str("\"abc", 4, 0) == AO_JSCAN_BAD);
	CHECK_INT(ao_jscan_value("[1,[2],\"]\"] x", 13, 0), 11);
	CHECK_INT(ao_jscan_value("true,", 5, 0), 4);
	CHECK(ao_jscan_value("{\"a\":1", 7, 0) == AO_JSCAN_BAD);
	CHECK_INT(ao_jscan_members(r, n, 0, member, &w), 0);
	CHECK_STR(w.keys, "a;id;k\\\"q;z;");
	CHECK_STR(w.id, "x\"y"); /* an escape: decoded */
	struct seen w2 = {"", "", 2, 0};
	CHECK_INT(ao_jscan_members(r, n, 0, member, &w2), 0); /* stopped after id */
	CHECK_STR(w2.keys, "a;id;");
	struct seen w3 = {"", "", 0, 0};
	CHECK_INT(ao_jscan_members("[1]", 3, 0, member, &w3), -EINVAL);
	CHECK_INT(ao_jscan_members("{\"a\" 1}", 7, 0, member, &w3), -EINVAL);
	CHECK_INT(ao_jscan_members("{\"a\":1,}", 8, 0, member, &w3), -EINVAL);
	char small[3];
	CHECK_INT(ao_jscan_string("\"abc\"", 0, 5, small, sizeof(small)), -EINVAL);
	CHECK_INT(ao_jscan_string("12", 0, 2, small, sizeof(small)), -EINVAL);

	/* a record fed in pieces of every size ends exactly after its brace */
	const char *two = "{\"s\":\"{[\\\"\",\"t\":[{}]}\n{\"u\":1}";
	size_t first = strchr(two, '\n') - two;
	for (size_t piece = 1; piece <= strlen(two); piece++) {
		struct ao_jscan_rec st = {0};
		const char *p = two, *end = two + strlen(two), *q = p;
		while (p < end) {
			const char *e = p + piece < end ? p + piece : end;
			q = ao_jscan_rec(&st, p, e);
			if (st.depth == 0 && q > two)
				break;
			p = e;
		}
		CHECK_INT(q - two, first);
	}
}

int main(void)
{
	hash();
	utf8();
	jscan();
	return t_done("util");
}
