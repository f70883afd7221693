/*
 * writes.h - the write side of a mount, as the FUSE adapter sees it.
 *
 * The write side owns every writable place in a project directory:
 *   labels/          drop box -> POST /import/labels
 *   attachments/     drop box -> POST /attachments
 *   tasks/<id>/      answer.json writes -> POST /annotate/{id}, plus scratch
 *                    files editors create there (swap files, sed/vim temp files
 *                    renamed over answer.json)
 * and the status files that report what happened to each write.
 *
 * Paths are "relpath"s inside one project directory ("labels/a.ndjson",
 * "tasks/<taskId>/answer.json"); the adapter resolves the project first and
 * passes its id. Every call returns 0 (or a count) or -errno with a message in
 * err. -ENOENT from getattr/open means "not the write side's": the adapter then
 * serves the read side (e.g. answer.json from GET /task when nothing is spooled
 * for that task).
 *
 * Handles are opaque uint64_t values chosen by the write side; the adapter
 * keeps track of which side a FUSE file handle belongs to.
 *
 * Data written is kept in the spool (on local disk, under spool_dir) from
 * flush until the hub confirms it; flush() is where the upload happens and its
 * return value is close()'s. Spooled writes survive a daemon restart and are
 * delivered by a background thread.
 */
#ifndef ANGOFS_WRITES_H
#define ANGOFS_WRITES_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <jansson.h>

#include "angofs/err.h"

struct hub;

struct ao_writes_cfg {
	struct hub *hub;
	const char *spool_dir; /* created 0700 if missing; persists across restarts */
	int next_stage;	       /* default for annotate's nextStage query flag */
	int read_only;	       /* mount is -o ro: every write is refused with EROFS */
	long chunk_items;      /* items per /import/labels request (0: default) */
	size_t chunk_bytes;    /* bytes per request (<= 4096: default) */

	/* Callbacks into the read side (all may be called from any thread). */
	void *ud;
	/* a write to the project succeeded: its cached exports are stale */
	void (*project_written)(void *ud, const char *project_id);
	/* the same for a media file copied into assets/: its new asset, the
	 * hub's object when it was looked up ({_id, externalId, data,
	 * createdAt, ...}), else {externalId, data} (the stored URL), for the
	 * listing of assets/ (NULL: project_written is called) */
	void (*asset_added)(void *ud, const char *project_id, const json_t *asset);
	/* a task's answer changed: drop its cached task/answer */
	void (*task_written)(void *ud, const char *project_id, const char *task_id);
	/* the project's categorySchema (new reference) for validation */
	int (*category_schema)(void *ud, const char *project_id, json_t **schema,
			       struct ao_err *err);
	/* the current answer.json bytes as the read side shows them (malloc'd) */
	int (*read_answer)(void *ud, const char *project_id, const char *task_id, char **buf,
			   size_t *len, struct ao_err *err);
	/* the task's current mask URLs {"brushDataUrl"?, "medicalBrushDataUrl"?},
	 * asked of the hub now: carried over by an answer write that does not
	 * mention them (new reference; NULL: nothing is carried over) */
	int (*read_masks)(void *ud, const char *project_id, const char *task_id, json_t **masks,
			  struct ao_err *err);
};

struct ao_writes;

struct ao_writes *ao_writes_new(const struct ao_writes_cfg *cfg, struct ao_err *err);
/* Start the background sender (call after daemonizing; replays the spool). */
int ao_writes_start(struct ao_writes *w, struct ao_err *err);
void ao_writes_free(struct ao_writes *w);

/* 1 if relpath lies in a place the write side owns (labels/..., attachments/...,
 * tasks/<id>/<name> other than task.json), else 0. Pure string check. */
int ao_writes_owns(const char *relpath);

typedef int (*ao_fill_fn)(void *ctx, const char *name, const struct stat *st);

int ao_writes_getattr(struct ao_writes *w, const char *project_id, const char *relpath,
		      struct stat *st, struct ao_err *err);
/* Adds the write side's entries of a directory (labels/, attachments/, tasks/<id>/). */
/* 1 if relpath is a task's answer removed a moment ago with nothing spooled
 * (mv from another file system and install remove the target first): for a
 * few seconds the name looks free so they can create it; the hub keeps the
 * answer. */
int ao_writes_hidden(struct ao_writes *w, const char *project_id, const char *relpath);
/* A drop-box file or answer sent less than a minute ago (it has left the
 * directory; only its .status stays): 0 and its attributes, else -ENOENT.
 * Lets chmod/utime right after close (Python's shutil.copy, copy2, move)
 * succeed as the no-op they are on a sent file. */
int ao_writes_sent_stat(struct ao_writes *w, const char *project_id, const char *relpath,
			struct stat *st);
int ao_writes_readdir(struct ao_writes *w, const char *project_id, const char *relpath,
		      ao_fill_fn fill, void *ctx, struct ao_err *err);
/* Directories inside assets/ (writes_dirs.c): assets/.status (the status
 * files of assets/) and subfolders made by mkdir (cp -r); their files become
 * assets named by their path under assets/. isdir: 1 if relpath is one.
 * mkdir: -EEXIST, -ENOENT (no parent), -EPERM outside assets/, -EROFS;
 * rmdir: -ENOTEMPTY while a file below is not sent. */
int ao_writes_isdir(struct ao_writes *w, const char *project_id, const char *relpath);
int ao_writes_mkdir(struct ao_writes *w, const char *project_id, const char *relpath,
		    struct ao_err *err);
int ao_writes_rmdir(struct ao_writes *w, const char *project_id, const char *relpath,
		    struct ao_err *err);
int ao_writes_create(struct ao_writes *w, const char *project_id, const char *relpath, mode_t mode,
		     int flags, uint64_t *fh, struct ao_err *err);
int ao_writes_open(struct ao_writes *w, const char *project_id, const char *relpath, int flags,
		   uint64_t *fh, struct ao_err *err);
int ao_writes_unlink(struct ao_writes *w, const char *project_id, const char *relpath,
		     struct ao_err *err);
int ao_writes_rename(struct ao_writes *w, const char *project_id, const char *from, const char *to,
		     unsigned int flags, struct ao_err *err);
int ao_writes_truncate(struct ao_writes *w, const char *project_id, const char *relpath, off_t size,
		       struct ao_err *err);

ssize_t ao_writes_read(struct ao_writes *w, uint64_t fh, char *buf, size_t size, off_t off,
		       struct ao_err *err);
ssize_t ao_writes_write(struct ao_writes *w, uint64_t fh, const char *buf, size_t size, off_t off,
			struct ao_err *err);
int ao_writes_ftruncate(struct ao_writes *w, uint64_t fh, off_t size, struct ao_err *err);
int ao_writes_fgetattr(struct ao_writes *w, uint64_t fh, struct stat *st, struct ao_err *err);
/* Called on every close() of a descriptor (dup'ed fds flush more than once):
 * uploads what changed since the last successful flush; returns its outcome. */
int ao_writes_flush(struct ao_writes *w, uint64_t fh, struct ao_err *err);
int ao_writes_fsync(struct ao_writes *w, uint64_t fh, struct ao_err *err);
int ao_writes_release(struct ao_writes *w, uint64_t fh);

/* For the status file / status command: pending and failed writes as JSON
 * ({"pending":[...],"failed":[...],"sent":N}); new reference. */
json_t *ao_writes_status(struct ao_writes *w);

#endif
