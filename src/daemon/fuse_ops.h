/*
 * fuse_ops.h - the FUSE adapter: fuse3 high-level path operations that route
 * each path to the read-side core or the write side (include/angofs/writes.h)
 * and translate struct ao_err results to errnos (logging the message).
 * Kernel cache invalidations are queued to a side thread, never issued from
 * inside a request handler.
 */
#ifndef ANGOFS_FUSE_OPS_H
#define ANGOFS_FUSE_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse.h>
#include <pthread.h>

struct ao_core;
struct ao_writes;

struct inval_item;

struct ao_fs {
	struct ao_core *core;
	struct ao_writes *w;
	struct fuse *fuse;
	int read_only;
	double attr_timeout, entry_timeout;
	const char *cache_dir;

	/* the invalidation queue: every field below guarded by ql (a leaf: held
	 * only to queue/dequeue, never across fuse_invalidate_path) */
	pthread_t inval_thread;
	int inval_started, inval_stop;
	pthread_mutex_t ql;
	pthread_cond_t qc, done_c;
	struct inval_item *head, *tail;
	unsigned long next_seq, done_seq;
};

extern const struct fuse_operations ao_fuse_ops;

void ao_fs_init(struct ao_fs *fs);
/* Start/stop the invalidation thread (start after daemonizing). */
int ao_fs_start(struct ao_fs *fs);
void ao_fs_stop(struct ao_fs *fs);

#endif
