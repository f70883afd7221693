/*
 * cachedir.h - the on-disk protocol of one cache entry, shared by every
 * daemon whose cache_dir is this directory (see docs/DESIGN-NOTES.md, "A
 * cache directory shared by N daemons"): the export cache's (exports/) and
 * the media cache's (media/) in their directories, and the bytes pinned
 * snapshots hold beside them. Its parts: entry.c (generations, H.meta,
 * removal and sweeps under the byte locks), failure.c (H.fail), pins.c.
 *
 * Files of entry H (H = 16 hex digits of the key's hash):
 *   H.lock        never removed; fcntl locks: byte 0 = "publishing" (held by
 *                 the one downloader, and by whoever rewrites H.meta or evicts),
 *                 byte G = "generation G is open" (shared, by every daemon
 *                 with a descriptor of H.G.data)
 *   H.G.data      generation G (an unzipped export, a media object); written as
 *                 H.G.data.tmp-XXXXXX and renamed into place, never modified
 *   H.G.idx       its record index (incremental refresh), same life
 *   H.meta        {"version":2,"key","gen","size","fetched_at","mtime","stale",
 *                 "stale_at","records","hwm","fp","base_at"}: the current generation;
 *                 replaced only by rename, only under byte 0. The last four
 *                 serve incremental refreshes (exports/incremental.c): record count, newest
 *                 task updatedAt (microseconds), the project fingerprint the
 *                 generation was made with (hex), the time of the last full
 *                 export it derives from; absent (0) in older metas
 *   H.fail        {"at","code","transient","http","msg"}: the last failed
 *                 download of H (cachedir/failure.c), removed by the next success;
 *                 written only under byte 0. The media cache uses the same
 *                 files in its own directory.
 */
#ifndef ANGOFS_CACHEDIR_H
#define ANGOFS_CACHEDIR_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

struct cd_meta {
	unsigned long long gen; /* 0: no meta */
	long long size;
	time_t fetched_at;
	time_t mtime; /* shown to users; 0 in older metas: fetched_at */
	int stale;
	/* when it was marked stale (touch, -o poll, a write; 0: never or by
	 * the TTL alone), later than mtime: shown as the mtime until the
	 * refresh, which keeps it (stat-only tools such as rsync, make, find
	 * -newer see the change before anyone reads the file) */
	time_t stale_at;
	/* incremental refresh (0: unknown, no incremental refresh from it) */
	long long records; /* -1 unknown */
	long long hwm_us;
	unsigned long long fp;
	time_t base_at;
};

void cd_path(const char *dir, const char *hash, const char *ext, char *buf, size_t n);
void cd_data_path(const char *dir, const char *hash, unsigned long long gen, char *buf, size_t n);
/* H.G.idx: the record index of generation G (exports/records.h), written before its
 * meta, removed with it; only the current generation's is ever read. */
void cd_idx_path(const char *dir, const char *hash, unsigned long long gen, char *buf, size_t n);

/* Read H.meta; 0 (m filled), -ENOENT (no meta), -EINVAL (unreadable or of
 * another key: a hash collision), -errno. st (may be NULL) gets its stat. */
int cd_meta_read(const char *dir, const char *hash, const char *key, struct cd_meta *m,
		 struct stat *st);

/* Replace H.meta atomically (temp file + rename). Caller holds byte 0. */
int cd_meta_write(const char *dir, const char *hash, const char *key, const struct cd_meta *m);

/* Remove generation gen if no daemon has it open (byte gen lockable).
 * The caller must not hold byte gen itself. 1 removed/absent, 0 in use. */
int cd_gen_remove(const char *dir, const char *hash, int lockfd, unsigned long long gen);

/* Remove every generation of H other than keep that nobody has open, except
 * those listed in held[nheld] (this process's own readers). */
void cd_gen_sweep(const char *dir, const char *hash, int lockfd, unsigned long long keep,
		  const unsigned long long *held, size_t nheld);

struct ao_err;

/* Failed downloads shared between daemons (cachedir/failure.c; byte 0 held for all
 * three). Wall-clock ms now, and at an ao_sys_now_ms() reading. */
long long cd_wall_ms(void);
long long cd_wall_ms_of(long long mono_ms);
/* 1 if e is the hub's or the download's failure (not an interrupt, a stop
 * or a local disk error): worth telling the other daemons. */
int cd_fail_publishable(const struct ao_err *e);
void cd_fail_publish(const char *dir, const char *hash, const struct ao_err *e);
void cd_fail_clear(const char *dir, const char *hash);
/* The failure a sibling (another process) published for H at or after
 * since_ms, i.e. while this caller waited for the publish lock: 1 and e set
 * (errno, transient, message naming it), else 0. */
int cd_fail_shared(const char *dir, const char *hash, long long since_ms, struct ao_err *e);

/* pins.c: bytes of the files below root (pinned snapshots) that no other
 * directory links; 0 if root is NULL or missing. Walks the tree: call it
 * when the cap is checked, not per access. cd_tree_bytes: the same below
 * dfd (closed by it); own 0: every file counted. */
long long cd_pinned_bytes(const char *root);
long long cd_tree_bytes(int dfd, int own);

/* Highest generation number found on disk for H (0 if none). */
unsigned long long cd_gen_max(const char *dir, const char *hash);

#endif
