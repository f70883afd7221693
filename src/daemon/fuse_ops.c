/*
 * fuse_ops.c - thin FUSE adapter (see src/daemon/fuse_ops.h).
 *
 * Routing: every path is resolved by the core first. If the path lies in a
 * place the write side owns (ao_writes_owns: labels/..., attachments/...,
 * tasks/<id>/<name> other than task.json) and its parent exists, the write
 * side is asked first; -ENOENT from it falls back to the read side (so
 * answer.json reads come from GET /task unless something is spooled).
 * File handles are tagged with their side.
 *
 * Refusals on the read side (documented in docs/DESIGN-NOTES.md):
 *   open for writing / truncate of a read-only file    EACCES
 *   create, mkdir, mknod, symlink, link, unlink, rmdir,
 *   rename in read-only places; chmod, chown            EPERM
 *   (chmod/chown of write-side files and answer.json: accepted, no-op)
 *   anything on a -o ro mount                           EROFS (kernel)
 * utimens (touch) is a refresh request and succeeds.
 *
 * When an export's content changed since the kernel last saw its size, open
 * invalidates the kernel's attributes and pages of the path before replying,
 * so the first read fetches the true size and fills the page cache (the next
 * cat is served from memory); if that fails, the open is served with
 * direct_io and the invalidation is queued for the side thread, and flush
 * (close) waits, bounded, until it is done. Export reads are spliced from the
 * cache file (read_buf).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "fuse_ops.h"
#include "angofs/core.h"
#include "angofs/log.h"
#include "angofs/writes.h"

#define INVAL_WAIT_MS 3000

struct inval_item {
	struct inval_item *next;
	unsigned long seq;
	char path[];
};

enum { SIDE_READ, SIDE_WRITE };

struct fh {
	int side;
	uint64_t wfh;
	struct ao_core_fh *rfh;
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

static void fh_link(struct fh *h)
{
	pthread_mutex_lock(&fh_lock);
	h->prev = NULL;
	h->next = fh_live;
	if (fh_live)
		fh_live->prev = h;
	fh_live = h;
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
	pthread_mutex_unlock(&fh_lock);
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

/* Release a handle on the side that opened it, and free it. */
static void fh_close(struct ao_fs *fs, struct fh *h)
{
	if (h->side == SIDE_WRITE)
		ao_writes_release(fs->w, h->wfh);
	else
		ao_core_release(fs->core, h->rfh);
	free(h);
}

static int fail(const char *op, const char *path, int rc, struct ao_err *e)
{
	if (rc < 0 && rc != -ENOENT && e->msg[0])
		ao_warn("%s %s: %s", op, path, e->msg);
	else if (rc < 0 && e->msg[0])
		ao_debug("%s %s: %s", op, path, e->msg);
	return rc;
}

/* --- invalidation side thread ------------------------------------------ */

static void *inval_main(void *arg)
{
	struct ao_fs *fs = arg;

	pthread_mutex_lock(&fs->ql);
	for (;;) {
		while (!fs->head && !fs->inval_stop)
			pthread_cond_wait(&fs->qc, &fs->ql);
		if (!fs->head)
			break;
		struct inval_item *it = fs->head;
		fs->head = it->next;
		if (!fs->head)
			fs->tail = NULL;
		pthread_mutex_unlock(&fs->ql);
		int r = fuse_invalidate_path(fs->fuse, it->path);
		ao_debug("invalidated %s (%d)", it->path, r);
		pthread_mutex_lock(&fs->ql);
		if (it->seq > fs->done_seq)
			fs->done_seq = it->seq;
		pthread_cond_broadcast(&fs->done_c);
		free(it);
	}
	pthread_mutex_unlock(&fs->ql);
	return NULL;
}

static unsigned long inval_queue(struct ao_fs *fs, const char *path)
{
	size_t n = strlen(path) + 1;
	struct inval_item *it = malloc(sizeof(*it) + n);
	unsigned long seq = 0;

	if (!it)
		return 0;
	memcpy(it->path, path, n);
	it->next = NULL;
	pthread_mutex_lock(&fs->ql);
	if (!fs->inval_started) {
		pthread_mutex_unlock(&fs->ql);
		free(it);
		return 0;
	}
	it->seq = seq = ++fs->next_seq;
	if (fs->tail)
		fs->tail->next = it;
	else
		fs->head = it;
	fs->tail = it;
	pthread_cond_signal(&fs->qc);
	pthread_mutex_unlock(&fs->ql);
	return seq;
}

static void inval_wait(struct ao_fs *fs, unsigned long seq)
{
	struct timespec dl;

	if (!seq)
		return;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += INVAL_WAIT_MS / 1000;
	pthread_mutex_lock(&fs->ql);
	while (fs->done_seq < seq && fs->inval_started)
		if (pthread_cond_timedwait(&fs->done_c, &fs->ql, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&fs->ql);
}

void ao_fs_init(struct ao_fs *fs)
{
	pthread_mutex_init(&fs->ql, NULL);
	pthread_cond_init(&fs->qc, NULL);
	pthread_cond_init(&fs->done_c, NULL);
}

int ao_fs_start(struct ao_fs *fs)
{
	int r;
	pthread_mutex_lock(&fs->ql);
	fs->inval_stop = 0;
	r = pthread_create(&fs->inval_thread, NULL, inval_main, fs);
	fs->inval_started = r == 0;
	pthread_mutex_unlock(&fs->ql);
	return -r;
}

void ao_fs_stop(struct ao_fs *fs)
{
	pthread_mutex_lock(&fs->ql);
	int started = fs->inval_started;
	fs->inval_stop = 1;
	fs->inval_started = 0;
	pthread_cond_broadcast(&fs->qc);
	pthread_cond_broadcast(&fs->done_c);
	pthread_mutex_unlock(&fs->ql);
	if (started)
		pthread_join(fs->inval_thread, NULL);
	while (fs->head) {
		struct inval_item *it = fs->head;
		fs->head = it->next;
		free(it);
	}
	fs->tail = NULL;
	/* handles whose RELEASE never came (the request loop has ended) */
	int n = 0;
	pthread_mutex_lock(&fh_lock);
	while (fh_live) {
		struct fh *h = fh_live;
		fh_live = h->next;
		fh_close(fs, h);
		n++;
	}
	pthread_mutex_unlock(&fh_lock);
	if (n)
		ao_debug("%d open files were never released by the kernel", n);
}

/* --- routing ------------------------------------------------------------ */

/* Resolve path; *ws = 1 if the write side should be asked. */
static int route(struct ao_fs *fs, const char *path, struct ao_node *n, int *ws, struct ao_err *e)
{
	int rc = ao_core_resolve(fs->core, path, n, e);
	*ws = fs->w && n->project_id[0] && n->relpath[0] && ao_writes_owns(n->relpath) &&
	      (rc == 0 || (rc == -ENOENT && n->parent_ok));
	return rc;
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
static __thread const char *sent_noop_path;

static int sent_noop(struct ao_fs *fs, const struct ao_node *n, const char *path)
{
	struct stat st;

	if (ao_writes_sent_stat(fs->w, n->project_id, n->relpath, &st) < 0)
		return -ENOENT;
	sent_noop_path = path;
	return fs->read_only ? -EROFS : 0;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct ao_node n;
	struct ao_err e;
	int ws, rc;

	ao_err_clear(&e);
	if (sent_noop_path) {
		int once = strcmp(sent_noop_path, path) == 0;
		sent_noop_path = NULL;
		if (once && route(fs, path, &n, &ws, &e) == -ENOENT && ws &&
		    ao_writes_sent_stat(fs->w, n.project_id, n.relpath, st) == 0)
			return 0;
		ao_err_clear(&e);
	}
	struct fh *h = FH(fi);
	if (h) {
		if (h->side == SIDE_WRITE)
			return fail("fgetattr", path, ao_writes_fgetattr(fs->w, h->wfh, st, &e),
				    &e);
	}
	rc = route(fs, path, &n, &ws, &e);
	if (ws) {
		struct ao_err we;
		ao_err_clear(&we);
		if (ao_writes_hidden(fs->w, n.project_id, n.relpath))
			return -ENOENT;
		int r = ao_writes_getattr(fs->w, n.project_id, n.relpath, st, &we);
		if (r != -ENOENT)
			return fail("getattr", path, r, &we);
	}
	if (rc < 0)
		return fail("getattr", path, rc, &e);
	return fail("getattr", path, ao_core_getattr(fs->core, &n, st, &e), &e);
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
	int plus;
	const char *skip[4];
};

static int fill_core(void *ctx, const char *name, const struct stat *st)
{
	struct fill_ctx *f = ctx;
	return f->filler(f->buf, name, st, 0, st && f->plus ? FUSE_FILL_DIR_PLUS : 0);
}

static int fill_writes(void *ctx, const char *name, const struct stat *st)
{
	struct fill_ctx *f = ctx;
	for (int i = 0; i < 4 && f->skip[i]; i++)
		if (strcmp(name, f->skip[i]) == 0)
			return 0;
	return f->filler(f->buf, name, st, 0, st && f->plus ? FUSE_FILL_DIR_PLUS : 0);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct ao_fs *fs = FS();
	struct fill_ctx f = {buf, filler, (flags & FUSE_READDIR_PLUS) != 0, {0}};
	struct ao_node n;
	struct ao_err e;
	int rc;

	(void)off;
	(void)fi;
	ao_err_clear(&e);
	rc = ao_core_resolve(fs->core, path, &n, &e);
	if (rc < 0)
		return fail("readdir", path, rc, &e);
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	rc = ao_core_readdir(fs->core, &n, fill_core, &f, &e);
	if (rc < 0)
		return fail("readdir", path, rc, &e);
	if (fs->w && (n.kind == AO_N_DROPBOX_DIR || n.kind == AO_N_TASK_DIR)) {
		f.skip[0] = ".";
		f.skip[1] = "..";
		if (n.kind == AO_N_TASK_DIR) {
			f.skip[2] = "task.json";
			f.skip[3] = "answer.json";
		}
		struct ao_err we;
		ao_err_clear(&we);
		rc = ao_writes_readdir(fs->w, n.project_id, n.relpath, fill_writes, &f, &we);
		if (rc < 0 && rc != -ENOENT)
			ao_warn("readdir %s (write side): %s", path, we.msg);
	}
	return 0;
}

static int new_write_fh(struct fuse_file_info *fi, uint64_t wfh)
{
	struct fh *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->side = SIDE_WRITE;
	h->wfh = wfh;
	fh_link(h);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct ao_node n;
	struct ao_err e;
	int ws, rc;

	ao_err_clear(&e);
	rc = route(fs, path, &n, &ws, &e);
	if (ws) {
		struct ao_err we;
		uint64_t wfh = 0;
		ao_err_clear(&we);
		int r = ao_writes_open(fs->w, n.project_id, n.relpath, fi->flags, &wfh, &we);
		if (r == 0) {
			r = new_write_fh(fi, wfh);
			if (r < 0)
				ao_writes_release(fs->w, wfh);
			return r;
		}
		if (r != -ENOENT)
			return fail("open", path, r, &we);
	}
	if (rc < 0)
		return fail("open", path, rc, &e);
	struct ao_core_fh *cfh = NULL;
	rc = ao_core_open(fs->core, &n, fi->flags, &cfh, &e);
	if (rc < 0)
		return fail("open", path, rc, &e);
	struct fh *h = calloc(1, sizeof(*h));
	if (!h) {
		ao_core_release(fs->core, cfh);
		return -ENOMEM;
	}
	h->side = SIDE_READ;
	h->rfh = cfh;
	fh_link(h);
	fi->direct_io = cfh->direct_io;
	fi->keep_cache = cfh->keep_cache;
	if (cfh->changed) {
		/*
		 * The kernel still has the old size (0 before the first fetch).
		 * Invalidate its attributes and pages now, before the reply: the
		 * first read then refreshes the size (GETATTR) and goes through
		 * the page cache, so the next cat is served from memory. The
		 * invalidation takes no lock our open could hold (no O_TRUNC on
		 * exports), and the cache asks for it only when no other handle
		 * is open (no page can be locked by a READ waiting for a worker,
		 * even with -s). Otherwise, or if it fails: direct_io and the
		 * side thread.
		 */
		if (!cfh->direct_io && fuse_invalidate_path(fuse_get_context()->fuse, path) == 0) {
			fi->direct_io = 0;
			fi->keep_cache = 0;
		} else {
			fi->direct_io = 1;
			h->inval_seq = inval_queue(fs, path);
		}
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct ao_node n;
	struct ao_err e;
	int ws, rc;

	ao_err_clear(&e);
	rc = route(fs, path, &n, &ws, &e);
	if (ws) {
		uint64_t wfh = 0;
		struct ao_err we;
		ao_err_clear(&we);
		int r =
		    ao_writes_create(fs->w, n.project_id, n.relpath, mode, fi->flags, &wfh, &we);
		if (r < 0)
			return fail("create", path, r, &we);
		r = new_write_fh(fi, wfh);
		if (r < 0)
			ao_writes_release(fs->w, wfh);
		return r;
	}
	if (rc == 0)
		return op_open(path, fi);
	if (rc == -ENOENT && n.parent_ok)
		return fs->read_only ? -EROFS : -EPERM;
	return fail("create", path, rc, &e);
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct fh *h = FH(fi);
	struct ao_err e;
	ssize_t r;

	ao_err_clear(&e);
	if (h->side == SIDE_WRITE)
		r = ao_writes_read(fs->w, h->wfh, buf, size, off, &e);
	else
		r = ao_core_read(fs->core, h->rfh, buf, size, off, &e);
	return r < 0 ? fail("read", path, (int)r, &e) : (int)r;
}

/*
 * Reads of cached exports hand libfuse the cache file's descriptor instead of
 * a copy: with FUSE_CAP_SPLICE_WRITE the bytes go from the page cache of the
 * data file to /dev/fuse by splice(2), one copy fewer per read. Everything
 * else (in-memory files, the write side) is read into a buffer as before.
 */
static int op_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fh *h = FH(fi);
	struct fuse_bufvec *bv;

	if (h->side == SIDE_READ && h->rfh->fd >= 0) {
		if (off < 0)
			return -EINVAL;
		bv = malloc(sizeof(*bv));
		if (!bv)
			return -ENOMEM;
		*bv = FUSE_BUFVEC_INIT(size);
		bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
		bv->buf[0].fd = h->rfh->fd;
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
	struct ao_fs *fs = FS();
	struct fh *h = FH(fi);
	struct ao_err e;

	ao_err_clear(&e);
	if (h->side != SIDE_WRITE)
		return -EBADF;
	ssize_t r = ao_writes_write(fs->w, h->wfh, buf, size, off, &e);
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
		unsigned long s = inval_queue(fs, p);
		if (s)
			seq = s;
	}
	inval_wait(fs, seq);
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct fh *h = FH(fi);
	struct ao_err e;

	ao_err_clear(&e);
	if (h->side == SIDE_WRITE) {
		int r = ao_writes_flush(fs->w, h->wfh, &e);
		if (r == 0)
			answer_written(fs, path);
		return fail("flush", path, r, &e);
	}
	inval_wait(fs, h->inval_seq);
	h->inval_seq = 0;
	return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct fh *h = FH(fi);
	struct ao_err e;

	(void)datasync;
	ao_err_clear(&e);
	if (h->side == SIDE_WRITE)
		return fail("fsync", path, ao_writes_fsync(fs->w, h->wfh, &e), &e);
	return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct fh *h = FH(fi);

	(void)path;
	if (!h)
		return 0;
	fh_unlink(h);
	fh_close(fs, h);
	return 0;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct ao_node n;
	struct ao_err e;
	int ws, rc;

	ao_err_clear(&e);
	struct fh *h = FH(fi);
	if (h) {
		if (h->side == SIDE_WRITE)
			return fail("ftruncate", path, ao_writes_ftruncate(fs->w, h->wfh, size, &e),
				    &e);
		return -EACCES;
	}
	rc = route(fs, path, &n, &ws, &e);
	if (ws) {
		struct ao_err we;
		ao_err_clear(&we);
		int r = ao_writes_truncate(fs->w, n.project_id, n.relpath, size, &we);
		if (r != -ENOENT)
			return fail("truncate", path, r, &we);
	}
	if (rc < 0)
		return fail("truncate", path, rc, &e);
	if (n.kind == AO_N_ROOT || n.kind == AO_N_PROJECT)
		return -EISDIR;
	return fs->read_only ? -EROFS : -EACCES;
}

/* Entry-changing operations outside the write side's places. */
static int refuse_entry_op(const char *op, const char *path)
{
	struct ao_fs *fs = FS();
	struct ao_node n;
	struct ao_err e;

	ao_err_clear(&e);
	int rc = ao_core_resolve(fs->core, path, &n, &e);
	if (rc < 0 && !(rc == -ENOENT && n.parent_ok))
		return fail(op, path, rc, &e);
	ao_debug("%s %s: refused (read-only place)", op, path);
	return fs->read_only ? -EROFS : -EPERM;
}

static int op_unlink(const char *path)
{
	struct ao_fs *fs = FS();
	struct ao_node n;
	struct ao_err e;
	int ws, rc;

	ao_err_clear(&e);
	rc = route(fs, path, &n, &ws, &e);
	if (ws) {
		struct ao_err we;
		ao_err_clear(&we);
		int r = ao_writes_unlink(fs->w, n.project_id, n.relpath, &we);
		if (r != -ENOENT || rc == -ENOENT)
			return fail("unlink", path, r, &we);
	}
	if (rc < 0)
		return fail("unlink", path, rc, &e);
	return fs->read_only ? -EROFS : -EPERM;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	struct ao_fs *fs = FS();
	struct ao_node a, b;
	struct ao_err e;
	int wa, wb, ra, rb;

	ao_err_clear(&e);
	ra = route(fs, from, &a, &wa, &e);
	rb = route(fs, to, &b, &wb, &e);
	if (wa && wb && strcmp(a.project_id, b.project_id) == 0) {
		struct ao_err we;
		ao_err_clear(&we);
		int r = ao_writes_rename(fs->w, a.project_id, a.relpath, b.relpath, flags, &we);
		if (r == 0)
			answer_written(fs, to);
		return fail("rename", from, r, &we);
	}
	if (wa && !wb && rb == 0) {
		/* a scratch file (sed -i, perl -i) renamed over task.json */
		ao_debug("rename %s -> %s: refused (read-only target)", from, to);
		return fs->read_only ? -EROFS : -EPERM;
	}
	if (ra < 0)
		return fail("rename", from, ra, &e);
	if (wa && wb)
		return -EXDEV;
	return fs->read_only ? -EROFS : -EPERM;
}

static int op_mkdir(const char *path, mode_t mode)
{
	(void)mode;
	return refuse_entry_op("mkdir", path);
}

static int op_rmdir(const char *path)
{
	return refuse_entry_op("rmdir", path);
}

static int op_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)mode;
	(void)dev;
	return refuse_entry_op("mknod", path);
}

static int op_symlink(const char *target, const char *path)
{
	(void)target;
	return refuse_entry_op("symlink", path);
}

static int op_link(const char *from, const char *to)
{
	(void)from;
	return refuse_entry_op("link", to);
}

/* chmod/chown: files of the write side (and answer.json) accept them as a
 * no-op, so `cp -p` and Python's shutil.copy (which copy the mode) work;
 * everything else is read-only: EPERM. */
static int attr_change(const char *op, const char *path)
{
	struct ao_fs *fs = FS();
	struct ao_node n;
	struct ao_err e;
	struct stat st;
	int ws, rc;

	ao_err_clear(&e);
	rc = route(fs, path, &n, &ws, &e);
	if (ws) {
		struct ao_err we;
		ao_err_clear(&we);
		if (ao_writes_getattr(fs->w, n.project_id, n.relpath, &st, &we) == 0)
			return fs->read_only ? -EROFS : 0;
		if (rc == -ENOENT && sent_noop(fs, &n, path) != -ENOENT)
			return fs->read_only ? -EROFS : 0;
	}
	if (rc < 0)
		return fail(op, path, rc, &e);
	if (n.kind == AO_N_ANSWER_JSON)
		return fs->read_only ? -EROFS : 0;
	return fs->read_only ? -EROFS : -EPERM;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	if (fi && fi->fh && ((struct fh *)(uintptr_t)fi->fh)->side == SIDE_WRITE)
		return 0;
	return attr_change("chmod", path);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)uid;
	(void)gid;
	if (fi && fi->fh && ((struct fh *)(uintptr_t)fi->fh)->side == SIDE_WRITE)
		return 0;
	return attr_change("chown", path);
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS();
	struct ao_node n;
	struct ao_err e;
	int ws, rc;

	(void)tv;
	ao_err_clear(&e);
	if (fi && fi->fh && ((struct fh *)(uintptr_t)fi->fh)->side == SIDE_WRITE)
		return 0;
	rc = route(fs, path, &n, &ws, &e);
	if (ws) {
		struct stat st;
		struct ao_err we;
		ao_err_clear(&we);
		if (ao_writes_getattr(fs->w, n.project_id, n.relpath, &st, &we) == 0)
			return 0;
		if (rc == -ENOENT && sent_noop(fs, &n, path) == 0)
			return 0;
	}
	if (rc < 0)
		return fail("utimens", path, rc, &e);
	ao_info("refresh requested: %s", path);
	return fail("utimens", path, ao_core_touch(fs->core, &n, &e), &e);
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
    .readdir = op_readdir,
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
