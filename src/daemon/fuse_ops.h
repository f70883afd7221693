/*
 * fuse_ops.h - the FUSE adapter: fuse3 high-level path operations that route
 * each path to the read-side core or the write side (include/angofs/writes.h)
 * and translate struct ao_err results to errnos (logging the message).
 * Kernel cache invalidations are queued to side threads (two lanes), never
 * issued from inside a request handler.
 */
#ifndef ANGOFS_FUSE_OPS_H
#define ANGOFS_FUSE_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse.h>
#include <pthread.h>

struct ao_core;
struct ao_writes;

struct inval_item;

/*
 * Locks: `ql` guards the invalidation queues and the threads' state (the
 * fields marked [ql]); the handle list has its own lock (fh_lock in
 * fuse_ops.c). Lock order: ql and fh_lock are never held together, and
 * neither is held while calling into the core, the write side or the kernel
 * (fuse_invalidate_path runs on the side threads with ql released;
 * ao_fs_stop's sweep of unreleased handles holds fh_lock, after the request
 * loop has ended). Fields without a mark are set before the FUSE loop starts
 * and only read afterwards.
 */
struct ao_fs {
	struct ao_core *core;
	struct ao_writes *w;
	struct fuse *fuse;
	int read_only;
	double attr_timeout, entry_timeout;
	const char *cache_dir;
	const char *mountpoint; /* absolute (libfuse's realpath); entry invalidations */

	int inval_started, inval_stop; /* [ql] */
	pthread_mutex_t ql;	       /* the queue lock */
	struct inval_lane {
		struct ao_fs *fs;		  /* set before the thread starts */
		pthread_t thread;		  /* [ql] while inval_started */
		pthread_cond_t qc, done_c;	  /* [ql] new item; an item done */
		struct inval_item *head, *tail;	  /* [ql] paths waiting for the thread */
		unsigned long next_seq, done_seq; /* [ql] issued and finished sequence numbers */
	} lane[2];				  /* fuse_ops.c: LANE_OPEN, LANE_OTHER */
};

extern const struct fuse_operations ao_fuse_ops;

void ao_fs_init(struct ao_fs *fs);
/* Start/stop the invalidation thread (start after daemonizing). */
int ao_fs_start(struct ao_fs *fs);
void ao_fs_stop(struct ao_fs *fs);
/* Queue a kernel invalidation of path for the side thread (any thread may
 * call it; it does not wait). */
void ao_fs_invalidate(struct ao_fs *fs, const char *path);
/* Files and directories the kernel has open on the mount (their RELEASE or
 * RELEASEDIR not served yet); any thread. */
int ao_fs_open_handles(void);
/* Queue the invalidation of the kernel's entry `name` in directory dir (and
 * so of every unused entry below it): a later lookup asks the daemon again.
 * Done by the side thread only if the kernel has dir cached (nothing below
 * it then); it does not wait. */
void ao_fs_invalidate_entry(struct ao_fs *fs, const char *dir, const char *name);

#endif
