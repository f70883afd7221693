/*
 * export_cache.h - the on-disk cache of project exports.
 *
 * An entry is one export (project, type task|issue, format json|ndjson,
 * optional stage or batch filter, plus the mount's include* options), keyed
 * by a string of all of these and the host; the key's 64-bit FNV-1a hash
 * names the files <dir>/<hash>.data (the unzipped export) and <hash>.meta
 * (JSON: key, size, fetch time, stale flag, last access). The key string in
 * the meta is compared on load, so a hash collision is a miss, not a mix-up.
 * Nothing in either file is secret: no API key, no signed URL.
 *
 * Fetching is single-flight per entry: the first open starts it, concurrent
 * opens wait for its outcome. A fetch streams the zip to a temp file, unzips
 * it to a second temp file and renames that over <hash>.data, so a reader
 * never sees a half download; readers that opened the old file keep it.
 * Entries go stale after ttl seconds, by ao_xcache_mark_stale (touch) or by
 * a write to the project; the next open refetches. A change marked while a
 * fetch runs, after it asked for its export, leaves the generation that
 * fetch publishes stale (it may lack the change), and an open never takes a
 * generation that lacks a change marked before the open began (read your
 * writes; docs/DESIGN-NOTES.md "Changes during a refresh"). Total size is capped:
 * least recently used entries that nobody has open are evicted.
 */
#ifndef ANGOFS_EXPORT_CACHE_H
#define ANGOFS_EXPORT_CACHE_H

#include <time.h>
#include <jansson.h>

#include "angofs/err.h"

struct hub;

enum ao_xtype { AO_X_TASK, AO_X_ISSUE };

struct ao_xcache_cfg {
	struct hub *hub;
	const char *dir;     /* exports directory; created 0700 */
	const char *host;    /* part of every key */
	long long max_bytes; /* 0: no cap */
	long ttl_s;
	int include_metadata, include_history, include_only_key_frames, include_idle_blur;
	const char *task_types_json; /* NULL: AO_XCACHE_TASK_TYPES (always sent) */
	/* incremental refresh (exports/incremental.c): a stale export asks only for the tasks
	 * changed since its generation; a full export at least every incr_full_s
	 * seconds (0: always a full export) */
	long incr_full_s;
	/* pinned snapshots (src/cachedir/pins.c): their bytes count
	 * toward max_bytes (looked at most every 30 s); NULL: none */
	const char *pin_dir;
	/* a cold export whose zip is larger than this is readable by the FUSE
	 * read path from its first bytes on, while it downloads
	 * (exports/grow.c); 0: its open waits for the whole file */
	long long first_bytes;
};

/* Safety margin of the incremental refresh's updatedAt bound. */
#define AO_XCACHE_INCR_MARGIN_S 2

/* What the SDK sends when the user names no task type. */
#define AO_XCACHE_TASK_TYPES "[\"default\"]"

struct ao_xspec {
	const char *project_id;
	enum ao_xtype type;
	int ndjson;
	const char *stage_id; /* NULL: none */
	const char *batch_id; /* NULL: none */
	int lean;	      /* internal task listing: every include* flag false */
};

/* Hooks into a fetch (set once, before the first open; the core installs
 * them). All run without the cache's lock, in the fetching thread; `fetched`
 * runs after the publish lock is released (no network I/O under it). */
struct ao_xhooks {
	/* For a task export without a stage filter: *json = the JSON array of
	 * every stage id of the project (malloc'd; NULL: the project has none).
	 * An error fails the fetch: an export without `stage` may silently hold
	 * only the hub's default stage. */
	int (*all_stages)(void *ud, const char *project_id, char **json, struct ao_err *err);
	/* The project's fingerprint: a hash of what shapes its export records
	 * besides the tasks (stages, batches, categorySchema, updatedAt). fresh:
	 * ask the hub now (*requests += 1), else the cached project is fine. */
	int (*project_fp)(void *ud, const char *project_id, int fresh, unsigned long long *fp,
			  int *requests, struct ao_err *err);
	/* GET /project/{id}/tasks `total` for the filter of s (whole project or
	 * one stage). */
	int (*count)(void *ud, const struct ao_xspec *s, long long *total, struct ao_err *err);
	/* After a successful fetch: the data file at path, size bytes, records
	 * (-1: not counted) and the hub's total for the same filter when the
	 * fetch already asked for it (-1: the hook may ask). */
	void (*fetched)(void *ud, const struct ao_xspec *s, const char *path, long long size,
			long long records, long long hub_total);
	void *ud;
};

struct ao_xcache;
struct ao_xentry;
struct ao_xgrow; /* a cold export still downloading (exports/grow.c) */

struct ao_xcache *ao_xcache_new(const struct ao_xcache_cfg *cfg, struct ao_err *err);
void ao_xcache_free(struct ao_xcache *c);
void ao_xcache_set_hooks(struct ao_xcache *c, const struct ao_xhooks *h);
/* The taskTypes JSON array every task export sends. */
const char *ao_xcache_task_types(const struct ao_xcache *c);

/* Find or create the entry of spec (no network). Entries live as long as c. */
struct ao_xentry *ao_xcache_get(struct ao_xcache *c, const struct ao_xspec *spec,
				struct ao_err *err);

/* Size and mtime of the current generation, to show in stat; returns 1 if
 * the content is known (cached), 0 if not (size 0: unknown). The mtime is the
 * generation's: the fetch time, or, for the first generation fetched after
 * stat showed the export as not cached (within the TTL), the time that stat
 * first showed it, so the mtime does not jump at the first read; while it is
 * stale, the time it was marked. What the kernel is told per path (one inode
 * per path, several handles) is the router's business (src/fs/kcache.c). */
int ao_xcache_stat(struct ao_xcache *c, struct ao_xentry *e, long long *size, time_t *mtime);
/* The same, with the generation's view number (ao_xopen.gen; 0 if unknown). */
int ao_xcache_stat_gen(struct ao_xcache *c, struct ao_xentry *e, long long *size, time_t *mtime,
		       unsigned long *gen);

struct ao_xopen {
	int fd;		   /* read-only descriptor of the cached data; serve with pread */
	unsigned long gen; /* its generation, unique in the process (ao_xcache_gen) */
	time_t mtime;	   /* what stat shows now (ao_xcache_stat) */
	long long size;
	int streamed;		 /* still being written: call ao_xcache_wait before reads */
	unsigned long stream_id; /* ... with this */
	/* a cold export still downloading (size -1: unknown): call
	 * ao_xcache_wait_grow before reads (only for opens with streamed) */
	struct ao_xgrow *grow;
};

/* Make sure a fresh copy is cached (fetching it if needed, once for all
 * concurrent callers) and open it. Close with ao_xcache_close. */
int ao_xcache_open(struct ao_xcache *c, struct ao_xentry *e, struct ao_xopen *o,
		   struct ao_err *err);
/* The same; streamed: the caller accepts a generation still being written by
 * an incremental merge (o->streamed; src/exports/stream.c) and calls
 * ao_xcache_wait before each read of it. Other callers get whole files. */
int ao_xcache_open_ex(struct ao_xcache *c, struct ao_xentry *e, struct ao_xopen *o, int streamed,
		      struct ao_err *err);
/* Before reading bytes [.., end) of a generation opened streamed (o->stream_id):
 * wait until they are written. 0; -EIO if its merge failed before them (err
 * says so); -EINTR if the caller's request was interrupted. */
int ao_xcache_wait(struct ao_xcache *c, struct ao_xentry *e, unsigned long id, long long end,
		   struct ao_err *err);
/* The same for a generation opened while it downloads (o->grow): 0 once
 * bytes [.., end) are written or the file is complete (a read then sees its
 * end); -EIO if the download failed before them; -EINTR if interrupted. */
int ao_xcache_wait_grow(struct ao_xcache *c, struct ao_xgrow *g, long long end, struct ao_err *err);
/* Wait for merges still writing in the background (before the core and
 * the hooks' user data go away; ao_xcache_free does it too). */
void ao_xcache_drain(struct ao_xcache *c);
void ao_xcache_close(struct ao_xcache *c, struct ao_xentry *e, int fd);

/* 1 if cached and fresh now (no fetch needed). */
int ao_xcache_fresh(struct ao_xcache *c, struct ao_xentry *e);

void ao_xcache_mark_stale(struct ao_xcache *c, struct ao_xentry *e);
/* Marked stale (both): stat shows the time of the mark as the mtime from then
 * on, and the refresh keeps it (a refresh after the TTL alone that changes
 * nothing keeps the generation's mtime). A touch moves it even if the entry
 * is stale already (touch's contract). */
void ao_xcache_touched(struct ao_xcache *c, struct ao_xentry *e);
/* All entries of a project (after a successful write). */
void ao_xcache_project_stale(struct ao_xcache *c, const char *project_id);

/* How many changes were marked on e so far (a touch, a write, a poll): a
 * generation opened after this call holds every one of them (the rule of
 * ao_xcache_open). The dataset views sample it before they open the export,
 * so that a listing waiting for another thread's build takes that build's
 * generation when it holds every change marked before the listing began. */
unsigned long ao_xcache_changes(struct ao_xcache *c, struct ao_xentry *e);

/* Content generation (changes on every successful fetch). */
unsigned long ao_xcache_gen(struct ao_xcache *c, struct ao_xentry *e);

/* "<hash>.<generation>" of the generation a descriptor from ao_xcache_open
 * reads: names that generation on disk, the same in every daemon sharing
 * the directory (the dataset views key their derived files by it).
 * -ENOENT if fd is not an open descriptor of e. */
int ao_xcache_fd_ident(struct ao_xcache *c, struct ao_xentry *e, int fd, char *buf, size_t n);

/* The newest task updatedAt (epoch microseconds) in the cached task exports
 * of a project, as their generations recorded it; 0 if none is known. */
long long ao_xcache_newest_us(struct ao_xcache *c, const char *project_id);

/* {"exports":[{project,type,format,stage,batch,state,bytes_done,bytes_total,size,...}]} */
json_t *ao_xcache_status(struct ao_xcache *c);

/* Helpers exposed for unit tests. */
/* The query of an incremental refresh: the full export's query for spec
 * (a stage view is asked for every stage, stages_json, so tasks that left it
 * are seen) plus updatedAt {"$gt": after_us}. */
char *ao_xcache_query_incr(const struct ao_xcache_cfg *cfg, const struct ao_xspec *spec,
			   const char *stages_json, long long after_us);
char *ao_xcache_key(const struct ao_xcache_cfg *cfg, const struct ao_xspec *spec);
char *ao_xcache_query(const struct ao_xcache_cfg *cfg, const struct ao_xspec *spec);
/* The same; a task export without a stage filter (whole project, batch)
 * sends stages_json (JSON array text of every stage id) as `stage`. */
char *ao_xcache_query_stages(const struct ao_xcache_cfg *cfg, const struct ao_xspec *spec,
			     const char *stages_json);

#endif
