/*
 * jscan.c - the JSON byte scanner (include/angofs/jscan.h): strings,
 * escapes and nesting, nothing else. The record scanner skips runs of
 * bytes that cannot change its state by one table lookup each: locating
 * the records of an export costs about a memchr per record.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "angofs/jscan.h"

size_t ao_jscan_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

size_t ao_jscan_str(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return AO_JSCAN_BAD;
}

size_t ao_jscan_value(const char *s, size_t n, size_t i)
{
	int depth = 0;

	if (i >= n)
		return AO_JSCAN_BAD;
	if (s[i] == '"')
		return ao_jscan_str(s, n, i);
	if (s[i] != '{' && s[i] != '[') {
		while (i < n && !strchr(",}] \t\r\n", s[i]))
			i++;
		return i;
	}
	for (; i < n; i++) {
		if (s[i] == '"') {
			i = ao_jscan_str(s, n, i);
			if (i == AO_JSCAN_BAD)
				return AO_JSCAN_BAD;
			i--;
		} else if (s[i] == '{' || s[i] == '[') {
			depth++;
		} else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
			return i + 1;
		}
	}
	return AO_JSCAN_BAD;
}

int ao_jscan_string(const char *s, size_t i, size_t j, char *out, size_t outn)
{
	if (j == AO_JSCAN_BAD || j - i < 2 || s[i] != '"')
		return -EINVAL;
	if (!memchr(s + i, '\\', j - i)) {
		if (j - i - 2 >= outn)
			return -EINVAL;
		memcpy(out, s + i + 1, j - i - 2);
		out[j - i - 2] = '\0';
		return 0;
	}
	json_t *v = json_loadb(s + i, j - i, JSON_DECODE_ANY, NULL);
	int rc = json_is_string(v) && json_string_length(v) < outn ? 0 : -EINVAL;
	if (!rc)
		snprintf(out, outn, "%s", json_string_value(v));
	json_decref(v);
	return rc;
}

int ao_jscan_members(const char *s, size_t n, size_t i, ao_jscan_member_fn cb, void *ud)
{
	i = ao_jscan_ws(s, n, i);
	if (i >= n || s[i] != '{')
		return -EINVAL;
	i = ao_jscan_ws(s, n, i + 1);
	if (i < n && s[i] == '}')
		return 0;
	for (;;) {
		if (i >= n || s[i] != '"')
			return -EINVAL;
		size_t ke = ao_jscan_str(s, n, i);
		if (ke == AO_JSCAN_BAD)
			return -EINVAL;
		size_t vi = ao_jscan_ws(s, n, ke);
		if (vi >= n || s[vi] != ':')
			return -EINVAL;
		vi = ao_jscan_ws(s, n, vi + 1);
		size_t vj = ao_jscan_value(s, n, vi);
		if (vj == AO_JSCAN_BAD)
			return -EINVAL;
		int r = cb(ud, s, s + i + 1, ke - i - 2, vi, vj);
		if (r)
			return r < 0 ? r : 0;
		i = ao_jscan_ws(s, n, vj);
		if (i < n && s[i] == ',') {
			i = ao_jscan_ws(s, n, i + 1);
			continue;
		}
		return i < n && s[i] == '}' ? 0 : -EINVAL;
	}
}

/* Byte classes of the record scanner: 1 = matters outside a string
 * ("{}[]), 2 = matters inside one ("\\). */
static const unsigned char cls[256] = {
    ['"'] = 3, ['\\'] = 2, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1};

const char *ao_jscan_rec(struct ao_jscan_rec *st, const char *p, const char *end)
{
	while (p < end) {
		if (st->esc) {
			st->esc = 0;
			p++;
			continue;
		}
		if (st->instr) {
			while (p < end && !(cls[(unsigned char)*p] & 2))
				p++;
			if (p == end)
				break;
			if (*p++ == '"')
				st->instr = 0;
			else
				st->esc = 1;
			continue;
		}
		while (p < end && !(cls[(unsigned char)*p] & 1))
			p++;
		if (p == end)
			break;
		char c = *p++;
		if (c == '"')
			st->instr = 1;
		else if (c == '{' || c == '[')
			st->depth++;
		else if (--st->depth == 0)
			return p;
	}
	return p;
}
