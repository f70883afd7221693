/*
 * upload_mask.c - writing tasks/<id>/mask.png: the task's segmentation mask
 * (brushDataUrl, hub-api.md §4, §6.2).
 *
 * Order, so that bad input sends nothing and a write never touches the rest
 * of the answer:
 *   1. the spooled bytes must be a PNG every reader opens: signature,
 *      IHDR, chunks that fit the file up to IEND, and a full decode with
 *      every CRC checked and the decoded size bounded (mask_png.c; checked
 *      locally, nothing sent);
 *   2. GET /task/{id}?includeAnswer=true: the task's current answer, mask
 *      URLs and asset; the asset's width/height (GET /project/{id}/assets
 *      filtered by _id) from its metadata, or, when the hub keeps none (it
 *      fills metadata lazily: JPEGs often have none), from its header: the
 *      first bytes of its data by a Range request, read by the dataset
 *      views' header reader (PNG, JPEG, WebP, BMP, GIF, TIFF; EXIF
 *      orientation applied, as the editor shows the picture). A mask of
 *      another size is refused, nothing uploaded; an asset whose size
 *      cannot be read (not an image) is not checked;
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

#include "angofs/datasets.h"
#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/log.h"
#include "answer.h"
#include "writes_int.h"

/* The task (GET /task?includeAnswer=true), checked to be of project. */
static int get_task(struct ao_writes *w, const char *project, const char *task, json_t **out,
		    struct ao_err *err)
{
	json_t *t = NULL;
	const char *pid;
	int r;

	*out = NULL;
	r = hub_get_task(w->cfg.hub, task, &t, err);
	if (r < 0)
		return r;
	pid = json_string_value(json_object_get(t, "project"));
	if (pid && strcmp(pid, project))
		r = ao_errf(err, ENOENT, "task %s belongs to another project", task);
	else
		*out = json_incref(t);
	json_decref(t);
	return r;
}

/* Width/height from the first bytes of the asset's data (url), as loaders
 * show it (EXIF orientation applied): Range requests of 4 KiB, then 64 KiB
 * and 256 KiB only while the header lies further in, signed once when the
 * storage refuses the plain URL. 0 with the size (0x0: no image header we
 * read), or -errno (transient: try later). */
static int header_size(struct ao_writes *w, const char *project, const char *url, long *wd,
		       long *ht, const char **fmt, struct ao_err *err)
{
	static const size_t caps[] = {4096, 65536, 256 * 1024};
	static const char *const fmts[] = {"", "PNG", "JPEG", "WebP", "BMP", "GIF", "TIFF"};
	unsigned char *buf = malloc(caps[2]);
	char *signed_url = NULL;
	const char *u = url;
	int r = 0;

	if (!buf)
		return ao_errf(err, ENOMEM, "out of memory");
	for (size_t k = 0; k < 3; k++) {
		struct ao_ds_imghead hd;
		ssize_t n = hub_download_head(w->cfg.hub, u, buf, caps[k], err);
		if (n == -EACCES && !signed_url) { /* a private object: sign it */
			ao_err_clear(err);
			char *bare = strndup(url, strcspn(url, "?#")); /* as media_fetch.c signs */

			r = bare ? hub_signed_url(w->cfg.hub, project, "assets", bare, NULL,
						  &signed_url, err)
				 : ao_errf(err, ENOMEM, "out of memory");
			free(bare);
			if (r < 0)
				break;
			u = signed_url;
			n = hub_download_head(w->cfg.hub, u, buf, caps[k], err);
		}
		if (n < 0) {
			r = (int)n;
			break;
		}
		int rc = ao_ds_image_head(buf, (size_t)n, &hd);
		if (rc == 1) {
			int sw, sh;
			ao_ds_image_shown(&hd, &sw, &sh);
			*wd = sw;
			*ht = sh;
			*fmt = fmts[hd.fmt];
			break;
		}
		if (rc < 0 || (size_t)n < caps[k])
			break; /* not an image we read, or nothing more to read */
	}
	free(buf);
	free(signed_url);
	return r;
}

/* The asset's width/height from its metadata, else from its header (how
 * says which); 0 when unknown. */
static int asset_size(struct ao_writes *w, const char *project, const char *asset, long *wd,
		      long *ht, char *how, size_t howsz, struct ao_err *err)
{
	json_t *f = json_pack("{s:s}", "_id", asset), *data = NULL, *md, *a;
	int r;

	*wd = *ht = 0;
	r = f ? hub_get_assets(w->cfg.hub, project, 1, 1, f, &data, err)
	      : ao_errf(err, ENOMEM, "out of memory");
	json_decref(f);
	if (r < 0)
		return r;
	a = json_array_get(json_object_get(data, "assets"), 0);
	md = json_object_get(a, "metadata");
	if (json_is_integer(json_object_get(md, "width")) &&
	    json_is_integer(json_object_get(md, "height"))) {
		*wd = (long)json_integer_value(json_object_get(md, "width"));
		*ht = (long)json_integer_value(json_object_get(md, "height"));
		snprintf(how, howsz, "its metadata");
	} else if (json_is_string(json_object_get(a, "data"))) {
		/* the hub keeps no size for it (Ango fills metadata lazily) */
		const char *fmt = "";
		ao_err_clear(err);
		r = header_size(w, project, json_string_value(json_object_get(a, "data")), wd, ht,
				&fmt, err);
		if (r < 0 && !err->transient) { /* unreadable: not checked */
			ao_warn("write side: the size of asset %s could not be read (%s): "
				"mask.png's size is not checked",
				asset, err->msg);
			ao_err_clear(err);
			r = 0;
		}
		snprintf(how, howsz, "its %s header", fmt);
	}
	json_decref(data);
	return r;
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
	char how[64] = "";
	const char *asset;
	int r;

	if (ws_task_of(e->relpath, task, sizeof(task)) < 0)
		return ao_errf(err, EINVAL, "%s: not a task's mask", e->relpath);
	spool_path(w->spool_dir, e, "data", path, sizeof(path));
	if ((r = ws_mask_png_check(path, &pw, &ph, err)) < 0) {
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
	if (!e->object_url && asset &&
	    (r = asset_size(w, e->project, asset, &aw, &ah, how, sizeof(how), err)) < 0) {
		ao_err_prefix(err, "reading the asset's size");
		json_decref(t);
		return fail(w, e, r, err);
	}
	if (aw > 0 && ah > 0 && (aw != pw || ah != ph)) {
		r = ao_errf(err, EINVAL,
			    "mask.png is %ldx%ld but the task's asset is %ldx%ld (from %s): a "
			    "mask must have the asset's size",
			    pw, ph, aw, ah, how);
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
	req = hub_annotate_path(task, 0);
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
