/*
 * xshare.h - the on-disk protocol of one export cache entry, shared by every
 * daemon whose cache_dir is this directory (see docs/DESIGN-NOTES.md, "A
 * cache directory shared by N daemons").
 *
 * Files of entry H (H = 16 hex digits of the key's hash):
 *   H.lock        never removed; fcntl locks: byte 0 = "publishing" (held by
 *                 the one downloader, and by whoever rewrites H.meta or evicts),
 *                 byte G = "generation G is open" (shared, by every daemon
 *                 with a descriptor of H.G.data)
 *   H.G.data      generation G of the unzipped export; written as
 *                 H.G.data.tmp-XXXXXX and renamed into place, never modified
 *   H.G.idx       its record index (incremental refresh), same life
 *   H.meta        {"version":2,"key","gen","size","fetched_at","mtime","stale",
 *                 "stale_at","records","hwm","fp","base_at"}: the current generation;
 *                 replaced only by rename, only under byte 0. The last four
 *                 serve incremental refreshes (xincr.c): record count, newest
 *                 task updatedAt (microseconds), the project fingerprint the
 *                 generation was made with (hex), the time of the last full
 *                 export it derives from; absent (0) in older metas
 *   H.fail        {"at","code","transient","http","msg"}: the last failed
 *                 download of H (xfail.c), removed by the next success;
 *                 written only under byte 0. The media cache uses the same
 *                 files in its own directory.
 */
#ifndef ANGOFS_XSHARE_H
#define ANGOFS_XSHARE_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

struct xs_meta {
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

void xs_path(const char *dir, const char *hash, const char *ext, char *buf, size_t n);
void xs_data_path(const char *dir, const char *hash, unsigned long long gen, char *buf, size_t n);
/* H.G.idx: the record index of generation G (xmerge.h), written before its
 * meta, removed with it; only the current generation's is ever read. */
void xs_idx_path(const char *dir, const char *hash, unsigned long long gen, char *buf, size_t n);

/* Read H.meta; 0 (m filled), -ENOENT (no meta), -EINVAL (unreadable or of
 * another key: a hash collision), -errno. st (may be NULL) gets its stat. */
int xs_meta_read(const char *dir, const char *hash, const char *key, struct xs_meta *m,
		 struct stat *st);

/* Replace H.meta atomically (temp file + rename). Caller holds byte 0. */
int xs_meta_write(const char *dir, const char *hash, const char *key, const struct xs_meta *m);

/* Remove generation gen if no daemon has it open (byte gen lockable).
 * The caller must not hold byte gen itself. 1 removed/absent, 0 in use. */
int xs_gen_remove(const char *dir, const char *hash, int lockfd, unsigned long long gen);

/* Remove every generation of H other than keep that nobody has open, except
 * those listed in held[nheld] (this process's own readers). */
void xs_gen_sweep(const char *dir, const char *hash, int lockfd, unsigned long long keep,
		  const unsigned long long *held, size_t nheld);

struct hub;
struct ao_err;

/* Failed downloads shared between daemons (xfail.c; byte 0 held for all
 * three). Wall-clock ms now, and at an ao_sys_now_ms() reading. */
long long xs_wall_ms(void);
long long xs_wall_ms_of(long long mono_ms);
/* 1 if e is the hub's or the download's failure (not an interrupt, a stop
 * or a local disk error): worth telling the other daemons. */
int xs_fail_publishable(const struct ao_err *e);
void xs_fail_publish(const char *dir, const char *hash, const struct ao_err *e);
void xs_fail_clear(const char *dir, const char *hash);
/* The failure a sibling (another process) published for H at or after
 * since_ms, i.e. while this caller waited for the publish lock: 1 and e set
 * (errno, transient, message naming it), else 0. */
int xs_fail_shared(const char *dir, const char *hash, long long since_ms, struct ao_err *e);

/* Download the export of query q as generation gen of H: H.gen.data exists
 * on success (size in *size); progress in *done / *total (atomics). A
 * failure a sibling published at or after since_ms (wall clock: when this
 * fetch began) is answered without a request (H.fail); this download's own
 * failure is published, its success clears it. */
int xs_download(struct hub *hub, const char *q, const char *dir, const char *hash,
		unsigned long long gen, long long since_ms, long long *done, long long *total,
		long long *size, struct ao_err *err);

/* The same into dest (any path in dir; renamed into place on success). */
int xs_download_to(struct hub *hub, const char *q, const char *dir, const char *hash,
		   const char *dest, long long since_ms, long long *done, long long *total,
		   long long *size, struct ao_err *err);

/* Highest generation number found on disk for H (0 if none). */
unsigned long long xs_gen_max(const char *dir, const char *hash);

#endif
