/*
 * jscan.h - locating values in JSON bytes without parsing them: the byte
 * scanner of export records (trusted bytes the hub wrote, read fast).
 *
 * An export of 100k tasks is half a gigabyte; parsing every record with
 * jansson to read three fields of each costs more than the copy around it.
 * These functions track only strings (with their escapes) and nesting
 * depth: a record's end, a member's value, a string literal. They do not
 * validate: malformed bytes give AO_JSCAN_BAD or -EINVAL, and the caller
 * falls back to a full parse or refuses the file. (User files sent through
 * the write side are split by a validating parser instead,
 * src/write/labels_parse.c: it reports the line and column of the first
 * error, which a locator has no use for.)
 */
#ifndef ANGOFS_JSCAN_H
#define ANGOFS_JSCAN_H

#include <stddef.h>

#define AO_JSCAN_BAD ((size_t)-1)

/* The index of the first non-whitespace byte of s[i..n) (n if none). */
size_t ao_jscan_ws(const char *s, size_t n, size_t i);
/* s[i] == '"': the index after the closing quote, or AO_JSCAN_BAD. */
size_t ao_jscan_str(const char *s, size_t n, size_t i);
/* The index after the value that starts at s[i] (a string, an object or an
 * array by nesting, any other token up to a delimiter), or AO_JSCAN_BAD. */
size_t ao_jscan_value(const char *s, size_t n, size_t i);
/* The string literal s[i..j) (quotes included) decoded into out (escapes
 * by jansson); -EINVAL if it is not a string or does not fit in outn. */
int ao_jscan_string(const char *s, size_t i, size_t j, char *out, size_t outn);

/* Walk the members of the object at s[i] (after whitespace): cb(ud, s,
 * key, key length, value start, value end) per member, raw key bytes; a
 * callback returning 1 stops the walk (0 returned), a negative value is
 * returned. 0, or -EINVAL for bytes that are not an object. */
typedef int (*ao_jscan_member_fn)(void *ud, const char *s, const char *key, size_t klen, size_t vi,
				  size_t vj);
int ao_jscan_members(const char *s, size_t n, size_t i, ao_jscan_member_fn cb, void *ud);
/* klen bytes at key are the literal lit */
#define AO_JSCAN_KEY(key, klen, lit) ((klen) == sizeof(lit) - 1 && !memcmp((key), (lit), (klen)))

/* A record's bytes arriving in pieces: feed each piece from p to end; the
 * state carries nesting, strings and escapes across pieces. Returns where
 * the record ended (just after the brace that brings depth back to 0; the
 * record must start with '{' or '[') or end if it goes on. */
struct ao_jscan_rec {
	int depth, instr, esc;
};
const char *ao_jscan_rec(struct ao_jscan_rec *st, const char *p, const char *end);

#endif
