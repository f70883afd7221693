/*
 * inval.c - the adapter's side threads (src/daemon/inval.h): kernel cache
 * invalidations are only ever made here, never inside a request handler: the
 * kernel's invalidation locks the file's pages, and a page can be locked by
 * a READ (an mmap fault, even of a closed file) that waits for a worker;
 * called from a handler (with -s, the only worker) that is a deadlock.
 *
 * Lanes, each a FIFO with its own thread. LANE_OPEN carries only the
 * drops an open waits for while no other handle of the file can have a READ
 * holding one of its pages (the core's direct_io = 0): each is quick. Every
 * other drop (a direct_io open's, deferred to flush; an answer's siblings;
 * the poll's; the end of an export generation's pin) goes to LANE_OTHER,
 * where one can wait for a page a READ holds (an asset's READ waiting for its
 * download): with one FIFO the opens behind it ran out their bound and fell
 * back to direct_io (shared mmap: ENODEV).
 *
 * Invalidations name paths (the node the path names now, found in the
 * inode table when the thread gets to it: nothing if the kernel knows
 * none) or a node (an open's own). Entry invalidations (what the poll found
 * may have disappeared: a deleted task, asset or image,
 * ao_fs_invalidate_entry) take the directory's node from the table too:
 * fuse_lowlevel_notify_inval_entry drops the entry and every unused one
 * below it (d_invalidate): the next lookup asks the daemon, which answers
 * ENOENT for what is gone. Pages of files still cached keep their inode and
 * stay. The directory itself is looked up again at once (statx through the
 * mount, AT_STATX_DONT_SYNC: a LOOKUP served by a worker, this thread is
 * not one), only while the mount point is this FUSE mount: a process whose
 * working directory it is would otherwise find getcwd() failing (ENOENT)
 * until someone walked the path (the kernel re-attaches a directory's old
 * entry at its next lookup). An entry in use (a deleted task's directory
 * that is a working directory) is not dropped: it goes when its timeout
 * runs out.
 *
 * That look through the mount is a LOOKUP this daemon answers, so it is made
 * by a third thread (LANE_LOOKUP) with a file table of its own that holds no
 * descriptor (unshare(CLONE_FILES), then close_range): a daemon killed while
 * a worker held that LOOKUP left the thread waiting in the kernel for an
 * answer that never came (uninterruptibly: the request was in userspace),
 * and since the thread shared the process's file table, /dev/fuse was never
 * closed, the connection never aborted, the daemon stayed a zombie and the
 * mount hung for everyone. Now the kernel aborts the connection when the
 * other threads are gone, which ends that wait. The same thread is not
 * waited for at stop beyond a bound (its look may be queued behind the
 * request loop that has ended; the unmount then ends it). It logs nothing
 * (no descriptor).
 *
 * Locks: fs->ql guards the queues and the threads' state; never held while
 * calling into libfuse, the kernel or the core.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "angofs/log.h"
#include "inval.h" /* adapter.h: FUSE_USE_VERSION, fuse_lowlevel.h */

#define FUSE_SUPER_MAGIC 0x65735546

struct inval_item {
	struct inval_item *next;
	unsigned long seq;
	fuse_ino_t ino; /* a node's invalidation (path empty) */
	int attr_only;	/* its attributes only (no page: it never waits for one) */
	int relookup;	/* LANE_LOOKUP: statx of path (a mount path), nothing else */
	size_t name_at; /* an entry invalidation: path[name_at..] is the name (0: none) */
	char path[];
};

static unsigned long queue_item(struct ao_fs *fs, int lane, const char *path, const char *name,
				fuse_ino_t ino, int attr_only, int relookup);

/* Is the mount point this FUSE mount (the re-lookup goes through it)? */
static int our_mount(const struct ao_fs *fs)
{
	struct statfs sf;
	struct statx root;

	return fs->mountpoint && statfs(fs->mountpoint, &sf) == 0 &&
	       sf.f_type == FUSE_SUPER_MAGIC &&
	       statx(AT_FDCWD, fs->mountpoint, AT_STATX_DONT_SYNC, STATX_INO, &root) == 0 &&
	       root.stx_ino == FUSE_ROOT_ID;
}

static void inval_entry(struct ao_fs *fs, struct inval_item *it, int stopping)
{
	const char *name = it->path + it->name_at;
	fuse_ino_t parent = stopping ? 0 : ao_ino_find(fs->ino, it->path);
	int r = -ENOENT;

	if (parent) {
		/* its attributes and listing are stale too */
		fuse_lowlevel_notify_inval_inode(fs->se, parent, 0, 0);
		r = fuse_lowlevel_notify_inval_entry(fs->se, parent, name, strlen(name));
	}
	ao_debug("invalidated entry %s/%s (%d)", it->path, name, r);
	if (r == 0 && our_mount(fs)) {
		/* look it up again at once: the kernel re-attaches the entry a
		 * process may have as its working directory (getcwd works) */
		char p[PATH_MAX];
		if (snprintf(p, sizeof(p), "%s%s/%s", fs->mountpoint, it->path, name) <
		    (int)sizeof(p))
			queue_item(fs, LANE_LOOKUP, p, NULL, 0, 0, 1);
	}
}

static void inval_one(struct ao_fs *fs, struct inval_item *it, int stopping)
{
	if (it->relookup) {
		struct statx st;
		if (!stopping)
			statx(AT_FDCWD, it->path, AT_STATX_DONT_SYNC | AT_SYMLINK_NOFOLLOW,
			      STATX_INO, &st);
		return;
	}
	if (it->name_at)
		return inval_entry(fs, it, stopping);
	fuse_ino_t ino = it->ino ? it->ino : ao_ino_find(fs->ino, it->path);
	/* a negative offset: the kernel drops the attributes and leaves the pages */
	int r = ino && !stopping
		    ? fuse_lowlevel_notify_inval_inode(fs->se, ino, it->attr_only ? -1 : 0, 0)
		    : -ENOENT;
	ao_debug("invalidated %s node %llu%s (%d)", it->path, (unsigned long long)ino,
		 it->attr_only ? " attributes" : "", r);
}

static void *inval_main(void *arg)
{
	struct inval_lane *l = arg;
	struct ao_fs *fs = l->fs;

	pthread_mutex_lock(&fs->ql);
	for (;;) {
		while (!l->head && !fs->inval_stop)
			pthread_cond_wait(&l->qc, &fs->ql);
		if (!l->head)
			break;
		struct inval_item *it = l->head;
		int stopping = fs->inval_stop;
		l->head = it->next;
		if (!l->head)
			l->tail = NULL;
		pthread_mutex_unlock(&fs->ql);
		inval_one(fs, it, stopping);
		pthread_mutex_lock(&fs->ql);
		if (it->seq > l->done_seq)
			l->done_seq = it->seq;
		pthread_cond_broadcast(&l->done_c);
		free(it);
	}
	pthread_mutex_unlock(&fs->ql);
	return NULL;
}

/* Queue path (and, for an entry invalidation, name in directory path). */
static unsigned long queue_item(struct ao_fs *fs, int lane, const char *path, const char *name,
				fuse_ino_t ino, int attr_only, int relookup)
{
	struct inval_lane *l = &fs->lane[lane];
	size_t n = strlen(path) + 1, m = name ? strlen(name) + 1 : 0;
	struct inval_item *it = malloc(sizeof(*it) + n + m);
	unsigned long seq = 0;

	if (!it)
		return 0;
	memcpy(it->path, path, n);
	if (name)
		memcpy(it->path + n, name, m);
	it->name_at = name ? n : 0;
	it->ino = ino;
	it->attr_only = attr_only;
	it->relookup = relookup;
	it->next = NULL;
	pthread_mutex_lock(&fs->ql);
	if (!fs->inval_started) {
		pthread_mutex_unlock(&fs->ql);
		free(it);
		return 0;
	}
	it->seq = seq = ++l->next_seq;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	pthread_cond_signal(&l->qc);
	pthread_mutex_unlock(&fs->ql);
	return seq;
}

unsigned long ao_fs_inval_queue(struct ao_fs *fs, int lane, const char *path)
{
	return queue_item(fs, lane, path, NULL, 0, 0, 0);
}

unsigned long ao_fs_inval_queue_node(struct ao_fs *fs, int lane, fuse_ino_t ino)
{
	return ino ? queue_item(fs, lane, "", NULL, ino, 0, 0) : 0;
}

unsigned long ao_fs_inval_queue_attr(struct ao_fs *fs, int lane, fuse_ino_t ino)
{
	return ino ? queue_item(fs, lane, "", NULL, ino, 1, 0) : 0;
}

void ao_fs_invalidate(struct ao_fs *fs, const char *path)
{
	queue_item(fs, LANE_OTHER, path, NULL, 0, 0, 0);
}

void ao_fs_invalidate_entry(struct ao_fs *fs, const char *dir, const char *name)
{
	queue_item(fs, LANE_OTHER, dir, name, 0, 0, 0);
}

int ao_fs_inval_wait(struct ao_fs *fs, int lane, unsigned long seq, long ms)
{
	struct inval_lane *l = &fs->lane[lane];
	struct timespec dl;
	int done;

	if (!seq)
		return 0;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fs->ql);
	while (l->done_seq < seq && fs->inval_started)
		if (pthread_cond_timedwait(&l->done_c, &fs->ql, &dl) == ETIMEDOUT)
			break;
	done = l->done_seq >= seq;
	pthread_mutex_unlock(&fs->ql);
	return done;
}

void ao_fs_inval_init(struct ao_fs *fs)
{
	pthread_mutex_init(&fs->ql, NULL);
	for (int i = 0; i < LANE_COUNT; i++) {
		fs->lane[i].fs = fs;
		pthread_cond_init(&fs->lane[i].qc, NULL);
		pthread_cond_init(&fs->lane[i].done_c, NULL);
	}
}

/* LANE_LOOKUP's thread: a file table of its own that holds no descriptor
 * but stdio (head comment), then the lane's loop. */
static void *lookup_main(void *arg)
{
	if (unshare(CLONE_FILES) == 0)
		close_range(3, ~0U, 0);
	return inval_main(arg);
}

/* Wake the lanes' threads to end (ql held). */
static void wake_all(struct ao_fs *fs)
{
	fs->inval_stop = 1;
	for (int i = 0; i < LANE_COUNT; i++) {
		pthread_cond_broadcast(&fs->lane[i].qc);
		pthread_cond_broadcast(&fs->lane[i].done_c);
	}
}

/* End lane i's thread and drop what is still queued; LANE_LOOKUP's only
 * within a second (its look may wait for a request loop that has ended:
 * the unmount ends it; what it still holds is its own then). */
static void end_lane(struct ao_fs *fs, int i)
{
	struct inval_lane *l = &fs->lane[i];

	if (i == LANE_LOOKUP) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 1;
		if (pthread_timedjoin_np(l->thread, NULL, &dl) != 0) {
			pthread_detach(l->thread);
			return;
		}
	} else {
		pthread_join(l->thread, NULL);
	}
	while (l->head) {
		struct inval_item *it = l->head;
		l->head = it->next;
		free(it);
	}
	l->tail = NULL;
}

int ao_fs_inval_start(struct ao_fs *fs)
{
	int r = 0, n;

	pthread_mutex_lock(&fs->ql);
	fs->inval_stop = 0;
	for (n = 0; n < LANE_COUNT && r == 0; n++)
		r = pthread_create(&fs->lane[n].thread, NULL,
				   n == LANE_LOOKUP ? lookup_main : inval_main, &fs->lane[n]);
	if (r) { /* stop those started (each is waiting on its queue) */
		n--;
		wake_all(fs);
		pthread_mutex_unlock(&fs->ql);
		for (int i = 0; i < n; i++)
			end_lane(fs, i);
		pthread_mutex_lock(&fs->ql);
	}
	fs->inval_started = r == 0;
	pthread_mutex_unlock(&fs->ql);
	return -r;
}

void ao_fs_inval_stop(struct ao_fs *fs)
{
	pthread_mutex_lock(&fs->ql);
	int started = fs->inval_started;
	fs->inval_started = 0;
	wake_all(fs);
	pthread_mutex_unlock(&fs->ql);
	for (int i = 0; i < LANE_COUNT; i++) {
		if (started) {
			end_lane(fs, i);
		} else {
			while (fs->lane[i].head) {
				struct inval_item *it = fs->lane[i].head;
				fs->lane[i].head = it->next;
				free(it);
			}
			fs->lane[i].tail = NULL;
		}
	}
}
