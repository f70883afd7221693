/*
 * unit_fixture.h - what several C unit tests build the same way, kept once:
 *
 *   uf_open / uf_close  a temporary directory, the in-process mock hub
 *                       (mock_hub.h) seeded by the test, an export cache in
 *                       <dir>/exports, optionally a media cache in
 *                       <dir>/media, and a read-side core over them; the
 *                       test adds what else it needs (a write side, a
 *                       router) and frees that before uf_close.
 *   uf_zip1             a zip holding one member, in memory (what the hub's
 *                       exportPath serves).
 *   uf_collect          a readdir filler gathering the names "a|b|..." into
 *                       a struct uf_names.
 *
 * No checks here (t.h counts per test file): uf_open reports failure by its
 * return value and the test decides what to CHECK.
 */
#ifndef ANGOFS_UNIT_FIXTURE_H
#define ANGOFS_UNIT_FIXTURE_H

#include <stddef.h>
#include <sys/stat.h>

#include "angofs/core.h"
#include "angofs/export_cache.h"
#include "angofs/media.h"
#include "mock_hub.h"

struct unit_fixture {
	char dir[64];	/* the temporary directory, removed by uf_close */
	char xdir[300]; /* <dir>/exports */
	struct mock_hub *m;
	struct hub *hub;
	struct ao_xcache *xc;
	struct ao_media *media; /* NULL unless with_media */
	struct ao_core *core;	/* NULL when a cache or the core failed */
};

/* Makes /tmp/angofs-<name>-XXXXXX and the mock hub, calls seed(m), then
 * builds the caches and the core (meta_ttl_s 60, export ttl 3600, host
 * "mock"). -1 when the hub or the directory could not be made (nothing to
 * free); 0 otherwise, f->core possibly NULL. */
int uf_open(struct unit_fixture *f, const char *name, int with_media,
	    void (*seed)(struct mock_hub *m));
/* Frees the core, caches and hub and removes the directory: 0, or -1 when
 * removing failed. */
int uf_close(struct unit_fixture *f);

/* Writes into out (cap bytes) a zip with one member `member` holding text;
 * returns the zip's size. */
size_t uf_zip1(const char *member, const char *text, char *out, size_t cap);

/* Names a readdir gave, each followed by '|' (cut short when full). */
struct uf_names {
	char all[2048];
};

/* A readdir filler (ctx: struct uf_names) for ao_router_readdir. */
int uf_collect(void *ctx, const char *name, const struct stat *st);

#endif
