/*
 * media.h - the media cache: asset media, brush masks and medical brushes,
 * fetched by URL into the on-disk cache and served while they download.
 *
 * One object = one URL without its query string (a signed URL and the same
 * object signed again are one object), of one storage type, in one project,
 * on one host. Its bytes live in <cache_dir>/media/ with the export cache's
 * protocol (docs/DESIGN-NOTES.md, "A cache directory shared by N daemons"):
 * H.lock (byte 0 = publishing, byte G = generation G is open), H.G.data
 * (written as a temp file, renamed into place, never modified), H.meta. So
 * several daemons may share the directory and none ever sees a torn file.
 * Files are 0600, the directory 0700; no signed URL or key is written.
 *
 * Fetching: the URL as given (a public object, or a signed URL still valid);
 * on 401/403 the object is signed with GET /getSignedUrl
 * (name=<url without query>&project=<id>&type=<assets|brushes|medicalBrushes>)
 * and fetched again; a signed URL that expires (403) mid-way is re-signed the
 * same way. A download runs on its own thread with its own curl handle (the
 * hub client's pool) and writes a temp file; readers of this daemon read that
 * file while it grows and wait only until the bytes they ask for are there
 * (a 1 GB video is readable from its first megabytes). Another daemon wanting
 * the same object waits for the publish lock and then reads the published
 * file.
 *
 * Locks: a table mutex (the object table, taken for moments: lookup, insert,
 * reference counts, and eviction's file checks) and one mutex per object
 * (its state, progress, handles). Neither is ever held during network I/O:
 * the download thread takes the object's mutex only to publish progress.
 * Many small images read by N processes proceed in parallel: N downloads,
 * N curl handles, N object locks. Order: an object's mutex, then (a leaf)
 * the table mutex.
 *
 * TTL and cap: an object older than ttl_s is fetched again on the next open
 * (readers of the old generation keep theirs); after each download the
 * bytes of media/ plus exports/ are held under max_bytes by removing the
 * least recently opened media objects that no daemon has open (the export
 * cache evicts its own entries against the same cap). "Recently" is exact
 * to lru_slack_s between daemons; within one daemon, exact.
 *
 * Warm opens: a complete object stays open after its last handle (bounded:
 * keep_open objects, a minute idle, 64 MiB each at most), so reopening it
 * costs a read lock, a stat of its file and of H.meta, no open(2).
 *
 * Every call returns 0 (or a byte count) or -errno and fills err.
 */
#ifndef ANGOFS_MEDIA_H
#define ANGOFS_MEDIA_H

#include <sys/types.h>
#include <time.h>

#include "angofs/err.h"

struct hub;

struct ao_media_cfg {
	struct hub *hub;
	const char *dir;  /* <cache_dir>/media; created 0700 */
	const char *xdir; /* <cache_dir>/exports: counted toward max_bytes; may be NULL */
	const char
	    *pin_dir; /* <cache_dir>/snapshots: counted too (src/cachedir/pins.c); may be NULL */
	const char *host;    /* part of every object's key */
	long long max_bytes; /* 0: no cap */
	long ttl_s;	     /* 0: 3600 */
	/* the LRU stamp of an object (its file's mtime, which eviction orders
	 * by in every daemon) is rewritten at most this often: 0 = 10 s */
	long lru_slack_s;
	/* complete objects kept open once unused, so a warm open costs no
	 * open(2): 0 = from the descriptor limit (at most 1024), -1 = none */
	int keep_open;
};

/* Storage types, as getSignedUrl's `type`. */
enum ao_media_type { AO_MEDIA_ASSET, AO_MEDIA_BRUSH, AO_MEDIA_MEDICAL_BRUSH };

/* "assets", "brushes", "medicalBrushes". */
const char *ao_media_type_name(enum ao_media_type t);

/* What to fetch: the URL the hub gave (asset `data`, `brushDataUrl`,
 * `medicalBrushDataUrl`; signed or not), its project and storage type. */
struct ao_media_ref {
	const char *project_id;
	const char *url;
	enum ao_media_type type;
	const char *storage_id; /* the asset's storage (getSignedUrl's storageId); NULL: none */
};

struct ao_media;
struct ao_media_fh;

struct ao_media *ao_media_new(const struct ao_media_cfg *cfg, struct ao_err *err);
/* Waits for running downloads to end (they are cancelled first). */
void ao_media_free(struct ao_media *m);

/* Open an object: a fresh cached copy is opened at once; otherwise a download
 * is started (or joined) and the call returns when its first bytes (or its
 * end) are there, so the size is known when the hub sends Content-Length. */
int ao_media_open(struct ao_media *m, const struct ao_media_ref *r, struct ao_media_fh **fh,
		  struct ao_err *err);
/* pread: waits until [off, off+size) is downloaded (or the object ends);
 * a download that failed fails the read with its error. EINTR when the
 * caller is cancelled (angofs/cancel.h). Returns bytes read (0 at the end). */
ssize_t ao_media_read(struct ao_media *m, struct ao_media_fh *fh, void *buf, size_t size, off_t off,
		      struct ao_err *err);
/* The object's size: 1 and *size set when known (complete, or announced by
 * Content-Length), 0 while unknown. */
int ao_media_fh_size(struct ao_media_fh *fh, long long *size);
/* A descriptor of the complete file (for splice), or -1 while downloading.
 * Owned by fh. */
int ao_media_fh_fd(struct ao_media_fh *fh);
/* The complete content a handle reads: its file (device, inode, size, as
 * fstat would give them, without a system call), a process-wide number of
 * that content (a new one whenever the object's file is published or read
 * from disk again), and its fetch time (stat's mtime). */
struct ao_media_ident {
	dev_t dev;
	ino_t ino;
	long long size;
	unsigned long cseq;
	time_t mtime;
};
/* 1 and *id, or 0 (downloading, or the object has another content now). */
int ao_media_fh_ident(struct ao_media_fh *fh, struct ao_media_ident *id);
/* The number of the object's current complete content (0: none). */
unsigned long ao_media_fh_current(struct ao_media_fh *fh);
void ao_media_close(struct ao_media *m, struct ao_media_fh *fh);

/* Up to n first bytes of the object (open + read + close): the datasets
 * library's image-size hook. Returns the byte count (< n only for a shorter
 * object) or -errno. Costs what an open costs: the object is downloaded
 * into the cache (readers get it from there afterwards). */
ssize_t ao_media_read_head(struct ao_media *m, const struct ao_media_ref *r, void *buf, size_t n,
			   struct ao_err *err);

/* Without any network I/O: 1 if the object is cached and fresh (*size,
 * *mtime = the fetch time) or being downloaded by this daemon with a known
 * Content-Length (*size = it, *mtime = now), else 0. stat of assets/ and
 * mask files uses it. */
int ao_media_stat(struct ao_media *m, const struct ao_media_ref *r, long long *size, time_t *mtime);
/* The same, and *cseq: the content's number when this daemon has it in
 * memory (ao_media_fh_ident), else 0. */
int ao_media_stat_gen(struct ao_media *m, const struct ao_media_ref *r, long long *size,
		      time_t *mtime, unsigned long *cseq);

/* Counters for .status and tests: downloads started, getSignedUrl calls,
 * re-signs after expiry, evictions, bytes downloaded. */
struct ao_media_stats {
	long long downloads, signs, resigns, evictions, bytes;
};
void ao_media_get_stats(struct ao_media *m, struct ao_media_stats *s);

#endif
