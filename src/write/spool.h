/*
 * spool.h - the write side's on-disk spool: one directory per written file,
 * holding the bytes as written ("data"), the prepared items ("items", for
 * drop-box files) and the state ("meta.json").
 *
 * The spool is what makes "nothing is lost" true: data is fsync'ed before a
 * write is reported as accepted, meta.json is replaced atomically (write a
 * temp file, fsync, rename, fsync the directory), and every state change
 * (pending -> each chunk delivered -> sent / failed) is persisted before it is
 * acted on, so a daemon killed at any point restarts knowing exactly what the
 * hub has confirmed. Directories are 0700, files 0600. Each entry is owned by
 * one daemon at a time (an fcntl lock on <id>/lock, see spool.c).
 */
#ifndef ANGOFS_SPOOL_H
#define ANGOFS_SPOOL_H

#include <stddef.h>
#include <sys/types.h>

#include "angofs/err.h"

/* EK_ASSETS: a .json/.ndjson list copied into assets/ (POST /project/{id}/cloud
 * per chunk); EK_MEDIA: a media file copied into assets/ (upload + /cloud);
 * EK_MASK: tasks/<id>/mask.png (upload + /annotate). */
enum ent_kind { EK_LABELS, EK_ATTACHMENTS, EK_ANSWER, EK_SCRATCH, EK_ASSETS, EK_MEDIA, EK_MASK };
/* ST_UNCERTAIN: a non-idempotent request failed after the hub may have
 * applied it (5xx or timeout after the whole body was sent); never resent
 * automatically, the status says what to check. ST_SUPERSEDED: not sent
 * because a newer write of the same target was made (by any daemon sharing
 * the spool, spool_order.h); kept as a status record like a sent one. */
enum ent_state { ST_WRITING, ST_PENDING, ST_SENT, ST_FAILED, ST_UNCERTAIN, ST_SUPERSEDED };

/* CH_SENDING: a non-idempotent request (assets/ lists) is being sent; found
 * so after a restart it became uncertain (the hub may have applied it). */
enum chunk_state { CH_TODO, CH_SENT, CH_REFUSED, CH_UNCERTAIN, CH_SENDING };

struct ent_chunk {
	long first, count, line_first, line_last;
	long long off, len;
	enum chunk_state state;
	int http;
	int partly; /* sent, but the reply says some items matched no asset */
	char *msg;  /* hub reply or refusal */
};

/* Locks (write side, src/write/writes_int.h): every field is guarded by w->mu
 * once the entry is listed in w->entries; id is immutable after creation;
 * relpath changes only by a rename (w->mu held). The thread that set busy
 * (under w->mu) may then read and write the content fields (size .. attempts)
 * and the data files without w->mu: nobody else changes them while busy. The
 * spool functions below take no lock: their callers hold w->mu or own the
 * entry (busy, or not listed yet). */
struct entry {
	char id[64];   /* directory name in the spool */
	char *project; /* project id */
	char *relpath; /* "labels/a.ndjson", "tasks/<id>/answer.json", ... */
	enum ent_kind kind;
	enum ent_state state;
	int next_stage; /* answer: submit the task to its next stage */
	int code;	/* errno of the last failure (0 if none) */
	int http;	/* HTTP status of the last failure */
	char *message;	/* one-line outcome (hub's own words where possible) */
	char *detail;	/* multi-line report (problems, per-request results) */
	long long size;
	long items;
	int form; /* enum lp_form */
	long export_records;
	int prepared; /* items file + chunks are valid */
	int partly;   /* ST_SENT, but some items matched no asset ("N / M labeled") */
	struct ent_chunk *chunks;
	size_t nchunks;
	long long created, updated; /* unix seconds */
	int attempts;
	/* uploads (EK_MEDIA, EK_MASK): the stored object URL once its PUT
	 * succeeded (NULL before), and how many create requests (/cloud,
	 * /annotate) were handed to the hub client for it, counted before each
	 * is sent: > 0 means an earlier one may have been applied */
	char *object_url;
	int posts;
	/* order among the writes of its target on this spool (spool_order.h):
	 * stamped when the content became final; 0 before (or an entry written
	 * by a version without it) */
	long long seq;

	/* runtime only (not persisted) */
	int lockfd;		/* <id>/lock, write-locked: this daemon owns the entry */
	int opens;		/* open handles */
	int busy;		/* being prepared/sent by some thread */
	int dirty;		/* changed since the last submission */
	unsigned long gen;	/* bumped on every write/truncate of the data */
	unsigned long sent_gen; /* gen when the current upload started: the
				 * entry is dropped on success only if equal */
	int last_rc;		/* result of the last submission (0 or -errno) */
	int write_err;		/* errno of a write/truncate of the data that failed
				 * (ENOSPC: the cache disk is full) since the content
				 * last started from empty: the bytes are incomplete,
				 * close() reports it and nothing is sent */
	int seeded;		/* answer copied from the hub at an open without O_TRUNC, not
				 * changed since: dropped at the last close (nothing to send) */
	long long next_try_ms;
	struct entry *next;
};

/* Create the spool directory (0700, parents too). */
int spool_init(const char *dir, struct ao_err *err);

/* A new entry with a fresh directory and an empty data file. */
struct entry *spool_entry_new(const char *dir, const char *project, const char *relpath,
			      enum ent_kind kind, struct ao_err *err);
void spool_entry_free(struct entry *e);

/* Path of a file in the entry's directory ("data", "items", ...). */
void spool_path(const char *dir, const struct entry *e, const char *name, char *buf, size_t n);

/* Persist meta.json atomically (and fsync). */
int spool_save(const char *dir, const struct entry *e, struct ao_err *err);

/* Remove the entry's directory and everything in it. */
void spool_remove(const char *dir, const struct entry *e);

/* Remove one file of the entry (e.g. "data" once sent). */
void spool_unlink(const char *dir, const struct entry *e, const char *name);

/* Adopt every entry found in dir that no live daemon owns (its lock is free),
 * skipping those known(ud, id) says are listed already (and, when known is
 * given, every entry this process created); calls fn for each (fn takes ownership, the entry's lock
 * with it). */
int spool_load(const char *dir, int (*known)(void *ud, const char *id),
	       void (*fn)(void *ud, struct entry *e), void *ud, struct ao_err *err);

/* Tag in the ids of entries this process created. */
const char *spool_own_tag(void);

/* fsync a file by path. */
int spool_fsync_path(const char *path, struct ao_err *err);

void spool_entry_set_msg(struct entry *e, const char *msg);
void spool_entry_set_detail(struct entry *e, const char *detail);
void spool_entry_clear_chunks(struct entry *e);

const char *spool_entry_state_name(enum ent_state s);

#endif
