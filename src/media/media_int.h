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
 *
 * Kept objects (media/keep.c): an object whose last reference goes, complete
 * and not too large, stays in the table with its descriptors open, on an LRU
 * list bounded in count and idle time, so a warm open of it opens, locks and
 * stamps nothing but byte G of H.lock. A kept object holds no fcntl lock
 * (other daemons may evict it); its first open checks, under the byte G read
 * lock, that its file is still linked and H.meta unchanged (else it is read
 * again from disk). Its LRU stamp (the data file's mtime, which every
 * daemon's eviction orders by) is written at most every lru_slack_s and when
 * the object leaves the list or an eviction scan starts.
 */
#ifndef ANGOFS_MEDIA_INT_H
#define ANGOFS_MEDIA_INT_H

#include <pthread.h>
#include <sys/stat.h>
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

/* A descriptor shared by an object and its handles (refs under o->mu),
 * closed with its last user: a handle costs no dup(2). */
struct mfd {
	int fd;
	int refs;
};

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
	struct mfd *cur;	/* the current content (temp or data file), or NULL */
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
	/* the published file of gen: its identity, and H.meta's when gen was
	 * taken from it (st_ino 0: unknown, a kept object is read again) */
	dev_t ddev;
	ino_t dino;
	/* a process-wide number of that content (mo_next_cseq), given when it
	 * is published or read from disk: what the kernel's copy of a path is
	 * compared with (angofs/kcache.h, the EXPORT rule); 0 while none */
	unsigned long cseq;
	struct stat meta_st;
	int reval; /* kept since its last handle: check before use (set while
		      refs is 0 under m->lock, read and cleared under o->mu) */
	/* LRU stamp: the last open, and the data file's mtime as last written
	 * or seen (o->mu while referenced, m->lock while kept) */
	time_t used, stamped;
	/* m->lock: the list of kept objects (refs 0, descriptors open) */
	struct mobj *kprev, *knext;
	int kept;
	time_t kept_at;
};

struct ao_media_fh {
	struct ao_media_fh *next; /* o->mu */
	struct mobj *o;
	struct mfd *f;		/* its reference to the content's descriptor */
	int fd;			/* f->fd */
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
	struct mobj *khead, *ktail; /* kept objects, most recently used first */
	int nkept, keep_max;	    /* keep_max immutable */
};

/* media/cache.c */
/* Drop one ref (o->mu not held; o->mu then m->lock taken here): the last
 * one keeps the object (mo_keep) or frees it. */
void mo_put(struct ao_media *m, struct mobj *o);
void mo_free(struct mobj *o); /* unreachable, no lock held by it */
unsigned long mo_next_cseq(void);
struct mfd *mo_fd_new(int fd); /* NULL: out of memory (fd closed) */
void mo_fd_put(struct mfd *f); /* o->mu held; closes at the last */
/* o's content becomes fd (a new mfd; the old one put). -ENOMEM: fd closed,
 * o has none. o->mu held. */
int mo_set_fd(struct mobj *o, int fd);
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

/* media/keep.c (m->lock held for all but mo_keep_check and mo_stamp) */
void mo_keep_init(struct ao_media *m);		    /* keep_max from the descriptor limit */
int mo_keep(struct ao_media *m, struct mobj *o);    /* refs 0, o->mu held: 1 kept */
void mo_unkeep(struct ao_media *m, struct mobj *o); /* a ref comes back */
/* Take kept objects off the list: over the bound or idle too long (all:
 * every one). Their stamps written, they are removed from the table; the
 * caller frees them (mo_free, no lock held) from *out, linked by knext. */
void mo_keep_trim(struct ao_media *m, int all, struct mobj **out);
void mo_keep_drop(struct ao_media *m, struct mobj *o); /* one of them, to free */
void mo_keep_flush(struct ao_media *m);		       /* write every kept object's pending stamp */
/* o->mu held, a handle of gen o->gen about to open: stamp if due. */
void mo_stamp(struct ao_media *m, struct mobj *o);
/* o->mu held, o kept since its last handle and read-locked on byte gen
 * again: 1 if its file is still the published one. */
int mo_keep_check(struct ao_media *m, struct mobj *o);

#endif
