/*
 * hash.c - FNV-1a 64 (include/angofs/hash.h) with the offset basis every
 * earlier version of angofs used, 1469598103934665603: one digit short of
 * the published 14695981039346656037, and kept, because the cache files
 * on users' disks (exports, media, offline store, budget) are named by it.
 */
#include "angofs/hash.h"

#define FNV_BASIS 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

unsigned long long ao_hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned long long h = FNV_BASIS;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * FNV_PRIME;
	return h;
}

unsigned long long ao_hash_str(const char *s)
{
	unsigned long long h = FNV_BASIS;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * FNV_PRIME;
	return h;
}
