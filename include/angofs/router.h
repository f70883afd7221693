/*
 * router.h - which side answers a path, for every file system operation,
 * without FUSE. A path is resolved by the read-side core (core.h); when it
 * lies in a place the write side owns (ao_writes_owns: labels/...,
 * attachments/..., tasks/<id>/<name> other than task.json) and its parent
 * exists, the write side is asked first and -ENOENT from it falls back to the
 * read side (so answer.json reads come from GET /task unless something is
 * spooled). An open file is one struct ao_fh (angofs/fh.h) whatever opened
 * it: its reads, writes, flushes and its release go straight to its owner,
 * and how the kernel may cache it is decided here, once, by the
 * kernel-cache policy (angofs/kcache.h). The FUSE adapter
 * (src/daemon/ll_ops.c, ll_files.c) is glue over these calls; unit tests drive them
 * directly (tests/unit/test_router.c).
 *
 * Refusals on the read side (docs/DESIGN-NOTES.md):
 *   open for writing / truncate of a read-only file    EACCES
 *   create, mkdir, mknod, symlink, link, unlink, rmdir,
 *   rename in read-only places; chmod, chown            EPERM
 *   (chmod/chown of write-side files and answer.json: accepted, no-op)
 *   anything on a read-only mount                       EROFS
 * utimens (touch) is a refresh request and succeeds.
 *
 * Every call returns 0 or -errno and fills err with the message of the side
 * that answered.
 */
#ifndef ANGOFS_ROUTER_H
#define ANGOFS_ROUTER_H

#include <stdint.h>
#include <sys/stat.h>

#include "angofs/core.h"
#include "angofs/err.h"
#include "angofs/fh.h"

struct ao_writes;
struct ao_kc;

/* Immutable after ao_router_init (the table kc has its own lock); a copy
 * shares the table (a read-only twin: copy, set read_only). */
struct ao_router {
	struct ao_core *core;
	struct ao_writes *w; /* NULL: no write side (every write place refused) */
	int read_only;
	struct ao_kc *kc; /* the kernel-cache table of paths */
};

/* open_wait_ms: how long an open may wait for other handles of its path to
 * close or agree (2000; 0: never, a single-threaded loop). Installs the
 * table as the core's stat hook. 0 or -ENOMEM. */
int ao_router_init(struct ao_router *r, struct ao_core *core, struct ao_writes *w, int read_only,
		   long open_wait_ms);
void ao_router_destroy(struct ao_router *r);

/* One path, resolved. */
struct ao_route {
	struct ao_node n;
	int rc;		   /* the core's resolve: 0 or -errno */
	int ws;		   /* the write side owns the place: ask it first */
	struct ao_err err; /* the core's message when rc < 0 */
};

void ao_route(const struct ao_router *r, const char *path, struct ao_route *rt);

int ao_router_getattr(const struct ao_router *r, const char *path, struct stat *st,
		      struct ao_err *err);
/* A drop-box file sent a moment ago (no longer listed): its last attributes.
 * 0, or -ENOENT if path is not one. */
int ao_router_sent_stat(const struct ao_router *r, const char *path, struct stat *st);
/* Both sides' entries of a directory (without "." and ".."). */
int ao_router_readdir(const struct ao_router *r, const char *path, ao_core_fill_fn fill, void *ctx,
		      struct ao_err *err);
/* Open (or create) path: *fh is the file, its kernel caching decided
 * (fh->kc: direct_io, keep_cache, must_invalidate). */
int ao_router_open(const struct ao_router *r, const char *path, int flags, struct ao_fh **fh,
		   struct ao_err *err);
int ao_router_create(const struct ao_router *r, const char *path, mode_t mode, int flags,
		     struct ao_fh **fh, struct ao_err *err);
/* The operations on an open file, by its owner (src/fs/handles.c). */
ssize_t ao_router_read(const struct ao_router *r, struct ao_fh *fh, char *buf, size_t size,
		       off_t off, struct ao_err *err);
/* A descriptor to splice bytes [off, off+size) from once they are there
 * (*fd), or *fd = -1: ao_router_read them. 0 or -errno. */
int ao_router_splice_fd(const struct ao_router *r, struct ao_fh *fh, off_t off, size_t size,
			int *fd, struct ao_err *err);
/* EBADF on a file not open for writing. */
ssize_t ao_router_write(const struct ao_router *r, struct ao_fh *fh, const char *buf, size_t size,
			off_t off, struct ao_err *err);
/* close(): the owner's flush (a write side's file is sent), then the
 * kernel-cache table learns the RELEASE is on its way. */
int ao_router_flush(const struct ao_router *r, struct ao_fh *fh, struct ao_err *err);
int ao_router_fsync(const struct ao_router *r, struct ao_fh *fh, struct ao_err *err);
/* ftruncate: the write side's files; EACCES for the read side's. */
int ao_router_ftruncate(const struct ao_router *r, struct ao_fh *fh, off_t size,
			struct ao_err *err);
/* fstat of a write-side file (its own size); -ENOENT for the others (stat
 * their path). */
int ao_router_fgetattr(const struct ao_router *r, struct ao_fh *fh, struct stat *st,
		       struct ao_err *err);
/* 1 if fh was opened for writing (the write side's). */
int ao_router_writable(const struct ao_fh *fh);
/* The adapter waited for the drop fh->kc.must_invalidate asked for: done,
 * or not in time (then it serves the file with direct_io). */
void ao_router_cached(const struct ao_router *r, struct ao_fh *fh, int done);
/* Release and free fh. 1: the kernel's attributes of its path are out of
 * date now (an export's last page-cache handle of an older generation
 * closed: stat was pinned to it); the adapter drops them (side thread). */
int ao_router_release(const struct ao_router *r, struct ao_fh *fh);
int ao_router_truncate(const struct ao_router *r, const char *path, off_t size, struct ao_err *err);
int ao_router_unlink(const struct ao_router *r, const char *path, struct ao_err *err);
/* 0: the write side renamed it (an answer may have been written to `to`). */
int ao_router_rename(const struct ao_router *r, const char *from, const char *to,
		     unsigned int flags, struct ao_err *err);
/* mkdir, rmdir, mknod, symlink, link: refused outside the write side. */
/* mkdir/rmdir: a subfolder inside assets/ (the write side's: cp -r), else
 * refused as ao_router_refuse. */
/* mkdir in <p>/snapshots/ pins a snapshot, rmdir of one unpins it. */
int ao_router_mkdir(const struct ao_router *r, const char *path, struct ao_err *err);
int ao_router_rmdir(const struct ao_router *r, const char *path, struct ao_err *err);
/* snapshots/latest: the newest snapshot's name. */
int ao_router_readlink(const struct ao_router *r, const char *path, char *buf, size_t size,
		       struct ao_err *err);
int ao_router_refuse(const struct ao_router *r, const char *op, const char *path,
		     struct ao_err *err);
/* chmod/chown (touch = 0) or utimens (touch = 1). *sent = 1 when accepted for a
 * drop-box file sent a moment ago (ao_router_sent_stat answers for it next). */
int ao_router_setattr(const struct ao_router *r, const char *path, int touch, int *sent,
		      struct ao_err *err);

#endif
