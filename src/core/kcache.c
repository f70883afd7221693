/*
 * kcache.c - the kernel-cache policy (include/angofs/kcache.h): facts in,
 * way and flags out, for every kind of file the mount serves.
 *
 * A page-cache open is safe when nothing else holds the inode's pages and
 * size (alone: its content becomes the path's, the kernel's attributes
 * dropped first unless they already describe it), or when the handles that
 * do read the very same content and their drop is done (share). Anything
 * else is direct_io, after a bounded wait where the answer can change soon:
 * handles of the path already closed whose RELEASE is on its way (the
 * kernel sends it in the background: `cat f; python -c 'mmap f'`), the drop
 * of the same content under way, or for an export handles of an older
 * generation, which readers close soon (once per generation). Handles really
 * open with other bytes are not waited for.
 */
#include <string.h>

#include "angofs/kcache.h"

static void set(struct ao_kc_flags *o, enum ao_kc_way way, int keep, int inval)
{
	o->way = way;
	o->direct_io = way == AO_KC_DIRECT || way == AO_KC_WAIT;
	o->keep_cache = keep;
	o->must_invalidate = inval;
	o->pinned = way == AO_KC_ALONE || way == AO_KC_SHARE;
}

/* An image's rule: no wait, no share (its count is per image, not per
 * content); alone with a known size, the page cache at that size. */
static void image(const struct ao_kc_facts *f, struct ao_kc_flags *o)
{
	set(o, f->identified && !f->others ? AO_KC_ALONE : AO_KC_DIRECT, 0, f->identified);
	o->pinned = 0;
}

void ao_kc_decide(const struct ao_kc_facts *f, struct ao_kc_flags *o)
{
	int exp = f->rule == AO_KC_EXPORT;

	memset(o, 0, sizeof(*o));
	if (f->rule == AO_KC_WRITE)
		return set(o, AO_KC_DIRECT, 0, 0);
	if (f->rule == AO_KC_IMAGE)
		return image(f, o);
	if (!f->identified) /* downloading, size unknown: any cached size is wrong */
		return set(o, AO_KC_DIRECT, 0, f->rule == AO_KC_DERIVED);
	if (!f->others) {
		if (!exp)
			return set(o, AO_KC_ALONE, 0, 1);
		/* the export's pages stay when they are this generation's and the
		 * kernel's attributes describe it (a warm open costs nothing) */
		return set(o, AO_KC_ALONE, !f->kernel_stale && f->kernel_pages, f->kernel_stale);
	}
	if (f->same && f->ready)
		return set(o, AO_KC_SHARE, 1, 0);
	int worth = f->same || (exp ? !f->gave_up : f->others_closed);
	if (f->may_wait && worth)
		return set(o, AO_KC_WAIT, 0, 0);
	/* not alone at the end: direct_io, whatever the kernel holds */
	set(o, AO_KC_DIRECT, 0, f->rule == AO_KC_DERIVED);
}
