/*
 * test_util.c - the helpers of src/util that several parts share (issue 25:
 * each written once): the FNV-1a hash that names cache files, UTF-8 cuts
 * and checks of names.
 */
#include <stdlib.h>
#include <string.h>

#include "angofs/hash.h"
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

int main(void)
{
	hash();
	utf8();
	return t_done("util");
}
