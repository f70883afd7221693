/*
 * incremental.h - the incremental refresh of one export cache entry (exports/incremental.c),
 * called by exports/refresh.c. Split in two: what is asked of the hub before the
 * publish lock (the project's fingerprint, the task count: no network I/O
 * under a lock), and the incremental export and merge under it.
 */
#ifndef ANGOFS_EXPORTS_INCREMENTAL_H
#define ANGOFS_EXPORTS_INCREMENTAL_H

#include <pthread.h>

#include "exports_int.h"
#include "records.h"
#include "../cachedir/cachedir.h"

struct xc_incr {
	int ok;	      /* an incremental refresh may be tried */
	int fp_known; /* fp was asked of the hub just now */
	unsigned long long fp;
	long long total;	/* the hub's task count for the view's filter */
	unsigned long long gen; /* the generation the plan starts from */
	/* the count runs in its own thread while the incremental export is
	 * asked for and merged (joined when first needed, or by xc_incr_end) */
	pthread_t counter;
	int counting, count_rc;
	struct ao_err count_err;
	struct ao_xspec spec;
	struct ao_xcache *c;
};

/* What an incremental refresh found (xc_incr_run, xc_incr_judge,
 * xc_stream_try); a failure is -errno instead. */
enum xc_incr_verdict {
	XC_INCR_MERGED = 0,	  /* a new generation (its meta in *out) */
	XC_INCR_FULL = 1,	  /* a full export must decide (ri->why says why) */
	XC_INCR_SAME = 2,	  /* byte for byte the old generation: it stays */
	XC_INCR_STREAMING = 3,	  /* written by a thread of its own, served while
				     written, which publishes it, releases byte 0
				     and ends the fetch (exports/stream.c) */
	XC_INCR_NOT_STREAMED = 4, /* xc_stream_try only: no index or no thread,
				     merge in place */
};

/* Before the publish lock: decide whether an incremental refresh can be
 * tried from generation m (pl->ok) and ask the hub what proves it. 0 (if
 * not, ri->why says why), or -errno for an error of the hub that a full
 * export would meet as well (transient). */
int xc_incr_prepare(struct ao_xcache *c, struct ao_xentry *e, const struct cd_meta *m,
		    struct xc_incr *pl, struct xc_refresh *ri, struct ao_err *err);

/* Join the count thread if it runs (every path of a refresh calls it). */
void xc_incr_end(struct xc_incr *pl);

/* Under the publish lock (byte 0 of lfd): ask for what changed since m,
 * merge it into generation g. MERGED: generation g written, *out is its
 * meta; SAME: nothing changed, generation m->gen stays (*out its fresh
 * meta); FULL: the merge cannot prove the result; STREAMING: generation g
 * is being written; -errno: the refresh failed (the old generation stays). */
int xc_incr_run(struct ao_xcache *c, struct ao_xentry *e, const struct cd_meta *m,
		unsigned long long g, int lfd, struct xc_incr *pl, struct cd_meta *out,
		struct xc_refresh *ri, struct ao_err *err);

/* The verdict on a merge's (or its dry run's) return code rc and result:
 * MERGED, FULL (it cannot be placed, the old file or index is malformed, a
 * task twice, or the merged count differs from the hub's total), SAME, or
 * -errno. ri gets the counts. */
int xc_incr_judge(int rc, const struct xm_result *res, long long total, struct xc_refresh *ri,
		  const struct ao_err *err);

/* exports/stream.c: with the old generation's record index, a dry run of the
 * merge of ch proves the result and its size; then generation g is written
 * by a thread of its own and served while written. STREAMING: it runs (ch
 * is its own now; *ri updated); SAME; FULL; NOT_STREAMED (no index, or no
 * thread: merge in place); -errno. */
int xc_stream_try(struct ao_xcache *c, struct ao_xentry *e, const struct cd_meta *m,
		  unsigned long long g, int lfd, struct xm_changes *ch, long long total,
		  const struct cd_meta *out, struct xc_refresh *ri, struct ao_err *err);

#endif
