/*
 * ll_files.c - the adapter's open files (src/daemon/adapter.h): the FUSE
 * file handles over the router's (angofs/fh.h), the kernel-cache flags of
 * an open, the invalidations they ask for, spliced reads, and the release
 * at unmount of what the kernel never released.
 *
 * Kernel invalidations are only ever made by the side threads (lanes,
 * src/daemon/inval.c), never inside a request handler: the kernel's
 * invalidation locks the file's pages, and a page can be locked by a READ
 * (an mmap fault, even of a closed file) that waits for a worker; called
 * from a handler (with -s, the only worker) that is a deadlock.
 *
 * When the content of a file changed since the kernel last saw its size (an
 * export's new generation; a small in-memory file, whose snapshot is taken
 * at open: the policy's must_invalidate, angofs/kcache.h, asked for a
 * page-cache open only when no other handle of that file is open), the
 * kernel's attributes of the node being opened must be dropped before the
 * first read, or reads are clamped to the old size and stat/mmap use it.
 * The open queues the invalidation for the side thread and waits for it,
 * bounded (OPEN_INVAL_WAIT_MS): done in time, the open is served through the
 * page cache (keep_cache off: the kernel drops the old pages itself at
 * open), so shared mmap works, the first read fetches the true size (the
 * router pins what stat reports while the file is open) and the next cat is
 * served from memory; the router is told either way (ao_router_cached: later
 * opens of the same bytes share the pages without a drop). Not done in time
 * (the side thread is held up, e.g. by such a READ, which this worker serves
 * once it replies): direct_io, which is correct with any cached size, and
 * flush (close) waits, bounded, for the queued invalidation so stat
 * afterwards is true. A wait, unlike the call, cannot deadlock: it ends at
 * its bound. Serving every changed open with direct_io instead was not
 * chosen: direct_io refuses shared mmap (libfuse 3.14 cannot ask for
 * FUSE_DIRECT_IO_ALLOW_MMAP), and shorter timeouts would cost every stat a
 * request without closing the window. Reads of files with a descriptor
 * (exports, complete media files) are spliced from it (fuse_reply_data).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "inval.h"
#include "angofs/log.h"

#define INVAL_WAIT_MS 3000	/* flush: the queued invalidation of a direct_io open */
#define OPEN_INVAL_WAIT_MS 2000 /* open: the invalidation that lets it use the page cache */

struct fh {
	struct ao_fh *f;     /* the router's */
	fuse_ino_t ino;	     /* the node it was opened on */
	int pt;		     /* it passes through (passthrough.c) */
	int counted;	     /* counted by its node's open files (ao_fs_pt_open) */
	int inval_lane;	     /* of inval_seq */
	unsigned long reads; /* atomic: READs served (release; read by RELEASE, acquire) */
	unsigned long inval_seq;
	struct fh *prev, *next; /* fh_live */
};

/*
 * Open handles. The kernel drops RELEASE requests still queued when the file
 * system goes away (unmount right after a close), so ao_ll_sweep releases
 * what is left here (valgrind: no handle is lost at exit).
 */
static pthread_mutex_t fh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fh *fh_live; /* fh_lock */
static int fh_count;	   /* fh_lock: handles in fh_live */
static int dirs_open;	   /* atomic: OPENDIRs not yet RELEASEDIR'd */

static void fh_link(struct fh *h)
{
	pthread_mutex_lock(&fh_lock);
	h->prev = NULL;
	h->next = fh_live;
	if (fh_live)
		fh_live->prev = h;
	fh_live = h;
	fh_count++;
	pthread_mutex_unlock(&fh_lock);
}

static void fh_unlink(struct fh *h)
{
	pthread_mutex_lock(&fh_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		fh_live = h->next;
	if (h->next)
		h->next->prev = h->prev;
	fh_count--;
	pthread_mutex_unlock(&fh_lock);
}

void ao_ll_dir_opened(int delta)
{
	__atomic_add_fetch(&dirs_open, delta, __ATOMIC_RELAXED);
}

int ao_fs_open_handles(void)
{
	pthread_mutex_lock(&fh_lock);
	int n = fh_count;
	pthread_mutex_unlock(&fh_lock);
	return n + __atomic_load_n(&dirs_open, __ATOMIC_RELAXED);
}

static struct ao_fs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static const struct ao_router *R(const struct ao_fs *fs)
{
	return &fs->router;
}

/* The handle behind a FUSE file handle (NULL for path-only calls). */
static struct fh *FH(const struct fuse_file_info *fi)
{
	return fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
}

struct ao_fh *ao_ll_fh(const struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	return h ? h->f : NULL;
}

/* Release a handle through the router, and free it. 1: the kernel's
 * attributes of its path are out of date (ao_router_release). */
static int fh_close(struct ao_fs *fs, struct fh *h)
{
	int stale = ao_router_release(&fs->router, h->f);

	free(h);
	return stale;
}

static void reply_err(fuse_req_t req, int rc)
{
	ao_fs_leave();
	fuse_reply_err(req, rc < 0 ? -rc : rc);
}

/* The kernel's attributes of node ino are to be dropped before the first
 * read (the policy's must_invalidate; head comment): 1 when done in time. */
static int drop_attrs(struct ao_fs *fs, struct fh *h, struct fuse_file_info *fi)
{
	struct ao_fh *f = h->f;
	/* a direct_io open's drop, and a passthrough one's when late, wait at
	 * flush; one whose size is not known yet (drop_first: an export or a
	 * media object still downloading) has its attributes dropped before it
	 * returns all the same (attributes only, on the open lane) */
	int lane = f->kc.direct_io && !h->pt ? LANE_OTHER : LANE_OPEN;
	unsigned long seq = ao_fs_inval_queue_node(fs, lane, h->ino);
	int done = lane == LANE_OPEN && ao_fs_inval_wait(fs, lane, seq, OPEN_INVAL_WAIT_MS);
	if (f->kc.drop_first)
		ao_fs_inval_wait(fs, LANE_OPEN, ao_fs_inval_queue_attr(fs, LANE_OPEN, h->ino),
				 OPEN_INVAL_WAIT_MS);

	ao_router_cached(R(fs), f, done); /* the policy's pin, per path */
	if (!done) {
		h->inval_lane = lane;
		h->inval_seq = seq;
	}
	return done;
}

/* A FUSE handle for what the router opened on node ino; the kernel's
 * caching for it. 0, -ENOMEM (f released) or -ESTALE (f kept: the node is
 * held by other content
 * with passthrough: looked up again); f is released on failure. */
static int make_handle(struct ao_fs *fs, fuse_req_t req, fuse_ino_t ino, const char *path,
		       struct fuse_file_info *fi, struct ao_fh *f)
{
	struct fh *h = calloc(1, sizeof(*h));
	int rc;

	if (!h) {
		ao_router_release(R(fs), f);
		return -ENOMEM;
	}
	h->f = f;
	h->ino = ino;
	fi->direct_io = f->kc.direct_io;
	fi->keep_cache = f->kc.keep_cache;
	if (ino && (rc = ao_fs_pt_open(fs, req, ino, f, fi, &h->pt)) < 0) {
		free(h); /* -ESTALE: f is the caller's (parked for the retry) */
		return rc;
	}
	h->counted = ino != 0;
	if (h->pt) /* after the router's line: the way it is served */
		ao_debug("open %s (%s): passthrough", path, f->ops->kind);
	fh_link(h);
	fi->fh = (uint64_t)(uintptr_t)h;
	if (h->pt) {
		/* the kernel reads the cache file whatever size it holds: only stat
		 * waits for the drop, the open briefly, flush for the rest */
		if (f->kc.must_invalidate)
			drop_attrs(fs, h, fi);
	} else if (f->kc.must_invalidate) {
		/*
		 * The kernel still has the old size (1 before the first fetch).
		 * The side thread drops its attributes (head comment); once that
		 * is done the first read refreshes the size (GETATTR) and goes
		 * through the page cache. Not in time: direct_io, and flush
		 * waits for the queued invalidation. A direct_io open whose
		 * size is not known yet (drop_first: an export or a media object
		 * still downloading) also has its attributes dropped before it
		 * returns, so its first fstat asks (sendfile splices through the
		 * page cache only up to the kernel's size): attributes only, on
		 * the open lane, which cannot wait for a page a READ holds.
		 */
		int done = drop_attrs(fs, h, fi);
		if (done) {
			fi->direct_io = 0;
			fi->keep_cache = 0;
		} else {
			fi->direct_io = 1;
		}
	}
	return 0;
}

/*
 * An open met a node held by other content passing through (-ESTALE, the
 * kernel looks the name up again and retries the open once): the router's
 * handle of what it opened waits here for that retry (the same thread, the
 * same path and flags), so the retry neither opens (fetches) again nor
 * meets other content: its lookup makes the node of this very content
 * (ao_ll_parked_key). PARK_MS at most, then released. pk_lock guards the
 * list; a leaf (releases happen outside it).
 */
#define PARK_MS 5000

struct parked {
	struct parked *next;
	char *path;
	pid_t pid;
	int flags;
	struct ao_fh *f;
	uint64_t key;
	struct timespec at;
};
static pthread_mutex_t pk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct parked *pk_list; /* pk_lock */

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Take the parked entries that match (path NULL: the expired ones; all:
 * every one) off the list (pk_lock held). */
static struct parked *take(const char *path, pid_t pid, int flags, int all)
{
	struct parked *out = NULL, **pp = &pk_list;

	while (*pp) {
		struct parked *p = *pp;
		int hit =
		    all || (path ? p->pid == pid && p->flags == flags && !strcmp(p->path, path)
				 : ms_since(&p->at) > PARK_MS);
		if (hit) {
			*pp = p->next;
			p->next = out;
			out = p;
			if (path)
				break;
		} else {
			pp = &p->next;
		}
	}
	return out;
}

static void drop_parked(struct ao_fs *fs, struct parked *p)
{
	while (p) {
		struct parked *next = p->next;
		ao_router_release(R(fs), p->f);
		free(p->path);
		free(p);
		p = next;
	}
}

static void park(struct ao_fs *fs, const char *path, pid_t pid, int flags, struct ao_fh *f)
{
	struct parked *p = calloc(1, sizeof(*p)), *old;

	if (p && !(p->path = strdup(path))) {
		free(p);
		p = NULL;
	}
	if (!p) {
		ao_router_release(R(fs), f);
		return;
	}
	p->pid = pid;
	p->flags = flags;
	p->f = f;
	p->key = ao_fs_pt_key(f);
	clock_gettime(CLOCK_MONOTONIC, &p->at);
	pthread_mutex_lock(&pk_lock);
	old = take(NULL, 0, 0, 0);
	struct parked *same = take(path, pid, flags, 0);
	if (same) {
		same->next = old;
		old = same;
	}
	p->next = pk_list;
	pk_list = p;
	pthread_mutex_unlock(&pk_lock);
	drop_parked(fs, old);
}

static struct ao_fh *unpark(struct ao_fs *fs, const char *path, pid_t pid, int flags)
{
	struct ao_fh *f = NULL;

	pthread_mutex_lock(&pk_lock);
	if (!pk_list) {
		pthread_mutex_unlock(&pk_lock);
		return NULL;
	}
	struct parked *old = take(NULL, 0, 0, 0), *p = take(path, pid, flags, 0);
	pthread_mutex_unlock(&pk_lock);
	drop_parked(fs, old);
	if (p) {
		f = p->f;
		free(p->path);
		free(p);
	}
	return f;
}

uint64_t ao_ll_parked_key(const char *path, pid_t pid)
{
	uint64_t key = 0;

	pthread_mutex_lock(&pk_lock);
	for (struct parked *p = pk_list; p; p = p->next)
		if (p->pid == pid && !strcmp(p->path, path)) {
			key = p->key;
			break;
		}
	pthread_mutex_unlock(&pk_lock);
	return key;
}

/* The reply to an open did not reach the kernel (the opener was
 * interrupted): no RELEASE will come. */
static void unmade(struct ao_fs *fs, fuse_req_t req, struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);

	(void)req; /* answered: freed by libfuse */
	fh_unlink(h);
	if (h->counted)
		ao_fs_pt_release(fs, NULL, h->ino, h->pt);
	fh_close(fs, h);
}

void ao_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	pid_t pid = fuse_req_ctx(req)->pid;
	char path[4096];
	struct ao_fh *f = NULL;
	struct ao_err e;

	ao_fs_enter(req);
	ao_err_clear(&e);
	int rc = ao_ino_path(fs->ino, ino, path, sizeof(path)), retried = 0;
	if (rc == 0 && !(retried = (f = unpark(fs, path, pid, fi->flags)) != NULL))
		rc = ao_router_open(R(fs), path, fi->flags, &f, &e);
	if (rc == 0)
		rc = make_handle(fs, req, ino, path, fi, f);
	if (rc == -ESTALE) {
		/* the node is held by other content passing through: the kernel
		 * looks the name up again and retries, once */
		if (retried)
			ao_router_release(R(fs), f);
		else
			park(fs, path, pid, fi->flags, f);
		ao_err_clear(&e);
		ao_errf(&e, ESTALE, "held by another generation with passthrough: looked up again");
	}
	if (rc < 0)
		return reply_err(req, ao_fs_fail("open", path, rc, &e));
	ao_fs_leave();
	if (fuse_reply_open(req, fi) == -ENOENT) /* interrupted: no RELEASE comes */
		unmade(fs, req, fi);
}

void ao_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	struct fuse_entry_param ep;
	char path[4096];
	struct ao_fh *f;
	struct ao_err e;

	ao_fs_enter(req);
	ao_err_clear(&e);
	int rc = ao_ino_child_path(fs->ino, parent, name, path, sizeof(path));
	if (rc == 0)
		rc = ao_router_create(R(fs), path, mode, fi->flags, &f, &e);
	if (rc < 0)
		return reply_err(req, ao_fs_fail("create", path, rc, &e));
	/* the attributes of the file as its handle sees it; then its node */
	fi->fh = 0;
	if ((rc = make_handle(fs, req, 0, path, fi, f)) == 0 &&
	    (rc = ao_fs_entry(fs, parent, name, path, fi, &ep, &e)) == 0)
		FH(fi)->ino = ep.ino;
	if (rc < 0) {
		if (FH(fi))
			unmade(fs, req, fi);
		return reply_err(req, ao_fs_fail("create", path, rc, &e));
	}
	ao_fs_leave();
	if (fuse_reply_create(req, &ep, fi) == -ENOENT) {
		unmade(fs, req, fi);
		ao_ino_forget(fs->ino, ep.ino, 1);
	}
}

/* Reads of files with a descriptor of their own (a cached export, a
 * complete media file, a derived dataset file) hand libfuse that
 * descriptor instead of a copy: with FUSE_CAP_SPLICE_WRITE the bytes go
 * from the page cache of the file to /dev/fuse by splice(2), one copy
 * fewer per read. Everything else (in-memory files, the write side) is
 * read into a buffer. */
void ao_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	struct fh *h = FH(fi);
	struct ao_err e;
	int fd;

	(void)ino;
	ao_fs_enter(req);
	ao_err_clear(&e);
	/* a generation still being written: its bytes first */
	int rc = ao_router_splice_fd(R(fs), h->f, off, size, &fd, &e);
	/* the kernel sends this handle's RELEASE only once this READ's reply
	 * is in; that order, which TSan cannot see, made visible to it: the
	 * handle's memory is not touched here after this (the descriptor,
	 * read by libfuse, is the suppressions' matter: tests/stress/tsan.supp) */
	__atomic_fetch_add(&h->reads, 1, __ATOMIC_RELEASE);
	if (rc < 0)
		return reply_err(req, ao_fs_fail("read", "", rc, &e));
	if (fd >= 0) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
		bv.buf[0].fd = fd;
		bv.buf[0].pos = off;
		ao_fs_leave();
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	char *mem = malloc(size ? size : 1);
	if (!mem)
		return reply_err(req, -ENOMEM);
	ssize_t r = ao_router_read(R(fs), h->f, mem, size, off, &e);
	__atomic_fetch_add(&h->reads, 1, __ATOMIC_RELEASE); /* as above */
	if (r < 0) {
		free(mem);
		return reply_err(req, ao_fs_fail("read", "", (int)r, &e));
	}
	ao_fs_leave();
	fuse_reply_buf(req, mem, (size_t)r);
	free(mem);
}

void ao_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	struct fh *h = FH(fi);
	struct ao_err e;

	(void)ino;
	ao_fs_enter(req);
	ao_err_clear(&e);
	ssize_t r = ao_router_write(R(fs), h->f, buf, size, off, &e);
	if (r < 0)
		return reply_err(req, ao_fs_fail("write", "", (int)r, &e));
	ao_fs_leave();
	fuse_reply_write(req, (size_t)r);
}

/*
 * An answer just written through path (answer.json, answer.next.json): the
 * kernel's attributes of task.json and answer.json beside it are stale (new
 * size, the hub's new updatedAt). Invalidate them from the side thread and
 * wait (bounded) so the next stat is fresh.
 */
void ao_fs_answer_written(struct ao_fs *fs, const char *path)
{
	const char *slash = strrchr(path, '/');
	static const char *const sib[] = {"task.json", "answer.json"};
	unsigned long seq = 0;
	char p[4096];

	if (!slash || (strcmp(slash, "/answer.json") && strcmp(slash, "/answer.next.json")))
		return;
	for (int i = 0; i < 2; i++) {
		if (snprintf(p, sizeof(p), "%.*s/%s", (int)(slash - path), path, sib[i]) >=
		    (int)sizeof(p))
			return;
		unsigned long s = ao_fs_inval_queue(fs, LANE_OTHER, p);
		if (s)
			seq = s;
	}
	ao_fs_inval_wait(fs, LANE_OTHER, seq, INVAL_WAIT_MS);
}

void ao_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	struct fh *h = FH(fi);
	struct ao_err e;
	char path[4096];

	ao_fs_enter(req);
	ao_err_clear(&e);
	int r = ao_router_flush(R(fs), h->f, &e); /* the RELEASE follows, in the background */
	if (ao_router_writable(h->f)) {
		if (ao_ino_path(fs->ino, ino, path, sizeof(path)) < 0)
			path[0] = '\0';
		if (r == 0)
			ao_fs_answer_written(fs, path);
		return reply_err(req, ao_fs_fail("flush", path, r, &e));
	}
	ao_fs_inval_wait(fs, h->inval_lane, h->inval_seq, INVAL_WAIT_MS);
	h->inval_seq = 0;
	reply_err(req, 0);
}

void ao_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	struct fh *h = FH(fi);
	struct ao_err e;

	(void)ino;
	(void)datasync;
	ao_fs_enter(req);
	ao_err_clear(&e);
	reply_err(req, ao_fs_fail("fsync", "", ao_router_fsync(R(fs), h->f, &e), &e));
}

void ao_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	struct fh *h = FH(fi);
	char path[4096];

	ao_fs_enter(req);
	if (h) {
		(void)__atomic_load_n(&h->reads,
				      __ATOMIC_ACQUIRE); /* after every READ (ao_ll_read) */
		fh_unlink(h);
		if (h->counted)
			ao_fs_pt_release(fs, req, h->ino, h->pt);
		/* the last page-cache handle of an older export generation: stat
		 * was pinned to its size; the side thread drops it (no wait),
		 * for the node the path names now and the handle's own */
		if (fh_close(fs, h)) {
			if (ao_ino_path(fs->ino, ino, path, sizeof(path)) == 0)
				ao_fs_inval_queue(fs, LANE_OTHER, path);
			ao_fs_inval_queue_node(fs, LANE_OTHER, ino);
		}
	}
	reply_err(req, 0);
}

void ao_ll_sweep(struct ao_fs *fs)
{
	int n = 0;

	pthread_mutex_lock(&pk_lock);
	struct parked *p = take(NULL, 0, 0, 1);
	pthread_mutex_unlock(&pk_lock);
	drop_parked(fs, p);

	pthread_mutex_lock(&fh_lock);
	while (fh_live) {
		struct fh *h = fh_live;
		fh_live = h->next;
		fh_close(fs, h);
		fh_count--;
		n++;
	}
	pthread_mutex_unlock(&fh_lock);
	if (n)
		ao_debug("%d open files were never released by the kernel", n);
}
