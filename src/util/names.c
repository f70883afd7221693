/*
 * names.c - sanitizing and de-duplicating server-supplied names (see
 * include/angofs/names.h for the rules). Pure functions, no I/O, unit tested.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/names.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong 3/4-byte forms, surrogates, > U+10FFFF */
	if (c == 0xe0 && s[1] < 0xa0)
		return 0;
	if (c == 0xed && s[1] > 0x9f)
		return 0;
	if (c == 0xf0 && s[1] < 0x90)
		return 0;
	if (c == 0xf4 && s[1] > 0x8f)
		return 0;
	return n;
}

size_t ao_name_utf8_prefix(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

int ao_name_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t n; *p; p += n)
		if (!(n = utf8_len(p)))
			return 0;
	return 1;
}

/* Copy the sanitized form of in into out, at most max bytes, never cutting a
 * multi-byte character. */
static void sanitize_max(const char *in, char *out, size_t max)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t o = 0;

	while (*s) {
		size_t n = utf8_len(s);
		if (n == 0 || (n == 1 && (*s < 0x20 || *s == 0x7f || *s == '/'))) {
			if (o + 1 > max)
				break;
			out[o++] = '_';
			s++;
			continue;
		}
		if (o + n > max)
			break;
		memcpy(out + o, s, n);
		o += n;
		s += n;
	}
	out[o] = '\0';
	if (o == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
		char tmp[4];
		size_t l = o < 3 ? o : 2;
		memcpy(tmp, out, l);
		tmp[l] = '\0';
		if (max >= l + 1) {
			out[0] = '_';
			memcpy(out + 1, tmp, l + 1);
		}
	}
}

void ao_name_sanitize(const char *in, char *out)
{
	sanitize_max(in, out, AO_NAME_MAX);
}

static void with_suffix(struct ao_named *it, const char *base)
{
	char sid[AO_NAME_MAX + 1], suffix[AO_NAME_MAX + 2];
	char b[AO_NAME_MAX + 1];

	sanitize_max(it->id, sid, 64);
	suffix[0] = '~';
	strcpy(suffix + 1, sid);
	size_t sl = strlen(suffix);
	sanitize_max(base, b, AO_NAME_MAX - sl);
	strcpy(it->out, b);
	strcat(it->out, suffix);
}

static int cmp_order(const struct ao_named *a, const struct ao_named *b)
{
	const char *ka = a->order_key ? a->order_key : "", *kb = b->order_key ? b->order_key : "";
	int c = strcmp(ka, kb);
	if (c)
		return c;
	return strcmp(a->id ? a->id : "", b->id ? b->id : "");
}

static int is_reserved(const char *name, const char *const *reserved)
{
	for (; reserved && *reserved; reserved++)
		if (strcmp(name, *reserved) == 0)
			return 1;
	return 0;
}

static int by_out(const void *a, const void *b)
{
	const struct ao_named *x = *(const struct ao_named *const *)a;
	const struct ao_named *y = *(const struct ao_named *const *)b;
	int c = strcmp(x->out, y->out);
	return c ? c : cmp_order(x, y);
}

int ao_names_assign(struct ao_named *items, size_t n, const char *const *reserved)
{
	struct ao_named **v;
	size_t i, j;
	int pass;

	if (n == 0)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ao_name_sanitize(items[i].name, items[i].out);
		v[i] = &items[i];
	}
	/* Pass 0 resolves plain collisions; later passes catch a suffixed name
	 * that happens to equal another item's plain name. */
	for (pass = 0; pass < 4; pass++) {
		int changed = 0;
		qsort(v, n, sizeof(*v), by_out);
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && strcmp(v[j]->out, v[i]->out) == 0; j++)
				;
			int resv = is_reserved(v[i]->out, reserved);
			if (j - i == 1 && !resv)
				continue;
			char base[AO_NAME_MAX + 1];
			strcpy(base, v[i]->out);
			/* v[i..j) is sorted by order: the first keeps its name */
			for (size_t k = (resv ? i : i + 1); k < j; k++) {
				if (pass < 3)
					with_suffix(v[k], base);
				else
					sanitize_max(v[k]->id, v[k]->out, AO_NAME_MAX);
				changed = 1;
			}
		}
		if (!changed)
			break;
	}
	free(v);
	return 0;
}
