/*
 * hash.h - FNV-1a 64, the one hash of angofs: names of cache files
 * (exports, media, the offline store, the request budget), spool ledger
 * buckets, short suffixes of long names. Not for security: every file it
 * names also stores the key it hashed and compares it on read, so a
 * collision is a miss, never a wrong answer.
 */
#ifndef ANGOFS_HASH_H
#define ANGOFS_HASH_H

#include <stddef.h>

/* FNV-1a 64 of a NUL-terminated string. */
unsigned long long ao_hash_str(const char *s);
/* FNV-1a 64 of n bytes. */
unsigned long long ao_hash_bytes(const void *p, size_t n);

#endif
