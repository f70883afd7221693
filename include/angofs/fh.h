/*
 * fh.h - an open file of any part of the mount, as the router holds it
 * (src/fs/router.c): its owner's operations, what the owner says of the
 * content it reads (for the kernel-cache policy, angofs/kcache.h), and the
 * policy's decision. One type for every kind (a cached export, an asset or
 * mask of the media cache, a dataset view's file, an in-memory file, a
 * snapshot's file, a write-side file), so a read, a flush or a release goes
 * straight to the part that opened the file.
 *
 * The owner fills ops, self and id at open; the router fills kc. Nothing
 * here calls anything: the parts include it without depending on the router.
 */
#ifndef ANGOFS_FH_H
#define ANGOFS_FH_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "angofs/err.h"

struct ao_fh;

/* The owner's operations on a handle. NULL members: the operation is not
 * the kind's (a write to a read-only file: EBADF; flush, fsync: nothing). */
struct ao_fh_ops {
	const char *kind; /* "export", "media", "view", "memory", "snapshot", "write" */
	ssize_t (*read)(struct ao_fh *fh, char *buf, size_t size, off_t off, struct ao_err *err);
	/* a descriptor holding bytes [off, off+size) once they are there, for a
	 * spliced read (*fd), or *fd = -1: read() them instead */
	int (*splice_fd)(struct ao_fh *fh, off_t off, size_t size, int *fd, struct ao_err *err);
	ssize_t (*write)(struct ao_fh *fh, const char *buf, size_t size, off_t off,
			 struct ao_err *err);
	int (*flush)(struct ao_fh *fh, struct ao_err *err);
	int (*fsync)(struct ao_fh *fh, struct ao_err *err);
	int (*ftruncate)(struct ao_fh *fh, off_t size, struct ao_err *err);
	int (*fgetattr)(struct ao_fh *fh, struct stat *st, struct ao_err *err);
	/* close it; *cur_gen: for an export, the generation current now (the
	 * kernel's attributes of an older one are dropped) */
	void (*release)(struct ao_fh *fh, unsigned long *cur_gen);
};

/* Which kernel-cache rule a file follows (angofs/kcache.h). */
enum ao_kc_rule {
	/* per path, the content identified at open: its bytes (an in-memory
	 * file) or a complete file's identity standing for them */
	AO_KC_PATH,
	/* an export generation: only page-cache handles constrain the inode, an
	 * open waits for another generation's handles too (once per generation),
	 * and the path's entry outlives its handles as the kernel's copy does */
	AO_KC_EXPORT,
	/* a dataset image: page cache only as the image's one handle with its
	 * size known, never a wait */
	AO_KC_IMAGE,
	/* the write side's files: always direct_io */
	AO_KC_WRITE,
};

/* What the owner says of the content a handle (or a stat) reads. */
struct ao_kc_id {
	enum ao_kc_rule rule;
	/* PATH: the identity (the bytes, or a file's dev/ino/size in ident);
	 * NULL: not identified (still downloading, size unknown). It lives as
	 * long as the handle. */
	const void *id;
	size_t len;
	unsigned char ident[48];
	/* PATH: id is the content itself (an in-memory file): while a
	 * page-cache handle is open, stat of the path shows len bytes */
	int bytes;
	/* PATH: a direct_io open still drops the kernel's old size (a file the
	 * kernel may have seen at 1 byte: assets, masks, derived files) */
	int drop_when_direct;
	/* PATH, direct_io: that drop is done before the open returns (bounded),
	 * so the descriptor's first fstat asks for the true size (an export
	 * still downloading: src/exports/grow.c) */
	int drop_first;
	/* EXPORT: the generation (process-wide number), its size and mtime */
	unsigned long gen;
	long long size;
	time_t mtime;
	/* IMAGE: its size is known; other handles of the image are open */
	int known, others;
	/* the kernel may read the file itself through pt_fd (FUSE passthrough,
	 * angofs/kcache.h ao_kc_pt_decide): a complete, fresh file nobody
	 * writes (an export generation not streamed and not due for a refresh,
	 * a complete media object) */
	int pt_ok, pt_fd;
};

enum ao_kc_way {
	AO_KC_DIRECT, /* direct_io */
	AO_KC_ALONE,  /* the page cache, this content becoming the path's */
	AO_KC_SHARE,  /* the page cache, shared with handles reading the same */
	AO_KC_WAIT,   /* wait (bounded) for the other handles, then ask again */
};

/* The policy's decision for one open. */
struct ao_kc_flags {
	enum ao_kc_way way;
	int direct_io;
	int keep_cache;
	/* drop the kernel's attributes of the path (the adapter's side thread):
	 * before the reply when served through the page cache (the open waits
	 * for it, bounded: not in time, direct_io after all, ao_router_cached),
	 * after it with direct_io (flush waits for it) */
	int must_invalidate;
	/* with direct_io: the open waits for that drop too (bounded) */
	int drop_first;
	/* counted as a page-cache handle of the path */
	int pinned;
};

struct kc_entry;

struct ao_fh {
	const struct ao_fh_ops *ops;
	void *self; /* the owner's state of this handle */
	struct ao_kc_id id;
	/* the router's (src/fs/kcache.c): the path's entry, the decision, and
	 * whether the handle was closed (FLUSH seen, RELEASE on its way) */
	struct kc_entry *kc_entry;
	struct ao_kc_flags kc;
	int flushed;
};

#endif
