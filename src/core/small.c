/*
 * small.c - how the kernel caches the in-memory files (project.json,
 * task.json, answer.json, .status), assets and masks, decided per file at
 * open. An in-memory handle holds its own snapshot, taken at open; the page
 * cache is shared by every handle of the inode, so handles served through it
 * must read the same bytes. Per path (one kernel inode; a hidden alias such
 * as the project's id is another path, another inode) this table
 * counts its open handles, those already closed (FLUSH seen, RELEASE not
 * yet), and those served through the page cache, with what those read: a
 * copy of the bytes, or for assets and masks the identity of the complete
 * cache file (device, inode, size) standing for them.
 *
 * An open is served through the page cache when
 *  - no other handle of the file is open ("alone"): the kernel's attributes
 *    are dropped first (`changed`: the adapter's open-lane side thread, the
 *    open waiting for it; keep_cache off, so the kernel drops the old pages
 *    at open); an in-memory file is then pinned: stat reports this
 *    snapshot's length while a page-cache handle is open, so the kernel's
 *    size matches the pages; or
 *  - page-cache handles are open, their drop is done (ao_core_cached) and
 *    this open reads the very same bytes: nothing to drop, the pages and size
 *    are right already (keep_cache on, no wait at all).
 * Otherwise the open waits, bounded (cfg.open_wait_ms), when that can
 * change soon: the drop of the same bytes is under way, or every other
 * handle has been closed already (its RELEASE is on its way: the kernel
 * sends it in the background, so it can reach another worker after the next
 * OPEN of the same file, `cat f; python -c 'mmap f'`). Other handles really
 * open with other bytes are not waited for. Not alone at the end: direct_io,
 * correct with any cached size and pages. Before this table the "alone" test
 * counted every in-memory file (and every asset or mask) of the mount, so
 * such an open, or any open while another process read some other file, got
 * direct_io, which refuses shared mmap (ENODEV). Single-threaded mounts (-s)
 * do not wait (no other worker could serve the release, and the kernel
 * queues a RELEASE before a later OPEN there anyway).
 *
 * Exports (one descriptor, one generation) follow the same rule with their
 * generation (its process-wide number and size) as the identity, and three
 * differences. Only page-cache handles of the path count as "others": a
 * direct_io handle reads past any size and holds no page. An open waits,
 * bounded, for handles of another generation still open too, not only for
 * those already closed (export readers close soon: `cat`, a loader), but
 * once per generation (a second open of it does not wait again: gave_up).
 * And the entry outlives its handles, since the kernel's copy does: it
 * remembers the generation, size and mtime stat last gave for the path and
 * the generation whose pages the inode may hold, so an unchanged export
 * opened alone keeps its pages (keep_cache, no drop) and a changed one has
 * them dropped. While page-cache handles of a generation are open, stat of
 * the path reports that generation's size (the kernel clamps their reads to
 * it); when the last one closes and a newer generation is current, the
 * adapter drops the kernel's attributes (side thread). What remains: a
 * handle of an older generation held open past the bound; the new open is
 * direct_io (its mmap: ENODEV) and its fstat shows the older size until that
 * handle closes (docs/DESIGN-NOTES.md, Exports).
 *
 * Entries live while a handle of the file is open or an open waits on it
 * (exports: as long as the core); everything is under c->lock (a leaf; the
 * wait releases it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_int.h"

struct small_file {
	struct small_file *next;
	char *path;   /* the mount path: one kernel inode (hidden aliases are others) */
	int open;     /* handles of this file */
	int flushed;  /* of them, closed (FLUSH seen, ao_core_flushed): RELEASE on its way */
	int waiting;  /* opens waiting in small_open on this entry: kept while > 0 */
	int pc_open;  /* of the handles, those served through the page cache */
	int pc_ready; /* their attribute drop is done (ao_core_cached) */
	char *pc_buf; /* what they read (pc_len): the bytes, the media file's identity,
			 or an export generation (struct xgen) */
	size_t pc_len;
	/* exports only (exp; the entry outlives its handles, as the kernel's
	 * copy does): the generation, size and mtime stat last gave for this
	 * path (attr_gen 0: unknown), the generation whose pages the inode may
	 * hold, and a generation whose open already waited in vain for the
	 * handles of another one (it does not wait again) */
	int exp;
	unsigned long attr_gen, page_gen, gave_up;
	long long attr_size;
	time_t attr_mtime;
};

/* An export generation as the page cache holds it. */
struct xgen {
	unsigned long gen;
	long long size;
};

void small_init(struct ao_core *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&c->small_cv, &a);
	pthread_condattr_destroy(&a);
}

void small_free_all(struct ao_core *c)
{
	while (c->small) {
		struct small_file *s = c->small;
		c->small = s->next;
		free(s->pc_buf);
		free(s->path);
		free(s);
	}
	pthread_cond_destroy(&c->small_cv);
}

static struct small_file *find(struct ao_core *c, const struct ao_node *n)
{
	for (struct small_file *s = c->small; s; s = s->next)
		if (!strcmp(s->path, n->path))
			return s;
	return NULL;
}

static void drop_if_unused(struct ao_core *c, struct small_file *s)
{
	if (s->open || s->waiting || s->exp)
		return;
	for (struct small_file **pp = &c->small; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	free(s->pc_buf);
	free(s->path);
	free(s);
}

static void deadline(struct timespec *dl, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, dl);
	dl->tv_sec += ms / 1000;
	dl->tv_nsec += (ms % 1000) * 1000000L;
	if (dl->tv_nsec >= 1000000000L) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000L;
	}
}

enum { DIRECT, ALONE, SHARE };

/* Which way a handle reading id (NULL: not through the page cache at all)
 * can be served; waits as the head says. */
static int decide(struct ao_core *c, struct small_file *s, const void *id, size_t idlen)
{
	long ms = c->cfg.open_wait_ms;
	int timed = ms <= 0;
	struct timespec dl;

	if (!id)
		return DIRECT;
	if (!timed)
		deadline(&dl, ms);
	for (;;) {
		/* an export's direct_io handles read past any size and hold no
		 * page: only its page-cache handles constrain the inode */
		if (!(s->exp ? s->pc_open : s->open))
			return ALONE;
		int same =
		    s->pc_open && s->pc_len == idlen && (!idlen || !memcmp(s->pc_buf, id, idlen));
		if (same && s->pc_ready)
			return SHARE;
		/* worth waiting for: the drop of the same bytes under way, or the
		 * RELEASE of handles already closed; for an export, also handles of
		 * another generation still open (readers close soon), once */
		if (timed)
			return DIRECT;
		if (!same && !s->exp && s->flushed < s->open)
			return DIRECT;
		if (!same && s->exp && s->gave_up == ((const struct xgen *)id)->gen)
			return DIRECT;
		if (pthread_cond_timedwait(&c->small_cv, &c->lock, &dl) == ETIMEDOUT) {
			timed = 1;
			if (!same && s->exp)
				s->gave_up = ((const struct xgen *)id)->gen;
		}
	}
}

/* n's entry, made if missing (mutex held); NULL: out of memory. */
static struct small_file *entry(struct ao_core *c, const struct ao_node *n)
{
	struct small_file *s = find(c, n);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (s)
		s->path = strdup(n->path);
	if (!s || !s->path) {
		free(s);
		return NULL;
	}
	s->next = c->small;
	c->small = s;
	return s;
}

/* The way decided for an open of id on s (mutex held); ALONE: its bytes
 * become the page cache's. */
static int track(struct ao_core *c, struct small_file *s, const void *id, size_t idlen)
{
	s->waiting++;
	int how = decide(c, s, id, idlen);
	s->waiting--;
	if (how == ALONE) {
		char *copy = malloc(idlen ? idlen : 1);
		if (!copy)
			return DIRECT;
		memcpy(copy, id, idlen);
		free(s->pc_buf);
		s->pc_buf = copy;
		s->pc_len = idlen;
		s->pc_open = 0;
		s->pc_ready = 0;
	}
	return how;
}

int small_track(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh, const void *id,
		size_t idlen)
{
	struct small_file *s;
	int how;

	fh->direct_io = 1;
	fh->keep_cache = 0;
	fh->changed = 0;
	fh->pinned = 0;
	if (!n->path)
		return 0; /* no path, no inode to reason about: direct_io */
	pthread_mutex_lock(&c->lock);
	if (!(s = entry(c, n))) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	how = track(c, s, id, idlen);
	if (how != DIRECT) {
		fh->direct_io = 0;
		fh->keep_cache = how == SHARE; /* the pages hold these bytes */
		fh->changed = how == ALONE;    /* the kernel's size may be old */
		fh->pinned = 1;
		s->pc_open++;
	}
	s->open++;
	fh->sf = s;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int small_track_export(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh,
		       unsigned long gen, long long size, time_t mtime)
{
	struct xgen id = {gen, size};
	struct small_file *s;
	int how;

	fh->direct_io = 1;
	fh->keep_cache = 0;
	fh->changed = 0;
	fh->pinned = 0;
	if (!n->path)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (!(s = entry(c, n))) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	s->exp = 1;
	how = track(c, s, &id, sizeof(id));
	if (how == ALONE) {
		/* the kernel's copy of the path: attributes of another generation
		 * or time are dropped first (the adapter, the open waiting);
		 * pages of this very generation are kept */
		fh->changed = s->attr_gen != gen || s->attr_size != size || s->attr_mtime != mtime;
		fh->keep_cache = !fh->changed && s->page_gen == gen;
		s->pc_ready = !fh->changed;
		s->page_gen = gen;
		s->attr_gen = gen; /* what the kernel holds once the drop is done */
		s->attr_size = size;
		s->attr_mtime = mtime;
	} else if (how == SHARE) {
		fh->keep_cache = 1;
	}
	if (how != DIRECT) {
		fh->direct_io = 0;
		fh->pinned = 1;
		s->pc_open++;
	}
	s->open++;
	fh->sf = s;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int small_open(struct ao_core *c, const struct ao_node *n, struct ao_core_fh *fh)
{
	return small_track(c, n, fh, fh->buf ? fh->buf : "", fh->len);
}

void ao_core_flushed(struct ao_core *c, struct ao_core_fh *fh)
{
	if (!fh || !fh->sf || fh->flushed)
		return;
	pthread_mutex_lock(&c->lock);
	fh->flushed = 1;
	fh->sf->flushed++;
	pthread_cond_broadcast(&c->small_cv);
	pthread_mutex_unlock(&c->lock);
}

void ao_core_cached(struct ao_core *c, struct ao_core_fh *fh, int done)
{
	if (!fh || !fh->sf || !fh->pinned)
		return;
	pthread_mutex_lock(&c->lock);
	if (done) {
		fh->sf->pc_ready = 1;
	} else { /* the adapter serves it with direct_io after all */
		fh->sf->pc_open--;
		fh->pinned = 0;
		fh->sf->attr_gen = 0; /* the kernel's attributes: not known */
	}
	pthread_cond_broadcast(&c->small_cv);
	pthread_mutex_unlock(&c->lock);
}

int small_release(struct ao_core *c, struct ao_core_fh *fh, unsigned long cur_gen)
{
	struct small_file *s = fh->sf;

	if (!s)
		return 0;
	pthread_mutex_lock(&c->lock);
	s->open--;
	if (fh->flushed)
		s->flushed--;
	if (fh->pinned)
		s->pc_open--;
	if (!s->pc_open)
		s->pc_ready = 0;
	/* an export's pin ends: the kernel holds the size of a generation that
	 * is no longer current (small_export_stat gave it while pinned) */
	int stale = s->exp && fh->pinned && !s->pc_open && s->attr_gen != cur_gen;
	drop_if_unused(c, s);
	pthread_cond_broadcast(&c->small_cv);
	pthread_mutex_unlock(&c->lock);
	fh->sf = NULL;
	return stale;
}

void small_export_stat(struct ao_core *c, const struct ao_node *n, unsigned long gen,
		       long long *size, time_t mtime)
{
	if (!n->path)
		return;
	pthread_mutex_lock(&c->lock);
	struct small_file *s = find(c, n);
	if (s && s->exp) {
		if (s->pc_open && s->pc_len == sizeof(struct xgen)) {
			/* pinned: the size of the generation its page cache holds */
			const struct xgen *g = (const struct xgen *)s->pc_buf;
			gen = g->gen;
			*size = g->size;
		}
		s->attr_gen = gen;
		s->attr_size = *size;
		s->attr_mtime = mtime;
	}
	pthread_mutex_unlock(&c->lock);
}

void small_pin_size(struct ao_core *c, const struct ao_node *n, struct stat *st)
{
	if (!n->path)
		return;
	pthread_mutex_lock(&c->lock);
	struct small_file *s = find(c, n);
	if (s && s->pc_open) {
		st->st_size = (off_t)s->pc_len;
		st->st_blocks = (blkcnt_t)((s->pc_len + 511) / 512);
	}
	pthread_mutex_unlock(&c->lock);
}
