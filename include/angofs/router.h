/*
 * router.h - which side answers a path, for every file system operation,
 * without FUSE. A path is resolved by the read-side core (core.h); when it
 * lies in a place the write side owns (ao_writes_owns: labels/...,
 * attachments/..., tasks/<id>/<name> other than task.json) and its parent
 * exists, the write side is asked first and -ENOENT from it falls back to the
 * read side (so answer.json reads come from GET /task unless something is
 * spooled). The FUSE adapter (src/daemon/fuse_ops.c) is glue over these
 * calls; unit tests drive them directly (tests/unit/test_router.c).
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

struct ao_writes;

struct ao_router {
	struct ao_core *core;
	struct ao_writes *w; /* NULL: no write side (every write place refused) */
	int read_only;
};

/* One path, resolved. */
struct ao_route {
	struct ao_node n;
	int rc;		   /* the core's resolve: 0 or -errno */
	int ws;		   /* the write side owns the place: ask it first */
	struct ao_err err; /* the core's message when rc < 0 */
};

void ao_route(const struct ao_router *r, const char *path, struct ao_route *rt);

enum ao_side { AO_SIDE_READ, AO_SIDE_WRITE };

/* An open file of either side. */
struct ao_rfh {
	enum ao_side side;
	uint64_t wfh;		/* AO_SIDE_WRITE */
	struct ao_core_fh *rfh; /* AO_SIDE_READ */
};

int ao_router_getattr(const struct ao_router *r, const char *path, struct stat *st,
		      struct ao_err *err);
/* A drop-box file sent a moment ago (no longer listed): its last attributes.
 * 0, or -ENOENT if path is not one. */
int ao_router_sent_stat(const struct ao_router *r, const char *path, struct stat *st);
/* Both sides' entries of a directory (without "." and ".."). */
int ao_router_readdir(const struct ao_router *r, const char *path, ao_core_fill_fn fill, void *ctx,
		      struct ao_err *err);
int ao_router_open(const struct ao_router *r, const char *path, int flags, struct ao_rfh *h,
		   struct ao_err *err);
int ao_router_create(const struct ao_router *r, const char *path, mode_t mode, int flags,
		     struct ao_rfh *h, struct ao_err *err);
void ao_router_release(const struct ao_router *r, struct ao_rfh *h);
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
