/*
 * inval.h - the adapter's side threads: kernel cache invalidations queued by
 * request handlers and other threads, made by two threads of their own
 * (lanes), never inside a request handler (src/daemon/inval.c).
 */
#ifndef ANGOFS_INVAL_H
#define ANGOFS_INVAL_H

#include "adapter.h"

/* LANE_OPEN: only the drops an open waits for while no other handle of the
 * file can hold one of its pages (each is quick); LANE_OTHER: every other
 * drop and the entry invalidations; LANE_LOOKUP: the looks through the
 * mount after an entry invalidation (a thread without /dev/fuse, inval.c). */
enum { LANE_OPEN, LANE_OTHER, LANE_LOOKUP, LANE_COUNT };

void ao_fs_inval_init(struct ao_fs *fs);
/* Start / stop the two threads (stop drops what is still queued). */
int ao_fs_inval_start(struct ao_fs *fs);
void ao_fs_inval_stop(struct ao_fs *fs);
/* Queue an invalidation of path's attributes and pages on lane; its
 * sequence number (0: not queued, the threads are not running). */
unsigned long ao_fs_inval_queue(struct ao_fs *fs, int lane, const char *path);
/* The same for node ino (an open's own node; 0: nothing to do). */
unsigned long ao_fs_inval_queue_node(struct ao_fs *fs, int lane, fuse_ino_t ino);
/* The same for the node's attributes only: the kernel asks for them again
 * and keeps its pages (never waits for a page a READ holds: quick). */
unsigned long ao_fs_inval_queue_attr(struct ao_fs *fs, int lane, fuse_ino_t ino);
/* Wait at most ms for the lane to have made invalidation seq (and every one
 * queued before it on that lane); 1 if done, 0 if not (or seq is 0). */
int ao_fs_inval_wait(struct ao_fs *fs, int lane, unsigned long seq, long ms);

#endif
