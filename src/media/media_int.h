/*
 * media_int.h - state shared by the media cache's files (media/cache.c: table,
 * open/read/close; media/download.c: the download thread, signing, publishing;
 * media/evict.c: the size cap). Not an interface (include/angofs/media.h).
 *
 * Locking (docs/DESIGN-NOTES.md, "Locks"): m->lock guards the object table,
 * every object's refs and the counters; o->mu guards the object's state.
 * m->lock is a leaf: it may be taken while o->mu is held, never the reverse
 * (no thread holding m->lock waits for an object). Neither is held during
 * network I/O (the download thread takes o->mu only to publish progress and
 * its outcome).
 * The on-disk files and fcntl locks are those of the export cache
 * (src/cachedir/cachedir.h): H.lock byte 0 = publishing, byte G = G is open.
 */
#ifndef ANGOFS_MEDIA_INT_H
#define ANGOFS_MEDIA_INT_H

#include <pthread.h>
#include <time.h>

#include "angofs/media.h"

#define MEDIA_BUCKETS 1024

enum mstate {
	M_IDLE,	       /* nothing known in memory (look on disk) */
	M_STARTING,    /* a download thread waits for the publish lock */
	M_DOWNLOADING, /* fd is the growing temp file */
	M_READY,       /* fd is the complete file of generation gen */
	M_FAILED,      /* the last download failed: err */
};

#define MEDIA_HOLDS 4

struct mobj {
	struct mobj *next; /* m->lock */
	int refs;	   /* m->lock: open handles, openers, a running download */
	/* immutable after creation */
	char hash[17];
	char *key, *project_id;
	char *storage_id; /* NULL: none */
	enum ao_media_type type;
	int lockfd; /* H.lock: opened at creation, closed when freed; the only
		       descriptor of it this process has */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* progress and state changes (o->mu) */
	/* o->mu from here on */
	char *url; /* the URL to fetch: as given, or the last signed one */
	enum mstate state;
	int fd;			/* the current content (temp or data file), or -1 */
	unsigned long long gen; /* generation of fd once published; 0 while a temp */
	unsigned epoch;		/* bumped when a download starts */
	long long done, total;	/* bytes in fd; total -1 while unknown */
	time_t fetched_at;
	int downloading; /* a download thread owns the object's fetch */
	struct ao_err err;
	struct ao_media_fh *fhs; /* open handles */
	struct {
		unsigned long long gen;
		int n;
	} holds[MEDIA_HOLDS]; /* read locks on byte gen, by handle count */
};

struct ao_media_fh {
	struct ao_media_fh *next; /* o->mu */
	struct mobj *o;
	int fd;			/* own descriptor of the content */
	unsigned epoch;		/* the download it was opened on */
	unsigned long long gen; /* o->mu: generation (0 while its temp is unpublished) */
	enum { FH_GROWING, FH_DONE, FH_FAILED } st; /* o->mu: its content */
	long long avail;			    /* o->mu, FH_FAILED: bytes written */
	struct ao_err err;			    /* o->mu, FH_FAILED: why */
};

struct ao_media {
	struct ao_media_cfg cfg; /* immutable; dir, xdir, host copied */
	pthread_mutex_t lock;	 /* "m->lock" */
	pthread_cond_t idle;	 /* nthreads reached 0 */
	struct mobj *tab[MEDIA_BUCKETS];
	int nthreads; /* running download threads */
	int stopping;
	long long est_bytes; /* bytes on disk as of the last scan plus downloads since; -1 = scan */
	struct ao_media_stats st;
};

/* media/cache.c */
void mo_put(struct ao_media *m, struct mobj *o); /* drop one ref (m->lock taken here) */
void mo_hold(struct mobj *o, unsigned long long gen, int delta); /* o->mu held */
int mo_fresh(struct ao_media *m, time_t fetched_at);

/* media/download.c: run o's download on a new thread (the caller gave it one
 * ref, which the thread drops). o->mu held, o->downloading set. */
int mf_start(struct ao_media *m, struct mobj *o, struct ao_err *err);
/* Open the fresh published generation named by H.meta, if any (o->mu held,
 * no download running): 1 opened (state M_READY), 0 none. */
int mf_from_disk(struct ao_media *m, struct mobj *o);

/* media/evict.c: hold the cap after a download of size bytes (no lock held). */
void me_after_download(struct ao_media *m, long long size);

#endif
