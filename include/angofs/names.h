/*
 * names.h - turning hostile server-side names into directory entry names.
 *
 * Project, stage and batch names come from the server and are treated as
 * hostile: they may hold '/', NUL-free control characters, invalid UTF-8, be
 * "." or "..", empty, or 10k bytes long. ao_name_sanitize() maps any such
 * string to a valid entry name of at most AO_NAME_MAX bytes: '/', control
 * characters and bytes of invalid UTF-8 become '_', "" "." ".." become "_",
 * "_." "_..", and the result is cut at a UTF-8 character boundary.
 *
 * ao_names_assign() gives a set of items distinct, stable names: items whose
 * sanitized names collide (or hit a reserved name) are told apart by a
 * "~<id>" suffix. The item that sorts first by (order key, id) - e.g. the
 * oldest project - keeps the plain name, so adding a newer project with the
 * same name never renames an existing directory.
 */
#ifndef ANGOFS_NAMES_H
#define ANGOFS_NAMES_H

#include <stddef.h>

#define AO_NAME_MAX 255

struct ao_named {
	const char *id;	       /* unique id (server's _id), hostile too */
	const char *name;      /* server-side name; NULL is treated as "" */
	const char *order_key; /* e.g. createdAt; NULL sorts first */
	char out[AO_NAME_MAX + 1];
};

/* Sanitize in into out (out must hold AO_NAME_MAX + 1 bytes). */
void ao_name_sanitize(const char *in, char *out);

/* The length of the longest prefix of s of at most max bytes that ends at
 * a UTF-8 character boundary (strlen(s) when it fits): cut there, a name
 * never ends in half a character. */
size_t ao_name_utf8_prefix(const char *s, size_t max);
/* 1 if s is valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), else 0. */
int ao_name_utf8_valid(const char *s);

/* Fill items[i].out with distinct names; reserved is a NULL-terminated list
 * of names nobody may take (may be NULL). Returns 0 or -ENOMEM. */
int ao_names_assign(struct ao_named *items, size_t n, const char *const *reserved);

#endif
