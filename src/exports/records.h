/*
 * records.h - the record-level merge of an incremental export refresh (see
 * docs/DESIGN-NOTES.md, "Incremental export refresh").
 *
 * An export data file is a JSON array of task records, or NDJSON (one record
 * per line). The reader streams one through a fixed buffer and yields each
 * top-level record as its exact bytes, with the bytes between records (the
 * "gap": "[\n", ",\n", "\n]\n" ...) kept so the merged file reproduces the
 * hub's framing. A record is never re-serialized: unchanged records are copied
 * byte for byte from the old generation, changed ones byte for byte from the
 * hub's incremental export.
 *
 * The merge streams the old generation once, in order, and holds in memory
 * only the changed records (struct xm_changes: a hash table by taskId), so
 * memory is bounded by what changed, not by the export. Rules (the hub's
 * order is the order of task creation; docs/DESIGN-NOTES.md):
 *   - an old record whose taskId changed is replaced in place by the new
 *     record if the new one still belongs to the view, else dropped (a task
 *     that left a stage view);
 *   - a changed record not in the old file and in the view is appended, in
 *     the incremental export's order, when the view allows it (the whole
 *     project: a task not in it before is a new task, created after every
 *     task of the old generation); for a stage view its place is unknown
 *     (a task moved in from another stage): -EAGAIN, a full export decides.
 * Pure functions over descriptors: no locks, no network (unit-tested).
 */
#ifndef ANGOFS_EXPORTS_RECORDS_H
#define ANGOFS_EXPORTS_RECORDS_H

#include <stddef.h>

#include "angofs/err.h"

#define XM_ID_MAX 128

/* The fields of a task record the merge needs: task.taskId, task.stageId,
 * task.updatedAt (microseconds since the epoch). */
struct xm_fields {
	char task_id[XM_ID_MAX];
	char stage_id[XM_ID_MAX];
	long long updated_us;
};

/* 0 with f filled, or -EINVAL if rec is not an object with a "task" object
 * holding string taskId, stageId and an ISO-8601 updatedAt. */
int xm_fields(const char *rec, size_t len, struct xm_fields *f);

/* ISO-8601 "YYYY-MM-DDTHH:MM:SS[.frac]Z" -> microseconds; -EINVAL if not. */
int xm_parse_time(const char *s, size_t n, long long *us);
/* The filter form the hub documents: YYYY-MM-DDTHH:MM:SS.ffffffZ (out >= 32). */
void xm_format_time(long long us, char *out, size_t n);

struct xm_buf {
	char *p;
	size_t len, cap;
};

int xm_buf_add(struct xm_buf *b, const char *p, size_t n);

struct xm_reader {
	int fd, ndjson;
	char *buf; /* read buffer */
	size_t blen, bpos;
	struct xm_buf rec, gap; /* the current record and the bytes before it */
	int opened, closed, eof;
	long long nrec;
	long long base;	   /* file offset of buf[0] */
	long long rec_off; /* file offset of the current record */
};

void xm_reader_init(struct xm_reader *r, int fd, int ndjson);
void xm_reader_free(struct xm_reader *r);
/* 1: r->rec holds the next record (r->gap the bytes since the previous one);
 * 0: end of file (r->gap holds the trailing bytes); -errno (EINVAL: not an
 * export of that form, EIO: read error) with err set. */
int xm_reader_next(struct xm_reader *r, struct ao_err *err);

/* The framing of a file, learnt from the files the merge reads. */
struct xm_frame {
	struct xm_buf head, sep, tail, empty;
	int has_head, has_sep, has_tail, has_empty;
};

/* Remember the framing around record r->nrec (at_end: the trailing bytes). */
int xm_frame_learn(struct xm_frame *fr, const struct xm_reader *r, int at_end);
void xm_frame_free(struct xm_frame *fr);

struct xm_change {
	char *rec;
	size_t len;
	struct xm_fields f;
	int used; /* met in the old file */
};

struct xm_changes {
	struct xm_change *v; /* in the incremental export's order */
	size_t n, cap;
	size_t *slot; /* open addressing: index + 1 into v, 0 = empty */
	size_t nslot;
	long long bytes;
	struct xm_frame frame;
};

/* Load the records of an incremental export. Every record must parse as
 * JSON, carry the fields above with updatedAt > after_us (otherwise the hub
 * ignored the filter: -ERANGE) and a taskId not seen before (-EEXIST). */
int xm_changes_load(struct xm_changes *ch, int fd, int ndjson, long long after_us,
		    struct ao_err *err);
void xm_changes_free(struct xm_changes *ch);
struct xm_change *xm_changes_find(struct xm_changes *ch, const char *task_id);

struct xm_view {
	const char *stage_id; /* NULL: every stage is in the view */
	int appendable;	      /* a task new to the view is a new task: append it */
};

struct xm_result {
	long long records, kept, replaced, added, removed;
	long long same;	  /* replaced by identical bytes (re-sent within the margin) */
	long long hwm_us; /* newest updatedAt of the merged records (0: none) */
	long long size;	  /* bytes of the merged file */
};

/* Told the bytes of the merged file written so far, as they grow. */
struct xm_progress {
	void (*fn)(void *ud, long long bytes);
	void *ud;
};

/* Merge old (a data file) and ch into out (a descriptor written from its
 * current offset). old_idx: the old file's record index (-1: none, the old
 * file is scanned); out_idx: where the merged file's index goes (-1: none).
 * 0; -EAGAIN (a record cannot be placed: a full export must decide),
 * -EINVAL (the old file or its index is malformed), -EEXIST (a changed
 * taskId twice in the old file), -EIO; err says which. */
int xm_merge(int old_fd, int old_idx, int ndjson, struct xm_changes *ch, const struct xm_view *v,
	     int out_fd, int out_idx, struct xm_result *res, struct ao_err *err);
/* The same, telling prog (may be NULL) the bytes written as they grow.
 * out_fd -1 is a dry run: nothing is written, *res is what the merge would
 * give (size included), with the same return codes. */
int xm_merge_p(int old_fd, int old_idx, int ndjson, struct xm_changes *ch, const struct xm_view *v,
	       int out_fd, int out_idx, const struct xm_progress *prog, struct xm_result *res,
	       struct ao_err *err);

/* Records and newest updatedAt of a data file (after a full export), and its
 * index into idx_fd (-1: none). A record without the fields leaves *hwm_us 0
 * (no incremental refresh from it) and, with idx_fd, fails with -ENOENT
 * (*records is still the count). */
int xm_scan(int fd, int ndjson, int idx_fd, long long *records, long long *hwm_us,
	    struct ao_err *err);

/* The record index of a generation (exports/merge.c): a text file, "angofs-idx 1
 * <data size> <records>\n", then one line per record in file order,
 * "<offset> <length> <updatedAt us> <taskId>\n". With it a merge copies the
 * unchanged spans of the old file (copy_file_range) instead of scanning
 * them. Checked against the data file's size and the meta's record count. */

#endif
