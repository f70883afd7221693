/*
 * keep.c - complete media objects kept open after their last handle, and
 * their lazily written LRU stamps (media/media_int.h, "Kept objects").
 *
 * Design choice: a warm open of a cached image used to open H.lock, read
 * H.meta twice, open the data file, dup it, fstat it twice and stamp it:
 * work the page cache made useless, since the object had not changed. Now
 * the object stays in the table with its descriptors (an LRU list, bounded
 * by count from the descriptor limit, by a minute of idleness and by size),
 * and its first open again checks cheaply that it is still the published
 * generation: under the read lock of byte G (which an evictor must
 * write-lock before it unlinks), the file must still be linked (fstat) and
 * H.meta the same file as when the generation was taken (stat: another
 * daemon's newer generation replaces it by rename). A kept object holds no
 * lock, so other daemons evict it as if it were closed; this daemon's own
 * eviction takes it off the list first.
 *
 * The LRU stamp is the data file's mtime (every daemon's eviction sorts by
 * it). Writing it at each open cost a utimensat per cat; it is now written
 * when the last one on disk is lru_slack_s old, and an unwritten use is
 * written when the object leaves the list and before this daemon's
 * eviction scan, so this daemon's order is exact and another's is exact to
 * lru_slack_s.
 *
 * Locks: the list and kept objects' stamps are m->lock's; a kept object has
 * refs 0, so no other thread holds it (obj_get takes it off the list under
 * m->lock before anyone uses it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/log.h"
#include "media/media_int.h"
#include "../cachedir/cachedir.h"

#define KEEP_IDLE_S 60
#define KEEP_MAX_BYTES (64LL << 20)
#define KEEP_CEIL 1024

void mo_keep_init(struct ao_media *m)
{
	struct rlimit rl;
	long n = 256;

	if (m->cfg.keep_open < 0) {
		m->keep_max = 0;
		return;
	}
	if (m->cfg.keep_open > 0) {
		m->keep_max = m->cfg.keep_open;
		return;
	}
	/* two descriptors each (H.lock, the data file); half the limit at most,
	 * leaving 256 for everything else */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = ((long)rl.rlim_cur - 256) / 4;
	else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		n = KEEP_CEIL;
	m->keep_max = n < 0 ? 0 : n > KEEP_CEIL ? KEEP_CEIL : (int)n;
}

static long slack(const struct ao_media *m)
{
	return m->cfg.lru_slack_s > 0 ? m->cfg.lru_slack_s : 10;
}

/* Write o's pending use (o's lock, or m->lock while kept). */
static void stamp_pending(struct mobj *o)
{
	struct stat st;

	if (!o->cur || !o->gen || o->used <= o->stamped)
		return;
	/* never back: another daemon may have stamped a later use */
	if (fstat(o->cur->fd, &st) == 0 && st.st_mtime >= o->used) {
		o->stamped = st.st_mtime;
		return;
	}
	struct timespec ts[2] = {{o->used, 0}, {o->used, 0}};
	if (futimens(o->cur->fd, ts) == 0)
		o->stamped = o->used;
}

void mo_stamp(struct ao_media *m, struct mobj *o)
{
	time_t now = time(NULL);

	o->used = now;
	if (o->cur && o->gen && now - o->stamped >= slack(m) && futimens(o->cur->fd, NULL) == 0)
		o->stamped = now; /* last access, for eviction by any daemon */
}

int mo_keep(struct ao_media *m, struct mobj *o)
{
	if (!m->keep_max || m->stopping || o->state != M_READY || !o->cur || !o->gen ||
	    o->downloading || o->fhs || o->total > KEEP_MAX_BYTES)
		return 0;
	o->kept = 1;
	o->reval = 1;
	o->kept_at = time(NULL);
	o->kprev = NULL;
	o->knext = m->khead;
	if (m->khead)
		m->khead->kprev = o;
	m->khead = o;
	if (!m->ktail)
		m->ktail = o;
	m->nkept++;
	return 1;
}

void mo_unkeep(struct ao_media *m, struct mobj *o)
{
	if (!o->kept)
		return;
	if (o->kprev)
		o->kprev->knext = o->knext;
	else
		m->khead = o->knext;
	if (o->knext)
		o->knext->kprev = o->kprev;
	else
		m->ktail = o->kprev;
	o->kprev = o->knext = NULL;
	o->kept = 0;
	m->nkept--;
}

void mo_keep_drop(struct ao_media *m, struct mobj *o)
{
	unsigned long long h = strtoull(o->hash, NULL, 16);
	struct mobj **pp;

	mo_unkeep(m, o);
	stamp_pending(o);
	for (pp = &m->tab[h % MEDIA_BUCKETS]; *pp && *pp != o; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = o->next;
	/* closed under m->lock (see mo_put): no other object of this hash may
	 * open H.lock and lock through it before */
	if (o->lockfd >= 0)
		close(o->lockfd);
	o->lockfd = -1;
}

void mo_keep_trim(struct ao_media *m, int all, struct mobj **out)
{
	time_t now = time(NULL);

	*out = NULL;
	while (m->ktail &&
	       (all || m->nkept > m->keep_max || m->ktail->kept_at + KEEP_IDLE_S <= now)) {
		struct mobj *o = m->ktail;
		mo_keep_drop(m, o);
		o->knext = *out;
		*out = o;
	}
}

void mo_keep_flush(struct ao_media *m)
{
	for (struct mobj *o = m->khead; o; o = o->knext)
		stamp_pending(o);
}

int mo_keep_check(struct ao_media *m, struct mobj *o)
{
	struct stat st, ms;
	char path[4096];

	if (!o->cur || fstat(o->cur->fd, &st) < 0 || st.st_nlink == 0)
		return 0; /* evicted (by another daemon) while kept */
	if (st.st_mtime > o->stamped)
		o->stamped = st.st_mtime; /* another daemon's stamp */
	cd_path(m->cfg.dir, o->hash, "meta", path, sizeof(path));
	if (!o->meta_st.st_ino || stat(path, &ms) < 0 || ms.st_ino != o->meta_st.st_ino ||
	    ms.st_dev != o->meta_st.st_dev || ms.st_mtim.tv_sec != o->meta_st.st_mtim.tv_sec ||
	    ms.st_mtim.tv_nsec != o->meta_st.st_mtim.tv_nsec || ms.st_size != o->meta_st.st_size)
		return 0; /* another generation was published, or none is */
	return 1;
}
