/*
 * upload_mask.c - writing tasks/<id>/mask.png: the task's segmentation mask
 * (brushDataUrl, hub-api.md §4, §6.2).
 *
 * Order, so that bad input sends nothing and a write never touches the rest
 * of the answer:
 *   1. the spooled bytes must be a PNG: the 8-byte signature and an IHDR
 *      chunk first with a non-zero size, chunks that fit the file up to
 *      IEND (checked locally, nothing sent);
 *   2. GET /task/{id}?includeAnswer=true: the task's current answer, mask
 *      URLs and asset; the asset's width/height (GET /project/{id}/assets
 *      filtered by _id) when its metadata has them: a mask of another size
 *      is refused, nothing uploaded;
 *   3. getUploadUrl (type brushes) + PUT, once (the stored URL is persisted,
 *      as for assets/, upload_media.c);
 *   4. POST /annotate/{id}?nextStage=false&isPlugin=false with the answer
 *      read in step 2 unchanged ("tools" sent as "objects"),
 *      medicalBrushDataUrl carried over (bare, or null), brushDataUrl = the
 *      new object, "duration": 0 (the SDK's payload): the hub replaces the answer
 *      wholesale, so the current one is what keeps it. The same body twice
 *      gives the same result: the request is idempotent and retried as an
 *      answer.json write is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "angofs/hub.h"
#include "angofs/log.h"
#include "answer.h"
#include "writes_int.h"

/* 0 and the size, or -EINVAL with the reason in err. */
static int png_header(const char *path, long *wd, long *ht, struct ao_err *err)
{
	unsigned char b[33];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return ao_errf(err, errno, "spool: %s: %s", path, strerror(errno));
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n < 8 || memcmp(b, "\x89PNG\r\n\x1a\n", 8))
		return ao_errf(err, EINVAL,
			       "mask.png is not a PNG image (it does not start with the PNG "
			       "signature); write a PNG mask");
	if (n < 33 || memcmp(b + 8, "\0\0\0\x0dIHDR", 8))
		return ao_errf(err, EINVAL,
			       "mask.png is not a valid PNG: no IHDR chunk after the signature "
			       "(truncated or damaged file)");
	*wd = (long)b[16] << 24 | (long)b[17] << 16 | (long)b[18] << 8 | b[19];
	*ht = (long)b[20] << 24 | (long)b[21] << 16 | (long)b[22] << 8 | b[23];
	if (*wd <= 0 || *ht <= 0)
		return ao_errf(err, EINVAL, "mask.png: the PNG header gives a size of %ldx%ld", *wd,
			       *ht);
	return 0;
}

/* 0 when the chunks after the signature fit the file and end with IEND after
 * at least one IDAT (an interrupted copy or a damaged file would otherwise
 * replace a good mask with one no reader opens), else -EINVAL with the reason.
 * Reads 8 bytes per chunk; CRCs are not checked. */
static int png_chunks(const char *path, struct ao_err *err)
{
	unsigned char h[8];
	struct stat st;
	off_t off = 8;
	int fd = open(path, O_RDONLY | O_CLOEXEC), idat = 0, r = 1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		r = ao_errf(err, errno, "spool: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	while (r > 0) {
		uint32_t len;

		if (pread(fd, h, 8, off) != 8) {
			r = ao_errf(err, EINVAL,
				    "mask.png is not a complete PNG: it ends at byte %lld without "
				    "its IEND chunk (truncated file?)",
				    (long long)st.st_size);
			break;
		}
		len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		if (len > 0x7fffffffu || off + 12 + (off_t)len > st.st_size) {
			r = ao_errf(err, EINVAL,
				    "mask.png is not a complete PNG: its %.4s chunk at byte %lld "
				    "needs %lu bytes but the file ends at byte %lld (truncated "
				    "file?)",
				    (const char *)h + 4, (long long)off, (unsigned long)len + 12,
				    (long long)st.st_size);
			break;
		}
		if (!memcmp(h + 4, "IDAT", 4))
			idat = 1;
		if (!memcmp(h + 4, "IEND", 4))
			r = idat ? 0
				 : ao_errf(err, EINVAL,
					   "mask.png is not a complete PNG: no IDAT (image data) "
					   "chunk before IEND");
		off += 12 + (off_t)len;
	}
	close(fd);
	return r;
}

/* The task (GET /task?includeAnswer=true), checked to be of project. */
static int get_task(struct ao_writes *w, const char *project, const char *task, json_t **out,
		    struct ao_err *err)
{
	char *et = hub_escape(task), *pq = NULL;
	json_t *data = NULL, *t;
	const char *pid;
	int r;

	*out = NULL;
	if (!et || asprintf(&pq, "/task/%s?includeAnswer=true", et) < 0) {
		free(et);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	free(et);
	r = hub_get(w->cfg.hub, pq, &data, err);
	free(pq);
	if (r < 0)
		return r;
	t = json_object_get(data, "task");
	if (!json_is_object(t))
		t = data;
	pid = json_string_value(json_object_get(t, "project"));
	if (!json_is_object(t)) {
		r = ao_errf(err, EPROTO, "GET /task/%s: the reply has no task", task);
	} else if (pid && strcmp(pid, project)) {
		r = ao_errf(err, ENOENT, "task %s belongs to another project", task);
	} else {
		*out = json_incref(t);
	}
	json_decref(data);
	return r;
}

/* The asset's width/height from its metadata; 0 when unknown. */
static int asset_size(struct ao_writes *w, const char *project, const char *asset, long *wd,
		      long *ht, struct ao_err *err)
{
	json_t *f = json_pack("{s:s}", "_id", asset), *data = NULL, *md;
	char *fs = f ? json_dumps(f, JSON_COMPACT) : NULL, *ef = fs ? hub_escape(fs) : NULL;
	char *ep = hub_escape(project), *pq = NULL;
	int r;

	*wd = *ht = 0;
	json_decref(f);
	free(fs);
	if (!ef || !ep || asprintf(&pq, "/project/%s/assets?page=1&limit=1&filters=%s", ep, ef) < 0)
		r = ao_errf(err, ENOMEM, "out of memory");
	else
		r = hub_get(w->cfg.hub, pq, &data, err);
	free(pq);
	free(ef);
	free(ep);
	if (r < 0)
		return r;
	md = json_object_get(json_array_get(json_object_get(data, "assets"), 0), "metadata");
	if (json_is_integer(json_object_get(md, "width")) &&
	    json_is_integer(json_object_get(md, "height"))) {
		*wd = (long)json_integer_value(json_object_get(md, "width"));
		*ht = (long)json_integer_value(json_object_get(md, "height"));
	}
	json_decref(data);
	return 0;
}

/* The annotate body: the task's answer unchanged, the new mask. */
static char *annotate_body(json_t *task, const char *mask_url)
{
	json_t *ans = json_object_get(task, "answer"), *a = json_object(), *b, *v;
	static const char *const lists[] = {"objects", "classifications", "relations"};
	char *s;

	for (size_t i = 0; i < 3; i++) {
		v = json_object_get(ans, lists[i]);
		if (i == 0 && json_object_get(ans, "tools"))
			v = json_object_get(ans, "tools");
		json_object_set_new(a, lists[i], json_is_array(v) ? json_incref(v) : json_array());
	}
	b = json_pack("{s:o,s:s}", "answer", a, "brushDataUrl", mask_url);
	v = json_object_get(task, "medicalBrushDataUrl");
	if (b)
		json_object_set(b, "medicalBrushDataUrl",
				json_is_string(v) && *json_string_value(v) ? v : json_null());
	s = b && answer_sdk_body(b) == 0 ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	return s;
}

static int fail(struct ao_writes *w, struct entry *e, int r, struct ao_err *err)
{
	if (err->transient)
		ws_set_pending(w, e, err);
	else
		ws_set_failed(w, e, err, NULL);
	return r;
}

int ws_deliver_mask(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err)
{
	char path[4096], task[256], base[300], *body = NULL, *req = NULL, msg[600];
	json_t *t = NULL, *data = NULL;
	long pw = 0, ph = 0, aw = 0, ah = 0;
	const char *asset;
	int r;

	if (ws_task_of(e->relpath, task, sizeof(task)) < 0)
		return ao_errf(err, EINVAL, "%s: not a task's mask", e->relpath);
	spool_path(w->spool_dir, e, "data", path, sizeof(path));
	if ((r = png_header(path, &pw, &ph, err)) < 0 || (r = png_chunks(path, err)) < 0) {
		if (r == -EINVAL)
			ws_set_failed(w, e, err, NULL);
		return r;
	}
	ao_err_clear(err);
	if ((r = get_task(w, e->project, task, &t, err)) < 0) {
		ao_err_prefix(err, "reading the task (its answer is kept by this write)");
		return fail(w, e, r, err);
	}
	asset = json_string_value(json_object_get(t, "asset"));
	if (!e->object_url && asset && (r = asset_size(w, e->project, asset, &aw, &ah, err)) < 0) {
		ao_err_prefix(err, "reading the asset's size");
		json_decref(t);
		return fail(w, e, r, err);
	}
	if (aw > 0 && ah > 0 && (aw != pw || ah != ph)) {
		r = ao_errf(err, EINVAL,
			    "mask.png is %ldx%ld but the task's asset is %ldx%ld: a mask must "
			    "have the asset's size",
			    pw, ph, aw, ah);
		ws_set_failed(w, e, err, NULL);
		json_decref(t);
		return r;
	}
	snprintf(base, sizeof(base), "%s.png", task);
	if ((r = ws_upload_once(w, e, "brushes", base, err)) < 0) {
		json_decref(t);
		return r;
	}
	body = annotate_body(t, e->object_url);
	req = answer_path(task, 0);
	json_decref(t);
	if (!body || !req) {
		free(body);
		free(req);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	r = ws_post(w, req, body, strlen(body), 0, &data, bg, err);
	free(body);
	free(req);
	json_decref(data);
	if (r < 0)
		return fail(w, e, r, err);
	snprintf(msg, sizeof(msg),
		 "mask stored (%ldx%ld PNG) and set on the task; its answer is "
		 "unchanged: %.400s",
		 pw, ph, e->object_url);
	ws_set_sent(w, e, msg);
	return 0;
}
