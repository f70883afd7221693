/*
 * xmerge.c - the streaming record merge of an incremental export refresh
 * (design in xmerge.h and docs/DESIGN-NOTES.md).
 *
 * (The output side, the merge itself, is xmout.c.)
 *
 * Design choice: records are located by a byte scanner (strings and nesting
 * depth only: util/jscan.c), never parsed whole; of an old record only the few fields the
 * merge needs are read (task.taskId, stageId, updatedAt), by skipping the
 * values before them. That keeps a merge of a 1 GB export at the cost of a
 * copy, and memory at the changed records plus one record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "angofs/hash.h"
#include "angofs/jscan.h"
#include "angofs/sysutil.h"
#include "xmerge.h"

#define XM_BUF (256 * 1024)

int xm_buf_add(struct xm_buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *q = realloc(b->p, nc);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = nc;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_set(struct xm_buf *b, const struct xm_buf *from)
{
	b->len = 0;
	return xm_buf_add(b, from->p ? from->p : "", from->len);
}

/* ---- the fields of a record (util/jscan.c locates them) ---- */

int xm_parse_time(const char *s, size_t n, long long *us)
{
	struct tm tm = {0};
	long long frac = 0, scale = 1000000;
	size_t i = 19;

	if (n < 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6 ||
	    s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (scale > 1)
				frac += (s[i] - '0') * (scale /= 10);
	if (i + 1 != n || s[i] != 'Z')
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*us = (long long)t * 1000000 + frac;
	return 0;
}

void xm_format_time(long long us, char *out, size_t n)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000);
}

struct fwalk {
	struct xm_fields *f;
	int found; /* bits: 1 taskId, 2 stageId, 4 updatedAt, 8 task */
	size_t n;
};

static int task_member(void *ud, const char *s, const char *k, size_t kl, size_t vi, size_t vj)
{
	struct fwalk *w = ud;
	char t[64];

	if (AO_JSCAN_KEY(k, kl, "taskId")) {
		if (ao_jscan_string(s, vi, vj, w->f->task_id, sizeof(w->f->task_id)) < 0 ||
		    !w->f->task_id[0])
			return -EINVAL;
		w->found |= 1;
	} else if (AO_JSCAN_KEY(k, kl, "stageId")) {
		if (ao_jscan_string(s, vi, vj, w->f->stage_id, sizeof(w->f->stage_id)) < 0)
			return -EINVAL;
		w->found |= 2;
	} else if (AO_JSCAN_KEY(k, kl, "updatedAt")) {
		if (ao_jscan_string(s, vi, vj, t, sizeof(t)) < 0 ||
		    xm_parse_time(t, strlen(t), &w->f->updated_us) < 0)
			return -EINVAL;
		w->found |= 4;
	}
	return (w->found & 7) == 7;
}

static int rec_member(void *ud, const char *s, const char *k, size_t kl, size_t vi, size_t vj)
{
	struct fwalk *w = ud;

	(void)vj;
	if (!AO_JSCAN_KEY(k, kl, "task"))
		return 0;
	w->found |= 8;
	int r = ao_jscan_members(s, w->n, vi, task_member, w);
	return r < 0 ? r : 1;
}

int xm_fields(const char *rec, size_t len, struct xm_fields *f)
{
	struct fwalk w = {f, 0, len};

	memset(f, 0, sizeof(*f));
	if (ao_jscan_members(rec, len, 0, rec_member, &w) < 0 || (w.found & 15) != 15)
		return -EINVAL;
	return 0;
}

/* ---- the reader ---- */

void xm_reader_init(struct xm_reader *r, int fd, int ndjson)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->ndjson = ndjson;
}

void xm_reader_free(struct xm_reader *r)
{
	free(r->buf);
	free(r->rec.p);
	free(r->gap.p);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* Bytes between records: whitespace, and for a JSON array its brackets and
 * commas. Stops at the '{' of the next record. -EINVAL on anything else. */
static int scan_gap(struct xm_reader *r, const char **pp, const char *end, struct ao_err *err)
{
	const char *p = *pp, *s = p;

	for (; p < end; p++) {
		char c = *p;
		if (c == '{' && (r->ndjson || (r->opened && !r->closed)))
			break;
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (!r->ndjson && c == '[' && !r->opened)
			r->opened = 1;
		else if (!r->ndjson && c == ',' && r->opened && !r->closed && r->nrec > 0)
			continue;
		else if (!r->ndjson && c == ']' && r->opened && !r->closed)
			r->closed = 1;
		else
			return ao_errf(err, EINVAL,
				       "not an export of records: unexpected byte 0x%02x after "
				       "record %lld",
				       (unsigned char)c, r->nrec);
	}
	*pp = p;
	return xm_buf_add(&r->gap, s, (size_t)(p - s));
}

int xm_reader_next(struct xm_reader *r, struct ao_err *err)
{
	struct ao_jscan_rec st = {0};
	int inrec = 0, rc;

	r->rec.len = 0;
	r->gap.len = 0;
	if (!r->buf && !(r->buf = malloc(XM_BUF)))
		return ao_errf(err, ENOMEM, "out of memory");
	for (;;) {
		if (r->bpos == r->blen) {
			if (r->eof)
				break;
			ssize_t n = read(r->fd, r->buf, XM_BUF);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return ao_errf(err, EIO, "reading an export: %s", strerror(errno));
			if (n == 0) {
				r->eof = 1;
				break;
			}
			r->base += (long long)r->blen;
			r->blen = (size_t)n;
			r->bpos = 0;
		}
		const char *p = r->buf + r->bpos, *end = r->buf + r->blen, *s;
		if (!inrec) {
			if ((rc = scan_gap(r, &p, end, err)) < 0)
				return rc;
			r->bpos = (size_t)(p - r->buf);
			if (p == end)
				continue;
			inrec = 1;
			r->rec_off = r->base + (long long)(p - r->buf);
		}
		s = p;
		p = ao_jscan_rec(&st, p, end);
		if (xm_buf_add(&r->rec, s, (size_t)(p - s)) < 0)
			return ao_errf(err, ENOMEM, "out of memory");
		r->bpos = (size_t)(p - r->buf);
		if (st.depth == 0) {
			r->nrec++;
			return 1;
		}
	}
	if (inrec)
		return ao_errf(err, EINVAL, "the export ends inside record %lld", r->nrec + 1);
	if (!r->ndjson && !r->closed)
		return ao_errf(err, EINVAL, "the export's JSON array is not closed");
	return 0;
}

/* ---- the changed records ---- */

struct xm_change *xm_changes_find(struct xm_changes *ch, const char *task_id)
{
	if (!ch->nslot)
		return NULL;
	for (size_t i = ao_hash_str(task_id) & (ch->nslot - 1);; i = (i + 1) & (ch->nslot - 1)) {
		size_t v = ch->slot[i];
		if (!v)
			return NULL;
		if (strcmp(ch->v[v - 1].f.task_id, task_id) == 0)
			return &ch->v[v - 1];
	}
}

static int rehash(struct xm_changes *ch)
{
	size_t ns = ch->nslot ? ch->nslot * 2 : 64;
	size_t *sl = calloc(ns, sizeof(*sl));

	if (!sl)
		return -ENOMEM;
	for (size_t k = 0; k < ch->n; k++) {
		size_t i = ao_hash_str(ch->v[k].f.task_id) & (ns - 1);
		while (sl[i])
			i = (i + 1) & (ns - 1);
		sl[i] = k + 1;
	}
	free(ch->slot);
	ch->slot = sl;
	ch->nslot = ns;
	return 0;
}

static int change_add(struct xm_changes *ch, const struct xm_buf *rec, const struct xm_fields *f)
{
	if (ch->n == ch->cap) {
		size_t nc = ch->cap ? ch->cap * 2 : 16;
		struct xm_change *v = realloc(ch->v, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ch->v = v;
		ch->cap = nc;
	}
	struct xm_change *c = &ch->v[ch->n];
	if (!(c->rec = malloc(rec->len + 1)))
		return -ENOMEM;
	memcpy(c->rec, rec->p, rec->len + 1);
	c->len = rec->len;
	c->f = *f;
	c->used = 0;
	ch->n++;
	ch->bytes += (long long)rec->len;
	if (2 * ch->n > ch->nslot)
		return rehash(ch);
	size_t i = ao_hash_str(f->task_id) & (ch->nslot - 1);
	while (ch->slot[i])
		i = (i + 1) & (ch->nslot - 1);
	ch->slot[i] = ch->n;
	return 0;
}

/* Remember the framing seen around record number nrec (0: the end). */
int xm_frame_learn(struct xm_frame *fr, const struct xm_reader *r, int at_end)
{
	int rc = 0;

	if (!at_end && r->nrec == 1 && !fr->has_head)
		rc = buf_set(&fr->head, &r->gap), fr->has_head = 1;
	else if (!at_end && r->nrec == 2 && !fr->has_sep)
		rc = buf_set(&fr->sep, &r->gap), fr->has_sep = 1;
	else if (at_end && r->nrec > 0 && !fr->has_tail)
		rc = buf_set(&fr->tail, &r->gap), fr->has_tail = 1;
	else if (at_end && r->nrec == 0 && !fr->has_empty)
		rc = buf_set(&fr->empty, &r->gap), fr->has_empty = 1;
	return rc;
}

void xm_frame_free(struct xm_frame *fr)
{
	free(fr->head.p);
	free(fr->sep.p);
	free(fr->tail.p);
	free(fr->empty.p);
	memset(fr, 0, sizeof(*fr));
}

int xm_changes_load(struct xm_changes *ch, int fd, int ndjson, long long after_us,
		    struct ao_err *err)
{
	struct xm_reader r;
	struct xm_fields f;
	int rc;

	xm_reader_init(&r, fd, ndjson);
	while ((rc = xm_reader_next(&r, err)) == 1) {
		json_t *j = json_loadb(r.rec.p, r.rec.len, 0, NULL);
		int ok = json_is_object(j);
		json_decref(j);
		if (!ok || xm_fields(r.rec.p, r.rec.len, &f) < 0) {
			rc = ao_errf(err, EINVAL,
				     "record %lld of the incremental export is not a task record "
				     "with task.taskId, stageId and updatedAt",
				     r.nrec);
			break;
		}
		if (f.updated_us <= after_us) {
			rc = ao_errf(err, ERANGE,
				     "task %s of the incremental export is not newer than the "
				     "updatedAt bound: the hub ignored the filter",
				     f.task_id);
			break;
		}
		if (xm_changes_find(ch, f.task_id)) {
			rc = ao_errf(err, EEXIST, "task %s is twice in the incremental export",
				     f.task_id);
			break;
		}
		if ((rc = xm_frame_learn(&ch->frame, &r, 0)) < 0 ||
		    (rc = change_add(ch, &r.rec, &f)) < 0) {
			rc = ao_errf(err, ENOMEM, "out of memory");
			break;
		}
	}
	if (rc == 0 && xm_frame_learn(&ch->frame, &r, 1) < 0)
		rc = ao_errf(err, ENOMEM, "out of memory");
	xm_reader_free(&r);
	return rc;
}

void xm_changes_free(struct xm_changes *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		free(ch->v[i].rec);
	free(ch->v);
	free(ch->slot);
	xm_frame_free(&ch->frame);
	memset(ch, 0, sizeof(*ch));
}
