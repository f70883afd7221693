/*
 * writes_send.c - delivery of spooled writes to the hub (see writes_int.h).
 *
 * Design: one function, deliver(), moves an entry forward from wherever it
 * stands: prepare (validate + normalize + plan chunks, once per content),
 * then send each chunk not yet confirmed, persisting each confirmation before
 * going on. The hub client is the only retry owner (src/client/hub_retry.h):
 * one delivery attempt is one bounded client call per chunk, and the write
 * side never loops on top of it. A transient failure leaves the entry
 * pending; the background sender tries it again on a fixed schedule (2 s
 * doubling to 60 s after each failed turn), one request per turn
 * (HUB_ONE_ATTEMPT): the schedule is the backoff. Refusals (4xx) are final
 * for that chunk; the other chunks are still sent, and the status names the
 * items and lines of each refused request. A non-idempotent request
 * (POST /attachments, /annotate?nextStage=true) that failed after the hub may
 * have applied it is *uncertain*: never resent, the status says what to check.
 * Costs per failure: docs/RELIABILITY.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/cancel.h"
#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "answer.h"
#include "labels_prep.h"
#include "schema.h"
#include "writes_int.h"

#define ANSWER_MAX (64L << 20)

/* asprintf that leaves *out NULL on failure. */
static void r_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void r_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(out, fmt, ap) < 0)
		*out = NULL;
	va_end(ap);
}

int ws_task_of(const char *relpath, char *buf, size_t n)
{
	const char *s, *e;

	if (strncmp(relpath, "tasks/", 6))
		return -1;
	s = relpath + 6;
	e = strchr(s, '/');
	if (!e || e == s || (size_t)(e - s) >= n)
		return -1;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	return 0;
}

/* Persist e; a failure to persist is logged (the state in memory stays right
 * and the next save retries). Called with w->mu held. */
static void save(struct ao_writes *w, struct entry *e)
{
	struct ao_err er;

	e->updated = time(NULL);
	if (spool_save(w->spool_dir, e, &er) < 0)
		ao_error("write side: %s", er.msg);
}

/* End of an upload (w->mu held): bytes written while it ran (through a
 * descriptor still open) were not part of what the hub confirmed: they stay
 * in the spool and are sent next (by that descriptor's close or, if nobody
 * closes it again, by the background sender). */
void ws_finish_locked(struct ao_writes *w, struct entry *e)
{
	e->busy = 0;
	if (e->gen != e->sent_gen && ws_find(w, e->project, e->relpath) == e &&
	    e->kind != EK_SCRATCH)
		ws_requeue_locked(w, e);
	pthread_cond_broadcast(&w->idle);
}

/* The hub's reply as one line: data.project when it is a string (import;
 * unmatched: what ws_labels_unmatched found, appended), the counts of a
 * /cloud reply, else the compact JSON of data, cut to fit. */
static char *reply_text(json_t *data, const char *unmatched)
{
	json_t *p = json_object_get(data, "project");
	char *s;

	if (json_is_string(p) && unmatched) {
		if (asprintf(&s, "%s %s", json_string_value(p), unmatched) < 0)
			s = NULL;
		return s;
	}
	if (json_is_string(p))
		return strdup(json_string_value(p));
	if (json_is_integer(json_object_get(json_object_get(data, "assets"), "assetsCreated"))) {
		/* POST /project/{id}/cloud: the SDK's counts */
		json_t *a = json_object_get(data, "assets");

		if (asprintf(&s, "%lld assets and %lld tasks created",
			     (long long)json_integer_value(json_object_get(a, "assetsCreated")),
			     (long long)json_integer_value(json_object_get(a, "tasksCreated"))) < 0)
			s = NULL;
		return s;
	}
	s = json_dumps(p ? p : data, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s && strlen(s) > 400)
		strcpy(s + 396, "...");
	return s ? s : strdup("ok");
}

/* The hub names items by their index in the request ("jsonContent[3]"); add
 * the item's number in the user's file and, from the lines file, its line. */
static char *refusal_text(const char *msg, long first, const char *lines_path)
{
	static const char *const keys[] = {"jsonContent[", "labels[", "attachments[", NULL};
	const char *const *k;
	char *out = NULL;

	for (k = keys; *k; k++) {
		const char *p = strstr(msg, *k);
		long long line = 0;
		char *end;
		long idx;
		int fd;

		if (!p)
			continue;
		idx = strtol(p + strlen(*k), &end, 10);
		if (end == p + strlen(*k) || *end != ']' || idx < 0)
			continue;
		fd = lines_path ? open(lines_path, O_RDONLY | O_CLOEXEC) : -1;
		if (fd >= 0) {
			if (pread(fd, &line, sizeof(line),
				  (off_t)(first + idx) * (off_t)sizeof(line)) !=
			    (ssize_t)sizeof(line))
				line = 0;
			close(fd);
		}
		if (line > 0)
			r_asprintf(&out, "%s (the hub's %.*s] is item %ld of the file, line %lld)",
				   msg, (int)(end - p), p, first + idx + 1, line);
		else
			r_asprintf(&out, "%s (the hub's %.*s] is item %ld of the file)", msg,
				   (int)(end - p), p, first + idx + 1);
		break;
	}
	return out ? out : strdup(msg);
}

int ws_get_schema(struct ao_writes *w, const char *project, struct schema **s, struct ao_err *err)
{
	json_t *cs = NULL;
	int r;

	*s = NULL;
	if (!w->cfg.category_schema)
		return 0;
	r = w->cfg.category_schema(w->cfg.ud, project, &cs, err);
	if (r < 0) {
		ao_err_prefix(err, "reading the project's categorySchema");
		return r;
	}
	*s = sc_new(cs, err);
	json_decref(cs);
	return *s ? 0 : -err->code;
}

static int read_all(const char *path, char **buf, size_t *len, struct ao_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;
	size_t got = 0;
	char *b;

	if (fd < 0)
		return ao_errf(err, errno, "spool: %s: %s", path, strerror(errno));
	r = ao_sys_read_fd(fd, ANSWER_MAX, &b, &got);
	close(fd);
	if (r == -EFBIG)
		return ao_errf(err, EFBIG, "answer.json is larger than %ld MB", ANSWER_MAX >> 20);
	if (r < 0)
		return ao_errf(err, -r, "spool: %s: %s", path, strerror(-r));
	*buf = b;
	*len = got;
	return 0;
}

/* One delivery attempt of one request: one client call (the client owns the
 * retries; in the background, one request: the sender's schedule is the
 * backoff). */
int ws_post(struct ao_writes *w, const char *path, const char *body, size_t len, int flags,
	    json_t **data, int bg, struct ao_err *err)
{
	ao_err_clear(err);
	return hub_post_flags(w->cfg.hub, path, body, len, flags | (bg ? HUB_ONE_ATTEMPT : 0), data,
			      err);
}

void ws_set_failed(struct ao_writes *w, struct entry *e, const struct ao_err *err,
		   const char *detail)
{
	char full[AO_ERR_MSG_MAX];

	pthread_mutex_lock(&w->mu);
	e->state = ST_FAILED;
	e->code = err->code ? err->code : EIO;
	e->http = err->http_status;
	if (e->code == ENOSPC || e->code == EDQUOT) {
		/* the cache disk (or the user's quota on it) is full: what was
		 * written or prepared is incomplete, so nothing went out */
		snprintf(full, sizeof(full),
			 "%s in %s: nothing was sent; free space and copy again",
			 e->code == ENOSPC ? "no space left on device" : "disk quota exceeded",
			 w->spool_dir);
		spool_entry_set_msg(e, full);
	} else {
		spool_entry_set_msg(e, err->msg);
	}
	spool_entry_set_detail(e, detail);
	save(w, e);
	pthread_mutex_unlock(&w->mu);
	ao_error("write side: %s/%s %s: %s", e->project, e->relpath, e->http ? "refused" : "failed",
		 err->msg);
}

/* The hub may have applied a non-idempotent request: final, never resent;
 * what names what to check. */
void ws_set_uncertain(struct ao_writes *w, struct entry *e, const struct ao_err *err,
		      const char *what)
{
	char msg[AO_ERR_MSG_MAX];

	snprintf(msg, sizeof(msg), "the hub may have applied this write: %.500s; %.400s", err->msg,
		 what);
	pthread_mutex_lock(&w->mu);
	e->state = ST_UNCERTAIN;
	e->code = err->code ? err->code : EIO;
	e->http = err->http_status;
	spool_entry_set_msg(e, msg);
	save(w, e);
	pthread_mutex_unlock(&w->mu);
	ao_error("write side: %s/%s uncertain: %s", e->project, e->relpath, msg);
}

void ws_set_pending(struct ao_writes *w, struct entry *e, const struct ao_err *err)
{
	char msg[AO_ERR_MSG_MAX];

	snprintf(msg, sizeof(msg),
		 "not delivered yet: %.900s; kept in the spool and retried in "
		 "the background",
		 err->msg);
	pthread_mutex_lock(&w->mu);
	e->state = ST_PENDING;
	e->code = err->code ? err->code : EAGAIN;
	e->http = err->http_status;
	e->attempts++;
	{
		long delay = 1000L << (e->attempts < 6 ? e->attempts : 6);

		e->next_try_ms = ao_sys_now_ms() + (delay > 60000 ? 60000 : delay);
	}
	spool_entry_set_msg(e, msg);
	save(w, e);
	pthread_mutex_unlock(&w->mu);
	ao_warn("write side: %s/%s: %s", e->project, e->relpath, msg);
}

void ws_set_sent(struct ao_writes *w, struct entry *e, const char *msg)
{
	ws_set_sent_asset(w, e, msg, NULL);
}

void ws_set_sent_asset(struct ao_writes *w, struct entry *e, const char *msg, const json_t *asset)
{
	char task[256];

	pthread_mutex_lock(&w->mu);
	e->state = ST_SENT;
	e->code = 0;
	e->http = 0;
	e->attempts = 0;
	spool_entry_set_msg(e, msg);
	save(w, e);
	if (e->gen == e->sent_gen) /* else newer bytes: kept (ws_finish_locked) */
		spool_unlink(w->spool_dir, e, "data");
	spool_unlink(w->spool_dir, e, "items");
	spool_unlink(w->spool_dir, e, "lines");
	ws_prune_sent(w, WS_SENT_KEEP);
	pthread_mutex_unlock(&w->mu);
	ao_info("write side: %s/%s sent: %s", e->project, e->relpath, msg);
	if ((e->kind == EK_ANSWER || e->kind == EK_MASK) && w->cfg.task_written &&
	    !ws_task_of(e->relpath, task, sizeof(task)))
		w->cfg.task_written(w->cfg.ud, e->project, task);
	if (asset && w->cfg.asset_added)
		w->cfg.asset_added(w->cfg.ud, e->project, asset);
	else if (w->cfg.project_written)
		w->cfg.project_written(w->cfg.ud, e->project);
}

/* A write that does not mention a mask URL keeps the task's current one:
 * asked of the hub just before the annotate (never from a cache), and when
 * that fails the write waits (pending) rather than risk erasing a mask. */
static int carry_masks(struct ao_writes *w, struct entry *e, const char *task, json_t *b,
		       struct ao_err *err)
{
	json_t *cur = NULL;
	int r;

	if (!answer_masks_missing(b) || !w->cfg.read_masks)
		return 0;
	r = w->cfg.read_masks(w->cfg.ud, e->project, task, &cur, err);
	if (r < 0) {
		ao_err_prefix(err, "reading the task's current masks (kept by this write)");
		if (err->transient)
			ws_set_pending(w, e, err);
		else
			ws_set_failed(w, e, err, NULL);
		return r;
	}
	if (answer_carry_masks(b, cur))
		ao_debug("write side: %s/%s keeps the task's current mask URLs", e->project,
			 e->relpath);
	json_decref(cur);
	return 0;
}

int ws_deliver_answer(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err)
{
	char path[4096], task[256], *buf = NULL, *body = NULL, *req = NULL, *reply;
	struct schema *s = NULL;
	size_t len = 0;
	struct sc_report rep;
	json_t *b = NULL, *data = NULL;
	int r;

	sc_report_init(&rep);
	if (ws_task_of(e->relpath, task, sizeof(task)) < 0)
		return ao_errf(err, EINVAL, "%s: not a task's answer", e->relpath);
	spool_path(w->spool_dir, e, "data", path, sizeof(path));
	if ((r = read_all(path, &buf, &len, err)) < 0)
		goto out;
	if ((r = ws_get_schema(w, e->project, &s, err)) < 0) {
		if (err->transient)
			ws_set_pending(w, e, err);
		else
			ws_set_failed(w, e, err, NULL);
		goto out;
	}
	r = answer_prepare(buf, len, s, &b, &rep, err);
	if (r < 0) {
		ws_set_failed(w, e, err, rep.text);
		goto out;
	}
	if ((r = carry_masks(w, e, task, b, err)) < 0)
		goto out;
	if (answer_sdk_body(b) < 0) {
		r = ao_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	body = json_dumps(b, JSON_COMPACT);
	req = hub_annotate_path(task, e->next_stage);
	if (!body || !req) {
		r = ao_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	/* a plain annotate replaces the answer: sending it twice gives the same
	 * answer. With nextStage the task also moves on: twice could skip a stage */
	r = ws_post(w, req, body, strlen(body), e->next_stage ? HUB_NONIDEMPOTENT : 0, &data, bg,
		    err);
	if (r < 0) {
		if (err->uncertain)
			ws_set_uncertain(
			    w, e, err,
			    "it is not sent again automatically. Check the task's stage "
			    "and answer (task.json, answer.json) before writing "
			    "answer.next.json again");
		else if (err->transient)
			ws_set_pending(w, e, err);
		else
			ws_set_failed(w, e, err, NULL);
		goto out;
	}
	reply = malloc(128);
	if (reply)
		snprintf(reply, 128, "answer saved%s",
			 e->next_stage ? " and the task submitted to its next stage" : "");
	ws_set_sent(w, e, reply ? reply : "answer saved");
	free(reply);
out:
	sc_report_free(&rep);
	sc_free(s);
	json_decref(b);
	json_decref(data);
	free(buf);
	free(body);
	free(req);
	return r;
}

/* Chunk message of an uncertain request: the failure and the items it
 * carried (externalId or assetId, the first 20), so a user knows what to
 * check in the hub. */
static char *uncertain_text(const char *msg, const char *body, size_t blen)
{
	json_t *j = json_loadb(body, blen, 0, NULL), *items, *it;
	struct sbuf {
		char s[900];
		size_t n;
	} b = {"", 0};
	size_t i;
	char *out = NULL;

	items = json_object_get(j, "attachments");
	if (!json_is_array(items))
		items = json_object_get(j, "jsonContent");
	if (!json_is_array(items))
		items = json_object_get(j, "assets"); /* POST /cloud */
	json_array_foreach(items, i, it)
	{
		const char *id = json_string_value(json_object_get(it, "externalId"));
		int n;

		if (!id)
			id = json_string_value(json_object_get(it, "assetId"));
		if (i == 20) {
			n = snprintf(b.s + b.n, sizeof(b.s) - b.n, ", ... (%zu items)",
				     json_array_size(items));
		} else {
			n = snprintf(b.s + b.n, sizeof(b.s) - b.n, "%s%s", i ? ", " : "",
				     id ? id : "?");
		}
		if (n < 0 || (size_t)n >= sizeof(b.s) - b.n || i == 20)
			break;
		b.n += (size_t)n;
	}
	json_decref(j);
	r_asprintf(&out, "UNCERTAIN, the hub may have applied it (%s); check these assets: %s", msg,
		   b.n ? b.s : "(see the file)");
	return out ? out : strdup(msg);
}

static enum drop_kind drop_kind_of(const struct entry *e)
{
	return e->kind == EK_LABELS ? DK_LABELS : e->kind == EK_ASSETS ? DK_ASSETS : DK_ATTACHMENTS;
}

static int prepare_dropbox(struct ao_writes *w, struct entry *e, struct ao_err *err)
{
	char dpath[4096], ipath[4096];
	struct prep_result res;
	struct schema *s = NULL;
	char lpath[4096];
	int in, out, lines, r;
	size_t i;

	if (e->kind == EK_LABELS && (r = ws_get_schema(w, e->project, &s, err)) < 0) {
		if (err->transient)
			ws_set_pending(w, e, err);
		else
			ws_set_failed(w, e, err, NULL);
		return r;
	}
	spool_path(w->spool_dir, e, "data", dpath, sizeof(dpath));
	spool_path(w->spool_dir, e, "items", ipath, sizeof(ipath));
	in = open(dpath, O_RDONLY | O_CLOEXEC);
	out = open(ipath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (in < 0 || out < 0) {
		r = ao_errf(err, errno, "spool: %s", strerror(errno));
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
		sc_free(s);
		return r;
	}
	spool_path(w->spool_dir, e, "lines", lpath, sizeof(lpath));
	lines = open(lpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (lines < 0)
		ao_warn("write side: %s: %s (item line numbers unavailable)", lpath,
			strerror(errno));
	r = prep_labels(in, out, lines, drop_kind_of(e), s, w->chunk_items, w->chunk_bytes, &res,
			err);
	if (lines >= 0) {
		if (r == 0 && fsync(lines) < 0)
			ao_warn("write side: fsync %s: %s", lpath, strerror(errno));
		close(lines);
	}
	close(in);
	close(out);
	sc_free(s);
	if (r < 0) {
		ws_set_failed(w, e, err, res.rep.text);
		prep_result_free(&res);
		spool_unlink(w->spool_dir, e, "items");
		return r;
	}
	pthread_mutex_lock(&w->mu);
	spool_entry_clear_chunks(e);
	e->chunks = calloc(res.nchunks ? res.nchunks : 1, sizeof(*e->chunks));
	if (!e->chunks) {
		pthread_mutex_unlock(&w->mu);
		prep_result_free(&res);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	for (i = 0; i < res.nchunks; i++) {
		e->chunks[i].first = res.chunks[i].first;
		e->chunks[i].count = res.chunks[i].count;
		e->chunks[i].line_first = res.chunks[i].line_first;
		e->chunks[i].line_last = res.chunks[i].line_last;
		e->chunks[i].off = res.chunks[i].off;
		e->chunks[i].len = (long long)res.chunks[i].len;
	}
	e->nchunks = res.nchunks;
	e->items = res.items;
	e->form = res.form;
	e->export_records = res.export_records;
	e->prepared = 1;
	save(w, e);
	pthread_mutex_unlock(&w->mu);
	prep_result_free(&res);
	return 0;
}

/* What the requests of a drop-box file came to. */
struct tally {
	long refused, sent, uncertain, posted, partly;
	struct ao_err first_refusal, first_uncertain;
	char *last_reply;
};

/* The file's state after its requests (r < 0: the loop stopped on an error). */
static int dropbox_outcome(struct ao_writes *w, struct entry *e, int r, struct tally *t,
			   struct ao_err *err)
{
	char msg[AO_ERR_MSG_MAX];

	if (r < 0) {
		if (err->transient)
			ws_set_pending(w, e, err);
		else
			ws_set_failed(w, e, err, NULL);
		free(t->last_reply);
		return r;
	}
	if (t->uncertain) {
		struct ao_err fe = t->first_uncertain;

		ws_set_uncertain(
		    w, e, &fe,
		    "it is not sent again automatically. Check the hub for what is "
		    "listed under requests: below before copying the file again (a copy "
		    "sends every request again), or rm it to discard it");
		free(t->last_reply);
		*err = fe;
		return -(fe.code ? fe.code : EIO);
	}
	if (t->refused) {
		struct ao_err fe = t->first_refusal;

		if (e->nchunks == 1)
			snprintf(msg, sizeof(msg), "refused by the hub (HTTP %d): %.900s",
				 fe.http_status, fe.msg);
		else
			snprintf(msg, sizeof(msg),
				 "%ld of %zu requests refused by the hub, %ld sent (see the list "
				 "below); first refusal (HTTP %d): %.800s",
				 t->refused, e->nchunks, t->sent, fe.http_status, fe.msg);
		snprintf(fe.msg, sizeof(fe.msg), "%s", msg);
		ws_set_failed(w, e, &fe, NULL);
		free(t->last_reply);
		*err = fe;
		return -(fe.code ? fe.code : EIO);
	}
	if (e->nchunks <= 1)
		snprintf(msg, sizeof(msg), "%s", t->last_reply ? t->last_reply : "sent");
	else if (t->partly)
		snprintf(msg, sizeof(msg),
			 "%ld items sent in %zu requests; %ld of them labeled fewer tasks than "
			 "they had items (items that matched no asset: see the list below)",
			 e->items, e->nchunks, t->partly);
	else
		snprintf(msg, sizeof(msg), "%ld items sent in %zu requests; last reply: %s",
			 e->items, e->nchunks, t->last_reply ? t->last_reply : "ok");
	free(t->last_reply);
	pthread_mutex_lock(&w->mu);
	e->partly = t->partly > 0;
	pthread_mutex_unlock(&w->mu);
	ws_set_sent(w, e, msg);
	return 0;
}

/* Send chunk i of a drop-box file (fd: its items file) and record the
 * outcome in e->chunks and t. < 0: stop (a transient failure, a spool
 * error); else 0, the chunk sent, refused or uncertain. */
static int send_chunk(struct ao_writes *w, struct entry *e, size_t i, int fd, const char *path,
		      const char *lpath, int bg, struct tally *t, struct ao_err *err)
{
	struct ent_chunk *c = &e->chunks[i];
	struct prep_chunk pc = {c->first,     c->count,	     c->line_first,
				c->line_last, (off_t)c->off, (size_t)c->len};
	json_t *data = NULL;
	char *body, *unmatched = NULL;
	size_t blen;
	long nl, ml;
	int r;

	t->posted++;
	if ((r = prep_chunk_body(fd, &pc, e->project, drop_kind_of(e), &body, &blen, err)) < 0)
		return r;
	if (e->kind == EK_ASSETS)
		ws_chunk_sending(w, e, c, CH_SENDING);
	/* attachments add to an asset, /cloud creates assets and tasks:
	 * sending them twice duplicates them */
	r = ws_post(w, path, body, blen, e->kind != EK_LABELS ? HUB_NONIDEMPOTENT : 0, &data, bg,
		    err);
	if (r < 0 && err->transient && !err->uncertain) {
		if (e->kind == EK_ASSETS)
			ws_chunk_sending(w, e, c, CH_TODO);
		free(body);
		json_decref(data);
		return r;
	}
	/* "N / M tasks are labeled." with N < M: items that matched no
	 * asset; which ones is asked now (network: before w->mu) */
	int partly = r == 0 && e->kind == EK_LABELS && !ws_labels_counts(data, &nl, &ml) && nl < ml;
	if (partly)
		unmatched = ws_labels_unmatched(w, e->project, data, body, blen);
	pthread_mutex_lock(&w->mu);
	free(c->msg);
	if (r < 0 && err->uncertain) {
		c->state = CH_UNCERTAIN;
		c->http = err->http_status;
		c->msg = uncertain_text(err->msg, body, blen);
		if (!t->uncertain++) {
			t->first_uncertain = *err;
			snprintf(t->first_uncertain.msg, sizeof(t->first_uncertain.msg),
				 "request %zu: %.900s", i + 1, c->msg ? c->msg : err->msg);
		}
	} else if (r < 0) {
		c->state = CH_REFUSED;
		c->http = err->http_status;
		c->msg = refusal_text(err->msg, c->first, lpath);
		if (!t->refused++)
			t->first_refusal = *err;
		ao_error("write side: %s/%s: request %zu (items %ld-%ld, lines %ld-%ld) "
			 "refused: %s",
			 e->project, e->relpath, i + 1, c->first + 1, c->first + c->count,
			 c->line_first, c->line_last, err->msg);
	} else {
		c->state = CH_SENT;
		c->partly = partly;
		c->msg = reply_text(data, unmatched);
		free(t->last_reply);
		t->last_reply = c->msg ? strdup(c->msg) : NULL;
		t->sent++;
		t->partly += partly;
	}
	save(w, e);
	pthread_mutex_unlock(&w->mu);
	free(unmatched);
	free(body);
	json_decref(data);
	return 0;
}

int ws_deliver_dropbox(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err)
{
	char ipath[4096], lpath[4096];
	char cloud[512];
	const char *path = e->kind == EK_LABELS ? HUB_IMPORT_LABELS : HUB_ATTACHMENTS;
	struct tally t = {0, 0, 0, 0, 0, {0}, {0}, NULL};
	struct ws_stream *st = NULL;
	size_t i;
	int fd, r = 0;

	if (e->kind == EK_ASSETS) {
		if (hub_cloud_path(e->project, cloud, sizeof(cloud)) < 0)
			return ao_errf(err, ENAMETOOLONG, "project id too long");
		path = cloud;
		ws_sending_to_uncertain(w, e);
	}

	/* labels/: prepared while its first chunks are sent (writes_stream.c) */
	if (e->kind == EK_LABELS && !e->prepared && (r = ws_stream_start(w, e, &st, err)) < 0)
		return r;
	if (!st && !e->prepared && (r = prepare_dropbox(w, e, err)) < 0)
		return r;
	spool_path(w->spool_dir, e, "items", ipath, sizeof(ipath));
	spool_path(w->spool_dir, e, "lines", lpath, sizeof(lpath));
	fd = open(ipath, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = ao_errf(err, errno, "spool: %s: %s", ipath, strerror(errno));
		if (st && ws_stream_end(w, e, st, err))
			return -EINVAL;
		return r;
	}
	for (i = 0;; i++) {
		struct ent_chunk *c;

		if (st) { /* the next chunk once prepared; 0: no more, < 0: refused */
			if ((r = ws_stream_next(w, e, st, i, err)) <= 0)
				break;
			r = 0;
		} else if (i >= e->nchunks) {
			break;
		}
		c = &e->chunks[i];
		if (c->state == CH_SENT) {
			t.sent++;
			t.partly += c->partly;
			continue;
		}
		if (c->state == CH_REFUSED) {
			t.refused++;
			continue;
		}
		if (c->state == CH_UNCERTAIN) {
			if (!t.uncertain++)
				snprintf(t.first_uncertain.msg, sizeof(t.first_uncertain.msg),
					 "request %zu: %.900s", i + 1, c->msg ? c->msg : "");
			continue;
		}
		if (!bg && t.posted && ao_cancelled()) {
			/* close() interrupted by a signal: stop between requests (each
			 * confirmation is on disk); the background sender does the rest */
			r = ao_errf(err, EINTR,
				    "interrupted after %ld of %zu requests; the rest is sent in "
				    "the background",
				    t.sent, e->nchunks);
			err->transient = 1;
			break;
		}
		if ((r = send_chunk(w, e, i, fd, path, lpath, bg, &t, err)) < 0)
			break;
	}
	close(fd);
	if (st && ws_stream_end(w, e, st, err)) { /* refused: the status is set */
		free(t.last_reply);
		return r;
	}
	return dropbox_outcome(w, e, r, &t, err);
}
