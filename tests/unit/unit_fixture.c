/* unit_fixture.c - the mock hub + caches + core construction, the
 * one-member zip and the readdir filler several unit tests share (see
 * unit_fixture.h). Plain functions over the library's public constructors,
 * in the order the tests used them before, so what the mock counts is
 * unchanged. */
#include "unit_fixture.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/views.h"

int uf_open(struct unit_fixture *f, const char *name, int with_media,
	    void (*seed)(struct mock_hub *m))
{
	char mdir[300];
	struct ao_err e;

	memset(f, 0, sizeof(*f));
	f->hub = mock_hub_new(&f->m);
	snprintf(f->dir, sizeof(f->dir), "/tmp/angofs-%s-XXXXXX", name);
	if (!f->hub || !mkdtemp(f->dir)) {
		hub_free(f->hub);
		return -1;
	}
	seed(f->m);
	snprintf(f->xdir, sizeof(f->xdir), "%s/exports", f->dir);
	snprintf(mdir, sizeof(mdir), "%s/media", f->dir);
	ao_err_clear(&e);
	struct ao_xcache_cfg xcfg = {.hub = f->hub, .dir = f->xdir, .host = "mock", .ttl_s = 3600};
	f->xc = ao_xcache_new(&xcfg, &e);
	if (with_media) {
		struct ao_media_cfg mcfg = {
		    .hub = f->hub, .dir = mdir, .xdir = f->xdir, .host = "mock"};
		f->media = ao_media_new(&mcfg, &e);
	}
	struct ao_core_cfg ccfg = {
	    .hub = f->hub, .xc = f->xc, .media = f->media, .meta_ttl_s = 60, .views = ao_views()};
	f->core = f->xc && (f->media || !with_media) ? ao_core_new(&ccfg, &e) : NULL;
	return 0;
}

int uf_close(struct unit_fixture *f)
{
	char cmd[100];

	ao_core_free(f->core);
	ao_media_free(f->media);
	ao_xcache_free(f->xc);
	hub_free(f->hub);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	return system(cmd) == 0 ? 0 : -1;
}

size_t uf_zip1(const char *member, const char *text, char *out, size_t cap)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t used = 0;

	archive_write_set_format_zip(a);
	archive_write_open_memory(a, out, cap, &used);
	archive_entry_set_pathname(e, member);
	archive_entry_set_size(e, (la_int64_t)strlen(text));
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_write_header(a, e);
	archive_write_data(a, text, strlen(text));
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

int uf_collect(void *ctx, const char *name, const struct stat *st)
{
	struct uf_names *n = ctx;

	(void)st;
	strncat(n->all, name, sizeof(n->all) - strlen(n->all) - 2);
	strcat(n->all, "|");
	return 0;
}
