/* Unit test of name sanitizing and collision handling (src/util/names.c). */
#include <stdlib.h>
#include <string.h>

#include "angofs/names.h"
#include "t.h"

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > AO_NAME_MAX || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

int main(void)
{
	char out[AO_NAME_MAX + 1];

	ao_name_sanitize("Street Scenes", out);
	CHECK_STR(out, "Street Scenes");
	ao_name_sanitize("Cars / Trucks", out);
	CHECK_STR(out, "Cars _ Trucks");
	ao_name_sanitize("..", out);
	CHECK_STR(out, "_..");
	ao_name_sanitize(".", out);
	CHECK_STR(out, "_.");
	ao_name_sanitize("", out);
	CHECK_STR(out, "_");
	ao_name_sanitize(NULL, out);
	CHECK_STR(out, "_");
	ao_name_sanitize("a\tb\nc\x7f", out);
	CHECK_STR(out, "a_b_c_");
	ao_name_sanitize("bad\xff\xfeutf8", out);
	CHECK_STR(out, "bad__utf8");
	ao_name_sanitize("caf\xc3\xa9", out); /* valid UTF-8 kept */
	CHECK_STR(out, "caf\xc3\xa9");
	ao_name_sanitize("\xc0\xaf", out); /* overlong '/' */
	CHECK_STR(out, "__");

	/* 10k characters -> at most 255 bytes, cut at a character boundary */
	char *big = malloc(30001);
	for (int i = 0; i < 10000; i++)
		memcpy(big + 3 * i, "\xe2\x82\xac", 3); /* euro sign */
	big[30000] = '\0';
	ao_name_sanitize(big, out);
	CHECK(strlen(out) <= AO_NAME_MAX);
	CHECK_INT(strlen(out) % 3, 0);
	free(big);

	/* collisions: the oldest keeps the plain name, others get ~id */
	struct ao_named v[5] = {
	    {.id = "id2", .name = "Street Scenes", .order_key = "2025-01-07"},
	    {.id = "id1", .name = "Street Scenes", .order_key = "2025-01-06"},
	    {.id = "id3", .name = "Cars / Trucks", .order_key = "2025-01-08"},
	    {.id = "id4", .name = "Cars _ Trucks", .order_key = "2025-01-09"},
	    {.id = "id5", .name = ".status", .order_key = "2025-01-01"},
	};
	static const char *const reserved[] = {".status", NULL};
	CHECK_INT(ao_names_assign(v, 5, reserved), 0);
	CHECK_STR(v[1].out, "Street Scenes");
	CHECK_STR(v[0].out, "Street Scenes~id2");
	CHECK_STR(v[2].out, "Cars _ Trucks");
	CHECK_STR(v[3].out, "Cars _ Trucks~id4");
	CHECK_STR(v[4].out, ".status~id5");

	/* stable: same input in another order gives the same names */
	struct ao_named w[2] = {
	    {.id = "id1", .name = "Street Scenes", .order_key = "2025-01-06"},
	    {.id = "id2", .name = "Street Scenes", .order_key = "2025-01-07"},
	};
	ao_names_assign(w, 2, NULL);
	CHECK_STR(w[0].out, "Street Scenes");
	CHECK_STR(w[1].out, "Street Scenes~id2");

	/* a plain name equal to another's suffixed name still ends distinct */
	struct ao_named x[3] = {
	    {.id = "b", .name = "A", .order_key = "1"},
	    {.id = "c", .name = "A", .order_key = "2"},
	    {.id = "d", .name = "A~c", .order_key = "0"},
	};
	ao_names_assign(x, 3, NULL);
	CHECK(strcmp(x[0].out, x[1].out) && strcmp(x[1].out, x[2].out) &&
	      strcmp(x[0].out, x[2].out));
	for (int i = 0; i < 3; i++)
		CHECK(valid_name(x[i].out));

	/* long colliding names keep the suffix within 255 bytes */
	char *longn = malloc(1001);
	memset(longn, 'x', 1000);
	longn[1000] = '\0';
	struct ao_named y[2] = {{.id = "p1", .name = longn, .order_key = "1"},
				{.id = "p2", .name = longn, .order_key = "2"}};
	ao_names_assign(y, 2, NULL);
	CHECK(strlen(y[0].out) <= AO_NAME_MAX && strlen(y[1].out) <= AO_NAME_MAX);
	CHECK(strcmp(y[0].out, y[1].out) != 0);
	CHECK(strstr(y[1].out, "~p2") != NULL);
	free(longn);
	return t_done("names");
}
