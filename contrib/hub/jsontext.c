/*
 * jsontext.c - JSON text helpers for the export writer: escape a string, skip
 * a value, and copy a JSON text without the members of a given name.
 *
 * Exports splice the stored answer text straight into each record instead of
 * parsing it into jansson objects and serializing it again (that round trip
 * was most of an export's CPU time). The stored text is our own compact
 * jansson output, but these helpers accept any valid JSON (whitespace,
 * escapes, nesting up to JT_MAX_DEPTH) and fail cleanly on anything else, so
 * the caller can fall back to the slow path.
 */
#include <stdlib.h>
#include <string.h>

#include "hubd.h"

#define JT_MAX_DEPTH 256

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Index just after the string starting at s[i] == '"', or (size_t)-1. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return (size_t)-1;
}

size_t jt_skip_value(const char *s, size_t len, size_t i)
{
	size_t start;
	int depth = 0;

	while (i < len && is_ws(s[i]))
		i++;
	if (i >= len)
		return (size_t)-1;
	if (s[i] == '"')
		return skip_string(s, len, i);
	if (s[i] == '{' || s[i] == '[') {
		for (; i < len; i++) {
			char c = s[i];

			if (c == '"') {
				i = skip_string(s, len, i);
				if (i == (size_t)-1)
					return i;
				i--; /* the loop's i++ steps past the closing quote */
			} else if (c == '{' || c == '[') {
				if (++depth > JT_MAX_DEPTH)
					return (size_t)-1;
			} else if (c == '}' || c == ']') {
				if (--depth == 0)
					return i + 1;
			}
		}
		return (size_t)-1;
	}
	start = i; /* number, true, false, null */
	while (i < len && !strchr(",:]} \t\r\n", s[i]))
		i++;
	return i > start ? i : (size_t)-1;
}

int jt_strip_key(const char *in, size_t len, const char *key, char **out, size_t *outlen)
{
	char stack[JT_MAX_DEPTH];
	size_t klen = strlen(key), i = 0, o = 0;
	int d = 0, expect_key = 0;
	char *buf = malloc(len + 1);

	if (!buf)
		return -1;
	while (i < len) {
		char c = in[i];

		if (c == '"') {
			size_t j = skip_string(in, len, i);

			if (j == (size_t)-1)
				goto bad;
			if (d > 0 && stack[d - 1] == '{' && expect_key && j - i - 2 == klen &&
			    !memcmp(in + i + 1, key, klen)) {
				size_t k = j, b = o;

				while (k < len && is_ws(in[k]))
					k++;
				if (k >= len || in[k] != ':')
					goto bad;
				k = jt_skip_value(in, len, k + 1);
				if (k == (size_t)-1)
					goto bad;
				while (b > 0 && is_ws(buf[b - 1]))
					b--;
				if (b > 0 && buf[b - 1] == ',') {
					o = b - 1; /* drop the comma before the member */
				} else {
					while (k < len && is_ws(in[k]))
						k++;
					if (k < len && in[k] == ',')
						k++; /* first member: drop the comma after it */
				}
				i = k;
				expect_key = 1;
				continue;
			}
			memcpy(buf + o, in + i, j - i);
			o += j - i;
			i = j;
			expect_key = 0;
			continue;
		}
		if (c == '{' || c == '[') {
			if (d >= JT_MAX_DEPTH)
				goto bad;
			stack[d++] = c;
			expect_key = c == '{';
		} else if (c == '}' || c == ']') {
			if (d == 0 || stack[d - 1] != (c == '}' ? '{' : '['))
				goto bad;
			d--;
			expect_key = 0;
		} else if (c == ',') {
			expect_key = d > 0 && stack[d - 1] == '{';
		} else if (c == ':') {
			expect_key = 0;
		}
		buf[o++] = c;
		i++;
	}
	if (d)
		goto bad;
	buf[o] = 0;
	*out = buf;
	*outlen = o;
	return 0;
bad:
	free(buf);
	return -1;
}

void jt_escape(const char *s, void (*put)(void *ud, const char *p, size_t n), void *ud)
{
	static const char hx[] = "0123456789abcdef";
	const char *run = s;

	put(ud, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7];
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(ud, run, (size_t)(s - run));
		esc[0] = '\\';
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hx[c >> 4];
			esc[5] = hx[c & 15];
			n = 6;
		}
		put(ud, esc, n);
		run = s + 1;
	}
	put(ud, run, (size_t)(s - run));
	put(ud, "\"", 1);
}
