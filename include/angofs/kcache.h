/*
 * kcache.h - the kernel-cache policy: how the kernel may cache an open
 * file, decided in one place (src/fs/kcache.c; docs/SEMANTICS.md E1-E5,
 * S1-S4; docs/DESIGN-NOTES.md "Exports").
 *
 * The kernel has one inode per path: one size, one page cache, shared by
 * every handle of the path. A handle served through the page cache must
 * read the bytes the pages hold and the size the kernel holds; one that
 * cannot is served with direct_io, which is correct with any cached size
 * and pages but refuses a shared mmap (ENODEV: libfuse 3.14 cannot ask for
 * FUSE_DIRECT_IO_ALLOW_MMAP). Facts about the path go in, the way and its
 * flags come out; the per-path table that gathers the facts, and waits
 * when the answer is "wait", is the router's (src/fs/kcache.c).
 */
#ifndef ANGOFS_KCACHE_H
#define ANGOFS_KCACHE_H

/* Which rule a file follows. */
enum ao_kc_rule {
	/* content identified at open: a snapshot of bytes (project.json,
	 * task.json, answer.json, .status), or the identity of a complete
	 * file standing for them (assets, masks, snapshot files) */
	AO_KC_SMALL,
	/* the same for a dataset view's derived file (labels, annotations.json,
	 * data.yaml): a direct_io open still drops the kernel's old size */
	AO_KC_DERIVED,
	/* an export generation: only page-cache handles constrain the inode, an
	 * open waits for another generation's handles too (once per generation),
	 * and the path's entry outlives its handles as the kernel's copy does */
	AO_KC_EXPORT,
	/* a dataset image: page cache only when it is the image's one handle and
	 * its size is known, never a wait */
	AO_KC_IMAGE,
	/* the write side's files: always direct_io */
	AO_KC_WRITE,
};

struct ao_kc_facts {
	enum ao_kc_rule rule;
	/* the content has an identity now (a complete file, a known size; an
	 * in-memory snapshot always has) */
	int identified;
	/* other handles of the path that constrain it: SMALL, DERIVED every open
	 * one; EXPORT the page-cache ones; IMAGE every open one of the image */
	int others;
	/* all of those are closed already (FLUSH seen, RELEASE on its way) */
	int others_closed;
	/* the page-cache handles open read this very content ... */
	int same;
	/* ... and their drop of the kernel's attributes is done */
	int ready;
	/* a wait is allowed: the bound (2 s) not reached, not a -s loop */
	int may_wait;
	/* EXPORT: an open of this generation of the path waited in vain before */
	int gave_up;
	/* EXPORT, no other handle: the kernel's attributes are of another
	 * generation, size or mtime (stat gave another) */
	int kernel_stale;
	/* EXPORT, no other handle: the inode's pages are this generation's */
	int kernel_pages;
};

enum ao_kc_way {
	AO_KC_DIRECT, /* direct_io */
	AO_KC_ALONE,  /* the page cache, this content becoming the path's */
	AO_KC_SHARE,  /* the page cache, shared with handles reading the same */
	AO_KC_WAIT,   /* wait (bounded) for the other handles, then ask again */
};

struct ao_kc_flags {
	enum ao_kc_way way;
	int direct_io;
	int keep_cache;
	/* drop the kernel's attributes of the path (the adapter's side thread):
	 * before the reply when served through the page cache (the open waits
	 * for it, bounded: not in time, direct_io after all), after it with
	 * direct_io (close waits for it) */
	int must_invalidate;
	/* a page-cache handle: stat of the path reports its content's size
	 * while it is open */
	int pinned;
};

/* The way for one open (pure: no state, no lock). */
void ao_kc_decide(const struct ao_kc_facts *f, struct ao_kc_flags *out);

#endif
