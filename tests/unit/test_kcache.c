/*
 * test_kcache.c - the kernel-cache policy (include/angofs/kcache.h), one
 * row per case: each case that caused a race or an ENODEV before has its
 * row, named after it (docs/SEMANTICS.md E1-E5, S1-S4; the tests named
 * there reproduce them through a mount).
 */
#include <stdio.h>

#include "angofs/fh.h"
#include "angofs/kcache.h"
#include "t.h"

enum { D = AO_KC_DIRECT, A = AO_KC_ALONE, S = AO_KC_SHARE, W = AO_KC_WAIT };

struct row {
	const char *name;
	struct ao_kc_facts f;
	int way, direct_io, keep_cache, must_invalidate, pinned;
};

/* the facts in order: rule, identified, others, others_closed, same, ready,
 * may_wait, gave_up, kernel_stale, kernel_pages, drop_when_direct */
#define F(r, i, o, oc, s, rd, w, g, ks, kp, dd)                                                    \
	{                                                                                          \
		.rule = r, .identified = i, .others = o, .others_closed = oc, .same = s,           \
		.ready = rd, .may_wait = w, .gave_up = g, .kernel_stale = ks, .kernel_pages = kp,  \
		.drop_when_direct = dd                                                             \
	}
#define SM AO_KC_PATH
#define EX AO_KC_EXPORT
#define IM AO_KC_IMAGE
#define WR AO_KC_WRITE

static const struct row rows[] = {
    /* small files: project.json, task.json, answer.json, .status, assets */
    {"S1 first open of a task file: page cache, attributes dropped first",
     F(SM, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0), A, 0, 0, 1, 1},
    {"S1 shared mmap while the same bytes are open and dropped: share, no wait",
     F(SM, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0), S, 0, 1, 0, 1},
    {"same bytes, their drop under way: wait for it", F(SM, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0), W, 1, 0,
     0, 0},
    {"S4 cat f; mmap f: the old handle closed, RELEASE not yet in: wait",
     F(SM, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0), W, 1, 0, 0, 0},
    {"S4 ... its RELEASE did not come within the bound: direct_io",
     F(SM, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0), D, 1, 0, 0, 0},
    {"-s (one worker): the RELEASE cannot be served meanwhile, no wait",
     F(SM, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0), D, 1, 0, 0, 0},
    {"another handle really open with other bytes: direct_io, no wait",
     F(SM, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0), D, 1, 0, 0, 0},
    {"S4 other task files open change nothing (not facts of this path)",
     F(SM, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0), A, 0, 0, 1, 1},
    {"an asset still downloading: direct_io, the size it will have is unknown",
     F(SM, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0), D, 1, 0, 0, 0},
    {"an asset complete, alone: page cache at its true size", F(SM, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0),
     A, 0, 0, 1, 1},
    /* exports: one descriptor, one generation */
    {"E5 warm open of an unchanged export: the pages stay (keep_cache), no drop",
     F(EX, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0), A, 0, 1, 0, 1},
    {"E2 first open after a refresh: the kernel's size is another's: drop it",
     F(EX, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0), A, 0, 0, 1, 1},
    {"attributes right but the pages another generation's: no keep_cache",
     F(EX, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0), A, 0, 0, 0, 1},
    {"E1 a second reader of the same generation: share its pages",
     F(EX, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0), S, 0, 1, 0, 1},
    {"E4 a newer generation while an older one is open: wait (bounded)",
     F(EX, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0), W, 1, 0, 0, 0},
    {"E3 the older one still open at the bound: direct_io (the remaining case)",
     F(EX, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), D, 1, 0, 0, 0},
    {"E4 once per generation: a second open of it does not wait again",
     F(EX, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0), D, 1, 0, 0, 0},
    {"direct_io handles of the path hold no page: alone (others counts none)",
     F(EX, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0), A, 0, 0, 1, 1},
    {"a generation still being written (no identity yet): direct_io",
     F(EX, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0), D, 1, 0, 0, 0},
    /* dataset files */
    {"a derived file shared with its own bytes: share", F(SM, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1), S, 0,
     1, 0, 1},
    {"a derived file beside other bytes: direct_io, but its old size dropped",
     F(SM, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1), D, 1, 0, 1, 0},
    {"an image alone with its size known: page cache at its true size (tar)",
     F(IM, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0), A, 0, 0, 1, 0},
    {"an image open elsewhere: direct_io (a READ may hold a page), dropped later",
     F(IM, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0), D, 1, 0, 1, 0},
    {"an image not downloaded: direct_io, nothing to drop yet", F(IM, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0),
     D, 1, 0, 0, 0},
    /* the write side */
    {"a drop-box file or answer.json being written: direct_io", F(WR, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0),
     D, 1, 0, 0, 0},
};

/* Passthrough, per node (ao_kc_pt_decide): on, eligible, node_backing,
 * node_same, node_others, node_other_content -> the way. */
static const struct {
	const char *name;
	struct ao_kc_pt_facts f;
	enum ao_kc_pt want;
} pt_rows[] = {
    {"a complete export on a node nobody has open: a backing file made",
     {1, 1, 0, 0, 0, 0},
     AO_KC_PT_NEW},
    {"the same generation opened again while the first is open: its backing",
     {1, 1, 1, 1, 0, 0},
     AO_KC_PT_JOIN},
    {"a newer generation on the node an older one passes through (E3): a new node",
     {1, 1, 1, 0, 0, 0},
     AO_KC_PT_RETRY},
    {"a file still downloading on a node held by passthrough: a new node, never EIO",
     {1, 0, 1, 0, 0, 0},
     AO_KC_PT_RETRY},
    {"passthrough off, a node with a backing left from before: a new node",
     {0, 1, 1, 1, 0, 0},
     AO_KC_PT_RETRY},
    {"a complete file on a node with page-cache or direct_io handles: the normal way",
     {1, 1, 0, 0, 1, 0},
     AO_KC_PT_NO},
    {"a file still downloading: the normal way", {1, 0, 0, 0, 0, 0}, AO_KC_PT_NO},
    {"passthrough off (libfuse < 3.17, no CAP_SYS_ADMIN, -o passthrough=off)",
     {0, 1, 0, 0, 0, 0},
     AO_KC_PT_NO},
};

static void test_passthrough(void)
{
	for (size_t i = 0; i < sizeof(pt_rows) / sizeof(pt_rows[0]); i++) {
		enum ao_kc_pt got = ao_kc_pt_decide(&pt_rows[i].f);
		if (got != pt_rows[i].want)
			fprintf(stderr, "%s: got %d, want %d\n", pt_rows[i].name, (int)got,
				(int)pt_rows[i].want);
		CHECK(got == pt_rows[i].want);
	}
}

/* One open and release of path as an export generation (or a complete
 * media object's content number); its flags. */
static struct ao_kc_flags open_close(struct ao_kc *kc, const char *path, unsigned long gen)
{
	struct ao_fh fh = {.id = {.rule = AO_KC_EXPORT, .gen = gen, .size = 100, .mtime = 7}};
	struct ao_kc_flags k;

	CHECK_INT(ao_kc_open(kc, path, &fh), 0);
	k = fh.kc;
	if (fh.kc.must_invalidate)
		ao_kc_cached(kc, &fh, 1); /* the adapter's drop is done */
	ao_kc_release(kc, &fh, gen);
	return k;
}

/* The table remembers what the kernel holds of a path after its handles
 * close (a warm open of the same content keeps it), for many paths (it is
 * hashed), and forgets the unused ones past its bound: their next open
 * drops the kernel's copy, never keeps it blindly. */
static void test_table_remembers_and_forgets(void)
{
	struct ao_kc *kc = ao_kc_new(0);
	struct ao_kc_flags k;
	char path[64];

	k = open_close(kc, "/p/assets/a.jpg", 5);
	CHECK(k.must_invalidate && !k.keep_cache); /* the kernel's size: unknown */
	k = open_close(kc, "/p/assets/a.jpg", 5);
	CHECK(!k.must_invalidate && k.keep_cache); /* warm: kept */
	k = open_close(kc, "/p/assets/a.jpg", 6);
	CHECK(k.must_invalidate && !k.keep_cache); /* another content */
	for (int i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "/p/assets/%d.jpg", i);
		open_close(kc, path, 100 + (unsigned long)i);
	}
	k = open_close(kc, "/p/assets/a.jpg", 6);
	CHECK(!k.must_invalidate && k.keep_cache); /* 5,000 more paths: remembered */
	k = open_close(kc, "/p/assets/17.jpg", 117);
	CHECK(!k.must_invalidate && k.keep_cache);
	for (int i = 5000; i < 20000; i++) {
		snprintf(path, sizeof(path), "/p/assets/%d.jpg", i);
		open_close(kc, path, 100 + (unsigned long)i);
	}
	k = open_close(kc, "/p/assets/a.jpg", 6);
	CHECK(k.must_invalidate && !k.keep_cache); /* forgotten: dropped, not kept */
	ao_kc_free(kc);
}

int main(void)
{
	test_passthrough();
	test_table_remembers_and_forgets();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct ao_kc_flags o;
		ao_kc_decide(&r->f, &o);
		int ok = (int)o.way == r->way && o.direct_io == r->direct_io &&
			 o.keep_cache == r->keep_cache && o.must_invalidate == r->must_invalidate &&
			 o.pinned == r->pinned;
		if (!ok)
			fprintf(
			    stderr,
			    "%s: got way %d direct_io %d keep_cache %d invalidate %d pinned %d\n",
			    r->name, o.way, o.direct_io, o.keep_cache, o.must_invalidate, o.pinned);
		CHECK(ok);
	}
	/* E13: an export still downloading: direct_io, its old size dropped
	 * before the open returns (drop_first); only there */
	struct ao_kc_facts f = {
	    .rule = AO_KC_PATH, .may_wait = 1, .drop_when_direct = 1, .drop_first = 1};
	struct ao_kc_flags o;
	ao_kc_decide(&f, &o);
	CHECK(o.way == AO_KC_DIRECT && o.direct_io && o.must_invalidate && o.drop_first);
	f.identified = 1; /* never with the page cache */
	ao_kc_decide(&f, &o);
	CHECK(o.way == AO_KC_ALONE && !o.drop_first);
	f.identified = 0;
	f.drop_first = 0; /* an asset downloading: dropped after the open */
	ao_kc_decide(&f, &o);
	CHECK(o.direct_io && o.must_invalidate && !o.drop_first);
	return t_done("kcache");
}
