/*
 * kcache.c - the kernel-cache policy (include/angofs/kcache.h): the
 * decision, pure (ao_kc_decide), and the table of paths that gives it its
 * facts and waits when it says "wait".
 *
 * A page-cache open is safe when nothing else holds the inode's pages and
 * size (alone: its content becomes the path's, the kernel's attributes
 * dropped first unless they already describe it), or when the handles that
 * do read the very same content and their drop is done (share). Anything
 * else is direct_io, after a bounded wait where the answer can change soon:
 * handles of the path already closed whose RELEASE is on its way (the
 * kernel sends it in the background, so it can reach another worker after
 * the next OPEN of the same file: `cat f; python -c 'mmap f'`), the drop of
 * the same content under way, or for an export handles of another
 * generation, which readers close soon (once per generation: gave_up).
 * Handles really open with other bytes are not waited for. Single-threaded
 * mounts (-s) never wait (no other worker could serve the release).
 *
 * Per path (one kernel inode; a hidden alias such as the project's id is
 * another path, another inode) the table counts the open handles, those
 * already closed (FLUSH seen, RELEASE not yet) and those served through the
 * page cache, with the identity of what those read. An export's entry
 * outlives its handles, since the kernel's copy does: it remembers the
 * generation, size and mtime stat last gave for the path and the generation
 * whose pages the inode may hold, so an unchanged export opened alone keeps
 * its pages and a changed one has them dropped; while page-cache handles of
 * a generation are open, stat reports that generation's size (the kernel
 * clamps their reads to it), and when the last one closes with a newer
 * generation current the adapter drops the kernel's attributes. An
 * in-memory file is pinned the same way: stat shows the snapshot's length
 * while a page-cache handle of it is open.
 *
 * Entries live while a handle of the path is open or an open waits on it;
 * those of exports and complete media objects (the EXPORT rule) also after,
 * up to KC_RETAINED of them: past that, the unused ones are forgotten, which
 * only costs their next open a drop of the kernel's copy (what the kernel
 * holds is then unknown). The table is hashed by path. One mutex, a leaf;
 * waits release it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "angofs/kcache.h"

/* ---- the decision -------------------------------------------------------- */

static void set(struct ao_kc_flags *o, enum ao_kc_way way, int keep, int inval)
{
	o->way = way;
	o->direct_io = way == AO_KC_DIRECT || way == AO_KC_WAIT;
	o->keep_cache = keep;
	o->must_invalidate = inval;
	o->pinned = way == AO_KC_ALONE || way == AO_KC_SHARE;
}

static void decide_way(const struct ao_kc_facts *f, struct ao_kc_flags *o);

void ao_kc_decide(const struct ao_kc_facts *f, struct ao_kc_flags *o)
{
	decide_way(f, o);
	o->drop_first = o->direct_io && o->must_invalidate && f->drop_first;
}

static void decide_way(const struct ao_kc_facts *f, struct ao_kc_flags *o)
{
	int exp = f->rule == AO_KC_EXPORT;

	memset(o, 0, sizeof(*o));
	if (f->rule == AO_KC_WRITE)
		return set(o, AO_KC_DIRECT, 0, 0);
	if (f->rule == AO_KC_IMAGE) { /* counted per image, not per content */
		set(o, f->identified && !f->others ? AO_KC_ALONE : AO_KC_DIRECT, 0, f->identified);
		o->pinned = 0;
		return;
	}
	if (!f->identified) /* downloading, size unknown: any cached size is wrong */
		return set(o, AO_KC_DIRECT, 0, f->drop_when_direct);
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
	set(o, AO_KC_DIRECT, 0, f->drop_when_direct);
}

/* ---- the table ----------------------------------------------------------- */

struct kc_entry {
	struct kc_entry *next;
	char *path;   /* the mount path: one kernel inode */
	int open;     /* handles of this path */
	int flushed;  /* of them, closed (FLUSH seen): RELEASE on its way */
	int waiting;  /* opens waiting on this entry: kept while > 0 */
	int pc_open;  /* of the handles, those served through the page cache */
	int pc_ready; /* their attribute drop is done (ao_kc_cached) */
	char *pc_id;  /* what they read (pc_len bytes): the content, a file's
			 identity, or an export generation (struct xgen) */
	size_t pc_len;
	int pc_bytes; /* pc_id is the content (stat shows pc_len) */
	/* exports only (exp): the generation, size and mtime stat last gave for
	 * this path (attr_gen 0: unknown), the generation whose pages the inode
	 * may hold, and a generation whose open already waited in vain */
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

#define KC_BUCKETS 4096
#define KC_RETAINED 8192

struct ao_kc {
	long open_wait_ms;		  /* immutable */
	pthread_mutex_t lock;		  /* the table and every entry: a leaf */
	pthread_cond_t cv;		  /* a handle released, closed, or its drop done */
	struct kc_entry *tab[KC_BUCKETS]; /* lock */
	int n;				  /* lock: entries in tab */
};

static unsigned bucket(const char *path)
{
	unsigned h = 2166136261u; /* FNV-1a */

	for (; *path; path++)
		h = (h ^ (unsigned char)*path) * 16777619u;
	return h % KC_BUCKETS;
}

struct ao_kc *ao_kc_new(long open_wait_ms)
{
	struct ao_kc *kc = calloc(1, sizeof(*kc));
	pthread_condattr_t a;

	if (!kc)
		return NULL;
	kc->open_wait_ms = open_wait_ms;
	pthread_mutex_init(&kc->lock, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&kc->cv, &a);
	pthread_condattr_destroy(&a);
	return kc;
}

static void entry_free(struct kc_entry *e)
{
	free(e->pc_id);
	free(e->path);
	free(e);
}

void ao_kc_free(struct ao_kc *kc)
{
	if (!kc)
		return;
	for (int i = 0; i < KC_BUCKETS; i++)
		while (kc->tab[i]) {
			struct kc_entry *e = kc->tab[i];
			kc->tab[i] = e->next;
			entry_free(e);
		}
	pthread_cond_destroy(&kc->cv);
	pthread_mutex_destroy(&kc->lock);
	free(kc);
}

static struct kc_entry *find(struct ao_kc *kc, const char *path)
{
	for (struct kc_entry *e = kc->tab[bucket(path)]; e; e = e->next)
		if (!strcmp(e->path, path))
			return e;
	return NULL;
}

/* Too many entries: forget every one no handle or open uses (lock held). */
static void forget_unused(struct ao_kc *kc)
{
	for (int i = 0; i < KC_BUCKETS; i++)
		for (struct kc_entry **pp = &kc->tab[i]; *pp;) {
			struct kc_entry *e = *pp;
			if (e->open || e->waiting) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			entry_free(e);
			kc->n--;
		}
}

/* path's entry, made if missing (lock held); NULL: out of memory */
static struct kc_entry *entry(struct ao_kc *kc, const char *path)
{
	struct kc_entry *e = find(kc, path);

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (e)
		e->path = strdup(path);
	if (!e || !e->path) {
		free(e);
		return NULL;
	}
	if (kc->n >= KC_RETAINED)
		forget_unused(kc);
	unsigned b = bucket(path);
	e->next = kc->tab[b];
	kc->tab[b] = e;
	kc->n++;
	return e;
}

static void drop_if_unused(struct ao_kc *kc, struct kc_entry *e)
{
	if (e->open || e->waiting || e->exp)
		return;
	for (struct kc_entry **pp = &kc->tab[bucket(e->path)]; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			kc->n--;
			break;
		}
	entry_free(e);
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

/* The facts of an open of id on e now (lock held). */
static void facts(const struct kc_entry *e, const struct ao_kc_id *id, const void *ident,
		  size_t len, int timed, struct ao_kc_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->rule = id->rule;
	f->identified = ident != NULL;
	f->drop_when_direct = id->drop_when_direct;
	f->drop_first = id->drop_first;
	/* an export's direct_io handles read past any size and hold no page */
	f->others = e->exp ? e->pc_open : e->open;
	f->others_closed = e->flushed >= e->open;
	f->same = e->pc_open && e->pc_len == len && (!len || !memcmp(e->pc_id, ident, len));
	f->ready = e->pc_ready;
	f->may_wait = !timed;
	f->gave_up = e->exp && e->gave_up == id->gen;
	f->kernel_stale =
	    e->attr_gen != id->gen || e->attr_size != id->size || e->attr_mtime != id->mtime;
	f->kernel_pages = e->page_gen == id->gen;
}

/* Decide for fh on e, waiting while the policy says so (lock held). */
static void decide(struct ao_kc *kc, struct kc_entry *e, struct ao_fh *fh, const void *ident,
		   size_t len)
{
	long ms = kc->open_wait_ms;
	int timed = ms <= 0;
	struct ao_kc_facts f;
	struct timespec dl;

	if (!timed)
		deadline(&dl, ms);
	e->waiting++;
	for (;;) {
		facts(e, &fh->id, ident, len, timed, &f);
		ao_kc_decide(&f, &fh->kc);
		if (fh->kc.way != AO_KC_WAIT)
			break;
		if (pthread_cond_timedwait(&kc->cv, &kc->lock, &dl) == ETIMEDOUT) {
			timed = 1;
			if (!f.same && e->exp)
				e->gave_up = fh->id.gen; /* once per generation */
		}
	}
	e->waiting--;
}

/* The way decided: the entry's state follows (lock held); 0 or -ENOMEM. */
static int track(struct kc_entry *e, struct ao_fh *fh, const void *ident, size_t len)
{
	struct ao_kc_flags *k = &fh->kc;

	if (k->way == AO_KC_ALONE) { /* its content becomes the path's */
		char *copy = malloc(len ? len : 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, ident, len);
		free(e->pc_id);
		e->pc_id = copy;
		e->pc_len = len;
		e->pc_bytes = fh->id.bytes;
		e->pc_open = 0;
		e->pc_ready = 0;
		if (e->exp) {
			e->pc_ready = !k->must_invalidate;
			e->page_gen = fh->id.gen;
			e->attr_gen = fh->id.gen; /* what the kernel holds once the drop is done */
			e->attr_size = fh->id.size;
			e->attr_mtime = fh->id.mtime;
		}
	}
	if (k->pinned)
		e->pc_open++;
	e->open++;
	fh->kc_entry = e;
	return 0;
}

int ao_kc_open(struct ao_kc *kc, const char *path, struct ao_fh *fh)
{
	struct ao_kc_facts f = {.rule = fh->id.rule,
				.identified = fh->id.rule == AO_KC_IMAGE ? fh->id.known : 1,
				.others = fh->id.others};
	struct xgen g = {fh->id.gen, fh->id.size};
	const void *ident = fh->id.id;
	size_t len = fh->id.len;
	struct kc_entry *e;
	int rc;

	fh->kc_entry = NULL;
	fh->flushed = 0;
	if (fh->id.rule == AO_KC_WRITE || fh->id.rule == AO_KC_IMAGE || !path) {
		if (!path && fh->id.rule != AO_KC_IMAGE)
			f.rule = AO_KC_WRITE; /* no path, no inode to reason about */
		ao_kc_decide(&f, &fh->kc);
		return 0;
	}
	if (fh->id.rule == AO_KC_EXPORT) {
		ident = &g;
		len = sizeof(g);
	}
	pthread_mutex_lock(&kc->lock);
	if (!(e = entry(kc, path))) {
		pthread_mutex_unlock(&kc->lock);
		return -ENOMEM;
	}
	e->exp |= fh->id.rule == AO_KC_EXPORT;
	decide(kc, e, fh, ident, len);
	if ((rc = track(e, fh, ident, len)) < 0) {
		drop_if_unused(kc, e);
		pthread_mutex_unlock(&kc->lock);
		return rc;
	}
	pthread_mutex_unlock(&kc->lock);
	return 0;
}

void ao_kc_flushed(struct ao_kc *kc, struct ao_fh *fh)
{
	if (!fh || !fh->kc_entry || fh->flushed)
		return;
	pthread_mutex_lock(&kc->lock);
	fh->flushed = 1;
	fh->kc_entry->flushed++;
	pthread_cond_broadcast(&kc->cv);
	pthread_mutex_unlock(&kc->lock);
}

void ao_kc_cached(struct ao_kc *kc, struct ao_fh *fh, int done)
{
	struct kc_entry *e = fh ? fh->kc_entry : NULL;

	if (!e || !fh->kc.pinned)
		return;
	pthread_mutex_lock(&kc->lock);
	if (done) {
		e->pc_ready = 1;
	} else { /* the adapter serves it with direct_io after all */
		e->pc_open--;
		fh->kc.pinned = 0;
		fh->kc.direct_io = 1;
		e->attr_gen = 0; /* the kernel's attributes: not known */
	}
	pthread_cond_broadcast(&kc->cv);
	pthread_mutex_unlock(&kc->lock);
}

int ao_kc_release(struct ao_kc *kc, struct ao_fh *fh, unsigned long cur_gen)
{
	struct kc_entry *e = fh->kc_entry;

	if (!e)
		return 0;
	pthread_mutex_lock(&kc->lock);
	e->open--;
	if (fh->flushed)
		e->flushed--;
	if (fh->kc.pinned)
		e->pc_open--;
	if (!e->pc_open)
		e->pc_ready = 0;
	/* an export's pin ends: the kernel holds the size of a generation that
	 * is no longer current (ao_kc_stat gave it while pinned) */
	int stale = e->exp && fh->kc.pinned && !e->pc_open && e->attr_gen != cur_gen;
	drop_if_unused(kc, e);
	pthread_cond_broadcast(&kc->cv);
	pthread_mutex_unlock(&kc->lock);
	fh->kc_entry = NULL;
	return stale;
}

static void set_size(struct stat *st, long long size)
{
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

void ao_kc_ttl(const struct ao_kc_ttl_cfg *c, enum ao_kc_node node, struct ao_kc_ttl *out)
{
	/* today one value each for names and attributes, files and
	 * directories alike; a missing name is kept for `negative` */
	out->entry = node == AO_KC_NODE_NONE ? c->negative : c->entry;
	out->attr = node == AO_KC_NODE_NONE ? 0 : c->attr;
}

static __thread unsigned long seen_gen; /* the calling thread's last stat */

unsigned long ao_kc_seen(void)
{
	return seen_gen;
}

void ao_kc_seen_clear(void)
{
	seen_gen = 0;
}

void ao_kc_stat(struct ao_kc *kc, const char *path, const struct ao_kc_id *id, struct stat *st)
{
	if (id && id->rule == AO_KC_EXPORT)
		seen_gen = id->gen;
	if (!path || !id || (id->rule != AO_KC_EXPORT && !id->bytes))
		return;
	pthread_mutex_lock(&kc->lock);
	struct kc_entry *e = find(kc, path);
	if (e && e->exp && id->rule == AO_KC_EXPORT) {
		unsigned long gen = id->gen;
		long long size = id->size;
		if (e->pc_open && e->pc_len == sizeof(struct xgen)) {
			/* pinned: the size of the generation its page cache holds */
			const struct xgen *g = (const struct xgen *)e->pc_id;
			gen = g->gen;
			size = g->size;
			set_size(st, size);
		}
		e->attr_gen = gen;
		seen_gen = gen; /* what the kernel's attributes will describe */
		e->attr_size = size;
		e->attr_mtime = id->mtime;
	} else if (e && e->pc_open && e->pc_bytes) {
		set_size(st, (long long)e->pc_len); /* the snapshot its handles read */
	}
	pthread_mutex_unlock(&kc->lock);
}
