/*
 * adapter.h - the FUSE adapter on libfuse's low-level API (fuse_lowlevel.h):
 * node ids are mapped to the paths the router (angofs/router.h) routes by
 * the inode table (inodes.c); the entry operations are in ll_ops.c, the
 * open files in ll_files.c, and kernel cache invalidations are queued to
 * side threads (lanes, inval.c), never issued from inside a request
 * handler. Results of the router (struct ao_err) become errnos, the
 * message logged.
 */
#ifndef ANGOFS_ADAPTER_H
#define ANGOFS_ADAPTER_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "angofs/kcache.h"
#include "angofs/router.h"
#include "inodes.h"

struct inval_item;

/*
 * Locks: `ql` guards the invalidation queues and the threads' state (the
 * fields marked [ql]); the handle list has its own lock (fh_lock in
 * ll_files.c), the inode table its own (inodes.c, a leaf). Lock order: ql
 * and fh_lock are never held together, and neither is held while calling
 * into the core, the write side or the kernel (the notifications run on
 * the side threads with ql released; ao_fs_stop's sweep of unreleased
 * handles holds fh_lock, after the request loop has ended). Fields without
 * a mark are set before the FUSE loop starts and only read afterwards.
 */
struct ao_fs {
	struct ao_router router; /* both sides, open files, the kernel-cache policy */
	struct fuse_session *se;
	struct ao_inodes *ino;	  /* node id <-> path */
	struct ao_kc_ttl_cfg ttl; /* the timeouts' options (angofs/kcache.h) */
	/* -o uid=, gid=, umask= (the high-level library's options): every
	 * reply's owner and permissions */
	int set_uid, set_gid, set_umask;
	uid_t uid;
	gid_t gid;
	mode_t umask;
	const char *cache_dir;
	const char *mountpoint; /* absolute; the side thread's re-lookup */

	int inval_started, inval_stop; /* [ql] */
	pthread_mutex_t ql;	       /* the queue lock */
	struct inval_lane {
		struct ao_fs *fs;		  /* set before the thread starts */
		pthread_t thread;		  /* [ql] while inval_started */
		pthread_cond_t qc, done_c;	  /* [ql] new item; an item done */
		struct inval_item *head, *tail;	  /* [ql] paths waiting for the thread */
		unsigned long next_seq, done_seq; /* [ql] issued and finished sequence numbers */
	} lane[3];				  /* inval.h: LANE_OPEN, LANE_OTHER, LANE_LOOKUP */

	/* passthrough (passthrough.c): asked for (-o passthrough=auto), granted
	 * at init (before any other request), why not; pt_denied: atomic, the
	 * kernel refused a backing file (EPERM) */
	int pt_want, pt_on, pt_denied;
	char pt_why[160];
};

extern const struct fuse_lowlevel_ops ao_ll_ops;

/* The inode table and the lanes' state; 0 or -ENOMEM. */
int ao_fs_init(struct ao_fs *fs);
/* Start/stop the invalidation threads (start after daemonizing); stop also
 * releases the files the kernel never released. */
int ao_fs_start(struct ao_fs *fs);
void ao_fs_stop(struct ao_fs *fs);
void ao_fs_destroy(struct ao_fs *fs);
/* Queue a kernel invalidation of path for the side thread (any thread may
 * call it; it does not wait). */
void ao_fs_invalidate(struct ao_fs *fs, const char *path);
/* Files and directories the kernel has open on the mount (their RELEASE or
 * RELEASEDIR not served yet); any thread. */
int ao_fs_open_handles(void);
/* Queue the invalidation of the kernel's entry `name` in directory dir (and
 * so of every unused entry below it): a later lookup asks the daemon again.
 * It does not wait. */
void ao_fs_invalidate_entry(struct ao_fs *fs, const char *dir, const char *name);
/* The cancel hook: the request the calling thread serves was interrupted
 * by a signal that asks its reader to stop (angofs/cancel.h). */
int ao_fs_interrupted(void);

/* Shared by ll_ops.c and ll_files.c (not for other files). */
/* The request the calling thread serves (fuse_req_interrupted), set by
 * ao_fs_enter, cleared before the reply. */
void ao_fs_enter(fuse_req_t req);
void ao_fs_leave(void);
/* rc (< 0) after logging the message of e. */
int ao_fs_fail(const char *op, const char *path, int rc, const struct ao_err *e);
/* -o uid=, gid=, umask= on a reply's attributes. */
void ao_fs_fix_attr(const struct ao_fs *fs, struct stat *st);
/* The attributes of path for a reply (fi: an open write-side file answers
 * for itself); *key: the content identity (0: none); 0 or -errno. */
int ao_fs_stat(struct ao_fs *fs, const char *path, struct fuse_file_info *fi, struct stat *st,
	       uint64_t *key, struct ao_err *e);
/* The entry of name in parent, learnt by the inode table (its lookup count
 * +1), for reply_entry/reply_create; 0 or -errno. */
int ao_fs_entry(struct ao_fs *fs, fuse_ino_t parent, const char *name, const char *path,
		struct fuse_file_info *fi, struct fuse_entry_param *ep, struct ao_err *e);
/* The same, for a lookup: key, when not 0, is the content identity the
 * node stands for (an open waiting for its retry), instead of the stat's. */
int ao_fs_entry_key(struct ao_fs *fs, fuse_ino_t parent, const char *name, const char *path,
		    uint64_t key, struct fuse_entry_param *ep, struct ao_err *e);
/* An answer just written through path: drop its siblings' attributes. */
void ao_fs_answer_written(struct ao_fs *fs, const char *path);

/* passthrough.c: at init, ask the kernel for passthrough; at open, the
 * way of f on node ino (fi->backing_id, *pt = 1 when it passes through;
 * -ESTALE: the node is held by other content, the kernel is to look the
 * name up again); at release, its end; .status's "passthrough" member. */
void ao_fs_pt_init(struct ao_fs *fs, struct fuse_conn_info *conn);
int ao_fs_pt_open(struct ao_fs *fs, fuse_req_t req, fuse_ino_t ino, const struct ao_fh *f,
		  struct fuse_file_info *fi, int *pt);
void ao_fs_pt_release(struct ao_fs *fs, fuse_req_t req, fuse_ino_t ino, int pt);
json_t *ao_fs_pt_status(struct ao_fs *fs);
/* The identity of f's content, as the inode table keys nodes (an export's
 * generation; a complete file's identity). */
uint64_t ao_fs_pt_key(const struct ao_fh *f);
/* The content key of an open of path by thread pid waiting for its retry
 * (ll_files.c; 0: none): its lookup makes that content's node. */
uint64_t ao_ll_parked_key(const char *path, pid_t pid);

/* The open file operations (ll_files.c). */
void ao_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ao_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void ao_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void ao_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
void ao_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ao_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void ao_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* The router's handle of an open file (NULL: none). */
struct ao_fh *ao_ll_fh(const struct fuse_file_info *fi);
/* Directory handles: opened, released (counted for ao_fs_open_handles). */
void ao_ll_dir_opened(int delta);
/* Release the files the kernel never released (after the loop ended). */
void ao_ll_sweep(struct ao_fs *fs);

#endif
