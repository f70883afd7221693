/*
 * grow.c - a cold export served while its full download is unzipped.
 *
 * An export never cached is downloaded and unzipped as a stream
 * (exports/download.c), yet its readers used to wait for the whole file:
 * `head -c 100` of a 1 GB export took as long as `cat`. Design choice: the
 * FUSE read path's first open of a cold export starts the fetch on a thread
 * of its own (no reader's interrupt can cancel a download others follow;
 * a stop does) and, once the zip is known to be larger than cfg.first_bytes
 * and its first bytes are unzipped, gets a descriptor of the temp data file
 * the unzip writes. Its reads wait (ao_xcache_wait_grow, interruptible) until
 * the bytes they ask for are written, the file is complete (the download and
 * its checks succeeded: end of file is only ever seen then), or the download
 * failed (EIO for bytes never written). The file is published exactly as
 * before (rename, H.meta under byte 0): other daemons and other users of the
 * cache (datasets, task listings) still see one complete generation or none.
 *
 * Its size is not known before the end (the zip's member sizes follow its
 * data). So a growing handle is direct_io (reads go past any size the kernel
 * holds), and stat of the path waits, interruptibly, while such handles are
 * open, until the fetch ends: fstat is the number of bytes the descriptor
 * reads (docs/SEMANTICS.md E13). Small exports (a zip up to first_bytes)
 * keep the whole-file open: page cache, shared mmap, true size at open.
 *
 * Locks: every field of a struct ao_xgrow is c->lock's; the download thread
 * and the unzip worker take it for moments (once per block written) to tell
 * their progress and wake the readers sleeping on c->cond. A grow lives while
 * its download runs (the entry's reference) and while handles hold it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "angofs/cancel.h"
#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "exports_int.h"

struct ao_xgrow {
	struct ao_xcache *c;	 /* immutable */
	int refs;		 /* the entry's (while its fetch runs) and each handle's */
	int open;		 /* handles attached */
	unsigned long id;	 /* view generation (the kernel-cache table's) */
	unsigned long long dgen; /* the generation number it is published as */
	int fd;			 /* read-only descriptor of the data file (-1: not begun) */
	long long ready;	 /* bytes written so far */
	long long size;		 /* complete: its size (-1: not yet) */
	int failed;		 /* bytes past `bad` never come */
	long long bad;
};

static void unref(struct ao_xgrow *g)
{
	if (--g->refs > 0)
		return;
	if (g->fd >= 0)
		close(g->fd);
	free(g);
}

static void begin(void *ud, const char *path)
{
	struct ao_xgrow *g = ud;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		ao_warn("export: %s: %s: served once complete", path, strerror(errno));
	pthread_mutex_lock(&g->c->lock);
	g->fd = fd;
	pthread_cond_broadcast(&g->c->cond);
	pthread_mutex_unlock(&g->c->lock);
}

static void written(void *ud, long long n)
{
	struct ao_xgrow *g = ud;

	pthread_mutex_lock(&g->c->lock);
	/* the first bytes wake the openers, later ones the readers */
	if (g->open || g->ready == 0)
		pthread_cond_broadcast(&g->c->cond);
	g->ready = n;
	pthread_mutex_unlock(&g->c->lock);
}

static void voided(void *ud)
{
	struct ao_xgrow *g = ud;

	pthread_mutex_lock(&g->c->lock);
	if (!g->failed)
		ao_warn("export: the streamed unzip failed after %lld bytes: its readers get "
			"EIO; the zip file is extracted again",
			g->ready);
	g->failed = 1;
	g->bad = 0; /* nothing it wrote is known good */
	pthread_cond_broadcast(&g->c->cond);
	pthread_mutex_unlock(&g->c->lock);
}

int xc_grow_watch(struct ao_xcache *c, struct ao_xentry *e, unsigned long long dgen,
		  struct xc_watch *w)
{
	struct ao_xgrow *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->c = c;
	g->refs = 1;
	g->fd = -1;
	g->size = -1;
	g->dgen = dgen;
	pthread_mutex_lock(&c->lock);
	g->id = ++c->next_gen;
	if (e->grow)
		unref(e->grow);
	e->grow = g;
	pthread_mutex_unlock(&c->lock);
	*w = (struct xc_watch){begin, written, voided, g};
	return 0;
}

void xc_grow_end(struct ao_xcache *c, struct ao_xentry *e, int rc, long long size)
{
	pthread_mutex_lock(&c->lock);
	struct ao_xgrow *g = e->grow;
	if (g) {
		if (rc == 0 && !g->failed) {
			g->ready = g->size = size;
		} else if (!g->failed) {
			g->failed = 1;
			g->bad = g->ready;
		}
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
}

void xc_grow_drop(struct ao_xcache *c, struct ao_xentry *e)
{
	struct ao_xgrow *g = e->grow;

	(void)c;
	if (!g)
		return;
	if (g->size < 0 && !g->failed) {
		g->failed = 1; /* the fetch ended without saying: nothing more comes */
		g->bad = g->ready;
	}
	e->grow = NULL;
	unref(g);
}

int xc_grow_attach(struct ao_xcache *c, struct ao_xentry *e, struct ao_xopen *o)
{
	struct ao_xgrow *g = e->grow;
	long long total = __atomic_load_n(&e->total, __ATOMIC_RELAXED);

	if (!g || g->fd < 0 || g->failed || c->cfg.first_bytes <= 0 || total <= 0 ||
	    total <= c->cfg.first_bytes || (g->ready <= 0 && g->size < 0))
		return -EAGAIN;
	int lfd = xc_entry_lockfd(c, e);
	if (lfd < 0)
		return -EAGAIN;
	if (e->nholds == e->capholds) {
		size_t cap = e->capholds * 2 + 4;
		struct xhold *h = realloc(e->holds, cap * sizeof(*h));
		if (!h)
			return -EAGAIN;
		e->holds = h;
		e->capholds = cap;
	}
	int held = 0;
	for (size_t i = 0; i < e->nholds; i++)
		held |= e->holds[i].dgen == g->dgen;
	/* its generation's byte, as for any open generation (cachedir.h) */
	if (!held && ao_lock_byte(lfd, (off_t)g->dgen, F_RDLCK, 0) < 0)
		return -EAGAIN;
	int fd = fcntl(g->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		if (!held)
			ao_lock_byte(lfd, (off_t)g->dgen, F_UNLCK, 0);
		return -EAGAIN;
	}
	e->holds[e->nholds++] = (struct xhold){fd, g->dgen, g};
	g->refs++;
	g->open++;
	o->fd = fd;
	o->grow = g;
	o->gen = g->id;
	o->size = -1;
	o->mtime = e->shown_at ? e->shown_at : time(NULL);
	e->open_count++;
	e->last_access = time(NULL);
	return 0;
}

void xc_grow_close(struct ao_xgrow *g)
{
	g->open--;
	unref(g);
}

int xc_grow_readers(const struct ao_xentry *e)
{
	return e->grow && e->grow->open > 0;
}

int xc_grow_state(const struct ao_xentry *e, long long *ready, int *open)
{
	if (!e->grow)
		return 0;
	*ready = e->grow->ready;
	*open = e->grow->open;
	return 1;
}

int ao_xcache_wait_grow(struct ao_xcache *c, struct ao_xgrow *g, long long end, struct ao_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (g->size >= 0)
			break; /* complete: pread sees the end of file */
		if (g->failed) {
			if (end > g->bad)
				rc = ao_errf(err, EIO,
					     "the export download failed after %lld bytes (see the "
					     "log); open the file again",
					     g->bad);
			break;
		}
		if (g->ready >= end)
			break;
		if (ao_cancel_cond_wait(&c->cond, &c->lock) < 0) {
			rc = ao_errf(err, EINTR, "interrupted while the export downloads");
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
