/*
 * merge.c - the output side of an incremental refresh's merge (exports/records.h):
 * the merged file, written in one pass over the old generation, and the
 * record index of each generation.
 *
 * Design choice: the index. Locating records by scanning bytes costs a few
 * CPU cycles per byte, seconds for a 1 GB export, while a merge of k
 * changes only needs to know where each old record is and what its taskId
 * is. So every generation gets <hash>.<gen>.idx (one line per record:
 * offset, length, updatedAt, taskId), written by the scan after a full
 * export and by every merge; a merge that has the old index copies the runs
 * of unchanged records with copy_file_range (in the kernel, a reflink on
 * filesystems that have them) and writes only the changed records. Without
 * an index (older caches) it scans. Both give the same bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "angofs/sysutil.h"
#include "records.h"

#define OBUF (256 * 1024)
#define GAP_MAX 4096 /* bytes between records: brackets, commas, newlines */
#define COPY_CHUNK (8LL << 20)

/* fd -1: nothing is written, pos only counts (a dry run's size). */
struct out {
	int fd;
	char *buf;
	size_t len;
	long long pos; /* bytes written to fd so far (through the buffer) */
	int failed;
	long long done; /* bytes in the file (pos minus the buffer) */
	const struct xm_progress *prog;
};

static void out_done(struct out *o, long long n)
{
	o->done += n;
	if (o->prog && o->prog->fn)
		o->prog->fn(o->prog->ud, o->done);
}

static int out_flush(struct out *o)
{
	int r = o->len && !o->failed ? ao_sys_write_all(o->fd, o->buf, o->len) : 0;
	if (r < 0)
		o->failed = -r;
	else if (o->len)
		out_done(o, (long long)o->len);
	o->len = 0;
	return o->failed ? -o->failed : 0;
}

static void out_put(struct out *o, const char *p, size_t n)
{
	if (o->failed)
		return;
	o->pos += (long long)n;
	if (o->fd < 0)
		return;
	if (o->len + n > OBUF)
		out_flush(o);
	if (n > OBUF) {
		int r = o->failed ? 0 : ao_sys_write_all(o->fd, p, n);
		if (r < 0)
			o->failed = -r;
		else
			out_done(o, (long long)n);
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* Copy old[off, off+len) to the output (in the kernel when it can). */
static void out_copy(struct out *o, int old_fd, long long off, long long len)
{
	if (o->fd < 0) { /* a dry run: only the size */
		o->pos += o->failed ? 0 : len;
		return;
	}
	if (out_flush(o) < 0)
		return;
	o->pos += len;
	while (len > 0 && !o->failed) {
		loff_t in = off;
		/* in chunks: a reader of a streamed generation waits for its bytes */
		size_t chunk = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t n = copy_file_range(old_fd, &in, o->fd, NULL, chunk, 0);
		if (n > 0) {
			off += n;
			len -= n;
			out_done(o, n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* not supported here (EXDEV, ENOSYS, EINVAL...) or 0: through memory */
		size_t m = len < OBUF ? (size_t)len : OBUF;
		ssize_t r = pread(old_fd, o->buf, m, off);
		if (r <= 0) {
			o->failed = r < 0 ? errno : EIO;
			return;
		}
		int w = ao_sys_write_all(o->fd, o->buf, (size_t)r);
		if (w < 0)
			o->failed = -w;
		else
			out_done(o, r);
		off += r;
		len -= r;
	}
}

static const struct xm_buf *pick(const struct xm_buf *a, int ha, const struct xm_buf *b, int hb,
				 struct xm_buf *dflt)
{
	return ha ? a : hb ? b : dflt;
}

struct mstate {
	struct out o, ix; /* the merged file and its index (ix.fd -1: none) */
	struct xm_frame *old, *chf;
	int ndjson;
	struct xm_result *res;
};

static void idx_line(struct mstate *m, long long off, long long len, long long upd, const char *tid)
{
	char b[XM_ID_MAX + 80];
	int n;

	if (m->ix.fd < 0)
		return;
	n = snprintf(b, sizeof(b), "%lld %lld %lld %s\n", off, len, upd, tid);
	out_put(&m->ix, b, (size_t)n);
}

/* The bytes before output record number res->records + 1: the old file's
 * framing, else the incremental export's, else the local hub's. */
static void gap(struct mstate *m)
{
	struct xm_buf dh = {m->ndjson ? "" : "[\n", m->ndjson ? 0 : 2, 0};
	struct xm_buf ds = {m->ndjson ? "\n" : ",\n", m->ndjson ? 1 : 2, 0};
	const struct xm_buf *g =
	    m->res->records == 0
		? pick(&m->old->head, m->old->has_head, &m->chf->head, m->chf->has_head, &dh)
		: pick(&m->old->sep, m->old->has_sep, &m->chf->sep, m->chf->has_sep, &ds);
	out_put(&m->o, g->p, g->len);
}

static void account(struct mstate *m, long long upd)
{
	m->res->records++;
	if (upd > m->res->hwm_us)
		m->res->hwm_us = upd;
}

static void emit(struct mstate *m, const char *rec, size_t len, const struct xm_fields *f)
{
	gap(m);
	idx_line(m, m->o.pos, (long long)len, f->updated_us, f->task_id);
	out_put(&m->o, rec, len);
	account(m, f->updated_us);
}

static int in_view(const struct xm_view *v, const struct xm_change *c)
{
	return !v->stage_id || strcmp(v->stage_id, c->f.stage_id) == 0;
}

/* A changed task met in the old file: replaced in place or dropped. */
static int met(struct mstate *m, struct xm_change *c, const char *old, size_t olen,
	       const struct xm_view *v, struct ao_err *err)
{
	if (c->used)
		return ao_errf(err, EEXIST, "task %s is twice in the cached export", c->f.task_id);
	c->used = 1;
	if (!in_view(v, c)) {
		m->res->removed++;
		return 0;
	}
	emit(m, c->rec, c->len, &c->f);
	m->res->replaced++;
	m->res->same += old && c->len == olen && !memcmp(c->rec, old, olen);
	return 0;
}

/* The old file, scanned record by record (no index). */
static int merge_scan(struct mstate *m, int old_fd, struct xm_changes *ch, const struct xm_view *v,
		      struct ao_err *err)
{
	struct xm_reader r;
	struct xm_fields f;
	int rc;

	xm_reader_init(&r, old_fd, m->ndjson);
	while ((rc = xm_reader_next(&r, err)) == 1) {
		if ((rc = xm_frame_learn(m->old, &r, 0)) < 0) {
			rc = ao_errf(err, ENOMEM, "out of memory");
			break;
		}
		if (xm_fields(r.rec.p, r.rec.len, &f) < 0) {
			rc = ao_errf(err, EINVAL, "record %lld of the cached export has no task id",
				     r.nrec);
			break;
		}
		struct xm_change *c = xm_changes_find(ch, f.task_id);
		if (!c) {
			emit(m, r.rec.p, r.rec.len, &f);
			m->res->kept++;
		} else if ((rc = met(m, c, r.rec.p, r.rec.len, v, err)) < 0) {
			break;
		}
	}
	if (rc == 0 && xm_frame_learn(m->old, &r, 1) < 0)
		rc = ao_errf(err, ENOMEM, "out of memory");
	xm_reader_free(&r);
	return rc;
}

/* Bytes old[a, b) into buf (the framing around records). */
static int read_gap(int fd, long long a, long long b, struct xm_buf *buf, int *has)
{
	char tmp[GAP_MAX];

	if (b < a || b - a > GAP_MAX || pread(fd, tmp, (size_t)(b - a), a) != b - a)
		return -EINVAL;
	buf->len = 0;
	*has = 1;
	return xm_buf_add(buf, tmp, (size_t)(b - a));
}

#define IDX_HEAD "angofs-idx 1 %020lld %020lld\n"
#define IDX_HEAD_LEN 55 /* strlen of IDX_HEAD printed */

/* The index's header, written last over its placeholder (fixed width). */
static int idx_finish(struct out *ix, long long size, long long records)
{
	char h[IDX_HEAD_LEN + 1];

	if (ix->fd < 0)
		return 0;
	if (out_flush(ix) < 0)
		return -ix->failed;
	snprintf(h, sizeof(h), IDX_HEAD, size, records);
	return pwrite(ix->fd, h, IDX_HEAD_LEN, 0) == IDX_HEAD_LEN ? 0 : -EIO;
}

struct span {
	long long off, end, out; /* old[off, end) goes to output offset out; off -1: none */
};

static void span_flush(struct mstate *m, int old_fd, struct span *sp)
{
	if (sp->off >= 0)
		out_copy(&m->o, old_fd, sp->off, sp->end - sp->off);
	sp->off = -1;
}

/* One index line of the old file: an unchanged record joins the span of
 * unchanged records before it (their inner bytes copied as they are). */
static int indexed_one(struct mstate *m, int old_fd, struct xm_changes *ch, const struct xm_view *v,
		       struct span *sp, long long prev_end, long long off, long long len,
		       long long upd, const char *tid, struct ao_err *err)
{
	struct xm_change *c = xm_changes_find(ch, tid);
	int rc;

	if (!c) {
		if (sp->off < 0 || sp->end != prev_end) {
			span_flush(m, old_fd, sp);
			gap(m);
			sp->off = off;
			sp->out = m->o.pos;
		}
		sp->end = off + len;
		idx_line(m, sp->out + (off - sp->off), len, upd, tid);
		account(m, upd);
		m->res->kept++;
		return 0;
	}
	span_flush(m, old_fd, sp);
	char *old = malloc((size_t)len);
	if (!old)
		return ao_errf(err, ENOMEM, "out of memory");
	rc = pread(old_fd, old, (size_t)len, off) == len
		 ? met(m, c, old, (size_t)len, v, err)
		 : ao_errf(err, EIO, "reading the cached export");
	free(old);
	return rc;
}

/* The old file through its index: unchanged runs copied, not scanned. */
static int merge_indexed(struct mstate *m, int old_fd, int idx_fd, struct xm_changes *ch,
			 const struct xm_view *v, struct ao_err *err)
{
	struct stat st;
	struct span sp = {-1, -1, 0};
	int dfd = dup(idx_fd), rc = 0;
	FILE *f = dfd >= 0 ? fdopen(dfd, "r") : NULL;
	char *line = NULL, tid[XM_ID_MAX];
	size_t cap = 0;
	long long size, nrec, off, len, upd, prev_end = 0, k = 0;

	if (!f || fstat(old_fd, &st) < 0) {
		if (dfd >= 0 && !f)
			close(dfd);
		return ao_errf(err, EIO, "reading the record index: %s", strerror(errno));
	}
	if (getline(&line, &cap, f) < 0 ||
	    sscanf(line, "angofs-idx 1 %lld %lld", &size, &nrec) != 2 || size != st.st_size)
		rc = ao_errf(err, EINVAL, "the record index does not match the cached export");
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%lld %lld %lld %127s", &off, &len, &upd, tid) != 4 ||
		    off < prev_end || len <= 0 || off + len > size) {
			rc = ao_errf(err, EINVAL, "line %lld of the record index is malformed",
				     k + 2);
			break;
		}
		k++;
		if ((k == 1 && read_gap(old_fd, 0, off, &m->old->head, &m->old->has_head) < 0) ||
		    (k == 2 &&
		     read_gap(old_fd, prev_end, off, &m->old->sep, &m->old->has_sep) < 0)) {
			rc = ao_errf(err, EINVAL,
				     "the record index does not match the cached export");
			break;
		}
		rc = indexed_one(m, old_fd, ch, v, &sp, prev_end, off, len, upd, tid, err);
		prev_end = off + len;
	}
	span_flush(m, old_fd, &sp);
	if (rc == 0 && k != nrec)
		rc = ao_errf(err, EINVAL, "the record index is short");
	if (rc == 0 && (k ? read_gap(old_fd, prev_end, size, &m->old->tail, &m->old->has_tail)
			  : read_gap(old_fd, 0, size, &m->old->empty, &m->old->has_empty)) < 0)
		rc = ao_errf(err, EINVAL, "the record index does not match the cached export");
	free(line);
	fclose(f);
	return rc;
}

int xm_scan(int fd, int ndjson, int idx_fd, long long *records, long long *hwm_us,
	    struct ao_err *err)
{
	struct xm_reader r;
	struct xm_fields f;
	struct xm_result res = {0};
	struct mstate m = {{-1, NULL, 0, 0, 0, 0, NULL},
			   {idx_fd, idx_fd >= 0 ? malloc(OBUF) : NULL, 0, 0, 0, 0, NULL},
			   NULL,
			   NULL,
			   ndjson,
			   &res};
	int rc, fields = 1;
	char h[IDX_HEAD_LEN + 1];

	*records = 0;
	*hwm_us = 0;
	if (idx_fd >= 0 && !m.ix.buf)
		return ao_errf(err, ENOMEM, "out of memory");
	snprintf(h, sizeof(h), IDX_HEAD, 0LL, 0LL);
	out_put(&m.ix, h, IDX_HEAD_LEN); /* placeholder */
	xm_reader_init(&r, fd, ndjson);
	while ((rc = xm_reader_next(&r, err)) == 1) {
		if (fields && xm_fields(r.rec.p, r.rec.len, &f) < 0)
			fields = 0;
		if (fields) {
			idx_line(&m, r.rec_off, (long long)r.rec.len, f.updated_us, f.task_id);
			account(&m, f.updated_us);
		}
	}
	*records = r.nrec;
	*hwm_us = fields ? res.hwm_us : 0;
	if (rc == 0 && fields && idx_finish(&m.ix, r.base + (long long)r.blen, r.nrec) < 0)
		rc = ao_errf(err, EIO, "writing the record index");
	if (rc == 0 && !fields && idx_fd >= 0)
		rc = ao_errf(err, ENOENT,
			     "a record without task.taskId/stageId/updatedAt: no index");
	xm_reader_free(&r);
	free(m.ix.buf);
	return rc;
}

int xm_merge(int old_fd, int old_idx, int ndjson, struct xm_changes *ch, const struct xm_view *v,
	     int out_fd, int out_idx, struct xm_result *res, struct ao_err *err)
{
	return xm_merge_p(old_fd, old_idx, ndjson, ch, v, out_fd, out_idx, NULL, res, err);
}

int xm_merge_p(int old_fd, int old_idx, int ndjson, struct xm_changes *ch, const struct xm_view *v,
	       int out_fd, int out_idx, const struct xm_progress *prog, struct xm_result *res,
	       struct ao_err *err)
{
	struct xm_frame old = {0};
	struct mstate m = {{out_fd, malloc(OBUF), 0, 0, 0, 0, prog},
			   {out_idx, out_idx >= 0 ? malloc(OBUF) : NULL, 0, 0, 0, 0, NULL},
			   &old,
			   &ch->frame,
			   ndjson,
			   res};
	int rc;

	char h[IDX_HEAD_LEN + 1];

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < ch->n; i++)
		ch->v[i].used = 0;
	snprintf(h, sizeof(h), IDX_HEAD, 0LL, 0LL);
	out_put(&m.ix, h, IDX_HEAD_LEN); /* placeholder */
	if (!m.o.buf || (out_idx >= 0 && !m.ix.buf))
		rc = ao_errf(err, ENOMEM, "out of memory");
	else
		rc = old_idx >= 0 ? merge_indexed(&m, old_fd, old_idx, ch, v, err)
				  : merge_scan(&m, old_fd, ch, v, err);
	for (size_t i = 0; rc == 0 && i < ch->n; i++) {
		struct xm_change *c = &ch->v[i];
		if (c->used || !in_view(v, c))
			continue;
		if (!v->appendable) {
			rc = ao_errf(err, EAGAIN,
				     "task %s entered the view: its place in the hub's order is "
				     "unknown",
				     c->f.task_id);
			break;
		}
		emit(&m, c->rec, c->len, &c->f);
		res->added++;
	}
	if (rc == 0) {
		struct xm_buf dt = {m.ndjson ? "\n" : "\n]\n", m.ndjson ? 1 : 3, 0};
		struct xm_buf de = {m.ndjson ? "" : "[]\n", m.ndjson ? 0 : 3, 0};
		const struct xm_buf *g =
		    res->records
			? pick(&old.tail, old.has_tail, &ch->frame.tail, ch->frame.has_tail, &dt)
			: pick(&old.empty, old.has_empty, &ch->frame.empty, ch->frame.has_empty,
			       &de);
		out_put(&m.o, g->p, g->len);
		res->size = m.o.pos;
		if (out_flush(&m.o) < 0 || idx_finish(&m.ix, m.o.pos, res->records) < 0) {
			int e = m.o.failed ? m.o.failed : m.ix.failed ? m.ix.failed : EIO;
			rc = ao_errf(err, e, "writing the merged export: %s", strerror(e));
		}
	}
	free(m.o.buf);
	free(m.ix.buf);
	xm_frame_free(&old);
	return rc;
}
