/*
 * fuse_ops.c - thin FUSE adapter (see src/daemon/fuse_ops.h): glue of a few
 * lines per operation over the router (include/angofs/router.h), which decides
 * for every path whether the read-side core or the write side answers, and
 * what is refused, owns every open file and decides how the kernel may cache
 * it. What is left here is FUSE's own business: the FUSE file handles (and
 * their release at unmount if the kernel never did it), readdir fill flags,
 * the kernel-cache flags into fuse_file_info, the invalidations the policy
 * asks for on the side threads, spliced reads, statfs.
 *
 * Kernel invalidations (fuse_invalidate_path) are only ever made by the
 * side threads (two lanes, src/daemon/inval.c), never inside a request handler: the
 * kernel's invalidation locks the file's pages, and a page can be locked by
 * a READ (an mmap fault, even of a closed file) that waits for a worker;
 * called from a handler (with -s, the only worker) that is a deadlock.
 *
 * When the content of a file changed since the kernel last saw its size (an
 * export's new generation; a small in-memory file, whose snapshot is taken
 * at open: the policy's must_invalidate, angofs/kcache.h, asked for a
 * page-cache open only when no other handle of that file is open), the
 * kernel's attributes must be dropped before the first read, or reads are
 * clamped to the old size and stat/mmap use it. The open queues the
 * invalidation for the side thread and waits for it, bounded
 * (OPEN_INVAL_WAIT_MS): done in time, the open is served through the page
 * cache (keep_cache off: the kernel drops the old pages itself at open), so
 * shared mmap works, the first read fetches the true size (the router pins
 * what stat reports while the file is open) and the next cat is served from
 * memory; the router is told either way (ao_router_cached: later opens of
 * the same bytes share the pages without a drop). Not done in time (the side
 * thread is held up, e.g. by such a READ,
 * which this worker serves once it replies): direct_io, which is correct
 * with any cached size, and flush (close) waits, bounded, for the queued
 * invalidation so stat afterwards is true. A wait, unlike the call, cannot
 * deadlock: it ends at its bound. Serving every changed open with direct_io
 * instead was not chosen: direct_io refuses shared mmap (libfuse 3.14 cannot
 * ask for FUSE_DIRECT_IO_ALLOW_MMAP), and shorter entry/attr timeouts would
 * cost every stat a request without closing the window. Reads of files
 * with a descriptor (exports, complete media files) are spliced from it
 * (read_buf).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "fuse_ops.h"
#include "inval.h"
#include "angofs/log.h"
#include "angofs/router.h"

#define INVAL_WAIT_MS 3000	/* flush: the queued invalidation of a direct_io open */
#define OPEN_INVAL_WAIT_MS 2000 /* open: the invalidation that lets it use the page cache */

struct fh {
	struct ao_fh *f; /* the router's */
	int inval_lane;	 /* of inval_seq */
	unsigned long inval_seq;
	struct fh *prev, *next; /* fh_live */
};

/*
 * Open handles. The kernel drops RELEASE requests still queued when the file
 * system goes away (unmount right after a close), so ao_fs_stop releases what
 * is left here (valgrind: no handle is lost at exit).
 */
static pthread_mutex_t fh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fh *fh_live;
static int fh_count;  /* fh_lock: handles in fh_live */
static int dirs_open; /* atomic: OPENDIRs not yet RELEASEDIR'd (libfuse's handles) */

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

/* A directory handle is libfuse's (its listing buffer); these only count
 * them, so that a stop waits for their RELEASEDIR (ao_fs_open_handles). */
static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	__atomic_add_fetch(&dirs_open, 1, __ATOMIC_RELAXED);
	return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	__atomic_sub_fetch(&dirs_open, 1, __ATOMIC_RELAXED);
	return 0;
}

int ao_fs_open_handles(void)
{
	pthread_mutex_lock(&fh_lock);
	int n = fh_count;
	pthread_mutex_unlock(&fh_lock);
	return n + __atomic_load_n(&dirs_open, __ATOMIC_RELAXED);
}

static struct ao_fs *FS(void)
{
	return fuse_get_context()->private_data;
}

/* The handle behind a FUSE file handle (NULL for path-only calls). */
static struct fh *FH(const struct fuse_file_info *fi)
{
	return fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
}

/* Release a handle through the router, and free it. 1: the kernel's
 * attributes of its path are out of date (ao_router_release). */
static int fh_close(struct ao_fs *fs, struct fh *h)
{
	int stale = ao_router_release(&fs->router, h->f);

	free(h);
	return stale;
}

static int fail(const char *op, const char *path, int rc, struct ao_err *e)
{
	if (rc < 0 && rc != -ENOENT && e->msg[0])
		ao_warn("%s %s: %s", op, path, e->msg);
	else if (rc < 0 && e->msg[0])
		ao_debug("%s %s: %s", op, path, e->msg);
	return rc;
}

void ao_fs_init(struct ao_fs *fs)
{
	ao_fs_inval_init(fs);
}

int ao_fs_start(struct ao_fs *fs)
{
	return ao_fs_inval_start(fs);
}

void ao_fs_stop(struct ao_fs *fs)
{
	ao_fs_inval_stop(fs);
	/* handles whose RELEASE never came (the request loop has ended) */
	int n = 0;
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

/* --- routing: the router (include/angofs/router.h) decides --------------- */

static const struct ao_router *R(const struct ao_fs *fs)
{
	return &fs->router;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct ao_fs *fs = FS();

	cfg->use_ino = 0;
	cfg->entry_timeout = fs->entry_timeout;
	cfg->attr_timeout = fs->attr_timeout;
	cfg->negative_timeout = 1.0;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->nullpath_ok = 0;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* plain readdirplus (not "auto"): ls -l of tasks/ gets attributes at once */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* export reads are spliced from the cache file (op_read_buf) */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	return fs;
}

/*
 * chmod/utime of a drop-box file just sent (shutil.copy/copy2/move do them
 * after close, when the file has left the directory) is accepted as a no-op;
 * libfuse then asks for the attributes of the path in the same thread, so the
 * first getattr after it answers for the sent file once.
 */
static __thread char sent_noop_path[4096]; /* by copy: "" when unset */

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	const struct ao_router *r = R(fs);
	struct fh *h = FH(fi);
	struct ao_err e;

	ao_err_clear(&e);
	if (sent_noop_path[0]) {
		int once = strcmp(sent_noop_path, path) == 0;
		sent_noop_path[0] = '\0';
		if (once && ao_router_sent_stat(r, path, st) == 0)
			return 0;
	}
	if (h && ao_router_writable(h->f)) /* its own size, as written so far */
		return fail("fgetattr", path, ao_router_fgetattr(r, h->f, st, &e), &e);
	return fail("getattr", path, ao_router_getattr(r, path, st, &e), &e);
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
	int plus;
};

static int fill(void *ctx, const char *name, const struct stat *st)
{
	struct fill_ctx *f = ctx;
	return f->filler(f->buf, name, st, 0, st && f->plus ? FUSE_FILL_DIR_PLUS : 0);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	const struct ao_router *r = R(FS());
	struct fill_ctx f = {buf, filler, (flags & FUSE_READDIR_PLUS) != 0};
	struct ao_err e;

	(void)off;
	(void)fi;
	ao_err_clear(&e);
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	return fail("readdir", path, ao_router_readdir(r, path, fill, &f, &e), &e);
}

/* A FUSE handle for what the router opened; the kernel's caching for it. */
static int reply_open(struct ao_fs *fs, const char *path, struct fuse_file_info *fi,
		      struct ao_fh *f)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (!h) {
		ao_router_release(R(fs), f);
		return -ENOMEM;
	}
	h->f = f;
	fh_link(h);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = f->kc.direct_io;
	fi->keep_cache = f->kc.keep_cache;
	if (f->kc.must_invalidate) {
		/*
		 * The kernel still has the old size (1 before the first fetch).
		 * The side thread drops its attributes (head comment); once that
		 * is done the first read refreshes the size (GETATTR) and goes
		 * through the page cache. Not in time: direct_io, and flush
		 * waits for the queued invalidation. A direct_io open whose
		 * size is not known yet (drop_first: an export still
		 * downloading) waits for the drop too, so its first fstat asks.
		 */
		int lane = f->kc.direct_io && !f->kc.drop_first ? LANE_OTHER : LANE_OPEN;
		unsigned long seq = ao_fs_inval_queue(fs, lane, path);
		int done = lane == LANE_OPEN && ao_fs_inval_wait(fs, lane, seq, OPEN_INVAL_WAIT_MS);

		ao_router_cached(R(fs), f, done); /* the policy's pin, per path */
		if (done && f->kc.drop_first) {
			/* direct_io, the old size dropped: fstat asks */
		} else if (done) {
			fi->direct_io = 0;
			fi->keep_cache = 0;
		} else {
			fi->direct_io = 1;
			h->inval_lane = lane;
			h->inval_seq = seq;
		}
	}
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	const struct ao_router *r = R(fs);
	struct ao_fh *f;
	struct ao_err e;

	ao_err_clear(&e);
	int rc = ao_router_open(r, path, fi->flags, &f, &e);
	return rc < 0 ? fail("open", path, rc, &e) : reply_open(fs, path, fi, f);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	const struct ao_router *r = R(fs);
	struct ao_fh *f;
	struct ao_err e;

	ao_err_clear(&e);
	int rc = ao_router_create(r, path, mode, fi->flags, &f, &e);
	return rc < 0 ? fail("create", path, rc, &e) : reply_open(fs, path, fi, f);
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	struct ao_err e;

	ao_err_clear(&e);
	ssize_t r = ao_router_read(R(FS()), h->f, buf, size, off, &e);
	return r < 0 ? fail("read", path, (int)r, &e) : (int)r;
}

/*
 * Reads of files with a descriptor of their own (a cached export, a complete
 * media file, a derived dataset file) hand libfuse that descriptor instead
 * of a copy: with FUSE_CAP_SPLICE_WRITE the bytes go from the page cache of
 * the file to /dev/fuse by splice(2), one copy fewer per read. Everything
 * else (in-memory files, the write side) is read into a buffer.
 */
static int op_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	struct fuse_bufvec *bv;
	struct ao_err e;
	int fd;

	ao_err_clear(&e);
	/* a generation still being written: its bytes first */
	int rc = ao_router_splice_fd(R(FS()), h->f, off, size, &fd, &e);
	if (rc < 0)
		return fail("read", path, rc, &e);
	if (fd >= 0) {
		bv = malloc(sizeof(*bv));
		if (!bv)
			return -ENOMEM;
		*bv = FUSE_BUFVEC_INIT(size);
		bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
		bv->buf[0].fd = fd;
		bv->buf[0].pos = off;
		*bufp = bv;
		return 0;
	}
	bv = malloc(sizeof(*bv));
	char *mem = malloc(size ? size : 1);
	if (!bv || !mem) {
		free(bv);
		free(mem);
		return -ENOMEM;
	}
	int r = op_read(path, mem, size, off, fi);
	if (r < 0) {
		free(bv);
		free(mem);
		return r;
	}
	*bv = FUSE_BUFVEC_INIT((size_t)r);
	bv->buf[0].mem = mem;
	*bufp = bv;
	return 0;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	struct ao_err e;

	ao_err_clear(&e);
	ssize_t r = ao_router_write(R(FS()), h->f, buf, size, off, &e);
	return r < 0 ? fail("write", path, (int)r, &e) : (int)r;
}

/*
 * An answer just written through path (answer.json, answer.next.json): the
 * kernel's attributes of task.json and answer.json beside it are stale (new
 * size, the hub's new updatedAt). Invalidate them from the side thread and
 * wait (bounded) so the next stat is fresh.
 */
static void answer_written(struct ao_fs *fs, const char *path)
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

static int op_flush(const char *path, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct fh *h = FH(fi);
	struct ao_err e;

	ao_err_clear(&e);
	int r = ao_router_flush(R(fs), h->f, &e); /* the RELEASE follows, in the background */
	if (ao_router_writable(h->f)) {
		if (r == 0)
			answer_written(fs, path);
		return fail("flush", path, r, &e);
	}
	ao_fs_inval_wait(fs, h->inval_lane, h->inval_seq, INVAL_WAIT_MS);
	h->inval_seq = 0;
	return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	struct ao_err e;

	(void)datasync;
	ao_err_clear(&e);
	return fail("fsync", path, ao_router_fsync(R(FS()), h->f, &e), &e);
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct fh *h = FH(fi);

	if (!h)
		return 0;
	fh_unlink(h);
	/* the last page-cache handle of an older export generation: stat was
	 * pinned to its size; the side thread drops it (no wait) */
	if (fh_close(fs, h) && path)
		ao_fs_inval_queue(fs, LANE_OTHER, path);
	return 0;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	const struct ao_router *r = R(fs);
	struct fh *h = FH(fi);
	struct ao_err e;

	ao_err_clear(&e);
	if (h)
		return fail("ftruncate", path, ao_router_ftruncate(r, h->f, size, &e), &e);
	return fail("truncate", path, ao_router_truncate(r, path, size, &e), &e);
}

static int op_unlink(const char *path)
{
	const struct ao_router *r = R(FS());
	struct ao_err e;

	ao_err_clear(&e);
	return fail("unlink", path, ao_router_unlink(r, path, &e), &e);
}

/* the name libfuse gives an unlinked file still open (its hidden_name()) */
static int hidden_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return strncmp(b ? b + 1 : path, ".fuse_hidden", 12) == 0;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	struct ao_fs *fs = FS();
	const struct ao_router *r = R(fs);
	struct ao_err e;

	ao_err_clear(&e);
	int rc = ao_router_rename(r, from, to, flags, &e);
	if (rc == 0)
		answer_written(fs, to);
	else if (hidden_name(to)) {
		/* libfuse's hide of a file unlinked while open (hard_remove off):
		 * the user asked for an unlink. A file the write side cannot
		 * rename (a status file whose reader's RELEASE is still on its
		 * way: the kernel sends it after close returned) is unlinked. */
		ao_err_clear(&e);
		return fail("unlink", from, ao_router_unlink(r, from, &e), &e);
	}
	return fail("rename", from, rc, &e);
}

/* mknod, symlink, link: refused; mkdir, rmdir: only inside assets/ */
static int refuse(const char *op, const char *path)
{
	const struct ao_router *r = R(FS());
	struct ao_err e;

	ao_err_clear(&e);
	return fail(op, path, ao_router_refuse(r, op, path, &e), &e);
}

/* A pin or an unpin in <p>/snapshots/ moved `latest`: the kernel's entry of
 * it (perhaps a negative one, from before the first pin) is dropped on the
 * side thread (the kernel holds the directory's lock during this request). */
static void latest_moved(struct ao_fs *fs, const char *path, int rc)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (rc < 0 || n < 10 || n >= sizeof(dir) || strncmp(slash - 10, "/snapshots", 10))
		return;
	memcpy(dir, path, n);
	dir[n] = '\0';
	ao_fs_invalidate_entry(fs, dir, "latest");
}

static int op_mkdir(const char *path, mode_t mode)
{
	const struct ao_router *r = R(FS());
	struct ao_err e;

	(void)mode;
	ao_err_clear(&e);
	int rc = ao_router_mkdir(r, path, &e);
	latest_moved(FS(), path, rc);
	return fail("mkdir", path, rc, &e);
}

static int op_rmdir(const char *path)
{
	const struct ao_router *r = R(FS());
	struct ao_err e;

	ao_err_clear(&e);
	int rc = ao_router_rmdir(r, path, &e);
	latest_moved(FS(), path, rc);
	return fail("rmdir", path, rc, &e);
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	const struct ao_router *r = R(FS());
	struct ao_err e;

	ao_err_clear(&e);
	return fail("readlink", path, ao_router_readlink(r, path, buf, size, &e), &e);
}

static int op_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)mode;
	(void)dev;
	return refuse("mknod", path);
}

static int op_symlink(const char *target, const char *path)
{
	(void)target;
	return refuse("symlink", path);
}

static int op_link(const char *from, const char *to)
{
	(void)from;
	return refuse("link", to);
}

/* chmod/chown (touch 0) and utimens (touch 1); an open write-side file
 * accepts them as a no-op. */
static int setattr(const char *op, const char *path, struct fuse_file_info *fi, int touch)
{
	const struct ao_router *r = R(FS());
	struct ao_err e;
	int sent, rc;

	if (fi && fi->fh && ao_router_writable(((struct fh *)(uintptr_t)fi->fh)->f))
		return 0;
	ao_err_clear(&e);
	rc = ao_router_setattr(r, path, touch, &sent, &e);
	if (sent)
		snprintf(sent_noop_path, sizeof(sent_noop_path), "%s", path);
	return fail(op, path, rc, &e);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	return setattr("chmod", path, fi, 0);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)uid;
	(void)gid;
	return setattr("chown", path, fi, 0);
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)tv;
	return setattr("utimens", path, fi, 1);
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	struct ao_fs *fs = FS();
	(void)path;
	if (statvfs(fs->cache_dir, sv) < 0)
		memset(sv, 0, sizeof(*sv));
	sv->f_namemax = 255;
	return 0;
}

const struct fuse_operations ao_fuse_ops = {
    .init = op_init,
    .getattr = op_getattr,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .read_buf = op_read_buf,
    .write = op_write,
    .flush = op_flush,
    .fsync = op_fsync,
    .release = op_release,
    .truncate = op_truncate,
    .unlink = op_unlink,
    .rename = op_rename,
    .readlink = op_readlink,
    .mkdir = op_mkdir,
    .rmdir = op_rmdir,
    .mknod = op_mknod,
    .symlink = op_symlink,
    .link = op_link,
    .chmod = op_chmod,
    .chown = op_chown,
    .utimens = op_utimens,
    .statfs = op_statfs,
};
