/*
 * writes_int.h - state shared by the write side's files: writes.c (the file
 * operations the FUSE adapter calls), writes_io.c, writes_reg.c (paths,
 * entries, handles), writes_submit.c (submission, the order of deliveries),
 * writes_send.c (validation, the requests), writes_stream.c (labels/ sent
 * while prepared), writes_bg.c (the background
 * sender), writes_status.c (status texts), upload_media.c and upload_mask.c
 * (assets/ and mask.png uploads).
 *
 * Locking: one mutex (w->mu) guards the entry list, the handle table and every
 * entry field. Slow work (reading a 100 MB file, HTTP) runs without the mutex
 * on an entry marked busy; only the busy owner changes an entry's content,
 * chunks and state, and it waits (w->idle) for an earlier owner to finish.
 * No network I/O ever runs under w->mu: the delivery (POSTs, the schema,
 * the masks) runs on a busy entry without it, and an answer.json seed
 * (GET /task) is fetched with the lock dropped, then the operation starts
 * over (writes.c). Under w->mu only the local spool is touched (meta.json
 * written and fsync'ed, data files created/truncated, a write stamped in the
 * spool's order ledger: spool_order.h, whose mutex is the one lock taken
 * under w->mu). Nothing else of the daemon is locked while w->mu is held,
 * and the callbacks into the core (read_answer, category_schema, read_masks,
 * task_written, project_written) are called without it. A delivery holds its
 * target's turn (spool_order_turn) without w->mu.
 *
 * Lock order (write side): the adapter's fh_lock (only in the unmount
 * sweep), then w->mu, a leaf. An entry's spool lock (e->lockfd, an fcntl
 * write lock that says which daemon owns the entry) is taken once when the
 * entry is created (w->mu held) or adopted (ws_rescan: spool_load runs
 * without w->mu, before the entry is listed) and kept while the entry lives;
 * it never waits (F_SETLK: a held lock means another daemon owns the entry).
 * A labels/ file sent while it is prepared has its own leaf lock (st->mu,
 * writes_stream.c), taken without w->mu. The full list of
 * the daemon's mutexes and the global order: docs/DESIGN-NOTES.md ("Locks").
 * struct entry (spool.h): every field is guarded by w->mu; content, chunks
 * and state change only by the thread that set busy (then without w->mu).
 */
#ifndef ANGOFS_WRITES_INT_H
#define ANGOFS_WRITES_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "angofs/sysutil.h"
#include "angofs/writes.h"
#include "spool.h"
#include "spool_order.h"

/* A slot of w->h; every field guarded by w->mu. fd is used for pread/pwrite
 * without the lock (the slot stays used until RELEASE, so fd stays open). */
struct handle {
	int used;
	struct entry *e; /* NULL for a status-file handle */
	int fd;		 /* data file */
	int writable;
	int wrote;     /* write() or truncate to a non-zero size seen */
	int unflushed; /* changed through this handle since its last FLUSH (a close
			* of one of its descriptors): its writer is not done */
	int last_rc;   /* outcome of the last upload this handle triggered */
	char *snap;    /* status text, for status-file handles */
	size_t snaplen;
};

struct ao_writes {
	struct ao_writes_cfg cfg;  /* set at creation, read-only after */
	char *spool_dir;	   /* idem */
	struct spool_order *order; /* idem (NULL: no ordering); its own lock, after mu */
	pthread_mutex_t mu;
	pthread_cond_t wake;   /* background sender (with mu) */
	pthread_cond_t idle;   /* an entry stopped being busy (with mu) */
	struct entry *entries; /* mu; each entry's fields: mu (+ busy rule above) */
	struct handle *h;      /* mu */
	size_t nh;	       /* mu */
	pthread_t bg;	       /* start/stop only */
	int bg_running, stop;  /* bg_running: start/stop only; stop: mu */
	long chunk_items;      /* read-only after creation */
	size_t chunk_bytes;    /* idem */
	/* answers removed with nothing spooled (mv/install remove the target
	 * before writing it): the name looks free until created or expired */
	struct {
		char project[64];
		char relpath[320];
		long long until_ms;
	} gone[16];	     /* mu */
	unsigned gone_next;  /* mu */
	struct ws_dir *dirs; /* mu: directories made in assets/ (writes_dirs.c) */
};

#define WS_GONE_MS 5000
/* 1 if relpath is a removed answer whose name still looks free; w->mu held. */
int ws_gone(struct ao_writes *w, const char *project, const char *relpath, int clear);

/* Entry whose content was just written (flush/rename): validate and deliver
 * (one delivery attempt: one client call per request). Takes the lock
 * itself; e must stay listed (callers hold an open handle or the lock order
 * guarantees it). Returns 0 or -errno with err filled. */
int ws_submit(struct ao_writes *w, struct entry *e, struct ao_err *err);

/* Stamp e's content as the newest write of its target on the spool
 * (spool_order.h) and return the stamp, for e->seq. Reads e's names: w->mu
 * held (a few local file operations under it), or e busy. */
long long ws_stamp(struct ao_writes *w, const struct entry *e);
#define WS_KEY_MAX 4400

/* Text of the status file for e (malloc'd). Call with w->mu held. */
char *ws_status_text(struct ao_writes *w, const struct entry *e);

/* e changed after its last submission and nobody will close it again (or
 * its upload confirmed older bytes): mark it pending for the background
 * sender, to be prepared again from its data. w->mu held, e not busy. */
void ws_requeue_locked(struct ao_writes *w, struct entry *e);

int ws_bg_start(struct ao_writes *w, struct ao_err *err);

/* One delivery attempt of a busy entry (bg: from the background sender,
 * one request), in order: with its target's turn, and only if no newer write
 * of the target exists (else it is superseded); writes_submit.c. */
int ws_deliver(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err);
/* The requests of one attempt, by kind (writes_send.c; via ws_deliver). */
int ws_deliver_answer(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err);
int ws_deliver_dropbox(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err);
/* End of an upload (w->mu held): busy cleared, newer bytes requeued. */
void ws_finish_locked(struct ao_writes *w, struct entry *e);

/* Delivery helpers shared by writes_send.c and the upload files
 * (upload_media.c, upload_mask.c). The ws_set_* take w->mu themselves and
 * persist the entry; call them without it, on a busy entry. */
struct schema;
int ws_get_schema(struct ao_writes *w, const char *project, struct schema **s, struct ao_err *err);
/* One client call (bg: one request, HUB_ONE_ATTEMPT). */
int ws_post(struct ao_writes *w, const char *path, const char *body, size_t len, int flags,
	    json_t **data, int bg, struct ao_err *err);
void ws_set_failed(struct ao_writes *w, struct entry *e, const struct ao_err *err,
		   const char *detail);
void ws_set_uncertain(struct ao_writes *w, struct entry *e, const struct ao_err *err,
		      const char *what);
void ws_set_pending(struct ao_writes *w, struct entry *e, const struct ao_err *err);
void ws_set_sent(struct ao_writes *w, struct entry *e, const char *msg);
/* The same for an upload whose new asset (the hub's object) is known: the
 * core adds it to assets/'s listing instead of dropping the listing. */
void ws_set_sent_asset(struct ao_writes *w, struct entry *e, const char *msg, const json_t *asset);
/* Persist e (w->mu held by the caller). */
void ws_save_locked(struct ao_writes *w, struct entry *e);

/* assets/<media file>: upload + POST /project/{id}/cloud (upload_media.c). */
int ws_deliver_media(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err);
/* Is the spooled mask.png at path a PNG readers open (signature, chunks,
 * a full decode with CRCs, bounded)? 0 and its size, -EINVAL with the
 * reason (mask_png.c), -errno on a spool error. */
int ws_mask_png_check(const char *path, long *wd, long *ht, struct ao_err *err);
/* tasks/<id>/mask.png: check, upload, /annotate (upload_mask.c). */
int ws_deliver_mask(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err);
/* Upload e's data once (getUploadUrl type, PUT) under a unique name made
 * from base; sets and persists e->object_url. Failures set the state. */
int ws_upload_once(struct ao_writes *w, struct entry *e, const char *type, const char *base,
		   struct ao_err *err);
/* Content-Type for a file name, by extension. */
const char *ws_media_type(const char *name);
/* assets/ lists: chunk c is being sent (CH_SENDING, persisted before the
 * request) or back to CH_TODO (the request cannot have been applied). */
void ws_chunk_sending(struct ao_writes *w, struct entry *e, struct ent_chunk *c,
		      enum chunk_state st);
/* labels/ files sent while they are prepared (writes_stream.c): start the
 * preparer (the schema is read first; a failure sets the state); next hands
 * out chunk index once prepared (1; 0: every chunk was handed out and the
 * plan is complete, e->prepared set; < 0 with err: the file was refused, or
 * an error) and records it in e->chunks; end stops and joins the preparer
 * and returns 1 when the file was refused (its failed state and status set,
 * err its message). All on a busy entry, without w->mu. */
struct ws_stream;
int ws_stream_start(struct ao_writes *w, struct entry *e, struct ws_stream **st,
		    struct ao_err *err);
int ws_stream_next(struct ao_writes *w, struct entry *e, struct ws_stream *st, size_t index,
		   struct ao_err *err);
int ws_stream_end(struct ao_writes *w, struct entry *e, struct ws_stream *st, struct ao_err *err);
/* Chunks left CH_SENDING by a daemon that stopped mid-request become
 * uncertain: never resent blindly. */
void ws_sending_to_uncertain(struct ao_writes *w, struct entry *e);

/* Adopt spool entries whose daemon stopped (their lock is free). Takes
 * w->mu itself; the background sender calls it every WS_RESCAN_MS. */
void ws_rescan(struct ao_writes *w);
#define WS_RESCAN_MS 3000
void ws_bg_stop(struct ao_writes *w);

/* "tasks/<id>/answer.json" -> "<id>" into buf; 0 or -1. */
int ws_task_of(const char *relpath, char *buf, size_t n);

/* Keep at most keep status-only (sent) entries: the oldest go. w->mu held. */
void ws_prune_sent(struct ao_writes *w, long keep);
/* labels_match.c: "N / M tasks are labeled." of an import reply (0, or -1
 * when data says no such thing); the items of a sent body (jsonContent)
 * that matched no asset, as a line for .status (malloc'd; NULL: none found).
 * Network I/O: never with w->mu held. */
int ws_labels_counts(json_t *data, long *n, long *m);
char *ws_labels_unmatched(struct ao_writes *w, const char *project, json_t *data, const char *body,
			  size_t blen);
#define WS_SENT_KEEP 1000

enum area { AR_NONE, AR_LABELS, AR_ATTACH, AR_TASK, AR_ASSETS };

/* A parsed relative path: built on the caller's stack, never shared (no lock). */
struct wpath {
	enum area area;
	int is_dir;    /* labels, attachments, tasks/<id>, assets, assets/.status */
	int stdir;     /* assets/.status: where assets/' status files live */
	int is_status; /* <target>.status */
	int scratch;
	int answer, next;  /* answer.json / answer.next.json */
	int mask;	   /* tasks/<id>/mask.png */
	char target[4096]; /* relpath of the entry (without .status) */
	char dir[4096];	   /* the directory part */
};

int ws_parse(const char *rel, struct wpath *p);

/* writes_dirs.c (w->mu held): is relpath a directory of the write side
 * (assets/.status and the status tree below it, a subfolder made in
 * assets/ or holding a visible file)? Its attributes; its entries (files,
 * subfolders; in assets/.status/..., status files). */
struct ws_dir;
int ws_is_dir(struct ao_writes *w, const char *project, const char *relpath);
void ws_dir_stat(struct ao_writes *w, struct stat *st);
int ws_assets_readdir(struct ao_writes *w, const char *project, const char *relpath,
		      ao_fill_fn fill, void *ctx);
void ws_dirs_free(struct ao_writes *w);
/* The status file's relpath of an entry's relpath (assets/.status/<...> for
 * assets/, "<name>.status" beside the file elsewhere). No lock needed. */
void ws_status_path(const char *relpath, char *buf, size_t n);
enum ent_kind ws_kind_of(const struct wpath *p);
struct entry *ws_find(struct ao_writes *w, const char *project, const char *relpath);
#define WS_NAME_MAX 255
void ws_status_name(const char *name, char *buf, size_t n);
struct entry *ws_lookup(struct ao_writes *w, const char *project, struct wpath *p);
int ws_visible(const struct entry *e);
void ws_discard(struct ao_writes *w, struct entry *e);
void ws_data_path(struct ao_writes *w, const struct entry *e, char *buf, size_t n);
int ws_reset_entry(struct ao_writes *w, struct entry *e, const struct wpath *p, int trunc,
		   struct ao_err *err);
struct entry *ws_new_entry(struct ao_writes *w, const char *project, const struct wpath *p,
			   struct ao_err *err);
void ws_fetch_answer(struct ao_writes *w, const char *project, const char *relpath, char **buf,
		     size_t *len); /* network: without w->mu */
void ws_seed_answer(struct ao_writes *w, struct entry *e, const char *buf, size_t len);
int ws_new_handle(struct ao_writes *w, struct ao_err *err);
struct handle *ws_get_handle(struct ao_writes *w, uint64_t fh);
int ws_open_data_handle(struct ao_writes *w, struct entry *e, int writable, uint64_t *fh,
			struct ao_err *err);
void ws_fill_stat(struct stat *st, mode_t mode, off_t size, time_t mtime);
int ws_entry_stat(struct ao_writes *w, const struct entry *e, struct stat *st);
int ws_refuse_ro(struct ao_writes *w, const char *relpath, struct ao_err *err);
/* 1 if a handle of e holds changes not closed yet (no FLUSH since): a writer
 * still at work. Handles only read, or closed whose RELEASE is still on its
 * way (the kernel sends it after close() returned), do not count. w->mu held. */
int ws_still_written(struct ao_writes *w, const struct entry *e);

#endif
