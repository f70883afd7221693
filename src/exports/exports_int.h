/*
 * exports_int.h - the export cache's in-memory state and its parts: cache.c
 * (the state machine: open, fetch, TTL, stale, eviction), key.c (an entry's
 * key and request), download.c and unzip.c (one generation from the hub),
 * discover.c (entries on disk and other daemons'), refresh.c and
 * incremental.c (one refresh; records.h: records.c and merge.c), stream.c
 * (a generation served while it is written), grow.c (a cold export served
 * while it downloads), status.c (the status report);
 * the on-disk protocol is cachedir.h's.
 *
 * Locking: c->lock (a mutex) guards the entry list and every field of every
 * entry, except done/total (relaxed atomics, written by the fetching thread)
 * and the spec fields (set once). c->lock is a leaf held only for bookkeeping
 * and local files (meta reads and writes, non-blocking fcntl locks, eviction),
 * never across GET /export, the download or a wait for another daemon's
 * publish lock: those run on an entry marked `fetching`, and waiters sleep on
 * c->cond (waking every 250 ms to honour an interrupt of their own request).
 *
 * Lock order (export cache): a caller may hold the core's p->tasks_refresh
 * (read/tasks.c lists tasks from an export); then c->lock, a leaf. The fetching
 * thread holds no mutex (exports/refresh.c): before the on-disk publish lock it
 * calls project_fp (GET /project/{id}: p->detail_refresh, then the core's
 * c->lock) and starts the count thread (GET /project/{id}/tasks, no lock);
 * it takes the publish lock (byte 0 of H.lock, fcntl, polled without
 * waiting so an interrupt is honoured) and under it calls all_stages (takes
 * p->detail_refresh, then the core's c->lock) and downloads; after
 * releasing it, fetched (read/completeness.c: maybe a GET, then the core's
 * c->lock). The
 * on-disk locks (byte 0: publish and eviction; byte g: readers of
 * generation g) are described in docs/DESIGN-NOTES.md; under c->lock they
 * are only tried (F_SETLK), never waited for. Global order:
 * docs/DESIGN-NOTES.md ("Locks").
 */
#ifndef ANGOFS_EXPORTS_INT_H
#define ANGOFS_EXPORTS_INT_H

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "angofs/export_cache.h"

struct cd_meta; /* cachedir/cachedir.h */

/* A temp file untouched this long belongs to no running fetch (downloads
 * stall out after a minute). */
#define TMP_MAX_AGE_S 3600

/* What the last refresh of an entry did (status, logs, the benchmark). */
struct xc_refresh {
	const char *mode;	  /* "incremental", "unchanged" (incremental, nothing changed),
				     "full" */
	char why[AO_ERR_MSG_MAX]; /* a full export although one was cached: why */
	long long changed;	  /* records in the incremental export */
	long long replaced, added, removed, records;
	int requests;	 /* hub requests this refresh sent (retries not counted) */
	int indexed;	 /* the merge copied unchanged runs through the record index */
	int streamed;	 /* ... and was served while written (exports/stream.c) */
	long long bytes; /* downloaded (the zip) */
	long long ms;
	time_t at;
	long long m0_ms; /* ao_sys_now_ms() when it began */
	time_t t0;	 /* time() when it began */
};

struct ao_xentry {
	struct ao_xentry *next; /* c->lock (entries are never unlinked while c lives) */
	char *key;		/* immutable after creation */
	char hash[17];		/* idem */
	/* spec fields: set once under c->lock (known = 1), read-only after;
	 * the fetching thread reads them without the lock */
	char *project_id, *stage_id, *batch_id;
	enum ao_xtype type;
	int ndjson, lean;
	int known; /* spec fields are set (entries loaded from disk lack them) */

	/* Every field from here to `done` is guarded by c->lock. The fetching
	 * thread (fetching = 1) runs without it and writes them back under it. */
	/* mirror of H.meta (cachedir/cachedir.h); have: a current generation exists */
	int have;
	long long size;
	time_t fetched_at, last_access, touched_at;
	/* stale: the generation may lack a change (meta_stale: H.meta says so,
	 * set by any daemon; or covers < changes below) */
	int stale, meta_stale;
	long long hwm_us;	      /* the generation's newest task updatedAt (0: unknown) */
	unsigned long long dgen;      /* its generation number on disk */
	unsigned long long gone_dgen; /* generation whose data file vanished */
	/* Changes and what a generation holds (read your writes). changes:
	 * marks of this entry so far (a touch, a write to the project, a change
	 * the poll saw); covers: how many of them the current generation is
	 * known to hold. fetch_from: `changes` when this daemon's running fetch
	 * began, sampled again just before it sends GET /export (what that
	 * export holds); the generation the fetch ends with covers that many.
	 * unsynced: the first mark since the last generation was adopted that
	 * could not set the stale flag in H.meta under byte 0 (a fetch of ours
	 * was running, or another daemon held byte 0: what it publishes may
	 * predate the mark), so the next generation adopted from another
	 * daemon covers only the marks before it (0: none). The first, not the
	 * last: a later mark (a second write while that daemon still
	 * downloads) would otherwise count the earlier ones as covered. */
	unsigned long changes, covers, fetch_from, unsynced;
	struct stat meta_st; /* H.meta as last parsed */
	int lockfd;	     /* H.lock: opened once, never a second fd */
	struct xhold {
		int fd;
		unsigned long long dgen;
		struct ao_xgrow *grow; /* a download's data file still written (grow.c) */
	} * holds; /* open descriptors and their generation (byte dgen read-locked) */
	size_t nholds, capholds;
	int evict_round;
	int fetching;
	unsigned long gen;	 /* process-wide unique view generation (what the kernel's
				    per-path rule tells generations apart by: src/fs/kcache.c) */
	unsigned long fetch_seq; /* completed fetch attempts */
	int last_rc;
	int served_stale;  /* the last fetch failed transiently: the old copy is served */
	time_t hold_until; /* ... without asking the hub again until then */
	char last_msg[AO_ERR_MSG_MAX];
	int open_count; /* descriptors open (FUSE handles, dataset builds, task listings) */
	/* mtime of the current generation (H.meta "mtime", the same for every
	 * daemon); shown_at: first stat while none was cached, the mtime the
	 * next fetch keeps (within the TTL) so a copy made from the listing
	 * stays in sync (rsync -a twice copies nothing) */
	time_t gen_mtime, shown_at;
	/* when this generation was marked stale (0: not, or by the TTL): the
	 * mtime stat shows until the refresh (H.meta "stale_at") */
	time_t stale_at;
	struct xc_refresh last_refresh; /* the last refresh this daemon made */
	/* a merged generation served while its writer thread writes it
	 * (exports/stream.c): its number (0: none), the bytes written so far and its
	 * final size; stream_id: its view generation (e->gen when adopted,
	 * unique in the process: a failed generation's number is used again);
	 * bad_id/bad_ready: one whose writing failed, bytes past bad_ready
	 * never came (its open handles get EIO for them) */
	unsigned long long stream_dgen;
	unsigned long stream_id, bad_id;
	long long stream_ready, stream_size, bad_ready;
	/* the cold download under way that readers may follow (exports/grow.c;
	 * NULL: none), and bg: the running fetch is on a thread of its own
	 * (set before the fetch starts, cleared after it ended) */
	struct ao_xgrow *grow;
	int bg;
	struct ao_xcache *bg_cache; /* for its thread */
	/* progress: relaxed atomics (__atomic builtins), written by the fetching
	 * thread without c->lock, read by the status report */
	long long done, total;
};

#define XC_INFLIGHT_MAX 32

struct ao_xcache {
	struct ao_xcache_cfg cfg;      /* immutable after init */
	char *dir, *host, *task_types; /* idem */
	struct ao_xhooks hooks;	       /* set once before the first open; read-only after */
	pthread_mutex_t lock;	       /* "c->lock": a leaf, never held across I/O to the hub */
	pthread_cond_t cond;	       /* with c->lock: a fetch ended (fetching went to 0) */
	struct ao_xentry *entries;     /* c->lock */
	unsigned long next_gen;	       /* c->lock */
	int streams;	     /* c->lock: merge writer threads running (exports/stream.c) */
	long long pin_bytes; /* c->lock: what cfg.pin_dir held when last looked at */
	time_t pin_at;	     /* c->lock: when that was (0: never) */
	/* c->lock: hashes of exports another daemon was downloading for the
	 * first time when this one marked a project (exports/discover.c,
	 * xc_discover): no entry here to mark; the entry made later starts
	 * unsynced */
	char inflight[XC_INFLIGHT_MAX][17];
	int ninflight;
};

/* exports/cache.c helpers shared with exports/discover.c (c->lock held). */
struct ao_xentry *xc_find_hash(struct ao_xcache *c, const char *hash, const char *key);
struct ao_xentry *xc_entry_new(struct ao_xcache *c, const char *hash, char *key);
int xc_entry_lockfd(struct ao_xcache *c, struct ao_xentry *e);
void xc_refresh(struct ao_xcache *c, struct ao_xentry *e, int force);
int xc_evict_one(struct ao_xcache *c, struct ao_xentry *v);

/* exports/discover.c: entries found on disk (name "<hash>.meta"), leftovers of
 * interrupted fetches (removed by age), entries published by others since. */
void xc_load_meta(struct ao_xcache *c, const char *name);
void xc_drop_leftover(struct ao_xcache *c, const char *name);
void xc_discover(struct ao_xcache *c);

/* How one refresh of an entry ended (xc_fetch_shared, xc_fetch_done);
 * a failure is -errno instead. */
enum xc_fetched {
	XC_PUBLISHED = 0, /* this daemon published a generation (ri says how) */
	XC_ADOPTED = 1,	  /* another daemon published one meanwhile: adopted */
	XC_STREAMING = 3, /* a merged generation is written by its own thread and is
			     adopted already (exports/stream.c: that thread publishes it and
			     ends the fetch) */
};

/* exports/refresh.c: one refresh of e for all daemons on the directory (no mutex
 * held, e->fetching set): an enum xc_fetched, or -errno. */
int xc_fetch_shared(struct ao_xcache *c, struct ao_xentry *e, int lfd, unsigned long long seen,
		    time_t shown_at, struct xc_refresh *ri, struct ao_err *err);

/* exports/cache.c (c->lock held): make m e's generation in this daemon (a
 * meta read from disk, or a streamed generation before it is published);
 * end a fetch of this daemon with rc (0 published, 1 another daemon did,
 * -errno), as its fetching thread or a stream's writer thread. */
void xc_adopt(struct ao_xcache *c, struct ao_xentry *e, const struct cd_meta *m);
int xc_fetch_done(struct ao_xcache *c, struct ao_xentry *e, int rc, const struct xc_refresh *ri,
		  struct ao_err *ferr);

/* exports/refresh.c: make n the current generation on disk (byte 0 held). */
int xc_publish(struct ao_xcache *c, struct ao_xentry *e, int lfd, const struct cd_meta *old,
	       struct cd_meta *n, struct ao_err *err);
/* The mtime of a new generation n replacing m (had: there was one). */
void xc_new_mtime(const struct cd_meta *m, int had, struct cd_meta *n);

/* Set the stale flag of the generation H.meta names (byte 0 tried, not
 * waited for; mutex held), marked at `at` (touched: moved even if stale
 * already). 1 done, or nothing is published (a later download holds the
 * change); 0 not: a publication or another rewrite is under way, or an
 * error. */
int xc_meta_mark(struct ao_xcache *c, struct ao_xentry *e, time_t at, int touched);

/* Just before a fetch of this daemon sends GET /export (no mutex held):
 * the generation it brings holds every change marked until now. */
void xc_sample_changes(struct ao_xcache *c, struct ao_xentry *e);

/* Cached and fresh at now (c->lock held). */
int xc_is_fresh(struct ao_xcache *c, struct ao_xentry *e, time_t now);

/* download.c: */
struct hub;
/* Who follows a data file while a download writes it (exports/grow.c): begin
 * with its temp path before the download starts, written after each block
 * unzipped into it (n: its length so far; the unzip worker's thread),
 * void_ when what was written is no longer the file's (the stream failed
 * and the zip file is extracted elsewhere). */
struct xc_watch {
	void (*begin)(void *ud, const char *path);
	void (*written)(void *ud, long long n);
	void (*void_)(void *ud);
	void *ud;
};
/* Download the export of query q as generation gen of H: H.gen.data exists
 * on success (size in *size); progress in *done / *total (atomics). A
 * failure a sibling published at or after since_ms (wall clock: when this
 * fetch began) is answered without a request (H.fail); this download's own
 * failure is published, its success clears it. */
int xc_download(struct hub *hub, const char *q, const char *dir, const char *hash,
		unsigned long long gen, long long since_ms, long long *done, long long *total,
		long long *size, const struct xc_watch *w, struct ao_err *err);

/* The same into dest (any path in dir; renamed into place on success),
 * unwatched, and watched by w (NULL: none). */
int xc_download_to(struct hub *hub, const char *q, const char *dir, const char *hash,
		   const char *dest, long long since_ms, long long *done, long long *total,
		   long long *size, struct ao_err *err);
int xc_download_w(struct hub *hub, const char *q, const char *dir, const char *hash,
		  const char *dest, long long since_ms, long long *done, long long *total,
		  long long *size, const struct xc_watch *w, struct ao_err *err);

/* grow.c (c->lock held unless said): follow the data file of a full
 * download of e as generation dgen (w filled; no lock held); its end (rc,
 * size; no lock held); drop it when the fetch ended; attach an open to it
 * (0, or -EAGAIN: not now); a handle closed; handles open. */
int xc_grow_watch(struct ao_xcache *c, struct ao_xentry *e, unsigned long long dgen,
		  struct xc_watch *w);
void xc_grow_end(struct ao_xcache *c, struct ao_xentry *e, int rc, long long size);
void xc_grow_drop(struct ao_xcache *c, struct ao_xentry *e);
int xc_grow_attach(struct ao_xcache *c, struct ao_xentry *e, struct ao_xopen *o);
void xc_grow_close(struct ao_xgrow *g);
int xc_grow_readers(const struct ao_xentry *e);
/* 1 and its bytes unzipped so far and handles reading it, if e has one. */
int xc_grow_state(const struct ao_xentry *e, long long *ready, int *open);

#endif
